"""Polar PMD codec and stream: SDK vectors, exact command bytes, round trips, prefixes,
malformed inputs, fuzzing, and PolarStream indexing/pairing."""

from __future__ import annotations

import contextlib
import itertools
import struct
import subprocess
import sys
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from sensorhub.errors import IncompletePacket, ProtocolError
from sensorhub.protocol import polar
from sensorhub.protocol.polar import (
    Command,
    ControlOp,
    ControlResponse,
    MeasurementStopped,
    MeasurementType,
    PmdStatus,
    PolarStream,
    SettingType,
)
from sensorhub.protocol.vendor import SampleBlock

ACC, GYRO, MAG = MeasurementType.ACC, MeasurementType.GYRO, MeasurementType.MAG


def hx(text: str) -> bytes:
    return bytes.fromhex(text)


# ------------------------------------------------------- verbatim vectors (notes 1.7)

V1 = hx("02 65 00 00 00 00 00 00 00 81 F1 FF 14 00 F0 03 06 01 7B 0F 08")
V2 = hx("05 FF FF FF FF FF FF FF 7F 80 EA FF 08 00 0D 00 03 01 DF 00")
V3 = hx(
    "05 00 94 35 77 00 00 00 00 81"
    "00 00 80 3F 00 00 20 41 00 00 A0 41 1C 01 00 00 A0 01 00 00 08 CD CC EC 0D"
)
V4_CONTENT = hx(
    "71 07 F0 6A 9E 8D 0A 38 BE 5C BE BA 2F 96 B3 EE 4B E5 AD FB 42 B9 EB BE "
    "4C FE BA 2F 92 BF EE 4B E4 B1 FB 12 B9 EC BD 3C 3E BB 2F 8F D3 DE 4B E3 "
    "B5 F7 D2 B8 ED BD 30 7E 7B 2F 8B E3 CE 8B E2 BA F7 A2 B8 EE BC 20 BE 7B "
    "2F 88 F3 CE CB E1 BD EF 52 F8 EF BC 18 FE 3B 2F 84 03 BF CB E0 C2 EF 32 "
    "B8 F0 BB 04 4E BC 2E 81 13 AF 0B E0 C6 EF F2 F7 F1 B9 FC 7D BC 2E 7D 27 "
    "9F 4B DF CA EB C2 F7 F2 B8 EC CD 7C 2E 7B 37 8F 4B DE CE E3 92 F7 F3 B8 "
    "E0 0D FD 2D 77 4B 7F CB DD D2 DF 62 37 F5 B7 D4 4D BD 2D 74 5B 6F CB DC "
    "D7 D7 32 37 F6 B5 C8 8D 7D 2D 71 6B 4F 4B DC DC D3 F2 36 F7 B4 BC DD FD "
    "2C 6F 7B 3F 4B DB E0 CF D2 36 F8 B2 B0 2D BE 2C 6C 8F 1F CB DA E3 C7 A2 "
    "76 F9"
)
V4 = hx("02 00 94 35 77 00 00 00 00 80") + V4_CONTENT
# V5: the notes quote the start of the content; the whole content (36 samples) is the one
# in the SDK's AccDataTest "process acc raw data frame type 1".
V5_CONTENT = hx(
    "F7 FF FF FF E7 03 F8 FF FE FF E5 03 F9 FF FF FF E5 03 FA FF FF FF E6 03 FA FF FE FF E6 03"
    "F9 FF FF FF E5 03 F8 FF FF FF E6 03 F8 FF FE FF E6 03 FA FF FF FF E5 03 FA FF FF FF E7 03"
    "FA FF FF FF E5 03 F8 FF FF FF E6 03 F7 FF FF FF E6 03 F8 FF FE FF E6 03 F9 FF FE FF E7 03"
    "F9 FF 00 00 E6 03 F9 FF FF FF E6 03 F7 FF FE FF E5 03 F9 FF FF FF E5 03 F9 FF FF FF E5 03"
    "FA FF 00 00 E6 03 F9 FF FE FF E6 03 F8 FF FF FF E6 03 F8 FF FF FF E5 03 F9 FF FF FF E6 03"
    "F9 FF FF FF E5 03 FA FF FF FF E6 03 F9 FF FF FF E5 03 F9 FF FF FF E5 03 F8 FF FE FF E6 03"
    "F9 FF FF FF E6 03 F9 FF FF FF E6 03 F9 FF 00 00 E5 03 F9 FF FE FF E6 03 F8 FF FE FF E6 03"
    "F7 FF FE FF E6 03"
)
V5 = hx("02 00 94 35 77 00 00 00 00 01") + V5_CONTENT

SETTINGS_VECTOR = hx("00 01 34 00 01 01 10 00 02 04 F5 00 F4 01 E8 03 D0 07 04 01 03")
# PmdSettingTest "with range milli unit" (SDK): u32 FFFFFFFF and 000000FF, resolution 14.
SETTINGS_MILLI = hx("03 02 FF FF FF FF FF 00 00 00 01 01 0E 00")
CP_GET_ACC_OK = hx("F0 01 02 00 00 FF FF FF")
CP_GET_MAG_BAD_RESOLUTION = hx("F0 01 06 07 00")
CP_GET_PPI_OK = hx("F0 01 03 00 00")
CP_START_PPI_OK = hx("F0 02 03 00 00")

START_COMMANDS = [
    ((ACC, 200, 16, 8, None), "02 02 00 01 C8 00 01 01 10 00 02 01 08 00"),
    ((ACC, 52, 16, 8, 3), "02 02 00 01 34 00 01 01 10 00 02 01 08 00 04 01 03"),
    ((GYRO, 208, 16, 2000, 3), "02 05 00 01 D0 00 01 01 10 00 02 01 D0 07 04 01 03"),
    ((ACC, 416, 16, 16, 3), "02 02 00 01 A0 01 01 01 10 00 02 01 10 00 04 01 03"),
]


def test_v1_acc_compressed_type1() -> None:
    frame, n = polar.decode_data(V1)
    assert n == len(V1)
    assert frame.measurement_type is ACC and frame.timestamp_ns == 101
    assert frame.frame_type == 1 and frame.compressed and frame.frame_type_byte == 0x81
    assert frame.samples.dtype == np.int32
    assert frame.samples.tolist() == [[-15, 20, 1008], [-20, 17, 1008]]
    assert polar.frame_times_ns(frame.timestamp_ns, frame.count, 100) == [100, 101]


def test_v2_gyro_compressed_type0() -> None:
    frame, _ = polar.decode_data(V2)
    assert frame.measurement_type is GYRO and frame.timestamp_ns == 0x7FFFFFFFFFFFFFFF
    assert (frame.frame_type, frame.compressed) == (0, True)
    assert frame.samples.tolist() == [[-22, 8, 13], [-23, 11, 16]]


def test_v3_gyro_compressed_float() -> None:
    frame, _ = polar.decode_data(V3)
    assert frame.timestamp_ns == 2_000_000_000 and frame.frame_type_byte == 0x81
    assert frame.samples.dtype == np.float32
    bits = frame.samples.view(np.uint32)
    assert bits.tolist() == [
        [0x3F800000, 0x41200000, 0x41A00000],
        [0x41200000, 0x41A00000, 0x3F8CCCCD],
    ]
    assert frame.samples.tolist() == [[1.0, 10.0, 20.0], [10.0, 20.0, np.float32(1.1)]]


