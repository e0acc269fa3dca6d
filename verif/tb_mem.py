"""cocotb testbench of ``lpu.hw.mem.MemBank``: one MEM bank against a numpy reference model.

Run by ``tests/test_rtl_mem.py`` through ``lpu.verif.harness.run``. Environment:
``LPU_CONFIG`` (JSON of ``TileConfig.as_dict()``, default ``TileConfig()``), ``LPU_BANK`` (the
DUT's bank, default 0), ``LPU_SEED`` (default 1), ``LPU_TRANSACTIONS`` (default 1000).

Parts: ``BankModel`` is the reference (numpy plus ``lpu.sw.units``, no cocotb); ``Stimulus``
builds per-cycle inputs (random and directed); ``Driver`` and ``Monitor`` move one cycle of
inputs and outputs to and from the DUT; ``Checker`` compares every output in every cycle; ``TB``
owns the clock and reset and steps all of them in lockstep.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from lpu.hw.decoder import field_widths
from lpu.sw import units
from lpu.sw.config import TileConfig
from lpu.sw.isa import (
    BY_MNEMONIC,
    BY_OPCODE,
    E,
    W,
    stream_dir,
    stream_index,
    stream_operand,
)
from lpu.verif.bus import (
    IssueBits,
    StreamBits,
    as_int,
    bits_vector,
    config_from_env,
    env_int,
    mask_bits,
    vector_bits,
)

MEM_OPS = ("READ", "WRITE", "GATHER", "SCATTER")


# ---------------------------------------------------------------------------------------------
# Reference model (numpy and lpu.sw only: no cocotb, no Amaranth)
# ---------------------------------------------------------------------------------------------


@dataclass
class Cycle:
    """Inputs of one cycle: the issue word fields, every stream at the input, the host port."""

    issue: dict[str, int]  # valid, opcode and ISA fields (raw bits)
    data: np.ndarray  # (2, streams, lanes) uint8: [E] eastward, [W] westward
    valid: np.ndarray  # (2, streams) bool
    host_addr: int = 0
    host_we: int = 0
    host_wdata: np.ndarray | None = None  # (lanes,) uint8
    host_re: bool = True  # check host_rdata for host_addr in the next cycle
    tag: str = ""  # label for messages and directed checks


@dataclass
class Outputs:
    """Outputs of one cycle. ``out`` is (stream field, word) or None; ``host`` may be None
    (unspecified: the unit used the read port in the previous cycle)."""

    out: tuple[int, np.ndarray] | None
    error: bool
    host: np.ndarray | None = None
    s_valid: tuple[int, int] = (0, 0)  # observed only: raw valid masks (E, W)


class BankModel:
    """One MEM bank with the timing of ``GoldenTile._mem``/``.bank`` (see ``lpu.hw.mem``).

    An instruction issued in cycle t: READ/GATHER read the bank in t and present the word in
    t + 1; WRITE/SCATTER take their operands in t and write the bank at the end of t + 1. A
    read in the cycle a write lands is a conflict. The stop rule: the instruction that errs has
    no effect, the write due at the end of its cycle lands (the tile stops the cycle after).
    """

    def __init__(self, cfg: TileConfig, bank: int):
        self.cfg, self.bank = cfg, bank
        self.mem = np.zeros((cfg.mem_words, cfg.lanes), np.uint8)
        self.pending = None  # (rows, cols, data): unit write landing at the end of this cycle
        self.out = None  # (z, word) due this cycle
        self.host = None  # host read data due this cycle

    def _operand(self, cyc: Cycle, v: int, width: int) -> np.ndarray | None:
        """Planes (width, lanes) of the stream group at v, or None if one holds no value."""
        d, base = stream_dir(v), stream_index(v)
        if not all(cyc.valid[d, base + j] for j in range(width)):
            return None
        return cyc.data[d, base:base + width].copy()

    def _lane_addresses(self, cyc: Cycle) -> np.ndarray | None:
        planes = self._operand(cyc, cyc.issue["m"], 2)
        if planes is None:
            return None
        return units.from_planes(planes, "i16").view(np.uint16).astype(np.int64)

    def step(self, cyc: Cycle) -> Outputs:
        """Return the outputs expected in this cycle and advance to the next one."""
        cfg, iss = self.cfg, cyc.issue
        expect = Outputs(self.out, False, self.host)
        instr = BY_OPCODE.get(iss["opcode"]) if iss["valid"] else None
        name = instr.mnemonic if instr is not None and instr.mnemonic in MEM_OPS else None
        local = iss["addr"] % cfg.mem_words
        lanes = np.arange(cfg.lanes)
        out = write = None
        error = False
        if name is not None and instr.bank == "read" and self.pending is not None:
            error = True  # bank read and written in this cycle
        if name == "READ":
            out = (iss["z"], self.mem[local].copy())
        elif name == "WRITE":
            a = self._operand(cyc, iss["a"], 1)
            error |= a is None
            if a is not None:
                write = (local, slice(None), a[0])
        elif name in ("GATHER", "SCATTER"):
            addrs = self._lane_addresses(cyc)
            a = self._operand(cyc, iss["a"], 1) if name == "SCATTER" else None
            if (addrs is None or (name == "SCATTER" and a is None)
                    or (addrs // cfg.mem_words != self.bank).any()):
                error = True
            elif name == "GATHER":
                out = (iss["z"], self.mem[addrs % cfg.mem_words, lanes])
            else:
                write = (addrs % cfg.mem_words, lanes, a[0])
        expect.error = error
        # Host read: the read port serves the host when the unit does not read.
        self.host = (None if name in ("READ", "GATHER") or not cyc.host_re
                     else self.mem[cyc.host_addr].copy())
        # End of cycle: the erring instruction has no effect, the pending write lands; a unit
        # write wins over the host.
        if error:
            out = write = None
        if self.pending is not None:
            rows, cols, data = self.pending
            self.mem[rows, cols] = data
        elif cyc.host_we:
            self.mem[cyc.host_addr] = cyc.host_wdata
        self.out = (out[0], units.to_planes(out[1].view(np.int8))[0]) if out else None
        self.pending = write
        return expect


# ---------------------------------------------------------------------------------------------
# Stimulus
# ---------------------------------------------------------------------------------------------


class Stimulus:
    """Per-cycle inputs: random streams under named issues, random and directed sequences."""

    def __init__(self, cfg: TileConfig, bank: int, rng: random.Random):
        self.cfg, self.bank, self.rng = cfg, bank, rng
        self.np = np.random.default_rng(rng.getrandbits(32))
        self.hot = [rng.randrange(cfg.mem_words) for _ in range(6)] + [0, cfg.mem_words - 1]
        self.widths = field_widths()

    def noise_fields(self) -> dict[str, int]:
        """Every field the unit does not use this cycle holds random bits."""
        return {n: self.rng.getrandbits(w) for n, w in self.widths.items()}

    def stream(self, width: int = 1) -> int:
        """A random stream field for a group of ``width`` streams."""
        idx = self.rng.randrange(0, self.cfg.streams, width)
        return stream_operand(self.rng.getrandbits(1), idx)

    def address(self) -> int:
        """A bank-local word address, biased to a hot set and the first and last word."""
        r = self.rng.random()
        return self.rng.choice(self.hot) if r < 0.5 else self.rng.randrange(self.cfg.mem_words)

    def cycle(self, op: str | None = None, **fields) -> Cycle:
        """A cycle issuing ``op`` (None: nothing) with random streams and noise fields."""
        cfg = self.cfg
        iss = self.noise_fields()
        iss["valid"] = int(op is not None)
        iss["opcode"] = BY_MNEMONIC[op].opcode if op else self.rng.getrandbits(6)
        m_addrs = fields.pop("lane_addrs", None)
        iss.update(fields)
        if "addr" in fields:
            iss["addr"] = self.bank * cfg.mem_words + fields["addr"]
        data = self.np.integers(0, 256, (2, cfg.streams, cfg.lanes), dtype=np.uint8)
        vld = np.ones((2, cfg.streams), bool)
        if m_addrs is not None:
            d, base = stream_dir(iss["m"]), stream_index(iss["m"])
            planes = units.to_planes(np.asarray(m_addrs, np.uint16).view(np.int16))
            data[d, base:base + 2] = planes
        return Cycle(iss, data, vld)

    def host(self, cyc: Cycle, addr: int, wdata: np.ndarray | None = None) -> Cycle:
        cyc.host_addr = addr
        if wdata is not None:
            cyc.host_we, cyc.host_wdata = 1, np.asarray(wdata, np.uint8)
        return cyc

    def word(self) -> np.ndarray:
        return self.np.integers(0, 256, self.cfg.lanes, dtype=np.uint8)

    def lane_addrs(self, errors: bool) -> list[int]:
        """Slice addresses for GATHER/SCATTER: one shared, all distinct, or random per lane."""
        cfg, rng = self.cfg, self.rng
        mode = rng.randrange(3)
        if mode == 0:
            local = [self.address()] * cfg.lanes
        elif mode == 1:
            local = rng.sample(range(cfg.mem_words), cfg.lanes)
        else:
            local = [self.address() for _ in range(cfg.lanes)]
        out = [self.bank * cfg.mem_words + a for a in local]
        if errors and rng.random() < 0.08:  # one lane outside the bank (any 16-bit address)
            other = rng.choice([b for b in range((1 << 16) // cfg.mem_words) if b != self.bank])
            out[rng.randrange(cfg.lanes)] = other * cfg.mem_words + self.address()
        return out

    def idle(self, host_write: bool) -> Cycle:
        """A cycle without a MEM issue (valid 0, or a non-MEM opcode), maybe a host write."""
        rng = self.rng
        cyc = self.cycle(None)
        if rng.random() < 0.5:
            cyc.issue["opcode"] = rng.choice([BY_MNEMONIC[o].opcode for o in MEM_OPS])
        if rng.random() < 0.3:
            cyc.issue["valid"] = 1
            cyc.issue["opcode"] = rng.choice([BY_MNEMONIC[o].opcode for o in ("NOP", "ADD", "LW")])
        if host_write and rng.random() < 0.5:
            self.host(cyc, self.address(), self.word())
        return cyc

    def random(self, count: int, errors: bool):
        """Yield cycles until ``count`` MEM instructions have issued.

        Without ``errors`` every operand stream holds a value, every lane address is in the bank
        and a READ/GATHER right after a WRITE/SCATTER gets an idle cycle in between. Host writes
        only come when the unit is idle, host reads every cycle.
        """
        rng, issued, prev_write = self.rng, 0, False
        while issued < count:
            if rng.random() < 0.15:
                yield self.idle(host_write=not prev_write)
                prev_write = False
                continue
            op = rng.choice(MEM_OPS)
            if op in ("READ", "GATHER") and prev_write and (not errors or rng.random() < 0.7):
                yield self.idle(host_write=False)  # a READ/GATHER now is a bank conflict
            if op in ("READ", "WRITE"):
                cyc = self.cycle(op, addr=self.address(), **{"z" if op == "READ" else "a":
                                                             self.stream()})
            else:
                cyc = self.cycle(op, m=self.stream(2), lane_addrs=self.lane_addrs(errors),
                                 **{"z" if op == "GATHER" else "a": self.stream()})
            if errors and rng.random() < 0.06:  # an operand stream without a value
                cyc.valid[rng.randrange(2), rng.randrange(self.cfg.streams)] = False
            self.host(cyc, self.address())
            issued += 1
            prev_write = op in ("WRITE", "SCATTER")
            yield cyc


# ---------------------------------------------------------------------------------------------
# cocotb side: driver, monitor, checker, TB
# ---------------------------------------------------------------------------------------------


class Driver:
    """Drives one cycle of inputs."""

    def __init__(self, dut, cfg: TileConfig):
        self.dut, self.cfg, self.issue, self.streams = dut, cfg, IssueBits(), StreamBits(cfg)

    def apply(self, cyc: Cycle) -> None:
        dut = self.dut
        dut.issue.value = self.issue.pack(cyc.issue)
        dut.s_in.value = self.streams.pack(cyc.data, cyc.valid)
        dut.host_addr.value = cyc.host_addr
        dut.host_we.value = cyc.host_we
        wdata = cyc.host_wdata if cyc.host_wdata is not None else np.zeros(self.cfg.lanes, np.uint8)
        dut.host_wdata.value = vector_bits(wdata)


class Monitor:
    """Samples one cycle of outputs."""

    def __init__(self, dut, cfg: TileConfig):
        self.dut, self.cfg, self.streams = dut, cfg, StreamBits(cfg)

    def sample(self) -> Outputs:
        data, valid = self.streams.unpack(as_int(self.dut.s_out))
        masks = (mask_bits(valid[E]), mask_bits(valid[W]))
        out = None
        for d, vmask in zip((E, W), masks, strict=True):
            if vmask and vmask & (vmask - 1) == 0:
                s = vmask.bit_length() - 1
                out = (stream_operand(d, s), data[d, s].copy())
        return Outputs(out, bool(as_int(self.dut.error)),
                       bits_vector(as_int(self.dut.host_rdata), self.cfg.lanes), masks)


class Checker:
    """Compares expected and observed outputs cycle by cycle and keeps the mismatches."""

    def __init__(self, log):
        self.log, self.errors, self.checks = log, [], 0

    def compare(self, t: int, cyc: Cycle, exp: Outputs, got: Outputs) -> None:
        where = f"cycle {t} ({cyc.tag or 'random'})"
        self.checks += 1
        if got.error != exp.error:
            self.errors.append(f"{where}: error {int(got.error)}, expected {int(exp.error)}")
        if exp.out is None:
            if any(got.s_valid):
                self.errors.append(f"{where}: s_out valid E={got.s_valid[0]:#x} "
                                   f"W={got.s_valid[1]:#x}, expected none")
        else:
            z, word = exp.out
            bit = 1 << stream_index(z)
            want = (bit, 0) if stream_dir(z) == E else (0, bit)
            if got.s_valid != want:
                self.errors.append(f"{where}: s_out valid E={got.s_valid[0]:#x} "
                                   f"W={got.s_valid[1]:#x}, expected stream {z:#x}")
            elif not np.array_equal(got.out[1], word):
                self.errors.append(f"{where}: s_out data {got.out[1].tolist()}, "
                                   f"expected {word.tolist()}")
        if exp.host is not None and not np.array_equal(got.host, exp.host):
            self.errors.append(f"{where}: host_rdata {got.host.tolist()}, "
                               f"expected {exp.host.tolist()}")

    def finish(self) -> None:
        self.log.info("%d cycles checked, %d mismatches", self.checks, len(self.errors))
        assert not self.errors, f"{len(self.errors)} mismatches:\n" + "\n".join(self.errors[:20])


def load_env() -> tuple[TileConfig, int, int, int]:
    return (config_from_env(), env_int("LPU_BANK", 0), env_int("LPU_SEED", 1),
            env_int("LPU_TRANSACTIONS", 1000))


class TB:
    """Owns the clock and reset; runs cycles through driver, DUT, monitor, model and checker."""

    def __init__(self, dut, cfg: TileConfig, bank: int):
        self.dut, self.cfg, self.bank, self.t = dut, cfg, bank, 0
        self.model = BankModel(cfg, bank)
        self.driver, self.monitor = Driver(self.dut, cfg), Monitor(self.dut, cfg)
        self.checker = Checker(self.dut._log)
        self.trace: list[tuple[Cycle, Outputs, Outputs]] = []

    async def start(self) -> None:
        cocotb.start_soon(Clock(self.dut.clk, 10, unit="ns").start())
        self.driver.apply(Stimulus(self.cfg, self.bank, random.Random(0)).cycle(None))
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 2)
        self.dut.rst.value = 0

    async def run(self, cycles) -> None:
        for cyc in cycles:
            await RisingEdge(self.dut.clk)
            self.driver.apply(cyc)
            await ReadOnly()
            got = self.monitor.sample()
            exp = self.model.step(cyc)
            self.checker.compare(self.t, cyc, exp, got)
            self.trace.append((cyc, exp, got))
            self.t += 1

    async def load(self, stim: Stimulus, words: np.ndarray) -> None:
        """Fill the whole bank through the host port."""
        cycles = []
        for addr, word in enumerate(words):
            cyc = stim.host(stim.cycle(None), addr, word)
            cyc.host_re = False  # the bank held an earlier test's data
            cycles.append(cyc)
        await self.run(cycles)


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------

@cocotb.test()
@cocotb.parametrize(errors=[False, True])
async def random_stimulus(dut, errors: bool) -> None:
    """Seeded random READ/WRITE/GATHER/SCATTER and host traffic, checked every cycle.

    ``errors=True`` adds operand streams without a value, lane addresses outside the bank and
    READ/GATHER right after WRITE/SCATTER (bank conflicts).
    """
    cfg, bank, seed, count = load_env()
    tb = TB(dut, cfg, bank)
    stim = Stimulus(cfg, bank, random.Random(f"{seed}-{errors}"))
    await tb.start()
    await tb.load(stim, stim.np.integers(0, 256, (cfg.mem_words, cfg.lanes), np.uint8))
    start = len(tb.trace)
    await tb.run(stim.random(count, errors))
    await tb.run([stim.cycle(None) for _ in range(3)])
    mem_ops = {BY_MNEMONIC[o].opcode for o in MEM_OPS}
    trace = tb.trace[start:]
    issued = sum(1 for c, _, _ in trace if c.issue["valid"] and c.issue["opcode"] in mem_ops)
    flagged = sum(1 for _, e, _ in trace if e.error)
    outputs = sum(1 for _, e, _ in trace if e.out is not None)
    dut._log.info("seed %d: %d MEM instructions, %d results, %d error cycles", seed, issued,
                  outputs, flagged)
    tb.checker.finish()
    assert issued >= count
    assert errors == (flagged > 0)


@cocotb.test()
async def directed_corners(dut) -> None:
    """First/last word, RAW at t+2, conflict, GATHER/SCATTER patterns, host load/readback."""
    cfg, bank, seed, _ = load_env()
    tb = TB(dut, cfg, bank)
    st = Stimulus(cfg, bank, random.Random(seed))
    lanes, last, base = cfg.lanes, cfg.mem_words - 1, bank * cfg.mem_words
    words = st.np.integers(0, 256, (cfg.mem_words, lanes), np.uint8)
    await tb.start()
    await tb.load(st, words)
    seq: list[Cycle] = []

    def add(cyc: Cycle, tag: str) -> int:
        cyc.tag = tag
        seq.append(cyc)
        return len(seq) - 1

    def idle(n: int = 1) -> None:
        for _ in range(n):
            add(st.cycle(None), "idle")

    e0, e2, w1, w2 = stream_operand(E, 0), stream_operand(E, 2), stream_operand(W, 1), \
        stream_operand(W, 2)
    # First and last word of the bank.
    r_first = add(st.cycle("READ", addr=0, z=e0), "READ first")
    r_last = add(st.cycle("READ", addr=last, z=w1), "READ last")
    idle()
    # WRITE at t, READ of the same word at t + 2 sees the new data.
    wr = add(st.cycle("WRITE", addr=last, a=e0), "WRITE last")
    idle()
    raw = add(st.cycle("READ", addr=last, z=e0), "READ after WRITE (t+2)")
    idle()
    # The WRITE lands at the end of t + 1: a host read in t + 1 sees the old word.
    wl = add(st.cycle("WRITE", addr=11, a=w2), "WRITE, then host reads")
    add(st.host(st.cycle(None), 11), "host read in t+1")
    add(st.host(st.cycle(None), 11), "host read in t+2")
    idle()
    # WRITE then READ in the next cycle: conflict, error in the READ cycle; the READ has no
    # effect, the WRITE lands (the stop rule).
    wc = add(st.cycle("WRITE", addr=0, a=w1), "WRITE before conflict")
    conflict = add(st.cycle("READ", addr=0, z=e0), "READ conflict")
    idle()
    after = add(st.cycle("READ", addr=0, z=e0), "READ after conflict")
    idle()
    # GATHER: all lanes at one word, then all lanes at different words.
    g_one = add(st.cycle("GATHER", m=e2, z=e0, lane_addrs=[base + 7] * lanes), "GATHER one word")
    spread = [base + (last - 1 - 3 * lane) % cfg.mem_words for lane in range(lanes)]
    g_all = add(st.cycle("GATHER", m=w2, z=w1, lane_addrs=spread), "GATHER distinct")
    idle()
    # SCATTER of all lanes to distinct words, read back by GATHER at t + 2.
    sc = add(st.cycle("SCATTER", m=e0, a=w1, lane_addrs=spread), "SCATTER all lanes")
    idle()
    g_back = add(st.cycle("GATHER", m=e2, z=e0, lane_addrs=spread), "GATHER after SCATTER")
    idle()
    # A GATHER with its last lane's address in the other bank.
    outside = [*spread[:-1], ((bank + 1) % cfg.mem_banks) * cfg.mem_words]
    g_bad = add(st.cycle("GATHER", m=e2, z=e0, lane_addrs=outside), "GATHER outside bank")
    idle()
    # Back-to-back READs every cycle.
    b2b = [add(st.cycle("READ", addr=a, z=a % cfg.streams), f"READ b2b {a}") for a in range(8)]
    idle()
    # Host load then READ; WRITE, READ, then host readback of the same word.
    hword = st.word()
    add(st.host(st.cycle(None), 5, hword), "host load")
    hr = add(st.cycle("READ", addr=5, z=e0), "READ after host load")
    idle()
    wr2 = add(st.cycle("WRITE", addr=9, a=e0), "WRITE for host readback")
    idle()
    r9 = add(st.cycle("READ", addr=9, z=w1), "READ before host readback")
    hb = add(st.host(st.cycle(None), 9), "host readback")
    idle(2)
    start = len(tb.trace)
    await tb.run(seq)
    tb.checker.finish()

    # The spec's expectations, checked on the DUT independently of the model.
    got = [g for _, _, g in tb.trace[start:]]

    def word_at(i: int) -> np.ndarray:
        assert got[i + 1].out is not None, f"{seq[i].tag}: no result in the next cycle"
        return got[i + 1].out[1]

    assert np.array_equal(word_at(r_first), words[0]), "first word"
    assert got[r_last + 1].out[0] == w1 and np.array_equal(word_at(r_last), words[last])
    assert np.array_equal(word_at(raw), seq[wr].data[E, 0]), "READ at t+2 must see the WRITE"
    assert np.array_equal(got[wl + 2].host, words[11]), "WRITE landed before the end of t+1"
    assert np.array_equal(got[wl + 3].host, seq[wl].data[W, 2]), "WRITE not landed in t+1"
    assert got[conflict].error and got[conflict + 1].out is None, "conflict"
    assert np.array_equal(word_at(after), seq[wc].data[W, 1]), "the conflict cycle's write lands"
    assert np.array_equal(word_at(g_one), words[7])
    local = [a - base for a in spread]
    assert np.array_equal(word_at(g_all), words[local, np.arange(lanes)])
    assert np.array_equal(word_at(g_back), seq[sc].data[W, 1]), "SCATTER then GATHER"
    assert got[g_bad].error and got[g_bad + 1].out is None, "GATHER outside the bank"
    for a, i in enumerate(b2b):  # word 0 holds what the conflict cycle's WRITE wrote
        want = seq[wc].data[W, 1] if a == 0 else words[a]
        assert np.array_equal(word_at(i), want) and got[i + 1].out[0] == a % cfg.streams
    assert np.array_equal(word_at(hr), hword), "host load then READ"
    assert np.array_equal(word_at(r9), seq[wr2].data[E, 0])
    assert np.array_equal(got[hb + 1].host, seq[wr2].data[E, 0]), "host readback"
    dut._log.info("directed corners: %d cycles", len(seq))
