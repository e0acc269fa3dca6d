"""MXM: the matrix unit of one hemisphere, with its weight (WGT) and activation (ACT) queues.

State: a shadow and an active weight array (``lanes`` x ``lanes`` int8, row k = input lane k,
column j = output lane j), an activation buffer of ``mxm_act_slots`` int8 vectors (a
``lib.memory.Memory``) and ``mxm_accumulators`` int32 accumulator vectors.

Timing, cycle for cycle as ``GoldenTile._mxm_wgt`` / ``_mxm_act`` (instruction issued in cycle t):

* ``LW row, a, n`` (WGT): streams a .. a+n-1 are read in t and land in shadow rows
  (row + j) mod lanes at the end of t.
* ``IW`` (ACT): the active array takes the shadow as it is during t, i.e. before an LW of the
  same cycle lands.
* ``LA slot, a``: buffer slot = stream a at the end of t (write port).
* ``ABC a, acc, add`` / ``ABCB slot, acc, add``: x (stream a, or the buffer slot through the
  synchronous read port) is registered at the end of t; in t+1 the array product x @ active is
  formed and accumulator acc is loaded with ``(add ? acc : 0) + product`` at the end of t+1.
  Computing in t+1 with the active array of t+1 is exact: only an IW changes it, and IW shares
  the ACT issue port with ABC/ABCB, so no IW lands at the end of t.
* ``ACC acc, z``: accumulator acc as it is during t is registered at the end of t and presented
  in t+1 on streams z .. z+3 (byte plane j of every lane on stream z+j).

``error`` is raised in cycle t when LW, LA or ABC reads a stream whose valid bit is 0 (the
golden tile stops there; this unit carries on with the data bits it saw). ``rst`` clears the
weight arrays, the accumulators and the activation buffer: the buffer is a memory, so a
register of per-slot "loaded" bits makes an ABCB of a slot no LA has written since reset
read zeros, as the golden model's zero-initialised buffer does.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.utils import exact_log2

from ..sw.config import TileConfig
from ..sw.isa import BY_MNEMONIC, E, W
from . import common
from .common import group_stream, pick_stream, stream_dir_bit, stream_number, streams_layout

__all__ = ["Mxm"]

ACC_BYTES = 4  # an accumulator vector leaves as an int32 group of 4 byte planes

#: The latency this unit implements for each instruction: ACC's result one cycle after issue,
#: an ABC/ABCB accumulator ready for an ACC two cycles after issue ...
LATENCY = {"LW": 0, "IW": 0, "LA": 0, "ABC": 2, "ABCB": 2, "ACC": 1}
#: ... though it lands at the end of the cycle after issue (stage 2 below).
SETTLE = {"ABC": 1, "ABCB": 1}


def _tree_sum(terms):
    """Sum a list of Amaranth values as a balanced adder tree."""
    terms = list(terms)
    while len(terms) > 1:
        pairs = [terms[i] + terms[i + 1] for i in range(0, len(terms) - 1, 2)]
        terms = pairs + ([terms[-1]] if len(terms) % 2 else [])
    return terms[0]


class Mxm(wiring.Component):
    """The matrix unit: weight load/install, activation buffer, multiply-accumulate, readout.

    Parameters
    ----------
    config : TileConfig
        Gives ``lanes`` (array side and vector width), ``streams``, ``mxm_accumulators`` and
        ``mxm_act_slots``.
    fault : bool
        Negative control: flip bit 0 of lane 0 of every ACC readout of accumulator 0.

    Members
    -------
    issue_wgt : In(issue_layout())
        The WGT queue's instruction this cycle (only ``LW`` is acted on).
    issue_act : In(issue_layout())
        The ACT queue's instruction this cycle (``IW``, ``LA``, ``ABC``, ``ABCB``, ``ACC``).
    s_in, s_out, error :
        The rest of the unit port (``unit_signature``): ``s_out`` carries ACC results, one
        cycle after issue, on four streams of one direction; ``error``: an operand stream read
        this cycle holds no value.
    """

    def __init__(self, config: TileConfig, fault: bool = False):
        common.require_config(config)
        if not isinstance(fault, bool):
            raise TypeError(f"fault must be a bool, not {fault!r}")
        common.check_latencies("MXM", LATENCY, SETTLE)
        self.config, self.fault = config, fault
        super().__init__(common.unit_signature(config, issues=("issue_wgt", "issue_act")))

    def _operand_side(self, m, stream_field, name):
        """The direction (E/W) an operand field selects: its streams and valid bits."""
        side = Signal(streams_layout(self.config), name=name)
        with m.If(stream_dir_bit(stream_field)):
            m.d.comb += side.eq(self.s_in.w)
        with m.Else():
            m.d.comb += side.eq(self.s_in.e)
        return side

    def elaborate(self, platform):
        cfg = self.config
        lanes, streams = cfg.lanes, cfg.streams
        m = Module()

        row_layout = data.ArrayLayout(signed(8), lanes)
        acc_layout = data.ArrayLayout(signed(32), lanes)
        shadow = Signal(data.ArrayLayout(row_layout, lanes))
        active = Signal(data.ArrayLayout(row_layout, lanes))
        accs = Signal(data.ArrayLayout(acc_layout, cfg.mxm_accumulators))

        m.submodules.act_buf = act_buf = Memory(shape=unsigned(8 * lanes),
                                                depth=cfg.mxm_act_slots, init=[])
        buf_wr = act_buf.write_port()
        buf_rd = act_buf.read_port()

        # Decode both queues.
        wgt, act = self.issue_wgt, self.issue_act

        def is_op(issue, mnemonic):
            return issue.valid & (issue.opcode == BY_MNEMONIC[mnemonic].opcode)

        i_lw = is_op(wgt, "LW")
        i_iw, i_la, i_abc, i_abcb, i_acc = (is_op(act, n) for n in ("IW", "LA", "ABC", "ABCB",
                                                                      "ACC"))

        # WGT: LW reads n streams from a, checks their valid bits, fills shadow rows.
        w_side = self._operand_side(m, wgt.a, "w_side")
        w_base = group_stream(cfg, wgt.a)  # LW's n streams lie inside the tile (decoder)
        w_read = Signal(streams)
        for s in range(streams):
            from_base = w_base <= s if s < (1 << len(w_base)) - 1 else 1  # (Verilator CMPCONST)
            m.d.comb += w_read[s].eq(from_base & (s < w_base + wgt.n))
        w_error = i_lw & (w_read & ~w_side.valid).any()
        row_bits = exact_log2(lanes)
        vec_bits = 8 * lanes
        w_window = Signal(streams * vec_bits)  # stream w_base + j at word j
        m.d.comb += w_window.eq(w_side.data.as_value() >> Cat(Const(0, exact_log2(vec_bits)),
                                                                w_base))
        for j in range(streams):
            w_vec = w_window.word_select(j, vec_bits)
            w_row = (wgt.row + j)[:row_bits]
            for r in range(lanes):
                # A later j that wraps onto the same row wins, as in numpy's fancy assignment.
                with m.If(i_lw & (j < wgt.n) & (w_row == r)):
                    m.d.sync += shadow[r].eq(w_vec)

        # ACT: install, operand stream, activation buffer.
        with m.If(i_iw):
            m.d.sync += active.eq(shadow)
        a_vec, a_ok = pick_stream(cfg, self.s_in.e, self.s_in.w, act.a)
        a_error = (i_la | i_abc) & ~a_ok
        m.d.comb += [
            buf_wr.addr.eq(act.slot),
            buf_wr.data.eq(a_vec),
            buf_wr.en.eq(i_la),
            buf_rd.addr.eq(act.slot),
        ]
        m.d.comb += self.error.eq(w_error | a_error)
        loaded = Signal(cfg.mxm_act_slots)
        with m.If(i_la):
            m.d.sync += loaded.bit_select(act.slot, 1).eq(1)

        # ABC/ABCB stage 1 (end of t): register x, the target accumulator and add.
        p1_valid = Signal()
        p1_from_buf = Signal()
        p1_x = Signal(8 * lanes)
        p1_acc = Signal.like(act.acc)
        p1_add = Signal()
        p1_loaded = Signal()
        m.d.sync += [
            p1_loaded.eq(loaded.bit_select(act.slot, 1)),
            p1_valid.eq(i_abc | i_abcb),
            p1_from_buf.eq(i_abcb),
            p1_x.eq(a_vec),
            p1_acc.eq(act.acc),
            p1_add.eq(act.add),
        ]

        # ABC/ABCB stage 2 (t+1): product x @ active, accumulate at the end of t+1.
        m_x = Signal(row_layout)
        m.d.comb += m_x.eq(Mux(p1_from_buf, Mux(p1_loaded, buf_rd.data, 0), p1_x))
        m_prod = Signal(acc_layout)
        for j in range(lanes):
            m.d.comb += m_prod[j].eq(_tree_sum(m_x[k] * active[k][j] for k in range(lanes)))
        for i in range(cfg.mxm_accumulators):
            with m.If(p1_valid & (p1_acc == i)):
                for j in range(lanes):
                    m.d.sync += accs[i][j].eq(Mux(p1_add, accs[i][j], 0) + m_prod[j])

        # ACC: register accumulator acc as it is in t; present its byte planes in t+1.
        rd_acc = Signal(acc_layout)
        m.d.comb += rd_acc.eq(accs[act.acc])
        if self.fault:
            rd_acc_f = Signal(acc_layout)
            m.d.comb += rd_acc_f.eq(rd_acc.as_value() ^ (act.acc == 0))
            rd_acc = rd_acc_f
        o_valid = Signal()
        o_west = Signal()
        o_base = Signal(5)
        o_acc = Signal(acc_layout)
        m.d.sync += [
            o_valid.eq(i_acc),
            o_west.eq(stream_dir_bit(act.z)),
            o_base.eq(stream_number(act.z)),
            o_acc.eq(rd_acc),
        ]
        planes = [Cat(o_acc[lane][8 * b:8 * b + 8] for lane in range(lanes))
                  for b in range(ACC_BYTES)]
        for direction, side in ((E, self.s_out.e), (W, self.s_out.w)):
            for s in range(streams):
                for b in range(ACC_BYTES):
                    with m.If(o_valid & (o_west == direction) & (o_base + b == s)):
                        m.d.comb += [side.data[s].eq(planes[b]), side.valid[s].eq(1)]
        return m
