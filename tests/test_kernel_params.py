"""Kernel parameters the tile cannot take fail at once, before anything is built, with a
message naming the largest value that fits; and that value generates and assembles."""

import dataclasses
import importlib
import re
import time

import pytest

from lpu.sw.asm import assemble_text
from lpu.sw.cli import main
from lpu.sw.config import TileConfig
from lpu.sw.kernels import KERNELS, SYSTEM_KERNELS
from lpu.sw.kernels.builder import Builder, KernelError
from lpu.sw.schedule import schedule

HUGE = 4_000_000_000
SMALL = TileConfig.named("small")
ICEBREAKER = TileConfig.named("icebreaker")

#: (kernel, config, keyword arguments, the parameter the message names a value for).
CASES = [
    ("gemv", "default", {"k": 16, "n": HUGE}, "n"),
    ("gemv", "small", {"k": 64, "n": HUGE}, "n"),
    ("gemv", "icebreaker", {"k": 16, "n": HUGE}, "n"),  # the ACT queue binds before the MEM
    ("gemv", "icebreaker", {"k": 2, "n": 250}, "n"),
    ("gemv", "small", {"k": HUGE, "n": 8}, "k"),
    ("requant", "small", {"n": HUGE, "mult": 3, "shift": 4}, "n"),
    ("silu", "small", {"n": HUGE}, "n"),
    ("gelu", "default", {"n": HUGE}, "n"),
    ("ffn", "small", {"d": 32, "f": HUGE, "mult": 1, "shift": 8}, "f"),
    ("ffn", "small", {"d": HUGE, "f": 32, "mult": 1, "shift": 8}, "d"),
    ("ffn", "default", {"d": HUGE, "f": HUGE, "mult": 1, "shift": 8}, "f"),
]

#: System kernels: (kernel, config, tiles, ppm, keyword arguments, the named parameter).
SYSTEM_CASES = [
    ("gemv", "small", 2, 0.0, {"k": 16, "n": HUGE}, "n"),
    ("gemv", "small", 4, 0.0, {"k": 16, "n": HUGE}, "n"),
    ("pingpong", "small", 2, 0.0, {"rounds": HUGE}, "rounds"),
    ("pingpong", "small", 3, 10000.0, {"rounds": HUGE}, "rounds"),
    ("pingpong", "default", 2, 0.0, {"rounds": HUGE}, "rounds"),
]


@pytest.fixture
def no_huge_build(monkeypatch):
    """Fail if any program is started with the huge value in its title (every generator puts
    its parameters there): the check must come before the builder."""
    init = Builder.__init__

    def guarded(self, config, title):
        assert str(HUGE) not in title, f"built before checking: {title}"
        init(self, config, title)

    monkeypatch.setattr(Builder, "__init__", guarded)


def named_value(message: str, param: str) -> int:
    found = re.search(rf"at most --{param} (\d+)", message)
    assert found, message
    return int(found.group(1))


def assembles(text: str) -> None:
    prog = assemble_text("kernel.s", text)
    schedule(prog)


@pytest.mark.parametrize(("name", "config", "args", "param"), CASES)
def test_too_large_fails_fast_naming_what_fits(no_huge_build, name, config, args, param):
    cfg = TileConfig.named(config)
    fn = KERNELS[name].function
    start = time.monotonic()
    with pytest.raises(KernelError) as e:
        fn(cfg, **args)
    assert time.monotonic() - start < 5
    msg = str(e.value)
    assert "does not fit" in msg and f"on preset {config!r}" in msg, msg
    most = named_value(msg, param)
    assert most > 0
    if config != "default":  # the largest default-tile programs take seconds to assemble
        fitting = dict(args)
        for other in ("k", "d"):
            if other != param and other in fitting and fitting[other] == HUGE:
                fitting[other] = int(re.search(rf"for --{other} (\d+)", msg).group(1))
        fitting[param] = most
        assembles(fn(cfg, **fitting))
        fitting[param] = most + cfg.lanes  # the largest: one more vector does not fit
        with pytest.raises(KernelError, match="does not fit"):
            fn(cfg, **fitting)


@pytest.mark.parametrize(("name", "config", "tiles", "ppm", "args", "param"), SYSTEM_CASES)
def test_system_too_large_fails_fast_naming_what_fits(no_huge_build, name, config, tiles, ppm,
                                                       args, param):
    cfg = TileConfig.named(config)
    fn = SYSTEM_KERNELS[name]
    start = time.monotonic()
    with pytest.raises(KernelError) as e:
        fn(cfg, tiles=tiles, ppm=ppm, **args)
    assert time.monotonic() - start < 10  # pingpong plans rounds until a queue is full
    msg = str(e.value)
    most = named_value(msg, param)
    assert f"on preset {config!r}" in msg and most > 0, msg
    if config == "small":
        img = fn(cfg, tiles=tiles, ppm=ppm, **{**args, param: most})  # assembles every tile
        assert img.tiles == tiles
    if name == "pingpong":  # the largest: one more round overfills a queue
        with pytest.raises(KernelError, match=rf"at most --rounds {most} "):
            fn(cfg, tiles=tiles, ppm=ppm, rounds=most + 1)


