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
class NonFinite:
    """Cells of one column that are not finite numbers (nan, inf)."""

    file: str
    column: str
    cells: int
    first_row: int  # CSV data row (1 = the first after the header)

    def __str__(self) -> str:
        return (
            f"{self.file}: column {self.column!r} has {self.cells} cells that are not finite "
            f"numbers (nan/inf), the first at data row {self.first_row}"
        )


@dataclass(frozen=True)
class ImportResult:
    path: Path
    sensors: int
    samples: int
    packets: int
    rate_hz: float
    duration_s: float
    clipped: int
    missing_samples: int = 0  # gaps in the time column and samples with non-finite cells
    duplicates_dropped: int = 0
    nonfinite: tuple[NonFinite, ...] = ()


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


def _times(
    values: list[str], units: str, path: Path, name: str
) -> tuple[npt.NDArray[np.float64], float]:
    """Seconds from the first row, and the first row's time on the source's own axis (s)."""
    if units == "datetime":
        try:
            stamps = np.array(values, dtype="datetime64[ns]")
        except ValueError as exc:
            raise ImportFailed(
                f"{path.name}: column {name!r} is not a date-time ({exc})",
                "use --time-units s, ms or us for numeric times",
            ) from None
        ns = stamps.astype(np.int64)
        rel: npt.NDArray[np.float64] = (ns - ns[0]) * 1e-9
        return rel, float(ns[0]) * 1e-9
    t = _numbers(values, name, path) * TIME_UNITS[units]
    if not np.all(np.isfinite(t)):
        bad = int(np.argmax(~np.isfinite(t))) + 1
        raise ImportFailed(
            f"{path.name}: data row {bad}, time column {name!r}: {values[bad - 1]!r} is not "
            "a finite time",
            "every row needs its time; remove the rows without one",
        )
    out: npt.NDArray[np.float64] = t - t[0]
    return out, float(t[0])


@dataclass(frozen=True)
class SampleGrid:
    """Where each CSV row sits on the sensor's sample grid.

    Attributes
    ----------
    rate_hz
        The sampling rate the time column shows (over the whole recording, not the median
        step, so 128 Hz stamped to the millisecond reads 128.000 Hz).
    index
        Sample index of every kept row (0 = the first row); a jump is a gap.
    keep
        Which rows are kept: a row at the index of the row before it is a duplicate.
    duplicates
        Rows dropped as duplicates.
    """

    rate_hz: float
    index: npt.NDArray[np.int64]
    keep: npt.NDArray[np.bool_]
    duplicates: int

    @property
    def missing(self) -> int:
        """Samples the time column shows to be missing (gaps between rows)."""
        return int(self.index[-1] + 1 - len(self.index)) if len(self.index) else 0


def sample_grid(t_s: npt.NDArray[np.float64], path: Path) -> SampleGrid:
    """Place rows stamped ``t_s`` (seconds from the first) on a uniform sample grid."""
    if len(t_s) < 2:
        raise ImportFailed(f"{path.name}: a time column needs at least two rows")
    dt = np.diff(t_s)
    if np.any(dt < 0):
        bad = int(np.argmax(dt < 0)) + 2
        raise ImportFailed(
            f"{path.name}: times go backwards at data row {bad}",
            "sort the file by time (or check the --time-column)",
        )
    steps = dt[dt > 0]
    if not len(steps):
        raise ImportFailed(f"{path.name}: every row has the same time")
    # the mean of the steps that are not gaps: the median step of a rounded time column is
    # off by its rounding (128 Hz stamped in ms steps 7 or 8 ms), the mean is not
    regular = steps[steps <= 1.5 * float(np.median(steps))]
    rate = len(regular) / float(np.sum(regular))
    # then refine over the whole span, gaps included
    k = np.rint(t_s * rate).astype(np.int64)
    if k[-1] > 0:
        rate = float(k[-1]) / float(t_s[-1])
        snapped = round(rate, 1)
        if abs(snapped - rate) <= 5e-4 * rate:
            rate = snapped
        k = np.rint(t_s * rate).astype(np.int64)
    keep = np.ones(len(k), bool)
    keep[1:] = np.diff(k) > 0
    if np.any(np.diff(k[keep]) <= 0):  # rounding put a later row before an earlier one
        raise ImportFailed(f"{path.name}: the time column is too irregular to place samples")
    return SampleGrid(rate, k[keep], keep, int(len(k) - keep.sum()))


