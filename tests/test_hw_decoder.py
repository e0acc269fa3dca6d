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


@pytest.mark.parametrize(("unit", "queue", "bank"), [
    ("MEM", "MEM_W0.0", 0), ("MEM", "MEM_E1.1", 1), ("VXM", "VXM.0", None),
    ("MXM_WGT", "MXM_W.WGT", None), ("MXM_ACT", "MXM_E.ACT", None), ("SXM", "SXM_W", None),
    ("C2C", "C2C_E", None)])
def test_decoder_matches_isa(unit, queue, bank):
    cfg = TileConfig()
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
