"""ICU instruction queue in the Amaranth simulator: every unit class against the golden model.

The cocotb testbench (tests/test_rtl_icu.py) covers the default tile's MEM and VXM queues on
Verilator; these fast checks use the tiny tile and cover the other unit classes, bank 1 and the
REPEAT stepping of LW, with the same golden-based reference model and program generator.
"""

import random

import pytest

pytest.importorskip("amaranth")

from amaranth import Module, Signal
from amaranth.sim import Simulator

from lpu.hw.icu import PREFETCH_CYCLES, InstructionQueue, repeat_reach
from lpu.sw.config import TileConfig
from lpu.verif.bus import IssueBits
from lpu.verif.tb_icu import (
    Case,
    IcuModel,
    check_cycle,
    directed_cases,
    prepare,
    random_cases,
    wall_plan,
)

_ISSUE = IssueBits()
MAX_CYCLES = 3000  # per case: the Amaranth simulator is slow, skip the NOP 65535 corner


def simulate(dut, cases: list[Case], queue_words: int) -> list[str]:
    """Run every case through ``dut``; return the mismatches."""
    bad = []

    async def bench(ctx):
        for case in cases:
            exp = case.expected
            for addr, w in enumerate(case.image(queue_words)):
                ctx.set(dut.host_addr, addr)
                ctx.set(dut.host_data, w)
                ctx.set(dut.host_we, 1)
                await ctx.tick()
            ctx.set(dut.host_we, 0)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            done = 0
            plan = wall_plan(case, exp.end + 2, PREFETCH_CYCLES)
            for k, t in enumerate(plan):
                ctx.set(dut.advance, k + 1 < len(plan) and plan[k + 1] is not None)
                ctx.set(dut.release, t is None or t in exp.releases)  # noise: ignored
                raw = ctx.get(dut.issue.as_value())
                fields = _ISSUE.unpack(raw)
                obs = {"valid": fields.pop("valid"), "opcode": fields.pop("opcode"),
                       "fields": fields, "halted": ctx.get(dut.halted),
                       "error": ctx.get(dut.error), "notify": ctx.get(dut.notify),
                       "sync_wait": ctx.get(dut.sync_wait), "busy_count": ctx.get(dut.busy_count)}
                if t is None:
                    if obs["valid"] or obs["notify"]:
                        bad.append(f"{case.name}: cycle {k} after start, no schedule cycle: "
                                   f"{obs}")
                else:
                    bad.extend(f"{case.name}: {b}" for b in check_cycle(exp, t, obs, done))
                    done += t in exp.issues
                await ctx.tick()
            ctx.set(dut.advance, 0)
            ctx.set(dut.release, 0)
            if len(bad) > 20:
                return

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return bad


@pytest.mark.parametrize(("unit", "bank"), [
    ("MEM", 1), ("VXM", None), ("MXM_WGT", None), ("MXM_ACT", None), ("SXM", None),
    ("C2C", None)])
def test_queue_matches_golden(unit, bank):
    cfg = TileConfig.named("tiny")
    model = IcuModel(cfg, unit, bank)
    rng = random.Random(f"{unit}{bank}")
    cases = [c for c in directed_cases(model, rng) if not c.name.startswith("random word")]
    cases += random_cases(model, rng, 150)
    cases = [c for c in prepare(model, cases) if c.expected.end < MAX_CYCLES]
    bad = simulate(InstructionQueue(cfg, unit, bank), cases, cfg.queue_words)
    assert not bad, "\n".join(bad[:20])


@pytest.mark.parametrize("bits", [1, 10, 16])
def test_repeat_reach_exhaustive(bits):
    """REPEAT's n * stride without a multiplier, for every n and stride: exact below
    2**bits, ``over`` from there (Python integers are the reference)."""
    n, stride = Signal(8), Signal(8)
    over, span = repeat_reach(n, stride, bits)
    got_over, got_span = Signal(), Signal(span.shape())
    m = Module()
    m.d.comb += [got_over.eq(over), got_span.eq(span)]
    bad = []

    async def bench(ctx):
        for nv in range(256):
            for sv in range(-128, 128):
                ctx.set(n, nv)
                ctx.set(stride, sv & 0xFF)
                want = nv * sv
                o = ctx.get(got_over)
                if o != (abs(want) >= 1 << bits) or (not o and ctx.get(got_span) != want):
                    bad.append((nv, sv))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert not bad, bad[:5]
