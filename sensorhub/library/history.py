"""A session against the runner's own history: the baseline, last week at the same pace,
the usual left/right range (a limp flag) and the pain ratings.

Definitions (``docs/library.md`` says the same to users):

* **baseline**: the median, over the runner's first ``BASELINE_SESSIONS`` sessions in the
  library, of each session's median while running: the runner before any retraining.
* **last week**: the runner's sessions in the 7 days before this one; a metric is
  compared over the steps taken at comparable speed (within ``SPEED_BAND_M_S`` of this
  session's median speed) when both know their speed, else over all running steps (and
  the text says "speed unknown").
* **usual asymmetry**: over the runner's previous ``USUAL_SESSIONS`` sessions that had a
  sensor on each side, mean +- 2 SD of the session's contact and impact symmetry index,
  at least +-``USUAL_MIN_HALF_WIDTH_PCT`` wide.  With fewer than ``USUAL_MIN_SESSIONS``
  such sessions, the common +-10 % band stands in (and the flag says so).
* **pain** (0-10 numeric rating) follows the pain-monitoring model used in
  patellofemoral rehabilitation (Thomeé 1997; Silbernagel et al. 2007): pain up to about
  5/10 during and after the activity is acceptable when it has settled by the next
  morning (here: next morning at most 2/10, or no higher than after the runner's
  previous rated run) and does not rise from week to week.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sensorhub.library import metrics
from sensorhub.library.metrics import ASYMMETRY_BAND_PCT, SPEED_BAND_M_S, Steps
from sensorhub.library.store import Library
from sensorhub.library.view import SessionData, load

BASELINE_SESSIONS = 3
USUAL_SESSIONS = 10
USUAL_MIN_SESSIONS = 3
USUAL_MIN_HALF_WIDTH_PCT = 3.0
#: Pain model: acceptable during/after the run up to this, and by the next morning this.
PAIN_ACCEPTABLE = 5
PAIN_SETTLED = 2
DAY_S = 86400.0

#: The three metrics every comparison covers, with how they read.
METRICS: dict[str, tuple[str, str]] = {
    "cadence_spm": ("cadence", "steps/min"),
    "contact_ms": ("contact time", "ms"),
    "impact_g": ("impact", "g"),
}

LIMP_ADVICE = (
    "If it persists, or you start to limp, see a physiotherapist or doctor (the advice of "
    "the article this tool follows)."
)


@dataclass(frozen=True)
class Comparison:
    metric: str  # a key of METRICS
    value: float
    reference: float
    change_pct: float
    against: str  # "your baseline (median of your first 3 runs)", "last week"
    comparable: str  # "at 3.1-3.7 m/s", "while running (speed unknown)"

    def words(self) -> str:
        name, unit = METRICS[self.metric]
        way = "above" if self.change_pct > 0 else "below"
        if self.metric != "cadence_spm":
            way = "higher than" if self.change_pct > 0 else "lower than"
        if abs(self.change_pct) < 0.5:
            return f"{name} the same as {self.against} ({self.value:.1f} {unit}, {self.comparable})"
        return (
            f"{name} {abs(self.change_pct):.0f} % {way} {self.against} "
            f"({self.value:.1f} vs {self.reference:.1f} {unit}, {self.comparable})"
        )


@dataclass(frozen=True)
class Flag:
    kind: str  # limp, pain, long_run, distance_ramp
    text: str  # what was seen and what to do, in plain words
    source: str  # where the rule comes from
    strength: str  # how strong its evidence is


@dataclass(frozen=True)
class Pain:
    during: int | None
    after: int | None
    next_morning: int | None

    def acceptable(self, previous_next_morning: int | None = None) -> bool | None:
        """The pain-monitoring model's verdict; None while nothing is rated."""
        if self.during is None and self.after is None and self.next_morning is None:
            return None
        if any(x is not None and x > PAIN_ACCEPTABLE for x in (self.during, self.after)):
            return False
        if self.next_morning is None:
            return True
        settled = self.next_morning <= PAIN_SETTLED or (
            previous_next_morning is not None and self.next_morning <= previous_next_morning
        )
        return settled


@dataclass
class Context:
    """What the report says about a session beyond its own numbers."""

    baseline: list[Comparison] = field(default_factory=list)
    last_week: list[Comparison] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    pain: Pain | None = None
    usual_asymmetry: dict[str, tuple[float, float]] = field(default_factory=dict)
    usual_from_sessions: int = 0


def _speed(steps: Steps) -> float | None:
    return metrics.median(steps.speed_m_s)


def compare_steps(metric: str, mine: Steps, theirs: Steps, against: str) -> Comparison | None:
    """``mine`` against ``theirs`` at comparable speed when both know it."""
    speed = _speed(mine)
    comparable = "while running (speed unknown)"
    if speed is not None and _speed(theirs) is not None:
        lo, hi = speed - SPEED_BAND_M_S, speed + SPEED_BAND_M_S
        theirs = theirs.take((theirs.speed_m_s >= lo) & (theirs.speed_m_s <= hi))
        mine = mine.take((mine.speed_m_s >= lo) & (mine.speed_m_s <= hi))
        comparable = f"at {lo:.1f}-{hi:.1f} m/s"
    a, b = metrics.median(getattr(mine, metric)), metrics.median(getattr(theirs, metric))
    if a is None or b is None or not b or len(theirs) < 20:
        return None
    return Comparison(metric, a, b, 100.0 * (a - b) / b, against, comparable)


def running_steps(lib: Library, sid: int) -> Steps:
    return load(lib, sid).running_steps()


