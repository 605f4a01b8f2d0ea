"""Exports (sensorhub/library/export.py): FIT read back with fitdecode, TCX and GPX read
back as XML and by sensorhub's own watch-file reader, CSV row by row."""

from __future__ import annotations

import csv
import io
import math
from typing import Any
from xml.etree import ElementTree as ET

import fitdecode  # type: ignore[import-untyped]
import numpy as np
import pytest

from sensorhub.errors import LibraryError
from sensorhub.library import activity, export
from sensorhub.library.metrics import Steps
from sensorhub.library.store import STEP_COLUMNS
from sensorhub.library.view import SessionData

START = 1_760_000_000.4  # a session start between two whole seconds
GAP = (40.0, 55.0)  # the runner stands: no steps


def _steps(duration: float) -> list[tuple[Any, ...]]:
    """Steps at about 170 steps/min from 2 s, none while standing (GAP): cadence, contact,
    impact and strike change from step to step, the right foot 12 ms longer on the ground."""
    rows: list[tuple[Any, ...]] = []
    t, i = 2.0, 0
    while t < duration - 0.5:
        if not GAP[0] <= t < GAP[1]:
            side = "left" if i % 2 == 0 else "right"
            rows.append(
                (
                    round(t, 4),
                    side,
                    "L" if side == "left" else "R",
                    None if i == 0 else round(165.0 + 10.0 * math.sin(i / 7.0), 2),
                    None if i == 0 else round(166.0 + 9.0 * math.sin(i / 5.0), 2),
                    220.0 + (12.0 if side == "right" else 0.0) + (i % 9) * 1.37,
                    110.0 + i % 5,
                    10.0 + (i % 11) * 0.5,
                    3000.0 + 10.0 * i,
                    ("rearfoot", "midfoot", "forefoot", None)[i % 4],
                    5.0,
                    None,
                )
            )
            i += 1
        t += 60.0 / 170.0
    return rows


def session(
    duration: float = 120.0, speed: float | None = None, distance: bool = True
) -> SessionData:
    """A synthetic session; with ``speed`` a watch track (1 Hz) runs north at it."""
    rows = _steps(duration)
    track: list[dict[str, Any]] = []
    if speed is not None:
        track = [
            {
                "t_s": k - 0.4,
                "source": "watch",
                "speed_m_s": speed,
                "distance_m": speed * k if distance else None,
                "heart_rate_bpm": 140.0 + k % 7,
                "lat_deg": 52.0 + speed * k * 180.0 / (math.pi * activity.EARTH_RADIUS_M),
                "lon_deg": 5.0,
                "altitude_m": 12.0,
            }
            for k in range(int(duration) + 2)
        ]
        col = {c: i for i, c in enumerate(STEP_COLUMNS)}
        rows = [tuple(speed if j == col["speed_m_s"] else v for j, v in enumerate(r)) for r in rows]
    steps = Steps.from_rows(rows, STEP_COLUMNS)
    row = {
        "id": 7,
        "uid": "c0ffee00112233445566778899aabbcc",
        "path": "/runs/sensorhub-20251009T085320.shs",
        "state": "indexed",
        "runner": "ana",
        "started_unix": START,
        "duration_s": duration,
        "running_s": duration - (GAP[1] - GAP[0]),
        "steps": len(rows),
        "distance_m": None if speed is None else round(speed * duration, 1),
    }
    changes = [(1.5, "running"), (GAP[0] + 1.0, "standing"), (GAP[1], "running")]
    return SessionData(7, row, steps, [], [], changes, track, None)


def fit_messages(data: bytes) -> list[Any]:
    with fitdecode.FitReader(
        io.BytesIO(data),
        check_crc=fitdecode.CrcCheck.RAISE,
        error_handling=fitdecode.ErrorHandling.RAISE,
    ) as fit:
        return [f for f in fit if f.frame_type == fitdecode.FIT_FRAME_DATA]


def values(msg: Any) -> dict[str, Any]:
    return {f.name: f.value for f in msg.fields}


def latest(steps: Steps, t: float, side: str | None = None) -> int | None:
    """The step a record at ``t`` should carry (written out plainly, as the docs say)."""
    best = None
    for i in range(len(steps)):
        if side is not None and steps.side[i] != side:
            continue
        if steps.t_s[i] <= t and t - steps.t_s[i] <= export.STALE_S:
            best = i if best is None or steps.t_s[i] >= steps.t_s[best] else best
    return best


