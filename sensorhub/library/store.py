"""The session library: one SQLite file (stdlib ``sqlite3``) in WAL mode.

* **One writer, readers never blocked.**  Every change is one ``BEGIN IMMEDIATE``
  transaction; a second ``sensorhub`` that writes at the same time waits for it (up to
  ``busy_timeout_s``) and then writes its own.  Readers see the last committed state.
* **A crash never corrupts it.**  A session is written in one transaction (its rows
  replaced as a whole), so a killed indexer leaves the session as it was before; the
  recording is indexed again on the next start.  ``synchronous=NORMAL`` in WAL mode:
  a power cut may lose the last transaction, never the file.
* **Versioned schema.**  ``PRAGMA user_version`` is the schema version; ``MIGRATIONS[k]``
  takes version k to k+1, each in its own transaction.  A file from a newer sensorhub
  is refused with a line that says so (nothing is written to it).

Times: ``started_unix`` is Unix time; every ``t_s`` is seconds from the session's start.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sensorhub.errors import LibraryError
from sensorhub.fileutil import PRIVATE_MODE

#: The file in the library's folder.
LIBRARY_FILE = "library.sqlite"

#: Schema version k+1 is ``MIGRATIONS[k]`` applied to version k.  Never edit a
#: released step: add one.
MIGRATIONS: tuple[str, ...] = (
    # 1: sessions and what the signal core found in them
    """
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,          -- the recording's identity (hash of its header)
        path TEXT NOT NULL,                -- where the recording was when last indexed
        state TEXT NOT NULL,               -- recording | indexed
        writer_pid INTEGER,                -- recording: the process writing it
        runner TEXT NOT NULL,
        shoe TEXT,
        source TEXT NOT NULL,              -- live, sim, import
        started_unix REAL NOT NULL,
        duration_s REAL,
        running_s REAL,
        steps INTEGER,
        cadence_spm REAL,                  -- medians of the running steps (for listing)
        contact_ms REAL,
        impact_g REAL,
        contact_si_pct REAL,               -- symmetry index of the running steps
        impact_si_pct REAL,
        distance_m REAL,
        distance_source TEXT,              -- footpod | watch | NULL (unknown)
        sensors_json TEXT NOT NULL,
        summary_json TEXT,
        damage TEXT NOT NULL DEFAULT '',   -- what in the recording could not be read
        notes TEXT NOT NULL DEFAULT '',
        indexed_unix REAL
    );
    CREATE INDEX sessions_by_start ON sessions (runner, started_unix);
    CREATE TABLE steps (
        session_id INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        t_s REAL NOT NULL,
        side TEXT NOT NULL,
        sensor TEXT NOT NULL,
        cadence_spm REAL,                  -- steps/min, smoothed over the last steps
        step_cadence_spm REAL,             -- steps/min from this step alone
        contact_ms REAL,
        flight_ms REAL,
        impact_g REAL,
        loading_rate_g_per_s REAL,
        strike TEXT,
        strike_angle_deg REAL,
        speed_m_s REAL                     -- where known (footpod, watch file)
    );
    CREATE INDEX steps_by_session ON steps (session_id, t_s);
    CREATE TABLE minutes (
        session_id INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        minute INTEGER NOT NULL,
        running_s REAL NOT NULL,
        steps INTEGER NOT NULL,
        cadence_spm REAL,
        contact_ms_left REAL, contact_ms_right REAL,
        impact_g_left REAL, impact_g_right REAL,
        loading_rate_left REAL, loading_rate_right REAL,
        contact_si_pct REAL, impact_si_pct REAL,
        speed_m_s REAL,
        PRIMARY KEY (session_id, minute)
    );
    CREATE TABLE cues (
        session_id INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        t_s REAL NOT NULL,
        cue TEXT NOT NULL,
        playing INTEGER NOT NULL,
        target_spm REAL,
        gain REAL NOT NULL
    );
    CREATE INDEX cues_by_session ON cues (session_id, t_s);
    CREATE TABLE activity (
        session_id INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        t_s REAL NOT NULL,
        state TEXT NOT NULL
    );
    CREATE INDEX activity_by_session ON activity (session_id, t_s);
    CREATE TABLE track (
        session_id INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
        t_s REAL NOT NULL,
        source TEXT NOT NULL,              -- footpod | watch
        speed_m_s REAL,
        distance_m REAL,
        heart_rate_bpm REAL,
        lat_deg REAL,
        lon_deg REAL,
        altitude_m REAL
    );
    CREATE INDEX track_by_session ON track (session_id, source, t_s);
    """,
    # 2: pain ratings (0-10) and the watch files merged onto sessions
    """
    CREATE TABLE pain (
        session_id INTEGER PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
        during INTEGER,                    -- 0-10 numeric rating, during the run
        after INTEGER,                     -- right after it
        next_morning INTEGER,              -- the next morning
        noted_unix REAL NOT NULL
    );
    CREATE TABLE activities (
        session_id INTEGER PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
        path TEXT NOT NULL,                -- the watch file merged onto the session
        sha256 TEXT NOT NULL,
        kind TEXT NOT NULL,                -- fit | gpx | tcx
        started_unix REAL,
        points INTEGER NOT NULL,
        imported_unix REAL NOT NULL
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

#: Columns of the per-step rows, in table order (after session_id).
STEP_COLUMNS = (
    "t_s",
    "side",
    "sensor",
    "cadence_spm",
    "step_cadence_spm",
    "contact_ms",
    "flight_ms",
    "impact_g",
    "loading_rate_g_per_s",
    "strike",
    "strike_angle_deg",
    "speed_m_s",
)
MINUTE_COLUMNS = (
    "minute",
    "running_s",
    "steps",
    "cadence_spm",
    "contact_ms_left",
    "contact_ms_right",
    "impact_g_left",
    "impact_g_right",
    "loading_rate_left",
    "loading_rate_right",
    "contact_si_pct",
    "impact_si_pct",
    "speed_m_s",
)
CUE_COLUMNS = ("t_s", "cue", "playing", "target_spm", "gain")
ACTIVITY_COLUMNS = ("t_s", "state")
TRACK_COLUMNS = (
    "t_s",
    "source",
    "speed_m_s",
    "distance_m",
    "heart_rate_bpm",
    "lat_deg",
    "lon_deg",
    "altitude_m",
)
#: A session's own columns that indexing sets.
SESSION_COLUMNS = (
    "path",
    "runner",
    "shoe",
    "source",
    "started_unix",
    "duration_s",
    "running_s",
    "steps",
    "cadence_spm",
    "contact_ms",
    "impact_g",
    "contact_si_pct",
    "impact_si_pct",
    "distance_m",
    "distance_source",
    "sensors_json",
    "summary_json",
    "damage",
)


@dataclass(frozen=True)
class SessionRows:
    """Everything indexing found in one recording, ready to be written."""

    uid: str
    session: dict[str, Any]  # SESSION_COLUMNS
    steps: list[tuple[Any, ...]]  # STEP_COLUMNS
    minutes: list[tuple[Any, ...]]  # MINUTE_COLUMNS
    cues: list[tuple[Any, ...]]
    activity: list[tuple[Any, ...]]
    track: list[tuple[Any, ...]]  # footpod rows; a watch file's are kept apart


def default_dir() -> Path:
    """Where the library lives unless told: the user's data directory
    (``$XDG_DATA_HOME/sensorhub``, ``~/.local/share/sensorhub`` on Linux)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("sensorhub", appauthor=False))


def open_library(config: Any, data_dir: Path | None = None) -> Library:
    """The library of ``--data-dir``, else ``[library] path``, else the default folder."""
    folder = data_dir or (Path(config.library.path).expanduser() if config.library.path else None)
    return Library(folder or default_dir())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


class Library:
    """The session library in ``folder`` (created when missing).

    ``Library(folder)`` opens (and migrates) it; use it as a context manager or call
    ``close``.  Every write is one transaction (``_write``)."""

    def __init__(self, folder: Path | str, busy_timeout_s: float = 30.0) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LIBRARY_FILE
        self.busy_timeout_s = busy_timeout_s
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not self.path.exists():  # health data: the owner's only (SQLite gives its
                # WAL and shared-memory files the database file's mode)
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, PRIVATE_MODE))
            self.db = sqlite3.connect(
                self.path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise LibraryError(
                f"cannot open the session library {self.path}: {exc}",
                "check the folder (--data-dir or [library] path) is writable",
            ) from None
        self.db.row_factory = sqlite3.Row
        try:
            self.db.execute("PRAGMA foreign_keys = ON")
            mode = self.db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            self.db.execute("PRAGMA synchronous = NORMAL")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise self._explain(exc) from None
        self.wal = str(mode).lower() == "wal"

    # ------------------------------------------------------------------ plumbing
    def _explain(self, exc: sqlite3.Error) -> LibraryError:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return LibraryError(
                f"the session library {self.path} is busy: another sensorhub has been "
                f"writing to it for {self.busy_timeout_s:g} s",
                "try again when it is done",
            )
        if "not a database" in text or "malformed" in text:
            return LibraryError(
                f"{self.path} is not a readable session library ({text})",
                "move it aside; `sensorhub library add` rebuilds one from the recordings",
            )
        return LibraryError(f"the session library {self.path}: {text}")

    def _migrate(self) -> None:
        version = int(self.db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise LibraryError(
                f"{self.path} has schema version {version}, from a newer sensorhub (this one "
                f"knows up to {SCHEMA_VERSION})",
                "update sensorhub; the library is left as it is",
            )
        while version < SCHEMA_VERSION:
            with self._write() as db:
                # another process may have migrated while this one waited for the lock
                now = int(db.execute("PRAGMA user_version").fetchone()[0])
                if now == version:
                    for statement in _statements(MIGRATIONS[version]):
                        db.execute(statement)
                    db.execute(f"PRAGMA user_version = {version + 1}")
            version = int(self.db.execute("PRAGMA user_version").fetchone()[0])

    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed at the end, rolled back on any error."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise self._explain(exc) from None
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        try:
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            self.db.execute("ROLLBACK")
            raise self._explain(exc) from None

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writing
    def begin_recording(
        self,
        uid: str,
        path: Path,
        runner: str,
        shoe: str | None,
        started_unix: float,
        source: str,
        sensors_json: str,
        pid: int | None = None,
    ) -> int:
        """A recording has started: kept as ``recording`` until it is indexed (by the run
        that writes it when it closes, or by the next start after a crash)."""
        with self._write() as db:
            row = db.execute("SELECT id FROM sessions WHERE uid = ?", (uid,)).fetchone()
            if row is not None:
                return int(row["id"])
            cur = db.execute(
                "INSERT INTO sessions (uid, path, state, writer_pid, runner, shoe, source, "
                "started_unix, sensors_json) VALUES (?, ?, 'recording', ?, ?, ?, ?, ?, ?)",
                (
                    uid,
                    str(path),
                    pid or os.getpid(),
                    runner,
                    shoe,
                    source,
                    started_unix,
                    sensors_json,
                ),
            )
            return int(cur.lastrowid or 0)

    def orphans(self) -> list[tuple[int, Path]]:
        """Recordings whose writer is gone without indexing them (a crash, a kill)."""
        rows = self.db.execute(
            "SELECT id, path, writer_pid FROM sessions WHERE state = 'recording'"
        ).fetchall()
        return [
            (int(r["id"]), Path(r["path"]))
            for r in rows
            if r["writer_pid"] is None or not _pid_alive(int(r["writer_pid"]))
        ]

    def put(self, rows: SessionRows, keep_notes: bool = True) -> tuple[int, bool]:
        """Write one indexed session (replacing what was there for the same recording).
        Returns its id and whether it is new to the library."""
        s = rows.session
        with self._write() as db:
            row = db.execute(
                "SELECT id, state, shoe FROM sessions WHERE uid = ?", (rows.uid,)
            ).fetchone()
            values = [s[c] for c in SESSION_COLUMNS]
            if row is None:
                cur = db.execute(
                    f"INSERT INTO sessions (uid, state, indexed_unix, {', '.join(SESSION_COLUMNS)})"
                    f" VALUES (?, 'indexed', strftime('%s','now'), "
                    f"{', '.join('?' * len(SESSION_COLUMNS))})",
                    [rows.uid, *values],
                )
                sid, new = int(cur.lastrowid or 0), True
            else:
                sid, new = int(row["id"]), row["state"] == "recording"
                db.execute(
                    "UPDATE sessions SET state = 'indexed', writer_pid = NULL, "
                    "indexed_unix = strftime('%s','now'), "
                    + ", ".join(f"{c} = ?" for c in SESSION_COLUMNS)
                    + " WHERE id = ?",
                    [*values, sid],
                )
                if keep_notes and row["shoe"] and not s["shoe"]:  # a shoe set afterwards
                    db.execute("UPDATE sessions SET shoe = ? WHERE id = ?", (row["shoe"], sid))
                for table in ("steps", "minutes", "cues", "activity"):
                    db.execute(f"DELETE FROM {table} WHERE session_id = ?", (sid,))
                db.execute("DELETE FROM track WHERE session_id = ? AND source = 'footpod'", (sid,))
            self._insert(db, "steps", STEP_COLUMNS, sid, rows.steps)
            self._insert(db, "minutes", MINUTE_COLUMNS, sid, rows.minutes)
            self._insert(db, "cues", CUE_COLUMNS, sid, rows.cues)
            self._insert(db, "activity", ACTIVITY_COLUMNS, sid, rows.activity)
            self._insert(db, "track", TRACK_COLUMNS, sid, rows.track)
        return sid, new

    @staticmethod
    def _insert(
        db: sqlite3.Connection,
        table: str,
        columns: Sequence[str],
        sid: int,
        rows: Sequence[tuple[Any, ...]],
    ) -> None:
        if rows:
            db.executemany(
                f"INSERT INTO {table} (session_id, {', '.join(columns)}) "
                f"VALUES (?, {', '.join('?' * len(columns))})",
                [(sid, *r) for r in rows],
            )

    def put_track(
        self,
        sid: int,
        source: str,
        rows: Sequence[tuple[Any, ...]],
        distance_m: float | None,
        activity: dict[str, Any] | None = None,
    ) -> None:
        """Replace a session's track points of ``source`` (``TRACK_COLUMNS``; a watch
        file's: "watch"), then give every step and minute its speed again (a watch's
        speed before a footpod's) and the session its distance; ``activity`` (path,
        sha256, kind, started_unix) records the file they came from.  One transaction."""
        from sensorhub.library import metrics

        with self._write() as db:
            db.execute("DELETE FROM track WHERE session_id = ? AND source = ?", (sid, source))
            self._insert(db, "track", TRACK_COLUMNS, sid, rows)
            points = db.execute(
                "SELECT t_s, speed_m_s, source FROM track WHERE session_id = ? ORDER BY t_s",
                (sid,),
            ).fetchall()
            best = "watch" if any(p["source"] == "watch" for p in points) else "footpod"
            chosen = [p for p in points if p["source"] == best]
            step_rows = db.execute(
                f"SELECT rowid, {', '.join(STEP_COLUMNS)} FROM steps WHERE session_id = ? "
                "ORDER BY t_s, rowid",
                (sid,),
            ).fetchall()
            steps = metrics.Steps.from_rows([tuple(r)[1:] for r in step_rows], STEP_COLUMNS)
            speed = metrics.interpolate_speed(
                steps.t_s,
                metrics.as_array([p["t_s"] for p in chosen]),
                metrics.as_array([p["speed_m_s"] for p in chosen]),
            )
            db.executemany(
                "UPDATE steps SET speed_m_s = ? WHERE rowid = ?",
                [
                    (None if v != v else round(float(v), 3), r["rowid"])
                    for r, v in zip(step_rows, speed, strict=True)
                ],
            )
            steps.speed_m_s = speed
            minute = metrics.as_array([]) if not len(steps) else (steps.t_s // 60.0)
            for m in sorted({int(x) for x in minute}):
                v = metrics.median(speed[minute == m])
                db.execute(
                    "UPDATE minutes SET speed_m_s = ? WHERE session_id = ? AND minute = ?",
                    (None if v is None else round(v, 3), sid, m),
                )
            if distance_m is not None:
                db.execute(
                    "UPDATE sessions SET distance_m = ?, distance_source = ? WHERE id = ?",
                    (round(distance_m, 1), source, sid),
                )
            if activity is not None:
                db.execute(
                    "INSERT OR REPLACE INTO activities (session_id, path, sha256, kind, "
                    "started_unix, points, imported_unix) VALUES (?, ?, ?, ?, ?, ?, "
                    "strftime('%s','now'))",
                    (
                        sid,
                        activity["path"],
                        activity["sha256"],
                        activity["kind"],
                        activity["started_unix"],
                        len(rows),
                    ),
                )

    def put_pain(
        self,
        sid: int,
        during: int | None,
        after: int | None,
        next_morning: int | None,
        now_unix: float,
    ) -> None:
        """A session's pain ratings; a rating not given keeps the one noted before."""
        with self._write() as db:
            old = db.execute("SELECT * FROM pain WHERE session_id = ?", (sid,)).fetchone()
            keep = dict(old) if old is not None else {}
            values = {
                "during": during if during is not None else keep.get("during"),
                "after": after if after is not None else keep.get("after"),
                "next_morning": next_morning
                if next_morning is not None
                else keep.get("next_morning"),
            }
            db.execute(
                "INSERT OR REPLACE INTO pain (session_id, during, after, next_morning, "
                "noted_unix) VALUES (?, ?, ?, ?, ?)",
                (sid, values["during"], values["after"], values["next_morning"], now_unix),
            )

    def pain(self, sid: int) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.db.execute(
            "SELECT * FROM pain WHERE session_id = ?", (sid,)
        ).fetchone()
        return row

    def forget(self, sid: int) -> None:
        with self._write() as db:
            db.execute("DELETE FROM sessions WHERE id = ?", (sid,))

    def set_fields(self, sid: int, **fields: Any) -> None:
        """Change a session's own columns (shoe, notes, ...)."""
        with self._write() as db:
            db.execute(
                "UPDATE sessions SET " + ", ".join(f"{k} = ?" for k in fields) + " WHERE id = ?",
                [*fields.values(), sid],
            )

    # ------------------------------------------------------------------ reading
    def session(self, sid: int) -> sqlite3.Row:
        row = self.db.execute("SELECT * FROM sessions WHERE id = ?", (sid,)).fetchone()
        if row is None:
            raise LibraryError(f"no session {sid} in the library", "see `sensorhub sessions`")
        return row  # type: ignore[no-any-return]

    def find_uid(self, uid: str) -> int | None:
        row = self.db.execute("SELECT id FROM sessions WHERE uid = ?", (uid,)).fetchone()
        return None if row is None else int(row["id"])

    def find_path(self, path: Path) -> int | None:
        row = self.db.execute(
            "SELECT id FROM sessions WHERE path = ? ORDER BY id DESC", (str(path),)
        ).fetchone()
        return None if row is None else int(row["id"])

    def sessions(
        self,
        runner: str | None = None,
        shoe: str | None = None,
        since_unix: float | None = None,
        until_unix: float | None = None,
        indexed_only: bool = True,
    ) -> list[sqlite3.Row]:
        """Sessions, newest first."""
        where: list[str] = []
        args: list[Any] = []
        if indexed_only:
            where.append("state = 'indexed'")
        if runner is not None:
            where.append("runner = ?")
            args.append(runner)
        if shoe is not None:
            where.append("shoe = ?")
            args.append(shoe)
        if since_unix is not None:
            where.append("started_unix >= ?")
            args.append(since_unix)
        if until_unix is not None:
            where.append("started_unix < ?")
            args.append(until_unix)
        sql = "SELECT * FROM sessions" + (" WHERE " + " AND ".join(where) if where else "")
        return self.db.execute(sql + " ORDER BY started_unix DESC, id DESC", args).fetchall()

    def rows(self, table: str, columns: Sequence[str], sid: int, where: str = "") -> list[Any]:
        order = "minute" if table == "minutes" else "t_s"
        return self.db.execute(
            f"SELECT {', '.join(columns)} FROM {table} WHERE session_id = ? {where} "
            f"ORDER BY {order}, rowid",
            (sid,),
        ).fetchall()

    def check(self) -> str:
        """SQLite's own integrity check: "ok" when the file is sound."""
        return str(self.db.execute("PRAGMA integrity_check").fetchone()[0])


def _statements(script: str) -> list[str]:
    """The statements of a migration script (``executescript`` would commit)."""
    out, buf = [], ""
    for line in script.splitlines():
        buf += line.split("--", 1)[0] + "\n"
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    return [s for s in out if s]
