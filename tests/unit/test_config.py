"""Issue 11, defects 4, 7 and 9: every configuration key has a range, checked once when
the configuration loads, and the error names the key, where the value came from and what
is allowed."""

from __future__ import annotations

from pathlib import Path

import msgspec
import msgspec.inspect
import pytest

from sensorhub.config import Config, allowed, load_config
from sensorhub.errors import ConfigError
from sensorhub.importer import ImportFailed, check_rate

BAD = [
    # defect 7: tracebacks before
    ("sim.cadence_spm=-5", "sim.cadence_spm must be 60 to 240"),
    ("sim.seed=-1", "sim.seed must be an integer from 0 to 4294967295"),
    ("audio.sample_rate=0", "audio.sample_rate must be an integer from 8000 to 192000"),
    ("mqtt.outbox_max=0", "mqtt.outbox_max must be an integer from 1 to 1000000"),
    ("mqtt.keepalive_s=-5", "mqtt.keepalive_s must be an integer from 1 to 65535"),
    # defect 7: accepted silently before
    ("cues.volume=-1", "cues.volume must be 0 to 1"),
    ("cues.volume=50", "cues.volume must be 0 to 1"),
    ("cues.increase_pct=-300", "cues.increase_pct must be 0 to 30"),
    ("cues.fade_schedule=[[0, 1], [10, 0.5], [5, 0]]", "fade_schedule minutes must increase"),
    ("cues.fade_schedule=[[0, 1], [5, 2]]", "<= 1.0 at cues.fade_schedule[1][1]"),
    ("audio.sample_rate=7", "audio.sample_rate must be an integer from 8000 to 192000"),
    ("sim.cadence_spm=1000", "sim.cadence_spm must be 60 to 240"),
    # defect 4: the one rate range
    ("ble.odr_hz=100000", "ble.odr_hz must be an integer from 100 to 1600"),
    ("ble.odr_hz=20", "ble.odr_hz must be an integer from 100 to 1600"),
    # defect 9: topic levels
    ('runner.id="a+b"', "runner.id must be a non-empty MQTT topic level"),
    ('runner.id="a/b"', "runner.id must be a non-empty MQTT topic level"),
    ('runner.id=""', "runner.id must be a non-empty MQTT topic level"),
    ('mqtt.topic_prefix="hub/#"', "mqtt.topic_prefix must be MQTT topic levels"),
    ('mqtt.topic_prefix="a//b"', "mqtt.topic_prefix must be MQTT topic levels"),
]


@pytest.mark.parametrize(("setting", "message"), BAD)
def test_a_value_out_of_range_is_refused_naming_key_and_range(
    setting: str, message: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(None, [setting])
    assert message in str(err.value)
    assert str(err.value).startswith(f"--set {setting.split('=')[0]}:")
    # the same value from a file names the file
    section, rest = setting.split(".", 1)
    key, value = rest.split("=", 1)
    f = tmp_path / "c.toml"
    f.write_text(f"[{section}]\n{key} = {value}\n")
    with pytest.raises(ConfigError) as err:
        load_config(f)
    assert message in str(err.value) and str(err.value).startswith(f"{f}:")


def test_every_number_in_the_configuration_has_a_range() -> None:
    """No key can take any number: each int and float has both bounds."""

    def walk(info: msgspec.inspect.Type, where: str) -> list[str]:
        if isinstance(info, msgspec.inspect.StructType):
            return [x for f in info.fields for x in walk(f.type, f"{where}.{f.name}".strip("."))]
        if isinstance(info, msgspec.inspect.UnionType):
            return [x for t in info.types for x in walk(t, where)]
        if isinstance(info, msgspec.inspect.ListType | msgspec.inspect.TupleType):
            types = (
                info.item_types if isinstance(info, msgspec.inspect.TupleType) else [info.item_type]
            )
            return [x for t in types for x in walk(t, where + "[]")]
        if isinstance(info, msgspec.inspect.IntType | msgspec.inspect.FloatType):
            return [] if info.ge is not None and info.le is not None else [where]
        return []

    assert walk(msgspec.inspect.type_info(Config), "") == []
    assert allowed("detector.ic_rel") == "0 to 1"


def test_the_defaults_are_valid_and_good_values_pass() -> None:
    c = load_config(None, ["runner.id=ana-1", "mqtt.topic_prefix=club/hub", "cues.volume=1"])
    assert (c.runner.id, c.mqtt.topic_prefix, c.cues.volume) == ("ana-1", "club/hub", 1.0)


@pytest.mark.parametrize(
    ("rate", "hint"),
    [
        (20.0, "100-1600 Hz"),
        (5000.0, "100-1600 Hz"),
        (0.2, "--time-units ms"),  # times in ms read as s
        (1_000_000.0, "microseconds"),
    ],
)
def test_import_refuses_a_rate_the_signal_core_cannot_take(rate: float, hint: str) -> None:
    """Defect 4: import-csv took 20 Hz, 5000 Hz or a ms column read as s (0.20 Hz), and
    replay then died with a traceback.  Import checks the detector's range."""
    with pytest.raises(ImportFailed) as err:
        check_rate(rate, "--rate")
    assert hint in str(err.value)
    check_rate(100.0, "--rate")
    check_rate(1600.0, "--rate")
