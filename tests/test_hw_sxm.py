# amaranth: UnusedElaboratable=no
"""SXM RTL (``lpu.hw.sxm.Sxm``) in the Amaranth simulator: fast logic checks.

The same reference model, stimulus and checker as the cocotb testbench (``lpu.verif.tb_sxm``),
run on the small and tiny tiles with fewer transactions; the Verilator run on the default tile
is ``tests/test_rtl_sxm.py``.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

pytest.importorskip("amaranth")
pytest.importorskip("cocotb")

from amaranth.sim import Simulator

from lpu.hw.sxm import Sxm
from lpu.sw.config import TileConfig
from lpu.verif.tb_sxm import DIRECTED, Checker, Observed, Packer, Stimulus, SxmModel, stream


def simulate(cfg: TileConfig, cycles, fault: bool = False) -> Checker:
    """Run ``cycles`` through the unit and the model in lockstep; return the checker."""
    dut = Sxm(cfg, fault=fault)
    packer, model, checker = Packer(cfg), SxmModel(cfg), Checker()
    cycles = list(cycles)

    async def bench(ctx):
        for t, cyc in enumerate(cycles):
            ctx.set(dut.issue.as_value(), packer.pack_issue(cyc))
            ctx.set(dut.s_in.as_value(), packer.pack_streams(cyc.data, cyc.valid))
            data, valid = packer.unpack_streams(ctx.get(dut.s_out.as_value()))
            checker.compare(t, cyc, model.step(cyc), Observed(data, valid, bool(ctx.get(
                dut.error))))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return checker


@pytest.mark.parametrize("preset", ["small", "tiny"])
def test_random_and_corners(preset):
    cfg = TileConfig.named(preset)
    st = Stimulus(cfg, random.Random(f"hw-{preset}"))
    cycles = [*st.random(150, 0.8), *st.idle(3)]
    for build in DIRECTED.values():
        cycles += build(st)
    checker = simulate(cfg, cycles)
    assert not checker.errors, checker.summary() + "\n" + "\n".join(checker.errors[:10])
    assert checker.flagged and checker.results


def test_examples_by_hand():
    """A few results written out by hand, independent of the golden model."""
    cfg = TileConfig.named("tiny")  # 4 lanes, 4 streams
    st = Stimulus(cfg, random.Random(2))
    seq = [st.cycle("SHIFT", np.array([1, 2, 3, 4], np.int8), dt="i8", a=stream("E0"),
                    z=stream("W1"), n=-1),
           st.cycle("RSUM", np.array([2**31 - 1, 1, 0, 0], np.int32), dt="i32", a=stream("W0"),
                    z=stream("E0")),
           st.cycle("ARGMAX", np.array([-3, 5, 5, 1], np.int16), dt="i16", a=stream("E2"),
                    z=stream("W3")),
           *st.idle(3)]
    dut = Sxm(cfg)
    packer = Packer(cfg)
    seen = []

    async def bench(ctx):
        for cyc in seq:
            ctx.set(dut.issue.as_value(), packer.pack_issue(cyc))
            ctx.set(dut.s_in.as_value(), packer.pack_streams(cyc.data, cyc.valid))
            seen.append(packer.unpack_streams(ctx.get(dut.s_out.as_value())))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    (d1, v1), (_, v2), (d3, v3), (d4, v4) = seen[1:5]
    assert v1[1].tolist() == [False, True, False, False] and not v1[0].any()
    assert d1[1, 1].tolist() == [2, 3, 4, 0]  # SHIFT by -1 (latency 1): z[l] = a[l + 1]
    assert not v2.any()  # nothing due in cycle 2
    assert v3[0].all() and not v3[1].any()  # RSUM (latency 2): i32 on E0..E3
    lanes_i32 = np.ascontiguousarray(d3[0].T).view("<i4")[:, 0]
    assert (lanes_i32 == -(2**31)).all()  # max + 1 wraps to min
    assert v4[1].tolist() == [False, False, False, True]
    assert d4[1, 3].tolist() == [1, 1, 1, 1]  # ARGMAX: the lowest of the tied lanes


def test_fault_is_visible():
    cfg = TileConfig.named("tiny")
    st = Stimulus(cfg, random.Random(3))
    checker = simulate(cfg, [*st.random(40, 1.0), *st.idle(2)], fault=True)
    assert checker.errors


def test_rejects_bad_config():
    with pytest.raises(TypeError):
        Sxm("default")
