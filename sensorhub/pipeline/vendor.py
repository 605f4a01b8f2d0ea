"""Vendor sensors in the pipeline: their notifications as sensorhub data packets, and a
footpod's readings as ``Pace`` events.

A :class:`Translator` holds one vendor sensor's stream decoder (``protocol.polar``,
``protocol.movesense``, ``protocol.metawear``), built from what its
:class:`~sensorhub.recording.SensorEntry` says (``family``, ``settings``), and a
:class:`~sensorhub.protocol.native.Packer`: the signal core then takes a vendor sensor
exactly as it takes sensorhub's own (same clock map, same loss counting, same kernels).
Live and replay build it from the same entry and feed it the same bytes, so they give
the same packets.  A :class:`PodStream` turns RSC measurements into ``Pace`` events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from sensorhub.errors import IncompletePacket, ProtocolError
from sensorhub.events import Link, Pace
from sensorhub.protocol import rsc
from sensorhub.protocol.codec import DeviceInfo
from sensorhub.protocol.native import Packer
from sensorhub.protocol.vendor import SampleBlock
from sensorhub.recording import SensorEntry


class FamilyStream(Protocol):
    """A family's stream decoder, as the translator drives it.  ``clock_window_s``: how
    long each window of the clock map must be to hold enough notifications (a family
    that batches for a second needs longer ones; ``pipeline.stream.CLOCK_WINDOW_S``)."""

    clock_window_s: float
    #: delivers a second or so of samples at once: the gait needs the merge
    #: (``pipeline.merge``) to see both feet in time order
    batching: bool

    @property
    def samples_lost(self) -> int: ...

    def feed(self, t: float, data: bytes) -> list[SampleBlock]: ...

    def restart(self, t: float) -> None: ...


StreamFactory = Callable[[dict[str, Any], DeviceInfo], FamilyStream]
_FACTORIES: dict[str, StreamFactory] = {}


def register(family: str, factory: StreamFactory) -> None:
    """``factory(settings, info)`` builds the stream decoder of ``family``."""
    _FACTORIES[family] = factory


def make_stream(entry: SensorEntry) -> FamilyStream:
    """The stream decoder a vendor sensor's entry describes."""
    from sensorhub.pipeline import families  # noqa: F401  (registers the factories)

    factory = _FACTORIES.get(entry.family)
    if factory is None:
        raise ValueError(f"no stream decoder for sensor family {entry.family!r}")
    return factory(entry.settings, entry.info)


class Translator:
    """One vendor sensor: its notifications -> sensorhub data packets."""

    def __init__(self, entry: SensorEntry) -> None:
        self.entry = entry
        self.stream = make_stream(entry)
        self.packer = Packer(entry.info.odr_hz)
        self.clock_window_s = float(self.stream.clock_window_s)
        self.batching = bool(self.stream.batching)
        self.undecodable = 0  # notifications the family decoder refused

    def feed(self, t: float, data: bytes | bytearray | memoryview) -> list[bytes]:
        try:
            blocks = self.stream.feed(t, bytes(data))
        except (ProtocolError, IncompletePacket):
            self.undecodable += 1
            return []
        return [p for b in blocks for p in self.packer.pack(b)]

    def on_link(self, ev: Link) -> None:
        """A link change of this sensor: after a disconnect the sensor starts streaming
        afresh (a MetaWear stream has no counter to say what it missed)."""
        if ev.state == "disconnected":
            self.stream.restart(ev.t)


class PodStream:
    """A running speed and cadence sensor: RSC measurements -> ``Pace`` events."""

    def __init__(self, entry: SensorEntry) -> None:
        info = entry.info
        self.name = entry.name or info.name
        self.side = info.side.label
        doubling = entry.settings.get("cadence_doubling")
        self.doubling: bool | None = None if doubling is None else bool(doubling)
        self.undecodable = 0

    def feed(self, t: float, data: bytes | bytearray | memoryview) -> list[Pace]:
        try:
            m, _ = rsc.decode_measurement(bytes(data))
        except (ProtocolError, IncompletePacket):
            self.undecodable += 1
            return []
        spm, doubled = rsc.steps_per_min(m.cadence_raw, running=m.running, doubling=self.doubling)
        return [
            Pace(
                t=t,
                sensor=self.name,
                side=self.side,
                speed_m_s=round(m.speed_m_s, 3),
                pace_s_per_km=round(1000.0 / m.speed_m_s, 1) if m.speed_m_s > 0 else None,
                cadence_spm=float(spm),
                cadence_doubled=doubled,
                stride_m=m.stride_m,
                distance_m=m.distance_m,
                running=m.running,
            )
        ]
