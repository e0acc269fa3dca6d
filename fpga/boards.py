"""Board tops: the board core (tile + UART bridge) on a board's clock, UART pins and LEDs.

``BOARDS`` names each supported board, its amaranth-boards platform, the tile configuration
built for it and why that one (docs/fpga.md has the measurements behind each choice).
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth import ClockDomain, Elaboratable, Module
from amaranth.lib import io

from ..sw.config import TileConfig
from .core import BoardCore

BAUD = 115_200


@dataclass(frozen=True)
class Board:
    """A supported board: its platform, the tile built for it and the resources it has."""

    name: str
    device: str
    platform_class: str  # in amaranth_boards
    config_name: str  # a preset of lpu.sw.config
    family: str  # ice40 or ecp5
    capacity: tuple[tuple[str, int], ...]  # LUT, FF, DSP, BRAM of the device
    synth_opts: str = ""
    nextpnr_opts: str = ""
    tile_mhz: float | None = None  # the tile's clock from a PLL; None: the board's oscillator
    #: Pairs of clock domains a path may cross between (an asynchronous link clock and the tile
    #: clock, through synchronizers); none on a board whose tile has no connected C2C link.
    crossings: tuple[tuple[str, str], ...] = ()

    @property
    def config(self) -> TileConfig:
        return TileConfig.named(self.config_name)

    def platform(self):
        import importlib

        module, cls = self.platform_class.rsplit(".", 1)
        return getattr(importlib.import_module(f"amaranth_boards.{module}"), cls)()

    def oscillator_hz(self) -> float:
        return self.platform().default_clk_frequency

    def clock_hz(self) -> float:
        """The tile's clock."""
        return self.tile_mhz * 1e6 if self.tile_mhz else self.oscillator_hz()

    def clocks(self) -> dict[str, float]:
        """The clocks the board build constrains, in MHz: the tile's and, when a PLL makes the
        tile's, the oscillator feeding it (no flip-flop of the design runs on it)."""
        own = {"sync": self.clock_hz() / 1e6}
        return own | ({"oscillator": self.oscillator_hz() / 1e6} if self.tile_mhz else {})

    def divisor(self, baud: int = BAUD) -> int:
        return round(self.clock_hz() / baud)


BOARDS: dict[str, Board] = {
    "icebreaker": Board(
        name="icebreaker", device="iCE40UP5K-SG48", platform_class="icebreaker.ICEBreakerPlatform",
        config_name="icebreaker", family="ice40",
        capacity=(("LUT", 5280), ("FF", 5280), ("DSP", 8), ("BRAM", 30)),
        synth_opts="-dsp"),
    "ulx3s": Board(
        name="ulx3s", device="LFE5U-85F-6BG381C", platform_class="ulx3s.ULX3S_85F_Platform",
        config_name="ulx3s", family="ecp5",
        capacity=(("LUT", 83640), ("FF", 83640), ("DSP", 156), ("BRAM", 208)), tile_mhz=15.0,
        nextpnr_opts="--router router2 --placer static"),
}


def board_named(name: str) -> Board:
    try:
        return BOARDS[name]
    except KeyError:
        raise ValueError(f"unknown board {name!r}; boards: {', '.join(BOARDS)}") from None


class BoardTop(Elaboratable):
    """The board core on ``board``'s default clock and UART; LED 0 lights while the tile is
    busy, LED 1 once the bridge has rejected a frame."""

    def __init__(self, board: Board, baud: int = BAUD):
        self.board, self.baud = board, baud

    def elaborate(self, platform):
        m = Module()
        board = self.board
        if board.tile_mhz:
            from .clocks import Ecp5PllDomain

            if board.family != "ecp5":
                raise ValueError(f"{board.name}: a PLL tile clock is built for ECP5 boards only")
            m.domains.sync = sync = ClockDomain("sync")
            m.submodules.clock = Ecp5PllDomain(sync, platform.default_clk,
                                               board.oscillator_hz() / 1e6, board.tile_mhz)
        buffer = None
        if board.family == "ecp5":
            from .clocks import ecp5_global_buffer as buffer
        m.submodules.core = core = BoardCore(self.board.config, self.board.divisor(self.baud),
                                             global_buffer=buffer)
        uart = platform.request("uart", 0, dir="-")
        m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        m.d.comb += [core.rx.eq(rx.i), tx.o.eq(core.tx)]
        for i, value in enumerate((core.busy, core.bad_frames != 0)):
            m.submodules[f"led{i}"] = led = io.Buffer("o", platform.request("led", i, dir="-"))
            m.d.comb += led.o.eq(value)
        return m
