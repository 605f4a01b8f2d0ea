"""From notifications to events: clock map, sensor streams, the gait, evaluation."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest

from firmware_sim.gait import GaitParams
from firmware_sim.run import SimConfig, SimulatedRun, default_config
from sensorhub.dsp import _stream as S
from sensorhub.errors import SensorhubError
from sensorhub.evaluation import TruthRow, evaluate, match, read_events, read_truth
from sensorhub.events import (
    Activity,
    Asymmetry,
    Cadence,
    FootStrike,
    Impact,
    Step,
    ToeOff,
    decode_json,
    encode_json,
)
from sensorhub.inspect import session_report
from sensorhub.pipeline.session import Processor, process_session
from sensorhub.recording import SensorEntry, SessionHeader, SessionReader, record
from sensorhub.types import Mounting, Side
from tests.reference.naive_clock import ClockMap


def simulate(cfg: SimConfig, path: Path | None = None) -> tuple[SimulatedRun, list]:  # type: ignore[type-arg]
    run = SimulatedRun(cfg)
    entries = [SensorEntry.from_info(i, s.info()) for i, s in enumerate(run.sensors)]
    proc = Processor(entries)
    deliveries = list(run.deliveries(0.5))
    if path:
        record(path, SessionHeader(time.time(), "sim", entries), deliveries)
    events = []
    for d in deliveries:
        events += proc.feed(d.t, d.sensor, d.data)
    return run, events


def truth_rows(run: SimulatedRun) -> list[TruthRow]:
    return [TruthRow(e.t_s, e.side.label, e.event, e.value, e.strike) for e in run.truth()]


def test_clock_map_follows_drift_through_jitter_and_matches_its_reference() -> None:
    rng = np.random.default_rng(0)
    fs, ppm, offset = 1000.0, 42.0, 3.25
    ref = ClockMap(fs)
    clk = S.new_clock(fs)
    minima = np.zeros((S.N_MINIMA, 2))
    for k in range(0, 600_000, 19):  # 10 minutes of packets
        last = k + 18
        taken = offset + last / (fs * (1 + ppm * 1e-6))
        arrival = taken + rng.uniform(0.0, 0.015)  # 0-15 ms delivery latency
        ref.update(last, arrival)
        S.clock_update(clk, minima, float(last), arrival)
        if k % 19_000 == 0:
            assert S.clock_time(clk, last) == ref.time(last)
    for idx in (100_000, 400_000, 599_000):
        truth = offset + idx / (fs * (1 + ppm * 1e-6))
        assert abs(S.clock_time(clk, idx) - truth) < 0.001
    assert clk[S.C_STEPS] == ref.steps == 0  # jitter is no clock step


def test_a_burst_of_late_stamps_is_a_clock_step_as_in_its_reference() -> None:
    """Issue 11, defect 1: a host that stalls takes its backlog in one burst, each packet
    stamped late.  The map must notice that it was fooled (count a step) exactly as its
    reference does, and end on the sensor's clock."""
    rng = np.random.default_rng(1)
    fs = 1000.0
    for stall_at, stall_s in ((0.0, 3.0), (0.5, 1.0), (20.0, 4.0), (40.0, 9.0)):
        ref = ClockMap(fs)
        clk = S.new_clock(fs)
        minima = np.zeros((S.N_MINIMA, 2))
        for k in range(0, 60_000, 19):
            last = k + 18
            arrival = last / fs + rng.uniform(0.0, 0.015)
            if stall_at <= arrival < stall_at + stall_s:  # held, then all at once
                arrival = stall_at + stall_s + 1e-5 * (arrival - stall_at)
            ref.update(last, arrival)
            S.clock_update(clk, minima, float(last), arrival)
            assert S.clock_time(clk, last) == ref.time(last)
            assert clk[S.C_STEPS] == ref.steps
        assert abs(S.clock_time(clk, 59_999) - 59.999) < 0.001
        # only a stall before the first packet on time fools the map (until the burst is
        # drained); later ones do not move it: the lower envelope has on-time packets
        assert (ref.steps > 0) == (stall_at == 0.0)


