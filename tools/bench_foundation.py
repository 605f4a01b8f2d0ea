"""Benchmarks of the foundation: simulator recording speed and codec decode cost.

    python -m tools.bench_foundation [--hours 1] [--json] [--write docs/benchmarks.md]

Measures, on one core:
* ``sensorhub sim --record`` for one 1 kHz sensor: wall time, x real time, file size;
* reading that recording back (all chunks checked) and decoding every notification:
  notifications/s, samples/s, median and 99th-percentile decode cost per notification.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from firmware_sim.run import SimulatedRun, default_config
from sensorhub.protocol import codec
from sensorhub.recording import SensorEntry, SessionHeader, SessionReader, record
from tools._report import update_block

BEGIN = "<!-- bench_foundation:begin -->"
END = "<!-- bench_foundation:end -->"


def crafted_file(path: Path, size: int = 2 << 20) -> None:
    """A session header, then chunk headers every 16 bytes, each of a known type and a
    length that reaches the end of the file, none with a good CRC: every one is a
    resynchronisation candidate that a per-candidate CRC check has to read to the end."""
    import zlib

    import msgspec

    from sensorhub.recording import CHUNK_HEADER, CHUNK_MAGIC, FILE_HEADER, MAGIC

    head = msgspec.json.encode(SessionHeader(1.7e9, "crafted", []))
    out = bytearray(FILE_HEADER.pack(MAGIC, 1, 0, 0))
    out += CHUNK_HEADER.pack(CHUNK_MAGIC, 1, 0, 0, len(head), zlib.crc32(head)) + head
    n = (size - len(out)) // CHUNK_HEADER.size
    for k in range(n):
        rest = (n - k - 1) * CHUNK_HEADER.size
        out += CHUNK_HEADER.pack(CHUNK_MAGIC, 3, 0, 0, rest, 0x12345678)
    path.write_bytes(bytes(out))


def crafted_resync() -> float:
    """Seconds to read and report (`sensorhub info`) the crafted 2 MiB file (best of 3)."""
    from sensorhub.inspect import session_report

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "crafted.shs"
        crafted_file(path)
        session_report(SessionReader(path))  # compile once
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            session_report(SessionReader(path))
            best = min(best, time.perf_counter() - t0)
    return best


def bench(hours: float) -> dict[str, Any]:
    duration = hours * 3600.0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.shs"
        t0 = time.perf_counter()
        run = SimulatedRun(default_config(duration_s=duration, seed=0))
        header = SessionHeader(
            time.time(), "sim", [SensorEntry.from_info(0, run.sensors[0].info())]
        )
        record(path, header, run.deliveries())
        sim_s = time.perf_counter() - t0
        size = path.stat().st_size

        t0 = time.perf_counter()
        reader = SessionReader(path)
        records = [r.data for r in reader.records()]
        read_s = time.perf_counter() - t0

        samples = 0
        t0 = time.perf_counter()
        for view in records:
            msg, _ = codec.decode(view)
            samples += getattr(msg, "count", 0)
        decode_s = time.perf_counter() - t0

        # per-notification cost: time batches of 100 to stay above timer resolution
        per: list[float] = []
        clock = time.perf_counter_ns
        for i in range(0, min(len(records), 200_000) - 100, 100):
            batch = records[i : i + 100]
            c0 = clock()
            for view in batch:
                codec.decode(view)
            per.append((clock() - c0) / 100 / 1000)
    crafted_s = crafted_resync()
    return {
        "crafted_2mib_read_s": round(crafted_s, 3),
        "duration_s": duration,
        "sim_record_wall_s": round(sim_s, 2),
        "sim_x_real_time": round(duration / sim_s, 1),
        "file_mb": round(size / 1e6, 1),
        "notifications": len(records),
        "samples": samples,
        "read_check_wall_s": round(read_s, 2),
        "decode_notifications_per_s": round(len(records) / decode_s),
        "decode_samples_per_s": round(samples / decode_s),
        "decode_us_median": round(statistics.median(per), 2),
        "decode_us_p99": round(float(np.percentile(per, 99)), 2),
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        ),
    }


def markdown(r: dict[str, Any]) -> str:
    return "\n".join(
        [
            BEGIN,
            f"Measured by `python -m tools.bench_foundation --hours {r['duration_s'] / 3600:g}` "
            f"({r['machine']}); one core.",
            "",
            "| what | result |",
            "|---|---|",
            f"| `sensorhub sim --record`, one 1 kHz sensor, {r['duration_s'] / 3600:g} h | "
            f"{r['sim_record_wall_s']} s wall = {r['sim_x_real_time']}x real time, "
            f"{r['file_mb']} MB, {r['notifications']} notifications |",
            f"| read + check every chunk of that file | {r['read_check_wall_s']} s |",
            f"| decode every notification | {r['decode_notifications_per_s']:,} notifications/s = "
            f"{r['decode_samples_per_s']:,} samples/s |",
            f"| decode cost per notification (19 samples) | median {r['decode_us_median']} µs, "
            f"p99 {r['decode_us_p99']} µs |",
            f"| read and report (`info`) a crafted 2 MiB file: 131,000 overlapping chunk "
            f"headers, each a resynchronisation candidate | {r['crafted_2mib_read_s']} s |",
            END,
        ]
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--write", type=Path, help="update this markdown file's bench_foundation block")
    args = ap.parse_args()
    result = bench(args.hours)
    print(json.dumps(result, indent=2) if args.json else markdown(result))
    if args.write:
        update_block(args.write, BEGIN, END, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
