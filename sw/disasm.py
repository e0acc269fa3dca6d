"""Disassembler: an image back to assembly text that reassembles to the identical image."""

from __future__ import annotations

from .errors import LpuError
from .image import segments_normalized
from .isa import format_instr
from .program import Program
from .schedule import schedule


def _symbol_at(prog: Program, slice_name: str, addr: int) -> str | None:
    lanes = prog.config.lanes
    for s in prog.symbols.values():
        for i, (sl, base) in enumerate(s.placements):
            if sl == slice_name and base <= addr < base + s.words_in(i, lanes):
                return s.name if addr == base else f"{s.name}+{addr - base}"
    return None


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
    for q in cfg.queues:
        items = prog.queues.get(q.name, [])
        if len(items) <= 1 and all(i.instr.mnemonic == "HALT" for i in items):
            continue
        out.append(f".queue {q.name}")
        for it in items:
            text = "    " + format_instr(it.instr, it.values)
            notes = []
            if id(it) in cycles:
                notes.append(f"@{cycles[id(it)]}")
            if "addr" in it.values:
                sym = _symbol_at(prog, q.slice.name, it.values["addr"])
                if sym:
                    notes.append(sym)
            if notes:
                text = f"{text:<36} ; {' '.join(notes)}"
            out.append(text)
    return "\n".join(out) + "\n"
