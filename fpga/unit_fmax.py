"""One unit's Fmax on a board's device: the unit between registers, placed and routed alone.

nextpnr-ice40 has no out-of-context mode and a unit has far more ports than an iCE40 has pins,
so ``python -m lpu.fpga.unit_fmax --board icebreaker --unit mxm`` builds a harness on the board
instead: every input bit of the unit (and its enable and reset, as the tile wraps every unit)
comes from a shift register fed by the UART receive pin, every output bit is registered and
the registers are XOR-reduced into a register on the transmit pin. The paths that count are
then the unit's own, register to register, on the board's clock; the report says which paths
no real clock times (``lpu.hw.synth.timing_problems``), as ``make fpga`` does. Output under
``build/fpga/<board>-<unit>/``; exit status 1 on an untimed path or a failed build.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from amaranth import Cat, Elaboratable, Module, Signal, Value
from amaranth.hdl import EnableInserter, ResetInserter
from amaranth.lib import io, wiring

from ..hw.catalog import unit_factories
from ..hw.synth import IO_PORTS, timing_problems
from .boards import BOARDS, board_named
from .build import ROOT, BuildError, tool_env


def port_bits(unit: wiring.Component) -> tuple[list, list]:
    """(input values, output values) of every port of ``unit``'s signature."""
    ins, outs = [], []
    for _, member, value in unit.signature.flatten(unit):
        (ins if member.flow == wiring.In else outs).append(Value.cast(value))
    return ins, outs


class RegisteredUnit(Elaboratable):
    """``unit`` (as the tile adds it: under an enable and a reset) between a serial-in shift
    register and registered, XOR-reduced outputs, on the board's UART pins."""

    def __init__(self, unit: wiring.Component):
        self.unit = unit

    def elaborate(self, platform):
        m = Module()
        ins, outs = port_bits(self.unit)
        enable, reset = Signal(), Signal()
        width = sum(len(v) for v in ins) + 2
        chain = Signal(width)
        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx = rx = io.Buffer("i", uart.rx)
        m.submodules.tx = tx = io.Buffer("o", uart.tx)
        m.d.sync += chain.eq(Cat(rx.i, chain[:-1]))
        m.d.comb += Cat(enable, reset, *ins).eq(chain)
        m.submodules.unit = ResetInserter(reset)(EnableInserter(enable)(self.unit))
        held = Signal(sum(len(v) for v in outs))
        folded = Signal()
        m.d.sync += [held.eq(Cat(*outs)), folded.eq(held.xor())]
        m.d.comb += tx.o.eq(folded)
        return m


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--board", choices=list(BOARDS), default="icebreaker")
    ap.add_argument("--unit", default="mxm", help="a unit of lpu.hw.catalog (default mxm)")
    a = ap.parse_args(argv)
    board = board_named(a.board)
    units = unit_factories(board.config)
    if a.unit not in units:
        print(f"error: the {board.config_name} tile has no unit {a.unit!r}; units: "
              f"{', '.join(units)}", file=sys.stderr)
        return 1
    folder = ROOT / f"{board.name}-{a.unit}"
    folder.mkdir(parents=True, exist_ok=True)
    overrides = {"nextpnr_opts": "--report report.json --timing-allow-fail"}
    if board.synth_opts:
        overrides["synth_opts"] = board.synth_opts
    plan = board.platform().prepare(RegisteredUnit(units[a.unit]()), name="top", **overrides)
    plan.extract(str(folder))
    (folder / "report.json").unlink(missing_ok=True)
    t0 = time.monotonic()
    try:
        with open(folder / "build.log", "w") as out:
            code = subprocess.run(["sh", "build_top.sh"], cwd=folder, stdout=out,
                                  stderr=subprocess.STDOUT, env=tool_env()).returncode
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if code or not (folder / "report.json").exists():
        print(f"error: {board.name}: the {a.unit} harness build failed (logs in {folder})",
              file=sys.stderr)
        return 1
    rep = json.loads((folder / "report.json").read_text())
    clocks = board.clocks()
    problems = timing_problems(rep, clocks, async_ends=IO_PORTS[board.family])
    fmax = {k: v["achieved"] for k, v in rep.get("fmax", {}).items()}
    dsp = rep.get("utilization", {}).get("ICESTORM_DSP", {}).get("used", "-")
    print(f"{board.name} {a.unit} ({board.config_name} tile) between registers: Fmax "
          + ", ".join(f"{k} {v:.1f} MHz" for k, v in fmax.items())
          + f"; DSP {dsp}; {time.monotonic() - t0:.0f} s; report {folder / 'report.json'}")
    for cp in rep.get("critical_paths", []):
        steps = cp.get("path", [])
        if steps:
            delay = sum(st.get("delay", 0.0) for st in steps)
            print(f"  {cp['from']} -> {cp['to']}: {delay:.1f} ns, "
                  f"{steps[0]['from']['cell']} -> {steps[-1]['to']['cell']}")
    if problems:
        print("error: not every path is timed:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
