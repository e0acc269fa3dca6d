"""Every bad assembler input ends in one ``FILE:LINE:COL: error: MESSAGE`` line and exit 1.

All cases go through the real command line entry point, ``lpu.sw.cli.main``. Each source is
written as a list of lines, so the expected LINE is the index in that list plus one, and the
expected COL is counted by hand on that line (columns count characters from 1).

Default tile positions, used by the schedule cases below (a value issued at cycle t by a slice
at position p with latency d is at position q in cycle t + d + |q - p|)::

    C2C_W 0, MXM_W 1, SXM_W 2, MEM_W1 3, MEM_W0 4, VXM 5, MEM_E0 6, MEM_E1 7, SXM_E 8, ...

Each MEM slice has one queue per bank, and a queue reads and writes only its own bank: on the
default tile (4096 words per bank) ``MEM_W0.0`` serves addresses 0x0..0xfff and ``MEM_W0.1``
0x1000..0x1fff; on the tiny tile (128 words) 0x0..0x7f and 0x80..0xff. Placements in ``.data``
and ``.mem`` still name the slice (``MEM_W0:0x1000`` is in bank 1 of MEM_W0).
"""

from __future__ import annotations

import random
import resource
import string
import subprocess
import sys
from pathlib import Path

import pytest

from lpu.sw.cli import main

EXAMPLES = Path(__file__).resolve().parents[1] / "sw" / "examples"
LIMIT = 16 << 20  # the assembler reads at most 16 MiB of source


def src(*lines: str) -> str:
    """Source text from lines: line k of the file is lines[k - 1]."""
    return "\n".join(lines) + "\n"


def run(tmp_path, capsys, text: str | bytes, name: str = "prog.s"):
    """Assemble ``text`` through the CLI; return (exit status, stdout, stderr)."""
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    rc = main(["asm", str(path), "-o", str(tmp_path / "out.lpx")])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_located(tmp_path, rc, out, err, line, col, phrase, name="prog.s"):
    """Exactly one error line, at FILE:LINE:COL, with the key phrase, exit 1, no traceback."""
    assert rc == 1, (rc, out, err)
    assert "Traceback" not in err
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    prefix = f"{tmp_path / name}:{line}:{col}: error: "
    assert lines[0].startswith(prefix), f"expected {prefix!r}, got {lines[0]!r}"
    assert phrase in lines[0]


