"""Signal core: numba kernels (``_kernels``, ``_stream``; records in ``_layout``) and the thin
classes around them.

numba's on-disk cache checks only the source file of the function it caches: a compiled
``_stream.feed_packets`` keeps the ``_kernels.process`` it was compiled with after
``_kernels.py`` changes (an upgrade, an edit).  So the cache files of this package are
dropped whenever any kernel source differs from the one they were built from.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

_SOURCES = ("_layout.py", "_kernels.py", "_stream.py")


def _cache_dirs(here: Path) -> list[Path]:
    dirs = [here / "__pycache__"]
    custom = os.environ.get("NUMBA_CACHE_DIR")
    if custom:
        dirs += [d for d in Path(custom).rglob("dsp") if d.is_dir()]
    return dirs


def _drop_stale_cache() -> None:
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256(b"".join((here / f).read_bytes() for f in _SOURCES)).hexdigest()
    for d in _cache_dirs(here):
        stamp = d / "kernel-sources.sha256"
        try:
            if stamp.read_text() == digest:
                continue
        except OSError:
            pass
        try:
            for f in d.glob("_*.nb[ic]"):
                f.unlink()
            d.mkdir(parents=True, exist_ok=True)
            stamp.write_text(digest)
        except OSError:  # a read-only install: numba then caches elsewhere or not at all
            pass


_drop_stale_cache()