def test_v4_acc_compressed_type0_verity() -> None:
    assert len(V4_CONTENT) == 218  # the notes say 226; 6 + 2 + ceil(10*56*3/8) = 218
    frame, _ = polar.decode_data(V4)
    s = frame.samples
    assert s.shape == (57, 3)
    assert s[0].tolist() == [1905, 27376, -29282]
    assert s[1].tolist() == [2095, 27271, -29367]
    assert s[-1].tolist() == [12274, 20173, -32449]
    # SDK: int(raw x factor x 1000) in float32 arithmetic -> mG
    milli_g = (s[:2].astype(np.float32) * np.float32(2.44e-4) * np.float32(1000)).astype(int)
    assert milli_g.tolist() == [[464, 6679, -7144], [511, 6654, -7165]]
    assert np.all(np.abs(s.astype(np.float64) * 2.44e-4) <= 8)
    times = polar.frame_times_ns(frame.timestamp_ns, 57, 100)
    assert times[-1] == 2_000_000_000
    assert times[0] == round(100 + (2_000_000_000 - 100) / 57)


def test_v5_acc_raw_type1_h10() -> None:
    frame, _ = polar.decode_data(V5)
    assert (frame.frame_type, frame.compressed, frame.timestamp_ns) == (1, False, 2_000_000_000)
    assert frame.samples.shape == (36, 3)
    assert frame.samples[:2].tolist() == [[-9, -1, 999], [-8, -2, 997]]
    assert frame.samples[-1].tolist() == [-9, -2, 998]
    times = polar.frame_times_ns(frame.timestamp_ns, frame.count, None, rate_hz=52)
    assert times[-1] == 2_000_000_000
    assert times[-2] == 2_000_000_000 - round(1e9 / 52)


def test_settings_vector() -> None:
    assert polar.decode_settings(SETTINGS_VECTOR) == {
        SettingType.SAMPLE_RATE: (52,),
        SettingType.RESOLUTION: (16,),
        SettingType.RANGE: (245, 500, 1000, 2000),
        SettingType.CHANNELS: (3,),
    }
    # the bytes after "F0 01 02 00 00" of a GET response
    resp, _ = polar.decode_control(hx("F0 01 02 00 00") + SETTINGS_VECTOR)
    assert isinstance(resp, ControlResponse)
    assert resp.settings[SettingType.RANGE] == (245, 500, 1000, 2000)
    assert resp.factor is None


def test_settings_range_milliunit_is_unsigned() -> None:
    # The SDK shows FFFFFFFF as -1 (a signed Kotlin Int); here u32 values are unsigned.
    assert polar.decode_settings(SETTINGS_MILLI) == {
        SettingType.RANGE_MILLIUNIT: (0xFFFFFFFF, 0xFF),
        SettingType.RESOLUTION: (14,),
    }


def test_control_point_vectors() -> None:
    msg, n = polar.decode_control(CP_GET_ACC_OK)
    assert n == 8
    assert msg == ControlResponse(
        ControlOp.GET_MEASUREMENT_SETTINGS, ACC, PmdStatus.SUCCESS, False, hx("FF FF FF")
    )
    msg, _ = polar.decode_control(CP_GET_MAG_BAD_RESOLUTION)
    assert isinstance(msg, ControlResponse)
    assert (msg.op, msg.measurement_type, msg.status) == (
        ControlOp.GET_MEASUREMENT_SETTINGS,
        MAG,
        PmdStatus.INVALID_RESOLUTION,
    )
    assert not msg.ok and not msg.more and msg.params == b""
    assert msg.status.phrase == "invalid resolution"
    assert PmdStatus.INVALID_SAMPLE_RATE.phrase == "invalid sample rate"
    assert polar.status_phrase(8) == "invalid sample rate"
    assert polar.status_phrase(99) == "unknown status 99"
    for vector, op in ((CP_GET_PPI_OK, 1), (CP_START_PPI_OK, 2)):
        msg, _ = polar.decode_control(vector)
        assert isinstance(msg, ControlResponse) and msg.ok
        assert (msg.op, msg.measurement_type) == (op, MeasurementType.PPI)


def test_start_response_factor() -> None:
    params = polar.encode_settings({SettingType.FACTOR: 2.44e-4})
    msg, _ = polar.decode_control(hx("F0 02 02 00 00") + params)
    assert isinstance(msg, ControlResponse)
    assert msg.factor == pytest.approx(2.44e-4, rel=1e-7)


def test_measurement_stopped() -> None:
    msg, n = polar.decode_control(hx("01 02 05"))
    assert n == 3 and msg == MeasurementStopped((ACC, GYRO))
    assert polar.encode_control(msg) == hx("01 02 05")


def test_features() -> None:
    # ECG, ACC, GYRO, MAG and SDK mode
    features = polar.decode_features(hx("0F 65 02"))
    assert features.measurements == {MeasurementType.ECG, ACC, GYRO, MAG, MeasurementType.SDK_MODE}
    assert (
        features.sdk_mode and features.supports(GYRO) and not features.supports(MeasurementType.PPG)
    )
    assert polar.encode_features(features) == hx("0F 65 02")
    everything = polar.decode_features(hx("0F FF 7E"))
    assert everything.measurements == set(MeasurementType)


def test_uuids() -> None:
    assert polar.PMD_SERVICE_UUID == "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
    assert polar.PMD_CONTROL_UUID == "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
    assert polar.PMD_DATA_UUID == "fb005c82-02e7-f387-1cad-8acd2d8df0c8"
    assert polar.BATTERY_LEVEL_UUID.startswith("00002a19")


# --------------------------------------------------------------------- commands


@pytest.mark.parametrize(("args", "expected"), START_COMMANDS)
def test_start_commands_are_exact(
    args: tuple[MeasurementType, int, int, int, int | None], expected: str
) -> None:
    data = polar.start(*args)
    assert data == hx(expected)
    cmd, n = polar.decode_command(data)
    assert n == len(data)
    assert cmd.op is ControlOp.REQUEST_MEASUREMENT_START and cmd.measurement_type is args[0]
    assert cmd.settings[SettingType.SAMPLE_RATE] == (args[1],)
    assert cmd.settings[SettingType.RANGE] == (args[3],)
    assert (SettingType.CHANNELS in cmd.settings) == (args[4] is not None)
    assert polar.encode_command(cmd) == data


def test_other_commands_are_exact() -> None:
    assert polar.enter_sdk_mode() == hx("02 09")
    assert polar.leave_sdk_mode() == hx("03 09")
    assert polar.stop(ACC) == hx("03 02")
    assert polar.stop(GYRO) == hx("03 05")
    assert polar.get_settings(MeasurementType.PPI) == hx("01 03")
    assert polar.get_sdk_settings(ACC) == hx("04 02")
    assert polar.get_measurement_status() == hx("05")
    assert polar.get_sdk_mode_status() == hx("06")
    enter, _ = polar.decode_command(hx("02 09"))
    leave, _ = polar.decode_command(hx("03 09"))
    assert enter.enters_sdk_mode and not enter.leaves_sdk_mode and enter.settings == {}
    assert leave.leaves_sdk_mode
    start_ppi, _ = polar.decode_command(hx("02 03"))  # community vector: START PPI, no TLVs
    assert start_ppi == Command(ControlOp.REQUEST_MEASUREMENT_START, MeasurementType.PPI)


