"""Session files: raw notifications exactly as received, with their host receive time.

Layout (all little-endian; ``docs/recording.md`` has the prose)::

    file header   8s magic b"SHSESS\\r\\n", u16 format version, u16 0, u32 0
    chunk*        4s b"SHCK", u8 type, u8 0, u16 0, u32 payload length, u32 CRC-32, payload

Chunk types: HEADER (JSON: wall-clock start, source, configuration, sensors), SENSOR
(JSON: a sensor that joined later), PACKETS (records ``f8 host_t, u16 sensor, u8 kind,
u8 0, u16 length, bytes``) and END (JSON summary, written by a clean close).

The writer appends a PACKETS chunk at least every ``flush_interval_s`` (0.5 s) of host time
(and whenever :meth:`SessionWriter.tick` sees that much wall time pass), each in one
``write`` call, so a crash or ``kill -9`` loses at most the last second.  The reader
checks every chunk's CRC, resynchronises on the next chunk magic after damage, reports
what was lost and replays all intact chunks.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import msgspec
import numpy as np
import numpy.typing as npt
from numba import njit

from sensorhub.errors import RecordingError, SensorhubError
from sensorhub.events import Link
from sensorhub.fileutil import PRIVATE_MODE
from sensorhub.protocol import codec, spec
from sensorhub.protocol.codec import DeviceInfo
from sensorhub.protocol.vendor import FAMILIES

MAGIC = b"SHSESS\r\n"
FORMAT_VERSION = 1
FILE_HEADER = struct.Struct("<8sHHI")
CHUNK_MAGIC = b"SHCK"
CHUNK_HEADER = struct.Struct("<4sBBHII")
RECORD = struct.Struct("<dHBBH")  # host time, sensor, kind, 0, payload length; then bytes
RECORD_OFFSET = spec.field_offsets(RECORD, ("t", "sensor", "kind", "pad", "length"))
#: Record kind of a host-side record: a sensor's link changed (``events.Link`` as JSON),
#: so that a replay sees an outage as the live run did.  Notifications carry their message
#: kind (``spec.Kind``, all below 0x80).
RECORD_LINK = 0xF0

CHUNK_HEADER_T = 1
CHUNK_SENSOR = 2
CHUNK_PACKETS = 3
CHUNK_END = 4
CHUNK_NAMES = {
    CHUNK_HEADER_T: "header",
    CHUNK_SENSOR: "sensor",
    CHUNK_PACKETS: "packets",
    CHUNK_END: "end",
}
MAX_CHUNK = 64 << 20


#: Record kind of a vendor sensor's notification (raw vendor bytes: their second byte is
#: no message kind, so it is never taken for one).
RECORD_VENDOR = 0xE0


class SensorEntry(msgspec.Struct, frozen=True):
    """A sensor of the session: its index in records, name, address, raw device info.

    A vendor sensor (``family`` other than "sensorhub") records its notifications as the
    vendor sent them; ``info_hex`` holds the device info sensorhub derived for it
    (rate, scales, mounting, side) and ``settings`` what its stream decoder needs to read
    them again (``pipeline.vendor``)."""

    index: int
    name: str
    info_hex: str
    address: str = ""
    family: str = "sensorhub"
    settings: dict[str, Any] = {}

    @property
    def vendor(self) -> bool:
        return self.family != "sensorhub"

    @property
    def info(self) -> DeviceInfo:
        """The device info; RecordingError (naming the sensor) if it is damaged."""
        who = f"sensor {self.index} ({self.name or 'unnamed'})"
        try:
            msg, _ = codec.decode(bytes.fromhex(self.info_hex))
        except (ValueError, SensorhubError) as exc:
            text = exc.message if isinstance(exc, SensorhubError) else str(exc)
            raise RecordingError(f"{who}: its stored device info is damaged ({text})") from None
        if not isinstance(msg, DeviceInfo):
            raise RecordingError(f"{who}: its stored device info is not device info")
        return msg

    @classmethod
    def from_info(
        cls,
        index: int,
        info: DeviceInfo,
        address: str = "",
        family: str = "sensorhub",
        settings: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> SensorEntry:
        """``name``: the sensor's full name (device info keeps 16 bytes of it)."""
        return cls(
            index, name or info.name, codec.encode(info).hex(), address, family, settings or {}
        )


