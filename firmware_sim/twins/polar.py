"""A simulated Polar Verity Sense: PMD over GATT (``sensorhub.protocol.polar``).

What it does as the real sensor does (``sensor_protocols.md`` section 1):

* the PMD service (control point: feature read, commands, indicated responses; data
  notifications), battery and device information services; advertises as
  ``Polar Sense XXXXXXXX`` with the heart rate service;
* ACC 52 Hz (+-8 g) and GYRO 52 Hz (+-2000 deg/s) until SDK mode is entered (``02 09``);
  in SDK mode 26-416 Hz, +-2/4/8/16 g, +-250...2000 deg/s, 16 bits.  SDK mode cannot
  change while a stream runs (INVALID_STATE) and lasts until left or power-off (a link
  loss does not end it); a link loss stops the streams;
* START answers with the conversion factor (range / 32768 per LSB), which the host must
  use; frames are delta-compressed type 0 (``0x80``) with a 16-bit reference, batched
  0.5-1.5 s (fewer samples when a frame would not fit the 512-byte ATT MTU), stamped
  with the last sample's time in ns since 2000-01-01 on the device clock; that clock
  runs ``RATE_SKEW`` slow against the sample clock, so 208 Hz shows as about 208.08 Hz
  in the timestamps (real Verity units show 52 Hz as 52.0x Hz).

The simulated IMU runs at full scale (+-16 g, +-2000 deg/s) and the twin re-quantises to
the range the host chose, saturating as the real range would.  Rates below the
simulator's 100 Hz (26, 52) are answered INVALID_SAMPLE_RATE (sensorhub never asks
for them: its signal core needs 100 Hz).  ACC and GYRO frames cover the same samples
and go out back to back (so a link loss never splits a pair).  A rejected command
(``TwinOptions.reject``) gets INVALID_MTU for ``start`` and ``sdk_mode`` (what a real
sensor answers a host with a small MTU) and NOT_SUPPORTED otherwise.
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
from sensorhub.protocol import polar, spec
from sensorhub.protocol.polar import ControlOp, ControlResponse, MeasurementType, PmdStatus
from sensorhub.protocol.polar import SettingType as ST

#: the device clock against the sample clock: timestamps show the rate this much higher
RATE_SKEW = 4e-4
SDK_RATES = (26, 52, 104, 208, 416)
ACC_RANGES = (2, 4, 8, 16)
GYRO_RANGES = (250, 500, 1000, 2000)
NORMAL = {MeasurementType.ACC: (52, 8), MeasurementType.GYRO: (52, 2000)}
FRAME_TYPE = 0x80
MAX_NOTIFICATION = 509  # ATT MTU 512 - 3


class PolarTwin(Twin):
    family = "polar"
    commands = ("get_settings", "start", "stop", "sdk_mode")
    mtu = 512

    def __init__(
        self, sensor: SimulatedSensor, options: TwinOptions, clock: Callable[[], float]
    ) -> None:
        super().__init__(sensor, options, clock)
        self.sdk_mode = False
        self.ranges: dict[MeasurementType, int] = {}  # streams on, with their range
        self.rate_hz = 0
        self._rng = np.random.default_rng(list(sensor.serial))
        self._buf: list[npt.NDArray[np.int16]] = []
        self._buf_first = 0  # sensor sample index of the buffer's first sample
        self._target = 0
        self._next_index: int | None = None

    # ------------------------------------------------------------ description
    @property
    def name(self) -> str:
        return f"Polar Sense {self.sensor.serial[-4:].hex().upper()}"

    def advertised_uuids(self) -> list[str]:
        return [polar.HEART_RATE_SERVICE_UUID]

    def services(self) -> list[Service]:
        self._cp = Characteristic(
            polar.PMD_CONTROL_UUID,
            ["read", "write", "indicate"],
            on_read=self._features,
            on_write=self._command,
        )
        return [
            Service(
                polar.PMD_SERVICE_UUID,
                [self._cp, Characteristic(polar.PMD_DATA_UUID, ["notify"])],
            ),
            *self.standard_services(
                "Polar Sense", "Polar Electro Oy", "2.1.0", self.sensor.serial[-4:].hex().upper()
            ),
        ]

    def _features(self) -> bytes:
        kinds = {
            MeasurementType.ACC,
            MeasurementType.GYRO,
            MeasurementType.MAG,
            MeasurementType.PPG,
            MeasurementType.PPI,
            MeasurementType.SDK_MODE,
        }
        return polar.encode_features(polar.Features(frozenset(kinds)))

    # ------------------------------------------------------------ control point
    def _answer(self, op: int, kind: int, status: PmdStatus, params: bytes = b"") -> None:
        resp = polar.encode_control(ControlResponse(ControlOp(op), kind, status, False, params))
        if self.dev is not None:
            self.dev.notify(polar.PMD_CONTROL_UUID, resp)

    def _command(self, data: bytes) -> None:
        try:
            cmd, _ = polar.decode_command(data)
        except (ProtocolError, IncompletePacket):
            op = data[0] if data else 0
            self._answer(op if op in ControlOp._value2member_map_ else 1, 0, PmdStatus(4))
            return
        kind = int(cmd.measurement_type) if cmd.measurement_type is not None else 0
        name = {
            ControlOp.GET_MEASUREMENT_SETTINGS: "get_settings",
            ControlOp.GET_SDK_MODE_MEASUREMENT_SETTINGS: "get_settings",
            ControlOp.REQUEST_MEASUREMENT_START: "sdk_mode" if cmd.enters_sdk_mode else "start",
            ControlOp.STOP_MEASUREMENT: "stop",
        }.get(cmd.op, "")
        if self.refuse(name):
            if self.dev is not None and self.dev.connected:
                status = PmdStatus.INVALID_MTU if name in ("start", "sdk_mode") else PmdStatus(3)
                self._answer(cmd.op, kind, status)
            return
        if cmd.op in (
            ControlOp.GET_MEASUREMENT_SETTINGS,
            ControlOp.GET_SDK_MODE_MEASUREMENT_SETTINGS,
        ):
            self._get(cmd.op, cmd.measurement_type)
        elif cmd.enters_sdk_mode or cmd.leaves_sdk_mode:
            self._sdk(cmd.op, cmd.enters_sdk_mode)
        elif cmd.op is ControlOp.REQUEST_MEASUREMENT_START:
            self._start(cmd.measurement_type, cmd.settings)
        elif cmd.op is ControlOp.STOP_MEASUREMENT:
            self._stop(cmd.measurement_type)
        else:
            self._answer(cmd.op, kind, PmdStatus.NOT_SUPPORTED)

    def _options(
        self, kind: MeasurementType, full: bool
    ) -> tuple[tuple[int, ...], tuple[int, ...]]:
        if full or self.sdk_mode:
            return SDK_RATES, ACC_RANGES if kind is MeasurementType.ACC else GYRO_RANGES
        rate, rng = NORMAL[kind]
        return (rate,), (rng,)

    def _get(self, op: ControlOp, kind: MeasurementType | None) -> None:
        if kind not in NORMAL:
            self._answer(op, int(kind or 0), PmdStatus.NOT_SUPPORTED)
            return
        assert kind is not None
        rates, ranges = self._options(kind, op is ControlOp.GET_SDK_MODE_MEASUREMENT_SETTINGS)
        params = polar.encode_settings(
            {ST.SAMPLE_RATE: rates, ST.RESOLUTION: (16,), ST.RANGE: ranges, ST.CHANNELS: (3,)}
        )
        self._answer(op, kind, PmdStatus.SUCCESS, params)

    def _sdk(self, op: ControlOp, enter: bool) -> None:
        kind = MeasurementType.SDK_MODE
        if self.ranges:
            self._answer(op, kind, PmdStatus.INVALID_STATE)
        elif self.sdk_mode == enter:
            self._answer(op, kind, PmdStatus.ALREADY_IN_STATE)
        else:
            self.sdk_mode = enter
            self._answer(op, kind, PmdStatus.SUCCESS)

    def _start(self, kind: MeasurementType | None, settings: polar.Settings) -> None:
        if kind not in NORMAL:
            self._answer(ControlOp.REQUEST_MEASUREMENT_START, int(kind or 0), PmdStatus(3))
            return
        assert kind is not None
        op = ControlOp.REQUEST_MEASUREMENT_START
        if kind in self.ranges:
            self._answer(op, kind, PmdStatus.ALREADY_IN_STATE)
            return
        rates, ranges = self._options(kind, False)
        rate = int(settings.get(ST.SAMPLE_RATE, (0,))[0])
        rng = int(settings.get(ST.RANGE, (0,))[0])
        res = int(settings.get(ST.RESOLUTION, (16,))[0])
        other = next(iter(self.ranges), None)
        if rate not in rates or rate < spec.ODR_MIN_HZ or (other and rate != self.rate_hz):
            self._answer(op, kind, PmdStatus.INVALID_SAMPLE_RATE)
            return
        if rng not in ranges:
            self._answer(op, kind, PmdStatus.INVALID_RANGE)
            return
        if res != 16:
            self._answer(op, kind, PmdStatus.INVALID_RESOLUTION)
            return
        self.rate_hz = rate
        self.ranges[kind] = rng
        factor = rng / 32768.0
        self._answer(op, kind, PmdStatus.SUCCESS, polar.encode_settings({ST.FACTOR: factor}))
        if MeasurementType.ACC in self.ranges and (
            MeasurementType.GYRO in self.ranges or not self.sensor.config.gyro
        ):
            self.start_imu(rate, 16, 2000)
            self._buf, self._next_index = [], None

    def _stop(self, kind: MeasurementType | None) -> None:
        op = ControlOp.STOP_MEASUREMENT
        if kind not in self.ranges:
            self._answer(op, int(kind or 0), PmdStatus.ALREADY_IN_STATE)
            return
        assert kind is not None
        del self.ranges[kind]
        self._answer(op, kind, PmdStatus.SUCCESS)
        self.stop_forwarding(by_host=True)
        self._buf = []

    def on_disconnect(self, by_host: bool) -> None:
        if self.counting:  # what the unsent frame held
            self.undelivered += sum(len(b) for b in self._buf)
        super().on_disconnect(by_host)
        self.ranges = {}  # a disconnect stops the streams (SDK mode stays)
        self._buf = []

    # ------------------------------------------------------------ data
    def on_samples(self, t: float, first_index: int, samples: npt.NDArray[np.int16]) -> None:
        n = len(samples)
        if not self.forwarding:
            if self.counting:
                self.undelivered += n
            return
        if self._next_index is not None and first_index != self._next_index:
            self._flush()  # the firmware lost samples: a frame never spans a gap
        if not self._buf:
            self._buf_first = first_index
            self._target = int(self._rng.uniform(0.5, 1.5) * self.rate_hz)
        self._buf.append(samples)
        self._next_index = first_index + n
        if sum(len(b) for b in self._buf) >= self._target:
            self._flush()

    def _ts_ns(self, index: int) -> int:
        """The PMD timestamp of sensor sample ``index`` (ns since 2000, device clock)."""
        s = self.sensor
        us = s.device_us(float(s.sample_time(index))) * (1.0 - RATE_SKEW)
        return int(us * 1000) + 700_000_000 * 1_000_000_000  # the clock was set in 2022

    def _flush(self) -> None:
        if not self._buf:
            return
        block = np.concatenate(self._buf)
        first = self._buf_first
        self._buf = []
        acc = np.clip(
            np.rint(self.acc_g(block) / (self.ranges[MeasurementType.ACC] / 32768.0)),
            -32768,
            32767,
        ).astype(np.int16)
        gyro = None
        if MeasurementType.GYRO in self.ranges:
            gyro = np.clip(
                np.rint(self.gyro_dps(block) / (self.ranges[MeasurementType.GYRO] / 32768.0)),
                -32768,
                32767,
            ).astype(np.int16)
        start = 0
        while start < len(block):
            n = len(block) - start
            while True:  # the most samples a notification can carry
                a = polar.encode_data(
                    MeasurementType.ACC,
                    self._ts_ns(first + start + n - 1),
                    FRAME_TYPE,
                    acc[start : start + n],
                )
                g = (
                    polar.encode_data(
                        MeasurementType.GYRO,
                        self._ts_ns(first + start + n - 1),
                        FRAME_TYPE,
                        gyro[start : start + n],
                    )
                    if gyro is not None
                    else b""
                )
                if max(len(a), len(g)) <= MAX_NOTIFICATION or n == 1:
                    break
                n = n * MAX_NOTIFICATION // max(len(a), len(g)) - 1
            self.send(polar.PMD_DATA_UUID, a, samples=n)
            if g:
                self.send(polar.PMD_DATA_UUID, g)
            start += n


TWIN = PolarTwin
