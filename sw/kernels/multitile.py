"""What every system kernel shares: the RUNTIME_DESKEW plan, stream diagonals, the deskew
queue, and the checks and assembly of a star of tiles (``docs/programming.md``, "Multi-tile
systems").

Timing rules a system kernel keeps across tiles:

* **RECV margin.** A vector SENT at sender schedule cycle s is RECVed at receiver schedule
  cycle r >= s + ``delivery_bound(cfg)`` + ``plan.margin``.
* **Link frames.** A link (each direction) takes one vector every
  ``link_format(cfg).frame_words`` schedule cycles.
* **RUNTIME_DESKEW.** With a worst-case clock offset P > 0 every tile issues
  ``RUNTIME_DESKEW plan.t`` at the same schedule cycles D, 2D, ... (``plan.period``) up to its
  last SEND or RECV, on a C2C queue that carries none of its links when it has one
  (``deskew_queue``); SENDs and RECVs on that queue skip those cycles (``is_deskew``).
* **Elastic buffer.** Vector j + ``LINK_BUFFER`` of a link is SENT no earlier than ``margin``
  cycles after vector j was RECVed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from ..c2c import LINK_BUFFER_VECTORS
from ..config import TileConfig
from ..isa import (
    BY_MNEMONIC,
    DIRECTION_NAMES,
    DTYPES,
    E,
    W,
    stream_dir,
    stream_index,
    stream_operand,
    stream_text,
    stream_width,
)
from ..system import SystemImage, star_links
from .builder import Builder, KernelError

DESKEW_T = 4  # freeze budget of one RUNTIME_DESKEW (cycles): sets the deskew period
DESKEW_CAP = 2000  # longest deskew period (schedule cycles)
LINK_BUFFER = LINK_BUFFER_VECTORS  # vectors a receiver's elastic buffer holds
MAX_TILES = 4


@dataclass(frozen=True)
class DeskewPlan:
    """How a program stays aligned under clocks up to ``ppm`` apart from the root's.

    ``period`` D: schedule cycles between RUNTIME_DESKEWs (None: none needed); ``t``: their
    operand; ``margin``: cycles a RECV waits beyond ``delivery_bound`` after its SEND."""

    ppm: float
    period: int | None
    t: int
    margin: int


def deskew_plan(ppm: float, cap: int = DESKEW_CAP, budget: int = DESKEW_T) -> DeskewPlan:
    """The RUNTIME_DESKEW period D, its operand t and the RECV margin for clocks that run at
    most ``ppm`` (frequency, parts per million) off the root's.

    * Drift rate: a tile P ppm slow counts rho = P / (1e6 - P) root (HAC) cycles more per own
      cycle (a fast one fewer), so over w wall cycles its HAC moves at most ceil(rho * w) away.
    * ``RUNTIME_DESKEW t`` freezes ``t - drift`` and stops the tile when the drift since the
      last deskew exceeds t. Between two deskews a tile runs D schedule cycles plus at most t
      frozen ones, so t must exceed that drift plus one count of HAC alignment:
      ``t >= ceil(rho * (D + t)) + 2``.
    * D is the largest period the freeze budget ``budget`` (4 cycles) allows,
      ``D = floor((budget - 2) / rho - budget)``, but at most ``cap`` (2000); then t is the
      smallest value that satisfies the inequality for that D. The freeze cost is about
      t / D, at most 2 rho (2 % at 1 %, 0.15 % at 100 ppm).
    * Between two deskews the longest wall stretch is below D + 2t (a fast tile freezes up to
      2t - 1), so two tiles, each within one HAC count of the root, are at most
      ``margin = ceil(2 * rho * (D + 2t)) + 2`` cycles apart: a RECV waits that long on top of
      ``delivery_bound`` after its SEND.
    * P = 0: no RUNTIME_DESKEW (period None, t 0) and margin 2 (the HACs' one count each).
    """
    if not isinstance(ppm, (int, float)) or ppm != ppm or not 0 <= ppm < 1e6:
        raise KernelError(f"--ppm is a worst-case clock offset from 0 to below 1e6, not {ppm}")
    p = Fraction(str(ppm))
    if p == 0:
        return DeskewPlan(float(ppm), None, 0, 2)
    rho = p / (10**6 - p)
    period = min(cap, math.floor((budget - 2) / rho - budget))
    if period < 1:
        raise KernelError(f"--ppm {ppm}: a RUNTIME_DESKEW of {budget} cycles cannot absorb "
                          "this drift")
    t = 3
    while t < math.ceil(rho * (period + t)) + 2:
        t += 1
    margin = math.ceil(2 * rho * (period + 2 * t)) + 2
    return DeskewPlan(float(ppm), period, t, margin)


def plan_text(plan: DeskewPlan) -> str:
    """The plan as a program note (``deskew: `` + this heads every generated tile program)."""
    if plan.period is None:
        return f"ppm {plan.ppm:g}: no RUNTIME_DESKEW; RECV margin {plan.margin}"
    return (f"ppm {plan.ppm:g}: RUNTIME_DESKEW {plan.t} every {plan.period} cycles; RECV "
            f"margin {plan.margin}")


def check_tiles(cfg: TileConfig, tiles: int, least: int = 1) -> list:
    """The star links of ``tiles`` tiles (``least`` to 4) on this config, or KernelError."""
    if isinstance(tiles, bool) or not isinstance(tiles, int) or not least <= tiles <= MAX_TILES:
        raise KernelError(f"--tiles must be {least} to {MAX_TILES}, not {tiles}")
    try:
        return star_links(tiles, cfg)
    except ValueError as e:
        raise KernelError(str(e)) from None


def check_ppm(cfg: TileConfig, ppm: float) -> None:
    """KernelError when ``ppm`` is more drift than one HAC trim per epoch tracks."""
    limit = 1e6 / cfg.hac_epoch
    if ppm >= limit:
        raise KernelError(f"--ppm {ppm:g} is more drift than the HAC tracks (one trim per "
                          f"{cfg.hac_epoch}-cycle epoch: below {limit:g} ppm)")


def deskew_queue(used: set[str]) -> str:
    """The C2C queue that issues the RUNTIME_DESKEWs: C2C_W unless it carries this tile's link."""
    return "C2C_E" if "C2C_W" in used and "C2C_E" not in used else "C2C_W"


def is_deskew(plan: DeskewPlan, t: int) -> bool:
    """True when schedule cycle ``t`` is one of the plan's RUNTIME_DESKEW cycles."""
    return plan.period is not None and t > 0 and t % plan.period == 0


def place_deskews(b: Builder, plan: DeskewPlan, queue: str, last: int) -> None:
    """RUNTIME_DESKEW t at every multiple of D before ``last`` (the tile's last SEND/RECV)."""
    if plan.period is None:
        return
    for c in range(plan.period, last, plan.period):
        b.put(queue, c, "RUNTIME_DESKEW", plan.t, comment="re-align to the root's clock")


# Stream bookkeeping: which stream diagonals the placed instructions use.

def _stream_value(text: str) -> int:
    return stream_operand(DIRECTION_NAMES.index(text[0]), int(text[1:]))


def op_writes(op) -> list[tuple[int, int, int]]:
    """(direction, stream, hold) of every stream register op loads; hold is the first cycle
    the value is in the register (issue + latency + 1)."""
    mnemonic, *suffixes = op.name.split(".")
    instr = BY_MNEMONIC[mnemonic]
    if not instr.writes:
        return []
    values = {f.name: DTYPES.index(sfx)
              for f, sfx in zip(instr.dtype_fields, suffixes, strict=True)}
    for f, arg in zip(instr.operand_fields, op.args, strict=True):
        values[f.name] = _stream_value(arg) if f.kind == "stream" else arg
    out = []
    for name, spec in instr.writes:
        v = values[name]
        for j in range(stream_width(instr, values, spec)):
            out.append((stream_dir(v), stream_index(v) + j, op.cycle + instr.latency + 1))
    return out


class Diagonals:
    """A value loaded into stream s at position p in cycle h is at position q in cycle
    h + |q - p|: one diagonal of (position, cycle). A diagonal no other instruction writes
    carries a value from its producer to its consumer untouched and touches nothing else."""

    def __init__(self, b: Builder):
        self.b = b
        self.used: set[tuple[int, int, int]] = set()
        touched = {E: set(), W: set()}
        for queue, ops in b.ops.items():
            p = b.cfg.queue_by_name[queue].slice.position
            for op in ops:
                for d, s, hold in op_writes(op):
                    self.used.add(self.key(d, s, hold, p))
                    touched[d].add(s)
        # Streams the builder's instructions never write first, then the others, high first.
        self.order = {d: sorted(range(b.cfg.streams), key=lambda s, d=d: (s in touched[d], -s))
                      for d in (E, W)}

    @staticmethod
    def key(d: int, s: int, hold: int, p: int) -> tuple[int, int, int]:
        return (d, s, hold - p if d == E else hold + p)

    def find(self, d: int, hold: int, p: int) -> int | None:
        """A stream whose diagonal through (p, hold) in direction d is free, or None."""
        for s in self.order[d]:
            if self.key(d, s, hold, p) not in self.used:
                return s
        return None

    def take(self, d: int, s: int, hold: int, p: int) -> str:
        self.used.add(self.key(d, s, hold, p))
        return stream_text(stream_operand(d, s))


def assemble_system(cfg: TileConfig, texts: list[str], symbols: dict, name: str):
    """A SystemImage of one assembled and scheduled program per tile (``name``.tileI.s) on
    the star of ``len(texts)`` tiles."""
    from ..asm import assemble_text
    from ..schedule import schedule
    programs = []
    for i, text in enumerate(texts):
        prog = assemble_text(f"{name}.tile{i}.s", text)
        programs.append(schedule(prog).image)
    return SystemImage(cfg, programs, star_links(len(texts), cfg), symbols, f"{name}.lpxs")
