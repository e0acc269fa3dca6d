"""``make bench``, C2C part: the link between tiles on the Verilator model of a star of tiles.

* **Latency**: a leaf SENDs one vector in schedule cycle s, the root RECVs it in s + d. For
  every d the program runs once (tiles started on one HAC epoch); the smallest d whose RECV
  finds the vector is the link latency, SEND issue to RECV, compared with
  ``delivery_bound``, the latency the golden model and the kernels assume.
* **Bandwidth**: a leaf SENDs ``VECTORS`` vectors back to back, one per frame (the most the
  link takes), the root RECVs every one on its scheduled cycle and stores it; payload
  achieved against the link's raw bits per cycle.
* **Alignment**: per clock set, cycles to bring the links up and the range of every child's
  HAC offset from the root's over ``--watch`` root cycles.
* **Deskew share**: the ping-pong on four tiles at each clock set, its first SEND late enough
  that every clock set re-aligns: each tile's frozen cycles (RUNTIME_DESKEW) as a share of its
  cycles, RTL and golden.
* **Size**: the HAC and one link port (``LinkEnd``) on ECP5 and iCE40, from Yosys.
"""

from __future__ import annotations

import argparse

import numpy as np

from ..sw.backends import system_jobs, system_results
from ..sw.c2c import delivery_bound, link_format
from ..sw.config import TileConfig
from ..sw.kernels.multitile import assemble_system, deskew_plan
from ..sw.kernels.pingpong import pingpong
from ..sw.system import Part, SystemSymbol, run_system_golden, star_links
from .rtl_system import SystemJob, model_tiles, run_system_jobs

CONFIG = "small"
VECTORS = 64
SEND_AT = 15  # the leaf's first SEND (READ at MEM_W0 in cycle 10, 5 positions to C2C_W)
TO_MEM = 4  # RECV at C2C_E in cycle r: its vector reaches MEM_E1 in r + 4
CLOCK_SETS = {"0 ppm": [0, 0, 0, 0], "±100 ppm": [0, 100, -100, 100],
              "±1000 ppm": [0, 1000, -1000, 1000], "±1 %": [0, 10_000, -10_000, 10_000]}


def _header(cfg: TileConfig) -> str:
    return cfg.directive() + "\n"


def transfer(cfg: TileConfig, vectors: int, delay: int):
    """Leaf (tile 1) SENDs ``vectors`` vectors of ``v``, one per frame; the root RECVs each
    ``delay`` cycles after its SEND and writes it to ``out``."""
    frame = link_format(cfg).frame_words
    leaf = [_header(cfg), f".data v i8[{vectors},{cfg.lanes}] MEM_W0:0x0\n", ".queue MEM_W0.0\n"]
    leaf += [f"@{SEND_AT - 5 + i * frame} READ {i}, W7\n" for i in range(vectors)]
    leaf += [".queue C2C_W\n"] + [f"@{SEND_AT + i * frame} SEND W7, 0\n" for i in range(vectors)]
    root = [_header(cfg), f".data out i8[{vectors},{cfg.lanes}] MEM_E1:0x0\n", ".queue C2C_E\n"]
    root += [f"@{SEND_AT + delay + i * frame} RECV 0, W7\n" for i in range(vectors)]
    root += [".queue MEM_E1.0\n"]
    root += [f"@{SEND_AT + delay + TO_MEM + i * frame} WRITE {i}, W7\n" for i in range(vectors)]
    symbols = {"v": SystemSymbol("v", "i8", (vectors, cfg.lanes), (Part(1, "v"),)),
               "out": SystemSymbol("out", "i8", (vectors, cfg.lanes), (Part(0, "out"),))}
    return assemble_system(cfg, ["".join(root), "".join(leaf)], symbols, "transfer")


def latency_and_bandwidth(cfg: TileConfig, ppm: list[float]) -> list[str]:
    tiles = model_tiles(cfg)
    rng = np.random.default_rng(0)
    bound = delivery_bound(cfg)
    delays = list(range(4, bound + 3))
    cases = []
    for d in delays:
        v = rng.integers(-128, 128, (1, cfg.lanes), dtype=np.int8)
        cases.append((transfer(cfg, 1, d), {"v": v}))
    stream = rng.integers(-128, 128, (VECTORS, cfg.lanes), dtype=np.int8)
    cases.append((transfer(cfg, VECTORS, bound + 2), {"v": stream}))
    jobs = [SystemJob(system_jobs(s, i, ["out"], tiles, 100_000)) for s, i in cases]
    run = run_system_jobs(cfg, tiles, star_links(tiles, cfg), ppm, jobs)
    ok = []
    for (system, inputs), results in zip(cases, run.jobs, strict=True):
        tiles_out = system_results(system, ["out"], results)
        good = all(t.error is None for t in tiles_out) and np.array_equal(
            system.gather(["out"], [t.outputs for t in tiles_out])["out"], inputs["v"])
        ok.append(good)
    first = next((d for d, g in zip(delays, ok, strict=False) if g), None)
    holds = all(ok[delays.index(d)] for d in delays if first is not None and d >= first)
    f = link_format(cfg)
    stream_ok = ok[-1]
    wire_cycles = VECTORS * f.frame_words  # each frame holds the wire for F cycles
    payload = 8 * cfg.lanes * VECTORS / wire_cycles
    return [
        f"| {', '.join(f'{p:+g}' for p in ppm[:2])} | {first} | {'yes' if holds else 'NO'} | "
        f"{bound} | {VECTORS} vectors in {wire_cycles} wire cycles, "
        f"{'all' if stream_ok else 'NOT all'} delivered on schedule: one per {f.frame_words}-cycle "
        f"frame, the peak | {payload:.1f} of {f.link_bits} ({100 * payload / f.link_bits:.0f} %; "
        f"the rest is header and CRC) |"]


