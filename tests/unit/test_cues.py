"""Cadence cues: a sample-accurate metronome, and when it plays."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np

from sensorhub.cues import CueController, CueSettings
from sensorhub.events import Activity, Cadence, Cue, Impact
from sensorhub.pipeline.runner import STOP
from sensorhub.sinks.audio import WavSink


def running(t: float) -> Activity:
    return Activity(t=t, sensor="", side="both", state="running")


def cadence(t: float, spm: float) -> Cadence:
    return Cadence(t=t, sensor="L", side="left", step_cadence_spm=spm, cadence_spm=spm, steps=8)


def onsets(x: np.ndarray, threshold: float, quiet: int) -> list[int]:
    loud = np.abs(x) > threshold
    out = []
    last = -quiet - 1
    for k in np.nonzero(loud)[0]:
        if k - last > quiet:
            out.append(int(k))
        last = k
    return out


def test_ten_minute_metronome_is_on_the_grid(tmp_path: Path) -> None:
    settings = CueSettings(mode="metronome", target_spm=174.0, sample_rate=48000, volume=0.5)
    ctrl = CueController(settings)
    path = tmp_path / "cues.wav"
    sink = WavSink(path, settings)
    rng = np.random.default_rng(0)

    async def feed() -> None:
        q: asyncio.Queue[object] = asyncio.Queue()
        task = asyncio.create_task(sink.run(q))  # type: ignore[arg-type]
        t = 0.0
        events = [running(0.0)]
        while t < 600.0:  # events at irregular times, as a run delivers them
            t += float(rng.uniform(0.05, 0.5))
            events.append(cadence(t, 170.0))
        for ev in events:
            for item in [ev, *ctrl.on_event(ev)]:
                await q.put(item)
        await q.put(STOP)
        await task

    asyncio.run(feed())
    with wave.open(str(path)) as w:
        assert w.getframerate() == 48000
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(float) / 32767
    found = onsets(x, 0.01, quiet=48000 // 20)
    period = 48000 * 60 / 174.0
    ideal = np.arange(len(found)) * period
    assert len(found) >= 600 * 174 / 60 - 2
    assert np.max(np.abs(np.array(found) - ideal)) / 48000 <= 0.0005


def test_band_mode_cues_only_off_target() -> None:
    ctrl = CueController(CueSettings(mode="band", target_spm=170.0, band_spm=3.0))
    ctrl.on_event(running(0.0))
    on_target = ctrl.on_event(cadence(1.0, 169.0))
    assert [c.playing for c in on_target] == []  # silent: nothing changes
    slow = ctrl.on_event(cadence(2.0, 160.0))
    assert [c.playing for c in slow] == [True]
    back = ctrl.on_event(cadence(3.0, 171.0))
    assert [c.playing for c in back] == [False]


def test_fade_schedule_and_pause_when_standing() -> None:
    ctrl = CueController(
        CueSettings(mode="fade", target_spm=170.0, fade_schedule=((0, 1.0), (2, 1.0), (4, 0.0)))
    )
    cues: list[Cue] = list(ctrl.on_event(running(0.0)))
    t = 0.0
    while t < 300:
        t += 1.0
        cues += ctrl.on_event(cadence(t, 170.0))
    gains = [(c.t, c.gain) for c in cues if c.cue == "metronome"]
    assert gains[0] == (0.0, 1.0)
    assert all(g <= 1.0 for _, g in gains)
    at = dict(gains)
    mid = [g for tt, g in gains if 170 <= tt <= 190]
    assert mid and 0.4 < mid[0] < 0.6  # half-way through the fade at 3 minutes
    assert gains[-1][1] == 0.0 and gains[-1][0] <= 241  # silent from 4 minutes
    del at
    ctrl2 = CueController(CueSettings(mode="metronome", target_spm=170.0))
    assert ctrl2.on_event(running(0.0))[0].playing
    stop = ctrl2.on_event(Activity(t=5.0, sensor="", side="both", state="standing"))
    assert [c.playing for c in stop] == [False]


def test_target_from_baseline_and_impact_tones() -> None:
    ctrl = CueController(CueSettings(mode="metronome", baseline_s=30, increase_pct=5))
    ctrl.on_event(running(0.0))
    cues = []
    for k in range(1, 61):
        cues += ctrl.on_event(cadence(float(k), 160.0))
    first = next(c for c in cues if c.playing)
    assert first.target_spm == 168.0 and 30 <= first.t <= 31
    imp = CueController(CueSettings(mode="impact", impact_threshold_g=10.0))
    imp.on_event(running(0.0))
    soft = imp.on_event(
        Impact(
            t=1.0,
            sensor="L",
            side="left",
            contact_t=1.0,
            peak_g=8.0,
            loading_rate_g_per_s=500.0,
            axis="resultant",
        )
    )
    hard = imp.on_event(
        Impact(
            t=2.0,
            sensor="L",
            side="left",
            contact_t=2.0,
            peak_g=15.0,
            loading_rate_g_per_s=900.0,
            axis="resultant",
        )
    )
    assert soft == [] and hard[0].cue == "impact" and hard[0].pitch_hz == 800.0


def test_cue_stages_keep_running_time_on_a_real_event_stream() -> None:
    """Issue 11, defect 2: the running-time clock summed ``max(0, t - last t)`` over events
    whose times are not in order (a step carries its contact time but is sent at toe-off,
    impacts their peak time, two sensors their own delays), so it ran 1.7x fast: the
    baseline ended after 35 s and the fade after 6 min.  On a simulated two-shoe run of
    11 minutes through the signal core, the baseline must end after 60 s of running and the
    fade reach silence after 10 minutes of it."""
    from firmware_sim.run import default_config
    from sensorhub.types import Side
    from tests.unit.test_pipeline import simulate

    _, events = simulate(default_config(duration_s=11 * 60, seed=4, sides=(Side.LEFT, Side.RIGHT)))
    ctrl = CueController(CueSettings(mode="fade"))
    started = next(e.t for e in events if isinstance(e, Activity) and e.state == "running")
    target_at = silent_at = None
    for ev in events:
        for cue in ctrl.on_event(ev):
            if target_at is None and cue.target_spm is not None:
                target_at = cue.t
            if cue.playing is False and target_at is not None:
                silent_at = cue.t
    assert target_at is not None and silent_at is not None
    assert 60.0 <= target_at - started <= 62.0  # the baseline minute, to the next cadence
    # the gain reaches 0 (rounded to 0.01) at 9.94-10 min of running
    assert 9.9 * 60 <= silent_at - started <= 10.05 * 60
    assert abs(ctrl.state.running_s - (events[-1].t - started)) < 1.0
