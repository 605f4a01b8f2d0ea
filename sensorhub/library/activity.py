"""A runner's watch file (FIT, GPX or TCX) onto a session: its points read, completed,
matched to the session they overlap and put on the session's time axis (pure: no I/O but
``read_activity`` reading the file).

* **Speed**: the file's own where it gives one (FIT ``enhanced_speed``/``speed``, TCX and
  GPX extension ``Speed``); else from the file's distance, as the distance covered over
  a centred window of ``DISTANCE_WINDOW_S``; else from the GPS positions (great-circle
  distance between them, the same way over ``GPS_WINDOW_S``: GPS jitter of a few metres
  averages out over it).  The GPS distance also becomes the track's distance where the
  file has none.
* **Which session**: the one of the runner that overlaps the activity longest; none:
  one line names the activity's span and the nearest session.
* **On the session's axis**: points inside the session (plus one interpolated at each end
  where the activity runs past it), ``t_s`` from the session start, distance from the
  session start; the distance covered is the track's distance across the session.

Every problem with the file is one LibraryError naming it, raised before anything is
written anywhere.
"""

from __future__ import annotations

import io
import itertools
import math
import re
import struct
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import fitdecode  # type: ignore[import-untyped]
import numpy as np

from sensorhub.errors import LibraryError
from sensorhub.library import metrics

#: The suffixes read, and what they are.
KINDS = {".fit": "fit", ".gpx": "gpx", ".tcx": "tcx"}
#: A watch file larger than this is refused (a 24-hour 1 Hz FIT is about 3 MB).
MAX_BYTES = 256 * 1024 * 1024
#: Speed from a file's distance: distance covered over this centred window.
DISTANCE_WINDOW_S = 4.0
#: Speed from GPS positions: distance covered over this centred window.
GPS_WINDOW_S = 10.0
#: GPS positions are averaged over this centred window before distances are taken.
POSITION_WINDOW_S = 5.0
#: Plausible values; outside them a reading is taken as missing.
MAX_SPEED_M_S = 15.0
HEART_RATE_BPM = (20.0, 250.0)
EARTH_RADIUS_M = 6_371_008.8
FIT_SEMICIRCLE_DEG = 180.0 / 2**31

#: A Point's values after its time, in order.
_FIELDS = ("lat_deg", "lon_deg", "altitude_m", "distance_m", "speed_m_s", "heart_rate_bpm")

ADVICE = "export the activity from the watch's app again (FIT, GPX or TCX)"


@dataclass(frozen=True)
class Point:
    """One point of a watch's track (None where the file does not say)."""

    unix_s: float
    lat_deg: float | None = None
    lon_deg: float | None = None
    altitude_m: float | None = None
    distance_m: float | None = None  # the file's running total
    speed_m_s: float | None = None
    heart_rate_bpm: float | None = None


@dataclass(frozen=True)
class WatchActivity:
    """A watch file's track, sorted by time, speeds filled in (``speed_from``: "file",
    "distance", "gps" or "none")."""

    name: str
    kind: str  # fit | gpx | tcx
    points: tuple[Point, ...]
    speed_from: str

    @property
    def start_unix(self) -> float:
        return self.points[0].unix_s

    @property
    def end_unix(self) -> float:
        return self.points[-1].unix_s

    def has(self, column: str) -> bool:
        return any(getattr(p, column) is not None for p in self.points)


