# amaranth: UnusedElaboratable=no
"""UART (``lpu.hw.uart``) and the UART host bridge (``lpu.hw.bridge``) in the Amaranth
simulator, against the protocol of ``lpu.sw.uartproto``.

The bridge is driven by a host model that puts ``uartproto`` frames on its rx pin bit by bit
and decodes its tx pin bit by bit (checking every bit lasts exactly ``divisor`` cycles), and it
drives a Python model of the tile's host port: a dict memory that answers a read one cycle
after ``host_re`` (junk in every other cycle) and records every access.
"""

from __future__ import annotations

import random

import pytest

pytest.importorskip("amaranth")

from amaranth import Module
from amaranth.sim import Simulator

from lpu.hw.bridge import UartBridge
from lpu.hw.uart import UartRx, UartTx
from lpu.sw import uartproto as up
from lpu.sw.config import TileConfig
from lpu.sw.hostmap import HostMap
from lpu.sw.uartproto import Command, Status

CFG = TileConfig.named("tiny")
HM = HostMap(CFG)
DIV = 4
MAX_WRITE = 8
TIMEOUT = 30 * DIV


# -- protocol (pure Python) ---------------------------------------------------------------------

def test_crc_check_value_and_single_bit_and_swap_errors():
    assert up.crc16(b"123456789") == 0x29B1
    frame = up.encode_write(HM, HM.bank_base("MEM_W0", 0), [0x11223344, 0x55667788, 7])
    assert up.crc16(frame[1:]) == 0  # the CRC sent high byte first zeroes the remainder
    for i in range(1, len(frame)):
        for b in range(8):
            bad = bytearray(frame)
            bad[i] ^= 1 << b
            assert up.crc16(bytes(bad[1:])) != 0, (i, b)
        if i + 1 < len(frame) and frame[i] != frame[i + 1]:
            bad = bytearray(frame)
            bad[i], bad[i + 1] = bad[i + 1], bad[i]
            assert up.crc16(bytes(bad[1:])) != 0, i


def test_field_widths_come_from_the_hostmap():
    for name in ("tiny", "small", "default"):
        hm = HostMap(TileConfig.named(name))
        assert up.addr_bytes(hm) * 8 >= hm.addr_bits > (up.addr_bytes(hm) - 1) * 8
        assert up.word_bytes(hm) * 8 == hm.data_bits
        frame = up.encode_read(hm, hm.bank_base(*hm.banks[-1]), 2)
        assert len(frame) == 1 + 1 + 2 * up.addr_bytes(hm) + 2


def test_valid_range_rule():
    last_bank = HM.bank_base(*HM.banks[-1])
    q0 = HM.queue_base(CFG.queues[0].name)
    assert up.valid_range(HM, 0, up.register_words(HM)) is None
    assert up.valid_range(HM, 0, up.register_words(HM) + 1) is not None
    assert up.valid_range(HM, q0, CFG.queue_words, write=True) is None
    assert up.valid_range(HM, q0, 1) is not None  # instruction memories are write-only
    assert up.valid_range(HM, last_bank, CFG.mem_words) is None
    assert up.valid_range(HM, last_bank + CFG.mem_words - 1, 2) is not None  # past the end
    assert up.valid_range(HM, last_bank + CFG.mem_words, 1) is not None  # the bank's gap
    assert up.valid_range(HM, HM.regions * HM.region_words, 1) is not None  # past every region
    assert up.valid_range(HM, last_bank, 0) is not None


def test_encoders_refuse_what_the_bridge_would_reject():
    base = HM.bank_base("MEM_E0", 1)
    with pytest.raises(up.ProtocolError, match=r"carries 1\.\.8 words"):
        up.encode_write(HM, base, range(9), max_write=8)
    with pytest.raises(up.ProtocolError, match="run past the end"):
        up.encode_write(HM, base + CFG.mem_words - 1, [1, 2])
    with pytest.raises(up.ProtocolError, match="does not fit in 4 bytes"):
        up.encode_write(HM, base, [1 << 32])
    with pytest.raises(up.ProtocolError, match="cannot be read"):
        up.encode_read(HM, HM.queue_base(CFG.queues[0].name), 1)
    frame = up.encode_write(HM, base, [5, 6])
    assert up.decode_request(HM, frame) == up.Request(Command.WRITE, base, 2, (5, 6))
    with pytest.raises(up.FrameError, match="TIMEOUT"):
        up.decode_request(HM, frame[:-1])