# (id, source, LINE, COL, key phrase[, mark]). Each source has exactly one error.
PARSE_CASES = [
    # Mnemonics, directives, sections.
    ("unknown-mnemonic", src(".queue MEM_W0.0", "    FOO E0"), 2, 5, "unknown mnemonic 'FOO'"),
    ("unknown-mnemonic-after-cycle", src(".queue MEM_W0.0", "@3  FOO E0"), 2, 5,
     "unknown mnemonic"),
    ("unknown-directive", src(".queue MEM_W0.0", "    READ 0, E0", "  .bogus 1"), 3, 3,
     "unknown directive '.bogus'"),
    ("outside-queue", src(".config default", "    READ 0, E0"), 2, 5,
     "instruction outside a .queue section"),
    ("wrong-unit", src(".queue VXM.0", "    READ 0, E0"), 2, 5, "READ is a MEM instruction"),
    ("wrong-unit-mxm", src(".queue MXM_W.WGT", "    ABC W0, 0, 0"), 2, 5,
     "ABC is a MXM_ACT instruction"),
    ("too-few-operands", src(".queue MEM_W0.0", "    READ 0"), 2, 5, "takes 2 operand(s)"),
    ("too-many-operands", src(".queue MEM_W0.0", "    READ 0, E0, E1"), 2, 17,
     "takes 2 operand(s)"),
    ("empty-operand", src(".queue MEM_W0.0", "    READ , E0"), 2, 10, "missing operand addr"),
    ("missing-suffix", src(".queue VXM.0", "    ADD E0, E1, E2"), 2, 5, "type suffix"),
    ("bad-suffix", src(".queue VXM.0", "    MUL.f32 E0, E1, E2"), 2, 5, "not 'f32'"),
    ("suffix-on-untyped", src(".queue MEM_W0.0", "    READ.i8 0, E0"), 2, 5,
     "READ takes no type suffix"),
    ("cycle-not-a-number", src(".queue MEM_W0.0", "@x  READ 0, E0"), 2, 2,
     "expected a cycle number after '@'"),
    ("cycle-without-instruction", src(".queue MEM_W0.0", "  @4"), 2, 3,
     "'@cycle' needs an instruction"),
    # Stream operands.
    ("not-a-stream", src(".queue VXM.0", "    ADD.i8 X3, E1, E2"), 2, 12, "must be a stream"),
    ("stream-past-tile", src(".queue VXM.0", "    ADD.i8 E0, E8, E2"), 2, 16,
     "stream E8 does not exist"),
    ("i32-group-misaligned", src(".queue VXM.0", "    ADD.i32 E1, E4, E0"), 2, 13,
     "must start at a multiple of 4"),
    ("i16-group-misaligned", src(".queue VXM.0", "    ADD.i16 E0, E2, E5"), 2, 21,
     "must start at a multiple of 2"),
    ("group-past-last-stream", src(".queue MXM_W.WGT", "    LW 0, E6, 4"), 2, 11,
     "needs streams 6..9, past the last stream 7"),
    # Immediates.
    ("immediate-not-integer", src(".queue MEM_W0.0", "    NOP x"), 2, 9, "must be an integer"),
    ("nop-0", src(".queue MEM_W0.0", "    NOP 0"), 2, 9, "immediate out of range"),
    ("nop-65536", src(".queue MEM_W0.0", "    NOP 65536"), 2, 9, "immediate out of range"),
    ("repeat-n-0", src(".queue MEM_W0.0", "    READ 0, E0", "    REPEAT 0, 1, 0"), 3, 12,
     "REPEAT n = 0"),
    ("repeat-d-0", src(".queue MEM_W0.0", "    READ 0, E0", "    REPEAT 1, 0, 0"), 3, 15,
     "REPEAT d = 0"),
    ("repeat-stride-128", src(".queue MEM_W0.0", "    READ 0, E0", "    REPEAT 1, 1, 128"), 3, 18,
     "REPEAT stride = 128"),
    ("transpose-two-lanes", src(".config lanes=2", ".queue SXM_W", "    TRANSPOSE E0, E4"), 3, 5,
     "TRANSPOSE needs at least 4 lanes; this tile has 2"),
    ("shift-64", src(".queue SXM_W", "    SHIFT.i8 E0, E1, 64"), 2, 22, "SHIFT n = 64"),
    ("shift-minus-65", src(".queue SXM_W", "    SHIFT.i8 E0, E1, -65"), 2, 22,
     "SHIFT n = -65"),
    # Bank 1 is the last bank: 0x2000 (0x100 on the tiny tile) is one word past its end and MEM's.
    ("read-past-mem", src(".queue MEM_W0.1", "    READ 0x2000, E0"), 2, 10,
     "READ addr = 8192, this tile allows 0..8191"),
    ("read-past-mem-tiny", src(".config tiny", ".queue MEM_W0.1", "    READ 0x100, E0"), 3, 10,
     "this tile allows 0..255"),
    # A MEM queue serves one bank.
    ("read-other-bank", src(".queue MEM_W0.0", "    READ 0x1000, E0"), 2, 10,
     "address 0x1000 is in bank 1; queue MEM_W0.0 serves bank 0 (0x0..0xfff)"),
    ("read-other-bank-from-bank-1", src(".queue MEM_W0.1", "    READ 0xfff, E0"), 2, 10,
     "address 0xfff is in bank 0; queue MEM_W0.1 serves bank 1 (0x1000..0x1fff)"),
    ("write-other-bank-tiny", src(".config tiny", ".queue MEM_E0.0", "@3  WRITE  0x80, W1"), 3, 12,
     "address 0x80 is in bank 1; queue MEM_E0.0 serves bank 0 (0x0..0x7f)"),
    ("lw-row-lanes", src(".queue MXM_W.WGT", "    LW 16, W0, 1"), 2, 8,
     "LW row = 16, this tile allows 0..15"),
    ("lw-n-past-streams", src(".queue MXM_W.WGT", "    LW 0, W0, 9"), 2, 15,
     "LW n = 9, this tile allows 1..8"),
    ("accum-mode-3", src(".queue VXM.0", "    ACCUM.i8 E0, E1, 3"), 2, 22,
     "ACCUM mode = 3 is illegal"),
    ("abc-acc-4", src(".queue MXM_W.ACT", "    ABC W0, 4, 0"), 2, 13, "ABC acc = 4"),
    ("recv-link-1", src(".queue C2C_W", "    RECV 1, E0"), 2, 10, "this tile allows 0..0"),
    # Symbols and data.
    ("undefined-symbol", src(".queue MEM_W0.0", "    READ x, E0"), 2, 10, "undefined symbol 'x'"),
    ("duplicate-symbol", src(".data x i8[16] MEM_W0:0x0", ".data x i8[16] MEM_W0:0x10"), 2, 7,
     "duplicate symbol 'x'"),
    ("symbol-not-in-slice",
     src(".data x i8[16] MEM_E0:0x0", ".queue MEM_W0.0", "    READ x, E0"), 3, 10,
     "symbol 'x' has no placement in MEM_W0"),
    ("symbol-in-other-bank",
     src(".data x i8[16] MEM_W0:0x1000", ".queue MEM_W0.0", "    READ x, E0"), 3, 10,
     "address 0x1000 is in bank 1; queue MEM_W0.0 serves bank 0 (0x0..0xfff)"),
    # x takes words 0xfff (bank 0) and 0x1000 (bank 1): x+1 crosses into bank 1.
    ("symbol-offset-into-other-bank",
     src(".data x i8[32] MEM_W0:0xfff", ".queue MEM_W0.0", "    WRITE x+1, E0"), 3, 11,
     "address 0x1000 is in bank 1; queue MEM_W0.0 serves bank 0"),
    ("symbol-offset-past-end",
     src(".data x i8[32] MEM_W0:0x0", ".queue MEM_W0.0", "    READ x+2, E0"), 3, 10,
     "past the end of x"),
    ("overlapping-symbols", src(".data x i8[32] MEM_W0:0x0", ".data y i8[16] MEM_W0:0x1"), 2, 16,
     "overlaps x"),
    ("symbol-past-mem", src(".data x i8[32] MEM_W0:0x1fff"), 1, 16, "past the last address"),
    ("unknown-data-type", src(".data x f32[4] MEM_W0:0"), 1, 9, "unknown type 'f32'"),
    ("placement-not-mem", src(".data x i8[4] VXM:0x0"), 1, 15, "expected a placement"),
    ("mem-byte-256", src(".mem MEM_W0:0x0 = 256"), 1, 19, "expected a byte 0..255"),
    # Sections and configuration.
    ("duplicate-queue", src(".queue MEM_W0.0", "    READ 0, E0", ".queue MEM_W0.0"), 3, 8,
     "queue MEM_W0.0 already has a section"),
    ("unknown-queue", src(".queue MEM_W9.0", "    READ 0, E0"), 1, 8, "unknown queue 'MEM_W9.0'"),
    # A MEM slice name without its bank is no queue, nor is a third bank.
    ("unknown-queue-slice-without-bank", src(".queue MEM_W0", "    READ 0, E0"), 1, 8,
     "unknown queue 'MEM_W0';"),
    ("unknown-queue-bank-2", src(".queue MEM_W0.2", "    READ 0, E0"), 1, 8,
     "unknown queue 'MEM_W0.2';"),
    ("config-unknown-key", src(".config foo=1", ".queue MEM_W0.0"), 1, 9,
     "unknown config parameter 'foo'"),
    ("config-value-not-integer", src(".config lanes=x", ".queue MEM_W0.0"), 1, 15,
     "config lanes needs an integer"),
    ("config-bad-value", src(".config lanes=5", ".queue MEM_W0.0"), 1, 9,
     "lanes must be 2, 4, 8, 16, 32 or 64"),
    ("config-unknown-preset", src(".config huge", ".queue MEM_W0.0"), 1, 9,
     "unknown config 'huge'"),
    ("config-empty", src(".config", ".queue MEM_W0.0"), 1, 8, "needs a preset name"),
    ("config-after-data", src(".data x i8[16] MEM_W0:0x0", ".config default"), 2, 1,
     ".config must come before"),
]

