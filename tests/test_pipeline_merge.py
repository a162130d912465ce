"""pipelines.merge.MergeCombine: any split of the parts into accumulators gives one result."""

from __future__ import annotations

import random

import polars as pl

from datagraph.post_frames import merge_tag_hashes, tag_counts, tag_user_hashes
from pipelines.io import pack_frame, unpack_frame
from pipelines.merge import MergeCombine


def _posts(start: int, n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "post_id": [f"p{i}" for i in range(start, start + n)],
            "user_id": [f"u{i % 37}" for i in range(start, start + n)],
            "tags": [["#a", "#b"] if i % 3 else ["#a"] for i in range(start, start + n)],
        }
    )


def test_any_grouping_of_parts_merges_to_the_same_counts():
    parts = [pack_frame(tag_user_hashes(_posts(i * 50, 50), limit=16)) for i in range(20)]
    whole = tag_counts(tag_user_hashes(_posts(0, 1000), limit=16), limit=16).sort("raw_tag")
    combine = MergeCombine(lambda frames: merge_tag_hashes(frames, limit=16), unpack_frame, 4)
    for seed in range(3):
        order = parts[:]
        random.Random(seed).shuffle(order)
        accumulators = []
        for start in range(0, len(order), 7):  # bundles of up to 7 parts, as a runner might
            acc = combine.create_accumulator()
            for part in order[start : start + 7]:
                acc = combine.add_input(acc, part)
            accumulators.append(acc)
        merged = combine.extract_output(combine.merge_accumulators(accumulators))
        assert tag_counts(merged, limit=16).sort("raw_tag").equals(whole)


def test_no_parts_and_markers_give_none():
    combine = MergeCombine(lambda parts: parts[0])
    acc = combine.add_input(combine.create_accumulator(), None)
    assert combine.extract_output(acc) is None
