"""Numba kernels for the per-notification path: decode, assemble, time and detect.

One entry point, :func:`feed_packets`, serves the live path (called with one
notification at a time) and replay (called with every notification of a sensor at once),
so both give exactly the same events.  It decodes sensorhub data packets (the codec in
``sensorhub.protocol.codec`` is the reference the tests hold it to), tracks sequence
numbers and sample indices like ``pipeline.assembly.SequenceTracker``, bridges short gaps,
maps sample indices to session time (lower-envelope clock fit; its readable reference is
``tests/reference/naive_clock.py``) and runs the step detector (``_kernels.process``).
All state is in explicit arrays; nothing is allocated per packet.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
from numba import njit

from sensorhub.dsp import _kernels as K
from sensorhub.protocol import spec


def _crc_table() -> np.ndarray:
    table = np.zeros(256, dtype=np.uint16)
    for b in range(256):
        crc = b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table[b] = crc & 0xFFFF
    return table


CRC_TABLE = _crc_table()


def _crc_slices() -> np.ndarray:
    """Tables for slicing-by-8: row k is the CRC of a byte followed by k zero bytes, so
    eight bytes fold in with eight independent look-ups (no serial dependency)."""
    t = np.zeros((8, 256), dtype=np.int64)
    t[0] = _crc_table()
    for k in range(1, 8):
        prev = t[k - 1]
        t[k] = ((prev << 8) & 0xFFFF) ^ t[0][(prev >> 8) & 0xFF]
    return t


CRC_SLICES = _crc_slices()
_VERSION = spec.PROTOCOL_VERSION
_KIND_DATA = int(spec.Kind.DATA)
_HDR = spec.DATA_HEADER.size
_FLAG_NO_GYRO = spec.FLAG_NO_GYRO
_FLAGS_KNOWN = spec.FLAGS_KNOWN
_MAX_IMU = spec.MAX_SAMPLES_IMU
_MAX_ACC = spec.MAX_SAMPLES_ACC
# the wire layout, from protocol.spec (numba freezes these as constants)
_OFF_VERSION = spec.DATA_OFFSET["version"]
_OFF_KIND = spec.DATA_OFFSET["kind"]
_OFF_FLAGS = spec.DATA_OFFSET["flags"]
_OFF_COUNT = spec.DATA_OFFSET["count"]
_OFF_SEQ = spec.DATA_OFFSET["seq"]
_OFF_INDEX = spec.DATA_OFFSET["first_index"]
_OFF_T_US = spec.DATA_OFFSET["t_us"]
_SEQ_MOD = spec.SEQ_MODULO
_INDEX_MOD = spec.INDEX_MODULO

# ---------------------------------------------------------------- tracker state (trk)
T_INIT = 0
T_NEXT_PACKET = 1
T_NEXT_INDEX = 2
T_PACKETS = 3
T_SAMPLES = 4
T_GAPS = 5
T_MISSING_PACKETS = 6
T_MISSING_SAMPLES = 7
T_DUPLICATES = 8
T_LATE = 9
T_RECENT_POS = 10
T_RECENT_N = 11
T_LAST_INDEX = 12  # last sample given to the detector (-1: none)
T_CORRUPT = 13
T_BRIDGED = 14
T_HAS_ROW = 15  # last_row holds the previous packet's last sample
T_ROW_CH = 16
N_TRK = 17
N_RECENT = 256

# ------------------------------------------------------------------ clock state (clk)
C_PERIOD = 0
C_WINDOW = 1
C_CUR_MIN = 2
C_CUR_IDX = 3
C_CUR_END = 4  # nan: no window yet
C_OFFSET = 5  # nan: no packet yet
C_SLOPE = 6
C_N = 7  # minima stored
C_POS = 8  # next slot in the minima ring
C_STEPS = 9  # times the map moved back by more than CLOCK_STEP_S in a row
C_BACK = 10  # s the map has moved back over the packets since one that did not move it
N_CLK = 11
#: Moving the clock map back by more than this, over consecutive packets, is a step, not
#: jitter: the stamps before it were late (a host that stalled, then took its backlog in
#: one burst, each packet lowering the map a little), so times measured across it are not
#: durations.  Jitter is within a BLE connection interval and the packets it batches
#: (7.5-100 ms); a stalled host costs hundreds of ms or more.
CLOCK_STEP_S = 0.1
N_MINIMA = 24

# --------------------------------------------------------------------- packet status
P_OK = 0
P_REPEAT = 1  # duplicate or late: ignored
P_CORRUPT = 2
P_OTHER = 3  # not a data packet

#: output columns: the kernel's 8, then the session times of index and ref, the clock
#: map's step count (``clk[C_STEPS]``) when they were timed, and the packet number
O_T = K.N_COLS
O_T_REF = K.N_COLS + 1
O_CLOCK_STEPS = K.N_COLS + 2
O_PACKET = K.N_COLS + 3
N_OUT = K.N_COLS + 4
#: rows of room a packet may need (bridge + packet events)
ROOM = 16
BRIDGE_ROWS = 128


def new_tracker() -> np.ndarray:
    trk = np.zeros(N_TRK)
    trk[T_LAST_INDEX] = -1.0
    return trk


def new_clock(sampling_rate_hz: float, window_s: float = 5.0) -> np.ndarray:
    clk = np.zeros(N_CLK)
    clk[C_PERIOD] = 1.0 / sampling_rate_hz
    clk[C_WINDOW] = window_s
    clk[C_CUR_MIN] = math.inf
    clk[C_CUR_END] = math.nan
    clk[C_OFFSET] = math.nan
    return clk


@njit(cache=True)
def crc16(buf: np.ndarray, start: int, stop: int) -> int:
    """CRC-16/CCITT-FALSE of ``buf[start:stop]`` (same as ``binascii.crc_hqx(.., 0xFFFF)``)."""
    t = CRC_SLICES
    crc = 0xFFFF
    k = start
    while k + 8 <= stop:
        crc = (
            t[7, (crc >> 8) ^ buf[k]]
            ^ t[6, (crc & 0xFF) ^ buf[k + 1]]
            ^ t[5, buf[k + 2]]
            ^ t[4, buf[k + 3]]
            ^ t[3, buf[k + 4]]
            ^ t[2, buf[k + 5]]
            ^ t[1, buf[k + 6]]
            ^ t[0, buf[k + 7]]
        )
        k += 8
    while k < stop:
        crc = ((crc << 8) & 0xFFFF) ^ t[0, ((crc >> 8) ^ buf[k]) & 0xFF]
        k += 1
    return crc


@njit(cache=True)
def _u16(buf: np.ndarray, k: int) -> int:
    """Little-endian unsigned 16-bit at ``buf[k]`` (the wire's byte order)."""
    v: int = buf[k] | (np.int64(buf[k + 1]) << 8)
    return v


@njit(cache=True)
def _u32(buf: np.ndarray, k: int) -> int:
    """Little-endian unsigned 32-bit at ``buf[k]``."""
    v: int = (
        buf[k] | (buf[k + 1] << 8) | (np.int64(buf[k + 2]) << 16) | (np.int64(buf[k + 3]) << 24)
    )
    return v


@njit(cache=True)
def decode_data(buf: np.ndarray, off: int, length: int, dst: np.ndarray, meta: np.ndarray) -> int:
    """Decode one data packet at ``buf[off:off+length]`` into ``dst`` (int16 rows).

    ``meta`` receives ``seq, first_index, t_us, count, channels, flags``.  Returns 0 for a
    valid data packet (exactly when ``codec.decode`` returns a DataPacket), 1 for a message
    of another kind (not checked further: the codec handles those), 2 for malformed bytes.
    """
    if length < 2:
        return 2
    if buf[off + _OFF_VERSION] != _VERSION:
        return 2
    if buf[off + _OFF_KIND] != _KIND_DATA:
        return 1
    if length < _HDR:
        return 2
    flags = buf[off + _OFF_FLAGS]
    count = buf[off + _OFF_COUNT]
    if flags & ~_FLAGS_KNOWN & 0xFF:
        return 2
    if flags & _FLAG_NO_GYRO:
        ch = 3
        limit = _MAX_ACC
    else:
        ch = 6
        limit = _MAX_IMU
    if count < 1 or count > limit:
        return 2
    body = _HDR + count * ch * 2
    if length < body + 2:
        return 2
    stored = buf[off + body] | (buf[off + body + 1] << 8)
    if crc16(buf, off, off + body) != stored:
        return 2
    meta[0] = _u16(buf, off + _OFF_SEQ)
    meta[1] = _u32(buf, off + _OFF_INDEX)
    meta[2] = _u32(buf, off + _OFF_T_US)
    meta[3] = count
    meta[4] = ch
    meta[5] = flags
    vals = buf[off + _HDR : off + body].view(np.int16)  # little-endian, as the wire
    q = 0
    for r in range(count):
        for c in range(ch):
            dst[r, c] = vals[q]
            q += 1
    return 0


@njit(cache=True)
def track(
    trk: np.ndarray, recent: np.ndarray, seq: int, first_index: int, count: int, obs: np.ndarray
) -> int:
    """Sequence and sample-index accounting, as ``SequenceTracker.observe``.

    ``obs`` receives ``packet, sample, missing_packets, missing_samples``; returns 0 in
    order, 1 after a gap, 2 duplicate, 3 late.
    """
    if trk[T_INIT] == 0:
        trk[T_INIT] = 1.0
        trk[T_NEXT_PACKET] = seq
        trk[T_NEXT_INDEX] = first_index
    expected = np.int64(trk[T_NEXT_PACKET])
    next_index = np.int64(trk[T_NEXT_INDEX])
    delta = (seq - expected) % _SEQ_MOD
    index_delta = (first_index - next_index) % _INDEX_MOD
    if delta >= _SEQ_MOD // 2 and index_delta >= _INDEX_MOD // 2:
        packet = expected - (_SEQ_MOD - delta)
        obs[0] = packet
        obs[1] = next_index - (_INDEX_MOD - index_delta)
        n = int(trk[T_RECENT_N])
        for k in range(n):
            if recent[k] == packet:
                trk[T_DUPLICATES] += 1.0
                return 2
        trk[T_LATE] += 1.0
        return 3
    if index_delta and count:
        wraps = round((index_delta / count - delta) / _SEQ_MOD)
        if wraps > 0:
            delta += wraps * _SEQ_MOD
    packet = expected + delta
    sample = next_index + index_delta
    trk[T_NEXT_PACKET] = packet + 1
    trk[T_NEXT_INDEX] = sample + count
    pos = int(trk[T_RECENT_POS])
    recent[pos] = packet
    trk[T_RECENT_POS] = (pos + 1) % N_RECENT
    if trk[T_RECENT_N] < N_RECENT:
        trk[T_RECENT_N] += 1.0
    trk[T_PACKETS] += 1.0
    trk[T_SAMPLES] += count
    obs[0] = packet
    obs[1] = sample
    obs[2] = delta
    obs[3] = index_delta
    if delta or index_delta:
        trk[T_GAPS] += 1.0
        trk[T_MISSING_PACKETS] += delta
        trk[T_MISSING_SAMPLES] += index_delta
        return 1
    return 0


@njit(cache=True)
def clock_time(clk: np.ndarray, index: float) -> float:
    t: float = clk[C_OFFSET] + index * (clk[C_PERIOD] + clk[C_SLOPE])
    return t


@njit(cache=True)
def _clock_fit(clk: np.ndarray, minima: np.ndarray) -> None:
    n = int(clk[C_N])
    start = (int(clk[C_POS]) - n) % N_MINIMA  # oldest first, as a deque would iterate
    if n < 3:
        lo = math.inf
        for q in range(n):
            r = minima[(start + q) % N_MINIMA, 1]
            if r < lo:
                lo = r
        clk[C_OFFSET] = lo
        clk[C_SLOPE] = 0.0
        return
    sk = 0.0
    sr = 0.0
    for q in range(n):
        sk += minima[(start + q) % N_MINIMA, 0]
        sr += minima[(start + q) % N_MINIMA, 1]
    mx = sk / n
    my = sr / n
    sxx = 0.0
    sxy = 0.0
    for q in range(n):
        k = minima[(start + q) % N_MINIMA, 0]
        sxx += (k - mx) ** 2
    for q in range(n):
        k = minima[(start + q) % N_MINIMA, 0]
        r = minima[(start + q) % N_MINIMA, 1]
        sxy += (k - mx) * (r - my)
    slope = sxy / sxx if sxx > 0 else 0.0
    shift = math.inf
    for q in range(n):
        k = minima[(start + q) % N_MINIMA, 0]
        r = minima[(start + q) % N_MINIMA, 1]
        v = r - (my + slope * (k - mx))
        if v < shift:
            shift = v
    clk[C_SLOPE] = slope
    clk[C_OFFSET] = my - slope * mx + shift


@njit(cache=True)
def clock_update(clk: np.ndarray, minima: np.ndarray, last_index: float, arrival: float) -> None:
    """A packet whose last sample is ``last_index`` arrived at ``arrival`` (host s).

    Counts in ``clk[C_STEPS]`` every ``CLOCK_STEP_S`` by which consecutive packets move the
    map back: what was timed before came from late stamps."""
    before = clock_time(clk, last_index)  # nan before the first packet
    _clock_update(clk, minima, last_index, arrival)
    back = before - clock_time(clk, last_index)
    if back > 0.0:
        clk[C_BACK] += back
        if clk[C_BACK] > CLOCK_STEP_S:
            clk[C_STEPS] += 1.0
            clk[C_BACK] = 0.0
    else:
        clk[C_BACK] = 0.0


@njit(cache=True)
def _clock_update(clk: np.ndarray, minima: np.ndarray, last_index: float, arrival: float) -> None:
    resid = arrival - last_index * clk[C_PERIOD]
    if math.isnan(clk[C_CUR_END]):
        clk[C_CUR_END] = arrival + clk[C_WINDOW]
    if arrival >= clk[C_CUR_END]:
        pos = int(clk[C_POS])
        minima[pos, 0] = clk[C_CUR_IDX]
        minima[pos, 1] = clk[C_CUR_MIN]
        clk[C_POS] = (pos + 1) % N_MINIMA
        if clk[C_N] < N_MINIMA:
            clk[C_N] += 1.0
        clk[C_CUR_MIN] = math.inf
        clk[C_CUR_END] = arrival + clk[C_WINDOW]
        _clock_fit(clk, minima)
    if resid < clk[C_CUR_MIN]:
        clk[C_CUR_MIN] = resid
        clk[C_CUR_IDX] = last_index
    if clk[C_N] == 0:
        clk[C_OFFSET] = clk[C_CUR_MIN]
        clk[C_SLOPE] = 0.0


def compiled_for(dispatcher: Any, args: list[object]) -> Any:
    """The compiled function of ``dispatcher`` for exactly the types of ``args`` (already
    compiled by a call with them), callable without numba's per-call type dispatch; the
    dispatcher itself if numba has no such entry."""
    try:
        sig = tuple(numba.typeof(a) for a in args)  # type: ignore[no-untyped-call]
        return dispatcher.overloads[sig].entry_point
    except (KeyError, AttributeError, ValueError):
        return dispatcher


@njit(cache=True)
def feed_packets(
    buf: np.ndarray,
    offs: np.ndarray,
    lens: np.ndarray,
    arrivals: np.ndarray,
    acc_scale: float,
    gyro_scale: float,
    bridge_max: int,
    p: np.ndarray,
    st: np.ndarray,
    ring_acc: np.ndarray,
    ring_gyr: np.ndarray,
    ring_e: np.ndarray,
    trk: np.ndarray,
    recent: np.ndarray,
    clk: np.ndarray,
    minima: np.ndarray,
    last_row: np.ndarray,
    scratch: np.ndarray,
    bridge: np.ndarray,
    meta: np.ndarray,
    obs: np.ndarray,
    out: np.ndarray,
    status: np.ndarray,
    now: np.ndarray,
    start: int,
) -> tuple[int, int]:
    """Decode, assemble, time and detect notifications ``start..`` of the arrays.

    Per packet ``status`` gets P_OK / P_REPEAT / P_CORRUPT / P_OTHER and ``now`` the session
    time of the last sample processed so far (nan before the first).  Event rows go to
    ``out`` with their session times and packet number.  Returns ``(rows, next packet)``:
    it stops early when ``out`` is nearly full; call again from the packet it returns.
    """
    n_out = 0
    n_pk = offs.shape[0]
    cap = out.shape[0]
    for k in range(start, n_pk):
        if n_out + ROOM > cap:
            return n_out, k
        code = decode_data(buf, offs[k], lens[k], scratch, meta)
        if code != 0:
            if code == 2:
                trk[T_CORRUPT] += 1.0
                status[k] = P_CORRUPT
            else:
                status[k] = P_OTHER
            now[k] = math.nan if trk[T_LAST_INDEX] < 0 else clock_time(clk, trk[T_LAST_INDEX])
            continue
        count = meta[3]
        ch = meta[4]
        kind = track(trk, recent, meta[0], meta[1], count, obs)
        if kind >= 2:
            status[k] = P_REPEAT
            now[k] = math.nan if trk[T_LAST_INDEX] < 0 else clock_time(clk, trk[T_LAST_INDEX])
            continue
        status[k] = P_OK
        sample = obs[1]
        last = sample + count - 1
        clock_update(clk, minima, float(last), arrivals[k])
        first_new = n_out
        missing = sample - (np.int64(trk[T_LAST_INDEX]) + 1)
        if trk[T_HAS_ROW] > 0 and 0 < missing <= bridge_max and trk[T_ROW_CH] == ch:
            for q in range(missing):
                frac = (q + 1) / (missing + 1)
                for c in range(ch):
                    v = last_row[c] + frac * (scratch[0, c] - last_row[c])
                    bridge[q, c] = np.int16(np.rint(v))
            m, _ = K.process(
                bridge[:missing, :ch],
                acc_scale,
                gyro_scale,
                int(trk[T_LAST_INDEX]) + 1,
                p,
                st,
                ring_acc,
                ring_gyr,
                ring_e,
                out[n_out:],
            )
            n_out += m
            trk[T_BRIDGED] += missing
        m, _ = K.process(
            scratch[:count, :ch],
            acc_scale,
            gyro_scale,
            sample,
            p,
            st,
            ring_acc,
            ring_gyr,
            ring_e,
            out[n_out:],
        )
        n_out += m
        for c in range(ch):
            last_row[c] = scratch[count - 1, c]
        trk[T_HAS_ROW] = 1.0
        trk[T_ROW_CH] = ch
        trk[T_LAST_INDEX] = last
        for r in range(first_new, n_out):
            out[r, O_T] = clock_time(clk, out[r, 1])
            out[r, O_T_REF] = clock_time(clk, out[r, 2])
            out[r, O_CLOCK_STEPS] = clk[C_STEPS]
            out[r, O_PACKET] = k
        now[k] = clock_time(clk, float(last))
    return n_out, n_pk
