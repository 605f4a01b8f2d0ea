"""Polar sensors with PMD (Verity Sense; H10 and OH1 are accelerometer only).

The SDK's own order (``sensor_protocols.md`` 1.4): notifications on the control point
and the data characteristic first, the feature read, then GET settings; rates above
what the normal mode offers need SDK mode (``02 09``, kept until left or power-off);
START with values the GET response listed; the START response's factor scales the
samples.  After a link loss the streams are started again (the sensor stopped them);
the frame timestamps say how many samples the outage cost.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sensorhub.errors import BleError, CommandRejected, IncompletePacket, ProtocolError
from sensorhub.protocol import polar, spec
from sensorhub.protocol.polar import ControlResponse, MeasurementType, PmdStatus
from sensorhub.protocol.polar import SettingType as ST
from sensorhub.sources.drivers import (
    FIRMWARE_REV_UUID,
    MODEL_NUMBER_UUID,
    SERIAL_NUMBER_UUID,
    Driver,
    firmware_tuple,
    vendor_info,
)

_NAMES = {MeasurementType.ACC: "the accelerometer", MeasurementType.GYRO: "the gyroscope"}


class PolarDriver(Driver):
    family = "polar"
    label = "Polar sensor"

    def __init__(self, link: Any) -> None:
        super().__init__(link)
        self._responses: asyncio.Queue[bytes] = asyncio.Queue()
        self._assembler = polar.ResponseAssembler()
        self._types: list[MeasurementType] = []
        self._sdk = False
        self._rate = 0
        self._ranges: dict[MeasurementType, int] = {}
        self._model = ""
        self._serial = b""
        self._firmware = (0, 0, 0)

    @classmethod
    def identify(cls, name: str, service_uuids: list[str]) -> bool:
        return polar.PMD_SERVICE_UUID in service_uuids or name.startswith("Polar ")

    @classmethod
    async def describe(cls, client: Any) -> tuple[str, int | None, str]:
        """Model, battery and streams, for the scan."""
        model = bytes(await client.read_gatt_char(MODEL_NUMBER_UUID)).decode(errors="replace")
        battery = await Driver.read_battery(client)
        features = polar.decode_features(await client.read_gatt_char(polar.PMD_CONTROL_UUID))
        kinds = [t.name.lower() for t in (MeasurementType.ACC, MeasurementType.GYRO)]
        streams = "+".join(k for k, t in zip(kinds, _NAMES, strict=True) if features.supports(t))
        if features.sdk_mode:
            streams += " 26-416 Hz (SDK mode)"
        return model.strip("\0 "), battery, streams

    def _on_control(self, _char: Any, data: bytearray) -> None:
        try:
            for msg in self._assembler.feed(bytes(data)):
                if isinstance(msg, ControlResponse):
                    self._responses.put_nowait(polar.encode_control(msg))
        except (ProtocolError, IncompletePacket):
            self._assembler.reset()

    async def _ask(self, client: Any, command: bytes, what: str) -> ControlResponse:
        while not self._responses.empty():
            self._responses.get_nowait()
        await client.write_gatt_char(polar.PMD_CONTROL_UUID, command, response=True)
        op = command[0]

        def accept(data: bytes) -> ControlResponse | None:
            msg, _ = polar.decode_control(data)
            return msg if isinstance(msg, ControlResponse) and msg.op == op else None

        resp: ControlResponse = await self.answer(self._responses, what, accept)
        return resp

    def _refused(self, what: str, resp: ControlResponse, advice: str = "") -> CommandRejected:
        return CommandRejected(
            f"{self.who} refused {what}: {resp.status.phrase} (PMD status {int(resp.status)})",
            advice
            or (
                "the sensor needs an ATT MTU of at least 185; reconnect (some Bluetooth "
                "stacks negotiate it only on a second try)"
                if resp.status is PmdStatus.INVALID_MTU
                else "check [ble] in the configuration against what the sensor supports"
            ),
        )

    async def setup(self, client: Any, first: bool) -> None:
        if client.services.get_service(polar.PMD_SERVICE_UUID) is None:
            raise BleError(
                f"{self.who} has no PMD service",
                "sensorhub reads Polar Verity Sense, H10 and OH1 over PMD",
            )
        mounting, side = self.placement()
        self._model = self._model or await self.read_text(client, MODEL_NUMBER_UUID)
        self._serial = self._serial or (await self.read_text(client, SERIAL_NUMBER_UUID)).encode()
        self._firmware = firmware_tuple(await self.read_text(client, FIRMWARE_REV_UUID))
        await client.start_notify(polar.PMD_CONTROL_UUID, self._on_control)
        await client.start_notify(polar.PMD_DATA_UUID, self.link.on_data)
        features = polar.decode_features(await client.read_gatt_char(polar.PMD_CONTROL_UUID))
        if not features.supports(MeasurementType.ACC):
            raise BleError(f"{self.who} has no accelerometer stream")
        if first:
            self._types = [MeasurementType.ACC] + (
                [MeasurementType.GYRO] if features.supports(MeasurementType.GYRO) else []
            )
            await self._choose(client, features)
        elif self._sdk:  # kept over a link loss; entered again after a power cycle
            await self._enter_sdk(client)
        cfg = self.link.config
        self.info = vendor_info(
            name=self.link.target.name_or_address,
            serial=self._serial,
            model=spec.SensorModel.UNKNOWN,
            odr_hz=float(self._rate),
            acc_range_g=self._ranges[MeasurementType.ACC],
            gyro_range_dps=self._ranges.get(MeasurementType.GYRO, cfg.gyro_range_dps),
            acc_scale_g=self._ranges[MeasurementType.ACC] / 32768.0,  # until START says
            gyro_scale_dps=self._ranges.get(MeasurementType.GYRO, 2000) / 32768.0,
            mounting=mounting,
            side=side,
            firmware=self._firmware,
        )

    async def _enter_sdk(self, client: Any) -> None:
        resp = await self._ask(client, polar.enter_sdk_mode(), "SDK mode")
        if not resp.ok and resp.status is not PmdStatus.ALREADY_IN_STATE:
            raise self._refused("to enter SDK mode", resp)

    async def _choose(self, client: Any, features: polar.Features) -> None:
        """Pick the mode, rate and ranges from what the sensor lists; errors name them."""
        cfg = self.link.config
        rate = cfg.polar_odr_hz
        listed: dict[MeasurementType, polar.Settings] = {}
        for kind in self._types:
            resp = await self._ask(client, polar.get_settings(kind), "a settings query")
            if not resp.ok:
                raise self._refused(f"the settings of {_NAMES[kind]}", resp)
            listed[kind] = resp.settings
        normal = tuple(int(x) for x in listed[MeasurementType.ACC].get(ST.SAMPLE_RATE, ()))
        if rate not in normal and features.sdk_mode:
            await self._enter_sdk(client)
            self._sdk = True
            for kind in self._types:
                resp = await self._ask(client, polar.get_sdk_settings(kind), "a settings query")
                if not resp.ok:
                    raise self._refused(f"the SDK-mode settings of {_NAMES[kind]}", resp)
                listed[kind] = resp.settings
        for kind in self._types:
            rates = tuple(int(x) for x in listed[kind].get(ST.SAMPLE_RATE, ()))
            self.check_rate(rate, rates, "polar_odr_hz")
            ranges = tuple(int(x) for x in listed[kind].get(ST.RANGE, ()))
            want = cfg.acc_range_g if kind is MeasurementType.ACC else cfg.gyro_range_dps
            if want not in ranges:
                unit = "g" if kind is MeasurementType.ACC else "deg/s"
                key = "acc_range_g" if kind is MeasurementType.ACC else "gyro_range_dps"
                raise BleError(
                    f"{self.who}: {_NAMES[kind]} has no +-{want} {unit} range; it has "
                    + ", ".join(f"+-{r}" for r in ranges)
                    + f" {unit}",
                    f"set --set ble.{key}=<one of those>",
                )
            self._ranges[kind] = want
        self._rate = rate

    async def start(self, client: Any) -> None:
        factors: dict[MeasurementType, float] = {}
        for kind in self._types:
            cmd = polar.start(kind, self._rate, 16, self._ranges[kind], 3)
            resp = await self._ask(client, cmd, f"the start of {_NAMES[kind]}")
            if resp.status is PmdStatus.ALREADY_IN_STATE:  # still on from before
                resp = await self._ask(client, polar.stop(kind), "a stop")
                resp = await self._ask(client, cmd, f"the start of {_NAMES[kind]}")
            if not resp.ok:
                raise self._refused(f"to start {_NAMES[kind]} at {self._rate} Hz", resp)
            factors[kind] = resp.factor or self._ranges[kind] / 32768.0
        gyro = MeasurementType.GYRO in factors
        acc_frame_type = 0x01 if "H10" in self._model else 0x80
        settings: dict[str, Any] = {
            "rate_hz": self._rate,
            "acc_factor": factors[MeasurementType.ACC],
            "gyro_factor": factors.get(MeasurementType.GYRO, 0.0),
            "gyro": gyro,
            "acc_frame_type": acc_frame_type,
            "gyro_frame_type": 0x80,
            "sdk_mode": self._sdk,
        }
        if self.settings and self.settings != settings:
            raise BleError(
                f"{self.who} came back set up differently ({settings} instead of {self.settings})",
                "restart the run",
            )
        self.settings = settings
        assert self.info is not None
        self.info = vendor_info(
            name=self.info.name,
            serial=self.info.serial,
            model=self.info.model,
            odr_hz=self.info.odr_hz,
            acc_range_g=self.info.acc_range_g,
            gyro_range_dps=self.info.gyro_range_dps,
            acc_scale_g=polar.acc_scale_for(acc_frame_type, factors[MeasurementType.ACC]),
            gyro_scale_dps=factors.get(MeasurementType.GYRO, self.info.gyro_scale_dps),
            mounting=self.info.mounting,
            side=self.info.side,
            firmware=self.info.firmware,
        )

    async def stop(self, client: Any) -> None:
        for kind in self._types:
            await self._ask(client, polar.stop(kind), "a stop")
        if self._sdk:  # give the sensor back its own functions (HR, PPI)
            await self._ask(client, polar.leave_sdk_mode(), "leaving SDK mode")
        for uuid in (polar.PMD_DATA_UUID, polar.PMD_CONTROL_UUID):
            await client.stop_notify(uuid)


DRIVER = PolarDriver
