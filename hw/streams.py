"""Stream register segment: the registers at one slice position, both directions.

Each cycle every register takes the value its upstream neighbour held (eastward registers
from the west, westward from the east), unless a unit at this position writes that stream, in
which case it takes the written vector and is marked ``fresh`` for one cycle (what VXM chaining
reads). Two writers on one stream in one cycle raise ``error``.
"""

from __future__ import annotations

from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..sw.config import TileConfig
from .common import both_directions, streams_layout


class StreamSegment(wiring.Component):
    """Stream registers at one position with ``writers`` units writing into them.

    Members
    -------
    e_in, w_in : In(streams)
        The upstream registers: the west neighbour's eastward ones, the east neighbour's
        westward ones (tie off to all-invalid at the ends of the row).
    writes : In(both_directions).array(writers)
        Write requests of the units at this position, loaded at the end of the cycle.
    regs : Out(both_directions)
        This position's registers (what the downstream neighbours read).
    fresh : Out(both_directions)
        ``regs`` with valid set only for streams a unit here wrote at the end of last cycle.
    error : Out(1)
        Two writers on one stream in this cycle.
    """

    def __init__(self, config: TileConfig, writers: int = 1, fault: bool = False):
        if not isinstance(writers, int) or writers < 1:
            raise ValueError(f"writers must be a positive integer, not {writers!r}")
        self.config, self.writers, self.fault = config, writers, fault
        super().__init__({
            "e_in": In(streams_layout(config)),
            "w_in": In(streams_layout(config)),
            "writes": In(both_directions(config)).array(writers),
            "regs": Out(both_directions(config)),
            "fresh": Out(both_directions(config)),
            "error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        cfg = self.config
        written = {d: Signal(cfg.streams, name=f"written_{d}") for d in "ew"}
        m.d.comb += [self.fresh.e.data.eq(self.regs.e.data), self.fresh.w.data.eq(self.regs.w.data),
                     self.fresh.e.valid.eq(written["e"]), self.fresh.w.valid.eq(written["w"])]
        clash = []
        for d, upstream in (("e", self.e_in), ("w", self.w_in)):
            reg = getattr(self.regs, d)
            for s in range(cfg.streams):
                hits = [getattr(w, d).valid[s] for w in self.writes]
                any_hit = Signal(name=f"hit_{d}{s}")
                m.d.comb += any_hit.eq(sum(h for h in hits) != 0)
                if len(hits) > 1:
                    count = Signal(range(len(hits) + 1), name=f"count_{d}{s}")
                    m.d.comb += count.eq(sum(hits))
                    clash.append(count > 1)
                with m.If(any_hit):
                    for w in self.writes:
                        with m.If(getattr(w, d).valid[s]):
                            m.d.sync += reg.data[s].eq(getattr(w, d).data[s])
                    m.d.sync += [reg.valid[s].eq(1), written[d][s].eq(1)]
                with m.Else():
                    m.d.sync += [reg.data[s].eq(upstream.data[s]),
                                 reg.valid[s].eq(upstream.valid[s]), written[d][s].eq(0)]
        if self.fault:  # negative control: the last eastward stream loses its valid bit
            with m.If(self.e_in.valid[-1]):
                m.d.sync += self.regs.e.valid[-1].eq(0)
        m.d.comb += self.error.eq(sum(clash) != 0 if clash else 0)
        return m
