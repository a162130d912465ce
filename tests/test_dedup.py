"""Deduplication rules: ranking, banded near-duplicate search, the exclude set, post records."""

from __future__ import annotations

import hashlib
import itertools
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datagraph.dedup import (
    DEFAULT_MAX_DISTANCE,
    ExcludeSet,
    PostRecord,
    band_widths,
    best_row,
    hamming,
    near_duplicate_losers,
    phash_bands,
    post_records,
    tagset_key,
)
from datagraph.errors import ConfigError, InputDataError
from datagraph.schema import POST_SCHEMA, posts_table, validate_post

DISTANCES = (0, 2, 4, 8)
SHA_A = "a" * 64
SHA_B = hashlib.sha256(b"b").hexdigest()


def _post(
    post_id: str,
    created_at: int | None = None,
    phash: int | None = None,
    *,
    user_id: str | None = None,
    sha256: str | None = None,
    tags: tuple[str, ...] = (),
) -> PostRecord:
    return PostRecord(post_id, user_id, created_at, sha256, phash, tags)


def _bits(value: int) -> int:
    """Hamming weight computed independently of ``hamming`` (for the brute-force reference)."""
    return bin(value).count("1")


def _brute_force_losers(records: list[PostRecord], max_distance: int) -> set[str]:
    """Posts with a better-ranked post within max_distance bits: every pair compared."""
    return {
        r.post_id
        for r in records
        if any(
            o.rank < r.rank and _bits(o.media_phash ^ r.media_phash) <= max_distance
            for o in records
        )
    }


def _buckets(records: list[PostRecord], max_distance: int) -> dict[tuple[int, int], list]:
    """(band, value) -> members, as the pipeline's GroupByKey builds them."""
    buckets: dict[tuple[int, int], list] = {}
    for r in records:
        for band in phash_bands(r.media_phash, max_distance):
            buckets.setdefault(band, []).append((r.rank, r.post_id, r.media_phash))
    return buckets


def _banded_losers(records: list[PostRecord], max_distance: int) -> set[str]:
    buckets = _buckets(records, max_distance)
    return {
        post_id
        for members in buckets.values()
        for post_id in near_duplicate_losers(members, max_distance)
    }


def _flip(phash: int, bits: set[int] | list[int]) -> int:
    for bit in bits:
        phash ^= 1 << bit
    return phash


# --- ranking -----------------------------------------------------------------------------------
def test_rank_is_earliest_first_then_post_id_and_undated_posts_last():
    posts = [
        _post("b", None),
        _post("z", 5),
        _post("a", None),
        _post("y", 1),
        _post("x", 5),
        _post("c", -3),  # before 1970 still counts as a time
    ]
    ranked = [p.post_id for p in sorted(posts, key=lambda p: p.rank)]
    assert ranked == ["c", "y", "x", "z", "a", "b"]
    latest_possible = _post("late", 2**62)
    assert latest_possible.rank < _post("aaa", None).rank


def test_best_row_does_not_depend_on_input_order():
    rows = [
        _post("p", 10, 7, user_id="u2"),
        _post("p", 10, 7, user_id="u1"),
        _post("p", 10, None, user_id="u1"),
        _post("p", 10, 7, user_id="u1", sha256=SHA_A),
        _post("p", 10, 7, user_id="u1", tags=("#a",)),
        _post("p", 11, 0, user_id="u0"),
        _post("p", None, 0, user_id="u0"),
    ]
    expected = _post("p", 10, None, user_id="u1")  # earliest; then user; then no phash first
    for permutation in itertools.permutations(rows):
        assert best_row(permutation) == expected
    assert best_row(iter(rows[:2])) == rows[1]
    # rows equal up to the last fields: the phash, then the tags decide
    by_phash = [_post("p", 20, 9, user_id="u"), _post("p", 20, 3, user_id="u")]
    assert best_row(by_phash) == best_row(by_phash[::-1]) == by_phash[1]
    by_tags = [_post("p", 20, 3, tags=("#b",)), _post("p", 20, 3, tags=("#a", "#z"))]
    assert best_row(by_tags) == best_row(by_tags[::-1]) == by_tags[1]
    assert best_row([_post("p", None, 1), _post("p", 99, 2)]) == _post("p", 99, 2)


