"""Disassembler: an image back to assembly text that reassembles to the identical image."""

from __future__ import annotations

from .errors import LpuError
from .image import segments_normalized
from .isa import format_instr
from .layout import MemMap
from .program import Program
from .schedule import schedule


def _symbol_map(prog: Program) -> MemMap:
    """Every symbol placement's words, to name the symbol an address falls in."""
    mem = MemMap()
    for s in prog.symbols.values():
        for i, (sl, base) in enumerate(s.placements):
            mem.claim(sl, base, base + s.words_in(i, prog.config.lanes), s.name)
    return mem


def _symbol_at(mem: MemMap, slice_name: str, addr: int) -> str | None:
    hit = mem.overlap(slice_name, addr, addr + 1)
    if hit is None:
        return None
    base, _, name = hit
    return name if addr == base else f"{name}+{addr - base}"


def _only_halt(items) -> bool:
    return len(items) <= 1 and all(i.instr.mnemonic == "HALT" for i in items)


def disassemble(prog: Program, source: str = "") -> str:
    """Return assembly text for a program read from an image."""
    cfg = prog.config
    out = [f"; disassembled from {source}" if source else "; disassembled"]
    out.append(cfg.directive())
    for s in prog.symbols.values():
        places = ", ".join(f"{sl}:{addr:#x}" for sl, addr in s.placements)
        out.append(f".data {s.name} {s.dtype}[{','.join(map(str, s.shape))}] {places}")
    for sl, addr, data in segments_normalized(prog):
        for w in range(len(data) // cfg.lanes):
            word = data[w * cfg.lanes:(w + 1) * cfg.lanes]
            out.append(f".mem {sl}:{addr + w:#x} = {', '.join(map(str, word))}")
    try:
        cycles = {}
        sched = schedule(prog)
        for iss in sched.issues:
            if iss.repeat == 0:
                cycles[id(iss.item)] = iss.cycle
    except LpuError:
        cycles = {}
    mem = _symbol_map(prog)
    busy = [q for q in cfg.queues if not _only_halt(prog.queues.get(q.name, []))]
    if not busy:  # a source needs one .queue section; an empty one assembles to HALT
        out.append(f".queue {cfg.queues[0].name}")
    for q in busy:
        items = prog.queues.get(q.name, [])
        out.append(f".queue {q.name}")
        for it in items:
            text = "    " + format_instr(it.instr, it.values)
            notes = []
            if id(it) in cycles:
                notes.append(f"@{cycles[id(it)]}")
            if "addr" in it.values:
                sym = _symbol_at(mem, q.slice.name, it.values["addr"])
                if sym:
                    notes.append(sym)
            if notes:
                text = f"{text:<36} ; {' '.join(notes)}"
            out.append(text)
    return "\n".join(out) + "\n"
