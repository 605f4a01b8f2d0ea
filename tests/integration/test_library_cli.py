"""The session library from the command line, as a runner uses it: a run is indexed
when it closes; a killed indexer, a killed run, a damaged recording and two writers at
once lose nothing and say what happened in a line."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DemoRun

ROOT = Path(__file__).resolve().parents[2]


def sh(*args: str, cwd: Path, data: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sensorhub", *args, *(["--data-dir", str(data)] if data else [])],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def sessions(cwd: Path, data: Path) -> list[dict[str, Any]]:
    r = sh("sessions", "--json", cwd=cwd, data=data)
    assert r.returncode == 0, r.stderr
    out: list[dict[str, Any]] = json.loads(r.stdout)
    return out


def record(path: Path, seconds: float, seed: int = 1) -> None:
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "sensorhub",
            "sim",
            "--side",
            "both",
            "--duration",
            str(seconds),
            "--seed",
            str(seed),
            "--record",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def recordings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    where = tmp_path_factory.mktemp("recordings")
    out = {"short": where / "short.shs", "long": where / "long.shs"}
    record(out["short"], 40, seed=2)
    record(out["long"], 600, seed=3)
    return out


def test_a_demo_is_indexed_when_it_closes_then_listed_and_shown(
    tmp_path: Path, demo_run: DemoRun
) -> None:
    data = demo_run.copy(tmp_path / "lib")
    listed = sessions(tmp_path, data)
    assert listed == [demo_run.session]
    s = listed[0]
    assert s["id"] == 1 and s["shoe"] == "Pegasus 40" and s["source"] == "sim"
    assert s["steps"] > 100 and 160 < s["cadence_spm"] < 180
    assert Path(s["path"]).parent == demo_run.folder
    steps = [e for e in demo_run.events if e["type"] == "step"]
    assert s["steps"] == len(steps)  # the library holds every step the run gave
    shown = sh("show", str(s["id"]), "--json", cwd=tmp_path, data=data)
    o = json.loads(shown.stdout)
    assert set(o["per_side"]) == {"left", "right"} and o["steps"] == s["steps"]
    # by the recording's path too, and again: the same session
    again = sh("library", "add", s["path"], cwd=tmp_path, data=data)
    assert again.returncode == 0 and "session 1:" in again.stdout, again.stderr
    assert "already there" in again.stdout
    by_path = json.loads(sh("show", s["path"], "--json", cwd=tmp_path, data=data).stdout)
    assert by_path["id"] == 1 and by_path["steps"] == s["steps"]
    text = sh("show", "1", cwd=tmp_path, data=data).stdout
    assert "steps/min" in text and "Pegasus 40" in text


def test_add_is_idempotent_and_a_bad_file_is_one_line(
    tmp_path: Path, recordings: dict[str, Path]
) -> None:
    data = tmp_path / "lib"
    junk = tmp_path / "junk.shs"
    junk.write_text("not a recording")
    r = sh(
        "library",
        "add",
        str(recordings["short"]),
        str(junk),
        "--runner",
        "bo",
        cwd=tmp_path,
        data=data,
    )
    assert r.returncode == 2
    assert "junk.shs is not a sensorhub session file" in r.stderr
    assert "Traceback" not in r.stderr
    assert "1 of 2 recordings not indexed" in r.stderr
    first = sessions(tmp_path, data)
    assert [s["runner"] for s in first] == ["bo"]
    moved = tmp_path / "moved"
    moved.mkdir()
    (moved / "run.shs").write_bytes(recordings["short"].read_bytes())
    r2 = sh("library", "add", str(moved), cwd=tmp_path, data=data)  # a folder: its *.shs
    assert r2.returncode == 0 and "already there" in r2.stdout, r2.stderr
    now = sessions(tmp_path, data)
    assert now[0]["path"] == str(moved / "run.shs")  # the same session where it is now
    assert [{**s, "path": ""} for s in now] == [{**s, "path": ""} for s in first]
    r3 = sh("library", "add", str(recordings["short"]), "--json", cwd=tmp_path, data=data)
    assert r3.returncode == 0, r3.stderr
    (said,) = json.loads(r3.stdout)
    assert said["session"] == first[0]["id"] and not said["new"]
    assert said["steps"] == first[0]["steps"] and said["damage"] == []


def test_a_damaged_recording_is_indexed_as_far_as_it_reads(
    tmp_path: Path, recordings: dict[str, Path]
) -> None:
    data = tmp_path / "lib"
    clean = sh("library", "add", str(recordings["short"]), cwd=tmp_path, data=tmp_path / "c")
    assert clean.returncode == 0
    whole = sessions(tmp_path, tmp_path / "c")[0]["steps"]
    bad = tmp_path / "bad.shs"
    raw = bytearray(recordings["short"].read_bytes())
    mid = len(raw) // 2
    raw[mid : mid + 4000] = bytes(4000)  # a stretch of zeros in the middle
    bad.write_bytes(bytes(raw[: len(raw) - 100]))  # and the end cut off
    r = sh("library", "add", str(bad), cwd=tmp_path, data=data)
    assert r.returncode == 0, r.stderr
    assert "warning" in r.stderr and "did not close cleanly" in r.stderr
    got = sessions(tmp_path, data)
    assert 0.8 * whole < got[0]["steps"] < whole
    shown = json.loads(sh("show", str(got[0]["id"]), "--json", cwd=tmp_path, data=data).stdout)
    assert any("bytes" in d for d in shown["damage"])


def _library_state(data: Path) -> tuple[str, list[tuple[Any, ...]]]:
    db = sqlite3.connect(data / "library.sqlite")
    try:
        ok = db.execute("PRAGMA integrity_check").fetchone()[0]
        rows = db.execute(
            "SELECT s.id, s.state, (SELECT COUNT(*) FROM steps WHERE session_id = s.id), "
            "(SELECT COUNT(*) FROM minutes WHERE session_id = s.id) FROM sessions s"
        ).fetchall()
    finally:
        db.close()
    return ok, rows


@pytest.mark.slow
def test_a_killed_indexer_leaves_the_library_sound(
    tmp_path: Path, recordings: dict[str, Path]
) -> None:
    """SIGKILL at a range of moments of indexing a 10-minute session: each time the
    library is sound and holds the session whole or not at all; the next add completes."""
    ref = tmp_path / "ref"
    assert sh("library", "add", str(recordings["long"]), cwd=tmp_path, data=ref).returncode == 0
    _, [(_, _, steps, minutes)] = _library_state(ref)
    assert steps > 1000
    data = tmp_path / "lib"
    sh("sessions", cwd=tmp_path, data=data)  # the library exists before the kills
    killed = 0
    for delay in (0.3, 0.8, 1.3, 1.8, 2.3, 2.8, 3.5, 4.5):
        p = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sensorhub",
                "library",
                "add",
                str(recordings["long"]),
                "--data-dir",
                str(data),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            killed += 1
        p.wait()
        ok, rows = _library_state(data)
        assert ok == "ok"
        assert all(r[2:] in ((0, 0), (steps, minutes)) for r in rows), rows
        if rows:  # it got through once: drop it and kill later next time
            db = sqlite3.connect(data / "library.sqlite")
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("DELETE FROM sessions")
            db.commit()
            db.close()
    assert killed >= 3
    r = sh("library", "add", str(recordings["long"]), cwd=tmp_path, data=data)
    assert r.returncode == 0, r.stderr
    assert _library_state(data)[1][0][2:] == (steps, minutes)


@pytest.mark.slow
def test_a_killed_run_is_indexed_on_the_next_start(tmp_path: Path) -> None:
    data = tmp_path / "lib"
    p = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sensorhub",
            "demo",
            "--duration",
            "120",
            "--mqtt",
            "none",
            "--audio",
            "none",
            "--set",
            "sim.transport=direct",
            "--data-dir",
            str(data),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert p.stdout is not None
    deadline = time.monotonic() + 120
    seen = ""
    while "recording to" not in seen and time.monotonic() < deadline:
        seen += p.stdout.readline()
    time.sleep(12)  # a few strides into the file
    p.send_signal(signal.SIGKILL)
    p.wait()
    p.stdout.close()
    _, rows = _library_state(data)
    assert [r[1] for r in rows] == ["recording"]
    r = sh("sessions", "--json", cwd=tmp_path, data=data)
    assert r.returncode == 0, r.stderr
    assert "left by a run that did not finish" in r.stderr
    listed = json.loads(r.stdout)
    assert len(listed) == 1 and listed[0]["steps"] > 10
    shown = json.loads(sh("show", "1", "--json", cwd=tmp_path, data=data).stdout)
    assert any("did not close cleanly" in d for d in shown["damage"])
    again = sh("sessions", cwd=tmp_path, data=data)
    assert "did not finish" not in again.stderr  # said once


def test_two_adds_at_the_same_time_both_land(tmp_path: Path, recordings: dict[str, Path]) -> None:
    data = tmp_path / "lib"
    sh("sessions", cwd=tmp_path, data=data)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sensorhub",
                "library",
                "add",
                str(recordings[k]),
                "--data-dir",
                str(data),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in ("short", "long")
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    got = sessions(tmp_path, data)
    assert len(got) == 2 and all(s["steps"] > 50 for s in got)


def test_library_errors_are_one_line(tmp_path: Path) -> None:
    data = tmp_path / "lib"
    for args, said in (
        (("show", "7"), "no session 7 in the library"),
        (("show", "nowhere.shs"), "no session 'nowhere.shs'"),
        (("sessions", "--since", "yesterday"), "YYYY-MM-DD"),
        (("pain", "1", "--during", "12"), "during must be 0 to 10"),
    ):
        r = sh(*args, cwd=tmp_path, data=data)
        assert r.returncode == 2, (args, r.stdout)
        assert said in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1
    newer = tmp_path / "newer"
    sh("sessions", cwd=tmp_path, data=newer)
    db = sqlite3.connect(newer / "library.sqlite")
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    r = sh("sessions", cwd=tmp_path, data=newer)
    assert r.returncode == 2 and "from a newer sensorhub" in r.stderr


def test_trends_shoes_compare_and_pain_over_two_sessions(
    tmp_path: Path, recordings: dict[str, Path]
) -> None:
    data = tmp_path / "lib"
    for k, shoe in (("short", "Old pair"), ("long", "New pair")):
        r = sh("library", "add", str(recordings[k]), "--shoe", shoe, cwd=tmp_path, data=data)
        assert r.returncode == 0, r.stderr
    listed = {s["shoe"]: s for s in sessions(tmp_path, data)}
    shoes = json.loads(sh("shoes", "--json", cwd=tmp_path, data=data).stdout)["shoes"]
    by = {s["shoe"]: s for s in shoes}
    assert set(by) == {"Old pair", "New pair"}
    for name, s in by.items():
        assert s["runs"] == 1
        assert s["running_s"] == pytest.approx(listed[name]["running_s"], abs=0.1)
        assert s["early"]["impact_g"] == pytest.approx(listed[name]["impact_g"], rel=0.05)
    trends = json.loads(sh("trends", "--weeks", "2", "--json", cwd=tmp_path, data=data).stdout)
    this_week = trends["weeks"][-1]
    assert sorted(this_week["runs"]) == sorted(s["id"] for s in listed.values())
    assert this_week["steps"] == sum(s["steps"] for s in listed.values())
    assert this_week["distance_unknown_runs"] == 2
    assert any("guideline, not evidence" in n for n in trends["notes"])
    a, b = listed["Old pair"]["id"], listed["New pair"]["id"]
    cmp = json.loads(sh("compare", str(a), str(b), "--json", cwd=tmp_path, data=data).stdout)
    assert {c["metric"] for c in cmp["b_against_a"]} == {"cadence_spm", "contact_ms", "impact_g"}
    assert all(c["comparable"] == "while running (speed unknown)" for c in cmp["b_against_a"])
    text = sh("trends", "--weeks", "2", cwd=tmp_path, data=data).stdout
    assert "cumulative impact" in text
    r = sh("pain", str(b), "--during", "6", "--json", cwd=tmp_path, data=data)
    assert json.loads(r.stdout)["acceptable"] is False
    r = sh("pain", str(a), cwd=tmp_path, data=data)
    assert r.returncode == 2 and "has no pain ratings" in r.stderr
    week = json.loads(sh("trends", "--weeks", "1", "--json", cwd=tmp_path, data=data).stdout)
    assert week["weeks"][-1]["pain"] == {"during": 6}
    assert [f["kind"] for f in week["weeks"][-1]["flags"]] == ["pain"]
