"""Multi-tile systems on the golden model: the star wiring, the .lpxs image, the split GEMV on
drifting clocks (bit-exact, schedule cycles as predicted), its negative control without
RUNTIME_DESKEW, and `lpu kernel gemv --tiles` / `lpu run SYS.lpxs` through the CLI."""

from __future__ import annotations

import dataclasses
import json
import math
import struct
import zlib
from functools import cache

import numpy as np
import pytest

from lpu.sw import backends, reference
from lpu.sw.c2c import delivery_bound
from lpu.sw.cli import main
from lpu.sw.config import TileConfig
from lpu.sw.errors import LpuError
from lpu.sw.golden import TileError
from lpu.sw.image import write_image
from lpu.sw.isa import BY_MNEMONIC
from lpu.sw.kernels import KERNELS
from lpu.sw.kernels.builder import KernelError
from lpu.sw.kernels.gemv_split import deskew_plan, split_gemv
from lpu.sw.program import Item
from lpu.sw.schedule import schedule
from lpu.sw.system import (
    MAGIC,
    Part,
    SystemImage,
    SystemResult,
    SystemSymbol,
    read_system,
    run_system_golden,
    star_links,
    write_system,
)

SMALL = TileConfig.named("small")


@cache
def system(k: int, n: int, tiles: int, ppm: float = 0.0) -> SystemImage:
    return split_gemv(SMALL, k, n, tiles, ppm)


def operands(k: int, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, k, dtype=np.int8)
    w = rng.integers(-128, 128, (k, n), dtype=np.int8)
    x[0], w[0, 0], w[-1, -1] = -128, -128, 127
    return x, w


def without_deskews(img: SystemImage) -> SystemImage:
    """The same programs with every RUNTIME_DESKEW replaced by a 1-cycle NOP: every other
    instruction keeps its schedule cycle, only the re-alignment is gone."""
    nop = BY_MNEMONIC["NOP"]
    progs = [dataclasses.replace(p, queues={
        q: [Item(nop, {"n": 1}) if it.instr.mnemonic == "RUNTIME_DESKEW" else it for it in items]
        for q, items in p.queues.items()}) for p in img.programs]
    return dataclasses.replace(img, programs=progs)


def deskews(img: SystemImage) -> list[int]:
    return [sum(it.instr.mnemonic == "RUNTIME_DESKEW" for items in p.queues.values()
                for it in items) for p in img.programs]


# Wiring and the deskew plan

def test_star_links():
    assert star_links(1) == []
    assert star_links(4) == [((0, "C2C_E", 0), (1, "C2C_W", 0)),
                             ((0, "C2C_W", 0), (2, "C2C_E", 0)),
                             ((0, "C2C_E", 1), (3, "C2C_W", 1))]
    assert star_links(3, SMALL) == star_links(4)[:2]
    for bad in (0, 5, True, 2.0):
        with pytest.raises(ValueError, match="1 to 4 tiles"):
            star_links(bad)
    assert len(star_links(2, TileConfig())) == 1  # one link per C2C slice is enough for 2
    with pytest.raises(ValueError, match=r"link 1 of C2C_E on the root .* c2c_links = 1"):
        star_links(4, TileConfig())
    alone = TileConfig(c2c_links=0)  # no C2C slices: a single tile only
    assert star_links(1, alone) == []
    with pytest.raises(ValueError, match=r"link 0 of C2C_E on the root .* c2c_links = 0"):
        star_links(2, alone)


def test_config_without_links():
    """c2c_links = 0 drops the two C2C slices and their queues; below 0 is an error."""
    full, alone = TileConfig(), TileConfig(c2c_links=0)
    assert [s.name for s in alone.slices] == [s.name for s in full.slices][1:-1]
    assert {q.unit for q in alone.queues} == {q.unit for q in full.queues} - {"C2C"}
    assert (alone.slices[0].name, alone.slices[0].position) == ("MXM_W", 0)
    with pytest.raises(ValueError, match="c2c_links must be a non-negative integer, not -1"):
        TileConfig(c2c_links=-1)
    with pytest.raises(ValueError, match="lanes must be a positive integer, not 0"):
        TileConfig(lanes=0)


