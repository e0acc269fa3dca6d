"""The ``.lpx`` program image: a little-endian binary with a CRC (``docs/programming.md``).

Layout::

    magic  b"LPX\\x1a"      4 bytes
    version u16 = 1, reserved u16 = 0
    sections, each: tag (4 ASCII bytes), payload length u32, payload
      CONF  u16 count, then count x (u8 name length, name, u32 value)
      QUEU  u16 count, then count x (u8 name length, name, u32 words, words x u32)
      DATA  u32 count, then count x (u8 name length, slice name, u32 first word, u32 words,
            words x lanes bytes)
      SYMB  u16 count, then count x (u8 name length, name, u8 dtype, u8 rank, rank x u32,
            u8 placements, placements x (u8 name length, slice name, u32 first word))
    END   u32 CRC-32 of every byte before it

Sections appear once each, in this order (the framing is ``sw/binfmt.py``). The reader takes
exactly what the writer writes for a program the assembler accepts: every tile parameter once,
in ``TileConfig`` order; every queue ends in its one HALT and the queues schedule; segments
sorted by slice and address, apart and merged; symbols with identifier names, rank >= 1, and
placements in MEM that overlap no other (``sw/layout.py``). It rejects anything else.
"""

from __future__ import annotations

import struct

from .binfmt import BinaryReader, frame, pack_name, read_file, read_frame
from .config import TileConfig
from .errors import Location, LpuError
from .isa import DTYPES, EncodingError, check_operands, decode, encode
from .layout import MAX_PLACEMENTS, MAX_RANK, MemMap, bank_problem, name_problem, placement_problem
from .program import Item, LoweredProgram, Program, Symbol
from .schedule import schedule

MAGIC = b"LPX\x1a"
VERSION = 1
SECTIONS = (b"CONF", b"QUEU", b"DATA", b"SYMB")


def segments_normalized(prog: Program) -> list[tuple[str, int, bytes]]:
    """MEM contents as sorted runs, adjacent runs merged: the one canonical form."""
    lanes = prog.config.lanes
    runs: list[list] = []
    for (sl, addr), data in sorted(prog.segments.items()):
        if runs and runs[-1][0] == sl and runs[-1][1] + len(runs[-1][2]) // lanes == addr:
            runs[-1][2] += data
        else:
            runs.append([sl, addr, bytearray(data)])
    return [(sl, addr, bytes(data)) for sl, addr, data in runs]


