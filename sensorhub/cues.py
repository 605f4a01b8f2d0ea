"""Audio cadence cues: a sample-accurate metronome and the rules that decide when it plays.

Pure and clock-free: audio time is a sample count, session time comes with the events.
Beats are placed at exact fractional sample positions of the tempo grid and rendered
ahead into the stream block by block, so every onset is within half a sample of the ideal
grid; nothing here sleeps.

Modes (``CueSettings.mode``):

* ``metronome``: a click per step at the target cadence, accented once per stride, while
  the runner runs.
* ``band``: the metronome only while the measured cadence is outside +-``band_spm`` of the
  target (cues when they are needed, silence when the runner is on target).
* ``impact``: no metronome; a tone after every landing harder than ``impact_threshold_g``,
  higher pitched the harder it was.
* ``fade``: the metronome with a gain that follows ``fade_schedule`` over minutes of running,
  as in gait-retraining protocols that withdraw feedback gradually (e.g. Willy et al. 2016,
  Med Sci Sports Exerc 48:1743, cadence retraining for runners with knee pain).

The target cadence is ``target_spm`` when set, else the runner's own baseline (median
cadence over the first ``baseline_s`` of running) raised by ``increase_pct``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from sensorhub.config import CuesConfig
from sensorhub.errors import ConfigError
from sensorhub.events import Activity, AnyEvent, Cadence, Cue, Impact

Audio = npt.NDArray[np.float32]


@dataclass(frozen=True)
class CueSettings:
    mode: str = "metronome"  # off, metronome, band, impact, fade
    target_spm: float | None = None
    increase_pct: float = 5.0
    baseline_s: float = 60.0
    band_spm: float = 3.0
    impact_threshold_g: float = 12.0
    fade_schedule: tuple[tuple[float, float], ...] = ((0.0, 1.0), (5.0, 1.0), (10.0, 0.0))
    volume: float = 0.5
    sample_rate: int = 48000

    def __post_init__(self) -> None:
        if self.mode not in ("off", "metronome", "band", "impact", "fade"):
            raise ValueError("cue mode must be off, metronome, band, impact or fade")
        if self.target_spm is not None and not 100 <= self.target_spm <= 240:
            raise ValueError("target cadence must be 100-240 steps/min")


def settings_from_config(cues: CuesConfig, sample_rate: int) -> CueSettings:
    """The ``[cues]`` section as the controller's settings (a bad one: ConfigError)."""
    try:
        return CueSettings(
            mode=cues.mode,
            target_spm=cues.target_spm,
            increase_pct=cues.increase_pct,
            baseline_s=cues.baseline_s,
            band_spm=cues.band_spm,
            impact_threshold_g=cues.impact_threshold_g,
            fade_schedule=tuple((float(m), float(g)) for m, g in cues.fade_schedule),
            volume=cues.volume,
            sample_rate=sample_rate,
        )
    except ValueError as exc:
        raise ConfigError(f"[cues] in the configuration: {exc}") from None


def tone(sample_rate: int, freq_hz: float, duration_s: float, gain: float) -> Audio:
    """A short tone with a 1 ms attack and an exponential decay: a crisp, sharp onset."""
    n = int(duration_s * sample_rate)
    t = np.arange(n) / sample_rate
    attack = np.minimum(1.0, t / 0.001)
    env = attack * np.exp(-t / (duration_s / 4))
    return (gain * env * np.sin(2 * math.pi * freq_hz * t)).astype(np.float32)


@dataclass
class _Voice:
    onset: int  # sample
    wave: Audio


