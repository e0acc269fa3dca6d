"""One VXM ALU: every VXM instruction of the ISA table, pipelined per latency.

The VXM has ``vxm_alus`` of these, one per queue, all on the VXM's stream position. An ALU reads
its operand groups in the issue cycle ``t`` and presents its result group on ``s_out`` during
cycle ``t + d`` (``d`` the ISA latency, 1, 2 or 3). Each latency has its own pipeline, so an ALU
that issues every cycle can present up to three results (on different streams) in one cycle.

Datapath by latency (the sets are checked against ``lpu.sw.isa`` at construction):

* d = 1, computed in cycle ``t`` and registered: the integer ops, ``SELECT``, ``ADDI``, ``SRAI``,
  ``CONST``, ``CVT`` and ``ACCUM`` (whose running register is updated at the end of ``t``).
* d = 2: operands registered at ``t``; in ``t + 1`` one 32 x 32 signed multiplier per lane gives
  ``MUL`` and ``MULQ``, and the SILU/GELU/EXP ROM (read synchronously at ``t``) gives the tables.
* d = 3: ``REQUANT`` multiplies in ``t + 1`` (the same multiplier, with the QPARAM multiplier
  captured at issue), then rounds, shifts and saturates in ``t + 2``. ``RECIP`` and ``RSQRT``
  find the leading one and address the RECIP/RSQRT ROM in ``t + 1`` and denormalise in ``t + 2``.

The ROM contents come from ``lpu.sw.units.rom_words``, the tables the golden model uses. The
arithmetic rules are those of ``lpu.sw.units`` and ``docs/numerics.md``.

Chaining: ``s_own`` holds the VXM position's own stream registers, valid where a VXM ALU wrote
them at the end of the previous cycle; such a register takes priority over ``s_in`` on that
stream. ``error`` is raised in the issue cycle when an operand stream holds no value in either,
or for ``ACCUM`` mode 3; the instruction then has no effect (no result, no state change).
Result groups are assumed aligned to their width (the decoder rejects any other). If two
pipelines present results on the same stream in one cycle (a scheduling error the golden model
reports), the longer latency wins.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from ..sw.config import TileConfig
from ..sw.isa import DIRECTION_NAMES, DTYPES, INSTRUCTIONS
from ..sw.units import ROM_WIDTHS, VXM_BINARY, rom_words
from . import common
from .common import both_directions, pick_stream, stream_dir_bit, stream_number

VXM_INSTRS = {i.mnemonic: i for i in INSTRUCTIONS if i.unit == "VXM"}
OP = {name: i.opcode for name, i in VXM_INSTRS.items()}

#: The instructions each pipeline implements, by latency (0: state only, no result).
PIPELINES = {
    0: ("QPARAM",),
    1: (*(op for op in VXM_BINARY if op != "MUL"), "SELECT", "ADDI", "SRAI", "CONST", "NEG",
        "ABS", "RELU", "MOV", "CVT", "ACCUM"),
    2: ("MUL", "MULQ", "SILU", "GELU", "EXP"),
    3: ("REQUANT", "RECIP", "RSQRT"),
}
Q34_ROMS = ("SILU", "GELU", "EXP")  # one ROM, 256 words each, addressed in the issue cycle
RCP_ROMS = ("RECIP", "RSQRT")  # one ROM, 256 words each, addressed in cycle t + 1
INT32_MAX, INT32_MIN = (1 << 31) - 1, -(1 << 31)
OPERANDS = ("m", "a", "b")
#: The latency of each instruction, as the pipelines implement it.
LATENCY = {name: d for d, names in PIPELINES.items() for name in names}


def _sext(v, code):
    """``v`` sign-extended to 32 bits from 8, 16 or 32 bits by the type code (log2 bytes)."""
    return Mux(code == 0, v[:8].as_signed(), Mux(code == 1, v[:16].as_signed(), v[:32].as_signed()))


def _clamp(v, lo, hi):
    return Mux(v > hi, hi, Mux(v < lo, lo, v))


class _Stage:
    """Control of the instruction in one stage of the latency-2/3 pipeline."""

    def __init__(self, name):
        self.valid = Signal(name=f"{name}_valid")
        self.op = Signal(6, name=f"{name}_op")
        self.z = Signal(6, name=f"{name}_z")
        self.wc = Signal(2, name=f"{name}_wc")
        self.shift = Signal(6, name=f"{name}_shift")  # REQUANT: the QPARAM shift at issue


class _Result:
    """A pipeline's output register: one result group of ``lanes`` 32-bit values."""

    def __init__(self, name, lanes):
        self.valid = Signal(name=f"{name}_valid")
        self.z = Signal(6, name=f"{name}_z")
        self.wc = Signal(2, name=f"{name}_wc")
        self.data = [Signal(32, name=f"{name}_data{lane}") for lane in range(lanes)]


