"""Movesense GSP: commands, notifications, payloads, reassembly, the stream decoder, fuzz."""

from __future__ import annotations

import contextlib
import math
import struct
from collections.abc import Set

import numpy as np
import pytest

from sensorhub.errors import IncompletePacket, ProtocolError
from sensorhub.protocol import movesense as ms
from sensorhub.protocol.movesense import (
    CommandResult,
    DataPart,
    DataPart2,
    GspCommand,
    Kind,
    Measurement,
    MovesenseStream,
    Reassembler,
)
from sensorhub.protocol.vendor import SampleBlock
from tests.fuzzing import mutated

REF = 99

# ----------------------------------------------------------------- the notes' examples


def test_uuids() -> None:
    assert ms.SERVICE_UUID == "34802252-7185-4d5d-b431-630e7050e8f0"
    assert ms.COMMAND_CHAR_UUID == "34800001-7185-4d5d-b431-630e7050e8f0"
    assert ms.DATA_CHAR_UUID == "34800002-7185-4d5d-b431-630e7050e8f0"
    assert [int(c) for c in ms.Command] == [0, 1, 2]
    assert [int(r) for r in ms.Response] == [1, 2, 3, 4]


def test_command_bytes_from_the_notes() -> None:
    assert ms.subscribe(99, "/Meas/IMU6/104") == bytes.fromhex(
        "01 63 2F 4D 65 61 73 2F 49 4D 55 36 2F 31 30 34"
    )
    assert ms.unsubscribe(99) == bytes.fromhex("02 63")
    assert ms.hello(123) == bytes.fromhex("00 7B")


ACC2 = np.array([[0.1, 0.2, 9.81], [0.0, 0.1, 9.8]], dtype=np.float32)
GYRO2 = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32)


def _example_54() -> bytes:
    floats = [*ACC2.ravel(), *GYRO2.ravel()]
    return bytes.fromhex("02 63 40 E2 01 00") + struct.pack("<12f", *floats)


def test_synthetic_imu6_message_decodes_to_the_published_values() -> None:
    wire = _example_54()
    assert len(wire) == 54
    msg, n = ms.decode(wire)
    assert n == 54
    assert isinstance(msg, DataPart) and msg.ref == REF
    m = ms.parse_measurement(Kind.IMU6, msg.payload)
    assert m.timestamp_ms == 123456 and m.count == 2 and m.magn is None
    assert m.acc is not None and m.gyro is not None
    np.testing.assert_array_equal(m.acc, ACC2)
    np.testing.assert_array_equal(m.gyro, GYRO2)
    assert ms.encode_data(REF, ms.encode_measurement(Kind.IMU6, m)) == wire


def test_firmware_replies() -> None:
    # HELLO's reply is a COMMAND_RESULT with text; the 2.x sample writes 507 big-endian
    msg, _ = ms.decode(bytes.fromhex("01 7B") + b"Hello")
    assert msg == CommandResult(123, None, b"Hello")
    assert ms.hello_reply(123) == bytes.fromhex("01 7B 48 65 6C 6C 6F")
    msg, _ = ms.decode(bytes.fromhex("01 63 01 FB"))
    assert msg == CommandResult(REF, 507, big_endian=True) and not msg.ok
    msg, _ = ms.decode(bytes.fromhex("01 63 C8 00"))
    assert msg == CommandResult(REF, 200) and msg.ok
    assert ms.command_result(REF, 507, big_endian=True) == bytes.fromhex("01 63 01 FB")
    assert ms.command_result(REF, 404) == bytes.fromhex("01 63 94 01")


@pytest.mark.parametrize(
    ("raw", "status", "big"),
    [
        ("C8 00", 200, False),
        ("00 C8", 200, True),
        ("94 01", 404, False),
        ("01 94", 404, True),
        ("01 02", 513, False),  # 258 big-endian, 513 little-endian: little-endian wins
        ("01 01", 257, False),
        ("57 02", 599, False),
        ("64 00", 100, False),
    ],
)
def test_status_byte_order(raw: str, status: int, big: bool) -> None:
    msg, _ = ms.decode(bytes.fromhex("01 05 " + raw))
    assert msg == CommandResult(5, status, big_endian=big)
    assert ms.encode(msg) == bytes.fromhex("01 05 " + raw)


def test_ambiguous_big_endian_status_is_refused() -> None:
    for status in (257, 258, 513, 514):
        with pytest.raises(ValueError, match="reads back"):
            ms.command_result(1, status, big_endian=True)


