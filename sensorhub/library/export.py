"""A session as the files other tools read: FIT, TCX, GPX and CSV (pure: no I/O).

``export(data, fmt)`` gives the file's bytes.  ``docs/exports.md`` describes every format,
field and unit; the rules, in short:

* **One record per second** (FIT, TCX, GPX) at each whole Unix second inside the
  session.  A record carries the *latest step* at that second: the step whose contact
  is at or before it, if no more than ``STALE_S`` before (else the runner is standing
  or the feet are not seen: the gait fields are left out, never carried on).  Per-foot
  fields take the latest step of that foot under the same rule.
* **Cadence**: the library's steps/min (both feet, smoothed); FIT, TCX and GPX count
  strides/min (one foot), as Garmin writes them: ``strides = steps / 2``.  FIT keeps the
  fraction (``fractional_cadence``, 1/128 stride/min); TCX and GPX take whole strides.
* **Speed, distance, heart rate, position** only where a track knows them (a watch file
  imported with ``import-activity``, else a footpod), interpolated between its points no
  further apart than ``metrics.TRACK_GAP_S``; nothing is made up where none is known.
  ``step_length`` only where speed is known: speed / step rate.
* **Laps**: one per kilometre where the distance is known, else one for the session.
  Averages are means over the lap's steps while running (all its steps if none).
"""

from __future__ import annotations

import csv
import io
import math
import struct
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree as ET

import numpy as np
import numpy.typing as npt
from fit_tool.base_type import BaseType  # type: ignore[import-untyped]
from fit_tool.definition_message import DefinitionMessage  # type: ignore[import-untyped]
from fit_tool.developer_field import DeveloperField  # type: ignore[import-untyped]
from fit_tool.exceptions import FitEncodingError  # type: ignore[import-untyped]
from fit_tool.fit_file_header import FitFileHeader  # type: ignore[import-untyped]
from fit_tool.profile.messages.activity_message import (  # type: ignore[import-untyped]
    ActivityMessage,
)
from fit_tool.profile.messages.developer_data_id_message import (  # type: ignore[import-untyped]
    DeveloperDataIdMessage,
)
from fit_tool.profile.messages.device_info_message import (  # type: ignore[import-untyped]
    DeviceInfoMessage,
)
from fit_tool.profile.messages.event_message import EventMessage  # type: ignore[import-untyped]
from fit_tool.profile.messages.field_description_message import (  # type: ignore[import-untyped]
    FieldDescriptionMessage,
)
from fit_tool.profile.messages.file_id_message import FileIdMessage  # type: ignore[import-untyped]
from fit_tool.profile.messages.lap_message import LapMessage  # type: ignore[import-untyped]
from fit_tool.profile.messages.record_message import RecordMessage  # type: ignore[import-untyped]
from fit_tool.profile.messages.session_message import (  # type: ignore[import-untyped]
    SessionMessage,
)
from fit_tool.profile.profile_type import (  # type: ignore[import-untyped]
    Activity,
    Event,
    EventType,
    FileType,
    LapTrigger,
    Manufacturer,
    SessionTrigger,
    Sport,
    SubSport,
)
from fit_tool.record import Record  # type: ignore[import-untyped]
from fit_tool.utils.crc import crc16  # type: ignore[import-untyped]

from sensorhub.errors import LibraryError
from sensorhub.library import metrics
from sensorhub.library.metrics import Array, Steps
from sensorhub.library.view import SessionData

#: The formats ``export`` writes.
FORMATS = ("fit", "tcx", "gpx", "csv")
#: A step older than this at a record's second is not carried on to it.
STALE_S = 2.0
#: Auto-lap distance where the distance is known.
LAP_M = 1000.0
#: FIT's epoch (1989-12-31 00:00 UTC) in Unix seconds.
FIT_EPOCH_UNIX = 631065600
#: sensorhub's FIT developer application (a fixed UUID, the same in every file).
FIT_APPLICATION_ID = uuid.uuid5(uuid.NAMESPACE_URL, "https://sensorhub/fit-developer-fields").bytes
#: The foot-strike developer field's codes (FIT invalid, 255: unknown).
STRIKE_CODES = {"rearfoot": 1, "midfoot": 2, "forefoot": 3}

#: The CSV's columns, in order, with their units in their names (``docs/exports.md``).
CSV_COLUMNS = (
    "t_s",
    "time_utc",
    "side",
    "running",
    "cadence_spm",
    "step_cadence_spm",
    "contact_ms",
    "flight_ms",
    "impact_g",
    "loading_rate_g_per_s",
    "strike",
    "speed_m_s",
    "step_length_m",
)


