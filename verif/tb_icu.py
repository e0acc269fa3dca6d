"""cocotb testbench of the ICU instruction queue (``lpu.hw.icu.InstructionQueue``).

The reference model runs each program through ``lpu.sw.golden.GoldenTile`` on a tile whose
only non-empty queue is the one under test: the golden sequencer decides every issue cycle, the
stepped field values, every NOTIFY, SYNC wait, HALT and error. Only the units' data paths are
replaced, by a recorder of ``(cycle, instruction, values)``: this queue drives no streams here.
A SYNC is released by a NOTIFY of a second (helper) queue in the cycle the testbench pulses
``release``. The model part (down to ``# cocotb part``) imports only lpu.sw.

Environment: ``LPU_CONFIG`` (preset name), ``LPU_UNIT``, ``LPU_BANK`` (the DUT's build
parameters), ``LPU_SEED`` (default 1), ``LPU_TRANSACTIONS`` (random instructions, default 1000).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field

from lpu.sw.asm import bank_problem
from lpu.sw.config import TileConfig
from lpu.sw.golden import GoldenTile, TileError
from lpu.sw.isa import (
    BY_MNEMONIC,
    DTYPE_INFO,
    ILLEGAL_VALUES,
    INSTRUCTIONS,
    STREAM_INDEX_BITS,
    E,
    EncodingError,
    Instr,
    check_operands,
    decode,
    encode,
    field_limit,
    step_range,
    stream_index,
    stream_operand,
    stream_text,
)
from lpu.sw.program import Item, LoweredProgram

NOP_MAX = 65535
HALT_WORD = 0
#: Stands for a word this queue may not issue; the recorder raises the tile error when the golden
#: sequencer issues it (in its fetch cycle, like every unit instruction).
ILLEGAL = Instr("ILLEGAL", -1, "ILLEGAL", (), 0, "a word this queue may not issue")


def word(mnemonic: str, **values: int) -> int:
    """Encode one instruction (the ISA's encoder)."""
    return encode(BY_MNEMONIC[mnemonic], values)


def raw_fields(instr: Instr, values: dict[str, int]) -> dict[str, int]:
    """The fields of ``instr``'s format as the RTL issue carries them (raw bits); the issue's
    other fields are not defined."""
    return {f.name: values[f.name] & ((1 << f.width) - 1) for f in instr.fields}


@dataclass
class Expected:
    """What the queue must do, per schedule cycle (cycle 0 = the cycle after ``start``)."""

    issues: dict[int, tuple[int, dict[str, int]]]  # cycle -> (opcode, raw fields)
    halt: int | None
    error: int | None
    notifies: set[int]
    syncs: set[int]  # cycles with sync_wait high
    releases: list[int]  # cycles in which the testbench pulses release
    busy: int

    @property
    def end(self) -> int:
        return self.halt if self.halt is not None else self.error


class _RecordingTile(GoldenTile):
    """GoldenTile with the units' data paths replaced by a recorder of the watched queue."""

    def __init__(self, program: LoweredProgram, watch: str):
        super().__init__(program)
        self.watch = watch
        self.issued: list[tuple[int, Instr, dict[str, int]]] = []
        self.notifies: set[int] = set()
        self.syncs: set[int] = set()
        self.sync_starts: list[int] = []

    def sequence(self, q, t):
        notify = super().sequence(q, t)
        if q.name == self.watch:
            if notify:
                self.notifies.add(t)
            if q.sync is not None:
                self.syncs.add(t)
                if q.sync == t:
                    self.sync_starts.append(t)
        return notify

    def skip_idle(self, limit):
        """Step every cycle: the recorder samples the watched queue's SYNC wait per cycle."""

    def issue(self, q, instr, v, t):
        if instr is ILLEGAL:
            raise TileError(t, q.name, "illegal instruction word")
        super().issue(q, instr, v, t)

    def _record(self, q, instr, v, t):
        if q.name == self.watch:
            self.issued.append((t, instr, dict(v)))

    _mem = _vxm = _mxm_wgt = _mxm_act = _sxm = _c2c = _record


class IcuModel:
    """Golden expectations for one queue of unit class ``unit`` (and MEM ``bank``)."""

    def __init__(self, config: TileConfig, unit: str, bank: int | None = None):
        self.cfg, self.unit, self.bank = config, unit, bank
        self.queue = next(q.name for q in config.queues if q.unit == unit and q.bank == bank)
        self.helper = next(q.name for q in config.queues if q.name != self.queue)

    def item(self, w: int) -> Item:
        """The golden item of a word, or ILLEGAL by the software ISA's rules for this queue."""
        try:
            instr, values = decode(w)
        except EncodingError:
            return Item(ILLEGAL, {})
        if instr.unit not in ("ICU", self.unit) or check_operands(instr, values, self.cfg) or any(
                bank_problem(self.cfg, self.queue, f, values[f.name]) for f in instr.fields):
            return Item(ILLEGAL, {})
        return Item(instr, values)

    def legal(self, w: int) -> bool:
        return self.item(w).instr is not ILLEGAL

    def _helper_items(self, cycles: list[int]) -> list[Item]:
        """NOTIFY in each of ``cycles`` (sorted, distinct), then HALT."""
        nop, notify = BY_MNEMONIC["NOP"], BY_MNEMONIC["NOTIFY"]
        out, t = [], 0
        for c in cycles:
            while c > t:
                n = min(c - t, NOP_MAX)
                out.append(Item(nop, {"n": n}))
                t += n
            out.append(Item(notify, {}))
            t = c + 1
        return [*out, Item(BY_MNEMONIC["HALT"], {})]

    def run(self, words: list[int], sync_delays: list[int] = (), strays: list[int] = (),
            max_cycles: int = 1_000_000) -> Expected:
        """Run ``words`` (followed by the HALT the memory holds after them, if any room).

        The k-th SYNC is released ``sync_delays[k]`` cycles after its own cycle (0 if the list
        is short); ``strays`` are extra release pulses, at cycles where they may do nothing.
        """
        items = [self.item(w) for w in words]
        if len(words) < self.cfg.queue_words:
            items.append(Item(BY_MNEMONIC["HALT"], {}))
        halt = Item(BY_MNEMONIC["HALT"], {})
        releases = sorted(set(strays))
        for _ in range(10_000):
            prog = LoweredProgram(self.cfg, queues={q.name: [halt] for q in self.cfg.queues})
            prog.queues[self.queue] = items
            prog.queues[self.helper] = self._helper_items(releases)
            tile = _RecordingTile(prog, self.queue)
            tile.run(max_cycles)
            q = next(q for q in tile.queues if q.name == self.queue)
            if tile.error is not None and tile.error.message.startswith("deadlock"):
                k = len(tile.sync_starts) - 1  # the blocked SYNC is the k-th
                delay = sync_delays[k] if k < len(sync_delays) else 0
                releases = sorted({*releases, q.sync + delay})
                continue
            break
        else:
            raise RuntimeError("model: SYNC releases did not converge")
        if tile.error is not None and tile.error.queue != self.queue:
            raise RuntimeError(f"model: the tile stopped outside the queue: {tile.error}")
        if tile.busy[self.queue] != len(tile.issued):
            raise RuntimeError("model: golden busy count and recorded issues disagree")
        return Expected(
            issues={t: (i.opcode, raw_fields(i, v)) for t, i, v in tile.issued},
            halt=q.halted, error=tile.error.cycle if tile.error else None,
            notifies=tile.notifies, syncs=tile.syncs, releases=releases,
            busy=tile.busy[self.queue])


def wall_plan(case: Case, last: int, prefetch: int) -> list[int | None]:
    """Every clock cycle after the one that pulses ``start``: the schedule cycle it is, or
    None (the ``prefetch`` cycles, then each freeze of ``case.freeze`` before its cycle), up
    to schedule cycle ``last``. A cycle drives ``advance`` when the next one is a schedule
    cycle."""
    plan: list[int | None] = [None] * prefetch
    for t in range(last + 1):
        plan += [None] * case.freeze.get(t, 0) + [t]
    return plan


def check_cycle(exp: Expected, t: int, obs: dict, done_issues: int) -> list[str]:
    """Compare one schedule cycle's outputs (``obs``) with the model; return the mismatches."""
    bad = []
    want = exp.issues.get(t)
    if obs["valid"] != (want is not None):
        bad.append(f"cycle {t}: issue valid {obs['valid']}, expected {int(want is not None)}")
    elif want is not None and (obs["opcode"], {k: obs["fields"][k] for k in want[1]}) != want:
        diff = {k: (obs["fields"][k], v) for k, v in want[1].items() if obs["fields"][k] != v}
        bad.append(f"cycle {t}: issued opcode {obs['opcode']:#x}, expected {want[0]:#x}; "
                   f"fields differing (got, expected): {diff}")
    for name, value in (("halted", exp.halt is not None and t >= exp.halt),
                        ("error", exp.error is not None and t >= exp.error),
                        ("notify", t in exp.notifies), ("sync_wait", t in exp.syncs),
                        ("busy_count", done_issues)):
        if obs[name] != int(value):
            bad.append(f"cycle {t}: {name} = {obs[name]}, expected {int(value)}")
    return bad


@dataclass
class Case:
    """One program run: words, SYNC release delays, stray releases, freezes, expectations."""

    name: str
    words: list[int]
    sync_delays: list[int] = field(default_factory=list)
    strays: list[int] = field(default_factory=list)
    freeze: dict[int, int] = field(default_factory=dict)  # schedule cycle -> frozen cycles first
    expected: Expected | None = None

    def image(self, queue_words: int) -> list[int]:
        """The words the host writes: the program, then a HALT if the memory has room."""
        return self.words + ([HALT_WORD] if len(self.words) < queue_words else [])


class ProgramGen:
    """Random legal programs for one queue (seeded)."""

    def __init__(self, model: IcuModel, rng: random.Random):
        self.model, self.cfg, self.rng = model, model.cfg, rng
        self.instrs = [i for i in INSTRUCTIONS if i.unit == model.unit]

    def values(self, instr: Instr) -> dict[str, int]:
        """Random legal field values of one unit instruction."""
        rng, cfg = self.rng, self.cfg
        for _ in range(1000):
            v = {}
            for f in instr.fields:
                if f.kind == "stream":
                    v[f.name] = stream_operand(rng.getrandbits(1), rng.randrange(cfg.streams))
                elif f.kind == "dtype":
                    v[f.name] = DTYPE_INFO[rng.choice(f.choices)].code
                elif f.kind == "addr" and self.model.bank is not None:
                    b = self.model.bank
                    v[f.name] = rng.randrange(b * cfg.mem_words, (b + 1) * cfg.mem_words)
                else:
                    hi = field_limit(f, cfg)
                    v[f.name] = rng.randint(f.lo, f.hi if hi is None else hi)
                if v[f.name] in ILLEGAL_VALUES.get((instr.mnemonic, f.name), ()):
                    break
            else:
                if not check_operands(instr, v, cfg):
                    return v
        raise RuntimeError(f"no legal values found for {instr.mnemonic}")

    def unit(self, instr: Instr | None = None) -> tuple[Instr, dict[str, int]]:
        instr = instr or self.rng.choice(self.instrs)
        return instr, self.values(instr)

    def stride(self, instr: Instr, value: int, n: int) -> int:
        """A stride whose n steps keep ``instr``'s step field (now ``value``) in range."""
        if instr.step is None:
            return 0
        lo, hi = step_range(instr, instr.step, self.cfg, self.model.queue)
        smin, smax = max(-128, -((value - lo) // n)), min(127, (hi - value) // n)
        if self.rng.random() < 0.5:
            smin, smax = max(smin, -3), min(smax, 3)
        return self.rng.randint(smin, smax)

    def program(self, length: int, tail_error: bool = False) -> Case:
        """``length`` random instructions, then HALT (or a random error)."""
        rng = self.rng
        words, delays, last = [], [], None  # last: (instr, values) REPEAT would repeat
        while len(words) < length:
            r = rng.random()
            if r < 0.22 and last is not None and last[0].stall is None:
                instr, v = last
                n = rng.randint(1, 6) if rng.random() < 0.9 else rng.randint(1, 40)
                d = rng.randint(1, 4) if rng.random() < 0.8 else rng.randint(1, 30)
                s = self.stride(instr, v[instr.step], n) if instr.step else 0
                words.append(word("REPEAT", n=n, d=d, stride=s))
                if instr.step:
                    last = (instr, {**v, instr.step: v[instr.step] + n * s})
            elif r < 0.34:
                n = rng.randint(1, 6) if rng.random() < 0.9 else rng.randint(1, 200)
                words.append(word("NOP", n=n))
                last = None
            elif r < 0.38:
                words.append(word("SYNC"))
                delays.append(rng.choice([0, 0, 1, rng.randint(1, 25)]))
                last = None
            elif r < 0.42:
                words.append(word("NOTIFY"))
                last = None
            else:
                instr, v = self.unit()
                words.append(encode(instr, v))
                last = (instr, v)
        if tail_error:
            words.append(rng.choice([rng.getrandbits(32), word("NOP", n=1) | 1,
                                     word("REPEAT", n=1, d=1, stride=0)]))
        words.append(HALT_WORD)
        return Case("random", words, delays)


def random_cases(model: IcuModel, rng: random.Random, transactions: int) -> list[Case]:
    """Random programs with ``transactions`` instructions in all, some with freezes/strays."""
    gen, cases, count = ProgramGen(model, rng), [], 0
    while count < transactions:
        case = gen.program(rng.randint(4, 60), tail_error=rng.random() < 0.1)
        count += len(case.words)
        if rng.random() < 0.3:
            case.strays = [rng.randrange(200) for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.3:
            case.freeze = {rng.randrange(150): rng.randint(1, 5) for _ in range(rng.randint(1, 3))}
        case.name = f"random {len(cases)}"
        cases.append(case)
    return cases


def directed_cases(model: IcuModel, rng: random.Random) -> list[Case]:
    """The corners: REPEAT timing and errors, NOP extremes, illegal words, full memory, freeze."""
    gen, cfg = ProgramGen(model, rng), model.cfg
    stepped = [i for i in gen.instrs if i.step]
    first = stepped[0] if stepped else gen.instrs[0]

    def u(instr=None, **fixed):
        instr, v = gen.unit(instr)
        v.update(fixed)
        return encode(instr, v)

    def rep(n, d, s=0):
        return word("REPEAT", n=n, d=d, stride=s)

    def nop(n):
        return word("NOP", n=n)

    halt = HALT_WORD
    cases = [
        Case("HALT first", [halt]),
        Case("REPEAT d=1 after its instruction", [u(first), rep(3, 1), u(), halt]),
        Case("REPEAT of a REPEAT", [u(first), rep(2, 3), rep(3, 1), rep(1, 5), u(), halt]),
        Case("REPEAT d=1 n=1 then REPEAT", [u(), rep(1, 1), rep(1, 1), halt]),
        Case(f"NOP {NOP_MAX} then an instruction", [nop(NOP_MAX), u(), halt]),
        Case("NOP 1 chain", [nop(1), nop(1), u(), nop(2), u(), halt]),
        Case("REPEAT at the start", [rep(1, 1), halt]),
        Case("REPEAT after NOP", [u(), nop(1), rep(1, 1), halt]),
        Case("REPEAT after NOTIFY", [u(), word("NOTIFY"), rep(2, 1), halt]),
        Case("REPEAT after SYNC", [u(), word("SYNC"), rep(1, 2), halt], [3]),
        Case("SYNC released in its own cycle", [word("SYNC"), u(), word("SYNC"), u(), halt],
             [0, 0]),
        Case("SYNC, strays, NOTIFY", [u(), word("SYNC"), word("NOTIFY"), u(), halt], [4],
             strays=[0, 1, 2]),
        Case("freeze across NOP, REPEAT, SYNC and HALT",
             [u(first), rep(4, 3), nop(5), word("SYNC"), u(), rep(2, 1), halt], [2],
             freeze={0: 2, 2: 3, 5: 1, 14: 4, 17: 2, 20: 3, 21: 1, 24: 2, 26: 3}),
        Case("whole memory, HALT last", [u() for _ in range(cfg.queue_words - 1)] + [halt]),
        Case("whole memory, no HALT", [u() for _ in range(cfg.queue_words)]),
    ]
    if stepped:  # REPEAT steps: the last legal value, one past it, both directions
        lo, hi = step_range(first, first.step, cfg, model.queue)
        top = dict(gen.unit(first)[1], **{first.step: max(lo, hi - 2)})
        low = dict(gen.unit(first)[1], **{first.step: min(hi, lo + 2)})
        cases += [
            Case("REPEAT steps to the top", [encode(first, top), rep(2, 2, 1), halt]),
            Case("REPEAT steps past the top", [encode(first, top), rep(3, 1, 1), halt]),
            Case("REPEAT steps to the bottom", [encode(first, low), rep(2, 1, -1), halt]),
            Case("REPEAT steps below the bottom", [encode(first, low), rep(1, 1, -3), halt]),
            Case("REPEAT of a REPEAT steps past the top",
                 [encode(first, top), rep(1, 1, 1), rep(2, 3, 1), halt]),
            Case("REPEAT with stride 0 at the top", [encode(first, top), rep(4, 1), halt]),
        ]
    nostep = [i for i in gen.instrs if not i.step]
    if nostep:
        cases.append(Case("REPEAT stride on an instruction without step",
                          [u(nostep[0]), rep(1, 1, 1), halt]))
    # Illegal words, each after an issue and a NOP so the error lands mid-program.
    other = next(i for i in INSTRUCTIONS if i.unit not in ("ICU", model.unit))
    bad = {"unknown opcode 0x05": 0x05 << 26, "unknown opcode 0x3f": 0x3F << 26,
           "HALT with a reserved bit": 1, "NOP with a reserved bit": nop(7) | 1 << 9,
           "NOP 0": 0x01 << 26, "REPEAT n=0": 0x02 << 26 | 1 << 10,
           f"{other.mnemonic} (another unit)": encode(other, ProgramGen(
               IcuModel(cfg, other.unit, 0 if other.unit == "MEM" else None), rng).values(other))}
    streamed = next((i for i in gen.instrs if any(f.kind == "stream" for f in i.fields)), None)
    top = stream_operand(E, (1 << STREAM_INDEX_BITS) - 1)  # E31: the highest index encodable
    if streamed is not None and stream_index(top) >= cfg.streams:
        f, _msb, lsb = next(x for x in streamed.layout() if x[0].kind == "stream")
        w = encode(streamed, gen.values(streamed)) & ~(((1 << f.width) - 1) << lsb) | top << lsb
        bad[f"{streamed.mnemonic} {f.name} = {stream_text(top)}"] = w
    if model.bank is not None:
        other_bank = (1 - model.bank) * cfg.mem_words
        bad["READ in the other bank"] = word("READ", addr=other_bank, z=0)
    if model.unit == "VXM":
        bad["ACCUM mode 3"] = BY_MNEMONIC["ACCUM"].opcode << 26 | 3 << 10
    for name, w in bad.items():
        assert not model.legal(w), name
        cases.append(Case(f"illegal: {name}", [u(), nop(3), w, u(), halt]))
    # Random words: the RTL decoder against the software ISA, as the first or second word.
    ours = [i for i in INSTRUCTIONS if i.unit in ("ICU", model.unit)]
    for k in range(150):
        while True:
            low = rng.choice([0, 4, 8, 16, 26])  # clear low (reserved) bits now and then
            op = rng.choice(ours if rng.random() < 0.7 else INSTRUCTIONS).opcode
            w = rng.getrandbits(32) if k % 3 == 0 else op << 26 | rng.getrandbits(26) >> low << low
            item = model.item(w)
            if item.instr.mnemonic not in ("NOP", "REPEAT") or \
                    item.values["n"] * item.values.get("d", 1) <= 500:  # keep runs short
                break
        cases.append(Case(f"random word {w:#010x}", [w, halt] if k % 2 else [u(), w, halt]))
    return cases


def prepare(model: IcuModel, cases: list[Case]) -> list[Case]:
    for c in cases:
        c.expected = model.run(c.words, c.sync_delays, c.strays)
    return cases


def env_config() -> tuple[TileConfig, str, int | None, int, int]:
    cfg = TileConfig.named(os.environ.get("LPU_CONFIG", "default"))
    unit = os.environ.get("LPU_UNIT", "MEM")
    bank = os.environ.get("LPU_BANK", "")
    return (cfg, unit, int(bank) if bank else None, int(os.environ.get("LPU_SEED", "1")),
            int(os.environ.get("LPU_TRANSACTIONS", "1000")))


# cocotb part ------------------------------------------------------------------------------------

import cocotb  # noqa: E402
from cocotb.clock import Clock  # noqa: E402
from cocotb.triggers import ReadOnly, RisingEdge  # noqa: E402

from lpu.hw.icu import PREFETCH_CYCLES  # noqa: E402
from lpu.verif.bus import IssueBits, as_int  # noqa: E402

_ISSUE = IssueBits()


class Driver:
    """Host writes, ``start``, and the per-cycle ``release``/``advance`` inputs."""

    def __init__(self, dut):
        self.dut = dut
        self.release = dut["release"]

    def idle(self):
        for sig in (self.dut.host_we, self.dut.start, self.release, self.dut.advance,
                    self.dut.stop):
            sig.value = 0

    async def load(self, words: list[int]):
        dut = self.dut
        for addr, w in enumerate(words):
            await RisingEdge(dut.clk)
            dut.host_addr.value, dut.host_data.value, dut.host_we.value = addr, w, 1
        await RisingEdge(dut.clk)
        dut.host_we.value = 0

    def drive(self, *, start=0, release=0, advance=0):
        self.dut.start.value, self.release.value, self.dut.advance.value = start, release, advance


class Monitor:
    """Sample every output of one cycle (call in the ReadOnly phase)."""

    def __init__(self, dut):
        self.dut = dut

    def sample(self) -> dict:
        dut = self.dut
        iss = _ISSUE.unpack(as_int(dut.issue))
        return {"valid": iss.pop("valid"), "opcode": iss.pop("opcode"), "fields": iss,
                "halted": int(dut.halted.value), "error": int(dut.error.value),
                "notify": int(dut.notify.value), "sync_wait": int(dut.sync_wait.value),
                "busy_count": as_int(dut.busy_count)}


class TB:
    """Owns clock and reset; runs one Case and checks it cycle by cycle."""

    TAIL = 3  # cycles checked after the halt or error

    def __init__(self, dut, queue_words: int):
        self.dut, self.words = dut, queue_words
        self.driver, self.monitor = Driver(dut), Monitor(dut)
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())

    async def reset(self):
        self.driver.idle()
        self.dut.rst.value = 1
        for _ in range(2):
            await RisingEdge(self.dut.clk)
        self.dut.rst.value = 0

    async def run_case(self, case: Case) -> list[str]:
        exp, dut = case.expected, self.dut
        await self.driver.load(case.image(self.words))
        self.driver.drive(start=1)
        releases, bad, done = set(exp.releases), [], 0
        plan = wall_plan(case, exp.end + self.TAIL, PREFETCH_CYCLES)
        for k, t in enumerate(plan):
            await RisingEdge(dut.clk)
            # release is noise outside schedule cycles: the queue must ignore it
            self.driver.drive(release=int(t is None or t in releases),
                              advance=int(k + 1 < len(plan) and plan[k + 1] is not None))
            await ReadOnly()
            obs = self.monitor.sample()
            if t is None:
                if obs["valid"] or obs["notify"]:
                    bad.append(f"cycle {k} after start, no schedule cycle: valid "
                               f"{obs['valid']}, notify {obs['notify']}")
            else:
                bad += check_cycle(exp, t, obs, done)
                done += t in exp.issues
        await RisingEdge(dut.clk)
        self.driver.drive()
        return [f"{case.name}: {b}" for b in bad]


async def run_cases(dut, model: IcuModel, cases: list[Case]) -> None:
    tb = TB(dut, model.cfg.queue_words)
    await tb.reset()
    cycles = 0
    for case in cases:
        bad = await tb.run_case(case)
        assert not bad, "\n".join(bad[:20])
        cycles += case.expected.end + 1
    dut._log.info(f"{len(cases)} programs, {sum(len(c.words) for c in cases)} words, "
                  f"{sum(len(c.expected.issues) for c in cases)} issues, {cycles} cycles checked")


def _setup(salt: int):
    cfg, unit, bank, seed, transactions = env_config()
    return IcuModel(cfg, unit, bank), random.Random(seed * 1000 + salt), transactions


@cocotb.test()
async def test_random_programs(dut):
    """Random programs, >= LPU_TRANSACTIONS instructions, against the golden sequencer."""
    model, rng, transactions = _setup(1)
    await run_cases(dut, model, prepare(model, random_cases(model, rng, transactions)))


@cocotb.test()
async def test_directed(dut):
    """REPEAT/NOP/SYNC corners, errors, illegal and random words, full memory, freeze."""
    model, rng, _ = _setup(2)
    await run_cases(dut, model, prepare(model, directed_cases(model, rng)))
