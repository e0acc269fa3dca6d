"""Kernels on the golden model: bit-exact against numpy, cycles equal to the prediction."""

import importlib

import numpy as np
import pytest
from configs import TWO_LANES

from lpu.sw import reference, units
from lpu.sw.asm import assemble_text
from lpu.sw.config import TileConfig
from lpu.sw.golden import run_golden
from lpu.sw.kernels import KERNELS
from lpu.sw.kernels.builder import KernelError
from lpu.sw.schedule import schedule

CFG = TileConfig()


def run(text, inputs, outputs):
    prog = assemble_text("kernel.s", text)
    sched = schedule(prog)
    result = run_golden(sched.image, inputs, outputs)
    assert result.error is None, result.error
    assert result.cycles == sched.cycles, "golden cycles differ from the prediction"
    return result


def rand_i8(rng, shape, extremes=True):
    a = rng.integers(-128, 128, shape, dtype=np.int8)
    if extremes:  # make sure both int8 limits occur
        flat = a.reshape(-1)
        flat[rng.integers(0, flat.size, 3)] = -128
        flat[rng.integers(0, flat.size, 3)] = 127
    return a


@pytest.mark.parametrize(("k", "n"), [(16, 16), (32, 16), (16, 48), (64, 64), (48, 80),
                                      (128, 64), (96, 160)])
def test_gemv_bit_exact(k, n):
    rng = np.random.default_rng(k * 1000 + n)
    x, w = rand_i8(rng, k), rand_i8(rng, (k, n))
    r = run(KERNELS["gemv"].function(CFG, k, n), {"x": x, "w": w}, ["y"])
    np.testing.assert_array_equal(r.outputs["y"], reference.gemv(x, w))


def test_gemv_all_extremes():
    """Every product at its largest magnitude: -128 * -128 summed 64 times."""
    k = n = 64
    x = np.full(k, -128, np.int8)
    w = np.full((k, n), -128, np.int8)
    w[:, 1::2] = 127
    r = run(KERNELS["gemv"].function(CFG, k, n), {"x": x, "w": w}, ["y"])
    np.testing.assert_array_equal(r.outputs["y"], reference.gemv(x, w))
    assert r.outputs["y"][0] == 64 * 128 * 128


#: One MEM slice per side: both hemispheres store their blocks into the tile's only four bank
#: queues, each at its own words.
ONE_SLICE = TileConfig(lanes=4, streams=8, mem_slices=1, mem_words=1024, vxm_alus=3,
                       mxm_accumulators=2, mxm_act_slots=16, sxm_maps=2, queue_words=1024)
#: The iCEBreaker tile, MEM_E0 | MXM_E: its blocks come back to the MXM's own two bank queues,
#: each block emitted twice (two byte planes a time), on streams 0 to 3.
ICEBREAKER = TileConfig.named("icebreaker")
#: One hemisphere with two MEM slices per side: four bank queues store each block at once.
HALF = TileConfig(lanes=8, streams=4, mem_slices=2, mem_words=256, hemispheres=1, vxm_alus=1)


@pytest.mark.parametrize(("cfg", "k", "n"), [
    *(pytest.param(ONE_SLICE, k, n, id=f"one-slice-{k}x{n}") for k, n in
      [(16, 16), (32, 32), (16, 40)]),
    *(pytest.param(TWO_LANES, k, n, id=f"two-lanes-{k}x{n}") for k, n in
      [(2, 2), (8, 8), (16, 6), (128, 16)]),
    *(pytest.param(ICEBREAKER, k, n, id=f"icebreaker-{k}x{n}") for k, n in
      [(2, 2), (16, 16), (64, 6), (8, 40)]),
    *(pytest.param(HALF, k, n, id=f"half-{k}x{n}") for k, n in [(8, 8), (32, 16), (16, 40)])])
def test_gemv_small_tiles(cfg, k, n):
    rng = np.random.default_rng(k * 7 + n)
    x, w = rand_i8(rng, k), rand_i8(rng, (k, n))
    r = run(KERNELS["gemv"].function(cfg, k, n), {"x": x, "w": w}, ["y"])
    np.testing.assert_array_equal(r.outputs["y"], reference.gemv(x, w))


def test_gemv_abcb_waits_for_its_activation(monkeypatch):
    """Every ABCB issues after the LA of its slot. With two feeders on a 2-lane tile the
    weights outrun the x prologue; the generator once put an ABCB before its LA there, and the
    unloaded slot read zeros (no error, a wrong y)."""
    gemv_module = importlib.import_module("lpu.sw.kernels.gemv")  # the package's gemv is the function
    monkeypatch.setattr(gemv_module, "feeders",
                        lambda cfg, h: [(f"MEM_{h}0", 0), (f"MEM_{h}0", 1)])
    rng = np.random.default_rng(11)
    for k, n in [(4, 4), (2, 6), (16, 16)]:
        x, w = rand_i8(rng, k), rand_i8(rng, (k, n))
        r = run(KERNELS["gemv"].function(TWO_LANES, k, n), {"x": x, "w": w}, ["y"])
        np.testing.assert_array_equal(r.outputs["y"], reference.gemv(x, w))


