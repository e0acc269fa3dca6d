"""cocotb testbench of ``lpu.hw.streams.StreamSegment`` against a numpy model of the registers.

The model (``SegmentModel``, numpy only) is the golden model's end-of-cycle rule for one
position: pass the upstream value on, or take a write and mark it fresh; two writers clash.
Environment: ``LPU_CONFIG`` (JSON), ``LPU_SEED``, ``LPU_TRANSACTIONS``, ``LPU_WRITERS``.
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from lpu.sw.config import TileConfig
from lpu.verif.bus import StreamBits, as_int, config_from_env, env_int


class SegmentModel:
    """Registers of one position: data (2, S, L), valid (2, S), fresh (2, S)."""

    def __init__(self, cfg: TileConfig):
        s, lanes = cfg.streams, cfg.lanes
        self.data = np.zeros((2, s, lanes), np.uint8)
        self.valid = np.zeros((2, s), bool)
        self.fresh = np.zeros((2, s), bool)

    def step(self, upstream_data, upstream_valid, writes) -> bool:
        """One clock: writes is a list of (data (2,S,L), valid (2,S)); return the clash flag."""
        count = sum((v.astype(int) for _, v in writes), np.zeros_like(upstream_valid, int))
        clash = bool((count > 1).any())
        hit = count > 0
        new = upstream_data.copy()
        for wd, wv in writes:  # with a clash the data is undefined; the checker skips it
            new[wv] = wd[wv]
        self.data = new
        self.valid = np.where(hit, True, upstream_valid)
        self.fresh = hit
        return clash


def random_cycle(rng, cfg, writers):
    s, lanes = cfg.streams, cfg.lanes
    up_d = rng.integers(0, 256, (2, s, lanes), dtype=np.uint8)
    up_v = rng.random((2, s)) < 0.6
    writes = []
    for _ in range(writers):
        wv = rng.random((2, s)) < rng.choice([0.0, 0.05, 0.3])
        writes.append((rng.integers(0, 256, (2, s, lanes), dtype=np.uint8), wv))
    return up_d, up_v, writes


class TB:
    def __init__(self, dut, cfg, writers):
        self.dut, self.cfg, self.writers, self.bits = dut, cfg, writers, StreamBits(cfg)
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())

    async def reset(self):
        self.dut.rst.value = 1
        self.drive(np.zeros((2, self.cfg.streams, self.cfg.lanes), np.uint8),
                   np.zeros((2, self.cfg.streams), bool), [])
        await RisingEdge(self.dut.clk)
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 0

    def drive(self, up_d, up_v, writes):
        self.dut.e_in.value = self.bits.pack_dir(up_d[0], up_v[0])
        self.dut.w_in.value = self.bits.pack_dir(up_d[1], up_v[1])
        for i in range(self.writers):  # an array port becomes writes__0, writes__1, ...
            word = self.bits.pack(*writes[i]) if i < len(writes) else 0
            getattr(self.dut, f"writes__{i}").value = word

    def read(self, port):
        return self.bits.unpack(as_int(getattr(self.dut, port)))


@cocotb.test()
async def random_and_directed(dut):
    cfg, writers = config_from_env(), env_int("LPU_WRITERS", 1)
    rng = np.random.default_rng(env_int("LPU_SEED", 1))
    count = env_int("LPU_TRANSACTIONS", 1000)
    tb, model = TB(dut, cfg, writers), SegmentModel(cfg)
    await tb.reset()
    s, lanes = cfg.streams, cfg.lanes
    zeros, ones = np.zeros((2, s, lanes), np.uint8), np.full((2, s, lanes), 255, np.uint8)
    directed = [
        (zeros, np.zeros((2, s), bool), []),  # nothing anywhere
        (ones, np.ones((2, s), bool), []),  # all-ones pass through
        (zeros, np.ones((2, s), bool), [(ones, np.ones((2, s), bool))]),  # every stream written
    ]
    cycles = directed + [random_cycle(rng, cfg, writers) for _ in range(count)]
    for n, (up_d, up_v, writes) in enumerate(cycles):
        await FallingEdge(dut.clk)
        tb.drive(up_d, up_v, writes)
        await ReadOnly()
        clash = model.step(up_d, up_v, writes[:writers])
        assert int(dut.error.value) == clash, f"cycle {n}: error flag"
        await RisingEdge(dut.clk)
        await ReadOnly()
        data, valid = tb.read("regs")
        _, fresh = tb.read("fresh")
        assert (valid == model.valid).all(), f"cycle {n}: valid {valid} != {model.valid}"
        assert (fresh == model.fresh).all(), f"cycle {n}: fresh"
        check = model.valid.copy()
        if clash:
            check &= ~model.fresh
        assert (data[check] == model.data[check]).all(), f"cycle {n}: data"
    dut._log.info(f"{len(cycles)} cycles checked")
