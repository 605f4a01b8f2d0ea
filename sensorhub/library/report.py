"""The run report: one session, with its history, as charts and plain words (pure).

``build(data, context)`` gathers everything the report says (a :class:`Report`: words,
per-side table, drift, Vega-Lite chart specs made with Altair and their datasets); from
it ``html_page`` writes one self-contained HTML page (the Vega/Vega-Lite/vega-embed
JavaScript inlined, no external URL, font or request), and ``pdf_bytes`` / ``png_bytes``
make A4-wide pages: the words laid out here as SVG, the charts drawn by vl-convert (no
browser), the pages' PDFs merged (``merge_pdfs``) or their SVGs stacked into one PNG.
No file or network I/O here: ``sensorhub.commands.report`` reads the library and
writes the file.

Definitions (``docs/report.md`` says the same to users):

* **cadence** is steps per minute (spm), both feet; a stride is two steps.  The time
  charts draw each foot's own step rate (60 / the time since the other foot landed),
  so a left/right difference in step time shows; the summary's cadence is the median of
  the smoothed both-feet cadence while running.
* **downsampling**: up to ``MAX_STEP_POINTS`` steps are drawn one by one; a longer run is
  drawn as per-foot medians over ``BIN_S`` s (the chart says which).
* **fatigue drift**: the running time is cut into thirds; the first third's medians are
  compared with the last third's.  Where both thirds know their speed, only the steps
  within ``SPEED_BAND_M_S`` of the run's median speed count (comparable speed), and
  each third needs ``DRIFT_MIN_STEPS`` of them; otherwise the comparison is over all
  running steps and says "speed unknown, compared while running".  A change of at least
  ``DRIFT_PCT`` % (asymmetry: ``DRIFT_SI_POINTS`` percentage points) is called drift.
  Runs shorter than ``DRIFT_MIN_RUNNING_S`` of running are not judged.
"""

from __future__ import annotations

import html
import json
import math
import re
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from sensorhub.library import metrics
from sensorhub.library.history import Comparison, Context, Flag
from sensorhub.library.metrics import ASYMMETRY_BAND_PCT, SPEED_BAND_M_S, Array, Steps, clock
from sensorhub.library.view import SessionData, overview

#: Up to this many steps are drawn one by one; more as per-foot medians over BIN_S.
MAX_STEP_POINTS = 3000
BIN_S = 10.0
#: Fatigue drift: thresholds and what a third needs to be compared at all.
DRIFT_PCT = 3.0
DRIFT_SI_POINTS = 3.0
DRIFT_MIN_STEPS = 20
DRIFT_MIN_RUNNING_S = 180.0
#: The PDF and PNG draw a time chart's points (beside its lines) up to this many.
STATIC_POINTS_MAX = 1000
POINTS_LAYER = "each step or 10-s median as a point"  # the layer's description
#: A chart against speed needs this many steps (or points) with a known speed.
MIN_SPEED_POINTS = 10

SIDES = ("left", "right")
SIDE_COLORS = ("#0072B2", "#D55E00")  # colour-blind safe (Okabe-Ito)
CUE_COLOR = "#E69F00"
STRIKES = ("rearfoot", "midfoot", "forefoot", "not classified")
CHART_WIDTH = 720
PDF_CHART_WIDTH = 480
PDF_PAGE_HEIGHT = 760  # points (A4: 842); charts are grouped onto pages up to about this
PDF_WRAP = 95  # characters per PDF text line
FONT = "Helvetica, Arial, sans-serif"  # local fonts only (no web fonts)

_TIME_X = "time since start (min)"


# ---------------------------------------------------------------- small formatting
def _num(x: float | None, nd: int) -> float | None:
    """A JSON-ready number: rounded, None for NaN/None."""
    if x is None or not math.isfinite(float(x)):
        return None
    return round(float(x), nd)


def _fmt(x: float | None, spec: str, unit: str = "") -> str:
    """``x`` formatted (``-`` when unknown); never a negative zero ("-0.0")."""
    if x is None or not math.isfinite(x):
        return "-"
    digits = re.search(r"\.(\d+)f", spec)
    if digits is not None:
        x = round(x, int(digits[1])) + 0.0
    return format(x, spec) + (f" {unit}" if unit else "")


# ---------------------------------------------------------------- fatigue drift
def time_at(spans: Sequence[tuple[float, float]], running_s: float) -> float:
    """The session time at which ``running_s`` of running has gone by."""
    done = 0.0
    for a, b in spans:
        if done + (b - a) >= running_s:
            return a + (running_s - done)
        done += b - a
    return spans[-1][1] if spans else 0.0


def third_cuts(spans: Sequence[tuple[float, float]]) -> tuple[float, float] | None:
    """The session times where the first third of the running ends and the last third
    begins (thirds of running time, pauses left out); None without running."""
    total = sum(b - a for a, b in spans)
    if total <= 0:
        return None
    return time_at(spans, total / 3.0), time_at(spans, 2.0 * total / 3.0)


#: What drift compares: key -> (name, unit, kind); kind "pct" (relative change) or "si".
DRIFT_METRICS: dict[str, tuple[str, str, str]] = {
    "cadence_spm": ("cadence", "steps/min", "pct"),
    "contact_ms": ("contact time", "ms", "pct"),
    "impact_g": ("impact", "g", "pct"),
    "contact_si_pct": ("contact-time asymmetry", "%", "si"),
    "impact_si_pct": ("impact asymmetry", "%", "si"),
}


@dataclass(frozen=True)
class Change:
    """One metric, first third against last third."""

    metric: str  # a key of DRIFT_METRICS
    first: float
    last: float

    @property
    def kind(self) -> str:
        return DRIFT_METRICS[self.metric][2]

    @property
    def change(self) -> float:
        """% of the first third (``pct``), or percentage points (``si``)."""
        if self.kind == "si":
            return self.last - self.first
        return 100.0 * (self.last - self.first) / self.first if self.first else 0.0

    @property
    def drifted(self) -> bool:
        limit = DRIFT_SI_POINTS if self.kind == "si" else DRIFT_PCT
        return abs(self.change) >= limit

    def words(self) -> str:
        name, unit, kind = DRIFT_METRICS[self.metric]
        if kind == "si":
            span = f"{_fmt(self.first, '+.1f')} % to {_fmt(self.last, '+.1f')} %"
            if not self.drifted:
                return f"{name} steady ({span}, within +-{DRIFT_SI_POINTS:.0f} points)"
            if (self.first > 0) != (self.last > 0) and self.first and self.last:
                way = "changed sides"
            else:
                way = "widened" if abs(self.last) > abs(self.first) else "narrowed"
            side = "right" if self.last > 0 else "left"
            return f"{name} {way} from {span} ({side} side higher at the end)"
        digits = 2 if unit == "g" else 0 if unit == "ms" else 1
        span = f"{self.first:.{digits}f} -> {self.last:.{digits}f} {unit}"
        if not self.drifted:
            return f"{name} steady ({span}, within +-{DRIFT_PCT:.0f} %)"
        way = "rose" if self.change > 0 else "fell"
        return f"{name} {way} {abs(self.change):.0f} % ({span})"


