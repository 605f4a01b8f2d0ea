"""``sensorhub report SESSION [--out FILE.html|.pdf|.png]``: one session's report.

The HTML page is self-contained (it opens offline: the Vega JavaScript is inlined, no
URL is fetched); the PDF and PNG are rendered without a browser (vl-convert).  A report
is the runner's health data: it is written readable by its owner only, and never over an
existing file unless ``--force``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sensorhub.commands.common import library_of, print_json, progress, resolve_session
from sensorhub.errors import SensorhubError
from sensorhub.fileutil import write_file

#: What ``--out`` may end in, and what it makes.
FORMATS = {".html": "html", ".htm": "html", ".pdf": "pdf", ".png": "png"}


#: What the inlined bundle does: make vegaEmbed, vega and vegaLite global.
BUNDLE_SNIPPET = "window.vegaEmbed = vegaEmbed; window.vega = vega; window.vegaLite = vegaLite;"


def add_parser(sub: Any, library_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """The ``report`` subcommand (``library_options`` adds --config/--set/--data-dir)."""
    p = sub.add_parser(
        "report",
        help="one session's report: an HTML page that opens offline, or PDF/PNG for a "
        "clinician's file",
    )
    p.add_argument("session", metavar="SESSION", help="its id (sessions) or recording path")
    p.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="FILE.html, FILE.pdf or FILE.png (default: sensorhub-report-<id>.html here; "
        "a folder: that name in it)",
    )
    p.add_argument("--force", action="store_true", help="replace FILE if it exists")
    p.add_argument("--json", action="store_true", help="print where the report went, as JSON")
    library_options(p)


def format_of(path: Path) -> str:
    """``html``, ``pdf`` or ``png`` from the file name; a clear error for anything else."""
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise SensorhubError(
            f"--out {path}: a report is .html, .pdf or .png, not {path.suffix or 'no suffix'}",
            "name the file e.g. report.html",
        )
    return kind


def vega_bundle() -> str:
    """The Vega, Vega-Lite and vega-embed JavaScript to inline: made by vl-convert
    (about 3 s) and kept in the user's cache folder, per vl-convert version."""
    from importlib.metadata import version

    import platformdirs
    import vl_convert as vlc

    name = f"vega-bundle-{version('vl-convert-python')}.js"
    path = Path(platformdirs.user_cache_dir("sensorhub", appauthor=False)) / name
    with contextlib.suppress(OSError, UnicodeDecodeError):
        js = path.read_text(encoding="utf-8")
        if "window.vegaEmbed=" in js and js.rstrip().endswith(";"):
            return js
    js = vlc.javascript_bundle(BUNDLE_SNIPPET)
    with contextlib.suppress(OSError):  # no cache: the next report bundles again
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{name}.{os.getpid()}.tmp")
        tmp.write_text(js, encoding="utf-8")
        os.replace(tmp, path)
    return js


def cmd_report(args: argparse.Namespace) -> int:
    from sensorhub.library import report as rep
    from sensorhub.library.history import context_for
    from sensorhub.library.view import load

    began = time.monotonic()
    out: Path | None = args.out
    if out is not None and not out.is_dir():
        format_of(out)  # a wrong name is said before any work
    with library_of(args) as lib:
        sid = resolve_session(lib, args.session)
        default = Path(f"sensorhub-report-{sid}.html")
        if out is None:
            out = default
        elif out.is_dir():
            out = out / default
        kind = format_of(out)
        if out.exists() and not args.force:
            raise SensorhubError(
                f"{out} already exists",
                "name another with --out FILE, or add --force to replace it",
            )
        with progress(f"report of session {sid}", 4) as advance:
            data = load(lib, sid)
            context = context_for(lib, sid)
            advance(1, "(charts)")
            report = rep.build(data, context)
            advance(1, f"({kind})")
            content: bytes
            if kind == "html":
                content = rep.html_page(report, vega_bundle()).encode("utf-8")
                advance(1)
            elif kind == "pdf":
                content = rep.pdf_bytes(report, advance)
            else:
                content = rep.png_bytes(report)
                advance(1)
            write_file(out, content, args.force)
            advance(1)
    took = time.monotonic() - began
    if args.json:
        print_json(
            {
                "session": sid,
                "path": str(out.resolve()),
                "format": kind,
                "bytes": len(content),
                "charts": [c.name for c in report.charts],
                "seconds": round(took, 2),
            }
        )
    else:
        print(
            f"report of session {sid}: {out} ({kind.upper()}, {len(content) / 1e3:.0f} kB, "
            f"{len(report.charts)} charts, {took:.1f} s)"
        )
    return 0
