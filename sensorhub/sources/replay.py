"""A recorded session as a source, at its own pace (or faster)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from sensorhub.events import Link
from sensorhub.recording import RECORD_LINK, SessionReader, link_of
from sensorhub.sources import SourceBase


class ReplaySource(SourceBase):
    """Notifications of a session file, with their recorded host times."""

    def __init__(self, reader: SessionReader, speed: float | None = 1.0) -> None:
        self.reader = reader
        self.speed = speed
        self.sensors = list(reader.sensors)
        self.t = 0.0  # session time of the last notification given out
        # known when the file was closed cleanly (a crash leaves no summary)
        self.duration_s = reader.summary.duration_s if reader.summary is not None else None

    def progress(self) -> tuple[str, float, float | None] | None:
        """(label, seconds done, seconds in all) of a faster-than-real-time replay."""
        if self.speed == 1.0:
            return None
        return (
            f"replay {'as fast as possible' if self.speed is None else f'x{self.speed:g}'}",
            self.t,
            self.duration_s,
        )

    async def notifications(self) -> AsyncIterator[tuple[float, int, bytes] | Link]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for k, rec in enumerate(self.reader.records()):
            if self.speed is not None:
                delay = start + rec.t / self.speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            elif k % 256 == 0:
                await asyncio.sleep(0)  # let the sinks run
            self.t = rec.t
            if rec.kind == RECORD_LINK:  # a link change, as the live run saw it
                link = link_of(rec.data)
                if link is not None:
                    yield link
                continue
            yield rec.t, rec.sensor, bytes(rec.data)