SCHEDULE_CASES = [
    # (1) Two producers load one stream register at the end of one cycle.
    ("two-alus-one-stream",
     src(".queue VXM.0", "    CONST.i8 E0, 1", ".queue VXM.1", "    CONST.i8 E0, 2"), 4, 14,
     "two producers on one stream register"),
    # MEM_W0 puts E0 at the VXM in cycles 2 and 3; MUL @2 (latency 2) and ADD @3 (latency 1)
    # both load E2 at the end of cycle 4.
    ("mul-and-add-finish-together",
     src(".queue MEM_W0.0", "    READ 0, E0", "    REPEAT 1, 1, 0",
         ".queue VXM.0", "@2  MUL.i8 E0, E0, E2", "    ADD.i8 E0, E0, E2"), 6, 20,
     "E2 at VXM is written at the end of cycle 4"),
    # (2) READ @0 at MEM_W0 (4), latency 1, one hop: at the VXM (5) in cycle 2 only.
    ("consumer-one-cycle-early",
     src(".queue MEM_W0.0", "    READ 0, E0", ".queue VXM.0", "@1  MOV.i8 E0, E1"), 4, 12,
     "stream E0 holds no value at VXM in cycle 1"),
    ("consumer-one-cycle-late",
     src(".queue MEM_W0.0", "    READ 0, E0", ".queue VXM.0", "@3  MOV.i8 E0, E1"), 4, 12,
     "arrives in cycle 2"),
    ("consumer-upstream-of-producer",
     src(".queue MEM_E0.0", "    READ 0, E0", ".queue VXM.0", "@2  MOV.i8 E0, E1"), 4, 12,
     "nothing writes this stream upstream"),
    # (3) A unit issued twice in one cycle.
    ("unit-issued-twice", src(".queue MEM_W0.0", "@0  READ 0, E0", "@0  READ 1, E1"), 3, 1,
     "unit issued twice in one cycle"),
    ("cycle-inside-repeat",
     src(".queue MEM_W0.0", "    READ 0, E0", "    REPEAT 3, 1, 1", "@3  READ 8, E1"), 4, 1,
     "busy through cycle 3"),
    ("two-tile-freezes", src(".queue C2C_W", "    DESKEW", ".queue C2C_E", "    DESKEW"), 4, 5,
     "the tile freeze is already issued in cycle 0"),
    # (4) MEM_W1 (3) puts E0 at MEM_W0 (4) in cycle 2; WRITE @2 writes the queue's bank in
    # cycle 3, when the queue's next READ issues.
    ("bank-read-and-written",
     src(".queue MEM_W1.0", "    READ 0, E0", ".queue MEM_W0.0", "@2  WRITE 0, E0",
         "    READ 1, E1"), 5, 10,
     "MEM bank read and written in one cycle: the bank of MEM_W0.0 in cycle 3"),
    ("bank-1-read-and-written",
     src(".queue MEM_W1.0", "    READ 0, E0", ".queue MEM_W0.1", "@2  WRITE 0x1000, E0",
         "    READ 0x1001, E1"), 5, 10,
     "MEM bank read and written in one cycle: the bank of MEM_W0.1 in cycle 3"),
    # CONST.i8 @0 and CONST.i16 @1 at the VXM (5) reach MEM_E0 (6) in cycles 2 and 3; WRITE @2
    # writes the bank in cycle 3, when GATHER reads it.
    ("gather-after-write-same-bank",
     src(".queue VXM.0", "    CONST.i8 E2, 1", ".queue VXM.1", "@1  CONST.i16 E0, 5",
         ".queue MEM_E0.0", "@2  WRITE 0, E2", "    GATHER E0, E3"), 7, 12,
     "MEM bank read and written in one cycle: the bank of MEM_E0.0 in cycle 3"),
    ("sync-never-released", src(".queue MEM_W0.0", "    SYNC"), 2, 5, "is never released"),
    # MEM_W1 (3) puts W2 at MXM_W (1) in cycle 3; ABC @3 is ready for an ACC @5, not @4.
    ("acc-before-abc-ready",
     src(".queue MEM_W1.0", "    READ 0, W2", ".queue MXM_W.ACT", "@3  ABC W2, 0, 0",
         "    ACC 0, E0"), 5, 9, "accumulator 0 is not ready"),
    ("repeat-after-icu", src(".queue MEM_W0.0", "    NOP 1", "    REPEAT 1, 1, 0"), 3, 5,
     "REPEAT must follow a unit instruction"),
    ("repeat-at-queue-start", src(".queue MEM_W0.0", "    REPEAT 1, 1, 0"), 2, 5,
     "REPEAT must follow a unit instruction"),
    ("repeat-with-cycle", src(".queue MEM_W0.0", "    READ 0, E0", "@5  REPEAT 1, 1, 0"), 3, 1,
     "REPEAT cannot take '@cycle'"),
    ("repeat-stride-without-step",
     src(".queue VXM.0", "    CONST.i8 E0, 1", "    REPEAT 1, 1, 1"), 3, 18,
     "CONST has no field a REPEAT stride can step"),
    ("repeat-steps-past-mem", src(".queue MEM_W0.1", "    READ 0x1fff, E0", "    REPEAT 1, 1, 1"),
     3, 18, "REPEAT steps READ addr to 8192, outside 4096..8191"),
    ("repeat-steps-into-other-bank",
     src(".queue MEM_W0.0", "    READ 0xfff, E0", "    REPEAT 1, 1, 1"), 3, 18,
     "REPEAT steps READ addr to 4096, outside 0..4095"),
    ("repeat-steps-below-zero", src(".queue MEM_W0.0", "    READ 0, E0", "    REPEAT 2, 1, -1"),
     3, 18, "REPEAT steps READ addr to -1, outside 0..4095"),
    ("repeat-steps-below-bank",
     src(".queue MEM_W0.1", "    READ 0x1000, E0", "    REPEAT 2, 1, -1"), 3, 18,
     "REPEAT steps READ addr to 4095, outside 4096..8191"),
    ("repeat-steps-into-other-bank-tiny",
     src(".config tiny", ".queue MEM_E0.0", "    READ 0x7e, W0", "    REPEAT 2,1,1"), 4, 16,
     "REPEAT steps READ addr to 128, outside 0..127"),
    # CONST @0 at the VXM (5) puts W0 at MXM_W (1) in cycle 0 + 1 + 4.
    ("repeat-steps-lw-row",
     src(".queue VXM.0", "    CONST.i8 W0, 1", ".queue MXM_W.WGT", "@5  LW 14, W0, 1",
         "    REPEAT 1, 1, 2"), 5, 18, "REPEAT steps LW row to 16"),
    ("unreachable-after-halt", src(".queue MEM_W0.0", "    HALT", "    READ 0, E0"), 3, 5,
     "unreachable instruction after HALT"),
    # 20_000_000 idle cycles lower to 306 NOP words; the tiny tile's queues hold 256.
    ("queue-too-long", src(".config tiny", ".queue MEM_W0.0", "@20000000 READ 0, E0"), 3, 1,
     "queue MEM_W0.0 holds 256"),
]


