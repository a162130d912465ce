"""Counting distinct values in a combiner: exact up to a limit, a K-minimum-values estimate above.

A Beam combiner must hold a bounded accumulator, so "distinct users per hashtag" cannot keep
every user of #love. ``DistinctSketch`` keeps the ``limit`` smallest 64-bit xxh64 hashes of the
values it has seen. While it has seen fewer than ``limit`` distinct values the count is exact;
beyond that it is the K-minimum-values estimate ``(limit - 1) * 2**64 / (largest kept hash + 1)``
(relative standard error about ``1 / sqrt(limit - 2)``: 1.6% at the default 4,096). Merging two
sketches keeps the smallest hashes of the union, so the result does not depend on how values
were split across workers or in which order they came.

>>> sketch = DistinctSketch.of(["u1", "u2", "u1"])
>>> sketch.count()
2
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

import xxhash

DEFAULT_LIMIT = 4096


class DistinctSketch:
    """The ``limit`` smallest distinct value hashes (a sorted tuple) and what they estimate."""

    __slots__ = ("hashes", "limit")

    def __init__(self, hashes: Iterable[int] = (), limit: int = DEFAULT_LIMIT):
        if limit < 2:
            raise ValueError(f"DistinctSketch limit must be at least 2, got {limit}")
        self.limit = limit
        self.hashes = tuple(heapq.nsmallest(limit, set(hashes)))

    @staticmethod
    def hash(value: str) -> int:
        return xxhash.xxh64_intdigest(value.encode("utf-8"))

    @classmethod
    def of(cls, values: Iterable[str], limit: int = DEFAULT_LIMIT) -> DistinctSketch:
        return cls((cls.hash(v) for v in values), limit)

    def merge(self, others: Iterable[DistinctSketch]) -> DistinctSketch:
        """The sketch of all values seen by this one and ``others`` (all of the same limit).

        A sketch of a smaller limit has dropped hashes the larger one would keep, so sketches
        of different limits are refused rather than merged into a wrong count.
        """
        hashes = set(self.hashes)
        for other in others:
            if other.limit != self.limit:
                raise ValueError(
                    f"cannot merge DistinctSketches of limits {self.limit} and {other.limit}"
                )
            hashes.update(other.hashes)
        return DistinctSketch(hashes, self.limit)

    def count(self) -> int:
        """Exact below ``limit`` distinct values; the KMV estimate from there on, but never
        fewer than the ``limit`` distinct hashes the sketch holds."""
        if len(self.hashes) < self.limit:
            return len(self.hashes)
        return max(self.limit, round((self.limit - 1) * 2**64 / (self.hashes[-1] + 1)))
