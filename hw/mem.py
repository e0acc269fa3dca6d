"""One bank of a MEM slice: ``READ``, ``WRITE``, ``GATHER`` and ``SCATTER`` (ISA latency 1).

A MEM slice has ``mem_banks`` banks and one queue per bank; queue ``MEM_x.b`` drives the
``MemBank`` of bank ``b``, which holds slice addresses ``b*mem_words .. (b+1)*mem_words-1``. The
bank is ``lanes`` byte-wide memories (one per lane), so ``GATHER``/``SCATTER`` can use a
different word address in every lane.

Timing (the golden model's ``GoldenTile._mem`` and ``.bank``), for an instruction issued in
cycle ``t``:

* ``READ addr, z``: the bank is read in cycle ``t``; the word is on ``s_out`` stream ``z``
  during cycle ``t + 1``.
* ``WRITE addr, a``: stream ``a`` is taken in cycle ``t``; the bank is written at the end of
  cycle ``t + 1``.
* ``GATHER m, z``: lane ``l`` reads word ``m[l]`` (``m`` a 2-stream unsigned 16-bit group) in
  cycle ``t``; the result is on stream ``z`` during ``t + 1``.
* ``SCATTER m, a``: lane ``l`` of word ``m[l]`` is written with ``a[l]`` at the end of ``t + 1``.

``error`` is raised in cycle ``t`` when the instruction reads an operand stream whose valid bit
is 0, when a ``GATHER``/``SCATTER`` lane address lies outside this bank, and when a ``READ`` or
``GATHER`` uses the bank in the cycle a ``WRITE``/``SCATTER`` issued in ``t - 1`` writes it (a
bank read and written in one cycle). The golden model stops the tile in that cycle, so nothing
lands: the erroring instruction has no effect (no output, no write) and the bank write due at
the end of that cycle is dropped. A ``s_out`` value due in the error cycle is still presented;
the tile must not load stream registers in a cycle with an error.

The decoder guarantees a ``READ``/``WRITE`` address lies in this bank, so only its low
``log2(mem_words)`` bits are used. ``REPEAT`` stepping is done by the queue.
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from ..sw.config import TileConfig
from ..sw.isa import BY_MNEMONIC
from . import common
from .common import pick_stream, stream_dir_bit, stream_number, vector_layout

OP_READ = BY_MNEMONIC["READ"].opcode
OP_WRITE = BY_MNEMONIC["WRITE"].opcode
OP_GATHER = BY_MNEMONIC["GATHER"].opcode
OP_SCATTER = BY_MNEMONIC["SCATTER"].opcode

#: The latency this bank implements for each instruction (results and writes one cycle late).
LATENCY = {"READ": 1, "WRITE": 1, "GATHER": 1, "SCATTER": 1}


class MemBank(wiring.Component):
    """One MEM bank and its execution unit.

    Parameters
    ----------
    config : TileConfig
        Tile parameters (``lanes``, ``streams``, ``mem_words``, ``mem_banks``).
    bank : int
        The bank this unit serves, ``0 .. mem_banks-1``.
    fault : bool
        Plant a one-bit fault for the negative control: bit 0 of lane 0 of a ``READ`` result is
        inverted when the read address is odd.

    Members
    -------
    issue, s_in, s_out, error :
        The unit port (``unit_signature``). ``s_out.valid`` is one-hot on the result stream in
        the cycle it is due; the result word is on every stream's ``data``. ``error``: operand
        stream without a value, lane address outside the bank, or bank conflict.
    host_addr : In(log2(mem_words))
        Host port word address, local to the bank (slice address minus ``bank*mem_words``).
    host_we : In(1)
        Write ``host_wdata`` to ``host_addr`` at the end of this cycle.
    host_wdata : In(vector_layout(config))
        Word to write.
    host_rdata : Out(vector_layout(config))
        The word at the ``host_addr`` given in the previous cycle, as the bank held it before
        that cycle's write. The host port shares the bank's ports with the unit: use it only
        while the unit is idle (an issued access or a pending unit write takes precedence).
    """

    def __init__(self, config: TileConfig, bank: int, fault: bool = False):
        common.require_config(config)
        common.check_latencies("MEM", LATENCY)
        if not isinstance(bank, int) or not 0 <= bank < config.mem_banks:
            raise ValueError(f"bank must be 0..{config.mem_banks - 1}, not {bank!r}")
        self.config, self.bank, self.fault = config, bank, bool(fault)
        self.addr_bits = exact_log2(config.mem_words)
        super().__init__({
            **common.unit_signature(config).members,
            "host_addr": In(self.addr_bits),
            "host_we": In(1),
            "host_wdata": In(vector_layout(config)),
            "host_rdata": Out(vector_layout(config)),
        })

    def _operand(self, m, name, field, plane=0):
        """Return (vector, valid) of plane ``plane`` of the group ``field`` names."""
        vec = Signal(vector_layout(self.config), name=f"{name}_vec")
        ok = Signal(name=f"{name}_ok")
        picked_vec, picked_ok = pick_stream(self.config, self.s_in.e, self.s_in.w, field, plane)
        m.d.comb += [vec.eq(picked_vec), ok.eq(picked_ok)]
        return vec, ok

    def elaborate(self, platform):
        m = Module()
        cfg, aw, lanes = self.config, self.addr_bits, self.config.lanes
        iss = self.issue

        # One byte-wide memory per lane, one read and one write port each.
        rports, wports = [], []
        for lane in range(lanes):
            mem = Memory(shape=unsigned(8), depth=cfg.mem_words, init=[])
            m.submodules[f"lane{lane}"] = mem
            rports.append(mem.read_port())
            wports.append(mem.write_port())

        # Decode the issued instruction.
        is_read = Signal()
        is_write = Signal()
        is_gather = Signal()
        is_scatter = Signal()
        m.d.comb += [
            is_read.eq(iss.valid & (iss.opcode == OP_READ)),
            is_write.eq(iss.valid & (iss.opcode == OP_WRITE)),
            is_gather.eq(iss.valid & (iss.opcode == OP_GATHER)),
            is_scatter.eq(iss.valid & (iss.opcode == OP_SCATTER)),
        ]
        uses_read = is_read | is_gather
        uses_write = is_write | is_scatter
        indirect = is_gather | is_scatter

        # Operands: a (WRITE, SCATTER) and the 16-bit lane address group m (GATHER, SCATTER).
        a_vec, a_ok = self._operand(m, "a", iss.a)
        m_lo, m_lo_ok = self._operand(m, "m_lo", iss.m)
        m_hi, m_hi_ok = self._operand(m, "m_hi", iss.m, 1)
        lane_addr = [Signal(16, name=f"lane{lane}_addr") for lane in range(lanes)]
        outside = Signal(lanes)
        for lane in range(lanes):
            m.d.comb += [
                lane_addr[lane].eq(Cat(m_lo[lane], m_hi[lane])),
                outside[lane].eq(lane_addr[lane][aw:] != self.bank),
            ]

        # Errors: missing operand, lane address outside the bank, bank read while written.
        pend_we = Signal()  # a WRITE/SCATTER issued last cycle writes the bank this cycle
        bad_a = (is_write | is_scatter) & ~a_ok
        bad_m = indirect & (~m_lo_ok | ~m_hi_ok | outside.any())
        conflict = uses_read & pend_we
        m.d.comb += self.error.eq(bad_a | bad_m | conflict)

        # Read ports: the unit's address when it reads, else the host's.
        for lane, rp in enumerate(rports):
            with m.If(is_gather):
                m.d.comb += rp.addr.eq(lane_addr[lane][:aw])
            with m.Elif(is_read):
                m.d.comb += rp.addr.eq(iss.addr[:aw])
            with m.Else():
                m.d.comb += rp.addr.eq(self.host_addr)
            m.d.comb += self.host_rdata[lane].eq(rp.data)

        # Stage the write for the end of the next cycle (it lands even if that cycle errs).
        w_addr = [Signal(aw, name=f"lane{lane}_waddr") for lane in range(lanes)]
        w_data = Signal(vector_layout(cfg))
        m.d.sync += pend_we.eq(uses_write & ~self.error)
        for lane in range(lanes):
            m.d.sync += [
                w_addr[lane].eq(Mux(is_scatter, lane_addr[lane][:aw], iss.addr[:aw])),
                w_data[lane].eq(a_vec[lane]),
            ]
        for lane, wp in enumerate(wports):
            with m.If(pend_we):
                m.d.comb += [wp.en.eq(1), wp.addr.eq(w_addr[lane]),
                             wp.data.eq(w_data[lane])]
            with m.Else():
                m.d.comb += [wp.en.eq(self.host_we), wp.addr.eq(self.host_addr),
                             wp.data.eq(self.host_wdata[lane])]

        # Present the read word on stream z in the next cycle.
        out_valid = Signal()
        out_z = Signal(6)
        out_odd = Signal()  # READ of an odd address (fault condition)
        m.d.sync += [
            out_valid.eq(uses_read & ~self.error),
            out_z.eq(iss.z),
            out_odd.eq(is_read & iss.addr[0]),
        ]
        word = Signal(vector_layout(cfg))
        m.d.comb += word.eq(Cat(rp.data for rp in rports))
        if self.fault:
            m.d.comb += word[0].eq(Cat(rports[0].data[0] ^ out_odd, rports[0].data[1:]))
        onehot = Signal(cfg.streams)
        m.d.comb += onehot.eq(Mux(out_valid, 1, 0) << stream_number(out_z))
        west = stream_dir_bit(out_z)
        for direction, sel in ((self.s_out.e, ~west), (self.s_out.w, west)):
            m.d.comb += direction.valid.eq(Mux(sel, onehot, 0))
            for s in range(cfg.streams):
                m.d.comb += direction.data[s].eq(word)
        return m