# ---------------------------------------------------------------------------- FIT
def test_fit_is_an_activity_file_in_the_order_platforms_expect() -> None:
    data = session()
    msgs = fit_messages(export.to_fit(data))
    names = [m.name for m in msgs]
    assert names[0] == "file_id" and values(msgs[0])["type"] == "activity"
    assert names[-3:] == ["lap", "session", "activity"]
    first_rec, last_rec = names.index("record"), len(names) - 1 - names[::-1].index("record")
    events = [(i, values(m)) for i, m in enumerate(msgs) if m.name == "event"]
    assert [(e["event"], e["event_type"]) for _, e in events] == [
        ("timer", "start"),
        ("timer", "stop_all"),
    ]
    assert events[0][0] < first_rec and events[1][0] > last_rec
    assert names.index("developer_data_id") < names.index("field_description") < first_rec
    descriptions = [values(m) for m in msgs if m.name == "field_description"]
    assert [(d["field_name"], d["units"]) for d in descriptions] == [
        (f.name, f.units) for f in export.DEV_FIELDS
    ]
    s = values(msgs[names.index("session")])
    assert s["sport"] == "running" and s["num_laps"] == 1 and s["first_lap_index"] == 0
    assert s["total_elapsed_time"] == pytest.approx(120.0) == s["total_timer_time"]
    assert s["start_time"].timestamp() == math.floor(START)
    a = values(msgs[-1])
    assert a["num_sessions"] == 1 and a["total_timer_time"] == pytest.approx(120.0)
    records = [values(m) for m in msgs if m.name == "record"]
    times = [r["timestamp"].timestamp() for r in records]
    assert times == list(range(math.ceil(START), math.floor(START + 120.0) + 1))


def test_fit_records_carry_the_latest_step_within_fit_resolution() -> None:
    data = session()
    st = data.steps
    records = [values(m) for m in fit_messages(export.to_fit(data)) if m.name == "record"]
    seen_gait, seen_gap = 0, 0
    for r in records:
        t = r["timestamp"].timestamp() - START
        k = latest(st, t)
        if k is None:
            assert r["cadence"] is None and r["stance_time"] is None and r["impact"] is None
            seen_gap += GAP[0] + 3 < t < GAP[1]
            continue
        seen_gait += 1
        if math.isnan(st.cadence_spm[k]):
            assert r["cadence"] is None
        else:
            spm = 2.0 * (r["cadence"] + r["fractional_cadence"])  # FIT: strides/min
            assert spm == pytest.approx(st.cadence_spm[k], abs=1.0 / 128 + 1e-9)
        assert r["stance_time"] == pytest.approx(st.contact_ms[k], abs=0.05 + 1e-9)
        assert r["impact"] == pytest.approx(st.impact_g[k], rel=1e-6)
        assert r["loading_rate"] == pytest.approx(st.loading_rate_g_per_s[k], rel=1e-6)
        assert r["foot_strike"] == export.STRIKE_CODES.get(str(st.strike[k]))
        left, right = latest(st, t, "left"), latest(st, t, "right")
        if left is not None and right is not None:
            lc, rc = st.contact_ms[left], st.contact_ms[right]
            assert r["contact_time_left"] == pytest.approx(lc, rel=1e-6)
            assert r["contact_time_right"] == pytest.approx(rc, rel=1e-6)
            assert r["stance_time_balance"] == pytest.approx(100 * lc / (lc + rc), abs=0.005)
            assert r["stance_time_balance"] < 50.0  # the left foot is the shorter one
    assert seen_gait > 90 and seen_gap >= 10  # standing: nothing carried on


def test_fit_without_a_track_has_no_speed_or_distance_at_all() -> None:
    msgs = fit_messages(export.to_fit(session()))
    for m in msgs:
        if m.name in ("record", "lap", "session"):
            got = set(values(m))
            assert not got & {"speed", "enhanced_speed", "distance", "step_length"}
            assert not got & {"total_distance", "avg_speed", "avg_step_length", "heart_rate"}
            assert not got & {"position_lat", "position_long"}


