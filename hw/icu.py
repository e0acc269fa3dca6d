"""Instruction queue of the ICU: program memory, fetch, decode and the queue sequencer.

One ``InstructionQueue`` per queue of the tile (``TileConfig.queues``). It sequences exactly as
``GoldenTile.sequence`` and ``GoldenTile.start_repeat`` in ``lpu.sw.golden`` do.

Cycle numbering: ``start`` is sampled high in some clock cycle; the next cycle is schedule
cycle 0, in which the word at address 0 is fetched (and issued if it is a unit instruction).
Every later cycle in which ``freeze`` is low is the next schedule cycle; a cycle with ``freeze``
high holds the whole queue state and is not a schedule cycle (the golden model's frozen wall
cycles). In schedule cycle ``t``:

* a fetch happens when the queue runs (started, not halted, not stopped by an error), is not
  parked on SYNC, has no REPEAT repetition pending and its next-issue cycle is ``t``;
* a unit instruction is presented on ``issue`` (``valid`` = 1) in its fetch cycle; the next
  fetch is in ``t + 1``;
* ``NOP n``: the next fetch is in ``t + n``;
* ``REPEAT n, d, stride`` fetched in ``t`` re-issues the previous unit instruction, issued in
  ``t0`` (always ``t - 1`` for a legal REPEAT), in ``t0 + k*d`` for ``k = 1..n`` with its step
  field advanced by ``k*stride`` (the first in ``t`` itself when ``d`` = 1); the next fetch is in
  ``t0 + n*d + 1``;
* ``SYNC`` raises ``sync_wait`` from its cycle on, until a cycle ``r >= t`` with ``release``
  high (``r`` included); the next fetch is in ``r + 1``;
* ``NOTIFY`` raises ``notify`` in its cycle; the next fetch is in ``t + 1``;
* ``HALT`` raises ``halted`` from its cycle on;
* an illegal word (``Decoder.illegal``), a REPEAT with no repeatable instruction before it (at
  the start, after an ICU instruction or after DESKEW/RUNTIME_DESKEW), a REPEAT with a stride on
  an instruction without a step field, a REPEAT whose last step leaves the field's legal range
  (``isa.step_range``), or a fetch past the last word raises ``error`` from that cycle on and
  stops the queue; nothing issues in that cycle.

``halted``, ``error``, ``notify``, ``sync_wait`` and ``issue`` are combinational in the fetch
cycle (the program memory has a synchronous read port addressed with the next fetch address).
``busy_count`` counts the issue cycles since ``start`` (it shows the count of earlier cycles).
``start`` clears the state (not the program memory) and may be given again after a halt or an
error. The host writes the program through ``host_*`` while the queue does not run.
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..sw.config import TileConfig
from ..sw.isa import BY_MNEMONIC, INSTRUCTIONS, UNIT_CLASSES, WORD_BITS, step_range
from .common import field_widths, issue_layout, require_config
from .decoder import Decoder

BUSY_BITS = 32

_OP = {name: BY_MNEMONIC[name].opcode for name in ("HALT", "NOP", "REPEAT", "SYNC", "NOTIFY")}


class InstructionQueue(wiring.Component):
    """One instruction queue of unit class ``unit`` (and MEM ``bank``).

    Parameters
    ----------
    config : TileConfig
    unit : str
        Unit class (``lpu.sw.isa.UNIT_CLASSES``).
    bank : int or None
        The MEM bank the queue serves (MEM queues only).
    fault : bool
        Plant a one-bit fault for the negative control: bit 0 of ``issue.opcode`` is inverted
        on every REPEAT repetition.

    Members
    -------
    host_addr, host_data, host_we : In
        Program memory write port (one 32-bit word per cycle).
    start : In(1)
        Clear the state and run from address 0; the next cycle is schedule cycle 0.
    release : In(1)
        The tile's OR of every queue's ``notify``: ends a SYNC wait (see the module docstring).
    freeze : In(1)
        Tile-wide stall (DESKEW): the queue holds all its state and issues nothing.
    issue : Out(issue_layout())
        The instruction issued this cycle; ``valid`` = 0 and all fields 0 when none.
    halted, error, sync_wait, notify : Out(1)
    busy_count : Out(32)
        Issue cycles since ``start``.
    """

    def __init__(self, config: TileConfig, unit: str, bank: int | None = None,
                 fault: bool = False):
        require_config(config)
        if unit not in UNIT_CLASSES:
            raise ValueError(f"unknown unit class {unit!r}; one of {', '.join(UNIT_CLASSES)}")
        if (unit == "MEM") != (bank is not None) or (bank is not None and
                                                      not 0 <= bank < config.mem_banks):
            raise ValueError(f"a MEM queue needs its bank (0..{config.mem_banks - 1}), other "
                             f"units none; got unit {unit!r}, bank {bank!r}")
        self.config, self.unit, self.bank, self.fault = config, unit, bank, bool(fault)
        self.queue_name = next(q.name for q in config.queues if q.unit == unit and q.bank == bank)
        self.addr_bits = max(1, ceil_log2(config.queue_words))
        super().__init__({
            "host_addr": In(self.addr_bits),
            "host_data": In(WORD_BITS),
            "host_we": In(1),
            "start": In(1),
            "release": In(1),
            "freeze": In(1),
            "issue": Out(issue_layout()),
            "halted": Out(1),
            "error": Out(1),
            "sync_wait": Out(1),
            "notify": Out(1),
            "busy_count": Out(BUSY_BITS),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        words = cfg.queue_words
        instrs = [i for i in INSTRUCTIONS if i.unit == self.unit]
        stepped = [i for i in instrs if i.step]
        stalls = [i for i in instrs if i.stall]

        m.submodules.imem = imem = Memory(shape=unsigned(WORD_BITS), depth=words, init=[])
        m.submodules.decoder = dec = Decoder(cfg, self.unit, self.bank)
        wr = imem.write_port()
        rd = imem.read_port()

        # Host write port.
        m.d.comb += [wr.addr.eq(self.host_addr), wr.data.eq(self.host_data),
                     wr.en.eq(self.host_we)]

        # State.
        running = Signal()  # started, not halted, no error
        halted = Signal()
        error = Signal()
        parked = Signal()  # waiting on SYNC
        pc = Signal(range(words + 1))  # address of the next fetch
        fetch_wait = Signal(16)  # cycles before the next fetch
        last = Signal(issue_layout())  # last unit issue; valid = REPEAT may repeat it
        rep_left = Signal(8)  # repetitions still to issue
        rep_wait = Signal(8)  # cycles before the next repetition
        rep_d = Signal(8)
        rep_stride = Signal(signed(8))
        busy = Signal(BUSY_BITS)

        # Fetch: the read port is addressed with the next pc, so rd.data is the word at pc.
        pc_next = Signal.like(pc)
        m.d.comb += [pc_next.eq(pc), rd.addr.eq(pc_next), dec.word.eq(rd.data)]
        m.d.sync += pc.eq(pc_next)
        active = running & ~self.freeze
        fetch = Signal()
        m.d.comb += fetch.eq(active & ~parked & (fetch_wait == 0) & (rep_left == 0))
        bad_word = dec.illegal | (pc >= words)
        go = Signal()  # a legal word is fetched
        m.d.comb += go.eq(fetch & ~bad_word)
        op = dec.opcode

        # REPEAT operands and the previous instruction's step field.
        r_n, r_d = dec.f_n[:8], dec.f_d[:8]
        r_stride = dec.f_stride.as_signed()
        has_step, step_bad, is_stall = Signal(), Signal(), Signal()
        step_now = Signal(17)  # the step field of `last`
        last_step = Signal(signed(19))
        m.d.comb += last_step.eq(step_now + r_n * r_stride)
        for instr in stepped:
            lo, hi = step_range(instr, instr.step, cfg, self.queue_name)
            with m.If(last.opcode == instr.opcode):
                m.d.comb += [has_step.eq(1), step_now.eq(getattr(last, instr.step)),
                             step_bad.eq((last_step < lo) | (last_step > hi))]
        if stalls:
            m.d.comb += is_stall.eq(Cat(*[last.opcode == i.opcode for i in stalls]).any())
        repeat_ok = last.valid & ~is_stall & ~((r_stride != 0) & ~has_step) & ~step_bad

        # The repetition issued this cycle: `last` with its step field advanced.
        rep_fire = Signal()
        stride = Mux(go & (op == _OP["REPEAT"]), r_stride, rep_stride)
        rep_issue = Signal(issue_layout())
        m.d.comb += rep_issue.eq(last)
        for instr in stepped:
            with m.If(last.opcode == instr.opcode):
                field = getattr(last, instr.step)
                m.d.comb += getattr(rep_issue, instr.step).eq(field + stride)
        m.d.comb += rep_issue.valid.eq(1)

        # The decoded word as an issue.
        dec_issue = Signal(issue_layout())
        m.d.comb += [dec_issue.valid.eq(1), dec_issue.opcode.eq(op)]
        m.d.comb += [getattr(dec_issue, name).eq(getattr(dec, f"f_{name}"))
                     for name in field_widths()]

        # Sequencer.
        unit_issue, err_now, halt_now, sync_now = Signal(), Signal(), Signal(), Signal()
        with m.If(fetch):
            with m.If(bad_word):
                m.d.comb += err_now.eq(1)
            with m.Else():
                m.d.comb += pc_next.eq(pc + 1)
                with m.If(op == _OP["HALT"]):
                    m.d.comb += halt_now.eq(1)
                with m.Elif(op == _OP["NOP"]):
                    m.d.sync += [fetch_wait.eq(dec.f_n - 1), last.valid.eq(0)]
                with m.Elif(op == _OP["REPEAT"]):
                    with m.If(~repeat_ok):
                        m.d.comb += err_now.eq(1)
                    with m.Elif(r_d == 1):
                        m.d.comb += rep_fire.eq(1)
                        m.d.sync += [rep_left.eq(r_n - 1), rep_wait.eq(0)]
                    with m.Else():
                        m.d.sync += [rep_left.eq(r_n), rep_wait.eq(r_d - 2)]
                    m.d.sync += [rep_d.eq(r_d), rep_stride.eq(r_stride)]
                with m.Elif(op == _OP["SYNC"]):
                    m.d.comb += sync_now.eq(1)
                    m.d.sync += [parked.eq(~self.release), last.valid.eq(0)]
                with m.Elif(op == _OP["NOTIFY"]):
                    m.d.comb += self.notify.eq(1)
                    m.d.sync += last.valid.eq(0)
                with m.Else():  # a unit instruction (the decoder passed only legal ones)
                    m.d.comb += unit_issue.eq(1)
                    m.d.sync += last.eq(dec_issue)
        with m.If(active & parked & self.release):
            m.d.sync += parked.eq(0)
        with m.If(active & (rep_left != 0)):
            with m.If(rep_wait == 0):
                m.d.comb += rep_fire.eq(1)
                m.d.sync += [rep_left.eq(rep_left - 1), rep_wait.eq(rep_d - 1)]
            with m.Else():
                m.d.sync += rep_wait.eq(rep_wait - 1)
        with m.If(rep_fire):
            m.d.sync += last.eq(rep_issue)
        with m.If(active & (fetch_wait != 0)):
            m.d.sync += fetch_wait.eq(fetch_wait - 1)
        with m.If(err_now):
            m.d.sync += [error.eq(1), running.eq(0)]
        with m.If(halt_now):
            m.d.sync += [halted.eq(1), running.eq(0)]

        # Outputs.
        with m.If(unit_issue):
            m.d.comb += self.issue.eq(dec_issue)
        with m.Elif(rep_fire):
            m.d.comb += self.issue.eq(rep_issue)
            if self.fault:
                m.d.comb += self.issue.opcode[0].eq(~rep_issue.opcode[0])
        with m.If(self.issue.valid):
            m.d.sync += busy.eq(busy + 1)
        m.d.comb += [self.halted.eq(halted | halt_now), self.error.eq(error | err_now),
                     self.sync_wait.eq(parked | sync_now), self.busy_count.eq(busy)]

        # Start: clear the state and fetch address 0 in the next cycle.
        with m.If(self.start):
            m.d.comb += pc_next.eq(0)
            m.d.sync += [running.eq(1), halted.eq(0), error.eq(0), parked.eq(0), fetch_wait.eq(0),
                         last.valid.eq(0), rep_left.eq(0), rep_wait.eq(0), busy.eq(0)]
        return m