class VxmLane(wiring.Component):
    """The latency-1 arithmetic of one lane, combinational (``PIPELINES[1]``).

    Members
    -------
    opcode, dt, dst, mode, imm, n : In
        The instruction's opcode and raw fields (``imm`` 12 or 16 bits, by opcode).
    m, a, b : In(signed(32))
        The operands, sign-extended from the instruction's type.
    r : In(signed(32))
        The ALU's ACCUM running register in this lane.
    res : Out(32)
        The result; its low ``bits`` bits are the value in the result type.
    r_next : Out(signed(32))
        The running register after an ``ACCUM``: its result sign-extended from ``dt``.
    """

    def __init__(self):
        super().__init__({
            "opcode": In(6), "dt": In(2), "dst": In(2), "mode": In(2), "imm": In(16), "n": In(5),
            "m": In(signed(32)), "a": In(signed(32)), "b": In(signed(32)), "r": In(signed(32)),
            "res": Out(32), "r_next": Out(signed(32)),
        })

    def elaborate(self, platform):
        m = Module()
        a, b, mm, dt, n, mode, op = (self.a, self.b, self.m, self.dt, self.n, self.mode,
                                     self.opcode)
        r = Signal(signed(32), name="r_dt")
        m.d.comb += r.eq(_sext(self.r, dt))

        # One 33-bit adder serves every sum, difference and comparison (the exact result of
        # two 32-bit operands fits 33 bits, so its sign is the comparison).
        x, y, sub = Signal(signed(33)), Signal(signed(33)), Signal()
        srai_rnd = (Const(1, 1) << n) >> 1
        with m.Switch(op):
            with m.Case(OP["ADD"]):
                m.d.comb += [x.eq(a), y.eq(b)]
            with m.Case(OP["ADDI"]):
                m.d.comb += [x.eq(a), y.eq(self.imm[:12].as_signed())]
            with m.Case(OP["SRAI"]):
                m.d.comb += [x.eq(a), y.eq(srai_rnd)]
            with m.Case(OP["NEG"], OP["ABS"]):
                m.d.comb += [x.eq(0), y.eq(a), sub.eq(1)]
            with m.Case(OP["ACCUM"]):  # mode 1: r + a; mode 2 compares a with r
                m.d.comb += [x.eq(Mux(mode == 1, r, a)), y.eq(Mux(mode == 1, a, r)),
                             sub.eq(mode != 1)]
            with m.Default():  # SUB and the comparisons: a - b
                m.d.comb += [x.eq(a), y.eq(b), sub.eq(1)]
        total = Signal(signed(33))
        m.d.comb += total.eq(x + Mux(sub, ~y, y) + sub)
        lt = total[32]  # a < b (ACCUM: a < r)
        eq = Signal()
        m.d.comb += eq.eq(total == 0)

        # One arithmetic right shifter for SRA and SRAI (whose rounded sum is the total).
        smask = Mux(dt == 0, 7, Mux(dt == 1, 15, 31))
        is_srai = op == OP["SRAI"]
        shifted = Signal(signed(33))
        m.d.comb += shifted.eq(Mux(is_srai, total, a) >> Mux(is_srai, n, b[:5] & smask))

        # CVT saturates a value whose bits above the target width are not all its sign.
        fits = Mux(self.dst == 0, a[7:].all() | ~a[7:].any(),
                   Mux(self.dst == 1, a[15:].all() | ~a[15:].any(), 1))
        cvt_lo = Mux(self.dst == 0, -128, Mux(self.dst == 1, -32768, INT32_MIN))
        cvt_hi = Mux(self.dst == 0, 127, Mux(self.dst == 1, 32767, INT32_MAX))
        exprs = {
            "ADD": total, "SUB": total, "MIN": Mux(lt, a, b), "MAX": Mux(lt, b, a),
            "AND": a & b, "OR": a | b, "XOR": a ^ b, "SHL": a << (b[:5] & smask),
            "SRA": shifted, "CMPEQ": Mux(eq, -1, 0), "CMPGT": Mux(lt | eq, 0, -1),
            "SELECT": Mux(mm != 0, a, b), "ADDI": total, "SRAI": shifted,
            "CONST": self.imm.as_signed(), "NEG": total, "ABS": Mux(a[31], total, a),
            "RELU": Mux(a[31], 0, a), "MOV": a, "CVT": Mux(fits, a, Mux(a[31], cvt_lo, cvt_hi)),
            "ACCUM": Mux(mode == 0, a, Mux(mode == 1, total, Mux(lt, r, a))),
        }
        assert set(exprs) == set(PIPELINES[1])
        with m.Switch(op):
            for name, expr in exprs.items():
                with m.Case(OP[name]):
                    m.d.comb += self.res.eq(expr)
            with m.Default():
                m.d.comb += self.res.eq(0)
        m.d.comb += self.r_next.eq(_sext(self.res, dt))
        return m


