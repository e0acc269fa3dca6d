"""SXM: the switch execution module, one per hemisphere (slices ``SXM_W`` and ``SXM_E``).

It executes the SXM instructions of ``lpu.sw.isa`` bit-exactly as ``lpu.sw.units`` defines them
and cycle-exactly as ``lpu.sw.golden.GoldenTile._sxm`` times them (timing contract in
``hw/common.py``):

* **Issue cycle t.** The operand group (``a``: 1, 2 or 4 streams by ``dt``; 4 for TRANSPOSE,
  1 for SETMAP) is taken from ``s_in``. If one of its streams holds no value, ``error`` rises in
  cycle t and the instruction has no effect (no table write, no result).
* **Latency 1** (SHIFT, ROTATE, PERMUTE, BCAST, TRANSPOSE): computed in cycle t, registered at
  its end, presented on ``s_out`` in cycle t + 1.
* **Latency 2** (RSUM, RMAX, ARGMAX): the lanes, sign-extended from ``dt`` to 32 bits, are
  registered at the end of t; the reduction tree runs in cycle t + 1 and its result is registered
  again, so it is presented in cycle t + 2.
* **SETMAP** (latency 0): map table ``map`` is loaded from stream ``a`` at the end of cycle t,
  so a PERMUTE issued in t + 1 or later uses it. The ``sxm_maps`` tables are registers cleared
  by reset (the golden model starts with all-zero tables too).

A latency-1 and a latency-2 result can be due in the same cycle; each goes to its own streams.
If both name the same stream register, that is the golden model's "two producers on one stream
register" error: ``error`` rises in that cycle and the stream's data is not defined.

Lane movement works on lanes of 32 bits (byte ``j`` of lane ``l`` = stream ``a+j``, lane ``l``;
bytes above the operand's width are zero and never written out), so SHIFT and ROTATE are barrel
shifters over the whole ``lanes * 32``-bit vector and every byte plane moves together.
"""

from __future__ import annotations

from amaranth import C, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.utils import exact_log2

from ..sw.config import TileConfig
from ..sw.isa import DIRECTION_NAMES, INSTRUCTIONS, STREAM_INDEX_BITS, E, W
from . import common
from .common import pick_stream, select, stream_dir_bit, stream_number, vector_layout

#: The SXM instructions by mnemonic, and the latency the datapath below implements for each.
SXM_INSTRS = {i.mnemonic: i for i in INSTRUCTIONS if i.unit == "SXM"}
MOVES = ("SHIFT", "ROTATE", "PERMUTE", "BCAST", "TRANSPOSE")
REDUCTIONS = ("RSUM", "RMAX", "ARGMAX")
LATENCY = {**dict.fromkeys(MOVES, 1), **dict.fromkeys(REDUCTIONS, 2), "SETMAP": 0}

_LANE_BITS = 32  # one lane of the widest type (i32): 4 byte planes
_PLANES = _LANE_BITS // 8


def slot_layout(config: TileConfig) -> data.StructLayout:
    """A stream write request: up to 4 byte planes to streams base.. of one direction."""
    return data.StructLayout({
        "valid":  unsigned(1),
        "dir":    unsigned(1),          # E or W (the z field's direction bit)
        "base":   unsigned(STREAM_INDEX_BITS),  # first stream of the group
        "mask":   unsigned(_PLANES),    # which planes (streams base + j) are written
        "planes": data.ArrayLayout(vector_layout(config), _PLANES),
    })


def reduce_layout(config: TileConfig) -> data.StructLayout:
    """A reduction between its issue and its reduction cycle: the typed lanes and the target."""
    return data.StructLayout({
        "valid": unsigned(1),
        "op":    unsigned(2),           # index into REDUCTIONS
        "dir":   unsigned(1),
        "base":  unsigned(STREAM_INDEX_BITS),
        "mask":  unsigned(_PLANES),
        "lanes": data.ArrayLayout(signed(_LANE_BITS), config.lanes),
    })


