"""Per-sensor step detector: a thin class around the numba kernel.

Parameters are stored verbatim with their units in their names, converted to samples
once, and the kernel's raw rows are turned into :class:`DetectorEvent` tuples in
sample-index time.  Mapping sample indices to session time is the stream's job.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sensorhub.dsp import _kernels as K

RING_SECONDS = 3.0
OUT_ROWS = 64


def highpass_biquad(cutoff_hz: float, fs_hz: float) -> tuple[float, float, float, float, float]:
    """2nd-order Butterworth high-pass (bilinear transform): b0, b1, b2, a1, a2."""
    k = math.tan(math.pi * cutoff_hz / fs_hz)
    norm = 1.0 / (1.0 + math.sqrt(2.0) * k + k * k)
    return (
        norm,
        -2.0 * norm,
        norm,
        2.0 * (k * k - 1.0) * norm,
        (1.0 - math.sqrt(2.0) * k + k * k) * norm,
    )


@dataclass(frozen=True)
class DetectorEvent:
    """One row from the kernel, in sample-index time (fractional indices)."""

    kind: int  # 1 contact, 2 impact, 3 toe-off
    index: float  # contact, impact peak or toe-off
    ref: float  # impact / toe-off: the contact it belongs to; contact: its envelope peak
    values: tuple[float, ...]


@dataclass(frozen=True)
class DetectorParams:
    """Settings of the detector, with units in their names (defaults: docs/signal-core.md)."""

    highpass_hz: float = 15.0
    threshold_g: float = 0.8
    threshold_rel_gyro: float = 0.2
    threshold_rel_acc_only: float = 0.5
    level_tau_s: float = 6.0
    start_lookahead_s: float = 0.6
    start_contacts: int = 3
    arm_dps: float = 60.0
    axis_update_ms: float = 30.0
    pre_window_ms: float = 150.0
    pre_gap_ms: float = 2.0
    axis_votes: int = 3
    post_window_ms: float = 100.0
    quiet_min_s: float = 0.25
    land_turn_fraction: float = 0.5
    lookahead_ms: float = 8.0
    onset_fraction: float = 0.2
    onset_max_ms: float = 40.0
    refractory_min_s: float = 0.3
    refractory_stride_fraction: float = 0.6
    impact_window_ms: float = 60.0
    to_start_min_ms: float = 50.0
    to_start_contact_fraction: float = 0.35
    stride_max_s: float = 2.5
    quiet_dps: float = 10.0
    midstance_skip_ms: float = 20.0
    to_min_dps: float = 50.0
    estimate_alpha: float = 0.3
    gravity_tau_s: float = 0.5
    covariance_tau_s: float = 5.0
    to_end_stride_fraction: float = 0.85
    swing_fraction: float = 0.3
    contact_init_s: float = 0.25
    to_end_init_s: float = 0.8


class StepDetector:
    """Streaming contact / impact / toe-off / strike detector for one sensor.

    Parameters
    ----------
    sampling_rate_hz
        Output data rate of the sensor (100-1600 Hz).
    acc_scale_g, gyro_scale_dps
        LSB scales from the device info.
    has_gyro
        Whether samples carry a gyroscope (toe-off and strike angle need it).
    axial_impact
        Shin mounting: report impact along the tibia axis instead of the resultant.
    acc_range_g
        Full scale, to flag clipped impacts.
    """

    def __init__(
        self,
        sampling_rate_hz: float,
        acc_scale_g: float,
        gyro_scale_dps: float,
        has_gyro: bool,
        axial_impact: bool,
        acc_range_g: float = 16.0,
        params: DetectorParams | None = None,
    ) -> None:
        if not 50.0 <= sampling_rate_hz <= 3200.0:
            raise ValueError(f"sampling rate {sampling_rate_hz} Hz is outside 50-3200 Hz")
        self.sampling_rate_hz = sampling_rate_hz
        self.acc_scale_g = acc_scale_g
        self.gyro_scale_dps = gyro_scale_dps
        self.has_gyro = has_gyro
        self.axial_impact = axial_impact
        self.params = params or DetectorParams()
        fs = sampling_rate_hz
        q = self.params

        def samples(seconds: float) -> float:
            return float(max(1, round(seconds * fs)))

        p = np.zeros(K.N_PARAMS)
        p[K.P_FS] = fs
        p[K.P_B0 : K.P_A2 + 1] = highpass_biquad(q.highpass_hz, fs)
        p[K.P_THR_ABS] = q.threshold_g
        # With a gyroscope the swing gate rejects toe-off and stance transients, so the
        # impact threshold can let weak heel strikes through; without one the size of
        # the transient relative to recent impacts is all there is to go by.
        p[K.P_THR_REL] = q.threshold_rel_gyro if has_gyro else q.threshold_rel_acc_only
        p[K.P_LOOKAHEAD] = samples(q.lookahead_ms / 1000)
        p[K.P_ONSET_FRAC] = q.onset_fraction
        p[K.P_ONSET_MAX] = samples(q.onset_max_ms / 1000)
        p[K.P_REFR_MIN] = samples(q.refractory_min_s)
        p[K.P_REFR_FRAC] = q.refractory_stride_fraction
        p[K.P_IMPACT_WIN] = samples(q.impact_window_ms / 1000)
        p[K.P_HAS_GYRO] = 1.0 if has_gyro else 0.0
        p[K.P_AXIAL] = 1.0 if axial_impact else 0.0
        p[K.P_TO_START_MIN] = samples(q.to_start_min_ms / 1000)
        p[K.P_TO_START_FRAC] = q.to_start_contact_fraction
        p[K.P_STRIDE_MAX] = samples(q.stride_max_s)
        p[K.P_ACC_CLIP] = acc_range_g * 0.999
        p[K.P_QUIET_DPS] = q.quiet_dps
        p[K.P_MS_SKIP] = samples(q.midstance_skip_ms / 1000)
        p[K.P_TO_MIN_DPS] = q.to_min_dps
        p[K.P_EST_ALPHA] = q.estimate_alpha
        p[K.P_GRAV_ALPHA] = 1.0 / (q.gravity_tau_s * fs)
        p[K.P_COV_ALPHA] = 1.0 / (q.covariance_tau_s * fs)
        p[K.P_TO_END_FRAC] = q.to_end_stride_fraction
        p[K.P_SWING_FRAC] = q.swing_fraction
        p[K.P_CONTACT_INIT] = samples(q.contact_init_s)
        p[K.P_TO_END_INIT] = samples(q.to_end_init_s)
        p[K.P_LEVEL_DECAY] = math.exp(-1.0 / (q.level_tau_s * fs))
        p[K.P_LOOKAHEAD_START] = samples(q.start_lookahead_s)
        p[K.P_START_CONTACTS] = q.start_contacts
        p[K.P_ARM_DPS] = q.arm_dps
        p[K.P_AXIS_EVERY] = samples(q.axis_update_ms / 1000)
        p[K.P_PRE_WIN] = samples(q.pre_window_ms / 1000)
        p[K.P_PRE_GAP] = round(q.pre_gap_ms / 1000 * fs)
        p[K.P_VOTES] = q.axis_votes
        p[K.P_POST_WIN] = samples(q.post_window_ms / 1000)
        p[K.P_QUIET_MIN] = samples(q.quiet_min_s)
        p[K.P_LAND_TURN] = q.land_turn_fraction
        self._p = p
        ring = 1 << math.ceil(math.log2(RING_SECONDS * fs))
        self._ring_acc = np.zeros((ring, 3))
        self._ring_gyr = np.zeros((ring, 3))
        self._ring_e = np.zeros(ring)
        self._out = np.zeros((OUT_ROWS, K.N_COLS))
        self._st = K.new_state()

    @property
    def state(self) -> npt.NDArray[np.float64]:
        """The kernel state vector (read-only use: tests and diagnostics)."""
        return self._st

    def process(self, samples: npt.NDArray[np.int16], first_index: int) -> list[DetectorEvent]:
        """Feed ``samples`` (absolute index of the first: ``first_index``); new events.

        A ``first_index`` that does not follow the previous call is a gap.
        """
        events: list[DetectorEvent] = []
        done = 0
        total = samples.shape[0]
        while True:
            n, used = K.process(
                samples if done == 0 else samples[done:],
                self.acc_scale_g,
                self.gyro_scale_dps,
                first_index + done,
                self._p,
                self._st,
                self._ring_acc,
                self._ring_gyr,
                self._ring_e,
                self._out,
            )
            if n:
                for r in self._out[:n].tolist():
                    events.append(DetectorEvent(int(r[0]), r[1], r[2], tuple(r[3:])))
            done += used
            if done >= total:
                return events
