"""Creating the files a run writes: new ones only, readable by their owner only.

Recordings, event logs and cue audio are a runner's health data: they are created with
mode 0600 (``PRIVATE_MODE``), never over an existing file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from sensorhub.errors import SensorhubError

PRIVATE_MODE = 0o600


def open_new(path: Path) -> BinaryIO:
    """Create ``path`` for writing (mode 0600); never overwrite (one clear error)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    except FileExistsError:
        raise SensorhubError(f"{path} already exists", "choose a new name") from None
    except OSError as exc:
        raise SensorhubError(f"cannot create {path}: {exc.strerror}") from None
    return os.fdopen(fd, "wb")
