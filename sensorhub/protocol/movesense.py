"""Sans-IO codec for the Movesense GATT SensorData Protocol (GSP), and a stream decoder.

GSP is served by Movesense's ``gatt_sensordata_app`` firmware sample: the host writes
commands ``[command u8][ref u8][payload]`` to one characteristic and receives
``[response u8][ref u8][payload]`` notifications on another.  ``ref`` is chosen by the
host (1..255; 0 marks a free slot in the firmware) and ties responses and data to the
command that caused them.  A notification carries no length: it ends with the GATT value,
so :func:`decode` uses the whole view.

Layers, all without I/O:

* commands (:func:`hello`, :func:`subscribe`, :func:`unsubscribe`, :func:`decode_command`);
* notifications (:func:`decode` / :func:`encode`: :class:`CommandResult`,
  :class:`DataPart`, :class:`DataPart2`);
* resource payloads (:func:`resource_of`, :func:`parse_measurement`,
  :func:`encode_measurement`): ``uint32 timestamp_ms`` then, for each array of the
  resource (Acc, Gyro, Magn in that order), N float32 xyz vectors, the arrays one after
  the other, not interleaved;
* :class:`Reassembler`: DATA + DATA_PART2 (+ DATA_PART3) continuations per ref, and
  :func:`split_message`, its inverse for the simulated sensor;
* :class:`MovesenseStream`: one sensor's IMU subscription -> :class:`SampleBlock` values
  indexed from the device timestamps (``vendor`` module contract).

What was checked, and against what (clean-room: facts only, no vendor code)
---------------------------------------------------------------------------
Firmware sources read: ``samples/gatt_sensordata_app/GATTSensorDataClient.{cpp,h}`` in
``alexisduque/movesense-device-lib`` (two versions: 2.0/2.1, and the 2.2.0 one with
FETCH_LOG) and ``JonasPrimbs/movesense-ble-ecg-firmware``; ``CHANGES.md``.

* UUIDs (service ``34802252-…``, command ``34800001-…``, data ``34800002-…``), command codes
  HELLO 0, SUBSCRIBE 1, UNSUBSCRIBE 2 (FETCH_LOG 3 in 2.2.0: not implemented here) and
  response codes COMMAND_RESULT 1, DATA 2, DATA_PART2 3, DATA_PART3 4: as in the
  firmware's tables.  "ref must not be zero" is in the firmware's own protocol comment.
* SUBSCRIBE copies the path into a 160-byte buffer without a length check ("big enough
  since MTU is 161"): hence the 159-byte limit, enforced here.  Data notifications are
  built in a 158-byte buffer ("MTU - 3").  The firmware holds at most 4 subscriptions.
* Replies the firmware sends: HELLO -> ``01 ref 'H' 'e' 'l' 'l' 'o'`` (a COMMAND_RESULT
  whose payload is text, not a status); SUBSCRIBE with no free slot -> ``01 ref 01 FB``
  (507, big-endian).  A successful SUBSCRIBE and any UNSUBSCRIBE get *no* reply in these
  versions: the first DATA for a ref is the sign that the subscription runs.
* DATA_PART2 in the 2.2.0 source is produced only for logbook data (FETCH_LOG and
  logbook subscriptions): the first 150 data bytes go in a DATA notification, the rest
  in one DATA_PART2, each part led by its own uint32 byte offset.  Live /Meas streams are
  sent whole, in one DATA notification.  2.2.1's changelog says "Bugfix: Live-streams
  missing DATA_PART2 on gatt_sensordata_app"; that source is not in the stored copies.
  Clients derived from Movesense's later example (IMU9 at 104 Hz, 8 samples = a 294-byte
  message) join a live DATA_PART2 by appending its bytes after its 2-byte header (no
  offset field), and expect the PART2 right after the DATA.  That is what
  :class:`Reassembler` does; its completion rule is below.
* Status byte order: 507 is written big-endian by the firmware; clients (Movesense's web
  client included) read the status little-endian.  Decision: take little-endian when it
  is a plausible HTTP status (100..599), else big-endian when that is, else
  :class:`ProtocolError`.  Only 257, 258, 513 and 514 read as plausible statuses both
  ways; little-endian wins for those, and the encoder refuses to write them big-endian.
* Payload layouts (ts + N x acc + N x gyro [+ N x magn]; Acc in m/s², Gyro in deg/s, Magn
  in µT [unverified unit]) agree with third-party clients (a MicroPython client splits
  IMU6/IMU9 into consecutive arrays; the IMU9 example reads acc, gyro, magn arrays of 8).
  The samples-per-message count at each rate was not found in any source (the examples
  show 8 per IMU9 message at 104 Hz and 16 per ECG message at 200 Hz); nothing here
  depends on it.

DATA_PART2 completion rule (:class:`Reassembler`)
-------------------------------------------------
A message starts with a DATA notification and continues with DATA_PART2 then DATA_PART3
for the same ref.  A message is complete when its length is a whole number of samples of
its resource *and* the next notification for that ref is not a continuation; it is handed
over earlier when the rule can already tell:

* after a DATA_PART3 (the firmware defines no part beyond it);
* when its last part is shorter than the *part size*: a sender only continues a message
  whose part was full.  The part size is ``max_notification`` when the caller knows it
  (ATT MTU - 3), and otherwise, or if smaller, the length of the first DATA notification
  seen to be continued.  Until a part size is known a whole message waits for the next
  notification of its ref (or :meth:`Reassembler.flush`).

A continuation without its head, and a message its continuation never completed, are
dropped and counted (:attr:`Reassembler.dropped`).
"""

