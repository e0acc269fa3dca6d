"""GEMV, y = x @ w (int8 x int8 -> int32), streamed through both MXMs.

Column blocks of ``lanes`` outputs go to the west or east MXM (all to the east one on a tile
of one hemisphere). Each MXM streams its weight tiles from the MEM bank queues of its own
hemisphere ("feeders"), one row per feeder per cycle, ``LW`` taking one row from every feeder
each cycle, so the shadow for the next tile fills while the array computes. ``x`` is read
once per MXM into the activation buffer (``LA``) and every tile takes its activation from
there (``ABCB``, never before its slot's ``LA``), so after a short prologue the feeders spend
their cycles on weights alone. A finished block leaves as an int32 group; what happens to it
is the caller's choice (``store_block`` writes one byte plane per MEM bank queue, which costs
each of those bank queues a read cycle: a bubble in that hemisphere's weight stream).

Bound: weight bytes / (lanes x MEM bank queues), every bank queue reading one word per cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from ..config import TileConfig
from ..isa import DTYPE_INFO
from .builder import (
    Builder,
    KernelError,
    bank_write,
    latency,
    overfull_text,
    tile_name,
)

HEMIS = ("W", "E")
MXM = {"W": "MXM_W", "E": "MXM_E"}
TOWARD_MXM = {"W": "W", "E": "E"}  # weights and x travel toward their MXM
FROM_MXM = {"W": "E", "E": "W"}  # results travel back over the MEM slices
MIN_TILE_CYCLES = 4  # LW cycles per MXM weight tile the feeders keep (fewer lanes: lanes)
EMIT_SEARCH = 256  # cycles after a block's sum is ready in which store_block looks for a slot


def hemispheres(cfg: TileConfig) -> tuple[str, ...]:
    """The hemispheres the tile has, west first."""
    return HEMIS[2 - cfg.hemispheres:]


def result_stream(cfg: TileConfig) -> int:
    """The first of the 4 streams a block leaves its MXM on. With two hemispheres each MXM's
    results travel beside the other hemisphere's weights and x (streams 0 to 3), so they take
    4 to 7; alone, an MXM's results have their direction to themselves."""
    return 4 if cfg.hemispheres == 2 else 0


