"""Stream register segment on Verilator: random traffic against the model, negative control,
lint."""

import json

import pytest

pytest.importorskip("cocotb")

from lpu.hw.streams import StreamSegment
from lpu.sw.config import TileConfig
from lpu.verif import harness

CFG = TileConfig()


def env(writers, **extra):
    return {"LPU_CONFIG": json.dumps(CFG.as_dict()), "LPU_WRITERS": writers, **extra}


@pytest.mark.parametrize("writers", [1, 4])
def test_segment(writers):
    harness.run(StreamSegment(CFG, writers), f"streams_w{writers}", "lpu.verif.tb_streams",
                env=env(writers))


def test_segment_fault_is_caught():
    with pytest.raises(AssertionError, match="cocotb tests failed"):
        harness.run(StreamSegment(CFG, 1, fault=True), "streams_w1", "lpu.verif.tb_streams",
                    env=env(1, LPU_TRANSACTIONS=200))


def test_segment_lint():
    assert harness.lint(harness.write_verilog(StreamSegment(CFG, 4), "streams_w4"),
                        "streams_w4") == ""
