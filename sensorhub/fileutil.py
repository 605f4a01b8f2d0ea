"""Creating the files a run writes: new ones only, readable by their owner only.

Recordings, event logs and cue audio are a runner's health data: they are created with
mode 0600 (``PRIVATE_MODE``), never over an existing file.
"""

from __future__ import annotations

import contextlib
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


def write_file(path: Path, payload: bytes, force: bool = False) -> None:
    """Write ``payload`` as a new file (mode 0600); with ``force`` an existing one is
    replaced whole (a new file beside it, renamed over it).  A write that fails (a full
    disk) leaves no partial file; every failure is one SensorhubError."""
    target = path.with_name(f".{path.name}.{os.getpid()}.tmp") if force else path
    try:
        with open_new(target) as fh:
            fh.write(payload)
        if force:
            os.replace(target, path)
    except SensorhubError as exc:
        if not force and path.exists():
            raise SensorhubError(
                f"{path} already exists",
                "name another with --out FILE, or add --force to replace it",
            ) from None
        raise exc from None
    except OSError as exc:
        with contextlib.suppress(OSError):
            target.unlink()
        raise SensorhubError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if force:
            with contextlib.suppress(OSError):
                target.unlink()
