"""Combining partial results of a partition as they arrive: a CombineFn over mergeable parts.

Steps whose result is a merge of partial tables (per-tag user hashes, synset and pair counts)
use ``MergeCombine`` with ``beam.CombinePerKey`` instead of a GroupByKey of all parts: the
runner pre-combines parts on each worker before the shuffle (combiner lifting) and merges
accumulators after it, so a key never holds more than ``fan_in`` unmerged parts, however many
input batches there are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import apache_beam as beam


class MergeCombine(beam.CombineFn):
    """Parts of one key merged by ``merge`` (a function of a list of parts -> one part).

    ``merge`` must be associative and indifferent to order (sums, sets, sorted outputs), so
    the result is the same whichever worker merged which parts first. ``decode`` turns an
    input element into a part (packed bytes into a frame, say); None inputs are skipped (the
    marker a table writer adds so that an empty table still gets a key).
    """

    def __init__(
        self,
        merge: Callable[[list[Any]], Any],
        decode: Callable[[Any], Any] | None = None,
        fan_in: int = 8,
    ):
        self.merge = merge
        self.decode = decode
        self.fan_in = fan_in

    def create_accumulator(self) -> list:
        return []

    def add_input(self, parts: list, element: Any) -> list:
        if element is not None:
            parts.append(self.decode(element) if self.decode else element)
        return self._compact(parts)

    def merge_accumulators(self, accumulators: Iterable[list]) -> list:
        return self._compact([part for parts in accumulators for part in parts])

    def extract_output(self, parts: list) -> Any:
        return self.merge(parts) if parts else None

    def _compact(self, parts: list) -> list:
        return [self.merge(parts)] if len(parts) >= self.fan_in else parts
