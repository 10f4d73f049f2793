"""Re-sealing a damaged record file (docs/FORMAT.md section 2): after bytes of
a file were changed, the block checksums, the record digests of the key index
and the footer checksum are computed again, wherever the damaged structure
still lets them be found, so that the damage gets past those checks and
reaches the parsers behind them (records, CBOR, framing, the key index).
Checksums from the xxhash package, the layout read here again on purpose."""

from __future__ import annotations

import struct

import xxhash

HEADER_SIZE = 32
BLOCK_HEADER_SIZE = 40
TAIL_SIZE = 32
FOOTER_FIXED_SIZE = 72
END_MAGIC = b"SPKYFEND"


def _xxh64(data: bytes | bytearray) -> int:
    return xxhash.xxh64_intdigest(bytes(data))


def reseal(data: bytes, digests: bool = True) -> bytes:
    """data with every block's payload checksum, every index entry's record
    digest (when digests) and the footer checksum made to hold, as far as the
    blocks can be walked from the header and the footer read from the tail."""
    out = bytearray(data)
    n = len(out)
    if n < HEADER_SIZE + TAIL_SIZE or out[-8:] != END_MAGIC:
        return bytes(out)
    (footer,) = struct.unpack_from("<Q", out, n - TAIL_SIZE)
    body_end = n - TAIL_SIZE
    # record blocks, back to back from the header up to the footer block
    at = HEADER_SIZE
    while at + BLOCK_HEADER_SIZE <= min(footer, body_end):
        (plen,) = struct.unpack_from("<Q", out, at + 24)
        start = at + BLOCK_HEADER_SIZE
        if plen > min(footer, body_end) - start:
            break
        struct.pack_into("<Q", out, at + 32, _xxh64(out[start : start + plen]))
        at = start + plen
    if footer < HEADER_SIZE or footer + BLOCK_HEADER_SIZE > body_end:
        return bytes(out)
    base = footer + BLOCK_HEADER_SIZE
    payload_len = body_end - base
    if digests and payload_len >= FOOTER_FIXED_SIZE:
        (count,) = struct.unpack_from("<Q", out, base)
        (index_off,) = struct.unpack_from("<Q", out, base + 40)
        if index_off <= payload_len:
            for i in range(min(count, (payload_len - index_off) // 32)):
                e = base + index_off + 32 * i
                roff, rlen = struct.unpack_from("<QI", out, e + 8)
                if roff + rlen <= n:
                    struct.pack_into("<Q", out, e, _xxh64(out[roff : roff + rlen]))
    struct.pack_into("<Q", out, footer + 32, _xxh64(out[base:body_end]))
    return bytes(out)