def test_floorplans_for_small_fpgas():
    """hemispheres = 1 keeps the east side, vxm_alus = 0 and sxm_slices = 0 drop those slices;
    names never change, and a system needs every C2C slice its links use."""
    def names(cfg):
        return [s.name for s in cfg.slices]

    assert names(TileConfig(hemispheres=1)) == ["VXM", "MEM_E0", "MEM_E1", "SXM_E", "MXM_E",
                                                "C2C_E"]
    assert names(TileConfig(vxm_alus=0, sxm_slices=0, c2c_links=0)) == [
        "MXM_W", "MEM_W1", "MEM_W0", "MEM_E0", "MEM_E1", "MXM_E"]
    ice = TileConfig.named("icebreaker")
    assert names(ice) == ["MEM_E0", "MXM_E"]
    assert [q.name for q in ice.queues] == ["MEM_E0.0", "MEM_E0.1", "MXM_E.WGT", "MXM_E.ACT"]
    for field, bad, phrase in [("hemispheres", 0, "hemispheres must be a positive integer"),
                               ("hemispheres", 3, "hemispheres must be 2, or 1 for the east"),
                               ("sxm_slices", 2, "sxm_slices .per hemisphere. must be 1, or 0"),
                               ("vxm_alus", -1, "vxm_alus must be a non-negative integer")]:
        with pytest.raises(ValueError, match=phrase):
            TileConfig(**{field: bad})
    with pytest.raises(ValueError, match=r"2 tiles need slice C2C_W on tile 1; this config has "
                       r"no C2C_W \(hemispheres = 1\)"):
        star_links(2, TileConfig(hemispheres=1))


def test_deskew_plan():
    assert deskew_plan(0) == deskew_plan(0.0)
    plan = deskew_plan(0)
    assert (plan.period, plan.margin) == (None, 2)
    got = {p: (deskew_plan(p).period, deskew_plan(p).t, deskew_plan(p).margin)
           for p in (100, 1000, 10000)}
    assert got == {100: (2000, 3, 3), 1000: (1994, 4, 7), 10000: (194, 4, 7)}
    for p in (1, 50, 100, 333.3, 1000, 2500, 10000, 15000):
        plan = deskew_plan(p)
        rho = p / (1e6 - p)
        # t absorbs the worst drift over D + t wall cycles plus one HAC count ...
        assert plan.t >= math.ceil(rho * (plan.period + plan.t)) + 2
        # ... and is the smallest that does; D is capped or limited by the 4-cycle budget.
        assert plan.t - 1 < math.ceil(rho * (plan.period + plan.t - 1)) + 2 or plan.t == 3
        assert plan.period == 2000 or plan.t == 4
        assert plan.margin == math.ceil(2 * rho * (plan.period + 2 * plan.t)) + 2
    with pytest.raises(KernelError):
        deskew_plan(-1)


# The system image

def test_image_round_trip(tmp_path):
    img = system(16, 64, 4, 1000)
    data = write_system(img)
    assert data[:5] == MAGIC
    back = read_system(str(tmp_path / "s.lpxs"), data)
    assert back.config == img.config == SMALL
    assert back.links == img.links == star_links(4)
    assert back.symbols == img.symbols
    assert back.symbols["w"].parts[2] == Part(2, "w", 1, 32, 48)
    assert [write_image(p, p.queues) for p in back.programs] == \
        [write_image(p, p.queues) for p in img.programs]
    def symbols(p):
        return {n: dataclasses.replace(s, loc=None) for n, s in p.symbols.items()}

    assert [symbols(p) for p in back.programs] == [symbols(p) for p in img.programs]
    assert write_system(back) == data


def _corrupt(data: bytes, at: int, value: int, fix_crc: bool) -> bytes:
    out = bytearray(data)
    out[at] = value
    if fix_crc:
        out[-4:] = struct.pack("<I", zlib.crc32(bytes(out[:-4])))
    return bytes(out)


