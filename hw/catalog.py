"""Every RTL unit by name, built for one tile config: what ``lpu verilog``, the synthesis smoke
and the resource table iterate over."""

from __future__ import annotations

from ..sw.config import TileConfig


def unit_factories(config: TileConfig) -> dict:
    """Name -> zero-argument constructor of the unit's component for ``config``: the units its
    floorplan has (the tile's own HAC counter without links is no unit)."""
    from ..sw.c2c import link_format
    from .bridge import UartBridge
    from .c2c import C2cPort
    from .c2c_link import LinkEnd
    from .decoder import Decoder
    from .hac import Hac
    from .icu import InstructionQueue
    from .mem import MemBank
    from .mxm import Mxm
    from .streams import StreamSegment
    from .sxm import Sxm
    from .vxm import VxmAlu

    kinds = {s.kind for s in config.slices}
    writers = config.vxm_alus if "VXM" in kinds else config.mem_banks  # the busiest segment
    units = {
        "decoder": lambda: Decoder(config, "VXM") if "VXM" in kinds else Decoder(config, "MEM", 0),
        "icu": lambda: InstructionQueue(config, "MEM", 0),
        "mem_bank": lambda: MemBank(config, 0),
        "streams": lambda: StreamSegment(config, writers),
    }
    if "SXM" in kinds:
        units["sxm"] = lambda: Sxm(config)
    if "C2C" in kinds:
        units |= {"c2c_port": lambda: C2cPort(config),
                  "hac": lambda: Hac(config.hac_epoch),
                  "c2c_link_end": lambda: LinkEnd(link_format(config), config.hac_epoch)}
    units["uart_bridge"] = lambda: UartBridge(config, divisor=104)
    units["mxm"] = lambda: Mxm(config)
    if "VXM" in kinds:
        units["vxm_alu"] = lambda: VxmAlu(config)
    return units
