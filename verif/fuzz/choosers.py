"""What the fuzz generator issues: random values, stream operands and, per unit, one
instruction whose operands are at the queue's input in the issue cycle.

``Choosers`` is a base class of ``generator.Generator`` and works on its state: the stream
model (``model``), the random generator (``rng``), the tile's sizes (``cfg``, ``L``, ``S``,
``Wd``), the counts of what was issued (``count``), the unit state (``la``, ``abc``, ``maps``,
``qparam``, ``stalls``, ``deskewed``, ``last_send``, ``frame_cycles``), the address tables
(``tables``) and ``place``.
"""

from __future__ import annotations

import itertools

from lpu.sw.isa import (
    BY_MNEMONIC,
    DTYPE_INFO,
    INSTRUCTIONS,
    E,
    Instr,
    W,
    format_instr,
    lanes_problem,
    stream_operand,
    stream_width,
)

from .model import DATA_WORDS, QueueState, pick

_BY_UNIT = {u: tuple(i for i in INSTRUCTIONS if i.unit == u) for u in ("VXM", "SXM")}


class Choosers:
    """Value and instruction choice of the generator (see the module docstring)."""

    def imm(self, lo: int, hi: int) -> int:
        """A random immediate in lo..hi, often an edge value."""
        if self.rng.random() < 0.3:
            edges = [x for x in (lo, hi, 0, 1, -1) if lo <= x <= hi]
            return int(self.rng.choice(edges))
        return int(self.rng.integers(lo, hi + 1))

    def pick(self, options: list, weights=None):
        return pick(self.rng, options, weights)

    def novelty(self, key: tuple) -> float:
        """Weight that steers each program toward what it has not issued yet."""
        return 1.0 / (1 + self.count.get(key, 0)) ** 2

    def pick_input(self, q: QueueState, t: int, width: int, prefer=None) -> int | None:
        """An aligned input group holding values in cycle t, chained results preferred."""
        vis, fresh = self.model.visible(q, t)
        gs = self.model.groups(vis, width)
        if not gs:
            return None
        weights = []
        for d, b in gs:
            w = 1.0
            if any((d, b + j) in fresh for j in range(width)):
                w *= 4.0  # chaining
            if prefer is not None:
                w *= prefer(vis[(d, b)])
            weights.append(w)
        d, b = self.pick(gs, weights)
        return stream_operand(d, b)

    def pick_output(self, q: QueueState, when: int, width: int) -> int | None:
        gs = self.model.free_groups(q, when, width)
        if not gs:
            return None
        d, b = self.pick(gs)
        return stream_operand(d, b)

    def dtype_combos(self, instr: Instr):
        fields = instr.dtype_fields
        for codes in itertools.product(*[[DTYPE_INFO[c].code for c in f.choices] for f in fields]):
            yield dict(zip((f.name for f in fields), codes, strict=True))

    # Per-unit choices. `bound` (dir, base, width), when given, is a group that arrives at the
    # queue's input in cycle t by plan: the instruction must read it.

    def choose(self, q: QueueState, t: int, bound=None):
        """An instruction for q in cycle t as (instr, values), or None."""
        unit = q.unit.lower()
        return getattr(self, "choose_" + (unit if unit in ("mem", "mxm_wgt", "mxm_act", "c2c")
                                          else "alu"))(q, t, bound)

    def try_issue(self, q: QueueState, t: int, bound=None) -> None:
        op = self.choose(q, t, bound)
        if op is None:
            return
        instr, v = op
        if not self.model.fits(q, instr, v, t):
            raise AssertionError(f"generator bug: {q.name} cycle {t}: "
                                 f"{format_instr(instr, v)} does not fit")
        self.place(q, t, instr, v)

    def allowed(self, q: QueueState, t: int, instr: Instr) -> bool:
        if lanes_problem(instr, self.cfg) is not None:  # TRANSPOSE on a 2-lane tile
            return False
        if instr.mnemonic == "REQUANT":
            return q.name in self.qparam  # with the reset multiplier 0 it only gives zeros
        if instr.mnemonic == "PERMUTE":
            return bool(self.set_maps(q, t))
        return True

    def set_maps(self, q: QueueState, t: int) -> list[int]:
        return [m for m in range(self.cfg.sxm_maps) if self.maps.get((q.slice, m), t) < t]

    def choose_alu(self, q: QueueState, t: int, bound):
        """VXM and SXM: any instruction of the unit whose input groups are all available."""
        vis, fresh = self.model.visible(q, t)
        options, weights = [], []
        for instr in _BY_UNIT[q.unit]:
            if not self.allowed(q, t, instr):
                continue
            eligible = []
            for dts in self.dtype_combos(instr):
                widths = {name: stream_width(instr, dts, spec) for name, spec in instr.reads}
                if bound is not None and bound[2] not in widths.values():
                    continue
                if all(self.model.groups(vis, w) for w in widths.values()):
                    eligible.append((dts, widths))
            for dts, widths in eligible:
                # Each mnemonic as likely as any other, then its least used types first.
                weight = (self.novelty((instr.mnemonic,)) / len(eligible)
                          * self.novelty((instr.mnemonic, *dts.values())))
                if any(any((d, b + j) in fresh for j in range(w))
                       for w in dict.fromkeys(widths.values())
                       for d, b in self.model.groups(vis, w)):
                    weight *= 3.0  # chaining
                if max(widths.values(), default=1) > 1:
                    weight *= 3.0  # wide groups are rare: use them when they come
                if instr.mnemonic == "QPARAM" and q.name not in self.qparam:
                    weight *= 4.0  # so that REQUANT becomes possible on this ALU
                options.append((instr, dts, widths))
                weights.append(weight)
        if not options:
            return None
        instr, dts, widths = self.pick(options, weights)
        v = dict(dts)
        if bound is not None:
            name = self.pick([n for n, w in widths.items() if w == bound[2]])
            v[name] = stream_operand(bound[0], bound[1])
        for name, width in widths.items():
            if name not in v:
                v[name] = self.pick_input(q, t, width)
        for name, spec in instr.writes:
            v[name] = self.pick_output(q, t + instr.latency, stream_width(instr, v, spec))
            if v[name] is None:
                return None
        self.immediates(q, t, instr, v)
        return instr, v

    def immediates(self, q: QueueState, t: int, instr: Instr, v: dict) -> None:
        name, lanes, rng = instr.mnemonic, self.L, self.rng
        if name == "ADDI":
            v["imm"] = self.imm(-2048, 2047)
        elif name == "SRAI":
            v["n"] = self.imm(0, 31)
        elif name == "CONST":
            v["imm"] = self.imm(-32768, 32767)
        elif name == "QPARAM":
            v["mult"] = self.imm(-32768, 32767)
            v["shift"] = int(rng.integers(0, 33)) if rng.random() < 0.9 else 63
        elif name == "ACCUM":
            v["mode"] = int(rng.integers(3))
        elif name == "SHIFT":
            v["n"] = self.imm(-lanes, lanes) if rng.random() < 0.85 else self.imm(-64, 63)
        elif name == "ROTATE":
            v["n"] = self.imm(0, lanes - 1)
        elif name == "BCAST":
            v["lane"] = self.imm(0, lanes - 1)
        elif name == "PERMUTE":
            v["map"] = self.pick(self.set_maps(q, t))
        elif name == "SETMAP":
            v["map"] = int(rng.integers(self.cfg.sxm_maps))

    def choose_mem(self, q: QueueState, t: int, bound):
        vis, _ = self.model.visible(q, t)
        unstored = [k for k, val in vis.items() if val.calc and not val.stored]
        write_ok = t + 1 not in q.bank_reads and vis
        read_ok = t not in q.bank_writes and bound is None
        base = q.bank * self.Wd
        if write_ok and (bound is not None or not read_ok
                         or self.rng.random() < (0.8 if unstored else 0.3)):
            if bound is not None:
                a = stream_operand(bound[0], bound[1])
            else:
                a = self.pick_input(q, t, 1, prefer=lambda val: 8.0 if val.calc and not val.stored
                                    else (2.0 if val.calc else (0.3 if val.tag else 1.0)))
            return BY_MNEMONIC["WRITE"], {"addr": base + int(self.rng.integers(DATA_WORDS)), "a": a}
        if not read_ok:
            return None
        own = self.tables.get((q.slice, q.bank), [])
        if own and self.rng.random() < 0.15:
            addr = self.pick(own)[0]
        else:
            addr = base + int(self.rng.integers(DATA_WORDS))
        z = self.pick_output(q, t + 1, 1)
        if z is None:
            return None
        return BY_MNEMONIC["READ"], {"addr": addr, "z": z}

    def choose_mxm_wgt(self, q: QueueState, t: int, bound):
        if bound is not None:
            d, b, n = bound
        else:
            vis, _ = self.model.visible(q, t)
            runs = []
            for d in (E, W):
                for b in range(self.S):
                    n = 0
                    while b + n < self.S and (d, b + n) in vis:
                        n += 1
                    if n:
                        runs.append((d, b, n))
            if not runs:
                return None
            d, b, n = self.pick(runs, [r[2] ** 2 for r in runs])
            n = int(self.rng.integers(1, n + 1)) if self.rng.random() < 0.3 else n
        return BY_MNEMONIC["LW"], {"row": self.imm(0, self.L - 1), "a": stream_operand(d, b),
                                   "n": n}

    def choose_mxm_act(self, q: QueueState, t: int, bound):
        vis, _ = self.model.visible(q, t)
        cfg = self.cfg
        slots = [s for s in range(cfg.mxm_act_slots) if self.la.get((q.slice, s), t) < t]
        ready = [a for a in range(cfg.mxm_accumulators)
                 if (q.slice, a) in self.abc and self.abc[(q.slice, a)] + 2 <= t]
        options = [("ABC", 2.0), ("LA", 1.5)] if vis else []
        if bound is None:
            options.append(("IW", 0.5))
            if slots:
                options.append(("ABCB", 2.0))
            if ready:
                options.append(("ACC", 4.0))
        if not options:
            return None
        name = self.pick([o[0] for o in options],
                         [w * self.novelty((o,)) ** 0.5 for o, w in options])
        instr = BY_MNEMONIC[name]
        v = {"a": stream_operand(bound[0], bound[1])} if bound is not None else {}
        v = self.operands(q, t, instr, v)
        if v is None:
            return None
        if name in ("ABC", "ABCB"):
            v["acc"] = int(self.rng.integers(cfg.mxm_accumulators))
            v["add"] = int(self.rng.integers(2))
        if name == "ABCB":
            v["slot"] = self.pick(slots)
        elif name == "LA":
            v["slot"] = int(self.rng.integers(cfg.mxm_act_slots))
        elif name == "ACC":
            v["acc"] = self.pick(ready)
        return instr, v

    def choose_c2c(self, q: QueueState, t: int, bound):
        options = [] if bound is not None else [("RUNTIME_DESKEW", 0.3)]
        if not self.deskewed and bound is None:
            options.append(("DESKEW", 0.25))
        if self.model.visible(q, t)[0]:
            options.append(("SEND", 3.0))
        if not options:
            return None
        name = self.pick([o[0] for o in options], [o[1] for o in options])
        instr = BY_MNEMONIC[name]
        if instr.stall:
            if t in self.stalls:
                return None
            self.stalls.add(t)
            self.deskewed |= name == "DESKEW"
            return instr, ({"t": int(self.rng.integers(1, 13))} if name == "RUNTIME_DESKEW"
                           else {})
        v = {"a": stream_operand(bound[0], bound[1])} if bound is not None else {}
        v = self.operands(q, t, instr, v)
        if v is None:
            return None
        free = [link for link in range(self.cfg.c2c_links)
                if t - self.last_send.get((q.name, link), -self.frame_cycles) >= self.frame_cycles]
        if not free:
            return None
        v["link"] = self.pick(free)
        self.last_send[(q.name, v["link"])] = t
        return instr, v

    def operands(self, q: QueueState, t: int, instr: Instr, v: dict) -> dict | None:
        """Fill the stream fields of instr not yet in v: inputs that hold values at q's input
        in cycle t, outputs whose registers are free when they land."""
        v = dict(v)
        for name, spec in instr.reads:
            if name not in v:
                v[name] = self.pick_input(q, t, stream_width(instr, v, spec))
                if v[name] is None:
                    return None
        for name, spec in instr.writes:
            v[name] = self.pick_output(q, t + instr.latency, stream_width(instr, v, spec))
            if v[name] is None:
                return None
        return v

