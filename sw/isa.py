"""The instruction set, described once.

Every instruction is a 32-bit word: a 6-bit opcode in bits [31:26], then its fields packed from
bit 25 downward in the order listed; bits below the last field are reserved and must be zero.
The assembler, disassembler, golden model, documentation and RTL decoder all read this table.

Operand kinds:

* ``stream`` (6 bits): direction bit (0 = eastward ``E``, 1 = westward ``W``) and stream index,
  written ``E3`` or ``W3``. A multi-byte operand occupies a stream group: the named stream and
  the next ``bytes - 1`` ones, the index aligned to the group size.
* ``dtype`` (2 bits): ``i8``, ``i16`` or ``i32``, written as a mnemonic suffix (``ADD.i32``).
* ``u`` / ``s``: unsigned / two's-complement immediates; ``addr``: an unsigned MEM word address
  that may be written with a data symbol (``w+3``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

OPCODE_BITS = 6
WORD_BITS = 32
DTYPES = ("i8", "i16", "i32")
UNITS = ("ICU", "MEM", "VXM", "MXM_WGT", "MXM_ACT", "SXM", "C2C")
#: Unit classes of the functional slices; each non-ICU queue belongs to exactly one.
UNIT_CLASSES = UNITS[1:]

#: Stream directions: a stream operand is ``direction << STREAM_INDEX_BITS | index``.
E, W = 0, 1
STREAM_INDEX_BITS = 5
DIRECTION_NAMES = ("E", "W")


def stream_operand(direction: int, index: int) -> int:
    """The 6-bit stream operand of stream ``index`` flowing in ``direction`` (``E`` or ``W``)."""
    return direction << STREAM_INDEX_BITS | index


def stream_dir(operand: int) -> int:
    """Direction (``E`` or ``W``) of a stream operand."""
    return operand >> STREAM_INDEX_BITS


def stream_index(operand: int) -> int:
    """Stream index of a stream operand."""
    return operand & ((1 << STREAM_INDEX_BITS) - 1)


def stream_group(operand: int, width: int) -> list[tuple[int, int]]:
    """(direction, index) of each stream of the ``width``-stream group starting at ``operand``."""
    d, i = stream_dir(operand), stream_index(operand)
    return [(d, i + k) for k in range(width)]


@dataclass(frozen=True)
class DType:
    """One data type: its name (the mnemonic suffix), encoding, width and range."""

    name: str
    code: int
    bytes: int

    @property
    def bits(self) -> int:
        return 8 * self.bytes

    @property
    def lo(self) -> int:
        return -(1 << (self.bits - 1))

    @property
    def hi(self) -> int:
        return (1 << (self.bits - 1)) - 1

    @property
    def numpy(self) -> str:
        """The little-endian numpy dtype string of an array of this type (``<i1``...)."""
        return f"<i{self.bytes}"


#: Every data type by name; int16 and int32 travel byte-sliced on 2 or 4 consecutive streams.
DTYPE_INFO = {name: DType(name, code, 1 << code) for code, name in enumerate(DTYPES)}


@dataclass(frozen=True)
class Field:
    """One operand field of an instruction word."""

    name: str
    kind: str  # "stream", "dtype", "u", "s", "addr"
    width: int
    min: int = 0
    limit: str | None = None  # TileConfig attribute bounding the value (exclusive)
    inclusive: bool = False  # the limit itself is allowed
    choices: tuple[str, ...] = ()  # for dtype fields: allowed suffixes

    @property
    def lo(self) -> int:
        """Smallest encodable value."""
        return -(1 << (self.width - 1)) if self.kind == "s" else self.min

    @property
    def hi(self) -> int:
        """Largest encodable value."""
        if self.kind == "s":
            return (1 << (self.width - 1)) - 1
        if self.kind == "dtype":
            return len(DTYPES) - 1
        return (1 << self.width) - 1


def _stream(name):
    return Field(name, "stream", 6)


def _dt(name="dt", choices=DTYPES):
    return Field(name, "dtype", 2, choices=choices)


# Stream width specs: an int (bytes), or the name of a dtype field (its byte width), or of a
# count field (that many streams).
@dataclass(frozen=True)
class Instr:
    """One instruction: encoding, operands, timing and meaning."""

    mnemonic: str
    opcode: int
    unit: str
    fields: tuple[Field, ...]
    latency: int
    semantics: str
    reads: tuple[tuple[str, int | str], ...] = ()
    writes: tuple[tuple[str, int | str], ...] = ()
    step: str | None = None  # field a REPEAT stride advances
    bank: str | None = None  # "read" / "write": how it uses its queue's MEM bank
    stall: str | None = None  # "deskew" / "runtime": freezes the whole tile
    syntax: tuple[str, ...] = field(default=())  # operand order in text; default: field order
    lands: int | None = None  # cycle offset at whose end the last effect lands; None: latency
    min_lanes: int = 1  # a tile with fewer lanes does not have the instruction (illegal there)

    @property
    def settle(self) -> int:
        """Cycles after issue at whose end the instruction's last effect has landed."""
        return self.latency if self.lands is None else self.lands

    @property
    def dtype_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.kind == "dtype")

    @property
    def operand_fields(self) -> tuple[Field, ...]:
        if self.syntax:
            by_name = {f.name: f for f in self.fields}
            return tuple(by_name[n] for n in self.syntax)
        return tuple(f for f in self.fields if f.kind != "dtype")

    def layout(self) -> list[tuple[Field, int, int]]:
        """Return (field, msb, lsb) for every field, packed downward from bit 25."""
        out, top = [], WORD_BITS - OPCODE_BITS
        for f in self.fields:
            out.append((f, top - 1, top - f.width))
            top -= f.width
        return out

    @property
    def reserved_bits(self) -> int:
        return WORD_BITS - OPCODE_BITS - sum(f.width for f in self.fields)


