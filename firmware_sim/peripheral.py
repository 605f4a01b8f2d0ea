"""The firmware simulator as Bluetooth LE peripherals, on the fake BlueZ of
``firmware_sim.bluez``: what bleak sees is indistinguishable from real sensors.

Each simulated sensor advertises (name, the sensorhub service, manufacturer data with
protocol version, battery, mounting, side), is connectable, serves the GATT table of the
protocol (data and status notifications, the control point, device info) and streams in
real time what the firmware simulator produces.  Faults: the simulator's own (dropped,
duplicated, corrupted notifications), link drops (``link-drop=AT:SECONDS``: the link
breaks and the sensor stops advertising for that long: it "disappears and comes back"),
commands rejected (``reject``) and a newer protocol version (``version``).

The sensor keeps sampling while nobody listens, so every data notification that could
not be delivered is a truth of samples lost: :attr:`SimulatedPeripheral.undelivered`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from firmware_sim.bluez import Characteristic, FakeBluez, FakeDevice, Service
from firmware_sim.device import SimulatedSensor
from firmware_sim.run import SimConfig, SimulatedRun
from firmware_sim.twins import Twin, TwinOptions, twin_class
from sensorhub.protocol import codec, spec
from sensorhub.protocol.codec import Advert, Response
from sensorhub.protocol.spec import Kind, ResultCode


def _reversion(data: bytes, version: int | None) -> bytes:
    """The message as a sensor speaking protocol ``version`` would send it."""
    if version is None:
        return data
    body = bytes([version]) + data[1 : -spec.CRC_SIZE]
    return body + spec.CRC.pack(codec.crc16(body))


def address_of(sensor: SimulatedSensor) -> str:
    """A random static address from the sensor's serial (top two bits set)."""
    raw = bytes([sensor.serial[0] | 0xC0]) + sensor.serial[1:]
    return ":".join(f"{b:02X}" for b in raw)


