"""Live audio through the real PortAudio and ALSA: the sound card is ALSA's ``file``
plugin (what the card is sent goes to a file), so the beats the runner would hear are
measured in the bytes PortAudio delivered.  The plugin is not paced by a clock, so the
stream runs faster than real time; the sample grid is what is checked."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.integration.test_cli import sh
from tests.unit.test_cues import onsets

PLAY = textwrap.dedent(
    """
    import asyncio
    from sensorhub.cues import CueSettings
    from sensorhub.events import Cue
    from sensorhub.pipeline.runner import STOP
    from sensorhub.sinks.audio import PlaybackSink

    async def main():
        sink = PlaybackSink(CueSettings(mode="metronome", sample_rate=48000, volume=0.5))
        q = asyncio.Queue()
        task = asyncio.create_task(sink.run(q))
        await asyncio.sleep(0.01)
        start = sink.frames  # silence so far: the card pulls it while nothing plays
        q.put_nowait(Cue(t=0.0, sensor="", side="both", cue="metronome", playing=True,
                         target_spm=174.0, gain=1.0))
        # the file plugin is unpaced: the card pulls as fast as the machine allows, so wait
        # for 8 s of sound after the cue (>= 23 beats) rather than a fixed time (a loaded
        # machine pulls less, and more silence before the cue)
        for _ in range(2000):
            await asyncio.sleep(0.01)
            if sink.frames - start >= 8 * 48000:
                break
        q.put_nowait(STOP)
        await task
        print(sink.device_name, sink.frames, sink.underflows)

    asyncio.run(main())
    """
)


def sound_card(home: Path, capture: Path) -> dict[str, str]:
    """An environment whose default ALSA device writes to ``capture``."""
    home.mkdir(exist_ok=True)
    (home / ".asoundrc").write_text(
        f'pcm.!default {{\n type file\n slave.pcm "null"\n file "{capture}"\n format "raw"\n}}\n'
    )
    return {**os.environ, "HOME": str(home)}


def test_metronome_plays_on_the_grid_through_portaudio(tmp_path: Path) -> None:
    try:
        import sounddevice  # noqa: F401
    except OSError:
        pytest.skip("no PortAudio library (scripts/test installs libportaudio2)")
    capture = tmp_path / "card.raw"
    r = subprocess.run(
        [sys.executable, "-c", PLAY],
        env=sound_card(tmp_path / "home", capture),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    name, frames, _ = r.stdout.split()
    assert name == "default"
    x = np.fromfile(capture, "<f4")  # PortAudio sends float32 to the plugin
    assert len(x) >= int(frames)  # PortAudio may prime the card with a little silence
    found = onsets(x, 0.01, quiet=48000 // 20)
    assert len(found) >= 20
    period = 48000 * 60 / 174.0
    ideal = found[0] + np.arange(len(found)) * period
    assert np.max(np.abs(np.array(found) - ideal)) / 48000 <= 0.0005
    # the accent on every other beat is the higher tone: more zero crossings per click
    click = int(0.02 * 48000)
    crossings = [int(np.sum(np.diff(np.sign(x[k : k + click])) != 0)) for k in found[:8]]
    assert all(crossings[k] > crossings[k + 1] for k in range(0, 8, 2))


def test_audio_auto_falls_back_to_wav_and_device_errors(tmp_path: Path) -> None:
    rec = tmp_path / "run.shs"
    assert sh("sim", "--duration", "10", "--seed", "1", "--record", str(rec)).returncode == 0
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home)}  # no .asoundrc: this machine has no sound card

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sensorhub", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    r = run("replay", str(rec), "--audio", "auto", "--set", "cues.mode=metronome")
    assert r.returncode == 0, r.stderr
    wavs = list(tmp_path.glob("sensorhub-*.wav"))
    assert len(wavs) == 1 and "no audio output device" in r.stdout
    for audio in ("device", "device:nonexistent"):
        r = run("replay", str(rec), "--audio", audio, "--set", "cues.mode=metronome")
        assert r.returncode == 2
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "no audio output device" in lines[0], r.stderr
        assert "python -m sounddevice" in lines[0]
