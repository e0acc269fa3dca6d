"""Stimulus and reference model of the MXM testbench: numpy and ``lpu.sw`` only, no cocotb.

``Op``/``Cycle`` describe what both queues issue and which streams sit at the inputs in one
cycle; ``MxmModel`` steps the MXM state the way ``GoldenTile._mxm_wgt``/``_mxm_act``/
``end_of_cycle`` do, calling ``units.mxm_product``, ``units.to_planes``/``from_planes`` and
``units.vxm_binary`` for all arithmetic, and returns what the unit must show in that cycle
(``error``, ``s_out``); ``Stim`` builds cycle lists; ``random_cycles`` and the ``scenario_*``
functions make the random stimulus and the directed corners (each scenario carries its own
explicit check). ``verif/tb_mxm.py`` drives them on the RTL.

On a stream read that holds no value the golden model stops the tile; the RTL raises ``error``
and carries on with the data bits it saw. The model does the same, so a run can continue past
an injected error and both stay comparable.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from lpu.sw import units
from lpu.sw.config import TileConfig
from lpu.sw.isa import DTYPE_INFO, E, W, stream_dir, stream_index
from lpu.sw.isa import stream_operand as stream

ACC_BYTES = DTYPE_INFO["i32"].bytes  # an accumulator row leaves as one i32 group
ACT_OPS = ("IW", "LA", "ABC", "ABCB", "ACC")


# ---------------------------------------------------------------------------------------------
# Stimulus and reference model: numpy and lpu.sw only
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    """One instruction as a queue issues it: mnemonic and raw ISA field values."""

    mnemonic: str
    values: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.mnemonic} {self.values}"


def lw(row: int, a: int, n: int) -> Op:
    return Op("LW", {"row": row, "a": a, "n": n})


def iw() -> Op:
    return Op("IW")


def la(slot: int, a: int) -> Op:
    return Op("LA", {"slot": slot, "a": a})


def abc(a: int, acc: int, add: int) -> Op:
    return Op("ABC", {"a": a, "acc": acc, "add": add})


def abcb(slot: int, acc: int, add: int) -> Op:
    return Op("ABCB", {"slot": slot, "acc": acc, "add": add})


def acc_out(acc: int, z: int) -> Op:
    return Op("ACC", {"acc": acc, "z": z})


@dataclass
class Cycle:
    """Stimulus of one cycle: the WGT and ACT issue (or None) and the streams at the inputs."""

    wgt: Op | None
    act: Op | None
    data: np.ndarray  # (2, streams, lanes) uint8: [E] from the west, [W] from the east
    valid: np.ndarray  # (2, streams) bool


@dataclass
class Outputs:
    """What the unit shows in one cycle."""

    error: bool
    data: np.ndarray  # (2, streams, lanes) uint8, meaningful where valid
    valid: np.ndarray  # (2, streams) bool


class MxmModel:
    """Cycle-level MXM state, stepped like ``GoldenTile`` (issue in t, effects at end of t+d)."""

    def __init__(self, cfg: TileConfig):
        self.cfg = cfg
        lanes = cfg.lanes
        self.shadow = np.zeros((lanes, lanes), np.int8)
        self.active = np.zeros((lanes, lanes), np.int8)
        self.acc = np.zeros((cfg.mxm_accumulators, lanes), np.int32)
        self.act = np.zeros((cfg.mxm_act_slots, lanes), np.int8)
        self.pending: dict[int, list] = defaultdict(list)  # cycle -> end-of-cycle effects
        self.t = 0

    def _read(self, c: Cycle, operand: int, width: int) -> tuple[np.ndarray, bool]:
        """Planes (width, lanes) of the streams from ``operand``; True if one holds no value."""
        d, base = stream_dir(operand), stream_index(operand)
        return c.data[d, base:base + width].copy(), not c.valid[d, base:base + width].all()

    def step(self, c: Cycle) -> Outputs:
        """Issue cycle ``self.t``; return the unit's outputs in that cycle; apply end of cycle."""
        t, lanes, s = self.t, self.cfg.lanes, self.cfg.streams
        error = False
        if c.wgt is not None:
            v = c.wgt.values
            assert c.wgt.mnemonic == "LW", c.wgt
            planes, bad = self._read(c, v["a"], v["n"])
            error |= bad
            rows = [(v["row"] + j) % lanes for j in range(v["n"])]
            self.pending[t].append(("rows", self.shadow, rows, planes.view(np.int8)))
        if c.act is not None:
            name, v = c.act.mnemonic, c.act.values
            if name == "IW":
                self.active = self.shadow.copy()
            elif name == "LA":
                plane, bad = self._read(c, v["a"], 1)
                error |= bad
                self.pending[t].append(("rows", self.act, [v["slot"]],
                                        units.from_planes(plane, "i8")[None, :]))
            elif name in ("ABC", "ABCB"):
                if name == "ABC":
                    plane, bad = self._read(c, v["a"], 1)
                    error |= bad
                    x = units.from_planes(plane, "i8")
                else:
                    x = self.act[v["slot"]].copy()
                prod = units.mxm_product(x, self.active)
                self.pending[t + 1].append(("acc", v["acc"], v["add"], prod))
            elif name == "ACC":
                planes = units.to_planes(self.acc[v["acc"]].copy())
                self.pending[t + 1].append(("out", v["z"], planes))
            else:
                raise ValueError(f"{name} is not an ACT instruction")
        out = Outputs(error, np.zeros((2, s, lanes), np.uint8), np.zeros((2, s), bool))
        for eff in self.pending.pop(t, []):
            if eff[0] == "rows":
                _, target, rows, rows_data = eff
                target[rows] = rows_data
            elif eff[0] == "acc":
                _, idx, add, prod = eff
                self.acc[idx] = units.vxm_binary("ADD", "i32", self.acc[idx], prod) if add \
                    else prod
            else:
                _, z, planes = eff
                d, base = stream_dir(z), stream_index(z)
                out.data[d, base:base + ACC_BYTES] = planes
                out.valid[d, base:base + ACC_BYTES] = True
        self.t = t + 1
        return out


