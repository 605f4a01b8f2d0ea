"""Codec: round trips, prefixes, a table of malformed inputs, and fuzzing."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensorhub.errors import IncompletePacket, ProtocolError, UnsupportedVersion
from sensorhub.protocol import codec, spec
from sensorhub.protocol.codec import Command, DataPacket, DeviceInfo, Response, StatusPacket
from sensorhub.protocol.spec import Opcode, ResultCode, SensorModel
from sensorhub.types import Mounting, Side

RNG = np.random.default_rng(7)
IMU = RNG.integers(-32768, 32768, size=(19, 6), dtype=np.int16)
ACC = RNG.integers(-32768, 32768, size=(38, 3), dtype=np.int16)

INFO = DeviceInfo(
    firmware=(1, 2, 3),
    model=SensorModel.BMI270,
    acc_range_g=16,
    gyro_range_dps=2000,
    acc_scale_g=spec.acc_scale_g(16),
    gyro_scale_dps=spec.gyro_scale_dps(2000),
    odr_hz=204.8,
    mounting=Mounting.SHIN,
    side=Side.RIGHT,
    serial=b"\x01\x02\x03\x04\x05\x06",
    name="SH-RSH-0506",
)

MESSAGES = [
    DataPacket(65535, 2**32 - 1, 2**32 - 19, IMU, spec.FLAG_CLIPPED),
    DataPacket(0, 0, 0, IMU[:1]),
    DataPacket(12, 38 * 12, 123456, ACC, spec.FLAG_NO_GYRO),
    StatusPacket(7, 88, 4100, 3, 27.35, 99, spec.STATUS_STREAMING | spec.STATUS_LOW_BATTERY),
    StatusPacket(0, 0, 0, 0, -10.0, 0),
    INFO,
    codec.start_stream(1),
    codec.stop_stream(2),
    codec.set_odr(1600, 3),
    codec.set_ranges(8, 500, 4),
    codec.time_sync(0xDEADBEEF, 5),
    codec.set_mounting(Mounting.SHOE, Side.LEFT, 6),
    codec.identify(5, 7),
    Command(0x55, 8, b"unknown opcode keeps its payload"),
    Response(Opcode.START_STREAM, 1, ResultCode.OK),
    Response(Opcode.SET_ODR, 3, ResultCode.INVALID_ARGUMENT),
    Response(Opcode.SET_RANGES, 4, ResultCode.BUSY),
    Response(0x55, 8, ResultCode.UNSUPPORTED),
    Response(Opcode.TIME_SYNC, 5, ResultCode.OK, codec.time_sync_reply(0xDEADBEEF, 2**40 + 5)),
]
WIRE = [codec.encode(m) for m in MESSAGES]


def _same(a: object, b: object) -> bool:
    if isinstance(a, DataPacket) and isinstance(b, DataPacket):
        return (a.seq, a.first_index, a.t_us, a.flags) == (
            b.seq,
            b.first_index,
            b.t_us,
            b.flags,
        ) and (np.array_equal(a.samples, b.samples))
    if isinstance(a, DeviceInfo) and isinstance(b, DeviceInfo):
        return (
            a.name == b.name
            and a.odr_hz == pytest.approx(b.odr_hz)
            and (a.acc_scale_g == pytest.approx(b.acc_scale_g))
            and a.mounting == b.mounting
            and a.side == b.side
            and a.serial == b.serial
        )
    return a == b


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: type(m).__name__)
def test_round_trip(msg: codec.Message) -> None:
    data = codec.encode(msg)
    assert len(data) <= spec.MAX_NOTIFICATION
    out, n = codec.decode(data)
    assert n == len(data)
    assert type(out) is type(msg)
    assert _same(out, msg)
    assert codec.encode(out) == data


def test_full_data_packet_fits_one_notification() -> None:
    assert len(WIRE[0]) == spec.MAX_NOTIFICATION == 244
    assert len(WIRE[2]) == spec.MAX_NOTIFICATION


@pytest.mark.parametrize("i", range(len(WIRE)))
def test_every_prefix_is_incomplete(i: int) -> None:
    data = WIRE[i]
    for k in range(len(data)):
        with pytest.raises(IncompletePacket) as err:
            codec.decode(data[:k])
        assert k < err.value.needed <= len(data)


def test_decode_a_stream_of_messages() -> None:
    stream = b"".join(WIRE)
    view = memoryview(stream)
    out = []
    while view:
        msg, n = codec.decode(view)
        out.append(msg)
        view = view[n:]
    assert len(out) == len(MESSAGES)
    assert all(_same(a, b) for a, b in zip(out, MESSAGES, strict=True))


def test_samples_are_a_zero_copy_view() -> None:
    pkt, _ = codec.decode(WIRE[0])
    assert isinstance(pkt, DataPacket)
    assert pkt.samples.dtype == np.int16 and pkt.samples.shape == (19, 6)
    assert pkt.samples.base is not None  # a view of the buffer, not a copy


def _resealed(data: bytes, pos: int, value: int) -> bytes:
    b = bytearray(data[:-2])
    b[pos] = value
    return bytes(b) + spec.CRC.pack(codec.crc16(b))


MALFORMED = [
    (
        b"\x02\x01" + bytes(20),
        UnsupportedVersion,
        0,
        "protocol version 2 is not supported (this sensorhub speaks version 1); update "
        "sensorhub or the sensor firmware",
    ),
    (b"\x01\x7f" + bytes(20), ProtocolError, 1, "unknown message kind 0x7f"),
    (_resealed(WIRE[0], 2, 0x80), ProtocolError, 2, "unknown data flag bits 0x80"),
    (_resealed(WIRE[1], 3, 0), ProtocolError, 3, "sample count 0 outside 1..19"),
    (_resealed(WIRE[1], 3, 20), ProtocolError, 3, "sample count 20 outside 1..19"),
    (
        WIRE[1][:-1] + bytes([WIRE[1][-1] ^ 1]),
        ProtocolError,
        len(WIRE[1]) - 2,
        "checksum mismatch (stored 0x%04x, computed 0x%04x)",
    ),
    (_resealed(WIRE[3], 3, 101), ProtocolError, 3, "battery level 101 % is over 100 %"),
    (_resealed(WIRE[3], 2, 0x40), ProtocolError, 2, "unknown status flag bits 0x40"),
    (_resealed(WIRE[5], 5, 0x33), ProtocolError, 5, "unknown sensor model 0x33"),
    (_resealed(WIRE[5], 21, 9), ProtocolError, 21, "unknown mounting 9"),
    (_resealed(WIRE[5], 22, 9), ProtocolError, 22, "unknown side 9"),
    (_resealed(WIRE[5], 29, 0xFF), ProtocolError, 29, "device name is not UTF-8"),
    (_resealed(WIRE[6], 4, 240), ProtocolError, 4, "payload length 240 over 236"),
    (_resealed(WIRE[14], 4, 9), ProtocolError, 4, "unknown result code 9"),
]


@pytest.mark.parametrize(("data", "kind", "offset", "reason"), MALFORMED)
def test_malformed_inputs_give_exact_errors(
    data: bytes, kind: type[ProtocolError], offset: int, reason: str
) -> None:
    with pytest.raises(kind) as err:
        codec.decode(data)
    assert err.value.offset == offset
    if "%04x" in reason:
        stored = int.from_bytes(data[-2:], "little")
        reason = reason % (stored, codec.crc16(data[:-2]))
    assert err.value.reason == reason
    assert str(err.value) == f"protocol error at byte {offset}: {reason}"


def test_command_arguments() -> None:
    assert codec.command_args(codec.set_odr(800)) == (800,)
    assert codec.command_args(codec.set_ranges(4, 250)) == (4, 250)
    assert codec.command_args(codec.start_stream()) == ()
    with pytest.raises(ProtocolError, match="SET_ODR takes a 2-byte payload, got 3"):
        codec.command_args(Command(Opcode.SET_ODR, 0, b"abc"))
    with pytest.raises(ProtocolError, match="unknown command opcode 0x55"):
        codec.command_args(Command(0x55, 0))
    token, device_us = codec.parse_time_sync_reply(codec.decode(WIRE[-1])[0])  # type: ignore[arg-type]
    assert (token, device_us) == (0xDEADBEEF, 2**40 + 5)


def test_encode_rejects_bad_sample_blocks() -> None:
    with pytest.raises(ValueError, match="samples must be"):
        codec.encode_data(0, 0, 0, np.zeros((20, 6)))
    with pytest.raises(ValueError, match="samples must be"):
        codec.encode_data(0, 0, 0, np.zeros((5, 3)))


def _mutations(seed: int, count: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    out: list[bytes] = []
    for _ in range(count):
        mode = rng.integers(0, 4)
        if mode == 0:  # random bytes, often with a plausible header
            buf = bytearray(rng.integers(0, 256, rng.integers(0, 260), dtype=np.uint8).tobytes())
            if len(buf) > 1 and rng.random() < 0.7:
                buf[0] = 1
                buf[1] = int(rng.choice([1, 2, 3, 0x10, 0x11]))
        else:  # a valid message with flips, truncation, extension or resealing
            buf = bytearray(WIRE[int(rng.integers(0, len(WIRE)))])
            for _ in range(int(rng.integers(1, 4))):
                buf[int(rng.integers(0, len(buf)))] = int(rng.integers(0, 256))
            if mode == 2:
                buf = buf[: int(rng.integers(0, len(buf) + 1))]
            elif mode == 3 and len(buf) > 2:
                body = buf[:-2]
                buf = body + bytearray(spec.CRC.pack(codec.crc16(body)))
                buf += rng.integers(0, 256, rng.integers(0, 8), dtype=np.uint8).tobytes()
        out.append(bytes(buf))
    return out


BUFFERS_PER_EXAMPLE = 250


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_fuzz_only_protocol_errors(seed: int) -> None:
    """400 examples x 250 buffers = 100,000 random and mutated buffers."""
    for buf in _mutations(seed, BUFFERS_PER_EXAMPLE):
        try:
            msg, n = codec.decode(buf)
        except (IncompletePacket, ProtocolError):
            continue
        assert 0 < n <= len(buf)
        # Whatever decodes must encode back to the bytes it came from.
        assert codec.encode(msg) == buf[:n] or isinstance(msg, DeviceInfo)


@pytest.mark.parametrize(
    ("modules", "banned"),
    [
        (
            "sensorhub.protocol, sensorhub.protocol.codec, sensorhub.protocol.polar, "
            "sensorhub.protocol.movesense, sensorhub.protocol.metawear, "
            "sensorhub.protocol.rsc, sensorhub.protocol.native",
            "'asyncio', 'bleak', 'aiomqtt', 'sounddevice', 'socket'",
        ),
        # numba itself imports socket; the signal core must not pull in I/O libraries
        (
            "sensorhub.dsp.detector, sensorhub.dsp._stream, sensorhub.pipeline.session, "
            "sensorhub.pipeline.families",
            "'asyncio', 'bleak', 'aiomqtt', 'sounddevice', 'firmware_sim'",
        ),
    ],
)
def test_core_layers_import_no_io_libraries(modules: str, banned: str) -> None:
    code = (
        f"import sys, {modules}; "
        f"bad = [m for m in ({banned}) if m in sys.modules]; print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_compiled_data_decoder_agrees_with_the_codec(seed: int) -> None:
    """The numba decoder on the replay/live hot path decides exactly as ``decode``."""
    from sensorhub.dsp import _stream as S

    dst = np.zeros((spec.MAX_SAMPLES_ACC, 6), np.int16)
    meta = np.zeros(6, np.int64)
    for buf in _mutations(seed, 250) + WIRE:
        arr = np.frombuffer(buf, np.uint8)
        code = S.decode_data(arr, 0, len(buf), dst, meta)
        if len(buf) >= 2 and buf[0] == spec.PROTOCOL_VERSION and buf[1] != spec.Kind.DATA:
            assert code == 1  # another kind: left to the codec
            continue
        try:
            msg, _ = codec.decode(buf)
        except (IncompletePacket, ProtocolError):
            assert code == 2
            continue
        if not isinstance(msg, DataPacket):
            assert code == 1
            continue
        assert code == 0
        assert list(meta[:4]) == [msg.seq, msg.first_index, msg.t_us, msg.count]
        assert np.array_equal(dst[: msg.count, : meta[4]], msg.samples)
