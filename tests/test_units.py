"""The unit reference functions (sw/units.py) against independent Python-int references: byte
planes, the VXM integer ops, SXM and MXM.

The references here are written from the ISA semantics text with Python ints (unbounded, floor
shifts, modulo wrap), never by calling the function under test. The table-based functions
(SILU, GELU, EXP, RECIP, RSQRT) are in tests/test_units_tables.py.
"""

import math

import numpy as np
import pytest

from lpu.sw import units as U
from lpu.sw.isa import DTYPE_INFO, DTYPES

DT = DTYPES
BITS = {name: t.bits for name, t in DTYPE_INFO.items()}
NP = {name: np.dtype(t.numpy).type for name, t in DTYPE_INFO.items()}
LANE_COUNTS = (4, 8, 16, 32, 64)
INT32_MAX = DTYPE_INFO["i32"].hi


def lo_hi(dt):
    b = BITS[dt]
    return -(2 ** (b - 1)), 2 ** (b - 1) - 1


def corners(dt):
    lo, hi = lo_hi(dt)
    vals = {-128, -1, 0, 1, 127, lo, hi, lo + 1, hi - 1, 2, -2, 7, 8, 15, 16, 31, 32, 63, 64}
    vals |= {2 ** (BITS[dt] // 2), -(2 ** (BITS[dt] // 2))}
    return sorted(v for v in vals if lo <= v <= hi)


def wrap_ref(v, dt):
    b = BITS[dt]
    return (v + 2 ** (b - 1)) % 2**b - 2 ** (b - 1)


def sat_ref(v, dt):
    lo, hi = lo_hi(dt)
    return max(lo, min(hi, v))


def pairs(dt, n_random=3000, seed=0):
    """All pairs of corner values plus seeded random pairs (all 65536 pairs for i8)."""
    lo, hi = lo_hi(dt)
    if dt == "i8":
        a, b = np.meshgrid(np.arange(lo, hi + 1), np.arange(lo, hi + 1))
        return a.ravel(), b.ravel()
    c = corners(dt)
    ca, cb = np.meshgrid(c, c)
    rng = np.random.default_rng(seed)
    ra = rng.integers(lo, hi, n_random, endpoint=True)
    rb = rng.integers(lo, hi, n_random, endpoint=True)
    # small shift amounts matter for SHL/SRA: give some pairs b in 0..bits+1 and negatives
    rs = rng.integers(-BITS[dt] - 2, BITS[dt] + 2, n_random, endpoint=True)
    return (np.concatenate([ca.ravel(), ra, ra]), np.concatenate([cb.ravel(), rb, rs]))


def singles(dt, n_random=3000, seed=1):
    lo, hi = lo_hi(dt)
    if dt == "i8":
        return np.arange(lo, hi + 1)
    rng = np.random.default_rng(seed)
    return np.concatenate([corners(dt), rng.integers(lo, hi, n_random, endpoint=True)])


def as_list(x):
    return [int(v) for v in x]


def check_vec(got, want, dt):
    assert isinstance(got, np.ndarray) and got.dtype == NP[dt]
    assert as_list(got) == list(want)


# ---------------------------------------------------------------------------------------------
# Byte planes
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dt", DT)
def test_planes_little_endian_and_round_trip(dt):
    v = singles(dt).astype(NP[dt])
    p = U.to_planes(v)
    nb = BITS[dt] // 8
    assert p.shape == (nb, len(v)) and p.dtype == np.uint8
    for j in range(nb):
        assert as_list(p[j]) == [(int(x) >> (8 * j)) & 0xFF for x in v]
    # independent: the little-endian byte view of the array
    le = v.astype(np.dtype(NP[dt]).newbyteorder("<")).view(np.uint8).reshape(len(v), nb).T
    assert np.array_equal(p, le)
    back = U.from_planes(p, dt)
    assert back.dtype == NP[dt] and np.array_equal(back, v)
    assert np.array_equal(U.from_planes(p.view(np.int8), dt), v)  # int8 planes read unsigned


def test_planes_errors():
    with pytest.raises(ValueError):
        U.from_planes(np.zeros((2, 4), np.uint8), "i32")
    with pytest.raises(ValueError):
        U.from_planes(np.full((1, 4), 256), "i8")
    with pytest.raises(TypeError):
        U.to_planes(np.zeros(4, np.int64))  # type not given and not inferable
    assert U.to_planes(np.array([-1, 2]), "i16").tolist() == [[255, 2], [255, 0]]


# ---------------------------------------------------------------------------------------------
# VXM integer ops
# ---------------------------------------------------------------------------------------------


def binary_ref(op, dt, a, b):
    bits = BITS[dt]
    return {
        "ADD": lambda: wrap_ref(a + b, dt),
        "SUB": lambda: wrap_ref(a - b, dt),
        "MUL": lambda: wrap_ref(a * b, dt),
        "MIN": lambda: min(a, b),
        "MAX": lambda: max(a, b),
        "AND": lambda: a & b,
        "OR": lambda: a | b,
        "XOR": lambda: a ^ b,
        "SHL": lambda: wrap_ref(a * 2 ** (b % bits), dt),
        "SRA": lambda: math.floor(a / 2 ** (b % bits)),
        "CMPEQ": lambda: -1 if a == b else 0,
        "CMPGT": lambda: -1 if a > b else 0,
    }[op]()


@pytest.mark.parametrize("dt", DT)
@pytest.mark.parametrize("op", U.VXM_BINARY)
def test_vxm_binary(op, dt):
    a, b = pairs(dt)
    if dt == "i8" and op not in ("ADD", "MUL", "SHL", "SRA"):
        # all 65536 pairs for the ops with interesting carries; a seeded subset for the rest
        idx = np.random.default_rng(2).choice(len(a), 6000, replace=False)
        a, b = np.concatenate([a[idx], corners(dt)]), np.concatenate([b[idx], corners(dt)[::-1]])
    got = U.vxm_binary(op, dt, a.astype(NP[dt]), b.astype(NP[dt]))
    want = [binary_ref(op, dt, int(x), int(y)) for x, y in zip(a, b, strict=True)]
    check_vec(got, want, dt)


def test_vxm_binary_spot_values():
    i8 = np.int8
    assert U.vxm_binary("ADD", "i8", [127], [1]).tolist() == [-128]
    assert U.vxm_binary("MUL", "i8", [-128], [-1]).tolist() == [-128]
    assert U.vxm_binary("MUL", "i32", [2**31 - 1], [2**31 - 1]).tolist() == [1]
    assert U.vxm_binary("SHL", "i8", np.array([1, 1, 1], i8), np.array([7, 8, -1], i8)).tolist() \
        == [-128, 1, -128]  # b mod 8: 8 -> 0, -1 -> 7
    assert U.vxm_binary("SRA", "i32", [-(2**31), -1, 5], [31, 31, 33]).tolist() == [-1, -1, 2]
    assert U.vxm_binary("CMPGT", "i16", [-(2**15), 0], [2**15 - 1, -1]).tolist() == [0, -1]
    with pytest.raises(ValueError):
        U.vxm_binary("DIV", "i8", [1], [1])


@pytest.mark.parametrize("dt", DT)
def test_vxm_unary(dt):
    a = singles(dt)
    lo, _ = lo_hi(dt)
    refs = {"NEG": lambda x: wrap_ref(-x, dt), "ABS": lambda x: wrap_ref(abs(x), dt),
            "RELU": lambda x: max(x, 0), "MOV": lambda x: x}
    for op, f in refs.items():
        check_vec(U.vxm_unary(op, dt, a), [f(int(x)) for x in a], dt)
    assert U.vxm_unary("ABS", dt, [lo]).tolist() == [lo]  # |min| = min
    assert U.vxm_unary("NEG", dt, [lo]).tolist() == [lo]
    with pytest.raises(ValueError):
        U.vxm_unary("NOT", dt, [0])


@pytest.mark.parametrize("dt", DT)
def test_vxm_select(dt):
    a, b = pairs(dt)
    rng = np.random.default_rng(3)
    lo, hi = lo_hi(dt)
    m = np.where(rng.random(len(a)) < 0.5, 0, rng.integers(lo, hi, len(a), endpoint=True))
    m[:4] = [0, -1, 1, lo]
    got = U.vxm_select(dt, m, a, b)
    check_vec(got, [int(x) if int(k) != 0 else int(y) for k, x, y in zip(m, a, b, strict=True)],
              dt)


@pytest.mark.parametrize("dt", DT)
def test_vxm_addi(dt):
    a = singles(dt)
    for imm in (-2048, -129, -128, -1, 0, 1, 127, 128, 255, 2047):
        check_vec(U.vxm_addi(dt, a, imm), [wrap_ref(int(x) + imm, dt) for x in a], dt)
    for bad in (-2049, 2048):
        with pytest.raises(ValueError):
            U.vxm_addi(dt, a, bad)


@pytest.mark.parametrize("dt", DT)
def test_vxm_srai_rounds_half_up_without_overflow(dt):
    a = singles(dt)
    for n in range(32):
        # exact rational rounding: floor(a / 2^n + 1/2)
        want = [math.floor(int(x) / 2**n + 0.5) if n else int(x) for x in a]
        check_vec(U.vxm_srai(dt, a, n), want, dt)
    lo, hi = lo_hi(dt)
    assert U.vxm_srai(dt, [hi], 1).tolist() == [2 ** (BITS[dt] - 2)]  # no wrap in a + 1
    if dt != "i32":  # n >= bits (n <= 31): 0 for every a
        assert U.vxm_srai(dt, [lo, hi, -1, 1], BITS[dt]).tolist() == [0, 0, 0, 0]
        assert U.vxm_srai(dt, [lo, hi], 31).tolist() == [0, 0]
    assert U.vxm_srai(dt, [lo, hi], BITS[dt] - 1).tolist() == [-1, 1]  # -1.0 and ~+1.0
    assert U.vxm_srai(dt, [-3, -2, -1, 1, 2, 3], 1).tolist() == [-1, -1, 0, 1, 1, 2]
    with pytest.raises(ValueError):
        U.vxm_srai(dt, a, 32)


@pytest.mark.parametrize("dt", DT)
def test_vxm_const(dt):
    for imm in (-32768, -129, -128, -1, 0, 1, 127, 128, 255, 256, 32767):
        z = U.vxm_const(dt, imm, 16)
        check_vec(z, [wrap_ref(imm, dt)] * 16, dt)
    assert U.vxm_const("i8", 255, 4).tolist() == [-1] * 4
    assert U.vxm_const("i8", -32768, 4).tolist() == [0] * 4
    with pytest.raises(ValueError):
        U.vxm_const(dt, 32768, 4)


@pytest.mark.parametrize("src", DT)
@pytest.mark.parametrize("dst", DT)
def test_vxm_cvt(src, dst):
    a = singles(src)
    check_vec(U.vxm_cvt(src, dst, a), [sat_ref(int(x), dst) for x in a], dst)


def test_vxm_cvt_corners():
    assert U.vxm_cvt("i32", "i8", [2**31 - 1, -(2**31), 128, -129, 127]).tolist() == \
        [127, -128, 127, -128, 127]
    assert U.vxm_cvt("i8", "i32", np.array([-128, -1], np.int8)).tolist() == [-128, -1]
    assert U.vxm_cvt("i16", "i8", [300, -300, -5]).tolist() == [127, -128, -5]


def requant_ref(a, mult, shift):
    rnd = 2 ** (shift - 1) if shift else 0
    return sat_ref((a * mult + rnd) // 2**shift, "i8")  # // is floor, as >>


def test_requant():
    a = singles("i32", n_random=400)
    for mult in (-32768, -32767, -1, 0, 1, 2, 181, 1 << 14, 32767):
        for shift in (0, 1, 7, 8, 15, 16, 24, 31, 32, 40, 46, 47, 62, 63):
            got = U.requant(a, mult, shift)
            assert got.dtype == np.int8
            assert as_list(got) == [requant_ref(int(x), mult, shift) for x in a], (mult, shift)
    # half rounds up (toward +inf): -1.5 -> -1, 1.5 -> 2, -2.5 -> -2
    assert U.requant([-3, 3, -5], 1, 1).tolist() == [-1, 2, -2]
    assert U.requant([-(2**31)], -32768, 39).tolist() == [127]  # +2^46 >> 39 = 128 -> 127
    assert U.requant([-(2**31)], -32768, 40).tolist() == [64]
    for bad in ((1, 64), (32768, 0), (-32769, 0), (1, -1)):
        with pytest.raises(ValueError):
            U.requant([0], *bad)


@pytest.mark.parametrize("dt", DT)
def test_accum(dt):
    a, r = pairs(dt)
    check_vec(U.accum(dt, 0, r, a), as_list(a), dt)
    check_vec(U.accum(dt, 1, r, a),
              [wrap_ref(int(x) + int(y), dt) for x, y in zip(r, a, strict=True)], dt)
    check_vec(U.accum(dt, 2, r, a), [max(int(x), int(y)) for x, y in zip(r, a, strict=True)], dt)
    with pytest.raises(ValueError):
        U.accum(dt, 3, r, a)


def test_mulq():
    a, b = pairs("i32", n_random=5000)
    # also products near 1.0 and small fractions, where rounding matters
    rng = np.random.default_rng(4)
    sa = rng.integers(-(2**18), 2**18, 3000)
    sb = rng.integers(-(2**18), 2**18, 3000)
    a, b = np.concatenate([a, sa, [-(2**31), -(2**31), 2**31 - 1, 3, -3]]), \
        np.concatenate([b, sb, [-(2**31), 2**31 - 1, 2**31 - 1, 2**15, 2**15]])
    got = U.mulq(a, b)
    want = [sat_ref((int(x) * int(y) + 2**15) // 2**16, "i32") for x, y in zip(a, b, strict=True)]
    check_vec(got, want, "i32")
    assert U.mulq([65536, -(2**31), -(2**31)], [65536, -(2**31), 2**31 - 1]).tolist() == \
        [65536, INT32_MAX, -(2**31)]
    assert U.mulq([3, -3, -1], [2**15, 2**15, 2**15]).tolist() == [2, -1, 0]  # 1.5->2, -1.5->-1


def test_range_checks():
    with pytest.raises(ValueError):
        U.vxm_binary("ADD", "i8", [128], [0])
    with pytest.raises(ValueError):
        U.vxm_unary("MOV", "i16", [-(2**15) - 1])
    with pytest.raises(ValueError):
        U.mulq([2**31], [1])
    with pytest.raises(ValueError):
        U.vxm_binary("ADD", "i64", [0], [0])
    with pytest.raises(TypeError):
        U.vxm_binary("ADD", "i8", [0.5], [0])


# ---------------------------------------------------------------------------------------------
# SXM
# ---------------------------------------------------------------------------------------------


def rand_vec(dt, lanes, seed):
    lo, hi = lo_hi(dt)
    return np.random.default_rng(seed).integers(lo, hi, lanes, endpoint=True).astype(NP[dt])


@pytest.mark.parametrize("lanes", LANE_COUNTS)
@pytest.mark.parametrize("dt", DT)
def test_sxm_shift_rotate_bcast(dt, lanes):
    a = rand_vec(dt, lanes, lanes)
    al = as_list(a)
    for n in range(-64, 64):
        z = U.sxm_shift(a, n)
        assert z.dtype == NP[dt]
        assert as_list(z) == [al[k - n] if 0 <= k - n < lanes else 0 for k in range(lanes)]
    for n in range(lanes):
        assert as_list(U.sxm_rotate(a, n)) == [al[(k - n) % lanes] for k in range(lanes)]
    for lane in range(lanes):
        z = U.sxm_bcast(a, lane)
        assert z.dtype == NP[dt] and as_list(z) == [al[lane]] * lanes
    assert as_list(U.sxm_shift(a, 0)) == al and as_list(U.sxm_rotate(a, 0)) == al
    with pytest.raises(ValueError):
        U.sxm_bcast(a, lanes)


@pytest.mark.parametrize("lanes", LANE_COUNTS)
@pytest.mark.parametrize("dt", DT)
def test_sxm_permute(dt, lanes):
    a = rand_vec(dt, lanes, 7)
    al = as_list(a)
    ident = np.arange(lanes, dtype=np.uint8)
    assert as_list(U.sxm_permute(a, ident)) == al
    assert as_list(U.sxm_permute(a, ident[::-1].copy())) == al[::-1]
    rng = np.random.default_rng(lanes)
    for _ in range(20):
        t = rng.integers(0, 256, lanes).astype(np.uint8)
        t[: lanes // 2] %= lanes  # mix of in-range (replication) and zero-fill entries
        z = U.sxm_permute(a, t)
        assert z.dtype == NP[dt]
        assert as_list(z) == [al[m] if m < lanes else 0 for m in as_list(t)]
    # a SETMAP source is an int8 stream: -1 is 255 (zero fill), 5 is lane 5
    t8 = np.array([-1, 1] + [0] * (lanes - 2), dtype=np.int8)
    assert as_list(U.sxm_permute(a, t8)) == [0, al[1]] + [al[0]] * (lanes - 2)
    assert as_list(U.sxm_permute(a, np.full(lanes, lanes, np.uint8))) == [0] * lanes


@pytest.mark.parametrize("lanes", LANE_COUNTS)
def test_sxm_transpose(lanes):
    rng = np.random.default_rng(lanes)
    p = rng.integers(0, 256, (4, lanes)).astype(np.uint8)
    z = U.sxm_transpose(p)
    assert z.shape == (4, lanes) and z.dtype == np.uint8
    for j in range(4):
        for b in range(lanes // 4):
            for i in range(4):
                assert z[j, 4 * b + i] == p[i, 4 * b + j]
    assert np.array_equal(U.sxm_transpose(z), p)  # an involution
    # an i32 vector in lanes 4b..4b+3 becomes one lane's 4 bytes spread over 4 streams
    v = np.arange(lanes, dtype=np.int32) * 0x01010101
    assert np.array_equal(U.sxm_transpose(U.to_planes(v))[:, 0], U.to_planes(v)[0, :4])
    with pytest.raises(ValueError):
        U.sxm_transpose(np.zeros((4, 6), np.uint8))


@pytest.mark.parametrize("lanes", LANE_COUNTS)
@pytest.mark.parametrize("dt", DT)
def test_sxm_reductions(dt, lanes):
    lo, hi = lo_hi(dt)
    cases = [rand_vec(dt, lanes, s) for s in range(5)]
    cases += [np.full(lanes, hi, NP[dt]), np.full(lanes, lo, NP[dt]), np.zeros(lanes, NP[dt])]
    tie = np.zeros(lanes, NP[dt])
    tie[1] = tie[lanes - 1] = hi
    cases.append(tie)
    for a in cases:
        al = as_list(a)
        check_vec(U.sxm_rsum(dt, a), [wrap_ref(sum(al), dt)] * lanes, dt)
        check_vec(U.sxm_rmax(dt, a), [max(al)] * lanes, dt)
        z = U.sxm_argmax(a)
        assert z.dtype == np.int8 and as_list(z) == [al.index(max(al))] * lanes
    assert as_list(U.sxm_argmax(tie)) == [1] * lanes
    assert as_list(U.sxm_argmax(np.zeros(lanes, NP[dt]))) == [0] * lanes


def test_sxm_rsum_wraps():
    assert U.sxm_rsum("i8", np.full(16, 127, np.int8)).tolist() == [wrap_ref(16 * 127, "i8")] * 16
    assert U.sxm_rsum("i32", np.full(4, 2**31 - 1, np.int32)).tolist() == [-4] * 4


# ---------------------------------------------------------------------------------------------
# MXM
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lanes", LANE_COUNTS)
def test_mxm_product(lanes):
    rng = np.random.default_rng(lanes)
    for trial in range(3):
        x = rng.integers(-128, 128, lanes).astype(np.int8)
        w = rng.integers(-128, 128, (lanes, lanes)).astype(np.int8)
        if trial == 1:
            x[:], w[:] = -128, -128  # the largest sum: lanes * 2**14
        y = U.mxm_product(x, w)
        want = [sum(int(x[k]) * int(w[k, j]) for k in range(lanes)) for j in range(lanes)]
        check_vec(y, want, "i32")
        acc = rng.integers(-(2**31), 2**31, lanes).astype(np.int32)
        check_vec(U.mxm_abc(acc, x, w, 1),
                  [wrap_ref(int(c) + v, "i32") for c, v in zip(acc, want, strict=True)], "i32")
        check_vec(U.mxm_abc(acc, x, w, 0), want, "i32")
    # identity weights give x back
    eye = np.eye(lanes, dtype=np.int8)
    x = np.arange(-lanes // 2, lanes // 2, dtype=np.int8)
    assert as_list(U.mxm_product(x, eye)) == as_list(x)
    with pytest.raises(ValueError):
        U.mxm_product(x, np.zeros((lanes, lanes + 1), np.int8))