def test_group_writes():
    writes = [(10, 1), (11, 2), (12, 3), (20, 4), (21, 5)]
    assert up.group_writes(writes, max_write=2) == [(10, [1, 2]), (12, [3]), (20, [4, 5])]


# -- UART ------------------------------------------------------------------------------------------

def serialize(byte: int) -> list[int]:
    """Line levels of one 8N1 byte: start bit, data LSB first, stop bit."""
    return [0, *((byte >> i) & 1 for i in range(8)), 1]


async def drive_bytes(ctx, pin, data, bit_cycles, stop=1):
    for byte in data:
        for level in [*serialize(byte)[:-1], stop]:
            ctx.set(pin, level)
            await ctx.tick().repeat(bit_cycles)
        ctx.set(pin, 1)


@pytest.mark.parametrize("divisor", [4, 7])
def test_tx_rx_loopback_random_bytes(divisor):
    m = Module()
    m.submodules.tx = tx = UartTx(divisor)
    m.submodules.rx = rx = UartRx(divisor)
    m.d.comb += rx.rx.eq(tx.tx)
    data = random.Random(divisor).randbytes(200)
    got, errors = [], []

    async def send(ctx):
        for byte in data:
            ctx.set(tx.i_stream.payload, byte)
            ctx.set(tx.i_stream.valid, 1)
            await ctx.tick().until(tx.i_stream.ready)
        ctx.set(tx.i_stream.valid, 0)
        await ctx.tick().repeat(20 * divisor)

    async def receive(ctx):
        async for _, _, valid, byte, error in ctx.tick().sample(rx.valid, rx.data, rx.error):
            if valid:
                got.append(byte)
            errors.append(error)

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(send)
    sim.add_testbench(receive, background=True)
    sim.run()
    assert bytes(got) == data and not any(errors)


@pytest.mark.parametrize("bit_cycles", [31, 33])
def test_rx_tolerates_three_percent_baud_error(bit_cycles):
    rx = UartRx(32)
    data = bytes([0x00, 0xFF, 0x55, 0xAA, 0x81, 0x7E])
    got = []

    async def drive(ctx):
        await drive_bytes(ctx, rx.rx, data, bit_cycles)
        await ctx.tick().repeat(64)

    async def receive(ctx):
        async for _, _, valid, byte in ctx.tick().sample(rx.valid, rx.data):
            if valid:
                got.append(byte)

    sim = Simulator(rx)
    sim.add_clock(1e-8)
    sim.add_testbench(drive)
    sim.add_testbench(receive, background=True)
    sim.run()
    assert bytes(got) == data


def test_rx_drops_a_byte_with_a_low_stop_bit():
    rx = UartRx(DIV)
    got, errors = [], []

    async def drive(ctx):
        await drive_bytes(ctx, rx.rx, [0x3C], DIV, stop=0)
        await ctx.tick().repeat(3 * DIV)
        await drive_bytes(ctx, rx.rx, [0xC3], DIV)
        await ctx.tick().repeat(4 * DIV)

    async def receive(ctx):
        async for _, _, valid, byte, error in ctx.tick().sample(rx.valid, rx.data, rx.error):
            if valid:
                got.append(byte)
            if error:
                errors.append(byte)

    sim = Simulator(rx)
    sim.add_clock(1e-8)
    sim.add_testbench(drive)
    sim.add_testbench(receive, background=True)
    sim.run()
    assert got == [0xC3] and len(errors) == 1


# -- bridge ----------------------------------------------------------------------------------------

def initial_memory(seed: int) -> dict[int, int]:
    """Every readable word, random (registers included: the model does not emulate them)."""
    rng = random.Random(seed)
    return {a: rng.getrandbits(HM.data_bits)
            for lo, hi in up.ranges(HM, write=False) for a in range(lo, hi)}


