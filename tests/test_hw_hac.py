"""HAC alignment (``lpu.hw.hac``) between two link ends (``lpu.hw.c2c_link.LinkEnd``) on
clocks that differ, in the Amaranth simulator."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("amaranth")

from amaranth import Module
from amaranth.hdl import DomainRenamer
from amaranth.sim import Simulator

from lpu.hw.c2c_link import LinkEnd
from lpu.hw.hac import ROLE_CHILD, ROLE_FREE, ROLE_PARENT
from lpu.sw.c2c import FrameFormat

FMT = FrameFormat(lanes=8, link_bits=32)


def run_pair(ppm: float, epoch: int, cycles: int, child_role=ROLE_CHILD, start_skew=37):
    """Parent 'a', child 'b' with a clock ppm slower, each a ``LinkEnd`` (serializer, receiver,
    HAC) wired to the other; return per-cycle HAC offsets (b - a, wrapped to -epoch/2 ..
    epoch/2) sampled at a's clock edges (the values both held just before the edge), and the
    child's state at the end."""
    m = Module()
    m.submodules.a = a = DomainRenamer({"sync": "a", "link": "b"})(LinkEnd(FMT, epoch))
    m.submodules.b = b = DomainRenamer({"sync": "b", "link": "a"})(LinkEnd(FMT, epoch))
    m.d.comb += [b.rx_data.eq(a.tx_data), b.rx_valid.eq(a.tx_valid),
                 a.rx_data.eq(b.tx_data), a.rx_valid.eq(b.tx_valid)]
    offsets, state = [], {}

    async def tb(ctx):
        ctx.set(a.role, ROLE_PARENT)
        ctx.set(b.role, child_role)
        for _ in range(cycles):
            _, _, hac_a, hac_b = await ctx.tick("a").sample(a.hac, b.hac)
            d = (hac_b - hac_a) % epoch
            offsets.append(d - epoch if d >= epoch // 2 else d)
        state.update(latency=ctx.get(b.latency), valid=ctx.get(b.latency_valid),
                     trims=ctx.get(b.trims))

    sim = Simulator(m)
    period = 10e-9
    sim.add_clock(period, domain="a")
    sim.add_clock(period * (1 + ppm * 1e-6), phase=start_skew * period * 0.37, domain="b")
    sim.add_testbench(tb)
    sim.run()
    return offsets, state


@pytest.mark.parametrize(("ppm", "epoch"), [(0, 64), (1000, 64), (-1000, 256), (10000, 64)])
def test_child_hac_stays_within_one_cycle(ppm, epoch):
    """After bring-up (latency measured, first SYNC) the child's HAC stays within one count of
    the parent's, sampled every parent cycle."""
    cycles = 60 * epoch
    offsets, state = run_pair(ppm, epoch, cycles)
    assert state["valid"], state
    settle = 12 * epoch
    worst = max(abs(o) for o in offsets[settle:])
    assert worst <= 1, (worst, state)
    if abs(ppm) * epoch * 1e-6 > 0.05:
        assert state["trims"] > 0


def test_free_running_hac_drifts():
    """Negative control: the same pair without the child's trimming drifts apart."""
    offsets, _ = run_pair(10000, 64, 60 * 64, child_role=ROLE_FREE)
    assert max(abs(o) for o in offsets[12 * 64:]) > 5


LONG = os.environ.get("LPU_LONG") == "1"


def test_alignment_holds_for_a_long_run():
    """10^5 parent cycles (10^6 under LPU_LONG=1) at +1000 ppm, epoch 256: the child's HAC
    never leaves one count of the parent's after bring-up."""
    cycles = 1_000_000 if LONG else 100_000
    offsets, state = run_pair(1000, 256, cycles, start_skew=11)
    assert state["valid"] and state["trims"] >= cycles * 1000e-6 * 0.8, state
    assert max(abs(o) for o in offsets[12 * 256:]) <= 1
