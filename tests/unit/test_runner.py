"""The pipeline runner: sinks behind bounded queues."""

from __future__ import annotations

import asyncio
from typing import Any

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
