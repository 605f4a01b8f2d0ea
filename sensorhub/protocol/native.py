"""Vendor samples as sensorhub data packets: one path through the signal core.

:class:`Packer` cuts the :class:`~sensorhub.protocol.vendor.SampleBlock` values a family
stream produces into data packets of this protocol (at most ``spec.MAX_SAMPLES_IMU``
samples each), numbered consecutively, with the block's sample index (so the signal
core sees a vendor sensor's losses exactly where they were) and the device time of each
packet's first sample.  Deterministic: the same blocks give the same bytes.
"""

from __future__ import annotations

from sensorhub.protocol import codec, spec
from sensorhub.protocol.vendor import SampleBlock


class Packer:
    """Sample blocks of one sensor -> sensorhub data packets.

    Parameters
    ----------
    odr_hz
        The stream's nominal rate: the device time of a packet that starts inside a block
        is the block's time plus its offset at this rate.
    """

    def __init__(self, odr_hz: float) -> None:
        self.period_us = 1e6 / odr_hz
        self.seq = 0

    def pack(self, block: SampleBlock) -> list[bytes]:
        samples = block.samples
        three = samples.shape[1] == spec.SAMPLE_CHANNELS_ACC
        limit = spec.MAX_SAMPLES_ACC if three else spec.MAX_SAMPLES_IMU
        flags = (spec.FLAG_NO_GYRO if three else 0) | (spec.FLAG_CLIPPED if block.clipped else 0)
        out = []
        for start in range(0, block.count, limit):
            out.append(
                codec.encode_data(
                    self.seq,
                    block.first_index + start,
                    block.device_t_us + round(start * self.period_us),
                    samples[start : start + limit],
                    flags,
                )
            )
            self.seq += 1
        return out
