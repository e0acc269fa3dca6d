"""Kernel generators take every latency from the ISA table (issue 19, item 4).

A unit pipeline made deeper by editing ``sw/isa.py`` alone must leave every kernel exact: the
test replaces table entries with deeper copies, regenerates each kernel, and checks that it
schedules without a conflict and runs bit-exact on the golden model with cycles as predicted.
The golden model and the scheduler read every latency from the table too; a negative control
shows that a generator which ignores the table (a hard-coded latency) fails these runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib

import numpy as np
import pytest
from configs import TWO_LANES

from lpu.sw import isa, reference, units
from lpu.sw.asm import assemble_text
from lpu.sw.config import TileConfig
from lpu.sw.golden import run_golden
from lpu.sw.kernels import KERNELS
from lpu.sw.kernels.ffn import least_d
from lpu.sw.kernels.gemv_split import split_gemv, split_gemv_sources
from lpu.sw.kernels.pingpong import pingpong, pingpong_sources
from lpu.sw.schedule import schedule
from lpu.sw.system import run_system_golden

SMALL = TileConfig.named("small")
ICEBREAKER = TileConfig.named("icebreaker")
ULX3S = TileConfig.named("ulx3s")


def pipelined(unit: str) -> list[str]:
    """Every instruction of ``unit`` with a result on a stream: the ones a deeper pipeline
    delays."""
    return [i.mnemonic for i in isa.INSTRUCTIONS if i.unit == unit and i.writes]


#: Deepened by a table edit alone: (name, mnemonics). ABC and ABCB land later with them.
DEEPENABLE = [("VXM", pipelined("VXM")), ("SXM", pipelined("SXM")), ("MXM ABC", ["ABC", "ABCB"]),
              ("MEM", ["READ", "WRITE", "GATHER", "SCATTER"]), ("MXM ACC", ["ACC"]),
              ("C2C RECV", ["RECV"]), ("MXM loads", ["LW", "LA"])]
ALL_DEEPENABLE = [m for _, ms in DEEPENABLE for m in ms]


def deepen(monkeypatch, mnemonics: list[str], extra: int) -> None:
    """Replace each instruction in every lookup of the ISA table by a copy ``extra`` cycles
    deeper (its ``lands`` too, when it has one). The assembler looks up BY_MNEMONIC, a decoded
    image BY_OPCODE; the scheduler and the golden model read the Instr each item carries."""
    for name in mnemonics:
        old = isa.BY_MNEMONIC[name]
        new = dataclasses.replace(old, latency=old.latency + extra,
                                  lands=None if old.lands is None else old.lands + extra)
        monkeypatch.setitem(isa.BY_MNEMONIC, name, new)
        monkeypatch.setitem(isa.BY_OPCODE, new.opcode, new)
    monkeypatch.setattr(isa, "INSTRUCTIONS",
                        tuple(isa.BY_MNEMONIC[i.mnemonic] for i in isa.INSTRUCTIONS))


def rand_i8(rng, shape):
    return rng.integers(-128, 128, shape, dtype=np.int8)


def run_tile(text: str, inputs: dict, outputs: list[str]) -> dict:
    """Assemble, schedule (raises on a conflict) and run on golden: exact and as predicted."""
    sched = schedule(assemble_text("kernel.s", text))
    result = run_golden(sched.image, inputs, outputs)
    assert result.error is None, result.error
    assert result.cycles == sched.cycles, "golden cycles differ from the prediction"
    return result.outputs


def run_system(img, inputs: dict, outputs: list[str], ppm: list[float]) -> dict:
    res = run_system_golden(img, inputs, outputs, ppm)
    assert res.error is None, res.error
    for i, (r, prog) in enumerate(zip(res.tiles, img.programs, strict=True)):
        s = schedule(prog)
        assert r.cycles - r.frozen == s.end, f"tile {i}: cycles differ from the prediction"
        if not any(ppm):
            assert (r.cycles, r.frozen) == (s.cycles, s.frozen)
    return res.outputs


def check_gemv(cfg, k, n):
    rng = np.random.default_rng(k + n)
    x, w = rand_i8(rng, k), rand_i8(rng, (k, n))
    y = run_tile(KERNELS["gemv"].function(cfg, k, n), {"x": x, "w": w}, ["y"])["y"]
    np.testing.assert_array_equal(y, reference.gemv(x, w))


def check_ffn(cfg, f):
    d = -(-least_d(cfg) // cfg.lanes) * cfg.lanes  # grows with the VXM chain
    rng = np.random.default_rng(d + f)
    mult, shift = 1, 9
    x, wg, wu, wd = rand_i8(rng, d), rand_i8(rng, (d, f)), rand_i8(rng, (d, f)), \
        rand_i8(rng, (f, d))
    out = run_tile(KERNELS["ffn"].function(cfg, d, f, mult, shift),
                   {"x": x, "w_gate": wg, "w_up": wu, "w_down": wd}, ["h", "y"])
    np.testing.assert_array_equal(out["h"], reference.swiglu_hidden(x, wg, wu, mult, shift))
    np.testing.assert_array_equal(out["y"], reference.ffn(x, wg, wu, wd, mult, shift))


def check_activation(cfg, name):
    x = np.arange(-128, 128, dtype=np.int8)[: 8 * cfg.lanes]
    y = run_tile(KERNELS[name].function(cfg, x.size), {"x": x}, ["y"])["y"]
    np.testing.assert_array_equal(y, (units.silu_q34 if name == "silu" else units.gelu_q34)(x))


def check_requant(cfg, n=64, mult=12345, shift=20):
    x = np.random.default_rng(n).integers(-2**31, 2**31, n, dtype=np.int64).astype(np.int32)
    y = run_tile(KERNELS["requant"].function(cfg, n, mult, shift), {"x": x}, ["y"])["y"]
    ref = np.clip((x.astype(np.int64) * mult + (1 << (shift - 1))) >> shift, -128, 127)
    np.testing.assert_array_equal(y, ref)


def check_split_gemv(cfg, k, n, tiles, ppm):
    rng = np.random.default_rng(k * n)
    x, w = rand_i8(rng, k), rand_i8(rng, (k, n))
    worst = max(abs(p) for p in ppm)
    y = run_system(split_gemv(cfg, k, n, tiles, worst), {"x": x, "w": w}, ["y"], ppm)["y"]
    np.testing.assert_array_equal(y, reference.gemv(x, w))


def check_pingpong(cfg, rounds, tiles, ppm):
    a = np.random.default_rng(rounds).integers(-128, 128, (rounds, cfg.lanes), dtype=np.int8)
    worst = max(abs(p) for p in ppm)
    out = run_system(pingpong(cfg, rounds, tiles, worst), {"a": a}, ["out"], ppm)["out"]
    leaf = 1 + np.arange(rounds) % (tiles - 1)
    np.testing.assert_array_equal(out, (a.astype(np.int16) + leaf[:, None]).astype(np.int8))


#: One run of each kernel on tiles that cover its code paths (two hemispheres, one, two lanes,
#: one MEM slice per side, 2 to 3 tiles, drifting clocks).
KERNEL_RUNS = {
    "gemv-small": lambda: check_gemv(SMALL, 32, 24),
    "gemv-default": lambda: check_gemv(TileConfig(), 32, 48),
    "gemv-two-lanes": lambda: check_gemv(TWO_LANES, 16, 6),
    "gemv-icebreaker": lambda: check_gemv(ICEBREAKER, 16, 16),
    "ffn-small": lambda: check_ffn(SMALL, 16),
    "ffn-two-lanes": lambda: check_ffn(TWO_LANES, 8),
    "silu-ulx3s": lambda: check_activation(ULX3S, "silu"),
    "gelu-small": lambda: check_activation(SMALL, "gelu"),
    "requant-small": lambda: check_requant(SMALL),
    "split-gemv-2": lambda: check_split_gemv(SMALL, 16, 32, 2, [0, 0]),
    "split-gemv-3-drift": lambda: check_split_gemv(SMALL, 16, 48, 3, [0, 100, -100]),
    "pingpong-2": lambda: check_pingpong(SMALL, 12, 2, [0, 0]),
    "pingpong-3": lambda: check_pingpong(SMALL, 8, 3, [0, 0, 0]),
    "pingpong-2-drift": lambda: check_pingpong(ULX3S, 12, 2, [0, 100]),
}

DEEPER = [pytest.param(ms, extra, id=f"{name}+{extra}") for name, ms in DEEPENABLE
          for extra in (1, 2)]
DEEPER += [pytest.param(ALL_DEEPENABLE, extra, id=f"all+{extra}") for extra in (1, 3)]


@pytest.mark.parametrize("kernel", KERNEL_RUNS)
@pytest.mark.parametrize(("mnemonics", "extra"), DEEPER)
def test_kernel_exact_with_deeper_pipelines(monkeypatch, mnemonics, extra, kernel):
    """Every kernel regenerated for deeper unit pipelines schedules and runs exact."""
    deepen(monkeypatch, mnemonics, extra)
    KERNEL_RUNS[kernel]()


@pytest.mark.parametrize("extra", [1, 2])
def test_sxm_runs_use_the_sxm(monkeypatch, extra):
    """The SXM runs above go through the SXM: pingpong-2 copies a value through SHIFT."""
    deepen(monkeypatch, pipelined("SXM"), extra)
    assert any("SHIFT.i8" in t for t in pingpong_sources(SMALL, 12, 2)[0])


def test_today_table_runs_every_kernel():
    """The same runs with the table as it is: the cases themselves are sound."""
    for run in KERNEL_RUNS.values():
        run()


def test_generator_ignoring_the_table_fails(monkeypatch):
    """Negative control: a READ made deeper in the table while the GEMV generator still
    assumes the old latency (as the generators did with hard-coded ``+ 1``) breaks the run."""
    gemv = importlib.import_module("lpu.sw.kernels.gemv")  # the package exports a function gemv
    real = gemv.latency
    monkeypatch.setattr(gemv, "latency", lambda m: real(m) - 1 if m == "READ" else real(m))
    deepen(monkeypatch, ["READ"], 1)
    with pytest.raises(Exception):  # noqa: B017 (a conflict, a wrong result or wrong cycles)
        KERNEL_RUNS["gemv-small"]()


def generated_texts() -> dict[str, str]:
    """The text of each kernel case for the digest below."""
    cases = {
        "gemv-default-64x64": lambda: KERNELS["gemv"].function(TileConfig(), 64, 64),
        "gemv-small-32x24": lambda: KERNELS["gemv"].function(SMALL, 32, 24),
        "gemv-icebreaker-16x16": lambda: KERNELS["gemv"].function(ICEBREAKER, 16, 16),
        "gemv-ulx3s-32x16": lambda: KERNELS["gemv"].function(ULX3S, 32, 16),
        "ffn-default-64x128": lambda: KERNELS["ffn"].function(TileConfig(), 64, 128, 1, 11),
        "ffn-small-32x16": lambda: KERNELS["ffn"].function(SMALL, 32, 16, 1, 9),
        "ffn-two-lanes-16x8": lambda: KERNELS["ffn"].function(TWO_LANES, 16, 8, 1, 9),
        "requant-default": lambda: KERNELS["requant"].function(TileConfig(), 64, 12345, 20),
        "silu-ulx3s": lambda: KERNELS["silu"].function(ULX3S, 64),
        "gelu-small": lambda: KERNELS["gelu"].function(SMALL, 64),
    }
    texts = {name: make() for name, make in cases.items()}
    for tiles, ppm in ((2, 0), (3, 100)):
        for i, t in enumerate(split_gemv_sources(SMALL, 32, 32 * tiles, tiles, ppm)[0]):
            texts[f"split-gemv-small-{tiles}-{ppm}.{i}"] = t
        for i, t in enumerate(pingpong_sources(SMALL, 12, tiles, ppm)[0]):
            texts[f"pingpong-small-{tiles}-{ppm}.{i}"] = t
    for i, t in enumerate(pingpong_sources(ULX3S, 12, 2, 0)[0]):
        texts[f"pingpong-ulx3s.{i}"] = t
    return texts


def digest(texts: dict[str, str]) -> str:
    h = hashlib.sha256()
    for name in sorted(texts):
        h.update(f"{name}\0{texts[name]}\0".encode())
    return h.hexdigest()[:16]


#: The digest of ``generated_texts()`` as the kernels generated them with hard-coded latencies
#: (commit e3aa99c), before they read the table. Update it when a generator changes on purpose.
TEXT_DIGEST = "7d408fd534d83fd9"


def test_generated_text_unchanged():
    """With today's table the kernels generate exactly the text they did before they read
    latencies from it."""
    assert digest(generated_texts()) == TEXT_DIGEST