# ---------------------------------------------------------------------------- per second
@dataclass
class Seconds:
    """The session at each whole Unix second inside it (NaN / "" where unknown)."""

    unix: npt.NDArray[np.int64]  # the record's time, whole Unix seconds
    t_s: Array  # the same, in seconds from the session start
    cadence_spm: Array  # the latest step's (steps/min, both feet, smoothed)
    contact_ms: Array  # the latest step's
    impact_g: Array
    loading_rate_g_per_s: Array
    strike: npt.NDArray[np.str_]
    contact_left_ms: Array  # the latest left step's
    contact_right_ms: Array
    speed_m_s: Array  # from the track
    distance_m: Array  # from the session start
    heart_rate_bpm: Array
    lat_deg: Array
    lon_deg: Array
    altitude_m: Array

    def __len__(self) -> int:
        return len(self.unix)

    @property
    def stance_balance_pct(self) -> Array:
        """The left foot's share of the stance time, % (FIT ``stance_time_balance``)."""
        total = self.contact_left_ms + self.contact_right_ms
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, 100.0 * self.contact_left_ms / total, np.nan)

    @property
    def step_length_m(self) -> Array:
        """Speed / step rate, where both are known."""
        with np.errstate(invalid="ignore", divide="ignore"):
            out = self.speed_m_s * 60.0 / self.cadence_spm
        return np.where(np.isfinite(out) & (self.cadence_spm > 0), out, np.nan)


def _latest(t_steps: Array, t: Array) -> npt.NDArray[np.intp]:
    """Index of the latest step at or before each ``t`` no more than STALE_S before; -1."""
    if not len(t_steps):
        return np.full(len(t), -1, np.intp)
    k = np.searchsorted(t_steps, t, side="right") - 1
    kk = np.clip(k, 0, len(t_steps) - 1)
    ok = (k >= 0) & (t - t_steps[kk] <= STALE_S)
    return np.where(ok, k, -1).astype(np.intp)


def _pick(values: Array, idx: npt.NDArray[np.intp]) -> Array:
    if not len(values):
        return np.full(len(idx), np.nan)
    return np.where(idx >= 0, values[np.clip(idx, 0, None)], np.nan)


def _interp(t: Array, track_t: Array, values: Array) -> Array:
    """``values`` at ``t``, linear between track points no further apart than
    TRACK_GAP_S; NaN outside the track and across longer gaps."""
    ok = np.isfinite(values) & np.isfinite(track_t)
    tt, vv = track_t[ok], values[ok]
    out = np.full(len(t), np.nan)
    if not len(tt) or not len(t):
        return out
    order = np.argsort(tt, kind="stable")
    tt, vv = tt[order], vv[order]
    if len(tt) == 1:
        out[np.abs(t - tt[0]) < 1e-6] = vv[0]
        return out
    k = np.searchsorted(tt, t)
    kk = np.clip(k, 1, len(tt) - 1)
    inside = (t >= tt[0]) & (t <= tt[-1]) & (tt[kk] - tt[kk - 1] <= metrics.TRACK_GAP_S)
    out[inside] = np.interp(t[inside], tt, vv)
    return out


def _track_source(data: SessionData) -> list[dict[str, Any]]:
    """The track points used: a watch file's if one was imported, else a footpod's (as
    ``Library.put_track`` chooses for the steps' speed)."""
    best = "watch" if any(p["source"] == "watch" for p in data.track) else "footpod"
    return sorted((p for p in data.track if p["source"] == best), key=lambda p: p["t_s"])


def _column(points: Sequence[dict[str, Any]], name: str) -> Array:
    return metrics.as_array([p[name] for p in points])


def _distance(t: Array, track_t: Array, dist: Array, speed: Array) -> Array:
    """Distance from the session start at ``t`` (sorted, s from the start): the track's own
    distance where it has one, else the integral of the known speed (``speed`` at ``t``)."""
    if np.sum(np.isfinite(dist)) >= 2:
        at0 = float(_interp(np.zeros(1), track_t, dist)[0])
        ref = at0 if math.isfinite(at0) else float(dist[np.isfinite(dist)][0])
        out: Array = _interp(t, track_t, dist) - ref
        return out
    if not np.any(np.isfinite(speed)):
        return np.full(len(t), np.nan)
    v = np.where(np.isfinite(speed), speed, 0.0)
    steps = np.zeros(len(t))
    if len(t) > 1:
        both = np.isfinite(speed[1:]) & np.isfinite(speed[:-1])
        steps[1:] = np.where(both, 0.5 * (v[1:] + v[:-1]) * np.diff(t), 0.0)
    return np.where(np.isfinite(speed), np.cumsum(steps), np.nan)


def distance_at(data: SessionData, t: Array) -> Array:
    """The session's distance from its start at times ``t`` (s from the start; NaN where
    unknown), from its track as the records have it."""
    order = np.argsort(t, kind="stable")
    grid = np.concatenate([[0.0], t[order]])  # a speed integral starts at the start
    points = _track_source(data)
    track_t = _column(points, "t_s")
    speed = _interp(grid, track_t, _column(points, "speed_m_s"))
    d = _distance(grid, track_t, _column(points, "distance_m"), speed)[1:]
    out = np.empty(len(t))
    out[order] = d
    return out


