"""The ping-pong system kernel on the golden model: out[r] = a[r] + (1 + r % (N-1)) bit-exact
on clocks up to 1 % apart, every tile's schedule cycles as predicted, the cross-tile timing
rules checked on the scheduled programs, the negative control without RUNTIME_DESKEW, and
`lpu kernel pingpong` / `lpu run` through the CLI."""

from __future__ import annotations

from functools import cache
from itertools import pairwise

import numpy as np
import pytest

from lpu.sw.c2c import delivery_bound, link_format
from lpu.sw.cli import main
from lpu.sw.config import TileConfig
from lpu.sw.golden import TileError
from lpu.sw.kernels import SYSTEM_KERNELS, SYSTEM_ONLY
from lpu.sw.kernels.builder import KernelError
from lpu.sw.kernels.multitile import LINK_BUFFER, deskew_plan
from lpu.sw.kernels.pingpong import pingpong, pingpong_rounds
from lpu.sw.schedule import schedule
from lpu.sw.system import MAGIC, Part, SystemImage, run_system_golden, star_links

SMALL = TileConfig.named("small")

PPM_SETS = [(0, [0, 0, 0, 0]), (100, [0, 100, -100, 100]), (1000, [0, 1000, -1000, 1000]),
            (10000, [0, 10000, -10000, 10000])]


@cache
def system(rounds: int, tiles: int, ppm: float = 0.0, deskew: bool = True) -> SystemImage:
    return pingpong(SMALL, rounds, tiles, ppm, deskew)


def operand(rounds: int, lanes: int = SMALL.lanes, seed: int = 0) -> np.ndarray:
    a = np.random.default_rng(seed).integers(-128, 128, (rounds, lanes), dtype=np.int8)
    a[0, 0], a[0, 1], a[-1, -1] = 127, -128, 126  # + 1 (or + j) wraps
    return a


def expected(a: np.ndarray, tiles: int) -> np.ndarray:
    leaf = 1 + np.arange(len(a)) % (tiles - 1)
    return ((a.astype(np.int16) + leaf[:, None] + 128) % 256 - 128).astype(np.int8)


def c2c_events(img: SystemImage):
    """Per tile: its schedule, {(C2C slice, link): (SEND cycles, RECV cycles)} and its
    RUNTIME_DESKEWs as (cycle, t)."""
    out = []
    for prog in img.programs:
        s = schedule(prog)
        ports, deskews = {}, []
        for it in s.issues:
            name = it.instr.mnemonic
            if name in ("SEND", "RECV"):
                sends, recvs = ports.setdefault((it.queue, it.values["link"]), ([], []))
                (sends if name == "SEND" else recvs).append(it.cycle)
            elif name == "RUNTIME_DESKEW":
                deskews.append((it.cycle, it.values["t"]))
        out.append((s, ports, sorted(deskews)))
    return out


def check_rules(img: SystemImage, ppm: float, rounds: int, deskew: bool = True):
    """The cross-tile rules, read back from the scheduled programs: RECV margin, one vector
    per link frame, at most LINK_BUFFER vectors in a receiver's buffer, RUNTIME_DESKEW t at
    D, 2D, ... on every tile up to its last SEND/RECV."""
    plan = deskew_plan(ppm)
    bound, frame = delivery_bound(SMALL), link_format(SMALL).frame_words
    events = c2c_events(img)
    count = 0
    for (r, r_slice, r_link), (t, t_slice, t_link) in img.links:
        for (a, a_port), (b, b_port) in [((r, (r_slice, r_link)), (t, (t_slice, t_link))),
                                         ((t, (t_slice, t_link)), (r, (r_slice, r_link)))]:
            sends = events[a][1][a_port][0]
            recvs = events[b][1][b_port][1]
            assert len(sends) == len(recvs) == sum(
                1 + i % (img.tiles - 1) == t for i in range(rounds))
            count += len(sends)
            assert all(y - x >= frame for x, y in pairwise(sends))
            assert all(y > x for x, y in pairwise(recvs))
            assert all(rv >= sd + bound + plan.margin for sd, rv in zip(sends, recvs, strict=True))
            assert all(sends[j + LINK_BUFFER] >= recvs[j] + plan.margin
                       for j in range(len(sends) - LINK_BUFFER))
    assert count == 2 * rounds
    for _, ports, deskews in events:
        last = max((c for sends, recvs in ports.values() for c in sends + recvs), default=0)
        want = [] if plan.period is None or not deskew else \
            [(c, plan.t) for c in range(plan.period, last, plan.period)]
        assert deskews == want


