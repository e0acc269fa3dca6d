"""The RTL decoder agrees with the software ISA on every opcode and on random words."""

import random

import pytest

pytest.importorskip("amaranth")

from amaranth.sim import Simulator

from lpu.hw.decoder import Decoder
from lpu.sw.asm import bank_problem
from lpu.sw.config import TileConfig
from lpu.sw.isa import INSTRUCTIONS, EncodingError, check_operands, decode


def expected(word, cfg, unit, queue):
    """(illegal, fields) from the software decoder and assembler checks: the reference."""
    try:
        instr, values = decode(word)
    except EncodingError:
        return True, None
    if instr.unit not in ("ICU", unit) or check_operands(instr, values, cfg) or any(
            bank_problem(cfg, queue, f, values[f.name]) for f in instr.fields):
        return True, None
    return False, {f.name: values[f.name] & ((1 << f.width) - 1) for f in instr.fields}


def words_for(rng, count):
    out = [op << 26 for op in range(64)]  # every opcode with zero fields
    for instr in INSTRUCTIONS:  # every format with each field at 0, 1 and all ones
        for f, _msb, lsb in instr.layout():
            for v in (0, 1, (1 << f.width) - 1):
                out.append(instr.opcode << 26 | v << lsb)
    out += [rng.getrandbits(32) for _ in range(count)]
    out += [rng.choice(INSTRUCTIONS).opcode << 26 | rng.getrandbits(26) for _ in range(count)]
    return out


@pytest.mark.parametrize(("unit", "queue", "bank", "lanes"), [
    ("MEM", "MEM_W0.0", 0, 16), ("MEM", "MEM_E1.1", 1, 16), ("VXM", "VXM.0", None, 16),
    ("MXM_WGT", "MXM_W.WGT", None, 16), ("MXM_ACT", "MXM_E.ACT", None, 16),
    ("SXM", "SXM_W", None, 16), ("C2C", "C2C_E", None, 16),
    ("SXM", "SXM_E", None, 2)])  # a 2-lane tile has no TRANSPOSE
def test_decoder_matches_isa(unit, queue, bank, lanes):
    cfg = TileConfig(lanes=lanes)
    dut = Decoder(cfg, unit, bank)
    words = words_for(random.Random(queue), 1500)
    mismatches = []

    async def bench(ctx):
        for w in words:
            ctx.set(dut.word, w)
            illegal, fields = expected(w, cfg, unit, queue)
            got = ctx.get(dut.illegal)
            if got != illegal:
                mismatches.append((hex(w), "illegal", got, illegal))
            elif fields:
                for name, v in fields.items():
                    if ctx.get(getattr(dut, f"f_{name}")) != v:
                        mismatches.append((hex(w), name))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    assert not mismatches, mismatches[:10]


def test_two_lane_decoder_rejects_transpose():
    """The ISA rule the comparison above relies on, by hand: TRANSPOSE E0, E4 decodes on a
    4-lane tile and is illegal on a 2-lane one."""
    from lpu.sw.isa import BY_MNEMONIC, encode

    word = encode(BY_MNEMONIC["TRANSPOSE"], {"a": 0, "z": 4})
    results = {}
    for lanes in (2, 4):
        dut = Decoder(TileConfig(lanes=lanes), "SXM")

        async def bench(ctx, dut=dut, lanes=lanes):
            ctx.set(dut.word, word)
            results[lanes] = ctx.get(dut.illegal)

        sim = Simulator(dut)
        sim.add_testbench(bench)
        sim.run()
    assert results == {2: 1, 4: 0}
