"""HAC alignment (``lpu.hw.hac``) between two tiles on clocks that differ, over real links
(``lpu.hw.c2c_link``), in the Amaranth simulator."""

from __future__ import annotations

import pytest

pytest.importorskip("amaranth")

from amaranth import Module
from amaranth.hdl import DomainRenamer
from amaranth.sim import Simulator

from lpu.hw.c2c_link import LinkReceiver, LinkTx
from lpu.hw.hac import ROLE_CHILD, ROLE_FREE, ROLE_PARENT, Hac
from lpu.sw.c2c import KINDS, FrameFormat

FMT = FrameFormat(lanes=8, link_bits=32)
ALIGN = KINDS.index("ALIGN")


def _end(m, name, other, epoch):
    """One tile's HAC with its link serializer (domain name) and its receiver from the other."""
    hac = DomainRenamer(name)(Hac(epoch))
    tx = DomainRenamer(name)(LinkTx(FMT))
    rx = LinkReceiver(FMT, depth=4, w_domain=other, r_domain=name)
    m.submodules[f"hac_{name}"], m.submodules[f"tx_{name}"], m.submodules[f"rx_{name}"] = hac, tx, rx
    m.d.comb += [tx.send.eq(hac.tx_req), tx.kind.eq(ALIGN), tx.payload.eq(hac.tx_payload),
                 hac.tx_grant.eq(hac.tx_req & tx.ready),
                 hac.rx_valid.eq(rx.r_valid & (rx.r_kind == ALIGN)),
                 hac.rx_payload.eq(rx.r_payload), rx.r_take.eq(hac.rx_take)]
    return hac, tx, rx


def run_pair(ppm: float, epoch: int, cycles: int, child_role=ROLE_CHILD, start_skew=37):
    """Parent 'a', child 'b' with a clock ppm slower; return per-cycle HAC offsets (b - a,
    wrapped to -epoch/2 .. epoch/2) sampled on a's clock, and the child HAC unit's state."""
    m = Module()
    a, a_tx, a_rx = _end(m, "a", "b", epoch)
    b, b_tx, b_rx = _end(m, "b", "a", epoch)
    m.d.comb += [b_rx.wire_data.eq(a_tx.wire_data), b_rx.wire_valid.eq(a_tx.wire_valid),
                 a_rx.wire_data.eq(b_tx.wire_data), a_rx.wire_valid.eq(b_tx.wire_valid)]
    offsets, state = [], {}

    async def tb(ctx):
        ctx.set(a.role, ROLE_PARENT)
        ctx.set(b.role, child_role)
        for _ in range(cycles):
            await ctx.tick("a")
            d = (ctx.get(b.hac) - ctx.get(a.hac)) % epoch
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
