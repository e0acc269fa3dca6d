"""Cycle-level golden model of one tile, built on the per-unit functions of ``units.py``.

It executes an image's queue words cycle by cycle, independently of the static scheduler: its
own queue sequencers issue instructions, stream registers shift one slice per cycle, and every
effect lands at the end of the cycle the ISA latency gives. ``cycles`` must equal the
assembler's prediction. Any misuse (a read of a stream holding no value, two writers on one
register, a bank read and written in one cycle, an illegal REPEAT, an address out of range,
a RECV with nothing delivered, a deadlock) stops the tile with an error, as the RTL will.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from dataclasses import dataclass, field

import numpy as np

from . import units
from .c2c import link_format
from .hostjob import RunResult
from .isa import (
    BY_MNEMONIC,
    DTYPE_INFO,
    DTYPES,
    E,
    Instr,
    W,
    step_range,
    stream_dir,
    stream_index,
    stream_operand,
    stream_text,
    stream_width,
)
from .program import Item, LoweredProgram, require_lowered, symbol_from_words, symbol_words

_HALT_ITEM = Item(BY_MNEMONIC["HALT"], {})
_TIME_EPS = 1e-9  # link arrival times and clock edges compared in units of a clock period
DEFAULT_MAX_CYCLES = 10_000_000
PROGRESS_SECONDS = 1.5  # wall time between two progress calls of a long run


class TileError(Exception):
    """A run-time error: the tile stops and reports it (the RTL raises its error flag)."""

    def __init__(self, cycle: int, queue: str, message: str):
        super().__init__(f"cycle {cycle}, {queue}: {message}")
        self.cycle, self.queue, self.message = cycle, queue, message


class CycleLimit(TileError):
    """The run reached its cycle limit before done (a limit the caller can raise)."""

    def __init__(self, cycle: int, limit: int, note: str = ""):
        super().__init__(cycle, "tile", f"no done after {limit} cycles{note}")
        self.limit = limit


class Link:
    """A one-way C2C link. A vector sent at time ``now`` by a tile whose clock period is
    ``period`` arrives ``latency`` sender cycles later; a RECV takes the oldest vector that has
    arrived by the time it issues (the receiver's elastic buffer), or finds none."""

    def __init__(self, latency: int):
        if latency < 1:
            raise ValueError(f"link latency must be at least 1, not {latency}")
        self.latency = latency
        self.in_flight: deque[tuple[float, np.ndarray]] = deque()

    def send(self, now: float, vector: np.ndarray, period: float = 1.0) -> None:
        self.in_flight.append((now + self.latency * period, vector.copy()))

    def receive(self, now: float) -> np.ndarray | None:
        if self.in_flight and self.in_flight[0][0] <= now + _TIME_EPS:
            return self.in_flight.popleft()[1]
        return None


@dataclass
class _Queue:
    name: str
    unit: str
    position: int
    items: list
    pc: int = 0
    next: int = 0  # schedule cycle of the next fetch
    last: tuple | None = None  # (instr, values, cycle) of the last unit issue: REPEAT's target
    repeats: list = field(default_factory=list)  # pending repetitions: (cycle, values)
    sync: int | None = None
    halted: int | None = None


class GoldenTile:
    """One tile's architectural state and its cycle-by-cycle execution."""

    def __init__(self, program: LoweredProgram, trace: bool = False):
        require_lowered(program, "the golden model")
        cfg = self.cfg = program.config
        self.program = program
        self.P, self.S, self.L = cfg.positions, cfg.streams, cfg.lanes
        self.reg = np.zeros((2, self.P, self.S, self.L), np.uint8)
        self.valid = np.zeros((2, self.P, self.S), bool)
        self.fresh = np.zeros((2, self.P, self.S), bool)  # written by the slice at that position
        self.mem = {s.name: np.zeros((cfg.addresses, self.L), np.uint8)
                    for s in cfg.slices if s.kind == "MEM"}
        for (sl, addr), data in program.segments.items():
            words = np.frombuffer(data, np.uint8).reshape(-1, self.L)
            self.mem[sl][addr:addr + len(words)] = words
        L = self.L
        self.mxm = {s.name: {"shadow": np.zeros((L, L), np.int8), "active": np.zeros((L, L), np.int8),
                             "acc": np.zeros((cfg.mxm_accumulators, L), np.int32),
                             "act": np.zeros((cfg.mxm_act_slots, L), np.int8)}
                    for s in cfg.slices if s.kind == "MXM"}
        self.sxm_maps = {s.name: np.zeros((cfg.sxm_maps, L), np.uint8)
                         for s in cfg.slices if s.kind == "SXM"}
        self.alu = {q.name: {"mult": 0, "shift": 0, "r": np.zeros(L, np.int32)}
                    for q in cfg.queues if q.unit == "VXM"}
        self.queues = [_Queue(q.name, q.unit, q.slice.position, program.queues.get(q.name, []))
                       for q in cfg.queues]
        self.links_out: dict[tuple[str, int], Link] = {}
        self.links_in: dict[tuple[str, int], Link] = {}
        self.pending: dict[int, list] = defaultdict(list)
        self.bank_use: dict[tuple[str, int, int], str] = {}
        self.cycle = 0  # schedule cycle
        self.frozen = 0
        self.freeze_next = 0
        self.busy = {q.name: 0 for q in self.queues}
        self.issues: list[tuple[int, str, str]] = []
        self.trace = trace
        self.period, self.phase = 1.0, 0.0  # this tile's clock: wall cycle w at phase + w * period
        self.reference: GoldenTile | None = None  # whose clock the HAC counts (None: its own)
        self.anchor = 0  # wall cycle of the last DESKEW / RUNTIME_DESKEW (drift measured since)
        self.last_send: dict[tuple[str, int], int] = {}
        self.frame_cycles = link_format(cfg).frame_words
        self.done = False
        self.error: TileError | None = None
        self.deadlock: TileError | None = None  # found at the end of the last cycle

    # Host side

    def load(self, name: str, array) -> None:
        sym = self.program.symbols[name]
        for w, word in symbol_words(sym, array, self.L):
            sl, addr = sym.word_address(w)
            self.mem[sl][addr] = word

    def read(self, name: str) -> np.ndarray:
        sym = self.program.symbols[name]
        words = [self.mem[sl][addr] for sl, addr in
                 (sym.word_address(w) for w in range(sym.words(self.L)))]
        return symbol_from_words(sym, words, self.L)

    @property
    def wall_cycles(self) -> int:
        return self.cycle + self.frozen

    @property
    def now(self) -> float:
        """Time of this tile's current wall cycle on its own clock (``period``, ``phase``)."""
        return self.phase + self.wall_cycles * self.period

    def hac_count(self, w: int) -> int:
        """The HAC at this tile's wall cycle w, not wrapped: the reference tile's clock cycles
        since its start. A HAC aligned by the C2C protocol counts that to within one cycle."""
        ref = self.reference
        if ref is None or ref is self:
            return w
        return int(np.floor((self.phase + w * self.period - ref.phase) / ref.period + _TIME_EPS))

    # Execution

    def run(self, max_cycles: int = DEFAULT_MAX_CYCLES, progress=None) -> None:
        """Step to done, or stop with a CycleLimit error after ``max_cycles`` schedule cycles.
        Idle stretches pass in one jump (``skip_idle``). ``progress(cycle)``, if given, is
        called every PROGRESS_SECONDS of wall time, so a short run never calls it."""
        due = time.monotonic() + PROGRESS_SECONDS
        while not self.done:
            if self.cycle >= max_cycles:
                self.error, self.done = CycleLimit(self.cycle, max_cycles), True
                return
            self.step()
            if not self.done:
                self.skip_idle(max_cycles)
            if progress is not None and time.monotonic() >= due:
                progress(self.cycle)
                due = time.monotonic() + PROGRESS_SECONDS

    def skip_idle(self, limit: int) -> None:
        """Jump to the next cycle in which a queue fetches or repeats or an effect lands (at
        most to ``limit``). Until then every step would only shift the stream registers, and
        no queue state changes, so neither done nor a deadlock can appear in between."""
        t = self.cycle
        if self.deadlock:
            return
        active = [q for q in self.queues if q.halted is None and q.sync is None]
        events = [q.next for q in active] + [q.repeats[0][0] for q in active if q.repeats]
        events += self.pending.keys()
        if not events:
            return
        k = min(min(events), limit) - t
        if k <= 0:
            return
        reg, valid = self.reg, self.valid
        if k >= self.P:
            valid[:] = False
        else:
            reg[E, k:], valid[E, k:] = reg[E, :-k].copy(), valid[E, :-k].copy()
            reg[W, :-k], valid[W, :-k] = reg[W, k:].copy(), valid[W, k:].copy()
            valid[E, :k] = valid[W, -k:] = False
        self.fresh[:] = False
        for key in [key for key in self.bank_use if key[1] < t + k]:
            del self.bank_use[key]
        self.cycle = t + k

    def step(self) -> None:
        """Simulate one schedule cycle (issue, then the end-of-cycle updates).

        The stop rule (docs/architecture.md, section 10): an instruction that errs has no
        effect, every other effect due at the end of that cycle lands, and the tile stops;
        nothing lands afterwards. A deadlock found at the end of cycle t stops the tile at the
        end of cycle t + 1, as the RTL's registered deadlock flag does."""
        t = self.cycle
        errors = [self.deadlock] if self.deadlock else []
        notified = False
        for q in self.queues:
            try:
                notified |= self.sequence(q, t)
            except TileError as e:
                errors.append(e)
        if notified and not errors:
            for q in self.queues:
                if q.sync is not None:
                    q.sync, q.next = None, t + 1
        if not errors and all(q.halted is not None for q in self.queues) and not self.pending:
            self.done = True  # every HALT fetched and every effect landed: done in cycle t
            return
        try:
            self.end_of_cycle(t)
        except TileError as e:
            errors.append(e)
        if errors:
            self.error, self.done = errors[0], True
            return
        self.cycle = t + 1
        self.frozen += self.freeze_next
        self.freeze_next = 0
        if any(q.sync is not None for q in self.queues) and \
                all(q.halted is not None or q.sync is not None for q in self.queues):
            blocked = next(q for q in self.queues if q.sync is not None)
            self.deadlock = TileError(t, blocked.name, f"deadlock: SYNC from cycle "
                                      f"{blocked.sync} can never be released")

    def sequence(self, q: _Queue, t: int) -> bool:
        """Fetch and issue for one queue in cycle t; return True if it issued NOTIFY."""
        notify = False
        if q.halted is not None or q.sync is not None:
            return False
        if q.next <= t:
            if q.pc >= self.cfg.queue_words:
                raise TileError(t, q.name, "ran past the end of its instruction memory")
            # Instruction memory past the program is zero, and an all-zero word is HALT.
            item = q.items[q.pc] if q.pc < len(q.items) else _HALT_ITEM
            q.pc += 1
            name = item.instr.mnemonic
            if name == "HALT":
                q.halted = t
            elif name == "NOP":
                q.next = t + item.values["n"]
            elif name == "REPEAT":
                self.start_repeat(q, item.values, t)
            elif name == "SYNC":
                q.sync = t
            elif name == "NOTIFY":
                q.next, notify = t + 1, True
            else:
                q.next = t + 1
                q.last = (item.instr, item.values, t)
                self.issue(q, item.instr, item.values, t)
            if item.instr.unit == "ICU" and name != "REPEAT":
                q.last = None
        if q.repeats and q.repeats[0][0] == t:
            _, values = q.repeats.pop(0)
            self.issue(q, q.last[0], values, t)
        return notify

    def start_repeat(self, q: _Queue, v: dict, t: int) -> None:
        if q.last is None or q.last[0].stall:
            raise TileError(t, q.name, "illegal instruction: REPEAT without a repeatable "
                            "instruction before it")
        instr, values, t0 = q.last
        step = instr.step
        if v["stride"] and step is None:
            raise TileError(t, q.name, f"illegal instruction: REPEAT stride on {instr.mnemonic}")
        reps = []
        for k in range(1, v["n"] + 1):
            vals = dict(values)
            if step:
                vals[step] = values[step] + k * v["stride"]
                lo, hi = step_range(instr, step, self.cfg, q.name)
                if not lo <= vals[step] <= hi:
                    raise TileError(t, q.name, f"REPEAT steps {instr.mnemonic} {step} out of "
                                    f"range ({vals[step]})")
            reps.append((t0 + k * v["d"], vals))
        q.repeats = reps
        q.last = (instr, reps[-1][1], reps[-1][0])
        q.next = t0 + v["n"] * v["d"] + 1

    # Streams

    def read_stream(self, q: _Queue, v: int, width: int, t: int) -> np.ndarray:
        """Planes (width, lanes) at queue q's input in cycle t; raise if any holds no value."""
        d, base = stream_dir(v), stream_index(v)
        p = q.position
        out = np.empty((width, self.L), np.uint8)
        for j in range(width):
            s = base + j
            if q.unit == "VXM" and self.fresh[d, p, s]:
                src = p
            else:
                src = p - 1 if d == E else p + 1
            if not 0 <= src < self.P or not self.valid[d, src, s]:
                raise TileError(t, q.name, f"stream {stream_text(stream_operand(d, s))} holds no value at "
                                f"{self.cfg.slices[p].name} in cycle {t}")
            out[j] = self.reg[d, src, s]
        return out

    def write_stream(self, q: _Queue, v: int, planes: np.ndarray, when: int) -> None:
        d, base = stream_dir(v), stream_index(v)
        for j, plane in enumerate(planes):
            self.pending[when].append(("reg", q.name, d, q.position, base + j, plane))

    def operand(self, q, instr, values, name, dtype, t):
        spec = dict(instr.reads)[name]
        planes = self.read_stream(q, values[name], stream_width(instr, values, spec), t)
        return units.from_planes(planes, dtype)

    # Issue

    def issue(self, q: _Queue, instr: Instr, v: dict, t: int) -> None:
        self.busy[q.name] += 1
        if self.trace:
            self.issues.append((t, q.name, instr.mnemonic))
        getattr(self, "_" + q.unit.lower())(q, instr, v, t)

    def _mem(self, q, instr, v, t):
        name, mem = instr.mnemonic, self.mem[self.cfg.slices[q.position].name]
        done = t + instr.latency  # a read's word leaves, a write's bank is written
        self.bank(q, t if instr.bank == "read" else done, instr.bank)
        if name == "READ":
            self.write_stream(q, v["z"], mem[v["addr"]][None, :].copy(), done)
        elif name == "WRITE":
            data = self.read_stream(q, v["a"], 1, t)[0]
            self.pending[done].append(("mem", mem, v["addr"], slice(None), data))
        else:
            addrs = self.operand(q, instr, v, "m", "i16", t).view(np.uint16).astype(np.int64)
            bank = self.cfg.queue_by_name[q.name].bank
            outside = addrs // self.cfg.mem_words != bank
            if outside.any():
                raise TileError(t, q.name, f"{name} address {int(addrs[outside][0]):#x} is "
                                f"outside bank {bank} of this queue")
            lanes = np.arange(self.L)
            if name == "GATHER":
                self.write_stream(q, v["z"], mem[addrs, lanes][None, :].copy(), done)
            else:
                data = self.read_stream(q, v["a"], 1, t)[0]
                self.pending[done].append(("mem", mem, addrs, lanes, data))

    def bank(self, q, cycle: int, kind: str) -> None:
        key = (q.name, cycle)
        other = self.bank_use.get(key)
        if other is not None and other != kind:
            raise TileError(cycle, q.name, f"MEM bank read and written in cycle {cycle}")
        self.bank_use[key] = kind

    def _mxm_wgt(self, q, instr, v, t):
        mx = self.mxm[self.cfg.slices[q.position].name]
        planes = self.read_stream(q, v["a"], v["n"], t)
        rows = [(v["row"] + j) % self.L for j in range(v["n"])]
        self.pending[t + instr.latency].append(("rows", mx["shadow"], rows, planes.view(np.int8)))

    def _mxm_act(self, q, instr, v, t):
        mx = self.mxm[self.cfg.slices[q.position].name]
        name = instr.mnemonic
        if name == "IW":
            mx["active"] = mx["shadow"].copy()
        elif name == "LA":
            x = self.read_stream(q, v["a"], 1, t)[0].view(np.int8)
            self.pending[t + instr.latency].append(("rows", mx["act"], [v["slot"]], x[None, :]))
        elif name in ("ABC", "ABCB"):
            x = (self.read_stream(q, v["a"], 1, t)[0].view(np.int8) if name == "ABC"
                 else mx["act"][v["slot"]].copy())
            prod = units.mxm_product(x, mx["active"])
            self.pending[t + instr.settle].append(("acc", mx["acc"], v["acc"], v["add"], prod))
        elif name == "ACC":
            self.write_stream(q, v["z"], units.to_planes(mx["acc"][v["acc"]].copy()),
                              t + instr.latency)

    def _vxm(self, q, instr, v, t):
        name, alu = instr.mnemonic, self.alu[q.name]
        dt = DTYPES[v["dt"]] if "dt" in v else None
        z = None
        if name in units.VXM_BINARY:
            z = units.vxm_binary(name, dt, self.operand(q, instr, v, "a", dt, t),
                                 self.operand(q, instr, v, "b", dt, t))
        elif name in ("NEG", "ABS", "RELU", "MOV"):
            z = units.vxm_unary(name, dt, self.operand(q, instr, v, "a", dt, t))
        elif name == "SELECT":
            m, a, b = (self.operand(q, instr, v, n, dt, t) for n in ("m", "a", "b"))
            z = units.vxm_select(dt, m, a, b)
        elif name == "ADDI":
            z = units.vxm_addi(dt, self.operand(q, instr, v, "a", dt, t), v["imm"])
        elif name == "SRAI":
            z = units.vxm_srai(dt, self.operand(q, instr, v, "a", dt, t), v["n"])
        elif name == "CONST":
            z = units.vxm_const(dt, v["imm"], self.L)
        elif name == "CVT":
            src, dst = DTYPES[v["src"]], DTYPES[v["dst"]]
            z = units.vxm_cvt(src, dst, self.operand(q, instr, v, "a", src, t))
        elif name == "QPARAM":
            alu["mult"], alu["shift"] = v["mult"], v["shift"]
        elif name == "REQUANT":
            z = units.requant(self.operand(q, instr, v, "a", "i32", t), alu["mult"], alu["shift"])
        elif name in ("SILU", "GELU", "EXP"):
            fn = {"SILU": units.silu_q34, "GELU": units.gelu_q34, "EXP": units.exp_q34}[name]
            z = fn(self.operand(q, instr, v, "a", "i8", t))
        elif name in ("RECIP", "RSQRT"):
            fn = units.recip_q16 if name == "RECIP" else units.rsqrt_q16
            z = fn(self.operand(q, instr, v, "a", "i32", t))
        elif name == "MULQ":
            z = units.mulq(self.operand(q, instr, v, "a", "i32", t),
                           self.operand(q, instr, v, "b", "i32", t))
        elif name == "ACCUM":
            a = self.operand(q, instr, v, "a", dt, t)
            r = alu["r"].astype(units.NP_DTYPES[dt])
            z = units.accum(dt, v["mode"], r, a)
            alu["r"] = z.astype(np.int32)
        else:
            raise TileError(t, q.name, f"illegal instruction {name} in a VXM queue")
        if z is not None:
            self.write_stream(q, v["z"], units.to_planes(z), t + instr.latency)

    def _sxm(self, q, instr, v, t):
        name = instr.mnemonic
        maps = self.sxm_maps[self.cfg.slices[q.position].name]
        if name == "SETMAP":
            maps[v["map"]] = self.read_stream(q, v["a"], 1, t)[0]
            return
        if name == "TRANSPOSE":
            z = units.sxm_transpose(self.read_stream(q, v["a"], 4, t))
            self.write_stream(q, v["z"], z, t + instr.latency)
            return
        dt = DTYPES[v["dt"]]
        a = self.operand(q, instr, v, "a", dt, t)
        if name == "SHIFT":
            z = units.sxm_shift(a, v["n"])
        elif name == "ROTATE":
            z = units.sxm_rotate(a, v["n"])
        elif name == "PERMUTE":
            z = units.sxm_permute(a, maps[v["map"]])
        elif name == "BCAST":
            z = units.sxm_bcast(a, v["lane"])
        elif name == "RSUM":
            z = units.sxm_rsum(dt, a)
        elif name == "RMAX":
            z = units.sxm_rmax(dt, a)
        else:
            z = units.sxm_argmax(a)
        self.write_stream(q, v["z"], units.to_planes(z), t + instr.latency)

    def _c2c(self, q, instr, v, t):
        name = instr.mnemonic
        slice_name = self.cfg.slices[q.position].name
        if name == "SEND":
            port = (slice_name, v["link"])
            last = self.last_send.get(port)
            if last is not None and t - last < self.frame_cycles:
                raise TileError(t, q.name, f"SEND on link {v['link']} {t - last} cycles after the "
                                f"one in cycle {last}: a link takes one vector every "
                                f"{self.frame_cycles} cycles")
            self.last_send[port] = t
            link = self.links_out.get(port)
            vec = self.read_stream(q, v["a"], 1, t)[0]
            if link is not None:
                link.send(self.now, vec, self.period)
        elif name == "RECV":
            link = self.links_in.get((slice_name, v["link"]))
            vec = link.receive(self.now) if link is not None else None
            if vec is None:
                raise TileError(t, q.name, f"RECV on link {v['link']}: no vector arrived")
            self.write_stream(q, v["z"], vec[None, :], t + instr.latency)
        elif name == "DESKEW":
            w, e = self.wall_cycles, self.cfg.hac_epoch
            self.freeze_next += e - 1 - self.hac_count(w) % e
            self.anchor = w
        else:
            w, a = self.wall_cycles, self.anchor
            drift = (self.hac_count(w) - self.hac_count(a)) - (w - a)
            if drift > v["t"]:
                raise TileError(t, q.name, f"RUNTIME_DESKEW {v['t']}: the HAC moved {drift} "
                                f"cycles ahead since wall cycle {a}, more than t absorbs")
            self.freeze_next += v["t"] - drift
            self.anchor = w

    # End of cycle

    def end_of_cycle(self, t: int) -> None:
        reg, valid = self.reg, self.valid
        reg[E, 1:], valid[E, 1:] = reg[E, :-1].copy(), valid[E, :-1].copy()
        reg[W, :-1], valid[W, :-1] = reg[W, 1:].copy(), valid[W, 1:].copy()
        valid[E, 0] = valid[W, -1] = False
        self.fresh[:] = False
        effects = self.pending.pop(t, [])
        written, clash = {}, None
        for eff in effects:  # a clash stops the tile after this cycle's other effects land
            if eff[0] == "reg":
                _, qname, d, p, s, _ = eff
                if (d, p, s) in written and clash is None:
                    clash = TileError(t, qname, f"two producers on stream "
                                      f"{stream_text(stream_operand(d, s))} at "
                                      f"{self.cfg.slices[p].name} (also {written[(d, p, s)]}) "
                                      f"at the end of cycle {t}")
                written[(d, p, s)] = qname
        for eff in effects:
            kind = eff[0]
            if kind == "reg":
                _, qname, d, p, s, plane = eff
                reg[d, p, s], valid[d, p, s], self.fresh[d, p, s] = plane, True, True
            elif kind == "mem":
                _, mem, rows, cols, data = eff
                mem[rows, cols] = data
            elif kind == "rows":
                _, target, rows, data = eff
                target[rows] = data
            elif kind == "acc":
                _, acc, idx, add, prod = eff
                acc[idx] = units.vxm_binary("ADD", "i32", acc[idx], prod) if add else prod
        for key in [k for k in self.bank_use if k[1] <= t]:
            del self.bank_use[key]
        if clash is not None:
            raise clash


def run_golden(program: LoweredProgram, inputs: dict[str, np.ndarray] | None = None,
               outputs: list[str] | None = None, trace: bool = False,
               max_cycles: int = DEFAULT_MAX_CYCLES, progress=None) -> RunResult:
    """Load inputs, run to done, read outputs: the golden backend of ``lpu run``. A run that
    reaches ``max_cycles`` ends with a CycleLimit error; ``progress`` as in GoldenTile.run."""
    tile = GoldenTile(program, trace=trace)
    for name, array in (inputs or {}).items():
        tile.load(name, array)
    tile.run(max_cycles, progress)
    outs = {} if tile.error else {n: tile.read(n) for n in (outputs or [])}
    return RunResult(outs, tile.wall_cycles, tile.busy, tile.issues, tile.error, tile.frozen)


def array_problem(name: str, dtype: str, shape: tuple, array: np.ndarray) -> str | None:
    """A message if ``array`` is not of ``dtype`` (a symbol dtype) and ``shape``, else None.
    Either byte order will do: loading converts to the tile's little-endian layout."""
    want = np.dtype(DTYPE_INFO[dtype].numpy)
    if array.dtype.newbyteorder("=") != want.newbyteorder("="):
        return f"{name} is {dtype} ({want.name}), the file holds {array.dtype.name}"
    if tuple(array.shape) != tuple(shape):
        return f"{name} has shape {tuple(shape)}, the file holds {tuple(array.shape)}"
    return None


def connect(a: GoldenTile, a_port: tuple[str, int], b: GoldenTile, b_port: tuple[str, int],
            latency: int) -> None:
    """Join a's C2C link a_port (slice, link) to b's b_port, both ways, with one latency."""
    ab, ba = Link(latency), Link(latency)
    a.links_out[a_port], b.links_in[b_port] = ab, ab
    b.links_out[b_port], a.links_in[a_port] = ba, ba


def run_system(tiles: list[GoldenTile], max_cycles: int = 10_000_000) -> None:
    """Run tiles, each on its own clock (``period``, ``phase``), until every tile is done or
    stopped: always step the tile whose next wall cycle comes first (ties in list order). A
    frozen tile's wall cycles pass without steps, so DESKEW and RUNTIME_DESKEW hold it back
    against the others."""
    while True:
        running = [t for t in tiles if not t.done]
        if not running:
            return
        tile = min(running, key=lambda t: t.now)
        if tile.cycle >= max_cycles:
            raise CycleLimit(tile.cycle, max_cycles)
        tile.step()
