"""Fixtures the CLI tests share."""

import numpy as np
import pytest

from lpu.sw.cli import main


@pytest.fixture
def gemv_prog(tmp_path):
    """gemv 64 x 32 written by ``lpu kernel`` (x i8[64], w i8[64, 32], y i32[32]), with x and w
    saved as tmp_path/x.npy and w.npy: (program path, x, w)."""
    path = tmp_path / "gemv.s"
    assert main(["kernel", "gemv", "--k", "64", "--n", "32", "-o", str(path)]) == 0
    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, 64, dtype=np.int8)
    w = rng.integers(-128, 128, (64, 32), dtype=np.int8)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "w.npy", w)
    return path, x, w
