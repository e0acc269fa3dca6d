"""``make bench``, RTL part: whole kernels on the Verilator model of the tile.

First the model's own speed, for the small and the default tile: tile cycles per second of the
plain C++ Verilator loop (``raw_main.cpp``, no Python) over one program run again and again,
timed only from START taking effect (the tile reports RUNNING) to ``busy`` falling, so the wait
for the HAC epoch boundary and the host traffic are not in it; and the build time each model
recorded when it was built.

Then, for each kernel: cycles on the RTL (== golden == predicted, outputs bit-exact), the
simulation speed through the cocotb harness (START to ``busy`` falling, no Python wake-up per
cycle), the raw loop's speed on the same build, and their ratio: what the Python harness
costs. Each figure is the median of ``--repeat`` measurements.
"""

from __future__ import annotations

import argparse
import math
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
#: The program of the raw speed figure: the longest GEMV of each tile's kernel runs.
RAW_PROGRAM = {"small": ("gemv", (64, 96)), "default": ("gemv", (512, 512))}
#: Tile cycles per raw speed measurement: the program is run again until they are reached.
RAW_CYCLES = 100_000


def _inputs(prog, names, rng):
    return {n: rng.integers(-128, 128, prog.symbols[n].shape, dtype=np.int8) for n in names}


def _kernel_job(cfg: TileConfig, name: str, args, rng):
    """(lowered program, its schedule, inputs, host job reading output ``y``)."""
    from ..sw.hostmap import HostMap

    sched = schedule(assemble_text(f"{name}.s", KERNELS[name].function(cfg, *args)))
    prog = sched.image
    inputs = _inputs(prog, INPUTS[name], rng)
    reads = HostMap(cfg).symbol_addresses(prog, "y")
    return prog, sched, inputs, rtl_job(prog, inputs, reads, 100 * sched.cycles)


def _raw_speed(cfg: TileConfig, job, cycles: int, repeat: int) -> float:
    """Median raw loop speed of ``repeat`` measurements, each running the program until
    ``RAW_CYCLES`` tile cycles are reached."""
    runs = max(1, math.ceil(RAW_CYCLES / cycles))
    return statistics.median(rtl_tile.run_raw(cfg, job, runs).speed for _ in range(repeat))


def raw_speed_table(configs, repeat: int = 3, seed: int = 0) -> list[str]:
    """The raw loop's speed and the recorded build times of each configuration's models."""
    rows = ["| tile | program | cycles per run | runs per measurement | raw Verilator "
            "cycles/s | tile model build (s) | raw loop build (s) |",
            "|---|---|---:|---:|---:|---:|---:|"]
    for config in configs:
        cfg = TileConfig.named(config)
        name, args = RAW_PROGRAM[config]
        _, sched, _, job = _kernel_job(cfg, name, args, np.random.default_rng(seed))
        speed = _raw_speed(cfg, job, sched.cycles, repeat)
        times = rtl_tile.build_times(cfg)
        built = ["not recorded" if t is None else f"{t:.0f}" for t in (times.model, times.raw)]
        label = f"{name} " + "x".join(str(a) for a in args[:2])
        rows.append(f"| {config} | {label} | {sched.cycles} | "
                    f"{math.ceil(RAW_CYCLES / sched.cycles)} | {speed:,.0f} | {built[0]} | "
                    f"{built[1]} |")
        print(f"bench: raw {config} done", file=sys.stderr, flush=True)
    return rows


def kernel_speed_table(config: str, repeat: int = 3, seed: int = 0) -> list[str]:
    cfg = TileConfig.named(config)
    rng = np.random.default_rng(seed)
    rows = ["| kernel | cycles (RTL) | == golden == predicted | bit-exact | harness cycles/s | "
            "raw Verilator cycles/s | harness cost (raw / harness) |",
            "|---|---:|:---:|:---:|---:|---:|---:|"]
    for name, args in KERNEL_RUNS[config]:
        prog, sched, inputs, job = _kernel_job(cfg, name, args, rng)
        out = "y"
        gold = run_golden(prog, inputs, [out])
        results = rtl_tile.run_jobs(cfg, [job] * repeat)
        rtl = rtl_result(prog, results[0], [out])
        same = rtl.error is None and rtl.cycles == gold.cycles == sched.cycles
        exact = rtl.error is None and np.array_equal(rtl.outputs[out], gold.outputs[out])
        harness = statistics.median(r.cycles / r.run_seconds for r in results)
        raw = _raw_speed(cfg, job, sched.cycles, repeat)
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
    ap.add_argument("--raw", default="small,default",
                    help="tiles of the raw speed table, comma-separated ('' for none)")
    a = ap.parse_args(argv)
    raw_configs = [c for c in a.raw.split(",") if c]
    unknown = sorted(set(raw_configs) - set(RAW_PROGRAM))
    if unknown:
        print(f"error: --raw: no tile {', '.join(unknown)} (choose from "
              f"{', '.join(sorted(RAW_PROGRAM))})", file=sys.stderr)
        return 1
    if raw_configs:
        print(f"\n## Raw Verilator speed of the tile models (median of {a.repeat} "
              f"measurements of {RAW_CYCLES:,} tile cycles, seed 0)\n")
        print("raw = verif/raw_main.cpp, timed from START taking effect (status RUNNING) to "
              "busy falling; build times as recorded when each model was built\n")
        print("\n".join(raw_speed_table(raw_configs, a.repeat)))
    print(f"\n## Whole kernels on the RTL ({a.config} tile, Verilator, median of {a.repeat} "
          "runs, seed 0)\n")
    print("harness = cocotb testbench, START to done with no Python wake-up per cycle; raw = "
          "the same Verilog and Verilator flags driven by verif/raw_main.cpp, timed as "
          "above\n")
    print("\n".join(kernel_speed_table(a.config, a.repeat)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
