"""The timing model against hand-derived cycles (positions from docs/architecture.md)."""

import pytest

from lpu.sw.asm import assemble_text
from lpu.sw.errors import LpuError
from lpu.sw.schedule import schedule

# Default tile positions: MXM_W 1, SXM_W 2, MEM_W1 3, MEM_W0 4, VXM 5, MEM_E0 6, MEM_E1 7.


def sched(text):
    return schedule(assemble_text("t.s", text))


def issues(s, queue):
    return [(i.cycle, i.instr.mnemonic, dict(i.values)) for i in s.issues if i.queue == queue]


def producer_of(s, queue, mnemonic):
    return [(r.producer.queue, r.producer.cycle) for r in s.reads
            if r.issue.queue == queue and r.issue.instr.mnemonic == mnemonic]


def test_arrival_is_issue_plus_latency_plus_hops():
    # READ (d=1) at MEM_W1 (3), cycle 2 -> VXM (5) is 2 hops: 2 + 1 + 2 = 5.
    s = sched(".queue MEM_W1.0\n@2 READ 0, E0\n.queue VXM.0\n@5 MOV.i8 E0, E1\n")
    assert producer_of(s, "VXM.0", "MOV") == [("MEM_W1.0", 2)]
    # One cycle early or late: no value.
    for at in (4, 6):
        with pytest.raises(LpuError, match=f"holds no value at VXM in cycle {at}"):
            sched(f".queue MEM_W1.0\n@2 READ 0, E0\n.queue VXM.0\n@{at} MOV.i8 E0, E1\n")


def test_westward_and_wrong_direction():
    s = sched(".queue MEM_E1.0\nREAD 0, W3\n.queue VXM.0\n@3 MOV.i8 W3, E1\n")  # 0 + 1 + 2
    assert producer_of(s, "VXM.0", "MOV") == [("MEM_E1.0", 0)]
    with pytest.raises(LpuError, match="nothing writes this stream upstream"):
        sched(".queue MEM_E1.0\nREAD 0, E3\n.queue VXM.0\n@3 MOV.i8 E3, E1\n")


def test_nearer_writer_replaces_the_passing_value():
    # MEM_W1 and MEM_W0 both put a value on E0 that reaches the VXM in cycle 5; the nearer wins.
    s = sched(".queue MEM_W1.0\n@2 READ 0, E0\n.queue MEM_W0.0\n@3 READ 1, E0\n"
              ".queue VXM.0\n@5 MOV.i8 E0, E1\n")
    assert producer_of(s, "VXM.0", "MOV") == [("MEM_W0.0", 3)]


def test_vxm_chaining_next_cycle():
    # ADD (d=1) at cycle 2 loads its register at the end of cycle 3; ALU 1 uses it in cycle 4.
    text = (".queue MEM_W0.0\nREAD 0, E0\n.queue VXM.0\n@2 ADD.i8 E0, E0, E1\n"
            ".queue VXM.1\n@{} MOV.i8 E1, W2\n")
    s = sched(text.format(4))
    assert producer_of(s, "VXM.1", "MOV") == [("VXM.0", 2)]
    with pytest.raises(LpuError, match="holds no value"):
        sched(text.format(5))


def test_repeat_timing_and_stride():
    s = sched(".queue MEM_W0.0\n@1 READ 4, E0\nREPEAT 3, 2, -1\nREAD 9, E1\n")
    got = [(c, v["addr"]) for c, _, v in issues(s, "MEM_W0.0")]
    # Repeats at 1 + 2k with addresses 4 - k; the next instruction at 1 + 3 * 2 + 1 = 8.
    assert got == [(1, 4), (3, 3), (5, 2), (7, 1), (8, 9)]
    assert s.cycles == 8 + 1 + 1


def test_predicted_cycles_cover_latency():
    # The last effect: REQUANT (d=3) issued at cycle 10 -> done after cycle 13 -> 14 cycles.
    s = sched(".queue VXM.0\nQPARAM 1, 0\n@7 CONST.i32 E0, 5\n@9 NOP 1\n@10 NOP 1\n")
    assert s.cycles == 11
    s = sched(".queue VXM.0\n@8 CONST.i32 E4, 1\n.queue VXM.1\n@10 REQUANT E4, E0\n")
    assert s.cycles == 14


def test_sync_notify():
    s = sched(".queue MEM_W0.0\nSYNC\nREAD 0, E0\n.queue MEM_E0.0\n@6 NOTIFY\nREAD 0, W0\n")
    assert [c for c, *_ in issues(s, "MEM_W0.0")] == [7]
    assert [c for c, *_ in issues(s, "MEM_E0.0")] == [7]
    with pytest.raises(LpuError, match="never released"):
        sched(".queue MEM_W0.0\n@3 SYNC\n.queue MEM_E0.0\n@2 NOTIFY\n")


def test_deskew_freezes_to_the_epoch_boundary():
    # The default epoch is 256. DESKEW at 10: the next instruction issues at 256 -> 245 frozen.
    s = sched(".queue C2C_W\n@10 DESKEW\nRUNTIME_DESKEW 7\n")
    assert s.freezes == [(10, 245), (11, 7)]
    assert s.cycles == 12 + 245 + 7
    s = sched(".queue C2C_W\n@255 DESKEW\n")
    assert s.freezes == [(255, 0)]


def test_examples_predicted_cycles():
    from pathlib import Path
    root = Path(__file__).parent.parent / "sw" / "examples"
    got = {p.name: schedule(assemble_text(str(p), p.read_text())).cycles
           for p in sorted(root.glob("*.s"))}
    # vadd: last WRITE at cycle 8, latency 1 -> 10. gemv16: last WRITE at 22 -> 24.
    assert got == {"gemv16.s": 24, "vadd.s": 10}


def test_image_is_the_lowered_program():
    """``Schedule.image``: the program with every @N turned into NOP waits and a HALT ending
    each queue, of its own type (the one golden and the backends take); scheduling an image
    gives it back unchanged."""
    from lpu.sw.program import LoweredProgram

    s = sched(".data v i8[16] MEM_W1:0\n.queue VXM.0\n@70000 CONST.i8 E0, 1\nCONST.i8 E1, 2\n")
    image = s.image
    assert isinstance(image, LoweredProgram) and not isinstance(s.program, LoweredProgram)
    assert image.symbols == s.program.symbols and image.config == s.program.config
    vxm = [(it.instr.mnemonic, dict(it.values)) for it in image.queues["VXM.0"]]
    assert vxm == [("NOP", {"n": 65535}), ("NOP", {"n": 70000 - 65535}),
                   ("CONST", {"dt": 0, "z": 0, "imm": 1}), ("CONST", {"dt": 0, "z": 1, "imm": 2}),
                   ("HALT", {})]
    again = schedule(image)
    assert again.image.queues == image.queues and again.cycles == s.cycles
