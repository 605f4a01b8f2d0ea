"""Sans-IO codec and stream decoder for MbientLab MetaWear boards (MetaMotion R/RL/C with a
BMI160, MetaMotion S with a BMI270): the small raw subset sensorhub needs to stream the
accelerometer and gyro, nothing more.

Clean-room: written from the facts (register numbers, codes, byte layouts, test vectors)
in the notes (``sensor_protocols.md`` section 3) and checked against the vendor sources
listed below; no vendor code is used (the MetaWear SDK licence restricts it).

Wire shape
----------
Every command (written to ``COMMAND_CHAR``) is ``[module u8][register u8][params...]``;
a read sets bit 7 of the register; ``[module, 0x80]`` asks for the module's info.  Every
notification (on ``NOTIFY_CHAR``) starts ``[module][register]``.  A GATT value arrives
whole, so ``decode`` and ``decode_command`` use the whole view: a data notification has a
fixed size (8 bytes single, 20 bytes packed), every shorter prefix of it is
:class:`IncompletePacket` and a longer one a :class:`ProtocolError` at the first extra
byte.  Samples are int16 little-endian ``(x, y, z)`` counts, returned as a zero-copy
``(n, 3)`` int16 view of the buffer (copy it if the buffer is reused).

The chip matters to the decoder: ``13 05`` is a single gyro sample on the BMI160 but a
packed one on the BMI270.  ``decode(view, imu)`` with the chip decodes every data register
of that chip; without it (``imu=None``) it decodes the registers that mean the same on
both and returns ``13 05`` as an opaque :class:`Notification`.

What was checked, and against what
----------------------------------
Sources read (stored copies): ``mbientlab/MetaWear-SDK-Cpp`` headers
``sensor/accelerometer_bosch.h``, ``gyro_bosch.h``, ``accelerometer_mma8452q.h``,
``core/module.h``, ``sensor/cpp/accelerometer_bosch.cpp``, ``gyro_bosch.cpp``,
``accelerometer_bosch_register.h``, ``gyro_bosch_register.h``, ``core/cpp/settings.cpp``,
``settings_register.h``, ``moduleinfo.cpp``, and its Python tests
``test_accelerometer_bmi160.py``, ``test_accelerometer_bmi270.py``, ``test_gyro_bmi160.py``,
``test_settings.py``, ``common.py`` (board module tables); ``hbldh/pymetawear`` and a
third-party wire reference for the few items marked [3P].

* [V test] every accelerometer ODR byte of both chips (all 12 per chip: BMI160 ``0x81..0x84``
  below 12.5 Hz, ``0x25..0x2C`` from 12.5 Hz; BMI270 ``0x21..0x24``, ``0xA5..0xAC``), the
  range bytes of +-8 and +-16 g on both chips, ``03 03 28 0C``, ``03 03 29 08``,
  ``03 03 A9 02``, ``03 03 A8 03``; enable ``03 02 01 00`` / disable ``03 02 00 01``;
  subscribe ``03 04 01``, packed ``03 1C 01`` (BMI160) and ``03 05 01`` (BMI270); gyro
  ``13 03 29 00``, ``13 03 28 03``, ``13 03 27 04``, start ``13 01 01``, stop ``13 01 00``,
  enable ``13 02 01 00``, subscribe ``13 05 01``, packed ``13 07 01`` (BMI160); connection
  parameters ``11 09 58 02 20 03 80 00 66 06`` (750, 1000 ms, 128, 16384 ms).  All four data
  vectors of the notes decode to the published values.
* [V code] the remaining range bytes: BMI160 ``{2: 0x03, 4: 0x05, 8: 0x08, 16: 0x0C}`` (so the
  notes' [M] on +-4 g = 0x05 is resolved), BMI270 ``{2: 0, 4: 1, 8: 2, 16: 3}``; the gyro
  config layout (byte 0 = ODR code 6..13 | bandwidth 2 << 4, byte 1 = range code) with
  range codes 0..4 = 2000/1000/500/250/125 dps (so 1 = 1000 and 2 = 500 dps, [M] in the
  notes, are in the SDK's enum and its scale table 16.4 ... 262.4); accelerometer start
  ``03 01 01`` / stop ``03 01 00`` (the notes said [3P]), and on the BMI270 start is
  ``03 01 02`` below 12.5 Hz; the register maps (acc 1/2/3/4, BMI160 packed 0x1C, BMI270
  packed 5; gyro 1/2/3, data 5 / packed 7 on the BMI160, 4 / 5 on the BMI270); connection
  parameters truncate ``ms / 1.25`` and ``ms / 10`` to u16.
* [V code] module info: the answer to ``[module, 0x80]`` is ``[module, 0x80, implementation,
  revision, extra...]``; a 2-byte answer means the module is absent.  Chip from the
  implementation id: accelerometer 1 = BMI160, 4 = BMI270 (0 = MMA8452Q, 3 = BMA255: not
  supported here); gyro 0 = BMI160, 1 = BMI270.  The SDK's board tables: MetaWear RG/MMR
  ``03 80 01 01``, MMRL ``03 80 01 02``, gyro ``13 80 00 01``; MMS ``03 80 04 00``, gyro
  ``13 80 01 00``.  Packed data needs module revision >= 1 on the BMI160 (acc and gyro);
  the BMI270 always has it (:func:`packed_supported`).
* [V code + clients] the GATT UUIDs and the device information characteristics.
* [3P] sensor fusion = module 0x19 (pymetawear; the SDK's board tables list module 0x19);
  BMI270 accelerometer registers above 5 (none of them is used here).
* Not verified (no hardware here): the order in time of the 3 samples inside a packed
  notification (taken as oldest first; the SDK hands them out in byte order); that the
  accelerometer and gyro, started by separate commands, begin on the same sample (the
  stream pairs the k-th of each); what the firmware does with a command of the wrong
  length (``decode_command`` rejects it; the sensor might ignore it).  The BMI270 gyro
  config bytes equal the BMI160's by the SDK code, but no SDK test exercises them.

The stream and its accuracy
---------------------------
:class:`MetaWearStream` turns one sensor's notifications into
:class:`~sensorhub.protocol.vendor.SampleBlock` values.  There are no timestamps and no
counter in the stream: samples are counted.  See the class for how a restart after an
outage is placed and how exactly.
"""

from __future__ import annotations

import itertools
import math
import struct
from collections import deque
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import TypeAlias

import msgspec
import numpy as np
import numpy.typing as npt

