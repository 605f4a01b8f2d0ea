"""RSC: the worked example, round trips, prefixes, malformed tables, cadence, fuzz."""

from __future__ import annotations

import numpy as np
import pytest

from sensorhub.errors import IncompletePacket, ProtocolError
from sensorhub.protocol import rsc
from sensorhub.protocol.rsc import (
    ControlOp,
    ControlRequest,
    ControlResponse,
    ControlResult,
    Location,
    RscFeature,
    RscMeasurement,
)
from tests.fuzzing import mutated

EXAMPLE = bytes.fromhex("07 80 03 5A E9 00 79 CC 00 00")


def test_uuids() -> None:
    assert rsc.SERVICE_UUID == "00001814-0000-1000-8000-00805f9b34fb"
    assert rsc.MEASUREMENT_UUID == "00002a53-0000-1000-8000-00805f9b34fb"
    assert rsc.FEATURE_UUID == "00002a54-0000-1000-8000-00805f9b34fb"
    assert rsc.LOCATION_UUID == "00002a5d-0000-1000-8000-00805f9b34fb"
    assert rsc.CONTROL_POINT_UUID == "00002a55-0000-1000-8000-00805f9b34fb"


def test_worked_example() -> None:
    m, n = rsc.decode_measurement(EXAMPLE)
    assert n == 10
    assert m.running is True
    assert m.speed_m_s == 3.5
    assert m.cadence_raw == 90
    assert m.stride_m == pytest.approx(2.33)
    assert m.distance_m == pytest.approx(5234.5)
    assert rsc.encode_measurement(m) == EXAMPLE
    assert rsc.steps_per_min(m.cadence_raw, running=m.running) == (180, True)


MEASUREMENTS = [
    RscMeasurement(0.0, 0, running=False),
    RscMeasurement(3.5, 90, 2.33, 5234.5, True),
    RscMeasurement(65535 / 256, 255, None, 0.0, True),
    RscMeasurement(4.25, 182, 1.2, None, False),
    RscMeasurement(1 / 256, 1, 655.35, 429496729.5, True),
]


@pytest.mark.parametrize("m", MEASUREMENTS)
def test_measurement_round_trip_and_prefixes(m: RscMeasurement) -> None:
    wire = rsc.encode_measurement(m)
    back, n = rsc.decode_measurement(wire)
    assert n == len(wire) == rsc.measurement_size(wire[0])
    assert (back.speed_m_s, back.cadence_raw, back.running) == (
        m.speed_m_s,
        m.cadence_raw,
        m.running,
    )
    for got, want in ((back.stride_m, m.stride_m), (back.distance_m, m.distance_m)):
        assert (got is None) == (want is None)
        assert got == pytest.approx(want)
    assert rsc.encode_measurement(back) == wire
    # trailing bytes are not the measurement's
    assert rsc.decode_measurement(wire + b"\xaa\xbb")[1] == len(wire)
    # the flags say the length: every prefix is incomplete, with that length needed
    for cut in range(len(wire)):
        with pytest.raises(IncompletePacket) as e:
            rsc.decode_measurement(wire[:cut])
        assert e.value.needed == (4 if cut == 0 else len(wire)) and e.value.have == cut


def test_every_flag_combination() -> None:
    for flags in range(8):
        size = rsc.measurement_size(flags)
        wire = bytes([flags]) + bytes(range(1, size))
        m, n = rsc.decode_measurement(wire)
        assert n == size
        assert (m.stride_m is not None) == bool(flags & 1)
        assert (m.distance_m is not None) == bool(flags & 2)
        assert m.running is bool(flags & 4)
        assert rsc.encode_measurement(m) == wire


def test_running_needs_the_feature() -> None:
    without = RscFeature(stride_length=True, total_distance=True)
    assert rsc.decode_measurement(EXAMPLE, feature=without)[0].running is None
    with_status = RscFeature(walking_running=True)
    assert rsc.decode_measurement(EXAMPLE, feature=with_status)[0].running is True
    # None is sent as the walking bit
    assert rsc.encode_measurement(RscMeasurement(1.0, 80))[0] == 0


@pytest.mark.parametrize("flags", [0x08, 0x10, 0x20, 0x40, 0x80, 0xFF, 0x0F])
def test_reserved_flags(flags: int) -> None:
    for tail in (b"", bytes(9)):
        with pytest.raises(ProtocolError) as e:
            rsc.decode_measurement(bytes([flags]) + tail)
        assert e.value.offset == 0


@pytest.mark.parametrize(
    "m",
    [
        RscMeasurement(-0.01, 90),
        RscMeasurement(256.0, 90),
        RscMeasurement(3.0, 256),
        RscMeasurement(3.0, -1),
        RscMeasurement(3.0, 90, stride_m=655.36),
        RscMeasurement(3.0, 90, stride_m=-1.0),
        RscMeasurement(3.0, 90, distance_m=429496729.6),
    ],
)
def test_encode_rejects(m: RscMeasurement) -> None:
    with pytest.raises(ValueError):
        rsc.encode_measurement(m)


