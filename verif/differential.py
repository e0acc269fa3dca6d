"""Differential fuzzing: random programs (``lpu.verif.fuzz``) on the golden model and the RTL.

For every seed both run the same lowered program from the same MEM image; they must agree on
the final contents of every MEM bank (all words), on whether the tile stopped with an error,
on the wall cycle it stopped in, on each queue's busy cycles, and (for valid programs) on the
cycle count the assembler predicted. On an error the RTL's error sources must include the
queue, unit or stream position the golden model blames.

``python -m lpu.verif.differential --seed N [--count M] [--config small]`` replays seeds; a
failing seed prints exactly that command.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import numpy as np

from ..sw import hostmap as hm
from ..sw.config import PRESETS
from ..sw.golden import GoldenTile
from ..sw.hostmap import ErrorSource, HostMap
from .fuzz import FuzzCase, generate


@dataclass
class Outcome:
    """What one seed did on both sides, and how they differ (empty ``problems``: agreement)."""

    case: FuzzCase
    golden_cycles: int
    rtl_cycles: int
    golden_error: str | None
    rtl_errors: list[str]
    problems: list[str]

    @property
    def replay(self) -> str:
        cfg, seed = self.case.config, self.case.seed
        name = next((n for n, c in PRESETS.items() if c == cfg), None)
        if name is None:  # the command line takes presets only
            return f"lpu.verif.differential.run_seeds([{seed}], {cfg!r})"
        return f"python -m lpu.verif.differential --seed {seed} --config {name}"


def golden_run(case: FuzzCase) -> GoldenTile:
    tile = GoldenTile(case.program)
    tile.run(max_cycles=1_000_000)
    return tile


def all_mem_reads(hmap: HostMap) -> list[int]:
    """Host address of every word of every MEM bank."""
    words = hmap.config.mem_words
    return [hmap.bank_base(sl, b) + i for sl, b in hmap.banks for i in range(words)]


def blamed_sources(golden_queue: str, hmap: HostMap) -> set[str]:
    """RTL error sources that agree with a golden error attributed to ``golden_queue``: the
    queue, its MXM, any position's stream registers (golden blames the queue of a second
    producer, the RTL the position where they meet) and a deadlock."""
    q = hmap.config.queue_by_name.get(golden_queue)

    def agrees(s: ErrorSource) -> bool:
        if s.kind == "deadlock":
            return True
        if q is None:
            return False
        return (s.kind == "streams" or (s.kind == "queue" and s.name == q.name)
                or (s.kind == "unit" and s.slice == q.slice.name))

    return {s.name for s in hmap.error_source_objects if agrees(s)}


def compare(case: FuzzCase, tile: GoldenTile, res, hmap: HostMap) -> Outcome:
    cfg = case.config
    problems = []
    g_err = tile.error
    if res.timeout:
        problems.append(f"RTL did not finish within {res.cycles} cycles")
    rtl_err = bool(res.status & hm.STATUS_ERROR)
    if bool(g_err) != rtl_err:
        rtl_says = f"raised its error flag: {', '.join(res.errors)}" if rtl_err else "finished"
        problems.append(f"golden {'stopped: ' + str(g_err) if g_err else 'finished'}, "
                        f"RTL {rtl_says}")
    elif g_err and not set(res.errors) & blamed_sources(g_err.queue, hmap):
        problems.append(f"golden blames {g_err.queue} ({g_err.message}); RTL error sources: "
                        f"{', '.join(res.errors) or 'none'}")
    if tile.wall_cycles != res.cycles:
        problems.append(f"cycles: golden {tile.wall_cycles}, RTL {res.cycles}")
    if not g_err and case.predicted != tile.wall_cycles:
        problems.append(f"cycles: predicted {case.predicted}, golden {tile.wall_cycles}")
    busy = dict(zip((q.name for q in cfg.queues), res.busy, strict=True))
    wrong = [f"{n} golden {tile.busy[n]} RTL {busy[n]}" for n in tile.busy
             if tile.busy[n] != busy[n]]
    if wrong:
        problems.append("busy cycles: " + "; ".join(wrong))
    for sl, bank in hmap.banks:
        base = hmap.bank_base(sl, bank)
        gold = tile.mem[sl][bank * cfg.mem_words:(bank + 1) * cfg.mem_words]
        rtl = np.array([hmap.word_vector(res.words[base + i]) for i in range(cfg.mem_words)])
        diff = np.argwhere((gold != rtl).any(axis=1)).ravel()
        if len(diff):
            a = int(diff[0])
            problems.append(f"MEM {sl} bank {bank}: {len(diff)} words differ, first at word "
                            f"{bank * cfg.mem_words + a:#x}: golden {gold[a].tolist()} RTL "
                            f"{rtl[a].tolist()}")
    return Outcome(case, tile.wall_cycles, res.cycles, str(g_err) if g_err else None,
                   res.errors, problems)


def run_seeds(seeds, config="small", fault: str | None = None, verbose: bool = True,
              batch: int = 100) -> list[Outcome]:
    """Fuzz ``seeds`` on golden and RTL (one simulator process per ``batch`` programs)."""
    from ..sw.backends import rtl_job
    from .rtl_tile import run_jobs

    seeds = list(seeds)
    outcomes = []
    for start in range(0, len(seeds), batch):
        chunk = seeds[start:start + batch]
        t0 = time.monotonic()
        cases = [generate(s, config) for s in chunk]
        hmap = HostMap(cases[0].config)
        reads = all_mem_reads(hmap)
        tiles = [golden_run(c) for c in cases]
        jobs = [rtl_job(c.program, {}, reads,
                        max_cycles=4 * max(t.wall_cycles, c.predicted) + 1000)
                for c, t in zip(cases, tiles, strict=True)]
        results = run_jobs(cases[0].config, jobs, fault=fault, verbose=verbose)
        for c, t, r in zip(cases, tiles, results, strict=True):
            outcomes.append(compare(c, t, r, hmap))
        if verbose:
            bad = sum(1 for o in outcomes if o.problems)
            print(f"fuzz: {len(outcomes)}/{len(seeds)} programs, {bad} mismatches "
                  f"({time.monotonic() - t0:.0f} s for the last {len(chunk)})", file=sys.stderr)
    return outcomes


def report(outcomes: list[Outcome]) -> str:
    lines = []
    for o in outcomes:
        if o.problems:
            lines.append(f"seed {o.case.seed} ({o.case.mutation or 'valid'}): "
                         + " | ".join(o.problems) + f"\n  replay: {o.replay}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m lpu.verif.differential",
                                description="fuzz programs on the golden model and the RTL")
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument("--count", type=int, default=1, help="number of consecutive seeds")
    p.add_argument("--config", default="small", help="tile preset")
    p.add_argument("--fault", default=None, help="plant a fault in this unit (negative control)")
    args = p.parse_args(argv)
    outcomes = run_seeds(range(args.seed, args.seed + args.count), args.config, args.fault)
    text = report(outcomes)
    invalid = sum(1 for o in outcomes if o.case.expect_error)
    print(f"{len(outcomes)} programs ({invalid} with a planted misuse): "
          f"{sum(1 for o in outcomes if o.problems)} mismatches")
    if text:
        print(text)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
