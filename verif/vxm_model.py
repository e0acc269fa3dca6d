"""Reference model and stimulus of the VXM ALU testbench: numpy and ``lpu.sw`` only.

The model reads the operand groups as ``GoldenTile.read_stream`` does for a VXM queue (a fresh
own register before the input), computes the result with the ``lpu.sw.units`` function the
golden model calls, and schedules it for cycle ``t + latency``. ``ProgramBuilder``, the
``corners_*`` programs and ``random_program`` make the stimulus; ``verif/tb_vxm.py`` drives it.

Beyond the golden model: an ``ACCUM`` with mode 3 raises ``error``, and an instruction that
raises ``error`` has no effect (the golden model stops the tile there).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from lpu.sw import units
from lpu.sw.config import TileConfig
from lpu.sw.isa import (
    BY_MNEMONIC,
    DIRECTION_NAMES,
    DTYPE_INFO,
    DTYPES,
    INSTRUCTIONS,
    E,
    W,
    format_instr,
    stream_group,
    stream_operand,
    stream_width,
)
from lpu.verif.bus import config_from_env, env_int

# ---------------------------------------------------------------------------------------------
# Reference model and stimulus (numpy and lpu.sw only)
# ---------------------------------------------------------------------------------------------

VXM_OPS = tuple(i.mnemonic for i in INSTRUCTIONS if i.unit == "VXM")
WIDTH_DTYPE = {t.bytes: name for name, t in DTYPE_INFO.items()}  # group width -> type


@dataclass
class Streams:
    """Every stream of both directions at one point: data (2, streams, lanes) and valid bits."""

    data: np.ndarray
    valid: np.ndarray

    @classmethod
    def empty(cls, cfg: TileConfig) -> Streams:
        return cls(np.zeros((2, cfg.streams, cfg.lanes), np.uint8),
                   np.zeros((2, cfg.streams), bool))


@dataclass
class Op:
    """One instruction: mnemonic and ISA field values (signed immediates as numbers)."""

    name: str
    values: dict[str, int]

    @property
    def instr(self):
        return BY_MNEMONIC[self.name]

    def operands(self) -> list[tuple[str, int]]:
        """(field name, group width) of every stream operand read."""
        return [(n, stream_width(self.instr, self.values, s)) for n, s in self.instr.reads]

    def result_width(self) -> int | None:
        w = self.instr.writes
        return stream_width(self.instr, self.values, w[0][1]) if w else None

    def __str__(self) -> str:
        return format_instr(self.instr, self.values)


@dataclass
class Cycle:
    """The stimulus of one cycle; ``s_own`` None means the VXM's own previous writes."""

    op: Op | None
    s_in: Streams
    s_own: Streams | None


