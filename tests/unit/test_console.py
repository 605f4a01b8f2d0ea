"""The console's live table: what it shows follows the events."""

from __future__ import annotations

import asyncio
import io

from rich.console import Console

from sensorhub.events import Activity, Asymmetry, Cadence, Cue, Step
from sensorhub.pipeline.runner import STOP
from sensorhub.sinks.console import WINDOW, ConsoleSink, Dashboard


def steps(sensor: str, side: str, n: int, contact0: float) -> list[Step]:
    return [
        Step(
            t=0.7 * k,
            sensor=sensor,
            side=side,
            contact_ms=contact0 + k,
            flight_ms=100.0,
            impact_g=10.0 + k,
            loading_rate_g_per_s=3000.0,
            strike_angle_deg=12.0 if k % 3 else -2.0,
            strike="rearfoot" if k % 3 else "midfoot",
        )
        for k in range(n)
    ]


def text_of(board: Dashboard) -> str:
    out = io.StringIO()
    Console(file=out, width=120, color_system=None).print(board.render())
    return out.getvalue()


def test_rows_show_the_mean_of_the_last_steps_per_sensor() -> None:
    board = Dashboard()
    board.update(Activity(t=0.0, sensor="", side="both", state="running"))
    for ev in steps("L1", "left", 25, 200.0) + steps("R1", "right", 4, 300.0):
        board.update(ev)
    board.update(
        Cadence(t=9, sensor="R1", side="right", step_cadence_spm=171, cadence_spm=170.4, steps=8)
    )
    board.update(
        Cue(t=9, sensor="", side="both", cue="metronome", playing=True, target_spm=178.9, gain=1.0)
    )
    board.update(
        Asymmetry(
            t=9,
            sensor="",
            side="both",
            window_steps=10,
            contact_si_pct=12.5,
            impact_si_pct=-1.0,
            step_time_si_pct=0.4,
        )
    )
    text = text_of(board)
    left = next(line for line in text.splitlines() if line.startswith("left (L1)"))
    right = next(line for line in text.splitlines() if line.startswith("right (R1)"))
    last = range(25 - WINDOW, 25)
    assert left.split()[2:8] == [
        "25",
        "-",
        f"{sum(200.0 + k for k in last) / WINDOW:.0f}",
        "100",
        f"{sum(10.0 + k for k in last) / WINDOW:.1f}",
        "3000",
    ]
    assert "rearfoot" in left  # most of the last ten
    assert right.split()[2:4] == ["4", "170.4"]
    assert f"{(300 + 301 + 302 + 303) / 4:.0f}" in right
    assert "running" in text and "cadence 170.4" in text and "target 178.9" in text
    assert "contact +12.5 %" in text and "metronome on" in text
    board.update(Activity(t=10.0, sensor="", side="both", state="standing"))
    assert "cadence - steps/min" in text_of(board)  # no stale cadence while standing


def test_live_mode_prints_changes_above_the_table() -> None:
    out = io.StringIO()
    sink = ConsoleSink(Console(file=out, width=120, color_system=None), live=True)

    async def run() -> None:
        q: asyncio.Queue[object] = asyncio.Queue()
        for ev in [
            Activity(t=1.0, sensor="", side="both", state="running"),
            *steps("L1", "left", 3, 250.0),
        ]:
            q.put_nowait(ev)
        q.put_nowait(STOP)
        await sink.run(q)  # type: ignore[arg-type]

    asyncio.run(run())
    text = out.getvalue()
    assert "1.000 s  running" in text
    assert "left (L1)" in text and " step " not in text  # a table, not a line per step


def test_line_mode_highlights_only_the_value_over_ten_percent() -> None:
    """Issue 11, defect 12: the whole left/right line was coloured, not the value over
    10 %."""
    from sensorhub.sinks.console import describe

    line = describe(
        Asymmetry(
            t=9,
            sensor="",
            side="both",
            window_steps=10,
            contact_si_pct=12.5,
            impact_si_pct=-1.0,
            step_time_si_pct=None,
        ),
        170.0,
    )
    assert line is not None
    assert "contact [bold yellow]+12.5 %[/]" in line
    assert "impact -1.0 %" in line and "[bold yellow]-1.0" not in line
    assert "step time -" in line  # not measured: not 0


def test_a_summary_of_nothing_measured_says_so() -> None:
    """Issue 11, defect 12: the summary printed cadence 0.0 and impact 0.0 g when nothing
    had been measured."""
    from sensorhub.events import Summary
    from sensorhub.sinks.console import describe

    line = describe(Summary(t=1, sensor="", side="both", duration_s=1, running_s=0, steps=0), 0)
    assert line is not None
    assert "cadence -," in line and "contact -," in line and "impact -," in line
    assert "0.0" not in line.replace("0.0 min", "")
