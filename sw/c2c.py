"""The C2C link frame, described once: kinds, layout and CRC (pure Python, no Amaranth).

A link carries ``link_bits``-bit words, one per cycle of the sending tile's clock, with a valid
bit. A frame is a fixed number of consecutive valid words:

* word 0, the header: the frame kind in the top 2 bits, the rest 0;
* ``payload_words`` words of payload, least significant word first: a DATA frame's vector
  (lane 0 in the low byte), an ALIGN or CONTROL frame's 32-bit value in the first word and
  zeros after;
* the CRC word: CRC-16/CCITT-FALSE (``lpu.sw.crc``) over the header and payload words, each
  fed most significant bit first, in the low 16 bits.

The receiver buffers up to ``LINK_BUFFER_VECTORS`` DATA vectors a RECV has not yet taken.

``hw/c2c_link.py`` builds the serializer and deserializer from these numbers, and the golden
model and the tests use ``frame_words`` and ``check_frame`` as the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

from .crc import CRC_BITS, crc16

__all__ = ["CRC_BITS", "KINDS", "KIND_BITS", "LINK_BUFFER_VECTORS", "FrameFormat", "crc16",
           "delivery_bound", "link_format"]

KINDS = ("DATA", "ALIGN", "CONTROL")
KIND_BITS = 2
#: DATA vectors a link receiver's elastic buffer holds (a power of two, at least 2).
LINK_BUFFER_VECTORS = 8


@dataclass(frozen=True)
class FrameFormat:
    """Frame layout for vectors of ``lanes`` bytes on a ``link_bits``-bit link."""

    lanes: int
    link_bits: int = 32

    def __post_init__(self):
        if self.link_bits not in (16, 32, 64):
            raise ValueError(f"link_bits must be 16, 32 or 64 (the CRC takes {CRC_BITS}), not "
                             f"{self.link_bits}")

    @property
    def payload_bits(self) -> int:
        return max(8 * self.lanes, 32)

    @property
    def payload_words(self) -> int:
        return -(-self.payload_bits // self.link_bits)

    @property
    def frame_words(self) -> int:
        """Words per frame: header, payload, CRC."""
        return self.payload_words + 2

    @property
    def efficiency(self) -> float:
        """Vector bits per link bit when frames are sent back to back."""
        return 8 * self.lanes / (self.frame_words * self.link_bits)

    def header(self, kind: str) -> int:
        return KINDS.index(kind) << (self.link_bits - KIND_BITS)

    def frame(self, kind: str, payload: int) -> list[int]:
        """The words of one frame (header, payload, CRC)."""
        mask = (1 << self.link_bits) - 1
        words = [self.header(kind)] + [(payload >> (self.link_bits * i)) & mask
                                       for i in range(self.payload_words)]
        return [*words, crc16(words, self.link_bits)]

    def check(self, words: list[int]) -> tuple[str, int] | None:
        """(kind, payload) of a received frame, or None when its CRC or header is wrong."""
        if len(words) != self.frame_words or crc16(words[:-1], self.link_bits) != words[-1]:
            return None
        kind = words[0] >> (self.link_bits - KIND_BITS)
        if kind >= len(KINDS) or words[0] & ((1 << (self.link_bits - KIND_BITS)) - 1):
            return None
        payload = sum(w << (self.link_bits * i) for i, w in enumerate(words[1:-1]))
        return KINDS[kind], payload


def link_format(config) -> FrameFormat:
    """The frame format of a tile's C2C links."""
    return FrameFormat(config.lanes, config.c2c_link_bits)


def delivery_bound(config) -> int:
    """Sender cycles from a SEND's issue to the first cycle a RECV on the partner surely finds
    the vector: an ALIGN frame already on the wire (F - 1), the frame itself (1 + F), the
    deserializer's check (1) and the elastic buffer's clock crossing (up to 4 receiver
    cycles). The golden model delivers this late, so a program it accepts runs on the RTL."""
    frame = link_format(config).frame_words
    return 2 * frame + 6
