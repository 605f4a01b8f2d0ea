"""Stream assembly: sequence gaps, duplicates and sample accounting, per sensor.

Pure and clock-free: feed it what the codec decoded, in arrival order.  The 16-bit
sequence number wraps every 65,536 packets (about 21 minutes at 1 kHz); the 32-bit
sample index resolves long outages that the sequence number alone cannot.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from sensorhub.protocol import spec

IN_ORDER = 0
GAP = 1
DUPLICATE = 2
LATE = 3


@dataclass(frozen=True, slots=True)
class Observation:
    """What one packet meant for the stream."""

    kind: int  # IN_ORDER, GAP, DUPLICATE or LATE
    packet: int  # absolute packet number (sequence number unwrapped)
    sample: int  # absolute index of its first sample (unwrapped)
    missing_packets: int = 0  # packets lost just before this one
    missing_samples: int = 0  # samples lost just before this one


class SequenceTracker:
    """Unwraps sequence numbers and sample indices, and counts what is missing."""

    __slots__ = (
        "_next_index",
        "_next_packet",
        "_recent",
        "duplicates",
        "gaps",
        "late",
        "missing_packets",
        "missing_samples",
        "packets",
        "samples",
    )

    def __init__(self, remember: int = 256) -> None:
        self._next_packet: int | None = None
        self._next_index = 0
        self._recent: deque[int] = deque(maxlen=remember)
        self.packets = 0
        self.samples = 0
        self.gaps = 0
        self.missing_packets = 0
        self.missing_samples = 0
        self.duplicates = 0
        self.late = 0

    def observe(self, seq: int, first_index: int, count: int) -> Observation:
        """Account for a decoded data packet (``seq`` and ``first_index`` as on the wire)."""
        if self._next_packet is None:
            self._next_packet = seq
            self._next_index = first_index
        expected = self._next_packet
        delta = (seq - expected) % spec.SEQ_MODULO
        index_delta = (first_index - self._next_index) % spec.INDEX_MODULO
        if delta >= spec.SEQ_MODULO // 2 and index_delta >= spec.INDEX_MODULO // 2:
            packet = expected - (spec.SEQ_MODULO - delta)
            sample = self._next_index - (spec.INDEX_MODULO - index_delta)
            if packet in self._recent:
                self.duplicates += 1
                return Observation(DUPLICATE, packet, sample)
            self.late += 1
            return Observation(LATE, packet, sample)
        # Ahead (or on time).  A gap longer than half the sequence space is resolved
        # with the sample index: packets carry about the same number of samples.
        if index_delta and count:
            wraps = round((index_delta / count - delta) / spec.SEQ_MODULO)
            delta += max(0, wraps) * spec.SEQ_MODULO
        packet = expected + delta
        sample = self._next_index + index_delta
        self._next_packet = packet + 1
        self._next_index = sample + count
        self._recent.append(packet)
        self.packets += 1
        self.samples += count
        if delta or index_delta:
            self.gaps += 1
            self.missing_packets += delta
            self.missing_samples += index_delta
            return Observation(GAP, packet, sample, delta, index_delta)
        return Observation(IN_ORDER, packet, sample)
