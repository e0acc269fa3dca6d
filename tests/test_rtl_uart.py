"""The board core (tile + UART bridge) on Verilator, over its UART pins only.

The ULX3S board's tile (``lpu.fpga.boards``) runs every test, the iCEBreaker's the GEMV too;
each model is built once. Every test drives the bridge's ``rx`` pin and reads its ``tx`` pin
(``lpu.verif.tb_uart``).
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("amaranth")
pytest.importorskip("cocotb")

from lpu.fpga.boards import board_named
from lpu.sw import reference
from lpu.sw import uartproto as up
from lpu.sw.asm import assemble_text
from lpu.sw.backends import rtl_job, rtl_result
from lpu.sw.config import TileConfig
from lpu.sw.golden import run_golden
from lpu.sw.hostjob import JobResult
from lpu.sw.hostmap import HostMap
from lpu.sw.kernels import KERNELS
from lpu.sw.schedule import schedule
from lpu.verif import rtl_uart

CFG = TileConfig.named("ulx3s")
HMAP = HostMap(CFG)


def _gemv(cfg, k, n, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, k, dtype=np.int8)
    w = rng.integers(-128, 128, (k, n), dtype=np.int8)
    prog = assemble_text("gemv.s", KERNELS["gemv"].function(cfg, k, n))
    sched = schedule(prog)
    return sched.image, sched, {"x": x, "w": w}


@pytest.mark.parametrize("board", ["ulx3s", "icebreaker"])
def test_gemv_through_the_bridge_matches_golden(board):
    """Two GEMVs loaded, run and read back with frames on the UART pins only: y equals numpy
    and golden, cycles and every queue's busy counter equal golden's."""
    cfg = board_named(board).config
    hmap = HostMap(cfg)
    cases = [_gemv(cfg, 16, 16, 1), _gemv(cfg, 32, 24, 2)]
    jobs = []
    for prog, sched, inputs in cases:
        reads = hmap.symbol_addresses(prog, "y")
        job = rtl_job(prog, inputs, reads, 100 * sched.cycles)
        jobs.append({"writes": job.writes, "reads": job.reads, "max_cycles": job.max_cycles})
    out = rtl_uart.run(cfg, "run_jobs", {"jobs": jobs})
    for (prog, sched, inputs), raw in zip(cases, out["jobs"], strict=True):
        res = JobResult(**{**raw, "words": {int(a): w for a, w in raw["words"].items()}})
        got = rtl_result(prog, res, ["y"])
        gold = run_golden(prog, inputs, ["y"])
        assert got.error is None, got.error
        np.testing.assert_array_equal(got.outputs["y"], reference.gemv(inputs["x"], inputs["w"]))
        np.testing.assert_array_equal(got.outputs["y"], gold.outputs["y"])
        assert got.cycles == gold.cycles == sched.cycles
        assert got.busy == gold.busy
    assert out["status"]["bad_frames"] == 0
    assert out["status"]["addr_bits"] == hmap.addr_bits


def _flip_crc(frame: bytes) -> bytes:
    return frame[:-1] + bytes([frame[-1] ^ 0x01])


def test_bad_frames_are_rejected_counted_and_change_nothing():
    """Every bad-frame class gets its NAK, adds one to bad_frames and leaves the watched MEM
    and queue words as they were; a good frame after them still works."""
    mem = HMAP.mem_address("MEM_W0", 5)
    other = HMAP.mem_address("MEM_E0", CFG.mem_words + 7)
    setup = [(mem, 0x11223344), (mem + 1, 0x55667788), (other, 0x0BADF00D)]
    top = 1 << HMAP.addr_bits
    write = up.encode_write(HMAP, mem, [0xDEADBEEF, 0xCAFEF00D])
    frames = [
        ("wrong checksum", _flip_crc(write), up.Status.BAD_CHECKSUM),
        ("payload bit flipped", write[:8] + bytes([write[8] ^ 0x80]) + write[9:],
         up.Status.BAD_CHECKSUM),
        ("truncated", write[:-3], up.Status.TIMEOUT),
        ("unknown command", up.encode_request(HMAP, 0x58, mem, 1, b""), up.Status.BAD_COMMAND),
        ("zero length", up.encode_request(HMAP, up.Command.WRITE, mem, 0), up.Status.BAD_LENGTH),
        ("too long", up.encode_request(HMAP, up.Command.WRITE, mem, up.DEFAULT_MAX_WRITE + 1,
                                       bytes(4 * (up.DEFAULT_MAX_WRITE + 1))),
         up.Status.BAD_LENGTH),
        ("address out of range", up.encode_request(
            HMAP, up.Command.WRITE, top - 1, 2, up.encode_words(HMAP, [1, 2])),
         up.Status.BAD_ADDRESS),
        ("write past the registers", up.encode_request(
            HMAP, up.Command.WRITE, up.register_words(HMAP), 1, up.encode_words(HMAP, [7])),
         up.Status.BAD_ADDRESS),
        ("read of an instruction queue", up.encode_request(
            HMAP, up.Command.READ, HMAP.queue_base("VXM.0"), 1), up.Status.BAD_ADDRESS),
        ("read past the end", up.encode_request(HMAP, up.Command.READ, top - 1, 2),
         up.Status.BAD_ADDRESS),
    ]
    scenario = {"setup": setup, "watch": [mem, mem + 1, other],
                "frames": [{"name": n, "bytes": f.hex()} for n, f, _ in frames]
                + [{"name": "good write", "bytes": up.encode_write(HMAP, mem, [0x01020304]).hex()}]}
    out = rtl_uart.run(CFG, "bad_frames", scenario)
    before = out["before"]
    assert before == [0x11223344, 0x55667788, 0x0BADF00D]
    bad = out["status_before"]["bad_frames"]
    assert bad == 0
    for (name, _, status), rec in zip(frames, out["frames"], strict=False):
        assert rec["reply"] == up.encode_reply(status).hex(), name
        bad += 1
        assert rec["status"]["bad_frames"] == bad, name
        assert rec["status"]["last_error"] == status, name
        assert rec["watched"] == before, name
    good = out["frames"][-1]
    assert good["reply"] == up.encode_reply(up.Status.OK).hex()
    assert good["status"]["bad_frames"] == bad
    assert good["watched"] == [0x01020304, *before[1:]]


def test_cli_uart_backend_through_a_pty(tmp_path):
    """``lpu run --backend uart --port PTY`` against the simulated board: the CLI's output
    equals numpy's and its cycles equal the prediction."""
    _, sched, inputs = _gemv(CFG, 16, 16, 3)
    src = tmp_path / "gemv.s"
    src.write_text(KERNELS["gemv"].function(CFG, 16, 16))
    for name, arr in inputs.items():
        np.save(tmp_path / f"{name}.npy", arr)
    argv = [sys.executable, "-m", "lpu.sw.cli", "run", str(src), "--backend", "uart",
            "--port", "{port}", "--in", f"x={tmp_path / 'x.npy'}",
            "--in", f"w={tmp_path / 'w.npy'}", "--out", f"y={tmp_path / 'y.npy'}"]
    out = rtl_uart.run(CFG, "serve_pty", {"argv": argv})
    assert out["returncode"] == 0, out["output"]
    assert f"{sched.cycles} cycles on uart == {sched.cycles} predicted" in out["output"]
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"),
                                  reference.gemv(inputs["x"], inputs["w"]))