def check_run(img: SystemImage, tiles: int, ppm: list[float], seed: int = 0):
    rounds = img.symbols["a"].shape[0]
    a = operand(rounds, img.config.lanes, seed)
    res = run_system_golden(img, {"a": a}, ["out"], ppm)
    assert res.error is None, res.error
    for i, (r, prog) in enumerate(zip(res.tiles, img.programs, strict=True)):
        s = schedule(prog)
        assert r.error is None, (i, r.error)
        assert r.cycles - r.frozen == s.end, f"tile {i}: schedule cycles differ from prediction"
        if not any(ppm):
            assert (r.cycles, r.frozen) == (s.cycles, s.frozen)
    assert res.outputs["out"].dtype == np.int8
    np.testing.assert_array_equal(res.outputs["out"], expected(a, tiles))
    return res


@pytest.mark.parametrize("tiles", [2, 4])
@pytest.mark.parametrize("rounds", [8, 64])
@pytest.mark.parametrize(("worst", "ppm"), PPM_SETS)
def test_pingpong_bit_exact(rounds, tiles, worst, ppm):
    img = system(rounds, tiles, worst)
    check_rules(img, worst, rounds)
    check_run(img, tiles, ppm[:tiles], seed=rounds + tiles)


def test_pingpong_three_tiles_and_deskews():
    """3 tiles (both root C2C queues carry a link, the root deskews on C2C_W between its
    SENDs and RECVs there) and long enough at 1 % for four deskews on every tile."""
    img = system(400, 3, 10000)
    check_rules(img, 10000, 400)
    assert all(len(d) >= 4 for _, _, d in c2c_events(img))
    res = check_run(img, 3, [0, 10000, -10000])
    plan = deskew_plan(10000)
    n = [len(d) for _, _, d in c2c_events(img)]
    assert res.tiles[0].frozen == n[0] * plan.t  # the root's HAC is its own clock
    assert res.tiles[1].frozen > n[1] * plan.t  # fast: freezes more
    assert res.tiles[2].frozen < n[2] * plan.t  # slow: less


def test_pingpong_rounds_overlap():
    """Rounds pipeline: a round takes over 50 cycles, but a link direction carries a vector
    every frame, so 2 tiles do a round every 4 cycles (one link) and 4 tiles about one every
    1.4 (three links, two of them on the root's C2C_E queue)."""
    frame = link_format(SMALL).frame_words
    for tiles, most in ((2, frame), (3, frame / 2), (4, 1.5)):
        _, _, rounds = pingpong_rounds(SMALL, 200, tiles)
        assert min(r.write - r.read for r in rounds) > 50
        sends = [r.send for r in rounds]
        steady = (sends[-1] - sends[100]) / (len(sends) - 1 - 100)
        assert steady <= most, (tiles, steady)
        assert [r.leaf for r in rounds[:7]] == [1 + i % (tiles - 1) for i in range(7)]


def test_pingpong_system_image():
    img = system(8, 4)
    assert SYSTEM_KERNELS["pingpong"] is pingpong and "pingpong" in SYSTEM_ONLY
    assert img.tiles == 4 and img.links == star_links(4) and img.check() is None
    assert {n: (s.dtype, s.shape, s.parts) for n, s in img.symbols.items()} == {
        "a": ("i8", (8, SMALL.lanes), (Part(0, "a"),)),
        "out": ("i8", (8, SMALL.lanes), (Part(0, "out"),))}
    assert all(not p.symbols for p in img.programs[1:])  # the leaves hold no data
    check_run(system(3, 4), 4, [0, 0, 0, 0])  # one round per leaf


def test_pingpong_errors():
    for args, phrase in [((8, 1), "--tiles must be 2 to 4, not 1"),
                         ((8, 5), "--tiles must be 2 to 4, not 5"),
                         ((0, 2), "--rounds must be a positive integer, not 0"),
                         ((2, 4), "--rounds 2 leaves tile 3 without a round"),
                         ((1025, 2), r"at most --rounds 343 on preset 'small'"),
                         ((400, 2), r"more than tile \d's instruction queues hold: .* at most "
                                    r"--rounds 343"),
                         ((8, 2, 20000), "more drift than the HAC tracks")]:
        with pytest.raises(KernelError, match=phrase):
            pingpong(SMALL, *args)
    with pytest.raises(KernelError, match="c2c_links = 1"):
        pingpong(TileConfig(), 8, 4)


