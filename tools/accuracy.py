"""Accuracy of the signal core against ground truth: simulator and real recordings.

    python -m tools.accuracy [--seeds 24] [--write docs/accuracy.md] [--json]

Simulator: sessions across run/walk x shoe/shin with random mounting rotations, noise on
and faults off, each recorded to a session file and replayed through the same path as a
live run, then compared with the simulator's truth.  Real data (``../shared/data``; skipped
with a message when absent): gaitmap walking against motion-capture events, adeptdata
running against its cadence range and an independent spectral cadence estimate.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from firmware_sim.gait import GaitParams
from firmware_sim.run import SimulatedRun, default_config
from sensorhub.evaluation import evaluate, read_truth
from sensorhub.events import AnyEvent, FootStrike, ToeOff
from sensorhub.pipeline.session import process_session
from sensorhub.recording import SensorEntry, SessionHeader, SessionReader, record
from sensorhub.types import Mounting, Side
from tools import datasets
from tools._report import update_block

BEGIN = "<!-- accuracy:begin -->"
END = "<!-- accuracy:end -->"
STRIKES = ("rearfoot", "midfoot", "forefoot")

# ------------------------------------------------------------------------ simulator


def sim_case(i: int) -> dict[str, Any]:
    """The i-th simulated session of the suite (deterministic)."""
    rng = np.random.default_rng(1000 + i)
    activity = ("run", "walk")[i % 2]
    mount = (Mounting.SHOE, Mounting.SHIN)[(i // 2) % 2]
    cadence = float(rng.uniform(155, 195) if activity == "run" else rng.uniform(95, 125))
    return {
        "seed": i,
        "activity": activity,
        "mount": mount,
        "cadence": round(cadence, 1),
        "strike": STRIKES[(i // 4) % 3],
        "asymmetry": round(float(rng.uniform(0.0, 0.06)), 3),
        "sides": (Side.LEFT,) if i % 8 == 7 else (Side.LEFT, Side.RIGHT),
    }


def run_sim(
    case: dict[str, Any], tmp: Path, duration_s: float, odr_hz: int = 1000, gyro: bool = True
) -> dict[str, Any]:
    gait_kw: dict[str, Any] = {"strike": case["strike"], "asymmetry": case["asymmetry"]}
    gait_kw["run_cadence_spm" if case["activity"] == "run" else "walk_cadence_spm"] = case[
        "cadence"
    ]
    cfg = default_config(
        activity=case["activity"],
        mount=case["mount"],
        duration_s=duration_s,
        seed=case["seed"],
        sides=case["sides"],
        odr_hz=odr_hz,
        gait=GaitParams(**gait_kw),
    )
    if not gyro:
        cfg = dataclasses.replace(
            cfg, sensors=tuple(dataclasses.replace(s, gyro=False) for s in cfg.sensors)
        )
    run = SimulatedRun(cfg)
    path = tmp / f"sim{case['seed']}_{odr_hz}_{int(gyro)}.shs"
    path.unlink(missing_ok=True)
    header = SessionHeader(
        time.time(), "sim", [SensorEntry.from_info(k, s.info()) for k, s in enumerate(run.sensors)]
    )
    record(path, header, run.deliveries())
    truth_path = path.with_suffix(".truth.csv")
    run.write_truth(truth_path)
    events = process_session(SessionReader(path))
    return evaluate(events, read_truth(truth_path), keep_errors=True)


def pool(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals and pooled error statistics over several sessions."""
    out: dict[str, Any] = {"sessions": len(reports)}
    for kind in ("ic", "to", "impact"):
        tot = {k: sum(r[kind][k] for r in reports) for k in ("truth", "found", "matched")}
        errs = np.concatenate([np.asarray(r[kind]["errors_ms"], float) for r in reports])
        e: dict[str, Any] = dict(tot)
        e["recall"] = tot["matched"] / tot["truth"] if tot["truth"] else None
        e["precision"] = tot["matched"] / tot["found"] if tot["found"] else None
        if len(errs):
            e["bias_ms"] = float(np.median(errs))
            e["median_abs_ms"] = float(np.median(np.abs(errs)))
            e["p95_abs_ms"] = float(np.percentile(np.abs(errs), 95))
        out[kind] = e
    imp = [np.asarray(r["impact_value"]["errors_pct"]) for r in reports if "impact_value" in r]
    if imp:
        a = np.concatenate(imp)
        out["impact_value"] = {
            "compared": len(a),
            "clipped_excluded": sum(
                r["impact_value"]["clipped_excluded"] for r in reports if "impact_value" in r
            ),
            "median_abs_pct": float(np.median(np.abs(a))),
            "p95_abs_pct": float(np.percentile(np.abs(a), 95)),
            "within_10pct": float(np.mean(np.abs(a) <= 10)),
        }
    strike = [r["strike"] for r in reports if r.get("strike", {}).get("compared")]
    if strike:
        n = sum(s["compared"] for s in strike)
        out["strike"] = {"compared": n, "accuracy": sum(s["correct"] for s in strike) / n}
    cad = [x for r in reports for x in r["cadence"].get("errors_spm", [])]
    finite = np.asarray([x for x in cad if not np.isnan(x)])
    out["cadence"] = {
        "windows": len(cad),
        "windows_without_steps": len(cad) - len(finite),
        "max_abs_error_spm": float(np.max(np.abs(finite))) if len(finite) else None,
        "within_1_spm": float(np.mean(np.abs(finite) <= 1.0)) if len(finite) else None,
    }
    return out


