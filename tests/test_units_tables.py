"""The table-based unit functions (sw/units.py: SILU, GELU, EXP, RECIP, RSQRT and their ROM
words) against float64 math and Python-int step-by-step references.

The references are written from the ISA semantics text, never by calling the function under
test. The integer ops, byte planes, SXM and MXM are in tests/test_units.py.
"""

import math
import os

import numpy as np
import pytest

from lpu.sw import bounds as B
from lpu.sw import units as U
from lpu.sw.isa import DTYPE_INFO

INT32_MAX = DTYPE_INFO["i32"].hi


# ---------------------------------------------------------------------------------------------
# Tables: SILU, GELU, EXP over all 256 inputs
# ---------------------------------------------------------------------------------------------

X8 = np.arange(-128, 128)
# Measured bounds (python -m lpu.sw.bounds), quoted in docs/numerics.md, rounded up.
SILU_MAX_ABS = 0.030905  # real units (Q3.4 LSB = 1/16): 0.4945 LSB at x = -58
GELU_MAX_ABS = 0.031103  # 0.4977 LSB at x = -35
EXP_MAX_REL = 0.018145  # at x = -125 (the Q15.16 LSB limits small results)


def silu_np(v):
    return v * 0.5 * (1.0 + np.tanh(v / 2.0))  # sigmoid by tanh, not by exp


def gelu_np(v):
    return v * np.array([0.5 * math.erfc(-t / math.sqrt(2.0)) for t in v])  # Phi by erfc


def round_away_np(v):
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


@pytest.mark.parametrize("name", ["SILU", "GELU"])
def test_q34_tables_exhaustive(name):
    fn, table, ref, bound = {
        "SILU": (U.silu_q34, U.SILU_TABLE, silu_np, SILU_MAX_ABS),
        "GELU": (U.gelu_q34, U.GELU_TABLE, gelu_np, GELU_MAX_ABS),
    }[name]
    assert table.dtype == np.int8 and table.shape == (256,)
    z = fn(X8.astype(np.int8))
    assert z.dtype == np.int8
    exact = ref(X8 / 16.0)
    want = np.clip(round_away_np(exact * 16.0), -128, 127)
    assert np.array_equal(z.astype(np.int64), want.astype(np.int64))
    # indexing by x & 0xff
    assert all(int(table[int(x) & 0xFF]) == int(v) for x, v in zip(X8, z, strict=True))
    err = np.abs(z / 16.0 - exact)
    assert err.max() < 1 / 32  # no entry saturates, so rounding is the only error
    assert err.max() <= bound
    assert err.max() > bound - 1e-5  # the documented bound is tight


def test_q34_tables_shape_of_function():
    s, g = U.SILU_TABLE.astype(int), U.GELU_TABLE.astype(int)
    idx = X8 & 0xFF
    # no saturation happens: the extreme outputs are well inside int8
    assert s[idx].max() == 127 and s[idx].min() == -4
    assert g[idx].max() == 127 and g[idx].min() == -3
    assert s[0] == 0 and g[0] == 0
    assert np.all(np.diff(s[idx][X8 >= -20]) >= 0)  # monotone right of the minimum


def test_exp_table_exhaustive():
    assert U.EXP_TABLE.dtype == np.int32 and U.EXP_TABLE.shape == (256,)
    z = U.exp_q34(X8.astype(np.int8))
    assert z.dtype == np.int32
    exact = np.exp(X8 / 16.0) * 65536.0
    assert np.array_equal(z.astype(np.int64), np.round(exact).astype(np.int64))  # no ties
    err = np.abs(z - exact)
    assert err.max() <= 0.5
    rel = err / exact
    assert rel.max() <= EXP_MAX_REL
    assert rel[X8 >= 0].max() < 2**-17
    assert int(z[X8 == 0][0]) == 65536
    assert int(z[X8 == -128][0]) == 22 and int(z[X8 == 127][0]) == 183523795
    assert np.all(np.diff(z.astype(np.int64)) > 0)


def test_tables_do_not_depend_on_libm():
    # every unrounded value is far (in LSB) from a rounding tie, compared with float64 error
    for name, m in B.table_margins().items():
        assert m > 1e-3, name


