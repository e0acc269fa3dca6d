"""The RTL bench's bookkeeping that needs no model build: recorded build times, bad options."""

import json

import pytest

pytest.importorskip("amaranth")

from lpu.verif import bench_rtl
from lpu.verif.model_build import build_seconds


def test_build_seconds_reads_what_the_build_recorded(tmp_path):
    stamp = tmp_path / "built"
    stamp.write_text(json.dumps({"seconds": 83.4}))
    assert build_seconds(stamp) == 83.4


@pytest.mark.parametrize("content", [None, "", "{}", "not json"])
def test_build_seconds_of_an_old_or_missing_stamp_is_none(tmp_path, content):
    stamp = tmp_path / "built"
    if content is not None:
        stamp.write_text(content)
    assert build_seconds(stamp) is None


def test_unknown_raw_tile_is_an_error_without_a_build(capsys):
    assert bench_rtl.main(["--raw", "small,huge"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --raw: no tile huge")
    assert "Traceback" not in err

