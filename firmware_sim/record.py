"""``sensorhub sim --record``: a simulated run to a session file and its truth sidecar,
as fast as the machine allows."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from pathlib import Path
from typing import Any

from firmware_sim.run import SimConfig, SimulatedRun, write_truth_csv
from sensorhub.errors import SensorhubError
from sensorhub.recording import SensorEntry, SessionHeader, SessionWriter
from sensorhub.types import Mounting, Side


def truth_path(record: Path) -> Path:
    """``run.shs`` -> ``run.truth.csv``: the ground-truth sidecar of a recording."""
    return record.with_suffix(".truth.csv")


def describe(cfg: SimConfig) -> dict[str, Any]:
    """The configuration as plain JSON values (stored in the session header)."""

    def plain(x: Any) -> Any:
        if dataclasses.is_dataclass(x) and not isinstance(x, type):
            return {f.name: plain(getattr(x, f.name)) for f in dataclasses.fields(x)}
        if isinstance(x, (list, tuple)):
            return [plain(v) for v in x]
        if isinstance(x, (Side, Mounting)):
            return x.label
        return x

    result: dict[str, Any] = plain(cfg)
    return result


def record_run(cfg: SimConfig, path: Path) -> str:
    """Record the run to ``path`` and its truth beside it; returns the line to print.

    The truth is written first, so a disk that fills up still leaves it (trimmed to what
    was recorded when it can be); every failure is one SensorhubError."""
    truth = truth_path(path)
    if truth.exists():
        raise SensorhubError(f"{truth} already exists", "choose a new file name")
    run = SimulatedRun(cfg)
    header = SessionHeader(
        started_unix=time.time(),
        source="sim",
        sensors=[SensorEntry.from_info(i, s.info()) for i, s in enumerate(run.sensors)],
        config=describe(cfg),
    )
    started = time.perf_counter()
    last_t = 0.0
    rows = 0
    writer: SessionWriter | None = None
    try:
        with SessionWriter(path, header) as writer:  # a path that cannot be made: here
            try:  # the truth first: a disk that fills up below still leaves it
                rows = run.write_truth(truth)
            except OSError as exc:
                raise SensorhubError(f"cannot write {truth}: {exc.strerror}") from None
            for d in run.deliveries():
                writer.write(d.t, d.sensor, d.data)
                last_t = d.t
    except OSError as exc:
        kept = [r for r in run.truth() if r.t_s <= last_t]
        with contextlib.suppress(OSError):  # the truth of what was recorded, if it fits
            write_truth_csv(truth, kept)
            rows = len(kept)
        raise SensorhubError(
            f"recording {path} stopped after {last_t:.1f} s: {exc.strerror}; the "
            f"{0 if writer is None else writer.records} notifications written replay as they "
            f"are (`sensorhub replay {path}`), {truth} has {rows} truth events",
            "free some space or record to another disk",
        ) from None
    assert writer is not None
    took = time.perf_counter() - started
    return (
        f"recorded {cfg.duration_s:.0f} s of {len(run.sensors)} sensor(s) to {path} "
        f"({writer.records} notifications) and {rows} truth events to {truth} in {took:.1f} s "
        f"({cfg.duration_s / took:.0f}x real time)"
    )
