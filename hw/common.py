"""Interfaces every functional unit shares, so ``tile.py`` only has to wire them.

Timing contract (the ISA's, ``docs/architecture.md``): a unit sees an instruction on ``issue``
during its issue cycle ``t`` together with the stream values at its inputs in that cycle
(``s_in``); a result it puts on a stream is presented on ``s_out`` during cycle ``t + d`` (d
the ISA latency), and the stream segment loads it into the register at the end of that cycle.
A unit raises ``error`` in the cycle it reads a stream that holds no value.

Every unit declares the latencies its datapath implements and checks them against the ISA
table when it is built (``check_latencies``), so a changed table fails at construction, not
in a cycle-by-cycle comparison much later.
"""

from __future__ import annotations

from amaranth import Array, Cat, Const, Mux, Value, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..sw.config import TileConfig
from ..sw.isa import INSTRUCTIONS, OPCODE_BITS, STREAM_INDEX_BITS


class IsaMismatch(RuntimeError):
    """A unit's datapath no longer implements the ISA table's instructions or timing."""


def require_config(config) -> TileConfig:
    """Return ``config``; raise ``TypeError`` unless it is a ``TileConfig``."""
    if not isinstance(config, TileConfig):
        raise TypeError(f"config must be a TileConfig, not {config!r}")
    return config


def check_latencies(unit: str, implemented: dict[str, int],
                    settles: dict[str, int] | None = None) -> None:
    """Raise ``IsaMismatch`` unless ``implemented`` names every instruction of the ISA unit
    class(es) ``unit`` (``"MXM"`` covers ``MXM_WGT`` and ``MXM_ACT``) with its ISA latency, and
    ``settles`` gives the ISA's ``settle`` of each instruction whose last effect lands at
    another offset than its result (``Instr.lands``)."""
    isa = {i.mnemonic: i for i in INSTRUCTIONS if i.unit.split("_")[0] == unit}
    if not isa:
        raise ValueError(f"no ISA unit class {unit!r}")
    missing, extra = sorted(set(isa) - set(implemented)), sorted(set(implemented) - set(isa))
    if missing or extra:
        raise IsaMismatch(f"{unit}: the ISA table (lpu.sw.isa) has {missing or 'no'} "
                          f"instructions the RTL lacks and lacks {extra or 'none'} of the RTL's")
    wrong = [f"{name} latency {got} (ISA {isa[name].latency})"
             for name, got in implemented.items() if got != isa[name].latency]
    settles = settles or {}
    wrong += [f"{name} settle {settles.get(name, i.latency)} (ISA {i.settle})"
              for name, i in isa.items() if settles.get(name, i.latency) != i.settle]
    if wrong:
        raise IsaMismatch(f"{unit}: the RTL implements {', '.join(wrong)}; make the datapath and "
                          f"the ISA table in lpu.sw.isa agree")


def field_widths() -> dict[str, int]:
    """Every field name in the ISA with the widest width it has in any format."""
    widths: dict[str, int] = {}
    for instr in INSTRUCTIONS:
        for f in instr.fields:
            widths[f.name] = max(widths.get(f.name, 0), f.width)
    return widths


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


def unit_signature(config: TileConfig, issues: tuple[str, ...] = ("issue",),
                   **extra: wiring.Member) -> wiring.Signature:
    """The port every functional unit has, as the unit sees it.

    Members
    -------
    issue : In(issue_layout())
        The instruction its queue issues this cycle (a unit fed by several queues, the MXM,
        has one such member per queue, named by ``issues``).
    s_in : In(both_directions(config))
        Stream values at the unit's inputs this cycle.
    <extra> :
        Further members (``extra``), in order after ``s_in``.
    s_out : Out(both_directions(config))
        Write requests: the results due this cycle, data and a valid bit per stream.
    error : Out(1)
        An operand stream read this cycle holds no value, or another unit-specific fault.
    """
    return wiring.Signature({
        **{name: In(issue_layout()) for name in issues},
        "s_in": In(both_directions(config)),
        **extra,
        "s_out": Out(both_directions(config)),
        "error": Out(1),
    })


def stream_dir_bit(field: Value) -> Value:
    """The direction bit of a stream operand field (``lpu.sw.isa.stream_dir``: ``E`` 0, ``W`` 1)."""
    return field[STREAM_INDEX_BITS]


def stream_number(field: Value) -> Value:
    """The stream index bits of a stream operand field (``lpu.sw.isa.stream_index``)."""
    return field[:STREAM_INDEX_BITS]


def group_stream(config: TileConfig, field: Value, plane: int = 0) -> Value:
    """The stream number of plane ``plane`` (byte ``plane``) of the operand group ``field``
    names, in ``ceil(log2(streams))`` bits.

    The decoder rejects an instruction whose group is not aligned to its width or ends past the
    last stream, so plane ``j`` of an issued group is stream ``field | j`` and the bits above
    the last stream's are zero. A unit selects a plane with a mux tree of that depth, not of
    ``STREAM_INDEX_BITS`` bits with zeros past the last stream: fewer LUTs."""
    bits = ceil_log2(config.streams)
    low = ceil_log2(plane + 1)
    return Cat(Const(plane, low), field[low:bits]) if plane else field[:bits]


def select(index: Value, items) -> Value:
    """``items[index]`` as a mux (a ``case`` in the Verilog), zero where ``index`` is past the
    last item, like ``word_select`` on their concatenation. Verilator evaluates a variable
    ``word_select`` over a wide vector as a shift of the whole vector; a mux copies one item."""
    items = [Value.cast(item) for item in items]
    width = max(len(item) for item in items)
    padding = [Const(0, width)] * ((1 << len(index)) - len(items))
    return Array([*(item.as_unsigned() for item in items), *padding])[index]


def pick_stream(config: TileConfig, east, west, field: Value, plane: int = 0):
    """(vector, valid) of plane ``plane`` of the operand group ``field`` names (``group_stream``)
    from one side's streams; the direction bit of ``field`` picks ``west`` over ``east``. Each
    side is a ``streams_layout`` view or a ``(vectors, valid bits)`` pair of sequences."""
    # Only the streams plane ``plane`` can be: the index bits above the plane's constant ones
    # pick among them (every case of the mux reachable, none a latch to Verilator).
    bits, low = ceil_log2(config.streams), ceil_log2(plane + 1)
    streams = [s for s in range(config.streams) if s & ((1 << low) - 1) == plane]
    index = field[low:bits]
    picked = []
    for side in (east, west):
        vectors, valid = (side.data, side.valid) if hasattr(side, "data") else side
        if not streams:  # a plane past the last stream: no value
            picked.append((Const(0, len(Value.cast(vectors[0]))), Const(0, 1)))
            continue
        picked.append((select(index, [vectors[s] for s in streams]),
                       select(index, [valid[s] for s in streams])))
    (e_vec, e_ok), (w_vec, w_ok) = picked
    west_bit = stream_dir_bit(field)
    return Mux(west_bit, w_vec, e_vec), Mux(west_bit, w_ok, e_ok)