class Host:
    """The host side: frames onto the rx pin, replies off the tx pin; and the host-port model."""

    def __init__(self, dut: UartBridge, mem: dict[int, int], seed: int = 0):
        self.dut, self.mem = dut, mem
        self.rng = random.Random(seed)
        self.received: list[int] = []
        self.accesses: list[tuple[str, int, int]] = []
        self.violations: list[str] = []

    async def port(self, ctx):
        """Host-port model: writes land at the edge, a read's word is on host_rdata in the cycle
        after host_re and junk otherwise."""
        dut = self.dut
        async for _, _, we, re, addr, wdata in ctx.tick().sample(
                dut.host_we, dut.host_re, dut.host_addr, dut.host_wdata):
            if we and re:
                self.violations.append(f"read and write together at {addr:#x}")
            if we:
                if up.valid_range(HM, addr, 1, write=True):
                    self.violations.append(f"write to {addr:#x}")
                self.accesses.append(("w", addr, wdata))
                self.mem[addr] = wdata
            if re:
                if up.valid_range(HM, addr, 1):
                    self.violations.append(f"read of {addr:#x}")
                self.accesses.append(("r", addr, self.mem.get(addr, 0)))
                ctx.set(dut.host_rdata, self.mem.get(addr, 0))
            else:
                ctx.set(dut.host_rdata, self.rng.getrandbits(HM.data_bits))

    async def monitor(self, ctx):
        """Decode the tx pin; every bit must hold for exactly DIV cycles."""
        samples: list[int] = []
        async for _, _, level in ctx.tick().sample(self.dut.tx):
            if not samples and level:
                continue
            samples.append(level)
            if len(samples) == 10 * DIV:
                bits = [samples[i * DIV:(i + 1) * DIV] for i in range(10)]
                if any(len(set(b)) != 1 for b in bits) or bits[0][0] != 0 or bits[9][0] != 1:
                    self.violations.append(f"bad tx waveform {samples}")
                self.received.append(sum(b[0] << i for i, b in enumerate(bits[1:9])))
                samples = []

    async def send(self, ctx, data: bytes, gap: int = 0):
        for byte in data:
            await drive_bytes(ctx, self.dut.rx, [byte], DIV)
            if gap:
                await ctx.tick().repeat(gap)

    async def reply(self, ctx, command: int, length: int) -> up.Reply:
        """Wait for the reply to a request of ``command`` and ``length``; decode it."""
        limit = 4 * TIMEOUT + 40 * DIV * (4 + length * up.word_bytes(HM) + up.STATUS_BYTES)
        for _ in range(limit):
            if len(self.received) >= 2:
                size = 2 + up.reply_payload_bytes(HM, command, length, self.received[1]) + 2
                if len(self.received) >= size:
                    data, self.received = bytes(self.received[:size]), self.received[size:]
                    return up.decode_reply(HM, command, length, data)
            await ctx.tick()
        raise AssertionError(f"no reply after {limit} cycles, got {self.received}")

    async def transact(self, ctx, frame: bytes, command: int, length: int) -> up.Reply:
        await self.send(ctx, frame)
        return await self.reply(ctx, command, length)

    async def write(self, ctx, address: int, words) -> None:
        frame = up.encode_write(HM, address, words, max_write=MAX_WRITE)
        r = await self.transact(ctx, frame, Command.WRITE, len(words))
        assert r.status == Status.OK, r

    async def read(self, ctx, address: int, length: int) -> list[int]:
        r = await self.transact(ctx, up.encode_read(HM, address, length), Command.READ, length)
        assert r.status == Status.OK, r
        return list(r.words)

    async def status(self, ctx) -> dict[str, int]:
        r = await self.transact(ctx, up.encode_status(HM), Command.STATUS, 0)
        assert r.status == Status.OK, r
        return r.fields


def run_bridge(script, mem=None, seed=0):
    """Run ``await script(ctx, host)`` against a bridge on the tiny tile; return the host."""
    dut = UartBridge(CFG, DIV, max_write=MAX_WRITE, timeout=TIMEOUT)
    host = Host(dut, initial_memory(seed) if mem is None else mem, seed)

    async def main(ctx):
        await ctx.tick().repeat(4)
        await script(ctx, host)
        await ctx.tick().repeat(12 * DIV)
        assert not host.received, f"unexpected bytes after the last reply: {host.received}"

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(host.port, background=True)
    sim.add_testbench(host.monitor, background=True)
    sim.add_testbench(main)
    sim.run()
    assert not host.violations, host.violations[:5]
    return host


def random_transfer(rng: random.Random, write: bool, max_len: int) -> tuple[int, int]:
    """A random (address, length) inside one range that a READ (or WRITE) may touch."""
    lo, hi = rng.choice(up.ranges(HM, write))
    length = rng.randint(1, min(max_len, hi - lo))
    return rng.randint(lo, hi - length), length


