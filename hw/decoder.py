"""Instruction decoder, generated from the ISA table in ``lpu.sw.isa`` (not a second copy).

One decoder per queue: it takes a 32-bit word and gives the opcode, every field of every
instruction format at its own bit position, and ``illegal`` when the word is not an
instruction this queue may issue on this tile (unknown opcode, reserved bits set, a field value
the ISA or the tile config forbids, or an instruction of another unit).
"""

from __future__ import annotations

from amaranth import Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from ..sw.config import TileConfig
from ..sw.isa import (
    DTYPES,
    ILLEGAL_VALUES,
    INSTRUCTIONS,
    OPCODE_BITS,
    UNIT_CLASSES,
    WORD_BITS,
    field_limit,
    lanes_problem,
)
from .common import field_widths, require_config, stream_number

__all__ = ["Decoder", "field_widths"]


class Decoder(wiring.Component):
    """Decode one instruction word for a queue of unit class ``unit``.

    Members
    -------
    word : In(32)
    opcode : Out(6)
    illegal : Out(1)
    f_<name> : Out(width)
        The raw bits of field <name> (two's complement for signed fields).
    """

    def __init__(self, config: TileConfig, unit: str, bank: int | None = None):
        require_config(config)
        if unit not in UNIT_CLASSES:
            raise ValueError(f"unknown unit class {unit!r}; one of {', '.join(UNIT_CLASSES)}")
        if (unit == "MEM") != (bank is not None) or (bank is not None and
                                                      not 0 <= bank < config.mem_banks):
            raise ValueError(f"a MEM decoder needs its bank (0..{config.mem_banks - 1}), other "
                             f"units none; got unit {unit!r}, bank {bank!r}")
        self.config, self.unit, self.bank = config, unit, bank
        self.instrs = [i for i in INSTRUCTIONS if i.unit in ("ICU", unit)]
        members = {"word": In(WORD_BITS), "opcode": Out(OPCODE_BITS), "illegal": Out(1)}
        members.update({f"f_{n}": Out(w) for n, w in field_widths().items()})
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        word = self.word
        m.d.comb += self.opcode.eq(word[WORD_BITS - OPCODE_BITS:])
        with m.Switch(self.opcode):
            for instr in self.instrs:
                with m.Case(instr.opcode):
                    bad = Signal(name=f"bad_{instr.mnemonic.lower()}")
                    checks = []
                    if lanes_problem(instr, self.config) is not None:
                        checks.append(Const(1))
                    if instr.reserved_bits:
                        checks.append(word[:instr.reserved_bits] != 0)
                    raws = {}
                    for f, msb, lsb in instr.layout():
                        raws[f.name] = raw = word[lsb:msb + 1]
                        m.d.comb += getattr(self, f"f_{f.name}").eq(raw)
                        checks += self._field_checks(instr, f, raw)
                    checks += self._group_checks(instr, raws)
                    m.d.comb += bad.eq(0)
                    for c in checks:
                        with m.If(c):
                            m.d.comb += bad.eq(1)
                    m.d.comb += self.illegal.eq(bad)
            with m.Default():
                m.d.comb += self.illegal.eq(1)
        return m

    def _field_checks(self, instr, f, raw):
        """Conditions (Amaranth values) under which this field's value is illegal."""
        out = []
        if f.kind == "dtype":
            out += [raw == DTYPES.index(d) for d in DTYPES if d not in f.choices]
            out.append(raw == 3)
        elif f.kind == "stream":
            out.append(stream_number(raw) >= self.config.streams)
        elif f.kind in ("u", "addr"):
            if f.min:
                out.append(raw < f.min)
            lim = field_limit(f, self.config)
            if lim is not None and lim < (1 << f.width) - 1:
                out.append(raw > lim)
        if f.kind == "addr" and self.bank is not None:
            out.append(raw[exact_log2(self.config.mem_words):] != self.bank)
        for v in ILLEGAL_VALUES.get((instr.mnemonic, f.name), ()):
            out.append(raw == v)
        return out

    def _group_checks(self, instr, raws):
        """A multi-stream operand must be aligned to its width and end inside the tile."""
        out = []
        streams = self.config.streams
        for name, spec in instr.reads + instr.writes:
            index = stream_number(raws[name])
            if isinstance(spec, int):
                widths = [(None, spec)]
            elif next(f for f in instr.fields if f.name == spec).kind == "dtype":
                widths = [(raws[spec] == code, 1 << code) for code in range(len(DTYPES))]
            else:  # a count field: LW's n consecutive streams, any start
                out.append(index + raws[spec] > streams)
                continue
            for when, width in widths:
                bad = index + width > streams
                if width > 1:
                    bad = bad | (index[:exact_log2(width)] != 0)
                out.append(bad if when is None else when & bad)
        return out