COMMANDS = [
    Command(ControlOp.GET_MEASUREMENT_SETTINGS, ACC),
    Command(ControlOp.GET_SDK_MODE_MEASUREMENT_SETTINGS, GYRO, offline=True),
    Command(ControlOp.STOP_MEASUREMENT, MeasurementType.SDK_MODE),
    Command(ControlOp.GET_MEASUREMENT_STATUS),
    Command(ControlOp.GET_SDK_MODE_STATUS),
    Command(ControlOp.SET_OFFLINE_RECORDING_TRIGGER_MODE, payload=hx("01 02 03")),
    Command(ControlOp.GET_OFFLINE_RECORDING_TRIGGER_STATUS),
    Command(
        ControlOp.REQUEST_MEASUREMENT_START,
        MAG,
        {
            SettingType.SAMPLE_RATE: (50,),
            SettingType.RANGE_MILLIUNIT: (50_000,),
            SettingType.SECURITY: (bytes(range(16)),),
        },
    ),
]


@pytest.mark.parametrize("cmd", COMMANDS)
def test_command_round_trip(cmd: Command) -> None:
    data = polar.encode_command(cmd)
    assert polar.decode_command(data) == (cmd, len(data))


def test_settings_round_trip_random() -> None:
    rng = np.random.default_rng(11)
    for _ in range(200):
        settings: dict[SettingType, tuple[int | float | bytes, ...]] = {}
        for st in SettingType:
            if rng.random() < 0.5:
                continue
            count = int(rng.integers(0, 6))
            size = polar.setting_size(st)
            values: tuple[int | float | bytes, ...]
            if st is SettingType.FACTOR:
                values = tuple(float(np.float32(v)) for v in rng.normal(0, 1e-3, count))
            elif st is SettingType.SECURITY:
                values = tuple(rng.bytes(16) for _ in range(count))
            else:
                values = tuple(int(v) for v in rng.integers(0, 1 << (8 * size), count))
            settings[st] = values
        data = polar.encode_settings(settings)
        assert polar.decode_settings(data) == settings


def test_encode_settings_single_values_and_rejections() -> None:
    assert polar.encode_settings({SettingType.CHANNELS: 3, SettingType.SAMPLE_RATE: 52}) == hx(
        "00 01 34 00 04 01 03"
    )
    for bad in (
        {SettingType.CHANNELS: 256},
        {SettingType.SAMPLE_RATE: -1},
        {SettingType.RANGE: 1.5},
        {SettingType.SECURITY: b"short"},
        {SettingType.FACTOR: "x"},
        {SettingType.SAMPLE_RATE: tuple(range(256))},
    ):
        with pytest.raises(ValueError):
            polar.encode_settings(bad)


RESPONSES: list[polar.ControlMessage] = [
    ControlResponse(
        ControlOp.GET_MEASUREMENT_SETTINGS, ACC, PmdStatus.SUCCESS, False, SETTINGS_VECTOR
    ),
    ControlResponse(ControlOp.REQUEST_MEASUREMENT_START, GYRO, PmdStatus.INVALID_MTU),
    ControlResponse(
        ControlOp.STOP_MEASUREMENT, MeasurementType.SDK_MODE, PmdStatus.ALREADY_IN_STATE
    ),
    ControlResponse(ControlOp.GET_MEASUREMENT_STATUS, 0, PmdStatus.SUCCESS, True, hx("01 02")),
    ControlResponse(ControlOp.GET_MEASUREMENT_SETTINGS, ACC, PmdStatus.DISK_FULL, offline=True),
    MeasurementStopped((ACC,)),
    MeasurementStopped((ACC, GYRO, MAG)),
]


@pytest.mark.parametrize("msg", RESPONSES)
def test_control_round_trip(msg: polar.ControlMessage) -> None:
    data = polar.encode_control(msg)
    assert polar.decode_control(data) == (msg, len(data))


def test_response_assembler_joins_more_parts() -> None:
    full = ControlResponse(
        ControlOp.GET_SDK_MODE_MEASUREMENT_SETTINGS, ACC, PmdStatus.SUCCESS, False, SETTINGS_VECTOR
    )
    parts = polar.split_response(full, 4)
    assert len(parts) == 6 and all(p[4] == 1 for p in parts[:-1]) and parts[-1][4] == 0
    asm = polar.ResponseAssembler()
    out: list[polar.ControlMessage] = []
    for i, part in enumerate(parts):
        out += asm.feed(part)
        if i == 2:  # an unsolicited stop passes straight through
            assert asm.feed(hx("01 05")) == [MeasurementStopped((GYRO,))]
        assert asm.pending == (i < len(parts) - 1)
    assert out == [full]
    assert polar.split_response(CP_GET_MAG_BAD_RESPONSE, 20) == [CP_GET_MAG_BAD_RESOLUTION]
    # a response of another op in the middle is an error, and both are dropped
    asm.feed(parts[0])
    with pytest.raises(ProtocolError) as err:
        asm.feed(CP_GET_MAG_BAD_RESOLUTION)
    assert err.value.offset == 1 and not asm.pending
    assert asm.feed(CP_GET_ACC_OK) == [polar.decode_control(CP_GET_ACC_OK)[0]]


CP_GET_MAG_BAD_RESPONSE = ControlResponse(
    ControlOp.GET_MEASUREMENT_SETTINGS, MAG, PmdStatus.INVALID_RESOLUTION
)


# ------------------------------------------------------------- data round trips

RNG = np.random.default_rng(2024)


