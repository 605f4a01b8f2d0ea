"""How far single signal features can agree with the voisard_walking reference.

    python -m tools.voisard_ceiling [--subjects 1,2,3,4,5,6,7,8]

An oracle experiment, on the tuned subjects only: each reference contact is given its own
swing (from the reference toe-off before it), so nothing can be missed or invented; then
the instant a single feature of that swing marks is compared with the reference contact,
after removing the feature's median offset.  The share within 50 ms is what a detector
using that feature could reach against this reference at best, at any segmentation.
Steps are grouped as docs/accuracy.md does (``datasets.step_kind``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from sensorhub.evaluation import read_truth
from tools import datasets

FEATURES = {
    "swing zero crossing": "zc",
    "gyro rebound after the swing (min within 120 ms)": "gmin",
    "mean of those two": "gmin+zc",
    "|a| peak (-50..150 ms)": "apk",
    "|da| (jerk) peak": "jerk",
}


def features(trial: Path, side: str) -> list[tuple[str, dict[str, float]]]:
    """Per reference contact with a swing before it: (category, feature - contact in ms)."""
    rows = read_truth(trial / "truth.csv")
    uturn = json.loads((trial / "trial.json").read_text())["uturn_s"]
    a = np.loadtxt(trial / f"{side}_shoe.csv", delimiter=",", skiprows=1)
    t, acc, gyr = a[:, 0], a[:, 1:4], a[:, 4:7]
    rate = gyr @ np.linalg.eigh(np.cov(gyr.T))[1][:, -1]
    ics = sorted(r.t_s for r in rows if r.side == side and r.event == "ic")
    tos = sorted(r.t_s for r in rows if r.side == side and r.event == "to")
    swings = []
    for to in tos:
        nxt = [x for x in ics if to < x < to + 0.8]
        if nxt:
            swings.append(rate[(t > to) & (t < nxt[0])].mean())
    if not swings:
        return []
    pr = rate * (1 if np.median(swings) > 0 else -1)  # the swing positive
    amag = np.linalg.norm(acc, axis=1)
    jerk = np.linalg.norm(np.diff(acc, axis=0, prepend=acc[:1]), axis=1)
    out = []
    for ic in ics:
        before = [x for x in tos if ic - 0.8 < x < ic]
        if not before:
            continue
        s = np.where((t > before[-1]) & (t < ic + 0.1))[0]
        if len(s) < 3:
            continue
        k = s[np.argmax(pr[s])]
        while k + 1 < len(t) and pr[k + 1] >= 0:
            k += 1
        zc = t[k + 1]
        w = np.where((t >= zc) & (t <= zc + 0.12))[0]
        gmin = t[w[np.argmin(pr[w])]]
        w = np.where((t >= zc - 0.05) & (t <= zc + 0.15))[0]
        f = {
            "zc": zc,
            "gmin": gmin,
            "gmin+zc": (gmin + zc) / 2,
            "apk": t[w[np.argmax(amag[w])]],
            "jerk": t[w[np.argmax(jerk[w])]],
        }
        kind = datasets.step_kind(ic, ics, (uturn[0], uturn[1]))
        out.append((kind, {k2: (v - ic) * 1000 for k2, v in f.items()}))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--subjects", default=",".join(str(s) for s in datasets.VOISARD_TUNED))
    args = ap.parse_args()
    data = datasets.data_dir(args.data)
    if data is None or not (data / "voisard_walking").is_dir():
        print("voisard_walking not found (../shared/data): nothing to measure")
        return 2
    subjects = {int(s) for s in args.subjects.split(",")}
    rows: list[tuple[str, dict[str, float]]] = []
    for d in sorted((data / "voisard_walking").glob("*-*")):
        meta = json.loads((d / "trial.json").read_text())
        if int(meta["subject"]) in subjects:
            for side in ("left", "right"):
                rows += features(d, side)
    cats = datasets.STEP_KINDS
    print(f"{len(rows)} reference contacts of subjects {sorted(subjects)}; share within 50 ms")
    print("feature | all | " + " | ".join(f"{c} ({sum(r[0] == c for r in rows)})" for c in cats))
    for label, key in FEATURES.items():
        err = np.array([r[1][key] for r in rows])
        ok = np.abs(err - np.median(err)) <= 50
        cat = np.array([r[0] for r in rows])
        parts = [f"{100 * ok[cat == c].mean():.1f} %" for c in cats]
        print(
            f"{label} (offset {np.median(err):+.0f} ms) | {100 * ok.mean():.1f} % | "
            + " | ".join(parts)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
