"""Numba kernels of the signal core.

Pure functions over arrays: every setting lives in the parameter record ``q``, every bit
of state in the state record ``s`` (both from ``_layout``) and the ring buffers, events go
to the ``out`` rows.  Nothing is allocated per call, and samples are handled strictly one
at a time, so the events do not depend on how the stream is chunked.

The algorithm (docs/signal-core.md has the reasoning, the settings and the latencies):

*With a gyroscope* the stride is anchored on the sagittal rotation, the largest and most
repeatable feature of a foot or shank gyroscope (Salarian et al. 2004, Rampp et al. 2015,
Trojaniello et al. 2014):

* the sagittal rate ``r`` is the angular velocity projected on the principal axis of its
  covariance (orientation-free; the axis sign is arbitrary);
* ``r`` is cut into *lobes*, excursions between sign changes (with hysteresis); a lobe
  counts when its peak and its area (the angle turned) are large against this person's
  recent lobes;
* which polarity is the forward swing is decided from evidence that does not depend on any
  contact decision, so no early mistake can lock the detector into the wrong phase: at
  the foot, the first large lobe after a still stance is the push-off (a leaky vote,
  revised with every stride); at the shin, the swing lobes are the larger ones;
* the end of a swing lobe (its zero crossing) anchors the initial-contact window
  ``[zc - ic_pre, zc + ic_post]``: the contact is the onset of the first peak of the
  orientation-free impact envelope ``|HP15Hz(a)|`` reaching ``ic_rel`` x this person's
  recent window maxima (soft and hard landers alike); without one, the zero crossing
  plus the usual offset between the two;
* a walk ends with a small step and stillness: a lobe also ends once the foot has been
  still for ``close_still``, and a swing lobe too small for a stride is a contact (a
  *closing step*) when the foot is still after it and no stride follows;
* toe-off is the peak of the largest push-off lobe between the contact (plus
  ``max(to_min, to_contact_fraction x contact time)``) and the next swing: the fastest
  backward rotation (Falbriard et al. 2018); the first push-off after standing is a
  toe-off without a contact before it.

*Accelerometer only*: a peak of the impact envelope above an adaptive threshold, outside a
refractory period of part of a stride, confirmed after a short look-ahead (longer for the
first contacts of a stretch); the contact is the onset of its rising edge.

Impact (both): the peak within a window after contact, the resultant or along the tibia
(gravity while still) for a shin; loading rate = rise over its duration.  Strike angle
(shoe, gyroscope): minus the sagittal rotation from contact to mid-stance (foot flat).

Across a gap the stretch restarts (filters, windows, strides), while what is known of the
person (axis, polarity, levels, estimates) is kept: a gap costs a stride, not a re-learn.
"""

from __future__ import annotations

import math

from numba import njit

from sensorhub.dsp._layout import EV_IC, EV_IMPACT, EV_TO, N_COLS, new_params, new_state

__all__ = ["EV_IC", "EV_IMPACT", "EV_TO", "N_COLS", "new_params", "new_state", "process"]