def _walk(rng: np.random.Generator, n: int, step: int, lo: int, hi: int) -> npt.NDArray[np.int64]:
    """Random walk of n x 3 values, steps up to +-step, kept within lo..hi."""
    start = rng.integers(lo // 2, hi // 2, 3)
    path = start + np.cumsum(rng.integers(-step, step + 1, (n, 3)), axis=0)
    return np.clip(path, lo, hi)


RAW_CASES = [  # (type, frame type, lo, hi, bytes per value)
    (ACC, 0x00, -128, 127, 1),
    (ACC, 0x01, -32768, 32767, 2),
    (ACC, 0x02, -(1 << 23), (1 << 23) - 1, 3),
    (GYRO, 0x00, -32768, 32767, 2),
    (MAG, 0x00, -32768, 32767, 2),
]


@pytest.mark.parametrize(("mtype", "ftype", "lo", "hi", "size"), RAW_CASES)
def test_raw_frame_round_trip(
    mtype: MeasurementType, ftype: int, lo: int, hi: int, size: int
) -> None:
    for n in (1, 2, 17, 80):
        samples = RNG.integers(lo, hi + 1, (n, 3))
        samples[0] = [lo, hi, 0]
        data = polar.encode_data(mtype, 123_456_789_012, ftype, samples)
        assert len(data) == 10 + n * 3 * size
        frame, used = polar.decode_data(data)
        assert used == len(data) and frame.samples.dtype == np.int32
        assert (frame.measurement_type, frame.timestamp_ns, frame.frame_type_byte) == (
            mtype,
            123_456_789_012,
            ftype,
        )
        np.testing.assert_array_equal(frame.samples, samples)


def test_raw_float_gyro_round_trip() -> None:
    samples = RNG.normal(0, 300, (40, 3)).astype(np.float32)
    samples[0] = np.array([np.inf, -0.0, 1e-42], np.float32)  # 1e-42: a subnormal
    frame, _ = polar.decode_data(polar.encode_data(GYRO, 5, 0x01, samples))
    assert frame.samples.dtype == np.float32 and not frame.compressed
    np.testing.assert_array_equal(frame.samples.view(np.uint32), samples.view(np.uint32))


@pytest.mark.parametrize("step", [0, 1, 3, 60, 2000, 32767, 65535])
@pytest.mark.parametrize(("mtype", "ftype"), [(ACC, 0x80), (ACC, 0x81), (GYRO, 0x80), (MAG, 0x80)])
def test_compressed_frame_round_trip(mtype: MeasurementType, ftype: int, step: int) -> None:
    for n, block in ((1, 255), (2, 255), (57, 255), (300, 255), (300, 7), (100, 1)):
        samples = _walk(RNG, n, step, -32768, 32767)
        data = polar.encode_data(mtype, 2**64 - 1, ftype, samples, block_samples=block)
        frame, _ = polar.decode_data(data)
        assert frame.compressed and frame.timestamp_ns == 2**64 - 1
        np.testing.assert_array_equal(frame.samples, samples)


def test_compressed_widths_are_minimal() -> None:
    samples = np.zeros((4, 3), np.int64)
    samples[1] = [1, -1, 0]  # deltas +-1 -> 2 bits
    samples[2] = samples[1] + [-2, 1, 1]  # -2 fits 2 bits
    samples[3] = [32767, -32768, 1]  # +32768 needs 17 bits
    data = polar.encode_data(ACC, 0, 0x80, samples, block_samples=2)
    assert data[16] == 2 and data[17] == 2  # first block: width 2, 2 samples
    assert data[16 + 2 + 2] == 17 and data[16 + 2 + 2 + 1] == 1
    np.testing.assert_array_equal(polar.decode_data(data)[0].samples, samples)


@pytest.mark.parametrize("scale", [1e-30, 1e-3, 1.0, 1e3, 1e30])
def test_compressed_float_gyro_round_trip(scale: float) -> None:
    for n, block in ((1, 255), (2, 255), (120, 255), (600, 50)):
        samples = (RNG.normal(0, 1, (n, 3)) * scale).astype(np.float32)
        if n > 3:
            samples[1] = [np.nan, -np.inf, -0.0]
            samples[2] = [3.4e38, -3.4e38, 1e-45]
        frame, _ = polar.decode_data(polar.encode_data(GYRO, 9, 0x81, samples, block_samples=block))
        assert frame.samples.dtype == np.float32
        np.testing.assert_array_equal(frame.samples.view(np.uint32), samples.view(np.uint32))


def test_float_deltas_use_32_bit_wrap_around() -> None:
    samples = np.array([[-3.4e38, 3.4e38, 0.0], [3.4e38, -3.4e38, -0.0]], np.float32)
    data = polar.encode_data(GYRO, 0, 0x81, samples)
    assert data[22] == 32  # the deltas need every bit
    frame, _ = polar.decode_data(data)
    np.testing.assert_array_equal(frame.samples.view(np.uint32), samples.view(np.uint32))


def test_encode_data_rejections() -> None:
    ok = np.zeros((2, 3), np.int64)
    with pytest.raises(ValueError):
        polar.encode_data(ACC, 0, 0x03, ok)
    with pytest.raises(ValueError):
        polar.encode_data(ACC, -1, 0x80, ok)
    with pytest.raises(ValueError):
        polar.encode_data(ACC, 0, 0x80, np.zeros((0, 3), np.int64))
    with pytest.raises(ValueError):
        polar.encode_data(ACC, 0, 0x80, np.zeros((2, 2), np.int64))
    with pytest.raises(ValueError):
        polar.encode_data(ACC, 0, 0x80, ok + 40000)
    with pytest.raises(ValueError):
        polar.encode_data(ACC, 0, 0x00, ok + 128)
    with pytest.raises(ValueError):
        polar.encode_data(ACC, 0, 0x80, ok, block_samples=256)
    with pytest.raises(ValueError):
        polar.encode_data(ACC, 0, 0x80, ok + 0.5)


# ----------------------------------------------------------------------- prefixes
#
# Data frames, control-point values and settings blocks carry no length: a GATT value
# arrives whole, so the message ends with the buffer.  A prefix of a valid message is
# therefore either an IncompletePacket (whose `needed` is what the bytes seen so far call
# for) or, only when the cut falls exactly on a whole-sample (raw frame), whole-block
# (compressed frame) or whole-TLV boundary, a decode whose samples/settings are exactly
# the leading ones of the full decode.  Never a wrong value.

DATA_VECTORS = [
    V1,
    V2,
    V3,
    V4,
    V5,
    polar.encode_data(ACC, 77, 0x80, _walk(RNG, 300, 900, -32768, 32767), block_samples=40),
    polar.encode_data(
        GYRO, 77, 0x81, RNG.normal(0, 50, (90, 3)).astype(np.float32), block_samples=20
    ),
    polar.encode_data(ACC, 77, 0x02, RNG.integers(-(1 << 23), 1 << 23, (20, 3))),
    polar.encode_data(ACC, 77, 0x00, RNG.integers(-128, 128, (20, 3))),
    polar.encode_data(GYRO, 77, 0x01, RNG.normal(0, 50, (9, 3)).astype(np.float32)),
]


@pytest.mark.parametrize("vector", DATA_VECTORS, ids=lambda v: v[:10].hex())
def test_every_prefix_of_a_data_frame(vector: bytes) -> None:
    full, _ = polar.decode_data(vector)
    decoded_cuts = 0
    for cut in range(len(vector)):
        try:
            part, used = polar.decode_data(vector[:cut])
        except IncompletePacket as exc:
            assert cut < exc.needed <= len(vector) and exc.have == cut
            continue
        decoded_cuts += 1
        assert used == cut
        assert (part.measurement_type, part.timestamp_ns, part.frame_type_byte) == (
            full.measurement_type,
            full.timestamp_ns,
            full.frame_type_byte,
        )
        assert 1 <= part.count < full.count
        lead = full.samples[: part.count]
        np.testing.assert_array_equal(part.samples.view(np.uint32), lead.view(np.uint32))
    if not full.compressed:
        assert decoded_cuts == full.count - 1  # one per whole-sample boundary


def test_prefix_of_a_compressed_frame_decodes_only_at_block_boundaries() -> None:
    samples = _walk(RNG, 100, 50, -32768, 32767)
    data = polar.encode_data(ACC, 1, 0x80, samples, block_samples=33)
    # header 10, reference 6, then blocks of 33, 33, 33 deltas
    ok = []
    for cut in range(len(data)):
        with contextlib.suppress(IncompletePacket):
            ok.append((cut, polar.decode_data(data[:cut])[0].count))
    assert [count for _, count in ok] == [1, 34, 67]
    assert ok[0][0] == 16


CONTROL_VECTORS = [CP_GET_ACC_OK, CP_GET_MAG_BAD_RESOLUTION, hx("F0 01 02 00 00") + SETTINGS_VECTOR]


@pytest.mark.parametrize("vector", CONTROL_VECTORS, ids=lambda v: v.hex())
def test_every_prefix_of_a_control_response(vector: bytes) -> None:
    full, _ = polar.decode_control(vector)
    assert isinstance(full, ControlResponse)
    for cut in range(len(vector)):
        try:
            part, _ = polar.decode_control(vector[:cut])
        except IncompletePacket as exc:
            assert cut < 5 and exc.needed <= 5
            continue
        # params have no length: a cut shortens them, the header is whole and right
        assert isinstance(part, ControlResponse) and cut >= 5
        assert (part.op, part.measurement_type, part.status) == (
            full.op,
            full.measurement_type,
            full.status,
        )
        assert full.params.startswith(part.params)


@pytest.mark.parametrize("vector", [SETTINGS_VECTOR, SETTINGS_MILLI], ids=lambda v: v.hex())
def test_every_prefix_of_a_settings_block(vector: bytes) -> None:
    full = polar.decode_settings(vector)
    items = list(full.items())
    for cut in range(len(vector)):
        try:
            part = polar.decode_settings(vector[:cut])
        except IncompletePacket as exc:
            assert cut < exc.needed <= len(vector)
            continue
        assert list(part.items()) == items[: len(part)]  # the leading whole TLVs


@pytest.mark.parametrize(("args", "expected"), START_COMMANDS)
def test_every_prefix_of_a_start_command(
    args: tuple[MeasurementType, int, int, int, int | None], expected: str
) -> None:
    data = hx(expected)
    full, _ = polar.decode_command(data)
    for cut in range(len(data)):
        try:
            part, _ = polar.decode_command(data[:cut])
        except IncompletePacket as exc:
            assert cut < exc.needed <= len(data)
            continue
        assert part.measurement_type is full.measurement_type
        assert list(part.settings.items()) == list(full.settings.items())[: len(part.settings)]


def test_feature_read_prefixes() -> None:
    for cut in range(3):
        with pytest.raises(IncompletePacket):
            polar.decode_features(hx("0F 65 02")[:cut])


# ------------------------------------------------------------------ malformed inputs

HDR_ACC_80 = hx("02 00 00 00 00 00 00 00 00 80")
REF = hx("01 00 02 00 03 00")

MALFORMED_DATA = [
    (b"", IncompletePacket, 10),
    (hx("02 00 00"), IncompletePacket, 10),
    (hx("04"), ProtocolError, 0),  # type 4 is no measurement
    (hx("3F 00"), ProtocolError, 0),
    (hx("00 00 00 00 00 00 00 00 00 00 01 02 03"), ProtocolError, 0),  # ECG: unsupported
    (hx("02 00 00 00 00 00 00 00 00 03 01 02 03"), ProtocolError, 9),
    (hx("02 00 00 00 00 00 00 00 00 82"), ProtocolError, 9),
    (hx("05 00 00 00 00 00 00 00 00 02"), ProtocolError, 9),
    (hx("06 00 00 00 00 00 00 00 00 81"), ProtocolError, 9),
    (hx("02 00 00 00 00 00 00 00 00 01"), IncompletePacket, 16),  # raw, no sample
    (hx("02 00 00 00 00 00 00 00 00 01") + bytes(7), IncompletePacket, 22),  # mid-sample
    (hx("02 00 00 00 00 00 00 00 00 02") + bytes(10), IncompletePacket, 28),
    (HDR_ACC_80, IncompletePacket, 16),  # no reference sample
    (HDR_ACC_80 + REF[:5], IncompletePacket, 16),
    (HDR_ACC_80 + REF + hx("04"), IncompletePacket, 18),  # block header cut
    (HDR_ACC_80 + REF + hx("04 02 FF"), IncompletePacket, 21),  # 4 bits x 2 x 3 = 3 bytes
    (HDR_ACC_80 + REF + hx("00 01"), ProtocolError, 16),  # width 0 with samples
    (HDR_ACC_80 + REF + hx("21 01") + bytes(13), ProtocolError, 16),  # 33 bits
    (HDR_ACC_80 + REF + hx("02 01 00") + hx("FF 01"), ProtocolError, 19),
    (hx("05 00 00 00 00 00 00 00 00 81") + bytes(11), IncompletePacket, 22),  # float ref
]


@pytest.mark.parametrize(("data", "exc", "where"), MALFORMED_DATA, ids=lambda v: str(v)[:40])
def test_malformed_data_frames(data: bytes, exc: type[Exception], where: int) -> None:
    with pytest.raises(exc) as err:
        polar.decode_data(data)
    assert type(err.value) is exc
    if isinstance(err.value, IncompletePacket):
        assert (err.value.needed, err.value.have) == (where, len(data))
    else:
        assert isinstance(err.value, ProtocolError) and err.value.offset == where


def test_empty_delta_blocks_are_accepted() -> None:
    # count 0 declares no bits (any width up to 32); they add nothing
    frame, _ = polar.decode_data(HDR_ACC_80 + REF + hx("00 00 05 00"))
    assert frame.samples.tolist() == [[1, 2, 3]]


MALFORMED_CONTROL = [
    (b"", IncompletePacket, 1),
    (hx("02"), ProtocolError, 0),
    (hx("F1 01 02 00 00"), ProtocolError, 0),
    (hx("F0"), IncompletePacket, 5),
    (hx("F0 0A"), ProtocolError, 1),
    (hx("F0 00 02 00 00"), ProtocolError, 1),
    (hx("F0 01 02 00"), IncompletePacket, 5),
    (hx("F0 01 04 00 00"), ProtocolError, 2),  # type 4 is no measurement
    (hx("F0 02 08 00 00"), ProtocolError, 2),
    (hx("F0 01 02 0F 00"), ProtocolError, 3),
    (hx("01"), IncompletePacket, 2),
    (hx("01 02 04"), ProtocolError, 2),
]


@pytest.mark.parametrize(("data", "exc", "where"), MALFORMED_CONTROL, ids=lambda v: str(v))
def test_malformed_control_notifications(data: bytes, exc: type[Exception], where: int) -> None:
    with pytest.raises(exc) as err:
        polar.decode_control(data)
    assert type(err.value) is exc
    got = err.value.needed if isinstance(err.value, IncompletePacket) else err.value.offset  # type: ignore[attr-defined]
    assert got == where


MALFORMED_SETTINGS = [
    (hx("07 01 00"), ProtocolError, 0),
    (hx("00 01 34 00 FF 00"), ProtocolError, 4),
    (hx("00 01 34 00 00 01 34 00"), ProtocolError, 4),  # repeated
    (hx("00"), IncompletePacket, 2),
    (hx("00 01 34"), IncompletePacket, 4),
    (hx("00 01 34 00 05 01 00 00"), IncompletePacket, 10),
    (hx("06 01") + bytes(15), IncompletePacket, 18),
    (hx("02 04 F5 00 F4 01 E8 03 D0"), IncompletePacket, 10),
]


@pytest.mark.parametrize(("data", "exc", "where"), MALFORMED_SETTINGS, ids=lambda v: str(v))
def test_malformed_settings(data: bytes, exc: type[Exception], where: int) -> None:
    with pytest.raises(exc) as err:
        polar.decode_settings(data)
    assert type(err.value) is exc
    got = err.value.needed if isinstance(err.value, IncompletePacket) else err.value.offset  # type: ignore[attr-defined]
    assert got == where


MALFORMED_COMMANDS = [
    (b"", IncompletePacket, 1),
    (hx("00"), ProtocolError, 0),
    (hx("0A 02"), ProtocolError, 0),
    (hx("01"), IncompletePacket, 2),
    (hx("01 04"), ProtocolError, 1),
    (hx("01 02 00"), ProtocolError, 2),
    (hx("03 02 00"), ProtocolError, 2),
    (hx("05 00"), ProtocolError, 1),
    (hx("02 09 00"), ProtocolError, 2),  # enter SDK mode takes no settings
    (hx("02 02 00 01 34"), IncompletePacket, 6),
    (hx("02 02 08 01 00"), ProtocolError, 2),
    (hx("02 02 00 01 34 00 00 01 34 00"), ProtocolError, 6),
]


@pytest.mark.parametrize(("data", "exc", "where"), MALFORMED_COMMANDS, ids=lambda v: str(v))
def test_malformed_commands(data: bytes, exc: type[Exception], where: int) -> None:
    with pytest.raises(exc) as err:
        polar.decode_command(data)
    assert type(err.value) is exc
    got = err.value.needed if isinstance(err.value, IncompletePacket) else err.value.offset  # type: ignore[attr-defined]
    assert got == where


def test_malformed_feature_reads() -> None:
    with pytest.raises(ProtocolError) as err:
        polar.decode_features(hx("0E 65 02"))
    assert err.value.offset == 0
    with pytest.raises(IncompletePacket) as inc:
        polar.decode_features(hx("0F 65"))
    assert inc.value.needed == 3


def test_encode_command_rejections() -> None:
    for bad in (
        Command(ControlOp.GET_MEASUREMENT_SETTINGS),
        Command(ControlOp.GET_MEASUREMENT_STATUS, ACC),
        Command(ControlOp.STOP_MEASUREMENT, ACC, {SettingType.SAMPLE_RATE: (52,)}),
        Command(
            ControlOp.REQUEST_MEASUREMENT_START,
            MeasurementType.SDK_MODE,
            {SettingType.SAMPLE_RATE: (52,)},
        ),
        Command(ControlOp.GET_SDK_MODE_STATUS, payload=b"\x01"),
    ):
        with pytest.raises(ValueError):
            polar.encode_command(bad)


# ---------------------------------------------------------------------------- fuzz

FUZZ_BUFFERS = 100_000
SEEDS_FOR_FUZZ = [
    *DATA_VECTORS,
    *CONTROL_VECTORS,
    SETTINGS_VECTOR,
    SETTINGS_MILLI,
    CP_GET_PPI_OK,
    hx("01 02 05"),
    *(hx(e) for _, e in START_COMMANDS),
    *(polar.encode_command(c) for c in COMMANDS),
    polar.encode_data(MAG, 3, 0x80, _walk(RNG, 40, 3, -32768, 32767)),
    polar.encode_data(GYRO, 3, 0x00, _walk(RNG, 40, 3, -32768, 32767)),
]


def _fuzz_buffers(rng: np.random.Generator, count: int) -> list[bytes]:
    out: list[bytes] = []
    for _ in range(count):
        mode = int(rng.integers(0, 5))
        if mode == 0:  # random bytes, often with a plausible first/frame-type byte
            buf = bytearray(rng.bytes(int(rng.integers(0, 80))))
            if buf and rng.random() < 0.7:
                buf[0] = int(rng.choice([0x01, 0x02, 0x05, 0x06, 0x0F, 0xF0, 0x03, 0x04]))
            if len(buf) > 9 and rng.random() < 0.7:
                buf[9] = int(rng.choice([0x00, 0x01, 0x02, 0x80, 0x81]))
        else:  # a valid message with flips, truncation, extension or a spliced block
            buf = bytearray(SEEDS_FOR_FUZZ[int(rng.integers(0, len(SEEDS_FOR_FUZZ)))])
            for _ in range(int(rng.integers(1, 4))):
                if buf:
                    buf[int(rng.integers(0, len(buf)))] = int(rng.integers(0, 256))
            if mode == 2:
                buf = buf[: int(rng.integers(0, len(buf) + 1))]
            elif mode == 3:
                buf += rng.bytes(int(rng.integers(1, 12)))
            elif mode == 4 and len(buf) > 12:
                at = int(rng.integers(10, len(buf)))
                buf[at : at + 2] = bytes([int(rng.integers(0, 40)), int(rng.integers(0, 256))])
        out.append(bytes(buf))
    return out


def test_fuzz_only_protocol_errors_escape() -> None:
    """100,000 random and mutated buffers through every decoder (seeded numpy RNG)."""
    rng = np.random.default_rng(20240611)
    decoded = 0
    for buf in _fuzz_buffers(rng, FUZZ_BUFFERS):
        for decode in (polar.decode_data, polar.decode_control, polar.decode_command):
            try:
                _, used = decode(buf)
            except (IncompletePacket, ProtocolError):
                continue
            assert used == len(buf)
            decoded += 1
        for decode_whole in (polar.decode_settings, polar.decode_features):
            try:
                decode_whole(buf)
            except (IncompletePacket, ProtocolError):
                continue
            decoded += 1
    assert decoded > 10_000  # the mutations reach the decoders' insides


def test_decoders_take_any_buffer_type() -> None:
    for kind in (bytes, bytearray, memoryview):
        frame, _ = polar.decode_data(kind(V4))
        assert frame.count == 57
        assert polar.decode_settings(kind(SETTINGS_VECTOR))[SettingType.CHANNELS] == (3,)


def test_module_imports_no_io_libraries() -> None:
    code = (
        "import sys, sensorhub.protocol.polar; "
        "bad = [m for m in ('asyncio', 'bleak', 'socket', 'aiomqtt', 'sounddevice') "
        "if m in sys.modules]; print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# ----------------------------------------------------------------- frame timestamps


def test_frame_times_sdk_rules() -> None:
    # by frequency: 10 samples at 1 Hz ending at 10 s
    assert polar.frame_times_ns(10**10, 10, None, rate_hz=1) == [i * 10**9 for i in range(1, 11)]
    assert polar.frame_times_ns(10**9, 1, None, rate_hz=1) == [10**9]
    # from the previous frame: 1 s .. 11 s, 10 samples
    assert polar.frame_times_ns(11 * 10**9, 10, 10**9) == [i * 10**9 for i in range(2, 12)]
    assert polar.frame_times_ns(2 * 10**9, 3, 100) == [666666733, 1333333367, 2000000000]
    assert polar.frame_times_ns(2 * 10**9, 1, 10**9) == [2 * 10**9]
    # round half to even: 100.5 -> 100, 101.5 -> 102
    assert polar.frame_times_ns(103, 4, 100) == [101, 102, 102, 103]
    # exact at PMD magnitudes (doubles would lose nanoseconds here)
    big = 790_000_000_123_456_789
    assert polar.frame_times_ns(big + 3, 3, big) == [big + 1, big + 2, big + 3]
    with pytest.raises(ValueError):
        polar.frame_times_ns(100000, 100, None, rate_hz=52)  # before the epoch
    with pytest.raises(ValueError):
        polar.frame_times_ns(100, 10, None)
    with pytest.raises(ValueError):
        polar.frame_times_ns(100, 10, 100)


# -------------------------------------------------------------------- PolarStream

T0_NS = 790_000_000_000_000_000  # ~2025 in PMD time
ACC_FACTOR = 2.44e-4
GYRO_FACTOR = 0.061


class Synth:
    """A Verity-like acc+gyro recording: true sample times, values, framed notifications."""

    def __init__(
        self,
        nominal_hz: float,
        true_hz: float,
        seconds: float,
        seed: int,
        *,
        jitter_ns: int = 0,
        gyro_phase: float = 0.2,
        gyro: bool = True,
        acc_frame_type: int = 0x80,
    ) -> None:
        rng = np.random.default_rng(seed)
        self.nominal = nominal_hz
        self.jitter_ns = jitter_ns
        self.n = int(seconds * true_hz)
        period = 1e9 / true_hz
        self.times = T0_NS + np.round(np.arange(self.n) * period).astype(np.int64)
        self.acc = _walk(rng, self.n, 400, -30000, 30000)
        self.gyro = _walk(rng, self.n, 400, -30000, 30000)
        lo, hi = int(0.5 * nominal_hz), int(1.5 * nominal_hz)
        self.frames: list[tuple[str, int, int, bytes]] = []  # (stream, start, end, bytes)
        streams = [("acc", self.acc, ACC, acc_frame_type, 0.0)]
        if gyro:
            streams.append(("gyro", self.gyro, GYRO, 0x80, gyro_phase))
        for name, values, mtype, ftype, phase in streams:
            start = 0
            while start < self.n:
                end = min(self.n, start + int(rng.integers(lo, hi + 1)))
                ts = int(self.times[end - 1]) + round(phase * period)
                if jitter_ns:
                    ts += int(rng.integers(-jitter_ns, jitter_ns + 1))
                data = polar.encode_data(mtype, ts, ftype, values[start:end])
                self.frames.append((name, start, end, data))
                start = end

    def drop(
        self, acc_frames: list[int], gyro_frames: list[int], windows: list[tuple[float, float]]
    ) -> list[tuple[str, int, int, bytes]]:
        """The frames left after removing the k-th acc / gyro frames and every frame that
        overlaps a (start s, end s) window; in arrival order (by last-sample time)."""
        by = {"acc": [f for f in self.frames if f[0] == "acc"]}
        by["gyro"] = [f for f in self.frames if f[0] == "gyro"]
        gone = {id(by["acc"][k]) for k in acc_frames} | {id(by["gyro"][k]) for k in gyro_frames}
        rate = self.n / ((self.times[-1] - self.times[0]) / 1e9)
        kept = []
        for f in self.frames:
            s, e = f[1] / rate, f[2] / rate
            if id(f) in gone or any(s < w1 and e > w0 for w0, w1 in windows):
                continue
            kept.append(f)
        return sorted(kept, key=lambda f: (f[2], f[0]))

    def expected(
        self, kept: list[tuple[str, int, int, bytes]], gyro: bool = True
    ) -> tuple[int, npt.NDArray[np.bool_], int]:
        """(origin, mask of samples that should come out, index one past the last final)."""
        have = {"acc": np.zeros(self.n, bool), "gyro": np.zeros(self.n, bool)}
        last = {"acc": 0, "gyro": 0}
        for name, s, e, _ in kept:
            have[name][s:e] = True
            last[name] = max(last[name], e)
        both = have["acc"] & have["gyro"] if gyro else have["acc"]
        final = min(last["acc"], last["gyro"]) if gyro else last["acc"]
        return int(np.argmax(both)), both, final


def _run(stream: PolarStream, frames: list[tuple[str, int, int, bytes]]) -> list[SampleBlock]:
    blocks: list[SampleBlock] = []
    for _, _, _, data in frames:
        blocks += stream.feed(data)
    return blocks


def _flatten(blocks: list[SampleBlock]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int16]]:
    idx = np.concatenate([np.arange(b.first_index, b.end_index) for b in blocks])
    return idx, np.concatenate([b.samples for b in blocks])


def _same_blocks(a: list[SampleBlock], b: list[SampleBlock]) -> bool:
    return len(a) == len(b) and all(
        (x.first_index, x.device_t_us, x.clipped) == (y.first_index, y.device_t_us, y.clipped)
        and x.samples.dtype == y.samples.dtype
        and np.array_equal(x.samples, y.samples)
        for x, y in zip(a, b, strict=True)
    )


def _check_stream(
    synth: Synth,
    kept: list[tuple[str, int, int, bytes]],
    make: Callable[[], PolarStream],
    gyro: bool = True,
) -> tuple[PolarStream, list[SampleBlock]]:
    stream = make()
    blocks = _run(stream, kept)
    origin, both, final = synth.expected(kept, gyro)
    idx, samples = _flatten(blocks)
    true_idx = np.flatnonzero(both[:final])
    np.testing.assert_array_equal(idx, true_idx - origin)  # exactly the samples that pair
    want = np.hstack([synth.acc, synth.gyro]) if gyro else synth.acc
    np.testing.assert_array_equal(samples, want[true_idx])
    assert samples.dtype == np.int16 and samples.shape[1] == (6 if gyro else 3)
    assert blocks[0].first_index == 0
    assert stream.samples_lost == blocks[-1].end_index - len(idx)
    for prev, block in itertools.pairwise(blocks):
        assert block.first_index >= prev.end_index
    tolerance_us = 3 * synth.jitter_ns // 1000 + 2
    for block in blocks:  # device time of the first sample, within the timestamp jitter
        t_true = int(synth.times[block.first_index + origin]) // 1000
        assert abs(block.device_t_us - t_true) <= tolerance_us
    # replay: the same bytes in a fresh stream give identical blocks
    again = _run(make(), kept)
    assert _same_blocks(blocks, again)
    return stream, blocks


def _stream(synth: Synth, gyro: bool = True) -> PolarStream:
    return PolarStream(
        synth.nominal,
        acc_factor=ACC_FACTOR,
        gyro_factor=GYRO_FACTOR if gyro else None,
        gyro=gyro,
    )


@pytest.mark.parametrize(
    ("nominal", "true_hz", "jitter_ns"),
    [(208, 208.1, 0), (208, 208.1, 100_000), (416, 416.4, 50_000), (52, 51.95, 100_000)],
)
def test_stream_indexes_and_pairs_across_losses(
    nominal: float, true_hz: float, jitter_ns: int
) -> None:
    synth = Synth(nominal, true_hz, 90, seed=int(nominal), jitter_ns=jitter_ns)
    n_acc = sum(1 for f in synth.frames if f[0] == "acc")
    n_gyro = sum(1 for f in synth.frames if f[0] == "gyro")
    assert n_acc > 60 and n_gyro > 60
    kept = synth.drop(
        acc_frames=[9, 20, 21, n_acc - 8],  # acc only (one pair of consecutive frames)
        gyro_frames=[14, 33, n_gyro - 5],  # gyro only
        windows=[(25.0, 25.6), (40.0, 50.0)],  # both, and a 10 s gap of everything
    )
    stream, blocks = _check_stream(synth, kept, lambda: _stream(synth))
    assert stream.samples_lost > 10 * nominal  # the 10 s gap is in there, counted exactly
    assert len(blocks) > 50
    assert stream.period_ns == pytest.approx(1e9 / true_hz, rel=2e-5)
    assert stream.acc_scale_g == ACC_FACTOR and stream.gyro_scale_dps == GYRO_FACTOR


def test_stream_ten_second_gap_is_counted_to_the_sample() -> None:
    synth = Synth(208, 208.1, 40, seed=5)
    kept = synth.drop([], [], [(20.0, 30.0)])
    _, blocks = _check_stream(synth, kept, lambda: _stream(synth))
    gaps = [b.first_index - a.end_index for a, b in itertools.pairwise(blocks)]
    big = [g for g in gaps if g > 0]
    # every frame touching the 10 s window is gone: 10 s plus up to two 1.5 s frames
    assert len(big) == 1 and 10 * 208.1 <= big[0] < 13 * 208.1


def test_stream_output_does_not_depend_on_acc_gyro_interleaving() -> None:
    synth = Synth(208, 208.1, 60, seed=9)
    kept = synth.drop([5, 30], [12], [(35.0, 45.0)])
    base = _flatten(_run(_stream(synth), kept))
    rng = np.random.default_rng(3)
    for _ in range(3):
        order = list(kept)
        for i in range(len(order) - 1):  # swap neighbours of different streams at random
            if order[i][0] != order[i + 1][0] and rng.random() < 0.5:
                order[i], order[i + 1] = order[i + 1], order[i]
        idx, samples = _flatten(_run(_stream(synth), order))
        # the tail that is still buffered may differ; everything emitted agrees
        m = min(len(idx), len(base[0]))
        assert m > 0.95 * len(base[0])
        np.testing.assert_array_equal(idx[:m], base[0][:m])
        np.testing.assert_array_equal(samples[:m], base[1][:m])


def test_stream_acc_only_h10_raw_frames() -> None:
    synth = Synth(200, 200.15, 60, seed=4, gyro=False, acc_frame_type=0x01)
    n_acc = len(synth.frames)
    kept = synth.drop([7, 8, n_acc // 2], [], [(30.0, 40.0)])

    def make() -> PolarStream:
        return PolarStream(200, acc_factor=1.0, gyro=False, acc_frame_type=0x01)

    stream, blocks = _check_stream(synth, kept, make, gyro=False)
    assert stream.acc_scale_g == 1e-3 and stream.gyro_scale_dps is None and stream.channels == 3
    assert all(b.samples.shape[1] == 3 for b in blocks)


def test_stream_ignores_other_measurements_and_checks_frame_types() -> None:
    stream = PolarStream(52, acc_factor=ACC_FACTOR, gyro_factor=GYRO_FACTOR)
    assert stream.feed(polar.encode_data(MAG, T0_NS, 0x80, np.zeros((5, 3), np.int64))) == []
    with pytest.raises(ProtocolError) as err:
        stream.feed(polar.encode_data(ACC, T0_NS, 0x01, np.zeros((5, 3), np.int64)))
    assert err.value.offset == 9
    with pytest.raises(IncompletePacket):
        stream.feed(V4[:20])
    acc_only = PolarStream(52, acc_factor=ACC_FACTOR, gyro=False)
    assert acc_only.feed(V2) == []
    with pytest.raises(ValueError):
        PolarStream(52, acc_factor=ACC_FACTOR)  # gyro needs its factor
    with pytest.raises(ValueError):
        PolarStream(0, acc_factor=ACC_FACTOR, gyro=False)


def test_stream_unpaired_samples_are_never_invented() -> None:
    synth = Synth(104, 104.05, 30, seed=12)
    gyro_frames = [f for f in synth.frames if f[0] == "gyro"]
    # drop every other gyro frame: half of the acc samples have no partner
    kept = synth.drop([], list(range(3, len(gyro_frames) - 2, 2)), [])
    _check_stream(synth, kept, lambda: _stream(synth))


def test_stream_gyro_that_stops_does_not_hold_acc_forever() -> None:
    synth = Synth(104, 104.05, 40, seed=13)
    kept = [f for f in synth.drop([], [], []) if f[0] == "acc" or f[1] < 10 * 104]
    stream = _stream(synth)
    blocks = _run(stream, kept)
    assert blocks and blocks[-1].end_index < 11 * 104  # only what had a gyro partner
    assert sum(len(c.counts) for c in stream._acc.chunks) <= 6 * 105 + 160  # bounded buffer


def test_stream_float_gyro_and_clipping() -> None:
    rate = 52
    n = 60
    times = T0_NS + np.arange(n) * round(1e9 / rate)
    acc = np.zeros((n, 3), np.int64)
    acc[45] = [32767, 0, -32768]
    gyro_dps = np.full((n, 3), 12.5, np.float32)
    stream = PolarStream(
        rate, acc_factor=ACC_FACTOR, gyro_factor=1.0, gyro_frame_type=0x81, gyro_range_dps=2000
    )
    assert stream.gyro_scale_dps == pytest.approx(2000 / 32768)
    blocks: list[SampleBlock] = []
    for s, e in ((0, 30), (30, 60)):
        blocks += stream.feed(polar.encode_data(ACC, int(times[e - 1]), 0x80, acc[s:e]))
        blocks += stream.feed(polar.encode_data(GYRO, int(times[e - 1]), 0x81, gyro_dps[s:e]))
    idx, samples = _flatten(blocks)
    np.testing.assert_array_equal(idx, np.arange(60))
    assert np.all(samples[:, 3:] == round(12.5 / (2000 / 32768)))
    clipped = [b.clipped for b in blocks]
    assert clipped == [False, True]


def test_samplesblock_device_time_is_microseconds_of_first_sample() -> None:
    stream = PolarStream(52, acc_factor=ACC_FACTOR, gyro=False)
    period = round(1e9 / 52)
    zeros = np.zeros((10, 3), np.int64)
    # the first frame waits for a period estimate (the second frame) to be timed
    assert stream.feed(polar.encode_data(ACC, T0_NS + 9 * period, 0x80, zeros)) == []
    (block,) = stream.feed(polar.encode_data(ACC, T0_NS + 19 * period, 0x80, zeros))
    assert (block.first_index, block.count, block.device_t_us) == (0, 20, T0_NS // 1000)
    (block,) = stream.feed(polar.encode_data(ACC, T0_NS + 39 * period, 0x80, zeros))
    assert block.first_index == 30 and stream.samples_lost == 10
    assert block.device_t_us == (T0_NS + 30 * period) // 1000


def test_struct_round_trip_of_factor_float() -> None:
    assert struct.unpack("<f", polar.encode_settings({SettingType.FACTOR: 0.5})[2:])[0] == 0.5


def test_stream_clock_set_back_is_taken_as_contiguous() -> None:
    stream = PolarStream(52, acc_factor=ACC_FACTOR, gyro=False)
    period = round(1e9 / 52)
    zeros = np.zeros((10, 3), np.int64)
    blocks: list[SampleBlock] = []
    for ts in (
        T0_NS + 9 * period,
        T0_NS + 19 * period,
        T0_NS - 10**12,
        T0_NS - 10**12 + 10 * period,
    ):
        blocks += stream.feed(polar.encode_data(ACC, ts, 0x80, zeros))
    idx, _ = _flatten(blocks)
    np.testing.assert_array_equal(idx, np.arange(40))
    assert stream.samples_lost == 0


def test_stream_with_a_wrong_nominal_rate_still_emits() -> None:
    synth = Synth(50, 50.0, 20, seed=21)
    stream = PolarStream(52, acc_factor=ACC_FACTOR, gyro_factor=GYRO_FACTOR)  # 4 % off
    blocks = _run(stream, synth.drop([], [], []))
    assert sum(b.count for b in blocks) > 0.8 * synth.n