def test_largest_gemv_on_the_default_tile_is_exact(no_huge_build):
    """The named N for K = 16 fills bank 0 of every MEM slice; one more vector does not fit."""
    fn = KERNELS["gemv"].function
    cfg = TileConfig()
    with pytest.raises(KernelError, match="at most --n 26208 for --k 16 on preset 'default'"):
        fn(cfg, 16, HUGE)
    with pytest.raises(KernelError, match="at most --n 26208 "):
        fn(cfg, 16, 26208 + 16)


def test_queue_limit_named_for_the_gemv_the_queue_binds():
    """On the iCEBreaker tile the ACT queue, not the MEM, limits K = 16: the message names the
    queue and the largest N, which fits, while N + 2 does not."""
    fn = KERNELS["gemv"].function
    with pytest.raises(KernelError, match=r"queue MXM_E.ACT holds 512 instruction words .*"
                       r"at most --n 50 for --k 16"):
        fn(ICEBREAKER, 16, 52)
    assembles(fn(ICEBREAKER, 16, 50))


def test_a_custom_tile_without_a_preset_name():
    cfg = dataclasses.replace(SMALL, mem_words=128)
    with pytest.raises(KernelError, match="on this tile"):
        KERNELS["silu"].function(cfg, HUGE)


@pytest.mark.parametrize(("name", "args"), [
    ("gemv", {"k": 16.0, "n": 16}),
    ("gemv", {"k": 16, "n": True}),
    ("gemv", {"k": 16, "n": -16}),
    ("gemv", {"k": 0, "n": 16}),
    ("silu", {"n": "16"}),
    ("requant", {"n": 16, "mult": 1.5, "shift": 2}),
    ("requant", {"n": 16, "mult": 1, "shift": -1}),
    ("ffn", {"d": 64, "f": 64, "mult": 1, "shift": 8.0}),
])
def test_not_a_count(name, args):
    with pytest.raises(KernelError):
        KERNELS[name].function(TileConfig(), **args)


@pytest.mark.parametrize("args", [
    ["gemv", "--k", "16", "--n", str(HUGE)],
    ["gemv", "--k", str(HUGE), "--n", "16"],
    ["gemv", "--k", "16", "--n", str(HUGE), "--tiles", "2", "-o", "{out}"],
    ["requant", "--n", str(HUGE), "--mult", "1", "--shift", "1"],
    ["silu", "--n", str(HUGE)],
    ["gelu", "--n", str(-16)],
    ["ffn", "--d", "64", "--f", str(HUGE), "--mult", "1", "--shift", "1"],
    ["ffn", "--d", str(HUGE), "--f", "64", "--mult", "1", "--shift", "1"],
    ["pingpong", "--rounds", str(HUGE), "--config", "small", "-o", "{out}"],
    ["pingpong", "--rounds", "0", "-o", "{out}"],
    ["gemv", "--k", "16", "--n", "2.5"],
])
def test_cli_one_line_error(no_huge_build, tmp_path, capsys, args):
    args = [a.format(out=tmp_path / "s.lpxs") for a in args]
    start = time.monotonic()
    assert main(["kernel", *args]) == 1
    assert time.monotonic() - start < 5
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    assert "Traceback" not in err and not (tmp_path / "s.lpxs").exists()


def test_overfull_queue_is_a_kernel_error_before_assembly(monkeypatch):
    """The builder counts each queue's lowered words (folds, NOPs and HALT) as the scheduler
    will; a program that overfills one is refused before its text exists."""
    gemv_module = importlib.import_module("lpu.sw.kernels.gemv")
    text = gemv_module.gemv(ICEBREAKER, 16, 16)
    words = {q: s.words for q, s in schedule(assemble_text("g.s", text)).queues.items()}
    g = gemv_module.build_gemv(ICEBREAKER, 16, 16)
    assert all(words[q] == w for q, w in g.b.queue_words().items())
    tight = dataclasses.replace(ICEBREAKER, queue_words=max(words.values()) - 1)
    with pytest.raises(KernelError, match=r"holds \d+ instruction words on this tile"):
        gemv_module.build_gemv(tight, 16, 16).b.render()


def test_pingpong_rounds_the_mem_limits(no_huge_build):
    """With little MEM the rounds stop at a and out's words, and that many rounds fit."""
    cfg = dataclasses.replace(SMALL, mem_words=32)
    with pytest.raises(KernelError, match="the root's MEM holds 128 rounds on this tile"):
        SYSTEM_KERNELS["pingpong"](cfg, rounds=HUGE)
    assert SYSTEM_KERNELS["pingpong"](cfg, rounds=128).tiles == 2
