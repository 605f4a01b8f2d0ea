"""MetaWear codec and stream: SDK vectors and command bytes, round trips, prefixes, a table
of malformed inputs, fuzzing, and the stream's pairing and restart placement."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pytest

from sensorhub.errors import IncompletePacket, ProtocolError
from sensorhub.protocol import metawear as mw
from sensorhub.protocol.metawear import Imu, Module
from sensorhub.protocol.vendor import SampleBlock

BMI160, BMI270 = Imu.BMI160, Imu.BMI270

# ------------------------------------------------------------ vectors (SDK unit tests)

ACC_SINGLE = bytes.fromhex("030416c494a22ad0")  # +-4 g, both chips
ACC_PACKED_160 = bytes.fromhex("031c62b7530de9fd16d04d0e57028affa1050a01")  # +-8 g
ACC_PACKED_270 = bytes.fromhex("030562b7530de9fd16d04d0e57028affa1050a01")  # same, MMS header
GYRO_SINGLE_160 = bytes.fromhex("13053e43ff7f0080")  # +-500 dps
GYRO_PACKED_160 = bytes.fromhex("13070915ad2608de8a1a0d2665e48d20ac2773ec")  # +-1000 dps

VECTORS = [
    (ACC_SINGLE, BMI160, mw.acc_scale_g(4), [(-1.872, -2.919, -1.495)]),
    (ACC_SINGLE, BMI270, mw.acc_scale_g(4), [(-1.872, -2.919, -1.495)]),
    (
        ACC_PACKED_160,
        BMI160,
        mw.acc_scale_g(8),
        [(-4.539, 0.833, -0.131), (-2.995, 0.894, 0.146), (-0.029, 0.352, 0.065)],
    ),
    (
        ACC_PACKED_270,
        BMI270,
        mw.acc_scale_g(8),
        [(-4.539, 0.833, -0.131), (-2.995, 0.894, 0.146), (-0.029, 0.352, 0.065)],
    ),
    (GYRO_SINGLE_160, BMI160, mw.gyro_scale_dps(500), [(262.409, 499.497, -499.512)]),
    (
        GYRO_PACKED_160,
        BMI160,
        mw.gyro_scale_dps(1000),
        [(164.177, 301.860, -265.122), (207.134, 296.982, -215.457), (254.055, 309.634, -152.591)],
    ),
]


@pytest.mark.parametrize(("wire", "imu", "scale", "expected"), VECTORS)
def test_sdk_vectors_decode_to_published_values(wire, imu, scale, expected):
    msg, n = mw.decode(wire, imu)
    assert n == len(wire)
    assert isinstance(msg, mw.SensorData)
    assert msg.samples.dtype == np.int16
    assert msg.samples.shape == (len(expected), 3)
    assert msg.packed == (len(expected) == 3)
    assert np.round(msg.samples * scale, 3).tolist() == [list(row) for row in expected]
    assert mw.encode(msg) == wire


def test_chip_agnostic_decode_of_unambiguous_vectors():
    for wire in (ACC_SINGLE, ACC_PACKED_160, ACC_PACKED_270, GYRO_PACKED_160):
        msg, _ = mw.decode(wire)
        assert isinstance(msg, mw.SensorData)
    # 13 05 is a single sample on the BMI160 and a packed one on the BMI270
    msg, n = mw.decode(GYRO_SINGLE_160)
    assert msg == mw.Notification(0x13, 0x05, GYRO_SINGLE_160[2:]) and n == 8
    with pytest.raises(IncompletePacket) as e:
        mw.decode(GYRO_SINGLE_160, BMI270)
    assert (e.value.needed, e.value.have) == (20, 8)


def test_scales():
    assert mw.acc_lsb_per_g(2) == 16384.0 and mw.acc_lsb_per_g(16) == 2048.0
    assert [1 / mw.gyro_scale_dps(r) for r in (2000, 1000, 500, 250, 125)] == pytest.approx(
        [16.4, 32.8, 65.6, 131.2, 262.4]
    )
    with pytest.raises(ValueError, match=r"supported: 2, 4, 8, 16"):
        mw.acc_scale_g(3)


# -------------------------------------------------------------------- command bytes

SDK_ODRS = (0.78125, 1.5625, 3.125, 6.25, 12.5, 25, 50, 100, 200, 400, 800, 1600)
# test_accelerometer_bmi160.py / _bmi270.py, test_set_odr (default ranges: +-2 g / +-8 g)
BMI160_ODR_BYTES = (0x81, 0x82, 0x83, 0x84, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x2B, 0x2C)
BMI270_ODR_BYTES = (0x21, 0x22, 0x23, 0x24, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xAB, 0xAC)

COMMANDS = [
    (mw.acc_config(BMI160, 100, 16), "03 03 28 0c"),
    (mw.acc_config(BMI160, 200, 8), "03 03 29 08"),
    (mw.acc_config(BMI160, 100, 4), "03 03 28 05"),
    (mw.acc_config(BMI270, 200, 8), "03 03 a9 02"),
    (mw.acc_config(BMI270, 100, 16), "03 03 a8 03"),
    (mw.acc_config(BMI270, 100, 2), "03 03 a8 00"),
    (mw.gyro_config(BMI160, 200, 2000), "13 03 29 00"),
    (mw.gyro_config(BMI160, 100, 250), "13 03 28 03"),
    (mw.gyro_config(BMI160, 50, 125), "13 03 27 04"),
    (mw.gyro_config(BMI270, 200, 1000), "13 03 29 01"),
    (mw.gyro_config(BMI270, 1600, 500), "13 03 2c 02"),
    (mw.acc_enable(BMI160), "03 02 01 00"),
    (mw.acc_disable(BMI270), "03 02 00 01"),
    (mw.acc_start(BMI160), "03 01 01"),
    (mw.acc_start(BMI270, 200), "03 01 01"),
    (mw.acc_start(BMI270, 6.25), "03 01 02"),
    (mw.acc_start(BMI160, 6.25), "03 01 01"),
    (mw.acc_stop(BMI270), "03 01 00"),
    (mw.acc_subscribe(BMI160, packed=False), "03 04 01"),
    (mw.acc_subscribe(BMI160, packed=False, on=False), "03 04 00"),
    (mw.acc_subscribe(BMI160, packed=True), "03 1c 01"),
    (mw.acc_subscribe(BMI160, packed=True, on=False), "03 1c 00"),
    (mw.acc_subscribe(BMI270, packed=True), "03 05 01"),
    (mw.acc_subscribe(BMI270, packed=True, on=False), "03 05 00"),
    (mw.gyro_enable(BMI160), "13 02 01 00"),
    (mw.gyro_disable(BMI160), "13 02 00 01"),
    (mw.gyro_start(BMI160), "13 01 01"),
    (mw.gyro_stop(BMI160), "13 01 00"),
    (mw.gyro_subscribe(BMI160, packed=False), "13 05 01"),
    (mw.gyro_subscribe(BMI160, packed=True), "13 07 01"),
    (mw.gyro_subscribe(BMI160, packed=False, on=False), "13 05 00"),
    (mw.gyro_subscribe(BMI270, packed=False), "13 04 01"),
    (mw.gyro_subscribe(BMI270, packed=True), "13 05 01"),
    (mw.module_info_probe(Module.ACCELEROMETER), "03 80"),
    (mw.module_info_probe(Module.GYRO), "13 80"),
    (mw.connection_parameters(7.5, 7.5, 0, 6000), "11 09 06 00 06 00 00 00 58 02"),
    (mw.connection_parameters(750, 1000, 128, 16384), "11 09 58 02 20 03 80 00 66 06"),
]


@pytest.mark.parametrize(("cmd", "expected"), COMMANDS)
def test_command_bytes_exact(cmd, expected):
    assert cmd == bytes.fromhex(expected)


@pytest.mark.parametrize(
    ("imu", "range_g", "odr_bytes", "range_byte"),
    [(BMI160, 2, BMI160_ODR_BYTES, 0x03), (BMI270, 8, BMI270_ODR_BYTES, 0x02)],
)
def test_every_sdk_accelerometer_odr_byte(imu, range_g, odr_bytes, range_byte):
    for odr, byte in zip(SDK_ODRS, odr_bytes, strict=True):
        assert mw.acc_config(imu, odr, range_g) == bytes((0x03, 0x03, byte, range_byte))
        assert mw.parse_acc_config(imu, bytes((byte, range_byte))) == (odr, range_g)


def test_config_round_trips_through_parse():
    for imu in Imu:
        for odr in mw.GYRO_ODR_CODES:
            for rng in mw.GYRO_RANGE_CODES:
                assert mw.parse_gyro_config(imu, mw.gyro_config(imu, odr, rng)[2:]) == (odr, rng)
        for rng in mw.ACC_RANGE_CODES[imu]:
            assert mw.parse_acc_config(imu, mw.acc_config(imu, 1600, rng)[2:]) == (1600, rng)
    params = mw.connection_parameters(11.25, 15, 4, 4000)[2:]
    assert mw.parse_connection_parameters(params) == (11.25, 15.0, 4, 4000.0)


def test_unsupported_settings_name_the_supported_values():
    with pytest.raises(ValueError, match=r"ODR 300 Hz .* supported: 0\.78125, 1\.5625, .*, 1600"):
        mw.acc_config(BMI160, 300, 16)
    with pytest.raises(ValueError, match=r"range 32 g .* supported: 2, 4, 8, 16"):
        mw.acc_config(BMI270, 100, 32)
    with pytest.raises(ValueError, match=r"gyro ODR 12\.5 Hz .* supported: 25, 50, .*, 3200"):
        mw.gyro_config(BMI160, 12.5, 2000)
    with pytest.raises(ValueError, match=r"gyro range 4000 dps .* 2000, 1000, 500, 250, 125"):
        mw.gyro_config(BMI270, 100, 4000)
    with pytest.raises(ValueError, match=r"7\.5 <= min <= max"):
        mw.connection_parameters(5, 7.5, 0, 6000)
    with pytest.raises(ValueError, match="latency"):
        mw.connection_parameters(7.5, 7.5, 500, 6000)
    with pytest.raises(ValueError, match="timeout"):
        mw.connection_parameters(7.5, 7.5, 0, 50)
    with pytest.raises(ValueError):
        mw.module_info_probe(256)


@pytest.mark.parametrize("imu", list(Imu))
def test_streaming_command_sequences_decode(imu):
    start = mw.start_streaming(imu, 200, 16, 2000)
    assert start[0] == bytes.fromhex("1109060006000000 5802".replace(" ", ""))
    assert start[1] == mw.acc_config(imu, 200, 16) and start[2] == mw.gyro_config(imu, 200, 2000)
    assert start[-2:] == [mw.acc_start(imu, 200), mw.gyro_start(imu)]
    stop = mw.stop_streaming(imu, gyro=True)
    assert stop[0] == mw.acc_stop(imu) and stop[-1] == mw.gyro_subscribe(imu, True, on=False)
    assert len(mw.start_streaming(imu, 100, 8, None)) == 5
    for cmd in [*start, *stop]:
        msg, n = mw.decode_command(cmd, imu)
        assert n == len(cmd)
        assert (msg.module, msg.register, msg.read, msg.params) == (cmd[0], cmd[1], False, cmd[2:])
        assert mw.encode(msg) == cmd


# ---------------------------------------------------------------------- module info

# test/common.py board tables: MetaWear RG (BMI160), MetaMotion RL, MetaMotion S (BMI270)
INFOS = [
    ("03 80 01 01", BMI160, True),
    ("03 80 01 02", BMI160, True),
    ("13 80 00 01", BMI160, True),
    ("03 80 04 00", BMI270, True),
    ("13 80 01 00", BMI270, True),
    ("03 80 01 00", BMI160, False),  # a BMI160 board before packed data
]


@pytest.mark.parametrize(("wire", "imu", "packed"), INFOS)
def test_module_info_maps_to_chip(wire, imu, packed):
    raw = bytes.fromhex(wire)
    info, n = mw.decode(raw)
    assert isinstance(info, mw.ModuleInfo) and n == 4 and info.present
    assert mw.imu_of(info) is imu
    assert mw.packed_supported(info) is packed
    assert mw.encode(info) == raw


def test_module_info_absent_and_extra():
    info, n = mw.decode(b"\x10\x80")
    assert info == mw.ModuleInfo(0x10) and n == 2 and not info.present
    raw = bytes.fromhex("19 80 00 03 03 00 06 00 02 00 01 00")
    info, n = mw.decode(raw)
    assert info == mw.ModuleInfo(0x19, 0, 3, raw[4:]) and n == 12
    assert mw.encode(info) == raw == mw.encode_module_info(0x19, 0, 3, raw[4:])
    assert mw.encode_module_info(0x13) == b"\x13\x80"


@pytest.mark.parametrize(
    ("info", "match"),
    [
        (mw.ModuleInfo(3, 3, 1), r"implementation 3 \(BMA255\)"),
        (mw.ModuleInfo(3, 0, 1), r"implementation 0 \(MMA8452Q\)"),
        (mw.ModuleInfo(0x13, 7, 0), r"gyro implementation 7"),
        (mw.ModuleInfo(0x13), "no gyro"),
    ],
)
def test_unsupported_chips(info, match):
    with pytest.raises(ProtocolError, match=match) as e:
        mw.imu_of(info)
    assert e.value.offset == 2
    with pytest.raises(ProtocolError) as e:
        mw.imu_of(mw.ModuleInfo(0x11, 0, 9))
    assert e.value.offset == 0


# ------------------------------------------------------------ round trips, prefixes

RNG = np.random.default_rng(20240611)


def _data_notifications() -> list[tuple[Imu, bytes]]:
    out = []
    for imu in Imu:
        for packed in (False, True):
            rows = 3 if packed else 1
            for encode in (mw.encode_acc, mw.encode_gyro):
                samples = RNG.integers(-32768, 32768, size=(rows, 3), dtype=np.int16)
                out.append((imu, encode(imu, samples, packed)))
                extremes = np.array([[-32768, 32767, 0]] * rows, dtype=np.int16)
                out.append((imu, encode(imu, extremes, packed)))
    return out


DATA = _data_notifications()


@pytest.mark.parametrize(("imu", "wire"), DATA)
def test_data_round_trip(imu, wire):
    msg, n = mw.decode(wire, imu)
    assert isinstance(msg, mw.SensorData) and n == len(wire) in (8, 20)
    assert mw.encode(msg) == wire
    regs = mw.GYRO_REGISTERS[imu] if msg.is_gyro else mw.ACC_REGISTERS[imu]
    assert msg.register == (regs.packed if msg.packed else regs.data)
    encode = mw.encode_gyro if msg.is_gyro else mw.encode_acc
    assert encode(imu, msg.samples, msg.packed) == wire
    # zero-copy view of a bytearray, decodable from a memoryview too
    buf = bytearray(wire)
    again, _ = mw.decode(memoryview(buf), imu)
    assert np.array_equal(again.samples, msg.samples)


@pytest.mark.parametrize(("imu", "wire"), DATA + [(v[1], v[0]) for v in VECTORS])
def test_every_prefix_of_a_data_notification_is_incomplete(imu, wire):
    for cut in range(len(wire)):
        with pytest.raises(IncompletePacket) as e:
            mw.decode(wire[:cut], imu)
        assert (e.value.needed, e.value.have) == (2 if cut < 2 else len(wire), cut)
    unambiguous = wire[:2] != b"\x13\x05"
    if unambiguous:
        for cut in range(len(wire)):
            with pytest.raises(IncompletePacket):
                mw.decode(wire[:cut])


def test_other_messages_round_trip():
    msgs = [
        mw.Notification(0x11, 0x8C, b"\x64\x10\x0e"),
        mw.Notification(0x03, 0x0B, b"\x01"),
        mw.Notification(0x02, 0x01, b""),
        mw.ModuleInfo(0x03, 4, 0),
        mw.ModuleInfo(0xFE),
    ]
    for m in msgs:
        for imu in (None, *Imu):
            assert mw.decode(mw.encode(m), imu) == (m, len(mw.encode(m)))
    cmds = [
        mw.CommandMsg(0x03, 0x03, True),
        mw.CommandMsg(0x11, 0x0C, True),
        mw.CommandMsg(0x02, 0x03, False, bytes(15)),
        mw.CommandMsg(0x13, 0x00, True),
    ]
    for c in cmds:
        assert mw.decode_command(mw.encode(c)) == (c, len(mw.encode(c)))
    assert mw.encode(mw.CommandMsg(0x13, 0x00, True)) == mw.module_info_probe(0x13)
    with pytest.raises(TypeError):
        mw.encode(object())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("samples", "packed"),
    [
        (np.zeros((3, 3), np.int16), False),
        (np.zeros((1, 3), np.int16), True),
        (np.zeros((1, 3)), False),
        (np.array([[0, 0, 40000]]), False),
    ],
)
def test_encode_rejects_bad_samples(samples, packed):
    with pytest.raises(ValueError):
        mw.encode_acc(BMI160, samples, packed)


# ----------------------------------------------------------------- malformed table

_ACC = ACC_SINGLE
_PACK = ACC_PACKED_160

MALFORMED = [
    # (function, bytes, imu, exception, needed-or-offset)
    (mw.decode, b"", BMI160, IncompletePacket, 2),
    (mw.decode, b"\x03", None, IncompletePacket, 2),
    (mw.decode, _ACC[:5], BMI160, IncompletePacket, 8),
    (mw.decode, _PACK[:19], BMI160, IncompletePacket, 20),
    (mw.decode, _ACC + b"\x00", BMI160, ProtocolError, 8),
    (mw.decode, _ACC + b"\x00", None, ProtocolError, 8),
    (mw.decode, _PACK + b"\x00\x00", BMI160, ProtocolError, 20),
    (mw.decode, GYRO_PACKED_160[:2] + bytes(19), BMI160, ProtocolError, 20),
    (mw.decode, b"\x13\x05" + bytes(18), BMI160, ProtocolError, 8),  # BMI160: single
    (mw.decode, b"\x13\x05" + bytes(6), BMI270, IncompletePacket, 20),  # BMI270: packed
    (mw.decode, b"\x13\x04" + bytes(7), BMI270, ProtocolError, 8),
    (mw.decode, b"\x03\x05" + bytes(6), BMI270, IncompletePacket, 20),
    (mw.decode, b"\x03\x80\x01", None, ProtocolError, 2),
    (mw.decode_command, b"", None, IncompletePacket, 2),
    (mw.decode_command, b"\x03", BMI160, IncompletePacket, 2),
    (mw.decode_command, b"\x03\x03\x28", BMI160, ProtocolError, 3),
    (mw.decode_command, b"\x03\x03\x28\x0c\x00", BMI160, ProtocolError, 4),
    (mw.decode_command, b"\x03\x01", BMI160, ProtocolError, 2),
    (mw.decode_command, b"\x03\x02\x01", BMI270, ProtocolError, 3),
    (mw.decode_command, b"\x03\x04\x01\x00", None, ProtocolError, 3),
    (mw.decode_command, b"\x03\x80\x00", None, ProtocolError, 2),
    (mw.decode_command, b"\x03\x83\x00", None, ProtocolError, 2),
    (mw.decode_command, b"\x13\x07", BMI160, ProtocolError, 2),
    (mw.decode_command, b"\x13\x05\x01\x01", BMI270, ProtocolError, 3),
    (mw.decode_command, b"\x03\x05\x01\x00", BMI270, ProtocolError, 3),
    (mw.decode_command, b"\x11\x09" + bytes(7), None, ProtocolError, 9),
    (mw.decode_command, b"\x11\x09" + bytes(9), None, ProtocolError, 10),
]


@pytest.mark.parametrize(("fn", "wire", "imu", "exc", "where"), MALFORMED)
def test_malformed_table(fn, wire, imu, exc, where):
    with pytest.raises(exc) as e:
        fn(wire, imu)
    assert type(e.value) is exc
    if exc is IncompletePacket:
        assert (e.value.needed, e.value.have) == (where, len(wire))
    else:
        assert e.value.offset == where


def test_commands_of_other_lengths_pass_where_the_chip_is_unknown():
    # 03 05 is the BMI270's packed subscription but another BMI160 register
    assert mw.decode_command(b"\x03\x05\x01\x00")[0].params == b"\x01\x00"
    assert mw.decode_command(b"\x03\x05\x01\x00", BMI160)[1] == 4
    assert mw.decode_command(b"\x02\x03" + bytes(15))[1] == 17  # LED pattern: not checked


@pytest.mark.parametrize(
    ("fn", "imu", "params", "offset"),
    [
        (mw.parse_acc_config, BMI160, b"\x30\x0c", 2),
        (mw.parse_acc_config, BMI160, b"\x28\x02", 3),
        (mw.parse_acc_config, BMI270, b"\x28\x02", 2),  # a BMI160 ODR byte
        (mw.parse_acc_config, BMI270, b"\xa8", 3),
        (mw.parse_gyro_config, BMI160, b"\x25\x00", 2),
        (mw.parse_gyro_config, BMI160, b"\x28\x05", 3),
        (mw.parse_gyro_config, BMI270, b"\x28\x00\x00", 4),
    ],
)
def test_malformed_config_params(fn, imu, params, offset):
    with pytest.raises(ProtocolError) as e:
        fn(imu, params)
    assert e.value.offset == offset
    with pytest.raises(ProtocolError) as e:
        mw.parse_connection_parameters(b"\x06\x00")
    assert e.value.offset == 4


# ---------------------------------------------------------------------------- fuzz

VALID = (
    [w for _, w in DATA]
    + [v[0] for v in VECTORS]
    + [c for c, _ in COMMANDS]
    + [bytes.fromhex(w) for w, _, _ in INFOS]
)


def _fuzz_buffers(n: int, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    out: list[bytes] = []
    half = n // 2
    raw = rng.integers(0, 256, size=(half, 24), dtype=np.uint8)
    lengths = rng.integers(0, 25, size=half)
    heads = rng.random(half) < 0.7  # most start like a real header
    modules = rng.choice(np.array([0x03, 0x13, 0x11, 0x02, 0x19], np.uint8), size=half)
    regs = rng.choice(np.array([1, 2, 3, 4, 5, 7, 9, 0x1C, 0x80, 0x83, 0x8C], np.uint8), size=half)
    raw[heads, 0] = modules[heads]
    raw[heads, 1] = regs[heads]
    out.extend(bytes(row[:length]) for row, length in zip(raw, lengths, strict=True))
    picks = rng.integers(0, len(VALID), size=n - half)
    for i in picks:
        buf = bytearray(VALID[i])
        op = rng.integers(0, 4)
        if op == 0 and buf:  # flip bytes
            for _ in range(int(rng.integers(1, 4))):
                buf[int(rng.integers(0, len(buf)))] = int(rng.integers(0, 256))
        elif op == 1:  # truncate
            del buf[int(rng.integers(0, len(buf) + 1)) :]
        elif op == 2:  # extend
            buf += bytes(rng.integers(0, 256, size=int(rng.integers(1, 6)), dtype=np.uint8))
        else:  # swap the header to another known one
            buf[:2] = bytes((int(rng.choice([0x03, 0x13])), int(rng.choice([4, 5, 7, 0x1C]))))
        out.append(bytes(buf))
    return out


def test_fuzz_only_codec_errors_escape():
    buffers = _fuzz_buffers(120_000, seed=99)
    assert len(buffers) >= 100_000
    started = time.perf_counter()
    decoded = refused = 0
    chips: tuple[Imu | None, ...] = (None, BMI160, BMI270)
    for buf in buffers:
        for imu in chips:
            for fn in (mw.decode, mw.decode_command):
                try:
                    _, n = fn(buf, imu)
                except (IncompletePacket, ProtocolError):
                    refused += 1
                else:
                    assert n == len(buf)
                    decoded += 1
    elapsed = time.perf_counter() - started
    assert decoded and refused
    assert elapsed < 20, f"fuzzing took {elapsed:.1f} s"


# -------------------------------------------------------------------------- stream


@dataclass
class Sim:
    """A synthetic sensor: true samples and the (t, bytes) the host sees, with restarts."""

    acc: np.ndarray
    gyro: np.ndarray
    events: list[tuple[float, bytes | None]] = field(default_factory=list)  # None: restart
    first_after: int = -1  # true sample number of the first sample after the outage
    end_before: int = -1  # true sample number after the last sample before it


def simulate(
    seed: int,
    *,
    imu: Imu = BMI270,
    odr: float = 200.0,
    interval: float = 0.015,
    jitter: float = 0.002,
    outage: tuple[float, float] = (10.0, 13.0),
    total: float = 20.0,
    gyro: bool = True,
    new_phase: bool = False,
    reframe: bool = False,
    rate_error: float = 0.0,
    late_gyro: float = 0.2,
) -> Sim:
    """A packed stream: packet k holds samples 3k..3k+2 and arrives at the first
    connection event after its third sample is ready, plus U(0, jitter).  Packets that
    would arrive during ``outage`` never do; the host calls restart 0.1 s into it.  With
    ``new_phase`` the connection after the outage has a new event phase, with ``reframe``
    the packets after it start at a random sample (as a restarted sensor would), and a
    device ``rate_error`` fast runs its sample clock that much faster than nominal.  A
    gyro packet sometimes goes in the next event (``late_gyro``)."""
    rng = np.random.default_rng(seed)
    period = 1.0 / odr / (1.0 + rate_error)
    n = int(total * odr * (1 + abs(rate_error))) + 12
    sim = Sim(
        rng.integers(-32768, 32768, size=(n, 3), dtype=np.int16),
        rng.integers(-32768, 32768, size=(n, 3), dtype=np.int16),
    )
    t0 = 0.5 + rng.uniform(0.0, 1.0)
    phase = rng.uniform(0.0, interval)
    timed: list[tuple[float, int, bytes | None]] = []
    k, seq, restarted, last_acc, last_gyro = 0, 0, False, 0.0, 0.0
    while k + 3 <= n:
        ready = t0 + (k + 2) * period
        if ready > total:
            break
        arrival = phase + np.ceil((ready - phase) / interval) * interval
        if outage[0] <= arrival < outage[1]:
            if not restarted:
                restarted = True
                sim.end_before = k
                timed.append((outage[0] + 0.1, -1, None))  # the host sees the link drop
                if new_phase:
                    phase = rng.uniform(0.0, interval)
                if reframe:
                    k += int(rng.integers(0, 3))
            k += 3
            continue
        if restarted and sim.first_after < 0:
            sim.first_after = k
            ready = t0 + (k + 2) * period
            arrival = phase + np.ceil((ready - phase) / interval) * interval
        # packets sharing a connection event go out in order
        last_acc = t = max(float(arrival + rng.uniform(0.0, jitter)), last_acc + 1e-6)
        timed.append((t, seq, mw.encode_acc(imu, sim.acc[k : k + 3], True)))
        if gyro:
            tg = t + (interval if rng.random() < late_gyro else rng.uniform(-1e-4, 1e-4))
            last_gyro = tg = max(tg, last_gyro + 1e-6)  # one characteristic keeps its order
            timed.append((tg, seq + 1, mw.encode_gyro(imu, sim.gyro[k : k + 3], True)))
        seq += 2
        k += 3
    timed.sort(key=lambda e: (e[0], e[1]))
    sim.events = [(t, b) for t, _, b in timed]
    return sim


def run(
    sim: Sim, imu: Imu = BMI270, gyro: bool = True, **kw: float
) -> tuple[mw.MetaWearStream, list[SampleBlock]]:
    stream = mw.MetaWearStream(imu, 200.0, 16, 2000 if gyro else None, **kw)
    blocks: list[SampleBlock] = []
    for t, data in sim.events:
        if data is None:
            stream.restart(t)
        else:
            blocks.extend(stream.feed(t, data))
    return stream, blocks


def _truth(sim: Sim, first: int, count: int, gyro: bool = True) -> np.ndarray:
    acc = sim.acc[first : first + count]
    return np.hstack((acc, sim.gyro[first : first + count])) if gyro else acc


def _check_blocks(sim: Sim, blocks: list[SampleBlock], gyro: bool = True) -> None:
    end = 0
    for b in blocks:
        assert b.first_index >= end
        assert b.device_t_us == round(b.first_index * 1e6 / 200.0)
        assert b.samples.dtype == np.int16 and b.samples.shape[1] == (6 if gyro else 3)
        assert np.array_equal(b.samples, _truth(sim, b.first_index, b.count, gyro))
        end = b.end_index


def _same_blocks(a: list[SampleBlock], b: list[SampleBlock]) -> bool:
    return len(a) == len(b) and all(
        (x.first_index, x.device_t_us, x.clipped) == (y.first_index, y.device_t_us, y.clipped)
        and np.array_equal(x.samples, y.samples)
        for x, y in zip(a, b, strict=True)
    )


# Restart placement on the model of the brief (200 Hz acc+gyro packed, 15 ms connection
# events, arrival = next event after the third sample + U(0, 2 ms), a 3 s outage, same
# event phase and packet framing after it): exact in every one of 30 seeds tried while
# writing this (seeds 0-29), worst unrounded estimate 0.019 samples off the truth; with a
# 30 s outage, 0.026.  The test runs 6 of them.
@pytest.mark.parametrize("seed", range(6))
def test_restart_after_outage_is_placed_exactly(seed):
    sim = simulate(seed)
    stream, blocks = run(sim)
    _check_blocks(sim, blocks)  # every block's values are its true samples: index and pairing
    after = [b for b in blocks if b.first_index >= sim.end_before]
    before = [b for b in blocks if b.first_index < sim.end_before]
    assert before[0].first_index == 0
    assert before[-1].end_index == sim.end_before  # nothing unpaired left at the outage
    assert after[0].first_index == sim.first_after
    assert stream.samples_lost == sim.first_after - sim.end_before
    assert sum(b.count for b in blocks) + stream.samples_lost == after[-1].end_index
    (placement,) = stream.placements
    assert placement.index == sim.first_after
    assert abs(placement.estimate - sim.first_after) < 0.1
    assert abs(placement.rate_ppm) < 100
    assert placement.anchor_packets >= 60  # ~1 s of packets at 66.7 /s
    # a fresh stream fed the same bytes gives the same blocks
    _, again = run(sim)
    assert _same_blocks(blocks, again)


def test_restart_after_long_outage_and_acc_only():
    sim = simulate(3, outage=(20.0, 50.0), total=60.0, gyro=False)
    stream, blocks = run(sim, gyro=False)
    _check_blocks(sim, blocks, gyro=False)
    assert stream.placements[0].index == sim.first_after
    assert stream.samples_lost == sim.first_after - sim.end_before


# A real reconnect brings a new connection-event phase (and the sensor may restart its
# packet framing).  At 200 Hz the packet rate locks to the 15 ms event grid, so the
# latency floor depends on that phase and the index can be off by up to interval / period
# = 3 samples.  Seeds 0-29: exact in 20 % (new phase) and 23 % (new phase and framing),
# worst 3 samples either way.
@pytest.mark.parametrize("reframe", [False, True])
def test_restart_on_a_new_connection_phase_is_within_one_interval(reframe):
    errors = []
    for seed in range(8):
        sim = simulate(seed, new_phase=True, reframe=reframe)
        stream, blocks = run(sim)
        errors.append(stream.placements[0].index - sim.first_after)
        # before the outage every block is exact; after it, pairing still holds
        before = [b for b in blocks if b.first_index < sim.end_before]
        _check_blocks(sim, before)
        for b in blocks[len(before) :]:
            local = b.first_index - stream.placements[0].index + sim.first_after
            assert np.array_equal(b.samples, _truth(sim, local, b.count))
    assert max(abs(e) for e in errors) <= 3, errors


# A board whose clock runs 0.5 % fast (about what two boards have been seen to differ):
# the envelope fit finds the rate, and an anchor longer than one phase sweep (15 ms /
# 0.5 % of 15 ms per packet = 3 s) finds the floor again.  Seeds 0-29: exact in all,
# worst estimate 0.22 samples off (with the nominal period instead of the fit, 6-9 off;
# with the 1 s anchor, exact in 60 %, up to 2 off).
@pytest.mark.parametrize("seed", range(3))
def test_restart_of_a_drifting_board(seed):
    sim = simulate(seed, rate_error=0.005, outage=(40.0, 43.0), total=50.0)
    stream, blocks = run(sim, anchor_s=4.0)
    _check_blocks(sim, blocks)
    (placement,) = stream.placements
    assert placement.index == sim.first_after
    assert placement.rate_ppm == pytest.approx(-4975, abs=150)


def test_a_single_riser_is_not_taken_for_a_rate():
    # 0.02 % fast: one phase sweep takes 75 s, so the 30 s window shows one 15 ms step of
    # the arrival staircase; a line across it is no rate (it was 755 ppm and 6 samples
    # off in this seed before the fit required support across the window)
    sim = simulate(1, rate_error=0.0002, outage=(40.0, 70.0), total=80.0)
    stream, _ = run(sim)
    (placement,) = stream.placements
    assert abs(placement.rate_ppm) < 10
    assert abs(placement.index - sim.first_after) <= 3


def test_pairing_waits_for_the_partner_and_counts_from_zero():
    acc = RNG.integers(-2000, 2000, size=(12, 3), dtype=np.int16)
    gyro = RNG.integers(-2000, 2000, size=(12, 3), dtype=np.int16)
    stream = mw.MetaWearStream(BMI160, 100, 8, 500)
    assert stream.acc_scale_g == 8 / 32768 and stream.gyro_scale_dps == 1 / 65.6
    assert stream.feed(0.00, mw.encode_acc(BMI160, acc[0:3], True)) == []
    assert stream.feed(0.01, mw.encode_acc(BMI160, acc[3:6], True)) == []
    (b1,) = stream.feed(0.02, mw.encode_gyro(BMI160, gyro[0:1], False))  # single sample
    assert (b1.first_index, b1.device_t_us) == (0, 0)
    assert np.array_equal(b1.samples, np.hstack((acc[:1], gyro[:1])))
    (b2,) = stream.feed(0.03, mw.encode_gyro(BMI160, gyro[1:4], True))
    assert (b2.first_index, b2.count, b2.device_t_us) == (1, 3, 10_000)
    assert np.array_equal(b2.samples, np.hstack((acc[1:4], gyro[1:4])))
    (b3,) = stream.feed(0.04, mw.encode_gyro(BMI160, gyro[4:7], True))
    assert (b3.first_index, b3.count) == (4, 2)  # gyro 6 waits for acc 6
    (b4,) = stream.feed(0.05, mw.encode_acc(BMI160, acc[6:9], True))
    assert (b4.first_index, b4.count) == (6, 1)
    assert stream.samples_lost == 0 and not b4.clipped
    # other notifications and the other chip's registers are not this stream's data
    assert stream.feed(0.06, b"\x03\x80\x01\x01") == []
    assert stream.feed(0.07, b"\x11\x8c\x64\x10\x0e") == []
    assert stream.ignored == 2


def test_unpaired_halves_are_dropped_as_a_gap():
    stream = mw.MetaWearStream(BMI270, 25, 16, 2000)  # 25 samples of patience
    zeros = np.zeros((3, 3), np.int16)
    for i in range(20):  # 60 accelerometer samples, no gyro
        assert stream.feed(i * 0.12, mw.encode_acc(BMI270, zeros, True)) == []
    assert len(stream._acc) <= 25
    blocks = []
    for i in range(20):
        blocks += stream.feed(3 + i * 0.01, mw.encode_gyro(BMI270, zeros, True))
    assert blocks[0].first_index == 60 - 25
    assert stream.samples_lost == 35
    assert sum(b.count for b in blocks) == 25


def test_restart_edge_cases():
    z = np.zeros((3, 3), np.int16)
    acc = mw.encode_acc(BMI160, z, True)
    gyro = mw.encode_gyro(BMI160, z, True)
    # a restart before any data: nothing to place against, counts start at 0
    s = mw.MetaWearStream(BMI160, 200, 16, 2000)
    s.restart(0.0)
    assert s.feed(0.1, acc) == [] and s.feed(0.1, gyro)[0].first_index == 0
    # a restart without an outage: the next index is never below the first unused one
    s = mw.MetaWearStream(BMI160, 200, 16, 2000, anchor_s=0.0)
    t = 0.0
    for _ in range(10):
        s.feed(t, acc)
        s.feed(t, gyro)
        t += 0.015
    s.restart(t)
    s.feed(t - 1.0, acc)  # arrives "early": the estimate would go backwards
    (b,) = s.feed(t - 1.0, gyro)
    assert b.first_index == 30 and s.samples_lost == 0
    # a restart while anchoring drops the held samples (they become part of the gap)
    s = mw.MetaWearStream(BMI160, 200, 16, 2000)
    for i in range(400):
        s.feed(i * 0.015, acc)
        s.feed(i * 0.015, gyro)
    s.restart(6.0)
    assert s.feed(9.0, acc) == [] and s.feed(9.0, gyro) == []
    s.restart(9.5)
    out = []
    for i in range(80):
        out += s.feed(12.0 + i * 0.015, acc) + s.feed(12.0 + i * 0.015, gyro)
    assert out and out[0].first_index == 1200 + round(6.0 / 0.005)
    assert s.samples_lost == out[0].first_index - 1200
    assert len(s.placements) == 1


def test_clipped_blocks_and_bad_bytes():
    s = mw.MetaWearStream(BMI270, 100, 2, None)
    (b,) = s.feed(0.0, mw.encode_acc(BMI270, [[0, 32767, 0]] * 3, True))
    assert b.clipped and b.samples.shape == (3, 3)
    (b,) = s.feed(0.03, mw.encode_acc(BMI270, [[0, -32767, 5]], False))
    assert b.clipped and b.first_index == 3
    assert s.gyro_scale_dps is None
    assert s.feed(0.04, mw.encode_gyro(BMI270, [[1, 2, 3]] * 3, True)) == []  # no gyro here
    with pytest.raises(IncompletePacket):
        s.feed(0.05, ACC_PACKED_270[:7])
    with pytest.raises(ProtocolError):
        s.feed(0.05, ACC_PACKED_270 + b"\x00")


@pytest.mark.parametrize(
    ("args", "kw", "match"),
    [
        ((BMI160, 300, 16, 2000), {}, "ODR 300 Hz"),
        ((BMI160, 12.5, 16, 2000), {}, "gyro ODR 12.5 Hz"),
        ((BMI270, 100, 3, None), {}, "range 3 g"),
        ((BMI270, 100, 16, 300), {}, "gyro range 300 dps"),
        ((BMI270, 100, 16, 2000), {"anchor_s": -1.0}, "anchor_s"),
    ],
)
def test_stream_rejects_unsupported_settings(args, kw, match):
    with pytest.raises(ValueError, match=match):
        mw.MetaWearStream(*args, **kw)
    assert mw.MetaWearStream("bmi160", 12.5, 16, None).imu is BMI160  # type: ignore[arg-type]
