"""Invalid fuzz cases: mutations of a valid lowered program that make the golden model stop
with a run-time error, for comparing the RTL's error flag and stop cycle.

The assembler's static checker rejects most misuse, so the mutations edit the lowered queues
(or the MEM image) directly. ``MUTATIONS`` lists the kinds; ``mutate`` tries them from a
given kind on and keeps the first that stops the golden model with the expected message. The
mutator knows the program through ``model.GeneratedProgram`` only, never the generator.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from lpu.sw import isa
from lpu.sw.golden import run_golden
from lpu.sw.isa import (
    BY_MNEMONIC,
    E,
    W,
    format_instr,
    stream_dir,
    stream_index,
    stream_operand,
    stream_width,
)
from lpu.sw.program import Item, Program

from .model import DATA_WORDS, GeneratedProgram, QueueState, pick

#: Run-time misuse an invalid case is built with (see ``_Mutator``).
MUTATIONS = ("no_value", "two_writers", "bank_conflict", "repeat_no_target",
             "repeat_out_of_range", "sync_deadlock", "recv_no_link", "gather_out_of_bank")

#: What the golden model's error message says for each mutation kind.
_EXPECT = {"no_value": "holds no value", "two_writers": "two producers",
           "bank_conflict": "read and written", "repeat_no_target": "REPEAT without",
           "repeat_out_of_range": "REPEAT steps", "sync_deadlock": "deadlock",
           "recv_no_link": "RECV on link", "gather_out_of_bank": "outside bank"}

_NOP, _HALT = BY_MNEMONIC["NOP"], BY_MNEMONIC["HALT"]


def fetch_cycles(items: list[Item], halt: int) -> list[int | None]:
    """The cycle each item of a scheduled, lowered queue is fetched in, None for a REPEAT.
    Nothing is sequenced here: an item written with ``@N`` is fetched in cycle N (the scheduler
    refuses the program otherwise), a NOP the scheduler inserted ends where the next item
    starts, and the queue's HALT is fetched in its scheduled end cycle `halt`."""
    out: list[int | None] = [None] * len(items)
    nxt = halt
    for i in reversed(range(len(items))):
        it = items[i]
        if it.at is not None:
            nxt = out[i] = it.at
        elif it.instr is _HALT:
            nxt = out[i] = halt
        elif it.instr is _NOP:
            nxt = out[i] = nxt - it.values["n"]
    return out


