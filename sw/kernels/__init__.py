"""Kernel generators: each returns assembly text for the same assembler users run.

``lpu kernel NAME --PARAM VALUE ...`` picks one by name; ``KERNELS`` lists them with their
integer parameters and defaults (None: required). ``SYSTEM_KERNELS`` lists the kernels that
also split over a star of tiles (``--tiles N [--ppm P]``): each builds a ``SystemImage``.
``SYSTEM_ONLY`` lists, the same way, the kernels that exist only on a system (2 tiles or more;
``--tiles`` defaults to 2).
"""

from __future__ import annotations

from ..config import TileConfig
from ..errors import LpuError
from .builder import KernelError
from .elementwise import gelu, requant, silu
from .ffn import ffn
from .gemv import gemv
from .gemv_split import split_gemv
from .pingpong import pingpong

KERNELS = {
    "gemv": (gemv, {"k": None, "n": None}, "y = x @ w: x i8 (k,), w i8 (k, n), y i32 (n,)"),
    "requant": (requant, {"n": None, "mult": None, "shift": None},
                "y i8 = saturate((x i32 * mult + round) >> shift)"),
    "silu": (silu, {"n": None}, "y = silu(x), x and y i8 Q3.4"),
    "gelu": (gelu, {"n": None}, "y = gelu(x), x and y i8 Q3.4"),
    "ffn": (ffn, {"d": None, "f": None, "mult": None, "shift": None},
            "SwiGLU decode FFN: y = (silu(x@w_gate) * (x@w_up)) @ w_down, see docs/kernels.md"),
}


#: name -> (fn, params, doc) of kernels that need 2 or more tiles; fn as in SYSTEM_KERNELS.
SYSTEM_ONLY = {
    "pingpong": (pingpong, {"rounds": None},
                 "out[r] = a[r] + j: a[r] to leaf j = 1 + r % (N-1) and back; a, out i8 "
                 "(rounds, lanes) on tile 0"),
}

#: name -> fn(cfg, tiles=, ppm=, **params) returning a SystemImage; same params as KERNELS
#: (or SYSTEM_ONLY).
SYSTEM_KERNELS = {"gemv": split_gemv, **{n: v[0] for n, v in SYSTEM_ONLY.items()}}


def least_tiles(name: str) -> int:
    """The fewest tiles kernel ``name`` runs on (and its default ``--tiles``)."""
    return 2 if name in SYSTEM_ONLY else 1


def system_args(name: str, argv: list[str]) -> tuple[int, float, list[str]]:
    """Take ``--tiles N`` (default 1, or 2 for a SYSTEM_ONLY kernel) and ``--ppm P`` (default
    0) out of argv; return them and the rest. ``--ppm`` is the worst-case clock offset of any
    tile from the root's; one tile has no link to keep aligned, so it has no effect there."""
    tiles, ppm, rest = None, None, []
    it = iter(argv)
    for tok in it:
        if tok in ("--tiles", "--ppm"):
            val = next(it, None)
            try:
                if tok == "--tiles":
                    tiles = int(val, 0)
                else:
                    ppm = float(val)
            except (TypeError, ValueError):
                kind = "an integer" if tok == "--tiles" else "a number"
                raise LpuError(f"{tok} needs {kind}, not {val!r}") from None
        else:
            rest.append(tok)
    if (tiles is not None or ppm is not None) and name not in SYSTEM_KERNELS:
        raise LpuError(f"kernel {name} runs on one tile; --tiles and --ppm are for "
                       f"{', '.join(SYSTEM_KERNELS)}")
    least = least_tiles(name)
    if tiles is not None and not least <= tiles <= 4:
        raise LpuError(f"--tiles must be {least} to 4, not {tiles}")
    if ppm is not None and not 0 <= ppm < 1e6:
        raise LpuError(f"--ppm is the worst-case clock offset in ppm, from 0 to below 1e6, "
                       f"not {ppm:g}")
    return tiles or least, ppm or 0.0, rest


def _params(name: str, argv: list[str]) -> dict[str, int]:
    params = (KERNELS.get(name) or SYSTEM_ONLY[name])[1]
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
    return values


def generate(name: str, config: str, argv: list[str]) -> str:
    """Parse ``--param value`` pairs for kernel ``name`` and return its assembly text."""
    fn = KERNELS[name][0]
    values = _params(name, argv)
    try:
        cfg = TileConfig.named(config)
        return fn(cfg, **values)
    except (KernelError, ValueError) as e:
        raise LpuError(f"kernel {name}: {e}") from None


def generate_system(name: str, config: str, argv: list[str], tiles: int, ppm: float):
    """Parse ``--param value`` pairs for kernel ``name`` and return its SystemImage split
    over ``tiles`` tiles for clocks up to ``ppm`` off the root's."""
    values = _params(name, argv)
    try:
        cfg = TileConfig.named(config)
        return SYSTEM_KERNELS[name](cfg, tiles=tiles, ppm=ppm, **values)
    except (KernelError, ValueError) as e:
        raise LpuError(f"kernel {name}: {e}") from None