from sensorhub.errors import IncompletePacket, ProtocolError
from sensorhub.protocol.vendor import SampleBlock

Buffer: TypeAlias = bytes | bytearray | memoryview
Samples: TypeAlias = npt.NDArray[np.int16]

# --------------------------------------------------------------------------- GATT

SERVICE_UUID = "326a9000-85cb-9195-d9dd-464cfbbae75a"
#: Commands: write, usually without response.
COMMAND_CHAR = "326a9001-85cb-9195-d9dd-464cfbbae75a"
#: Notifications: every answer and every data sample.
NOTIFY_CHAR = "326a9006-85cb-9195-d9dd-464cfbbae75a"
#: Device Information service (0x180A) and its characteristics, as text.
DEVICE_INFO_SERVICE = "0000180a-0000-1000-8000-00805f9b34fb"
MODEL_NUMBER_CHAR = "00002a24-0000-1000-8000-00805f9b34fb"  # "5" MMR/MMRL, "8" MMS
SERIAL_NUMBER_CHAR = "00002a25-0000-1000-8000-00805f9b34fb"
FIRMWARE_REVISION_CHAR = "00002a26-0000-1000-8000-00805f9b34fb"
HARDWARE_REVISION_CHAR = "00002a27-0000-1000-8000-00805f9b34fb"
MANUFACTURER_CHAR = "00002a29-0000-1000-8000-00805f9b34fb"


class Module(IntEnum):
    """MetaWear module ids (the first byte of every command and notification)."""

    SWITCH = 0x01
    LED = 0x02
    ACCELEROMETER = 0x03
    TEMPERATURE = 0x04
    GPIO = 0x05
    NEO_PIXEL = 0x06
    IBEACON = 0x07
    HAPTIC = 0x08
    DATA_PROCESSOR = 0x09
    EVENT = 0x0A
    LOGGING = 0x0B
    TIMER = 0x0C
    I2C = 0x0D
    MACRO = 0x0F
    CONDUCTANCE = 0x10
    SETTINGS = 0x11
    BAROMETER = 0x12
    GYRO = 0x13
    AMBIENT_LIGHT = 0x14
    MAGNETOMETER = 0x15
    HUMIDITY = 0x16
    COLOR_DETECTOR = 0x17
    PROXIMITY = 0x18
    SENSOR_FUSION = 0x19
    DEBUG = 0xFE


#: Bit 7 of the register byte: a read (the answer echoes the byte).
READ_BIT = 0x80
#: ``[module, INFO_REGISTER]``: the module-info probe and its answer.
INFO_REGISTER = 0x80
#: Settings register of the connection parameters.
SETTINGS_CONNECTION_PARAMS = 0x09


class Imu(StrEnum):
    """The Bosch IMU on the board (it decides the register maps and codes)."""

    BMI160 = "bmi160"  # MetaMotion R, RL, C; MetaWear RG/CPro
    BMI270 = "bmi270"  # MetaMotion S


@dataclass(frozen=True, slots=True)
class Registers:
    """Register numbers of one module on one chip."""

    power_mode: int  # start (1) / stop (0)
    interrupt_enable: int  # [enable mask, disable mask]
    config: int  # [odr/bandwidth byte, range byte]
    data: int  # one sample per notification
    packed: int  # three samples per notification


ACC_REGISTERS: dict[Imu, Registers] = {
    Imu.BMI160: Registers(1, 2, 3, 4, 0x1C),
    Imu.BMI270: Registers(1, 2, 3, 4, 0x05),
}
GYRO_REGISTERS: dict[Imu, Registers] = {
    Imu.BMI160: Registers(1, 2, 3, 5, 0x07),
    Imu.BMI270: Registers(1, 2, 3, 4, 0x05),
}

#: Module-info implementation id -> chip.
ACC_IMPLEMENTATION: dict[int, Imu] = {1: Imu.BMI160, 4: Imu.BMI270}
GYRO_IMPLEMENTATION: dict[int, Imu] = {0: Imu.BMI160, 1: Imu.BMI270}
_UNSUPPORTED_ACC = {0: "MMA8452Q", 3: "BMA255"}
#: Lowest module revision with packed data (BMI160 boards); the BMI270 always has it.
PACKED_REVISION = 1

# ------------------------------------------------------------------------- tables

_LOW_ODRS = (0.78125, 1.5625, 3.125, 6.25)
_ODRS = (12.5, 25.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1600.0)

#: Accelerometer ODR (Hz) -> config byte 0 (ODR code | bandwidth | under-sampling/filter).
ACC_ODR_CODES: dict[Imu, dict[float, int]] = {
    # BMI160: under-sampling bit 7 below 12.5 Hz, else normal bandwidth (2 << 4)
    Imu.BMI160: {
        **{hz: 0x80 | (1 + i) for i, hz in enumerate(_LOW_ODRS)},
        **{hz: 0x20 | (5 + i) for i, hz in enumerate(_ODRS)},
    },
    # BMI270: bit 7 is the performance filter, set from 12.5 Hz up; bandwidth 2 always
    Imu.BMI270: {
        **{hz: 0x20 | (1 + i) for i, hz in enumerate(_LOW_ODRS)},
        **{hz: 0xA0 | (5 + i) for i, hz in enumerate(_ODRS)},
    },
}
#: Accelerometer range (+-g) -> config byte 1.
ACC_RANGE_CODES: dict[Imu, dict[int, int]] = {
    Imu.BMI160: {2: 0x03, 4: 0x05, 8: 0x08, 16: 0x0C},
    Imu.BMI270: {2: 0x00, 4: 0x01, 8: 0x02, 16: 0x03},
}
#: Gyro ODR (Hz) -> config byte 0 (ODR code 6..13 | normal bandwidth 2 << 4); both chips.
GYRO_ODR_CODES: dict[float, int] = {
    hz: 0x20 | (6 + i)
    for i, hz in enumerate((25.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0))
}
#: Gyro range (+-dps) -> config byte 1; both chips.
GYRO_RANGE_CODES: dict[int, int] = {2000: 0, 1000: 1, 500: 2, 250: 3, 125: 4}
#: Gyro sensitivity, LSB per dps.
GYRO_LSB_PER_DPS: dict[int, float] = {2000: 16.4, 1000: 32.8, 500: 65.6, 250: 131.2, 125: 262.4}


