"""``sensorhub trends``, ``compare``, ``shoes`` and ``pain``."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

from sensorhub.errors import LibraryError

if TYPE_CHECKING:  # the library is imported when a command runs, not to build the parser
    from sensorhub.library.history import Pain
    from sensorhub.library.metrics import Steps


def _n(x: float | None, fmt: str, unit: str = "") -> str:
    return "-" if x is None else format(x, fmt) + unit


def cmd_trends(args: argparse.Namespace) -> int:
    from sensorhub.commands.common import config_of, library_of, parse_date, print_json, progress
    from sensorhub.library.load import trends

    config = config_of(args)
    runner = args.runner or config.runner.id
    now = parse_date(args.until, "--until") + 43200 if args.until else time.time()
    with library_of(args, config) as lib:
        total = len(lib.sessions(runner=runner))
        with progress("trends", total) as advance:
            got = trends(lib, runner, args.weeks, now, advance)
    if args.json:
        print_json({"runner": runner, **got.as_dict()})
        return 0
    weeks = [w.as_dict() for w in got.weeks]
    if not any(w["runs"] for w in weeks):
        print(f"no sessions of {runner} in the last {args.weeks} weeks")
        return 0
    band = got.speed_band
    form_at = "while running" if band is None else f"at {band[0]:.1f}-{band[1]:.1f} m/s"
    print(f"{runner}: the last {args.weeks} weeks (form {form_at})")
    print(
        f"{'week':<9} {'runs':>4} {'time':>6} {'km':>6} {'change':>7} {'steps':>7} "
        f"{'impact kg':>9} {'spm':>6} {'contact':>8} {'impact':>7} {'pain d/a/m':>11}"
    )
    for w in weeks:
        km = f"{w['distance_m'] / 1000:.1f}" + ("+?" if w["distance_unknown_runs"] else "")
        if w["distance_unknown_runs"] and not w["distance_m"]:
            km = "?"
        f, p = w["form"], w["pain"]
        pain = "/".join(_n(p.get(k), "d") for k in ("during", "after", "next_morning"))
        print(
            f"{w['week']:<9} {len(w['runs']):>4} {w['running_s'] / 3600:>5.1f}h {km:>6} "
            f"{_n(w['change_pct'], '+.0f', ' %'):>7} {w['steps']:>7} "
            f"{w['cumulative_impact_g'] / 1000:>9.1f} {_n(f.get('cadence_spm'), '.1f'):>6} "
            f"{_n(f.get('contact_ms'), '.0f', ' ms'):>8} {_n(f.get('impact_g'), '.1f', ' g'):>7} "
            f"{pain if p else '-':>11}"
        )
    flags = [(w["week"], f) for w in weeks for f in w["flags"]]
    if flags:
        print("\nflags:")
    for week, f in flags:
        print(f"  {week} session {f['session']}: {f['text']}")
        print(f"      source: {f['source']}; evidence: {f['strength']}")
    print(
        "\nkm: distance where a footpod or watch file gave it (+?: some runs without one); "
        "impact kg: cumulative impact, thousands of g (sum of every step's peak); "
        "pain d/a/m: highest rating during / after / next morning (0-10)"
    )
    for note in got.notes:
        print(f"note: {note}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from sensorhub.commands.common import library_of, local_time, print_json, resolve_session
    from sensorhub.library.history import METRICS, compare_steps
    from sensorhub.library.view import load, overview

    with library_of(args) as lib:
        a = load(lib, resolve_session(lib, args.a))
        b = load(lib, resolve_session(lib, args.b))
    oa, ob = overview(a), overview(b)
    ra, rb = a.running_steps(), b.running_steps()
    same_speed = [
        c for m in METRICS if (c := compare_steps(m, rb, ra, f"session {a.id}")) is not None
    ]
    out: dict[str, Any] = {
        "a": oa,
        "b": ob,
        "b_against_a": [
            {
                "metric": c.metric,
                "a": round(c.reference, 2),
                "b": round(c.value, 2),
                "change_pct": round(c.change_pct, 1),
                "comparable": c.comparable,
            }
            for c in same_speed
        ],
    }
    if args.json:
        print_json(out)
        return 0
    rows = [
        ("started", local_time(oa["started_unix"]), local_time(ob["started_unix"])),
        ("shoe", oa["shoe"] or "-", ob["shoe"] or "-"),
        (
            "running",
            f"{(oa['running_s'] or 0) / 60:.1f} min",
            f"{(ob['running_s'] or 0) / 60:.1f} min",
        ),
        ("steps", str(oa["steps"]), str(ob["steps"])),
        ("distance", _n(_km(oa), ".2f", " km"), _n(_km(ob), ".2f", " km")),
        ("speed", _n(oa["speed_m_s"], ".2f", " m/s"), _n(ob["speed_m_s"], ".2f", " m/s")),
        ("cadence", _n(oa["cadence_spm"], ".1f", " spm"), _n(ob["cadence_spm"], ".1f", " spm")),
        ("contact", _n(oa["contact_ms"], ".0f", " ms"), _n(ob["contact_ms"], ".0f", " ms")),
        ("impact", _n(oa["impact_g"], ".1f", " g"), _n(ob["impact_g"], ".1f", " g")),
        (
            "contact SI",
            _n(oa["contact_si_pct"], "+.1f", " %"),
            _n(ob["contact_si_pct"], "+.1f", " %"),
        ),
        ("impact SI", _n(oa["impact_si_pct"], "+.1f", " %"), _n(ob["impact_si_pct"], "+.1f", " %")),
    ]
    print(f"{'':<12} {'session ' + str(a.id):>18} {'session ' + str(b.id):>18}")
    for name, x, y in rows:
        print(f"{name:<12} {x:>18} {y:>18}")
    for c in same_speed:
        name, _ = METRICS[c.metric]
        print(f"session {b.id} vs {a.id}: {name} {c.change_pct:+.1f} % ({c.comparable})")
    if not same_speed:
        print("too few running steps in one of them to compare like with like")
    return 0


def _km(o: dict[str, Any]) -> float | None:
    return None if o["distance_m"] is None else float(o["distance_m"]) / 1000.0


def cmd_shoes(args: argparse.Namespace) -> int:
    from sensorhub.commands.common import config_of, library_of, print_json, progress
    from sensorhub.library.load import runs_of
    from sensorhub.library.view import load

    config = config_of(args)
    runner = args.runner or config.runner.id
    with library_of(args, config) as lib:
        runs = runs_of(lib, runner)
        pairs: dict[str, list[Any]] = {}
        for run in runs:
            pairs.setdefault(run.shoe or "", []).append(run)
        report = []
        with progress("shoes", len(runs)) as advance:
            for shoe, mine in sorted(pairs.items(), key=lambda kv: -kv[1][-1].started_unix):
                steps = []
                for r in mine:
                    steps.append(load(lib, r.id).running_steps())
                    advance()
                report.append(_shoe(shoe, mine, steps))
    if args.json:
        print_json({"runner": runner, "shoes": report})
        return 0
    if not report:
        print(f"no sessions of {runner} in the library")
        return 0
    for s in report:
        known = (
            ""
            if not s["distance_unknown_runs"]
            else f" (+{s['distance_unknown_runs']} runs without a distance)"
        )
        print(
            f"{s['shoe'] or '(no shoe named)'}: {s['runs']} runs, {s['running_s'] / 3600:.1f} h, "
            f"{s['distance_m'] / 1000:.1f} km{known}, {s['first']} to {s['last']}"
        )
        for part in ("early", "recent"):
            f = s[part]
            if f is None:
                continue
            print(
                f"  {part:<7} ({f['runs']} runs) impact {_n(f['impact_g'], '.1f', ' g')}, "
                f"contact {_n(f['contact_ms'], '.0f', ' ms')}, rearfoot "
                f"{_n(f['rearfoot_pct'], '.0f', ' %')} ({f['comparable']})"
            )
    print(
        "early / recent: the first and last third of each pair's runs, at the same speed "
        "where it is known"
    )
    return 0


def _shoe(shoe: str, runs: list[Any], steps: list[Steps]) -> dict[str, Any]:
    """One pair: how much it was run, and impact and strike early and recently."""
    from sensorhub.commands.common import local_time
    from sensorhub.library import metrics
    from sensorhub.library.metrics import Steps

    third = max(1, len(runs) // 3)
    early, recent = Steps.concat(steps[:third]), Steps.concat(steps[-third:])
    speed = metrics.median(Steps.concat(steps).speed_m_s)
    comparable = "while running (speed unknown)"
    if speed is not None:
        lo, hi = speed - metrics.SPEED_BAND_M_S, speed + metrics.SPEED_BAND_M_S
        early = early.take((early.speed_m_s >= lo) & (early.speed_m_s <= hi))
        recent = recent.take((recent.speed_m_s >= lo) & (recent.speed_m_s <= hi))
        comparable = f"at {lo:.1f}-{hi:.1f} m/s"

    def form(s: Steps, n: int) -> dict[str, Any] | None:
        if not len(s):
            return None
        strikes = [x for x in s.strike if x]
        return {
            "runs": n,
            "impact_g": _round(metrics.median(s.impact_g), 2),
            "contact_ms": _round(metrics.median(s.contact_ms), 1),
            "rearfoot_pct": round(100.0 * strikes.count("rearfoot") / len(strikes), 1)
            if strikes
            else None,
            "comparable": comparable,
        }

    return {
        "shoe": shoe or None,
        "runs": len(runs),
        "running_s": round(sum(r.running_s for r in runs), 1),
        "distance_m": round(sum(r.distance_m or 0.0 for r in runs), 1),
        "distance_unknown_runs": sum(r.distance_m is None for r in runs),
        "first": local_time(runs[0].started_unix, "%Y-%m-%d"),
        "last": local_time(runs[-1].started_unix, "%Y-%m-%d"),
        "early": form(early, third),
        "recent": form(recent, third) if len(runs) > 1 else None,
    }


def _round(x: float | None, nd: int) -> float | None:
    return None if x is None else round(x, nd)


def cmd_pain(args: argparse.Namespace) -> int:
    from sensorhub.commands.common import library_of, print_json, resolve_session
    from sensorhub.library.history import pain_of

    given = (args.during, args.after, args.next_morning)
    with library_of(args) as lib:
        sid = resolve_session(lib, args.session)
        if any(v is not None for v in given):
            lib.put_pain(sid, *given, now_unix=time.time())
        pain = pain_of(lib, sid)
        earlier = [
            p.next_morning
            for r in lib.sessions(
                runner=lib.session(sid)["runner"],
                until_unix=float(lib.session(sid)["started_unix"]),
            )
            if int(r["id"]) != sid
            and (p := pain_of(lib, int(r["id"]))) is not None
            and p.next_morning is not None
        ]
    if pain is None:
        raise LibraryError(
            f"session {sid} has no pain ratings",
            "rate it: sensorhub pain SESSION --during N --after N --next-morning N (0-10)",
        )
    verdict = pain.acceptable(earlier[0] if earlier else None)
    if args.json:
        print_json(
            {
                "session": sid,
                "during": pain.during,
                "after": pain.after,
                "next_morning": pain.next_morning,
                "acceptable": verdict,
            }
        )
        return 0
    print(
        f"session {sid}: pain during {_n(pain.during, 'd', '/10')}, after "
        f"{_n(pain.after, 'd', '/10')}, next morning {_n(pain.next_morning, 'd', '/10')}"
    )
    print(_verdict(pain, verdict))
    return 0


def _verdict(pain: Pain, ok: bool | None) -> str:
    if ok is None:
        return "nothing rated yet"
    if ok and pain.next_morning is None:
        return (
            "within what the pain-monitoring model accepts so far (up to about 5/10); "
            "rate the next morning too: --next-morning N"
        )
    if ok:
        return (
            "within what the pain-monitoring model accepts (up to about 5/10, settled by morning)"
        )
    return (
        "beyond what the pain-monitoring model accepts: ease the load until it settles; if "
        "it persists, or you start to limp, see a physiotherapist or doctor"
    )


def add_parsers(sub: Any, library_options: Any, ranged: Any) -> None:
    tr = sub.add_parser("trends", help="weekly load, form and pain, with evidence-based flags")
    tr.add_argument("--weeks", type=ranged(int, "weeks", 1, 520), default=8, metavar="N")
    tr.add_argument("--runner", metavar="ID", help="default: [runner] id")
    tr.add_argument("--until", metavar="YYYY-MM-DD", help="the last week shown holds this day")
    tr.add_argument("--json", action="store_true", help="print JSON")
    library_options(tr)

    cmp_ = sub.add_parser("compare", help="two sessions side by side, at comparable speed")
    cmp_.add_argument("a", metavar="SESSION_A")
    cmp_.add_argument("b", metavar="SESSION_B")
    cmp_.add_argument("--json", action="store_true", help="print JSON")
    library_options(cmp_)

    sh = sub.add_parser("shoes", help="distance and time per pair, impact and strike per pair")
    sh.add_argument("--runner", metavar="ID", help="default: [runner] id")
    sh.add_argument("--json", action="store_true", help="print JSON")
    library_options(sh)

    pain = sub.add_parser(
        "pain", help="rate pain (0-10) during, after and the morning after a session"
    )
    pain.add_argument("session", metavar="SESSION")
    for opt in ("--during", "--after", "--next-morning"):
        pain.add_argument(opt, type=ranged(int, opt[2:], 0, 10), metavar="N")
    pain.add_argument("--json", action="store_true", help="print JSON")
    library_options(pain)