class VxmAluModel:
    """One VXM ALU at transaction level: state, and the writes due in each cycle."""

    def __init__(self, cfg: TileConfig):
        self.cfg = cfg
        self.mult, self.shift = 0, 0
        self.r = np.zeros(cfg.lanes, np.int32)
        self.pending: dict[int, list] = defaultdict(list)

    @staticmethod
    def read(s_in: Streams, s_own: Streams, v: int, width: int) -> np.ndarray | None:
        """Planes of a group, own fresh registers first; None if a plane holds no value."""
        planes = []
        for d, s in stream_group(v, width):
            src = s_own if s_own.valid[d, s] else s_in
            if not src.valid[d, s]:
                return None
            planes.append(src.data[d, s])
        return np.stack(planes)

    def issue(self, t: int, op: Op, s_in: Streams, s_own: Streams) -> bool:
        """Execute ``op`` issued in cycle ``t``; return whether it raises ``error``."""
        vals, name, lanes = op.values, op.name, self.cfg.lanes
        x = {}
        for n, width in op.operands():
            planes = self.read(s_in, s_own, vals[n], width)
            if planes is None:
                return True
            x[n] = units.from_planes(planes, WIDTH_DTYPE[width])
        if name == "ACCUM" and vals["mode"] == 3:
            return True
        dt = DTYPES[vals["dt"]] if "dt" in vals else None
        if name in units.VXM_BINARY:
            z = units.vxm_binary(name, dt, x["a"], x["b"])
        elif name in units.VXM_UNARY:
            z = units.vxm_unary(name, dt, x["a"])
        elif name == "SELECT":
            z = units.vxm_select(dt, x["m"], x["a"], x["b"])
        elif name == "ADDI":
            z = units.vxm_addi(dt, x["a"], vals["imm"])
        elif name == "SRAI":
            z = units.vxm_srai(dt, x["a"], vals["n"])
        elif name == "CONST":
            z = units.vxm_const(dt, vals["imm"], lanes)
        elif name == "CVT":
            z = units.vxm_cvt(DTYPES[vals["src"]], DTYPES[vals["dst"]], x["a"])
        elif name == "QPARAM":
            self.mult, self.shift = vals["mult"], vals["shift"]
            return False
        elif name == "REQUANT":
            z = units.requant(x["a"], self.mult, self.shift)
        elif name in ("SILU", "GELU", "EXP"):
            z = {"SILU": units.silu_q34, "GELU": units.gelu_q34, "EXP": units.exp_q34}[name](x["a"])
        elif name in ("RECIP", "RSQRT"):
            z = (units.recip_q16 if name == "RECIP" else units.rsqrt_q16)(x["a"])
        elif name == "MULQ":
            z = units.mulq(x["a"], x["b"])
        elif name == "ACCUM":
            z = units.accum(dt, vals["mode"], self.r.astype(units.NP_DTYPES[dt]), x["a"])
            self.r = z.astype(np.int32)
        else:
            raise ValueError(f"not a VXM instruction: {name}")
        for (d, s), plane in zip(stream_group(vals["z"], op.result_width()), units.to_planes(z),
                                 strict=True):
            self.pending[t + op.instr.latency].append((d, s, plane, f"{op} @{t}"))
        return False

    def outputs(self, t: int) -> tuple[Streams, dict]:
        """The writes due in cycle ``t`` and, per (direction, stream), the instruction's text."""
        out, who = Streams.empty(self.cfg), {}
        for d, s, plane, tag in self.pending.pop(t, []):
            if out.valid[d, s]:
                raise AssertionError(f"stimulus bug: two results on {DIRECTION_NAMES[d]}{s} "
                                     f"in cycle {t}")
            out.data[d, s], out.valid[d, s], who[(d, s)] = plane, True, tag
        return out, who


def corner_values(dtype: str, powers: bool = True) -> list[int]:
    """Extremes and small values of ``dtype``; for i32 also every +-2**k and its neighbours."""
    lo, hi = units.DTYPE_RANGE[dtype]
    out = [lo, lo + 1, -2, -1, 0, 1, 2, hi - 1, hi]
    if dtype == "i32" and powers:  # RECIP, RSQRT, MULQ, REQUANT
        for k in range(31):
            out += [1 << k, (1 << k) - 1, (1 << k) + 1, -(1 << k)]
    return sorted(set(out))


