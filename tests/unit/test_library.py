"""The session library: schema and migrations, writing and reading, the history and load
rules on constructed histories."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sensorhub.errors import LibraryError
from sensorhub.events import Activity, Cadence, Cue, Pace, Step, Summary
from sensorhub.library import history, load, metrics
from sensorhub.library.index import rows_from_events
from sensorhub.library.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    STEP_COLUMNS,
    Library,
    SessionRows,
)
from sensorhub.library.view import load as load_session
from sensorhub.library.view import overview
from sensorhub.recording import SessionHeader

DAY = 86400.0
T0 = time.mktime((2026, 6, 1, 8, 0, 0, 0, 0, -1))  # a Monday morning


def constructed(
    uid: str,
    started: float,
    minutes: float = 30.0,
    distance_km: float | None = None,
    contact: tuple[float, float] = (230.0, 230.0),
    impact: tuple[float, float] = (10.0, 10.0),
    speed: float | None = None,
    cadence: float = 170.0,
    runner: str = "ana",
    shoe: str | None = None,
    seed: int = 0,
) -> SessionRows:
    """A running session of ``minutes`` with steps alternating left/right."""
    rng = np.random.default_rng(seed)
    n = int(minutes * cadence)
    t = np.arange(n) * 60.0 / cadence + 1.0
    steps = []
    for k in range(n):
        side = "left" if k % 2 == 0 else "right"
        i = k % 2
        steps.append(
            (
                round(float(t[k]), 4),
                side,
                f"S-{side}",
                cadence,
                cadence,
                contact[i] + rng.normal(0, 3),
                100.0,
                impact[i] + rng.normal(0, 0.3),
                4000.0,
                "rearfoot",
                12.0,
                speed,
            )
        )
    table = metrics.Steps.from_rows(steps, STEP_COLUMNS)
    end = float(t[-1]) + 1.0
    spans = [(0.5, end)]
    return SessionRows(
        uid=uid,
        session={
            "path": f"/nowhere/{uid}.shs",
            "runner": runner,
            "shoe": shoe,
            "source": "sim",
            "started_unix": started,
            "duration_s": end,
            "running_s": end - 0.5,
            "steps": n,
            "cadence_spm": cadence,
            "contact_ms": float(np.mean(contact)),
            "impact_g": float(np.mean(impact)),
            "contact_si_pct": metrics.symmetry_of(table).get("contact_si_pct"),
            "impact_si_pct": metrics.symmetry_of(table).get("impact_si_pct"),
            "distance_m": None if distance_km is None else distance_km * 1000.0,
            "distance_source": None if distance_km is None else "watch",
            "sensors_json": "[]",
            "summary_json": None,
            "damage": "",
        },
        steps=steps,
        minutes=metrics.minute_rows(table, spans, end),
        cues=[],
        activity=[(0.5, "running")],
        track=[],
    )


@pytest.fixture
def lib(tmp_path: Path) -> Any:
    with Library(tmp_path / "lib") as library:
        yield library


# ---------------------------------------------------------------------- the store
def test_a_session_written_twice_is_one_session(lib: Library) -> None:
    rows = constructed("a", T0, minutes=2)
    sid, new = lib.put(rows)
    sid2, new2 = lib.put(rows)
    assert (sid, new) == (sid2, True) or (sid == sid2 and new and not new2)
    assert sid == sid2 and new and not new2
    assert len(lib.sessions()) == 1
    assert len(lib.rows("steps", ["t_s"], sid)) == len(rows.steps)
    assert lib.check() == "ok" and lib.wal
    for f in lib.folder.iterdir():  # the file, its WAL and shared memory: health data
        assert f.stat().st_mode & 0o077 == 0, f


def test_a_shoe_and_notes_set_afterwards_survive_reindexing(lib: Library) -> None:
    sid, _ = lib.put(constructed("a", T0, minutes=1))
    lib.set_fields(sid, shoe="Pegasus", notes="windy")
    lib.put(constructed("a", T0, minutes=1))
    row = lib.session(sid)
    assert row["shoe"] == "Pegasus" and row["notes"] == "windy"


def test_an_older_schema_is_migrated_and_keeps_its_sessions(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    folder.mkdir()
    db = sqlite3.connect(folder / "library.sqlite")
    db.executescript(MIGRATIONS[0])
    db.execute("PRAGMA user_version = 1")
    db.execute(
        "INSERT INTO sessions (uid, path, state, runner, source, started_unix, sensors_json) "
        "VALUES ('u1', '/x.shs', 'indexed', 'ana', 'sim', 1.0, '[]')"
    )
    db.commit()
    db.close()
    with Library(folder) as lib:
        assert lib.schema_version == SCHEMA_VERSION > 1
        assert [r["uid"] for r in lib.sessions()] == ["u1"]
        lib.put_pain(1, 3, 4, 1, now_unix=2.0)  # a table of the newer schema
        assert lib.pain(1)["after"] == 4


def test_a_newer_schema_is_refused_and_left_alone(tmp_path: Path) -> None:
    folder = tmp_path / "new"
    with Library(folder):
        pass
    db = sqlite3.connect(folder / "library.sqlite")
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    db.commit()
    db.close()
    with pytest.raises(LibraryError, match="newer sensorhub") as err:
        Library(folder)
    assert "update sensorhub" in str(err.value)
    db = sqlite3.connect(folder / "library.sqlite")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 5


def test_a_file_that_is_no_library_is_said_in_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "library.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(LibraryError, match="not a readable session library"):
        Library(folder)


def test_a_held_write_lock_ends_in_a_clear_busy_error(tmp_path: Path) -> None:
    folder = tmp_path / "busy"
    with Library(folder) as a:
        a.db.execute("BEGIN IMMEDIATE")  # another sensorhub in the middle of a write
        with Library(folder, busy_timeout_s=0.2) as b:
            with pytest.raises(LibraryError, match="busy") as err:
                b.put(constructed("x", T0, minutes=1))
            assert "try again" in str(err.value)
            assert len(b.sessions()) == 0  # readers are not blocked meanwhile
        a.db.execute("ROLLBACK")


def test_two_processes_writing_at_once_both_land(tmp_path: Path) -> None:
    folder = tmp_path / "two"
    Library(folder).close()
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parents[2])!r})\n"
        "from tests.unit.test_library import constructed, T0\n"
        "from sensorhub.library.store import Library\n"
        f"lib = Library({str(folder)!r})\n"
        "for k in range(5):\n"
        "    lib.put(constructed(f'{sys.argv[1]}-{k}', T0 + k, minutes=3))\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, w]) for w in ("p", "q")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    with Library(folder) as lib:
        assert sorted(r["uid"] for r in lib.sessions()) == sorted(
            f"{w}-{k}" for w in "pq" for k in range(5)
        )
        assert lib.check() == "ok"
        for r in lib.sessions():
            assert len(lib.rows("steps", ["t_s"], int(r["id"]))) == (3 * 170)


def test_orphans_are_recordings_whose_writer_is_gone(lib: Library) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lib.begin_recording(
        "u-dead", Path("/tmp/dead.shs"), "ana", None, T0, "live", "[]", pid=dead.pid
    )
    lib.begin_recording("u-alive", Path("/tmp/alive.shs"), "ana", None, T0, "live", "[]")
    assert [p for _, p in lib.orphans()] == [Path("/tmp/dead.shs")]
    assert lib.sessions() == []  # being recorded: not listed as a session yet


# ---------------------------------------------------------------------- from events
def test_rows_from_events_join_cadence_speed_cues_and_minutes() -> None:
    events: list[Any] = [Activity(t=0.5, sensor="", side="both", state="running")]
    for k in range(200):
        t = 1.0 + 0.35 * k
        side = "left" if k % 2 == 0 else "right"
        events.append(
            Cadence(
                t=t,
                sensor=side,
                side=side,
                step_cadence_spm=171.0,
                cadence_spm=170.0 + k % 3,
                steps=8,
            )
        )
        events.append(
            Step(
                t=t,
                sensor=side,
                side=side,
                contact_ms=220.0 + 10 * (k % 2),
                impact_g=12.0,
                strike="midfoot",
            )
        )
    for s in range(80):
        events.append(
            Pace(
                t=float(s), sensor="pod", side="unknown", speed_m_s=3.0 + s / 100, cadence_spm=170.0
            )
        )
    events.append(
        Cue(
            t=60.0,
            sensor="",
            side="both",
            cue="metronome",
            playing=True,
            target_spm=178.5,
            gain=1.0,
        )
    )
    events.append(
        Summary(
            t=71.0,
            sensor="",
            side="both",
            duration_s=70.5,
            running_s=70.0,
            steps=200,
            pod_distance_m=250.0,
        )
    )
    rows = rows_from_events(events, SessionHeader(T0, "live"), Path("/x.shs"), "ana", "P")
    assert len(rows.steps) == 200
    col = {c: i for i, c in enumerate(STEP_COLUMNS)}
    assert [r[col["cadence_spm"]] for r in rows.steps[:3]] == [170.0, 171.0, 172.0]
    # speed from the pod's track at each step's time
    s10 = next(r for r in rows.steps if abs(r[col["t_s"]] - 1.0 - 0.35 * 28) < 1e-6)
    assert s10[col["speed_m_s"]] == pytest.approx(3.0 + s10[col["t_s"]] / 100, abs=1e-3)
    assert rows.cues == [(60.0, "metronome", 1, 178.5, 1.0)]
    assert rows.session["distance_m"] == 250.0 and rows.session["distance_source"] == "footpod"
    m0 = rows.minutes[0]
    assert m0[0] == 0 and m0[1] == pytest.approx(59.5) and m0[2] == 169
    assert m0[4] == 220.0 and m0[5] == 230.0  # contact left, right
    assert m0[10] == pytest.approx(100 * 10 / 225, abs=0.01)  # contact SI, right longer


def test_a_step_without_its_cadence_keeps_none() -> None:
    events = [Step(t=1.0, sensor="L", side="left", contact_ms=200.0)]
    rows = rows_from_events(events, SessionHeader(T0, "live"), Path("/x.shs"), "ana", None)
    assert rows.steps[0][STEP_COLUMNS.index("cadence_spm")] is None


# ---------------------------------------------------------------------- load flags
def _history(lib: Library, runs: list[tuple[float, float]]) -> list[int]:
    """Runs as (day, km); 6 min/km."""
    return [
        lib.put(constructed(f"r{k}", T0 + day * DAY, minutes=2, distance_km=km, seed=k))[0]
        for k, (day, km) in enumerate(runs)
    ]


def _kinds(lib: Library, sid: int) -> list[str]:
    return [f.kind for f in load.load_flags(lib, sid)]


def test_a_spike_run_is_flagged_once_and_nothing_else(lib: Library) -> None:
    # three runs a week of 8, 8, 10 km for five weeks, then a 12 km run: 20 % > 10 km
    runs = [(7 * w + d, km) for w in range(5) for d, km in ((0, 8), (2, 8), (4, 10))]
    ids = _history(lib, [*runs, (35, 12.0)])
    kinds = {sid: _kinds(lib, sid) for sid in ids}
    assert kinds.pop(ids[-1]) == ["long_run"]
    assert all(k == [] for k in kinds.values())
    flag = load.load_flags(lib, ids[-1])[0]
    assert "20 % longer" in flag.text and "Frandsen" in flag.source


def test_a_35_pct_two_week_increase_is_flagged_as_a_ramp(lib: Library) -> None:
    # 18 km a week (3 x 6 km) for four weeks, then 4 runs of 6.075 km: no run more than
    # 10 % longer than before, but the last 7 days reach +35 % over the 7 before
    runs = [(7 * w + d, 6.0) for w in range(4) for d in (0, 2, 4)]
    ramp = [(day, 6.075) for day in (28, 29, 30, 32)]
    ids = _history(lib, runs + ramp)
    kinds = {day: _kinds(lib, sid) for (day, _), sid in zip(runs + ramp, ids, strict=True)}
    flagged = {day for day, k in kinds.items() if k}
    assert flagged == {29, 30, 32}  # the rolling 7 days pass +30 % from the second run on
    assert all(kinds[d] == ["distance_ramp"] for d in flagged)
    flag = load.load_flags(lib, ids[-1])[0]
    assert "35 % above" in flag.text and "Nielsen" in flag.source
    assert "suggestive, not conclusive" in flag.strength


def test_a_flag_needs_history_covering_its_window(lib: Library) -> None:
    # a new user's second run is 50 % longer than the first: no history of 30 days to
    # say it is a spike against
    ids = _history(lib, [(0, 6.0), (3, 9.0)])
    assert _kinds(lib, ids[1]) == []


def test_a_steady_build_raises_no_flag(lib: Library) -> None:
    # +5 % a week, long run +5 % a week: inside both thresholds
    runs = []
    for w in range(8):
        f = 1.05**w
        runs += [(7 * w, 5.0 * f), (7 * w + 2, 5.0 * f), (7 * w + 5, 8.0 * f)]
    ids = _history(lib, runs)
    assert [sid for sid in ids if _kinds(lib, sid)] == []


def test_without_distances_runs_are_measured_by_running_time(lib: Library) -> None:
    lib.put(constructed("t0", T0, minutes=20))
    a = lib.put(constructed("t1", T0 + 31 * DAY, minutes=20))[0]
    b = lib.put(constructed("t2", T0 + 33 * DAY, minutes=30))[0]
    assert _kinds(lib, a) == []
    flag = load.load_flags(lib, b)[0]
    assert flag.kind == "long_run" and "running time" in flag.text


def test_trends_sum_weeks_and_show_the_guideline_as_a_guideline(lib: Library) -> None:
    _history(lib, [(0, 5.0), (2, 5.0), (7, 6.0), (9, 7.0)])
    got = load.trends(lib, "ana", weeks=3, now_unix=T0 + 10 * DAY)
    weeks = [w.as_dict() for w in got.weeks]
    assert [len(w["runs"]) for w in weeks] == [0, 2, 2]
    assert weeks[1]["distance_m"] == 10000.0 and weeks[2]["distance_m"] == 13000.0
    assert weeks[2]["change_pct"] == 30.0
    assert weeks[1]["steps"] == 2 * 340
    assert weeks[1]["cumulative_impact_g"] == pytest.approx(2 * 340 * 10.0, rel=0.02)
    assert any("guideline, not evidence" in n for n in got.notes)
    assert any("acute:chronic" in n for n in got.notes)
    assert weeks[1]["form"]["cadence_spm"] == 170.0


# ---------------------------------------------------------------------- limp and pain
def test_asymmetry_beyond_the_runners_own_range_is_a_limp(lib: Library) -> None:
    for k in range(4):  # usual: right contact 1-3 % longer
        lib.put(constructed(f"u{k}", T0 + k * DAY, minutes=3, contact=(230, 233 + k), seed=k))
    within = lib.put(constructed("w", T0 + 5 * DAY, minutes=3, contact=(230, 234)))[0]
    limp = lib.put(constructed("l", T0 + 6 * DAY, minutes=3, contact=(230, 250)))[0]
    assert [f.kind for f in history.context_for(lib, within).flags] == []
    flags = history.context_for(lib, limp).flags
    assert [f.kind for f in flags] == ["limp"]
    assert "your usual range from your previous" in flags[0].text
    assert "physiotherapist" in flags[0].text and "right side higher" in flags[0].text


def test_without_a_usual_range_the_10_pct_band_stands_in(lib: Library) -> None:
    sid = lib.put(constructed("x", T0, minutes=3, impact=(10.0, 11.5)))[0]
    flags = history.context_for(lib, sid).flags
    assert [f.kind for f in flags] == ["limp"] and "10 % band" in flags[0].text
    ok = lib.put(constructed("y", T0 + DAY, minutes=3, impact=(10.0, 10.5)))[0]
    assert history.context_for(lib, ok).flags == []


@pytest.mark.parametrize(
    ("pain", "previous", "verdict"),
    [
        (history.Pain(None, None, None), None, None),
        (history.Pain(4, 5, 1), None, True),
        (history.Pain(4, 5, None), None, True),
        (history.Pain(6, 3, 0), None, False),  # too much during
        (history.Pain(3, 6, 0), None, False),  # too much after
        (history.Pain(3, 4, 4), None, False),  # not settled by the morning
        (history.Pain(3, 4, 4), 4, True),  # ... but no worse than the last time
        (history.Pain(3, 4, 5), 4, False),  # rising
    ],
)
def test_the_pain_monitoring_model(
    pain: history.Pain, previous: int | None, verdict: bool | None
) -> None:
    assert pain.acceptable(previous) is verdict


def test_pain_beyond_the_model_is_a_flag_on_the_session(lib: Library) -> None:
    sid = lib.put(constructed("p", T0, minutes=2))[0]
    lib.put_pain(sid, 7, None, None, now_unix=T0)
    lib.put_pain(sid, None, 3, None, now_unix=T0)  # a later rating keeps the earlier one
    assert lib.pain(sid)["during"] == 7 and lib.pain(sid)["after"] == 3
    flags = history.context_for(lib, sid).flags
    assert [f.kind for f in flags] == ["pain"] and "during 7/10" in flags[0].text


def test_baseline_and_last_week_compare_like_with_like(lib: Library) -> None:
    for k in range(3):
        lib.put(constructed(f"b{k}", T0 + k * DAY, minutes=3, cadence=160.0, speed=3.0))
    # last week at two speeds: only the steps at comparable speed count
    lib.put(constructed("fast", T0 + 20 * DAY, minutes=3, impact=(14, 14), speed=4.0))
    lib.put(constructed("same", T0 + 21 * DAY, minutes=3, impact=(12.5, 12.5), speed=3.05))
    sid = lib.put(
        constructed("now", T0 + 24 * DAY, minutes=3, cadence=168.0, impact=(11, 11), speed=3.0)
    )[0]
    ctx = history.context_for(lib, sid)
    base = {c.metric: c for c in ctx.baseline}
    assert base["cadence_spm"].change_pct == pytest.approx(5.0, abs=0.01)
    assert "5 % above your baseline" in base["cadence_spm"].words()
    week = {c.metric: c for c in ctx.last_week}
    assert week["impact_g"].reference == pytest.approx(12.5, abs=0.1)  # not the fast run
    assert week["impact_g"].comparable == "at 2.7-3.3 m/s"
    assert "12 % lower than last week" in week["impact_g"].words()
    same = history.Comparison("contact_ms", 230.0, 230.5, -0.2, "last week", "while running")
    assert same.words().startswith("contact time the same as last week (230.0 ms")


def test_overview_gives_medians_while_running_per_side(lib: Library) -> None:
    sid = lib.put(constructed("o", T0, minutes=2, contact=(220, 240), impact=(9, 11)))[0]
    o = overview(load_session(lib, sid))
    assert o["per_side"]["left"]["contact_ms"] == pytest.approx(220, abs=2)
    assert o["contact_si_pct"] == pytest.approx(100 * 20 / 230, abs=1.5)
    assert o["strike_pct"] == {"rearfoot": 100.0, "midfoot": 0.0, "forefoot": 0.0}


def test_trends_carry_the_limp_and_pain_flags_of_their_week(lib: Library) -> None:
    for k in range(4):
        lib.put(constructed(f"u{k}", T0 + k * DAY, minutes=3, contact=(230, 233), seed=k))
    limp = lib.put(constructed("l", T0 + 8 * DAY, minutes=3, contact=(230, 252)))[0]
    sore = lib.put(constructed("s", T0 + 9 * DAY, minutes=3, contact=(230, 233)))[0]
    lib.put_pain(sore, 7, 6, 5, now_unix=T0 + 10 * DAY)
    got = load.trends(lib, "ana", weeks=2, now_unix=T0 + 10 * DAY)
    first, second = (w.as_dict() for w in got.weeks)
    assert first["flags"] == []
    assert [(f["session"], f["kind"]) for f in second["flags"]] == [(limp, "limp"), (sore, "pain")]
    assert second["pain"] == {"during": 7, "after": 6, "next_morning": 5}
    assert all(f["source"] and f["strength"] for f in second["flags"])
