"""The one configuration tree: TOML in ``configs/``, validated once, overridable from the
command line.  An invalid file names the bad key and what is allowed."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Annotated, Literal

import msgspec
import msgspec.inspect

from sensorhub.errors import ConfigError
from sensorhub.protocol import spec


def _r(lo: float, hi: float) -> msgspec.Meta:
    return msgspec.Meta(ge=lo, le=hi)


Frac = Annotated[float, _r(0.0, 1.0)]
_LEVEL = r"[^/+#\x00-\x1f]+"
#: One MQTT topic level: no separators, no wildcards, no control characters.
TopicLevel = Annotated[str, msgspec.Meta(pattern=f"^{_LEVEL}$", max_length=64)]
#: A topic prefix: one or more levels.
TopicPrefix = Annotated[str, msgspec.Meta(pattern=f"^{_LEVEL}(/{_LEVEL})*$", max_length=128)]


#: The simulated runner: a day at most, and a cadence a person can keep.
SIM_MAX_S = 86_400.0
SIM_MIN_SPM = 60.0
SIM_MAX_SPM = 240.0


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class RunnerConfig(_Section):
    """Who is running: names the MQTT topics (``sensorhub/<id>/...``)."""

    id: TopicLevel = "runner"
    shoe: Annotated[str, msgspec.Meta(max_length=80)] = ""  # the pair worn (`--shoe`); "": unnamed


class MqttConfig(_Section):
    """Where events go.

    ``url``: ``mqtt://[user:password@]host[:port]`` or ``mqtts://`` for TLS; empty: use a
    broker on localhost:1883, or start the embedded one.
    """

    enabled: bool = True
    url: str = ""
    tls_ca: str = ""  # CA bundle for mqtts:// (default: the system's)
    tls_insecure: bool = False  # accept any server certificate (testing only)
    keepalive_s: Annotated[int, _r(1, 65535)] = 15
    outbox_max: Annotated[int, _r(1, 1_000_000)] = 10_000  # QoS 1 kept while the broker is away
    final_flush_s: Annotated[float, _r(0.0, 3600.0)] = 15.0  # at the end: wait for a broker
    topic_prefix: TopicPrefix = "sensorhub"


class CuesConfig(_Section):
    """Cadence cues (see ``sensorhub.cues``)."""

    mode: Literal["off", "metronome", "band", "impact", "fade"] = "metronome"
    target_spm: Annotated[float, _r(100.0, 240.0)] | None = None  # default: baseline + increase
    increase_pct: Annotated[float, _r(0.0, 30.0)] = 5.0
    baseline_s: Annotated[float, _r(10.0, 600.0)] = 60.0
    band_spm: Annotated[float, _r(0.5, 30.0)] = 3.0
    impact_threshold_g: Annotated[float, _r(1.0, 200.0)] = 12.0
    #: [minute of running, gain]: minutes 0-600 and increasing, gains 0-1
    fade_schedule: list[tuple[Annotated[float, _r(0.0, 600.0)], Frac]] = msgspec.field(
        default_factory=lambda: [(0.0, 1.0), (5.0, 1.0), (10.0, 0.0)]
    )
    volume: Frac = 0.5

    def __post_init__(self) -> None:
        minutes = [m for m, _ in self.fade_schedule]
        if not minutes or any(b <= a for a, b in itertools.pairwise(minutes)):
            raise ValueError(f"fade_schedule minutes must increase, not {minutes}")


class AudioConfig(_Section):
    """Where cues are heard: ``auto`` (speakers, else a WAV file), ``wav:PATH``, ``none``."""

    output: str = "auto"
    sample_rate: Annotated[int, _r(8000, 192_000)] = 48000


class BleConfig(_Section):
    """Sensors over Bluetooth LE: what they are set to on connect, how long to look for
    them, how to reconnect."""

    odr_hz: Annotated[int, _r(spec.ODR_MIN_HZ, spec.ODR_MAX_HZ)] = 1000
    acc_range_g: Literal[2, 4, 8, 16] = 16
    gyro_range_dps: Literal[125, 250, 500, 1000, 2000] = 2000
    #: vendor sensors stream at rates of their own (docs/sensors.md): what each is asked
    polar_odr_hz: Annotated[int, _r(spec.ODR_MIN_HZ, spec.ODR_MAX_HZ)] = 208
    movesense_odr_hz: Annotated[int, _r(spec.ODR_MIN_HZ, spec.ODR_MAX_HZ)] = 208
    metawear_odr_hz: Annotated[int, _r(spec.ODR_MIN_HZ, spec.ODR_MAX_HZ)] = 400
    #: a footpod's cadence byte: steps (both feet), strides (one foot), or auto (a
    #: running pod reporting under 120 counts strides)
    pod_cadence: Literal["auto", "steps", "strides"] = "auto"
    scan_timeout_s: Annotated[float, _r(0.5, 600.0)] = 10.0  # `live` looks this long
    connect_timeout_s: Annotated[float, _r(0.5, 120.0)] = 10.0
    reconnect_max_s: Annotated[float, _r(0.1, 300.0)] = 5.0  # cap of the jittered backoff
    give_up_s: Annotated[float, _r(0.0, 86_400.0)] = 0.0  # after a link loss; 0: never


class SimConfigSection(_Section):
    """The simulated runner of ``sensorhub demo``.

    ``transport``: ``ble`` serves the simulated sensors as BLE peripherals (a fake BlueZ
    on a private dbus-daemon) and reads them with bleak, as ``sensorhub live`` reads real
    ones; ``direct`` feeds the simulator's bytes straight in; ``auto``: ``ble`` where
    ``dbus-daemon`` is installed."""

    transport: Literal["auto", "ble", "direct"] = "auto"

    activity: Literal["run", "walk"] = "run"
    mount: Literal["shoe", "shin"] = "shoe"
    duration_s: Annotated[float, _r(1.0, SIM_MAX_S)] = 60.0
    seed: Annotated[int, _r(0, 2**32 - 1)] = 1
    cadence_spm: Annotated[float, _r(SIM_MIN_SPM, SIM_MAX_SPM)] | None = None
    asymmetry: Annotated[float, _r(0.0, 0.5)] = 0.04


class DetectorConfig(_Section):
    """The signal core's settings (``docs/signal-core.md`` explains each one).

    Units are in the names; every value has a range, checked when the configuration is
    loaded.  The defaults were tuned on subjects 1-8 of the voisard_walking recordings and
    checked on the others (``docs/accuracy.md``)."""

    highpass_hz: Annotated[float, _r(2.0, 40.0)] = 15.0
    # sagittal axis and rotation lobes (gyroscope)
    axis_tau_s: Annotated[float, _r(0.5, 60.0)] = 5.0
    axis_update_ms: Annotated[float, _r(1.0, 500.0)] = 30.0
    level_tau_s: Annotated[float, _r(0.5, 60.0)] = 4.0
    lobe_floor_dps: Annotated[float, _r(5.0, 500.0)] = 50.0
    lobe_rel: Frac = 0.3
    lobe_area_floor_deg: Annotated[float, _r(0.0, 90.0)] = 5.0
    lobe_area_rel: Frac = 0.35
    hysteresis_floor_dps: Annotated[float, _r(0.0, 200.0)] = 10.0
    hysteresis_rel: Frac = 0.1
    stance_quiet_floor_dps: Annotated[float, _r(0.0, 200.0)] = 20.0
    stance_quiet_rel: Frac = 0.12
    stance_quiet_ms: Annotated[float, _r(5.0, 1000.0)] = 60.0
    vote_decay: Frac = 0.85
    vote_decide: Annotated[float, _r(0.5, 6.0)] = 1.0
    # the closing step of a walk: a swing lobe too small to count, then a still stance
    close_floor_dps: Annotated[float, _r(5.0, 500.0)] = 30.0
    close_area_floor_deg: Annotated[float, _r(0.0, 90.0)] = 2.0
    close_still_ms: Annotated[float, _r(10.0, 5000.0)] = 400.0
    # initial contact
    ic_pre_ms: Annotated[float, _r(0.0, 200.0)] = 30.0
    ic_post_ms: Annotated[float, _r(10.0, 400.0)] = 100.0
    ic_rel: Frac = 0.55
    ic_floor_g: Annotated[float, _r(0.0, 5.0)] = 0.1
    onset_fraction: Frac = 0.5
    onset_max_ms: Annotated[float, _r(0.0, 200.0)] = 40.0
    lookahead_ms: Annotated[float, _r(0.0, 200.0)] = 8.0
    refractory_min_s: Annotated[float, _r(0.05, 2.0)] = 0.3
    refractory_stride_fraction: Frac = 0.6
    stride_max_s: Annotated[float, _r(0.5, 10.0)] = 2.5
    # toe-off, contact time, strike angle, impact
    to_min_ms: Annotated[float, _r(0.0, 500.0)] = 50.0
    to_contact_fraction: Frac = 0.35
    contact_init_s: Annotated[float, _r(0.05, 2.0)] = 0.25
    estimate_alpha: Frac = 0.3
    midstance_skip_ms: Annotated[float, _r(0.0, 200.0)] = 20.0
    impact_window_ms: Annotated[float, _r(5.0, 300.0)] = 60.0
    # stillness: the gravity direction (axial impact at the shin)
    still_dps: Annotated[float, _r(0.0, 100.0)] = 10.0
    still_min_s: Annotated[float, _r(0.01, 10.0)] = 0.25
    gravity_tau_s: Annotated[float, _r(0.01, 60.0)] = 0.5
    # accelerometer only
    acc_threshold_g: Annotated[float, _r(0.05, 16.0)] = 0.8
    acc_threshold_rel: Frac = 0.5
    acc_level_tau_s: Annotated[float, _r(0.5, 60.0)] = 6.0
    acc_start_lookahead_s: Annotated[float, _r(0.0, 2.0)] = 0.6
    acc_start_contacts: Annotated[int, _r(0, 20)] = 3


class GaitConfig(_Section):
    """The runner as a whole, from the per-sensor events (``pipeline/gait.py``)."""

    smoothing_steps: Annotated[int, _r(2, 100)] = 8  # steps the smoothed cadence spans
    asymmetry_steps: Annotated[int, _r(5, 500)] = 20  # steps per side in the symmetry window
    asymmetry_every: Annotated[int, _r(1, 500)] = 10  # steps between asymmetry reports


class LibraryConfig(_Section):
    """The session library (``sensorhub sessions``, ``report``, ``trends`` ...).

    ``path``: its folder; empty: the user's data directory (``~/.local/share/sensorhub``
    on Linux).  ``enabled``: index every recorded run when it closes."""

    enabled: bool = True
    path: str = ""


class Config(_Section):
    runner: RunnerConfig = msgspec.field(default_factory=RunnerConfig)
    mqtt: MqttConfig = msgspec.field(default_factory=MqttConfig)
    cues: CuesConfig = msgspec.field(default_factory=CuesConfig)
    audio: AudioConfig = msgspec.field(default_factory=AudioConfig)
    ble: BleConfig = msgspec.field(default_factory=BleConfig)
    sim: SimConfigSection = msgspec.field(default_factory=SimConfigSection)
    detector: DetectorConfig = msgspec.field(default_factory=DetectorConfig)
    gait: GaitConfig = msgspec.field(default_factory=GaitConfig)
    library: LibraryConfig = msgspec.field(default_factory=LibraryConfig)


_WHERE = re.compile(r" - at `\$\.?(.*)`$")
_PATTERNS = {
    f"^{_LEVEL}$": "a non-empty MQTT topic level (no '/', '+', '#' or control characters)",
    f"^{_LEVEL}(/{_LEVEL})*$": "MQTT topic levels separated by '/' (none empty, no '+', '#' "
    "or control characters)",
}


def allowed(where: str) -> str:
    """What the key at ``where`` (``section.key``) accepts, from its type: "60-240"."""
    info: msgspec.inspect.Type = msgspec.inspect.type_info(Config)
    for part in where.split("."):
        if isinstance(info, msgspec.inspect.UnionType):
            info = next(t for t in info.types if not isinstance(t, msgspec.inspect.NoneType))
        if not isinstance(info, msgspec.inspect.StructType):
            return ""
        field = next((f for f in info.fields if f.name == part), None)
        if field is None:
            return ""
        info = field.type
    if isinstance(info, msgspec.inspect.UnionType):
        info = next(t for t in info.types if not isinstance(t, msgspec.inspect.NoneType))
    if isinstance(info, msgspec.inspect.IntType) and info.ge is not None and info.le is not None:
        return f"an integer from {info.ge} to {info.le}"
    if isinstance(info, msgspec.inspect.FloatType) and info.ge is not None and info.le is not None:
        return f"{info.ge:g} to {info.le:g}"
    if isinstance(info, msgspec.inspect.StrType) and info.pattern in _PATTERNS:
        return _PATTERNS[info.pattern]
    return ""


def _explain(
    exc: msgspec.ValidationError | msgspec.DecodeError, path: str | None, set_keys: set[str]
) -> ConfigError:
    text = str(exc)
    m = _WHERE.search(text)
    where = m.group(1) if m else ""
    what = _WHERE.sub("", text)
    key = where.split("[")[0]
    unknown = what.startswith("Object contains unknown field")
    field = what.split("`")[1] if unknown and "`" in what else ""
    named = f"{key}.{field}" if key and field else key or field
    from_set = [k for k in sorted(set_keys) if k == named or k.startswith(named + ".")]
    source = f"--set {from_set[0]}" if from_set else path or "the configuration"
    if unknown:
        return ConfigError(
            f"{source}: unknown key {field!r} in [{key or 'the top level'}]",
            "see configs/default.toml for the keys that exist",
        )
    if not isinstance(exc, msgspec.ValidationError):
        return ConfigError(f"{source}: not valid TOML: {what}", "fix the file's syntax")
    ok = allowed(key) if key else ""
    if ok:
        got = "" if "regex" in what else f" ({what})"
        return ConfigError(f"{source}: {key} must be {ok}{got}", "see configs/default.toml")
    return ConfigError(
        f"{source}: {what}" + (f" at {where}" if where else ""),
        "see configs/default.toml for the allowed values",
    )


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """The built-in defaults, overridden by the TOML file at ``path``, then by
    ``section.key=value`` overrides (values in TOML syntax; a bare word is a string)."""
    data = b""
    source = None
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
        raise _explain(exc, source, set()) from None
    set_keys: set[str] = set()
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
        set_keys.add(".".join(parts))
    try:
        return msgspec.convert(tree, type=Config)
    except msgspec.ValidationError as exc:
        raise _explain(exc, source, set_keys) from None
