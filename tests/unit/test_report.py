"""The run report (sensorhub/library/report.py) on constructed sessions: fatigue drift,
downsampling, cue periods, the plain-language summary, the HTML page, PDF and PNG."""

from __future__ import annotations

import json
import re
import struct
import zlib
from typing import Any

import numpy as np
import pytest

from sensorhub.library import report as rep
from sensorhub.library.history import Comparison, Context, Flag, Pain
from sensorhub.library.metrics import Steps, minute_rows
from sensorhub.library.store import MINUTE_COLUMNS
from sensorhub.library.view import SessionData

SPM = 170.0


def steps_of(
    duration_s: float,
    contact: Any = 230.0,
    impact: Any = 12.0,
    cadence: Any = SPM,
    speed: Any = None,
    right_factor: float = 1.0,
    start_s: float = 0.0,
) -> Steps:
    """A run at ``cadence`` steps/min, feet alternating; ``contact`` etc. are constants
    or functions of the step times; the right foot's contact and impact times
    ``right_factor``."""
    t = np.arange(start_s, duration_s, 60.0 / SPM)
    n = len(t)
    side = np.array(["left", "right"] * (n // 2 + 1))[:n]

    def col(v: Any) -> np.ndarray:
        return np.asarray(v(t) if callable(v) else np.full(n, v), dtype=float)

    rng = np.random.default_rng(0)
    right = np.where(side == "right", right_factor, 1.0)
    return Steps(
        t_s=t,
        side=side,
        cadence_spm=col(cadence),
        contact_ms=col(contact) * right * (1 + 0.002 * rng.standard_normal(n)),
        flight_ms=np.full(n, 120.0),
        impact_g=col(impact) * right,
        loading_rate_g_per_s=np.full(n, 3000.0),
        strike=np.array(["rearfoot", "rearfoot", "midfoot", ""] * (n // 4 + 1))[:n],
        speed_m_s=col(speed) if speed is not None else np.full(n, np.nan),
        step_cadence_spm=col(cadence),
    )


def session_of(
    steps: Steps, duration_s: float, cues: list[dict[str, Any]] | None = None, sid: int = 7
) -> SessionData:
    spans = [(0.0, duration_s)]
    minutes = [
        dict(zip(MINUTE_COLUMNS, r, strict=True)) for r in minute_rows(steps, spans, duration_s)
    ]
    row = {
        "id": sid,
        "started_unix": 1_790_000_000.0,
        "runner": "ann <b>",
        "shoe": "Pegasus & co",
        "source": "sim",
        "path": "/tmp/x.shs",
        "duration_s": duration_s,
        "running_s": duration_s,
        "steps": len(steps),
        "distance_m": None,
        "distance_source": None,
        "sensors_json": '[{"side":"left","mount":"shoe","name":"L"},'
        '{"side":"right","mount":"shoe","name":"R"}]',
        "summary_json": None,
        "damage": "",
        "notes": "",
    }
    return SessionData(sid, row, steps, minutes, cues or [], [(0.0, "running")], [], summary=None)


def third(t: np.ndarray, duration_s: float) -> np.ndarray:
    return np.asarray(t >= 2 * duration_s / 3, dtype=float)


# ------------------------------------------------------------------ fatigue drift
def test_thirds_are_of_running_time_pauses_left_out() -> None:
    spans = [(0.0, 100.0), (200.0, 300.0)]  # 200 s of running around a 100 s pause
    a, b = rep.third_cuts(spans) or (0.0, 0.0)
    assert a == pytest.approx(200 / 3)
    assert b == pytest.approx(200.0 + 100 / 3)
    assert rep.third_cuts([]) is None


def test_a_flat_run_says_no_drift() -> None:
    d = rep.drift(steps_of(1200), [(0.0, 1200.0)])
    assert d.changes and not d.drifted
    text = " ".join(d.sentences())
    assert text.lower().startswith("no drift")
    assert "speed unknown, compared while running" in text
    assert "0:00-6:40" in text and "13:20-20:00" in text  # the thirds, in session time


def test_contact_rising_8_percent_in_the_last_third_is_said() -> None:
    duration = 1800.0
    steps = steps_of(duration, contact=lambda t: 230.0 * (1 + 0.08 * third(t, duration)))
    d = rep.drift(steps, [(0.0, duration)])
    moved = {c.metric: c for c in d.drifted}
    assert set(moved) == {"contact_ms"}
    assert moved["contact_ms"].change == pytest.approx(8.0, abs=0.3)
    first = d.sentences()[0]
    assert first.startswith("Drift from the first to the last third")
    assert "contact time rose 8 % (230 -> 248 ms)" in first
    assert "cadence steady" in " ".join(d.sentences())


def test_cadence_falling_and_asymmetry_widening() -> None:
    duration = 1800.0

    def factor(t: np.ndarray) -> np.ndarray:
        return 1 - 0.05 * third(t, duration)

    steps = steps_of(duration, cadence=lambda t: SPM * factor(t))
    # the right foot's contact 6 % longer in the last third only
    late_right = (steps.side == "right") & (steps.t_s >= 2 * duration / 3)
    steps.contact_ms[late_right] *= 1.06
    d = rep.drift(steps, [(0.0, duration)])
    words = {c.metric: c.words() for c in d.drifted}
    assert words["cadence_spm"].startswith("cadence fell 5 %")
    assert words["contact_si_pct"].startswith("contact-time asymmetry widened from +0.")
    assert "right side higher" in words["contact_si_pct"]


def test_drift_at_comparable_speed_leaves_out_faster_steps() -> None:
    """The last third mixes the usual 3 m/s with a 4.5 m/s stretch of longer contact:
    at comparable speed (3 +- 0.3 m/s) contact has not drifted."""
    duration = 1800.0

    def fast(t: np.ndarray) -> np.ndarray:
        return (t > 1400).astype(float)  # two thirds of the last third

    steps = steps_of(
        duration,
        speed=lambda t: 3.0 + 1.5 * fast(t),
        contact=lambda t: 230.0 * (1 + 0.2 * fast(t)),
    )
    d = rep.drift(steps, [(0.0, duration)])
    assert "at comparable speed (2.7-3.3 m/s" in d.basis
    assert not d.drifted
    # the same run judged without its speed would see the contact rise
    steps.speed_m_s[:] = np.nan
    assert {c.metric for c in rep.drift(steps, [(0.0, duration)]).drifted} == {"contact_ms"}


def test_thirds_at_different_speeds_are_not_compared() -> None:
    duration = 1800.0
    steps = steps_of(duration, speed=lambda t: np.where(t < 900, 2.5, 3.5))
    d = rep.drift(steps, [(0.0, duration)])
    assert not d.changes
    assert "not run at comparable speed" in d.sentences()[0]


def test_a_short_run_is_not_judged() -> None:
    d = rep.drift(steps_of(120), [(0.0, 120.0)])
    assert not d.changes
    assert d.sentences() == [
        "Too short to judge fatigue drift: 2:00 of running (it takes at least 3 min, "
        "compared in thirds)."
    ]


# ------------------------------------------------------------------ chart data
def test_bin_medians_match_numpy_per_bin() -> None:
    rng = np.random.default_rng(3)
    key = rng.integers(0, 6, 500)
    values = rng.normal(200, 20, 500)
    values[rng.random(500) < 0.1] = np.nan
    key[key == 4] = 5  # bin 4 empty
    got = rep.bin_medians(key, values, 6)
    for k in range(6):
        v = values[(key == k) & np.isfinite(values)]
        if len(v):
            assert got[k] == pytest.approx(float(np.median(v)))
        else:
            assert np.isnan(got[k])


def test_short_runs_draw_every_step_long_ones_per_10_s_medians() -> None:
    short = steps_of(600)
    rows, what = rep.step_points(short)
    assert len(rows) == len(short) and what == "each point: one step"
    assert {r["side"] for r in rows} == {"left", "right"}
    long = steps_of(7200, contact=lambda t: 200.0 + t / 100)
    assert len(long) > rep.MAX_STEP_POINTS
    rows, what = rep.step_points(long)
    assert len(rows) == 2 * 720  # a point per foot per 10 s
    assert sum(r["steps"] for r in rows) == len(long)
    assert "median over 10 s" in what and str(len(long)) in what
    r = next(
        r for r in rows if r["side"] == "left" and r["t_min"] == pytest.approx(65 / 60, abs=1e-3)
    )
    in_bin = (long.side == "left") & (long.t_s >= 60) & (long.t_s < 70)
    assert r["contact_ms"] == pytest.approx(float(np.median(long.contact_ms[in_bin])), abs=0.05)


def cue(t: float, playing: int, gain: float, target: float | None = 178.5) -> dict[str, Any]:
    return {"t_s": t, "cue": "metronome", "playing": playing, "target_spm": target, "gain": gain}


def test_cue_periods_last_until_the_next_change() -> None:
    cues = [cue(30, 1, 1.0), cue(90, 1, 0.5), cue(120, 0, 0.0), cue(300, 1, 0.25)]
    cues.append({"t_s": 50.0, "cue": "impact", "playing": 1, "target_spm": None, "gain": 1.0})
    got = rep.cue_periods(cues, end_s=360.0)
    assert [(p["start_min"], p["end_min"], p["gain"]) for p in got] == [
        (0.5, 1.5, 1.0),
        (1.5, 2.0, 0.5),
        (5.0, 6.0, 0.25),
    ]
    gain = rep.cue_gain(cues, 360.0)
    assert gain[0]["gain"] == 0.0 and gain[-1]["t_min"] == 6.0
    assert [g["gain"] for g in gain[1:-1]] == [1.0, 0.5, 0.0, 0.25]


# ------------------------------------------------------------------ words
def context() -> Context:
    base = "your baseline (your first 3 runs)"
    return Context(
        baseline=[Comparison("cadence_spm", 171.0, 163.0, 4.9, base, "at 2.7-3.3 m/s")],
        last_week=[
            Comparison("impact_g", 10.6, 12.0, -11.7, "last week", "at 2.7-3.3 m/s"),
            Comparison(
                "contact_ms", 231.0, 230.0, 0.3, "last week", "while running (speed unknown)"
            ),
        ],
        flags=[
            Flag(
                "limp",
                "Left/right asymmetry <script>alert(1)</script> beyond your usual range.",
                "symmetry index & the runner's own range",
                "a change against your own history, not a diagnosis",
            )
        ],
        pain=Pain(3, 4, None),
        usual_asymmetry={"contact_si_pct": (-2.0, 4.0)},
        usual_from_sessions=5,
    )


def test_summary_in_plain_words() -> None:
    data = session_of(steps_of(1200, speed=3.0), 1200.0)
    r = rep.build(data, context(), validate=True)
    text = " ".join(r.summary)
    assert (
        "Cadence 170 spm (steps per minute, both feet; 85 strides per minute), 5 % above "
        "your baseline at the same pace." in text
    )
    assert "impact 12.0 g, 12 % lower than last week at the same pace" in text
    assert "Contact time 230 ms, the same as last week; impact" in text
    assert "Speed unknown (no footpod or watch file for this run or the ones compared)" in text
    assert "1 flag: limp (below)." in text
    assert r.pain == "Pain (0-10): during 3/10, after 4/10, next morning not rated."
    assert any(
        "usual left/right range (from your previous 5 runs): contact time -2.0 to +4.0 %" in h
        for h in r.history
    )


def test_every_chart_is_valid_vega_lite_and_has_units() -> None:
    cues = [cue(60, 1, 1.0), cue(400, 1, 0.5), cue(800, 0, 0.0)]
    data = session_of(steps_of(1200, speed=lambda t: 3.0 + 0.2 * np.sin(t / 60)), 1200.0, cues)
    r = rep.build(data, context(), validate=True)  # validate: schema errors raise
    names = [c.name for c in r.charts]
    assert names == ["cadence", "contact", "impact", "cues", "speed", "asymmetry", "strike"]
    assert r.notes == []
    specs = json.dumps([c.spec for c in r.charts])
    for unit in ("(steps/min)", "(ms)", "(g)", "(m/s)", "(%)", "(min)", "1 stride = 2 steps"):
        assert unit in specs
    assert len(r.datasets["cue_periods"]) == 2
    strikes = {(s["side"], s["strike"]): s["pct"] for s in r.datasets["strike"]}
    assert strikes == {
        ("left", "rearfoot"): 50.0,
        ("left", "midfoot"): 50.0,
        ("right", "rearfoot"): 50.0,
        ("right", "not classified"): 50.0,
    }
    assert sum(s["steps"] for s in r.datasets["strike"]) == len(data.steps)


def test_a_one_sided_session_without_speed_or_cues_says_what_is_missing() -> None:
    s = steps_of(600)
    s = s.take(s.side == "left")
    r = rep.build(session_of(s, 600.0), Context(), validate=True)
    assert [c.name for c in r.charts] == ["cadence", "contact", "impact", "strike"]
    notes = " ".join(r.notes)
    assert "no cue periods" in notes and "speed of this run is not known" in notes
    assert "no asymmetry chart" in notes
    assert "One foot measured: no left/right comparison." in r.summary


def test_an_empty_session_still_makes_a_report() -> None:
    empty = steps_of(0)
    r = rep.build(session_of(empty, 30.0), Context(), validate=True)
    assert r.charts == [] and "nothing to draw" in r.notes[0]
    assert "No running steps were found" in " ".join(r.summary)
    page = rep.html_page(r, "/* no bundle */")
    assert "nothing to draw" in page
    assert rep.pdf_bytes(r).startswith(b"%PDF-")


# ------------------------------------------------------------------ HTML
def test_the_html_page_escapes_everything_and_links_nothing() -> None:
    data = session_of(steps_of(600), 600.0, [cue(60, 1, 1.0)])
    r = rep.build(data, context())
    page = rep.html_page(r, "window.vegaEmbed = function () {}; // </script> inside")
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "ann &lt;b&gt;" in page and "Pegasus &amp; co" in page
    assert "symmetry index &amp; the runner&#x27;s own range" in page  # the flag's source
    assert "Strength of evidence: a change against your own history" in page
    # the bundle's own "</script>" cannot end its element
    assert page.count("</script>") == 3
    # nothing to fetch: no external src/href, stylesheet, font or import
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page)
    assert "<link" not in page and "@import" not in page and "@font-face" not in page
    assert "connect-src &#x27;none&#x27;" in page  # the page's CSP forbids requests
    # the data the charts draw: one row per step, and a chart per data-chart element
    m = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)
    assert m is not None
    payload = json.loads(m[1])
    assert len(payload["datasets"]["steps"]) == len(data.steps)
    assert re.findall(r'data-chart="(\w+)"', page) == list(payload["specs"])
    tricky = {"runner": "</script><!-- \u2028"}
    assert "<" not in rep._script_json(tricky)
    assert json.loads(rep._script_json(tricky)) == tricky


# ------------------------------------------------------------------ PDF, PNG
def pdf_pages(pdf: bytes) -> int:
    """The page count, after checking every xref offset points at its object."""
    objects, root = rep._pdf_objects(pdf)  # raises on a broken xref
    pages = [o for o in objects.values() if re.search(rb"/Type\s*/Page\b(?!s)", o)]
    tree = re.search(rb"/Pages\s+(\d+)\s+0\s+R", objects[root])
    assert tree is not None
    count = re.search(rb"/Count\s+(\d+)", objects[int(tree[1])])
    assert count is not None and int(count[1]) == len(pages)
    for body in objects.values():  # every reference outside streams resolves
        head = re.split(rb">>\s*stream", body, maxsplit=1)[0]
        for ref in re.findall(rb"(\d+) 0 R", head):
            assert int(ref) in objects
    return len(pages)


def test_merged_pdf_has_every_page_in_order() -> None:
    import vl_convert as vlc

    docs = [
        vlc.vegalite_to_pdf(
            {
                "data": {"values": [{"a": i}]},
                "mark": "point",
                "encoding": {"x": {"field": "a", "type": "quantitative"}},
                "title": f"page {i}",
                "width": 100 + 50 * i,
            }
        )
        for i in range(3)
    ]
    merged = rep.merge_pdfs(docs)
    assert merged.startswith(b"%PDF-1.7") and merged.rstrip().endswith(b"%%EOF")
    assert pdf_pages(merged) == 3
    widths = [float(w) for w in re.findall(rb"/MediaBox \[0 0 ([\d.]+)", merged)]
    assert widths == sorted(widths) and len(set(widths)) == 3  # pages kept in order


def test_pdf_and_png_of_a_report() -> None:
    steps = steps_of(1200, speed=lambda t: 3.0 + 0.3 * np.sin(t / 60))
    r = rep.build(session_of(steps, 1200.0, [cue(60, 1, 1.0), cue(600, 0, 0.0)]), context())
    assert "speed" in [c.name for c in r.charts]  # every kind of chart is drawn
    pdf = rep.pdf_bytes(r)
    assert pdf.startswith(b"%PDF-")
    texts = rep.text_pages(rep.text_lines(r))
    assert pdf_pages(pdf) == len(texts) + len(rep.chart_pages(r)) >= 3
    sizes = re.findall(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", pdf)
    assert all(float(w) <= 600 and float(h) <= 850 for w, h in sizes)  # A4 or smaller
    png = rep.png_bytes(r, scale=1.0)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, colour = struct.unpack(">IIBB", png[16:26])
    assert width >= 560 and height > 3 * width and depth == 8
    idat = b"".join(
        png[m.end() : m.end() + struct.unpack(">I", png[m.start() - 4 : m.start()])[0]]
        for m in re.finditer(rb"IDAT", png)
    )
    channels = {2: 3, 6: 4}[colour]
    assert len(zlib.decompress(idat)) == height * (1 + width * channels)


def test_text_pages_fit_a4_and_keep_headings_with_their_text() -> None:
    lines = [("title", "T")] + [("head", "H"), *[("body", "x")] * 30] * 4
    pages = rep.text_pages(lines)
    assert len(pages) >= 3 and sum(len(p) for p in pages) == len(lines)
    for p in pages:
        assert sum(rep._line_height(st) for st, _ in p) <= rep.A4_HEIGHT - 2 * rep.PAGE_MARGIN
        assert p[-1][0] == "body"
