"""ICU instruction queue in the Amaranth simulator: every unit class against the golden model.

The cocotb testbench (tests/test_rtl_icu.py) covers the default tile's MEM and VXM queues on
Verilator; these fast checks use the tiny tile and cover the other unit classes, bank 1 and the
REPEAT stepping of LW, with the same golden-based reference model and program generator.
"""

import random

import pytest

pytest.importorskip("amaranth")

from amaranth.sim import Simulator

from lpu.hw.icu import InstructionQueue
from lpu.sw.config import TileConfig
from lpu.verif.bus import IssueBits
from lpu.verif.tb_icu import Case, IcuModel, check_cycle, directed_cases, prepare, random_cases

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
            t, done, frozen_left = 0, 0, 0
            pending = dict(case.freeze)
            while t <= exp.end + 2:
                if t in pending:
                    frozen_left = pending.pop(t)
                frozen = frozen_left > 0
                ctx.set(dut.freeze, frozen)
                ctx.set(dut.release, frozen or t in exp.releases)  # ignored while frozen
                raw = ctx.get(dut.issue.as_value())
                fields = _ISSUE.unpack(raw)
                obs = {"valid": fields.pop("valid"), "opcode": fields.pop("opcode"),
                       "fields": fields, "halted": ctx.get(dut.halted),
                       "error": ctx.get(dut.error), "notify": ctx.get(dut.notify),
                       "sync_wait": ctx.get(dut.sync_wait), "busy_count": ctx.get(dut.busy_count)}
                if frozen:
                    frozen_left -= 1
                    if obs["valid"] or obs["notify"]:
                        bad.append(f"{case.name}: frozen before cycle {t}: {obs}")
                else:
                    bad.extend(f"{case.name}: {b}" for b in check_cycle(exp, t, obs, done))
                    done += t in exp.issues
                    t += 1
                await ctx.tick()
            ctx.set(dut.freeze, 0)
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
