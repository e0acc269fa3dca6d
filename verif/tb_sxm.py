"""cocotb testbench of ``lpu.hw.sxm.Sxm`` against the golden model's SXM.

Run by ``tests/test_rtl_sxm.py`` through ``lpu.verif.harness.run``. Environment: ``LPU_CONFIG``
(JSON of ``TileConfig.as_dict()``, default ``TileConfig()``), ``LPU_SEED`` (default 1),
``LPU_TRANSACTIONS`` (default 1000).

Parts: ``SxmModel`` is the reference: it feeds each instruction, with the streams the unit sees,
to ``GoldenTile.issue`` itself (which calls ``lpu.sw.units``), so the expected results are the
golden model's by construction; numpy and ``lpu.sw`` only, no cocotb. ``Stimulus`` builds
per-cycle inputs (seeded random and the directed corners, also used by
``tests/test_hw_sxm.py``). ``Packer``, ``Driver`` and ``Monitor`` move one cycle to and from the
flat Verilog ports; ``Checker`` compares every output bit of every cycle; ``TB`` owns the clock
and reset and steps everything in lockstep.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from lpu.sw import units
from lpu.sw.config import TileConfig
from lpu.sw.golden import GoldenTile, TileError
from lpu.sw.isa import (
    BY_MNEMONIC,
    DIRECTION_NAMES,
    DTYPE_INFO,
    DTYPES,
    E,
    Instr,
    W,
    check_operands,
    field_limit,
    format_instr,
    lanes_problem,
    stream_dir,
    stream_index,
    stream_operand,
    stream_width,
)
from lpu.sw.program import LoweredProgram
from lpu.verif.bus import IssueBits, StreamBits, as_int, config_from_env, env_int

SXM_OPS = tuple(i.mnemonic for i in BY_MNEMONIC.values() if i.unit == "SXM")


def sxm_ops(cfg: TileConfig) -> tuple[str, ...]:
    """The SXM instructions a tile of ``cfg`` has (a 2-lane tile has no TRANSPOSE)."""
    return tuple(op for op in SXM_OPS if lanes_problem(BY_MNEMONIC[op], cfg) is None)
LAT2 = ("RSUM", "RMAX", "ARGMAX")


# ---------------------------------------------------------------------------------------------
# Reference model (numpy and lpu.sw only)
# ---------------------------------------------------------------------------------------------


@dataclass
class Cycle:
    """Inputs of one cycle: the instruction issued (or None) and every stream at the inputs."""

    op: tuple[Instr, dict[str, int]] | None  # ISA values (n signed), as the golden model takes
    data: np.ndarray  # (2, streams, lanes) uint8: [E] eastward, [W] westward
    valid: np.ndarray  # (2, streams) bool
    noise: int = 0  # seed of the random bits in every issue field the instruction does not use
    garbage_opcode: int = 0  # opcode driven with valid = 0 when nothing issues
    tag: str = ""

    def text(self) -> str:
        return format_instr(*self.op) if self.op else "-"


@dataclass
class Expect:
    """Outputs of one cycle. ``loose`` marks streams two results land on (data undefined)."""

    data: np.ndarray  # (2, streams, lanes) uint8
    valid: np.ndarray  # (2, streams) bool
    error: bool = False
    loose: np.ndarray | None = None


class SxmModel:
    """The golden model's SXM, stepped one cycle at a time with the unit's own inputs.

    Each cycle the streams the unit sees are put into the golden tile's registers next to the
    SXM's position, the instruction goes to ``GoldenTile.issue`` (a ``TileError`` from it is the
    unit's ``error``, and it then writes nothing), and the stream writes the golden model queues
    for this cycle are the expected ``s_out``. Two writes on one stream register in one cycle are
    the golden model's "two producers" error. The map tables live in the golden tile.
    """

    def __init__(self, cfg: TileConfig, slice_name: str = "SXM_W"):
        self.cfg = cfg
        self.tile = GoldenTile(LoweredProgram(cfg))
        self.queue = next(q for q in self.tile.queues if q.name == slice_name)
        self.t = 0

    @property
    def maps(self) -> np.ndarray:
        return self.tile.sxm_maps[self.queue.name]

    def step(self, cyc: Cycle) -> Expect:
        """Return the outputs expected in this cycle and advance to the next one."""
        tile, p, t, cfg = self.tile, self.queue.position, self.t, self.cfg
        tile.reg[E, p - 1], tile.valid[E, p - 1] = cyc.data[E], cyc.valid[E]
        tile.reg[W, p + 1], tile.valid[W, p + 1] = cyc.data[W], cyc.valid[W]
        shape = (2, cfg.streams)
        exp = Expect(np.zeros((*shape, cfg.lanes), np.uint8), np.zeros(shape, bool),
                     loose=np.zeros(shape, bool))
        if cyc.op is not None:
            try:
                tile.issue(self.queue, *cyc.op, t)
            except TileError:
                exp.error = True
        for _, _, d, _, s, plane in tile.pending.pop(t, []):
            if exp.valid[d, s]:
                exp.error = exp.loose[d, s] = True
            exp.valid[d, s], exp.data[d, s] = True, plane
        self.t += 1
        return exp


# ---------------------------------------------------------------------------------------------
# Stimulus
# ---------------------------------------------------------------------------------------------


def stream(text: str) -> int:
    """Stream field of ``E3`` / ``W4``."""
    return stream_operand(DIRECTION_NAMES.index(text[0]), int(text[1:]))


def widths(instr: Instr, values: dict[str, int]) -> dict[str, int]:
    """Streams each operand of an instruction occupies."""
    return {n: stream_width(instr, values, spec) for n, spec in instr.reads + instr.writes}


class Stimulus:
    """Per-cycle inputs: random streams under chosen instructions, random and directed runs."""

    def __init__(self, cfg: TileConfig, rng: random.Random):
        self.cfg, self.rng = cfg, rng
        self.np = np.random.default_rng(rng.getrandbits(32))
        self.ops = sxm_ops(cfg)  # the instructions this tile's SXM has

    # Building blocks

    def cycle(self, op: str | None = None, operand=None, dtype: str | None = None,
              invalid: tuple[str, ...] = (), tag: str = "", **values) -> Cycle:
        """A cycle issuing ``op`` with ``values`` (dt as a name), random streams elsewhere.

        ``operand`` is put on stream ``a``: a typed vector (with ``dtype``, default the op's
        ``dt``) or raw byte planes (2-D uint8). ``invalid`` names streams that hold no value.
        """
        cfg = self.cfg
        data = self.np.integers(0, 256, (2, cfg.streams, cfg.lanes), dtype=np.uint8)
        valid = np.ones((2, cfg.streams), bool)
        spec = None
        if op is not None:
            instr = BY_MNEMONIC[op]
            if isinstance(values.get("dt"), str):
                values["dt"] = DTYPE_INFO[values["dt"]].code
            spec = (instr, {f.name: values[f.name] for f in instr.fields})
            problems = check_operands(*spec, cfg)
            assert not problems, f"illegal stimulus {format_instr(*spec)}: {problems}"
            if operand is not None:
                planes = np.asarray(operand)
                if planes.ndim == 1:
                    planes = units.to_planes(planes, dtype or DTYPES[values["dt"]])
                a = values["a"]
                d, s = stream_dir(a), stream_index(a)
                data[d, s:s + len(planes)] = planes
        for text in invalid:
            valid[stream_dir(stream(text)), stream_index(stream(text))] = False
        return Cycle(spec, data, valid, self.rng.getrandbits(64), self.rng.getrandbits(6),
                     tag or op or "idle")

    def idle(self, n: int = 1) -> list[Cycle]:
        return [self.cycle() for _ in range(n)]

    def vector(self, dtype: str, kind: str = "random") -> np.ndarray:
        """A ``dtype`` lane vector: random, zeros, ones (-1), max, min, ramp or few (ties)."""
        lo, hi = units.DTYPE_RANGE[dtype]
        lanes, t = self.cfg.lanes, units.NP_DTYPES[dtype]
        if kind == "random":
            return self.np.integers(lo, hi, lanes, endpoint=True).astype(t)
        if kind == "few":  # a handful of values: many ties for RMAX and ARGMAX
            return self.np.choice([lo, -1, 0, 1, hi], lanes).astype(t)
        const = {"zeros": 0, "ones": -1, "max": hi, "min": lo}
        if kind in const:
            return np.full(lanes, const[kind], t)
        return units.wrap(np.arange(lanes) * 37 - 5, dtype)  # ramp

    def group(self, width: int) -> int:
        """A random stream field for an aligned group of ``width`` streams."""
        rng = self.rng
        return stream_operand(rng.getrandbits(1), rng.randrange(0, self.cfg.streams, width))

    def map_table(self) -> np.ndarray:
        """Map entries: mostly lane indices, some zero fill (lanes, lanes + 1, 127, 128, 255)."""
        lanes = self.cfg.lanes
        fill = [lanes, lanes + 1, 127, 128, 255]
        return np.array([self.rng.choice(fill) if self.rng.random() < 0.2
                         else self.rng.randrange(lanes) for _ in range(lanes)], np.uint8)

    # Random

    def random_op(self) -> Cycle:
        """One random legal SXM instruction with a shaped operand now and then."""
        cfg, rng = self.cfg, self.rng
        op = rng.choice(self.ops)
        instr = BY_MNEMONIC[op]
        values = {"dt": rng.randrange(len(DTYPES))} if instr.dtype_fields else {}
        for f in instr.fields:
            if f.name == "n" and op == "SHIFT":
                big = rng.random() < 0.25
                values["n"] = (rng.randint(f.lo, f.hi) if big
                               else rng.randint(-cfg.lanes, cfg.lanes))
            elif f.kind in ("u", "s"):
                limit = field_limit(f, cfg)
                values[f.name] = rng.randint(f.lo, f.hi if limit is None else limit)
        w = widths(instr, {**values, "a": 0, "z": 0})
        for name in ("a", "z"):
            if name in w:
                values[name] = self.group(w[name])
        operand = None
        if op == "SETMAP":
            operand = self.map_table()[None, :]
        elif "dt" in values and rng.random() < 0.3:
            kinds = ("zeros", "ones", "max", "min", "few", "ramp")
            operand = self.vector(DTYPES[values["dt"]], rng.choice(kinds))
        return self.cycle(op, operand, **values)

    def random(self, count: int, density: float):
        """Yield cycles until ``count`` SXM instructions have issued; ``density`` of the cycles
        issue. Streams now and then hold no value (an operand read of one is an error)."""
        issued = 0
        while issued < count:
            if self.rng.random() < density:
                cyc = self.random_op()
                issued += 1
            else:
                cyc = self.cycle()
            if self.rng.random() < 0.05:
                cyc.valid[self.rng.randrange(2), self.rng.randrange(self.cfg.streams)] = False
            if cyc.op is not None and self.rng.random() < 0.02:  # one stream of the operand
                instr, values = cyc.op
                a = values["a"]
                s = stream_index(a) + self.rng.randrange(widths(instr, values)["a"])
                cyc.valid[stream_dir(a), s] = False
            if cyc.op is None and self.rng.random() < 0.1:
                cyc.valid[:] = False
            yield cyc


# ---------------------------------------------------------------------------------------------
# Directed corners (each returns the cycles to run after a reset)
# ---------------------------------------------------------------------------------------------


def corner_shift(st: Stimulus) -> list[Cycle]:
    """SHIFT by 0, +-1, +-(lanes-1), +-lanes and the encoding ends, every type, both ways."""
    lanes, out = st.cfg.lanes, []
    amounts = sorted({0, 1, -1, lanes - 1, -(lanes - 1), lanes, -lanes, 63, -64})
    for dt in DTYPES:
        for k, n in enumerate(amounts):
            kind = ("random", "ones", "ramp")[k % 3]
            a, z = ("E0", "W0") if k % 2 else ("W0", "E0")
            out.append(st.cycle("SHIFT", st.vector(dt, kind), dt=dt, a=stream(a), z=stream(z),
                                n=n, tag=f"SHIFT.{dt} n={n} {kind}"))
    return [*out, *st.idle(2)]


def corner_rotate_bcast(st: Stimulus) -> list[Cycle]:
    """ROTATE by 0, 1, lanes-1; BCAST of lane 0, the middle and the last; zeros and ones."""
    lanes, out = st.cfg.lanes, []
    for dt in DTYPES:
        for kind in ("ramp", "zeros", "ones", "random"):
            for n in (0, 1, lanes - 1):
                out.append(st.cycle("ROTATE", st.vector(dt, kind), dt=dt, a=stream("E0"),
                                    z=stream("W0"), n=n, tag=f"ROTATE.{dt} {n} {kind}"))
            for lane in (0, lanes // 2, lanes - 1):
                out.append(st.cycle("BCAST", st.vector(dt, kind), dt=dt, a=stream("W0"),
                                    z=stream("E0"), lane=lane, tag=f"BCAST.{dt} {lane} {kind}"))
    return [*out, *st.idle(2)]


def corner_permute(st: Stimulus) -> list[Cycle]:
    """Maps: all-zero tables after reset, identity, reverse, zero fill, replication; SETMAP
    immediately followed by a PERMUTE using it; a table rewritten between two PERMUTEs."""
    cfg, lanes = st.cfg, st.cfg.lanes
    last = cfg.sxm_maps - 1
    ident = np.arange(lanes, dtype=np.uint8)
    fill = np.resize(np.array([lanes, 255, 128, lanes + 1], np.uint8), lanes)
    fill[1::3] = ident[1::3]  # zero fill mixed with real lanes
    tables = [("identity", ident), ("reverse", ident[::-1].copy()), ("zero fill", fill),
              ("replicate", np.full(lanes, lanes - 1, np.uint8)), ("random", st.map_table())]
    out = []
    for m in (0, last):  # tables are all zeros after reset: every lane gets lane 0
        out.append(st.cycle("PERMUTE", st.vector("i16", "ramp"), dt="i16", a=stream("E2"),
                            z=stream("W2"), map=m, tag=f"PERMUTE before SETMAP map {m}"))
    for k, (name, table) in enumerate(tables):
        m = (0, last)[k % 2]
        dt = DTYPES[k % 3]
        out.append(st.cycle("SETMAP", table[None, :], a=stream(("E1", "W3")[k % 2]), map=m,
                            tag=f"SETMAP {name} -> map {m}"))
        out.append(st.cycle("PERMUTE", st.vector(dt, "ramp"), dt=dt, a=stream("E0"),
                            z=stream(("W0", "E0")[k % 2]), map=m, tag=f"PERMUTE.{dt} {name}"))
    # PERMUTE, SETMAP of the same table, PERMUTE: the first sees the old table, the second the new.
    out.append(st.cycle("PERMUTE", st.vector("i8"), dt="i8", a=stream("W1"), z=stream("E1"),
                        map=0, tag="PERMUTE old table"))
    out.append(st.cycle("SETMAP", tables[1][1][None, :], a=stream("E0"), map=0,
                        tag="SETMAP reverse -> map 0"))
    out.append(st.cycle("PERMUTE", st.vector("i8"), dt="i8", a=stream("W1"), z=stream("E1"),
                        map=0, tag="PERMUTE new table"))
    for m in range(cfg.sxm_maps):  # every table loaded, then every table used
        out.append(st.cycle("SETMAP", st.map_table()[None, :], a=stream("W0"), map=m))
    for m in range(cfg.sxm_maps):
        out.append(st.cycle("PERMUTE", st.vector("i32"), dt="i32", a=stream("E0"),
                            z=stream("W0"), map=m))
    return [*out, *st.idle(2)]


def corner_transpose(st: Stimulus) -> list[Cycle]:
    """TRANSPOSE of ramps, zeros, ones and random groups, both directions (none on a tile
    without TRANSPOSE)."""
    cfg, out = st.cfg, []
    if "TRANSPOSE" not in st.ops:
        return st.idle(2)
    ramp = (np.arange(4 * cfg.lanes) % 256).astype(np.uint8).reshape(4, cfg.lanes)
    patterns = [ramp, np.zeros_like(ramp), np.full_like(ramp, 255),
                st.np.integers(0, 256, ramp.shape, dtype=np.uint8)]
    for k, planes in enumerate(patterns):
        a, z = ("E0", "W0") if k % 2 else ("W0", "E0")
        out.append(st.cycle("TRANSPOSE", planes, a=stream(a), z=stream(z), tag="TRANSPOSE"))
    return [*out, *st.idle(2)]


def corner_reduce(st: Stimulus) -> list[Cycle]:
    """RSUM/RMAX/ARGMAX on zeros, ones, all max (sums wrap), all min, ties, every type."""
    lanes, out = st.cfg.lanes, []
    for dt in DTYPES:
        lo, hi = units.DTYPE_RANGE[dt]
        t = units.NP_DTYPES[dt]
        tie = np.full(lanes, lo, t)
        tie[[min(3, lanes - 1), lanes - 1]] = hi  # max at lanes 3 and lanes-1: ARGMAX is 3
        edge = np.full(lanes, -1, t)
        edge[[0, lanes - 1]] = 7  # max at the first and the last lane: ARGMAX is 0
        last = np.full(lanes, lo, t)
        last[-1] = lo + 1  # the max only in the last lane
        vectors = [st.vector(dt, k) for k in ("zeros", "ones", "max", "min", "few", "random")]
        for v in [*vectors, tie, edge, last]:
            for op in LAT2:
                out.append(st.cycle(op, v, dt=dt, a=stream("E0"), z=stream("W0"),
                                    tag=f"{op}.{dt}"))
    return [*out, *st.idle(3)]


def corner_mixed(st: Stimulus) -> list[Cycle]:
    """Back to back every cycle, latency 2 then latency 1: both results land in one cycle on
    different streams (the other direction, and disjoint groups of one direction)."""
    cfg, out = st.cfg, []
    one = [op for op in ("SHIFT", "ROTATE", "PERMUTE", "BCAST", "TRANSPOSE") if op in st.ops]
    for k in range(24):
        dt = DTYPES[k % 3]
        same_dir = cfg.streams >= 8 and k % 2
        op2, op1 = LAT2[k % 3], one[k % len(one)]
        z2 = stream("E0")
        z1 = stream("E4") if same_dir else stream("W0")
        out.append(st.cycle(op2, st.vector(dt, "few"), dt=dt, a=stream("W0"), z=z2,
                            tag=f"{op2}.{dt} (lands with the next)"))
        fields = {"n": k % cfg.lanes, "lane": k % cfg.lanes, "map": k % cfg.sxm_maps}
        instr = BY_MNEMONIC[op1]
        vals = {f.name: fields.get(f.name) for f in instr.fields}
        vals.update(a=stream("E0"), z=z1)
        if instr.dtype_fields:
            vals["dt"] = dt
        out.append(st.cycle(op1, **vals, tag=f"{op1} (lands with the previous)"))
    return [*out, *st.idle(3)]


def corner_invalid(st: Stimulus) -> list[Cycle]:
    """Operand streams without a value: the first or last stream of a group, every op; error in
    the issue cycle and no result. A SETMAP that fails leaves its table as it was."""
    cfg, out = st.cfg, []
    for op in st.ops:
        instr = BY_MNEMONIC[op]
        for dt in (DTYPES if instr.dtype_fields else (None,)):
            vals = {f.name: 0 for f in instr.fields}
            if dt:
                vals["dt"] = dt
            vals["a"] = stream("W0")
            w = widths(instr, {**vals, "dt": DTYPE_INFO[dt].code if dt else 0})["a"]
            for bad in {0, w - 1}:
                out.append(st.cycle(op, invalid=(f"W{bad}",), tag=f"{op} W{bad} invalid",
                                    **vals))
            # Another stream (the same index, other direction; the next group) is not read.
            out.append(st.cycle(op, invalid=("E0", f"W{w % cfg.streams}" if w < cfg.streams
                                              else "E1"), tag=f"{op} others invalid", **vals))
    # The failed SETMAP must not load map 0: PERMUTE with it still sees all zeros.
    out.append(st.cycle("SETMAP", np.arange(cfg.lanes, dtype=np.uint8)[None, :],
                        a=stream("E0"), map=0, invalid=("E0",), tag="SETMAP invalid"))
    out.append(st.cycle("PERMUTE", st.vector("i8", "ramp"), dt="i8", a=stream("E0"),
                        z=stream("E0"), map=0, tag="PERMUTE after failed SETMAP"))
    every = tuple(f"{d}{s}" for d in DIRECTION_NAMES for s in range(cfg.streams))
    out.append(st.cycle(invalid=every, tag="idle, nothing valid"))
    return [*out, *st.idle(3)]


def corner_collision(st: Stimulus) -> list[Cycle]:
    """A latency-2 and the next cycle's latency-1 result on one stream register: the golden
    model's "two producers" error in the landing cycle; also a partial overlap."""
    out = [st.cycle("RSUM", dt="i8", a=stream("E0"), z=stream("W1"), tag="RSUM -> W1"),
           st.cycle("SHIFT", dt="i8", a=stream("E1"), z=stream("W1"), n=1, tag="SHIFT -> W1"),
           *st.idle(2),
           st.cycle("RMAX", dt="i32", a=stream("E0"), z=stream("E0"), tag="RMAX -> E0..E3"),
           st.cycle("BCAST", dt="i8", a=stream("W0"), z=stream("E3"), lane=0, tag="BCAST -> E3"),
           *st.idle(3)]
    return out