class _Mutator:
    """Turns a valid lowered program into one that stops the golden model with an error."""

    def __init__(self, gen: GeneratedProgram, program: Program, halts: dict[str, int],
                 rng: np.random.Generator):
        self.gen, self.program, self.halts, self.rng = gen, program, halts, rng
        self.cfg = program.config
        self.model = gen.model

    def cycles(self, queue: str) -> list[int | None]:
        return fetch_cycles(self.program.queues[queue], self.halts[queue])

    def idle_cycles(self, queue: str) -> list[int]:
        """Cycles in which a queue fetches nothing (inside a NOP, or after its HALT)."""
        items = self.program.queues[queue]
        cycles = self.cycles(queue)
        out = []
        for it, c in zip(items, cycles, strict=False):
            if it.instr.mnemonic == "NOP":
                out += range(c, c + it.values["n"])
        halt = cycles[-1]
        return out + list(range(halt, halt + 8))

    def insert(self, queue: str, cycle: int, new: list[Item]) -> Program:
        """The program with `new` issued by queue in an idle cycle, later timing unchanged."""
        items = list(self.program.queues[queue])
        cycles = self.cycles(queue)
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

    def invalid_stream(self, q: QueueState, c: int, width: int, aligned: bool) -> int | None:
        model = self.model
        options = [(d, b) for d in (E, W) for b in range(0, model.S - width + 1,
                                                         width if aligned else 1)
                   if any(model.value_at(q, c, d, b + j) is None for j in range(width))]
        d_b = pick(self.rng, options)
        return None if d_b is None else stream_operand(*d_b)

    def valid_stream(self, q: QueueState, c: int) -> int | None:
        vis, _ = self.model.visible(q, c)
        key = pick(self.rng, sorted(vis))
        return None if key is None else stream_operand(*key)

    # One method per kind; each returns candidate programs (the caller checks them on golden).

    def no_value(self):
        gen = self.gen
        issues = [i for i in gen.issues if i.base and i.instr.reads]
        for k in self.rng.permutation(len(issues))[:6]:
            iss = issues[int(k)]
            q = gen.queue(iss.queue)
            name, spec = iss.instr.reads[int(self.rng.integers(len(iss.instr.reads)))]
            width = stream_width(iss.instr, iss.values, spec)
            s = self.invalid_stream(q, iss.cycle, width, iss.instr.mnemonic != "LW")
            if s is None:
                continue
            items = list(self.program.queues[iss.queue])
            cycles = self.cycles(iss.queue)
            idx = next(j for j, (it, c) in enumerate(zip(items, cycles, strict=True))
                       if c == iss.cycle and it.instr is iss.instr)
            items[idx] = dataclasses.replace(items[idx], values={**items[idx].values, name: s})
            yield (f"{iss.queue} cycle {iss.cycle}: {iss.instr.mnemonic} operand {name} "
                   f"reads {isa.stream_text(s)}"), self.with_queue(iss.queue, items)

    def two_writers(self):
        gen, words = self.gen, self.cfg.mem_words
        writers = [i for i in gen.issues if i.instr.writes]
        for k in self.rng.permutation(len(writers))[:12]:
            iss = writers[int(k)]
            z = iss.values[iss.instr.writes[0][0]]
            land = iss.cycle + iss.instr.latency
            pos = gen.queue(iss.queue).pos
            for other in gen.queues:
                if other.pos != pos or land - 1 not in self.idle_cycles(other.name):
                    continue
                c = land - 1
                if other.unit == "VXM":
                    new = Item(BY_MNEMONIC["CONST"], {"dt": 0, "z": z, "imm": 1})
                elif other.unit == "MEM" and c not in other.bank_writes:
                    new = Item(BY_MNEMONIC["READ"], {"addr": other.bank * words, "z": z})
                elif other.unit == "MXM_ACT":  # ACC writes an aligned i32 group
                    acc_z = stream_operand(stream_dir(z), stream_index(z) // 4 * 4)
                    new = Item(BY_MNEMONIC["ACC"], {"acc": 0, "z": acc_z})
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
            q = gen.queue(iss.queue)
            idle = self.idle_cycles(q.name)
            if iss.instr.bank == "write" and iss.cycle + 1 in idle:
                new = Item(BY_MNEMONIC["READ"], {"addr": q.bank * self.cfg.mem_words,
                                                 "z": stream_operand(E, 0)})
                yield (f"{q.name} cycle {iss.cycle + 1}: READ after the {iss.instr.mnemonic} of "
                       f"cycle {iss.cycle}"), self.insert(q.name, iss.cycle + 1, [new])
            elif iss.instr.bank == "read" and iss.cycle - 1 in idle:
                a = self.valid_stream(q, iss.cycle - 1)
                if a is not None:
                    new = Item(BY_MNEMONIC["WRITE"], {"addr": q.bank * self.cfg.mem_words, "a": a})
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
            halt = self.cycles(name)[-1]
            pad = [Item(_NOP, {"n": last + 1 - halt})] if halt <= last else []
            items[-1:] = [*pad, Item(BY_MNEMONIC["SYNC"], {}), Item(_HALT, {})]
            yield (f"{name}: SYNC in cycle {max(halt, last + 1)}, after the last NOTIFY",
                   self.with_queue(name, items))

    def recv_no_link(self):
        c2c = [q.name for q in self.cfg.queues if q.unit == "C2C"]  # none without links
        for name in self.rng.permutation(c2c) if c2c else ():
            idle = self.idle_cycles(str(name))
            c = idle[int(self.rng.integers(len(idle)))]
            new = Item(BY_MNEMONIC["RECV"], {"link": 0, "z": stream_operand(E, 0)})
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


def mutate(generated: GeneratedProgram, program: Program, halts: dict[str, int],
           rng: np.random.Generator, first: str):
    """The first mutation, starting with kind `first`, that stops golden with its error:
    (kind, what it changed and how golden stops, the mutated program). `program` is
    `generated`'s lowered program, `halts` each queue's scheduled HALT cycle."""
    mutator = _Mutator(generated, program, halts, rng)
    start = MUTATIONS.index(first)
    for kind in MUTATIONS[start:] + MUTATIONS[:start]:
        for what, candidate in getattr(mutator, kind)():
            error = run_golden(candidate).error
            if error is not None and _EXPECT[kind] in error.message:
                return kind, f"{what}; golden stops: {error}", candidate
    raise AssertionError("no mutation stops the golden model")
