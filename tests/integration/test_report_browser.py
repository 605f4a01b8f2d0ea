"""The report as a runner makes and opens it: a real 60 s demo run, ``sessions``,
``report`` to HTML, PDF and PNG; the HTML page opened in headless Debian Chromium with
no network (every request outside the file itself recorded and refused)."""

from __future__ import annotations

import base64
import json
import os
import re
import stat
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import pytest

from sensorhub.library.report import _pdf_objects
from tests.conftest import DemoRun

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
TIME_CHARTS = {"cadence": "cadence_spm", "contact": "contact_ms", "impact": "impact_g"}


def sh(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sensorhub", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory, demo_run: DemoRun) -> dict[str, Any]:
    """The shared 60 s demo (metronome cues from a 15 s baseline, fading out) in a copy
    of its library, and its report as HTML (by id), PDF (by recording path) and PNG."""
    work = tmp_path_factory.mktemp("report")
    env = {
        **os.environ,
        "XDG_DATA_HOME": str(work / "data"),
        "XDG_CACHE_HOME": str(work / "cache"),
    }
    demo_run.copy(work / "data" / "sensorhub")  # the library in its default place
    sid = int(demo_run.session["id"])
    listed = sh("sessions", "--json", cwd=work, env=env)
    assert listed.returncode == 0, listed.stderr
    sessions = json.loads(listed.stdout)
    assert [s["id"] for s in sessions] == [sid]
    began = time.monotonic()
    html = sh("report", str(sid), "--json", cwd=work, env=env)
    html_s = time.monotonic() - began
    assert html.returncode == 0, html.stderr
    pdf = sh("report", sessions[0]["path"], "--out", "run.pdf", "--json", cwd=work, env=env)
    assert pdf.returncode == 0, pdf.stderr
    png = sh("report", str(sid), "--out", str(work / "run.png"), "--json", cwd=work, env=env)
    assert png.returncode == 0, png.stderr
    return {
        "work": work,
        "env": env,
        "sid": sid,
        "session": sessions[0],
        "html": json.loads(html.stdout),
        "html_s": html_s,
        "pdf": json.loads(pdf.stdout),
        "png": json.loads(png.stdout),
    }


def test_report_files_are_where_they_say(made: dict[str, Any]) -> None:
    sid, work = made["sid"], made["work"]
    html = made["html"]
    assert Path(html["path"]) == work / f"sensorhub-report-{sid}.html"  # the default name
    assert html["format"] == "html" and html["session"] == sid
    # a 60 s demo: no speed known, so no chart against speed; everything else
    assert html["charts"] == ["cadence", "contact", "impact", "cues", "asymmetry", "strike"]
    for key in ("html", "pdf", "png"):
        path = Path(made[key]["path"])
        assert path.stat().st_size == made[key]["bytes"] > 10_000
        assert stat.S_IMODE(path.stat().st_mode) == 0o600  # health data: the owner's only
    assert made["pdf"]["session"] == sid  # named by its recording's path
    assert made["html_s"] < 30.0


def test_an_existing_report_is_not_overwritten_without_force(made: dict[str, Any]) -> None:
    work, env, sid = made["work"], made["env"], str(made["sid"])
    path = Path(made["html"]["path"])
    before = path.read_bytes()
    again = sh("report", sid, cwd=work, env=env)
    assert again.returncode == 2
    assert again.stderr.strip().splitlines() == [
        f"sensorhub: error: {path.name} already exists; name another with --out FILE, "
        "or add --force to replace it"
    ]
    assert path.read_bytes() == before
    wrong = sh("report", sid, "--out", "run.docx", cwd=work, env=env)
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert ".html, .pdf or .png" in wrong.stderr
    missing = sh("report", "999", cwd=work, env=env)
    assert missing.returncode == 2 and "no session 999" in missing.stderr
    forced = sh("report", sid, "--force", cwd=work, env=env)
    assert forced.returncode == 0, forced.stderr
    assert f"report of session {sid}: {path.name} (HTML" in forced.stdout


def test_pdf_has_its_pages_and_png_decodes(made: dict[str, Any]) -> None:
    pdf = Path(made["pdf"]["path"]).read_bytes()
    assert pdf.startswith(b"%PDF-")
    objects, _ = _pdf_objects(pdf)  # every xref offset checked
    pages = [o for o in objects.values() if re.search(rb"/Type\s*/Page\b(?!s)", o)]
    assert len(pages) >= 3  # the words, then the charts
    png = Path(made["png"]["path"]).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, depth, colour = struct.unpack(">IIBB", png[16:26])
    idat = b"".join(
        png[m.end() : m.end() + struct.unpack(">I", png[m.start() - 4 : m.start()])[0]]
        for m in re.finditer(rb"IDAT", png)
    )
    assert depth == 8
    assert len(zlib.decompress(idat)) == height * (1 + width * {2: 3, 6: 4}[colour])
    assert height > 3 * width


_IMAGE_STATS = """async (b64) => {
  const img = new Image();
  img.src = "data:image/png;base64," + b64;
  await img.decode();
  const c = document.createElement("canvas");
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const g = c.getContext("2d");
  g.drawImage(img, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  let ink = 0, n = 0;
  const colours = new Set();
  for (let i = 0; i < d.length; i += 4 * 11) {
    n += 1;
    if (d[i] < 240 || d[i + 1] < 240 || d[i + 2] < 240) ink += 1;
    colours.add((d[i] >> 4) * 256 + (d[i + 1] >> 4) * 16 + (d[i + 2] >> 4));
  }
  return {width: c.width, height: c.height, ink: ink / n, colours: colours.size};
}"""

_CHARTS = """() => [...document.querySelectorAll("[data-chart]")].map(el => ({
  name: el.dataset.chart,
  rendered: el.dataset.rendered,
  svg: el.querySelectorAll("svg.marks").length,
  marks: [...el.querySelectorAll("svg.marks g.role-mark")].reduce(
    (n, g) => n + g.childElementCount, 0),
  symbols: el.querySelectorAll("svg.marks g.mark-symbol.role-mark > path").length,
  fills: [...new Set([...el.querySelectorAll("svg.marks g.role-mark path")].map(
    p => (p.getAttribute("fill") || p.getAttribute("stroke") || "").toLowerCase()))],
}))"""


def test_the_html_report_opens_offline_in_chromium(made: dict[str, Any]) -> None:
    if not CHROMIUM.exists():
        pytest.skip(
            f"Debian chromium not found at {CHROMIUM}: `apt-get install chromium` "
            "(scripts/test installs it)"
        )
    from playwright.sync_api import sync_playwright

    html = Path(made["html"]["path"])
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            context = browser.new_context(offline=True, viewport={"width": 1100, "height": 900})
            requests: list[str] = []

            def refuse(route: Any) -> None:
                url = route.request.url
                if url == html.as_uri():
                    route.continue_()
                else:
                    requests.append(url)
                    route.abort()

            context.route("**/*", refuse)
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
            page.goto(html.as_uri())
            page.wait_for_function("document.body.dataset.charts === 'done'", timeout=60_000)
            charts = page.evaluate(_CHARTS)
            data = json.loads(page.inner_text("#report-data"))
            summary = page.inner_text("#summary")
            drift = page.inner_text("#drift")
            table = page.inner_text("#sides table")
            shot = page.screenshot(full_page=True)

            # the recorder does catch a request a page makes (a page without the CSP)
            probe = context.new_page()
            probe.goto("about:blank")
            probe.evaluate("() => fetch('http://example.invalid/x').catch(() => null)")
            probe.close()
            assert requests == ["http://example.invalid/x"], requests

            # every chart drawn, as SVG, with its marks; the per-step charts one
            # symbol per step that has the value
            assert [c["name"] for c in charts] == made["html"]["charts"]
            for c in charts:
                assert c["rendered"] == "yes" and c["svg"] == 1 and c["marks"] > 0, c
            for name, field in TIME_CHARTS.items():
                c = next(c for c in charts if c["name"] == name)
                want = sum(r[field] is not None for r in data["datasets"]["steps"])
                assert c["symbols"] == want > 100, (name, c["symbols"], want)
                assert {"#0072b2", "#d55e00"} <= set(c["fills"])  # left and right
            assert len(data["datasets"]["cue_periods"]) >= 2  # the metronome, fading
            assert "Cadence" in summary and "spm (steps per minute, both feet" in summary
            assert "fatigue drift" in drift.lower()
            assert "left" in table and "right" in table and "asymmetry" in table
            assert errors == []

            look = browser.new_context().new_page()
            stats = look.evaluate(_IMAGE_STATS, base64.b64encode(shot).decode())
            assert stats["width"] == 1100 and stats["height"] > 2500
            assert stats["ink"] > 0.03 and stats["colours"] > 30, stats  # not blank
            png = Path(made["png"]["path"]).read_bytes()
            stats = look.evaluate(_IMAGE_STATS, base64.b64encode(png).decode())
            assert stats["height"] > 3 * stats["width"] and stats["ink"] > 0.03, stats
        finally:
            browser.close()
