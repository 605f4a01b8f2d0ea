"""Sans-IO codec for Polar Measurement Data (PMD): Verity Sense, H10, OH1.

Written clean-room from the behaviour described in ``sensor_protocols.md`` section 1
(no vendor code).  Four kinds of bytes cross the PMD service:

* the **feature read** of the control point: :func:`decode_features`;
* **commands** the host writes to the control point (:func:`get_settings`,
  :func:`start`, :func:`stop`, ... build them; :func:`decode_command` parses them for a
  simulated sensor);
* **control-point notifications**: responses ``F0 op type status more params...`` and the
  unsolicited "measurement stopped by the device" ``01 type...``
  (:func:`decode_control`, :func:`encode_control`, :class:`ResponseAssembler` for the
  ``more`` continuation);
* **data frames** on the data characteristic (:func:`decode_data`, :func:`encode_data`),
  raw or delta-compressed.

Every ``decode_*`` reads one message from the start of a buffer and raises
:class:`~sensorhub.errors.IncompletePacket` when the bytes end before the message does and
:class:`~sensorhub.errors.ProtocolError` (with the offset of the byte at fault) when they
are malformed.  Control-point values and data frames carry **no length**: a GATT value is
delivered whole by the BLE stack, so these messages end with the view and ``nbytes`` is
``len(view)``.  A frame cut at a whole-sample (raw) or whole-block (compressed) boundary
therefore still decodes, to its leading samples; a cut anywhere else is an
``IncompletePacket``.

:class:`PolarStream` turns the ACC and GYRO notifications of one sensor into
:class:`~sensorhub.protocol.vendor.SampleBlock` values with exact stream indices.

No I/O here: no asyncio, no bleak, no sockets.
"""

from __future__ import annotations

import enum
import math
import struct
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any, NamedTuple, TypeAlias

import msgspec
import numpy as np
import numpy.typing as npt

from sensorhub.errors import IncompletePacket, ProtocolError
from sensorhub.protocol.vendor import SampleBlock, quantise

__all__ = [
    "BATTERY_LEVEL_UUID",
    "BATTERY_SERVICE_UUID",
    "HEART_RATE_MEASUREMENT_UUID",
    "HEART_RATE_SERVICE_UUID",
    "PMD_CONTROL_UUID",
    "PMD_DATA_UUID",
    "PMD_EPOCH_UNIX_NS",
    "PMD_SERVICE_UUID",
    "Command",
    "ControlMessage",
    "ControlOp",
    "ControlResponse",
    "DataFrame",
    "Features",
    "MeasurementStopped",
    "MeasurementType",
    "PmdStatus",
    "PolarStream",
    "ResponseAssembler",
    "SettingType",
    "Settings",
    "acc_scale_for",
    "decode_command",
    "decode_control",
    "decode_data",
    "decode_features",
    "decode_settings",
    "encode_command",
    "encode_control",
    "encode_data",
    "encode_features",
    "encode_settings",
    "enter_sdk_mode",
    "frame_times_ns",
    "get_measurement_status",
    "get_sdk_mode_status",
    "get_sdk_settings",
    "get_settings",
    "gyro_scale_for",
    "leave_sdk_mode",
    "setting_size",
    "split_response",
    "start",
    "status_phrase",
    "stop",
]

Buffer: TypeAlias = bytes | bytearray | memoryview

# ------------------------------------------------------------------------------ GATT

PMD_SERVICE_UUID = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
#: Control point: read = feature bitmap, write = commands, notify/indicate = responses.
PMD_CONTROL_UUID = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
#: Data: one frame per notification.
PMD_DATA_UUID = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"
BATTERY_SERVICE_UUID = "0000180f-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"
HEART_RATE_SERVICE_UUID = "0000180d-0000-1000-8000-00805f9b34fb"
HEART_RATE_MEASUREMENT_UUID = "00002a37-0000-1000-8000-00805f9b34fb"

#: PMD timestamps count nanoseconds from 2000-01-01T00:00:00 (device clock); this is that
#: instant in Unix nanoseconds, for a device whose clock was set to UTC.
PMD_EPOCH_UNIX_NS = 946_684_800 * 1_000_000_000

#: The first byte of a feature read.
FEATURE_READ_CODE = 0x0F
#: The first byte of a control-point response.
RESPONSE_CODE = 0xF0
#: The first byte of the unsolicited "online measurement stopped by the device".
MEASUREMENT_STOPPED_CODE = 0x01

#: Size of a data frame header: type u8, timestamp u64 LE, frame type u8.
DATA_HEADER_SIZE = 10
#: Size of a control-point response header: F0, op, type, status, more.
RESPONSE_HEADER_SIZE = 5


class MeasurementType(enum.IntEnum):
    """PMD measurement types (the low bits of every type byte)."""

    ECG = 0
    PPG = 1
    ACC = 2
    PPI = 3
    GYRO = 5
    MAG = 6
    SKIN_TEMP = 7
    SDK_MODE = 9
    LOCATION = 10
    PRESSURE = 11
    TEMPERATURE = 12
    OFFLINE_RECORDING = 13
    OFFLINE_HR = 14


class ControlOp(enum.IntEnum):
    """Control-point op codes (host to sensor; echoed in byte 1 of the response)."""

    GET_MEASUREMENT_SETTINGS = 1
    REQUEST_MEASUREMENT_START = 2
    STOP_MEASUREMENT = 3
    GET_SDK_MODE_MEASUREMENT_SETTINGS = 4
    GET_MEASUREMENT_STATUS = 5
    GET_SDK_MODE_STATUS = 6
    GET_OFFLINE_RECORDING_TRIGGER_STATUS = 7
    SET_OFFLINE_RECORDING_TRIGGER_MODE = 8
    SET_OFFLINE_RECORDING_TRIGGER_SETTINGS = 9


class PmdStatus(enum.IntEnum):
    """Status byte of a control-point response."""

    SUCCESS = 0
    INVALID_OP_CODE = 1
    INVALID_MEASUREMENT_TYPE = 2
    NOT_SUPPORTED = 3
    INVALID_LENGTH = 4
    INVALID_PARAMETER = 5
    ALREADY_IN_STATE = 6
    INVALID_RESOLUTION = 7
    INVALID_SAMPLE_RATE = 8
    INVALID_RANGE = 9
    INVALID_MTU = 10
    INVALID_NUMBER_OF_CHANNELS = 11
    INVALID_STATE = 12
    DEVICE_IN_CHARGER = 13
    DISK_FULL = 14

    @property
    def phrase(self) -> str:
        """A human phrase, e.g. ``"invalid sample rate"``."""
        return _STATUS_PHRASES[self]


