"""The firmware simulator as a live source, paced in real time (or faster)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from sensorhub.recording import SensorEntry


class SimulatedSource:
    """Notifications of a simulated run (``firmware_sim``, imported lazily).

    Parameters
    ----------
    config
        A ``firmware_sim.run.SimConfig``.
    speed
        1 for real time, N for N times faster, None for as fast as possible.
    tick_s
        Simulated time per step (notifications of a step arrive together).
    """

    def __init__(self, config: Any, speed: float | None = 1.0, tick_s: float = 0.02) -> None:
        from firmware_sim.run import SimulatedRun

        self.run = SimulatedRun(config)
        self.speed = speed
        self.tick_s = tick_s
        self.sensors = [SensorEntry.from_info(i, s.info()) for i, s in enumerate(self.run.sensors)]

    async def notifications(self) -> AsyncIterator[tuple[float, int, bytes]]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        while not self.run.done:
            for d in self.run.poll(self.tick_s):
                yield d.t, d.sensor, d.data
            if self.speed is None:
                await asyncio.sleep(0)
            else:
                await asyncio.sleep(max(0.0, start + self.run.t / self.speed - loop.time()))
        for d in self.run.finish():
            yield d.t, d.sensor, d.data
