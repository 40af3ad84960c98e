"""Text crossing the C ABI: UTF-8 bytes in, byte offsets out, converted to str indices here."""

from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate
from typing import List, Union

Text = Union[str, bytes]


def to_bytes(text: Text) -> bytes:
    if isinstance(text, (bytes, bytearray, memoryview)):
        return bytes(text)
    if not isinstance(text, str):
        raise TypeError(f"expected str or bytes, got {type(text).__name__}")
    # surrogatepass: a lone surrogate (possible in Python str) still crosses as bytes.
    return text.encode("utf-8", "surrogatepass")


class OffsetMap:
    """Maps byte offsets of the UTF-8 encoding of a str to indices of the str."""

    def __init__(self, text: Text, encoded: bytes) -> None:
        self._identity = not isinstance(text, str) or len(encoded) == len(text)
        if not self._identity:
            sizes = (len(ch.encode("utf-8", "surrogatepass")) for ch in text)
            self._starts: List[int] = [0, *accumulate(sizes)]

    def index(self, byte_offset: int) -> int:
        if self._identity:
            return byte_offset
        # The character whose encoding starts at or before the offset.
        return bisect_right(self._starts, byte_offset) - 1
