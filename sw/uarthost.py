"""The host side of the UART bridge: run a host-port job (load, start, wait, read) in frames.

The job logic is written once, free of any I/O: ``job_steps`` is a generator that yields
``("write", bytes)`` (send these bytes), ``("read", n)`` (send back the next ``n`` bytes
received) and ``("wait", seconds)`` (a pause between two status polls), and returns a
``lpu.sw.hostjob.JobResult`` like the Verilator backend's. ``SerialPort`` and ``drive`` run
it on a serial device (``lpu run --backend uart --port DEV``); the cocotb host model
(``lpu.verif.tb_uart``) runs the same generator over the simulated UART pins.
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Generator

from . import hostmap as hm
from . import uartproto as up
from .errors import LpuError
from .hostjob import JobResult
from .hostmap import HostMap

#: Seconds between two status polls while a program runs.
POLL_SECONDS = 0.01
#: Seconds a reply may take to start or to continue before the host gives up.
REPLY_TIMEOUT = 2.0
#: Status polls after CLEAR or ABORT before the host gives up; the tile is idle again after
#: at most a few (a poll frame takes longer than clearing a bank).
IDLE_POLLS = 1000


class UartHostError(LpuError):
    """The board does not answer, answers garbage or rejects a frame."""


Steps = Generator[tuple[str, object], bytes | None, object]


def transact(hmap: HostMap, frame: bytes) -> Steps:
    """Send one request frame, read and decode its reply; a NAK raises UartHostError."""
    command = frame[1]
    a = up.addr_bytes(hmap)
    length = int.from_bytes(frame[2 + a:2 + 2 * a], "little")
    yield "write", frame
    head = yield "read", 2
    if len(head) < 2 or head[0] != up.REPLY_SYNC:
        raise UartHostError(f"no reply to command {command:#04x} (got {head.hex() or 'nothing'})")
    if head[1] not in set(up.Status):
        raise UartHostError(f"unknown reply status {head[1]:#04x}")
    rest = up.reply_payload_bytes(hmap, command, length, head[1]) + up.CRC_BYTES
    tail = yield "read", rest
    try:
        reply = up.decode_reply(hmap, command, length, head + tail)
    except up.ProtocolError as e:
        raise UartHostError(f"bad reply to command {command:#04x}: {e}") from None
    if reply.status != up.Status.OK:
        raise UartHostError(f"the bridge rejected a frame (command {command:#04x}): "
                            f"{reply.status.name}")
    return reply


def read_words(hmap: HostMap, addresses: list[int]) -> Steps:
    """Read words at ``addresses``, one READ frame per run of consecutive addresses."""
    out: list[int] = []
    runs: list[list[int]] = []
    for a in addresses:
        if runs and runs[-1][0] + runs[-1][1] == a:
            runs[-1][1] += 1
        else:
            runs.append([a, 1])
    for address, n in runs:
        reply = yield from transact(hmap, up.encode_read(hmap, address, n))
        out += reply.words
    return out


def write_words(hmap: HostMap, writes, max_write: int) -> Steps:
    for address, words in up.group_writes(writes, max_write):
        yield from transact(hmap, up.encode_write(hmap, address, words, max_write))


def wait_idle(hmap: HostMap, limit_cycles: int | None, after: str = "") -> Steps:
    """Poll REG_CTRL until the tile is not busy; False when REG_CYCLES passes ``limit_cycles``
    first (a running program). Without a limit (after CLEAR or ABORT, ``after`` names which)
    UartHostError once ``IDLE_POLLS`` polls have found it busy."""
    busy = hm.STATUS_RUNNING | hm.STATUS_CLEARING | hm.STATUS_ARMED
    polls = 0
    while True:
        status, cycles = yield from read_words(hmap, [hm.REG_CTRL, hm.REG_CYCLES])
        if not status & busy:
            return True
        if limit_cycles is not None and cycles > limit_cycles:
            return False
        polls += 1
        if limit_cycles is None and polls >= IDLE_POLLS:
            raise UartHostError(f"the tile is still busy after {after or 'the request'} "
                                f"({polls} status polls, REG_CTRL {status:#x}); reset the board")
        yield "wait", POLL_SECONDS


def job_steps(hmap: HostMap, job, max_write: int = up.DEFAULT_MAX_WRITE) -> Steps:
    """CLEAR, the job's writes, START, wait, then the status, counters and the job's reads:
    the sequence of ``lpu.verif.tb_tile`` as frames. Returns a ``JobResult``."""
    info = yield from transact(hmap, up.encode_status(hmap))
    fields = info.fields
    if (fields["addr_bits"], fields["data_bits"]) != (hmap.addr_bits, hmap.data_bits):
        raise UartHostError(
            f"the board's tile has a {fields['addr_bits']}-bit address and {fields['data_bits']}-"
            f"bit words, the program's config {hmap.addr_bits} and {hmap.data_bits}: "
            "assemble for the board's config (lpu asm --config ...)")
    max_write = min(max_write, fields["max_write"])
    t0 = time.perf_counter()
    yield from write_words(hmap, [(hm.REG_CTRL, hm.CTRL_CLEAR)], max_write)
    yield from wait_idle(hmap, None, "CLEAR")
    yield from write_words(hmap, job.writes, max_write)
    load_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    yield from write_words(hmap, [(hm.REG_CTRL, hm.CTRL_START)], max_write)
    finished = yield from wait_idle(hmap, job.max_cycles)
    run_seconds = time.perf_counter() - t0
    if not finished:
        yield from write_words(hmap, [(hm.REG_CTRL, hm.CTRL_ABORT)], max_write)
        yield from wait_idle(hmap, None, "ABORT")
    nq = len(hmap.config.queues)
    regs = yield from read_words(
        hmap, [hm.REG_CTRL, hm.REG_CYCLES, hm.REG_FROZEN]
        + [hm.REG_ERROR + k for k in range(hmap.error_registers)]
        + [hm.REG_BUSY + i for i in range(nq)])
    status, cycles, frozen = regs[:3]
    errs = regs[3:3 + hmap.error_registers]
    t0 = time.perf_counter()
    words = yield from read_words(hmap, list(job.reads))
    error_bits = sum(w << (32 * k) for k, w in enumerate(errs))
    return JobResult(status, cycles, frozen, error_bits, regs[3 + hmap.error_registers:],
                     dict(zip(job.reads, words, strict=True)), not finished, run_seconds,
                     load_seconds, time.perf_counter() - t0, hmap.decode_errors(error_bits))


class SerialPort:
    """A serial device (or pseudo-terminal) in raw 8N1 mode at ``baud``, POSIX termios."""

    def __init__(self, path: str, baud: int = 115_200):
        import termios

        rate = getattr(termios, f"B{baud}", None)
        if rate is None:
            raise UartHostError(f"baud rate {baud} is not one termios knows")
        try:
            self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        except OSError as e:
            raise UartHostError(f"cannot open {path}: {e.strerror}") from None
        try:
            attrs = termios.tcgetattr(self.fd)
        except termios.error:
            os.close(self.fd)
            raise UartHostError(f"{path} is not a serial port or terminal") from None
        iflag, oflag, cflag, lflag = 0, 0, termios.CS8 | termios.CREAD | termios.CLOCAL, 0
        attrs[:6] = [iflag, oflag, cflag, lflag, rate, rate]
        attrs[6][termios.VMIN], attrs[6][termios.VTIME] = 0, 0
        termios.tcsetattr(self.fd, termios.TCSANOW, attrs)
        termios.tcflush(self.fd, termios.TCIOFLUSH)
        self.path = path

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]

    def read(self, n: int, timeout: float | None = None) -> bytes:
        """Up to ``n`` bytes; fewer when the line stays quiet for ``timeout`` seconds
        (default ``REPLY_TIMEOUT``)."""
        timeout = REPLY_TIMEOUT if timeout is None else timeout
        out = b""
        while len(out) < n:
            ready, _, _ = select.select([self.fd], [], [], timeout)
            if not ready:
                break
            chunk = os.read(self.fd, n - len(out))
            if not chunk:
                break
            out += chunk
        return out

    def close(self) -> None:
        os.close(self.fd)


def drive(steps: Steps, port: SerialPort):
    """Run a step generator on a serial port; return its result."""
    try:
        step = next(steps)
        while True:
            kind, arg = step
            if kind == "write":
                port.write(arg)
                step = steps.send(None)
            elif kind == "read":
                step = steps.send(port.read(arg))
            else:
                time.sleep(arg)
                step = steps.send(None)
    except StopIteration as stop:
        return stop.value
