"""Turn a session's notifications into events: the synchronous core shared by replay,
evaluation and (behind the asyncio runner) live runs."""

from __future__ import annotations

from collections.abc import Iterable

from sensorhub.dsp.detector import DetectorParams
from sensorhub.events import AnyEvent, Step
from sensorhub.pipeline.gait import Gait
from sensorhub.pipeline.stream import SensorStream
from sensorhub.recording import SensorEntry, SessionReader


class Processor:
    """All sensors of one runner: per-sensor streams and the gait on top.

    ``feed(t, sensor, data)`` takes notifications in arrival order and returns the events
    they complete, in the order they become known.
    """

    def __init__(
        self, sensors: Iterable[SensorEntry], params: DetectorParams | None = None
    ) -> None:
        self.streams: dict[int, SensorStream] = {}
        for entry in sensors:
            self.add_sensor(entry, params)
        self.gait = Gait(self._has_gyro)
        self._by_name = {s.name: s for s in self.streams.values()}

    def add_sensor(self, entry: SensorEntry, params: DetectorParams | None = None) -> None:
        info = entry.info
        name = entry.name or info.name or f"sensor{entry.index}"
        self.streams[entry.index] = SensorStream(name, info, params)
        if hasattr(self, "_by_name"):
            self._by_name[name] = self.streams[entry.index]

    def _has_gyro(self, name: str) -> bool | None:
        s = self._by_name.get(name)
        return None if s is None else s.has_gyro

    def warm_up(self) -> None:
        """Compile every kernel specialisation the session will use."""
        for s in self.streams.values():
            s.warm_up(True)
            s.warm_up(False)

    def feed(self, t: float, sensor: int, data: bytes | bytearray | memoryview) -> list[AnyEvent]:
        stream = self.streams.get(sensor)
        if stream is None:
            return []
        out: list[AnyEvent] = []
        for ev in stream.feed(t, data):
            out.append(ev)
            self._derive(ev, out)
        if stream.last_index >= 0:
            out += self.gait.tick(stream.now())
        return out

    def _derive(self, ev: AnyEvent, out: list[AnyEvent]) -> None:
        for d in self.gait.on_event(ev):
            out.append(d)
            if isinstance(d, Step):
                out += self.gait.derive(d)


def process_session(reader: SessionReader, params: DetectorParams | None = None) -> list[AnyEvent]:
    """Every event of a recorded session, as a live run would have produced them."""
    proc = Processor(reader.sensors, params)
    events: list[AnyEvent] = []
    for rec in reader.records():
        events += proc.feed(rec.t, rec.sensor, rec.data)
    return events
