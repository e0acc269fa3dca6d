"""Hardware-aligned counter (HAC) and its alignment protocol over one C2C link.

Every tile counts its own clock modulo ``hac_epoch``. Two tiles on one link align their HACs
with ALIGN frames (``lpu.sw.c2c``; the 32-bit payload is ``subtype << 30 | value``):

* **PING / PONG (latency).** A child that has no stable latency yet sends ``PING(hac)`` at
  every epoch start. Whoever receives a PING answers ``PONG(value)`` at once; if its
  serializer is busy, the PONG carries ``value`` plus the cycles it waited. On a PONG the
  child takes the round trip ``rtt = hac - value - TURNAROUND (mod epoch)`` and the one-way
  latency ``L = rtt // 2``: the whole parent cycles a frame is under way, so that the child's
  count equals the parent's at the child's clock edges, not half a cycle ahead; after
  ``STABLE`` equal measurements in a row ``latency_valid`` rises.
* **SYNC (trim).** A parent sends ``SYNC(hac)`` at every epoch start. A child with a valid
  latency expects its own HAC to read ``value + L`` when the SYNC arrives. The first SYNC
  loads that value (coarse alignment); after that the child moves its HAC by at most one
  count per epoch toward it (holding one cycle when ahead, counting two when behind), which
  cancels any drift below one cycle per epoch (3,900 ppm at a 256-cycle epoch).

``role``: 0 free-running, 1 parent, 2 child. The frame requests go to the link's serializer
(``tx_req``/``tx_grant``); the received ALIGN frames come from its elastic buffer.
"""

from __future__ import annotations

from amaranth import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

PING, PONG, SYNC = 0, 1, 2
STABLE = 3  # equal latency measurements before the latency counts as measured
TURNAROUND = 1  # cycles between a PING leaving the partner's buffer and its PONG's grant
ROLE_FREE, ROLE_PARENT, ROLE_CHILD = 0, 1, 2


def align_payload(subtype: int, value: int) -> int:
    return subtype << 30 | value


class Hac(wiring.Component):
    """The HAC of one tile and its end of the alignment protocol on one link.

    Members
    -------
    role : In(2)
    hac : Out(range(epoch))
    epoch_start : Out(1)
        ``hac`` is 0 this cycle.
    wraps : Out(1)
        ``hac`` is 0 next cycle (an epoch starts).
    tx_req : Out(1), tx_payload : Out(32)
        An ALIGN frame to send; ``tx_grant`` says the serializer took it this cycle.
    rx_valid : In(1), rx_payload : In(32)
        The oldest received ALIGN frame; ``rx_take`` removes it.
    latency : Out(16), latency_valid : Out(1)
    aligned : Out(1)
        Not a child, or a child whose HAC took its parent's value (the coarse load).
    trims : Out(16)
        Cycles the HAC was moved by the fine trim (each +1 or -1 counts one).
    """

    def __init__(self, epoch: int):
        if epoch < 16 or epoch & (epoch - 1):
            raise ValueError(f"epoch must be a power of two of at least 16, not {epoch}")
        self.epoch = epoch
        super().__init__({
            "role": In(2),
            "hac": Out(range(epoch)), "epoch_start": Out(1), "wraps": Out(1),
            "tx_req": Out(1), "tx_payload": Out(32), "tx_grant": In(1),
            "rx_valid": In(1), "rx_payload": In(32), "rx_take": Out(1),
            "latency": Out(16), "latency_valid": Out(1), "aligned": Out(1),
            "trims": Out(16),
        })

    def elaborate(self, platform):
        m = Module()
        E = self.epoch
        bits = E.bit_length() - 1
        hac, role = self.hac, self.role
        m.d.comb += self.epoch_start.eq(hac == 0)

        # Received frames: take every one at once (PONGs and SYNCs are time stamps).
        sub = self.rx_payload[30:]
        value = self.rx_payload[:bits]
        got = self.rx_valid
        m.d.comb += self.rx_take.eq(got)

        # PONG owed to the partner, sent as soon as the serializer takes it. Cycles it waits
        # beyond TURNAROUND (a frame already on the wire) are added to the echoed value, so
        # the partner's round trip does not include them.
        pong_due = Signal()
        pong_value = Signal(bits)
        with m.If(got & (sub == PING)):
            m.d.sync += [pong_due.eq(1), pong_value.eq(value)]
        with m.Elif(pong_due & ~self.tx_grant):
            m.d.sync += pong_value.eq(pong_value + 1)

        # What to send this cycle: a PONG first, else a PING or SYNC at an epoch start.
        ping_due = Signal()
        sync_due = Signal()
        with m.If(self.epoch_start):
            m.d.sync += [ping_due.eq((role == ROLE_CHILD) & ~self.latency_valid),
                         sync_due.eq(role == ROLE_PARENT)]
        with m.If(pong_due):
            m.d.comb += [self.tx_req.eq(1), self.tx_payload.eq(align_payload(PONG, 0) |
                                                               pong_value)]
            with m.If(self.tx_grant):
                m.d.sync += pong_due.eq(0)
        with m.Elif(ping_due | sync_due):
            m.d.comb += [self.tx_req.eq(1),
                         self.tx_payload.eq((Mux(ping_due, PING, SYNC) << 30) | hac)]
            with m.If(self.tx_grant):
                m.d.sync += [ping_due.eq(0), sync_due.eq(0)]

        # Latency from PONGs.
        stable = Signal(range(STABLE + 1))
        rtt = Signal(bits + 1)
        m.d.comb += rtt.eq((hac - value - TURNAROUND)[:bits])
        with m.If(got & (sub == PONG) & (role == ROLE_CHILD) & ~self.latency_valid):
            with m.If(rtt[1:] == self.latency):
                m.d.sync += stable.eq(stable + 1)
                with m.If(stable == STABLE - 1):
                    m.d.sync += self.latency_valid.eq(1)
            with m.Else():
                m.d.sync += [self.latency.eq(rtt[1:]), stable.eq(1)]

        # Counting, the coarse load and the fine trim from SYNCs.
        coarse_done = Signal()
        trimmed = Signal()  # a fine trim already happened this epoch
        expected = Signal(bits)
        ahead = Signal(bits)  # hac - expected, mod epoch
        m.d.comb += [expected.eq(value + self.latency), ahead.eq(hac - expected),
                     self.aligned.eq((role != ROLE_CHILD) | coarse_done)]
        step = Signal(2)
        m.d.comb += step.eq(1)
        sync_now = got & (sub == SYNC) & (role == ROLE_CHILD) & self.latency_valid
        with m.If(self.epoch_start):
            m.d.sync += trimmed.eq(0)
        hac_next = Signal(bits)
        m.d.comb += hac_next.eq(hac + step)
        with m.If(sync_now & ~coarse_done):
            m.d.sync += coarse_done.eq(1)
            m.d.comb += hac_next.eq(expected + 1)
        with m.Elif(sync_now & ~trimmed & (ahead != 0)):
            m.d.sync += [trimmed.eq(1), self.trims.eq(self.trims + 1)]
            m.d.comb += step.eq(Mux(ahead[bits - 1], 2, 0))  # behind: +2, ahead: hold
        m.d.sync += hac.eq(hac_next)
        m.d.comb += self.wraps.eq(hac_next == 0)
        return m
