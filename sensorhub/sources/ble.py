"""Sensors over Bluetooth LE, with the real bleak library: scan, connect, configure,
stream, and keep each link alive.

One :class:`SensorLink` per sensor (each supervised on its own) and one
:class:`BleSource` that merges them for the pipeline.  bleak's callbacks only enqueue
``(host time, sensor, bytes)`` (or a link marker); everything else runs in the source's
iterator.  Host time comes from the injected ``clock`` (session seconds).

Clock: the notification's host receive time goes with the bytes; the stream's clock map
(``dsp/_stream.py``) maps each sample index to session time through the lower envelope
of those receive times, which follows the device's drift (tens of ppm) and ignores BLE
delivery jitter.  The control point's TIME_SYNC (best of five round trips) measures the
device clock against the host's at each connect (``Link.clock_offset_us``, round trip
``clock_rtt_ms``), so a consumer can place the device timestamps too.

Samples lost in an outage are counted exactly from the sample index (the sensor keeps
sampling while the link is down): the ``reconnected`` event says how many.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sensorhub.config import BleConfig
from sensorhub.errors import (
    BleError,
    CommandRejected,
    IncompletePacket,
    ProtocolError,
    SensorNotFound,
)
from sensorhub.events import Link, LinkState
from sensorhub.pipeline.vendor import Translator
from sensorhub.protocol import codec, spec
from sensorhub.protocol.codec import Advert, DataPacket, DeviceInfo, StatusPacket
from sensorhub.protocol.vendor import Family
from sensorhub.recording import SensorEntry
from sensorhub.sources import SourceBase
from sensorhub.sources.drivers import Driver, Target, family_of, parse_target, registry
from sensorhub.sources.drivers.native import NativeDriver

log = logging.getLogger(__name__)

ADDRESS = re.compile(r"^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$")


def explain(exc: BaseException) -> BleError:
    """A bleak / D-Bus failure in the user's terms."""
    from bleak.exc import BleakBluetoothNotAvailableError, BleakBluetoothNotAvailableReason

    if isinstance(exc, BleError):
        return exc
    if isinstance(exc, BleakBluetoothNotAvailableError):
        if exc.reason == BleakBluetoothNotAvailableReason.POWERED_OFF:
            return BleError(
                "the Bluetooth adapter is off", "turn it on (bluetoothctl power on) and retry"
            )
        if exc.reason == BleakBluetoothNotAvailableReason.NO_BLUETOOTH:
            return BleError(
                "no Bluetooth adapter found", "plug one in; `bluetoothctl list` shows them"
            )
        return BleError(f"Bluetooth is not available: {exc}")
    if (
        isinstance(exc, (FileNotFoundError, ConnectionRefusedError))
        or "dbus" in type(exc).__module__.lower()
    ):
        return BleError(
            f"cannot reach BlueZ on the D-Bus system bus ({exc or type(exc).__name__})",
            "is bluetoothd running? For the simulator, export the DBUS_SYSTEM_BUS_ADDRESS "
            "that `sensorhub sim-peripheral` prints",
        )
    return BleError(f"Bluetooth: {exc or type(exc).__name__}")


@dataclass(frozen=True)
class Found:
    """A sensor seen in a scan: its family, and (vendor sensors, read over a short
    connection) model, battery and what it can stream."""

    name: str
    address: str
    rssi_dbm: int
    family: Family
    advert: Advert | None = None
    model: str = ""
    battery_pct: int | None = None
    streams: str = ""
    note: str = ""  # why the details are missing

    def as_dict(self) -> dict[str, Any]:
        a = self.advert
        return {
            "name": self.name,
            "address": self.address,
            "rssi_dbm": self.rssi_dbm,
            "family": self.family,
            "model": self.model,
            "battery_pct": a.battery_pct if a else self.battery_pct,
            "streams": self.streams,
            "protocol_version": a.version if a else None,
            "note": self.note,
        }


def _advert(adv: Any) -> Advert | None:
    data = adv.manufacturer_data.get(spec.MANUFACTURER_ID)
    return codec.decode_advert(bytes(data)) if data is not None else None


def _family(dev: Any, adv: Any) -> Family | None:
    return family_of(adv.local_name or dev.name or "", list(adv.service_uuids))


