"""The runner as a whole: steps, cadence, activity and left/right asymmetry.

Pure and clock-free: it sees the per-sensor events (footstrike, impact, toe-off) in
order and derives the rest.  Cadence counts steps of both feet: with one sensor a
foot's stride holds two steps; with a sensor on each foot the step time between the two
feet's contacts gives every step.  When two sensors sit on the same foot, the first one
seen counts the steps and the other adds its impacts.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from sensorhub.events import (
    Activity,
    ActivityState,
    AnyEvent,
    Asymmetry,
    Cadence,
    FootStrike,
    Impact,
    Step,
    ToeOff,
)
from sensorhub.types import classify_strike

RUNNING_CADENCE_SPM = 140.0  # walking is 90-130 steps/min, running 150-200
RUNNING_DUTY = 0.5  # contact / stride: running < 0.5 (flight), walking ~0.6
STANDING_AFTER_S = 2.0  # no contact for this long (or two strides): standing


@dataclass
class _Pending:
    t: float
    stride_ms: float | None
    impact_g: float | None = None
    loading_rate: float | None = None
    done: bool = False
    stale: bool = False  # its time is from before a clock step: no intervals from it


@dataclass
class _Foot:
    sensor: str
    side: str
    last_ic: float | None = None
    stride_s: float | None = None
    ics: deque[float] = field(default_factory=lambda: deque(maxlen=4))
    tos: deque[float] = field(default_factory=lambda: deque(maxlen=4))
    pending: _Pending | None = None
    window: int = 20  # steps in the asymmetry window (Gait.asymmetry_steps)
    contact_ms: deque[float] = field(init=False)
    impact_g: deque[float] = field(init=False)
    step_ms: deque[float] = field(init=False)

    def __post_init__(self) -> None:
        self.contact_ms = deque(maxlen=self.window)
        self.impact_g = deque(maxlen=self.window)
        self.step_ms = deque(maxlen=self.window)


class Gait:
    """Derives Step, Cadence, Activity and Asymmetry events.

    Parameters
    ----------
    has_gyro
        Tells whether a sensor sends gyroscope data: without one no toe-off will come,
        so a step is complete with its impact.
    smoothing_steps
        Steps the smoothed cadence spans.
    asymmetry_steps, asymmetry_every
        Steps per side in the asymmetry window, and how often (in steps) it is reported.
    """

    def __init__(
        self,
        has_gyro: Callable[[str], bool | None],
        smoothing_steps: int = 8,
        asymmetry_steps: int = 20,
        asymmetry_every: int = 10,
    ) -> None:
        self._has_gyro = has_gyro
        self.smoothing_steps = smoothing_steps
        self.asymmetry_steps = asymmetry_steps
        self.asymmetry_every = asymmetry_every
        self._feet: dict[str, _Foot] = {}  # by sensor
        self._primary: dict[str, str] = {}  # side -> sensor that counts steps
        self._steps: list[float] = []  # recent contacts of both feet, sorted
        self._state: ActivityState | Literal[""] = ""  # "" before the first tick
        self._candidate: ActivityState | Literal[""] = ""
        self._candidate_n = 0
        self._step_count = 0
        self._state_since = -math.inf
        self._standing_at = float("inf")  # session time at which no contact means standing

    @property
    def state(self) -> str:
        """Current activity ("" before the first tick)."""
        return self._state

    @property
    def standing_at(self) -> float:
        """Session time after which, without a new contact, the runner is standing."""
        return self._standing_at

    # ------------------------------------------------------------------ helpers
    def _foot(self, ev: AnyEvent) -> _Foot:
        foot = self._feet.get(ev.sensor)
        if foot is None:
            foot = self._feet[ev.sensor] = _Foot(ev.sensor, ev.side, window=self.asymmetry_steps)
            self._primary.setdefault(ev.side, ev.sensor)
        return foot

    def _other(self, foot: _Foot) -> _Foot | None:
        for side, sensor in self._primary.items():
            if side != foot.side and side in ("left", "right") and foot.side in ("left", "right"):
                return self._feet[sensor]
        return None

    def _set_state(self, t: float, state: ActivityState) -> list[AnyEvent]:
        if state == self._state:
            return []
        self._state = state
        self._state_since = t
        return [Activity(t=t, sensor="", side="both", state=state)]

    def no_signal(self, t: float) -> list[AnyEvent]:
        """Every sensor's link is down (at session time ``t``): the runner is not
        standing, nothing is known; no standing is decided until a link is back."""
        self._steps.clear()
        self._candidate, self._candidate_n = "", 0
        self._standing_at = float("inf")
        return self._set_state(t, "no signal")

    def signal_back(self, t: float) -> None:
        """A link is back at ``t``: without a contact soon after, the runner stands."""
        if self._state == "no signal":
            self._standing_at = t + STANDING_AFTER_S

    def restart_timing(self) -> None:
        """Forget every time held (contacts, toe-offs, the cadence window, when standing
        begins): a sensor's clock map has stepped, so the times before and after it are on
        different axes.  Steps already begun are completed; the next steps have no step,
        swing or flight time and the cadence restarts from the sensors' own stride times."""
        for foot in self._feet.values():
            foot.ics.clear()
            foot.tos.clear()
            foot.last_ic = None
            if foot.pending is not None:
                foot.pending.stale = True
        self._steps.clear()
        self._standing_at = float("inf")

    # ------------------------------------------------------------------- events
    def on_event(self, ev: AnyEvent) -> list[AnyEvent]:
        """Derived events that ``ev`` completes."""
        if isinstance(ev, FootStrike):
            return self._footstrike(ev)
        if isinstance(ev, Impact):
            return self._impact(ev)
        if isinstance(ev, ToeOff):
            return self._toe_off(ev)
        return []

    def tick(self, now: float) -> list[AnyEvent]:
        """Time has reached ``now`` (session seconds): notice when the runner stops."""
        if not self._state:
            return self._set_state(now, "standing")
        if self._state == "standing" or now <= self._standing_at:
            return []
        self._steps.clear()
        self._candidate, self._candidate_n = "", 0
        # the last contacts before stopping get no toe-off: their steps end here
        out: list[AnyEvent] = [
            self._step(f, None, None)
            for f in self._feet.values()
            if f.pending is not None and not f.pending.done
        ]
        return out + self._set_state(self._standing_at, "standing")

    def _footstrike(self, ev: FootStrike) -> list[AnyEvent]:
        out: list[AnyEvent] = []
        foot = self._foot(ev)
        if foot.pending is not None and not foot.pending.done:
            out.append(self._step(foot, None, None))  # no toe-off came for the last one
        foot.stride_s = ev.stride_s
        other = self._other(foot)
        # The two feet's contacts can arrive slightly out of order (each sensor has its own
        # packet timing, and the first contacts of a stretch wait longer): work from times.
        o_ic = None if other is None else max((x for x in other.ics if x < ev.t), default=None)
        step_ms = None
        if o_ic is not None and ev.t - o_ic < 1.5:
            step_ms = (ev.t - o_ic) * 1000.0
        foot.pending = _Pending(ev.t, ev.stride_s * 1000.0 if ev.stride_s else None)
        foot.last_ic = ev.t if foot.last_ic is None else max(foot.last_ic, ev.t)
        foot.ics.append(ev.t)
        strides = [f.stride_s for f in self._feet.values() if f.stride_s]
        limit = max(STANDING_AFTER_S, 2 * max(strides)) if strides else STANDING_AFTER_S
        fresh = self._state == "standing" or math.isinf(self._standing_at)
        self._standing_at = ev.t + limit if fresh else max(self._standing_at, ev.t + limit)
        if self._primary.get(foot.side) != foot.sensor:
            return out
        # cadence: steps of both feet, in time order
        if self._steps and ev.t - self._steps[-1] > STANDING_AFTER_S:
            self._steps.clear()
        bisect.insort(self._steps, ev.t)
        del self._steps[: -self.smoothing_steps]
        per_step = None
        if step_ms:
            per_step = 60000.0 / step_ms
        elif ev.stride_s:
            per_step = 120.0 / ev.stride_s
        if per_step is not None and len(self._steps) >= 2:
            span = self._steps[-1] - self._steps[0]
            both = other is not None and other.last_ic is not None and ev.t - other.last_ic < 1.5
            smoothed = (1.0 if both else 2.0) * 60.0 * (len(self._steps) - 1) / span
            out.append(
                Cadence(
                    t=ev.t,
                    sensor=ev.sensor,
                    side=ev.side,
                    step_cadence_spm=per_step,
                    cadence_spm=smoothed,
                    steps=len(self._steps),
                )
            )
        return out

    def _impact(self, ev: Impact) -> list[AnyEvent]:
        foot = self._foot(ev)
        p = foot.pending
        if p is None or abs(p.t - ev.contact_t) > 1e-3:
            return []
        p.impact_g = ev.peak_g
        p.loading_rate = ev.loading_rate_g_per_s
        if self._has_gyro(ev.sensor) is False:
            return [self._step(foot, None, None)]
        return []

    def _toe_off(self, ev: ToeOff) -> list[AnyEvent]:
        foot = self._foot(ev)
        foot.tos.append(ev.t)
        p = foot.pending
        if p is None or p.done:
            return []
        return [self._step(foot, ev.contact_ms, ev.strike_angle_deg)]

    def _step(self, foot: _Foot, contact_ms: float | None, angle: float | None) -> Step:
        """The step that began at the pending contact, with what is known by now."""
        p = foot.pending
        assert p is not None
        p.done = True
        t = p.t
        # this foot's swing: from its last toe-off after its previous contact
        prev_ic = max((x for x in foot.ics if x < t), default=None)
        to_before = max((x for x in foot.tos if x < t), default=None)
        swing = None
        if to_before is not None and (prev_ic is None or to_before > prev_ic) and not p.stale:
            swing = (t - to_before) * 1000.0
        # the other foot: its last contact before this one, and that contact's toe-off
        step_ms = flight_ms = None
        other = self._other(foot)
        if other is not None and not p.stale:
            o_ic = max((x for x in other.ics if x < t), default=None)
            if o_ic is not None and t - o_ic < 1.5:
                step_ms = (t - o_ic) * 1000.0
                o_to = min((x for x in other.tos if x > o_ic), default=None)
                if o_to is not None:
                    flight_ms = (t - o_to) * 1000.0
        return Step(
            t=t,
            sensor=foot.sensor,
            side=foot.side,
            contact_ms=contact_ms,
            swing_ms=swing,
            stride_ms=p.stride_ms,
            step_ms=step_ms,
            flight_ms=flight_ms,
            strike_angle_deg=angle,
            strike=None if angle is None else classify_strike(angle).label,
            impact_g=p.impact_g,
            loading_rate_g_per_s=p.loading_rate,
        )

    def derive(self, step: Step) -> list[AnyEvent]:
        """Activity and asymmetry updates after a step (call with each Step)."""
        out: list[AnyEvent] = []
        if self._primary.get(step.side) != step.sensor:
            return out
        foot = self._feet[step.sensor]
        if step.contact_ms is not None:
            foot.contact_ms.append(step.contact_ms)
        if step.impact_g is not None:
            foot.impact_g.append(step.impact_g)
        if step.step_ms is not None:
            foot.step_ms.append(step.step_ms)
        # activity: duty factor when contact time is known, else cadence
        kind: ActivityState | None = None
        if step.contact_ms is not None and step.stride_ms:
            kind = "running" if step.contact_ms / step.stride_ms < RUNNING_DUTY else "walking"
        elif step.stride_ms:
            cad = (60000.0 / step.step_ms) if step.step_ms else 120000.0 / step.stride_ms
            kind = "running" if cad >= RUNNING_CADENCE_SPM else "walking"
        if step.t < self._state_since:
            kind = None  # a step from before the current state (the last ones before a stop)
        if kind is not None:
            if kind == self._candidate:
                self._candidate_n += 1
            else:
                self._candidate, self._candidate_n = kind, 1
            if self._candidate_n >= 2:
                out += self._set_state(step.t, kind)
        # asymmetry
        self._step_count += 1
        other = self._other(foot)
        if other is not None and self._step_count % self.asymmetry_every == 0:
            left, right = (foot, other) if foot.side == "left" else (other, foot)
            out.append(
                Asymmetry(
                    t=step.t,
                    sensor="",
                    side="both",
                    window_steps=self.asymmetry_steps,
                    contact_si_pct=_si(left.contact_ms, right.contact_ms),
                    impact_si_pct=_si(left.impact_g, right.impact_g),
                    step_time_si_pct=_si(left.step_ms, right.step_ms),
                )
            )
        return out


def _si(left: deque[float], right: deque[float], minimum: int = 5) -> float | None:
    """Symmetry index 100 (R - L) / mean(R, L) of the window means (None if too few)."""
    if len(left) < minimum or len(right) < minimum:
        return None
    lm = sum(left) / len(left)
    rm = sum(right) / len(right)
    mean = 0.5 * (lm + rm)
    return 100.0 * (rm - lm) / mean if mean else None