DIRECTED = {"shift": corner_shift, "rotate_bcast": corner_rotate_bcast,
            "permute": corner_permute, "transpose": corner_transpose, "reduce": corner_reduce,
            "mixed_latency": corner_mixed, "invalid_read": corner_invalid,
            "collision": corner_collision}


# ---------------------------------------------------------------------------------------------
# Ports, driver, monitor, checker
# ---------------------------------------------------------------------------------------------


class Packer(StreamBits):
    """The DUT's flat ports, bit positions from the Amaranth layouts (see ``lpu.verif.bus``)."""

    def __init__(self, cfg: TileConfig):
        super().__init__(cfg)
        self.cfg, self.bits = cfg, IssueBits()
        self.issue_bits, self.streams_bits = self.bits.width, self.width

    def pack_issue(self, cyc: Cycle) -> int:
        """valid, opcode, the instruction's fields (raw bits, zero-extended as the decoder
        gives them); random bits in every other field, and everywhere when nothing issues."""
        word = random.Random(cyc.noise).getrandbits(self.issue_bits)
        if cyc.op is None:
            return self.bits.pack({"valid": 0, "opcode": cyc.garbage_opcode}, word)
        instr, values = cyc.op
        return self.bits.issue(instr.opcode, {f.name: values[f.name] for f in instr.fields}, word)

    pack_streams, unpack_streams = StreamBits.pack, StreamBits.unpack