class SessionHeader(msgspec.Struct, frozen=True):
    """What the session is: when it started, where the data came from, how it was set up."""

    started_unix: float
    source: str  # "sim", "import", "ble", ...
    sensors: list[SensorEntry] = []
    config: dict[str, Any] = {}
    software: str = "sensorhub"
    format_version: int = FORMAT_VERSION


class Summary(msgspec.Struct, frozen=True):
    """Written by a clean close."""

    records: int
    duration_s: float


def link_of(data: bytes | memoryview) -> Link | None:
    """The link event of a RECORD_LINK record (None if it does not decode)."""
    try:
        return msgspec.json.decode(data, type=Link)
    except msgspec.DecodeError:
        return None


@dataclass(frozen=True, slots=True)
class Record:
    """One received notification."""

    t: float  # host receive time, seconds from the session start
    sensor: int
    kind: int
    data: memoryview


@dataclass(frozen=True)
class Damage:
    """A stretch of the file that could not be read."""

    offset: int
    length: int
    reason: str
    after_t: float | None  # host time of the last intact record before it


class SessionWriter:
    """Append-only session writer.

    Parameters
    ----------
    path
        File to create (an existing file is never overwritten).
    header
        Session header, written first.
    flush_interval_s
        Longest host-time span one PACKETS chunk may cover before it is written out.
    fsync
        Also ``os.fsync`` each chunk (live recording: survives power loss too).
    """

    def __init__(
        self,
        path: str | Path,
        header: SessionHeader,
        flush_interval_s: float = 0.5,
        fsync: bool = False,
        max_chunk_bytes: int = 1 << 20,
    ) -> None:
        self.path = Path(path)
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
        except FileExistsError:
            raise RecordingError(
                f"{self.path} already exists",
                "choose a new file name; sessions are never overwritten",
            ) from None
        except OSError as exc:
            raise RecordingError(f"cannot create {self.path}: {exc.strerror}") from None
        self.header = header
        self.flush_interval_s = flush_interval_s
        self.fsync = fsync
        self.max_chunk_bytes = max_chunk_bytes
        self._buf = bytearray()
        self._chunk_t0: float | None = None
        self._last_t = 0.0
        self.records = 0
        self.closed = False
        self._vendor = {e.index for e in header.sensors if e.vendor}
        self._write(FILE_HEADER.pack(MAGIC, FORMAT_VERSION, 0, 0))
        self._chunk(CHUNK_HEADER_T, msgspec.json.encode(header))

    def _write(self, data: bytes | bytearray) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
        if self.fsync:
            os.fsync(self._fd)

    def _chunk(self, kind: int, payload: bytes | bytearray) -> None:
        head = CHUNK_HEADER.pack(CHUNK_MAGIC, kind, 0, 0, len(payload), zlib.crc32(payload))
        self._write(head + payload)

    def add_sensor(self, entry: SensorEntry) -> None:
        """Declare a sensor that joined after the header was written."""
        self.flush()
        self._chunk(CHUNK_SENSOR, msgspec.json.encode(entry))
        if entry.vendor:
            self._vendor.add(entry.index)

    def write(
        self, t: float, sensor: int, data: bytes | bytearray | memoryview, kind: int = 0
    ) -> None:
        """Append one notification received at host time ``t`` (s from session start)."""
        if self._chunk_t0 is not None and t - self._chunk_t0 >= self.flush_interval_s:
            self.flush()
        if self._chunk_t0 is None:
            self._chunk_t0 = t
        if not kind:
            if sensor in self._vendor:
                kind = RECORD_VENDOR
            elif len(data) > 1:
                kind = data[1]
        self._buf += RECORD.pack(t, sensor, kind, 0, len(data))
        self._buf += data
        self._last_t = t
        self.records += 1
        if len(self._buf) >= self.max_chunk_bytes:
            self.flush()

    def tick(self, t: float) -> None:
        """Flush if the open chunk is older than the interval at host time ``t``."""
        if self._chunk_t0 is not None and t - self._chunk_t0 >= self.flush_interval_s:
            self.flush()

    def flush(self) -> None:
        """Write the open PACKETS chunk now."""
        if self._buf:
            self._chunk(CHUNK_PACKETS, self._buf)
            self._buf = bytearray()
        self._chunk_t0 = None

    def close(self) -> None:
        """Flush, write the END chunk and close the file (idempotent)."""
        if self.closed:
            return
        self.closed = True
        try:  # a full disk here leaves what was written before: readable, not closed cleanly
            self.flush()
            self._chunk(CHUNK_END, msgspec.json.encode(Summary(self.records, self._last_t)))
        finally:
            os.close(self._fd)

    def __enter__(self) -> SessionWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Delivery(Protocol):
    @property
    def t(self) -> float: ...
    @property
    def sensor(self) -> int: ...
    @property
    def data(self) -> bytes: ...


