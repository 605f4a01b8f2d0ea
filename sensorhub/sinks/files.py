"""Sinks that write files: events as JSON lines, raw notifications as a session."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from sensorhub.events import Link, encode_json, shifted
from sensorhub.fileutil import open_new
from sensorhub.pipeline.runner import STOP
from sensorhub.recording import RECORD_LINK, SessionWriter


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """An OSError inside (a full disk: ``os.write`` names no file) names ``path``."""
    try:
        yield
    except OSError as exc:
        if exc.filename:
            raise
        raise OSError(exc.errno, exc.strerror, str(path)) from exc


class JsonlSink:
    """Every event, one JSON object per line (times plus ``origin_s``: see ``shifted``)."""

    wants_raw = False

    def __init__(self, path: Path, origin_s: float = 0.0) -> None:
        self.name = "events-jsonl"
        self.path = path
        self.origin_s = origin_s
        self._fh = open_new(path)

    async def run(self, queue: asyncio.Queue[Any]) -> None:
        with writing(self.path):
            try:
                while (item := await queue.get()) is not STOP:
                    self._fh.write(encode_json(shifted(item, self.origin_s)) + b"\n")
            finally:
                self._fh.close()


class RecorderSink:
    """The raw notifications as received, and the sensors' link changes: a session file,
    flushed every 0.5 s."""

    wants_raw = True

    def __init__(self, writer: SessionWriter) -> None:
        self.name = "recorder"
        self.writer = writer
        self._index = {e.name: e.index for e in writer.header.sensors}

    async def run(self, queue: asyncio.Queue[Any]) -> None:
        with writing(self.writer.path):
            try:
                while (item := await queue.get()) is not STOP:
                    if isinstance(item, Link):  # an outage replays as it was lived
                        index = self._index.get(item.sensor)
                        if index is not None:
                            data = msgspec.json.encode(item)
                            self.writer.write(item.t, index, data, kind=RECORD_LINK)
                        continue
                    t, sensor, data = item
                    self.writer.write(t, sensor, data)
            finally:
                self.writer.close()
