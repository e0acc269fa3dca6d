"""C2C port: the chip-to-chip slice at each end of the row (queues ``C2C_W`` and ``C2C_E``).

This is the port's issue side, cycle for cycle as ``GoldenTile._c2c`` (instruction issued in
cycle t):

* ``SEND a, link``: stream a is read in t and presented on ``tx_data[link]`` with
  ``tx_valid[link]`` during t.
* ``RECV link, z``: the vector the link delivers in t (``rx_valid``/``rx_data``) is on stream
  z during t+1; nothing delivered raises ``error``.
* ``DESKEW``: ``stall`` = the frozen cycles that make the next schedule cycle start on a HAC
  epoch boundary, ``hac_epoch - 1 - hac mod hac_epoch``; ``RUNTIME_DESKEW t``: ``stall`` = t.
  The tile freezes for ``stall`` wall cycles after t.

``error`` is also raised when SEND reads a stream holding no value. A tile without links ties
``rx_valid`` low, so RECV always fails there, as in the golden model with no link attached.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..sw.config import TileConfig
from ..sw.isa import BY_MNEMONIC
from .common import both_directions, issue_layout, vector_layout

STALL_BITS = 16


class C2cPort(wiring.Component):
    """The issue side of one C2C slice.

    Members
    -------
    issue : In(issue_layout())
    s_in : In(both_directions(config))
    s_out : Out(both_directions(config))
    error : Out(1)
    hac : In(range(hac_epoch))
        The tile's hardware-aligned counter (wall cycles modulo the epoch).
    stall : Out(16)
        Wall cycles to freeze after this cycle (DESKEW, RUNTIME_DESKEW), else 0.
    tx_valid : Out(c2c_links), tx_data : Out(vector).array(c2c_links)
    rx_valid : In(c2c_links), rx_data : In(vector).array(c2c_links)
    """

    def __init__(self, config: TileConfig):
        if not isinstance(config, TileConfig):
            raise TypeError(f"config must be a TileConfig, not {config!r}")
        self.config = config
        links = config.c2c_links
        super().__init__({
            "issue": In(issue_layout()),
            "s_in": In(both_directions(config)),
            "s_out": Out(both_directions(config)),
            "error": Out(1),
            "hac": In(range(config.hac_epoch)),
            "stall": Out(STALL_BITS),
            "tx_valid": Out(links),
            "tx_data": Out(vector_layout(config)).array(links),
            "rx_valid": In(links),
            "rx_data": In(vector_layout(config)).array(links),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, iss = self.config, self.issue

        def is_op(name):
            return iss.valid & (iss.opcode == BY_MNEMONIC[name].opcode)

        send, recv = is_op("SEND"), is_op("RECV")
        side = Mux(iss.a[5], self.s_in.w.as_value(), self.s_in.e.as_value())
        side_view = Signal.like(self.s_in.e)
        m.d.comb += side_view.eq(side)
        a_ok = side_view.valid.bit_select(iss.a[:5], 1)
        a_vec = side_view.data[iss.a[:5]]
        rx_ok = self.rx_valid.bit_select(iss.link, 1)
        m.d.comb += self.error.eq((send & ~a_ok) | (recv & ~rx_ok))

        for link in range(cfg.c2c_links):
            m.d.comb += [self.tx_valid[link].eq(send & (iss.link == link)),
                         self.tx_data[link].eq(a_vec)]

        with m.If(is_op("DESKEW")):
            m.d.comb += self.stall.eq(cfg.hac_epoch - 1 - self.hac)
        with m.Elif(is_op("RUNTIME_DESKEW")):
            m.d.comb += self.stall.eq(iss.t)

        out_valid, out_z = Signal(), Signal(6)
        out_vec = Signal(vector_layout(cfg))
        m.d.sync += [out_valid.eq(recv & rx_ok), out_z.eq(iss.z),
                     out_vec.eq(self.rx_data[iss.link[:max(1, (cfg.c2c_links - 1).bit_length())]]
                                if cfg.c2c_links > 1 else self.rx_data[0])]
        for west, side_out in ((0, self.s_out.e), (1, self.s_out.w)):
            for s in range(cfg.streams):
                m.d.comb += side_out.data[s].eq(out_vec)
                with m.If(out_valid & (out_z[5] == west) & (out_z[:5] == s)):
                    m.d.comb += side_out.valid[s].eq(1)
        return m
