"""Stable hashes and uniform draws: every random choice that reaches an output derives from here.

Python's ``hash()`` changes between processes and polars' hash between versions, so neither may
decide anything that persists. Here a key (a post_id, a user_id) is hashed once with xxh64 and
a seed; each purpose (shard, copies, row order, per-label draws) then gets its own independent
64-bit value by mixing that hash with a fixed stream number through the splitmix64 finalizer,
on whole numpy arrays. The same key, seed and stream give the same value on any machine,
runner, process or parallelism.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xxhash

# Stream numbers: one per purpose, fixed forever (changing one changes every shard set).
STREAM_SHARD = 1  # which shard a post goes to
STREAM_COPIES = 2  # the Bernoulli remainder of a post's copies
STREAM_ORDER = 3  # the order of rows within a shard
STREAM_LABEL = 4  # per (post, class) draws of the balanced sampler
STREAM_SPLIT = 5  # train/val by user
STREAM_NOISE_PART = 6  # which part of a noise score output a post's rows go to (seed 0)
# Taken elsewhere: 11-13 (datagraph.noise_eval's injected noise), 14 (benchmarks/noise.py's
# dev/test split). A new purpose takes a new number.

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def hash_strings(values: Sequence[str], seed: int) -> np.ndarray:
    """xxh64 of each string's UTF-8 bytes with ``seed`` (0 <= seed < 2**64), as uint64."""
    digest = xxhash.xxh64_intdigest
    return np.fromiter(
        (digest(value.encode(), seed) for value in values), dtype=np.uint64, count=len(values)
    )


def mix(hashes: np.ndarray, stream: int | np.ndarray) -> np.ndarray:
    """splitmix64's finalizer of ``hashes ^ stream``: an independent, well-spread 64-bit value
    per (hash, stream). ``stream`` may be an array (e.g. a class id per row)."""
    z = np.asarray(hashes, dtype=np.uint64) ^ np.asarray(stream, dtype=np.uint64)
    z = z + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def unit_interval(hashes: np.ndarray) -> np.ndarray:
    """Each 64-bit value as a float64 uniform in [0, 1) (its top 53 bits)."""
    return (np.asarray(hashes, dtype=np.uint64) >> np.uint64(11)).astype(np.float64) * 2.0**-53


def uniform(hashes: np.ndarray, stream: int | np.ndarray) -> np.ndarray:
    """A uniform [0, 1) draw per key hash for one purpose."""
    return unit_interval(mix(hashes, stream))
