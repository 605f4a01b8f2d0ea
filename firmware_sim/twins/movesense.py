"""A simulated Movesense sensor running ``gatt_sensordata_app``: the GATT SensorData
Protocol (``sensorhub.protocol.movesense``).

What it does as the real sensor does (``sensor_protocols.md`` section 2 and the notes in
``sensorhub.protocol.movesense``):

* the GSP service (command write, data notify), battery and device information services
  (model ``Movesense MD``, the 12-digit serial, firmware ``2.2.1``); advertises as
  ``Movesense <serial>`` with the 16-bit UUID 0xFDF3; ATT MTU 161, so a notification
  carries at most 158 bytes (the firmware's "MTU - 3" buffer);
* HELLO answers ``01 ref 'Hello'``; SUBSCRIBE ``/Meas/IMU6/<rate>`` or
  ``/Meas/Acc/<rate>`` with the LSM6DS3 rates 13...1666 Hz gets *no* reply: the first
  DATA of that ref is the sign it runs; UNSUBSCRIBE gets no reply either; errors are
  COMMAND_RESULTs with an HTTP-like status written big-endian, as the 2.x firmware
  writes its 507;
* at most 4 subscriptions (507 when none is free); a disconnect drops them all (the
  host subscribes again, the device clock and the sampling go on);
* DATA is ``uint32`` ms of the first sample on the device clock, then N acc vectors
  (m/s²) then N gyro vectors (deg/s), float32; a message longer than a notification
  goes out as DATA + DATA_PART2 (+ DATA_PART3), full parts then the rest, as 2.2.1's
  live streams do.

Samples per message (no source states the firmware's count at each rate; the examples
show 8 IMU9 samples per message at 104 Hz): ``8 x rate / 104``, so 1 at 13 Hz ... 16 at
208 Hz (a 388-byte IMU6 message: DATA + DATA_PART2 + DATA_PART3) and a message about
every 77 ms at any rate, but never more than three notifications hold (19 IMU6 samples,
38 Acc samples), so 416 and 833 Hz send more often.

Simulator limits, answered as the real sensor answers what it does not serve: the IMU
model runs at 100...1600 Hz, so 13, 26, 52 and 1666 Hz get 400 (the sensor's
"non-supported sample rate"); resources other than IMU6 and Acc get 404; one IMU
subscription at a time, and the rate cannot change once the IMU runs (503).  The IMU
runs at full scale (+-16 g, +-2000 deg/s): GSP cannot set ranges.  A rejected command
(``TwinOptions.reject``) gets 507 for ``subscribe`` (no free slot: what a sensor with
other apps' subscriptions answers) and 503 otherwise.  Messages go out when the
simulated firmware hands over its samples; a message never spans samples the firmware
lost.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from firmware_sim.bluez import Characteristic, Service
from firmware_sim.device import SimulatedSensor
from firmware_sim.twins import (
    Twin,
    TwinOptions,
)
from sensorhub.errors import IncompletePacket, ProtocolError
from sensorhub.protocol import movesense as gsp
from sensorhub.protocol import spec
from sensorhub.protocol.movesense import Command, Kind, Measurement

ADVERTISED_UUID = "0000fdf3-0000-1000-8000-00805f9b34fb"  # 0xFDF3 (Amer Sports)
#: the LSM6DS3 rates the sensor lists for Acc, Gyro and IMU
RATES = (13, 26, 52, 104, 208, 416, 833, 1666)
MAX_SUBSCRIPTIONS = 4
#: samples per message at 104 Hz; other rates scale with the rate
SAMPLES_AT_104 = 8
MAX_PARTS = 3  # DATA, DATA_PART2, DATA_PART3

BAD_REQUEST = 400  # a rate the sensor does not sample at
NOT_FOUND = 404  # a resource this sensor does not serve
CONFLICT = 409  # the ref is subscribed to something else
UNAVAILABLE = 503
NO_FREE_SLOT = 507


def samples_per_message(kind: Kind, rate_hz: int, max_notification: int) -> int:
    """N of one DATA message: ``8 x rate / 104`` (at least 1), at most what three
    notifications of ``max_notification`` bytes hold."""
    room = MAX_PARTS * (max_notification - gsp.HEADER_SIZE) - gsp.TIMESTAMP_SIZE
    fit = room // kind.sample_bytes
    return max(1, min(round(SAMPLES_AT_104 * rate_hz / 104), fit))


class MovesenseTwin(Twin):
    family = "movesense"
    commands = ("subscribe", "unsubscribe", "hello")
    mtu = 161

    def __init__(
        self, sensor: SimulatedSensor, options: TwinOptions, clock: Callable[[], float]
    ) -> None:
        super().__init__(sensor, options, clock)
        self.subscriptions: dict[int, gsp.Resource] = {}
        self.ref: int | None = None  # the subscription the IMU's samples go to
        self.kind = Kind.IMU6
        self.rate_hz = 0
        self.per_message = 1
        self._buf: list[npt.NDArray[np.int16]] = []
        self._buf_n = 0
        self._buf_first = 0  # sensor sample index of the buffer's first sample
        self._next_index: int | None = None

    @property
    def max_notification(self) -> int:
        return self.mtu - 3

    @property
    def serial(self) -> str:
        """12 decimal digits, as Movesense serials are."""
        return f"{int.from_bytes(self.sensor.serial, 'big') % 10**12:012d}"

    # ------------------------------------------------------------ description
    @property
    def name(self) -> str:
        return f"Movesense {self.serial}"

    def advertised_uuids(self) -> list[str]:
        return [ADVERTISED_UUID]

    def services(self) -> list[Service]:
        return [
            Service(
                gsp.SERVICE_UUID,
                [
                    Characteristic(
                        gsp.COMMAND_CHAR_UUID,
                        ["write", "write-without-response"],
                        on_write=self._command,
                    ),
                    Characteristic(gsp.DATA_CHAR_UUID, ["notify"]),
                ],
            ),
            *self.standard_services("Movesense MD", "Movesense", "2.2.1", self.serial),
        ]

    # ------------------------------------------------------------ commands
    def _result(self, ref: int, status: int) -> None:
        if self.dev is not None and self.dev.connected:
            self.dev.notify(gsp.DATA_CHAR_UUID, gsp.command_result(ref, status, big_endian=True))

    def _command(self, data: bytes) -> None:
        try:
            cmd, _ = gsp.decode_command(data)
        except (ProtocolError, IncompletePacket):
            if len(data) >= 2 and data[1] != 0:
                self._result(data[1], BAD_REQUEST)
            return
        name = {
            Command.HELLO: "hello",
            Command.SUBSCRIBE: "subscribe",
            Command.UNSUBSCRIBE: "unsubscribe",
        }[cmd.command]
        if self.refuse(name):
            self._result(cmd.ref, NO_FREE_SLOT if name == "subscribe" else UNAVAILABLE)
            return
        if cmd.command is Command.HELLO:
            if self.dev is not None and self.dev.connected:
                self.dev.notify(gsp.DATA_CHAR_UUID, gsp.hello_reply(cmd.ref))
        elif cmd.command is Command.SUBSCRIBE:
            self._subscribe(cmd.ref, cmd.path)
        else:
            self._unsubscribe(cmd.ref)

    def _refusal(self, ref: int, res: gsp.Resource) -> int | None:
        """The status a SUBSCRIBE gets instead of data, if any."""
        if res.kind not in (Kind.IMU6, Kind.ACC):
            return NOT_FOUND
        if res.kind is Kind.IMU6 and not self.sensor.config.gyro:
            return NOT_FOUND
        if res.rate_hz not in RATES or not spec.ODR_MIN_HZ <= res.rate_hz <= spec.ODR_MAX_HZ:
            return BAD_REQUEST
        held = self.subscriptions.get(ref)
        if held is not None:
            return None if held == res else CONFLICT
        if len(self.subscriptions) >= MAX_SUBSCRIPTIONS:
            return NO_FREE_SLOT
        if self.ref is not None:
            return UNAVAILABLE  # one IMU subscription at a time
        if self.sensor.streaming and self.sensor.odr_hz != res.rate_hz:
            return UNAVAILABLE  # the simulated IMU cannot change rate while it runs
        return None

    def _subscribe(self, ref: int, path: str) -> None:
        try:
            res = gsp.resource_of(path)
        except ValueError:
            self._result(ref, NOT_FOUND)
            return
        status = self._refusal(ref, res)
        if status is not None:
            self._result(ref, status)
            return
        if ref in self.subscriptions:
            return  # already streaming to that ref
        self.subscriptions[ref] = res
        self.ref, self.kind, self.rate_hz = ref, res.kind, res.rate_hz
        self.per_message = samples_per_message(res.kind, res.rate_hz, self.max_notification)
        self.start_imu(res.rate_hz, 16, 2000)
        self._clear()

    def _unsubscribe(self, ref: int) -> None:
        if self.subscriptions.pop(ref, None) is None:
            return
        if ref == self.ref:
            self.ref = None
            self.stop_forwarding(by_host=True)
            self._clear()

    def _clear(self) -> None:
        self._buf, self._buf_n, self._next_index = [], 0, None

    def on_disconnect(self, by_host: bool) -> None:
        if self.counting:  # what the unsent message held
            self.undelivered += self._buf_n
        super().on_disconnect(by_host)
        self.subscriptions = {}  # the sensor drops every subscription
        self.ref = None
        self._clear()

    # ------------------------------------------------------------ data
    def on_samples(self, t: float, first_index: int, samples: npt.NDArray[np.int16]) -> None:
        n = len(samples)
        if not self.forwarding or self.ref is None:
            if self.counting:
                self.undelivered += n
            return
        if self._next_index is not None and first_index != self._next_index:
            self._emit(self._buf_n)  # the firmware lost samples: a message never spans a gap
        if not self._buf_n:
            self._buf_first = first_index
        self._buf.append(samples)
        self._buf_n += n
        self._next_index = first_index + n
        while self._buf_n >= self.per_message:
            self._emit(self.per_message)

    def _ts_ms(self, index: int) -> int:
        """The GSP timestamp of sensor sample ``index``: device ms, uint32."""
        s = self.sensor
        return (s.device_us(float(s.sample_time(index))) // 1000) & 0xFFFFFFFF

    def _emit(self, n: int) -> None:
        """Send the buffer's first ``n`` samples as one message."""
        if n <= 0 or self.ref is None:
            return
        block = np.concatenate(self._buf) if len(self._buf) > 1 else self._buf[0]
        first = self._buf_first
        rest = block[n:]
        self._buf = [rest] if len(rest) else []
        self._buf_n = len(rest)
        self._buf_first = first + n
        chunk = block[:n]
        acc = (self.acc_g(chunk) * gsp.STANDARD_GRAVITY).astype(np.float32)
        gyro = self.gyro_dps(chunk).astype(np.float32) if self.kind is Kind.IMU6 else None
        payload = gsp.encode_measurement(self.kind, Measurement(self._ts_ms(first), acc, gyro))
        parts = gsp.split_message(self.ref, payload, self.max_notification)
        for k, part in enumerate(parts):
            self.send(gsp.DATA_CHAR_UUID, part, samples=n if k == 0 else 0)


TWIN = MovesenseTwin
