"""The fuzz generator: one valid program, built cycle by cycle, from one numpy Generator.

The generator only places an instruction whose operands are at the queue's input in its issue
cycle and whose writes clash with nothing (``model.StreamModel.fits``), so the assembler and the
golden model accept the result as it is. Every instruction carries an ``@N`` issue cycle. Some
values are planned ahead rather than found, because chance alone rarely lines them up:
GATHER/SCATTER address pairs (two READs of ``.mem`` address tables timed to meet on an aligned
stream pair, their path kept clear of other writers), i16/i32 groups (two or four MEM READs
meeting at a VXM, SXM or MXM, and wide results followed by a consumer), WRITEs that store a
computed result where it passes a MEM slice, and SYNC/NOTIFY pairs. What to issue when nothing
is planned is chosen by ``choosers.Choosers``.
"""

from __future__ import annotations

import numpy as np

from lpu.sw.c2c import link_format
from lpu.sw.config import PRESETS, TileConfig
from lpu.sw.isa import (
    BY_MNEMONIC,
    E,
    Instr,
    format_instr,
    stream_dir,
    stream_index,
    stream_operand,
    stream_width,
)

from .choosers import Choosers
from .model import (
    DATA_WORDS,
    TABLE_WORDS,
    AddressPlan,
    GeneratedProgram,
    Issue,
    QueueState,
    StreamModel,
    Value,
)

# Relative issue rates per unit: MEM reads are the sources everything else feeds on.
_RATE = {"MEM": 0.6, "VXM": 2.5, "SXM": 1.0, "MXM_WGT": 0.8, "MXM_ACT": 1.0, "C2C": 0.3}


def config_line(cfg: TileConfig) -> str:
    """The ``.config`` line of `cfg`: a preset's name, or the default and what differs."""
    for name, preset in PRESETS.items():
        if preset == cfg:
            return f".config {name}"
    base = TileConfig().as_dict()
    return ".config default " + " ".join(f"{k}={v}" for k, v in cfg.as_dict().items()
                                         if base[k] != v)


def generate_program(seed: int, cfg: TileConfig, rng: np.random.Generator,
                     length: float) -> GeneratedProgram:
    """One program from `rng` (`seed` only names it in the source's first line)."""
    gen = Generator(cfg, rng, length)
    gen.run()
    return gen.result(seed)