@pytest.mark.parametrize(("text", "line", "col", "phrase"),
                         [pytest.param(*c[1:5], id=c[0], marks=c[5:])
                          for c in PARSE_CASES + SCHEDULE_CASES])
def test_located_error(tmp_path, capsys, text, line, col, phrase):
    rc, out, err = run(tmp_path, capsys, text)
    assert_located(tmp_path, rc, out, err, line, col, phrase)


def test_schedule_errors_one_line_each_in_source_order(tmp_path, capsys):
    text = src(".queue MEM_W0.0", "    READ 0, E0",
               ".queue VXM.0", "@1  MOV.i8 E0, E1",  # one cycle early
               ".queue VXM.1", "    CONST.i8 W0, 1",
               ".queue VXM.2", "    CONST.i8 W0, 2")  # same register, same cycle as line 6
    rc, out, err = run(tmp_path, capsys, text)
    assert rc == 1
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 2, err
    assert lines[0].startswith(f"{tmp_path / 'prog.s'}:4:12: error: stream E0 holds no value")
    assert lines[1].startswith(f"{tmp_path / 'prog.s'}:8:14: error: two producers")


# File-level input.

@pytest.mark.parametrize(("data", "line", "col", "phrase"), [
    pytest.param(b"", 1, 1, "empty file", id="empty"),
    pytest.param(b"  \n\t\r\n   \n", 1, 1, "empty file", id="whitespace-only"),
    pytest.param(b"; just a comment\n", 1, 1, "no .queue section", id="comment-only"),
    pytest.param(b".queue MEM_W0.0\n    READ 0, E0\n  \x00\x01\x02\n", 3, 3,
                 "not a text file: byte 0x00 at offset 33", id="binary-nul"),
    pytest.param(b"\x7fELF\x02\x01\x01\x00\x00\x00", 1, 8, "byte 0x00", id="binary-elf-header"),
    pytest.param(b".queue MEM_W0.0\n    READ 0, E0 ; caf\xe9\n", 2, 21, "byte 0xe9",
                 id="latin1-not-utf8"),
    pytest.param(b"\xff\xfe;\x00 \x00", 1, 1, "byte 0xff", id="utf16-bom"),
])
def test_file_level_error(tmp_path, capsys, data, line, col, phrase):
    rc, out, err = run(tmp_path, capsys, data)
    assert_located(tmp_path, rc, out, err, line, col, phrase)


