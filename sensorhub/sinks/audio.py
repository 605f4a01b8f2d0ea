"""What the runner hears, rendered sample-accurately: to a WAV file, or nowhere.

The renderer follows the cue events in session time, so a WAV of a replay is the same
audio, sample for sample, as the one of the live run.  Live playback through PortAudio
(``sounddevice``) is the next step; until then ``--audio wav:PATH``.
"""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path
from typing import Any

import numpy as np

from sensorhub.cues import AudioRenderer, CueSettings
from sensorhub.errors import SensorhubError
from sensorhub.events import Cue
from sensorhub.pipeline.runner import STOP


class WavSink:
    """Cue audio to a 16-bit mono WAV file."""

    wants_raw = False

    def __init__(self, path: Path, settings: CueSettings) -> None:
        self.name = "audio"
        self.path = path
        self.renderer = AudioRenderer(settings)
        if path.exists():
            raise SensorhubError(f"{path} already exists", "choose a new name")
        try:
            self._wav = wave.open(str(path), "wb")  # noqa: SIM115 - closed by run()
        except OSError as exc:
            raise SensorhubError(f"cannot create {path}: {exc.strerror}") from None
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(settings.sample_rate)
        self.samples = 0

    def _write(self, block: np.ndarray) -> None:
        pcm = np.clip(block, -1.0, 1.0)
        self._wav.writeframes((pcm * 32767).astype("<i2").tobytes())
        self.samples += len(block)

    async def run(self, queue: asyncio.Queue[Any]) -> None:
        last_t = None
        try:
            while (item := await queue.get()) is not STOP:
                last_t = item.t if last_t is None else max(last_t, item.t)
                self._write(self.renderer.advance(last_t))
                if isinstance(item, Cue):
                    self.renderer.apply(item)
            if last_t is not None:
                self._write(self.renderer.advance(last_t + 0.5))  # let the last sounds ring
        finally:
            self._wav.close()
