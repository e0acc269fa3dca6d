"""Sources at the assembler's limits: literals of any length, programs the image format cannot
hold, and reports of thousands of errors. Each ends in located errors and exit 1, or assembles.

All cases go through the real command line entry point, ``lpu.sw.cli.main``.
"""

from __future__ import annotations

import time

import pytest

from lpu.sw.cli import main
from lpu.sw.errors import MAX_REPORTED

HUGE = "9" * 5000  # past Python's 4300-digit int() limit
LONG = "1" + "0" * 24  # 25 digits: past any field, short of the int() limit


def src(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def assemble(tmp_path, capsys, text: str):
    path = tmp_path / "prog.s"
    path.write_text(text)
    rc = main(["asm", str(path), "-o", str(tmp_path / "out.lpx")])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_one_error(tmp_path, rc, out, err, line, col, phrase):
    assert rc == 1, (rc, out, err[:300])
    assert "Traceback" not in err and out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err[:300]
    prefix = f"{tmp_path / 'prog.s'}:{line}:{col}: error: "
    assert lines[0].startswith(prefix), (prefix, lines[0][:300])
    assert phrase in lines[0], lines[0][:300]
    assert len(lines[0]) < 400  # the message quotes a long token cut short


# (id, line 2 of a source after ".queue MEM_W0.0" or a line-1 directive, the token to locate)
NUMBER_CASES = [
    ("operand", "    READ {n}, E0", "{n}"),
    ("cycle", "@{n} READ 0, E0", "{n}"),
    ("symbol-offset", "    READ x+{n}, E0", "x+{n}"),
    ("repeat-count", "    REPEAT {n}, 1, 0", "{n}"),
    ("negative", "    REPEAT -{n}, 1, 0", "-{n}"),
    ("hex-operand", "    READ 0x{n}, E0", "0x{n}"),
]
DIRECTIVE_CASES = [
    ("config-value", ".config lanes={n}", "{n}"),
    ("shape", ".data y i8[4, {n}] MEM_E0:0", "{n}"),
    ("placement-address", ".data y i8[4] MEM_E0:{n}", "{n}"),
    ("initial-value", ".data y i8[4] MEM_E0:0 = 1, {n}", "{n}"),
    ("mem-byte", ".mem MEM_E0:0 = {n}, 0, 0, 0", "{n}"),
]


@pytest.mark.parametrize("digits", [HUGE, LONG], ids=["5000-digits", "25-digits"])
@pytest.mark.parametrize(("line", "token"), [pytest.param(*c[1:], id=c[0])
                                             for c in NUMBER_CASES])
def test_long_number_in_queue(tmp_path, capsys, digits, line, token):
    text = line.format(n=digits)
    rc, out, err = assemble(tmp_path, capsys, src(".data x i8[16] MEM_W0:0", ".queue MEM_W0.0",
                                                  text))
    assert_one_error(tmp_path, rc, out, err, 3, text.index(token.format(n=digits)) + 1,
                     "number too large")


@pytest.mark.parametrize("digits", [HUGE, LONG], ids=["5000-digits", "25-digits"])
@pytest.mark.parametrize(("line", "token"), [pytest.param(*c[1:], id=c[0])
                                             for c in DIRECTIVE_CASES])
def test_long_number_in_directive(tmp_path, capsys, digits, line, token):
    text = line.format(n=digits)
    rc, out, err = assemble(tmp_path, capsys, src(text, ".queue MEM_E0.0", "    READ 0, W0"))
    assert_one_error(tmp_path, rc, out, err, 1, text.index(token.format(n=digits)) + 1,
                     "number too large")


@pytest.mark.parametrize("index", [HUGE, LONG, "32", "0032"])
def test_long_stream_index(tmp_path, capsys, index):
    rc, out, err = assemble(tmp_path, capsys, src(".queue MEM_W0.0", f"    READ 0, E{index}"))
    assert_one_error(tmp_path, rc, out, err, 2, 13, "does not exist")


def test_numbers_up_to_64_bits_parse(tmp_path, capsys):
    # Leading zeros and separators do not count; the value's range check speaks instead.
    rc, out, err = assemble(tmp_path, capsys, src(".queue MEM_W0.0", "    READ " + "0" * 30 + "1"
                                                  ", E0", "    NOP 0x" + "f" * 16))
    assert_one_error(tmp_path, rc, out, err, 3, 9, "immediate out of range")


def test_line_break_characters_in_a_message_are_escaped(tmp_path, capsys):
    # U+2028 separates lines for str.splitlines (and some terminals), not for the assembler.
    text = src(".data x i8[4] MEM_W0:0", ".queue MEM_W0.0", "    READ x+\u20285, E0")
    rc, out, err = assemble(tmp_path, capsys, text)
    assert_one_error(tmp_path, rc, out, err, 3, 10, "x+\\u20285 is past the end of x")


# Programs the image format could not hold: each count has a field of fixed width.

@pytest.mark.parametrize(("line", "col", "phrase"), [
    (".data x i8[" + ",".join(["1"] * 256) + "] MEM_E0:0", 11 + 2 * 255 + 1,
     "more than 255 dimensions"),
    (".data x i8[1] " + ", ".join(f"MEM_E0:{i}" for i in range(256)),
     len(".data x i8[1] " + "".join(f"MEM_E0:{i}, " for i in range(255))) + 1,
     "more than 255 placements"),
    (".data " + "x" * 256 + " i8[1] MEM_E0:0", 7, "at most 255"),
    (".data \u00e9t\u00e9 i8[1] MEM_E0:0", 7, "bad symbol name"),
], ids=["rank-256", "placements-256", "name-256-chars", "name-not-ascii"])
def test_symbol_the_image_cannot_hold(tmp_path, capsys, line, col, phrase):
    rc, out, err = assemble(tmp_path, capsys, src(line, ".queue MEM_E0.0", "    READ 0x10, W0"))
    assert_one_error(tmp_path, rc, out, err, 1, col, phrase)


def test_255_placements_fit(tmp_path, capsys):
    line = ".data x i8[1] " + ", ".join(f"MEM_E0:{i}" for i in range(255))
    rc, _, err = assemble(tmp_path, capsys, src(line, ".queue MEM_E0.0", "    READ 0x100, W0"))
    assert (rc, err) == (0, "")


def test_more_symbols_than_the_image_holds(tmp_path, capsys):
    # 32 MEM slices of 8192 words: room for 65536 one-word symbols, the image holds 65535.
    lines = [".config mem_slices=16"]
    lines += [f".data s{i} i8[1] MEM_E{i % 16}:{i // 16}" for i in range(65536)]
    start = time.perf_counter()
    rc, out, err = assemble(tmp_path, capsys, src(*lines, ".queue MEM_E0.1",
                                                  "    READ 0x1fff, W0"))
    assert time.perf_counter() - start < 20  # overlap checks are not quadratic
    assert_one_error(tmp_path, rc, out, err, 65537, 7, "more than 65535 symbols")


# Reports of many errors: the first MAX_REPORTED in source order, then a count, in linear time.

def test_thousands_of_errors_capped_and_fast(tmp_path, capsys):
    bad = 5000
    text = src(".config queue_words=8192", ".queue MEM_W0.0", *["@0 READ 0, E0"] * (bad + 1))
    start = time.perf_counter()
    rc, out, err = assemble(tmp_path, capsys, text)
    assert time.perf_counter() - start < 5
    assert rc == 1 and out == "" and "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == MAX_REPORTED + 1, lines[-3:]
    for k, line in enumerate(lines[:-1]):  # line 3 issues at 0; lines 4, 5, ... come late
        assert line.startswith(f"{tmp_path / 'prog.s'}:{k + 4}:1: error: unit issued twice")
    assert lines[-1] == f"... and {bad - MAX_REPORTED} more errors"


def test_thousands_of_unfed_reads_capped_and_fast(tmp_path, capsys):
    """Each "holds no value" error describes the nearest value, which scans every issue: the
    description is built only for the errors printed."""
    bad = 5000
    text = src(".config queue_words=8192", ".queue VXM.0", *["MOV.i8 E0, E1"] * bad)
    start = time.perf_counter()
    rc, out, err = assemble(tmp_path, capsys, text)
    assert time.perf_counter() - start < 5
    assert rc == 1 and out == "" and "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == MAX_REPORTED + 1, lines[-3:]
    assert "holds no value" in lines[0]
    assert lines[-1] == f"... and {bad - MAX_REPORTED} more errors"


def test_report_of_few_errors_has_no_count_line(tmp_path, capsys):
    text = src(".queue MEM_W0.0", *["@0 READ 0, E0"] * (MAX_REPORTED + 1))
    rc, _, err = assemble(tmp_path, capsys, text)
    assert rc == 1 and len(err.splitlines()) == MAX_REPORTED
    assert "more error" not in err


def test_queue_longer_than_the_tile_is_refused_before_scheduling(tmp_path, capsys):
    """A queue of more items than it has words is refused before its REPEATs are expanded
    (16,000 READ + REPEAT 255 would be 2 million issues to schedule)."""
    body = ["    READ 0, E0", "    REPEAT 255, 1, 0"] * 8000
    start = time.perf_counter()
    rc, out, err = assemble(tmp_path, capsys, src(".queue MEM_W0.0", *body))
    assert time.perf_counter() - start < 5
    assert_one_error(tmp_path, rc, out, err, 4098, 5,
                     "queue MEM_W0.0 needs at least 16000 instruction words; this tile holds 4096")
