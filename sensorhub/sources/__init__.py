"""Where notifications come from: the simulator, a recording, BLE sensors.

Every source is a :class:`sensorhub.pipeline.runner.Source`: ``sensors`` (their session
entries, known after ``open()``), ``notifications()`` (an async iterator of
``(host_time_s, sensor_index, bytes)``, the source's own events and ``None`` while quiet),
``progress()`` and ``report()``.  :class:`SourceBase` gives the parts a source has
nothing to say about.
"""

from __future__ import annotations

from sensorhub.recording import SensorEntry


class SourceBase:
    """Defaults of the source interface: nothing to open or close, no progress, no report."""

    sensors: list[SensorEntry]

    async def open(self) -> None:
        """Connect (BLE); the sensors are known after this."""

    async def close(self) -> None:
        """Release what ``open`` took."""

    def progress(self) -> tuple[str, float, float | None] | None:
        """(label, seconds done, seconds in all) of a faster-than-real-time source."""
        return None

    def report(self) -> str:
        """One line on the source for the end of a run ("" for nothing to say)."""
        return ""