def acc_lsb_per_g(range_g: int) -> float:
    """Accelerometer sensitivity: 32768 / range LSB per g (16384 at +-2 g)."""
    _check(range_g, ACC_RANGE_CODES[Imu.BMI160], "accelerometer range", "g")
    return 32768.0 / range_g


def acc_scale_g(range_g: int) -> float:
    """g per LSB at ``range_g``."""
    return 1.0 / acc_lsb_per_g(range_g)


def gyro_scale_dps(range_dps: int) -> float:
    """dps per LSB at ``range_dps``."""
    _check(range_dps, GYRO_LSB_PER_DPS, "gyro range", "dps")
    return 1.0 / GYRO_LSB_PER_DPS[range_dps]


def _fmt(value: float) -> str:
    return f"{value:g}"


def _check(
    value: float, table: dict[float, int] | dict[int, int] | dict[int, float], what: str, unit: str
) -> None:
    if value not in table:
        supported = ", ".join(_fmt(k) for k in table)
        raise ValueError(f"{what} {_fmt(value)} {unit} is not supported; supported: {supported}")


# ----------------------------------------------------------------------- commands


def acc_config(imu: Imu, odr_hz: float, range_g: int) -> bytes:
    """Accelerometer ODR and range, e.g. ``03 03 28 0C`` (BMI160, 100 Hz, +-16 g)."""
    imu = Imu(imu)
    _check(odr_hz, ACC_ODR_CODES[imu], f"{imu.name} accelerometer ODR", "Hz")
    _check(range_g, ACC_RANGE_CODES[imu], f"{imu.name} accelerometer range", "g")
    reg = ACC_REGISTERS[imu].config
    return bytes(
        (Module.ACCELEROMETER, reg, ACC_ODR_CODES[imu][odr_hz], ACC_RANGE_CODES[imu][range_g])
    )


def gyro_config(imu: Imu, odr_hz: float, range_dps: int) -> bytes:
    """Gyro ODR and range, e.g. ``13 03 29 00`` (200 Hz, +-2000 dps)."""
    imu = Imu(imu)
    _check(odr_hz, GYRO_ODR_CODES, f"{imu.name} gyro ODR", "Hz")
    _check(range_dps, GYRO_RANGE_CODES, f"{imu.name} gyro range", "dps")
    reg = GYRO_REGISTERS[imu].config
    return bytes((Module.GYRO, reg, GYRO_ODR_CODES[odr_hz], GYRO_RANGE_CODES[range_dps]))


def acc_enable(imu: Imu) -> bytes:
    """Enable accelerometer sampling: ``03 02 01 00``."""
    return bytes((Module.ACCELEROMETER, ACC_REGISTERS[Imu(imu)].interrupt_enable, 1, 0))


def acc_disable(imu: Imu) -> bytes:
    """Disable accelerometer sampling: ``03 02 00 01``."""
    return bytes((Module.ACCELEROMETER, ACC_REGISTERS[Imu(imu)].interrupt_enable, 0, 1))


def acc_start(imu: Imu, odr_hz: float | None = None) -> bytes:
    """Accelerometer active: ``03 01 01`` (``03 01 02`` on a BMI270 below 12.5 Hz)."""
    imu = Imu(imu)
    mode = 2 if imu is Imu.BMI270 and odr_hz is not None and odr_hz < 12.5 else 1
    return bytes((Module.ACCELEROMETER, ACC_REGISTERS[imu].power_mode, mode))


def acc_stop(imu: Imu) -> bytes:
    """Accelerometer standby: ``03 01 00``."""
    return bytes((Module.ACCELEROMETER, ACC_REGISTERS[Imu(imu)].power_mode, 0))


def acc_subscribe(imu: Imu, packed: bool, on: bool = True) -> bytes:
    """(Un)subscribe accelerometer data: ``03 04 01``; packed ``03 1C 01`` / ``03 05 01``."""
    regs = ACC_REGISTERS[Imu(imu)]
    return bytes((Module.ACCELEROMETER, regs.packed if packed else regs.data, int(on)))


def gyro_enable(imu: Imu) -> bytes:
    """Enable gyro sampling: ``13 02 01 00``."""
    return bytes((Module.GYRO, GYRO_REGISTERS[Imu(imu)].interrupt_enable, 1, 0))


def gyro_disable(imu: Imu) -> bytes:
    """Disable gyro sampling: ``13 02 00 01``."""
    return bytes((Module.GYRO, GYRO_REGISTERS[Imu(imu)].interrupt_enable, 0, 1))


def gyro_start(imu: Imu) -> bytes:
    """Gyro active: ``13 01 01``."""
    return bytes((Module.GYRO, GYRO_REGISTERS[Imu(imu)].power_mode, 1))


def gyro_stop(imu: Imu) -> bytes:
    """Gyro standby: ``13 01 00``."""
    return bytes((Module.GYRO, GYRO_REGISTERS[Imu(imu)].power_mode, 0))


def gyro_subscribe(imu: Imu, packed: bool, on: bool = True) -> bytes:
    """(Un)subscribe gyro data: BMI160 ``13 05 01`` / packed ``13 07 01``; BMI270 4 / 5."""
    regs = GYRO_REGISTERS[Imu(imu)]
    return bytes((Module.GYRO, regs.packed if packed else regs.data, int(on)))


def module_info_probe(module: int) -> bytes:
    """Ask a module what it is: ``[module, 0x80]`` (answered by a :class:`ModuleInfo`)."""
    if not 0 <= module <= 0xFF:
        raise ValueError(f"module id {module} is not a byte")
    return bytes((module, INFO_REGISTER))


_CONN = struct.Struct("<4H")
_INTERVAL_STEP_MS = 1.25
_TIMEOUT_STEP_MS = 10.0


def connection_parameters(min_ms: float, max_ms: float, latency: int, timeout_ms: float) -> bytes:
    """Ask the sensor for BLE connection parameters: ``11 09 <min> <max> <latency> <timeout>``
    (u16 each: intervals in 1.25 ms, timeout in 10 ms, truncated as the SDK does), e.g.
    7.5, 7.5 ms, 0, 6000 ms -> ``11 09 06 00 06 00 00 00 58 02``.  The central may refuse."""
    if not 7.5 <= min_ms <= max_ms <= 4000.0:
        raise ValueError(
            f"connection interval {min_ms:g}..{max_ms:g} ms: need 7.5 <= min <= max <= 4000 ms"
        )
    if not 0 <= latency <= 499:
        raise ValueError(f"slave latency {latency}: need 0..499 connection events")
    if not 100.0 <= timeout_ms <= 32000.0:
        raise ValueError(f"supervision timeout {timeout_ms:g} ms: need 100..32000 ms")
    # the SDK truncates; the epsilon keeps exact multiples (7.5 / 1.25) from rounding down
    units = (
        int(min_ms / _INTERVAL_STEP_MS + 1e-9),
        int(max_ms / _INTERVAL_STEP_MS + 1e-9),
        int(latency),
        int(timeout_ms / _TIMEOUT_STEP_MS + 1e-9),
    )
    return bytes((Module.SETTINGS, SETTINGS_CONNECTION_PARAMS)) + _CONN.pack(*units)


