"""Measured error bounds of the table-based VXM functions against float (docs/numerics.md).

``python -m lpu.sw.bounds [--exhaustive]`` prints the figures docs/numerics.md quotes.
"""

from __future__ import annotations

import math
import sys

import numpy as np

from .units import (
    EXP_TABLE,
    GELU_TABLE,
    INT32_MAX,
    RECIP_TABLE,
    RSQRT_TABLE,
    SILU_TABLE,
    TABLE_INPUTS,
    gelu_real,
    recip_q16,
    rsqrt_q16,
    silu_real,
)


def table_margins() -> dict[str, float]:
    """Smallest distance of an unrounded table value from a rounding boundary (x.5), in LSB.

    A margin far above the float64 error (about 1e-13 LSB here) means the rounded tables cannot
    depend on the platform's libm.
    """
    out = {}
    for name, f, scale in (("SILU", silu_real, 16.0), ("GELU", gelu_real, 16.0),
                           ("EXP", math.exp, 65536.0)):
        vals = [f(int(x) / 16.0) * scale for x in TABLE_INPUTS]
        out[name] = min(abs(abs(v) - math.floor(abs(v)) - 0.5) for v in vals)
    return out




# ---------------------------------------------------------------------------------------------
# Measured error bounds (python -m lpu.sw.bounds)
# ---------------------------------------------------------------------------------------------


def _q34_errors(table: np.ndarray, f) -> tuple[float, int]:
    """Max |table - f| in real units over all int8 inputs, and the input where it occurs."""
    err = [abs(int(table[k]) / 16.0 - f(int(x) / 16.0)) for k, x in enumerate(TABLE_INPUTS)]
    k = int(np.argmax(err))
    return err[k], int(TABLE_INPUTS[k])


def recip_sweep(n_random: int = 100_000, seed: int = 1) -> np.ndarray:
    """The dense RECIP/RSQRT test set: every power of two 2**0..2**30, its +-1 neighbours,
    int32 max, and ``n_random`` seeded uniform positive int32 (sorted, unique)."""
    pw = np.array([1 << k for k in range(31)], dtype=np.int64)
    rng = np.random.default_rng(seed)
    vals = np.concatenate([pw, pw - 1, pw + 1, [INT32_MAX],
                           rng.integers(1, INT32_MAX, n_random, endpoint=True)])
    return np.unique(vals[(vals >= 1) & (vals <= INT32_MAX)])


def recip_true(a: np.ndarray) -> np.ndarray:
    """2**32 / a as float64 (relative error 2**-53), the exact RECIP result before rounding."""
    return 4294967296.0 / a.astype(np.float64)


def rsqrt_true(a: np.ndarray) -> np.ndarray:
    """2**24 / sqrt(a) as float64, the exact RSQRT result before rounding."""
    return 16777216.0 / np.sqrt(a.astype(np.float64))


def recip_table_error() -> float:
    """Largest relative error of the RECIP table alone: sup |T[i] / 2**16 * f - 1| over each
    entry's interval f in [f0, f1) (the error is monotone in f, so the ends bound it)."""
    t = RECIP_TABLE.astype(np.float64) / 65536.0
    f0 = 1.0 + np.arange(256) / 256.0
    return float(np.maximum(np.abs(t * f0 - 1.0), np.abs(t * (f0 + 1.0 / 256.0) - 1.0)).max())


def rsqrt_table_error() -> float:
    """Largest relative error of the RSQRT table alone: sup |T / 2**16 * sqrt(g) - 1| over each
    entry's interval g in [g0, g1)."""
    t = RSQRT_TABLE.astype(np.float64) / 65536.0
    n = np.concatenate([np.arange(128, 256), 2 * np.arange(128, 256)]).astype(np.float64)
    step = np.concatenate([np.ones(128), 2 * np.ones(128)])
    g0, g1 = n / 128.0, (n + step) / 128.0
    return float(np.maximum(np.abs(t * np.sqrt(g0) - 1.0), np.abs(t * np.sqrt(g1) - 1.0)).max())


def _rel_stats(z: np.ndarray, t: np.ndarray, e_table: float) -> dict[str, float]:
    """Errors of z against the true t (t clipped to int32 max = the saturated true result)."""
    tc = np.minimum(t, float(INT32_MAX))
    err = np.abs(z.astype(np.float64) - tc)
    rel = err / tc
    big = tc >= 256.0
    return {
        "rel_result_ge_256": float(rel[big].max()) if big.any() else 0.0,
        "rel_all": float(rel.max()),
        "abs_lsb_result_lt_256": float(err[~big].max()) if (~big).any() else 0.0,
        "excess_lsb": float((err - e_table * tc).max()),
    }


def error_bounds(n_random: int = 100_000, seed: int = 1, exhaustive: bool = False) -> dict:
    """Measure every table/approximation error bound quoted in docs/numerics.md."""
    out = {}
    for name, table, f in (("SILU", SILU_TABLE, silu_real), ("GELU", GELU_TABLE, gelu_real)):
        e, at = _q34_errors(table, f)
        out[name] = {"max_abs_real": e, "max_abs_lsb": e * 16.0, "at_x": at}
    exp_true = np.array([math.exp(int(x) / 16.0) * 65536.0 for x in TABLE_INPUTS])
    exp_abs = np.abs(EXP_TABLE.astype(np.float64) - exp_true)
    exp_rel = exp_abs / exp_true
    out["EXP"] = {"max_abs_lsb": float(exp_abs.max()), "max_rel": float(exp_rel.max()),
                  "max_rel_at_x": int(TABLE_INPUTS[int(np.argmax(exp_rel))]),
                  "max_rel_x_ge_0": float(exp_rel[TABLE_INPUTS >= 0].max())}
    out["table margins (LSB)"] = table_margins()
    if exhaustive:
        step = 1 << 16  # small chunks stay in cache: about 4 minutes in all
        chunks = (np.arange(lo, min(lo + step, INT32_MAX + 1), dtype=np.int64)
                  for lo in range(1, INT32_MAX + 1, step))
        inputs = "all 2**31 - 1 positive int32"
    else:
        sweep = recip_sweep(n_random, seed)
        chunks = iter([sweep])
        inputs = (f"{len(sweep)} values: powers of two, +-1, {n_random} random (seed {seed})")
    recip = {"table_rel": recip_table_error()}
    rsqrt = {"table_rel": rsqrt_table_error()}
    for a in chunks:
        for stats, fn, true in ((recip, recip_q16, recip_true), (rsqrt, rsqrt_q16, rsqrt_true)):
            for k, v in _rel_stats(fn(a), true(a), stats["table_rel"]).items():
                stats[k] = max(stats.get(k, -math.inf), v)
    out["RECIP"] = {**recip, "inputs": inputs}
    out["RSQRT"] = {**rsqrt, "inputs": inputs}
    return out


def _fmt(v) -> str:
    if isinstance(v, float):
        if v == 0.0:
            return "0"
        return f"{v:.6g} (2^{math.log2(v):.2f})" if v < 1e-2 else f"{v:.6g}"
    return str(v)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    exhaustive = "--exhaustive" in argv
    for unit, stats in error_bounds(exhaustive=exhaustive).items():
        print(unit)
        for k, v in stats.items():
            print(f"  {k}: {_fmt(v)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
