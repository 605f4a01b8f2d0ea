"""A recording into the library: replayed through the signal core (the same events a live
run gives), then reduced to per-step rows, per-minute aggregates, cue periods, activity
changes, the footpod's track and the session summary."""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from sensorhub.config import Config, CuesConfig
from sensorhub.cues import CueController, settings_from_config
from sensorhub.errors import ConfigError, RecordingError, SensorhubError
from sensorhub.events import Activity, AnyEvent, Cadence, Cue, Pace, Step, Summary, encode_json
from sensorhub.library import metrics
from sensorhub.library.store import STEP_COLUMNS, Library, SessionRows
from sensorhub.pipeline.session import Processor
from sensorhub.pipeline.summary import SessionSummary
from sensorhub.recording import SessionHeader, SessionReader

log = logging.getLogger(__name__)


def recording_uid(header: SessionHeader) -> str:
    """A recording's identity: the hash of its header (start time, source, sensors,
    settings), the same wherever the file is moved."""
    return hashlib.sha256(msgspec.json.encode(header)).hexdigest()[:32]


def sensors_json(header: SessionHeader) -> str:
    """The sensors and where they were worn, as the library keeps them."""
    out = []
    for e in header.sensors:
        try:
            info = e.info
            where = {
                "side": info.side.name.lower(),
                "mount": info.mounting.name.lower(),
                "odr_hz": round(info.odr_hz, 3),
            }
        except SensorhubError:
            where = {}
        out.append({"name": e.name, "family": e.family, "address": e.address, **where})
    return msgspec.json.encode(out).decode()


def replay_events(reader: SessionReader, config: Config) -> list[AnyEvent]:
    """Every event of the recording as a live run gives them, with the stages a live run
    has: the session summary and the cue controller (with the cue settings the run was
    recorded with, else the configuration's)."""
    events = Processor(reader.sensors, config.detector, config.gait).replay(reader)
    stages: list[Any] = [SessionSummary()]
    cues_cfg = config.cues
    recorded = reader.header.config.get("cues")
    if isinstance(recorded, dict):
        try:
            cues_cfg = msgspec.convert(recorded, CuesConfig)
        except msgspec.ValidationError:
            log.warning(
                "%s: its recorded cue settings are unreadable; using the configuration's",
                reader.path,
            )
    if cues_cfg.mode != "off":
        with contextlib.suppress(ConfigError):  # a config's own cues were validated already
            stages.append(CueController(settings_from_config(cues_cfg, config.audio.sample_rate)))
    out: list[AnyEvent] = []
    for ev in events:
        batch: list[AnyEvent] = [ev]
        for stage in stages:
            batch += [x for e in list(batch) for x in stage.on_event(e)]
        out += batch
    for stage in stages:
        out += stage.finish()
    return out


