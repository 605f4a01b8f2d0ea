"""The sensorhub firmware GATT profile: UUIDs, message kinds, layouts and limits.

Everything here is a constant; ``docs/protocol.md`` is the prose version of this file.
All multi-byte fields are little-endian.
"""

from __future__ import annotations

import enum
import struct

#: Protocol version this module speaks (byte 0 of every message).
PROTOCOL_VERSION = 1

_BASE = "5e4b{:04x}-8c1d-4f3a-9b6e-2d7c0a1f3e5b"

#: The sensorhub service, and its characteristics.
SERVICE_UUID = _BASE.format(0x0001)
DATA_CHAR_UUID = _BASE.format(0x0002)  # notify: DataPacket
CONTROL_CHAR_UUID = _BASE.format(0x0003)  # write with response: Command; read/notify: Response
INFO_CHAR_UUID = _BASE.format(0x0004)  # read: DeviceInfo
STATUS_CHAR_UUID = _BASE.format(0x0005)  # read/notify: StatusPacket

#: Company identifier used in the advertisement's manufacturer data (0xFFFF is the
#: Bluetooth SIG's value for tests and development, as this is an open-source profile).
MANUFACTURER_ID = 0xFFFF

#: Manufacturer data in the advertisement (after the company id): ``<BBBB``: protocol
#: version, battery %, mounting, side.  A host lists sensors (with battery) from a scan
#: alone, and can tell a sensor that speaks another protocol version before connecting.
ADVERT = struct.Struct("<BBBB")

#: Largest notification payload: ATT MTU 247 minus the 3-byte ATT header.
MAX_NOTIFICATION = 244


class Kind(enum.IntEnum):
    """Byte 1 of every message: what follows."""

    DATA = 0x01
    STATUS = 0x02
    INFO = 0x03
    COMMAND = 0x10
    RESPONSE = 0x11


class Opcode(enum.IntEnum):
    """Control-point commands."""

    START_STREAM = 0x01
    STOP_STREAM = 0x02
    SET_ODR = 0x03  # payload: u16 output data rate in Hz
    SET_RANGES = 0x04  # payload: u8 accelerometer range g, u16 gyroscope range deg/s
    TIME_SYNC = 0x05  # payload: u32 host token; response: token echoed, u64 device us
    SET_MOUNTING = 0x06  # payload: u8 Mounting, u8 Side
    IDENTIFY = 0x07  # payload: u8 seconds to blink the LED


class ResultCode(enum.IntEnum):
    """Outcome of a command, in every response."""

    OK = 0
    UNSUPPORTED = 1
    INVALID_ARGUMENT = 2
    BUSY = 3


class SensorModel(enum.IntEnum):
    """IMU part on the board."""

    UNKNOWN = 0
    BMI270 = 1
    LSM6DSO = 2
    ICM42688 = 3
    LSM6DS3 = 4  # Movesense
    BMI160 = 5  # MetaMotion R/RL/C
    SIMULATED = 0x7E
    IMPORTED = 0x7F


#: Data packet flags.
FLAG_NO_GYRO = 0x01  # samples are 3 x int16 (accelerometer only)
FLAG_CLIPPED = 0x02  # at least one sample of the packet hit full scale
FLAG_TIME_JUMP = 0x04  # the device clock was stepped since the previous packet
FLAGS_KNOWN = FLAG_NO_GYRO | FLAG_CLIPPED | FLAG_TIME_JUMP

#: Status flags.
STATUS_STREAMING = 0x01
STATUS_CHARGING = 0x02
STATUS_LOW_BATTERY = 0x04
STATUS_FLAGS_KNOWN = STATUS_STREAMING | STATUS_CHARGING | STATUS_LOW_BATTERY

#: ``<BBBBHII``: version, kind, flags, count, seq, first sample index, t_us of first sample.
DATA_HEADER = struct.Struct("<BBBBHII")
DATA_FIELDS = ("version", "kind", "flags", "count", "seq", "first_index", "t_us")


def field_offsets(layout: struct.Struct, names: tuple[str, ...]) -> dict[str, int]:
    """Byte offset of each field of a little-endian struct layout (no padding)."""
    codes = layout.format.lstrip("<")
    assert len(codes) == len(names), (layout.format, names)
    return {n: struct.calcsize("<" + codes[:k]) for k, n in enumerate(names)}


#: Where each header field of a data packet starts: the compiled decoder reads these.
DATA_OFFSET = field_offsets(DATA_HEADER, DATA_FIELDS)
#: ``<BBBBHHIhI``: version, kind, flags, battery %, seq, battery mV, FIFO overflows,
#: temperature in 0.01 degC, device t_us.
STATUS_BODY = struct.Struct("<BBBBHHIhI")
#: ``<BBBBB``: version, kind, opcode, token, payload length.
COMMAND_HEADER = struct.Struct("<BBBBB")
#: ``<BBBBBB``: version, kind, opcode, token, result code, payload length.
RESPONSE_HEADER = struct.Struct("<BBBBBB")
#: Device info: version, kind, firmware major/minor/patch, sensor model, accelerometer range
#: g, gyroscope range deg/s, accelerometer g per LSB, gyroscope deg/s per LSB, ODR in mHz,
#: mounting, side, 6-byte serial, 16-byte UTF-8 name (NUL padded).
INFO_BODY = struct.Struct("<BBBBBBBHffIBB6s16s")
CRC = struct.Struct("<H")
CRC_SIZE = CRC.size

SAMPLE_CHANNELS_IMU = 6
SAMPLE_CHANNELS_ACC = 3
BYTES_PER_VALUE = 2

#: Most samples one data notification can carry, 6-axis and accelerometer-only.
MAX_SAMPLES_IMU = (MAX_NOTIFICATION - DATA_HEADER.size - CRC_SIZE) // (
    SAMPLE_CHANNELS_IMU * BYTES_PER_VALUE
)
MAX_SAMPLES_ACC = (MAX_NOTIFICATION - DATA_HEADER.size - CRC_SIZE) // (
    SAMPLE_CHANNELS_ACC * BYTES_PER_VALUE
)
MAX_PAYLOAD = MAX_NOTIFICATION - RESPONSE_HEADER.size - CRC_SIZE

#: Allowed settings.
ODR_MIN_HZ = 100
ODR_MAX_HZ = 1600
ACC_RANGES_G = (2, 4, 8, 16)
GYRO_RANGES_DPS = (125, 250, 500, 1000, 2000)

#: Wrap-around of the sequence number and the device timestamp.
SEQ_MODULO = 1 << 16
TIME_MODULO_US = 1 << 32
INDEX_MODULO = 1 << 32


def acc_scale_g(range_g: int) -> float:
    """g per LSB for a full-scale accelerometer range (int16 spans +-range)."""
    return range_g / 32768.0


def gyro_scale_dps(range_dps: int) -> float:
    """deg/s per LSB for a full-scale gyroscope range."""
    return range_dps / 32768.0