def start_streaming(
    imu: Imu,
    odr_hz: float,
    acc_range_g: int,
    gyro_range_dps: int | None,
    packed: bool = True,
    interval_ms: float = 7.5,
) -> list[bytes]:
    """The commands to stream, in the SDK's order: connection parameters, configs,
    subscribe, enable sampling, start (acc, then gyro)."""
    imu = Imu(imu)
    cmds = [connection_parameters(interval_ms, interval_ms, 0, 6000.0)]
    cmds.append(acc_config(imu, odr_hz, acc_range_g))
    if gyro_range_dps is not None:
        cmds.append(gyro_config(imu, odr_hz, gyro_range_dps))
    cmds.append(acc_subscribe(imu, packed))
    if gyro_range_dps is not None:
        cmds.append(gyro_subscribe(imu, packed))
    cmds.append(acc_enable(imu))
    if gyro_range_dps is not None:
        cmds.append(gyro_enable(imu))
    cmds.append(acc_start(imu, odr_hz))
    if gyro_range_dps is not None:
        cmds.append(gyro_start(imu))
    return cmds


def stop_streaming(imu: Imu, gyro: bool, packed: bool = True) -> list[bytes]:
    """The commands to stop: stop, disable sampling, unsubscribe (acc, then gyro)."""
    imu = Imu(imu)
    cmds = [acc_stop(imu)]
    if gyro:
        cmds.append(gyro_stop(imu))
    cmds.append(acc_disable(imu))
    if gyro:
        cmds.append(gyro_disable(imu))
    cmds.append(acc_subscribe(imu, packed, on=False))
    if gyro:
        cmds.append(gyro_subscribe(imu, packed, on=False))
    return cmds


# ------------------------------------------------------------------------ messages


class SensorData(msgspec.Struct, frozen=True, gc=False):
    """Accelerometer or gyro samples of one notification.

    ``samples`` is ``(1, 3)`` (single) or ``(3, 3)`` (packed, oldest first) int16 counts,
    a view of the decoded buffer.
    """

    module: int
    register: int
    samples: Samples

    @property
    def packed(self) -> bool:
        return int(self.samples.shape[0]) == 3

    @property
    def is_gyro(self) -> bool:
        return self.module == Module.GYRO


class ModuleInfo(msgspec.Struct, frozen=True):
    """The answer to the module-info probe; ``implementation`` and ``revision`` are None
    when the module is absent (a 2-byte answer)."""

    module: int
    implementation: int | None = None
    revision: int | None = None
    extra: bytes = b""

    @property
    def present(self) -> bool:
        return self.implementation is not None


class Notification(msgspec.Struct, frozen=True, gc=False):
    """Any other notification, opaque: ``register`` is the raw byte (bit 7 = a read)."""

    module: int
    register: int
    payload: bytes = b""

    @property
    def read(self) -> bool:
        return bool(self.register & READ_BIT)


class CommandMsg(msgspec.Struct, frozen=True, gc=False):
    """A command as the sensor receives it: ``register`` without the read bit."""

    module: int
    register: int
    read: bool
    params: bytes = b""


Message: TypeAlias = SensorData | ModuleInfo | Notification | CommandMsg


def imu_of(info: ModuleInfo) -> Imu:
    """The chip a module-info answer of the accelerometer or gyro names.

    Raises ProtocolError (at the implementation byte) for an absent module or a chip this
    codec does not speak (MMA8452Q and BMA255 boards)."""
    if info.module not in (Module.ACCELEROMETER, Module.GYRO):
        raise ProtocolError(0, f"module 0x{info.module:02x} is not the accelerometer or gyro")
    name = "accelerometer" if info.module == Module.ACCELEROMETER else "gyro"
    if info.implementation is None:
        raise ProtocolError(2, f"the board has no {name}")
    table = ACC_IMPLEMENTATION if info.module == Module.ACCELEROMETER else GYRO_IMPLEMENTATION
    imu = table.get(info.implementation)
    if imu is None:
        chip = "unknown chip"
        if info.module == Module.ACCELEROMETER:
            chip = _UNSUPPORTED_ACC.get(info.implementation, chip)
        raise ProtocolError(
            2, f"{name} implementation {info.implementation} ({chip}) is not supported"
        )
    return imu


def packed_supported(info: ModuleInfo) -> bool:
    """Whether the module streams packed data (BMI160 boards need revision >= 1)."""
    imu = imu_of(info)
    return imu is Imu.BMI270 or (info.revision or 0) >= PACKED_REVISION


def parse_acc_config(imu: Imu, params: Buffer) -> tuple[float, int]:
    """``(odr_hz, range_g)`` of accelerometer config params (offsets as in the command)."""
    imu = Imu(imu)
    if len(params) != 2:
        raise ProtocolError(2 + min(len(params), 2), "accelerometer config takes 2 bytes")
    odr = {v: k for k, v in ACC_ODR_CODES[imu].items()}.get(params[0])
    if odr is None:
        raise ProtocolError(2, f"unknown {imu.name} accelerometer ODR byte 0x{params[0]:02x}")
    rng = {v: k for k, v in ACC_RANGE_CODES[imu].items()}.get(params[1])
    if rng is None:
        raise ProtocolError(3, f"unknown {imu.name} accelerometer range byte 0x{params[1]:02x}")
    return odr, rng


def parse_gyro_config(imu: Imu, params: Buffer) -> tuple[float, int]:
    """``(odr_hz, range_dps)`` of gyro config params (offsets as in the command)."""
    imu = Imu(imu)
    if len(params) != 2:
        raise ProtocolError(2 + min(len(params), 2), "gyro config takes 2 bytes")
    odr = {v: k for k, v in GYRO_ODR_CODES.items()}.get(params[0])
    if odr is None:
        raise ProtocolError(2, f"unknown {imu.name} gyro ODR byte 0x{params[0]:02x}")
    rng = {v: k for k, v in GYRO_RANGE_CODES.items()}.get(params[1])
    if rng is None:
        raise ProtocolError(3, f"unknown {imu.name} gyro range byte 0x{params[1]:02x}")
    return odr, rng


