"""How long ``sensorhub report`` takes, for a 60 s and a 2-hour two-sensor session.

    python -m tools.bench_report [--work DIR] [--repeat 3] [--odr 200] [--hours 2]

Makes the recordings with ``sensorhub sim --record FILE --side both`` (the 2-hour one at
``--odr`` Hz, 200 by default: at 1000 Hz the simulator alone takes about 10 min; the
report reads the indexed steps, not the samples, so the rate does not change what is
measured), indexes them with ``sensorhub library add`` into a library of their own,
then times ``sensorhub report`` to HTML, PDF and PNG as a user runs it: wall time of
the whole command, process start included, median of ``--repeat`` runs.  The first
HTML report of a machine also makes the Vega JavaScript bundle (kept in the user's cache
folder): it is timed apart, as "HTML, first ever".  Then the stages of the 2-hour report
in one process.  Prints a markdown table; keeps the recordings in ``--work`` (reused on
the next run).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tools._report import update_block

BEGIN = "<!-- bench_report:begin -->"
END = "<!-- bench_report:end -->"


def sensorhub(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(
        [sys.executable, "-m", "sensorhub", *args], capture_output=True, text=True, env=env
    )
    if r.returncode != 0:
        raise SystemExit(f"sensorhub {' '.join(args)} failed:\n{r.stderr}")
    return r


def recording(work: Path, name: str, seconds: float, odr: int, env: dict[str, str]) -> Path:
    path = work / f"{name}.shs"
    if not path.exists():
        began = time.monotonic()
        sensorhub(
            "sim",
            "--record",
            str(path),
            "--side",
            "both",
            "--duration",
            f"{seconds:g}",
            "--odr",
            str(odr),
            "--seed",
            "1",
            env=env,
        )
        print(f"recorded {name}: {seconds:g} s at {odr} Hz in {time.monotonic() - began:.0f} s")
    return path


def session_id(path: Path, data: Path, env: dict[str, str]) -> tuple[int, int]:
    """Index ``path`` (again is harmless); its session id and step count."""
    out = sensorhub("library", "add", str(path), "--data-dir", str(data), env=env).stdout
    sid = int(out.split()[1].rstrip(":"))
    steps = int(out.split("(")[-1].split()[0])
    return sid, steps


def timed(args: list[str], env: dict[str, str]) -> float:
    began = time.monotonic()
    sensorhub(*args, env=env)
    return time.monotonic() - began


def stages(data: Path, sid: int) -> list[tuple[str, float]]:
    """The 2-hour report's stages in one process (the bundle from the cache)."""
    out: list[tuple[str, float]] = []

    def lap(name: str, began: float) -> float:
        now = time.monotonic()
        out.append((name, now - began))
        return now

    t = time.monotonic()
    from sensorhub.commands.report import vega_bundle
    from sensorhub.library import report as rep
    from sensorhub.library.history import context_for
    from sensorhub.library.store import Library
    from sensorhub.library.view import load

    t = lap("imports", t)
    lib = Library(data)
    d = load(lib, sid)
    t = lap("load the session", t)
    ctx = context_for(lib, sid)
    t = lap("history (baseline, last week, flags)", t)
    r = rep.build(d, ctx)
    t = lap("charts and words (Altair import included)", t)
    js = vega_bundle()
    t = lap("JavaScript bundle, from the cache", t)
    rep.html_page(r, js)
    t = lap("HTML page", t)
    import vl_convert as vlc

    vlc.vegalite_to_svg({"mark": "point"})
    t = lap("vl-convert start-up", t)
    rep.pdf_bytes(r)
    t = lap("PDF", t)
    rep.png_bytes(r)
    lap("PNG", t)
    lib.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, help="where recordings and reports go (default: temp)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--odr", type=int, default=200, help="the 2-hour recording's rate, Hz")
    ap.add_argument("--hours", type=float, default=2.0)
    ap.add_argument("--write", type=Path, help="rewrite its block of docs/benchmarks.md")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-report-"))
    work.mkdir(parents=True, exist_ok=True)
    data, cache = work / "library", work / "cache"
    # this process's own report (the stages) reads the same cache as the commands
    os.environ["XDG_CACHE_HOME"] = str(cache)
    env = {**os.environ, "XDG_DATA_HOME": str(work / "xdg")}
    sessions = {
        "60 s": recording(work, "short", 60, 1000, env),
        f"{args.hours:g} h": recording(work, "long", 3600 * args.hours, args.odr, env),
    }
    rows: list[list[Any]] = []
    ids: dict[str, int] = {}
    for label, path in sessions.items():
        sid, steps = session_id(path, data, env)
        ids[label] = sid
        base = ["report", str(sid), "--data-dir", str(data), "--force"]
        out = work / f"report-{sid}"
        if not (cache / "sensorhub").exists():
            first = timed([*base, "--out", f"{out}.html"], env)
            rows.append([label, steps, "HTML, first ever (bundle made)", first, None])
        for kind in ("html", "pdf", "png"):
            target = Path(f"{out}.{kind}")
            runs = [timed([*base, "--out", str(target)], env) for _ in range(args.repeat)]
            rows.append(
                [label, steps, kind.upper(), statistics.median(runs), target.stat().st_size]
            )
    long = f"{args.hours:g} h"
    lines = [
        BEGIN,
        f"Measured by `python -m tools.bench_report --hours {args.hours:g} --odr {args.odr}` "
        f"(`sensorhub report`, wall time of the command, median of {args.repeat}; "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}).",
        "",
        "| session | steps | output | time (s) | size (kB) |",
        "| --- | ---: | --- | ---: | ---: |",
    ]
    for label, steps, kind, secs, size in rows:
        kb = "-" if size is None else f"{size / 1e3:.0f}"
        lines.append(f"| {label} | {steps} | {kind} | {secs:.2f} | {kb} |")
    lines += [
        "",
        f"Stages of the {long} report in one process:",
        "",
        "| stage | time (s) |",
        "| --- | ---: |",
    ]
    lines += [f"| {name} | {secs:.2f} |" for name, secs in stages(data, ids[long])]
    lines.append(END)
    block = "\n".join(lines)
    print(block)
    if args.write:
        update_block(args.write, BEGIN, END, block, "## Run report")
    print(f"\nrecordings and reports in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
