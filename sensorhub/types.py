"""Small value types shared by every layer (no I/O, no heavy imports)."""

from __future__ import annotations

import enum
from typing import Literal, TypeAlias


class Mounting(enum.IntEnum):
    """Where the sensor is worn."""

    UNKNOWN = 0
    SHOE = 1  # on the laces or the heel counter of the shoe
    SHIN = 2  # distal tibia, just above the ankle

    @property
    def label(self) -> str:
        return self.name.lower()


class Side(enum.IntEnum):
    """Which leg."""

    UNKNOWN = 0
    LEFT = 1
    RIGHT = 2

    @property
    def label(self) -> str:
        return self.name.lower()


class StrikeClass(enum.IntEnum):
    """Foot-strike pattern, from the foot angle at initial contact."""

    REARFOOT = 1
    MIDFOOT = 2
    FOREFOOT = 3

    @property
    def label(self) -> StrikeLabel:
        return _STRIKE_LABELS[self]


#: The strike class as events and reports name it.
StrikeLabel: TypeAlias = Literal["rearfoot", "midfoot", "forefoot"]
_STRIKE_LABELS: dict[StrikeClass, StrikeLabel] = {
    StrikeClass.REARFOOT: "rearfoot",
    StrikeClass.MIDFOOT: "midfoot",
    StrikeClass.FOREFOOT: "forefoot",
}

#: Foot angle at contact (degrees, toes up positive, relative to the foot flat on the
#: ground) separating the classes.  Rearfoot strikers land with the toes up (about
#: +10 to +20 degrees), forefoot strikers with the toes down (about -5 to -10 degrees);
#: see Altman & Davis (2012), "A kinematic method for footstrike pattern detection in
#: barefoot and shod runners", Gait & Posture 35(2):298-300, who put the boundaries at
#: 8.0 and -1.6 degrees for the foot-strike angle.
STRIKE_REARFOOT_MIN_DEG = 8.0
STRIKE_FOREFOOT_MAX_DEG = -1.6


def classify_strike(angle_deg: float) -> StrikeClass:
    """Strike class for a foot angle at initial contact (degrees, toes up positive)."""
    if angle_deg > STRIKE_REARFOOT_MIN_DEG:
        return StrikeClass.REARFOOT
    if angle_deg < STRIKE_FOREFOOT_MAX_DEG:
        return StrikeClass.FOREFOOT
    return StrikeClass.MIDFOOT
