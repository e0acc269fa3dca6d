"""Split GEMV over a star of tiles: y = x @ w with the n outputs cut into one block per tile.

Tile i holds ``w[:, i*n/N : (i+1)*n/N]`` and ``x`` (the host loads both), computes its block
of y with the single-tile GEMV (``gemv.build_gemv``), and every tile but the root then READs
its y words (int32, four byte planes per vector of ``lanes`` outputs) back out of MEM and SENDs
them to the root, one vector per link frame. The root RECVs each vector and WRITEs it where the
single-tile layout of the whole y keeps it, so after the run y on the root is the whole result.

Timing across tiles (``docs/programming.md``, "Multi-tile systems"): the RECV of a vector
SENT at sender schedule cycle s issues at root schedule cycle r >= s + delivery_bound + margin,
and with a worst-case clock offset P > 0 every tile issues ``RUNTIME_DESKEW t`` at the same
schedule cycles D, 2D, ... (``deskew_plan``). Streams: the READ-to-SEND and RECV-to-WRITE
values take a stream whose diagonal (the value's path through the row) no instruction of the
GEMV uses, so they never meet the GEMV's weights, x or results.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from fractions import Fraction

from ..c2c import delivery_bound, link_format
from ..config import TileConfig
from ..isa import BY_MNEMONIC, DTYPES, stream_width
from .builder import Builder, KernelError
from .gemv import HEMIS, build_gemv, check_multiple, plane_stores

DESKEW_T = 4  # freeze budget of one RUNTIME_DESKEW (cycles): sets the deskew period
DESKEW_CAP = 2000  # longest deskew period (schedule cycles)
LINK_BUFFER = 8  # vectors a receiver's elastic buffer holds (LinkReceiver depth, hw/c2c_link.py)
E, W = 0, 1


@dataclass(frozen=True)
class DeskewPlan:
    """How a program stays aligned under clocks up to ``ppm`` apart from the root's.

    ``period`` D: schedule cycles between RUNTIME_DESKEWs (None: none needed); ``t``: their
    operand; ``margin``: cycles a RECV waits beyond ``delivery_bound`` after its SEND."""

    ppm: float
    period: int | None
    t: int
    margin: int


def deskew_plan(ppm: float, cap: int = DESKEW_CAP, budget: int = DESKEW_T) -> DeskewPlan:
    """The RUNTIME_DESKEW period D, its operand t and the RECV margin for clocks that run at
    most ``ppm`` (frequency, parts per million) off the root's.

    * Drift rate: a tile P ppm slow counts rho = P / (1e6 - P) root (HAC) cycles more per own
      cycle (a fast one fewer), so over w wall cycles its HAC moves at most ceil(rho * w) away.
    * ``RUNTIME_DESKEW t`` freezes ``t - drift`` and stops the tile when the drift since the
      last deskew exceeds t. Between two deskews a tile runs D schedule cycles plus at most t
      frozen ones, so t must exceed that drift plus one count of HAC alignment:
      ``t >= ceil(rho * (D + t)) + 2``.
    * D is the largest period the freeze budget ``budget`` (4 cycles) allows,
      ``D = floor((budget - 2) / rho - budget)``, but at most ``cap`` (2000); then t is the
      smallest value that satisfies the inequality for that D. The freeze cost is about
      t / D, at most 2 rho (2 % at 1 %, 0.15 % at 100 ppm).
    * Between two deskews the longest wall stretch is below D + 2t (a fast tile freezes up to
      2t - 1), so two tiles, each within one HAC count of the root, are at most
      ``margin = ceil(2 * rho * (D + 2t)) + 2`` cycles apart: a RECV waits that long on top of
      ``delivery_bound`` after its SEND.
    * P = 0: no RUNTIME_DESKEW (period None, t 0) and margin 2 (the HACs' one count each).
    """
    if not isinstance(ppm, (int, float)) or ppm != ppm or not 0 <= ppm < 1e6:
        raise KernelError(f"--ppm is a worst-case clock offset from 0 to below 1e6, not {ppm}")
    p = Fraction(str(ppm))
    if p == 0:
        return DeskewPlan(float(ppm), None, 0, 2)
    rho = p / (10**6 - p)
    period = min(cap, math.floor((budget - 2) / rho - budget))
    if period < 1:
        raise KernelError(f"--ppm {ppm}: a RUNTIME_DESKEW of {budget} cycles cannot absorb "
                          "this drift")
    t = 3
    while t < math.ceil(rho * (period + t)) + 2:
        t += 1
    margin = math.ceil(2 * rho * (period + 2 * t)) + 2
    return DeskewPlan(float(ppm), period, t, margin)


# Stream bookkeeping: which stream diagonals the placed instructions use.

def _stream_value(text) -> int:
    return (W << 5 if text[0] == "W" else 0) | int(text[1:])


def _op_writes(op) -> list[tuple[int, int, int]]:
    """(direction, stream, hold) of every stream register op loads; hold is the first cycle
    the value is in the register (issue + latency + 1)."""
    mnemonic, *suffixes = op.name.split(".")
    instr = BY_MNEMONIC[mnemonic]
    if not instr.writes:
        return []
    values = {f.name: DTYPES.index(sfx) for f, sfx in zip(instr.dtype_fields, suffixes, strict=True)}
    for f, arg in zip(instr.operand_fields, op.args, strict=True):
        values[f.name] = _stream_value(arg) if f.kind == "stream" else arg
    out = []
    for name, spec in instr.writes:
        v = values[name]
        for j in range(stream_width(instr, values, spec)):
            out.append((v >> 5, (v & 31) + j, op.cycle + instr.latency + 1))
    return out


class _Diagonals:
    """A value loaded into stream s at position p in cycle h is at position q in cycle
    h + |q - p|: one diagonal of (position, cycle). A diagonal no other instruction writes
    carries a value from its producer to its consumer untouched and touches nothing else."""

    def __init__(self, b: Builder):
        self.b = b
        self.used: set[tuple[int, int, int]] = set()
        touched = {E: set(), W: set()}
        for queue, ops in b.ops.items():
            p = b.cfg.queue_by_name[queue].slice.position
            for op in ops:
                for d, s, hold in _op_writes(op):
                    self.used.add(self.key(d, s, hold, p))
                    touched[d].add(s)
        # Streams the GEMV never writes first, then the others, high indices first.
        self.order = {d: sorted(range(b.cfg.streams), key=lambda s, d=d: (s in touched[d], -s))
                      for d in (E, W)}

    @staticmethod
    def key(d: int, s: int, hold: int, p: int) -> tuple[int, int, int]:
        return (d, s, hold - p if d == E else hold + p)

    def find(self, d: int, hold: int, p: int) -> int | None:
        """A stream whose diagonal through (p, hold) in direction d is free, or None."""
        for s in self.order[d]:
            if self.key(d, s, hold, p) not in self.used:
                return s
        return None

    def take(self, d: int, s: int, hold: int, p: int) -> str:
        self.used.add(self.key(d, s, hold, p))
        return f"{'EW'[d]}{s}"


@dataclass
class Vector:
    """One y plane on a link: global block, byte plane, and the sender's SEND cycle."""

    block: int
    plane: int
    send: int


def _deskew_queue(used: set[str]) -> str:
    """The C2C queue that issues the RUNTIME_DESKEWs: C2C_W unless it carries this tile's link."""
    return "C2C_E" if "C2C_W" in used and "C2C_E" not in used else "C2C_W"


def _is_deskew(plan: DeskewPlan, t: int) -> bool:
    return plan.period is not None and t > 0 and t % plan.period == 0


def _place_deskews(b: Builder, plan: DeskewPlan, queue: str, last: int) -> None:
    """RUNTIME_DESKEW t at every multiple of D before ``last`` (the tile's last SEND/RECV)."""
    if plan.period is None:
        return
    for c in range(plan.period, last, plan.period):
        b.put(queue, c, "RUNTIME_DESKEW", plan.t, comment="re-align to the root's clock")


def _leaf(cfg: TileConfig, k: int, nt: int, n: int, tile: int, port: tuple[str, int],
          plan: DeskewPlan, deskew: bool, hold: dict[int, int]
          ) -> tuple[Builder, list[str], list[Vector]]:
    """A non-root tile: its GEMV block, then every y plane READ and SENT on ``port``; vector
    j no earlier than cycle ``hold[j]``."""
    first = tile * nt
    g = build_gemv(cfg, k, nt, title=f"split gemv k={k} n={n}, tile {tile}: "
                   f"y = x @ w[:, {first}:{first + nt}], sent to tile 0 on {port[0]} link "
                   f"{port[1]}")
    b = g.b
    diags = _Diagonals(b)
    c2c, link = port
    c = b.pos(c2c)
    frame = link_format(cfg).frame_words
    d = W if c == 0 else E  # toward the C2C slice
    vectors, last = [], -frame
    pending = sorted(g.stores, key=lambda s: (s[3], s[0], s[1]))  # in the order stored
    t = 0
    while pending:
        # One vector per link frame; each cycle, the first stored plane that can go then.
        t = max(t, last + frame, hold.get(len(vectors), 0))
        pick = None
        if b.free(c2c, t):
            for i, (_, _, q, w, _) in enumerate(pending):
                if w + 3 > t:
                    break  # READ no earlier than 2 cycles after the WRITE (and later ones)
                m = b.pos(q.split(".")[0])
                rd = t - 1 - abs(m - c)
                if rd >= w + 2 and b.free(q, rd):
                    s = diags.find(d, rd + 2, m)
                    if s is not None:
                        pick = i
                        break
        if pick is None:
            t += 1
            continue
        nb, j, q, _, addr = pending.pop(pick)
        m = b.pos(q.split(".")[0])
        rd = t - 1 - abs(m - c)
        stream = diags.take(d, s, rd + 2, m)
        b.put(q, rd, "READ", addr, stream, step=0, comment=f"y block {nb} plane {j} to tile 0")
        b.put(c2c, t, "SEND", stream, link)
        vectors.append(Vector(first // cfg.lanes + nb, j, t))
        last = t
    if deskew:
        _place_deskews(b, plan, _deskew_queue({c2c}), last)
    notes = [*g.notes, f"{len(vectors)} vectors to tile 0, the last SENT in cycle {last}",
             f"deskew: {_plan_text(plan)}"]
    return b, notes, vectors


def _root(cfg: TileConfig, k: int, nt: int, n: int, plan: DeskewPlan, deskew: bool,
          incoming: list[tuple[tuple[str, int], list[Vector]]]
          ) -> tuple[Builder, list[str], list[dict[int, int]]]:
    """The root: its own GEMV block into y[:nt] of a y that holds all n outputs, then every
    incoming vector RECVed (in the order of its link) and WRITTEN into place. Also returns,
    per link, the vectors sent too early for the link's elastic buffer: {vector: the first
    cycle its SEND may issue}."""
    g = build_gemv(cfg, k, nt, y_len=n, title=f"split gemv k={k} n={n}, tile 0 (root): "
                   f"y[0:{nt}] = x @ w[:, 0:{nt}], y[{nt}:{n}] received from the other tiles")
    b = g.b
    diags = _Diagonals(b)
    bound = delivery_bound(cfg)
    places = [(sl, bank) for h in HEMIS for sl, bank in plane_stores(cfg, h)]
    deskew_q = _deskew_queue({port[0] for port, _ in incoming})
    queues = [deque(vs) for _, vs in incoming]
    last = [-1] * len(incoming)
    recvs: list[list[int]] = [[] for _ in incoming]
    final = 0
    while any(queues):
        i = min((i for i, qv in enumerate(queues) if qv),
                key=lambda i: (queues[i][0].send, i))
        vec = queues[i].popleft()
        (c2c, link), _ = incoming[i]
        word = vec.block * 4 + vec.plane
        sl, bank = places[word % len(places)]
        q, addr = f"{sl}.{bank}", g.y_base[bank] + word // len(places)
        c, m = b.pos(c2c), b.pos(sl)
        hops, d = abs(m - c), (E if m > c else W)
        r = max(vec.send + bound + plan.margin, last[i] + 1)
        while True:
            w = r + 1 + hops
            ok = b.free(c2c, r) and not (c2c == deskew_q and _is_deskew(plan, r)) and \
                b.free(q, w) and b.free(q, w + 1)
            s = diags.find(d, r + 2, c) if ok else None
            if s is not None:
                break
            r += 1
        stream = diags.take(d, s, r + 2, c)
        b.put(c2c, r, "RECV", link, stream)
        b.put(q, w, "WRITE", addr, stream, step=0,
              comment=f"y block {vec.block} plane {vec.plane} from {c2c} link {link}")
        b.reserve(q, w + 1)
        last[i] = r
        recvs[i].append(r)
        final = max(final, r)
    # Vector j + LINK_BUFFER may only enter the buffer once vector j has left it.
    early = [{j + LINK_BUFFER: rs[j] + plan.margin for j in range(len(vs) - LINK_BUFFER)
              if rs[j] + plan.margin > vs[j + LINK_BUFFER].send}
             for (_, vs), rs in zip(incoming, recvs, strict=True)]
    if deskew:
        _place_deskews(b, plan, deskew_q, final)
    return b, [*g.notes, f"deskew: {_plan_text(plan)}"], early


def _plan_text(plan: DeskewPlan) -> str:
    if plan.period is None:
        return f"ppm {plan.ppm:g}: no RUNTIME_DESKEW; RECV margin {plan.margin}"
    return (f"ppm {plan.ppm:g}: RUNTIME_DESKEW {plan.t} every {plan.period} cycles; RECV "
            f"margin {plan.margin}")


def split_gemv_sources(cfg: TileConfig, k: int, n: int, tiles: int, ppm: float = 0.0,
                       deskew: bool = True) -> tuple[list[str], dict]:
    """Assembly per tile and the system symbols of y = x @ w split over ``tiles`` tiles.
    ``deskew=False`` leaves the RUNTIME_DESKEWs out (the negative control)."""
    from ..system import Part, SystemSymbol, star_links  # numpy: only when a system is built

    if isinstance(tiles, bool) or not isinstance(tiles, int) or not 1 <= tiles <= 4:
        raise KernelError(f"--tiles must be 1 to 4, not {tiles}")
    try:
        links = star_links(tiles, cfg)
    except ValueError as e:
        raise KernelError(str(e)) from None
    check_multiple(cfg, k=k, n=n)
    if n % (tiles * cfg.lanes):
        raise KernelError(f"--n must split into {tiles} equal blocks of whole vectors: a "
                          f"multiple of {tiles} x {cfg.lanes} lanes = {tiles * cfg.lanes}, "
                          f"not {n}")
    limit = 1e6 / cfg.hac_epoch
    if ppm >= limit:
        raise KernelError(f"--ppm {ppm:g} is more drift than the HAC tracks (one trim per "
                          f"{cfg.hac_epoch}-cycle epoch: below {limit:g} ppm)")
    plan = deskew_plan(ppm)
    nt = n // tiles
    texts: list[str | None] = [None] * tiles
    holds: list[dict[int, int]] = [{} for _ in links]
    for _ in range(100):  # delay SENDs the root cannot take in time, until none is early
        incoming = []
        for (root_port, leaf_port), hold in zip(links, holds, strict=True):
            tile = leaf_port[0]
            b, notes, vectors = _leaf(cfg, k, nt, n, tile, leaf_port[1:], plan, deskew, hold)
            texts[tile] = b.render(notes)
            incoming.append((root_port[1:], vectors))
        b, notes, early = _root(cfg, k, nt, n, plan, deskew, incoming)
        if not any(early):
            break
        for hold, more in zip(holds, early, strict=True):
            for j, c in more.items():
                hold[j] = max(hold.get(j, 0), c)
    else:
        raise AssertionError("the root keeps falling behind its links' elastic buffers")
    texts[0] = b.render(notes)
    symbols = {
        "w": SystemSymbol("w", "i8", (k, n), tuple(Part(i, "w", 1, i * nt, (i + 1) * nt)
                                                    for i in range(tiles))),
        "x": SystemSymbol("x", "i8", (k,), tuple(Part(i, "x") for i in range(tiles))),
        "y": SystemSymbol("y", "i32", (n,), (Part(0, "y"),)),
    }
    return texts, symbols


def split_gemv(cfg: TileConfig, k: int, n: int, tiles: int, ppm: float = 0.0,
               deskew: bool = True):
    """The split GEMV as a SystemImage: each tile's source assembled and scheduled."""
    import dataclasses

    from ..asm import assemble_text
    from ..schedule import schedule
    from ..system import SystemImage, star_links

    texts, symbols = split_gemv_sources(cfg, k, n, tiles, ppm, deskew)
    programs = []
    for i, text in enumerate(texts):
        prog = assemble_text(f"gemv.tile{i}.s", text)
        programs.append(dataclasses.replace(prog, queues=schedule(prog).lowered))
    return SystemImage(cfg, programs, star_links(tiles, cfg), symbols, "gemv.lpxs")