def test_replay_gives_exactly_the_live_events(tmp_path: Path) -> None:
    cfg = default_config(duration_s=30, seed=3, sides=(Side.LEFT, Side.RIGHT))
    _, live = simulate(cfg, tmp_path / "s.shs")
    replayed = process_session(SessionReader(tmp_path / "s.shs"))
    assert [encode_json(e) for e in live] == [encode_json(e) for e in replayed]
    assert len(live) > 100


def test_live_path_takes_bytes_bytearray_and_memoryview_alike(tmp_path: Path) -> None:
    """The live path calls the compiled kernel directly (no numba dispatch) once it has
    been compiled for the notification's type; bleak hands bytearrays, a recording bytes:
    the events must not depend on which, and replay must still agree."""
    cfg = default_config(duration_s=20, seed=4)
    run = SimulatedRun(cfg)
    entries = [SensorEntry.from_info(0, run.sensors[0].info())]
    deliveries = list(run.deliveries(0.5))
    record(tmp_path / "s.shs", SessionHeader(time.time(), "sim", entries), deliveries)
    kinds = (bytes, bytearray, lambda b: memoryview(bytearray(b)), memoryview)
    results = []
    for k in range(len(kinds)):
        proc = Processor(entries)
        events = []
        for n, d in enumerate(deliveries):
            # mixed types in one stream too: every fourth notification of another kind
            data = kinds[(k + (n % 4 == 0)) % 4](d.data)
            events += proc.feed(d.t, d.sensor, data)
        assert proc.streams[0]._live_call is not S.feed_packets  # the direct call is used
        results.append([encode_json(e) for e in events])
    assert len(results[0]) > 50
    assert all(r == results[0] for r in results[1:])
    replayed = process_session(SessionReader(tmp_path / "s.shs"))
    assert [encode_json(e) for e in replayed] == results[0]


@pytest.mark.parametrize(
    ("stall_at_s", "stall_s"), [(0.0, 3.0), (0.0, 8.0), (20.0, 3.0), (3.0, 12.0)]
)
def test_a_stalled_host_gives_no_impossible_step_times(
    tmp_path: Path, stall_at_s: float, stall_s: float
) -> None:
    """Issue 11, defect 1: a host that stalls (a cold numba cache compiling on the event
    loop, a busy laptop) stamps the notifications it then takes in one burst late.  No
    cadence may leave 60-260 steps/min and no step time fall below 200 ms, whether the stall
    comes before the clock map has settled or during the run; the recording replays to
    exactly the live events."""
    cfg = default_config(duration_s=45, seed=6, sides=(Side.LEFT, Side.RIGHT))
    run = SimulatedRun(cfg)
    entries = [SensorEntry.from_info(i, s.info()) for i, s in enumerate(run.sensors)]
    deliveries = []
    for d in run.deliveries(0.05):
        if stall_at_s <= d.t < stall_at_s + stall_s:  # held, then taken all at once
            d = type(d)(stall_at_s + stall_s + 1e-5 * (d.t - stall_at_s), d.sensor, d.data)
        deliveries.append(d)
    record(tmp_path / "s.shs", SessionHeader(time.time(), "sim", entries), deliveries)
    proc = Processor(entries)
    live = [ev for d in deliveries for ev in proc.feed(d.t, d.sensor, d.data)]
    cadences = [e.step_cadence_spm for e in live if isinstance(e, Cadence)]
    smoothed = [e.cadence_spm for e in live if isinstance(e, Cadence)]
    steps = [e for e in live if isinstance(e, Step)]
    assert len(cadences) > 80
    assert min(cadences) >= 60 and max(cadences) <= 260
    assert min(smoothed) >= 60 and max(smoothed) <= 260
    assert min(e.step_ms for e in steps if e.step_ms is not None) >= 200
    assert min(e.flight_ms for e in steps if e.flight_ms is not None) >= -100
    assert min(e.swing_ms for e in steps if e.swing_ms is not None) >= 200
    replayed = process_session(SessionReader(tmp_path / "s.shs"))
    assert [encode_json(e) for e in replayed] == [encode_json(e) for e in live]
    # `info` gives the samples' duration, not the span of the late arrival stamps
    assert abs(session_report(SessionReader(tmp_path / "s.shs"))["duration_s"] - 45.0) < 0.05


