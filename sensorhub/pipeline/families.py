"""Each vendor family's stream decoder, built from a sensor entry's ``settings`` (what its
driver configured, recorded with the session), behind the one ``FamilyStream`` shape."""

from __future__ import annotations

from typing import Any

from sensorhub.pipeline.vendor import FamilyStream, register
from sensorhub.protocol import polar
from sensorhub.protocol.codec import DeviceInfo
from sensorhub.protocol.vendor import SampleBlock


class _Polar:
    """PMD ACC (+ GYRO) frames.  A Polar sensor stops its streams at a disconnect and
    the host starts them again: the frame timestamps carry on, so the stream carries on
    and counts what the outage cost.  About one frame a second: the clock map's windows
    are 30 s, so each still holds about 30 arrivals to take the earliest of."""

    clock_window_s = 30.0
    batching = True

    def __init__(self, settings: dict[str, Any], info: DeviceInfo) -> None:
        gyro = bool(settings.get("gyro", True))
        self.stream = polar.PolarStream(
            float(settings["rate_hz"]),
            acc_factor=float(settings["acc_factor"]),
            gyro_factor=float(settings["gyro_factor"]) if gyro else None,
            gyro=gyro,
            acc_frame_type=int(settings.get("acc_frame_type", 0x80)),
            gyro_frame_type=int(settings.get("gyro_frame_type", 0x80)),
            acc_range_g=info.acc_range_g,
            gyro_range_dps=info.gyro_range_dps if gyro else None,
        )

    @property
    def samples_lost(self) -> int:
        return int(self.stream.samples_lost)

    def feed(self, t: float, data: bytes) -> list[SampleBlock]:
        blocks: list[SampleBlock] = self.stream.feed(data)
        return blocks

    def restart(self, t: float) -> None:
        pass


register("polar", _Polar)


class _Movesense:
    """GSP DATA messages (``protocol.movesense``), joined from DATA + DATA_PART2/PART3.
    The sensor drops its subscription at a disconnect and the host subscribes again:
    held parts are forgotten, the device timestamps carry on and count what the outage
    cost.  Several notifications a second: the clock map's windows can be short."""

    clock_window_s = 5.0
    batching = False

    def __init__(self, settings: dict[str, Any], info: DeviceInfo) -> None:
        from sensorhub.protocol import movesense  # (here: this module is only appended to)

        resource = movesense.resource_of(str(settings["path"]))
        max_notification = settings.get("max_notification")
        self.stream = movesense.MovesenseStream(
            float(settings["rate_hz"]),
            kind=resource.kind,
            ref=int(settings["ref"]),
            max_notification=int(max_notification) if max_notification else None,
            acc_scale_g=info.acc_scale_g,
            gyro_scale_dps=info.gyro_scale_dps,
        )

    @property
    def samples_lost(self) -> int:
        return int(self.stream.samples_lost)

    def feed(self, t: float, data: bytes) -> list[SampleBlock]:
        return self.stream.feed(data)

    def restart(self, t: float) -> None:
        self.stream.restart()


register("movesense", _Movesense)


def _metawear(settings: dict[str, Any], info: DeviceInfo) -> FamilyStream:
    """Packed accelerometer and gyro notifications (``protocol.metawear``): no counter, no
    timestamps.  After a disconnect the host starts the streams again and the counts start
    at 0: ``MetaWearStream.restart`` places them from the arrival times.  A notification
    every few ms: its own ``clock_window_s`` (5 s)."""
    from sensorhub.protocol import metawear  # (here: this module is only appended to)

    gyro = settings.get("gyro_range_dps")
    return metawear.MetaWearStream(
        metawear.Imu(str(settings["imu"])),
        float(settings["rate_hz"]),
        int(settings["acc_range_g"]),
        None if gyro is None else int(gyro),
    )


register("metawear", _metawear)