# ----------------------------------------------------------------- commands


COMMANDS = [
    GspCommand(ms.Command.HELLO, 1),
    GspCommand(ms.Command.SUBSCRIBE, 255, "/Meas/IMU6/208"),
    GspCommand(ms.Command.SUBSCRIBE, 7, "Meas/Acc/13"),
    GspCommand(ms.Command.SUBSCRIBE, 8, "/" + "x" * (ms.MAX_PATH - 1)),
    GspCommand(ms.Command.UNSUBSCRIBE, 99),
]


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: f"{c.command.name}-{c.ref}")
def test_command_round_trip(cmd: GspCommand) -> None:
    wire = ms.encode_command(cmd)
    assert ms.decode_command(wire) == (cmd, len(wire))


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: f"{c.command.name}-{c.ref}")
def test_command_prefixes(cmd: GspCommand) -> None:
    """A prefix is incomplete, or (a SUBSCRIBE cut inside its path: GSP has no length
    field) a subscribe to the shorter path."""
    wire = ms.encode_command(cmd)
    for cut in range(len(wire)):
        if cut < 2 or (cmd.command == ms.Command.SUBSCRIBE and cut == 2):
            with pytest.raises(IncompletePacket) as e:
                ms.decode_command(wire[:cut])
            subscribing = cut > 0 and cmd.command == ms.Command.SUBSCRIBE
            assert e.value.needed == (3 if subscribing else 2) and e.value.have == cut
        else:
            got, n = ms.decode_command(wire[:cut])
            assert n == cut and got.path == cmd.path[: cut - 2]


@pytest.mark.parametrize(
    ("ref", "path"),
    [
        (0, "/Meas/Acc/13"),
        (256, "/Meas/Acc/13"),
        (-1, "/Meas/Acc/13"),
        (1, ""),
        (1, "/" + "x" * ms.MAX_PATH),
        (1, "/Meas/Äcc/13"),
        (1, "/Meas/Acc 13"),
        (1, "/Meas/Acc/13\x00"),
    ],
)
def test_subscribe_rejects(ref: int, path: str) -> None:
    with pytest.raises(ValueError):
        ms.subscribe(ref, path)


def test_other_command_rejects() -> None:
    for bad in (0, 256):
        with pytest.raises(ValueError):
            ms.hello(bad)
        with pytest.raises(ValueError):
            ms.unsubscribe(bad)
    with pytest.raises(ValueError, match="no path"):
        ms.encode_command(GspCommand(ms.Command.HELLO, 1, "/Meas/Acc/13"))


@pytest.mark.parametrize(
    ("wire", "offset"),
    [
        ("03 01", 0),  # FETCH_LOG (2.2 firmware) is not spoken here
        ("FF 01", 0),
        ("00 00", 1),
        ("01 00 2F", 1),
        ("00 01 00", 2),  # HELLO with a payload
        ("02 01 2F", 2),
        ("01 01 2F 20", 3),  # a space
        ("01 01 2F 4D C3 84", 4),  # non-ASCII
        ("01 01 2F 00", 3),  # a NUL would cut the firmware's path
        ("01 01" + " 41" * 160, 2 + ms.MAX_PATH),
    ],
)
def test_malformed_commands(wire: str, offset: int) -> None:
    with pytest.raises(ProtocolError) as e:
        ms.decode_command(bytes.fromhex(wire))
    assert e.value.offset == offset


# ----------------------------------------------------------------- notifications

NOTIFICATIONS: list[ms.Notification] = [
    CommandResult(1, 200),
    CommandResult(2, 404),
    CommandResult(3, 507, big_endian=True),
    CommandResult(255, payload=b"Hello"),
    CommandResult(4, payload=b"\x00\x01\x02"),
    DataPart(99, b"\x01"),
    DataPart(99, _example_54()[2:]),
    DataPart2(99, b"\xff" * 40),
    DataPart2(98, b"\x00" * 3, part=3),
]


@pytest.mark.parametrize("msg", NOTIFICATIONS, ids=lambda m: type(m).__name__)
def test_notification_round_trip(msg: ms.Notification) -> None:
    wire = ms.encode(msg)
    assert ms.decode(wire) == (msg, len(wire))
    assert ms.decode(bytearray(wire))[0] == msg
    assert ms.decode(memoryview(wire))[0] == msg