def test_bridge_writes_then_reads_back_random_words():
    rng = random.Random(7)
    expect = initial_memory(1)
    transfers = []
    for _ in range(12):
        address, length = random_transfer(rng, True, MAX_WRITE)
        words = [rng.getrandbits(HM.data_bits) for _ in range(length)]
        transfers.append((address, words))
        expect.update(zip(range(address, address + length), words, strict=True))

    async def script(ctx, host):
        for address, words in transfers:
            await host.write(ctx, address, words)
        for address, words in transfers:
            if up.valid_range(HM, address, len(words)) is None:
                got = await host.read(ctx, address, len(words))
                assert got == [expect[a] for a in range(address, address + len(words))]
        # a long READ: more words than a WRITE may carry, across the whole register region
        got = await host.read(ctx, 0, up.register_words(HM))
        assert got == [expect[a] for a in range(up.register_words(HM))]

    host = run_bridge(script, mem=initial_memory(1))
    assert host.mem == expect
    writes = [(a, w) for kind, a, w in host.accesses if kind == "w"]
    assert writes == [(address + i, w) for address, words in transfers
                      for i, w in enumerate(words)]  # in order, each word once


def test_bridge_status_counts_and_reports_the_tile():
    async def script(ctx, host):
        first = await host.status(ctx)
        assert first == {"version": up.VERSION, "addr_bits": HM.addr_bits,
                         "data_bits": HM.data_bits, "max_write": MAX_WRITE, "flags": 0,
                         "last_error": 0, "frames": 1, "bad_frames": 0}
        await host.write(ctx, HM.bank_base("MEM_E0", 0), [1, 2, 3])
        ctx.set(host.dut.busy, 1)
        r = await host.transact(ctx, up.encode_request(HM, 0x00), 0x00, 0)
        assert r.status == Status.BAD_COMMAND
        second = await host.status(ctx)
        assert second | {"flags": 0} == first | {"frames": 3, "bad_frames": 1,
                                                  "last_error": Status.BAD_COMMAND}
        assert second["flags"] == 1

    run_bridge(script)


def test_noise_before_a_frame_is_ignored():
    base = HM.bank_base("MEM_W0", 1)

    async def script(ctx, host):
        await host.send(ctx, bytes([0x00, 0xFF, 0x5A, 0x13]))
        await host.write(ctx, base, [0xDEADBEEF])
        assert await host.read(ctx, base, 1) == [0xDEADBEEF]
        assert ctx.get(host.dut.bad_frames) == 0

    run_bridge(script)


def _flip(frame: bytes, index: int, bit: int) -> bytes:
    bad = bytearray(frame)
    bad[index] ^= 1 << bit
    return bytes(bad)


def _swap(frame: bytes, index: int) -> bytes:
    bad = bytearray(frame)
    bad[index], bad[index + 1] = bad[index + 1], bad[index]
    assert bad != frame
    return bytes(bad)


BANK = HM.bank_base("MEM_E0", 1)
GOOD = up.encode_write(HM, BANK + 4, [0x01020304, 0xA1B2C3D4, 0x0F0E0D0C], max_write=MAX_WRITE)
H = 1 + up.header_bytes(HM)  # sync and header bytes
LAST_REGION_END = HM.regions * HM.region_words


def _raw(command, address, words=(), length=None):
    return up.encode_request(HM, command, address, len(words) if length is None else length,
                             up.encode_words(HM, words))


#: (name, frame bytes, command, length, expected NAK)
BAD_FRAMES = [
    ("payload bit flip", _flip(GOOD, H + 5, 3), Command.WRITE, 3, Status.BAD_CHECKSUM),
    ("address bit flip", _flip(GOOD, 2, 0), Command.WRITE, 3, Status.BAD_CHECKSUM),
    ("crc bit flip", _flip(GOOD, len(GOOD) - 1, 7), Command.WRITE, 3, Status.BAD_CHECKSUM),
    ("payload byte swap", _swap(GOOD, H + 1), Command.WRITE, 3, Status.BAD_CHECKSUM),
    ("command corrupted", _flip(GOOD, 1, 1), Command.WRITE, 3, Status.BAD_CHECKSUM),
    ("length corrupted", _flip(GOOD, H - 2, 0), Command.WRITE, 3, Status.BAD_CHECKSUM),
    ("truncated header", GOOD[:3], Command.WRITE, 3, Status.TIMEOUT),
    ("truncated payload", GOOD[:H + 6], Command.WRITE, 3, Status.TIMEOUT),
    ("truncated crc", GOOD[:-1], Command.WRITE, 3, Status.TIMEOUT),
    ("unknown command 0x00", _raw(0x00, BANK), 0x00, 0, Status.BAD_COMMAND),
    ("unknown command 'w'", _raw(ord("w"), BANK, length=1), ord("w"), 1, Status.BAD_COMMAND),
    ("write past the bank end", _raw(Command.WRITE, BANK + CFG.mem_words - 1, [1, 2]),
     Command.WRITE, 2, Status.BAD_ADDRESS),
    ("write into the bank's gap", _raw(Command.WRITE, BANK + CFG.mem_words, [1]),
     Command.WRITE, 1, Status.BAD_ADDRESS),
    ("write past the last region", _raw(Command.WRITE, LAST_REGION_END, [1]),
     Command.WRITE, 1, Status.BAD_ADDRESS),
    ("write at the top address", _raw(Command.WRITE, (1 << 8 * up.addr_bytes(HM)) - 1, [1]),
     Command.WRITE, 1, Status.BAD_ADDRESS),
    ("read of a queue", _raw(Command.READ, HM.queue_base(CFG.queues[0].name), length=1),
     Command.READ, 1, Status.BAD_ADDRESS),
    ("read past the registers", _raw(Command.READ, 0, length=up.register_words(HM) + 1),
     Command.READ, up.register_words(HM) + 1, Status.BAD_ADDRESS),
    ("write too long", _raw(Command.WRITE, BANK, list(range(MAX_WRITE + 1))),
     Command.WRITE, MAX_WRITE + 1, Status.BAD_LENGTH),
    ("write of no words", _raw(Command.WRITE, BANK), Command.WRITE, 0, Status.BAD_LENGTH),
    ("read of no words", _raw(Command.READ, BANK), Command.READ, 0, Status.BAD_LENGTH),
]


