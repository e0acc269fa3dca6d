"""``make demo``: the SwiGLU FFN kernel end to end on the golden model, checked against numpy."""

from __future__ import annotations

import argparse
import time

import numpy as np

from . import reference
from .asm import assemble_text
from .config import TileConfig
from .golden import run_golden
from .kernels.ffn import ffn
from .kernels.gemv import gemv_bound
from .schedule import schedule


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--f", type=int, default=256)
    ap.add_argument("--mult", type=int, default=1)
    ap.add_argument("--shift", type=int, default=11)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    cfg = TileConfig()
    text = ffn(cfg, a.d, a.f, a.mult, a.shift)
    prog = assemble_text(f"ffn_d{a.d}_f{a.f}.s", text)
    sched = schedule(prog)
    words = sum(s.words for s in sched.queues.values())
    print(f"ffn d={a.d} f={a.f} mult={a.mult} shift={a.shift}: {words} instruction words, "
          f"predicted {sched.cycles} cycles")
    rng = np.random.default_rng(a.seed)
    x = rng.integers(-128, 128, a.d, dtype=np.int8)
    wg, wu = (rng.integers(-128, 128, (a.d, a.f), dtype=np.int8) for _ in range(2))
    wd = rng.integers(-128, 128, (a.f, a.d), dtype=np.int8)
    t0 = time.perf_counter()
    result = run_golden(sched.image,
                        {"x": x, "w_gate": wg, "w_up": wu, "w_down": wd}, ["y"])
    wall = time.perf_counter() - t0
    if result.error:
        print(f"golden run stopped: {result.error}")
        return 1
    y = result.outputs["y"]
    exact = reference.ffn(x, wg, wu, wd, a.mult, a.shift)
    y_float = reference.ffn_float(x, wg, wu, wd, a.mult, a.shift)
    bound = reference.ffn_error_bound(x, wg, wu, wd, a.mult, a.shift)
    err = np.abs(y.astype(np.float64) - y_float)
    same = int((y == exact).sum())
    print(f"golden model (seed {a.seed}): {result.cycles} cycles, predicted {sched.cycles}: "
          f"{'equal' if result.cycles == sched.cycles else 'DIFFERENT'}; "
          f"{result.cycles / wall:,.0f} simulated cycles/s")
    print(f"integer numpy reference: {same}/{y.size} int32 outputs bit-exact")
    print(f"float SwiGLU reference: max |y - y_float| = {err.max():.1f} (y in units of 1/16), "
          f"per-output bound held for {int((err <= bound).sum())}/{y.size}, "
          f"median relative error {np.median(err / np.maximum(np.abs(y_float), 1)):.3%}")
    g_bound = gemv_bound(cfg, a.d, 2 * a.f) + gemv_bound(cfg, a.f, a.d)
    print(f"GEMV bound: {g_bound} cycles ({3 * a.d * a.f} weight bytes / ({cfg.lanes} lanes x "
          f"{2 * cfg.mem_slices * cfg.mem_banks} MEM bank queues)); the kernel runs at "
          f"{100 * g_bound / result.cycles:.1f}% of it")
    ok = same == y.size and result.cycles == sched.cycles and bool((err <= bound).all())
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