@pytest.mark.parametrize("msg", NOTIFICATIONS, ids=lambda m: type(m).__name__)
def test_notification_prefixes(msg: ms.Notification) -> None:
    """Every prefix is IncompletePacket, except where a notification's length is its
    end (GSP has no length field): a longer prefix of a data notification is a shorter
    data notification, and a 4-byte prefix of a longer COMMAND_RESULT is read as a
    status ('He' of 'Hello' is none, a ProtocolError at offset 2)."""
    wire = ms.encode(msg)
    is_result = isinstance(msg, CommandResult)
    for cut in range(len(wire)):
        view = wire[:cut]
        if cut < (4 if is_result else 3):
            with pytest.raises(IncompletePacket) as e:
                ms.decode(view)
            needed = 2 if cut == 0 else 4 if is_result else 3
            assert e.value.needed == needed and e.value.have == cut
            continue
        if is_result and cut == 4:
            lo, hi = view[2], view[3]
            le, be = lo | hi << 8, hi | lo << 8
            if not (100 <= le <= 599 or 100 <= be <= 599):
                with pytest.raises(ProtocolError) as pe:
                    ms.decode(view)
                assert pe.value.offset == 2
                continue
        got, n = ms.decode(view)
        assert n == cut and type(got) is type(msg) and got.ref == msg.ref


@pytest.mark.parametrize(
    ("wire", "exc", "where"),
    [
        ("", IncompletePacket, 2),
        ("01", IncompletePacket, 4),
        ("02", IncompletePacket, 3),
        ("01 05", IncompletePacket, 4),
        ("01 05 C8", IncompletePacket, 4),
        ("02 05", IncompletePacket, 3),
        ("03 05", IncompletePacket, 3),
        ("00", ProtocolError, 0),
        ("05 01 00", ProtocolError, 0),
        ("FF 01 00", ProtocolError, 0),
        ("01 00 C8 00", ProtocolError, 1),
        ("02 00 00", ProtocolError, 1),
        ("01 05 FF FF", ProtocolError, 2),
        ("01 05 00 00", ProtocolError, 2),
        ("01 05 63 00", ProtocolError, 2),  # 99: below the HTTP range either way
        ("01 05 58 02", ProtocolError, 2),  # 600
    ],
)
def test_malformed_notifications(wire: str, exc: type[Exception], where: int) -> None:
    with pytest.raises(exc) as e:
        ms.decode(bytes.fromhex(wire))
    if isinstance(e.value, IncompletePacket):
        assert e.value.needed == where
    else:
        assert isinstance(e.value, ProtocolError) and e.value.offset == where


def test_encode_rejects() -> None:
    bad: list[ms.Notification] = [
        CommandResult(1, 99),
        CommandResult(1, 600),
        CommandResult(1, 200, b"x"),
        CommandResult(1),
        CommandResult(1, payload=b"ab"),  # two bytes would read back as a status
        DataPart(1, b""),
        DataPart2(1, b"x", part=4),
        DataPart(0, b"x"),
    ]
    for msg in bad:
        with pytest.raises(ValueError):
            ms.encode(msg)


# ----------------------------------------------------------------- resources


@pytest.mark.parametrize(
    ("path", "kind", "rate"),
    [
        ("/Meas/IMU6/104", Kind.IMU6, 104),
        ("Meas/Acc/208", Kind.ACC, 208),
        ("/Meas/Gyro/13", Kind.GYRO, 13),
        ("/Meas/Magn/52", Kind.MAGN, 52),
        ("/Meas/IMU6m/26", Kind.IMU6M, 26),
        ("/meas/imu9/1666", Kind.IMU9, 1666),
    ],
)
def test_resource_of(path: str, kind: Kind, rate: int) -> None:
    assert ms.resource_of(path) == ms.Resource(kind, rate)


@pytest.mark.parametrize(
    "path",
    ["/Meas/HR", "/Meas/ECG/200", "/Meas/Acc", "/Meas/Acc/0", "/Meas/Acc/x", "/Meas/Acc/1.5",
     "/Info", "/Meas/Temp/1", "/Meas/Acc/13/extra", "/Meas/Acc/１３"],
)  # fmt: skip
def test_resource_of_rejects(path: str) -> None:
    with pytest.raises(ValueError):
        ms.resource_of(path)