def record(
    path: str | Path, header: SessionHeader, deliveries: Iterable[_Delivery], fsync: bool = False
) -> int:
    """Write ``deliveries`` (host time, sensor index, bytes) to a new session file; returns
    how many were written."""
    with SessionWriter(path, header, fsync=fsync) as w:
        for d in deliveries:
            w.write(d.t, d.sensor, d.data)
    return w.records


@dataclass
class SessionReader:
    """Reads a session file, checking every chunk; damage is reported, not raised.

    Raises RecordingError only when the file is missing, unreadable or not a session.
    """

    path: Path
    header: SessionHeader = field(init=False)
    sensors: list[SensorEntry] = field(init=False)
    damage: list[Damage] = field(init=False)
    summary: Summary | None = field(init=False)
    size: int = field(init=False)

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._raw = self.path.read_bytes()
            self._data = memoryview(self._raw)
        except FileNotFoundError:
            raise RecordingError(f"{self.path}: no such file", "check the path") from None
        except IsADirectoryError:
            raise RecordingError(f"{self.path} is a directory, not a session file") from None
        except OSError as exc:
            raise RecordingError(f"cannot read {self.path}: {exc.strerror}") from None
        self.size = len(self._data)
        if self.size < FILE_HEADER.size or bytes(self._data[:8]) != MAGIC:
            raise RecordingError(
                f"{self.path} is not a sensorhub session file",
                "record one with `sensorhub sim --record FILE` or convert a CSV with "
                "`sensorhub import-csv`",
            )
        _, version, _, _ = FILE_HEADER.unpack_from(self._data)
        if version > FORMAT_VERSION:
            raise RecordingError(
                f"{self.path} is session format {version}; this sensorhub reads up to "
                f"{FORMAT_VERSION}",
                "update sensorhub",
            )
        self.damage = []
        self.summary = None
        self.sensors = []
        self._chunks: list[tuple[int, int, int]] = []  # (type, payload offset, length)
        self._scan()
        header = next((c for c in self._chunks if c[0] == CHUNK_HEADER_T), None)
        if header is None:
            raise RecordingError(
                f"{self.path}: the session header is missing or damaged",
                "the file cannot be replayed without it",
            )
        _, off, n = header
        try:
            self.header = msgspec.json.decode(self._data[off : off + n], type=SessionHeader)
        except msgspec.DecodeError as exc:  # ValidationError too: it is a DecodeError
            raise RecordingError(
                f"{self.path}: the session header is damaged ({exc})",
                "the file cannot be replayed without it",
            ) from None
        head_at = off - CHUNK_HEADER.size
        for entry in self.header.sensors:
            self._add_sensor(entry, head_at, n + CHUNK_HEADER.size)
        for kind, off, n in self._chunks:
            at, whole = off - CHUNK_HEADER.size, n + CHUNK_HEADER.size
            if kind == CHUNK_SENSOR:
                try:
                    entry = msgspec.json.decode(self._data[off : off + n], type=SensorEntry)
                except msgspec.DecodeError as exc:
                    self.damage.append(Damage(at, whole, f"sensor chunk unreadable ({exc})", None))
                    continue
                self._add_sensor(entry, at, whole)
            elif kind == CHUNK_END:
                try:
                    self.summary = msgspec.json.decode(self._data[off : off + n], type=Summary)
                except msgspec.DecodeError as exc:
                    self.damage.append(Damage(at, whole, f"end chunk unreadable ({exc})", None))
        self.damage.sort(key=lambda d: d.offset)

    def _add_sensor(self, entry: SensorEntry, at: int, length: int) -> None:
        """A sensor of the session, if its device info can be read; else the damage names it
        (its records are then left out: nothing says how to read them)."""
        try:
            info = entry.info
        except SensorhubError as exc:
            self.damage.append(Damage(at, length, f"{exc.message}; its records are left out", None))
            return
        if entry.family not in FAMILIES:
            self.damage.append(
                Damage(
                    at,
                    length,
                    f"sensor {entry.index} ({entry.name}): unknown sensor family "
                    f"{entry.family!r} (a newer sensorhub wrote it?); its records are left out",
                    None,
                )
            )
            return
        if entry.family != "rsc" and not spec.ODR_MIN_HZ <= info.odr_hz <= spec.ODR_MAX_HZ:
            self.damage.append(
                Damage(
                    at,
                    length,
                    f"sensor {entry.index} ({entry.name}): a rate of {info.odr_hz:g} Hz, outside "
                    f"{spec.ODR_MIN_HZ}-{spec.ODR_MAX_HZ} Hz; its records are left out",
                    None,
                )
            )
            return
        if any(e.index == entry.index for e in self.sensors):
            self.damage.append(
                Damage(at, length, f"sensor {entry.index} is declared twice; kept the first", None)
            )
            return
        self.sensors.append(entry)

    def _scan(self) -> None:
        """Chunks from the file header on; after damage, on from the next valid chunk.

        Which positions hold a whole chunk with a good CRC is worked out once for the whole
        file (:func:`valid_chunks`, linear in its size, however the bytes were crafted), so
        the resynchronisation after damage is a look-up."""
        valid = valid_chunks(self._raw, FILE_HEADER.size)
        at, kind, size = (x.tolist() for x in valid)
        kinds = {p: (k, n) for p, k, n in zip(at, kind, size, strict=True)}
        pos = FILE_HEADER.size
        packets: list[tuple[int, int]] = []  # packet chunks so far (the last time: at damage)
        known: dict[tuple[int, int], float | None] = {}

        def last_time(chunk: tuple[int, int]) -> float | None:
            if chunk not in known:
                known[chunk] = self._last_time(*chunk)
            return known[chunk]

        while pos < self.size:
            ok = kinds.get(pos)
            if ok is not None:
                kind, length = ok
                start = pos + CHUNK_HEADER.size
                self._chunks.append((kind, start, length))
                if kind == CHUNK_PACKETS and length >= RECORD.size:
                    packets.append((start, length))
                pos = start + length
                continue
            reason = self._diagnose(pos)
            k = int(np.searchsorted(valid[0], pos, side="right"))
            nxt = int(valid[0][k]) if k < len(valid[0]) else self.size
            last_t = next((t for c in reversed(packets) if (t := last_time(c)) is not None), None)
            self.damage.append(Damage(pos, nxt - pos, reason, last_t))
            pos = nxt

    def _diagnose(self, pos: int) -> str:
        remain = self.size - pos
        if remain < CHUNK_HEADER.size:
            return f"truncated: {remain} bytes of a chunk header"
        magic, kind, _, _, length, _ = CHUNK_HEADER.unpack_from(self._data, pos)
        if magic != CHUNK_MAGIC:
            return "bytes that are not a chunk"
        name = CHUNK_NAMES.get(kind, f"unknown type {kind}")
        if pos + CHUNK_HEADER.size + length > self.size and length <= MAX_CHUNK:
            have = remain - CHUNK_HEADER.size
            return f"truncated {name} chunk: {have} of {length} bytes"
        return f"{name} chunk fails its checksum"

    def _last_time(self, start: int, length: int) -> float | None:
        last = None
        for rec in self._iter_chunk(start, length):
            last = rec.t
        return last

    def _iter_chunk(self, start: int, length: int) -> Iterator[Record]:
        data = self._data
        pos, end = start, start + length
        unpack = RECORD.unpack_from
        while pos + RECORD.size <= end:
            t, sensor, kind, _, n = unpack(data, pos)
            pos += RECORD.size
            if pos + n > end:
                break
            yield Record(t, sensor, kind, data[pos : pos + n])
            pos += n

    @property
    def buffer(self) -> npt.NDArray[np.uint8]:
        """The whole file as bytes (read-only, zero-copy)."""
        return np.frombuffer(self._raw, np.uint8)

    def index(
        self,
    ) -> tuple[
        npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]
    ]:
        """Where every intact record is in :attr:`buffer`, in file order: record start,
        sensor, payload offset and payload length (the record time is the f8 at its start).
        """
        chunks = np.array(
            [(start, size) for kind, start, size in self._chunks if kind == CHUNK_PACKETS],
            dtype=np.int64,
        ).reshape(-1, 2)
        cap = int(chunks[:, 1].sum()) // RECORD.size + 1
        head = np.zeros(cap, np.int64)
        sensor = np.zeros(cap, np.int64)
        off = np.zeros(cap, np.int64)
        length = np.zeros(cap, np.int64)
        n = scan_records(
            self.buffer, chunks[:, 0].copy(), chunks[:, 1].copy(), head, sensor, off, length
        )
        return head[:n], sensor[:n], off[:n], length[:n]

    def records(self) -> Iterator[Record]:
        """Every intact record, in file (= arrival) order."""
        for kind, start, length in self._chunks:
            if kind == CHUNK_PACKETS:
                yield from self._iter_chunk(start, length)

    @property
    def damaged_bytes(self) -> int:
        return sum(d.length for d in self.damage)

    @property
    def clean_close(self) -> bool:
        return self.summary is not None

    def describe_damage(self) -> list[str]:
        """One line per damaged stretch, in the user's terms."""
        out = []
        for d in self.damage:
            where = f"after t={d.after_t:.3f} s" if d.after_t is not None else "before any data"
            out.append(
                f"bytes {d.offset}-{d.offset + d.length - 1} ({d.length} bytes, {where}): "
                f"{d.reason}"
            )
        return out


