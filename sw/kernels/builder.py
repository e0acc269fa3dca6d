"""A small helper for kernel generators: place instructions by cycle, emit assembly text.

Generators decide every issue cycle themselves (the arrival rule is ``issue + latency +
hops``, every latency read from the ISA table by ``latency`` when the generator runs, so a
deeper unit pipeline is an edit of ``sw/isa.py`` alone); the builder keeps per-queue and
per-MEM-slice occupancy so a generator can search for free slots, folds regular runs into
``REPEAT``, and renders the text that the assembler then checks like any user's program.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import PRESETS, TileConfig
from ..isa import BY_MNEMONIC
from ..schedule import NOP_MAX


def latency(mnemonic: str) -> int:
    """The ISA table's latency of ``mnemonic`` (a type suffix is ignored): a consumer
    ``hops`` slices downstream issues ``latency + hops`` cycles after the producer."""
    return BY_MNEMONIC[mnemonic.split(".")[0]].latency


def bank_write(write: int) -> int:
    """The cycle in which a WRITE issued in cycle ``write`` writes its MEM bank (no READ of
    that bank queue may issue then)."""
    return write + latency("WRITE")


def write_visible(write: int) -> int:
    """The first cycle a READ sees what a WRITE issued in cycle ``write`` stored."""
    return bank_write(write) + 1


class KernelError(ValueError):
    """A kernel parameter the tile cannot do (reported by ``lpu kernel`` as an error)."""


def tile_name(cfg: TileConfig) -> str:
    """``preset 'small'`` for a preset, ``this tile`` otherwise: where a limit comes from."""
    name = next((n for n, p in PRESETS.items() if p == cfg), None)
    return f"preset {name!r}" if name else "this tile"


def check_count(name: str, value, least: int = 1) -> None:
    """KernelError unless ``value`` is an int (not a bool) of at least ``least``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        kind = "a positive integer" if least == 1 else f"an integer of at least {least}"
        raise KernelError(f"--{name} must be {kind}, not {value!r}")


def overfull_text(cfg: TileConfig, queue: str, words: int) -> str:
    return (f"queue {queue} holds {cfg.queue_words} instruction words on {tile_name(cfg)}; "
            f"this program needs {words}")


def need_slices(cfg: TileConfig, kernel: str, *names: str) -> None:
    """KernelError unless the floorplan has every slice in ``names``."""
    missing = [n for n in names if n not in cfg.slice_by_name]
    if missing:
        raise KernelError(f"{kernel} needs slice{'s' * (len(missing) > 1)} {', '.join(missing)}; "
                          f"this tile has {' | '.join(s.name for s in cfg.slices)}")


@dataclass
class Op:
    cycle: int
    name: str  # mnemonic with type suffix
    args: tuple  # operand texts or ints
    step: int | None = None  # index in args of the field REPEAT may step
    comment: str = ""


