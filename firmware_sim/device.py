"""A simulated sensorhub sensor: IMU model and firmware state machine, sans-IO.

``SimulatedSensor.tick(dt)`` advances the simulation by ``dt`` seconds and returns the
notifications the host receives in that time; ``handle_command(bytes)`` answers a
control-point write.  Nothing here reads a clock or does I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from firmware_sim.faults import FaultConfig, FaultLog
from firmware_sim.gait import DEG, G, SegmentModel
from sensorhub.errors import IncompletePacket, ProtocolError
from sensorhub.protocol import codec, spec
from sensorhub.protocol.codec import Command, DeviceInfo, Response, StatusPacket
from sensorhub.protocol.spec import Kind, Opcode, ResultCode, SensorModel
from sensorhub.types import Mounting, Side

FIRMWARE_VERSION = (1, 0, 0)
NOISE_BLOCK = 1024


@dataclass(frozen=True)
class SensorConfig:
    """One simulated sensor: where it is worn and how its IMU and firmware behave.

    Noise densities default to a BMI270 datasheet (accelerometer 160 ug/sqrt(Hz),
    gyroscope 0.008 deg/s/sqrt(Hz)); clock drift is drawn within +-``clock_ppm_max``.
    """

    side: Side = Side.LEFT
    mounting: Mounting = Mounting.SHOE
    odr_hz: int = 1000
    acc_range_g: int = 16
    gyro_range_dps: int = 2000
    mount_rotation: str = "random"  # "random" (any orientation) or "aligned"
    acc_noise_ug: float = 160.0
    gyro_noise_mdps: float = 8.0
    acc_bias_mg: float = 20.0
    gyro_bias_dps: float = 0.5
    clock_ppm_max: float = 50.0
    batch: int = 0  # samples per packet; 0: as many as fit (19 with gyro, 38 without)
    gyro: bool = True  # False: an accelerometer-only sensor (3-axis packets)
    autostart: bool = True
    battery_pct: float = 95.0
    connection_interval_s: float = 0.015
    name: str = ""

    def __post_init__(self) -> None:
        if not spec.ODR_MIN_HZ <= self.odr_hz <= spec.ODR_MAX_HZ:
            raise ValueError(f"odr must be {spec.ODR_MIN_HZ}-{spec.ODR_MAX_HZ} Hz")
        if self.acc_range_g not in spec.ACC_RANGES_G:
            raise ValueError(f"accelerometer range must be one of {spec.ACC_RANGES_G} g")
        if self.gyro_range_dps not in spec.GYRO_RANGES_DPS:
            raise ValueError(f"gyroscope range must be one of {spec.GYRO_RANGES_DPS} deg/s")
        if self.mount_rotation not in ("random", "aligned"):
            raise ValueError("mount_rotation must be 'random' or 'aligned'")
        limit = spec.MAX_SAMPLES_IMU if self.gyro else spec.MAX_SAMPLES_ACC
        if not 0 <= self.batch <= limit:
            raise ValueError(f"batch must be 1..{limit} (or 0 for a full packet)")


def random_rotation(rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """A rotation matrix drawn uniformly from SO(3) (columns: sensor axes in segment frame)."""
    q = rng.standard_normal(4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


@dataclass(frozen=True)
class Notification:
    """A message the host receives: when (true time, s), from which characteristic."""

    t: float
    kind: Kind
    data: bytes


class SimulatedSensor:
    """Firmware of one sensor on one segment of the simulated runner.

    Parameters
    ----------
    config
        The sensor's setup.
    model
        The segment it is strapped to (noise-free motion).
    seed
        Entropy for this sensor: mounting, bias, clock, noise and faults all derive
        from it, so the same seed gives byte-identical notifications.
    faults
        Faults to inject on the way to the host.
    """

    def __init__(
        self,
        config: SensorConfig,
        model: SegmentModel,
        seed: int | list[int],
        faults: FaultConfig | None = None,
    ) -> None:
        self.config = config
        self.model = model
        self.faults = faults or FaultConfig()
        self.fault_log = FaultLog()
        ss = np.random.SeedSequence(seed)
        setup, self._noise_seed, fault_seed = ss.spawn(3)
        rng = np.random.default_rng(setup)
        self.mount = random_rotation(rng) if config.mount_rotation == "random" else np.eye(3)
        self.acc_bias = rng.standard_normal(3) * config.acc_bias_mg * 1e-3 * G
        self.gyro_bias = rng.standard_normal(3) * config.gyro_bias_dps * DEG
        self.clock_ppm = float(rng.uniform(-config.clock_ppm_max, config.clock_ppm_max))
        self.clock_offset_us = int(rng.integers(0, 1 << 32))
        self.serial = bytes(rng.integers(0, 256, 6, dtype=np.uint8))
        self._fault_rng = np.random.default_rng(fault_seed)
        self.name = config.name or (
            f"SH-{config.side.label[0].upper()}{config.mounting.label[:2].upper()}"
            f"-{self.serial[-2:].hex().upper()}"
        )
        self.odr_hz = config.odr_hz
        self.acc_range_g = config.acc_range_g
        self.gyro_range_dps = config.gyro_range_dps
        self.mounting = config.mounting
        self.side = config.side
        self.identify_until = 0.0
        self.t = 0.0
        self.connected = True
        self.streaming = False
        self._next_index = 0  # samples taken since power-on
        self._base_index = 0
        self._base_t = 0.0
        self._fifo: list[npt.NDArray[np.int16]] = []
        self._fifo_n = 0
        self._fifo_first_index = 0
        self._seq = 0  # data packets sent (absolute, wraps on the wire)
        self._status_seq = 0
        self._next_status = 0.0
        self._overflows = 0
        self._pending: list[Notification] = []
        self._burst_left = 0
        self._noise_block = -1
        self._noise: npt.NDArray[np.float64] = np.zeros((0, 6))
        self._jump_us = 0.0
        self._jumps_done = 0
        if config.autostart:
            self._start(0.0)

    # ----------------------------------------------------------------- clocks

    def device_us(self, t: float) -> int:
        """The device clock (64-bit microseconds since power-on) at true time ``t``."""
        return int(self.clock_offset_us + t * 1e6 * (1 + self.clock_ppm * 1e-6) + self._jump_us)

    def sample_time(self, index: int | npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """True time of sample ``index`` (the IMU oscillator runs at the device's rate)."""
        rate = self.odr_hz * (1 + self.clock_ppm * 1e-6)
        return np.asarray(self._base_t + (np.asarray(index) - self._base_index) / rate)

    # ------------------------------------------------------------ device info

    def info(self) -> DeviceInfo:
        return DeviceInfo(
            firmware=FIRMWARE_VERSION,
            model=SensorModel.SIMULATED,
            acc_range_g=self.acc_range_g,
            gyro_range_dps=self.gyro_range_dps,
            acc_scale_g=spec.acc_scale_g(self.acc_range_g),
            gyro_scale_dps=spec.gyro_scale_dps(self.gyro_range_dps),
            odr_hz=float(self.odr_hz),
            mounting=self.mounting,
            side=self.side,
            serial=self.serial,
            name=self.name,
        )

    def read_info(self) -> bytes:
        return codec.encode(self.info())

    def status(self) -> StatusPacket:
        hours = self.t / 3600.0
        pct = max(0.0, self.config.battery_pct - 8.0 * hours)
        flags = spec.STATUS_STREAMING if self.streaming else 0
        if pct < 15:
            flags |= spec.STATUS_LOW_BATTERY
        return StatusPacket(
            seq=self._status_seq,
            battery_pct=round(pct),
            battery_mv=int(3300 + 9 * pct),
            fifo_overflows=self._overflows,
            temperature_c=round(24.0 + 6.0 * (1 - math.exp(-self.t / 600.0)), 2),
            t_us=self.device_us(self.t) % spec.TIME_MODULO_US,
            flags=flags,
        )

    def read_status(self) -> bytes:
        return codec.encode(self.status())

    # ---------------------------------------------------------- control point

    def handle_command(self, data: bytes) -> bytes:
        """Act on a control-point write and return the encoded response."""
        try:
            msg, _ = codec.decode(data)
        except ProtocolError as exc:
            opcode = data[2] if len(data) > 2 else 0
            token = data[3] if len(data) > 3 else 0
            code = ResultCode.INVALID_ARGUMENT
            if "version" in exc.reason:
                code = ResultCode.UNSUPPORTED
            return codec.encode(Response(opcode, token, code))
        except IncompletePacket:  # too short to be a command
            return codec.encode(Response(0, 0, ResultCode.INVALID_ARGUMENT))
        if not isinstance(msg, Command):
            return codec.encode(Response(0, 0, ResultCode.INVALID_ARGUMENT))
        code, payload = self._execute(msg)
        return codec.encode(Response(msg.opcode, msg.token, code, payload))

    def _execute(self, cmd: Command) -> tuple[ResultCode, bytes]:
        if cmd.opcode not in codec.COMMAND_PAYLOAD_SIZE:
            return ResultCode.UNSUPPORTED, b""
        try:
            args = codec.command_args(cmd)
        except ProtocolError:
            return ResultCode.INVALID_ARGUMENT, b""
        op = Opcode(cmd.opcode)
        if op == Opcode.START_STREAM:
            if not self.streaming:
                self._start(self.t)
            return ResultCode.OK, b""
        if op == Opcode.STOP_STREAM:
            if self.streaming:
                self._flush(partial=True)
                self.streaming = False
            return ResultCode.OK, b""
        if op == Opcode.SET_ODR:
            (odr,) = args
            if not spec.ODR_MIN_HZ <= odr <= spec.ODR_MAX_HZ:
                return ResultCode.INVALID_ARGUMENT, b""
            if self.streaming:
                return ResultCode.BUSY, b""
            self.odr_hz = odr
            return ResultCode.OK, b""
        if op == Opcode.SET_RANGES:
            acc, gyro = args
            if acc not in spec.ACC_RANGES_G or gyro not in spec.GYRO_RANGES_DPS:
                return ResultCode.INVALID_ARGUMENT, b""
            if self.streaming:
                return ResultCode.BUSY, b""
            self.acc_range_g, self.gyro_range_dps = acc, gyro
            return ResultCode.OK, b""
        if op == Opcode.TIME_SYNC:
            (token,) = args
            return ResultCode.OK, codec.time_sync_reply(token, self.device_us(self.t))
        if op == Opcode.SET_MOUNTING:
            mounting, side = args
            if mounting not in Mounting._value2member_map_ or side not in Side._value2member_map_:
                return ResultCode.INVALID_ARGUMENT, b""
            self.mounting, self.side = Mounting(mounting), Side(side)
            return ResultCode.OK, b""
        # IDENTIFY
        (seconds,) = args
        if not 1 <= seconds <= 60:
            return ResultCode.INVALID_ARGUMENT, b""
        self.identify_until = self.t + seconds
        return ResultCode.OK, b""

    # -------------------------------------------------------------- streaming

    def _start(self, t: float) -> None:
        self.streaming = True
        self._base_index = self._next_index
        self._base_t = t
        self._fifo_first_index = self._next_index

    def set_connected(self, connected: bool) -> None:
        """The link came up or went down (a BLE peripheral drives this)."""
        self.connected = connected

    def _noise_for(self, first: int, n: int) -> npt.NDArray[np.float64]:
        """Unit white noise for samples first..first+n, the same however they are chunked."""
        out = np.empty((n, 6))
        done = 0
        while done < n:
            idx = first + done
            block, off = divmod(idx, NOISE_BLOCK)
            if block != self._noise_block:
                rng = np.random.default_rng([*self._noise_seed.generate_state(2), block])
                self._noise = rng.standard_normal((NOISE_BLOCK, 6))
                self._noise_block = block
            take = min(n - done, NOISE_BLOCK - off)
            out[done : done + take] = self._noise[off : off + take]
            done += take
        return out

    def raw_samples(self, first: int, n: int) -> npt.NDArray[np.int16]:
        """The int16 samples ``first..first+n`` as the IMU would report them.

        The IMU's digital low-pass (anti-alias) filter is modelled as the average of the
        motion over each sample period (sub-sampled at about 2 kHz), as the averaging
        filters of parts like the BMI270 do: at low rates a sharp impact is smoothed
        rather than aliased.
        """
        idx = np.arange(first, first + n)
        t = self.sample_time(idx)
        sub = max(1, round(2000 / self.odr_hz))
        if sub > 1:
            period = 1.0 / self.odr_hz
            offs = (np.arange(sub) - (sub - 1) / 2) * (period / sub)
            fs, ws = self.model.signals((t[:, None] + offs[None, :]).ravel())
            f = fs.reshape(n, sub, 3).mean(axis=1)
            w = ws.reshape(n, sub, 3).mean(axis=1)
        else:
            f, w = self.model.signals(t)
        f = f @ self.mount + self.acc_bias  # segment -> sensor frame (rows)
        w = w @ self.mount + self.gyro_bias
        noise = self._noise_for(first, n)
        bw = math.sqrt(self.odr_hz / 2.0)
        f += noise[:, :3] * (self.config.acc_noise_ug * 1e-6 * G * bw)
        w += noise[:, 3:] * (self.config.gyro_noise_mdps * 1e-3 * DEG * bw)
        acc_lsb = f / (G * spec.acc_scale_g(self.acc_range_g))
        gyro_lsb = w / (DEG * spec.gyro_scale_dps(self.gyro_range_dps))
        out = np.empty((n, 6))
        out[:, :3] = acc_lsb
        out[:, 3:] = gyro_lsb
        return np.clip(np.rint(out), -32768, 32767).astype(np.int16)

    def _flush(self, partial: bool = False) -> None:
        """Turn full FIFO batches (and, if ``partial``, the remainder) into packets."""
        if not self._fifo_n:
            return
        block = np.concatenate(self._fifo) if len(self._fifo) > 1 else self._fifo[0]
        gyro = self.config.gyro
        batch = self.config.batch or (spec.MAX_SAMPLES_IMU if gyro else spec.MAX_SAMPLES_ACC)
        start = 0
        while self._fifo_n - start >= batch or (partial and start < self._fifo_n):
            chunk = block[start : start + batch]
            first = self._fifo_first_index + start
            t_first = float(self.sample_time(first))
            t_last = float(self.sample_time(first + len(chunk) - 1))
            flags = 0
            if not gyro:
                chunk = chunk[:, :3]
                flags |= spec.FLAG_NO_GYRO
            if np.any((chunk == 32767) | (chunk == -32768)):
                flags |= spec.FLAG_CLIPPED
            data = codec.encode_data(self._seq, first, self.device_us(t_first), chunk, flags)
            self._send(t_last, Kind.DATA, data, self._seq, len(chunk))
            self._seq += 1
            start += len(chunk)
        rest = block[start:]
        self._fifo = [rest] if len(rest) else []
        self._fifo_n = len(rest)
        self._fifo_first_index += start

    def _send(self, t: float, kind: Kind, data: bytes, packet: int = -1, n: int = 0) -> None:
        """Hand a notification to the link: faults, connection-event timing."""
        if not self.connected or self.faults.link_down(t):
            if kind == Kind.DATA:
                self.fault_log.link_lost.append(packet)
                self.fault_log.link_lost_samples += n
                self._overflows += n
            return
        copies = 1
        if kind == Kind.DATA and self.faults.any:
            rng = self._fault_rng
            if self._burst_left > 0:
                self._burst_left -= 1
                self.fault_log.dropped.append(packet)
                return
            if self.faults.burst and rng.random() < self.faults.burst:
                self._burst_left = int(rng.integers(2, self.faults.burst_max + 1)) - 1
                self.fault_log.dropped.append(packet)
                return
            if self.faults.drop and rng.random() < self.faults.drop:
                self.fault_log.dropped.append(packet)
                return
            if self.faults.corrupt and rng.random() < self.faults.corrupt:
                buf = bytearray(data)
                for pos in rng.choice(len(buf), size=int(rng.integers(1, 4)), replace=False):
                    buf[pos] ^= int(rng.integers(1, 256))
                data = bytes(buf)
                self.fault_log.corrupted.append(packet)
            elif self.faults.duplicate and rng.random() < self.faults.duplicate:
                copies = 2
                self.fault_log.duplicated.append(packet)
        # Delivered at the next connection event after the firmware queues it.
        ci = self.config.connection_interval_s
        t_host = (math.floor(t / ci) + 1) * ci
        for _ in range(copies):
            self._pending.append(Notification(t_host, kind, data))

    def power_down(self) -> list[Notification]:
        """Stop streaming (sending what the FIFO holds) and return everything in flight."""
        if self.streaming:
            self._flush(partial=True)
            self.streaming = False
        out = sorted(self._pending, key=lambda n: n.t)
        self._pending = []
        return out

    def tick(self, dt: float) -> list[bytes]:
        """Advance ``dt`` seconds; the notifications received meanwhile, in order."""
        return [n.data for n in self.poll(dt)]

    def poll(self, dt: float) -> list[Notification]:
        """Advance ``dt`` seconds; the notifications received meanwhile, with their times."""
        if dt < 0:
            raise ValueError("time only moves forward")
        t_end = self.t + dt
        while self._jumps_done < len(self.faults.clock_jumps):
            at, ms = self.faults.clock_jumps[self._jumps_done]
            if at > t_end:
                break
            self._advance(at)
            self._jump_us += ms * 1e3
            self._jumps_done += 1
        self._advance(t_end)
        ready = sorted((n for n in self._pending if n.t <= t_end), key=lambda n: n.t)
        self._pending = [n for n in self._pending if n.t > t_end]
        return ready

    def _advance(self, t_end: float) -> None:
        # Status notifications interleave with data in time order, whatever the tick.
        while self._next_status <= t_end:
            self._sample_until(self._next_status)
            self.t = self._next_status
            self._send(self.t, Kind.STATUS, codec.encode(self.status()))
            self._status_seq += 1
            self._next_status += 1.0
        self._sample_until(t_end)
        self.t = t_end

    def _sample_until(self, t_end: float) -> None:
        if not self.streaming:
            return
        rate = self.odr_hz * (1 + self.clock_ppm * 1e-6)
        last = self._base_index + math.floor((t_end - self._base_t) * rate + 1e-9)
        n = last - self._next_index + 1
        if n > 0:
            samples = self.raw_samples(self._next_index, n)
            self._next_index += n
            self._fifo.append(samples)
            self._fifo_n += n
            self._flush()
