"""The event family: frozen, typed values with a stable JSON form.

Every event has ``type`` (the tag), ``t`` (seconds from the start of the session, on the
host clock the recording uses), ``sensor`` (its name; ``""`` for events about the
runner as a whole) and ``side`` (``left``, ``right``, ``unknown``, or ``both``), then its
fields with units in their names.  ``encode_json`` / ``decode_json`` give the wire form.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import msgspec

from sensorhub.types import StrikeLabel

#: What the runner is doing.
ActivityState: TypeAlias = Literal["standing", "walking", "running", "no signal"]
#: What a sensor's link did (battery: a new battery reading).
LinkState: TypeAlias = Literal[
    "connected", "disconnected", "reconnected", "battery", "failed", "gave up"
]
#: What the runner hears.
CueKind: TypeAlias = Literal["metronome", "impact"]
#: Along which direction an impact is measured.
ImpactAxis: TypeAlias = Literal["resultant", "axial"]


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    t: float
    sensor: str
    side: str


class FootStrike(Event, tag="footstrike", frozen=True, kw_only=True):
    """Initial contact, emitted within ``lookahead`` of it (see README)."""

    stride_s: float | None = None  # since this foot's previous contact
    envelope_g: float = 0.0  # size of the impact transient that marked it (high-passed)


class ToeOff(Event, tag="toe_off", frozen=True, kw_only=True):
    """The foot leaves the ground (needs a gyroscope)."""

    contact_ms: float | None = None  # None: a start from standing (no contact before)
    strike_angle_deg: float | None = None  # of this contact (shoe): toes up +


class Impact(Event, tag="impact", frozen=True, kw_only=True):
    """Peak acceleration after a contact.  ``t`` is the time of the peak."""

    contact_t: float
    peak_g: float
    loading_rate_g_per_s: float
    axis: ImpactAxis  # along the tibia (shin) or the resultant (shoe)
    clipped: bool = False  # the sensor hit full scale: the true peak is higher


class Step(Event, tag="step", frozen=True, kw_only=True):
    """Everything about one step, once its toe-off is known.  ``t`` is its contact."""

    contact_ms: float | None = None
    swing_ms: float | None = None  # the swing that ended at this contact
    stride_ms: float | None = None
    step_ms: float | None = None  # since the other foot's contact (two feet)
    flight_ms: float | None = None  # since the other foot's toe-off; < 0: double support
    strike_angle_deg: float | None = None  # foot angle at contact, toes up + (shoe)
    strike: StrikeLabel | None = None
    impact_g: float | None = None
    loading_rate_g_per_s: float | None = None


class Cadence(Event, tag="cadence", frozen=True, kw_only=True):
    """Steps per minute of the runner (both feet), at each contact."""

    step_cadence_spm: float  # from this step alone
    cadence_spm: float  # smoothed over the last steps
    steps: int  # how many steps the smoothed value spans


class Activity(Event, tag="activity", frozen=True, kw_only=True):
    """What the runner is doing; cadence and cues pause while standing.  "no signal": every
    sensor's link is down (an outage is not standing still)."""

    state: ActivityState


class Asymmetry(Event, tag="asymmetry", frozen=True, kw_only=True):
    """Left/right symmetry index, 100 (right - left) / mean, over the last steps."""

    window_steps: int
    contact_si_pct: float | None = None
    impact_si_pct: float | None = None
    step_time_si_pct: float | None = None


class Cue(Event, tag="cue", frozen=True, kw_only=True):
    """What the runner hears changes: the metronome starts, stops, changes target or
    loudness, or an impact tone plays."""

    cue: CueKind
    playing: bool = False
    target_spm: float | None = None
    gain: float = 0.0
    pitch_hz: float | None = None
    peak_g: float | None = None


class Link(Event, tag="link", frozen=True, kw_only=True):
    """A sensor's connection: connected, disconnected, reconnected (with the samples lost
    in the outage, exactly, from the sample index), or a new battery / signal reading."""

    state: LinkState
    address: str = ""
    reason: str | None = None  # why it disconnected
    outage_s: float | None = None  # reconnected: how long the link was down
    samples_lost: int | None = None  # reconnected: samples the sensor took meanwhile
    battery_pct: int | None = None
    rssi_dbm: int | None = None
    clock_offset_us: float | None = None  # (re)connected: device clock - host clock
    clock_rtt_ms: float | None = None  # the time-sync round trip it was measured with


class Pace(Event, tag="pace", frozen=True, kw_only=True):
    """A running speed and cadence sensor's (footpod's) reading, at the pod's rate
    (about 1 Hz): a speed and cadence reference beside the IMUs, and pace and distance
    when no IMU gives them.  ``cadence_spm`` counts steps (both feet): a pod that reports
    strides (one foot) is doubled (``cadence_doubled``)."""

    speed_m_s: float
    pace_s_per_km: float | None = None  # None while standing (speed 0)
    cadence_spm: float
    cadence_doubled: bool = False
    stride_m: float | None = None
    distance_m: float | None = None  # the pod's total distance, if it reports one
    running: bool | None = None  # the pod's walking/running bit, if it reports one


class Summary(Event, tag="summary", frozen=True, kw_only=True):
    """The session at its end: what a runner or coach looks at afterwards."""

    duration_s: float
    running_s: float
    steps: int
    cadence_spm: float | None = None  # median while running
    contact_ms: float | None = None  # median
    impact_g: float | None = None  # median
    impact_p90_g: float | None = None
    strike_pct: dict[str, float] = {}  # rearfoot / midfoot / forefoot shares
    contact_si_pct: float | None = None  # the last asymmetry values
    impact_si_pct: float | None = None
    step_time_si_pct: float | None = None
    #: a footpod's view beside the IMUs' (None without a pod)
    pod_cadence_spm: float | None = None  # median of the pod's cadence while running
    pod_speed_m_s: float | None = None  # median while running
    pod_distance_m: float | None = None  # distance the pod covered in the session


AnyEvent: TypeAlias = (
    FootStrike
    | ToeOff
    | Impact
    | Step
    | Cadence
    | Activity
    | Asymmetry
    | Cue
    | Link
    | Pace
    | Summary
)
EVENT_TYPES: tuple[type[Event], ...] = (
    FootStrike,
    ToeOff,
    Impact,
    Step,
    Cadence,
    Activity,
    Asymmetry,
    Cue,
    Link,
    Pace,
    Summary,
)

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(AnyEvent)


def encode_json(event: AnyEvent) -> bytes:
    return _encoder.encode(event)


def decode_json(data: bytes | str) -> AnyEvent:
    event: AnyEvent = _decoder.decode(data)
    return event


def shifted(event: AnyEvent, origin_s: float) -> AnyEvent:
    """The event with its times on another axis: ``origin_s`` added to ``t`` (and to an
    impact's ``contact_t``), e.g. to give times on an imported CSV's own time column."""
    if not origin_s:
        return event
    if isinstance(event, Impact):
        return msgspec.structs.replace(
            event, t=event.t + origin_s, contact_t=event.contact_t + origin_s
        )
    return msgspec.structs.replace(event, t=event.t + origin_s)