_STATUS_PHRASES: dict[PmdStatus, str] = {
    PmdStatus.SUCCESS: "success",
    PmdStatus.INVALID_OP_CODE: "invalid op code",
    PmdStatus.INVALID_MEASUREMENT_TYPE: "invalid measurement type",
    PmdStatus.NOT_SUPPORTED: "not supported",
    PmdStatus.INVALID_LENGTH: "invalid length",
    PmdStatus.INVALID_PARAMETER: "invalid parameter",
    PmdStatus.ALREADY_IN_STATE: "already in that state",
    PmdStatus.INVALID_RESOLUTION: "invalid resolution",
    PmdStatus.INVALID_SAMPLE_RATE: "invalid sample rate",
    PmdStatus.INVALID_RANGE: "invalid range",
    PmdStatus.INVALID_MTU: "invalid MTU (the BLE MTU is too small)",
    PmdStatus.INVALID_NUMBER_OF_CHANNELS: "invalid number of channels",
    PmdStatus.INVALID_STATE: "invalid state (e.g. SDK mode changed while a stream runs)",
    PmdStatus.DEVICE_IN_CHARGER: "the device is in its charger",
    PmdStatus.DISK_FULL: "disk full",
}


def status_phrase(status: int) -> str:
    """The human phrase of a status code, also for codes this module does not know."""
    if status in PmdStatus._value2member_map_:
        return PmdStatus(status).phrase
    return f"unknown status {status}"


class SettingType(enum.IntEnum):
    """Setting TLV types (GET responses, START requests and START responses)."""

    SAMPLE_RATE = 0
    RESOLUTION = 1
    RANGE = 2
    RANGE_MILLIUNIT = 3
    CHANNELS = 4
    FACTOR = 5
    SECURITY = 6


def _known(enum_type: type[enum.IntEnum], value: int) -> bool:
    return value in enum_type._value2member_map_


def _measurement(byte: int, offset: int) -> tuple[MeasurementType, bool]:
    """``(type, offline)`` of a type byte ``(recordingType << 7) | type``."""
    code = byte & 0x7F
    if not _known(MeasurementType, code):
        raise ProtocolError(offset, f"unknown measurement type {code}")
    return MeasurementType(code), bool(byte & 0x80)


def _type_byte(measurement_type: int, offline: bool = False) -> int:
    if not 0 <= measurement_type <= 0x7F:
        raise ValueError(f"measurement type {measurement_type} outside 0..127")
    return measurement_type | (0x80 if offline else 0)


# --------------------------------------------------------------------- feature read


class Features(msgspec.Struct, frozen=True):
    """What the control-point feature read says the sensor can measure."""

    measurements: frozenset[MeasurementType]

    @property
    def sdk_mode(self) -> bool:
        return MeasurementType.SDK_MODE in self.measurements

    def supports(self, measurement_type: MeasurementType) -> bool:
        return measurement_type in self.measurements


def decode_features(view: Buffer) -> Features:
    """Decode the feature read ``0F b1 b2``: bit ``t`` of ``b1 | b2 << 8`` is type ``t``.

    Bits of no known type (4, 8, 15) are ignored; bytes after ``b2`` too (room for more).
    """
    if len(view) >= 1 and view[0] != FEATURE_READ_CODE:
        raise ProtocolError(0, f"feature read starts with 0x{view[0]:02x}, not 0x0f")
    if len(view) < 3:
        raise IncompletePacket(3, len(view))
    bitmap = view[1] | view[2] << 8
    return Features(frozenset(t for t in MeasurementType if bitmap >> t & 1))


def encode_features(features: Features) -> bytes:
    bitmap = 0
    for t in features.measurements:
        bitmap |= 1 << int(t)
    return bytes([FEATURE_READ_CODE, bitmap & 0xFF, bitmap >> 8])


# ------------------------------------------------------------------------- settings

SettingValue: TypeAlias = int | float | bytes
Settings: TypeAlias = dict[SettingType, tuple[SettingValue, ...]]

#: struct code ("" = raw bytes) and size of one value of each setting type.
_SETTING_LAYOUT: dict[SettingType, tuple[str, int]] = {
    SettingType.SAMPLE_RATE: ("H", 2),
    SettingType.RESOLUTION: ("H", 2),
    SettingType.RANGE: ("H", 2),
    SettingType.RANGE_MILLIUNIT: ("I", 4),
    SettingType.CHANNELS: ("B", 1),
    SettingType.FACTOR: ("f", 4),
    SettingType.SECURITY: ("", 16),
}


def setting_size(setting: SettingType) -> int:
    """Bytes of one value of ``setting``."""
    return _SETTING_LAYOUT[setting][1]


def _parse_settings(view: Buffer, offset: int) -> Settings:
    """The TLVs of ``view[offset:]``; errors carry offsets into ``view``."""
    out: Settings = {}
    end = len(view)
    while offset < end:
        if offset + 2 > end:
            raise IncompletePacket(offset + 2, end)
        code, count = view[offset], view[offset + 1]
        if not _known(SettingType, code):
            raise ProtocolError(offset, f"unknown setting type {code}")
        setting = SettingType(code)
        if setting in out:
            raise ProtocolError(offset, f"setting {setting.name} given twice")
        fmt, size = _SETTING_LAYOUT[setting]
        stop = offset + 2 + count * size
        if stop > end:
            raise IncompletePacket(stop, end)
        start = offset + 2
        if fmt:
            out[setting] = tuple(struct.unpack_from(f"<{count}{fmt}", view, start))
        else:
            out[setting] = tuple(
                bytes(view[start + i * size : start + (i + 1) * size]) for i in range(count)
            )
        offset = stop
    return out


def decode_settings(view: Buffer) -> Settings:
    """Decode a block of setting TLVs ``type u8, count u8, count x value (LE)``.

    Values are ``int`` (u16 for sample rate, resolution and range, u32 for range in
    milli-units, u8 for channels), ``float`` for the float32 factor and 16-byte ``bytes``
    for security.  The block has no length: it ends with the view.  An unknown or
    repeated setting type is a :class:`ProtocolError` at its type byte.
    """
    return _parse_settings(view, 0)