# ----------------------------------------------------------------- feature, location


def test_feature() -> None:
    for bits in [0x0000, 0x001F, 0x0005, 0x0012, 0x8001]:
        wire = bits.to_bytes(2, "little")
        f, n = rsc.decode_feature(wire)
        assert n == 2 and rsc.encode_feature(f) == wire
        assert f.stride_length == bool(bits & 1) and f.multiple_locations == bool(bits & 0x10)
        assert f.reserved == bits & ~0x1F
    assert rsc.decode_feature(b"\x07\x00")[0] == RscFeature(True, True, True)
    for cut in (0, 1):
        with pytest.raises(IncompletePacket) as e:
            rsc.decode_feature(b"\x07\x00"[:cut])
        assert e.value.needed == 2
    with pytest.raises(ValueError):
        rsc.encode_feature(RscFeature(reserved=0x01))


def test_location() -> None:
    assert rsc.decode_location(b"\x01") == (Location.TOP_OF_SHOE, 1)
    assert rsc.decode_location(b"\x02") == (Location.IN_SHOE, 1)
    assert rsc.decode_location(b"\x0e") == (Location.CHEST, 1)
    for loc in Location:
        assert rsc.decode_location(rsc.encode_location(loc)) == (loc, 1)
    with pytest.raises(IncompletePacket):
        rsc.decode_location(b"")
    for bad in (17, 0xFF):
        with pytest.raises(ProtocolError) as e:
            rsc.decode_location(bytes([bad]))
        assert e.value.offset == 0


# ----------------------------------------------------------------- control point

REQUESTS = [
    rsc.set_cumulative(5234.5),
    rsc.set_cumulative(0.0),
    rsc.start_calibration(),
    rsc.update_location(Location.IN_SHOE),
    rsc.request_locations(),
]
RESPONSES = [
    ControlResponse(ControlOp.SET_CUMULATIVE, ControlResult.SUCCESS),
    ControlResponse(ControlOp.START_CALIBRATION, ControlResult.FAILED),
    ControlResponse(ControlOp.UPDATE_LOCATION, ControlResult.INVALID_PARAMETER),
    ControlResponse(ControlOp.REQUEST_LOCATIONS, ControlResult.NOT_SUPPORTED),
    ControlResponse(ControlOp.REQUEST_LOCATIONS, ControlResult.SUCCESS),
    ControlResponse(
        ControlOp.REQUEST_LOCATIONS,
        ControlResult.SUCCESS,
        (Location.TOP_OF_SHOE, Location.IN_SHOE, Location.HIP),
    ),
]


def test_control_point_bytes() -> None:
    assert rsc.encode_request(rsc.set_cumulative(5234.5)) == bytes.fromhex("01 79 CC 00 00")
    assert rsc.encode_request(rsc.update_location(Location.TOP_OF_SHOE)) == b"\x03\x01"
    assert rsc.encode_request(rsc.request_locations()) == b"\x04"
    listed = (Location.TOP_OF_SHOE, Location.IN_SHOE)
    assert rsc.decode_response(bytes.fromhex("10 04 01 01 02")) == (
        ControlResponse(ControlOp.REQUEST_LOCATIONS, ControlResult.SUCCESS, listed),
        5,
    )
    assert rsc.decode_response(bytes.fromhex("10 02 02")) == (
        ControlResponse(ControlOp.START_CALIBRATION, ControlResult.NOT_SUPPORTED),
        3,
    )


@pytest.mark.parametrize("req", REQUESTS, ids=lambda r: r.op.name)
def test_request_round_trip_and_prefixes(req: ControlRequest) -> None:
    wire = rsc.encode_request(req)
    assert rsc.decode_request(wire) == (req, len(wire))
    assert rsc.decode_request(wire + b"\x00")[1] == len(wire)
    for cut in range(len(wire)):
        with pytest.raises(IncompletePacket) as e:
            rsc.decode_request(wire[:cut])
        assert e.value.needed == (1 if cut == 0 else len(wire))


@pytest.mark.parametrize("resp", RESPONSES, ids=lambda r: f"{r.request.name}-{r.result.name}")
def test_response_round_trip_and_prefixes(resp: ControlResponse) -> None:
    wire = rsc.encode_response(resp)
    assert rsc.decode_response(wire) == (resp, len(wire))
    for cut in range(3):
        with pytest.raises(IncompletePacket) as e:
            rsc.decode_response(wire[:cut])
        assert e.value.needed == 3