@dataclass(frozen=True)
class Drift:
    """First against last third of the running."""

    changes: tuple[Change, ...] = ()
    basis: str = ""  # how the thirds were made comparable
    note: str = ""  # why there is no comparison (too short, no comparable speed)
    thirds: tuple[tuple[float, float], tuple[float, float]] | None = None  # session s

    @property
    def drifted(self) -> list[Change]:
        return [c for c in self.changes if c.drifted]

    def sentences(self) -> list[str]:
        if not self.changes:
            return [self.note]
        where = ""
        if self.thirds is not None:
            (a1, b1), (a2, b2) = self.thirds
            where = (
                f" (first third {clock(a1)}-{clock(b1)}, last third {clock(a2)}-{clock(b2)}"
                " of the session)"
            )
        moved, steady = self.drifted, [c for c in self.changes if not c.drifted]
        if not moved:
            head = (
                f"No drift from the first to the last third of the running, {self.basis}"
                f"{where}: every measure stayed within +-{DRIFT_PCT:.0f} % (asymmetry "
                f"+-{DRIFT_SI_POINTS:.0f} percentage points)."
            )
        else:
            head = (
                f"Drift from the first to the last third of the running, {self.basis}{where}: "
                + "; ".join(c.words() for c in moved)
                + "."
            )
        out = [head]
        if steady:
            out.append("Steady: " + "; ".join(c.words() for c in steady) + ".")
        if moved:
            out.append(
                "Drift can come from fatigue, but also from hills, wind or a change of "
                "pace; it is a thing to watch over several runs, not a diagnosis."
            )
        return out


def _third_values(s: Steps) -> dict[str, float | None]:
    out: dict[str, float | None] = {
        "cadence_spm": metrics.median(s.cadence_spm),
        "contact_ms": metrics.median(s.contact_ms),
        "impact_g": metrics.median(s.impact_g),
    }
    si = metrics.symmetry_of(s)
    out.update({key: si.get(key) for key in ("contact_si_pct", "impact_si_pct")})
    return out


def drift(steps: Steps, spans: Sequence[tuple[float, float]]) -> Drift:
    """Fatigue drift of a run: the running steps' first third against the last third,
    at comparable speed where the speed is known (module docstring)."""
    running = sum(b - a for a, b in spans)
    if running < DRIFT_MIN_RUNNING_S:
        return Drift(
            note=f"Too short to judge fatigue drift: {clock(running)} of running (it takes "
            f"at least {DRIFT_MIN_RUNNING_S / 60:.0f} min, compared in thirds)."
        )
    cuts = third_cuts(spans)
    assert cuts is not None
    run = steps.take(metrics.running_mask(steps.t_s, spans))
    first, last = run.take(run.t_s < cuts[0]), run.take(run.t_s >= cuts[1])
    thirds = ((spans[0][0], cuts[0]), (cuts[1], spans[-1][1]))
    known = np.isfinite(run.speed_m_s)
    basis = "speed unknown, compared while running"
    if (
        np.sum(np.isfinite(first.speed_m_s)) >= DRIFT_MIN_STEPS
        and np.sum(np.isfinite(last.speed_m_s)) >= DRIFT_MIN_STEPS
    ):
        ref = float(np.median(run.speed_m_s[known]))
        lo, hi = ref - SPEED_BAND_M_S, ref + SPEED_BAND_M_S

        def band(s: Steps) -> Steps:
            return s.take((s.speed_m_s >= lo) & (s.speed_m_s <= hi))

        f_band, l_band = band(first), band(last)
        if len(f_band) < DRIFT_MIN_STEPS or len(l_band) < DRIFT_MIN_STEPS:
            return Drift(
                note="Fatigue drift not judged: the first and last third were not run at "
                f"comparable speed (median {_fmt(metrics.median(first.speed_m_s), '.1f')} vs "
                f"{_fmt(metrics.median(last.speed_m_s), '.1f')} m/s; fewer than "
                f"{DRIFT_MIN_STEPS} steps of each within {lo:.1f}-{hi:.1f} m/s).",
                thirds=thirds,
            )
        first, last = f_band, l_band
        basis = (
            f"at comparable speed ({lo:.1f}-{hi:.1f} m/s: the run's median speed "
            f"+-{SPEED_BAND_M_S:.1f} m/s; {len(first)} and {len(last)} steps)"
        )
    if len(first) < DRIFT_MIN_STEPS or len(last) < DRIFT_MIN_STEPS:
        return Drift(
            note=f"Fatigue drift not judged: fewer than {DRIFT_MIN_STEPS} steps in the first "
            f"or last third ({len(first)} and {len(last)}).",
            thirds=thirds,
        )
    a, b = _third_values(first), _third_values(last)
    changes = []
    for key in DRIFT_METRICS:
        x, y = a[key], b[key]
        if x is not None and y is not None and (DRIFT_METRICS[key][2] == "si" or x):
            changes.append(Change(key, x, y))
    return Drift(tuple(changes), basis, "", thirds)


# ---------------------------------------------------------------- plain words
def _short(c: Comparison) -> str:
    """A comparison as the summary says it: "5 % above your baseline at the same pace"
    (without speed, the summary says once that it compared while running)."""
    against = "your baseline" if c.against.startswith("your baseline") else c.against
    pace = " at the same pace" if c.comparable.startswith("at ") else ""
    if abs(c.change_pct) < 0.5:
        return f"the same as {against}{pace}"
    if c.metric == "cadence_spm":
        way = "above" if c.change_pct > 0 else "below"
    else:
        way = "higher than" if c.change_pct > 0 else "lower than"
    return f"{abs(c.change_pct):.0f} % {way} {against}{pace}"


def _compared(metric: str, ctx: Context) -> str:
    said = [_short(c) for c in [*ctx.baseline, *ctx.last_week] if c.metric == metric]
    return "".join(", " + s for s in said)


def summary_sentences(o: dict[str, Any], ctx: Context, dr: Drift) -> list[str]:
    """The few plain-language sentences at the top of the report."""
    out = []
    moved = f"{clock(o['running_s'])} of running in {clock(o['duration_s'])}, {o['steps']} steps"
    if o["distance_m"]:
        moved += f", {o['distance_m'] / 1000:.2f} km"
    if o["speed_m_s"]:
        pace = 1000.0 / o["speed_m_s"]
        moved += f", median speed {o['speed_m_s']:.2f} m/s ({clock(pace)} /km)"
    out.append(moved + ".")
    if o["cadence_spm"] is None:
        out.append("No running steps were found, so there are no gait figures.")
    else:
        out.append(
            f"Cadence {o['cadence_spm']:.0f} spm (steps per minute, both feet; "
            f"{o['cadence_spm'] / 2:.0f} strides per minute){_compared('cadence_spm', ctx)}."
        )
        parts = []
        if o["contact_ms"] is not None:
            parts.append(f"contact time {o['contact_ms']:.0f} ms{_compared('contact_ms', ctx)}")
        if o["impact_g"] is not None:
            parts.append(f"impact {o['impact_g']:.1f} g{_compared('impact_g', ctx)}")
        if parts:
            text = "; ".join(parts)
            out.append(text[0].upper() + text[1:] + ".")
        if any(not c.comparable.startswith("at ") for c in [*ctx.baseline, *ctx.last_week]):
            out.append(
                "Speed unknown (no footpod or watch file for this run or the ones compared): "
                "the comparisons are of running with running."
            )
    ci, ii = o["contact_si_pct"], o["impact_si_pct"]
    if ci is None and ii is None:
        out.append("One foot measured: no left/right comparison.")
    else:
        beyond = [x for x in (ci, ii) if x is not None and abs(x) > ASYMMETRY_BAND_PCT]
        verdict = (
            f"beyond the usual +-{ASYMMETRY_BAND_PCT:.0f} % band"
            if beyond
            else f"within the usual +-{ASYMMETRY_BAND_PCT:.0f} % band"
        )
        out.append(
            f"Left/right asymmetry: contact time {_fmt(ci, '+.1f', '%')}, impact "
            f"{_fmt(ii, '+.1f', '%')} (positive: right side higher), {verdict}."
        )
    out.append(dr.sentences()[0])
    n = len(ctx.flags)
    out.append(
        "No flags."
        if not n
        else f"{n} flag{'s' if n > 1 else ''}: "
        + ", ".join(f.kind for f in ctx.flags)
        + " (below)."
    )
    return out