def test_file_over_size_limit(tmp_path, capsys):
    data = random.Random(1).randbytes(LIMIT + 1)
    rc, out, err = run(tmp_path, capsys, data)
    assert_located(tmp_path, rc, out, err, 1, 1, f"file is {LIMIT + 1} bytes")


def test_file_over_size_limit_reports_real_size(tmp_path, capsys):
    size = LIMIT + 4096
    rc, out, err = run(tmp_path, capsys, random.Random(2).randbytes(size))
    assert_located(tmp_path, rc, out, err, 1, 1, f"file is {size} bytes")


def test_file_at_size_limit_is_accepted(tmp_path, capsys):
    head = src(".queue MEM_W0.0", "    READ 0, E0") + "; "
    data = head.encode() + b"x" * (LIMIT - len(head) - 1) + b"\n"
    assert len(data) == LIMIT
    rc, _, err = run(tmp_path, capsys, data)
    assert (rc, err) == (0, "")


@pytest.mark.parametrize("seed", range(5))
def test_printable_garbage(tmp_path, capsys, seed):
    rng = random.Random(seed)
    text = "".join(rng.choice(string.printable) for _ in range(4000))
    rc, out, err = run(tmp_path, capsys, text)
    assert rc == 1
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    where, sep, _ = lines[0].partition(": error: ")
    assert sep
    path, line, col = where.rsplit(":", 2)
    assert path == str(tmp_path / "prog.s")
    assert int(line) >= 1
    assert int(col) >= 1


