"""cocotb testbench of the board core (``lpu.fpga.core.BoardCore``): a host talks to the tile
through the UART bridge over the simulated ``rx``/``tx`` pins only.

Driven by ``lpu.verif.rtl_uart`` through the environment: ``LPU_CONFIG`` (the tile),
``LPU_UART_DIVISOR`` (clock cycles per bit), ``LPU_UART_SCENARIO`` (a JSON file the scenario
reads) and ``LPU_UART_RESULTS`` (the JSON file it writes). Three tests, picked by the runner:

* ``run_jobs``: the host-port jobs of the scenario, each run by ``lpu.sw.uarthost.job_steps``
  (the code behind ``lpu run --backend uart``) over the pins;
* ``bad_frames``: the scenario's frames, sent one at a time; for each, the reply bytes and the
  bridge's STATUS fields afterwards, plus reads of the watched words;
* ``serve_pty``: the scenario's command runs as a subprocess with ``{port}`` replaced by a
  pseudo-terminal, whose bytes this test relays to and from the pins until the command ends.

The pin driver and monitor wake Python once per bit; the tile itself runs without Python.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pty
import select
import subprocess
import tty

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge

from lpu.sw import uartproto as up
from lpu.sw.hostjob import Job
from lpu.sw.hostmap import HostMap
from lpu.sw.uarthost import job_steps, transact
from lpu.verif.bus import as_int, config_from_env, env_int

PERIOD_NS = 10
#: Simulated cycles one ``("wait", seconds)`` step of the host takes (a status poll pause).
POLL_CYCLES = 2000
#: Byte times a reply may stay silent before the host model gives up.
REPLY_BYTE_TIMES = 400


class UartLine:
    """Drives the bridge's ``rx`` pin (the host's transmitter) and samples its ``tx`` pin (the
    host's receiver) at ``divisor`` cycles per bit, 8N1."""

    def __init__(self, dut, divisor: int):
        self.dut, self.divisor = dut, divisor
        self.received = bytearray()

    async def send(self, data: bytes) -> None:
        for byte in data:
            for bit in [0, *((byte >> i) & 1 for i in range(8)), 1]:
                self.dut.rx.value = bit
                await ClockCycles(self.dut.clk, self.divisor)

    async def monitor(self) -> None:
        """Collect every byte the bridge sends (a start bit, 8 bits sampled mid-bit, a stop)."""
        d = self.divisor
        while True:
            await FallingEdge(self.dut.tx)
            await ClockCycles(self.dut.clk, d // 2)
            if as_int(self.dut.tx):
                continue  # a glitch
            byte = 0
            for i in range(8):
                await ClockCycles(self.dut.clk, d)
                byte |= as_int(self.dut.tx) << i
            await ClockCycles(self.dut.clk, d)
            if as_int(self.dut.tx):
                self.received.append(byte)

    async def read(self, n: int) -> bytes:
        """The next ``n`` bytes; fewer if the line stays quiet for REPLY_BYTE_TIMES bytes."""
        quiet = 0
        while len(self.received) < n and quiet < REPLY_BYTE_TIMES:
            before = len(self.received)
            await ClockCycles(self.dut.clk, 10 * self.divisor)
            quiet = 0 if len(self.received) > before else quiet + 1
        out = bytes(self.received[:n])
        del self.received[:n]
        return out


class UartBench:
    """Owns the clock and the reset; runs the host's step generators on the line."""

    def __init__(self, dut):
        self.dut = dut
        self.map = HostMap(config_from_env())
        self.line = UartLine(dut, env_int("LPU_UART_DIVISOR", 8))

    async def start(self) -> None:
        cocotb.start_soon(Clock(self.dut.clk, PERIOD_NS, unit="ns").start())
        self.dut.rx.value = 1
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 4)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)
        cocotb.start_soon(self.line.monitor())

    async def drive(self, steps):
        """Run a ``lpu.sw.uarthost`` step generator over the pins; return its result."""
        try:
            step = next(steps)
            while True:
                kind, arg = step
                if kind == "write":
                    await self.line.send(arg)
                    step = steps.send(None)
                elif kind == "read":
                    step = steps.send(await self.line.read(arg))
                else:
                    await ClockCycles(self.dut.clk, POLL_CYCLES)
                    step = steps.send(None)
        except StopIteration as stop:
            return stop.value

    async def status(self) -> dict:
        reply = await self.drive(transact(self.map, up.encode_status(self.map)))
        return reply.fields


def _scenario():
    with open(os.environ["LPU_UART_SCENARIO"]) as f:
        return json.load(f)


def _results(data) -> None:
    with open(os.environ["LPU_UART_RESULTS"], "w") as f:
        json.dump(data, f)


@cocotb.test()
async def run_jobs(dut):
    """Every job of the scenario through ``uarthost.job_steps``, as a board would run it."""
    bench = UartBench(dut)
    await bench.start()
    out = []
    for j in _scenario()["jobs"]:
        job = Job([tuple(w) for w in j["writes"]], j["reads"], j["max_cycles"])
        res = await bench.drive(job_steps(bench.map, job))
        r = dataclasses.asdict(res)
        r["words"] = {str(a): w for a, w in res.words.items()}
        out.append(r)
    status = await bench.status()
    _results({"jobs": out, "status": status})


@cocotb.test()
async def bad_frames(dut):
    """Send each frame raw; record the reply, the STATUS fields after it and the watched
    words (read with good frames), so the caller can check rejections changed nothing."""
    bench = UartBench(dut)
    await bench.start()
    sc = _scenario()
    setup = [(a, w) for a, w in sc["setup"]]
    for address, words in up.group_writes(setup):
        await bench.drive(transact(bench.map, up.encode_write(bench.map, address, words)))

    async def watched():
        out = []
        for a in sc["watch"]:
            reply = await bench.drive(transact(bench.map, up.encode_read(bench.map, a, 1)))
            out.append(reply.words[0])
        return out

    record = {"before": await watched(), "status_before": await bench.status(), "frames": []}
    for frame in sc["frames"]:
        await bench.line.send(bytes.fromhex(frame["bytes"]))
        reply = await bench.line.read(2 + up.CRC_BYTES + frame.get("reply_payload", 0))
        record["frames"].append({"name": frame["name"], "reply": reply.hex(),
                                 "status": await bench.status(), "watched": await watched()})
    _results(record)


@cocotb.test()
async def serve_pty(dut):
    """Relay a pseudo-terminal to the pins while the scenario's command talks to it."""
    bench = UartBench(dut)
    await bench.start()
    master, slave = pty.openpty()
    tty.setraw(master)
    port = os.ttyname(slave)
    argv = [a.replace("{port}", port) for a in _scenario()["argv"]]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    os.set_blocking(master, False)
    try:
        while proc.poll() is None:
            ready, _, _ = select.select([master], [], [], 0)
            data = os.read(master, 4096) if ready else b""
            if data:
                await bench.line.send(data)
            else:
                await ClockCycles(dut.clk, 10 * bench.line.divisor)
            if bench.line.received:
                os.write(master, bytes(bench.line.received))
                bench.line.received.clear()
        output = proc.communicate()[0].decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
        os.close(slave)
    _results({"returncode": proc.returncode, "output": output})
