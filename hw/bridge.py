"""The UART host bridge: frames of ``lpu.sw.uartproto`` on a UART, transfers on the host port.

One frame at a time: the bridge receives a request, checks it, performs it on the host port
and sends the reply; bytes that arrive while it performs or replies are dropped (the host
waits for each reply). A WRITE's payload goes into a byte buffer (``max_write * word_bytes``
bytes, one ``lib.memory.Memory``) and reaches the host port only after the CRC, the command,
the length and the address range have been checked, so a rejected frame never writes. Reads
stream: each word is read (``host_re``, the word taken the cycle after) when the transmitter
needs it, so READ lengths are bounded only by the address range.
"""

from __future__ import annotations

from functools import reduce

from amaranth import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from ..sw import uartproto as up
from ..sw.config import TileConfig
from ..sw.hostmap import HostMap
from .common import require_config
from .crc import ALGORITHM, crc_next
from .uart import UartRx, UartTx

#: Default timeout between two bytes of a frame, in byte times (10 bits each).
DEFAULT_TIMEOUT_BYTES = 1024


class UartBridge(wiring.Component):
    """UART to host-port bridge for the tile of ``config``.

    Parameters
    ----------
    config : TileConfig
        The tile behind the bridge; its ``HostMap`` gives every field width and address range.
    divisor : int
        Clock cycles per UART bit (``lpu.hw.uart``), at least 4.
    max_write : int
        The most words one WRITE frame may carry (the payload buffer), 1 .. 4096.
    timeout : int or None
        Cycles without a byte after which a started frame is rejected as TIMEOUT, and that the
        line must be quiet before a NAK goes out; at least ``20 * divisor``. None: 1024 byte
        times (about 89 ms at 115200 baud). A board top should keep it well above the gaps a
        USB-serial adapter leaves inside one write (milliseconds).

    Members
    -------
    rx : In(1)
        UART receive pin (idle high), asynchronous.
    tx : Out(1)
        UART transmit pin (idle high).
    host_addr : Out(addr_bits), host_wdata : Out(data_bits), host_we : Out(1), host_re : Out(1)
        Host-port master, the tile's members of the same names: one write or one read per cycle.
    host_rdata : In(data_bits)
        The word read, taken one cycle after ``host_re``.
    busy : In(1)
        The tile's ``busy``, reported in the STATUS flags.
    bad_frames : Out(16)
        Rejected frames, saturating (also in the STATUS reply).
    """

    def __init__(self, config: TileConfig, divisor: int, *, max_write: int = up.DEFAULT_MAX_WRITE,
                 timeout: int | None = None):
        require_config(config)
        if not isinstance(divisor, int) or isinstance(divisor, bool) or divisor < 4:
            raise ValueError(f"divisor must be an integer of at least 4, not {divisor!r}")
        if not isinstance(max_write, int) or not 1 <= max_write <= 4096:
            raise ValueError(f"max_write must be an integer 1..4096, not {max_write!r}")
        if timeout is None:
            timeout = DEFAULT_TIMEOUT_BYTES * 10 * divisor
        if not isinstance(timeout, int) or timeout < 20 * divisor:
            raise ValueError(f"timeout must be an integer of at least 20 * divisor = "
                             f"{20 * divisor} cycles, not {timeout!r}")
        self.config, self.divisor = config, divisor
        self.max_write, self.timeout = max_write, timeout
        self.map = HostMap(config)
        super().__init__({
            "rx": In(1, init=1),
            "tx": Out(1, init=1),
            "host_addr": Out(self.map.addr_bits),
            "host_wdata": Out(self.map.data_bits),
            "host_we": Out(1),
            "host_re": Out(1),
            "host_rdata": In(self.map.data_bits),
            "busy": In(1),
            "bad_frames": Out(up.COUNTER_BITS),
        })

    def elaborate(self, platform):
        m = Module()
        hmap = self.map
        A, W, H = up.addr_bytes(hmap), up.word_bytes(hmap), up.header_bytes(hmap)
        depth = self.max_write * W
        S = up.Status

        m.submodules.rx = rx = UartRx(self.divisor)
        m.submodules.tx = tx = UartTx(self.divisor)
        m.submodules.buf = buf = Memory(shape=unsigned(8), depth=depth, init=[])
        wp, rp = buf.write_port(), buf.read_port()
        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx)]

        # Frame fields: command, address and length bytes shift in at the top.
        hdr = Signal(8 * H)
        cmd, addr, length = hdr[:8], hdr[8:8 + 8 * A], hdr[8 + 8 * A:]
        n = Signal(range(max(H, up.STATUS_BYTES, up.CRC_BYTES)))  # byte of a header, CRC, info
        word = Signal(8 * A)  # word index of a transfer
        byte = Signal(exact_log2(W))  # byte index in a word (wraps at W)
        last_word, last_byte = Signal(), Signal()
        m.d.comb += [last_word.eq(word == length - 1), last_byte.eq(byte == W - 1)]
        sreg = Signal(hmap.data_bits)  # the word being written or sent
        crc, tcrc = Signal(ALGORITHM.crc_width), Signal(ALGORITHM.crc_width)
        status = Signal(8)
        m.d.comb += [self.host_addr.eq((addr + word)[:hmap.addr_bits]),
                     self.host_wdata.eq(sreg)]

        # Address ranges (uartproto.ranges): the whole transfer inside one range.
        end = Signal(8 * A + 1)
        m.d.comb += end.eq(addr + length)

        def inside(write):
            return reduce(lambda a, b: a | b,
                          [(end <= hi) if lo == 0 else (addr >= lo) & (end <= hi)
                           for lo, hi in up.ranges(hmap, write)])

        read_ok, write_ok = Signal(), Signal()
        m.d.comb += [read_ok.eq(inside(False)), write_ok.eq(inside(True))]

        # Line quiet: cycles since the last received byte, saturating at the timeout.
        timer = Signal(range(self.timeout + 1))
        quiet = Signal()
        m.d.comb += quiet.eq(timer == self.timeout)
        with m.If(rx.valid):
            m.d.sync += timer.eq(0)
        with m.Elif(~quiet):
            m.d.sync += timer.eq(timer + 1)

        # Counters, updated when a frame is accepted or rejected.
        frames = Signal(up.COUNTER_BITS)
        last_error = Signal(8)
        accept, reject = Signal(), Signal()
        reject_code = Signal(8)
        with m.If(accept):
            m.d.sync += [frames.eq(frames + 1), status.eq(S.OK)]
        with m.If(reject):
            m.d.sync += [status.eq(reject_code), last_error.eq(reject_code)]
            with m.If(~self.bad_frames.all()):
                m.d.sync += self.bad_frames.eq(self.bad_frames + 1)

        # STATUS payload, STATUS_FIELDS order.
        values = {"version": up.VERSION, "addr_bits": hmap.addr_bits,
                  "data_bits": hmap.data_bits, "max_write": self.max_write,
                  "flags": self.busy, "last_error": last_error, "frames": frames,
                  "bad_frames": self.bad_frames}
        parts = []
        for name, size in up.STATUS_FIELDS:
            value = values[name]
            if isinstance(value, int):
                parts.append(Const(value, 8 * size))
            else:
                field = Signal(8 * size, name=f"status_{name}")
                m.d.comb += field.eq(value)
                parts.append(field)
        info = Cat(*parts)
        assert len(info) == 8 * up.STATUS_BYTES

        # Received bytes: payload into the buffer, every byte after SYNC through the CRC.
        rx_crc = crc_next(crc, rx.data)
        m.d.comb += [wp.addr.eq(Cat(byte, word)), wp.data.eq(rx.data),
                     rp.addr.eq(Cat(byte, word))]
        tx_crc = crc_next(tcrc, tx.i_stream.payload)
        sent = Signal()
        m.d.comb += sent.eq(tx.i_stream.valid & tx.i_stream.ready)

        def timeout_check():
            with m.If(quiet):
                m.d.comb += [reject.eq(1), reject_code.eq(S.TIMEOUT)]
                m.next = "DRAIN"

        def send(value, crc=True):
            """Offer ``value`` to the transmitter; when it takes it, update the reply CRC."""
            m.d.comb += [tx.i_stream.payload.eq(value), tx.i_stream.valid.eq(1)]
            if crc:
                with m.If(sent):
                    m.d.sync += tcrc.eq(tx_crc)

        with m.FSM():
            with m.State("IDLE"), m.If(rx.valid & (rx.data == up.SYNC)):
                m.d.sync += [crc.eq(ALGORITHM.initial_crc), n.eq(0)]
                m.next = "HEADER"
            with m.State("HEADER"):
                with m.If(rx.valid):
                    m.d.sync += [crc.eq(rx_crc), hdr.eq(Cat(hdr[8:], rx.data)), n.eq(n + 1)]
                    with m.If(n == H - 1):
                        m.d.sync += n.eq(0)
                        m.next = "DECODE"
                with m.Else():
                    timeout_check()
            with m.State("DECODE"):
                m.d.sync += [word.eq(0), byte.eq(0)]
                with m.If((cmd == up.Command.WRITE) & (length != 0)):
                    m.next = "PAYLOAD"
                with m.Else():
                    m.next = "CRC"
            with m.State("PAYLOAD"):
                with m.If(rx.valid):
                    m.d.comb += wp.en.eq(word < self.max_write)
                    m.d.sync += [crc.eq(rx_crc), byte.eq(byte + 1)]
                    with m.If(last_byte):
                        m.d.sync += word.eq(word + 1)
                        with m.If(last_word):
                            m.next = "CRC"
                with m.Else():
                    timeout_check()
            with m.State("CRC"):
                with m.If(rx.valid):
                    m.d.sync += [crc.eq(rx_crc), n.eq(n + 1)]
                    with m.If(n == up.CRC_BYTES - 1):
                        m.d.sync += n.eq(0)
                        m.next = "CHECK"
                with m.Else():
                    timeout_check()

            # Check the frame in uartproto's order; accept or reject it.
            with m.State("CHECK"):
                known = reduce(lambda a, b: a | b, [cmd == c for c in up.Command])
                is_write, is_read = cmd == up.Command.WRITE, cmd == up.Command.READ
                with m.If(crc != 0):
                    m.d.comb += reject_code.eq(S.BAD_CHECKSUM)
                with m.Elif(~known):
                    m.d.comb += reject_code.eq(S.BAD_COMMAND)
                with m.Elif((is_write | is_read) &
                            ((length == 0) | (is_write & (length > self.max_write)))):
                    m.d.comb += reject_code.eq(S.BAD_LENGTH)
                with m.Elif((is_write & ~write_ok) | (is_read & ~read_ok)):
                    m.d.comb += reject_code.eq(S.BAD_ADDRESS)
                with m.If(reject_code != S.OK):
                    m.d.comb += reject.eq(1)
                    m.next = "DRAIN"
                with m.Else():
                    m.d.comb += accept.eq(1)
                    m.d.sync += [word.eq(0), byte.eq(0)]
                    with m.If(is_write):
                        m.next = "COMMIT_WAIT"
                    with m.Else():
                        m.next = "REPLY_SYNC"
            with m.State("DRAIN"), m.If(quiet):
                m.next = "REPLY_SYNC"

            # Write the buffered words: two cycles per byte (buffer read latency), one to write.
            with m.State("COMMIT_WAIT"):
                m.next = "COMMIT_SHIFT"
            with m.State("COMMIT_SHIFT"):
                m.d.sync += [sreg.eq(Cat(sreg[8:], rp.data)), byte.eq(byte + 1)]
                with m.If(last_byte):
                    m.next = "COMMIT_WRITE"
                with m.Else():
                    m.next = "COMMIT_WAIT"
            with m.State("COMMIT_WRITE"):
                m.d.comb += self.host_we.eq(1)
                m.d.sync += word.eq(word + 1)
                with m.If(last_word):
                    m.next = "REPLY_SYNC"
                with m.Else():
                    m.next = "COMMIT_WAIT"

            # Reply: sync, status, payload, CRC.
            with m.State("REPLY_SYNC"):
                send(up.REPLY_SYNC, crc=False)
                with m.If(sent):
                    m.d.sync += [tcrc.eq(ALGORITHM.initial_crc), n.eq(0), word.eq(0), byte.eq(0)]
                    m.next = "REPLY_STATUS"
            with m.State("REPLY_STATUS"):
                send(status)
                with m.If(sent):
                    with m.If((status == S.OK) & (cmd == up.Command.READ)):
                        m.next = "READ_ISSUE"
                    with m.Elif((status == S.OK) & (cmd == up.Command.STATUS)):
                        m.next = "REPLY_INFO"
                    with m.Else():
                        m.next = "REPLY_CRC"
            with m.State("READ_ISSUE"):
                m.d.comb += self.host_re.eq(1)
                m.next = "READ_TAKE"
            with m.State("READ_TAKE"):
                m.d.sync += sreg.eq(self.host_rdata)
                m.next = "READ_SEND"
            with m.State("READ_SEND"):
                send(sreg[:8])
                with m.If(sent):
                    m.d.sync += [sreg.eq(sreg >> 8), byte.eq(byte + 1)]
                    with m.If(last_byte):
                        m.d.sync += word.eq(word + 1)
                        with m.If(last_word):
                            m.next = "REPLY_CRC"
                        with m.Else():
                            m.next = "READ_ISSUE"
            with m.State("REPLY_INFO"):
                send(info.word_select(n, 8))
                with m.If(sent):
                    m.d.sync += n.eq(n + 1)
                    with m.If(n == up.STATUS_BYTES - 1):
                        m.d.sync += n.eq(0)
                        m.next = "REPLY_CRC"
            with m.State("REPLY_CRC"):
                send(Mux(n == 0, tcrc[8:], tcrc[:8]), crc=False)
                with m.If(sent):
                    m.d.sync += n.eq(n + 1)
                    with m.If(n == up.CRC_BYTES - 1):
                        m.next = "IDLE"
        return m

