"""Named records of the signal core: parameters, state and event rows.

The kernels take numpy *structured* arrays of one element (numba reads and writes their
fields by name, as fast as plain array slots), so every setting and every piece of state
has a name with its unit in it.  Adding a parameter is: a field here, a setting in
``sensorhub.config.DetectorConfig``, one line in ``detector.kernel_params`` and its use.

Units: ``_n`` = samples (a count or a sample index), ``_g`` = g, ``_dps`` = deg/s,
``_deg`` = degrees, fractions and factors have no suffix.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

# -------------------------------------------------------------------------- parameters
PARAMS = np.dtype(
    [
        ("fs_hz", np.float64),
        ("hp", np.float64, (5,)),  # impact high-pass biquad: b0, b1, b2, a1, a2
        ("has_gyro", np.int64),
        ("axial_impact", np.int64),  # shin: impact along the tibia (gravity) axis
        ("shoe", np.int64),  # 1: the swing polarity is voted from the stance order
        ("acc_clip_g", np.float64),
        # sagittal axis and lobes (gyroscope path)
        ("axis_cov_alpha", np.float64),  # forgetting of the rotation covariance per sample
        ("axis_every_n", np.int64),
        ("level_decay", np.float64),  # per-sample decay of the lobe peak / area levels
        ("lobe_floor_dps", np.float64),
        ("lobe_rel", np.float64),
        ("lobe_area_floor_deg", np.float64),
        ("lobe_area_rel", np.float64),
        ("hysteresis_floor_dps", np.float64),
        ("hysteresis_rel", np.float64),
        ("stance_quiet_floor_dps", np.float64),
        ("stance_quiet_rel", np.float64),
        ("stance_quiet_n", np.int64),
        ("vote_decay", np.float64),
        ("vote_decide", np.float64),
        ("close_floor_dps", np.float64),  # a closing step: a small swing lobe, then still
        ("close_area_floor_deg", np.float64),
        ("close_still_n", np.int64),
        # initial contact window
        ("ic_pre_n", np.int64),
        ("ic_post_n", np.int64),
        ("ic_rel", np.float64),
        ("ic_floor_g", np.float64),
        ("onset_fraction", np.float64),
        ("onset_max_n", np.int64),
        ("lookahead_n", np.int64),
        ("dt_s", np.float64),  # 1 / fs_hz
        ("refractory_min_n", np.float64),
        ("refractory_stride_fraction", np.float64),
        ("stride_max_n", np.float64),
        # toe-off, contact, strike angle, impact
        ("to_min_n", np.float64),
        ("to_contact_fraction", np.float64),
        ("contact_init_n", np.float64),
        ("estimate_alpha", np.float64),
        ("midstance_skip_n", np.int64),
        ("impact_window_n", np.int64),
        # stillness (gravity direction for the shin's axial impact)
        ("still_dps", np.float64),
        ("still_min_n", np.int64),
        ("gravity_alpha", np.float64),
        # accelerometer-only path
        ("acc_threshold_g", np.float64),
        ("acc_threshold_rel", np.float64),
        ("acc_level_decay", np.float64),
        ("acc_start_lookahead_n", np.int64),
        ("acc_start_contacts", np.int64),
    ]
)

N_LEVELS = 5  # window maxima behind the person's own impact level
N_STRIDES = 5  # strides behind the stride estimate
N_OFFSETS = 9  # (acc contact - swing end) behind the gyroscope-only contact

# ------------------------------------------------------------------------------- state
STATE = np.dtype(
    [
        ("next_index", np.int64),  # next absolute sample index expected
        ("stretch_from", np.int64),  # first sample of the current unbroken stretch
        ("primed", np.int64),  # 0 until the filter is primed after a (re)start
        ("hp", np.float64, (12,)),  # high-pass state: (x1, x2, y1, y2) per axis
        # stillness and gravity
        ("still_n", np.int64),
        ("gravity", np.float64, (3,)),
        ("gravity_n", np.float64),
        # impact pending after a contact
        ("impact_pending", np.int64),
        ("impact_ic", np.float64),
        ("impact_end", np.float64),
        # sagittal axis and rate lobes
        ("cov", np.float64, (6,)),  # xx, xy, xz, yy, yz, zz
        ("axis", np.float64, (3,)),
        ("peak_level_dps", np.float64, (2,)),  # [positive, negative] lobes, as of levels_at
        ("area_level_deg", np.float64, (2,)),
        ("levels_at", np.int64),  # sample the levels were last decayed to (at a lobe end)
        ("hysteresis_dps", np.float64),  # thresholds from the levels at the last lobe end
        ("stance_quiet2_dps2", np.float64),  # (stance quiet threshold)^2
        ("lobe_sign", np.int64),  # 0 before the first sample of a stretch
        ("lobe_peak_dps", np.float64),
        ("lobe_peak_i", np.int64),
        ("lobe_area_deg", np.float64),
        ("lobe_late_peak_dps", np.float64),  # its peak once a toe-off can be (see to_min)
        ("lobe_late_i", np.int64),
        ("last_same_i", np.int64),  # last sample on the lobe's side of zero
        ("last_strong_i", np.int64),  # last sample beyond the hysteresis on that side
        ("stance_quiet_run_n", np.int64),
        ("after_quiet", np.int64),
        ("vote", np.float64),
        ("polarity", np.int64),  # sign of the swing lobes: 0 while undecided
        ("close_zc_i", np.int64),  # a small swing lobe's end waiting for a still stance
        ("close_end_i", np.int64),  # the sample its lobe ended (-1: none pending)
        ("close_quiet", np.int64),  # 1: the foot has been still since
        # initial contact window
        ("win_open", np.int64),
        ("win_from", np.int64),
        ("win_end", np.float64),
        ("win_zc", np.float64),
        ("win_max_g", np.float64),
        ("win_emitted", np.int64),
        ("win_closing", np.int64),  # 1: the window of a closing step (no level update)
        ("cand_i", np.int64),  # -1: none
        ("cand_g", np.float64),
        ("ic_level_g", np.float64),  # 0 until the first window closed
        ("levels_g", np.float64, (N_LEVELS,)),
        ("levels_n", np.int64),
        ("levels_pos", np.int64),
        ("offsets_n_hist", np.float64, (N_OFFSETS,)),
        ("offsets_n", np.int64),
        ("offsets_pos", np.int64),
        ("scratch", np.float64, (N_OFFSETS,)),
        # strides and contacts
        ("stride_n", np.float64),  # estimate, 0: none yet
        ("strides_n", np.float64, (N_STRIDES,)),
        ("strides_count", np.int64),
        ("strides_pos", np.int64),
        ("prev_ic", np.float64),  # last contact of this stretch, -1: none
        ("last_ic", np.float64),  # the contact waiting for its toe-off, -1: none
        ("contact_n", np.float64),  # contact-time estimate, 0: none yet
        # toe-off
        ("to_free", np.int64),  # a push-off from standing is a toe-off without contact
        ("to_from_i", np.float64),  # a toe-off can be from this sample (-1: any)
        ("to_best_dps", np.float64),
        ("to_best_i", np.int64),
        # accelerometer-only path
        ("acc_level_g", np.float64),
        ("acc_cand_i", np.int64),
        ("acc_cand_g", np.float64),
        ("refractory_until", np.float64),
        ("contacts_in_stretch", np.int64),
    ]
)

# ------------------------------------------------------------------------- event rows
EV_IC = 1.0  # [kind, ic_idx, peak_idx, envelope_peak_g, stride_samples or -1]
EV_IMPACT = 2.0  # [kind, peak_idx, ic_idx, peak_g, loading_rate_g_per_s, clipped, axial]
EV_TO = 3.0  # [kind, to_idx, ic_idx or nan, strike_angle_deg or nan, ms_idx, rate_dps]
N_COLS = 8


def new_params() -> npt.NDArray[np.void]:
    return np.zeros(1, PARAMS)


def new_state() -> npt.NDArray[np.void]:
    st = np.zeros(1, STATE)
    s = st[0]
    s["axis"][0] = 1.0
    s["prev_ic"] = -1.0
    s["last_ic"] = -1.0
    s["cand_i"] = -1
    s["to_best_i"] = -1
    s["to_from_i"] = -1.0
    s["hysteresis_dps"] = -1.0  # thresholds not set yet (the kernel sets them from the floors)
    s["acc_cand_i"] = -1
    s["close_end_i"] = -1
    s["next_index"] = 0
    return st