@pytest.mark.parametrize(("frame", "command", "length", "nak"),
                         [pytest.param(*case[1:], id=case[0]) for case in BAD_FRAMES])
def test_bad_frame_is_rejected_counted_and_never_written(frame, command, length, nak):
    """The bridge answers a bad frame with the NAK ``decode_request`` predicts, counts it,
    touches nothing on the host port, and serves the next good frame."""
    try:
        up.decode_request(HM, frame, max_write=MAX_WRITE)
        predicted = Status.OK
    except up.FrameError as e:
        predicted = e.status
    assert predicted == nak
    before = initial_memory(3)

    async def script(ctx, host):
        r = await host.transact(ctx, frame, command, length)
        assert r.status == nak
        assert ctx.get(host.dut.bad_frames) == 1
        assert host.mem == before and host.accesses == []
        fields = await host.status(ctx)
        assert (fields["bad_frames"], fields["last_error"], fields["frames"]) == (1, nak, 1)
        await host.write(ctx, BANK, [0x600D])  # the next frame is served
        assert await host.read(ctx, BANK, 1) == [0x600D]

    run_bridge(script, mem=initial_memory(3))


def test_range_edges_match_valid_range():
    """READ and WRITE of one and two words at both edges of every range (and just outside):
    the bridge accepts exactly what ``valid_range`` accepts, and writes only those."""
    cases = []
    for write in (False, True):
        for lo, hi in up.ranges(HM, write):
            for address in {lo - 1, lo, hi - 2, hi - 1, hi} - {-1}:
                cases += [(write, address, n) for n in (1, 2)]
    rng = random.Random(5)
    expect = initial_memory(4)
    plan = []
    for write, address, n in cases:
        ok = up.valid_range(HM, address, n, write) is None
        words = [rng.getrandbits(HM.data_bits) for _ in range(n)]
        if ok and write:
            expect.update(zip(range(address, address + n), words, strict=True))
        plan.append((write, address, n, words, ok))

    async def script(ctx, host):
        bad = 0
        for write, address, n, words, ok in plan:
            if write:
                frame, command = _raw(Command.WRITE, address, words), Command.WRITE
            else:
                frame, command = _raw(Command.READ, address, length=n), Command.READ
            r = await host.transact(ctx, frame, command, n)
            assert r.status == (Status.OK if ok else Status.BAD_ADDRESS), (write, address, n)
            if ok and not write:
                assert list(r.words) == [host.mem[a] for a in range(address, address + n)]
            bad += not ok
        assert ctx.get(host.dut.bad_frames) == bad

    host = run_bridge(script, mem=initial_memory(4))
    assert host.mem == expect


def test_bridge_rejects_bad_parameters():
    with pytest.raises(TypeError, match="TileConfig"):
        UartBridge("tiny", 8)
    with pytest.raises(ValueError, match="divisor"):
        UartBridge(CFG, 3)
    with pytest.raises(ValueError, match="max_write"):
        UartBridge(CFG, 8, max_write=0)
    with pytest.raises(ValueError, match="timeout"):
        UartBridge(CFG, 8, timeout=100)
    with pytest.raises(ValueError, match="divisor"):
        UartTx(2)
