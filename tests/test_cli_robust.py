"""`lpu run` at its edges: long runs, outputs all or nothing, hostile `--in` files, usage
errors and exact output paths. Every bad case is one `error:` line and exit status 1."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from lpu.sw import golden
from lpu.sw.cli import main

NOPS = 160  # 160 x NOP 65535: a valid program of more than 10^7 cycles, cheap to build and run
LONG = ".queue VXM.0\n" + "NOP 65535\n" * NOPS + "CONST.i8 E0, 1\n"
LONG_CYCLES = NOPS * 65535 + 2


def run_cli(capsys, *args):
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return rc, out, err


def one_error(rc, err, phrase):
    assert rc == 1, err
    assert len(err.splitlines()) == 1 and "error: " in err and phrase in err, err


@pytest.fixture
def gemv(tmp_path, gemv_prog):
    """gemv 64 x 32 (conftest.gemv_prog), its --in arguments and numpy's y."""
    path, x, w = gemv_prog
    ins = ["--in", f"x={tmp_path / 'x.npy'}", "--in", f"w={tmp_path / 'w.npy'}"]
    return path, ins, x.astype(np.int64) @ w.astype(np.int64)


# Long runs

def test_long_run_honours_the_limit_it_is_given(tmp_path, capsys):
    """Predicted > 10^7 cycles: the default limit (10 x predicted) lets it finish, quietly;
    --max-cycles below it stops it with one located line naming the limit and the option."""
    src = tmp_path / "long.s"
    src.write_text(LONG)
    rc, out, err = run_cli(capsys, "run", src)
    assert (rc, err) == (0, "")
    assert out.strip() == f"{src}: {LONG_CYCLES} cycles on golden == {LONG_CYCLES} predicted"
    rc, _, err = run_cli(capsys, "run", src, "--max-cycles", 5000)
    one_error(rc, err, f"{src}: error: golden run stopped: no done after 5000 cycles (the "
              "limit, set by --max-cycles); raise it with --max-cycles N")


def test_cycle_limit_reaches_the_golden_backend():
    from lpu.sw.asm import assemble_text
    from lpu.sw.backends import run
    from lpu.sw.schedule import schedule

    image = schedule(assemble_text("long.s", LONG)).image
    result = run("golden", image, {}, [], max_cycles=70_000)
    assert isinstance(result.error, golden.CycleLimit) and result.cycles == 70_000


def test_long_run_progress_line(tmp_path, capsys, monkeypatch):
    """A run longer than PROGRESS_SECONDS of wall time reports cycles done of predicted on
    stderr (here the interval is 0, so every check reports); stdout stays the result."""
    src = tmp_path / "long.s"
    src.write_text(LONG)
    monkeypatch.setattr(golden, "PROGRESS_SECONDS", 0.0)
    rc, out, err = run_cli(capsys, "run", src)
    assert rc == 0 and out.count("\n") == 1
    line = re.compile(rf"{re.escape(str(src))}: golden: [0-9,]+ of {LONG_CYCLES:,} predicted "
                      r"cycles \([0-9]+%\)")
    lines = err.splitlines()
    assert len(lines) >= NOPS // 2 and all(line.fullmatch(t) for t in lines), err
    assert f": golden: 65,535 of {LONG_CYCLES:,} predicted cycles (0%)" in lines[0]


# Outputs: all or nothing

def outputs_untouched(tmp_path, before):
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert after == before  # nothing written, clobbered or left behind (no temporaries)


@pytest.mark.parametrize("bad", [
    ["--out", "y=NODIR/y2.npy"],
    ["--stats-json", "NODIR/stats.json"],
    ["--stats-json", "."],
    ["--timeline", "t.gif"],
    ["--out", "y=y.npy"],  # the same file twice
])
def test_outputs_all_or_nothing(tmp_path, capsys, gemv, bad):
    path, ins, _ = gemv
    (tmp_path / "y.npy").write_bytes(b"old y")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    bad = [a.replace("NODIR", str(tmp_path / "nodir")).replace("t.gif", str(tmp_path / "t.gif"))
           .replace("y=y.npy", f"y={tmp_path / 'y.npy'}") if a != "." else str(tmp_path)
           for a in bad]
    rc, _, err = run_cli(capsys, "run", path, *ins, "--out", f"y={tmp_path / 'y.npy'}",
                         "--stats-json", tmp_path / "s.json", *bad)
    assert rc == 1 and len(err.splitlines()) == 1 and "error: " in err, err
    outputs_untouched(tmp_path, before)