@dataclass
class SimulatedPeripheral:
    """Every sensor of ``run`` as a BLE peripheral on ``bluez``, paced by ``clock``.

    Parameters
    ----------
    reject
        Opcodes every sensor answers with UNSUPPORTED (a sensor that rejects a command).
    version
        Protocol version the sensors speak (default: this sensorhub's).
    tick_s
        Real time between simulator steps.
    """

    bluez: FakeBluez
    run: SimulatedRun
    clock: Callable[[], float]
    reject: frozenset[int] = frozenset()
    version: int | None = None
    tick_s: float = 0.02
    #: the sensors' family: "sensorhub" (this profile) or a vendor twin's
    #: (``firmware_sim.twins``: polar, movesense, metawear)
    family: str = "sensorhub"
    twin_options: TwinOptions = field(default_factory=TwinOptions)
    #: also serve a running speed and cadence footpod (``twins.rsc``) for the runner
    pod: bool = False
    #: runs a callback at a simulated time (a real-time peripheral: the event loop's
    #: ``call_at``); None: deliver at once
    schedule: Callable[[float, Callable[[], None]], object] | None = None
    devices: list[FakeDevice] = field(default_factory=list)
    undelivered: list[int] = field(default_factory=list)  # samples, per sensor
    outages: list[list[tuple[float, float]]] = field(default_factory=list)  # (from, to)
    delivered: list[int] = field(default_factory=list)  # data notifications, per sensor
    #: per sensor, every data packet that could not be delivered: (time, first index, count)
    lost_packets: list[list[tuple[float, int, int]]] = field(default_factory=list)
    twins: list[Twin] = field(default_factory=list)  # per sensor, for a vendor family
    pod_twin: Any = None

    def __post_init__(self) -> None:
        n = len(self.run.sensors)
        self.undelivered = [0] * n
        self.delivered = [0] * n
        self.outages = [[] for _ in range(n)]
        self.lost_packets = [[] for _ in range(n)]
        self._away = [False] * n
        for k, sensor in enumerate(self.run.sensors):
            if self.family == "sensorhub":
                self.devices.append(self._add(k, sensor))
            else:
                self.devices.append(self._add_twin(k, sensor))
        if self.pod:
            from firmware_sim.twins.rsc import PodTwin

            self.pod_twin = PodTwin(self.run, self.clock)
            self.pod_device = self._serve(self.pod_twin, len(self.devices))

    def _serve(self, twin: Any, k: int) -> FakeDevice:
        dev = self.bluez.add_device(
            twin.address,
            twin.name,
            services=twin.services(),
            service_uuids=twin.advertised_uuids(),
            manufacturer_data=twin.manufacturer_data(),
            rssi=-55 - 6 * k,
            mtu=twin.mtu,
        )
        twin.dev = dev
        dev.on_connect = twin.on_connect
        dev.on_disconnect = lambda reason: twin.on_disconnect(reason == "central")
        return dev

    def _add_twin(self, k: int, sensor: SimulatedSensor) -> FakeDevice:
        twin = twin_class(self.family)(sensor, self.twin_options, self.clock)
        twin.address = address_of(sensor)
        if self.family == "metawear":
            # no timestamps: it times its own notifications (connection events of a phase
            # drawn per connection), with the peripheral's clock
            from firmware_sim.twins.metawear import MetaWearTwin

            assert isinstance(twin, MetaWearTwin)
            twin.schedule = self.schedule
        self.twins.append(twin)
        return self._serve(twin, k)

    def _advert(self, sensor: SimulatedSensor) -> bytes:
        return codec.encode_advert(
            Advert(
                self.version or spec.PROTOCOL_VERSION,
                sensor.status().battery_pct,
                int(sensor.mounting),
                int(sensor.side),
            )
        )

    def _add(self, k: int, sensor: SimulatedSensor) -> FakeDevice:
        def control(data: bytes) -> None:
            if len(data) > 2 and data[2] in self.reject:
                resp = codec.encode(Response(data[2], data[3], ResultCode.UNSUPPORTED))
            else:
                resp = sensor.handle_command(data)
            resp = _reversion(resp, self.version)
            control_char.value = resp
            dev.notify(spec.CONTROL_CHAR_UUID, resp)

        control_char = Characteristic(
            spec.CONTROL_CHAR_UUID, ["write", "read", "notify"], on_write=control
        )
        service = Service(
            spec.SERVICE_UUID,
            [
                Characteristic(spec.DATA_CHAR_UUID, ["notify"]),
                control_char,
                Characteristic(
                    spec.INFO_CHAR_UUID,
                    ["read"],
                    on_read=lambda: _reversion(sensor.read_info(), self.version),
                ),
                Characteristic(
                    spec.STATUS_CHAR_UUID,
                    ["read", "notify"],
                    on_read=lambda: _reversion(sensor.read_status(), self.version),
                ),
            ],
        )
        dev = self.bluez.add_device(
            address_of(sensor),
            sensor.name,
            services=[service],
            service_uuids=[spec.SERVICE_UUID],
            manufacturer_data={spec.MANUFACTURER_ID: self._advert(sensor)},
            rssi=-55 - 6 * k,
        )
        return dev

    def samples_lost(self, k: int) -> int:
        """Samples sensor ``k`` took that never reached a host (truth)."""
        mine = self.twins[k].undelivered if self.twins else self.undelivered[k]
        return mine + self.run.sensors[k].fault_log.link_lost_samples

    def _link(self, k: int, t: float) -> None:
        """Link drops of the fault configuration: away (no link, no advertising) while
        one lasts, back when it ends."""
        away = self.run.config.faults.link_down(t)
        if away == self._away[k]:
            return
        self._away[k] = away
        dev = self.devices[k]
        if away:
            self.outages[k].append((t, t))
            dev.set_present(False)
        else:
            start, _ = self.outages[k][-1]
            self.outages[k][-1] = (start, t)
            dev.set_present(True)

    def step(self) -> None:
        """Advance the simulation one tick ahead of ``clock()`` and deliver what the
        sensors send at the time they send it (each notification at its connection
        event, as a radio would), or at once without a scheduler."""
        now = self.clock()
        horizon = now + (self.tick_s if self.schedule is not None else 0.0)
        dt = horizon - self.run.t
        if dt <= 0:
            return
        for k in range(len(self.devices)):
            self._link(k, now)
        if self.pod_twin is not None:
            self.pod_twin.tick(now)
        for d in self.run.poll(dt):
            if self.schedule is None or d.t <= now:
                self._deliver(d.sensor, d.data)
            else:
                self.schedule(d.t, functools.partial(self._deliver, d.sensor, d.data))

    def _deliver(self, sensor: int, data: bytes) -> None:
        if self.twins:
            self.twins[sensor].on_native(self.clock(), data)
            return
        kind = data[1] if len(data) > 1 else 0
        char = spec.DATA_CHAR_UUID if kind == Kind.DATA else spec.STATUS_CHAR_UUID
        sent = self.devices[sensor].notify(char, _reversion(data, self.version))
        if kind == Kind.DATA:  # (a link-drop fault loses its own in the firmware)
            if sent:
                self.delivered[sensor] += 1
            elif self.run.sensors[sensor].streaming:  # (not what a host's STOP flushed)
                self.undelivered[sensor] += data[3]  # the packet's sample count
                first = int.from_bytes(data[6:10], "little")
                self.lost_packets[sensor].append((self.clock(), first, data[3]))

    async def serve(self) -> None:
        """Step in real time until the run's end (or cancelled)."""
        while not self.run.done:
            self.step()
            await asyncio.sleep(self.tick_s)


