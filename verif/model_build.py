"""Verilator models of anything containing the tile, built once and run by cocotb testbenches.

A model lives in ``build/rtl/<kind>-<key>/``: ``model_key`` hashes the configuration, the build
options and every source the tile Verilog is generated from, so an unchanged model is neither
regenerated nor rebuilt, and parallel test workers wait for one build instead of repeating it.
``build_model`` generates the Verilog and builds; ``run_testbench`` runs a cocotb test module on
the result and returns the JSON it wrote. The single-tile (``rtl_tile``), multi-tile
(``rtl_system``) and board-core (``rtl_uart``) models are built here.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import json
import sys
import time
from pathlib import Path

from ..sw.config import TileConfig
from . import harness

#: Verilator flags of every model (and of the raw loop of ``rtl_tile.build_raw``).
BUILD_FLAGS = ("-O3",)
#: The Verilator configuration that makes the tile's top-level ports public.
TILE_PORTS_VLT = Path(__file__).with_name("tile_ports.vlt")
#: Files outside hw/ whose content decides the generated tile Verilog, by package.
SW_SOURCES = (("sw", "isa.py"), ("sw", "config.py"), ("sw", "units.py"), ("sw", "hostmap.py"),
              ("sw", "program.py"), ("sw", "c2c.py"))


def log(msg: str) -> None:
    """A progress line on stderr (a model build takes minutes)."""
    print(msg, file=sys.stderr, flush=True)


def tile_sources() -> list[Path]:
    """The hw/ files the tile's Verilog is generated from: ``hw/tile.py`` and every hw module
    it imports, directly or not (read from their relative imports), so that another hw file
    (a bridge, the unit catalogue) does not force a rebuild."""
    folder = Path(importlib.import_module("lpu.hw").__file__).parent
    todo, seen = ["tile"], set()
    while todo:
        name = todo.pop()
        if name in seen or not (folder / f"{name}.py").exists():
            continue
        seen.add(name)
        for node in ast.walk(ast.parse((folder / f"{name}.py").read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    todo.append(node.module.split(".")[0])
                else:
                    todo += [alias.name for alias in node.names]
    return sorted(folder / f"{name}.py" for name in seen)


def model_key(config: TileConfig, fault: str | None, waves: str | None, *extra) -> str:
    """Hash of everything a model containing the tile depends on: the configuration, the build
    options and the sources the tile Verilog is generated from (plus ``extra`` strings)."""
    h = hashlib.sha256(json.dumps([config.as_dict(), fault, waves, BUILD_FLAGS, *extra]).encode())
    h.update(TILE_PORTS_VLT.read_bytes())
    paths = list(tile_sources())
    for package, name in SW_SOURCES:
        paths.append(Path(importlib.import_module(f"lpu.{package}").__file__).parent / name)
    for path in paths:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def verilator_runner(ports_vlt: Path):
    """cocotb's Verilator runner, building without ``--public-flat-rw``.

    cocotb makes every signal of the design public for VPI; on a whole tile that stops
    Verilator from optimising (a longer build and a much slower model). The testbenches only
    touch the top-level ports, so ``ports_vlt`` makes just those public."""
    from cocotb_tools.runner import Verilator

    class TopPortsVerilator(Verilator):
        def _build_command(self):
            cmds = super()._build_command()
            cmds[0] = [a for a in cmds[0] if a != "--public-flat-rw"]
            cmds[0].append(str(ports_vlt))
            return cmds

    return TopPortsVerilator()


def build_model(folder: Path, what: str, verilog_files, top: str, ports_vlt: Path,
                extra_args=(), timescale=("1ns", "1ps"), waves: str | None = None,
                verbose: bool = True) -> Path:
    """Generate (``verilog_files``: file name -> function returning its text) and build a
    Verilator model in ``folder`` once; later calls return the folder at once."""
    harness.verilator_env()
    harness.build_once(folder / "built", folder, lambda: _build(
        folder, what, verilog_files, top, ports_vlt, extra_args, timescale, waves, verbose))
    return folder


def _build(folder, what, verilog_files, top, ports_vlt, extra_args, timescale, waves,
           verbose) -> None:
    stamp = folder / "built"
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    if verbose:
        log(f"{what}: generating Verilog (once per configuration) ...")
    sources = []
    for name, make in verilog_files.items():
        sources.append(folder / name)
        sources[-1].write_text(make())
    if verbose:
        size = sum(p.stat().st_size for p in sources) // 1024
        log(f"{what}: {size} KiB of Verilog in {time.monotonic() - t0:.0f} s; building with "
            "Verilator (a few minutes) ...")
    args = [*harness.LINT_WAIVERS, "-Wno-WIDTH", *extra_args, *BUILD_FLAGS]
    if waves:
        args.append("--trace-fst" if waves == "fst" else "--trace")
    verilator_runner(ports_vlt).build(
        sources=sources, hdl_toplevel=top, build_dir=folder / "sim", build_args=args,
        timescale=timescale, waves=bool(waves), always=True, log_file=folder / "build.log")
    prune(folder / "sim", keep=top)
    seconds = time.monotonic() - t0
    stamp.write_text(json.dumps({"seconds": round(seconds, 1)}))
    if verbose:
        log(f"{what}: built in {seconds:.0f} s ({folder})")


def build_seconds(stamp: Path) -> float | None:
    """The wall time the build that wrote ``stamp`` took (Verilog generation included), as it
    recorded it; None for a stamp from before builds recorded their time."""
    try:
        return float(json.loads(stamp.read_text())["seconds"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def prune(folder: Path, keep: str) -> None:
    """Drop Verilator's generated C++ and objects once the executable exists (hundreds of MB
    per tile model); only the executable ``keep`` is run."""
    for path in folder.iterdir():
        if path.is_file() and path.name != keep and path.suffix in (".cpp", ".o", ".a", ".d", ".h"):
            path.unlink()


def run_testbench(folder: Path, work: Path, runner, top: str, test_module: str, env: dict,
                  what: str, testcase: str | None = None, waves: bool = False):
    """Run a cocotb testbench on the model built in ``folder`` with ``work`` as its test folder;
    return the JSON it wrote to ``work / "results.json"`` (passed to it in ``env``)."""
    result_file = work / "results.json"
    harness.run_test(runner, hdl_toplevel=top, test_module=test_module, testcase=testcase,
                     build_dir=folder / "sim", test_dir=work, extra_env=env, waves=waves,
                     results_xml=str(work / "results.xml"), log_file=work / "sim.log")
    if not result_file.exists():
        tail = (work / "sim.log").read_text(errors="replace")[-3000:] \
            if (work / "sim.log").exists() else "(no log)"
        raise RuntimeError(f"the {what} simulation produced no results; log tail:\n{tail}")
    return json.loads(result_file.read_text())
