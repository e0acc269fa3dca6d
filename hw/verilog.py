"""Amaranth to Verilog, once per distinct text: the generated file is the build cache key.

``write_verilog`` converts a component and writes ``build/rtl/<name>-<hash>/<name>.v``, the
hash covering the Verilog text, so a changed unit or configuration gets a new folder and an
unchanged one keeps its folder (and whatever a simulator or synthesis built next to it).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

#: Where generated Verilog and the models built from it go: ``build/rtl`` of the checkout.
BUILD = Path(__file__).resolve().parent.parent / "build" / "rtl"


def write_verilog(component, name: str) -> Path:
    """Convert an Amaranth component to Verilog in its own content-addressed folder."""
    from amaranth.back import verilog

    text = verilog.convert(component, name=name)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    folder = BUILD / f"{name}-{digest}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.v"
    if not path.exists() or path.read_text() != text:
        partial = path.with_name(f"{path.name}.{os.getpid()}")
        partial.write_text(text)
        partial.replace(path)
    return path
