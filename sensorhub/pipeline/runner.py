"""The live pipeline: source -> decode/detect -> bus -> one bounded queue per sink.

One ``asyncio.TaskGroup`` owns the named tasks: the source task feeds notifications
through the :class:`~sensorhub.pipeline.session.Processor` and publishes events; every
sink drains its own bounded queue.  A slow or broken sink never stalls detection: on a
live run a full queue drops the event for that sink only, and the drop is counted.  A
replay as fast as possible waits for the sinks instead (nothing to lose, no clock to keep).
A sink that fails (a full disk, a raising sink) is detached: its failure is reported once
and kept in the summary, and detection and every other sink go on to the end.
Stopping (end of the source, Ctrl-C, SIGTERM) closes every sink in order: the recorder
is flushed, MQTT sets its status offline.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sensorhub.events import AnyEvent, Link
from sensorhub.pipeline.session import Processor
from sensorhub.recording import SensorEntry

log = logging.getLogger(__name__)

#: Put on every sink's queue, after everything else, when the run ends.
STOP: Any = object()


class Sink(Protocol):
    name: str
    wants_raw: bool  # True: gets (t, sensor, bytes) notifications instead of events

    async def run(self, queue: asyncio.Queue[Any]) -> None: ...


class Stage(Protocol):
    """Sees every event and may add its own (cues); ``finish`` has its last word."""

    def on_event(self, ev: AnyEvent) -> Sequence[AnyEvent]: ...

    def finish(self) -> Sequence[AnyEvent]: ...


class Source(Protocol):
    """Yields ``(t, sensor, bytes)`` notifications; a source may also yield events of its
    own (link changes) and ``None`` while quiet, so a stop is noticed without data.
    ``sources.SourceBase`` has the defaults."""

    sensors: list[SensorEntry]

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def notifications(self) -> AsyncIterator[tuple[float, int, bytes] | AnyEvent | None]: ...

    def progress(self) -> tuple[str, float, float | None] | None: ...

    def report(self) -> str: ...


@dataclass
class RunSummary:
    notifications: int = 0
    events: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)  # per sink
    stopped_by: str = "end of source"
    failed: dict[str, str] = field(default_factory=dict)  # sink -> what went wrong


def describe_failure(exc: BaseException) -> str:
    """One line on what went wrong in a sink (an OSError with its file)."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"{exc.strerror}{where}"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Bus:
    """Fan-out to one bounded queue per sink."""

    def __init__(self, block: bool) -> None:
        self.block = block
        self.queues: list[tuple[Sink, asyncio.Queue[Any]]] = []
        self.dropped: Counter[str] = Counter()

    def add(self, sink: Sink, maxsize: int) -> asyncio.Queue[Any]:
        q: asyncio.Queue[Any] = asyncio.Queue(maxsize)
        self.queues.append((sink, q))
        return q

    def detach(self, sink: Sink) -> None:
        """Nothing more goes to ``sink`` (it has failed)."""
        self.queues = [(s, q) for s, q in self.queues if s is not sink]

    async def put(self, item: Any, raw: bool) -> None:
        for sink, q in self.queues:
            if sink.wants_raw != raw:
                continue
            if self.block:
                await q.put(item)
            else:
                try:
                    q.put_nowait(item)
                except asyncio.QueueFull:
                    self.dropped[sink.name] += 1

    async def close(self, stop: Any) -> None:
        for _, q in self.queues:
            await q.put(stop)  # after everything queued: sinks finish their backlog


async def run_pipeline(
    source: Source,
    processor: Processor,
    sinks: Sequence[Sink],
    *,
    block: bool = False,
    queue_size: int = 4096,
    stop_event: asyncio.Event | None = None,
    stages: Sequence[Stage] = (),
    on_sink_failure: Callable[[str, str], object] | None = None,
) -> RunSummary:
    """Run until the source ends or ``stop_event`` is set; returns what happened.

    ``stages`` see every event and may add their own (the cue controller adds cues).  A
    sink that raises is detached and ``on_sink_failure(name, what)`` told at once."""
    summary = RunSummary()
    bus = Bus(block)
    queues = [(s, bus.add(s, queue_size)) for s in sinks]
    wants_raw = any(s.wants_raw for s in sinks)

    async def produce() -> None:
        try:
            async for item in source.notifications():
                if item is None:  # a quiet source's heartbeat: only the stop check
                    if stop_event is not None and stop_event.is_set():
                        summary.stopped_by = "stop requested"
                        break
                    continue
                if isinstance(item, tuple):
                    t, sensor, data = item
                    summary.notifications += 1
                    if wants_raw:
                        await bus.put(item, raw=True)
                    events: list[Any] = processor.feed(t, sensor, data)
                else:  # an event of the source's own (a BLE link change)
                    events = [item]
                    if isinstance(item, Link):
                        if wants_raw:  # the recorder keeps it: a replay sees the outage
                            await bus.put(item, raw=True)
                        events += processor.on_link(item)
                for stage in stages:
                    events += [x for ev in list(events) for x in stage.on_event(ev)]
                for ev in events:
                    summary.events[str(ev.__struct_config__.tag)] += 1
                    await bus.put(ev, raw=False)
                if stop_event is not None and stop_event.is_set():
                    summary.stopped_by = "stop requested"
                    break
            # what the processor still holds (events of batching sensors, in time order)
            events = processor.finish()
            for stage in stages:
                events += [x for ev in list(events) for x in stage.on_event(ev)]
            for ev in events:
                summary.events[str(ev.__struct_config__.tag)] += 1
                await bus.put(ev, raw=False)
            for stage in stages:  # what a stage has to say at the end (a session summary)
                for ev in stage.finish():
                    summary.events[str(ev.__struct_config__.tag)] += 1
                    await bus.put(ev, raw=False)
        finally:
            await bus.close(STOP)

    async def guarded(sink: Sink, q: asyncio.Queue[Any]) -> None:
        try:
            await sink.run(q)
        except Exception as exc:  # the sink's failure is its own: the run goes on
            log.debug("sink %s failed", sink.name, exc_info=True)  # the cause, with -v
            bus.detach(sink)
            while not q.empty():  # a source waiting on its full queue goes on
                q.get_nowait()
            what = describe_failure(exc)
            summary.failed[sink.name] = what
            if on_sink_failure is not None:
                on_sink_failure(sink.name, what)

    async with asyncio.TaskGroup() as tg:
        for sink, q in queues:
            tg.create_task(guarded(sink, q), name=f"sink:{sink.name}")
        tg.create_task(produce(), name="source")
    summary.dropped = bus.dropped
    return summary
