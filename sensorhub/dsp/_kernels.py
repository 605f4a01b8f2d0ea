"""Numba kernels of the signal core.

Pure functions over arrays: every bit of state lives in the ``st`` vector and the ring
buffers, every setting in the ``p`` vector, events go to the ``out`` rows.  Nothing is
allocated per call, and samples are handled strictly one at a time, so the events do not
depend on how the stream is chunked.

The algorithm (see docs/signal-core.md for the reasoning and references):

* **Initial contact** (any mounting, accelerometer only): the impact is the sharpest event
  of a stride.  A 2nd-order Butterworth high-pass of the acceleration vector gives an
  orientation-free impact envelope ``e = |hp(a)|``.  A peak of ``e`` above an adaptive
  threshold (outside a refractory period of half a stride) is confirmed after a short
  look-ahead; the contact is the onset of its rising edge, where ``e`` first reaches a
  fraction of the peak, interpolated between samples.
* **Impact**: peak of the acceleration within a window after contact: the resultant, or
  along the tibia axis (gravity direction while standing) for a shin sensor; loading rate
  is the rise from contact to that peak over its duration.
* **Sagittal axis** (gyroscope): the principal axis of the angular-velocity covariance,
  oriented so that the foot/tibia turns backward (toes down) over the first half-stride
  after contact.
* **Toe-off** (gyroscope): the fastest backward sagittal rotation between early stance and
  mid-swing (Falbriard et al. 2018).
* **Strike angle** (shoe, gyroscope): minus the integral of the sagittal rate from contact
  to mid-stance, the quietest instant of stance (foot flat: angle 0).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# ------------------------------------------------------------------ parameters (p)
P_FS = 0
P_B0, P_B1, P_B2, P_A1, P_A2 = 1, 2, 3, 4, 5  # high-pass biquad
P_THR_ABS = 6  # g: smallest impact envelope peak that can be a contact
P_THR_REL = 7  # fraction of the recent impact level a peak must reach
P_LOOKAHEAD = 8  # samples a peak must stay the largest before it is confirmed
P_ONSET_FRAC = 9  # fraction of the peak that marks the onset
P_ONSET_MAX = 10  # samples to search back for the onset
P_REFR_MIN = 11  # samples: shortest refractory period after a contact
P_REFR_FRAC = 12  # refractory as a fraction of the stride estimate
P_IMPACT_WIN = 13  # samples after contact that hold the impact peak
P_HAS_GYRO = 14
P_AXIAL = 15  # 1: impact along the tibia axis (shin)
P_TO_START_MIN = 16  # samples after contact before toe-off can be
P_TO_START_FRAC = 17  # ... or this fraction of the contact-time estimate
P_STRIDE_MAX = 18  # samples: longest plausible stride
P_ACC_CLIP = 19  # g: a component at or beyond this is clipped
P_QUIET_DPS = 20  # gyroscope magnitude below which the sensor may be still
P_MS_SKIP = 21  # samples after contact before mid-stance can be
P_TO_MIN_DPS = 22  # smallest backward rotation rate that can mark a toe-off
P_LEVEL_DECAY = 23  # per-sample decay of the impact level (a peak hold)
P_EST_ALPHA = 24  # smoothing of the stride / contact / swing estimates
P_GRAV_ALPHA = 25  # smoothing of the gravity direction (per quiet sample)
P_COV_ALPHA = 26  # forgetting of the angular-velocity covariance (per sample)
P_TO_END_FRAC = 27  # toe-off search ends this fraction of a stride after contact
P_SWING_FRAC = 28  # ... or once the forward swing passes this fraction of its peak
P_CONTACT_INIT = 29  # samples: contact-time estimate before the first toe-off
P_TO_END_INIT = 30  # samples: toe-off search length before the first stride
P_LOOKAHEAD_START = 31  # samples of look-ahead for the first contacts of a stretch
P_START_CONTACTS = 32  # how many contacts use the long look-ahead
P_ARM_DPS = 33  # the swing before a contact turns the segment faster than this
P_AXIS_EVERY = 34  # samples between updates of the sagittal axis
P_PRE_WIN = 35  # samples before a contact in which its swing must show
P_PRE_GAP = 36  # samples just before the contact left out of that window
P_VOTES = 37  # consistent contacts needed before the axis orientation is trusted
P_POST_WIN = 38  # shin: samples after contact over which the tibia must turn backward
P_QUIET_MIN = 39  # still samples in a row before gravity is learned from them
P_LAND_TURN = 40  # shoe: at contact the sagittal rate is below this fraction of the swing's
N_PARAMS = 41

# ----------------------------------------------------------------------- state (st)
S_NEXT = 0  # next absolute sample index expected
S_VALID_FROM = 1  # first sample of the current unbroken stretch
S_INIT = 2  # 0 until the filters are primed after a (re)start
S_HP = 3  # 12 values: (x1, x2, y1, y2) per axis
S_CAND = 15
S_CAND_VAL = 16
S_CAND_IDX = 17
S_LAST_IC = 18
S_REFR_UNTIL = 19
S_LEVEL = 20
S_STRIDE = 21
S_IMP_PEND = 22
S_IMP_IC = 23
S_IMP_END = 24
S_TO_ACT = 25
S_TO_START = 26
S_TO_END = 27
S_TO_BEST = 28
S_TO_BEST_IDX = 29
S_TO_IC = 30
S_AX = 31  # 3 values
S_AX_OK = 34
S_COV = 35  # 6 values: xx, xy, xz, yy, yz, zz
S_GRAV = 41  # 3 values
S_GRAV_W = 44
S_CONTACT = 45
S_SWING_PEAK = 46
S_SWING_ACT = 47
S_SWING_MAX = 48
S_N_IC = 49  # contacts in the current stretch
S_VOTES = 50  # evidence that the axis points the right way (forward swing +)
S_POST_AT = 51  # shin: sample at which to check the early-stance rotation (-1: none)
S_POST_IC = 52
S_HIST = 53  # the last N_HIST plausible strides (samples), newest at S_HIST_POS
N_HIST = 5
S_HIST_N = S_HIST + N_HIST
S_HIST_POS = S_HIST_N + 1
S_SCRATCH = S_HIST_POS + 1  # N_HIST values of working space
S_QUIET_N = S_SCRATCH + N_HIST  # consecutive still samples
N_STATE = S_QUIET_N + 1

# -------------------------------------------------------------------- events (out)
EV_IC = 1.0  # [kind, ic_idx, peak_idx, envelope_peak_g, stride_samples or -1]
EV_IMPACT = 2.0  # [kind, peak_idx, ic_idx, peak_g, loading_rate_g_per_s, clipped, axial]
EV_TO = 3.0  # [kind, to_idx, ic_idx, strike_angle_deg or nan, ms_idx, rate_dps]
N_COLS = 8


def new_state() -> np.ndarray:
    st = np.zeros(N_STATE)
    st[S_LAST_IC] = -1.0
    st[S_POST_AT] = -1.0
    st[S_AX] = 1.0
    return st


@njit(cache=True)
def _reset_stretch(st: np.ndarray, index: int) -> None:
    """Forget everything that needs an unbroken stream (after a gap)."""
    st[S_INIT] = 0.0
    st[S_VALID_FROM] = index
    st[S_CAND] = 0.0
    st[S_IMP_PEND] = 0.0
    st[S_TO_ACT] = 0.0
    st[S_SWING_ACT] = 0.0
    st[S_N_IC] = 0.0
    st[S_POST_AT] = -1.0


@njit(cache=True)
def _emit(
    out: np.ndarray,
    n: int,
    kind: float,
    a: float,
    b: float,
    c: float,
    d: float,
    e: float,
    f: float,
    g: float,
) -> int:
    out[n, 0] = kind
    out[n, 1] = a
    out[n, 2] = b
    out[n, 3] = c
    out[n, 4] = d
    out[n, 5] = e
    out[n, 6] = f
    out[n, 7] = g
    return n + 1


@njit(cache=True)
def _pitch(ring_gyr: np.ndarray, k: int, st: np.ndarray) -> float:
    v: float = (
        ring_gyr[k, 0] * st[S_AX] + ring_gyr[k, 1] * st[S_AX + 1] + ring_gyr[k, 2] * st[S_AX + 2]
    )
    return v


@njit(cache=True)
def _finish_impact(
    p: np.ndarray, st: np.ndarray, ring_acc: np.ndarray, mask: int, out: np.ndarray, n: int
) -> int:
    ic = st[S_IMP_IC]
    end = int(st[S_IMP_END])
    start = int(math.floor(ic))
    if start < st[S_VALID_FROM]:
        start = int(st[S_VALID_FROM])
    axial = p[P_AXIAL] > 0 and st[S_GRAV_W] > 0.5 * p[P_FS]
    ux = uy = uz = 0.0
    if axial:
        gn = math.sqrt(st[S_GRAV] ** 2 + st[S_GRAV + 1] ** 2 + st[S_GRAV + 2] ** 2)
        ux, uy, uz = st[S_GRAV] / gn, st[S_GRAV + 1] / gn, st[S_GRAV + 2] / gn
    best = -1e300
    best_k = start
    first = 0.0
    clipped = 0.0
    clip = p[P_ACC_CLIP]
    for k in range(start, end + 1):
        j = k & mask
        ax, ay, az = ring_acc[j, 0], ring_acc[j, 1], ring_acc[j, 2]
        if axial:
            v = ax * ux + ay * uy + az * uz
        else:
            v = math.sqrt(ax * ax + ay * ay + az * az)
        if k == start:
            first = v
        if v > best:
            best = v
            best_k = k
        if abs(ax) >= clip or abs(ay) >= clip or abs(az) >= clip:
            clipped = 1.0
    rise_s = (best_k - ic) / p[P_FS]
    rate = (best - first) / rise_s if rise_s > 0 else 0.0
    st[S_IMP_PEND] = 0.0
    return _emit(
        out, n, EV_IMPACT, float(best_k), ic, best, rate, clipped, 1.0 if axial else 0.0, 0.0
    )


@njit(cache=True)
def _finish_toe_off(
    p: np.ndarray, st: np.ndarray, ring_gyr: np.ndarray, mask: int, out: np.ndarray, n: int
) -> int:
    st[S_TO_ACT] = 0.0
    bi = int(st[S_TO_BEST_IDX])
    if bi < 0 or st[S_TO_BEST] < p[P_TO_MIN_DPS]:
        return n
    # parabolic refinement of the minimum of the sagittal rate
    to = float(bi)
    if bi - 1 >= st[S_VALID_FROM] and bi + 1 < st[S_NEXT]:
        y0 = -_pitch(ring_gyr, (bi - 1) & mask, st)
        y1 = -_pitch(ring_gyr, bi & mask, st)
        y2 = -_pitch(ring_gyr, (bi + 1) & mask, st)
        den = y0 - 2.0 * y1 + y2
        if den < 0:
            off = 0.5 * (y0 - y2) / den
            if -0.5 <= off <= 0.5:
                to = bi + off
    ic = st[S_TO_IC]
    contact = to - ic
    if st[S_CONTACT] <= 0:
        st[S_CONTACT] = contact
    else:
        st[S_CONTACT] += p[P_EST_ALPHA] * (contact - st[S_CONTACT])
    # strike angle: minus the sagittal rotation from contact to mid-stance
    angle = math.nan
    ms = -1.0
    if p[P_AXIAL] == 0:
        k0 = int(math.floor(ic))
        lo = k0 + int(p[P_MS_SKIP])
        best = 1e300
        for k in range(lo, bi):
            j = k & mask
            m = ring_gyr[j, 0] ** 2 + ring_gyr[j, 1] ** 2 + ring_gyr[j, 2] ** 2
            if m < best:
                best = m
                ms = float(k)
        if ms >= 0 and k0 >= st[S_VALID_FROM]:
            # trapezoid from the contact (interpolated) to mid-stance
            frac = ic - k0
            r0 = _pitch(ring_gyr, k0 & mask, st)
            r1 = _pitch(ring_gyr, (k0 + 1) & mask, st)
            r_ic = r0 + frac * (r1 - r0)
            total = 0.5 * (r_ic + r1) * (1.0 - frac)
            for k in range(k0 + 1, int(ms)):
                total += 0.5 * (
                    _pitch(ring_gyr, k & mask, st) + _pitch(ring_gyr, (k + 1) & mask, st)
                )
            angle = -total / p[P_FS]
    st[S_SWING_ACT] = 1.0
    st[S_SWING_MAX] = 0.0
    return _emit(out, n, EV_TO, to, ic, angle, ms, st[S_TO_BEST], 0.0, 0.0)


@njit(cache=True)
def _iterate_axis(st: np.ndarray) -> None:
    """Power iteration towards the principal axis of the rotation covariance.

    Starting from the current axis keeps its orientation from one update to the next.
    """
    c = st[S_COV : S_COV + 6]
    vx, vy, vz = st[S_AX], st[S_AX + 1], st[S_AX + 2]
    for _ in range(4):
        nx = c[0] * vx + c[1] * vy + c[2] * vz
        ny = c[1] * vx + c[3] * vy + c[4] * vz
        nz = c[2] * vx + c[4] * vy + c[5] * vz
        norm = math.sqrt(nx * nx + ny * ny + nz * nz)
        if norm <= 0:
            return
        vx, vy, vz = nx / norm, ny / norm, nz / norm
    st[S_AX], st[S_AX + 1], st[S_AX + 2] = vx, vy, vz


@njit(cache=True)
def _last_swing(st: np.ndarray, ring_gyr: np.ndarray, mask: int, k0: int, k1: int) -> float:
    """The sagittal rate of largest magnitude in samples k0..k1 (signed)."""
    best = 0.0
    for k in range(k0, k1 + 1):
        v = _pitch(ring_gyr, k & mask, st)
        if abs(v) > abs(best):
            best = v
    return best


@njit(cache=True)
def _add_stride(st: np.ndarray, stride: float) -> None:
    """Keep plausible strides and set the estimate to their median.

    An interval far from the estimate (a missed or an extra contact) does not enter, so
    one mistake cannot change the refractory period and breed more; it only nudges the
    estimate 8 % its way, so a real change of pace (walking to running) is followed
    within a few strides while isolated mistakes are forgotten.
    """
    est = st[S_STRIDE]
    if est > 0 and not 0.75 * est <= stride <= 1.5 * est:
        nudged = est * 1.08 if stride > est else est / 1.08
        st[S_HIST] = nudged
        st[S_HIST_N] = 1.0
        st[S_HIST_POS] = 1.0
        st[S_STRIDE] = nudged
        return
    pos = int(st[S_HIST_POS])
    st[S_HIST + pos] = stride
    st[S_HIST_POS] = (pos + 1) % N_HIST
    if st[S_HIST_N] < N_HIST:
        st[S_HIST_N] += 1.0
    n = int(st[S_HIST_N])
    # median of the newest n by insertion sort in the scratch slots (no allocation)
    for k in range(n):
        v = st[S_HIST + (pos - k) % N_HIST]
        m = k
        while m > 0 and st[S_SCRATCH + m - 1] > v:
            st[S_SCRATCH + m] = st[S_SCRATCH + m - 1]
            m -= 1
        st[S_SCRATCH + m] = v
    if n % 2:
        st[S_STRIDE] = st[S_SCRATCH + n // 2]
    else:
        st[S_STRIDE] = 0.5 * (st[S_SCRATCH + n // 2 - 1] + st[S_SCRATCH + n // 2])


@njit(cache=True)
def _vote(p: np.ndarray, st: np.ndarray, forward: bool) -> None:
    """One contact's evidence on the axis orientation; flip it when outvoted."""
    st[S_VOTES] += 1.0 if forward else -1.0
    if st[S_VOTES] < 0:
        st[S_AX] = -st[S_AX]
        st[S_AX + 1] = -st[S_AX + 1]
        st[S_AX + 2] = -st[S_AX + 2]
        st[S_VOTES] = -st[S_VOTES]
    if st[S_VOTES] >= p[P_VOTES]:
        st[S_AX_OK] = 1.0