class ProgramBuilder:
    """Builds a list of ``Cycle`` stimuli; result groups never collide with earlier ones."""

    def __init__(self, cfg: TileConfig, rng: np.random.Generator, loopback: bool = False):
        self.cfg, self.rng, self.loopback = cfg, rng, loopback
        self.cycles: list[Cycle] = []
        self.busy: dict[int, set] = defaultdict(set)  # cycle -> (d, s) written then

    def biased(self, dtype: str, n: int | None = None, p: float = 0.3) -> np.ndarray:
        """Uniform values of ``dtype`` with a fraction ``p`` replaced by corner values."""
        n = self.cfg.lanes if n is None else n
        lo, hi = units.DTYPE_RANGE[dtype]
        v = self.rng.integers(lo, hi, n, endpoint=True)
        pick = self.rng.random(n) < p
        v[pick] = self.rng.choice(corner_values(dtype), int(pick.sum()))
        return v.astype(units.NP_DTYPES[dtype])

    def noise(self, p_valid: float) -> Streams:
        S, L = self.cfg.streams, self.cfg.lanes
        return Streams(self.rng.integers(0, 256, (2, S, L), dtype=np.uint8),
                       self.rng.random((2, S)) < p_valid)

    def groups(self, width: int, taken: set) -> list[int]:
        """Stream field values of the aligned ``width``-stream groups that avoid ``taken``."""
        out = []
        for d in (E, W):
            for base in range(0, self.cfg.streams - width + 1, width):
                v = stream_operand(d, base)
                if not taken & set(stream_group(v, width)):
                    out.append(v)
        return out

    def idle(self, n: int = 1) -> None:
        for _ in range(n):
            s_own = None if self.loopback else self.noise(0.0)
            self.cycles.append(Cycle(None, self.noise(0.9), s_own))

    def add(self, name: str, fields: dict | None = None, operands: dict | None = None,
            own: tuple = (), invalid: tuple = (), chain: float = 0.0) -> bool:
        """Append one instruction; return False when no free result group exists.

        fields: ISA field values (random when missing); operands: vectors per operand name
        (random when missing); own: operands delivered through ``s_own`` (``s_in`` of those
        streams random, sometimes invalid); invalid: operands with one stream holding no value;
        chain (loopback only): probability of reading a group written in the previous cycle.
        """
        t, rng = len(self.cycles), self.rng
        instr = BY_MNEMONIC[name]
        values = {f.name: self.random_field(name, f) for f in instr.fields}
        values.update(fields or {})
        op = Op(name, values)
        s_in = self.noise(0.95)
        s_own = None if self.loopback else self.noise(0.0)
        if s_own is not None:
            s_own.valid = rng.random(s_own.valid.shape) < 0.15
        taken: set = set()
        for n, width in op.operands():
            if n not in (fields or {}):
                free = self.groups(width, taken) or self.groups(width, set())  # may share
                fresh = [v for v in free if set(stream_group(v, width)) & self.busy[t - 1]]
                pool = fresh if fresh and rng.random() < chain else free
                values[n] = int(rng.choice(pool))
            streams = stream_group(values[n], width)
            taken |= set(streams)
            vec = (operands or {}).get(n)
            if self.loopback and vec is None:
                s_in.valid[tuple(zip(*streams, strict=True))] |= rng.random(width) < 0.9
                continue
            if vec is None:
                vec = self.biased(WIDTH_DTYPE[width])
            planes = units.to_planes(np.asarray(vec, units.NP_DTYPES[WIDTH_DTYPE[width]]))
            for (d, s), plane in zip(streams, planes, strict=True):
                if n in own:
                    s_own.data[d, s], s_own.valid[d, s] = plane, True
                    s_in.valid[d, s] = rng.random() < 0.5
                else:
                    s_in.data[d, s], s_in.valid[d, s] = plane, True
                    if s_own is not None:
                        s_own.valid[d, s] = False
            if n in invalid:
                d, s = streams[int(rng.integers(width))]
                s_in.valid[d, s] = False
                if s_own is not None:
                    s_own.valid[d, s] = False
        width = op.result_width()
        if width is not None and "z" not in (fields or {}):
            when = t + instr.latency
            pool = self.groups(width, self.busy[when])
            if not pool:
                return False
            values["z"] = int(rng.choice(pool))
        if width is not None:
            self.busy[t + instr.latency] |= set(stream_group(values["z"], width))
        self.cycles.append(Cycle(op, s_in, s_own))
        return True

    def random_field(self, name: str, f) -> int:
        rng = self.rng
        if f.kind == "dtype":
            return int(rng.integers(3))
        if f.kind == "stream":
            return 0  # chosen by add()
        if f.name == "mode":
            return int(rng.integers(3))
        if f.name == "imm":
            lo, hi = f.lo, f.hi
            c = [lo, lo + 1, -129, -128, -1, 0, 1, 127, 128, 255, 256, hi - 1, hi]
            return int(rng.choice([v for v in c if lo <= v <= hi]) if rng.random() < 0.4
                       else rng.integers(lo, hi, endpoint=True))
        if f.name == "n":  # SRAI
            return int(rng.choice([0, 1, 7, 8, 15, 16, 31]) if rng.random() < 0.4
                       else rng.integers(32))
        if f.name == "mult":
            return int(rng.choice([-32768, -32767, -1, 0, 1, 32767]) if rng.random() < 0.3
                       else rng.integers(-32768, 32767, endpoint=True))
        if f.name == "shift":
            return int(rng.choice([0, 1, 31, 32, 62, 63]) if rng.random() < 0.3
                       else rng.integers(64))
        raise ValueError(f"no random value for {name} {f.name}")

    def random_op(self, loopback_chain: float = 0.6) -> bool:
        """One random VXM instruction with random operand delivery and error injection."""
        rng = self.rng
        name = str(rng.choice(VXM_OPS))
        names = [n for n, _ in Op(name, {}).instr.reads]
        own = tuple(n for n in names if rng.random() < 0.25)
        invalid = tuple(n for n in names if rng.random() < 0.01)
        return self.add(name, own=() if self.loopback else own, invalid=invalid,
                        chain=loopback_chain)


# ---------------------------------------------------------------------------------------------
# Directed corner programs
# ---------------------------------------------------------------------------------------------