def _measurement(kind: Kind, n: int, ts: int, rng: np.random.Generator) -> Measurement:
    arrays = {name: rng.uniform(-100, 100, (n, 3)).astype(np.float32) for name in kind.arrays}
    return Measurement(ts, arrays.get("acc"), arrays.get("gyro"), arrays.get("magn"))


@pytest.mark.parametrize("kind", list(Kind), ids=lambda k: k.value)
def test_measurement_round_trip_and_prefixes(kind: Kind) -> None:
    rng = np.random.default_rng(3)
    m = _measurement(kind, 5, 2**32 - 1, rng)
    payload = ms.encode_measurement(kind, m)
    assert len(payload) == 4 + 5 * kind.sample_bytes
    back = ms.parse_measurement(kind, payload)
    assert back.timestamp_ms == m.timestamp_ms and back.count == 5
    for name in ("acc", "gyro", "magn"):
        want, got = getattr(m, name), getattr(back, name)
        assert (want is None) == (got is None)
        if want is not None:
            np.testing.assert_array_equal(got, want)
            assert got.dtype == np.float32 and got.flags.writeable
    assert ms.encode_measurement(kind, back) == payload
    # IMU arrays follow one another: the second array starts after n acc vectors
    if kind == Kind.IMU6:
        assert m.gyro is not None
        assert struct.unpack_from("<3f", payload, 4 + 5 * 12) == tuple(m.gyro[0])
    sb = kind.sample_bytes
    for cut in range(len(payload)):
        if ms.whole_length(kind, cut):
            assert ms.parse_measurement(kind, payload[:cut]).count == (cut - 4) // sb
            continue
        with pytest.raises(IncompletePacket) as e:
            ms.parse_measurement(kind, payload[:cut])
        k = max(1, math.ceil((cut - 4) / sb))
        assert e.value.needed == 4 + k * sb and e.value.have == cut


def test_measurement_non_finite() -> None:
    payload = bytearray(ms.encode_measurement(Kind.IMU6, Measurement(1, ACC2, GYRO2)))
    struct.pack_into("<f", payload, 4 + 7 * 4, math.nan)
    with pytest.raises(ProtocolError) as e:
        ms.parse_measurement(Kind.IMU6, payload)
    assert e.value.offset == 4 + 7 * 4
    struct.pack_into("<f", payload, 4, -math.inf)
    with pytest.raises(ProtocolError) as e:
        ms.parse_measurement(Kind.IMU6, payload)
    assert e.value.offset == 4


def test_encode_measurement_rejects() -> None:
    cases = [
        (Kind.IMU6, Measurement(0, ACC2)),
        (Kind.ACC, Measurement(0, ACC2, GYRO2)),
        (Kind.GYRO, Measurement(0, ACC2)),
        (Kind.IMU6, Measurement(0, ACC2, GYRO2[:1])),
        (Kind.ACC, Measurement(0, ACC2[:0])),
        (Kind.ACC, Measurement(0, ACC2.ravel())),
        (Kind.ACC, Measurement(2**32, ACC2)),
        (Kind.ACC, Measurement(-1, ACC2)),
        (Kind.ACC, Measurement(0, np.array([[1e39, 0, 0]]))),
        (Kind.ACC, Measurement(0, np.array([[math.nan, 0, 0]]))),
    ]
    for kind, m in cases:
        with pytest.raises(ValueError):
            ms.encode_measurement(kind, m)


# ----------------------------------------------------------------- reassembly


def _payload(kind: Kind, n: int, ts: int = 1000, seed: int = 0) -> bytes:
    return ms.encode_measurement(kind, _measurement(kind, n, ts, np.random.default_rng(seed)))


def _feed_all(r: Reassembler, wires: list[bytes]) -> list[list[ms.Assembled]]:
    return [r.feed(ms.decode(w)[0]) for w in wires]