_REC_SIZE = RECORD.size
_REC_SENSOR = RECORD_OFFSET["sensor"]
_REC_LENGTH = RECORD_OFFSET["length"]


@njit(cache=True)
def scan_records(
    buf: np.ndarray,
    starts: np.ndarray,
    sizes: np.ndarray,
    rec_head: np.ndarray,
    rec_sensor: np.ndarray,
    rec_off: np.ndarray,
    rec_len: np.ndarray,
) -> int:
    """Index the records (``RECORD``, then the payload) of PACKETS chunks whose payloads
    are at ``buf[starts[c]:+sizes[c]]``: where each record (its time) and its bytes start,
    its sensor and length.  Returns how many."""
    n = 0
    for c in range(starts.shape[0]):
        q = starts[c]
        stop = q + sizes[c]
        while q + _REC_SIZE <= stop:
            k = q + _REC_LENGTH
            length = buf[k] | (buf[k + 1] << 8)
            if q + _REC_SIZE + length > stop:
                break
            rec_head[n] = q
            rec_sensor[n] = buf[q + _REC_SENSOR] | (buf[q + _REC_SENSOR + 1] << 8)
            rec_off[n] = q + _REC_SIZE
            rec_len[n] = length
            n += 1
            q += _REC_SIZE + length
    return n