from __future__ import annotations

import enum
import math
import struct
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeAlias

import msgspec
import numpy as np
import numpy.typing as npt

from sensorhub.errors import IncompletePacket, ProtocolError
from sensorhub.protocol.vendor import SampleBlock, quantise

Buffer: TypeAlias = bytes | bytearray | memoryview
Vectors: TypeAlias = npt.NDArray[np.float32]

# --------------------------------------------------------------------------- GATT

SERVICE_UUID = "34802252-7185-4d5d-b431-630e7050e8f0"
COMMAND_CHAR_UUID = "34800001-7185-4d5d-b431-630e7050e8f0"  # write: commands
DATA_CHAR_UUID = "34800002-7185-4d5d-b431-630e7050e8f0"  # notify: results and data

HEADER_SIZE = 2  # response/command code + ref
MAX_PATH = 159  # the firmware's path buffer is 160 bytes, NUL included
HELLO_TEXT = b"Hello"  # the firmware's HELLO reply payload

#: Standard gravity: Movesense reports acceleration in m/s².
STANDARD_GRAVITY = 9.80665
#: int16 LSB of the blocks a MovesenseStream emits: the LSM6DS3's widest ranges (±16 g,
#: ±2000 deg/s), so no configured range clips in the conversion.
ACC_SCALE_G = 16.0 / 32768.0
GYRO_SCALE_DPS = 2000.0 / 32768.0


class Command(enum.IntEnum):
    """Byte 0 of a command (host -> sensor)."""

    HELLO = 0
    SUBSCRIBE = 1
    UNSUBSCRIBE = 2


class Response(enum.IntEnum):
    """Byte 0 of a notification (sensor -> host)."""

    COMMAND_RESULT = 1
    DATA = 2
    DATA_PART2 = 3
    DATA_PART3 = 4


_RESPONSE_CODES = frozenset(int(r) for r in Response)
_COMMAND_CODES = frozenset(int(c) for c in Command)

# ----------------------------------------------------------------------- commands


class GspCommand(msgspec.Struct, frozen=True):
    """A decoded command: what a simulated sensor was asked."""

    command: Command
    ref: int
    path: str = ""  # SUBSCRIBE only


def _check_ref(ref: int) -> int:
    if not isinstance(ref, int) or not 1 <= ref <= 255:
        raise ValueError(f"reference must be 1..255, got {ref!r}")
    return ref


def _path_bytes(path: str) -> bytes:
    try:
        raw = path.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError(f"resource path must be ASCII, got {path!r}") from None
    if not 1 <= len(raw) <= MAX_PATH:
        raise ValueError(f"resource path must be 1..{MAX_PATH} bytes, got {len(raw)}")
    if any(not 0x21 <= b <= 0x7E for b in raw):
        raise ValueError(f"resource path has a space or control character: {path!r}")
    return raw


def hello(ref: int) -> bytes:
    """HELLO: the sensor answers ``01 ref 'Hello'``."""
    return bytes((Command.HELLO, _check_ref(ref)))


def subscribe(ref: int, path: str) -> bytes:
    """SUBSCRIBE to a Whiteboard resource, e.g. ``/Meas/IMU6/104`` (ASCII, ≤159 bytes)."""
    return bytes((Command.SUBSCRIBE, _check_ref(ref))) + _path_bytes(path)


def unsubscribe(ref: int) -> bytes:
    """UNSUBSCRIBE the subscription made with ``ref``."""
    return bytes((Command.UNSUBSCRIBE, _check_ref(ref)))


def encode_command(cmd: GspCommand) -> bytes:
    if cmd.command == Command.SUBSCRIBE:
        return subscribe(cmd.ref, cmd.path)
    if cmd.path:
        raise ValueError(f"{cmd.command.name} takes no path")
    return hello(cmd.ref) if cmd.command == Command.HELLO else unsubscribe(cmd.ref)


