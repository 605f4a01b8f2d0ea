"""Slow, obvious reference for ``sensorhub.dsp._kernels.process``.

Plain Python over whole arrays: the signal is first turned into physical units and
filtered in one pass, then the decisions are taken sample by sample with named
variables and Python lists instead of a state vector and ring buffers.  It follows
docs/signal-core.md; the tests require the kernel to give the same events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sensorhub.dsp import _kernels as K


def _sq(v: np.ndarray) -> float:
    return float(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])


def _norm(v: np.ndarray) -> float:
    return math.sqrt(_sq(v))


@dataclass
class _State:
    valid_from: int = 0
    cand: bool = False
    cand_val: float = 0.0
    cand_idx: int = 0
    last_ic: float = -1.0
    refr_until: float = 0.0
    level: float = 0.0
    stride_hist: list[float] = field(default_factory=list)
    stride: float = 0.0
    imp_pending: bool = False
    imp_ic: float = 0.0
    imp_end: float = 0.0
    to_active: bool = False
    to_start: float = 0.0
    to_end: float = 0.0
    to_best: float = -1e300
    to_best_idx: int = -1
    to_ic: float = 0.0
    axis: list[float] = field(default_factory=lambda: [1.0, 0.0, 0.0])
    axis_ok: bool = False
    votes: float = 0.0
    cov: list[float] = field(default_factory=lambda: [0.0] * 6)
    grav: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    grav_n: float = 0.0
    quiet_n: int = 0
    contact: float = 0.0
    swing_peak: float = 0.0
    swing_active: bool = False
    swing_max: float = 0.0
    n_ic: int = 0
    post_at: float = -1.0
    post_ic: float = 0.0


def detect(
    blocks: list[tuple[int, np.ndarray]], acc_scale: float, gyro_scale: float, p: np.ndarray
) -> list[tuple[float, ...]]:
    """Events ``(kind, a, b, c, d, e, f, g)`` for consecutive blocks ``(first_index, raw)``."""
    # --- whole signal in physical units, with the absolute index of every sample
    idx = np.concatenate([np.arange(f, f + len(r)) for f, r in blocks])
    raw = np.concatenate([r for _, r in blocks]).astype(float)
    acc = raw[:, :3] * acc_scale
    has_gyro = p[K.P_HAS_GYRO] > 0 and raw.shape[1] >= 6
    gyr = raw[:, 3:6] * gyro_scale if has_gyro else np.zeros_like(acc)
    # stretches: a new one wherever the index jumps
    starts = {0} | {k for k in range(1, len(idx)) if idx[k] != idx[k - 1] + 1}

    # --- high-pass envelope, restarted (primed) at every stretch
    b0, b1, b2, a1, a2 = (p[K.P_B0], p[K.P_B1], p[K.P_B2], p[K.P_A1], p[K.P_A2])
    hp = np.zeros_like(acc)
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
            hp[k, c] = y
    env = [
        math.sqrt(hp[k, 0] * hp[k, 0] + hp[k, 1] * hp[k, 1] + hp[k, 2] * hp[k, 2])
        for k in range(len(acc))
    ]

    pos = {int(i): k for k, i in enumerate(idx)}  # absolute index -> row

    def pitch(i: int, s: _State) -> float:
        g = gyr[pos[i]]
        return float(g[0] * s.axis[0] + g[1] * s.axis[1] + g[2] * s.axis[2])

    s = _State()
    events: list[tuple[float, ...]] = []

    def emit(*values: float) -> None:
        events.append(tuple(float(v) for v in values) + (0.0,) * (8 - len(values)))

    def vote(forward: bool) -> None:
        s.votes += 1.0 if forward else -1.0
        if s.votes < 0:
            s.axis = [-a for a in s.axis]
            s.votes = -s.votes
        if s.votes >= p[K.P_VOTES]:
            s.axis_ok = True

    def finish_impact() -> None:
        ic, end = s.imp_ic, int(s.imp_end)
        start = max(math.floor(ic), s.valid_from)
        axial = p[K.P_AXIAL] > 0 and s.grav_n > 0.5 * p[K.P_FS]
        norm = math.sqrt(sum(g * g for g in s.grav)) if axial else 1.0
        u = [g / norm for g in s.grav]
        values = []
        clipped = False
        for i in range(start, end + 1):
            a = acc[pos[i]]
            v = (a[0] * u[0] + a[1] * u[1] + a[2] * u[2]) if axial else _norm(a)
            values.append((v, i))
            clipped |= bool(np.any(np.abs(a) >= p[K.P_ACC_CLIP]))
        best, best_i = values[0]
        for v, i in values:
            if v > best:
                best, best_i = v, i
        rise = (best_i - ic) / p[K.P_FS]
        rate = (best - values[0][0]) / rise if rise > 0 else 0.0
        s.imp_pending = False
        emit(K.EV_IMPACT, best_i, ic, best, rate, 1.0 if clipped else 0.0, 1.0 if axial else 0.0)

    def finish_toe_off(now: int) -> None:
        s.to_active = False
        bi = s.to_best_idx
        if bi < 0 or s.to_best < p[K.P_TO_MIN_DPS]:
            return
        to = float(bi)
        if bi - 1 >= s.valid_from and bi + 1 <= now:
            y0, y1, y2 = -pitch(bi - 1, s), -pitch(bi, s), -pitch(bi + 1, s)
            den = y0 - 2.0 * y1 + y2
            if den < 0:
                off = 0.5 * (y0 - y2) / den
                if -0.5 <= off <= 0.5:
                    to = bi + off
        ic = s.to_ic
        contact = to - ic
        s.contact = (
            contact if s.contact <= 0 else s.contact + p[K.P_EST_ALPHA] * (contact - s.contact)
        )
        angle, ms = math.nan, -1.0
        if p[K.P_AXIAL] == 0:
            k0 = math.floor(ic)
            mags = [(_sq(gyr[pos[k]]), k) for k in range(k0 + int(p[K.P_MS_SKIP]), bi)]
            if mags:
                best = min(m for m, _ in mags)
                ms = float(next(k for m, k in mags if m == best))
            if ms >= 0 and k0 >= s.valid_from:
                frac = ic - k0
                r0, r1 = pitch(k0, s), pitch(k0 + 1, s)
                total = 0.5 * ((r0 + frac * (r1 - r0)) + r1) * (1.0 - frac)
                for k in range(k0 + 1, int(ms)):
                    total += 0.5 * (pitch(k, s) + pitch(k + 1, s))
                angle = -total / p[K.P_FS]
        s.swing_active, s.swing_max = True, 0.0
        emit(K.EV_TO, to, ic, angle, ms, s.to_best)

    def add_stride(stride: float) -> None:
        est = s.stride
        if est > 0 and not 0.75 * est <= stride <= 1.5 * est:
            nudged = est * 1.08 if stride > est else est / 1.08
            s.stride_hist = [nudged]
            s.stride = nudged
            return
        s.stride_hist = ([*s.stride_hist, stride])[-K.N_HIST :]
        vals = sorted(s.stride_hist)
        n = len(vals)
        s.stride = vals[n // 2] if n % 2 else 0.5 * (vals[n // 2 - 1] + vals[n // 2])

    for k, i in enumerate(int(x) for x in idx):
        if k in starts:  # a gap (or the start): forget the stretch
            s.valid_from = i
            s.cand = s.imp_pending = s.to_active = s.swing_active = False
            s.n_ic = 0
            s.post_at = -1.0
        a, g, e = acc[k], gyr[k], env[k]
        if has_gyro:
            if i % int(p[K.P_AXIS_EVERY]) == 0:
                cv = s.cov
                v = list(s.axis)
                for _ in range(4):
                    nv = [
                        cv[0] * v[0] + cv[1] * v[1] + cv[2] * v[2],
                        cv[1] * v[0] + cv[3] * v[1] + cv[4] * v[2],
                        cv[2] * v[0] + cv[4] * v[1] + cv[5] * v[2],
                    ]
                    norm = math.sqrt(sum(x * x for x in nv))
                    if norm <= 0:
                        break
                    v = [x / norm for x in nv]
                else:
                    s.axis = v
            al = p[K.P_COV_ALPHA]
            prods = [g[0] * g[0], g[0] * g[1], g[0] * g[2], g[1] * g[1], g[1] * g[2], g[2] * g[2]]
            s.cov = [c + al * (q - c) for c, q in zip(s.cov, prods, strict=True)]
        s.level *= p[K.P_LEVEL_DECAY]
        quiet = p[K.P_QUIET_DPS]
        still = 0.9025 < _sq(a) < 1.1025 and e < 0.05 and _sq(g) < quiet * quiet
        s.quiet_n = s.quiet_n + 1 if still else 0
        if s.quiet_n >= p[K.P_QUIET_MIN]:
            s.grav = [gv + p[K.P_GRAV_ALPHA] * (av - gv) for gv, av in zip(s.grav, a, strict=True)]
            s.grav_n += 1.0

        if s.post_at >= 0 and i >= s.post_at:
            k0 = math.ceil(s.post_ic)
            total = sum(pitch(q, s) for q in range(k0, i + 1))
            if abs(total) / (i + 1 - k0) >= 0.25 * p[K.P_ARM_DPS]:
                vote(total < 0)
            s.post_at = -1.0

        if s.imp_pending and i >= s.imp_end:
            finish_impact()

        if s.to_active:
            r = pitch(i, s)
            if i >= s.to_start and -r > s.to_best:
                s.to_best, s.to_best_idx = -r, i
            if i >= s.to_end or (
                s.to_best_idx >= 0 and s.swing_peak > 0 and r > p[K.P_SWING_FRAC] * s.swing_peak
            ):
                finish_toe_off(i)
        elif s.swing_active:
            s.swing_max = max(s.swing_max, pitch(i, s))

        thr = max(p[K.P_THR_ABS], p[K.P_THR_REL] * s.level)
        if i >= s.refr_until and e > thr and (not s.cand or e > s.cand_val):
            s.cand, s.cand_val, s.cand_idx = True, e, i
        wait = p[K.P_LOOKAHEAD] if s.n_ic >= p[K.P_START_CONTACTS] else p[K.P_LOOKAHEAD_START]
        if not (s.cand and i - s.cand_idx >= wait):
            continue
        s.cand = False
        ip, pv = s.cand_idx, s.cand_val
        lo = max(s.valid_from, ip - int(p[K.P_ONSET_MAX]))
        level = p[K.P_ONSET_FRAC] * pv
        first = next((q for q in range(lo, ip) if env[pos[q]] >= level), ip)
        ic = float(first)
        if first > lo:
            e0, e1 = env[pos[first - 1]], env[pos[first]]
            if e1 > e0:
                ic = first - 1 + (level - e0) / (e1 - e0)
        if has_gyro and p[K.P_AXIAL] == 0:
            k1 = int(ic) - max(1, int(p[K.P_PRE_GAP]))
            k0 = max(s.valid_from, int(ic) - int(p[K.P_PRE_WIN]))
            swing = 0.0
            for q in range(k0, k1 + 1):
                if abs(pitch(q, s)) > abs(swing):
                    swing = pitch(q, s)
            if s.axis_ok and swing < p[K.P_ARM_DPS]:
                continue
            if s.swing_peak > 0 and abs(pitch(int(ic), s)) > p[K.P_LAND_TURN] * s.swing_peak:
                continue
            if pv >= 0.5 * s.level and abs(swing) >= p[K.P_ARM_DPS]:
                vote(swing > 0)
        s.n_ic += 1
        if s.to_active:
            finish_toe_off(i)
        if s.imp_pending:
            finish_impact()
        stride = -1.0
        if s.last_ic >= s.valid_from and 0 < ic - s.last_ic <= p[K.P_STRIDE_MAX]:
            stride = ic - s.last_ic
            add_stride(stride)
        if has_gyro:
            if s.swing_active and s.swing_max > 0:
                s.swing_peak = (
                    s.swing_max
                    if s.swing_peak <= 0
                    else s.swing_peak + p[K.P_EST_ALPHA] * (s.swing_max - s.swing_peak)
                )
            s.swing_active = False
        s.level = max(s.level, pv)
        s.refr_until = ip + max(p[K.P_REFR_MIN], p[K.P_REFR_FRAC] * s.stride)
        emit(K.EV_IC, ic, ip, pv, stride)
        s.imp_pending, s.imp_ic = True, ic
        s.imp_end = math.floor(ic) + p[K.P_IMPACT_WIN]
        if has_gyro and p[K.P_AXIAL] > 0:
            s.post_at, s.post_ic = math.floor(ic) + p[K.P_POST_WIN], ic
        if has_gyro and s.axis_ok:
            contact = s.contact if s.contact > 0 else p[K.P_CONTACT_INIT]
            s.to_active, s.to_ic = True, ic
            s.to_start = ic + max(p[K.P_TO_START_MIN], p[K.P_TO_START_FRAC] * contact)
            s.to_end = ic + (p[K.P_TO_END_FRAC] * s.stride if s.stride > 0 else p[K.P_TO_END_INIT])
            s.to_best, s.to_best_idx = -1e300, -1
        s.last_ic = ic
    return events