@pytest.mark.parametrize("max_notification", [20, 23, 100, 155, 158, 244])
@pytest.mark.parametrize("known", [True, False])
def test_split_and_join(max_notification: int, known: bool) -> None:
    kind = Kind.IMU6
    room = max_notification - 2
    payloads = [
        _payload(kind, n, 1000 + 10 * n, seed=n)
        for n in range(1, 40)
        if 4 + n * kind.sample_bytes <= 3 * room
    ]
    assert payloads
    r = Reassembler({REF: kind}, max_notification=max_notification if known else None)
    wires: list[bytes] = []
    ends: list[int] = []
    for p in payloads:
        parts = ms.split_message(REF, p, max_notification)
        assert all(len(w) <= max_notification for w in parts)
        assert [w[0] for w in parts] == [2, 3, 4][: len(parts)]
        assert b"".join(w[2:] for w in parts) == p
        wires += parts
        ends.append(len(wires) - 1)
    out = _feed_all(r, wires)
    joined = [a.payload for got in out for a in got] + [a.payload for a in r.flush()]
    assert joined == payloads
    assert r.dropped == 0
    if known:
        # with the part size known, a message waits for the next notification only when
        # its last part is full (and not a DATA_PART3): it could have been continued
        for i, end in enumerate(ends):
            last = wires[end]
            waits = len(last) == max_notification and last[0] != ms.Response.DATA_PART3
            assert [a.payload for a in out[end]] == ([] if waits else [payloads[i]])


def test_latency_rules() -> None:
    kind = Kind.IMU6
    short = ms.encode_data(REF, _payload(kind, 2))  # 54 bytes
    # part size unknown: a whole message waits for the next notification of its ref
    r = Reassembler({REF: kind})
    assert r.feed(ms.decode(short)[0]) == [] and r.pending(REF)
    assert len(r.feed(ms.decode(short)[0])) == 1
    assert r.part_size is None
    # a split message teaches the part size; then short messages go out at once
    long_parts = ms.split_message(REF, _payload(kind, 8), 158)  # 198 bytes: 158 + 40
    got = _feed_all(r, long_parts)
    assert [len(g) for g in got] == [1, 1]  # the held short one, then the joined one
    assert r.part_size == 158
    assert len(r.feed(ms.decode(short)[0])) == 1 and not r.pending(REF)
    # a DATA_PART3 ends a message (the firmware defines no part after it)
    r = Reassembler({REF: kind})
    parts = ms.split_message(REF, _payload(kind, 2), 20)
    assert len(parts) == 3
    assert [len(g) for g in _feed_all(r, parts)] == [0, 0, 1]


def test_lost_parts_are_dropped() -> None:
    kind = Kind.IMU6
    a, b = (ms.split_message(REF, _payload(kind, 8, seed=s), 158) for s in (1, 2))
    r = Reassembler({REF: kind}, max_notification=158)
    assert _feed_all(r, [a[0]]) == [[]]  # 158 bytes, not whole: waits for its PART2
    got = _feed_all(r, b)  # a's PART2 never came
    assert r.dropped == 1 and [x.payload for g in got for x in g] == [_payload(kind, 8, seed=2)]
    # a continuation without its head, and one out of order
    assert r.feed(DataPart2(REF, b"\x00" * 40)) == [] and r.dropped == 2
    r.feed(ms.decode(a[0])[0])
    assert r.feed(DataPart2(REF, b"\x00" * 40, part=3)) == [] and r.dropped == 4
    assert not r.pending(REF)


def test_refs_are_independent_and_results_close_messages() -> None:
    r = Reassembler({1: Kind.ACC, 2: Kind.IMU6})
    acc, imu = _payload(Kind.ACC, 3), _payload(Kind.IMU6, 3)
    assert r.feed(DataPart(1, acc)) == []
    assert r.feed(DataPart(2, imu)) == []
    assert r.feed(CommandResult(1, 200)) == [ms.Assembled(1, acc)]
    assert r.flush() == [ms.Assembled(2, imu)]
    # an unknown ref counts any length as whole
    r = Reassembler()
    assert r.feed(DataPart(7, b"abc")) == [] and r.flush(7) == [ms.Assembled(7, b"abc")]
    r.feed(DataPart(7, b"abc"))
    r.reset()
    assert r.flush() == []


def test_split_message_rejects() -> None:
    with pytest.raises(ValueError, match="3"):
        ms.split_message(REF, b"x" * 100, 35)
    with pytest.raises(ValueError):
        ms.split_message(REF, b"", 100)
    with pytest.raises(ValueError):
        ms.split_message(REF, b"x", 2)
    with pytest.raises(ValueError):
        ms.split_message(0, b"x", 100)
    with pytest.raises(ValueError):
        Reassembler(max_notification=2)


# ----------------------------------------------------------------- stream

RATE = 208.0
PER = 8  # samples per message


