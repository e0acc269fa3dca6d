"""The UART host-bridge protocol, described once (pure Python, no Amaranth).

``hw/bridge.py`` builds the bridge from these numbers, the host side (``lpu run --backend
uart``) and the tests encode and decode frames with these functions, and ``docs/uart.md``
documents them. Every field width comes from the tile's ``HostMap``: an address or a length is
``addr_bytes = ceil(addr_bits / 8)`` bytes, a word ``word_bytes = data_bits / 8`` bytes, all
little-endian.

Request (host to bridge), one frame at a time; the host waits for the reply::

    SYNC | command | address | length | payload | CRC
    0xA5   1 byte    addr_bytes addr_bytes  WRITE only:  2 bytes, high byte first
                                            length words

Reply (bridge to host)::

    REPLY_SYNC | status | payload                          | CRC
    0x5A         1 byte   status OK only: READ: length words, 2 bytes, high byte first
                                          STATUS: STATUS_FIELDS

The CRC is CRC-16/CCITT-FALSE (``lpu.sw.crc``: polynomial 0x1021, initial value 0xFFFF, no
reflection, no final XOR; check value 0x29B1 for ``b"123456789"``) over every byte after the
sync byte and before the CRC. Sent high byte first, the CRC over the whole frame after the sync
byte, CRC included, is zero, which is how the bridge checks it. It catches every single-bit
error, every burst up to 16 bits (so any swap of two adjacent bytes) and every odd number of
flipped bits.

A request is checked in this order, the first failing rule giving the status: the CRC
(``BAD_CHECKSUM``), the command (``BAD_COMMAND``), the length (``BAD_LENGTH``: READ and WRITE
need 1 or more words, a WRITE at most ``max_write``), the address range (``BAD_ADDRESS``, the
rule of ``valid_range``). A frame that stops for ``timeout`` cycles between two bytes is
``TIMEOUT``. Nothing reaches the host port unless every rule holds: a WRITE's payload is
buffered until its CRC is checked. After a rejected frame the bridge ignores the line until it
has been quiet for the timeout, then sends the NAK, so a frame whose length or command byte was
corrupted never has its tail taken for a new frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from .crc import CRC_BITS, crc16
from .hostmap import REG_BUSY, HostMap

SYNC = 0xA5
REPLY_SYNC = 0x5A
VERSION = 1

CRC_BYTES = CRC_BITS // 8

COUNTER_BITS = 16  # the bridge's frame counters (bad_frames saturates, frames wraps)
DEFAULT_MAX_WRITE = 16  # words a WRITE frame may carry (the bridge's buffer), unless changed


class Command(IntEnum):
    """Request commands (ASCII letters, readable in a byte dump)."""

    WRITE = 0x57  # "W": write length words from address on
    READ = 0x52  # "R": read length words from address on
    STATUS = 0x53  # "S": the bridge's STATUS_FIELDS (address and length ignored; send 0)


class Status(IntEnum):
    """Reply status codes: OK is the ACK, every other one a NAK (no payload)."""

    OK = 0
    BAD_CHECKSUM = 1
    BAD_COMMAND = 2
    BAD_LENGTH = 3
    BAD_ADDRESS = 4
    TIMEOUT = 5


#: STATUS reply payload: (field, bytes), little-endian, in this order.
STATUS_FIELDS = (
    ("version", 1),  # VERSION
    ("addr_bits", 1),  # HostMap.addr_bits of the tile behind the bridge
    ("data_bits", 2),  # HostMap.data_bits
    ("max_write", 2),  # the most words one WRITE frame may carry
    ("flags", 1),  # bit 0: the tile's busy output
    ("last_error", 1),  # status of the last rejected frame, 0 before the first
    ("frames", 2),  # accepted frames (this STATUS included), wrapping at 2**16
    ("bad_frames", 2),  # rejected frames, saturating at 2**16 - 1
)
STATUS_BYTES = sum(n for _, n in STATUS_FIELDS)


class ProtocolError(ValueError):
    """A frame that cannot be built or a reply that cannot be decoded."""


class FrameError(ProtocolError):
    """A request the bridge rejects, with the status it replies."""

    def __init__(self, status: Status, message: str):
        super().__init__(f"{status.name}: {message}")
        self.status = status


class NakError(ProtocolError):
    """The bridge answered a request with a NAK."""

    def __init__(self, status: Status):
        super().__init__(f"bridge replied {status.name}")
        self.status = status


def addr_bytes(hostmap: HostMap) -> int:
    """Bytes of an address or a length field."""
    return -(-hostmap.addr_bits // 8)


def word_bytes(hostmap: HostMap) -> int:
    """Bytes of one host word."""
    return hostmap.data_bits // 8


def header_bytes(hostmap: HostMap) -> int:
    """Bytes after the sync byte and before the payload: command, address, length."""
    return 1 + 2 * addr_bytes(hostmap)


def register_words(hostmap: HostMap) -> int:
    """Words of the register region a frame may touch: every offset up to the last per-queue
    busy register. The tile reads unimplemented offsets as 0 and ignores writes to read-only
    ones, so the rule only keeps the host inside the region."""
    return REG_BUSY + len(hostmap.config.queues)


def ranges(hostmap: HostMap, write: bool) -> tuple[tuple[int, int], ...]:
    """Address ranges [lo, hi) a READ (``write`` False) or WRITE may touch, adjacent ones merged:
    the registers, the instruction queues (write-only, ``queue_words`` each) and the MEM banks
    (``mem_words`` each)."""
    cfg, rw = hostmap.config, hostmap.region_words
    spans = [(0, register_words(hostmap))]
    if write:
        spans += [(hostmap.queue_base(q.name), hostmap.queue_base(q.name) + cfg.queue_words)
                  for q in cfg.queues]
    spans += [(hostmap.bank_base(*b), hostmap.bank_base(*b) + cfg.mem_words)
              for b in hostmap.banks]
    assert all(hi - lo <= rw for lo, hi in spans)
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        if merged and merged[-1][1] == lo:
            merged[-1] = (merged[-1][0], hi)
        else:
            merged.append((lo, hi))
    return tuple(merged)


def valid_range(hostmap: HostMap, address: int, length: int, write: bool = False) -> str | None:
    """None when every word of [address, address + length) exists for a READ (or a WRITE with
    ``write``), else why not. The bridge applies the same rule (``ranges``)."""
    if length < 1:
        return f"length must be at least 1, not {length}"
    if address < 0:
        return f"address {address} is negative"
    for lo, hi in ranges(hostmap, write):
        if lo <= address < hi:
            if address + length <= hi:
                return None
            return (f"words {address:#x}..{address + length - 1:#x} run past the end of "
                    f"range {lo:#x}..{hi - 1:#x}")
    what = "written" if write else "read"
    return f"address {address:#x} cannot be {what} (see docs/uart.md)"


def _field(value: int, size: int, name: str) -> bytes:
    if not isinstance(value, int) or not 0 <= value < 1 << 8 * size:
        raise ProtocolError(f"{name} {value!r} does not fit in {size} bytes")
    return value.to_bytes(size, "little")


def _checked(body: bytes) -> bytes:
    return body + crc16(body).to_bytes(CRC_BYTES, "big")


def encode_request(hostmap: HostMap, command: int, address: int = 0, length: int = 0,
                   payload: bytes = b"") -> bytes:
    """A request frame with any command byte and any payload, unchecked beyond field sizes
    (tests build bad frames with it; hosts use ``encode_write`` / ``encode_read``)."""
    a = addr_bytes(hostmap)
    body = (_field(command, 1, "command") + _field(address, a, "address")
            + _field(length, a, "length") + bytes(payload))
    return bytes([SYNC]) + _checked(body)


def encode_words(hostmap: HostMap, words) -> bytes:
    """Host words as payload bytes, little-endian."""
    w = word_bytes(hostmap)
    return b"".join(_field(word, w, "word") for word in words)


def decode_words(hostmap: HostMap, data: bytes) -> list[int]:
    w = word_bytes(hostmap)
    if len(data) % w:
        raise ProtocolError(f"{len(data)} bytes are not a whole number of {w}-byte words")
    return [int.from_bytes(data[i:i + w], "little") for i in range(0, len(data), w)]


def encode_write(hostmap: HostMap, address: int, words, max_write: int = DEFAULT_MAX_WRITE
                 ) -> bytes:
    """A WRITE of ``words`` to address, address + 1, ...; ProtocolError when the bridge would
    reject it."""
    words = list(words)
    if not 1 <= len(words) <= max_write:
        raise ProtocolError(f"a WRITE carries 1..{max_write} words, not {len(words)}")
    if (why := valid_range(hostmap, address, len(words), write=True)) is not None:
        raise ProtocolError(why)
    return encode_request(hostmap, Command.WRITE, address, len(words),
                          encode_words(hostmap, words))


def encode_read(hostmap: HostMap, address: int, length: int) -> bytes:
    """A READ of ``length`` words from ``address`` on."""
    if (why := valid_range(hostmap, address, length)) is not None:
        raise ProtocolError(why)
    return encode_request(hostmap, Command.READ, address, length)


def encode_status(hostmap: HostMap) -> bytes:
    return encode_request(hostmap, Command.STATUS)


def group_writes(writes, max_write: int = DEFAULT_MAX_WRITE) -> list[tuple[int, list[int]]]:
    """(address, words) WRITE frames for (address, word) writes: runs of consecutive addresses,
    in the given order, each at most ``max_write`` words."""
    frames: list[tuple[int, list[int]]] = []
    for address, word in writes:
        if frames and frames[-1][0] + len(frames[-1][1]) == address \
                and len(frames[-1][1]) < max_write:
            frames[-1][1].append(word)
        else:
            frames.append((address, [word]))
    return frames


@dataclass(frozen=True)
class Request:
    command: int
    address: int
    length: int
    words: tuple[int, ...] = ()


def decode_request(hostmap: HostMap, frame: bytes, max_write: int = DEFAULT_MAX_WRITE
                   ) -> Request:
    """The request in ``frame`` (sync byte to CRC), checked as the bridge checks it; FrameError
    with the bridge's status otherwise."""
    a, h, w = addr_bytes(hostmap), header_bytes(hostmap), word_bytes(hostmap)
    if len(frame) < 1 + h + CRC_BYTES or frame[0] != SYNC:
        raise FrameError(Status.TIMEOUT, "no sync byte or frame shorter than its header")
    command = frame[1]
    address = int.from_bytes(frame[2:2 + a], "little")
    length = int.from_bytes(frame[2 + a:2 + 2 * a], "little")
    size = 1 + h + (length * w if command == Command.WRITE else 0) + CRC_BYTES
    if len(frame) < size:
        raise FrameError(Status.TIMEOUT, f"frame of {len(frame)} bytes, its header says {size}")
    if crc16(frame[1:size]) != 0:
        raise FrameError(Status.BAD_CHECKSUM, "CRC mismatch")
    if len(frame) > size:  # the bridge would ignore them until the next sync byte
        raise ProtocolError(f"{len(frame) - size} bytes after the frame")
    if command not in set(Command):
        raise FrameError(Status.BAD_COMMAND, f"unknown command {command:#04x}")
    if command == Command.STATUS:
        return Request(command, address, length)
    limit = max_write if command == Command.WRITE else (1 << 8 * a) - 1
    if not 1 <= length <= limit:
        raise FrameError(Status.BAD_LENGTH, f"length {length} is not 1..{limit}")
    if (why := valid_range(hostmap, address, length, command == Command.WRITE)) is not None:
        raise FrameError(Status.BAD_ADDRESS, why)
    payload = frame[1 + h:size - CRC_BYTES]
    return Request(command, address, length, tuple(decode_words(hostmap, payload)))