def side_table(data: SessionData, o: dict[str, Any]) -> list[list[str]]:
    """Per foot, while running: header row, then a row per foot and the asymmetry row."""
    run = data.running_steps()
    head = ["", "steps", "step rate (steps/min)", "contact (ms)", "flight (ms)", "impact (g)"]
    rows = [[*head, "loading rate (g/s)"]]
    for side in SIDES:
        if side not in o["per_side"]:
            continue
        s = o["per_side"][side]
        rows.append(
            [
                side,
                str(s["steps"]),
                _fmt(metrics.side_median(run, "step_cadence_spm", side), ".1f"),
                _fmt(s["contact_ms"], ".0f"),
                _fmt(metrics.side_median(run, "flight_ms", side), ".0f"),
                _fmt(s["impact_g"], ".2f"),
                _fmt(s["loading_rate_g_per_s"], ".0f"),
            ]
        )
    if len(rows) == 3:
        rows.append(
            [
                "asymmetry (R-L)/mean",
                "",
                "",
                _fmt(o["contact_si_pct"], "+.1f", "%"),
                "",
                _fmt(o["impact_si_pct"], "+.1f", "%"),
                "",
            ]
        )
    return rows


# ---------------------------------------------------------------- chart data
def bin_medians(key: npt.NDArray[np.intp], values: Array, n: int) -> Array:
    """The median of ``values`` (finite ones) for each key 0..n-1; NaN for a key with
    none.  Vectorised: one sort, however many bins."""
    ok = np.isfinite(values)
    k, v = key[ok], values[ok]
    order = np.lexsort((v, k))
    k, v = k[order], v[order]
    counts = np.bincount(k, minlength=n)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    out = np.full(n, np.nan)
    has = counts > 0
    lo = starts[has] + (counts[has] - 1) // 2
    hi = starts[has] + counts[has] // 2
    out[has] = (v[lo] + v[hi]) / 2.0
    return out


def step_points(steps: Steps) -> tuple[list[dict[str, Any]], str]:
    """The rows the per-step charts draw, and what one point is: every step up to
    ``MAX_STEP_POINTS``, else each foot's medians over ``BIN_S`` s (``steps`` counts the
    steps behind a point)."""
    has_rate = bool(np.any(np.isfinite(steps.step_cadence_spm)))
    cad: Array = steps.step_cadence_spm if has_rate else steps.cadence_spm
    cols: dict[str, tuple[Array, int]] = {
        "cadence_spm": (cad, 1),
        "contact_ms": (steps.contact_ms, 1),
        "impact_g": (steps.impact_g, 2),
        "speed_m_s": (steps.speed_m_s, 2),
    }
    rows: list[dict[str, Any]] = []
    if len(steps) <= MAX_STEP_POINTS:
        for i in range(len(steps)):
            row: dict[str, Any] = {
                "t_min": round(float(steps.t_s[i]) / 60.0, 4),
                "side": str(steps.side[i]),
            }
            row.update({k: _num(v[i], nd) for k, (v, nd) in cols.items()})
            row["steps"] = 1
            rows.append(row)
        return rows, "each point: one step"
    for side in SIDES:
        mask = steps.side == side
        if not np.any(mask):
            continue
        bins, key = np.unique(np.floor(steps.t_s[mask] / BIN_S).astype(int), return_inverse=True)
        counts = np.bincount(key, minlength=len(bins))
        med = {k: (bin_medians(key, v[mask], len(bins)), nd) for k, (v, nd) in cols.items()}
        for j, b in enumerate(bins):
            row = {"t_min": round((int(b) + 0.5) * BIN_S / 60.0, 4), "side": side}
            row.update({k: _num(m[j], nd) for k, (m, nd) in med.items()})
            row["steps"] = int(counts[j])
            rows.append(row)
    rows.sort(key=lambda r: (r["t_min"], r["side"]))
    return rows, (
        f"each point: one foot's median over {BIN_S:.0f} s ({len(steps)} steps, too many "
        "to draw singly)"
    )


def cue_periods(cues: Sequence[dict[str, Any]], end_s: float) -> list[dict[str, Any]]:
    """The metronome's periods: each state change lasts until the next one (or the end
    of the session); only the periods it played, with their target and gain."""
    rows = sorted((c for c in cues if c["cue"] == "metronome"), key=lambda c: c["t_s"])
    out = []
    for i, c in enumerate(rows):
        end = rows[i + 1]["t_s"] if i + 1 < len(rows) else end_s
        if not c["playing"] or end <= c["t_s"]:
            continue
        out.append(
            {
                "start_min": round(c["t_s"] / 60.0, 4),
                "end_min": round(end / 60.0, 4),
                "target_spm": _num(c["target_spm"], 1),
                "gain": _num(c["gain"], 2),
            }
        )
    return out


def cue_gain(cues: Sequence[dict[str, Any]], end_s: float) -> list[dict[str, Any]]:
    """The metronome's gain as a step line (0 while silent), from start to end."""
    rows = sorted((c for c in cues if c["cue"] == "metronome"), key=lambda c: c["t_s"])
    if not rows:
        return []
    out = [{"t_min": 0.0, "gain": 0.0, "target_spm": None}]
    for c in rows:
        out.append(
            {
                "t_min": round(c["t_s"] / 60.0, 4),
                "gain": _num(c["gain"] if c["playing"] else 0.0, 2),
                "target_spm": _num(c["target_spm"], 1),
            }
        )
    out.append({**out[-1], "t_min": round(max(end_s, rows[-1]["t_s"]) / 60.0, 4)})
    return out


def strike_rows(run: Steps) -> list[dict[str, Any]]:
    """Each foot's share of running steps by strike class (%)."""
    out = []
    for side in SIDES:
        strikes = run.strike[run.side == side]
        if not len(strikes):
            continue
        for name in STRIKES:
            n = int(np.sum(strikes == ("" if name == "not classified" else name)))
            if n:
                out.append(
                    {
                        "side": side,
                        "strike": name,
                        "steps": n,
                        "pct": round(100 * n / len(strikes), 1),
                    }
                )
    return out


def asymmetry_rows(minutes: Sequence[dict[str, Any]], end_s: float) -> list[dict[str, Any]]:
    """The per-minute symmetry indices (minutes with running in them), each at the
    middle of its minute (of its part before ``end_s``, for the last one)."""
    out = []
    for m in minutes:
        if not m["running_s"]:
            continue
        a = 60.0 * m["minute"]
        mid = (a + max(a, min(a + 60.0, end_s))) / 120.0
        for key, name in (("contact_si_pct", "contact time"), ("impact_si_pct", "impact")):
            if m[key] is not None:
                out.append({"minute": round(mid, 4), "measure": name, "si_pct": m[key]})
    return out


# ---------------------------------------------------------------- charts
@dataclass(frozen=True)
class Chart:
    name: str  # the HTML element's data-chart, the PDF's order
    caption: str  # what it shows, in words (the HTML figure's caption)
    spec: dict[str, Any]  # Vega-Lite, without the datasets (Report.datasets has them)
    height: int  # about how tall it is drawn, for the PDF's pages


