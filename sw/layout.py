"""Rules a program's names and MEM layout obey, shared by the assembler and the image readers.

The assembler refuses a source that breaks one of them, and the ``.lpx`` reader refuses an
image that does, so every image the reader accepts is one the assembler can write. The limits
are the widths of the image fields that hold the counts (``sw/image.py``).
"""

from __future__ import annotations

import bisect
import re

from .config import TileConfig

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
MAX_NAME_BYTES = 255  # u8 name length
MAX_RANK = 255  # u8 rank
MAX_PLACEMENTS = 255  # u8 placement count
MAX_SYMBOLS = 65535  # u16 symbol count


def name_problem(name: str, what: str = "symbol") -> str | None:
    """Why ``name`` cannot name a symbol (not an ASCII identifier, too long), or None."""
    if not IDENTIFIER.match(name):
        return f"bad {what} name {name!r}: a name is a letter or '_', then letters, digits, '_'"
    if len(name) > MAX_NAME_BYTES:
        return f"{what} name is {len(name)} characters long; at most {MAX_NAME_BYTES}"
    return None


def bank_problem(cfg: TileConfig, queue: str, f, value: int) -> str | None:
    """A MEM queue serves one bank: an address in the other bank is an error."""
    bank = cfg.queue_by_name[queue].bank
    if f.kind != "addr" or bank is None or value >= cfg.addresses or \
            value // cfg.mem_words == bank:
        return None  # past the last address: the range check reports it
    return (f"address {value:#x} is in bank {value // cfg.mem_words}; queue {queue} serves bank "
            f"{bank} ({bank * cfg.mem_words:#x}..{(bank + 1) * cfg.mem_words - 1:#x})")


def placement_problem(cfg: TileConfig, slice_name: str, base: int, words: int) -> str | None:
    """Why ``words`` words from ``base`` in ``slice_name`` are not a MEM placement, or None."""
    slc = cfg.slice_by_name.get(slice_name)
    if slc is None or slc.kind != "MEM":
        mems = [s.name for s in cfg.slices if s.kind == "MEM"]
        return f"{slice_name!r} is not a MEM slice of this tile ({', '.join(mems)})"
    if not 0 <= base < cfg.addresses:
        return f"address {base:#x} is not in 0..{cfg.addresses - 1:#x}"
    if base + words > cfg.addresses:
        return (f"words {base:#x}..{base + words - 1:#x} run past the last address "
                f"{cfg.addresses - 1:#x}")
    return None


class MemMap:
    """The MEM words every symbol placement takes, per slice, for overlap checks in
    O(log n) per placement."""

    def __init__(self):
        self.starts: dict[str, list[int]] = {}
        self.spans: dict[str, list[tuple[int, int, str]]] = {}

    def overlap(self, slice_name: str, base: int, end: int) -> tuple[int, int, str] | None:
        """A claimed (base, end, owner) that shares a word with ``base..end - 1``, or None."""
        if end <= base:
            return None
        starts, spans = self.starts.get(slice_name, []), self.spans.get(slice_name, [])
        k = bisect.bisect_left(starts, end)
        if k and spans[k - 1][1] > base:
            return spans[k - 1]
        return None

    def claim(self, slice_name: str, base: int, end: int, owner: str) -> None:
        """Record ``base..end - 1`` as ``owner``'s (the caller checked ``overlap``)."""
        if end <= base:
            return
        starts = self.starts.setdefault(slice_name, [])
        k = bisect.bisect_left(starts, base)
        starts.insert(k, base)
        self.spans.setdefault(slice_name, []).insert(k, (base, end, owner))

    def symbol_problem(self, sym, lanes: int, where=None) -> str | None:
        """Claim every placement of ``sym``; describe the first overlap instead, if any
        (``where(name)``: where the other symbol is defined, for the message)."""
        spans = [(sl, base, base + sym.words_in(i, lanes))
                 for i, (sl, base) in enumerate(sym.placements)]
        for i, (sl, base, end) in enumerate(spans):
            hit = self.overlap(sl, base, end)
            mine = next(((b, e) for s, b, e in spans[:i] if s == sl and b < end and base < e),
                        None)
            if hit is None and mine is None:
                continue
            what = "itself" if mine is not None else hit[2]
            ob, oe = mine if mine is not None else hit[:2]
            at = f", defined at {where(what)}" if where and mine is None else ""
            return (f"{sym.name} ({sl} words {base:#x}..{end - 1:#x}) overlaps {what} "
                    f"(words {ob:#x}..{oe - 1:#x}{at})")
        for sl, base, end in spans:
            self.claim(sl, base, end, sym.name)
        return None