def acc_result(outs: list[Outputs], t_acc: int, z: int) -> np.ndarray:
    """The int32 vector an ACC issued in cycle ``t_acc`` to group ``z`` put on the streams."""
    o = outs[t_acc + 1]
    d, base = stream_dir(z), stream_index(z)
    assert o.valid[d, base:base + ACC_BYTES].all(), f"ACC at {t_acc}: no output in {t_acc + 1}"
    return units.from_planes(o.data[d, base:base + ACC_BYTES], "i32")


class Stim:
    """Build a list of cycles; streams not named carry random bytes with random valid bits."""

    def __init__(self, cfg: TileConfig, rng: np.random.Generator, valid_rate: float = 0.7):
        self.cfg, self.rng, self.valid_rate = cfg, rng, valid_rate
        self.cycles: list[Cycle] = []

    def cycle(self, wgt: Op | None = None, act: Op | None = None,
              put: dict[tuple[int, int], np.ndarray] | None = None,
              invalid: tuple[tuple[int, int], ...] = ()) -> int:
        """Append one cycle; ``put`` sets (direction, stream) -> int8/uint8 vector (valid)."""
        cfg = self.cfg
        data = self.rng.integers(0, 256, (2, cfg.streams, cfg.lanes), dtype=np.uint8)
        valid = self.rng.random((2, cfg.streams)) < self.valid_rate
        for (d, s), vec in (put or {}).items():
            data[d, s] = np.asarray(vec).astype(np.int64) & 0xFF
            valid[d, s] = True
        for d, s in invalid:
            valid[d, s] = False
        self.cycles.append(Cycle(wgt, act, data, valid))
        return len(self.cycles) - 1

    def idle(self, n: int = 1) -> None:
        for _ in range(n):
            self.cycle()

    def load_tile(self, w: np.ndarray, d: int = E, base: int = 0,
                  acts: list[tuple[Op, dict]] | None = None) -> list[int]:
        """LW a full lanes x lanes tile, min(streams - base, lanes) rows a cycle; ``acts`` are
        (ACT op, its streams) issued alongside, one per cycle. Returns the cycle indices."""
        lanes = self.cfg.lanes
        n = min(self.cfg.streams - base, lanes)
        acts = list(acts or [])
        out = []
        for r0 in range(0, lanes, n):
            k = min(n, lanes - r0)
            put = {(d, base + j): w[r0 + j] for j in range(k)}
            act, act_put = acts.pop(0) if acts else (None, {})
            assert not set(put) & set(act_put), "LW and ACT operands overlap"
            out.append(self.cycle(wgt=lw(r0, stream(d, base), k), act=act,
                                  put={**put, **act_put}))
        for act, act_put in acts:
            out.append(self.cycle(act=act, put=act_put))
        return out

    def clear_buffer(self) -> None:
        """LA zeros into every activation slot, so every slot holds a written value."""
        zero = np.zeros(self.cfg.lanes, np.int8)
        for slot in range(self.cfg.mxm_act_slots):
            self.cycle(act=la(slot, stream(E, 0)), put={(E, 0): zero})


