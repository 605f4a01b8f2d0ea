"""Accuracy of detected events against ground truth (``t_s,side,event[,value,strike]``)."""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sensorhub.errors import SensorhubError
from sensorhub.events import AnyEvent, Cadence, FootStrike, Impact, Step, ToeOff, decode_json

KINDS = ("ic", "to", "impact")


@dataclass(frozen=True)
class TruthRow:
    t_s: float
    side: str
    event: str
    value: float | None = None
    strike: str | None = None


def read_truth(path: str | Path) -> list[TruthRow]:
    """Read a truth CSV; raises SensorhubError naming the bad row or column."""
    path = Path(path)
    try:
        with open(path, newline="") as fh:
            reader = csv.DictReader(fh)
            missing = {"t_s", "side", "event"} - set(reader.fieldnames or [])
            if missing:
                raise SensorhubError(
                    f"{path} is not a truth file: no column {', '.join(sorted(missing))}",
                    "truth files have columns t_s,side,event[,value,strike]",
                )
            rows = []
            for n, r in enumerate(reader, start=2):
                try:
                    value = r.get("value") or ""
                    rows.append(
                        TruthRow(
                            float(r["t_s"]),
                            r["side"].strip(),
                            r["event"].strip(),
                            float(value) if value else None,
                            (r.get("strike") or "").strip() or None,
                        )
                    )
                except (TypeError, ValueError):
                    raise SensorhubError(
                        f"{path}, line {n}: t_s or value is not a number"
                    ) from None
                if rows[-1].event not in KINDS:
                    raise SensorhubError(
                        f"{path}, line {n}: event {rows[-1].event!r} is not ic, to or impact"
                    )
    except FileNotFoundError:
        raise SensorhubError(f"{path}: no such file", "check the path") from None
    except UnicodeDecodeError:
        raise SensorhubError(f"{path} is not a text (CSV) file") from None
    return rows


def read_events(path: str | Path) -> list[AnyEvent]:
    path = Path(path)
    out: list[AnyEvent] = []
    try:
        with open(path, "rb") as fh:
            for n, line in enumerate(fh, start=1):
                if line.strip():
                    try:
                        out.append(decode_json(line))
                    except Exception as exc:  # msgspec.DecodeError / ValidationError
                        raise SensorhubError(
                            f"{path}, line {n}: not a sensorhub event ({exc})",
                            "pass the file written by `sensorhub replay --events-jsonl`",
                        ) from None
    except FileNotFoundError:
        raise SensorhubError(f"{path}: no such file", "check the path") from None
    except OSError as exc:
        raise SensorhubError(f"cannot read {path}: {exc.strerror}") from None
    if not out:  # a replay always writes some (activity, summary): this is no event log
        raise SensorhubError(
            f"{path} holds no events",
            "pass the file written by `sensorhub replay FILE --events-jsonl OUT`",
        )
    return out


def match(truth: list[float], found: list[float], tol: float) -> list[tuple[int, int]]:
    """One-to-one pairs (truth index, found index), nearest first, within ``tol``."""
    t = np.asarray(truth)
    f = np.asarray(found)
    if not len(t) or not len(f):
        return []
    cands = []
    for i, x in enumerate(t):
        lo = np.searchsorted(f, x - tol)
        hi = np.searchsorted(f, x + tol, side="right")
        for j in range(lo, hi):
            cands.append((abs(f[j] - x), i, j))
    cands.sort()
    used_t: set[int] = set()
    used_f: set[int] = set()
    pairs = []
    for _, i, j in cands:
        if i not in used_t and j not in used_f:
            used_t.add(i)
            used_f.add(j)
            pairs.append((i, j))
    return sorted(pairs)


def _stats(errors_ms: list[float]) -> dict[str, float | None]:
    if not errors_ms:
        return {
            "bias_ms": None,
            "median_abs_ms": None,
            "p95_abs_ms": None,
            "spread_median_abs_ms": None,
        }
    e = np.asarray(errors_ms)
    bias = float(np.median(e))
    return {
        "bias_ms": round(bias, 3),
        "median_abs_ms": round(float(np.median(np.abs(e))), 3),
        "p95_abs_ms": round(float(np.percentile(np.abs(e), 95)), 3),
        "spread_median_abs_ms": round(float(np.median(np.abs(e - bias))), 3),
    }


