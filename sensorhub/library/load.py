"""Training load over weeks and its flags, each with where it comes from and how strong
that evidence is.

* **Single-run spike** (Frandsen et al., Br J Sports Med 2025;59:1203, 5,205 runners over
  18 months, 588,071 runs): a run more than 10 % longer than the longest run of the
  previous 30 days came with a higher rate of overuse injury (HRR 1.64 for 10-30 %
  longer, 1.52 for 30-100 %, 2.28 beyond).  The strongest signal there is; weekly ratios
  in the same data showed none.
* **Weekly distance ramp** (Nielsen et al., J Orthop Sports Phys Ther 2014;44:739, 874
  novice runners): the distance of the last 7 days more than 30 % above the 7 days before
  (a progression over 2 weeks) came with more distance-related injuries, patellofemoral
  pain among them (HR 1.59, 95 % CI 0.96-2.66): suggestive, not conclusive.
* **The "10 % rule"** is shown as the common guideline it is: a 10 %-graded programme did
  not lower injuries in a trial (Buist et al., Am J Sports Med 2008;36:33).
* **No acute:chronic workload ratio**: its "sweet spot" does not hold up (Impellizzeri et
  al., Int J Sports Physiol Perform 2020;15:907), and Frandsen et al. found no positive
  association with injury.

A flag needs the runner's history to cover its window (the first run in the library at
least 30, resp. 14, days before): a partly covered window would invent a spike.  A run is
measured by its distance where every run compared knows it (footpod or watch
file), else by its running time (and the flag says so).  ``cumulative impact`` is the sum
over a week's steps of each step's peak impact, in g (g x steps): a count of how much
landing there was and how hard, not a tissue-load model; no injury threshold is known for
it, so none is flagged.
"""

from __future__ import annotations

import datetime
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sensorhub.library import metrics
from sensorhub.library.history import (
    DAY_S,
    Flag,
    Pain,
    limp_flag,
    pain_flag,
    pain_of,
    session_si,
    usual_asymmetry,
)
from sensorhub.library.metrics import SPEED_BAND_M_S, Steps
from sensorhub.library.store import Library
from sensorhub.library.view import load

SPIKE_PCT = 10.0
SPIKE_WINDOW_DAYS = 30
RAMP_PCT = 30.0
GUIDELINE_PCT = 10.0

FRANDSEN = (
    "Frandsen et al., Br J Sports Med 2025 (5,205 runners, 18 months)",
    "prospective cohort; the strongest load signal found: injury rate x1.5-2.3",
)
NIELSEN = (
    "Nielsen et al., J Orthop Sports Phys Ther 2014 (874 novice runners)",
    "exploratory cohort; distance-related injuries incl. patellofemoral pain, HR 1.59 "
    "(95 % CI 0.96-2.66): suggestive, not conclusive",
)
GUIDELINE = (
    'the common "10 % rule"',
    "a guideline, not evidence: a 10 %-graded programme did not lower injuries "
    "(Buist et al., Am J Sports Med 2008)",
)


@dataclass(frozen=True)
class Run:
    """One session as load counts it."""

    id: int
    started_unix: float
    duration_s: float
    running_s: float
    distance_m: float | None
    steps: int
    shoe: str | None


def runs_of(lib: Library, runner: str) -> list[Run]:
    """The runner's sessions, oldest first."""
    return [
        Run(
            int(r["id"]),
            float(r["started_unix"]),
            float(r["duration_s"] or 0.0),
            float(r["running_s"] or 0.0),
            None if r["distance_m"] is None else float(r["distance_m"]),
            int(r["steps"] or 0),
            r["shoe"],
        )
        for r in reversed(lib.sessions(runner=runner))
    ]


def _measure(runs: Sequence[Run]) -> tuple[list[float], str, str]:
    """Each run's size: distance (km) when all know it, else running time (min)."""
    if runs and all(r.distance_m is not None for r in runs):
        return [float(r.distance_m or 0.0) / 1000.0 for r in runs], "km", "distance"
    return (
        [r.running_s / 60.0 for r in runs],
        "min",
        "running time (distance not known for every run)",
    )


def _covers(history: Sequence[Run], since_unix: float) -> bool:
    """The library holds the runner's runs from ``since_unix`` on (its first run is no
    later): a window it only partly covers would make a spike of a missing past."""
    return bool(history) and min(r.started_unix for r in history) <= since_unix


