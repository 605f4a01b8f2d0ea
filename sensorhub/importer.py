"""Import IMU recordings made elsewhere (CSV) as sensorhub sessions.

The samples are quantised to int16 at a chosen full-scale range and packed into data
packets exactly as sensor firmware would send them, so an imported recording replays
through the same decode and detection path as a live sensor.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from sensorhub.errors import ImportFailed
from sensorhub.protocol import codec, spec
from sensorhub.protocol.codec import DeviceInfo
from sensorhub.protocol.spec import SensorModel
from sensorhub.recording import SensorEntry, SessionHeader, SessionWriter
from sensorhub.types import Mounting, Side

G = 9.80665
ACC_UNITS = {"g": 1.0, "m/s2": 1.0 / G, "m/s^2": 1.0 / G, "mps2": 1.0 / G}
GYRO_UNITS = {"dps": 1.0, "deg/s": 1.0, "rad/s": 180.0 / math.pi, "rps": 180.0 / math.pi}
TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "datetime": 1.0}


@dataclass(frozen=True)
class CsvSensor:
    """Which columns belong to one sensor, and where it was worn."""

    acc: tuple[str, str, str]
    gyro: tuple[str, str, str] | None
    side: Side
    mounting: Mounting
    name: str = ""


@dataclass(frozen=True)
class ImportResult:
    path: Path
    sensors: int
    samples: int
    packets: int
    rate_hz: float
    duration_s: float
    clipped: int


def _read_table(path: Path, header_rows: int, delimiter: str) -> tuple[list[str], list[list[str]]]:
    if header_rows < 1:
        raise ImportFailed("--header-rows must be at least 1: columns are named by the header")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh, delimiter=delimiter)
            heads = [next(reader) for _ in range(header_rows)]
            rows = [r for r in reader if r]
    except FileNotFoundError:
        raise ImportFailed(f"{path}: no such file", "check the path") from None
    except StopIteration:
        raise ImportFailed(f"{path} has fewer than {header_rows} header rows") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ImportFailed(f"{path} is not a readable CSV file ({exc})") from None
    width = max(len(h) for h in heads)
    names = [
        ".".join(h[i].strip() for h in heads if i < len(h) and h[i].strip()) for i in range(width)
    ]
    if not rows:
        raise ImportFailed(f"{path} has a header but no data rows")
    return names, rows


def _column(names: list[str], rows: list[list[str]], name: str, path: Path) -> list[str]:
    if name not in names:
        shown = ", ".join(n for n in names[:24] if n)
        raise ImportFailed(
            f"column {name!r} not found in {path.name}",
            f"available columns: {shown}" + (" ..." if len(names) > 24 else ""),
        )
    i = names.index(name)
    try:
        return [r[i] for r in rows]
    except IndexError:
        bad = next(k for k, r in enumerate(rows) if len(r) <= i)
        raise ImportFailed(f"{path.name}: data row {bad + 1} has no value for {name!r}") from None


def _numbers(values: list[str], name: str, path: Path) -> npt.NDArray[np.float64]:
    try:
        return np.array(values, dtype=float)
    except ValueError:
        for k, v in enumerate(values):
            try:
                float(v)
            except ValueError:
                raise ImportFailed(
                    f"{path.name}: data row {k + 1}, column {name!r}: {v!r} is not a number"
                ) from None
        raise


def _times(values: list[str], units: str, path: Path, name: str) -> npt.NDArray[np.float64]:
    if units == "datetime":
        try:
            stamps = np.array(values, dtype="datetime64[ns]")
        except ValueError as exc:
            raise ImportFailed(
                f"{path.name}: column {name!r} is not a date-time ({exc})",
                "use --time-units s, ms or us for numeric times",
            ) from None
        rel: npt.NDArray[np.float64] = (stamps - stamps[0]).astype(np.int64) * 1e-9
        return rel
    t = _numbers(values, name, path) * TIME_UNITS[units]
    out: npt.NDArray[np.float64] = t - t[0]
    return out


def import_csv(
    path: str | Path,
    out: str | Path,
    sensors: list[CsvSensor],
    *,
    acc_units: str,
    gyro_units: str = "dps",
    rate_hz: float | None = None,
    time_column: str | None = None,
    time_units: str = "s",
    header_rows: int = 1,
    delimiter: str = ",",
    acc_range_g: int = 16,
    gyro_range_dps: int = 2000,
    check_units: bool = True,
) -> ImportResult:
    """Convert a CSV recording into a session file (see the module docstring)."""
    path, out = Path(path), Path(out)
    if (rate_hz is None) == (time_column is None):
        raise ImportFailed("give either --rate HZ or --time-column NAME (exactly one)")
    if acc_units not in ACC_UNITS:
        raise ImportFailed(f"accelerometer units {acc_units!r} unknown", "use g or m/s2")
    if gyro_units not in GYRO_UNITS:
        raise ImportFailed(f"gyroscope units {gyro_units!r} unknown", "use dps or rad/s")
    if time_units not in TIME_UNITS:
        raise ImportFailed(f"time units {time_units!r} unknown", "use s, ms, us or datetime")
    if acc_range_g not in spec.ACC_RANGES_G:
        raise ImportFailed(
            f"accelerometer range {acc_range_g} g unknown", f"use one of {spec.ACC_RANGES_G}"
        )
    if gyro_range_dps not in spec.GYRO_RANGES_DPS:
        raise ImportFailed(
            f"gyroscope range {gyro_range_dps} unknown", f"use one of {spec.GYRO_RANGES_DPS}"
        )
    if not sensors:
        raise ImportFailed("no sensor columns given", "name them with --acc (and --gyro)")
    names, rows = _read_table(path, header_rows, delimiter)
    n = len(rows)
    if time_column is not None:
        t = _times(_column(names, rows, time_column, path), time_units, path, time_column)
        dt = np.diff(t)
        if n < 2 or np.any(dt <= 0):
            bad = int(np.argmax(dt <= 0)) + 2 if n > 1 else 1
            raise ImportFailed(f"{path.name}: times do not increase at data row {bad}")
        rate = 1.0 / float(np.median(dt))
    else:
        assert rate_hz is not None
        if not 1 <= rate_hz <= 10000:
            raise ImportFailed(f"rate {rate_hz} Hz is implausible", "give the sampling rate in Hz")
        rate = float(rate_hz)
        t = np.arange(n) / rate

    acc_lsb = spec.acc_scale_g(acc_range_g)
    gyro_lsb = spec.gyro_scale_dps(gyro_range_dps)
    entries: list[SensorEntry] = []
    streams: list[tuple[int, npt.NDArray[np.int16], int]] = []
    clipped = 0
    for i, s in enumerate(sensors):
        acc = np.column_stack([_numbers(_column(names, rows, c, path), c, path) for c in s.acc])
        acc *= ACC_UNITS[acc_units]
        if check_units:
            _check_acc_units(acc, acc_units, path)
        cols = [acc / acc_lsb]
        flags = spec.FLAG_NO_GYRO
        if s.gyro is not None:
            gyr = np.column_stack(
                [_numbers(_column(names, rows, c, path), c, path) for c in s.gyro]
            )
            gyr *= GYRO_UNITS[gyro_units]
            if check_units:
                _check_gyro_units(gyr, acc, gyro_units, path)
            cols.append(gyr / gyro_lsb)
            flags = 0
        raw = np.rint(np.column_stack(cols))
        over = np.abs(raw) > 32767
        clipped += int(np.count_nonzero(over.any(axis=1)))
        samples = np.clip(raw, -32768, 32767).astype(np.int16)
        info = DeviceInfo(
            firmware=(0, 0, 0),
            model=SensorModel.IMPORTED,
            acc_range_g=acc_range_g,
            gyro_range_dps=gyro_range_dps,
            acc_scale_g=acc_lsb,
            gyro_scale_dps=gyro_lsb,
            odr_hz=round(rate, 3),
            mounting=s.mounting,
            side=s.side,
            serial=bytes(6),
            name=(s.name or f"{path.stem[:9]}-{s.side.label}")[:16],
        )
        entries.append(SensorEntry.from_info(i, info))
        streams.append((i, samples, flags))

    header = SessionHeader(
        started_unix=time.time(),
        source="import",
        sensors=entries,
        config={
            "csv": path.name,
            "acc_units": acc_units,
            "gyro_units": gyro_units if any(s.gyro for s in sensors) else None,
            "rate_hz": rate,
            "columns": [{"acc": list(s.acc), "gyro": list(s.gyro or ())} for s in sensors],
        },
    )
    records: list[tuple[float, int, bytes]] = []
    for i, samples, flags in streams:
        per = spec.MAX_SAMPLES_ACC if flags & spec.FLAG_NO_GYRO else spec.MAX_SAMPLES_IMU
        for seq, first in enumerate(range(0, n, per)):
            chunk = samples[first : first + per]
            f = flags
            if np.any((chunk == 32767) | (chunk == -32768)):
                f |= spec.FLAG_CLIPPED
            data = codec.encode_data(seq, first, round(t[first] * 1e6), chunk, f)
            records.append((float(t[first + len(chunk) - 1]), i, data))
    records.sort(key=lambda r: (r[0], r[1]))
    with SessionWriter(out, header) as w:
        for rt, i, data in records:
            w.write(rt, i, data)
    return ImportResult(
        out, len(sensors), n * len(sensors), len(records), rate, float(t[-1]), clipped
    )


def _check_acc_units(acc_g: npt.NDArray[np.float64], units: str, path: Path) -> None:
    """Gravity gives away the units: the median magnitude is about 1 g."""
    med = float(np.median(np.linalg.norm(acc_g, axis=1)))
    if med > 4.0:
        raise ImportFailed(
            f"{path.name}: declared in {units}, the accelerometer reads a median of "
            f"{med:.1f} g; these look like m/s2",
            "use --acc-units m/s2 (or --no-unit-check if the data really is like that)",
        )
    if med < 0.25:
        raise ImportFailed(
            f"{path.name}: declared in {units}, the accelerometer reads a median of "
            f"{med:.3f} g; these look like g",
            "use --acc-units g (or --no-unit-check if the data really is like that)",
        )


def _check_gyro_units(
    gyr_dps: npt.NDArray[np.float64], acc_g: npt.NDArray[np.float64], units: str, path: Path
) -> None:
    """A moving foot or shin turns at hundreds of deg/s; a few 'deg/s' means rad/s."""
    peak = float(np.percentile(np.linalg.norm(gyr_dps, axis=1), 99))
    moving = float(np.std(np.linalg.norm(acc_g, axis=1))) > 0.2
    if moving and peak < 15.0 and units in ("dps", "deg/s"):
        raise ImportFailed(
            f"{path.name}: declared in deg/s, the gyroscope peaks at {peak:.1f} while the "
            "sensor is moving; these look like rad/s",
            "use --gyro-units rad/s (or --no-unit-check)",
        )
    if peak > 5000.0:
        raise ImportFailed(
            f"{path.name}: the gyroscope reaches {peak:.0f} deg/s after conversion from "
            f"{units}; these look like deg/s",
            "use --gyro-units dps (or --no-unit-check)",
        )
