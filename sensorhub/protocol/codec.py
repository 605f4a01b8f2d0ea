"""Sans-IO codec for the sensorhub firmware protocol.

``decode(view) -> (message, nbytes)`` reads one message from the start of a buffer;
``encode(message) -> bytes`` writes one.  No I/O, no asyncio, no per-sample Python loop:
the samples of a data packet are a zero-copy ``int16`` view of the buffer, so a caller
that reuses a mutable buffer must copy ``packet.samples`` first.

Every message starts with ``version: u8, kind: u8`` and ends with a CRC-16/CCITT-FALSE
over all bytes before it.  The BLE link layer has its own CRC, but bridges (UART to a
phone, an ESP32 relay) and session files do not; the checksum also turns corrupted bytes
into a :class:`ProtocolError` instead of a phantom sample.
"""

from __future__ import annotations

import binascii
import math
import struct
from typing import TypeAlias

import msgspec
import numpy as np
import numpy.typing as npt

from sensorhub.errors import IncompletePacket, ProtocolError, UnsupportedVersion
from sensorhub.protocol import spec
from sensorhub.protocol.spec import Kind, Opcode, ResultCode, SensorModel
from sensorhub.types import Mounting, Side

Buffer: TypeAlias = bytes | bytearray | memoryview
Samples: TypeAlias = npt.NDArray[np.int16]


def crc16(data: Buffer) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) of ``data``."""
    return binascii.crc_hqx(data, 0xFFFF)


# --------------------------------------------------------------------------- messages


class DataPacket(msgspec.Struct, frozen=True, gc=False):
    """A batch of IMU samples from the sensor FIFO.

    Attributes
    ----------
    seq
        Packet sequence number, 16 bits, wrapping; consecutive packets differ by one.
    first_index
        Index of the first sample since streaming began (u32, wrapping).
    t_us
        Device clock at the first sample, microseconds (u32, wrapping every ~71.6 min).
    samples
        ``(count, 6)`` int16 (ax, ay, az, gx, gy, gz) or ``(count, 3)`` accelerometer-only,
        in LSB; scale with the device info's ``acc_scale_g`` and ``gyro_scale_dps``.
    flags
        ``spec.FLAG_*`` bits.
    """

    seq: int
    first_index: int
    t_us: int
    samples: Samples
    flags: int = 0

    @property
    def count(self) -> int:
        return int(self.samples.shape[0])

    @property
    def has_gyro(self) -> bool:
        return not self.flags & spec.FLAG_NO_GYRO


class StatusPacket(msgspec.Struct, frozen=True, gc=False):
    """Sensor health: battery, FIFO overflows, temperature (notified about once a second)."""

    seq: int
    battery_pct: int
    battery_mv: int
    fifo_overflows: int
    temperature_c: float
    t_us: int
    flags: int = 0


class DeviceInfo(msgspec.Struct, frozen=True):
    """What the sensor is and how it is set up (read from the info characteristic)."""

    firmware: tuple[int, int, int]
    model: SensorModel
    acc_range_g: int
    gyro_range_dps: int
    acc_scale_g: float
    gyro_scale_dps: float
    odr_hz: float
    mounting: Mounting
    side: Side
    serial: bytes
    name: str
    protocol_version: int = spec.PROTOCOL_VERSION


class Command(msgspec.Struct, frozen=True, gc=False):
    """A control-point write.  ``payload`` layout depends on ``opcode`` (see spec)."""

    opcode: int
    token: int
    payload: bytes = b""


class Response(msgspec.Struct, frozen=True, gc=False):
    """The sensor's answer to the command with the same ``opcode`` and ``token``."""

    opcode: int
    token: int
    code: ResultCode
    payload: bytes = b""


Message: TypeAlias = DataPacket | StatusPacket | DeviceInfo | Command | Response

# ------------------------------------------------------------------ command payloads

