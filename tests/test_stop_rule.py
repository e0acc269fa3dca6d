"""The stop rule (docs/architecture.md, section 10), one case per class of misuse: the
instruction that errs has no effect, every other effect due at the end of that cycle lands,
nothing lands afterwards. Golden and RTL must stop in the same wall cycle, with the same MEM
contents, the same busy counts and an error source that agrees.

Every case has the same frame: ``CONST.i8 W0, 5`` and ``CONST.i8 W0, 6`` in cycles 0 and 1, and
``WRITE 3, W0`` / ``WRITE 4, W0`` issued in cycles 2 and 3, landing at the end of cycles 3 and 4.
The misuse is in cycle 3, so word 3 must hold 5s (it lands in the error cycle) and word 4 zeros
(it would land after the stop). The old rule (nothing lands in the error cycle) left word 3 at
zero.
"""

import numpy as np
import pytest
from configs import unchecked

from lpu.sw.backends import rtl_job
from lpu.sw.config import TileConfig
from lpu.sw.golden import GoldenTile
from lpu.sw.hostmap import STATUS_ERROR, HostMap
from lpu.verif import differential, rtl_tile

CFG = TileConfig.named("small")
FRAME = (CFG.directive() + "\n.queue VXM.0\n@0 CONST.i8 W0, 5\nCONST.i8 W0, 6\n"
         ".queue MEM_W0.0\n@2 WRITE 3, W0\n{mem}")

#: name -> (the rest of the MEM_W0.0 queue and the misuse, the queue golden blames, the cycle)
CASES = {
    "queue: REPEAT with nothing to repeat": (
        "WRITE 4, W0\n.queue VXM.1\n@3 REPEAT 1, 1, 0\n", "VXM.1", 3),
    "queue: REPEAT steps out of range": (
        f"WRITE 4, W0\n.queue MEM_W0.1\n@2 READ {CFG.mem_words * 2 - 1}, E4\n"
        "REPEAT 1, 1, 1\n", "MEM_W0.1", 3),
    "unit: operand stream holds no value": (
        "WRITE 4, W0\n.queue VXM.1\n@3 ADD.i8 E5, E6, E6\n", "VXM.1", 3),
    "stream: two producers on one register": (
        "WRITE 4, W0\n.queue VXM.1\n@2 CONST.i8 E1, 1\n.queue VXM.2\n@2 CONST.i8 E1, 2\n",
        "VXM.2", 3),
    "bank: read in the cycle a write lands": ("READ 6, E1\n", "MEM_W0.0", 3),
    "c2c: RECV with nothing delivered": (
        "WRITE 4, W0\n.queue C2C_W\n@3 RECV 0, E3\n", "C2C_W", 3),
}


def _run(cases):
    hmap = HostMap(CFG)
    reads = differential.all_mem_reads(hmap)
    progs = [unchecked(FRAME.format(mem=mem)) for mem, _, _ in cases.values()]
    tiles = []
    for prog in progs:
        tile = GoldenTile(prog)
        tile.run(max_cycles=10_000)
        tiles.append(tile)
    results = rtl_tile.run_jobs(CFG, [rtl_job(p, {}, reads, 10_000) for p in progs])
    return hmap, tiles, results


@pytest.fixture(scope="module")
def runs():
    return _run(CASES)


@pytest.mark.parametrize("index", range(len(CASES)), ids=list(CASES))
def test_golden_and_rtl_stop_alike(runs, index):
    hmap, tiles, results = runs
    tile, res = tiles[index], results[index]
    _, queue, cycle = list(CASES.values())[index]
    assert tile.error is not None and tile.error.queue == queue and tile.error.cycle == cycle, \
        tile.error
    word = tile.mem["MEM_W0"]
    assert (word[3] == 5).all() and not word[4].any() and not word[6].any()
    assert res.status & STATUS_ERROR and not res.timeout
    assert res.cycles == tile.wall_cycles == cycle
    assert set(res.errors) & differential.blamed_sources(queue, hmap), res.errors
    busy = dict(zip((q.name for q in CFG.queues), res.busy, strict=True))
    assert busy == tile.busy
    for sl, bank in hmap.banks:
        gold = tile.mem[sl][bank * CFG.mem_words:(bank + 1) * CFG.mem_words]
        base = hmap.bank_base(sl, bank)
        rtl = np.array([hmap.word_vector(res.words[base + i]) for i in range(CFG.mem_words)])
        assert np.array_equal(gold, rtl), (sl, bank)


def test_deadlock_stops_the_cycle_after_it_forms():
    """Every queue halted or parked from cycle 3 (MEM_W0.0 fetches its HALT then): the
    registered deadlock flag stops the tile in cycle 4; the WRITE of cycle 2 has landed."""
    prog = unchecked(CFG.directive() + "\n.queue VXM.0\n@0 CONST.i8 W0, 5\n"
                     ".queue MEM_W0.0\n@2 WRITE 3, W0\n.queue VXM.1\nSYNC\n")
    tile = GoldenTile(prog)
    tile.run(max_cycles=10_000)
    assert "deadlock" in str(tile.error) and tile.wall_cycles == 4
    assert (tile.mem["MEM_W0"][3] == 5).all()
    hmap = HostMap(CFG)
    res = rtl_tile.run_jobs(CFG, [rtl_job(prog, {}, differential.all_mem_reads(hmap),
                                          10_000)])[0]
    assert res.errors == ["deadlock"] and res.cycles == 4
    base = hmap.bank_base("MEM_W0", 0)
    assert (hmap.word_vector(res.words[base + 3]) == 5).all()
