"""Slow, obvious reference for ``sensorhub.dsp._kernels.process``.

Written from the description in docs/signal-core.md, not from the kernel: the signal is
first put in physical units, cut into stretches and high-pass filtered over whole arrays;
then the stride logic runs sample by sample with named variables, Python lists for the
histories (``statistics.median``) and small dataclasses for the rotation lobes and the
contact window.  The tests require the kernel to give the same events.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sensorhub.dsp import _layout as L


@dataclass
class Lobe:
    """An excursion of the sagittal rate on one side of zero."""

    sign: int = 0
    peak: float = 0.0
    peak_at: int = 0
    area_deg: float = 0.0
    late_peak: float = 0.0  # the peak once a toe-off can be
    late_at: int = -1


@dataclass
class Window:
    """The initial-contact window around the end of a swing lobe."""

    zc: int
    start: int
    end: int
    largest: float = 0.0
    cand_at: int = -1
    cand: float = 0.0
    decided: bool = False
    closing: bool = False  # the closing step of a walk: its largest peak, no level update


@dataclass
class Person:
    """What is known of the wearer and the sensor; kept across gaps."""

    axis: list[float] = field(default_factory=lambda: [1.0, 0.0, 0.0])
    cov: list[float] = field(default_factory=lambda: [0.0] * 6)
    peak_level: dict[int, float] = field(default_factory=lambda: {1: 0.0, -1: 0.0})
    area_level: dict[int, float] = field(default_factory=lambda: {1: 0.0, -1: 0.0})
    vote: float = 0.0
    polarity: int = 0
    window_maxima: list[float] = field(default_factory=list)
    offsets: list[float] = field(default_factory=list)  # acc contact - swing end
    strides: list[float] = field(default_factory=list)
    stride: float = 0.0
    contact: float = 0.0
    gravity: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    gravity_n: float = 0.0
    acc_level: float = 0.0
    refractory_until: float = 0.0
    levels_at: int = 0  # the lobe levels decay, applied at each lobe end
    hysteresis: float = -1.0  # thresholds from the lobe levels at the last lobe end
    quiet2: float = 0.0

    @property
    def ic_level(self) -> float:
        return statistics.median(self.window_maxima) if self.window_maxima else 0.0


def _envelope(acc: np.ndarray, starts: set[int], hp: Any) -> list[float]:
    """|high-passed acceleration|, the filter primed afresh at every stretch start."""
    b0, b1, b2, a1, a2 = (float(v) for v in hp)
    out = np.zeros_like(acc)
    for c in range(3):
        x1 = x2 = y1 = y2 = 0.0
        for k in range(len(acc)):
            x = acc[k, c]
            if k in starts:
                x1 = x2 = x
                y1 = y2 = 0.0
            y = b0 * x + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2
            x2, x1 = x1, x
            y2, y1 = y1, y
            out[k, c] = y
    return [math.sqrt(out[k, 0] ** 2 + out[k, 1] ** 2 + out[k, 2] ** 2) for k in range(len(acc))]


def _principal_axis(cov: list[float], start: list[float]) -> list[float]:
    c = cov
    v = list(start)
    for _ in range(4):
        n = [
            c[0] * v[0] + c[1] * v[1] + c[2] * v[2],
            c[1] * v[0] + c[3] * v[1] + c[4] * v[2],
            c[2] * v[0] + c[4] * v[1] + c[5] * v[2],
        ]
        norm = math.sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2])
        if norm <= 0:
            return start
        v = [x / norm for x in n]
    return v


def detect(
    blocks: list[tuple[int, np.ndarray]], acc_scale: float, gyro_scale: float, params: np.ndarray
) -> list[tuple[float, ...]]:
    """Events ``(kind, a, b, c, d, e, f, g)`` for consecutive blocks ``(first_index, raw)``."""
    q = params[0]
    idx = np.concatenate([np.arange(f, f + len(r)) for f, r in blocks])
    raw = np.concatenate([r for _, r in blocks]).astype(float)
    acc = raw[:, :3] * acc_scale
    has_gyro = q["has_gyro"] > 0 and raw.shape[1] >= 6
    gyr = raw[:, 3:6] * gyro_scale if has_gyro else np.zeros_like(acc)
    starts = {0} | {k for k in range(1, len(idx)) if idx[k] != idx[k - 1] + 1}
    env = _envelope(acc, starts, q["hp"])
    row = {int(i): k for k, i in enumerate(idx)}  # absolute index -> row
    fs = float(q["fs_hz"])

    me = Person()
    events: list[tuple[float, ...]] = []

    def emit(*values: float) -> None:
        events.append(tuple(float(v) for v in values) + (0.0,) * (L.N_COLS - len(values)))

    def e_at(i: int) -> float:
        return float(env[row[i]])

    def rate_at(i: int) -> float:
        g = gyr[row[i]]
        a = me.axis
        return float(g[0] * a[0] + g[1] * a[1] + g[2] * a[2])

    # per stretch (reset at every gap)
    stretch_from = 0
    still_run = 0
    impact: tuple[float, float] | None = None  # (contact, window end)
    lobe = Lobe()
    last_same = 0  # last sample of the lobe on its side of zero
    last_strong = 0  # ... and beyond the hysteresis
    closing: tuple[int, int] | None = None  # (swing end, lobe end) of a small swing lobe
    closing_still = False  # the foot has been still since that lobe
    quiet_run = 0
    after_quiet = False
    window: Window | None = None
    prev_ic = -1.0
    last_ic = -1.0
    to_free = False
    to_best = (0.0, -1)  # (rate, index)
    to_from = -1.0  # a toe-off can be from this sample (a while after the contact)
    acc_cand: tuple[int, float] | None = None
    contacts = 0

    def finish_impact() -> None:
        nonlocal impact
        assert impact is not None
        ic, end = impact
        first = max(math.floor(ic), stretch_from)
        axial = q["axial_impact"] > 0 and me.gravity_n > 0.5 * fs
        if axial:
            norm = math.sqrt(sum(g * g for g in me.gravity))
            u = [g / norm for g in me.gravity]
        values = []
        clipped = False
        for i in range(first, int(end) + 1):
            a = acc[row[i]]
            v = (a[0] * u[0] + a[1] * u[1] + a[2] * u[2]) if axial else math.sqrt(a @ a)
            values.append((v, i))
            clipped |= bool(np.any(np.abs(a) >= q["acc_clip_g"]))
        best, best_i = max(values, key=lambda x: (x[0], -x[1]))
        rise = (best_i - ic) / fs
        rate = (best - values[0][0]) / rise if rise > 0 else 0.0
        impact = None
        emit(L.EV_IMPACT, best_i, ic, best, rate, float(clipped), float(axial))

    def add_stride(stride: float) -> None:
        est = me.stride
        if est > 0 and not 0.75 * est <= stride <= 1.5 * est:
            me.stride = est * 1.08 if stride > est else est / 1.08
            me.strides = [me.stride]
            return
        me.strides = ([*me.strides, stride])[-L.N_STRIDES :]
        me.stride = statistics.median(me.strides)

    def contact(ic: float, peak: float, size: float) -> None:
        nonlocal prev_ic, contacts, impact
        stride = -1.0
        if prev_ic >= stretch_from and 0 < ic - prev_ic <= q["stride_max_n"]:
            stride = ic - prev_ic
            add_stride(stride)
        prev_ic = ic
        contacts += 1
        emit(L.EV_IC, ic, peak, size, stride)
        impact = (ic, math.floor(ic) + q["impact_window_n"])

    def onset(peak_at: int, size: float, limit: int) -> float:
        """Where the envelope first reaches onset_fraction x the peak (interpolated)."""
        level = float(q["onset_fraction"]) * size
        k = next((kk for kk in range(limit, peak_at) if e_at(kk) >= level), peak_at)
        if k > limit and e_at(k) > e_at(k - 1):
            return k - 1 + (level - e_at(k - 1)) / (e_at(k) - e_at(k - 1))
        return float(k)

    def decide(w: Window, peak_at: int, size: float) -> None:
        nonlocal last_ic, to_best, to_free, to_from
        if impact is not None:
            finish_impact()
        if peak_at >= 0:
            limit = max(stretch_from, w.start - q["onset_max_n"], peak_at - q["onset_max_n"])
            ic = onset(peak_at, size, limit)
            me.offsets = ([*me.offsets, ic - w.zc])[-L.N_OFFSETS :]
            contact(ic, float(peak_at), size)
        else:  # no impact: the end of the swing plus the usual offset
            off = statistics.median(me.offsets) if me.offsets else 0.0
            ic = max(w.zc + off, float(stretch_from))
            contact(ic, ic, 0.0)
        last_ic = prev_ic
        c = me.contact if me.contact > 0 else q["contact_init_n"]
        to_from = last_ic + max(q["to_min_n"], q["to_contact_fraction"] * c)
        to_best = (0.0, -1)
        to_free = False
        w.decided = True

    def window_sample(i: int, e: float, opening: bool) -> None:
        nonlocal window
        w = window
        if w is None:
            return
        w.largest = max(w.largest, e)
        level = me.ic_level
        if level == 0 or w.closing:  # the largest peak of the window
            if w.cand_at < 0 or e > w.cand:
                w.cand_at, w.cand = i, e
        else:  # the first peak over the person's level, once confirmed
            if e > max(q["ic_floor_g"], q["ic_rel"] * level) and (
                w.cand_at < 0 or (e > w.cand and i - w.cand_at < q["lookahead_n"])
            ):
                w.cand_at, w.cand = i, e
            if not w.decided and w.cand_at >= 0 and i - w.cand_at >= q["lookahead_n"]:
                decide(w, w.cand_at, w.cand)
        if not opening and i >= w.end:
            if not w.closing:
                me.window_maxima = ([*me.window_maxima, w.largest])[-L.N_LEVELS :]
            if not w.decided:
                decide(w, w.cand_at, w.cand)
            window = None

    def toe_off() -> None:
        nonlocal last_ic, to_free, to_best, to_from
        best, bi = to_best
        if (last_ic < 0 and not to_free) or bi < 0 or best < q["lobe_floor_dps"]:
            last_ic, to_free, to_best, to_from = -1.0, False, (0.0, -1), -1.0
            return
        t = float(bi)
        if bi - 1 >= stretch_from and bi + 1 <= idx_now:
            y0, y1, y2 = (-me.polarity * rate_at(k) for k in (bi - 1, bi, bi + 1))
            den = y0 - 2.0 * y1 + y2
            if den < 0 and -0.5 <= 0.5 * (y0 - y2) / den <= 0.5:
                t = bi + 0.5 * (y0 - y2) / den
        angle, mid = math.nan, -1.0
        if last_ic >= 0:
            c = t - last_ic
            me.contact = (
                c if me.contact <= 0 else me.contact + q["estimate_alpha"] * (c - me.contact)
            )
            if q["axial_impact"] == 0:
                angle, mid = strike_angle(last_ic, bi)
        emit(L.EV_TO, t, last_ic if last_ic >= 0 else math.nan, angle, mid, best)
        last_ic, to_free, to_best, to_from = -1.0, False, (0.0, -1), -1.0

    def strike_angle(ic: float, to_i: int) -> tuple[float, float]:
        k0 = math.floor(ic)
        if k0 < stretch_from or k0 + 1 >= to_i:
            return math.nan, -1.0
        span = range(k0 + q["midstance_skip_n"], to_i)
        if not len(span):
            return math.nan, -1.0
        mid = min(span, key=lambda k: (float(gyr[row[k]] @ gyr[row[k]]), k))
        w = [me.polarity * rate_at(k) for k in range(k0, mid + 1)]
        frac = ic - k0
        total = 0.5 * (w[0] + frac * (w[1] - w[0]) + w[1]) * (1.0 - frac)
        for k in range(1, len(w) - 1):
            total += 0.5 * (w[k] + w[k + 1])
        return -total / fs, float(mid)

    def thresholds(level: float) -> None:
        me.hysteresis = max(q["hysteresis_floor_dps"], q["hysteresis_rel"] * level)
        quiet = max(q["stance_quiet_floor_dps"], q["stance_quiet_rel"] * level)
        me.quiet2 = quiet * quiet

    def refractory(i: int) -> bool:
        wait = float(q["refractory_min_n"])
        if me.stride > 0:
            wait = max(wait, q["refractory_stride_fraction"] * me.stride)
        return prev_ic >= 0 and i - prev_ic < wait

    def swing_end(i: int) -> int:
        """The zero crossing, or where the rate fell under the hysteresis if the lobe ended
        because the foot stopped (no sign change)."""
        zc = last_same + 1
        return min(zc, last_strong + 1) if quiet_run >= q["close_still_n"] else zc

    def open_window(zc: int, i: int, is_closing: bool) -> None:
        nonlocal window
        toe_off()
        window = Window(
            zc, max(stretch_from, zc - q["ic_pre_n"]), zc + q["ic_post_n"], closing=is_closing
        )
        end = window.end
        for k in range(window.start, i):
            window_sample(k, e_at(k), not is_closing or k < end)
            if window is None:
                break

    def lobe_ended(i: int) -> None:
        nonlocal after_quiet, last_ic, to_free, to_best, window, to_from, closing, closing_still
        s = lobe.sign
        f = float(q["level_decay"]) ** float(i - me.levels_at)
        me.levels_at = i
        me.peak_level = {k: v * f for k, v in me.peak_level.items()}
        me.area_level = {k: v * f for k, v in me.area_level.items()}
        level = max(me.peak_level.values())
        thresholds(level)
        if lobe.peak < max(q["lobe_floor_dps"], q["lobe_rel"] * level) or lobe.area_deg < max(
            q["lobe_area_floor_deg"], q["lobe_area_rel"] * me.area_level[s]
        ):
            # a small swing lobe while walking may be the last step: wait for stillness
            if (
                me.polarity != 0
                and s == me.polarity
                and lobe.peak >= q["close_floor_dps"]
                and lobe.area_deg >= q["close_area_floor_deg"]
                and prev_ic >= 0
                and i - prev_ic <= q["stride_max_n"]
                and window is None
                and not refractory(swing_end(i))
            ):
                closing = (swing_end(i), i)
                closing_still = False
            return
        closing = None
        me.peak_level[s] = max(me.peak_level[s], lobe.peak)
        me.area_level[s] = max(me.area_level[s], lobe.area_deg)
        thresholds(max(me.peak_level.values()))
        if after_quiet:  # the first large lobe after a still stance is the push-off
            me.vote = q["vote_decay"] * me.vote - s
            after_quiet = False
        if abs(me.vote) >= q["vote_decide"]:
            me.polarity = 1 if me.vote > 0 else -1
        elif q["shoe"] == 0:  # shin: the swing lobes are the larger ones
            me.polarity = 1 if me.peak_level[1] >= me.peak_level[-1] else -1
        if me.polarity == 0:
            return
        if s == -me.polarity:  # a push-off lobe: toe-off candidate
            if last_ic >= 0 and lobe.peak_at - last_ic > q["stride_max_n"]:
                last_ic, to_free, to_from = -1.0, True, -1.0
            if (last_ic >= 0 or to_free) and lobe.late_peak > to_best[0]:
                to_best = (lobe.late_peak, lobe.late_at)
            return
        if window is not None or refractory(swing_end(i)):
            return
        open_window(swing_end(i), i, False)

    idx_now = -1
    for k in range(len(idx)):
        i = int(idx[k])
        if k in starts:  # a new stretch: forget what needs an unbroken stream
            stretch_from = i
            impact = None
            lobe = Lobe()
            last_same = last_strong = i
            closing = None
            quiet_run = 0
            after_quiet = False
            window = None
            prev_ic = last_ic = to_from = -1.0
            to_free = False
            to_best = (0.0, -1)
            acc_cand = None
            contacts = 0
        idx_now = i
        a, g, e = acc[k], gyr[k], env[k]
        g2 = float(g @ g)
        if 0.9025 < float(a @ a) < 1.1025 and e < 0.05 and g2 < q["still_dps"] ** 2:
            still_run += 1
        else:
            still_run = 0
        if still_run >= q["still_min_n"]:
            me.gravity = [
                x + q["gravity_alpha"] * (float(ai) - x)
                for x, ai in zip(me.gravity, a, strict=False)
            ]
            me.gravity_n += 1.0
        if impact is not None and i >= impact[1]:
            finish_impact()
        if not has_gyro:
            me.acc_level *= q["acc_level_decay"]
            thr = max(q["acc_threshold_g"], q["acc_threshold_rel"] * me.acc_level)
            if i >= me.refractory_until and e > thr and (acc_cand is None or e > acc_cand[1]):
                acc_cand = (i, e)
            wait = (
                q["lookahead_n"]
                if contacts >= q["acc_start_contacts"]
                else q["acc_start_lookahead_n"]
            )
            if acc_cand is not None and i - acc_cand[0] >= wait:
                peak_at, size = acc_cand
                acc_cand = None
                ic = onset(peak_at, size, max(stretch_from, peak_at - q["onset_max_n"]))
                if impact is not None:
                    finish_impact()
                contact(ic, float(peak_at), size)
                me.acc_level = max(me.acc_level, size)
                me.refractory_until = peak_at + max(
                    q["refractory_min_n"], q["refractory_stride_fraction"] * me.stride
                )
            continue
        # --- the gyroscope path
        if i % q["axis_every_n"] == 0:
            me.axis = _principal_axis(me.cov, me.axis)
        al = q["axis_cov_alpha"]
        products = [g[0] * g[0], g[0] * g[1], g[0] * g[2], g[1] * g[1], g[1] * g[2], g[2] * g[2]]
        me.cov = [c + al * (float(x) - c) for c, x in zip(me.cov, products, strict=False)]
        r = rate_at(i)
        if me.hysteresis < 0:
            thresholds(0.0)
        if g2 < me.quiet2:
            quiet_run += 1
            if quiet_run >= q["stance_quiet_n"]:
                after_quiet = True
                if last_ic < 0:
                    to_free = True
                if closing is not None:
                    closing_still = True
            if quiet_run == q["close_still_n"] and lobe.peak > 0:  # stopped: the lobe is over
                after_quiet = False  # ... and it came before the stillness: no vote
                lobe_ended(i)
                lobe = Lobe(sign=lobe.sign)
                after_quiet = True
        else:
            quiet_run = 0
        if closing is not None:  # a small swing lobe, stillness, and no stride after it
            stopped = quiet_run >= q["close_still_n"]
            if stopped or i - closing[1] >= q["close_still_n"]:
                if (stopped or closing_still) and window is None:
                    open_window(closing[0], i, True)
                closing = None
        sign = lobe.sign or (1 if r >= 0 else -1)
        if lobe.sign and lobe.sign * r < -me.hysteresis:
            sign = -lobe.sign
        if r * lobe.sign > 0:
            last_same = i
            if r * lobe.sign > me.hysteresis:
                last_strong = i
        window_sample(i, e, False)
        if lobe.sign == 0:
            lobe.sign = sign
        if sign != lobe.sign:
            lobe_ended(i)
            lobe = Lobe(sign=sign)
        if r * lobe.sign > 0:
            lobe.area_deg += abs(r) * q["dt_s"]
            if abs(r) > lobe.late_peak and i >= to_from:  # a toe-off is after its contact
                lobe.late_peak, lobe.late_at = abs(r), i
        if abs(r) > lobe.peak:
            lobe.peak, lobe.peak_at = abs(r), i
    return events