def test_fit_with_a_watch_track_has_speed_distance_step_length_and_km_laps() -> None:
    data = session(duration=700.0, speed=3.0)
    msgs = fit_messages(export.to_fit(data))
    records = [values(m) for m in msgs if m.name == "record"]
    laps = [values(m) for m in msgs if m.name == "lap"]
    s = values(next(m for m in msgs if m.name == "session"))
    assert s["total_distance"] == pytest.approx(2100.0, abs=0.01)
    assert [lap["lap_trigger"] for lap in laps] == ["distance", "distance", "session_end"]
    assert [lap["message_index"] for lap in laps] == [0, 1, 2]
    assert sum(lap["total_distance"] for lap in laps) == pytest.approx(2100.0, abs=0.1)
    assert all(lap["total_distance"] == pytest.approx(1000.0, abs=3.0) for lap in laps[:2])
    for lap in laps:
        assert lap["avg_speed"] == pytest.approx(
            lap["total_distance"] / lap["total_elapsed_time"], abs=1e-3
        )
        assert lap["avg_heart_rate"] is not None and lap["max_heart_rate"] >= lap["avg_heart_rate"]
    assert laps[1]["start_time"].timestamp() == laps[0]["timestamp"].timestamp()
    d = [r["distance"] for r in records]
    assert d == sorted(d) and d[-1] == pytest.approx(3.0 * (math.floor(START + 700) - START))
    for r in records[10:-10]:
        assert r["enhanced_speed"] == pytest.approx(3.0) and r["heart_rate"] is not None
        assert r["position_lat"] is not None and r["enhanced_altitude"] == pytest.approx(12.0)
        if r["cadence"] is not None:
            spm = 2.0 * (r["cadence"] + r["fractional_cadence"])
            assert r["step_length"] == pytest.approx(3.0 * 60.0 / spm * 1e3, abs=0.5)
        else:
            assert r["step_length"] is None  # standing: no step rate, no step length
    assert s["avg_step_length"] == pytest.approx(2100.0 / len(data.steps) * 1e3, abs=0.1)
    assert s["total_strides"] == round(len(data.steps) / 2)


def test_fractional_cadence_carries_into_whole_strides() -> None:
    assert export._strides(170.0) == (85, 0)
    assert export._strides(171.0) == (85, 64)  # 85.5 strides/min
    assert export._strides(171.999) == (86, 0)  # 85.9995: rounds up to the next stride
    assert export._strides(None) is None and export._strides(float("nan")) is None
    assert export._strides(600.0) is None  # over FIT's 254 strides/min


def test_fit_of_a_session_without_steps_is_still_valid() -> None:
    data = session(duration=20.0)
    data.steps = data.steps.take(np.zeros(len(data.steps), bool))
    msgs = fit_messages(export.to_fit(data))
    records = [values(m) for m in msgs if m.name == "record"]
    assert len(records) == 20 and all(r["cadence"] is None for r in records)
    assert values(next(m for m in msgs if m.name == "session"))["total_strides"] == 0


# ---------------------------------------------------------------------------- TCX, GPX
TCX = "{http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2}"
AX2 = "{http://www.garmin.com/xmlschemas/ActivityExtension/v2}"


def test_tcx_has_trackpoints_with_run_cadence_in_strides_and_the_fit_laps() -> None:
    data = session(duration=700.0, speed=3.0)
    sec = export.seconds(data)
    root = ET.fromstring(export.to_tcx(data, sec))
    act = root.find(f"{TCX}Activities/{TCX}Activity")
    assert act is not None and act.get("Sport") == "Running"
    laps = act.findall(f"{TCX}Lap")
    assert len(laps) == 3
    assert [c.tag.removeprefix(TCX) for c in laps[0]][:6] == [
        "TotalTimeSeconds",
        "DistanceMeters",
        "MaximumSpeed",
        "Calories",
        "AverageHeartRateBpm",
        "MaximumHeartRateBpm",
    ]
    points = [tp for lap in laps for tp in lap.iter(f"{TCX}Trackpoint")]
    assert len(points) == len(sec)
    for tp, spm in zip(points, sec.cadence_spm, strict=True):
        cad = tp.find(f"{TCX}Extensions/{AX2}TPX/{AX2}RunCadence")
        if np.isfinite(spm):
            assert cad is not None and int(cad.text or "") == round(spm / 2)
        else:
            assert cad is None
    back = activity.parse_activity(export.to_tcx(data, sec), "tcx", "back.tcx")
    assert len(back.points) == len(sec)
    assert all(p.speed_m_s == pytest.approx(3.0) for p in back.points)
    assert back.points[100].distance_m == pytest.approx(float(sec.distance_m[100]), abs=0.01)
    assert back.points[100].heart_rate_bpm == round(float(sec.heart_rate_bpm[100]))


