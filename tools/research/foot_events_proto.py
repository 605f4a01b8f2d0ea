"""Research prototype (NOT used by sensorhub): a gyroscope-anchored foot-event detector.

Issue 10 work in progress, kept so the next session can port it into the numba kernel.
Plain Python, sample by sample, streaming and causal (the IC look-ahead is the IC window,
at most ``ic_post_s`` after the swing lobe ends).  The idea, per stride:

* the sagittal rate ``r`` = gyroscope projected on the principal axis of its covariance
  (orientation-free; the axis sign is arbitrary);
* ``r`` is cut into *lobes* (excursions between sign changes, with hysteresis);
* which polarity is the forward swing is decided by evidence that does not depend on any
  contact decision, so it can never lock into the wrong phase: at the foot, the first big
  lobe after a still stance is the push-off (votes, leaky, revisable every stride); at the
  shin, the larger lobes are the swing (Salarian 2004, Trojaniello 2014);
* the end of the swing lobe (its zero crossing) anchors the initial-contact window
  ``[zc - ic_pre_s, zc + ic_post_s]``; IC = onset of the first impact-envelope peak above
  ``ic_rel`` x this person's recent window maxima (self-adapting to soft and hard landers);
  without one, the zero crossing itself;
* toe-off = peak of the largest push-off-polarity lobe between the contact (plus
  ``max(to_min_s, to_contact_frac x contact)``) and the next swing (Falbriard 2018; the
  first push-off after standing has no contact before it and is a toe-off too).

Measured on voisard_walking (100 Hz, Xsens on the foot), scored by ``voisard_eval.py``
(bias from +-100 ms matches, then +-50 ms, extras only inside coverage windows):
tuned on subjects 1-8: IC recall 86.4 %, precision 89.4 %, TO recall 87.0 %, precision 96.7 %;
held out 9-12: IC recall 87.6 %, precision 89.9 %, TO recall 83.3 %, precision 94.3 %.
The landed kernel on the same data (score_real.py, all subjects): IC 48.9 % / 53.7 %,
TO 29.2 % / 53.5 %.  Simulator shoe run/walk: IC 100 %; the simulator's shin gyroscope has
no realistic swing lobe (see the closing note of issue 10), so the shin rule fails there.
"""

import math

import numpy as np


class P:
    hp_hz = 15.0
    cov_tau_s = 5.0
    axis_every_s = 0.03
    lobe_floor_dps = 50.0
    lobe_rel = 0.3
    level_tau_s = 4.0
    quiet_rel = 0.12
    quiet_floor_dps = 20.0
    quiet_min_s = 0.06
    vote_decay = 0.85
    vote_decide = 1.0
    open_frac = 0.5  # IC window opens when the swing rate falls below this x its peak
    ic_post_s = 0.10  # ... and closes this long after the swing lobe ends
    ic_rel = 0.55
    ic_floor_g = 0.1
    onset_frac = 0.5
    onset_max_s = 0.04
    lookahead_s = 0.008
    to_min_s = 0.05
    to_contact_frac = 0.35
    contact_init_s = 0.25
    gyro_ic = False
    ic_pre_s = 0.03
    area_floor_deg = 5.0
    area_rel = 0.35
    refr_min_s = 0.3
    refr_frac = 0.6
    stride_max_s = 2.5
    hyst_floor_dps = 10.0
    hyst_rel = 0.1


def biquad_hp(fc, fs):
    k = math.tan(math.pi * fc / fs)
    norm = 1 / (1 + math.sqrt(2) * k + k * k)
    return norm, -2 * norm, norm, 2 * (k * k - 1) * norm, (1 - math.sqrt(2) * k + k * k) * norm


