"""Stream assembly: sequence numbers and sample indices, across wraps and outages."""

from __future__ import annotations

from sensorhub.pipeline.assembly import DUPLICATE, GAP, IN_ORDER, LATE, SequenceTracker


def feed(tr: SequenceTracker, packets: list[int], per: int = 19, base: int = 0) -> list[int]:
    kinds = []
    for p in packets:
        obs = tr.observe(p % 65536, (base + p * per) % 2**32, per)
        assert obs.packet == p
        kinds.append(obs.kind)
    return kinds


def test_in_order_across_the_wrap() -> None:
    tr = SequenceTracker()
    kinds = feed(tr, list(range(65530, 65545)))
    assert set(kinds) == {IN_ORDER}
    assert tr.packets == 15 and tr.missing_packets == 0 and tr.gaps == 0


def test_gaps_and_duplicates_are_counted_exactly() -> None:
    tr = SequenceTracker()
    kinds = feed(tr, [0, 1, 2, 5, 5, 6, 3, 10])
    assert kinds == [IN_ORDER, IN_ORDER, IN_ORDER, GAP, DUPLICATE, IN_ORDER, LATE, GAP]
    assert tr.missing_packets == 2 + 3
    assert tr.missing_samples == 5 * 19
    assert tr.duplicates == 1 and tr.late == 1


def test_outage_longer_than_the_sequence_space_uses_the_sample_index() -> None:
    tr = SequenceTracker()
    lost = 3 * 65536 + 100  # about an hour at 1 kHz
    kinds = feed(tr, [0, 1, 2 + lost, 3 + lost], base=2**32 - 40)
    assert kinds == [IN_ORDER, IN_ORDER, GAP, IN_ORDER]
    assert tr.missing_packets == lost
    assert tr.missing_samples == lost * 19