def seconds(data: SessionData) -> Seconds:
    """The per-second table every track-like format is written from."""
    start = float(data.row["started_unix"])
    end = start + data.duration_s
    unix = np.arange(math.ceil(start), math.floor(end) + 1, dtype=np.int64)
    t = unix.astype(float) - start
    st = data.steps
    order = np.argsort(st.t_s, kind="stable")
    st = Steps(**{k: v[order] for k, v in st.__dict__.items()})
    idx = _latest(st.t_s, t)
    strike = (
        np.where(idx >= 0, st.strike[np.clip(idx, 0, None)], "")
        if len(st)
        else np.full(len(t), "", dtype=str)
    )

    def foot(side: str) -> Array:
        s = st.take(st.side == side)
        return _pick(s.contact_ms, _latest(s.t_s, t))

    points = _track_source(data)
    track_t = _column(points, "t_s")
    speed = _interp(t, track_t, _column(points, "speed_m_s"))
    return Seconds(
        unix=unix,
        t_s=t,
        cadence_spm=_pick(st.cadence_spm, idx),
        contact_ms=_pick(st.contact_ms, idx),
        impact_g=_pick(st.impact_g, idx),
        loading_rate_g_per_s=_pick(st.loading_rate_g_per_s, idx),
        strike=np.asarray(strike, dtype=str),
        contact_left_ms=foot("left"),
        contact_right_ms=foot("right"),
        speed_m_s=speed,
        distance_m=distance_at(data, t),
        heart_rate_bpm=_interp(t, track_t, _column(points, "heart_rate_bpm")),
        lat_deg=_interp(t, track_t, _column(points, "lat_deg")),
        lon_deg=_interp(t, track_t, _column(points, "lon_deg")),
        altitude_m=_interp(t, track_t, _column(points, "altitude_m")),
    )


# ---------------------------------------------------------------------------- laps
@dataclass(frozen=True)
class Lap:
    """One lap: its span (Unix s), the records in it (``Seconds`` indices a:b) and its
    figures (None where unknown)."""

    start_unix: float
    end_unix: float
    a: int
    b: int
    by_distance: bool  # ended at a kilometre (else at the end of the session)
    steps: int
    distance_m: float | None
    avg_speed_m_s: float | None
    max_speed_m_s: float | None
    cadence_spm: float | None  # mean while running, steps/min
    max_cadence_spm: float | None
    contact_ms: float | None
    stance_balance_pct: float | None
    step_length_m: float | None
    heart_rate_bpm: float | None
    max_heart_rate_bpm: float | None

    @property
    def elapsed_s(self) -> float:
        return self.end_unix - self.start_unix


def _mean(x: Array) -> float | None:
    x = x[np.isfinite(x)]
    return float(np.mean(x)) if len(x) else None


def _max(x: Array) -> float | None:
    x = x[np.isfinite(x)]
    return float(np.max(x)) if len(x) else None


def _lap(
    data: SessionData,
    sec: Seconds,
    run: Steps,
    span: tuple[float, float],
    ab: tuple[int, int],
    by_distance: bool,
    distance_m: float | None,
) -> Lap:
    start = float(data.row["started_unix"])
    lo, hi = span[0] - start, span[1] - start
    every = data.steps.take((data.steps.t_s >= lo) & (data.steps.t_s < hi))
    steps = run.take((run.t_s >= lo) & (run.t_s < hi))
    if not len(steps):
        steps = every
    a, b = ab
    left = _mean(steps.contact_ms[steps.side == "left"])
    right = _mean(steps.contact_ms[steps.side == "right"])
    balance = 100.0 * left / (left + right) if left and right else None
    elapsed = span[1] - span[0]
    avg_speed = distance_m / elapsed if distance_m is not None and elapsed > 0 else None
    step_length = distance_m / len(every) if distance_m and len(every) else None
    return Lap(
        start_unix=span[0],
        end_unix=span[1],
        a=a,
        b=b,
        by_distance=by_distance,
        steps=len(every),
        distance_m=distance_m,
        avg_speed_m_s=avg_speed,
        max_speed_m_s=_max(sec.speed_m_s[a:b]),
        cadence_spm=_mean(steps.cadence_spm),
        max_cadence_spm=_max(steps.cadence_spm),
        contact_ms=_mean(steps.contact_ms),
        stance_balance_pct=balance,
        step_length_m=step_length,
        heart_rate_bpm=_mean(sec.heart_rate_bpm[a:b]),
        max_heart_rate_bpm=_max(sec.heart_rate_bpm[a:b]),
    )


