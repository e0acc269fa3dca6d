"""Static schedule: issue cycles, stream arrivals, conflicts and the predicted cycle count.

Timing model (``docs/architecture.md``): an instruction issued in cycle ``t`` by a slice at
position ``p`` with latency ``d`` loads its output stream register at the end of cycle
``t + d``; the value moves one slice per cycle in its direction, so a consumer at position ``q``
finds it at its input in cycle ``t + d + |q - p|`` and must issue in exactly that cycle.
A slice that writes a stream replaces the value passing it. Tile freezes (DESKEW,
RUNTIME_DESKEW) stop everything, so they add wall-clock cycles but never move one value
relative to another: the schedule is computed in frozen-free cycles and the freezes added last.
The VXM ALUs share one position; a result one of them writes is also visible to all of them
in the next cycle (ALU chaining), ahead of whatever arrives at the VXM's input on that stream.
"""

from __future__ import annotations

import bisect
import heapq
from collections import defaultdict
from dataclasses import dataclass, field

from .errors import LpuError, LpuErrors
from .isa import (
    BY_MNEMONIC,
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
from .program import Item, LoweredProgram, Program

_NOP, _HALT = BY_MNEMONIC["NOP"], BY_MNEMONIC["HALT"]
NOP_MAX = (1 << 16) - 1


@dataclass(frozen=True)
class Issue:
    """One instruction issued on one cycle (a REPEAT gives one Issue per repetition)."""

    queue: str
    cycle: int
    instr: Instr
    values: dict
    item: Item
    repeat: int = 0

    def where(self) -> str:
        loc = self.item.loc
        return f"line {loc.line}" if loc and loc.line else f"{self.queue} cycle {self.cycle}"


@dataclass(frozen=True)
class StreamRead:
    """A consumer's read and the producer whose value it gets."""

    issue: Issue
    operand: str
    stream: str
    producer: Issue


@dataclass
class QueueStats:
    words: int = 0
    busy: int = 0  # cycles in which the queue issued a unit instruction
    end: int = 0  # cycle its HALT issued


@dataclass
class Schedule:
    """The result of scheduling a Program: every issue, the lowered queue items and timings;
    ``image`` is the lowered program the golden model and the backends run."""

    program: Program
    lowered: dict[str, list[Item]] = field(default_factory=dict)
    image: LoweredProgram | None = None
    issues: list[Issue] = field(default_factory=list)
    reads: list[StreamRead] = field(default_factory=list)
    freezes: list[tuple[int, int]] = field(default_factory=list)  # (schedule cycle, cycles)
    queues: dict[str, QueueStats] = field(default_factory=dict)
    end: int = 0  # last effect, in schedule (freeze-free) cycles

    @property
    def frozen(self) -> int:
        return sum(c for _, c in self.freezes)

    @property
    def cycles(self) -> int:
        """Predicted wall-clock cycles from start to done."""
        return self.end + self.frozen


class _QueueState:
    def __init__(self, name, items):
        self.name = name
        self.items = items
        self.index = 0
        self.lowered: list[Item] = []
        self.last: Issue | None = None  # last unit issue, the target of a REPEAT
        self.last_item: Item | None = None
        self.sync_at: int | None = None


def schedule(program: Program) -> Schedule:
    """Compute the static schedule; raise LpuErrors listing every conflict found."""
    return _Scheduler(program).run()


class _Scheduler:
    def __init__(self, program: Program):
        self.p = program
        self.cfg = program.config
        self.out = Schedule(program)
        self.errors: list[LpuError] = []

    def err(self, msg, item: Item | None, col_key: str | None = None):
        loc = item.loc if item else None
        if loc is not None and col_key and col_key in item.cols:
            loc = type(loc)(loc.file, loc.line, item.cols[col_key])
        self.errors.append(LpuError(msg, loc))

    def run(self) -> Schedule:
        cfg = self.cfg
        states = [_QueueState(q.name, self.p.queues.get(q.name, [])) for q in cfg.queues]
        for st in states:  # each item is at least one word: refuse before expanding REPEATs
            if len(st.items) > cfg.queue_words:
                self.err(f"queue {st.name} needs at least {len(st.items)} instruction words; "
                         f"this tile holds {cfg.queue_words}", st.items[cfg.queue_words])
        if self.errors:
            raise LpuErrors(self.errors)
        heap: list[tuple[int, int, int]] = []

        def push(i, t):
            st = states[i]
            nxt = st.items[st.index].instr.mnemonic if st.index < len(st.items) else ""
            heapq.heappush(heap, (t, 1 if nxt == "NOTIFY" else 0, i))

        for i in range(len(states)):
            push(i, 0)
        blocked: list[int] = []
        freeze_at: dict[int, Issue] = {}
        while heap:
            t, _, qi = heapq.heappop(heap)
            st = states[qi]
            if st.index == len(st.items):
                st.lowered.append(Item(_HALT, {}, None))
                self.out.queues[st.name] = QueueStats(end=t)
                continue
            item = st.items[st.index]
            instr = item.instr
            if item.at is not None and instr.mnemonic != "REPEAT":
                if item.at < t:
                    prev = st.last_item
                    what = f" (after {prev.instr.mnemonic} at line {prev.loc.line})" \
                        if prev is not None and prev.loc else ""
                    self.err(f"unit issued twice in one cycle: {st.name} is busy through cycle "
                             f"{t - 1}{what}, so it cannot issue at cycle {item.at}", item, "@")
                elif item.at > t:
                    gap = item.at - t
                    if len(st.lowered) + gap // NOP_MAX > self.cfg.queue_words:
                        self.err(f"@{item.at} needs {-(-gap // NOP_MAX)} NOP words to wait "
                                 f"{gap} cycles; queue {st.name} holds {self.cfg.queue_words}",
                                 item, "@")
                        raise LpuErrors(self.errors)
                    while gap:
                        n = min(gap, NOP_MAX)
                        st.lowered.append(Item(_NOP, {"n": n}, item.loc))
                        gap -= n
                    push(qi, item.at)
                    continue
            st.index += 1
            st.last_item = item
            name = instr.mnemonic
            if name == "HALT":
                st.lowered.append(item)
                if st.index < len(st.items):
                    self.err("unreachable instruction after HALT", st.items[st.index])
                    st.index = len(st.items)
                self.out.queues[st.name] = QueueStats(end=t)
                continue
            st.lowered.append(item)
            if name == "NOP":
                push(qi, t + item.values["n"])
            elif name == "REPEAT":
                push(qi, self.repeat(st, item, t))
            elif name == "SYNC":
                st.sync_at = t
                blocked.append(qi)
            elif name == "NOTIFY":
                for bi in [b for b in blocked if states[b].sync_at <= t]:
                    blocked.remove(bi)
                    states[bi].sync_at = None
                    push(bi, t + 1)
                push(qi, t + 1)
            else:
                issue = Issue(st.name, t, instr, item.values, item)
                self.out.issues.append(issue)
                st.last = issue
                if instr.stall:
                    if t in freeze_at:
                        self.err(f"unit issued twice in one cycle: the tile freeze is already "
                                 f"issued in cycle {t} by {freeze_at[t].where()}", item)
                    freeze_at[t] = issue
                push(qi, t + 1)
            if name != "REPEAT" and instr.unit == "ICU":
                st.last = None
        for bi in blocked:
            st = states[bi]
            sync = next(i for i in reversed(st.items[:st.index]) if i.instr.mnemonic == "SYNC")
            self.err(f"SYNC in {st.name} at cycle {st.sync_at} is never released: no NOTIFY "
                     f"issues in that cycle or later", sync)
            self.out.queues[st.name] = QueueStats(end=st.sync_at)
        for st in states:
            self.out.lowered[st.name] = st.lowered
            qs = self.out.queues[st.name]
            qs.words = len(st.lowered)
            if qs.words > cfg.queue_words:
                self.err(f"queue {st.name} needs {qs.words} instruction words; this tile holds "
                         f"{cfg.queue_words}", st.items[-1] if st.items else None)
        self.finish(freeze_at)
        if self.errors:
            raise LpuErrors(self.errors)
        p = self.p
        self.out.image = LoweredProgram(p.config, p.symbols, p.segments, self.out.lowered, p.file)
        return self.out

    def repeat(self, st: _QueueState, item: Item, t: int) -> int:
        v = item.values
        prev = st.last
        if item.at is not None:
            self.err("REPEAT cannot take '@cycle': it repeats relative to the previous "
                     "instruction", item, "@")
        if prev is None:
            self.err("REPEAT must follow a unit instruction (not an ICU instruction or the "
                     "start of the queue)", item)
            return t
        if prev.instr.stall:
            self.err(f"{prev.instr.mnemonic} cannot be repeated", item)
            return t
        step = prev.instr.step
        if v["stride"] and step is None:
            self.err(f"{prev.instr.mnemonic} has no field a REPEAT stride can step", item,
                     "stride")
            return t
        issue = prev
        for k in range(1, v["n"] + 1):
            values = dict(prev.values)
            if step:
                values[step] = prev.values[step] + k * v["stride"]
                lo, hi = step_range(prev.instr, step, self.cfg, st.name)
                if not lo <= values[step] <= hi:
                    self.err(f"REPEAT steps {prev.instr.mnemonic} {step} to {values[step]}, "
                             f"outside {lo}..{hi}", item, "stride")
                    return t
            issue = Issue(st.name, prev.cycle + k * v["d"], prev.instr, values, prev.item, k)
            self.out.issues.append(issue)
        st.last = issue
        return prev.cycle + v["n"] * v["d"] + 1

    # Checks on the complete list of issues

    def finish(self, freeze_at):
        cfg = self.cfg
        pos = {q.name: q.slice.position for q in cfg.queues}
        end = max((qs.end for qs in self.out.queues.values()), default=0)
        writes: dict[tuple[int, int, int, int], Issue] = {}
        # A value written at position p and first held in cycle `hold` sits at position
        # p + k (east) or p - k (west) in cycle hold + k. So (direction, stream, hold - p) for
        # east, (direction, stream, hold + p) for west, is the same for every (cycle, position)
        # along its path: one lookup finds every writer whose value can pass a reader, and a
        # bisect on the writers' positions (sorted below) finds the nearest one upstream, the
        # one whose value replaced the others'.
        diag: dict[tuple[int, int, int], list[tuple[int, Issue]]] = defaultdict(list)
        banks: dict[tuple[str, int], dict[str, Issue]] = defaultdict(dict)
        last_abc: dict[tuple[str, int], Issue] = {}
        for iss in sorted(self.out.issues, key=lambda i: (i.cycle, pos[i.queue])):
            instr, v = iss.instr, iss.values
            end = max(end, iss.cycle + instr.settle + 1)
            if instr.unit != "ICU":
                self.out.queues[iss.queue].busy += 1
            p = pos[iss.queue]
            hold = iss.cycle + instr.latency + 1
            for name, spec in instr.writes:
                for s in range(stream_width(instr, v, spec)):
                    d, idx = stream_dir(v[name]), stream_index(v[name]) + s
                    key = (d, idx, p, hold)
                    if key in writes:
                        self.err(f"two producers on one stream register: {stream_text(v[name])}"
                                 f"{'+' + str(s) if s else ''} at {self.slice_name(p)} is "
                                 f"written at the end of cycle {hold - 1} by "
                                 f"{writes[key].where()} and by this instruction", iss.item, name)
                        continue
                    writes[key] = iss
                    diag[(d, idx, hold - p if d == E else hold + p)].append((p, iss))
            self.bank_use(iss, banks)
            if instr.mnemonic in ("ABC", "ABCB"):
                last_abc[(iss.queue, v["acc"])] = iss
            elif instr.mnemonic == "ACC":
                abc = last_abc.get((iss.queue, v["acc"]))
                if abc and iss.cycle < abc.cycle + abc.instr.latency:
                    self.err(f"accumulator {v['acc']} is not ready: ABC at {abc.where()} "
                             f"(cycle {abc.cycle}) is ready for an ACC at cycle "
                             f"{abc.cycle + abc.instr.latency}, not {iss.cycle}", iss.item, "acc")
        for lst in diag.values():
            lst.sort(key=lambda e: e[0])
        for iss in self.out.issues:
            self.check_reads(iss, pos[iss.queue], diag)
        self.out.end = end
        wall = 0
        for t in sorted(freeze_at):
            iss = freeze_at[t]
            if iss.instr.stall == "deskew":
                w = t + wall
                frozen = (w // cfg.hac_epoch + 1) * cfg.hac_epoch - w - 1
            else:
                frozen = iss.values["t"]
            self.out.freezes.append((t, frozen))
            wall += frozen

    def slice_name(self, p):
        return self.cfg.slices[p].name

    def bank_use(self, iss: Issue, banks):
        kind = iss.instr.bank
        if kind is None:
            return
        when = iss.cycle if kind == "read" else iss.cycle + iss.instr.latency
        other = "write" if kind == "read" else "read"
        use = banks[(iss.queue, when)]
        if other in use:
            self.err(f"MEM bank read and written in one cycle: the bank of {iss.queue} in "
                     f"cycle {when}, {other} by {use[other].where()}", iss.item,
                     "addr" if "addr" in iss.values else "m")
        use[kind] = iss

    def check_reads(self, iss: Issue, q: int, diag):
        instr, v = iss.instr, iss.values
        last = self.cfg.positions - 1
        for name, spec in instr.reads:
            for s in range(stream_width(instr, v, spec)):
                d, idx = stream_dir(v[name]), stream_index(v[name]) + s
                text = stream_text(stream_operand(d, idx))
                producer = None
                if self.cfg.slices[q].kind == "VXM":
                    # Chaining: a VXM ALU sees a result any VXM ALU wrote the cycle before.
                    lst = diag.get((d, idx, iss.cycle + (q if d == W else -q)), [])
                    producer = next((e[1] for e in lst if e[0] == q), None)
                if producer is None and d == E and q > 0:
                    lst = diag.get((E, idx, iss.cycle - (q - 1)), [])
                    k = bisect.bisect_right(lst, q - 1, key=lambda e: e[0])
                    producer = lst[k - 1][1] if k else None
                elif producer is None and d == W and q < last:
                    lst = diag.get((W, idx, iss.cycle + q + 1), [])
                    k = bisect.bisect_left(lst, q + 1, key=lambda e: e[0])
                    producer = lst[k][1] if k < len(lst) else None
                if producer is None:  # described only when reported: nearest() is O(issues)
                    self.err(lambda d=d, idx=idx, q=q, t=iss.cycle, text=text:
                             f"stream {text} holds no value at {self.slice_name(q)} in cycle "
                             f"{t}{self.nearest(d, idx, q, t)}", iss.item, name)
                else:
                    self.out.reads.append(StreamRead(iss, name, text, producer))

    def nearest(self, d, idx, q, t) -> str:
        """Describe the value on this stream that passes position q closest to cycle t."""
        pos = {qq.name: qq.slice.position for qq in self.cfg.queues}
        best = None
        for iss in self.out.issues:
            for name, spec in iss.instr.writes:
                v = iss.values[name]
                base, width = stream_index(v), stream_width(iss.instr, iss.values, spec)
                if stream_dir(v) != d or not base <= idx < base + width:
                    continue
                p = pos[iss.queue]
                if (d == E and p >= q) or (d == W and p <= q):
                    continue
                arrive = iss.cycle + iss.instr.latency + abs(q - p)
                if best is None or abs(arrive - t) < abs(best[0] - t):
                    best = (arrive, iss)
        if best is None:
            return "; nothing writes this stream upstream of it"
        return f"; the nearest value, from {best[1].where()}, arrives in cycle {best[0]}"
