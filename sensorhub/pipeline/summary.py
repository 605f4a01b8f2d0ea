"""The session summary: a pipeline stage that watches the events and sums them up."""

from __future__ import annotations

from collections import Counter

import numpy as np

from sensorhub.events import (
    Activity,
    AnyEvent,
    Asymmetry,
    Cadence,
    Link,
    Pace,
    Step,
    Summary,
)


class SessionSummary:
    """``on_event`` collects; ``finish`` returns the one Summary event of the session."""

    def __init__(self) -> None:
        self._first: float | None = None
        self._last = 0.0
        self._running = False
        self._running_since = 0.0
        self.running_s = 0.0
        self.steps = 0
        self._cadence: list[float] = []
        self._contact: list[float] = []
        self._impact: list[float] = []
        self._strike: Counter[str] = Counter()
        self._asym: Asymmetry | None = None
        self._imu_activity = False  # an IMU has said what the runner does
        self._pod_cadence: list[float] = []
        self._pod_speed: list[float] = []
        self._pod_first: Pace | None = None
        self._pod_last: Pace | None = None
        self._pod_m = 0.0  # integrated from the speed, for pods without a distance

    def on_event(self, ev: AnyEvent) -> list[AnyEvent]:
        if isinstance(ev, Link):  # the link's own news: the session is what the signal says
            return []
        self._first = ev.t if self._first is None else min(self._first, ev.t)
        self._last = max(self._last, ev.t)
        if isinstance(ev, Pace):
            self._pace(ev)
        elif isinstance(ev, Activity):
            self._imu_activity = True
            if self._running:
                self.running_s += ev.t - self._running_since
            self._running = ev.state == "running"
            self._running_since = ev.t
        elif isinstance(ev, Cadence) and self._running:
            self._cadence.append(ev.cadence_spm)
        elif isinstance(ev, Step):
            self.steps += 1
            if ev.contact_ms is not None:
                self._contact.append(ev.contact_ms)
            if ev.impact_g is not None:
                self._impact.append(ev.impact_g)
            if ev.strike:
                self._strike[ev.strike] += 1
        elif isinstance(ev, Asymmetry):
            self._asym = ev
        return []

    def _pace(self, ev: Pace) -> None:
        """A footpod's reading: its cadence and speed while running (as the IMUs say, or
        the pod itself when there is no IMU), and the distance it covered."""
        last = self._pod_last
        if last is not None:
            self._pod_m += last.speed_m_s * max(0.0, ev.t - last.t)
        self._pod_first = self._pod_first or ev
        self._pod_last = ev
        running = self._running if self._imu_activity else bool(ev.running)
        if running and ev.speed_m_s > 0:
            self._pod_cadence.append(ev.cadence_spm)
            self._pod_speed.append(ev.speed_m_s)

    def _pod_distance(self) -> float | None:
        first, last = self._pod_first, self._pod_last
        if first is None or last is None:
            return None
        if first.distance_m is not None and last.distance_m is not None:
            return round(last.distance_m - first.distance_m, 1)
        return round(self._pod_m, 1)

    def finish(self) -> list[AnyEvent]:
        if self._first is None:
            return []
        if self._running:
            self.running_s += self._last - self._running_since
            self._running_since = self._last

        def median(x: list[float]) -> float | None:
            return round(float(np.median(x)), 2) if x else None

        total = sum(self._strike.values())
        a = self._asym
        return [
            Summary(
                t=self._last,
                sensor="",
                side="both",
                duration_s=round(self._last - self._first, 3),
                running_s=round(self.running_s, 3),
                steps=self.steps,
                cadence_spm=median(self._cadence),
                contact_ms=median(self._contact),
                impact_g=median(self._impact),
                impact_p90_g=round(float(np.percentile(self._impact, 90)), 2)
                if self._impact
                else None,
                strike_pct={k: round(100 * n / total, 1) for k, n in sorted(self._strike.items())},
                contact_si_pct=a.contact_si_pct if a else None,
                impact_si_pct=a.impact_si_pct if a else None,
                step_time_si_pct=a.step_time_si_pct if a else None,
                pod_cadence_spm=median(self._pod_cadence),
                pod_speed_m_s=median(self._pod_speed),
                pod_distance_m=self._pod_distance(),
            )
        ]