TOKENS = [".queue MEM_W0.0\n", ".queue MEM_W0.1\n", ".queue VXM.0\n",
          ".data x i8[16] MEM_W0:0x0\n", ".mem", ".config",
          "READ", "WRITE", "ADD.i8", "REPEAT", "NOP", "LW", "@", "@3", "E0", "W1", "x", "x+1",
          "0x", "0b", "07", "1", "-", "_", "+", "=", ",", ":", "[", "]", ";", " ", "  ", "\t",
          "\n", "\n"]


def test_token_soup_never_crashes(tmp_path, capsys):
    for seed in range(300):
        rng = random.Random(seed)
        text = "".join(rng.choice(TOKENS) for _ in range(rng.randrange(1, 40)))
        rc, _, err = run(tmp_path, capsys, text)
        assert rc in (0, 1)
        assert rc == 0 or err.startswith(f"{tmp_path / 'prog.s'}:"), (seed, text, err)


def test_missing_file(tmp_path, capsys):
    path = tmp_path / "missing.s"
    rc = main(["asm", str(path)])
    out, err = capsys.readouterr()
    assert rc == 1
    assert out == ""
    assert err.splitlines() == [f"{path}: error: No such file or directory"]


def test_directory_as_source(tmp_path, capsys):
    rc = main(["asm", str(tmp_path)])
    _, err = capsys.readouterr()
    assert rc == 1
    assert "Traceback" not in err
    assert err.splitlines() == [f"{tmp_path}: error: Is a directory"]


