"""The console: a live table on a terminal, one line per step when piped or logged.

On a terminal (``rich.live``) the view keeps one row per sensor with the means of its
last ten steps (cadence, contact and flight time, impact, loading rate, foot strike),
the runner's state and cadence against the cue target above, and the left/right
symmetry below; activity changes, cue changes and the session summary are printed above
the table as they happen.  Anywhere else (a pipe, a log file, a test) it prints a line
per step, as before.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from sensorhub.events import (
    Activity,
    AnyEvent,
    Asymmetry,
    Cadence,
    Cue,
    Link,
    Pace,
    Step,
    Summary,
)
from sensorhub.pipeline.runner import STOP

#: steps each row averages over
WINDOW = 10
#: a symmetry index beyond this many percent is highlighted (a common clinical flag)
SI_FLAG_PCT = 10.0


def _mean(values: deque[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _fmt(value: float | None, spec: str, unit: str = "") -> str:
    """A measured value (with its unit), or "-" when nothing was measured (never a 0)."""
    return "-" if value is None else format(value, spec) + unit


@dataclass
class SensorRow:
    side: str
    steps: int = 0
    cadence: float | None = None
    contact: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    flight: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    impact: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    loading: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    angle: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    strike: deque[str] = field(default_factory=lambda: deque(maxlen=WINDOW))
    battery: int | None = None
    link: str = ""  # "": connected (or not a BLE sensor)


#: (label, seconds done, seconds in all or None): a replay's progress
Progress = Callable[[], "tuple[str, float, float | None] | None"]


class Dashboard:
    """What the live table shows, updated from the events (no I/O).

    ``update`` runs in the event loop and ``render`` in rich's refresh thread: a lock
    keeps them apart."""

    def __init__(self, progress: Progress | None = None) -> None:
        self.progress = progress
        self.lock = threading.Lock()
        self.rows: dict[str, SensorRow] = {}
        self.t = 0.0
        self.state = "-"
        self.cadence: float | None = None
        self.target: float | None = None
        self.metronome = "off"
        self.asymmetry: Asymmetry | None = None
        self.pace: Pace | None = None  # a footpod's latest reading

    def update(self, ev: AnyEvent) -> None:
        with self.lock:
            self._update(ev)

    def render(self) -> Group:
        with self.lock:
            return self._render()

    def _update(self, ev: AnyEvent) -> None:
        self.t = max(self.t, ev.t)
        if isinstance(ev, Step):
            row = self.rows.setdefault(ev.sensor, SensorRow(ev.side))
            row.steps += 1
            for values, v in (
                (row.contact, ev.contact_ms),
                (row.flight, ev.flight_ms),
                (row.impact, ev.impact_g),
                (row.loading, ev.loading_rate_g_per_s),
                (row.angle, ev.strike_angle_deg),
            ):
                if v is not None:
                    values.append(v)
            if ev.strike:
                row.strike.append(ev.strike)
        elif isinstance(ev, Cadence):
            self.rows.setdefault(ev.sensor, SensorRow(ev.side)).cadence = ev.cadence_spm
            self.cadence = ev.cadence_spm
        elif isinstance(ev, Activity):
            self.state = ev.state
            if ev.state == "standing":  # no cadence while standing still
                self.cadence = None
                for row in self.rows.values():
                    row.cadence = None
        elif isinstance(ev, Cue) and ev.cue == "metronome":
            self.target = ev.target_spm
            self.metronome = f"on, gain {ev.gain:.2f}" if ev.playing else "off"
        elif isinstance(ev, Asymmetry):
            self.asymmetry = ev
        elif isinstance(ev, Pace):
            self.pace = ev
        elif isinstance(ev, Link):
            row = self.rows.setdefault(ev.sensor, SensorRow(ev.side))
            if ev.battery_pct is not None:
                row.battery = ev.battery_pct
            if ev.state in ("connected", "reconnected"):
                row.link = ""
            elif ev.state != "battery":
                row.link = ev.state

    def _render(self) -> Group:
        minutes, seconds = divmod(int(self.t), 60)
        head = Text.assemble(
            (f"{minutes:02d}:{seconds:02d}  ", "bold"),
            (self.state, "bold green" if self.state == "running" else "bold"),
            f"   cadence {_fmt(self.cadence, '.1f')} steps/min",
            f"   target {_fmt(self.target, '.1f')}   metronome {self.metronome}",
        )
        table = Table(expand=False, pad_edge=False, box=None, header_style="bold")
        for name, justify in (
            ("sensor", "left"),
            ("steps", "right"),
            ("cadence", "right"),
            ("contact ms", "right"),
            ("flight ms", "right"),
            ("impact g", "right"),
            ("load g/s", "right"),
            ("strike", "left"),
            ("battery", "right"),
        ):
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for name, row in sorted(self.rows.items(), key=lambda kv: kv[1].side):
            strike = Counter(row.strike).most_common(1)
            angle = _mean(row.angle)
            table.add_row(
                f"{row.side} ({name})" + (f" [bold red]{row.link}[/]" if row.link else ""),
                str(row.steps),
                _fmt(row.cadence, ".1f"),
                _fmt(_mean(row.contact), ".0f"),
                _fmt(_mean(row.flight), ".0f"),
                _fmt(_mean(row.impact), ".1f"),
                _fmt(_mean(row.loading), ".0f"),
                (strike[0][0] if strike else "-")
                + (f" {angle:+.1f} deg" if angle is not None else ""),
                f"{row.battery} %" if row.battery is not None else "-",
            )
        parts: list[Any] = [head, table]
        pace = self.pace
        if pace is not None:
            per_km = pace.pace_s_per_km
            parts.append(
                Text(
                    f"footpod ({pace.sensor}): cadence {pace.cadence_spm:.0f} steps/min, "
                    f"{pace.speed_m_s:.2f} m/s"
                    + (f" ({int(per_km // 60)}:{int(per_km % 60):02d} /km)" if per_km else "")
                    + (f", {pace.distance_m:.0f} m" if pace.distance_m is not None else "")
                )
            )
        a = self.asymmetry
        if a is not None and a.contact_si_pct is not None:
            line = Text("left/right (+: right higher):")
            for label, v in (
                ("contact", a.contact_si_pct),
                ("impact", a.impact_si_pct),
                ("step time", a.step_time_si_pct),
            ):
                flag = v is not None and abs(v) > SI_FLAG_PCT
                line.append(f"  {label} {_fmt(v, '+.1f')} %", "bold yellow" if flag else "")
            parts.append(line)
        progress = self.progress() if self.progress is not None else None
        if progress is not None:
            label, done, total = progress
            of = f" of {total:.0f}" if total else ""
            parts.append(Text(f"{label}: {done:.0f}{of} s"))
            if total:
                parts.append(ProgressBar(total=total, completed=min(done, total), width=60))
        return Group(*parts)


def describe_link(ev: Link) -> str | None:
    who = f"{ev.t:8.3f} s  {ev.sensor} ({ev.side})"
    if ev.state == "connected":
        sync = f", clock synced to {ev.clock_rtt_ms:.1f} ms" if ev.clock_rtt_ms else ""
        return f"[green]{who} connected, {ev.rssi_dbm} dBm{sync}[/]"
    if ev.state == "disconnected":
        return f"[bold red]{who} disconnected ({ev.reason}): reconnecting[/]"
    if ev.state == "reconnected":
        return (
            f"[yellow]{who} reconnected after {ev.outage_s or 0:.2f} s, "
            f"{ev.samples_lost} samples lost[/]"
        )
    if ev.state == "battery":
        return f"[dim]{who} battery {ev.battery_pct} %[/]"
    return f"[bold red]{who} {ev.state} ({ev.reason})[/]"


def describe(ev: AnyEvent, cadence: float) -> str | None:
    """The line printed for ``ev`` (None: nothing to print); ``cadence`` so far."""
    if isinstance(ev, Step):
        strike = (
            f"{ev.strike:<9}{ev.strike_angle_deg:+5.1f} deg"
            if ev.strike and ev.strike_angle_deg is not None
            else ""
        )
        contact = f"{ev.contact_ms:4.0f} ms" if ev.contact_ms else "   -   "
        impact = f"{ev.impact_g:5.1f} g" if ev.impact_g else "   -   "
        cad = f"{cadence:5.1f} spm" if cadence else "    -    "
        return (
            f"{ev.t:8.3f} s  {ev.side:>5} step  cadence {cad}  "
            f"contact {contact}  impact {impact}  {strike}"
        )
    if isinstance(ev, Cue) and ev.cue == "metronome":
        state = f"on at {ev.target_spm:.1f} steps/min, gain {ev.gain:.2f}" if ev.playing else "off"
        return f"[magenta]{ev.t:8.3f} s  metronome {state}[/]"
    if isinstance(ev, Cue) and ev.cue == "impact":
        return f"[magenta]{ev.t:8.3f} s  impact tone {ev.pitch_hz:.0f} Hz ({ev.peak_g:.1f} g)[/]"
    if isinstance(ev, Summary):
        strike = ", ".join(f"{k} {v:.0f} %" for k, v in ev.strike_pct.items()) or "-"
        p90 = f" (p90 {ev.impact_p90_g:.1f})" if ev.impact_p90_g is not None else ""
        return (
            f"[bold]summary: {ev.steps} steps, {ev.running_s / 60:.1f} min running, "
            f"cadence {_fmt(ev.cadence_spm, '.1f', ' steps/min')}, "
            f"contact {_fmt(ev.contact_ms, '.0f', ' ms')}, "
            f"impact {_fmt(ev.impact_g, '.1f', ' g')}{p90}, strike {strike}[/]"
            + (
                f"\n[bold]footpod: cadence {_fmt(ev.pod_cadence_spm, '.1f', ' steps/min')}, "
                f"speed {_fmt(ev.pod_speed_m_s, '.2f', ' m/s')}, "
                f"distance {_fmt(ev.pod_distance_m, '.0f', ' m')}[/]"
                if ev.pod_cadence_spm is not None or ev.pod_distance_m is not None
                else ""
            )
        )
    if isinstance(ev, Activity):
        return f"[bold]{ev.t:8.3f} s  {ev.state}[/]"
    if isinstance(ev, Link):
        return describe_link(ev)
    if isinstance(ev, Asymmetry) and ev.contact_si_pct is not None:
        values = []
        for label, v in (
            ("contact", ev.contact_si_pct),
            ("impact", ev.impact_si_pct),
            ("step time", ev.step_time_si_pct),
        ):
            text = _fmt(v, "+.1f", " %")
            flag = v is not None and abs(v) > SI_FLAG_PCT
            values.append(f"{label} [bold yellow]{text}[/]" if flag else f"{label} {text}")
        return f"[cyan]{ev.t:8.3f} s  left/right:[/] {', '.join(values)} [cyan](+: right higher)[/]"
    return None


class ConsoleSink:
    """Shows what a runner or coach wants to see: a live table on a terminal, else lines."""

    wants_raw = False

    def __init__(
        self,
        console: Console | None = None,
        live: bool | None = None,
        progress: Progress | None = None,
        step_lines: bool = True,
    ) -> None:
        self.name = "console"
        self.step_lines = step_lines  # line mode: a line per step and asymmetry update
        self.console = console or Console(highlight=False, soft_wrap=True)
        self.live = self.console.is_terminal if live is None else live
        self.dashboard = Dashboard(progress)
        self.cadence = 0.0

    def show(self, ev: AnyEvent) -> None:
        """Line mode: print the line of ``ev``, if it has one."""
        if isinstance(ev, Cadence):
            self.cadence = ev.cadence_spm
        if not self.step_lines and isinstance(ev, Step | Asymmetry):
            return
        line = describe(ev, self.cadence)
        if line is not None:
            self.console.print(line)

    async def run(self, queue: asyncio.Queue[Any]) -> None:
        if self.live:
            await self._run_live(queue)
            return
        closed = False
        while (item := await queue.get()) is not STOP:
            if closed:
                continue
            try:
                self.show(item)
            except (BrokenPipeError, SystemExit):  # rich exits on a closed pipe (| head)
                closed = True  # stop printing; the run and the other sinks go on

    async def _run_live(self, queue: asyncio.Queue[Any]) -> None:
        board = self.dashboard
        # redrawn from the board 4 times a second by rich's own thread
        with Live(console=self.console, get_renderable=board.render, refresh_per_second=4) as live:
            while (item := await queue.get()) is not STOP:
                board.update(item)
                if not isinstance(item, Step | Cadence | Asymmetry):
                    line = describe(item, board.cadence or 0.0)
                    if line is not None:
                        live.console.print(line)
            live.refresh()
