"""Multi-tile systems: the star wiring, the ``.lpxs`` system image and the golden system run.

A system is 1 to 4 tiles with one shared ``TileConfig``. Tile 0 is the root: every other tile
has one C2C link to it (``star_links``), and the root's clock is the one every tile's HAC
counts. A ``SystemImage`` holds one scheduled program per tile, the links, and the *system
symbols*: named tensors the host loads and reads, each made of per-tile parts.

System symbols (``docs/programming.md``, "Multi-tile systems"): a system symbol has a name,
a dtype and a shape, and a list of ``Part(tile, symbol, axis, start, stop)``. A part says
"tile ``tile``'s symbol ``symbol`` is ``array[..., start:stop, ...]`` (the range on
``axis``)", or, with ``axis`` None, "is the whole array". Loading (``--in``) writes every part
(so a whole-array part on several tiles broadcasts, and ranges scatter blocks); reading
(``--out``) assembles the array from its parts, the first part that covers an element wins.

The ``.lpxs`` image (little-endian, sections like the ``.lpx``)::

    magic b"LPXS\\x1a", u16 version = 1, u16 reserved = 0
    TILE  u8 count, then count x (u32 length, an embedded .lpx image)
    LINK  u8 count, then count x 2 x (u8 tile, u8 name length, C2C slice name, u8 link)
    SYMB  u16 count, then count x (u8 name length, name, u8 dtype, u8 rank, rank x u32,
          u8 parts, parts x (u8 tile, u8 name length, tile symbol, u8 axis (255: whole),
          u32 start, u32 stop))
    END   u32 CRC-32 of every byte before it
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from .binfmt import BinaryReader, frame, pack_name, read_file, read_frame
from .config import TileConfig
from .errors import Location, LpuError
from .golden import GoldenTile, TileError, array_problem, connect, run_system
from .hostjob import RunResult
from .image import read_image, write_image
from .isa import DTYPE_INFO, DTYPES
from .layout import MAX_RANK, name_problem
from .program import Program

MAGIC = b"LPXS\x1a"
VERSION = 1
SECTIONS = (b"TILE", b"LINK", b"SYMB")
MAX_TILES = 4
WHOLE = 255  # axis code of a part that is the whole array
MAX_PARTS = 255  # u8 part count

Port = tuple[int, str, int]  # (tile, C2C slice, link)

# (root port, tile port) per non-root tile 1, 2, 3: east, west, then east again on link 1.
_STAR = (((0, "C2C_E", 0), (1, "C2C_W", 0)),
         ((0, "C2C_W", 0), (2, "C2C_E", 0)),
         ((0, "C2C_E", 1), (3, "C2C_W", 1)))


def star_links(tiles: int, config: TileConfig | None = None) -> list[tuple[Port, Port]]:
    """The links of a star of ``tiles`` tiles around tile 0, root port first.

    Tile 1 hangs on the root's east side (root C2C_E link 0 to its C2C_W link 0), tile 2 on
    the west (root C2C_W link 0 to its C2C_E link 0), tile 3 on the east again over link 1.
    With ``config``, its floorplan must have every C2C slice and link used (ValueError
    otherwise)."""
    if isinstance(tiles, bool) or not isinstance(tiles, int) or not 1 <= tiles <= MAX_TILES:
        raise ValueError(f"a system has 1 to {MAX_TILES} tiles, not {tiles!r}")
    links = list(_STAR[:tiles - 1])
    if config is not None:
        for (_, r_slice, r_link), (t, _, _) in links:
            if r_link >= config.c2c_links:
                raise ValueError(f"{tiles} tiles need link {r_link} of {r_slice} on the root "
                                 f"(for tile {t}); this config has c2c_links = "
                                 f"{config.c2c_links}")
        for port in (p for link in links for p in link):
            if port[1] not in config.slice_by_name:
                raise ValueError(f"{tiles} tiles need slice {port[1]} on tile {port[0]}; this "
                                 f"config has no {port[1]} (hemispheres = {config.hemispheres})")
    return links


@dataclass(frozen=True)
class Part:
    """Tile ``tile``'s symbol ``symbol`` holds the system array's range ``start:stop`` on
    ``axis``, or the whole array when ``axis`` is None."""

    tile: int
    symbol: str
    axis: int | None = None
    start: int = 0
    stop: int = 0

    def index(self, rank: int) -> tuple:
        """The numpy index of this part in the system array."""
        if self.axis is None:
            return (slice(None),) * rank
        return tuple(slice(self.start, self.stop) if a == self.axis else slice(None)
                     for a in range(rank))

    def shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        if self.axis is None:
            return tuple(shape)
        return tuple(self.stop - self.start if a == self.axis else d for a, d in enumerate(shape))


@dataclass(frozen=True)
class SystemSymbol:
    """A tensor the host sees as one array, stored as per-tile parts."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    parts: tuple[Part, ...]


