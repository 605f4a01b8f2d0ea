"""Movesense sensors running ``gatt_sensordata_app``: the GATT SensorData Protocol (GSP,
``sensorhub.protocol.movesense``; ``sensor_protocols.md`` section 2).

The stock firmware speaks Movesense's closed MDS protocol only; GSP needs the
``gatt_sensordata_app`` firmware, flashed once from a phone (Movesense Showcase or nRF
Device Firmware Update; ``docs/sensors.md``).  Found by its GSP service, its 0xFDF3
advertisement or a ``Movesense <serial>`` name.

One dialogue: notifications on the data characteristic, then SUBSCRIBE
``/Meas/IMU6/<rate>`` with a fixed ref.  The firmware sends no reply to a subscription
that works: its first DATA for the ref is the sign, and an error is a COMMAND_RESULT
(507: no free slot; 4xx: a rate or resource it does not serve).  COMMAND_RESULTs go to
this driver; DATA and its DATA_PART2/PART3 continuations go to the link (recorded, and
decoded by the pipeline's ``MovesenseStream`` with :attr:`settings`).  A disconnect drops
every subscription: after a reconnect the same one is made again, and the device
timestamps say how many samples the outage cost.  GSP cannot set ranges: the samples
arrive in m/s² and deg/s and are read at the LSM6DS3's widest ranges' LSB; ``[ble]
acc_range_g`` / ``gyro_range_dps`` are taken as the range the sensor is set to (only
the clipping flag of impacts depends on them).
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import Any

from sensorhub.errors import BleError, CommandRejected, IncompletePacket, ProtocolError
from sensorhub.protocol import movesense as gsp
from sensorhub.protocol import spec
from sensorhub.protocol.movesense import CommandResult, DataPart, Response
from sensorhub.sources.drivers import (
    FIRMWARE_REV_UUID,
    MODEL_NUMBER_UUID,
    SERIAL_NUMBER_UUID,
    Driver,
    firmware_tuple,
    vendor_info,
)

ADVERTISED_UUID = "0000fdf3-0000-1000-8000-00805f9b34fb"  # 0xFDF3, Amer Sports
#: the LSM6DS3 rates a Movesense lists for Acc, Gyro and IMU6
RATES = (13, 26, 52, 104, 208, 416, 833, 1666)
#: the ref of sensorhub's subscription (any of 1..255; 99 as in Movesense's examples)
REF = 99
#: the firmware builds notifications in a buffer of MTU 161 - 3 bytes: the part size
#: the reassembler hands a short part over at (bleak cannot tell the MTU on BlueZ)
MAX_NOTIFICATION = 158
FIRMWARE_HELP = (
    "flash Movesense's gatt_sensordata_app firmware once, from a phone with the Movesense "
    "Showcase or nRF Device Firmware Update app (docs/sensors.md)"
)


class MovesenseDriver(Driver):
    family = "movesense"
    label = "Movesense sensor"

    def __init__(self, link: Any) -> None:
        super().__init__(link)
        self._results: asyncio.Queue[bytes] = asyncio.Queue()
        self._waiting = False  # the first DATA of our ref also goes to _results
        self._rate = 0
        self._model = ""
        self._serial = ""
        self._firmware = (0, 0, 0)

    @classmethod
    def identify(cls, name: str, service_uuids: list[str]) -> bool:
        uuids = [u.lower() for u in service_uuids]
        return gsp.SERVICE_UUID in uuids or ADVERTISED_UUID in uuids or name.startswith("Movesense")

    @classmethod
    async def describe(cls, client: Any) -> tuple[str, int | None, str]:
        """Model, battery and streams, for the scan."""
        model = await Driver.read_text(client, MODEL_NUMBER_UUID)
        battery = await Driver.read_battery(client)
        if client.services.get_service(gsp.SERVICE_UUID) is None:
            streams = "none over GATT (needs the gatt_sensordata_app firmware)"
        else:
            streams = f"IMU6 (acc+gyro) {RATES[0]}-{RATES[-1]} Hz"
        return model or "Movesense", battery, streams

    # ------------------------------------------------------------ notifications
    def _on_data(self, char: Any, data: bytearray) -> None:
        if not data:
            return
        code = data[0]
        if code == Response.COMMAND_RESULT:
            self._results.put_nowait(bytes(data))
            return
        if self._waiting and code == Response.DATA and len(data) > 1 and data[1] == REF:
            self._results.put_nowait(bytes(data))  # = subscribed
        self.link.on_data(char, data)  # DATA, its continuations (anything else: undecodable)

    # ------------------------------------------------------------ dialogue
    def _serial_bytes(self) -> bytes:
        s = self._serial
        if s.isascii() and s.isdigit() and int(s) < 2**48:
            return int(s).to_bytes(6, "big")
        return s.encode()

    async def setup(self, client: Any, first: bool) -> None:
        if client.services.get_service(gsp.SERVICE_UUID) is None:
            raise BleError(
                f"{self.who} does not speak the GATT SensorData Protocol (stock firmware)",
                FIRMWARE_HELP,
            )
        mounting, side = self.placement()
        self._model = self._model or await self.read_text(client, MODEL_NUMBER_UUID)
        self._serial = self._serial or await self.read_text(client, SERIAL_NUMBER_UUID)
        self._firmware = firmware_tuple(await self.read_text(client, FIRMWARE_REV_UUID))
        cfg = self.link.config
        if first:
            self.check_rate(cfg.movesense_odr_hz, RATES, "movesense_odr_hz")
            self._rate = cfg.movesense_odr_hz
        await client.start_notify(gsp.DATA_CHAR_UUID, self._on_data)
        self.info = vendor_info(
            name=self.link.target.name_or_address,
            serial=self._serial_bytes(),
            model=spec.SensorModel.LSM6DS3,
            odr_hz=float(self._rate),
            acc_range_g=cfg.acc_range_g,
            gyro_range_dps=cfg.gyro_range_dps,
            acc_scale_g=gsp.ACC_SCALE_G,
            gyro_scale_dps=gsp.GYRO_SCALE_DPS,
            mounting=mounting,
            side=side,
            firmware=self._firmware,
        )

    def _refused(self, path: str, status: int) -> CommandRejected:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "error"
        if status == 507:
            advice = (
                "all its subscription slots are taken (another app subscribed?): switch it "
                "off and on (take the battery out) and retry"
            )
        elif 400 <= status < 500:
            advice = (
                f"set --set ble.movesense_odr_hz=<one of {', '.join(map(str, RATES))}> "
                "and check that it runs gatt_sensordata_app"
            )
        else:
            advice = "retry; if it persists, switch the sensor off and on"
        return CommandRejected(
            f"{self.who} refused the subscription to {path}: {phrase} (status {status})", advice
        )

    async def start(self, client: Any) -> None:
        path = f"/Meas/IMU6/{self._rate}"
        settings: dict[str, Any] = {
            "rate_hz": self._rate,
            "path": path,
            "ref": REF,
            "max_notification": MAX_NOTIFICATION,
        }
        if self.settings and self.settings != settings:
            raise BleError(
                f"{self.who} came back set up differently ({settings} instead of {self.settings})",
                "restart the run",
            )

        def accept(data: bytes) -> CommandResult | DataPart | None:
            try:
                msg, _ = gsp.decode(data)
            except (ProtocolError, IncompletePacket):
                return None
            if msg.ref != REF:
                return None
            if isinstance(msg, CommandResult):
                return msg if msg.status is not None else None  # not HELLO's text
            return msg if isinstance(msg, DataPart) else None

        while not self._results.empty():
            self._results.get_nowait()
        self._waiting = True
        try:
            await client.write_gatt_char(
                gsp.COMMAND_CHAR_UUID, gsp.subscribe(REF, path), response=True
            )
            got = await self.answer(self._results, f"the subscription to {path}", accept)
        finally:
            self._waiting = False
        if isinstance(got, CommandResult) and not got.ok:
            assert got.status is not None
            raise self._refused(path, got.status)
        self.settings = settings

    async def stop(self, client: Any) -> None:
        await client.write_gatt_char(gsp.COMMAND_CHAR_UUID, gsp.unsubscribe(REF), response=True)
        await client.stop_notify(gsp.DATA_CHAR_UUID)


DRIVER = MovesenseDriver