@dataclass
class Observed:
    data: np.ndarray
    valid: np.ndarray
    error: bool


@dataclass
class Checker:
    """Compares expected and observed outputs every cycle and keeps the mismatches."""

    log: object = None
    errors: list[str] = field(default_factory=list)
    cycles: int = 0
    issued: int = 0
    results: int = 0
    flagged: int = 0

    def compare(self, t: int, cyc: Cycle, exp: Expect, got: Observed) -> None:
        where = f"cycle {t} [{cyc.tag}: {cyc.text()}]"
        self.cycles += 1
        self.issued += cyc.op is not None
        self.results += int(exp.valid.any())
        self.flagged += exp.error
        if got.error != exp.error:
            self.errors.append(f"{where}: error {int(got.error)}, expected {int(exp.error)}")
        for d, s in zip(*np.nonzero(got.valid != exp.valid), strict=True):
            self.errors.append(f"{where}: s_out.{'ew'[d]} valid[{s}] = {int(got.valid[d, s])}, "
                               f"expected {int(exp.valid[d, s])}")
        check = exp.valid & got.valid & ~exp.loose
        for d, s in zip(*np.nonzero(check), strict=True):
            if not np.array_equal(got.data[d, s], exp.data[d, s]):
                self.errors.append(f"{where}: s_out.{'ew'[d]} data[{s}] = "
                                   f"{got.data[d, s].tolist()}, expected "
                                   f"{exp.data[d, s].tolist()}")

    def summary(self) -> str:
        return (f"{self.cycles} cycles checked, {self.issued} SXM instructions, {self.results} "
                f"result cycles, {self.flagged} error cycles, {len(self.errors)} mismatches")

    def finish(self) -> None:
        if self.log is not None:
            self.log.info(self.summary())
        assert not self.errors, f"{len(self.errors)} mismatches:\n" + "\n".join(self.errors[:20])