def test_tcx_without_a_track_says_distance_0_and_has_no_speed() -> None:
    root = ET.fromstring(export.to_tcx(session()))
    assert [e.text for e in root.iter(f"{TCX}DistanceMeters")] == ["0.00"]
    assert not list(root.iter(f"{AX2}Speed")) and list(root.iter(f"{AX2}RunCadence"))


def test_gpx_needs_positions() -> None:
    with pytest.raises(LibraryError, match=r"no GPS positions.*import-activity"):
        export.to_gpx(session())


def test_gpx_with_positions_reads_back_as_a_watch_file() -> None:
    data = session(duration=300.0, speed=2.5)
    sec = export.seconds(data)
    gpx = export.to_gpx(data, sec)
    ns = "{http://www.topografix.com/GPX/1/1}"
    root = ET.fromstring(gpx)
    pts = list(root.iter(f"{ns}trkpt"))
    assert len(pts) == int(np.sum(np.isfinite(sec.lat_deg))) == len(sec)
    cads = [
        e.text for e in root.iter("{http://www.garmin.com/xmlschemas/TrackPointExtension/v1}cad")
    ]
    assert len(cads) == int(np.sum(np.isfinite(sec.cadence_spm)))
    back = activity.parse_activity(gpx, "gpx", "back.gpx")
    assert back.speed_from == "gps"
    inner = [p.speed_m_s for p in back.points[20:-20] if p.speed_m_s is not None]
    assert np.median(inner) == pytest.approx(2.5, rel=0.01)
    assert back.start_unix == math.ceil(START)


# ---------------------------------------------------------------------------- CSV
def test_csv_has_one_row_per_step_with_units_in_the_header() -> None:
    data = session(duration=120.0, speed=3.0)
    rows = list(csv.DictReader(io.StringIO(export.to_csv(data).decode())))
    assert list(rows[0]) == list(export.CSV_COLUMNS)
    assert len(rows) == len(data.steps)
    st = data.steps
    for r, k in zip(rows, range(len(st)), strict=True):
        assert float(r["t_s"]) == pytest.approx(st.t_s[k], abs=5e-5)
        assert r["side"] == st.side[k] and r["strike"] == st.strike[k]
        assert float(r["contact_ms"]) == pytest.approx(st.contact_ms[k], abs=0.005)
        if math.isnan(st.cadence_spm[k]):
            assert r["cadence_spm"] == ""
        else:
            assert float(r["cadence_spm"]) == pytest.approx(st.cadence_spm[k], abs=0.005)
        rate = st.step_cadence_spm[k] if not math.isnan(st.step_cadence_spm[k]) else None
        if rate:
            assert float(r["step_length_m"]) == pytest.approx(3.0 * 60 / rate, abs=5e-4)
        running = 1.5 <= st.t_s[k] <= GAP[0] + 1.0 or st.t_s[k] >= GAP[1]
        assert r["running"] == str(int(running))
    assert rows[0]["time_utc"].endswith("Z") and rows[0]["time_utc"].startswith("2025-10-09T")
    no_speed = list(csv.DictReader(io.StringIO(export.to_csv(session()).decode())))
    assert {r["speed_m_s"] for r in no_speed} == {""} == {r["step_length_m"] for r in no_speed}


def test_export_names_its_formats() -> None:
    data = session(duration=10.0)
    for fmt in export.FORMATS:
        if fmt != "gpx":
            assert export.export(data, fmt)
    with pytest.raises(LibraryError, match="fit, tcx, gpx, csv"):
        export.export(data, "kml")
    from sensorhub.commands.exports import FORMATS

    assert FORMATS == export.FORMATS
