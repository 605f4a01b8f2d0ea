"""Buffers for the codecs' fuzz tests: valid messages with a few random edits."""

from __future__ import annotations

import numpy as np


def mutated(rng: np.random.Generator, seeds: list[bytes], edits: int, append_max: int) -> bytearray:
    """A random seed with 1 to ``edits`` - 1 edits: a byte changed, the tail cut, or up to
    ``append_max`` - 1 random bytes appended."""
    b = bytearray(seeds[int(rng.integers(0, len(seeds)))])
    for _ in range(int(rng.integers(1, edits))):
        op = int(rng.integers(0, 3))
        if op == 0 and b:
            b[int(rng.integers(0, len(b)))] = int(rng.integers(0, 256))
        elif op == 1 and b:
            del b[int(rng.integers(0, len(b))) :]
        else:
            b += rng.integers(0, 256, int(rng.integers(1, append_max)), dtype=np.uint8).tobytes()
    return b
