"""Independent numpy references for the kernels: integer (bit-exact) and float.

The integer references compose numpy arithmetic with the unit functions of ``units.py`` (the
tables and requantization are defined there); they never run the tile model.
"""

from __future__ import annotations

import numpy as np

from . import units


def gemv(x, w) -> np.ndarray:
    """y = x @ w in exact integers, wrapped to int32 as the MXM accumulates."""
    return (np.asarray(x, np.int64) @ np.asarray(w, np.int64)).astype(np.int32)


def swiglu_hidden(x, w_gate, w_up, mult: int, shift: int) -> np.ndarray:
    """h (int8 Q3.4) exactly as the ffn kernel computes it."""
    g8 = units.requant(gemv(x, w_gate), mult, shift)
    u8 = units.requant(gemv(x, w_up), mult, shift)
    a8 = units.silu_q34(g8)
    p = a8.astype(np.int64) * u8.astype(np.int64)  # Q6.8
    return np.clip((p + 8) >> 4, -128, 127).astype(np.int8)


def ffn(x, w_gate, w_up, w_down, mult: int, shift: int) -> np.ndarray:
    return gemv(swiglu_hidden(x, w_gate, w_up, mult, shift), w_down)


def _silu(v):
    return v / (1.0 + np.exp(-v))


def ffn_float(x, w_gate, w_up, w_down, mult: int, shift: int) -> np.ndarray:
    """The float SwiGLU the kernel approximates, in the kernel's units.

    g and u are the exact int32 products scaled by mult / 2^shift / 16 (the real value the
    Q3.4 requantization represents); the result is h_real @ w_down * 16, comparable with the
    kernel's int32 y.
    """
    scale = mult / 2.0 ** shift / 16.0
    g = gemv(x, w_gate).astype(np.float64) * scale
    u = gemv(x, w_up).astype(np.float64) * scale
    return (_silu(g) * u) @ np.asarray(w_down, np.float64) * 16.0


SILU_LIPSCHITZ = 1.1  # max |silu'(v)| over the reals is 1.0998


def ffn_error_bound(x, w_gate, w_up, w_down, mult: int, shift: int) -> np.ndarray:
    """Per-output bound on |y - ffn_float| when no intermediate saturates.

    In real units (Q3.4 LSB = 1/16), with rounding error at most 1/32 per step:
    g8 and u8 are within 1/32 of g and u; a8 is within 1/32 of silu(g8) (table), so within
    e_a = 1/32 + 1.1/32 of silu(g); h is within |silu(g)| e_u + |u8| e_a + 1/32 of silu(g) u
    (product, then rounding to Q3.4); y in units of 1/16 sums 16 |dh| |w_down| over k.
    """
    scale = mult / 2.0 ** shift / 16.0
    g = gemv(x, w_gate).astype(np.float64) * scale
    u8 = units.requant(gemv(x, w_up), mult, shift).astype(np.float64) / 16.0
    e_a = 1 / 32 + SILU_LIPSCHITZ / 32
    dh = np.abs(_silu(g)) / 32 + np.abs(u8) * e_a + 1 / 32
    return 16.0 * (dh @ np.abs(np.asarray(w_down, np.float64)))


def saturates(x, w_gate, w_up, mult: int, shift: int) -> bool:
    """True if any requantized or hidden value hits the int8 limits (the bound then fails)."""
    scale = mult / 2.0 ** shift
    g = gemv(x, w_gate) * scale
    u = gemv(x, w_up) * scale
    h = swiglu_hidden(x, w_gate, w_up, mult, shift)
    return bool(np.abs(g).max() >= 127 or np.abs(u).max() >= 127 or
                np.abs(h.astype(int)).max() >= 127)
