"""Resource table: every unit synthesized for iCE40 (``synth_ice40 -dsp``) and ECP5.

``python -m lpu.hw.report [--config small]`` prints a markdown table (docs/results.md quotes
it). Counts are Yosys cells after synthesis, before place and route.
"""

from __future__ import annotations

import argparse
import time

from ..sw.config import TileConfig
from ..verif.harness import write_verilog
from .catalog import unit_factories
from .synth import synthesize


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", default="small")
    a = ap.parse_args(argv)
    cfg = TileConfig.named(a.config)
    print(f"| unit ({a.config} tile) | iCE40 LUT | FF | carry | DSP | BRAM | ECP5 LUT | FF | "
          "carry | DSP | BRAM | yosys s |")
    print("|---|" + "---:|" * 11)
    for name, make in unit_factories(cfg).items():
        top = f"{name}_{a.config}"
        path = write_verilog(make(), top)
        t0 = time.perf_counter()
        ice, ecp = synthesize(path, top, "ice40"), synthesize(path, top, "ecp5")
        dt = time.perf_counter() - t0
        cols = [ice[k] for k in ("LUT", "FF", "carry", "DSP", "BRAM")] + \
            [ecp[k] for k in ("LUT", "FF", "carry", "DSP", "BRAM")]
        print(f"| {name} | " + " | ".join(map(str, cols)) + f" | {dt:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
