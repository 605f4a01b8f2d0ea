"""One sensor's stream: decode, assemble, detect, and emit events in session time."""

from __future__ import annotations

import math

import numpy as np

from sensorhub.dsp import _kernels as K
from sensorhub.dsp.detector import DetectorParams, StepDetector
from sensorhub.errors import ProtocolError, SensorhubError
from sensorhub.events import AnyEvent, FootStrike, Impact, ToeOff
from sensorhub.pipeline.assembly import DUPLICATE, LATE, SequenceTracker
from sensorhub.pipeline.clock import ClockMap
from sensorhub.protocol import codec, spec
from sensorhub.protocol.codec import DataPacket, DeviceInfo, StatusPacket
from sensorhub.types import Mounting


class SensorStream:
    """Everything per sensor between notification bytes and events.

    Parameters
    ----------
    name
        The sensor's name, as events carry it.
    info
        Its device info (rate, scales, mounting, side).
    params
        Detector settings (defaults are documented in docs/signal-core.md).
    """

    #: Gaps up to this long are bridged by linear interpolation, so a dropped notification
    #: does not restart the detectors; a smooth bridge cannot create an impact transient.
    BRIDGE_MAX_S = 0.06

    def __init__(self, name: str, info: DeviceInfo, params: DetectorParams | None = None) -> None:
        self.name = name
        self.info = info
        self.side = info.side.label
        self.params = params
        self.tracker = SequenceTracker()
        self.clock = ClockMap(info.odr_hz)
        self.detector: StepDetector | None = None
        self.corrupt = 0
        self.battery_pct: int | None = None
        self.last_index = -1  # last sample processed
        self._last_row: np.ndarray | None = None
        self.bridged_samples = 0

    def _make_detector(self, has_gyro: bool) -> StepDetector:
        return StepDetector(
            self.info.odr_hz,
            self.info.acc_scale_g,
            self.info.gyro_scale_dps,
            has_gyro=has_gyro,
            axial_impact=self.info.mounting == Mounting.SHIN,
            acc_range_g=self.info.acc_range_g,
            params=self.params,
        )

    def warm_up(self, has_gyro: bool = True) -> None:
        """Compile the kernel with the runtime types before the first packet."""
        det = self._make_detector(has_gyro)
        det.process(np.zeros((spec.MAX_SAMPLES_IMU, 6 if has_gyro else 3), np.int16), 0)

    def feed(self, arrival_t: float, data: bytes | bytearray | memoryview) -> list[AnyEvent]:
        """One notification as received; the events it completes."""
        try:
            msg, _ = codec.decode(data)
        except (ProtocolError, SensorhubError):
            self.corrupt += 1
            return []
        if isinstance(msg, StatusPacket):
            self.battery_pct = msg.battery_pct
            return []
        if not isinstance(msg, DataPacket):
            return []
        obs = self.tracker.observe(msg.seq, msg.first_index, msg.count)
        if obs.kind in (DUPLICATE, LATE):
            return []
        last = obs.sample + msg.count - 1
        self.clock.update(last, arrival_t)
        if self.detector is None:
            self.detector = self._make_detector(msg.has_gyro)
        raw = []
        missing = obs.sample - (self.last_index + 1)
        if (
            self._last_row is not None
            and 0 < missing <= self.BRIDGE_MAX_S * self.info.odr_hz
            and self._last_row.shape[0] == msg.samples.shape[1]
        ):
            frac = np.arange(1, missing + 1)[:, None] / (missing + 1)
            fill = self._last_row + frac * (msg.samples[0].astype(float) - self._last_row)
            raw += self.detector.process(np.rint(fill).astype(np.int16), self.last_index + 1)
            self.bridged_samples += missing
        raw += self.detector.process(msg.samples, obs.sample)
        self._last_row = msg.samples[-1].astype(float)
        self.last_index = last
        return self._convert(raw)

    def now(self) -> float:
        """Session time of the last processed sample."""
        return self.clock.time(self.last_index) if self.last_index >= 0 else 0.0

    def _convert(self, raw: list) -> list[AnyEvent]:  # type: ignore[type-arg]
        out: list[AnyEvent] = []
        fs_period = 1.0 / self.info.odr_hz
        for ev in raw:
            t = self.clock.time(ev.index)
            if ev.kind == K.EV_IC:
                stride = ev.values[1]
                out.append(
                    FootStrike(
                        t=t,
                        sensor=self.name,
                        side=self.side,
                        stride_s=stride * fs_period if stride > 0 else None,
                        envelope_g=round(ev.values[0], 3),
                    )
                )
            elif ev.kind == K.EV_IMPACT:
                peak, rate, clipped, axial = ev.values[0], ev.values[1], ev.values[2], ev.values[3]
                out.append(
                    Impact(
                        t=t,
                        sensor=self.name,
                        side=self.side,
                        contact_t=self.clock.time(ev.ref),
                        peak_g=peak,
                        loading_rate_g_per_s=rate,
                        axis="axial" if axial > 0 else "resultant",
                        clipped=clipped > 0,
                    )
                )
            elif ev.kind == K.EV_TO:
                contact_t = self.clock.time(ev.ref)
                angle = ev.values[0]
                out.append(
                    ToeOff(
                        t=t,
                        sensor=self.name,
                        side=self.side,
                        contact_ms=(t - contact_t) * 1000.0,
                        strike_angle_deg=None if math.isnan(angle) else angle,
                    )
                )
        return out

    @property
    def has_gyro(self) -> bool | None:
        """Whether the sensor sends gyroscope data (None before its first data packet)."""
        return None if self.detector is None else self.detector.has_gyro
