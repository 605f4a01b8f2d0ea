"""MbientLab MetaWear boards (MetaMotion S with a BMI270; MetaMotion R, RL, C with a
BMI160) over the raw MetaWear protocol (``sensorhub.protocol.metawear``; the vendor's SDK
is not used: its licence restricts it).

Found by the MetaWear service UUID in the advertisement or a name starting ``MetaWear``.
The dialogue, in the SDK's order: notifications on, the module-info probes of the
accelerometer and gyro (the implementation id names the chip, which decides the register
maps and codes), connection parameters, the accelerometer and gyro configs, then (to
start) subscribe packed, enable sampling, start.  The board acknowledges no write, so
each config is read back (``03 83`` / ``13 83``: the config in force, as the SDK reads it)
and a board that did not take it is a one-line error; so is one that sends no data within
3 s of the start.  Module-info and read-back answers
come to this driver; data notifications go to the link (recorded, and decoded by the
pipeline's ``MetaWearStream`` with :attr:`settings`).

The stream has no timestamps and no counter: the samples lost in an outage are placed
from host arrival times (``MetaWearStream.restart``), within about the connection
interval x rate.  A disconnect stops the board's streams: after a reconnect the same
configuration is written, checked and started again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sensorhub.errors import BleError, CommandRejected, IncompletePacket, ProtocolError
from sensorhub.protocol import metawear as mw
from sensorhub.protocol import spec
from sensorhub.protocol.metawear import Imu, Module, ModuleInfo
from sensorhub.sources.drivers import (
    FIRMWARE_REV_UUID,
    MODEL_NUMBER_UUID,
    SERIAL_NUMBER_UUID,
    Driver,
    firmware_tuple,
    vendor_info,
)

#: the device information model number of the boards sensorhub reads (the codec's notes)
MODEL_NAMES = {"5": "MetaMotion R/RL", "8": "MetaMotion S"}
SENSOR_MODEL = {Imu.BMI270: spec.SensorModel.BMI270, Imu.BMI160: spec.SensorModel.BMI160}
CHIPS_HELP = (
    "sensorhub reads MetaWear boards with a Bosch BMI160 or BMI270 (MetaMotion R, RL, C, S)"
)
_NAMES: dict[int, str] = {Module.ACCELEROMETER: "accelerometer", Module.GYRO: "gyro"}


def rates(imu: Imu, gyro: bool) -> tuple[int, ...]:
    """The whole-Hz ODRs the chip's accelerometer has (and its gyro shares)."""
    odrs = set(mw.ACC_ODR_CODES[imu])
    if gyro:
        odrs &= set(mw.GYRO_ODR_CODES)
    return tuple(int(r) for r in sorted(odrs) if float(r).is_integer())


def start_commands(
    imu: Imu, rate_hz: int, acc_range_g: int, gyro_range_dps: int | None
) -> list[bytes]:
    """Everything sensorhub writes to start a board, in the SDK's order: connection
    parameters (7.5 ms asked for), the configs, subscribe packed, enable, start (the
    accelerometer, then the gyro; ``gyro_range_dps=None``: the accelerometer alone)."""
    return mw.start_streaming(imu, rate_hz, acc_range_g, gyro_range_dps)


def _info_of(module: int) -> Callable[[bytes], ModuleInfo | None]:
    def accept(data: bytes) -> ModuleInfo | None:
        try:
            msg, _ = mw.decode(data)
        except (ProtocolError, IncompletePacket):
            return None
        return msg if isinstance(msg, ModuleInfo) and msg.module == module else None

    return accept


def _read_of(module: int, register: int) -> Callable[[bytes], bytes | None]:
    def accept(data: bytes) -> bytes | None:
        ok = len(data) >= 2 and data[0] == module and data[1] == mw.READ_BIT | register
        return data[2:] if ok else None

    return accept


