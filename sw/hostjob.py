"""The host's view of a run, shared by every backend: what it asks of a tile and what it gets.

A ``Job`` is what the host does through the tile's host port (the memory map of ``hostmap``):
write words, START, wait for ``busy`` to fall, read words. A ``JobResult`` is what the port
reported; the Verilator harness (``lpu.verif.rtl_tile``) and the board host (``uarthost``)
both return one. ``RunResult`` is what every backend returns to the tools: outputs by symbol
and counters, the golden model's included. They live here, in pure Python, so the software
side never reaches into the hardware or the verification harness for its own types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from .golden import TileError


@dataclass
class Job:
    """One program run: host writes (address, word) after CLEAR, then START, then reads."""

    writes: list[tuple[int, int]]
    reads: list[int]
    max_cycles: int = 10_000_000


@dataclass
class JobResult:
    """What the host port reported after a ``Job``: status and counter registers, the words
    read (by address), whether the host gave up waiting, and where the wall time went."""

    status: int
    cycles: int
    frozen: int
    error_bits: int
    busy: list[int]
    words: dict[int, int]
    timeout: bool
    run_seconds: float  # simulator or board wall time between START and busy falling
    load_seconds: float = 0.0
    read_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


@dataclass
class RunResult:
    """What a backend returns: outputs, measured cycles and per-queue busy cycles."""

    outputs: dict[str, np.ndarray]
    cycles: int
    busy: dict[str, int]
    issues: list[tuple[int, str, str]]  # (cycle, queue, mnemonic) for a timeline
    error: TileError | None = None
    frozen: int = 0  # of ``cycles``, wall cycles the tile stood frozen (DESKEW, RUNTIME_DESKEW)
