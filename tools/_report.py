"""Shared by the tools that write measured results into docs/*.md."""

from __future__ import annotations

import re
from pathlib import Path


def update_block(path: Path, begin: str, end: str, block: str, heading: str = "") -> None:
    """Replace the ``begin``..``end`` block of ``path`` with ``block`` (or append it, under
    ``heading``); the rest of the file is left as it is."""
    text = path.read_text() if path.exists() else ""
    if begin in text:
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text += ("\n" + heading + "\n\n" if heading else "\n") + block + "\n"
    path.write_text(text)