Coverage = dict[str, list[tuple[float, float]]]

#: Detections within this of a reference event set the bias that ``debiased`` removes.
BIAS_SEARCH_MS = 100.0


def read_coverage(path: str | Path) -> Coverage:
    """Per side, the windows in which every event is annotated (``trial.json``'s
    ``coverage_s``: ``{"left": [[t0, t1], ...], ...}``, or that object alone)."""
    import json

    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise SensorhubError(f"{path}: no such file", "check the path") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SensorhubError(f"{path} is not a JSON file ({exc})") from None
    cov = data.get("coverage_s", data) if isinstance(data, dict) else None
    try:
        assert isinstance(cov, dict)
        return {str(side): [(float(a), float(b)) for a, b in wins] for side, wins in cov.items()}
    except (AssertionError, TypeError, ValueError):
        raise SensorhubError(
            f"{path}: no coverage windows",
            'write {"coverage_s": {"left": [[t0, t1], ...], "right": [...]}}',
        ) from None


def _inside(t: float, windows: list[tuple[float, float]] | None) -> bool:
    return windows is None or any(a <= t <= b for a, b in windows)


def _debiased(
    truth: dict[str, list[float]],
    found: dict[str, list[float]],
    coverage: Coverage | None,
    tol: float,
) -> dict[str, Any]:
    """Recall, precision and spread after removing the median signed error (the bias from
    matches within ``BIAS_SEARCH_MS``): what a reference that marks the event at another
    point of the same movement (e.g. 30 ms earlier) would agree with."""
    wide = BIAS_SEARCH_MS / 1000.0
    raw = [
        f[j] - t[i]
        for side, t in truth.items()
        for f in [found.get(side, [])]
        for i, j in match(t, f, wide)
    ]
    bias = float(np.median(raw)) if raw else 0.0
    n_truth = n_match = n_extra = 0
    errors: list[float] = []
    for side, t in truth.items():
        f = [x - bias for x in found.get(side, [])]
        pairs = match(t, f, tol)
        used = {j for _, j in pairs}
        n_truth += len(t)
        n_match += len(pairs)
        wins = None if coverage is None else coverage.get(side, [])
        n_extra += sum(1 for j, x in enumerate(f) if j not in used and _inside(x + bias, wins))
        errors += [(f[j] - t[i]) * 1000.0 for i, j in pairs]
    out: dict[str, Any] = {
        "bias_ms": round(bias * 1000.0, 3),
        "matched": n_match,
        "recall": round(n_match / n_truth, 5) if n_truth else None,
        "precision": round(n_match / (n_match + n_extra), 5) if n_match + n_extra else None,
    }
    if errors:
        a = np.abs(np.asarray(errors))
        out["median_abs_ms"] = round(float(np.median(a)), 3)
        out["p95_abs_ms"] = round(float(np.percentile(a, 95)), 3)
    return out