_U16 = struct.Struct("<H")
_RANGES = struct.Struct("<BH")
_U32 = struct.Struct("<I")
_SYNC_REPLY = struct.Struct("<IQ")
_MOUNT = struct.Struct("<BB")
_U8 = struct.Struct("<B")

#: Expected payload length of each known command.
COMMAND_PAYLOAD_SIZE: dict[int, int] = {
    Opcode.START_STREAM: 0,
    Opcode.STOP_STREAM: 0,
    Opcode.SET_ODR: _U16.size,
    Opcode.SET_RANGES: _RANGES.size,
    Opcode.TIME_SYNC: _U32.size,
    Opcode.SET_MOUNTING: _MOUNT.size,
    Opcode.IDENTIFY: _U8.size,
}


def start_stream(token: int = 0) -> Command:
    return Command(Opcode.START_STREAM, token)


def stop_stream(token: int = 0) -> Command:
    return Command(Opcode.STOP_STREAM, token)


def set_odr(odr_hz: int, token: int = 0) -> Command:
    return Command(Opcode.SET_ODR, token, _U16.pack(odr_hz))


def set_ranges(acc_range_g: int, gyro_range_dps: int, token: int = 0) -> Command:
    return Command(Opcode.SET_RANGES, token, _RANGES.pack(acc_range_g, gyro_range_dps))


def time_sync(host_token: int, token: int = 0) -> Command:
    return Command(Opcode.TIME_SYNC, token, _U32.pack(host_token))


def set_mounting(mounting: Mounting, side: Side, token: int = 0) -> Command:
    return Command(Opcode.SET_MOUNTING, token, _MOUNT.pack(int(mounting), int(side)))


def identify(seconds: int, token: int = 0) -> Command:
    return Command(Opcode.IDENTIFY, token, _U8.pack(seconds))


def command_args(cmd: Command) -> tuple[int, ...]:
    """The arguments of a known command, e.g. ``(odr_hz,)`` for SET_ODR.

    Raises ProtocolError for an unknown opcode or a payload of the wrong length.
    """
    try:
        size = COMMAND_PAYLOAD_SIZE[cmd.opcode]
    except KeyError:
        raise ProtocolError(2, f"unknown command opcode 0x{cmd.opcode:02x}") from None
    if len(cmd.payload) != size:
        raise ProtocolError(
            spec.COMMAND_HEADER.size,
            f"{Opcode(cmd.opcode).name} takes a {size}-byte payload, got {len(cmd.payload)}",
        )
    layout = {
        Opcode.SET_ODR: _U16,
        Opcode.SET_RANGES: _RANGES,
        Opcode.TIME_SYNC: _U32,
        Opcode.SET_MOUNTING: _MOUNT,
        Opcode.IDENTIFY: _U8,
    }.get(Opcode(cmd.opcode))
    return tuple(layout.unpack(cmd.payload)) if layout else ()


def time_sync_reply(host_token: int, device_us: int) -> bytes:
    """Response payload of TIME_SYNC: the host token echoed and the 64-bit device clock."""
    return _SYNC_REPLY.pack(host_token, device_us)


def parse_time_sync_reply(resp: Response) -> tuple[int, int]:
    """``(host_token, device_us)`` of a TIME_SYNC response."""
    if resp.opcode != Opcode.TIME_SYNC or len(resp.payload) != _SYNC_REPLY.size:
        raise ProtocolError(
            spec.RESPONSE_HEADER.size,
            f"not a time-sync reply (opcode 0x{resp.opcode:02x}, {len(resp.payload)} bytes)",
        )
    token, device_us = _SYNC_REPLY.unpack(resp.payload)
    return int(token), int(device_us)


# -------------------------------------------------------------------------- encode


class Advert(msgspec.Struct, frozen=True):
    """What a sensor says in its advertisement's manufacturer data."""

    version: int
    battery_pct: int
    mounting: int
    side: int


def encode_advert(advert: Advert) -> bytes:
    return spec.ADVERT.pack(advert.version, advert.battery_pct, advert.mounting, advert.side)


