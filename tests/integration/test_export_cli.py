"""``sensorhub export`` and ``import-activity`` on a real recorded run: the demo records a
session (and every event as JSON lines), the FIT export is read back with fitdecode and
compared with the events, a watch file is merged and then exported with the run.

One demo recording serves the module; each test that changes the library works on its own
copy of it.  Commands run in this process (``cli.main``) where that is faster than a
subprocess."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import fitdecode  # type: ignore[import-untyped]
import pytest

from sensorhub import cli
from sensorhub.commands import exports
from sensorhub.library.export import STALE_S, STRIKE_CODES
from sensorhub.library.store import LIBRARY_FILE
from tests.conftest import DEMO_RUN_S, DemoRun
from tests.unit.test_activity import watch_fit, watch_gpx


def sh(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sensorhub", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def run(*args: str) -> tuple[int, str, str]:
    """The commands in this process (faster than a subprocess): status, stdout, stderr."""
    raw, err = io.BytesIO(), io.StringIO()
    out = io.TextIOWrapper(raw, encoding="utf-8")  # with a .buffer, as sys.stdout has
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(list(args))
    out.flush()
    return rc, raw.getvalue().decode(), err.getvalue()


@pytest.fixture
def demo(demo_run: DemoRun) -> DemoRun:
    return demo_run


def fit_records(path: Path) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Records (in order) and the last of each other message, as fitdecode decodes them."""
    recs: list[dict[str, Any]] = []
    last: dict[str, dict[str, Any]] = {}
    with fitdecode.FitReader(
        str(path),
        check_crc=fitdecode.CrcCheck.RAISE,
        error_handling=fitdecode.ErrorHandling.RAISE,
    ) as fit:
        for f in fit:
            if f.frame_type == fitdecode.FIT_FRAME_DATA:
                v = {x.name: x.value for x in f.fields}
                if f.name == "record":
                    recs.append(v)
                else:
                    last[f.name] = v
    return recs, last


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sensorhub: error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


# ---------------------------------------------------------------------------- export
def test_fit_export_decodes_to_the_events_per_step(demo: DemoRun, tmp_path: Path) -> None:
    sid, start = demo.session["id"], demo.session["started_unix"]
    out = tmp_path / "run.fit"
    r = sh("export", str(sid), "--out", str(out), "--json", "--data-dir", str(demo.library))
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["path"] == str(out) and rep["bytes"] == out.stat().st_size
    assert rep["format"] == "fit" and not rep["has_speed"] and not rep["has_distance"]
    assert out.stat().st_mode & 0o077 == 0  # a runner's data: the owner's only
    recs, last = fit_records(out)
    assert last["file_id"]["type"] == "activity" and last["session"]["sport"] == "running"
    assert len(recs) == rep["records"] >= DEMO_RUN_S - 2

    steps = sorted((e for e in demo.events if e["type"] == "step"), key=lambda e: e["t"])
    cadence = {(e["sensor"], round(e["t"], 4)): e for e in demo.events if e["type"] == "cadence"}
    compared = 0
    for rec in recs:
        t = rec["timestamp"].timestamp() - start
        before = [s for s in steps if s["t"] <= t]
        if before and (
            abs(before[-1]["t"] - t) < 1e-3 or abs(t - before[-1]["t"] - STALE_S) < 1e-3
        ):
            continue  # too close to call between the event's time and the library's rounding
        step = before[-1] if before and t - before[-1]["t"] <= STALE_S else None
        if step is None:
            assert rec["cadence"] is None and rec["stance_time"] is None
            continue
        c = cadence.get((step["sensor"], round(step["t"], 4)))
        if c is None:
            assert rec["cadence"] is None
        else:  # FIT's cadence: strides/min, 1/128 resolution; the library keeps 0.01 spm
            spm = 2.0 * (rec["cadence"] + rec["fractional_cadence"])
            assert spm == pytest.approx(c["cadence_spm"], abs=1 / 128 + 0.005 + 1e-9)
        if step["contact_ms"] is None:
            assert rec["stance_time"] is None
        else:
            assert rec["stance_time"] == pytest.approx(step["contact_ms"], abs=0.05 + 1e-9)
        assert rec["impact"] == pytest.approx(step["impact_g"], rel=1e-6)
        assert rec["foot_strike"] == STRIKE_CODES.get(step["strike"])
        assert "speed" not in rec and "distance" not in rec and "step_length" not in rec
        compared += 1
    assert compared >= DEMO_RUN_S - 6  # every second the runner ran


