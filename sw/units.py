"""Bit-exact reference functions of the functional units, one per ISA operation.

These pure functions are the single definition of what each instruction computes. The whole-tile
golden model calls them, and the RTL testbenches compare the hardware against them, so they are
exact and deterministic: every run-time computation is integer arithmetic (numpy int64 or Python
int). The lookup tables are built once at import by the ``*_table()`` functions, with float math
(SILU, GELU, EXP) or exact integer math (RECIP, RSQRT); the RTL generator calls the same
functions to fill its ROMs. ``docs/numerics.md`` states every rule and error bound;
``python -m lpu.sw.bounds`` measures the bounds it quotes.

Conventions:

* A vector is a numpy integer array holding one value per lane; ``dtype`` is an ISA type name
  (``"i8"``, ``"i16"``, ``"i32"``). Inputs may be any integer numpy dtype (or a list) but every
  value must lie in the operand's type range, else ``ValueError``: a value that does not fit is a
  caller bug, not something to wrap silently. Results have the numpy dtype of the result type.
* Element-wise functions accept any shape; lane functions (SXM, MXM) take 1-D vectors.
* "wrap" means reduce modulo 2**bits into the signed range (two's complement); "saturate" means
  clamp to [min, max] of the type.
* Q3.4 is int8 holding value * 16; Q15.16 is int32 holding value * 65536.
"""

from __future__ import annotations

import math

import numpy as np

from .isa import DTYPE_INFO

NP_DTYPES = {name: np.dtype(t.numpy).type for name, t in DTYPE_INFO.items()}
DTYPE_BITS = {name: t.bits for name, t in DTYPE_INFO.items()}
DTYPE_RANGE = {name: (t.lo, t.hi) for name, t in DTYPE_INFO.items()}
INT32_MAX = (1 << 31) - 1

VXM_BINARY = ("ADD", "SUB", "MUL", "MIN", "MAX", "AND", "OR", "XOR", "SHL", "SRA", "CMPEQ",
              "CMPGT")
VXM_UNARY = ("NEG", "ABS", "RELU", "MOV")


# ---------------------------------------------------------------------------------------------
# Type helpers
# ---------------------------------------------------------------------------------------------


def _check_dtype(dtype: str) -> None:
    if dtype not in NP_DTYPES:
        raise ValueError(f"unknown type {dtype!r}; types: {', '.join(NP_DTYPES)}")


def _ints(a, dtype: str, name: str = "operand") -> np.ndarray:
    """``a`` as an int64 array after checking every value fits ``dtype``."""
    _check_dtype(dtype)
    arr = np.asarray(a)
    if arr.dtype == object or arr.dtype.kind not in "iub":
        if arr.size == 0:
            return arr.astype(np.int64)
        raise TypeError(f"{name} must hold integers, not {arr.dtype}")
    lo, hi = DTYPE_RANGE[dtype]
    if arr.size and (int(arr.min()) < lo or int(arr.max()) > hi):
        raise ValueError(f"{name} has values outside {dtype} ({lo}..{hi}): "
                         f"{int(arr.min())}..{int(arr.max())}")
    return arr.astype(np.int64)


def _lanes(a, dtype: str, name: str = "operand") -> np.ndarray:
    arr = _ints(a, dtype, name)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D lane vector, not shape {arr.shape}")
    return arr


def wrap(x, dtype: str) -> np.ndarray:
    """Reduce int64 values modulo 2**bits into the signed range of ``dtype`` (two's complement)."""
    _check_dtype(dtype)
    bits = DTYPE_BITS[dtype]
    x = np.asarray(x, dtype=np.int64)
    half = np.int64(1 << (bits - 1))
    mask = np.int64((1 << bits) - 1)
    return (((x + half) & mask) - half).astype(NP_DTYPES[dtype])


def saturate(x, dtype: str) -> np.ndarray:
    """Clamp int64 values to the range of ``dtype``."""
    _check_dtype(dtype)
    lo, hi = DTYPE_RANGE[dtype]
    return np.clip(np.asarray(x, dtype=np.int64), lo, hi).astype(NP_DTYPES[dtype])


