"""Amaranth-simulator checks of the VXM ALU: the latency-1 lane arithmetic exhaustively for i8,
and the whole ALU (pipelines, chaining, errors) on short programs against the testbench model."""

import numpy as np
import pytest

pytest.importorskip("amaranth")
pytest.importorskip("cocotb")  # the reference model lives in the cocotb testbench module

from amaranth import Module, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from lpu.hw.common import check_latencies
from lpu.hw.vxm import LATENCY, OP, PIPELINES, VxmAlu, VxmLane
from lpu.sw import units
from lpu.sw.config import TileConfig
from lpu.verif import tb_vxm

I8 = np.arange(-128, 128, dtype=np.int8)
LANES = len(I8)


class LaneBank(wiring.Component):
    """``LANES`` copies of ``VxmLane``: ``a`` differs per lane, everything else is shared."""

    def __init__(self):
        super().__init__({
            "opcode": In(6), "dt": In(2), "dst": In(2), "mode": In(2), "imm": In(16), "n": In(5),
            "m": In(signed(32)), "b": In(signed(32)), "r": In(signed(32)),
            "a": In(32 * LANES), "res": Out(32 * LANES), "r_next": Out(32 * LANES),
        })

    def elaborate(self, platform):
        m = Module()
        for k in range(LANES):
            m.submodules[f"lane{k}"] = lane = VxmLane()
            for name in ("opcode", "dt", "dst", "mode", "imm", "n", "m", "b", "r"):
                m.d.comb += getattr(lane, name).eq(getattr(self, name))
            m.d.comb += [lane.a.eq(self.a[32 * k:32 * k + 32]),
                         self.res[32 * k:32 * k + 32].eq(lane.res),
                         self.r_next[32 * k:32 * k + 32].eq(lane.r_next)]
        return m


def _words(v: int) -> np.ndarray:
    return np.frombuffer(v.to_bytes(4 * LANES, "little"), np.uint32).astype(np.int64)


def _lane_cases():
    """(label, controls, expected result, result type, expected r_next or None): every
    latency-1 instruction on all 256 int8 values of ``a`` (one per lane), with every int8 ``b``
    for the binary ops, every n for SRAI, every imm residue for ADDI, every register value for
    ACCUM sum and max, and sampled ``b`` for SELECT and corner immediates for CONST."""
    full = lambda v: np.full(LANES, v, np.int8)  # noqa: E731
    for name in PIPELINES[1]:
        if name in units.VXM_BINARY:
            for b in I8:
                yield (f"{name} b={b}", {"opcode": OP[name], "b": int(b)},
                       units.vxm_binary(name, "i8", I8, full(b)), "i8", None)
    for mask in (0, 1, -1, -128):
        for b in I8[::17]:
            yield (f"SELECT m={mask} b={b}", {"opcode": OP["SELECT"], "m": mask, "b": int(b)},
                   units.vxm_select("i8", full(mask), I8, full(b)), "i8", None)
    for name in units.VXM_UNARY:
        yield name, {"opcode": OP[name]}, units.vxm_unary(name, "i8", I8), "i8", None
    for imm in [*range(-128, 128), -2048, -2047, -129, 128, 255, 256, 2046, 2047]:
        yield (f"ADDI imm={imm}", {"opcode": OP["ADDI"], "imm": imm & 0xFFF},
               units.vxm_addi("i8", I8, imm), "i8", None)
    for n in range(32):
        yield f"SRAI n={n}", {"opcode": OP["SRAI"], "n": n}, units.vxm_srai("i8", I8, n), "i8", None
    for imm in (-32768, -32767, -129, -128, -1, 0, 1, 127, 128, 255, 256, 32766, 32767):
        yield (f"CONST imm={imm}", {"opcode": OP["CONST"], "imm": imm & 0xFFFF},
               units.vxm_const("i8", imm, LANES), "i8", None)
    for code, dst in enumerate(units.DTYPE_BITS):
        yield (f"CVT i8->{dst}", {"opcode": OP["CVT"], "dst": code},
               units.vxm_cvt("i8", dst, I8), dst, None)
    rng = np.random.default_rng(5)
    for mode in range(3):
        for r in I8 if mode else I8[::37]:  # the register holds bits above the i8 read from it
            r32 = np.int32((int(rng.integers(1 << 24)) << 8 | (int(r) & 0xFF)) - (1 << 31))
            z = units.accum("i8", mode, full(np.array(r32).astype(np.int8)), I8)
            yield (f"ACCUM mode={mode} r={r32}", {"opcode": OP["ACCUM"], "mode": mode,
                                                   "r": int(r32)}, z, "i8", z.astype(np.int32))