class _Vl:
    """Altair, and whether its specs are validated against the Vega-Lite schema (the
    tests do; a report does not: validating is most of the time building takes)."""

    def __init__(self, validate: bool) -> None:
        import altair

        self.alt: Any = altair
        self.validate = validate

    def spec(self, chart: Any) -> dict[str, Any]:
        d: dict[str, Any] = chart.to_dict(validate=self.validate)
        d["config"] = {
            **d.get("config", {}),
            "font": FONT,
            "title": {"anchor": "start", "fontSize": 14, "subtitleColor": "#444"},
        }
        return d


def _side_color(alt: Any) -> Any:
    return alt.Color(
        "side:N",
        scale=alt.Scale(domain=list(SIDES), range=list(SIDE_COLORS)),
        legend=alt.Legend(title="foot", orient="top"),
    )


def _time_chart(
    vl: _Vl,
    field_: str,
    y_title: str,
    title: str,
    subtitle: list[str],
    x_max: float,
    with_cues: bool,
    target: bool,
) -> dict[str, Any]:
    alt = vl.alt
    x = alt.X("t_min:Q", title=_TIME_X, scale=alt.Scale(domain=[0, x_max], nice=False))
    y = alt.Y(f"{field_}:Q", title=y_title, scale=alt.Scale(zero=False))
    tip = [
        alt.Tooltip("t_min:Q", title="time (min)", format=".2f"),
        alt.Tooltip("side:N", title="foot"),
        alt.Tooltip(f"{field_}:Q", title=y_title),
        alt.Tooltip("steps:Q", title="steps in this point"),
    ]
    steps = alt.NamedData(name="steps")
    line = (
        alt.Chart(steps)
        .mark_line(strokeWidth=1, opacity=0.8)
        .encode(x=x, y=y, color=_side_color(alt))
        .add_params(alt.selection_interval(bind="scales", encodings=["x"]))
    )
    points = (
        alt.Chart(steps)
        .mark_circle(size=14, opacity=0.9)
        .encode(x="t_min:Q", y=f"{field_}:Q", color=_side_color(alt), tooltip=tip)
        .properties(description=POINTS_LAYER)
    )
    layers = [line, points]
    if with_cues:
        periods = alt.NamedData(name="cue_periods")
        shade = (
            alt.Chart(periods)
            .mark_rect(color=CUE_COLOR)
            .encode(
                x="start_min:Q",
                x2="end_min:Q",
                opacity=alt.Opacity(
                    "gain:Q", scale=alt.Scale(domain=[0, 1], range=[0.04, 0.3]), legend=None
                ),
                tooltip=[
                    alt.Tooltip("start_min:Q", title="metronome from (min)", format=".2f"),
                    alt.Tooltip("end_min:Q", title="to (min)", format=".2f"),
                    alt.Tooltip("target_spm:Q", title="target (steps/min)"),
                    alt.Tooltip("gain:Q", title="gain (0-1)"),
                ],
            )
        )
        layers.insert(0, shade)
        if target:
            rule = (
                alt.Chart(periods)
                .mark_rule(color="#7a5200", strokeDash=[5, 3], strokeWidth=1.5)
                .encode(
                    x="start_min:Q",
                    x2="end_min:Q",
                    y="target_spm:Q",
                    tooltip=[alt.Tooltip("target_spm:Q", title="target (steps/min)")],
                )
            )
            layers.append(rule)
    chart = alt.layer(*layers).properties(
        width=CHART_WIDTH, height=180, title=alt.Title(title, subtitle=subtitle)
    )
    return vl.spec(chart)


