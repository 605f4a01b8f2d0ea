"""One session as the commands after the run read it: its rows out of the library as
arrays, and the figures a runner or a physiotherapist looks at first."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from sensorhub.events import Summary, decode_json
from sensorhub.library import metrics
from sensorhub.library.metrics import Steps
from sensorhub.library.store import (
    ACTIVITY_COLUMNS,
    CUE_COLUMNS,
    MINUTE_COLUMNS,
    STEP_COLUMNS,
    TRACK_COLUMNS,
    Library,
)


@dataclass
class SessionData:
    id: int
    row: dict[str, Any]  # the session's own columns
    steps: Steps
    minutes: list[dict[str, Any]]
    cues: list[dict[str, Any]]
    activity: list[tuple[float, str]]
    track: list[dict[str, Any]]  # footpod and watch points, by time
    summary: Summary | None

    @property
    def sensors(self) -> list[dict[str, Any]]:
        return list(json.loads(self.row["sensors_json"] or "[]"))

    @property
    def duration_s(self) -> float:
        return float(self.row["duration_s"] or 0.0)

    def running_spans(self) -> list[tuple[float, float]]:
        return metrics.running_spans(self.activity, self.duration_s)

    def running_steps(self) -> Steps:
        return self.steps.take(metrics.running_mask(self.steps.t_s, self.running_spans()))


def load(lib: Library, sid: int) -> SessionData:
    row = dict(lib.session(sid))
    steps = Steps.from_rows(lib.rows("steps", STEP_COLUMNS, sid), STEP_COLUMNS)
    minutes = [dict(r) for r in lib.rows("minutes", MINUTE_COLUMNS, sid)]
    cues = [dict(r) for r in lib.rows("cues", CUE_COLUMNS, sid)]
    activity = [(float(r[0]), str(r[1])) for r in lib.rows("activity", ACTIVITY_COLUMNS, sid)]
    track = [dict(r) for r in lib.rows("track", TRACK_COLUMNS, sid)]
    summary = None
    if row.get("summary_json"):
        ev = decode_json(row["summary_json"])
        summary = ev if isinstance(ev, Summary) else None
    return SessionData(sid, row, steps, minutes, cues, activity, track, summary)


def _r(x: float | None, nd: int = 1) -> float | None:
    return None if x is None else round(float(x), nd)


def overview(data: SessionData) -> dict[str, Any]:
    """The session's figures (``show --json``): medians while running, per side."""
    row, run = data.row, data.running_steps()
    per_side: dict[str, dict[str, float | None]] = {}
    for side in ("left", "right"):
        if not np.any(run.side == side):
            continue
        per_side[side] = {
            "steps": int(np.sum(run.side == side)),
            "contact_ms": _r(metrics.side_median(run, "contact_ms", side)),
            "impact_g": _r(metrics.side_median(run, "impact_g", side), 2),
            "loading_rate_g_per_s": _r(metrics.side_median(run, "loading_rate_g_per_s", side)),
        }
    left, right = per_side.get("left", {}), per_side.get("right", {})
    strikes = [s for s in run.strike if s]
    s = data.summary
    return {
        "id": data.id,
        "started_unix": row["started_unix"],
        "runner": row["runner"],
        "shoe": row["shoe"],
        "source": row["source"],
        "path": row["path"],
        "duration_s": row["duration_s"],
        "running_s": row["running_s"],
        "steps": row["steps"],
        "distance_m": row["distance_m"],
        "distance_source": row["distance_source"],
        "cadence_spm": _r(metrics.median(run.cadence_spm)),
        "contact_ms": _r(metrics.median(run.contact_ms)),
        "flight_ms": _r(metrics.median(run.flight_ms)),
        "impact_g": _r(metrics.median(run.impact_g), 2),
        "loading_rate_g_per_s": _r(metrics.median(run.loading_rate_g_per_s)),
        "speed_m_s": _r(metrics.median(run.speed_m_s), 2),
        "strike_pct": {
            k: round(100.0 * strikes.count(k) / len(strikes), 1)
            for k in ("rearfoot", "midfoot", "forefoot")
            if strikes
        },
        "per_side": per_side,
        "contact_si_pct": _r(
            metrics.symmetry_index(left.get("contact_ms"), right.get("contact_ms"))
        ),
        "impact_si_pct": _r(metrics.symmetry_index(left.get("impact_g"), right.get("impact_g"))),
        "summary": None if s is None else {"cadence_spm": s.cadence_spm, "steps": s.steps},
        "sensors": data.sensors,
        "damage": [x for x in (row["damage"] or "").split("\n") if x],
        "notes": row["notes"],
    }
