"""Ping-pong over a star of tiles: the root sends vectors out, each leaf adds its tile number
and sends them back.

The root (tile 0) holds ``a`` (int8, ``(rounds, lanes)``). In round r it READs ``a[r]`` and
SENDs it to leaf j = 1 + r % (N - 1) over the star link to that leaf; the leaf RECVs it,
``ADDI.i8`` adds j to every lane (wrapping) and SENDs the sum back over the same link; the
root RECVs it and WRITEs it to ``out[r]``. So ``out[r] = a[r] + j`` as int8.

Every cycle is placed by the generator, round after round, each event at the first cycle its
rules allow, so rounds overlap (``docs/programming.md``, "Multi-tile systems"):

* a RECV issues ``delivery_bound + margin`` or more cycles after its SEND, and in the order
  its link delivers; a link takes one vector per frame each way; vector j + ``LINK_BUFFER``
  of a link is SENT ``margin`` or more cycles after vector j was RECVed;
* the value travels READ -> SEND, RECV -> ADDI -> SEND and RECV -> WRITE on stream diagonals
  nothing else writes (``Diagonals``). The leaf's RECV -> SEND path is fixed: the RECV and
  ADDI latencies + 2 x the hops between its C2C slice and the VXM (12 on ``small``). When
  that is a multiple of the frame, RECVs and SENDs one frame apart would want the same C2C
  queue cycles, so a round may take the SHIFT latency (one cycle) more through a
  ``SHIFT.i8 .., 0`` (a copy) in the SXM between the two;
* with ``ppm`` > 0 every tile issues ``RUNTIME_DESKEW`` at the plan's cycles D, 2D, ... up to
  its last SEND or RECV (``deskew_plan``); ``deskew=False`` leaves them out (a negative
  control), every other instruction keeping its cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..c2c import delivery_bound, link_format
from ..config import TileConfig
from ..isa import E, W
from ..system import Part, SystemSymbol
from .builder import (
    Builder,
    KernelError,
    Op,
    bank_write,
    latency,
    lowered_words,
    need_slices,
    tile_name,
)
from .gemv import Layout, mem_slices
from .multitile import (
    LINK_BUFFER,
    DeskewPlan,
    Diagonals,
    assemble_system,
    check_ppm,
    check_tiles,
    deskew_plan,
    deskew_queue,
    is_deskew,
    place_deskews,
    plan_text,
)

VXM = "VXM"


@dataclass
class _Link:
    """One star link, its two ends, and per direction (SEND cycle, RECV cycle) per vector."""

    leaf: int
    root_port: tuple[str, int]
    leaf_port: tuple[str, int]
    down: list[tuple[int, int]] = field(default_factory=list)  # root SEND, leaf RECV
    up: list[tuple[int, int]] = field(default_factory=list)  # leaf SEND, root RECV


@dataclass
class _Tile:
    b: Builder
    diags: Diagonals
    deskew_q: str
    last: int = -1  # the last SEND or RECV


@dataclass(frozen=True)
class Round:
    """One round's cycles: root READ and SEND, leaf RECV and SEND, root RECV and WRITE."""

    leaf: int
    read: int
    send: int
    leaf_recv: int
    leaf_send: int
    recv: int
    write: int