# Inputs that crash or mislocate today. Each test states the correct behaviour.

@pytest.mark.parametrize(("line2", "cols"), [
    pytest.param("    @", (5, 6), id="at-alone"),
    pytest.param("@ 3 READ 0, E0", (1, 2), id="at-space-cycle"),
])
def test_bare_at_sign(tmp_path, capsys, line2, cols):
    rc, _, err = run(tmp_path, capsys, src(".queue MEM_W0.0", line2))
    assert rc == 1
    assert "Traceback" not in err
    assert any(err.startswith(f"{tmp_path / 'prog.s'}:2:{c}: error: ") for c in cols), err


@pytest.mark.parametrize("tok", ["0x_", "0b_", "-0x__"])
def test_empty_prefixed_number(tmp_path, capsys, tok):
    rc, out, err = run(tmp_path, capsys, src(".queue MEM_W0.0", f"    NOP {tok}"))
    assert_located(tmp_path, rc, out, err, 2, 9, "must be an integer")


def test_leading_zero_decimal(tmp_path, capsys):
    rc, out, err = run(tmp_path, capsys, src(".queue MEM_W0.0", "    NOP 007"))
    # Either reading it as 7 or a located error on the operand is fine; a traceback is not.
    if rc != 0:
        assert_located(tmp_path, rc, out, err, 2, 9, "007")


@pytest.mark.parametrize("char", ["\x0b", "\x0c", "\x1d", "\x85", "\u2028"],
                         ids=["vt", "ff", "gs", "nel", "ls"])
def test_line_numbers_count_only_newlines(tmp_path, capsys, char):
    text = src(f"; page {char} break", ".queue MEM_W0.0", "    FOO E0")
    rc, out, err = run(tmp_path, capsys, text)
    assert_located(tmp_path, rc, out, err, 3, 5, "unknown mnemonic 'FOO'")


@pytest.mark.parametrize("text", [
    pytest.param(src(".queue MEM_W0.0", "\tREAD\t0, E0"), id="mnemonic-tab"),
    pytest.param(src(".queue\tMEM_W0.0", "    READ 0, E0"), id="directive-tab"),
])
def test_tab_separates_fields(tmp_path, capsys, text):
    rc, _, err = run(tmp_path, capsys, text)
    assert (rc, err) == (0, "")


def test_config_bad_value_located_at_its_key(tmp_path, capsys):
    rc, out, err = run(tmp_path, capsys, src(".config streams=8 lanes=5", ".queue MEM_W0.0"))
    assert_located(tmp_path, rc, out, err, 1, 19, "lanes must be")


def test_symbol_placements_overlap_each_other(tmp_path, capsys):
    text = src(".data x i8[32] MEM_W0:0x0, MEM_W0:0x0", ".queue MEM_W0.0", "    READ x, E0")
    rc, _, err = run(tmp_path, capsys, text)
    # Either placement is a fair place to point at.
    assert rc == 1
    assert any(err.startswith(f"{tmp_path / 'prog.s'}:1:{c}: error: ") for c in (16, 28)), err
    assert "overlaps" in err


def test_huge_cycle_number(tmp_path):
    # Run in a child with a memory cap: the bug allocates without bound.
    path = tmp_path / "prog.s"
    path.write_text(src(".queue MEM_W0.0", "@1000000000000000 READ 0, E0"))

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (384 << 20, 384 << 20))

    proc = subprocess.run([sys.executable, "-m", "lpu.sw.cli", "asm", str(path), "-o",
                           str(tmp_path / "out.lpx")], capture_output=True, text=True,
                          timeout=60, preexec_fn=cap)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"{path}:2:"), proc.stderr


# Programs that must assemble.

@pytest.mark.parametrize("name", ["vadd.s", "gemv16.s"])
def test_example_assembles(tmp_path, capsys, name):
    rc = main(["asm", str(EXAMPLES / name), "-o", str(tmp_path / "out.lpx")])
    out, err = capsys.readouterr()
    assert (rc, err) == (0, "")
    assert "wrote" in out
    assert (tmp_path / "out.lpx").read_bytes().startswith(b"LPX\x1a")