def _known_distance(data: SessionData, sec: Seconds, t: Array) -> Array:
    """Distance at ``t``; where the track does not reach, the nearest record's (the
    distance stands still before the track starts and after it ends)."""
    d = distance_at(data, t)
    ok = np.isfinite(sec.distance_m)
    if np.any(ok):
        d = np.where(np.isfinite(d), d, np.interp(t, sec.t_s[ok], sec.distance_m[ok]))
    return d


def laps(data: SessionData, sec: Seconds | None = None) -> tuple[list[Lap], Lap]:
    """The laps (one per LAP_M where the distance is known, else one) and the session as
    one lap (its distance the session's own where the library has one)."""
    sec = sec if sec is not None else seconds(data)
    start = float(data.row["started_unix"])
    end = start + data.duration_s
    run = data.running_steps()
    cuts: list[int] = []  # record indices where a new lap starts
    if np.any(np.isfinite(sec.distance_m)):
        km = np.floor(np.where(np.isfinite(sec.distance_m), sec.distance_m, -1.0) / LAP_M)
        best = -1.0
        for i, k in enumerate(km):
            if k > best and k >= 1 and i > 0:
                cuts.append(i)
            best = max(best, k)
    bounds = [start] + [float(sec.unix[i]) for i in cuts] + [end]
    index = [0, *cuts, len(sec)]
    at_bounds = _known_distance(data, sec, np.array(bounds) - start)
    out: list[Lap] = []
    for j in range(len(bounds) - 1):
        d0, d1 = at_bounds[j], at_bounds[j + 1]
        dist = None if not (np.isfinite(d0) and np.isfinite(d1)) else max(0.0, float(d1 - d0))
        out.append(
            _lap(
                data,
                sec,
                run,
                (bounds[j], bounds[j + 1]),
                (index[j], index[j + 1]),
                j < len(bounds) - 2,
                dist,
            )
        )
    total = data.row.get("distance_m")
    if total is None:
        known = [lap.distance_m for lap in out if lap.distance_m is not None]
        total = sum(known) if known else None
    whole = _lap(data, sec, run, (start, end + 1e-9), (0, len(sec)), False, total)
    return out, whole


# ---------------------------------------------------------------------------- FIT
def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _strides(spm: float | None) -> tuple[int, int] | None:
    """Steps/min as FIT's (cadence, fractional_cadence raw): strides/min and 1/128ths."""
    if spm is None or not math.isfinite(spm) or spm < 0:
        return None
    raw = round(spm / 2.0 * 128.0)
    whole, frac = divmod(raw, 128)
    return (whole, frac) if whole <= 254 else None


class _FitWriter:
    """FIT records as bytes, one after the other (fit-tool encodes each message; the file
    header and CRC are added at the end).  Every message type is defined once with a fixed
    set of fields: an unknown value is written as FIT's invalid value, so the definition
    never changes within a file."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self._next_local = 0

    def define(self, msg: Any) -> None:
        msg.local_id = self._next_local
        self._next_local += 1
        definition = DefinitionMessage.from_data_message(msg)
        self.chunks.append(Record.from_message(definition).to_bytes())
        msg.set_definition_message(definition)

    def write(self, msg: Any) -> None:
        self.chunks.append(Record.from_message(msg).to_bytes())

    def finish(self) -> bytes:
        body = b"".join(self.chunks)
        header = FitFileHeader(records_size=len(body), gen_crc=True).to_bytes()
        return bytes(header + body + struct.pack("<H", crc16(body, crc=crc16(header))))


def _put(msg: Any, name: str, value: Any) -> None:
    """Set a field by its FIT name; None, NaN or a value out of the field's range is
    written as FIT's invalid value (the field stays in the definition)."""
    field = msg.get_field_by_name(name)
    if field is None:
        raise KeyError(f"{msg.name} has no field {name}")
    if isinstance(value, float) and not math.isfinite(value):
        value = None
    try:
        field.set_value(0, value)
    except (FitEncodingError, OverflowError, ValueError):
        field.set_value(0, None)


def _ms(unix: float) -> int:
    return round(unix * 1000.0)


@dataclass(frozen=True)
class _DevField:
    number: int
    name: str
    units: str
    base: str  # fit-tool BaseType name
    size: int


DEV_FIELDS = (
    _DevField(0, "impact", "g", "FLOAT32", 4),
    _DevField(1, "loading_rate", "g/s", "FLOAT32", 4),
    _DevField(2, "foot_strike", "1 rear 2 mid 3 fore", "UINT8", 1),
    _DevField(3, "contact_time_left", "ms", "FLOAT32", 4),
    _DevField(4, "contact_time_right", "ms", "FLOAT32", 4),
)