def spike_flag(run: Run, history: Sequence[Run]) -> Flag | None:
    """Frandsen 2025: this run > 10 % longer than the longest of the previous 30 days."""
    since = run.started_unix - SPIKE_WINDOW_DAYS * DAY_S
    if not _covers(history, since):
        return None
    window = [r for r in history if since <= r.started_unix < run.started_unix and r.id != run.id]
    if not window:
        return None
    sizes, unit, basis = _measure([*window, run])
    longest, mine = max(sizes[:-1]), sizes[-1]
    if longest <= 0 or mine <= longest * (1 + SPIKE_PCT / 100):
        return None
    pct = 100.0 * (mine - longest) / longest
    return Flag(
        "long_run",
        f"This run ({mine:.1f} {unit}) was {pct:.0f} % longer than your longest in the "
        f"previous 30 days ({longest:.1f} {unit}), measured by {basis}. Single runs more "
        "than 10 % longer than the recent longest came with more overuse injuries; build "
        "the long run up in smaller steps.",
        FRANDSEN[0],
        FRANDSEN[1],
    )


def ramp_flag(run: Run, history: Sequence[Run]) -> Flag | None:
    """Nielsen 2014: the last 7 days (this run included) > 30 % above the 7 before."""
    t = run.started_unix + 1.0  # this run belongs to the last 7 days
    if not _covers(history, t - 14 * DAY_S):
        return None
    last = [r for r in [*history, run] if t - 7 * DAY_S <= r.started_unix < t]
    before = [r for r in history if t - 14 * DAY_S <= r.started_unix < t - 7 * DAY_S]
    last = list({r.id: r for r in last}.values())
    if not before:
        return None
    sizes, unit, basis = _measure([*before, *last])
    a, b = sum(sizes[: len(before)]), sum(sizes[len(before) :])
    if a <= 0 or b <= a * (1 + RAMP_PCT / 100):
        return None
    return Flag(
        "distance_ramp",
        f"The last 7 days ({b:.1f} {unit}) were {100 * (b - a) / a:.0f} % above the 7 days "
        f"before ({a:.1f} {unit}), measured by {basis}. Weekly increases of more than 30 % "
        "over two weeks came with more distance-related injuries, patellofemoral pain "
        "among them.",
        NIELSEN[0],
        NIELSEN[1],
    )


def load_flags(lib: Library, sid: int) -> list[Flag]:
    """The load flags of one session, from the runner's history before it."""
    row = lib.session(sid)
    history = [r for r in runs_of(lib, row["runner"]) if r.started_unix < row["started_unix"]]
    run = next(r for r in runs_of(lib, row["runner"]) if r.id == sid)
    return [f for f in (spike_flag(run, history), ramp_flag(run, history)) if f is not None]


@dataclass
class Week:
    start_unix: float  # Monday 00:00 local time
    runs: list[int] = field(default_factory=list)
    duration_s: float = 0.0
    running_s: float = 0.0
    steps: int = 0
    distance_m: float = 0.0
    distance_unknown: int = 0  # runs without a known distance
    impact_sum_g: float = 0.0
    form: dict[str, float | None] = field(default_factory=dict)
    pain: dict[str, int | None] = field(default_factory=dict)
    flags: list[tuple[int, Flag]] = field(default_factory=list)
    change_pct: float | None = None  # against the week before (the guideline's measure)

    def as_dict(self) -> dict[str, Any]:
        return {
            "week": time.strftime("%G-W%V", time.localtime(self.start_unix)),
            "start": time.strftime("%Y-%m-%d", time.localtime(self.start_unix)),
            "runs": self.runs,
            "duration_s": round(self.duration_s, 1),
            "running_s": round(self.running_s, 1),
            "steps": self.steps,
            "distance_m": round(self.distance_m, 1) if self.runs else 0.0,
            "distance_unknown_runs": self.distance_unknown,
            "cumulative_impact_g": round(self.impact_sum_g, 1),
            "change_pct": None if self.change_pct is None else round(self.change_pct, 1),
            "form": self.form,
            "pain": self.pain,
            "flags": [
                {
                    "session": sid,
                    "kind": f.kind,
                    "text": f.text,
                    "source": f.source,
                    "strength": f.strength,
                }
                for sid, f in self.flags
            ],
        }


def week_start(unix: float, weeks_back: int = 0) -> float:
    """Monday 00:00 local time of the week holding ``unix`` (``weeks_back`` before it)."""
    lt = time.localtime(unix)
    day = datetime.date(lt.tm_year, lt.tm_mon, lt.tm_mday)
    monday = day - datetime.timedelta(days=lt.tm_wday + 7 * weeks_back)
    return time.mktime((monday.year, monday.month, monday.day, 0, 0, 0, 0, 0, -1))