@pytest.mark.parametrize(
    ("activity", "mount"),
    [
        ("run", Mounting.SHOE),
        ("run", Mounting.SHIN),
        ("walk", Mounting.SHOE),
        ("walk", Mounting.SHIN),
    ],
)
def test_targets_on_a_simulated_session(activity: str, mount: Mounting) -> None:
    """The issue's simulator targets, on one session per activity and mounting."""
    cfg = default_config(
        activity=activity, mount=mount, duration_s=75, seed=11, sides=(Side.LEFT, Side.RIGHT)
    )
    run, events = simulate(cfg)
    rep = evaluate(events, truth_rows(run))
    assert rep["ic"]["recall"] >= 0.995 and rep["ic"]["precision"] >= 0.995
    assert rep["ic"]["median_abs_ms"] <= 3.0 and rep["ic"]["p95_abs_ms"] <= 10.0
    assert rep["to"]["median_abs_ms"] <= 6.0
    assert rep["impact_value"]["within_10pct"] >= 0.95
    assert rep["cadence"]["max_abs_error_spm"] <= 1.0
    if mount == Mounting.SHOE:
        assert rep["strike"]["accuracy"] >= 0.95


def test_derived_events() -> None:
    gait = GaitParams(asymmetry=0.08, run_cadence_spm=176)
    cfg = default_config(
        duration_s=60, seed=6, sides=(Side.LEFT, Side.RIGHT), gait=gait, cadence_spm=176
    )
    run, events = simulate(cfg)
    types = {type(e) for e in events}
    assert {FootStrike, Impact, ToeOff, Step, Cadence, Activity, Asymmetry} <= types
    states = [e.state for e in events if isinstance(e, Activity)]
    assert states == ["standing", "running", "standing"]
    cad = [e.cadence_spm for e in events if isinstance(e, Cadence) and 10 < e.t < 50]
    assert abs(float(np.median(cad)) - 176) < 2.0
    steps = [e for e in events if isinstance(e, Step) and 10 < e.t < 50]
    assert all(s.contact_ms and 150 < s.contact_ms < 350 for s in steps)
    assert all(s.flight_ms is not None and s.flight_ms > 0 for s in steps)
    found = np.median([s.strike_angle_deg for s in steps if s.strike_angle_deg is not None])
    true = np.median([e.angle_deg for e in run.truth() if e.event == "ic" and 10 < e.t_s < 50])
    assert abs(found - true) < 1.0
    # the simulated right leg is 8 % slower and harder: the symmetry index says so
    last = [e for e in events if isinstance(e, Asymmetry)][-1]
    assert last.contact_si_pct is not None and last.contact_si_pct > 3
    assert last.impact_si_pct is not None and last.impact_si_pct > 3
    assert last.step_time_si_pct is not None and last.step_time_si_pct > 3


def test_one_sensor_counts_both_feet() -> None:
    cfg = default_config(duration_s=60, seed=7, sides=(Side.RIGHT,), cadence_spm=166)
    _, events = simulate(cfg)
    cad = [e.cadence_spm for e in events if isinstance(e, Cadence) and 10 < e.t < 50]
    assert abs(float(np.median(cad)) - 166) < 2.0


def test_walking_is_walking() -> None:
    cfg = default_config(activity="walk", duration_s=40, seed=2, mount=Mounting.SHIN)
    _, events = simulate(cfg)
    states = [e.state for e in events if isinstance(e, Activity)]
    assert states == ["standing", "walking", "standing"]


