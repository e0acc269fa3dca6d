"""The one tile configuration: every count in the project comes from here.

The floorplan is a single row of functional slices, west to east::

    C2C_W | MXM_W | SXM_W | MEM_W{M-1} .. MEM_W0 | VXM | MEM_E0 .. MEM_E{M-1} | SXM_E | MXM_E | C2C_E

MEM slices are numbered outward from the VXM, so the two hemispheres mirror each other.
Each slice owns one instruction queue, except the MEM (one queue per bank, ``MEM_W0.0`` and
``MEM_W0.1``, so a slice reads or writes both banks in one cycle), the VXM (one queue per ALU,
``VXM.0`` ..) and the MXM (``MXM_W.WGT`` loads weights, ``MXM_W.ACT`` installs them and feeds
activations), so weight loading overlaps compute. A tile with ``c2c_links`` = 0 has no C2C
slices at the ends; it counts its own HAC and cannot be part of a multi-tile system.

Smaller floorplans for small FPGAs drop whole slices: ``hemispheres`` = 1 keeps only the east
side (``MEM_E0`` .. ``SXM_E | MXM_E | C2C_E``), ``vxm_alus`` = 0 drops the VXM and
``sxm_slices`` = 0 the SXMs. Slice names never change, so a program written for the full row
runs unchanged on any floorplan that has the slices it names.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from functools import cached_property

from .isa import DTYPE_INFO, UNIT_CLASSES  # noqa: F401  (UNIT_CLASSES: re-exported)

#: Counts that may be 0, each dropping its slices: no C2C (the tile works alone), no VXM, no SXM.
MAY_BE_ZERO = ("c2c_links", "vxm_alus", "sxm_slices")

#: Byte width of each data type (lpu.sw.isa.DTYPE_INFO).
DTYPE_BYTES = {name: t.bytes for name, t in DTYPE_INFO.items()}


@dataclass(frozen=True)
class Slice:
    """A functional slice: its name, unit kind and position on the stream row."""

    name: str
    kind: str
    position: int


@dataclass(frozen=True)
class Queue:
    """An instruction queue: its name, the slice it issues to, its unit class and, for a MEM
    queue, the bank it serves."""

    name: str
    slice: Slice
    unit: str
    bank: int | None = None


@dataclass(frozen=True)
class TileConfig:
    """Parameters of one tile. Defaults are the reference tile of ``docs/architecture.md``."""

    lanes: int = 16
    streams: int = 8
    mem_slices: int = 2
    mem_banks: int = 2
    mem_words: int = 4096
    vxm_alus: int = 4
    mxm_accumulators: int = 4
    mxm_act_slots: int = 64
    sxm_maps: int = 8
    queue_words: int = 4096
    c2c_links: int = 1
    c2c_link_bits: int = 32
    hac_epoch: int = 256
    hemispheres: int = 2
    sxm_slices: int = 1

    def __post_init__(self):
        def need(cond, msg):
            if not cond:
                raise ValueError(msg)

        for f in fields(self):
            v = getattr(self, f.name)
            least = 0 if f.name in MAY_BE_ZERO else 1
            need(isinstance(v, int) and not isinstance(v, bool) and v >= least,
                 f"{f.name} must be {'a non-negative' if least == 0 else 'a positive'} "
                 f"integer, not {v!r}")
        need(self.lanes in (2, 4, 8, 16, 32, 64),
             f"lanes must be 2, 4, 8, 16, 32 or 64, not {self.lanes}")
        need(self.streams % 4 == 0 and self.streams <= 32,
             f"streams must be a multiple of 4 up to 32, not {self.streams}")
        need(self.mem_slices <= 16, f"mem_slices must be at most 16, not {self.mem_slices}")
        need(self.mem_banks == 2, f"mem_banks must be 2, not {self.mem_banks}")
        need(self.mem_words & (self.mem_words - 1) == 0 and self.mem_banks * self.mem_words <= 65536,
             f"mem_words must be a power of two with banks x words <= 65536, not {self.mem_words}")
        need(self.vxm_alus <= 8, f"vxm_alus must be at most 8, not {self.vxm_alus}")
        need(self.mxm_accumulators <= 4,
             f"mxm_accumulators must be at most 4, not {self.mxm_accumulators}")
        need(self.mxm_act_slots <= 64,
             f"mxm_act_slots must be at most 64, not {self.mxm_act_slots}")
        need(self.sxm_maps <= 16, f"sxm_maps must be at most 16, not {self.sxm_maps}")
        need(self.c2c_links <= 4, f"c2c_links must be at most 4, not {self.c2c_links}")
        need(self.c2c_link_bits in (16, 32, 64),
             f"c2c_link_bits must be 16, 32 or 64, not {self.c2c_link_bits}")
        need(self.hac_epoch & (self.hac_epoch - 1) == 0 and 16 <= self.hac_epoch <= 4096,
             f"hac_epoch must be a power of two from 16 to 4096, not {self.hac_epoch}")
        need(self.queue_words <= 65536, f"queue_words must be at most 65536, not {self.queue_words}")
        need(self.hemispheres <= 2,
             f"hemispheres must be 2, or 1 for the east side only, not {self.hemispheres}")
        need(self.sxm_slices <= 1,
             f"sxm_slices (per hemisphere) must be 1, or 0 for none, not {self.sxm_slices}")

    @classmethod
    def named(cls, name: str) -> TileConfig:
        """Return a preset by name (see ``PRESETS``)."""
        try:
            return PRESETS[name]
        except KeyError:
            raise ValueError(f"unknown config {name!r}; presets: {', '.join(PRESETS)}") from None

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def directive(self) -> str:
        """The ``.config`` line of an assembly source that gives this tile, every count
        spelled out."""
        return ".config " + " ".join(f"{k}={v}" for k, v in self.as_dict().items())

    @property
    def addresses(self) -> int:
        """Word addresses per MEM slice; bank = address // mem_words."""
        return self.mem_banks * self.mem_words

    @cached_property
    def slices(self) -> tuple[Slice, ...]:
        def side(h: str) -> list[str]:
            """One hemisphere, outward from the VXM."""
            return ([f"MEM_{h}{i}" for i in range(self.mem_slices)] + ["SXM_" + h] * self.sxm_slices
                    + ["MXM_" + h] + ["C2C_" + h] * bool(self.c2c_links))

        west = side("W")[::-1] if self.hemispheres == 2 else []
        names = west + ["VXM"] * bool(self.vxm_alus) + side("E")
        return tuple(Slice(n, n.split("_")[0], p) for p, n in enumerate(names))

    @cached_property
    def queues(self) -> tuple[Queue, ...]:
        out = []
        for s in self.slices:
            if s.kind == "VXM":
                out += [Queue(f"VXM.{i}", s, "VXM") for i in range(self.vxm_alus)]
            elif s.kind == "MEM":
                out += [Queue(f"{s.name}.{b}", s, "MEM", b) for b in range(self.mem_banks)]
            elif s.kind == "MXM":
                out += [Queue(f"{s.name}.WGT", s, "MXM_WGT"), Queue(f"{s.name}.ACT", s, "MXM_ACT")]
            else:
                out.append(Queue(s.name, s, s.kind))
        return tuple(out)

    @cached_property
    def queue_by_name(self) -> dict[str, Queue]:
        return {q.name: q for q in self.queues}

    @cached_property
    def slice_by_name(self) -> dict[str, Slice]:
        return {s.name: s for s in self.slices}

    @property
    def positions(self) -> int:
        return len(self.slices)


