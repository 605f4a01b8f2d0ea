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


class BleConfig(_Section):
    """Sensors over Bluetooth LE: what they are set to on connect, how long to look for
    them, how to reconnect."""

    odr_hz: int = 1000
    acc_range_g: Literal[2, 4, 8, 16] = 16
    gyro_range_dps: Literal[125, 250, 500, 1000, 2000] = 2000
    scan_timeout_s: float = 10.0  # how long `live` looks for a sensor before giving up
    connect_timeout_s: float = 10.0
    reconnect_max_s: float = 5.0  # cap of the jittered backoff between attempts
    give_up_s: float = 0.0  # after a link loss; 0: keep trying until the run is stopped


class SimConfigSection(_Section):
    """The simulated runner of ``sensorhub demo``.

    ``transport``: ``ble`` serves the simulated sensors as BLE peripherals (a fake BlueZ
    on a private dbus-daemon) and reads them with bleak, as ``sensorhub live`` reads real
    ones; ``direct`` feeds the simulator's bytes straight in; ``auto``: ``ble`` where
    ``dbus-daemon`` is installed."""

    transport: Literal["auto", "ble", "direct"] = "auto"

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
    ble: BleConfig = msgspec.field(default_factory=BleConfig)
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


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """The built-in defaults, overridden by the TOML file at ``path``, then by
    ``section.key=value`` overrides (values in TOML syntax; a bare word is a string)."""
    data = b""
    source = "the built-in defaults"
    if path is not None:
        path = Path(path)
        source = str(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such configuration file", "check the path") from None
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        tree = msgspec.toml.decode(data) if data else {}
    except msgspec.DecodeError as exc:
        raise _explain(exc, source) from None
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) != 2 or not all(parts):
            raise ConfigError(f"--set {item!r}: write section.key=value, e.g. mqtt.keepalive_s=5")
        try:
            value = msgspec.toml.decode(f"v = {raw.strip()}".encode())["v"]
        except msgspec.DecodeError:
            value = raw.strip()  # a bare word: a string
        section = tree.setdefault(parts[0], {})
        if not isinstance(section, dict):
            raise ConfigError(f"--set {item!r}: {parts[0]!r} is not a section")
        section[parts[1]] = value
        source = f"{source} with --set"
    try:
        return msgspec.convert(tree, type=Config)
    except msgspec.ValidationError as exc:
        raise _explain(exc, source) from None
