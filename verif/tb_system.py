"""cocotb testbench of several tiles on their own clocks (``lpu.verif.rtl_system``).

Driven by ``run_system_jobs`` through ``LPU_SYSTEM_SPEC`` (JSON: active tiles, clock periods
and phases in fs, link roles per tile, jobs) and ``LPU_SYSTEM_RESULTS``. It starts every active
tile's clock, resets the tiles, writes the link roles, waits until every tile reports its HAC
aligned (the bring-up), switches the HAC offset monitor on, and runs the jobs. A job loads every
tile, then writes START to all of them in one root cycle in the middle of an epoch, so all of
them launch on the same HAC epoch boundary; then it waits for every ``busy`` to fall (no Python
wake-up per cycle) and reads counters, link registers and the requested words.
"""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Timer

from lpu.sw import hostmap as hm
from lpu.sw.hostmap import HostMap
from lpu.verif.bus import as_int, config_from_env
from lpu.verif.tb_tile import HostDriver

BRINGUP_EPOCHS = 200  # give up on alignment after this many root epochs
SETTLE_EPOCHS = 4  # after alignment, before the offset monitor starts


class TileHost(HostDriver):
    """The host port, clock and reset of tile ``t`` of the system top."""

    def __init__(self, dut, hmap: HostMap, t: int):
        port = SimpleNamespace(**{name: getattr(dut, f"{name}_{t}") for name in
                                  ("clk", "rst", "host_addr", "host_wdata", "host_we",
                                   "host_re", "host_rdata", "busy")})
        super().__init__(port, hmap)

    async def start_clock(self, period_fs: int, phase_fs: int) -> None:
        self._idle()
        self.dut.rst.value = 1
        if phase_fs:
            await Timer(phase_fs, "fs")
        cocotb.start_soon(Clock(self.dut.clk, period_fs, unit="fs").start())

    async def reset(self) -> None:
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 3)
        self.dut.rst.value = 0
        await ClockCycles(self.dut.clk, 1)

    async def load(self, writes) -> None:
        await self.write(hm.REG_CTRL, hm.CTRL_CLEAR)
        await self.wait_idle(4 * self.map.region_words)
        for address, word in writes:
            await self.write(address, word)

    async def finish(self, max_cycles: int) -> bool:
        finished = await self.wait_idle(max_cycles)
        if not finished:
            await self.write(hm.REG_CTRL, hm.CTRL_ABORT)
            await self.wait_idle(16)
        return finished

    async def report(self, reads, finished: bool) -> dict:
        hmap = self.map
        nq, ne, nl = len(hmap.config.queues), hmap.error_registers, len(hmap.link_ports)
        regs = await self.read([hm.REG_CTRL, hm.REG_CYCLES, hm.REG_FROZEN]
                               + [hm.REG_ERROR + k for k in range(ne)]
                               + [hm.REG_BUSY + i for i in range(nq)]
                               + [hm.REG_LINK + i for i in range(2 * nl)])
        words = await self.read(reads)
        link_regs = regs[3 + ne + nq:]
        return {
            "status": regs[0], "cycles": regs[1], "frozen": regs[2],
            "error_bits": hmap.error_bits(regs[3:3 + ne]),
            "busy": regs[3 + ne:3 + ne + nq], "timeout": not finished,
            "words": {str(a): w for a, w in zip(reads, words, strict=True)},
            "run_seconds": 0.0,
            "links": [{"latency": link_regs[2 * i] & 0xFFFF, "trims": link_regs[2 * i] >> 16,
                       "bad_frames": link_regs[2 * i + 1]} for i in range(nl)],
        }


async def _all(coros) -> list:
    tasks = [cocotb.start_soon(c) for c in coros]
    return [await t for t in tasks]


@cocotb.test()
async def run_system(dut):
    """Bring the links up, run every job of LPU_SYSTEM_SPEC, write LPU_SYSTEM_RESULTS."""
    hmap = HostMap(config_from_env())
    epoch = hmap.config.hac_epoch
    with open(os.environ["LPU_SYSTEM_SPEC"]) as f:
        spec = json.load(f)
    n = spec["tiles"]
    hosts = [TileHost(dut, hmap, t) for t in range(n)]
    dut.monitor_en.value = 0
    for k in range(spec["wires"]):
        getattr(dut, f"flip_arm_{k}").value = 0
    await _all(h.start_clock(p, ph) for h, p, ph in
               zip(hosts, spec["periods_fs"], spec["phases_fs"], strict=True))
    await _all(h.reset() for h in hosts)
    await _all(h.write(hm.REG_LINK_ROLES, word) for h, word in zip(hosts, spec["roles"],
                                                                    strict=True))
    root = hosts[0]
    waited = 0
    while True:
        status = await _all(h.read([hm.REG_LINK_STATUS]) for h in hosts)
        if all(s[0] & hm.LINK_ALIGNED for s in status):
            break
        if waited > BRINGUP_EPOCHS * epoch:
            raise AssertionError(f"links not aligned after {waited} root cycles: "
                                 f"{[hex(s[0]) for s in status]}")
        await ClockCycles(root.dut.clk, epoch // 2)
        waited += epoch // 2 + 3
    bringup = waited
    await ClockCycles(root.dut.clk, SETTLE_EPOCHS * epoch)
    dut.monitor_en.value = 1

    results = []
    for job in spec["jobs"]:
        if job["idle_cycles"]:
            await ClockCycles(root.dut.clk, job["idle_cycles"])
            tiles = []
        else:
            await _all(h.load(j["writes"]) for h, j in zip(hosts, job["tiles"], strict=True))
            hac = (await root.read([hm.REG_HAC]))[0]
            await ClockCycles(root.dut.clk, (3 * epoch // 8 - hac) % epoch + 1)
            await _all(h.write(hm.REG_CTRL, hm.CTRL_START) for h in hosts)
            if job["flip_wire"] is not None:
                cocotb.start_soon(_flip(dut, root, job["flip_wire"], job["flip_after"]))
            done = await _all(h.finish(j["max_cycles"]) for h, j in
                              zip(hosts, job["tiles"], strict=True))
            tiles = await _all(h.report(j["reads"], d) for h, j, d in
                               zip(hosts, job["tiles"], done, strict=True))
        results.append({"tiles": tiles, "samples": as_int(dut.samples),
                        "offsets": [(-as_int(getattr(dut, f"behind_{t}")),
                                     as_int(getattr(dut, f"ahead_{t}"))) for t in range(1, n)]})
    with open(os.environ["LPU_SYSTEM_RESULTS"], "w") as f:
        json.dump({"bringup_cycles": bringup, "jobs": results}, f)


async def _flip(dut, root: TileHost, wire: int, after: int) -> None:
    await ClockCycles(root.dut.clk, after)
    getattr(dut, f"flip_arm_{wire}").value = 1
