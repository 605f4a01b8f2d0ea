"""Sans-IO codec for the Bluetooth SIG Running Speed and Cadence service (RSC, 0x1814).

Footpods (Stryd, Polar Stride, Zwift RunPod, treadmills) notify an RSC Measurement about
once a second: speed, cadence and, if the flags say so, stride length and total
distance.  ``decode_*(view) -> (message, nbytes)`` read one value from the start of a
buffer; ``encode_*`` write one.  All fields are little-endian.

Layouts (RSC service 1.0, checked against several independent parsers; no SIG PDF was at
hand, so the values are marked as such in the notes):

* Measurement ``0x2A53``: ``flags u8`` (bit 0 stride present, bit 1 total distance
  present, bit 2 running (1) / walking (0), bits 3-7 reserved), ``speed u16`` in 1/256
  m/s, ``cadence u8`` per minute, ``[stride u16]`` in 1/100 m, ``[distance u32]`` in
  1/10 m.  The flags give the length, so every shorter prefix is an
  :class:`IncompletePacket` with ``needed`` that length; reserved bits are a
  :class:`ProtocolError` at offset 0.
* Feature ``0x2A54``: ``u16`` bits: stride length, total distance, walking/running status,
  calibration, multiple sensor locations; bits 5-15 reserved (kept, not refused: a
  feature read must not stop a connection).
* Sensor Location ``0x2A5D``: ``u8`` (:class:`Location`).
* SC Control Point ``0x2A55`` (write + indicate): requests ``op u8 [params]``; response
  ``0x10, request op, result u8`` (+ the supported locations after a successful
  REQUEST_LOCATIONS, up to the end of the value).

Cadence caveat: pods disagree on whether the cadence byte counts steps (both feet,
~150-190/min running) or strides (one foot, ~75-95/min).  :func:`steps_per_min` turns it
into steps with a plausibility rule, or a per-device override.
"""

from __future__ import annotations

import enum
import struct
from typing import TypeAlias

import msgspec

from sensorhub.errors import IncompletePacket, ProtocolError

Buffer: TypeAlias = bytes | bytearray | memoryview


def _uuid16(short: int) -> str:
    return f"0000{short:04x}-0000-1000-8000-00805f9b34fb"


SERVICE_UUID = _uuid16(0x1814)
MEASUREMENT_UUID = _uuid16(0x2A53)
FEATURE_UUID = _uuid16(0x2A54)
CONTROL_POINT_UUID = _uuid16(0x2A55)
LOCATION_UUID = _uuid16(0x2A5D)

FLAG_STRIDE = 0x01
FLAG_DISTANCE = 0x02
FLAG_RUNNING = 0x04
FLAGS_KNOWN = FLAG_STRIDE | FLAG_DISTANCE | FLAG_RUNNING

SPEED_UNIT_M_S = 1.0 / 256.0
STRIDE_UNIT_M = 0.01
DISTANCE_UNIT_M = 0.1

_HEAD = struct.Struct("<BHB")  # flags, speed, cadence
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")

# ------------------------------------------------------------------ measurement


class RscMeasurement(msgspec.Struct, frozen=True):
    """One RSC Measurement.

    ``cadence_raw`` is the byte as sent (steps or strides per minute, see
    :func:`steps_per_min`); ``stride_m`` and ``distance_m`` are None when absent;
    ``running`` is None when the pod does not report walking/running (its feature says so).
    """

    speed_m_s: float
    cadence_raw: int
    stride_m: float | None = None
    distance_m: float | None = None
    running: bool | None = None


class RscFeature(msgspec.Struct, frozen=True):
    stride_length: bool = False
    total_distance: bool = False
    walking_running: bool = False
    calibration: bool = False
    multiple_locations: bool = False
    reserved: int = 0  # bits 5-15 as read (0 on every pod the spec knows)


def measurement_size(flags: int) -> int:
    """Length of a measurement with these flags."""
    return _HEAD.size + 2 * bool(flags & FLAG_STRIDE) + 4 * bool(flags & FLAG_DISTANCE)


def decode_measurement(
    view: Buffer, *, feature: RscFeature | None = None
) -> tuple[RscMeasurement, int]:
    """Decode the RSC Measurement at the start of ``view``.

    ``feature`` (from the Feature characteristic), when given without walking/running
    support, makes ``running`` None; otherwise it is the flag bit.
    """
    n = len(view)
    if n < 1:
        raise IncompletePacket(_HEAD.size, n)
    flags = view[0]
    if flags & ~FLAGS_KNOWN:
        raise ProtocolError(0, f"reserved RSC flag bits 0x{flags & ~FLAGS_KNOWN:02x} set")
    total = measurement_size(flags)
    if n < total:
        raise IncompletePacket(total, n)
    _, speed, cadence = _HEAD.unpack_from(view, 0)
    off = _HEAD.size
    stride: float | None = None
    distance: float | None = None
    if flags & FLAG_STRIDE:
        stride = _U16.unpack_from(view, off)[0] * STRIDE_UNIT_M
        off += 2
    if flags & FLAG_DISTANCE:
        distance = _U32.unpack_from(view, off)[0] * DISTANCE_UNIT_M
    running: bool | None = bool(flags & FLAG_RUNNING)
    if feature is not None and not feature.walking_running:
        running = None
    return RscMeasurement(speed * SPEED_UNIT_M_S, cadence, stride, distance, running), total


