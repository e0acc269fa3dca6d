"""The ``lpu`` command line: bad input ends in a located error and exit status 1."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

from .errors import Location, LpuError


def _out_path(path: str, suffix: str) -> str:
    root, _ = os.path.splitext(path)
    return root + suffix


def load_program(path: str):
    """Read an image (.lpx) or assemble a source file into (program, schedule)."""
    from .asm import parse_file
    from .image import load_image
    from .schedule import schedule
    from .system import is_system_image

    if is_system_image(path):
        raise LpuError("a multi-tile system image: lpu run takes it; this command takes a "
                       "single-tile program", Location(path))
    with open(path, "rb") as f:
        is_image = f.read(4) == b"LPX\x1a" or path.endswith(".lpx")
    prog = load_image(path) if is_image else parse_file(path)
    return prog, schedule(prog)


def print_summary(prog, sched, file=None):
    file = file or sys.stdout
    cfg = prog.config
    words = sum(s.words for s in sched.queues.values())
    print(f"{prog.file}: {len(prog.queues)} queue section(s), {words} instruction words, "
          f"{len(prog.symbols)} symbol(s)", file=file)
    print(f"{'queue':<12}{'words':>7}{'issued':>8}{'ends':>8}", file=file)
    for q in cfg.queues:
        s = sched.queues[q.name]
        if s.words > 1:
            print(f"{q.name:<12}{s.words:>7}{s.busy:>8}{s.end:>8}", file=file)
    print(f"predicted cycles: {sched.cycles} ({sched.end} scheduled + {sched.frozen} frozen)",
          file=file)


def print_listing(sched, file=None):
    file = file or sys.stdout
    from .isa import format_instr

    reads: dict[int, list] = {}
    for r in sched.reads:
        reads.setdefault(id(r.issue), []).append(r)
    for iss in sorted(sched.issues, key=lambda i: (i.cycle, i.queue)):
        text = format_instr(iss.instr, iss.values)
        notes = [f"{r.stream} from {r.producer.queue} {r.producer.instr.mnemonic} "
                 f"@{r.producer.cycle}" for r in reads.get(id(iss), [])]
        if iss.instr.writes:
            notes.append(f"result leaves {iss.queue.split('.')[0]} at end of cycle "
                         f"{iss.cycle + iss.instr.latency}")
        line = f"{iss.cycle:>7}  {iss.queue:<10} {text:<28}"
        print(line + ("; " + "; ".join(notes) if notes else ""), file=file)


def cmd_asm(args) -> int:
    from .image import write_image

    prog, sched = load_program(args.source)
    out = args.output or _out_path(args.source, ".lpx")
    data = write_image(prog, sched.lowered)
    with open(out, "wb") as f:
        f.write(data)
    if args.listing:
        print_listing(sched)
    print_summary(prog, sched)
    print(f"wrote {out} ({len(data)} bytes)")
    return 0


def _emit(text: str, path: str | None) -> None:
    """Write text to path, or to stdout without one."""
    if path:
        with open(path, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


def cmd_disasm(args) -> int:
    from .disasm import disassemble
    from .image import load_image
    from .system import is_system_image

    if is_system_image(args.image):
        raise LpuError("a multi-tile system image: lpu disasm takes a single-tile .lpx",
                       Location(args.image))
    text = disassemble(load_image(args.image), args.image)
    _emit(text, args.output)
    return 0


def cmd_isa_doc(args) -> int:
    from .isadoc import render

    text = render()
    _emit(text, args.output)
    return 0


def _pairs(items, what):
    out = []
    for item in items or []:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise LpuError(f"{what} takes SYMBOL=FILE.npy, not {item!r}")
        out.append((name, path))
    return out


def _load_npy(check, name, path):
    """Load ``path`` as input ``name``; ``check(name, array)`` says what is wrong, if anything."""
    import numpy as np

    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise LpuError("no such file", Location(path)) from None
    except (OSError, ValueError) as e:
        raise LpuError(f"not a .npy array file: {e}", Location(path)) from None
    problem = check(name, array)
    if problem:
        raise LpuError(problem, Location(path))
    return array


def cmd_run(args) -> int:
    import json

    import numpy as np

    from . import backends
    from .backends import BACKENDS
    from .system import is_system_image

    if args.backend not in BACKENDS:
        raise LpuError(f"unknown backend {args.backend!r}; available: {', '.join(BACKENDS)}")
    if is_system_image(args.program):
        return run_system_image(args)
    if args.ppm is not None:
        raise LpuError("--ppm sets the clocks of a multi-tile system image (.lpxs); this is a "
                       "single-tile program", Location(args.program))
    if args.timeline and args.backend != "golden":
        raise LpuError("--timeline needs the golden backend (the RTL keeps no issue trace)")
    if args.waves and args.backend != "verilator":
        raise LpuError("--waves needs the verilator backend")
    if (args.port is not None) != (args.backend == "uart"):
        raise LpuError("--port DEV goes with --backend uart (and the uart backend needs it)")
    prog, sched = load_program(args.program)
    prog = dataclasses.replace(prog, queues=sched.lowered)
    from functools import partial

    from .golden import check_input

    inputs = {name: _load_npy(partial(check_input, prog), name, path)
              for name, path in _pairs(args.inputs, "--in")}
    outs = _pairs(args.outputs, "--out")
    for name, _ in outs:
        if name not in prog.symbols:
            raise LpuError(f"--out: unknown symbol {name!r}; the program has "
                           f"{', '.join(prog.symbols) or 'none'}")
    result = backends.run(args.backend, prog, inputs, [n for n, _ in outs],
                          trace=bool(args.timeline), waves=args.waves,
                          max_cycles=max(10 * sched.cycles, 100_000), port=args.port,
                          baud=args.baud)
    if result.error is not None:
        raise LpuError(f"{args.backend} run stopped: {result.error}", Location(args.program))
    for name, path in outs:
        np.save(path, result.outputs[name])
    stats = {"backend": args.backend, "cycles": result.cycles,
             "predicted_cycles": sched.cycles, "units": result.busy}
    if args.stats_json:
        with open(args.stats_json, "w") as f:
            json.dump(stats, f, indent=2)
            f.write("\n")
    if args.timeline:
        from .timeline import draw_timeline

        draw_timeline(result.issues, prog.config, result.cycles, args.timeline)
    match = "==" if result.cycles == sched.cycles else "!="
    print(f"{args.program}: {result.cycles} cycles on {args.backend} {match} "
          f"{sched.cycles} predicted")
    if result.cycles != sched.cycles:
        raise LpuError(f"measured cycles {result.cycles} differ from the prediction "
                       f"{sched.cycles}: a model bug", Location(args.program))
    return 0


def _ppm_list(text: str | None, tiles: int, path: str) -> list[float]:
    """``--ppm A,B,..``: one clock offset per tile (default all 0)."""
    if text is None:
        return [0.0] * tiles
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise LpuError(f"--ppm takes one number per tile, comma-separated, not {text!r}") \
            from None
    if len(values) != tiles:
        raise LpuError(f"--ppm gives {len(values)} value(s); the system has {tiles} tiles",
                       Location(path))
    bad = [v for v in values if not -1e6 < v < 1e6]
    if bad:
        raise LpuError(f"--ppm {bad[0]:g} is not a clock offset (between -1e6 and 1e6 ppm)")
    return values


def run_system_image(args) -> int:
    """``lpu run SYS.lpxs``: every tile on its own clock (``--ppm``), the system symbols
    scattered to and gathered from the tiles; each tile's schedule cycles (its wall cycles
    minus its freezes, which depend on the drift) must equal its prediction."""
    import json

    import numpy as np

    from .schedule import schedule
    from .system import load_system, run_system_golden

    for flag, value in (("--timeline", args.timeline), ("--waves", args.waves),
                        ("--port", args.port)):
        if value:
            raise LpuError(f"{flag} takes a single-tile program, not a system image",
                           Location(args.program))
    if args.backend == "uart":
        raise LpuError("a system image runs on golden or verilator; a board runs one tile",
                       Location(args.program))
    system = load_system(args.program)
    scheds = [schedule(p) for p in system.programs]
    ppm = _ppm_list(args.ppm, system.tiles, args.program)
    inputs = {name: _load_npy(system.check_input, name, path)
              for name, path in _pairs(args.inputs, "--in")}
    outs = _pairs(args.outputs, "--out")
    for name, _ in outs:
        if name not in system.symbols:
            raise LpuError(f"--out: unknown system symbol {name!r}; the system has "
                           f"{', '.join(system.symbols) or 'none'}")
    names = [n for n, _ in outs]
    if args.backend == "golden":
        result = run_system_golden(system, inputs, names, ppm,
                                   max_cycles=max(10 * max(s.cycles for s in scheds), 100_000))
    else:
        from .backends import run_system_verilator

        result = run_system_verilator(system, inputs, names, ppm)
    if result.error is not None:
        raise LpuError(f"{args.backend} run stopped: {result.error}", Location(args.program))
    for name, path in outs:
        np.save(path, result.outputs[name])
    tiles = []
    for i, (r, s) in enumerate(zip(result.tiles, scheds, strict=True)):
        scheduled = r.cycles - r.frozen
        tiles.append({"tile": i, "ppm": ppm[i], "cycles": r.cycles, "frozen": r.frozen,
                      "schedule_cycles": scheduled, "predicted_schedule_cycles": s.end,
                      "busy": r.busy})
        match = "==" if scheduled == s.end else "!="
        print(f"{args.program}: tile {i}: {r.cycles} cycles on {args.backend} ({scheduled} "
              f"scheduled + {r.frozen} frozen), scheduled {match} {s.end} predicted")
    if args.stats_json:
        with open(args.stats_json, "w") as f:
            json.dump({"backend": args.backend, "tiles": tiles}, f, indent=2)
            f.write("\n")
    for t in tiles:
        if t["schedule_cycles"] != t["predicted_schedule_cycles"]:
            raise LpuError(f"tile {t['tile']}: measured schedule cycles {t['schedule_cycles']} "
                           f"differ from the prediction {t['predicted_schedule_cycles']}: a "
                           "model bug", Location(args.program))
    return 0


def cmd_kernel(args, extra) -> int:
    from .kernels import KERNELS, SYSTEM_ONLY, generate, generate_system, system_args

    if args.name not in KERNELS and args.name not in SYSTEM_ONLY:
        raise LpuError(f"unknown kernel {args.name!r}; available: "
                       f"{', '.join([*KERNELS, *SYSTEM_ONLY])}")
    tiles, ppm, rest = system_args(args.name, extra)
    if tiles == 1:
        text = generate(args.name, args.config, rest)
        _emit(text, args.output)
        return 0
    if not args.output:
        raise LpuError(f"--tiles {tiles} writes a binary system image: give -o FILE.lpxs")
    from .schedule import schedule
    from .system import write_system

    system = generate_system(args.name, args.config, rest, tiles, ppm)
    data = write_system(system)
    with open(args.output, "wb") as f:
        f.write(data)
    for i, prog in enumerate(system.programs):
        s = schedule(prog)
        print(f"tile {i}: predicted {s.cycles} cycles ({s.end} scheduled + {s.frozen} frozen "
              f"at 0 ppm)")
    print(f"wrote {args.output} ({tiles} tiles, {len(data)} bytes)")
    return 0


def cmd_verilog(args) -> int:
    from pathlib import Path

    from .config import TileConfig

    try:
        from amaranth.back import verilog

        from ..hw.catalog import unit_factories
    except ImportError as e:
        raise LpuError(f"lpu verilog needs the hw extra (pip install 'lpu-tile[hw]'): {e}") from None
    try:
        cfg = TileConfig.named(args.config)
    except ValueError as e:
        raise LpuError(str(e)) from None
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    for name, make in unit_factories(cfg).items():
        path = out / f"{name}.v"
        path.write_text(verilog.convert(make(), name=name))
        print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lpu", description="lpu-tile: assemble, inspect and run "
                                "programs for a scaled LPU tile")
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("asm", help="assemble PROG.s into an .lpx image and check its schedule")
    a.add_argument("source")
    a.add_argument("-o", "--output", help="image path (default: PROG.lpx)")
    a.add_argument("--listing", action="store_true",
                   help="print every issue with its cycle and the producers of its operands")
    a.set_defaults(fn=cmd_asm)
    d = sub.add_parser("disasm", help="print an .lpx image as assembly")
    d.add_argument("image")
    d.add_argument("-o", "--output")
    d.set_defaults(fn=cmd_disasm)
    r = sub.add_parser("run", help="run a program (.s or .lpx) on a backend")
    r.add_argument("program")
    r.add_argument("--backend", default="golden",
                   help="golden (default), verilator (the RTL; its model is built once per "
                   "config and cached under build/rtl/) or uart (a board from make fpga, "
                   "through its UART bridge on --port)")
    r.add_argument("--port", metavar="DEV",
                   help="uart backend: the board's serial device, e.g. /dev/ttyUSB1")
    r.add_argument("--baud", type=int, default=115_200,
                   help="uart backend: the line rate (default 115200, what make fpga builds)")
    r.add_argument("--in", dest="inputs", action="append", metavar="SYM=FILE.npy",
                   help="load a symbol from a .npy file before the run (repeatable)")
    r.add_argument("--out", dest="outputs", action="append", metavar="SYM=FILE.npy",
                   help="save a symbol to a .npy file after the run (repeatable)")
    r.add_argument("--stats-json", metavar="FILE", help="write cycles and busy cycles as JSON")
    r.add_argument("--ppm", metavar="P0,P1,..",
                   help="system image: each tile's clock offset in ppm (default all 0); write "
                   "--ppm=-100,.. when the first is negative")
    r.add_argument("--timeline", metavar="FILE.png",
                   help="draw which queue issues when (golden backend)")
    r.add_argument("--waves", metavar="FILE",
                   help="verilator backend: dump the waveform here (FST; VCD when the FST "
                   "headers are missing)")
    r.set_defaults(fn=cmd_run)
    from .kernels import KERNELS, SYSTEM_KERNELS, SYSTEM_ONLY

    def tiles_opt(name):
        if name in SYSTEM_ONLY:
            return " [--tiles N] [--ppm P]"
        return " [--tiles N [--ppm P]]" if name in SYSTEM_KERNELS else ""

    listing = "\n".join(f"  {name:<8} {' '.join('--' + p + ' N' for p in params)}"
                        f"{tiles_opt(name)}\n           {doc}"
                        for name, (_, params, doc) in {**KERNELS, **SYSTEM_ONLY}.items())
    listing += ("\n\n--tiles N (2 to 4) splits the kernel over a star of N tiles and writes a "
                "system image\n(-o FILE.lpxs); --ppm P is the worst-case clock offset of a tile "
                "from the root's,\nwhich sets the RUNTIME_DESKEW period (docs/programming.md). "
                "pingpong runs on\n2 to 4 tiles only (default 2).")
    from .config import PRESETS

    presets = "tile preset (" + ", ".join(PRESETS) + ")"
    k = sub.add_parser("kernel", help="generate a kernel program: lpu kernel NAME --PARAM V ...",
                       epilog="kernels:\n" + listing,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    k.add_argument("name")
    k.add_argument("--config", default="default", help=presets)
    k.add_argument("-o", "--output", help="write the assembly here (default: stdout); with "
                   "--tiles N > 1 (gemv, pingpong) the system image (.lpxs)")
    k.set_defaults(fn=cmd_kernel, takes_extra=True)
    v = sub.add_parser("verilog", help="write every RTL unit's Verilog for a tile config")
    v.add_argument("--config", default="default", help=presets)
    v.add_argument("-o", "--output", default="build/verilog", help="output folder")
    v.set_defaults(fn=cmd_verilog)
    i = sub.add_parser("isa-doc", help="write the ISA reference (docs/isa.md) from the table")
    i.add_argument("-o", "--output")
    i.set_defaults(fn=cmd_isa_doc)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "takes_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return args.fn(args, extra) if getattr(args, "takes_extra", False) else args.fn(args)
    except LpuError as e:
        print(str(e), file=sys.stderr)
        return 1
    except OSError as e:
        where = e.filename or "lpu"
        print(f"{where}: error: {e.strerror}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