# ------------------------------------------------------------ chunk validity, in one pass
_CRC_POLY = 0xEDB88320  # CRC-32 (zlib), reflected


@njit(cache=True)
def _multmodp(a: int, b: int) -> int:
    """a(x) b(x) modulo the CRC-32 polynomial (reflected bit order), as zlib's multmodp."""
    m = 1 << 31
    p = 0
    while True:
        if a & m:
            p ^= b
            if (a & (m - 1)) == 0:
                break
        m >>= 1
        b = (b >> 1) ^ _CRC_POLY if b & 1 else b >> 1
    return p


@njit(cache=True)
def _crc_of_ranges(
    prefix_a: np.ndarray, prefix_b: np.ndarray, lengths: np.ndarray, out: np.ndarray
) -> None:
    """CRC-32 of ``data[a:b]`` from the CRC-32s of ``data[:a]`` and ``data[:b]``:
    ``crc(A + B) = crc(A) x^(8 len B) + crc(B)`` (zlib's crc32_combine, solved for crc(B))."""
    x2n = np.zeros(32, np.int64)  # x^(2^k) mod p
    x2n[0] = 1 << 30  # x^1
    for k in range(1, 32):
        x2n[k] = _multmodp(x2n[k - 1], x2n[k - 1])
    for i in range(len(lengths)):
        n = lengths[i]
        k = 3  # x^(8 n) = x^(n 2^3)
        shift = 1 << 31  # x^0
        while n:
            if n & 1:
                shift = _multmodp(x2n[k & 31], shift)
            n >>= 1
            k += 1
        out[i] = prefix_b[i] ^ _multmodp(shift, prefix_a[i])