def _contact_time(
    truth: list[TruthRow],
    events: list[AnyEvent],
    sides: list[str],
    tol: float,
    biases: dict[str, float],
) -> dict[str, Any]:
    """Contact time (toe-off - contact) against the reference's, per stride matched at both
    ends; ``debiased`` after removing each event's bias."""
    raw: list[float] = []
    deb: list[float] = []
    for side in sides:
        ics = sorted(r.t_s for r in truth if r.event == "ic" and r.side == side)
        tos = sorted(r.t_s for r in truth if r.event == "to" and r.side == side)
        f_ic = sorted(e.t for e in events if isinstance(e, FootStrike) and e.side == side)
        f_to = sorted(e.t for e in events if isinstance(e, ToeOff) and e.side == side)
        b_ic, b_to = biases.get("ic", 0.0), biases.get("to", 0.0)
        m_ic = dict(match(ics, [x - b_ic for x in f_ic], tol))
        m_to = dict(match(tos, [x - b_to for x in f_to], tol))
        for i, t_ic in enumerate(ics):
            k = int(np.searchsorted(tos, t_ic))
            if k >= len(tos) or tos[k] - t_ic > 2.0 or i not in m_ic or k not in m_to:
                continue
            found = f_to[m_to[k]] - f_ic[m_ic[i]]
            ref = tos[k] - t_ic
            raw.append((found - ref) * 1000.0)
            deb.append((found - (b_to - b_ic) - ref) * 1000.0)
    if not raw:
        return {"compared": 0}
    return {
        "compared": len(raw),
        "median_error_ms": round(float(np.median(raw)), 3),
        "median_error_debiased_ms": round(float(np.median(deb)), 3),
        "p95_abs_error_debiased_ms": round(float(np.percentile(np.abs(deb), 95)), 3),
    }


def evaluate(
    events: list[AnyEvent],
    truth: list[TruthRow],
    tolerance_ms: float = 50.0,
    window_s: float = 30.0,
    span: tuple[float, float] | None = None,
    keep_errors: bool = False,
    coverage: Coverage | None = None,
) -> dict[str, Any]:
    """Compare events with truth: per kind counts and timing errors, cadence, impact, strike.

    ``span`` limits the comparison to a time range (reference data annotated only in part);
    ``coverage`` gives per side the windows in which every event is annotated: a detection
    outside them is not counted as extra.  Per kind: the totals, ``per_side``, and
    ``debiased`` (after removing the median signed error).  ``keep_errors`` adds the raw
    errors (``errors_ms``, ``errors_pct``, ``errors_spm``) so sessions can be pooled.
    """
    tol = tolerance_ms / 1000.0
    if span is not None:
        lo, hi = span
        events = [e for e in events if lo <= e.t <= hi]
        truth = [r for r in truth if lo <= r.t_s <= hi]
    sides = sorted({r.side for r in truth})
    result: dict[str, Any] = {"tolerance_ms": tolerance_ms, "sides": sides}
    found_of: dict[str, list[FootStrike] | list[ToeOff] | list[Impact]] = {
        "ic": [e for e in events if isinstance(e, FootStrike)],
        "to": [e for e in events if isinstance(e, ToeOff)],
        "impact": [e for e in events if isinstance(e, Impact)],
    }
    impact_err: list[float] = []
    impact_pairs: list[tuple[TruthRow, Impact]] = []
    biases: dict[str, float] = {}
    for kind in KINDS:
        n_truth = n_found = n_match = 0
        errors: list[float] = []
        per_side: dict[str, Any] = {}
        times_t: dict[str, list[float]] = {}
        times_f: dict[str, list[float]] = {}
        for side in sides:
            tr = [r for r in truth if r.event == kind and r.side == side]
            fd = [e for e in found_of[kind] if e.side in (side, "unknown")]
            fd.sort(key=lambda e: e.t)
            pairs = match([r.t_s for r in tr], [e.t for e in fd], tol)
            if coverage is not None:  # detections outside the annotated windows: no verdict
                used = {j for _, j in pairs}
                wins = coverage.get(side, [])
                fd = [e for j, e in enumerate(fd) if j in used or _inside(e.t, wins)]
                pairs = match([r.t_s for r in tr], [e.t for e in fd], tol)
            times_t[side] = [r.t_s for r in tr]
            times_f[side] = [e.t for e in fd]
            n_truth += len(tr)
            n_found += len(fd)
            n_match += len(pairs)
            if tr:
                per_side[side] = {
                    "truth": len(tr),
                    "found": len(fd),
                    "matched": len(pairs),
                    "recall": round(len(pairs) / len(tr), 5),
                    "precision": round(len(pairs) / len(fd), 5) if fd else None,
                }
            for i, j in pairs:
                errors.append((fd[j].t - tr[i].t_s) * 1000.0)
                if kind == "impact":
                    imp = fd[j]
                    assert isinstance(imp, Impact)
                    impact_pairs.append((tr[i], imp))
        entry: dict[str, Any] = {
            "truth": n_truth,
            "found": n_found,
            "matched": n_match,
            "missed": n_truth - n_match,
            "extra": n_found - n_match,
            "recall": round(n_match / n_truth, 5) if n_truth else None,
            "precision": round(n_match / n_found, 5) if n_found else None,
        }
        entry.update(_stats(errors))
        entry["per_side"] = per_side
        if n_truth and kind != "impact":
            entry["debiased"] = _debiased(times_t, times_f, coverage, tol)
            biases[kind] = entry["debiased"]["bias_ms"] / 1000.0
        if keep_errors:
            entry["errors_ms"] = errors
        result[kind] = entry
    if result["ic"]["truth"] and result["to"]["truth"]:
        result["contact_time"] = _contact_time(truth, events, sides, tol, biases)
    # impact value
    clipped = 0
    for row, imp in impact_pairs:
        if row.value:
            if imp.clipped:
                clipped += 1
                continue
            impact_err.append(100.0 * (imp.peak_g - row.value) / row.value)
    if impact_err:
        e = np.asarray(impact_err)
        result["impact_value"] = {
            "compared": len(e),
            "clipped_excluded": clipped,
            "bias_pct": round(float(np.median(e)), 3),
            "median_abs_pct": round(float(np.median(np.abs(e))), 3),
            "p95_abs_pct": round(float(np.percentile(np.abs(e), 95)), 3),
            "within_10pct": round(float(np.mean(np.abs(e) <= 10.0)), 5),
        }
        if keep_errors:
            result["impact_value"]["errors_pct"] = impact_err
    # strike class
    steps = [e for e in events if isinstance(e, Step) and e.strike]
    ic_truth = [r for r in truth if r.event == "ic" and r.strike]
    if steps and ic_truth:
        ok = total = 0
        for side in sides:
            tr = sorted((r for r in ic_truth if r.side == side), key=lambda r: r.t_s)
            st = sorted((s for s in steps if s.side in (side, "unknown")), key=lambda s: s.t)
            for i, j in match([r.t_s for r in tr], [s.t for s in st], tol):
                total += 1
                ok += tr[i].strike == st[j].strike
        result["strike"] = {
            "compared": total,
            "correct": ok,
            "accuracy": round(ok / total, 5) if total else None,
        }
    result["cadence"] = _cadence(events, truth, sides, window_s, keep_errors)
    return result