def test_failed_run_writes_nothing(tmp_path, capsys):
    src = tmp_path / "recv.s"
    src.write_text(".data y i8[16] MEM_W0:0\n.queue C2C_W\n@3 RECV 0, E0\n")
    (tmp_path / "y.npy").write_bytes(b"old y")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    rc, _, err = run_cli(capsys, "run", src, "--out", f"y={tmp_path / 'y.npy'}",
                         "--stats-json", tmp_path / "s.json")
    one_error(rc, err, "RECV on link 0: no vector arrived")
    outputs_untouched(tmp_path, before)


def test_system_outputs_all_or_nothing(tmp_path, capsys):
    image = tmp_path / "g2.lpxs"
    assert main(["kernel", "gemv", "--k", "32", "--n", "32", "--tiles", "2", "-o",
                 str(image)]) == 0
    (tmp_path / "y.npy").write_bytes(b"old y")
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    rc, _, err = run_cli(capsys, "run", image, "--out", f"y={tmp_path / 'y.npy'}",
                         "--stats-json", tmp_path / "nodir" / "s.json")
    one_error(rc, err, "--stats-json: cannot write there")
    outputs_untouched(tmp_path, before)
    rc, _, err = run_cli(capsys, "run", image, "--out", f"y={tmp_path / 'y.npy'}",
                         "--stats-json", tmp_path / "s.json")
    assert (rc, err) == (0, "")
    assert np.load(tmp_path / "y.npy").shape == (32,)


# --in files

def npy_header(shape, descr="<i1"):
    text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape!r}, }}"
    text += " " * (63 - len(text) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text.encode()


def write_case(tmp_path, kind):
    """A bad file for symbol x (i8[64]); returns its path and the phrase its error holds."""
    path = tmp_path / f"{kind}.npy"
    x = np.arange(64, dtype=np.int8)
    if kind == "empty":
        path.write_bytes(b"")
        return path, "an empty file"
    if kind == "devnull":
        return "/dev/null", "an empty file"
    if kind == "directory":
        return tmp_path, "a directory"
    if kind == "npz":
        np.savez(tmp_path / "a.npz", x=x)
        return tmp_path / "a.npz", "a .npz archive"
    if kind == "huge":  # 2^62 elements promised, no data: the header alone must refuse it
        path.write_bytes(npy_header((1 << 31, 1 << 31)))
        return path, "x has shape (64,), the file holds (2147483648, 2147483648)"
    if kind == "absurd":
        path.write_bytes(npy_header((10 ** 300,)))
        return path, "x has shape (64,), the file holds a shape no symbol has"
    if kind == "truncated":
        np.save(path, x)
        path.write_bytes(path.read_bytes()[:-10])
        return path, "truncated: the header promises 64 data bytes, the file holds 54"
    if kind == "trailing":
        np.save(path, x)
        path.write_bytes(path.read_bytes() + b"\0")
        return path, "more bytes than the 64"
    if kind == "pickled":
        np.save(path, np.array([object()] * 64), allow_pickle=True)
        return path, "the file holds Python objects"
    if kind == "header":
        path.write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': 1}   \n")
        return path, "a damaged .npy header"
    if kind == "short":
        path.write_bytes(b"\x93NUM")
        return path, "not a .npy array file"
    if kind == "version":
        path.write_bytes(b"\x93NUMPY\x09\x00")
        return path, "format version 9.0"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["empty", "devnull", "directory", "npz", "huge", "absurd",
                                  "truncated", "trailing", "pickled", "header", "short",
                                  "version"])
def test_bad_input_files(tmp_path, capsys, gemv, kind):
    path, _, _ = gemv
    bad, phrase = write_case(tmp_path, kind)
    rc, _, err = run_cli(capsys, "run", path, "--in", f"x={bad}")
    one_error(rc, err, f"{bad}: error: ")
    assert phrase in err, err