def per_clock_set(cfg: TileConfig, rounds: int, lead: int,
                  watch: int) -> tuple[list[str], list[str]]:
    """Per clock set, one simulator run: bring-up, the HAC offset monitor over ``watch`` root
    cycles, then the ping-pong on four tiles with its first SEND ``lead`` cycles in (long
    enough for RUNTIME_DESKEWs at every clock set). Returns the alignment and deskew rows."""
    tiles = model_tiles(cfg)
    a = np.random.default_rng(1).integers(-128, 128, (rounds, cfg.lanes), dtype=np.int8)
    expect = (a.astype(np.int16) + (1 + np.arange(rounds) % 3)[:, None]).astype(np.int8)
    align, deskew = [], []
    for label, ppm in CLOCK_SETS.items():
        worst = max(abs(p) for p in ppm)
        system = pingpong(cfg, rounds, 4, worst, start=lead)
        inputs = {"a": a}
        run = run_system_jobs(cfg, tiles, star_links(tiles, cfg), ppm,
                              [SystemJob([], idle_cycles=watch),
                               SystemJob(system_jobs(system, inputs, ["out"], tiles, 100_000))])
        offsets = run.offsets[0]
        low, high = min(o[0] for o in offsets), max(o[1] for o in offsets)
        trims = [port["trims"] for tile in run.links[1] for port in tile if port["trims"]]
        align.append(f"| {label} | {run.bringup_cycles} | {low:+d} .. {high:+d} | "
                     f"{run.samples[0]:,} | {', '.join(map(str, trims)) or '0'} |")
        got = system_results(system, ["out"], run.jobs[1])
        gold = run_system_golden(system, inputs, ["out"], ppm)
        exact = all(t.error is None for t in got) and np.array_equal(
            system.gather(["out"], [t.outputs for t in got])["out"], expect)
        same = all(r.cycles - r.frozen == g.cycles - g.frozen
                   for r, g in zip(got, gold.tiles, strict=True))
        plan = deskew_plan(worst)
        every = f"{plan.t} every {plan.period}" if plan.period else "none"
        share = ", ".join(f"{100 * t.frozen / t.cycles:.2f} %" for t in got)
        gshare = ", ".join(f"{100 * t.frozen / t.cycles:.2f} %" for t in gold.tiles)
        deskew.append(f"| {label} | {every} | {got[0].cycles} | {'yes' if exact else 'NO'} | "
                      f"{'yes' if same else 'NO'} | {share} | {gshare} |")
    return align, deskew


def sizes(config: str) -> list[str]:
    from lpu.hw.verilog import write_verilog

    from ..hw.catalog import unit_factories
    from ..hw.synth import synthesize

    units = unit_factories(TileConfig.named(config))
    rows = []
    for unit in ("hac", "c2c_link_end", "c2c_port"):
        top = f"{unit}_{config}"
        path = write_verilog(units[unit](), top)
        for family in ("ecp5", "ice40"):
            r = synthesize(path, top, family)
            rows.append(f"| {unit} | {family} | {r['LUT']} | {r['FF']} |")
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lpu.verif.bench_c2c", description=__doc__)
    ap.add_argument("--rounds", type=int, default=64)
    ap.add_argument("--lead", type=int, default=4000,
                    help="schedule cycle of the ping-pong's first SEND")
    ap.add_argument("--watch", type=int, default=100_000,
                    help="root cycles the HAC offset monitor watches per clock set")
    args = ap.parse_args(argv)
    cfg = TileConfig.named(CONFIG)
    f = link_format(cfg)
    print(f"\n## C2C links (`{CONFIG}` tile: {cfg.lanes}-byte vectors on {f.link_bits}-bit "
          f"link words, {f.frame_words}-word frames, HAC epoch {cfg.hac_epoch})\n")
    print("| clocks (root, leaf ppm) | latency: first RECV delay that finds the vector "
          "(cycles) | every longer delay too | delivery_bound | back-to-back stream | "
          "payload bits per wire cycle, of the link's raw bits |")
    print("|---|---:|:---:|---:|---|---:|")
    for ppm in ([0, 0, 0, 0], [0, 1000, -1000, 1000], [0, -10_000, 10_000, -10_000]):
        for row in latency_and_bandwidth(cfg, ppm):
            print(row, flush=True)
    align, deskew = per_clock_set(cfg, args.rounds, args.lead, args.watch)
    print("\nHAC alignment, four tiles (root, then three children):\n")
    print("| clocks (children vs root) | bring-up (root cycles, polled every half epoch) | HAC offset, child - root, "
          "at every root clock edge | root cycles watched | trims per child |")
    print("|---|---:|:---:|---:|---|")
    print("\n".join(align))
    print(f"\nPing-pong, {args.rounds} rounds on 4 tiles, first SEND at cycle {args.lead} "
          "(RUNTIME_DESKEW from the clock set's worst ppm):\n")
    print("| clocks | RUNTIME_DESKEW | root cycles | bit-exact | schedule cycles == golden | "
          "frozen share per tile (RTL) | frozen share (golden) |")
    print("|---|---|---:|:---:|:---:|---|---|")
    print("\n".join(deskew), flush=True)
    print("\nSize (Yosys, before place and route):\n")
    print("| block | arch | LUT | FF |")
    print("|---|---|---:|---:|")
    for row in sizes(CONFIG):
        print(row, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
