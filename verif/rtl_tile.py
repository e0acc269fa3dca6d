"""Whole-tile runs on Verilator: one cached model per configuration, many programs per run.

``run_jobs`` hands a list of ``Job`` (host writes, host reads, a cycle limit) to the cocotb
testbench ``lpu.verif.tb_tile`` through a JSON file, and gets a ``JobResult`` per job back. The
testbench loads through the host port, writes START and then waits for the tile's ``busy``
to fall: Python is not woken per clock cycle while a program runs.

The model is built once per configuration and planted fault, in
``build/rtl/tile-<key>/`` where the key hashes the configuration and the sources the RTL is
generated from, so an unchanged tile is neither regenerated nor rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..sw.config import TileConfig
from . import harness

TB = "lpu.verif.tb_tile"
TOP = "tile"
#: Verilator flags of both the cocotb model and the raw loop.
BUILD_FLAGS = ("-O3",)
PORTS_VLT = Path(__file__).with_name("tile_ports.vlt")
#: Files whose content decides the generated tile Verilog, by package.
_SOURCES = (("sw", "isa.py"), ("sw", "config.py"), ("sw", "units.py"), ("sw", "hostmap.py"),
            ("sw", "program.py"), ("sw", "c2c.py"))


def tile_sources() -> list[Path]:
    """The hw/ files the tile's Verilog is generated from: ``hw/tile.py`` and every hw module
    it imports, directly or not (read from their relative imports), so that another hw file
    (a bridge, the unit catalogue) does not force a rebuild."""
    import ast
    import importlib

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


@dataclass
class Job:
    """One program run: host writes (address, word) after CLEAR, then START, then reads."""

    writes: list[tuple[int, int]]
    reads: list[int]
    max_cycles: int = 10_000_000


@dataclass
class JobResult:
    status: int
    cycles: int
    frozen: int
    error_bits: int
    busy: list[int]
    words: dict[int, int]
    timeout: bool
    run_seconds: float  # simulator wall time between START and busy falling
    load_seconds: float = 0.0
    read_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


def _key(config: TileConfig, fault: str | None, waves: str | None, *extra) -> str:
    """Hash of everything a model build depends on: the configuration, the build options and
    the sources the tile Verilog is generated from (plus ``extra`` strings)."""
    h = hashlib.sha256(json.dumps([config.as_dict(), fault, waves, BUILD_FLAGS, *extra]).encode())
    h.update(PORTS_VLT.read_bytes())
    import importlib

    paths = list(tile_sources())
    for package, name in _SOURCES:
        paths.append(Path(importlib.import_module(f"lpu.{package}").__file__).parent / name)
    for path in paths:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def _runner(ports_vlt: Path = PORTS_VLT):
    """cocotb's Verilator runner, building without ``--public-flat-rw``.

    cocotb makes every signal of the design public for VPI; on a whole tile that stops
    Verilator from optimising (a longer build and a much slower model). The testbench only
    touches the top-level ports, so ``ports_vlt`` makes just those public."""
    from cocotb_tools.runner import Verilator

    class TopPortsVerilator(Verilator):
        def _build_command(self):
            cmds = super()._build_command()
            cmds[0] = [a for a in cmds[0] if a != "--public-flat-rw"]
            cmds[0].append(str(ports_vlt))
            return cmds

    return TopPortsVerilator()


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build_model(folder: Path, what: str, verilog_files, top: str, ports_vlt: Path,
                extra_args=(), timescale=("1ns", "1ps"), waves: str | None = None,
                verbose: bool = True) -> Path:
    """Generate (``verilog_files``: file name -> function returning its text) and build a
    Verilator model in ``folder`` once; later calls return the folder at once."""
    harness.verilator_env()
    harness.build_once(folder / "built", folder, lambda: _build_model(
        folder, what, verilog_files, top, ports_vlt, extra_args, timescale, waves, verbose))
    return folder


def _build_model(folder, what, verilog_files, top, ports_vlt, extra_args, timescale, waves,
                 verbose) -> None:
    stamp = folder / "built"
    folder.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    if verbose:
        _log(f"{what}: generating Verilog (once per configuration) ...")
    sources = []
    for name, make in verilog_files.items():
        sources.append(folder / name)
        sources[-1].write_text(make())
    if verbose:
        size = sum(p.stat().st_size for p in sources) // 1024
        _log(f"{what}: {size} KiB of Verilog in {time.monotonic() - t0:.0f} s; building with "
             "Verilator (a few minutes) ...")
    args = [*harness.LINT_WAIVERS, "-Wno-WIDTH", *extra_args, *BUILD_FLAGS]
    if waves:
        args.append("--trace-fst" if waves == "fst" else "--trace")
    _runner(ports_vlt).build(
        sources=sources, hdl_toplevel=top, build_dir=folder / "sim", build_args=args,
        timescale=timescale, waves=bool(waves), always=True, log_file=folder / "build.log")
    _prune(folder / "sim", keep=top)
    stamp.touch()
    if verbose:
        _log(f"{what}: built in {time.monotonic() - t0:.0f} s ({folder})")


def build(config: TileConfig, fault: str | None = None, waves: str | None = None,
          verbose: bool = True) -> Path:
    """Return the build folder of the tile model, generating and building it if needed."""

    def tile_verilog():
        from amaranth.back import verilog

        from ..hw.tile import Tile

        return verilog.convert(Tile(config, fault=fault), name=TOP)

    return build_model(harness.BUILD / f"tile-{_key(config, fault, waves)}",
                       f"tile model ({config})", {f"{TOP}.v": tile_verilog}, TOP, PORTS_VLT,
                       waves=waves, verbose=verbose)


def _prune(folder: Path, keep: str) -> None:
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
        log = (work / "sim.log").read_text(errors="replace")[-3000:] \
            if (work / "sim.log").exists() else "(no log)"
        raise RuntimeError(f"the {what} simulation produced no results; log tail:\n{log}")
    return json.loads(result_file.read_text())


def run_jobs(config: TileConfig, jobs: list[Job], fault: str | None = None,
             waves: Path | None = None, verbose: bool = True) -> list[JobResult]:
    """Run ``jobs`` one after another on one simulator process; return their results."""
    from ..sw.hostmap import HostMap

    wave_kind = harness.wave_format("--waves") if waves else None
    folder = build(config, fault, wave_kind, verbose)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=folder))
    try:
        job_file, result_file = work / "jobs.json", work / "results.json"
        job_file.write_text(json.dumps([
            {"writes": j.writes, "reads": j.reads, "max_cycles": j.max_cycles} for j in jobs]))
        env = {"LPU_CONFIG": json.dumps(config.as_dict()), "LPU_TILE_JOBS": str(job_file),
               "LPU_TILE_RESULTS": str(result_file)}
        raw = run_testbench(folder, work, _runner(), TOP, TB, env, "tile", waves=bool(waves))
        if waves:
            dumps = sorted(work.glob("dump.*"))
            if not dumps:
                raise RuntimeError("the simulation wrote no waveform")
            dest = Path(waves)
            if dumps[0].suffix != dest.suffix and dest.suffix in (".fst", ".vcd"):
                dest = dest.with_suffix(dumps[0].suffix)
            shutil.copy(dumps[0], dest)
            _log(f"waves: {dest} ({dumps[0].suffix[1:].upper()})")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    hmap = HostMap(config)
    out = []
    for r in raw:
        res = JobResult(**{k: v for k, v in r.items() if k != "words"},
                        words={int(a): w for a, w in r["words"].items()})
        res.errors = hmap.decode_errors(res.error_bits)
        out.append(res)
    return out


def build_raw(config: TileConfig, verbose: bool = True) -> Path:
    """Build ``raw_main.cpp`` against the same tile Verilog and Verilator flags as the cocotb
    model (no VPI, no Python): the reference loop for the harness-overhead ratio."""
    folder = build(config, verbose=verbose)
    exe = folder / "raw" / "raw_tile"
    harness.build_once(exe, folder / "raw", lambda: _build_raw(folder, verbose))
    return exe


def _build_raw(folder: Path, verbose: bool) -> None:
    import subprocess

    if verbose:
        _log("raw model: building the plain Verilator loop (a few minutes) ...")
    t0 = time.monotonic()
    cmd = ["verilator", "--cc", "--exe", "--build", "-j", "2", *harness.LINT_WAIVERS,
           "-Wno-WIDTH", *BUILD_FLAGS, "--top-module", TOP, "-o", "raw_tile",
           "--Mdir", str(folder / "raw"), str(folder / f"{TOP}.v"),
           str(Path(__file__).with_name("raw_main.cpp"))]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError("raw model build failed:\n" + (proc.stdout + proc.stderr)[-3000:])
    _prune(folder / "raw", keep="raw_tile")
    if verbose:
        _log(f"raw model: built in {time.monotonic() - t0:.0f} s")


def run_raw(config: TileConfig, job: Job) -> tuple[int, float]:
    """Run one job on the raw loop; return (tile cycles, loop seconds)."""
    import subprocess

    exe = build_raw(config)
    with tempfile.NamedTemporaryFile("w", suffix=".job", delete=False) as f:
        for address, word in job.writes:
            f.write(f"w {address:x} {word:x}\n")
        f.write("start\n")
    try:
        out = subprocess.run([str(exe), f.name], capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(f.name)
    words = out.split()
    fields = dict(zip(words[::2], words[1::2], strict=True))
    return int(fields["cycles"]), float(fields["seconds"])
