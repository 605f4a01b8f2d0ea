"""A recorded session as a source, at its own pace (or faster)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from sensorhub.recording import SessionReader


class ReplaySource:
    """Notifications of a session file, with their recorded host times."""

    def __init__(self, reader: SessionReader, speed: float | None = 1.0) -> None:
        self.reader = reader
        self.speed = speed
        self.sensors = list(reader.sensors)

    async def notifications(self) -> AsyncIterator[tuple[float, int, bytes]]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for k, rec in enumerate(self.reader.records()):
            if self.speed is not None:
                delay = start + rec.t / self.speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            elif k % 256 == 0:
                await asyncio.sleep(0)  # let the sinks run
            yield rec.t, rec.sensor, bytes(rec.data)
