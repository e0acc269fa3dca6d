"""Resource table: every unit synthesized for iCE40 (``synth_ice40 -dsp``) and ECP5, with its
out-of-context ECP5 Fmax.

``python -m lpu.hw.report [--config small] [--family ecp5] [--no-fmax] [--write
docs/results.md]`` prints a markdown table and, with ``--write``, puts it into that file between
the ``<!-- resources:begin -->`` and ``<!-- resources:end -->`` markers. Counts are Yosys cells
after synthesis, before place and route; ``--family`` limits the table to one family's columns.
With the ECP5 columns, each unit's netlist is also placed and routed alone (``nextpnr-ecp5
--out-of-context``, its clock constrained to ``--mhz``) and its Fmax goes beside the counts:
register to register inside the unit, its ports unconstrained. A unit with a path in a
pseudo-clock or unconstrained domain (``lpu.hw.synth.timing_problems``) gets "untimed" there
and the command exits 1. iCE40 has no out-of-context flow in nextpnr; iCE40 Fmax comes from the
board build (``make fpga``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..sw.config import TileConfig
from .catalog import unit_factories
from .synth import FAMILIES, out_of_context, synthesize
from .verilog import write_verilog

NAMES = {"ice40": "iCE40", "ecp5": "ECP5"}


#: The clock the out-of-context runs constrain each unit to, in MHz (the ULX3S tile's aim).
OOC_MHZ = 40.0


def table(config_name: str, families: tuple[str, ...] = tuple(FAMILIES), fmax: bool = False,
          mhz: float = OOC_MHZ, problems: list[str] | None = None) -> list[str]:
    """The markdown rows; ``problems`` (if given) collects every unit's untimed paths."""
    cfg = TileConfig.named(config_name)
    kinds = ("LUT", "FF", "carry", "DSP", "BRAM")
    fmax = fmax and "ecp5" in families
    head = " | ".join(f"{NAMES[f]} LUT | FF | carry | DSP | BRAM" for f in families)
    extra = f" | ECP5 Fmax MHz (OOC, {mhz:g} MHz asked) | nextpnr s" if fmax else ""
    rows = [f"| unit ({config_name} tile) | {head}{extra} | yosys s |",
            "|---|" + "---:|" * (len(kinds) * len(families) + 1 + 2 * fmax)]
    for name, make in unit_factories(cfg).items():
        top = f"{name}_{config_name}"
        path = write_verilog(make(), top)
        t0 = time.perf_counter()
        counts = [synthesize(path, top, f) for f in families]
        dt = time.perf_counter() - t0
        cols = [str(c[k]) for c in counts for k in kinds]
        if fmax:
            ooc = out_of_context(path, top, mhz)
            cols += ["untimed" if ooc["problems"] else f"{ooc['fmax']:.1f}" if ooc["fmax"]
                     else "- (no register path)",
                     f"{ooc['seconds']:.0f}"]
            if problems is not None:
                problems += [f"{name}: {p}" for p in ooc["problems"]]
        rows.append(f"| {name} | " + " | ".join(cols) + f" | {dt:.0f} |")
        print(rows[-1], flush=True)
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
    ap.add_argument("--no-fmax", action="store_true",
                    help="skip the out-of-context place and route (resources only)")
    ap.add_argument("--mhz", type=float, default=OOC_MHZ,
                    help=f"clock constraint of the out-of-context runs (default {OOC_MHZ:g})")
    ap.add_argument("--write", metavar="FILE.md", help="put the table into FILE.md")
    a = ap.parse_args(argv)
    t0 = time.monotonic()
    problems: list[str] = []
    rows = table(a.config, (a.family,) if a.family else tuple(FAMILIES), not a.no_fmax, a.mhz,
                 problems)
    print("\n".join(rows))
    print(f"({time.monotonic() - t0:.0f} s in all)")
    if a.write:
        write_into(a.write, rows)
        print(f"wrote the table into {a.write}")
    if problems:
        print("error: paths no real clock times:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
