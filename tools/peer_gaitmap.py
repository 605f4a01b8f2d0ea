"""The peer the detection issue measures against: gaitmap on voisard_walking.

    python3 -m venv /tmp/peer
    /tmp/peer/bin/pip install -e . gaitmap==2.6.0 gaitmap-mad==2.6.0
    /tmp/peer/bin/python -m tools.peer_gaitmap [--lowpass-hz 15]

gaitmap (Kuederle et al., the MaD lab's gait library) is not a dependency of sensorhub:
it runs in a virtual environment of its own, beside this project, and is scored exactly
as sensorhub is (``sensorhub.evaluation``: one-to-one within 50 ms after removing the
pooled median bias, detections outside the coverage windows not counted).  Its pipeline,
as its documentation and examples give it, nothing tuned: samples placed by ``t_s`` on a
100 Hz grid (the dropped packets interpolated), acc in m/s^2, gravity alignment, PCA
heading alignment, forward-direction sign alignment, the foot body frame, Barth DTW stride
segmentation with the default template, then Rampp (and Herzer) event detection; each
contact and terminal contact of the annotated stride list counted once.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from sensorhub.evaluation import _debiased, match, read_truth
from tools import datasets

FS_HZ = 100.0
G_MPS2 = 9.81


def _load(path: Path) -> tuple[Any, int]:
    import pandas as pd
    from gaitmap.utils.consts import SF_COLS

    df = pd.read_csv(path)
    k = np.round(df.t_s.to_numpy() * FS_HZ).astype(int)
    grid = np.arange(k[0], k[-1] + 1)
    out = pd.DataFrame(index=range(len(grid)))
    for axis in "xyz":
        out[f"acc_{axis}"] = np.interp(grid, k, df[f"acc_{axis}_g"].to_numpy()) * G_MPS2
        out[f"gyr_{axis}"] = np.interp(grid, k, df[f"gyr_{axis}_dps"].to_numpy())
    return out[SF_COLS], int(grid[0])


def detect(trial: Path, side: str, lowpass_hz: float) -> dict[str, dict[str, list[float]]]:
    """``{algorithm: {"ic": times, "to": times}}`` for one foot of one trial."""
    from gaitmap.data_transform import ButterworthFilter
    from gaitmap.event_detection import HerzerEventDetection, RamppEventDetection
    from gaitmap.preprocessing.sensor_alignment import (
        ForwardDirectionSignAlignment,
        PcaAlignment,
        align_dataset_to_gravity,
    )
    from gaitmap.stride_segmentation import BarthDtw
    from gaitmap.utils.coordinate_conversion import convert_to_fbf

    raw, k0 = _load(trial / f"{side}_shoe.csv")
    data = align_dataset_to_gravity(raw, sampling_rate_hz=FS_HZ)
    data = PcaAlignment().align(data).aligned_data_
    data = ForwardDirectionSignAlignment().align(data, sampling_rate_hz=FS_HZ).aligned_data_
    name = f"{side}_sensor"
    bf = convert_to_fbf({name: data}, left_like="left_", right_like="right_")[name]
    if lowpass_hz:
        bf = (
            ButterworthFilter(order=4, cutoff_freq_hz=lowpass_hz)
            .filter(bf, sampling_rate_hz=FS_HZ)
            .transformed_data_
        )
    strides = BarthDtw().segment(bf, sampling_rate_hz=FS_HZ).stride_list_
    out: dict[str, dict[str, list[float]]] = {}
    for algo, cls in (("rampp", RamppEventDetection), ("herzer", HerzerEventDetection)):
        found: dict[str, list[float]] = {"ic": [], "to": []}
        if len(strides):
            ev = cls().detect(data=bf, stride_list=strides, sampling_rate_hz=FS_HZ)
            events = ev.annotated_original_event_list_
            for kind, col in (("ic", "ic"), ("to", "tc")):
                idx = np.unique(np.round(events[col].dropna().to_numpy()).astype(int))
                found[kind] = [(k0 + int(i)) / FS_HZ for i in idx]
        out[algo] = found
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None, help="the shared data folder")
    ap.add_argument("--lowpass-hz", type=float, default=0.0, help="a low-pass before DTW")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    try:
        import gaitmap  # noqa: F401
        import gaitmap_mad  # noqa: F401
    except ImportError:
        print("gaitmap is not installed here: see the top of tools/peer_gaitmap.py")
        return 2
    data = datasets.data_dir(args.data)
    if data is None or not (data / "voisard_walking").is_dir():
        print("voisard_walking not found (../shared/data): nothing to compare")
        return 2
    warnings.filterwarnings("ignore")
    rows: list[dict[str, Any]] = []
    for d in sorted((data / "voisard_walking").glob("*-*")):
        if not (d / "truth.csv").is_file():
            continue
        meta = json.loads((d / "trial.json").read_text())
        truth = read_truth(d / "truth.csv")
        for side in ("left", "right"):
            found = detect(d, side, args.lowpass_hz)
            ref = {
                k: sorted(r.t_s for r in truth if r.side == side and r.event == k)
                for k in ("ic", "to")
            }
            cov = [(float(a), float(b)) for a, b in meta["coverage_s"].get(side, [])]
            rows.append(
                {
                    "subject": int(meta["subject"]),
                    "key": f"{d.name}/{side}",
                    "found": found,
                    "ref": ref,
                    "cov": cov,
                }
            )
        print(f"gaitmap {d.name}", file=sys.stderr)
    res: dict[str, Any] = {"lowpass_hz": args.lowpass_hz}
    pools = {"tuned (1-8)": set(datasets.VOISARD_TUNED), "held out (9-12)": set(range(9, 13))}
    for algo in ("rampp", "herzer"):
        for pool, subjects in pools.items():
            sel = [r for r in rows if r["subject"] in subjects]
            out: dict[str, Any] = {}
            for kind in ("ic", "to"):
                ref_k = {r["key"]: r["ref"][kind] for r in sel}
                found_k = {r["key"]: r["found"][algo][kind] for r in sel}
                out[kind] = _debiased(ref_k, found_k, {r["key"]: r["cov"] for r in sel}, 0.05)
            per: dict[int, float] = {}
            for subj in sorted(subjects):
                mine = [r for r in sel if r["subject"] == subj]
                n = sum(len(r["ref"]["ic"]) for r in mine)
                b = out["ic"]["bias_ms"] / 1000
                m = sum(
                    len(match(r["ref"]["ic"], [x - b for x in r["found"][algo]["ic"]], 0.05))
                    for r in mine
                )
                per[subj] = round(m / n, 4) if n else 0.0
            out["ic_recall_per_subject"] = per
            res[f"{algo} {pool}"] = out
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        for k, v in res.items():
            if isinstance(v, dict):
                ic, to = v["ic"], v["to"]
                print(
                    f"{k}: IC recall {ic['recall']:.3f} precision {ic['precision']:.3f} "
                    f"(bias {ic['bias_ms']:+.0f} ms); TO recall {to['recall']:.3f} precision "
                    f"{to['precision']:.3f}; IC recall per subject {v['ic_recall_per_subject']}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
