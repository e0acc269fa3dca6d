"""Backends share one interface: run a program with inputs, return outputs and counters.

The golden model is pure numpy; RTL backends (verilator, later uart) are imported only when
asked for, so the software tools work without Amaranth or cocotb.
"""

from __future__ import annotations

from .errors import LpuError
from .golden import RunResult, run_golden
from .program import Program

BACKENDS = ("golden",)


def run(backend: str, program: Program, inputs, outputs, trace: bool = False) -> RunResult:
    if backend == "golden":
        return run_golden(program, inputs, outputs, trace=trace)
    raise LpuError(f"unknown backend {backend!r}; available: {', '.join(BACKENDS)}")
