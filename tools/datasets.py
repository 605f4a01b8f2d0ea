"""Turn the real recordings in ../shared/data into sessions plus truth files.

    python -m tools.datasets OUT_DIR [--data ../shared/data]

* gaitmap walking (both shoes, 6-axis, 204.8 Hz): the stride list's ``ic`` and ``tc``
  (motion capture) become ``ic`` and ``to`` truth rows.
* adeptdata running (left ankle, accelerometer only, 100 Hz): no events; a session
  only (its cadence reference is the 154-162 steps/min range, checked by tools.accuracy).
* Alcantara running: a sacrum (trunk) sensor with force-plate contacts.  sensorhub has
  no trunk mounting, so it is not converted (see docs/accuracy.md).

The files stay outside the repository.  Without the data folder this says so and exits 0.
"""

from __future__ import annotations

import argparse
import csv
import sys
from dataclasses import dataclass
from pathlib import Path

from sensorhub.importer import CsvSensor, import_csv
from sensorhub.types import Mounting, Side

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
GAITMAP_RATE_HZ = 204.8


@dataclass(frozen=True)
class Converted:
    name: str
    session: Path
    truth: Path | None


def data_dir(path: Path | None = None) -> Path | None:
    """The shared data folder, or None (with a message on stderr) when it is absent."""
    d = path or DEFAULT_DATA
    if not d.is_dir():
        print(f"real recordings not found at {d}: skipping the real-data part", file=sys.stderr)
        return None
    return d


def gaitmap(data: Path, out: Path) -> Converted:
    src = data / "gaitmap_walking"
    session = out / "gaitmap_walking.shs"
    truth = out / "gaitmap_walking.truth.csv"
    sensors = [
        CsvSensor(
            (f"{s}_sensor.acc_x", f"{s}_sensor.acc_y", f"{s}_sensor.acc_z"),
            (f"{s}_sensor.gyr_x", f"{s}_sensor.gyr_y", f"{s}_sensor.gyr_z"),
            Side[s.upper()],
            Mounting.SHOE,
            name=f"gaitmap-{s}",
        )
        for s in ("left", "right")
    ]
    session.unlink(missing_ok=True)
    import_csv(
        src / "imu_sample.csv",
        session,
        sensors,
        acc_units="m/s2",
        gyro_units="dps",
        rate_hz=GAITMAP_RATE_HZ,
        header_rows=2,
    )
    rows = []
    with open(src / "stride_events_sample.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            rows.append((float(r["ic"]) / GAITMAP_RATE_HZ, r["foot"], "ic"))
            rows.append((float(r["tc"]) / GAITMAP_RATE_HZ, r["foot"], "to"))
    rows.sort()
    with open(truth, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["t_s", "side", "event", "value", "strike"])
        for t, side, ev in rows:
            w.writerow([f"{t:.6f}", side, ev, "", ""])
    return Converted("gaitmap_walking", session, truth)


def adeptdata(data: Path, out: Path) -> Converted:
    session = out / "adeptdata_running.shs"
    session.unlink(missing_ok=True)
    import_csv(
        data / "adeptdata_running" / "acc_running_left_ankle.csv",
        session,
        [CsvSensor(("x", "y", "z"), None, Side.LEFT, Mounting.SHOE, name="adept-ankle")],
        acc_units="g",
        time_column="date_time",
        time_units="datetime",
    )
    return Converted("adeptdata_running", session, None)


#: voisard_walking subjects the detector's settings were tuned on; the others are held out
VOISARD_TUNED = frozenset(range(1, 9))


STEP_KINDS = ("straight", "turn", "first of a walk", "last of a walk")


def step_kind(ic_s: float, same_foot_ics_s: list[float], uturn_s: tuple[float, float]) -> str:
    """What kind of step a voisard reference contact is: the first or the last of a walk
    (no contact of that foot within 1.6 s before / after; a lone step is a last one), a
    step within 1 s of the U-turn, or straight walking."""
    if not any(0 < x - ic_s < 1.6 for x in same_foot_ics_s):
        return "last of a walk"
    if not any(0 < ic_s - x < 1.6 for x in same_foot_ics_s):
        return "first of a walk"
    return "turn" if uturn_s[0] - 1 <= ic_s <= uturn_s[1] + 1 else "straight"


@dataclass(frozen=True)
class Trial:
    """One voisard_walking trial as a session (both feet), its truth and coverage."""

    name: str
    subject: int
    session: Path
    truth: Path
    coverage: dict[str, list[tuple[float, float]]]
    uturn_s: tuple[float, float]


def voisard(data: Path, out: Path) -> list[Trial]:
    """Every trial of ``voisard_walking``: both foot CSVs imported into one session, placed
    by their time column (dropped packets become gaps), as ``import-csv`` does."""
    import json

    from sensorhub.importer import CsvFile

    trials = []
    for d in sorted((data / "voisard_walking").glob("*-*")):
        if not (d / "truth.csv").is_file():
            continue
        meta = json.loads((d / "trial.json").read_text())
        session = out / f"voisard_{d.name}.shs"
        session.unlink(missing_ok=True)
        files = [
            CsvFile(
                d / f"{side}_shoe.csv",
                [
                    CsvSensor(
                        ("acc_x_g", "acc_y_g", "acc_z_g"),
                        ("gyr_x_dps", "gyr_y_dps", "gyr_z_dps"),
                        Side[side.upper()],
                        Mounting.SHOE,
                        name=f"voisard-{d.name}-{side}",
                    )
                ],
            )
            for side in ("left", "right")
        ]
        import_csv(files, session, acc_units="g", gyro_units="dps", time_column="t_s")
        cov = {k: [(float(a), float(b)) for a, b in v] for k, v in meta["coverage_s"].items()}
        uturn = (float(meta["uturn_s"][0]), float(meta["uturn_s"][1]))
        trials.append(Trial(d.name, int(meta["subject"]), session, d / "truth.csv", cov, uturn))
    return trials


def convert_all(out: Path, data: Path | None = None) -> list[Converted]:
    d = data_dir(data)
    if d is None:
        return []
    out.mkdir(parents=True, exist_ok=True)
    return [gaitmap(d, out), adeptdata(d, out)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--data", type=Path)
    args = ap.parse_args()
    for c in convert_all(args.out, args.data):
        print(f"{c.name}: {c.session}" + (f" + {c.truth}" if c.truth else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