class MetaWearDriver(Driver):
    family = "metawear"
    label = "MetaWear sensor"

    def __init__(self, link: Any) -> None:
        super().__init__(link)
        self._answers: asyncio.Queue[bytes] = asyncio.Queue()
        self._data = asyncio.Event()  # a data notification came (since the last start)
        self._imu: Imu | None = None
        self._gyro = True
        self._rate = 0
        self._acc_range = 0
        self._gyro_range = 0
        self._start: list[bytes] = []  # subscribe, enable, start
        self._model = ""
        self._serial = ""
        self._firmware = (0, 0, 0)

    @classmethod
    def identify(cls, name: str, service_uuids: list[str]) -> bool:
        return mw.SERVICE_UUID in [u.lower() for u in service_uuids] or name.startswith("MetaWear")

    @staticmethod
    def _model_name(text: str) -> str:
        return MODEL_NAMES.get(text, text)

    @classmethod
    async def describe(cls, client: Any) -> tuple[str, int | None, str]:
        """Model, battery and streams (the chip's, from its module-info probe), for the
        scan."""
        model = cls._model_name(await Driver.read_text(client, MODEL_NUMBER_UUID)) or "MetaWear"
        battery = await Driver.read_battery(client)
        if client.services.get_service(mw.SERVICE_UUID) is None:
            return model, battery, "none (no MetaWear service)"
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        await client.start_notify(mw.NOTIFY_CHAR, lambda _c, data: queue.put_nowait(bytes(data)))
        try:
            found: dict[int, ModuleInfo] = {}
            for module in (Module.ACCELEROMETER, Module.GYRO):
                await client.write_gatt_char(
                    mw.COMMAND_CHAR, mw.module_info_probe(module), response=False
                )
                async with asyncio.timeout(3.0):
                    accept = _info_of(module)
                    while (info := accept(await queue.get())) is None:
                        pass
                found[module] = info
        except TimeoutError:
            return model, battery, "unknown (no answer to the module probe)"
        finally:
            await client.stop_notify(mw.NOTIFY_CHAR)
        try:
            imu = mw.imu_of(found[Module.ACCELEROMETER])
        except ProtocolError as exc:
            return model, battery, f"none sensorhub reads ({exc.reason})"
        gyro = found[Module.GYRO].present
        odrs = rates(imu, gyro)
        kinds = "acc+gyro" if gyro else "acc"
        return model, battery, f"{kinds} {odrs[0]}-{odrs[-1]} Hz ({imu.name})"

    # ------------------------------------------------------------ notifications
    def _on_notify(self, char: Any, data: bytearray) -> None:
        # answers (module info, reads) have bit 7 of the register set; data never has
        if len(data) >= 2 and data[1] & mw.READ_BIT:
            self._answers.put_nowait(bytes(data))
        else:
            if data and data[0] == Module.ACCELEROMETER:
                self._data.set()
            self.link.on_data(char, data)

    async def _write(self, client: Any, command: bytes) -> None:
        await client.write_gatt_char(mw.COMMAND_CHAR, command, response=False)

    async def _ask(
        self, client: Any, command: bytes, what: str, accept: Callable[[bytes], Any | None]
    ) -> Any:
        while not self._answers.empty():
            self._answers.get_nowait()
        await self._write(client, command)
        return await self.answer(self._answers, what, accept)

    # ------------------------------------------------------------ dialogue
    async def _probe(self, client: Any) -> tuple[Imu, bool]:
        """The board's chip (from the accelerometer's module info) and whether it has a
        gyro; one clear line for a board sensorhub cannot read."""
        found: dict[int, ModuleInfo] = {}
        for module in (Module.ACCELEROMETER, Module.GYRO):
            found[module] = await self._ask(
                client,
                mw.module_info_probe(module),
                f"the {_NAMES[module]} module probe",
                _info_of(module),
            )
        try:
            imu = mw.imu_of(found[Module.ACCELEROMETER])
            gyro = found[Module.GYRO].present
            if gyro and mw.imu_of(found[Module.GYRO]) is not imu:
                raise BleError(
                    f"{self.who}: its gyro is not on the accelerometer's chip", CHIPS_HELP
                )
        except ProtocolError as exc:
            raise BleError(f"{self.who}: {exc.reason}", CHIPS_HELP) from None
        for info in found.values():
            if info.present and not mw.packed_supported(info):
                raise BleError(
                    f"{self.who}: its firmware streams no packed {_NAMES[info.module]} data",
                    "update the board's firmware with MbientLab's MetaBase app",
                )
        return imu, gyro

    def _choose(self, imu: Imu, gyro: bool) -> None:
        """Rate and ranges from [ble]; errors name what the chip has."""
        cfg = self.link.config
        self.check_rate(cfg.metawear_odr_hz, rates(imu, gyro), "metawear_odr_hz")
        acc_ranges = tuple(mw.ACC_RANGE_CODES[imu])
        if cfg.acc_range_g not in acc_ranges:
            raise BleError(
                f"{self.who}: the {imu.name} accelerometer has no +-{cfg.acc_range_g} g range; "
                "it has " + ", ".join(f"+-{r}" for r in acc_ranges) + " g",
                "set --set ble.acc_range_g=<one of those>",
            )
        gyro_ranges = tuple(sorted(mw.GYRO_RANGE_CODES))
        if gyro and cfg.gyro_range_dps not in gyro_ranges:
            raise BleError(
                f"{self.who}: the {imu.name} gyro has no +-{cfg.gyro_range_dps} deg/s range; "
                "it has " + ", ".join(f"+-{r}" for r in gyro_ranges) + " deg/s",
                "set --set ble.gyro_range_dps=<one of those>",
            )
        self._rate = cfg.metawear_odr_hz
        self._acc_range = cfg.acc_range_g
        self._gyro_range = cfg.gyro_range_dps

    async def setup(self, client: Any, first: bool) -> None:
        if client.services.get_service(mw.SERVICE_UUID) is None:
            raise BleError(f"{self.who} has no MetaWear service", CHIPS_HELP)
        mounting, side = self.placement()
        self._model = self._model or self._model_name(
            await self.read_text(client, MODEL_NUMBER_UUID)
        )
        self._serial = self._serial or await self.read_text(client, SERIAL_NUMBER_UUID)
        self._firmware = firmware_tuple(await self.read_text(client, FIRMWARE_REV_UUID))
        await client.start_notify(mw.NOTIFY_CHAR, self._on_notify)
        imu, gyro = await self._probe(client)
        if first:
            self._choose(imu, gyro)
        elif (imu, gyro) != (self._imu, self._gyro):
            raise BleError(
                f"{self.who} came back as another board ({imu.name}, gyro: {gyro})",
                "restart the run",
            )
        self._imu, self._gyro = imu, gyro
        gyro_range = self._gyro_range if gyro else None
        commands = start_commands(imu, self._rate, self._acc_range, gyro_range)
        config_reg = mw.ACC_REGISTERS[imu].config  # (the gyro's is the same register)
        # connection parameters and configs now; subscribe, enable and start in start()
        first_part = [c for c in commands if c[0] == Module.SETTINGS or c[1] == config_reg]
        self._start = [c for c in commands if c not in first_part]
        for command in first_part:
            await self._write(client, command)
        await self._check(
            client, Module.ACCELEROMETER, mw.acc_config(imu, self._rate, self._acc_range)
        )
        if gyro_range is not None:
            await self._check(client, Module.GYRO, mw.gyro_config(imu, self._rate, gyro_range))
        self.info = vendor_info(
            name=self.link.target.name_or_address,
            serial=self._serial.encode(),
            model=SENSOR_MODEL[imu],
            odr_hz=float(self._rate),
            acc_range_g=self._acc_range,
            gyro_range_dps=self._gyro_range,
            acc_scale_g=mw.acc_scale_g(self._acc_range),
            gyro_scale_dps=mw.gyro_scale_dps(self._gyro_range),
            mounting=mounting,
            side=side,
            firmware=self._firmware,
        )

    async def _check(self, client: Any, module: int, config: bytes) -> None:
        """Read a config back: the board acknowledges nothing, so this is the only sign
        it took the config (one clear line when it did not)."""
        assert self._imu is not None
        register = config[1]
        name = _NAMES[module]
        got: bytes = await self._ask(
            client,
            bytes((module, mw.READ_BIT | register)),
            f"the read-back of its {name} configuration",
            _read_of(module, register),
        )
        if got[:2] == config[2:]:
            return
        parse = mw.parse_acc_config if module == Module.ACCELEROMETER else mw.parse_gyro_config
        unit = "g" if module == Module.ACCELEROMETER else "deg/s"
        want = parse(self._imu, config[2:])
        try:
            odr, rng = parse(self._imu, got[:2])
            now = f"it reads back {odr:g} Hz, +-{rng} {unit}"
        except ProtocolError:
            now = f"it reads back {got.hex(' ')}"
        raise CommandRejected(
            f"{self.who} refused the {name} configuration ({want[0]:g} Hz, +-{want[1]} "
            f"{unit}): {now}",
            "check [ble] metawear_odr_hz and the ranges against what the board supports; "
            "if they are, switch the board off and on (or reset it in MetaBase) and retry",
        )

    async def start(self, client: Any) -> None:
        assert self._imu is not None
        self._data.clear()
        for command in self._start:
            await self._write(client, command)
        # nothing is acknowledged: the first data is the sign it streams
        waits = [asyncio.ensure_future(e.wait()) for e in (self._data, self.link.lost)]
        try:
            done, _ = await asyncio.wait(waits, timeout=3.0, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        if self.link.lost.is_set() and not self._data.is_set():
            raise BleError(f"{self.who} disconnected while waiting for its first data")
        if not done:
            raise CommandRejected(
                f"{self.who} sends no data within 3 s of the start at {self._rate} Hz (it did "
                "not take the subscription or the start)",
                "switch the board off and on (or reset it in MetaBase) and retry",
            )
        settings: dict[str, Any] = {
            "imu": str(self._imu),
            "rate_hz": self._rate,
            "acc_range_g": self._acc_range,
            "gyro_range_dps": self._gyro_range if self._gyro else None,
        }
        if self.settings and self.settings != settings:
            raise BleError(
                f"{self.who} came back set up differently ({settings} instead of {self.settings})",
                "restart the run",
            )
        self.settings = settings

    async def stop(self, client: Any) -> None:
        if self._imu is not None:
            for command in mw.stop_streaming(self._imu, self._gyro):
                await self._write(client, command)
        await client.stop_notify(mw.NOTIFY_CHAR)


DRIVER = MetaWearDriver