@njit(cache=True)
def process(
    raw: np.ndarray,
    acc_scale: float,
    gyro_scale: float,
    first_index: int,
    p: np.ndarray,
    st: np.ndarray,
    ring_acc: np.ndarray,
    ring_gyr: np.ndarray,
    ring_e: np.ndarray,
    out: np.ndarray,
) -> tuple[int, int]:
    """Run the detectors over ``raw`` (int16 ``(n, 6)`` or ``(n, 3)``).

    ``first_index`` is the absolute index of ``raw[0]``; a jump from the last call's end
    is a gap and restarts everything that needs an unbroken stream.  Returns
    ``(events written to out, samples consumed)``: it stops early when ``out`` is nearly
    full, and the caller passes the rest again.
    """
    n_out = 0
    cap = out.shape[0] - 4
    mask = ring_e.shape[0] - 1
    has_gyro = p[P_HAS_GYRO] > 0 and raw.shape[1] >= 6
    if first_index != int(st[S_NEXT]):
        _reset_stretch(st, first_index)
    b0, b1, b2, a1, a2 = p[P_B0], p[P_B1], p[P_B2], p[P_A1], p[P_A2]
    every = int(p[P_AXIS_EVERY])
    cov_alpha = p[P_COV_ALPHA]
    decay = p[P_LEVEL_DECAY]
    quiet2 = p[P_QUIET_DPS] * p[P_QUIET_DPS]
    # the high-pass filter state lives in locals inside the loop (the hot path)
    hx1, hx2, hy1, hy2 = st[S_HP], st[S_HP + 1], st[S_HP + 2], st[S_HP + 3]
    ix1, ix2, iy1, iy2 = st[S_HP + 4], st[S_HP + 5], st[S_HP + 6], st[S_HP + 7]
    zx1, zx2, zy1, zy2 = st[S_HP + 8], st[S_HP + 9], st[S_HP + 10], st[S_HP + 11]
    n = raw.shape[0]
    jj = 0
    for jj in range(n):
        if n_out >= cap:
            break
        i = first_index + jj
        j = i & mask
        ax = raw[jj, 0] * acc_scale
        ay = raw[jj, 1] * acc_scale
        az = raw[jj, 2] * acc_scale
        if has_gyro:
            gx = raw[jj, 3] * gyro_scale
            gy = raw[jj, 4] * gyro_scale
            gz = raw[jj, 5] * gyro_scale
        else:
            gx = gy = gz = 0.0
        if st[S_INIT] == 0:
            # prime the filter as if this sample had always been there: no transient
            hx1 = hx2 = ax
            ix1 = ix2 = ay
            zx1 = zx2 = az
            hy1 = hy2 = iy1 = iy2 = zy1 = zy2 = 0.0
            st[S_INIT] = 1.0
        yx = b0 * ax + b1 * hx1 + b2 * hx2 - a1 * hy1 - a2 * hy2
        hx2, hx1, hy2, hy1 = hx1, ax, hy1, yx
        yy = b0 * ay + b1 * ix1 + b2 * ix2 - a1 * iy1 - a2 * iy2
        ix2, ix1, iy2, iy1 = ix1, ay, iy1, yy
        yz = b0 * az + b1 * zx1 + b2 * zx2 - a1 * zy1 - a2 * zy2
        zx2, zx1, zy2, zy1 = zx1, az, zy1, yz
        e = math.sqrt(yx * yx + yy * yy + yz * yz)
        ring_acc[j, 0] = ax
        ring_acc[j, 1] = ay
        ring_acc[j, 2] = az
        ring_gyr[j, 0] = gx
        ring_gyr[j, 1] = gy
        ring_gyr[j, 2] = gz
        ring_e[j] = e
        st[S_NEXT] = i + 1
        gmag2 = gx * gx + gy * gy + gz * gz
        if has_gyro:
            if i % every == 0:
                _iterate_axis(st)
            al = cov_alpha
            st[S_COV] += al * (gx * gx - st[S_COV])
            st[S_COV + 1] += al * (gx * gy - st[S_COV + 1])
            st[S_COV + 2] += al * (gx * gz - st[S_COV + 2])
            st[S_COV + 3] += al * (gy * gy - st[S_COV + 3])
            st[S_COV + 4] += al * (gy * gz - st[S_COV + 4])
            st[S_COV + 5] += al * (gz * gz - st[S_COV + 5])
        st[S_LEVEL] *= decay
        amag2 = ax * ax + ay * ay + az * az
        # still: |a| within 5 % of 1 g, no impact, hardly turning
        if 0.9025 < amag2 < 1.1025 and e < 0.05 and gmag2 < quiet2:
            st[S_QUIET_N] += 1.0
        else:
            st[S_QUIET_N] = 0.0
        # only a sustained stillness shows gravity (a moving limb passes through 1 g too)
        if st[S_QUIET_N] >= p[P_QUIET_MIN]:
            gl = p[P_GRAV_ALPHA]
            st[S_GRAV] += gl * (ax - st[S_GRAV])
            st[S_GRAV + 1] += gl * (ay - st[S_GRAV + 1])
            st[S_GRAV + 2] += gl * (az - st[S_GRAV + 2])
            st[S_GRAV_W] += 1.0

        # --- shin: the tibia turns backward over the planted foot in early stance
        if st[S_POST_AT] >= 0 and i >= st[S_POST_AT]:
            k0 = int(math.ceil(st[S_POST_IC]))
            total = 0.0
            for k in range(k0, i + 1):
                total += _pitch(ring_gyr, k & mask, st)
            if abs(total) / (i + 1 - k0) >= 0.25 * p[P_ARM_DPS]:
                _vote(p, st, total < 0)
            st[S_POST_AT] = -1.0

        # --- impact window complete
        if st[S_IMP_PEND] > 0 and i >= st[S_IMP_END]:
            n_out = _finish_impact(p, st, ring_acc, mask, out, n_out)

        # --- toe-off search
        if st[S_TO_ACT] > 0:
            pitch = gx * st[S_AX] + gy * st[S_AX + 1] + gz * st[S_AX + 2]
            if i >= st[S_TO_START]:
                if -pitch > st[S_TO_BEST]:
                    st[S_TO_BEST] = -pitch
                    st[S_TO_BEST_IDX] = i
            swing = st[S_SWING_PEAK]
            if i >= st[S_TO_END] or (
                st[S_TO_BEST_IDX] >= 0 and swing > 0 and pitch > p[P_SWING_FRAC] * swing
            ):
                n_out = _finish_toe_off(p, st, ring_gyr, mask, out, n_out)
        elif st[S_SWING_ACT] > 0:
            pitch = gx * st[S_AX] + gy * st[S_AX + 1] + gz * st[S_AX + 2]
            if pitch > st[S_SWING_MAX]:
                st[S_SWING_MAX] = pitch

        # --- contact candidates
        thr = max(p[P_THR_ABS], p[P_THR_REL] * st[S_LEVEL])
        if i >= st[S_REFR_UNTIL] and e > thr:
            if st[S_CAND] == 0 or e > st[S_CAND_VAL]:
                st[S_CAND] = 1.0
                st[S_CAND_VAL] = e
                st[S_CAND_IDX] = i
        # Until the impact level is known, a smaller transient (toe-off) could pass for a
        # contact: the first contacts of a stretch wait longer for a larger peak.
        wait = p[P_LOOKAHEAD] if st[S_N_IC] >= p[P_START_CONTACTS] else p[P_LOOKAHEAD_START]
        if st[S_CAND] > 0 and i - st[S_CAND_IDX] >= wait:
            st[S_CAND] = 0.0
            ip = int(st[S_CAND_IDX])
            pv = st[S_CAND_VAL]
            # onset: the earliest sample reaching frac * peak shortly before the peak (the
            # envelope of a ringing transient dips between lobes, so do not stop at a dip)
            lim = max(int(st[S_VALID_FROM]), ip - int(p[P_ONSET_MAX]))
            level = p[P_ONSET_FRAC] * pv
            k = ip
            for kk in range(lim, ip):
                if ring_e[kk & mask] >= level:
                    k = kk
                    break
            ic = float(k)
            if k > lim:
                e0 = ring_e[(k - 1) & mask]
                e1 = ring_e[k & mask]
                if e1 > e0:
                    ic = k - 1 + (level - e0) / (e1 - e0)
            if has_gyro and p[P_AXIAL] == 0:
                # Shoe: a foot lands at the end of its forward swing (toes turning up); a
                # toe-off transient follows the backward push-off.  Once the axis is
                # oriented, the strongest rotation just before the onset must be forward.
                k1 = int(ic) - max(1, int(p[P_PRE_GAP]))
                k0 = max(int(st[S_VALID_FROM]), int(ic) - int(p[P_PRE_WIN]))
                swing = _last_swing(st, ring_gyr, mask, k0, k1)
                if st[S_AX_OK] > 0 and swing < p[P_ARM_DPS]:
                    continue
                # nor does a foot land while it still turns as fast as in mid-swing
                turn = abs(_pitch(ring_gyr, int(ic) & mask, st))
                if st[S_SWING_PEAK] > 0 and turn > p[P_LAND_TURN] * st[S_SWING_PEAK]:
                    continue
                if pv >= 0.5 * st[S_LEVEL] and abs(swing) >= p[P_ARM_DPS]:
                    _vote(p, st, swing > 0)
            st[S_N_IC] += 1.0
            if st[S_TO_ACT] > 0:
                n_out = _finish_toe_off(p, st, ring_gyr, mask, out, n_out)
            if st[S_IMP_PEND] > 0:
                n_out = _finish_impact(p, st, ring_acc, mask, out, n_out)
            stride = -1.0
            last = st[S_LAST_IC]
            if last >= st[S_VALID_FROM] and 0 < ic - last <= p[P_STRIDE_MAX]:
                stride = ic - last
                _add_stride(st, stride)
            if has_gyro:
                if st[S_SWING_ACT] > 0 and st[S_SWING_MAX] > 0:
                    if st[S_SWING_PEAK] <= 0:
                        st[S_SWING_PEAK] = st[S_SWING_MAX]
                    else:
                        st[S_SWING_PEAK] += p[P_EST_ALPHA] * (st[S_SWING_MAX] - st[S_SWING_PEAK])
                st[S_SWING_ACT] = 0.0
            st[S_LEVEL] = max(st[S_LEVEL], pv)
            st[S_REFR_UNTIL] = ip + max(p[P_REFR_MIN], p[P_REFR_FRAC] * st[S_STRIDE])
            n_out = _emit(out, n_out, EV_IC, ic, float(ip), pv, stride, 0.0, 0.0, 0.0)
            st[S_IMP_PEND] = 1.0
            st[S_IMP_IC] = ic
            st[S_IMP_END] = math.floor(ic) + p[P_IMPACT_WIN]
            if has_gyro and p[P_AXIAL] > 0:
                st[S_POST_AT] = math.floor(ic) + p[P_POST_WIN]
                st[S_POST_IC] = ic
            if has_gyro and st[S_AX_OK] > 0:
                contact = st[S_CONTACT] if st[S_CONTACT] > 0 else p[P_CONTACT_INIT]
                st[S_TO_ACT] = 1.0
                st[S_TO_IC] = ic
                st[S_TO_START] = ic + max(p[P_TO_START_MIN], p[P_TO_START_FRAC] * contact)
                if st[S_STRIDE] > 0:
                    st[S_TO_END] = ic + p[P_TO_END_FRAC] * st[S_STRIDE]
                else:
                    st[S_TO_END] = ic + p[P_TO_END_INIT]
                st[S_TO_BEST] = -1e300
                st[S_TO_BEST_IDX] = -1.0
            st[S_LAST_IC] = ic
    else:
        jj = n
    st[S_HP], st[S_HP + 1], st[S_HP + 2], st[S_HP + 3] = hx1, hx2, hy1, hy2
    st[S_HP + 4], st[S_HP + 5], st[S_HP + 6], st[S_HP + 7] = ix1, ix2, iy1, iy2
    st[S_HP + 8], st[S_HP + 9], st[S_HP + 10], st[S_HP + 11] = zx1, zx2, zy1, zy2
    return n_out, jj
