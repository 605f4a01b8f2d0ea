"""What every vendor sensor family hands the signal core: blocks of samples with their
exact place in the stream.

Each family module (``polar``, ``movesense``, ``metawear``) has a sans-IO codec
(``decode(view) -> (message, nbytes)``) and a stateful, sans-IO *stream*
(``PolarStream``, ``MovesenseStream``, ``MetaWearStream``) that turns the notifications
of one sensor into :class:`SampleBlock` values: int16 counts in the sensor's own LSB
(``acc_scale_g``, ``gyro_scale_dps``), the index of the first sample counted from the
start of streaming (so a gap in the index is an exact count of samples lost: from the
device timestamps for PMD and GSP, from the sample count for MetaWear), and the device
time of the first sample.  ``sensorhub.protocol.native`` packs blocks into sensorhub
data packets, so every family takes the same path through the signal core; the raw
vendor bytes are what a recording keeps, so replay decodes them again, identically.

A notification is one GATT value, delivered whole by the BLE stack; PMD and GSP data
frames carry no length and end with the value, so ``decode`` uses the whole view.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

#: The sensor families sensorhub speaks; "sensorhub" is its own firmware profile.
Family: TypeAlias = Literal["sensorhub", "polar", "movesense", "metawear", "rsc"]
FAMILIES: tuple[Family, ...] = ("sensorhub", "polar", "movesense", "metawear", "rsc")


@dataclass(frozen=True, slots=True)
class SampleBlock:
    """Consecutive samples of one sensor.

    Attributes
    ----------
    first_index
        Index of the first sample since streaming began (0, 1, 2, ... never wrapping);
        samples between the previous block's end and this index were lost.
    device_t_us
        Device time of the first sample, microseconds (the family's own clock, unwrapped;
        MetaWear has none in its stream: the time is ``first_index`` x the nominal period).
    samples
        ``(n, 6)`` int16 ``(ax, ay, az, gx, gy, gz)`` or ``(n, 3)`` accelerometer-only,
        in the LSB of the stream's ``acc_scale_g`` / ``gyro_scale_dps``.
    clipped
        At least one value of the block hit the full scale of its range.
    """

    first_index: int
    device_t_us: int
    samples: npt.NDArray[np.int16]
    clipped: bool = False

    @property
    def count(self) -> int:
        return int(self.samples.shape[0])

    @property
    def end_index(self) -> int:
        return self.first_index + self.count


def quantise(values: npt.NDArray[np.floating], scale: float) -> tuple[npt.NDArray[np.int16], bool]:
    """Physical values -> int16 counts of ``scale`` units per LSB, rounded, saturated;
    and whether any value was at or beyond full scale."""
    counts = np.rint(np.asarray(values, dtype=np.float64) / scale)
    clipped = bool(np.any(np.abs(counts) >= 32767))
    return np.clip(counts, -32768, 32767).astype(np.int16), clipped