@dataclass
class SystemImage:
    """What a system run needs: the shared config, one scheduled program per tile (its
    ``queues`` are the lowered items, as ``read_image`` returns them and ``GoldenTile`` and the
    host port load them), the links (``star_links``) and the system symbols."""

    config: TileConfig
    programs: list[Program]
    links: list[tuple[Port, Port]]
    symbols: dict[str, SystemSymbol] = field(default_factory=dict)
    file: str = "<system>"

    @property
    def tiles(self) -> int:
        return len(self.programs)

    def check(self) -> str | None:
        """A message for the first inconsistency, or None."""
        n = self.tiles
        if not 1 <= n <= MAX_TILES:
            return f"a system has 1 to {MAX_TILES} tiles, not {n}"
        for i, p in enumerate(self.programs):
            if p.config != self.config:
                return f"tile {i} has another tile config than tile 0"
        try:
            want = star_links(n, self.config)
        except ValueError as e:
            return str(e)
        if [tuple(map(tuple, link)) for link in self.links] != want:
            return f"the links are not the star of {n} tiles ({want})"
        for key, s in self.symbols.items():
            problem = self._check_symbol(key, s)
            if problem:
                return problem
            try:
                self._covering(s)
            except ValueError as e:
                return str(e)
        return None

    def _check_symbol(self, key: str, s: SystemSymbol) -> str | None:
        problem = name_problem(s.name, "system symbol") or (
            f"it is filed under {key!r}" if key != s.name else
            f"dtype {s.dtype!r}" if s.dtype not in DTYPES else
            "rank 0" if not 0 < len(s.shape) <= MAX_RANK else
            "a dimension of 0" if any(d <= 0 for d in s.shape) else
            "no part" if not 0 < len(s.parts) <= MAX_PARTS else None)
        if problem:
            return f"system symbol {s.name!r} is malformed: {problem}"
        for p in s.parts:
            where = f"system symbol {s.name!r}: part on tile {p.tile}"
            if not 0 <= p.tile < self.tiles:
                return f"{where}: there is no tile {p.tile}"
            if p.axis is None and (p.start, p.stop) != (0, 0):
                return f"{where}: a whole-array part has range {p.start}:{p.stop}, not 0:0"
            if p.axis is not None and not (0 <= p.axis < len(s.shape) and
                                           0 <= p.start < p.stop <= s.shape[p.axis]):
                return f"{where}: range {p.start}:{p.stop} on axis {p.axis} is outside {s.shape}"
            sym = self.programs[p.tile].symbols.get(p.symbol)
            if sym is None:
                return f"{where}: the tile has no symbol {p.symbol!r}"
            if sym.dtype != s.dtype or sym.shape != p.shape(s.shape):
                return (f"{where}: {p.symbol} is {sym.dtype}{list(sym.shape)}, the part is "
                        f"{s.dtype}{list(p.shape(s.shape))}")
        return None

    def check_input(self, name: str, array: np.ndarray) -> str | None:
        """A message if ``array`` cannot be loaded as system symbol ``name``, else None."""
        sym = self.symbols.get(name)
        if sym is None:
            return (f"unknown system symbol {name!r}; the system has "
                    f"{', '.join(self.symbols) or 'none'}")
        return array_problem(name, sym.dtype, sym.shape, array)

    def scatter(self, inputs: dict[str, np.ndarray]) -> list[dict[str, np.ndarray]]:
        """Per tile, the tile symbols to load: {tile symbol: array} (inputs checked)."""
        out: list[dict[str, np.ndarray]] = [{} for _ in self.programs]
        for name, array in inputs.items():
            problem = self.check_input(name, np.asarray(array))
            if problem:
                raise ValueError(problem)
            sym = self.symbols[name]
            for p in sym.parts:
                part = np.asarray(array)[p.index(len(sym.shape))]
                out[p.tile][p.symbol] = np.ascontiguousarray(part)
        return out

    def reads(self, outputs: list[str]) -> list[list[str]]:
        """Per tile, the tile symbols to read back for the system symbols ``outputs``."""
        out: list[list[str]] = [[] for _ in self.programs]
        for name in outputs:
            if name not in self.symbols:
                raise ValueError(f"unknown system symbol {name!r}; the system has "
                                 f"{', '.join(self.symbols) or 'none'}")
            for p in self._covering(self.symbols[name]):
                if p.symbol not in out[p.tile]:
                    out[p.tile].append(p.symbol)
        return out

    def gather(self, outputs: list[str], tile_arrays: list[dict[str, np.ndarray]]
               ) -> dict[str, np.ndarray]:
        """Assemble system symbols from what ``reads`` named, read from each tile."""
        result = {}
        for name in outputs:
            sym = self.symbols[name]
            arr = np.zeros(sym.shape, DTYPE_INFO[sym.dtype].numpy)
            for p in self._covering(sym):
                arr[p.index(len(sym.shape))] = tile_arrays[p.tile][p.symbol]
            result[name] = arr
        return result

    def _covering(self, sym: SystemSymbol) -> list[Part]:
        """The parts to read for ``sym``: a whole-array part alone if there is one (the
        lowest tile's), else every range part; error when they leave elements uncovered."""
        whole = [p for p in sym.parts if p.axis is None]
        if whole:
            return [whole[0]]
        covered = np.zeros(sym.shape, bool)
        for p in sym.parts:
            covered[p.index(len(sym.shape))] = True
        if not covered.all():
            raise ValueError(f"system symbol {sym.name!r}: its parts do not cover the array")
        return list(sym.parts)


