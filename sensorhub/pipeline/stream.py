"""One sensor's stream: decode, assemble, time and detect, and emit events.

The work happens in one numba kernel (``dsp._stream.feed_packets``): called with a single
notification on the live path and with all of a sensor's notifications on replay, so the
two give exactly the same events.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from sensorhub.dsp import _kernels as K
from sensorhub.dsp import _stream as S
from sensorhub.dsp.detector import DetectorParams, StepDetector
from sensorhub.errors import SensorhubError
from sensorhub.events import AnyEvent, FootStrike, Impact, ToeOff
from sensorhub.protocol import codec, spec
from sensorhub.protocol.codec import DataPacket, DeviceInfo, StatusPacket
from sensorhub.types import Mounting

OUT_ROWS = 256
BATCH_OUT_ROWS = 4096
NO_ROWS = np.zeros((0, S.N_OUT))
NO_ROWS.flags.writeable = False


#: Each window of the clock map keeps its earliest arrival (the lower envelope).  A
#: sensor that notifies a few times a second (Polar batches 0.5-1.5 s) needs longer
#: windows for as many candidates: the family sets it (``pipeline.vendor``).
CLOCK_WINDOW_S = 5.0


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

    def __init__(
        self,
        name: str,
        info: DeviceInfo,
        params: DetectorParams | None = None,
        clock_window_s: float = CLOCK_WINDOW_S,
    ) -> None:
        self.name = name
        self.info = info
        self.side = info.side.label
        self.params = params
        self.detector: StepDetector | None = None
        self.battery_pct: int | None = None
        self.bridge_max = min(S.BRIDGE_ROWS - 1, int(self.BRIDGE_MAX_S * info.odr_hz))
        self._period = 1.0 / info.odr_hz
        self._trk = S.new_tracker()
        self._recent = np.zeros(S.N_RECENT, np.int64)
        self._clk = S.new_clock(info.odr_hz, clock_window_s)
        self._minima = np.zeros((S.N_MINIMA, 2))
        self._last_row = np.zeros(6)
        self._scratch = np.zeros((spec.MAX_SAMPLES_ACC, 6), np.int16)
        self._bridge = np.zeros((S.BRIDGE_ROWS, 6), np.int16)
        self._meta = np.zeros(6, np.int64)
        self._obs = np.zeros(4, np.int64)
        self._out = np.zeros((OUT_ROWS, S.N_OUT))
        self._off1 = np.zeros(1, np.int64)
        self._len1 = np.zeros(1, np.int64)
        self._arr1 = np.zeros(1)
        self._status1 = np.zeros(1, np.int8)
        self._now1 = np.zeros(1)
        self._live_args: list[Any] | None = None  # feed_packets' arguments, live path
        self._live_call: Callable[..., tuple[int, int]] | None = None
        #: session time of the last processed sample after the last notification fed
        #: live (nan before the first sample): what ``now()`` gives, without computing it
        self.last_now = math.nan

    # ------------------------------------------------------------------ state views
    @property
    def last_index(self) -> int:
        return int(self._trk[S.T_LAST_INDEX])

    @property
    def corrupt(self) -> int:
        return int(self._trk[S.T_CORRUPT])

    @property
    def missing_samples(self) -> int:
        return int(self._trk[S.T_MISSING_SAMPLES])

    @property
    def duplicates(self) -> int:
        return int(self._trk[S.T_DUPLICATES])

    @property
    def has_gyro(self) -> bool | None:
        """Whether the sensor sends gyroscope data (None before its first data packet)."""
        return None if self.detector is None else self.detector.has_gyro

    def now(self) -> float:
        """Session time of the last processed sample."""
        last = float(self._trk[S.T_LAST_INDEX])
        # the kernel's own function, run as Python: a compiled call costs more than it does
        return float(S.clock_time.py_func(self._clk, last)) if last >= 0 else 0.0

    # ------------------------------------------------------------------- detector
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

    def _ensure_detector(self, data: bytes | bytearray | memoryview) -> bool:
        """Create the detector from the first valid data packet (it says gyro or not)."""
        if self.detector is not None:
            return True
        try:
            msg, _ = codec.decode(data)
        except SensorhubError:
            return False
        if not isinstance(msg, DataPacket):
            return False
        self.detector = self._make_detector(msg.has_gyro)
        return True

    def warm_up(self) -> None:
        """Compile the kernels with the runtime types before the first packet."""
        for gyro in (True, False):
            twin = SensorStream(self.name, self.info, self.params)
            samples = np.zeros(
                (spec.MAX_SAMPLES_IMU if gyro else spec.MAX_SAMPLES_ACC, 6 if gyro else 3), np.int16
            )
            flags = 0 if gyro else spec.FLAG_NO_GYRO
            twin.feed(0.0, codec.encode_data(0, 0, 0, samples, flags))
            twin.feed(0.1, memoryview(codec.encode_data(2, 2 * len(samples), 0, samples, flags)))

    # ------------------------------------------------------------------ live path
    def feed(self, arrival_t: float, data: bytes | bytearray | memoryview) -> list[AnyEvent]:
        """One notification as received; the events it completes."""
        rows = self.feed_rows(arrival_t, data)
        return self._convert(rows) if len(rows) else []

    def feed_rows(
        self, arrival_t: float, data: bytes | bytearray | memoryview
    ) -> npt.NDArray[np.float64]:
        """One notification as received; the kernel rows of the events it completes (a
        copy, columns ``S.O_*``: ``convert`` gives their events)."""
        if len(data) > 1 and data[1] == spec.Kind.STATUS:
            try:
                msg, _ = codec.decode(data)
            except SensorhubError:
                self._trk[S.T_CORRUPT] += 1.0
                return NO_ROWS
            if isinstance(msg, StatusPacket):
                self.battery_pct = msg.battery_pct
            return NO_ROWS
        if not self._ensure_detector(data):
            if (len(data) > 1 and data[1] == spec.Kind.DATA) or len(data) < 2:
                self._trk[S.T_CORRUPT] += 1.0
            return NO_ROWS
        self._len1[0] = len(data)
        self._arr1[0] = arrival_t
        n = self._run_live(np.frombuffer(data, np.uint8))
        return self._out[:n].copy() if n else NO_ROWS

    def _run_live(self, buf: npt.NDArray[np.uint8]) -> int:
        """``feed_packets`` on one notification, without numba's argument dispatch.

        The dispatcher types all 25 arguments on every call (about 2 us, a third of the
        whole live path per notification); on the live path they are the same arrays every
        time, with only the notification's bytes changing, so after the first call the
        compiled function for exactly these types is called directly."""
        if buf.flags.writeable:  # bytearray / writable memoryview: one type for all
            buf = buf.view()
            buf.flags.writeable = False
        args = self._live_args
        if args is None:
            args = self._live_args = self._kernel_args(
                buf, self._off1, self._len1, self._arr1, self._status1, self._now1, self._out
            )
        args[0] = buf
        call = self._live_call
        if call is None:
            n, stopped = S.feed_packets(*args)  # compiles, or loads from the cache
            self._live_call = S.compiled_for(S.feed_packets, args)
        else:
            n, stopped = call(*args)
        self._stopped = int(stopped)
        self.last_now = float(self._now1[0])
        return int(n)

    def _kernel_args(
        self,
        buf: npt.NDArray[np.uint8],
        offs: npt.NDArray[np.int64],
        lens: npt.NDArray[np.int64],
        arrivals: npt.NDArray[np.float64],
        status: npt.NDArray[np.int8],
        now: npt.NDArray[np.float64],
        out: npt.NDArray[np.float64],
        start: int = 0,
    ) -> list[Any]:
        """``feed_packets``' arguments: the packets, this stream's state, the outputs."""
        det = self.detector
        assert det is not None
        return [
            buf,
            offs,
            lens,
            arrivals,
            float(self.info.acc_scale_g),
            float(self.info.gyro_scale_dps),
            int(self.bridge_max),
            det._p,
            det._st,
            det._ring_acc,
            det._ring_gyr,
            det._ring_e,
            self._trk,
            self._recent,
            self._clk,
            self._minima,
            self._last_row,
            self._scratch,
            self._bridge,
            self._meta,
            self._obs,
            out,
            status,
            now,
            start,
        ]

    # ---------------------------------------------------------------- replay path
    def feed_batch(
        self,
        buf: npt.NDArray[np.uint8],
        offs: npt.NDArray[np.int64],
        lens: npt.NDArray[np.int64],
        arrivals: npt.NDArray[np.float64],
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int8], npt.NDArray[np.float64]]:
        """All of this sensor's data notifications at once (``buf[offs[k]:offs[k]+lens[k]]``
        arriving at ``arrivals[k]``): event rows (with their packet number), per-packet
        status and session time of the last sample processed after each packet."""
        n_pk = len(offs)
        status = np.zeros(n_pk, np.int8)
        now = np.full(n_pk, math.nan)
        chunks = []
        k = 0
        while k < n_pk and self.detector is None:
            if not self._ensure_detector(buf[offs[k] : offs[k] + lens[k]].tobytes()):
                status[k] = S.P_CORRUPT
                self._trk[S.T_CORRUPT] += 1.0
                k += 1
        out = np.zeros((BATCH_OUT_ROWS, S.N_OUT))
        while k < n_pk:
            n, stopped = S.feed_packets(
                *self._kernel_args(buf, offs, lens, arrivals, status, now, out, k)
            )
            self._stopped = int(stopped)
            chunks.append(out[:n].copy())
            k = self._stopped
        rows = np.concatenate(chunks) if chunks else np.zeros((0, S.N_OUT))
        return rows, status, now

    # ------------------------------------------------------------------- events
    def _convert(self, rows: npt.NDArray[np.float64]) -> list[AnyEvent]:
        out: list[AnyEvent] = []
        for r in rows.tolist():
            kind, t, t_ref = r[0], r[S.O_T], r[S.O_T_REF]
            if kind == K.EV_IC:
                stride = r[4]
                out.append(
                    FootStrike(
                        t=t,
                        sensor=self.name,
                        side=self.side,
                        stride_s=stride * self._period if stride > 0 else None,
                        envelope_g=round(r[3], 3),
                    )
                )
            elif kind == K.EV_IMPACT:
                out.append(
                    Impact(
                        t=t,
                        sensor=self.name,
                        side=self.side,
                        contact_t=t_ref,
                        peak_g=r[3],
                        loading_rate_g_per_s=r[4],
                        axis="axial" if r[6] > 0 else "resultant",
                        clipped=r[5] > 0,
                    )
                )
            elif kind == K.EV_TO:
                angle = r[3]
                out.append(
                    ToeOff(
                        t=t,
                        sensor=self.name,
                        side=self.side,
                        # a start from standing has no contact before its toe-off
                        contact_ms=None if math.isnan(t_ref) else (t - t_ref) * 1000.0,
                        strike_angle_deg=None if math.isnan(angle) else angle,
                    )
                )
        return out

    def convert(self, rows: npt.NDArray[np.float64]) -> list[AnyEvent]:
        """Event values for kernel rows (from ``feed_batch``)."""
        return self._convert(rows)
