"""The golden tile model: misuse stops it with an error (never a hang or a silent result),
and C2C links carry vectors between tiles."""


import numpy as np
import pytest
from configs import unchecked

from lpu.sw.asm import assemble_text
from lpu.sw.golden import CycleLimit, GoldenTile, connect, run_golden, run_system
from lpu.sw.schedule import schedule


def lowered(text):
    prog = assemble_text("t.s", text)
    return schedule(prog).image


def stopped(prog):
    r = run_golden(prog)
    assert r.error is not None
    return str(r.error)


def test_read_of_stream_holding_no_value():
    msg = stopped(unchecked(".queue MEM_W1.0\n@2 READ 0, E0\n.queue VXM.0\n@4 MOV.i8 E0, E1\n"))
    assert msg == "cycle 4, VXM.0: stream E0 holds no value at VXM in cycle 4"


def test_two_producers_on_one_register():
    msg = stopped(unchecked(".queue VXM.0\n@3 CONST.i8 E1, 1\n.queue VXM.1\n@3 CONST.i8 E1, 2\n"))
    assert "two producers on stream E1 at VXM" in msg


def test_two_producers_stop_the_tile_after_that_cycles_other_effects():
    """The stop rule: the WRITE issued in cycle 2 lands at the end of cycle 3, the cycle of
    the clash (every other effect of the error cycle lands); the one issued in cycle 3 would
    land at the end of cycle 4, after the stop, so its word stays zero."""
    tile = GoldenTile(unchecked(".queue VXM.0\n@0 CONST.i8 W0, 5\nCONST.i8 W0, 6\n"
                                ".queue MEM_W0.0\n@2 WRITE 3, W0\nWRITE 4, W0\n"
                                ".queue VXM.1\n@2 CONST.i8 E1, 1\n"
                                ".queue VXM.2\n@2 CONST.i8 E1, 2\n"))
    tile.run()
    assert "two producers on stream E1 at VXM" in str(tile.error) and tile.error.cycle == 3
    assert (tile.mem["MEM_W0"][3] == 5).all() and not tile.mem["MEM_W0"][4].any()


def test_bank_read_and_written():
    msg = stopped(unchecked(".queue MEM_W0.0\n@0 WRITE 5, E0\n"))
    assert "stream E0 holds no value" in msg  # nothing to write: the read check comes first
    text = (".queue VXM.0\n@0 CONST.i8 W0, 1\n.queue MEM_W0.0\n@2 WRITE 5, W0\nREAD 6, E1\n")
    assert "MEM bank read and written in cycle 3" in stopped(unchecked(text))


def test_illegal_repeat_and_deadlock():
    assert "REPEAT without a repeatable" in stopped(unchecked(".queue VXM.0\nNOP 2\nREPEAT 1, 1, 0\n"))
    assert "deadlock" in stopped(unchecked(".queue VXM.0\nSYNC\n"))


def test_gather_outside_bank_is_a_run_time_error():
    # Lane addresses come from MEM: word 0x10 holds 0x1000+l, bank 1, for a bank-0 queue.
    addrs = np.arange(16, dtype=np.uint16) + 0x1000
    lo, hi = addrs.astype(np.uint8), (addrs >> 8).astype(np.uint8)
    text = (f".mem MEM_W1:0x10 = {', '.join(map(str, lo))}\n"
            f".mem MEM_W0:0x10 = {', '.join(map(str, hi))}\n"
            ".queue MEM_W1.0\n@1 READ 0x10, E2\n.queue MEM_W0.0\n@2 READ 0x10, E3\n"
            ".queue MEM_E0.0\n@5 GATHER E2, W0\n")
    prog = lowered(text)
    msg = stopped(prog)
    assert "GATHER address 0x1000 is outside bank 0" in msg


