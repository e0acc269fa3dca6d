"""Whole-tile runs on Verilator: one cached model per configuration, many programs per run.

``run_jobs`` hands a list of ``Job`` (host writes, host reads, a cycle limit) to the cocotb
testbench ``lpu.verif.tb_tile`` through a JSON file, and gets a ``JobResult`` per job back. The
testbench loads through the host port, writes START and then waits for the tile's ``busy``
to fall: Python is not woken per clock cycle while a program runs.

The model is built once per configuration and planted fault, in
``build/rtl/tile-<key>/`` where the key (``model_build.model_key``) hashes the configuration
and the sources the RTL is generated from, so an unchanged tile is neither regenerated nor
rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..hw.verilog import BUILD
from ..sw.config import TileConfig
from ..sw.hostjob import Job, JobResult
from . import harness
from .model_build import (
    BUILD_FLAGS,
    TILE_PORTS_VLT,
    build_model,
    build_seconds,
    log,
    model_key,
    prune,
    run_testbench,
    verilator_runner,
)

TB = "lpu.verif.tb_tile"
TOP = "tile"


def build(config: TileConfig, fault: str | None = None, waves: str | None = None,
          verbose: bool = True) -> Path:
    """Return the build folder of the tile model, generating and building it if needed."""

    def tile_verilog():
        from amaranth.back import verilog

        from ..hw.tile import Tile

        return verilog.convert(Tile(config, fault=fault), name=TOP)

    return build_model(BUILD / f"tile-{model_key(config, fault, waves)}",
                       f"tile model ({config})", {f"{TOP}.v": tile_verilog}, TOP, TILE_PORTS_VLT,
                       waves=waves, verbose=verbose)


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
        raw = run_testbench(folder, work, verilator_runner(TILE_PORTS_VLT), TOP, TB, env, "tile",
                            waves=bool(waves))
        if waves:
            dumps = sorted(work.glob("dump.*"))
            if not dumps:
                raise RuntimeError("the simulation wrote no waveform")
            dest = Path(waves)
            if dumps[0].suffix != dest.suffix and dest.suffix in (".fst", ".vcd"):
                dest = dest.with_suffix(dumps[0].suffix)
            shutil.copy(dumps[0], dest)
            log(f"waves: {dest} ({dumps[0].suffix[1:].upper()})")
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


#: The raw loop's source, and the file written next to its executable: its build time.
RAW_MAIN = Path(__file__).with_name("raw_main.cpp")
RAW_STAMP = "built"


def build_raw(config: TileConfig, verbose: bool = True) -> Path:
    """Build ``raw_main.cpp`` against the same tile Verilog and Verilator flags as the cocotb
    model (no VPI, no Python): the model's own speed, and the reference for the harness's."""
    folder = build(config, verbose=verbose)
    exe = _raw_folder(folder) / "raw_tile"
    harness.build_once(exe, exe.parent, lambda: _build_raw(folder, verbose))
    return exe


def _raw_folder(folder: Path) -> Path:
    """Where the raw loop of the model in ``folder`` is built: named by a hash of
    ``raw_main.cpp``, so an edited loop is rebuilt rather than a stale one run."""
    digest = hashlib.sha256(RAW_MAIN.read_bytes()).hexdigest()[:10]
    return folder / f"raw-{digest}"


def _build_raw(folder: Path, verbose: bool) -> None:
    import subprocess

    if verbose:
        log("raw model: building the plain Verilator loop (a few minutes) ...")
    t0 = time.monotonic()
    raw = _raw_folder(folder)
    cmd = ["verilator", "--cc", "--exe", "--build", "-j", "2", *harness.LINT_WAIVERS,
           "-Wno-WIDTH", *BUILD_FLAGS, "--top-module", TOP, "-o", "raw_tile",
           "--Mdir", str(raw), str(folder / f"{TOP}.v"), str(RAW_MAIN)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError("raw model build failed:\n" + (proc.stdout + proc.stderr)[-3000:])
    prune(raw, keep="raw_tile")
    seconds = time.monotonic() - t0
    (raw / RAW_STAMP).write_text(json.dumps({"seconds": round(seconds, 1)}))
    if verbose:
        log(f"raw model: built in {seconds:.0f} s")


@dataclass(frozen=True)
class BuildTimes:
    """Recorded build times (s) of a configuration's models; None where not recorded."""

    model: float | None  # the cocotb model: Verilog generation and Verilator build
    raw: float | None  # the raw loop: Verilator and C++ build on the same Verilog


def build_times(config: TileConfig) -> BuildTimes:
    """The build times the tile model and raw loop of ``config`` recorded when they were built
    (building them first if needed)."""
    exe = build_raw(config)
    return BuildTimes(build_seconds(exe.parent.parent / "built"),
                      build_seconds(exe.parent / RAW_STAMP))


@dataclass(frozen=True)
class RawRun:
    """Runs of one program on the raw loop, timed from START taking effect to busy falling."""

    cycles: int  # the tile's cycle register after the last run
    ticks: int  # clock ticks inside the timed windows of all runs
    wait: int  # ticks from the START writes to the windows (not timed)
    seconds: float  # wall time of the windows
    runs: int

    @property
    def speed(self) -> float:
        """Simulated tile cycles per second."""
        return self.ticks / self.seconds


def run_raw(config: TileConfig, job: Job, runs: int = 1) -> RawRun:
    """Load ``job``'s writes on the raw loop and run the program ``runs`` times."""
    import subprocess

    exe = build_raw(config)
    with tempfile.NamedTemporaryFile("w", suffix=".job", delete=False) as f:
        for address, word in job.writes:
            f.write(f"w {address:x} {word:x}\n")
        f.write(f"start {runs}\n")
    try:
        out = subprocess.run([str(exe), f.name], capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(f.name)
    words = out.split()
    fields = dict(zip(words[::2], words[1::2], strict=True))
    if int(fields["ticks"]) == 0:
        raise RuntimeError("the program ended before the raw loop saw START take effect")
    return RawRun(int(fields["cycles"]), int(fields["ticks"]), int(fields["wait"]),
                  float(fields["seconds"]), int(fields["runs"]))