@pytest.mark.parametrize(("cfg", "shift"), [pytest.param(ONE_SLICE, 9, id="one-slice"),
                                            pytest.param(TWO_LANES, 8, id="two-lanes")])
def test_ffn_small_tiles(cfg, shift):
    rng = np.random.default_rng(shift)
    d, f, mult = 16, 32, 1
    x, wg, wu, wd = (rand_i8(rng, s) for s in (d, (d, f), (d, f), (f, d)))
    r = run(KERNELS["ffn"].function(cfg, d, f, mult, shift),
            {"x": x, "w_gate": wg, "w_up": wu, "w_down": wd}, ["y"])
    np.testing.assert_array_equal(r.outputs["y"], reference.ffn(x, wg, wu, wd, mult, shift))


def test_ffn_two_lanes_needs_16_cycles_per_block():
    with pytest.raises(KernelError, match=r"--d >= 16 \(4 x lanes, at least 16\)"):
        KERNELS["ffn"].function(TWO_LANES, 8, 32, 1, 8)


@pytest.mark.parametrize("seed", range(3))
def test_ffn_bit_exact_and_near_float(seed):
    rng = np.random.default_rng(seed)
    d, f, mult, shift = 64, 128, 1, 11
    x = rand_i8(rng, d)
    wg, wu = rand_i8(rng, (d, f)), rand_i8(rng, (d, f))
    wd = rand_i8(rng, (f, d))
    r = run(KERNELS["ffn"].function(CFG, d, f, mult, shift),
            {"x": x, "w_gate": wg, "w_up": wu, "w_down": wd}, ["y", "h"])
    np.testing.assert_array_equal(r.outputs["h"],
                                  reference.swiglu_hidden(x, wg, wu, mult, shift))
    np.testing.assert_array_equal(r.outputs["y"], reference.ffn(x, wg, wu, wd, mult, shift))
    if not reference.saturates(x, wg, wu, mult, shift):
        err = np.abs(r.outputs["y"] - reference.ffn_float(x, wg, wu, wd, mult, shift))
        assert (err <= reference.ffn_error_bound(x, wg, wu, wd, mult, shift)).all()


@pytest.mark.parametrize(("d", "f"), [(64, 64), (96, 96), (64, 80)])
def test_ffn_short_hidden_layer(d, f):
    """With f close to d the down GEMV starts reading h while its last chunks are still being
    written; each READ of h must come after that chunk's WRITE (this once read stale h)."""
    rng = np.random.default_rng(d + f)
    x, wg, wu, wd = rand_i8(rng, d), rand_i8(rng, (d, f)), rand_i8(rng, (d, f)), \
        rand_i8(rng, (f, d))
    r = run(KERNELS["ffn"].function(CFG, d, f, 1, 10),
            {"x": x, "w_gate": wg, "w_up": wu, "w_down": wd}, ["y"])
    np.testing.assert_array_equal(r.outputs["y"], reference.ffn(x, wg, wu, wd, 1, 10))


def test_ffn_error_bound_can_fail():
    """Negative control: h off by half a Q3.4 unit, in the direction that matters for each
    output, breaks the bound."""
    rng = np.random.default_rng(7)
    d, f, mult, shift = 64, 128, 1, 11
    x, wg, wu, wd = rand_i8(rng, d), rand_i8(rng, (d, f)), rand_i8(rng, (d, f)), \
        rand_i8(rng, (f, d))
    h = reference.swiglu_hidden(x, wg, wu, mult, shift).astype(np.int64)
    bound = reference.ffn_error_bound(x, wg, wu, wd, mult, shift)
    y_float = reference.ffn_float(x, wg, wu, wd, mult, shift)
    wd64 = wd.astype(np.int64)
    wrong = h @ wd64 + 8 * np.abs(wd64).sum(axis=0)  # h_i + 8 * sign(wd_ij), for each j
    assert (np.abs(wrong - y_float) > bound).all()


@pytest.mark.parametrize("name", ["silu", "gelu"])
def test_activation_kernels_whole_int8_range(name):
    x = np.arange(-128, 128, dtype=np.int8)
    r = run(KERNELS[name].function(CFG, 256), {"x": x}, ["y"])
    table = units.silu_q34 if name == "silu" else units.gelu_q34
    np.testing.assert_array_equal(r.outputs["y"], table(x))


@pytest.mark.parametrize(("mult", "shift"), [(1, 0), (12345, 20), (-32768, 31), (32767, 40)])
def test_requant_kernel(mult, shift):
    rng = np.random.default_rng(shift)
    x = rng.integers(-2**31, 2**31, 64, dtype=np.int64).astype(np.int32)
    x[:4] = [-2**31, 2**31 - 1, 0, -1]
    r = run(KERNELS["requant"].function(CFG, 64, mult, shift), {"x": x}, ["y"])
    ref = np.clip((x.astype(np.int64) * mult + ((1 << (shift - 1)) if shift else 0)) >> shift,
                  -128, 127)
    np.testing.assert_array_equal(r.outputs["y"], ref)