def test_event_json_is_stable() -> None:
    e = Step(t=1.25, sensor="SH-L", side="left", contact_ms=240.0, strike="rearfoot")
    assert encode_json(e).startswith(b'{"type":"step","t":1.25,"sensor":"SH-L","side":"left",')
    assert decode_json(encode_json(e)) == e


def test_match_is_one_to_one() -> None:
    assert match([1.0, 2.0], [1.01, 1.02, 2.5], 0.05) == [(0, 0)]
    assert match([1.0, 1.03], [1.02], 0.05) == [(1, 0)]
    assert match([], [1.0], 0.05) == []


def test_evaluate_reports_bias_and_misses() -> None:
    truth = [TruthRow(float(t), "left", "ic") for t in range(1, 11)]
    events = [FootStrike(t=t + 0.004, sensor="a", side="left") for t in range(1, 10)]
    events.append(FootStrike(t=5.5, sensor="a", side="left"))
    rep = evaluate(events, truth)  # type: ignore[arg-type]
    ic = rep["ic"]
    assert (ic["matched"], ic["missed"], ic["extra"]) == (9, 1, 1)
    assert ic["bias_ms"] == pytest.approx(4.0)


def test_evaluate_with_coverage_per_side_debiased_and_contact_time() -> None:
    """Issue 10: extras outside the annotated windows do not count; per side; a constant
    offset of the reference (45 ms here, beyond a 40 ms tolerance) is removed by
    ``debiased``; contact time is compared stride by stride."""
    truth = []
    events: list[object] = []
    for side, skew in (("left", 0.0), ("right", 0.3)):
        for k in range(10):
            t = 1.0 + k + skew
            truth += [TruthRow(t, side, "ic"), TruthRow(t + 0.6, side, "to")]
            events.append(FootStrike(t=t + 0.045 + 0.002 * (k % 3), sensor=side, side=side))
            # detected contact 0.6 - 0.045 + (-0.03) = 0.525 s: 75 ms short
            events.append(ToeOff(t=t + 0.57, sensor=side, side=side, contact_ms=525.0))
    events.append(FootStrike(t=0.2, sensor="left", side="left"))  # outside the coverage
    events.append(FootStrike(t=6.5, sensor="left", side="left"))  # inside: a real extra
    cov = {"left": [(0.9, 11.0)], "right": [(0.9, 11.5)]}
    rep = evaluate(events, truth, tolerance_ms=40.0, coverage=cov)  # type: ignore[arg-type]
    ic = rep["ic"]
    assert ic["matched"] == 0 and ic["extra"] == 21  # 45 ms late: nothing within 40 ms
    d = ic["debiased"]
    assert d["bias_ms"] == pytest.approx(47.0) and d["recall"] == 1.0
    assert d["precision"] == pytest.approx(20 / 21)
    assert d["p95_abs_ms"] <= 2.0
    assert rep["to"]["debiased"]["bias_ms"] == pytest.approx(-30.0)
    assert rep["to"]["per_side"]["left"]["matched"] == 10
    ct = rep["contact_time"]
    assert ct["compared"] == 20
    assert ct["median_error_ms"] == pytest.approx(-77.0)
    assert abs(ct["median_error_debiased_ms"]) <= 2.0
    assert evaluate(events, truth, tolerance_ms=40.0)["ic"]["extra"] == 22  # type: ignore[arg-type]


def test_bad_truth_and_event_files(tmp_path: Path) -> None:
    bad = tmp_path / "t.csv"
    bad.write_text("time,foot\n1,left\n")
    with pytest.raises(SensorhubError, match="not a truth file: no column event, side, t_s"):
        read_truth(bad)
    bad.write_text("t_s,side,event\n1.0,left,heelstrike\n")
    with pytest.raises(SensorhubError, match="line 2: event 'heelstrike' is not ic, to or impact"):
        read_truth(bad)
    ev = tmp_path / "e.jsonl"
    ev.write_text('{"type": "footstrike"}\n')
    with pytest.raises(SensorhubError, match="line 1: not a sensorhub event"):
        read_events(ev)