A, B, M, Z = _stream("a"), _stream("b"), _stream("m"), _stream("z")

_VBIN = dict(unit="VXM", fields=(_dt(), A, B, Z), reads=(("a", "dt"), ("b", "dt")),
             writes=(("z", "dt"),))
_VUN = dict(unit="VXM", fields=(_dt(), A, Z), reads=(("a", "dt"),), writes=(("z", "dt"),))
_Q34 = "int8 in Q3.4 (value/16)"

INSTRUCTIONS: tuple[Instr, ...] = (
    # ICU: available in every queue.
    Instr("HALT", 0x00, "ICU", (), 0,
          "End of this queue's program. An all-zero word is HALT, so empty queue memory halts."),
    Instr("NOP", 0x01, "ICU", (Field("n", "u", 16, min=1),), 0,
          "Idle this queue for n cycles: the next instruction issues n cycles later."),
    Instr("REPEAT", 0x02, "ICU",
          (Field("n", "u", 8, min=1), Field("d", "u", 8, min=1), Field("stride", "s", 8)), 0,
          "Re-issue the previous instruction n more times, d cycles apart; its step field "
          "(MEM address, MXM row) advances by stride each time. Holds the queue n*d cycles."),
    Instr("SYNC", 0x03, "ICU", (), 0,
          "Park this queue until a NOTIFY issued in the same cycle or later; the next "
          "instruction issues the cycle after that NOTIFY."),
    Instr("NOTIFY", 0x04, "ICU", (), 0,
          "Release every queue parked on SYNC; all resume on the next cycle."),
    # MEM
    Instr("READ", 0x08, "MEM", (Field("addr", "addr", 16, limit="addresses"), Z), 1,
          "z = MEM[addr]: the word leaves on stream z. addr must lie in this queue's bank.",
          writes=(("z", 1),), step="addr",
          bank="read"),
    Instr("WRITE", 0x09, "MEM", (Field("addr", "addr", 16, limit="addresses"), A), 1,
          "MEM[addr] = a: stores the vector passing on stream a; the bank is written one cycle "
          "after issue.", reads=(("a", 1),), step="addr", bank="write"),
    Instr("GATHER", 0x0A, "MEM", (M, Z), 1,
          "z[l] = byte l of MEM[m[l]], m an unsigned 16-bit address per lane (indirect read); "
          "every address must lie in this queue's bank.", reads=(("m", 2),), writes=(("z", 1),),
          bank="read"),
    Instr("SCATTER", 0x0B, "MEM", (M, A), 1,
          "byte l of MEM[m[l]] = a[l], m an unsigned 16-bit address per lane (indirect write), "
          "in this queue's bank one cycle after issue.", reads=(("m", 2), ("a", 1)),
          bank="write"),
    # MXM
    Instr("LW", 0x0C, "MXM_WGT",
          (Field("row", "u", 6, limit="lanes"), A, Field("n", "u", 6, min=1, limit="streams",
                                                            inclusive=True)),
          0, "Shadow weight rows row .. row+n-1 = streams a .. a+n-1 (int8, lane j is column "
          "j). Rows past the last wrap to row 0.", reads=(("a", "n"),), step="row"),
    Instr("IW", 0x0D, "MXM_ACT", (), 0,
          "Install: the active weight array becomes a copy of the shadow rows as they were "
          "before this cycle's LW; ABCs issued later use it."),
    Instr("ABC", 0x0E, "MXM_ACT",
          (A, Field("acc", "u", 2, limit="mxm_accumulators"), Field("add", "u", 1)), 2,
          "Activation x = stream a (int8). acc[j] = (add ? acc[j] : 0) + sum_k x[k] * W[k][j] "
          "in int32 (wrapping); ready for an ACC issued 2 or more cycles later.",
          reads=(("a", 1),), lands=1),
    Instr("LA", 0x1D, "MXM_ACT",
          (Field("slot", "u", 6, limit="mxm_act_slots"), A), 0,
          "Activation buffer slot = stream a (int8), for ABCB issued in a later cycle: an "
          "activation read once from MEM serves every weight tile it meets.",
          reads=(("a", 1),)),
    Instr("ABCB", 0x1E, "MXM_ACT",
          (Field("slot", "u", 6, limit="mxm_act_slots"),
           Field("acc", "u", 2, limit="mxm_accumulators"), Field("add", "u", 1)), 2,
          "As ABC, with the activation x taken from activation buffer slot instead of a "
          "stream.", lands=1),
    Instr("ACC", 0x0F, "MXM_ACT", (Field("acc", "u", 2, limit="mxm_accumulators"), Z), 1,
          "z (int32 group) = accumulator acc.", writes=(("z", 4),)),
    # C2C
    Instr("SEND", 0x10, "C2C", (A, Field("link", "u", 2, limit="c2c_links")), 0,
          "Transmit the vector on stream a over link.", reads=(("a", 1),)),
    Instr("RECV", 0x11, "C2C", (Field("link", "u", 2, limit="c2c_links"), Z), 1,
          "z = the vector the link delivers for this cycle; none arrived sets the error flag.",
          writes=(("z", 1),)),
    Instr("DESKEW", 0x12, "C2C", (), 0,
          "Freeze the whole tile (issue, pipelines, streams) so that the next instruction "
          "issues on the next HAC epoch boundary (a later cycle whose HAC is 0).",
          stall="deskew"),
    Instr("RUNTIME_DESKEW", 0x13, "C2C", (Field("t", "u", 16, min=1),), 0,
          "Freeze the whole tile for t cycles plus the drift correction the link measured "
          "(0 on a single tile), so the schedule stays aligned with the link partner.",
          stall="runtime"),
    # SXM
    Instr("SHIFT", 0x14, "SXM", (_dt(), A, Z, Field("n", "s", 7)), 1,
          "z[l] = a[l-n] where 0 <= l-n < lanes, else 0 (lane shift with zero fill).",
          reads=(("a", "dt"),), writes=(("z", "dt"),)),
    Instr("ROTATE", 0x15, "SXM", (_dt(), A, Z, Field("n", "u", 6, limit="lanes")), 1,
          "z[l] = a[(l-n) mod lanes].", reads=(("a", "dt"),), writes=(("z", "dt"),)),
    Instr("PERMUTE", 0x16, "SXM", (_dt(), A, Z, Field("map", "u", 4, limit="sxm_maps")), 1,
          "z[l] = a[map[l]] if map[l] < lanes else 0 (map entries are unsigned bytes: -1 "
          "from SETMAP is 255): permutation, or distribution with replication and zero fill.", reads=(("a", "dt"),), writes=(("z", "dt"),)),
    Instr("BCAST", 0x17, "SXM", (_dt(), A, Z, Field("lane", "u", 6, limit="lanes")), 1,
          "z[l] = a[lane] for every l.", reads=(("a", "dt"),), writes=(("z", "dt"),)),
    Instr("TRANSPOSE", 0x18, "SXM", (A, Z), 1,
          "4x4 byte transpose of a 4-stream group in each block of 4 lanes: "
          "z_j[4b+i] = a_i[4b+j].", reads=(("a", 4),), writes=(("z", 4),), min_lanes=4),
    Instr("SETMAP", 0x19, "SXM", (A, Field("map", "u", 4, limit="sxm_maps")), 0,
          "map table entry l = a[l] (unsigned), for PERMUTE issued in a later cycle.",
          reads=(("a", 1),)),
    Instr("RSUM", 0x1A, "SXM", (_dt(), A, Z), 2,
          "z[l] = sum of a over all lanes (wrapping), in every lane.",
          reads=(("a", "dt"),), writes=(("z", "dt"),)),
    Instr("RMAX", 0x1B, "SXM", (_dt(), A, Z), 2,
          "z[l] = max of a over all lanes, in every lane.",
          reads=(("a", "dt"),), writes=(("z", "dt"),)),
    Instr("ARGMAX", 0x1C, "SXM", (_dt(), A, Z), 2,
          "z[l] (int8) = lowest lane index holding the max of a, in every lane.",
          reads=(("a", "dt"),), writes=(("z", 1),)),
    # VXM: one instruction per ALU queue per cycle, all ALUs on the VXM's stream position. An ALU
    # result is also visible to every VXM ALU in the next cycle (chaining), see schedule.py.
    Instr("ADD", 0x20, semantics="z = a + b (wrapping).", latency=1, **_VBIN),
    Instr("SUB", 0x21, semantics="z = a - b (wrapping).", latency=1, **_VBIN),
    Instr("MUL", 0x22, semantics="z = a * b, low half (wrapping).", latency=2, **_VBIN),
    Instr("MIN", 0x23, semantics="z = min(a, b).", latency=1, **_VBIN),
    Instr("MAX", 0x24, semantics="z = max(a, b).", latency=1, **_VBIN),
    Instr("AND", 0x25, semantics="z = a & b.", latency=1, **_VBIN),
    Instr("OR", 0x26, semantics="z = a | b.", latency=1, **_VBIN),
    Instr("XOR", 0x27, semantics="z = a ^ b.", latency=1, **_VBIN),
    Instr("SHL", 0x28, semantics="z = a << (b mod bits) (wrapping); b mod bits is the low "
          "log2(bits) bits of b.", latency=1, **_VBIN),
    Instr("SRA", 0x29, semantics="z = a >> (b mod bits), arithmetic; b mod bits is the low "
          "log2(bits) bits of b.", latency=1, **_VBIN),
    Instr("CMPEQ", 0x2A, semantics="z = -1 if a == b else 0 (a lane mask).", latency=1, **_VBIN),
    Instr("CMPGT", 0x2B, semantics="z = -1 if a > b else 0 (a lane mask).", latency=1, **_VBIN),
    Instr("SELECT", 0x2C, "VXM", (_dt(), M, A, B, Z), 1, "z = a if m != 0 else b.",
          reads=(("m", "dt"), ("a", "dt"), ("b", "dt")), writes=(("z", "dt"),)),
    Instr("ADDI", 0x2D, "VXM", (_dt(), A, Z, Field("imm", "s", 12)), 1,
          "z = a + imm (wrapping).", reads=(("a", "dt"),), writes=(("z", "dt"),)),
    Instr("SRAI", 0x2E, "VXM", (_dt(), A, Z, Field("n", "u", 5)), 1,
          "z = (a + (1 << (n-1) if n else 0)) >> n: arithmetic shift, rounding half up, the "
          "sum one bit wider than the type (no overflow); n >= bits gives 0 or -1.",
          reads=(("a", "dt"),), writes=(("z", "dt"),)),
    Instr("CONST", 0x2F, "VXM", (_dt(), Z, Field("imm", "s", 16)), 1,
          "z = imm in every lane (wrapped to the type).", writes=(("z", "dt"),)),
    Instr("NEG", 0x30, semantics="z = -a (wrapping).", latency=1, **_VUN),
    Instr("ABS", 0x31, semantics="z = |a| (wrapping: |min| = min).", latency=1, **_VUN),
    Instr("RELU", 0x32, semantics="z = max(a, 0).", latency=1, **_VUN),
    Instr("MOV", 0x33, semantics="z = a: copies a vector to another stream or direction.",
          latency=1, **_VUN),
    Instr("CVT", 0x34, "VXM", (_dt("src"), _dt("dst"), A, Z), 1,
          "z = a converted from type src to type dst: sign extension when widening, "
          "saturation when narrowing.", reads=(("a", "src"),), writes=(("z", "dst"),)),
    Instr("QPARAM", 0x35, "VXM", (Field("mult", "s", 16), Field("shift", "u", 6)), 0,
          "Set this ALU's requantization multiplier and shift for later REQUANTs (both 0 "
          "after reset)."),
    Instr("REQUANT", 0x36, "VXM", (A, Z), 3,
          "z (int8) = saturate((a * mult + (1 << (shift-1) if shift else 0)) >> shift), "
          "a int32, exact 64-bit product, mult and shift from QPARAM.",
          reads=(("a", 4),), writes=(("z", 1),)),
    Instr("SILU", 0x37, "VXM", (A, Z), 2,
          f"z = round(silu(x) * 16) saturated, x = a; a and z {_Q34}; a 256-entry table.",
          reads=(("a", 1),), writes=(("z", 1),)),
    Instr("GELU", 0x38, "VXM", (A, Z), 2,
          f"z = round(gelu(x) * 16) saturated (erf form), x = a; a and z {_Q34}; a table.",
          reads=(("a", 1),), writes=(("z", 1),)),
    Instr("EXP", 0x39, "VXM", (A, Z), 2,
          f"z (int32 Q15.16) = round(exp(x) * 65536), a {_Q34}; a 256-entry table.",
          reads=(("a", 1),), writes=(("z", 4),)),
    Instr("RECIP", 0x3A, "VXM", (A, Z), 3,
          "z = 1/a in int32 Q15.16 for a > 0 in Q15.16 (normalize, 256-entry table on the 8 "
          "bits after the leading one, denormalize with rounding; docs/numerics.md); a <= 0 "
          "gives 0x7fffffff, and so does a = 1, the only input whose result overflows.",
          reads=(("a", 4),), writes=(("z", 4),)),
    Instr("RSQRT", 0x3B, "VXM", (A, Z), 3,
          "z = 1/sqrt(a) in int32 Q15.16 for a > 0 in Q15.16 (256-entry table indexed by the "
          "exponent parity and the 7 bits after the leading one, denormalize with rounding; "
          "docs/numerics.md); a <= 0 gives 0x7fffffff.",
          reads=(("a", 4),), writes=(("z", 4),)),
    Instr("MULQ", 0x3C, "VXM", (A, B, Z), 2,
          "z = saturate_int32((a * b + 2^15) >> 16), exact product, arithmetic shift (round "
          "half up): a Q15.16 product.",
          reads=(("a", 4), ("b", 4)), writes=(("z", 4),)),
    Instr("ACCUM", 0x3D, "VXM", (_dt(), A, Z, Field("mode", "u", 2, limit=None)), 1,
          "This ALU's running register r = a (mode 0), r + a (mode 1, wrapping), max(r, a) "
          "(mode 2); z = the new r. r is 32 bits, 0 after reset, read as the instruction's "
          "type (its low bits). Mode 3 is illegal.",
          reads=(("a", "dt"),), writes=(("z", "dt"),)),
)