def test_isa_matches_pipelines():
    check_latencies("VXM", LATENCY)


def test_lane_exhaustive_i8():
    dut = LaneBank()
    cases = list(_lane_cases())
    bad = []

    async def bench(ctx):
        ctx.set(dut.a, int.from_bytes(I8.astype(np.int32).astype("<u4").tobytes(), "little"))
        for label, controls, exp, dtype, exp_r in cases:
            for name in ("dt", "dst", "mode", "imm", "n", "m", "b", "r"):
                ctx.set(getattr(dut, name), controls.get(name, 0))
            ctx.set(dut.opcode, controls["opcode"])
            got = units.wrap(_words(ctx.get(dut.res)), dtype)
            if (got != exp).any():
                k = int(np.argmax(got != exp))
                bad.append(f"{label}: a={I8[k]} got {got[k]} expected {exp[k]}")
            if exp_r is not None:
                got_r = units.wrap(_words(ctx.get(dut.r_next)), "i32")
                if (got_r != exp_r).any():
                    bad.append(f"{label}: r_next {got_r[:4]} expected {exp_r[:4]}")

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    assert len(cases) > 3500, len(cases)
    assert not bad, bad[:10]


def run_pysim(cfg: TileConfig, cycles: list, fault: bool = False) -> tb_vxm.Checker:
    """Run a testbench program on ``VxmAlu`` in the Amaranth simulator, as the cocotb TB does."""
    dut = VxmAlu(cfg, fault=fault)
    driver, codec = tb_vxm.Driver(None, cfg), tb_vxm.StreamCodec(cfg)
    model, checker = tb_vxm.VxmAluModel(cfg), tb_vxm.Checker()
    empty = tb_vxm.Streams.empty(cfg)
    ports = {name: getattr(dut, name).as_value() for name in ("issue", "s_in", "s_own", "s_out")}

    async def bench(ctx):
        prev = empty
        for t, cyc in enumerate([*cycles, *[tb_vxm.Cycle(None, empty, None)] * 4]):
            s_own = prev if cyc.s_own is None else cyc.s_own
            exp_err = False
            if cyc.op is not None:
                checker.issued += 1
                exp_err = model.issue(t, cyc.op, cyc.s_in, s_own)
            exp, who = model.outputs(t)
            ctx.set(ports["issue"], driver.pack_issue(cyc.op))
            ctx.set(ports["s_in"], codec.pack(cyc.s_in))
            ctx.set(ports["s_own"], codec.pack(s_own))
            got = codec.unpack(ctx.get(ports["s_out"]))
            checker.check(t, exp, who, exp_err, got, ctx.get(dut.error), cyc.op)
            prev = exp
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return checker


TINY = TileConfig.named("tiny")  # 4 lanes, 4 streams: groups must share streams sometimes


@pytest.mark.parametrize("loopback", [False, True])
def test_alu_random_pysim(loopback):
    checker = run_pysim(TINY, tb_vxm.random_program(TINY, 11, 250, loopback))
    assert checker.results > 200
    assert not checker.errors, checker.errors[:10]


@pytest.mark.parametrize("group", ["mixed", "errors", "accum", "requant"])
def test_alu_corners_pysim(group):
    b = tb_vxm.ProgramBuilder(TINY, np.random.default_rng(3))
    tb_vxm.CORNERS[group](b)
    checker = run_pysim(TINY, b.cycles[:400])
    assert not checker.errors, checker.errors[:10]


def test_alu_fault_pysim():
    checker = run_pysim(TINY, tb_vxm.random_program(TINY, 11, 250, False), fault=True)
    assert checker.errors
