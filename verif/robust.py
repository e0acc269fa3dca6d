"""Robustness checker: mutated programs and images through the real ``lpu`` command line.

It starts from valid programs (the kernel generators at small sizes on every preset, the
pingpong system's tile programs, the golden fuzzer's programs when its ``generate`` is there,
and ``sw/examples``), mutates (a) their assembly text and (b) their assembled ``.lpx`` bytes
(and a few ``.lpxs`` system images), and runs each case through ``lpu.sw.cli.main`` in this
process: ``asm``, ``disasm``, and for accepted input ``run`` on the golden model.

Every command must end in exit 0, or exit 1 with ``... error: ...`` lines on stderr. A
FAILURE is anything else: an exception escaping ``main`` (a traceback), another exit status,
a command running longer than ``HANG_SECONDS``, or an accepted image whose ``disasm`` text
does not assemble back to the same bytes. Cases are seeded: case ``i`` of a run with seed
``s`` is the same on every machine, and ``--kind program --case i --seed s --dump DIR``
writes its input for a bug report. Software only: no cocotb, no hardware model.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import random
import re
import signal
import struct
import sys
import tempfile
import time
import traceback
import zlib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

from ..sw.cli import main as lpu
from ..sw.config import PRESETS
from ..sw.disasm import disassemble
from ..sw.isa import BY_MNEMONIC, DTYPE_INFO, INSTRUCTIONS, encode
from ..sw.kernels import KERNELS, SYSTEM_ONLY

HANG_SECONDS = 10
#: Accepted programs predicted to run longer than this are assembled, not run.
RUN_CYCLE_LIMIT = 20_000
PROGRAM, IMAGE = "program", "image"
_ERROR_LINE = re.compile(r"^(\S.*: )?error: \S|^\.\.\. and \d+ more errors?$")


class Hang(Exception):
    """A command ran past HANG_SECONDS."""


# Valid programs to start from

#: A tiny-tile program, so the tiny preset is covered without the fuzzer.
TINY_PROGRAM = """\
.config tiny
.data s i8[4] MEM_W0:0x10
.data t i16[4] MEM_E0:0x20, MEM_E0:0x60 = 1, -2, 300, -32768
.mem MEM_E0:0x0 = 1, 2, 3, 4
.queue MEM_W0.0
    READ s, E0
    REPEAT 2, 1, 1