def test_bad_images(tmp_path, capsys):
    data = write_system(system(16, 32, 2))
    tile0 = 5 + 4 + 8 + 1 + 4  # magic, header, TILE tag + length, tile count, image length
    cases = {
        "magic": (b"LPXQ" + data[4:], "not an .lpxs system image (bad magic)"),
        "version": (_corrupt(data, 5, 9, True), "corrupt image at byte 5: system image "
                    "version 9"),
        "crc": (_corrupt(data, 40, data[40] ^ 1, False), "CRC mismatch"),
        "cut": (data[:len(data) // 2], "truncated image: no END section at the end"),
        "cut-end": (data[:-1], "truncated image"),
        "cut-crc": (data[:-8] + b"END " + data[-3:] + b"\0", "CRC mismatch"),
        "tile": (_corrupt(data, tile0, ord("Q"), True),
                 f"tile 0 (image at byte {tile0}): not an .lpx image (bad magic)"),
        "empty": (b"", "truncated image: magic needs 5 bytes"),
        "inner-crc": (_corrupt(data, tile0 + 60, data[tile0 + 60] ^ 1, True),
                      f"tile 0 (image at byte {tile0}): corrupt image at byte"),
    }
    for name, (blob, phrase) in cases.items():
        path = tmp_path / f"{name}.lpxs"
        path.write_bytes(blob)
        with pytest.raises(LpuError) as e:
            read_system(str(path), blob)
        assert e.value.loc is not None and e.value.loc.file == str(path)
        assert phrase in e.value.message, (name, e.value.message)
        if blob[:5] == MAGIC:  # lpu run knows it for a system image by its magic
            rc = main(["run", str(path)])
            _, err = capsys.readouterr()
            assert rc == 1 and "Traceback" not in err
            assert err.startswith(f"{path}: error: ") and len(err.splitlines()) == 1, err


ODD_SYMBOLS = {  # system symbols write_system refuses; the reader must refuse them too
    "name-not-identifier": SystemSymbol("y out", "i32", (32,), (Part(0, "y"),)),
    "rank-0": SystemSymbol("y", "i32", (), (Part(0, "y"),)),
    "whole-part-with-range": SystemSymbol("y", "i32", (32,), (Part(0, "y", None, 0, 4),)),
    "parts-leave-a-gap": SystemSymbol("y", "i32", (64,), (Part(0, "y", 0, 0, 32),)),
}


@pytest.mark.parametrize("case", ODD_SYMBOLS)
def test_system_image_the_writer_never_writes(tmp_path, capsys, monkeypatch, case):
    img = system(16, 32, 1)
    odd = dataclasses.replace(img, symbols={"y": ODD_SYMBOLS[case]})
    assert odd.check() is not None
    with pytest.raises(ValueError):
        write_system(odd)
    monkeypatch.setattr(SystemImage, "check", lambda self: None)
    data = write_system(odd)
    monkeypatch.undo()
    path = tmp_path / "odd.lpxs"
    path.write_bytes(data)
    rc = main(["run", str(path)])
    _, err = capsys.readouterr()
    assert rc == 1 and err.startswith(f"{path}: error: corrupt system image: system symbol"), err


def test_system_symbols_scatter_and_gather():
    img = system(16, 64, 4)
    x, w = operands(16, 64)
    loads = img.scatter({"x": x, "w": w})
    for i in range(4):
        np.testing.assert_array_equal(loads[i]["x"], x)
        np.testing.assert_array_equal(loads[i]["w"], w[:, 16 * i:16 * (i + 1)])
    assert img.reads(["y", "w"]) == [["y", "w"], ["w"], ["w"], ["w"]]
    y = np.arange(64, dtype=np.int32)
    got = img.gather(["y", "w"], [{"y": y, "w": loads[0]["w"]}] +
                     [{"w": loads[i]["w"]} for i in range(1, 4)])
    np.testing.assert_array_equal(got["y"], y)
    np.testing.assert_array_equal(got["w"], w)
    assert "x is i8 (int8), the file holds int16" in img.check_input("x", x.astype(np.int16))
    assert "w has shape (16, 64)" in img.check_input("w", w[:, :32])
    assert "unknown system symbol 'q'" in img.check_input("q", x)
    bad = dataclasses.replace(img, symbols={"y": SystemSymbol("y", "i32", (64,),
                                                              (Part(1, "y", 0, 0, 16),))})
    # Every system symbol can be read back, so an image cannot hold one its parts leave open.
    assert "system symbol 'y': its parts do not cover the array" in bad.check()
    with pytest.raises(ValueError, match="do not cover"):
        bad.reads(["y"])
    worse = dataclasses.replace(img, symbols={"y": SystemSymbol("y", "i32", (64,),
                                                                (Part(1, "y", 0, 0, 32),))})
    assert "y is i32[16], the part is i32[32]" in worse.check()


# The split GEMV on drifting clocks

PPM_SETS = [(0, [0, 0, 0, 0]), (100, [0, 100, -100, 100]), (1000, [0, 1000, -1000, 1000]),
            (10000, [0, 10000, -10000, 10000])]


def check_run(img: SystemImage, k: int, n: int, ppm: list[float], seed: int = 0):
    x, w = operands(k, n, seed)
    res = run_system_golden(img, {"x": x, "w": w}, ["y"], ppm)
    assert res.error is None, res.error
    for i, (r, prog) in enumerate(zip(res.tiles, img.programs, strict=True)):
        s = schedule(prog)
        assert r.error is None, (i, r.error)
        assert r.cycles - r.frozen == s.end, f"tile {i}: schedule cycles differ from prediction"
        if not any(ppm):  # no drift: the freezes are exactly the predicted ones too
            assert (r.cycles, r.frozen) == (s.cycles, s.frozen)
    np.testing.assert_array_equal(res.outputs["y"], reference.gemv(x, w))
    assert res.outputs["y"].dtype == np.int32
    return res


@pytest.mark.parametrize("tiles", [2, 4])
@pytest.mark.parametrize(("k", "n"), [(8, 64), (16, 128), (64, 64), (128, 32), (32, 256)])
@pytest.mark.parametrize(("worst", "ppm"), PPM_SETS)
def test_split_gemv_bit_exact(k, n, tiles, worst, ppm):
    check_run(system(k, n, tiles, worst), k, n, ppm[:tiles], seed=k + n)


@pytest.mark.parametrize(("k", "n", "tiles"), [(8, 2016, 4), (8, 1344, 2)])
def test_split_gemv_long_run_deskews(k, n, tiles):
    """Programs several deskew periods long at 1 %: every tile re-aligns (freezes t minus its
    drift, so a slow tile freezes less than t per deskew and a fast one more)."""
    img = system(k, n, tiles, 10000)
    plan = deskew_plan(10000)
    assert all(d >= 3 for d in deskews(img))
    ppm = [0, 10000, -10000, 10000][:tiles]
    res = check_run(img, k, n, ppm)
    root, fast, slow = res.tiles[0], res.tiles[1], res.tiles[2] if tiles > 2 else None
    assert root.frozen == deskews(img)[0] * plan.t  # the root's HAC is its own clock
    assert fast.frozen > deskews(img)[1] * plan.t
    if slow is not None:
        assert slow.frozen < deskews(img)[2] * plan.t


def test_split_gemv_one_tile_is_the_gemv(capsys):
    """--tiles 1 (with or without --ppm) writes exactly the single-tile kernel."""
    outs = []
    for extra in ([], ["--tiles", "1"], ["--tiles", "1", "--ppm", "100"]):
        assert main(["kernel", "gemv", "--config", "small", "--k", "16", "--n", "32", *extra]) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1] == outs[2] == KERNELS["gemv"].function(SMALL, 16, 32)


@pytest.mark.parametrize(("k", "n", "tiles", "ppm"), [(8, 2016, 4, [0, 10000, -10000, 10000]),
                                                      (8, 1344, 2, [0, -10000])])
def test_negative_control_without_deskew(k, n, tiles, ppm):
    """The 1 % program without its RUNTIME_DESKEWs: the slow tile's vectors fall behind the
    root's RECVs once its drift exceeds the margin, and the root stops with no vector."""
    img = system(k, n, tiles, 10000)
    plan = deskew_plan(10000)
    slow = ppm.index(-10000)
    sends = [it for it in schedule(img.programs[slow]).issues if it.instr.mnemonic == "SEND"]
    last = max(s.cycle for s in sends)
    # Without deskews the slow tile's SEND at cycle s arrives (s + delivery_bound) / 0.99
    # root cycles after the start: more than the margin late well before its last SEND.
    assert (last + delivery_bound(SMALL)) * (1 / 0.99 - 1) > plan.margin + 2
    check_run(img, k, n, ppm)  # with the deskews: fine
    x, w = operands(k, n)
    res = run_system_golden(without_deskews(img), {"x": x, "w": w}, ["y"], ppm)
    assert isinstance(res.error, TileError)
    assert "no vector arrived" in str(res.error) and str(res.error).startswith("tile 0, ")
    assert res.tiles[0].error is not None and res.outputs == {}
    assert all(r.error is None for r in res.tiles[1:])  # the senders never wait
    # and with equal clocks the stripped program is fine: drift is what breaks it
    check_run(without_deskews(img), k, n, [0] * tiles)


def test_run_system_golden_ppm_count():
    img = system(16, 32, 2)
    x, w = operands(16, 32)
    with pytest.raises(ValueError, match="one value per tile"):
        run_system_golden(img, {"x": x, "w": w}, ["y"], [0, 0, 0])


@pytest.mark.parametrize(("args", "phrase"), [
    (["--tiles", "5"], "--tiles must be 1 to 4, not 5"),
    (["--tiles", "two"], "--tiles needs an integer"),
    (["--tiles", "4", "--n", "48"], "a multiple of 4 x 8 lanes = 32, not 48"),
    (["--tiles", "2", "--ppm", "20000"], "more drift than the HAC tracks"),
    (["--tiles", "2", "--ppm", "-5"], "--ppm is the worst-case clock offset"),
    (["--tiles", "2", "--k", "12"], "--k must be a positive multiple of the lane count (8)"),
])
def test_kernel_errors(tmp_path, capsys, args, phrase):
    base = {"--k": "16", "--n": "64"}
    for i in range(0, len(args), 2):
        base[args[i]] = args[i + 1]
    argv = ["kernel", "gemv", "--config", "small", "-o", str(tmp_path / "g.lpxs")]
    argv += [a for kv in base.items() for a in kv]
    assert main(argv) == 1
    _, err = capsys.readouterr()
    assert err.startswith("error: ") and phrase in err, err
    assert main(["kernel", "silu", "--n", "16", "--tiles", "2"]) == 1
    assert "kernel silu runs on one tile" in capsys.readouterr().err
    assert main(["kernel", "gemv", "--tiles", "4", "--k", "16", "--n", "64", "-o",
                 str(tmp_path / "d.lpxs")]) == 1  # default tile: one link per C2C slice
    assert "c2c_links = 1" in capsys.readouterr().err


# The command line

@pytest.fixture
def cli_system(tmp_path, capsys):
    path = tmp_path / "g.lpxs"
    assert main(["kernel", "gemv", "--config", "small", "--tiles", "2", "--k", "32", "--n", "64",
                 "--ppm", "1000", "-o", str(path)]) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and "2 tiles" in out
    assert path.read_bytes()[:5] == MAGIC
    x, w = operands(32, 64, seed=3)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "w.npy", w)
    return path, x, w


