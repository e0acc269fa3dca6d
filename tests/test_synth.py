"""Synthesis smoke: every unit synthesizes for iCE40 and ECP5 with no latch and no error
(tiny tile, to keep `make test` short; `make resources` reports the small tile)."""

import sys

import pytest

pytest.importorskip("amaranth")

from lpu.hw.catalog import unit_factories
from lpu.hw.synth import synthesize
from lpu.hw.verilog import write_verilog
from lpu.sw.config import TileConfig

CFG = TileConfig.named("tiny")


@pytest.mark.parametrize("family", ["ice40", "ecp5"])
@pytest.mark.parametrize("name", sorted(unit_factories(CFG)))
def test_unit_synthesizes(name, family):
    top = f"{name}_tiny"
    counts = synthesize(write_verilog(unit_factories(CFG)[name](), top), top, family)
    assert counts["cells"] > 0 and counts["LUT"] + counts["FF"] > 0


def test_report_one_family(monkeypatch):
    """``python -m lpu.hw.report --family ecp5``: that family's five columns, every row as wide
    as the header."""
    from lpu.hw import report

    monkeypatch.setattr(report, "unit_factories", lambda cfg: {"hac": unit_factories(cfg)["hac"]})
    rows = report.table("tiny", ("ecp5",))
    assert rows[0] == "| unit (tiny tile) | ECP5 LUT | FF | carry | DSP | BRAM | yosys s |"
    assert [r.count("|") for r in rows] == [8, 8, 8]
    assert rows[2].startswith("| hac | ") and int(rows[2].split("|")[2]) > 0


def test_units_follow_the_floorplan():
    """The iCEBreaker tile has no VXM, SXM or C2C: ``lpu verilog`` and the resource table list
    only the units it has, and each of them elaborates."""
    from amaranth.back import rtlil

    units = unit_factories(TileConfig.named("icebreaker"))
    assert sorted(units) == ["decoder", "icu", "mem_bank", "mxm", "streams", "uart_bridge"]
    for make in units.values():
        assert rtlil.convert(make())


@pytest.mark.parametrize("module", ["lpu.hw.mxm", "lpu.hw.vxm"])
def test_a_broken_unit_import_is_not_dropped(module, monkeypatch):
    """A unit whose module fails to import stops ``lpu verilog`` and synthesis instead of
    silently leaving the unit out."""
    monkeypatch.setitem(sys.modules, module, None)  # the next import of it raises ImportError
    with pytest.raises(ImportError):
        unit_factories(TileConfig.named("small"))
