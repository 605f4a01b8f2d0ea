"""The pipeline runner: sinks behind bounded queues."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from firmware_sim.run import default_config
from sensorhub.pipeline.runner import STOP, run_pipeline
from sensorhub.pipeline.session import Processor
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