BY_MNEMONIC: dict[str, Instr] = {i.mnemonic: i for i in INSTRUCTIONS}
BY_OPCODE: dict[int, Instr] = {i.opcode: i for i in INSTRUCTIONS}

# Values a field may not take although it encodes them (checked on encode and decode).
ILLEGAL_VALUES: dict[tuple[str, str], frozenset[int]] = {("ACCUM", "mode"): frozenset({3})}


class EncodingError(ValueError):
    """A field value that does not fit, or a word that is not a legal instruction."""


def dtype_name(code: int) -> str:
    return DTYPES[code]


def check_value(instr: Instr, f: Field, v: int) -> None:
    """Raise EncodingError if ``v`` is not a legal value of field ``f``."""
    if not f.lo <= v <= f.hi:
        raise EncodingError(f"{instr.mnemonic} {f.name} = {v} is out of range {f.lo}..{f.hi}")
    if f.kind == "dtype" and DTYPES[v] not in f.choices:
        raise EncodingError(f"{instr.mnemonic} does not take type {DTYPES[v]}")
    if v in ILLEGAL_VALUES.get((instr.mnemonic, f.name), ()):
        raise EncodingError(f"{instr.mnemonic} {f.name} = {v} is illegal")


def encode(instr: Instr, values: dict[str, int]) -> int:
    """Pack an instruction and its field values into a 32-bit word."""
    word = instr.opcode << (WORD_BITS - OPCODE_BITS)
    for f, _msb, lsb in instr.layout():
        v = values[f.name]
        check_value(instr, f, v)
        word |= (v & ((1 << f.width) - 1)) << lsb
    return word