def test_row_order_extends_rank():
    early, late = _post("q", 1, user_id="zzz"), _post("q", 2, user_id="aaa")
    assert early.row_order < late.row_order
    assert early.row_order[:2] == early.rank


# --- hashing and bands -------------------------------------------------------------------------
def test_hamming_counts_differing_bits():
    assert hamming(0, 0) == 0
    assert hamming(0, 2**64 - 1) == 64
    assert hamming(0b1011, 0b0110) == 3
    assert hamming(2**63, 0) == 1


@pytest.mark.parametrize("max_distance", [0, 1, 2, 4, 7, 8, 31])
def test_band_widths_cut_64_bits_evenly(max_distance):
    widths = band_widths(max_distance)
    assert len(widths) == max_distance + 1
    assert sum(widths) == 64
    assert max(widths) - min(widths) <= 1
    assert widths == sorted(widths, reverse=True)


@pytest.mark.parametrize("max_distance", [-1, 32, 64])
def test_band_widths_reject_distances_without_a_pigeonhole(max_distance):
    with pytest.raises(ConfigError, match=r"max_distance must be 0\.\.31"):
        band_widths(max_distance)
    with pytest.raises(ConfigError):
        phash_bands(1, max_distance)


def test_phash_bands_cover_the_hash_exactly():
    phash = 0x0123_4567_89AB_CDEF
    bands = phash_bands(phash)
    assert [index for index, _ in bands] == list(range(DEFAULT_MAX_DISTANCE + 1))
    shift, rebuilt = 0, 0
    for (_, value), width in zip(bands, band_widths(DEFAULT_MAX_DISTANCE), strict=True):
        assert 0 <= value < 1 << width
        rebuilt |= value << shift
        shift += width
    assert rebuilt == phash
    assert phash_bands(phash, 0) == [(0, phash)]


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 2**64 - 1),
    st.integers(0, 31),
    st.lists(st.integers(0, 63), max_size=31),
)
def test_hashes_within_the_distance_share_a_band(phash, max_distance, bits):
    """Pigeonhole: k differing bits cannot touch all k + 1 bands."""
    other = _flip(phash, set(bits[:max_distance]))
    assert hamming(phash, other) <= max_distance
    assert set(phash_bands(phash, max_distance)) & set(phash_bands(other, max_distance))


@pytest.mark.parametrize("max_distance", [0, 1, 4, 8, 31])
def test_one_more_bit_can_escape_every_band(max_distance):
    """The band count is tight: one flipped bit per band (k + 1 bits) shares no bucket."""
    starts = np.cumsum([0, *band_widths(max_distance)])[:-1]
    phash = 0x5555_5555_5555_5555
    other = _flip(phash, [int(s) for s in starts])
    assert hamming(phash, other) == max_distance + 1
    assert not set(phash_bands(phash, max_distance)) & set(phash_bands(other, max_distance))


# --- near-duplicate buckets --------------------------------------------------------------------
def test_near_duplicate_losers_in_one_bucket():
    base = 0xF0F0_F0F0_0000_FFFF
    members = [
        ((5, "p5"), "p5", base),
        ((1, "p1"), "p1", _flip(base, [0, 1])),  # best: never a loser
        ((3, "p3"), "p3", base),  # 2 bits from p1
        ((4, "p4"), "p4", base),  # exact repeat of p3
        ((2, "p2"), "p2", _flip(base, [0, 1, 2, 3, 4, 5])),  # 4 bits from p1
        ((9, "p9"), "p9", _flip(base, range(40))),  # far from everyone
    ]
    assert near_duplicate_losers(members, 2) == ["p3", "p4", "p5"]
    assert near_duplicate_losers(members, 4) == ["p2", "p3", "p4", "p5"]
    assert near_duplicate_losers(members, 0) == ["p4", "p5"]  # exact repeats only
    assert near_duplicate_losers([], 4) == []
    assert near_duplicate_losers(members[:1], 4) == []


