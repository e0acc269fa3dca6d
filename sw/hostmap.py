"""The tile's host port, described once: address map, registers and error sources.

``hw/tile.py`` decodes addresses with it, the RTL backends and the FPGA bridge build their
transfers with it, and ``docs/architecture.md`` documents it. Pure Python: no Amaranth.

The port is word-addressed. A host word is ``max(32, 8 * lanes)`` bits: a whole MEM vector
(lane 0 in the low byte), an instruction word or a 32-bit register value (zero-extended).
The address space is cut into regions of ``region_words`` words: region 0 holds the
registers, then one region per instruction queue (in ``TileConfig.queues`` order), then one
per MEM bank (slices in floorplan order, bank 0 before bank 1). Reads return the word one
cycle after the address; writes take one cycle. Instruction memories are write-only.
Loading while a program runs is not supported (the port is meant for an idle tile).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .config import TileConfig
from .isa import encode
from .program import Program, symbol_words

#: Register offsets in region 0.
REG_CTRL = 0  # write: START / CLEAR bits; read: STATUS bits
REG_CYCLES = 1  # wall cycles of the last run (frozen cycles included)
REG_FROZEN = 2  # of those, cycles the tile was frozen by DESKEW / RUNTIME_DESKEW
REG_HAC = 3  # the tile's hardware-aligned counter (lpu.hw.hac), live
REG_LINK_ROLES = 4  # read/write: 2 bits per link port (link_ports order), LINK_ROLES values
REG_LINK_STATUS = 5  # bit i: port i measured its latency; LINK_ALIGNED: every child port aligned
REG_ERROR = 0x10  # error source bits, ERROR_REGISTER_BITS per register, error_sources order
REG_LINK = 0x20  # two per link port: latency (bits 0-15) | trims (16-31), then dropped frames
REG_BUSY = 0x40  # issue cycles of each queue, one register per queue in TileConfig.queues order
ERROR_REGISTER_BITS = 32  # error source bits per REG_ERROR register, bit 0 in the first

CTRL_START = 1 << 0  # clear unit state, empty the links' DATA buffers, run every queue from
#                      address 0 at the next HAC epoch boundary
CTRL_CLEAR = 1 << 1  # zero every MEM bank and instruction memory: STATUS_CLEARING for
#                      HostMap.clear_cycles cycles from the cycle after the write (with START
#                      also set, START wins)
CTRL_ABORT = 1 << 2  # stop a running program (status ERROR with no error source)

STATUS_RUNNING = 1 << 0
STATUS_DONE = 1 << 1  # every queue halted and every effect landed
STATUS_ERROR = 1 << 2  # stopped by an error: see the REG_ERROR bits
STATUS_CLEARING = 1 << 3
STATUS_ARMED = 1 << 4  # START written, waiting for the HAC epoch boundary

LINK_ROLES = {"free": 0, "parent": 1, "child": 2}  # lpu.hw.hac ROLE_* values
LINK_ALIGNED = 1 << 16


@dataclass(frozen=True)
class ErrorSource:
    """What one REG_ERROR bit reports."""

    name: str  # as decode_errors reports it
    kind: str  # "queue" (its sequencer or the unit it alone drives), "unit" (an MXM, shared by
    #            its two queues), "streams" (a position's stream registers: two producers),
    #            "link" (a dropped frame or a DATA overrun) or "deadlock"
    slice: str | None  # the slice of the queue, unit, stream position or link port


@dataclass(frozen=True)
class HostMap:
    """The host port of one tile configuration."""

    config: TileConfig

    @property
    def data_bits(self) -> int:
        return max(32, 8 * self.config.lanes)

    @property
    def region_words(self) -> int:
        cfg = self.config
        size = max(cfg.mem_words, cfg.queue_words, REG_BUSY + len(cfg.queues))
        return 1 << (size - 1).bit_length()

    @property
    def clear_cycles(self) -> int:
        """Cycles a CLEAR takes: one word of every memory per cycle, the longest memory's."""
        return max(self.config.mem_words, self.config.queue_words)

    @cached_property
    def banks(self) -> tuple[tuple[str, int], ...]:
        """(MEM slice, bank) of every bank, in region order."""
        return tuple((s.name, b) for s in self.config.slices if s.kind == "MEM"
                     for b in range(self.config.mem_banks))

    @property
    def regions(self) -> int:
        return 1 + len(self.config.queues) + len(self.banks)

    @property
    def addr_bits(self) -> int:
        return (self.regions * self.region_words - 1).bit_length()

    def roles_word(self, roles: dict[tuple[str, int], str]) -> int:
        """REG_LINK_ROLES value for {(slice, link): "parent" | "child" | "free"}."""
        word = 0
        for port, role in roles.items():
            word |= LINK_ROLES[role] << 2 * self.link_ports.index(port)
        return word

    def queue_base(self, name: str) -> int:
        index = [q.name for q in self.config.queues].index(name)
        return (1 + index) * self.region_words

    def bank_base(self, slice_name: str, bank: int) -> int:
        index = self.banks.index((slice_name, bank))
        return (1 + len(self.config.queues) + index) * self.region_words

    def mem_address(self, slice_name: str, address: int) -> int:
        """Host address of slice-relative MEM word ``address`` (bank = address // mem_words)."""
        words = self.config.mem_words
        return self.bank_base(slice_name, address // words) + address % words

    @cached_property
    def error_source_objects(self) -> tuple[ErrorSource, ...]:
        """What each REG_ERROR bit reports, bit 0 first: every queue (its sequencer or its
        unit), each MXM (shared by its two queues), each position's stream registers (two
        producers), each link port, and a SYNC deadlock."""
        cfg = self.config
        return (tuple(ErrorSource(q.name, "queue", q.slice.name) for q in cfg.queues)
                + tuple(ErrorSource(f"{s.name} unit", "unit", s.name)
                        for s in cfg.slices if s.kind == "MXM")
                + tuple(ErrorSource(f"{s.name} streams", "streams", s.name) for s in cfg.slices)
                + tuple(ErrorSource(f"{s} link {n}", "link", s) for s, n in self.link_ports)
                + (ErrorSource("deadlock", "deadlock", None),))

    @cached_property
    def error_sources(self) -> tuple[str, ...]:
        """The names of ``error_source_objects``, in REG_ERROR bit order."""
        return tuple(s.name for s in self.error_source_objects)

    @cached_property
    def link_ports(self) -> tuple[tuple[str, int], ...]:
        """(C2C slice, link) of every link port, in floorplan order: the order of the role
        bits, the REG_LINK registers and the tile's ``link_*`` wire ports."""
        return tuple((s.name, n) for s in self.config.slices if s.kind == "C2C"
                     for n in range(self.config.c2c_links))

    @staticmethod
    def port_name(slice_name: str, link: int) -> str:
        """The wire-port prefix of a link port: ``C2C_W``, 0 -> ``link_w0``."""
        return f"link_{slice_name[-1].lower()}{link}"

    @property
    def error_registers(self) -> int:
        return -(-len(self.error_sources) // ERROR_REGISTER_BITS)

    @staticmethod
    def error_bits(registers) -> int:
        """The error source bits from the values of the REG_ERROR registers, in order."""
        return sum(w << ERROR_REGISTER_BITS * k for k, w in enumerate(registers))

    def decode_errors(self, bits: int) -> list[str]:
        return [name for i, name in enumerate(self.error_sources) if bits >> i & 1]

    def word_vector(self, word: int) -> np.ndarray:
        """The MEM vector a host word holds: its low ``lanes`` bytes, lane 0 first (uint8)."""
        data = word.to_bytes(self.data_bits // 8, "little")[:self.config.lanes]
        return np.frombuffer(data, np.uint8)

    def load_writes(self, program: Program) -> list[tuple[int, int]]:
        """(address, word) host writes that load a lowered program: every queue's instruction
        words and the MEM segments."""
        writes = []
        for q in self.config.queues:
            base = self.queue_base(q.name)
            writes += [(base + i, encode(it.instr, it.values))
                       for i, it in enumerate(program.queues.get(q.name, []))]
        L = self.config.lanes
        for (sl, addr), data in sorted(program.segments.items()):
            writes += [(self.mem_address(sl, addr + i),
                        int.from_bytes(data[i * L:(i + 1) * L], "little"))
                       for i in range(len(data) // L)]
        return writes

    def symbol_addresses(self, program: Program, name: str) -> list[int]:
        """Host address of every word of data symbol ``name``, in symbol word order."""
        sym = program.symbols[name]
        return [self.mem_address(*sym.word_address(w)) for w in range(sym.words(self.config.lanes))]

    def symbol_writes(self, program: Program, name: str, array) -> list[tuple[int, int]]:
        """(address, word) host writes that store ``array`` as data symbol ``name``."""
        sym = program.symbols[name]
        return [(self.mem_address(*sym.word_address(w)), int.from_bytes(word.tobytes(), "little"))
                for w, word in symbol_words(sym, array, self.config.lanes)]
