"""``make bench``: measured performance tables (GEMV cycles against the MEM bound, model speed)."""

from __future__ import annotations

import argparse
import time

import numpy as np

from . import reference
from .asm import assemble_text
from .config import TileConfig
from .errors import LpuError
from .golden import run_golden
from .kernels.builder import KernelError
from .kernels.gemv import gemv, gemv_bound, mem_slices
from .schedule import schedule

GEMV_SIZES = ((64, 64), (128, 128), (256, 256), (512, 512), (256, 1024), (1024, 256))


def gemv_table(cfg: TileConfig, sizes, seed: int = 0) -> list[str]:
    rows = ["| K | N | cycles (golden) | predicted | bound | % of bound | bit-exact | golden cycles/s |",
            "|---:|---:|---:|---:|---:|---:|:---:|---:|"]
    rng = np.random.default_rng(seed)
    for k, n in sizes:
        try:
            prog = assemble_text(f"gemv_{k}x{n}.s", gemv(cfg, k, n))
            sched = schedule(prog)
        except (KernelError, LpuError) as e:  # the MEM or an instruction queue is too small
            rows.append(f"| {k} | {n} | {e} | | | | | |")
            continue
        x = rng.integers(-128, 128, k, dtype=np.int8)
        w = rng.integers(-128, 128, (k, n), dtype=np.int8)
        t0 = time.perf_counter()
        r = run_golden(sched.image, {"x": x, "w": w}, ["y"])
        dt = time.perf_counter() - t0
        exact = r.error is None and np.array_equal(r.outputs["y"], reference.gemv(x, w))
        bound = gemv_bound(cfg, k, n)
        rows.append(f"| {k} | {n} | {r.cycles} | {sched.cycles} | {bound} | "
                    f"{100 * bound / r.cycles:.1f} | {'yes' if exact else 'NO'} | "
                    f"{r.cycles / dt:,.0f} |")
    return rows


def parse_sizes(text: str) -> tuple[tuple[int, int], ...]:
    """``KxN,KxN,...`` -> ((K, N), ...); argparse reports a ValueError as a usage error."""
    try:
        sizes = tuple(tuple(int(v) for v in item.split("x")) for item in text.split(","))
    except ValueError:
        sizes = ()
    if not sizes or any(len(s) != 2 or min(s) <= 0 for s in sizes):
        raise argparse.ArgumentTypeError(f"sizes are K x N pairs like 64x64,16x48, not {text!r}")
    return sizes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", default="default", help="a preset (default: default)")
    ap.add_argument("--sizes", type=parse_sizes, default=GEMV_SIZES,
                    help="GEMV sizes as KxN,KxN,... (default: "
                    + ",".join(f"{k}x{n}" for k, n in GEMV_SIZES) + ")")
    a = ap.parse_args(argv)
    try:
        cfg = TileConfig.named(a.config)
    except ValueError as e:
        ap.error(str(e))
    banks = len(mem_slices(cfg)) * cfg.mem_banks
    print(f"## GEMV on the golden model ({a.config} tile: {cfg.lanes} lanes, {banks} MEM bank "
          f"queues, seed 0)\n")
    print(f"bound = K x N weight bytes / ({cfg.lanes} lanes x {banks} bank queues), "
          "each bank queue reading one word per cycle\n")
    print("\n".join(gemv_table(cfg, a.sizes)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