def decode_command(view: Buffer) -> tuple[GspCommand, int]:
    """Decode one command write (the whole view: a GATT write carries no length).

    Raises IncompletePacket when fewer than 2 bytes (3 for SUBSCRIBE) are given, and
    ProtocolError for an unknown command, ref 0, a payload where none belongs, or a path
    that is not 1..159 printable ASCII bytes without spaces.
    """
    n = len(view)
    if n < 1:
        raise IncompletePacket(HEADER_SIZE, n)
    code = view[0]
    if code not in _COMMAND_CODES:
        raise ProtocolError(0, f"unknown command 0x{code:02x}")
    command = Command(code)
    need = HEADER_SIZE + (command == Command.SUBSCRIBE)
    if n < need:
        raise IncompletePacket(need, n)
    ref = view[1]
    if ref == 0:
        raise ProtocolError(1, "reference 0 is reserved (the firmware's free-slot mark)")
    if command != Command.SUBSCRIBE:
        if n > HEADER_SIZE:
            raise ProtocolError(HEADER_SIZE, f"{command.name} takes no payload")
        return GspCommand(command, ref), n
    raw = bytes(view[HEADER_SIZE:])
    if len(raw) > MAX_PATH:
        raise ProtocolError(HEADER_SIZE + MAX_PATH, f"path over {MAX_PATH} bytes")
    for i, b in enumerate(raw):
        if not 0x21 <= b <= 0x7E:
            raise ProtocolError(HEADER_SIZE + i, f"path byte 0x{b:02x} is not printable ASCII")
    return GspCommand(command, ref, raw.decode("ascii")), n


# ------------------------------------------------------------------ notifications


class CommandResult(msgspec.Struct, frozen=True, gc=False):
    """A COMMAND_RESULT notification.

    ``status`` is the HTTP-like status when the payload was two bytes (``big_endian``
    says which byte order it was read in); other payloads (HELLO's ``b"Hello"``) are kept
    in ``payload`` with ``status`` None.
    """

    ref: int
    status: int | None = None
    payload: bytes = b""
    big_endian: bool = False

    @property
    def ok(self) -> bool:
        return self.status is None or 200 <= self.status < 300


class DataPart(msgspec.Struct, frozen=True, gc=False):
    """A DATA notification: a resource message, or its first part."""

    ref: int
    payload: bytes


class DataPart2(msgspec.Struct, frozen=True, gc=False):
    """A continuation: DATA_PART2 (``part`` 2) or DATA_PART3 (``part`` 3)."""

    ref: int
    payload: bytes
    part: int = 2


Notification: TypeAlias = CommandResult | DataPart | DataPart2


def _plausible(status: int) -> bool:
    return 100 <= status <= 599


def encode(msg: Notification) -> bytes:
    """Encode a notification (what the sensor sends)."""
    ref = _check_ref(msg.ref)
    if isinstance(msg, CommandResult):
        if msg.status is not None:
            if msg.payload:
                raise ValueError("a command result has a status or a payload, not both")
            if not _plausible(msg.status):
                raise ValueError(f"status {msg.status} is not an HTTP status (100..599)")
            if msg.big_endian:
                swapped = ((msg.status & 0xFF) << 8) | (msg.status >> 8)
                if _plausible(swapped):
                    raise ValueError(f"status {msg.status} big-endian reads back little-endian")
                body = struct.pack(">H", msg.status)
            else:
                body = struct.pack("<H", msg.status)
        else:
            if len(msg.payload) < 3:
                raise ValueError("a non-status command result payload must be ≥ 3 bytes")
            body = bytes(msg.payload)
        return bytes((Response.COMMAND_RESULT, ref)) + body
    if not msg.payload:
        raise ValueError("a data notification needs a payload")
    if isinstance(msg, DataPart2):
        if msg.part not in (2, 3):
            raise ValueError(f"continuation part must be 2 or 3, got {msg.part}")
        code = Response.DATA_PART2 if msg.part == 2 else Response.DATA_PART3
        return bytes((code, ref)) + bytes(msg.payload)
    return bytes((Response.DATA, ref)) + bytes(msg.payload)


def command_result(ref: int, status: int, *, big_endian: bool = False) -> bytes:
    """A COMMAND_RESULT with a status (the 2.x firmware writes its 507 big-endian)."""
    return encode(CommandResult(ref, status, big_endian=big_endian))


def hello_reply(ref: int) -> bytes:
    """The firmware's answer to HELLO: ``01 ref 'Hello'``."""
    return encode(CommandResult(ref, payload=HELLO_TEXT))


def encode_data(ref: int, payload: bytes) -> bytes:
    """A DATA notification carrying a whole resource message."""
    return encode(DataPart(ref, payload))


