"""Located errors: every bad input ends as ``FILE:LINE:COL: error: MESSAGE``."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

#: A report of many errors prints this many, then one line counting the rest.
MAX_REPORTED = 20

# Characters that end or break a line (str.splitlines splits on all of them), or do not show.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def one_line(text: str) -> str:
    """``text`` with control and line-break characters escaped: an error is one line."""
    return _UNPRINTABLE.sub(lambda m: repr(m.group())[1:-1], text)


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

    def key(self) -> tuple[str, int, int]:
        return (self.file, self.line, self.col)


class LpuError(Exception):
    """An error in user input, reported with its location and no traceback.

    ``message`` may be a function returning the text: a report that prints only the first
    ``MAX_REPORTED`` of many errors then never spends time describing the others."""

    def __init__(self, message: str | Callable[[], str], loc: Location | None = None):
        super().__init__()
        self._message = message
        self.loc = loc

    @property
    def message(self) -> str:
        if callable(self._message):
            self._message = self._message()
        return self._message

    def __str__(self) -> str:
        if self.loc is None:
            return one_line(f"error: {self.message}")
        return one_line(f"{self.loc}: error: {self.message}")


class LpuErrors(LpuError):
    """Several located errors found in one pass, reported in source order: the first
    ``MAX_REPORTED`` of them, then a line counting the rest."""

    def __init__(self, errors: list[LpuError]):
        def key(e):
            return e.loc.key() if e.loc else ("", 0, 0)

        self.errors = sorted(errors, key=key)
        first = self.errors[0]
        super().__init__(lambda: first.message, first.loc)

    def __str__(self) -> str:
        shown = [LpuError.__str__(e) for e in self.errors[:MAX_REPORTED]]
        rest = len(self.errors) - len(shown)
        if rest:
            shown.append(f"... and {rest} more error{'s' if rest > 1 else ''}")
        return "\n".join(shown)