def test_undated_posts_lose_to_dated_near_duplicates():
    undated, dated = _post("a", None, 0b1), _post("z", 50, 0b11)
    members = [(p.rank, p.post_id, p.media_phash) for p in (undated, dated)]
    assert near_duplicate_losers(members, 1) == ["a"]


def test_a_loser_still_beats_worse_posts():
    """The rule is per pair: a dropped post still drops the posts it outranks."""
    a, b, c = 0, 0b11, 0b1111  # a-b 2 bits, b-c 2 bits, a-c 4 bits
    members = [((1, "a"), "a", a), ((2, "b"), "b", b), ((3, "c"), "c", c)]
    assert near_duplicate_losers(members, 2) == ["b", "c"]


@st.composite
def _planted_posts(draw) -> list[PostRecord]:
    """Posts around a few base hashes: exact repeats, near copies (<= 10 bits), strangers."""
    bases = draw(st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=5))
    flips = st.one_of(
        st.just(frozenset()),  # an exact repeat of its base
        st.frozensets(st.integers(0, 63), min_size=1, max_size=10),
    )
    times = st.none() | st.integers(0, 4)  # few times: many ties on created_at
    posts = draw(
        st.lists(st.tuples(st.integers(0, len(bases) - 1), flips, times), min_size=1, max_size=24)
    )
    return [
        _post(f"p{i:02d}", created, _flip(bases[base], bits))
        for i, (base, bits, created) in enumerate(posts)
    ]


@settings(max_examples=150, deadline=None)
@given(_planted_posts(), st.randoms(use_true_random=False))
def test_union_over_buckets_equals_brute_force(posts, rnd):
    for max_distance in DISTANCES:
        expected = _brute_force_losers(posts, max_distance)
        assert _banded_losers(posts, max_distance) == expected
        # members of a bucket may come in any order (GroupByKey promises none)
        for members in _buckets(posts, max_distance).values():
            shuffled = list(members)
            rnd.shuffle(shuffled)
            assert near_duplicate_losers(shuffled, max_distance) == near_duplicate_losers(
                members, max_distance
            )


def test_union_over_buckets_equals_brute_force_on_larger_clusters():
    rng = np.random.default_rng(20240611)
    for _ in range(4):
        bases = [int(b) for b in rng.integers(0, 2**63, size=12, dtype=np.uint64) * 2]
        posts = []
        for i in range(250):
            base = bases[int(rng.integers(len(bases)))]
            n_flips = int(rng.choice([0, 0, 1, 2, 3, 4, 5, 8, 9, 12, 30]))
            bits = rng.choice(64, size=n_flips, replace=False).tolist()
            created = None if rng.random() < 0.1 else int(rng.integers(0, 50))
            posts.append(_post(f"post{i:04d}", created, _flip(base, bits)))
        order = rng.permutation(len(posts)).tolist()
        shuffled = [posts[i] for i in order]
        for max_distance in DISTANCES:
            expected = _brute_force_losers(posts, max_distance)
            assert 0 < len(expected) < len(posts)
            assert _banded_losers(shuffled, max_distance) == expected


# --- per-user spam key -------------------------------------------------------------------------
def test_tagset_key_ignores_case_hash_sign_order_and_repeats():
    key = tagset_key("u1", ["#Dog", "#beach"])
    assert tagset_key("u1", ["beach", "dog", "#DOG"]) == key
    assert tagset_key("u1", ("#beach", "#dog")) == key
    assert tagset_key("u2", ["#Dog", "#beach"]) != key
    assert tagset_key("u1", ["#dog"]) != key
    assert tagset_key("u1", ["#dog", "#beach", "#sun"]) != key
    assert key.startswith("u1\x1f")


# --- exclude set -------------------------------------------------------------------------------
def test_exclude_set_matches_sha256_any_case():
    exclude = ExcludeSet(sha256=[SHA_A.upper()])
    assert len(exclude) == 1
    assert exclude.matches(_post("p", sha256=SHA_A))
    assert exclude.matches(_post("p", sha256=SHA_A.upper()))
    assert not exclude.matches(_post("p", sha256=SHA_B))
    assert not exclude.matches(_post("p"))