@dataclass
class SystemResult:
    """What a system backend returns: the gathered system symbols, each tile's RunResult
    (``cycles`` wall cycles, ``frozen``, ``busy``, ``error``), and the first error."""

    outputs: dict[str, np.ndarray]
    tiles: list[RunResult]
    error: TileError | None = None


class SystemTileError(TileError):
    """A tile's run-time error in a system: the TileError with the tile's index."""

    def __init__(self, tile: int, err: TileError):
        Exception.__init__(self, f"tile {tile}, cycle {err.cycle}, {err.queue}: {err.message}")
        self.tile, self.cycle, self.queue, self.message = tile, err.cycle, err.queue, err.message


def periods(ppm: list[float] | None, tiles: int) -> list[float]:
    """Clock periods from frequency offsets in ppm: period = 1 / (1 + ppm * 1e-6)."""
    ppm = [0.0] * tiles if ppm is None else list(ppm)
    if len(ppm) != tiles:
        raise ValueError(f"--ppm needs one value per tile ({tiles}), not {len(ppm)}")
    for v in ppm:
        if not -1e6 < v < 1e6 or v != v:
            raise ValueError(f"a clock offset of {v} ppm is not a clock")
    return [1.0 / (1.0 + v * 1e-6) for v in ppm]


def run_system_golden(system: SystemImage, inputs: dict[str, np.ndarray], outputs: list[str],
                      ppm: list[float] | None = None,
                      max_cycles: int = 10_000_000) -> SystemResult:
    """Run a system on the golden model: one GoldenTile per program, tile i's clock ``ppm[i]``
    off (phase 0), every HAC counting tile 0's clock, the star links with latency
    ``delivery_bound``. Returns the gathered outputs (none after an error), per-tile results
    and the error first in time, with its tile index."""
    from .c2c import delivery_bound

    tile_periods = periods(ppm, system.tiles)
    loads = system.scatter(inputs)
    reads = system.reads(outputs)
    tiles = [GoldenTile(p) for p in system.programs]
    for tile, period, load in zip(tiles, tile_periods, loads, strict=True):
        tile.period, tile.phase, tile.reference = period, 0.0, tiles[0]
        for name, array in load.items():
            tile.load(name, array)
    latency = delivery_bound(system.config)
    for (a, a_slice, a_link), (b, b_slice, b_link) in system.links:
        connect(tiles[a], (a_slice, a_link), tiles[b], (b_slice, b_link), latency)
    error = None
    try:
        run_system(tiles, max_cycles)
    except TileError as e:  # the system as a whole did not finish
        error = e
    failed = [(t.now, i, t.error) for i, t in enumerate(tiles) if t.error is not None]
    if failed:
        _, i, e = min(failed, key=lambda f: (f[0], f[1]))
        error = SystemTileError(i, e)
    results = [RunResult({}, t.wall_cycles, t.busy, [], t.error, t.frozen) for t in tiles]
    outs = {}
    if error is None:
        outs = system.gather(outputs, [{n: t.read(n) for n in r}
                                       for t, r in zip(tiles, reads, strict=True)])
    return SystemResult(outs, results, error)


