"""A session's numbers as arrays, and what is derived from them (pure, no I/O).

Conventions used everywhere after the run:

* cadence is **steps per minute** (both feet, spm); FIT files count strides and say so;
* a symmetry index is ``100 (right - left) / mean(left, right)`` %, as the live
  ``Asymmetry`` events give it; positive: the right side's value is larger;
* "comparable speed" means speeds within ``SPEED_BAND_M_S`` of each other; where no speed
  is known, running is compared with running (and the report says so).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]

#: Two stretches of running are at comparable speed when their speeds differ by less.
SPEED_BAND_M_S = 0.3
#: The left/right band within which a symmetry index is usual (runners' own variation).
ASYMMETRY_BAND_PCT = 10.0
#: A step's speed is interpolated from track points no further apart than this.
TRACK_GAP_S = 5.0


def clock(seconds: float | None) -> str:
    """``m:ss`` (or ``h:mm:ss``) of a duration; ``-`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    s = round(seconds)
    h, m, sec = s // 3600, (s % 3600) // 60, s % 60
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def pace(speed_m_s: float) -> str:
    """A speed as runners read it: ``3.20 m/s (5:13 /km)``."""
    return f"{speed_m_s:.2f} m/s ({clock(1000.0 / speed_m_s)} /km)"


def as_array(values: Sequence[float | None]) -> Array:
    """Numbers with None as NaN."""
    return np.array([np.nan if v is None else v for v in values], float)


@dataclass
class Steps:
    """Per-step columns (NaN where unknown); ``side`` and ``strike`` are strings."""

    t_s: Array
    side: npt.NDArray[np.str_]
    cadence_spm: Array
    contact_ms: Array
    flight_ms: Array
    impact_g: Array
    loading_rate_g_per_s: Array
    strike: npt.NDArray[np.str_]
    speed_m_s: Array
    step_cadence_spm: Array

    @classmethod
    def from_rows(cls, rows: Sequence[Any], columns: Sequence[str]) -> Steps:
        col = {c: i for i, c in enumerate(columns)}

        def num(name: str) -> Array:
            if name not in col or not rows:
                return np.full(len(rows), np.nan)
            return np.array([np.nan if r[col[name]] is None else r[col[name]] for r in rows], float)

        def text(name: str) -> npt.NDArray[np.str_]:
            return (
                np.array([r[col[name]] or "" for r in rows], dtype=str)
                if rows
                else np.zeros(0, dtype=str)
            )

        return cls(
            t_s=num("t_s"),
            side=text("side"),
            cadence_spm=num("cadence_spm"),
            contact_ms=num("contact_ms"),
            flight_ms=num("flight_ms"),
            impact_g=num("impact_g"),
            loading_rate_g_per_s=num("loading_rate_g_per_s"),
            strike=text("strike"),
            speed_m_s=num("speed_m_s"),
            step_cadence_spm=num("step_cadence_spm"),
        )

    def __len__(self) -> int:
        return len(self.t_s)

    def take(self, mask: npt.NDArray[np.bool_]) -> Steps:
        return Steps(**{k: v[mask] for k, v in self.__dict__.items()})

    @classmethod
    def concat(cls, parts: Sequence[Steps]) -> Steps:
        if not parts:
            return cls.from_rows([], ("t_s",))
        return cls(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in parts[0].__dict__})


def median(x: Array) -> float | None:
    x = x[np.isfinite(x)]
    return float(np.median(x)) if len(x) else None


def symmetry_index(left: float | None, right: float | None) -> float | None:
    """100 (right - left) / mean(left, right), %; None when either is unknown."""
    if left is None or right is None or not left + right:
        return None
    return 100.0 * (right - left) / ((left + right) / 2.0)


def running_spans(activity: Sequence[tuple[float, str]], end_s: float) -> list[tuple[float, float]]:
    """The (start, end) stretches of running from the activity changes."""
    spans: list[tuple[float, float]] = []
    since: float | None = None
    for t, state in sorted(activity):
        if state == "running" and since is None:
            since = t
        elif state != "running" and since is not None:
            spans.append((since, t))
            since = None
    if since is not None:
        spans.append((since, max(since, end_s)))
    return spans


def running_mask(t: Array, spans: Sequence[tuple[float, float]]) -> npt.NDArray[np.bool_]:
    m = np.zeros(len(t), bool)
    for a, b in spans:
        m |= (t >= a) & (t <= b)
    return m


def interpolate_speed(t: Array, track_t: Array, track_speed: Array) -> Array:
    """Speed at times ``t`` from a track, NaN outside it or across gaps > TRACK_GAP_S."""
    ok = np.isfinite(track_speed)
    track_t, track_speed = track_t[ok], track_speed[ok]
    out = np.full(len(t), np.nan)
    if len(track_t) < 2 or not len(t):
        return out
    order = np.argsort(track_t, kind="stable")
    track_t, track_speed = track_t[order], track_speed[order]
    k = np.searchsorted(track_t, t)
    inside = (k > 0) & (k < len(track_t))
    kk = np.clip(k, 1, len(track_t) - 1)
    gap = track_t[kk] - track_t[kk - 1]
    inside &= gap <= TRACK_GAP_S
    out[inside] = np.interp(t[inside], track_t, track_speed)
    return out


def side_median(steps: Steps, column: str, side: str) -> float | None:
    values: Array = getattr(steps, column)
    return median(values[steps.side == side])


def symmetry_of(steps: Steps) -> dict[str, float]:
    """Contact and impact symmetry index of these steps (left and right medians)."""
    out = {}
    for column, key in (("contact_ms", "contact_si_pct"), ("impact_g", "impact_si_pct")):
        si = symmetry_index(side_median(steps, column, "left"), side_median(steps, column, "right"))
        if si is not None:
            out[key] = si
    return out


def minute_rows(
    steps: Steps, spans: Sequence[tuple[float, float]], duration_s: float
) -> list[tuple[Any, ...]]:
    """One row per minute of the session (``store.MINUTE_COLUMNS``): running seconds,
    steps, median cadence, per-side median contact/impact/loading rate, their symmetry
    indices, mean speed."""
    rows: list[tuple[Any, ...]] = []
    minutes = max(1, math.ceil(duration_s / 60.0)) if duration_s > 0 else 0
    if len(steps):
        minutes = max(minutes, int(np.nanmax(steps.t_s) // 60) + 1)
    which = np.floor(steps.t_s / 60.0).astype(int) if len(steps) else np.zeros(0, int)
    for m in range(minutes):
        a, b = 60.0 * m, 60.0 * (m + 1)
        run = sum(max(0.0, min(b, y) - max(a, x)) for x, y in spans)
        s = steps.take(which == m)

        def rnd(x: float | None, nd: int = 2) -> float | None:
            return None if x is None else round(x, nd)

        cl, cr = side_median(s, "contact_ms", "left"), side_median(s, "contact_ms", "right")
        il, ir = side_median(s, "impact_g", "left"), side_median(s, "impact_g", "right")
        rows.append(
            (
                m,
                round(run, 3),
                len(s),
                rnd(median(s.cadence_spm)),
                rnd(cl),
                rnd(cr),
                rnd(il),
                rnd(ir),
                rnd(side_median(s, "loading_rate_g_per_s", "left"), 1),
                rnd(side_median(s, "loading_rate_g_per_s", "right"), 1),
                rnd(symmetry_index(cl, cr)),
                rnd(symmetry_index(il, ir)),
                rnd(median(s.speed_m_s), 3),
            )
        )
    return rows
