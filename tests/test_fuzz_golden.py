"""Random programs from verif/fuzz/ on the golden model: every valid one runs to done in the
predicted cycles, every invalid one stops with an error, and a batch exercises the whole ISA."""

from types import SimpleNamespace

import pytest
from configs import TWO_LANES

from lpu.sw import hostmap as hm
from lpu.sw.golden import run_golden
from lpu.sw.hostmap import HostMap
from lpu.sw.isa import INSTRUCTIONS
from lpu.verif.differential import compare, golden_run
from lpu.verif.fuzz import MUTATIONS, generate


def run_valid(seed, config):
    case = generate(seed, config, invalid=False)
    assert not case.expect_error
    assert case.attempts == 1, f"seed {seed}: the first generated program did not assemble"
    result = run_golden(case.program, trace=True)
    assert result.error is None, f"seed {seed} ({config}): {result.error}"
    assert result.cycles == case.predicted, \
        f"seed {seed} ({config}): golden {result.cycles} cycles, predicted {case.predicted}"
    return case, result


def test_small_batch_runs_and_covers_the_isa():
    issued = set()
    for seed in range(60):
        case, result = run_valid(seed, "small")
        issued.update(mnemonic for _, _, mnemonic in result.issues)
        # The trace holds unit instructions only; the ICU ones are in the lowered queues.
        issued.update(item.instr.mnemonic for items in case.program.queues.values()
                      for item in items if item.instr.unit == "ICU")
    missing = [i.mnemonic for i in INSTRUCTIONS
               if i.mnemonic != "RECV" and i.mnemonic not in issued]
    assert not missing, f"never issued in 60 seeds: {missing}"
    assert "RECV" not in issued  # no link is attached: a RECV would stop the tile


@pytest.mark.parametrize("config", ["tiny", "default", "icebreaker"])
def test_other_presets(config):
    for seed in range(10):
        run_valid(seed, config)


def test_generation_is_deterministic():
    for seed in (0, 7, 123):
        first, again = generate(seed), generate(seed)
        assert first.source == again.source
        assert first.predicted == again.predicted
        assert first.program.queues == again.program.queues


def test_invalid_cases_stop_the_golden_model():
    kinds = set()
    for seed in range(40):
        case = generate(seed, "small", invalid=True)
        assert case.expect_error and case.predicted == -1
        assert case.source.splitlines()[-1].startswith(f"; invalid ({case.mutation}")
        result = run_golden(case.program)
        assert result.error is not None, f"seed {seed} ({case.mutation}) ran to done"
        kinds.add(case.mutation)
    assert kinds == set(MUTATIONS)


def test_about_one_seed_in_eight_is_invalid_by_default():
    invalid = [seed for seed in range(64) if generate(seed, length=0.3).expect_error]
    assert len(invalid) == 8


def test_two_lane_programs_run_and_skip_transpose():
    """A 2-lane tile has no TRANSPOSE: the generator leaves it out, every program runs."""
    issued = set()
    for seed in range(20):
        _, result = run_valid(seed, TWO_LANES)
        issued.update(mnemonic for _, _, mnemonic in result.issues)
    assert "TRANSPOSE" not in issued and {"ROTATE", "LW", "ABCB"} <= issued


def test_replay_line_of_a_config_without_a_preset():
    from lpu.sw.config import TileConfig
    from lpu.verif.differential import Outcome

    cfg = TileConfig(lanes=2, streams=8)
    custom = Outcome(generate(3, cfg), 0, 0, None, [], [])
    assert custom.replay == f"lpu.verif.differential.run_seeds([3], {cfg!r})"
    preset = Outcome(generate(3, "small"), 0, 0, None, [], [])
    assert preset.replay == "python -m lpu.verif.differential --seed 3 --config small"


def _rtl_result_from(tile, hmap, status, errors=(), pad=0):
    """A Verilator result as the golden run would give it: every MEM word, the busy counters
    and the cycles; `pad` fills the host-word bytes above the lanes (the RTL leaves them 0)."""
    cfg = hmap.config
    high = pad.to_bytes(hmap.data_bits // 8 - cfg.lanes, "little") if pad else b""
    words = {hmap.bank_base(sl, bank) + i:
             int.from_bytes(tile.mem[sl][bank * cfg.mem_words + i].tobytes() + high, "little")
             for sl, bank in hmap.banks for i in range(cfg.mem_words)}
    return SimpleNamespace(timeout=False, cycles=tile.wall_cycles, status=status,
                           errors=list(errors), busy=[tile.busy[q.name] for q in cfg.queues],
                           words=words)


@pytest.mark.parametrize("config", ["small", TWO_LANES])
def test_compare_reads_words_status_and_error_sources(config):
    """differential.compare against results built from the golden run itself: they agree,
    and a changed MEM byte, a missing error flag or an error source elsewhere is reported."""
    case = generate(0, config, invalid=False)
    hmap = HostMap(case.config)
    tile = golden_run(case)
    pad = 0xA5 if hmap.data_bits > 8 * case.config.lanes else 0  # a 2-lane tile: 32-bit words
    same = _rtl_result_from(tile, hmap, hm.STATUS_DONE, pad=pad)
    assert compare(case, tile, same, hmap).problems == []
    addr = hmap.bank_base(*hmap.banks[-1]) + 3
    changed = _rtl_result_from(tile, hmap, hm.STATUS_DONE)
    changed.words[addr] ^= 1 << 8 * (case.config.lanes - 1)  # the last lane's byte
    problems = compare(case, tile, changed, hmap).problems
    assert len(problems) == 1 and problems[0].startswith(f"MEM {hmap.banks[-1][0]} bank")
    flagged = _rtl_result_from(tile, hmap, hm.STATUS_ERROR, ["deadlock"])
    assert "raised its error flag: deadlock" in compare(case, tile, flagged, hmap).problems[0]

    bad = generate(13, config, invalid=True)  # a SYNC deadlock or an error of one queue
    tile = golden_run(bad)
    assert tile.error is not None
    queue = hmap.config.queue_by_name.get(tile.error.queue)
    agree = [tile.error.queue if queue else "deadlock"] + (
        [f"{queue.slice.name} streams"] if queue else [])
    for source in agree:
        res = _rtl_result_from(tile, hmap, hm.STATUS_ERROR, [source])
        assert compare(bad, tile, res, hmap).problems == [], source
    elsewhere = next(s.name for s in hmap.error_source_objects
                     if s.kind == "link" or (s.kind == "queue" and s.name != tile.error.queue))
    res = _rtl_result_from(tile, hmap, hm.STATUS_ERROR, [elsewhere])
    assert compare(bad, tile, res, hmap).problems[0].startswith("golden blames")
