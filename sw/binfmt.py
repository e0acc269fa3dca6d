"""The binary framing the ``.lpx`` and ``.lpxs`` images share, written and read once.

An image is ``magic, u16 version, u16 reserved = 0``, then sections, each ``tag`` (4 ASCII
bytes), ``u32 payload length``, payload; then ``b"END "`` and the CRC-32 of every byte before
the CRC. Numbers are little-endian; a name is ``u8 length`` and that many UTF-8 bytes.
"""

from __future__ import annotations

import struct
import zlib

from .errors import Location, LpuError

MAX_IMAGE_BYTES = 64 << 20


def read_file(path: str) -> bytes:
    """The bytes of an image file, at most one byte past ``MAX_IMAGE_BYTES`` (so the reader
    reports a file too large instead of reading all of it)."""
    try:
        with open(path, "rb") as f:
            return f.read(MAX_IMAGE_BYTES + 1)
    except OSError as e:
        raise LpuError(f"cannot read: {e.strerror}", Location(path)) from None


def pack_name(name: str) -> bytes:
    """A name as the images store it: u8 byte length, then the UTF-8 bytes."""
    b = name.encode()
    if len(b) > 255:
        raise ValueError(f"name {name[:20]!r}... is {len(b)} bytes; an image holds at most 255")
    return struct.pack("<B", len(b)) + b


def frame(magic: bytes, version: int, sections: list[tuple[bytes, bytes]]) -> bytes:
    """The image bytes of ``sections`` ((tag, payload) in order) with header, END and CRC."""
    body = magic + struct.pack("<HH", version, 0)
    for tag, payload in sections:
        body += tag + struct.pack("<I", len(payload)) + payload
    body += b"END "
    return body + struct.pack("<I", zlib.crc32(body))


class BinaryReader:
    """Reads one image (or one section payload of it); every problem is an LpuError naming
    the file and the byte offset in it (``base`` is where ``data`` starts in the file)."""

    def __init__(self, path: str, data: bytes, base: int = 0):
        self.path, self.data, self.pos, self.base = path, data, 0, base

    def fail(self, msg: str, at: int | None = None):
        """Raise for a problem at byte ``at`` of this reader (default: where it stands)."""
        off = self.base + (self.pos if at is None else at)
        raise LpuError(f"corrupt image at byte {off}: {msg}", Location(self.path))

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise LpuError(f"truncated image: {what} needs {n} bytes at byte "
                           f"{self.base + self.pos}, {len(self.data) - self.pos} remain",
                           Location(self.path))
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def u(self, fmt: str, what: str):
        """Unpack little-endian ``fmt``: one value, or a tuple of several."""
        vals = struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))
        return vals if len(vals) > 1 else vals[0]

    def name(self, what: str) -> str:
        n = self.u("B", what)
        try:
            return self.take(n, what).decode()
        except UnicodeDecodeError:
            self.fail(f"{what} is not UTF-8", self.pos - n)

    def done(self, what: str) -> None:
        """Fail unless every byte was read."""
        if self.pos != len(self.data):
            self.fail(f"{what} has {len(self.data) - self.pos} unread bytes")


def read_frame(path: str, data: bytes, magic: bytes, version: int, tags: tuple[bytes, ...],
               ext: str, kind: str = "image") -> dict[bytes, BinaryReader]:
    """Check the header, CRC and section order of an image (file extension ``ext``, ``kind``
    "image" or "system image"); return a reader per section payload."""
    r = BinaryReader(path, data)
    if len(data) > MAX_IMAGE_BYTES:
        r.fail(f"image is {len(data)} bytes, more than the {MAX_IMAGE_BYTES} allowed", 0)
    if r.take(len(magic), "magic") != magic:
        raise LpuError(f"not an {ext} {kind} (bad magic)", Location(path))
    got, reserved = r.u("HH", "header")
    if got != version:
        r.fail(f"{kind} version {got}; this tool reads version {version}", len(magic))
    if reserved:
        r.fail(f"reserved header field is {reserved:#x}, not 0", len(magic) + 2)
    if len(data) < len(magic) + 12 or data[-8:-4] != b"END ":
        raise LpuError(f"truncated image: no END section at the end ({len(data)} bytes)",
                       Location(path))
    if struct.unpack("<I", data[-4:])[0] != zlib.crc32(data[:-4]):
        r.fail("CRC mismatch (the image was altered or cut)", len(data) - 4)
    payloads = {}
    for tag in tags:
        at = r.pos
        got_tag = r.take(4, "section tag")
        if got_tag != tag:
            r.fail(f"expected section {tag.decode()}, found {got_tag!r}", at)
        n = r.u("I", f"{tag.decode()} length")
        payloads[tag] = BinaryReader(path, r.take(n, f"{tag.decode()} payload"),
                                     r.base + r.pos - n)
    if r.take(4, "END tag") != b"END " or r.pos != len(data) - 4:
        r.fail("trailing bytes after the sections", r.pos)
    return payloads
