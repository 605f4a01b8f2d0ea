"""The firmware simulator as a live source, paced in real time (or faster)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from sensorhub.config import Config
from sensorhub.errors import ConfigError
from sensorhub.recording import SensorEntry
from sensorhub.sources import SourceBase
from sensorhub.types import Mounting, Side


class SimulatedSource(SourceBase):
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


class SimulatedBleSource(SourceBase):
    """The simulator's sensors as BLE peripherals on a fake BlueZ in this process, read
    through the real BLE source (bleak): the demo exercises the whole BLE path.  Ends
    when the simulated run does.  Needs ``dbus-daemon``.  ``speed`` runs the simulated
    clock (shared by the sensors and the host) faster than real time.  ``family`` serves
    them as a vendor's simulated twins (``firmware_sim.twins``), ``pod`` adds a footpod,
    ``twin_options`` makes the twins misbehave on purpose."""

    def __init__(
        self,
        config: Any,
        ble: Any,
        speed: float = 1.0,
        family: str = "sensorhub",
        pod: bool = False,
        twin_options: Any = None,
    ) -> None:
        self.config = config
        self.ble = ble
        self.speed = speed
        self.family = family
        self.pod = pod
        self.twin_options = twin_options
        self.sensors: list[SensorEntry] = []
        self._stop = asyncio.Event()

    async def open(self) -> None:
        import os

        from firmware_sim.peripheral import SimulatedPeripheral, serve
        from sensorhub.sources.ble import BleSource

        ready = asyncio.Event()
        box: dict[str, SimulatedPeripheral] = {}

        self._bus_before = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")

        def on_ready(address: str, peripheral: SimulatedPeripheral) -> None:
            # bleak's BlueZ backend takes the system bus only from the environment, on
            # every connect (bluezdbus/client.py, manager.py: MessageBus(bus_type=SYSTEM)):
            # it cannot be passed to bleak, so it is set here, for this process, until close()
            os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = address
            box["p"] = peripheral
            ready.set()

        self._serving = asyncio.create_task(
            serve(
                self.config,
                on_ready,
                stop=self._stop,
                speed=self.speed,
                family=self.family,
                twin_options=self.twin_options,
                pod=self.pod,
            )
        )
        waiting = asyncio.create_task(ready.wait())
        await asyncio.wait({self._serving, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.is_set():
            waiting.cancel()
            self._serving.result()  # raises what went wrong
        self.peripheral = p = box["p"]
        if self.family == "sensorhub":
            targets = [d.name for d in p.devices]
        else:  # vendor sensors are told where they are worn
            targets = [
                f"{d.name}:{s.side.label}-{s.mounting.label}"
                for d, s in zip(p.devices, p.run.sensors, strict=True)
            ]
        if self.pod:
            targets.append(f"{p.pod_device.name}:pod")
        self.source = BleSource(list(targets), self.ble, clock=p.clock)
        await self.source.open()
        self.sensors = self.source.sensors

    async def notifications(self) -> AsyncIterator[Any]:
        async for item in self.source.notifications():
            if item is None and self.peripheral.run.done:
                return
            yield item

    def report(self) -> str:
        return self.source.report() if hasattr(self, "source") else ""

    async def close(self) -> None:
        if hasattr(self, "source"):
            await self.source.close()
        self._stop.set()
        if hasattr(self, "_serving"):
            await self._serving
            import os

            if self._bus_before is None:
                os.environ.pop("DBUS_SYSTEM_BUS_ADDRESS", None)
            else:
                os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = self._bus_before


def demo_source(
    config: Config, duration_s: float | None = None, seed: int | None = None
) -> tuple[SourceBase, str]:
    """The source of ``sensorhub demo`` from ``[sim]``: two simulated shoes, over BLE
    (a fake BlueZ on a private bus, read with bleak) where dbus-daemon is installed or
    ``transport = ble``, else fed straight in; and the banner title saying which."""
    import shutil
    from pathlib import Path

    from firmware_sim.gait import GaitParams
    from firmware_sim.run import default_config

    sim = config.sim
    try:
        cfg = default_config(
            activity=sim.activity,
            mount=Mounting[sim.mount.upper()],
            duration_s=duration_s if duration_s is not None else sim.duration_s,
            seed=seed if seed is not None else sim.seed,
            sides=(Side.LEFT, Side.RIGHT),
            cadence_spm=sim.cadence_spm,
            gait=GaitParams(asymmetry=sim.asymmetry),
        )
    except ValueError as exc:
        raise ConfigError(f"[sim] in the configuration: {exc}") from None
    has_dbus = shutil.which("dbus-daemon") is not None or Path("/usr/bin/dbus-daemon").exists()
    if sim.transport == "ble" and not has_dbus:
        raise ConfigError(
            "[sim] transport = ble needs dbus-daemon",
            "install it (apt-get install dbus-daemon) or use transport = direct",
        )
    if sim.transport == "direct" or (sim.transport == "auto" and not has_dbus):
        return SimulatedSource(cfg, speed=1.0), "sensorhub demo"
    return SimulatedBleSource(cfg, config.ble), "sensorhub demo (simulated sensors over BLE)"
