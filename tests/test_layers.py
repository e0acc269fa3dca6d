"""Imports run one way, sw <- hw <- verif <- fpga, and no module takes another's private names.

The source of every package is read with ``ast`` (nothing is imported), so a lazy import in a
function counts as much as one at the top of a module. A crossing against the direction is
allowed only through a named door: a lazy import listed in ``DOORS``.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("sw", "hw", "verif", "fpga")
#: The packages each package must not import: the layers above it.
ABOVE = {"sw": {"hw", "verif", "fpga"}, "hw": {"verif", "fpga"}, "verif": {"fpga"}, "fpga": set()}
#: Crossings made on purpose, each a lazy import (inside a function) of one name by one module.
DOORS = {
    # The verilator backend of ``lpu run``: the software tools work without the HDL tools.
    ("lpu.sw.backends", "lpu.verif.rtl_system"),
    ("lpu.sw.backends", "lpu.verif.rtl_tile"),
    # ``lpu verilog`` writes every unit's Verilog.
    ("lpu.sw.cli", "lpu.hw.catalog.unit_factories"),
    # The board core (tile + UART bridge) simulated over its pins is the one every board wraps.
    ("lpu.verif.rtl_uart", "lpu.fpga.core.BoardCore"),
}


class Import(NamedTuple):
    module: str  # the importing module
    imported: str  # the imported module
    names: tuple[str, ...]  # the names taken from it (``from imported import name``)
    line: int
    lazy: bool  # inside a function


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["lpu", *parts])


def imports(module: str, source: str, package: bool = False) -> list[Import]:
    """Every import in ``source``, the text of ``module`` (a package's ``__init__`` when
    ``package``), in source order, with relative imports made absolute."""
    here = module.split(".") if package else module.split(".")[:-1]
    found = []

    def visit(node, lazy: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend(Import(module, a.name, (), node.lineno, lazy) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package_parts = here[:len(here) - node.level + 1]
                base = ".".join([*package_parts, node.module] if node.module else package_parts)
            for alias in node.names:
                # ``from ..verif import rtl_tile`` imports the module ``lpu.verif.rtl_tile``.
                sub = f"{base}.{alias.name}"
                if is_package(base) and is_module(sub):
                    found.append(Import(module, sub, (), node.lineno, lazy))
                else:
                    found.append(Import(module, base, (alias.name,), node.lineno, lazy))
        lazy = lazy or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for child in ast.iter_child_nodes(node):
            visit(child, lazy)

    visit(ast.parse(source), False)
    return found


def is_package(module: str) -> bool:
    """Whether ``module`` (``lpu.<package>...``) is a package of the source tree."""
    return module == "lpu" or (module.startswith("lpu.") and
                               (ROOT.joinpath(*module.split(".")[1:]) / "__init__.py").exists())


def is_module(module: str) -> bool:
    """Whether ``module`` (``lpu.<package>...``) is a module or package of the source tree."""
    path = ROOT.joinpath(*module.split(".")[1:])
    return is_package(module) or path.with_suffix(".py").exists()


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "lpu" and parts[1] in PACKAGES else None


def door(imp: Import) -> tuple[str, str]:
    """The ``DOORS`` entry that would let ``imp`` through: (module, imported name)."""
    return imp.module, ".".join([imp.imported, *imp.names])


def wrong_way(found: list[Import], doors=frozenset(DOORS)) -> list[str]:
    """The imports in ``found`` against the layer direction and through no door."""
    bad = []
    for imp in found:
        src, dst = layer(imp.module), layer(imp.imported)
        if src is None or dst not in ABOVE[src]:
            continue
        if imp.lazy and door(imp) in doors:
            continue
        where = "lazily " if imp.lazy else ""
        bad.append(f"{imp.module}:{imp.line}: {src} {where}imports {imp.imported}")
    return bad


def private_imports(found: list[Import]) -> list[str]:
    """The imports in ``found`` that take another module's private (``_name``) names."""
    return [f"{imp.module}:{imp.line}: from {imp.imported} import {name}"
            for imp in found for name in imp.names
            if name.startswith("_") and not name.startswith("__")]


def tree_imports() -> list[Import]:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found += imports(module_name(path), path.read_text(), path.name == "__init__.py")
    return found


def test_the_walk_sees_the_tree():
    """The walk reads every package and both kinds of import (guards against a checker that
    passes because it found nothing)."""
    found = tree_imports()
    assert {layer(i.module) for i in found} == set(PACKAGES)
    assert any(i.lazy for i in found) and any(not i.lazy for i in found)
    assert ("lpu.verif.rtl_tile", "lpu.sw.hostjob") in {(i.module, i.imported) for i in found}


def test_imports_run_one_way():
    assert wrong_way(tree_imports()) == []


def test_every_door_is_in_use():
    """A door nobody uses any more is closed: remove it from ``DOORS``."""
    used = {door(i) for i in tree_imports() if i.lazy}
    assert sorted(DOORS - used) == []


def test_no_private_names_across_modules():
    """A name with a leading underscore is its module's business: a module that needs it
    from elsewhere needs it made public (or moved into a module of its own)."""
    assert private_imports(tree_imports()) == []


def test_checker_reports_wrong_way_imports():
    """Negative control: a synthetic module of each lower layer importing upward, absolutely,
    relatively, at module level and lazily, is reported; so is a door's import made at module
    level or taking another name."""
    source = ("from ..verif.rtl_tile import run_jobs\n"
              "import lpu.hw.tile\n"
              "def f():\n"
              "    from ..fpga import core\n"
              "    from lpu.verif import harness\n")
    found = imports("lpu.sw.fake", source)
    assert [b.split(": ", 1)[1] for b in wrong_way(found)] == [
        "sw imports lpu.verif.rtl_tile", "sw imports lpu.hw.tile",
        "sw lazily imports lpu.fpga.core", "sw lazily imports lpu.verif.harness"]
    assert wrong_way(imports("lpu.hw.fake", "from ..verif.harness import lint\n"))
    assert wrong_way(imports("lpu.verif.sub.fake", "from ...fpga.boards import board_named\n"))
    assert wrong_way(imports("lpu.sw.kernels", "from ...hw import tile\n", package=True))
    # A door is lazy only: the same import at module level is reported.
    assert wrong_way(imports("lpu.sw.backends", "from ..verif import rtl_tile\n"))
    assert not wrong_way(imports("lpu.sw.backends", "def f():\n    from ..verif import rtl_tile\n"))
    # A door lets one name through: another name from the same package is reported.
    assert wrong_way(imports("lpu.sw.backends", "def f():\n    from ..verif import harness\n"))
    assert wrong_way(imports("lpu.sw.cli", "def f():\n    from ..verif import rtl_tile\n"))
    # Downward imports are fine.
    assert not wrong_way(imports("lpu.fpga.fake", "from ..verif import harness\n"
                                 "from ..hw.tile import Tile\nfrom lpu.sw import isa\n"))


def test_checker_reports_private_imports():
    """Negative control: private names are reported, lazily imported or not; dunders are not."""
    found = imports("lpu.sw.fake", "from __future__ import annotations\n"
                    "from .image import _Reader, Image\n"
                    "def f():\n    from lpu.verif.fuzz import _Generator\n")
    assert [p.split(": ", 1)[1] for p in private_imports(found)] == [
        "from lpu.sw.image import _Reader", "from lpu.verif.fuzz import _Generator"]