class Builder:
    def __init__(self, config: TileConfig, title: str):
        self.cfg = config
        self.title = title
        self.data: list[str] = []
        self.ops: dict[str, list[Op]] = {}
        self.busy: dict[str, set[int]] = {}
        self.symbol_base: dict[str, dict] = {}

    def pos(self, slice_name: str) -> int:
        return self.cfg.slice_by_name[slice_name].position

    def hops(self, a: str, b: str) -> int:
        return abs(self.pos(a) - self.pos(b))

    def free(self, queue: str, cycle: int) -> bool:
        return cycle >= 0 and cycle not in self.busy.get(queue, ())

    def reserve(self, queue: str, cycle: int) -> None:
        """Keep a queue's cycle free of issues (e.g. a MEM bank busy with a write)."""
        self.busy.setdefault(queue, set()).add(cycle)

    def put(self, queue: str, cycle: int, name: str, *args, step: int | None = None,
            comment: str = "") -> None:
        if not self.free(queue, cycle):
            raise AssertionError(f"{queue} already issues in cycle {cycle}")
        self.busy.setdefault(queue, set()).add(cycle)
        self.ops.setdefault(queue, []).append(Op(cycle, name, args, step, comment))

    def declare(self, name: str, dtype: str, shape, placements) -> None:
        places = ", ".join(f"{sl}:{addr:#x}" for sl, addr in placements)
        self.data.append(f".data {name} {dtype}[{','.join(map(str, shape))}] {places}")

    def queue_words(self) -> dict[str, int]:
        """Instruction words each queue takes once assembled and lowered: its folded lines,
        the NOP words of every wait, and the HALT."""
        return {q: lowered_words(ops) for q, ops in self.ops.items()}

    def overfull(self) -> tuple[str, int] | None:
        """(queue, words) of the fullest queue when it holds more than the tile, else None."""
        words = self.queue_words()
        q = max(words, key=words.get, default=None)
        return (q, words[q]) if q is not None and words[q] > self.cfg.queue_words else None

    def render(self, notes: list[str] = ()) -> str:
        """The assembly text; KernelError when a queue would hold more words than the tile."""
        over = self.overfull()
        if over:
            raise KernelError(overfull_text(self.cfg, *over))
        out = [f"; {self.title}", "; generated by lpu kernel; every issue cycle is explicit"]
        out += [f"; {n}" for n in notes]
        cfg = self.cfg
        out.append(cfg.directive())
        out += self.data
        for q in cfg.queues:
            ops = sorted(self.ops.get(q.name, []), key=lambda o: o.cycle)
            if not ops:
                continue
            out.append(f".queue {q.name}")
            out += _fold(ops)
        return "\n".join(out) + "\n"


def _text(op: Op, args=None) -> str:
    args = op.args if args is None else args
    return f"{op.name} {', '.join(str(a) for a in args)}".rstrip()


def _runs(ops: list[Op]):
    """Split ops (sorted by cycle) into evenly spaced, evenly stepped runs that one REPEAT
    can fold: yield (op, run length, spacing, stride)."""
    i = 0
    while i < len(ops):
        op = ops[i]
        run, d, stride = 1, None, 0
        while i + run < len(ops) and run <= 255:
            nxt = ops[i + run]
            dd = nxt.cycle - ops[i + run - 1].cycle
            same = nxt.name == op.name and all(
                a == b for k, (a, b) in enumerate(zip(op.args, nxt.args, strict=True))
                if k != op.step)
            if not same or not 1 <= dd <= 255 or (d is not None and dd != d):
                break
            s = nxt.args[op.step] - ops[i + run - 1].args[op.step] if op.step is not None else 0
            if not -128 <= s <= 127 or (run > 1 and s != stride):
                break
            d, stride, run = dd, s, run + 1
        instr = BY_MNEMONIC[op.name.split(".")[0]]
        if (instr.step is None and stride) or instr.stall:  # REPEAT cannot repeat a freeze
            run = 1
        yield op, run, d, stride
        i += run


def lowered_words(ops: list[Op]) -> int:
    """Instruction words one queue's ops take once assembled and lowered: its folded lines,
    the NOP words of every wait and the HALT."""
    words, cursor = 1, 0
    for op, run, d, _ in _runs(sorted(ops, key=lambda o: o.cycle)):
        words += -(-(op.cycle - cursor) // NOP_MAX) + 1 + (run > 1)
        cursor = op.cycle + (run - 1) * (d or 0) + 1
    return words


def _fold(ops: list[Op]) -> list[str]:
    """Render ops with '@cycle', folding evenly spaced, evenly stepped runs into REPEAT."""
    lines, cursor = [], 0
    for op, run, d, stride in _runs(ops):
        at = f"@{op.cycle}" if op.cycle != cursor else ""
        line = f"{at:<7} {_text(op)}"
        lines.append(f"{line:<40} ; {op.comment}" if op.comment else line)
        if run > 1:
            lines.append(f"{'':<7} REPEAT {run - 1}, {d}, {stride}")
            cursor = op.cycle + (run - 1) * d + 1
        else:
            cursor = op.cycle + 1
    return lines
