"""The pipeline runner: sinks behind bounded queues."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from firmware_sim.run import default_config
from sensorhub.events import Activity, Link, encode_json
from sensorhub.pipeline.runner import STOP, run_pipeline
from sensorhub.pipeline.session import Processor
from sensorhub.recording import SensorEntry
from sensorhub.sources import SourceBase
from sensorhub.sources.simulated import SimulatedSource
from sensorhub.types import Side


class SlowSink:
    """Takes 50 ms per event: far slower than events come."""

    wants_raw = False

    def __init__(self) -> None:
        self.name = "slow"
        self.seen = 0

    async def run(self, queue: asyncio.Queue[Any]) -> None:
        while (await queue.get()) is not STOP:
            self.seen += 1
            await asyncio.sleep(0.05)


class BrokenSink:
    wants_raw = False
    name = "broken"

    async def run(self, queue: asyncio.Queue[Any]) -> None:
        while (await queue.get()) is not STOP:
            pass  # it never gets anywhere, but it does not stop the others


class CountSink:
    wants_raw = False

    def __init__(self) -> None:
        self.name = "count"
        self.events: list[Any] = []

    async def run(self, queue: asyncio.Queue[Any]) -> None:
        while (item := await queue.get()) is not STOP:
            self.events.append(item)


async def test_a_slow_sink_never_stalls_detection_or_other_sinks() -> None:
    cfg = default_config(duration_s=20, seed=1, sides=(Side.LEFT, Side.RIGHT))
    source = SimulatedSource(cfg, speed=20.0)  # live pacing, 20x
    slow, count = SlowSink(), CountSink()
    summary = await run_pipeline(
        source, Processor(source.sensors), [slow, BrokenSink(), count], queue_size=8
    )
    total = sum(summary.events.values())
    assert len(count.events) == total > 50  # the healthy sink got everything
    assert summary.dropped["slow"] > 0  # the slow one lost events, and they were counted
    assert slow.seen + summary.dropped["slow"] == total


async def test_session_summary_at_the_end() -> None:
    from sensorhub.events import Step, Summary
    from sensorhub.pipeline.summary import SessionSummary

    cfg = default_config(duration_s=40, seed=2, sides=(Side.LEFT, Side.RIGHT), cadence_spm=172)
    source = SimulatedSource(cfg, speed=None)
    count = CountSink()
    await run_pipeline(
        source, Processor(source.sensors), [count], block=True, stages=[SessionSummary()]
    )
    last = count.events[-1]
    assert isinstance(last, Summary)
    steps = [e for e in count.events if isinstance(e, Step)]
    assert last.steps == len(steps) > 80
    assert last.cadence_spm is not None and abs(last.cadence_spm - 172) < 3
    assert 30 < last.running_s < 37  # 2 s standing at each end, the start ramp
    assert sum(last.strike_pct.values()) == 100.0


class RaisingSink:
    """Fails on its 10th event, as a sink with a bug or a lost connection would."""

    wants_raw = False

    def __init__(self) -> None:
        self.name = "raising"
        self.seen = 0

    async def run(self, queue: asyncio.Queue[Any]) -> None:
        while (await queue.get()) is not STOP:
            self.seen += 1
            if self.seen == 10:
                raise RuntimeError("sink bug")


@pytest.mark.parametrize("block", [False, True])
async def test_a_raising_sink_is_detached_and_the_run_goes_on(block: bool) -> None:
    """Issue 11, defect 3: one raising sink aborted the TaskGroup (detection, MQTT, audio
    and the summary stopped with it).  It is detached and reported once; the other sinks
    get every event, the summary included, live (dropping) and waiting (replay) alike."""
    from sensorhub.events import Summary
    from sensorhub.pipeline.summary import SessionSummary

    cfg = default_config(duration_s=20, seed=1, sides=(Side.LEFT, Side.RIGHT))
    source = SimulatedSource(cfg, speed=None if block else 40.0)
    raising, count = RaisingSink(), CountSink()
    told: list[tuple[str, str]] = []
    summary = await run_pipeline(
        source,
        Processor(source.sensors),
        [raising, count],
        block=block,
        queue_size=4,
        stages=[SessionSummary()],
        on_sink_failure=lambda name, what: told.append((name, what)),
    )
    assert told == [("raising", "RuntimeError: sink bug")]
    assert summary.failed == {"raising": "RuntimeError: sink bug"}
    assert raising.seen == 10
    total = sum(summary.events.values())
    assert total > 50 and len(count.events) + summary.dropped["count"] == total
    assert isinstance(count.events[-1], Summary)
    if block:
        assert len(count.events) == total


class OutageSource(SourceBase):
    """A simulated two-shoe run whose links both drop at 20 s and come back at 26 s, as
    the BLE source reports it (Link events; nothing arrives meanwhile)."""

    def __init__(self) -> None:
        from firmware_sim.run import SimulatedRun

        self.run = SimulatedRun(
            default_config(duration_s=45, seed=3, sides=(Side.LEFT, Side.RIGHT))
        )
        self.sensors = [SensorEntry.from_info(i, s.info()) for i, s in enumerate(self.run.sensors)]

    async def notifications(self) -> AsyncIterator[Any]:
        names = [(e.name, e.info.side.label) for e in self.sensors]
        state = "up"
        for d in self.run.deliveries(0.05):
            if state == "up" and d.t >= 20.0:
                state = "down"
                for name, side in names:
                    yield Link(t=20.0, sensor=name, side=side, state="disconnected", reason="test")
            if state == "down":
                if d.t < 26.0:
                    continue
                state = "back"
                for name, side in names:
                    yield Link(t=d.t, sensor=name, side=side, state="reconnected", outage_s=6.0)
            yield d.t, d.sensor, d.data
            await asyncio.sleep(0)


async def test_an_outage_is_no_signal_not_standing_and_replays_so(tmp_path: Path) -> None:
    """Issue 11, defect 12: during a BLE outage the activity became "standing" and the
    cues paused as if the runner had stopped.  With every link down the activity is "no
    signal"; no standing is decided in the outage; running comes back after it; and the
    recording (which keeps the link changes) replays to exactly the live events."""
    from sensorhub.pipeline.session import process_session
    from sensorhub.recording import SessionHeader, SessionReader, SessionWriter
    from sensorhub.sinks.files import RecorderSink

    source = OutageSource()
    count = CountSink()
    rec = tmp_path / "outage.shs"
    header = SessionHeader(1.7e9, "test", source.sensors)
    await run_pipeline(
        source,
        Processor(source.sensors),
        [count, RecorderSink(SessionWriter(rec, header))],
        block=True,
    )
    acts = [(round(e.t, 1), e.state) for e in count.events if isinstance(e, Activity)]
    assert (20.0, "no signal") in acts
    after = [s for t, s in acts if t >= 20.0]
    assert after[0] == "no signal" and after[1] == "running" and "standing" not in after[:2]
    live = [encode_json(e) for e in count.events]
    assert [encode_json(e) for e in process_session(SessionReader(rec))] == live
    # and through the live path of a replay (the ReplaySource) as well
    from sensorhub.sources.replay import ReplaySource

    again = CountSink()
    reader = SessionReader(rec)
    await run_pipeline(ReplaySource(reader, None), Processor(reader.sensors), [again], block=True)
    assert [encode_json(e) for e in again.events] == live
