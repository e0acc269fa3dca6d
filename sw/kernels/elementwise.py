"""Pointwise VXM kernels (requant, silu, gelu): one chunk of ``lanes`` elements per cycle.

The input is read from the west hemisphere's four bank queues (an int32 chunk takes one byte
plane from each, so the group reaches the VXM in one cycle), the VXM applies one instruction,
and the result travels east to the east hemisphere's bank queues, one chunk per queue in turn.
"""

from __future__ import annotations

from ..config import TileConfig
from ..isa import DTYPE_INFO
from .builder import Builder, KernelError, latency, need_slices, tile_name
from .gemv import Layout, check_multiple

VXM = "VXM"


def _queues(cfg: TileConfig, h: str) -> list[tuple[str, int]]:
    return [(f"MEM_{h}{j}", bank) for j in range(min(cfg.mem_slices, 2)) for bank in range(2)]


def pointwise_words(cfg: TileConfig, chunks: int, in_dtype: str) -> int:
    """Words each bank of a MEM slice takes for x and y: ``chunks`` chunks dealt over 4 bank
    queues, an int32 chunk as 4 byte planes."""
    return -(-chunks * DTYPE_INFO[in_dtype].bytes // 4) + -(-chunks // 4)


def check_fit(cfg: TileConfig, n: int, in_dtype: str) -> None:
    """KernelError, in O(1) and before building, when x and y of ``n`` elements overflow the
    MEM banks; it names the largest --n that fits."""
    words = pointwise_words(cfg, n // cfg.lanes, in_dtype)
    if words <= cfg.mem_words:
        return
    lo, hi = 0, 4 * cfg.mem_words  # in chunks: hi never fits
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if pointwise_words(cfg, mid, in_dtype) <= cfg.mem_words else (lo, mid)
    raise KernelError(f"--n {n} does not fit: x and y take {words} words of each bank of "
                      f"a MEM slice, which holds {cfg.mem_words}; at most --n {lo * cfg.lanes} "
                      f"on {tile_name(cfg)}")


def pointwise(cfg: TileConfig, title: str, n: int, in_dtype: str, out_dtype: str,
              op: str, setup: list[tuple[str, tuple]] = ()) -> str:
    need_slices(cfg, op.lower(), "MEM_W0", "VXM", "MEM_E0")
    check_multiple(cfg, n=n)
    src, dst = _queues(cfg, "W"), _queues(cfg, "E")
    if len(src) < 4 or cfg.streams < 8:
        raise KernelError("pointwise kernels need 2 MEM slices per hemisphere and 8 streams")
    check_fit(cfg, n, in_dtype)
    b = Builder(cfg, title)
    layout = Layout(cfg)
    chunks = n // cfg.lanes
    per_queue = -(-chunks * DTYPE_INFO[in_dtype].bytes // 4)
    x_base = {bank: layout.alloc(bank, per_queue, "x") for bank in range(2)}
    y_base = {bank: layout.alloc(bank, -(-chunks // 4), "y") for bank in range(2)}
    b.declare("x", in_dtype, (n,), [(s, x_base[bank]) for s, bank in src])
    b.declare("y", out_dtype, (n,), [(s, y_base[bank]) for s, bank in dst])
    for c, (name, args) in enumerate(setup):
        b.put("VXM.0", c, name, *args)
    planes = DTYPE_INFO[in_dtype].bytes
    read = latency("READ")
    t0 = max(len(setup), max(read + b.hops(s, VXM) for s, _ in src))
    for c in range(chunks):
        t = t0 + c
        for j in range(planes):
            w = c * planes + j
            s, bank = src[w % 4]
            b.put(f"{s}.{bank}", t - read - b.hops(s, VXM), "READ", x_base[bank] + w // 4, f"E{j}",
                  step=0)
        b.put("VXM.0", t, op, "E0", "E4")
        s, bank = dst[c % 4]
        b.put(f"{s}.{bank}", t + latency(op) + b.hops(VXM, s), "WRITE", y_base[bank] + c // 4, "E4",
              step=0)
    return b.render()


def requant(cfg: TileConfig, n: int, mult: int, shift: int) -> str:
    if any(isinstance(v, bool) or not isinstance(v, int) for v in (mult, shift)) or \
            not -(1 << 15) <= mult < 1 << 15 or not 0 <= shift < 64:
        raise KernelError(f"--mult must be in -32768..32767 and --shift in 0..63, not {mult}, "
                          f"{shift}")
    return pointwise(cfg, f"requant n={n} mult={mult} shift={shift}: y = sat8(round(x*mult "
                     f">> shift))", n, "i32", "i8", "REQUANT", [("QPARAM", (mult, shift))])


def silu(cfg: TileConfig, n: int) -> str:
    return pointwise(cfg, f"silu n={n}: y = silu(x), Q3.4", n, "i8", "i8", "SILU")


def gelu(cfg: TileConfig, n: int) -> str:
    return pointwise(cfg, f"gelu n={n}: y = gelu(x), Q3.4", n, "i8", "i8", "GELU")
