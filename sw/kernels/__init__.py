"""Kernel generators: each returns assembly text for the same assembler users run.

``lpu kernel NAME --PARAM VALUE ...`` picks one by name; ``KERNELS`` lists them, each a
``KernelSpec`` with its integer parameters and defaults (None: required). ``SYSTEM_KERNELS``
lists the kernels that also split over a star of tiles (``--tiles N [--ppm P]``): each builds
a ``SystemImage``.
``SYSTEM_ONLY`` lists, the same way, the kernels that exist only on a system (2 tiles or more;
``--tiles`` defaults to 2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..config import TileConfig
from ..errors import LpuError
from .builder import KernelError
from .elementwise import gelu, requant, silu
from .ffn import ffn
from .gemv import gemv
from .gemv_split import split_gemv
from .pingpong import pingpong


@dataclass(frozen=True)
class KernelSpec:
    """A kernel ``lpu kernel NAME`` generates: its generator ``function(cfg, **parameters)``,
    its integer parameters with their defaults (None: required) and a one-line description."""

    name: str
    function: Callable
    parameters: dict[str, int | None]
    doc: str

    def usage(self) -> str:
        """``--k N --n N [--tiles N [--ppm P]]``: the arguments ``lpu kernel NAME`` takes."""
        args = " ".join(f"--{p} N" for p in self.parameters)
        if self.name in SYSTEM_ONLY:
            return args + " [--tiles N] [--ppm P]"
        return args + (" [--tiles N [--ppm P]]" if self.name in SYSTEM_KERNELS else "")


def _specs(*specs: KernelSpec) -> dict[str, KernelSpec]:
    return {s.name: s for s in specs}


KERNELS = _specs(
    KernelSpec("gemv", gemv, {"k": None, "n": None},
               "y = x @ w: x i8 (k,), w i8 (k, n), y i32 (n,)"),
    KernelSpec("requant", requant, {"n": None, "mult": None, "shift": None},
               "y i8 = saturate((x i32 * mult + round) >> shift)"),
    KernelSpec("silu", silu, {"n": None}, "y = silu(x), x and y i8 Q3.4"),
    KernelSpec("gelu", gelu, {"n": None}, "y = gelu(x), x and y i8 Q3.4"),
    KernelSpec("ffn", ffn, {"d": None, "f": None, "mult": None, "shift": None},
               "SwiGLU decode FFN: y = (silu(x@w_gate) * (x@w_up)) @ w_down, see docs/kernels.md"),
)

#: The kernels that need 2 or more tiles; their function is as in SYSTEM_KERNELS.
SYSTEM_ONLY = _specs(
    KernelSpec("pingpong", pingpong, {"rounds": None},
               "out[r] = a[r] + j: a[r] to leaf j = 1 + r % (N-1) and back; a, out i8 "
               "(rounds, lanes) on tile 0"),
)

#: name -> fn(cfg, tiles=, ppm=, **params) returning a SystemImage; same params as KERNELS
#: (or SYSTEM_ONLY).
SYSTEM_KERNELS = {"gemv": split_gemv, **{n: s.function for n, s in SYSTEM_ONLY.items()}}


def listing() -> str:
    """Every kernel with its arguments and description, and what ``--tiles`` does: the
    epilog of ``lpu kernel --help``."""
    rows = "\n".join(f"  {s.name:<8} {s.usage()}\n           {s.doc}"
                     for s in (*KERNELS.values(), *SYSTEM_ONLY.values()))
    return rows + ("\n\n--tiles N (2 to 4) splits the kernel over a star of N tiles and writes "
                   "a system image\n(-o FILE.lpxs); --ppm P is the worst-case clock offset of a "
                   "tile from the root's,\nwhich sets the RUNTIME_DESKEW period "
                   "(docs/programming.md). pingpong runs on\n2 to 4 tiles only (default 2).")


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
    params = (KERNELS.get(name) or SYSTEM_ONLY[name]).parameters
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
    fn = KERNELS[name].function
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
