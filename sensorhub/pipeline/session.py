"""Turn a session's notifications into events: the synchronous core shared by replay,
evaluation and (behind the asyncio runner) live runs."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from sensorhub.config import GaitConfig
from sensorhub.dsp import _stream as S
from sensorhub.dsp.detector import DetectorParams
from sensorhub.events import AnyEvent, Link, Step
from sensorhub.pipeline.gait import Gait
from sensorhub.pipeline.merge import TimeMerge
from sensorhub.pipeline.stream import CLOCK_WINDOW_S, SensorStream
from sensorhub.pipeline.vendor import PodStream, Translator
from sensorhub.protocol import spec
from sensorhub.recording import (
    RECORD_LINK,
    RECORD_OFFSET,
    SensorEntry,
    SessionReader,
    link_of,
)


class Processor:
    """All sensors of one runner: per-sensor streams and the gait on top.

    ``feed(t, sensor, data)`` takes notifications in arrival order and returns the events
    they complete, in the order they become known.  ``replay(reader)`` gives the same
    events for a whole recording, processing each sensor's notifications in one batch.
    """

    def __init__(
        self,
        sensors: Iterable[SensorEntry],
        params: DetectorParams | None = None,
        gait: GaitConfig | None = None,
    ) -> None:
        self.params = params
        self.streams: dict[int, SensorStream] = {}
        self._by_name: dict[str, SensorStream] = {}
        self._clock_steps: dict[int, float] = {}  # per sensor: clock steps the gait saw
        self._down: set[str] = set()  # sensors whose link is down
        self.translators: dict[int, Translator] = {}  # vendor IMUs: bytes -> packets
        self.pods: dict[int, PodStream] = {}  # footpods: RSC -> Pace events
        self._names: dict[str, int] = {}
        for entry in sensors:
            self.add_sensor(entry)
        #: sensors that batch (Polar) reach the gait through a time-ordered merge
        batching = any(tr.batching for tr in self.translators.values())
        self.merge = TimeMerge(list(self.streams)) if batching and len(self.streams) > 1 else None
        g = gait or GaitConfig()
        self.gait = Gait(self._has_gyro, g.smoothing_steps, g.asymmetry_steps, g.asymmetry_every)

    def add_sensor(self, entry: SensorEntry) -> None:
        info = entry.info
        name = entry.name or info.name or f"sensor{entry.index}"
        self._names[name] = entry.index
        if entry.family == "rsc":
            self.pods[entry.index] = PodStream(entry)
            return
        window = CLOCK_WINDOW_S
        if entry.vendor:
            tr = self.translators[entry.index] = Translator(entry)
            window = tr.clock_window_s
        self.streams[entry.index] = SensorStream(name, info, self.params, window)
        self._clock_steps[entry.index] = 0.0
        self._by_name[name] = self.streams[entry.index]

    def _has_gyro(self, name: str) -> bool | None:
        s = self._by_name.get(name)
        return None if s is None else s.has_gyro

    def warm_up(self) -> None:
        """Compile every kernel specialisation the session will use."""
        for s in self.streams.values():
            s.warm_up()

    def feed(self, t: float, sensor: int, data: bytes | bytearray | memoryview) -> list[AnyEvent]:
        stream = self.streams.get(sensor)
        if stream is None:
            pod = self.pods.get(sensor)
            if pod is None:
                return []
            return list(pod.feed(t, data))  # a footpod's readings derive nothing
        out: list[AnyEvent] = []
        tr = self.translators.get(sensor)
        merge = self.merge
        for packet in [data] if tr is None else tr.feed(t, data):
            rows = stream.feed_rows(t, packet)
            if len(rows):
                steps = rows[:, S.O_CLOCK_STEPS].tolist()
                for ev, c in zip(stream.convert(rows), steps, strict=True):
                    if merge is None:
                        self._add(sensor, c, ev, out)
                    else:
                        merge.push(sensor, c, ev)
        now = stream.last_now
        if merge is not None:
            merge.note(sensor, t, now)
            self._release(t, out)
            now = min(now, merge.horizon(t))  # the gait's clock: what it has been told
        if math.isfinite(now):  # (nan: no sample processed yet; -inf: waiting for one)
            self._tick(now, out)
        return out

    def _release(self, now_host: float, out: list[AnyEvent], final: bool = False) -> None:
        assert self.merge is not None
        for k, c, ev in self.merge.release(now_host, final):
            self._add(k, c, ev, out)

    def finish(self) -> list[AnyEvent]:
        """The end of the session: what the merge still holds."""
        out: list[AnyEvent] = []
        if self.merge is not None:
            self._release(math.inf, out, final=True)
        return out

    def _tick(self, now: float, out: list[AnyEvent]) -> None:
        for d in self.gait.tick(now):
            out.append(d)
            if isinstance(d, Step):
                out += self.gait.derive(d)

    def on_link(self, ev: Link) -> list[AnyEvent]:
        """A sensor's link changed: when every sensor is down the runner is "no signal"
        (not standing), until one is back."""
        index = self._names.get(ev.sensor)
        if index is None:
            return []
        if (tr := self.translators.get(index)) is not None:
            tr.on_link(ev)
        if self.merge is not None and index in self.streams:
            if ev.state in ("disconnected", "failed", "gave up"):
                self.merge.down.add(index)
            elif ev.state in ("connected", "reconnected"):
                self.merge.down.discard(index)
        if index in self.pods:  # a footpod is no sign of the runner's IMUs
            return []
        if ev.state in ("disconnected", "failed", "gave up"):
            self._down.add(ev.sensor)
            if self._down >= set(self._by_name):
                return self.gait.no_signal(ev.t)
        elif ev.state in ("connected", "reconnected") and ev.sensor in self._down:
            self._down.discard(ev.sensor)
            self.gait.signal_back(ev.t)
        return []

    def _add(self, sensor: int, clock_steps: float, ev: AnyEvent, out: list[AnyEvent]) -> None:
        """A sensor's event, timed after ``clock_steps`` steps of its clock map, and what
        it completes.  When that count has moved, the stamps before the step were late (a
        host that stalled): the gait forgets the times it holds, so no step, cadence or
        flight time is measured across the step."""
        if clock_steps != self._clock_steps[sensor]:
            self._clock_steps[sensor] = clock_steps
            self.gait.restart_timing()
        out.append(ev)
        self._derive(ev, out)

    def _derive(self, ev: AnyEvent, out: list[AnyEvent]) -> None:
        for d in self.gait.on_event(ev):
            out.append(d)
            if isinstance(d, Step):
                out += self.gait.derive(d)

    # ------------------------------------------------------------------ replay
    def replay(self, reader: SessionReader) -> list[AnyEvent]:
        """Every event of a recorded session, exactly as ``feed`` would have given them."""
        if self.translators or self.pods:
            return self._replay_records(reader)
        buf = reader.buffer
        heads, sensors, offs, lens = reader.index()
        n = len(offs)
        times = buf[heads[:, None] + np.arange(8)].copy().view("<f8").ravel()
        kind = np.where(lens > 1, buf[np.minimum(offs + 1, len(buf) - 1)], 0)
        link = buf[heads + RECORD_OFFSET["kind"]] == RECORD_LINK if n else np.zeros(0, bool)
        now = np.full(n, np.nan)
        rows: list[tuple[npt.NDArray[np.float64], npt.NDArray[np.intp], SensorStream, int]] = []
        for index, stream in self.streams.items():
            mine = np.nonzero((sensors == index) & ~link)[0]
            status_rec = mine[kind[mine] == spec.Kind.STATUS]
            data_rec = mine[kind[mine] != spec.Kind.STATUS]
            for k in status_rec:  # battery only; they make no events
                stream.feed(float(times[k]), buf[offs[k] : offs[k] + lens[k]].tobytes())
            r, _, s_now = stream.feed_batch(buf, offs[data_rec], lens[data_rec], times[data_rec])
            now[data_rec] = s_now
            # a status record leaves the stream's time where its last data left it
            own = np.full(len(mine), np.nan)
            own[np.isin(mine, data_rec)] = s_now
            valid = np.where(~np.isnan(own), np.arange(len(own)), -1)
            fill = np.maximum.accumulate(valid) if len(valid) else valid
            now[mine] = np.where(fill >= 0, own[np.maximum(fill, 0)], np.nan)
            rows.append((r, data_rec[r[:, S.O_PACKET].astype(np.int64)], stream, index))
        # events of all sensors in arrival order, ticking the gait where the live path would
        events: list[AnyEvent] = []
        origin: list[int] = []
        steps: list[float] = []
        for r, _, stream, index in rows:
            events += stream.convert(r)
            origin += [index] * len(r)
            steps += r[:, S.O_CLOCK_STEPS].tolist()
        positions = np.concatenate([pos for _, pos, _, _ in rows]) if rows else np.zeros(0, int)
        order = np.argsort(positions, kind="stable")  # same record: in the kernel's order
        out: list[AnyEvent] = []
        done = 0  # records whose tick has been taken
        with np.errstate(invalid="ignore"):
            reach = np.fmax.accumulate(now) if n else now  # latest time reached so far

        def ticks_until(stop: int) -> None:
            nonlocal done
            while done < stop:
                if self.gait.state == "standing" or (
                    self.gait.state and not reach[stop - 1] > self.gait.standing_at
                ):
                    done = stop
                    return
                seg = now[done:stop]
                if self.gait.state == "":
                    hit = np.nonzero(~np.isnan(seg))[0]
                else:
                    with np.errstate(invalid="ignore"):
                        hit = np.nonzero(seg > self.gait.standing_at)[0]
                if not len(hit):
                    done = stop
                    return
                q = done + int(hit[0])
                self._tick(float(now[q]), out)
                done = q + 1

        # link changes at their records, as the live path takes them from the source
        links = [
            (q, ev)
            for q in np.flatnonzero(link).tolist()
            if (ev := link_of(buf[offs[q] : offs[q] + lens[q]].tobytes())) is not None
        ]
        li = 0

        def links_until(stop: int) -> None:
            nonlocal li
            while li < len(links) and links[li][0] < stop:
                q, ev = links[li]
                ticks_until(q)
                out.append(ev)
                out.extend(self.on_link(ev))
                li += 1

        for k in order.tolist():
            links_until(int(positions[k]))
            ticks_until(int(positions[k]))
            self._add(origin[k], steps[k], events[k], out)
        links_until(n)
        # every record's own tick comes after its events
        ticks_until(n)
        return out

    def _replay_records(self, reader: SessionReader) -> list[AnyEvent]:
        """Replay through ``feed`` and ``on_link``, record by record: vendor notifications
        are decoded by the same translators a live run uses."""
        out: list[AnyEvent] = []
        for rec in reader.records():
            if rec.kind == RECORD_LINK:
                ev = link_of(rec.data)
                if ev is not None:
                    out.append(ev)
                    out += self.on_link(ev)
            else:
                out += self.feed(rec.t, rec.sensor, rec.data)
        return out + self.finish()


def process_session(reader: SessionReader, params: DetectorParams | None = None) -> list[AnyEvent]:
    """Every event of a recorded session, as a live run would have produced them."""
    return Processor(reader.sensors, params).replay(reader)


def warm_up_kernels(params: DetectorParams | None = None) -> None:
    """Compile (or load from the cache) every kernel before any sensor streams: the
    specialisations depend on argument types only, so a stand-in sensor serves.  A live
    run calls this before opening its source, so compiling never delays a notification."""
    from sensorhub.protocol.codec import DeviceInfo
    from sensorhub.protocol.spec import SensorModel, acc_scale_g, gyro_scale_dps
    from sensorhub.types import Mounting, Side

    info = DeviceInfo(
        firmware=(0, 0, 0),
        model=SensorModel.IMPORTED,
        acc_range_g=16,
        gyro_range_dps=2000,
        acc_scale_g=acc_scale_g(16),
        gyro_scale_dps=gyro_scale_dps(2000),
        odr_hz=1000.0,
        mounting=Mounting.SHOE,
        side=Side.LEFT,
        serial=bytes(6),
        name="warm-up",
    )
    SensorStream("warm-up", info, params).warm_up()