PRESETS: dict[str, TileConfig] = {
    "default": TileConfig(),
    "small": TileConfig(lanes=8, streams=8, mem_slices=2, mem_words=256, vxm_alus=3,
                        mxm_act_slots=16, queue_words=1024, c2c_links=2, hac_epoch=64),
    "tiny": TileConfig(lanes=4, streams=4, mem_slices=1, mem_words=128, vxm_alus=1,
                       mxm_accumulators=2, mxm_act_slots=8, sxm_maps=2, queue_words=256),
    # The ULX3S (ECP5-85F) board tile: 4 lanes and the 8 streams the GEMV kernel needs,
    # memories sized for block RAM; docs/fpga.md has why (and why not one MEM slice per side).
    "ulx3s": TileConfig(lanes=4, streams=8, mem_slices=2, mem_words=1024, vxm_alus=1,
                        mxm_accumulators=2, mxm_act_slots=8, sxm_maps=2, queue_words=1024),
    # The iCEBreaker (iCE40UP5K) board tile: one MEM slice and the east MXM, 2 lanes, the
    # 4 streams its GEMV needs; no VXM, SXM or C2C fits beside them. docs/fpga.md has why.
    "icebreaker": TileConfig(lanes=2, streams=4, mem_slices=1, mem_words=512, vxm_alus=0,
                             mxm_accumulators=2, mxm_act_slots=32, queue_words=512,
                             c2c_links=0, hemispheres=1, sxm_slices=0),
}