# ------------------------------------------------------------------------ real data


def spectral_cadence(acc_g: np.ndarray, fs: float) -> tuple[float, float]:
    """Steps/min from the dominant stride frequency of |a| (0.6-1.8 Hz), and its prominence."""
    x = np.linalg.norm(acc_g, axis=1)
    x = x - x.mean()
    n = len(x) * 8
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x)), n))
    f = np.fft.rfftfreq(n, 1 / fs)
    band = (f > 0.6) & (f < 1.8)
    k = int(np.argmax(spec[band]))
    prominence = float(spec[band][k] / np.median(spec[(f > 0.3) & (f < 10)]))
    return float(f[band][k] * 120.0), prominence


def adept_cadence(events: list[AnyEvent], session: Path, window_s: float = 30.0) -> dict[str, Any]:
    """Per window: detected cadence, the spectral reference, and the 154-162 band check."""
    from sensorhub.protocol import codec
    from sensorhub.protocol.codec import DataPacket

    reader = SessionReader(session)
    info = reader.sensors[0].info
    blocks = []
    for rec in reader.records():
        msg, _ = codec.decode(rec.data)
        if isinstance(msg, DataPacket):
            blocks.append(msg.samples.astype(float) * info.acc_scale_g)
    acc = np.concatenate(blocks)
    fs = info.odr_hz
    strikes = np.array(sorted(e.t for e in events if isinstance(e, FootStrike)))
    rows: list[dict[str, Any]] = []
    for k in range(int(len(acc) / fs // window_s)):
        t0, t1 = k * window_s, (k + 1) * window_s
        seg = acc[int(t0 * fs) : int(t1 * fs)]
        ref, prom = spectral_cadence(seg, fs)
        # running throughout: a clear stride rhythm in the running range, and every 5 s of
        # the window as lively as running (|a| varies by over 1 g; walking ~0.7, still < 0.4)
        mag = np.linalg.norm(seg, axis=1)
        sub = int(5 * fs)
        lively = all(
            float(np.std(mag[j : j + sub])) > 1.0 for j in range(0, len(mag) - sub + 1, sub)
        )
        running = prom >= 10.0 and 140.0 <= ref <= 200.0 and lively
        s = strikes[(strikes >= t0) & (strikes < t1)]
        ours = 120.0 * (len(s) - 1) / (s[-1] - s[0]) if len(s) > 2 else None
        gaps = np.diff(s)
        dropout = bool(len(gaps) and np.max(gaps) > 1.5 * np.median(gaps)) if len(s) > 2 else True
        rows.append(
            {
                "t0": t0,
                "reference_spm": round(ref, 1),
                "prominence": round(prom, 1),
                "running": running,
                "detected_spm": None if ours is None else round(ours, 1),
                "dropout": dropout,
            }
        )
    run_rows = [r for r in rows if r["running"]]
    diffs = [
        abs(r["detected_spm"] - r["reference_spm"])
        for r in run_rows
        if r["detected_spm"] is not None
    ]
    in_band = [
        r for r in run_rows if r["detected_spm"] is not None and 152.0 <= r["detected_spm"] <= 164.0
    ]
    ref_in_band = [r for r in run_rows if 154.0 <= r["reference_spm"] <= 162.0]
    return {
        "windows": len(rows),
        "running_windows": len(run_rows),
        "reference_in_154_162": len(ref_in_band),
        "detected_within_2_of_band": len(in_band),
        "running_windows_with_dropout": sum(r["dropout"] for r in run_rows),
        "median_abs_vs_reference_spm": float(np.median(diffs)) if diffs else None,
        "max_abs_vs_reference_spm": float(np.max(diffs)) if diffs else None,
        "rows": rows,
    }


def voisard_report(tmp: Path, data: Path) -> dict[str, Any]:
    """voisard_walking by subject: per trial events against the reference inside the
    coverage windows, pooled over the tuned and the held-out subjects (the bias removed
    once per pool, as a lab would calibrate once for its reference)."""
    from sensorhub.evaluation import _debiased, match

    rows: list[dict[str, Any]] = []
    for tr in datasets.voisard(data, tmp):
        events = process_session(SessionReader(tr.session))
        truth = read_truth(tr.truth)
        rep = evaluate(events, truth, coverage=tr.coverage)
        times: dict[str, Any] = {"truth": {}, "found": {}, "cov": {}}
        for kind, cls in (("ic", FootStrike), ("to", ToeOff)):
            for side in ("left", "right"):
                key = f"{tr.name}/{side}"
                times["truth"][(kind, key)] = [
                    r.t_s for r in truth if r.event == kind and r.side == side
                ]
                times["found"][(kind, key)] = sorted(
                    e.t for e in events if isinstance(e, cls) and e.side == side
                )
                times["cov"][key] = tr.coverage.get(side, [])
        # out of phase: a contact more than 150 ms from every reference contact, after the
        # third of that foot (a detector locked into the wrong phase has one every stride)
        phase = 0
        for side in ("left", "right"):
            ref = np.asarray(times["truth"][("ic", f"{tr.name}/{side}")])
            if len(ref) < 4:
                continue
            for x in times["found"][("ic", f"{tr.name}/{side}")]:
                inside = any(a <= x <= b for a, b in tr.coverage.get(side, []))
                if inside and x > ref[2] + 0.2 and np.min(np.abs(ref - x)) > 0.15:
                    phase += 1
        # IC recall by kind of step (the bias is removed per pool below)
        kinds: dict[str, list[tuple[str, float]]] = {}
        for side in ("left", "right"):
            ref = times["truth"][("ic", f"{tr.name}/{side}")]
            kinds[side] = [(datasets.step_kind(t, ref, tr.uturn_s), t) for t in ref]
        rows.append(
            {
                "trial": tr.name,
                "subject": tr.subject,
                "report": rep,
                "times": times,
                "phase": phase,
                "kinds": kinds,
            }
        )
        print(f"voisard {tr.name}: IC recall {rep['ic']['recall']}", file=sys.stderr)

    def gather(sel: list[dict[str, Any]], table: str, kind: str) -> dict[str, list[float]]:
        """``{trial/side: times}`` of one kind from the rows ``sel``."""
        return {k[1]: v for r in sel for k, v in r["times"][table].items() if k[0] == kind}

    def pooled(subjects: set[int]) -> dict[str, Any]:
        sel = [r for r in rows if r["subject"] in subjects]
        out: dict[str, Any] = {"trials": len(sel), "subjects": sorted(subjects)}
        for kind in ("ic", "to"):
            truth = gather(sel, "truth", kind)
            found = gather(sel, "found", kind)
            cov = {k: v for r in sel for k, v in r["times"]["cov"].items()}
            out[kind] = _debiased(truth, found, cov, 0.05)
            out[kind]["truth"] = sum(len(v) for v in truth.values())
            raw = [
                found[key][j] - t[i]
                for key, t in truth.items()
                for i, j in match(t, found[key], 0.05)
            ]
            n_truth = out[kind]["truth"]
            out[kind]["raw_recall"] = round(len(raw) / n_truth, 5) if n_truth else None
        per_subject: dict[int, float] = {}
        for subj in sorted(subjects):
            mine = [r for r in sel if r["subject"] == subj]
            truth = gather(mine, "truth", "ic")
            found = gather(mine, "found", "ic")
            shifted = {k: [x - out["ic"]["bias_ms"] / 1000 for x in v] for k, v in found.items()}
            n = sum(len(v) for v in truth.values())
            m = sum(len(match(t, shifted[k], 0.05)) for k, t in truth.items())
            per_subject[subj] = round(m / n, 4) if n else 0.0
        out["ic_recall_per_subject"] = per_subject
        by_kind: dict[str, list[int]] = {k: [0, 0] for k in datasets.STEP_KINDS}
        for r in sel:
            for side, steps in r["kinds"].items():
                key = f"{r['trial']}/{side}"
                bias_s = out["ic"]["bias_ms"] / 1000
                moved: list[float] = [x - bias_s for x in r["times"]["found"][("ic", key)]]
                ref: list[float] = [t for _, t in steps]
                hit = {i for i, _ in match(ref, moved, 0.05)}
                for i, (kind, _) in enumerate(steps):
                    by_kind[kind][0] += 1
                    by_kind[kind][1] += i in hit
        out["ic_recall_by_kind"] = {
            k: {"steps": n, "recall": round(m / n, 4) if n else None}
            for k, (n, m) in by_kind.items()
        }
        out["out_of_phase_after_3_strides"] = sum(r["phase"] for r in sel)
        out["out_of_phase_max_per_trial"] = max((r["phase"] for r in sel), default=0)
        ct = [r["report"].get("contact_time", {}) for r in sel]
        med = [c["median_error_debiased_ms"] for c in ct if c.get("compared")]
        out["contact_time_median_debiased_ms"] = float(np.median(med)) if med else None
        return out

    subjects = {r["subject"] for r in rows}
    return {
        "tuned": pooled(subjects & set(datasets.VOISARD_TUNED)),
        "held_out": pooled(subjects - set(datasets.VOISARD_TUNED)),
    }


def run_real(tmp: Path) -> dict[str, Any]:
    conv = {c.name: c for c in datasets.convert_all(tmp)}
    if not conv:
        return {}
    out: dict[str, Any] = {}
    data = datasets.data_dir()
    assert data is not None
    out["voisard_walking"] = voisard_report(tmp, data)
    gm = conv["gaitmap_walking"]
    assert gm.truth is not None
    events = process_session(SessionReader(gm.session))
    truth = read_truth(gm.truth)
    span = (min(r.t_s for r in truth) - 0.1, max(r.t_s for r in truth) + 0.1)
    out["gaitmap_walking"] = {
        tol: evaluate(events, truth, tolerance_ms=tol, span=span) for tol in (100.0, 50.0)
    }
    ad = conv["adeptdata_running"]
    out["adeptdata_running"] = adept_cadence(process_session(SessionReader(ad.session)), ad.session)
    return out


# ------------------------------------------------------------------------ report


def _f(x: float | None, fmt: str = ".2f") -> str:
    return "-" if x is None else format(x, fmt)


def _pct(x: float | None, fmt: str = ".1f") -> str:
    return "-" if x is None else f"{100 * x:{fmt}} %"


def voisard_lines(v: dict[str, Any]) -> list[str]:
    def row(name: str, g: dict[str, Any]) -> str:
        ic, to = g["ic"], g["to"]
        worst = min(g["ic_recall_per_subject"].values()) if g["ic_recall_per_subject"] else None
        return (
            f"| {name} ({g['trials']} trials, subjects "
            f"{g['subjects'][0]}-{g['subjects'][-1]}) | {_pct(ic['recall'])} | "
            f"{_pct(ic['precision'])} | {_f(ic.get('p95_abs_ms'), '.1f')} ms | "
            f"{_pct(to['recall'])} | {_f(to.get('median_abs_ms'), '.1f')} ms | "
            f"{_f(g['contact_time_median_debiased_ms'], '+.1f')} ms | {_pct(worst)} | "
            f"{_f(ic['bias_ms'], '+.1f')} / {_f(to['bias_ms'], '+.1f')} ms |"
        )

    per = ", ".join(
        f"{k}: {_pct(x)}"
        for g in (v["tuned"], v["held_out"])
        for k, x in g["ic_recall_per_subject"].items()
    )
    return [
        "**voisard_walking** (Xsens MTw on each foot, 100 Hz with dropped packets, stand / "
        "walk 10 m / turn / walk back / stop; reference: two validated IMU algorithms "
        "checked by hand, 10 ms steps). Settings were tuned on subjects 1-8 only; 9-12 are "
        "held out. Matching as `../shared/tools/score_real.py` does: per foot one-to-one "
        "within 50 ms after removing the pooled median bias; detections outside the "
        "coverage windows are not counted.",
        "",
        "| subjects | IC recall | IC precision | IC p95 abs error | TO recall "
        "| TO median abs error | contact time median error | worst subject IC recall "
        "| bias IC / TO |",
        "|---|---|---|---|---|---|---|---|---|",
        "| target (held out) | >= 99 % | >= 99 % | <= 20 ms | >= 97 % | <= 10 ms "
        "| within +-20 ms | >= 97 % | reported |",
        row("tuned", v["tuned"]),
        row("held out", v["held_out"]),
        "",
        f"IC recall per subject: {per}.",
        "",
        "IC recall by kind of step (`tools.datasets.step_kind`): "
        + "; ".join(
            f"{name}: "
            + ", ".join(
                f"{k} {_pct(x['recall'])} of {x['steps']}"
                for k, x in g["ic_recall_by_kind"].items()
            )
            for name, g in (("tuned", v["tuned"]), ("held out", v["held_out"]))
        )
        + ".",
        "",
    ]


def markdown(res: dict[str, Any]) -> str:
    lines = [
        BEGIN,
        "",
        f"Generated by `{res['command']}` on {res['machine']} "
        f"in {res['seconds']:.0f} s. Do not edit by hand.",
        "",
    ]
    real = res.get("real") or {}
    lines += ["### Real recordings (first: what users' sensors will show)", ""]
    if not real:
        lines += ["`../shared/data` was not found when this was generated: no real-data results."]
    else:
        lines += voisard_lines(real["voisard_walking"])
        for tol in ("100.0", "50.0"):
            g = (
                real["gaitmap_walking"][tol]
                if tol in real["gaitmap_walking"]
                else real["gaitmap_walking"][float(tol)]
            )
            ic, to = g["ic"], g["to"]
            lines.append(
                f"- **gaitmap walking** (two shoes, 204.8 Hz, 57 motion-capture contacts; within "
                f"the annotated span; tolerance {float(tol):.0f} ms): initial contact recall "
                f"{100 * ic['recall']:.1f} % (target >= 98 %), precision "
                f"{100 * ic['precision']:.1f} %, "
                f"bias {_f(ic['bias_ms'], '+.1f')} ms, median |error - bias| "
                f"{_f(ic['spread_median_abs_ms'], '.1f')} ms (target <= 15 ms), median |error| "
                f"{_f(ic['median_abs_ms'], '.1f')} ms; toe-off recall "
                f"{100 * (to['recall'] or 0):.1f} %, "
                f"bias {_f(to['bias_ms'], '+.1f')} ms, median |error - bias| "
                f"{_f(to['spread_median_abs_ms'], '.1f')} ms."
                + (
                    f" Without the bias: IC recall {_pct(ic['debiased']['recall'])}, precision "
                    f"{_pct(ic['debiased']['precision'])} (target 100 % at 50 ms); TO recall "
                    f"{_pct(to['debiased']['recall'])} (target >= 98 %)."
                    if float(tol) == 50.0
                    else ""
                )
            )
        a = real["adeptdata_running"]
        lines += [
            f"- **adeptdata running** (left ankle, accelerometer only, 100 Hz, 25 min): of "
            f"{a['windows']} windows of 30 s, {a['running_windows']} show running throughout in "
            "an independent check of the raw signal (a prominent stride frequency of |a| at "
            "140-200 steps/min, and |a| varying by over 1 g in every 5 s); the rest hold the "
            "stops and walking breaks of this outdoor run. In "
            f"{a['detected_within_2_of_band']} of those {a['running_windows']} the detected "
            "cadence is within 2 steps/min of the stated 154-162 range (target: all); the "
            f"spectral reference itself lies in 154-162 in {a['reference_in_154_162']} of them "
            "(the last minutes run at 170-180 steps/min). Against the spectral reference the "
            f"detected cadence differs by a median {_f(a['median_abs_vs_reference_spm'])} and "
            f"at most {_f(a['max_abs_vs_reference_spm'])} steps/min; "
            f"{a['running_windows_with_dropout']} running windows have a missed step "
            "(an interval over 1.5 strides).",
            "- **Alcantara running** is a sacrum (trunk) sensor; sensorhub has no trunk "
            "mounting yet, so it is not evaluated.",
            "",
            "adeptdata windows (s, reference, detected, running):",
            "",
            "```",
        ]
        for r in a["rows"]:
            lines.append(
                f"{r['t0']:6.0f} ref {r['reference_spm']:6.1f} det "
                f"{_f(r['detected_spm'], '6.1f')} {'run' if r['running'] else '   '}"
                f"{' dropout' if r['running'] and r['dropout'] else ''}"
            )
        lines.append("```")
    s = res["sim"]["all"]
    lines += [
        "",
        "### Simulator (second: it shares our assumptions, so these are upper bounds)",
        "",
        f"{s['sessions']} sessions of {res['sim']['duration_s']:.0f} s at 1 kHz: run/walk x "
        "shoe/shin, strike styles rearfoot/midfoot/forefoot, cadence drawn from 155-195 "
        "(run) and 95-125 (walk) steps/min, asymmetry 0-6 %, random mounting rotation, "
        "noise on, faults off; one sensor in every eighth session, two (left and right) in "
        "the rest. Each is recorded, replayed and compared with the simulator's truth "
        "(tolerance 50 ms).",
        "",
        "| | target | result |",
        "|---|---|---|",
        f"| initial contact recall | >= 99.5 % | {100 * s['ic']['recall']:.2f} % "
        f"({s['ic']['matched']}/{s['ic']['truth']}) |",
        f"| initial contact precision | >= 99.5 % | {100 * s['ic']['precision']:.2f} % |",
        "| initial contact median / p95 abs error | <= 3 / 10 ms | "
        f"{_f(s['ic']['median_abs_ms'])} / "
        f"{_f(s['ic']['p95_abs_ms'])} ms (bias {_f(s['ic']['bias_ms'], '+.2f')} ms) |",
        f"| toe-off median abs error | <= 6 ms | {_f(s['to']['median_abs_ms'])} ms "
        f"(recall {100 * s['to']['recall']:.1f} %, p95 {_f(s['to']['p95_abs_ms'])} ms) |",
        f"| cadence, 30 s windows | within 1 step/min | max error "
        f"{_f(s['cadence']['max_abs_error_spm'])} steps/min over {s['cadence']['windows']} "
        f"windows ({100 * (s['cadence']['within_1_spm'] or 0):.1f} % within 1) |",
        f"| impact peak | within 10 % | {100 * s['impact_value']['within_10pct']:.1f} % within "
        f"10 %, median {_f(s['impact_value']['median_abs_pct'])} %, p95 "
        f"{_f(s['impact_value']['p95_abs_pct'])} % ({s['impact_value']['clipped_excluded']} "
        f"clipped left out) |",
        f"| strike class (shoe) | >= 95 % | {100 * s['strike']['accuracy']:.1f} % of "
        f"{s['strike']['compared']} |",
        "",
        "By activity and mounting:",
        "",
        "| group | IC recall | IC precision | IC median / p95 ms | TO median ms "
        "| impact within 10 % | strike | cadence max error |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, g in res["sim"]["groups"].items():
        lines.append(
            f"| {name} | {100 * g['ic']['recall']:.2f} % | {100 * g['ic']['precision']:.2f} % | "
            f"{_f(g['ic']['median_abs_ms'])} / {_f(g['ic']['p95_abs_ms'])} | "
            f"{_f(g['to'].get('median_abs_ms'))} | "
            f"{100 * g['impact_value']['within_10pct']:.1f} % | "
            f"{_pct(g.get('strike', {}).get('accuracy'))} | "
            f"{_f(g['cadence']['max_abs_error_spm'])} |"
        )
    lines += [
        "",
        "Other rates and accelerometer-only sensors (running, shoe and shin, unless named; "
        "the targets above are for 1 kHz with a gyroscope). With an accelerometer alone, "
        "walking is not solved: at the shoe the push-off burst is as large as the heel "
        "strike and is often taken for it, at the shin the heel strikes (0.6-0.9 g) are "
        "under `acc_threshold_g`, which running at the ankle needs (adeptdata: 0.2-0.3 g "
        "double-counts):",
        "",
        "| variant | IC recall | IC precision | IC median / p95 ms | TO median ms "
        "| impact within 10 % | cadence max error |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, g in res["sim"]["variants"].items():
        lines.append(
            f"| {name} | {_pct(g['ic']['recall'], '.2f')} | {_pct(g['ic']['precision'], '.2f')} | "
            f"{_f(g['ic'].get('median_abs_ms'))} / {_f(g['ic'].get('p95_abs_ms'))} | "
            f"{_f(g['to'].get('median_abs_ms'))} | "
            f"{_pct((g.get('impact_value') or {}).get('within_10pct'))} | "
            f"{_f((g.get('cadence') or {}).get('max_abs_error_spm'))} |"
        )
    lines += ["", END]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=24)
    ap.add_argument("--duration", type=float, default=150.0)
    ap.add_argument("--write", type=Path)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    started = time.perf_counter()
    res: dict[str, Any] = {
        "command": "python -m tools.accuracy " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
    }
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        reports = []
        groups: dict[str, list[dict[str, Any]]] = {}
        for i in range(args.seeds):
            case = sim_case(i)
            rep = run_sim(case, tmp, args.duration)
            reports.append(rep)
            groups.setdefault(f"{case['activity']} {case['mount'].label}", []).append(rep)
            print(
                f"sim {i}: {case['activity']} {case['mount'].label} IC recall "
                f"{rep['ic']['recall']} precision {rep['ic']['precision']}",
                file=sys.stderr,
            )
        variants: dict[str, list[dict[str, Any]]] = {}
        for odr, gyro in ((100, True), (200, True), (400, True), (1600, True), (1000, False)):
            name = f"{odr} Hz" + ("" if gyro else ", no gyroscope")
            for i in (0, 2):  # run shoe, run shin
                variants.setdefault(name, []).append(
                    run_sim(sim_case(i), tmp, args.duration / 2, odr, gyro)
                )
        for i in (1, 3):  # walk shoe, walk shin: what the accelerometer alone cannot do yet
            name = f"walking, {sim_case(i)['mount'].label}, 1000 Hz, no gyroscope"
            variants[name] = [run_sim(sim_case(i), tmp, args.duration / 2, 1000, False)]
        res["sim"] = {
            "duration_s": args.duration,
            "all": pool(reports),
            "groups": {k: pool(v) for k, v in sorted(groups.items())},
            "variants": {k: pool(v) for k, v in variants.items()},
        }
        res["real"] = run_real(tmp)
    res["seconds"] = time.perf_counter() - started
    if args.json:
        print(json.dumps(res, indent=2, default=str))
    block = markdown(res)
    if not args.json:
        print(block)
    if args.write:
        update_block(args.write, BEGIN, END, block)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
