"""The files ``lpu run`` reads and writes.

An input ``.npy`` file is checked from its header (type, shape) against its symbol before any
data is read, so a wrong or hostile file costs nothing and ends in one ``FILE: error:`` line.
Outputs are written all or nothing: every path is checked and given a temporary file beside
it before the run, and the temporaries move into place only after every output is written.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import stat
import tempfile

import numpy as np

from .errors import Location, LpuError
from .isa import DTYPE_INFO

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGIC = b"PK\x03\x04"


def _shape_text(shape) -> str:
    if len(shape) > 8 or any(not -10**12 < d < 10**12 for d in shape):
        return "a shape no symbol has"
    return str(tuple(shape))


def read_input(path: str, name: str, symbols: dict, what: str = "symbol",
               owner: str = "program") -> np.ndarray:
    """The array in ``.npy`` file ``path`` for symbol ``name`` of ``symbols`` (anything with
    ``dtype`` and ``shape``), in the symbol's little-endian type. A big-endian file of the
    right type is converted; anything else is an LpuError naming the file."""
    sym = symbols.get(name)
    if sym is None:
        raise LpuError(f"unknown {what} {name!r}; the {owner} has "
                       f"{', '.join(symbols) or 'none'}", Location(path))
    try:
        f = open(path, "rb")  # noqa: SIM115 (closed below)
    except FileNotFoundError:
        raise LpuError("no such file", Location(path)) from None
    except IsADirectoryError:
        raise LpuError("a directory, not a .npy file", Location(path)) from None
    with f:
        problem, array = _read(f, name, sym.dtype, tuple(sym.shape))
    if problem:
        raise LpuError(problem, Location(path))
    return array


def _read(f, name: str, dtype: str, shape: tuple):
    """(problem, None) or (None, array): the checks of ``read_input`` on an open file."""
    head = f.read(8)
    if not head:
        return "an empty file, not a .npy array", None
    if head.startswith(ZIP_MAGIC):
        return ("a .npz archive (several arrays); --in takes one array per .npy file "
                "(numpy.save)"), None
    if not head.startswith(NPY_MAGIC) or len(head) < 8:
        return "not a .npy array file (no .npy magic at its start)", None
    version = np.lib.format.read_magic(io.BytesIO(head))
    if version not in ((1, 0), (2, 0), (3, 0)):
        return f"a .npy format version {version[0]}.{version[1]} this reader does not know", None
    reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
              else np.lib.format.read_array_header_2_0)  # 3.0 only widens the text encoding
    try:
        file_shape, fortran, file_dtype = reader(f)
    except (ValueError, RecursionError) as e:
        text = str(e).splitlines()[0] if str(e) else type(e).__name__
        return f"a damaged .npy header: {text[:120]}", None
    want = np.dtype(DTYPE_INFO[dtype].numpy)
    if file_dtype.hasobject:
        return (f"{name} is {dtype} ({want.name}); the file holds Python objects (a pickled "
                "array), which lpu never loads"), None
    if file_dtype.newbyteorder("=") != want.newbyteorder("="):
        return f"{name} is {dtype} ({want.name}), the file holds {file_dtype.name}", None
    if tuple(file_shape) != shape:
        return f"{name} has shape {shape}, the file holds {_shape_text(file_shape)}", None
    size = math.prod(shape) * want.itemsize
    data = f.read(size + 1)
    if len(data) < size:
        return (f"truncated: the header promises {size} data bytes, the file holds "
                f"{len(data)}"), None
    if len(data) > size:
        return f"more bytes than the {size} of the {_shape_text(shape)} array it declares", None
    array = np.frombuffer(data, file_dtype).reshape(shape, order="F" if fortran else "C")
    return None, array.astype(want)


class OutputFiles:
    """Output files written all or nothing. ``reserve`` each path before the run (it makes a
    temporary file beside it, so an unwritable place fails early), ``write`` each after it,
    then ``commit`` moves them all into place. Leaving the ``with`` block without a commit,
    on an error, removes the temporaries and leaves every destination as it was. A path that
    is a device (``/dev/stdout``) is written directly, last."""

    def __init__(self):
        self.temps: dict[str, str | None] = {}  # real destination -> temporary (None: device)
        self.writers: dict[str, object] = {}
        self.given: dict[str, str] = {}  # real destination -> the path as given

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.discard()

    def reserve(self, path: str, what: str) -> str:
        """Check ``path`` can take the output ``what``; return the key for ``write``."""
        special = os.path.exists(path) and not os.path.isfile(path)
        # A device is named as given (/dev/stdout resolves to no path); a file by where its
        # links lead, so the temporary is made beside the file that is replaced.
        real = os.path.abspath(path) if special else os.path.realpath(path)
        if real in self.temps:
            raise LpuError(f"{what}: this file is already an output of {self.given[real]}",
                           Location(path))
        if os.path.isdir(real):
            raise LpuError(f"{what}: a directory, not a file", Location(path))
        if special:
            if not os.access(real, os.W_OK):
                raise LpuError(f"{what}: not writable", Location(path))
            self.temps[real] = None
        else:
            folder, base = os.path.split(real)
            try:
                fd, temp = tempfile.mkstemp(dir=folder, prefix=f".{base}.", suffix=".tmp")
            except OSError as e:
                raise LpuError(f"{what}: cannot write there: {e.strerror}",
                               Location(path)) from None
            os.close(fd)
            self.temps[real] = temp
        self.given[real] = what
        return real

    def write(self, key: str, writer) -> None:
        """``writer(path)`` writes the output ``key`` to the path it is given."""
        self.writers[key] = writer

    def commit(self) -> None:
        """Write every output to its temporary, then move them all into place."""
        missing = [self.given[k] for k in self.temps if k not in self.writers]
        if missing:
            raise ValueError(f"outputs never written: {', '.join(missing)}")
        for key, temp in self.temps.items():
            if temp is not None:
                self.writers[key](temp)
                os.chmod(temp, _mode(key))
        for key, temp in self.temps.items():
            if temp is None:
                self.writers[key](key)
        for key, temp in self.temps.items():
            if temp is not None:
                os.replace(temp, key)
        self.temps.clear()

    def discard(self) -> None:
        for temp in self.temps.values():
            if temp is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)
        self.temps.clear()


def _mode(path: str) -> int:
    """The permissions a new file at ``path`` would get, or those of the file it replaces."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def save_npy(array: np.ndarray):
    """A writer for ``OutputFiles.write``: ``array`` as a .npy file at exactly the path."""
    def write(path: str) -> None:
        with open(path, "wb") as f:
            np.save(f, array)
    return write
