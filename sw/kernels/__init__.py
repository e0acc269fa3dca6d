"""Kernel generators: each returns assembly text for the same assembler users run.

``lpu kernel NAME --PARAM VALUE ...`` picks one by name; ``KERNELS`` lists them with their
integer parameters and defaults (None: required).
"""

from __future__ import annotations

from ..config import TileConfig
from ..errors import LpuError
from .builder import KernelError
from .elementwise import gelu, requant, silu
from .ffn import ffn
from .gemv import gemv

KERNELS = {
    "gemv": (gemv, {"k": None, "n": None}, "y = x @ w: x i8 (k,), w i8 (k, n), y i32 (n,)"),
    "requant": (requant, {"n": None, "mult": None, "shift": None},
                "y i8 = saturate((x i32 * mult + round) >> shift)"),
    "silu": (silu, {"n": None}, "y = silu(x), x and y i8 Q3.4"),
    "gelu": (gelu, {"n": None}, "y = gelu(x), x and y i8 Q3.4"),
    "ffn": (ffn, {"d": None, "f": None, "mult": None, "shift": None},
            "SwiGLU decode FFN: y = (silu(x@w_gate) * (x@w_up)) @ w_down, see docs/kernels.md"),
}


def generate(name: str, config: str, argv: list[str]) -> str:
    """Parse ``--param value`` pairs for kernel ``name`` and return its assembly text."""
    fn, params, _ = KERNELS[name]
    values = dict(params)
    it = iter(argv)
    for tok in it:
        key = tok[2:].replace("-", "_") if tok.startswith("--") else None
        if key not in params:
            raise LpuError(f"kernel {name} takes {', '.join('--' + p for p in params)}; "
                           f"unknown argument {tok!r}")
        val = next(it, None)
        try:
            values[key] = int(val, 0)
        except (TypeError, ValueError):
            raise LpuError(f"--{key} needs an integer, not {val!r}") from None
    missing = [k for k, v in values.items() if v is None]
    if missing:
        raise LpuError(f"kernel {name} needs {', '.join('--' + m for m in missing)}")
    try:
        cfg = TileConfig.named(config)
        return fn(cfg, **values)
    except (KernelError, ValueError) as e:
        raise LpuError(f"kernel {name}: {e}") from None
