"""Tile configurations and program builders several test modules share (none of the
configurations is a preset)."""

import dataclasses

from lpu.sw.asm import assemble_text
from lpu.sw.config import TileConfig
from lpu.sw.isa import BY_MNEMONIC
from lpu.sw.program import Item, LoweredProgram

#: A 2-lane tile: one weight feeder per MXM, MXM tiles of 2 cycles (IW, ABCB), no TRANSPOSE.
TWO_LANES = TileConfig(lanes=2, streams=8, mem_slices=2, mem_words=1024, vxm_alus=3,
                       mxm_accumulators=2, mxm_act_slots=64, sxm_maps=2, queue_words=1024)


def unchecked(text):
    """Assemble without the static check: each queue's items plus a HALT, as an image holds
    them (the path a hand-made or corrupted image takes to the hardware)."""
    prog = assemble_text("t.s", text)
    queues = {}
    for q in prog.config.queues:
        name, items = q.name, prog.queues.get(q.name, [])
        out = []
        for it in items:
            if it.at:
                out.append(Item(BY_MNEMONIC["NOP"], {"n": it.at}, it.loc))  # from cycle 0 only
            out.append(dataclasses.replace(it, at=None))
        queues[name] = [*out, Item(BY_MNEMONIC["HALT"], {})]
    return LoweredProgram(prog.config, prog.symbols, prog.segments, queues, prog.file)
