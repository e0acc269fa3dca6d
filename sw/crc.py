"""The project's one CRC, CRC-16/CCITT-FALSE, as the Python reference (no Amaranth).

Polynomial 0x1021, initial value 0xFFFF, no reflection, no final XOR (``CRC16_CCITT_FALSE``
in ``amaranth.lib.crc.catalog``, which the RTL uses). The C2C link frame (``lpu.sw.c2c``) runs
it over ``link_bits``-bit words, the UART protocol (``lpu.sw.uartproto``) over bytes; either
way each word goes in most significant bit first. Check value: 0x29B1 for ``b"123456789"``.
"""

from __future__ import annotations

from collections.abc import Iterable

CRC_POLY = 0x1021
CRC_INIT = 0xFFFF
CRC_BITS = 16
CRC_CHECK = 0x29B1  # the CRC of b"123456789"

_MASK = (1 << CRC_BITS) - 1


def crc16_update(crc: int, word: int, width: int = 8) -> int:
    """``crc`` advanced over one ``width``-bit ``word``, most significant bit first."""
    for i in reversed(range(width)):
        feedback = ((crc >> (CRC_BITS - 1)) ^ (word >> i)) & 1
        crc = ((crc << 1) & _MASK) ^ (CRC_POLY if feedback else 0)
    return crc


def crc16(words: Iterable[int], width: int = 8, crc: int = CRC_INIT) -> int:
    """The CRC of ``words`` (``width`` bits each; bytes by default), starting from ``crc``."""
    for word in words:
        crc = crc16_update(crc, word, width)
    return crc