def _lap_fields(msg: Any, lap: Lap, has_distance: bool) -> None:
    _put(msg, "timestamp", _ms(math.ceil(lap.end_unix)))
    _put(msg, "start_time", _ms(math.floor(lap.start_unix)))
    _put(msg, "total_elapsed_time", lap.elapsed_s)
    _put(msg, "total_timer_time", lap.elapsed_s)
    _put(msg, "sport", Sport.RUNNING.value)
    _put(msg, "sub_sport", SubSport.GENERIC.value)
    st = _strides(lap.cadence_spm)
    _put(msg, "avg_cadence", None if st is None else st[0])
    _put(msg, "avg_fractional_cadence", None if st is None else st[1] / 128.0)
    mx = _strides(lap.max_cadence_spm)
    _put(msg, "max_cadence", None if mx is None else mx[0])
    _put(msg, "max_fractional_cadence", None if mx is None else mx[1] / 128.0)
    _put(msg, "total_cycles", round(lap.steps / 2))  # strides
    _put(msg, "avg_stance_time", lap.contact_ms)
    _put(msg, "avg_stance_time_balance", lap.stance_balance_pct)
    _put(msg, "avg_heart_rate", None if lap.heart_rate_bpm is None else round(lap.heart_rate_bpm))
    _put(
        msg,
        "max_heart_rate",
        None if lap.max_heart_rate_bpm is None else round(lap.max_heart_rate_bpm),
    )
    if has_distance:
        _put(msg, "total_distance", lap.distance_m)
        _put(msg, "avg_speed", lap.avg_speed_m_s)
        _put(msg, "enhanced_avg_speed", lap.avg_speed_m_s)
        _put(msg, "max_speed", lap.max_speed_m_s)
        _put(msg, "enhanced_max_speed", lap.max_speed_m_s)
        _put(msg, "avg_step_length", None if lap.step_length_m is None else lap.step_length_m * 1e3)


