"""A simulated running speed and cadence footpod (BLE RSC, 0x1814), as a Stryd, Polar
Stride or Zwift RunPod serves it: one RSC Measurement a second with the runner's speed,
cadence, stride length and total distance, and the walking/running bit.

Its cadence byte counts strides (one foot), as the RunPod's does, so the host's
doubling rule is exercised; ``steps=True`` makes it count steps.  The values come from
the simulated runner's schedule (what the pod's own algorithm would report, rounded to
the field units), so they are the truth a test compares with.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from firmware_sim.bluez import Characteristic, FakeDevice, Service
from firmware_sim.run import SimulatedRun
from firmware_sim.twins import BATTERY_LEVEL, BATTERY_SERVICE, DEVICE_INFO_SERVICE, MODEL_NUMBER
from sensorhub.protocol import rsc

INTERVAL_S = 1.0
#: the pod's cadence: steps over this much of the latest past
WINDOW_S = 4.0


class PodTwin:
    family = "rsc"
    commands: tuple[str, ...] = ()
    mtu = 23

    def __init__(self, run: SimulatedRun, clock: Callable[[], float], steps: bool = False):
        self.run = run
        self.clock = clock
        self.steps = steps
        self.dev: FakeDevice | None = None
        self.address = "C4:F0:0D:00:00:01"
        self.next_t = INTERVAL_S
        self.distance_m = 0.0
        self._last_t = 0.0
        self.sent: list[tuple[float, rsc.RscMeasurement]] = []  # truth: what went out

    @property
    def name(self) -> str:
        return "RunPod 0001"

    def advertised_uuids(self) -> list[str]:
        return [rsc.SERVICE_UUID]

    def manufacturer_data(self) -> dict[int, bytes]:
        return {}

    def services(self) -> list[Service]:
        feature = rsc.RscFeature(stride_length=True, total_distance=True, walking_running=True)
        return [
            Service(
                rsc.SERVICE_UUID,
                [
                    Characteristic(rsc.MEASUREMENT_UUID, ["notify"]),
                    Characteristic(rsc.FEATURE_UUID, ["read"], value=rsc.encode_feature(feature)),
                    Characteristic(
                        rsc.LOCATION_UUID,
                        ["read"],
                        value=rsc.encode_location(rsc.Location.TOP_OF_SHOE),
                    ),
                ],
            ),
            Service(BATTERY_SERVICE, [Characteristic(BATTERY_LEVEL, ["read"], value=bytes([80]))]),
            Service(DEVICE_INFO_SERVICE, [Characteristic(MODEL_NUMBER, ["read"], value=b"RunPod")]),
        ]

    def on_connect(self) -> None:
        pass

    def on_disconnect(self, by_host: bool) -> None:
        pass

    def measurement(self, t: float) -> rsc.RscMeasurement:
        """What the pod reports at ``t``: cadence over the last WINDOW_S, speed of the
        latest step, distance integrated."""
        sch = self.run.schedule
        ic = sch.ic
        recent = np.nonzero((ic > t - WINDOW_S) & (ic <= t))[0]
        moving = len(recent) >= 3 and t - ic[recent[-1]] < 1.0
        if moving:
            spm = 60.0 * (len(recent) - 1) / (ic[recent[-1]] - ic[recent[0]])
            speed = float(sch.speed_mps[recent[-1]])
            running = bool(sch.running[recent[-1]])
        else:
            spm, speed, running = 0.0, 0.0, False
        self.distance_m += speed * (t - self._last_t)
        self._last_t = t
        cadence = round(spm if self.steps else spm / 2)
        stride = 2 * speed * 60 / spm if spm else 0.0  # one foot's stride
        return rsc.RscMeasurement(
            speed_m_s=round(speed * 256) / 256,
            cadence_raw=int(cadence),
            stride_m=round(stride, 2),
            distance_m=round(self.distance_m, 1),
            running=running,
        )

    def tick(self, now: float) -> None:
        while now >= self.next_t:
            m = self.measurement(self.next_t)
            if self.dev is not None and self.dev.notify(
                rsc.MEASUREMENT_UUID, rsc.encode_measurement(m)
            ):
                self.sent.append((self.next_t, m))
            self.next_t += INTERVAL_S


TWIN = PodTwin
