"""Seeded link and firmware faults, and the log of what was injected."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FaultConfig:
    """Which faults to inject (all off by default).

    Attributes
    ----------
    drop
        Probability that a data notification is lost on its own.
    burst, burst_max
        Probability that a burst of 2..``burst_max`` consecutive notifications is lost.
    duplicate
        Probability that a data notification is delivered twice.
    corrupt
        Probability that 1-3 bytes of a data notification are changed in flight.
    link_drops
        ``(at_s, duration_s)``: the link is down; everything sent meanwhile is lost
        (the sensor keeps sampling, so the sample index shows the gap exactly).
    clock_jumps
        ``(at_s, jump_ms)``: the device clock steps by ``jump_ms`` without notice.
    """

    drop: float = 0.0
    burst: float = 0.0
    burst_max: int = 10
    duplicate: float = 0.0
    corrupt: float = 0.0
    link_drops: tuple[tuple[float, float], ...] = ()
    clock_jumps: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        for name in ("drop", "burst", "duplicate", "corrupt"):
            p = getattr(self, name)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"fault {name} is a probability in [0, 1], not {p}")
        if self.burst_max < 2:
            raise ValueError("burst-max must be at least 2")
        for at, dur in self.link_drops:
            if at < 0 or dur <= 0:
                raise ValueError("link-drop takes AT:DURATION seconds, both positive")

    @property
    def any(self) -> bool:
        return bool(
            self.drop
            or self.burst
            or self.duplicate
            or self.corrupt
            or self.link_drops
            or self.clock_jumps
        )

    def link_down(self, t: float) -> bool:
        return any(at <= t < at + dur for at, dur in self.link_drops)


_KEYS = {
    "drop": "drop",
    "burst": "burst",
    "burst-max": "burst_max",
    "dup": "duplicate",
    "duplicate": "duplicate",
    "corrupt": "corrupt",
}
FAULT_SYNTAX = (
    "comma-separated KEY=VALUE: drop=P, burst=P, burst-max=N, dup=P, corrupt=P "
    "(P a probability per notification), link-drop=AT:SECONDS, clock-jump=AT:MS "
    "(repeatable); e.g. drop=0.01,dup=0.002,link-drop=30:5"
)


def parse_faults(text: str) -> FaultConfig:
    """Parse the ``--faults`` syntax (see FAULT_SYNTAX); raises ValueError with advice."""
    values: dict[str, float | int] = {}
    links: list[tuple[float, float]] = []
    jumps: list[tuple[float, float]] = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        key = key.strip().lower()
        if not sep:
            raise ValueError(f"fault {item!r} has no '='; use {FAULT_SYNTAX}")
        try:
            if key in ("link-drop", "clock-jump"):
                at, colon, amount = value.partition(":")
                if not colon:
                    raise ValueError
                pair = (float(at), float(amount))
                (links if key == "link-drop" else jumps).append(pair)
            elif key == "burst-max":
                values["burst_max"] = int(value)
            elif key in _KEYS:
                values[_KEYS[key]] = float(value)
            else:
                raise KeyError(key)
        except KeyError:
            raise ValueError(f"unknown fault {key!r}; use {FAULT_SYNTAX}") from None
        except ValueError:
            raise ValueError(f"bad value in fault {item!r}; use {FAULT_SYNTAX}") from None
    return FaultConfig(
        link_drops=tuple(links),
        clock_jumps=tuple(jumps),
        **values,  # type: ignore[arg-type]
    )


@dataclass
class FaultLog:
    """What was injected, by absolute packet number (sequence numbers before wrapping)."""

    dropped: list[int] = field(default_factory=list)
    link_lost: list[int] = field(default_factory=list)
    duplicated: list[int] = field(default_factory=list)
    corrupted: list[int] = field(default_factory=list)
    link_lost_samples: int = 0

    @property
    def missing(self) -> set[int]:
        """Packets the host never decodes: lost on the way or corrupted."""
        return set(self.dropped) | set(self.link_lost) | set(self.corrupted)