def decode(view: Buffer) -> tuple[Notification, int]:
    """Decode one notification; it uses the whole view (``nbytes == len(view)``).

    Raises
    ------
    IncompletePacket
        Fewer than 2 bytes; a COMMAND_RESULT with under 2 payload bytes; a data
        notification with no payload.
    ProtocolError
        Unknown response code (offset 0), ref 0 (offset 1), a 2-byte status that is not
        an HTTP status in either byte order (offset 2).

    GSP has no length field, so a prefix of a notification that is itself a well-formed
    notification decodes as that shorter one (a prefix of a DATA is a shorter DATA; the
    first 4 bytes of HELLO's ``01 ref 'Hello'`` are a status ``'He'``, a ProtocolError).
    """
    n = len(view)
    if n < 1:
        raise IncompletePacket(HEADER_SIZE, n)
    code = view[0]
    if code not in _RESPONSE_CODES:
        raise ProtocolError(0, f"unknown response code 0x{code:02x}")
    if n < HEADER_SIZE:
        raise IncompletePacket(4 if code == Response.COMMAND_RESULT else 3, n)
    ref = view[1]
    if ref == 0:
        raise ProtocolError(1, "reference 0 is reserved (the firmware's free-slot mark)")
    if code == Response.COMMAND_RESULT:
        if n < 4:
            raise IncompletePacket(4, n)
        if n == 4:
            lo, hi = view[2], view[3]
            le, be = lo | hi << 8, hi | lo << 8
            if _plausible(le):
                return CommandResult(ref, le), n
            if _plausible(be):
                return CommandResult(ref, be, big_endian=True), n
            raise ProtocolError(
                2, f"status bytes {lo:02x} {hi:02x} are not an HTTP status in either byte order"
            )
        return CommandResult(ref, payload=bytes(view[2:])), n
    if n < 3:
        raise IncompletePacket(3, n)
    payload = bytes(view[2:])
    if code == Response.DATA:
        return DataPart(ref, payload), n
    return DataPart2(ref, payload, 2 if code == Response.DATA_PART2 else 3), n


# ------------------------------------------------------------------ resources


class Kind(enum.Enum):
    """A /Meas resource whose payload is a timestamp and float32 xyz arrays."""

    ACC = "Acc"
    GYRO = "Gyro"
    MAGN = "Magn"
    IMU6 = "IMU6"
    IMU6M = "IMU6m"
    IMU9 = "IMU9"

    @property
    def arrays(self) -> tuple[str, ...]:
        """The payload's arrays, in wire order."""
        return _ARRAYS[self]

    @property
    def sample_bytes(self) -> int:
        """Bytes per sample (one xyz float32 vector per array)."""
        return 12 * len(_ARRAYS[self])


_ARRAYS: dict[Kind, tuple[str, ...]] = {
    Kind.ACC: ("acc",),
    Kind.GYRO: ("gyro",),
    Kind.MAGN: ("magn",),
    Kind.IMU6: ("acc", "gyro"),
    Kind.IMU6M: ("acc", "magn"),
    Kind.IMU9: ("acc", "gyro", "magn"),
}
_KIND_BY_NAME = {k.value.lower(): k for k in Kind}
TIMESTAMP_SIZE = 4


class Resource(msgspec.Struct, frozen=True):
    kind: Kind
    rate_hz: int


def resource_of(path: str) -> Resource:
    """``/Meas/IMU6/104`` or ``Meas/Acc/208`` -> ``Resource(Kind.IMU6, 104)``.

    The leading ``/`` is optional and names are matched without regard to case.
    Raises ValueError for any other path (HR, ECG, Temp, Info, Config ...).
    """
    parts = path.strip().removeprefix("/").split("/")
    if len(parts) != 3 or parts[0].lower() != "meas":
        raise ValueError(f"not a /Meas/<kind>/<rate> path: {path!r}")
    kind = _KIND_BY_NAME.get(parts[1].lower())
    if kind is None:
        raise ValueError(f"not an Acc/Gyro/Magn/IMU6/IMU6m/IMU9 resource: {path!r}")
    if not parts[2].isascii() or not parts[2].isdigit() or int(parts[2]) == 0:
        raise ValueError(f"sample rate must be a positive integer: {path!r}")
    return Resource(kind, int(parts[2]))


class Measurement(msgspec.Struct, frozen=True, gc=False):
    """One resource message: the timestamp of its first sample and its vectors.

    ``acc`` (m/s²), ``gyro`` (deg/s) and ``magn`` (µT) are ``(n, 3)`` float32, or None when
    the resource has no such array (Gyro and Magn have no acc).
    """

    timestamp_ms: int
    acc: Vectors | None = None
    gyro: Vectors | None = None
    magn: Vectors | None = None

    @property
    def count(self) -> int:
        for a in (self.acc, self.gyro, self.magn):
            if a is not None:
                return int(a.shape[0])
        return 0


_F32 = np.dtype("<f4")
_U32 = struct.Struct("<I")