def test_summary_goes_to_current_stdout(tmp_path, capsys):
    rc = main(["asm", str(EXAMPLES / "vadd.s"), "-o", str(tmp_path / "out.lpx"), "--listing"])
    out, _ = capsys.readouterr()
    assert rc == 0
    assert "predicted cycles: 10" in out


def test_vadd_listing_follows_timing_model(tmp_path):
    # A child process: the listing bypasses capsys (see test_summary_goes_to_current_stdout).
    proc = subprocess.run([sys.executable, "-m", "lpu.sw.cli", "asm", str(EXAMPLES / "vadd.s"),
                           "-o", str(tmp_path / "out.lpx"), "--listing"],
                          capture_output=True, text=True, timeout=60, check=True)
    lines = proc.stdout.splitlines()
    issues = [line.split()[:3] for line in lines if line[:7].strip().isdigit()]
    # READ @0 at MEM_W0 (4) reaches the VXM (5) in cycle 0 + 1 + 1; the ADD @2 reaches
    # MEM_E1 (7) in cycle 2 + 1 + 2.
    assert ["2", "VXM.0", "ADD.i8"] in issues
    assert ["5", "MEM_E1.0", "WRITE"] in issues
    add = next(line for line in lines if " VXM.0 " in line)
    assert "E0 from MEM_W0.0 READ @0" in add
    assert "W0 from MEM_E0.0 READ @0" in add
    assert "predicted cycles: 10" in proc.stdout


@pytest.mark.parametrize("text", [
    pytest.param(src(".queue MEM_W0.0", "    READ 0, E0", ".queue VXM.0", "@2  MOV.i8 E0, E1"),
                 id="consumer-on-time"),
    # MEM_W0.0 writes bank 0 in cycle 3; MEM_W0.1 reads bank 1 in that cycle.
    pytest.param(src(".queue MEM_W1.0", "    READ 0, E0", ".queue MEM_W0.0", "@2  WRITE 0, E0",
                     ".queue MEM_W0.1", "@3  READ 0x1000, E1"), id="other-bank-after-write"),
    # GATHER in MEM_E0.1 reads bank 1 in cycle 3 while MEM_E0.0 writes bank 0.
    pytest.param(src(".queue VXM.0", "    CONST.i8 E2, 1", ".queue VXM.1", "@1  CONST.i16 E0, 5",
                     ".queue MEM_E0.0", "@2  WRITE 0, E2", ".queue MEM_E0.1", "@3  GATHER E0, E3"),
                 id="gather-other-bank-after-write"),
    # One slice reads both of its banks in one cycle.
    pytest.param(src(".queue MEM_W0.0", "@0  READ 0, E0", ".queue MEM_W0.1", "@0  READ 0x1000, E1"),
                 id="both-banks-one-cycle"),
    pytest.param(src(".queue MEM_W1.0", "    READ 0, W2", ".queue MXM_W.ACT", "@3  ABC W2, 0, 0",
                     "@5  ACC 0, E0"), id="acc-when-ready"),
    pytest.param(src(".queue MEM_W0.0", "    READ 0xffe, E0", "    REPEAT 1, 1, 1"),
                 id="repeat-to-last-address-of-bank-0"),
    pytest.param(src(".queue MEM_W0.1", "    READ 0x1ffe, E0", "    REPEAT 1, 1, 1"),
                 id="repeat-to-last-address"),
    pytest.param(src(".queue MEM_W0.1", "    READ 0x1001, E0", "    REPEAT 1, 1, -1"),
                 id="repeat-down-to-first-address-of-bank-1"),
    pytest.param(src(".queue MEM_W0.0", "    SYNC", "    READ 0, E0", ".queue VXM.0", "@4  NOTIFY"),
                 id="sync-released"),
    pytest.param(src(".data x i8[32] MEM_W0:0x0", ".queue MEM_W0.0", "    READ x + 1, E0"),
                 id="symbol-plus-offset"),
    pytest.param(src(".data x i8[32] MEM_W0:0x1000", ".queue MEM_W0.1", "    READ x + 1, E0"),
                 id="symbol-in-bank-1"),
])
def test_valid_program(tmp_path, capsys, text):
    rc, _, err = run(tmp_path, capsys, text)
    assert (rc, err) == (0, "")