def decode(word: int) -> tuple[Instr, dict[str, int]]:
    """Unpack a 32-bit word; raise EncodingError for an illegal instruction."""
    if not 0 <= word < 1 << WORD_BITS:
        raise EncodingError(f"word {word:#x} is not 32 bits")
    op = word >> (WORD_BITS - OPCODE_BITS)
    instr = BY_OPCODE.get(op)
    if instr is None:
        raise EncodingError(f"unknown opcode {op:#04x} in word {word:#010x}")
    if word & ((1 << instr.reserved_bits) - 1):
        raise EncodingError(f"reserved bits set in {instr.mnemonic} word {word:#010x}")
    values = {}
    for f, _msb, lsb in instr.layout():
        raw = (word >> lsb) & ((1 << f.width) - 1)
        if f.kind == "s" and raw >> (f.width - 1):
            raw -= 1 << f.width
        check_value(instr, f, raw)
        values[f.name] = raw
    return instr, values


def stream_text(v: int) -> str:
    """Assembly text of a stream operand (``E3``, ``W0``)."""
    return DIRECTION_NAMES[stream_dir(v)] + str(stream_index(v))


def format_instr(instr: Instr, values: dict[str, int]) -> str:
    """Return the assembly text of one instruction (symbols are not reconstructed)."""
    name = instr.mnemonic + "".join("." + DTYPES[values[f.name]] for f in instr.dtype_fields)
    ops = []
    for f in instr.operand_fields:
        v = values[f.name]
        ops.append(stream_text(v) if f.kind == "stream" else f"{v:#x}" if f.kind == "addr"
                   else str(v))
    return f"{name} {', '.join(ops)}" if ops else name