def whole_length(kind: Kind, length: int) -> bool:
    """Whether a payload of ``length`` bytes holds a whole number (≥1) of samples."""
    sb = kind.sample_bytes
    return length >= TIMESTAMP_SIZE + sb and (length - TIMESTAMP_SIZE) % sb == 0


def parse_measurement(kind: Kind, payload: Buffer) -> Measurement:
    """Parse a resource message (the DATA payload, parts joined).  Offsets in errors
    count from the payload's start.

    Raises IncompletePacket when the length is not ``4 + k x sample_bytes`` (k ≥ 1):
    ``needed`` is the next valid length; ProtocolError at the first NaN or infinity.
    """
    n_bytes = len(payload)
    sb = kind.sample_bytes
    if not whole_length(kind, n_bytes):
        k = max(1, -(-(n_bytes - TIMESTAMP_SIZE) // sb))
        raise IncompletePacket(TIMESTAMP_SIZE + k * sb, n_bytes)
    (ts,) = _U32.unpack_from(payload, 0)
    n = (n_bytes - TIMESTAMP_SIZE) // sb
    arrays = kind.arrays
    raw = np.frombuffer(payload, dtype=_F32, offset=TIMESTAMP_SIZE)
    bad = ~np.isfinite(raw)
    if bad.any():
        at = TIMESTAMP_SIZE + 4 * int(np.argmax(bad))
        raise ProtocolError(at, "float is NaN or infinite")
    vectors = raw.astype(np.float32).reshape(len(arrays), n, 3)
    found = dict(zip(arrays, vectors, strict=True))
    return Measurement(ts, found.get("acc"), found.get("gyro"), found.get("magn"))


def encode_measurement(kind: Kind, m: Measurement) -> bytes:
    """The payload of ``m`` as the sensor sends it (inverse of :func:`parse_measurement`)."""
    if not 0 <= m.timestamp_ms < 2**32:
        raise ValueError(f"timestamp {m.timestamp_ms} ms does not fit uint32")
    given = {"acc": m.acc, "gyro": m.gyro, "magn": m.magn}
    wanted = kind.arrays
    extra = [k for k, v in given.items() if v is not None and k not in wanted]
    if extra:
        raise ValueError(f"{kind.value} has no {', '.join(extra)} array")
    parts: list[bytes] = []
    n: int | None = None
    for name in wanted:
        value = given[name]
        if value is None:
            raise ValueError(f"{kind.value} needs a {name} array")
        with np.errstate(over="ignore", invalid="ignore"):
            arr = np.ascontiguousarray(value, dtype=_F32)
        if arr.ndim != 2 or arr.shape[1] != 3 or arr.shape[0] < 1:
            raise ValueError(f"{name} must be (n >= 1, 3), got {arr.shape}")
        if n is not None and arr.shape[0] != n:
            raise ValueError(f"arrays differ in length ({n} and {arr.shape[0]})")
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} has a NaN or a value beyond float32")
        n = arr.shape[0]
        parts.append(arr.tobytes())
    return _U32.pack(m.timestamp_ms) + b"".join(parts)


# ------------------------------------------------------------------ reassembly


class Assembled(msgspec.Struct, frozen=True, gc=False):
    """A whole resource message of one ref (DATA and its continuations joined)."""

    ref: int
    payload: bytes


@dataclass
class _Pending:
    parts: list[bytes]
    head_len: int  # notification length of the DATA part
    last_part: int  # 1 DATA, 2 PART2, 3 PART3
    size: int = 0

    def add(self, payload: bytes, part: int) -> None:
        self.parts.append(payload)
        self.size += len(payload)
        self.last_part = part


class Reassembler:
    """Joins DATA + DATA_PART2 (+ DATA_PART3) per ref (rule in the module docstring).

    ``kinds`` maps a ref to its resource, so that "a whole number of samples" can be
    checked; a ref with no kind counts any length as whole.  ``max_notification`` is the
    largest notification the link carries (ATT MTU - 3), if known.
    """

    def __init__(
        self, kinds: Mapping[int, Kind] | None = None, *, max_notification: int | None = None
    ) -> None:
        if max_notification is not None and max_notification < HEADER_SIZE + 1:
            raise ValueError(f"max_notification {max_notification} is too small")
        self.kinds: dict[int, Kind] = dict(kinds or {})
        self.part_size: int | None = max_notification
        self.dropped = 0  # messages (or orphan parts) dropped because a part was lost
        self._pending: dict[int, _Pending] = {}

    def set_kind(self, ref: int, kind: Kind) -> None:
        self.kinds[ref] = kind

    def pending(self, ref: int) -> bool:
        """Whether a message of ``ref`` is held (incomplete, or waiting for the next
        notification to show it is complete)."""
        return ref in self._pending

    def _whole(self, ref: int, size: int) -> bool:
        kind = self.kinds.get(ref)
        return kind is None or whole_length(kind, size)

    def _close(self, ref: int, out: list[Assembled]) -> None:
        p = self._pending.pop(ref, None)
        if p is None:
            return
        if self._whole(ref, p.size):
            out.append(Assembled(ref, b"".join(p.parts)))
        else:
            self.dropped += 1

    def _settle(self, ref: int, p: _Pending, part_len: int, out: list[Assembled]) -> None:
        """Hand the message over now if the rule can already tell it is complete."""
        if not self._whole(ref, p.size):
            return
        short = self.part_size is not None and part_len < self.part_size
        if p.last_part == 3 or short:
            del self._pending[ref]
            out.append(Assembled(ref, b"".join(p.parts)))

    def feed(self, msg: Notification) -> list[Assembled]:
        """One notification in; the messages it completes out (0, 1 or 2)."""
        out: list[Assembled] = []
        ref = msg.ref
        if isinstance(msg, DataPart2):
            p = self._pending.get(ref)
            if p is None or msg.part != p.last_part + 1:
                if p is not None:
                    del self._pending[ref]
                    self.dropped += 1
                self.dropped += 1
                return out
            # a continued head shows the sender's part size
            if p.last_part == 1 and (self.part_size is None or p.head_len < self.part_size):
                self.part_size = p.head_len
            p.add(msg.payload, msg.part)
            self._settle(ref, p, HEADER_SIZE + len(msg.payload), out)
            return out
        self._close(ref, out)
        if isinstance(msg, DataPart):
            length = HEADER_SIZE + len(msg.payload)
            p = _Pending([], length, 1)
            p.add(msg.payload, 1)
            self._pending[ref] = p
            self._settle(ref, p, length, out)
        return out

    def flush(self, ref: int | None = None) -> list[Assembled]:
        """Close the held message of ``ref`` (all refs when None): a caller that knows no
        continuation is coming (the stream stopped, a timeout)."""
        out: list[Assembled] = []
        for r in [ref] if ref is not None else sorted(self._pending):
            self._close(r, out)
        return out

    def reset(self) -> None:
        """Forget held parts (a new connection); the part size is kept."""
        self._pending.clear()


def split_message(ref: int, payload: bytes, max_notification: int) -> list[bytes]:
    """The notifications a sensor sends for one message when each carries at most
    ``max_notification`` bytes: DATA, then DATA_PART2 and DATA_PART3 as needed (full
    parts, the last one shorter or equal).  ValueError if more than 3 parts are needed."""
    _check_ref(ref)
    room = max_notification - HEADER_SIZE
    if room < 1:
        raise ValueError(f"max_notification {max_notification} leaves no room for data")
    if not payload:
        raise ValueError("empty message")
    chunks = [payload[i : i + room] for i in range(0, len(payload), room)]
    if len(chunks) > 3:
        raise ValueError(f"{len(payload)} bytes need {len(chunks)} parts; GSP has 3")
    codes = (Response.DATA, Response.DATA_PART2, Response.DATA_PART3)
    return [bytes((code, ref)) + chunk for code, chunk in zip(codes, chunks, strict=False)]


# ------------------------------------------------------------------ stream


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


#: Variance floor of one timestamp, ms²: ms rounding alone (uniform over 1 ms).
_TS_VAR_FLOOR = 1.0 / 12.0
#: Residual degrees of freedom the fit needs before its own scatter is believed (until
#: then the prior, at first the nominal period, is used).
MIN_FIT_DOF = 8
#: Seconds of recent messages the line is fitted over: long enough to pin the period
#: to a few ppm, short enough to follow an oscillator's thermal drift.
FIT_WINDOW_S = 60.0
#: A gap is bridged (the line goes on across it) when the period's uncertainty makes its
#: sample count uncertain by less than this standard deviation, in samples; a longer one
#: cuts the line, its estimate carrying on as the prior, so a miscounted gap cannot bend
#: the fit.  (A timestamp's own jitter is no reason: it is the same for every message.)
BRIDGE_SIGMA = 0.1
#: The estimate stays within these multiples of the nominal period (a guard against
#: garbage timestamps; a real sensor's rate is off by far less).
PERIOD_BOUNDS = (0.5, 2.0)
#: A timestamp this far (ms) behind the last one is a restarted device clock, not a
#: stale or repeated notification.
CLOCK_RESET_MS = 1000


class _Line:
    """Least squares of device ms (y) against sample index (x) over a window of recent
    messages, from exact integer sums (x, y relative to an origin), one division each."""

    def __init__(self, x0: int, y0: int) -> None:
        self.x0, self.y0 = x0, y0
        self.points: deque[tuple[int, int]] = deque()
        self.m = self.sx = self.sy = self.sxx = self.sxy = self.syy = 0

    def add(self, x: int, y: int, keep: int) -> None:
        """Add a message at index ``x``; forget those more than ``keep`` samples older."""
        dx, dy = x - self.x0, y - self.y0
        self.points.append((dx, dy))
        self._sum(dx, dy, 1)
        while self.points and self.points[0][0] < dx - keep:
            ox, oy = self.points.popleft()
            self._sum(ox, oy, -1)

    def _sum(self, dx: int, dy: int, sign: int) -> None:
        self.m += sign
        self.sx += sign * dx
        self.sy += sign * dy
        self.sxx += sign * dx * dx
        self.sxy += sign * dx * dy
        self.syy += sign * dy * dy

    def fit(self) -> tuple[float, float] | None:
        """(slope ms per sample, its variance), or None with too few messages."""
        m = self.m
        if m - 2 < MIN_FIT_DOF:
            return None
        a = m * self.sxx - self.sx * self.sx  # m Σ(x - x̄)²
        if a <= 0:
            return None
        b = m * self.sxy - self.sx * self.sy
        c = m * self.syy - self.sy * self.sy
        ssr = (a * c - b * b) / (a * m)  # Σ residual², exact numerator
        s2 = max(ssr / (m - 2), _TS_VAR_FLOOR)
        return b / a, s2 * m / a

    def predict(self, x: int, period: float) -> float:
        """Device ms of sample index ``x`` on the window's centroid line."""
        m = self.m
        return self.y0 + self.sy / m + period * (x - self.x0 - self.sx / m)


@dataclass
class _Pos:
    first: int
    end: int
    t: int  # unwrapped device ms of ``first``
    raw: int  # its uint32 timestamp


@dataclass(eq=False)
class MovesenseStream:
    """One sensor's IMU subscription (IMU6 -> ``(n, 6)`` blocks, Acc -> ``(n, 3)``): GSP
    notifications in, :class:`SampleBlock` values out, one :meth:`feed` per notification.

    Indexing: the uint32 ms timestamp (of each message's first sample) is unwrapped
    (steps of ±2^31 ms around the previous one).  The first sample of a message goes to
    ``prev_end + round((t - t̂(prev_end)) / P)`` (never before ``prev_end``), where ``t̂``
    is a least-squares line of device ms against sample index over the last
    ``FIT_WINDOW_S`` of messages and ``P`` the sample period; so a gap of elapsed ``E``
    after a message of ``n`` samples loses ``round(E / P) - n`` samples, with ``E`` and
    the reference time averaged over the window rather than taken from one ms-rounded
    timestamp.  ``P`` is the inverse-variance blend of a prior (at first the nominal
    ``1000 / rate_hz`` ms, relative uncertainty ``rate_tolerance``) and the line's slope
    (its variance from the residuals, floored at ms rounding, once ``MIN_FIT_DOF``
    messages are in): nominal at first, the timestamps' own period once the span is long.
    The line continues across a gap unless the period's uncertainty times the gap's
    length leaves its count in doubt (``BRIDGE_SIGMA``); such a gap restarts the line
    with the estimate so far as the prior.  A message that does not advance the clock is
    dropped (:attr:`messages_dropped`); a clock more than ``CLOCK_RESET_MS`` behind (a
    rebooted sensor) is followed without counting a loss (:attr:`clock_resets`).  Same
    bytes in, same blocks out: exact integer sums, one division each.

    Limits (ms timestamps): each message's timestamp must lie within half a period of the
    line (2.4 ms at 208 Hz), so jitter of up to ~2 ms peak to peak is safe; and a long
    outage is counted exactly once the line is long enough to pin the period: at 208 Hz
    a 10 s outage after 10 s or more of stream (in simulation, ±300..3000 ppm, 2 % of
    messages dropped; after only 2 s of stream it is one sample off in some runs).

    Framing errors of a notification raise ``ProtocolError`` / ``IncompletePacket`` from
    :meth:`feed` and change nothing; a joined message that does not parse (NaN floats) is
    dropped and counted in :attr:`messages_malformed`.  ``ref`` None follows the first
    DATA's ref; other refs are ignored.  ``max_notification`` (ATT MTU - 3), when known,
    lets the reassembler hand over short messages without waiting for the next one.
    """

    rate_hz: float
    kind: Kind = Kind.IMU6
    ref: int | None = None
    max_notification: int | None = None
    rate_tolerance: float = 0.005
    acc_scale_g: float = ACC_SCALE_G
    gyro_scale_dps: float = GYRO_SCALE_DPS

    samples_lost: int = field(default=0, init=False)
    messages_dropped: int = field(default=0, init=False)
    messages_malformed: int = field(default=0, init=False)
    clock_resets: int = field(default=0, init=False)
    last_result: CommandResult | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.kind not in (Kind.IMU6, Kind.ACC):
            raise ValueError(f"MovesenseStream decodes IMU6 or Acc, not {self.kind.value}")
        if not (math.isfinite(self.rate_hz) and self.rate_hz > 0):
            raise ValueError(f"rate must be positive, got {self.rate_hz!r}")
        if not (math.isfinite(self.rate_tolerance) and self.rate_tolerance > 0):
            raise ValueError("rate_tolerance must be positive")
        if self.ref is not None:
            _check_ref(self.ref)
        self.nominal_period_ms = 1000.0 / self.rate_hz
        self._keep = math.ceil(FIT_WINDOW_S * self.rate_hz)
        self._prior = (self.nominal_period_ms, (self.rate_tolerance * self.nominal_period_ms) ** 2)
        self._reasm = Reassembler(max_notification=self.max_notification)
        if self.ref is not None:
            self._reasm.set_kind(self.ref, self.kind)
        self._pos: _Pos | None = None
        self._line: _Line | None = None

    @property
    def channels(self) -> int:
        return 6 if self.kind == Kind.IMU6 else 3

    def _estimate(self) -> tuple[float, float]:
        p_prior, var_prior = self._prior
        found = self._line.fit() if self._line is not None else None
        if found is None:
            return p_prior, var_prior
        slope, var_fit = found
        w_prior, w_fit = 1.0 / var_prior, 1.0 / var_fit
        blend = (p_prior * w_prior + slope * w_fit) / (w_prior + w_fit)
        p_nom = self.nominal_period_ms
        period = min(max(blend, PERIOD_BOUNDS[0] * p_nom), PERIOD_BOUNDS[1] * p_nom)
        return period, 1.0 / (w_prior + w_fit)

    @property
    def period_ms(self) -> float:
        """The current estimate of the sample period, device ms."""
        return self._estimate()[0]

    def restart(self) -> None:
        """A new connection or subscription: held parts are forgotten; the device clock
        and sample index go on, so the outage is counted from the timestamps."""
        self._reasm.reset()

    def feed(self, data: bytes) -> list[SampleBlock]:
        """One notification in; the blocks it completes out."""
        msg, _ = decode(data)
        if self.ref is None:
            if not isinstance(msg, DataPart):
                return []
            self.ref = msg.ref
            self._reasm.set_kind(msg.ref, self.kind)
        if msg.ref != self.ref:
            return []
        if isinstance(msg, CommandResult):
            self.last_result = msg
        return self._blocks(self._reasm.feed(msg))

    def flush(self) -> list[SampleBlock]:
        """The held message, if any (the stream has ended or paused)."""
        return self._blocks(self._reasm.flush(self.ref)) if self.ref is not None else []

    def _blocks(self, messages: Iterable[Assembled]) -> list[SampleBlock]:
        out: list[SampleBlock] = []
        for a in messages:
            try:
                m = parse_measurement(self.kind, a.payload)
            except (ProtocolError, IncompletePacket):
                self.messages_malformed += 1
                continue
            block = self._place(m)
            if block is not None:
                out.append(block)
        return out

    def _restart_line(self, first: int, t: int) -> None:
        """Cut the line here; what it knew of the period carries on as the prior."""
        period, var = self._estimate()
        self._prior = (period, var)
        self._line = _Line(first, t)

    def _place(self, m: Measurement) -> SampleBlock | None:
        raw = m.timestamp_ms
        pos = self._pos
        if pos is None or self._line is None:
            t, first = raw, 0
            self._line = _Line(first, t)
        else:
            d = (raw - pos.raw) & 0xFFFFFFFF
            t = pos.t + (d - 2**32 if d >= 2**31 else d)
            first = pos.end
            if t <= pos.t - CLOCK_RESET_MS:
                self.clock_resets += 1
                self._restart_line(first, t)
            elif t <= pos.t:
                self.messages_dropped += 1
                return None
            else:
                period, var = self._estimate()
                ahead = (t - self._line.predict(pos.end, period)) / period
                steps = _round_half_up(ahead)
                if steps > 0:
                    first += steps
                    self.samples_lost += steps
                    if ahead * math.sqrt(var) / period > BRIDGE_SIGMA:
                        self._restart_line(first, t)
        self._line.add(first, t, self._keep)
        self._pos = _Pos(first, first + m.count, t, raw)
        return SampleBlock(first, t * 1000, *self._counts(m))

    def _counts(self, m: Measurement) -> tuple[npt.NDArray[np.int16], bool]:
        assert m.acc is not None
        acc, clipped = quantise(m.acc.astype(np.float64) / STANDARD_GRAVITY, self.acc_scale_g)
        if self.kind == Kind.ACC:
            return acc, clipped
        assert m.gyro is not None
        gyro, gyro_clipped = quantise(m.gyro, self.gyro_scale_dps)
        return np.concatenate([acc, gyro], axis=1), clipped or gyro_clipped
