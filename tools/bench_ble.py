"""Benchmark of the BLE path: real bleak against ``sensorhub sim-peripheral``.

    python -m tools.bench_ble [--seconds 30] [--write docs/benchmarks.md]

The simulated sensors run in their own process (``sensorhub sim-peripheral --sensors 2``,
with its private dbus-daemon), so what is measured here is the hub alone:

* CPU of the hub per connected 1 kHz sensor: bleak and D-Bus message handling, the
  source, decode, stream assembly, detection, gait (no MQTT, no console);
* notification-to-event latency: from bleak's notification callback (the bytes are in
  the hub) to the event the notification caused coming out of the signal core, p50/p99;
* the dbus-daemon's CPU, which a real system spends too (with bluetoothd on top).

Needs ``dbus-daemon`` (``apt-get install dbus-daemon``); says so and stops otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from firmware_sim.peripheral import PeripheralProcess
from sensorhub.config import BleConfig
from sensorhub.pipeline.runner import run_pipeline
from sensorhub.pipeline.session import Processor
from sensorhub.sources.ble import BleSource
from tools._report import update_block

BEGIN = "<!-- bench_ble:begin -->"
END = "<!-- bench_ble:end -->"


class NullSink:
    name = "null"
    wants_raw = False

    async def run(self, queue: asyncio.Queue[Any]) -> None:
        from sensorhub.pipeline.runner import STOP

        while await queue.get() is not STOP:
            pass


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _daemon_pid(address: str) -> int | None:
    path = address.split("path=", 1)[1].split(",", 1)[0]
    folder = str(Path(path).parent)
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if "dbus-daemon" in cmd and folder in cmd:
                return int(proc.name)
    return None


async def measure(address: str, names: list[str], seconds: float) -> dict[str, Any]:
    os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = address
    source = BleSource(names, BleConfig(), clock=time.monotonic)
    await source.open()
    proc = Processor(source.sensors)
    proc.warm_up()
    lat: list[float] = []
    orig = proc.feed

    def feed(t: float, s: int, d: bytes) -> list[Any]:
        out = orig(t, s, d)
        if out:
            lat.append(time.monotonic() - t)  # t: when bleak's callback had the bytes
        return out

    proc.feed = feed  # type: ignore[method-assign,assignment]
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(seconds, stop.set)
    daemon = _daemon_pid(address)
    d0 = _cpu_s(daemon) if daemon else None
    c0, w0 = time.process_time(), time.perf_counter()
    summary = await run_pipeline(source, proc, [NullSink()], stop_event=stop)
    c1, w1 = time.process_time(), time.perf_counter()
    d1 = _cpu_s(daemon) if daemon else None
    await source.close()
    ms = np.array(lat) * 1000
    wall = w1 - w0
    return {
        "sensors": len(names),
        "seconds": wall,
        "notifications": summary.notifications,
        "events": sum(summary.events.values()),
        "lost": sum(s.missing_samples for s in proc.streams.values()),
        "cpu_pct_per_sensor": 100 * (c1 - c0) / wall / len(names),
        "dbus_daemon_pct": None if d0 is None or d1 is None else 100 * (d1 - d0) / wall,
        "lat_p50_ms": float(np.percentile(ms, 50)),
        "lat_p99_ms": float(np.percentile(ms, 99)),
        "lat_max_ms": float(ms.max()),
        "lat_n": len(ms),
    }


def markdown(r: dict[str, Any]) -> str:
    d = r["dbus_daemon_pct"]
    return "\n".join(
        [
            BEGIN,
            f"Measured by `{r['command']}` ({r['machine']}): real bleak, the simulated "
            "sensors in their own process on a private dbus-daemon.",
            "",
            "| what | result |",
            "|---|---|",
            f"| hub CPU per connected 1 kHz sensor (bleak, D-Bus, decode, detection, gait), "
            f"{r['sensors']} sensors for {r['seconds']:.0f} s | {r['cpu_pct_per_sensor']:.1f} % "
            f"of one core ({r['notifications']:,} notifications, {r['lost']} samples lost) |",
            "| dbus-daemon (a real system also runs bluetoothd) | "
            + ("-" if d is None else f"{d:.1f} % of one core for the {r['sensors']} sensors")
            + " |",
            f"| notification (in bleak's callback) -> event out of the signal core "
            f"({r['lat_n']} notifications with events) | p50 {r['lat_p50_ms']:.2f} ms, p99 "
            f"{r['lat_p99_ms']:.2f} ms, max {r['lat_max_ms']:.1f} ms |",
            END,
        ]
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--write", type=Path)
    args = ap.parse_args()
    if not (shutil.which("dbus-daemon") or Path("/usr/bin/dbus-daemon").exists()):
        print("dbus-daemon not found: apt-get install dbus-daemon, then run again", file=sys.stderr)
        return 0
    per = PeripheralProcess("--sensors", "2", "--duration", str(args.seconds + 120))
    try:
        res = asyncio.run(measure(per.address, per.names, args.seconds))
    finally:
        per.close()
    res["command"] = "python -m tools.bench_ble " + " ".join(sys.argv[1:])
    res["machine"] = (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    block = markdown(res)
    print(block)
    if args.write:
        update_block(args.write, BEGIN, END, block, "## BLE path")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