def _field(value: float, unit: float, bits: int, name: str) -> int:
    raw = round(value / unit)
    if not 0 <= raw < 1 << bits:
        raise ValueError(f"{name} {value!r} is outside 0..{((1 << bits) - 1) * unit:g}")
    return raw


def encode_measurement(m: RscMeasurement) -> bytes:
    """Encode ``m`` (``running`` None is sent as walking, the bit's value when a pod
    cannot tell)."""
    if not 0 <= m.cadence_raw <= 0xFF:
        raise ValueError(f"cadence {m.cadence_raw} is outside 0..255")
    flags = FLAG_RUNNING if m.running else 0
    tail = b""
    if m.stride_m is not None:
        flags |= FLAG_STRIDE
        tail += _U16.pack(_field(m.stride_m, STRIDE_UNIT_M, 16, "stride"))
    if m.distance_m is not None:
        flags |= FLAG_DISTANCE
        tail += _U32.pack(_field(m.distance_m, DISTANCE_UNIT_M, 32, "distance"))
    speed = _field(m.speed_m_s, SPEED_UNIT_M_S, 16, "speed")
    return _HEAD.pack(flags, speed, m.cadence_raw) + tail


# ------------------------------------------------------------------ feature, location


def decode_feature(view: Buffer) -> tuple[RscFeature, int]:
    if len(view) < 2:
        raise IncompletePacket(2, len(view))
    (bits,) = _U16.unpack_from(view, 0)
    return (
        RscFeature(
            stride_length=bool(bits & 0x01),
            total_distance=bool(bits & 0x02),
            walking_running=bool(bits & 0x04),
            calibration=bool(bits & 0x08),
            multiple_locations=bool(bits & 0x10),
            reserved=bits & ~0x1F,
        ),
        2,
    )


def encode_feature(f: RscFeature) -> bytes:
    if f.reserved & 0x1F or not 0 <= f.reserved <= 0xFFFF:
        raise ValueError(f"reserved feature bits 0x{f.reserved:x} overlap the defined ones")
    bits = (
        f.stride_length
        | f.total_distance << 1
        | f.walking_running << 2
        | f.calibration << 3
        | f.multiple_locations << 4
        | f.reserved
    )
    return _U16.pack(bits)


class Location(enum.IntEnum):
    """Sensor Location (GATT assigned numbers, shared with cycling speed and cadence)."""

    OTHER = 0
    TOP_OF_SHOE = 1
    IN_SHOE = 2
    HIP = 3
    FRONT_WHEEL = 4
    LEFT_CRANK = 5
    RIGHT_CRANK = 6
    LEFT_PEDAL = 7
    RIGHT_PEDAL = 8
    FRONT_HUB = 9
    REAR_DROPOUT = 10
    CHAINSTAY = 11
    REAR_WHEEL = 12
    REAR_HUB = 13
    CHEST = 14
    SPIDER = 15
    CHAIN_RING = 16


_LOCATIONS = frozenset(int(v) for v in Location)


def _location(value: int, offset: int) -> Location:
    if value not in _LOCATIONS:
        raise ProtocolError(offset, f"unknown sensor location {value}")
    return Location(value)


def decode_location(view: Buffer) -> tuple[Location, int]:
    if len(view) < 1:
        raise IncompletePacket(1, 0)
    return _location(view[0], 0), 1


def encode_location(loc: Location) -> bytes:
    return bytes((Location(loc),))


# ------------------------------------------------------------------ control point


class ControlOp(enum.IntEnum):
    SET_CUMULATIVE = 0x01  # u32 total distance, 1/10 m
    START_CALIBRATION = 0x02
    UPDATE_LOCATION = 0x03  # u8 location
    REQUEST_LOCATIONS = 0x04
    RESPONSE = 0x10


class ControlResult(enum.IntEnum):
    SUCCESS = 0x01
    NOT_SUPPORTED = 0x02
    INVALID_PARAMETER = 0x03
    FAILED = 0x04


_REQUEST_OPS = frozenset(int(o) for o in ControlOp if o != ControlOp.RESPONSE)
_RESULTS = frozenset(int(r) for r in ControlResult)


class ControlRequest(msgspec.Struct, frozen=True):
    """A write to the SC Control Point.  ``cumulative_dm`` goes with SET_CUMULATIVE,
    ``location`` with UPDATE_LOCATION."""

    op: ControlOp
    cumulative_dm: int | None = None
    location: Location | None = None


class ControlResponse(msgspec.Struct, frozen=True):
    request: ControlOp
    result: ControlResult
    locations: tuple[Location, ...] = ()  # after a successful REQUEST_LOCATIONS


def set_cumulative(distance_m: float) -> ControlRequest:
    return ControlRequest(
        ControlOp.SET_CUMULATIVE, cumulative_dm=_field(distance_m, DISTANCE_UNIT_M, 32, "distance")
    )