.queue VXM.0
@2  CONST.i8 E1, -1
"""

def _kernel_args(name: str, lanes: int) -> list[list[str]]:
    """Small parameter sets of kernel ``name`` for a tile of ``lanes`` lanes."""
    n = str(lanes)
    return {"gemv": [["--k", n, "--n", n], ["--k", str(2 * lanes), "--n", n]],
            "requant": [["--n", n, "--mult", "77", "--shift", "6"]],
            "silu": [["--n", n]], "gelu": [["--n", str(2 * lanes)]],
            "ffn": [["--d", str(max(16, 4 * lanes)), "--f", n, "--mult", "3", "--shift", "9"]],
            }.get(name, [])


@cache
def corpus() -> tuple[tuple[str, str], ...]:
    """(label, assembly text) of every valid starting program, in a fixed order."""
    from ..sw.errors import LpuError
    from ..sw.kernels import generate

    out = []
    for preset, cfg in PRESETS.items():
        for name in KERNELS:
            for args in _kernel_args(name, cfg.lanes):
                with contextlib.suppress(LpuError):
                    out.append((f"kernel {name} --config {preset} {' '.join(args)}",
                                generate(name, preset, args)))
        with contextlib.suppress(LpuError, ValueError, TypeError):
            system = SYSTEM_ONLY["pingpong"].function(cfg, tiles=2, ppm=0.0, rounds=2)
            for i, prog in enumerate(system.programs):
                out.append((f"kernel pingpong --config {preset} --rounds 2, tile {i}",
                            disassemble(prog)))
    out.append(("robust.TINY_PROGRAM", TINY_PROGRAM))
    out += [(f"sw/examples/{p.name}", p.read_text()) for p in
            sorted((Path(__file__).resolve().parents[1] / "sw" / "examples").glob("*.s"))]
    out += [(f"golden fuzz --seed {seed} --config {preset}", text)
            for seed, preset, text in _fuzz_programs()]
    return tuple(out)


def _fuzz_programs():
    """Programs of the golden fuzzer, if its public ``generate`` is importable."""
    try:
        from . import fuzz

        make = fuzz.generate
    except (ImportError, AttributeError):
        return
    for seed in range(6):
        for preset in PRESETS:
            try:
                case = make(seed, preset, invalid=False)
                yield seed, preset, case.source
            except Exception:  # another helper's module: skip it, never fail
                return


@cache
def systems() -> tuple[tuple[str, bytes], ...]:
    """(label, .lpxs bytes) of a few valid system images."""
    from ..sw.system import write_system

    out = []
    for preset in ("small", "default"):
        cfg = PRESETS[preset]
        for tiles in (2, 3):
            system = SYSTEM_ONLY["pingpong"].function(cfg, tiles=tiles, ppm=0.0, rounds=2)
            out.append((f"kernel pingpong --config {preset} --tiles {tiles} --rounds 2",
                        write_system(system)))
    return tuple(out)


# Running one command

@dataclass
class Result:
    rc: int | str  # exit status, or "traceback" / "hang" / "exit N" for a failure
    out: str
    err: str


def _alarm(signum, frame):
    raise Hang()


def cli(*argv) -> Result:
    """``lpu ARGV`` in this process, output captured, stopped after HANG_SECONDS."""
    out, err = io.StringIO(), io.StringIO()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = lpu([str(a) for a in argv])
    except Hang:
        rc = "hang"
    except SystemExit as e:
        rc = e.code if e.code in (0, 1) else f"exit {e.code}"
    except BaseException:  # anything escaping main is a finding
        rc = "traceback"
        err.write(traceback.format_exc())
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    return Result(rc, out.getvalue(), err.getvalue())


def failure(cmd: str, r: Result) -> str | None:
    """Why a command's outcome is a failure, or None."""
    if r.rc == 0:
        return None
    if r.rc == 1:
        lines = r.err.splitlines()
        if lines and all(_ERROR_LINE.match(line) for line in lines):
            return None
        return f"{cmd}: exit 1 without an 'error:' message: {r.err[-400:]!r}"
    last = r.err.strip().splitlines()[-1:] or [""]
    return f"{cmd}: {r.rc}: {last[0]}\n{r.err[-1500:]}"


# Mutations

_TOKENS = [
    "0", "-1", "1", "-0", "127", "128", "-129", "255", "256", "4095", "4096", "65535", "65536",
    "2147483647", "2147483648", "4294967295", "4294967296", str(1 << 63), str(1 << 64),
    "1" + "0" * 24, "9" * 5000, "0x" + "f" * 40, "0b" + "1" * 70, "0x", "0b2", "1_000", "_1",
    "E0", "W0", "E31", "E32", "W" + "9" * 5000, "x", "x+1", "x+" + "9" * 30, "@", "", "é", "\t",
]


