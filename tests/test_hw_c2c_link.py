"""C2C link layer (``lpu.hw.c2c_link``) in the Amaranth simulator, against ``lpu.sw.c2c``."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("amaranth")

from amaranth import Module, Signal
from amaranth.hdl import DomainRenamer
from amaranth.sim import Simulator

from lpu.hw.c2c_link import LinkReceiver, LinkRx, LinkTx
from lpu.sw.c2c import KINDS, FrameFormat
from lpu.sw.crc import crc16

FMT = FrameFormat(lanes=16, link_bits=32)


def test_crc16_check_value():
    """CRC-16/CCITT-FALSE of the ASCII digits 1..9 is 0x29B1 (the catalogue check value)."""
    assert crc16(b"123456789", 8) == 0x29B1


@pytest.mark.parametrize("link_bits", [16, 32, 64])
def test_frame_round_trip_and_every_single_bit_error_is_caught(link_bits):
    fmt = FrameFormat(lanes=8, link_bits=link_bits)
    payload = int.from_bytes(bytes(range(1, 9)), "little")
    words = fmt.frame("DATA", payload)
    assert len(words) == fmt.frame_words and fmt.check(words) == ("DATA", payload)
    for w in range(len(words)):
        for b in range(link_bits):
            bad = list(words)
            bad[w] ^= 1 << b
            assert fmt.check(bad) is None, (w, b)


def _sim(top, *testbenches, clocks=(("sync", 10e-9),)):
    sim = Simulator(top)
    for domain, period in clocks:
        sim.add_clock(period, domain=domain)
    for tb in testbenches:
        sim.add_testbench(tb)
    sim.run()


def test_tx_puts_the_reference_frames_on_the_wire_back_to_back():
    tx = LinkTx(FMT)
    rng = np.random.default_rng(1)
    frames = [(KINDS[int(k)], int.from_bytes(rng.bytes(16), "little"))
              for k in rng.integers(0, 3, 5)]
    wire = []

    async def tb(ctx):
        pending = list(frames)
        for _ in range(len(frames) * FMT.frame_words + 4):
            if pending and ctx.get(tx.ready):
                kind, payload = pending.pop(0)
                ctx.set(tx.send, 1)
                ctx.set(tx.kind, KINDS.index(kind))
                ctx.set(tx.payload, payload)
            else:
                ctx.set(tx.send, 0)
            if ctx.get(tx.wire_valid):
                wire.append(ctx.get(tx.wire_data))
            await ctx.tick()
        assert not pending

    _sim(tx, tb)
    expect = [w for kind, payload in frames for w in FMT.frame(kind, payload)]
    assert wire == expect  # contiguous: no idle word between frames


def test_rx_delivers_good_frames_and_counts_bad_ones():
    rx = LinkRx(FMT)
    good = FMT.frame("DATA", 0x0123456789ABCDEF0011223344556677)
    flipped = list(good)
    flipped[2] ^= 1 << 7
    align = FMT.frame("ALIGN", 200)
    stream = [good, flipped, good[:3], align]  # the third breaks off mid-frame
    seen = []

    async def tb(ctx):
        for frame in stream:
            for w in frame:
                ctx.set(rx.wire_valid, 1)
                ctx.set(rx.wire_data, w)
                await ctx.tick()
                if ctx.get(rx.frame_valid):
                    seen.append((KINDS[ctx.get(rx.kind)], ctx.get(rx.payload)))
            ctx.set(rx.wire_valid, 0)
            await ctx.tick()
            if ctx.get(rx.frame_valid):
                seen.append((KINDS[ctx.get(rx.kind)], ctx.get(rx.payload)))
        assert ctx.get(rx.bad_frames) == 2

    _sim(rx, tb)
    assert seen == [("DATA", 0x0123456789ABCDEF0011223344556677), ("ALIGN", 200)]


@pytest.mark.parametrize("ppm", [0, 1000, -10000])
def test_link_between_clock_domains(ppm):
    """Sender on 'link', receiver on 'sync' with a period ppm longer: every frame arrives in
    order; one with a flipped wire bit is counted and dropped, never delivered."""
    top = Module()
    top.submodules.tx = tx = DomainRenamer("link")(LinkTx(FMT))
    top.submodules.rxb = rxb = LinkReceiver(FMT, depth=4, w_domain="link", r_domain="sync")
    flip = Signal(FMT.link_bits)
    top.d.comb += [rxb.wire_data.eq(tx.wire_data ^ flip), rxb.wire_valid.eq(tx.wire_valid)]
    rng = np.random.default_rng(ppm & 0xFFFF)
    payloads = [int.from_bytes(rng.bytes(16), "little") for _ in range(12)]
    corrupt = 5  # the frame whose third word gets a flipped bit
    got = []

    async def sender(ctx):
        for i, p in enumerate(payloads):
            while not ctx.get(tx.ready):
                await ctx.tick("link")
            ctx.set(tx.send, 1)
            ctx.set(tx.kind, 0)
            ctx.set(tx.payload, p)
            await ctx.tick("link")
            ctx.set(tx.send, 0)
            for n in range(FMT.frame_words - 1):
                ctx.set(flip, 1 << 3 if (i == corrupt and n == 2) else 0)
                await ctx.tick("link")
            ctx.set(flip, 0)

    async def reader(ctx):
        for _ in range(len(payloads) * FMT.frame_words + 40):
            take = ctx.get(rxb.r_valid)
            if take:
                got.append(ctx.get(rxb.r_payload))
            ctx.set(rxb.r_take, take)
            await ctx.tick("sync")
        assert ctx.get(rxb.bad_frames) == 1

    period = 10e-9
    _sim(top, sender, reader,
         clocks=(("link", period), ("sync", period * (1 + ppm * 1e-6))))
    assert got == payloads[:corrupt] + payloads[corrupt + 1:]