def test_table_inputs_reject_wide_values():
    with pytest.raises(ValueError):
        U.silu_q34([128])
    with pytest.raises(ValueError):
        U.exp_q34([-129])


# ---------------------------------------------------------------------------------------------
# RECIP and RSQRT
# ---------------------------------------------------------------------------------------------

# Bounds quoted in docs/numerics.md (measured by python -m lpu.sw.bounds), rounded up.
TABLE_REL = 2**-9 + 1e-9  # either table alone
REL_GE_256 = 0.002884  # results of at least 256 LSB (true value >= 2**-8), exhaustive max


def recip_py(a):
    """RECIP from the step list in the docstring, in Python ints (bit_length as the LOD)."""
    if a <= 0:
        return INT32_MAX
    p = a.bit_length() - 1
    i = ((a << (30 - p)) >> 22) & 0xFF
    t = int(U.RECIP_TABLE[i])
    s = 16 - p
    z = t << s if s >= 0 else (t + (1 << (-s - 1))) >> -s
    return min(z, INT32_MAX)


def rsqrt_py(a):
    if a <= 0:
        return INT32_MAX
    p = a.bit_length() - 1
    i = ((a << (30 - p)) >> 23) & 0x7F
    t = int(U.RSQRT_TABLE[((p & 1) << 7) | i])
    s = 8 - (p >> 1)
    return t << s if s >= 0 else (t + (1 << (-s - 1))) >> -s


def sweep():
    pw = [2**k for k in range(31)]
    special = sorted({v for k in pw for v in (k - 1, k, k + 1) if 1 <= v <= INT32_MAX}
                     | {INT32_MAX, 3, 5, 65535, 65536, 65537})
    rng = np.random.default_rng(5)
    return np.unique(np.concatenate([special, rng.integers(1, INT32_MAX, 100_000,
                                                           endpoint=True)]))


def test_recip_rsqrt_tables_match_float_construction():
    f0 = 1 + np.arange(256) / 256
    want = np.round(65536 * 2 / (f0 + (f0 + 1 / 256)))
    assert np.array_equal(U.RECIP_TABLE, want.astype(np.int64))
    g0 = np.concatenate([(128 + np.arange(128)) / 128, 2 * (128 + np.arange(128)) / 128])
    g1 = np.concatenate([(129 + np.arange(128)) / 128, 2 * (129 + np.arange(128)) / 128])
    want = np.round(65536 * 2 / (np.sqrt(g0) + np.sqrt(g1)))
    assert np.array_equal(U.RSQRT_TABLE, want.astype(np.int64))
    for t in (U.RECIP_TABLE, U.RSQRT_TABLE):
        assert t.shape == (256,) and t.min() >= 2**15 and t.max() < 2**16  # 16-bit, bit 15 set
        assert np.array_equal(t, np.array(sorted(t.tolist(), reverse=True)))
    assert np.array_equal(U.recip_table(), U.RECIP_TABLE)
    assert np.array_equal(U.rsqrt_table(), U.RSQRT_TABLE)


def test_leading_one():
    a = sweep()
    assert U.leading_one(a).tolist() == [int(v).bit_length() - 1 for v in a]


@pytest.mark.parametrize("name", ["RECIP", "RSQRT"])
def test_recip_rsqrt_special_cases(name):
    fn = U.recip_q16 if name == "RECIP" else U.rsqrt_q16
    bad = [0, -1, -65536, -(2**31)]
    z = fn(np.array(bad, np.int32))
    assert z.dtype == np.int32 and z.tolist() == [INT32_MAX] * 4
    # results of exact powers of two are within the table error
    for e in range(-16, 15):
        a = 2 ** (16 + e)
        got = int(fn([a])[0])
        want = 2 ** (16 - e) if name == "RECIP" else 2 ** 16 / math.sqrt(2.0**e)
        want = min(want, INT32_MAX)
        assert abs(got - want) <= TABLE_REL * want + 0.5, (name, a, got, want)


def test_recip_saturation():
    # a = 2: entry 0 = round(2**25 / 513) = 65408, shifted left 15 (true 2**31 overflows, the
    # table value does not); a = 3 is f = 1.5, entry 128 = round(2**25 / 769) = 43634
    assert U.recip_q16([1, 2, 3]).tolist() == [INT32_MAX, 65408 << 15, 43634 << 15]
    assert U.rsqrt_q16([1]).tolist() == [65408 << 8]  # 2**24 * (1 - 2**-9): no saturation
    assert U.recip_q16([INT32_MAX]).tolist() == [2]


