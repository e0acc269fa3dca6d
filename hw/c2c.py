"""C2C port: the chip-to-chip slice at each end of the row (queues ``C2C_W`` and ``C2C_E``).

This is the port's issue side, cycle for cycle as ``GoldenTile._c2c`` (instruction issued in
cycle t):

* ``SEND a, link``: stream a is read in t and presented on ``tx_data[link]`` with
  ``tx_valid[link]`` during t.
* ``RECV link, z``: the vector the link delivers in t (``rx_valid``/``rx_data``) is on stream
  z during t+1; nothing delivered raises ``error``.
* ``DESKEW``: ``stall`` = the frozen cycles that make the next schedule cycle start on a HAC
  epoch boundary, ``hac_epoch - 1 - hac mod hac_epoch``.
* ``RUNTIME_DESKEW t``: ``stall`` = t - ``drift``, where ``drift`` is how far the HAC ran
  ahead of the tile's own wall cycles since the last DESKEW or RUNTIME_DESKEW (the trims of
  the alignment protocol; 0 on a tile whose HAC is its own counter). A drift larger than t
  raises ``error``: the program re-aligns too rarely for its clock.
  ``anchor`` marks either instruction, so the tile restarts its drift count. The tile freezes
  for ``stall`` wall cycles after t.

``error`` is also raised when SEND reads a stream holding no value, and when a SEND comes
fewer than F schedule cycles (the frame length, ``lpu.sw.c2c.link_format``) after the last
SEND on its link: a link carries one vector per frame. A tile without links ties ``rx_valid``
low, so RECV always fails there, as in the golden model with no link attached.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..sw.c2c import link_format
from ..sw.config import TileConfig
from ..sw.isa import BY_MNEMONIC, E, W
from . import common
from .common import pick_stream, select, stream_dir_bit, stream_number, vector_layout

STALL_BITS = 16
DRIFT_BITS = 16

#: The latency this port implements for each instruction (RECV's vector one cycle late).
LATENCY = {"SEND": 0, "RECV": 1, "DESKEW": 0, "RUNTIME_DESKEW": 0}


class C2cPort(wiring.Component):
    """The issue side of one C2C slice.

    Members
    -------
    issue, s_in, s_out, error :
        The unit port (``unit_signature``).
    hac : In(range(hac_epoch))
        The tile's hardware-aligned counter.
    drift : In(signed(DRIFT_BITS))
        HAC cycles minus wall cycles since the last anchor.
    stall : Out(16)
        Wall cycles to freeze after this cycle (DESKEW, RUNTIME_DESKEW), else 0.
    anchor : Out(1)
        A DESKEW or RUNTIME_DESKEW issues.
    tx_valid : Out(c2c_links), tx_data : Out(vector).array(c2c_links)
    rx_valid : In(c2c_links), rx_data : In(vector).array(c2c_links)
    rx_take : Out(c2c_links)
        RECV takes the oldest delivered vector of that link.
    """

    def __init__(self, config: TileConfig):
        self.config = common.require_config(config)
        common.check_latencies("C2C", LATENCY)
        links = config.c2c_links
        super().__init__({
            **common.unit_signature(config).members,
            "hac": In(range(config.hac_epoch)),
            "drift": In(signed(DRIFT_BITS)),
            "stall": Out(STALL_BITS),
            "anchor": Out(1),
            "tx_valid": Out(links),
            "tx_data": Out(vector_layout(config)).array(links),
            "rx_valid": In(links),
            "rx_data": In(vector_layout(config)).array(links),
            "rx_take": Out(links),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, iss = self.config, self.issue

        def is_op(name):
            return iss.valid & (iss.opcode == BY_MNEMONIC[name].opcode)

        send, recv = is_op("SEND"), is_op("RECV")
        a_vec, a_ok = pick_stream(cfg, self.s_in.e, self.s_in.w, iss.a)
        rx_ok = select(iss.link, [self.rx_valid[k] for k in range(cfg.c2c_links)])

        frame = link_format(cfg).frame_words
        too_soon = Signal()  # a SEND fewer than `frame` schedule cycles after the last one
        for link in range(cfg.c2c_links):
            since = Signal(range(frame + 1), init=frame, name=f"since_send_{link}")
            sending = send & (iss.link == link)
            m.d.sync += since.eq(Mux(sending, 1, Mux(since == frame, frame, since + 1)))
            with m.If(sending & (since < frame)):
                m.d.comb += too_soon.eq(1)
            m.d.comb += [self.tx_valid[link].eq(sending), self.tx_data[link].eq(a_vec),
                         self.rx_take[link].eq(recv & (iss.link == link) & rx_ok)]

        late = Signal()  # RUNTIME_DESKEW t with more drift than t
        slack = Signal(signed(STALL_BITS + 2))
        m.d.comb += slack.eq(iss.t - self.drift)
        with m.If(is_op("DESKEW")):
            m.d.comb += [self.stall.eq(cfg.hac_epoch - 1 - self.hac), self.anchor.eq(1)]
        with m.Elif(is_op("RUNTIME_DESKEW")):
            m.d.comb += [self.stall.eq(Mux(slack < 0, 0, slack[:STALL_BITS])),
                         self.anchor.eq(1), late.eq(slack < 0)]
        m.d.comb += self.error.eq((send & ~a_ok) | (recv & ~rx_ok) | too_soon | late)

        out_valid, out_z = Signal(), Signal(6)
        out_vec = Signal(vector_layout(cfg))
        m.d.sync += [out_valid.eq(recv & rx_ok), out_z.eq(iss.z)]
        for link in range(cfg.c2c_links):
            with m.If(iss.link == link):
                m.d.sync += out_vec.eq(self.rx_data[link])
        for direction, side_out in ((E, self.s_out.e), (W, self.s_out.w)):
            for s in range(cfg.streams):
                m.d.comb += side_out.data[s].eq(out_vec)
                with m.If(out_valid & (stream_dir_bit(out_z) == direction) &
                          (stream_number(out_z) == s)):
                    m.d.comb += side_out.valid[s].eq(1)
        return m