async def scan(timeout: float, details: bool = True) -> list[Found]:
    """Every supported sensor advertising within ``timeout`` seconds, strongest first.
    With ``details``, each vendor sensor is connected briefly for its model, battery and
    streams (they do not advertise them)."""
    from bleak import BleakScanner

    try:
        seen = await BleakScanner.discover(timeout=timeout, return_adv=True)
    except Exception as exc:
        raise explain(exc) from None
    found = []
    for dev, adv in seen.values():
        family = _family(dev, adv)
        if family is None:
            continue
        found.append(
            Found(
                adv.local_name or dev.name or "", dev.address, int(adv.rssi), family, _advert(adv)
            )
        )
    if details:
        found = list(await asyncio.gather(*(_details(f, seen) for f in found)))
    return sorted(found, key=lambda f: -f.rssi_dbm)


async def _details(f: Found, seen: dict[str, Any]) -> Found:
    """A vendor sensor's model, battery and streams, over a short connection."""
    from bleak import BleakClient

    drv = registry()[f.family]
    describe = getattr(drv, "describe", None)
    if describe is None:
        return f
    dev = next((d for d, _ in seen.values() if d.address == f.address), f.address)
    try:
        async with asyncio.timeout(10.0), BleakClient(dev, timeout=8.0) as client:
            model, battery, streams = await describe(client)
    except Exception as exc:
        return dataclasses.replace(f, note=f"no details: {explain(exc).message}")
    return dataclasses.replace(f, model=model, battery_pct=battery, streams=streams)


class Finder:
    """One scan for every link looking for its sensor.

    BlueZ runs one discovery per client at a time (a second one fails with
    ``InProgress``), so links never scan on their own: they ask the finder, which scans
    while anyone is looking and stops when nobody is (scanning while streaming costs
    radio time on real adapters)."""

    def __init__(self) -> None:
        self._wanted: dict[int, tuple[Callable[[Any, Any], bool], asyncio.Future[Any]]] = {}
        self._scanner: Any = None
        self._lock = asyncio.Lock()
        self._next = 0

    def _seen(self, dev: Any, adv: Any) -> None:
        for match, fut in list(self._wanted.values()):
            if not fut.done() and match(dev, adv):
                fut.set_result((dev, adv))

    async def _scan(self, on: bool) -> None:
        from bleak import BleakScanner

        async with self._lock:
            if on and self._scanner is None:
                scanner = BleakScanner(detection_callback=self._seen)
                await scanner.start()
                self._scanner = scanner
            elif not on and self._scanner is not None and not self._wanted:
                scanner, self._scanner = self._scanner, None
                await scanner.stop()

    async def find(
        self, match: Callable[[Any, Any], bool], timeout: float
    ) -> tuple[Any, Any] | None:
        """The first advertisement ``match`` accepts within ``timeout`` s, or None."""
        key, self._next = self._next, self._next + 1
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._wanted[key] = (match, fut)
        try:
            await self._scan(True)
            async with asyncio.timeout(timeout):
                found: tuple[Any, Any] = await fut
                return found
        except TimeoutError:
            return None
        finally:
            del self._wanted[key]
            await self._scan(False)


@dataclass
class _Marker:
    """A link change, queued by a callback or the supervisor, in receive order."""

    t: float
    sensor: int
    state: LinkState
    reason: str | None = None
    rssi_dbm: int | None = None
    clock_offset_us: float | None = None
    clock_rtt_ms: float | None = None
    battery_pct: int | None = None


@dataclass
class _Account:
    """Per sensor: where the samples got to, for the samples lost in an outage."""

    next_index: int | None = None
    lost_at: float | None = None  # session time the link went down
    reconnected: _Marker | None = None  # waiting for its first packet
    battery: int | None = None
    translator: Translator | None = None  # a vendor sensor's notifications -> packets