def _steps_per_min(times: list[float], per_event: float, lo: float, hi: float) -> float | None:
    ts = sorted(t for t in times if lo <= t < hi)
    if len(ts) < 3:
        return None
    return per_event * 60.0 * (len(ts) - 1) / (ts[-1] - ts[0])


def _cadence(
    events: list[AnyEvent],
    truth: list[TruthRow],
    sides: list[str],
    window_s: float,
    keep_errors: bool = False,
) -> dict[str, Any]:
    """Cadence in consecutive windows where the truth shows steady movement."""
    ic_truth = [r.t_s for r in truth if r.event == "ic"]
    if not ic_truth:
        return {"windows": 0}
    per = 1.0 if len(sides) >= 2 else 2.0
    strikes = [e.t for e in events if isinstance(e, FootStrike) and e.side in [*sides, "unknown"]]
    cad_events = [e for e in events if isinstance(e, Cadence)]
    start, end = min(ic_truth), max(ic_truth)
    errs: list[float] = []
    event_errs: list[float] = []
    t0 = start
    while t0 + window_s <= end:
        t1 = t0 + window_s
        truth_c = _steps_per_min(ic_truth, per, t0, t1)
        inside = sorted(t for t in ic_truth if t0 <= t < t1)
        steady = truth_c is not None and inside[0] - t0 < 2.0 and t1 - inside[-1] < 2.0
        if steady and truth_c is not None:
            found_c = _steps_per_min(strikes, per, t0, t1)
            errs.append(math.nan if found_c is None else found_c - truth_c)
            vals = [c.cadence_spm for c in cad_events if t0 <= c.t < t1]
            if vals:
                event_errs.append(float(np.mean(vals)) - truth_c)
        t0 = t1
    arr = np.asarray([e for e in errs if not math.isnan(e)])
    out: dict[str, Any] = {
        "window_s": window_s,
        "windows": len(errs),
        "windows_without_steps": len(errs) - len(arr),
    }
    if len(arr):
        out.update(
            {
                "max_abs_error_spm": round(float(np.max(np.abs(arr))), 3),
                "median_abs_error_spm": round(float(np.median(np.abs(arr))), 3),
                "within_1_spm": round(float(np.mean(np.abs(arr) <= 1.0)), 5),
            }
        )
    if event_errs:
        ev = np.asarray(event_errs)
        out["cadence_events_max_abs_error_spm"] = round(float(np.max(np.abs(ev))), 3)
    if keep_errors:
        out["errors_spm"] = errs
    return out


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f} %"