def gemv_bound(cfg: TileConfig, k: int, n: int) -> int:
    """Cycles to read every weight byte with every MEM bank queue reading one word a cycle."""
    return -(-k * n // (cfg.lanes * len(mem_slices(cfg)) * cfg.mem_banks))


def check_multiple(cfg: TileConfig, **dims: int) -> None:
    for name, v in dims.items():
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0 or v % cfg.lanes:
            raise KernelError(f"--{name} must be a positive multiple of the lane count "
                              f"({cfg.lanes}), not {v!r}")


def mem_slices(cfg: TileConfig) -> list[str]:
    """MEM slices west to east."""
    return [s.name for s in cfg.slices if s.kind == "MEM"]


def feeders(cfg: TileConfig, h: str) -> list[tuple[str, int]]:
    """The (slice, bank) queues that feed one MXM: as many as keep 4+ cycles per tile (one
    on a tile of fewer than 4 lanes, whose tiles take fewer cycles whatever the count)."""
    slices = [f"MEM_{h}{j}" for j in range(cfg.mem_slices)]
    all_feeders = [(s, bank) for s in slices for bank in range(cfg.mem_banks)]
    count = max((f for f in range(1, len(all_feeders) + 1)
                 if cfg.lanes % f == 0 and cfg.lanes // f >= MIN_TILE_CYCLES), default=1)
    return all_feeders[:count]


class Layout:
    """Bump allocation of MEM words: one offset per bank, the same in every slice."""

    def __init__(self, cfg: TileConfig):
        self.cfg = cfg
        self.next = [0] * cfg.mem_banks

    def alloc(self, bank: int, words: int, what: str) -> int:
        start = self.next[bank]
        if start + words > self.cfg.mem_words:
            raise KernelError(f"{what} does not fit: bank {bank} of each MEM slice holds "
                              f"{self.cfg.mem_words} words and {start} are taken")
        self.next[bank] += words
        return bank * self.cfg.mem_words + start


@dataclass
class Task:
    """One MXM's share: weight symbol, its column blocks (in order) and K."""

    h: str
    w_name: str
    blocks: list[int]
    k: int
    acc: int = 0
    tiles: list = field(default_factory=list)
    i: int = 0
    row: int = 0
    addr: list = field(default_factory=list)
    iw_at: int = -1  # cycle of the last IW: the next tile's rows may load from then on
    la_at: dict = field(default_factory=dict)  # activation slot: the cycle of its LA


def declare_weights(b: Builder, layout: Layout, name: str, k: int, n: int,
                    owner: dict[int, str]) -> dict[str, int]:
    """Declare weight symbol ``name`` (k, n) so each feeder reads its rows in tile order.

    Row kk of column block nb is word kk*NB + nb; dealt over F*NB placements it lands in
    placement (kk % F)*NB + nb at address base + kk // F. Returns the base per hemisphere.
    """
    cfg = b.cfg
    nb_count = n // cfg.lanes
    feed = {h: feeders(cfg, h) for h in hemispheres(cfg)}
    f = len(feed["E"])
    order = {h: [nb for nb in range(nb_count) if owner[nb] == h] for h in feed}
    words = max(len(v) for v in order.values()) * (k // f)
    base = {bank: layout.alloc(bank, words, f"weights {name}") for bank in range(cfg.mem_banks)}
    places = []
    for j in range(f):
        for nb in range(nb_count):
            h = owner[nb]
            sl, bank = feed[h][j]
            places.append((sl, base[bank] + order[h].index(nb) * (k // f)))
    b.declare(name, "i8", (k, n), places)
    return base


def declare_vector(b: Builder, layout: Layout, name: str, dtype: str, n: int) -> int:
    """A vector dealt over every MEM slice in bank 0 (int8: chunk c in slice c % S)."""
    slices = mem_slices(b.cfg)
    planes = DTYPE_INFO[dtype].bytes
    words = -(-(n // b.cfg.lanes) * planes // len(slices))
    base = layout.alloc(0, words, f"vector {name}")
    b.declare(name, dtype, (n,), [(s, base) for s in slices])
    return base


def stream_gemv(b: Builder, tasks: list[Task], x_base: int, start: int, on_block,
                lockstep: bool = False, x_ready: dict[int, int] | None = None) -> None:
    """Emit the prologue (x into the activation buffers) and the weight streaming. When x is
    itself written by the program, ``x_ready[kt]`` is the first cycle chunk kt may be READ."""
    cfg = b.cfg
    L = cfg.lanes
    slices = mem_slices(cfg)
    read = latency("READ")
    for task in tasks:
        f = len(feeders(cfg, task.h))
        task.tiles = [(nb, kt) for nb in task.blocks for kt in range(task.k // L)]
        task.addr = [0] * f
        kt_count = task.k // L
        if kt_count > cfg.mxm_act_slots:
            raise KernelError(f"k = {task.k} needs {kt_count} activation buffer slots; this "
                              f"tile has {cfg.mxm_act_slots}")
        act, t = f"{MXM[task.h]}.ACT", start
        xs = f"{TOWARD_MXM[task.h]}{f}"
        for kt in range(kt_count):
            src = slices[kt % len(slices)]
            while not (b.free(act, t) and
                       t - read - b.hops(src, MXM[task.h]) >= (x_ready or {}).get(kt, 0) and
                       b.free(f"{src}.0", t - read - b.hops(src, MXM[task.h]))):
                t += 1
            b.put(f"{src}.0", t - read - b.hops(src, MXM[task.h]), "READ",
                  x_base + kt // len(slices), xs, step=0, comment=f"x chunk {kt}")
            b.put(act, t, "LA", kt, xs, step=0)
            task.la_at[kt] = t
            t += 1
    bases = {task.h: task for task in tasks}
    t = start + read
    while any(task.i < len(task.tiles) for task in tasks):
        ready = {}
        for task in tasks:
            if task.i >= len(task.tiles):
                continue
            feed = feeders(cfg, task.h)
            reads = [(f"{sl}.{bank}", t - read - b.hops(sl, MXM[task.h])) for sl, bank in feed]
            ready[task.h] = all(b.free(q, r) for q, r in reads) and \
                b.free(f"{MXM[task.h]}.WGT", t) and (task.row or t >= task.iw_at)
        go = [h for h, ok in ready.items() if ok]
        if lockstep and len(go) != len(ready):
            go = []
        for h in go:
            task = bases[h]
            feed = feeders(cfg, h)
            base = b.symbol_base[task.w_name]
            for j, (sl, bank) in enumerate(feed):
                q = f"{sl}.{bank}"
                b.put(q, t - read - b.hops(sl, MXM[h]), "READ", base[bank] + task.addr[j],
                      f"{TOWARD_MXM[h]}{j}", step=0)
                task.addr[j] += 1
            b.put(f"{MXM[h]}.WGT", t, "LW", task.row, f"{TOWARD_MXM[h]}0", len(feed), step=0)
            task.row += len(feed)
        for h in go:
            task = bases[h]
            if task.row == L:
                task.row = 0
                nb, kt = task.tiles[task.i]
                task.i += 1
                act = f"{MXM[h]}.ACT"
                # IW after this tile's last LW has landed, ABCB after its slot's LA has.
                c = max(t + latency("LW"), task.la_at[kt] + latency("LA")) + 1
                installed = latency("IW") + 1  # ABCB after IW: it uses the new weights
                while not (b.free(act, c) and b.free(act, c + installed)):
                    c += 1
                b.put(act, c, "IW")
                b.put(act, c + installed, "ABCB", kt, task.acc, int(kt > 0))
                task.iw_at = c
                if kt == task.k // L - 1:
                    on_block(task, nb, c + installed)
                    task.acc ^= 1
        t += 1


def plane_stores(cfg: TileConfig, h: str) -> list[tuple[str, int]]:
    """Bank queues that store the byte planes of a block from MXM h: both banks of the two
    slices of the other hemisphere nearest the far MXM, so the result travels the same way as
    that hemisphere's weights and its write bubbles line up in one LW cycle. A tile with one
    MEM slice per side has four bank queues in all: both hemispheres' blocks use all four.
    On a tile of one hemisphere the blocks come back to its own two nearest slices; with one
    MEM slice there are two bank queues, and each block is emitted twice, two planes a time."""
    if cfg.hemispheres == 1:
        return [(f"MEM_{h}{j}", bank) for j in range(min(cfg.mem_slices, 2)) for bank in range(2)]
    other = "E" if h == "W" else "W"
    if cfg.mem_slices == 1:
        return [(f"MEM_{side}0", bank) for side in (other, h) for bank in range(2)]
    return [(f"MEM_{other}{j}", bank) for j in range(2) for bank in range(2)]


def emissions(cfg: TileConfig) -> int:
    """ACCs per block: the 4 byte planes over the bank queues that store them."""
    return 4 // len(plane_stores(cfg, "E"))


def declare_result(b: Builder, layout: Layout, name: str, n: int,
                   owner) -> dict[tuple[str, int], int]:
    """Declare int32 vector ``name`` whose block nb lands where ``store_block`` writes it.
    Returns the first word of each hemisphere's blocks per bank, keyed (hemisphere, bank):
    the same word for both unless the two hemispheres store into the same bank queues."""
    nb_count = n // b.cfg.lanes
    hemis = hemispheres(b.cfg)
    words = emissions(b.cfg) * max(sum(1 for nb in range(nb_count) if owner[nb] == h)
                                   for h in hemis)
    shared = b.cfg.mem_slices == 1 and len(hemis) == 2
    base = {}
    for bank in range(b.cfg.mem_banks):
        start = layout.alloc(bank, words * (2 if shared else 1), f"result {name}")
        base.update({(h, bank): start + i * words * shared for i, h in enumerate(hemis)})
    places = [(sl, base[h, bank]) for h in hemis for sl, bank in plane_stores(b.cfg, h)]
    b.declare(name, "i32", (n,), places)
    return base


def store_block(b: Builder, task: Task, nb: int, abcb: int,
                y_base: dict[tuple[str, int], int]) -> list[tuple[str, int, int]]:
    """Emit block nb (last ABCB in cycle abcb) as int32; each plane is stored as it passes.
    Returns (bank queue, WRITE cycle, address) per byte plane."""
    act = f"{MXM[task.h]}.ACT"
    targets = plane_stores(b.cfg, task.h)
    rounds = emissions(b.cfg)
    z = result_stream(b.cfg)
    ready = abcb + latency("ABCB")  # the first cycle an ACC sees the last ABCB's sum
    for c in range(ready, ready + EMIT_SEARCH):
        writes = [(f"{s}.{bank}", c + r + latency("ACC") + b.hops(MXM[task.h], s))
                  for r in range(rounds) for s, bank in targets]
        if all(b.free(act, c + r) for r in range(rounds)) and \
                all(b.free(q, w) and b.free(q, bank_write(w)) for q, w in writes):
            break
    else:
        raise AssertionError(f"no cycle to emit block {nb} from {MXM[task.h]}")
    for r in range(rounds):
        b.put(act, c + r, "ACC", task.acc, f"{FROM_MXM[task.h]}{z}", comment=f"y block {nb}")
    stored = []
    for j, (q, w) in enumerate(writes):  # plane j: word 4 nb + j, dealt over the targets
        bank = targets[j % len(targets)][1]
        addr = y_base[task.h, bank] + task.blocks.index(nb) * rounds + j // len(targets)
        b.put(q, w, "WRITE", addr, f"{FROM_MXM[task.h]}{z + j}",
              step=0, comment=f"y block {nb} plane {j}")
        stored.append((q, w, addr))
    for q, w in writes:  # the bank is written then: no READ in that cycle
        if b.free(q, bank_write(w)):
            b.reserve(q, bank_write(w))
    return stored


def check_tile(cfg: TileConfig) -> None:
    if cfg.hemispheres == 2 and cfg.streams < 8:
        raise KernelError(f"the GEMV stages need 8 streams per direction; this tile has "
                          f"{cfg.streams}")
    need = len(feeders(cfg, "E")) + 1
    if cfg.streams < need:
        raise KernelError(f"the GEMV needs {need} streams per direction ({need - 1} for weights, "
                          f"1 for x); this tile has {cfg.streams}")


def mem_words(cfg: TileConfig, kt: int, blocks: int, y_blocks: int) -> int:
    """Words bank 0 of each MEM slice takes (the fuller bank) for weights of ``blocks``
    column blocks of ``kt`` weight tiles, x and a y of ``y_blocks``: as ``build_gemv`` lays
    them out (``declare_weights``, ``declare_vector``, ``declare_result``)."""
    h, f = cfg.hemispheres, len(feeders(cfg, "E"))
    shared = 2 if cfg.mem_slices == 1 and h == 2 else 1
    return (-(-blocks // h) * (kt * cfg.lanes // f) + -(-kt // len(mem_slices(cfg)))
            + emissions(cfg) * -(-y_blocks // h) * shared)


def act_words(cfg: TileConfig, kt: int, blocks: int) -> int:
    """The fewest instruction words the busier MXM's ACT queue takes: an IW and an ABCB per
    weight tile, the ACCs of each block (one word, or two with a REPEAT), an LA and HALT."""
    return -(-blocks // cfg.hemispheres) * (2 * kt + emissions(cfg)) + 2


def gemv_problem(cfg: TileConfig, kt: int, blocks: int, tiles: int = 1) -> str | None:
    """Why a GEMV of ``kt`` x ``blocks`` weight tiles per tile (its root receiving the y
    blocks of ``tiles`` tiles) cannot fit, found in O(1) without building it, or None."""
    if kt > cfg.mxm_act_slots:
        return (f"k = {kt * cfg.lanes} needs {kt} activation buffer slots; this tile has "
                f"{cfg.mxm_act_slots}")
    words = mem_words(cfg, kt, blocks, blocks * tiles)
    if words > cfg.mem_words:
        return (f"w, x and y take {words} words of bank 0 of each MEM slice, which holds "
                f"{cfg.mem_words}")
    act = act_words(cfg, kt, blocks)
    if act > cfg.queue_words:
        return (f"queue MXM_{'EW'[blocks > 1 and cfg.hemispheres > 1]}.ACT needs at least "
                f"{act} instruction words (an IW and an ABCB per weight tile) and holds "
                f"{cfg.queue_words}")
    return None


def most_blocks(cfg: TileConfig, kt: int, tiles: int = 1) -> int:
    """The most column blocks per tile that ``gemv_problem`` lets through for ``kt``."""
    lo, hi = 0, 1
    while gemv_problem(cfg, kt, hi, tiles) is None:
        lo, hi = hi, 2 * hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if gemv_problem(cfg, kt, mid, tiles) is None else (lo, mid)
    return lo


def check_fit(cfg: TileConfig, k: int, n: int, tiles: int = 1, largest=None) -> None:
    """KernelError, before anything is built, when y = x @ w with w (k, n) split over
    ``tiles`` tiles cannot fit; it names the largest --n that does for this --k (from
    ``largest(cfg, k)``, default the O(1) ``most_blocks``), or the largest --k."""
    L, kt, blocks = cfg.lanes, k // cfg.lanes, n // (cfg.lanes * tiles)
    why = gemv_problem(cfg, kt, blocks, tiles)
    if why is None:
        return
    most = most_blocks(cfg, kt, tiles) * L * tiles
    if most:
        most = largest(cfg, k) if largest else most
        raise KernelError(f"--n {n} does not fit: {why}; at most --n {most} for --k {k} "
                          f"on {tile_name(cfg)}")
    kts = [t for t in range(1, min(kt, cfg.mxm_act_slots + 1)) if most_blocks(cfg, t, tiles)]
    fits = f"at most --k {kts[-1] * L} for --n {L * tiles}" if kts else "no GEMV fits"
    raise KernelError(f"--k {k} does not fit: {why}; {fits} on {tile_name(cfg)}")


@dataclass
class GemvBuild:
    """A GEMV placed in a Builder, before rendering: what a caller may extend."""

    b: Builder
    layout: Layout
    y_base: dict[tuple[str, int], int]  # (hemisphere, bank): first word (``declare_result``)
    stores: list[tuple[int, int, str, int, int]]  # (block, plane, queue, WRITE cycle, address)
    notes: list[str]


def build_gemv(cfg: TileConfig, k: int, n: int, y_len: int | None = None,
               title: str | None = None) -> GemvBuild:
    """Place y[:n] = x @ w with x int8 (k,), w int8 (k, n), y int32 (y_len,) (default n).

    A longer y leaves blocks n // lanes .. for the caller to fill (the split GEMV's root
    receives them over its links)."""
    check_multiple(cfg, k=k, n=n)
    check_tile(cfg)
    y_len = n if y_len is None else y_len
    check_fit(cfg, k, n, y_len // n)
    b = Builder(cfg, title or f"gemv k={k} n={n}: y = x @ w")
    layout = Layout(cfg)
    nb_count = n // cfg.lanes
    hemis = hemispheres(cfg)
    owner = {nb: hemis[nb % len(hemis)] for nb in range(y_len // cfg.lanes)}
    b.symbol_base["w"] = declare_weights(b, layout, "w", k, n, owner)
    x_base = declare_vector(b, layout, "x", "i8", k)
    y_base = declare_result(b, layout, "y", y_len, owner)
    tasks = [Task(h, "w", [nb for nb in range(nb_count) if owner[nb] == h], k) for h in hemis]
    tasks = [t for t in tasks if t.blocks]
    stores = []

    def on_block(task, nb, t):
        stored = store_block(b, task, nb, t, y_base)
        stores.extend((nb, j, q, w, addr) for j, (q, w, addr) in enumerate(stored))

    stream_gemv(b, tasks, x_base, 0, on_block)
    notes = [f"bound {gemv_bound(cfg, k, n)} cycles: {k * n} weight bytes / ({cfg.lanes} lanes "
             f"x {len(mem_slices(cfg)) * cfg.mem_banks} MEM bank queues)"]
    return GemvBuild(b, layout, y_base, stores, notes)


def gemv(cfg: TileConfig, k: int, n: int) -> str:
    """Return assembly for y = x @ w with x int8 (k,), w int8 (k, n), y int32 (n,)."""
    check_multiple(cfg, k=k, n=n)
    check_tile(cfg)
    check_fit(cfg, k, n, largest=largest_n)
    g = build_gemv(cfg, k, n)
    over = g.b.overfull()
    if over:
        raise KernelError(f"--n {n} does not fit: {overfull_text(cfg, *over)}; at most --n "
                          f"{largest_n(cfg, k)} for --k {k}")
    return g.b.render(g.notes)


@lru_cache(maxsize=64)
def largest_n(cfg: TileConfig, k: int) -> int:
    """The largest n whose GEMV fits with this k, instruction queues included: the O(1) bound
    of ``most_blocks`` when it fits, else a search below it (no try is larger)."""
    L = cfg.lanes

    def fits(blocks: int) -> bool:
        return build_gemv(cfg, k, blocks * L).b.overfull() is None

    top = most_blocks(cfg, k // L)
    if top == 0 or fits(top):
        return top * L
    lo, hi = 0, top
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo * L