# The .lpxs image

def write_system(system: SystemImage) -> bytes:
    """Serialize a system image (each tile's program as an embedded .lpx)."""
    problem = system.check()
    if problem:
        raise ValueError(problem)

    tile = struct.pack("<B", system.tiles)
    for p in system.programs:
        img = write_image(p, p.queues)
        tile += struct.pack("<I", len(img)) + img
    link = struct.pack("<B", len(system.links))
    for ends in system.links:
        for t, sl, n in ends:
            link += struct.pack("<B", t) + pack_name(sl) + struct.pack("<B", n)
    symb = struct.pack("<H", len(system.symbols))
    for s in system.symbols.values():
        symb += pack_name(s.name) + struct.pack(f"<BB{len(s.shape)}I", DTYPES.index(s.dtype),
                                                len(s.shape), *s.shape)
        symb += struct.pack("<B", len(s.parts))
        for p in s.parts:
            symb += struct.pack("<B", p.tile) + pack_name(p.symbol)
            symb += struct.pack("<BII", WHOLE if p.axis is None else p.axis, p.start, p.stop)
    return frame(MAGIC, VERSION, list(zip(SECTIONS, (tile, link, symb), strict=True)))


def is_system_image(path: str) -> bool:
    """True when the file starts with the system image magic."""
    try:
        with open(path, "rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def read_system(path: str, data: bytes) -> SystemImage:
    """Parse and validate system image bytes; every problem is an LpuError naming the file
    (and, for an embedded tile image, the tile and the byte where its image starts)."""
    payloads = read_frame(path, data, MAGIC, VERSION, SECTIONS, ".lpxs", "system image")
    system = _decode_system(path, payloads)
    for tag, rd in payloads.items():
        rd.done(f"section {tag.decode()}")
    return system


def _decode_system(path: str, p: dict[bytes, BinaryReader]) -> SystemImage:
    t = p[b"TILE"]
    count = t.u("B", "tile count")
    if not 1 <= count <= MAX_TILES:
        t.fail(f"{count} tiles; a system has 1 to {MAX_TILES}", 0)
    programs = []
    for i in range(count):
        size = t.u("I", f"tile {i} image length")
        at = t.base + t.pos
        blob = t.take(size, f"tile {i} image")
        try:
            prog = read_image(f"{path}#tile{i}", blob)
        except LpuError as e:
            raise LpuError(f"tile {i} (image at byte {at}): {e.message}", Location(path)) from None
        programs.append(prog)
    lk = p[b"LINK"]
    links = []
    for _ in range(lk.u("B", "link count")):
        ends = []
        for _ in range(2):
            tile = lk.u("B", "link tile")
            sl = lk.name("link slice")
            ends.append((tile, sl, lk.u("B", "link number")))
        links.append(tuple(ends))
    s = p[b"SYMB"]
    symbols = {}
    for _ in range(s.u("H", "symbol count")):
        at = s.pos
        name = s.name("system symbol name")
        dt, rank = s.u("BB", f"system symbol {name}")
        shape = s.u(f"{rank}I", f"system symbol {name} shape") if rank else ()
        shape = shape if isinstance(shape, tuple) else (shape,)
        parts = []
        for _ in range(s.u("B", f"system symbol {name} parts")):
            tile = s.u("B", "part tile")
            sym = s.name("part symbol")
            axis, start, stop = s.u("BII", "part range")
            parts.append(Part(tile, sym, None if axis == WHOLE else axis, start, stop))
        if dt >= len(DTYPES) or name in symbols:
            what = f"dtype code {dt}" if dt >= len(DTYPES) else "a second symbol of this name"
            s.fail(f"system symbol {name!r} is malformed: {what}", at)
        symbols[name] = SystemSymbol(name, DTYPES[dt], tuple(shape), tuple(parts))
    system = SystemImage(programs[0].config, programs, links, symbols, path)
    problem = system.check()
    if problem:
        raise LpuError(f"corrupt system image: {problem}", Location(path))
    return system


def load_system(path: str) -> SystemImage:
    return read_system(path, read_file(path))