def _chunks(seq, n):
    seq = list(seq)
    return [seq[i:i + n] for i in range(0, len(seq), n)]


def _fill(vals, lanes, dtype):
    """Pad a chunk to ``lanes`` values by repeating it."""
    vals = list(vals)
    return np.array((vals * lanes)[:lanes], units.NP_DTYPES[dtype])


def corners_binary(b: ProgramBuilder) -> None:
    L = b.cfg.lanes
    for code, dt in enumerate(DTYPES):
        c = corner_values(dt, powers=False)
        bits = units.DTYPE_BITS[dt]
        shifts = [0, 1, bits - 1, bits, bits + 1, 2 * bits - 1, -1, c[0], c[-1]]
        for name in units.VXM_BINARY:
            bs = shifts if name in ("SHL", "SRA") else c
            pairs = [(x, y) for x in c for y in bs]
            for chunk in _chunks(pairs, L):
                a = _fill([p[0] for p in chunk], L, dt)
                bb = _fill([p[1] for p in chunk], L, dt)
                b.add(name, {"dt": code}, {"a": a, "b": bb})


def corners_unary(b: ProgramBuilder) -> None:
    L = b.cfg.lanes
    for code, dt in enumerate(DTYPES):
        c = corner_values(dt)
        for name in (*units.VXM_UNARY, "SRAI", "ADDI"):
            imms = {"SRAI": [0, 1, 7, 8, 9, 15, 16, 17, 30, 31], "ADDI": [-2048, -1, 0, 1, 2047]}
            for imm in imms.get(name, [None]):
                fields = {"dt": code}
                if imm is not None:
                    fields["n" if name == "SRAI" else "imm"] = imm
                for chunk in _chunks(c, L):
                    b.add(name, fields, {"a": _fill(chunk, L, dt)})
        for imm in (-32768, -32767, -129, -128, -1, 0, 1, 127, 128, 255, 256, 32767):
            b.add("CONST", {"dt": code, "imm": imm})
        for src_code, src in enumerate(DTYPES):  # CVT: dt here is the destination
            for chunk in _chunks(corner_values(src), L):
                b.add("CVT", {"src": src_code, "dst": code}, {"a": _fill(chunk, L, src)})


def corners_select(b: ProgramBuilder) -> None:
    L = b.cfg.lanes
    for code, dt in enumerate(DTYPES):
        lo, hi = units.DTYPE_RANGE[dt]
        masks = [0, 1, -1, lo, hi] + ([0x100, 0x200] if dt != "i8" else [])
        masks += [0x8000, 0x10000, 0x1000000] if dt == "i32" else []
        for chunk in _chunks(masks + [0] * len(masks), L):
            b.add("SELECT", {"dt": code}, {"m": _fill(chunk, L, dt)})
        b.add("SELECT", {"dt": code}, {"m": np.zeros(L, units.NP_DTYPES[dt])})


def corners_requant(b: ProgramBuilder) -> None:
    L = b.cfg.lanes
    a = corner_values("i32")
    for mult in (-32768, 32767, -1, 0, 1, 12345):
        for shift in (0, 1, 15, 16, 31, 32, 46, 47, 62, 63):
            b.add("QPARAM", {"mult": mult, "shift": shift})
            for chunk in _chunks(b.rng.permutation(a)[:2 * L], L):
                b.add("REQUANT", operands={"a": _fill(chunk, L, "i32")})
    b.add("QPARAM", {"mult": 3, "shift": 2})  # REQUANT then QPARAM: the REQUANT keeps its params
    b.add("REQUANT", operands={"a": _fill(a, L, "i32")})
    b.add("QPARAM", {"mult": -7, "shift": 5})
    b.add("REQUANT", operands={"a": _fill(a[::-1], L, "i32")})


def corners_tables(b: ProgramBuilder) -> None:
    L = b.cfg.lanes
    for name in ("SILU", "GELU", "EXP"):
        for chunk in _chunks(range(-128, 128), L):
            b.add(name, operands={"a": _fill(chunk, L, "i8")})


def corners_recip(b: ProgramBuilder) -> None:
    L = b.cfg.lanes
    vals = [0, -1, -2, -(1 << 31), -(1 << 30), -12345, (1 << 31) - 1, (1 << 31) - 2]
    for k in range(31):
        vals += [1 << k, (1 << k) - 1, (1 << k) + 1]
    vals = sorted(set(vals))
    for name in ("RECIP", "RSQRT"):
        for chunk in _chunks(vals, L):
            b.add(name, operands={"a": _fill(chunk, L, "i32")})


