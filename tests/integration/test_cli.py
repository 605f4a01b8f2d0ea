"""The command line, run as a user runs it: outputs, files, and one-line errors."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest


def sh(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sensorhub", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


def test_sim_record_then_info(tmp_path: Path) -> None:
    rec = tmp_path / "run.shs"
    r = sh(
        "sim",
        "--mount",
        "shin",
        "--activity",
        "run",
        "--duration",
        "30",
        "--seed",
        "4",
        "--side",
        "both",
        "--faults",
        "drop=0.01,dup=0.01,corrupt=0.005",
        "--record",
        str(rec),
    )
    assert r.returncode == 0, r.stderr
    assert "x real time" in r.stdout
    truth = tmp_path / "run.truth.csv"
    with truth.open() as fh:
        rows = list(csv.DictReader(fh))
    assert set(rows[0]) >= {"t_s", "side", "event", "value", "strike"}
    assert {r["event"] for r in rows} == {"ic", "to", "impact"}
    assert {r["side"] for r in rows} == {"left", "right"}
    assert all(float(r["value"]) > 1 for r in rows if r["event"] == "impact")
    info = sh("info", str(rec), "--json")
    assert info.returncode == 0, info.stderr
    rep = json.loads(info.stdout)
    assert rep["closed_cleanly"] and rep["damage"] == []
    assert [s["side"] for s in rep["sensors"]] == ["left", "right"]
    assert all(s["mounting"] == "shin" for s in rep["sensors"])
    assert all(s["gaps"] > 0 and s["duplicates"] > 0 for s in rep["sensors"])
    text = sh("info", str(rec))
    assert "no damage" in text.stdout and "duplicates" in text.stdout


def test_sim_streams_to_the_console() -> None:
    r = sh("sim", "--duration", "9", "--seed", "1", "--side", "both")
    assert r.returncode == 0, r.stderr
    steps = [line for line in r.stdout.splitlines() if " step " in line]
    assert len(steps) >= 8 and "running" in r.stdout and "0 samples lost" in r.stdout


def test_import_csv_command(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text(
        "time,x,y,z\n" + "".join(f"{i * 10},0.0,0.1,{1 + 0.5 * (i % 7 == 0)}\n" for i in range(500))
    )
    out = tmp_path / "in.shs"
    r = sh(
        "import-csv",
        str(src),
        "--out",
        str(out),
        "--time-column",
        "time",
        "--time-units",
        "ms",
        "--acc",
        "x,y,z",
        "--acc-units",
        "g",
        "--side",
        "right",
        "--mount",
        "shin",
    )
    assert r.returncode == 0, r.stderr
    assert "imported 500 samples of 1 sensor(s) at 100 Hz" in r.stdout
    rep = json.loads(sh("info", str(out), "--json").stdout)
    assert rep["sensors"][0]["side"] == "right" and rep["sensors"][0]["samples"] == 500


IMPORT = ["import-csv", "{csv}", "--out", "{new}", "--rate", "100"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["info", "/nonexistent/run.shs"], "no such file"),
        (["info", "{csv}"], "is not a sensorhub session file"),
        (["sim", "--duration", "-5"], "duration must be 0.1 to 86400"),
        (["sim", "--duration", "soon"], "duration must be a number"),
        (["sim", "--cadence", "230"], "running cadence must be 150-200"),
        (["sim", "--cadence", "1000"], "cadence must be 60 to 240"),  # issue 11, defect 7
        (["sim", "--odr", "5000"], "odr must be 100 to 1600"),
        (["sim", "--duration", "1e9"], "duration must be 0.1 to 86400"),  # defect 12
        (["demo", "--duration", "1e9"], "duration must be 0.1 to 86400"),
        (["sim-peripheral", "--protocol-version", "-1"], "protocol version must be 1 to 255"),
        (["demo", "--set", "ble.odr_hz=100000"], "ble.odr_hz must be an integer from 100"),
        (["demo", "--set", "runner.id=a+b"], "runner.id must be a non-empty MQTT topic level"),
        (["demo", "--set", "sim.seed=-1"], "--set sim.seed: sim.seed must be an integer"),
        (["sim", "--faults", "explode=1"], "unknown fault 'explode'"),
        (["sim", "--mount", "wrist"], "invalid choice: 'wrist'"),
        (["sim", "--seed", "-3"], "seed must be 0 or more"),
        (["sim", "--asymmetry", "0.9"], "asymmetry must be 0 to 0.5"),
        (["sim", "--record", "/nonexistent/dir/run.shs"], "cannot create /nonexistent/dir/run.shs"),
        (
            [*IMPORT, "--acc", "x,y,z", "--acc-units", "g", "--header-rows", "0"],
            "--header-rows must be at least 1",
        ),
        (["sim", "--record", "{existing}"], "already exists"),
        ([*IMPORT, "--acc", "a,b", "--acc-units", "g"], "--acc takes three column names"),
        ([*IMPORT, "--acc", "x,y,z", "--acc-units", "m/s2"], "these look like g"),
        ([*IMPORT, "--acc", "x,y,q", "--acc-units", "g"], "column 'q' not found"),
        (  # issue 11, defect 4: a rate the detector refuses is refused at import
            [*IMPORT[:-2], "--rate", "20", "--acc", "x,y,z", "--acc-units", "g"],
            "--rate gives a sampling rate of 20 Hz",
        ),
        ([], "the following arguments are required: command"),
        # issue 11, defect 12
        ([*IMPORT, "--acc", "x,y,z", "--acc-units", "g", "--delimiter", ""], "one character"),
        (
            ["demo", "--duration", "1", "--audio", "wav:/nonexistent/dir/cues.wav"],
            "cannot create /nonexistent/dir/cues.wav: No such file or directory",
        ),
    ],
)
def test_user_mistakes_end_in_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    src = tmp_path / "data.csv"
    src.write_text("x,y,z\n" + "0,0,1\n" * 50)
    existing = tmp_path / "existing.shs"
    existing.write_bytes(b"keep me")
    subst = {"{csv}": str(src), "{existing}": str(existing), "{new}": str(tmp_path / "new.shs")}
    r = sh(*[subst.get(a, a) for a in args])
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("sensorhub") and "error:" in lines[0]
    assert message in lines[0]
    assert existing.read_bytes() == b"keep me"


def test_replay_then_evaluate(tmp_path: Path) -> None:
    rec = tmp_path / "run.shs"
    assert (
        sh(
            "sim", "--duration", "45", "--seed", "2", "--side", "both", "--record", str(rec)
        ).returncode
        == 0
    )
    out = tmp_path / "events.jsonl"
    r = sh("replay", str(rec), "--speed", "max", "--events-jsonl", str(out))
    assert r.returncode == 0, r.stderr
    assert "footstrike" in r.stdout
    lines = out.read_text().splitlines()
    first = json.loads(lines[0])
    assert list(first)[:4] == ["type", "t", "sensor", "side"]
    types = {json.loads(x)["type"] for x in lines}
    assert {"footstrike", "toe_off", "impact", "step", "cadence", "activity"} <= types
    ev = sh("evaluate", "--events", str(out), "--truth", str(tmp_path / "run.truth.csv"), "--json")
    assert ev.returncode == 0, ev.stderr
    rep = json.loads(ev.stdout)
    assert rep["ic"]["recall"] >= 0.995 and rep["ic"]["median_abs_ms"] <= 3.0
    text = sh("evaluate", "--events", str(out), "--truth", str(tmp_path / "run.truth.csv"))
    assert "initial contact" in text.stdout and "strike class" in text.stdout
    # a second replay of the same file gives the same events
    out2 = tmp_path / "events2.jsonl"
    assert sh("replay", str(rec), "--events-jsonl", str(out2)).returncode == 0
    assert out2.read_bytes() == out.read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["replay", "{csv}"], "is not a sensorhub session file"),
        (
            ["replay", "{session}", "--speed", "fast"],
            "--speed takes 1, a factor such as 10, or max",
        ),
        (["replay", "{session}", "--events-jsonl", "{existing}"], "already exists"),
        (["evaluate", "--events", "{csv}", "--truth", "{csv}"], "not a truth file"),
        (["evaluate", "--events", "{csv}", "--truth", "{truth}"], "not a sensorhub event"),
        (["evaluate", "--events", "/nonexistent.jsonl", "--truth", "{truth}"], "no such file"),
        # issue 11, defect 12: an empty events file exited 0 with nan
        (["evaluate", "--events", "{empty}", "--truth", "{truth}"], "holds no events"),
    ],
)
def test_replay_and_evaluate_mistakes(tmp_path: Path, args: list[str], message: str) -> None:
    src = tmp_path / "data.csv"
    src.write_text("x,y,z\n" + "0,0,1\n" * 5)
    existing = tmp_path / "existing.jsonl"
    existing.write_text("keep")
    session = tmp_path / "s.shs"
    assert sh("sim", "--duration", "3", "--record", str(session)).returncode == 0
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    subst = {
        "{csv}": str(src),
        "{existing}": str(existing),
        "{session}": str(session),
        "{truth}": str(tmp_path / "s.truth.csv"),
        "{empty}": str(empty),
    }
    r = sh(*[subst.get(a, a) for a in args])
    assert r.returncode == 2, r.stdout
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert existing.read_text() == "keep"


def test_replay_renders_cues_to_wav(tmp_path: Path) -> None:
    import wave

    rec = tmp_path / "run.shs"
    assert (
        sh(
            "sim", "--duration", "90", "--seed", "3", "--side", "both", "--record", str(rec)
        ).returncode
        == 0
    )
    cfg = tmp_path / "c.toml"
    cfg.write_text('[cues]\nmode = "metronome"\ntarget_spm = 180.0\n')
    wav = tmp_path / "cues.wav"
    r = sh(
        "replay",
        str(rec),
        "--config",
        str(cfg),
        "--audio",
        f"wav:{wav}",
        "--events-jsonl",
        str(tmp_path / "e.jsonl"),
    )
    assert r.returncode == 0, r.stderr
    assert "metronome on at 180.0 steps/min" in r.stdout
    with wave.open(str(wav)) as w:
        assert w.getnframes() / w.getframerate() > 80
    cues = [
        json.loads(x)
        for x in (tmp_path / "e.jsonl").read_text().splitlines()
        if '"type":"cue"' in x
    ]
    assert cues[0]["playing"] and cues[-1]["playing"] is False  # stops when the run does


def test_demo_direct_and_over_ble(tmp_path: Path) -> None:
    """The main job works with the simulator fed straight in (where there is no
    dbus-daemon) and over the simulated BLE sensors (where there is)."""
    import shutil

    transports = ["direct"] + (["ble"] if shutil.which("dbus-daemon") else [])
    for transport in transports:
        r = sh(
            "demo",
            "--duration",
            "8",
            "--set",
            f"sim.transport={transport}",
            "--mqtt",
            "none",
            "--audio",
            "none",
            "--record",
            "none",
            cwd=tmp_path,
        )
        assert r.returncode == 0, r.stderr
        assert ("over BLE" in r.stdout) == (transport == "ble")
        assert " step " in r.stdout and "0 samples lost" in r.stdout
    assert list(tmp_path.iterdir()) == []  # --record none: nothing written


def test_import_voisard_trial_as_recorded(tmp_path: Path, shared_data: Path) -> None:
    """Issue 10: one file per foot into one session; the dropped packets of the real
    recording show as exactly the samples the dataset says are missing."""
    trial = shared_data / "voisard_walking" / "8-6"
    out = tmp_path / "v.shs"
    r = sh(
        "import-csv",
        str(trial / "left_shoe.csv"),
        str(trial / "right_shoe.csv"),
        "--out",
        str(out),
        "--time-column",
        "t_s",
        "--acc",
        "acc_x_g,acc_y_g,acc_z_g",
        "--gyro",
        "gyr_x_dps,gyr_y_dps,gyr_z_dps",
        "--acc-units",
        "g",
        "--side",
        "left",
        "--side",
        "right",
    )
    assert r.returncode == 0, r.stderr
    rep = json.loads(sh("info", str(out), "--json").stdout)
    for s, side in zip(rep["sensors"], ("left", "right"), strict=True):
        meta = json.loads((trial / f"{side}_shoe.json").read_text())
        assert s["missing_samples"] == meta["missing_samples"] > 0
        assert s["samples"] == meta["n_samples"]  # the rows of the CSV


def test_replay_times_on_the_source_axis(tmp_path: Path) -> None:
    """Issue 10: an imported session keeps its CSV's time origin; ``replay --time-origin
    source`` gives event times on that axis, ``session`` (default) from the first row."""
    import numpy as np

    t = 1000.0 + np.arange(1000) / 100.0
    rows = np.column_stack([t, 0.0 * t, 0.0 * t, 1.0 + 0.0 * t])
    np.savetxt(tmp_path / "in.csv", rows, delimiter=",", header="t,x,y,z", comments="")
    out = tmp_path / "in.shs"
    r = sh(
        "import-csv", str(tmp_path / "in.csv"), "--out", str(out), "--time-column", "t",
        "--acc", "x,y,z", "--acc-units", "g", "--no-unit-check",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    times = {}
    for origin in ("session", "source"):
        jsonl = tmp_path / f"{origin}.jsonl"
        r = sh("replay", str(out), "--events-jsonl", str(jsonl), "--time-origin", origin)
        assert r.returncode == 0, r.stderr
        times[origin] = [json.loads(line)["t"] for line in jsonl.read_text().splitlines()]
    assert times["session"] and len(times["session"]) == len(times["source"])
    assert all(b - a == pytest.approx(1000.0) for a, b in zip(*times.values(), strict=True))
    assert all(0 <= a < 10.0 for a in times["session"])


@pytest.mark.slow
def test_first_run_with_an_empty_numba_cache_reports_plausible_cadence(tmp_path: Path) -> None:
    """Issue 11, defect 1 (compilation only): with a cold numba cache, compiling used to
    stall the event loop after the sensors had started streaming, so notifications were
    stamped late in a burst and the demo printed cadences of thousands of steps/min.  The
    kernels are compiled before any source opens."""
    import os
    import re

    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "sensorhub",
            "demo",
            "--duration",
            "15",
            "--audio",
            "none",
            "--mqtt",
            "none",
            "--record",
            "none",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    cadences = [float(x) for x in re.findall(r"cadence\s+([0-9.]+) spm", r.stdout)]
    assert len(cadences) > 20
    assert all(60 <= c <= 260 for c in cadences), sorted(cadences)[-3:]


def test_a_full_disk_detaches_the_recorder_and_the_run_goes_on(
    tmp_path: Path, small_disk: Path
) -> None:
    """Issue 11, defect 3: a full disk ended the run with a traceback (``OSError: [Errno
    28]`` in an ExceptionGroup; MQTT, audio and the summary stopped too).  The recorder is
    detached with one line naming it, the run goes to its end with every event in the JSON
    lines (on another disk), the summary prints, the exit status says a sink failed, and
    what was recorded replays."""
    rec = small_disk / "run.shs"
    jsonl = tmp_path / "events.jsonl"
    r = sh(
        "demo",
        "--duration",
        "15",  # 2 x 24 kB/s of samples: the 256 KiB disk fills after about 10 s
        "--set",
        "sim.transport=direct",
        "--mqtt",
        "none",
        "--audio",
        "none",
        "--record",
        str(rec),
        "--events-jsonl",
        str(jsonl),
        cwd=tmp_path,
    )
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert "Traceback" not in out
    failed = [x for x in out.splitlines() if "recorder failed" in x]
    assert len(failed) == 2, out  # when it happens, and in the done line
    assert "No space left on device" in failed[0]
    assert "summary:" in r.stdout
    done = next(x for x in r.stdout.splitlines() if x.startswith("done ("))
    n_events = int(done.split(" events")[0].rsplit(" ", 1)[1])
    lines = jsonl.read_text().splitlines()
    assert len(lines) == n_events > 30
    assert json.loads(lines[-1])["type"] == "summary"
    info = sh("info", str(rec), "--json")
    assert info.returncode == 0, info.stderr
    report = json.loads(info.stdout)
    assert report["closed_cleanly"] is False and report["records"] > 100
    replay = sh("replay", str(rec), "--speed", "max", "--events-jsonl", str(tmp_path / "r.jsonl"))
    assert replay.returncode == 0, replay.stderr
    assert sum(1 for x in (tmp_path / "r.jsonl").read_text().splitlines() if '"step"' in x) >= 3


def test_sim_record_on_a_full_disk_ends_in_one_line_and_keeps_the_truth(
    small_disk: Path,
) -> None:
    """Issue 11, defect 3: ``sim --record`` on a full disk ended in a traceback and left no
    truth file.  One line says where it stopped; the recording and the truth of what it
    holds stay."""
    rec = small_disk / "sim.shs"
    r = sh("sim", "--duration", "120", "--record", str(rec))
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.count("\n") == 1 and "No space left on device" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    truth = rec.with_suffix(".truth.csv")
    with truth.open() as fh:
        rows = list(csv.DictReader(fh))
    info = sh("info", str(rec), "--json")
    assert info.returncode == 0, info.stderr
    recorded_s = json.loads(info.stdout)["duration_s"]
    assert 0 < recorded_s < 120
    assert rows and max(float(x["t_s"]) for x in rows) <= recorded_s + 2.5


def test_plain_replay_runs_the_live_pipeline_with_its_configuration(tmp_path: Path) -> None:
    """Issue 11, defect 6: ``replay`` without ``--audio`` had a loop of its own that left
    out the cue and summary events and ignored ``--config``/``--set``.  One replay path:
    the same stages as demo and live, configured the same way."""
    rec = tmp_path / "run.shs"
    assert sh("sim", "--duration", "30", "--side", "both", "--record", str(rec)).returncode == 0

    def types(*extra: str) -> dict[str, int]:
        out = tmp_path / f"e{len(list(tmp_path.iterdir()))}.jsonl"
        r = sh("replay", str(rec), "--events-jsonl", str(out), *extra)
        assert r.returncode == 0, r.stderr
        counts: dict[str, int] = {}
        for line in out.read_text().splitlines():
            kind = json.loads(line)["type"]
            counts[kind] = counts.get(kind, 0) + 1
        return counts

    plain = types("--set", "cues.target_spm=180")
    assert plain["summary"] == 1 and plain["cue"] >= 1 and plain["step"] > 60
    assert "cue" not in types("--set", "cues.mode=off")
    for bad, message in [
        (["--config", str(tmp_path / "missing.toml")], "no such configuration file"),
        (["--set", "cues.nope=1"], "unknown key 'nope' in [cues]"),
        (["--set", "cues.volume=50"], "cues.volume must be 0 to 1"),
    ]:
        r = sh("replay", str(rec), *bad)
        assert r.returncode == 2 and message in r.stderr, r.stderr
    (tmp_path / "bad.toml").write_text("[cues\n")
    r = sh("replay", str(rec), "--config", str(tmp_path / "bad.toml"))
    assert r.returncode == 2 and "not valid TOML" in r.stderr, r.stderr


def interrupt_when_running(args: list[str], cwd: Path) -> tuple[int, str, str]:
    """Start ``sensorhub ARGS``, press Ctrl-C (SIGINT) 2 s after its banner, and return
    its status, standard output and standard error."""
    import os
    import signal
    import time

    p = subprocess.Popen(
        [sys.executable, "-m", "sensorhub", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert p.stdout is not None
    seen = []
    for line in p.stdout:  # the banner comes once everything is compiled and running
        seen.append(line)
        if "(Ctrl-C stops)" in line:
            break
    time.sleep(2)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    return p.returncode, "".join(seen) + out, err


def test_ctrl_c_ends_demo_and_replay_with_status_130(tmp_path: Path) -> None:
    """Issue 11, defect 12: Ctrl-C exited 0 in demo but 130 in replay; both stop cleanly
    (the recording closed, the done line printed) and exit 130, as shells expect."""
    rec = tmp_path / "run.shs"
    demo = ["demo", "--set", "sim.transport=direct", "--mqtt", "none", "--audio", "none"]
    code, out, err = interrupt_when_running([*demo, "--record", str(rec)], tmp_path)
    assert code == 130, (out, err)
    assert "done (Ctrl-C / SIGTERM)" in out and "Traceback" not in err
    assert f"recorded to {rec} (sensorhub replay {rec})" in out
    info = sh("info", str(rec), "--json")
    assert json.loads(info.stdout)["closed_cleanly"] is True
    code, out, err = interrupt_when_running(["replay", str(rec), "--speed", "1"], tmp_path)
    assert code == 130, (out, err)
    assert "done (Ctrl-C / SIGTERM)" in out and "Traceback" not in err


def test_verbose_logs_ble_connects_and_mqtt_on_stderr(tmp_path: Path) -> None:
    """Issue 11 (engine): there was no logging.  Modules log through stdlib ``logging``;
    ``-vv`` shows the BLE connection attempts and MQTT connects at debug on stderr, and
    without it nothing of that is printed."""
    import shutil

    transport = "ble" if shutil.which("dbus-daemon") else "direct"
    demo = ["demo", "--duration", "3", "--audio", "none", "--record", "none"]
    demo += ["--set", f"sim.transport={transport}"]
    loud = sh("-vv", *demo, cwd=tmp_path)
    assert loud.returncode == 0, loud.stderr
    assert "sensorhub.sinks.mqtt DEBUG: connected to mqtt://127.0.0.1:" in loud.stderr
    if transport == "ble":
        assert "sensorhub.sources.ble DEBUG: " in loud.stderr and "streaming" in loud.stderr
    quiet = sh(*demo, cwd=tmp_path)
    assert quiet.returncode == 0 and "DEBUG" not in quiet.stderr, quiet.stderr


def test_version_and_plain_top_level_help() -> None:
    """Issue 11, defect 12: ``sensorhub --version`` was missing and the top-level help
    showed raw ``markup``."""
    v = sh("--version")
    assert v.returncode == 0 and v.stdout.startswith("sensorhub ")
    h = sh("--help")
    assert h.returncode == 0 and "``" not in h.stdout and "--version" in h.stdout