def mutate_text(text: str, rng: random.Random) -> tuple[str, str]:
    """1 to 3 random edits of assembly text; return (what was done, new text)."""
    lines, done = text.split("\n"), []
    for _ in range(rng.choice((1, 1, 2, 3))):
        k = rng.randrange(len(lines)) if lines else 0
        kind = rng.choice(("delete", "duplicate", "swap", "char", "token", "token", "token",
                           "mnemonic", "insert", "at", "truncate", "config"))
        if not lines:
            lines = [""]
        line = lines[k]
        if kind == "delete":
            del lines[k]
        elif kind == "duplicate":
            lines.insert(k, line)
        elif kind == "swap":
            j = rng.randrange(len(lines))
            lines[k], lines[j] = lines[j], line
        elif kind == "char" and line:
            i = rng.randrange(len(line))
            lines[k] = line[:i] + rng.choice(",:@.[]=+-;# \tEWx0919\0") + line[i + 1:]
        elif kind == "token":
            toks = list(re.finditer(r"[\w+-]+", line))
            if toks:
                m = rng.choice(toks)
                lines[k] = line[:m.start()] + rng.choice(_TOKENS) + line[m.end():]
        elif kind == "mnemonic":
            m = re.match(r"(\s*(?:@\d+\s*)?)(\w+)(\.\w+)*", line)
            instr = rng.choice(INSTRUCTIONS)
            sfx = "".join("." + rng.choice(("i8", "i16", "i32", "i64"))
                          for _ in range(rng.choice((0, 1, 1, 2))))
            if m and not line.lstrip().startswith("."):
                lines[k] = m.group(1) + instr.mnemonic + sfx + line[m.end():]
        elif kind == "insert":
            lines.insert(k, rng.choice((
                ".queue " + rng.choice(("MEM_W0.0", "MEM_E0.1", "VXM.0", "MXM_E.ACT", "C2C_W",
                                        "SXM_E", "NOPE")),
                ".data z i8[4] MEM_E0:0", ".data " + rng.choice(("y", "x", "w")) + " i32[8] "
                "MEM_W1:0x10", ".mem MEM_E0:0x0 = " + ", ".join(["1"] * rng.choice((2, 4, 8))),
                ".config default", "    HALT", "    REPEAT 2, 1, 1", "    NOP 65535",
                "    SYNC", "    NOTIFY")))
        elif kind == "at" and line.startswith("    "):
            lines[k] = f"@{rng.choice((0, 1, 5, 100, 70000, 10**12))} " + line.strip()
        elif kind == "truncate":
            lines = [*lines[:k], line[:rng.randrange(len(line) + 1)]]
        elif kind == "config":
            key = rng.choice(("lanes", "streams", "mem_words", "queue_words", "vxm_alus",
                              "mem_slices", "hac_epoch", "c2c_links", "hemispheres"))
            lines.insert(0, f".config {key}={rng.choice(_TOKENS[:22])}")
        done.append(f"{kind}@{k + 1}")
    return " ".join(done), "\n".join(lines)


def _sections(data: bytes, head: int) -> list[tuple[int, int]]:
    """(payload start, payload length) of each section of an image whose header is ``head``
    bytes; stops at the first section that does not fit."""
    out, pos = [], head
    while pos + 8 <= len(data) - 8:
        n = struct.unpack_from("<I", data, pos + 4)[0]
        if pos + 8 + n > len(data):
            break
        out.append((pos + 8, n))
        pos += 8 + n
    return out


def _with_crc(body: bytes) -> bytes:
    return body[:-4] + struct.pack("<I", zlib.crc32(body[:-4]))


def _random_word(rng: random.Random) -> int:
    """A legal-looking instruction word: a real opcode with random field values."""
    instr = rng.choice(INSTRUCTIONS)
    values = {}
    for f in instr.fields:
        values[f.name] = rng.randint(f.lo, f.hi) if rng.random() < 0.5 else \
            rng.choice((f.lo, f.hi, max(f.lo, min(f.hi, rng.randrange(16)))))
    try:
        return encode(instr, values)
    except ValueError:
        return encode(BY_MNEMONIC["NOP"], {"n": 1})