class Synthetic:
    """A 208 Hz IMU6 stream: the device clock runs ``ppm`` fast or slow against the
    nominal period, message timestamps are the ms (floored, plus up to ``jitter`` ms) of
    each message's first sample, starting 20 s before the uint32 wrap."""

    def __init__(self, *, seed: int, ppm: float, seconds: float, jitter: int = 1) -> None:
        rng = np.random.default_rng(seed)
        self.period = 1000.0 / (RATE * (1 + ppm * 1e-6))
        self.t0 = 2**32 - 20_000
        self.count = int(seconds * RATE / PER)
        n = self.count * PER
        g = ms.STANDARD_GRAVITY
        self.acc = rng.uniform(-15.9 * g, 15.9 * g, (n, 3)).astype(np.float32)
        self.gyro = rng.uniform(-1990, 1990, (n, 3)).astype(np.float32)
        self.ts = [
            (math.floor(self.t0 + k * PER * self.period) + int(rng.integers(0, jitter + 1)))
            for k in range(self.count)
        ]

    def payload(self, k: int) -> bytes:
        s = slice(k * PER, (k + 1) * PER)
        m = Measurement(self.ts[k] % 2**32, self.acc[s], self.gyro[s])
        return ms.encode_measurement(Kind.IMU6, m)

    def notifications(
        self, keep: list[bool], max_notification: int, lose_part2: Set[int] = frozenset()
    ) -> list[bytes]:
        out: list[bytes] = []
        for k in range(self.count):
            if not keep[k]:
                continue
            parts = ms.split_message(REF, self.payload(k), max_notification)
            out += parts[:1] if k in lose_part2 else parts
        return out


def _removal(syn: Synthetic, seed: int, gap_at_s: float, gap_s: float) -> list[bool]:
    """Messages dropped here and there (2 %, some in runs), and a gap."""
    rng = np.random.default_rng(seed)
    keep = [True] * syn.count
    k = 0
    while k < syn.count:
        if rng.random() < 0.02:
            for j in range(k, min(k + int(rng.integers(1, 4)), syn.count)):
                keep[j] = False
        k += 1
    for k in range(syn.count):
        if gap_at_s <= k * PER / RATE < gap_at_s + gap_s:
            keep[k] = False
    keep[0] = keep[-1] = True
    return keep


def _run(stream: MovesenseStream, wires: list[bytes]) -> list[SampleBlock]:
    blocks = [b for w in wires for b in stream.feed(w)]
    return blocks + stream.flush()


@pytest.mark.parametrize(("ppm", "seed"), [(300.0, 1), (-300.0, 2), (300.0, 3)])
@pytest.mark.parametrize("max_notification", [158, None])
def test_stream_accounts_for_exactly_the_removed_samples(
    ppm: float, seed: int, max_notification: int | None
) -> None:
    syn = Synthetic(seed=seed, ppm=ppm, seconds=60.0)
    keep = _removal(syn, seed, gap_at_s=30.0, gap_s=10.0)
    rng = np.random.default_rng(seed + 100)
    lose = {
        k for k in range(syn.count) if keep[k] and 0 < k < syn.count - 1 and rng.random() < 0.01
    }
    wires = syn.notifications(keep, 158, lose)  # 198-byte messages: DATA 158 + PART2 40
    delivered = [k for k in range(syn.count) if keep[k] and k not in lose]
    assert lose and syn.count - len(delivered) > 10 * RATE / PER  # the gap and the drops

    stream = MovesenseStream(RATE, max_notification=max_notification)
    blocks = _run(stream, wires)

    assert [(b.first_index, b.count) for b in blocks] == [(k * PER, PER) for k in delivered]
    assert stream.samples_lost == (syn.count - len(delivered)) * PER
    assert stream.messages_dropped == stream.messages_malformed == 0
    # the device time is the unwrapped ms of each first sample (the clock wraps at 20 s)
    assert [b.device_t_us for b in blocks] == [syn.ts[k] * 1000 for k in delivered]
    assert syn.ts[delivered[-1]] > 2**32
    # the values are the originals to within quantisation
    acc_lsb = stream.acc_scale_g * ms.STANDARD_GRAVITY
    for b, k in zip(blocks, delivered, strict=True):
        s = slice(k * PER, (k + 1) * PER)
        assert b.samples.shape == (PER, 6) and b.samples.dtype == np.int16 and not b.clipped
        acc = b.samples[:, :3].astype(np.float64) * acc_lsb
        gyro = b.samples[:, 3:].astype(np.float64) * stream.gyro_scale_dps
        assert np.abs(acc - syn.acc[s]).max() <= acc_lsb / 2 + 1e-5
        assert np.abs(gyro - syn.gyro[s]).max() <= stream.gyro_scale_dps / 2 + 1e-4
    # the timestamps' period, not the nominal one
    assert abs(stream.period_ms - syn.period) < 1e-3 * syn.period * 1e-3 * 10
    # a fresh stream fed the same bytes gives identical blocks
    again = _run(MovesenseStream(RATE, max_notification=max_notification), wires)
    assert len(again) == len(blocks)
    for x, y in zip(blocks, again, strict=True):
        assert x.first_index == y.first_index and x.device_t_us == y.device_t_us
        assert x.clipped == y.clipped
        np.testing.assert_array_equal(x.samples, y.samples)


