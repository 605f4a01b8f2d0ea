"""How long the session library takes: indexing simulated one-hour runs (``library add``),
then ``sessions``, ``trends`` and ``show`` over them.

    python -m tools.bench_library --sessions 50 --hours 1 --write docs/benchmarks.md

Two distinct runs are simulated (two 1 kHz shoe sensors each); the N sessions are copies
of them with their own start times (one every other day, back from today), so each is a
session of its own to the library (its identity is the header) and costs a full replay.
Each copy is deleted once indexed: the library keeps what it needs.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sensorhub.config import Config
from sensorhub.library.index import index_recording
from sensorhub.library.store import Library
from sensorhub.recording import SessionHeader, SessionReader, SessionWriter
from tools._report import update_block

BEGIN = "<!-- bench_library:begin -->"
END = "<!-- bench_library:end -->"

DAY_S = 86400.0


def simulate(path: Path, hours: float, seed: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sensorhub",
            "sim",
            "--side",
            "both",
            "--duration",
            str(hours * 3600),
            "--seed",
            str(seed),
            "--record",
            str(path),
        ],
        stdout=subprocess.DEVNULL,
    )


def copy_with_start(src: SessionReader, dst: Path, started_unix: float) -> None:
    h = src.header
    header = SessionHeader(
        started_unix, h.source, h.sensors, {**h.config, "copy_of": str(src.path)}
    )
    with SessionWriter(dst, header) as w:
        for rec in src.records():
            w.write(rec.t, rec.sensor, rec.data, rec.kind)


def cli_seconds(*args: str) -> float:
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "sensorhub", *args], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"sensorhub {' '.join(args)} failed: {r.stderr}")
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=50)
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--write", type=Path, help="rewrite this block of docs/benchmarks.md")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-library-") as tmp:
        work = Path(tmp)
        t = time.perf_counter()
        sources = [work / f"src{k}.shs" for k in range(2)]
        procs = [simulate(p, args.hours, 11 + k) for k, p in enumerate(sources)]
        if any(p.wait() for p in procs):
            raise SystemExit("simulating the runs failed")
        sim_s = time.perf_counter() - t
        readers = [SessionReader(p) for p in sources]
        size_mb = sum(p.stat().st_size for p in sources) / 2 / 1e6
        data = work / "lib"
        config = Config()
        index_s: list[float] = []
        copy_s = 0.0
        now = time.time()
        with Library(data) as lib:
            for k in range(args.sessions):
                dst = work / f"run{k:03d}.shs"
                t = time.perf_counter()
                copy_with_start(readers[k % 2], dst, now - (args.sessions - k) * 2 * DAY_S)
                copy_s += time.perf_counter() - t
                t = time.perf_counter()
                index_recording(lib, dst, config, shoe=f"pair {k // 20 + 1}")
                index_s.append(time.perf_counter() - t)
                dst.unlink()
                print(f"  {k + 1}/{args.sessions} indexed in {index_s[-1]:.2f} s", file=sys.stderr)
            steps = lib.db.execute("SELECT COUNT(*) FROM steps").fetchone()[0]
        lib_mb = sum(f.stat().st_size for f in data.iterdir()) / 1e6
        d = ["--data-dir", str(data)]
        timings = {
            "sessions": cli_seconds("sessions", *d),
            "trends --weeks 16": cli_seconds("trends", "--weeks", "16", *d),
            "shoes": cli_seconds("shoes", *d),
            "show (newest)": cli_seconds("show", "1", *d),
        }
        # one more, through the command line as a runner adds one
        one = work / "cli.shs"
        copy_with_start(readers[0], one, now - 3600)
        add_cli = cli_seconds("library", "add", str(one), *d)
    index_s.sort()
    median = index_s[len(index_s) // 2]
    rows = [
        ("simulate the two source runs (2 x 2 sensors at 1 kHz, in parallel)", f"{sim_s:.1f} s"),
        (
            f"index one {args.hours:g}-hour two-sensor session ({size_mb:.0f} MB recording)",
            f"median {median:.2f} s, max {index_s[-1]:.2f} s",
        ),
        (
            f"index {args.sessions} such sessions",
            f"{sum(index_s):.1f} s "
            f"({sum(index_s) / args.sessions:.2f} s each; copying them took {copy_s:.1f} s more)",
        ),
        (
            "`sensorhub library add` of one more (whole command, start-up included)",
            f"{add_cli:.2f} s",
        ),
        ("library file after them", f"{lib_mb:.1f} MB ({steps:,} step rows)"),
        *(
            (f"`sensorhub {k}` over {args.sessions} sessions", f"{v:.2f} s")
            for k, v in timings.items()
        ),
    ]
    head = (
        f"Measured by `python -m tools.bench_library --sessions {args.sessions} --hours "
        f"{args.hours:g}` ({platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()})."
    )
    table = "\n".join(["| what | result |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows)])
    block = f"{head}\n\n{table}"
    print(block)
    if args.write:
        update_block(args.write, BEGIN, END, f"{BEGIN}\n{block}\n{END}", "## Session library")


if __name__ == "__main__":
    main()
