"""Timing-domain check of nextpnr reports (``lpu.hw.synth.timing_problems``), on hand-made
report snippets in the shape nextpnr 0.11 writes (``--report`` JSON, and its log for a placed-only
run): a build whose paths are not all timed against the tile clock must fail.

The "main" snippet is the iCEBreaker build of main before issue 19: its REPEAT and MXM
multipliers in SB_MAC16 cells with grounded clock pins, which nextpnr put in the pseudo-clock
``$PACKER_GND_NET_$glb_clk`` and reported as two cross-domain halves.
"""

from __future__ import annotations

import json

import pytest

from lpu.hw.synth import IO_PORTS, log_report, timing_problems

GND = "$PACKER_GND_NET_$glb_clk"
TILE = "cd_sync.clk"
ICE40_IO = IO_PORTS["ice40"]


def path(src: str, dst: str, first: tuple[str, str], last: tuple[str, str], ns: float) -> dict:
    """A critical path entry: from clock edge ``src`` to ``dst``, first and last (cell, port)."""
    return {"from": src, "to": dst, "path": [
        {"type": "clk-to-q", "delay": ns / 2, "from": {"cell": first[0], "port": first[1]},
         "to": {"cell": "mid", "port": "I0"}},
        {"type": "setup", "delay": ns / 2, "from": {"cell": "mid", "port": "O"},
         "to": {"cell": last[0], "port": last[1]}}]}


def report(fmax: dict[str, tuple[float, float]], paths: list[dict]) -> dict:
    return {"fmax": {k: {"achieved": a, "constraint": c} for k, (a, c) in fmax.items()},
            "critical_paths": paths}


UART_IN = path("<async>", f"posedge {TILE}", ("uart_rx.buf0", "D_IN_0"), ("rx_sync", "I3"), 4.9)
LED_OUT = path(f"posedge {TILE}", "<async>", ("bad_frames", "O"), ("led1.buf0", "D_OUT_0"), 12.5)
IN_TILE = path(f"posedge {TILE}", f"posedge {TILE}", ("freeze_left", "O"), ("cycles", "CEN"), 68)

MAIN = report({GND: (256.08, 12.0), TILE: (14.70, 12.00004768)}, [
    path(f"posedge {GND}", f"posedge {GND}", ("m_prod_b", "O_7"), ("m_prod_a", "D_7"), 3.9),
    IN_TILE, UART_IN, LED_OUT,
    path(f"posedge {GND}", f"posedge {TILE}", ("last_step_MAC16", "O_15"), ("cycles", "CEN"), 56.8),
    path(f"posedge {TILE}", f"posedge {GND}", ("imem_RAM", "RDATA_14"), ("rep_MAC16", "A_0"),
         24.7)])
CLEAN = report({TILE: (14.54, 12.00004768)}, [IN_TILE, UART_IN, LED_OUT])


def test_a_clean_board_report_has_no_problem():
    assert timing_problems(CLEAN, {"sync": 12.0}, async_ends=ICE40_IO) == []


def test_the_grounded_dsp_clock_of_main_fails():
    problems = timing_problems(MAIN, {"sync": 12.0}, async_ends=ICE40_IO)
    assert any(GND in p and "constant net" in p for p in problems)
    # Both halves of the path through the DSP, and the path inside the pseudo domain.
    assert sum(f"untimed clock '{GND}'" in p for p in problems) == 3
    assert any("last_step_MAC16" in p and "56.8 ns" in p for p in problems)
    assert any("rep_MAC16" in p and "24.7 ns" in p for p in problems)
    assert not any("freeze_left" in p or "uart_rx" in p or "led1" in p for p in problems)


def test_an_unconstrained_second_clock_fails_even_at_the_default_frequency():
    """nextpnr gives an unconstrained clock its default target (12 MHz on iCE40, the same as the
    iCEBreaker's): the extra domain is still found, since the build constrains one."""
    rep = report({TILE: (20.0, 12.00004768), "stray_clk": (90.0, 12.0)}, [
        IN_TILE, path("posedge stray_clk", f"posedge {TILE}", ("s", "O"), ("t", "I0"), 5.0)])
    problems = timing_problems(rep, {"sync": 12.0}, async_ends=ICE40_IO)
    assert any("unconstrained domain" in p for p in problems)
    assert any("untimed clock" in p for p in problems)


def test_a_clock_at_a_frequency_the_build_does_not_set_fails():
    rep = report({TILE: (20.0, 25.0)}, [IN_TILE])
    assert any("25 MHz" in p for p in timing_problems(rep, {"sync": 12.0}))
    assert timing_problems(rep, {"sync": 25.0}) == []


