"""cocotb testbench of the whole tile (``lpu.hw.tile.Tile``): runs host-port jobs.

Driven by ``lpu.verif.rtl_tile.run_jobs`` through two files named in the environment:
``LPU_TILE_JOBS`` (a JSON list of jobs: ``writes`` [[address, word], ...], ``reads``
[address, ...], ``max_cycles``) and ``LPU_TILE_RESULTS`` (written here). ``LPU_CONFIG`` is the
tile configuration. Each job: CLEAR, the writes (one per cycle), START, wait for ``busy`` to
fall (no Python wake-up per cycle), then read the status, the counters and the reads. A job
that does not finish within ``max_cycles`` is aborted and reported with ``timeout``.
"""

from __future__ import annotations

import json
import os
import time

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly, RisingEdge, with_timeout

try:
    from cocotb.triggers import SimTimeoutError
except ImportError:  # cocotb < 2
    from cocotb.result import SimTimeoutError

from lpu.sw import hostmap as hm
from lpu.sw.hostmap import HostMap
from lpu.verif.bus import as_int, config_from_env

PERIOD_NS = 10


class HostDriver:
    """Owns the clock and reset and moves words over the tile's host port."""

    def __init__(self, dut, hmap: HostMap):
        self.dut, self.map = dut, hmap

    async def start(self) -> None:
        cocotb.start_soon(Clock(self.dut.clk, PERIOD_NS, unit="ns").start())
        self._idle()
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 2)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    def _idle(self) -> None:
        self.dut.host_we.value = 0
        self.dut.host_re.value = 0

    async def write(self, address: int, word: int) -> None:
        self.dut.host_addr.value = address
        self.dut.host_wdata.value = word
        self.dut.host_we.value = 1
        await RisingEdge(self.dut.clk)
        self._idle()

    async def read(self, addresses: list[int]) -> list[int]:
        """Read words, one per cycle: each answer arrives the cycle after its address, while
        the next address is already presented."""
        out = []
        if not addresses:
            return out
        self.dut.host_addr.value = addresses[0]
        self.dut.host_re.value = 1
        for nxt in [*addresses[1:], None]:
            await RisingEdge(self.dut.clk)
            if nxt is None:
                self.dut.host_re.value = 0
            else:
                self.dut.host_addr.value = nxt
            await ReadOnly()
            out.append(as_int(self.dut.host_rdata))
        await RisingEdge(self.dut.clk)
        return out

    async def wait_idle(self, max_cycles: int) -> bool:
        """Wait for ``busy`` to fall; return False after ``max_cycles`` cycles."""
        await ReadOnly()
        if not self.dut.busy.value:
            await RisingEdge(self.dut.clk)
            return True
        try:
            await with_timeout(FallingEdge(self.dut.busy), max_cycles * PERIOD_NS, "ns")
        except SimTimeoutError:
            return False
        await RisingEdge(self.dut.clk)
        return True


@cocotb.test()
async def run_jobs(dut):
    """Run every job of LPU_TILE_JOBS and write LPU_TILE_RESULTS."""
    hmap = HostMap(config_from_env())
    with open(os.environ["LPU_TILE_JOBS"]) as f:
        jobs = json.load(f)
    host = HostDriver(dut, hmap)
    await host.start()
    results = []
    for job in jobs:
        t0 = time.perf_counter()
        await host.write(hm.REG_CTRL, hm.CTRL_CLEAR)
        await host.wait_idle(4 * hmap.region_words)
        for address, word in job["writes"]:
            await host.write(address, word)
        load_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        await host.write(hm.REG_CTRL, hm.CTRL_START)
        finished = await host.wait_idle(job["max_cycles"])
        run_seconds = time.perf_counter() - t0
        if not finished:
            await host.write(hm.REG_CTRL, hm.CTRL_ABORT)
            await host.wait_idle(16)
        nq = len(hmap.config.queues)
        regs = await host.read([hm.REG_CTRL, hm.REG_CYCLES, hm.REG_FROZEN]
                               + [hm.REG_ERROR + k for k in range(hmap.error_registers)]
                               + [hm.REG_BUSY + i for i in range(nq)])
        status, cycles, frozen = regs[:3]
        errs = regs[3:3 + hmap.error_registers]
        t0 = time.perf_counter()
        words = await host.read(job["reads"])
        read_seconds = time.perf_counter() - t0
        results.append({
            "status": status, "cycles": cycles, "frozen": frozen,
            "error_bits": hmap.error_bits(errs),
            "busy": regs[3 + hmap.error_registers:], "timeout": not finished,
            "words": {str(a): w for a, w in zip(job["reads"], words, strict=True)},
            "run_seconds": run_seconds, "load_seconds": load_seconds,
            "read_seconds": read_seconds,
        })
    with open(os.environ["LPU_TILE_RESULTS"], "w") as f:
        json.dump(results, f)