class Driver:
    """Drives one cycle of inputs."""

    def __init__(self, dut, packer: Packer):
        self.dut, self.p = dut, packer

    def apply(self, cyc: Cycle) -> None:
        self.dut.issue.value = self.p.pack_issue(cyc)
        self.dut.s_in.value = self.p.pack_streams(cyc.data, cyc.valid)


class Monitor:
    """Samples one cycle of outputs."""

    def __init__(self, dut, packer: Packer):
        self.dut, self.p = dut, packer

    def sample(self) -> Observed:
        data, valid = self.p.unpack_streams(as_int(self.dut.s_out))
        return Observed(data, valid, bool(as_int(self.dut.error)))


def load_env() -> tuple[TileConfig, int, int]:
    return config_from_env(), env_int("LPU_SEED", 1), env_int("LPU_TRANSACTIONS", 1000)


class TB:
    """Owns the clock and reset; runs cycles through driver, DUT, monitor, model and checker."""

    def __init__(self, dut, cfg: TileConfig):
        self.dut, self.cfg = dut, cfg
        self.packer = Packer(cfg)
        assert len(dut.issue) == self.packer.issue_bits, "issue port width"
        assert len(dut.s_in) == len(dut.s_out) == self.packer.streams_bits, "stream port width"
        self.driver, self.monitor = Driver(dut, self.packer), Monitor(dut, self.packer)
        self.checker = Checker(dut._log)
        self.model = SxmModel(cfg)
        self.t = 0

    async def reset(self) -> None:
        """Start the clock, hold reset for two cycles with nothing issued; fresh model."""
        cocotb.start_soon(Clock(self.dut.clk, 10, unit="ns").start())
        self.driver.apply(Stimulus(self.cfg, random.Random(0)).cycle())
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 2)
        self.dut.rst.value = 0
        self.model = SxmModel(self.cfg)

    async def run(self, cycles) -> None:
        for cyc in cycles:
            await RisingEdge(self.dut.clk)
            self.driver.apply(cyc)
            await ReadOnly()
            self.checker.compare(self.t, cyc, self.model.step(cyc), self.monitor.sample())
            self.t += 1


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------


