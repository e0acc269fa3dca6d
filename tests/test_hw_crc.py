"""One CRC: the Python reference (sw/crc.py), amaranth.lib.crc and the RTL helpers agree."""

import random

import pytest

pytest.importorskip("amaranth")

from amaranth import Module, Signal
from amaranth.lib.crc.catalog import CRC16_CCITT_FALSE
from amaranth.sim import Simulator

from lpu.hw.crc import crc_next, processor
from lpu.sw import c2c, uartproto
from lpu.sw.crc import CRC_CHECK, CRC_INIT, crc16, crc16_update

WIDTHS = (1, 8, 16, 32, 64)


def _words(rng, width, n):
    return [rng.getrandbits(width) for _ in range(n)]


def test_check_values():
    assert crc16(b"123456789") == CRC_CHECK == 0x29B1
    assert crc16([]) == CRC_INIT
    assert uartproto.crc16(b"123456789") == 0x29B1
    assert c2c.crc16(b"123456789", 8) == 0x29B1
    assert CRC16_CCITT_FALSE(8).compute(b"123456789") == 0x29B1


@pytest.mark.parametrize("width", WIDTHS)
def test_reference_equals_amaranth_lib_crc(width):
    rng = random.Random(width)
    for n in (0, 1, 2, 5, 17):
        words = _words(rng, width, n)
        assert crc16(words, width) == CRC16_CCITT_FALSE(data_width=width).compute(words), words


def test_bytes_are_8_bit_words():
    data = bytes(range(256))
    assert crc16(data) == crc16(list(data), 8)
    wide = [int.from_bytes(data[i:i + 2], "big") for i in range(0, 256, 2)]
    assert crc16(wide, 16) == crc16(data)  # MSB first: a 16-bit word is its two bytes in order


def test_a_wrong_reference_is_caught():
    """Negative control: an LSB-first update differs from the library's CRC."""
    words = [0x12, 0x34, 0x56]
    crc = CRC_INIT
    for w in words:
        crc = crc16_update(crc, int(f"{w:08b}"[::-1], 2))
    assert crc != CRC16_CCITT_FALSE(8).compute(words)


@pytest.mark.parametrize("width", (8, 32))
def test_crc_next_is_the_reference_update(width):
    rng = random.Random(100 + width)
    crc, word = Signal(16), Signal(width)
    m = Module()
    out = Signal(16)
    m.d.comb += out.eq(crc_next(crc, word))
    cases = [(rng.getrandbits(16), rng.getrandbits(width)) for _ in range(200)]
    cases += [(1 << k, 0) for k in range(16)] + [(0, 1 << k) for k in range(width)]
    bad = []

    async def bench(ctx):
        for c, w in cases:
            ctx.set(crc, c)
            ctx.set(word, w)
            if ctx.get(out) != crc16_update(c, w, width):
                bad.append((c, w))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert not bad


@pytest.mark.parametrize("width", (16, 32))
def test_processor_is_the_reference_over_a_frame(width):
    """The registered CRC the link framer uses: restart, then one word per valid cycle."""
    rng = random.Random(200 + width)
    dut = processor(width)
    frames = [_words(rng, width, rng.randrange(1, 6)) for _ in range(20)]
    got = []

    async def bench(ctx):
        for words in frames:
            ctx.set(dut.start, 1)
            for w in words:
                ctx.set(dut.valid, 1)
                ctx.set(dut.data, w)
                await ctx.tick()
                ctx.set(dut.start, 0)
                if rng.random() < 0.3:  # an idle cycle holds the CRC
                    ctx.set(dut.valid, 0)
                    await ctx.tick()
            ctx.set(dut.valid, 0)
            got.append(ctx.get(dut.crc))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got == [crc16(words, width) for words in frames]
