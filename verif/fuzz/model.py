"""The fuzz generator's model of the tile's timing, shared by the generator and the mutator.

``StreamModel`` records which stream register holds a value at which position and cycle (the
writes claimed so far) and answers what a queue finds at its input in a cycle; ``QueueState``
records a queue's MEM bank read and write cycles and its plans. ``fits`` checks one issue
against both, ``claim`` records it. ``GeneratedProgram`` is what the generator hands the
mutator when it is done.

MEM layout, per bank ``b`` of every MEM slice (``W`` = ``mem_words``): words
``b*W .. b*W + DATA_WORDS - 1`` hold random data and are the only words a WRITE or SCATTER
touches; the next ``TABLE_WORDS`` words hold address tables (never written).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from lpu.sw.isa import E, Instr, W, stream_dir, stream_group, stream_index, stream_width

DATA_WORDS = 16  # per bank: random data, the target of WRITE/SCATTER and GATHER addresses
TABLE_WORDS = 8  # per bank, after the data words: GATHER/SCATTER address tables


@dataclass(eq=False)
class Value:
    """One byte plane written to a stream register, as the generator tracks it."""

    tag: tuple[str, int] | None = None  # ("lo" | "hi", bank): a GATHER/SCATTER address plane
    calc: bool = False  # computed by a unit, so worth storing back to MEM
    stored: bool = False


@dataclass
class Issue:
    """A placed unit instruction (repetitions included), for the mutator."""

    queue: str
    cycle: int
    instr: Instr
    values: dict
    base: bool  # the instruction itself, not a REPEAT repetition


@dataclass
class QueueState:
    """One queue as the generator fills it."""

    name: str
    unit: str
    pos: int
    slice: str
    bank: int | None
    free: int = 0  # first cycle the queue may start something new
    # cycle -> ("fixed", instr, values) or ("consume", (dir, base, width)): what it issues then
    plans: dict = field(default_factory=dict)
    lines: list = field(default_factory=list)
    bank_reads: set = field(default_factory=set)
    bank_writes: set = field(default_factory=set)

    def plan_free(self, first: int, last: int) -> bool:
        return not any(c in self.plans for c in range(first, last + 1))


class AddressPlan(NamedTuple):
    """A planned GATHER or SCATTER and the two address-table words its READs fetch."""

    queue: str
    cycle: int
    lo: tuple[str, int]  # (MEM slice, word address) of the low address plane
    hi: tuple[str, int]


def pick(rng: np.random.Generator, options: list, weights=None):
    """One of `options` (None if there are none), at random or by relative `weights`."""
    if not options:
        return None
    if weights is None:
        return options[int(rng.integers(len(options)))]
    w = np.asarray(weights, float)
    return options[int(rng.choice(len(options), p=w / w.sum()))]


class StreamModel:
    """The stream registers' values as claimed so far, keyed (dir, position, stream, cycle):
    a value written by an issue in cycle t with latency d is in its slice's register at the end
    of cycle t + d and moves one position per cycle in its direction."""

    def __init__(self, positions: int, streams: int):
        self.P, self.S = positions, streams
        self.cells: dict[tuple[int, int, int, int], Value] = {}  # (dir, pos, stream, end cycle)
        self.reserved: set[tuple[int, int, int, int]] = set()  # cells a planned value crosses
        self._vis_cache: dict[tuple[int, bool, int], tuple[dict, set]] = {}

    def value_at(self, q: QueueState, c: int, d: int, s: int) -> Value | None:
        """The value on stream (d, s) at q's input in cycle c, from the writes claimed so far."""
        if q.unit == "VXM":
            v = self.cells.get((d, q.pos, s, c - 1))  # chaining: an ALU result, the cycle after
            if v is not None:
                return v
        step = -1 if d == E else 1
        p, t = q.pos + step, c - 1
        while 0 <= p < self.P and t >= 0:
            v = self.cells.get((d, p, s, t))
            if v is not None:
                return v
            p, t = p + step, t - 1
        return None

    def visible(self, q: QueueState, t: int) -> tuple[dict, set]:
        """Every valid stream at q's input in cycle t and which of them are chained VXM results.
        Writes placed in cycle t land at its end or later, so this is final once t starts."""
        key = (q.pos, q.unit == "VXM", t)
        if key not in self._vis_cache:
            vis, fresh = {}, set()
            for d in (E, W):
                for s in range(self.S):
                    v = self.value_at(q, t, d, s)
                    if v is not None:
                        vis[(d, s)] = v
                        if q.unit == "VXM" and (d, q.pos, s, t - 1) in self.cells:
                            fresh.add((d, s))
            self._vis_cache[key] = (vis, fresh)
        return self._vis_cache[key]

    def groups(self, vis: dict, width: int) -> list[tuple[int, int]]:
        """Aligned groups of `width` streams that all hold a value."""
        return [(d, b) for d in (E, W) for b in range(0, self.S - width + 1, width)
                if all((d, b + j) in vis for j in range(width))]

    def cell_free(self, key) -> bool:
        return key not in self.cells and key not in self.reserved

    def free_groups(self, q: QueueState, when: int, width: int) -> list[tuple[int, int]]:
        """Aligned groups of `width` streams q may write to land at the end of cycle `when`."""
        out = []
        for d in (E, W):
            if (d == E and q.pos == self.P - 1) or (d == W and q.pos == 0):
                continue  # the value would leave the tile at once
            for b in range(0, self.S - width + 1, width):
                if all(self.cell_free((d, q.pos, b + j, when)) for j in range(width)):
                    out.append((d, b))
        return out

    def fits(self, q: QueueState, instr: Instr, v: dict, c: int) -> bool:
        """Would (instr, v) issued by q in cycle c read valid operands and clash with nothing?"""
        for name, spec in instr.reads:
            for d, s in stream_group(v[name], stream_width(instr, v, spec)):
                if self.value_at(q, c, d, s) is None:
                    return False
        when = c + instr.latency
        for name, spec in instr.writes:
            for d, s in stream_group(v[name], stream_width(instr, v, spec)):
                if not self.cell_free((d, q.pos, s, when)):
                    return False
        if instr.bank == "read" and c in q.bank_writes:
            return False
        return not (instr.bank == "write" and c + 1 in q.bank_reads)

    def claim(self, q: QueueState, instr: Instr, v: dict, c: int,
              tag: tuple[str, int] | None) -> None:
        """Record the bank cycle and the stream writes of (instr, v) issued by q in cycle c; the
        values it stores to MEM are marked stored, the values it writes carry `tag`."""
        name = instr.mnemonic
        if instr.bank == "read":
            q.bank_reads.add(c)
        elif instr.bank == "write":
            q.bank_writes.add(c + 1)
        for rname, _spec in instr.reads:
            if name in ("WRITE", "SCATTER") and rname != "m":
                val = self.value_at(q, c, stream_dir(v[rname]), stream_index(v[rname]))
                val.stored = True
        when = c + instr.latency
        for wname, spec in instr.writes:
            for d, s in stream_group(v[wname], stream_width(instr, v, spec)):
                self.cells[(d, q.pos, s, when)] = Value(tag=tag, calc=name != "READ")


@dataclass(frozen=True)
class GeneratedProgram:
    """What the generator built, as the mutator needs it: the source, every queue's final
    state, every unit issue, the NOTIFY cycles, the planned GATHER/SCATTERs and the stream
    model holding every value the program puts on a stream."""

    source: str
    queues: tuple[QueueState, ...]
    issues: tuple[Issue, ...]
    notifies: tuple[int, ...]
    address_plans: tuple[AddressPlan, ...]
    model: StreamModel

    def queue(self, name: str) -> QueueState:
        return next(q for q in self.queues if q.name == name)