def describe_report(report: dict[str, Any]) -> list[str]:
    """``evaluate``'s report as the lines ``sensorhub evaluate`` prints."""
    out: list[str] = []
    for kind, label in (("ic", "initial contact"), ("to", "toe-off"), ("impact", "impact peak")):
        r = report[kind]
        if not r["truth"]:
            continue
        timing = (
            ""
            if r["bias_ms"] is None
            else f"; error bias {r['bias_ms']:+.1f} ms, median |e| {r['median_abs_ms']:.1f} ms,"
            f" p95 {r['p95_abs_ms']:.1f} ms"
        )
        recall = "-" if r["recall"] is None else f"{100 * r['recall']:.2f} %"
        precision = "-" if r["precision"] is None else f"{100 * r['precision']:.2f} %"
        out.append(
            f"{label:16} matched {r['matched']}/{r['truth']}, missed {r['missed']}, "
            f"extra {r['extra']}; recall {recall}, precision {precision}{timing}"
        )
        for side, p in r["per_side"].items():
            if len(r["per_side"]) > 1:
                out.append(
                    f"{'':16} {side}: matched {p['matched']}/{p['truth']}, recall "
                    f"{_pct(p['recall'])}, precision {_pct(p['precision'])}"
                )
        d = r.get("debiased")
        if d and d.get("median_abs_ms") is not None:
            out.append(
                f"{'':16} without the bias ({d['bias_ms']:+.1f} ms): recall "
                f"{_pct(d['recall'])}, precision {_pct(d['precision'])}, median |e| "
                f"{d['median_abs_ms']:.1f} ms, p95 {d['p95_abs_ms']:.1f} ms"
            )
    ct = report.get("contact_time", {})
    if ct.get("compared"):
        out.append(
            f"{'contact time':16} {ct['compared']} strides: median error "
            f"{ct['median_error_ms']:+.1f} ms, {ct['median_error_debiased_ms']:+.1f} ms without "
            f"the biases (p95 |e| {ct['p95_abs_error_debiased_ms']:.1f} ms)"
        )
    if "impact_value" in report:
        v = report["impact_value"]
        out.append(
            f"{'impact value':16} median |e| {v['median_abs_pct']:.1f} %, p95 "
            f"{v['p95_abs_pct']:.1f} %, bias {v['bias_pct']:+.1f} % ({v['compared']} compared,"
            f" {v['clipped_excluded']} clipped left out)"
        )
    if "strike" in report and report["strike"]["accuracy"] is not None:
        out.append(
            f"{'strike class':16} {100 * report['strike']['accuracy']:.1f} % of "
            f"{report['strike']['compared']}"
        )
    c = report["cadence"]
    if c.get("windows"):
        out.append(
            f"{'cadence':16} {c['windows']} windows of {c['window_s']:g} s: max |e| "
            f"{c.get('max_abs_error_spm', float('nan')):.2f} steps/min, "
            f"{c['windows_without_steps']} without steps"
        )

    return out
