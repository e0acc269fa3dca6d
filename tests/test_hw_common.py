# amaranth: UnusedElaboratable=no
"""The shared unit port and the latency check every unit runs against the ISA table."""

import pytest

pytest.importorskip("amaranth")

from lpu.hw import c2c, mem, mxm, sxm, vxm
from lpu.hw.common import IsaMismatch, check_latencies, require_config, unit_signature
from lpu.sw.config import TileConfig
from lpu.sw.isa import INSTRUCTIONS

CFG = TileConfig.named("small")

#: Each unit's module, its ISA unit class and a constructor for it.
UNITS = {
    "MEM": (mem, lambda: mem.MemBank(CFG, 0)),
    "MXM": (mxm, lambda: mxm.Mxm(CFG)),
    "SXM": (sxm, lambda: sxm.Sxm(CFG)),
    "VXM": (vxm, lambda: vxm.VxmAlu(CFG)),
    "C2C": (c2c, lambda: c2c.C2cPort(CFG)),
}


@pytest.mark.parametrize("unit", UNITS)
def test_every_unit_implements_the_isa_latencies(unit):
    module, build = UNITS[unit]
    isa = {i.mnemonic: i.latency for i in INSTRUCTIONS if i.unit.split("_")[0] == unit}
    assert isa == module.LATENCY
    build()


@pytest.mark.parametrize("unit", UNITS)
def test_a_wrong_latency_fails_at_construction(unit, monkeypatch):
    """Negative control: one instruction one cycle off and the unit refuses to be built."""
    module, build = UNITS[unit]
    name = sorted(module.LATENCY)[0]
    monkeypatch.setitem(module.LATENCY, name, module.LATENCY[name] + 1)
    with pytest.raises(IsaMismatch, match=rf"{name} latency"):
        build()


def test_mxm_settle_is_checked():
    with pytest.raises(IsaMismatch, match=r"ABC settle 2 \(ISA 1\)"):
        check_latencies("MXM", mxm.LATENCY)
    check_latencies("MXM", mxm.LATENCY, mxm.SETTLE)


def test_the_message_names_the_instruction_and_both_latencies():
    wrong = {**mem.LATENCY, "READ": 2}
    with pytest.raises(IsaMismatch, match=r"MEM: the RTL implements READ latency 2 \(ISA 1\)"):
        check_latencies("MEM", wrong)


def test_missing_and_extra_instructions():
    with pytest.raises(IsaMismatch, match=r"\['SCATTER'\] instructions the RTL lacks"):
        check_latencies("MEM", {k: v for k, v in mem.LATENCY.items() if k != "SCATTER"})
    with pytest.raises(IsaMismatch, match=r"lacks \['FOO'\] of the RTL's"):
        check_latencies("MEM", {**mem.LATENCY, "FOO": 1})
    with pytest.raises(ValueError, match="no ISA unit class"):
        check_latencies("NOPE", {})


def test_require_config():
    assert require_config(CFG) is CFG
    with pytest.raises(TypeError, match="config must be a TileConfig, not 'small'"):
        mem.MemBank("small", 0)


def test_units_share_the_unit_port():
    port = unit_signature(CFG).members
    for unit, (_, build) in UNITS.items():
        members = build().signature.members
        for name in ("s_in", "s_out", "error"):
            assert members[name] == port[name], (unit, name)
        issues = ("issue_wgt", "issue_act") if unit == "MXM" else ("issue",)
        assert all(members[i] == port["issue"] for i in issues), unit


@pytest.mark.parametrize("items", [3, 4, 5])
def test_select_is_a_mux_with_word_select_semantics(items):
    """``select`` (a case mux) gives item ``index`` for every index, zero past the last item
    (what ``word_select`` on the items' concatenation gave), with no shift in the Verilog."""
    from amaranth import Module
    from amaranth.back import verilog
    from amaranth.lib import wiring
    from amaranth.lib.wiring import In, Out
    from amaranth.sim import Simulator

    from lpu.hw.common import select

    width = 12

    class Pick(wiring.Component):
        index: In(3)
        words: In(width * items)
        picked: Out(width)

        def elaborate(self, platform):
            m = Module()
            parts = [self.words[width * k:width * (k + 1)] for k in range(items)]
            m.d.comb += self.picked.eq(select(self.index, parts))
            return m

    dut = Pick()
    values = [(0x5A3 * (k + 1)) % (1 << width) for k in range(items)]

    async def bench(ctx):
        ctx.set(dut.words, sum(v << width * k for k, v in enumerate(values)))
        for index in range(8):
            ctx.set(dut.index, index)
            want = values[index] if index < items else 0
            assert ctx.get(dut.picked) == want, index

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    assert ">>" not in verilog.convert(Pick(), name="pick")


@pytest.mark.parametrize("streams", [8, 12])
def test_pick_stream_is_the_group_stream_word_select(streams):
    """Every plane of every operand field picks stream ``group_stream`` of that field in its
    direction, as the word_select over all streams did (zero past the last stream)."""
    import dataclasses

    from amaranth import Module, Signal
    from amaranth.sim import Simulator
    from amaranth.utils import ceil_log2

    from lpu.hw.common import pick_stream
    from lpu.sw.isa import STREAM_INDEX_BITS

    cfg = dataclasses.replace(TileConfig.named("tiny"), streams=streams)
    field = Signal(STREAM_INDEX_BITS + 1)
    sides = [([Signal(8, name=f"{d}{s}") for s in range(streams)], Signal(streams, name=d))
             for d in "ew"]
    valid_bits = (0xB5A5C3F1 & ((1 << streams) - 1), 0x6B1E9D27 & ((1 << streams) - 1))
    m, outs = Module(), []
    for plane in range(4):
        vec, ok = pick_stream(cfg, sides[0], sides[1], field, plane)
        out = (Signal(8, name=f"vec{plane}"), Signal(name=f"ok{plane}"))
        m.d.comb += [out[0].eq(vec), out[1].eq(ok)]
        outs.append(out)

    async def bench(ctx):
        for d, (vectors, valid) in enumerate(sides):
            ctx.set(valid, valid_bits[d])
            for s, v in enumerate(vectors):
                ctx.set(v, 100 * d + s + 1)
        bits = ceil_log2(streams)
        for value in range(1 << (STREAM_INDEX_BITS + 1)):
            ctx.set(field, value)
            west = value >> STREAM_INDEX_BITS & 1
            for plane, (vec, ok) in enumerate(outs):
                low = ceil_log2(plane + 1)
                stream = plane | (value & ((1 << bits) - 1)) >> low << low
                inside = stream < streams
                assert ctx.get(vec) == (100 * west + stream + 1 if inside else 0)
                assert ctx.get(ok) == (valid_bits[west] >> stream & 1 if inside else 0)

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