@pytest.mark.parametrize(("ppm", "tile", "queue"), [([0, -10000], 0, "C2C_E"),
                                                    ([0, 10000], 1, "C2C_W")])
def test_negative_control_without_deskew(ppm, tile, queue):
    """The 1 % program without its RUNTIME_DESKEWs (every other instruction in the same
    cycle): once a leaf drifts past the margin, a RECV finds nothing. A slow leaf's vectors
    come back too late for the root; a fast leaf RECVs before the root's vector arrives."""
    rounds = 200
    with_d, without = system(rounds, 2, 10000), system(rounds, 2, 10000, False)
    check_rules(without, 10000, rounds, deskew=False)

    def issues(img):
        return [[(i.queue, i.cycle, i.item.instr.mnemonic, i.values)
                 for i in schedule(p).issues if i.instr.mnemonic != "RUNTIME_DESKEW"]
                for p in img.programs]

    assert issues(with_d) == issues(without)
    assert sum(len(d) for _, _, d in c2c_events(with_d)) >= 8
    check_run(with_d, 2, ppm)  # with the deskews: fine
    res = run_system_golden(without, {"a": operand(rounds)}, ["out"], ppm)
    assert isinstance(res.error, TileError) and res.outputs == {}
    msg = str(res.error)
    assert msg.startswith(f"tile {tile}, ") and msg.endswith(
        f"{queue}: RECV on link 0: no vector arrived"), msg
    assert 600 < res.error.cycle < 800  # the 7-cycle margin runs out after ~700 cycles
    check_run(without, 2, [0, 0])  # equal clocks: fine without


def test_cli_pingpong(tmp_path, capsys):
    """The default tile (16 lanes, one link per C2C slice): 2 tiles, 8 rounds."""
    path = tmp_path / "f.lpxs"
    assert main(["kernel", "pingpong", "--tiles", "2", "--rounds", "8", "-o", str(path)]) == 0
    out = capsys.readouterr().out
    assert "wrote" in out and "(2 tiles," in out and out.count("predicted") == 2
    assert path.read_bytes()[:5] == MAGIC
    a = operand(8, TileConfig().lanes, seed=5)
    np.save(tmp_path / "a.npy", a)
    rc = main(["run", str(path), "--in", f"a={tmp_path / 'a.npy'}",
               "--out", f"out={tmp_path / 'o.npy'}"])
    out, err = capsys.readouterr()
    assert (rc, err) == (0, ""), err
    assert out.count("scheduled ==") == 2
    np.testing.assert_array_equal(np.load(tmp_path / "o.npy"), expected(a, 2))
    # --tiles defaults to 2; --ppm sets the plan
    assert main(["kernel", "pingpong", "--config", "small", "--rounds", "64", "--ppm", "1000",
                 "-o", str(tmp_path / "g.lpxs")]) == 0
    assert "(2 tiles," in capsys.readouterr().out
    a = operand(64, seed=6)
    np.save(tmp_path / "a.npy", a)
    rc = main(["run", str(tmp_path / "g.lpxs"), "--in", f"a={tmp_path / 'a.npy'}",
               "--out", f"out={tmp_path / 'o.npy'}", "--ppm", "0,-1000"])
    assert (rc, capsys.readouterr().err) == (0, "")
    np.testing.assert_array_equal(np.load(tmp_path / "o.npy"), expected(a, 2))


@pytest.mark.parametrize(("args", "phrase"), [
    (["--tiles", "1", "--rounds", "8"], "error: --tiles must be 2 to 4, not 1"),
    (["--tiles", "2"], "error: kernel pingpong needs --rounds"),
    (["--rounds", "8", "--n", "3"], "kernel pingpong takes --rounds; unknown argument '--n'"),
    (["--tiles", "4", "--rounds", "8"], "c2c_links = 1"),
    (["--rounds", "0"], "--rounds must be a positive integer, not 0"),
])
def test_cli_pingpong_errors(tmp_path, capsys, args, phrase):
    rc = main(["kernel", "pingpong", *args, "-o", str(tmp_path / "f.lpxs")])
    _, err = capsys.readouterr()
    assert rc == 1 and phrase in err and len(err.splitlines()) == 1, err
    assert "Traceback" not in err


def test_cli_pingpong_needs_output(capsys):
    assert main(["kernel", "pingpong", "--rounds", "8"]) == 1
    assert "give -o FILE.lpxs" in capsys.readouterr().err