def decode_advert(data: bytes) -> Advert | None:
    """None when ``data`` is not a sensorhub advertisement (too short)."""
    if len(data) < spec.ADVERT.size:
        return None
    return Advert(*spec.ADVERT.unpack_from(data))


def _seal(body: bytes | bytearray) -> bytes:
    return bytes(body) + spec.CRC.pack(crc16(body))


def encode_data(
    seq: int, first_index: int, t_us: int, samples: npt.ArrayLike, flags: int = 0
) -> bytes:
    """Encode a data packet.  ``samples`` is ``(n, 6)`` or, with FLAG_NO_GYRO, ``(n, 3)``."""
    arr = np.ascontiguousarray(samples, dtype="<i2")
    channels = spec.SAMPLE_CHANNELS_ACC if flags & spec.FLAG_NO_GYRO else spec.SAMPLE_CHANNELS_IMU
    limit = spec.MAX_SAMPLES_ACC if flags & spec.FLAG_NO_GYRO else spec.MAX_SAMPLES_IMU
    if arr.ndim != 2 or arr.shape[1] != channels or not 1 <= arr.shape[0] <= limit:
        raise ValueError(f"samples must be (1..{limit}, {channels}), got {arr.shape}")
    header = spec.DATA_HEADER.pack(
        spec.PROTOCOL_VERSION,
        Kind.DATA,
        flags,
        arr.shape[0],
        seq % spec.SEQ_MODULO,
        first_index % spec.INDEX_MODULO,
        t_us % spec.TIME_MODULO_US,
    )
    return _seal(header + arr.tobytes())


def encode(msg: Message) -> bytes:
    """Encode any message to its wire bytes (CRC included)."""
    if isinstance(msg, DataPacket):
        return encode_data(msg.seq, msg.first_index, msg.t_us, msg.samples, msg.flags)
    if isinstance(msg, StatusPacket):
        return _seal(
            spec.STATUS_BODY.pack(
                spec.PROTOCOL_VERSION,
                Kind.STATUS,
                msg.flags,
                msg.battery_pct,
                msg.seq % spec.SEQ_MODULO,
                msg.battery_mv,
                msg.fifo_overflows,
                round(msg.temperature_c * 100),
                msg.t_us % spec.TIME_MODULO_US,
            )
        )
    if isinstance(msg, DeviceInfo):
        name = msg.name.encode()[:16]
        return _seal(
            spec.INFO_BODY.pack(
                msg.protocol_version,
                Kind.INFO,
                *msg.firmware,
                int(msg.model),
                msg.acc_range_g,
                msg.gyro_range_dps,
                msg.acc_scale_g,
                msg.gyro_scale_dps,
                round(msg.odr_hz * 1000),
                int(msg.mounting),
                int(msg.side),
                msg.serial[:6].ljust(6, b"\0"),
                name.ljust(16, b"\0"),
            )
        )
    if isinstance(msg, Command):
        if len(msg.payload) > spec.MAX_PAYLOAD:
            raise ValueError(f"command payload over {spec.MAX_PAYLOAD} bytes")
        header = spec.COMMAND_HEADER.pack(
            spec.PROTOCOL_VERSION, Kind.COMMAND, msg.opcode, msg.token, len(msg.payload)
        )
        return _seal(header + msg.payload)
    if isinstance(msg, Response):
        if len(msg.payload) > spec.MAX_PAYLOAD:
            raise ValueError(f"response payload over {spec.MAX_PAYLOAD} bytes")
        header = spec.RESPONSE_HEADER.pack(
            spec.PROTOCOL_VERSION,
            Kind.RESPONSE,
            msg.opcode,
            msg.token,
            int(msg.code),
            len(msg.payload),
        )
        return _seal(header + msg.payload)
    raise TypeError(f"cannot encode {type(msg).__name__}")


# -------------------------------------------------------------------------- decode


def _need(view: Buffer, n: int) -> None:
    if len(view) < n:
        raise IncompletePacket(n, len(view))