def write_image(prog: Program, lowered: dict[str, list[Item]]) -> bytes:
    """Serialize a scheduled program (its lowered queue items) into image bytes."""
    cfg = prog.config
    conf = struct.pack("<H", len(cfg.as_dict()))
    for k, v in cfg.as_dict().items():
        conf += pack_name(k) + struct.pack("<I", v)
    queu = struct.pack("<H", len(cfg.queues))
    for q in cfg.queues:
        words = [encode(it.instr, it.values) for it in lowered[q.name]]
        queu += pack_name(q.name) + struct.pack(f"<I{len(words)}I", len(words), *words)
    segs = segments_normalized(prog)
    data = struct.pack("<I", len(segs))
    for sl, addr, payload in segs:
        data += pack_name(sl) + struct.pack("<II", addr, len(payload) // cfg.lanes) + payload
    symb = struct.pack("<H", len(prog.symbols))
    for s in prog.symbols.values():
        symb += pack_name(s.name) + struct.pack(f"<BB{len(s.shape)}I", DTYPES.index(s.dtype),
                                                len(s.shape), *s.shape)
        symb += struct.pack("<B", len(s.placements))
        for sl, addr in s.placements:
            symb += pack_name(sl) + struct.pack("<I", addr)
    return frame(MAGIC, VERSION, list(zip(SECTIONS, (conf, queu, data, symb), strict=True)))


def read_image(path: str, data: bytes) -> LoweredProgram:
    """Parse and validate image bytes; every problem is an LpuError naming the file.

    The reader accepts exactly what ``write_image`` writes for a program the assembler
    accepts: canonical sections, identifier names, symbols that fit and do not overlap, queues
    that end in their one HALT and schedule without a conflict."""
    payloads = read_frame(path, data, MAGIC, VERSION, SECTIONS, ".lpx")
    try:
        prog = _decode_sections(path, payloads)
    except (ValueError, KeyError, EncodingError) as e:
        raise LpuError(f"corrupt image: {e}", Location(path)) from None
    try:
        sched = schedule(prog)
    except LpuError as e:
        raise LpuError(f"corrupt image: its queues do not schedule: {e.message}",
                       Location(path)) from None
    if sched.lowered != prog.queues:
        raise LpuError("corrupt image: its queues are not in scheduled form", Location(path))
    return prog


def _decode_config(c: BinaryReader) -> TileConfig:
    want = list(TileConfig().as_dict())
    count = c.u("H", "config count")
    if count != len(want):
        c.fail(f"bad tile config: {count} parameters, not the {len(want)} of a tile", 0)
    conf = {}
    for key in want:
        at = c.pos
        k = c.name("config name")
        if k != key:
            c.fail(f"bad tile config: parameter {k!r} where {key!r} belongs", at)
        conf[k] = c.u("I", f"config {k}")
    try:
        return TileConfig(**conf)
    except (TypeError, ValueError) as e:
        c.fail(f"bad tile config: {e}", 0)


def _decode_queues(q: BinaryReader, cfg: TileConfig, path: str) -> dict[str, list[Item]]:
    n = q.u("H", "queue count")
    if n != len(cfg.queues):
        q.fail(f"{n} queues; this config has {len(cfg.queues)}", 0)
    queues = {}
    for want in cfg.queues:
        at = q.pos
        name = q.name("queue name")
        if name != want.name:
            q.fail(f"queue {name!r} where {want.name!r} belongs", at)
        count = q.u("I", f"{name} word count")
        if count > cfg.queue_words:
            q.fail(f"queue {name} has {count} words; the tile holds {cfg.queue_words}", at)
        if count == 0:
            q.fail(f"queue {name} is empty; every queue ends in HALT", at)
        first = q.pos
        words = struct.unpack(f"<{count}I", q.take(4 * count, f"{name} words"))
        items = []
        for i, w in enumerate(words):
            try:
                instr, values = decode(w)
            except EncodingError as e:
                q.fail(f"queue {name} word {i}: illegal instruction: {e}", first + 4 * i)
            if instr.unit not in ("ICU", want.unit):
                q.fail(f"queue {name} word {i}: {instr.mnemonic} is not a {want.unit} "
                       "instruction", first + 4 * i)
            problems = [msg for _f, msg in check_operands(instr, values, cfg)]
            problems += [bp for f in instr.fields
                         if (bp := bank_problem(cfg, name, f, values[f.name]))]
            if (instr.mnemonic == "HALT") != (i == count - 1):
                problems.append("HALT ends a queue and only its last word is HALT")
            if problems:
                q.fail(f"queue {name} word {i}: {problems[0]}", first + 4 * i)
            items.append(Item(instr, values, Location(path)))
        queues[name] = items
    return queues


def _decode_segments(d: BinaryReader, prog: Program) -> None:
    cfg = prog.config
    last = None
    for _ in range(d.u("I", "segment count")):
        at = d.pos
        sl = d.name("segment slice")
        addr, words = d.u("II", "segment header")
        problem = placement_problem(cfg, sl, addr, words)
        if problem:
            d.fail(f"segment {sl}:{addr:#x} (+{words} words) is outside MEM: {problem}", at)
        if not words:
            d.fail(f"segment {sl}:{addr:#x} has no words", at)
        if last is not None and (sl, addr) <= (last[0], last[1] + last[2]):
            d.fail(f"segment {sl}:{addr:#x} is not after the end of segment {last[0]}:"
                   f"{last[1]:#x} (+{last[2]} words): segments are sorted, apart and merged", at)
        prog.segments[(sl, addr)] = d.take(words * cfg.lanes, "segment data")
        last = (sl, addr, words)


def _decode_symbols(s: BinaryReader, prog: Program) -> None:
    cfg = prog.config
    mem = MemMap()
    for _ in range(s.u("H", "symbol count")):
        at = s.pos
        name = s.name("symbol name")
        dt, rank = s.u("BB", f"symbol {name}")
        shape = s.u(f"{rank}I", f"symbol {name} shape") if rank else ()
        shape = shape if isinstance(shape, tuple) else (shape,)
        places = []
        for _ in range(s.u("B", f"symbol {name} placements")):
            places.append((s.name("placement slice"), s.u("I", "placement address")))
        problem = name_problem(name) or (
            f"dtype code {dt}" if dt >= len(DTYPES) else
            "rank 0" if not 0 < rank <= MAX_RANK else
            "a dimension of 0" if any(x <= 0 for x in shape) else
            "no placement" if not 0 < len(places) <= MAX_PLACEMENTS else
            "a second symbol of this name" if name in prog.symbols else None)
        if problem:
            s.fail(f"symbol {name!r} is malformed: {problem}", at)
        sym = Symbol(name, DTYPES[dt], tuple(shape), tuple(places))
        for i, (sl, addr) in enumerate(places):
            problem = placement_problem(cfg, sl, addr, sym.words_in(i, cfg.lanes))
            if problem:
                s.fail(f"symbol {name!r} placement {sl}:{addr:#x} is outside MEM: {problem}", at)
        problem = mem.symbol_problem(sym, cfg.lanes)
        if problem:
            s.fail(f"symbol {problem}", at)
        prog.symbols[name] = sym


def _decode_sections(path: str, p: dict[bytes, BinaryReader]) -> LoweredProgram:
    cfg = _decode_config(p[b"CONF"])
    prog = LoweredProgram(cfg, file=path)
    prog.queues = _decode_queues(p[b"QUEU"], cfg, path)
    _decode_segments(p[b"DATA"], prog)
    _decode_symbols(p[b"SYMB"], prog)
    for tag, rd in p.items():
        rd.done(f"section {tag.decode()}")
    return prog


def load_image(path: str) -> LoweredProgram:
    return read_image(path, read_file(path))
