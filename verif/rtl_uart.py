"""The board core (tile + UART bridge) on Verilator, driven over its UART pins only.

``build`` makes one model per configuration, divisor and bridge timeout (cached in
``build/rtl/uart-<key>/``, the key also hashing the bridge's and the board core's sources);
``run`` runs one test of ``lpu.verif.tb_uart`` on it with a scenario and returns what the test
recorded.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from ..hw.verilog import BUILD
from ..sw.config import TileConfig
from .model_build import build_model, model_key, run_testbench, verilator_runner

TB = "lpu.verif.tb_uart"
TOP = "board_core"
PORTS_VLT = Path(__file__).with_name("uart_ports.vlt")
#: Clock cycles per UART bit in simulation (the bridge's minimum is 4).
DIVISOR = 8
#: The bridge's inter-byte timeout in simulation: 64 byte times, so a truncated frame is
#: rejected quickly.
TIMEOUT = 64 * 10 * DIVISOR


def _sources() -> list[Path]:
    root = Path(__file__).resolve().parent.parent
    return [root / "hw" / "bridge.py", root / "hw" / "uart.py", root / "fpga" / "core.py",
            root / "sw" / "uartproto.py", PORTS_VLT]


def build(config: TileConfig, divisor: int = DIVISOR, timeout: int = TIMEOUT,
          verbose: bool = True) -> Path:
    def verilog_text():
        from amaranth.back import verilog

        from ..fpga.core import BoardCore

        return verilog.convert(BoardCore(config, divisor, timeout=timeout), name=TOP)

    extra = [divisor, timeout] + [p.read_text() for p in _sources()]
    folder = BUILD / f"uart-{model_key(config, None, None, *extra)}"
    return build_model(folder, f"board core model ({config})", {f"{TOP}.v": verilog_text}, TOP,
                       PORTS_VLT, verbose=verbose)


def run(config: TileConfig, test: str, scenario: dict, divisor: int = DIVISOR,
        timeout: int = TIMEOUT, verbose: bool = True) -> dict:
    """Run the test ``test`` of ``tb_uart`` with ``scenario``; return its recorded results."""
    folder = build(config, divisor, timeout, verbose)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=folder))
    try:
        scenario_file, result_file = work / "scenario.json", work / "results.json"
        scenario_file.write_text(json.dumps(scenario))
        env = {"LPU_CONFIG": json.dumps(config.as_dict()), "LPU_UART_DIVISOR": str(divisor),
               "LPU_UART_SCENARIO": str(scenario_file), "LPU_UART_RESULTS": str(result_file)}
        return run_testbench(folder, work, verilator_runner(PORTS_VLT), TOP, TB, env,
                             "board core", testcase=test)
    finally:
        shutil.rmtree(work, ignore_errors=True)