def to_fit(data: SessionData, sec: Seconds | None = None) -> bytes:
    """A FIT activity file: file_id, developer fields, device_info, timer start, one record
    per second, timer stop, laps, session (running), activity."""
    sec = sec if sec is not None else seconds(data)
    the_laps, whole = laps(data, sec)
    start = float(data.row["started_unix"])
    end = start + data.duration_s
    w = _FitWriter()
    dev = Manufacturer.DEVELOPMENT.value
    serial = int(str(data.row.get("uid") or "0")[:8] or "0", 16) or data.id or 1

    m = FileIdMessage()
    _put(m, "type", FileType.ACTIVITY.value)
    _put(m, "manufacturer", dev)
    _put(m, "product", 1)
    _put(m, "serial_number", serial)
    _put(m, "time_created", _ms(math.floor(start)))
    m.product_name = "sensorhub"
    w.define(m)
    w.write(m)

    m = DeveloperDataIdMessage()
    m.application_id = FIT_APPLICATION_ID
    _put(m, "developer_data_index", 0)
    _put(m, "manufacturer_id", dev)
    _put(m, "application_version", 1)
    w.define(m)
    w.write(m)
    fd = FieldDescriptionMessage()
    for k, f in enumerate(DEV_FIELDS):
        _put(fd, "developer_data_index", 0)
        _put(fd, "field_definition_number", f.number)
        _put(fd, "fit_base_type_id", getattr(BaseType, f.base).value)
        _put(fd, "native_mesg_num", RecordMessage.ID)
        if not k:  # a string's size is fixed by the definition: define with the longest
            fd.field_name = "x" * max(len(x.name) for x in DEV_FIELDS)
            fd.units = "x" * max(len(x.units) for x in DEV_FIELDS)
            w.define(fd)
        fd.field_name, fd.units = f.name, f.units
        w.write(fd)

    m = DeviceInfoMessage()
    _put(m, "timestamp", _ms(math.floor(start)))
    _put(m, "device_index", 0)  # the creator
    _put(m, "manufacturer", dev)
    _put(m, "product", 1)
    _put(m, "serial_number", serial)
    _put(m, "software_version", 1.0)
    m.product_name = "sensorhub"
    w.define(m)
    w.write(m)

    ev = EventMessage()
    _put(ev, "timestamp", _ms(math.floor(start)))
    _put(ev, "event", Event.TIMER.value)
    _put(ev, "event_type", EventType.START.value)
    _put(ev, "event_group", 0)
    w.define(ev)
    w.write(ev)

    has_speed = bool(np.any(np.isfinite(sec.speed_m_s)))
    has_distance = (
        bool(np.any(np.isfinite(sec.distance_m))) or data.row.get("distance_m") is not None
    )
    has_hr = bool(np.any(np.isfinite(sec.heart_rate_bpm)))
    has_pos = bool(np.any(np.isfinite(sec.lat_deg) & np.isfinite(sec.lon_deg)))
    has_alt = bool(np.any(np.isfinite(sec.altitude_m)))
    devs = [
        DeveloperField(
            developer_data_index=0,
            field_id=f.number,
            name=f.name,
            units=f.units,
            base_type=getattr(BaseType, f.base),
            size=f.size,
        )
        for f in DEV_FIELDS
    ]
    for d in devs:
        d.set_value(0, None)
    rec = RecordMessage(developer_fields=devs)
    balance, step_length = sec.stance_balance_pct, sec.step_length_m
    names = ["timestamp", "cadence", "fractional_cadence", "stance_time", "stance_time_balance"]
    if has_speed:
        names += ["speed", "enhanced_speed", "step_length"]
    if has_distance:
        names.append("distance")
    if has_hr:
        names.append("heart_rate")
    if has_pos:
        names += ["position_lat", "position_long"]
    if has_alt:
        names.append("enhanced_altitude")
    for name in names:
        _put(rec, name, None)
    w.define(rec)
    for i in range(len(sec)):
        _put(rec, "timestamp", int(sec.unix[i]) * 1000)
        st = _strides(_num(sec.cadence_spm[i]))
        _put(rec, "cadence", None if st is None else st[0])
        _put(rec, "fractional_cadence", None if st is None else st[1] / 128.0)
        _put(rec, "stance_time", _num(sec.contact_ms[i]))
        _put(rec, "stance_time_balance", _num(balance[i]))
        if has_speed:
            v = _num(sec.speed_m_s[i])
            _put(rec, "speed", v)
            _put(rec, "enhanced_speed", v)
            sl = _num(step_length[i])
            _put(rec, "step_length", None if sl is None else sl * 1e3)
        if has_distance:
            _put(rec, "distance", _num(sec.distance_m[i]))
        if has_hr:
            hr = _num(sec.heart_rate_bpm[i])
            _put(rec, "heart_rate", None if hr is None else round(hr))
        if has_pos:
            _put(rec, "position_lat", _num(sec.lat_deg[i]))
            _put(rec, "position_long", _num(sec.lon_deg[i]))
        if has_alt:
            _put(rec, "enhanced_altitude", _num(sec.altitude_m[i]))
        values = (
            _num(sec.impact_g[i]),
            _num(sec.loading_rate_g_per_s[i]),
            STRIKE_CODES.get(str(sec.strike[i])),
            _num(sec.contact_left_ms[i]),
            _num(sec.contact_right_ms[i]),
        )
        for d, v in zip(devs, values, strict=True):
            d.set_value(0, v)
        w.write(rec)

    _put(ev, "timestamp", _ms(math.ceil(end)))
    _put(ev, "event", Event.TIMER.value)
    _put(ev, "event_type", EventType.STOP_ALL.value)
    w.write(ev)

    lap_msg = LapMessage()
    _lap_fields(lap_msg, the_laps[0], has_distance)
    _put(lap_msg, "message_index", 0)
    _put(lap_msg, "event", Event.LAP.value)
    _put(lap_msg, "event_type", EventType.STOP.value)
    _put(lap_msg, "lap_trigger", LapTrigger.SESSION_END.value)
    _put(lap_msg, "intensity", 0)
    w.define(lap_msg)
    for k, lap in enumerate(the_laps):
        _lap_fields(lap_msg, lap, has_distance)
        _put(lap_msg, "message_index", k)
        trigger = LapTrigger.DISTANCE if lap.by_distance else LapTrigger.SESSION_END
        _put(lap_msg, "lap_trigger", trigger.value)
        w.write(lap_msg)

    s = SessionMessage()
    _lap_fields(s, whole, has_distance)
    _put(s, "message_index", 0)
    _put(s, "event", Event.SESSION.value)
    _put(s, "event_type", EventType.STOP.value)
    _put(s, "trigger", SessionTrigger.ACTIVITY_END.value)
    _put(s, "first_lap_index", 0)
    _put(s, "num_laps", len(the_laps))
    _put(s, "total_moving_time", data.row.get("running_s"))
    w.define(s)
    w.write(s)

    a = ActivityMessage()
    _put(a, "timestamp", _ms(math.ceil(end)))
    _put(a, "total_timer_time", data.duration_s)
    _put(a, "num_sessions", 1)
    _put(a, "type", Activity.MANUAL.value)
    _put(a, "event", Event.ACTIVITY.value)
    _put(a, "event_type", EventType.STOP.value)
    offset = time.localtime(math.ceil(end)).tm_gmtoff
    _put(a, "local_timestamp", math.ceil(end) + offset - FIT_EPOCH_UNIX)
    w.define(a)
    w.write(a)
    return w.finish()


# ---------------------------------------------------------------------------- TCX / GPX
def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fmt(x: float, nd: int) -> str:
    return f"{x:.{nd}f}"


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    e = ET.SubElement(parent, tag)
    if text is not None:
        e.text = text
    return e


def _xml(root: ET.Element) -> bytes:
    ET.indent(root, space=" ")
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


