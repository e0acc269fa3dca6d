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

from collections import deque
from dataclasses import dataclass

from ..c2c import delivery_bound, link_format
from ..config import TileConfig
from ..isa import E, W
from ..system import Part, SystemSymbol
from .builder import Builder, KernelError, bank_write, latency, write_visible
from .gemv import build_gemv, check_fit, check_multiple, check_tile, hemispheres, plane_stores
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

__all__ = ["DeskewPlan", "Vector", "deskew_plan", "split_gemv", "split_gemv_sources"]


@dataclass
class Vector:
    """One y plane on a link: global block, byte plane, and the sender's SEND cycle."""

    block: int
    plane: int
    send: int


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
    diags = Diagonals(b)
    c2c, link = port
    c = b.pos(c2c)
    frame = link_format(cfg).frame_words
    d = W if c == 0 else E  # toward the C2C slice
    vectors, last = [], -frame
    pending = sorted(g.stores, key=lambda s: (s[3], s[0], s[1]))  # in the order stored
    read = latency("READ")
    t = 0
    while pending:
        # One vector per link frame; each cycle, the first stored plane that can go then.
        t = max(t, last + frame, hold.get(len(vectors), 0))
        pick = None
        if b.free(c2c, t):
            for i, (_, _, q, w, _) in enumerate(pending):
                if write_visible(w) + read > t:
                    break  # no READ sees this WRITE (or a later one) in time for t
                m = b.pos(q.split(".")[0])
                rd = t - read - abs(m - c)
                if rd >= write_visible(w) and b.free(q, rd):
                    s = diags.find(d, rd + read + 1, m)
                    if s is not None:
                        pick = i
                        break
        if pick is None:
            t += 1
            continue
        nb, j, q, _, addr = pending.pop(pick)
        m = b.pos(q.split(".")[0])
        rd = t - read - abs(m - c)
        stream = diags.take(d, s, rd + read + 1, m)
        b.put(q, rd, "READ", addr, stream, step=0, comment=f"y block {nb} plane {j} to tile 0")
        b.put(c2c, t, "SEND", stream, link)
        vectors.append(Vector(first // cfg.lanes + nb, j, t))
        last = t
    if deskew:
        place_deskews(b, plan, deskew_queue({c2c}), last)
    notes = [*g.notes, f"{len(vectors)} vectors to tile 0, the last SENT in cycle {last}",
             f"deskew: {plan_text(plan)}"]
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
    diags = Diagonals(b)
    bound = delivery_bound(cfg)
    places = [(h, sl, bank) for h in hemispheres(cfg) for sl, bank in plane_stores(cfg, h)]
    deskew_q = deskew_queue({port[0] for port, _ in incoming})
    queues = [deque(vs) for _, vs in incoming]
    last = [-1] * len(incoming)
    recvs: list[list[int]] = [[] for _ in incoming]
    final = 0
    recv = latency("RECV")
    while any(queues):
        i = min((i for i, qv in enumerate(queues) if qv),
                key=lambda i: (queues[i][0].send, i))
        vec = queues[i].popleft()
        (c2c, link), _ = incoming[i]
        word = vec.block * 4 + vec.plane
        h, sl, bank = places[word % len(places)]
        q, addr = f"{sl}.{bank}", g.y_base[h, bank] + word // len(places)
        c, m = b.pos(c2c), b.pos(sl)
        hops, d = abs(m - c), (E if m > c else W)
        r = max(vec.send + bound + plan.margin, last[i] + 1)
        while True:
            w = r + recv + hops
            ok = b.free(c2c, r) and not (c2c == deskew_q and is_deskew(plan, r)) and \
                b.free(q, w) and b.free(q, bank_write(w))
            s = diags.find(d, r + recv + 1, c) if ok else None
            if s is not None:
                break
            r += 1
        stream = diags.take(d, s, r + recv + 1, c)
        b.put(c2c, r, "RECV", link, stream)
        b.put(q, w, "WRITE", addr, stream, step=0,
              comment=f"y block {vec.block} plane {vec.plane} from {c2c} link {link}")
        b.reserve(q, bank_write(w))
        last[i] = r
        recvs[i].append(r)
        final = max(final, r)
    # Vector j + LINK_BUFFER may only enter the buffer once vector j has left it.
    early = [{j + LINK_BUFFER: rs[j] + plan.margin for j in range(len(vs) - LINK_BUFFER)
              if rs[j] + plan.margin > vs[j + LINK_BUFFER].send}
             for (_, vs), rs in zip(incoming, recvs, strict=True)]
    if deskew:
        place_deskews(b, plan, deskew_q, final)
    return b, [*g.notes, f"deskew: {plan_text(plan)}"], early


def split_gemv_sources(cfg: TileConfig, k: int, n: int, tiles: int, ppm: float = 0.0,
                       deskew: bool = True) -> tuple[list[str], dict]:
    """Assembly per tile and the system symbols of y = x @ w split over ``tiles`` tiles.
    ``deskew=False`` leaves the RUNTIME_DESKEWs out (the negative control)."""
    links = check_tiles(cfg, tiles)
    check_multiple(cfg, k=k, n=n)
    if n % (tiles * cfg.lanes):
        raise KernelError(f"--n must split into {tiles} equal blocks of whole vectors: a "
                          f"multiple of {tiles} x {cfg.lanes} lanes = {tiles * cfg.lanes}, "
                          f"not {n}")
    check_tile(cfg)
    check_fit(cfg, k, n, tiles)
    check_ppm(cfg, ppm)
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
    texts, symbols = split_gemv_sources(cfg, k, n, tiles, ppm, deskew)
    return assemble_system(cfg, texts, symbols, "gemv")
