"""Bit-level plumbing the unit testbenches share: numpy and the Amaranth layouts, no cocotb.

The flat integers on the Verilog ports (and on ``as_value()`` in the Amaranth simulator) follow
``lpu.hw.common``: ``issue_layout()`` for an ``issue`` port, ``streams_layout(config)`` for the
streams of one direction and ``both_directions(config)`` for ``s_in``/``s_out``. Every bit
position here is read from those layouts, never written down by hand.

* ``IssueBits``: valid, opcode and ISA field values <-> the ``issue`` integer.
* ``StreamBits``: data ``(2, streams, lanes)`` uint8 and valid ``(2, streams)`` bool <-> the
  both-directions integer (``pack_dir``/``unpack_dir`` for one direction).
* ``vector_bits``/``bits_vector``: one vector of ``lanes`` bytes, lane 0 in the low byte.
* ``as_int``: a cocotb handle's value as an unsigned int; ``config_from_env``/``env_int``.
"""

from __future__ import annotations

import json
import os

import numpy as np
from amaranth.hdl import Shape

from lpu.hw.common import both_directions, issue_layout, streams_layout
from lpu.sw.config import TileConfig
from lpu.sw.isa import E, W


def _mask(width: int) -> int:
    return (1 << width) - 1


def vector_bits(vec: np.ndarray) -> int:
    """Bytes (any shape, C order) to the flat integer of nested byte ArrayLayouts."""
    return int.from_bytes(np.ascontiguousarray(vec, np.uint8).tobytes(), "little")


def bits_vector(word: int, nbytes: int) -> np.ndarray:
    """The low ``nbytes`` bytes of ``word`` as a uint8 array, byte 0 first."""
    return np.frombuffer((word & _mask(8 * nbytes)).to_bytes(nbytes, "little"), np.uint8)


def mask_bits(flags) -> int:
    """A bool sequence to an integer, element i in bit i."""
    return sum(1 << int(i) for i in np.flatnonzero(np.asarray(flags)))


def bits_mask(word: int, n: int) -> np.ndarray:
    """Bits 0 .. n-1 of ``word`` as a bool array."""
    return np.array([(word >> i) & 1 for i in range(n)], bool)


class IssueBits:
    """``issue_layout()``: field name -> (offset, width); pack and unpack the issue integer."""

    def __init__(self):
        layout = issue_layout()
        self.fields = {name: (f.offset, Shape.cast(f.shape).width) for name, f in layout}
        self.width = layout.size

    def pack(self, values: dict[str, int], word: int = 0) -> int:
        """Put each value (cut to its field's width) into its field of ``word``."""
        for name, v in values.items():
            off, width = self.fields[name]
            word = word & ~(_mask(width) << off) | (int(v) & _mask(width)) << off
        return word

    def issue(self, opcode: int, values: dict[str, int], word: int = 0) -> int:
        """An issued instruction: valid 1, ``opcode`` and the field ``values``."""
        return self.pack({"valid": 1, "opcode": opcode, **values}, word)

    def unpack(self, word: int) -> dict[str, int]:
        """Every field of the issue integer, valid and opcode included."""
        return {name: word >> off & _mask(width) for name, (off, width) in self.fields.items()}


class StreamBits:
    """``both_directions(config)`` (and ``streams_layout`` for one direction) <-> numpy."""

    def __init__(self, cfg: TileConfig):
        self.streams, self.lanes = cfg.streams, cfg.lanes
        sl, bd = streams_layout(cfg), both_directions(cfg)
        self.data_off, self.valid_off = sl["data"].offset, sl["valid"].offset
        self.dir_width, self.width = sl.size, bd.size
        self.dir_off = (bd["e"].offset, bd["w"].offset)

    def empty(self) -> tuple[np.ndarray, np.ndarray]:
        return (np.zeros((2, self.streams, self.lanes), np.uint8),
                np.zeros((2, self.streams), bool))

    def pack_dir(self, data: np.ndarray, valid: np.ndarray) -> int:
        """One direction: data (streams, lanes), valid (streams,)."""
        return vector_bits(data) << self.data_off | mask_bits(valid) << self.valid_off

    def unpack_dir(self, word: int) -> tuple[np.ndarray, np.ndarray]:
        n = self.streams * self.lanes
        data = bits_vector(word >> self.data_off, n).reshape(self.streams, self.lanes)
        return data, bits_mask(word >> self.valid_off, self.streams)

    def pack(self, data: np.ndarray, valid: np.ndarray) -> int:
        """Both directions: data (2, streams, lanes), valid (2, streams), [E] then [W]."""
        return sum(self.pack_dir(data[d], valid[d]) << self.dir_off[d] for d in (E, W))

    def unpack(self, word: int) -> tuple[np.ndarray, np.ndarray]:
        data, valid = self.empty()
        for d in (E, W):
            data[d], valid[d] = self.unpack_dir(word >> self.dir_off[d] & _mask(self.dir_width))
        return data, valid


def as_int(handle) -> int:
    """A cocotb handle's value as an unsigned int."""
    v = handle.value
    return v.to_unsigned() if hasattr(v, "to_unsigned") else int(v)


def config_from_env() -> TileConfig:
    """``LPU_CONFIG`` (JSON of ``TileConfig.as_dict()``), default ``TileConfig()``."""
    text = os.environ.get("LPU_CONFIG")
    return TileConfig(**json.loads(text)) if text else TileConfig()


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))
