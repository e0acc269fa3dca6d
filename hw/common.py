"""Interfaces every functional unit shares, so ``tile.py`` only has to wire them.

Timing contract (the ISA's, ``docs/architecture.md``): a unit sees an instruction on ``issue``
during its issue cycle ``t`` together with the stream values at its inputs in that cycle
(``s_in``); a result it puts on a stream is presented on ``s_out`` during cycle ``t + d`` (d
the ISA latency), and the stream segment loads it into the register at the end of that cycle.
A unit raises ``error`` in the cycle it reads a stream that holds no value.
"""

from __future__ import annotations

from amaranth import unsigned
from amaranth.lib import data

from ..sw.config import TileConfig
from ..sw.isa import OPCODE_BITS
from .decoder import field_widths


def vector_layout(config: TileConfig) -> data.ArrayLayout:
    """One vector: ``lanes`` bytes, lane 0 in the low byte."""
    return data.ArrayLayout(unsigned(8), config.lanes)


def streams_layout(config: TileConfig) -> data.StructLayout:
    """Every stream of one direction at one point: a vector and a valid bit per stream."""
    return data.StructLayout({
        "data": data.ArrayLayout(vector_layout(config), config.streams),
        "valid": unsigned(config.streams),
    })


def both_directions(config: TileConfig) -> data.StructLayout:
    """Eastward (``e``) and westward (``w``) streams at one point."""
    return data.StructLayout({"e": streams_layout(config), "w": streams_layout(config)})


def issue_layout() -> data.StructLayout:
    """The instruction a queue issues this cycle: valid, opcode and every ISA field."""
    fields = {"valid": unsigned(1), "opcode": unsigned(OPCODE_BITS)}
    fields.update({name: unsigned(width) for name, width in field_widths().items()})
    return data.StructLayout(fields)
