"""Interfaces every functional unit shares, so ``tile.py`` only has to wire them.

Timing contract (the ISA's, ``docs/architecture.md``): a unit sees an instruction on ``issue``
during its issue cycle ``t`` together with the stream values at its inputs in that cycle
(``s_in``); a result it puts on a stream is presented on ``s_out`` during cycle ``t + d`` (d
the ISA latency), and the stream segment loads it into the register at the end of that cycle.
A unit raises ``error`` in the cycle it reads a stream that holds no value.
"""

from __future__ import annotations

from amaranth import Cat, Const, Mux, Value, unsigned
from amaranth.lib import data
from amaranth.utils import ceil_log2

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


def group_stream(config: TileConfig, field: Value, plane: int = 0) -> Value:
    """The stream number of plane ``plane`` (byte ``plane``) of the operand group ``field``
    names, in ``ceil(log2(streams))`` bits.

    The decoder rejects an instruction whose group is not aligned to its width or ends past the
    last stream, so plane ``j`` of an issued group is stream ``field | j`` and the bits above
    the last stream's are zero. A unit selects a plane with a mux tree of that depth, not of 5
    bits with zeros past the last stream (ECP5 MEM bank: 1,826 to 1,500 LUT4; docs/fpga.md)."""
    bits = ceil_log2(config.streams)
    low = ceil_log2(plane + 1)
    return Cat(Const(plane, low), field[low:bits]) if plane else field[:bits]


def pick_stream(config: TileConfig, east, west, field: Value, plane: int = 0):
    """(vector, valid) of plane ``plane`` of the operand group ``field`` names (``group_stream``)
    from one side's streams; bit 5 of ``field`` picks ``west`` over ``east``. Each side is a
    ``streams_layout`` view or a ``(vectors, valid bits)`` pair of sequences."""
    index = group_stream(config, field, plane)
    picked = []
    for side in (east, west):
        vectors, valid = (side.data, side.valid) if hasattr(side, "data") else side
        width = len(Value.cast(vectors[0]))
        picked.append((Cat(*(vectors[s] for s in range(config.streams))).word_select(index, width),
                       Cat(*(valid[s] for s in range(config.streams))).bit_select(index, 1)))
    (e_vec, e_ok), (w_vec, w_ok) = picked
    return Mux(field[5], w_vec, e_vec), Mux(field[5], w_ok, e_ok)