class Detector:
    def __init__(self, fs, mount="shoe", p=P):
        self.fs = fs
        self.p = p
        self.mount = mount
        self.hp = biquad_hp(p.hp_hz, fs)
        self.cov = np.zeros(6)
        self.ax = np.array([1.0, 0.0, 0.0])
        self.every = max(1, round(p.axis_every_s * fs))
        self.decay = math.exp(-1 / (p.level_tau_s * fs))
        self.lvl = {1: 0.0, -1: 0.0}
        self.area_lvl = {1: 0.0, -1: 0.0}
        self.vote = 0.0
        self.pol = 0.0
        self.ic_lvl = 0.0
        self.lvls = []
        self.stride = 0.0
        self.strides = []
        self.contact = 0.0
        self.zc_off = []
        self.e = []
        self.r = []
        self.i = -1
        self.events = []  # (kind, index, ref)
        self.reset()

    def reset(self):
        self.filt = None
        self.lobe_sign = 0
        self.lobe_peak = 0.0
        self.lobe_area = 0.0
        self.late_pk = 0.0
        self.late_i = -1
        self.lobe_peak_i = 0
        self.lobe_used = False
        self.quiet_n = 0
        self.after_quiet = False
        self.to_free = False
        self.win_open = False
        self.win_from = 0
        self.win_end = None
        self.cand = None
        self.emitted = False
        self.last_same = self.i
        self.last_ic = None
        self.prev_ic = None
        self.to_best = 0.0
        self.to_best_i = -1
        self.stretch_from = self.i + 1

    def feed(self, a, g, gap=False):
        p = self.p
        if gap:
            self.reset()
        self.i += 1
        i = self.i
        b0, b1, b2, a1, a2 = self.hp
        if self.filt is None:
            self.filt = [a.copy(), a.copy(), np.zeros(3), np.zeros(3)]
        x1, x2, y1, y2 = self.filt
        y = b0 * a + b1 * x1 + b2 * x2 - a1 * y1 - a2 * y2
        self.filt = [a.copy(), x1, y, y1]
        e = math.sqrt(y @ y)
        self.e.append(e)
        if i % self.every == 0:
            c = self.cov
            C = np.array([[c[0], c[1], c[2]], [c[1], c[3], c[4]], [c[2], c[4], c[5]]])
            v = self.ax
            for _ in range(4):
                v2 = C @ v
                nn = np.linalg.norm(v2)
                if nn <= 0:
                    break
                v = v2 / nn
            self.ax = v
        self.cov += (
            np.array([g[0] * g[0], g[0] * g[1], g[0] * g[2], g[1] * g[1], g[1] * g[2], g[2] * g[2]])
            - self.cov
        ) / (p.cov_tau_s * self.fs)
        r = float(g @ self.ax)
        self.r.append(r)
        for s in (1, -1):
            self.lvl[s] *= self.decay
            self.area_lvl[s] *= self.decay
        lvl = max(self.lvl[1], self.lvl[-1])
        max(p.lobe_floor_dps, p.lobe_rel * lvl)
        # quiet (stance)
        if math.sqrt(g @ g) < max(p.quiet_floor_dps, p.quiet_rel * lvl):
            self.quiet_n += 1
            if self.quiet_n >= p.quiet_min_s * self.fs:
                self.after_quiet = True
        else:
            self.quiet_n = 0
        h = max(p.hyst_floor_dps, p.hyst_rel * lvl)
        sgn = self.lobe_sign
        if sgn == 0:
            sgn = 1 if r >= 0 else -1
        elif sgn * r < -h:
            sgn = -sgn
        if r * self.lobe_sign > 0:
            self.last_same = i
        # IC window: candidates
        self._ic_search(i, e)
        if self.lobe_sign == 0:
            self.lobe_sign = sgn
        if sgn != self.lobe_sign:
            self._lobe_end(i)
            self.lobe_sign = sgn
            self.lobe_peak = 0.0
            self.lobe_area = 0.0
            self.late_pk = 0.0
            self.late_i = -1
            self.lobe_used = False
        if r * self.lobe_sign > 0:
            self.lobe_area += abs(r) / self.fs
        if abs(r) > self.lobe_peak:
            self.lobe_peak = abs(r)
            self.lobe_peak_i = i
        if abs(r) > self.late_pk and r * self.lobe_sign > 0:
            c = self.contact or p.contact_init_s * self.fs
            if self.last_ic is None or i >= self.last_ic + max(
                p.to_min_s * self.fs, p.to_contact_frac * c
            ):
                self.late_pk = abs(r)
                self.late_i = i
        # TO tracking: push-off polarity extreme after IC
        if self.quiet_n >= p.quiet_min_s * self.fs and self.last_ic is None:
            self.to_free = (
                True  # standing: the next push-off is a toe-off with no contact before it
            )

    def _lobe_end(self, i):
        p = self.p
        s = self.lobe_sign
        pk = self.lobe_peak
        lvl = max(self.lvl[1], self.lvl[-1])
        if pk < max(p.lobe_floor_dps, p.lobe_rel * lvl):
            return
        area = self.lobe_area
        if area < max(p.area_floor_deg, p.area_rel * self.area_lvl[s]):
            return
        self.lvl[s] = max(self.lvl[s], pk)
        self.area_lvl[s] = max(self.area_lvl[s], area)
        self._vote_and_pol(s)
        if (
            s == -self.pol
            and (self.last_ic is not None or self.to_free)
            and self.late_pk > self.to_best
        ):
            self.to_best = self.late_pk
            self.to_best_i = self.late_i
        self._open_window(i, s)

    def _vote_and_pol(self, s):
        p = self.p
        if self.after_quiet:
            self.vote = p.vote_decay * self.vote - s
            self.after_quiet = False
        if abs(self.vote) >= p.vote_decide:
            self.pol = 1 if self.vote > 0 else -1
        elif self.mount != "shoe":
            self.pol = 1 if self.lvl[1] >= self.lvl[-1] else -1

    def _open_window(self, i, s):
        p = self.p
        refr = (
            max(p.refr_min_s * self.fs, p.refr_frac * self.stride)
            if self.stride
            else p.refr_min_s * self.fs
        )
        if (
            s == self.pol
            and not self.win_open
            and (self.prev_ic is None or i - self.prev_ic >= refr)
        ):
            self._finish_to(i)
            zc = self.last_same + 1
            self.win_open = True
            self.zc = zc
            self.win_max = 0.0
            self.win_end = i + p.ic_post_s * self.fs
            self.win_from = max(self.stretch_from, zc - round(p.ic_pre_s * self.fs))
            self.cand = None
            self.win_end = zc + p.ic_post_s * self.fs
            for k in range(self.win_from, i):
                self._ic_search(k, self.e[k], scan=True)

    def _ic_search(self, i, e, scan=False):
        p = self.p
        if not self.win_open:
            return
        self.win_max = max(self.win_max, e)
        la = max(1, round(p.lookahead_s * self.fs))
        thr = max(p.ic_floor_g, p.ic_rel * self.ic_lvl)
        if self.ic_lvl == 0:
            if self.cand is None or e > self.cand[1]:
                self.cand = (i, e)
        elif (
            e > thr
            and (self.cand is None or e > self.cand[1])
            and (self.cand is None or i - self.cand[0] < la)
        ):
            self.cand = (i, e)
        if (
            self.cand is not None
            and i - self.cand[0] >= la
            and not self.emitted
            and self.ic_lvl > 0
        ):
            self._emit_ic(*self.cand)
        if not scan and self.win_end is not None and i >= self.win_end:
            self.lvls.append(self.win_max)
            self.lvls = self.lvls[-5:]
            self.ic_lvl = float(np.median(self.lvls))
            if not self.emitted:
                if p.gyro_ic or self.cand is None:
                    off = np.median(self.zc_off) if self.zc_off else 0.0
                    self._emit_ic(None, None, gyro=self.zc + off)
                else:
                    self._emit_ic(*self.cand)
            self.win_open = False
            self.win_end = None
            self.emitted = False

    def _emit_ic(self, ip, pv, gyro=None):
        p = self.p
        if gyro is not None:
            ic = gyro
        else:
            lim = max(
                self.stretch_from,
                self.win_from - round(p.onset_max_s * self.fs),
                ip - round(p.onset_max_s * self.fs),
            )
            level = p.onset_frac * pv
            k = ip
            for kk in range(lim, ip):
                if self.e[kk] >= level:
                    k = kk
                    break
            ic = float(k)
            if k > lim and self.e[k] > self.e[k - 1]:
                ic = k - 1 + (level - self.e[k - 1]) / (self.e[k] - self.e[k - 1])
            if self.win_end is not None:
                self.zc_off.append(ic - self.zc)
                self.zc_off = self.zc_off[-9:]
        self.events.append(("ic", ic, 0))
        if self.prev_ic is not None:
            st = ic - self.prev_ic
            if st <= p.stride_max_s * self.fs:
                self.strides.append(st)
                self.strides = self.strides[-5:]
                self.stride = float(np.median(self.strides))
        self.prev_ic = ic
        self.last_ic = ic
        self.to_best = 0.0
        self.to_best_i = -1
        self.emitted = True

    def _finish_to(self, i):
        if (
            (self.last_ic is None and not self.to_free)
            or self.to_best_i < 0
            or self.to_best < self.p.lobe_floor_dps
        ):
            self.last_ic = None
            self.to_free = False
            self.to_best = 0.0
            self.to_best_i = -1
            return
        to = float(self.to_best_i)
        self.events.append(("to", to, self.last_ic if self.last_ic is not None else -1))
        if self.last_ic is not None:
            c = to - self.last_ic
            self.contact = c if not self.contact else self.contact + 0.3 * (c - self.contact)
        self.last_ic = None
        self.to_free = False
        self.to_best = 0.0
        self.to_best_i = -1


def run_file(t, acc, gyr, fs, mount="shoe", bridge_s=0.06, p=P):
    """Place samples by time, bridge short gaps linearly, reset on long ones."""
    idx = np.rint((t - t[0]) * fs).astype(int)
    d = Detector(fs, mount, p)
    prev = None
    for k in range(len(t)):
        if prev is not None and idx[k] - idx[prev] > 1:
            gap = idx[k] - idx[prev] - 1
            if gap <= bridge_s * fs:
                for m in range(1, gap + 1):
                    f = m / (gap + 1)
                    d.feed(
                        acc[prev] + f * (acc[k] - acc[prev]), gyr[prev] + f * (gyr[k] - gyr[prev])
                    )
            else:
                # long gap: detector restarts; keep index continuity by feeding nothing
                d.i += gap
                d.e.extend([0.0] * gap)
                d.r.extend([0.0] * gap)
                d.feed(acc[k], gyr[k], gap=True)
                prev = k
                continue
        d.feed(acc[k], gyr[k])
        prev = k
    t0 = t[0]
    return [(k, t0 + x / fs, t0 + ref / fs) for k, x, ref in d.events], d
