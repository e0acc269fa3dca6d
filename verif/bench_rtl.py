"""``make bench``, RTL part: whole kernels on the Verilator model of the tile.

For each kernel: cycles on the RTL (== golden == predicted, outputs bit-exact), the simulation
speed in tile cycles per second through the cocotb harness (START to ``busy`` falling, no
Python wake-up per cycle), the same build's speed in a plain C++ Verilator loop
(``raw_main.cpp``, no Python), and their ratio: what the Python harness costs. Each figure is
the median of ``--repeat`` runs of the same program.
"""

from __future__ import annotations

import argparse
import statistics
import sys

import numpy as np

from ..sw.asm import assemble_text
from ..sw.backends import rtl_job, rtl_result
from ..sw.config import TileConfig
from ..sw.golden import run_golden
from ..sw.kernels import KERNELS
from ..sw.schedule import schedule
from . import rtl_tile

KERNEL_RUNS = {
    "default": (("gemv", (256, 256)), ("gemv", (512, 512)), ("ffn", (64, 256, 1, 11))),
    "small": (("gemv", (64, 64)), ("gemv", (64, 96)), ("ffn", (32, 32, 1, 10))),
}
INPUTS = {"gemv": ("x", "w"), "ffn": ("x", "w_gate", "w_up", "w_down")}


def _inputs(prog, names, rng):
    return {n: rng.integers(-128, 128, prog.symbols[n].shape, dtype=np.int8) for n in names}


def kernel_speed_table(config: str, repeat: int = 3, seed: int = 0) -> list[str]:
    cfg = TileConfig.named(config)
    rng = np.random.default_rng(seed)
    rows = ["| kernel | cycles (RTL) | == golden == predicted | bit-exact | harness cycles/s | "
            "raw Verilator cycles/s | harness cost (raw / harness) |",
            "|---|---:|:---:|:---:|---:|---:|---:|"]
    for name, args in KERNEL_RUNS[config]:
        prog = assemble_text(f"{name}.s", KERNELS[name].function(cfg, *args))
        sched = schedule(prog)
        prog = sched.image
        inputs = _inputs(prog, INPUTS[name], rng)
        out = "y"
        gold = run_golden(prog, inputs, [out])
        from ..sw.hostmap import HostMap

        reads = HostMap(cfg).symbol_addresses(prog, out)
        job = rtl_job(prog, inputs, reads, 100 * sched.cycles)
        results = rtl_tile.run_jobs(cfg, [job] * repeat)
        rtl = rtl_result(prog, results[0], [out])
        same = rtl.error is None and rtl.cycles == gold.cycles == sched.cycles
        exact = rtl.error is None and np.array_equal(rtl.outputs[out], gold.outputs[out])
        harness = statistics.median(r.cycles / r.run_seconds for r in results)
        raw = statistics.median(c / s for c, s in (rtl_tile.run_raw(cfg, job)
                                                   for _ in range(repeat)))
        label = f"{name} " + "x".join(str(a) for a in args[:2])
        rows.append(f"| {label} | {rtl.cycles} | {'yes' if same else 'NO'} | "
                    f"{'yes' if exact else 'NO'} | {harness:,.0f} | {raw:,.0f} | "
                    f"{raw / harness:.2f} |")
        print(f"bench: {label} done", file=sys.stderr, flush=True)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", default="default", choices=sorted(KERNEL_RUNS))
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)
    print(f"\n## Whole kernels on the RTL ({a.config} tile, Verilator, median of {a.repeat} "
          "runs, seed 0)\n")
    print("harness = cocotb testbench, START to done with no Python wake-up per cycle; raw = "
          "the same Verilog and Verilator flags driven by verif/raw_main.cpp\n")
    print("\n".join(kernel_speed_table(a.config, a.repeat)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
