"""``sensorhub export`` (a session as FIT, TCX, GPX or CSV) and ``sensorhub
import-activity`` (a watch's activity file merged onto a session).  Formats, fields and
units: ``docs/exports.md``."""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sensorhub.commands.common import (
    config_of,
    library_of,
    print_json,
    progress,
    resolve_session,
)
from sensorhub.errors import LibraryError
from sensorhub.fileutil import write_file

#: What ``export`` writes (the same as ``library.export.FORMATS``; kept here so that
#: building the parser imports neither fit-tool nor numpy).
FORMATS = ("fit", "tcx", "gpx", "csv")


def add_parsers(sub: Any, library_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """The ``export`` and ``import-activity`` subcommands, on ``sub`` (the command line's
    subparsers); ``library_options`` adds --config/--set/--data-dir."""
    exp = sub.add_parser(
        "export",
        help="a session as a FIT, TCX, GPX or CSV file (Garmin Connect, Strava, "
        "intervals.icu, a spreadsheet)",
        description="Write a session as a file other tools read: FIT (every gait figure), "
        "TCX and GPX (cadence only, with speed, distance, heart rate and position where "
        "known), CSV (one row per step). See docs/exports.md.",
    )
    exp.add_argument("session", metavar="SESSION", help="its id (sessions) or recording path")
    exp.add_argument(
        "--format",
        choices=FORMATS,
        help="default: from --out's suffix, else fit",
    )
    exp.add_argument(
        "--out",
        metavar="FILE",
        help="where to write it (default: the recording's name with the format's suffix, "
        "in the current folder; - for standard output)",
    )
    exp.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    exp.add_argument("--json", action="store_true", help="say what was written, as JSON")
    library_options(exp)

    imp = sub.add_parser(
        "import-activity",
        help="merge a watch's activity file (FIT, GPX, TCX) onto the session it overlaps: "
        "distance, speed, heart rate, GPS",
        description="Read the runner's watch file and merge its track onto the session it "
        "overlaps in time (the runner's, longest overlap), so pace and distance are known; "
        "a file merged again replaces the first. See docs/exports.md.",
    )
    imp.add_argument("file", type=Path, metavar="FILE", help="a .fit, .gpx or .tcx file")
    imp.add_argument(
        "--session",
        metavar="SESSION",
        help="merge onto this session (its id or recording path) instead of the one found",
    )
    imp.add_argument(
        "--runner",
        metavar="ID",
        help="whose sessions to match it against (default: [runner] id)",
    )
    imp.add_argument("--json", action="store_true", help="say what was merged, as JSON")
    library_options(imp)


# ---------------------------------------------------------------------------- export
def _format(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format)
    if args.out and args.out != "-":
        suffix = Path(args.out).suffix.lower().lstrip(".")
        if suffix in FORMATS:
            return suffix
    return "fit"


def default_name(row: dict[str, Any], fmt: str) -> str:
    """The recording's name with the format's suffix (``session-<id>`` without one)."""
    stem = Path(str(row.get("path") or "")).stem
    return f"{stem or 'session-' + str(row['id'])}.{fmt}"


def _target(args: argparse.Namespace, row: dict[str, Any], fmt: str) -> Path | None:
    """Where to write (None: standard output); refused before any work if it exists."""
    if args.out == "-":
        return None
    path = Path(args.out).expanduser() if args.out else Path.cwd() / default_name(row, fmt)
    if path.is_dir():
        raise LibraryError(f"{path} is a folder", "give --out a file name")
    if path.exists() and not args.force:
        raise LibraryError(
            f"{path} already exists", "name another with --out FILE, or add --force to replace it"
        )
    if not path.parent.is_dir():
        raise LibraryError(f"cannot write {path}: no folder {path.parent}")
    return path


def _size(n: int) -> str:
    return f"{n} bytes" if n < 1000 else f"{n / 1000:.1f} kB" if n < 1e6 else f"{n / 1e6:.1f} MB"


def cmd_export(args: argparse.Namespace) -> int:
    import numpy as np

    from sensorhub.library.export import export, laps, seconds
    from sensorhub.library.view import load

    fmt = _format(args)
    if args.out == "-" and args.json:
        raise LibraryError(
            "--out - writes the file to standard output, where --json would go too",
            "leave out one of them",
        )
    with library_of(args) as lib:
        sid = resolve_session(lib, args.session)
        data = load(lib, sid)
    if data.row.get("state", "indexed") != "indexed":
        raise LibraryError(
            f"session {sid} is not indexed yet ({data.row['state']})",
            "wait for its run to end, or index it: sensorhub library add FILE",
        )
    path = _target(args, data.row, fmt)
    t0 = time.perf_counter()
    with progress(f"{fmt.upper()} of session {sid}", 2) as advance:  # 2 h: about 2 s
        sec = seconds(data)
        advance()
        payload = export(data, fmt, sec)
        advance()
    took = time.perf_counter() - t0
    if path is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(payload)
        sys.stdout.buffer.flush()
    else:
        write_file(path, payload, args.force)
    the_laps, _ = laps(data, sec)
    has = {
        "speed": bool(np.any(np.isfinite(sec.speed_m_s))),
        "distance": data.row.get("distance_m") is not None
        or bool(np.any(np.isfinite(sec.distance_m))),
        "heart_rate": bool(np.any(np.isfinite(sec.heart_rate_bpm))),
        "positions": bool(np.any(np.isfinite(sec.lat_deg))),
    }
    report = {
        "session": sid,
        "format": fmt,
        "path": None if path is None else str(path),
        "bytes": len(payload),
        "steps": len(data.steps),
        "records": {"csv": len(data.steps), "gpx": int(np.sum(np.isfinite(sec.lat_deg)))}.get(
            fmt, len(sec)
        ),
        "laps": len(the_laps) if fmt in ("fit", "tcx") else None,
        "distance_m": data.row.get("distance_m"),
        **{f"has_{k}": v for k, v in has.items()},
        "export_s": round(took, 3),
    }
    if args.json:
        print_json(report)
        return 0
    if path is None:
        return 0
    what = {
        "fit": f"FIT, {len(sec)} records, {len(the_laps)} lap{'s' * (len(the_laps) != 1)}",
        "tcx": f"TCX, {len(sec)} trackpoints: cadence only of the gait",
        "gpx": f"GPX, {report['records']} points: cadence only of the gait",
        "csv": f"CSV, {len(data.steps)} steps",
    }[fmt]
    known = [k.replace("_", " ") for k, v in has.items() if v]
    line = f"session {sid}: wrote {path} ({what}, {_size(len(payload))})"
    if fmt != "csv":
        line += "; " + (
            f"with {', '.join(known)}"
            if known
            else "no speed or distance (merge the watch file: sensorhub import-activity FILE)"
        )
    print(line)
    return 0


# ---------------------------------------------------------------------------- import
SPEED_FROM = {"file": "the file", "distance": "its distance", "gps": "GPS"}


def cmd_import_activity(args: argparse.Namespace) -> int:
    from sensorhub.library.activity import check_overlap, choose_session, read_activity, track_rows
    from sensorhub.library.metrics import pace
    from sensorhub.library.view import load, overview

    # the whole file is read and checked before the library is opened: a bad one
    # leaves it untouched
    activity = read_activity(args.file)
    config = config_of(args)
    runner = args.runner or config.runner.id
    with library_of(args, config) as lib:
        if args.session:
            sid = resolve_session(lib, args.session)
            overlap = check_overlap(activity, dict(lib.session(sid)))
        else:
            found = [dict(r) for r in lib.sessions()]
            sid = choose_session(activity, found, runner)
            overlap = check_overlap(activity, dict(lib.session(sid)))
        row = dict(lib.session(sid))
        rows, covered = track_rows(activity, float(row["started_unix"]), float(row["duration_s"]))
        if not rows:
            raise LibraryError(
                f"{activity.name} has no point inside session {sid}",
                "nothing to merge",
            )
        replaced = bool(lib.rows("track", ("t_s",), sid, "AND source = 'watch'"))
        lib.put_track(
            sid,
            "watch",
            rows,
            covered,
            activity={
                "path": str(Path(args.file).resolve()),
                "sha256": hashlib.sha256(Path(args.file).read_bytes()).hexdigest(),
                "kind": activity.kind,
                "started_unix": activity.start_unix,
            },
        )
        o = overview(load(lib, sid))
    report = {
        "session": sid,
        "file": str(args.file),
        "format": activity.kind,
        "activity_start_unix": activity.start_unix,
        "activity_end_unix": activity.end_unix,
        "overlap_s": round(overlap, 1),
        "points": len(rows),
        "replaced": replaced,
        "speed_from": activity.speed_from,
        "distance_m": o["distance_m"],
        "speed_m_s": o["speed_m_s"],
        "has_heart_rate": any(r[4] is not None for r in rows),
        "has_positions": any(r[5] is not None for r in rows),
    }
    if args.json:
        print_json(report)
        return 0
    parts = [f"{len(rows)} points over {overlap / 60:.1f} min"]
    if o["distance_m"] is not None:
        parts.append(f"{o['distance_m'] / 1000:.2f} km")
    if o["speed_m_s"]:
        parts.append(
            f"{pace(o['speed_m_s'])}, speed from "
            f"{SPEED_FROM.get(activity.speed_from, activity.speed_from)}"
        )
    if report["has_heart_rate"]:
        parts.append("heart rate")
    if report["has_positions"]:
        parts.append("GPS")
    verb = "merged again (replacing the last)" if replaced else "merged"
    print(f"session {sid}: {args.file} {verb}: {', '.join(parts)}")
    return 0
