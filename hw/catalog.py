"""Every RTL unit by name, built for one tile config: what ``lpu verilog``, the synthesis smoke
and the resource table iterate over."""

from __future__ import annotations

from ..sw.config import TileConfig


def unit_factories(config: TileConfig) -> dict:
    """Name -> zero-argument constructor of the unit's component for ``config``."""
    from ..sw.c2c import link_format
    from .bridge import UartBridge
    from .c2c import C2cPort
    from .c2c_link import LinkEnd
    from .decoder import Decoder
    from .hac import Hac
    from .icu import InstructionQueue
    from .mem import MemBank
    from .streams import StreamSegment
    from .sxm import Sxm

    units = {
        "decoder": lambda: Decoder(config, "VXM"),
        "icu": lambda: InstructionQueue(config, "MEM", 0),
        "mem_bank": lambda: MemBank(config, 0),
        "streams": lambda: StreamSegment(config, config.vxm_alus),
        "sxm": lambda: Sxm(config),
        "c2c_port": lambda: C2cPort(config),
        "hac": lambda: Hac(config.hac_epoch),
        "c2c_link_end": lambda: LinkEnd(link_format(config), config.hac_epoch),
        "uart_bridge": lambda: UartBridge(config, divisor=104),
    }
    try:
        from .mxm import Mxm

        units["mxm"] = lambda: Mxm(config)
    except ImportError:
        pass
    try:
        from .vxm import VxmAlu

        units["vxm_alu"] = lambda: VxmAlu(config)
    except ImportError:
        pass
    return units
