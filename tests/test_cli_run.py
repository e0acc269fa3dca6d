"""`lpu kernel` and `lpu run` end to end through the CLI, and their error paths."""

import json

import numpy as np
import pytest

from lpu.sw.cli import main


def run_cli(capsys, *args):
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return rc, out, err


@pytest.mark.parametrize("as_image", [False, True])
def test_run_gemv(tmp_path, capsys, gemv_prog, as_image):
    path, x, w = gemv_prog
    if as_image:
        assert main(["asm", str(path), "-o", str(tmp_path / "gemv.lpx")]) == 0
        path = tmp_path / "gemv.lpx"
    capsys.readouterr()
    rc, out, err = run_cli(capsys, "run", path, "--backend", "golden",
                           "--in", f"x={tmp_path / 'x.npy'}", "--in", f"w={tmp_path / 'w.npy'}",
                           "--out", f"y={tmp_path / 'y.npy'}",
                           "--stats-json", tmp_path / "stats.json",
                           "--timeline", tmp_path / "t.png")
    assert (rc, err) == (0, "")
    y = np.load(tmp_path / "y.npy")
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y, x.astype(np.int64) @ w.astype(np.int64))
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["cycles"] == stats["predicted_cycles"] > 0
    assert stats["units"]["MXM_W.WGT"] > 0 and stats["units"]["VXM.0"] == 0
    assert (tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"
    assert "predicted" in out


@pytest.mark.parametrize(("args", "phrase"), [
    (["kernel", "gemv", "--k", "20", "--n", "16"],
     "kernel gemv: --k must be a positive multiple of the lane count (16), not 20"),
    (["kernel", "gemv", "--k", "16"], "kernel gemv needs --n"),
    (["kernel", "gemv", "--k", "16", "--n", "x"], "--n needs an integer"),
    (["kernel", "gemv", "--k", "16", "--n", "16", "--m", "3"], "unknown argument '--m'"),
    (["kernel", "softmax"], "unknown kernel 'softmax'"),
    (["kernel", "gemv", "--config", "huge", "--k", "16", "--n", "16"], "unknown config 'huge'"),
])
def test_kernel_errors(capsys, args, phrase):
    rc, out, err = run_cli(capsys, *args)
    assert rc == 1 and out == ""
    assert err.startswith("error: ") and phrase in err, err


def test_run_input_errors(tmp_path, capsys, gemv_prog):
    path, x, _w = gemv_prog
    np.save(tmp_path / "x16.npy", x.astype(np.int16))
    np.save(tmp_path / "xshort.npy", x[:48])
    (tmp_path / "junk.npy").write_bytes(b"not numpy at all")
    cases = [
        (f"x={tmp_path / 'x16.npy'}", "x16.npy: error: x is i8 (int8), the file holds int16"),
        (f"x={tmp_path / 'xshort.npy'}",
         "xshort.npy: error: x has shape (64,), the file holds (48,)"),
        (f"z={tmp_path / 'x.npy'}", "x.npy: error: unknown symbol 'z'; the program has w, x, y"),
        (f"x={tmp_path / 'missing.npy'}", "missing.npy: error: no such file"),
        (f"x={tmp_path / 'junk.npy'}", "junk.npy: error: not a .npy array file"),
        ("x", "error: --in takes SYMBOL=FILE.npy, not 'x'"),
    ]
    for arg, phrase in cases:
        rc, _out, err = run_cli(capsys, "run", path, "--in", arg)
        assert rc == 1, arg
        assert phrase in err, (arg, err)
        assert len(err.splitlines()) == 1
    rc, _, err = run_cli(capsys, "run", path, "--out", f"q={tmp_path / 'q.npy'}")
    assert rc == 1 and "--out: unknown symbol 'q'" in err
    rc, _, err = run_cli(capsys, "run", path, "--backend", "fpga")
    assert rc == 1 and "unknown backend 'fpga'" in err


def test_run_time_error_exits_1(tmp_path, capsys):
    """A RECV with no link attached stops the golden tile; lpu run reports it, exit 1."""
    src = tmp_path / "recv.s"
    src.write_text(".queue C2C_W\n@3 RECV 0, E0\n")
    rc, _out, err = run_cli(capsys, "run", src)
    assert rc == 1
    assert err.strip() == (f"{src}: error: golden run stopped: cycle 3, C2C_W: RECV on link 0: "
                           "no vector arrived")


def test_uart_backend_errors(tmp_path, capsys, gemv_prog):
    """The uart backend's misuse and a board that does not answer: one located line, exit 1."""
    import os
    import pty

    path = gemv_prog[0]
    rc, _, err = run_cli(capsys, "run", path, "--backend", "uart")
    assert rc == 1 and "--port DEV goes with --backend uart" in err
    rc, _, err = run_cli(capsys, "run", path, "--port", "/dev/null")
    assert rc == 1 and "--port DEV goes with --backend uart" in err
    rc, _, err = run_cli(capsys, "run", path, "--backend", "uart", "--port",
                         tmp_path / "nothing")
    assert rc == 1 and "cannot open" in err and "No such file" in err
    rc, _, err = run_cli(capsys, "run", path, "--backend", "uart", "--port", path)
    assert rc == 1 and "is not a serial port or terminal" in err
    rc, _, err = run_cli(capsys, "run", path, "--backend", "uart", "--port", "/dev/null",
                         "--baud", "12345")
    assert rc == 1 and "baud rate 12345" in err
    master, slave = pty.openpty()  # a terminal nobody answers on
    try:
        from lpu.sw import uarthost

        timeout, uarthost.REPLY_TIMEOUT = uarthost.REPLY_TIMEOUT, 0.2
        try:
            rc, _, err = run_cli(capsys, "run", path, "--backend", "uart", "--port",
                                 os.ttyname(slave))
        finally:
            uarthost.REPLY_TIMEOUT = timeout
    finally:
        os.close(master)
        os.close(slave)
    assert rc == 1 and "no reply to command 0x53" in err, err
    assert len(err.splitlines()) == 1