def start_calibration() -> ControlRequest:
    return ControlRequest(ControlOp.START_CALIBRATION)


def update_location(location: Location) -> ControlRequest:
    return ControlRequest(ControlOp.UPDATE_LOCATION, location=Location(location))


def request_locations() -> ControlRequest:
    return ControlRequest(ControlOp.REQUEST_LOCATIONS)


def encode_request(req: ControlRequest) -> bytes:
    op = ControlOp(req.op)
    if op == ControlOp.RESPONSE:
        raise ValueError("0x10 is the response op code, not a request")
    if (req.cumulative_dm is not None) != (op == ControlOp.SET_CUMULATIVE):
        raise ValueError("cumulative_dm goes with SET_CUMULATIVE, and only with it")
    if (req.location is not None) != (op == ControlOp.UPDATE_LOCATION):
        raise ValueError("location goes with UPDATE_LOCATION, and only with it")
    if req.cumulative_dm is not None:
        if not 0 <= req.cumulative_dm <= 0xFFFFFFFF:
            raise ValueError(f"cumulative value {req.cumulative_dm} does not fit uint32")
        return bytes((op,)) + _U32.pack(req.cumulative_dm)
    if req.location is not None:
        return bytes((op, Location(req.location)))
    return bytes((op,))


_REQUEST_SIZE = {
    ControlOp.SET_CUMULATIVE: 5,
    ControlOp.START_CALIBRATION: 1,
    ControlOp.UPDATE_LOCATION: 2,
    ControlOp.REQUEST_LOCATIONS: 1,
}


def decode_request(view: Buffer) -> tuple[ControlRequest, int]:
    n = len(view)
    if n < 1:
        raise IncompletePacket(1, n)
    if view[0] not in _REQUEST_OPS:
        raise ProtocolError(0, f"unknown control point request 0x{view[0]:02x}")
    op = ControlOp(view[0])
    size = _REQUEST_SIZE[op]
    if n < size:
        raise IncompletePacket(size, n)
    if op == ControlOp.SET_CUMULATIVE:
        return ControlRequest(op, cumulative_dm=_U32.unpack_from(view, 1)[0]), size
    if op == ControlOp.UPDATE_LOCATION:
        return ControlRequest(op, location=_location(view[1], 1)), size
    return ControlRequest(op), size


def encode_response(resp: ControlResponse) -> bytes:
    req = ControlOp(resp.request)
    if req == ControlOp.RESPONSE:
        raise ValueError("a response answers a request op code")
    listed = req == ControlOp.REQUEST_LOCATIONS and resp.result == ControlResult.SUCCESS
    if resp.locations and not listed:
        raise ValueError("locations go with a successful REQUEST_LOCATIONS only")
    body = bytes(Location(v) for v in resp.locations)
    return bytes((ControlOp.RESPONSE, req, ControlResult(resp.result))) + body


def decode_response(view: Buffer) -> tuple[ControlResponse, int]:
    """Decode a control point indication.  The location list of a successful
    REQUEST_LOCATIONS runs to the end of the value, so that response uses the whole view."""
    n = len(view)
    if n >= 1 and view[0] != ControlOp.RESPONSE:
        raise ProtocolError(0, f"control point response must start 0x10, got 0x{view[0]:02x}")
    if n >= 2 and view[1] not in _REQUEST_OPS:
        raise ProtocolError(1, f"response to unknown request 0x{view[1]:02x}")
    if n >= 3 and view[2] not in _RESULTS:
        raise ProtocolError(2, f"unknown control point result 0x{view[2]:02x}")
    if n < 3:
        raise IncompletePacket(3, n)
    req, result = ControlOp(view[1]), ControlResult(view[2])
    if req == ControlOp.REQUEST_LOCATIONS and result == ControlResult.SUCCESS:
        locations = tuple(_location(view[i], i) for i in range(3, n))
        return ControlResponse(req, result, locations), n
    return ControlResponse(req, result), 3


# ------------------------------------------------------------------ cadence

#: A running pod's cadence below this is taken as strides per minute: running takes at
#: least ~130 steps/min, while running strides are 65-100 per minute.
RUN_STRIDE_MAX = 120
#: The same for walking: walking steps are ~80-130/min, strides ~40-65.
WALK_STRIDE_MAX = 70


def steps_per_min(
    cadence_raw: int, *, doubling: bool | None = None, running: bool | None = None
) -> tuple[int, bool]:
    """Steps per minute from a pod's cadence byte, and whether it was doubled.

    ``doubling`` True or False forces it (a per-device setting).  None (auto): a cadence
    of 1..119 is doubled unless the pod says it is walking (``running`` False), where the
    bound is 1..69; 0 (standing) stays 0.
    """
    if cadence_raw < 0:
        raise ValueError(f"cadence {cadence_raw} is negative")
    if doubling is None:
        bound = WALK_STRIDE_MAX if running is False else RUN_STRIDE_MAX
        doubling = 0 < cadence_raw < bound
    return (2 * cadence_raw if doubling else cadence_raw), doubling
