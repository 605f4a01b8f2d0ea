"""A simulated MbientLab MetaWear board: MetaMotion S (BMI270) by default, MetaMotion RL
(BMI160) as an option, speaking the raw MetaWear protocol (``sensorhub.protocol.metawear``).

What it does as the real board does (``sensor_protocols.md`` section 3 and the codec's
notes):

* the MetaWear service (command characteristic: write and write without response; the
  notify characteristic), battery and device information (model ``MetaMotion S`` /
  ``MetaMotion RL``, a 6-hex-digit serial, firmware ``1.7.3``); advertises the MetaWear
  service UUID and the name ``MetaWear XXXX`` (real boards all say ``MetaWear``; the last
  four hex digits of the serial tell two on one runner apart); ATT MTU 23, so a
  notification carries at most 20 bytes (a packed one exactly fills it);
* no write is ever acknowledged.  The module-info probe ``[module, 0x80]`` is answered
  with the chip's implementation id and revision (the SDK's board tables: MetaMotion S
  ``03 80 04 00`` / ``13 80 01 00``, RL ``03 80 01 02`` / ``13 80 00 01``), a module this
  twin does not simulate with the 2-byte "absent" answer; a read of a config register
  (``03 83``, ``13 83``) with the config in force.  At power-on that is what the SDK
  assumes: accelerometer 100 Hz, +-8 g (BMI270) or +-2 g (BMI160); gyro 100 Hz,
  +-2000 deg/s;
* config, interrupt enable/disable, subscribe (packed or single) and power mode
  (start/stop) of the accelerometer and gyro, parsed with the codec; the board streams
  once both are enabled and started at the same ODR, each as its own notifications
  (accelerometer first), with no timestamp and no counter;
* a disconnect stops everything the host set up (subscriptions, enables, power modes; the
  configs stay): the host configures and starts again.  The IMU itself keeps sampling.

Timing, as on a real board: the firmware hands over every third sample (the simulated
IMU batches 3 samples a packet: this twin sets ``SensorConfig.batch`` to 3 and the
firmware's hand-over to :data:`HANDOVER_S`), and each group of 3 goes out as one packed
accelerometer + one packed gyro notification at the first connection event of *this
connection* after its third sample.  Connection events are ``connection_interval_s``
apart (the simulated central's interval, 15 ms; the board's request for 7.5 ms is
recorded in :attr:`requested_interval_ms` but not granted) with a phase drawn afresh at
every connection (:attr:`phases`), as a real reconnect lands on a new phase: that phase
is what limits how exactly a host can place the samples after an outage from arrival
times.  The notifications of one event are sent by one scheduled call, in order (the
peripheral's ``schedule``, given to :attr:`schedule`; without it they go at once).

Simulator limits: the IMU model runs at 100-1600 Hz and cannot change rate once it runs,
so an ODR below 100 Hz, accelerometer and gyro at different ODRs, or a later start at
another ODR stream nothing (a real board would stream).  The IMU runs at full scale
(+-16 g, +-2000 deg/s); samples are re-quantised to the ranges the host configured,
saturating as the real range would.  A refused command (``TwinOptions.reject``:
``acc_config``, ``gyro_config``, ``acc_start``, ``subscribe``) is silently not applied,
as the board acknowledges nothing: a refused config shows in the read-back.

Truth: the samples that never reach the host while it wants them count in
``undelivered`` (on the accelerometer notification only); :attr:`delivered_spans` lists
the runs of consecutive sensor samples that did reach it, so the gaps between them are
the truth of each outage.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections import deque
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from firmware_sim.bluez import Characteristic, Service
from firmware_sim.device import SimulatedSensor
from firmware_sim.twins import Twin, TwinOptions
from sensorhub.errors import IncompletePacket, ProtocolError
from sensorhub.protocol import metawear as mw
from sensorhub.protocol import spec
from sensorhub.protocol.metawear import Imu, Module

#: module-info answers (implementation, revision), from the SDK's board tables
ACC_INFO = {Imu.BMI270: (4, 0), Imu.BMI160: (1, 2)}
GYRO_INFO = {Imu.BMI270: (1, 0), Imu.BMI160: (0, 1)}
MODEL = {Imu.BMI270: "MetaMotion S", Imu.BMI160: "MetaMotion RL"}
FIRMWARE = "1.7.3"
#: power-on configs (what the SDK assumes): 100 Hz, +-8 g (BMI270) / +-2 g (BMI160)
ACC_DEFAULT = {Imu.BMI270: (100.0, 8), Imu.BMI160: (100.0, 2)}
GYRO_DEFAULT = (100.0, 2000)
#: the simulated firmware hands its packets to the twin this long after their last
#: sample is taken (its own connection events stand for the board's internal hand-over;
#: the radio's are this twin's)
HANDOVER_S = 1e-4
PACKED = 3  # samples in a packed notification


@dataclasses.dataclass
class _Module:
    """What the host set up on the accelerometer or the gyro (this connection)."""

    config: bytes  # the config params in force (odr byte, range byte)
    odr_hz: float
    range: int
    enabled: bool = False
    on: bool = False  # power mode: started
    single: bool = False  # subscribed to one-sample notifications
    packed: bool = False  # subscribed to packed notifications

    @property
    def subscribed(self) -> bool:
        return self.single or self.packed

    def reset(self) -> None:
        self.enabled = self.on = self.single = self.packed = False


class MetaWearTwin(Twin):
    family = "metawear"
    commands = ("acc_config", "gyro_config", "acc_start", "subscribe")
    mtu = 23

    def __init__(
        self,
        sensor: SimulatedSensor,
        options: TwinOptions,
        clock: Callable[[], float],
        imu: Imu = Imu.BMI270,
    ) -> None:
        super().__init__(sensor, options, clock)
        self.imu = Imu(imu)
        #: the connection interval of the simulated central (the radio is modelled here)
        self.connection_interval_s = sensor.config.connection_interval_s
        sensor.config = dataclasses.replace(
            sensor.config, batch=PACKED, connection_interval_s=HANDOVER_S
        )
        #: runs a callback at a simulated time (the peripheral's); None: send at once
        self.schedule: Callable[[float, Callable[[], None]], object] | None = None
        #: the connection-event phase of each connection so far (seconds)
        self.phases: list[float] = []
        self.requested_interval_ms: tuple[float, float] | None = None
        #: runs of consecutive sensor samples that reached the host: [first, end)
        self.delivered_spans: list[tuple[int, int]] = []
        self._phase = 0.0
        self._rng = np.random.default_rng([*sensor.serial, 0x4D57])
        odr, rng = ACC_DEFAULT[self.imu]
        self.acc = _Module(mw.acc_config(self.imu, odr, rng)[2:], odr, rng)
        odr, rng = GYRO_DEFAULT
        self.gyro = _Module(mw.gyro_config(self.imu, odr, rng)[2:], odr, rng)
        # notifications waiting for their connection event: (event time, [(bytes, samples,
        # first sensor index)])
        self._outbox: deque[tuple[float, list[tuple[bytes, int, int]]]] = deque()
        self._scheduled_at = -math.inf

    @property
    def outage_losses(self) -> list[int]:
        """The samples lost between consecutive :attr:`delivered_spans`: the truth of each
        outage, in order."""
        return [b[0] - a[1] for a, b in itertools.pairwise(self.delivered_spans)]

    @property
    def has_gyro(self) -> bool:
        return self.sensor.config.gyro

    @property
    def serial(self) -> str:
        """Six hex digits, as MetaWear serials are."""
        return self.sensor.serial[-3:].hex().upper()

    def host_settings(self) -> dict[str, object]:
        """What a host's ``MetaWearStream`` needs for what this board streams (the
        driver's ``settings``)."""
        return {
            "imu": str(self.imu),
            "rate_hz": int(self.acc.odr_hz),
            "acc_range_g": self.acc.range,
            "gyro_range_dps": self.gyro.range if self.has_gyro else None,
        }

    # ------------------------------------------------------------ description
    @property
    def name(self) -> str:
        return f"MetaWear {self.serial[-4:]}"

    def advertised_uuids(self) -> list[str]:
        return [mw.SERVICE_UUID]

    def services(self) -> list[Service]:
        return [
            Service(
                mw.SERVICE_UUID,
                [
                    Characteristic(
                        mw.COMMAND_CHAR,
                        ["write-without-response", "write"],
                        on_write=self._command,
                    ),
                    Characteristic(mw.NOTIFY_CHAR, ["notify"]),
                ],
            ),
            *self.standard_services(MODEL[self.imu], "MbientLab Inc", FIRMWARE, self.serial),
        ]

    # ------------------------------------------------------------ commands
    def _answer(self, data: bytes) -> None:
        if self.dev is not None and self.dev.connected:
            self.dev.notify(mw.NOTIFY_CHAR, data)

    def _command(self, data: bytes) -> None:
        try:
            cmd, _ = mw.decode_command(data, self.imu)
        except (ProtocolError, IncompletePacket):
            return  # nothing is acknowledged, nor a malformed write
        if cmd.read:
            self._read(cmd.module, cmd.register)
        elif cmd.module == Module.ACCELEROMETER:
            self._module(self.acc, mw.ACC_REGISTERS[self.imu], "acc", cmd.register, cmd.params)
        elif cmd.module == Module.GYRO and self.has_gyro:
            self._module(self.gyro, mw.GYRO_REGISTERS[self.imu], "gyro", cmd.register, cmd.params)
        elif cmd.module == Module.SETTINGS and cmd.register == mw.SETTINGS_CONNECTION_PARAMS:
            lo, hi, _, _ = mw.parse_connection_parameters(cmd.params)
            self.requested_interval_ms = (lo, hi)  # the simulated central keeps its own
        self._update()

    def _read(self, module: int, register: int) -> None:
        gyro = module == Module.GYRO and self.has_gyro
        if register == 0:  # [module, 0x80]: the module-info probe
            if module == Module.ACCELEROMETER:
                self._answer(mw.encode_module_info(module, *ACC_INFO[self.imu]))
            elif gyro:
                self._answer(mw.encode_module_info(module, *GYRO_INFO[self.imu]))
            else:
                self._answer(mw.encode_module_info(module))
        elif register == mw.ACC_REGISTERS[self.imu].config and module == Module.ACCELEROMETER:
            self._answer(bytes((module, mw.READ_BIT | register)) + self.acc.config)
        elif register == mw.GYRO_REGISTERS[self.imu].config and gyro:
            self._answer(bytes((module, mw.READ_BIT | register)) + self.gyro.config)

    def _module(
        self, m: _Module, regs: mw.Registers, what: str, register: int, params: bytes
    ) -> None:
        if register == regs.config:
            if self.refuse(f"{what}_config"):
                return
            parse = mw.parse_acc_config if what == "acc" else mw.parse_gyro_config
            try:
                m.odr_hz, m.range = parse(self.imu, params)
            except ProtocolError:
                return  # a code the chip does not have: ignored
            m.config = bytes(params)
        elif register == regs.interrupt_enable:
            m.enabled = (m.enabled or bool(params[0] & 1)) and not params[1] & 1
        elif register == regs.power_mode:
            if params[0] and what == "acc" and self.refuse("acc_start"):
                return
            m.on = bool(params[0])
        elif register in (regs.data, regs.packed):
            if params[0] and self.refuse("subscribe"):
                return
            if register == regs.packed:
                m.packed = bool(params[0])
            else:
                m.single = bool(params[0])

    def _sampling(self) -> bool:
        """Whether the board streams what the host set up."""
        acc, gyro = self.acc, self.gyro
        if not (acc.on and acc.enabled):
            return False
        return not self.has_gyro or (gyro.on and gyro.enabled and gyro.odr_hz == acc.odr_hz)

    def _update(self) -> None:
        """Start forwarding once the host has started everything; stop when it stops."""
        if self.forwarding:
            if not (self._sampling() and self.acc.subscribed):
                self.stop_forwarding(by_host=True)
                self._outbox.clear()
            return
        odr = self.acc.odr_hz
        s = self.sensor
        if (
            self._sampling()
            and odr.is_integer()
            and spec.ODR_MIN_HZ <= odr <= spec.ODR_MAX_HZ
            and (not s.streaming or s.odr_hz == odr)
        ):
            self.start_imu(int(odr), 16, 2000)

    # ------------------------------------------------------------ link
    def on_connect(self) -> None:
        self._phase = float(self._rng.uniform(0.0, self.connection_interval_s))
        self.phases.append(self._phase)

    def on_disconnect(self, by_host: bool) -> None:
        if self.counting:  # what waited for its connection event
            self.undelivered += sum(n for _, notes in self._outbox for _, n, _ in notes)
        super().on_disconnect(by_host)
        self._outbox.clear()
        self.acc.reset()
        self.gyro.reset()

    # ------------------------------------------------------------ data
    def _counts(self, values: npt.NDArray[np.float64], scale: float) -> npt.NDArray[np.int16]:
        return np.clip(np.rint(values / scale), -32768, 32767).astype(np.int16)

    def _encode(
        self,
        m: _Module,
        encode: Callable[[Imu, npt.ArrayLike, bool], bytes],
        counts: npt.NDArray[np.int16],
        n: int,
        order: int,
    ) -> list[tuple[int, int, bytes, int]]:
        """One module's notifications of ``n`` samples, packed if it is subscribed so:
        (end offset, ``order``, bytes, samples in it)."""
        if m.packed:
            return [
                (g + PACKED, order, encode(self.imu, counts[g : g + PACKED], True), PACKED)
                for g in range(0, n - n % PACKED, PACKED)
            ]
        return [(g + 1, order, encode(self.imu, counts[g : g + 1], False), 1) for g in range(n)]

    def _event_after(self, t: float) -> float:
        """The first connection event of this connection after ``t``."""
        ci, phase = self.connection_interval_s, self._phase
        return phase + (math.floor((t - phase) / ci) + 1) * ci

    def on_samples(self, t: float, first_index: int, samples: npt.NDArray[np.int16]) -> None:
        n = len(samples)
        if not (self.forwarding and self.acc.subscribed):
            if self.counting:
                self.undelivered += n
            return
        acc = self._counts(self.acc_g(samples), mw.acc_scale_g(self.acc.range))
        gyro = None
        if self.has_gyro and self.gyro.subscribed:
            gyro = self._counts(self.gyro_dps(samples), mw.gyro_scale_dps(self.gyro.range))
        notes = self._encode(self.acc, mw.encode_acc, acc, n, 0)
        if self.counting and self.acc.packed:  # (the firmware batches 3: only a partial
            self.undelivered += n % PACKED  # flush could leave a remainder)
        if gyro is not None:
            gyro_notes = self._encode(self.gyro, mw.encode_gyro, gyro, n, 1)
            notes = sorted(notes + gyro_notes, key=lambda x: x[:2])  # acc first, per group
        # (bytes, samples counted in the truth: the accelerometer's only, first index)
        out = [
            (data, k if not order else 0, first_index + end - k) for end, order, data, k in notes
        ]
        at = self._event_after(float(self.sensor.sample_time(first_index + n - 1)))
        self._outbox.append((at, out))
        if self.schedule is None or at <= self.clock():
            self._release(at)
        elif at > self._scheduled_at:
            self._scheduled_at = at
            self.schedule(at, functools.partial(self._release, at))

    def _release(self, at: float) -> None:
        """Send what waits for the connection event at ``at`` (and any before it)."""
        while self._outbox and self._outbox[0][0] <= at:
            _, notes = self._outbox.popleft()
            for data, n, first in notes:
                if self.send(mw.NOTIFY_CHAR, data, samples=n) and n:
                    spans = self.delivered_spans
                    if spans and spans[-1][1] == first:
                        spans[-1] = (spans[-1][0], first + n)
                    else:
                        spans.append((first, first + n))


TWIN = MetaWearTwin
