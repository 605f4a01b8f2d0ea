"""The one exception family of sensorhub.

Every error a user can cause is a :class:`SensorhubError`; its message says what was
wrong and its ``advice`` says what to do.  The command line prints both on one line and
exits non-zero, never with a traceback.
"""

from __future__ import annotations

#: Exit statuses of the command line.
EXIT_SINK_FAILED = 1  # the run went to its end, but a sink failed on the way (named above)
EXIT_USAGE = 2  # a user mistake, said in one line
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM: stopped cleanly, as shells expect


class SensorhubError(Exception):
    """Base of every sensorhub error.

    Parameters
    ----------
    message
        What went wrong, in the user's terms.
    advice
        What to do about it (optional); appended to ``str(err)``.
    """

    def __init__(self, message: str, advice: str = "") -> None:
        self.message = message
        self.advice = advice
        super().__init__(f"{message}; {advice}" if advice else message)


class IncompletePacket(SensorhubError):
    """The buffer ends before the packet does: wait for more bytes.

    ``needed`` is the smallest total length (from the start of the buffer) that could
    hold the packet, as far as the bytes seen so far tell.
    """

    def __init__(self, needed: int, have: int) -> None:
        self.needed = needed
        self.have = have
        super().__init__(f"incomplete packet: have {have} bytes, need at least {needed}")


class ProtocolError(SensorhubError):
    """Malformed bytes: ``offset`` is the byte at fault, ``reason`` says why."""

    def __init__(self, offset: int, reason: str) -> None:
        self.offset = offset
        self.reason = reason
        super().__init__(f"protocol error at byte {offset}: {reason}")


class UnsupportedVersion(ProtocolError):
    """The sensor speaks a protocol version this hub does not."""

    def __init__(self, offset: int, version: int, supported: int) -> None:
        self.version = version
        self.supported = supported
        super().__init__(
            offset,
            f"protocol version {version} is not supported (this sensorhub speaks "
            f"version {supported}); update sensorhub or the sensor firmware",
        )


class RecordingError(SensorhubError):
    """A session file cannot be read or written."""


class ImportFailed(SensorhubError):
    """An external recording (CSV) cannot be imported as given."""


class ConfigError(SensorhubError):
    """The configuration (TOML file or command-line option) is invalid."""


class AudioUnavailable(SensorhubError):
    """No sound output here (no PortAudio library, no output device, device busy)."""


class BleError(SensorhubError):
    """A Bluetooth problem the user can act on."""


class SensorNotFound(BleError):
    """No sensor of that name or address was seen in the scan."""


class CommandRejected(BleError):
    """The sensor answered a command with an error."""


class LibraryError(SensorhubError):
    """The session library cannot do what was asked (busy, newer schema, unknown session)."""