class Generator(Choosers):
    """The constructive generator: one program from one numpy Generator."""

    def __init__(self, cfg: TileConfig, rng: np.random.Generator, length: float):
        self.cfg, self.rng = cfg, rng
        self.P, self.S, self.L, self.Wd = cfg.positions, cfg.streams, cfg.lanes, cfg.mem_words
        if self.Wd < DATA_WORDS + TABLE_WORDS:
            raise ValueError(f"fuzz programs need mem_words >= {DATA_WORDS + TABLE_WORDS}")
        self.queues = [QueueState(q.name, q.unit, q.slice.position, q.slice.name, q.bank)
                       for q in cfg.queues]
        self.model = StreamModel(self.P, self.S)
        self.mem: dict[tuple[str, int], bytes] = {}  # initial words
        self.tables: dict[tuple[str, int], list[tuple[int, str, int]]] = {}  # (addr, plane, bank)
        self.table_of: dict[tuple[str, int], tuple[str, int]] = {}
        self.issues: list[Issue] = []
        self.count: dict[tuple, int] = {}
        self.la: dict[tuple[str, int], int] = {}  # (MXM slice, slot) -> cycle of its first LA
        self.abc: dict[tuple[str, int], int] = {}  # (MXM slice, acc) -> last ABC/ABCB cycle
        self.maps: dict[tuple[str, int], int] = {}  # (SXM slice, map) -> first SETMAP cycle
        self.qparam: set[str] = set()
        self.notifies: list[int] = []
        self.syncs: list[tuple[int, int]] = []  # (SYNC cycle, releasing NOTIFY cycle)
        self.stalls: set[int] = set()
        self.last_send: dict[tuple[str, int], int] = {}  # (queue, link): cycle of the last SEND
        self.frame_cycles = link_format(cfg).frame_words  # a link takes one vector per frame
        self.deskewed = rng.random() < 0.7  # a DESKEW freezes up to hac_epoch cycles: rarely
        self.address_plans: list[AddressPlan] = []
        self.window = max(12, round(int(rng.integers(30, 190)) * length))
        self.budget = max(8, round(int(rng.integers(20, 130)) * length))
        self.placed = 0
        per_cycle = self.budget / self.window
        self.rate = {u: min(0.95, 0.35 * per_cycle * r / len(self.queues) * 4)
                     for u, r in _RATE.items()}

    def commit(self, q: QueueState, instr: Instr, v: dict, c: int, base: bool = True) -> None:
        """Claim the writes and bank cycles of one issue and update the unit state."""
        name = instr.mnemonic
        self.issues.append(Issue(q.name, c, instr, dict(v), base))
        tag = self.table_of.get((q.slice, v["addr"])) if name == "READ" else None
        self.model.claim(q, instr, v, c, tag)
        if name == "LA":
            self.la.setdefault((q.slice, v["slot"]), c)
        elif name in ("ABC", "ABCB"):
            self.abc[(q.slice, v["acc"])] = c
        elif name == "SETMAP":
            self.maps.setdefault((q.slice, v["map"]), c)
        elif name == "QPARAM":
            self.qparam.add(q.name)
        if base:
            for key in dict.fromkeys([(name,), (name, *(v[f.name] for f in instr.dtype_fields))]):
                self.count[key] = self.count.get(key, 0) + 1

    def place(self, q: QueueState, t: int, instr: Instr, v: dict) -> None:
        """Issue (instr, v) in cycle t, perhaps with a REPEAT chain, and write its lines."""
        self.commit(q, instr, v, t)
        q.lines.append(f"@{t} {format_instr(instr, v)}")
        last, last_values = t, v
        if not instr.stall:
            for _ in range(2):
                if self.rng.random() >= (0.3 if last == t else 0.25):
                    break
                chain = self.repeat(q, instr, last_values, last)
                if chain is None:
                    break
                (n, gap, stride), reps = chain
                for c, vals in reps:
                    self.commit(q, instr, vals, c, base=False)
                q.lines.append(f"    REPEAT {n}, {gap}, {stride}")
                last, last_values = reps[-1]
        q.free = last + 1
        self.placed += 1
        if instr.writes and self.rng.random() < self.follow_rate(q, instr, v):
            self.follow(q, t, instr, v)
        if instr.writes and instr.mnemonic != "READ" and self.rng.random() < 0.6:
            self.plan_store(q, t, instr, v)

    def follow_rate(self, q: QueueState, instr: Instr, v: dict) -> float:
        _, spec = instr.writes[0]
        if stream_width(instr, v, spec) > 1:
            return 0.7
        return 0.25 if q.unit == "VXM" else 0.0

    def repeat(self, q: QueueState, instr: Instr, v: dict, t0: int):
        """A REPEAT of the issue (instr, v) at t0 every repetition of which fits, or None."""
        rng = self.rng
        n = int(rng.integers(1, 5))
        gap = int(rng.choice([1, 1, 1, 2, 3]))
        if instr.mnemonic == "SEND":
            gap = self.frame_cycles + int(rng.integers(2))
        stride = 0
        lo = hi = None
        if instr.step:
            stride = int(rng.choice([-1, 0, 1, 1, 2]))
            if instr.step == "addr":
                lo = q.bank * self.Wd
                hi = lo + DATA_WORDS - 1 + (TABLE_WORDS if instr.mnemonic == "READ" else 0)
            else:
                lo, hi = 0, self.L - 1
        reps = []
        for k in range(1, n + 1):
            vals = dict(v)
            if instr.step:
                vals[instr.step] = v[instr.step] + k * stride
                if not lo <= vals[instr.step] <= hi:
                    return None
            c = t0 + k * gap
            if not q.plan_free(t0 + 1, c) or not self.model.fits(q, instr, vals, c):
                return None
            reps.append((c, vals))
        if instr.mnemonic == "SEND":
            self.last_send[(q.name, v["link"])] = reps[-1][0]
        # Repetitions of one instruction never clash with each other: each lands in its own cycle.
        return (n, gap, stride), reps

    # Plans: values delivered to a consumer in a later cycle, and SYNC/NOTIFY

    def follow(self, q: QueueState, t: int, instr: Instr, v: dict) -> None:
        """Plan a consumer for the group an instruction just placed writes: a VXM ALU in the
        next cycle (chaining) or a VXM, SXM or MXM weight queue downstream."""
        name, spec = instr.writes[0]
        width = stream_width(instr, v, spec)
        d, base = stream_dir(v[name]), stream_index(v[name])
        land = t + instr.latency
        options = []
        for other in self.queues:
            if other.unit not in ("VXM", "SXM", "MXM_WGT") and width > 1:
                continue
            if other.unit == "VXM" and q.unit == "VXM":
                c = land + 1
            elif (other.pos - q.pos) * (1 if d == E else -1) > 0:
                c = land + abs(other.pos - q.pos)
            else:
                continue
            if other.free <= c and other.plan_free(c, c):
                options.append((other, c))
        choice = self.pick(options)
        if choice is not None:
            other, c = choice
            other.plans[c] = ("consume", (d, base, width))

    def plan_store(self, q: QueueState, t: int, instr: Instr, v: dict) -> None:
        """Plan a WRITE of one plane of a computed result in a MEM queue it passes, so that the
        final MEM contents check it."""
        name, spec = instr.writes[0]
        d, base = stream_dir(v[name]), stream_index(v[name])
        plane = base + int(self.rng.integers(stream_width(instr, v, spec)))
        land = t + instr.latency
        options = []
        for mem in self.queues:
            hops = (mem.pos - q.pos) * (1 if d == E else -1)
            c = land + hops
            if mem.unit == "MEM" and hops > 0 and mem.free <= c and mem.plan_free(c, c) \
                    and c + 1 not in mem.bank_reads:
                options.append((mem, c))
        choice = self.pick(options)
        if choice is not None:
            mem, c = choice
            mem.plans[c] = ("consume", (d, plane, 1))
            mem.bank_writes.add(c + 1)  # keep the bank free for the WRITE

    def sources(self, t: int, target: QueueState, d: int, width: int, reserve: bool):
        """MEM queues that READ `width` planes arriving together at target's input on an aligned
        group in direction d: (arrival cycle, group base, [(queue, issue cycle, path cells)])."""
        rng = self.rng
        side = [q for q in self.queues if q.unit == "MEM" and
                (q.pos < target.pos if d == E else q.pos > target.pos)]
        if len(side) < width:
            return None
        chosen = [side[int(i)] for i in rng.choice(len(side), width, replace=False)]
        c = t + 1 + max(abs(target.pos - q.pos) for q in chosen)
        step = 1 if d == E else -1
        for base in rng.permutation(np.arange(0, self.S - width + 1, width)):
            out = []
            for j, src in enumerate(chosen):
                hops = abs(target.pos - src.pos)
                when = c - 1 - hops
                cells = [(d, src.pos + k * step, int(base) + j, when + 1 + k)
                         for k in range(hops if reserve else 1)]
                if src.free > when or not src.plan_free(when, when) or \
                        when in src.bank_writes or not all(self.model.cell_free(x) for x in cells):
                    break
                out.append((src, when, cells))
            else:
                return c, int(base), out
        return None

    def commit_sources(self, srcs, addrs, d: int, base: int, reserve: bool) -> None:
        read = BY_MNEMONIC["READ"]
        for j, ((src, when, cells), addr) in enumerate(zip(srcs, addrs, strict=True)):
            src.plans[when] = ("fixed", read, {"addr": addr, "z": stream_operand(d, base + j)})
            src.bank_reads.add(when)
            self.model.cells[cells[0]] = Value(tag=self.table_of.get((src.slice, addr)))
            if reserve:
                self.model.reserved.update(cells[1:])

    def plan_data(self, t: int) -> bool:
        """Two or four MEM planes that meet as one i16 or i32 group at a VXM, SXM or MXM."""
        rng = self.rng
        target = self.pick([q for q in self.queues if q.unit in ("VXM", "SXM", "MXM_WGT")])
        width = int(rng.choice([2, 4]))
        d = int(rng.integers(2))
        found = self.sources(t, target, d, width, reserve=False)
        if found is None:
            return False
        c, base, srcs = found
        if target.free > c or not target.plan_free(c, c):
            return False
        addrs = [src.bank * self.Wd + int(rng.integers(DATA_WORDS)) for src, _, _ in srcs]
        self.commit_sources(srcs, addrs, d, base, reserve=False)
        target.plans[c] = ("consume", (d, base, width))
        return True

    def table_word(self, slice_name: str, bank: int, plane: str, target: int,
                   dry: bool = False) -> int | None:
        """A table word in (slice, bank) holding one address plane for target bank."""
        own = self.tables.setdefault((slice_name, bank), [])
        same = [a for a, p, b in own if p == plane and b == target]
        if same and (len(own) == TABLE_WORDS or self.rng.random() < 0.4):
            return self.pick(same)
        if len(own) == TABLE_WORDS:
            return None
        if dry:
            return -1
        addr = bank * self.Wd + DATA_WORDS + len(own)
        first = target * self.Wd
        lanes = first + self.rng.integers(0, DATA_WORDS, self.L)
        word = (lanes & 0xFF) if plane == "lo" else (lanes >> 8)
        self.mem[(slice_name, addr)] = bytes(int(x) for x in word)
        own.append((addr, plane, target))
        self.table_of[(slice_name, addr)] = (plane, target)
        return addr

    def plan_addresses(self, t: int) -> bool:
        """Two table READs whose planes meet on an aligned pair at a GATHER or SCATTER, their
        paths kept clear of other writers."""
        rng = self.rng
        target = self.pick([q for q in self.queues if q.unit == "MEM"])
        gathers, scatters = self.count.get(("GATHER",), 0), self.count.get(("SCATTER",), 0)
        if gathers == scatters:
            kind = "GATHER" if rng.random() < 0.5 else "SCATTER"
        else:
            kind = "GATHER" if gathers < scatters else "SCATTER"
        d = int(rng.integers(2))
        found = self.sources(t, target, d, 2, reserve=True)
        if found is None:
            return False
        c, base, srcs = found
        if target.free > c or not target.plan_free(c, c):
            return False
        if (kind == "GATHER" and c in target.bank_writes) or \
                (kind == "SCATTER" and c + 1 in target.bank_reads):
            return False
        z = None
        if kind == "GATHER":
            z = self.pick_output(target, c + 1, 1)
            if z is None:
                return False
        if any(self.table_word(src.slice, src.bank, plane, target.bank, dry=True) is None
               for (src, _, _), plane in zip(srcs, ("lo", "hi"), strict=True)):
            return False
        addrs = [self.table_word(src.slice, src.bank, plane, target.bank)
                 for (src, _, _), plane in zip(srcs, ("lo", "hi"), strict=True)]
        self.commit_sources(srcs, addrs, d, base, reserve=True)
        m = stream_operand(d, base)
        if kind == "GATHER":
            target.plans[c] = ("fixed", BY_MNEMONIC["GATHER"], {"m": m, "z": z})
            target.bank_reads.add(c)
            self.model.cells[(stream_dir(z), target.pos, stream_index(z), c + 1)] = Value(calc=True)
        else:
            target.plans[c] = ("fixed", BY_MNEMONIC["SCATTER"], {"m": m, "a": None})
            target.bank_writes.add(c + 1)
        self.address_plans.append(AddressPlan(target.name, c, (srcs[0][0].slice, addrs[0]),
                                              (srcs[1][0].slice, addrs[1])))
        return True

    def plan_sync(self, t: int) -> bool:
        """SYNC in one free queue, released by a NOTIFY (new or already planned) in another."""
        rng = self.rng
        free = [q for q in self.queues if q.free <= t and q.plan_free(t, t)]
        if not free:
            return False
        a = self.pick(free)
        first = min((n for n in self.notifies if n >= t), default=None)
        if first is not None and first - t <= 8 and rng.random() < 0.5:
            n, b = first, None  # join the NOTIFY already planned
        else:
            n = t + int(rng.integers(0, 7))
            if (first is not None and n >= first) or any(s <= n < r for s, r in self.syncs):
                return False  # it would release another SYNC early
            b = self.pick([q for q in self.queues if q is not a and q.free <= n
                           and q.plan_free(n, n)])
            if b is None:
                return False
        if not a.plan_free(t, n):
            return False
        if b is not None:
            b.plans[n] = ("fixed", BY_MNEMONIC["NOTIFY"], {})
            self.notifies.append(n)
        a.lines.append(f"@{t} SYNC")
        a.free = n + 1
        self.syncs.append((t, n))
        self.placed += 1
        return True

    def emit_plan(self, q: QueueState, t: int) -> None:
        plan = q.plans.pop(t)
        if plan[0] == "consume":
            if q.unit == "MEM":
                q.bank_writes.discard(t + 1)
            self.try_issue(q, t, bound=plan[1])
            return
        _, instr, v = plan
        name = instr.mnemonic
        if name == "NOTIFY":
            q.lines.append(f"@{t} NOTIFY")
            q.free = t + 1
            return
        if name == "SCATTER":
            v = dict(v)
            v["a"] = self.pick_input(q, t, 1, prefer=lambda val: 0.2 if val.tag else
                                     (6.0 if val.calc and not val.stored else 1.0))
        # The bank cycle and the output register were claimed when planned: release them so
        # that the generic check sees this instruction alone.
        if instr.bank == "read":
            q.bank_reads.discard(t)
        else:
            q.bank_writes.discard(t + 1)
        saved = []
        if instr.writes:
            z = v["z"]
            key = (stream_dir(z), q.pos, stream_index(z), t + 1)
            saved.append((key, self.model.cells.pop(key)))
        if not self.model.fits(q, instr, v, t):
            raise AssertionError(f"generator bug: planned {format_instr(instr, v)} in {q.name} "
                                 f"cycle {t} does not fit")
        self.commit(q, instr, v, t)
        for key, val in saved:
            self.model.cells[key] = val
        q.lines.append(f"@{t} {format_instr(instr, v)}")
        q.free = t + 1
        self.placed += 1

    # The whole program

    def run(self) -> None:
        rng = self.rng
        for sl in self.cfg.slices:
            if sl.kind != "MEM":
                continue
            for bank in range(self.cfg.mem_banks):
                for w in range(DATA_WORDS):
                    if rng.random() < 0.85:
                        word = rng.integers(0, 256, self.L)
                        edges = rng.random(self.L) < 0.15
                        word[edges] = rng.choice([0, 1, 0x7F, 0x80, 0xFF], int(edges.sum()))
                        self.mem[(sl.name, bank * self.Wd + w)] = bytes(int(x) for x in word)
        t = 0
        while True:
            active = t < self.window and self.placed < self.budget
            if not active and not any(q.plans for q in self.queues):
                break
            if active and rng.random() < 0.08:
                self.plan_addresses(t)
            if active and rng.random() < 0.1:
                self.plan_data(t)
            if active and rng.random() < 0.03:
                self.plan_sync(t)
            for i in rng.permutation(len(self.queues)):
                q = self.queues[int(i)]
                rate = self.rate[q.unit]
                if q.unit == "VXM" and not self.model.visible(q, t)[0]:
                    rate *= 0.3  # only CONST and QPARAM are possible
                if t in q.plans:
                    self.emit_plan(q, t)
                elif active and q.free <= t and rng.random() < rate:
                    if q.unit != "MEM" and rng.random() < 0.03 and q.plan_free(t, t + 3):
                        n = int(rng.integers(1, 4))
                        q.lines.append(f"@{t} NOP {n}")
                        q.free = t + n
                    elif rng.random() < 0.01 and not any(s <= t < r for s, r in self.syncs):
                        q.lines.append(f"@{t} NOTIFY")  # releases nothing: harmless
                        self.notifies.append(t)
                        q.free = t + 1
                    else:
                        self.try_issue(q, t)
            t += 1
        used = [q for q in self.queues if q.lines]
        if used and rng.random() < 0.3:
            q = self.pick(used)
            q.lines.append(f"@{q.free + int(rng.integers(0, 6))} HALT")

    def source(self, seed: int) -> str:
        out = [f"; lpu-tile fuzz program, seed {seed}", config_line(self.cfg)]
        for (sl, addr), data in sorted(self.mem.items(),
                                       key=lambda kv: (self.cfg.slice_by_name[kv[0][0]].position,
                                                       kv[0][1])):
            out.append(f".mem {sl}:{addr:#x} = {', '.join(str(b) for b in data)}")
        for q in self.queues:
            if q.lines:
                out.append(f".queue {q.name}")
                out += q.lines
        return "\n".join(out) + "\n"

    def result(self, seed: int) -> GeneratedProgram:
        return GeneratedProgram(self.source(seed), tuple(self.queues), tuple(self.issues),
                                tuple(self.notifies), tuple(self.address_plans), self.model)
