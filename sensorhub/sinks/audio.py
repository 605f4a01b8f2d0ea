"""What the runner hears: played through PortAudio, rendered to a WAV file, or nowhere.

Both sinks render with :class:`~sensorhub.cues.AudioRenderer`, beats scheduled on an
exact sample grid, never by ``asyncio.sleep``:

- :class:`PlaybackSink` plays through the sound card (``sounddevice``).  The card's
  callback pulls the next block from the renderer, so the metronome runs on the audio
  clock; cue events only change what the renderer plays (start, stop, gain, impact tones
  at the next sample).
- :class:`WavSink` follows the cue events in session time, so a WAV of a replay is the
  same audio, sample for sample, as the one of the live run.
"""

from __future__ import annotations

import asyncio
import threading
import wave
from pathlib import Path
from typing import Any

import numpy as np

from sensorhub.cues import AudioRenderer, CueSettings
from sensorhub.errors import AudioUnavailable
from sensorhub.events import Cue
from sensorhub.fileutil import open_new
from sensorhub.pipeline.runner import STOP
from sensorhub.sinks.files import writing


def _output_device(device: str | None) -> int | str | None:
    if device is None or device == "":
        return None
    return int(device) if device.isdigit() else device


class PlaybackSink:
    """Cue audio to a sound card through PortAudio, on the card's own clock."""

    wants_raw = False

    def __init__(self, settings: CueSettings, device: str | None = None) -> None:
        self.name = "audio"
        self.renderer = AudioRenderer(settings)
        self._lock = threading.Lock()
        self.underflows = 0
        self.frames = 0
        try:
            import sounddevice as sd
        except OSError as exc:  # the PortAudio library itself is missing
            raise AudioUnavailable(
                f"no PortAudio library ({exc})", "install libportaudio2 for live audio"
            ) from None
        try:
            dev = _output_device(device)
            sd.query_devices(dev, kind="output")
            # opened now, started in run(): a missing or busy device fails before the run
            self._stream = sd.OutputStream(
                samplerate=settings.sample_rate,
                channels=1,
                dtype="float32",
                device=dev,
                latency="low",
                callback=self._callback,
            )
        except (ValueError, sd.PortAudioError) as exc:
            raise AudioUnavailable(
                f"no audio output device {device or ''}".rstrip() + f" ({exc})",
                "list the devices with: python -m sounddevice; or use --audio wav:PATH",
            ) from None
        info = sd.query_devices(self._stream.device)
        self.device_name = str(info["name"])

    def _callback(self, outdata: Any, frames: int, _time: Any, status: Any) -> None:
        # PortAudio's thread: render the next block (a few ms of numpy work), nothing else
        with self._lock:
            outdata[:, 0] = self.renderer.next_block(frames)
            self.frames += frames
            if status.output_underflow:
                self.underflows += 1

    async def run(self, queue: asyncio.Queue[Any]) -> None:
        self._stream.start()
        try:
            while (item := await queue.get()) is not STOP:
                if isinstance(item, Cue):
                    with self._lock:
                        self.renderer.apply(item, now=True)
            with self._lock:
                self.renderer.metronome.set(None, 0.0)
            await asyncio.sleep(0.3)  # let the last sounds ring
        finally:
            self._stream.stop()
            self._stream.close()


class WavSink:
    """Cue audio to a 16-bit mono WAV file."""

    wants_raw = False

    def __init__(self, path: Path, settings: CueSettings) -> None:
        self.name = "audio"
        self.path = path
        self.renderer = AudioRenderer(settings)
        self._file = open_new(path)  # mode 0600; a missing folder: one clear error
        self._wav = wave.open(self._file, "wb")  # noqa: SIM115 - closed by run()
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
        with writing(self.path):
            try:
                while (item := await queue.get()) is not STOP:
                    last_t = item.t if last_t is None else max(last_t, item.t)
                    self._write(self.renderer.advance(last_t))
                    if isinstance(item, Cue):
                        self.renderer.apply(item)
                if last_t is not None:
                    self._write(self.renderer.advance(last_t + 0.5))  # the last sounds ring
            finally:
                try:
                    self._wav.close()
                finally:
                    self._file.close()
