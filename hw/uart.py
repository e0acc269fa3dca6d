"""UART receiver and transmitter: 8 data bits, no parity, 1 stop bit (8N1), LSB first.

The bit time is ``divisor`` clock cycles (``divisor = f_clk / baud``, rounded; at least 4). A
byte takes ``10 * divisor`` cycles on the wire. The receiver passes the pin through a two-stage
synchronizer, waits half a bit after the falling edge of the start bit, checks the start bit
is still low (else it was a glitch), then samples each data bit and the stop bit in its middle,
one bit time apart. A byte whose stop bit is low (a framing error, or a break) is not delivered:
``error`` pulses and the receiver waits for the line to go high again.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

MIN_DIVISOR = 4


def _check_divisor(divisor) -> int:
    if not isinstance(divisor, int) or isinstance(divisor, bool) or divisor < MIN_DIVISOR:
        raise ValueError(f"divisor must be an integer of at least {MIN_DIVISOR} (clock cycles per "
                         f"bit), not {divisor!r}")
    return divisor


class UartRx(wiring.Component):
    """UART receiver.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, at least 4.

    Members
    -------
    rx : In(1)
        The pin (idle high); asynchronous to the clock.
    data : Out(8), valid : Out(1)
        A received byte, ``valid`` for one cycle (the cycle of the stop bit's middle sample).
        There is no back-pressure: the next byte comes at least 9.5 bit times later.
    error : Out(1)
        One cycle: a byte arrived with a low stop bit and was dropped.
    """

    def __init__(self, divisor: int):
        self.divisor = _check_divisor(divisor)
        super().__init__({
            "rx": In(1, init=1),
            "data": Out(8),
            "valid": Out(1),
            "error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        d = self.divisor

        # Synchronize the pin.
        rx = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, rx, init=1)

        # Count bit times; sample in the middle of each bit.
        timer = Signal(range(d))
        bit = Signal(range(8))
        shreg = Signal(8)
        tick = Signal()
        m.d.comb += tick.eq(timer == 0)
        m.d.sync += timer.eq(timer - 1)
        m.d.comb += self.data.eq(shreg)
        with m.FSM():
            with m.State("IDLE"), m.If(~rx):
                m.d.sync += timer.eq(d // 2 - 1)
                m.next = "START"
            with m.State("START"), m.If(tick):
                m.d.sync += [timer.eq(d - 1), bit.eq(0)]
                with m.If(rx):
                    m.next = "IDLE"  # a glitch, not a start bit
                with m.Else():
                    m.next = "DATA"
            with m.State("DATA"), m.If(tick):
                m.d.sync += [timer.eq(d - 1), shreg.eq(Cat(shreg[1:], rx)), bit.eq(bit + 1)]
                with m.If(bit == 7):
                    m.next = "STOP"
            with m.State("STOP"), m.If(tick):
                with m.If(rx):
                    m.d.comb += self.valid.eq(1)
                    m.next = "IDLE"
                with m.Else():
                    m.d.comb += self.error.eq(1)
                    m.next = "BREAK"
            with m.State("BREAK"), m.If(rx):
                m.next = "IDLE"
        return m


class UartTx(wiring.Component):
    """UART transmitter.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, at least 4.

    Members
    -------
    i_stream : In(stream.Signature(8))
        Bytes to send; ``ready`` while the line is idle (a byte every ``10 * divisor`` cycles
        at most, back to back).
    tx : Out(1)
        The pin (idle high), driven from a register.
    """

    def __init__(self, divisor: int):
        self.divisor = _check_divisor(divisor)
        super().__init__({
            "i_stream": In(stream.Signature(8)),
            "tx": Out(1, init=1),
        })

    def elaborate(self, platform):
        m = Module()
        d = self.divisor

        # Shift out start bit, data bits and stop bit; the register idles at ones.
        shreg = Signal(10, init=0x3FF)
        left = Signal(range(11))
        timer = Signal(range(d))
        m.d.comb += [self.tx.eq(shreg[0]), self.i_stream.ready.eq(left == 0)]
        load = Signal()
        m.d.comb += load.eq(self.i_stream.valid & self.i_stream.ready)
        with m.If(load):
            m.d.sync += [shreg.eq(Cat(Const(0, 1), self.i_stream.payload, Const(1, 1))),
                         left.eq(10), timer.eq(d - 1)]
        with m.Elif(left != 0):
            with m.If(timer == 0):
                m.d.sync += [shreg.eq(Cat(shreg[1:], Const(1, 1))), left.eq(left - 1),
                             timer.eq(d - 1)]
            with m.Else():
                m.d.sync += timer.eq(timer - 1)
        return m