def _speed_chart(vl: _Vl, what: str) -> dict[str, Any]:
    alt = vl.alt
    base = alt.Chart(alt.NamedData(name="steps")).transform_filter(
        "isValid(datum.speed_m_s) && isFinite(datum.speed_m_s)"
    )
    x = alt.X("speed_m_s:Q", title="speed (m/s)", scale=alt.Scale(zero=False))
    panels = []
    for f, y_title in (
        ("cadence_spm", "cadence (steps/min)"),
        ("contact_ms", "contact time (ms)"),
        ("impact_g", "impact (g)"),
    ):
        panels.append(
            base.mark_circle(size=14, opacity=0.7)
            .encode(
                x=x,
                y=alt.Y(f"{f}:Q", title=y_title, scale=alt.Scale(zero=False)),
                color=_side_color(alt),
                tooltip=[
                    alt.Tooltip("speed_m_s:Q", title="speed (m/s)"),
                    alt.Tooltip(f"{f}:Q", title=y_title),
                    alt.Tooltip("side:N", title="foot"),
                    alt.Tooltip("t_min:Q", title="time (min)", format=".2f"),
                ],
            )
            .properties(width=CHART_WIDTH // 3 - 50, height=180)
        )
    chart = alt.hconcat(*panels).properties(
        title=alt.Title(
            "Cadence, contact time and impact against speed",
            subtitle=[
                "cadence in steps per minute (spm), both feet; 1 stride = 2 steps",
                what,
                "only the steps whose speed is known (footpod or watch)",
            ],
        )
    )
    return vl.spec(chart)


def _asymmetry_chart(
    vl: _Vl, rows: list[dict[str, Any]], usual: dict[str, tuple[float, float]], x_max: float
) -> dict[str, Any]:
    alt = vl.alt
    top = max([abs(r["si_pct"]) for r in rows] + [ASYMMETRY_BAND_PCT]) + 5.0
    y = alt.Y("si_pct:Q", title="symmetry index (%), + = right higher")
    y = y.scale(domain=[-top, top])
    x = alt.X("minute:Q", title="minute of the session (min)", scale=alt.Scale(domain=[0, x_max]))
    measure = alt.Color(
        "measure:N",
        scale=alt.Scale(domain=["contact time", "impact"], range=["#009E73", "#CC79A7"]),
        legend=alt.Legend(title="measure", orient="top"),
    )
    band = (
        alt.Chart(alt.Data(values=[{"lo": -ASYMMETRY_BAND_PCT, "hi": ASYMMETRY_BAND_PCT}]))
        .mark_rect(color="#999", opacity=0.15)
        .encode(y=alt.Y("lo:Q"), y2="hi:Q")
    )
    zero = alt.Chart(alt.Data(values=[{"z": 0}])).mark_rule(color="#666").encode(y="z:Q")
    data = alt.NamedData(name="asymmetry")
    lines = (
        alt.Chart(data)
        .mark_line(point=True)
        .encode(
            x=x,
            y=y,
            color=measure,
            tooltip=[
                alt.Tooltip("minute:Q", title="minute (middle)"),
                alt.Tooltip("measure:N"),
                alt.Tooltip("si_pct:Q", title="symmetry index (%)"),
            ],
        )
    )
    layers = [band, zero, lines]
    marks = [
        {"measure": name, "at": v}
        for key, name in (("contact_si_pct", "contact time"), ("impact_si_pct", "impact"))
        if key in usual
        for v in usual[key]
    ]
    subtitle = [
        "symmetry index 100 (right - left) / mean, per minute of the session",
        f"grey: the common +-{ASYMMETRY_BAND_PCT:.0f} % band",
    ]
    if marks:
        layers.append(
            alt.Chart(alt.Data(values=marks))
            .mark_rule(strokeDash=[4, 3])
            .encode(y="at:Q", color=measure)
        )
        subtitle.append("dashed: your usual range from your previous runs")
    chart = alt.layer(*layers).properties(
        width=CHART_WIDTH,
        height=180,
        title=alt.Title("Left/right asymmetry per minute", subtitle=subtitle),
    )
    return vl.spec(chart)


def _strike_chart(vl: _Vl) -> dict[str, Any]:
    alt = vl.alt
    chart = (
        alt.Chart(alt.NamedData(name="strike"))
        .mark_bar()
        .encode(
            x=alt.X("strike:N", title="foot strike", sort=list(STRIKES)),
            xOffset=alt.XOffset("side:N", sort=list(SIDES)),
            y=alt.Y("pct:Q", title="share of the foot's running steps (%)"),
            color=_side_color(alt),
            tooltip=[
                alt.Tooltip("side:N", title="foot"),
                alt.Tooltip("strike:N", title="strike"),
                alt.Tooltip("pct:Q", title="share (%)"),
                alt.Tooltip("steps:Q", title="steps"),
            ],
        )
        .properties(
            width=CHART_WIDTH // 2,
            height=150,
            title=alt.Title(
                "Foot strike while running",
                subtitle=["rearfoot (heel), midfoot or forefoot first, per foot"],
            ),
        )
    )
    return vl.spec(chart)


def _cue_chart(vl: _Vl, x_max: float, tones: bool, metronome: bool) -> dict[str, Any]:
    alt = vl.alt
    x = alt.X("t_min:Q", title=_TIME_X, scale=alt.Scale(domain=[0, x_max], nice=False))
    layers = []
    subtitle = []
    if metronome:
        layers.append(
            alt.Chart(alt.NamedData(name="cue_gain"))
            .mark_area(interpolate="step-after", color=CUE_COLOR, opacity=0.6, line=True)
            .encode(
                x=x,
                y=alt.Y("gain:Q", title="gain (0-1)", scale=alt.Scale(domain=[0, 1])),
                tooltip=[
                    alt.Tooltip("t_min:Q", title="from (min)", format=".2f"),
                    alt.Tooltip("gain:Q", title="gain (0 = off)"),
                    alt.Tooltip("target_spm:Q", title="target (steps/min)"),
                ],
            )
        )
        subtitle.append("metronome loudness: 0 = off, 1 = full; a fade lowers it over the run")
    if tones:
        layers.append(
            alt.Chart(alt.NamedData(name="impact_tones"))
            .mark_rule(color="#CC79A7", opacity=0.7)
            .encode(
                x=x,
                tooltip=[
                    alt.Tooltip("t_min:Q", title="time (min)", format=".2f"),
                    alt.Tooltip("peak_g:Q", title="landing (g)"),
                ],
            )
        )
        subtitle.append("pink lines: an impact tone after a hard landing")
    chart = alt.layer(*layers).properties(
        width=CHART_WIDTH,
        height=60,
        title=alt.Title("Cues: what the runner heard", subtitle=subtitle),
    )
    return vl.spec(chart)


# ---------------------------------------------------------------- the report
@dataclass
class Report:
    session_id: int
    title: str
    facts: list[str]
    summary: list[str]
    flags: list[Flag]
    table: list[list[str]]
    history: list[str]
    drift: list[str]
    pain: str | None
    notes: list[str]  # charts not drawn and why
    about: list[str]  # definitions
    charts: list[Chart] = field(default_factory=list)
    datasets: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _about(what: str) -> list[str]:
    return [
        "Cadence: steps per minute (spm), counting both feet; a stride is two steps "
        "(a stride rate is half the cadence).",
        "Step rate per foot: 60 / the time from the other foot's landing to this one's, "
        "in steps/min; a difference between the feet is a step-time asymmetry.",
        "Contact time: ms from landing to toe-off. Impact: the peak acceleration at "
        "landing, in g (1 g = 9.81 m/s²). Loading rate: how fast it rises, in g/s.",
        "Symmetry index: 100 (right - left) / mean of the two, in %; positive means the "
        f"right side's value is larger. Within +-{ASYMMETRY_BAND_PCT:.0f} % is common.",
        f"Comparable speed: within {SPEED_BAND_M_S:.1f} m/s. Where no speed is known, "
        "running is compared with running and the text says so.",
        f"Fatigue drift: the running time cut into thirds, the first against the last "
        f"(medians); a change of {DRIFT_PCT:.0f} % or more (asymmetry: "
        f"{DRIFT_SI_POINTS:.0f} percentage points) is called drift; runs under "
        f"{DRIFT_MIN_RUNNING_S / 60:.0f} min of running are not judged.",
        f"Charts over time and speed: {what}. Up to {MAX_STEP_POINTS} steps are drawn one "
        f"by one; a longer run as medians over {BIN_S:.0f} s per foot.",
        "Times are from the start of the recording; dates in this computer's time zone.",
    ]


def build(data: SessionData, ctx: Context, *, validate: bool = False) -> Report:
    """Everything the report says about one session (no I/O); ``validate``: check each
    chart against the Vega-Lite schema."""
    vl = _Vl(validate)
    o = overview(data)
    run = data.running_steps()
    dr = drift(data.steps, data.running_spans())
    started = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(o["started_unix"])))
    title = f"Run report: session {data.id}, {started}, {o['runner']}"
    sensors = ", ".join(
        f"{s.get('side', '?')} {s.get('mount', '')} ({s.get('name', '')})".replace("  ", " ")
        for s in data.sensors
    )
    facts = [
        f"Sensors: {sensors or 'none recorded'}; source {o['source']}"
        + (f"; shoe {o['shoe']}" if o["shoe"] else "")
        + (f"; distance from the {o['distance_source']}" if o["distance_m"] else "")
        + "."
    ]
    if o["damage"]:
        facts.append("Damage in the recording: " + "; ".join(o["damage"]))
    history = [c.words()[0].upper() + c.words()[1:] + "." for c in ctx.baseline]
    history += [c.words()[0].upper() + c.words()[1:] + "." for c in ctx.last_week]
    names = {"contact_si_pct": "contact time", "impact_si_pct": "impact"}
    if ctx.usual_asymmetry:
        history.append(
            f"Your usual left/right range (from your previous {ctx.usual_from_sessions} runs): "
            + "; ".join(
                f"{names[k]} {_fmt(lo, '+.1f')} to {_fmt(hi, '+.1f')} %"
                for k, (lo, hi) in ctx.usual_asymmetry.items()
            )
            + "."
        )
    if not history:
        history.append(
            "Nothing to compare with yet: the baseline comes from your first runs in the "
            "library, last week from the runs in the 7 days before this one."
        )
    pain = None
    if ctx.pain is not None:
        p = ctx.pain
        pain = (
            "Pain (0-10): "
            + ", ".join(
                f"{label} {'not rated' if v is None else f'{v}/10'}"
                for label, v in (
                    ("during", p.during),
                    ("after", p.after),
                    ("next morning", p.next_morning),
                )
            )
            + "."
        )
    rows, what = step_points(data.steps)
    end_s = max(data.duration_s, float(data.steps.t_s.max()) if len(data.steps) else 0.0)
    x_max = round(max(end_s, 1.0) / 60.0, 4)
    periods = cue_periods(data.cues, end_s)
    gain = cue_gain(data.cues, end_s)
    tones = [
        {"t_min": round(c["t_s"] / 60.0, 4), "peak_g": None}
        for c in data.cues
        if c["cue"] == "impact" and c["playing"]
    ]
    asym = asymmetry_rows(data.minutes, end_s)
    strikes = strike_rows(run)
    report = Report(
        session_id=data.id,
        title=title,
        facts=facts,
        summary=summary_sentences(o, ctx, dr),
        flags=list(ctx.flags),
        table=side_table(data, o),
        history=history,
        drift=dr.sentences(),
        pain=pain,
        notes=[],
        about=_about(what),
        datasets={
            "steps": rows,
            "cue_periods": periods,
            "cue_gain": gain,
            "impact_tones": tones,
            "asymmetry": asym,
            "strike": strikes,
        },
    )
    charts, notes = report.charts, report.notes
    if not rows:
        notes.append("No steps were found in this session: there is nothing to draw.")
        return report
    # subtitles in lines short enough for the PDF's narrower charts (about 80 characters)
    cue_words = (
        ["shaded: the metronome on (darker = louder; a fade gets lighter)"]
        if periods
        else ["no metronome played in this run"]
    )
    per = [what, *cue_words]
    rate_words = (
        "each foot's step rate: 60 / time since the other foot landed"
        if np.any(np.isfinite(data.steps.step_cadence_spm))
        else "the smoothed cadence at each foot's steps"
    )
    specs = [
        (
            "cadence",
            "cadence_spm",
            "cadence (steps/min)",
            "Cadence over time",
            [
                "steps per minute (spm), both feet; 1 stride = 2 steps",
                rate_words,
                *per,
                *(["dashed: the metronome's target cadence"] if periods else []),
            ],
            "Cadence over time, left and right.",
        ),
        (
            "contact",
            "contact_ms",
            "contact time (ms)",
            "Ground contact time over time",
            ["milliseconds from landing to toe-off, per foot", *per],
            "Ground contact time over time, left and right.",
        ),
        (
            "impact",
            "impact_g",
            "impact (g)",
            "Impact over time",
            ["peak acceleration at landing in g (1 g = 9.81 m/s²), per foot", *per],
            "Impact over time, left and right.",
        ),
    ]
    for name, f, y_title, t, sub, caption in specs:
        if not any(r[f] is not None for r in rows):
            notes.append(f"No {y_title.split(' (')[0]} was measured: no chart of it.")
            continue
        spec = _time_chart(vl, f, y_title, t, sub, x_max, bool(periods), name == "cadence")
        charts.append(Chart(name, caption, spec, 365 if name == "cadence" else 350))
    if gain or tones:
        spec = _cue_chart(vl, x_max, bool(tones), bool(gain))
        charts.append(Chart("cues", "The cues played: metronome on/off and its gain.", spec, 175))
    else:
        notes.append("No cues were played in this run: no cue periods to shade.")
    if sum(r["speed_m_s"] is not None for r in rows) >= MIN_SPEED_POINTS:
        spec = _speed_chart(vl, what)
        charts.append(Chart("speed", "Cadence, contact time and impact against speed.", spec, 320))
    else:
        notes.append(
            "The speed of this run is not known (no footpod or watch file): no charts "
            "against speed, and comparisons are made while running."
        )
    if asym:
        spec = _asymmetry_chart(vl, asym, ctx.usual_asymmetry, x_max)
        charts.append(Chart("asymmetry", "Left/right asymmetry per minute.", spec, 320))
    else:
        notes.append("One foot measured (or no running minute): no asymmetry chart.")
    if strikes:
        charts.append(Chart("strike", "Foot-strike classes per foot.", _strike_chart(vl), 280))
    else:
        notes.append("No foot strikes were classified: no strike chart.")
    return report


