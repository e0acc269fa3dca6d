"""Located errors: every bad input ends as ``FILE:LINE:COL: error: MESSAGE``."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """A place in a source file; ``line`` and ``col`` count from 1."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.col}"
        return self.file


class LpuError(Exception):
    """An error in user input, reported with its location and no traceback."""

    def __init__(self, message: str, loc: Location | None = None):
        super().__init__(message)
        self.message = message
        self.loc = loc

    def __str__(self) -> str:
        if self.loc is None:
            return f"error: {self.message}"
        return f"{self.loc}: error: {self.message}"


class LpuErrors(LpuError):
    """Several located errors found in one pass, reported in source order."""

    def __init__(self, errors: list[LpuError]):
        def key(e):
            return (e.loc.file, e.loc.line, e.loc.col) if e.loc else ("", 0, 0)

        self.errors = sorted(errors, key=key)
        first = self.errors[0]
        super().__init__(first.message, first.loc)

    def __str__(self) -> str:
        return "\n".join(LpuError.__str__(e) for e in self.errors)
