# amaranth: UnusedElaboratable=no
"""Board tops: the fast synthesis smoke of every board and the build report parser.

Full synthesis, place and route and the bitstream are ``make fpga BOARD=...`` (minutes to tens
of minutes each); docs/fpga.md records what they measured.
"""

from __future__ import annotations

import json
import os

import pytest

pytest.importorskip("amaranth")
pytest.importorskip("amaranth_boards")

from lpu.fpga import build
from lpu.fpga.boards import BAUD, BOARDS, board_named


@pytest.mark.parametrize("name", list(BOARDS))
def test_board_top_smoke(name, tmp_path):
    """The board top elaborates on its platform and Yosys finds every cell, driver and no
    latch; the constraints name the UART pins."""
    board = board_named(name)
    build.smoke(board, tmp_path)
    constraints = (tmp_path / ("top.pcf" if board.family == "ice40" else "top.lpf")).read_text()
    assert "uart_0__rx" in constraints and "uart_0__tx" in constraints
    dccas = [line.split()[-1] for line in (tmp_path / "top.il").read_text().splitlines()
             if line.strip().startswith("cell \\DCCA ")]
    if board.family == "ecp5":  # the tile's control nets ride the clock network
        assert sorted(dccas) == ["\\queue_advance_dcca", "\\unit_en_dcca", "\\unit_rst_dcca"]
    else:
        assert dccas == []


def test_tile_global_buffer_must_be_callable():
    from lpu.hw.tile import Tile

    with pytest.raises(TypeError, match="global_buffer must be callable"):
        Tile(BOARDS["ulx3s"].config, global_buffer="DCCA")


def test_board_table():
    for name, board in BOARDS.items():
        assert board.name == name
        assert board.config.streams >= 4
        assert board.divisor() >= 4
        assert abs(board.clock_hz() / board.divisor() / BAUD - 1) < 0.02  # baud within 2 %
    with pytest.raises(ValueError, match="unknown board 'de10'"):
        board_named("de10")


def test_report_parser(tmp_path):
    """A nextpnr JSON report (the fields nextpnr 0.11 writes) becomes one table row."""
    board = board_named("ulx3s")
    (tmp_path / "report.json").write_text(json.dumps({
        "utilization": {"TRELLIS_COMB": {"used": 1000, "available": 83640},
                        "TRELLIS_FF": {"used": 500, "available": 83640},
                        "MULT18X18D": {"used": 4, "available": 156},
                        "DP16KD": {"used": 2, "available": 208}},
        "fmax": {"clk": {"achieved": 31.25, "constraint": 15.0}},
        "critical_paths": [{"from": "posedge clk", "to": "posedge clk", "path": [
            {"from": {"cell": "a"}, "to": {"cell": "b"}, "type": "clk-to-q", "delay": 0.5},
            {"from": {"cell": "b"}, "to": {"cell": "c"}, "type": "routing", "delay": 2.0,
             "sources": [f"{build.PROJECT}/hw/tile.py:285", "/elsewhere/x.py:1"]},
            {"from": {"cell": "c"}, "to": {"cell": "d"}, "type": "logic", "delay": 0.25},
            {"from": {"cell": "d"}, "to": {"cell": "e"}, "type": "setup", "delay": 0.25}]}]}))
    (tmp_path / "build.json").write_text(json.dumps({"seconds": 12}))
    rep = build.parse_report(board, tmp_path)
    assert rep["used"] == {"LUT": 1000, "FF": 500, "DSP": 4, "BRAM": 2}
    assert (rep["fmax"], rep["target"]) == (31.25, 15.0)
    assert rep["timing_problems"] == []
    assert rep["path"] == ("a -> e: 3.0 ns, 1 logic levels; through hw/tile.py:285, "
                           "/elsewhere/x.py:1")
    row = build.table([rep])[-1]
    assert "| 1000 / 83640 | 500 / 83640 | 4 / 156 | 2 / 208 | 31.2 | 15.0 | yes | 12 |" in row


def test_build_cli_errors(capsys):
    with pytest.raises(SystemExit):
        build.main(["--board", "de10"])
    assert "invalid choice: 'de10'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build.main([])
    assert "--board is required" in capsys.readouterr().err


