"""The tile: every unit of ``TileConfig`` wired per the floorplan, plus the host port.

Nothing is computed here that a unit could compute; the tile only

* puts one ``StreamSegment`` at every position and hands each unit the streams arriving at its
  position (eastward from the west neighbour, westward from the east neighbour), the VXM ALUs
  also their own position's freshly written registers (chaining);
* gives every queue its ``InstructionQueue`` and joins the NOTIFYs into one release;
* stops the whole tile on any error: in the cycle a unit, a queue or a stream segment raises
  one nothing lands (every unit's clock enable is low), the cycle after that the units are
  reset so that no in-flight effect lands later, and the queues stay frozen. The golden model
  stops in the same cycle;
* gives every C2C link a ``LinkEnd`` (``hw/c2c_link.py``: serializer, elastic buffers, HAC)
  that neither freezes nor resets with the program, takes the tile's HAC from its child port,
  counts the HAC's trims since the last DESKEW / RUNTIME_DESKEW (the ``drift`` the C2C ports
  subtract) and starts a program on the next HAC epoch boundary after START, emptying the
  links' DATA buffers meanwhile (a vector a failed run left behind is never RECVed by the
  next one);
* freezes everything for the wall cycles a ``DESKEW``/``RUNTIME_DESKEW`` asks for;
* decides "done" exactly as ``GoldenTile.step``: every queue has fetched HALT and no issued
  instruction has an effect still to land (``Instr.settle``);
* serves the host port of ``lpu.sw.hostmap``: load instruction and MEM words, START, CLEAR,
  status, counters and error sources.
"""

from __future__ import annotations

from amaranth import Cat, ClockDomain, ClockSignal, Const, Module, Mux, ResetSignal, Signal, signed
from amaranth.hdl import DomainRenamer, EnableInserter, ResetInserter
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from ..sw import hostmap as hm
from ..sw.c2c import link_format
from ..sw.config import TileConfig
from ..sw.hostmap import HostMap
from ..sw.isa import INSTRUCTIONS
from . import hac as hac_mod
from .c2c import DRIFT_BITS, STALL_BITS, C2cPort
from .c2c_link import LinkEnd
from .common import streams_layout
from .icu import BUSY_BITS, InstructionQueue
from .mem import MemBank
from .mxm import Mxm
from .streams import StreamSegment
from .sxm import Sxm
from .vxm import VxmAlu

#: Units that can carry a planted fault (negative controls), each with the slice kind whose
#: first instance gets it.
FAULTS = {"icu": "MEM", "mem": "MEM", "streams": "VXM", "vxm": "VXM", "mxm": "MXM", "sxm": "SXM"}

