"""Which posts are duplicates, and which copy wins: the rules, engine-free.

A pipeline reduces each post to a ``PostRecord`` (the fields deduplication and labelling need)
and applies five checks in this order, each counted under its reason:

1. ``duplicate_post_id``: rows with the same post_id; one row is kept.
2. ``eval_contamination``: the media's sha256, or a phash within ``max_distance`` bits of one, is
   in the user's evaluation set (``ExcludeSet``).
3. ``duplicate_media``: the same media_sha256 as a better-ranked post.
4. ``near_duplicate_media``: a media_phash within ``max_distance`` bits (Hamming) of a
   better-ranked post's phash.
5. ``user_spam``: the same user posting the same hashtag set more than ``keep_per_user_tagset``
   times; the best-ranked ones are kept.

**Which copy wins.** Posts are ranked by ``rank``: earliest created_at first (posts without one
last), then the smallest post_id. Rows of one post_id are ordered by ``row_order``, which
extends the rank by every other field, so the choice never depends on input order.

**Near duplicates at scale.** Comparing every pair of phashes is quadratic. ``phash_bands``
cuts the 64 bits into ``max_distance + 1`` bands: two hashes at most ``max_distance`` bits apart
agree exactly on at least one band (pigeonhole), so only posts sharing a (band, value) bucket are
compared. ``near_duplicate_losers`` takes one bucket and returns the posts that have a
better-ranked post within ``max_distance`` bits in it; the union over all buckets is exactly the
set of posts with a better-ranked near duplicate anywhere. A post is dropped when a
better-ranked near duplicate exists, even if that one was itself dropped as a near duplicate of
a third (the rule is per pair, so it needs no clustering and gives the same answer on any
runner).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import fsspec
import pyarrow as pa

from datagraph.errors import ConfigError, InputDataError
from datagraph.extract import extract_hashtags

DROP_REASONS = (
    "duplicate_post_id",
    "eval_contamination",
    "duplicate_media",
    "near_duplicate_media",
    "user_spam",
)
DEFAULT_MAX_DISTANCE = 4
DEFAULT_KEEP_PER_USER_TAGSET = 1
NO_TIME = 2**63 - 1  # posts without created_at rank after every dated post


class PostRecord(NamedTuple):
    """The fields of a post that deduplication and labelling read."""

    post_id: str
    user_id: str | None
    created_at: int | None  # UTC milliseconds
    media_sha256: str | None
    media_phash: int | None
    tags: tuple[str, ...]  # distinct raw tags, sorted: the hashtags field plus caption tags

    @property
    def rank(self) -> tuple[int, str]:
        """Better posts sort first: earliest created_at (none = last), then post_id."""
        return (NO_TIME if self.created_at is None else self.created_at, self.post_id)

    @property
    def row_order(self) -> tuple:
        """``rank`` extended by every field: a total order for rows sharing a post_id."""
        return (
            *self.rank,
            self.user_id or "",
            self.media_sha256 or "",
            -1 if self.media_phash is None else self.media_phash,
            self.tags,
        )


def best_row(rows: Iterable[PostRecord]) -> PostRecord:
    """The row kept among rows of one post_id (or one media hash): the first by row_order."""
    return min(rows, key=lambda r: r.row_order)


def hamming(a: int, b: int) -> int:
    """Bits in which two 64-bit hashes differ."""
    return (a ^ b).bit_count()


def band_widths(max_distance: int) -> list[int]:
    """Widths of the ``max_distance + 1`` bands that cut 64 bits as evenly as possible."""
    if not 0 <= max_distance <= 31:
        raise ConfigError(f"near-duplicate max_distance must be 0..31, got {max_distance}")
    bands = max_distance + 1
    return [64 // bands + (1 if i < 64 % bands else 0) for i in range(bands)]


def phash_bands(phash: int, max_distance: int = DEFAULT_MAX_DISTANCE) -> list[tuple[int, int]]:
    """(band index, band value) for each band of the hash (see the module docstring)."""
    out = []
    shift = 0
    for index, width in enumerate(band_widths(max_distance)):
        out.append((index, (phash >> shift) & ((1 << width) - 1)))
        shift += width
    return out


def near_duplicate_losers(
    members: Iterable[tuple[tuple[int, str], str, int]], max_distance: int = DEFAULT_MAX_DISTANCE
) -> list[str]:
    """Post ids in one band bucket that have a better-ranked member within ``max_distance``.

    ``members`` are (rank, post_id, phash). Members with equal phashes are grouped first, so a
    bucket of many copies of one hash costs one comparison per distinct hash.
    """
    by_hash: dict[int, list[tuple[tuple[int, str], str]]] = {}
    for rank, post_id, phash in members:
        by_hash.setdefault(phash, []).append((rank, post_id))
    heads = []  # (best rank, phash) per distinct hash
    losers = []
    for phash, posts in by_hash.items():
        posts.sort()
        heads.append((posts[0][0], phash))
        losers.extend(post_id for _, post_id in posts[1:])  # exact phash repeats
    heads.sort()
    for i, (_, phash) in enumerate(heads):
        for _, better in heads[:i]:
            if hamming(phash, better) <= max_distance:
                losers.extend(post_id for _, post_id in by_hash[phash][:1])
                break
    return sorted(losers)


def tagset_key(user_id: str, tags: Sequence[str]) -> str:
    """The per-user spam key: the user and a digest of the case-folded, distinct tags."""
    folded = sorted({tag.casefold().lstrip("#") for tag in tags})
    digest = hashlib.blake2b("\x1f".join(folded).encode(), digest_size=12).hexdigest()
    return f"{user_id}\x1f{digest}"


class ExcludeSet:
    """Media of an evaluation set that must not appear in training data.

    A file of one value a line (``#`` comments and blank lines ignored): 64 hex characters are a
    media_sha256; anything else must be a phash, decimal or 0x-prefixed hex (up to 64 bits).
    """

    def __init__(
        self,
        sha256: Iterable[str] = (),
        phashes: Iterable[int] = (),
        max_distance: int = DEFAULT_MAX_DISTANCE,
    ):
        band_widths(max_distance)  # a bad distance is an error even before a phash is added
        self.sha256 = frozenset(s.lower() for s in sha256)
        self.phashes = frozenset(phashes)
        self.max_distance = max_distance
        self._buckets: dict[tuple[int, int], list[int]] = {}
        for phash in sorted(self.phashes):
            for band in phash_bands(phash, max_distance):
                self._buckets.setdefault(band, []).append(phash)

    @classmethod
    def read(cls, path: str | Path, max_distance: int = DEFAULT_MAX_DISTANCE) -> ExcludeSet:
        """Read an exclusion file (local path or fsspec URL)."""
        sha256, phashes = [], []
        try:
            with fsspec.open(str(path), "rt", encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputDataError(f"{path}: cannot read the exclude-media file ({exc})") from None
        for number, line in enumerate(lines, 1):
            value = line.split("#", 1)[0].strip()
            if not value:
                continue
            if len(value) == 64 and all(c in "0123456789abcdefABCDEF" for c in value):
                sha256.append(value)
                continue
            try:
                phash = int(value, 16) if value.lower().startswith("0x") else int(value)
            except ValueError:
                phash = -1
            if not 0 <= phash < 2**64:
                raise InputDataError(
                    f"{path}:{number}: {value!r} is neither a media_sha256 (64 hex characters) "
                    "nor a 64-bit phash (decimal or 0x hex)"
                )
            phashes.append(phash)
        return cls(sha256, phashes, max_distance)

    def __len__(self) -> int:
        return len(self.sha256) + len(self.phashes)

    def matches(self, record: PostRecord) -> bool:
        """Whether the post's media is in the set (exact sha256, or phash within the distance)."""
        if record.media_sha256 is not None and record.media_sha256.lower() in self.sha256:
            return True
        if record.media_phash is None or not self.phashes:
            return False
        for band in phash_bands(record.media_phash, self.max_distance):
            for other in self._buckets.get(band, ()):
                if hamming(record.media_phash, other) <= self.max_distance:
                    return True
        return False

    def fingerprint(self) -> str:
        """sha256 of the sorted values: recorded in the manifest."""
        text = "\n".join([*sorted(self.sha256), *map(str, sorted(self.phashes))])
        return hashlib.sha256(text.encode()).hexdigest()


def post_records(posts: pa.Table) -> list[PostRecord]:
    """PostRecords of a posts table (POST_SCHEMA): a post's tags are its ``hashtags`` field and
    the hashtags of its caption, distinct raw forms, sorted; empty tags are dropped."""
    created = posts.column("created_at").cast(pa.int64()).to_pylist()
    hashtags = posts.column("hashtags").to_pylist()
    captions = posts.column("caption").to_pylist()
    records = []
    for post_id, user_id, created_at, sha, phash, field, caption in zip(
        posts.column("post_id").to_pylist(),
        posts.column("user_id").to_pylist(),
        created,
        posts.column("media_sha256").to_pylist(),
        posts.column("media_phash").to_pylist(),
        hashtags,
        captions,
        strict=True,
    ):
        tags = set(field or ())
        if caption:
            tags.update(extract_hashtags(caption))
        tags = {tag for tag in tags if tag.strip().strip("#")}
        records.append(PostRecord(post_id, user_id, created_at, sha, phash, tuple(sorted(tags))))
    return records


def deduplicate(
    records: Iterable[PostRecord],
    *,
    exclude: ExcludeSet | None = None,
    max_distance: int = DEFAULT_MAX_DISTANCE,
    keep_per_user_tagset: int = DEFAULT_KEEP_PER_USER_TAGSET,
) -> tuple[list[PostRecord], dict[str, int]]:
    """The five checks of this module, in order, on one machine (no engine).

    Returns the kept records sorted by post_id and the dropped count of every reason in
    DROP_REASONS; build_graph applies the same functions in Beam and keeps the same posts.
    """
    dropped = dict.fromkeys(DROP_REASONS, 0)

    def best_per(rows: Iterable[PostRecord], key, keep: int, reason: str) -> list[PostRecord]:
        groups: dict[object, list[PostRecord]] = {}
        for row in rows:
            groups.setdefault(key(row), []).append(row)
        kept = []
        for group in groups.values():
            group.sort(key=lambda r: r.row_order)
            kept.extend(group[:keep])
            dropped[reason] += max(0, len(group) - keep)
        return kept

    rows = best_per(records, lambda r: r.post_id, 1, "duplicate_post_id")
    if exclude is not None:
        rows, before = [r for r in rows if not exclude.matches(r)], len(rows)
        dropped["eval_contamination"] = before - len(rows)
    with_sha = [r for r in rows if r.media_sha256 is not None]
    rows = [r for r in rows if r.media_sha256 is None]
    rows += best_per(with_sha, lambda r: r.media_sha256, 1, "duplicate_media")
    buckets: dict[tuple[int, int], list[tuple[tuple[int, str], str, int]]] = {}
    for r in rows:
        if r.media_phash is not None:
            for band in phash_bands(r.media_phash, max_distance):
                buckets.setdefault(band, []).append((r.rank, r.post_id, r.media_phash))
    losers = {loser for b in buckets.values() for loser in near_duplicate_losers(b, max_distance)}
    dropped["near_duplicate_media"] = len(losers)
    rows = [r for r in rows if r.post_id not in losers]
    checked = [r for r in rows if r.user_id and r.tags]
    rows = [r for r in rows if not (r.user_id and r.tags)]
    rows += best_per(
        checked, lambda r: tagset_key(r.user_id, r.tags), keep_per_user_tagset, "user_spam"
    )
    return sorted(rows, key=lambda r: r.post_id), dropped