class Renderer:
    """Mixes scheduled sounds into consecutive audio blocks (sample-accurate)."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.position = 0  # first sample of the next block
        self._voices: list[_Voice] = []
        self.onsets: list[int] = []  # every scheduled onset (for tests and logs)

    def schedule(self, onset: int, wave: Audio) -> None:
        self._voices.append(_Voice(max(onset, self.position), wave))
        self.onsets.append(max(onset, self.position))

    def render(self, n: int) -> Audio:
        out = np.zeros(n, np.float32)
        start, stop = self.position, self.position + n
        keep = []
        for v in self._voices:
            a = max(v.onset, start)
            b = min(v.onset + len(v.wave), stop)
            if b > a:
                out[a - start : b - start] += v.wave[a - v.onset : b - v.onset]
            if v.onset + len(v.wave) > stop:
                keep.append(v)
        self._voices = keep
        self.position = stop
        return out


class Metronome:
    """Beats on an exact tempo grid; tempo changes keep the phase continuous."""

    def __init__(self, renderer: Renderer, volume: float) -> None:
        self.renderer = renderer
        sr = renderer.sample_rate
        self.click = tone(sr, 1000.0, 0.03, volume)
        self.accent = tone(sr, 1500.0, 0.03, volume)
        self.spm: float | None = None
        self.gain = 0.0
        self._next = 0.0  # fractional sample position of the next beat
        self._beat = 0

    def set(self, spm: float | None, gain: float) -> None:
        if spm is not None and self.spm is None:
            self._next = float(self.renderer.position)  # start on the next sample
        self.spm = spm
        self.gain = gain

    def fill(self, until: int) -> None:
        """Schedule every beat before sample ``until``."""
        if self.spm is None:
            return
        period = self.renderer.sample_rate * 60.0 / self.spm
        while self._next < until:
            if self.gain > 0:
                base = self.accent if self._beat % 2 == 0 else self.click
                self.renderer.schedule(round(self._next), base * np.float32(self.gain))
            self._beat += 1
            self._next += period


@dataclass
class CueState:
    running: bool = False
    running_s: float = 0.0  # time spent running so far
    cadence: float | None = None
    baseline: list[float] = field(default_factory=list)
    target: float | None = None
    playing: bool = False
    gain: float = 0.0


class CueController:
    """Decides, from the events, what the runner hears: emits ``Cue`` events (pure)."""

    def __init__(self, settings: CueSettings) -> None:
        self.settings = settings
        self.state = CueState(target=settings.target_spm)
        self._clock: float | None = None  # session s: the latest event time seen

    def fade_gain(self) -> float:
        sched = self.settings.fade_schedule
        minutes = self.state.running_s / 60.0
        return float(np.interp(minutes, [m for m, _ in sched], [g for _, g in sched]))

    def finish(self) -> list[Cue]:
        """Nothing more to say at the end of a run (the audio sinks let the last sounds
        ring)."""
        return []

    def on_event(self, ev: AnyEvent) -> list[Cue]:
        s, cfg = self.state, self.settings
        if cfg.mode == "off" or isinstance(ev, Cue):
            return []
        # Events do not come in time order (a step is sent at its toe-off with its contact
        # time, an impact at its peak, two sensors each with their own delay): the stage
        # clock is the latest event time seen, which only moves forward.
        if self._clock is None or ev.t > self._clock:
            if self._clock is not None and s.running:
                s.running_s += ev.t - self._clock
            self._clock = ev.t
        cues: list[Cue] = []
        if isinstance(ev, Activity):
            s.running = ev.state == "running"
        elif isinstance(ev, Cadence):
            s.cadence = ev.cadence_spm
            if s.target is None and s.running:
                s.baseline.append(ev.cadence_spm)
                if s.running_s >= cfg.baseline_s and len(s.baseline) >= 10:
                    s.target = float(np.median(s.baseline)) * (1 + cfg.increase_pct / 100)
        elif (
            isinstance(ev, Impact)
            and cfg.mode == "impact"
            and s.running
            and ev.peak_g > cfg.impact_threshold_g
        ):
            pitch = 600.0 + 40.0 * (ev.peak_g - cfg.impact_threshold_g)
            cues.append(
                Cue(
                    t=ev.t,
                    sensor=ev.sensor,
                    side=ev.side,
                    cue="impact",
                    playing=True,
                    gain=1.0,
                    pitch_hz=round(pitch, 1),
                    peak_g=ev.peak_g,
                )
            )
        play = cfg.mode in ("metronome", "band", "fade") and s.running and s.target is not None
        gain = 1.0
        if play and cfg.mode == "band":
            assert s.target is not None
            play = s.cadence is not None and abs(s.cadence - s.target) > cfg.band_spm
        if play and cfg.mode == "fade":
            gain = round(self.fade_gain(), 2)
            play = gain > 0
        gain = gain if play else 0.0
        if play != s.playing or (play and abs(gain - s.gain) >= 0.05):
            s.playing, s.gain = play, gain
            cues.append(
                Cue(
                    t=ev.t,
                    sensor="",
                    side="both",
                    cue="metronome",
                    playing=play,
                    target_spm=None if s.target is None else round(s.target, 1),
                    gain=gain,
                )
            )
        return cues


class AudioRenderer:
    """Renders what the cue events ask for, in session time, into audio blocks."""

    def __init__(self, settings: CueSettings) -> None:
        self.settings = settings
        self.renderer = Renderer(settings.sample_rate)
        self.metronome = Metronome(self.renderer, settings.volume)
        self._t0: float | None = None

    def sample_of(self, t: float) -> int:
        """Audio sample at session time ``t`` (the audio starts with the first event)."""
        if self._t0 is None:
            self._t0 = t
        return round((t - self._t0) * self.settings.sample_rate)

    def advance(self, t: float) -> Audio:
        """Audio from where the last block ended up to session time ``t`` (files)."""
        return self.next_block(max(0, self.sample_of(t) - self.renderer.position))

    def next_block(self, n: int) -> Audio:
        """The next ``n`` samples of the stream (a sound card asks for them)."""
        self.metronome.fill(self.renderer.position + n)
        return self.renderer.render(n)

    def apply(self, cue: Cue, now: bool = False) -> None:
        """Act on a cue: at its session time, or with ``now`` at the next sample to be
        rendered (live playback, where the sound card's clock leads)."""
        if cue.cue == "metronome":
            self.metronome.set(cue.target_spm if cue.playing else None, cue.gain)
        elif cue.cue == "impact" and cue.pitch_hz:
            self.renderer.schedule(
                self.renderer.position if now else self.sample_of(cue.t),
                tone(self.settings.sample_rate, cue.pitch_hz, 0.08, self.settings.volume),
            )
