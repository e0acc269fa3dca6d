"""Resource table: every unit synthesized for iCE40 (``synth_ice40 -dsp``) and ECP5.

``python -m lpu.hw.report [--config small] [--family ecp5] [--write docs/results.md]`` prints
a markdown table and, with ``--write``, puts it into that file between the
``<!-- resources:begin -->`` and ``<!-- resources:end -->`` markers. Counts are Yosys cells after
synthesis, before place and route; ``--family`` limits the table to one family's columns.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..sw.config import TileConfig
from .catalog import unit_factories
from .synth import FAMILIES, synthesize
from .verilog import write_verilog

NAMES = {"ice40": "iCE40", "ecp5": "ECP5"}


def table(config_name: str, families: tuple[str, ...] = tuple(FAMILIES)) -> list[str]:
    cfg = TileConfig.named(config_name)
    kinds = ("LUT", "FF", "carry", "DSP", "BRAM")
    head = " | ".join(f"{NAMES[f]} LUT | FF | carry | DSP | BRAM" for f in families)
    rows = [f"| unit ({config_name} tile) | {head} | yosys s |",
            "|---|" + "---:|" * (len(kinds) * len(families) + 1)]
    for name, make in unit_factories(cfg).items():
        top = f"{name}_{config_name}"
        path = write_verilog(make(), top)
        t0 = time.perf_counter()
        counts = [synthesize(path, top, f) for f in families]
        dt = time.perf_counter() - t0
        cols = [c[k] for c in counts for k in kinds]
        rows.append(f"| {name} | " + " | ".join(map(str, cols)) + f" | {dt:.0f} |")
    return rows


def write_into(path: str, rows: list[str], marker: str = "resources") -> None:
    """Replace the text between the ``<!-- marker:begin -->`` and ``<!-- marker:end -->``
    lines of ``path`` with the table."""
    begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
    text = Path(path).read_text()
    if begin not in text or end not in text:
        raise SystemExit(f"{path}: error: no {begin} ... {end} markers")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    Path(path).write_text(head + begin + "\n" + "\n".join(rows) + "\n" + end + tail)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", default="small")
    ap.add_argument("--family", choices=sorted(FAMILIES),
                    help="one FPGA family's columns only (default: both)")
    ap.add_argument("--write", metavar="FILE.md", help="put the table into FILE.md")
    a = ap.parse_args(argv)
    rows = table(a.config, (a.family,) if a.family else tuple(FAMILIES))
    print("\n".join(rows))
    if a.write:
        write_into(a.write, rows)
        print(f"wrote the table into {a.write}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
