"""Session files: round trip, damage reports, crash safety."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
import zlib
from pathlib import Path

import msgspec
import numpy as np
import pytest

from firmware_sim.run import SimulatedRun, default_config
from sensorhub.errors import RecordingError
from sensorhub.inspect import session_report
from sensorhub.recording import (
    CHUNK_HEADER,
    CHUNK_MAGIC,
    FILE_HEADER,
    MAGIC,
    RECORD,
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


WRONG_SHAPES: list[object] = [[1, 2], "x", 3.5, None, {"records": "many"}, {"index": -1}]


def crafted_chunk(rng: np.random.Generator, valid_info: str) -> bytes:
    """One chunk with a good CRC and content meant to break a reader."""
    kind = int(rng.choice([1, 2, 3, 4, 4, 2, 3, 7]))
    pick = int(rng.integers(0, 9))
    if pick == 0:
        payload = rng.bytes(int(rng.integers(0, 200)))
    elif pick == 1:  # JSON of the wrong shape
        payload = json.dumps(WRONG_SHAPES[int(rng.integers(0, len(WRONG_SHAPES)))]).encode()
    elif pick in (2, 3):  # a sensor entry whose device info is damaged (or not)
        infos = ["zz", "abc", valid_info[: int(rng.integers(0, len(valid_info)))]]
        info = [*infos, rng.bytes(20).hex(), valid_info][int(rng.integers(0, 5))]
        entry: dict[str, object] = {"index": int(rng.integers(-2, 4))}
        entry["name"] = "x" * int(rng.integers(0, 40))
        entry["info_hex"] = info
        header = {"started_unix": 1.0, "source": "sim", "sensors": [entry]}
        payload = json.dumps(header if kind == 1 else entry).encode()
    elif pick == 4:  # truncated or mutated JSON
        text = bytearray(json.dumps({"started_unix": 1.0, "source": "sim", "sensors": []}).encode())
        text[int(rng.integers(0, len(text)))] = int(rng.integers(0, 256))
        payload = bytes(text[: int(rng.integers(0, len(text) + 1))])
    elif pick == 5:
        payload = json.dumps({"records": int(rng.integers(-5, 5)), "duration_s": "x"}).encode()
    else:  # packet records: odd times, sensors, lengths and bytes
        out = bytearray()
        for _ in range(int(rng.integers(0, 8))):
            n = int(rng.integers(0, 60))
            t = float(rng.choice([rng.normal(0, 1e3), np.nan, np.inf, -1.0]))
            out += RECORD.pack(t, int(rng.integers(0, 4)), int(rng.integers(0, 256)), 0, n)
            out += rng.bytes(int(rng.integers(0, n + 4)))
        payload = bytes(out)
    return CHUNK_HEADER.pack(CHUNK_MAGIC, kind, 0, 0, len(payload), zlib.crc32(payload)) + payload


@pytest.mark.slow
def test_crafted_chunks_with_good_crcs_raise_only_documented_errors(tmp_path: Path) -> None:
    """Issue 11, defect 11: chunks with a valid CRC and crafted content raised
    ``msgspec.DecodeError``, ``ValidationError`` or ``ValueError`` (from ``fromhex``) as
    tracebacks in ``info``/``replay``.  50,000 crafted chunks in 1,000 files: reading,
    ``info``'s report, the records, the index and a replay raise nothing but
    RecordingError, and damage names the sensor."""
    from sensorhub.pipeline.session import process_session

    rng = np.random.default_rng(11)
    run = SimulatedRun(default_config(duration_s=1, seed=1))
    valid = SensorEntry.from_info(0, run.sensors[0].info())
    good_header = SessionHeader(1.7e9, "sim", [valid])
    head_json = msgspec.json.encode(good_header)
    head_chunk = CHUNK_HEADER.pack(CHUNK_MAGIC, 1, 0, 0, len(head_json), zlib.crc32(head_json))
    head_chunk += head_json
    outcomes = {"read": 0, "refused": 0, "named": 0}
    path = tmp_path / "f.shs"
    for f in range(1000):
        chunks = [crafted_chunk(rng, valid.info_hex) for _ in range(50)]
        first = [head_chunk] if f % 4 else []  # most files start well
        path.write_bytes(MAGIC + struct.pack("<HHI", 1, 0, 0) + b"".join(first + chunks))
        try:
            reader = SessionReader(path)
        except RecordingError:
            outcomes["refused"] += 1
            continue
        outcomes["read"] += 1
        session_report(reader)
        list(reader.records())
        reader.index()
        lines = reader.describe_damage()
        outcomes["named"] += any("stored device info is damaged" in x for x in lines)
        if f % 10 == 1:
            process_session(reader)
    assert outcomes["read"] > 500 and outcomes["refused"] > 100 and outcomes["named"] > 100


def test_a_damaged_device_info_names_the_file_and_sensor_and_spares_the_others(
    tmp_path: Path,
) -> None:
    """Issue 11, defect 11: a bad stored device info named neither file nor sensor (and
    ``fromhex`` raised a ValueError).  The damage line names the sensor, the others replay."""
    deliveries = record(tmp_path / "good.shs")
    good = SessionReader(tmp_path / "good.shs")
    bad = SensorEntry(1, "SH-RIGHT-TEST", "not hex at all")
    path = tmp_path / "s.shs"
    record_session(path, SessionHeader(1.7e9, "sim", [good.sensors[0], bad]), [])
    reader = SessionReader(path)
    assert [e.index for e in reader.sensors] == [0]
    (line,) = reader.describe_damage()
    assert "sensor 1 (SH-RIGHT-TEST): its stored device info is damaged" in line
    assert len(deliveries) > 100


def test_a_crafted_file_of_overlapping_chunk_headers_reads_as_one_damaged_stretch(
    tmp_path: Path,
) -> None:
    """Issue 11, defect 11: resynchronising took time quadratic in the size (a crafted
    2 MiB file: 18 s to ``info``).  The same kind of file reads as its header and one
    damaged stretch (its time is measured by ``tools/bench_foundation.py``)."""
    from tools.bench_foundation import crafted_file

    path = tmp_path / "crafted.shs"
    crafted_file(path, size=256 << 10)
    reader = SessionReader(path)
    assert reader.header.source == "crafted"
    assert (
        len(reader.damage) == 1 and reader.damage[0].offset + reader.damage[0].length == reader.size
    )
    assert list(reader.records()) == []


def test_files_a_run_writes_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    """Issue 11, defect 12: recordings, JSON lines and WAV files were world-readable
    (0644): a runner's health data.  They are created 0600, whatever the umask."""
    import stat

    from sensorhub.cues import CueSettings
    from sensorhub.sinks.audio import WavSink
    from sensorhub.sinks.files import JsonlSink

    old = os.umask(0o022)
    try:
        record(tmp_path / "r.shs", seconds=1.0)
        JsonlSink(tmp_path / "e.jsonl")._fh.close()
        wav = WavSink(tmp_path / "c.wav", CueSettings())
        wav._wav.close()
        wav._file.close()
    finally:
        os.umask(old)
    for name in ("r.shs", "e.jsonl", "c.wav"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