def wrap_int(v: int, dtype: str) -> int:
    """Python-int version of :func:`wrap` for one immediate."""
    bits = DTYPE_BITS[dtype]
    return ((v + (1 << (bits - 1))) & ((1 << bits) - 1)) - (1 << (bits - 1))


# ---------------------------------------------------------------------------------------------
# Stream groups: byte planes
# ---------------------------------------------------------------------------------------------


def _dtype_of(arr: np.ndarray) -> str:
    for name, t in NP_DTYPES.items():
        if arr.dtype == t:
            return name
    raise TypeError(f"cannot tell the ISA type of a {arr.dtype} array; pass dtype=")


def to_planes(vec, dtype: str | None = None) -> np.ndarray:
    """Byte planes of a vector: shape (bytes, lanes) uint8, plane j = byte j (little-endian).

    This is what a stream group carries: stream ``base + j`` holds plane ``j``. ``dtype`` defaults
    to the numpy dtype of ``vec`` (int8, int16 or int32).
    """
    arr = np.asarray(vec)
    dtype = dtype or _dtype_of(arr)
    v = _ints(arr, dtype, "vec")
    nbytes = DTYPE_BITS[dtype] // 8
    return np.stack([(v >> (8 * j)) & 0xFF for j in range(nbytes)]).astype(np.uint8)


def from_planes(planes, dtype: str) -> np.ndarray:
    """Inverse of :func:`to_planes`: (bytes, lanes) byte planes to a ``dtype`` vector.

    Planes may be uint8 or int8 (an int8 byte is read as its unsigned bit pattern).
    """
    _check_dtype(dtype)
    p = np.asarray(planes)
    nbytes = DTYPE_BITS[dtype] // 8
    if p.ndim != 2 or p.shape[0] != nbytes:
        raise ValueError(f"{dtype} needs {nbytes} planes of shape (lanes,), got shape {p.shape}")
    if p.dtype.kind not in "iu" or (p.size and (int(p.min()) < -128 or int(p.max()) > 255)):
        raise ValueError("planes must hold bytes (0..255, or -128..127)")
    p = p.astype(np.int64) & 0xFF
    acc = np.zeros(p.shape[1], dtype=np.int64)
    for j in range(nbytes):
        acc |= p[j] << (8 * j)
    return wrap(acc, dtype)


# ---------------------------------------------------------------------------------------------
# VXM
# ---------------------------------------------------------------------------------------------


def vxm_binary(op: str, dtype: str, a, b) -> np.ndarray:
    """Two-operand VXM ops (``VXM_BINARY``), element-wise in ``dtype``.

    ADD, SUB, MUL wrap (MUL keeps the low half of the product). SHL and SRA shift by
    ``b mod bits`` (the low log2(bits) bits of b; SHL wraps, SRA is arithmetic). CMPEQ and CMPGT
    give -1 (all ones) where true and 0 where false.
    """
    x, y = _ints(a, dtype, "a"), _ints(b, dtype, "b")
    bits = DTYPE_BITS[dtype]
    if op == "ADD":
        r = x + y
    elif op == "SUB":
        r = x - y
    elif op == "MUL":
        r = x * y  # |x*y| <= 2**62: exact in int64
    elif op == "MIN":
        r = np.minimum(x, y)
    elif op == "MAX":
        r = np.maximum(x, y)
    elif op == "AND":
        r = x & y
    elif op == "OR":
        r = x | y
    elif op == "XOR":
        r = x ^ y
    elif op == "SHL":
        r = x << (y & (bits - 1))  # <= 2**31 * 2**31: exact in int64 before wrapping
    elif op == "SRA":
        r = x >> (y & (bits - 1))
    elif op == "CMPEQ":
        r = -(x == y).astype(np.int64)
    elif op == "CMPGT":
        r = -(x > y).astype(np.int64)
    else:
        raise ValueError(f"unknown VXM binary op {op!r}")
    return wrap(r, dtype)


