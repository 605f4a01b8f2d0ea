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
