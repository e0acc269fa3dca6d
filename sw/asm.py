"""Assembler front end: text to a :class:`Program` of located items.

Syntax (see ``docs/programming.md``)::

    ; comment (also '#')
    .config default                      ; or: .config lanes=16 streams=8 ...
    .data x i8[64] MEM_W0:0x000          ; name, type, shape, placements
    .data c i8[16] MEM_E0:0x100 = 1, 2, 3 ; optional initial values (rest zero)
    .mem MEM_E1:0x010 = 0, 1, ...        ; raw MEM word(s): lanes bytes each
    .queue MEM_W0
        READ x+1, W1                     ; address by symbol, plus words
    @12 READ 0x20, W2                    ; issue at cycle 12 (NOPs are inserted)
        REPEAT 3, 1, 1
"""

from __future__ import annotations

import os
import re

from .config import PRESETS, TileConfig
from .errors import Location, LpuError
from .isa import (
    BY_MNEMONIC,
    DTYPE_INFO,
    DTYPES,
    STREAM_INDEX_BITS,
    E,
    EncodingError,
    Instr,
    W,
    check_operands,
    check_value,
    lanes_problem,
    stream_operand,
)
from .layout import (
    MAX_PLACEMENTS,
    MAX_RANK,
    MAX_SYMBOLS,
    MemMap,
    bank_problem,
    name_problem,
)
from .program import Item, Program, Symbol, symbol_words

__all__ = ["Assembler", "assemble_text", "bank_problem", "parse_file", "parse_int",
           "read_source"]

MAX_SOURCE_BYTES = 16 << 20
#: A literal of more significant decimal digits than this is "too large" before int() sees it.
MAX_DECIMAL_DIGITS = 20
#: No number the assembler takes needs more bits than this.
MAX_NUMBER_BITS = 64

_NUMBER = re.compile(r"([+-]?)(0x[0-9a-fA-F](?:_?[0-9a-fA-F])*|0b[01](?:_?[01])*"
                     r"|[0-9](?:_?[0-9])*)$")
_STREAM = re.compile(r"([EWew])([0-9]+)$")


class NumberTooLarge(ValueError):
    """A numeric literal past ``MAX_NUMBER_BITS`` bits (checked before converting it)."""


def parse_int(text: str) -> int | None:
    """Decimal, 0x hex or 0b binary, optional sign and digit-separating underscores; None for
    anything else. Raise NumberTooLarge for a magnitude of ``MAX_NUMBER_BITS`` bits or more,
    without converting a long decimal literal (Python refuses those past 4300 digits)."""
    m = _NUMBER.match(text.strip())
    if not m:
        return None
    sign, digits = m.groups()
    digits = digits.replace("_", "")
    base = 16 if digits[:2] == "0x" else 2 if digits[:2] == "0b" else 10
    digits = digits[2:] if base != 10 else digits
    if base == 10 and len(digits.lstrip("0")) > MAX_DECIMAL_DIGITS:
        raise NumberTooLarge(f"number too large: {len(digits)} digits")
    v = int(digits, base)
    if v >> MAX_NUMBER_BITS:
        raise NumberTooLarge(f"number too large: {v.bit_length()} bits")
    return -v if sign == "-" else v


def shown(tok: str, limit: int = 40) -> str:
    """``repr`` of a token for a message, cut short when long."""
    return repr(tok) if len(tok) <= limit else repr(tok[:limit]) + f"... ({len(tok)} chars)"


def _split_operands(text: str, start: int) -> list[tuple[str, int]]:
    """Split on commas; return (operand, 1-based column) pairs, empty operands kept."""
    out, col = [], start
    for part in text.split(","):
        stripped = part.strip()
        lead = len(part) - len(part.lstrip())
        out.append((stripped, col + lead + 1))
        col += len(part) + 1
    return out


def _head(text: str, col: int) -> tuple[str, str, int]:
    """Split off the first word; return it, the stripped rest and the rest's column."""
    m = re.match(r"(\S+)\s*(.*)$", text)
    return m.group(1), m.group(2).rstrip(), col + m.start(2)