# ---------------------------------------------------------------- HTML
_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       margin: 2rem auto; max-width: 60rem; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.5rem; margin-bottom: .25rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
.facts { color: #555; margin: .1rem 0; }
.summary li { margin: .2rem 0; }
.flag { border-left: 4px solid #D55E00; background: #fff4ec; padding: .5rem .8rem;
        margin: .6rem 0; }
.flag .meta { color: #555; font-size: .9rem; margin: .3rem 0 0; }
table { border-collapse: collapse; }
th, td { padding: .25rem .7rem; border-bottom: 1px solid #e4e4e4; text-align: right; }
th:first-child, td:first-child { text-align: left; }
figure { margin: 1.5rem 0; }
figcaption { color: #555; font-size: .9rem; }
.note { color: #555; }
@media print { .chart details { display: none; } }
"""

_EMBED_JS = """
(function () {
  var payload = JSON.parse(document.getElementById("report-data").textContent);
  var jobs = [];
  document.querySelectorAll("[data-chart]").forEach(function (el) {
    var spec = Object.assign({}, payload.specs[el.dataset.chart]);
    spec.datasets = payload.datasets;
    jobs.push(vegaEmbed(el, spec, {
      renderer: "svg",
      actions: {export: true, source: false, compiled: false, editor: false},
      downloadFileName: payload.name + "-" + el.dataset.chart
    }).then(function () {
      el.dataset.rendered = "yes";
    }).catch(function (err) {
      el.dataset.rendered = "failed";
      el.textContent = "This chart could not be drawn: " + err;
      console.error(err);
    }));
  });
  Promise.all(jobs).then(function () { document.body.dataset.charts = "done"; });
})();
"""

#: Nothing leaves the page: no requests, fonts, frames or forms; inline scripts and
#: styles only (Vega compiles its expressions, hence 'unsafe-eval').
_CSP = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'unsafe-inline'; img-src data: blob:; font-src 'none'; connect-src 'none'; "
    "form-action 'none'; base-uri 'none'"
)


def _script_json(data: Any) -> str:
    """JSON safe inside a <script> element."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def html_page(report: Report, js_bundle: str) -> str:
    """The report as one self-contained HTML page; ``js_bundle`` is the Vega, Vega-Lite
    and vega-embed JavaScript (``vl_convert.javascript_bundle()``), inlined."""
    e = html.escape
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{e(_CSP)}">',
        '<meta name="referrer" content="no-referrer">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{e(report.title)}</title>",
        f"<style>{_CSS}</style>",
        "</head><body>",
        f"<header><h1>{e(report.title)}</h1>",
        *[f'<p class="facts">{e(f)}</p>' for f in report.facts],
        "</header>",
        '<section id="summary"><h2>Summary</h2><ul class="summary">',
        *[f"<li>{e(s)}</li>" for s in report.summary],
        "</ul></section>",
        '<section id="flags"><h2>Flags</h2>',
    ]
    if not report.flags:
        out.append('<p class="note">No flags for this run.</p>')
    for f in report.flags:
        out += [
            f'<div class="flag" data-kind="{e(f.kind)}">',
            f"<p><strong>{e(f.kind)}</strong>: {e(f.text)}</p>",
            f'<p class="meta">Source: {e(f.source)}. Strength of evidence: {e(f.strength)}.</p>',
            "</div>",
        ]
    out.append("</section>")
    if report.pain:
        out.append(f'<section id="pain"><h2>Pain</h2><p>{e(report.pain)}</p></section>')
    out.append('<section id="sides"><h2>Left and right, while running</h2>')
    if len(report.table) > 1:
        head, *body = report.table
        out.append("<table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>")
        out.append("</thead><tbody>")
        out += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in body]
        out.append("</tbody></table>")
    else:
        out.append('<p class="note">No running steps.</p>')
    out += [
        "</section>",
        '<section id="history"><h2>Against your history</h2><ul>',
        *[f"<li>{e(h)}</li>" for h in report.history],
        "</ul></section>",
        '<section id="drift"><h2>Fatigue drift</h2>',
        *[f"<p>{e(d)}</p>" for d in report.drift],
        "</section>",
        '<section id="charts"><h2>Charts</h2>',
        '<p class="note">Drag a time chart to pan, scroll to zoom, double-click to reset; '
        "hover a point for its numbers.</p>",
    ]
    for c in report.charts:
        out.append(
            f'<figure><div class="chart" id="chart-{e(c.name)}" data-chart="{e(c.name)}">'
            f"</div><figcaption>{e(c.caption)}</figcaption></figure>"
        )
    out += [f'<p class="note">{e(n)}</p>' for n in report.notes]
    out += [
        "</section>",
        '<section id="about"><h2>About these numbers</h2><ul>',
        *[f"<li>{e(a)}</li>" for a in report.about],
        "</ul></section>",
    ]
    payload = {
        "name": f"sensorhub-report-{report.session_id}",
        "specs": {c.name: c.spec for c in report.charts},
        "datasets": report.datasets,
    }
    out += [
        "<script>" + js_bundle.replace("</script", "<\\/script") + "</script>",
        f'<script type="application/json" id="report-data">{_script_json(payload)}</script>',
        f"<script>{_EMBED_JS}</script>",
        "</body></html>",
    ]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- PDF and PNG
def text_lines(report: Report) -> list[tuple[str, str]]:
    """The report's words as (style, line) for the static renderings: title, head,
    body (long lines wrapped), and the per-side table as rowhead/row lines of
    tab-separated cells."""
    out: list[tuple[str, str]] = [("title", report.title)]

    def para(text: str, first: str = "", rest: str = "  ") -> None:
        for line in textwrap.wrap(text, PDF_WRAP, initial_indent=first, subsequent_indent=rest) or [
            ""
        ]:
            out.append(("body", line))

    for fact in report.facts:
        para(fact, rest="")
    out.append(("head", "Summary"))
    for s in report.summary:
        para(s, "- ")
    out.append(("head", "Flags"))
    if not report.flags:
        para("No flags for this run.")
    for f in report.flags:
        para(f"{f.kind}: {f.text}", "- ")
        para(f"Source: {f.source}. Strength of evidence: {f.strength}.", "  ")
    if report.pain:
        out.append(("head", "Pain"))
        para(report.pain)
    out.append(("head", "Left and right, while running"))
    if len(report.table) > 1:
        head, *body = report.table
        names = [h.split(" (")[0] for h in head]
        units = ["(" + h.split(" (", 1)[1] if " (" in h else "" for h in head]
        out.append(("rowhead", "\t".join(names)))
        out.append(("rowhead", "\t".join(units)))
        out += [("row", "\t".join(r)) for r in body]
    else:
        para("No running steps.")
    out.append(("head", "Against your history"))
    for h in report.history:
        para(h, "- ")
    out.append(("head", "Fatigue drift"))
    for d in report.drift:
        para(d)
    if report.notes:
        out.append(("head", "Not drawn"))
        for n in report.notes:
            para(n, "- ")
    out.append(("head", "About these numbers"))
    for a in report.about:
        para(a, "- ")
    return out


#: The static pages' text: style -> (font size, weight, line height); px = pt.
_TEXT_STYLE: dict[str, tuple[int, str, int]] = {
    "title": (16, "bold", 26),
    "head": (13, "bold", 24),
    "body": (11, "normal", 15),
    "rowhead": (10, "bold", 14),
    "row": (10, "normal", 15),
}
_CHAR_PX = 5.8  # about how wide a character of the table's 10-point text is
PAGE_WIDTH, A4_HEIGHT = 595, 842  # points
PAGE_MARGIN = 36
TEXT_FONT = "Liberation Sans, Helvetica, Arial, DejaVu Sans, sans-serif"


def _line_height(style: str) -> int:
    return _TEXT_STYLE[style][2]


def text_svg(lines: Sequence[tuple[str, str]]) -> str:
    """A page of the report's words as SVG (laid out here: a chart library's text
    marks are slow, and this is only lines): ``row``/``rowhead`` lines are
    tab-separated table cells, the first left-aligned, the others right-aligned."""
    rows = [t.split("\t") for st, t in lines if st in ("row", "rowhead")]
    ncol = max((len(r) for r in rows), default=0)
    widths = [max(len(r[c]) for r in rows if c < len(r)) for c in range(ncol)]
    edges, right = [], float(PAGE_MARGIN)
    for c, w in enumerate(widths):
        right += w * _CHAR_PX + (0 if c == 0 else 16)
        edges.append(right)
    out, y = [], float(PAGE_MARGIN)
    for st, t in lines:
        size, weight, step = _TEXT_STYLE[st]
        y += step
        attrs = f'font-size="{size}" font-weight="{weight}"'
        if st in ("row", "rowhead"):
            for c, cell in enumerate(t.split("\t")):
                x, anchor = (PAGE_MARGIN, "start") if c == 0 else (edges[c], "end")
                out.append(
                    f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" {attrs}>'
                    f"{html.escape(cell)}</text>"
                )
        else:
            out.append(
                f'<text x="{PAGE_MARGIN}" y="{y:.1f}" {attrs} xml:space="preserve">'
                f"{html.escape(t)}</text>"
            )
    height = y + PAGE_MARGIN
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{PAGE_WIDTH}" height="{height:.0f}" '
        f'viewBox="0 0 {PAGE_WIDTH} {height:.0f}">'
        f'<rect width="100%" height="100%" fill="white"/>'
        f'<g font-family="{TEXT_FONT}" fill="#222">' + "".join(out) + "</g></svg>"
    )


def _sub(spec: dict[str, Any], width: int | None, lines_only: bool = False) -> dict[str, Any]:
    """A chart's spec as one view of a static page: no interaction, narrower; with
    ``lines_only``, a time chart without its layer of points (a long run's thousands of
    dots make a slow, heavy PDF and add nothing to the lines on paper)."""
    out = {k: v for k, v in spec.items() if k not in ("$schema", "config", "datasets", "params")}
    if lines_only and "layer" in out:
        out["layer"] = [v for v in out["layer"] if v.get("description") != POINTS_LAYER]
    if width is not None and "width" in out:
        out["width"] = width
    if "hconcat" in out:
        out["hconcat"] = [{**v, "width": (width or CHART_WIDTH) // 3 - 40} for v in out["hconcat"]]
    return out


def _page(report: Report, views: list[dict[str, Any]], config: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
        "config": config,
        "datasets": report.datasets,
        "vconcat": views,
        "resolve": {
            "scale": {"color": "independent", "opacity": "independent"},
            "legend": {"color": "independent"},
        },
        "spacing": 28,
        "padding": 24,
    }


def text_pages(lines: Sequence[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """The text cut into A4 pages (within their margins), never leaving a
    heading at the bottom of a page."""
    pages: list[list[tuple[str, str]]] = []
    page: list[tuple[str, str]] = []
    height = 0
    for line in lines:
        step = _line_height(line[0])
        if page and height + step > A4_HEIGHT - 2 * PAGE_MARGIN:
            carry: list[tuple[str, str]] = []
            while len(page) > 1 and page[-1][0] in ("head", "title"):
                carry.insert(0, page.pop())
            pages.append(page)
            page, height = carry, sum(_line_height(st) for st, _ in carry)
        page.append(line)
        height += step
    if page:
        pages.append(page)
    return pages


def chart_pages(report: Report) -> list[dict[str, Any]]:
    """The charts grouped onto pages, each page one Vega-Lite spec."""
    pages: list[dict[str, Any]] = []
    group: list[Chart] = []
    for c in report.charts:
        if group and sum(g.height for g in group) + c.height > PDF_PAGE_HEIGHT:
            pages.append(_chart_page(report, group))
            group = []
        group.append(c)
    if group:
        pages.append(_chart_page(report, group))
    return pages


def _lines_only(report: Report) -> bool:
    return len(report.datasets.get("steps", [])) > STATIC_POINTS_MAX


def _chart_page(report: Report, group: list[Chart]) -> dict[str, Any]:
    views = [_sub(c.spec, PDF_CHART_WIDTH, _lines_only(report)) for c in group]
    return _page(report, views, group[0].spec.get("config", {}))


def page_svgs(
    report: Report, advance: Callable[[float], None] | None = None, share: float = 1.0
) -> list[str]:
    """The static pages as SVG: the words (laid out here), then the charts (drawn by
    vl-convert; no URL may be fetched); ``advance(share / chart pages)`` after each."""
    import vl_convert as vlc

    out = [text_svg(page) for page in text_pages(text_lines(report))]
    specs = chart_pages(report)
    for spec in specs:
        out.append(vlc.vegalite_to_svg(spec, allowed_base_urls=[]))
        if advance is not None:
            advance(share / len(specs))
    return out


_SVG_SIZE = re.compile(r'<svg\b[^>]*?\swidth="([\d.]+)"[^>]*?\sheight="([\d.]+)"')


def stack_svgs(svgs: Sequence[str], gap: float = 16.0) -> str:
    """SVG images one below the other, as one SVG (each nested at its offset)."""
    parts, y, width = [], 0.0, 0.0
    for svg in svgs:
        svg = re.sub(r"^\s*<\?xml[^>]*>\s*", "", svg)
        m = _SVG_SIZE.search(svg)
        if m is None:
            raise ValueError("an SVG without width and height")
        w, h = float(m[1]), float(m[2])
        parts.append(svg.replace("<svg", f'<svg x="0" y="{y:g}"', 1))
        y += h + gap
        width = max(width, w)
    height = max(0.0, y - gap)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:g}" height="{height:g}" '
        f'viewBox="0 0 {width:g} {height:g}"><rect width="100%" height="100%" fill="white"/>'
        + "".join(parts)
        + "</svg>"
    )


def pdf_bytes(report: Report, advance: Callable[[float], None] | None = None) -> bytes:
    """The report as a PDF: pages of text, then of charts (vl-convert; one PDF per page,
    merged); ``advance(fraction)`` as it goes."""
    import vl_convert as vlc

    docs = []
    for svg in page_svgs(report, advance, 0.7):
        docs.append(vlc.svg_to_pdf(svg))
    pdf = merge_pdfs(docs)
    if advance is not None:
        advance(0.3)
    return pdf


def png_bytes(report: Report, scale: float = 1.5) -> bytes:
    """The report as one tall PNG image: the PDF's pages one below the other."""
    import vl_convert as vlc

    return bytes(vlc.svg_to_png(stack_svgs(page_svgs(report)), scale=scale))


# ---------------------------------------------------------------- merging PDFs
_OBJ = re.compile(rb"(\d+) 0 obj\b")
_REF = re.compile(rb"(\d+) 0 R\b")


def _pdf_objects(doc: bytes) -> tuple[dict[int, bytes], int]:
    """The objects of a PDF with a classic xref table (as vl-convert writes them):
    number -> the bytes between ``obj`` and ``endobj``; and the Root's number."""
    m = re.search(rb"startxref\s+(\d+)\s+%%EOF\s*$", doc)
    if m is None or not doc.startswith(b"%PDF-"):
        raise ValueError("not a PDF with a classic xref table")
    xref = int(m[1])
    head = re.match(rb"xref\s+0\s+(\d+)\s+", doc[xref:])
    if head is None:
        raise ValueError("unexpected xref table")
    n = int(head[1])
    table = doc[xref + head.end() : xref + head.end() + 20 * n]
    offsets = {}
    for i in range(n):
        entry = table[20 * i : 20 * i + 20]
        if entry[17:18] == b"n":
            offsets[i] = int(entry[:10])
    ends = sorted([*offsets.values(), xref])
    objects = {}
    for num, off in offsets.items():
        end = ends[ends.index(off) + 1]
        chunk = doc[off:end].rstrip()
        mo = _OBJ.match(chunk)
        if mo is None or int(mo[1]) != num or not chunk.endswith(b"endobj"):
            raise ValueError(f"object {num} is not where the xref says")
        objects[num] = chunk[mo.end() : -len(b"endobj")].strip(b"\r\n")
    root = re.search(rb"/Root\s+(\d+)\s+0\s+R", doc[xref:])
    if root is None:
        raise ValueError("no /Root")
    return objects, int(root[1])


def _split_stream(body: bytes) -> tuple[bytes, bytes]:
    """An object's dictionary part and its stream part (b"" when it has none)."""
    m = re.search(rb">>\s*stream\r?\n", body)
    if m is None:
        return body, b""
    return body[: m.start() + 2], body[m.start() + 2 :]


def merge_pdfs(docs: Sequence[bytes]) -> bytes:
    """One PDF of the pages of ``docs``, in order (single-level page trees, as
    vl-convert writes them)."""
    if len(docs) == 1:
        return docs[0]
    out_objects: list[bytes] = []  # object k+3 is out_objects[k]; 1 catalog, 2 pages
    kids: list[int] = []
    for doc in docs:
        objects, root = _pdf_objects(doc)
        m = re.search(rb"/Pages\s+(\d+)\s+0\s+R", objects[root])
        if m is None:
            raise ValueError("catalog without /Pages")
        pages_num = int(m[1])
        page_kids = [int(k) for k in _REF.findall(objects[pages_num].split(b"/Kids", 1)[1])]
        skip = {root, pages_num}
        info = re.search(rb"/Info\s+(\d+)\s+0\s+R", doc[doc.rindex(b"trailer") :])
        if info is not None:
            skip.add(int(info[1]))
        keep = sorted(k for k in objects if k not in skip)
        new = {old: 3 + len(out_objects) + i for i, old in enumerate(keep)}

        def renumber(m: re.Match[bytes], new: dict[int, int] = new, tree: int = pages_num) -> bytes:
            old = int(m[1])
            if old == tree:
                return b"2 0 R"
            return b"%d 0 R" % new[old]

        for old in keep:
            dict_part, stream = _split_stream(objects[old])
            out_objects.append(_REF.sub(renumber, dict_part) + stream)
        kids += [new[k] for k in page_kids]
    body = bytearray(b"%PDF-1.7\n%\x80\x80\x80\x80\n")
    offsets = []

    def put(num: int, content: bytes) -> None:
        offsets.append(len(body))
        body.extend(b"%d 0 obj\n" % num + content + b"\nendobj\n\n")

    put(1, b"<<\n  /Type /Catalog\n  /Pages 2 0 R\n>>")
    refs = b" ".join(b"%d 0 R" % k for k in kids)
    put(2, b"<<\n  /Type /Pages\n  /Count %d\n  /Kids [%s]\n>>" % (len(kids), refs))
    for i, content in enumerate(out_objects):
        put(3 + i, content)
    info_num = 3 + len(out_objects)
    put(info_num, b"<<\n  /Producer (sensorhub report, svg2pdf)\n>>")
    xref = len(body)
    body.extend(b"xref\n0 %d\n0000000000 65535 f \n" % (info_num + 1))
    for off in offsets:
        body.extend(b"%010d 00000 n \n" % off)
    body.extend(
        b"trailer\n<<\n  /Size %d\n  /Root 1 0 R\n  /Info %d 0 R\n>>\nstartxref\n%d\n%%%%EOF\n"
        % (info_num + 1, info_num, xref)
    )
    return bytes(body)