@pytest.mark.parametrize("max_distance", [0, 3, 4, 31])
def test_exclude_set_matches_phashes_within_its_distance(max_distance):
    phash = 0xDEAD_BEEF_0BAD_F00D
    exclude = ExcludeSet(phashes=[phash, 12345], max_distance=max_distance)
    assert exclude.matches(_post("p", phash=phash))
    assert exclude.matches(_post("p", phash=_flip(phash, range(0, 64, 64 // 32)[:max_distance])))
    assert not exclude.matches(_post("p", phash=_flip(phash, range(max_distance + 1))))
    assert not exclude.matches(_post("p"))
    assert not ExcludeSet(max_distance=max_distance).matches(_post("p", phash=phash))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(0, 2**64 - 1), max_size=8),
    st.integers(0, 2**64 - 1),
    st.sampled_from(DISTANCES),
    st.integers(0, 9),
)
def test_exclude_set_phash_match_equals_brute_force(phashes, probe, max_distance, n_bits):
    if phashes:
        probe = _flip(phashes[0], range(0, 63, 7)[:n_bits])  # near the first one, or not
    exclude = ExcludeSet(phashes=phashes, max_distance=max_distance)
    expected = any(_bits(probe ^ p) <= max_distance for p in phashes)
    assert exclude.matches(_post("p", phash=probe)) == expected


def test_exclude_file_holds_sha256_and_phashes(tmp_path: Path):
    path = tmp_path / "eval_media.txt"
    path.write_text(
        "# evaluation media (comment line)\n"
        "\n"
        f"{SHA_A.upper()}\n"
        f"  {SHA_B}  # trailing comment\n"
        "12345\n"
        "0xFFFFFFFFFFFFFFFF\n"
        "0X10\n"
        f"{2**64 - 2}\n"
        "   \n",
        encoding="utf-8",
    )
    exclude = ExcludeSet.read(path, max_distance=2)
    assert exclude.sha256 == {SHA_A, SHA_B}
    assert exclude.phashes == {12345, 2**64 - 1, 16, 2**64 - 2}
    assert exclude.max_distance == 2
    assert len(exclude) == 6
    assert exclude.matches(_post("p", phash=_flip(12345, [40, 41])))
    assert not exclude.matches(_post("p", phash=_flip(12345, [40, 41, 42])))
    assert ExcludeSet.read(str(path)).fingerprint() == exclude.fingerprint()


def test_exclude_file_may_be_empty(tmp_path: Path):
    path = tmp_path / "empty.txt"
    path.write_text("# nothing excluded yet\n", encoding="utf-8")
    exclude = ExcludeSet.read(path)
    assert len(exclude) == 0
    assert not exclude.matches(_post("p", phash=0, sha256=SHA_A))


@pytest.mark.parametrize(
    "bad",
    [
        "not-a-hash",
        "-1",
        str(2**64),
        "0x1" + "0" * 16,  # 65 bits
        "0x",
        "ffffffffffffffff",  # hex needs the 0x prefix
        SHA_A[:63],  # one character short of a sha256
        SHA_A + "0",  # one too many
        "g" * 64,
        "12 34",
    ],
)
def test_bad_exclude_lines_name_file_and_line(tmp_path: Path, bad: str):
    path = tmp_path / "eval.txt"
    path.write_text(f"# header\n{SHA_A}\n{bad}\n42\n", encoding="utf-8")
    with pytest.raises(InputDataError) as info:
        ExcludeSet.read(path)
    message = str(info.value)
    assert f"{path}:3:" in message
    assert repr(bad) in message
    assert "media_sha256" in message and "phash" in message


def test_unreadable_exclude_files_are_input_errors(tmp_path: Path):
    with pytest.raises(InputDataError, match="cannot read the exclude-media file"):
        ExcludeSet.read(tmp_path / "missing.txt")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"12345\n\xff\xfe\n")
    with pytest.raises(InputDataError, match=r"binary\.txt: cannot read"):
        ExcludeSet.read(binary)


@pytest.mark.parametrize("phashes", [[1], []])
def test_exclude_set_checks_its_distance(phashes):
    with pytest.raises(ConfigError, match="max_distance"):
        ExcludeSet(sha256=[SHA_A], phashes=phashes, max_distance=32)


def test_fingerprint_depends_on_values_not_order_or_case():
    one = ExcludeSet([SHA_A, SHA_B], [3, 1, 2])
    two = ExcludeSet([SHA_B.upper(), SHA_A, SHA_A], [2, 3, 1, 1])
    assert one.fingerprint() == two.fingerprint()
    assert len(one.fingerprint()) == 64
    assert ExcludeSet([SHA_A], [1, 2, 3]).fingerprint() != one.fingerprint()
    assert ExcludeSet([SHA_A, SHA_B], [1, 2]).fingerprint() != one.fingerprint()
    assert ExcludeSet().fingerprint() == hashlib.sha256(b"").hexdigest()


# --- post records from a posts table -----------------------------------------------------------
def _table(*records: dict) -> pa.Table:
    return posts_table([validate_post(record) for record in records])


def test_post_records_read_every_field():
    table = _table(
        {
            "post_id": "p1",
            "user_id": 42,
            "created_at": "2024-01-02T03:04:05.678Z",
            "media_sha256": SHA_A.upper(),
            "media_phash": "ffffffffffffffff",
            "hashtags": ["#beach"],
        },
        {"post_id": "p2", "created_at": 1_700_000_000, "media_phash": 7},
        {"post_id": "p3"},
    )
    assert table.schema == POST_SCHEMA
    assert post_records(table) == [
        PostRecord("p1", "42", 1_704_164_645_678, SHA_A, 2**64 - 1, ("#beach",)),
        PostRecord("p2", None, 1_700_000_000_000, None, 7, ()),
        PostRecord("p3", None, None, None, None, ()),
    ]
    record = post_records(table)[0]
    assert type(record.created_at) is int and type(record.media_phash) is int


def test_post_records_join_hashtags_field_and_caption_tags():
    table = _table(
        {
            "post_id": "p1",
            "hashtags": ["#dog", "#Beach", "#dog", "", "#", "  "],
            "caption": "Sunset at the #beach with #Dog #dog! https://x.com/#frag #café",
        },
        {"post_id": "p2", "caption": "no tags here # at all"},
        {"post_id": "p3", "hashtags": [], "caption": "#only #caption #only"},
        {"post_id": "p4", "hashtags": ["sunset"], "caption": None},
    )
    records = {r.post_id: r for r in post_records(table)}
    # distinct raw forms (case kept), sorted; empty and bare '#' tags dropped; URLs ignored
    assert records["p1"].tags == ("#Beach", "#Dog", "#beach", "#café", "#dog")
    assert records["p2"].tags == ()
    assert records["p3"].tags == ("#caption", "#only")
    assert records["p4"].tags == ("sunset",)


def test_post_records_keep_row_order_and_handle_empty_tables():
    table = _table(*({"post_id": f"p{i}", "created_at": i} for i in (3, 1, 2)))
    assert [r.post_id for r in post_records(table)] == ["p3", "p1", "p2"]
    assert [r.created_at for r in post_records(table)] == [3000, 1000, 2000]
    assert post_records(POST_SCHEMA.empty_table()) == []


def test_records_of_one_table_dedupe_the_same_in_any_row_order():
    """End to end on the library pieces: the banded losers of a shuffled table do not change."""
    rows = [
        {"post_id": f"p{i}", "created_at": 1000 + i % 7, "media_phash": _flip(0xABCD, [i % 64])}
        for i in range(40)
    ]
    records = post_records(_table(*rows))
    shuffled = list(records)
    random.Random(3).shuffle(shuffled)
    for max_distance in DISTANCES:
        assert _banded_losers(shuffled, max_distance) == _banded_losers(records, max_distance)
        assert _banded_losers(records, max_distance) == _brute_force_losers(records, max_distance)
