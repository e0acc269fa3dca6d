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

Sections appear once each, in this order. Readers reject anything else.
"""

from __future__ import annotations

import struct
import zlib

from .asm import bank_problem
from .config import TileConfig
from .errors import Location, LpuError
from .isa import DTYPES, EncodingError, check_operands, decode, encode
from .program import Item, Program, Symbol

MAGIC = b"LPX\x1a"
VERSION = 1
SECTIONS = (b"CONF", b"QUEU", b"DATA", b"SYMB")
MAX_IMAGE_BYTES = 64 << 20


def _name(s: str) -> bytes:
    b = s.encode()
    return struct.pack("<B", len(b)) + b


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

    def section(tag, payload):
        return tag + struct.pack("<I", len(payload)) + payload

    conf = struct.pack("<H", len(cfg.as_dict()))
    for k, v in cfg.as_dict().items():
        conf += _name(k) + struct.pack("<I", v)
    queu = struct.pack("<H", len(cfg.queues))
    for q in cfg.queues:
        words = [encode(it.instr, it.values) for it in lowered[q.name]]
        queu += _name(q.name) + struct.pack(f"<I{len(words)}I", len(words), *words)
    segs = segments_normalized(prog)
    data = struct.pack("<I", len(segs))
    for sl, addr, payload in segs:
        data += _name(sl) + struct.pack("<II", addr, len(payload) // cfg.lanes) + payload
    symb = struct.pack("<H", len(prog.symbols))
    for s in prog.symbols.values():
        symb += _name(s.name) + struct.pack(f"<BB{len(s.shape)}I", DTYPES.index(s.dtype),
                                            len(s.shape), *s.shape)
        symb += struct.pack("<B", len(s.placements))
        for sl, addr in s.placements:
            symb += _name(sl) + struct.pack("<I", addr)
    body = MAGIC + struct.pack("<HH", VERSION, 0)
    for tag, payload in zip(SECTIONS, (conf, queu, data, symb), strict=True):
        body += section(tag, payload)
    body += b"END "
    return body + struct.pack("<I", zlib.crc32(body))


class _Reader:
    def __init__(self, path: str, data: bytes, base: int = 0):
        self.path, self.data, self.pos, self.base = path, data, 0, base

    def fail(self, msg: str, at: int | None = None):
        """Raise for a problem at byte ``at`` of this reader (default: where it stands)."""
        off = self.base + (self.pos if at is None else at)
        raise LpuError(f"corrupt image at byte {off}: {msg}", Location(self.path))

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise LpuError(f"truncated image: {what} needs {n} bytes at byte {self.pos}, "
                           f"{len(self.data) - self.pos} remain", Location(self.path))
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def u(self, fmt: str, what: str):
        vals = struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))
        return vals if len(vals) > 1 else vals[0]

    def name(self, what: str) -> str:
        n = self.u("B", what)
        try:
            return self.take(n, what).decode()
        except UnicodeDecodeError:
            self.fail(f"{what} is not UTF-8", self.pos - n)


def read_sections(r: _Reader, tags) -> dict[bytes, _Reader]:
    """Read the sections ``tags``, in this order, then the END tag: a reader per payload."""
    payloads = {}
    for tag in tags:
        at = r.pos
        got = r.take(4, "section tag")
        if got != tag:
            r.fail(f"expected section {tag.decode()}, found {got!r}", at)
        n = r.u("I", f"{tag.decode()} length")
        payloads[tag] = _Reader(r.path, r.take(n, f"{tag.decode()} payload"), r.pos - n)
    if r.take(4, "END tag") != b"END " or r.pos != len(r.data) - 4:
        r.fail("trailing bytes after the sections", r.pos)
    return payloads


def read_image(path: str, data: bytes) -> Program:
    """Parse and validate image bytes; every problem is an LpuError naming the file."""
    r = _Reader(path, data)
    if len(data) > MAX_IMAGE_BYTES:
        r.fail(f"image is {len(data)} bytes, more than the {MAX_IMAGE_BYTES} allowed", 0)
    if r.take(4, "magic") != MAGIC:
        raise LpuError("not an .lpx image (bad magic)", Location(path))
    version, reserved = r.u("HH", "header")
    if version != VERSION:
        r.fail(f"image version {version}; this tool reads version {VERSION}", 4)
    if reserved:
        r.fail(f"reserved header field is {reserved:#x}, not 0", 6)
    if len(data) < 12 or data[-8:-4] != b"END " or \
            struct.unpack("<I", data[-4:])[0] != zlib.crc32(data[:-4]):
        if data.find(b"END ") < 0:
            raise LpuError("truncated image: no END section", Location(path))
        r.fail("CRC mismatch (the image was altered or cut)", len(data) - 4)
    payloads = read_sections(r, SECTIONS)
    try:
        return _decode_sections(r, payloads)
    except LpuError:
        raise
    except (ValueError, KeyError, EncodingError) as e:
        raise LpuError(f"corrupt image: {e}", Location(path)) from None


def _decode_sections(r: _Reader, p: dict[bytes, _Reader]) -> Program:
    c = p[b"CONF"]
    conf = {}
    for _ in range(c.u("H", "config count")):
        k = c.name("config name")
        conf[k] = c.u("I", f"config {k}")
    try:
        cfg = TileConfig(**conf)
    except (TypeError, ValueError) as e:
        c.fail(f"bad tile config: {e}", 0)
    prog = Program(cfg, file=r.path)
    q = p[b"QUEU"]
    n = q.u("H", "queue count")
    if n != len(cfg.queues):
        q.fail(f"{n} queues; this config has {len(cfg.queues)}", 0)
    for want in cfg.queues:
        at = q.pos
        name = q.name("queue name")
        if name != want.name:
            q.fail(f"queue {name!r} where {want.name!r} belongs", at)
        count = q.u("I", f"{name} word count")
        if count > cfg.queue_words:
            q.fail(f"queue {name} has {count} words; the tile holds {cfg.queue_words}", at)
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
            if problems:
                q.fail(f"queue {name} word {i}: {problems[0]}", first + 4 * i)
            items.append(Item(instr, values, Location(r.path)))
        prog.queues[name] = items
    d = p[b"DATA"]
    for _ in range(d.u("I", "segment count")):
        sl = d.name("segment slice")
        addr, words = d.u("II", "segment header")
        if sl not in cfg.slice_by_name or cfg.slice_by_name[sl].kind != "MEM" or \
                addr + words > cfg.addresses:
            d.fail(f"segment {sl}:{addr:#x} (+{words} words) is outside MEM")
        prog.segments[(sl, addr)] = d.take(words * cfg.lanes, "segment data")
    s = p[b"SYMB"]
    for _ in range(s.u("H", "symbol count")):
        name = s.name("symbol name")
        dt, rank = s.u("BB", f"symbol {name}")
        shape = s.u(f"{rank}I", f"symbol {name} shape") if rank else ()
        shape = shape if isinstance(shape, tuple) else (shape,)
        places = []
        for _ in range(s.u("B", f"symbol {name} placements")):
            places.append((s.name("placement slice"), s.u("I", "placement address")))
        if dt >= len(DTYPES) or not places or any(x <= 0 for x in shape) or name in prog.symbols:
            s.fail(f"symbol {name!r} is malformed")
        sym = Symbol(name, DTYPES[dt], tuple(shape), tuple(places))
        for i, (sl, addr) in enumerate(places):
            if sl not in cfg.slice_by_name or cfg.slice_by_name[sl].kind != "MEM" or \
                    addr + sym.words_in(i, cfg.lanes) > cfg.addresses:
                s.fail(f"symbol {name!r} placement {sl}:{addr:#x} is outside MEM")
        prog.symbols[name] = sym
    for tag, rd in p.items():
        if rd.pos != len(rd.data):
            rd.fail(f"section {tag.decode()} has {len(rd.data) - rd.pos} unread bytes")
    return prog


def load_image(path: str) -> Program:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_IMAGE_BYTES + 1)
    except OSError as e:
        raise LpuError(f"cannot read: {e.strerror}", Location(path)) from None
    return read_image(path, data)
