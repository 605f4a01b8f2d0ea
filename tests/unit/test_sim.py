"""Firmware simulator: determinism, chunking, truth, faults, commands, IMU model."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from firmware_sim.device import SensorConfig, SimulatedSensor
from firmware_sim.faults import FaultConfig, parse_faults
from firmware_sim.gait import G, GaitParams, Segment, SegmentModel, build_schedule
from firmware_sim.run import SimConfig, SimulatedRun, default_config
from sensorhub.errors import ProtocolError
from sensorhub.pipeline.assembly import DUPLICATE, SequenceTracker
from sensorhub.protocol import codec, spec
from sensorhub.protocol.codec import DataPacket, Response, StatusPacket
from sensorhub.protocol.spec import ResultCode
from sensorhub.types import Mounting, Side


def collect(run: SimulatedRun, dt: float) -> list[tuple[float, int, bytes]]:
    out = []
    while not run.done:
        out += [(d.t, d.sensor, d.data) for d in run.poll(dt)]
    out += [(d.t, d.sensor, d.data) for d in run.finish()]
    return out


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    cfg = default_config(duration_s=8, seed=3, sides=(Side.LEFT, Side.RIGHT))
    a = collect(SimulatedRun(cfg), 0.05)
    b = collect(SimulatedRun(cfg), 0.05)
    assert a == b
    c = collect(
        SimulatedRun(default_config(duration_s=8, seed=4, sides=(Side.LEFT, Side.RIGHT))), 0.05
    )
    assert [x[2] for x in a] != [x[2] for x in c]


def test_output_does_not_depend_on_tick_size() -> None:
    cfg = default_config(duration_s=5, seed=1)
    fine = collect(SimulatedRun(cfg), 0.003)
    coarse = collect(SimulatedRun(cfg), 0.7)
    assert [x[2] for x in fine] == [x[2] for x in coarse]
    assert [round(x[0], 9) for x in fine] == [round(x[0], 9) for x in coarse]


@pytest.mark.parametrize(
    ("activity", "cadence"), [("run", 150), ("run", 172), ("run", 198), ("walk", 95), ("walk", 125)]
)
def test_truth_cadence_and_phases(activity: str, cadence: float) -> None:
    cfg = default_config(
        activity=activity,
        duration_s=120,
        seed=11,
        cadence_spm=cadence,
        sides=(Side.LEFT, Side.RIGHT),
        gait=GaitParams(fatigue_cadence_per_h=0.0, turn_every_s=0),
    )
    run = SimulatedRun(cfg)
    sch = run.schedule
    order = np.argsort(sch.ic)
    ic = sch.ic[order]
    # steady part: skip the start ramp and the stop
    steady = ic[6:-4]
    measured = 60.0 * (len(steady) - 1) / (steady[-1] - steady[0])
    assert abs(measured - cadence) <= 1.0
    finite = np.isfinite(sch.to)
    tc = (sch.to - sch.ic)[finite]
    assert np.all(tc > 0)
    if activity == "run":
        assert np.all((tc > 0.12) & (tc < 0.40))
        # flight: between one foot's toe-off and the other foot's contact
        to_sorted = sch.to[order]
        flight = ic[1:] - to_sorted[:-1]
        assert np.all(flight[np.isfinite(flight)][5:-5] > 0.0)
    else:
        assert np.all((tc > 0.5) & (tc < 1.0))
        # walking has double support: the next contact comes before the toe-off
        assert np.all((ic[1:] < sch.to[order][:-1])[5:-5])
    truth = run.truth()
    kinds = {e.event for e in truth}
    assert kinds == {"ic", "to", "impact"}
    for side in (Side.LEFT, Side.RIGHT):
        evs = [e for e in truth if e.side == side and e.event in ("ic", "to")]
        names = [e.event for e in evs]
        # each foot alternates lift-off and contact, starting and ending on the ground
        assert names[0] == "to" and names[-1] == "ic"
        assert all(a != b for a, b in itertools.pairwise(names))


def test_impact_ranges_by_mounting() -> None:
    peaks = {}
    for mount in (Mounting.SHIN, Mounting.SHOE):
        cfg = default_config(duration_s=60, seed=5, mount=mount)
        truth = SimulatedRun(cfg).truth()
        peaks[mount] = np.array([e.value for e in truth if e.event == "impact"])
    assert np.all((peaks[Mounting.SHIN] > 4) & (peaks[Mounting.SHIN] < 20))
    assert np.median(peaks[Mounting.SHOE]) > 1.2 * np.median(peaks[Mounting.SHIN])


def test_waveform_shapes() -> None:
    """Shoe gyro: near zero in mid-stance, large mid-swing peak; shin: impact then active peak."""
    sch = build_schedule([Segment("run", 20)], GaitParams(), np.random.default_rng(0))
    shoe = SegmentModel(sch, Side.LEFT, Mounting.SHOE)
    j = 10
    ic, to = shoe.ic[j], shoe.to[j]
    mid = np.linspace(ic + 0.3 * (to - ic), ic + 0.5 * (to - ic), 20)
    _, w_mid = shoe.signals(mid)
    assert np.max(np.abs(w_mid)) < math.radians(5)
    swing = np.linspace(to, shoe.ic[j + 1], 200)
    _, w_sw = shoe.signals(swing)
    assert np.max(np.abs(w_sw[:, 1])) > math.radians(300)
    shin = SegmentModel(sch, Side.LEFT, Mounting.SHIN)
    t = np.arange(ic, to, 0.0005)
    f, _ = shin.signals(t)
    axial = f[:, 2] / G
    k_imp = int(np.argmax(axial[: int(0.03 / 0.0005)]))
    assert 0.003 < t[k_imp] - ic < 0.02  # sharp impact peak soon after contact
    later = axial[int(0.06 / 0.0005) :]
    assert later.max() > 1.5  # a broad active peak in mid-stance
    assert later.max() < axial[k_imp]


def test_walking_push_off_bursts_and_shin_swing_as_real_recordings_show() -> None:
    """Issue 10: in walking the push-off burst at the foot is often as large as the heel
    strike (it fooled the old detector), and the shank's forward swing is its largest
    rotation, in walking and running (Salarian 2004)."""
    sch = build_schedule([Segment("walk", 30)], GaitParams(), np.random.default_rng(1))
    shoe = SegmentModel(sch, Side.LEFT, Mounting.SHOE)
    ratios = []
    for j in range(3, 20):
        ic, to = shoe.ic[j], shoe.to[j]
        at_ic, _ = shoe.signals(np.arange(ic, ic + 0.06, 0.0005))
        at_to, _ = shoe.signals(np.arange(to - 0.06, to + 0.01, 0.0005))
        strike = np.max(np.linalg.norm(at_ic, axis=1)) - G
        push = np.max(np.linalg.norm(at_to, axis=1)) - G
        ratios.append(push / strike)
    assert 0.5 < np.median(ratios) < 1.2 and max(ratios) > 0.8
    for activity in ("walk", "run"):
        sch = build_schedule([Segment(activity, 20)], GaitParams(), np.random.default_rng(2))
        shin = SegmentModel(sch, Side.LEFT, Mounting.SHIN)
        j = 8
        _, w_stance = shin.signals(np.arange(shin.ic[j], shin.to[j], 0.001))
        _, w_swing = shin.signals(np.arange(shin.to[j], shin.ic[j + 1], 0.001))
        assert np.max(np.abs(w_swing[:, 1])) > 1.2 * np.max(np.abs(w_stance[:, 1])), activity


def test_standing_reads_one_g_and_no_rotation() -> None:
    cfg = SimConfig(segments=(Segment("stand", 3.0),), sensors=(SensorConfig(),), seed=2)
    run = SimulatedRun(cfg)
    samples = []
    for d in collect(run, 0.5):
        msg, _ = codec.decode(d[2])
        if isinstance(msg, DataPacket):
            samples.append(msg.samples)
    s = np.concatenate(samples).astype(float)
    acc = s[:, :3] * spec.acc_scale_g(16)
    gyr = s[:, 3:] * spec.gyro_scale_dps(2000)
    assert np.median(np.linalg.norm(acc, axis=1)) == pytest.approx(1.0, abs=0.06)
    assert np.all(np.abs(gyr) < 3.0)  # bias and noise only
    assert len(s) == pytest.approx(3000, abs=20)


def test_full_scale_clips_and_flags() -> None:
    cfg = SimConfig(
        segments=(Segment("run", 10.0),),
        sensors=(SensorConfig(acc_range_g=4, mount_rotation="aligned"),),
        seed=3,
    )
    clipped = 0
    for d in collect(SimulatedRun(cfg), 1.0):
        msg, _ = codec.decode(d[2])
        if isinstance(msg, DataPacket) and msg.flags & spec.FLAG_CLIPPED:
            clipped += 1
            assert np.any(np.abs(msg.samples[:, :3].astype(int)) >= 32767)
    assert clipped > 10


def test_clock_drift_offset_and_wrap() -> None:
    cfg = default_config(duration_s=20, seed=9)
    run = SimulatedRun(cfg)
    sensor = run.sensors[0]
    assert abs(sensor.clock_ppm) <= 50
    ts = []
    for d in collect(run, 1.0):
        msg, _ = codec.decode(d[2])
        if isinstance(msg, DataPacket):
            ts.append((msg.first_index, msg.t_us))
    idx = np.array([i for i, _ in ts], dtype=float)
    dev = np.unwrap(np.array([t for _, t in ts], dtype=float), period=2**32)
    # device time advances exactly 1 ms per sample at 1 kHz (the IMU runs on the device clock)
    assert np.allclose(np.diff(dev), np.diff(idx) * 1000.0, atol=1.0)
    true_t = sensor.sample_time(idx.astype(np.int64))
    ppm = (np.polyfit(true_t, dev, 1)[0] / 1e6 - 1) * 1e6
    assert ppm == pytest.approx(sensor.clock_ppm, abs=0.5)


def test_device_timestamp_wraps_at_32_bits() -> None:
    cfg = default_config(duration_s=4, seed=0)
    run = SimulatedRun(cfg)
    s = run.sensors[0]
    s.clock_offset_us = 2**32 - 1_500_000  # wraps 1.5 s in
    wrapped = False
    prev = None
    for d in collect(run, 0.5):
        msg, _ = codec.decode(d[2])
        if isinstance(msg, DataPacket):
            if prev is not None and msg.t_us < prev:
                wrapped = True
            prev = msg.t_us
    assert wrapped


def test_injected_faults_are_exactly_what_sequence_numbers_reveal() -> None:
    faults = FaultConfig(
        drop=0.01,
        burst=0.003,
        burst_max=8,
        duplicate=0.01,
        corrupt=0.005,
        link_drops=((20.0, 3.0),),
    )
    cfg = default_config(duration_s=60, seed=21, faults=faults)
    run = SimulatedRun(cfg)
    tr = SequenceTracker()
    missing: set[int] = set()
    dups: list[int] = []
    corrupt = 0
    expected = 0
    for _, _, data in collect(run, 0.25):
        try:
            msg, _ = codec.decode(data)
        except ProtocolError:
            corrupt += 1
            continue
        if not isinstance(msg, DataPacket):
            continue
        obs = tr.observe(msg.seq, msg.first_index, msg.count)
        if obs.kind == DUPLICATE:
            dups.append(obs.packet)
            continue
        missing.update(range(obs.packet - obs.missing_packets, obs.packet))
        expected = obs.packet + 1
    log = run.sensors[0].fault_log
    truly_missing = {p for p in log.missing if p < expected}
    assert missing == truly_missing
    assert dups == log.duplicated
    assert corrupt == len(log.corrupted)
    assert len(log.dropped) > 10 and len(log.link_lost) > 100 and log.duplicated and log.corrupted
    assert log.link_lost_samples == len(log.link_lost) * 19


def test_clock_jump_shows_in_timestamps_not_in_indices() -> None:
    cfg = default_config(duration_s=10, seed=4, faults=FaultConfig(clock_jumps=((5.0, 250.0),)))
    prev = None
    jumps = []
    for _, _, data in collect(SimulatedRun(cfg), 0.5):
        msg, _ = codec.decode(data)
        if isinstance(msg, DataPacket):
            if prev is not None:
                d_idx = msg.first_index - prev[0]
                d_us = (msg.t_us - prev[1]) % 2**32
                jumps.append(d_us - d_idx * 1000)
            prev = (msg.first_index, msg.t_us)
    big = [j for j in jumps if abs(j) > 2]
    assert len(big) == 1 and big[0] == pytest.approx(250_000, abs=2)


def test_parse_faults() -> None:
    f = parse_faults("drop=0.01, dup=0.002,link-drop=30:5,link-drop=90:2,clock-jump=60:-25")
    assert f.drop == 0.01 and f.duplicate == 0.002
    assert f.link_drops == ((30.0, 5.0), (90.0, 2.0)) and f.clock_jumps == ((60.0, -25.0),)
    for bad, msg in [
        ("drop", "has no '='"),
        ("oops=1", "unknown fault 'oops'"),
        ("drop=x", "bad value"),
        ("drop=2", "probability"),
        ("link-drop=5", "bad value"),
    ]:
        with pytest.raises(ValueError, match=msg):
            parse_faults(bad)


def _cmd(sensor: SimulatedSensor, cmd: codec.Command) -> Response:
    resp, _ = codec.decode(sensor.handle_command(codec.encode(cmd)))
    assert isinstance(resp, Response)
    assert resp.opcode == cmd.opcode and resp.token == cmd.token
    return resp


def test_control_point() -> None:
    sch = build_schedule([Segment("stand", 10)], GaitParams(), np.random.default_rng(0))
    s = SimulatedSensor(
        SensorConfig(autostart=False), SegmentModel(sch, Side.LEFT, Mounting.SHOE), 1
    )
    assert s.tick(0.5) and all(codec.decode(b)[0].__class__ is StatusPacket for b in s.tick(1.0))
    assert _cmd(s, codec.set_odr(99, 1)).code == ResultCode.INVALID_ARGUMENT
    assert _cmd(s, codec.set_odr(400, 2)).code == ResultCode.OK
    assert _cmd(s, codec.set_ranges(3, 2000, 3)).code == ResultCode.INVALID_ARGUMENT
    assert _cmd(s, codec.set_ranges(8, 1000, 4)).code == ResultCode.OK
    assert _cmd(s, codec.set_mounting(Mounting.SHIN, Side.RIGHT, 5)).code == ResultCode.OK
    assert _cmd(s, codec.identify(0, 6)).code == ResultCode.INVALID_ARGUMENT
    assert _cmd(s, codec.identify(3, 7)).code == ResultCode.OK
    assert _cmd(s, codec.Command(0x42, 8)).code == ResultCode.UNSUPPORTED
    assert (
        _cmd(s, codec.Command(spec.Opcode.SET_ODR, 9, b"\x01")).code == ResultCode.INVALID_ARGUMENT
    )
    r1 = codec.parse_time_sync_reply(_cmd(s, codec.time_sync(77, 10)))
    s.tick(0.25)
    r2 = codec.parse_time_sync_reply(_cmd(s, codec.time_sync(78, 11)))
    assert r1[0] == 77 and r2[0] == 78
    assert r2[1] - r1[1] == pytest.approx(250_000, rel=1e-3)
    assert _cmd(s, codec.start_stream(12)).code == ResultCode.OK
    assert _cmd(s, codec.set_odr(800, 13)).code == ResultCode.BUSY
    data = [m for m in (codec.decode(b)[0] for b in s.tick(1.0)) if isinstance(m, DataPacket)]
    # 401 samples in [0, 1] s at 400 Hz, less what waits in the FIFO (< 19) and in flight (19)
    assert 401 - 37 <= sum(p.count for p in data) <= 401
    assert _cmd(s, codec.stop_stream(14)).code == ResultCode.OK
    info, _ = codec.decode(s.read_info())
    assert isinstance(info, codec.DeviceInfo)
    assert (info.odr_hz, info.acc_range_g, info.gyro_range_dps) == (400, 8, 1000)
    assert (info.mounting, info.side) == (Mounting.SHIN, Side.RIGHT)
    # garbage and a future protocol version get answers, not exceptions
    bad, _ = codec.decode(s.handle_command(b"\x01\x10\x03"))
    assert isinstance(bad, Response) and bad.code == ResultCode.INVALID_ARGUMENT
    newer, _ = codec.decode(s.handle_command(b"\x02\x10\x01\x00\x00\x00\x00"))
    assert isinstance(newer, Response) and newer.code == ResultCode.UNSUPPORTED


def test_battery_discharges_and_status_is_periodic() -> None:
    cfg = default_config(duration_s=1800, seed=1)
    run = SimulatedRun(cfg)
    status = []
    while not run.done:
        for d in run.poll(60.0):
            if d.data[1] == spec.Kind.STATUS:
                status.append(codec.decode(d.data)[0])
    assert len(status) == pytest.approx(1800, abs=2)
    assert status[0].battery_pct > status[-1].battery_pct  # type: ignore[attr-defined]
    assert [s.seq for s in status[:5]] == [0, 1, 2, 3, 4]  # type: ignore[attr-defined]