COUNTER_BITS = 32


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
    the three tile-wide control nets (unit enable, unit reset, queue enable; each reaches
    most of the tile's flip-flops) and returns the signal to use instead: a board build
    drives them through the device's clock network (``lpu.fpga.clocks``) rather than the
    general routing. It must not change the value.
    """

    def __init__(self, config: TileConfig, fault: str | None = None, *, global_buffer=None):
        if not isinstance(config, TileConfig):
            raise TypeError(f"config must be a TileConfig, not {config!r}")
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
        cfg, hmap = self.config, self.map
        seen: set = set()

        # Control state.
        running = Signal()
        launch = Signal()  # reset the units and start the queues; running from next cycle
        armed = Signal()  # START was written: launch when the HAC wraps to the next epoch
        after_error = Signal()  # the cycle after an error: flush the units
        clearing = Signal()
        clear_addr = Signal(exact_log2(hmap.region_words) + 1)
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
        unit_en = Signal()
        unit_rst = Signal()
        queue_en = Signal()
        # The units run in a domain without the tile's reset: ``unit_rst`` includes it, so
        # every unit flip-flop has one reset net (one global net on a board, not a LUT each).
        m.domains.unit = ClockDomain("unit", reset_less=True, local=True)
        m.d.comb += [ClockSignal("unit").eq(ClockSignal()),
                     unit_en.eq(~((running & frozen) | err_now | after_error)),
                     unit_rst.eq(launch | after_error | ResetSignal()), queue_en.eq(~err_now)]
        if self.global_buffer is not None:
            unit_en, unit_rst, queue_en = (
                self.global_buffer(m, name, net)
                for name, net in (("unit_en", unit_en), ("unit_rst", unit_rst),
                                  ("queue_en", queue_en)))

        def add_unit(name, unit):
            m.submodules[name] = DomainRenamer("unit")(
                ResetInserter(unit_rst)(EnableInserter(unit_en)(unit)))
            return unit

        def add_queue(name, queue):
            m.submodules[name] = EnableInserter(queue_en)(queue)
            m.d.comb += [queue.start.eq(launch), queue.freeze.eq(~running | frozen)]
            return queue

        # Link ports: serializer, elastic buffers and HAC each; they run whether or not a
        # program does, so they are neither frozen nor reset by START.
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
        m.d.comb += launch.eq(armed & hac_wraps)

        # Drift: HAC steps minus wall cycles since the last DESKEW / RUNTIME_DESKEW.
        hac_last = Signal.like(hac)
        drift_acc, drift = Signal(signed(DRIFT_BITS)), Signal(signed(DRIFT_BITS))
        hac_step = Signal(signed(hac.shape().width))  # -1 (held), 0 or +1 (stepped twice)
        first = Signal()  # schedule cycle 0: the anchor the drift counts from
        anchor = Signal()
        m.d.sync += hac_last.eq(hac)
        m.d.comb += [hac_step.eq((hac - hac_last - 1)[:hac.shape().width]),
                     drift.eq(Mux(first, 0, drift_acc + hac_step))]
        m.d.sync += [first.eq(launch), drift_acc.eq(Mux(first | (active & anchor), 0, drift))]

        # Stream segments, one per position.
        writers = {"MEM": cfg.mem_banks, "VXM": cfg.vxm_alus}
        segs = []
        for s in cfg.slices:
            seg = StreamSegment(cfg, writers.get(s.kind, 1),
                                fault=s.kind == "VXM" and self._faulty("streams", seen))
            segs.append(add_unit(f"streams_{s.name.lower()}", seg))
        idle = Signal(streams_layout(cfg))  # all-invalid streams beyond the ends of the row
        for p, seg in enumerate(segs):
            m.d.comb += [seg.e_in.eq(segs[p - 1].regs.e if p > 0 else idle),
                         seg.w_in.eq(segs[p + 1].regs.w if p + 1 < len(segs) else idle)]

        def arriving(unit, p):
            m.d.comb += [unit.s_in.e.eq(segs[p - 1].regs.e if p > 0 else idle),
                         unit.s_in.w.eq(segs[p + 1].regs.w if p + 1 < len(segs) else idle)]

        # Units and their queues.
        queues = {}  # queue name -> InstructionQueue
        unit_error = {}  # queue name -> the error of the unit it alone drives
        shared_error = {}  # MXM slice -> its unit error
        banks = {}  # (slice, bank) -> MemBank
        stalls, anchors = [], []
        for s in cfg.slices:
            p, low = s.position, s.name.lower().replace(".", "_")
            names = [q.name for q in cfg.queues if q.slice == s]
            if s.kind == "MEM":
                for b, qname in enumerate(names):
                    bank = add_unit(f"mem_{low}_{b}",
                                    MemBank(cfg, b, fault=self._faulty("mem", seen)))
                    queue = add_queue(f"icu_{low}_{b}", InstructionQueue(
                        cfg, "MEM", b, fault=self._faulty("icu", seen)))
                    arriving(bank, p)
                    m.d.comb += [bank.issue.eq(queue.issue), segs[p].writes[b].eq(bank.s_out)]
                    queues[qname], unit_error[qname], banks[(s.name, b)] = queue, bank.error, bank
            elif s.kind == "VXM":
                for i, qname in enumerate(names):
                    alu = add_unit(f"vxm_{i}", VxmAlu(cfg, fault=self._faulty("vxm", seen)))
                    queue = add_queue(f"icu_vxm_{i}", InstructionQueue(cfg, "VXM"))
                    arriving(alu, p)
                    m.d.comb += [alu.issue.eq(queue.issue), alu.s_own.eq(segs[p].fresh),
                                 segs[p].writes[i].eq(alu.s_out)]
                    queues[qname], unit_error[qname] = queue, alu.error
            elif s.kind == "MXM":
                mxm = add_unit(f"mxm_{low}", Mxm(cfg, fault=self._faulty("mxm", seen)))
                wgt = add_queue(f"icu_{low}_wgt", InstructionQueue(cfg, "MXM_WGT"))
                act = add_queue(f"icu_{low}_act", InstructionQueue(cfg, "MXM_ACT"))
                arriving(mxm, p)
                m.d.comb += [mxm.issue_wgt.eq(wgt.issue), mxm.issue_act.eq(act.issue),
                             segs[p].writes[0].eq(mxm.s_out)]
                queues[f"{s.name}.WGT"], queues[f"{s.name}.ACT"] = wgt, act
                shared_error[s.name] = mxm.error
            elif s.kind == "SXM":
                sxm = add_unit(f"sxm_{low}", Sxm(cfg, fault=self._faulty("sxm", seen)))
                queue = add_queue(f"icu_{low}", InstructionQueue(cfg, "SXM"))
                arriving(sxm, p)
                m.d.comb += [sxm.issue.eq(queue.issue), segs[p].writes[0].eq(sxm.s_out)]
                queues[s.name], unit_error[s.name] = queue, sxm.error
            else:
                port = add_unit(f"c2c_{low}", C2cPort(cfg))
                queue = add_queue(f"icu_{low}", InstructionQueue(cfg, "C2C"))
                arriving(port, p)
                m.d.comb += [port.issue.eq(queue.issue), port.hac.eq(hac), port.drift.eq(drift),
                             segs[p].writes[0].eq(port.s_out)]
                for n in range(cfg.c2c_links):
                    end = links[(s.name, n)]
                    m.d.comb += [end.send.eq(port.tx_valid[n] & ~err_now),
                                 end.send_payload.eq(port.tx_data[n]),
                                 port.rx_valid[n].eq(end.r_valid),
                                 port.rx_data[n].eq(end.r_payload[:8 * cfg.lanes]),
                                 end.r_take.eq((port.rx_take[n] & active) |
                                               (armed & end.r_valid))]
                queues[s.name], unit_error[s.name] = queue, port.error
                stalls.append(port.stall)
                anchors.append(port.anchor)
        qlist = [queues[q.name] for q in cfg.queues]

        m.d.comb += anchor.eq(Cat(*anchors).any())

        # A dropped frame or an overrun on a link while running stops the tile (sticky: it may
        # come in a frozen cycle).
        link_faults = []
        for port, end in links.items():
            fault = Signal(name=f"fault_{HostMap.port_name(*port)}")
            with m.If(launch):
                m.d.sync += fault.eq(0)
            with m.Elif(running & (end.bad_frame | end.overrun)):
                m.d.sync += fault.eq(1)
            link_faults.append(fault)

        # SYNC release: any queue's NOTIFY.
        release = Signal()
        m.d.comb += release.eq(Cat(q.notify for q in qlist).any())
        for q in qlist:
            m.d.comb += q.release.eq(release)

        # Error sources, in HostMap.error_sources order.
        sources = Signal(len(hmap.error_sources))
        bits = [qlist[i].error | unit_error.get(q.name, 0) for i, q in enumerate(cfg.queues)]
        bits += [shared_error[s.name] for s in cfg.slices if s.kind == "MXM"]
        bits += [seg.error for seg in segs]
        bits += link_faults
        bits += [deadlock]
        m.d.comb += [sources.eq(Cat(*bits)), err_now.eq(active & sources.any())]

        # Effects still to land: the longest settle time of anything issued.
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

        # Run control: done, deadlock, errors, freezes, counters.
        all_halted = Cat(q.halted for q in qlist).all()
        any_wait = Cat(q.sync_wait for q in qlist).any()
        stuck = Cat(q.halted | q.sync_wait for q in qlist).all()
        done_now = Signal()
        m.d.comb += done_now.eq(active & all_halted & (drain == 0))
        stall_sum = Signal.like(freeze_left)
        m.d.comb += stall_sum.eq(sum(stalls) if stalls else 0)
        abort = Signal()
        m.d.comb += abort.eq((running | armed) & self.host_we & (self.host_addr == hm.REG_CTRL) &
                             self.host_wdata[2])
        m.d.sync += after_error.eq(err_now | abort)
        with m.If(launch | (abort & armed)):
            m.d.sync += armed.eq(0)
        with m.If(launch):
            m.d.sync += [running.eq(1), done_flag.eq(0), error_flag.eq(0), cycles.eq(0),
                         frozen_total.eq(0), freeze_left.eq(0), drain.eq(0), deadlock.eq(0)]
        with m.Elif(running):
            with m.If(err_now | abort):
                m.d.sync += [running.eq(0), error_flag.eq(1)]
            with m.Elif(done_now):
                m.d.sync += [running.eq(0), done_flag.eq(1)]
            with m.Else():
                m.d.sync += cycles.eq(cycles + 1)
                with m.If(frozen):
                    m.d.sync += [freeze_left.eq(freeze_left - 1),
                                 frozen_total.eq(frozen_total + 1)]
                with m.Else():
                    m.d.sync += [freeze_left.eq(stall_sum),
                                 drain.eq(Mux(drain > settle_now, drain - 1, settle_now)),
                                 deadlock.eq(stuck & any_wait)]
        err_bits = Signal.like(sources)
        with m.If(err_now):
            m.d.sync += err_bits.eq(sources)
        with m.Elif(launch):
            m.d.sync += err_bits.eq(0)

        # Host port: decode.
        off_bits = exact_log2(hmap.region_words)
        region = Signal(range(hmap.regions + 1))
        offset = Signal(off_bits)
        m.d.comb += [offset.eq(self.host_addr[:off_bits]), region.eq(self.host_addr[off_bits:])]
        idle_port = ~running & ~armed & ~clearing
        reg_write = self.host_we & idle_port & (region == 0)
        with m.If(reg_write & (offset == hm.REG_CTRL)):
            with m.If(self.host_wdata[0]):
                m.d.sync += armed.eq(1)
            with m.Elif(self.host_wdata[1]):
                m.d.sync += [clearing.eq(1), clear_addr.eq(0)]
        if ends:  # without links there are no roles to set
            with m.If(reg_write & (offset == hm.REG_LINK_ROLES)):
                m.d.sync += roles.eq(self.host_wdata)
        sweep = Signal(range(hmap.region_words + 1))
        m.d.comb += sweep.eq(max(cfg.mem_words, cfg.queue_words))
        with m.If(clearing):
            m.d.sync += clear_addr.eq(clear_addr + 1)
            with m.If(clear_addr == sweep - 1):
                m.d.sync += clearing.eq(0)

        def memory_port(addr, data, we, index, words):
            """A unit's host write port: the CLEAR sweep, else host writes to region index."""
            with m.If(clearing):
                m.d.comb += [addr.eq(clear_addr), data.eq(0), we.eq(clear_addr < words)]
            with m.Else():
                m.d.comb += [addr.eq(offset), data.eq(self.host_wdata),
                             we.eq(self.host_we & idle_port & (region == index) &
                                   (offset < words))]

        for i, q in enumerate(qlist):
            memory_port(q.host_addr, q.host_data, q.host_we, 1 + i, cfg.queue_words)
        bank_list = [banks[key] for key in hmap.banks]
        first_bank = 1 + len(qlist)
        for i, bank in enumerate(bank_list):
            memory_port(bank.host_addr, bank.host_wdata, bank.host_we, first_bank + i,
                        cfg.mem_words)

        # Host port: registers and reads (one cycle after host_re).
        status = Cat(running, done_flag, error_flag, clearing, armed)
        regs = {hm.REG_CTRL: status, hm.REG_CYCLES: cycles, hm.REG_FROZEN: frozen_total,
                hm.REG_HAC: hac, hm.REG_LINK_ROLES: roles,
                hm.REG_LINK_STATUS: Cat(Cat(end.latency_valid for end in ends),
                                        Const(0, 16 - len(ends)), aligned)}
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
        m.d.comb += self.busy.eq(running | armed | clearing)
        return m
