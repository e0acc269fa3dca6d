"""What an assembled program is: tile config, data symbols, MEM contents and queue words."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .config import TileConfig
from .errors import Location
from .isa import DTYPE_INFO, Instr


@dataclass(frozen=True)
class Symbol:
    """A named tensor in MEM.

    The tensor is flattened row-major and cut into chunks of ``lanes`` elements (the last one
    zero-padded). A chunk of a ``b``-byte type is ``b`` words, word ``j`` holding byte ``j``
    (little-endian) of every element: the byte planes a stream group carries. The symbol's
    words, numbered ``w = chunk * b + j``, are dealt round-robin over its ``P`` placements:
    word ``w`` lives in placement ``w % P`` at address ``base + w // P``. So one placement keeps
    a chunk's planes together, and ``b`` placements put one plane in each slice, as on the TSP.
    """

    name: str
    dtype: str
    shape: tuple[int, ...]
    placements: tuple[tuple[str, int], ...]
    loc: Location | None = None

    @property
    def elements(self) -> int:
        return math.prod(self.shape)

    def chunks(self, lanes: int) -> int:
        return -(-self.elements // lanes)

    def words(self, lanes: int) -> int:
        return self.chunks(lanes) * DTYPE_INFO[self.dtype].bytes

    def words_in(self, placement: int, lanes: int) -> int:
        """Words the symbol takes in one of its placements."""
        p, n = len(self.placements), self.words(lanes)
        return n // p + (1 if placement < n % p else 0)

    def word_address(self, word: int) -> tuple[str, int]:
        """Slice and address of the symbol's word number ``word``."""
        p = len(self.placements)
        slice_name, base = self.placements[word % p]
        return slice_name, base + word // p


@dataclass
class Item:
    """One instruction in a queue, with where it came from (for located errors)."""

    instr: Instr
    values: dict[str, int]
    loc: Location | None = None
    at: int | None = None  # '@cycle' annotation: issue exactly at this cycle
    cols: dict[str, int] = field(default_factory=dict)  # operand name -> column
    symbols: dict[str, str] = field(default_factory=dict)  # operand name -> source text


@dataclass
class Program:
    """An assembled program as written: its items may carry ``@N`` issue cycles."""

    config: TileConfig
    symbols: dict[str, Symbol] = field(default_factory=dict)
    # MEM contents: (slice name, first word) -> bytes, a multiple of lanes long.
    segments: dict[tuple[str, int], bytes] = field(default_factory=dict)
    queues: dict[str, list[Item]] = field(default_factory=dict)
    file: str = "<program>"


@dataclass
class LoweredProgram(Program):
    """A program as the tile runs it: the scheduler has turned every ``@N`` into NOP waits,
    so each queue's items issue back to back. The golden model, the backends and the image
    writer take only this; ``schedule(prog).image`` and the image reader make one. A source
    ``Program`` run as is would ignore its ``@N`` and run with the wrong timing."""


def require_lowered(program, who: str) -> LoweredProgram:
    """``program`` if it is lowered; else a TypeError that names the fix."""
    if not isinstance(program, LoweredProgram):
        raise TypeError(f"{who} takes a lowered program (LoweredProgram), not "
                        f"{type(program).__name__} {getattr(program, 'file', '')!r}: schedule "
                        "it first: lpu.sw.schedule.schedule(prog).image")
    return program


def symbol_words(sym: Symbol, array, lanes: int):
    """Yield (word number, lanes bytes) for a tensor in the symbol's layout."""
    import numpy as np

    t = DTYPE_INFO[sym.dtype]
    flat = np.zeros(sym.chunks(lanes) * lanes, dtype=t.numpy)
    flat[:sym.elements] = np.asarray(array).reshape(-1)
    planes = flat.view(np.uint8).reshape(-1, lanes, t.bytes).transpose(0, 2, 1)
    planes = planes.reshape(-1, lanes)
    yield from enumerate(planes)


def symbol_from_words(sym: Symbol, words, lanes: int):
    """Rebuild a tensor from its words (an array of shape (symbol words, lanes) uint8)."""
    import numpy as np

    t = DTYPE_INFO[sym.dtype]
    planes = np.asarray(words, dtype=np.uint8).reshape(-1, t.bytes, lanes).transpose(0, 2, 1)
    flat = np.ascontiguousarray(planes).view(t.numpy).reshape(-1)
    return flat[:sym.elements].reshape(sym.shape).copy()