def corners_mulq(b: ProgramBuilder) -> None:
    L = b.cfg.lanes
    c = [-(1 << 31), -(1 << 31) + 1, -(1 << 16), -65535, -1, 0, 1, 32768, 65535, 1 << 16,
         (1 << 16) + 1, 46341 << 8, 1 << 30, (1 << 31) - 1]
    pairs = [(x, y) for x in c for y in c]
    for chunk in _chunks(pairs, L):
        b.add("MULQ", operands={"a": _fill([p[0] for p in chunk], L, "i32"),
                                "b": _fill([p[1] for p in chunk], L, "i32")})


def corners_accum(b: ProgramBuilder) -> None:
    L = b.cfg.lanes
    seq = [(2, 0, "max"), (2, 1, "max"), (2, 1, "max"), (2, 2, "min"), (2, 2, "max"),
           (0, 1, "max"), (0, 1, "rand"), (1, 1, "max"), (1, 2, "min"), (0, 0, "min"),
           (2, 1, "min"), (0, 2, "rand"), (1, 0, "rand"), (2, 2, "rand"), (0, 1, "rand")]
    for code, mode, kind in seq:
        dt = DTYPES[code]
        lo, hi = units.DTYPE_RANGE[dt]
        a = (np.full(L, hi) if kind == "max" else np.full(L, lo) if kind == "min"
             else b.biased(dt))
        b.add("ACCUM", {"dt": code, "mode": mode}, {"a": a.astype(units.NP_DTYPES[dt])})
    for _ in range(30):
        b.add("ACCUM", {"mode": int(b.rng.integers(3))})


def corners_mixed(b: ProgramBuilder) -> None:
    """Latencies 3, 2, 1 issued back to back: the three results share a cycle."""
    triples = [("REQUANT", "MUL", "ADD"), ("RSQRT", "EXP", "CVT"), ("RECIP", "MULQ", "ACCUM"),
               ("RECIP", "SILU", "SELECT"), ("REQUANT", "GELU", "SRAI")]
    for _ in range(12):
        for triple in triples:
            for name in triple:
                b.add(name)


def corners_errors(b: ProgramBuilder) -> None:
    L = b.cfg.lanes
    for name in ("ADD", "MULQ", "SELECT", "REQUANT", "ACCUM", "SILU", "CVT"):
        names = [n for n, _ in Op(name, {}).instr.reads]
        for n in names:
            b.add(name, invalid=(n,))
            b.add(name, own=(n,))  # s_in of the group sometimes invalid, own fresh: no error
    b.add("ACCUM", {"dt": 2, "mode": 0}, {"a": np.arange(L, dtype=np.int32)})
    b.add("ACCUM", {"dt": 2, "mode": 3})  # illegal mode: error, register unchanged
    b.add("ACCUM", {"dt": 2, "mode": 1}, {"a": np.ones(L, np.int32)})
    for code in range(3):  # one bad plane of a 1-, 2- or 4-stream group
        b.add("ADD", {"dt": code}, invalid=("b",))


def corners_mul_i8(b: ProgramBuilder) -> None:
    """MUL.i8 over all 65536 operand pairs."""
    L = b.cfg.lanes
    pairs = [(x, y) for x in range(-128, 128) for y in range(-128, 128)]
    for chunk in _chunks(pairs, L):
        b.add("MUL", {"dt": 0}, {"a": _fill([p[0] for p in chunk], L, "i8"),
                                 "b": _fill([p[1] for p in chunk], L, "i8")})


CORNERS = {"binary": corners_binary, "unary": corners_unary, "select": corners_select,
           "requant": corners_requant, "tables": corners_tables, "recip": corners_recip,
           "mulq": corners_mulq, "accum": corners_accum, "mixed": corners_mixed,
           "errors": corners_errors, "mul_i8": corners_mul_i8}


def env_config() -> TileConfig:
    return config_from_env()


def env_seed() -> int:
    return env_int("LPU_SEED", 1)


def random_program(cfg: TileConfig, seed: int, count: int, loopback: bool) -> list[Cycle]:
    """``count`` random instructions, about one cycle in ten idle."""
    b = ProgramBuilder(cfg, np.random.default_rng(seed), loopback=loopback)
    issued = 0
    while issued < count:
        if b.rng.random() < 0.1:
            b.idle()
        elif b.random_op():
            issued += 1
        else:
            b.idle()
    return b.cycles