def parse_connection_parameters(params: Buffer) -> tuple[float, float, int, float]:
    """``(min_ms, max_ms, latency, timeout_ms)`` of connection-parameter params."""
    if len(params) != _CONN.size:
        raise ProtocolError(2 + min(len(params), _CONN.size), "connection parameters take 8 bytes")
    lo, hi, latency, timeout = _CONN.unpack(params)
    return lo * _INTERVAL_STEP_MS, hi * _INTERVAL_STEP_MS, latency, timeout * _TIMEOUT_STEP_MS


# -------------------------------------------------------------------------- encode

_SINGLE_SIZE = 2 + 6
_PACKED_SIZE = 2 + 18
_I16 = np.dtype("<i2")


def _sample_bytes(samples: npt.ArrayLike, packed: bool) -> bytes:
    arr = np.asarray(samples)
    rows = 3 if packed else 1
    if arr.shape != (rows, 3):
        raise ValueError(
            f"{'packed' if packed else 'single'} data takes ({rows}, 3), got {arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"samples must be integer counts, got {arr.dtype}")
    if arr.size and (int(arr.min()) < -32768 or int(arr.max()) > 32767):
        raise ValueError("samples must fit int16")
    return arr.astype(_I16).tobytes()


def encode_acc(imu: Imu, samples: npt.ArrayLike, packed: bool) -> bytes:
    """An accelerometer notification: ``(1, 3)`` counts single, ``(3, 3)`` packed."""
    regs = ACC_REGISTERS[Imu(imu)]
    reg = regs.packed if packed else regs.data
    return bytes((Module.ACCELEROMETER, reg)) + _sample_bytes(samples, packed)


def encode_gyro(imu: Imu, samples: npt.ArrayLike, packed: bool) -> bytes:
    """A gyro notification: ``(1, 3)`` counts single, ``(3, 3)`` packed."""
    regs = GYRO_REGISTERS[Imu(imu)]
    reg = regs.packed if packed else regs.data
    return bytes((Module.GYRO, reg)) + _sample_bytes(samples, packed)


def encode_module_info(
    module: int, implementation: int | None = None, revision: int = 0, extra: bytes = b""
) -> bytes:
    """The answer to ``[module, 0x80]``; ``implementation=None``: the module is absent."""
    if implementation is None:
        if extra:
            raise ValueError("an absent module has no extra bytes")
        return bytes((module, INFO_REGISTER))
    return bytes((module, INFO_REGISTER, implementation, revision)) + bytes(extra)


def encode(msg: Message) -> bytes:
    """Encode any message to its wire bytes."""
    if isinstance(msg, SensorData):
        body = _sample_bytes(msg.samples, msg.packed)
        return bytes((msg.module, msg.register)) + body
    if isinstance(msg, ModuleInfo):
        return encode_module_info(msg.module, msg.implementation, msg.revision or 0, msg.extra)
    if isinstance(msg, Notification):
        return bytes((msg.module, msg.register)) + msg.payload
    if isinstance(msg, CommandMsg):
        reg = msg.register | (READ_BIT if msg.read else 0)
        return bytes((msg.module, reg)) + msg.params
    raise TypeError(f"cannot encode {type(msg).__name__}")


# -------------------------------------------------------------------------- decode


def _key(module: int, register: int) -> int:
    return module << 8 | register


def _layouts(imu: Imu) -> dict[int, int]:
    acc, gyro = ACC_REGISTERS[imu], GYRO_REGISTERS[imu]
    return {
        _key(Module.ACCELEROMETER, acc.data): 1,
        _key(Module.ACCELEROMETER, acc.packed): 3,
        _key(Module.GYRO, gyro.data): 1,
        _key(Module.GYRO, gyro.packed): 3,
    }


#: (module, register) -> samples per notification, per chip and for an unknown chip:
#: only ``13 05`` differs in meaning between the chips (no other data register collides).
_DATA_LAYOUT: dict[Imu | None, dict[int, int]] = {imu: _layouts(imu) for imu in Imu}
_DATA_LAYOUT[None] = {
    k: n
    for k, n in {**_DATA_LAYOUT[Imu.BMI160], **_DATA_LAYOUT[Imu.BMI270]}.items()
    if k != _key(Module.GYRO, 5)
}


def _decode_info(view: Buffer) -> tuple[ModuleInfo, int]:
    n = len(view)
    if n == 2:
        return ModuleInfo(view[0]), 2
    if n == 3:
        raise ProtocolError(2, "module info has an implementation byte but no revision")
    return ModuleInfo(view[0], view[2], view[3], bytes(view[4:])), n


def decode(
    view: Buffer, imu: Imu | None = None
) -> tuple[SensorData | ModuleInfo | Notification, int]:
    """Decode one notification (the whole view): ``(message, nbytes)``.

    Data registers of ``imu`` (or, without it, those that mean the same on both chips)
    give :class:`SensorData`; ``[module, 0x80, ...]`` a :class:`ModuleInfo`; anything else
    an opaque :class:`Notification`.  A data notification shorter than its fixed size is
    IncompletePacket; longer, a ProtocolError at its first extra byte.
    """
    n = len(view)
    if n < 2:
        raise IncompletePacket(2, n)
    module, register = view[0], view[1]
    rows = _DATA_LAYOUT[imu].get(module << 8 | register)
    if rows is not None:
        size = 2 + 6 * rows
        if n < size:
            raise IncompletePacket(size, n)
        if n > size:
            kind = "packed" if rows == 3 else "single"
            raise ProtocolError(size, f"{kind} data notification is {size} bytes, got {n}")
        samples = np.frombuffer(view, dtype=_I16, count=3 * rows, offset=2).reshape(rows, 3)
        return SensorData(module, register, samples), size
    if register == INFO_REGISTER:
        return _decode_info(view)
    return Notification(module, register, bytes(view[2:])), n


def _command_sizes(imu: Imu | None) -> dict[int, int]:
    """(module, register | read bit) -> parameter bytes, for the commands this codec knows."""
    sizes = {
        _key(Module.ACCELEROMETER, 1): 1,
        _key(Module.ACCELEROMETER, 2): 2,
        _key(Module.ACCELEROMETER, 3): 2,
        _key(Module.ACCELEROMETER, 4): 1,
        _key(Module.ACCELEROMETER, READ_BIT | 3): 0,
        _key(Module.GYRO, 1): 1,
        _key(Module.GYRO, 2): 2,
        _key(Module.GYRO, 3): 2,
        _key(Module.GYRO, READ_BIT | 3): 0,
        _key(Module.SETTINGS, SETTINGS_CONNECTION_PARAMS): _CONN.size,
    }
    chips = list(Imu) if imu is None else [imu]
    for chip in chips:
        sizes[_key(Module.GYRO, GYRO_REGISTERS[chip].data)] = 1
        sizes[_key(Module.GYRO, GYRO_REGISTERS[chip].packed)] = 1
    sizes[_key(Module.ACCELEROMETER, 0x1C)] = 1  # BMI160 packed; not a BMI270 register
    if imu is Imu.BMI270:
        sizes[_key(Module.ACCELEROMETER, 0x05)] = 1  # packed (on the BMI160: another config)
    return sizes


_COMMAND_SIZES: dict[Imu | None, dict[int, int]] = {
    None: _command_sizes(None),
    **{imu: _command_sizes(imu) for imu in Imu},
}


def decode_command(view: Buffer, imu: Imu | None = None) -> tuple[CommandMsg, int]:
    """Decode one command write (the whole view): ``(CommandMsg, nbytes)``.

    The module-info probe takes no parameters; the accelerometer, gyro and connection
    commands above take a fixed number (a wrong count is a ProtocolError where the
    parameters stop matching); other commands pass with whatever they carry.
    """
    n = len(view)
    if n < 2:
        raise IncompletePacket(2, n)
    module, reg_byte = view[0], view[1]
    have = n - 2
    need = 0 if reg_byte == INFO_REGISTER else _COMMAND_SIZES[imu].get(module << 8 | reg_byte)
    if need is not None and have != need:
        what = "module-info probe" if reg_byte == INFO_REGISTER else "command"
        raise ProtocolError(
            2 + min(have, need),
            f"{what} {module:02x} {reg_byte:02x} takes {need} parameter bytes, got {have}",
        )
    read = bool(reg_byte & READ_BIT)
    return CommandMsg(module, reg_byte & 0x7F, read, bytes(view[2:])), n


# -------------------------------------------------------------------------- stream


@dataclass(frozen=True, slots=True)
class Placement:
    """How a stream restart was placed (for logs and tests).

    Attributes
    ----------
    index
        The index given to the first sample after the restart.
    estimate
        The unrounded estimate it came from (``index`` is it rounded, never below the
        first index not yet used).
    rate_ppm
        How much longer than nominal the device's sample period is in host time, as the
        envelope fit found it (parts per million; negative: the device runs fast; 0 when
        the history could not tell).
    history_packets, anchor_packets
        Packets in the envelope before the outage and in the anchor after it.
    """

    index: int
    estimate: float
    rate_ppm: float
    history_packets: int
    anchor_packets: int


_EMPTY = np.empty((0, 3), dtype=np.int16)
#: The envelope fit must touch the points with no gap wider than this part of its window.
_FIT_MAX_GAP = 0.4


class MetaWearStream:
    """One MetaWear sensor's notifications -> :class:`SampleBlock` values (sans-IO).

    Parameters
    ----------
    imu
        The board's chip (decides the data registers).
    odr_hz
        The accelerometer's (and gyro's) output data rate.
    acc_range_g, gyro_range_dps
        The configured ranges; ``gyro_range_dps=None`` streams the accelerometer alone.
    anchor_s
        After a restart, how long (host time, from the first new packet) to hold the new
        samples while their delivery envelope is measured.
    window_s
        How far back the envelope of the packets before an outage reaches.
    max_rate_error
        Largest device-rate error the envelope fit may report (fraction); a fit beyond
        it, or over less than 2 s of packets, falls back to the nominal rate.

    Pairing and indices
    -------------------
    Accelerometer and gyro arrive as separate notifications.  The k-th accelerometer
    sample since the stream (re)started pairs with the k-th gyro sample; a pair is emitted
    once both halves are in, as ``(n, 6)`` int16 ``(ax, ay, az, gx, gy, gz)`` in the chip's
    counts (``acc_scale_g`` g and ``gyro_scale_dps`` dps per LSB); ``(n, 3)`` without the
    gyro.  A half waiting more than about a second for its partner is dropped (its index
    becomes a gap).  The index is the sample count since the start; ``device_t_us`` is
    ``round(index * 1e6 / odr_hz)``: the stream has no device clock.

    Restart placement
    -----------------
    After a reconnect the host restarts streaming and the counts start again at 0; what
    the sensor sampled meanwhile never arrives.  The first new index is placed from host
    arrival times.  Every accelerometer packet is a point (index of its last sample,
    arrival time); arrival - index x period is the device's time offset plus that packet's
    latency, so the lower envelope of these points is the offset plus the minimum latency.
    Before the outage the envelope is a line under the last ``window_s`` of points: its
    slope is the device's rate error against the host clock (about 0.5 % between two
    boards has been reported [3P]; with the nominal period alone a 0.3 % error put the
    index about 20 samples off after a 3 s outage, below), its height the offset (see
    ``_fit``).  After the restart the first ``anchor_s`` of blocks are held until the
    minimum of arrival - local index x period over the new packets is known; the index
    that puts that minimum on the old line (rounded, never below the first index not yet
    used) is the first new index; then the stream runs normally.  ``samples_lost`` counts
    the index gaps (the samples the outage took); ``placements`` records each placement.

    How exact: off by (new minimum latency - old minimum latency) / period, plus the rate
    error left over the outage.  Measured on synthetic streams (200 Hz packed acc+gyro, 15
    ms connection events, arrival = next event after a packet's third sample + 0-2 ms, 30
    seeds each, ``tests/unit/test_metawear.py``):

    * same connection-event phase and packet framing after a 3 s (30 s) outage: exact in
      every seed, unrounded estimate within 0.019 (0.026) samples.  Both minima are the
      jitter floor to within ~2 ms / packets-in-the-window.
    * a new connection-event phase (what a real reconnect brings): exact in 20 %, off by
      up to 3 samples.  At 200 Hz the packet rate (3 samples / 15 ms) locks to the event
      grid, so the latency floor is set by the connection's phase against the sample
      clock, and a new connection has a new phase: the error is bounded by about
      +-interval / period samples (+-3 here, +-1.5 at 7.5 ms) and arrival times cannot
      remove it.
    * a device 0.5 % fast (0.3 % slow), 40 s before a 3 s outage: the fit finds the rate
      within 30 ppm (160 ppm after only 10 s); with the 1 s anchor the index is exact in
      60 % (47 %), off by up to 2; with an anchor longer than one phase sweep (packet
      interval / rate error per packet: 3 s at 0.5 %, 5 s at 0.3 %; tried 4 s and 6 s) it
      is exact in every seed, also after only 10 s of history.  So raise ``anchor_s`` for
      boards that drift.  With the nominal period alone the same runs are 6-9 (18-21)
      samples off.
    * a drift too slow to show in the window (0.02 %: a sweep takes 75 s) is not fitted;
      after a 30 s outage it put the index up to 3 off (exact in 67 %).

    Host timestamps must be monotonic; their own jitter (event loop) adds to the delivery
    jitter.  Deterministic: the same (t, bytes) in the same order give the same blocks.
    """

    #: For ``pipeline.vendor.FamilyStream``: a notification every few ms (packed: 3
    #: samples), so the clock map's default 5 s windows hold hundreds of arrivals, and
    #: nothing is batched.
    clock_window_s = 5.0
    batching = False

    def __init__(
        self,
        imu: Imu,
        odr_hz: float,
        acc_range_g: int,
        gyro_range_dps: int | None,
        *,
        anchor_s: float = 1.0,
        window_s: float = 30.0,
        max_rate_error: float = 0.02,
    ) -> None:
        self.imu = Imu(imu)
        _check(odr_hz, ACC_ODR_CODES[self.imu], f"{self.imu.name} accelerometer ODR", "Hz")
        _check(acc_range_g, ACC_RANGE_CODES[self.imu], "accelerometer range", "g")
        if gyro_range_dps is not None:
            _check(odr_hz, GYRO_ODR_CODES, f"{self.imu.name} gyro ODR", "Hz")
            _check(gyro_range_dps, GYRO_RANGE_CODES, "gyro range", "dps")
        if anchor_s < 0 or window_s <= 0 or not 0 <= max_rate_error < 0.5:
            raise ValueError("anchor_s >= 0, window_s > 0 and 0 <= max_rate_error < 0.5")
        self.odr_hz = float(odr_hz)
        self.period_s = 1.0 / self.odr_hz
        self.acc_range_g = acc_range_g
        self.gyro_range_dps = gyro_range_dps
        self.acc_scale_g = acc_scale_g(acc_range_g)
        self.gyro_scale_dps: float | None = (
            None if gyro_range_dps is None else gyro_scale_dps(gyro_range_dps)
        )
        self.channels = 3 if gyro_range_dps is None else 6
        self.anchor_s = anchor_s
        self.window_s = window_s
        self.max_rate_error = max_rate_error
        #: Samples lost so far: the gaps between consecutive blocks' indices.
        self.samples_lost = 0
        #: Notifications that were not this stream's data (answers, other modules).
        self.ignored = 0
        #: Every restart placement so far.
        self.placements: list[Placement] = []
        self._max_pending = max(8, math.ceil(self.odr_hz))
        self._history: deque[tuple[int, float]] = deque()
        self._next_index = 0  # first index no block has used yet
        self._floor = 0  # lowest index a placed restart may take
        # the current segment (since the start or the last restart), local indices
        self._acc: Samples = _EMPTY  # accelerometer rows waiting for their gyro partner
        self._gyro: Samples = _EMPTY
        self._acc_head = 0  # local index of the first pending row
        self._gyro_head = 0
        self._acc_n = 0  # samples received in this segment
        self._gyro_n = 0
        self._paired = 0  # local index up to which pairs were made
        self._held: list[tuple[int, Samples]] = []  # pairs held while anchoring
        self._anchor: list[tuple[int, float]] = []  # (local last index, arrival) while anchoring
        self._base: int | None = 0  # global index of this segment's local 0; None: anchoring

    # ----------------------------------------------------------------- public

    def restart(self, t_host_s: float) -> None:
        """The link dropped, or the host is restarting the stream: the counts start again
        and the next samples are placed from their arrival times.  Call it before the
        first notification of the new connection (none of the old one may follow)."""
        del t_host_s  # placement uses the arrivals of the new packets, not this time
        if self._base is not None:
            self._floor = max(self._next_index, self._base + max(self._acc_n, self._gyro_n))
        # held samples of an unfinished anchor are dropped: they become part of the gap
        self._reset_segment()
        self._base = None if self._history else self._floor

    def feed(self, t_host_s: float, data: Buffer) -> list[SampleBlock]:
        """One notification, arrived at host time ``t_host_s`` (seconds, monotonic).

        Raises IncompletePacket / ProtocolError for a malformed data notification; other
        notifications (answers, other modules) are counted in ``ignored``."""
        msg, _ = decode(data, self.imu)
        if not isinstance(msg, SensorData) or (msg.is_gyro and self.channels == 3):
            self.ignored += 1
            return []
        samples = msg.samples
        n = int(samples.shape[0])
        if msg.is_gyro:
            self._gyro = np.concatenate((self._gyro, samples))
            self._gyro_n += n
        else:
            self._acc = np.concatenate((self._acc, samples))
            self._acc_n += n
            self._point(self._acc_n - 1, t_host_s)
        chunks = self._pair()
        if self._base is not None:
            return [self._block(self._base + start, arr) for start, arr in chunks]
        self._held.extend(chunks)
        if self._anchor and t_host_s - self._anchor[0][1] >= self.anchor_s:
            return self._place()
        return []

    # ---------------------------------------------------------------- private

    def _reset_segment(self) -> None:
        self._acc = self._gyro = _EMPTY
        self._acc_head = self._gyro_head = 0
        self._acc_n = self._gyro_n = 0
        self._paired = 0
        self._held = []
        self._anchor = []

    def _point(self, local_last: int, t: float) -> None:
        if self._base is None:
            self._anchor.append((local_last, t))
            return
        self._history.append((self._base + local_last, t))
        while self._history and t - self._history[0][1] > self.window_s:
            self._history.popleft()

    def _pair(self) -> list[tuple[int, Samples]]:
        if self.channels == 3:
            start, arr = self._acc_head, self._acc
            self._acc, self._acc_head = _EMPTY, self._acc_n
            return [(start, arr)] if len(arr) else []
        end = min(self._acc_n, self._gyro_n)
        start = max(self._paired, self._acc_head, self._gyro_head)
        out: list[tuple[int, Samples]] = []
        if end > start:
            acc = self._acc[start - self._acc_head : end - self._acc_head]
            gyro = self._gyro[start - self._gyro_head : end - self._gyro_head]
            out.append((start, np.concatenate((acc, gyro), axis=1)))
        if end > self._paired:
            self._paired = end
        # drop what is paired, and halves that waited too long for their partner
        keep_acc = max(self._paired, self._acc_n - self._max_pending)
        keep_gyro = max(self._paired, self._gyro_n - self._max_pending)
        if keep_acc > self._acc_head:
            self._acc = self._acc[keep_acc - self._acc_head :]
            self._acc_head = keep_acc
        if keep_gyro > self._gyro_head:
            self._gyro = self._gyro[keep_gyro - self._gyro_head :]
            self._gyro_head = keep_gyro
        return out

    def _block(self, first: int, samples: Samples) -> SampleBlock:
        if first > self._next_index:
            self.samples_lost += first - self._next_index
        self._next_index = first + int(samples.shape[0])
        clipped = bool(samples.size) and (
            int(samples.max()) >= 32767 or int(samples.min()) <= -32767
        )
        return SampleBlock(
            first, round(first * 1e6 / self.odr_hz), np.ascontiguousarray(samples), clipped
        )

    def _fit(self) -> tuple[float, float]:
        """The envelope line of the history, ``residual = a + b * index`` with residual =
        arrival - index x period: ``b`` is the rate error (seconds per sample), ``a`` the
        offset of the supporting line of that slope (no point below it).

        The slope is that of the lower convex hull's edge over the mean index (the line
        that minimises the summed distance to all points while staying below them).  It
        is trusted only over >= 2 s of packets, within ``max_rate_error``, and when the
        points touching the line (within ``max(0.5 ms, period / 4)``) leave no gap wider
        than 0.4 of the window.  Arrivals sit on the connection-event grid, so with a
        drifting device the residuals are a staircase whose step ends touch the true line
        once per phase sweep; an edge across a single riser touches only at its two ends
        and leaves about half the window untouched.  Otherwise the nominal rate is used.
        """
        pts = [(float(x), t - x * self.period_s) for x, t in self._history]
        if not pts:  # not reached: a restart with no history places at once
            return 0.0, 0.0
        x_first, x_last = pts[0][0], pts[-1][0]
        b = 0.0
        if (x_last - x_first) * self.period_s >= 2.0:
            hull: list[tuple[float, float]] = []  # lower convex hull, x increasing
            for p in pts:
                while len(hull) >= 2:
                    (ox, oy), (hx, hy) = hull[-2], hull[-1]
                    if (hx - ox) * (p[1] - oy) - (hy - oy) * (p[0] - ox) > 0:
                        break
                    hull.pop()
                hull.append(p)
            mean_x = sum(x for x, _ in pts) / len(pts)
            k = 0
            while k < len(hull) - 2 and hull[k + 1][0] <= mean_x:
                k += 1
            (x0, y0), (x1, y1) = hull[k], hull[k + 1]
            slope = (y1 - y0) / (x1 - x0)
            if abs(slope) <= self.max_rate_error * self.period_s:
                a = min(y - slope * x for x, y in pts)
                tol = max(0.5e-3, self.period_s / 4)
                touched = [x for x, y in pts if y - a - slope * x <= tol]
                edges = [x_first, *touched, x_last]
                widest = max(hi - lo for lo, hi in itertools.pairwise(edges))
                if widest <= _FIT_MAX_GAP * (x_last - x_first):
                    b = slope
        return min(y - b * x for x, y in pts), b

    def _place(self) -> list[SampleBlock]:
        a, b = self._fit()
        period = self.period_s + b
        new_floor = min(t - j * period for j, t in self._anchor)
        estimate = (new_floor - a) / period
        index = max(self._floor, math.floor(estimate + 0.5))
        self.placements.append(
            Placement(
                index, estimate, b / self.period_s * 1e6, len(self._history), len(self._anchor)
            )
        )
        self._base = index
        anchor, self._anchor = self._anchor, []
        for j, t in anchor:
            self._point(j, t)
        held, self._held = self._held, []
        blocks: list[SampleBlock] = []
        run: list[Samples] = []  # consecutive held chunks become one block
        run_start = run_end = 0
        for start, arr in held:
            if run and start != run_end:
                blocks.append(self._block(index + run_start, np.concatenate(run)))
                run = []
            if not run:
                run_start = start
            run.append(arr)
            run_end = start + len(arr)
        if run:
            blocks.append(self._block(index + run_start, np.concatenate(run)))
        return blocks


__all__ = [
    "ACC_IMPLEMENTATION",
    "ACC_ODR_CODES",
    "ACC_RANGE_CODES",
    "ACC_REGISTERS",
    "COMMAND_CHAR",
    "DEVICE_INFO_SERVICE",
    "FIRMWARE_REVISION_CHAR",
    "GYRO_IMPLEMENTATION",
    "GYRO_LSB_PER_DPS",
    "GYRO_ODR_CODES",
    "GYRO_RANGE_CODES",
    "GYRO_REGISTERS",
    "HARDWARE_REVISION_CHAR",
    "MANUFACTURER_CHAR",
    "MODEL_NUMBER_CHAR",
    "NOTIFY_CHAR",
    "SERIAL_NUMBER_CHAR",
    "SERVICE_UUID",
    "CommandMsg",
    "Imu",
    "MetaWearStream",
    "Module",
    "ModuleInfo",
    "Notification",
    "Placement",
    "Registers",
    "SensorData",
    "acc_config",
    "acc_disable",
    "acc_enable",
    "acc_lsb_per_g",
    "acc_scale_g",
    "acc_start",
    "acc_stop",
    "acc_subscribe",
    "connection_parameters",
    "decode",
    "decode_command",
    "encode",
    "encode_acc",
    "encode_gyro",
    "encode_module_info",
    "gyro_config",
    "gyro_disable",
    "gyro_enable",
    "gyro_scale_dps",
    "gyro_start",
    "gyro_stop",
    "gyro_subscribe",
    "imu_of",
    "module_info_probe",
    "packed_supported",
    "parse_acc_config",
    "parse_connection_parameters",
    "parse_gyro_config",
    "start_streaming",
    "stop_streaming",
]