class VxmAlu(wiring.Component):
    """One VXM ALU (queue ``VXM.<i>``) of the tile ``config``.

    Parameters
    ----------
    config : TileConfig
        Gives ``lanes`` and ``streams``.
    fault : bool
        Plant a one-bit fault for the negative control: bit 0 of lane 0 of every latency-1
        result is inverted when bit 7 of that value is set.

    Members
    -------
    issue, s_in, s_out, error :
        The unit port (``unit_signature``): ``s_in`` the streams arriving at the VXM position
        this cycle; ``error``: an operand stream holds no value, or ``ACCUM`` mode 3, in the
        issue cycle.
    s_own : In(both_directions(config))
        The VXM position's own stream registers, valid where a VXM ALU wrote them at the end of
        the previous cycle (chaining); they take priority over ``s_in``.
    """

    def __init__(self, config: TileConfig, fault: bool = False):
        common.require_config(config)
        if not isinstance(fault, bool):
            raise TypeError(f"fault must be a bool, not {fault!r}")
        if DTYPES != ("i8", "i16", "i32"):
            raise RuntimeError(f"the VXM ALU codes types as log2(bytes), but DTYPES is {DTYPES}")
        common.check_latencies("VXM", LATENCY)
        self.config, self.fault = config, fault
        super().__init__(common.unit_signature(config, s_own=In(both_directions(config))))

    def elaborate(self, platform):
        m = Module()
        S, L = self.config.streams, self.config.lanes
        issue, op = self.issue, self.issue.opcode

        # ROMs, filled from the golden model's tables.
        q34_words = [w for name in Q34_ROMS for w in rom_words(name)]
        rcp_words = [w for name in RCP_ROMS for w in rom_words(name)]
        m.submodules.q34_rom = q34_rom = Memory(
            shape=unsigned(max(ROM_WIDTHS[n] for n in Q34_ROMS)), depth=len(q34_words),
            init=q34_words)
        m.submodules.rcp_rom = rcp_rom = Memory(
            shape=unsigned(max(ROM_WIDTHS[n] for n in RCP_ROMS)), depth=len(rcp_words),
            init=rcp_words)
        q34_rd = [q34_rom.read_port() for _ in range(L)]
        rcp_rd = [rcp_rom.read_port() for _ in range(L)]

        # Decode: which groups the instruction reads and writes, and their widths (log2 bytes).
        use = {n: Signal(name=f"use_{n}") for n in (*OPERANDS, "z")}
        wc = {n: Signal(2, name=f"wc_{n}") for n in (*OPERANDS, "z")}
        known = Signal()
        with m.Switch(op):
            for instr in VXM_INSTRS.values():
                with m.Case(instr.opcode):
                    m.d.comb += known.eq(1)
                    for name, spec in instr.reads + instr.writes:
                        code = exact_log2(spec) if isinstance(spec, int) else issue[spec]
                        m.d.comb += [use[name].eq(1), wc[name].eq(code)]
            with m.Default():  # every signal gets a default branch (Verilator CASEINCOMPLETE)
                m.d.comb += [known.eq(0), *(s.eq(0) for s in (*use.values(), *wc.values()))]
        is_op = {name: op == code for name, code in OP.items()}

        # Effective streams at the VXM: a fresh own register wins over the arriving stream.
        eff_data, eff_valid = [], []
        for dn in ("e", "w"):
            own, inp = self.s_own[dn], self.s_in[dn]
            for s in range(S):
                d = Signal(8 * L, name=f"eff_{dn}{s}")
                v = Signal(name=f"eff_{dn}{s}_valid")
                m.d.comb += [
                    d.eq(Mux(own.valid[s], own.data[s].as_value(), inp.data[s].as_value())),
                    v.eq(own.valid[s] | inp.valid[s])]
                eff_data.append(d)
                eff_valid.append(v)

        # Operand fetch: byte j of a group at stream index base + j, sign-extended per lane.
        vals, errs, byte0 = {}, [], {}
        for name in OPERANDS:
            field = issue[name]
            planes = []
            for j in range(4):
                plane = Signal(8 * L, name=f"{name}_plane{j}")
                present = Signal(name=f"{name}_present{j}")
                vec, ok = pick_stream(self.config, (eff_data[:S], eff_valid[:S]),
                                      (eff_data[S:], eff_valid[S:]), field, j)
                m.d.comb += [plane.eq(vec), present.eq(ok)]
                planes.append(plane)
                needed = use[name] if j == 0 else use[name] & (wc[name] >= (1 if j == 1 else 2))
                errs.append(needed & ~present)
            vals[name] = []
            for lane in range(L):
                v = Signal(signed(32), name=f"{name}{lane}")
                m.d.comb += v.eq(_sext(Cat(p[8 * lane:8 * lane + 8] for p in planes), wc[name]))
                vals[name].append(v)
            byte0[name] = [planes[0][8 * lane:8 * lane + 8] for lane in range(L)]
        bad_mode = is_op["ACCUM"] & (issue.mode[:2] == 3)
        err = Signal()
        m.d.comb += err.eq(issue.valid & known & (Cat(*errs).any() | bad_mode))
        m.d.comb += self.error.eq(err)
        ok = Signal()
        m.d.comb += ok.eq(issue.valid & known & ~err)

        # Per-ALU state: QPARAM multiplier and shift, the ACCUM running register.
        mult = Signal(signed(16))
        shift = Signal(6)
        with m.If(ok & is_op["QPARAM"]):
            m.d.sync += [mult.eq(issue.mult[:16].as_signed()), shift.eq(issue.shift[:6])]
        acc_r = [Signal(signed(32), name=f"accum_r{lane}") for lane in range(L)]

        # Latency 1: compute in the issue cycle, register.
        o1 = _Result("o1", L)
        for lane in range(L):
            m.submodules[f"lane{lane}"] = alu = VxmLane()
            m.d.comb += [alu.opcode.eq(op), alu.dt.eq(issue.dt), alu.dst.eq(issue.dst),
                         alu.mode.eq(issue.mode), alu.imm.eq(issue.imm), alu.n.eq(issue.n),
                         alu.r.eq(acc_r[lane])]
            m.d.comb += [getattr(alu, name).eq(vals[name][lane]) for name in OPERANDS]
            with m.If(ok & is_op["ACCUM"]):
                m.d.sync += acc_r[lane].eq(alu.r_next)
            res = alu.res
            out = res ^ res[7] if self.fault and lane == 0 else res
            m.d.sync += o1.data[lane].eq(out)
        in_pipe = {d: Cat(is_op[n] for n in names).any() for d, names in PIPELINES.items()}
        m.d.sync += [o1.valid.eq(ok & in_pipe[1]), o1.z.eq(issue.z), o1.wc.eq(wc["z"])]

        # Latency 2 and 3, stage 1 (cycle t): register operands, address the Q3.4 ROM.
        s1 = _Stage("s1")
        s1_x = [Signal(signed(32), name=f"s1_x{lane}") for lane in range(L)]
        s1_y = [Signal(signed(32), name=f"s1_y{lane}") for lane in range(L)]
        m.d.sync += [s1.valid.eq(ok & (in_pipe[2] | in_pipe[3])), s1.op.eq(op),
                     s1.z.eq(issue.z), s1.wc.eq(wc["z"]), s1.shift.eq(shift)]
        tsel = Mux(is_op["SILU"], 0, Mux(is_op["GELU"], 1, 2))
        for lane in range(L):
            m.d.sync += [s1_x[lane].eq(vals["a"][lane]),
                         s1_y[lane].eq(Mux(is_op["REQUANT"], mult, vals["b"][lane]))]
            m.d.comb += q34_rd[lane].addr.eq(Cat(byte0["a"][lane], tsel))

        # Stage 2 (cycle t + 1): multiply; finish latency 2; leading one and RECIP/RSQRT ROM.
        o2 = _Result("o2", L)
        m.d.sync += [o2.valid.eq(s1.valid & Cat(s1.op == OP[n] for n in PIPELINES[2]).any()),
                     o2.z.eq(s1.z), o2.wc.eq(s1.wc)]
        s2 = _Stage("s2")
        m.d.sync += [s2.valid.eq(s1.valid & Cat(s1.op == OP[n] for n in PIPELINES[3]).any()),
                     s2.op.eq(s1.op), s2.z.eq(s1.z), s2.wc.eq(s1.wc), s2.shift.eq(s1.shift)]
        s1_rsqrt = s1.op == OP["RSQRT"]
        s2_prod = [Signal(signed(64), name=f"s2_prod{lane}") for lane in range(L)]
        s2_pos = [Signal(name=f"s2_pos{lane}") for lane in range(L)]
        s2_left = [Signal(name=f"s2_left{lane}") for lane in range(L)]
        s2_amt = [Signal(5, name=f"s2_amt{lane}") for lane in range(L)]
        for lane in range(L):
            x = s1_x[lane]
            prod = Signal(signed(64), name=f"prod{lane}")
            m.d.comb += prod.eq(x * s1_y[lane])
            # (prod + 2**15) >> 16 without a 65-bit sum: the floor plus bit 15, the half rounded.
            mulq = Signal(signed(49), name=f"mulq{lane}")
            m.d.comb += mulq.eq(prod.shift_right(16) + prod[15])
            res = Signal(32, name=f"r2_{lane}")
            with m.Switch(s1.op):
                with m.Case(OP["MUL"]):
                    m.d.comb += res.eq(prod[:32])
                with m.Case(OP["MULQ"]):
                    m.d.comb += res.eq(_clamp(mulq, INT32_MIN, INT32_MAX))
                with m.Default():  # SILU, GELU, EXP
                    m.d.comb += res.eq(q34_rd[lane].data)
            m.d.sync += [o2.data[lane].eq(res), s2_prod[lane].eq(prod)]
            # Leading one p of a positive x, the 8 bits after it, the denormalising shift.
            p = Signal(5, name=f"lead{lane}")
            for i in range(31):
                with m.If(x[i]):
                    m.d.comb += p.eq(i)
            nshift = Signal(5, name=f"nshift{lane}")
            norm = Signal(31, name=f"norm{lane}")
            m.d.comb += [nshift.eq(30 - p), norm.eq(x[:31] << nshift)]
            q = p[1:]
            index = Mux(s1_rsqrt, Cat(norm[23:30], p[0]), norm[22:30])
            m.d.comb += rcp_rd[lane].addr.eq(Cat(index, s1_rsqrt))
            left = Mux(s1_rsqrt, q <= 8, p <= 16)
            amt = Mux(s1_rsqrt, Mux(q <= 8, 8 - q, q - 8), Mux(p <= 16, 16 - p, p - 16))
            m.d.sync += [s2_pos[lane].eq(x > 0), s2_left[lane].eq(left), s2_amt[lane].eq(amt)]

        # Stage 3 (cycle t + 2): REQUANT round, shift, saturate; RECIP/RSQRT denormalise.
        o3 = _Result("o3", L)
        m.d.sync += [o3.valid.eq(s2.valid), o3.z.eq(s2.z), o3.wc.eq(s2.wc)]
        for lane in range(L):
            # (prod + ((1 << shift) >> 1)) >> shift without a 65-bit sum: the floor plus bit
            # shift - 1 of prod (none for shift 0). An int32 x int16 product fits 48 bits.
            rq_floor = Signal(signed(48), name=f"rq_floor{lane}")
            rq_half = Signal(name=f"rq_half{lane}")
            m.d.comb += [rq_floor.eq(s2_prod[lane] >> s2.shift),
                         rq_half.eq((s2.shift != 0) & (s2_prod[lane] >> (s2.shift - 1)[:6])[0])]
            rq = rq_floor + rq_half
            t = rcp_rd[lane].data
            amt = s2_amt[lane]
            zl = Signal(48, name=f"rcp_l{lane}")
            zr = Signal(17, name=f"rcp_r{lane}")
            m.d.comb += [zl.eq(t << amt), zr.eq((t + ((Const(1, 1) << amt) >> 1)) >> amt)]
            rcp = Mux(s2_pos[lane], Mux(s2_left[lane], Mux(zl > INT32_MAX, INT32_MAX, zl), zr),
                      INT32_MAX)
            m.d.sync += o3.data[lane].eq(Mux(s2.op == OP["REQUANT"], _clamp(rq, -128, 127), rcp))

        # Stream writes: each pipeline's group; the longer latency wins a (misscheduled) clash.
        for d, dn in enumerate(DIRECTION_NAMES):
            so = self.s_out[dn.lower()]
            for s in range(S):
                for o in (o1, o2, o3):
                    index = stream_number(o.z)
                    hit = o.valid & (stream_dir_bit(o.z) == d) & Mux(
                        o.wc == 0, index == s, Mux(o.wc == 1, index[1:] == s >> 1,
                                                   index[2:] == s >> 2))
                    vec = Cat(Mux(o.wc == 0, v[:8], Mux(o.wc == 1, v.word_select(s & 1, 8),
                                                         v.word_select(s & 3, 8)))
                              for v in o.data)
                    with m.If(hit):
                        m.d.comb += [so.valid[s].eq(1), so.data[s].eq(vec)]
        return m