def valid_chunks(
    raw: bytes, start: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Every position from ``start`` at which a whole chunk with a good CRC begins, with its
    type and payload length (sorted by position).

    Linear in the file's size for any content: each candidate (a chunk magic with a known
    type and a length that fits) gets its CRC from two prefix CRCs of the file, and those
    come from one pass over it, so a crafted file of overlapping chunk headers costs no
    more than a well-formed one."""
    buf = np.frombuffer(raw, np.uint8)
    size = len(buf)
    h = CHUNK_HEADER.size
    empty = np.zeros(0, np.int64)
    if size - start < h:
        return empty, empty, empty
    m = np.frombuffer(CHUNK_MAGIC, np.uint8)
    n = size - h + 1 - start  # positions at which a whole chunk header fits
    hit = buf[start : start + n] == m[0]
    for j in range(1, 4):
        hit &= buf[start + j : start + j + n] == m[j]
    pos = np.flatnonzero(hit).astype(np.int64) + start
    if not len(pos):
        return empty, empty, empty
    heads = buf[pos[:, None] + np.arange(h)]
    kind = heads[:, 4].astype(np.int64)
    length = heads[:, 8:12].copy().view("<u4").ravel().astype(np.int64)
    crc = heads[:, 12:16].copy().view("<u4").ravel().astype(np.int64)
    a = pos + h
    ok = np.isin(kind, list(CHUNK_NAMES)) & (length <= MAX_CHUNK) & (a + length <= size)
    pos, kind, length, crc, a = pos[ok], kind[ok], length[ok], crc[ok], a[ok]
    b = a + length
    points = np.unique(np.concatenate([a, b]))
    prefix = np.zeros(len(points), np.int64)
    view = memoryview(raw)
    c, last = 0, 0
    for i, q in enumerate(points.tolist()):
        c = zlib.crc32(view[last:q], c) if q > last else c
        prefix[i] = c
        last = q
    got = np.zeros(len(pos), np.int64)
    _crc_of_ranges(
        prefix[np.searchsorted(points, a)], prefix[np.searchsorted(points, b)], length, got
    )
    good = got == crc
    return pos[good], kind[good], length[good]