def test_gather_reads_per_lane_addresses():
    addrs = np.arange(16, dtype=np.uint16) * 3 + 0x20
    lo, hi = addrs.astype(np.uint8), (addrs >> 8).astype(np.uint8)
    text = (f".mem MEM_W1:0x10 = {', '.join(map(str, lo))}\n"
            f".mem MEM_W0:0x10 = {', '.join(map(str, hi))}\n"
            ".data out i8[16] MEM_E1:0x0\n"
            ".queue MEM_W1.0\n@1 READ 0x10, E2\n.queue MEM_W0.0\n@2 READ 0x10, E3\n"
            ".queue MEM_E0.0\n@5 GATHER E2, E0\n.queue MEM_E1.0\n@7 WRITE out, E0\n")
    prog = lowered(text)
    tile = GoldenTile(prog)
    table = np.arange(0x20, 0x60)[:, None] * 7 + np.arange(16)[None, :]
    tile.mem["MEM_E0"][0x20:0x60] = table.astype(np.uint8)
    tile.run()
    assert tile.error is None
    want = [(int(a) * 7 + lane) & 0xFF for lane, a in enumerate(addrs)]
    assert tile.read("out").view(np.uint8).tolist() == want


def test_c2c_link_between_two_tiles():
    a = GoldenTile(lowered(".data v i8[16] MEM_W1:0 = " + ", ".join(map(str, range(16))) +
                           "\n.queue MEM_W1.0\nREAD v, E0\n.queue C2C_E\n@8 SEND E0, 0\n"))
    b = GoldenTile(lowered(".data r i8[16] MEM_W1:0\n.queue C2C_W\n@13 RECV 0, E1\n"
                           ".queue MEM_W1.0\n@17 WRITE r, E1\n"))
    connect(a, ("C2C_E", 0), b, ("C2C_W", 0), latency=5)
    run_system([a, b])
    assert a.error is None and b.error is None
    assert b.read("r").tolist() == list(range(16))


def _sender_and_receiver(recv_at: int, freeze: int = 0):
    """A sends the same vector every 32 cycles from cycle 8 (8 times); B receives every 32
    cycles from recv_at. Link latency 5 sender cycles."""
    stall = f"@2 RUNTIME_DESKEW {freeze}\n" if freeze else ""
    a = GoldenTile(lowered(".data v i8[16] MEM_W1:0 = " + ", ".join(map(str, range(16))) +
                           "\n.queue MEM_W1.0\n@3 READ v, E0\nREPEAT 7, 32, 0\n"
                           f".queue C2C_E\n{stall}@11 SEND E0, 0\nREPEAT 7, 32, 0\n"))
    b = GoldenTile(lowered(f".queue C2C_W\n@{recv_at} RECV 0, E1\nREPEAT 7, 32, 0\n"))
    connect(a, ("C2C_E", 0), b, ("C2C_W", 0), latency=5)
    return a, b


@pytest.mark.parametrize(("b_period", "slack", "stops"), [
    (1.0, 0, False),    # same clock: every RECV exactly on arrival
    (1.02, 0, False),   # receiver 2 % slower: vectors wait in its buffer
    (0.98, 1, True),    # receiver 2 % faster: by the third RECV it runs ahead of the data
    (0.98, 16, False),  # ... unless the schedule leaves enough slack for 8 x 32 cycles
])
def test_tiles_on_different_clocks(b_period, slack, stops):
    """run_system steps each tile on its own clock; a RECV takes what has arrived by then."""
    a, b = _sender_and_receiver(16 + slack)
    b.period = b_period
    run_system([a, b])
    assert a.error is None
    assert (b.error is not None) == stops, b.error
    if stops:
        assert "no vector arrived" in b.error.message and b.error.cycle == 16 + slack + 64


def test_a_frozen_tile_falls_behind_in_time():
    """A RUNTIME_DESKEW 10 in the sender delays its SENDs by 10 wall cycles against the
    receiver: the receiver's first RECV, placed for the unfrozen sender, finds nothing."""
    a, b = _sender_and_receiver(16, freeze=10)
    run_system([a, b])
    assert a.error is None and "no vector arrived" in str(b.error)
    a, b = _sender_and_receiver(26, freeze=10)
    run_system([a, b])
    assert a.error is None and b.error is None