# ---------------------------------------------------------------------------- reading
def read_activity(path: Path) -> WatchActivity:
    """The watch file at ``path``, by its suffix (.fit, .gpx, .tcx)."""
    kind = KINDS.get(path.suffix.lower())
    if kind is None:
        raise LibraryError(
            f"{path}: not a watch file sensorhub reads (.fit, .gpx or .tcx, not "
            f"{path.suffix or 'no suffix'})",
            ADVICE,
        )
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise LibraryError(
                f"{path} is {size / 2**20:.0f} MiB, too large for one activity", ADVICE
            )
        data = path.read_bytes()
    except OSError as exc:
        raise LibraryError(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_activity(data, kind, str(path))


def parse_activity(data: bytes, kind: str, name: str) -> WatchActivity:
    """A watch file's bytes as a WatchActivity; LibraryError when they are not one."""
    if not data:
        raise LibraryError(f"{name} is empty", ADVICE)
    parsers = {"fit": parse_fit, "gpx": parse_gpx, "tcx": parse_tcx}
    if kind not in parsers:
        raise LibraryError(f"{name}: unknown kind {kind!r} (fit, gpx or tcx)")
    points = merge_points(parsers[kind](data, name))
    if len(points) < 2:
        raise LibraryError(
            f"{name} has {'no' if not points else 'only one'} timed track point"
            f"{'s' if not points else ''}: nothing to merge",
            ADVICE,
        )
    points, speed_from = complete(points)
    return WatchActivity(name, kind, tuple(points), speed_from)


def _finite(x: Any, lo: float = -math.inf, hi: float = math.inf) -> float | None:
    """A number within [lo, hi], else None."""
    if isinstance(x, tuple | list):
        x = x[0] if x else None
    if x is None or isinstance(x, bool):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and lo <= v <= hi else None


def _position(lat: float | None, lon: float | None) -> tuple[float | None, float | None]:
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None, None
    if lat == 0.0 and lon == 0.0:  # "no fix" written as zeros
        return None, None
    return lat, lon


def _point(
    unix: float,
    lat: Any = None,
    lon: Any = None,
    alt: Any = None,
    dist: Any = None,
    speed: Any = None,
    hr: Any = None,
) -> Point:
    la, lo = _position(_finite(lat), _finite(lon))
    return Point(
        unix_s=unix,
        lat_deg=la,
        lon_deg=lo,
        altitude_m=_finite(alt, -500.0, 9000.0),
        distance_m=_finite(dist, 0.0),
        speed_m_s=_finite(speed, 0.0, MAX_SPEED_M_S),
        heart_rate_bpm=_finite(hr, *HEART_RATE_BPM),
    )


def parse_fit(data: bytes, name: str) -> list[Point]:
    """A FIT activity's record messages (fitdecode; CRC and structure checked)."""
    if len(data) < 12 or data[8:12] != b".FIT":
        raise LibraryError(f"{name} is not a FIT file (no .FIT signature in its header)", ADVICE)
    points: list[Point] = []
    file_type: Any = None
    try:
        with fitdecode.FitReader(
            io.BytesIO(data),
            check_crc=fitdecode.CrcCheck.RAISE,
            error_handling=fitdecode.ErrorHandling.RAISE,
        ) as fit:
            for frame in fit:
                if frame.frame_type != fitdecode.FIT_FRAME_DATA:
                    continue
                if frame.name == "file_id" and file_type is None:
                    file_type = frame.get_value("type", fallback=None)
                if frame.name != "record":
                    continue
                ts = frame.get_value("timestamp", fallback=None)
                if not isinstance(ts, datetime):  # none, or seconds since power-on
                    continue
                get = _getter(frame)
                lat, lon = get("position_lat"), get("position_long")
                points.append(
                    _point(
                        ts.timestamp(),
                        None if lat is None else _semicircles(lat),
                        None if lon is None else _semicircles(lon),
                        get("enhanced_altitude", "altitude"),
                        get("distance"),
                        get("enhanced_speed", "speed"),
                        get("heart_rate"),
                    )
                )
    except fitdecode.FitEOFError:
        raise LibraryError(f"{name} is cut short: not a whole FIT file", ADVICE) from None
    except fitdecode.FitCRCError:
        raise LibraryError(
            f"{name} is damaged: its FIT checksum does not match its contents", ADVICE
        ) from None
    except fitdecode.FitError as exc:
        raise LibraryError(f"{name} is not a readable FIT file ({_short(exc)})", ADVICE) from None
    except (ValueError, TypeError, KeyError, IndexError, struct.error, OverflowError) as exc:
        raise LibraryError(
            f"{name} is not a readable FIT file ({type(exc).__name__}: {_short(exc)})", ADVICE
        ) from None
    if file_type is not None and file_type not in ("activity", 4):
        raise LibraryError(f"{name} is a FIT {file_type} file, not an activity", ADVICE)
    return points


def _getter(frame: Any) -> Any:
    def get(*names: str) -> Any:
        """The first of the fields that the message has a value for."""
        for n in names:
            v = frame.get_value(n, fallback=None)
            if v is not None:
                return v
        return None

    return get


def _semicircles(v: Any) -> float | None:
    x = _finite(v)
    return None if x is None else x * FIT_SEMICIRCLE_DEG


def _short(exc: BaseException, n: int = 160) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= n else text[: n - 3] + "..."


def _xml_root(data: bytes, name: str, what: str, root_name: str) -> ET.Element:
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise LibraryError(f"{name} is not a readable {what} file ({exc})", ADVICE) from None
    if _local(root.tag) != root_name:
        raise LibraryError(
            f"{name} is not a {what} file (its root element is <{_local(root.tag)}>, "
            f"not <{root_name}>)",
            ADVICE,
        )
    return root


def _local(tag: Any) -> str:
    return str(tag).rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def _children(e: ET.Element, name: str) -> Iterable[ET.Element]:
    return (c for c in e if _local(c.tag) == name)


def _child_text(e: ET.Element, *path: str) -> str | None:
    node: ET.Element | None = e
    for name in path:
        node = next(iter(_children(node, name)), None) if node is not None else None
    return None if node is None or node.text is None else node.text.strip()


def _descendant_text(e: ET.Element | None, name: str) -> str | None:
    if e is None:
        return None
    for d in e.iter():
        if _local(d.tag) == name and d.text and d.text.strip():
            return d.text.strip()
    return None


_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_time(text: str) -> float:
    """An ISO 8601 time as Unix seconds (UTC where it names no zone, as GPX and TCX say)."""
    t = _FRACTION.sub(r"\1", text.strip())
    when = datetime.fromisoformat(t[:-1] + "+00:00" if t.endswith(("Z", "z")) else t)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _number(text: str | None, what: str, name: str, k: int) -> float | None:
    if text is None or text == "":
        return None
    try:
        return float(text)
    except ValueError:
        raise LibraryError(
            f"{name}: point {k + 1}: {what} {text[:40]!r} is not a number", ADVICE
        ) from None


def _time_of(text: str | None, name: str, k: int) -> float | None:
    if not text:
        return None
    try:
        return parse_time(text)
    except ValueError:
        raise LibraryError(f"{name}: point {k + 1}: {text[:40]!r} is not a time", ADVICE) from None


def parse_gpx(data: bytes, name: str) -> list[Point]:
    """A GPX file's track points (``trkpt``) with a time: position, ``ele``, and from the
    extensions (Garmin's TrackPointExtension and the like) ``hr``, ``speed``, ``distance``."""
    root = _xml_root(data, name, "GPX", "gpx")
    points: list[Point] = []
    for k, pt in enumerate(e for e in root.iter() if _local(e.tag) == "trkpt"):
        when = _time_of(_child_text(pt, "time"), name, k)
        if when is None:
            continue
        ext = next(iter(_children(pt, "extensions")), None)
        points.append(
            _point(
                when,
                _number(pt.get("lat"), "lat", name, k),
                _number(pt.get("lon"), "lon", name, k),
                _number(_child_text(pt, "ele"), "ele", name, k),
                _number(_descendant_text(ext, "distance"), "distance", name, k),
                _number(_descendant_text(ext, "speed"), "speed", name, k),
                _number(_descendant_text(ext, "hr"), "hr", name, k),
            )
        )
    return points


def parse_tcx(data: bytes, name: str) -> list[Point]:
    """A TCX file's trackpoints with a time: position, altitude, distance, heart rate and
    the ActivityExtension's ``Speed``."""
    root = _xml_root(data, name, "TCX", "TrainingCenterDatabase")
    points: list[Point] = []
    for k, tp in enumerate(e for e in root.iter() if _local(e.tag) == "Trackpoint"):
        when = _time_of(_child_text(tp, "Time"), name, k)
        if when is None:
            continue
        ext = next(iter(_children(tp, "Extensions")), None)
        points.append(
            _point(
                when,
                _number(_child_text(tp, "Position", "LatitudeDegrees"), "latitude", name, k),
                _number(_child_text(tp, "Position", "LongitudeDegrees"), "longitude", name, k),
                _number(_child_text(tp, "AltitudeMeters"), "altitude", name, k),
                _number(_child_text(tp, "DistanceMeters"), "distance", name, k),
                _number(_descendant_text(ext, "Speed"), "speed", name, k),
                _number(_child_text(tp, "HeartRateBpm", "Value"), "heart rate", name, k),
            )
        )
    return points


# ---------------------------------------------------------------------------- completing
def merge_points(points: Iterable[Point]) -> list[Point]:
    """Sorted by time; points at the same time merged (the first one's values first)."""
    out: list[Point] = []
    for p in sorted(points, key=lambda p: p.unix_s):
        if out and abs(out[-1].unix_s - p.unix_s) < 1e-6:
            q = out[-1]
            out[-1] = Point(
                q.unix_s,
                *(getattr(q, f) if getattr(q, f) is not None else getattr(p, f) for f in _FIELDS),
            )
        else:
            out.append(p)
    return out


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two positions, m."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2.0 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def gps_distance(points: Sequence[Point]) -> list[float | None]:
    """Running total of the great-circle distance between successive positions (None
    before the first one; a point without a position carries the total on)."""
    out: list[float | None] = []
    total: float | None = None
    last: tuple[float, float] | None = None
    for p in points:
        if p.lat_deg is not None and p.lon_deg is not None:
            if last is not None and total is not None:
                total += haversine_m(last[0], last[1], p.lat_deg, p.lon_deg)
            else:
                total = 0.0
            last = (p.lat_deg, p.lon_deg)
        out.append(total)
    return out


def smoothed_positions(points: Sequence[Point], window_s: float) -> list[Point]:
    """Each position replaced by the mean of the positions within a centred window (the
    others are left as they are): jitter of a few metres, summed point to point, would
    add distance that was never run."""
    have = [i for i, p in enumerate(points) if p.lat_deg is not None and p.lon_deg is not None]
    if len(have) < 2:
        return list(points)
    t = np.array([points[i].unix_s for i in have])
    lat = np.array([points[i].lat_deg for i in have], float)
    lon = np.array([points[i].lon_deg for i in have], float)
    c_lat = np.concatenate([[0.0], np.cumsum(lat)])
    c_lon = np.concatenate([[0.0], np.cumsum(lon)])
    # symmetric about each point, narrowed towards the ends (so the ends stay put)
    half = np.minimum(window_s / 2.0, np.minimum(t - t[0], t[-1] - t))
    a = np.searchsorted(t, t - half - 1e-9, side="left")
    b = np.searchsorted(t, t + half + 1e-9, side="right")
    n = b - a
    out = list(points)
    for k, i in enumerate(have):
        out[i] = replace(
            points[i],
            lat_deg=float((c_lat[b[k]] - c_lat[a[k]]) / n[k]),
            lon_deg=float((c_lon[b[k]] - c_lon[a[k]]) / n[k]),
        )
    return out


def windowed_speed(
    t: Sequence[float], distance: Sequence[float | None], window_s: float
) -> list[float | None]:
    """Speed at each time: the distance covered over a centred window, over the time it
    spans (None where the window holds fewer than two distances or it went backwards)."""
    tt = np.asarray(t, float)
    dd = metrics.as_array(list(distance))
    ok = np.isfinite(dd)
    tk, dk = tt[ok], dd[ok]
    out: list[float | None] = []
    for x in tt:
        a = int(np.searchsorted(tk, x - window_s / 2.0, side="left"))
        b = int(np.searchsorted(tk, x + window_s / 2.0, side="right")) - 1
        if b <= a or tk[b] <= tk[a]:
            out.append(None)
            continue
        v = (dk[b] - dk[a]) / (tk[b] - tk[a])
        out.append(float(v) if 0.0 <= v <= MAX_SPEED_M_S else None)
    return out


def complete(points: Sequence[Point]) -> tuple[list[Point], str]:
    """Points with a distance where GPS gives one and the file none, and a speed: the
    file's, else from its distance, else from GPS.  Returns them and where speed came from."""
    pts = list(points)
    has_dist = sum(p.distance_m is not None for p in pts) >= 2
    has_gps = sum(p.lat_deg is not None for p in pts) >= 2
    if not has_dist and has_gps:
        gps = gps_distance(smoothed_positions(pts, POSITION_WINDOW_S))
        pts = [replace(p, distance_m=d) for p, d in zip(pts, gps, strict=True)]
    if any(p.speed_m_s is not None for p in pts):
        return pts, "file"
    if not has_dist and not has_gps:
        return pts, "none"
    window = DISTANCE_WINDOW_S if has_dist else GPS_WINDOW_S
    speed = windowed_speed([p.unix_s for p in pts], [p.distance_m for p in pts], window)
    pts = [replace(p, speed_m_s=v) for p, v in zip(pts, speed, strict=True)]
    return pts, "distance" if has_dist else "gps"


# ---------------------------------------------------------------------------- matching
def overlap_s(a0: float, a1: float, b0: float, b1: float) -> float:
    """How long two spans overlap, s (0 when they do not)."""
    return max(0.0, min(a1, b1) - max(a0, b0))


def _span(row: Mapping[str, Any]) -> tuple[float, float]:
    start = float(row["started_unix"])
    return start, start + float(row["duration_s"] or 0.0)


def _clock(unix: float, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    return time.strftime(fmt, time.localtime(unix))


def describe_span(a0: float, a1: float) -> str:
    """A span in local time: "2026-12-01 19:13:22 to 19:43:10"."""
    same_day = _clock(a0, "%Y-%m-%d") == _clock(a1, "%Y-%m-%d")
    return f"{_clock(a0)} to {_clock(a1, '%H:%M:%S' if same_day else '%Y-%m-%d %H:%M:%S')}"


def _apart(s: float) -> str:
    s = abs(s)
    if s < 120:
        return f"{s:.0f} s"
    if s < 2 * 3600:
        return f"{s / 60:.0f} min"
    if s < 2 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.0f} days"


def choose_session(
    activity: WatchActivity, sessions: Sequence[Mapping[str, Any]], runner: str
) -> int:
    """The id of the runner's session the activity overlaps longest; LibraryError naming
    the activity's span and the nearest session when it overlaps none."""
    a0, a1 = activity.start_unix, activity.end_unix
    span = describe_span(a0, a1)
    mine = [s for s in sessions if s["runner"] == runner]
    best = max(mine, key=lambda s: overlap_s(a0, a1, *_span(s)), default=None)
    if best is not None and overlap_s(a0, a1, *_span(best)) > 0:
        return int(best["id"])
    others = [s for s in sessions if s["runner"] != runner and overlap_s(a0, a1, *_span(s)) > 0]
    if others:
        o = max(others, key=lambda s: overlap_s(a0, a1, *_span(s)))
        raise LibraryError(
            f"{activity.name} (activity {span}) overlaps no session of runner {runner!r}, "
            f"but session {o['id']} of runner {o['runner']!r}",
            f"give --runner {o['runner']} or --session {o['id']} if it is that run",
        )
    pool = mine or list(sessions)
    if not pool:
        raise LibraryError(
            f"{activity.name} (activity {span}): the library has no sessions to merge it onto",
            "record or add the run first (sensorhub library add FILE)",
        )

    def gap(s: Mapping[str, Any]) -> float:
        b0, b1 = _span(s)
        return b0 - a1 if b0 >= a1 else a0 - b1

    near = min(pool, key=gap)
    b0, b1 = _span(near)
    where = "after" if b0 >= a1 else "before"
    whose = "" if near["runner"] == runner else f" (runner {near['runner']!r})"
    raise LibraryError(
        f"{activity.name} (activity {span}) overlaps no session; the nearest is session "
        f"{near['id']}{whose}, {describe_span(b0, b1)}, {_apart(gap(near))} {where} it",
        "check it is the watch file of a recorded run (and the watch's clock), or give "
        "--session ID",
    )


def check_overlap(activity: WatchActivity, row: Mapping[str, Any]) -> float:
    """The overlap with the session named by --session, s; LibraryError when none."""
    a0, a1 = activity.start_unix, activity.end_unix
    b0, b1 = _span(row)
    got = overlap_s(a0, a1, b0, b1)
    if got <= 0:
        raise LibraryError(
            f"{activity.name} (activity {describe_span(a0, a1)}) does not overlap session "
            f"{row['id']} ({describe_span(b0, b1)})",
            "there is nothing of it to merge onto that session",
        )
    return got


# ---------------------------------------------------------------------------- merging
def _at(points: Sequence[Point], unix: float) -> Point | None:
    """A point interpolated at ``unix`` between its neighbours (no further apart than
    metrics.TRACK_GAP_S), None outside the track or across a longer gap."""
    times = [p.unix_s for p in points]
    k = int(np.searchsorted(times, unix))
    if k < len(points) and abs(points[k].unix_s - unix) < 1e-9:
        return points[k]
    if k == 0 or k >= len(points):
        return None
    p, q = points[k - 1], points[k]
    if q.unix_s - p.unix_s > metrics.TRACK_GAP_S:
        return None
    w = (unix - p.unix_s) / (q.unix_s - p.unix_s)

    def mix(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else a + w * (b - a)

    return Point(unix, *(mix(getattr(p, c), getattr(q, c)) for c in _FIELDS))


def _r(x: float | None, nd: int) -> float | None:
    return None if x is None else round(x, nd)


def track_rows(
    activity: WatchActivity, started_unix: float, duration_s: float
) -> tuple[list[tuple[Any, ...]], float | None]:
    """The activity's points inside the session as ``store.TRACK_COLUMNS`` rows (source
    "watch"; ``t_s`` and distance from the session start), and the distance covered in
    the session (None when the file gives neither distance, positions nor speed)."""
    end = started_unix + duration_s
    inside = [p for p in activity.points if started_unix <= p.unix_s <= end]
    for edge in (started_unix, end):
        if not any(abs(p.unix_s - edge) < 1e-9 for p in inside):
            q = _at(activity.points, edge)
            if q is not None:
                inside.append(q)
    inside.sort(key=lambda p: p.unix_s)
    dists = [p.distance_m for p in inside if p.distance_m is not None]
    d0 = dists[0] if dists else None
    rows = [
        (
            round(p.unix_s - started_unix, 3),
            "watch",
            _r(p.speed_m_s, 3),
            None if p.distance_m is None or d0 is None else round(p.distance_m - d0, 2),
            _r(p.heart_rate_bpm, 1),
            _r(p.lat_deg, 7),
            _r(p.lon_deg, 7),
            _r(p.altitude_m, 1),
        )
        for p in inside
    ]
    covered: float | None = None
    if len(dists) >= 2:
        covered = max(0.0, dists[-1] - dists[0])
    else:
        known = [(p.unix_s, p.speed_m_s) for p in inside if p.speed_m_s is not None]
        if len(known) >= 2:
            covered = 0.0
            for (t0, v0), (t1, v1) in itertools.pairwise(known):
                if t1 - t0 <= metrics.TRACK_GAP_S:
                    covered += 0.5 * (v0 + v1) * (t1 - t0)
    return rows, covered