def read_source(path: str, data: bytes) -> str:
    """Decode source bytes, rejecting binary and oversize input with a located error."""
    if not data.strip():
        raise LpuError("empty file: no .queue section to assemble", Location(path, 1, 1))
    if len(data) > MAX_SOURCE_BYTES:
        raise LpuError(f"file is {len(data)} bytes; the assembler reads at most "
                       f"{MAX_SOURCE_BYTES} bytes", Location(path, 1, 1))
    bad = data.find(b"\0")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        bad = e.start if bad < 0 else min(bad, e.start)
        text = None
    if bad >= 0:
        head = data[:bad]
        line = head.count(b"\n") + 1
        col = bad - (head.rfind(b"\n") + 1) + 1
        raise LpuError(f"not a text file: byte {data[bad]:#04x} at offset {bad}",
                       Location(path, line, col))
    return text


class Assembler:
    """Parses one source file into a Program; every error is an LpuError with a location."""

    def __init__(self, path: str, text: str):
        self.path = path
        self.lines = [line.rstrip("\r") for line in text.split("\n")]
        self.config: TileConfig | None = None
        self.program: Program | None = None
        self.queue: str | None = None
        self.queue_locs: dict[str, Location] = {}
        self.mem = MemMap()

    def loc(self, line: int, col: int) -> Location:
        return Location(self.path, line, col)

    def number(self, tok: str, n: int, c: int) -> int | None:
        """``parse_int`` of the token at line ``n``, column ``c``, a too-large one located."""
        try:
            return parse_int(tok)
        except NumberTooLarge as e:
            raise LpuError(f"{e}: {shown(tok.strip())}", self.loc(n, c)) from None

    def run(self) -> Program:
        for n, raw in enumerate(self.lines, 1):
            code = re.split(r"[;#]", raw, maxsplit=1)[0].rstrip()
            if not code.strip():
                continue
            col = len(code) - len(code.lstrip()) + 1
            body = code.strip()
            if body.startswith("."):
                self.directive(n, col, body)
            else:
                self.instruction(n, col, body)
        if self.program is None or not self.program.queues:
            raise LpuError("no .queue section: nothing to assemble", self.loc(1, 1))
        return self.program

    def ensure_program(self) -> Program:
        if self.program is None:
            self.config = TileConfig()
            self.program = Program(self.config, file=self.path)
        return self.program

    # Directives

    def directive(self, n: int, col: int, body: str) -> None:
        name, rest, rest_col = _head(body, col)
        if name == ".config":
            self.config_directive(n, col, rest, rest_col)
        elif name == ".data":
            self.data_directive(n, rest, rest_col)
        elif name == ".mem":
            self.mem_directive(n, rest, rest_col)
        elif name == ".queue":
            self.queue_directive(n, rest, rest_col)
        else:
            raise LpuError(f"unknown directive {shown(name)}; expected .config, .data, .mem or "
                           ".queue", self.loc(n, col))

    def config_directive(self, n, col, rest, rest_col):
        if self.program is not None:
            raise LpuError(".config must come before any .data, .mem or .queue",
                           self.loc(n, col))
        if not rest:
            raise LpuError(".config needs a preset name or key=value pairs",
                           self.loc(n, rest_col))
        kwargs, preset, cols = {}, "default", {}
        for m in re.finditer(r"\S+", rest):
            tok, at = m.group(), rest_col + m.start()
            if "=" in tok:
                key, _, val = tok.partition("=")
                if key not in TileConfig.__dataclass_fields__:
                    raise LpuError(f"unknown config parameter {shown(key)}", self.loc(n, at))
                v = self.number(val, n, at + len(key) + 1)
                if v is None:
                    raise LpuError(f"config {key} needs an integer, not {shown(val)}",
                                   self.loc(n, at + len(key) + 1))
                kwargs[key] = v
                cols[key] = at
            else:
                preset = tok
                if tok not in PRESETS:
                    raise LpuError(f"unknown config {shown(tok)}; presets: {', '.join(PRESETS)}",
                                   self.loc(n, at))
        try:
            base = TileConfig.named(preset).as_dict()
            self.config = TileConfig(**{**base, **kwargs})
        except ValueError as e:
            bad = next((c for k, c in cols.items() if str(e).startswith(k + " ")), rest_col)
            raise LpuError(f"bad config: {e}", self.loc(n, bad)) from None
        self.program = Program(self.config, file=self.path)

    def data_directive(self, n, rest, col):
        prog = self.ensure_program()
        m = re.match(r"(\S+)\s+(\w+)\s*\[([^\]]*)\]\s*(.*)$", rest)
        if not m:
            raise LpuError("expected '.data NAME TYPE[SHAPE] SLICE:ADDR[, ...] [= VALUES]'",
                           self.loc(n, col))
        name, dtype, shape_text, tail = m.groups()
        if (problem := name_problem(name)) is not None:
            raise LpuError(problem, self.loc(n, col))
        if len(prog.symbols) >= MAX_SYMBOLS:
            raise LpuError(f"more than {MAX_SYMBOLS} symbols", self.loc(n, col))
        if name in prog.symbols:
            first = prog.symbols[name].loc
            raise LpuError(f"duplicate symbol {name!r} (first defined at {first})",
                           self.loc(n, col))
        if dtype not in DTYPE_INFO:
            raise LpuError(f"unknown type {shown(dtype)}; expected one of {', '.join(DTYPE_INFO)}",
                           self.loc(n, col + m.start(2)))
        shape = []
        for tok, c in _split_operands(shape_text, col + m.start(3) - 1):
            v = self.number(tok, n, c)
            if v is None or v <= 0:
                raise LpuError(f"shape dimension must be a positive integer, not {shown(tok)}",
                               self.loc(n, c))
            if len(shape) == MAX_RANK:
                raise LpuError(f"more than {MAX_RANK} dimensions", self.loc(n, c))
            shape.append(v)
        place_text, _, init_text = tail.partition("=")
        placements = []
        tail_col = col + m.start(4)
        for tok, c in _split_operands(place_text, tail_col - 1):
            if len(placements) == MAX_PLACEMENTS:
                raise LpuError(f"more than {MAX_PLACEMENTS} placements", self.loc(n, c))
            placements.append(self.placement(n, tok, c))
        sym = Symbol(name, dtype, tuple(shape), tuple(placements), self.loc(n, col))
        lanes = self.config.lanes
        for i, (sl, base) in enumerate(placements):
            end = base + sym.words_in(i, lanes)
            if end > self.config.addresses:
                raise LpuError(f"{name} needs words {base:#x}..{end - 1:#x} in {sl}, past the "
                               f"last address {self.config.addresses - 1:#x}",
                               self.loc(n, tail_col))
        def where(other):
            return prog.symbols[other].loc

        if (problem := self.mem.symbol_problem(sym, lanes, where)) is not None:
            raise LpuError(problem, self.loc(n, tail_col))
        prog.symbols[name] = sym
        if init_text.strip():
            import numpy as np

            init_col = tail_col + len(place_text) + 1
            values = self.values(n, init_text, init_col, dtype, sym.elements)
            tensor = np.zeros(sym.elements, DTYPE_INFO[dtype].numpy)
            tensor[:len(values)] = values
            for w, word in symbol_words(sym, tensor, lanes):
                sl, addr = sym.word_address(w)
                self.put_segment(sl, addr, word.tobytes(), n, init_col)

    def placement(self, n, tok, c):
        sl, sep, addr_text = tok.partition(":")
        slc = self.config.slice_by_name.get(sl)
        if not sep or slc is None or slc.kind != "MEM":
            mems = [s.name for s in self.config.slices if s.kind == "MEM"]
            raise LpuError(f"expected a placement MEM_SLICE:ADDR with a slice of "
                           f"{', '.join(mems)}, not {shown(tok)}", self.loc(n, c))
        addr = self.number(addr_text, n, c + len(sl) + 1)
        if addr is None or not 0 <= addr < self.config.addresses:
            raise LpuError(f"address {shown(addr_text)} is not in "
                           f"0..{self.config.addresses - 1:#x}",
                           self.loc(n, c + len(sl) + 1))
        return sl, addr

    def values(self, n, text, col, dtype, limit):
        lo, hi = DTYPE_INFO[dtype].lo, DTYPE_INFO[dtype].hi
        out = []
        for tok, c in _split_operands(text, col - 1):
            v = self.number(tok, n, c)
            if v is None:
                raise LpuError(f"expected an integer value, not {shown(tok)}", self.loc(n, c))
            if not lo <= v <= hi:
                raise LpuError(f"value {v} is out of range for {dtype} ({lo}..{hi})",
                               self.loc(n, c))
            out.append(v)
            if len(out) > limit:
                raise LpuError(f"more than {limit} values", self.loc(n, c))
        return out

    def mem_directive(self, n, rest, col):
        self.ensure_program()
        place, eq, init = rest.partition("=")
        if not eq:
            raise LpuError("expected '.mem SLICE:ADDR = BYTE, BYTE, ...'", self.loc(n, col))
        sl, addr = self.placement(n, place.strip(), col)
        init_col = col + len(place) + 1 + len(init) - len(init.lstrip())
        lanes = self.config.lanes
        data = []
        for tok, c in _split_operands(init.strip(), init_col - 1):
            v = self.number(tok, n, c)
            if v is None or not 0 <= v <= 255:
                raise LpuError(f"expected a byte 0..255, not {shown(tok)}", self.loc(n, c))
            data.append(v)
        if len(data) % lanes:
            raise LpuError(f"a MEM word is {lanes} bytes; got {len(data)} values",
                           self.loc(n, init_col))
        if addr + len(data) // lanes > self.config.addresses:
            raise LpuError("data runs past the last MEM address", self.loc(n, col))
        self.put_segment(sl, addr, bytes(data), n, col)

    def put_segment(self, sl, addr, data, n, col):
        """Record initial MEM words, one entry per word, refusing a word given twice."""
        lanes = self.config.lanes
        segs = self.program.segments
        for w in range(len(data) // lanes):
            if (sl, addr + w) in segs:
                raise LpuError(f"initial data for {sl} word {addr + w:#x} is given twice",
                               self.loc(n, col))
            segs[(sl, addr + w)] = data[w * lanes:(w + 1) * lanes]

    def queue_directive(self, n, rest, col):
        prog = self.ensure_program()
        q = self.config.queue_by_name.get(rest)
        if q is None:
            raise LpuError(f"unknown queue {shown(rest)}; this tile has "
                           f"{', '.join(self.config.queue_by_name)}", self.loc(n, col))
        if rest in prog.queues:
            raise LpuError(f"queue {rest} already has a section at {self.queue_locs[rest]}",
                           self.loc(n, col))
        prog.queues[rest] = []
        self.queue_locs[rest] = self.loc(n, col)
        self.queue = rest

    # Instructions

    def instruction(self, n: int, col: int, body: str) -> None:
        at = None
        if body.startswith("@"):
            m = re.match(r"@(\S*)\s*", body)
            at = self.number(m.group(1), n, col + 1)
            if at is None or at < 0:
                raise LpuError(f"expected a cycle number after '@', not {shown(m.group(1))}",
                               self.loc(n, col + 1))
            at_col = col
            col += m.end()
            body = body[m.end():]
            if not body:
                raise LpuError("'@cycle' needs an instruction after it", self.loc(n, at_col))
        if self.queue is None:
            raise LpuError("instruction outside a .queue section", self.loc(n, col))
        mnem, ops_text, ops_col = _head(body, col)
        name, *suffixes = mnem.split(".")
        instr = BY_MNEMONIC.get(name.upper())
        if instr is None:
            raise LpuError(f"unknown mnemonic {shown(name)}", self.loc(n, col))
        unit = self.config.queue_by_name[self.queue].unit
        if instr.unit not in ("ICU", unit):
            raise LpuError(f"{instr.mnemonic} is a {instr.unit} instruction; queue {self.queue} "
                           f"takes {unit} and ICU instructions", self.loc(n, col))
        if (why := lanes_problem(instr, self.config)) is not None:
            raise LpuError(why, self.loc(n, col))
        values: dict[str, int] = {}
        dts = instr.dtype_fields
        if len(suffixes) != len(dts):
            want = ".".join(f.choices[0] for f in dts)
            hint = f"needs {len(dts)} type suffix(es), e.g. {name}.{want}" if dts else \
                "takes no type suffix"
            raise LpuError(f"{instr.mnemonic} {hint}", self.loc(n, col))
        for f, sfx in zip(dts, suffixes, strict=True):
            if sfx not in f.choices:
                raise LpuError(f"{instr.mnemonic} takes type {'/'.join(f.choices)}, not "
                               f"{shown(sfx)}", self.loc(n, col))
            values[f.name] = DTYPES.index(sfx)
        ops = _split_operands(ops_text, ops_col - 1) if ops_text else []
        fields = instr.operand_fields
        if len(ops) != len(fields):
            want = ", ".join(f.name for f in fields) or "no operands"
            c = ops[len(fields)][1] if len(ops) > len(fields) else col
            raise LpuError(f"{instr.mnemonic} takes {len(fields)} operand(s) ({want}), got "
                           f"{len(ops)}", self.loc(n, c))
        item = Item(instr, values, self.loc(n, col), at)
        if at is not None:
            item.cols["@"] = at_col
        for f, (tok, c) in zip(fields, ops, strict=True):
            item.cols[f.name] = c
            values[f.name] = self.operand(instr, f, tok, n, c, item)
        for name, msg in check_operands(instr, values, self.config)[:1]:
            raise LpuError(msg, self.loc(n, item.cols[name]))
        self.program.queues[self.queue].append(item)

    def operand(self, instr: Instr, f, tok: str, n: int, c: int, item: Item) -> int:
        cfg = self.config
        if not tok:
            raise LpuError(f"missing operand {f.name}", self.loc(n, c))
        if f.kind == "stream":
            m = _STREAM.match(tok)
            if not m:
                raise LpuError(f"operand {f.name} must be a stream like E3 or W0, not "
                               f"{shown(tok)}", self.loc(n, c))
            digits = m.group(2)
            idx = int(digits) if len(digits) <= 3 else 1 << STREAM_INDEX_BITS
            if idx >> STREAM_INDEX_BITS:
                raise LpuError(f"stream {shown(tok)[1:-1]} does not exist: this tile has "
                               f"{cfg.streams} streams per direction", self.loc(n, c))
            return stream_operand(E if m.group(1) in "Ee" else W, idx)
        v = self.number(tok, n, c)
        if v is None and f.kind == "addr":
            v = self.symbol_address(tok, n, c, item, f.name)
        if v is None:
            raise LpuError(f"operand {f.name} must be an integer, not {shown(tok)}",
                           self.loc(n, c))
        try:
            check_value(instr, f, v)
        except EncodingError as e:
            raise LpuError(f"immediate out of range: {e}", self.loc(n, c)) from None
        problem = bank_problem(cfg, self.queue, f, v)
        if problem:
            raise LpuError(problem, self.loc(n, c))
        return v

    def symbol_address(self, tok, n, c, item, fname):
        m = re.match(r"([A-Za-z_]\w*)\s*(?:\+\s*(\S+))?$", tok)
        if not m:
            return None
        name, off_text = m.groups()
        off = self.number(off_text, n, c) if off_text else 0
        if off is None:
            raise LpuError(f"expected a word offset after '+', not {shown(off_text)}",
                           self.loc(n, c))
        sym = self.program.symbols.get(name)
        if sym is None:
            raise LpuError(f"undefined symbol {shown(name)}", self.loc(n, c))
        queue = self.config.queue_by_name[self.queue]
        here = queue.slice.name
        places = sorted(enumerate(sym.placements), key=lambda p: queue.bank is not None and
                        p[1][1] // self.config.mem_words != queue.bank)
        for i, (sl, base) in places:
            if sl == here:
                size = sym.words_in(i, self.config.lanes)
                if not 0 <= off < size:
                    raise LpuError(f"{tok} is past the end of {name} in {sl} ({size} words)",
                                   self.loc(n, c))
                item.symbols[fname] = tok
                return base + off
        raise LpuError(f"symbol {name!r} has no placement in {here} (it lives in "
                       f"{', '.join(sl for sl, _ in sym.placements)})", self.loc(n, c))


def assemble_text(path: str, text: str) -> Program:
    """Parse assembly text into a Program (not yet scheduled)."""
    return Assembler(path, text).run()


def parse_file(path: str) -> Program:
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_SOURCE_BYTES:
                raise LpuError(f"file is {size} bytes; the assembler reads at most "
                               f"{MAX_SOURCE_BYTES} bytes", Location(path, 1, 1))
            data = f.read(MAX_SOURCE_BYTES + 1)
    except OSError as e:
        raise LpuError(f"cannot read: {e.strerror}", Location(path)) from None
    return assemble_text(path, read_source(path, data))
