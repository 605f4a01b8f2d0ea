"""Score the research prototype on ../shared/data/voisard_walking by subject.

python -m tools.research.voisard_eval 1,2,3,4,5,6,7,8 [-v]    # the subjects to score
python -m tools.research.voisard_eval 1,2,3,4,5,6,7,8 --misses  # where misses fall
"""

import csv
import glob
import json
import os
from pathlib import Path

import numpy as np

D = str(Path(__file__).resolve().parents[2].parent / "shared" / "data" / "voisard_walking")


def trials():
    return sorted(d for d in glob.glob(D + "/*-*") if os.path.isdir(d))


def load(trial, side):
    a = np.loadtxt(f"{trial}/{side}_shoe.csv", delimiter=",", skiprows=1)
    t = a[:, 0]
    acc = a[:, 1:4]
    gyr = a[:, 4:7]
    return t, acc, gyr


def truth(trial, side):
    rows = list(csv.DictReader(open(f"{trial}/truth.csv")))
    ic = np.array([float(r["t_s"]) for r in rows if r["side"] == side and r["event"] == "ic"])
    to = np.array([float(r["t_s"]) for r in rows if r["side"] == side and r["event"] == "to"])
    return ic, to


def meta(trial):
    return json.load(open(f"{trial}/trial.json"))


import sys

from tools.research import foot_events_proto as proto


def match(truth, det, tol):
    pairs = sorted(
        (abs(d - x), i, j, d - x)
        for i, x in enumerate(truth)
        for j, d in enumerate(det)
        if abs(d - x) <= tol
    )
    ut, ud, errs = set(), set(), []
    for _, i, j, e in pairs:
        if i in ut or j in ud:
            continue
        ut.add(i)
        ud.add(j)
        errs.append(e)
    return errs, ud


def inside(x, wins):
    return any(a <= x <= b for a, b in wins)


def evaluate(subjects, p=proto.P, verbose=False):
    res = {}
    for tr in trials():
        m = meta(tr)
        if m["subject"] not in subjects:
            continue
        for side in ("left", "right"):
            t, acc, gyr = load(tr, side)
            ic, to = truth(tr, side)
            ev, _d = proto.run_file(t, acc, gyr, 100.0, "shoe", p=p)
            cov = m["coverage_s"][side]
            for k, tt in (("ic", ic), ("to", to)):
                det = [x for kk, x, _ in ev if kk == k]
                res.setdefault(k, []).append((m["subject"], tr, side, tt, det, cov))
    out = {}
    for k, rows in res.items():
        # bias from +-100ms matches
        allerr = []
        for *_, tt, det, cov in rows:
            allerr += match(tt, det, 0.1)[0]
        bias = np.median(allerr) if allerr else 0
        per = {}
        nt = nm = nx = 0
        errs = []
        for subj, tr, side, tt, det, cov in rows:
            dd = [x - bias for x in det]
            e, ud = match(tt, dd, 0.05)
            x = sum(1 for j, v in enumerate(dd) if j not in ud and inside(v, cov))
            nt += len(tt)
            nm += len(e)
            nx += x
            errs += e
            s = per.setdefault(subj, [0, 0, 0])
            s[0] += len(tt)
            s[1] += len(e)
            s[2] += x
            if verbose and (len(e) < len(tt) - 1 or x > 1):
                print("  ", k, tr[-5:], side, len(tt), len(e), x)
        ae = np.abs(errs) * 1000
        out[k] = dict(
            bias_ms=bias * 1000,
            recall=nm / nt,
            precision=nm / max(1, nm + nx),
            p95=np.percentile(ae, 95),
            med=np.median(ae),
            per={s: round(v[1] / v[0], 3) for s, v in sorted(per.items())},
        )
    return out


def misses(subj):
    import collections

    cat = collections.Counter()
    tot = collections.Counter()
    extras = collections.Counter()
    for tr in trials():
        m = meta(tr)
        if m["subject"] not in subj:
            continue
        for side in ("left", "right"):
            t, acc, gyr = load(tr, side)
            ic, to = truth(tr, side)
            ev, _d = proto.run_file(t, acc, gyr, 100.0)
            u0, u1 = m["uturn_s"]
            cov = m["coverage_s"][side]
            for kind, tt, b in (("ic", ic, -0.005), ("to", to, -0.03)):
                det = [x - b for k, x, _ in ev if k == kind]
                _e, _ud = match(list(tt), det, 0.05)
                pairs = sorted(
                    (abs(dd - x), i, j)
                    for i, x in enumerate(tt)
                    for j, dd in enumerate(det)
                    if abs(dd - x) <= 0.05
                )
                ut, uu = set(), set()
                for _, i, j in pairs:
                    if i in ut or j in uu:
                        continue
                    ut.add(i)
                    uu.add(j)
                for i, x in enumerate(tt):
                    pos = (
                        "first"
                        if i == 0
                        else "second"
                        if i == 1
                        else "last"
                        if i == len(tt) - 1
                        else "turn"
                        if u0 - 0.7 <= x <= u1 + 0.7
                        else "mid"
                    )
                    tot[(kind, pos)] += 1
                    if i not in ut:
                        cat[(kind, pos)] += 1
                for j, v in enumerate(det):
                    if j not in uu and any(a <= v <= b2 for a, b2 in cov):
                        pos = "turn" if u0 - 0.7 <= v <= u1 + 0.7 else "mid"
                        extras[(kind, pos)] += 1
    for k in sorted(tot):
        print(k, "missed", cat[k], "of", tot[k])
    print("extras", dict(extras))


if __name__ == "__main__":
    if not os.path.isdir(D):
        sys.exit(f"{D} is absent: nothing to score")
    if "--misses" in sys.argv:
        misses([int(x) for x in sys.argv[1].split(",")])
        sys.exit(0)
    subj = [int(x) for x in sys.argv[1].split(",")]
    for k, v in evaluate(subj, verbose="-v" in sys.argv).items():
        print(k, {a: (round(b, 4) if isinstance(b, float) else b) for a, b in v.items()})
