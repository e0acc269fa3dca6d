"""SwiGLU decode FFN: y = h @ w_down with h = silu(x @ w_gate) * (x @ w_up), requantized.

Phase 1 streams ``w_gate`` through the west MXM and ``w_up`` through the east MXM in lockstep.
The two int32 results of column block nb meet in the VXM ``Chain.u8`` cycles apart (3 with
today's latencies) and a chain of ALU instructions, each reading the one before it through VXM
chaining, makes h's chunk nb::

    g8 = REQUANT(g), u8 = REQUANT(u)          QPARAM mult, shift: int32 -> Q3.4
    a8 = SILU(g8)                             Q3.4 table
    p16 = CVT.i8.i16(a8) * CVT.i8.i16(u8)     Q6.8, exact
    h8 = CVT.i16.i8(SRAI.i16(p16, 4))         round half up, saturate: Q3.4

h is written to MEM in the activation layout and phase 2 is the GEMV h @ w_down. Every
cycle offset of the chain comes from the ISA table's latencies (``chain``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import TileConfig
from .builder import (
    Builder,
    KernelError,
    bank_write,
    latency,
    need_slices,
    tile_name,
    write_visible,
)
from .gemv import (
    HEMIS,
    MIN_TILE_CYCLES,
    Layout,
    Task,
    check_multiple,
    check_tile,
    declare_result,
    declare_vector,
    declare_weights,
    emissions,
    feeders,
    gemv_bound,
    mem_slices,
    store_block,
    stream_gemv,
)

PHASE_GAP = 2  # cycles from the last one phase 1 occupies to phase 2's start: a margin


@dataclass(frozen=True)
class Chain:
    """Issue cycles of one chunk's VXM chain, relative to g's arrival at the VXM. Each step
    issues in the one cycle its chained operand is visible (producer + latency + 1)."""

    u8: int  # u's REQUANT, and u's arrival: u8 becomes visible together with a8
    silu: int
    widen: int  # both CVT.i8.i16
    mul: int
    srai: int
    narrow: int  # CVT.i16.i8
    span: int  # cycles the chain occupies: h8 is in the VXM's stream register at its end

    def slots(self) -> tuple[tuple[str, int], ...]:
        """(VXM queue, cycle) of every step."""
        return (("VXM.0", 0), ("VXM.1", self.u8), ("VXM.0", self.silu), ("VXM.2", self.widen),
                ("VXM.1", self.widen), ("VXM.0", self.mul), ("VXM.1", self.srai),
                ("VXM.0", self.narrow))

    def write(self, b: Builder, h_slice: str) -> int:
        """Cycle of h8's WRITE at ``h_slice``, relative to g's arrival."""
        return self.narrow + latency("CVT") + b.hops("VXM", h_slice)


def chain() -> Chain:
    """The chain's cycles from the ISA table's latencies as they are now."""

    def after(t: int, op: str) -> int:
        return t + latency(op) + 1

    silu = after(0, "REQUANT")
    widen = after(silu, "SILU")
    mul = after(widen, "CVT")
    srai = after(mul, "MUL")
    narrow = after(srai, "SRAI")
    return Chain(u8=widen - latency("REQUANT") - 1, silu=silu, widen=widen, mul=mul,
                 srai=srai, narrow=narrow, span=after(narrow, "CVT"))


def vxm_chain(b: Builder, ch: Chain, t: int, h_slice: str, h_addr: int, nb: int) -> int:
    """Place the chain for chunk nb (g arrives on E4..E7 in cycle t, u on W4..W7 at
    t + ch.u8); return the issue cycle of the WRITE of h chunk nb."""
    out = "W3" if b.pos(h_slice) < b.pos("VXM") else "E3"
    b.put("VXM.0", t, "REQUANT", "E4", "E4", comment=f"h chunk {nb}: g8")
    b.put("VXM.1", t + ch.u8, "REQUANT", "W4", "W4", comment="u8")
    b.put("VXM.0", t + ch.silu, "SILU", "E4", "E5", comment="a8 = silu(g8)")
    b.put("VXM.2", t + ch.widen, "CVT.i8.i16", "E5", "E6")
    b.put("VXM.1", t + ch.widen, "CVT.i8.i16", "W4", "W6")
    b.put("VXM.0", t + ch.mul, "MUL.i16", "E6", "W6", "E4", comment="Q6.8 product")
    b.put("VXM.1", t + ch.srai, "SRAI.i16", "E4", "E6", 4)
    b.put("VXM.0", t + ch.narrow, "CVT.i16.i8", "E6", out, comment="h8")
    w = t + ch.write(b, h_slice)
    b.put(f"{h_slice}.0", w, "WRITE", h_addr, out, step=0, comment=f"h chunk {nb}")
    b.reserve(f"{h_slice}.0", bank_write(w))
    return w


def least_d(cfg: TileConfig, ch: Chain | None = None) -> int:
    """The smallest d whose blocks come ``ch.span`` or more cycles apart, so each block's VXM
    chain ends before the next one's results arrive: a block is d / lanes MXM tiles of
    MIN_TILE_CYCLES or more cycles each, or on a tile of fewer lanes 2 cycles per tile (its
    IW and ABCB), d cycles in all."""
    span = (ch or chain()).span
    return max(-(-span // MIN_TILE_CYCLES) * cfg.lanes, span)


def ffn_words(cfg: TileConfig, db: int, fb: int) -> int:
    """Words bank 0 of each MEM slice takes for ``db`` and ``fb`` blocks of d and f: w_gate,
    w_up, w_down, x, h and y as ``ffn`` lays them out."""
    per_row = cfg.lanes // len(feeders(cfg, "E"))  # words of a block per row of weight tiles
    s = len(mem_slices(cfg))
    y = emissions(cfg) * -(-db // 2) * (2 if cfg.mem_slices == 1 else 1)
    return 2 * fb * db * per_row + -(-db // 2) * fb * per_row + -(-db // s) + -(-fb // s) + y


def ffn_problem(cfg: TileConfig, db: int, fb: int) -> str | None:
    """Why an FFN of ``db`` x ``fb`` blocks cannot fit (O(1), before building), or None."""
    if max(db, fb) > cfg.mxm_act_slots:
        return (f"the GEMVs over d and f need {max(db, fb)} activation buffer slots; this "
                f"tile has {cfg.mxm_act_slots}")
    words = ffn_words(cfg, db, fb)
    if words > cfg.mem_words:
        return (f"the weights, x, h and y take {words} words of bank 0 of each MEM slice, "
                f"which holds {cfg.mem_words}")
    return None


def check_fit(cfg: TileConfig, d: int, f: int, min_d: int) -> None:
    """KernelError naming the largest --f for this --d (or the largest --d of at least
    ``min_d`` for this --f) when the FFN cannot fit."""
    L = cfg.lanes
    db, fb = d // L, f // L
    why = ffn_problem(cfg, db, fb)
    if why is None:
        return
    slots = range(cfg.mxm_act_slots, 0, -1)
    if ffn_problem(cfg, min_d // L, fb) is None and ffn_problem(cfg, db, 1) is not None:
        most = next(b for b in slots if ffn_problem(cfg, b, fb) is None)
        fits = f"at most --d {most * L} for --f {f}"
    else:
        db = db if ffn_problem(cfg, db, 1) is None else min_d // L
        most = next((b for b in slots if ffn_problem(cfg, db, b) is None), 0)
        fits = f"at most --f {most * L} for --d {db * L}" if most else "no FFN fits"
    raise KernelError(f"--d {d} --f {f} does not fit: {why}; {fits} on {tile_name(cfg)}")


def ffn(cfg: TileConfig, d: int, f: int, mult: int, shift: int) -> str:
    need_slices(cfg, "ffn", "MXM_W", "VXM", "MXM_E")
    check_multiple(cfg, d=d, f=f)
    check_tile(cfg)
    if cfg.vxm_alus < 3:
        raise KernelError(f"ffn needs 3 VXM ALUs; this tile has {cfg.vxm_alus}")
    ch = chain()
    min_d = least_d(cfg, ch)
    if d < min_d:
        raise KernelError(f"ffn needs --d >= {min_d} ({-(-ch.span // MIN_TILE_CYCLES)} x lanes, "
                          f"at least {ch.span}) so each block's VXM chain finishes before the "
                          "next block's results arrive")
    if any(isinstance(v, bool) or not isinstance(v, int) for v in (mult, shift)) or \
            not -(1 << 15) <= mult < 1 << 15 or not 0 <= shift < 64:
        raise KernelError(f"--mult must be in -32768..32767 and --shift in 0..63, not {mult}, "
                          f"{shift}")
    check_fit(cfg, d, f, min_d)
    b = Builder(cfg, f"ffn d={d} f={f}: y = (silu(x @ w_gate) * (x @ w_up)) @ w_down, "
                     f"requant mult={mult} shift={shift}")
    layout = Layout(cfg)
    fb = f // cfg.lanes
    b.symbol_base["w_gate"] = declare_weights(b, layout, "w_gate", d, f,
                                              dict.fromkeys(range(fb), "W"))
    b.symbol_base["w_up"] = declare_weights(b, layout, "w_up", d, f, dict.fromkeys(range(fb), "E"))
    db = d // cfg.lanes
    down_owner = {nb: HEMIS[nb % 2] for nb in range(db)}
    b.symbol_base["w_down"] = declare_weights(b, layout, "w_down", f, d, down_owner)
    x_base = declare_vector(b, layout, "x", "i8", d)
    h_base = declare_vector(b, layout, "h", "i8", f)
    y_base = declare_result(b, layout, "y", d, down_owner)
    slices = mem_slices(cfg)
    b.put("VXM.0", 0, "QPARAM", mult, shift)
    b.put("VXM.1", 0, "QPARAM", mult, shift)
    done: dict[int, int] = {}
    h_ready: dict[int, int] = {}  # h chunk -> first cycle a READ sees its WRITE
    last = {"t": -ch.span}
    # u's ACC on MXM_E issues this many cycles after g's on MXM_W: u arrives ch.u8 after g.
    u_acc = ch.u8 + b.hops("MXM_W", "VXM") - b.hops("MXM_E", "VXM")
    ready = latency("ABCB")  # an ACC sees an ABCB's sum this many cycles after it

    def on_block(task: Task, nb: int, abcb: int) -> None:
        if task.h == "W":
            done[nb] = abcb
            return
        h_slice, h_addr = slices[nb % len(slices)], h_base + nb // len(slices)
        c = max(done.pop(nb), abcb - u_acc) + ready
        while True:
            t = c + latency("ACC") + b.hops("MXM_W", "VXM")
            chain_ok = t >= last["t"] + ch.span and all(
                b.free(q, t + dt) for q, dt in ch.slots())
            w = t + ch.write(b, h_slice)
            if chain_ok and b.free("MXM_W.ACT", c) and b.free("MXM_E.ACT", c + u_acc) and \
                    b.free(f"{h_slice}.0", w) and b.free(f"{h_slice}.0", bank_write(w)):
                break
            c += 1
        b.put("MXM_W.ACT", c, "ACC", 0 if nb % 2 == 0 else 1, "E4", comment=f"gate block {nb}")
        b.put("MXM_E.ACT", c + u_acc, "ACC", 0 if nb % 2 == 0 else 1, "W4",
              comment=f"up block {nb}")
        h_ready[nb] = write_visible(vxm_chain(b, ch, t, h_slice, h_addr, nb))
        last["t"] = t

    phase1 = [Task("W", "w_gate", list(range(fb)), d), Task("E", "w_up", list(range(fb)), d)]
    stream_gemv(b, phase1, x_base, 1, on_block, lockstep=True)
    start = max(max(c) for c in b.busy.values()) + PHASE_GAP
    phase2 = [Task(h, "w_down", [nb for nb in range(db) if down_owner[nb] == h], f)
              for h in HEMIS]
    phase2 = [t for t in phase2 if t.blocks]
    stream_gemv(b, phase2, h_base, start,
                lambda task, nb, t: store_block(b, task, nb, t, y_base), x_ready=h_ready)
    bound = gemv_bound(cfg, d, 2 * f) + gemv_bound(cfg, f, d)
    return b.render([f"GEMV bound {bound} cycles: {3 * d * f} weight bytes / "
                     f"({cfg.lanes} lanes x {2 * cfg.mem_slices * cfg.mem_banks} bank queues)"])