@dataclass
class Scenario:
    """A directed corner: its cycles and an explicit check of the outputs they produce."""

    name: str
    cycles: list[Cycle]
    check: Callable[[list[Outputs]], None]


def _i8(rng: np.random.Generator, shape) -> np.ndarray:
    return rng.integers(-128, 128, shape, dtype=np.int64).astype(np.int8)


def _style(rng: np.random.Generator, lanes: int) -> np.ndarray:
    """An int8 vector: mostly uniform, sometimes all -128, all 127 or alternating -128/127."""
    k = rng.integers(0, 10)
    if k == 0:
        return np.full(lanes, -128, np.int8)
    if k == 1:
        return np.full(lanes, 127, np.int8)
    if k == 2:
        return np.where(np.arange(lanes) % 2, 127, -128).astype(np.int8)
    return _i8(rng, lanes)


def random_cycles(cfg: TileConfig, seed: int, transactions: int,
                  error_rate: float = 0.02) -> tuple[list[Cycle], int]:
    """Seeded random traffic on both queues until ``transactions`` instructions have issued.

    Returns the cycles (after an activation-buffer clear) and the number of instructions.
    """
    pr = random.Random(seed)
    rng = np.random.default_rng(seed)
    st = Stim(cfg, rng, valid_rate=0.8)
    st.clear_buffer()
    lanes, s = cfg.lanes, cfg.streams
    issued = 0
    while issued < transactions:
        reads: list[tuple[int, int]] = []
        wgt = act = None
        if pr.random() < 0.45:
            n = pr.randint(1, s)
            d, base = pr.randint(0, 1), pr.randint(0, s - n)
            wgt = lw(pr.randrange(lanes), stream(d, base), n)
            reads += [(d, base + j) for j in range(n)]
        name = pr.choices((None, *ACT_OPS), weights=(10, 10, 12, 30, 18, 20))[0]
        if name in ("LA", "ABC"):
            d, a = pr.randint(0, 1), pr.randrange(s)
            reads.append((d, a))
            act = (la(pr.randrange(cfg.mxm_act_slots), stream(d, a)) if name == "LA"
                   else abc(stream(d, a), pr.randrange(cfg.mxm_accumulators),
                            int(pr.random() < 0.7)))
        elif name == "ABCB":
            act = abcb(pr.randrange(cfg.mxm_act_slots), pr.randrange(cfg.mxm_accumulators),
                       int(pr.random() < 0.7))
        elif name == "ACC":
            act = acc_out(pr.randrange(cfg.mxm_accumulators),
                          stream(pr.randint(0, 1), ACC_BYTES * pr.randrange(s // ACC_BYTES)))
        elif name == "IW":
            act = iw()
        put = {r: _style(rng, lanes) for r in reads}
        invalid = (pr.choice(reads),) if reads and pr.random() < error_rate else ()
        st.cycle(wgt=wgt, act=act, put=put, invalid=invalid)
        issued += (wgt is not None) + (act is not None)
    st.idle(3)
    return st.cycles, issued


def _full_tile(cfg: TileConfig, value) -> np.ndarray:
    return np.full((cfg.lanes, cfg.lanes), value, np.int8)


def scenario_extremes(cfg: TileConfig, rng: np.random.Generator) -> Scenario:
    """All -128 weights and activations (the largest product), via ABC and ABCB, then 127."""
    lanes = cfg.lanes
    st = Stim(cfg, rng)
    st.clear_buffer()
    st.load_tile(_full_tile(cfg, -128))
    lo, hi = np.full(lanes, -128, np.int8), np.full(lanes, 127, np.int8)
    st.cycle(act=iw())
    st.cycle(act=la(3, stream(W, 1)), put={(W, 1): lo})
    st.cycle(act=abc(stream(E, 2), 0, 0), put={(E, 2): lo})
    st.cycle(act=abcb(3, 1, 0))
    t0 = st.cycle(act=acc_out(0, stream(E, 0)))
    t1 = st.cycle(act=acc_out(1, stream(W, 4 % cfg.streams)))
    st.cycle(act=abc(stream(W, 0), 0, 1), put={(W, 0): hi})  # adds -127 * 128 * lanes
    st.idle()
    t2 = st.cycle(act=acc_out(0, stream(E, 0)))
    st.idle()

    def check(outs):
        big = 128 * 128 * lanes
        assert (acc_result(outs, t0, stream(E, 0)) == big).all()
        assert (acc_result(outs, t1, stream(W, 4 % cfg.streams)) == big).all()
        assert (acc_result(outs, t2, stream(E, 0)) == big - 127 * 128 * lanes).all()
    return Scenario("extremes", st.cycles, check)


def scenario_wrap(cfg: TileConfig, rng: np.random.Generator) -> Scenario:
    """Alternating -128/127 weights: int32 accumulation overflows and wraps in both directions.

    Column j is -128 (even j) or 127 (odd j), x is all -128: each ABC adds 16384 * lanes to even
    lanes and -16256 * lanes to odd lanes; enough ABCs (add=1) pass 2**31 on both sides. ACCs
    every 256 ABCs watch the partial sums through the wrap.
    """
    lanes = cfg.lanes
    w = np.tile(np.where(np.arange(lanes) % 2, 127, -128).astype(np.int8), (lanes, 1))
    x = np.full(lanes, -128, np.int8)
    step = x.astype(np.int64) @ w.astype(np.int64)
    count = (1 << 31) // (127 * 128 * lanes) + 300
    st = Stim(cfg, rng)
    st.clear_buffer()
    st.load_tile(w)
    st.cycle(act=iw())
    reads = []
    for i in range(count):
        st.cycle(act=abc(stream(E, 1), 1, int(i > 0)), put={(E, 1): x})
        if i % 256 == 255 or i == count - 1:
            st.idle()
            reads.append((st.cycle(act=acc_out(1, stream(W, 0))), i + 1))
    st.idle()

    def check(outs):
        for t, n in reads:
            want = units.wrap(step * n, "i32")
            assert (acc_result(outs, t, stream(W, 0)) == want).all(), (t, n)
        assert (step * count > (1 << 31) - 1)[0] and (step * count < -(1 << 31))[1]
    return Scenario("wrap", st.cycles, check)


def scenario_identity(cfg: TileConfig, rng: np.random.Generator) -> Scenario:
    """Identity weights: y = x, for extreme and random x, through ABC and ABCB."""
    lanes, slots = cfg.lanes, cfg.mxm_act_slots
    st = Stim(cfg, rng)
    st.clear_buffer()
    st.load_tile(np.eye(lanes, dtype=np.int8), d=W, base=0)
    st.cycle(act=iw())
    xs = [np.full(lanes, -128, np.int8), np.full(lanes, 127, np.int8), _i8(rng, lanes),
          _i8(rng, lanes)]
    reads = []
    for i, x in enumerate(xs):
        if i % 2:
            st.cycle(act=la(slots - 1, stream(E, 3)), put={(E, 3): x})
            st.cycle(act=abcb(slots - 1, i % 2, 0))
        else:
            st.cycle(act=abc(stream(E, 3), i % 2, 0), put={(E, 3): x})
        st.idle()
        reads.append((st.cycle(act=acc_out(i % 2, stream(E, 0))), x))
    st.idle()

    def check(outs):
        for t, x in reads:
            assert (acc_result(outs, t, stream(E, 0)) == x.astype(np.int32)).all()
    return Scenario("identity", st.cycles, check)


def scenario_back_to_back(cfg: TileConfig, rng: np.random.Generator) -> Scenario:
    """LW tile A, IW; LW tile B while ABCs use A; IW; ABC on B; LW tile C while an ABC uses B;
    IW; ABC on C. Each weight install is checked through its own accumulator readout."""
    lanes = cfg.lanes
    a_w, b_w, c_w = (_i8(rng, (lanes, lanes)) for _ in range(3))
    x = _i8(rng, (5, lanes))
    g4 = 4 % cfg.streams  # a second aligned int32 group (the first when streams == 4)
    st = Stim(cfg, rng)
    st.clear_buffer()
    st.load_tile(a_w, d=E, base=0)
    st.cycle(act=iw())  # installs A
    # B loads on W streams while the ACT queue runs ABCs on A (E streams).
    st.load_tile(b_w, d=W, base=0, acts=[(abc(stream(E, 0), 0, 0), {(E, 0): x[0]}),
                                         (abc(stream(E, 1), 1, 0), {(E, 1): x[1]})])
    st.cycle(act=iw())  # installs B
    reads = [(st.cycle(act=acc_out(0, stream(E, 0))), stream(E, 0), x[0], a_w)]
    st.cycle(act=abc(stream(W, 2), 0, 0), put={(W, 2): x[2]})  # on B
    reads.append((st.cycle(act=acc_out(1, stream(W, g4))), stream(W, g4), x[1], a_w))
    reads.append((st.cycle(act=acc_out(0, stream(E, 0))), stream(E, 0), x[2], b_w))
    # C loads on E streams 1.. while an ABC on B runs.
    st.load_tile(c_w, d=E, base=1, acts=[(abc(stream(E, 0), 1, 0), {(E, 0): x[3]})])
    st.cycle(act=iw())  # installs C
    st.cycle(act=abc(stream(W, 0), 0, 0), put={(W, 0): x[4]})  # on C
    st.idle()
    reads.append((st.cycle(act=acc_out(1, stream(E, 0))), stream(E, 0), x[3], b_w))
    reads.append((st.cycle(act=acc_out(0, stream(E, g4))), stream(E, g4), x[4], c_w))
    st.idle()

    def check(outs):
        for t, z, xv, w_ in reads:
            assert (acc_result(outs, t, z) == xv.astype(np.int64) @ w_.astype(np.int64)).all(), t
    return Scenario("back_to_back", st.cycles, check)


def scenario_iw_lw_same_cycle(cfg: TileConfig, rng: np.random.Generator) -> Scenario:
    """IW in the same cycle as an LW: IW installs the shadow as it was before that LW."""
    lanes = cfg.lanes
    a_w, b_rows = _i8(rng, (lanes, lanes)), _i8(rng, (4, lanes))
    x = _i8(rng, lanes)
    st = Stim(cfg, rng)
    st.clear_buffer()
    st.load_tile(a_w)
    # LW of 4 rows from row lanes-2 (wrapping to rows 0, 1) together with IW.
    row0 = lanes - 2
    st.cycle(wgt=lw(row0, stream(W, 0), 4), act=iw(), put={(W, j): b_rows[j] for j in range(4)})
    st.cycle(act=abc(stream(E, 0), 0, 0), put={(E, 0): x})  # uses A
    st.cycle(act=iw())  # now A with rows row0.. replaced by B
    t_a = st.cycle(act=acc_out(0, stream(E, 4 % cfg.streams)))
    st.cycle(act=abc(stream(E, 0), 0, 0), put={(E, 0): x})
    st.idle()
    t_b = st.cycle(act=acc_out(0, stream(E, 0)))
    st.idle()
    mixed = a_w.copy()
    mixed[[(row0 + j) % lanes for j in range(4)]] = b_rows

    def check(outs):
        xa = x.astype(np.int64)
        assert (acc_result(outs, t_a, stream(E, 4 % cfg.streams)) == xa @ a_w).all()
        assert (acc_result(outs, t_b, stream(E, 0)) == xa @ mixed.astype(np.int64)).all()
    return Scenario("iw_lw_same_cycle", st.cycles, check)


def scenario_la_abcb(cfg: TileConfig, rng: np.random.Generator) -> Scenario:
    """LA then ABCB the next cycle sees the new slot; an ABCB before the LA sees the old one."""
    lanes, slots = cfg.lanes, cfg.mxm_act_slots
    w_ = _i8(rng, (lanes, lanes))
    x_old, x_new = _i8(rng, lanes), _i8(rng, lanes)
    slot = slots // 2
    st = Stim(cfg, rng)
    st.clear_buffer()
    st.load_tile(w_)
    st.cycle(act=iw())
    st.cycle(act=la(slot, stream(W, 1)), put={(W, 1): x_old})
    st.cycle(act=abcb(slot, 0, 0))  # x_old, right after its LA
    st.cycle(act=la(slot, stream(E, 2)), put={(E, 2): x_new})
    st.cycle(act=abcb(slot, 1, 0))  # x_new
    t0 = st.cycle(act=acc_out(0, stream(E, 0)))
    t1 = st.cycle(act=acc_out(1, stream(E, 0)))
    st.idle()

    def check(outs):
        wi = w_.astype(np.int64)
        assert (acc_result(outs, t0, stream(E, 0)) == x_old.astype(np.int64) @ wi).all()
        assert (acc_result(outs, t1, stream(E, 0)) == x_new.astype(np.int64) @ wi).all()
    return Scenario("la_abcb", st.cycles, check)


def scenario_acc_timing(cfg: TileConfig, rng: np.random.Generator) -> Scenario:
    """ACC 1 cycle after ABC sees the old value, 2 cycles after sees the new one; back-to-back
    ABCs with add=1 on one accumulator accumulate both."""
    lanes = cfg.lanes
    w_ = _i8(rng, (lanes, lanes))
    x = _i8(rng, (3, lanes))
    st = Stim(cfg, rng)
    st.clear_buffer()
    st.load_tile(w_)
    st.cycle(act=iw())
    st.cycle(act=abc(stream(E, 0), 0, 0), put={(E, 0): x[0]})
    st.idle()
    st.cycle(act=abc(stream(E, 0), 0, 0), put={(E, 0): x[1]})
    t_early = st.cycle(act=acc_out(0, stream(E, 0)))  # 1 after: still x0 @ w
    t_exact = st.cycle(act=acc_out(0, stream(W, 0)))  # 2 after: x1 @ w
    st.cycle(act=abc(stream(E, 1), 0, 1), put={(E, 1): x[0]})
    st.cycle(act=abc(stream(E, 1), 0, 1), put={(E, 1): x[2]})
    st.idle()
    t_sum = st.cycle(act=acc_out(0, stream(E, 0)))
    st.idle()

    def check(outs):
        p = [v.astype(np.int64) @ w_.astype(np.int64) for v in x]
        assert (acc_result(outs, t_early, stream(E, 0)) == p[0]).all()
        assert (acc_result(outs, t_exact, stream(W, 0)) == p[1]).all()
        assert (acc_result(outs, t_sum, stream(E, 0)) == p[1] + p[0] + p[2]).all()
    return Scenario("acc_timing", st.cycles, check)


def scenario_chain64(cfg: TileConfig, rng: np.random.Generator) -> Scenario:
    """Accumulate chains of 64 back-to-back ABCs (add=1 after the first), on each accumulator,
    and one chain interleaving ABC and ABCB on two accumulators."""
    lanes, nacc, slots = cfg.lanes, cfg.mxm_accumulators, cfg.mxm_act_slots
    w_ = _i8(rng, (lanes, lanes))
    st = Stim(cfg, rng)
    st.clear_buffer()
    st.load_tile(w_)
    st.cycle(act=iw())
    want, reads = {}, []
    for acc in range(nacc):
        xs = [_style(rng, lanes) for _ in range(64)]
        for i, x in enumerate(xs):
            st.cycle(act=abc(stream(i % 2, i % cfg.streams), acc, int(i > 0)),
                     put={(i % 2, i % cfg.streams): x})
        st.idle()
        reads.append((st.cycle(act=acc_out(acc, stream(E, 0))), acc))
        want[acc] = sum(x.astype(np.int64) @ w_.astype(np.int64) for x in xs)
    xs = [_i8(rng, lanes) for _ in range(slots)]
    for i, x in enumerate(xs):
        st.cycle(act=la(i, stream(W, 2)), put={(W, 2): x})
    sums = {0: 0, 1: 0}
    for i in range(64):
        acc = i % 2
        if i % 3:
            st.cycle(act=abcb(i % slots, acc, 1))
            sums[acc] = sums[acc] + xs[i % slots].astype(np.int64) @ w_.astype(np.int64)
        else:
            x = _i8(rng, lanes)
            st.cycle(act=abc(stream(E, 3), acc, 1), put={(E, 3): x})
            sums[acc] = sums[acc] + x.astype(np.int64) @ w_.astype(np.int64)
    st.idle()
    t0 = st.cycle(act=acc_out(0, stream(E, 0)))
    t1 = st.cycle(act=acc_out(1, stream(W, 0)))
    st.idle()

    def check(outs):
        for t, acc in reads:
            assert (acc_result(outs, t, stream(E, 0)) == units.wrap(want[acc], "i32")).all()
        assert (acc_result(outs, t0, stream(E, 0)) ==
                units.wrap(want[0] + sums[0], "i32")).all()
        assert (acc_result(outs, t1, stream(W, 0)) ==
                units.wrap(want[1] + sums[1], "i32")).all()
    return Scenario("chain64", st.cycles, check)


def scenario_error(cfg: TileConfig, rng: np.random.Generator) -> Scenario:
    """Reads of invalid streams raise error in the issue cycle; reads of valid ones, invalid
    streams nobody reads, and IW/ABCB/ACC (which read no stream) do not."""
    lanes, s = cfg.lanes, cfg.streams
    v = _i8(rng, (s, lanes))
    st = Stim(cfg, rng)
    st.clear_buffer()
    every = tuple((d, k) for d in (E, W) for k in range(s))
    expect = {}

    def put(d, lo, hi):
        return {(d, k): v[k] for k in range(lo, hi)}

    n = min(4, s)
    expect[st.cycle(wgt=lw(0, stream(W, 0), n), put=put(W, 0, n),
                    invalid=((W, n - 1),))] = True  # last of the n streams
    expect[st.cycle(wgt=lw(0, stream(W, 0), n), put=put(W, 1, n),
                    invalid=((W, 0),))] = True  # first
    expect[st.cycle(wgt=lw(1, stream(E, 1), n - 1), put=put(E, 1, n),
                    invalid=((E, 0), (W, 1), (W, 2)))] = False  # neighbours invalid only
    expect[st.cycle(act=abc(stream(E, 2), 0, 0), invalid=((E, 2),))] = True
    expect[st.cycle(act=abc(stream(E, 2), 0, 0), put=put(E, 2, 3),
                    invalid=((W, 2), (E, 1), (E, 3 % s)))] = False
    expect[st.cycle(act=la(0, stream(W, s - 1)), invalid=((W, s - 1),))] = True
    expect[st.cycle(act=la(0, stream(W, 0)), put=put(W, 0, 1), invalid=((E, 0),))] = False
    expect[st.cycle(act=iw(), invalid=every)] = False
    expect[st.cycle(act=abcb(1, 0, 1), invalid=every)] = False
    expect[st.cycle(act=acc_out(0, stream(E, 0)), invalid=every)] = False
    expect[st.cycle(invalid=every)] = False
    expect[st.cycle(wgt=lw(2, stream(E, 0), s), put=put(E, 0, s),
                    act=abc(stream(W, 1), 1, 0),
                    invalid=((W, 1),))] = True  # only the ACT read is bad
    expect[st.cycle(wgt=lw(2, stream(E, 0), s), put=put(E, 0, s - 1),
                    act=abc(stream(W, 1), 1, 0),
                    invalid=((E, s - 1),))] = True  # only the WGT read is bad
    st.idle()

    def check(outs):
        for t, bad in expect.items():
            assert outs[t].error == bad, (t, bad)
    return Scenario("error", st.cycles, check)


def scenarios(cfg: TileConfig) -> dict[str, Callable[[TileConfig, np.random.Generator], Scenario]]:
    """The directed corners by name; they use accumulators 0 and 1 and act slots 0 .. 3."""
    if cfg.mxm_accumulators < 2 or cfg.mxm_act_slots < 4:
        raise ValueError("the directed MXM scenarios need 2 accumulators and 4 act slots")
    return SCENARIOS


SCENARIOS = {f.__name__.removeprefix("scenario_"): f for f in (
    scenario_extremes, scenario_wrap, scenario_identity, scenario_back_to_back,
    scenario_iw_lw_same_cycle, scenario_la_abcb, scenario_acc_timing, scenario_chain64,
    scenario_error)}
