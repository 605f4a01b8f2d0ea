"""``sensorhub library add``, ``sessions`` and ``show``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sensorhub.commands.common import (
    config_of,
    library_of,
    local_time,
    parse_date,
    print_json,
    progress,
    resolve_session,
)
from sensorhub.errors import EXIT_USAGE, RecordingError
from sensorhub.library.index import index_recording
from sensorhub.library.metrics import clock, pace
from sensorhub.library.view import load, overview


def _files(paths: list[Path]) -> list[Path]:
    """The recordings named: files as given, folders searched for ``*.shs``."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(p.rglob("*.shs"))
        else:
            out.append(p)
    return out


def cmd_library_add(args: argparse.Namespace) -> int:
    config = config_of(args)
    files = _files(args.files)
    failed = 0
    done: list[dict[str, Any]] = []
    with library_of(args, config) as lib, progress("indexing", len(files)) as advance:
        for path in files:
            try:
                got = index_recording(lib, path, config, runner=args.runner, shoe=args.shoe)
            except RecordingError as exc:  # this file; the others go on
                print(f"sensorhub: error: {exc}; not indexed", file=sys.stderr)
                done.append({"path": str(path), "session": None, "error": exc.message})
                failed += 1
                advance()
                continue
            for line in got.damage:
                print(f"sensorhub: warning: {path}: {line}", file=sys.stderr)
            done.append(
                {
                    "path": str(got.path),
                    "session": got.session_id,
                    "new": got.new,
                    "steps": got.steps,
                    "duration_s": got.duration_s,
                    "damage": got.damage,
                }
            )
            if not args.json:
                what = "added" if got.new else "already there, indexed again"
                print(
                    f"session {got.session_id}: {path} {what} "
                    f"({got.steps} steps, {got.duration_s / 60:.1f} min)"
                )
            advance()
    if args.json:
        print_json(done)
    if failed:
        print(f"sensorhub: {failed} of {len(files)} recordings not indexed", file=sys.stderr)
        return EXIT_USAGE
    return 0


def _num(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def session_line(o: dict[str, Any]) -> dict[str, Any]:
    """A session as ``sessions --json`` lists it."""
    keys = (
        "id",
        "started_unix",
        "runner",
        "shoe",
        "source",
        "duration_s",
        "running_s",
        "steps",
        "distance_m",
        "distance_source",
        "cadence_spm",
        "contact_ms",
        "impact_g",
        "path",
    )
    return {k: o[k] for k in keys}


def cmd_sessions(args: argparse.Namespace) -> int:
    since = parse_date(args.since, "--since") if args.since else None
    until = parse_date(args.until, "--until") + 86400 if args.until else None
    with library_of(args) as lib:
        rows = lib.sessions(args.runner, args.shoe, since, until)
        if args.limit:
            rows = rows[: args.limit]
        found = [dict(r) for r in rows]
    if args.json:
        print_json([session_line(o) for o in found])
        return 0
    if not found:
        print(
            "no sessions in the library yet: record a run (sensorhub demo) or add "
            "recordings (sensorhub library add FILE...)"
        )
        return 0
    print(
        f"{'id':>4}  {'started':<16}  {'runner':<10} {'shoe':<14} {'time':>7} {'steps':>6} "
        f"{'km':>6} {'spm':>6} {'contact':>8} {'impact':>7}"
    )
    for o in found:
        km = "-" if o["distance_m"] is None else f"{o['distance_m'] / 1000:.2f}"
        print(
            f"{o['id']:>4}  {local_time(o['started_unix']):<16}  {o['runner'][:10]:<10} "
            f"{(o['shoe'] or '-')[:14]:<14} {clock(o['duration_s']):>7} {o['steps']:>6} "
            f"{km:>6} {_num(o['cadence_spm'], '.1f'):>6} "
            f"{_num(o['contact_ms'], '.0f') + ' ms':>8} {_num(o['impact_g'], '.1f') + ' g':>7}"
        )
    return 0


def describe(o: dict[str, Any]) -> list[str]:
    """``show``: the session in lines."""
    lines = [
        f"session {o['id']}: {local_time(o['started_unix'])}, {o['runner']}"
        + (f", shoe {o['shoe']}" if o["shoe"] else "")
        + f" ({o['source']})",
        f"  recording     {o['path']}",
        f"  time          {clock(o['duration_s'])} ({clock(o['running_s'])} running), "
        f"{o['steps']} steps",
    ]
    if o["distance_m"] is not None:
        lines.append(f"  distance      {o['distance_m'] / 1000:.2f} km ({o['distance_source']})")
    if o["speed_m_s"]:
        lines.append(f"  speed         {pace(o['speed_m_s'])} median while running")
    lines += [
        f"  cadence       {_num(o['cadence_spm'], '.1f')} steps/min (median while running)",
        f"  contact       {_num(o['contact_ms'], '.0f')} ms, flight "
        f"{_num(o['flight_ms'], '.0f')} ms",
        f"  impact        {_num(o['impact_g'], '.1f')} g, loading rate "
        f"{_num(o['loading_rate_g_per_s'], '.0f')} g/s",
    ]
    if o["strike_pct"]:
        lines.append(
            "  foot strike   " + ", ".join(f"{k} {v:.0f} %" for k, v in o["strike_pct"].items())
        )
    for side, s in o["per_side"].items():
        lines.append(
            f"  {side:<13} {s['steps']} steps, contact {_num(s['contact_ms'], '.0f')} ms, "
            f"impact {_num(s['impact_g'], '.1f')} g"
        )
    if o["contact_si_pct"] is not None or o["impact_si_pct"] is not None:
        lines.append(
            f"  asymmetry     contact {_num(o['contact_si_pct'], '+.1f')} %, impact "
            f"{_num(o['impact_si_pct'], '+.1f')} % (right vs left)"
        )
    lines += [f"  damage        {d}" for d in o["damage"]]
    if o["notes"]:
        lines.append(f"  notes         {o['notes']}")
    return lines


def cmd_show(args: argparse.Namespace) -> int:
    with library_of(args) as lib:
        sid = resolve_session(lib, args.session)
        changes = {k: v for k, v in (("shoe", args.shoe), ("notes", args.note)) if v is not None}
        if changes:
            lib.set_fields(sid, **changes)
        o = overview(load(lib, sid))
    if args.json:
        print_json(o)
    else:
        print("\n".join(describe(o)))
    return 0
