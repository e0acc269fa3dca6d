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


TIMELINE_FORMATS = (".png", ".svg", ".pdf")


class RunFiles:
    """The files of one ``lpu run``, single-tile or system: the ``--in`` arrays read and
    checked before the run; every output path (``--out``, ``--stats-json``, ``--timeline``)
    checked and reserved before it; after it, the outputs written all or nothing."""

    def __init__(self, args, symbols: dict, what: str, owner: str):
        from .npyio import OutputFiles, read_input

        self.outputs = OutputFiles()
        self.outs = _pairs(args.outputs, "--out")
        for name, path in self.outs:
            if name not in symbols:
                raise LpuError(f"--out: unknown {what} {name!r}; the {owner} has "
                               f"{', '.join(symbols) or 'none'}")
            if not path.endswith(".npy"):
                raise LpuError(f"--out {name}=FILE writes a .npy array: give a FILE.npy name, "
                               f"not {path!r}")
        timeline = getattr(args, "timeline", None)
        if timeline and not timeline.lower().endswith(TIMELINE_FORMATS):
            raise LpuError(f"--timeline draws {', '.join(TIMELINE_FORMATS)} files: give a name "
                           f"ending in one of them, not {timeline!r}")
        self.inputs = {name: read_input(path, name, symbols, what, owner)
                       for name, path in _pairs(args.inputs, "--in")}
        try:
            self.keys = {(name, path): self.outputs.reserve(path, f"--out {name}")
                         for name, path in self.outs}
            self.stats = args.stats_json and self.outputs.reserve(args.stats_json,
                                                                 "--stats-json")
            self.timeline = timeline and self.outputs.reserve(timeline, "--timeline")
        except BaseException:
            self.outputs.discard()
            raise

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.outs]

    def save(self, arrays: dict, stats: dict, draw=None) -> None:
        """Write the ``--out`` arrays, the stats and ``draw(path)``'s timeline, all or none."""
        import json

        from .npyio import save_npy

        for (name, _), key in self.keys.items():
            self.outputs.write(key, save_npy(arrays[name]))
        if self.stats:
            def write_stats(path):
                with open(path, "w") as f:
                    json.dump(stats, f, indent=2)
                    f.write("\n")
            self.outputs.write(self.stats, write_stats)
        if self.timeline:
            self.outputs.write(self.timeline, draw)
        self.outputs.commit()


def _max_cycles(args, predicted: int) -> tuple[int, str]:
    """The cycle limit of a run and how it was set (for the message when a run reaches it)."""
    if args.max_cycles is not None:
        return args.max_cycles, "set by --max-cycles"
    limit = max(10 * predicted, 100_000)
    return limit, f"10 x the {predicted} predicted, at least 100000"


def _stopped(args, error, limit: tuple[int, str]) -> LpuError:
    from .golden import CycleLimit

    # A system tile's limit arrives as a SystemTileError carrying the CycleLimit's message.
    if isinstance(error, CycleLimit) or getattr(error, "message", "").startswith("no done after"):
        return LpuError(f"{args.backend} run stopped: no done after {limit[0]} cycles (the "
                        f"limit, {limit[1]}); raise it with --max-cycles N",
                        Location(args.program))
    return LpuError(f"{args.backend} run stopped: {error}", Location(args.program))


def _progress(args, predicted: int):
    def report(cycle: int) -> None:
        print(f"{args.program}: {args.backend}: {cycle:,} of {predicted:,} predicted cycles "
              f"({100 * cycle // max(predicted, 1)}%)", file=sys.stderr, flush=True)
    return report


def cmd_run(args) -> int:
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
    _, sched = load_program(args.program)
    prog = sched.image
    files = RunFiles(args, prog.symbols, "symbol", "program")
    with files.outputs:
        limit = _max_cycles(args, sched.cycles)
        result = backends.run(args.backend, prog, files.inputs, files.names,
                              trace=bool(args.timeline), waves=args.waves, max_cycles=limit[0],
                              port=args.port, baud=args.baud,
                              progress=_progress(args, sched.cycles))
        if result.error is not None:
            raise _stopped(args, result.error, limit)
        stats = {"backend": args.backend, "cycles": result.cycles,
                 "predicted_cycles": sched.cycles, "units": result.busy}

        def draw(path):
            from .timeline import draw_timeline

            draw_timeline(result.issues, prog.config, result.cycles, path,
                          os.path.splitext(args.timeline)[1][1:].lower())
        files.save(result.outputs, stats, draw)
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
    system = dataclasses.replace(system, programs=[s.image for s in scheds])
    ppm = _ppm_list(args.ppm, system.tiles, args.program)
    files = RunFiles(args, system.symbols, "system symbol", "system")
    with files.outputs:
        limit = _max_cycles(args, max(s.cycles for s in scheds))
        if args.backend == "golden":
            result = run_system_golden(system, files.inputs, files.names, ppm,
                                       max_cycles=limit[0])
        else:
            from .backends import run_system_verilator

            result = run_system_verilator(system, files.inputs, files.names, ppm,
                                          max_cycles=limit[0])
        if result.error is not None:
            raise _stopped(args, result.error, limit)
        tiles = []
        for i, (r, s) in enumerate(zip(result.tiles, scheds, strict=True)):
            tiles.append({"tile": i, "ppm": ppm[i], "cycles": r.cycles, "frozen": r.frozen,
                          "schedule_cycles": r.cycles - r.frozen,
                          "predicted_schedule_cycles": s.end, "busy": r.busy})
        files.save(result.outputs, {"backend": args.backend, "tiles": tiles})
    for t in tiles:
        match = "==" if t["schedule_cycles"] == t["predicted_schedule_cycles"] else "!="
        print(f"{args.program}: tile {t['tile']}: {t['cycles']} cycles on {args.backend} "
              f"({t['schedule_cycles']} scheduled + {t['frozen']} frozen), scheduled {match} "
              f"{t['predicted_schedule_cycles']} predicted")
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


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors exit with status 1, as every other bad input does."""

    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


def _cycle_limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0 or len(text) > 20:
        raise argparse.ArgumentTypeError(f"a positive cycle count, not {text[:40]!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="lpu", description="lpu-tile: assemble, inspect and run programs "
                       "for a scaled LPU tile")
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
                   help="draw which queue issues when (golden backend; .png, .svg or .pdf)")
    r.add_argument("--max-cycles", type=_cycle_limit, metavar="N",
                   help="stop a run that has no done after N cycles (default: 10 x the "
                   "predicted cycles, at least 100000)")
    r.add_argument("--waves", metavar="FILE",
                   help="verilator backend: dump the waveform here (FST; VCD when the FST "
                   "headers are missing)")
    r.set_defaults(fn=cmd_run)
    from .config import PRESETS
    from .kernels import listing

    presets = "tile preset (" + ", ".join(PRESETS) + ")"
    k = sub.add_parser("kernel", help="generate a kernel program: lpu kernel NAME --PARAM V ...",
                       epilog="kernels:\n" + listing(),
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
    try:
        args, extra = parser.parse_known_args(argv)
        if extra and not getattr(args, "takes_extra", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as e:  # --help (0) or a usage error (1)
        return e.code if isinstance(e.code, int) else 1
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