# ----------------------------------------------------------------------------- helpers
@njit(cache=True)
def _emit(out, n, kind, a, b, c, d, e, f, g):  # type: ignore[no-untyped-def]
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
def _median(hist, count, scratch):  # type: ignore[no-untyped-def]
    """Median of the first ``count`` values of ``hist`` (insertion sort in ``scratch``)."""
    for k in range(count):
        v = hist[k]
        m = k
        while m > 0 and scratch[m - 1] > v:
            scratch[m] = scratch[m - 1]
            m -= 1
        scratch[m] = v
    if count % 2:
        return scratch[count // 2]
    return 0.5 * (scratch[count // 2 - 1] + scratch[count // 2])


@njit(cache=True)
def _rate(s, ring_gyr, k):  # type: ignore[no-untyped-def]
    """Sagittal rate of ring sample ``k`` (deg/s, the axis as it is now)."""
    a = s.axis
    v: float = ring_gyr[k, 0] * a[0] + ring_gyr[k, 1] * a[1] + ring_gyr[k, 2] * a[2]
    return v


@njit(cache=True)
def _reset_stretch(s, index):  # type: ignore[no-untyped-def]
    """Forget what needs an unbroken stream; keep what is known of the person."""
    s.primed = 0
    s.stretch_from = index
    s.impact_pending = 0
    s.lobe_sign = 0
    s.lobe_peak_dps = 0.0
    s.lobe_area_deg = 0.0
    s.lobe_late_peak_dps = 0.0
    s.lobe_late_i = -1
    s.last_same_i = index
    s.last_strong_i = index
    s.stance_quiet_run_n = 0
    s.after_quiet = 0
    s.win_open = 0
    s.win_emitted = 0
    s.cand_i = -1
    s.prev_ic = -1.0
    s.last_ic = -1.0
    s.to_from_i = -1.0
    s.to_free = 0
    s.to_best_dps = 0.0
    s.to_best_i = -1
    s.acc_cand_i = -1
    s.contacts_in_stretch = 0
    s.close_end_i = -1


@njit(cache=True)
def _add_stride(s, stride):  # type: ignore[no-untyped-def]
    """Keep plausible strides and set the estimate to their median.

    An interval far from the estimate (a missed or an extra contact) does not enter, so one
    mistake cannot change the refractory period and breed more; it only nudges the estimate
    8 % its way, so a real change of pace is followed within a few strides.
    """
    est = s.stride_n
    if est > 0 and not 0.75 * est <= stride <= 1.5 * est:
        nudged = est * 1.08 if stride > est else est / 1.08
        s.strides_n[0] = nudged
        s.strides_count = 1
        s.strides_pos = 1
        s.stride_n = nudged
        return
    s.strides_n[s.strides_pos] = stride
    s.strides_pos = (s.strides_pos + 1) % s.strides_n.shape[0]
    if s.strides_count < s.strides_n.shape[0]:
        s.strides_count += 1
    s.stride_n = _median(s.strides_n, s.strides_count, s.scratch)


# ---------------------------------------------------------------------- impact, toe-off
@njit(cache=True)
def _finish_impact(q, s, ring_acc, mask, out, n):  # type: ignore[no-untyped-def]
    ic = s.impact_ic
    end = int(s.impact_end)
    start = max(int(math.floor(ic)), s.stretch_from)
    axial = q.axial_impact > 0 and s.gravity_n > 0.5 * q.fs_hz
    ux = uy = uz = 0.0
    if axial:
        g = s.gravity
        gn = math.sqrt(g[0] ** 2 + g[1] ** 2 + g[2] ** 2)
        ux, uy, uz = g[0] / gn, g[1] / gn, g[2] / gn
    best = -1e300
    best_k = start
    first = 0.0
    clipped = 0.0
    clip = q.acc_clip_g
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
    rise_s = (best_k - ic) / q.fs_hz
    rate = (best - first) / rise_s if rise_s > 0 else 0.0
    s.impact_pending = 0
    return _emit(
        out, n, EV_IMPACT, float(best_k), ic, best, rate, clipped, 1.0 if axial else 0.0, 0.0
    )


@njit(cache=True)
def _strike_angle(q, s, ring_gyr, mask, ic, to_i):  # type: ignore[no-untyped-def]
    """Minus the sagittal rotation (toes up +) from contact to mid-stance, the quietest
    instant of stance (foot flat); (angle deg, mid-stance index), nan/-1 when unknown."""
    k0 = int(math.floor(ic))
    if k0 < s.stretch_from or k0 + 1 >= to_i:
        return math.nan, -1.0
    best = 1e300
    ms = -1
    for k in range(k0 + q.midstance_skip_n, to_i):
        j = k & mask
        m = ring_gyr[j, 0] ** 2 + ring_gyr[j, 1] ** 2 + ring_gyr[j, 2] ** 2
        if m < best:
            best = m
            ms = k
    if ms < 0:
        return math.nan, -1.0
    pol = float(s.polarity)
    frac = ic - k0
    r0 = pol * _rate(s, ring_gyr, k0 & mask)
    r1 = pol * _rate(s, ring_gyr, (k0 + 1) & mask)
    total = 0.5 * (r0 + frac * (r1 - r0) + r1) * (1.0 - frac)
    for k in range(k0 + 1, ms):
        total += 0.5 * pol * (_rate(s, ring_gyr, k & mask) + _rate(s, ring_gyr, (k + 1) & mask))
    return -total / q.fs_hz, float(ms)


@njit(cache=True)
def _clear_to(s):  # type: ignore[no-untyped-def]
    s.last_ic = -1.0
    s.to_from_i = -1.0
    s.to_free = 0
    s.to_best_dps = 0.0
    s.to_best_i = -1


@njit(cache=True)
def _finish_to(q, s, ring_gyr, mask, out, n):  # type: ignore[no-untyped-def]
    """The toe-off of the pending contact (or of a start from standing), if one was seen."""
    bi = s.to_best_i
    if (s.last_ic < 0 and s.to_free == 0) or bi < 0 or s.to_best_dps < q.lobe_floor_dps:
        _clear_to(s)
        return n
    # parabolic refinement of the push-off peak
    to = float(bi)
    if bi - 1 >= s.stretch_from and bi + 1 < s.next_index:
        pol = float(s.polarity)
        y0 = -pol * _rate(s, ring_gyr, (bi - 1) & mask)
        y1 = -pol * _rate(s, ring_gyr, bi & mask)
        y2 = -pol * _rate(s, ring_gyr, (bi + 1) & mask)
        den = y0 - 2.0 * y1 + y2
        if den < 0:
            off = 0.5 * (y0 - y2) / den
            if -0.5 <= off <= 0.5:
                to = bi + off
    ic = s.last_ic
    angle = math.nan
    ms = -1.0
    if ic >= 0:
        contact = to - ic
        if s.contact_n <= 0:
            s.contact_n = contact
        else:
            s.contact_n += q.estimate_alpha * (contact - s.contact_n)
        if q.axial_impact == 0:
            angle, ms = _strike_angle(q, s, ring_gyr, mask, ic, bi)
    n = _emit(out, n, EV_TO, to, ic if ic >= 0 else math.nan, angle, ms, s.to_best_dps, 0.0, 0.0)
    _clear_to(s)
    return n


# ----------------------------------------------------------------- initial contact
@njit(cache=True)
def _onset(q, ring_e, mask, ip, pv, lim):  # type: ignore[no-untyped-def]
    """The contact of an impact-envelope peak ``pv`` at ``ip``: the earliest sample from
    ``lim`` reaching onset_fraction x the peak (the envelope of a ringing transient dips
    between lobes, so do not stop at a dip), interpolated between samples."""
    level = q.onset_fraction * pv
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
    return ic


@njit(cache=True)
def _emit_ic(q, s, ring_e, mask, ip, pv, out, n):  # type: ignore[no-untyped-def]
    """Emit the contact whose impact-envelope peak is at ``ip`` (``pv`` g), or, with
    ``ip < 0``, the swing end plus the usual offset (no impact found)."""
    if ip >= 0:
        lim = max(s.stretch_from, s.win_from - q.onset_max_n, ip - q.onset_max_n)
        ic = _onset(q, ring_e, mask, ip, pv, lim)
        s.offsets_n_hist[s.offsets_pos] = ic - s.win_zc
        s.offsets_pos = (s.offsets_pos + 1) % s.offsets_n_hist.shape[0]
        if s.offsets_n < s.offsets_n_hist.shape[0]:
            s.offsets_n += 1
        peak = float(ip)
    else:
        off = _median(s.offsets_n_hist, s.offsets_n, s.scratch) if s.offsets_n > 0 else 0.0
        ic = max(s.win_zc + off, float(s.stretch_from))
        peak = ic
        pv = 0.0
    return _contact(q, s, ic, peak, pv, out, n)


@njit(cache=True)
def _contact(q, s, ic, peak, pv, out, n):  # type: ignore[no-untyped-def]
    """Book-keeping shared by both paths once a contact is decided (the caller has finished
    any pending impact), and its event."""
    stride = -1.0
    if s.prev_ic >= s.stretch_from and 0 < ic - s.prev_ic <= q.stride_max_n:
        stride = ic - s.prev_ic
        _add_stride(s, stride)
    s.prev_ic = ic
    s.contacts_in_stretch += 1
    n = _emit(out, n, EV_IC, ic, peak, pv, stride, 0.0, 0.0, 0.0)
    s.impact_pending = 1
    s.impact_ic = ic
    s.impact_end = math.floor(ic) + q.impact_window_n
    return n


@njit(cache=True)
def _ic_search(q, s, ring_acc, ring_e, mask, i, e, scan, out, n):  # type: ignore[no-untyped-def]
    """One sample of the open contact window (``scan``: a sample from before it opened)."""
    if s.win_open == 0:
        return n
    if e > s.win_max_g:
        s.win_max_g = e
    if s.ic_level_g == 0 or s.win_closing > 0:
        # the first window of a sensor, or a closing step (a softer landing than the
        # walk's): its largest peak, taken when the window closes
        if s.cand_i < 0 or e > s.cand_g:
            s.cand_i = i
            s.cand_g = e
    else:
        # the first peak reaching ic_rel x this person's level, confirmed after lookahead
        if e > max(q.ic_floor_g, q.ic_rel * s.ic_level_g) and (
            s.cand_i < 0 or (e > s.cand_g and i - s.cand_i < q.lookahead_n)
        ):
            s.cand_i = i
            s.cand_g = e
        if s.win_emitted == 0 and s.cand_i >= 0 and i - s.cand_i >= q.lookahead_n:
            n = _decide_ic(q, s, ring_acc, ring_e, mask, s.cand_i, s.cand_g, out, n)
    if not scan and i >= s.win_end:
        if s.win_closing == 0:
            s.levels_g[s.levels_pos] = s.win_max_g
            s.levels_pos = (s.levels_pos + 1) % s.levels_g.shape[0]
            if s.levels_n < s.levels_g.shape[0]:
                s.levels_n += 1
            s.ic_level_g = _median(s.levels_g, s.levels_n, s.scratch)
        if s.win_emitted == 0:
            n = _decide_ic(q, s, ring_acc, ring_e, mask, s.cand_i, s.cand_g, out, n)
        s.win_open = 0
        s.win_emitted = 0
    return n


@njit(cache=True)
def _decide_ic(q, s, ring_acc, ring_e, mask, ip, pv, out, n):  # type: ignore[no-untyped-def]
    if s.impact_pending > 0:
        n = _finish_impact(q, s, ring_acc, mask, out, n)
    n = _emit_ic(q, s, ring_e, mask, ip, pv, out, n)
    s.last_ic = s.prev_ic
    # a toe-off comes some time after its contact (the landing's own rotation is earlier)
    contact = s.contact_n if s.contact_n > 0 else q.contact_init_n
    s.to_from_i = s.last_ic + max(q.to_min_n, q.to_contact_fraction * contact)
    s.to_best_dps = 0.0
    s.to_best_i = -1
    s.to_free = 0
    s.win_emitted = 1
    return n


# --------------------------------------------------------------------- sagittal lobes
@njit(cache=True)
def _refractory(q, s, i):  # type: ignore[no-untyped-def]
    """Whether a swing ending at sample ``i`` is too soon after the last contact for
    another one."""
    refractory = q.refractory_min_n
    if s.stride_n > 0:
        refractory = max(refractory, q.refractory_stride_fraction * s.stride_n)
    return s.prev_ic >= 0 and i - s.prev_ic < refractory


@njit(cache=True)
def _swing_end(q, s, i):  # type: ignore[no-untyped-def]
    """Where the lobe ending at ``i`` crossed zero, or, when it ended because the foot
    stopped (the rate hovers about zero, with no sign change), where it fell below the
    hysteresis."""
    zc: int = s.last_same_i + 1
    if s.stance_quiet_run_n >= q.close_still_n:
        zc = min(zc, s.last_strong_i + 1)
    return zc


@njit(cache=True)
def _to_candidate(q, s):  # type: ignore[no-untyped-def]
    """A push-off lobe ended: the toe-off is the largest one after the contact."""
    if s.last_ic >= 0 and s.lobe_peak_i - s.last_ic > q.stride_max_n:
        s.last_ic = -1.0  # stood still since: a start, not the toe-off of that contact
        s.to_from_i = -1.0
        s.to_free = 1
    if (s.last_ic >= 0 or s.to_free > 0) and s.lobe_late_peak_dps > s.to_best_dps:
        s.to_best_dps = s.lobe_late_peak_dps
        s.to_best_i = s.lobe_late_i


@njit(cache=True)
def _lobe_end(q, s, ring_acc, ring_gyr, ring_e, mask, i, out, n):  # type: ignore[no-untyped-def]
    """A lobe of sign ``s.lobe_sign`` ended at sample ``i``: polarity evidence, toe-off
    candidate, and, for a swing lobe, the contact window."""
    sign = s.lobe_sign
    side = 0 if sign > 0 else 1
    pk = s.lobe_peak_dps
    level = _decay_levels(q, s, i)
    if pk < max(q.lobe_floor_dps, q.lobe_rel * level) or s.lobe_area_deg < max(
        q.lobe_area_floor_deg, q.lobe_area_rel * s.area_level_deg[side]
    ):
        # too small for a stride, but the last step of a walk is small: remember it until
        # the foot is still (then it was a step) or a full lobe comes (then it was not)
        if (
            s.polarity != 0
            and pk >= q.close_floor_dps
            and s.lobe_area_deg >= q.close_area_floor_deg
        ):
            zc = _swing_end(q, s, i)
            walking = s.prev_ic >= 0 and i - s.prev_ic <= q.stride_max_n
            if sign == s.polarity and walking and s.win_open == 0 and not _refractory(q, s, zc):
                s.close_zc_i = zc
                s.close_end_i = i
                s.close_quiet = 0
        return n
    s.close_end_i = -1
    s.peak_level_dps[side] = max(s.peak_level_dps[side], pk)
    s.area_level_deg[side] = max(s.area_level_deg[side], s.lobe_area_deg)
    _set_thresholds(q, s, max(s.peak_level_dps[0], s.peak_level_dps[1]))
    # which polarity is the swing: the first lobe after a still stance is the push-off;
    # until that has been seen, at the shin the swing lobes are the larger ones
    if s.after_quiet > 0:
        s.vote = q.vote_decay * s.vote - sign
        s.after_quiet = 0
    if abs(s.vote) >= q.vote_decide:
        s.polarity = 1 if s.vote > 0 else -1
    elif q.shoe == 0:
        s.polarity = 1 if s.peak_level_dps[0] >= s.peak_level_dps[1] else -1
    if s.polarity == 0:
        return n
    if sign == -s.polarity:
        _to_candidate(q, s)
        return n
    # a swing lobe ended: open the contact window around its zero crossing
    zc = _swing_end(q, s, i)
    if s.win_open > 0 or _refractory(q, s, zc):
        return n
    return _open_window(q, s, ring_acc, ring_gyr, ring_e, mask, zc, i, 0, out, n)


@njit(cache=True)
def _open_window(q, s, ring_acc, ring_gyr, ring_e, mask, zc, i, closing, out, n):  # type: ignore[no-untyped-def]
    """Open the contact window around the swing end ``zc`` and search its samples before
    ``i``, the end of the lobe (a window that closed before the lobe ended takes them
    all); ``closing``: the closing step of a walk, whose window is decided here."""
    n = _finish_to(q, s, ring_gyr, mask, out, n)
    s.win_open = 1
    s.win_closing = closing
    s.win_emitted = 0
    s.win_zc = float(zc)
    s.win_max_g = 0.0
    s.win_from = max(s.stretch_from, zc - q.ic_pre_n)
    s.win_end = float(zc + q.ic_post_n)
    s.cand_i = -1
    for k in range(s.win_from, i):
        scan = closing == 0 or k < s.win_end
        n = _ic_search(q, s, ring_acc, ring_e, mask, k, ring_e[k & mask], scan, out, n)
        if s.win_open == 0:
            break
    return n


@njit(cache=True)
def _new_lobe(s):  # type: ignore[no-untyped-def]
    s.lobe_peak_dps = 0.0
    s.lobe_area_deg = 0.0
    s.lobe_late_peak_dps = 0.0
    s.lobe_late_i = -1


@njit(cache=True)
def _set_thresholds(q, s, level):  # type: ignore[no-untyped-def]
    """Hysteresis and stance-quiet thresholds for the next lobe, from the lobe level."""
    s.hysteresis_dps = max(q.hysteresis_floor_dps, q.hysteresis_rel * level)
    quiet = max(q.stance_quiet_floor_dps, q.stance_quiet_rel * level)
    s.stance_quiet2_dps2 = quiet * quiet


@njit(cache=True)
def _decay_levels(q, s, i):  # type: ignore[no-untyped-def]
    """Decay the lobe levels (time constant level_tau_s) to sample ``i``; the larger one."""
    f = q.level_decay ** float(i - s.levels_at)
    s.levels_at = i
    s.peak_level_dps[0] *= f
    s.peak_level_dps[1] *= f
    s.area_level_deg[0] *= f
    s.area_level_deg[1] *= f
    level: float = max(s.peak_level_dps[0], s.peak_level_dps[1])
    _set_thresholds(q, s, level)
    return level


@njit(cache=True)
def _gyro_step(q, s, ring_acc, ring_gyr, ring_e, mask, i, r, gmag2, e, out, n):  # type: ignore[no-untyped-def]
    """One sample of the gyroscope path: sagittal rate ``r``, squared gyro magnitude.

    The levels and the thresholds drawn from them change at lobe ends only."""
    # a still stance (foot flat): the next large lobe is a push-off
    if gmag2 < s.stance_quiet2_dps2:
        s.stance_quiet_run_n += 1
        if s.stance_quiet_run_n >= q.stance_quiet_n:
            s.after_quiet = 1
            if s.last_ic < 0:
                s.to_free = 1
            if s.close_end_i >= 0:
                s.close_quiet = 1
        if s.stance_quiet_run_n == q.close_still_n and s.lobe_peak_dps > 0:
            # the foot has stopped: the lobe is over (the last one of a walk has no sign
            # change); it came before this stillness, so it is no push-off vote
            s.after_quiet = 0
            n = _lobe_end(q, s, ring_acc, ring_gyr, ring_e, mask, i, out, n)
            _new_lobe(s)
            s.after_quiet = 1
    else:
        s.stance_quiet_run_n = 0
    if s.close_end_i >= 0:
        # a small swing lobe, then the foot was still and no stride followed within
        # close_still: the closing step of a walk
        stopped = s.stance_quiet_run_n >= q.close_still_n
        if stopped or i - s.close_end_i >= q.close_still_n:
            if (stopped or s.close_quiet > 0) and s.win_open == 0:
                n = _open_window(q, s, ring_acc, ring_gyr, ring_e, mask, s.close_zc_i, i, 1, out, n)
            s.close_end_i = -1
    sign = s.lobe_sign
    if sign == 0:
        sign = 1 if r >= 0 else -1
    elif sign * r < -s.hysteresis_dps:
        sign = -sign
    if r * s.lobe_sign > 0:
        s.last_same_i = i
        if r * s.lobe_sign > s.hysteresis_dps:
            s.last_strong_i = i
    if s.win_open > 0:
        n = _ic_search(q, s, ring_acc, ring_e, mask, i, e, False, out, n)
    if s.lobe_sign == 0:
        s.lobe_sign = sign
    if sign != s.lobe_sign:
        n = _lobe_end(q, s, ring_acc, ring_gyr, ring_e, mask, i, out, n)
        s.lobe_sign = sign
        _new_lobe(s)
    ar = abs(r)
    if r * s.lobe_sign > 0:
        s.lobe_area_deg += ar * q.dt_s
        if ar > s.lobe_late_peak_dps and i >= s.to_from_i:
            s.lobe_late_peak_dps = ar
            s.lobe_late_i = i
    if ar > s.lobe_peak_dps:
        s.lobe_peak_dps = ar
        s.lobe_peak_i = i
    return n


@njit(cache=True)
def _acc_step(q, s, ring_acc, ring_e, mask, i, e, out, n):  # type: ignore[no-untyped-def]
    """One sample of the accelerometer-only path."""
    s.acc_level_g *= q.acc_level_decay
    thr = max(q.acc_threshold_g, q.acc_threshold_rel * s.acc_level_g)
    if i >= s.refractory_until and e > thr and (s.acc_cand_i < 0 or e > s.acc_cand_g):
        s.acc_cand_i = i
        s.acc_cand_g = e
    # until the impact level is known a smaller transient could pass for a contact: the
    # first contacts of a stretch wait longer for a larger peak
    wait = (
        q.lookahead_n if s.contacts_in_stretch >= q.acc_start_contacts else q.acc_start_lookahead_n
    )
    if s.acc_cand_i < 0 or i - s.acc_cand_i < wait:
        return n
    ip = s.acc_cand_i
    pv = s.acc_cand_g
    s.acc_cand_i = -1
    ic = _onset(q, ring_e, mask, ip, pv, max(s.stretch_from, ip - q.onset_max_n))
    if s.impact_pending > 0:
        n = _finish_impact(q, s, ring_acc, mask, out, n)
    n = _contact(q, s, ic, float(ip), pv, out, n)
    s.acc_level_g = max(s.acc_level_g, pv)
    s.refractory_until = ip + max(q.refractory_min_n, q.refractory_stride_fraction * s.stride_n)
    return n


# -------------------------------------------------------------------------- the kernel
@njit(cache=True)
def _update_axis(s):  # type: ignore[no-untyped-def]
    """Power iteration towards the principal axis of the rotation covariance; starting
    from the current axis keeps its sign from one update to the next."""
    c = s.cov
    a = s.axis
    vx, vy, vz = a[0], a[1], a[2]
    for _ in range(4):
        nx = c[0] * vx + c[1] * vy + c[2] * vz
        ny = c[1] * vx + c[3] * vy + c[4] * vz
        nz = c[2] * vx + c[4] * vy + c[5] * vz
        norm = math.sqrt(nx * nx + ny * ny + nz * nz)
        if norm <= 0:
            return
        vx, vy, vz = nx / norm, ny / norm, nz / norm
    a[0], a[1], a[2] = vx, vy, vz


@njit(cache=True)
def process(raw, acc_scale, gyro_scale, first_index, p, st, ring_acc, ring_gyr, ring_e, out):  # type: ignore[no-untyped-def]
    """Run the detectors over ``raw`` (int16 ``(n, 6)`` or ``(n, 3)``).

    ``p`` and ``st`` are one-element arrays of ``_layout.PARAMS`` and ``_layout.STATE``.
    ``first_index`` is the absolute index of ``raw[0]``; a jump from the last call's end is
    a gap and restarts the stretch.  Returns ``(events written to out, samples consumed)``:
    it stops early when ``out`` is nearly full, and the caller passes the rest again.
    """
    q = p[0]
    s = st[0]
    n_out = 0
    cap = out.shape[0] - 6
    mask = ring_e.shape[0] - 1
    has_gyro = q.has_gyro > 0 and raw.shape[1] >= 6
    if first_index != s.next_index:
        _reset_stretch(s, first_index)
    if s.hysteresis_dps < 0:  # a new detector: thresholds from the floors
        _set_thresholds(q, s, 0.0)
    b0, b1, b2, a1, a2 = q.hp[0], q.hp[1], q.hp[2], q.hp[3], q.hp[4]
    every = q.axis_every_n
    cov_alpha = q.axis_cov_alpha
    still2 = q.still_dps * q.still_dps
    hp = s.hp
    cov = s.cov  # array fields of the state, fetched once (a view per access costs)
    axis = s.axis
    gravity = s.gravity
    # the high-pass filter state lives in locals inside the loop (the hot path)
    hx1, hx2, hy1, hy2 = hp[0], hp[1], hp[2], hp[3]
    ix1, ix2, iy1, iy2 = hp[4], hp[5], hp[6], hp[7]
    zx1, zx2, zy1, zy2 = hp[8], hp[9], hp[10], hp[11]
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
        if s.primed == 0:
            # prime the filter as if this sample had always been there: no transient
            hx1 = hx2 = ax
            ix1 = ix2 = ay
            zx1 = zx2 = az
            hy1 = hy2 = iy1 = iy2 = zy1 = zy2 = 0.0
            s.primed = 1
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
        s.next_index = i + 1
        gmag2 = gx * gx + gy * gy + gz * gz
        # stillness (|a| within 5 % of 1 g, no impact, hardly turning) shows gravity, once
        # sustained (a moving limb passes through 1 g too)
        amag2 = ax * ax + ay * ay + az * az
        if 0.9025 < amag2 < 1.1025 and e < 0.05 and gmag2 < still2:
            s.still_n += 1
        else:
            s.still_n = 0
        if s.still_n >= q.still_min_n:
            gravity[0] += q.gravity_alpha * (ax - gravity[0])
            gravity[1] += q.gravity_alpha * (ay - gravity[1])
            gravity[2] += q.gravity_alpha * (az - gravity[2])
            s.gravity_n += 1.0
        if s.impact_pending > 0 and i >= s.impact_end:
            n_out = _finish_impact(q, s, ring_acc, mask, out, n_out)
        if has_gyro:
            if i % every == 0:
                _update_axis(s)
            cov[0] += cov_alpha * (gx * gx - cov[0])
            cov[1] += cov_alpha * (gx * gy - cov[1])
            cov[2] += cov_alpha * (gx * gz - cov[2])
            cov[3] += cov_alpha * (gy * gy - cov[3])
            cov[4] += cov_alpha * (gy * gz - cov[4])
            cov[5] += cov_alpha * (gz * gz - cov[5])
            r = gx * axis[0] + gy * axis[1] + gz * axis[2]
            n_out = _gyro_step(q, s, ring_acc, ring_gyr, ring_e, mask, i, r, gmag2, e, out, n_out)
        else:
            n_out = _acc_step(q, s, ring_acc, ring_e, mask, i, e, out, n_out)
    else:
        jj = n
    hp[0], hp[1], hp[2], hp[3] = hx1, hx2, hy1, hy2
    hp[4], hp[5], hp[6], hp[7] = ix1, ix2, iy1, iy2
    hp[8], hp[9], hp[10], hp[11] = zx1, zx2, zy1, zy2
    return n_out, jj
