"""OpenD's framing, without I/O: a 44-byte header, then the body.

    offset size  field
    0      2     b"FT"
    2      4     protocol id            (little-endian uint32)
    6      1     body format            (0 protobuf, 1 JSON)
    7      1     protocol version       (0)
    8      4     serial number          (uint32, echoed in the reply)
    12     4     body length            (uint32)
    16     20    SHA1 of the plain body
    36     8     reserved               (zeros)
"""

import hashlib
import struct
from typing import Any, List, NamedTuple, Optional, Type

from google.protobuf import json_format

HEADER = struct.Struct("<2sIBBII20s8s")
HEADER_SIZE = HEADER.size  # 44
MAGIC = b"FT"
FMT_PROTOBUF, FMT_JSON = 0, 1
#: Largest body the simulator accepts; anything bigger closes the connection.
MAX_BODY = 4 * 1024 * 1024


class FrameError(Exception):
    """The byte stream is not OpenD framing (bad magic, oversized body)."""


class Frame(NamedTuple):
    proto_id: int
    fmt: int
    serial: int
    body: bytes
    sha1: bytes

    @property
    def sha1_ok(self) -> bool:
        return hashlib.sha1(self.body).digest() == self.sha1


def encode_frame(proto_id: int, fmt: int, serial: int, body: bytes, sha1: Optional[bytes] = None) -> bytes:
    """Header plus body; ``sha1`` defaults to the body's digest (pass another to corrupt it)."""
    digest = hashlib.sha1(body).digest() if sha1 is None else sha1
    return HEADER.pack(MAGIC, proto_id, fmt, 0, serial, len(body), digest, bytes(8)) + body


class FrameReader:
    """Feed it bytes as they arrive; it returns the complete frames."""

    def __init__(self, max_body: int = MAX_BODY):
        self._buffer = bytearray()
        self._max_body = max_body

    def feed(self, data: bytes) -> List[Frame]:
        self._buffer.extend(data)
        frames = []
        while len(self._buffer) >= HEADER_SIZE:
            magic, proto_id, fmt, _ver, serial, length, sha1, _ = HEADER.unpack_from(self._buffer)
            if magic != MAGIC:
                raise FrameError(f"bad magic {bytes(magic)!r}")
            if length > self._max_body:
                raise FrameError(f"body of {length} bytes exceeds the limit of {self._max_body}")
            end = HEADER_SIZE + length
            if len(self._buffer) < end:
                break
            frames.append(Frame(proto_id, fmt, serial, bytes(self._buffer[HEADER_SIZE:end]), sha1))
            del self._buffer[:end]
        return frames


def decode_body(fmt: int, body: bytes, message_class: Type[Any]) -> Any:
    """Parse a protobuf or JSON body into ``message_class``; raises on malformed input."""
    if fmt == FMT_JSON:
        return json_format.Parse(body.decode("utf-8"), message_class(), ignore_unknown_fields=True)
    return message_class.FromString(body)


def encode_body(fmt: int, message: Any) -> bytes:
    if fmt == FMT_JSON:
        return json_format.MessageToJson(message).encode("utf-8")
    return message.SerializeToString()
