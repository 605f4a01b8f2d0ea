"""sensorhub's own firmware profile (``protocol.spec``): device info, control point with
tokens, TIME_SYNC, data and status notifications."""

from __future__ import annotations

import asyncio
from typing import Any

from sensorhub.errors import (
    BleError,
    CommandRejected,
    IncompletePacket,
    ProtocolError,
    UnsupportedVersion,
)
from sensorhub.protocol import codec, spec
from sensorhub.protocol.codec import DeviceInfo, Response
from sensorhub.sources.drivers import Driver


class NativeDriver(Driver):
    family = "sensorhub"
    label = "sensor"

    def __init__(self, link: Any) -> None:
        super().__init__(link)
        self._responses: asyncio.Queue[bytes] = asyncio.Queue()
        self._token = 0

    @classmethod
    def identify(cls, name: str, service_uuids: list[str]) -> bool:
        return spec.SERVICE_UUID in service_uuids

    def _on_control(self, _char: Any, data: bytearray) -> None:
        self._responses.put_nowait(bytes(data))

    def newer(self, exc: UnsupportedVersion | None = None, version: int | None = None) -> BleError:
        v = version if version is not None else getattr(exc, "version", "another")
        return BleError(
            f"sensor {self.link.name} speaks protocol version {v}; this sensorhub speaks "
            f"{spec.PROTOCOL_VERSION}",
            "update sensorhub (pip install -U sensorhub)",
        )

    async def command(self, client: Any, cmd: codec.Command, what: str) -> Response:
        self._token = (self._token + 1) % 256
        cmd = codec.Command(cmd.opcode, self._token, cmd.payload)
        while not self._responses.empty():
            self._responses.get_nowait()
        await client.write_gatt_char(spec.CONTROL_CHAR_UUID, codec.encode(cmd), response=True)
        async with asyncio.timeout(3.0):
            while True:
                try:
                    msg, _ = codec.decode(await self._responses.get())
                except UnsupportedVersion as exc:
                    raise self.newer(exc) from None
                except (ProtocolError, IncompletePacket):
                    continue
                if isinstance(msg, Response) and msg.token == self._token:
                    break
        if msg.code != spec.ResultCode.OK:
            raise CommandRejected(
                f"sensor {self.link.name} rejected {what}: "
                f"{spec.ResultCode(msg.code).name.lower().replace('_', ' ')}",
                "check [ble] in the configuration against what the sensor supports",
            )
        return msg

    async def _read_info(self, client: Any) -> DeviceInfo:
        try:
            info, _ = codec.decode(await client.read_gatt_char(spec.INFO_CHAR_UUID))
        except UnsupportedVersion as exc:
            raise self.newer(exc) from None
        if not isinstance(info, DeviceInfo):
            raise BleError(f"sensor {self.link.target!r} sent no device info")
        return info

    async def setup(self, client: Any, first: bool) -> None:
        info = await self._read_info(client)
        self.link.info = info  # names the sensor in what follows
        await client.start_notify(spec.CONTROL_CHAR_UUID, self._on_control)
        if first:
            cfg = self.link.config
            await self.command(client, codec.stop_stream(), "STOP_STREAM")
            await self.command(
                client, codec.set_odr(cfg.odr_hz), f"an output rate of {cfg.odr_hz} Hz"
            )
            await self.command(
                client,
                codec.set_ranges(cfg.acc_range_g, cfg.gyro_range_dps),
                f"ranges of {cfg.acc_range_g} g / {cfg.gyro_range_dps} deg/s",
            )
            info = await self._read_info(client)  # what the sensor runs at now
        self.info = info

    async def sync_clock(self, client: Any) -> tuple[float, float]:
        """Best of five TIME_SYNC round trips: (device us - host us, round trip ms)."""
        clock = self.link.clock
        best: tuple[float, float] | None = None
        for k in range(5):
            t0 = clock()
            resp = await self.command(client, codec.time_sync(k), "TIME_SYNC")
            t1 = clock()
            _, device_us = codec.parse_time_sync_reply(resp)
            rtt = t1 - t0
            offset = device_us - (t0 + t1) / 2 * 1e6
            if best is None or rtt < best[1]:
                best = (offset, rtt)
        assert best is not None
        return best[0], best[1] * 1e3

    async def start(self, client: Any) -> None:
        await client.start_notify(spec.DATA_CHAR_UUID, self.link.on_data)
        await client.start_notify(spec.STATUS_CHAR_UUID, self.link.on_data)
        await self.command(client, codec.start_stream(), "START_STREAM")

    async def stop(self, client: Any) -> None:
        await self.command(client, codec.stop_stream(), "STOP_STREAM")
        for uuid in (spec.DATA_CHAR_UUID, spec.STATUS_CHAR_UUID, spec.CONTROL_CHAR_UUID):
            await client.stop_notify(uuid)