def quiet_sensors(config: SimConfig) -> SimConfig:
    """The same run with sensors that stream only when a host asks (START_STREAM)."""
    return dataclasses.replace(
        config, sensors=tuple(dataclasses.replace(s, autostart=False) for s in config.sensors)
    )


async def serve(
    config: SimConfig,
    on_ready: Callable[[str, SimulatedPeripheral], None],
    *,
    reject: frozenset[int] = frozenset(),
    version: int | None = None,
    stop: asyncio.Event | None = None,
    speed: float = 1.0,
    powered: bool = True,
    family: str = "sensorhub",
    twin_options: TwinOptions | None = None,
    pod: bool = False,
) -> SimulatedPeripheral:
    """Start a private system bus with a fake BlueZ serving the simulated sensors, call
    ``on_ready(bus address, peripheral)``, and run until the simulation ends (or, given
    ``stop``, until it is set).  Returns the peripheral (its truth: ``undelivered``,
    ``outages``).  ``speed`` runs the simulated clock faster than real time (tests; a
    host must use the same clock, ``peripheral.clock``)."""
    from dbus_fast.aio import MessageBus

    from firmware_sim.bluez import private_system_bus

    loop = asyncio.get_running_loop()
    async with private_system_bus() as address:
        bus = await MessageBus(bus_address=address).connect()
        try:
            async with FakeBluez(bus) as bluez:
                bluez.set_powered(powered)
                t0 = loop.time()
                run = SimulatedRun(quiet_sensors(config))
                peripheral = SimulatedPeripheral(
                    bluez,
                    run,
                    lambda: speed * (loop.time() - t0),
                    reject=reject,
                    version=version,
                    schedule=lambda t, fn: loop.call_at(t0 + t / speed, fn),
                    family=family,
                    twin_options=twin_options or TwinOptions(),
                    pod=pod,
                )
                on_ready(address, peripheral)
                task = asyncio.create_task(peripheral.serve())
                if stop is None:  # until the simulated run ends
                    await task
                    return peripheral
                await stop.wait()  # the sensors stay connectable after the run's end
                task.cancel()
                return peripheral
        finally:
            bus.disconnect()


class PeripheralProcess:
    """``sensorhub sim-peripheral ARGS`` in its own process, as a user starts it: waits
    for its sensors and bus address (``env`` is this environment with the address)."""

    def __init__(self, *args: str, timeout: float = 30.0) -> None:
        import os
        import subprocess
        import sys
        import time

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sensorhub", "sim-peripheral", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.names: list[str] = []
        self.address = ""
        deadline = time.monotonic() + timeout
        while not self.address and time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith("simulated sensors:"):
                self.names = [x.split(" (")[0] for x in line.split(": ", 1)[1].split(", ")]
            elif line.startswith("export DBUS_SYSTEM_BUS_ADDRESS="):
                self.address = line.split("=", 1)[1].strip()
            elif not line and self.proc.poll() is not None:
                break
        if not self.address:
            _, err = self.close()
            raise RuntimeError(f"sim-peripheral did not start: {err.strip()}")
        self.env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": self.address}

    def close(self) -> tuple[str, str]:
        """Stop it (SIGTERM: a clean stop); its remaining output."""
        if self.proc.poll() is None:
            self.proc.terminate()
        out, err = self.proc.communicate(timeout=10)  # and closes the pipes
        return out, err