@pytest.mark.parametrize(
    ("decoder", "wire", "offset"),
    [
        (rsc.decode_request, "00", 0),
        (rsc.decode_request, "05", 0),
        (rsc.decode_request, "10 01 01", 0),  # a response is not a request
        (rsc.decode_request, "03 11", 1),
        (rsc.decode_response, "01 01 01", 0),
        (rsc.decode_response, "11", 0),
        (rsc.decode_response, "10 00", 1),
        (rsc.decode_response, "10 10 01", 1),
        (rsc.decode_response, "10 01 00", 2),
        (rsc.decode_response, "10 01 05", 2),
        (rsc.decode_response, "10 04 01 01 11", 4),
    ],
)
def test_malformed_control_point(decoder: object, wire: str, offset: int) -> None:
    assert callable(decoder)
    with pytest.raises(ProtocolError) as e:
        decoder(bytes.fromhex(wire))
    assert e.value.offset == offset


def test_control_point_encode_rejects() -> None:
    bad_requests = [
        ControlRequest(ControlOp.RESPONSE),
        ControlRequest(ControlOp.SET_CUMULATIVE),
        ControlRequest(ControlOp.SET_CUMULATIVE, cumulative_dm=2**32),
        ControlRequest(ControlOp.START_CALIBRATION, cumulative_dm=1),
        ControlRequest(ControlOp.UPDATE_LOCATION),
        ControlRequest(ControlOp.REQUEST_LOCATIONS, location=Location.HIP),
    ]
    for req in bad_requests:
        with pytest.raises(ValueError):
            rsc.encode_request(req)
    with pytest.raises(ValueError):
        rsc.encode_response(
            ControlResponse(ControlOp.REQUEST_LOCATIONS, ControlResult.FAILED, (Location.HIP,))
        )
    with pytest.raises(ValueError):
        rsc.encode_response(ControlResponse(ControlOp.RESPONSE, ControlResult.SUCCESS))
    with pytest.raises(ValueError):
        rsc.set_cumulative(-1.0)


# ----------------------------------------------------------------- cadence


@pytest.mark.parametrize(
    ("raw", "running", "doubling", "want"),
    [
        (90, True, None, (180, True)),  # a running pod that counts strides
        (119, True, None, (238, True)),
        (120, True, None, (120, False)),  # the bound: 120 is taken as steps
        (176, True, None, (176, False)),  # a running pod that counts steps
        (90, None, None, (180, True)),  # no status: judged as running
        (0, True, None, (0, False)),  # standing
        (55, False, None, (110, True)),  # walking strides
        (105, False, None, (105, False)),  # walking steps
        (69, False, None, (138, True)),
        (70, False, None, (70, False)),
        (176, True, True, (352, True)),  # forced
        (90, True, False, (90, False)),
        (0, None, True, (0, True)),
    ],
)
def test_steps_per_min(
    raw: int, running: bool | None, doubling: bool | None, want: tuple[int, bool]
) -> None:
    assert rsc.steps_per_min(raw, running=running, doubling=doubling) == want


def test_steps_per_min_rejects_negative() -> None:
    with pytest.raises(ValueError):
        rsc.steps_per_min(-1)


# ----------------------------------------------------------------- fuzz

FUZZ_N = 110_000


def test_fuzz() -> None:
    """Random and mutated buffers through every decoder: only IncompletePacket /
    ProtocolError escape, and what decodes encodes back to the bytes it used."""
    rng = np.random.default_rng(1814)
    seeds = [rsc.encode_measurement(m) for m in MEASUREMENTS] + [EXAMPLE]
    seeds += [rsc.encode_request(r) for r in REQUESTS] + [rsc.encode_response(r) for r in RESPONSES]
    seeds += [b"\x1f\x00", b"\x02"]
    codecs = [
        (rsc.decode_measurement, rsc.encode_measurement),
        (rsc.decode_feature, rsc.encode_feature),
        (rsc.decode_location, rsc.encode_location),
        (rsc.decode_request, rsc.encode_request),
        (rsc.decode_response, rsc.encode_response),
    ]
    decoded = 0
    for i in range(FUZZ_N):
        if i % 2:
            buf = rng.integers(0, 256, int(rng.integers(0, 16)), dtype=np.uint8).tobytes()
        else:
            buf = bytes(mutated(rng, seeds, edits=3, append_max=6))
        for decode, encode in codecs:
            try:
                msg, n = decode(buf)  # type: ignore[operator]
            except (IncompletePacket, ProtocolError):
                continue
            decoded += 1
            assert 0 < n <= len(buf)
            assert encode(msg) == buf[:n]  # type: ignore[operator]
    assert decoded > FUZZ_N


@pytest.mark.parametrize(("flags", "needed"), [(0, 4), (1, 6), (2, 8), (3, 10), (4, 4), (7, 10)])
def test_flags_give_the_length(flags: int, needed: int) -> None:
    with pytest.raises(IncompletePacket) as e:
        rsc.decode_measurement(bytes([flags]))
    assert e.value.needed == needed and e.value.have == 1