@pytest.mark.parametrize(("name", "args", "phrase"), [
    ("gemv", {"k": 20, "n": 16}, "--k must be a positive multiple of the lane count (16)"),
    ("gemv", {"k": 16, "n": 0}, "--n must be a positive multiple"),
    ("gemv", {"k": 16 * 65, "n": 16}, "activation buffer slots"),
    ("gemv", {"k": 2048, "n": 2048}, "does not fit"),
    ("ffn", {"d": 32, "f": 64, "mult": 1, "shift": 8}, "--d >= 64 (4 x lanes"),
    ("requant", {"n": 16, "mult": 1 << 15, "shift": 0}, "--mult must be in"),
])
def test_kernel_parameter_errors(name, args, phrase):
    with pytest.raises(KernelError, match=phrase.replace("(", r"\(").replace(")", r"\)")):
        KERNELS[name].function(CFG, **args)


@pytest.mark.parametrize(("name", "args", "phrase"), [
    ("ffn", {"d": 16, "f": 16, "mult": 1, "shift": 8}, "ffn needs slices MXM_W, VXM; this tile "
     "has MEM_E0 | MXM_E"),
    ("silu", {"n": 16}, "silu needs slices MEM_W0, VXM"),
    ("gemv", {"k": 2 * 65, "n": 2}, "activation buffer slots"),
    ("gemv", {"k": 64, "n": 64}, "w, x and y take 2144 words of bank 0 of each MEM slice, "
     "which holds 512; at most --n 14 for --k 64"),
])
def test_kernels_on_the_icebreaker_tile(name, args, phrase):
    """A kernel names the slices the floorplan lacks; the GEMV's limits are the tile's."""
    with pytest.raises(KernelError, match=phrase.replace("|", r"\|")):
        KERNELS[name].function(ICEBREAKER, **args)


def test_gemv_streams_on_one_hemisphere():
    """Alone, an MXM needs its weight streams and x only: 4 feeders take 5 streams."""
    cfg = TileConfig(lanes=16, streams=4, mem_slices=2, hemispheres=1)
    with pytest.raises(KernelError, match=r"the GEMV needs 5 streams per direction \(4 for "
                       r"weights, 1 for x\); this tile has 4"):
        KERNELS["gemv"].function(cfg, 16, 16)
    with pytest.raises(KernelError, match="the GEMV stages need 8 streams"):
        KERNELS["gemv"].function(TileConfig(streams=4), 16, 16)


def test_bench_gemv_table_reports_what_does_not_fit():
    """``make bench``'s GEMV rows: a fitting size is bit-exact; a GEMV too large for the MEM
    or for an instruction queue is a row saying so, not a traceback."""
    from lpu.sw.bench import gemv_table

    rows = gemv_table(ICEBREAKER, [(16, 16), (16, 56), (64, 64)])
    cells = [c.strip() for c in rows[2].split("|")[1:-1]]
    assert cells[:2] == ["16", "16"] and cells[2] == cells[3] and cells[4:7:2] == ["64", "yes"]
    assert "does not fit" in rows[3] and "queue MXM_E.ACT holds 512" in rows[3]
    assert "--n 64 does not fit: w, x and y take 2144 words" in rows[4]


def test_bench_sizes_option(capsys):
    """``python -m lpu.sw.bench --config icebreaker --sizes 16x16``: one row; a malformed size
    list is a usage error."""
    from lpu.sw import bench

    assert bench.main(["--config", "icebreaker", "--sizes", "16x16"]) == 0
    rows = [r for r in capsys.readouterr().out.splitlines() if r.startswith("| 16 ")]
    assert len(rows) == 1 and "| yes |" in rows[0]
    for bad in ("16by16", "16x0", "16x16x2", ""):
        with pytest.raises(SystemExit) as stop:
            bench.main(["--sizes", bad])
        assert stop.value.code == 2
        assert "sizes are K x N pairs" in capsys.readouterr().err


def test_kernel_listing_names_every_kernel():
    """``lpu kernel --help`` lists every kernel with its arguments, from its KernelSpec."""
    from lpu.sw.kernels import SYSTEM_ONLY, listing

    text = listing()
    for spec in (*KERNELS.values(), *SYSTEM_ONLY.values()):
        assert f"  {spec.name:<8} {spec.usage()}\n           {spec.doc}" in text
    assert KERNELS["gemv"].usage() == "--k N --n N [--tiles N [--ppm P]]"
    assert SYSTEM_ONLY["pingpong"].usage() == "--rounds N [--tiles N] [--ppm P]"
    assert KERNELS["silu"].usage() == "--n N"