def rows_from_events(
    events: Iterable[AnyEvent],
    header: SessionHeader,
    path: Path,
    runner: str,
    shoe: str | None,
    damage: Sequence[str] = (),
    end_s: float | None = None,
) -> SessionRows:
    """What the library keeps of one session's events."""
    steps: list[list[Any]] = []
    cadence: dict[tuple[str, float], Cadence] = {}  # (sensor, contact time): at the contact
    cues: list[tuple[Any, ...]] = []
    activity: list[tuple[float, str]] = []
    track: list[tuple[Any, ...]] = []
    summary: Summary | None = None
    col = {c: i for i, c in enumerate(STEP_COLUMNS)}
    t_max = 0.0
    for ev in events:
        t_max = max(t_max, ev.t)
        if isinstance(ev, Step):
            row: list[Any] = [None] * len(STEP_COLUMNS)
            row[col["t_s"]] = round(ev.t, 4)
            row[col["side"]] = ev.side
            row[col["sensor"]] = ev.sensor
            row[col["contact_ms"]] = ev.contact_ms
            row[col["flight_ms"]] = ev.flight_ms
            row[col["impact_g"]] = ev.impact_g
            row[col["loading_rate_g_per_s"]] = ev.loading_rate_g_per_s
            row[col["strike"]] = ev.strike
            row[col["strike_angle_deg"]] = ev.strike_angle_deg
            steps.append(row)
        elif isinstance(ev, Cadence):  # known at the contact; its step at the toe-off
            cadence[(ev.sensor, round(ev.t, 4))] = ev
        elif isinstance(ev, Cue):
            cues.append((round(ev.t, 3), ev.cue, int(ev.playing), ev.target_spm, ev.gain))
        elif isinstance(ev, Activity):
            activity.append((round(ev.t, 3), ev.state))
        elif isinstance(ev, Pace):
            track.append(
                (round(ev.t, 3), "footpod", ev.speed_m_s, ev.distance_m, None, None, None, None)
            )
        elif isinstance(ev, Summary):
            summary = ev
    for row in steps:
        c = cadence.get((row[col["sensor"]], row[col["t_s"]]))
        if c is not None:
            row[col["cadence_spm"]] = round(c.cadence_spm, 2)
            row[col["step_cadence_spm"]] = round(c.step_cadence_spm, 2)
    steps.sort(key=lambda r: (r[0], r[1]))
    activity.sort()
    cues.sort(key=lambda r: r[0])
    duration = summary.duration_s if summary is not None else 0.0
    end = max(end_s or 0.0, t_max)
    table = metrics.Steps.from_rows(steps, STEP_COLUMNS)
    if track:  # a footpod: every step gets its speed
        speed = metrics.interpolate_speed(
            table.t_s,
            np.array([r[0] for r in track], float),
            np.array([r[2] for r in track], float),
        )
        for row, v in zip(steps, speed, strict=True):
            row[col["speed_m_s"]] = None if not np.isfinite(v) else round(float(v), 3)
        table = metrics.Steps.from_rows(steps, STEP_COLUMNS)
    spans = metrics.running_spans(activity, end)
    minutes = metrics.minute_rows(table, spans, max(duration, end))
    distance = summary.pod_distance_m if summary is not None else None
    run = table.take(metrics.running_mask(table.t_s, spans))
    si: dict[str, float | None] = {"contact_si_pct": None, "impact_si_pct": None}
    si.update(metrics.symmetry_of(run))

    def med(x: metrics.Array, nd: int) -> float | None:
        v = metrics.median(x)
        return None if v is None else round(v, nd)

    return SessionRows(
        uid=recording_uid(header),
        session={
            "path": str(path),
            "runner": runner,
            "shoe": shoe,
            "source": str(header.config.get("kind") or header.source),
            "started_unix": header.started_unix,
            "duration_s": round(max(duration, end), 3),
            "running_s": summary.running_s if summary is not None else 0.0,
            "steps": len(steps),
            "cadence_spm": med(run.cadence_spm, 1),
            "contact_ms": med(run.contact_ms, 1),
            "impact_g": med(run.impact_g, 2),
            **{k: None if v is None else round(v, 2) for k, v in si.items()},
            "distance_m": distance,
            "distance_source": "footpod" if distance is not None else None,
            "sensors_json": sensors_json(header),
            "summary_json": encode_json(summary).decode() if summary is not None else None,
            "damage": "\n".join(damage),
        },
        steps=[tuple(r) for r in steps],
        minutes=minutes,
        cues=cues,
        activity=activity,
        track=track,
    )


@dataclass(frozen=True)
class Indexed:
    session_id: int
    path: Path
    new: bool
    steps: int
    duration_s: float
    damage: list[str]


def index_recording(
    lib: Library,
    path: Path,
    config: Config,
    runner: str | None = None,
    shoe: str | None = None,
) -> Indexed:
    """Replay one recording and write what it holds to the library (idempotent: the same
    recording again replaces its own rows).  RecordingError when it cannot be read."""
    path = path.resolve()
    reader = SessionReader(path)
    if not reader.sensors:
        raise RecordingError(f"{path}: no readable sensor in it", "nothing to index")
    hc = reader.header.config
    existing = lib.find_uid(recording_uid(reader.header))
    kept = lib.session(existing) if existing is not None else None
    # what is said now, else what the library was told before, else what was recorded
    who = runner or (kept["runner"] if kept else None) or str(hc.get("runner") or config.runner.id)
    pair = (
        shoe or (kept["shoe"] if kept else None) or hc.get("shoe") or (config.runner.shoe or None)
    )
    events = replay_events(reader, config)
    damage = reader.describe_damage()
    if not reader.clean_close:
        damage.append("the recording did not close cleanly (a crash?): indexed up to its end")
    rows = rows_from_events(events, reader.header, path, who, pair, damage)
    sid, new = lib.put(rows)
    return Indexed(sid, path, new, len(rows.steps), float(rows.session["duration_s"]), damage)


def index_orphans(
    lib: Library, config: Config, say: Callable[[str], Any] | None = None
) -> list[Indexed]:
    """Index the recordings a crashed run left behind (said in a line each)."""
    done = []
    for sid, path in lib.orphans():
        if not path.exists():  # the run ended before anything was written, or it was moved
            lib.forget(sid)
            if say:
                say(
                    f"library: {path} was being recorded by a run that did not finish and is "
                    "gone; forgotten (`sensorhub library add FILE` where it went)"
                )
            continue
        try:
            got = index_recording(lib, path, config)
        except RecordingError as exc:
            lib.set_fields(sid, state="unreadable", writer_pid=None, damage=exc.message)
            if say:
                say(
                    f"library: {path}, left by a run that did not finish, cannot be read "
                    f"({exc.message}); left out"
                )
            continue
        done.append(got)
        if say:
            say(
                f"library: indexed {path}, left by a run that did not finish "
                f"({got.steps} steps, {got.duration_s / 60:.1f} min)"
            )
    return done