def vxm_unary(op: str, dtype: str, a) -> np.ndarray:
    """NEG (wrapping: -min = min), ABS (wrapping: |min| = min), RELU (max(a, 0)), MOV."""
    x = _ints(a, dtype, "a")
    if op == "NEG":
        r = -x
    elif op == "ABS":
        r = np.abs(x)
    elif op == "RELU":
        r = np.maximum(x, 0)
    elif op == "MOV":
        r = x
    else:
        raise ValueError(f"unknown VXM unary op {op!r}")
    return wrap(r, dtype)


def vxm_select(dtype: str, m, a, b) -> np.ndarray:
    """SELECT: a where m != 0, else b (m is a ``dtype`` vector, any nonzero value selects a)."""
    mm, x, y = _ints(m, dtype, "m"), _ints(a, dtype, "a"), _ints(b, dtype, "b")
    return wrap(np.where(mm != 0, x, y), dtype)


def _check_imm(name: str, v: int, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or not lo <= v <= hi:
        raise ValueError(f"{name} = {v!r} is outside {lo}..{hi}")
    return int(v)


def vxm_addi(dtype: str, a, imm: int) -> np.ndarray:
    """ADDI: a + imm, wrapping; imm is the 12-bit signed immediate (-2048..2047)."""
    imm = _check_imm("imm", imm, -2048, 2047)
    return wrap(_ints(a, dtype, "a") + imm, dtype)


def vxm_srai(dtype: str, a, n: int) -> np.ndarray:
    """SRAI: (a + (1 << (n-1) if n else 0)) >> n, arithmetic shift rounding half up, n 0..31.

    The addition is done one bit wider than the type, so it never overflows (a = max, n = 1
    gives 2**(bits-2), not a negative number). The result always fits the type; for n >= bits it
    is 0 for every a. The final wrap is therefore a no-op, kept for uniformity.
    """
    n = _check_imm("n", n, 0, 31)
    x = _ints(a, dtype, "a")
    rnd = (1 << (n - 1)) if n else 0
    return wrap((x + rnd) >> n, dtype)


def vxm_const(dtype: str, imm: int, lanes: int) -> np.ndarray:
    """CONST: imm (16-bit signed immediate) in every lane, wrapped to the type."""
    imm = _check_imm("imm", imm, -32768, 32767)
    return np.full(lanes, wrap_int(imm, dtype), dtype=NP_DTYPES[dtype])


def vxm_cvt(src: str, dst: str, a) -> np.ndarray:
    """CVT: sign extension when widening, saturation when narrowing, identity otherwise."""
    _check_dtype(dst)
    return saturate(_ints(a, src, "a"), dst)


def requant(a_i32, mult: int, shift: int) -> np.ndarray:
    """REQUANT: int8 = saturate((a * mult + (1 << (shift-1) if shift else 0)) >> shift).

    ``a`` is int32, ``mult`` the signed 16-bit QPARAM multiplier, ``shift`` 0..63. The product is
    exact (|a * mult| <= 2**46), the rounding term at most 2**62, so the sum fits int64; ``>>`` is
    an arithmetic shift (floor), so the rounding is half up (toward +infinity).
    """
    mult = _check_imm("mult", mult, -32768, 32767)
    shift = _check_imm("shift", shift, 0, 63)
    x = _ints(a_i32, "i32", "a")
    rnd = (1 << (shift - 1)) if shift else 0
    return saturate((x * mult + rnd) >> shift, "i8")


def accum(dtype: str, mode: int, r, a) -> np.ndarray:
    """ACCUM: the new running register: a (mode 0), r + a wrapping (1), max(r, a) (2).

    ``r`` is the register before the instruction (a ``dtype`` vector). Mode 3 is illegal.
    """
    x, reg = _ints(a, dtype, "a"), _ints(r, dtype, "r")
    if mode == 0:
        out = x
    elif mode == 1:
        out = reg + x
    elif mode == 2:
        out = np.maximum(reg, x)
    else:
        raise ValueError(f"ACCUM mode {mode!r} is illegal (0 load, 1 sum, 2 max)")
    return wrap(out, dtype)


def mulq(a_i32, b_i32) -> np.ndarray:
    """MULQ: saturate_int32((a * b + 2**15) >> 16), the Q15.16 product rounded half up."""
    x, y = _ints(a_i32, "i32", "a"), _ints(b_i32, "i32", "b")
    return saturate((x * y + (1 << 15)) >> 16, "i32")  # |x*y| <= 2**62: exact in int64


# ---------------------------------------------------------------------------------------------
# VXM tables: SILU, GELU (Q3.4 -> Q3.4), EXP (Q3.4 -> Q15.16)
# ---------------------------------------------------------------------------------------------

#: The 256 int8 table inputs in table-index order: index k holds input x with x & 0xff == k.
TABLE_INPUTS = np.array([k - 256 if k >= 128 else k for k in range(256)], dtype=np.int64)


def round_half_away(v: float) -> int:
    """Round to the nearest integer, ties away from zero."""
    r = math.floor(abs(v) + 0.5)
    return -r if v < 0 else r


def silu_real(v: float) -> float:
    """silu(v) = v * sigmoid(v) = v / (1 + exp(-v))."""
    return v / (1.0 + math.exp(-v))


def gelu_real(v: float) -> float:
    """gelu(v) = v * Phi(v) = v/2 * (1 + erf(v / sqrt(2))), the exact (erf) form."""
    return 0.5 * v * (1.0 + math.erf(v / math.sqrt(2.0)))


def _q34_table(f) -> np.ndarray:
    return np.array([max(-128, min(127, round_half_away(f(int(x) / 16.0) * 16.0)))
                     for x in TABLE_INPUTS], dtype=np.int8)


def silu_table() -> np.ndarray:
    """SILU ROM: entry (x & 0xff) = saturate_int8(round_half_away(silu(x/16) * 16))."""
    return _q34_table(silu_real)


def gelu_table() -> np.ndarray:
    """GELU ROM: entry (x & 0xff) = saturate_int8(round_half_away(gelu(x/16) * 16))."""
    return _q34_table(gelu_real)


def exp_table() -> np.ndarray:
    """EXP ROM: entry (x & 0xff) = round(exp(x/16) * 65536), int32 Q15.16 (22 .. 183523795)."""
    return np.array([round_half_away(math.exp(int(x) / 16.0) * 65536.0) for x in TABLE_INPUTS],
                    dtype=np.int32)


SILU_TABLE = silu_table()
GELU_TABLE = gelu_table()
EXP_TABLE = exp_table()


def _table_index(a_i8) -> np.ndarray:
    return _ints(a_i8, "i8", "a") & 0xFF


def silu_q34(a_i8) -> np.ndarray:
    """SILU: int8 Q3.4 -> int8 Q3.4 through ``SILU_TABLE``."""
    return SILU_TABLE[_table_index(a_i8)]


def gelu_q34(a_i8) -> np.ndarray:
    """GELU: int8 Q3.4 -> int8 Q3.4 through ``GELU_TABLE``."""
    return GELU_TABLE[_table_index(a_i8)]


def exp_q34(a_i8) -> np.ndarray:
    """EXP: int8 Q3.4 -> int32 Q15.16 through ``EXP_TABLE``."""
    return EXP_TABLE[_table_index(a_i8)]


# ---------------------------------------------------------------------------------------------
# VXM RECIP and RSQRT (Q15.16 -> Q15.16)
# ---------------------------------------------------------------------------------------------


def leading_one(a) -> np.ndarray:
    """Bit index of the most significant 1 of each positive int32 (0..30): a priority encoder.

    Integer-only binary search, as a 5-stage RTL leading-one detector would do it.
    """
    x = np.array(a, dtype=np.int64)  # a copy, shifted in place
    p = np.zeros(x.shape, dtype=np.int64)
    for s in (16, 8, 4, 2, 1):
        hit = x >= (1 << s)
        p += hit * s
        np.right_shift(x, s, out=x, where=hit)
    return p


def recip_table() -> np.ndarray:
    """RECIP ROM, 256 x 16-bit unsigned: T[i] = round(2**25 / (513 + 2*i)).

    Entry i serves mantissas f in [1 + i/256, 1 + (i+1)/256) and holds 2**16 * c, where
    c = 2 / (f0 + f1) is the constant minimising the largest relative error |c*f - 1| over the
    interval (about 2**-9). Pure integer arithmetic (no ties: 2**25 / odd is never x.5).
    Values are 65408 .. 32800, so bit 15 is always set.
    """
    return np.array([((1 << 26) + (513 + 2 * i)) // (2 * (513 + 2 * i)) for i in range(256)],
                    dtype=np.int64)


def rsqrt_table() -> np.ndarray:
    """RSQRT ROM, 256 x 16-bit unsigned, index (r << 7) | i.

    r is the parity of the input's exponent, i the 7 bits after its leading one. Entry (r, i)
    serves g in [g0, g1) with g0 = 2**r * (128 + i) / 128, g1 = 2**r * (129 + i) / 128 (g in
    [1, 4)) and holds round(2**16 * c) with c = 2 / (sqrt(g0) + sqrt(g1)), the constant
    minimising the largest relative error |c*sqrt(g) - 1| over the interval.

    Computed with exact integer square roots at 2**-64 resolution; no entry is within 2**-11 of a
    rounding tie, so the result is exact. Values are 65408 .. 32800, so bit 15 is always set.
    """
    k = 64
    out = []
    for r in (0, 1):
        for i in range(128):
            # sqrt(n * 2**r / 128) * 2**k, floored; 2k - 7 >= 0 keeps it an integer.
            s0 = math.isqrt(((128 + i) << r) << (2 * k - 7))
            s1 = math.isqrt(((129 + i) << r) << (2 * k - 7))
            num = 1 << (17 + k)  # 2**16 * 2 / (sqrt g0 + sqrt g1), numerator scaled by 2**k
            out.append((2 * num + (s0 + s1)) // (2 * (s0 + s1)))
    return np.array(out, dtype=np.int64)


RECIP_TABLE = recip_table()
RSQRT_TABLE = rsqrt_table()


#: Bit width of each VXM ROM word (SILU/GELU two's complement int8, EXP int32 but below 2**28,
#: RECIP/RSQRT unsigned 16-bit with bit 15 always set).
ROM_WIDTHS = {"SILU": 8, "GELU": 8, "EXP": 28, "RECIP": 16, "RSQRT": 16}


def rom_words(name: str) -> list[int]:
    """The 256 words of a VXM ROM as unsigned ints of ``ROM_WIDTHS[name]`` bits, in address order.

    SILU, GELU and EXP are addressed by the input byte (x & 0xff); RECIP by the 8 bits after the
    leading one; RSQRT by (exponent parity << 7) | the 7 bits after the leading one. This is what
    the RTL generator puts in its ROMs.
    """
    table = {"SILU": SILU_TABLE, "GELU": GELU_TABLE, "EXP": EXP_TABLE, "RECIP": RECIP_TABLE,
             "RSQRT": RSQRT_TABLE}[name]
    width = ROM_WIDTHS[name]
    words = [int(v) & ((1 << width) - 1) for v in table]
    if name == "EXP":
        assert all(0 < int(v) < 1 << width for v in table)
    return words


def _shift_round(t: np.ndarray, s: np.ndarray) -> np.ndarray:
    """t * 2**s for s >= 0; round-half-up t / 2**-s for s < 0 (the denormalising shifter)."""
    left = s >= 0
    rs = np.where(left, 0, -s)
    rnd = (np.int64(1) << rs) >> 1  # 1 << (rs - 1), or 0 when rs = 0
    return np.where(left, t << np.where(left, s, 0), (t + rnd) >> rs)


def recip_q16(a_i32) -> np.ndarray:
    """RECIP: z = 1/x in Q15.16 for x = a / 65536, i.e. z ~ 2**32 / a.

    a <= 0 gives 0x7fffffff. For a > 0 (the RTL datapath, step by step):

    1. p = index of the leading one of a (0..30), by a priority encoder.
    2. i = the 8 bits after the leading one: i = ((a << (30 - p)) >> 22) & 0xff, i.e. bits
       [29:22] of a normalised so that its leading one sits at bit 30 (a = f * 2**p, f in [1, 2),
       i = floor((f - 1) * 256)).
    3. t = RECIP_TABLE[i] (16-bit, ~ 2**16 / f).
    4. Denormalise by s = 16 - p: z = t << s if s >= 0, saturated to 0x7fffffff (only p = 0, that
       is a = 1, overflows); z = (t + (1 << (-s - 1))) >> -s (round half up) if s < 0.
    """
    x = _ints(a_i32, "i32", "a")
    pos = x > 0
    xp = np.where(pos, x, 1)
    p = leading_one(xp)
    i = ((xp << (30 - p)) >> 22) & 0xFF
    z = _shift_round(RECIP_TABLE[i], 16 - p)
    z = np.minimum(z, INT32_MAX)
    return np.where(pos, z, INT32_MAX).astype(np.int32)


def rsqrt_q16(a_i32) -> np.ndarray:
    """RSQRT: z = 1/sqrt(x) in Q15.16 for x = a / 65536, i.e. z ~ 2**24 / sqrt(a).

    a <= 0 gives 0x7fffffff. For a > 0 (the RTL datapath, step by step):

    1. p = index of the leading one of a (0..30); r = p & 1 (exponent parity), q = p >> 1.
       So a = g * 2**(2q) with g = f * 2**r in [1, 4): the even-exponent normalisation.
    2. i = the 7 bits after the leading one: i = ((a << (30 - p)) >> 23) & 0x7f.
    3. t = RSQRT_TABLE[(r << 7) | i] (16-bit, ~ 2**16 / sqrt(g)).
    4. Denormalise by s = 8 - q: z = t << s if s >= 0 (at most 2**24: never saturates);
       z = (t + (1 << (-s - 1))) >> -s (round half up) if s < 0.
    """
    x = _ints(a_i32, "i32", "a")
    pos = x > 0
    xp = np.where(pos, x, 1)
    p = leading_one(xp)
    i = ((xp << (30 - p)) >> 23) & 0x7F
    t = RSQRT_TABLE[((p & 1) << 7) | i]
    z = _shift_round(t, 8 - (p >> 1))
    z = np.minimum(z, INT32_MAX)  # never taken (z <= 2**24), kept as the documented rule
    return np.where(pos, z, INT32_MAX).astype(np.int32)


# ---------------------------------------------------------------------------------------------
# SXM
# ---------------------------------------------------------------------------------------------


def _lane_vec(a) -> tuple[np.ndarray, str]:
    arr = np.asarray(a)
    dtype = _dtype_of(arr)
    if arr.ndim != 1:
        raise ValueError(f"a lane vector must be 1-D, not shape {arr.shape}")
    return arr, dtype


def sxm_shift(a, n: int) -> np.ndarray:
    """SHIFT: z[l] = a[l - n] where 0 <= l - n < lanes, else 0 (n signed, -64..63)."""
    arr, _ = _lane_vec(a)
    n = _check_imm("n", n, -64, 63)
    lanes = arr.shape[0]
    src = np.arange(lanes) - n
    ok = (src >= 0) & (src < lanes)
    return np.where(ok, arr[np.clip(src, 0, lanes - 1)], 0).astype(arr.dtype)


def sxm_rotate(a, n: int) -> np.ndarray:
    """ROTATE: z[l] = a[(l - n) mod lanes]."""
    arr, _ = _lane_vec(a)
    n = _check_imm("n", n, 0, 63)
    return np.roll(arr, n)


def sxm_permute(a, table) -> np.ndarray:
    """PERMUTE: z[l] = a[map[l]] if map[l] < lanes else 0.

    ``table`` holds one entry per lane as an unsigned byte (0..255); int8 entries (a SETMAP
    source stream) are read as their unsigned bit pattern, so -1 means 255 (zero fill).
    """
    arr, _ = _lane_vec(a)
    lanes = arr.shape[0]
    t = np.asarray(table)
    if t.shape != (lanes,) or t.dtype.kind not in "iu":
        raise ValueError(f"map must be {lanes} integer entries, got {t.dtype} {t.shape}")
    if int(t.min()) < -128 or int(t.max()) > 255:
        raise ValueError("map entries must be bytes (0..255, or -128..127)")
    idx = t.astype(np.int64) & 0xFF
    ok = idx < lanes
    return np.where(ok, arr[np.where(ok, idx, 0)], 0).astype(arr.dtype)


def sxm_bcast(a, lane: int) -> np.ndarray:
    """BCAST: z[l] = a[lane] for every l."""
    arr, _ = _lane_vec(a)
    lane = _check_imm("lane", lane, 0, arr.shape[0] - 1)
    return np.full_like(arr, arr[lane])


def sxm_transpose(planes4) -> np.ndarray:
    """TRANSPOSE: (4, lanes) byte planes of a 4-stream group -> (4, lanes): z_j[4b+i] = a_i[4b+j].

    A 4x4 byte transpose inside every block of 4 lanes; the dtype (uint8 or int8) is kept.
    """
    p = np.asarray(planes4)
    if p.ndim != 2 or p.shape[0] != 4 or p.shape[1] % 4:
        raise ValueError(f"TRANSPOSE needs (4, lanes) planes with lanes % 4 == 0, not {p.shape}")
    lanes = p.shape[1]
    # p[i, 4b + j] -> blocks[i, b, j]; z[j, b, i] = blocks[i, b, j].
    return np.ascontiguousarray(p.reshape(4, lanes // 4, 4).transpose(2, 1, 0).reshape(4, lanes))


def sxm_rsum(dtype: str, a) -> np.ndarray:
    """RSUM: the wrapping sum of all lanes, in every lane."""
    x = _lanes(a, dtype, "a")
    return wrap(np.full(x.shape, int(x.sum())), dtype)


def sxm_rmax(dtype: str, a) -> np.ndarray:
    """RMAX: the max of all lanes, in every lane."""
    x = _lanes(a, dtype, "a")
    return wrap(np.full(x.shape, int(x.max())), dtype)


def sxm_argmax(a, dtype: str | None = None) -> np.ndarray:
    """ARGMAX: int8 vector, every lane = the lowest lane index holding the max of a."""
    arr = np.asarray(a)
    x = _lanes(arr, dtype or _dtype_of(arr), "a")
    return np.full(x.shape, int(np.argmax(x)), dtype=np.int8)


# ---------------------------------------------------------------------------------------------
# MXM
# ---------------------------------------------------------------------------------------------


def mxm_product(x_i8, w_i8) -> np.ndarray:
    """y[j] = sum_k x[k] * w[k, j] in int32 (wrapping); x is (lanes,), w is (lanes, lanes).

    With lanes <= 64 the sum is at most 64 * 2**14 = 2**20 in magnitude, so it never wraps.
    """
    x = _lanes(x_i8, "i8", "x")
    w = _ints(w_i8, "i8", "w")
    if w.shape != (x.shape[0], x.shape[0]):
        raise ValueError(f"w must be ({x.shape[0]}, {x.shape[0]}), not {w.shape}")
    return wrap(x @ w, "i32")


def mxm_abc(acc_i32, x_i8, w_i8, add: int) -> np.ndarray:
    """ABC / ABCB: the new accumulator (add ? acc : 0) + x @ w, int32 wrapping."""
    base = _lanes(acc_i32, "i32", "acc") if add else 0
    return wrap(base + mxm_product(x_i8, w_i8).astype(np.int64), "i32")
