"""GEMV, y = x @ w (int8 x int8 -> int32), tiled over both MXMs.

Column blocks of ``lanes`` outputs alternate between the west and east MXM. Each MXM streams its
weight tiles from the MEM slices of its own hemisphere, one row per slice per cycle, ``LW``
taking one row from every slice each cycle, so the shadow for the next tile fills while the
array computes. ``x`` is read once per MXM into the activation buffer (``LA``) and every tile
takes its activation from there (``ABCB``), so after a short prologue the MEM slices spend
their read cycles on weights alone. The results leave as int32 groups; each MEM slice stores
one byte plane as it passes, which costs that slice one read cycle (a bubble in its hemisphere's
weight stream). The bound: weight bytes / (lanes x MEM slices), one word per slice per cycle.
"""

from __future__ import annotations

from ..config import TileConfig
from .builder import Builder, KernelError


def gemv_bound(cfg: TileConfig, k: int, n: int) -> int:
    """Cycles to read every weight byte with every MEM slice reading one word per cycle."""
    return -(-k * n // (cfg.lanes * 2 * cfg.mem_slices))


def check_shape(cfg: TileConfig, k: int, n: int) -> None:
    lanes = cfg.lanes
    for name, v in (("k", k), ("n", n)):
        if not isinstance(v, int) or v <= 0 or v % lanes:
            raise KernelError(f"--{name} must be a positive multiple of the lane count "
                              f"({lanes}), not {v}")


def gemv(cfg: TileConfig, k: int, n: int) -> str:
    """Return assembly for y = x @ w with x int8 (k,), w int8 (k, n), y int32 (n,)."""
    check_shape(cfg, k, n)
    L, M = cfg.lanes, cfg.mem_slices
    kt_count, nb_count = k // L, n // L
    rows_per_lw = M
    if L % M or L // M < 4:
        raise KernelError(f"gemv needs lanes / mem_slices >= 4 and whole; this tile has "
                          f"{L} lanes and {M} MEM slices per hemisphere")
    if cfg.streams < 8 or M + 1 > 4:
        raise KernelError("gemv needs at least 8 streams per direction and at most 3 MEM "
                          "slices per hemisphere")
    if kt_count > cfg.mxm_act_slots:
        raise KernelError(f"--k {k} needs {kt_count} activation buffer slots; this tile has "
                          f"{cfg.mxm_act_slots} (k <= {cfg.mxm_act_slots * L})")
    if 2 * M < 4:
        raise KernelError("gemv needs 4 MEM slices to store the int32 result planes")
    b = Builder(cfg, f"gemv k={k} n={n}: y = x @ w")
    hemis = {"W": [f"MEM_W{j}" for j in range(M)], "E": [f"MEM_E{j}" for j in range(M)]}
    mxm = {"W": "MXM_W", "E": "MXM_E"}
    wdir = {"W": "W", "E": "E"}  # weights and x travel toward their MXM
    ydir = {"W": "E", "E": "W"}  # results travel back over the MEM slices
    blocks = {"W": [nb for nb in range(nb_count) if nb % 2 == 0],
              "E": [nb for nb in range(nb_count) if nb % 2 == 1]}
    words_per_slice = max(len(v) for v in blocks.values()) * k // M
    if words_per_slice > cfg.mem_words:
        raise KernelError(f"gemv {k} x {n} needs {words_per_slice} weight words per MEM slice; "
                          f"one bank holds {cfg.mem_words}")
    # Layout: weight row k of column block nb is word (k*NB + nb); dealt over M*NB placements
    # it lands in placement (k % M)*NB + nb at address base + k // M.
    places = []
    for j in range(M):
        for nb in range(nb_count):
            h = "W" if nb % 2 == 0 else "E"
            places.append((hemis[h][j], blocks[h].index(nb) * (k // M)))
    b.declare("w", "i8", (k, n), places)
    all_mem = hemis["W"][::-1] + hemis["E"]  # west to east
    bank1 = cfg.mem_words
    x_words = -(-kt_count // len(all_mem))
    b.declare("x", "i8", (k,), [(s, bank1) for s in all_mem])
    y_slices = all_mem[:4]
    b.declare("y", "i32", (n,), [(s, bank1 + x_words) for s in y_slices])

    def mem_free(slice_name, cycle):
        return b.free(slice_name, cycle)

    # Prologue: each MXM loads x chunk kt into activation slot kt.
    for h in ("W", "E"):
        if not blocks[h]:
            continue
        act = f"{mxm[h]}.ACT"
        t = 0
        for kt in range(kt_count):
            src = all_mem[kt % len(all_mem)]
            addr = bank1 + kt // len(all_mem)
            while True:
                r = t - 1 - b.hops(src, mxm[h])
                if b.free(act, t) and mem_free(src, r):
                    break
                t += 1
            b.put(src, r, "READ", addr, f"{wdir[h]}{M}", step=0, comment=f"x chunk {kt}")
            b.put(act, t, "LA", kt, f"{wdir[h]}{M}", step=0)
            t += 1

    # Weight streaming, both hemispheres advancing together cycle by cycle.
    state = {}
    for h in ("W", "E"):
        tiles = [(nb, kt) for nb in blocks[h] for kt in range(kt_count)]
        state[h] = {"tiles": tiles, "i": 0, "row": 0, "addr": [0] * M, "acc": 0}
    t = 1
    while any(s["i"] < len(s["tiles"]) for s in state.values()):
        for h in ("W", "E"):
            st = state[h]
            if st["i"] >= len(st["tiles"]):
                continue
            reads = [(s, t - 1 - b.hops(s, mxm[h])) for s in hemis[h]]
            if not all(mem_free(s, r) for s, r in reads) or not b.free(f"{mxm[h]}.WGT", t):
                continue
            for j, (s, r) in enumerate(reads):
                b.put(s, r, "READ", st["addr"][j], f"{wdir[h]}{j}", step=0)
                st["addr"][j] += 1
            b.put(f"{mxm[h]}.WGT", t, "LW", st["row"], f"{wdir[h]}0", rows_per_lw, step=0)
            st["row"] += rows_per_lw
            if st["row"] == L:
                st["row"] = 0
                finish_tile(b, cfg, h, st, t, mxm, ydir, y_slices, kt_count, x_words)
        t += 1
    notes = [f"bound {gemv_bound(cfg, k, n)} cycles: {k * n} weight bytes / ({L} lanes x "
             f"{2 * M} MEM slices)"]
    return b.render(notes)


def finish_tile(b, cfg, h, st, t, mxm, ydir, y_slices, kt_count, x_words):
    """Install the tile whose last rows loaded in cycle t, multiply, and emit a finished block."""
    act = f"{mxm[h]}.ACT"
    nb, kt = st["tiles"][st["i"]]
    st["i"] += 1
    if not (b.free(act, t + 1) and b.free(act, t + 2)):
        raise AssertionError(f"{act} has no room for IW/ABCB after cycle {t}")
    b.put(act, t + 1, "IW")
    b.put(act, t + 2, "ABCB", kt, st["acc"], int(kt > 0))
    if kt != kt_count - 1:
        return
    bank1 = cfg.mem_words
    for c in range(t + 4, t + 4 + cfg.lanes // cfg.mem_slices - 3):
        writes = [(s, c + 1 + b.hops(mxm[h], s)) for s in y_slices]
        if b.free(act, c) and all(b.free(s, w) for s, w in writes):
            break
    else:
        raise AssertionError(f"no cycle to emit block {nb} from {mxm[h]}")
    b.put(act, c, "ACC", st["acc"], f"{ydir[h]}4", comment=f"y block {nb}")
    for j, (s, w) in enumerate(writes):
        b.put(s, w, "WRITE", bank1 + x_words + nb, f"{ydir[h]}{4 + j}", step=0,
              comment=f"y block {nb} plane {j}")
    st["acc"] ^= 1