def field_limit(f: Field, config) -> int | None:
    """Largest legal value of ``f`` on ``config``, or None when only the encoding bounds it."""
    if f.limit is None:
        return None
    return getattr(config, f.limit) - (0 if f.inclusive else 1)


def lanes_problem(instr: Instr, config) -> str | None:
    """Why ``config``'s tile does not have ``instr`` (too few lanes), or None."""
    if config.lanes < instr.min_lanes:
        return (f"{instr.mnemonic} needs at least {instr.min_lanes} lanes; this tile has "
                f"{config.lanes}")
    return None


def check_operands(instr: Instr, values: dict[str, int], config) -> list[tuple[str, str]]:
    """Checks that depend on the tile config: (field name, message) for every problem; an
    instruction the tile does not have is a problem of its first field."""
    if (why := lanes_problem(instr, config)) is not None:
        return [(instr.fields[0].name if instr.fields else "", why)]
    problems = []
    for f in instr.fields:
        v = values[f.name]
        lim = field_limit(f, config)
        if f.kind == "stream" and stream_index(v) >= config.streams:
            problems.append((f.name, f"stream {stream_text(v)} does not exist: this tile has "
                                     f"{config.streams} streams per direction"))
        elif f.kind != "stream" and lim is not None and v > lim:
            problems.append((f.name, f"immediate out of range: {instr.mnemonic} {f.name} = {v}, "
                                     f"this tile allows {f.lo}..{lim}"))
    if problems:
        return problems
    for name, spec in instr.reads + instr.writes:
        width = stream_width(instr, values, spec)
        v = values[name]
        idx, text = stream_index(v), stream_text(v)
        if width > 1 and instr.mnemonic != "LW" and idx % width:
            problems.append((name, f"operand {name} ({text}) is a {width}-stream group and must "
                                   f"start at a multiple of {width}"))
        elif idx + width > config.streams:
            problems.append((name, f"operand {name} ({text}) needs streams {idx}..{idx + width - 1}"
                                   f", past the last stream {config.streams - 1}"))
    return problems


def step_range(instr: Instr, step: str, cfg, queue: str) -> tuple[int, int]:
    """Legal range of a REPEAT-stepped field: a MEM address stays in its queue's bank."""
    q = cfg.queue_by_name[queue]
    if q.bank is not None:
        return q.bank * cfg.mem_words, (q.bank + 1) * cfg.mem_words - 1
    f = next(f for f in instr.fields if f.name == step)
    return f.lo, field_limit(f, cfg)


def stream_width(instr: Instr, values: dict[str, int], spec: int | str) -> int:
    """Number of consecutive streams an operand occupies."""
    if isinstance(spec, int):
        return spec
    f = next(f for f in instr.fields if f.name == spec)
    return 1 << values[spec] if f.kind == "dtype" else values[spec]
