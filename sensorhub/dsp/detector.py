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

from sensorhub.config import DetectorConfig
from sensorhub.dsp import _kernels as K
from sensorhub.protocol import spec

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

    kind: int  # 1 contact, 2 impact, 3 toe-off (_layout.EV_*)
    index: float  # contact, impact peak or toe-off
    ref: float  # impact / toe-off: the contact it belongs to; contact: its envelope peak
    values: tuple[float, ...]


#: The detector's settings: the ``[detector]`` section of the configuration.
DetectorParams = DetectorConfig


def kernel_params(
    q: DetectorConfig, fs: float, has_gyro: bool, axial_impact: bool, shoe: bool, acc_range_g: float
) -> npt.NDArray[np.void]:
    """The kernel's parameter record: settings converted to samples at ``fs`` Hz."""

    def n(seconds: float) -> int:
        return max(1, round(seconds * fs))

    rec = K.new_params()
    p = rec[0]
    p["fs_hz"] = fs
    p["hp"][:] = highpass_biquad(q.highpass_hz, fs)
    p["has_gyro"] = has_gyro
    p["axial_impact"] = axial_impact
    p["shoe"] = shoe
    p["acc_clip_g"] = acc_range_g * 0.999
    p["axis_cov_alpha"] = 1.0 / (q.axis_tau_s * fs)
    p["axis_every_n"] = n(q.axis_update_ms / 1000)
    p["level_decay"] = math.exp(-1.0 / (q.level_tau_s * fs))
    p["lobe_floor_dps"] = q.lobe_floor_dps
    p["lobe_rel"] = q.lobe_rel
    p["lobe_area_floor_deg"] = q.lobe_area_floor_deg
    p["lobe_area_rel"] = q.lobe_area_rel
    p["hysteresis_floor_dps"] = q.hysteresis_floor_dps
    p["hysteresis_rel"] = q.hysteresis_rel
    p["stance_quiet_floor_dps"] = q.stance_quiet_floor_dps
    p["stance_quiet_rel"] = q.stance_quiet_rel
    p["stance_quiet_n"] = n(q.stance_quiet_ms / 1000)
    p["vote_decay"] = q.vote_decay
    p["vote_decide"] = q.vote_decide
    p["close_floor_dps"] = q.close_floor_dps
    p["close_area_floor_deg"] = q.close_area_floor_deg
    p["close_still_n"] = n(q.close_still_ms / 1000)
    p["ic_pre_n"] = round(q.ic_pre_ms / 1000 * fs)
    p["ic_post_n"] = n(q.ic_post_ms / 1000)
    p["ic_rel"] = q.ic_rel
    p["ic_floor_g"] = q.ic_floor_g
    p["onset_fraction"] = q.onset_fraction
    p["onset_max_n"] = n(q.onset_max_ms / 1000)
    p["lookahead_n"] = n(q.lookahead_ms / 1000)
    p["dt_s"] = 1.0 / fs
    p["refractory_min_n"] = n(q.refractory_min_s)
    p["refractory_stride_fraction"] = q.refractory_stride_fraction
    p["stride_max_n"] = n(q.stride_max_s)
    p["to_min_n"] = n(q.to_min_ms / 1000)
    p["to_contact_fraction"] = q.to_contact_fraction
    p["contact_init_n"] = n(q.contact_init_s)
    p["estimate_alpha"] = q.estimate_alpha
    p["midstance_skip_n"] = n(q.midstance_skip_ms / 1000)
    p["impact_window_n"] = n(q.impact_window_ms / 1000)
    p["still_dps"] = q.still_dps
    p["still_min_n"] = n(q.still_min_s)
    p["gravity_alpha"] = 1.0 / (q.gravity_tau_s * fs)
    p["acc_threshold_g"] = q.acc_threshold_g
    p["acc_threshold_rel"] = q.acc_threshold_rel
    p["acc_level_decay"] = math.exp(-1.0 / (q.acc_level_tau_s * fs))
    p["acc_start_lookahead_n"] = n(q.acc_start_lookahead_s)
    p["acc_start_contacts"] = q.acc_start_contacts
    return rec


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
        if not spec.ODR_MIN_HZ <= sampling_rate_hz <= spec.ODR_MAX_HZ:
            raise ValueError(
                f"sampling rate {sampling_rate_hz} Hz is outside "
                f"{spec.ODR_MIN_HZ}-{spec.ODR_MAX_HZ} Hz"
            )
        self.sampling_rate_hz = sampling_rate_hz
        self.acc_scale_g = acc_scale_g
        self.gyro_scale_dps = gyro_scale_dps
        self.has_gyro = has_gyro
        self.axial_impact = axial_impact
        self.params = params or DetectorConfig()
        fs = sampling_rate_hz
        self._p = kernel_params(
            self.params, fs, has_gyro, axial_impact, shoe=not axial_impact, acc_range_g=acc_range_g
        )
        ring = 1 << math.ceil(math.log2(RING_SECONDS * fs))
        self._ring_acc = np.zeros((ring, 3))
        self._ring_gyr = np.zeros((ring, 3))
        self._ring_e = np.zeros(ring)
        self._out = np.zeros((OUT_ROWS, K.N_COLS))
        self._st = K.new_state()

    @property
    def state(self) -> np.void:
        """The kernel state record (read-only use: tests and diagnostics)."""
        rec: np.void = self._st[0]
        return rec

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