def test_cli_run_system(tmp_path, capsys, cli_system):
    path, x, w = cli_system
    rc = main(["run", str(path), "--backend", "golden", "--in", f"x={tmp_path / 'x.npy'}",
               "--in", f"w={tmp_path / 'w.npy'}", "--out", f"y={tmp_path / 'y.npy'}",
               "--ppm", "0,-1000", "--stats-json", str(tmp_path / "s.json")])
    out, err = capsys.readouterr()
    assert (rc, err) == (0, ""), err
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), reference.gemv(x, w))
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["backend"] == "golden" and len(stats["tiles"]) == 2
    for i, t in enumerate(stats["tiles"]):
        assert t["tile"] == i and t["cycles"] == t["frozen"] + t["schedule_cycles"]
        assert t["schedule_cycles"] == t["predicted_schedule_cycles"] > 0
        assert t["busy"]["MXM_W.WGT"] > 0
    assert stats["tiles"][1]["busy"]["C2C_W"] == 16  # 32 outputs: 4 vectors x 4 byte planes
    assert out.count("scheduled ==") == 2


def test_cli_run_system_errors(tmp_path, capsys, cli_system):
    path, x, _w = cli_system
    single = tmp_path / "one.s"
    assert main(["kernel", "gemv", "--config", "small", "--k", "16", "--n", "16",
                 "-o", str(single)]) == 0
    np.save(tmp_path / "x16.npy", x.astype(np.int16))
    cases = [
        (["run", path, "--ppm", "0,100,-100"], f"{path}: error: --ppm gives 3 value(s); the "
         "system has 2 tiles"),
        (["run", path, "--ppm", "0,fast"], "error: --ppm takes one number per tile"),
        (["run", single, "--ppm", "0"], f"{single}: error: --ppm sets the clocks of a "
         "multi-tile system image"),
        (["run", path, "--in", f"x={tmp_path / 'x16.npy'}"],
         "x16.npy: error: x is i8 (int8), the file holds int16"),
        (["run", path, "--in", f"q={tmp_path / 'x16.npy'}"], "unknown system symbol 'q'"),
        (["run", path, "--out", f"q={tmp_path / 'q.npy'}"], "--out: unknown system symbol 'q'"),
        (["run", path, "--timeline", tmp_path / "t.png"], "--timeline takes a single-tile"),
        (["asm", path], "lpu run takes it"),
        (["disasm", path], "a multi-tile system image"),
    ]
    for argv, phrase in cases:
        rc = main([str(a) for a in argv])
        _, err = capsys.readouterr()
        assert rc == 1 and "Traceback" not in err, (argv, err)
        assert phrase in err and len(err.splitlines()) == 1, (argv, err)


