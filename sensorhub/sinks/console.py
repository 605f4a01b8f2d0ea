"""The live console view: every step with cadence, contact, impact and foot strike."""

from __future__ import annotations

import asyncio
from typing import Any

from rich.console import Console

from sensorhub.events import Activity, AnyEvent, Asymmetry, Cadence, Cue, Step, Summary
from sensorhub.pipeline.runner import STOP


class ConsoleSink:
    """Prints what a runner or coach wants to see, one line per step."""

    wants_raw = False

    def __init__(self, console: Console | None = None) -> None:
        self.name = "console"
        self.console = console or Console(highlight=False, soft_wrap=True)
        self.cadence = 0.0

    def show(self, ev: AnyEvent) -> None:
        if isinstance(ev, Cadence):
            self.cadence = ev.cadence_spm
        elif isinstance(ev, Step):
            strike = (
                f"{ev.strike:<9}{ev.strike_angle_deg:+5.1f} deg"
                if ev.strike and ev.strike_angle_deg is not None
                else ""
            )
            contact = f"{ev.contact_ms:4.0f} ms" if ev.contact_ms else "   -   "
            impact = f"{ev.impact_g:5.1f} g" if ev.impact_g else "   -   "
            cad = f"{self.cadence:5.1f} spm" if self.cadence else "    -    "
            self.console.print(
                f"{ev.t:8.3f} s  {ev.side:>5} step  cadence {cad}  "
                f"contact {contact}  impact {impact}  {strike}"
            )
        elif isinstance(ev, Cue) and ev.cue == "metronome":
            state = (
                f"on at {ev.target_spm:.1f} steps/min, gain {ev.gain:.2f}" if ev.playing else "off"
            )
            self.console.print(f"[magenta]{ev.t:8.3f} s  metronome {state}[/]")
        elif isinstance(ev, Cue) and ev.cue == "impact":
            self.console.print(
                f"[magenta]{ev.t:8.3f} s  impact tone {ev.pitch_hz:.0f} Hz ({ev.peak_g:.1f} g)[/]"
            )
        elif isinstance(ev, Summary):
            strike = ", ".join(f"{k} {v:.0f} %" for k, v in ev.strike_pct.items()) or "-"
            self.console.print(
                f"[bold]summary: {ev.steps} steps, {ev.running_s / 60:.1f} min running, "
                f"cadence {ev.cadence_spm or 0:.1f} steps/min, contact {ev.contact_ms or 0:.0f} "
                f"ms, impact {ev.impact_g or 0:.1f} g (p90 {ev.impact_p90_g or 0:.1f}), "
                f"strike {strike}[/]"
            )
        elif isinstance(ev, Activity):
            self.console.print(f"[bold]{ev.t:8.3f} s  {ev.state}[/]")
        elif isinstance(ev, Asymmetry) and ev.contact_si_pct is not None:
            self.console.print(
                f"[cyan]{ev.t:8.3f} s  left/right: contact {ev.contact_si_pct:+.1f} %, "
                f"impact {ev.impact_si_pct or 0:+.1f} %, step time "
                f"{ev.step_time_si_pct or 0:+.1f} % (+: right higher)[/]"
            )

    async def run(self, queue: asyncio.Queue[Any]) -> None:
        closed = False
        while (item := await queue.get()) is not STOP:
            if closed:
                continue
            try:
                self.show(item)
            except (BrokenPipeError, SystemExit):  # rich exits on a closed pipe (| head)
                closed = True  # stop printing; the run and the other sinks go on