@cocotb.test()
@cocotb.parametrize(density=[1.0, 0.5])
async def random_stimulus(dut, density: float) -> None:
    """LPU_TRANSACTIONS seeded random SXM instructions (every type, field and direction, mixed
    latencies, shaped operands, streams without a value), every output checked every cycle."""
    cfg, seed, count = load_env()
    tb = TB(dut, cfg)
    st = Stimulus(cfg, random.Random(f"{seed}-{density}"))
    await tb.reset()
    await tb.run(st.random(count, density))
    await tb.run(st.idle(3))
    dut._log.info("seed %d, density %.1f", seed, density)
    tb.checker.finish()
    assert tb.checker.issued >= count
    assert tb.checker.flagged > 0, "the random run never read a stream without a value"


@cocotb.test()
@cocotb.parametrize(corner=list(DIRECTED.values()))
async def directed(dut, corner) -> None:
    """The directed corners of ``DIRECTED``, each after a reset, checked like the random run."""
    cfg, seed, _ = load_env()
    tb = TB(dut, cfg)
    st = Stimulus(cfg, random.Random(f"{seed}-{corner.__name__}"))
    await tb.reset()
    await tb.run(corner(st))
    dut._log.info("%s: %s", corner.__name__, (corner.__doc__ or "").split("\n")[0])
    tb.checker.finish()
