"""CSV import: real data sets (when present), units, and user mistakes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from sensorhub.errors import ImportFailed
from sensorhub.importer import CsvSensor, ImportResult, import_csv
from sensorhub.inspect import session_report
from sensorhub.protocol import codec, spec
from sensorhub.protocol.codec import DataPacket
from sensorhub.recording import SessionReader
from sensorhub.types import Mounting, Side

LEFT = CsvSensor(("ax", "ay", "az"), ("gx", "gy", "gz"), Side.LEFT, Mounting.SHOE)


def write_csv(
    path: Path,
    n: int = 2000,
    rate: float = 200.0,
    acc_scale: float = 1.0,
    gyro_scale: float = 1.0,
    header: str = "t,ax,ay,az,gx,gy,gz",
) -> np.ndarray:
    t = np.arange(n) / rate
    acc = np.column_stack(
        [0.3 * np.sin(2 * np.pi * 1.4 * t), 0.1 * np.cos(t), 1 + 0.8 * np.sin(2 * np.pi * 2.8 * t)]
    )
    gyr = np.column_stack([20 * np.sin(t), 400 * np.sin(2 * np.pi * 1.4 * t), 5 * np.cos(t)])
    data = np.column_stack([t, acc * acc_scale, gyr * gyro_scale])
    np.savetxt(path, data, delimiter=",", header=header, comments="", fmt="%.6f")
    return data


def samples_of(path: Path) -> np.ndarray:
    blocks = []
    for rec in SessionReader(path).records():
        msg, _ = codec.decode(rec.data)
        assert isinstance(msg, DataPacket)
        blocks.append(msg.samples)
    return np.concatenate(blocks)


def test_values_survive_within_one_lsb(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    data = write_csv(src, acc_scale=9.80665, gyro_scale=math.pi / 180)
    out = tmp_path / "o.shs"
    res = import_csv(src, out, [LEFT], acc_units="m/s2", gyro_units="rad/s", time_column="t")
    assert res.rate_hz == pytest.approx(200.0)
    s = samples_of(out).astype(float)
    assert len(s) == 2000
    acc_g = s[:, :3] * spec.acc_scale_g(16)
    gyr = s[:, 3:] * spec.gyro_scale_dps(2000)
    assert np.max(np.abs(acc_g - data[:, 1:4] / 9.80665)) <= spec.acc_scale_g(16)
    assert np.max(np.abs(gyr - data[:, 4:] * 180 / math.pi)) <= spec.gyro_scale_dps(2000)
    info = SessionReader(out).sensors[0].info
    assert info.odr_hz == pytest.approx(200.0) and info.side == Side.LEFT


@pytest.mark.parametrize(
    ("kwargs", "csv_kw", "message"),
    [
        ({"acc_units": "g", "rate_hz": 200}, {"acc_scale": 9.80665}, "these look like m/s2"),
        ({"acc_units": "m/s2", "rate_hz": 200}, {}, "these look like g"),
        (
            {"acc_units": "g", "rate_hz": 200},
            {"gyro_scale": math.pi / 180},
            "these look like rad/s",
        ),
        ({"acc_units": "g", "rate_hz": 200, "gyro_units": "rad/s"}, {}, "these look like deg/s"),
        ({"acc_units": "g"}, {}, "give either --rate HZ or --time-column NAME"),
        ({"acc_units": "g", "rate_hz": 200, "time_column": "t"}, {}, "exactly one"),
        ({"acc_units": "furlongs", "rate_hz": 200}, {}, "use g or m/s2"),
        # issue 11, defect 4: a rate the signal core refuses is refused here, not in replay
        ({"acc_units": "g", "rate_hz": 20}, {}, "--rate gives a sampling rate of 20 Hz"),
        ({"acc_units": "g", "rate_hz": 5000}, {}, "the signal core takes 100-1600 Hz"),
        (
            {"acc_units": "g", "rate_hz": 200},
            {"header": "t,ax,ay,AZ,gx,gy,gz"},
            "column 'az' not found in in.csv",
        ),
    ],
)
def test_user_mistakes(tmp_path: Path, kwargs: dict, csv_kw: dict, message: str) -> None:
    src = tmp_path / "in.csv"
    write_csv(src, **csv_kw)
    out = tmp_path / "o.shs"
    with pytest.raises(ImportFailed, match=message):
        import_csv(src, out, [LEFT], **kwargs)
    assert not out.exists()


ACC_ONLY = CsvSensor(("ax", "ay", "az"), None, Side.LEFT, Mounting.SHOE)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "t,ax,ay,az\n0,0,0,1\n0.01,0,zero,1\n",
            r"data row 2, column 'ay': 'zero' is not a number",
        ),
        ("t,ax,ay,az\n0,0,0,1\n0.02,0,0,1\n0.01,0,0,1\n", "times go backwards at data row 3"),
        ("t,ax,ay,az\n0,0,0,1\n0,0,0,1\n", "every row has the same time"),
        ("t,ax,ay,az\n0,0,0,1\n0.01,0,0\n", "data row 2 has no value for 'az'"),
        ("t,ax,ay,az\n", "has a header but no data rows"),
    ],
)
def test_bad_rows(tmp_path: Path, text: str, message: str) -> None:
    src = tmp_path / "in.csv"
    src.write_text(text)
    with pytest.raises(ImportFailed, match=message):
        import_csv(
            src, tmp_path / "o.shs", [ACC_ONLY], acc_units="g", time_column="t", check_units=False
        )


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImportFailed, match="no such file"):
        import_csv(tmp_path / "nope.csv", tmp_path / "o.shs", [LEFT], acc_units="g", rate_hz=100)


def test_gaitmap_walking_both_feet(tmp_path: Path, shared_data: Path) -> None:
    src = shared_data / "gaitmap_walking" / "imu_sample.csv"
    sensors = [
        CsvSensor(
            tuple(f"{s}_sensor.acc_{a}" for a in "xyz"),  # type: ignore[arg-type]
            tuple(f"{s}_sensor.gyr_{a}" for a in "xyz"),  # type: ignore[arg-type]
            Side[s.upper()],
            Mounting.SHOE,
        )
        for s in ("left", "right")
    ]
    out = tmp_path / "gaitmap.shs"
    res = import_csv(
        src, out, sensors, acc_units="m/s2", gyro_units="dps", rate_hz=204.8, header_rows=2
    )
    assert res.sensors == 2 and res.duration_s == pytest.approx(38.7, abs=0.1)
    rep = session_report(SessionReader(out))
    assert [s["samples"] for s in rep["sensors"]] == [res.samples // 2] * 2
    assert all(s["missing_samples"] == 0 for s in rep["sensors"])


def test_adeptdata_running_accelerometer_only(tmp_path: Path, shared_data: Path) -> None:
    src = shared_data / "adeptdata_running" / "acc_running_left_ankle.csv"
    out = tmp_path / "adept.shs"
    res = import_csv(
        src,
        out,
        [CsvSensor(("x", "y", "z"), None, Side.LEFT, Mounting.SHOE)],
        acc_units="g",
        time_column="date_time",
        time_units="datetime",
    )
    assert res.rate_hz == pytest.approx(100.0, rel=1e-3)
    assert res.duration_s == pytest.approx(1500, abs=1)
    r = SessionReader(out)
    first, _ = codec.decode(next(iter(r.records())).data)
    assert (
        isinstance(first, DataPacket) and not first.has_gyro and first.count == spec.MAX_SAMPLES_ACC
    )


def import_timed(src: Path, out: Path) -> ImportResult:
    """``src`` (6 axes of the left shoe, times in column t, in s) into ``out``."""
    return import_csv(src, out, [LEFT], acc_units="g", time_column="t", check_units=False)


def write_rows(path: Path, t: np.ndarray, seed: int = 0) -> np.ndarray:
    """A 6-axis CSV stamped ``t`` (seconds); returns the rows written."""
    rng = np.random.default_rng(seed)
    acc = np.column_stack([0.2 * rng.standard_normal(len(t)) for _ in range(2)] + [1 + 0.0 * t])
    gyr = 100 * rng.standard_normal((len(t), 3))
    data = np.column_stack([t, acc, gyr])
    np.savetxt(path, data, delimiter=",", header="t,ax,ay,az,gx,gy,gz", comments="", fmt="%.6f")
    return data


def indexed_samples(path: Path, sensor: int = 0) -> dict[int, np.ndarray]:
    """Sample index -> raw sample, from the packets of one sensor."""
    out: dict[int, np.ndarray] = {}
    for rec in SessionReader(path).records():
        msg, _ = codec.decode(rec.data)
        if isinstance(msg, DataPacket) and rec.sensor == sensor:
            for k, row in enumerate(msg.samples):
                out[msg.first_index + k] = np.asarray(row)
    return out


def test_samples_are_placed_by_their_time(tmp_path: Path) -> None:
    """Issue 10: gaps in a time column become missing samples at the right index (they
    were spliced over), and ``info`` reports them."""
    t_all = np.arange(3000) / 100.0
    drop = np.zeros(3000, bool)
    drop[[100, 101, 102, 700, 1500]] = True
    drop[2000:2040] = True  # a 0.4 s outage
    t = t_all[~drop]
    data = write_rows(tmp_path / "in.csv", t)
    out = tmp_path / "o.shs"
    res = import_csv(
        tmp_path / "in.csv", out, [LEFT], acc_units="g", time_column="t", check_units=False
    )
    assert res.missing_samples == int(drop.sum()) == 45
    got = indexed_samples(out)
    assert sorted(got) == list(np.flatnonzero(~drop))
    lsb = spec.acc_scale_g(16)
    for row_k, k in enumerate(np.flatnonzero(~drop)):
        if row_k % 97 == 0:
            assert np.allclose(got[int(k)][:3] * lsb, data[row_k, 1:4], atol=lsb)
    rep = session_report(SessionReader(out))
    s = rep["sensors"][0]
    assert s["missing_samples"] == 45 and s["gaps"] == 4
    assert s["samples"] == 3000 - 45


def test_duplicates_are_dropped_and_counted(tmp_path: Path) -> None:
    t = np.arange(1000) / 200.0
    t = np.sort(np.concatenate([t, t[[10, 500, 501]]]))
    write_rows(tmp_path / "in.csv", t)
    res = import_timed(tmp_path / "in.csv", tmp_path / "o.shs")
    assert res.duplicates_dropped == 3 and res.missing_samples == 0
    assert sorted(indexed_samples(tmp_path / "o.shs")) == list(range(1000))


def test_rate_comes_from_the_whole_time_column(tmp_path: Path) -> None:
    """128 Hz stamped to the millisecond is 128 Hz, not the 1/median-step 128.2 Hz."""
    t = np.round(np.arange(5000) / 128.0, 3)
    write_rows(tmp_path / "in.csv", t)
    res = import_timed(tmp_path / "in.csv", tmp_path / "o.shs")
    assert res.rate_hz == 128.0 and res.missing_samples == 0 and res.duplicates_dropped == 0
    assert SessionReader(tmp_path / "o.shs").sensors[0].info.odr_hz == 128.0


def test_a_time_column_in_ms_read_as_seconds_is_refused(tmp_path: Path) -> None:
    """Issue 11, defect 4: milliseconds declared as seconds imported at 0.20 Hz."""
    write_rows(tmp_path / "in.csv", np.arange(1000) * 5.0)  # 200 Hz, stamped in ms
    with pytest.raises(ImportFailed, match=r"0\.2 Hz.*give --time-units ms"):
        import_timed(tmp_path / "in.csv", tmp_path / "o.shs")
    assert not (tmp_path / "o.shs").exists()


def test_cells_that_are_not_finite_numbers_are_counted_per_column(tmp_path: Path) -> None:
    """Issue 11, defect 5: nan/inf cells imported silently (a numpy RuntimeWarning leaked)
    and an all-nan accelerometer became a session with "no damage".  A sample with a
    non-finite cell is missing (a gap at its index, as a live link's), counted per column
    with its first row; a column without any number is refused."""
    import warnings

    t = np.arange(2000) / 100.0
    write_rows(tmp_path / "in.csv", t)
    lines = (tmp_path / "in.csv").read_text().splitlines()
    for row, col, text in ((17, 2, "nan"), (18, 2, "NaN"), (400, 5, "inf"), (1500, 3, "-inf")):
        cells = lines[row].split(",")  # lines[0] is the header: lines[k] is data row k
        cells[col] = text
        lines[row] = ",".join(cells)
    (tmp_path / "in.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "o.shs"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning may leak
        res = import_csv(
            tmp_path / "in.csv", out, [LEFT], acc_units="g", time_column="t", check_units=False
        )
    assert [(x.column, x.cells, x.first_row) for x in res.nonfinite] == [
        ("ay", 2, 17),
        ("az", 1, 1500),
        ("gy", 1, 400),
    ]
    assert res.missing_samples == 4 and res.samples == 1996
    assert sorted(indexed_samples(out)) == sorted(set(range(2000)) - {16, 17, 399, 1499})
    s = session_report(SessionReader(out))["sensors"][0]
    assert s["missing_samples"] == 4 and s["gaps"] == 3

    lines = [lines[0]] + [
        ",".join([c if k != 1 else "nan" for k, c in enumerate(x.split(","))]) for x in lines[1:]
    ]
    (tmp_path / "all.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(ImportFailed, match="column 'ax' has no finite number in any row"):
        import_timed(tmp_path / "all.csv", tmp_path / "all.shs")
    assert not (tmp_path / "all.shs").exists()


def test_one_file_per_sensor_into_one_session(tmp_path: Path) -> None:
    """Several CSV files (one per sensor) import into one session; names are kept whole
    and the session keeps the CSV's time origin."""
    from sensorhub.importer import CsvFile

    write_rows(tmp_path / "subject07_left_foot.csv", 12.5 + np.arange(2000) / 100.0)
    write_rows(tmp_path / "subject07_right_foot.csv", 12.5 + np.arange(1900) / 100.0, seed=1)
    right = CsvSensor(("ax", "ay", "az"), ("gx", "gy", "gz"), Side.RIGHT, Mounting.SHOE)
    out = tmp_path / "o.shs"
    res = import_csv(
        [
            CsvFile(tmp_path / "subject07_left_foot.csv", [LEFT]),
            CsvFile(tmp_path / "subject07_right_foot.csv", [right]),
        ],
        out,
        acc_units="g",
        time_column="t",
        check_units=False,
    )
    assert res.sensors == 2 and res.samples == 3900
    reader = SessionReader(out)
    names = [e.name for e in reader.sensors]
    assert names == ["subject07_left_foot-left", "subject07_right_foot-right"]
    assert [e.info.side for e in reader.sensors] == [Side.LEFT, Side.RIGHT]
    assert reader.header.config["time_origin_s"] == pytest.approx(12.5)
    assert len(indexed_samples(out, 1)) == 1900


@pytest.mark.parametrize("activity", ["walk", "run"])
@pytest.mark.parametrize("mount", [Mounting.SHOE, Mounting.SHIN])
def test_a_128_hz_recording_of_another_make_is_detected_as_well(
    tmp_path: Path, activity: str, mount: Mounting
) -> None:
    """Xsens, Shimmer and APDM sensors record at 100-128 Hz, rates sensorhub's firmware has
    not: the simulator's motion sampled at 128 Hz in an unknown orientation, with sensor
    noise, stamped to the millisecond in a CSV, imported by its time column; every contact
    must be found within 20 ms and none invented (the simulator's own truth)."""
    from firmware_sim.device import random_rotation
    from firmware_sim.gait import DEG, G
    from firmware_sim.run import SimulatedRun, default_config
    from sensorhub.evaluation import match
    from sensorhub.events import FootStrike
    from sensorhub.pipeline.session import process_session

    run = SimulatedRun(default_config(activity=activity, mount=mount, duration_s=40, seed=11))
    t = np.arange(0, 40, 1 / 128.0)
    force, rate = run.models[0].signals(t)
    rng = np.random.default_rng(3)
    rot = random_rotation(rng)
    acc = force @ rot / G + rng.standard_normal(force.shape) * 0.01  # g
    gyr = rate @ rot / DEG + rng.standard_normal(rate.shape) * 0.5  # deg/s
    csv = tmp_path / "x128.csv"
    np.savetxt(
        csv,
        np.column_stack([t, acc, gyr]),
        delimiter=",",
        fmt=["%.3f"] + ["%.5f"] * 3 + ["%.3f"] * 3,
        header="t_s,ax,ay,az,gx,gy,gz",
        comments="",
    )
    out = tmp_path / "x128.shs"
    sensor = CsvSensor(("ax", "ay", "az"), ("gx", "gy", "gz"), Side.LEFT, mount)
    res = import_csv(csv, out, [sensor], acc_units="g", time_column="t_s")
    assert res.rate_hz == pytest.approx(128.0)
    found = sorted(e.t for e in process_session(SessionReader(out)) if isinstance(e, FootStrike))
    sch = run.schedule
    truth = sorted(float(x) for x, s in zip(sch.ic, sch.side, strict=True) if s == int(Side.LEFT))
    pairs = match(truth, found, 0.02)
    assert len(truth) > 25
    assert len(pairs) == len(truth) == len(found)
