"""The spool's records: ``magic, length, crc32, payload``, and reading them back.

Reading checks every record and resynchronises on the magic after damage, so a torn write at a
crash costs only the records it touched.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAGIC = b"\xa7\x5c"
_HEADER = struct.Struct(">2sII")
MAX_RECORD_BYTES = 1 << 20
MAX_ROW_BYTES = 4096  # a row is smaller than the beacon it came from


def frame(payload: bytes) -> bytes:
    return _HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


@dataclass(frozen=True)
class Records:
    payloads: list[bytes]
    damaged_bytes: int
    damaged_stretches: int  # damaged records, as far as can be told: each stretch skipped


def read_records(data: bytes) -> Records:
    """Every intact record in ``data``; damaged stretches are skipped, counted and measured."""
    payloads: list[bytes] = []
    damaged, stretches, offset, end = 0, 0, 0, len(data)
    in_damage = False
    while offset < end:
        if offset + _HEADER.size <= end:
            magic, length, checksum = _HEADER.unpack_from(data, offset)
            start = offset + _HEADER.size
            if magic == MAGIC and length <= MAX_RECORD_BYTES and start + length <= end:
                payload = data[start : start + length]
                if zlib.crc32(payload) == checksum:
                    payloads.append(payload)
                    offset = start + length
                    in_damage = False
                    continue
        following = data.find(MAGIC, offset + 1)
        following = end if following < 0 else following
        stretches += 0 if in_damage else 1
        in_damage = True
        damaged += following - offset
        offset = following
    return Records(payloads, damaged, stretches)