class SensorLink:
    """One sensor: find, connect, configure, stream; reconnect after a link loss.  What
    is family-specific (GATT layout, commands) is its :class:`Driver`."""

    def __init__(
        self,
        target: Target,
        index: int,
        queue: asyncio.Queue[Any],
        config: BleConfig,
        clock: Callable[[], float],
        finder: Finder,
    ) -> None:
        self.finder = finder
        self.target = target
        self.index = index
        self.queue = queue
        self.config = config
        self.clock = clock
        self.info: DeviceInfo | None = None
        self.entry: SensorEntry | None = None
        self.driver: Driver | None = None
        self.address = target.name_or_address if ADDRESS.match(target.name_or_address) else ""
        self.advertised_name = ""
        self.client: Any = None
        self.connected = False
        self.closing = False
        self.dropped = 0  # notifications the full queue could not take
        self.reconnects = 0
        self.lost = asyncio.Event()  # set by a disconnect (drivers stop waiting on it)
        self._rng = random.Random()

    # ------------------------------------------------------------ callbacks
    def put(self, item: Any) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.dropped += 1

    def on_data(self, _char: Any, data: bytearray) -> None:
        self.put((self.clock(), self.index, bytes(data)))

    def _on_disconnect(self, _client: Any) -> None:
        if self.connected and not self.closing:
            self.put(_Marker(self.clock(), self.index, "disconnected", reason="link lost"))
        self.connected = False
        self.lost.set()

    # ------------------------------------------------------------- connect
    def _matches(self, dev: Any, adv: Any) -> bool:
        if self.address:
            return bool(dev.address.upper() == self.address.upper())
        name = adv.local_name or dev.name
        return name == self.target.name_or_address and _family(dev, adv) is not None

    async def _find(self, timeout: float) -> tuple[Any, Any]:
        found = await self.finder.find(self._matches, timeout)
        if found is None:
            raise SensorNotFound(
                f"sensor {self.target.name_or_address!r} not found within {timeout:g} s",
                "is it switched on and in range? `sensorhub scan` lists the sensors it sees",
            )
        return found

    @property
    def name(self) -> str:
        """What events call it: the entry's full name once connected."""
        if self.entry is not None:
            return self.entry.name
        if self.advertised_name and self.family != "sensorhub":  # device info keeps 16 bytes
            return self.advertised_name
        return self.info.name if self.info is not None else self.target.name_or_address

    @property
    def family(self) -> Family:
        return self.driver.family if self.driver is not None else "sensorhub"

    async def connect(self, timeout: float, first: bool) -> None:
        """Find the sensor, connect, (first time) configure it, sync, stream."""
        from bleak import BleakClient

        log.debug("%s: looking for it (%.1f s)", self.target, timeout)
        dev, adv = await self._find(timeout)
        self.address = dev.address
        self.advertised_name = adv.local_name or dev.name or self.target.name_or_address
        log.debug("%s: seen at %s (%s dBm), connecting", self.target, dev.address, adv.rssi)
        family = _family(dev, adv) or "sensorhub"
        if self.driver is None or self.driver.family != family:
            self.driver = registry()[family](self)
        driver = self.driver
        advert = _advert(adv)
        if family == "sensorhub" and advert is not None and advert.version > spec.PROTOCOL_VERSION:
            assert isinstance(driver, NativeDriver)
            raise driver.newer(version=advert.version)
        self.lost.clear()
        client = BleakClient(
            dev, disconnected_callback=self._on_disconnect, timeout=self.config.connect_timeout_s
        )
        await client.connect()
        self.client = client
        try:
            await driver.setup(client, first)
            self.info = driver.info
            synced = await driver.sync_clock(client)
            offset, rtt = synced if synced is not None else (None, None)
            # queued before any data of this connection: the accounting of the samples
            # lost in the outage starts from the first packet after it
            self.put(
                _Marker(
                    self.clock(),
                    self.index,
                    "connected" if first else "reconnected",
                    rssi_dbm=int(adv.rssi),
                    clock_offset_us=None if offset is None else round(offset, 1),
                    clock_rtt_ms=None if rtt is None else round(rtt, 2),
                )
            )
            if family != "sensorhub" and (pct := await driver.read_battery(client)) is not None:
                self.put(_Marker(self.clock(), self.index, "battery", battery_pct=pct))
            await driver.start(client)
            self.info = driver.info
            if self.info is None:
                raise BleError(f"sensor {self.name!r}: its driver gave no device info")
            if first or self.entry is None:
                self.entry = SensorEntry.from_info(
                    self.index,
                    self.info,
                    self.address,
                    family,
                    dict(driver.settings),
                    name=self.name if family == "sensorhub" else self.advertised_name,
                )
        except BaseException as exc:
            log.debug("%s: connection attempt failed", self.target, exc_info=True)
            lost = self.lost.is_set()  # before our own disconnect sets it
            await self._disconnect_quietly()
            if (
                lost
                and first
                and isinstance(exc, Exception)
                and not isinstance(exc, CommandRejected)
            ):
                raise BleError(
                    f"sensor {self.name!r} disconnected while it was being configured",
                    "is its battery low, or is it out of range? Bring it closer and retry",
                ) from None
            raise
        self.connected = True
        log.debug("%s: streaming (%s)", self.target, family)

    async def _disconnect_quietly(self) -> None:
        if self.client is not None:
            try:
                async with asyncio.timeout(3.0):
                    await self.client.disconnect()
            except Exception:
                pass

    async def supervise(self) -> None:
        """Reconnect after every unexpected disconnect until closed (or ``give_up_s``)."""
        cap = self.config.reconnect_max_s
        while not self.closing:
            await self.lost.wait()
            if self.closing:
                return
            await self._disconnect_quietly()
            lost_at = self.clock()
            attempt = 0
            while not self.closing:
                give_up = self.config.give_up_s
                if give_up and self.clock() - lost_at > give_up:
                    self.put(_Marker(self.clock(), self.index, "gave up", reason="timeout"))
                    return
                try:
                    # scanning is itself the wait: the sensor is back as soon as it is seen
                    await self.connect(timeout=1.0, first=False)
                    self.reconnects += 1
                    break
                except SensorNotFound:
                    continue
                except BleError as exc:  # it came back as something we cannot use
                    log.debug("%s: giving up on it", self.target, exc_info=True)
                    self.put(_Marker(self.clock(), self.index, "failed", reason=str(exc)))
                    return
                except Exception:
                    delay = self._rng.uniform(0.0, min(cap, 0.1 * 2**attempt))
                    attempt += 1
                    log.debug(
                        "%s: reconnect attempt %d failed, next in %.2f s",
                        self.target,
                        attempt,
                        delay,
                    )
                    await asyncio.sleep(delay)

    async def close(self) -> None:
        """Stop streaming, unsubscribe, disconnect."""
        self.closing = True
        self.lost.set()
        client = self.client
        if client is None:
            return
        if not self.connected or self.driver is None:  # between connect and streaming
            await self._disconnect_quietly()
            return
        try:
            async with asyncio.timeout(3.0):
                await self.driver.stop(client)
        except Exception:
            pass
        self.connected = False
        await self._disconnect_quietly()


