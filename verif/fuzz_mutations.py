"""Invalid fuzz cases: mutations of a valid lowered program (``lpu.verif.fuzz``) that make the
golden model stop with a run-time error, for comparing the RTL's error flag and stop cycle.

The assembler's static checker rejects most misuse, so the mutations edit the lowered queues
(or the MEM image) directly. ``MUTATIONS`` lists the kinds; ``mutate`` tries them from a
given kind on and keeps the first that stops the golden model with the expected message.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lpu.sw import isa
from lpu.sw.golden import run_golden
from lpu.sw.isa import BY_MNEMONIC, format_instr, stream_width
from lpu.sw.program import Item, Program

from .fuzz import DATA_WORDS, E, W, _Generator, _Queue, _stream

#: Run-time misuse an invalid case is built with (see ``_Mutator``).
MUTATIONS = ("no_value", "two_writers", "bank_conflict", "repeat_no_target",
             "repeat_out_of_range", "sync_deadlock", "recv_no_link", "gather_out_of_bank")

#: What the golden model's error message says for each mutation kind.
_EXPECT = {"no_value": "holds no value", "two_writers": "two producers",
           "bank_conflict": "read and written", "repeat_no_target": "REPEAT without",
           "repeat_out_of_range": "REPEAT steps", "sync_deadlock": "deadlock",
           "recv_no_link": "RECV on link", "gather_out_of_bank": "outside bank"}

_NOP, _HALT = BY_MNEMONIC["NOP"], BY_MNEMONIC["HALT"]


def _fetch_cycles(items: list[Item], release) -> list[int]:
    """The cycle each lowered item is fetched in; release(t) is the NOTIFY cycle that frees a
    SYNC fetched in cycle t."""
    out, t, last = [], 0, None
    for it in items:
        out.append(t)
        name, v = it.instr.mnemonic, it.values
        if name == "HALT":
            break
        if name == "NOP":
            t += v["n"]
        elif name == "REPEAT":
            last += v["n"] * v["d"]
            t = last + 1
        elif name == "SYNC":
            t = release(t) + 1
        else:
            last = t if it.instr.unit != "ICU" else None
            t += 1
    return out


class _Mutator:
    """Turns a valid lowered program into one that stops the golden model with an error."""

    def __init__(self, gen: _Generator, program: Program, rng: np.random.Generator):
        self.gen, self.program, self.rng = gen, program, rng
        self.cfg = program.config

    def release(self, t: int) -> int:
        return min(n for n in self.gen.notifies if n >= t)

    def idle_cycles(self, queue: str) -> list[int]:
        """Cycles in which a queue fetches nothing (inside a NOP, or after its HALT)."""
        items = self.program.queues[queue]
        cycles = _fetch_cycles(items, self.release)
        out = []
        for it, c in zip(items, cycles, strict=False):
            if it.instr.mnemonic == "NOP":
                out += range(c, c + it.values["n"])
        halt = cycles[-1]
        return out + list(range(halt, halt + 8))

    def insert(self, queue: str, cycle: int, new: list[Item]) -> Program:
        """The program with `new` issued by queue in an idle cycle, later timing unchanged."""
        items = list(self.program.queues[queue])
        cycles = _fetch_cycles(items, self.release)
        for i, (it, c) in enumerate(zip(items, cycles, strict=False)):
            name = it.instr.mnemonic
            if name == "NOP" and c <= cycle < c + it.values["n"]:
                n = it.values["n"]
                before = [Item(_NOP, {"n": cycle - c})] if cycle > c else []
                after = [Item(_NOP, {"n": c + n - cycle - 1})] if c + n - cycle - 1 else []
                items[i:i + 1] = before + new + after
                break
            if name == "HALT" and cycle >= c:
                pad = [Item(_NOP, {"n": cycle - c})] if cycle > c else []
                items[i:i + 1] = [*pad, *new, Item(_HALT, {})]
                break
        else:
            raise AssertionError(f"{queue} is not idle in cycle {cycle}")
        return self.with_queue(queue, items)

    def with_queue(self, queue: str, items: list[Item]) -> Program:
        queues = dict(self.program.queues)
        queues[queue] = items
        return dataclasses.replace(self.program, queues=queues)

    def queue_state(self, name: str) -> _Queue:
        return self.gen.by_name[name]

    def invalid_stream(self, q: _Queue, c: int, width: int, aligned: bool) -> int | None:
        gen = self.gen
        options = [(d, b) for d in (E, W) for b in range(0, gen.S - width + 1,
                                                         width if aligned else 1)
                   if any(gen.value_at(q, c, d, b + j) is None for j in range(width))]
        d_b = gen.pick(options)
        return None if d_b is None else _stream(*d_b)

    def valid_stream(self, q: _Queue, c: int) -> int | None:
        vis, _ = self.gen.visible(q, c)
        key = self.gen.pick(sorted(vis))
        return None if key is None else _stream(*key)

    # One method per kind; each returns candidate programs (the caller checks them on golden).

    def no_value(self):
        gen = self.gen
        issues = [i for i in gen.issues if i.base and i.instr.reads]
        for k in self.rng.permutation(len(issues))[:6]:
            iss = issues[int(k)]
            q = self.queue_state(iss.queue)
            name, spec = iss.instr.reads[int(self.rng.integers(len(iss.instr.reads)))]
            width = stream_width(iss.instr, iss.values, spec)
            s = self.invalid_stream(q, iss.cycle, width, iss.instr.mnemonic != "LW")
            if s is None:
                continue
            items = list(self.program.queues[iss.queue])
            cycles = _fetch_cycles(items, self.release)
            idx = next(j for j, (it, c) in enumerate(zip(items, cycles, strict=False))
                       if c == iss.cycle and it.instr is iss.instr)
            items[idx] = dataclasses.replace(items[idx], values={**items[idx].values, name: s})
            yield (f"{iss.queue} cycle {iss.cycle}: {iss.instr.mnemonic} operand {name} "
                   f"reads {isa.stream_text(s)}"), self.with_queue(iss.queue, items)

    def two_writers(self):
        gen = self.gen
        writers = [i for i in gen.issues if i.instr.writes]
        for k in self.rng.permutation(len(writers))[:12]:
            iss = writers[int(k)]
            z = iss.values[iss.instr.writes[0][0]]
            land = iss.cycle + iss.instr.latency
            pos = gen.by_name[iss.queue].pos
            for other in gen.queues:
                if other.pos != pos or land - 1 not in self.idle_cycles(other.name):
                    continue
                c = land - 1
                if other.unit == "VXM":
                    new = Item(BY_MNEMONIC["CONST"], {"dt": 0, "z": z, "imm": 1})
                elif other.unit == "MEM" and c not in other.bank_writes:
                    new = Item(BY_MNEMONIC["READ"], {"addr": other.bank * gen.Wd, "z": z})
                elif other.unit == "MXM_ACT":
                    new = Item(BY_MNEMONIC["ACC"], {"acc": 0, "z": (z & 32) | (z & 31) // 4 * 4})
                else:
                    continue
                yield (f"{other.name} cycle {c}: {format_instr(new.instr, new.values)} lands with "
                       f"{iss.queue}'s {iss.instr.mnemonic} from cycle {iss.cycle}"), \
                    self.insert(other.name, c, [new])

    def bank_conflict(self):
        gen = self.gen
        mems = [i for i in gen.issues if i.instr.bank]
        for k in self.rng.permutation(len(mems))[:12]:
            iss = mems[int(k)]
            q = self.queue_state(iss.queue)
            idle = self.idle_cycles(q.name)
            if iss.instr.bank == "write" and iss.cycle + 1 in idle:
                new = Item(BY_MNEMONIC["READ"], {"addr": q.bank * gen.Wd, "z": _stream(E, 0)})
                yield (f"{q.name} cycle {iss.cycle + 1}: READ after the {iss.instr.mnemonic} of "
                       f"cycle {iss.cycle}"), self.insert(q.name, iss.cycle + 1, [new])
            elif iss.instr.bank == "read" and iss.cycle - 1 in idle:
                a = self.valid_stream(q, iss.cycle - 1)
                if a is not None:
                    new = Item(BY_MNEMONIC["WRITE"], {"addr": q.bank * gen.Wd, "a": a})
                    yield (f"{q.name} cycle {iss.cycle - 1}: WRITE before the "
                           f"{iss.instr.mnemonic} of cycle {iss.cycle}"), \
                        self.insert(q.name, iss.cycle - 1, [new])

    def repeat_no_target(self):
        spots = [(name, i) for name, items in self.program.queues.items()
                 for i, it in enumerate(items) if it.instr.mnemonic in ("NOP", "NOTIFY", "SYNC")]
        for k in self.rng.permutation(len(spots))[:3]:
            name, i = spots[int(k)]
            items = list(self.program.queues[name])
            items.insert(i + 1, Item(BY_MNEMONIC["REPEAT"], {"n": 1, "d": 1, "stride": 0}))
            yield (f"{name}: REPEAT after its {items[i].instr.mnemonic} (word {i})",
                   self.with_queue(name, items))
        name = self.pick_queue()
        items = [Item(BY_MNEMONIC["REPEAT"], {"n": 2, "d": 1, "stride": 0}),
                 *self.program.queues[name]]
        yield f"{name}: REPEAT as the first word", self.with_queue(name, items)

    def pick_queue(self) -> str:
        return self.cfg.queues[int(self.rng.integers(len(self.cfg.queues)))].name

    def repeat_out_of_range(self):
        spots = [(name, i) for name, items in self.program.queues.items()
                 for i, it in enumerate(items) if it.instr.step]
        for k in self.rng.permutation(len(spots))[:4]:
            name, i = spots[int(k)]
            items = list(self.program.queues[name])
            it = items[i]
            step = it.instr.step
            value = it.values[step]
            j = i + 1
            while j < len(items) and items[j].instr.mnemonic == "REPEAT":
                value += items[j].values["n"] * items[j].values["stride"]
                j += 1
            if step == "addr":
                top = (self.cfg.queue_by_name[name].bank + 1) * self.cfg.mem_words - 1
            else:
                top = self.cfg.lanes - 1
            n = (top - value) // 127 + 1
            if n > 255:
                continue
            items.insert(j, Item(BY_MNEMONIC["REPEAT"], {"n": n, "d": 1, "stride": 127}))
            yield (f"{name}: REPEAT {n}, 1, 127 after {format_instr(it.instr, it.values)} "
                   f"(word {i})"), self.with_queue(name, items)

    def sync_deadlock(self):
        last = max(self.gen.notifies, default=-1)
        for _ in range(3):
            name = self.pick_queue()
            items = list(self.program.queues[name])
            halt = _fetch_cycles(items, self.release)[-1]
            pad = [Item(_NOP, {"n": last + 1 - halt})] if halt <= last else []
            items[-1:] = [*pad, Item(BY_MNEMONIC["SYNC"], {}), Item(_HALT, {})]
            yield (f"{name}: SYNC in cycle {max(halt, last + 1)}, after the last NOTIFY",
                   self.with_queue(name, items))

    def recv_no_link(self):
        c2c = [q.name for q in self.cfg.queues if q.unit == "C2C"]  # none without links
        for name in self.rng.permutation(c2c) if c2c else ():
            idle = self.idle_cycles(str(name))
            c = idle[int(self.rng.integers(len(idle)))]
            new = Item(BY_MNEMONIC["RECV"], {"link": 0, "z": _stream(E, 0)})
            yield f"{name} cycle {c}: RECV 0, E0", self.insert(str(name), c, [new])

    def gather_out_of_bank(self):
        cfg, plans = self.cfg, self.gen.address_plans
        for k in self.rng.permutation(len(plans))[:3]:
            queue, _, (lo_sl, lo_addr), (hi_sl, hi_addr) = plans[int(k)]
            bank = cfg.queue_by_name[queue].bank
            lane = int(self.rng.integers(cfg.lanes))
            bad = (1 - bank) * cfg.mem_words + int(self.rng.integers(DATA_WORDS))
            segments = dict(self.program.segments)
            for (sl, addr), byte in (((lo_sl, lo_addr), bad & 0xFF), ((hi_sl, hi_addr), bad >> 8)):
                word = bytearray(segments[(sl, addr)])
                word[lane] = byte
                segments[(sl, addr)] = bytes(word)
            yield (f"lane {lane} of the address tables {lo_sl}:{lo_addr:#x} and "
                   f"{hi_sl}:{hi_addr:#x} (for {queue}) set to {bad:#x}"), \
                dataclasses.replace(self.program, segments=segments)


def mutate(gen: _Generator, program: Program, rng: np.random.Generator, first: str):
    """The first mutation, starting with kind `first`, that stops golden with its error."""
    mutator = _Mutator(gen, program, rng)
    start = MUTATIONS.index(first)
    for kind in MUTATIONS[start:] + MUTATIONS[:start]:
        for what, candidate in getattr(mutator, kind)():
            error = run_golden(candidate).error
            if error is not None and _EXPECT[kind] in error.message:
                return kind, f"{what}; golden stops: {error}", candidate
    raise AssertionError("no mutation stops the golden model")
