"""Seeded random programs for differential fuzzing: the golden model against the RTL.

``generate(seed)`` builds one program cycle by cycle (``generator``): the generator keeps its
own model of the tile's timing (``model``: which stream register holds a value at which
position and cycle, which register writes are claimed, each MEM bank's read and write cycles,
each queue's busy cycles) and only places an instruction that fits it, so the assembler and the
golden model accept the result as it is. Every instruction carries an ``@N`` issue cycle.

A program touches at most ``DATA_WORDS + TABLE_WORDS`` words at the bottom of each MEM bank
(``model``'s docstring has the layout).

``generate(seed, invalid=True)`` takes the valid program and mutates its lowered queues (or its
MEM image) so that the golden model stops with a run-time error (``mutations``).

This package uses numpy and ``lpu.sw`` only (no cocotb, no Amaranth), so tests and the RTL
harness can both import it. ``python -m lpu.verif.fuzz --seed N [--config small] [--print]``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

from lpu.sw.asm import assemble_text
from lpu.sw.config import TileConfig
from lpu.sw.errors import LpuError
from lpu.sw.program import LoweredProgram
from lpu.sw.schedule import schedule

from .generator import generate_program
from .model import DATA_WORDS, TABLE_WORDS
from .mutations import MUTATIONS, mutate

__all__ = ["DATA_WORDS", "MUTATIONS", "TABLE_WORDS", "FuzzCase", "generate", "main"]


@dataclass
class FuzzCase:
    """One generated program, ready for the golden model and the RTL."""

    seed: int
    config: TileConfig
    source: str  # assembly text (assembles with assemble_text)
    program: LoweredProgram  # scheduled and lowered (for an invalid case: lowered, then mutated)
    predicted: int  # schedule(program).cycles; -1 for an invalid case
    expect_error: bool
    attempts: int = 1  # generator runs needed (1 unless a sub-seed retry happened)
    mutation: str | None = None  # the MUTATIONS kind of an invalid case


def generate(seed: int, config: TileConfig | str = "small", invalid: bool | None = None,
             length: float = 1.0) -> FuzzCase:
    """One random program for `seed`: valid (assembles, schedules, runs to done on the golden
    model in the predicted cycles), or with invalid=True one mutated to stop with a run-time
    error. invalid=None makes about one seed in eight invalid. `length` scales the issue window
    and the instruction budget (1.0: about 30-150 cycles, 20-150 instructions on `small`).
    Deterministic in its arguments."""
    cfg = TileConfig.named(config) if isinstance(config, str) else config
    if invalid is None:
        invalid = seed % 8 == 5
    attempts = 0
    for sub in range(4):
        attempts += 1
        rng = np.random.default_rng(seed if sub == 0 else [seed, sub])
        try:
            generated = generate_program(seed, cfg, rng, length)
            sched = schedule(assemble_text(f"fuzz{seed}.s", generated.source))
        except LpuError:
            continue  # a generator bug; tests/test_fuzz_golden.py requires attempts == 1
        break
    else:
        raise AssertionError(f"seed {seed}: no generated program assembles")
    prog = sched.image
    text = generated.source
    if not invalid:
        return FuzzCase(seed, cfg, text, prog, sched.cycles, False, attempts)
    halts = {name: stats.end for name, stats in sched.queues.items()}
    first = MUTATIONS[(seed + seed // 8) % len(MUTATIONS)]
    kind, what, mutated = mutate(generated, prog, halts, rng, first)
    note = f"; invalid ({kind}, applied to the lowered program, not this text): {what}\n"
    return FuzzCase(seed, cfg, text + note, mutated, -1, True, attempts, kind)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lpu.verif.fuzz",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--config", default="small")
    ap.add_argument("--invalid", action="store_true", help="a mutated case that must stop")
    ap.add_argument("--print", action="store_true", help="print the program source")
    args = ap.parse_args(argv)
    case = generate(args.seed, args.config, invalid=args.invalid or None)
    if args.print:
        print(case.source, end="")
    else:
        lines = [ln for ln in case.source.splitlines() if ln.startswith(("@", "    REPEAT"))]
        what = f"invalid: {case.mutation}" if case.expect_error else \
            f"predicted {case.predicted} cycles"
        print(f"seed {case.seed}, {args.config}: {len(lines)} instructions, {what}")
    return 0
