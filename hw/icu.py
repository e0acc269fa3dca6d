"""Instruction queue of the ICU: program memory, prefetch, decode and the queue sequencer.

One ``InstructionQueue`` per queue of the tile (``TileConfig.queues``). It sequences exactly as
``GoldenTile.sequence`` and ``GoldenTile.start_repeat`` in ``lpu.sw.golden`` do.

Programs have no branches, so the queue is a pipeline: the program memory's read port (held
while the next stage is full) feeds the decoder, whose result (with REPEAT's ``n * stride``
as a sum of shifted partial products, no multiplier) waits in a decoded-word register; the
sequencer takes words from there and computes each schedule cycle's outputs one cycle early,
into the output registers. No output of the queue depends combinationally on an input.

Cycle numbering: ``start`` (sampled high in some cycle ``s``) clears the state and starts the
prefetch at address 0. From cycle ``s + PREFETCH_CYCLES`` on, ``advance`` high in a cycle says
that the next cycle is a schedule cycle: the first such next cycle is schedule cycle 0, in which
the word at address 0 is fetched (and issued if it is a unit instruction), and every later one
is the next schedule cycle. A cycle not announced by ``advance`` holds the whole queue state and
is not a schedule cycle (the golden model's frozen wall cycles). In schedule cycle ``t``:

* a fetch happens when the queue runs (started, not halted, not stopped by an error), is not
  parked on SYNC, has no REPEAT repetition pending and its next-issue cycle is ``t``;
* a unit instruction is presented on ``issue`` (``valid`` = 1) in its fetch cycle; the next
  fetch is in ``t + 1``;
* ``NOP n``: the next fetch is in ``t + n``;
* ``REPEAT n, d, stride`` fetched in ``t`` re-issues the previous unit instruction, issued in
  ``t0`` (always ``t - 1`` for a legal REPEAT), in ``t0 + k*d`` for ``k = 1..n`` with its step
  field advanced by ``k*stride`` (the first in ``t`` itself when ``d`` = 1); the next fetch is in
  ``t0 + n*d + 1``;
* ``SYNC`` raises ``sync_wait`` from its cycle on, until a schedule cycle ``r >= t`` in which
  ``release`` is high (``r`` included); the next fetch is in ``r + 1``;
* ``NOTIFY`` raises ``notify`` in its cycle; the next fetch is in ``t + 1``;
* ``HALT`` raises ``halted`` from its cycle on;
* an illegal word (``Decoder.illegal``), a REPEAT with no repeatable instruction before it (at
  the start, after an ICU instruction or after DESKEW/RUNTIME_DESKEW), a REPEAT with a stride on
  an instruction without a step field, a REPEAT whose last step leaves the field's legal range
  (``isa.step_range``), or a fetch past the last word raises ``error`` from that cycle on and
  stops the queue; nothing issues in that cycle.

``issue``, ``halted``, ``error``, ``notify`` and ``sync_wait`` are registers holding schedule
cycle ``t``'s values during that cycle (``valid`` and ``notify`` are 0 in other cycles).
``release`` is read in schedule cycles only (the tile ORs every queue's registered ``notify``
into it). ``stop`` high in a schedule cycle means the tile stops at its end: the next cycle
issues nothing. ``busy_count`` counts the issue cycles since ``start`` (it shows the count of
earlier cycles). ``start`` may be given again after a halt or an error; it does not clear the
program memory, which the host writes through ``host_*`` while the queue does not run.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..sw.config import TileConfig
from ..sw.isa import BY_MNEMONIC, INSTRUCTIONS, OPCODE_BITS, UNIT_CLASSES, WORD_BITS, step_range
from .common import issue_layout, require_config
from .decoder import Decoder

BUSY_BITS = 32
#: Cycles from ``start`` until ``advance`` may announce schedule cycle 0: the first word is
#: read, then decoded.
PREFETCH_CYCLES = 3
#: REPEAT's ``n`` and ``stride`` are 8 bits wide (the partial-product sum below assumes it).
REPEAT_BITS = 8


def repeat_reach(n, stride, bits: int):
    """``(over, span)``: ``span = n * stride`` (``n`` unsigned, ``stride`` signed, both
    REPEAT_BITS wide) when ``|n * stride| < 2**bits``, else ``over`` = 1. A sum of the shifted
    partial products of ``|stride|``, each cut at bit ``bits`` (whatever is cut off sets
    ``over``): no multiplier, and only as wide as the queue's widest step range needs."""
    if bits == 0:
        return Const(0, 1), Const(0, signed(1))
    mag = Mux(stride[-1], -stride.as_signed(), stride.as_signed())[:REPEAT_BITS]
    terms, over = [], []
    for i in range(REPEAT_BITS):
        shifted = mag << i
        if len(shifted) > bits:
            over.append(n[i] & (shifted[bits:] != 0))
        terms.append(Mux(n[i], shifted[:bits], 0))
    while len(terms) > 1:
        terms = [a + b for a, b in zip(terms[::2], terms[1::2], strict=True)]
    total = terms[0]
    if len(total) > bits:
        over.append(total[bits:] != 0)
    size = total[:bits]
    return Cat(*over).any() if over else Const(0, 1), Mux(stride[-1], -size, size)


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
        Clear the state and prefetch from address 0 (see the module docstring).
    advance : In(1)
        The next cycle is a schedule cycle.
    release : In(1)
        The tile's OR of every queue's ``notify``: ends a SYNC wait (see the module docstring).
    stop : In(1)
        The tile stops at the end of this cycle: nothing issues in the next.
    issue : Out(issue_layout())
        The instruction issued this cycle; ``valid`` = 0 when none.
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
        #: REPEAT spans are computed exactly up to the widest step range of this queue.
        self.reach_bits = max([(hi - lo).bit_length() for hi, lo in self._step_ranges()] or [0])
        super().__init__({
            "host_addr": In(self.addr_bits),
            "host_data": In(WORD_BITS),
            "host_we": In(1),
            "start": In(1),
            "advance": In(1),
            "release": In(1),
            "stop": In(1),
            "issue": Out(issue_layout()),
            "halted": Out(1),
            "error": Out(1),
            "sync_wait": Out(1),
            "notify": Out(1),
            "busy_count": Out(BUSY_BITS),
        })

    def _step_ranges(self):
        return [step_range(i, i.step, self.config, self.queue_name)[::-1]
                for i in INSTRUCTIONS if i.unit == self.unit and i.step]

    def elaborate(self, platform):
        m = Module()
        words = self.config.queue_words
        m.submodules.imem = imem = Memory(shape=unsigned(WORD_BITS), depth=words, init=[])
        wr = imem.write_port()
        m.d.comb += [wr.addr.eq(self.host_addr), wr.data.eq(self.host_data),
                     wr.en.eq(self.host_we)]
        head_word, head_bad, head_reach, pop = self._prefetch(m, imem.read_port())
        self._sequencer(m, self._fields(m, head_word), head_bad, head_reach, pop)
        return m

    def _fields(self, m, word):
        """The head word as an issue. The decoder has already checked it, so a field is just
        its bits: a slice where every format of this queue puts it at one place, else a select
        by opcode. A field the opcode does not have holds whatever bits are there."""
        head = Signal(issue_layout())
        opcode = word[WORD_BITS - OPCODE_BITS:]
        m.d.comb += [head.valid.eq(1), head.opcode.eq(opcode)]
        places: dict[str, dict[tuple[int, int], list[int]]] = {}
        for instr in INSTRUCTIONS:
            if instr.unit in ("ICU", self.unit):
                for f, msb, lsb in instr.layout():
                    places.setdefault(f.name, {}).setdefault((msb, lsb), []).append(instr.opcode)
        for name, where in places.items():
            ((msb, lsb), _), *others = where.items()
            value = word[lsb:msb + 1]
            for (msb, lsb), opcodes in others:
                value = Mux(Cat(opcode == op for op in opcodes).any(), word[lsb:msb + 1], value)
            m.d.comb += getattr(head, name).eq(value)
        return head


    def _prefetch(self, m, rd):
        """Read port -> decoder -> the head register; return the head word, its error (an
        illegal word or past the memory), its REPEAT span and the ``pop`` signal the
        sequencer drives when it takes the head."""
        words = self.config.queue_words
        m.submodules.decoder = dec = Decoder(self.config, self.unit, self.bank)
        fetch_addr = Signal(range(words + 1))  # the next address to read
        out_past = Signal()  # the word on rd.data is past the memory's end
        out_valid = Signal()
        head_word, head_valid = Signal(WORD_BITS), Signal()
        head_bad, head_over = Signal(), Signal()
        head_span = Signal(signed(self.reach_bits + 1))
        pop = Signal()
        take = Signal()  # the head register loads the word on rd.data
        read = Signal()  # the read port moves on to fetch_addr
        m.d.comb += [take.eq(~head_valid | pop), read.eq(~out_valid | take),
                     rd.addr.eq(fetch_addr), rd.en.eq(read), dec.word.eq(rd.data)]
        with m.If(read):
            m.d.sync += [out_valid.eq(1), out_past.eq(fetch_addr == words),
                         fetch_addr.eq(Mux(fetch_addr == words, words, fetch_addr + 1))]
        over, span = repeat_reach(dec.f_n[:REPEAT_BITS], dec.f_stride[:REPEAT_BITS],
                                  self.reach_bits)
        with m.If(take):
            m.d.sync += [head_valid.eq(out_valid), head_word.eq(rd.data),
                         head_bad.eq(dec.illegal | out_past), head_over.eq(over),
                         head_span.eq(span)]
        with m.If(self.start):
            m.d.sync += [fetch_addr.eq(0), out_valid.eq(0), head_valid.eq(0)]
        return head_word, head_bad, (head_over, head_span), pop

    def _sequencer(self, m, head, head_bad, head_reach, pop):
        """Compute the next schedule cycle's outputs into the output registers; commit the
        state when ``advance`` says that cycle comes."""
        cfg = self.config
        instrs = [i for i in INSTRUCTIONS if i.unit == self.unit]
        stepped = [i for i in instrs if i.step]
        stalls = [i for i in instrs if i.stall]

        running = Signal()  # started, not halted, no error
        halted = Signal()
        error = Signal()
        parked = Signal()  # a SYNC waits; a release seen in a schedule cycle ends it
        fetch_wait = Signal(16)  # cycles before the next fetch
        last = Signal(issue_layout())  # last unit issue; valid = REPEAT may repeat it
        rep_left = Signal(8)  # repetitions still to issue
        rep_wait = Signal(8)  # cycles before the next repetition
        rep_d = Signal(8)
        rep_stride = Signal(signed(8))
        busy = Signal(BUSY_BITS)
        live = Signal()  # this cycle is a schedule cycle
        held_release = Signal()  # a release seen while the next cycle was not a schedule cycle
        m.d.sync += live.eq(self.advance)

        release = (self.release & live) | held_release
        waiting = parked & ~release
        act = running & self.advance
        fetch = Signal()
        m.d.comb += fetch.eq(act & ~waiting & (fetch_wait == 0) & (rep_left == 0))
        go = Signal()  # a legal word is fetched
        m.d.comb += [go.eq(fetch & ~head_bad), pop.eq(fetch)]
        op = head.opcode

        # REPEAT checks against the previous unit instruction (`last`).
        r_n, r_d = head.n[:8], head.d[:8]
        r_stride = head.stride[:8].as_signed()
        has_step, step_bad, is_stall = Signal(), Signal(), Signal()
        step_bits = max([len(getattr(last, i.step)) for i in stepped] or [1])
        step_now = Signal(step_bits)  # the step field of `last`
        last_step = Signal(signed(max(step_bits, self.reach_bits) + 2))
        head_over, head_span = head_reach
        m.d.comb += last_step.eq(step_now + head_span)
        for instr in stepped:
            lo, hi = step_range(instr, instr.step, cfg, self.queue_name)
            with m.If(last.opcode == instr.opcode):
                m.d.comb += [has_step.eq(1), step_now.eq(getattr(last, instr.step)),
                             step_bad.eq(head_over | (last_step < lo) | (last_step > hi))]
        if stalls:
            m.d.comb += is_stall.eq(Cat(*[last.opcode == i.opcode for i in stalls]).any())
        repeat_ok = last.valid & ~is_stall & ~((r_stride != 0) & ~has_step) & ~step_bad

        # The repetition issued in the next cycle: `last` with its step field advanced.
        rep_fire = Signal()
        stride = Mux(go & (op == _OP["REPEAT"]), r_stride, rep_stride)
        rep_issue = Signal(issue_layout())
        m.d.comb += rep_issue.eq(last)
        for instr in stepped:
            with m.If(last.opcode == instr.opcode):
                field = getattr(last, instr.step)
                m.d.comb += getattr(rep_issue, instr.step).eq(field + stride)
        m.d.comb += rep_issue.valid.eq(1)

        # Sequencer: state changes commit only when the next cycle is a schedule cycle.
        unit_issue, err_now, halt_now, sync_now, notify_now = (Signal() for _ in range(5))
        with m.If(fetch):
            with m.If(head_bad):
                m.d.comb += err_now.eq(1)
            with m.Elif(op == _OP["HALT"]):
                m.d.comb += halt_now.eq(1)
            with m.Elif(op == _OP["NOP"]):
                m.d.sync += [fetch_wait.eq(head.n - 1), last.valid.eq(0)]
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
                m.d.sync += last.valid.eq(0)
            with m.Elif(op == _OP["NOTIFY"]):
                m.d.comb += notify_now.eq(1)
                m.d.sync += last.valid.eq(0)
            with m.Else():  # a unit instruction (the decoder passed only legal ones)
                m.d.comb += unit_issue.eq(1)
                m.d.sync += last.eq(head)
        with m.If(self.advance):
            m.d.sync += [parked.eq(waiting | sync_now), held_release.eq(0)]
        with m.Else():
            m.d.sync += held_release.eq(release)
        with m.If(act & (rep_left != 0)):
            with m.If(rep_wait == 0):
                m.d.comb += rep_fire.eq(1)
                m.d.sync += [rep_left.eq(rep_left - 1), rep_wait.eq(rep_d - 1)]
            with m.Else():
                m.d.sync += rep_wait.eq(rep_wait - 1)
        with m.If(rep_fire):
            m.d.sync += last.eq(rep_issue)
        with m.If(act & (fetch_wait != 0)):
            m.d.sync += fetch_wait.eq(fetch_wait - 1)
        with m.If(err_now):
            m.d.sync += [error.eq(1), running.eq(0)]
        with m.If(halt_now):
            m.d.sync += [halted.eq(1), running.eq(0)]

        # Output registers: the next cycle's issue and status. The issued fields are `last`'s,
        # which holds exactly what the queue issues in its cycle.
        issued, repeated = Signal(), Signal()
        m.d.sync += [issued.eq((unit_issue | rep_fire) & ~self.stop), repeated.eq(rep_fire),
                     self.halted.eq(halted | halt_now), self.error.eq(error | err_now),
                     self.sync_wait.eq(waiting | sync_now), self.notify.eq(notify_now)]
        m.d.comb += [self.issue.eq(last), self.issue.valid.eq(issued)]
        if self.fault:
            m.d.comb += self.issue.opcode[0].eq(last.opcode[0] ^ repeated)
        with m.If(issued):
            m.d.sync += busy.eq(busy + 1)
        m.d.comb += self.busy_count.eq(busy)

        # Start: clear the state; the prefetch refills the head meanwhile.
        with m.If(self.start):
            m.d.sync += [running.eq(1), halted.eq(0), error.eq(0), parked.eq(0), fetch_wait.eq(0),
                         last.valid.eq(0), rep_left.eq(0), rep_wait.eq(0), busy.eq(0),
                         held_release.eq(0), live.eq(0), issued.eq(0), repeated.eq(0),
                         self.halted.eq(0), self.error.eq(0), self.sync_wait.eq(0),
                         self.notify.eq(0)]