def test_the_gap_needs_the_fitted_period() -> None:
    """With the nominal period the 10 s outage would be miscounted: the test has teeth."""
    syn = Synthetic(seed=1, ppm=300.0, seconds=45.0, jitter=0)
    keep = _removal(syn, 1, gap_at_s=30.0, gap_s=10.0)
    after = next(k for k in range(syn.count) if k * PER / RATE >= 40.0 and keep[k])
    before = max(k for k in range(after) if keep[k])
    nominal = 1000.0 / RATE
    lost_nominal = round((syn.ts[after] - syn.ts[before]) / nominal) - PER
    assert lost_nominal != (after - before - 1) * PER
    blocks = _run(MovesenseStream(RATE), syn.notifications(keep, 244))
    starts = {b.first_index for b in blocks}
    assert after * PER in starts and before * PER in starts


def test_acc_stream_and_clipping() -> None:
    g = ms.STANDARD_GRAVITY
    acc = np.array([[0.0, 0.0, g], [17 * g, -0.5 * g, 0.0]], dtype=np.float32)
    stream = MovesenseStream(52.0, kind=Kind.ACC, ref=5)
    wire = ms.encode_data(5, ms.encode_measurement(Kind.ACC, Measurement(100, acc)))
    assert stream.feed(wire) == []  # held: its part size is not known yet
    (block,) = stream.flush()
    assert block.samples.shape == (2, 3) and block.clipped
    assert block.samples[0].tolist() == [0, 0, 2048]
    assert block.samples[1].tolist() == [32767, -1024, 0]
    assert block.first_index == 0 and block.device_t_us == 100_000
    gyro = np.array([[2100.0, 0.0, 0.0]], dtype=np.float32)
    imu = MovesenseStream(104.0, max_notification=244)
    m = Measurement(7, acc[:1], gyro)
    (b,) = imu.feed(ms.encode_data(1, ms.encode_measurement(Kind.IMU6, m)))
    assert b.clipped and b.samples[0, 3] == 32767
    with pytest.raises(ValueError):
        MovesenseStream(104.0, kind=Kind.IMU9)
    with pytest.raises(ValueError):
        MovesenseStream(0.0)
    with pytest.raises(ValueError):
        MovesenseStream(104.0, ref=0)


def _acc_wire(ref: int, ts: int, n: int = 4) -> bytes:
    acc = np.zeros((n, 3), dtype=np.float32)
    return ms.encode_data(ref, ms.encode_measurement(Kind.ACC, Measurement(ts % 2**32, acc)))


def test_stream_refs_results_duplicates_and_clock_reset() -> None:
    s = MovesenseStream(100.0, kind=Kind.ACC, max_notification=244)
    assert s.feed(ms.command_result(3, 200)) == []  # no ref yet: nothing to follow
    assert s.feed(ms.encode(DataPart2(3, b"\x00" * 16))) == []
    (b0,) = s.feed(_acc_wire(3, 1000))
    assert s.ref == 3 and b0.first_index == 0
    assert s.feed(_acc_wire(4, 1040)) == []  # another ref
    assert s.feed(ms.command_result(3, 507, big_endian=True)) == []
    assert s.last_result == CommandResult(3, 507, big_endian=True)
    (b1,) = s.feed(_acc_wire(3, 1040))
    assert b1.first_index == 4
    assert s.feed(_acc_wire(3, 1040)) == [] and s.messages_dropped == 1  # a repeat
    (b2,) = s.feed(_acc_wire(3, 1120))  # 40 ms = one message missing
    assert b2.first_index == 12 and s.samples_lost == 4
    (b3,) = s.feed(_acc_wire(3, 50))  # the sensor rebooted: its clock starts again
    assert b3.first_index == 16 and s.clock_resets == 1 and s.samples_lost == 4
    assert b3.device_t_us < b2.device_t_us
    (b4,) = s.feed(_acc_wire(3, 90))
    assert b4.first_index == 20
    with pytest.raises(ProtocolError):
        s.feed(b"\x09\x03\x00")
    with pytest.raises(IncompletePacket):
        s.feed(b"\x02")
    # a NaN message is dropped and counted, the stream goes on
    bad = bytearray(_acc_wire(3, 130))
    struct.pack_into("<f", bad, 6, math.nan)
    assert s.feed(bytes(bad)) == [] and s.messages_malformed == 1
    (b5,) = s.feed(_acc_wire(3, 170))
    assert b5.first_index == 28 and s.samples_lost == 8


