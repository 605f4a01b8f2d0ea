"""How each sensor family is found, configured, started and stopped over BLE.

A :class:`Driver` is the family-specific half of a ``ble.SensorLink``: the link finds,
connects, reconnects and queues; the driver knows the GATT layout and the commands.
Families are told apart by the advertisement (service UUIDs, name) and confirmed by the
GATT services after connecting.  Vendor sensors do not store where they are worn, so the
user says it: ``--sensor "NAME_OR_ADDRESS:left-shin"`` (:func:`parse_target`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from sensorhub.errors import BleError, ConfigError
from sensorhub.protocol import spec
from sensorhub.protocol.codec import DeviceInfo
from sensorhub.protocol.vendor import Family
from sensorhub.types import Mounting, Side

if TYPE_CHECKING:
    from sensorhub.sources.ble import SensorLink

BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"
MODEL_NUMBER_UUID = "00002a24-0000-1000-8000-00805f9b34fb"
SERIAL_NUMBER_UUID = "00002a25-0000-1000-8000-00805f9b34fb"
FIRMWARE_REV_UUID = "00002a26-0000-1000-8000-00805f9b34fb"
MANUFACTURER_UUID = "00002a29-0000-1000-8000-00805f9b34fb"

_HEX_PAIR = re.compile(r"^[0-9A-Fa-f]{2}$")  # the last part of an address
_PLACEMENT = re.compile(
    r"^(?P<target>.+?)(?::(?P<side>left|right)?-?(?P<mount>shoe|shin|pod)?)?$", re.IGNORECASE
)


@dataclass(frozen=True)
class Target:
    """A sensor the user asked for: its name or address, and where it is worn."""

    name_or_address: str
    side: Side | None = None
    mounting: Mounting | None = None
    pod: bool = False  # said to be a footpod (``:pod``)

    def __str__(self) -> str:
        return self.name_or_address


def parse_target(text: str) -> Target:
    """``NAME_OR_ADDRESS[:SIDE-MOUNTING]``: ``"Polar Sense 1A2B3C4D:left-shin"``,
    ``"AA:BB:CC:DD:EE:FF:right-shoe"``, ``"Stryd:pod"``.  An address alone has colons
    of its own; a suffix is only taken for what it says (left/right, shoe/shin, pod)."""
    text = text.strip()
    m = _PLACEMENT.match(text)
    if not text or m is None:
        raise ConfigError(f"--sensor {text!r}: give a sensor name or address")
    suffix = text[len(m.group("target")) :]
    last = text.rsplit(":", 1)[-1] if ":" in text else ""
    if (suffix and not (m.group("side") or m.group("mount"))) or (
        last and not suffix and not _HEX_PAIR.match(last)
    ):
        raise ConfigError(
            f"--sensor {text!r}: after the name, write where it is worn, e.g. ':left-shin', "
            "':right-shoe' or ':pod'"
        )
    side = {"left": Side.LEFT, "right": Side.RIGHT}.get((m.group("side") or "").lower())
    mount = (m.group("mount") or "").lower()
    return Target(
        m.group("target"),
        side,
        {"shoe": Mounting.SHOE, "shin": Mounting.SHIN}.get(mount),
        pod=mount == "pod",
    )


def _uuid16(u: int) -> str:
    return f"0000{u:04x}-0000-1000-8000-00805f9b34fb"


class Driver:
    """One family's GATT dialogue.  Subclasses set :attr:`family` and implement
    :meth:`identify` (class method, from a scan), :meth:`setup`, :meth:`start`,
    :meth:`stop`."""

    family: ClassVar[Family]
    #: human name of the family, for messages and the scan
    label: ClassVar[str]

    def __init__(self, link: SensorLink) -> None:
        self.link = link
        #: what the stream decoder needs to read this sensor's notifications (recorded)
        self.settings: dict[str, Any] = {}
        #: the device info the signal core reads the stream with, once started
        self.info: DeviceInfo | None = None

    @classmethod
    def identify(cls, name: str, service_uuids: list[str]) -> bool:
        raise NotImplementedError

    async def setup(self, client: Any, first: bool) -> None:
        """Read what the sensor is and configure it (``first``: as the user asked; after a
        reconnect as before); sets :attr:`info` (final after :meth:`start`)."""
        raise NotImplementedError

    async def sync_clock(self, client: Any) -> tuple[float, float] | None:
        """(device - host clock in us, round trip ms), where the family can measure it."""
        return None

    async def start(self, client: Any) -> None:
        raise NotImplementedError

    async def stop(self, client: Any) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------ shared helpers
    @property
    def who(self) -> str:
        return f"{self.label} {self.link.name!r}"

    def placement(self) -> tuple[Mounting, Side]:
        """Where the user said this vendor sensor is worn (they do not store it)."""
        t = self.link.target
        if t.mounting is None:
            raise BleError(
                f"{self.who} does not know where it is worn",
                f"say it with the sensor: --sensor '{t.name_or_address}:left-shin' (left or "
                "right, shoe or shin)",
            )
        return t.mounting, t.side or Side.UNKNOWN

    @staticmethod
    async def read_battery(client: Any) -> int | None:
        try:
            data = await client.read_gatt_char(BATTERY_LEVEL_UUID)
        except Exception:
            return None
        return int(data[0]) if len(data) >= 1 and data[0] <= 100 else None

    @staticmethod
    async def read_text(client: Any, uuid: str) -> str:
        try:
            data = await client.read_gatt_char(uuid)
        except Exception:
            return ""
        return bytes(data).decode("utf-8", "replace").strip("\0 ")

    def check_rate(self, rate_hz: int, supported: tuple[int, ...], key: str) -> None:
        """One clear line when the rate asked for is not one the sensor streams at."""
        usable = [r for r in supported if spec.ODR_MIN_HZ <= r <= spec.ODR_MAX_HZ]
        if rate_hz not in usable:
            below = [str(r) for r in supported if r < spec.ODR_MIN_HZ]
            above = [str(r) for r in supported if r > spec.ODR_MAX_HZ]
            outside = [
                f"{', '.join(below)} Hz {'is' if len(below) == 1 else 'are'} below the "
                f"{spec.ODR_MIN_HZ} Hz it needs"
                if below
                else "",
                f"{', '.join(above)} Hz above the {spec.ODR_MAX_HZ} Hz it takes" if above else "",
            ]
            why = "; ".join(x for x in outside if x)
            raise BleError(
                f"{self.who} cannot stream at {rate_hz} Hz: it supports "
                f"{', '.join(map(str, usable))} Hz for the signal core"
                + (f" ({why})" if why else ""),
                f"set --set ble.{key}=<one of those> (or in [ble] of the configuration)",
            )

    async def answer(
        self, queue: asyncio.Queue[bytes], what: str, accept: Callable[[bytes], Any | None]
    ) -> Any:
        """The first notification on ``queue`` that ``accept`` turns into an answer, within
        3 s; a clear error naming ``what`` when none comes, or at once when the link goes."""
        lost = asyncio.ensure_future(self.link.lost.wait())
        try:
            async with asyncio.timeout(3.0):
                while True:
                    get = asyncio.ensure_future(queue.get())
                    await asyncio.wait({get, lost}, return_when=asyncio.FIRST_COMPLETED)
                    if not get.done():
                        get.cancel()
                        raise BleError(f"{self.who} disconnected while waiting for {what}")
                    got = accept(get.result())
                    if got is not None:
                        return got
        except TimeoutError:
            raise BleError(
                f"{self.who} did not answer {what} within 3 s",
                "is it still on and in range? Try again",
            ) from None
        finally:
            lost.cancel()


def vendor_info(
    *,
    name: str,
    serial: bytes,
    model: spec.SensorModel,
    odr_hz: float,
    acc_range_g: int,
    gyro_range_dps: int,
    acc_scale_g: float,
    gyro_scale_dps: float,
    mounting: Mounting,
    side: Side,
    firmware: tuple[int, int, int] = (0, 0, 0),
) -> DeviceInfo:
    """The device info a vendor sensor's stream is read with (the signal core's view)."""
    return DeviceInfo(
        firmware=firmware,
        model=model,
        acc_range_g=acc_range_g,
        gyro_range_dps=gyro_range_dps,
        acc_scale_g=acc_scale_g,
        gyro_scale_dps=gyro_scale_dps,
        odr_hz=odr_hz,
        mounting=mounting,
        side=side,
        serial=(serial + bytes(6))[:6],
        name=name.encode()[:16].decode("utf-8", "ignore"),
    )


def firmware_tuple(text: str) -> tuple[int, int, int]:
    """ "1.1.5" -> (1, 1, 5); anything unreadable -> zeros."""
    nums = ([int(x) for x in re.findall(r"\d+", text)] + [0, 0, 0])[:3]
    return nums[0], nums[1], nums[2]


def registry() -> dict[Family, type[Driver]]:
    """Every family's driver class (imported on first use)."""
    from sensorhub.sources.drivers.native import NativeDriver

    found: dict[Family, type[Driver]] = {"sensorhub": NativeDriver}
    for mod in ("polar", "movesense", "metawear", "rsc"):
        try:
            module = __import__(f"sensorhub.sources.drivers.{mod}", fromlist=["DRIVER"])
        except ImportError:  # pragma: no cover - a family not built yet
            continue
        drv: type[Driver] = module.DRIVER
        found[drv.family] = drv
    return found


def family_of(name: str, service_uuids: list[str]) -> Family | None:
    """Which family an advertisement belongs to (None: not a sensor we speak)."""
    uuids = [u.lower() for u in service_uuids]
    for family, drv in registry().items():
        if drv.identify(name, uuids):
            return family
    return None
