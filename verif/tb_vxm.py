"""cocotb testbench of one VXM ALU (``lpu.hw.vxm.VxmAlu``) against ``lpu.sw.units``.

The reference model and stimulus live in ``verif/vxm_model.py`` (no cocotb); this module holds
the cocotb part: TB with clock and reset, driver, monitor, checker, tests.

Each cycle the driver presents one instruction (or none) with the streams at the VXM input
(``s_in``) and the VXM's own registers (``s_own``, fresh = written by a VXM ALU at the end of the
previous cycle). The model reads the operand groups as ``GoldenTile.read_stream`` does for a VXM
queue, computes the result with the ``lpu.sw.units`` function the golden model calls, and
schedules it for cycle ``t + latency``. Every cycle the checker compares ``error``, every
``s_out`` valid bit (so nothing may be written when nothing is due) and the data of every
written stream.

Environment: ``LPU_SEED`` (default 1), ``LPU_TRANSACTIONS`` (random instructions, default 1000),
``LPU_CONFIG`` (a JSON ``TileConfig`` dict; default ``TileConfig()``).

Beyond the golden model: an ``ACCUM`` with mode 3 raises ``error``, and an instruction that
raises ``error`` has no effect (the golden model stops the tile there).
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly

from lpu.sw.config import TileConfig
from lpu.sw.isa import DIRECTION_NAMES
from lpu.verif.bus import IssueBits, StreamBits, as_int, env_int
from lpu.verif.vxm_model import (
    CORNERS,
    Cycle,
    Op,
    ProgramBuilder,
    Streams,
    VxmAluModel,
    env_config,
    env_seed,
    random_program,
)

# ---------------------------------------------------------------------------------------------
# cocotb: TB (clock, reset), driver, monitor, checker, tests
# ---------------------------------------------------------------------------------------------

class Driver:
    """Packs an instruction and two stream sets into the DUT's ``issue``, ``s_in``, ``s_own``."""

    def __init__(self, dut, cfg: TileConfig):
        self.dut, self.cfg, self.bits, self.codec = dut, cfg, IssueBits(), StreamCodec(cfg)

    def pack_issue(self, op: Op | None) -> int:
        if op is None:
            return 0
        fields = {f.name: op.values[f.name] for f in op.instr.fields}
        return self.bits.issue(op.instr.opcode, fields)

    def drive(self, op: Op | None, s_in: Streams, s_own: Streams) -> None:
        self.dut.issue.value = self.pack_issue(op)
        self.dut.s_in.value = self.codec.pack(s_in)
        self.dut.s_own.value = self.codec.pack(s_own)


class StreamCodec(StreamBits):
    """``both_directions(config)`` <-> ``Streams`` (see ``lpu.verif.bus``)."""

    def pack(self, st: Streams) -> int:
        return super().pack(st.data, st.valid)

    def unpack(self, v: int) -> Streams:
        return Streams(*super().unpack(v))


class Monitor:
    """Samples the DUT's stream writes and error flag."""

    def __init__(self, dut, cfg: TileConfig):
        self.dut, self.codec = dut, StreamCodec(cfg)

    def sample(self) -> tuple[Streams, int]:
        return self.codec.unpack(as_int(self.dut.s_out)), as_int(self.dut.error)


class Checker:
    """Compares each cycle's outputs with the model's; keeps the first mismatches."""

    def __init__(self):
        self.errors: list[str] = []
        self.cycles = self.results = self.issued = 0

    def check(self, t: int, exp: Streams, who: dict, exp_err: bool, got: Streams,
              got_err: int, op: Op | None) -> None:
        self.cycles += 1
        self.results += len(who)
        if got_err != exp_err:
            self.errors.append(f"cycle {t}: error {got_err}, expected {int(exp_err)} ({op})")
        for d, s in zip(*np.nonzero(exp.valid != got.valid), strict=True):
            source = who.get((d, s), "nothing due")
            self.errors.append(f"cycle {t}: {DIRECTION_NAMES[d]}{s} valid {int(got.valid[d, s])}, "
                               f"expected {int(exp.valid[d, s])} ({source})")
        for (d, s), tag in who.items():
            if got.valid[d, s] and (got.data[d, s] != exp.data[d, s]).any():
                self.errors.append(f"cycle {t}: {DIRECTION_NAMES[d]}{s} from {tag}: got "
                                   f"{got.data[d, s].tolist()}, expected {exp.data[d, s].tolist()}")

    def finish(self, log) -> None:
        log.info("%d instructions, %d cycles, %d stream results checked", self.issued, self.cycles,
                 self.results)
        assert not self.errors, f"{len(self.errors)} mismatches:\n" + "\n".join(self.errors[:20])


class TB:
    """Owns the clock and reset of one ``VxmAlu`` and runs ``Cycle`` programs against the model."""

    def __init__(self, dut):
        self.dut, self.cfg = dut, env_config()
        self.driver = Driver(dut, self.cfg)
        self.monitor = Monitor(dut, self.cfg)
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())

    async def reset(self) -> None:
        empty = Streams.empty(self.cfg)
        self.dut.rst.value = 1
        self.driver.drive(None, empty, empty)
        await ClockCycles(self.dut.clk, 2)
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 0

    async def run(self, cycles: list[Cycle]) -> Checker:
        await self.reset()
        model, checker = VxmAluModel(self.cfg), Checker()
        empty = Streams.empty(self.cfg)
        prev = empty
        drain = [Cycle(None, empty, None)] * 4
        for t, cyc in enumerate(cycles + drain):
            if t:
                await FallingEdge(self.dut.clk)
            s_own = prev if cyc.s_own is None else cyc.s_own
            exp_err = False
            if cyc.op is not None:
                checker.issued += 1
                exp_err = model.issue(t, cyc.op, cyc.s_in, s_own)
            exp, who = model.outputs(t)
            self.driver.drive(cyc.op, cyc.s_in, s_own)
            await ReadOnly()
            got, got_err = self.monitor.sample()
            checker.check(t, exp, who, exp_err, got, got_err, cyc.op)
            prev = exp
        checker.finish(self.dut._log)
        return checker


@cocotb.test()
async def test_random(dut):
    """LPU_TRANSACTIONS random instructions, operands from s_in or fresh s_own, some invalid."""
    tb = TB(dut)
    count = env_int("LPU_TRANSACTIONS", 1000)
    await tb.run(random_program(tb.cfg, env_seed(), count, loopback=False))


@cocotb.test()
async def test_chaining(dut):
    """s_own is the ALU's own previous-cycle output; most operands read a fresh group."""
    tb = TB(dut)
    count = max(1, env_int("LPU_TRANSACTIONS", 1000) // 2)
    await tb.run(random_program(tb.cfg, env_seed() + 1, count, loopback=True))


@cocotb.test()
@cocotb.parametrize(group=list(CORNERS))
async def test_corners(dut, group):
    """Directed corners, one program per group (see CORNERS)."""
    tb = TB(dut)
    b = ProgramBuilder(tb.cfg, np.random.default_rng(env_seed() + 2))
    CORNERS[group](b)
    await tb.run(b.cycles)