def test_restart_counts_the_outage_from_the_clock() -> None:
    s = MovesenseStream(100.0, kind=Kind.ACC, ref=1, max_notification=158)

    def parts(ts: int) -> list[bytes]:  # 20 samples: 246 bytes, sent as DATA + PART2
        return ms.split_message(1, _acc_wire(1, ts, n=20)[2:], 158)

    blocks = [b for ts in range(0, 2000, 200) for w in parts(ts) for b in s.feed(w)]
    assert [b.first_index for b in blocks] == list(range(0, 200, 20))
    s.feed(parts(2000)[0])  # the link drops between the parts
    s.restart()
    assert s.feed(parts(7000)[0]) == []  # resubscribed 5 s later
    (b,) = s.feed(parts(7000)[1])
    assert b.first_index == 700 and s.samples_lost == 500


def test_stream_wraps_the_clock() -> None:
    s = MovesenseStream(100.0, kind=Kind.ACC, max_notification=244)
    start = 2**32 - 100
    blocks = [b for k in range(10) for b in s.feed(_acc_wire(1, start + 40 * k))]
    assert [b.first_index for b in blocks] == list(range(0, 40, 4))
    assert [b.device_t_us for b in blocks] == [(start + 40 * k) * 1000 for k in range(10)]


# ----------------------------------------------------------------- fuzz

FUZZ_N = 120_000


def _valid_wires(rng: np.random.Generator) -> list[bytes]:
    wires = [ms.encode(m) for m in NOTIFICATIONS]
    for kind in Kind:
        wires.append(ms.encode_data(REF, _payload(kind, int(rng.integers(1, 6)))))
    wires += ms.split_message(REF, _payload(Kind.IMU6, 8), 158)
    wires += [ms.encode_command(c) for c in COMMANDS]
    return wires


def test_fuzz() -> None:
    """Random and mutated buffers: only IncompletePacket / ProtocolError escape, and
    whatever decodes encodes back to the same bytes."""
    rng = np.random.default_rng(20240601)
    seeds = _valid_wires(rng)
    stream = MovesenseStream(RATE)
    kinds = list(Kind)
    decoded = 0
    for i in range(FUZZ_N):
        mode = i % 3
        if mode == 0:
            buf = rng.integers(0, 256, int(rng.integers(0, 64)), dtype=np.uint8).tobytes()
        else:
            b = mutated(rng, seeds, edits=4, append_max=30)
            if mode == 2 and len(b) >= 1:
                b[0] = int(rng.integers(1, 5))  # mostly valid response codes
            buf = bytes(b)
        try:
            msg, n = ms.decode(buf)
        except (IncompletePacket, ProtocolError):
            pass
        else:
            decoded += 1
            assert n == len(buf) and ms.encode(msg) == buf
        try:
            cmd, n = ms.decode_command(buf)
        except (IncompletePacket, ProtocolError):
            pass
        else:
            assert n == len(buf) and ms.encode_command(cmd) == buf
        kind = kinds[i % len(kinds)]
        try:
            m = ms.parse_measurement(kind, buf[2:])
        except (IncompletePacket, ProtocolError):
            pass
        else:
            assert ms.encode_measurement(kind, m) == buf[2:]
        with contextlib.suppress(IncompletePacket, ProtocolError):
            stream.feed(buf)
        if i % 5000 == 0:
            stream.flush()
            stream = MovesenseStream(RATE, max_notification=None if i % 2 else 158)
    assert decoded > FUZZ_N // 10