TCX_NS = "http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2"
TCX_AX2 = "http://www.garmin.com/xmlschemas/ActivityExtension/v2"
GPX_NS = "http://www.topografix.com/GPX/1/1"
GPX_TPX = "http://www.garmin.com/xmlschemas/TrackPointExtension/v1"
XSI = "http://www.w3.org/2001/XMLSchema-instance"


def _whole_strides(spm: float) -> str | None:
    """Steps/min as whole strides/min (TCX ``RunCadence``, GPX ``cad``)."""
    if not math.isfinite(spm) or spm < 0:
        return None
    return str(min(254, round(spm / 2.0)))


def to_tcx(data: SessionData, sec: Seconds | None = None) -> bytes:
    """A TCX activity (sport Running): laps of trackpoints with time, position, altitude,
    distance and heart rate where known, and the ActivityExtension's speed and
    ``RunCadence`` (strides/min).  TCX has nothing for contact time, impact or the rest
    of the gait: FIT carries those."""
    sec = sec if sec is not None else seconds(data)
    the_laps, _ = laps(data, sec)
    start = float(data.row["started_unix"])
    root = ET.Element(
        "TrainingCenterDatabase",
        {
            "xmlns": TCX_NS,
            "xmlns:ns3": TCX_AX2,
            "xmlns:xsi": XSI,
            "xsi:schemaLocation": f"{TCX_NS} http://www.garmin.com/xmlschemas/"
            "TrainingCenterDatabasev2.xsd",
        },
    )
    act = _sub(_sub(root, "Activities"), "Activity")
    act.set("Sport", "Running")
    _sub(act, "Id", _iso(math.floor(start)))
    for lap in the_laps:
        el = _sub(act, "Lap")
        el.set("StartTime", _iso(math.floor(lap.start_unix)))
        _sub(el, "TotalTimeSeconds", _fmt(lap.elapsed_s, 3))
        # required by the schema: 0 where the distance is unknown
        _sub(el, "DistanceMeters", _fmt(lap.distance_m or 0.0, 2))
        if lap.max_speed_m_s is not None:
            _sub(el, "MaximumSpeed", _fmt(lap.max_speed_m_s, 3))
        _sub(el, "Calories", "0")
        if lap.heart_rate_bpm is not None:
            _sub(_sub(el, "AverageHeartRateBpm"), "Value", str(round(lap.heart_rate_bpm)))
        if lap.max_heart_rate_bpm is not None:
            _sub(_sub(el, "MaximumHeartRateBpm"), "Value", str(round(lap.max_heart_rate_bpm)))
        _sub(el, "Intensity", "Active")
        _sub(el, "TriggerMethod", "Distance" if lap.by_distance else "Manual")
        track = _sub(el, "Track")
        for i in range(lap.a, lap.b):
            tp = _sub(track, "Trackpoint")
            _sub(tp, "Time", _iso(float(sec.unix[i])))
            lat, lon = float(sec.lat_deg[i]), float(sec.lon_deg[i])
            if math.isfinite(lat) and math.isfinite(lon):
                pos = _sub(tp, "Position")
                _sub(pos, "LatitudeDegrees", _fmt(lat, 7))
                _sub(pos, "LongitudeDegrees", _fmt(lon, 7))
            if math.isfinite(sec.altitude_m[i]):
                _sub(tp, "AltitudeMeters", _fmt(float(sec.altitude_m[i]), 1))
            if math.isfinite(sec.distance_m[i]):
                _sub(tp, "DistanceMeters", _fmt(float(sec.distance_m[i]), 2))
            if math.isfinite(sec.heart_rate_bpm[i]):
                _sub(_sub(tp, "HeartRateBpm"), "Value", str(round(float(sec.heart_rate_bpm[i]))))
            cad = _whole_strides(float(sec.cadence_spm[i]))
            speed = float(sec.speed_m_s[i])
            if cad is not None or math.isfinite(speed):
                tpx = _sub(_sub(tp, "Extensions"), "ns3:TPX")
                if math.isfinite(speed):
                    _sub(tpx, "ns3:Speed", _fmt(speed, 3))
                if cad is not None:
                    _sub(tpx, "ns3:RunCadence", cad)
        lx_items = []
        if lap.avg_speed_m_s is not None:
            lx_items.append(("ns3:AvgSpeed", _fmt(lap.avg_speed_m_s, 3)))
        if lap.cadence_spm is not None:
            lx_items.append(("ns3:AvgRunCadence", str(min(254, round(lap.cadence_spm / 2)))))
        if lap.max_cadence_spm is not None:
            lx_items.append(("ns3:MaxRunCadence", str(min(254, round(lap.max_cadence_spm / 2)))))
        if lx_items:
            lx = _sub(_sub(el, "Extensions"), "ns3:LX")
            for tag, text in lx_items:
                _sub(lx, tag, text)
    creator = _sub(act, "Creator")
    creator.set("xsi:type", "Device_t")
    _sub(creator, "Name", "sensorhub")
    _sub(creator, "UnitId", "0")
    _sub(creator, "ProductID", "0")
    version = _sub(creator, "Version")
    _sub(version, "VersionMajor", "0")
    _sub(version, "VersionMinor", "1")
    return _xml(root)