@dataclass(frozen=True)
class CsvFile:
    """One CSV file and the sensors whose columns it holds."""

    path: Path
    sensors: list[CsvSensor]


def check_rate(rate_hz: float, what: str) -> None:
    """The one sampling-rate range of the signal core (``spec.ODR_MIN_HZ``-``ODR_MAX_HZ``),
    enforced here so that a session that imports also replays."""
    lo, hi = spec.ODR_MIN_HZ, spec.ODR_MAX_HZ
    if lo <= rate_hz <= hi:
        return
    hint = f"the signal core takes {lo}-{hi} Hz"
    if rate_hz < lo and rate_hz * 1000 <= hi:
        hint += "; times in milliseconds? give --time-units ms"
    elif rate_hz > hi and rate_hz / 1000 >= lo:
        hint += "; times in microseconds or a rate in kHz?"
    raise ImportFailed(f"{what} gives a sampling rate of {rate_hz:g} Hz", hint)


def import_csv(
    path: str | Path | list[CsvFile],
    out: str | Path,
    sensors: list[CsvSensor] | None = None,
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
    """Convert CSV recordings into one session file (see the module docstring).

    ``path`` is one file (with ``sensors``) or a list of :class:`CsvFile` (one per sensor,
    as most datasets come).  With a time column every sample is placed by its time: gaps
    become missing samples at the right sample index, duplicates are dropped and counted.
    """
    out = Path(out)
    files = [CsvFile(Path(path), sensors or [])] if not isinstance(path, list) else path
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
    if not any(f.sensors for f in files):
        raise ImportFailed("no sensor columns given", "name them with --acc (and --gyro)")
    if rate_hz is not None:
        check_rate(rate_hz, "--rate")

    acc_lsb = spec.acc_scale_g(acc_range_g)
    gyro_lsb = spec.gyro_scale_dps(gyro_range_dps)
    entries: list[SensorEntry] = []
    # per sensor: index, samples, flags, sample indices, times (s on the source axis)
    streams: list[
        tuple[int, npt.NDArray[np.int16], int, npt.NDArray[np.int64], npt.NDArray[np.float64]]
    ] = []
    clipped = missing = duplicates = 0
    nonfinite: list[NonFinite] = []
    origins: list[float] = []
    rates: list[float] = []
    names_seen: set[str] = set()
    for f in files:
        names, rows = _read_table(f.path, header_rows, delimiter)
        n = len(rows)
        if time_column is not None:
            t, origin = _times(
                _column(names, rows, time_column, f.path), time_units, f.path, time_column
            )
            grid = sample_grid(t, f.path)
        else:
            assert rate_hz is not None
            origin = 0.0
            t = np.arange(n) / float(rate_hz)
            grid = SampleGrid(float(rate_hz), np.arange(n, dtype=np.int64), np.ones(n, bool), 0)
        rate = grid.rate_hz
        if time_column is not None:
            check_rate(rate, f"{f.path}: the time column {time_column!r} (as {time_units})")
        rates.append(rate)
        origins.append(origin)
        missing += grid.missing * len(f.sensors)
        duplicates += grid.duplicates * len(f.sensors)
        data_rows = np.flatnonzero(grid.keep) + 1  # CSV data row of every kept row
        for s in f.sensors:
            i = len(entries)
            names_used = list(s.acc) + list(s.gyro or ())
            values = np.column_stack(
                [_numbers(_column(names, rows, c, f.path), c, f.path) for c in names_used]
            )[grid.keep]
            # a cell that is not a finite number (nan, inf: an exporter's missing value)
            # makes its sample missing, like a gap; a column without any number is refused
            bad = ~np.isfinite(values)
            for c, name_c in enumerate(names_used):
                n_bad = int(np.count_nonzero(bad[:, c]))
                if n_bad == len(values):
                    raise ImportFailed(
                        f"{f.path.name}: column {name_c!r} has no finite number in any row",
                        "check the column names, or leave that sensor's column out",
                    )
                if n_bad:
                    first = int(data_rows[int(np.argmax(bad[:, c]))])
                    nonfinite.append(NonFinite(f.path.name, name_c, n_bad, first))
            ok = ~bad.any(axis=1)
            if not ok.any():
                raise ImportFailed(
                    f"{f.path.name}: no row has a finite number in each of {names_used}",
                    "check the columns given with --acc and --gyro",
                )
            missing += int(np.count_nonzero(~ok))
            values = values[ok]
            index = grid.index[ok]
            acc = values[:, :3] * ACC_UNITS[acc_units]
            if check_units:
                _check_acc_units(acc, acc_units, f.path)
            cols = [acc / acc_lsb]
            flags = spec.FLAG_NO_GYRO
            if s.gyro is not None:
                gyr = values[:, 3:] * GYRO_UNITS[gyro_units]
                if check_units:
                    _check_gyro_units(gyr, acc, gyro_units, f.path)
                cols.append(gyr / gyro_lsb)
                flags = 0
            raw = np.rint(np.column_stack(cols))
            over = np.abs(raw) > 32767
            clipped += int(np.count_nonzero(over.any(axis=1)))
            samples = np.clip(raw, -32768, 32767).astype(np.int16)
            name = s.name or f"{f.path.stem}-{s.side.label}"
            if name in names_seen:
                name = f"{name}-{i}"
            names_seen.add(name)
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
                name=name.encode()[:16].decode(errors="ignore"),
            )
            # the session keeps the full name (the device info holds 16 bytes of it)
            entries.append(SensorEntry(i, name, codec.encode(info).hex()))
            streams.append((i, samples, flags, index, origin + index / rate))

    t0 = min(origins)
    header = SessionHeader(
        started_unix=time.time(),
        source="import",
        sensors=entries,
        config={
            "csv": [f.path.name for f in files] if len(files) > 1 else files[0].path.name,
            "acc_units": acc_units,
            "gyro_units": gyro_units if any(s.gyro for f in files for s in f.sensors) else None,
            "rate_hz": rates[0] if len(set(rates)) == 1 else rates,
            "time_origin_s": t0,
            "time_units": time_units if time_column is not None else None,
            "missing_samples": missing,
            "duplicates_dropped": duplicates,
            "columns": [
                {"acc": list(s.acc), "gyro": list(s.gyro or ())} for f in files for s in f.sensors
            ],
        },
    )
    records: list[tuple[float, int, bytes]] = []
    for i, samples, flags, index, times in streams:
        per = spec.MAX_SAMPLES_ACC if flags & spec.FLAG_NO_GYRO else spec.MAX_SAMPLES_IMU
        # packets never span a gap: a sample index jump is a lost notification, and the
        # sequence number skips as a sensor's would
        breaks = np.flatnonzero(np.diff(index) > 1) + 1
        seq = 0
        prev_end = 0
        for lo, hi in zip(
            np.concatenate([[0], breaks]), np.concatenate([breaks, [len(index)]]), strict=True
        ):
            seq += -(-int(index[lo] - prev_end) // per) if lo else 0
            for first in range(int(lo), int(hi), per):
                last = min(first + per, int(hi))
                chunk = samples[first:last]
                fl = flags
                if np.any((chunk == 32767) | (chunk == -32768)):
                    fl |= spec.FLAG_CLIPPED
                data = codec.encode_data(
                    seq & 0xFFFF,
                    int(index[first]) & 0xFFFFFFFF,
                    round((times[first] - t0) * 1e6) & 0xFFFFFFFF,
                    chunk,
                    fl,
                )
                records.append((float(times[last - 1] - t0), i, data))
                seq += 1
            prev_end = int(index[hi - 1]) + 1
    records.sort(key=lambda r: (r[0], r[1]))
    with SessionWriter(out, header) as w:
        for rt, i, data in records:
            w.write(rt, i, data)
    n_samples = sum(len(s[1]) for s in streams)
    duration = max(float(s[4][-1]) for s in streams) - t0
    return ImportResult(
        out,
        len(entries),
        n_samples,
        len(records),
        rates[0],
        duration,
        clipped,
        missing,
        duplicates,
        tuple(nonfinite),
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