def _check_crc(view: Buffer, total: int) -> None:
    body_end = total - spec.CRC_SIZE
    (stored,) = spec.CRC.unpack_from(view, body_end)
    actual = crc16(view[:body_end])
    if stored != actual:
        raise ProtocolError(
            body_end, f"checksum mismatch (stored 0x{stored:04x}, computed 0x{actual:04x})"
        )


_I16 = np.dtype("<i2")
_DATA_HEADER_SIZE = spec.DATA_HEADER.size
_UNPACK_DATA_HEADER = spec.DATA_HEADER.unpack_from
_UNPACK_CRC = spec.CRC.unpack_from
_CRC_HQX = binascii.crc_hqx
_FLAGS_UNKNOWN = ~spec.FLAGS_KNOWN & 0xFF


def _decode_data(view: Buffer) -> tuple[DataPacket, int]:
    # The per-notification hot path: attribute look-ups hoisted into module constants.
    if len(view) < _DATA_HEADER_SIZE:
        raise IncompletePacket(_DATA_HEADER_SIZE, len(view))
    _, _, flags, count, seq, first_index, t_us = _UNPACK_DATA_HEADER(view)
    if flags & _FLAGS_UNKNOWN:
        raise ProtocolError(2, f"unknown data flag bits 0x{flags & _FLAGS_UNKNOWN:02x}")
    if flags & spec.FLAG_NO_GYRO:
        channels, limit = spec.SAMPLE_CHANNELS_ACC, spec.MAX_SAMPLES_ACC
    else:
        channels, limit = spec.SAMPLE_CHANNELS_IMU, spec.MAX_SAMPLES_IMU
    if not 1 <= count <= limit:
        raise ProtocolError(3, f"sample count {count} outside 1..{limit}")
    body_end = _DATA_HEADER_SIZE + count * channels * 2
    total = body_end + 2
    if len(view) < total:
        raise IncompletePacket(total, len(view))
    mv = view if isinstance(view, memoryview) else memoryview(view)
    (stored,) = _UNPACK_CRC(mv, body_end)
    actual = _CRC_HQX(mv[:body_end], 0xFFFF)
    if stored != actual:
        raise ProtocolError(
            body_end, f"checksum mismatch (stored 0x{stored:04x}, computed 0x{actual:04x})"
        )
    samples = np.frombuffer(mv, dtype=_I16, count=count * channels, offset=_DATA_HEADER_SIZE)
    return DataPacket(seq, first_index, t_us, samples.reshape(count, channels), flags), total


def _decode_status(view: Buffer) -> tuple[StatusPacket, int]:
    total = spec.STATUS_BODY.size + spec.CRC_SIZE
    _need(view, total)
    _, _, flags, pct, seq, mv, overflows, centi_c, t_us = spec.STATUS_BODY.unpack_from(view)
    if flags & ~spec.STATUS_FLAGS_KNOWN:
        raise ProtocolError(2, f"unknown status flag bits 0x{flags & ~spec.STATUS_FLAGS_KNOWN:02x}")
    if pct > 100:
        raise ProtocolError(3, f"battery level {pct} % is over 100 %")
    _check_crc(view, total)
    return StatusPacket(seq, pct, mv, overflows, centi_c / 100.0, t_us, flags), total


