"""The tile: every unit of ``TileConfig`` wired per the floorplan, plus the host port.

Nothing is computed here that a unit could compute; the tile only

* puts one ``StreamSegment`` at every position and hands each unit the streams arriving at its
  position (eastward from the west neighbour, westward from the east neighbour), the VXM ALUs
  also their own position's freshly written registers (chaining);
* gives every queue its ``InstructionQueue`` and joins the NOTIFYs into one release;
* stops the whole tile on any error, by the stop rule of docs/architecture.md (section 10):
  the instruction that errs has no effect (its unit or queue squashes it), every other effect
  due at the end of that cycle lands, and in the next cycle every unit is held and reset so
  that nothing lands afterwards. The unit enable and reset are registers; the golden model
  stops in the same cycle;
* gives every C2C link a ``LinkEnd`` (``hw/c2c_link.py``: serializer, elastic buffers, HAC)
  that neither freezes nor resets with the program, takes the tile's HAC from its child port,
  counts the HAC's trims since the last DESKEW / RUNTIME_DESKEW (the ``drift`` the C2C ports
  subtract) and starts a program on the first HAC epoch boundary at least ``PRIME_CYCLES``
  after START, while the queues prefetch and the links' DATA buffers empty (a vector a failed
  run left behind is never RECVed by the next one);
* freezes everything for the wall cycles a ``DESKEW``/``RUNTIME_DESKEW`` asks for;
* decides "done" exactly as ``GoldenTile.step``: every queue has fetched HALT and no issued
  instruction has an effect still to land (``Instr.settle``);
* serves the host port of ``lpu.sw.hostmap``: load instruction and MEM words, START, CLEAR,
  status, counters and error sources.
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth import (
    Cat,
    ClockDomain,
    ClockSignal,
    Const,
    Module,
    Mux,
    Signal,
    Value,
    signed,
)
from amaranth.hdl import DomainRenamer, EnableInserter, ResetInserter
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from ..sw import hostmap as hm
from ..sw.c2c import LINK_BUFFER_VECTORS, link_format
from ..sw.config import TileConfig
from ..sw.hostmap import HostMap
from ..sw.isa import INSTRUCTIONS
from . import hac as hac_mod
from .c2c import DRIFT_BITS, STALL_BITS, C2cPort
from .c2c_link import LinkEnd
from .common import require_config, streams_layout
from .icu import BUSY_BITS, PREFETCH_CYCLES, InstructionQueue
from .mem import MemBank
from .mxm import Mxm
from .streams import StreamSegment
from .sxm import Sxm
from .vxm import VxmAlu

#: Units that can carry a planted fault (negative controls), each with the slice kind whose
#: first instance gets it.
FAULTS = {"icu": "MEM", "mem": "MEM", "streams": "VXM", "vxm": "VXM", "mxm": "MXM", "sxm": "SXM"}

COUNTER_BITS = 32


def _bit(mask: int) -> int:
    """The bit position of a one-bit ``hostmap`` mask (``CTRL_*``, ``STATUS_*``)."""
    assert mask > 0 and mask & (mask - 1) == 0, mask
    return mask.bit_length() - 1


def _pack_bits(fields: dict[int, Value]) -> Value:
    """A word with each one-bit value at the bit of its ``hostmap`` mask, zeros elsewhere."""
    by_bit = {_bit(mask): value for mask, value in fields.items()}
    return Cat(*(by_bit.get(i, Const(0, 1)) for i in range(max(by_bit) + 1)))


#: Cycles START must precede the launch: the queues prefetch and decode their first words,
#: and the links' DATA buffers empty (a vector a failed run left behind is never RECVed).
PRIME_CYCLES = max(LINK_BUFFER_VECTORS, PREFETCH_CYCLES)


@dataclass
class _Control:
    """Run-control state (``Tile._control``)."""

    running: Signal
    launch: Signal  # reset the units and start the queues; running from the next cycle
    armed: Signal  # START was written: launch when the HAC wraps to the next epoch
    primed: Signal  # armed for PRIME_CYCLES cycles: the queues are ready
    prime: Signal  # the first armed cycle: the queues clear and start their prefetch
    advance_next: Signal  # the next cycle is a schedule cycle (stops aside)
    advance: Value  # advance_next, through the board's global buffer if any
    stop: Signal  # an error or ABORT in this cycle: hold and reset the units from the next
    clearing: Signal
    clear_addr: Signal
    done_flag: Signal
    error_flag: Signal
    cycles: Signal
    frozen_total: Signal
    freeze_left: Signal
    drain: Signal  # cycles until every issued effect has landed
    deadlock: Signal
    frozen: Signal
    active: Signal  # running and not frozen: a schedule cycle
    err_now: Signal
    unit_hold: Signal  # registered: the units hold (a frozen cycle, the cycle after a stop)
    unit_en: Value  # ~unit_hold, through the board's global buffer if any
    unit_rst: Value  # a register: armed, the cycle after a stop, the cycle after tile reset


@dataclass
class _Links:
    """Link ports, the tile's HAC and drift (``Tile._links_and_hac``)."""

    links: dict  # (slice name, link) -> LinkEnd
    ends: list
    roles: Signal
    hac: Signal
    aligned: Value
    drift: Signal
    anchor: Signal  # a DESKEW / RUNTIME_DESKEW issues: the drift restarts