@dataclass
class BleSource(SourceBase):
    """Notifications of one or more BLE sensors (each supervised on its own), with link
    events (connected, disconnected, reconnected with the samples lost, battery)."""

    targets: Sequence[str | Target]
    config: BleConfig
    clock: Callable[[], float] | None = None
    queue_size: int = 20_000
    links: list[SensorLink] = field(default_factory=list)
    sensors: list[SensorEntry] = field(default_factory=list)

    async def open(self) -> None:
        """Connect to every sensor (concurrently); raises one clear error if one fails."""
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        clock = self.clock or (lambda: loop.time() - t0)
        self._queue: asyncio.Queue[Any] = asyncio.Queue(self.queue_size)
        finder = Finder()
        self.links = [
            SensorLink(
                t if isinstance(t, Target) else parse_target(t),
                k,
                self._queue,
                self.config,
                clock,
                finder,
            )
            for k, t in enumerate(self.targets)
        ]
        try:
            await asyncio.gather(
                *(link.connect(self.config.scan_timeout_s, first=True) for link in self.links)
            )
        except Exception as exc:
            await self.close()
            raise explain(exc) from None
        self.sensors = [link.entry for link in self.links if link.entry is not None]
        # the link supervisors belong to this source's TaskGroup, closed by close()
        group = asyncio.TaskGroup()
        await group.__aenter__()
        self._group: asyncio.TaskGroup | None = group
        self._tasks = [
            group.create_task(link.supervise(), name=f"ble:{link.target}") for link in self.links
        ]

    def report(self) -> str:
        """One line on the links, for the end of a run."""
        parts = [
            f"{link.name}: {link.reconnects} reconnects"
            + (f", {link.dropped} notifications dropped (hub too slow)" if link.dropped else "")
            for link in self.links
        ]
        return "BLE: " + "; ".join(parts)

    async def close(self) -> None:
        for task in getattr(self, "_tasks", []):
            task.cancel()
        group = getattr(self, "_group", None)
        if group is not None:
            self._group = None
            await group.__aexit__(None, None, None)  # every supervisor has ended
        await asyncio.gather(*(link.close() for link in self.links), return_exceptions=True)

    async def notifications(self) -> AsyncIterator[Any]:
        """``(t, sensor, bytes)`` and :class:`Link` events; ``None`` every 0.25 s of quiet
        so the pipeline can notice a stop while every link is down."""
        accounts = [_Account() for _ in self.links]
        for link, acc in zip(self.links, accounts, strict=True):
            if link.entry is not None and link.entry.family not in ("sensorhub", "rsc"):
                # the same decoding the pipeline does, for the samples lost in an outage
                acc.translator = Translator(link.entry)
        while True:
            try:
                async with asyncio.timeout(0.25):
                    item = await self._queue.get()
            except TimeoutError:
                yield None
                continue
            if isinstance(item, _Marker):
                ev = self._link_event(item, accounts[item.sensor])
                if ev is not None and (tr := accounts[item.sensor].translator) is not None:
                    tr.on_link(ev)
                yield ev
                continue
            t, sensor, data = item
            for ev in self._account(t, sensor, data, accounts[sensor]):
                yield ev
            yield item

    def _entry(self, sensor: int) -> tuple[str, str]:
        link = self.links[sensor]
        side = link.info.side.label if link.info is not None else ""
        return link.name, side

    def _link_event(self, m: _Marker, acc: _Account) -> Link | None:
        name, side = self._entry(m.sensor)
        address = self.links[m.sensor].address
        if m.state == "disconnected":
            acc.lost_at = m.t
        if m.state == "reconnected":
            acc.reconnected = m  # reported with the samples lost, at the first packet
            return None
        if m.state == "battery":
            if m.battery_pct == acc.battery:
                return None
            acc.battery = m.battery_pct
        return Link(
            t=m.t,
            sensor=name,
            side=side,
            state=m.state,
            address=address,
            reason=m.reason,
            rssi_dbm=m.rssi_dbm,
            battery_pct=m.battery_pct,
            clock_offset_us=m.clock_offset_us,
            clock_rtt_ms=m.clock_rtt_ms,
        )

    def _account(self, t: float, sensor: int, data: bytes, acc: _Account) -> list[Link]:
        if self.links[sensor].family == "rsc":
            return []  # a footpod has no samples to lose
        packets = [data] if acc.translator is None else acc.translator.feed(t, data)
        out: list[Link] = []
        for packet in packets:
            try:
                msg, _ = codec.decode(packet)
            except (ProtocolError, IncompletePacket):
                continue  # the signal core counts corrupt packets
            name, side = self._entry(sensor)
            if isinstance(msg, StatusPacket) and msg.battery_pct != acc.battery:
                acc.battery = msg.battery_pct
                out.append(
                    Link(t=t, sensor=name, side=side, state="battery", battery_pct=acc.battery)
                )
            if isinstance(msg, DataPacket):
                self._count(t, sensor, msg, acc, out)
        return out

    def _count(
        self, t: float, sensor: int, msg: DataPacket, acc: _Account, out: list[Link]
    ) -> None:
        name, side = self._entry(sensor)
        end = msg.first_index + msg.count
        if (m := acc.reconnected) is not None:
            lost = (
                0
                if acc.next_index is None
                else (msg.first_index - acc.next_index) % (spec.INDEX_MODULO)
            )
            out.append(
                Link(
                    t=t,
                    sensor=name,
                    side=side,
                    state="reconnected",
                    address=self.links[sensor].address,
                    outage_s=None if acc.lost_at is None else round(m.t - acc.lost_at, 3),
                    samples_lost=lost,
                    rssi_dbm=m.rssi_dbm,
                    clock_offset_us=m.clock_offset_us,
                    clock_rtt_ms=m.clock_rtt_ms,
                )
            )
            acc.reconnected = None
        if acc.next_index is None or (end - acc.next_index) % spec.INDEX_MODULO < (
            spec.INDEX_MODULO // 2
        ):
            acc.next_index = end % spec.INDEX_MODULO
