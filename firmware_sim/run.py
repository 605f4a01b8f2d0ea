"""A whole simulated session: one runner, one or more sensors, and the ground truth."""

from __future__ import annotations

import csv
import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from firmware_sim.device import Notification, SensorConfig, SimulatedSensor
from firmware_sim.faults import FaultConfig
from firmware_sim.gait import (
    GaitParams,
    Schedule,
    Segment,
    SegmentModel,
    build_schedule,
    impact_truth,
)
from sensorhub.types import Mounting, Side, classify_strike

TRUTH_COLUMNS = ("t_s", "side", "event", "value", "strike", "angle_deg")


def scenario(activity: str, duration_s: float, lead_s: float = 2.0) -> list[Segment]:
    """Stand ``lead_s``, move for the rest of ``duration_s`` but ``lead_s`` at the end."""
    if activity not in ("run", "walk", "stand"):
        raise ValueError("activity must be run, walk or stand")
    if activity == "stand" or duration_s <= 2 * lead_s + 2:
        return (
            [Segment("stand", duration_s)]
            if activity == "stand"
            else [Segment(activity, duration_s)]
        )
    return [
        Segment("stand", lead_s),
        Segment(activity, duration_s - 2 * lead_s),
        Segment("stand", lead_s),
    ]


@dataclass(frozen=True)
class SimConfig:
    """Everything that defines a simulated session (with ``seed``, its exact bytes)."""

    segments: tuple[Segment, ...]
    sensors: tuple[SensorConfig, ...]
    gait: GaitParams = field(default_factory=GaitParams)
    faults: FaultConfig = field(default_factory=FaultConfig)
    seed: int = 0

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s for s in self.segments)


@dataclass(frozen=True)
class TruthEvent:
    """One row of the ground-truth sidecar."""

    t_s: float
    side: Side
    event: str  # ic, to, impact
    value: float | None = None
    strike: str | None = None
    angle_deg: float | None = None


@dataclass(frozen=True)
class Delivery:
    """A notification as the host receives it: host time (s), sensor index, bytes."""

    t: float
    sensor: int
    data: bytes


class SimulatedRun:
    """The simulated runner with its sensors.  ``poll(dt)`` advances all of them."""

    def __init__(self, config: SimConfig) -> None:
        if not config.sensors:
            raise ValueError("a simulation needs at least one sensor")
        self.config = config
        root = np.random.SeedSequence(config.seed)
        gait_seed, *sensor_seeds = root.spawn(1 + len(config.sensors))
        self.schedule: Schedule = build_schedule(
            list(config.segments), config.gait, np.random.default_rng(gait_seed)
        )
        self.models = [SegmentModel(self.schedule, s.side, s.mounting) for s in config.sensors]
        self.sensors = [
            SimulatedSensor(sc, m, int(ss.generate_state(1)[0]), config.faults)
            for sc, m, ss in zip(config.sensors, self.models, sensor_seeds, strict=True)
        ]
        self.t = 0.0

    @property
    def done(self) -> bool:
        return self.t >= self.config.duration_s - 1e-9

    def poll(self, dt: float) -> list[Delivery]:
        """Advance ``dt`` seconds (never past the end); what was received, in host-time order."""
        dt = min(dt, self.config.duration_s - self.t)
        if dt <= 0:
            return []
        per_sensor: list[list[Notification]] = [s.poll(dt) for s in self.sensors]
        self.t += dt
        return self._merge(per_sensor)

    def deliveries(self, tick_s: float = 1.0) -> Iterator[Delivery]:
        """Run to the end, in ticks of ``tick_s``: every notification as the host gets it,
        ending with what the sensors still held when the session stopped."""
        while not self.done:
            yield from self.poll(tick_s)
        yield from self.finish()

    def finish(self) -> list[Delivery]:
        """End the session: sensors send what their FIFOs hold; all that was in flight."""
        return self._merge([s.power_down() for s in self.sensors])

    @staticmethod
    def _merge(per_sensor: list[list[Notification]]) -> list[Delivery]:
        merged = heapq.merge(
            *[[(n.t, i, n.data) for n in notes] for i, notes in enumerate(per_sensor)],
            key=lambda x: (x[0], x[1]),
        )
        return [Delivery(t, i, d) for t, i, d in merged]

    def truth(self) -> list[TruthEvent]:
        """Every contact, toe-off and impact peak, sorted by time.

        Impact values are those of the first sensor on each side (the mounting decides
        what "impact" means: resultant at the shoe, axial at the shin).
        """
        events: list[TruthEvent] = []
        seen: set[Side] = set()
        for model in self.models:
            if model.side in seen:
                continue
            seen.add(model.side)
            t_pk, val = impact_truth(model)
            for j in range(len(model.ic)):
                ang = float(model.strike[j])  # the foot angle exists whatever is worn
                events.append(
                    TruthEvent(
                        float(model.ic[j]),
                        model.side,
                        "ic",
                        strike=classify_strike(ang).label,
                        angle_deg=ang,
                    )
                )
                if np.isfinite(model.to[j]):
                    events.append(TruthEvent(float(model.to[j]), model.side, "to"))
                events.append(TruthEvent(float(t_pk[j]), model.side, "impact", value=float(val[j])))
            for t_lift in model.lift:
                events.append(TruthEvent(float(t_lift), model.side, "to"))
        events.sort(key=lambda e: (e.t_s, e.side, e.event))
        return events

    def write_truth(self, path: Path) -> int:
        """Write the ``t_s,side,event,value,strike,angle_deg`` sidecar; returns rows."""
        rows = self.truth()
        write_truth_csv(path, rows)
        return len(rows)


def write_truth_csv(path: Path, rows: list[TruthEvent]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(TRUTH_COLUMNS)
        for r in rows:
            w.writerow(
                [
                    f"{r.t_s:.6f}",
                    r.side.label,
                    r.event,
                    "" if r.value is None else f"{r.value:.3f}",
                    r.strike or "",
                    "" if r.angle_deg is None else f"{r.angle_deg:.2f}",
                ]
            )


def default_config(
    activity: str = "run",
    mount: Mounting = Mounting.SHOE,
    duration_s: float = 60.0,
    seed: int = 0,
    sides: tuple[Side, ...] = (Side.LEFT,),
    cadence_spm: float | None = None,
    odr_hz: int = 1000,
    faults: FaultConfig | None = None,
    gait: GaitParams | None = None,
    mount_rotation: str = "random",
) -> SimConfig:
    """The configuration behind ``sensorhub sim``."""
    segs = scenario(activity, duration_s)
    if cadence_spm is not None:
        segs = [
            Segment(s.activity, s.duration_s, cadence_spm if s.activity != "stand" else None)
            for s in segs
        ]
    sensors = tuple(
        SensorConfig(side=s, mounting=mount, odr_hz=odr_hz, mount_rotation=mount_rotation)
        for s in sides
    )
    return SimConfig(
        segments=tuple(segs),
        sensors=sensors,
        gait=gait or GaitParams(),
        faults=faults or FaultConfig(),
        seed=seed,
    )
