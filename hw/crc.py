"""The project's CRC in the RTL: ``amaranth.lib.crc``'s CRC-16/CCITT-FALSE.

The C2C link's framer and checker use the library's registered ``Processor`` (``processor``);
the UART bridge, whose state machine advances its CRCs from several states, uses the same
update as a combinational function (``crc_next``). ``lpu.sw.crc`` is the Python reference;
``tests/test_hw_crc.py`` checks the three agree.
"""

from __future__ import annotations

from functools import reduce
from operator import xor

from amaranth import Cat, Const, Value
from amaranth.lib.crc import Algorithm, Processor
from amaranth.lib.crc.catalog import CRC16_CCITT_FALSE

__all__ = ["ALGORITHM", "crc_next", "processor"]

ALGORITHM = CRC16_CCITT_FALSE


def processor(data_width: int) -> Processor:
    """A registered CRC of ``data_width``-bit words: ``start`` restarts it, ``valid`` takes
    ``data`` (most significant bit first), ``crc`` is the CRC of the words taken so far."""
    return ALGORITHM(data_width).create()


def _advance(crc: int, word: int, width: int) -> int:
    """``ALGORITHM``'s CRC register after ``word`` when it held ``crc`` (no output transform)."""
    step = Algorithm(crc_width=ALGORITHM.crc_width, polynomial=ALGORITHM.polynomial,
                     initial_crc=crc, reflect_input=ALGORITHM.reflect_input,
                     reflect_output=False, xor_output=0)
    return step(width).compute([word])


def crc_next(crc: Value, word: Value) -> Value:
    """``crc`` advanced over ``word`` (its whole width) as one XOR tree per bit.

    The update is linear in the register and the word, so bit ``j`` of the result is the XOR
    of the register bits and word bits whose unit vectors alone set bit ``j``."""
    width, bits = len(word), ALGORITHM.crc_width
    out = []
    for j in range(bits):
        terms = [crc[k] for k in range(bits) if _advance(1 << k, 0, width) >> j & 1]
        terms += [word[k] for k in range(width) if _advance(0, 1 << k, width) >> j & 1]
        out.append(reduce(xor, terms, Const(0, 1)))
    return Cat(*out)