def test_an_unclocked_end_must_be_an_io_pin_on_a_board():
    inner = path("<async>", f"posedge {TILE}", ("some_lut", "O"), ("ff", "I0"), 3.0)
    rep = report({TILE: (20.0, 12.0)}, [inner])
    assert any("no I/O pin" in p for p in timing_problems(rep, {"sync": 12.0},
                                                          async_ends=ICE40_IO))
    # Out of context the unit's ports are unconstrained by design.
    assert timing_problems(rep, {"sync": 12.0}, async_ends="any") == []


def test_a_crossing_passes_only_when_expected():
    rep = report({"clk": (80.0, 50.0), "link_clk": (90.0, 50.0)}, [
        path("posedge clk", "posedge link_clk", ("a", "Q"), ("b", "DI"), 3.0),
        path("posedge link_clk", "posedge link_clk", ("c", "Q"), ("d", "DI"), 3.0)])
    clocks = {"clk": 50.0, "link_clk": 50.0}
    problems = timing_problems(rep, clocks)
    assert len(problems) == 1 and "crosses from domain clk to link_clk" in problems[0]
    assert timing_problems(rep, clocks, crossings=[("link_clk", "clk")]) == []


def test_the_log_of_a_placed_only_run():
    """Placement only: nextpnr writes no timing into the JSON; the log's last analysis gives the
    clocks and the domain pairs (and the pseudo clock fails the same way)."""
    log = "\n".join([
        "Info: Max frequency for clock '$PACKER_GND_NET_$glb_clk': 386.25 MHz (PASS at 12.00 MHz)",
        "Info: Max frequency for clock              'cd_sync.clk': 13.39 MHz (PASS at 12.00 MHz)",
        "Info:",
        "Info: Max delay posedge cd_sync.clk              -> posedge $PACKER_GND_NET_$glb_clk: "
        "24.40 ns",
        "Info: placing",
        "Info: Max frequency for clock              'cd_sync.clk': 14.70 MHz (PASS at 12.00 MHz)",
        "Info: Max delay <async>                          -> posedge cd_sync.clk             : "
        "4.86 ns"])
    rep = log_report(log)
    assert rep["fmax"] == {TILE: {"achieved": 14.70, "constraint": 12.0}}
    assert [(p["from"], p["to"]) for p in rep["critical_paths"]] == [
        ("<async>", f"posedge {TILE}")]
    assert timing_problems(rep, {"sync": 12.0}) == []
    first = log_report(log.split("Info: placing")[0])
    assert set(first["fmax"]) == {GND, TILE}
    assert any("constant net" in p for p in timing_problems(first, {"sync": 12.0}))


@pytest.mark.parametrize("snippet,code", [(CLEAN, 0), (MAIN, 1)])
def test_the_build_command_fails_on_an_untimed_path(snippet, code, tmp_path, monkeypatch, capsys):
    """``make fpga``: the table is printed, then the reasons, and the exit status is 1."""
    pytest.importorskip("amaranth_boards")
    from lpu.fpga import build

    def fake_run(board, folder, log=None, place_only=False):
        (folder / "report.json").write_text(json.dumps(snippet | {"utilization": {}}))
        (folder / "top.rpt").write_text("Printing statistics.\n  10 SB_DFF\n")
        (folder / "build.json").write_text(json.dumps({"seconds": 1}))
        return 1.0

    monkeypatch.setattr(build, "ROOT", tmp_path)
    monkeypatch.setattr(build, "run", fake_run)
    assert build.main(["--board", "icebreaker"]) == code
    out, err = capsys.readouterr()
    assert "| icebreaker |" in out
    if code:
        assert err.startswith("error: icebreaker: not every path is timed") and GND in err
        assert "no: untimed paths" in out
    else:
        assert err == "" and "| yes |" in out


def test_unit_harness_takes_every_port(tmp_path):
    """``lpu.fpga.unit_fmax``: every input bit of the unit comes from the shift register and
    every output bit is registered; the board plan uses only the UART and clock pins."""
    pytest.importorskip("amaranth_boards")
    from amaranth import Shape
    from amaranth.lib import wiring

    from lpu.fpga.boards import board_named
    from lpu.fpga.unit_fmax import RegisteredUnit, port_bits
    from lpu.hw.hac import Hac

    unit = Hac(64)
    ins, outs = port_bits(unit)
    widths = {True: 0, False: 0}
    for _, member in unit.signature.members.flatten():
        widths[member.flow == wiring.In] += Shape.cast(member.shape).width
    assert (sum(len(v) for v in ins), sum(len(v) for v in outs)) == (widths[True], widths[False])
    plan = board_named("icebreaker").platform().prepare(RegisteredUnit(unit), name="top")
    plan.extract(str(tmp_path))
    pins = [ln.split()[1] for ln in (tmp_path / "top.pcf").read_text().splitlines()
            if ln.startswith("set_io")]
    assert sorted(pins) == ["clk12_0__io", "uart_0__rx__io", "uart_0__tx__io"]
