"""What a session file holds: sensors, duration, packets, gaps, duplicates, damage."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sensorhub.errors import SensorhubError
from sensorhub.events import Pace
from sensorhub.pipeline.assembly import SequenceTracker
from sensorhub.pipeline.vendor import PodStream, Translator
from sensorhub.protocol import codec, spec
from sensorhub.protocol.codec import DataPacket, StatusPacket
from sensorhub.recording import RECORD_LINK, SessionReader, link_of


def _observe(
    data: bytes | memoryview, sensor: int, s: dict[str, Any], trackers: dict[int, SequenceTracker]
) -> None:
    """One sensorhub notification into the sensor's counts."""
    try:
        msg, _ = codec.decode(data)
    except SensorhubError:  # corrupt in flight: ProtocolError or IncompletePacket
        s["corrupt"] += 1
        return
    if isinstance(msg, DataPacket):
        tr = trackers.setdefault(sensor, SequenceTracker())
        tr.observe(msg.seq, msg.first_index, msg.count)
        if msg.flags & spec.FLAG_CLIPPED:
            s["clipped_packets"] += 1
    elif isinstance(msg, StatusPacket):
        s["status"] += 1
        s["battery_pct"].append(msg.battery_pct)


def session_report(reader: SessionReader) -> dict[str, Any]:
    """A JSON-ready description of a session (what ``sensorhub info`` prints)."""
    per: dict[int, dict[str, Any]] = {}
    trackers: dict[int, SequenceTracker] = {}
    # vendor IMUs: their notifications as the pipeline reads them (sensorhub packets)
    translators = {e.index: Translator(e) for e in reader.sensors if e.vendor and e.family != "rsc"}
    pods = {e.index: PodStream(e) for e in reader.sensors if e.family == "rsc"}
    paces: dict[int, list[Pace]] = {k: [] for k in pods}
    names = {e.name: e.index for e in reader.sensors}
    t_first: float | None = None
    t_last = 0.0

    def new() -> dict[str, Any]:
        return {"records": 0, "corrupt": 0, "status": 0, "battery_pct": [], "clipped_packets": 0}

    for rec in reader.records():
        if rec.kind == RECORD_LINK:  # a link change, not a notification
            ev = link_of(rec.data)
            if ev is not None and ev.battery_pct is not None and ev.sensor in names:
                per.setdefault(names[ev.sensor], new())["battery_pct"].append(ev.battery_pct)
            if ev is not None and (tl := translators.get(names.get(ev.sensor, -1))):
                tl.on_link(ev)
            continue
        t_first = rec.t if t_first is None else t_first
        t_last = rec.t
        s = per.setdefault(rec.sensor, new())
        s["records"] += 1
        if rec.sensor in pods:
            got = pods[rec.sensor].feed(rec.t, rec.data)
            paces[rec.sensor] += got
            s["corrupt"] += not got
            continue
        tl = translators.get(rec.sensor)
        if tl is None:
            _observe(rec.data, rec.sensor, s, trackers)
            continue
        before = tl.undecodable
        for packet in tl.feed(rec.t, rec.data):
            _observe(packet, rec.sensor, s, trackers)
        s["corrupt"] += tl.undecodable - before
    sensors = []
    for entry in reader.sensors:
        info = entry.info
        s = per.get(entry.index, new())
        if entry.family == "rsc":
            got = paces.get(entry.index, [])
            dist = [p.distance_m for p in got if p.distance_m is not None]
            sensors.append(
                {
                    "index": entry.index,
                    "name": entry.name,
                    "address": entry.address,
                    "family": entry.family,
                    "measurements": len(got),
                    "undecodable": s["corrupt"],
                    "distance_m": round(dist[-1] - dist[0], 1) if dist else None,
                    "samples": 0,
                }
            )
            continue
        tr = trackers.get(entry.index, SequenceTracker())
        batt = s.pop("battery_pct")
        expected = tr.samples + tr.missing_samples  # first to last sample index
        sensors.append(
            {
                "index": entry.index,
                "name": entry.name,
                "address": entry.address,
                "family": entry.family,
                "model": info.model.name,
                "firmware": ".".join(map(str, info.firmware)),
                "mounting": info.mounting.label,
                "side": info.side.label,
                "odr_hz": info.odr_hz,
                # on the sensor's own clock: arrival stamps can be late (a stalled host)
                "duration_s": round(expected / info.odr_hz, 3),
                "acc_range_g": info.acc_range_g,
                "gyro_range_dps": info.gyro_range_dps,
                "data_packets": tr.packets,
                "samples": tr.samples,
                "gaps": tr.gaps,
                "missing_packets": tr.missing_packets,
                "missing_samples": tr.missing_samples,
                "sample_loss_pct": round(100.0 * tr.missing_samples / expected, 4)
                if expected
                else 0.0,
                "duplicates": tr.duplicates,
                "late": tr.late,
                "corrupt_packets": s["corrupt"],
                "clipped_packets": s["clipped_packets"],
                "status_packets": s["status"],
                "battery_pct": [min(batt), max(batt)] if batt else None,
            }
        )
    started = dt.datetime.fromtimestamp(reader.header.started_unix, tz=dt.UTC)
    return {
        "path": str(reader.path),
        "format_version": reader.header.format_version,
        "source": reader.header.source,
        "started": started.isoformat(timespec="seconds"),
        # the longest sensor's samples; a session without data: its records' arrivals
        "duration_s": max(
            [x["duration_s"] for x in sensors if x["samples"]]
            or [round(t_last - (t_first or 0.0), 3) if t_first is not None else 0.0]
        ),
        "records": sum(s["records"] for s in per.values()),
        "closed_cleanly": reader.clean_close,
        "size_bytes": reader.size,
        "damaged_bytes": reader.damaged_bytes,
        "intact_pct": round(100.0 * (reader.size - reader.damaged_bytes) / reader.size, 3),
        "damage": reader.describe_damage(),
        "sensors": sensors,
    }


