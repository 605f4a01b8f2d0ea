"""The events of several sensors in time order, for sensors that batch.

The gait pairs one foot's contact with the other's (step time, flight time, cadence of
two feet), so it must see both feet's events in time order.  A sensor that streams every
few tens of milliseconds keeps that order by itself; a Polar sensor delivers a second of
samples at once, so its contacts arrive up to 1.5 s after the other foot's later ones.
:class:`TimeMerge` holds each sensor's events (in the order its detector gave them) and
releases the earliest head once every other live sensor has been processed past it,
less ``margin_s`` (how late a detector may still report an event: the contact window's
look-ahead, a toe-off after its lobe).  A sensor that sent nothing for ``wait_max_s`` of
host time (or nothing at all that long after the first sensor did), or whose link is
down, is not waited for.  Deterministic in the notifications:
a replay releases exactly what the live run released, when it did.
"""

from __future__ import annotations

import math
from collections import deque

from sensorhub.events import AnyEvent

#: how late after its time a detector may still report an event (s)
MARGIN_S = 0.6
#: a sensor silent this long (host time) is not waited for
WAIT_MAX_S = 3.0


class TimeMerge:
    def __init__(
        self, sensors: list[int], margin_s: float = MARGIN_S, wait_max_s: float = WAIT_MAX_S
    ) -> None:
        self.margin_s = margin_s
        self.wait_max_s = wait_max_s
        self.held: dict[int, deque[tuple[float, AnyEvent]]] = {k: deque() for k in sensors}
        self.reached = dict.fromkeys(sensors, -math.inf)  # session time processed
        self.arrived = dict.fromkeys(sensors, -math.inf)  # host time of the last notification
        self.down: set[int] = set()
        self.started = math.inf  # host time of the first notification of any sensor

    def push(self, sensor: int, clock_steps: float, ev: AnyEvent) -> None:
        self.held[sensor].append((clock_steps, ev))

    def note(self, sensor: int, arrival_t: float, reached_t: float) -> None:
        """Sensor ``sensor`` had a notification at host time ``arrival_t`` and has been
        processed up to session time ``reached_t`` (nan: no sample yet)."""
        self.arrived[sensor] = arrival_t
        self.started = min(self.started, arrival_t)
        if reached_t == reached_t:
            self.reached[sensor] = reached_t

    def _waits_for(self, sensor: int, now_host: float) -> bool:
        """Not down, and heard from lately (one not heard from yet: for ``wait_max_s``
        after the first sensor was)."""
        last = self.arrived[sensor] if self.arrived[sensor] > -math.inf else self.started
        return sensor not in self.down and now_host - last < self.wait_max_s

    def horizon(self, now_host: float, but: int | None = None) -> float:
        """Session time up to which every waited-for sensor (other than ``but``) is known."""
        times = [
            self.reached[k] - self.margin_s
            for k in self.held
            if k != but and self._waits_for(k, now_host)
        ]
        return min(times, default=math.inf)

    def release(self, now_host: float, final: bool = False) -> list[tuple[int, float, AnyEvent]]:
        """Every held event that can go now, earliest first (all of them if ``final``)."""
        out: list[tuple[int, float, AnyEvent]] = []
        while True:
            heads = [(q[0][1].t, k) for k, q in self.held.items() if q]
            if not heads:
                return out
            t, k = min(heads)
            if not final and t > self.horizon(now_host, but=k):
                return out
            c, ev = self.held[k].popleft()
            out.append((k, c, ev))
