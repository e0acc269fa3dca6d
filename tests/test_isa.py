"""Every encoding round-trips: encode, decode, print, parse, encode gives the same bits."""

import math
import random
from pathlib import Path

import pytest

from lpu.sw.asm import assemble_text
from lpu.sw.config import TileConfig
from lpu.sw.isa import (
    BY_OPCODE,
    DTYPES,
    INSTRUCTIONS,
    OPCODE_BITS,
    WORD_BITS,
    EncodingError,
    decode,
    encode,
    field_limit,
    format_instr,
    stream_width,
)
from lpu.sw.isadoc import render

# The largest tile: every field the encoding allows is legal on it, except where a config limit
# is tighter than the field (LW n <= streams).
BIG = TileConfig(lanes=64, streams=32, mem_words=32768, vxm_alus=8, mxm_accumulators=4,
                 sxm_maps=16, c2c_links=4)
BIG_TEXT = " ".join(f"{k}={v}" for k, v in BIG.as_dict().items())
QUEUE_FOR_UNIT = {"ICU": "VXM.0", "MEM": "MEM_W0", "VXM": "VXM.0", "MXM_WGT": "MXM_W.WGT",
                  "MXM_ACT": "MXM_W.ACT", "SXM": "SXM_W", "C2C": "C2C_W"}
ILLEGAL = {("ACCUM", "mode"): {3}}


def legal_stream_values(instr, values, name):
    """Stream field values legal for this operand's width (aligned group, inside the tile)."""
    spec = dict(instr.reads + instr.writes).get(name)
    width = stream_width(instr, values, spec) if spec is not None else 1
    align = 1 if instr.mnemonic == "LW" else width
    return [d << 5 | s for d in (0, 1) for s in range(0, BIG.streams - width + 1, align)]


def field_values(instr, f, values):
    """Every legal value of one field, given the values already chosen (streams need dtypes)."""
    if f.kind == "stream":
        return legal_stream_values(instr, values, f.name)
    if f.kind == "dtype":
        return [DTYPES.index(c) for c in f.choices]
    lim = field_limit(f, BIG)
    hi = min(f.hi, lim) if lim is not None else f.hi
    return [v for v in range(f.lo, hi + 1) if v not in ILLEGAL.get((instr.mnemonic, f.name), ())]


def space(instr):
    """Number of legal encodings (streams counted at their widest legal choice)."""
    return math.prod(len(field_values(instr, f, {g.name: 0 for g in instr.fields}))
                     for f in instr.fields)


def cases(instr, rng, samples=300):
    """All legal field assignments when there are at most 2^16, else corners plus samples."""
    order = sorted(instr.fields, key=lambda f: f.kind == "stream")  # dtypes before streams
    if space(instr) <= 1 << 16:
        out = [{}]
        for f in order:
            out = [{**v, f.name: x} for v in out for x in field_values(instr, f, v)]
        return out
    out = []
    for pick in ("lo", "one", "hi"):
        v = {}
        for f in order:
            vals = field_values(instr, f, v)
            v[f.name] = {"lo": vals[0], "one": vals[min(1, len(vals) - 1)], "hi": vals[-1]}[pick]
        out.append(v)
    for _ in range(samples):
        v = {}
        for f in order:
            v[f.name] = rng.choice(field_values(instr, f, v))
        out.append(v)
    return out


@pytest.mark.parametrize("instr", INSTRUCTIONS, ids=lambda i: i.mnemonic)
def test_round_trip(instr):
    rng = random.Random(instr.opcode)
    assignments = cases(instr, rng)
    texts, words = [], []
    for values in assignments:
        word = encode(instr, values)
        assert 0 <= word < 1 << WORD_BITS
        assert word >> (WORD_BITS - OPCODE_BITS) == instr.opcode
        decoded, dvalues = decode(word)
        assert decoded is instr and dvalues == values
        texts.append(format_instr(decoded, dvalues))
        words.append(word)
    # A MEM queue serves one bank, so each MEM line goes to the queue of its address's bank.
    sections: dict[str, list[tuple[str, int]]] = {}
    for text, word, values in zip(texts, words, assignments, strict=True):
        queue = QUEUE_FOR_UNIT[instr.unit]
        if instr.unit == "MEM":
            queue += f".{values.get('addr', 0) // BIG.mem_words}"
        sections.setdefault(queue, []).append((text, word))
    source = f".config {BIG_TEXT}\n" + "".join(
        f".queue {q}\n" + "".join(f"    {t}\n" for t, _ in lines) for q, lines in sections.items())
    prog = assemble_text("<roundtrip>", source)
    for queue, lines in sections.items():
        items = prog.queues[queue]
        assert len(items) == len(lines)
        for item, (text, word) in zip(items, lines, strict=True):
            assert encode(item.instr, item.values) == word, text


def test_round_trip_counts_are_meaningful():
    """NOP's 16-bit count and every small field space are covered exhaustively."""
    rng = random.Random(0)
    nop = next(i for i in INSTRUCTIONS if i.mnemonic == "NOP")
    assert len(cases(nop, rng)) == (1 << 16) - 1
    iw = next(i for i in INSTRUCTIONS if i.mnemonic == "IW")
    assert len(cases(iw, rng)) == 1


def test_opcodes_unique_and_fit():
    assert len({i.opcode for i in INSTRUCTIONS}) == len(INSTRUCTIONS)
    assert len({i.mnemonic for i in INSTRUCTIONS}) == len(INSTRUCTIONS)
    for i in INSTRUCTIONS:
        assert 0 <= i.opcode < 1 << OPCODE_BITS
        assert i.reserved_bits >= 0, i.mnemonic


def test_illegal_words_rejected():
    for op in range(1 << OPCODE_BITS):
        word = op << (WORD_BITS - OPCODE_BITS)
        if op not in BY_OPCODE:
            with pytest.raises(EncodingError, match="unknown opcode"):
                decode(word)
    for instr in INSTRUCTIONS:
        if instr.reserved_bits:
            word = instr.opcode << (WORD_BITS - OPCODE_BITS) | 1
            with pytest.raises(EncodingError, match="reserved"):
                decode(word)
    word = encode(BY_OPCODE[0x3D], {"dt": 0, "a": 0, "z": 0, "mode": 0}) | (3 << 10)
    with pytest.raises(EncodingError, match="illegal"):
        decode(word)
    with pytest.raises(EncodingError):
        decode(BY_OPCODE[0x01].opcode << 26)  # NOP 0


def test_random_words_decode_or_reject():
    """Decoding is the inverse of encoding on every word it accepts."""
    rng = random.Random(1)
    accepted = 0
    for _ in range(50_000):
        word = rng.getrandbits(32)
        try:
            instr, values = decode(word)
        except EncodingError:
            continue
        accepted += 1
        assert encode(instr, values) == word
    assert accepted > 1000


def test_isa_doc_matches_table():
    doc = Path(__file__).parent.parent / "docs" / "isa.md"
    assert doc.read_text() == render(), "docs/isa.md is stale: run `make docs`"


def test_isa_doc_lists_every_instruction():
    text = render()
    for i in INSTRUCTIONS:
        assert f"| {i.opcode:#04x} | `{i.mnemonic}" in text