def describe_report(report: dict[str, Any]) -> list[str]:
    """``session_report`` as the lines ``sensorhub info`` prints."""
    out: list[str] = []
    out.append(
        f"{report['path']}: {report['source']} session started {report['started']}, "
        f"{report['duration_s']:.1f} s, {report['records']} notifications, "
        f"{'closed cleanly' if report['closed_cleanly'] else 'NOT closed cleanly (crash?)'}"
    )
    for s in report["sensors"]:
        if s.get("family") == "rsc":
            dist = f", {s['distance_m']:.0f} m" if s["distance_m"] is not None else ""
            out.append(
                f"  [{s['index']}] {s['name']} footpod: {s['measurements']} measurements"
                f"{dist}, {s['undecodable']} undecodable"
            )
            continue
        family = f" ({s['family']})" if s.get("family", "sensorhub") != "sensorhub" else ""
        out.append(
            f"  [{s['index']}] {s['name']}{family} {s['model']} fw {s['firmware']}, {s['side']} "
            f"{s['mounting']}, {s['odr_hz']:g} Hz, +-{s['acc_range_g']} g, "
            f"+-{s['gyro_range_dps']} deg/s"
        )
        out.append(
            f"      {s['data_packets']} packets, {s['samples']} samples; {s['gaps']} gaps "
            f"({s['missing_packets']} packets, {s['missing_samples']} samples = "
            f"{s['sample_loss_pct']:.3f} %), {s['duplicates']} duplicates, "
            f"{s['corrupt_packets']} corrupt, {s['clipped_packets']} clipped"
            + (
                f", battery {s['battery_pct'][1]}->{s['battery_pct'][0]} %"
                if s["battery_pct"]
                else ""
            )
        )
    if report["damage"]:
        out.append(
            f"  DAMAGED: {report['damaged_bytes']} of {report['size_bytes']} bytes unreadable "
            f"({report['intact_pct']:.2f} % intact; the intact part replays):"
        )
        for line in report["damage"]:
            out.append(f"    {line}")
    else:
        out.append("  no damage")
    return out
