"""C2C link layer: frame serializer, deserializer with CRC check, and the elastic buffer.

The frame format is ``lpu.sw.c2c.FrameFormat``. The wire is ``link_bits`` data bits and a
valid bit clocked by the sending tile (a source-synchronous link: the receiver's deserializer
runs on the sender's clock, as a recovered clock would). Decoded frames cross into the
receiving tile's clock domain through ``amaranth.lib.fifo.AsyncFIFO`` (Gray-coded pointers,
two-stage synchronizers): the elastic buffer that absorbs the phase and frequency difference
of two plesiochronous clocks. A frame whose CRC, header or length is wrong is counted and
dropped, never delivered. The CRC is ``amaranth.lib.crc``'s CRC-16/CCITT-FALSE (``hw/crc.py``).
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal
from amaranth.hdl import DomainRenamer
from amaranth.lib import wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.fifo import AsyncFIFO
from amaranth.lib.wiring import In, Out

from ..sw.c2c import KIND_BITS, KINDS, LINK_BUFFER_VECTORS, FrameFormat
from .common import select
from .crc import processor

COUNTER_BITS = 16


class LinkTx(wiring.Component):
    """Serializer: a ``send`` in cycle t puts the frame's words on the wire in t+1 .. t+F.

    Members
    -------
    send : In(1), kind : In(2), payload : In(payload_bits)
    ready : Out(1)
        A send this cycle is taken (idle, or the last word of a frame goes out).
    overrun : Out(1)
        A send while not ready (a schedule that oversubscribes the link); it is dropped.
    wire_data : Out(link_bits), wire_valid : Out(1)
    """

    def __init__(self, fmt: FrameFormat):
        if not isinstance(fmt, FrameFormat):
            raise TypeError(f"fmt must be a FrameFormat, not {fmt!r}")
        self.fmt = fmt
        super().__init__({
            "send": In(1), "kind": In(KIND_BITS), "payload": In(fmt.payload_bits),
            "ready": Out(1), "overrun": Out(1),
            "wire_data": Out(fmt.link_bits), "wire_valid": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        f, W = self.fmt, self.fmt.link_bits
        P = f.payload_words
        active = Signal()
        n = Signal(range(f.frame_words))
        kind = Signal(KIND_BITS)
        buf = Signal(P * W)
        word = Signal(W)
        # The CRC of the words sent so far: restarted by a taken send, else fed every word.
        m.submodules.crc = crc = processor(W)
        start = self.send & self.ready
        m.d.comb += [crc.start.eq(start), crc.valid.eq(active & ~start), crc.data.eq(word)]
        with m.If(n == 0):
            m.d.comb += word.eq(kind << (W - KIND_BITS))
        with m.Elif(n == P + 1):
            m.d.comb += word.eq(crc.crc)
        with m.Else():
            m.d.comb += word.eq(select((n - 1)[:len(n)],
                                       [buf[W * k:W * (k + 1)] for k in range(P)]))
        m.d.comb += [self.wire_data.eq(Mux(active, word, 0)), self.wire_valid.eq(active),
                     self.ready.eq(~active | (n == P + 1)),
                     self.overrun.eq(self.send & ~self.ready)]
        with m.If(active):
            m.d.sync += n.eq(n + 1)
            with m.If(n == P + 1):
                m.d.sync += [active.eq(0), n.eq(0)]
        with m.If(start):
            m.d.sync += [active.eq(1), n.eq(0), kind.eq(self.kind), buf.eq(self.payload)]
        return m


class LinkRx(wiring.Component):
    """Deserializer on the sender's clock: checks each frame and presents good ones.

    Members
    -------
    wire_data : In(link_bits), wire_valid : In(1)
    frame_valid : Out(1)
        One cycle per good frame, with ``kind`` and ``payload``.
    kind : Out(2), payload : Out(payload_bits)
    bad_frames : Out(16)
        Frames dropped: CRC mismatch, a reserved header bit or kind, or valid falling mid-frame.
    """

    def __init__(self, fmt: FrameFormat):
        if not isinstance(fmt, FrameFormat):
            raise TypeError(f"fmt must be a FrameFormat, not {fmt!r}")
        self.fmt = fmt
        super().__init__({
            "wire_data": In(fmt.link_bits), "wire_valid": In(1),
            "frame_valid": Out(1), "kind": Out(KIND_BITS), "payload": Out(fmt.payload_bits),
            "bad_frames": Out(COUNTER_BITS),
        })

    def elaborate(self, platform):
        m = Module()
        f, W = self.fmt, self.fmt.link_bits
        P = f.payload_words
        n = Signal(range(f.frame_words))
        header_ok = Signal()
        kind = Signal(KIND_BITS)
        buf = Signal(P * W)
        d, v = self.wire_data, self.wire_valid
        # The CRC of the frame's words before this one: every valid word is fed, the header
        # restarting it.
        m.submodules.crc = crc = processor(W)
        m.d.comb += [crc.start.eq(v & (n == 0)), crc.valid.eq(v), crc.data.eq(d)]
        m.d.sync += self.frame_valid.eq(0)
        with m.If(v):
            m.d.sync += n.eq(n + 1)
            with m.If(n == 0):
                m.d.sync += [kind.eq(d[W - KIND_BITS:]),
                             header_ok.eq((d[:W - KIND_BITS] == 0) &
                                          (d[W - KIND_BITS:] < len(KINDS)))]
            with m.Elif(n == P + 1):
                m.d.sync += n.eq(0)
                good = header_ok & (d == crc.crc)
                with m.If(good):
                    m.d.sync += [self.frame_valid.eq(1), self.kind.eq(kind),
                                 self.payload.eq(buf[:f.payload_bits])]
                with m.Else():
                    m.d.sync += self.bad_frames.eq(self.bad_frames + 1)
            with m.Else(), m.Switch(n):
                for k in range(P):
                    with m.Case(k + 1):
                        m.d.sync += buf[W * k:W * (k + 1)].eq(d)
        with m.Elif(n != 0):  # the frame broke off
            m.d.sync += [n.eq(0), self.bad_frames.eq(self.bad_frames + 1)]
        return m


class LinkReceiver(wiring.Component):
    """Deserializer in the link's (sender's) clock domain ``w_domain`` and the elastic buffers
    into the receiving tile's domain ``r_domain``: one for DATA frames (``depth`` vectors), one
    for ALIGN and CONTROL frames, so a DATA frame the program has not yet taken never delays
    an alignment time stamp.

    Members
    -------
    wire_data, wire_valid : In
    r_valid : Out(1), r_payload : Out(payload_bits), r_take : In(1)
        The oldest DATA frame, in ``r_domain``.
    a_valid : Out(1), a_kind : Out(2), a_payload : Out(32), a_take : In(1)
        The oldest ALIGN or CONTROL frame, in ``r_domain``.
    bad_frames : Out(16)
        In ``w_domain``.
    overflow : Out(1)
        A good frame arrived with its buffer full (in ``w_domain``); it is dropped.
    """

    def __init__(self, fmt: FrameFormat, depth: int = LINK_BUFFER_VECTORS, w_domain: str = "link",
                 r_domain: str = "sync"):
        if depth < 2 or depth & (depth - 1):
            raise ValueError(f"depth must be a power of two of at least 2, not {depth}")
        self.fmt, self.depth, self.w_domain, self.r_domain = fmt, depth, w_domain, r_domain
        super().__init__({
            "wire_data": In(fmt.link_bits), "wire_valid": In(1),
            "r_valid": Out(1), "r_payload": Out(fmt.payload_bits), "r_take": In(1),
            "a_valid": Out(1), "a_kind": Out(KIND_BITS), "a_payload": Out(32), "a_take": In(1),
            "bad_frames": Out(COUNTER_BITS), "overflow": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        f = self.fmt
        m.submodules.rx = rx = DomainRenamer(self.w_domain)(LinkRx(f))
        m.submodules.data = data = AsyncFIFO(width=f.payload_bits, depth=self.depth,
                                             w_domain=self.w_domain, r_domain=self.r_domain)
        m.submodules.align = align = AsyncFIFO(width=KIND_BITS + 32, depth=2,
                                               w_domain=self.w_domain, r_domain=self.r_domain)
        is_data = rx.kind == KINDS.index("DATA")
        m.d.comb += [
            rx.wire_data.eq(self.wire_data), rx.wire_valid.eq(self.wire_valid),
            self.bad_frames.eq(rx.bad_frames),
            data.w_data.eq(rx.payload), data.w_en.eq(rx.frame_valid & is_data),
            align.w_data.eq(Cat(rx.payload[:32], rx.kind)),
            align.w_en.eq(rx.frame_valid & ~is_data),
            self.overflow.eq(rx.frame_valid & Mux(is_data, ~data.w_rdy, ~align.w_rdy)),
            self.r_valid.eq(data.r_rdy), self.r_payload.eq(data.r_data), data.r_en.eq(self.r_take),
            self.a_valid.eq(align.r_rdy), self.a_payload.eq(align.r_data[:32]),
            self.a_kind.eq(align.r_data[32:]), align.r_en.eq(self.a_take),
        ]
        return m


class LinkEnd(wiring.Component):
    """One C2C link port of a tile: serializer, receiver with elastic buffers, and the HAC.

    The tile side is in ``sync``; the incoming wire is clocked by the partner's clock, domain
    ``link``. A DATA ``send`` has the serializer first; an ALIGN frame of the HAC goes out only
    in a cycle with no DATA frame waiting. A send that finds an ALIGN frame on the wire waits in
    a one-vector slot and follows it, so a DATA frame is delayed by at most F - 1 cycles. A
    send with the slot still full raises ``overrun`` (it cannot happen when SENDs on a link
    are at least F cycles apart, the rule the C2C port enforces).

    Members
    -------
    send : In(1), send_payload : In(payload_bits), overrun : Out(1)
    r_valid : Out(1), r_payload : Out(payload_bits), r_take : In(1)
    role : In(2), hac : Out(range(epoch)), hac_wraps : Out(1), aligned : Out(1)
    latency : Out(16), latency_valid : Out(1), trims : Out(16)
    bad_frame : Out(1)
        One ``sync`` cycle per frame the receiver dropped (CRC, header or length wrong).
    bad_frames : Out(16)
        Their count, in ``sync``.
    tx_data : Out(link_bits), tx_valid : Out(1)
    rx_data : In(link_bits), rx_valid : In(1)
    """

    def __init__(self, fmt: FrameFormat, epoch: int, depth: int = LINK_BUFFER_VECTORS):
        if not isinstance(fmt, FrameFormat):
            raise TypeError(f"fmt must be a FrameFormat, not {fmt!r}")
        self.fmt, self.epoch, self.depth = fmt, epoch, depth
        super().__init__({
            "send": In(1), "send_payload": In(fmt.payload_bits), "overrun": Out(1),
            "r_valid": Out(1), "r_payload": Out(fmt.payload_bits), "r_take": In(1),
            "role": In(2), "hac": Out(range(epoch)), "hac_wraps": Out(1), "aligned": Out(1),
            "latency": Out(16),
            "latency_valid": Out(1), "trims": Out(16),
            "bad_frame": Out(1), "bad_frames": Out(COUNTER_BITS),
            "tx_data": Out(fmt.link_bits), "tx_valid": Out(1),
            "rx_data": In(fmt.link_bits), "rx_valid": In(1),
        })

    def elaborate(self, platform):
        from .hac import Hac

        m = Module()
        f = self.fmt
        m.submodules.tx = tx = LinkTx(f)
        m.submodules.rx = rx = LinkReceiver(f, self.depth, w_domain="link", r_domain="sync")
        m.submodules.hac = hac = Hac(self.epoch)

        held = Signal()  # a DATA frame waits behind an ALIGN frame
        held_payload = Signal(f.payload_bits)
        data_req = self.send | held
        align_go = hac.tx_req & ~data_req & tx.ready
        with m.If(held & tx.ready):
            m.d.sync += held.eq(0)
        with m.If(self.send & (held | ~tx.ready)):
            m.d.sync += [held.eq(1), held_payload.eq(self.send_payload)]
        m.d.comb += [
            self.overrun.eq(self.send & held & ~tx.ready),
            tx.send.eq(data_req | align_go),
            tx.kind.eq(Mux(data_req, KINDS.index("DATA"), KINDS.index("ALIGN"))),
            tx.payload.eq(Mux(held, held_payload, Mux(self.send, self.send_payload,
                                                      hac.tx_payload))),
            hac.tx_grant.eq(align_go),
            self.tx_data.eq(tx.wire_data), self.tx_valid.eq(tx.wire_valid),
            rx.wire_data.eq(self.rx_data), rx.wire_valid.eq(self.rx_valid),
            self.r_valid.eq(rx.r_valid), self.r_payload.eq(rx.r_payload), rx.r_take.eq(self.r_take),
            hac.rx_valid.eq(rx.a_valid & (rx.a_kind == KINDS.index("ALIGN"))),
            hac.rx_payload.eq(rx.a_payload), rx.a_take.eq(rx.a_valid),
            hac.role.eq(self.role), self.hac.eq(hac.hac), self.hac_wraps.eq(hac.wraps),
            self.aligned.eq(hac.aligned),
            self.latency.eq(hac.latency), self.latency_valid.eq(hac.latency_valid),
            self.trims.eq(hac.trims),
        ]

        # Dropped frames: a toggle per drop crosses into sync (drops are a frame apart).
        seen = Signal(COUNTER_BITS)
        toggle, toggle_sync, toggle_last = Signal(), Signal(), Signal()
        m.d.link += seen.eq(rx.bad_frames)
        with m.If(seen != rx.bad_frames):
            m.d.link += toggle.eq(~toggle)
        m.submodules.bad_sync = FFSynchronizer(toggle, toggle_sync, o_domain="sync")
        m.d.sync += toggle_last.eq(toggle_sync)
        m.d.comb += self.bad_frame.eq(toggle_sync ^ toggle_last)
        with m.If(self.bad_frame):
            m.d.sync += self.bad_frames.eq(self.bad_frames + 1)
        return m