@dataclass
class _Units:
    """Stream segments, units and queues (``Tile._units``)."""

    segs: list
    queues: dict  # queue name -> InstructionQueue
    unit_error: dict  # queue name -> the error of the unit it alone drives
    shared_error: dict  # MXM slice -> its unit error
    banks: dict  # (slice, bank) -> MemBank
    stalls: list
    anchors: list

    def qlist(self, config: TileConfig) -> list:
        """The queues in ``config.queues`` order."""
        return [self.queues[q.name] for q in config.queues]


class Tile(wiring.Component):
    """One tile of ``config``.

    Members
    -------
    host_addr, host_wdata, host_we, host_re : In
        Host port (``lpu.sw.hostmap``): one read or write per cycle.
    host_rdata : Out(data_bits)
        The word read, one cycle after ``host_re``.
    busy : Out(1)
        A program is running, starting or the memories are being cleared. The host waits for
        it to fall instead of polling.
    hac : Out(range(hac_epoch))
        The tile's hardware-aligned counter (``lpu.hw.hac``), for monitors.
    link_<p>_tx_data, link_<p>_tx_valid : Out
        The outgoing wire of link port p (``HostMap.port_name``), on this tile's clock.
    link_<p>_rx_data, link_<p>_rx_valid, link_<p>_rx_clk : In
        The incoming wire and the partner's clock that times it. An unused port's clock is 0.

    ``global_buffer``, if given, is called as ``global_buffer(m, name, signal)`` for each of
    the three tile-wide control nets (unit enable, unit reset, queue advance; each reaches
    most of the tile's flip-flops) and returns the signal to use instead: a board build
    drives them through the device's clock network (``lpu.fpga.clocks``) rather than the
    general routing. It must not change the value.
    """

    def __init__(self, config: TileConfig, fault: str | None = None, *, global_buffer=None):
        require_config(config)
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"fault must be None or one of {', '.join(FAULTS)}, not {fault!r}")
        if fault is not None and all(s.kind != FAULTS[fault] for s in config.slices):
            raise ValueError(f"fault {fault!r} goes in a {FAULTS[fault]} slice; this tile has none")
        if global_buffer is not None and not callable(global_buffer):
            raise TypeError(f"global_buffer must be callable or None, not {global_buffer!r}")
        self.config, self.fault, self.global_buffer = config, fault, global_buffer
        self.map = HostMap(config)
        self.link_format = link_format(config)
        ports = {
            "host_addr": In(self.map.addr_bits),
            "host_wdata": In(self.map.data_bits),
            "host_we": In(1),
            "host_re": In(1),
            "host_rdata": Out(self.map.data_bits),
            "busy": Out(1),
            "hac": Out(range(config.hac_epoch)),
        }
        bits = self.link_format.link_bits
        for port in self.map.link_ports:
            name = HostMap.port_name(*port)
            ports |= {f"{name}_tx_data": Out(bits), f"{name}_tx_valid": Out(1),
                      f"{name}_rx_data": In(bits), f"{name}_rx_valid": In(1),
                      f"{name}_rx_clk": In(1)}
        super().__init__(ports)

    def _faulty(self, kind: str, seen: set) -> bool:
        if self.fault == kind and kind not in seen:
            seen.add(kind)
            return True
        return False

    def elaborate(self, platform):
        m = Module()
        ctl = self._control(m)
        link = self._links_and_hac(m, ctl)
        units = self._units(m, ctl, link)
        err_bits = self._errors_and_done(m, ctl, link, units)
        self._host_port(m, ctl, link, units, err_bits)
        return m

    def _control(self, m) -> _Control:
        """The run-control state and the two tile-wide nets it drives from registers: unit
        enable and unit reset (in a unit domain without the tile's reset)."""
        running = Signal()
        launch = Signal()
        armed = Signal()
        primed = Signal()
        prime = Signal()
        advance = Signal()
        stop = Signal()
        clearing = Signal()
        clear_addr = Signal(exact_log2(self.map.region_words) + 1)
        done_flag, error_flag = Signal(), Signal()
        cycles = Signal(COUNTER_BITS)
        frozen_total = Signal(COUNTER_BITS)
        freeze_left = Signal(STALL_BITS + 2)
        drain = Signal(2)
        deadlock = Signal()
        frozen = Signal()
        active = Signal()
        m.d.comb += [frozen.eq(freeze_left != 0), active.eq(running & ~frozen)]
        err_now = Signal()
        unit_hold = Signal()
        unit_rst = Signal(init=1)
        # The units run in a domain without the tile's reset: ``unit_rst`` includes it (one
        # cycle later), so every unit flip-flop has one reset net driven by one flip-flop.
        m.domains.unit = ClockDomain("unit", reset_less=True, local=True)
        m.d.comb += ClockSignal("unit").eq(ClockSignal())
        m.d.sync += unit_rst.eq((armed & ~launch) | stop)
        unit_en = ~unit_hold
        queue_advance = advance
        if self.global_buffer is not None:
            unit_en, unit_rst, queue_advance = (
                self.global_buffer(m, name, net) for name, net in
                (("unit_en", unit_en), ("unit_rst", unit_rst), ("queue_advance", advance)))
        return _Control(running, launch, armed, primed, prime, advance, queue_advance, stop,
                        clearing, clear_addr, done_flag, error_flag, cycles, frozen_total,
                        freeze_left, drain, deadlock, frozen, active, err_now, unit_hold, unit_en,
                        unit_rst)

    def _links_and_hac(self, m, ctl: _Control) -> _Links:
        """Every link port's ``LinkEnd``, the tile's HAC and the drift the C2C ports subtract.

        The link ends run whether or not a program does, so they are neither frozen nor reset
        by START."""
        cfg, hmap = self.config, self.map
        links = {}
        roles = Signal(max(1, 2 * len(hmap.link_ports)))  # no zero-width wire in Verilog
        for i, port in enumerate(hmap.link_ports):
            name = HostMap.port_name(*port)
            domain = name
            m.domains += ClockDomain(domain, reset_less=True, local=True)
            end = DomainRenamer({"link": domain})(LinkEnd(self.link_format, cfg.hac_epoch))
            m.submodules[name] = end
            m.d.comb += [ClockSignal(domain).eq(getattr(self, f"{name}_rx_clk")),
                         end.role.eq(roles[2 * i:2 * i + 2]),
                         getattr(self, f"{name}_tx_data").eq(end.tx_data),
                         getattr(self, f"{name}_tx_valid").eq(end.tx_valid),
                         end.rx_data.eq(getattr(self, f"{name}_rx_data")),
                         end.rx_valid.eq(getattr(self, f"{name}_rx_valid"))]
            links[port] = end

        # The tile's HAC: its child port's (the one its parent aligns), else the first port's;
        # a tile without links counts its own (hac_epoch is a power of two: it wraps itself).
        ends = list(links.values())
        hac, hac_wraps = Signal(range(cfg.hac_epoch)), Signal()
        if ends:
            m.d.comb += [hac.eq(ends[0].hac), hac_wraps.eq(ends[0].hac_wraps)]
        else:
            m.d.sync += hac.eq(hac + 1)
            m.d.comb += hac_wraps.eq(hac == cfg.hac_epoch - 1)
        for i, end in reversed(list(enumerate(ends))):
            with m.If(roles[2 * i:2 * i + 2] == hac_mod.ROLE_CHILD):
                m.d.comb += [hac.eq(end.hac), hac_wraps.eq(end.hac_wraps)]
        aligned = Cat(end.aligned for end in ends).all()
        m.d.comb += self.hac.eq(hac)
        m.d.comb += ctl.launch.eq(ctl.armed & ctl.primed & hac_wraps)

        # Drift: HAC steps minus wall cycles since the last DESKEW / RUNTIME_DESKEW.
        hac_last = Signal.like(hac)
        drift_acc, drift = Signal(signed(DRIFT_BITS)), Signal(signed(DRIFT_BITS))
        hac_step = Signal(signed(hac.shape().width))  # -1 (held), 0 or +1 (stepped twice)
        first = Signal()  # schedule cycle 0: the anchor the drift counts from
        anchor = Signal()
        m.d.sync += hac_last.eq(hac)
        m.d.comb += [hac_step.eq((hac - hac_last - 1)[:hac.shape().width]),
                     drift.eq(Mux(first, 0, drift_acc + hac_step))]
        m.d.sync += [first.eq(ctl.launch),
                     drift_acc.eq(Mux(first | (ctl.active & anchor), 0, drift))]
        return _Links(links, ends, roles, hac, aligned, drift, anchor)

    def _add_unit(self, m, ctl: _Control, name: str, unit):
        """Add ``unit`` in the unit domain: frozen by ``unit_en``, flushed by ``unit_rst``."""
        m.submodules[name] = DomainRenamer("unit")(
            ResetInserter(ctl.unit_rst)(EnableInserter(ctl.unit_en)(unit)))
        return unit

    def _add_queue(self, m, ctl: _Control, name: str, queue):
        """Add ``queue``: it prefetches from START on and runs the schedule cycles ``advance``
        announces."""
        m.submodules[name] = queue
        m.d.comb += [queue.start.eq(ctl.prime), queue.advance.eq(ctl.advance),
                     queue.stop.eq(ctl.stop)]
        return queue

    def _units(self, m, ctl: _Control, link: _Links) -> _Units:
        """A stream segment at every position, every unit with its queues, and their wiring."""
        cfg = self.config
        seen: set = set()
        writers = {"MEM": cfg.mem_banks, "VXM": cfg.vxm_alus}
        segs = []
        for s in cfg.slices:
            seg = StreamSegment(cfg, writers.get(s.kind, 1),
                                fault=s.kind == "VXM" and self._faulty("streams", seen))
            segs.append(self._add_unit(m, ctl, f"streams_{s.name.lower()}", seg))
        idle = Signal(streams_layout(cfg))  # all-invalid streams beyond the ends of the row
        for p, seg in enumerate(segs):
            m.d.comb += [seg.e_in.eq(segs[p - 1].regs.e if p > 0 else idle),
                         seg.w_in.eq(segs[p + 1].regs.w if p + 1 < len(segs) else idle)]

        def add(p, name, unit, queues):
            """Add ``unit`` at position ``p`` fed by the streams arriving there, its queues
            (name -> InstructionQueue) and, for a single queue, its issue port."""
            self._add_unit(m, ctl, name, unit)
            for qname, queue in queues.items():
                self._add_queue(m, ctl, qname, queue)
            m.d.comb += [unit.s_in.e.eq(segs[p - 1].regs.e if p > 0 else idle),
                         unit.s_in.w.eq(segs[p + 1].regs.w if p + 1 < len(segs) else idle)]
            if len(queues) == 1:
                m.d.comb += unit.issue.eq(next(iter(queues.values())).issue)
            return unit

        u = _Units(segs, {}, {}, {}, {}, [], [])
        for s in cfg.slices:
            p, low = s.position, s.name.lower().replace(".", "_")
            names = [q.name for q in cfg.queues if q.slice == s]
            if s.kind == "MEM":
                for b, qname in enumerate(names):
                    queue = InstructionQueue(cfg, "MEM", b, fault=self._faulty("icu", seen))
                    bank = add(p, f"mem_{low}_{b}",
                               MemBank(cfg, b, fault=self._faulty("mem", seen)),
                               {f"icu_{low}_{b}": queue})
                    m.d.comb += segs[p].writes[b].eq(bank.s_out)
                    u.queues[qname], u.unit_error[qname], u.banks[(s.name, b)] = (queue,
                                                                                  bank.error, bank)
            elif s.kind == "VXM":
                for i, qname in enumerate(names):
                    queue = InstructionQueue(cfg, "VXM")
                    alu = add(p, f"vxm_{i}", VxmAlu(cfg, fault=self._faulty("vxm", seen)),
                              {f"icu_vxm_{i}": queue})
                    m.d.comb += [alu.s_own.eq(segs[p].fresh), segs[p].writes[i].eq(alu.s_out)]
                    u.queues[qname], u.unit_error[qname] = queue, alu.error
            elif s.kind == "MXM":
                wgt = InstructionQueue(cfg, "MXM_WGT")
                act = InstructionQueue(cfg, "MXM_ACT")
                mxm = add(p, f"mxm_{low}", Mxm(cfg, fault=self._faulty("mxm", seen)),
                          {f"icu_{low}_wgt": wgt, f"icu_{low}_act": act})
                m.d.comb += [mxm.issue_wgt.eq(wgt.issue), mxm.issue_act.eq(act.issue),
                             segs[p].writes[0].eq(mxm.s_out)]
                u.queues[f"{s.name}.WGT"], u.queues[f"{s.name}.ACT"] = wgt, act
                u.shared_error[s.name] = mxm.error
            elif s.kind == "SXM":
                queue = InstructionQueue(cfg, "SXM")
                sxm = add(p, f"sxm_{low}", Sxm(cfg, fault=self._faulty("sxm", seen)),
                          {f"icu_{low}": queue})
                m.d.comb += segs[p].writes[0].eq(sxm.s_out)
                u.queues[s.name], u.unit_error[s.name] = queue, sxm.error
            else:
                queue = InstructionQueue(cfg, "C2C")
                port = add(p, f"c2c_{low}", C2cPort(cfg), {f"icu_{low}": queue})
                m.d.comb += [port.hac.eq(link.hac), port.drift.eq(link.drift),
                             segs[p].writes[0].eq(port.s_out)]
                for n in range(cfg.c2c_links):
                    end = link.links[(s.name, n)]
                    m.d.comb += [end.send.eq(port.tx_valid[n] & ~port.error & ctl.active),
                                 end.send_payload.eq(port.tx_data[n]),
                                 port.rx_valid[n].eq(end.r_valid),
                                 port.rx_data[n].eq(end.r_payload[:8 * cfg.lanes]),
                                 end.r_take.eq((port.rx_take[n] & ctl.active) |
                                               (ctl.armed & end.r_valid))]
                u.queues[s.name], u.unit_error[s.name] = queue, port.error
                u.stalls.append(port.stall)
                u.anchors.append(port.anchor)
        m.d.comb += link.anchor.eq(Cat(*u.anchors).any())
        return u

    def _errors_and_done(self, m, ctl: _Control, link: _Links, units: _Units) -> Signal:
        """Error sources, done, deadlock, freezes and the counters; return the error source
        bits latched by the last error (``HostMap.error_sources`` order)."""
        cfg, hmap = self.config, self.map
        qlist = units.qlist(cfg)

        # A dropped frame or an overrun on a link while running stops the tile (sticky: it may
        # come in a frozen cycle).
        link_faults = []
        for port, end in link.links.items():
            fault = Signal(name=f"fault_{HostMap.port_name(*port)}")
            with m.If(ctl.launch):
                m.d.sync += fault.eq(0)
            with m.Elif(ctl.running & (end.bad_frame | end.overrun)):
                m.d.sync += fault.eq(1)
            link_faults.append(fault)

        # SYNC release: any queue's NOTIFY.
        release = Signal()
        m.d.comb += release.eq(Cat(q.notify for q in qlist).any())
        for q in qlist:
            m.d.comb += q.release.eq(release)

        # Error sources, in HostMap.error_sources order.
        sources = Signal(len(hmap.error_sources))
        bits = [qlist[i].error | units.unit_error.get(q.name, 0)
                for i, q in enumerate(cfg.queues)]
        bits += [units.shared_error[s.name] for s in cfg.slices if s.kind == "MXM"]
        bits += [seg.error for seg in units.segs]
        bits += link_faults
        bits += [ctl.deadlock]
        m.d.comb += [sources.eq(Cat(*bits)), ctl.err_now.eq(ctl.active & sources.any())]

        settle_now = self._settle(m, qlist, ctl.drain)

        # Run control: done, deadlock, errors, freezes, counters.
        all_halted = Cat(q.halted for q in qlist).all()
        any_wait = Cat(q.sync_wait for q in qlist).any()
        stuck = Cat(q.halted | q.sync_wait for q in qlist).all()
        done_now = Signal()
        m.d.comb += done_now.eq(ctl.active & all_halted & (ctl.drain == 0))
        stall_sum = Signal.like(ctl.freeze_left)
        m.d.comb += stall_sum.eq(sum(units.stalls) if units.stalls else 0)
        abort = Signal()
        m.d.comb += abort.eq((ctl.running | ctl.armed) & self.host_we &
                             (self.host_addr == hm.REG_CTRL) & self.host_wdata[_bit(hm.CTRL_ABORT)])
        m.d.comb += ctl.stop.eq(ctl.err_now | abort)
        prime_count = Signal(range(PRIME_CYCLES))
        m.d.comb += ctl.prime.eq(ctl.armed & ~ctl.primed & (prime_count == 0))
        with m.If(ctl.armed & ~ctl.primed):
            m.d.sync += prime_count.eq(prime_count + 1)
            with m.If(prime_count == PRIME_CYCLES - 1):
                m.d.sync += ctl.primed.eq(1)
        with m.If(ctl.launch | (abort & ctl.armed)):
            m.d.sync += [ctl.armed.eq(0), ctl.primed.eq(0), prime_count.eq(0)]
        running_next = Signal()
        freeze_next = Signal.like(ctl.freeze_left)
        m.d.comb += [running_next.eq(ctl.running), freeze_next.eq(ctl.freeze_left)]
        with m.If(ctl.launch):
            m.d.comb += [running_next.eq(1), freeze_next.eq(0)]
            m.d.sync += [ctl.done_flag.eq(0), ctl.error_flag.eq(0), ctl.cycles.eq(0),
                         ctl.frozen_total.eq(0), ctl.drain.eq(0), ctl.deadlock.eq(0)]
        with m.Elif(ctl.running):
            with m.If(ctl.stop):
                m.d.comb += running_next.eq(0)
                m.d.sync += ctl.error_flag.eq(1)
            with m.Elif(done_now):
                m.d.comb += running_next.eq(0)
                m.d.sync += ctl.done_flag.eq(1)
            with m.Else():
                m.d.sync += ctl.cycles.eq(ctl.cycles + 1)
                with m.If(ctl.frozen):
                    m.d.comb += freeze_next.eq(ctl.freeze_left - 1)
                    m.d.sync += ctl.frozen_total.eq(ctl.frozen_total + 1)
                with m.Else():
                    m.d.comb += freeze_next.eq(stall_sum)
                    m.d.sync += [ctl.drain.eq(Mux(ctl.drain > settle_now, ctl.drain - 1,
                                                  settle_now)),
                                 ctl.deadlock.eq(stuck & any_wait)]
        # The queues' look-ahead ignores stops (they issue nothing after one: ``stop``) so that
        # no error path reaches their state.
        stalls_any = Cat(stall != 0 for stall in units.stalls).any() if units.stalls else 0
        frozen_after = Mux(ctl.frozen, ctl.freeze_left != 1, stalls_any)
        m.d.comb += ctl.advance_next.eq(ctl.launch | (ctl.running & ~frozen_after))
        m.d.sync += [ctl.running.eq(running_next), ctl.freeze_left.eq(freeze_next),
                     ctl.unit_hold.eq((running_next & (freeze_next != 0)) | ctl.stop)]
        err_bits = Signal.like(sources)
        with m.If(ctl.err_now):
            m.d.sync += err_bits.eq(sources)
        with m.Elif(ctl.launch):
            m.d.sync += err_bits.eq(0)
        return err_bits

    @staticmethod
    def _settle(m, qlist, drain) -> Signal:
        """The longest settle time (``Instr.settle``) of the instructions issued this cycle:
        the cycles after which every effect has landed."""
        settle_max = max(i.settle for i in INSTRUCTIONS)
        assert settle_max < 1 << len(drain)
        settles = []
        for q in qlist:
            if not any(i.unit == q.unit and i.settle for i in INSTRUCTIONS):
                continue
            k = Signal(range(settle_max + 1), name=f"settle_{len(settles)}")
            with m.If(q.issue.valid), m.Switch(q.issue.opcode):
                for instr in INSTRUCTIONS:
                    if instr.unit == q.unit and instr.settle:
                        with m.Case(instr.opcode):
                            m.d.comb += k.eq(instr.settle)
            settles.append(k)
        settle_now = settles[0]
        for i, k in enumerate(settles[1:]):
            longest = Signal.like(drain, name=f"settle_max_{i}")
            m.d.comb += longest.eq(Mux(k > settle_now, k, settle_now))
            settle_now = longest
        return settle_now

    def _host_port(self, m, ctl: _Control, link: _Links, units: _Units, err_bits) -> None:
        """Serve ``lpu.sw.hostmap``: CTRL writes, the CLEAR sweep, memory loads, register and
        MEM reads (one cycle after ``host_re``)."""
        cfg, hmap = self.config, self.map
        qlist = units.qlist(cfg)
        off_bits = exact_log2(hmap.region_words)
        region = Signal(range(hmap.regions + 1))
        offset = Signal(off_bits)
        m.d.comb += [offset.eq(self.host_addr[:off_bits]), region.eq(self.host_addr[off_bits:])]
        idle_port = ~ctl.running & ~ctl.armed & ~ctl.clearing
        reg_write = self.host_we & idle_port & (region == 0)
        with m.If(reg_write & (offset == hm.REG_CTRL)):
            with m.If(self.host_wdata[_bit(hm.CTRL_START)]):
                m.d.sync += ctl.armed.eq(1)
            with m.Elif(self.host_wdata[_bit(hm.CTRL_CLEAR)]):
                m.d.sync += [ctl.clearing.eq(1), ctl.clear_addr.eq(0)]
        if link.ends:  # without links there are no roles to set
            with m.If(reg_write & (offset == hm.REG_LINK_ROLES)):
                m.d.sync += link.roles.eq(self.host_wdata)
        sweep = Signal(range(hmap.region_words + 1))
        m.d.comb += sweep.eq(max(cfg.mem_words, cfg.queue_words))
        with m.If(ctl.clearing):
            m.d.sync += ctl.clear_addr.eq(ctl.clear_addr + 1)
            with m.If(ctl.clear_addr == sweep - 1):
                m.d.sync += ctl.clearing.eq(0)

        def memory_port(addr, data, we, index, words):
            """A unit's host write port: the CLEAR sweep, else host writes to region index."""
            with m.If(ctl.clearing):
                m.d.comb += [addr.eq(ctl.clear_addr), data.eq(0), we.eq(ctl.clear_addr < words)]
            with m.Else():
                m.d.comb += [addr.eq(offset), data.eq(self.host_wdata),
                             we.eq(self.host_we & idle_port & (region == index) &
                                   (offset < words))]

        for i, q in enumerate(qlist):
            memory_port(q.host_addr, q.host_data, q.host_we, 1 + i, cfg.queue_words)
        bank_list = [units.banks[key] for key in hmap.banks]
        first_bank = 1 + len(qlist)
        for i, bank in enumerate(bank_list):
            memory_port(bank.host_addr, bank.host_wdata, bank.host_we, first_bank + i,
                        cfg.mem_words)

        # Registers and reads (one cycle after host_re).
        status = _pack_bits({hm.STATUS_RUNNING: ctl.running, hm.STATUS_DONE: ctl.done_flag,
                             hm.STATUS_ERROR: ctl.error_flag, hm.STATUS_CLEARING: ctl.clearing,
                             hm.STATUS_ARMED: ctl.armed})
        ends = link.ends
        regs = {hm.REG_CTRL: status, hm.REG_CYCLES: ctl.cycles, hm.REG_FROZEN: ctl.frozen_total,
                hm.REG_HAC: link.hac, hm.REG_LINK_ROLES: link.roles,
                hm.REG_LINK_STATUS: Cat(Cat(end.latency_valid for end in ends),
                                        Const(0, 16 - len(ends)), link.aligned)}
        for i, end in enumerate(ends):
            regs[hm.REG_LINK + 2 * i] = Cat(end.latency, end.trims)
            regs[hm.REG_LINK + 2 * i + 1] = end.bad_frames
        for k in range(hmap.error_registers):
            regs[hm.REG_ERROR + k] = err_bits[32 * k:32 * (k + 1)]
        for i, q in enumerate(qlist):
            regs[hm.REG_BUSY + i] = q.busy_count[:BUSY_BITS]
        reg_value = Signal(32)
        with m.Switch(offset):
            for off, value in regs.items():
                with m.Case(off):
                    m.d.comb += reg_value.eq(value)
        rd_region = Signal.like(region)
        rd_reg = Signal(32)
        with m.If(self.host_re):
            m.d.sync += [rd_region.eq(region), rd_reg.eq(reg_value)]
        with m.Switch(rd_region):
            with m.Case(0):
                m.d.comb += self.host_rdata.eq(rd_reg)
            for i, bank in enumerate(bank_list):
                with m.Case(first_bank + i):
                    m.d.comb += self.host_rdata.eq(bank.host_rdata)
            with m.Default():
                m.d.comb += self.host_rdata.eq(Const(0, hmap.data_bits))
        m.d.comb += self.busy.eq(ctl.running | ctl.armed | ctl.clearing)