@pytest.mark.parametrize("name", ["RECIP", "RSQRT"])
def test_recip_rsqrt_sweep(name):
    a = sweep()
    if name == "RECIP":
        fn, py, true = U.recip_q16, recip_py, 2.0**32 / a
    else:
        fn, py, true = U.rsqrt_q16, rsqrt_py, 2.0**24 / np.sqrt(a.astype(np.float64))
    z = fn(a)
    assert z.dtype == np.int32
    # bit-exact against the step-by-step algorithm on a subset (Python ints are slow)
    sub = a[:: max(1, len(a) // 5000)]
    assert fn(sub).tolist() == [py(int(v)) for v in sub]
    tc = np.minimum(true, INT32_MAX)
    err = np.abs(z - tc)
    # everywhere: table error plus half an output LSB for the rounding right shift
    assert np.all(err <= TABLE_REL * tc + 0.5)
    big = tc >= 256
    assert (err / tc)[big].max() <= REL_GE_256
    if name == "RSQRT":
        assert big.all()  # 2**24 / sqrt(2**31) = 362.0: RSQRT results are never that small
    # monotone: a larger input never gives a larger result
    assert np.all(np.diff(z.astype(np.int64)) <= 0)


def test_recip_rsqrt_small_inputs_exhaustive():
    # every input up to 2**17 (all outputs that are left shifts of the table) and around 2**24
    a = np.concatenate([np.arange(1, 2**17 + 1), np.arange(2**24 - 4096, 2**24 + 4096)])
    for fn, true in ((U.recip_q16, 2.0**32 / a), (U.rsqrt_q16, 2.0**24 / np.sqrt(a))):
        z = fn(a)
        tc = np.minimum(true, INT32_MAX)
        assert np.all(np.abs(z - tc) <= TABLE_REL * tc + 0.5)
        assert np.all(np.diff(z.astype(np.int64)) <= 0)


@pytest.mark.skipif(not os.environ.get("LPU_LONG"), reason="set LPU_LONG=1 (make test-long)")
def test_recip_rsqrt_exhaustive_long():
    # every positive int32 (about 4 minutes): the bounds quoted in docs/numerics.md
    step = 1 << 16
    worst = {"RECIP": 0.0, "RSQRT": 0.0}
    for lo in range(1, INT32_MAX + 1, step):
        a = np.arange(lo, min(lo + step, INT32_MAX + 1), dtype=np.int64)
        for name, fn, true in (("RECIP", U.recip_q16, 2.0**32 / a),
                               ("RSQRT", U.rsqrt_q16, 2.0**24 / np.sqrt(a))):
            tc = np.minimum(true, INT32_MAX)
            err = np.abs(fn(a) - tc)
            assert np.all(err <= TABLE_REL * tc + 0.5), (name, lo)
            big = tc >= 256
            if big.any():
                worst[name] = max(worst[name], float((err / tc)[big].max()))
    assert max(worst.values()) <= REL_GE_256
    assert worst["RECIP"] > 0.00288 and worst["RSQRT"] > 0.00280  # the bounds are tight



def test_error_bounds_report_runs():
    b = B.error_bounds(n_random=2000)
    assert b["SILU"]["max_abs_real"] <= SILU_MAX_ABS and b["GELU"]["max_abs_real"] <= GELU_MAX_ABS
    for name in ("RECIP", "RSQRT"):
        assert b[name]["table_rel"] <= TABLE_REL
        assert b[name]["excess_lsb"] <= 0.5


def test_rom_words():
    for name, width in U.ROM_WIDTHS.items():
        words = U.rom_words(name)
        assert len(words) == 256 and all(0 <= w < 2**width for w in words)
    assert U.rom_words("SILU")[0xFF] == int(U.SILU_TABLE[0xFF]) & 0xFF  # x = -1
    assert U.rom_words("RECIP") == U.RECIP_TABLE.tolist()
    assert U.rom_words("EXP") == U.EXP_TABLE.tolist()
    assert max(U.rom_words("EXP")) < 2**28
