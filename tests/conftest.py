from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Every run a test records is indexed in a session library: a throw-away one, never the
# user's own (~/.local/share/sensorhub).  Subprocesses inherit it.
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="sensorhub-test-data-")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The real recordings in ../shared/data, or a skip that says why."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real recordings not found at {SHARED_DATA} (../shared/data beside the repo)")
    return SHARED_DATA


@pytest.fixture
def mosquitto(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A real Mosquitto on a free loopback port, stopped after the test."""
    from tests.mosquitto import Mosquitto

    broker = Mosquitto(tmp_path)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
def small_disk(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A 256 KiB tmpfs: a disk that fills up during a run.  Mounting needs root (CI and
    the development machines run as root); elsewhere the test skips and says so."""
    import os
    import subprocess

    where = tmp_path / "small-disk"
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("a full disk is a small tmpfs, and mounting one needs root")
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k,mode=0777", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {r.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@dataclass(frozen=True)
class DemoRun:
    """One real 60 s demo (two simulated shoes, fading metronome cues from a 15 s
    baseline) indexed in a library of its own, with every event as JSON lines."""

    folder: Path
    library: Path
    session: dict[str, Any]
    events: list[dict[str, Any]]

    @property
    def recording(self) -> Path:
        return Path(self.session["path"])

    def copy(self, where: Path) -> Path:
        """A copy of the library to change (SQLite's backup: a consistent snapshot)."""
        import sqlite3

        where.mkdir(parents=True, exist_ok=True)
        src = sqlite3.connect(self.library / "library.sqlite")
        dst = sqlite3.connect(where / "library.sqlite")
        with dst:
            src.backup(dst)
        src.close()
        dst.close()
        return where


DEMO_RUN_S = 60


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """The demo the library, report and export tests share (a real run takes its
    minute; one serves them all, each changing a copy of its library)."""
    import json
    import subprocess
    import sys

    folder = tmp_path_factory.mktemp("demo-run")
    library = folder / "library"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "sensorhub",
            "demo",
            "--duration",
            str(DEMO_RUN_S),
            "--mqtt",
            "none",
            "--audio",
            "none",
            "--set",
            "sim.transport=direct",
            "--set",
            "cues.baseline_s=15",
            "--set",
            "cues.mode=fade",
            "--set",
            "cues.fade_schedule=[[0.0, 1.0], [0.3, 1.0], [0.7, 0.0]]",
            "--shoe",
            "Pegasus 40",
            "--events-jsonl",
            "ev.jsonl",
            "--data-dir",
            str(library),
        ],
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "library: session 1 (" in r.stdout, r.stdout[-2000:]
    ses = subprocess.run(
        [sys.executable, "-m", "sensorhub", "sessions", "--json", "--data-dir", str(library)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ses.returncode == 0, ses.stderr
    (session,) = json.loads(ses.stdout)
    events = [json.loads(line) for line in (folder / "ev.jsonl").read_text().splitlines()]
    return DemoRun(folder, library, session, events)