def _setting_value_bytes(setting: SettingType, value: object) -> bytes:
    fmt, size = _SETTING_LAYOUT[setting]
    if setting is SettingType.FACTOR:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ValueError(f"FACTOR takes a float, got {value!r}")
        return struct.pack("<f", float(value))
    if setting is SettingType.SECURITY:
        if not isinstance(value, bytes | bytearray) or len(value) != size:
            raise ValueError(f"SECURITY takes {size} bytes, got {value!r}")
        return bytes(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{setting.name} takes integers, got {value!r}")
    if not 0 <= value < 1 << (8 * size):
        raise ValueError(f"{setting.name} value {value} does not fit {size} unsigned bytes")
    return struct.pack(f"<{fmt}", value)


def encode_settings(settings: Mapping[SettingType, object]) -> bytes:
    """Encode setting TLVs, in ascending type order (the order the SDK sends).

    A value is one item (sent with count 1) or a tuple/list of items; items are ``int``,
    ``float`` for FACTOR, 16 ``bytes`` for SECURITY.  Raises ValueError for values that
    do not fit.
    """
    out = bytearray()
    for setting in sorted(settings):
        setting = SettingType(setting)
        raw = settings[setting]
        items: Sequence[object] = raw if isinstance(raw, tuple | list) else (raw,)
        if len(items) > 255:
            raise ValueError(f"{setting.name}: {len(items)} values, at most 255")
        out += bytes([setting, len(items)])
        for item in items:
            out += _setting_value_bytes(setting, item)
    return bytes(out)


# ------------------------------------------------------------------------- commands

#: Ops whose byte 1 is a measurement type.
_TYPED_OPS = frozenset(
    {
        ControlOp.GET_MEASUREMENT_SETTINGS,
        ControlOp.REQUEST_MEASUREMENT_START,
        ControlOp.STOP_MEASUREMENT,
        ControlOp.GET_SDK_MODE_MEASUREMENT_SETTINGS,
    }
)
#: Ops with no payload at all.
_BARE_OPS = frozenset({ControlOp.GET_MEASUREMENT_STATUS, ControlOp.GET_SDK_MODE_STATUS})


class Command(msgspec.Struct, frozen=True):
    """A control-point write (host to sensor).

    ``measurement_type`` is set for ops 1-4; ``settings`` only for a START (op 2) of a
    measurement; ``payload`` holds the uninterpreted bytes of the offline-trigger ops 7-9.
    """

    op: ControlOp
    measurement_type: MeasurementType | None = None
    settings: Settings = msgspec.field(default_factory=dict)
    offline: bool = False
    payload: bytes = b""

    @property
    def enters_sdk_mode(self) -> bool:
        return (
            self.op is ControlOp.REQUEST_MEASUREMENT_START
            and self.measurement_type is MeasurementType.SDK_MODE
        )

    @property
    def leaves_sdk_mode(self) -> bool:
        return (
            self.op is ControlOp.STOP_MEASUREMENT
            and self.measurement_type is MeasurementType.SDK_MODE
        )


def get_settings(measurement_type: MeasurementType) -> bytes:
    """``01 tt``: ask which settings a measurement supports."""
    return bytes([ControlOp.GET_MEASUREMENT_SETTINGS, _type_byte(measurement_type)])


def get_sdk_settings(measurement_type: MeasurementType) -> bytes:
    """``04 tt``: the full (SDK-mode) settings of a measurement."""
    return bytes([ControlOp.GET_SDK_MODE_MEASUREMENT_SETTINGS, _type_byte(measurement_type)])


def start(
    measurement_type: MeasurementType,
    rate_hz: int,
    resolution_bits: int,
    range_: int,
    channels: int | None = None,
) -> bytes:
    """``02 tt`` + sample rate, resolution, range (and channels) TLVs, each with count 1.

    ``range_`` is in the measurement's unit (g or deg/s); ``channels=None`` leaves the
    channels TLV out (as the widely used hard-coded H10 command does).
    """
    settings: dict[SettingType, object] = {
        SettingType.SAMPLE_RATE: rate_hz,
        SettingType.RESOLUTION: resolution_bits,
        SettingType.RANGE: range_,
    }
    if channels is not None:
        settings[SettingType.CHANNELS] = channels
    return encode_command(Command(ControlOp.REQUEST_MEASUREMENT_START, measurement_type)) + (
        encode_settings(settings)
    )


def stop(measurement_type: MeasurementType) -> bytes:
    """``03 tt``: stop a measurement."""
    return bytes([ControlOp.STOP_MEASUREMENT, _type_byte(measurement_type)])


def enter_sdk_mode() -> bytes:
    """``02 09``."""
    return bytes([ControlOp.REQUEST_MEASUREMENT_START, MeasurementType.SDK_MODE])


def leave_sdk_mode() -> bytes:
    """``03 09``."""
    return bytes([ControlOp.STOP_MEASUREMENT, MeasurementType.SDK_MODE])


def get_measurement_status() -> bytes:
    """``05``."""
    return bytes([ControlOp.GET_MEASUREMENT_STATUS])


def get_sdk_mode_status() -> bytes:
    """``06``."""
    return bytes([ControlOp.GET_SDK_MODE_STATUS])


def encode_command(cmd: Command) -> bytes:
    """The bytes of any :class:`Command`."""
    out = bytearray([cmd.op])
    if cmd.op in _TYPED_OPS:
        if cmd.measurement_type is None:
            raise ValueError(f"{cmd.op.name} needs a measurement type")
        out.append(_type_byte(cmd.measurement_type, cmd.offline))
        if cmd.settings:
            if cmd.op is not ControlOp.REQUEST_MEASUREMENT_START or cmd.enters_sdk_mode:
                raise ValueError(f"{cmd.op.name} of {cmd.measurement_type.name} takes no settings")
            out += encode_settings(cmd.settings)
    elif cmd.measurement_type is not None or cmd.settings:
        raise ValueError(f"{cmd.op.name} takes no measurement type or settings")
    if cmd.payload:
        if cmd.op in _TYPED_OPS or cmd.op in _BARE_OPS:
            raise ValueError(f"{cmd.op.name} takes no raw payload")
        out += cmd.payload
    return bytes(out)


def decode_command(view: Buffer) -> tuple[Command, int]:
    """Decode a control-point write (what a simulated sensor receives).

    A write is one GATT value, so it ends with the view; ``nbytes == len(view)``.
    """
    end = len(view)
    if end < 1:
        raise IncompletePacket(1, 0)
    if not _known(ControlOp, view[0]):
        raise ProtocolError(0, f"unknown control-point op 0x{view[0]:02x}")
    op = ControlOp(view[0])
    if op in _BARE_OPS:
        if end > 1:
            raise ProtocolError(1, f"{op.name} takes no parameters, got {end - 1} bytes")
        return Command(op), end
    if op not in _TYPED_OPS:
        return Command(op, payload=bytes(view[1:])), end
    if end < 2:
        raise IncompletePacket(2, end)
    mtype, offline = _measurement(view[1], 1)
    settings: Settings = {}
    if op is ControlOp.REQUEST_MEASUREMENT_START and mtype is not MeasurementType.SDK_MODE:
        settings = _parse_settings(view, 2)
    elif end > 2:
        raise ProtocolError(2, f"{op.name} of {mtype.name} takes no settings")
    return Command(op, mtype, settings, offline), end


# ----------------------------------------------------- control-point notifications


class ControlResponse(msgspec.Struct, frozen=True):
    """A control-point response ``F0 op type status more params...``.

    ``measurement_type`` is a :class:`MeasurementType` for ops 1-4 (anything else there is
    malformed) and the raw byte's low 7 bits for the status and offline ops.
    """

    op: ControlOp
    measurement_type: int
    status: PmdStatus
    more: bool = False
    params: bytes = b""
    offline: bool = False

    @property
    def ok(self) -> bool:
        return self.status is PmdStatus.SUCCESS

    @property
    def settings(self) -> Settings:
        """The params as setting TLVs (GET and START responses)."""
        return decode_settings(self.params)

    @property
    def factor(self) -> float | None:
        """The conversion factor of a START response (TLV type 5), if it has one."""
        values = self.settings.get(SettingType.FACTOR, ())
        return float(values[0]) if values and isinstance(values[0], float) else None


class MeasurementStopped(msgspec.Struct, frozen=True):
    """Unsolicited ``01 type...``: the device stopped these online measurements."""

    measurement_types: tuple[MeasurementType, ...]


ControlMessage: TypeAlias = ControlResponse | MeasurementStopped


def decode_control(view: Buffer) -> tuple[ControlMessage, int]:
    """Decode a control-point notification (ends with the view: ``nbytes == len(view)``)."""
    end = len(view)
    if end < 1:
        raise IncompletePacket(1, 0)
    code = view[0]
    if code == MEASUREMENT_STOPPED_CODE:
        if end < 2:
            raise IncompletePacket(2, end)
        types = tuple(_measurement(view[i], i)[0] for i in range(1, end))
        return MeasurementStopped(types), end
    if code != RESPONSE_CODE:
        raise ProtocolError(0, f"unknown control-point notification 0x{code:02x}")
    if end >= 2 and not _known(ControlOp, view[1]):
        raise ProtocolError(1, f"unknown control-point op 0x{view[1]:02x}")
    if end < RESPONSE_HEADER_SIZE:
        raise IncompletePacket(RESPONSE_HEADER_SIZE, end)
    op = ControlOp(view[1])
    mbyte = view[2]
    if op in _TYPED_OPS:
        mtype: int = _measurement(mbyte, 2)[0]
    else:
        mtype = mbyte & 0x7F
    if not _known(PmdStatus, view[3]):
        raise ProtocolError(3, f"unknown response status {view[3]}")
    response = ControlResponse(
        op=op,
        measurement_type=mtype,
        status=PmdStatus(view[3]),
        more=view[4] != 0,
        params=bytes(view[RESPONSE_HEADER_SIZE:]),
        offline=bool(mbyte & 0x80),
    )
    return response, end


def encode_control(msg: ControlMessage) -> bytes:
    """The bytes of a control-point notification (what a simulated sensor sends)."""
    if isinstance(msg, MeasurementStopped):
        if not msg.measurement_types:
            raise ValueError("a measurement-stopped notification names at least one type")
        return bytes([MEASUREMENT_STOPPED_CODE, *(_type_byte(t) for t in msg.measurement_types)])
    header = bytes(
        [
            RESPONSE_CODE,
            msg.op,
            _type_byte(msg.measurement_type, msg.offline),
            msg.status,
            1 if msg.more else 0,
        ]
    )
    return header + msg.params


def split_response(response: ControlResponse, chunk: int) -> list[bytes]:
    """A response as notifications with at most ``chunk`` params bytes each, joined by
    ``more`` (for a simulated sensor with a small MTU)."""
    if chunk < 1:
        raise ValueError("chunk must be at least 1 byte")
    params = response.params
    parts = [params[i : i + chunk] for i in range(0, len(params), chunk)] or [b""]
    return [
        encode_control(msgspec.structs.replace(response, more=i < len(parts) - 1, params=part))
        for i, part in enumerate(parts)
    ]


class ResponseAssembler:
    """Joins multi-part control-point responses (sans-IO).

    A response with ``more != 0`` is continued by further responses of the same op and
    type; the params of each follow-up (its bytes from offset 5) are appended, as the SDK
    does.  :meth:`feed` takes one notification and returns the messages it completes: a
    whole response, a :class:`MeasurementStopped` (passed through at once, even between
    the parts of a response), or nothing while parts are outstanding.
    """

    def __init__(self) -> None:
        self._pending: ControlResponse | None = None

    @property
    def pending(self) -> bool:
        """A multi-part response has started and not ended."""
        return self._pending is not None

    def reset(self) -> None:
        self._pending = None

    def feed(self, data: Buffer) -> list[ControlMessage]:
        msg, _ = decode_control(data)
        if isinstance(msg, MeasurementStopped):
            return [msg]
        pending = self._pending
        if pending is not None:
            if msg.op is not pending.op or msg.measurement_type != pending.measurement_type:
                self._pending = None
                raise ProtocolError(
                    1,
                    f"expected the rest of the {pending.op.name} response, got "
                    f"{msg.op.name} (type {msg.measurement_type}); both dropped",
                )
            msg = msgspec.structs.replace(
                pending, more=msg.more, params=pending.params + msg.params
            )
        if msg.more:
            self._pending = msg
            return []
        self._pending = None
        return [msg]


# ---------------------------------------------------------------------- data frames


class _Layout(NamedTuple):
    channels: int
    bits: int  # resolution of a raw value / the reference sample
    is_float: bool


#: (measurement type, frame-type byte) -> layout.  Bit 7 of the byte = compressed.
_LAYOUTS: dict[tuple[MeasurementType, int], _Layout] = {
    (MeasurementType.ACC, 0x00): _Layout(3, 8, False),
    (MeasurementType.ACC, 0x01): _Layout(3, 16, False),
    (MeasurementType.ACC, 0x02): _Layout(3, 24, False),
    (MeasurementType.ACC, 0x80): _Layout(3, 16, False),
    (MeasurementType.ACC, 0x81): _Layout(3, 16, False),
    (MeasurementType.GYRO, 0x00): _Layout(3, 16, False),
    (MeasurementType.GYRO, 0x01): _Layout(3, 32, True),
    (MeasurementType.GYRO, 0x80): _Layout(3, 16, False),
    (MeasurementType.GYRO, 0x81): _Layout(3, 32, True),
    (MeasurementType.MAG, 0x00): _Layout(3, 16, False),
    (MeasurementType.MAG, 0x80): _Layout(3, 16, False),
}
_FRAME_MEASUREMENTS = frozenset(t for t, _ in _LAYOUTS)
COMPRESSED = 0x80

#: The largest delta width (bits) a block may declare.
MAX_DELTA_BITS = 32
_WEIGHTS = np.left_shift(np.int64(1), np.arange(MAX_DELTA_BITS, dtype=np.int64))
_U8 = np.dtype(np.uint8)
_RAW_DTYPE: dict[int, np.dtype[Any]] = {
    8: np.dtype("<i1"),
    16: np.dtype("<i2"),
    32: np.dtype("<f4"),
}


class DataFrame(msgspec.Struct, frozen=True, gc=False):
    """One PMD data frame.

    Attributes
    ----------
    measurement_type
        ACC, GYRO or MAG.
    timestamp_ns
        Device clock at the **last** sample, ns since 2000-01-01 (uint64).
    frame_type
        Frame-type id (bits 0..6 of byte 9).
    compressed
        Bit 7 of byte 9: delta-compressed.
    samples
        ``(n, channels)``: ``int32`` for integer frames, ``float32`` for float frames
        (gyro type 1), in the frame's own unit (multiply by the START factor).
    """

    measurement_type: MeasurementType
    timestamp_ns: int
    frame_type: int
    compressed: bool
    samples: npt.NDArray[Any]

    @property
    def frame_type_byte(self) -> int:
        return self.frame_type | (COMPRESSED if self.compressed else 0)

    @property
    def count(self) -> int:
        return int(self.samples.shape[0])


def _raw_samples(view: Buffer, layout: _Layout, end: int) -> npt.NDArray[Any]:
    size = layout.channels * layout.bits // 8
    body = end - DATA_HEADER_SIZE
    if body == 0 or body % size:
        raise IncompletePacket(DATA_HEADER_SIZE + max(1, -(-body // size)) * size, end)
    if layout.bits == 24:
        b = np.frombuffer(view, _U8, body, DATA_HEADER_SIZE).reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | b[:, 1] << 8 | b[:, 2] << 16
        values: npt.NDArray[Any] = (v ^ 0x800000) - 0x800000
    else:
        count = body // (layout.bits // 8)
        raw = np.frombuffer(view, _RAW_DTYPE[layout.bits], count, DATA_HEADER_SIZE)
        values = raw.astype(np.float32 if layout.is_float else np.int32)
    return values.reshape(-1, layout.channels)


def _compressed_samples(view: Buffer, layout: _Layout, end: int) -> npt.NDArray[Any]:
    channels = layout.channels
    nb = layout.bits // 8
    offset = DATA_HEADER_SIZE + channels * nb
    if end < offset:
        raise IncompletePacket(offset, end)
    if layout.is_float:  # the raw IEEE754 bit pattern
        ref = np.frombuffer(view, "<u4", channels, DATA_HEADER_SIZE).astype(np.int64)
    else:
        ref = np.frombuffer(view, _RAW_DTYPE[layout.bits], channels, DATA_HEADER_SIZE)
        ref = ref.astype(np.int64)
    rows: list[npt.NDArray[np.int64]] = [ref.reshape(1, channels)]
    while offset < end:
        if offset + 2 > end:
            raise IncompletePacket(offset + 2, end)
        width, count = view[offset], view[offset + 1]
        if width > MAX_DELTA_BITS:
            raise ProtocolError(offset, f"delta width {width} bits is over {MAX_DELTA_BITS}")
        if width == 0 and count:
            raise ProtocolError(offset, f"delta width 0 for {count} samples")
        nvalues = count * channels
        nbits = width * nvalues
        start = offset + 2
        offset = start + (nbits + 7) // 8
        if offset > end:
            raise IncompletePacket(offset, end)
        if not count:
            continue
        packed = np.frombuffer(view, _U8, offset - start, start)
        bits = np.unpackbits(packed, count=nbits, bitorder="little").reshape(nvalues, width)
        deltas = bits.astype(np.int64) @ _WEIGHTS[:width]
        deltas -= (deltas >> (width - 1)) << width  # two's complement from `width` bits
        rows.append(deltas.reshape(count, channels))
    total = np.cumsum(np.concatenate(rows), axis=0)
    if layout.is_float:  # 32-bit wrap-around sums of the bit patterns
        return (total & 0xFFFFFFFF).astype(np.uint32).view(np.float32)
    return total.astype(np.int32)  # 32-bit wrap-around, as the SDK's Int arithmetic


def decode_data(view: Buffer) -> tuple[DataFrame, int]:
    """Decode one PMD data frame (one notification of the data characteristic).

    A data frame carries no length: the GATT value is delivered whole, so the frame ends
    with the view and ``nbytes == len(view)``.  Layout: type (low 6 bits), uint64 LE
    timestamp (ns since 2000-01-01, of the last sample), frame type (bit 7 =
    compressed), content.  Raw content is whole samples; compressed content is a
    reference sample and delta blocks ``width u8, count u8, ceil(width*count*ch/8)``
    bytes of LSB-first bits, sample-major.

    Raises IncompletePacket when the bytes end inside the header, a sample, the
    reference sample, a block header or a block's declared bytes (``needed`` = the length
    the bytes call for); ProtocolError for an unknown or unsupported measurement or frame
    type, or a delta width of 0 (with samples) or over 32 bits.
    """
    end = len(view)
    if end >= 1:
        code = view[0] & 0x3F
        if not _known(MeasurementType, code):
            raise ProtocolError(0, f"unknown measurement type {code}")
        if code not in _FRAME_MEASUREMENTS:
            raise ProtocolError(0, f"{MeasurementType(code).name} frames are not supported")
    if end < DATA_HEADER_SIZE:
        raise IncompletePacket(DATA_HEADER_SIZE, end)
    mtype = MeasurementType(view[0] & 0x3F)
    frame_byte = view[9]
    layout = _LAYOUTS.get((mtype, frame_byte))
    if layout is None:
        raise ProtocolError(9, f"{mtype.name} frame type 0x{frame_byte:02x} is not supported")
    timestamp = int.from_bytes(view[1:9], "little")
    compressed = bool(frame_byte & COMPRESSED)
    if compressed:
        samples = _compressed_samples(view, layout, end)
    else:
        samples = _raw_samples(view, layout, end)
    return DataFrame(mtype, timestamp, frame_byte & 0x7F, compressed, samples), end


def _delta_block(deltas: npt.NDArray[np.int64]) -> bytes:
    """``width, count, bits`` of one block: the smallest width that holds every delta."""
    count = deltas.shape[0]
    flat = deltas.reshape(-1)
    widest = int(np.maximum(flat, ~flat).max())  # ~v = -v-1 >= 0 for negative v
    width = widest.bit_length() + 1
    unsigned = flat & ((1 << width) - 1)
    bits = (unsigned[:, None] >> np.arange(width, dtype=np.int64)) & 1
    packed = np.packbits(bits.astype(np.uint8).reshape(-1), bitorder="little")
    return bytes([width, count]) + packed.tobytes()


def encode_data(
    measurement_type: MeasurementType,
    timestamp_ns: int,
    frame_type: int,
    samples: npt.ArrayLike,
    *,
    block_samples: int = 255,
) -> bytes:
    """Encode a PMD data frame (for a simulated sensor); ``decode_data`` inverts it.

    ``frame_type`` is the wire byte (``0x01`` raw type 1, ``0x80`` compressed type 0 ...);
    ``samples`` is ``(n, 3)``: integers, or float32 for gyro type 1.  A compressed frame
    is the first sample as reference, then blocks of at most ``block_samples`` deltas,
    each at the smallest width that holds all of its deltas.
    """
    layout = _LAYOUTS.get((MeasurementType(measurement_type), frame_type))
    if layout is None:
        raise ValueError(f"no frame type 0x{frame_type:02x} for {measurement_type!r}")
    if not 0 <= timestamp_ns < 1 << 64:
        raise ValueError(f"timestamp {timestamp_ns} outside uint64")
    if not 1 <= block_samples <= 255:
        raise ValueError("block_samples must be 1..255")
    arr = np.asarray(samples)
    if arr.ndim != 2 or arr.shape[1] != layout.channels or arr.shape[0] < 1:
        raise ValueError(f"samples must be (n >= 1, {layout.channels}), got {arr.shape}")
    header = bytes([measurement_type]) + timestamp_ns.to_bytes(8, "little") + bytes([frame_type])
    if layout.is_float:
        bits32 = np.ascontiguousarray(arr, dtype="<f4").view("<u4")
        if not frame_type & COMPRESSED:
            return header + bits32.tobytes()
        values = bits32.astype(np.int64)
        deltas = np.diff(values, axis=0)
        deltas = ((deltas + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)  # wrap to signed 32 bits
        body = bytes(bits32[0].tobytes())
    else:
        if arr.dtype.kind not in "iu":
            raise ValueError(f"integer frames take integer samples, got {arr.dtype}")
        values = arr.astype(np.int64)
        lo, hi = -(1 << (layout.bits - 1)), (1 << (layout.bits - 1)) - 1
        if values.min() < lo or values.max() > hi:
            raise ValueError(f"samples outside the {layout.bits}-bit range {lo}..{hi}")
        if not frame_type & COMPRESSED:
            if layout.bits == 24:
                u = (values & 0xFFFFFF).astype("<u4").view(np.uint8).reshape(-1, 4)[:, :3]
                return header + bytes(u.tobytes())
            return header + bytes(values.astype(_RAW_DTYPE[layout.bits]).tobytes())
        deltas = np.diff(values, axis=0)
        body = bytes(values[0].astype(_RAW_DTYPE[layout.bits]).tobytes())
    blocks = [
        _delta_block(deltas[i : i + block_samples])
        for i in range(0, deltas.shape[0], block_samples)
    ]
    return header + body + b"".join(blocks)


def frame_times_ns(
    ts_frame: int, n: int, prev_ts: int | None, *, rate_hz: float | None = None
) -> list[int]:
    """Per-sample timestamps of a frame of ``n`` samples, by the SDK rule.

    With the previous frame's timestamp (same measurement and frame type):
    ``dt = (ts_frame - prev_ts) / n`` and sample ``i`` is ``prev_ts + dt * (i + 1)``;
    without one, ``dt = 1e9 / rate_hz`` and sample ``i`` is ``ts_frame - dt * (n-1-i)``.
    The last sample is ``ts_frame`` exactly; values are rounded half to even.  Computed
    exactly (the SDK uses doubles, which lose nanoseconds at PMD timestamp magnitudes).
    The SDK treats a previous timestamp of 0 as "none"; here that is ``None``.
    """
    if n < 1:
        raise ValueError("a frame has at least one sample")
    if prev_ts is not None:
        if prev_ts >= ts_frame:
            raise ValueError(f"frame timestamp {ts_frame} is not after the previous {prev_ts}")
        span = ts_frame - prev_ts
        return [round(Fraction(prev_ts * n + span * (i + 1), n)) for i in range(n)]
    if rate_hz is None or not rate_hz > 0:
        raise ValueError("without a previous timestamp the sample rate is needed")
    dt = Fraction(1_000_000_000) / Fraction(rate_hz)
    times = [round(ts_frame - dt * (n - 1 - i)) for i in range(n)]
    if times[0] < 0:
        raise ValueError("the first sample would be before the clock's epoch")
    return times


# -------------------------------------------------------------------------- stream

#: Relative error of a nominal rate (Polar's real rates differ by up to ~0.1 %), doubled.
_NOMINAL_UNCERTAINTY = 2e-3
#: Assumed jitter of a frame timestamp (ns): sets how sure a contiguity call is.
_TS_JITTER_NS = 500_000
#: A period estimate outside nominal +-2 % is not believed (the nominal is used then).
_PERIOD_SANITY = 0.02
#: The period is estimated over the last 60..120 s of each stream.
_PERIOD_WINDOW_NS = 120_000_000_000


def acc_scale_for(frame_type: int, factor: float) -> float:
    """g per LSB of ACC frames of ``frame_type`` with the START ``factor``.

    Compressed type 0 (Verity Sense): raw x factor is in g.  Compressed type 1: raw x
    factor is in mG.  Raw types 0/1/2 (H10 sends type 1): mG, the factor is not applied
    (as in the SDK).
    """
    if frame_type == 0x80:
        return factor
    if frame_type == 0x81:
        return factor * 1e-3
    if frame_type in (0x00, 0x01, 0x02):
        return 1e-3
    raise ValueError(f"no ACC frame type 0x{frame_type:02x}")


def gyro_scale_for(frame_type: int, factor: float, float_scale_dps: float) -> float:
    """deg/s per LSB of GYRO frames: raw x factor for integer frames; float frames (type 1,
    raw or compressed) are quantised at ``float_scale_dps``."""
    if frame_type in (0x00, 0x80):
        return factor
    if frame_type in (0x01, 0x81):
        return float_scale_dps
    raise ValueError(f"no GYRO frame type 0x{frame_type:02x}")


class _Chunk(NamedTuple):
    start: int  # index of the first sample, in the track's own index space
    counts: npt.NDArray[np.int16]  # (n, 3)
    timestamp_ns: int  # of the last sample

    @property
    def end(self) -> int:
        return self.start + int(self.counts.shape[0])


class _Track:
    """Index bookkeeping of one measurement (ACC or GYRO) in its own index space."""

    __slots__ = ("anchor", "chunks", "frame_type", "last_end", "last_ts", "middle", "name")

    def __init__(self, name: str, frame_type: int) -> None:
        self.name = name
        self.frame_type = frame_type
        self.last_end: int | None = None  # one past the index of the newest sample
        self.last_ts = 0  # timestamp of the newest sample
        self.anchor: tuple[int, int] | None = None  # (index, ts) where the span starts
        self.middle: tuple[int, int] | None = None  # the next anchor
        self.chunks: list[_Chunk] = []

    def span(self) -> tuple[int, int]:
        """(ns, samples) from the anchor to the newest sample."""
        if self.anchor is None or self.last_end is None:
            return 0, 0
        return self.last_ts - self.anchor[1], self.last_end - 1 - self.anchor[0]


class _Piece(NamedTuple):
    start: int  # acc index
    acc: npt.NDArray[np.int16]
    gyro: npt.NDArray[np.int16] | None
    chunk: _Chunk  # the acc chunk it came from


class PolarStream:
    """One Polar sensor's ACC (and GYRO) notifications -> :class:`SampleBlock` (sans-IO).

    Indexing: each measurement is indexed from its own frame timestamps.  The sample
    period is estimated from consecutive frames (pooled over ACC and GYRO, over the last
    60-120 s of each); the nominal period is used only until the second frame, and
    nothing is emitted before an estimate exists, so every block is timed with one.  For
    a new frame of ``n`` samples, ``x = (ts - ts_prev) / period`` samples have passed
    since the previous frame's last sample (same measurement): when ``x`` is within the
    uncertainty of ``n`` the frame is contiguous, otherwise ``round(x) - n`` samples were
    lost.  A frame that goes back in time is taken as contiguous and restarts that
    measurement's period estimate.  ``device_t_us`` of a block is its first sample's
    time, ``ts_frame - (samples after it in the frame) x period``, in whole microseconds.

    Pairing: GYRO indices are mapped onto ACC indices once, as soon as a period estimate
    exists, by the nearest sample time (a gyro sample belongs to the acc sample within
    half a period); blocks hold only samples that have both, so a sample whose partner
    frame was lost is an index gap, never invented.  The index counts from the first
    paired sample (ACC-only streams: the first sample).  When one measurement runs more
    than ``max_skew_s`` ahead of the other, the lagging one's missing samples are given
    up as lost.

    Counts are the frame values (int16, saturated) in ``acc_scale_g`` /
    ``gyro_scale_dps``; float gyro frames are quantised.  Output depends only on the
    sequence of notifications, so a replay of the same bytes gives identical blocks.
    Notifications of other measurements (and GYRO for an ACC-only stream) are ignored.
    """

    def __init__(
        self,
        rate_hz: float,
        *,
        acc_factor: float,
        gyro_factor: float | None = None,
        gyro: bool = True,
        acc_frame_type: int = 0x80,
        gyro_frame_type: int = 0x80,
        acc_range_g: float | None = None,
        gyro_range_dps: float | None = None,
        float_gyro_scale_dps: float = 2000 / 32768,
        max_skew_s: float = 5.0,
    ) -> None:
        if not (math.isfinite(rate_hz) and rate_hz > 0):
            raise ValueError(f"rate {rate_hz!r} Hz is not positive")
        if not (math.isfinite(acc_factor) and acc_factor > 0):
            raise ValueError(f"ACC factor {acc_factor!r} is not positive")
        self.rate_hz = float(rate_hz)
        self._nominal_ns = 1e9 / self.rate_hz
        self.acc_scale_g = acc_scale_for(acc_frame_type, acc_factor)
        self._acc = _Track("ACC", acc_frame_type)
        self._acc_full = _full_scale(acc_range_g, self.acc_scale_g)
        self._gyro: _Track | None = None
        self.gyro_scale_dps: float | None = None
        self._gyro_factor = 1.0
        self._gyro_full = 32767
        if gyro:
            if gyro_factor is None or not (math.isfinite(gyro_factor) and gyro_factor > 0):
                raise ValueError(f"GYRO factor {gyro_factor!r} is not positive")
            self._gyro_factor = gyro_factor
            self.gyro_scale_dps = gyro_scale_for(gyro_frame_type, gyro_factor, float_gyro_scale_dps)
            self._gyro = _Track("GYRO", gyro_frame_type)
            self._gyro_full = _full_scale(gyro_range_dps, self.gyro_scale_dps)
        self._cap = max(1, math.ceil(max_skew_s * self.rate_hz))
        self._offset: int | None = None if gyro else 0  # gyro index + offset = acc index
        self._done: int | None = None  # acc indices below this are final
        self._origin: int | None = None  # acc index of output index 0
        self._next_out = 0  # output index one past the last emitted sample
        self._emitted = 0

    # -------------------------------------------------------------- public state

    @property
    def channels(self) -> int:
        return 3 if self._gyro is None else 6

    @property
    def samples_lost(self) -> int:
        """Samples missing between the emitted blocks (index gaps), in total."""
        return self._next_out - self._emitted

    @property
    def period_ns(self) -> float:
        """The current estimate of the sample period (the nominal one until it exists)."""
        return self._period()[0]

    # ------------------------------------------------------------------- feeding

    def feed(self, data: Buffer) -> list[SampleBlock]:
        """Take one PMD data notification; return the blocks it completes."""
        track = self._track_of(data)
        if track is None:
            return []
        frame, _ = decode_data(data)
        if frame.frame_type_byte != track.frame_type:
            raise ProtocolError(
                9,
                f"{track.name} frame type 0x{frame.frame_type_byte:02x}, "
                f"this stream was set up for 0x{track.frame_type:02x}",
            )
        self._place(track, frame.timestamp_ns, self._counts(track, frame))
        if self._offset is None:
            self._link()
        return self._emit()

    def _track_of(self, data: Buffer) -> _Track | None:
        if len(data) < 1:
            raise IncompletePacket(DATA_HEADER_SIZE, 0)
        code = data[0] & 0x3F
        if code == MeasurementType.ACC:
            return self._acc
        if code == MeasurementType.GYRO:
            return self._gyro
        return None

    def _counts(self, track: _Track, frame: DataFrame) -> npt.NDArray[np.int16]:
        if frame.samples.dtype == np.float32:
            scale = self.gyro_scale_dps or 1.0
            counts, _ = quantise(frame.samples.astype(np.float64) * self._gyro_factor, scale)
            return counts
        clipped: npt.NDArray[np.int16] = np.clip(frame.samples, -32768, 32767).astype(np.int16)
        return clipped

    def _period(self) -> tuple[float, float, bool]:
        """(period ns, relative uncertainty, whether frames have been timed against each
        other); the nominal period until an estimate exists or when it is implausible."""
        span_ns = span_n = 0
        for track in (self._acc, self._gyro):
            if track is not None:
                ns, n = track.span()
                if n > 0:
                    span_ns += ns
                    span_n += n
        if span_n > 0 and span_ns > 0:
            period = span_ns / span_n
            if abs(period / self._nominal_ns - 1) <= _PERIOD_SANITY:
                return period, min(_NOMINAL_UNCERTAINTY, 2 * _TS_JITTER_NS / span_ns), True
            # not believable (wrong nominal rate, odd clock): go on with the nominal period
            return self._nominal_ns, _NOMINAL_UNCERTAINTY, True
        return self._nominal_ns, _NOMINAL_UNCERTAINTY, False

    def _place(self, track: _Track, ts: int, counts: npt.NDArray[np.int16]) -> None:
        n = int(counts.shape[0])
        period, uncertainty, _ = self._period()
        if track.last_end is None:
            last = n - 1
            track.anchor = (last, ts)
        else:
            elapsed = ts - track.last_ts
            x = elapsed / period
            tolerance = max(0.5, uncertainty * abs(x) + _TS_JITTER_NS / period)
            if elapsed <= 0 or x < n - tolerance:
                # back in time (clock set, overlap): contiguous, and a fresh estimate span
                last = track.last_end - 1 + n
                track.anchor, track.middle = (last, ts), None
            elif x <= n + tolerance:
                last = track.last_end - 1 + n
            else:
                last = track.last_end - 1 + round(x)
        track.last_end, track.last_ts = last + 1, ts
        if track.anchor is not None:
            age = ts - track.anchor[1]
            if track.middle is None and age >= _PERIOD_WINDOW_NS // 2:
                track.middle = (last, ts)
            elif track.middle is not None and age >= _PERIOD_WINDOW_NS:
                track.anchor, track.middle = track.middle, (last, ts)
        chunk = _Chunk(last + 1 - n, counts, ts)
        if self._done is not None and self._offset is not None:
            shift = 0 if track is self._acc else self._offset
            if chunk.end + shift <= self._done:
                return  # wholly in the past: its partners are gone
        track.chunks.append(chunk)

    def _link(self) -> None:
        gyro = self._gyro
        acc = self._acc
        if gyro is None or gyro.last_end is None or acc.last_end is None:
            return
        period, _, estimated = self._period()
        if not estimated:
            return  # wait for an estimate: a nominal period may be off by a sample here
        nearest = round((gyro.last_ts - acc.last_ts) / period)
        self._offset = (acc.last_end - 1) + nearest - (gyro.last_end - 1)

    # ------------------------------------------------------------------ emitting

    def _emit(self) -> list[SampleBlock]:
        acc, gyro, offset = self._acc, self._gyro, self._offset
        if acc.last_end is None:
            return []
        if offset is None or not self._period()[2]:
            # not linked yet (or no period estimate to time the samples with): keep only
            # what could still pair
            for track in (acc, gyro):
                if track is not None and track.last_end is not None:
                    horizon = track.last_end - self._cap
                    track.chunks = [c for c in track.chunks if c.end > horizon]
            return []
        frontier = acc.last_end
        if gyro is not None:
            if gyro.last_end is None:
                return []
            gyro_end = gyro.last_end + offset
            frontier = max(min(frontier, gyro_end), max(frontier, gyro_end) - self._cap)
        low = self._done
        if low is not None:
            frontier = max(frontier, low)
        pieces = self._pieces(low, frontier)
        self._done = frontier
        acc.chunks = [c for c in acc.chunks if c.end > frontier]
        if gyro is not None:
            gyro.chunks = [c for c in gyro.chunks if c.end + offset > frontier]
        return self._blocks(pieces)

    def _pieces(self, low: int | None, high: int) -> list[_Piece]:
        lo = -(1 << 62) if low is None else low
        out: list[_Piece] = []
        if self._gyro is None:
            for c in self._acc.chunks:
                s, e = max(c.start, lo), min(c.end, high)
                if s < e:
                    out.append(_Piece(s, c.counts[s - c.start : e - c.start], None, c))
            return out
        offset = self._offset or 0
        accs, gyros = self._acc.chunks, self._gyro.chunks
        i = j = 0
        while i < len(accs) and j < len(gyros):
            a, g = accs[i], gyros[j]
            g_start, g_end = g.start + offset, g.end + offset
            s, e = max(a.start, g_start, lo), min(a.end, g_end, high)
            if s < e:
                out.append(
                    _Piece(
                        s,
                        a.counts[s - a.start : e - a.start],
                        g.counts[s - g_start : e - g_start],
                        a,
                    )
                )
            if a.end <= g_end:
                i += 1
            else:
                j += 1
        return out

    def _blocks(self, pieces: list[_Piece]) -> list[SampleBlock]:
        runs: list[list[_Piece]] = []
        for piece in pieces:
            if runs and runs[-1][-1].start + len(runs[-1][-1].acc) == piece.start:
                runs[-1].append(piece)
            else:
                runs.append([piece])
        blocks: list[SampleBlock] = []
        period = self._period()[0]
        for run in runs:
            first = run[0]
            if self._origin is None:
                self._origin = first.start
            acc = np.concatenate([p.acc for p in run])
            clipped = bool(np.any((acc >= self._acc_full) | (acc <= -self._acc_full)))
            if self._gyro is not None:
                gyro = np.concatenate([p.gyro for p in run if p.gyro is not None])
                clipped |= bool(np.any((gyro >= self._gyro_full) | (gyro <= -self._gyro_full)))
                samples = np.ascontiguousarray(np.hstack([acc, gyro]), dtype=np.int16)
            else:
                samples = np.ascontiguousarray(acc, dtype=np.int16)
            chunk = first.chunk
            behind = chunk.end - 1 - first.start
            t_ns = chunk.timestamp_ns - round(behind * period)
            index = first.start - self._origin
            blocks.append(SampleBlock(index, t_ns // 1000, samples, clipped))
            self._next_out = index + samples.shape[0]
            self._emitted += samples.shape[0]
        return blocks


def _full_scale(range_units: float | None, scale: float) -> int:
    """The |count| at which a value is at full scale (int16 limit or the sensor range)."""
    if range_units is None:
        return 32767
    return max(1, min(32767, round(range_units / scale)))
