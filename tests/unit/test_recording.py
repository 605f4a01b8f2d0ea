"""Session files: round trip, damage reports, crash safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from firmware_sim.run import SimulatedRun, default_config
from sensorhub.errors import RecordingError
from sensorhub.inspect import session_report
from sensorhub.recording import (
    CHUNK_HEADER,
    FILE_HEADER,
    SensorEntry,
    SessionHeader,
    SessionReader,
    SessionWriter,
)
from sensorhub.recording import record as record_session
from sensorhub.types import Side


def record(path: Path, seconds: float = 12.0, seed: int = 0) -> list[tuple[float, int, bytes]]:
    run = SimulatedRun(default_config(duration_s=seconds, seed=seed, sides=(Side.LEFT, Side.RIGHT)))
    header = SessionHeader(
        started_unix=1.7e9,
        source="sim",
        sensors=[SensorEntry.from_info(i, s.info()) for i, s in enumerate(run.sensors)],
        config={"seed": seed},
    )
    deliveries = list(run.deliveries(0.2))
    assert record_session(path, header, deliveries) == len(deliveries)
    return [(d.t, d.sensor, d.data) for d in deliveries]


def test_round_trip_keeps_every_byte_and_time(tmp_path: Path) -> None:
    path = tmp_path / "s.shs"
    sent = record(path)
    r = SessionReader(path)
    got = [(x.t, x.sensor, bytes(x.data)) for x in r.records()]
    assert got == sent
    assert r.damage == [] and r.clean_close
    assert [s.info.side for s in r.sensors] == [Side.LEFT, Side.RIGHT]
    assert r.header.config == {"seed": 0}


def test_existing_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "s.shs"
    path.write_bytes(b"precious")
    with pytest.raises(RecordingError, match="already exists"):
        SessionWriter(path, SessionHeader(0.0, "sim"))
    assert path.read_bytes() == b"precious"


@pytest.mark.parametrize("content", [b"", b"hello world, not a session", b"SHSESS"])
def test_not_a_session(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.shs"
    path.write_bytes(content)
    with pytest.raises(RecordingError, match="is not a sensorhub session file"):
        SessionReader(path)


def test_truncation_reports_and_replays_the_intact_part(tmp_path: Path) -> None:
    path = tmp_path / "s.shs"
    sent = record(path)
    data = path.read_bytes()
    for cut in (len(data) - 3, len(data) * 2 // 3, len(data) // 3, 2000):
        p = tmp_path / f"cut{cut}.shs"
        p.write_bytes(data[:cut])
        r = SessionReader(p)
        got = [(x.t, x.sensor, bytes(x.data)) for x in r.records()]
        assert got == sent[: len(got)]  # an exact prefix of what was written
        assert not r.clean_close
        if cut < len(data) - 20:
            assert len(r.damage) == 1 and "truncated" in r.damage[0].reason
            assert r.damage[0].offset + r.damage[0].length == cut
        rep = session_report(r)
        assert rep["intact_pct"] < 100.0 or not r.damage


def test_bit_flips_lose_only_their_chunk(tmp_path: Path) -> None:
    path = tmp_path / "s.shs"
    sent = record(path, seconds=20)
    data = bytearray(path.read_bytes())
    flips = [len(data) // 4, len(data) // 2]
    for pos in flips:
        data[pos] ^= 0x10
    bad = tmp_path / "flipped.shs"
    bad.write_bytes(bytes(data))
    r = SessionReader(bad)
    assert len(r.damage) == 2
    assert all("checksum" in d.reason for d in r.damage)
    got = [(x.t, x.sensor, bytes(x.data)) for x in r.records()]
    # about 1 s of data per damaged chunk lost, everything else intact and in order
    assert len(sent) - len(got) < 2 * 1.2 * len(sent) / 20
    assert set(got) <= set(sent)
    assert r.clean_close  # the END chunk after the damage is still found
    lines = r.describe_damage()
    assert lines[0].startswith(f"bytes {r.damage[0].offset}-") and "after t=" in lines[0]


def test_truncated_header_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "s.shs"
    record(path, seconds=2)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(RecordingError, match="session header is missing or damaged"):
        SessionReader(path)


def test_damaged_header_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "s.shs"
    record(path, seconds=3)
    data = bytearray(path.read_bytes())
    data[FILE_HEADER.size + CHUNK_HEADER.size + 5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(RecordingError, match="session header is missing or damaged"):
        SessionReader(path)


WRITER = textwrap.dedent(
    """
    import sys, time
    from firmware_sim.run import SimulatedRun, default_config
    from sensorhub.recording import SensorEntry, SessionHeader, SessionWriter
    run = SimulatedRun(default_config(duration_s=600, seed=1))
    hdr = SessionHeader(time.time(), "sim",
                        [SensorEntry.from_info(0, run.sensors[0].info())])
    w = SessionWriter(sys.argv[1], hdr)
    t0 = time.monotonic()
    print("ready", flush=True)
    while True:  # real time, as a live recording
        for d in run.poll(0.02):
            w.write(d.t, d.sensor, d.data)
        w.tick(time.monotonic() - t0)
        time.sleep(max(0.0, t0 + run.t - time.monotonic()))
    """
)


def test_sigkill_loses_at_most_the_last_second(tmp_path: Path) -> None:
    path = tmp_path / "killed.shs"
    with subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE
    ) as proc:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        started = time.monotonic()
        time.sleep(3.3)
        os.kill(proc.pid, signal.SIGKILL)
        killed_at = time.monotonic() - started
        proc.wait()
    r = SessionReader(path)
    last = max(x.t for x in r.records())
    assert not r.clean_close
    # host time in the file runs with the wall clock from "ready" (within scheduling noise)
    assert last >= killed_at - 1.0
    assert all(d.reason.startswith("truncated") for d in r.damage)