class _Planner:
    def __init__(self, cfg: TileConfig, rounds: int, tiles: int, plan: DeskewPlan, links,
                 start: int = 0):
        self.cfg, self.rounds, self.plan, self.start = cfg, rounds, plan, start
        self.bound = delivery_bound(cfg)
        self.frame = link_format(cfg).frame_words
        self.links = [_Link(leaf[0], root[1:], leaf[1:]) for root, leaf in links]
        self.rounds_done: list[Round] = []
        rb = Builder(cfg, f"pingpong rounds={rounds} tiles={tiles}, tile 0 (root): a[r] to "
                     f"tile 1 + r % {tiles - 1}, back into out[r]")
        # a in bank 0 of every MEM slice, out in bank 1: READs never wait for WRITEs.
        layout = Layout(cfg)
        slices = mem_slices(cfg)
        self.places: dict[str, list[tuple[str, int, int]]] = {}
        for name, bank in (("a", 0), ("out", 1 % cfg.mem_banks)):
            base = layout.alloc(bank, -(-rounds // len(slices)), name)
            self.places[name] = [(sl, bank, base) for sl in slices]
            rb.declare(name, "i8", (rounds, cfg.lanes), [(sl, base) for sl in slices])
        self.root = _Tile(rb, Diagonals(rb),
                          deskew_queue({lk.root_port[0] for lk in self.links}))
        self.leaves = {}
        for lk in self.links:
            c2c, n = lk.leaf_port
            lb = Builder(cfg, f"pingpong rounds={rounds} tiles={tiles}, tile {lk.leaf}: "
                         f"x + {lk.leaf} back to tile 0 on {c2c} link {n}")
            self.leaves[lk.leaf] = _Tile(lb, Diagonals(lb), deskew_queue({c2c}))

    # rules shared by every SEND and RECV

    def c2c_free(self, tile: _Tile, queue: str, t: int) -> bool:
        return tile.b.free(queue, t) and not (queue == tile.deskew_q and is_deskew(self.plan, t))

    def first_send(self, sent: list[tuple[int, int]]) -> int:
        """The first cycle the next vector may be SENT: a frame after the last one, and once
        the vector LINK_BUFFER back has left the receiver's buffer (RECV + margin)."""
        t = sent[-1][0] + self.frame if sent else 0
        if len(sent) >= LINK_BUFFER:
            t = max(t, sent[-LINK_BUFFER][1] + self.plan.margin)
        return t

    def first_recv(self, got: list[tuple[int, int]], send: int) -> int:
        """The first cycle the vector SENT at ``send`` may be RECVed: the margin after its
        delivery bound, and after the link's previous RECV."""
        return max(send + self.bound + self.plan.margin, got[-1][1] + 1 if got else 0)

    def word(self, name: str, r: int) -> tuple[str, str, int]:
        """Slice, bank queue and address of row r of ``name`` (dealt over the MEM slices)."""
        places = self.places[name]
        sl, bank, base = places[r % len(places)]
        return sl, f"{sl}.{bank}", base + r // len(places)

    # one round

    def round(self, r: int) -> Round:
        lk = self.links[r % len(self.links)]
        root, leaf = self.root, self.leaves[lk.leaf]
        b = root.b
        read, recv = latency("READ"), latency("RECV")
        # root: READ a[r], SEND it to the leaf
        c2c, link = lk.root_port
        sl, q, addr = self.word("a", r)
        pc, m = b.pos(c2c), b.pos(sl)
        hops, d = abs(pc - m), (E if pc > m else W)
        s = max(self.first_send(lk.down), read + hops, self.start)
        while True:
            rd = s - read - hops
            if self.c2c_free(root, c2c, s) and b.free(q, rd):
                st = root.diags.find(d, rd + read + 1, m)
                if st is not None:
                    break
            s += 1
        stream = root.diags.take(d, st, rd + read + 1, m)
        b.put(q, rd, "READ", addr, stream, step=0, comment=f"a[{r}] to tile {lk.leaf}")
        b.put(c2c, s, "SEND", stream, link)
        # leaf: RECV, ADDI (and maybe a MOV), SEND back
        lr, ls = self._leaf(r, lk, leaf, s)
        lk.down.append((s, lr))
        # root: RECV, WRITE out[r]
        sl, q, addr = self.word("out", r)
        m = b.pos(sl)
        hops, d = abs(pc - m), (E if m > pc else W)
        first = rr = self.first_recv(lk.up, ls)
        # Keep clear of the next frame's SENDs on this queue if that costs less than a frame.
        sending = [x.down[-1][0] for x in self.links if x.root_port[0] == c2c and x.down]
        while True:
            w = rr + recv + hops
            if self.c2c_free(root, c2c, rr) and b.free(q, w) and b.free(q, bank_write(w)) and (
                    rr >= first + self.frame or
                    all(rr <= x or (rr - x) % self.frame for x in sending)):
                st = root.diags.find(d, rr + recv + 1, pc)
                if st is not None:
                    break
            rr += 1
        stream = root.diags.take(d, st, rr + recv + 1, pc)
        b.put(c2c, rr, "RECV", link, stream)
        b.put(q, w, "WRITE", addr, stream, step=0, comment=f"out[{r}] from tile {lk.leaf}")
        b.reserve(q, bank_write(w))  # the bank is written then: no READ of that queue
        lk.up.append((ls, rr))
        root.last = max(root.last, s, rr)
        rnd = Round(lk.leaf, rd, s, lr, ls, rr, w)
        self.rounds_done.append(rnd)
        return rnd

    def _leaf(self, r: int, lk: _Link, leaf: _Tile, send: int) -> tuple[int, int]:
        b, diags = leaf.b, leaf.diags
        c2c, link = lk.leaf_port
        first_back = self.first_send(lk.up)
        t = self.first_recv(lk.down, send)
        while (path := self._leaf_at(leaf, c2c, t, first_back)) is None:
            t += 1
        (s_in, d_in), (alu, a, s_sum), shift, back = path
        recv, addi, copy = latency("RECV"), latency("ADDI"), latency("SHIFT")
        pc, pv = b.pos(c2c), b.pos(VXM)
        z = diags.take(d_in, s_in, t + recv + 1, pc)
        b.put(c2c, t, "RECV", link, z)
        d_out = W if d_in == E else E
        z_sum = diags.take(d_out, s_sum, a + addi + 1, pv)
        b.put(alu, a, "ADDI.i8", z, z_sum, lk.leaf, comment=f"a[{r}] + {lk.leaf} back to tile 0")
        if shift is not None:
            sxm, x, s_x = shift
            z_x = diags.take(d_out, s_x, x + copy + 1, b.pos(sxm))
            b.put(sxm, x, "SHIFT.i8", z_sum, z_x, 0, comment="a cycle's delay")
            z_sum = z_x
        b.put(c2c, back, "SEND", z_sum, link)
        leaf.last = max(leaf.last, t, back)
        return t, back

    def _leaf_at(self, leaf: _Tile, c2c: str, t: int, first_back: int):
        """The leaf's round with its RECV at cycle t, or None: (RECV stream, direction),
        (ADDI queue, cycle, stream), the SXM pass (queue, cycle, stream) or None, SEND cycle.

        The value goes from the C2C slice to the VXM and back (a slice consumes only values
        made upstream of it), in the RECV and ADDI latencies + 2 x hops cycles; or, when the
        SEND cannot issue then, later through ``SHIFT.i8 .., 0`` (a copy) in the SXM on the
        way back."""
        b, diags = leaf.b, leaf.diags
        if not self.c2c_free(leaf, c2c, t):
            return None
        recv, addi, copy = latency("RECV"), latency("ADDI"), latency("SHIFT")
        pc, pv = b.pos(c2c), b.pos(VXM)
        d_in = E if pv > pc else W
        d_out = W if d_in == E else E
        s_in = diags.find(d_in, t + recv + 1, pc)
        if s_in is None:
            return None
        a = t + recv + abs(pv - pc)
        alu = next((f"VXM.{i}" for i in range(self.cfg.vxm_alus) if b.free(f"VXM.{i}", a)), None)
        s_sum = diags.find(d_out, a + addi + 1, pv)
        if alu is None or s_sum is None:
            return None
        back = a + addi + abs(pv - pc)
        if back >= first_back and self.c2c_free(leaf, c2c, back):
            return (s_in, d_in), (alu, a, s_sum), None, back
        sxm = "SXM_" + c2c.removeprefix("C2C_")  # between the C2C slice and the VXM
        ps = b.pos(sxm)
        x = a + addi + abs(pv - ps)
        back = x + copy + abs(ps - pc)
        s_x = diags.find(d_out, x + copy + 1, ps)
        if s_x is not None and b.free(sxm, x) and back >= first_back and \
                self.c2c_free(leaf, c2c, back):
            return (s_in, d_in), (alu, a, s_sum), (sxm, x, s_x), back
        return None

    def tiles(self) -> list[tuple[int, _Tile]]:
        return [(0, self.root), *sorted(self.leaves.items())]

    def snapshot(self) -> list[tuple[dict[str, int], int]]:
        """Per tile, its ops per queue and its last SEND or RECV: the program of the rounds
        planned so far (a round only appends, so a snapshot is a shorter program's)."""
        return [({q: len(ops) for q, ops in t.b.ops.items()}, t.last) for _, t in self.tiles()]

    def overfull(self, snap, deskew: bool) -> tuple[int, str, int] | None:
        """(tile, queue, words) of a queue the program of ``snap`` overfills, or None."""
        period = self.plan.period if deskew else None
        for (i, tile), (counts, last) in zip(self.tiles(), snap, strict=True):
            extra = [Op(c, "RUNTIME_DESKEW", (self.plan.t,)) for c in range(period, last, period)
                     ] if period else []
            for q in {*counts, tile.deskew_q} if extra else counts:
                ops = tile.b.ops.get(q, [])[:counts.get(q, 0)]
                words = lowered_words(ops + extra if q == tile.deskew_q else ops)
                if words > self.cfg.queue_words:
                    return i, q, words
        return None

    def render(self, deskew: bool) -> list[str]:
        rounds = self.rounds_done
        texts = []
        for i, tile in self.tiles():
            if deskew:
                place_deskews(tile.b, self.plan, tile.deskew_q, tile.last)
            if i == 0:
                notes = [f"{len(rounds)} rounds: the last SEND in cycle "
                         f"{max(x.send for x in rounds)}, the last WRITE in cycle "
                         f"{max(x.write for x in rounds)}"]
            else:
                mine = [x for x in rounds if x.leaf == i]
                notes = [f"{len(mine)} rounds" + (f", the last SENT back in cycle "
                                                  f"{max(x.leaf_send for x in mine)}"
                                                  if mine else "")]
            notes.append(f"deskew: {plan_text(self.plan)}"
                         + ("" if deskew or self.plan.period is None else
                            " (RUNTIME_DESKEWs left out)"))
            texts.append(tile.b.render(notes))
        return texts


def _check(cfg: TileConfig, rounds: int, tiles: int, ppm: float):
    links = check_tiles(cfg, tiles, least=2)
    need_slices(cfg, "pingpong", "VXM", *{"SXM_" + port[1].removeprefix("C2C_")
                                          for link in links for port in link})
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise KernelError(f"--rounds must be a positive integer, not {rounds}")
    if rounds < tiles - 1:
        raise KernelError(f"--rounds {rounds} leaves tile {rounds + 1} without a round: "
                          f"{tiles} tiles need {tiles - 1} or more")
    check_ppm(cfg, ppm)
    return links, deskew_plan(ppm)


CHECK_EVERY = 32  # rounds planned between two counts of the instruction words


def _plan(cfg: TileConfig, rounds: int, tiles: int, plan: DeskewPlan, links, start: int,
          deskew: bool):
    """Plan ``rounds`` rounds; or, as soon as they overfill an instruction queue, stop and
    return (the most rounds that fit, (tile, queue, words) of the first that do not)."""
    planner = _Planner(cfg, rounds, tiles, plan, links, start)
    snaps, fit = [], 0
    for r in range(rounds):
        planner.round(r)
        snaps.append(planner.snapshot())
        if (r + 1) % CHECK_EVERY and r + 1 < rounds:
            continue
        if planner.overfull(snaps[-1], deskew) is None:
            fit = r + 1
            continue
        bad = r + 1
        while bad - fit > 1:
            mid = (fit + bad) // 2
            fit, bad = (mid, bad) if planner.overfull(snaps[mid - 1], deskew) is None \
                else (fit, mid)
        return fit, planner.overfull(snaps[bad - 1], deskew)
    return planner


def pingpong_rounds(cfg: TileConfig, rounds: int, tiles: int = 2, ppm: float = 0.0,
                    deskew: bool = True, start: int = 0) -> tuple[list[str], dict, list[Round]]:
    """Assembly per tile, the system symbols and every round's cycles of the ping-pong; the
    first SEND no earlier than schedule cycle ``start`` (a lead-in over which clocks drift)."""
    links, plan = _check(cfg, rounds, tiles, ppm)
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        raise KernelError(f"start must be a cycle number, not {start!r}")
    # O(1) first: a and out take one MEM word per round each, dealt over the MEM slices.
    most = len(mem_slices(cfg)) * cfg.mem_words
    planner = _plan(cfg, min(rounds, most), tiles, plan, links, start, deskew)
    if isinstance(planner, tuple):
        fits, (i, q, words) = planner
        raise KernelError(f"--rounds {rounds} is more than tile {i}'s instruction queues hold: "
                          f"its queue {q} needs {words} words after {fits + 1} rounds and "
                          f"holds {cfg.queue_words}; at most --rounds {fits} on {tile_name(cfg)}")
    if rounds > most:
        raise KernelError(f"--rounds {rounds} does not fit: a and out take one MEM word per "
                          f"round each; the root's MEM holds {most} rounds on {tile_name(cfg)}")
    texts = planner.render(deskew)
    shape = (rounds, cfg.lanes)
    symbols = {name: SystemSymbol(name, "i8", shape, (Part(0, name),)) for name in ("a", "out")}
    return texts, symbols, planner.rounds_done


def pingpong_sources(cfg: TileConfig, rounds: int, tiles: int = 2, ppm: float = 0.0,
                     deskew: bool = True, start: int = 0) -> tuple[list[str], dict]:
    """Assembly per tile and the system symbols of the ping-pong."""
    texts, symbols, _ = pingpong_rounds(cfg, rounds, tiles, ppm, deskew, start)
    return texts, symbols


def pingpong(cfg: TileConfig, rounds: int, tiles: int = 2, ppm: float = 0.0,
             deskew: bool = True, start: int = 0):
    """The ping-pong as a SystemImage: ``rounds`` vectors from the root to leaf
    1 + r % (tiles - 1) and back, ``out[r] = a[r] + leaf`` (int8, wrapping), for clocks up to
    ``ppm`` off the root's; ``deskew=False`` leaves the RUNTIME_DESKEWs out; ``start`` holds
    the first SEND back to that cycle."""
    texts, symbols = pingpong_sources(cfg, rounds, tiles, ppm, deskew, start)
    return assemble_system(cfg, texts, symbols, "pingpong")