def previous(lib: Library, data: SessionData, days: float | None = None) -> list[Any]:
    """The runner's sessions before this one (newest first), within ``days`` if given."""
    start = float(data.row["started_unix"])
    since = start - days * DAY_S if days is not None else None
    return [
        r
        for r in lib.sessions(runner=data.row["runner"], since_unix=since, until_unix=start)
        if int(r["id"]) != data.id
    ]


def session_si(data: SessionData) -> dict[str, float]:
    """A session's contact and impact symmetry index over its running steps."""
    return metrics.symmetry_of(data.running_steps())


def usual_asymmetry(lib: Library, data: SessionData) -> tuple[dict[str, tuple[float, float]], int]:
    """The runner's usual (low, high) symmetry index per metric, and from how many
    sessions; empty when there are too few (from the SI the library keeps per session)."""
    values: dict[str, list[float]] = {"contact_si_pct": [], "impact_si_pct": []}
    used = 0
    for r in previous(lib, data):
        si = {k: float(r[k]) for k in values if r[k] is not None}
        if not si:
            continue
        used += 1
        for k, x in si.items():
            values[k].append(x)
        if used >= USUAL_SESSIONS:
            break
    if used < USUAL_MIN_SESSIONS:
        return {}, used
    out = {}
    for k, xs in values.items():
        if len(xs) >= USUAL_MIN_SESSIONS:
            mean, sd = float(np.mean(xs)), float(np.std(xs, ddof=1))
            half = max(2.0 * sd, USUAL_MIN_HALF_WIDTH_PCT)
            out[k] = (mean - half, mean + half)
    return out, used


def limp_flag(
    si: dict[str, float], usual: dict[str, tuple[float, float]], sessions: int
) -> Flag | None:
    """A left/right asymmetry beyond the runner's usual range (or the 10 % band while
    there is no usual range yet)."""
    beyond = []
    for key, name in (("contact_si_pct", "contact time"), ("impact_si_pct", "impact")):
        if key not in si:
            continue
        v = si[key]
        lo, hi = usual.get(key, (-ASYMMETRY_BAND_PCT, ASYMMETRY_BAND_PCT))
        if not lo <= v <= hi:
            side = "right" if v > 0 else "left"
            beyond.append(f"{name} {v:+.1f} % ({side} side higher; usual {lo:+.1f} to {hi:+.1f} %)")
    if not beyond:
        return None
    basis = (
        f"your usual range from your previous {sessions} runs"
        if usual
        else f"the common +-{ASYMMETRY_BAND_PCT:.0f} % band (fewer than {USUAL_MIN_SESSIONS} "
        "earlier runs with both sides measured to know your own range)"
    )
    return Flag(
        "limp",
        "Left/right asymmetry beyond " + basis + ": " + "; ".join(beyond) + ". " + LIMP_ADVICE,
        "symmetry index 100 (R - L) / mean; the runner's own range as mean +- 2 SD",
        "a change against your own history, not a diagnosis",
    )


def pain_of(lib: Library, sid: int) -> Pain | None:
    row = lib.pain(sid)
    if row is None:
        return None
    return Pain(row["during"], row["after"], row["next_morning"])


def pain_flag(pain: Pain | None, previous_next_morning: int | None) -> Flag | None:
    if pain is None or pain.acceptable(previous_next_morning) is not False:
        return None
    parts = [
        f"{label} {v}/10"
        for label, v in (
            ("during", pain.during),
            ("after", pain.after),
            ("next morning", pain.next_morning),
        )
        if v is not None
    ]
    return Flag(
        "pain",
        "Pain beyond what the pain-monitoring model accepts (up to about 5/10 during and "
        f"after, settled by the next morning): {', '.join(parts)}. Ease the load (shorter or "
        "slower runs) until it settles; if it persists, see a physiotherapist or doctor.",
        "pain-monitoring model (Thomeé 1997; Silbernagel et al. 2007), used in "
        "patellofemoral pain rehabilitation",
        "clinical guideline from rehabilitation trials",
    )


def context_for(lib: Library, sid: int) -> Context:
    """Baseline, last week, usual asymmetry and the flags of one session."""
    data = load(lib, sid)
    mine = data.running_steps()
    ctx = Context()
    earlier = previous(lib, data)
    first = sorted(earlier, key=lambda r: float(r["started_unix"]))[:BASELINE_SESSIONS]
    if first:
        base = Steps.concat([running_steps(lib, int(r["id"])) for r in first])
        label = f"your baseline (your first {len(first)} run{'s' if len(first) > 1 else ''})"
        ctx.baseline = [
            c for m in METRICS if (c := compare_steps(m, mine, base, label)) is not None
        ]
    week = previous(lib, data, days=7)
    if week:
        steps = Steps.concat([running_steps(lib, int(r["id"])) for r in week])
        ctx.last_week = [
            c for m in METRICS if (c := compare_steps(m, mine, steps, "last week")) is not None
        ]
    from sensorhub.library.load import load_flags  # load builds on this module

    ctx.flags += load_flags(lib, sid)
    usual, used = usual_asymmetry(lib, data)
    ctx.usual_asymmetry, ctx.usual_from_sessions = usual, used
    if (flag := limp_flag(session_si(data), usual, used)) is not None:
        ctx.flags.append(flag)
    ctx.pain = pain_of(lib, sid)
    prev_morning = next(
        (
            p.next_morning
            for r in earlier
            if (p := pain_of(lib, int(r["id"]))) is not None and p.next_morning is not None
        ),
        None,
    )
    if (flag := pain_flag(ctx.pain, prev_morning)) is not None:
        ctx.flags.append(flag)
    return ctx


def finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)
