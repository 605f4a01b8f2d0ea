"""Simulated twins of vendor sensors: the firmware simulator's runner served through a
vendor's GATT layout and byte format, on the fake BlueZ, so every family is tested with
the real bleak and no hardware.

A :class:`Twin` wraps one :class:`~firmware_sim.device.SimulatedSensor` (the IMU model:
mounting, noise, clock, FIFO) and re-encodes what it samples in the vendor's format:
the sensor's own data packets go in (:meth:`Twin.on_native`, at the time the firmware
queues them), vendor notifications come out (:meth:`Twin.send`).  The IMU samples from
the host's first start to the end; whatever it samples that never reaches the host (link
down, streams not yet restarted after a reconnect) is counted in
:attr:`Twin.undelivered`, the truth the host's loss count is checked against.

Faults: the simulator's own (dropped notifications, link drops) act on the sensor's
packets before the twin sees them; a twin also refuses the commands named in
``TwinOptions.reject`` (with the family's own error) and drops the link at the first
command named ``TwinOptions.drop_on`` (a sensor that disconnects during configuration).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from firmware_sim.bluez import Characteristic, FakeDevice, Service
from firmware_sim.device import SimulatedSensor
from sensorhub.errors import IncompletePacket, ProtocolError
from sensorhub.protocol import codec, spec
from sensorhub.protocol.codec import DataPacket

BATTERY_SERVICE = "0000180f-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL = "00002a19-0000-1000-8000-00805f9b34fb"
DEVICE_INFO_SERVICE = "0000180a-0000-1000-8000-00805f9b34fb"
MODEL_NUMBER = "00002a24-0000-1000-8000-00805f9b34fb"
SERIAL_NUMBER = "00002a25-0000-1000-8000-00805f9b34fb"
FIRMWARE_REV = "00002a26-0000-1000-8000-00805f9b34fb"
MANUFACTURER = "00002a29-0000-1000-8000-00805f9b34fb"


@dataclass(frozen=True)
class TwinOptions:
    """How a twin misbehaves on purpose (tests of the host's error paths)."""

    reject: frozenset[str] = frozenset()  # family command names answered with an error
    drop_on: str | None = None  # the link drops when this command first arrives


class Twin:
    """One vendor sensor around a simulated IMU.  Subclasses define the GATT table
    (:meth:`services`), the advertisement, the commands and the data format."""

    family: ClassVar[str]
    #: command names a test may reject or drop the link on (``TwinOptions``)
    commands: ClassVar[tuple[str, ...]] = ()
    #: ATT MTU the device negotiates (bounds a notification at mtu - 3 bytes)
    mtu: ClassVar[int] = 247

    def __init__(self, sensor: SimulatedSensor, options: TwinOptions, clock: Callable[[], float]):
        self.sensor = sensor
        self.options = options
        self.clock = clock
        self.dev: FakeDevice | None = None
        self.address = ""  # set by the peripheral
        self.undelivered = 0  # samples taken since the first start that never arrived
        self.delivered = 0  # data notifications that arrived
        self.started = False  # the host started streaming at least once
        self.forwarding = False  # the host's streams are on (this connection)
        self.awaiting = False  # the link was lost; the host has not restarted yet
        self.host_left = False  # the host stopped or disconnected on purpose
        self._dropped_on = False

    # ------------------------------------------------------------ description
    @property
    def name(self) -> str:
        raise NotImplementedError

    def advertised_uuids(self) -> list[str]:
        raise NotImplementedError

    def manufacturer_data(self) -> dict[int, bytes]:
        return {}

    def services(self) -> list[Service]:
        raise NotImplementedError

    # ------------------------------------------------------------ host side
    def refuse(self, command: str) -> bool:
        """Whether to refuse ``command`` (a rejected-command fault); drops the link
        instead when it is the ``drop_on`` command (once)."""
        if self.options.drop_on == command and not self._dropped_on and self.dev is not None:
            self._dropped_on = True
            self.dev.drop_link()
            return True
        return command in self.options.reject

    def start_imu(self, odr_hz: int, acc_range_g: int, gyro_range_dps: int) -> None:
        """Set the IMU up and start it (the first time), as the vendor's start does."""
        s = self.sensor
        if not s.streaming:
            for cmd in (
                codec.set_odr(odr_hz),
                codec.set_ranges(acc_range_g, gyro_range_dps),
                codec.start_stream(),
            ):
                s.handle_command(codec.encode(cmd))
        self.started = True
        self.forwarding = True
        self.awaiting = False
        self.host_left = False

    def stop_forwarding(self, by_host: bool) -> None:
        self.forwarding = False
        if by_host:
            self.awaiting = False
            self.host_left = True

    def on_connect(self) -> None:
        pass

    def on_disconnect(self, by_host: bool) -> None:
        """The link went: a loss stops the host's streams (it must start them again);
        a host that disconnects on purpose has what it wanted."""
        self.forwarding = False
        if by_host:
            self.host_left = True
            self.awaiting = False
        elif self.started:
            self.awaiting = True

    @property
    def counting(self) -> bool:
        """Whether a sample that does not reach the host now is lost to it (truth)."""
        return self.started and not self.host_left and (self.forwarding or self.awaiting)

    def battery(self) -> bytes:
        return bytes([self.sensor.status().battery_pct])

    def standard_services(
        self, model: str, manufacturer: str, firmware: str, serial: str
    ) -> list[Service]:
        """The battery and device information services every vendor sensor has."""
        return [
            Service(BATTERY_SERVICE, [Characteristic(BATTERY_LEVEL, ["read"], self.battery)]),
            Service(
                DEVICE_INFO_SERVICE,
                [
                    Characteristic(uuid, ["read"], value=text.encode())
                    for uuid, text in (
                        (MODEL_NUMBER, model),
                        (MANUFACTURER, manufacturer),
                        (FIRMWARE_REV, firmware),
                        (SERIAL_NUMBER, serial),
                    )
                ],
            ),
        ]

    # ------------------------------------------------------------ data
    def on_native(self, t: float, data: bytes) -> None:
        """A notification the simulated firmware queued at ``t``: data packets are
        re-encoded (status packets are the native profile's; vendors have the battery
        service instead)."""
        try:
            msg, _ = codec.decode(data)
        except (ProtocolError, IncompletePacket):
            return  # a corrupted-notification fault: the vendor link has its own CRC
        if isinstance(msg, DataPacket):
            self.on_samples(t, msg.first_index, msg.samples)

    def on_samples(self, t: float, first_index: int, samples: npt.NDArray[np.int16]) -> None:
        """IMU samples ``first_index...`` (sensor counts, its ranges), queued at ``t``."""
        raise NotImplementedError

    def send(self, char_uuid: str, data: bytes, samples: int = 0) -> bool:
        """Notify; a data notification (``samples`` > 0) that cannot go is truth lost."""
        sent = self.dev is not None and self.forwarding and self.dev.notify(char_uuid, data)
        if samples:
            if sent:
                self.delivered += 1
            elif self.counting:
                self.undelivered += samples
        return sent

    @property
    def connected(self) -> bool:
        return self.dev is not None and self.dev.connected

    # helpers for subclasses
    def acc_g(self, samples: npt.NDArray[np.int16]) -> npt.NDArray[np.float64]:
        return samples[:, :3].astype(np.float64) * spec.acc_scale_g(self.sensor.acc_range_g)

    def gyro_dps(self, samples: npt.NDArray[np.int16]) -> npt.NDArray[np.float64]:
        return samples[:, 3:6].astype(np.float64) * spec.gyro_scale_dps(self.sensor.gyro_range_dps)


def twin_class(family: str) -> type[Twin]:
    """The twin of ``family`` ("polar", "movesense", "metawear", "rsc")."""
    import importlib

    module = importlib.import_module(f"firmware_sim.twins.{family}")
    cls: type[Twin] = module.TWIN
    return cls


FAMILIES = ("polar", "movesense", "metawear", "rsc")