def encode_status_fields(values: dict[str, int]) -> bytes:
    return b"".join(_field(values[name], n, name) for name, n in STATUS_FIELDS)


def decode_status_fields(data: bytes) -> dict[str, int]:
    if len(data) != STATUS_BYTES:
        raise ProtocolError(f"STATUS payload of {len(data)} bytes, not {STATUS_BYTES}")
    out, i = {}, 0
    for name, n in STATUS_FIELDS:
        out[name] = int.from_bytes(data[i:i + n], "little")
        i += n
    return out


def encode_reply(status: Status, payload: bytes = b"") -> bytes:
    """A reply frame (the bridge's side; tests and software models use it)."""
    if status != Status.OK and payload:
        raise ProtocolError("a NAK carries no payload")
    return bytes([REPLY_SYNC]) + _checked(bytes([status]) + payload)


def reply_payload_bytes(hostmap: HostMap, command: int, length: int, status: int) -> int:
    """Payload bytes of the reply to a request: the host reads the sync and status bytes,
    then this many bytes and the CRC."""
    if status != Status.OK:
        return 0
    if command == Command.READ:
        return length * word_bytes(hostmap)
    if command == Command.STATUS:
        return STATUS_BYTES
    return 0


@dataclass(frozen=True)
class Reply:
    status: Status
    words: tuple[int, ...] = ()  # READ
    fields: dict | None = None  # STATUS: STATUS_FIELDS values


def decode_reply(hostmap: HostMap, command: int, length: int, data: bytes) -> Reply:
    """The reply in ``data`` (sync byte to CRC) to a request of ``command`` and ``length``."""
    if len(data) < 2 + CRC_BYTES or data[0] != REPLY_SYNC:
        raise ProtocolError(f"not a reply: {data[:8].hex()}")
    try:
        status = Status(data[1])
    except ValueError:
        raise ProtocolError(f"unknown reply status {data[1]:#04x}") from None
    size = 2 + reply_payload_bytes(hostmap, command, length, status) + CRC_BYTES
    if len(data) != size:
        raise ProtocolError(f"reply of {len(data)} bytes, expected {size}")
    if crc16(data[1:]) != 0:
        raise ProtocolError("reply CRC mismatch")
    payload = data[2:-CRC_BYTES]
    if status != Status.OK:
        return Reply(status)
    if command == Command.READ:
        return Reply(status, words=tuple(decode_words(hostmap, payload)))
    if command == Command.STATUS:
        return Reply(status, fields=decode_status_fields(payload))
    return Reply(status)