class Sxm(wiring.Component):
    """The switch execution module of one hemisphere.

    Parameters
    ----------
    config : TileConfig
        Every count (lanes, streams, map tables) comes from it.
    fault : bool
        Negative control: invert bit 0 of lane 0 of the first stream of every latency-1 result.

    Members
    -------
    issue, s_in, s_out, error :
        The unit port (``unit_signature``); only SXM opcodes arrive on ``issue`` with ``valid``
        set. ``error``: an operand stream read this cycle holds no value, or two results are
        due on one stream.
    """

    def __init__(self, config: TileConfig, fault: bool = False):
        common.require_config(config)
        if config.lanes & (config.lanes - 1):
            raise ValueError(f"the SXM needs a power-of-two lane count, not {config.lanes}")
        if config.lanes > 1 << 7:
            raise ValueError(f"ARGMAX returns an int8 lane index; {config.lanes} lanes is too many")
        common.check_latencies("SXM", LATENCY)
        self.config, self.fault = config, bool(fault)
        super().__init__(common.unit_signature(config))

    def elaborate(self, platform):
        m = Module()
        cfg, iss = self.config, self.issue
        L, S = cfg.lanes, cfg.streams
        lane_index_bits = exact_log2(L)
        width = L * _LANE_BITS

        # Decode: one strobe per instruction, and which planes its operand occupies.
        x_op = {}
        for name, instr in SXM_INSTRS.items():
            x_op[name] = Signal(name=f"x_{name.lower()}")
            m.d.comb += x_op[name].eq(iss.valid & (iss.opcode == instr.opcode))
        x_move = Signal()
        x_reduce = Signal()
        x_reads = Signal()
        m.d.comb += [
            x_move.eq(Cat(x_op[n] for n in MOVES).any()),
            x_reduce.eq(Cat(x_op[n] for n in REDUCTIONS).any()),
            x_reads.eq(Cat(x_op.values()).any()),
        ]
        x_dt_mask = Signal(_PLANES)
        with m.Switch(iss.dt):
            with m.Case(0):
                m.d.comb += x_dt_mask.eq(0b0001)
            with m.Case(1):
                m.d.comb += x_dt_mask.eq(0b0011)
            with m.Default():
                m.d.comb += x_dt_mask.eq(0b1111)
        x_mask = Signal(_PLANES)
        m.d.comb += x_mask.eq(Mux(x_op["TRANSPOSE"], 0b1111,
                                  Mux(x_op["SETMAP"], 0b0001, x_dt_mask)))

        # Gather the operand group: plane j = stream a + j in a's direction, with its valid bit.
        x_planes = Signal(data.ArrayLayout(vector_layout(cfg), _PLANES))
        x_pvalid = Signal(_PLANES)
        for j in range(_PLANES):
            vec, ok = pick_stream(cfg, self.s_in.e, self.s_in.w, iss.a, j)
            m.d.comb += [x_planes[j].eq(vec), x_pvalid[j].eq(ok)]
        x_error = Signal()
        m.d.comb += x_error.eq(x_reads & (x_mask & ~x_pvalid).any())

        # Lane words: lane l = Cat(plane 0 .. plane 3)[l], the planes above the type zeroed.
        x_used = [Mux(x_mask[j], x_planes[j].as_value(), 0) for j in range(_PLANES)]
        x_words = [Cat(x_used[j][8 * lane:8 * lane + 8] for j in range(_PLANES))
                   for lane in range(L)]
        x_flat = Signal(width)
        m.d.comb += x_flat.eq(Cat(x_words))

        # SHIFT: z[l] = a[l - n], zero fill; |n| >= lanes gives all zeros.
        x_n = Signal(signed(7))
        x_mag = Signal(8)
        m.d.comb += [x_n.eq(iss.n[:7]), x_mag.eq(Mux(x_n < 0, -x_n, x_n))]
        x_amount = Cat(C(0, 5), x_mag[:lane_index_bits])
        x_shift = Signal(width)
        with m.If(x_mag >= L):
            m.d.comb += x_shift.eq(0)
        with m.Elif(x_n < 0):
            m.d.comb += x_shift.eq(x_flat >> x_amount)
        with m.Else():
            m.d.comb += x_shift.eq(x_flat << x_amount)

        # ROTATE: z[l] = a[(l - n) mod lanes].
        x_rotate = Signal(width)
        doubled = Cat(x_flat, x_flat) << Cat(C(0, 5), iss.n[:lane_index_bits])
        m.d.comb += x_rotate.eq(doubled[width:2 * width])

        # BCAST: z[l] = a[lane].
        x_lane_words = [x_flat[_LANE_BITS * lane:_LANE_BITS * (lane + 1)] for lane in range(L)]
        x_picked = Signal(_LANE_BITS)
        x_bcast = Signal(width)
        m.d.comb += [x_picked.eq(select(iss.lane[:lane_index_bits], x_lane_words)),
                     x_bcast.eq(x_picked.replicate(L))]

        # Map tables: SETMAP loads table `map` from plane 0 at the end of its issue cycle.
        maps = Signal(data.ArrayLayout(vector_layout(cfg), cfg.sxm_maps))
        x_table = Signal(vector_layout(cfg))
        with m.Switch(iss.map):
            for k in range(cfg.sxm_maps):
                with m.Case(k):
                    m.d.comb += x_table.eq(maps[k])
            with m.Default():  # no such table (an illegal map field): reads as all zeros
                m.d.comb += x_table.eq(0)
        for k in range(cfg.sxm_maps):
            with m.If(x_op["SETMAP"] & ~x_error & (iss.map == k)):
                m.d.sync += maps[k].eq(x_planes[0])

        # PERMUTE: z[l] = a[map[l]] if map[l] < lanes else 0.
        x_permute = Signal(width)
        for lane in range(L):
            entry = x_table[lane]
            pick = select(entry[:lane_index_bits], x_lane_words)
            m.d.comb += x_permute[_LANE_BITS * lane:_LANE_BITS * (lane + 1)].eq(
                Mux(entry < L, pick, 0))

        # TRANSPOSE: z_j[4b + i] = a_i[4b + j] (byte j of output lane 4b + i: plane i, lane 4b + j).
        # A tile of fewer than 4 lanes has no TRANSPOSE (the decoder rejects it): no blocks.
        x_transpose = Signal(width)
        for block in range(L // 4):
            for j in range(4):
                for i in range(4):
                    bit = _LANE_BITS * (4 * block + i) + 8 * j
                    m.d.comb += x_transpose[bit:bit + 8].eq(x_planes[i][4 * block + j])

        # Register the latency-1 result: its planes, taken back out of the lane words.
        x_moved = Signal(width)
        with m.If(x_op["SHIFT"]):
            m.d.comb += x_moved.eq(x_shift)
        with m.Elif(x_op["ROTATE"]):
            m.d.comb += x_moved.eq(x_rotate)
        with m.Elif(x_op["PERMUTE"]):
            m.d.comb += x_moved.eq(x_permute)
        with m.Elif(x_op["BCAST"]):
            m.d.comb += x_moved.eq(x_bcast)
        with m.Else():
            m.d.comb += x_moved.eq(x_transpose)
        r1 = Signal(slot_layout(cfg))
        m.d.sync += [r1.valid.eq(x_move & ~x_error), r1.dir.eq(stream_dir_bit(iss.z)),
                     r1.base.eq(stream_number(iss.z)), r1.mask.eq(x_mask)]
        for j in range(_PLANES):
            for lane in range(L):
                bit = _LANE_BITS * lane + 8 * j
                m.d.sync += r1.planes[j][lane].eq(x_moved[bit:bit + 8])

        # Register a reduction's lanes, sign-extended from its type to 32 bits.
        p = Signal(reduce_layout(cfg))
        x_red_op = Signal(2)
        m.d.comb += x_red_op.eq(Mux(x_op["RMAX"], 1, Mux(x_op["ARGMAX"], 2, 0)))
        m.d.sync += [p.valid.eq(x_reduce & ~x_error), p.op.eq(x_red_op),
                     p.dir.eq(stream_dir_bit(iss.z)), p.base.eq(stream_number(iss.z)),
                     p.mask.eq(Mux(x_op["ARGMAX"], 0b0001, x_mask))]
        for lane, word in enumerate(x_words):
            with m.Switch(iss.dt):
                with m.Case(0):
                    m.d.sync += p.lanes[lane].eq(word[:8].as_signed())
                with m.Case(1):
                    m.d.sync += p.lanes[lane].eq(word[:16].as_signed())
                with m.Default():
                    m.d.sync += p.lanes[lane].eq(word.as_signed())

        # Cycle t + 1: the reduction trees over the registered lanes.
        sums = [p.lanes[lane] for lane in range(L)]
        best = [(p.lanes[lane], C(lane, lane_index_bits + 1)) for lane in range(L)]
        while len(sums) > 1:
            sums = [(sums[k] + sums[k + 1])[:_LANE_BITS] for k in range(0, len(sums), 2)]
            nxt = []
            for k in range(0, len(best), 2):  # the right half wins only if strictly greater
                (lv, li), (rv, ri) = best[k], best[k + 1]
                take = rv > lv
                nxt.append((Mux(take, rv, lv), Mux(take, ri, li)))
            best = nxt
        y_sum = Signal(_LANE_BITS)
        y_max = Signal(signed(_LANE_BITS))
        y_arg = Signal(lane_index_bits + 1)
        m.d.comb += [y_sum.eq(sums[0]), y_max.eq(best[0][0]), y_arg.eq(best[0][1])]
        y_result = Signal(_LANE_BITS)
        with m.Switch(p.op):
            with m.Case(0):
                m.d.comb += y_result.eq(y_sum)
            with m.Case(1):
                m.d.comb += y_result.eq(y_max)
            with m.Default():
                m.d.comb += y_result.eq(y_arg)
        r2 = Signal(slot_layout(cfg))
        m.d.sync += [r2.valid.eq(p.valid), r2.dir.eq(p.dir), r2.base.eq(p.base),
                     r2.mask.eq(p.mask)]
        for j in range(_PLANES):
            m.d.sync += r2.planes[j].eq(y_result[8 * j:8 * j + 8].replicate(L))

        # Present the due results: stream s of direction d takes plane s - base of a slot.
        r1_planes = [r1.planes[j].as_value() for j in range(_PLANES)]
        if self.fault:
            r1_planes[0] = r1_planes[0] ^ 1
        slots = ((r1, r1_planes), (r2, [r2.planes[j].as_value() for j in range(_PLANES)]))
        collisions = []
        for d, side in ((E, self.s_out.e), (W, self.s_out.w)):
            for s in range(S):
                hits, values = [], []
                for k, (slot, planes) in enumerate(slots):
                    slot_hits = []
                    for j in range(min(_PLANES, s + 1)):
                        hit = Signal(name=f"w_hit_{DIRECTION_NAMES[d].lower()}{s}_r{k + 1}_{j}")
                        m.d.comb += hit.eq(slot.valid & (slot.dir == d) & (slot.base == s - j)
                                           & slot.mask[j])
                        slot_hits.append(hit)
                        values.append(Mux(hit, planes[j], 0))
                    hits.append(Cat(slot_hits).any())
                m.d.comb += [side.valid[s].eq(Cat(hits).any()),
                             side.data[s].eq(_or_all(values))]
                collisions.append(hits[0] & hits[1])

        m.d.comb += self.error.eq(x_error | Cat(collisions).any())
        return m


def _or_all(values):
    out = values[0]
    for v in values[1:]:
        out = out | v
    return out