def mutate_image(data: bytes, rng: random.Random, head: int = 8) -> tuple[str, bytes]:
    """A random change of image bytes, most with the CRC fixed after; return (what, bytes)."""
    b = bytearray(data)
    secs = _sections(data, head)
    kind = rng.choice(("bit", "byte", "truncate", "extend", "u8", "u16", "u32", "u32",
                       "word", "word", "word", "name", "swap", "cut-section"))
    at = rng.randrange(len(b))
    if kind == "bit":
        b[at] ^= 1 << rng.randrange(8)
    elif kind == "byte":
        b[at] = rng.randrange(256)
    elif kind == "truncate":
        return f"truncate@{at}", bytes(b[:at])
    elif kind == "extend":
        extra = rng.randbytes(rng.randrange(1, 16))
        b = b[:-8] + extra + b[-8:] if rng.random() < 0.5 else b + extra
    elif kind in ("u8", "u16", "u32") and secs:
        start, n = rng.choice(secs)
        size = {"u8": 1, "u16": 2, "u32": 4}[kind]
        at = start + (0 if rng.random() < 0.4 or n <= size else rng.randrange(n - size + 1))
        if at + size <= len(b) - 8:
            old = int.from_bytes(b[at:at + size], "little")
            new = rng.choice((0, 1, 255, old + 1, max(0, old - 1), (1 << 8 * size) - 1,
                              rng.randrange(1 << 8 * size)))
            b[at:at + size] = (new % (1 << 8 * size)).to_bytes(size, "little")
    elif kind == "word" and len(secs) > 1:
        start, n = secs[1]  # QUEU: words are 4-byte aligned runs; any aligned u32 will do
        if n >= 8:
            at = start + 4 * rng.randrange(n // 4)
            b[at:at + 4] = struct.pack("<I", _random_word(rng))
    elif kind == "name":
        m = [x.start() for x in re.finditer(rb"[A-Za-z_][A-Za-z0-9_.]{0,30}", bytes(b))]
        if m:
            at = rng.choice(m)
            b[at] = rng.choice(b"az_9 .\xff\x00E")
    elif kind == "swap" and secs:
        start, n = rng.choice(secs)
        if n >= 2:
            i, j = start + rng.randrange(n), start + rng.randrange(n)
            b[i], b[j] = b[j], b[i]
    elif kind == "cut-section" and secs:
        start, n = rng.choice(secs)
        if n:
            k = rng.randrange(n)
            del b[start + k]
            struct.pack_into("<I", b, start - 4, n - 1)
    fix = rng.random() < 0.85
    return f"{kind}@{at}{'' if fix else ' (old CRC)'}", bytes(_with_crc(bytes(b)) if fix else b)


def mutate_program_image(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    """Decode an image, change one thing in its program and write it with the image writer:
    images the writer can produce, though the assembler may never have."""
    import dataclasses

    from ..sw.image import read_image, write_image
    from ..sw.program import Item

    prog = read_image("corpus.lpx", data)
    cfg, syms = prog.config, list(prog.symbols.values())
    kind = rng.choice(("symbol", "symbol", "segment", "field", "field", "nop", "drop"))
    if kind == "symbol" and syms:
        sym = rng.choice(syms)
        what = rng.choice(("name", "shape", "dtype", "place", "more"))
        mems = [sl.name for sl in cfg.slices if sl.kind == "MEM"]
        new = {"name": dict(name=rng.choice((sym.name + "2", "_", "E0", "q" * 255, "x y"))),
               "shape": dict(shape=tuple(rng.choice((1, 2, 3, cfg.lanes, 2 * cfg.lanes, 0))
                                         for _ in range(rng.choice((0, 1, 1, 2, 3))))),
               "dtype": dict(dtype=rng.choice(("i8", "i16", "i32"))),
               "place": dict(placements=((rng.choice(mems), rng.randrange(cfg.addresses + 2)),)),
               "more": dict(placements=(*sym.placements,
                                        (rng.choice(mems), rng.randrange(cfg.addresses))))}[what]
        prog.symbols = {(new.get("name", s.name) if s is sym else s.name):
                        (dataclasses.replace(s, **new) if s is sym else s) for s in syms}
        kind += " " + what
    elif kind == "segment":
        sl = rng.choice([sl.name for sl in cfg.slices if sl.kind == "MEM"])
        prog.segments[(sl, rng.randrange(cfg.addresses))] = rng.randbytes(cfg.lanes)
    else:
        q = rng.choice([q for q in cfg.queues if prog.queues[q.name]])
        items = prog.queues[q.name]
        k = rng.randrange(len(items))
        if kind == "field" and items[k].instr.fields:
            f = rng.choice(items[k].instr.fields)
            items[k] = Item(items[k].instr, {**items[k].values, f.name: rng.randint(f.lo, f.hi)})
        elif kind == "nop":
            items.insert(k, Item(BY_MNEMONIC["NOP"], {"n": rng.choice((1, 2, 7, 65535))}))
        elif kind == "drop" and len(items) > 1:
            del items[min(k, len(items) - 2)]
    try:
        return f"program {kind}", write_image(prog, prog.queues)
    except (ValueError, KeyError, struct.error) as e:
        return f"program {kind} (not writable: {e}); bytes", mutate_image(data, rng)[1]


# Checking one case

def _run_args(path: Path, work: Path, rng: random.Random) -> list[str] | None:
    """``run`` arguments with small random inputs for an accepted image, or None when its
    predicted run is long (the checker stays off the long-run path)."""
    from ..sw.image import load_image
    from ..sw.schedule import schedule

    prog = load_image(str(path))
    if schedule(prog).cycles > RUN_CYCLE_LIMIT:
        return None
    args = ["run", str(path), "--backend", "golden"]
    for k, (name, sym) in enumerate(list(prog.symbols.items())[:4]):
        if sym.elements > 4096:
            continue
        dt = DTYPE_INFO[sym.dtype]
        arr = np.asarray([rng.randint(dt.lo, dt.hi) for _ in range(sym.elements)], dt.numpy)
        npy = work / f"in{k}.npy"
        np.save(npy, arr.reshape(sym.shape))
        args += ["--in", f"{name}={npy}", "--out", f"{name}={work / f'out{k}.npy'}"]
    return args


def check_image_file(path: Path, work: Path, rng: random.Random) -> tuple[str, list[str]]:
    """disasm, asm and run an image; an accepted one must round-trip to its own bytes.
    Returns (outcome, problems)."""
    problems = []
    text, again = work / "dis.s", work / "again.lpx"
    d = cli("disasm", path, "-o", text)
    a = cli("asm", path, "-o", again)
    problems += [p for p in (failure("disasm", d), failure("asm IMAGE", a)) if p]
    if (d.rc == 0) != (a.rc == 0):
        problems.append(f"disasm exit {d.rc} but asm of the image exit {a.rc}")
    if problems or d.rc != 0:
        return ("FAILURE" if problems else "error"), problems
    data = path.read_bytes()
    if again.read_bytes() != data:
        problems.append("asm of the image wrote other bytes")
    back = work / "back.lpx"
    r = cli("asm", text, "-o", back)
    if r.rc != 0:
        problems.append(f"disasm text does not assemble: {r.err[-600:]}")
    elif back.read_bytes() != data:
        problems.append("disasm -> asm wrote other bytes than the image")
    if not problems:
        args = _run_args(path, work, rng)
        if args and (p := failure("run", cli(*args))):
            problems.append(p)
    return ("FAILURE" if problems else "ok"), problems


def check_program(text: str, work: Path, rng: random.Random) -> tuple[str, list[str]]:
    """Assemble a source; if accepted, check its image. Returns (outcome, problems)."""
    src, image = work / "prog.s", work / "prog.lpx"
    src.write_bytes(text.encode())
    r = cli("asm", src, "-o", image)
    if (p := failure("asm", r)) is not None:
        return "FAILURE", [p]
    if r.rc != 0:
        return "error", []
    return check_image_file(image, work, rng)


def check_system(data: bytes, work: Path) -> tuple[str, list[str]]:
    path = work / "sys.lpxs"
    path.write_bytes(data)
    r = cli("run", path, "--backend", "golden")
    if (p := failure("run", r)) is not None:
        return "FAILURE", [p]
    return ("ok" if r.rc == 0 else "error"), []


@dataclass
class Case:
    kind: str  # PROGRAM or IMAGE
    index: int
    seed: int
    origin: str = ""
    mutation: str = ""
    data: bytes = b""  # the input: source bytes or image bytes
    system: bool = False

    def reproducer(self) -> str:
        return (f"python -m lpu.verif.robust --seed {self.seed} --kind {self.kind} "
                f"--case {self.index} --dump DIR   # {self.origin}; {self.mutation}")


def make_case(kind: str, index: int, seed: int) -> Case:
    """Case ``index`` of ``kind``, the same for the same arguments on every run."""
    rng = random.Random(f"{seed}:{kind}:{index}")
    label, text = rng.choice(corpus())
    if kind == PROGRAM:
        what, new = mutate_text(text, rng)
        return Case(kind, index, seed, label, what, new.encode())
    if rng.random() < 0.1:
        label, data = rng.choice(systems())
        what, new = mutate_image(data, rng, head=9)
        return Case(kind, index, seed, label, what, new, system=True)
    from ..sw.asm import assemble_text
    from ..sw.image import write_image
    from ..sw.schedule import schedule

    prog = assemble_text("corpus.s", text)
    data = write_image(prog, schedule(prog).lowered)
    if rng.random() < 0.4:
        what, new = mutate_program_image(data, rng)
        return Case(kind, index, seed, label, what, new)
    what, new = mutate_image(data, rng)
    for _ in range(rng.choice((0, 0, 1, 2))):
        more, new = mutate_image(new, rng)
        what += " " + more
    return Case(kind, index, seed, label, what, new)


def run_case(case: Case, work: Path) -> tuple[str, list[str]]:
    rng = random.Random(f"{case.seed}:{case.kind}:{case.index}:run")
    if case.kind == PROGRAM:
        return check_program(case.data.decode(), work, rng)
    if case.system:
        return check_system(case.data, work)
    path = work / "case.lpx"
    path.write_bytes(case.data)
    return check_image_file(path, work, rng)


@dataclass
class Report:
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    failures: list[tuple[Case, list[str]]] = field(default_factory=list)
    seconds: float = 0.0


def check(programs: int, images: int, seed: int = 0, progress=None) -> Report:
    """Run ``programs`` mutated programs and ``images`` mutated images; count outcomes."""
    report, start = Report(), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lpu-robust-") as tmp:
        work = Path(tmp)
        for kind, count in ((PROGRAM, programs), (IMAGE, images)):
            tally = report.counts.setdefault(kind, {"ok": 0, "error": 0, "FAILURE": 0})
            for i in range(count):
                case = make_case(kind, i, seed)
                outcome, problems = run_case(case, work)
                tally[outcome] += 1
                if problems:
                    report.failures.append((case, problems))
                if progress and (i + 1) % 250 == 0:
                    progress(f"{kind}s: {i + 1}/{count} {tally} "
                             f"{time.perf_counter() - start:.0f} s")
    report.seconds = time.perf_counter() - start
    return report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lpu.verif.robust",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--programs", type=int, default=5000)
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--kind", choices=(PROGRAM, IMAGE), help="with --case: one case only")
    ap.add_argument("--case", type=int)
    ap.add_argument("--dump", metavar="DIR", help="with --case: write the case's input here")
    args = ap.parse_args(argv)
    if args.case is not None:
        case = make_case(args.kind or PROGRAM, args.case, args.seed)
        print(f"{case.origin}; {case.mutation}")
        if args.dump:
            Path(args.dump).mkdir(parents=True, exist_ok=True)
            name = "case.s" if case.kind == PROGRAM else "case.lpxs" if case.system else \
                "case.lpx"
            (Path(args.dump) / name).write_bytes(case.data)
            print(f"wrote {Path(args.dump) / name}")
        with tempfile.TemporaryDirectory(prefix="lpu-robust-") as tmp:
            outcome, problems = run_case(case, Path(tmp))
        print(outcome, *problems, sep="\n")
        return 1 if problems else 0
    print(f"corpus: {len(corpus())} programs, {len(systems())} system images", flush=True)
    report = check(args.programs, args.images, args.seed,
                   progress=lambda line: print(line, flush=True))
    for kind, tally in report.counts.items():
        print(f"{kind}s: " + ", ".join(f"{k} {v}" for k, v in tally.items()))
    for case, problems in report.failures:
        print(f"FAILURE {case.kind} case {case.index} (seed {case.seed}): {problems[0][:800]}")
        print(f"  reproduce: {case.reproducer()}")
    print(f"{len(report.failures)} failures in {report.seconds:.0f} s")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