def test_ecp5_pll_params():
    """Exact outputs within the EHXPLLL limits; 25 -> 12.5 MHz equals what
    ``yowasp-ecppll -i 25 -o 12.5`` chooses (reference divisor 2, feedback 1, output 48)."""
    from lpu.fpga.clocks import PFD_MHZ, VCO_MHZ, ecp5_pll_params

    assert ecp5_pll_params(25, 12.5) == {"CLKI_DIV": 2, "CLKFB_DIV": 1, "CLKOP_DIV": 48}
    for f_out in (10, 12.5, 15, 20, 50, 80):
        p = ecp5_pll_params(25, f_out)
        assert 25 / p["CLKI_DIV"] * p["CLKFB_DIV"] == pytest.approx(f_out)
        assert PFD_MHZ[0] <= 25 / p["CLKI_DIV"] <= PFD_MHZ[1]
        assert VCO_MHZ[0] <= f_out * p["CLKOP_DIV"] <= VCO_MHZ[1]
    with pytest.raises(ValueError, match="no ECP5 PLL setting"):
        ecp5_pll_params(25, 1.0)


def test_overfull_rows_of_the_utilisation_log():
    """What a build that does not fit names (rows copied in the format nextpnr-ice40 prints)."""
    log = ("Info: Device utilisation:\n"
           "Info: \t         ICESTORM_LC:   44346/   5280   839%\n"
           "Info: \t        ICESTORM_RAM:      12/     30    40%\n"
           "Info: \t        ICESTORM_DSP:      54/      8   675%\n")
    assert build.overfull(log) == [("ICESTORM_LC", 44346, 5280), ("ICESTORM_DSP", 54, 8)]


def test_failed_build_row():
    row = build.table([{"board": "icebreaker", "device": "iCE40UP5K-SG48", "config": "tiny",
                        "error": "does not fit", "clock_mhz": 12.0, "seconds": 300}])[-1]
    assert row == ("| icebreaker | iCE40UP5K-SG48 | tiny | failed: does not fit | | | | | 12.0 "
                   "| no | 300 |")


def test_place_only_script(tmp_path):
    (tmp_path / "build_top.sh").write_text(
        'set -e\n"$YOSYS" -q top.ys\n"$NEXTPNR_ECP5" --json top.json --textcfg top.config\n'
        '"$ECPPACK" --input top.config --bit top.bit\n')
    name = build.place_only_script(tmp_path, "build_top.sh")
    assert (tmp_path / name).read_text() == (
        'set -e\n"$YOSYS" -q top.ys\n"$NEXTPNR_ECP5" --json top.json --textcfg top.config '
        '--no-route\n')


def test_fmax_from_the_log_of_a_placed_only_run(tmp_path):
    """Without routing nextpnr's JSON report has no Fmax: the log's last estimate is used, and
    a report with no Fmax at all is never called met."""
    log = tmp_path / "top.tim"
    log.write_text("Info: Max frequency for clock '$glbnet$clk': 12.61 MHz (FAIL at 25.00 MHz)\n"
                   "Info: Max frequency for clock '$glbnet$clk': 14.34 MHz (PASS at 10.00 MHz)\n")
    assert build.log_fmax(log) == {"$glbnet$clk": {"achieved": 14.34, "constraint": 10.0}}
    row = build.table([{"board": "b", "device": "d", "config": "c", "used": dict.fromkeys(
        ("LUT", "FF", "DSP", "BRAM"), 1), "capacity": dict.fromkeys(("LUT", "FF", "DSP", "BRAM"),
        2), "fmax": 0.0, "target": 0.0, "seconds": 1}])[-1]
    assert "| 0.0 | 0.0 | ? | 1 |" in row


def test_failed_synthesis_names_the_error(tmp_path, monkeypatch):
    """A tool that fails with its message only in its own log (Yosys -q -l top.rpt) still
    gives a located reason, in the error and in build.json, not a traceback."""
    def fake_prepare(board, folder):
        (folder / "build_top.sh").write_text(
            "echo 'ERROR: Assert failed in rtlil.cc' > top.rpt\nexit 1\n")
        return "build_top.sh"

    monkeypatch.setattr(build, "prepare", fake_prepare)
    monkeypatch.setattr(build, "tool_env", lambda: dict(os.environ))
    with pytest.raises(build.BuildError, match=r"ERROR: Assert failed in rtlil\.cc"):
        build.run(BOARDS["ulx3s"], tmp_path, log=lambda msg: None)
    assert json.loads((tmp_path / "build.json").read_text())["error"] == \
        "ERROR: Assert failed in rtlil.cc"
