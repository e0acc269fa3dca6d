"""ICU instruction queue on Verilator: the cocotb testbench lpu.verif.tb_icu per unit class.

Default tile, one build per (unit, bank): MEM bank 0 and VXM. The MEM build with ``fault=True``
is the negative control; the lint test runs Verilator -Wall on the generated Verilog.
"""


import pytest

pytest.importorskip("cocotb_tools")

from lpu.hw.icu import InstructionQueue
from lpu.sw.config import TileConfig
from lpu.verif import harness

UNITS = [("MEM", 0), ("VXM", None)]


def build(unit, bank, fault=False):
    name = f"icu_{unit.lower()}{'' if bank is None else bank}{'_fault' if fault else ''}"
    return InstructionQueue(TileConfig(), unit, bank, fault=fault), name


def env(unit, bank):
    return {"LPU_CONFIG": "default", "LPU_UNIT": unit, "LPU_BANK": "" if bank is None else bank}


@pytest.mark.parametrize(("unit", "bank"), UNITS)
def test_icu_cocotb(unit, bank):
    dut, name = build(unit, bank)
    harness.run(dut, name, "lpu.verif.tb_icu", env=env(unit, bank))


def test_icu_fault_is_caught():
    dut, name = build("MEM", 0, fault=True)
    with pytest.raises(AssertionError):
        harness.run(dut, name, "lpu.verif.tb_icu", env=env("MEM", 0), testcase="test_directed")


@pytest.mark.parametrize(("unit", "bank"), UNITS)
def test_icu_lint(unit, bank):
    dut, name = build(unit, bank)
    assert harness.lint(harness.write_verilog(dut, name), name) == ""