def test_tcx_csv_and_the_gpx_that_needs_positions(demo: DemoRun, tmp_path: Path) -> None:
    sid, lib = str(demo.session["id"]), str(demo.library)
    rc, out, _ = run("export", sid, "--out", str(tmp_path / "run.tcx"), "--data-dir", lib)
    assert rc == 0 and "cadence only" in out
    text = (tmp_path / "run.tcx").read_text()
    assert text.count("<Trackpoint>") >= DEMO_RUN_S - 2 and "<ns3:RunCadence>8" in text

    rc, text, _ = run("export", sid, "--format", "csv", "--out", "-", "--data-dir", lib)
    assert rc == 0
    rc, _, err = run("export", sid, "--out", "-", "--json", "--data-dir", lib)
    assert rc == 2 and "standard output" in one_error_line(err)
    rows = text.splitlines()
    header = rows[0].split(",")
    steps = sorted((e for e in demo.events if e["type"] == "step"), key=lambda e: e["t"])
    assert len(rows) - 1 == len(steps) == demo.session["steps"]
    for line, step in zip(rows[1:], steps, strict=True):
        cell = dict(zip(header, line.split(","), strict=True))
        assert float(cell["t_s"]) == pytest.approx(step["t"], abs=1e-4)
        assert cell["side"] == step["side"]
        if step["contact_ms"] is not None:
            assert float(cell["contact_ms"]) == pytest.approx(step["contact_ms"], abs=0.005)

    r = sh("export", sid, "--format", "gpx", "--data-dir", lib, cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert "no GPS positions" in one_error_line(r.stderr)
    assert not list(tmp_path.glob("*.gpx"))


def test_export_names_its_file_after_the_recording_and_never_overwrites(
    demo: DemoRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    sid, lib = str(demo.session["id"]), str(demo.library)
    rc, out, _ = run("export", sid, "--data-dir", lib)
    expected = tmp_path / (Path(demo.session["path"]).stem + ".fit")
    assert rc == 0 and str(expected) in out and expected.exists()
    before = expected.read_bytes()
    expected.write_bytes(b"the runner's own file")
    rc, out, err = run("export", sid, "--data-dir", lib)
    assert rc == 2 and out == "" and "already exists" in one_error_line(err) and "--force" in err
    assert expected.read_bytes() == b"the runner's own file"
    rc, _, _ = run("export", sid, "--force", "--data-dir", lib)
    assert rc == 0 and expected.read_bytes() == before
    rc, _, err = run("export", "99", "--data-dir", lib)
    assert rc == 2 and "no session 99" in one_error_line(err)


# ---------------------------------------------------------------------------- import
def show(lib: Path, sid: int) -> dict[str, Any]:
    r = sh("show", str(sid), "--json", "--data-dir", str(lib))
    assert r.returncode == 0, r.stderr
    return dict(json.loads(r.stdout))


def test_a_watch_fit_gives_the_session_distance_and_pace(demo: DemoRun, tmp_path: Path) -> None:
    lib = demo.copy(tmp_path / "lib")
    sid, start = demo.session["id"], demo.session["started_unix"]
    duration = demo.session["duration_s"]
    watch = tmp_path / "watch.fit"
    t0 = math.floor(start) - 30
    watch.write_bytes(watch_fit(t0, int(duration) + 60, 3.2))
    r = sh("import-activity", str(watch), "--json", "--data-dir", str(lib))
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["session"] == sid and rep["speed_from"] == "file" and not rep["replaced"]
    assert rep["overlap_s"] == pytest.approx(duration, abs=0.1)
    assert rep["has_heart_rate"] and rep["has_positions"]
    db = sqlite3.connect(lib / LIBRARY_FILE)
    kept = db.execute("SELECT kind, points, path FROM activities WHERE session_id = ?", (sid,))
    assert kept.fetchall() == [("fit", rep["points"], str(watch.resolve()))]
    db.close()

    o = show(lib, sid)
    assert o["distance_source"] == "watch"
    assert o["distance_m"] == pytest.approx(3.2 * duration, abs=0.2)
    assert o["speed_m_s"] == pytest.approx(3.2, abs=0.01)

    out = tmp_path / "with-watch.fit"
    rc, _, err = run("export", str(sid), "--out", str(out), "--data-dir", str(lib))
    assert rc == 0, err
    recs, last = fit_records(out)
    assert last["session"]["total_distance"] == pytest.approx(o["distance_m"], abs=0.01)
    assert last["session"]["avg_speed"] == pytest.approx(3.2, abs=0.01)
    assert all(r["enhanced_speed"] == pytest.approx(3.2) for r in recs)
    dist = [r["distance"] for r in recs]
    assert dist == sorted(dist) and dist[-1] == pytest.approx(
        3.2 * (recs[-1]["timestamp"].timestamp() - start), abs=0.05
    )
    assert all(r["heart_rate"] is not None and r["position_lat"] is not None for r in recs)
    lengths = [r["step_length"] for r in recs if r["cadence"] is not None]
    assert lengths and all(1000 < x < 1300 for x in lengths)  # 3.2 m/s at ~170 steps/min

    rc, _, err = run(
        "export",
        str(sid),
        "--format",
        "gpx",
        "--out",
        str(tmp_path / "r.gpx"),
        "--data-dir",
        str(lib),
    )
    assert rc == 0, err
    assert (tmp_path / "r.gpx").read_text().count("<trkpt") == len(recs)

    rc, out_text, _ = run("import-activity", str(watch), "--data-dir", str(lib))
    assert rc == 0 and "merged again" in out_text
    assert show(lib, sid)["distance_m"] == o["distance_m"]  # replaced, not added


def test_a_strava_gpx_gives_speed_from_gps(demo: DemoRun, tmp_path: Path) -> None:
    lib = demo.copy(tmp_path / "lib")
    start, duration = demo.session["started_unix"], demo.session["duration_s"]
    gpx = tmp_path / "Morning_Run.gpx"
    gpx.write_bytes(watch_gpx(math.floor(start) - 20, int(duration) + 40, 2.9))
    rc, out, err = run("import-activity", str(gpx), "--json", "--data-dir", str(lib))
    assert rc == 0, err
    rep = json.loads(out)
    assert rep["speed_from"] == "gps" and rep["has_heart_rate"]
    assert rep["speed_m_s"] == pytest.approx(2.9, rel=0.01)
    assert rep["distance_m"] == pytest.approx(2.9 * duration, rel=0.01)


def test_bad_or_unmatched_watch_files_leave_the_library_alone(
    demo: DemoRun, tmp_path: Path
) -> None:
    lib = demo.copy(tmp_path / "lib")
    sid, start = demo.session["id"], demo.session["started_unix"]
    good = watch_fit(math.floor(start) - 10, int(demo.session["duration_s"]) + 20)
    cut = tmp_path / "cut.fit"
    cut.write_bytes(good[: len(good) - 300])
    r = sh("import-activity", str(cut), "--data-dir", str(lib))
    assert r.returncode == 2 and r.stdout == ""
    assert "cut short" in one_error_line(r.stderr)

    rc, _, err = run("import-activity", str(tmp_path / "none.tcx"), "--data-dir", str(lib))
    assert rc == 2 and "cannot read" in one_error_line(err)
    other = tmp_path / "other.fit"
    other.write_bytes(watch_fit(math.floor(start) + 86_400, 600))  # the next day
    rc, _, err = run("import-activity", str(other), "--data-dir", str(lib))
    line = one_error_line(err)
    assert rc == 2 and f"nearest is session {sid}" in line and "before it" in line
    rc, _, err = run("import-activity", str(other), "--session", str(sid), "--data-dir", str(lib))
    assert rc == 2 and f"does not overlap session {sid}" in one_error_line(err)
    (tmp_path / "notes.txt").write_text("ran well")
    rc, _, err = run("import-activity", str(tmp_path / "notes.txt"), "--data-dir", str(lib))
    assert rc == 2 and ".fit, .gpx or .tcx" in one_error_line(err)

    o = show(lib, sid)
    assert o["distance_m"] is None and o["speed_m_s"] is None  # nothing was merged
    db = sqlite3.connect(lib / LIBRARY_FILE)
    assert db.execute("SELECT count(*) FROM track").fetchone()[0] == 0
    db.close()


def test_the_parsers_are_what_the_command_line_gets() -> None:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="command")
    exports.add_parsers(sub, cli._library_options)
    a = p.parse_args(["export", "3", "--format", "tcx", "--out", "x", "--force", "--json"])
    assert (a.session, a.format, a.out, a.force, a.json) == ("3", "tcx", "x", True, True)
    b = p.parse_args(["import-activity", "w.fit", "--session", "2", "--runner", "ana"])
    assert (b.file, b.session, b.runner) == (Path("w.fit"), "2", "ana")
    assert b.data_dir is None and b.set == []
