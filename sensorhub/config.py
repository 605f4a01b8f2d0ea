"""The one configuration tree: TOML in ``configs/``, validated once, overridable from the
command line.  An invalid file names the bad key and what is allowed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import msgspec

from sensorhub.errors import ConfigError


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class RunnerConfig(_Section):
    """Who is running: names the MQTT topics (``sensorhub/<id>/...``)."""

    id: str = "runner"


class MqttConfig(_Section):
    """Where events go.

    ``url``: ``mqtt://[user:password@]host[:port]`` or ``mqtts://`` for TLS; empty: use a
    broker on localhost:1883, or start the embedded one.
    """

    enabled: bool = True
    url: str = ""
    tls_ca: str = ""  # CA bundle for mqtts:// (default: the system's)
    tls_insecure: bool = False  # accept any server certificate (testing only)
    keepalive_s: int = 15
    outbox_max: int = 10_000  # QoS 1 messages kept while the broker is away
    final_flush_s: float = 15.0  # at the end, how long to wait for a missing broker
    topic_prefix: str = "sensorhub"


class CuesConfig(_Section):
    """Cadence cues (see ``sensorhub.cues``)."""

    mode: Literal["off", "metronome", "band", "impact", "fade"] = "metronome"
    target_spm: float | None = None  # default: the runner's baseline + increase_pct
    increase_pct: float = 5.0
    baseline_s: float = 60.0
    band_spm: float = 3.0
    impact_threshold_g: float = 12.0
    fade_schedule: list[tuple[float, float]] = msgspec.field(
        default_factory=lambda: [(0.0, 1.0), (5.0, 1.0), (10.0, 0.0)]
    )
    volume: float = 0.5


class AudioConfig(_Section):
    """Where cues are heard: ``auto`` (speakers, else a WAV file), ``wav:PATH``, ``none``."""

    output: str = "auto"
    sample_rate: int = 48000


class SimConfigSection(_Section):
    """The simulated runner of ``sensorhub demo``."""

    activity: Literal["run", "walk"] = "run"
    mount: Literal["shoe", "shin"] = "shoe"
    duration_s: float = 60.0
    seed: int = 1
    cadence_spm: float | None = None
    asymmetry: float = 0.04


class Config(_Section):
    runner: RunnerConfig = msgspec.field(default_factory=RunnerConfig)
    mqtt: MqttConfig = msgspec.field(default_factory=MqttConfig)
    cues: CuesConfig = msgspec.field(default_factory=CuesConfig)
    audio: AudioConfig = msgspec.field(default_factory=AudioConfig)
    sim: SimConfigSection = msgspec.field(default_factory=SimConfigSection)


_WHERE = re.compile(r" - at `\$\.?(.*)`$")


def _explain(exc: msgspec.ValidationError | msgspec.DecodeError, source: str) -> ConfigError:
    text = str(exc)
    m = _WHERE.search(text)
    where = m.group(1) if m else ""
    what = _WHERE.sub("", text)
    if what.startswith("Object contains unknown field"):
        field = what.split("`")[1] if "`" in what else what
        section = where or "the top level"
        return ConfigError(
            f"{source}: unknown key {field!r} in [{section}]",
            "see configs/default.toml for the keys that exist",
        )
    return ConfigError(
        f"{source}: {what}" + (f" at {where}" if where else ""),
        "see configs/default.toml for the allowed values",
    )


def load_config(path: str | Path | None = None) -> Config:
    """The built-in defaults, or those overridden by the TOML file at ``path``."""
    if path is None:
        return Config()
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file", "check the path") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return msgspec.toml.decode(data, type=Config)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise _explain(exc, str(path)) from None
