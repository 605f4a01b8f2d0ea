"""The pieces every vendor family shares (issue 12): where a sensor is worn, sample
blocks as sensorhub packets, the time-ordered merge for batching sensors, vendor records
in session files, footpod readings as pace events."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from sensorhub.errors import ConfigError
from sensorhub.events import FootStrike, Link, Pace, ToeOff
from sensorhub.pipeline.merge import TimeMerge
from sensorhub.pipeline.session import Processor
from sensorhub.pipeline.vendor import PodStream
from sensorhub.protocol import codec, rsc, spec
from sensorhub.protocol.codec import DataPacket
from sensorhub.protocol.native import Packer
from sensorhub.protocol.vendor import SampleBlock
from sensorhub.recording import (
    RECORD_LINK,
    RECORD_VENDOR,
    SensorEntry,
    SessionHeader,
    SessionReader,
    SessionWriter,
)
from sensorhub.sources.drivers import parse_target, vendor_info
from sensorhub.types import Mounting, Side


@pytest.mark.parametrize(
    ("text", "name", "side", "mount", "pod"),
    [
        ("Polar Sense 1A2B3C4D:left-shin", "Polar Sense 1A2B3C4D", Side.LEFT, Mounting.SHIN, False),
        ("AA:BB:CC:DD:EE:FF:right-shoe", "AA:BB:CC:DD:EE:FF", Side.RIGHT, Mounting.SHOE, False),
        ("AA:BB:CC:DD:EE:FF", "AA:BB:CC:DD:EE:FF", None, None, False),
        ("Movesense 123456789012:shin", "Movesense 123456789012", None, Mounting.SHIN, False),
        ("RunPod 0001:pod", "RunPod 0001", None, None, True),
        ("SH-LSH-0506", "SH-LSH-0506", None, None, False),
    ],
)
def test_where_a_sensor_is_worn_comes_with_its_name(
    text: str, name: str, side: Side | None, mount: Mounting | None, pod: bool
) -> None:
    t = parse_target(text)
    assert (t.name_or_address, t.side, t.mounting, t.pod) == (name, side, mount, pod)


@pytest.mark.parametrize("text", ["", "Polar Sense 1A2B3C4D:left-knee", "Polar:upside-down"])
def test_a_placement_that_is_not_one_is_a_clear_error(text: str) -> None:
    with pytest.raises(ConfigError, match="--sensor"):
        parse_target(text)


def test_blocks_become_consecutive_packets_with_their_indices() -> None:
    rng = np.random.default_rng(3)
    imu = rng.integers(-32768, 32768, (50, 6), dtype=np.int16)
    acc = rng.integers(-32768, 32768, (80, 3), dtype=np.int16)
    packer = Packer(208.0)
    out = packer.pack(SampleBlock(1000, 5_000_000, imu, clipped=True))
    out += packer.pack(SampleBlock(1100, 5_500_000, imu[:7]))  # after 50 lost samples
    decoded = [codec.decode(p)[0] for p in out]
    assert all(isinstance(d, DataPacket) for d in decoded)
    packets = [d for d in decoded if isinstance(d, DataPacket)]
    assert [p.seq for p in packets] == [0, 1, 2, 3]
    assert [p.first_index for p in packets] == [1000, 1019, 1038, 1100]
    assert [p.count for p in packets] == [19, 19, 12, 7]
    assert np.array_equal(np.concatenate([p.samples for p in packets[:3]]), imu)
    assert all(p.flags & spec.FLAG_CLIPPED for p in packets[:3])
    assert not packets[3].flags & spec.FLAG_CLIPPED
    assert packets[1].t_us == 5_000_000 + round(19 * 1e6 / 208)
    (a,) = [codec.decode(p)[0] for p in Packer(100.0).pack(SampleBlock(0, 0, acc[:38]))]
    assert isinstance(a, DataPacket) and a.flags & spec.FLAG_NO_GYRO and a.count == 38


def _strike(t: float, sensor: str) -> FootStrike:
    return FootStrike(t=t, sensor=sensor, side="left" if sensor == "L" else "right")


def test_the_merge_releases_both_feet_in_time_order() -> None:
    m = TimeMerge([0, 1], margin_s=0.5, wait_max_s=3.0)
    # the left sensor delivers a second at once; the right is up to date
    for t in (10.1, 10.45, 10.8):
        m.push(0, 0.0, _strike(t, "L"))
    m.note(0, 11.0, 11.0)
    assert m.release(11.0) == []  # nothing is known of the right foot yet
    m.push(1, 0.0, _strike(10.3, "R"))
    m.push(1, 0.0, ToeOff(t=10.2, sensor="R", side="right"))  # the detector's own order
    m.note(1, 11.05, 11.0)
    released = [ev for _, _, ev in m.release(11.05)]
    # each sensor's events in its own order, the sensors merged by time, up to the
    # horizon (11.0 - 0.5): 10.8 waits for the right sensor to pass 11.3
    assert [(ev.sensor, ev.t) for ev in released] == [
        ("L", 10.1),
        ("R", 10.3),
        ("R", 10.2),
        ("L", 10.45),
    ]
    assert [ev.t for _, _, ev in m.release(11.1)] == []
    m.down.add(1)  # a sensor whose link is down is not waited for
    assert [ev.t for _, _, ev in m.release(11.1)] == [10.8]
    m.down.discard(1)
    m.push(0, 0.0, _strike(12.0, "L"))
    m.note(0, 12.5, 12.5)
    assert [ev.t for _, _, ev in m.release(14.0)] == []  # the right sent 2.95 s ago: waits
    assert [ev.t for _, _, ev in m.release(14.1)] == [12.0]  # over 3 s: not waited for
    m.push(1, 0.0, _strike(20.0, "R"))
    assert [ev.t for _, _, ev in m.release(0.0, final=True)] == [20.0]
    assert math.isinf(TimeMerge([0]).horizon(0.0))


def _polar_entry(index: int, name: str) -> SensorEntry:
    info = vendor_info(
        name=name,
        serial=b"\x01",
        model=spec.SensorModel.UNKNOWN,
        odr_hz=208.0,
        acc_range_g=16,
        gyro_range_dps=2000,
        acc_scale_g=16 / 32768,
        gyro_scale_dps=2000 / 32768,
        mounting=Mounting.SHIN,
        side=Side.LEFT,
    )
    settings = {"rate_hz": 208, "acc_factor": 16 / 32768, "gyro_factor": 2000 / 32768}
    return SensorEntry.from_info(index, info, "", "polar", settings, name=name)


def test_vendor_records_are_never_taken_for_link_records(tmp_path: Path) -> None:
    """A vendor notification's second byte is no message kind: a Polar timestamp byte of
    0xF0 must not make a link record of it."""
    entry = _polar_entry(0, "Polar Sense 00000001")
    path = tmp_path / "s.shs"
    with SessionWriter(path, SessionHeader(0.0, "live", [entry])) as w:
        w.write(0.5, 0, bytes([0x02, RECORD_LINK]) + bytes(20))
    reader = SessionReader(path)
    (rec,) = list(reader.records())
    assert rec.kind == RECORD_VENDOR
    assert reader.sensors[0].family == "polar" and reader.sensors[0].settings["rate_hz"] == 208
    # replay takes it to the Polar decoder, which refuses it (a garbage frame), quietly
    p = Processor(reader.sensors)
    assert p.replay(reader) == []
    assert p.translators[0].undecodable == 1


def test_an_unknown_family_is_damage_naming_the_sensor(tmp_path: Path) -> None:
    good = _polar_entry(0, "Polar Sense 00000001")
    odd = SensorEntry(1, "Gizmo", good.info_hex, family="gizmo")
    path = tmp_path / "s.shs"
    with SessionWriter(path, SessionHeader(0.0, "live", [good, odd])):
        pass
    reader = SessionReader(path)
    assert [e.name for e in reader.sensors] == ["Polar Sense 00000001"]
    assert any("unknown sensor family 'gizmo'" in d.reason for d in reader.damage)


def test_a_footpod_reading_is_a_pace_event() -> None:
    pod = _polar_entry(0, "RunPod 0001")
    entry = SensorEntry(0, "RunPod 0001", pod.info_hex, family="rsc")
    stream = PodStream(entry)
    m = rsc.RscMeasurement(3.5, 86, 2.44, 1234.5, True)
    (ev,) = stream.feed(10.0, rsc.encode_measurement(m))
    assert isinstance(ev, Pace)
    assert (ev.speed_m_s, ev.cadence_spm, ev.cadence_doubled) == (3.5, 172.0, True)
    assert ev.pace_s_per_km == pytest.approx(285.7, abs=0.1)
    assert (ev.stride_m, ev.distance_m, ev.running) == (2.44, 1234.5, True)
    still = rsc.RscMeasurement(0.0, 0, None, None, False)
    (ev,) = stream.feed(11.0, rsc.encode_measurement(still))
    assert ev.pace_s_per_km is None and ev.cadence_spm == 0
    forced = SensorEntry(0, "Stryd", pod.info_hex, family="rsc", settings={"cadence_doubling": 0})
    (ev,) = PodStream(forced).feed(1.0, rsc.encode_measurement(m))
    assert ev.cadence_spm == 86 and not ev.cadence_doubled
    assert stream.feed(12.0, b"\x07\x00") == [] and stream.undecodable == 1
    # a pod's link is no sign of the runner's IMUs
    proc = Processor([entry])
    assert proc.on_link(Link(t=1.0, sensor="RunPod 0001", side="", state="disconnected")) == []