def to_gpx(data: SessionData, sec: Seconds | None = None) -> bytes:
    """A GPX 1.1 track: one point per second where the position is known, with elevation
    and Garmin's TrackPointExtension heart rate and cadence (``cad``, strides/min).
    LibraryError when the session has no positions (GPX has no point without one)."""
    sec = sec if sec is not None else seconds(data)
    has = np.isfinite(sec.lat_deg) & np.isfinite(sec.lon_deg)
    if not np.any(has):
        raise LibraryError(
            f"session {data.id} has no GPS positions, and a GPX file is made of them",
            "import the watch file of the run first (sensorhub import-activity FILE), or "
            "export --format fit or tcx, which do without",
        )
    start = float(data.row["started_unix"])
    root = ET.Element(
        "gpx",
        {
            "version": "1.1",
            "creator": "sensorhub",
            "xmlns": GPX_NS,
            "xmlns:gpxtpx": GPX_TPX,
            "xmlns:xsi": XSI,
            "xsi:schemaLocation": f"{GPX_NS} http://www.topografix.com/GPX/1/1/gpx.xsd "
            f"{GPX_TPX} http://www.garmin.com/xmlschemas/TrackPointExtensionv1.xsd",
        },
    )
    _sub(_sub(root, "metadata"), "time", _iso(math.floor(start)))
    trk = _sub(root, "trk")
    _sub(trk, "name", f"sensorhub session {data.id}")
    _sub(trk, "type", "running")
    seg = _sub(trk, "trkseg")
    for i in np.flatnonzero(has):
        pt = _sub(seg, "trkpt")
        pt.set("lat", _fmt(float(sec.lat_deg[i]), 7))
        pt.set("lon", _fmt(float(sec.lon_deg[i]), 7))
        if math.isfinite(sec.altitude_m[i]):
            _sub(pt, "ele", _fmt(float(sec.altitude_m[i]), 1))
        _sub(pt, "time", _iso(float(sec.unix[i])))
        hr = float(sec.heart_rate_bpm[i])
        cad = _whole_strides(float(sec.cadence_spm[i]))
        if math.isfinite(hr) or cad is not None:
            ext = _sub(_sub(pt, "extensions"), "gpxtpx:TrackPointExtension")
            if math.isfinite(hr):
                _sub(ext, "gpxtpx:hr", str(round(hr)))
            if cad is not None:
                _sub(ext, "gpxtpx:cad", cad)
    return _xml(root)


# ---------------------------------------------------------------------------- CSV
def _cell(x: float, nd: int) -> str:
    return "" if not math.isfinite(x) else f"{x:.{nd}f}"


def to_csv(data: SessionData, sec: Seconds | None = None) -> bytes:
    """One row per step (``CSV_COLUMNS``; empty where unknown); ``sec`` is not used."""
    st = data.steps
    start = float(data.row["started_unix"])
    running = metrics.running_mask(st.t_s, data.running_spans())
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(np.isfinite(st.step_cadence_spm), st.step_cadence_spm, st.cadence_spm)
        length = np.where(rate > 0, st.speed_m_s * 60.0 / rate, np.nan)
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(CSV_COLUMNS)
    for i in np.argsort(st.t_s, kind="stable"):
        t = float(st.t_s[i])
        when = datetime.fromtimestamp(start + t, UTC)
        out.writerow(
            (
                f"{t:.4f}",
                when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z",
                st.side[i],
                int(running[i]),
                _cell(float(st.cadence_spm[i]), 2),
                _cell(float(st.step_cadence_spm[i]), 2),
                _cell(float(st.contact_ms[i]), 2),
                _cell(float(st.flight_ms[i]), 2),
                _cell(float(st.impact_g[i]), 3),
                _cell(float(st.loading_rate_g_per_s[i]), 1),
                st.strike[i],
                _cell(float(st.speed_m_s[i]), 3),
                _cell(float(length[i]), 3),
            )
        )
    return buf.getvalue().encode()


# ---------------------------------------------------------------------------- the lot
WRITERS: dict[str, Callable[[SessionData, Seconds | None], bytes]] = {
    "fit": to_fit,
    "tcx": to_tcx,
    "gpx": to_gpx,
    "csv": to_csv,
}


def export(data: SessionData, fmt: str, sec: Seconds | None = None) -> bytes:
    """The session as a ``fmt`` file (one of FORMATS); ``sec``: its ``seconds(data)`` if
    already made."""
    if fmt not in WRITERS:
        raise LibraryError(f"cannot export as {fmt!r}", f"choose one of {', '.join(FORMATS)}")
    return WRITERS[fmt](data, sec)
