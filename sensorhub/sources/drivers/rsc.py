"""Running speed and cadence footpods (BLE RSC 0x1814): Stryd, Polar Stride, Zwift
RunPod.  Nothing to configure: the feature and location are read, measurements are
notified (about 1 Hz) and become ``Pace`` events beside the IMUs."""

from __future__ import annotations

from typing import Any

from sensorhub.errors import BleError, IncompletePacket, ProtocolError
from sensorhub.protocol import rsc, spec
from sensorhub.sources.drivers import (
    FIRMWARE_REV_UUID,
    MODEL_NUMBER_UUID,
    Driver,
    firmware_tuple,
    vendor_info,
)
from sensorhub.types import Mounting, Side


class RscDriver(Driver):
    family = "rsc"
    label = "footpod"

    @classmethod
    def identify(cls, name: str, service_uuids: list[str]) -> bool:
        return rsc.SERVICE_UUID in service_uuids

    @classmethod
    async def describe(cls, client: Any) -> tuple[str, int | None, str]:
        model = await Driver.read_text(client, MODEL_NUMBER_UUID)
        battery = await Driver.read_battery(client)
        try:
            feature, _ = rsc.decode_feature(await client.read_gatt_char(rsc.FEATURE_UUID))
        except (ProtocolError, IncompletePacket):
            return model, battery, "speed, cadence"
        extra = [
            name
            for name, on in (
                ("stride", feature.stride_length),
                ("distance", feature.total_distance),
                ("walk/run", feature.walking_running),
            )
            if on
        ]
        return model, battery, ", ".join(["speed", "cadence", *extra])

    async def setup(self, client: Any, first: bool) -> None:
        if client.services.get_service(rsc.SERVICE_UUID) is None:
            raise BleError(f"{self.who} has no running speed and cadence service")
        t = self.link.target
        cadence = self.link.config.pod_cadence
        self.settings = {
            "cadence_doubling": {"auto": None, "steps": False, "strides": True}[cadence],
        }
        self.info = vendor_info(
            name=t.name_or_address,
            serial=b"",
            model=spec.SensorModel.UNKNOWN,
            odr_hz=1.0,  # about one measurement a second
            acc_range_g=16,
            gyro_range_dps=2000,
            acc_scale_g=spec.acc_scale_g(16),
            gyro_scale_dps=spec.gyro_scale_dps(2000),
            mounting=Mounting.SHOE if t.mounting is None else t.mounting,
            side=t.side or Side.UNKNOWN,
            firmware=firmware_tuple(await self.read_text(client, FIRMWARE_REV_UUID)),
        )

    async def start(self, client: Any) -> None:
        await client.start_notify(rsc.MEASUREMENT_UUID, self.link.on_data)

    async def stop(self, client: Any) -> None:
        await client.stop_notify(rsc.MEASUREMENT_UUID)


DRIVER = RscDriver
