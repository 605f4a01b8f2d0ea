"""Gait model: when each foot lands and leaves, and what a shoe or shin segment feels.

The model is deterministic given its schedule; randomness (stride-to-stride variability)
enters only when the schedule is built from a seeded generator.

Shapes follow published descriptions:

* Temporal parameters.  Running contact time falls with speed roughly as
  ``t_c = 0.60 s * v^-0.8`` (0.25 s at 3 m/s, 0.17 s at 5 m/s), in line with the values
  collected by Nummela et al. (2007), Int J Sports Med 28:655-661, and Cavanagh &
  Kram (1989) for cadence 150-200 steps/min.  Walking contact is about 62 % of the
  stride (Perry & Burnfield, *Gait Analysis*, 2010).
* Foot (shoe) sagittal angle: landing angle +10..+20 deg for rearfoot, about 0 for
  midfoot, -5..-10 deg for forefoot strikers (Altman & Davis 2012, Gait & Posture
  35:298); a fast plantarflexion to foot-flat after a rearfoot contact ("foot slap"),
  near-zero angular velocity in mid-stance, heel rise from about 55 % of stance, the
  fastest plantarflexion at toe-off, and a large mid-swing angular-velocity peak, as in
  shoe-mounted gyroscope recordings of Mariani et al. (2013) IEEE TBME 60:155 and
  Falbriard et al. (2018) Front Physiol 9:610.
* Tibial acceleration: a sharp impact peak 5-15 ms after contact followed by damped
  ringing and a broad active peak in mid-stance, peak tibial acceleration (PTA) of about
  4-20 g rising with speed and lower for forefoot strikes (Lafortune et al. (1995),
  J Biomech 28:1229; Sheerin et al. (2019), Gait & Posture 67:12; Milner et al. (2006),
  Med Sci Sports Exerc 38:323).  At the shoe the transient is higher and sharper
  (shorter rise time), as measured by shoe-mounted accelerometers in Mercer et al.
  (2003), Eur J Appl Physiol 88:558.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from sensorhub.types import Mounting, Side, StrikeClass, classify_strike

FloatArray = npt.NDArray[np.float64]
G = 9.80665
DEG = math.pi / 180.0

ACTIVITIES = ("stand", "walk", "run")
STRIKES = ("rearfoot", "midfoot", "forefoot")
#: Mean landing angle (deg, toes up positive) per strike style.
STRIKE_MEAN_DEG = {"rearfoot": 14.0, "midfoot": 3.0, "forefoot": -7.0}
#: Impact scale per strike class: forefoot strikers show a lower axial impact peak.
STRIKE_IMPACT_SCALE = {
    StrikeClass.REARFOOT: 1.0,
    StrikeClass.MIDFOOT: 0.85,
    StrikeClass.FOREFOOT: 0.7,
}


@dataclass(frozen=True)
class Segment:
    """A stretch of the session: standing, walking or running.

    ``cadence_spm`` and ``speed_mps`` override the runner's defaults for this segment.
    A moving segment starts from standing (each foot lifts off once) and ends standing
    (each foot's last contact has no toe-off).
    """

    activity: str
    duration_s: float
    cadence_spm: float | None = None
    speed_mps: float | None = None

    def __post_init__(self) -> None:
        if self.activity not in ACTIVITIES:
            raise ValueError(f"activity must be one of {', '.join(ACTIVITIES)}")
        if not self.duration_s > 0:
            raise ValueError("segment duration must be positive")


@dataclass(frozen=True)
class GaitParams:
    """How this simulated person moves.

    Attributes
    ----------
    run_cadence_spm, walk_cadence_spm
        Steps per minute (both feet) at the start of a running / walking segment.
    strike
        Running foot-strike style: ``rearfoot``, ``midfoot`` or ``forefoot``
        (walking is always a heel strike).
    stride_cv
        Coefficient of variation of step time (stride-to-stride variability).
    asymmetry
        Left/right asymmetry as a fraction: the right step is longer, the right
        contact longer and the right impact higher by this fraction.
    fatigue_cadence_per_h, fatigue_impact_per_h
        Fractional drift per hour of running: cadence falls, impact rises.
    turn_every_s
        Mean time between turns while moving (0: run straight).
    impact_scale
        Multiplies every impact (a heavier or lighter runner, harder surface).
    closing_step_scale
        The last step of a walk only brings the feet together: its rotations and its
        impact are this fraction of a full step's.  In voisard_walking (subjects 1-8) the
        last step of a walk has 0.18 / 0.35 / 0.69 (10th / 25th / 50th percentile) of the
        walk's swing peak and 0.12 / 0.25 / 0.52 of its impact; 0.25 models the small
        ones, which a detector that only knows full strides misses.
    """

    run_cadence_spm: float = 170.0
    walk_cadence_spm: float = 110.0
    run_speed_mps: float | None = None
    walk_speed_mps: float | None = None
    strike: str = "rearfoot"
    stride_cv: float = 0.015
    contact_cv: float = 0.03
    strike_sd_deg: float = 2.5
    impact_cv: float = 0.10
    asymmetry: float = 0.0
    fatigue_cadence_per_h: float = 0.03
    fatigue_impact_per_h: float = 0.12
    turn_every_s: float = 90.0
    impact_scale: float = 1.0
    closing_step_scale: float = 0.25

    def __post_init__(self) -> None:
        if self.strike not in STRIKES:
            raise ValueError(f"strike must be one of {', '.join(STRIKES)}")
        if not 150 <= self.run_cadence_spm <= 200:
            raise ValueError("running cadence must be 150-200 steps/min")
        if not 90 <= self.walk_cadence_spm <= 130:
            raise ValueError("walking cadence must be 90-130 steps/min")
        if not 0 <= self.asymmetry < 0.5:
            raise ValueError("asymmetry must be a fraction in [0, 0.5)")
        if not 0.1 <= self.closing_step_scale <= 1.0:
            raise ValueError("closing_step_scale must be in [0.1, 1]")


def running_speed_for(cadence_spm: float) -> float:
    """Typical running speed (m/s) at a cadence: 2.8 m/s at 160, 4.0 m/s at 180."""
    return float(np.clip(2.8 + (cadence_spm - 160.0) * 0.06, 2.0, 6.5))


def walking_speed_for(cadence_spm: float) -> float:
    """Typical walking speed (m/s) at a cadence: 1.35 m/s at 110 steps/min."""
    return float(np.clip(1.35 + (cadence_spm - 110.0) * 0.015, 0.8, 1.9))


@dataclass
class Schedule:
    """Every step of the session, in true time (seconds from the first sample).

    Step ``i`` belongs to foot ``side[i]``; ``ic[i]`` is its initial contact and
    ``to[i]`` its toe-off (``inf`` when the foot stays down: the runner stops).
    ``lift[k]`` are toe-offs from standing (the first lift-off of each foot in a
    moving segment), with ``lift_side[k]``.
    """

    side: npt.NDArray[np.int8]
    ic: FloatArray
    to: FloatArray
    contact_s: FloatArray  # nominal loaded duration of the step (finite even if to=inf)
    swing_s: FloatArray  # duration of the swing that ends at this contact
    speed_mps: FloatArray
    running: npt.NDArray[np.bool_]
    strike_deg: FloatArray
    impact_g: FloatArray  # amplitude of the tibial impact transient before mounting scale
    yaw_dps: FloatArray  # mean yaw rate over the swing that ends at this contact
    scale: FloatArray  # size of the swing ending at this contact (1: a full step)
    lift: FloatArray
    lift_side: npt.NDArray[np.int8]
    lift_contact_s: FloatArray
    end_s: float


def _ar1(rng: np.random.Generator, n: int, cv: float, phi: float = 0.5) -> FloatArray:
    """AR(1) noise with unit mean and coefficient of variation ``cv``."""
    e = rng.standard_normal(n) * cv * math.sqrt(1 - phi * phi)
    out = np.empty(n)
    x = rng.standard_normal() * cv
    for i in range(n):
        x = phi * x + e[i]
        out[i] = x
    return 1.0 + out


def build_schedule(
    segments: list[Segment], params: GaitParams, rng: np.random.Generator
) -> Schedule:
    """Lay out every step of ``segments`` (consecutive, starting at t = 0)."""
    side: list[int] = []
    ic: list[float] = []
    to: list[float] = []
    contact: list[float] = []
    swing: list[float] = []
    speed: list[float] = []
    running: list[bool] = []
    strike: list[float] = []
    impact: list[float] = []
    yaw: list[float] = []
    scale: list[float] = []
    lift: list[float] = []
    lift_side: list[int] = []
    lift_contact: list[float] = []

    t0 = 0.0
    moving_time = 0.0  # running time so far, for fatigue
    lead = Side.LEFT
    a = params.asymmetry
    for seg in segments:
        t1 = t0 + seg.duration_s
        if seg.activity == "stand":
            t0 = t1
            continue
        run = seg.activity == "run"
        cad0 = seg.cadence_spm or (params.run_cadence_spm if run else params.walk_cadence_spm)
        v0 = seg.speed_mps or (
            (params.run_speed_mps or running_speed_for(cad0))
            if run
            else (params.walk_speed_mps or walking_speed_for(cad0))
        )
        n_max = int(seg.duration_s * cad0 / 60.0 * 1.2) + 8
        var = _ar1(rng, n_max, params.stride_cv)
        cvar = 1.0 + rng.standard_normal(n_max) * params.contact_cv
        ivar = np.exp(rng.standard_normal(n_max) * params.impact_cv)
        mean_strike = STRIKE_MEAN_DEG[params.strike] if run else 22.0
        angles = mean_strike + rng.standard_normal(n_max) * params.strike_sd_deg
        # Turns: Poisson times while moving, each 45-180 deg over 2-5 s.
        turns: list[tuple[float, float, float]] = []
        if params.turn_every_s > 0:
            t = t0 + rng.exponential(params.turn_every_s)
            while t < t1 - 6:
                dur = rng.uniform(2, 5)
                turns.append((t, t + dur, rng.choice([-1, 1]) * rng.uniform(45, 180) / dur))
                t += dur + rng.exponential(params.turn_every_s)

        first = len(ic)
        step_nom = 60.0 / cad0
        t_ic = t0
        i = 0
        while True:
            ramp = min(1.0, 0.85 + 0.05 * i)  # first strides shorter and slower
            fatigue = 1.0 - params.fatigue_cadence_per_h * moving_time / 3600.0 if run else 1.0
            s = Side.LEFT if (i % 2 == 0) == (lead == Side.LEFT) else Side.RIGHT
            sym = 1.0 + (a / 2 if s == Side.RIGHT else -a / 2)
            step = step_nom / fatigue / ramp * var[i] * sym
            v = v0 * ramp * (fatigue if run else 1.0)
            if run:
                tc = 0.60 * v**-0.8
                tc = min(tc, step - 0.04)
            else:
                tc = 0.62 * 2 * step
            tc *= cvar[i] * (1.0 + (a / 2 if s == Side.RIGHT else -a / 2))
            stride = 2 * step
            sw = stride - tc
            if i == 0:
                t_ic = t0 + sw  # the lead foot lifts off right at t0
            else:
                t_ic += step
            if t_ic + tc > t1:
                break
            ang = float(angles[i])
            cls = classify_strike(ang)
            if run:
                pta = (2.0 + 2.0 * v) * STRIKE_IMPACT_SCALE[cls]
                pta *= 1.0 + params.fatigue_impact_per_h * moving_time / 3600.0
            else:
                # walking heel strikes at the tibia are soft: median 0.6-0.7 g in slow
                # walking (the recordings behind issue 10), under 1 g at a brisk walk
                pta = 0.4 + 0.3 * v
            pta *= params.impact_scale * float(ivar[i]) * (1.0 + (a if s == Side.RIGHT else 0.0))
            yaw_rate = 0.0
            for ts, te, rate in turns:
                if ts <= t_ic < te:
                    yaw_rate = rate
            side.append(int(s))
            ic.append(t_ic)
            to.append(t_ic + tc)
            contact.append(tc)
            swing.append(sw)
            speed.append(v)
            running.append(run)
            strike.append(ang)
            impact.append(pta)
            yaw.append(yaw_rate)
            scale.append(1.0)
            if i < 2:  # each foot's first step lifts off from standing
                lift.append(t_ic - sw)
                lift_side.append(int(s))
                lift_contact.append(tc)
            if run:
                moving_time += step
            i += 1
        # The last step of each foot stays down: the runner stops.  A walk ends with a
        # small step that brings the trailing foot beside the other.
        n = len(ic)
        for j in range(max(first, n - 2), n):
            to[j] = math.inf
        if not run and n - first >= 3:
            scale[n - 1] = params.closing_step_scale
            impact[n - 1] *= params.closing_step_scale
        lead = Side.RIGHT if lead == Side.LEFT else Side.LEFT
        t0 = t1

    total = sum(s.duration_s for s in segments)
    return Schedule(
        side=np.array(side, dtype=np.int8),
        ic=np.array(ic, dtype=float),
        to=np.array(to, dtype=float),
        contact_s=np.array(contact, dtype=float),
        swing_s=np.array(swing, dtype=float),
        speed_mps=np.array(speed, dtype=float),
        running=np.array(running, dtype=bool),
        strike_deg=np.array(strike, dtype=float),
        impact_g=np.array(impact, dtype=float),
        yaw_dps=np.array(yaw, dtype=float),
        scale=np.array(scale, dtype=float),
        lift=np.array(lift, dtype=float),
        lift_side=np.array(lift_side, dtype=np.int8),
        lift_contact_s=np.array(lift_contact, dtype=float),
        end_s=total,
    )


# ----------------------------------------------------------------------- segment model


def _hermite(
    t: FloatArray, kt: FloatArray, ky: FloatArray, km: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Cubic Hermite curve through knots (kt, ky) with slopes km: value and derivative."""
    j = np.clip(np.searchsorted(kt, t, side="right") - 1, 0, len(kt) - 2)
    t0 = kt[j]
    h = kt[j + 1] - t0
    s = np.clip((t - t0) / h, 0.0, 1.0)
    y0, y1, m0, m1 = ky[j], ky[j + 1], km[j] * h, km[j + 1] * h
    s2, s3 = s * s, s * s * s
    y = (
        (2 * s3 - 3 * s2 + 1) * y0
        + (s3 - 2 * s2 + s) * m0
        + (-2 * s3 + 3 * s2) * y1
        + (s3 - s2) * m1
    )
    dy = (
        (6 * s2 - 6 * s) * y0
        + (3 * s2 - 4 * s + 1) * m0
        + (-6 * s2 + 6 * s) * y1
        + (3 * s2 - 2 * s) * m1
    ) / h
    return y, dy


def _smoothstep(x: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``3x^2 - 2x^3`` on [0, 1] (0 before, 1 after) and its derivative."""
    c = np.clip(x, 0.0, 1.0)
    return c * c * (3 - 2 * c), 6 * c * (1 - c)


def _damped_unit(t: FloatArray, f_hz: float, decay_s: float) -> FloatArray:
    """``exp(-t/d) sin(2 pi f t)`` for t >= 0 (0 before), scaled so its first peak is 1."""
    w = 2 * math.pi * f_hz
    t_pk = math.atan(w * decay_s) / w
    peak = math.exp(-t_pk / decay_s) * math.sin(w * t_pk)
    tt = np.maximum(t, 0.0)
    return np.where(t >= 0, np.exp(-tt / decay_s) * np.sin(w * tt) / peak, 0.0)


@dataclass
class SegmentModel:
    """Noise-free motion of one shoe or shin, in its segment frame.

    Segment frame: x forward (toes / anterior), y to the left, z up (along the tibia for
    the shin, normal to the sole for the shoe).  ``signals(t)`` gives the specific force
    in m/s^2 (what an ideal accelerometer aligned with the segment reads, gravity
    included) and the angular velocity in rad/s.
    """

    schedule: Schedule
    side: Side
    mounting: Mounting
    _kt: FloatArray = field(init=False, repr=False)
    _ky: FloatArray = field(init=False, repr=False)
    _km: FloatArray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        sch = self.schedule
        sel = sch.side == int(self.side)
        self.ic = sch.ic[sel]
        self.to = sch.to[sel]
        self.tc = sch.contact_s[sel]
        self.sw = sch.swing_s[sel]
        self.v = sch.speed_mps[sel]
        self.run = sch.running[sel]
        self.strike = sch.strike_deg[sel]
        self.yaw = sch.yaw_dps[sel] * DEG
        self.scale = sch.scale[sel]
        shin = self.mounting == Mounting.SHIN
        # The shoe sees a higher and sharper transient than the tibia: about 1.35x in
        # running, and in walking the heel strike of a stiff sole reads 5-17 g at the shoe
        # (the gaitmap example recording) against well under 1 g at the tibia.
        mult = np.ones(len(self.run)) if shin else np.where(self.run, 1.35, 9.0)
        self.impact = sch.impact_g[sel] * G * mult
        lsel = sch.lift_side == int(self.side)
        self.lift = sch.lift[lsel]
        self.lift_tc = sch.lift_contact_s[lsel]
        # Swing j ends at contact j and starts at the previous toe-off (or a lift-off).
        prev_to = np.empty_like(self.ic)
        for j in range(len(self.ic)):
            cands = [x for x in self.lift if x < self.ic[j]]
            p = self.to[j - 1] if j > 0 and math.isfinite(self.to[j - 1]) else -math.inf
            if cands:
                p = max(p, max(cands))
            prev_to[j] = p
        self.swing_start = prev_to
        stride = self.tc + self.sw
        self._travel_start = np.where(np.isfinite(prev_to), prev_to - 0.08 * stride, -np.inf)
        self._travel_end = self.ic + 0.04 * stride
        self._build_pitch_knots(shin)

    # Pitch: foot angle (toes up +) for the shoe, tibia angle (foot ahead of knee +) for
    # the shin.  Knots (time, angle deg, slope deg/s), joined by cubic Hermite pieces.
    # Push-off accelerates the backward rotation (plantarflexion of the foot, forward
    # rotation of the tibia) quadratically to its fastest at toe-off, then slows down
    # linearly in early swing: toe-off is the minimum of the sagittal angular velocity,
    # the feature Falbriard et al. (2018) found the most precise for terminal contact at
    # the foot, and the one shank-gyroscope methods use (see the comparison of 18 methods
    # in Sensors 23(11):5022, 2023).
    @staticmethod
    def _pushoff(
        t0: float, a0: float, t_to: float, a_to: float, t_dec: float
    ) -> list[tuple[float, float, float]]:
        rate = 2.0 * (a_to - a0) / (t_to - t0)
        return [(t0, a0, 0.0), (t_to, a_to, rate), (t_to + t_dec, a_to + rate * t_dec / 2, 0.0)]

    def _build_pitch_knots(self, shin: bool) -> None:
        knots: list[tuple[float, float, float]] = [(-1e6, 0.0, 0.0)]
        n = len(self.ic)
        for j in range(n):
            run = bool(self.run[j])
            tc, sw, t_ic, t_sw0 = self.tc[j], self.sw[j], self.ic[j], self.swing_start[j]
            if shin:
                # the tibia is furthest forward just before contact and turns back a few
                # degrees into it; after toe-off the knee flexes and the tibia keeps
                # turning back (foot behind) before the forward swing, the largest rotation
                # of the stride (Salarian 2004; Trojaniello 2014), running most of all
                a_ic, a_to, a_late = (8.0, -40.0, 20.0) if run else (10.0, -30.0, 14.0)
            else:
                a_ic = float(self.strike[j])
                a_to = -40.0 if run else -55.0
                a_late = a_ic + 5.0
            # a small (closing) step: smaller swing, and the push-off before it
            size = float(self.scale[j])
            size_next = float(self.scale[j + 1]) if j + 1 < n else 1.0
            a_ic, a_late = a_ic * size, a_late * size
            a_to_here, a_to = a_to * size, a_to * size_next
            if math.isfinite(t_sw0):
                if any(abs(t_sw0 - x) < 1e-9 for x in self.lift):  # lift-off from standing
                    knots += self._pushoff(t_sw0 - 0.45 * tc, 0.0, t_sw0, a_to_here, 0.2 * sw)
                knots.append((t_ic - (0.15 if shin and not run else 0.12) * sw, a_late, 0.0))
            knots.append((t_ic, a_ic, 0.0))
            to = self.to[j]
            t_dec = 0.2 * (self.sw[j + 1] if j + 1 < n else sw)
            if shin:
                if math.isfinite(to):
                    if run:  # the tibia turns on back to about -80 deg in early swing
                        rate = 2.0 * (a_to - a_ic) / (to - t_ic)
                        t_dec = min(2.0 * (-80.0 - a_to) / rate, 2.5 * t_dec)
                    knots += self._pushoff(t_ic, a_ic, to, a_to, t_dec)[1:]
                else:
                    knots.append((t_ic + 0.3, 0.0, 0.0))
            else:
                t_ff = (0.04 + 0.12 * min(1.0, abs(a_ic) / 20.0)) * tc if run else 0.18 * tc
                knots.append((t_ic + t_ff, 0.0, 0.0))
                if math.isfinite(to):
                    knots += self._pushoff(t_ic + 0.55 * tc, 0.0, to, a_to, t_dec)
        knots.append((1e6, 0.0, 0.0))
        k = np.array(sorted(knots), dtype=float)
        # Drop knots closer than 1 ms (a stop followed at once by a start).
        keep = np.concatenate([[True], np.diff(k[:, 0]) > 1e-3])
        k = k[keep]
        self._kt, self._ky, self._km = k[:, 0], k[:, 1] * DEG, k[:, 2] * DEG

    def signals(self, t: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Specific force (m/s^2) and angular velocity (rad/s), each ``(len(t), 3)``."""
        t = np.asarray(t, dtype=float)
        n = t.shape[0]
        shin = self.mounting == Mounting.SHIN
        pitch, dpitch = _hermite(t, self._kt, self._ky, self._km)
        a = np.zeros((n, 3))  # world (heading) frame linear acceleration
        extra = np.zeros((n, 3))  # segment-frame transients (impact, loading)
        roll = np.zeros(n)
        droll = np.zeros(n)
        yaw = np.zeros(n)
        if len(self.ic):
            j = np.searchsorted(self.ic, t, side="right")  # next contact index
            # --- swing: t in [swing_start[j], ic[j]]
            jn = np.minimum(j, len(self.ic) - 1)
            s0 = self.swing_start[jn]
            in_sw = (j < len(self.ic)) & (t >= s0)
            if np.any(in_sw):
                ts = t[in_sw]
                js = jn[in_sw]
                dur = self.ic[js] - s0[in_sw]
                ph = (ts - s0[in_sw]) / dur
                sgn = 1.0 if self.side == Side.LEFT else -1.0
                inv = 5.0 * DEG * sgn
                roll[in_sw] = -inv * np.sin(math.pi * ph)
                droll[in_sw] = -inv * math.pi / dur * np.cos(math.pi * ph)
                yaw_sw = self.yaw[js] * (self.tc[js] + self.sw[js]) / dur
                yaw[in_sw] = yaw_sw * 2 * np.sin(math.pi * ph) ** 2
                a[in_sw, 1] = self.v[js] * self.yaw[js]  # centripetal, toward the turn
            # --- travel: the foot covers a stride length from heel rise (8 % of the stride
            # before toe-off) to just after landing (4 % after contact), not within the swing
            # alone; a stride-long swing-only profile would need 2-3 times the 3-5 g of
            # swing acceleration that shoe IMUs record (e.g. the gaitmap example data)
            k = np.searchsorted(self._travel_end, t, side="left")
            kk = np.minimum(k, len(self.ic) - 1)
            in_tr = (k < len(self.ic)) & (t >= self._travel_start[kk])
            if np.any(in_tr):
                ts = t[in_tr]
                js = kk[in_tr]
                t0 = self._travel_start[js]
                dur = self._travel_end[js] - t0
                ph = (ts - t0) / dur
                stride_len = self.v[js] * (self.tc[js] + self.sw[js]) * self.scale[js]
                gain = 0.5 if shin else 1.0
                vpk = 2.0 * stride_len / dur
                a[in_tr, 0] = gain * math.pi * vpk / dur * np.sin(2 * math.pi * ph)
                # foot height h sin^4(pi ph): zero acceleration at both ends
                h = np.where(self.run[js], 0.15, 0.08) * gain
                sn, cs = np.sin(math.pi * ph), np.cos(math.pi * ph)
                a[in_tr, 2] = h * 4 * math.pi**2 / dur**2 * (3 * sn**2 * cs**2 - sn**4)
            # --- stance: t in [ic[j-1], ...): loading transients
            jp = j - 1
            st = jp >= 0
            if np.any(st):
                ts = t[st]
                k = jp[st]
                u = ts - self.ic[k]
                tc = self.tc[k]
                run = self.run[k]
                amp = self.impact[k]
                if shin:
                    f_hz = np.where(run, 28.0, 14.0)
                    decay = np.where(run, 0.014, 0.03)
                else:
                    f_hz = np.where(run, 60.0, 30.0)
                    decay = np.where(run, 0.008, 0.02)
                imp = np.zeros(len(ts))
                for fh, dc in {(float(x), float(y)) for x, y in zip(f_hz, decay, strict=True)}:
                    m = (f_hz == fh) & (decay == dc)
                    imp[m] = _damped_unit(u[m], fh, dc)
                imp *= amp
                # push-off: the forefoot snaps off the ground just before toe-off; in walking
                # the burst at the foot is often as large as the heel strike (the voisard and
                # gaitmap recordings), at the shin and in running it is smaller
                burst = (0.25 if shin else 0.9) * np.where(run, 0.35, 1.0)
                vary = 0.75 + 0.5 * ((k * 0.618034) % 1.0)  # stride to stride
                t_push = tc - np.where(run, 0.015, 0.03)
                imp += amp * burst * vary * _damped_unit(u - t_push, 45.0, 0.012)
                loaded = (u >= 0) & (u <= tc)
                active_g = (1.6 if shin else 0.6) * np.where(run, 1.0, 0.4)
                active = np.where(
                    loaded, active_g * G * np.sin(math.pi * np.clip(u / tc, 0, 1)), 0.0
                )
                if shin:
                    extra[st, 2] = imp + active
                    extra[st, 0] = 0.25 * imp
                else:
                    extra[st, 2] = imp + active
                    extra[st, 0] = -0.3 * imp
                sgn = 1.0 if self.side == Side.LEFT else -1.0
                ev = 7.0 * DEG * sgn * np.where(run, 1.0, 0.6)
                # eversion while loading (to 25 % of stance), held through mid-stance
                # (the foot is still), inversion back during push-off (from 55 %)
                ph = np.clip(u / tc, 0.0, 1.0)
                up, dup = _smoothstep(ph / 0.25)
                down, ddown = _smoothstep((ph - 0.55) / 0.45)
                roll[st] += np.where(loaded, ev * (up - down), 0.0)
                droll[st] += np.where(loaded, ev * (dup / 0.25 - ddown / 0.45) / tc, 0.0)
        # Orientation R = Ry(beta) Rx(roll), beta = -pitch (toes up is -y rotation).
        beta, dbeta = -pitch, -dpitch
        cb, sb = np.cos(beta), np.sin(beta)
        cr, sr = np.cos(roll), np.sin(roll)
        v = a.copy()
        v[:, 2] += G  # specific force in the world frame: a - g, g pointing down
        # Ry(beta)^T v
        x1 = cb * v[:, 0] - sb * v[:, 2]
        y1 = v[:, 1]
        z1 = sb * v[:, 0] + cb * v[:, 2]
        # Rx(roll)^T
        f = np.empty((n, 3))
        f[:, 0] = x1
        f[:, 1] = cr * y1 + sr * z1
        f[:, 2] = -sr * y1 + cr * z1
        f += extra
        # angular velocity in the body frame: Rx^T Ry^T (0,0,yaw) + Rx^T (0,dbeta,0) + (droll,0,0)
        wz_world = yaw
        wx1 = -sb * wz_world
        wy1 = dbeta
        wz1 = cb * wz_world
        w = np.empty((n, 3))
        w[:, 0] = wx1 + droll
        w[:, 1] = cr * wy1 + sr * wz1
        w[:, 2] = -sr * wy1 + cr * wz1
        return f, w


def impact_truth(
    model: SegmentModel, resolution_s: float = 1e-4, window_s: float = 0.06
) -> tuple[FloatArray, FloatArray]:
    """Time and value (g) of each contact's impact peak, from the noise-free signal.

    Shoe: peak of the resultant specific force.  Shin: peak of the axial (along the
    tibia) specific force, gravity included, as peak tibial acceleration is reported.
    Both are taken within ``window_s`` after contact, before any clipping.
    """
    n = len(model.ic)
    offs = np.arange(0.0, window_s, resolution_s)
    grid = (model.ic[:, None] + offs[None, :]).ravel()
    f, _ = model.signals(grid)
    axial = model.mounting == Mounting.SHIN
    metric = (f[:, 2] if axial else np.linalg.norm(f, axis=1)).reshape(n, len(offs))
    k = np.argmax(metric, axis=1)
    return model.ic + offs[k], metric[np.arange(n), k] / G
