"""Slow, obvious reference for the clock map in ``sensorhub.dsp._stream``.

Sample index -> session time, from when packets arrive.

The sensor samples on its own oscillator, so sample ``k`` was taken at
``t0 + k / (odr * (1 + drift))`` on the host clock; a notification arrives some
non-negative latency after its last sample.  The lower envelope of
``arrival - k_last / odr`` is therefore the line we want: its minimum in each window of a
few seconds lies within a connection interval of it, and a least-squares line through
the recent minima gives offset and drift (tens of ppm).  Device timestamps are not used:
the sample index is continuous through clock jumps and link drops alike.

A host that stalls delivers its backlog in one burst: every packet of it arrives "early"
for its index, so each lowers the map a little.  When packets in a row have moved the map
back by more than ``step_s`` altogether, that is a clock step (the times before it came
from late stamps), and ``steps`` counts it.
"""

from __future__ import annotations

from collections import deque


class ClockMap:
    """Online map from absolute sample index to host seconds (pure; time is passed in).

    Parameters
    ----------
    sampling_rate_hz
        Nominal output data rate.
    window_s
        Host-time span of each lower-envelope window.
    windows
        How many window minima the drift fit uses (window_s * windows of history).
    """

    __slots__ = (
        "_back",
        "_cur_end",
        "_cur_idx",
        "_cur_min",
        "_minima",
        "_offset",
        "_period",
        "_slope",
        "step_s",
        "steps",
        "window_s",
    )

    def __init__(
        self,
        sampling_rate_hz: float,
        window_s: float = 5.0,
        windows: int = 24,
        step_s: float = 0.1,
    ) -> None:
        self.step_s = step_s
        self.steps = 0
        self._back = 0.0  # how far the map has moved back over the last packets
        self._period = 1.0 / sampling_rate_hz
        self.window_s = window_s
        self._minima: deque[tuple[float, float]] = deque(maxlen=windows)
        self._cur_min = float("inf")
        self._cur_idx = 0.0
        self._cur_end: float | None = None
        self._offset: float | None = None
        self._slope = 0.0  # extra seconds per sample (drift)

    @property
    def ready(self) -> bool:
        return self._offset is not None

    def update(self, last_index: int, arrival_t: float) -> None:
        """A packet whose last sample is ``last_index`` arrived at host time ``arrival_t``."""
        before = self.time(last_index) if self.ready else None
        self._update(last_index, arrival_t)
        moved_back = 0.0 if before is None else before - self.time(last_index)
        if moved_back <= 0.0:  # this packet did not move the map back: a run ends
            self._back = 0.0
            return
        self._back += moved_back
        if self._back > self.step_s:
            self.steps += 1
            self._back = 0.0

    def _update(self, last_index: int, arrival_t: float) -> None:
        resid = arrival_t - last_index * self._period
        if self._cur_end is None:
            self._cur_end = arrival_t + self.window_s
        if arrival_t >= self._cur_end:
            self._minima.append((self._cur_idx, self._cur_min))
            self._cur_min = float("inf")
            self._cur_end = arrival_t + self.window_s
            self._fit()
        if resid < self._cur_min:
            self._cur_min = resid
            self._cur_idx = float(last_index)
        if not self._minima:
            # before the first window closes: the lowest residual so far
            self._offset = self._cur_min
            self._slope = 0.0

    def _fit(self) -> None:
        pts = list(self._minima)
        if len(pts) < 3:
            self._offset = min(r for _, r in pts)
            self._slope = 0.0
            return
        n = len(pts)
        mx = sum(k for k, _ in pts) / n
        my = sum(r for _, r in pts) / n
        sxx = sum((k - mx) ** 2 for k, _ in pts)
        slope = sum((k - mx) * (r - my) for k, r in pts) / sxx if sxx > 0 else 0.0
        # the envelope lies below every minimum: shift the line down to the lowest one
        shift = min(r - (my + slope * (k - mx)) for k, r in pts)
        self._slope = slope
        self._offset = my - slope * mx + shift

    def time(self, index: float) -> float:
        """Host seconds at which sample ``index`` (fractional) was taken."""
        if self._offset is None:
            raise RuntimeError("no packet yet")
        return self._offset + index * (self._period + self._slope)