def test_accepted_input_layouts(tmp_path, capsys, gemv):
    """Big-endian, Fortran-order and format-2.0 files of the right type and shape load as the
    same numbers (the tile's layout is little-endian; loading converts)."""
    path, _, want = gemv
    x, w = np.load(tmp_path / "x.npy"), np.load(tmp_path / "w.npy")
    np.save(tmp_path / "wf.npy", np.asfortranarray(w))
    with open(tmp_path / "x2.npy", "wb") as f:
        np.lib.format.write_array(f, x, version=(2, 0))
    rc, _, err = run_cli(capsys, "run", path, "--in", f"x={tmp_path / 'x2.npy'}",
                         "--in", f"w={tmp_path / 'wf.npy'}", "--out", f"y={tmp_path / 'y.npy'}")
    assert (rc, err) == (0, "")
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), want)
    src = tmp_path / "wide.s"
    src.write_text(".data a i32[16] MEM_W0:0\n.data b i16[16] MEM_W1:0\n.queue VXM.0\nNOP 1\n")
    a = (np.arange(16) * -123_456_789).astype(">i4")
    b = (np.arange(16) * -1000).astype(">i2")
    assert a.dtype.byteorder == b.dtype.byteorder == ">"
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    rc, _, err = run_cli(capsys, "run", src, "--in", f"a={tmp_path / 'a.npy'}", "--in",
                         f"b={tmp_path / 'b.npy'}", "--out", f"a={tmp_path / 'a2.npy'}",
                         "--out", f"b={tmp_path / 'b2.npy'}")
    assert (rc, err) == (0, "")
    a2, b2 = np.load(tmp_path / "a2.npy"), np.load(tmp_path / "b2.npy")
    assert a2.dtype == np.dtype("<i4") and b2.dtype == np.dtype("<i2")
    assert a2.tolist() == a.tolist() and b2.tolist() == b.tolist()


# Usage errors exit 1, --help 0

@pytest.mark.parametrize("argv", [
    ["run"],  # missing argument
    ["run", "x.s", "--bogus"],  # unknown option
    ["run", "x.s", "--backend"],  # option without its value
    ["frobnicate"],  # bad choice of command
    ["run", "x.s", "--max-cycles", "0"],
    ["run", "x.s", "--baud", "fast"],
])
def test_usage_errors_exit_1(capsys, argv):
    rc, out, err = run_cli(capsys, *argv)
    assert rc == 1 and out == ""
    assert err.startswith("usage: lpu") and "error: " in err, err


def test_help_exits_0(capsys):
    rc, out, _ = run_cli(capsys, "run", "--help")
    assert rc == 0 and "--max-cycles" in out


def test_usage_error_exit_status_of_the_command():
    proc = subprocess.run([sys.executable, "-m", "lpu.sw.cli", "run", "--bogus"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1 and "lpu run: error: " in proc.stderr


# Exact output paths

def test_out_and_timeline_paths_are_exact(tmp_path, capsys, gemv):
    path, ins, want = gemv
    rc, _, err = run_cli(capsys, "run", path, *ins, "--out", f"y={tmp_path / 'res.bin'}")
    one_error(rc, err, "--out y=FILE writes a .npy array: give a FILE.npy name")
    rc, _, err = run_cli(capsys, "run", path, *ins, "--timeline", tmp_path / "t")
    one_error(rc, err, "--timeline draws .png, .svg, .pdf files")
    assert sorted(os.listdir(tmp_path)) == ["gemv.s", "w.npy", "x.npy"]
    rc, _, err = run_cli(capsys, "run", path, *ins, "--out", f"y={tmp_path / 'r.npy'}",
                         "--timeline", tmp_path / "t.svg", "--stats-json", tmp_path / "stats")
    assert (rc, err) == (0, "")
    assert sorted(os.listdir(tmp_path)) == ["gemv.s", "r.npy", "stats", "t.svg", "w.npy",
                                            "x.npy"]
    assert b"<svg" in (tmp_path / "t.svg").read_bytes()[:400]
    np.testing.assert_array_equal(np.load(tmp_path / "r.npy"), want)
    rc, _, err = run_cli(capsys, "run", path, *ins, "--stats-json", "/dev/null")
    assert (rc, err) == (0, "")  # a device is written in place, not replaced
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "r.npy").stat().st_mode & 0o777 == 0o666 & ~umask