def test_recv_without_a_vector_stops_the_tile():
    b = GoldenTile(lowered(".queue C2C_W\n@13 RECV 0, E1\n"))
    b.run()
    assert "RECV on link 0: no vector arrived" in str(b.error)


@pytest.mark.parametrize("example", ["vadd", "gemv16"])
def test_examples_cycle_exact(example):
    from pathlib import Path
    path = Path(__file__).parent.parent / "sw" / "examples" / f"{example}.s"
    prog = assemble_text(str(path), path.read_text())
    sched = schedule(prog)
    r = run_golden(sched.image)
    assert r.error is None and r.cycles == sched.cycles


def test_deskew_freezes_wall_cycles():
    prog = lowered(".queue C2C_W\n@10 DESKEW\nRUNTIME_DESKEW 7\n.queue VXM.0\n@20 CONST.i8 E0, 1\n")
    sched = schedule(prog)
    r = run_golden(prog)
    assert r.error is None and r.cycles == sched.cycles == 22 + 245 + 7


def test_max_cycles_guard():
    tile = GoldenTile(lowered(".queue VXM.0\nNOP 100\n"))
    tile.run(max_cycles=50)
    assert isinstance(tile.error, CycleLimit) and tile.error.limit == 50 and tile.cycle == 50
    assert str(tile.error) == "cycle 50, tile: no done after 50 cycles"
    r = run_golden(lowered(".queue VXM.0\nNOP 100\nCONST.i8 E0, 1\n"), max_cycles=60)
    assert isinstance(r.error, CycleLimit) and r.cycles == 60


def test_source_program_refused():
    """A source-level Program (its @N not yet lowered to NOPs) would run with wrong timing."""
    prog = assemble_text("t.s", ".queue VXM.0\n@5 CONST.i8 E0, 1\n")
    with pytest.raises(TypeError, match=r"schedule it first: .*schedule\(prog\)\.image"):
        run_golden(prog)
    with pytest.raises(TypeError, match="LoweredProgram"):
        GoldenTile(prog)
    from lpu.sw import backends

    with pytest.raises(TypeError, match="the golden backend takes a lowered program"):
        backends.run("golden", prog, {}, [])
    assert run_golden(schedule(prog).image).cycles == schedule(prog).cycles == 7


def step_by_step(prog):
    tile = GoldenTile(prog, trace=True)
    while not tile.done:
        tile.step()
    return tile


@pytest.mark.parametrize("text", [
    ".queue VXM.0\nNOP 300\nCONST.i8 E0, 1\nNOP 2\nCONST.i8 W3, 2\n"
    ".queue MEM_E0.0\n@2 READ 0, W1\nREPEAT 5, 40, 1\n.queue VXM.1\n@250 CONST.i8 E2, 3\n",
    ".queue MEM_W1.0\n@2 READ 0, E0\n.queue VXM.0\n@40 MOV.i8 E0, E1\n",  # value long gone
    ".queue C2C_W\n@10 DESKEW\nRUNTIME_DESKEW 7\n.queue VXM.0\n@200 CONST.i8 E0, 1\n",
])
def test_idle_skip_matches_stepping(text):
    """run() jumps over idle cycles; every cycle stepped one by one must end the same."""
    prog = unchecked(text)
    a, b = GoldenTile(prog, trace=True), step_by_step(prog)
    a.run()
    assert (a.cycle, a.frozen, str(a.error), a.issues, a.busy) == \
        (b.cycle, b.frozen, str(b.error), b.issues, b.busy)
    assert all(np.array_equal(a.mem[k], b.mem[k]) for k in a.mem)
    assert np.array_equal(a.valid, b.valid)