@dataclass
class Trends:
    weeks: list[Week]
    speed_band: tuple[float, float] | None  # the comparable speed the form figures use
    notes: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "weeks": [w.as_dict() for w in self.weeks],
            "form_speed_m_s": None if self.speed_band is None else list(self.speed_band),
            "notes": self.notes,
        }


def trends(
    lib: Library,
    runner: str,
    weeks: int,
    now_unix: float,
    advance: Callable[[], object] | None = None,
) -> Trends:
    """The last ``weeks`` weeks up to the one holding ``now_unix``; ``advance`` is
    called after each of the runner's sessions (a progress bar)."""
    all_runs = runs_of(lib, runner)
    starts = [week_start(now_unix, k) for k in range(weeks - 1, -1, -1)]
    bounds = [*starts, week_start(now_unix, -1)]
    out = [Week(s) for s in starts]
    by_week: dict[int, list[Steps]] = {}
    morning: int | None = None  # the next-morning pain after the previous rated run
    for run in all_runs:
        k = int(np.searchsorted(bounds, run.started_unix, side="right")) - 1
        p = pain_of(lib, run.id)
        before, morning = morning, p.next_morning if p and p.next_morning is not None else morning
        if advance is not None:
            advance()
        if not 0 <= k < len(starts):
            continue
        w = out[k]
        data = load(lib, run.id)
        w.runs.append(run.id)
        w.duration_s += run.duration_s
        w.running_s += run.running_s
        w.steps += run.steps
        if run.distance_m is None:
            w.distance_unknown += 1
        else:
            w.distance_m += run.distance_m
        imp = data.steps.impact_g
        w.impact_sum_g += float(np.nansum(imp)) if len(imp) else 0.0
        by_week.setdefault(k, []).append(data.running_steps())
        history = [r for r in all_runs if r.started_unix < run.started_unix]
        for f in (spike_flag(run, history), ramp_flag(run, history)):
            if f is not None:
                w.flags.append((run.id, f))
        usual, used = usual_asymmetry(lib, data)
        if (f := limp_flag(session_si(data), usual, used)) is not None:
            w.flags.append((run.id, f))
        if p is not None:
            _add_pain(w, p)
            if (f := pain_flag(p, before)) is not None:
                w.flags.append((run.id, f))
    # the form at comparable speed: the band around the window's median speed
    speeds = (
        np.concatenate([s.speed_m_s for ss in by_week.values() for s in ss])
        if by_week
        else (np.zeros(0))
    )
    ref = metrics.median(speeds) if len(speeds) else None
    band = None if ref is None else (ref - SPEED_BAND_M_S, ref + SPEED_BAND_M_S)
    notes = []
    if band is None:
        notes.append("speed unknown: the form figures compare all running steps")
    for k, parts in by_week.items():
        steps = Steps.concat(parts)
        if band is not None:
            steps = steps.take((steps.speed_m_s >= band[0]) & (steps.speed_m_s <= band[1]))
        strikes = [x for x in steps.strike if x]
        si = metrics.symmetry_of(steps)
        out[k].form = {
            "cadence_spm": _r(metrics.median(steps.cadence_spm)),
            "contact_ms": _r(metrics.median(steps.contact_ms)),
            "impact_g": _r(metrics.median(steps.impact_g), 2),
            "rearfoot_pct": _r(100.0 * strikes.count("rearfoot") / len(strikes))
            if strikes
            else None,
            **{k2: _r(v) for k2, v in si.items()},
        }
    for prev, w in itertools.pairwise(out):
        a, b = _size(prev), _size(w)
        if a and b is not None:
            w.change_pct = 100.0 * (b - a) / a
    notes.append(
        f"week-to-week change is shown against {GUIDELINE[0]}: {GUIDELINE[1]}; no acute:chronic "
        "workload ratio is given (Impellizzeri et al. 2020: its 'sweet spot' does not hold up)"
    )
    return Trends(out, band, notes)


def _size(w: Week) -> float | None:
    if not w.runs:
        return 0.0
    return w.distance_m / 1000.0 if not w.distance_unknown else w.running_s / 60.0


def _add_pain(w: Week, p: Pain) -> None:
    for key in ("during", "after", "next_morning"):
        v = getattr(p, key)
        if v is not None:
            old = w.pain.get(key)
            w.pain[key] = v if old is None else max(old, v)


def _r(x: float | None, nd: int = 1) -> float | None:
    return None if x is None else round(float(x), nd)
