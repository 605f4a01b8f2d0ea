"""Watch files in (sensorhub/library/activity.py): real FIT files written with fit-tool,
GPX and TCX text, damaged ones, and matching a file to its session."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fit_tool.fit_file_builder import FitFileBuilder  # type: ignore[import-untyped]
from fit_tool.profile.messages.event_message import EventMessage  # type: ignore[import-untyped]
from fit_tool.profile.messages.file_id_message import FileIdMessage  # type: ignore[import-untyped]
from fit_tool.profile.messages.record_message import RecordMessage  # type: ignore[import-untyped]
from fit_tool.profile.profile_type import Event, EventType, FileType, Manufacturer  # type: ignore[import-untyped]

from sensorhub.errors import LibraryError
from sensorhub.library import activity as act
from tests.fuzzing import mutated

#: A metre northwards in degrees of latitude (on activity.EARTH_RADIUS_M's sphere).
M_LAT = 180.0 / (math.pi * act.EARTH_RADIUS_M)
LAT0, LON0 = 52.0, 5.0


# ---------------------------------------------------------------------------- files
def watch_fit(
    start_unix: int,
    n: int,
    speed: float = 3.0,
    *,
    with_speed: bool = True,
    with_distance: bool = True,
    with_position: bool = True,
    heart_rate: int | None = 150,
    file_type: Any = FileType.ACTIVITY,
) -> bytes:
    """A watch's FIT activity: ``n`` records a second apart from ``start_unix``, running
    north at ``speed`` m/s, written with fit-tool as a watch writes one."""
    b = FitFileBuilder(auto_define=True)
    m = FileIdMessage()
    m.type = file_type
    m.manufacturer = Manufacturer.GARMIN.value
    m.product = 3113
    m.serial_number = 3_990_001
    m.time_created = start_unix * 1000
    b.add(m)
    ev = EventMessage()
    ev.event, ev.event_type, ev.timestamp = Event.TIMER, EventType.START, start_unix * 1000
    b.add(ev)
    for i in range(n):
        r = RecordMessage()
        r.timestamp = (start_unix + i) * 1000
        if with_position:
            r.position_lat = LAT0 + speed * i * M_LAT
            r.position_long = LON0
            r.enhanced_altitude = 12.0
        if with_distance:
            r.distance = speed * i
        if with_speed:
            r.enhanced_speed = speed
        if heart_rate is not None:
            r.heart_rate = heart_rate + i % 5
        b.add(r)
    ev = EventMessage()
    ev.event, ev.event_type = Event.TIMER, EventType.STOP_ALL
    ev.timestamp = (start_unix + n) * 1000
    b.add(ev)
    return bytes(b.build_bytes())


def _iso(unix: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def watch_gpx(start_unix: int, n: int, speed: float = 3.0, heart_rate: int | None = 150) -> bytes:
    """A GPX 1.1 track as Strava writes one: positions, elevation, time, gpxtpx hr/cad;
    no speed, no distance."""
    pts = []
    for i in range(n):
        ext = (
            "<extensions><gpxtpx:TrackPointExtension>"
            f"<gpxtpx:hr>{heart_rate + i % 5}</gpxtpx:hr><gpxtpx:cad>85</gpxtpx:cad>"
            "</gpxtpx:TrackPointExtension></extensions>"
            if heart_rate is not None
            else ""
        )
        pts.append(
            f'<trkpt lat="{LAT0 + speed * i * M_LAT:.8f}" lon="{LON0:.8f}"><ele>12.0</ele>'
            f"<time>{_iso(start_unix + i)}</time>{ext}</trkpt>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<gpx creator="StravaGPX" version="1.1" xmlns="http://www.topografix.com/GPX/1/1" '
        'xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v1">'
        f"<metadata><time>{_iso(start_unix)}</time></metadata>"
        "<trk><name>Morning Run</name><type>running</type><trkseg>"
        + "".join(pts)
        + "</trkseg></trk></gpx>"
    ).encode()


def watch_tcx(start_unix: int, n: int, speed: float = 3.0) -> bytes:
    """A TCX activity as Garmin Connect exports one: distance, HR, TPX Speed, RunCadence."""
    pts = "".join(
        f"<Trackpoint><Time>{_iso(start_unix + i)}</Time>"
        f"<Position><LatitudeDegrees>{LAT0 + speed * i * M_LAT:.8f}</LatitudeDegrees>"
        f"<LongitudeDegrees>{LON0}</LongitudeDegrees></Position>"
        f"<AltitudeMeters>12.0</AltitudeMeters><DistanceMeters>{speed * i:.2f}</DistanceMeters>"
        f"<HeartRateBpm><Value>{150 + i % 5}</Value></HeartRateBpm>"
        f"<Extensions><ns3:TPX><ns3:Speed>{speed}</ns3:Speed><ns3:RunCadence>86</ns3:RunCadence>"
        "</ns3:TPX></Extensions></Trackpoint>"
        for i in range(n)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<TrainingCenterDatabase xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2"'
        ' xmlns:ns3="http://www.garmin.com/xmlschemas/ActivityExtension/v2">'
        f'<Activities><Activity Sport="Running"><Id>{_iso(start_unix)}</Id>'
        f'<Lap StartTime="{_iso(start_unix)}"><TotalTimeSeconds>{n}</TotalTimeSeconds>'
        f"<DistanceMeters>{speed * n}</DistanceMeters><Calories>0</Calories>"
        "<Intensity>Active</Intensity><TriggerMethod>Manual</TriggerMethod>"
        f"<Track>{pts}</Track></Lap></Activity></Activities></TrainingCenterDatabase>"
    ).encode()


T0 = 1_760_000_000  # a whole second, 2025-10-09


# ---------------------------------------------------------------------------- parsing
def test_fit_from_a_watch_reads_back_point_by_point() -> None:
    a = act.parse_activity(watch_fit(T0, 120, 3.2), "fit", "run.fit")
    assert a.kind == "fit" and a.speed_from == "file"
    assert len(a.points) == 120
    assert a.start_unix == T0 and a.end_unix == T0 + 119
    p = a.points[10]
    assert p.speed_m_s == pytest.approx(3.2, abs=1e-3)
    assert p.distance_m == pytest.approx(32.0, abs=0.01)
    assert p.heart_rate_bpm == 150
    assert p.lat_deg == pytest.approx(LAT0 + 32.0 * M_LAT, abs=1e-6)  # semicircles to degrees
    assert p.lon_deg == pytest.approx(LON0, abs=1e-6)
    assert p.altitude_m == pytest.approx(12.0, abs=0.2)


def test_speed_from_distance_then_from_gps_when_the_file_has_none() -> None:
    by_dist = act.parse_activity(watch_fit(T0, 60, 3.5, with_speed=False), "fit", "a.fit")
    assert by_dist.speed_from == "distance"
    inner = [p.speed_m_s for p in by_dist.points[3:-3]]
    assert all(v == pytest.approx(3.5, abs=0.01) for v in inner)

    by_gps = act.parse_activity(
        watch_fit(T0, 60, 3.5, with_speed=False, with_distance=False), "fit", "b.fit"
    )
    assert by_gps.speed_from == "gps"
    assert by_gps.points[-1].distance_m == pytest.approx(3.5 * 59, rel=2e-3)  # haversine
    assert all(p.speed_m_s == pytest.approx(3.5, rel=5e-3) for p in by_gps.points[6:-6])

    neither = act.parse_activity(
        watch_fit(T0, 30, with_speed=False, with_distance=False, with_position=False), "fit", "c"
    )
    assert neither.speed_from == "none"
    assert neither.has("heart_rate_bpm") and not neither.has("speed_m_s")


def test_gps_speed_is_smoothed_over_jitter() -> None:
    rng = np.random.default_rng(3)
    pts = [
        act.Point(
            T0 + i,
            LAT0 + (3.0 * i + rng.normal(0, 2.0)) * M_LAT,
            LON0,
        )
        for i in range(300)
    ]
    done, how = act.complete(pts)
    assert how == "gps"
    v = np.array([p.speed_m_s for p in done[10:-10]], float)
    raw = np.abs(np.diff([p.lat_deg for p in pts])) / M_LAT  # point-to-point: very noisy
    assert np.std(raw) > 2.0
    assert abs(np.median(v) - 3.0) < 0.1 and np.std(v) < 0.5


def test_gpx_as_strava_writes_it() -> None:
    a = act.parse_activity(watch_gpx(T0, 90, 2.8), "gpx", "run.gpx")
    assert a.kind == "gpx" and a.speed_from == "gps" and len(a.points) == 90
    assert a.points[5].heart_rate_bpm == 150
    assert a.points[5].altitude_m == 12.0
    assert a.points[45].speed_m_s == pytest.approx(2.8, rel=5e-3)
    assert a.points[-1].distance_m == pytest.approx(2.8 * 89, rel=2e-3)


def test_gpx_1_0_and_extension_speed_and_points_without_time() -> None:
    gpx = (
        b'<gpx version="1.0" xmlns="http://www.topografix.com/GPX/1/0"><trk><trkseg>'
        b'<trkpt lat="52.0" lon="5.0"><ele>3</ele></trkpt>'  # no time: left out
        b'<trkpt lat="52.0" lon="5.0"><time>2025-10-09T08:53:20Z</time>'
        b"<extensions><ns3:TrackPointExtension xmlns:ns3="
        b'"http://www.garmin.com/xmlschemas/TrackPointExtension/v2">'
        b"<ns3:speed>2.5</ns3:speed><ns3:hr>140</ns3:hr></ns3:TrackPointExtension></extensions>"
        b"</trkpt>"
        b'<trkpt lat="52.00002" lon="5.0"><time>2025-10-09T10:53:21.500+02:00</time></trkpt>'
        b"</trkseg></trk></gpx>"
    )
    a = act.parse_activity(gpx, "gpx", "old.gpx")
    assert [p.unix_s for p in a.points] == [T0, T0 + 1.5]
    assert a.speed_from == "file" and a.points[0].speed_m_s == 2.5
    assert a.points[0].heart_rate_bpm == 140


def test_tcx_as_garmin_connect_exports_it() -> None:
    a = act.parse_activity(watch_tcx(T0, 40, 3.1), "tcx", "run.tcx")
    assert a.kind == "tcx" and a.speed_from == "file" and len(a.points) == 40
    p = a.points[20]
    assert p.speed_m_s == 3.1 and p.distance_m == pytest.approx(62.0)
    assert p.heart_rate_bpm == 150 and p.altitude_m == 12.0
    assert p.lat_deg == pytest.approx(LAT0 + 62.0 * M_LAT, abs=1e-7)


def test_parse_time_forms() -> None:
    assert act.parse_time("2025-10-09T08:53:20Z") == T0
    assert act.parse_time("2025-10-09T08:53:20") == T0  # no zone: UTC
    assert act.parse_time("2025-10-09T10:53:20+02:00") == T0
    assert act.parse_time(" 2025-10-09T08:53:20.123456789Z ") == pytest.approx(T0 + 0.123457)


def test_implausible_readings_are_missing() -> None:
    a = act.parse_activity(watch_fit(T0, 10, 40.0), "fit", "fast.fit")  # 40 m/s: no run
    assert all(p.speed_m_s is None for p in a.points)
    pts = act.merge_points(
        [act._point(T0 + 1, 0.0, 0.0, hr=300), act._point(T0, 52.0, 5.0, hr=150)]
    )
    assert [p.unix_s for p in pts] == [T0, T0 + 1]
    assert pts[1].lat_deg is None and pts[1].heart_rate_bpm is None  # 0,0 and 300 bpm


# ---------------------------------------------------------------------------- bad files
def _fails(data: bytes, kind: str, *words: str) -> str:
    with pytest.raises(LibraryError) as err:
        act.parse_activity(data, kind, "watch." + kind)
    text = str(err.value)
    assert "\n" not in text and "watch." + kind in text
    for w in words:
        assert w in text, text
    return text


def test_damaged_and_wrong_fit_files_are_one_clear_error() -> None:
    good = watch_fit(T0, 30)
    _fails(good[: len(good) // 2], "fit", "cut short")
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0xFF
    _fails(bytes(flipped), "fit", "damaged")
    _fails(b"\x00" * 100, "fit", "not a FIT file")
    _fails(b"", "fit", "empty")
    _fails(watch_fit(T0, 5, file_type=FileType.COURSE), "fit", "course", "not an activity")
    _fails(watch_fit(T0, 1), "fit", "only one")


def test_bad_gpx_and_tcx_are_one_clear_error() -> None:
    gpx = watch_gpx(T0, 10)
    _fails(gpx[:-40], "gpx", "not a readable GPX")
    _fails(b"<kml></kml>", "gpx", "root element is <kml>")
    _fails(gpx.replace(b'lat="52.0', b'lat="x2.0', 1), "gpx", "point 1", "not a number")
    _fails(gpx.replace(b"</ele><time>", b"</ele><time>yesterday ", 1), "gpx", "not a time")
    _fails(b'<gpx version="1.1"><trk><trkseg></trkseg></trk></gpx>', "gpx", "no timed")
    _fails(watch_tcx(T0, 5).replace(b"<Time>", b"<Time>x", 1), "tcx", "not a time")
    _fails(b"\xff\xfe<TrainingCenterDatabase>", "tcx", "not a readable TCX")


def test_file_suffixes_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "run.kml").write_text("<kml/>")
    with pytest.raises(LibraryError, match=r"\.fit, \.gpx or \.tcx"):
        act.read_activity(tmp_path / "run.kml")
    with pytest.raises(LibraryError, match="cannot read"):
        act.read_activity(tmp_path / "gone.fit")
    (tmp_path / "RUN.FIT").write_bytes(watch_fit(T0, 5))
    assert len(act.read_activity(tmp_path / "RUN.FIT").points) == 5


def test_mutated_fit_files_never_escape_as_anything_but_a_library_error() -> None:
    rng = np.random.default_rng(11)
    seeds = [watch_fit(T0, 20), watch_fit(T0, 8, with_speed=False)]
    ok = 0
    for _ in range(400):
        data = bytes(mutated(rng, seeds, 4, 40))
        try:
            act.parse_activity(data, "fit", "fuzz.fit")
            ok += 1
        except LibraryError as exc:
            assert "\n" not in str(exc)
    assert ok < 40  # almost every edit is caught (CRC, structure)


def test_mutated_gpx_never_escapes_as_anything_but_a_library_error() -> None:
    rng = np.random.default_rng(12)
    seeds = [watch_gpx(T0, 6), watch_tcx(T0, 4)]
    refused = 0
    for k in range(300):
        data = bytes(mutated(rng, seeds, 4, 20))
        try:
            act.parse_activity(data, ("gpx", "tcx")[k % 2], "fuzz.xml")
        except LibraryError as exc:
            assert "\n" not in str(exc)
            refused += 1
    assert refused > 100  # a cut or a stray byte breaks the XML


# ---------------------------------------------------------------------------- matching
def _session(sid: int, start: float, dur: float, runner: str = "ana") -> dict[str, Any]:
    return {"id": sid, "started_unix": start, "duration_s": dur, "runner": runner}


def _activity(start: float, n: int) -> act.WatchActivity:
    return act.parse_activity(watch_fit(int(start), n), "fit", "watch.fit")


def test_the_session_overlapping_most_is_chosen() -> None:
    a = _activity(T0, 600)  # T0 .. T0 + 599
    sessions = [
        _session(1, T0 - 500, 600),  # 100 s overlap
        _session(2, T0 + 100, 1800),  # 499 s
        _session(3, T0 + 50, 3000, runner="bo"),  # longer, but another runner's
    ]
    assert act.choose_session(a, sessions, "ana") == 2
    assert act.choose_session(a, sessions, "bo") == 3
    assert act.check_overlap(a, sessions[0]) == pytest.approx(100.0)


def test_no_overlap_names_the_span_and_the_nearest_session() -> None:
    a = _activity(T0, 600)
    sessions = [_session(4, T0 - 7200, 1800), _session(7, T0 + 3600, 900)]
    with pytest.raises(LibraryError) as err:
        act.choose_session(a, sessions, "ana")
    text = str(err.value)
    assert act.describe_span(T0, T0 + 599) in text
    assert "nearest is session 7" in text and "50 min after" in text and "--session" in text
    with pytest.raises(LibraryError, match=r"runner 'bo'.*--runner bo or --session 9"):
        act.choose_session(a, [_session(9, T0, 60, runner="bo")], "ana")
    with pytest.raises(LibraryError, match="no sessions"):
        act.choose_session(a, [], "ana")
    with pytest.raises(LibraryError, match="does not overlap session 4"):
        act.check_overlap(a, sessions[0])


# ---------------------------------------------------------------------------- merging
def test_track_rows_are_on_the_session_axis_with_interpolated_ends() -> None:
    a = act.parse_activity(watch_fit(T0, 200, 3.0), "fit", "w.fit")  # T0 .. T0 + 199
    start, dur = T0 + 50.5, 100.0  # the session: inside the activity
    rows, covered = act.track_rows(a, start, dur)
    t = [r[0] for r in rows]
    assert t[0] == 0.0 and t[-1] == 100.0 and len(rows) == 100 + 2  # 51..150 and both ends
    assert all(r[1] == "watch" for r in rows)
    assert rows[0][3] == 0.0  # distance from the session start
    assert rows[-1][3] == pytest.approx(300.0, abs=0.01)
    assert covered == pytest.approx(300.0, abs=0.01)
    assert rows[1][0] == pytest.approx(0.5) and rows[1][3] == pytest.approx(1.5, abs=0.01)
    assert all(r[2] == pytest.approx(3.0) and r[4] is not None for r in rows)
    assert rows[10][5] == pytest.approx(LAT0 + (60.0 * 3.0) * M_LAT, abs=1e-7)


def test_track_rows_of_an_activity_that_starts_late_and_of_speed_alone() -> None:
    a = act.parse_activity(watch_fit(T0, 61, 2.0), "fit", "w.fit")
    rows, covered = act.track_rows(a, T0 - 30.0, 60.0)  # the watch started 30 s in
    assert rows[0][0] == 30.0 and rows[-1][0] == 60.0 and rows[0][3] == 0.0
    assert covered == pytest.approx(60.0, abs=0.01)
    only_speed = act.parse_activity(
        watch_fit(T0, 61, 2.0, with_distance=False, with_position=False), "fit", "w.fit"
    )
    rows, covered = act.track_rows(only_speed, T0, 60.0)
    assert all(r[3] is None for r in rows) and covered == pytest.approx(120.0)
    none = act.parse_activity(
        watch_fit(T0, 61, with_speed=False, with_distance=False, with_position=False), "fit", "w"
    )
    assert act.track_rows(none, T0, 60.0)[1] is None
