"""What the library commands share: opening the library, naming a session, progress."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sensorhub.config import Config, load_config
from sensorhub.errors import LibraryError, RecordingError
from sensorhub.library.store import Library, open_library


def config_of(args: argparse.Namespace) -> Config:
    return load_config(getattr(args, "config", None), getattr(args, "set", None) or [])


@contextlib.contextmanager
def library_of(args: argparse.Namespace, config: Config | None = None) -> Iterator[Library]:
    """The library named by ``--data-dir`` / the configuration; recordings a crashed run
    left unindexed are indexed first (a line each, on stderr)."""
    from sensorhub.library.index import index_orphans

    cfg = config or config_of(args)
    lib = open_library(cfg, getattr(args, "data_dir", None))
    try:
        index_orphans(lib, cfg, say=lambda line: print(f"sensorhub: {line}", file=sys.stderr))
        yield lib
    finally:
        lib.close()


def resolve_session(lib: Library, text: str) -> int:
    """A session by the id ``sessions`` gives, or by its recording's path."""
    if text.isdigit():
        lib.session(int(text))  # raises when there is none
        return int(text)
    path = Path(text).expanduser()
    if path.is_file():
        from sensorhub.library.index import recording_uid
        from sensorhub.recording import SessionReader

        try:
            sid = lib.find_uid(recording_uid(SessionReader(path).header))
        except RecordingError:
            sid = None
        if sid is not None:
            return sid
        found = lib.find_path(path.resolve())
        if found is not None:
            return found
        raise LibraryError(
            f"{path} is not in the library", f"add it first: sensorhub library add {path}"
        )
    found = lib.find_path(path.resolve())
    if found is not None:
        return found
    raise LibraryError(
        f"no session {text!r} in the library",
        "name it by its id (`sensorhub sessions`) or by its recording's path",
    )


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def local_time(unix: float, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return time.strftime(fmt, time.localtime(unix))


def parse_date(text: str, what: str) -> float:
    """``YYYY-MM-DD`` (local midnight) as Unix time; ConfigError-style message if not."""
    try:
        return time.mktime(time.strptime(text, "%Y-%m-%d"))
    except ValueError:
        raise LibraryError(f"{what} takes a date as YYYY-MM-DD, not {text!r}") from None


@contextlib.contextmanager
def progress(description: str, total: float | None) -> Iterator[Any]:
    """A progress bar on stderr when it is a terminal (a work of more than a second)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=not sys.stderr.isatty(),
    )
    with bar:
        task = bar.add_task(description, total=total)

        def advance(n: float = 1.0, note: str | None = None) -> None:
            bar.advance(task, n)
            if note is not None:
                bar.update(task, description=f"{description} {note}")

        yield advance