def test_compiled_tracker_matches_sequence_tracker() -> None:
    from firmware_sim.faults import FaultConfig
    from sensorhub.pipeline.assembly import SequenceTracker
    from sensorhub.protocol import codec
    from sensorhub.protocol.codec import DataPacket

    cfg = default_config(
        duration_s=60,
        seed=4,
        faults=FaultConfig(drop=0.02, burst=0.01, duplicate=0.02, link_drops=((20.0, 2.0),)),
    )
    run = SimulatedRun(cfg)
    ref = SequenceTracker()
    trk = S.new_tracker()
    recent = np.zeros(S.N_RECENT, np.int64)
    obs = np.zeros(4, np.int64)
    kinds = set()
    while not run.done:
        for d in run.poll(1.0):
            msg, _ = codec.decode(d.data)
            if not isinstance(msg, DataPacket):
                continue
            want = ref.observe(msg.seq, msg.first_index, msg.count)
            got = S.track(trk, recent, msg.seq, msg.first_index, msg.count, obs)
            kinds.add(got)
            assert got == want.kind
            assert (obs[0], obs[1]) == (want.packet, want.sample)
    assert kinds == {0, 1, 2}
    assert int(trk[S.T_MISSING_SAMPLES]) == ref.missing_samples
    assert int(trk[S.T_DUPLICATES]) == ref.duplicates


def test_config_overrides_and_errors(tmp_path: Path) -> None:
    from sensorhub.config import Config, load_config
    from sensorhub.errors import ConfigError

    assert load_config(Path(__file__).parents[2] / "configs" / "default.toml") == Config()
    c = load_config(None, ["cues.mode=band", "mqtt.keepalive_s=5", "runner.id=ana"])
    assert (c.cues.mode, c.mqtt.keepalive_s, c.runner.id) == ("band", 5, "ana")
    f = tmp_path / "c.toml"
    f.write_text("[cues]\nmode = 'fade'\n")
    assert load_config(f, ["cues.volume=0.2"]).cues.mode == "fade"
    for bad, message in [
        (["cues.mode=swim"], "Invalid enum value 'swim' at cues.mode"),
        (["mqtt.port=1"], "unknown key 'port' in [mqtt]"),
        (["nodot=1"], "write section.key=value"),
        (["mqtt.keepalive_s=fast"], "mqtt.keepalive_s must be an integer from 1 to 65535"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            load_config(None, bad)
    f.write_text("[mqtt]\nprot = 1\n")
    with pytest.raises(ConfigError, match=re.escape("unknown key 'prot' in [mqtt]")):
        load_config(f)


def test_the_asymmetry_window_is_the_configured_one() -> None:
    """Issue 11 (engine): the per-foot windows were ``deque(maxlen=20)`` whatever
    ``asymmetry_steps`` said.  With [gait] asymmetry_steps = 5, every reported contact-time
    index is 100 (R - L) / mean over exactly the last 5 steps of each foot."""
    from sensorhub.config import GaitConfig

    cfg = default_config(duration_s=40, seed=7, sides=(Side.LEFT, Side.RIGHT))
    run = SimulatedRun(cfg)
    entries = [SensorEntry.from_info(i, s.info()) for i, s in enumerate(run.sensors)]
    proc = Processor(entries, gait=GaitConfig(asymmetry_steps=5, asymmetry_every=3))
    seen: dict[str, list[float]] = {"left": [], "right": []}
    checked = 0
    for d in run.deliveries(0.5):
        for ev in proc.feed(d.t, d.sensor, d.data):
            if isinstance(ev, Step) and ev.contact_ms is not None:
                seen[ev.side].append(ev.contact_ms)
            if isinstance(ev, Asymmetry) and ev.contact_si_pct is not None:
                assert ev.window_steps == 5
                left = sum(seen["left"][-5:]) / 5
                right = sum(seen["right"][-5:]) / 5
                want = 100 * (right - left) / ((right + left) / 2)
                assert abs(ev.contact_si_pct - want) < 1e-9
                checked += 1
    assert checked > 10
