"""The .lpx reader accepts exactly the images the assembler writes.

Each case below is an image with a valid CRC and sections that decode, written by an encoder
of the layout in ``docs/programming.md`` kept here (independent of ``sw/image.py``), holding
something the assembler never writes: ``lpu asm`` and ``lpu disasm`` must refuse it with one
``FILE: error: corrupt image...`` line. Before the reader checked these, such images
disassembled to text the assembler refused, or that reassembled to other bytes.
"""

from __future__ import annotations

import struct
import zlib

import pytest

from lpu.sw.cli import main
from lpu.sw.config import TileConfig
from lpu.sw.isa import BY_MNEMONIC, encode

TINY = TileConfig.named("tiny")  # 128 words per bank: addresses 0..0xff per MEM slice
HALT = 0
READ_0x10 = encode(BY_MNEMONIC["READ"], {"addr": 0x10, "z": 0})
REPEAT = encode(BY_MNEMONIC["REPEAT"], {"n": 1, "d": 1, "stride": 0})
SYNC = encode(BY_MNEMONIC["SYNC"], {})


def name(s: str) -> bytes:
    b = s.encode()
    return bytes([len(b)]) + b


def image(conf=None, queues=None, segments=(), symbols=(("s", 0, (4,), (("MEM_W0", 0x10),)),),
          config=TINY) -> bytes:
    """An image: conf [(key, value)], queues {name: words} (others: one HALT), segments
    [(slice, addr, bytes)], symbols [(name, dtype code, shape, [(slice, addr)])]."""
    conf = list(config.as_dict().items()) if conf is None else conf
    words = {q.name: [HALT] for q in config.queues}
    words["MEM_W0.0"] = [READ_0x10, HALT]
    words.update(queues or {})
    c = struct.pack("<H", len(conf)) + b"".join(name(k) + struct.pack("<I", v) for k, v in conf)
    q = struct.pack("<H", len(words)) + b"".join(
        name(n) + struct.pack(f"<I{len(w)}I", len(w), *w) for n, w in words.items())
    d = struct.pack("<I", len(segments)) + b"".join(
        name(sl) + struct.pack("<II", a, len(b) // config.lanes) + b for sl, a, b in segments)
    s = struct.pack("<H", len(symbols))
    for n, dt, shape, places in symbols:
        s += name(n) + struct.pack(f"<BB{len(shape)}I", dt, len(shape), *shape)
        s += bytes([len(places)]) + b"".join(name(sl) + struct.pack("<I", a) for sl, a in places)
    body = b"LPX\x1a" + struct.pack("<HH", 1, 0)
    for tag, payload in ((b"CONF", c), (b"QUEU", q), (b"DATA", d), (b"SYMB", s)):
        body += tag + struct.pack("<I", len(payload)) + payload
    body += b"END "
    return body + struct.pack("<I", zlib.crc32(body))


def cli(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


WORD = bytes(range(4))  # one MEM word of the tiny tile
CONF = list(TINY.as_dict().items())
PLACE = (("MEM_W0", 0x10),)

# (id, image, key phrase of the error)
CASES = [
    ("rank-0-symbol", image(symbols=[("s", 0, (), PLACE)]), "rank 0"),
    ("name-with-space", image(symbols=[("a b", 0, (4,), PLACE)]), "bad symbol name"),
    ("name-starts-with-digit", image(symbols=[("1x", 0, (4,), PLACE)]), "bad symbol name"),
    ("name-empty", image(symbols=[("", 0, (4,), PLACE)]), "bad symbol name"),
    ("name-not-ascii", image(symbols=[("\u00e9", 0, (4,), PLACE)]), "bad symbol name"),
    ("duplicate-symbol", image(symbols=[("s", 0, (4,), PLACE), ("s", 0, (4,), (("MEM_E0", 0),))]),
     "a second symbol"),
    ("overlapping-symbols", image(symbols=[("s", 0, (4,), PLACE), ("t", 0, (4,), PLACE)]),
     "overlaps s"),
    ("symbol-overlaps-itself", image(symbols=[("s", 0, (12,), (("MEM_W0", 0), ("MEM_W0", 1)))]),
     "overlaps itself"),
    ("empty-placement-past-mem", image(symbols=[("s", 0, (4,), (("MEM_W0", 0), ("MEM_W0", 256)))]),
     "outside MEM"),
    ("no-placement", image(symbols=[("s", 0, (4,), ())]), "no placement"),
    ("config-key-missing", image(conf=CONF[:-1]), "bad tile config"),
    ("config-key-twice", image(conf=CONF + CONF[-1:]), "bad tile config"),
    ("config-keys-reordered", image(conf=CONF[1:] + CONF[:1]), "bad tile config"),
    ("queue-without-halt", image(queues={"MEM_W0.0": [READ_0x10]}), "HALT"),
    ("queue-empty", image(queues={"VXM.0": []}), "HALT"),
    ("halt-twice", image(queues={"VXM.0": [HALT, HALT]}), "HALT"),
    ("word-after-halt", image(queues={"MEM_W0.0": [HALT, READ_0x10, HALT]}), "HALT"),
    ("repeat-first", image(queues={"MEM_W0.0": [REPEAT, HALT]}), "do not schedule"),
    ("sync-never-released", image(queues={"VXM.0": [SYNC, HALT]}), "do not schedule"),
    ("segments-unsorted", image(segments=[("MEM_W0", 0, WORD), ("MEM_E0", 0, WORD)]),
     "sorted"),
    ("segments-not-merged", image(segments=[("MEM_E0", 0, WORD), ("MEM_E0", 1, WORD)]),
     "merged"),
    ("segments-overlap", image(segments=[("MEM_E0", 0, WORD * 2), ("MEM_E0", 1, WORD)]),
     "merged"),
    ("segment-of-no-words", image(segments=[("MEM_E0", 0, b"")]), "no words"),
    ("line-break-in-a-name", image(segments=[("MEM\rE0", 0, WORD)]), "'MEM\\rE0'"),
]


def test_the_encoder_writes_what_the_assembler_writes(tmp_path, capsys):
    source = tmp_path / "prog.s"
    source.write_text(".config tiny\n.data s i8[4] MEM_W0:0x10\n.mem MEM_E0:0 = 0, 1, 2, 3\n"
                      ".mem MEM_E0:2 = 0, 1, 2, 3\n.queue MEM_W0.0\n    READ s, E0\n")
    rc, _, err = cli(capsys, "asm", source, "-o", tmp_path / "a.lpx")
    assert (rc, err) == (0, "")
    want = image(segments=[("MEM_E0", 0, WORD), ("MEM_E0", 2, WORD)])
    assert (tmp_path / "a.lpx").read_bytes() == want


@pytest.mark.parametrize("cmd", ["disasm", "asm"])
@pytest.mark.parametrize(("data", "phrase"), [pytest.param(*c[1:], id=c[0]) for c in CASES])
def test_image_the_assembler_never_writes_is_refused(tmp_path, capsys, cmd, data, phrase):
    path = tmp_path / "odd.lpx"
    path.write_bytes(data)
    rc, out, err = cli(capsys, cmd, path, "-o", tmp_path / "out")
    assert rc == 1, (out, err)
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"{path}: error: corrupt image"), err
    assert phrase in err, err


def test_program_of_halts_only_round_trips(tmp_path, capsys):
    # Its disassembly has no instruction to print but still needs one .queue section.
    source = tmp_path / "prog.s"
    source.write_text(".config tiny\n.data s i8[4] MEM_W0:0x10\n.queue VXM.0\n")
    a, text, b = tmp_path / "a.lpx", tmp_path / "a.s", tmp_path / "b.lpx"
    for argv in (("asm", source, "-o", a), ("disasm", a, "-o", text), ("asm", text, "-o", b)):
        rc, _, err = cli(capsys, *argv)
        assert (rc, err) == (0, ""), (argv, err)
    assert a.read_bytes() == b.read_bytes()