def _decode_info(view: Buffer) -> tuple[DeviceInfo, int]:
    total = spec.INFO_BODY.size + spec.CRC_SIZE
    _need(view, total)
    (
        version,
        _,
        fw_major,
        fw_minor,
        fw_patch,
        model,
        acc_range,
        gyro_range,
        acc_scale,
        gyro_scale,
        odr_mhz,
        mounting,
        side,
        serial,
        name,
    ) = spec.INFO_BODY.unpack_from(view)
    if model not in SensorModel._value2member_map_:
        raise ProtocolError(5, f"unknown sensor model 0x{model:02x}")
    if acc_range == 0 or gyro_range == 0:
        raise ProtocolError(6, "full-scale range of 0")
    if not (math.isfinite(acc_scale) and acc_scale > 0):
        raise ProtocolError(9, f"accelerometer scale {acc_scale!r} g/LSB is not positive")
    if not (math.isfinite(gyro_scale) and gyro_scale > 0):
        raise ProtocolError(13, f"gyroscope scale {gyro_scale!r} deg/s/LSB is not positive")
    if odr_mhz == 0:
        raise ProtocolError(17, "output data rate of 0 Hz")
    if mounting not in Mounting._value2member_map_:
        raise ProtocolError(21, f"unknown mounting {mounting}")
    if side not in Side._value2member_map_:
        raise ProtocolError(22, f"unknown side {side}")
    try:
        text = name.rstrip(b"\0").decode()
    except UnicodeDecodeError as exc:
        raise ProtocolError(29 + exc.start, "device name is not UTF-8") from None
    _check_crc(view, total)
    info = DeviceInfo(
        firmware=(fw_major, fw_minor, fw_patch),
        model=SensorModel(model),
        acc_range_g=acc_range,
        gyro_range_dps=gyro_range,
        acc_scale_g=acc_scale,
        gyro_scale_dps=gyro_scale,
        odr_hz=odr_mhz / 1000.0,
        mounting=Mounting(mounting),
        side=Side(side),
        serial=bytes(serial),
        name=text,
        protocol_version=version,
    )
    return info, total


def _payload(view: Buffer, header_size: int, length: int) -> tuple[bytes, int]:
    """The checked payload of a command or response whose length byte ends its header."""
    if length > spec.MAX_PAYLOAD:
        raise ProtocolError(header_size - 1, f"payload length {length} over {spec.MAX_PAYLOAD}")
    total = header_size + length + spec.CRC_SIZE
    _need(view, total)
    _check_crc(view, total)
    return bytes(view[header_size : total - spec.CRC_SIZE]), total


def _decode_command(view: Buffer) -> tuple[Command, int]:
    _need(view, spec.COMMAND_HEADER.size)
    _, _, opcode, token, length = spec.COMMAND_HEADER.unpack_from(view)
    payload, total = _payload(view, spec.COMMAND_HEADER.size, length)
    return Command(opcode, token, payload), total


def _decode_response(view: Buffer) -> tuple[Response, int]:
    _need(view, spec.RESPONSE_HEADER.size)
    _, _, opcode, token, code, length = spec.RESPONSE_HEADER.unpack_from(view)
    if code not in ResultCode._value2member_map_:
        raise ProtocolError(4, f"unknown result code {code}")
    payload, total = _payload(view, spec.RESPONSE_HEADER.size, length)
    return Response(opcode, token, ResultCode(code), payload), total


_DECODERS = {
    Kind.DATA: _decode_data,
    Kind.STATUS: _decode_status,
    Kind.INFO: _decode_info,
    Kind.COMMAND: _decode_command,
    Kind.RESPONSE: _decode_response,
}


def decode(view: Buffer) -> tuple[Message, int]:
    """Decode the message at the start of ``view``.

    Returns
    -------
    (message, nbytes)
        The message and how many bytes of ``view`` it used.

    Raises
    ------
    IncompletePacket
        ``view`` ends before the message does (``exc.needed`` says how long it must be).
    ProtocolError
        The bytes are malformed (``exc.offset``, ``exc.reason``); an
        :class:`UnsupportedVersion` subclass when the version byte is not ours.
    """
    if len(view) < 2:
        raise IncompletePacket(2, len(view))
    version = view[0]
    if version != spec.PROTOCOL_VERSION:
        raise UnsupportedVersion(0, version, spec.PROTOCOL_VERSION)
    kind = view[1]
    if kind == 1:  # Kind.DATA, the hot path
        return _decode_data(view)
    decoder = _DECODERS.get(kind)  # type: ignore[call-overload]
    if decoder is None:
        raise ProtocolError(1, f"unknown message kind 0x{view[1]:02x}")
    result: tuple[Message, int] = decoder(view)
    return result
