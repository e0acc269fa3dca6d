"""cocotb testbench for the MXM (``lpu.hw.mxm.Mxm``): random and directed, cycle-exact.

The stimulus and the reference model live in ``verif/mxm_model.py`` (no cocotb). Here:
``Driver`` packs a cycle onto the flat ports, ``Monitor`` samples ``error`` and ``s_out`` in the
middle of the cycle, ``Checker`` compares against the model cycle by cycle (valid bits and
error always, data where valid), ``TB`` owns clock and reset.

Environment: ``LPU_SEED`` (default 1), ``LPU_TRANSACTIONS`` (random instructions, default
1000), ``LPU_CONFIG`` (JSON of ``TileConfig.as_dict()``, default ``TileConfig()``).
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

from lpu.sw.config import TileConfig
from lpu.sw.isa import BY_MNEMONIC
from lpu.verif.bus import IssueBits, StreamBits, as_int, config_from_env, env_int
from lpu.verif.mxm_model import (
    SCENARIOS,
    Cycle,
    MxmModel,
    Op,
    Outputs,
    random_cycles,
    scenarios,
)

# ---------------------------------------------------------------------------------------------
# cocotb side: driver, monitor, checker, TB, tests
# ---------------------------------------------------------------------------------------------




class Driver:
    """Drive one cycle of stimulus onto issue_wgt, issue_act and s_in."""

    def __init__(self, dut, cfg: TileConfig):
        self.dut, self.issue, self.streams = dut, IssueBits(), StreamBits(cfg)

    def issue_bits(self, op: Op | None) -> int:
        return 0 if op is None else self.issue.issue(BY_MNEMONIC[op.mnemonic].opcode, op.values)

    def drive(self, c: Cycle) -> None:
        self.dut.issue_wgt.value = self.issue_bits(c.wgt)
        self.dut.issue_act.value = self.issue_bits(c.act)
        self.dut.s_in.value = self.streams.pack(c.data, c.valid)

    def idle(self) -> None:
        self.dut.issue_wgt.value = 0
        self.dut.issue_act.value = 0
        self.dut.s_in.value = 0


class Monitor:
    """Sample the unit's outputs (error, s_out) of the current cycle."""

    def __init__(self, dut, cfg: TileConfig):
        self.dut, self.streams = dut, StreamBits(cfg)

    def sample(self) -> Outputs:
        data, valid = self.streams.unpack(as_int(self.dut.s_out))
        return Outputs(bool(as_int(self.dut.error)), data, valid)


class Checker:
    """Compare the unit's outputs with the model's, cycle by cycle."""

    def __init__(self, log, limit: int = 20):
        self.log, self.limit = log, limit
        self.mismatches: list[str] = []
        self.cycles = self.results = self.errors = 0

    def compare(self, t: int, c: Cycle, want: Outputs, got: Outputs) -> None:
        self.cycles += 1
        self.results += int(want.valid.any())
        self.errors += int(want.error)
        problems = []
        if got.error != want.error:
            problems.append(f"error {int(got.error)}, expected {int(want.error)}")
        if (got.valid != want.valid).any():
            problems.append(f"s_out valid {got.valid.astype(int).tolist()}, expected "
                            f"{want.valid.astype(int).tolist()}")
        bad = want.valid & got.valid & (got.data != want.data).any(axis=2)
        for d, s in zip(*np.nonzero(bad), strict=True):
            problems.append(f"{'EW'[d]}{s} data {got.data[d, s].tolist()}, expected "
                            f"{want.data[d, s].tolist()}")
        if problems:
            msg = f"cycle {t} (issued WGT {c.wgt}, ACT {c.act}): " + "; ".join(problems)
            self.mismatches.append(msg)
            if len(self.mismatches) <= self.limit:
                self.log.error(msg)

    def finish(self) -> None:
        assert not self.mismatches, (f"{len(self.mismatches)} mismatching cycles; first: "
                                     f"{self.mismatches[0]}")


class TB:
    """Owns the clock, reset, and the driver/monitor/model/checker of one test."""

    def __init__(self, dut):
        self.dut = dut
        self.cfg = config_from_env()
        self.driver = Driver(dut, self.cfg)
        self.monitor = Monitor(dut, self.cfg)
        self.model = MxmModel(self.cfg)
        self.checker = Checker(dut._log)
        Clock(dut.clk, 10, unit="ns").start()

    async def reset(self) -> None:
        self.driver.idle()
        self.dut.rst.value = 1
        await RisingEdge(self.dut.clk)
        await RisingEdge(self.dut.clk)
        self.dut.rst.value = 0
        self.model = MxmModel(self.cfg)

    async def run(self, cycles: list[Cycle]) -> list[Outputs]:
        """Drive the cycles back to back (right after reset or a previous run); check each."""
        seen = []
        for c in cycles:
            self.driver.drive(c)
            want = self.model.step(c)
            await FallingEdge(self.dut.clk)
            got = self.monitor.sample()
            self.checker.compare(self.model.t - 1, c, want, got)
            seen.append(got)
            await RisingEdge(self.dut.clk)
        self.driver.idle()
        return seen


@cocotb.test()
async def test_random(dut):
    """Seeded random traffic on both queues, every output checked in its exact cycle."""
    tb = TB(dut)
    seed = env_int("LPU_SEED", 1)
    count = env_int("LPU_TRANSACTIONS", 1000)
    cycles, issued = random_cycles(tb.cfg, seed, count)
    await tb.reset()
    await tb.run(cycles)
    ck = tb.checker
    dut._log.info(f"seed {seed}: {issued} instructions in {ck.cycles} cycles checked, "
                  f"{ck.results} ACC results, {ck.errors} error cycles")
    ck.finish()


@cocotb.parametrize(name=[cocotb.Param(value=n, name=n) for n in SCENARIOS])
async def test_directed(dut, name: str):
    """A directed corner (see the scenario_* functions), checked by the model and explicitly."""
    tb = TB(dut)
    sc = scenarios(tb.cfg)[name](tb.cfg, np.random.default_rng(env_int("LPU_SEED", 1)))
    await tb.reset()
    outs = await tb.run(sc.cycles)
    tb.checker.finish()
    sc.check(outs)
    dut._log.info(f"{name}: {tb.checker.cycles} cycles checked")
