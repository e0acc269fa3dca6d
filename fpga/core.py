"""The board core: one tile behind the UART host bridge, with nothing board-specific.

Every board top (``lpu.fpga.boards``) wraps this component, and the cocotb test of the bridge
and tile (``lpu.verif.tb_uart``) simulates exactly it, so the frames a host sends to a board
meet the same logic as in simulation.
"""

from __future__ import annotations

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..hw.bridge import UartBridge
from ..hw.common import require_config
from ..hw.tile import Tile
from ..sw import uartproto as up
from ..sw.config import TileConfig


class BoardCore(wiring.Component):
    """The tile of ``config`` with a ``UartBridge`` on its host port.

    Parameters
    ----------
    config : TileConfig
        The tile.
    divisor : int
        Clock cycles per UART bit (clock frequency / baud rate), at least 4.
    timeout : int or None
        The bridge's inter-byte timeout in cycles (``UartBridge``).
    global_buffer : callable or None
        Passed to the ``Tile``: puts its control nets on the device's clock network.

    Members
    -------
    rx : In(1)
        UART receive pin (idle high).
    tx : Out(1)
        UART transmit pin (idle high).
    busy : Out(1)
        The tile's ``busy`` (a program runs or the memories are cleared), for an LED.
    bad_frames : Out(16)
        The bridge's count of rejected frames, for an LED.
    """

    def __init__(self, config: TileConfig, divisor: int, *, timeout: int | None = None,
                 global_buffer=None):
        require_config(config)
        self.tile = Tile(config, global_buffer=global_buffer)
        self.bridge = UartBridge(config, divisor, timeout=timeout)  # checks its arguments
        self.config = config
        super().__init__({
            "rx": In(1, init=1),
            "tx": Out(1, init=1),
            "busy": Out(1),
            "bad_frames": Out(up.COUNTER_BITS),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.tile = tile = self.tile
        m.submodules.bridge = bridge = self.bridge
        m.d.comb += [
            bridge.rx.eq(self.rx), self.tx.eq(bridge.tx),
            tile.host_addr.eq(bridge.host_addr), tile.host_wdata.eq(bridge.host_wdata),
            tile.host_we.eq(bridge.host_we), tile.host_re.eq(bridge.host_re),
            bridge.host_rdata.eq(tile.host_rdata), bridge.busy.eq(tile.busy),
            self.busy.eq(tile.busy), self.bad_frames.eq(bridge.bad_frames),
        ]
        return m
