"""Decoding cost per notification of each vendor family (issue 12).

The notifications are what each family's simulated twin (``firmware_sim.twins``) sends
for a simulated run (a shin sensor, running, at the family's default rate in ``[ble]``),
captured without BLE.  Two costs per notification: the family codec's ``decode`` alone,
and the whole translation the pipeline does (``pipeline.vendor.Translator.feed``: decode,
stream indexing and pairing, packing as sensorhub packets), best of ``--passes``.

    python -m tools.bench_vendor --seconds 120 --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tools._report import update_block

BEGIN = "<!-- bench_vendor:begin -->"
END = "<!-- bench_vendor:end -->"


class _Capture:
    """Stands in for the fake BlueZ device: every notification is kept."""

    connected = True

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    def notify(self, uuid: str, data: bytes) -> bool:
        self.sent.append((uuid, bytes(data)))
        return True

    def drop_link(self) -> bool:
        return False


def _writer(twin: Any) -> Callable[[bytes], None]:
    for service in twin.services():
        for char in service.characteristics:
            if char.on_write is not None:
                handler: Callable[[bytes], None] = char.on_write
                return handler
    raise RuntimeError(f"{twin.family} twin has no writable characteristic")


def _start(family: str, twin: Any, rate: int) -> list[bytes]:
    """The commands a host sends to start ``family`` streaming at ``rate``."""
    if family == "polar":
        from sensorhub.protocol import polar

        acc, gyro = polar.MeasurementType.ACC, polar.MeasurementType.GYRO
        return [polar.enter_sdk_mode(), polar.start(acc, rate, 16, 16, 3),
                polar.start(gyro, rate, 16, 2000, 3)]  # fmt: skip
    if family == "movesense":
        from sensorhub.protocol import movesense

        return [movesense.subscribe(99, f"/Meas/IMU6/{rate}")]
    if family == "metawear":
        from sensorhub.sources.drivers.metawear import start_commands

        return list(start_commands(twin.imu, rate, 16, 2000))
    raise ValueError(family)


def capture(family: str, seconds: float) -> tuple[list[bytes], Any]:
    """A simulated run's notifications as the family's twin sends them, and the sensor
    entry a host would have made of it."""
    from firmware_sim.run import SimulatedRun, default_config
    from firmware_sim.twins import TwinOptions, twin_class
    from sensorhub.config import BleConfig
    from sensorhub.types import Mounting

    cfg = default_config(duration_s=seconds + 5, seed=2, mount=Mounting.SHIN)
    run = SimulatedRun(cfg)
    sensor = run.sensors[0]
    sensor.streaming = False
    clock = [0.0]
    twin = twin_class(family)(sensor, TwinOptions(), lambda: clock[0])
    dev = _Capture()
    twin.dev = dev  # type: ignore[assignment]
    rate = getattr(BleConfig(), f"{family}_odr_hz")
    write = _writer(twin)
    for cmd in _start(family, twin, rate):
        write(cmd)
    dev.sent.clear()  # the command responses
    while run.t < seconds:
        for d in run.poll(0.05):
            clock[0] = d.t
            twin.on_native(d.t, d.data)
    data = [x for _, x in dev.sent]
    return data, _entry(family, rate, twin)


def _entry(family: str, rate: int, twin: Any) -> Any:
    from sensorhub.protocol import spec
    from sensorhub.recording import SensorEntry
    from sensorhub.sources.drivers import vendor_info
    from sensorhub.types import Mounting, Side

    settings: dict[str, Any] = {"rate_hz": rate}
    if family == "polar":
        settings |= {"acc_factor": 16 / 32768, "gyro_factor": 2000 / 32768}
    elif family == "movesense":
        settings |= {"path": f"/Meas/IMU6/{rate}", "ref": 99, "max_notification": twin.mtu - 3}
    elif family == "metawear":
        settings |= twin.host_settings()
    info = vendor_info(
        name=f"bench {family}",
        serial=b"",
        model=spec.SensorModel.UNKNOWN,
        odr_hz=float(rate),
        acc_range_g=16,
        gyro_range_dps=2000,
        acc_scale_g=16 / 32768,
        gyro_scale_dps=2000 / 32768,
        mounting=Mounting.SHIN,
        side=Side.LEFT,
    )
    return SensorEntry.from_info(0, info, "", family, settings)


def _decoder(family: str) -> Callable[[bytes], object]:
    if family == "polar":
        from sensorhub.protocol import polar

        return polar.decode_data
    if family == "movesense":
        from sensorhub.protocol import movesense

        return movesense.decode
    if family == "metawear":
        from sensorhub.protocol import metawear

        return metawear.decode
    raise ValueError(family)


def _costs(fn: Callable[[bytes], object], data: list[bytes], passes: int) -> np.ndarray:
    best = np.full(len(data), np.inf)
    clock = time.perf_counter_ns
    for _ in range(passes):
        for i, d in enumerate(data):
            t0 = clock()
            fn(d)
            dt = clock() - t0
            if dt < best[i]:
                best[i] = dt
    return best / 1e3


def bench(family: str, seconds: float, passes: int) -> dict[str, Any]:
    from sensorhub.pipeline.vendor import Translator

    data, entry = capture(family, seconds)
    decode = _costs(_decoder(family), data, passes)
    per_pass = []
    for _ in range(passes):  # the translator has state: a fresh one per pass
        tr = Translator(entry)
        per_pass.append(_costs(lambda d, tr=tr: tr.feed(0.0, d), data, 1))  # type: ignore[misc]
    translate = np.min(np.vstack(per_pass), axis=0)
    n_samples = int(seconds * entry.settings["rate_hz"])
    return {
        "family": family,
        "rate_hz": entry.settings["rate_hz"],
        "notifications": len(data),
        "bytes_median": int(np.median([len(d) for d in data])),
        "samples_per_notification": round(n_samples / max(1, len(data)), 1),
        "decode_us_median": round(float(np.median(decode)), 2),
        "decode_us_p99": round(float(np.percentile(decode, 99)), 2),
        "translate_us_median": round(float(np.median(translate)), 2),
        "translate_us_p99": round(float(np.percentile(translate, 99)), 2),
    }


def markdown(rows: list[dict[str, Any]], seconds: float, passes: int) -> str:
    machine = f"{platform.machine()}, Python {platform.python_version()}"
    lines = [
        BEGIN,
        f"Measured by `python -m tools.bench_vendor --seconds {seconds:g} --write "
        f"docs/benchmarks.md` ({machine}); one core, best of {passes} passes. The "
        "notifications are what each simulated twin sends for a running shin sensor at "
        "its default rate; *translate* is the whole per-notification work before the signal "
        "core (decode, index and pair the samples, pack them as sensorhub packets), which "
        "then costs what the sensorhub profile costs per packet (above).",
        "",
        "| family | rate | notifications (bytes, samples each) | decode median / p99 | "
        "translate median / p99 |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['family']} | {r['rate_hz']} Hz | {r['notifications']} "
            f"({r['bytes_median']} B, {r['samples_per_notification']}) | "
            f"{r['decode_us_median']} / {r['decode_us_p99']} µs | "
            f"{r['translate_us_median']} / {r['translate_us_p99']} µs |"
        )
    lines.append(END)
    return "\n".join(lines)


def main() -> int:
    from firmware_sim.twins import FAMILIES

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--families", default=",".join(f for f in FAMILIES if f != "rsc"))
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--write", type=Path, help="update this markdown file's bench_vendor block")
    args = ap.parse_args()
    rows = [bench(f, args.seconds, args.passes) for f in args.families.split(",") if f]
    print(json.dumps(rows, indent=2) if args.json else markdown(rows, args.seconds, args.passes))
    if args.write:
        update_block(
            args.write,
            BEGIN,
            END,
            markdown(rows, args.seconds, args.passes),
            heading="## Vendor sensors: decoding per notification",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