def test_cli_run_system_error_stops(tmp_path, capsys):
    """A drift the program was not made for: the run stops, the error names the tile."""
    path = tmp_path / "g.lpxs"
    img = without_deskews(system(8, 1344, 2, 10000))
    path.write_bytes(write_system(img))
    rc = main(["run", str(path), "--ppm", "0,-10000"])
    _, err = capsys.readouterr()
    assert rc == 1
    assert err.startswith(f"{path}: error: golden run stopped: tile 0, cycle ")
    assert err.strip().endswith("C2C_E: RECV on link 0: no vector arrived")


def test_cli_verilator_backend_hook(tmp_path, capsys, cli_system, monkeypatch):
    """--backend verilator calls backends.run_system_verilator(system, inputs, outputs, ppm)
    (here a stand-in on the golden model; tests/test_rtl_system.py runs the real one)."""
    path, x, w = cli_system
    calls = []

    def fake(system, inputs, outputs, ppm, max_cycles=None):
        calls.append((system.tiles, sorted(inputs), outputs, ppm))
        res = run_system_golden(system, inputs, outputs, ppm)
        return SystemResult(res.outputs, res.tiles, res.error)

    monkeypatch.setattr(backends, "run_system_verilator", fake)
    rc = main(["run", str(path), "--backend", "verilator", "--in", f"x={tmp_path / 'x.npy'}",
               "--in", f"w={tmp_path / 'w.npy'}", "--out", f"y={tmp_path / 'y.npy'}",
               "--ppm", "0,50"])
    out, err = capsys.readouterr()
    assert (rc, err) == (0, ""), err
    assert calls == [(2, ["w", "x"], ["y"], [0.0, 50.0])]
    assert "on verilator" in out
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), reference.gemv(x, w))


def test_split_gemv_default_tile():
    """The default tile (16 lanes, one link per C2C slice, every MEM bank feeding the MXMs,
    no stream left free by the GEMV) splits over 2 tiles, up to the HAC's 3,906 ppm."""
    cfg = TileConfig()
    img = split_gemv(cfg, 64, 128, 2, 3900)
    assert img.config == cfg
    for ppm in ([0, -3900], [0, 3900]):
        check_run(img, 64, 128, ppm)
