"""The bad-input corpus (tests/data/bad_inputs/) through the readers and both pipelines.

Issue 8: on bad input every run finishes, every bad row is a dead letter with its file, line and
reason, the counts reconcile exactly, and the good rows beside the bad ones are kept. The
corpus and ``expected.json`` come from tests/data/make_bad_inputs.py; the expectations are
written there by hand (or computed with zlib), never by datagraph's own code. One build_graph
and one build_shards run (FnApiRunner, in process) serve every pipeline test here.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pyarrow.parquet as pq
import pytest

from datagraph.cooccurrence import DEFAULT_MAX_LABELS_PER_POST, cap_post_labels
from datagraph.readers import jsonl_batch, read_posts
from datagraph.schema import RAW_LIMIT
from pipelines.build_graph import run as run_graph
from pipelines.build_shards import run as run_shards

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "bad_inputs"
EXPECTED = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
FILES: dict[str, dict] = EXPECTED["files"]
GOOD = sum(len(f["good"]) for f in FILES.values())
BAD = sum(len(f["bad"]) for f in FILES.values())


@functools.cache
def _generator() -> ModuleType:
    """tests/data/make_bad_inputs.py as a module (tests/data is not a package). It is in
    sys.modules while it runs, as its dataclasses need."""
    path = ROOT / "tests" / "data" / "make_bad_inputs.py"
    spec = importlib.util.spec_from_file_location("make_bad_inputs", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _sort_key(row: tuple) -> tuple:
    return (row[0], -1 if row[1] is None else row[1])


def _expected_dead_letters() -> list[tuple[str, int | None, str | None, str]]:
    rows = [
        (name, bad["line"], bad["field"], bad["error"])
        for name, spec in FILES.items()
        for bad in spec["bad"]
    ]
    return sorted(rows, key=_sort_key)


def _assert_dead_letters_match(dead: list[dict]) -> None:
    """``dead`` (dead-letter rows of any source) are exactly the corpus's bad rows: same file,
    line and field, and the expected reason inside the error."""
    got = [(Path(d["source_file"]).name, d["line"], d["field"], d["error"]) for d in dead]
    got.sort(key=_sort_key)
    want = _expected_dead_letters()
    assert [g[:3] for g in got] == [w[:3] for w in want]
    for g, w in zip(got, want, strict=True):
        assert w[3] in g[3], f"{g[0]}:{g[1]}: {g[3]!r} does not say {w[3]!r}"


# --- the corpus itself ----------------------------------------------------------------------
def test_committed_corpus_is_what_the_generator_writes():
    """The files cannot drift from the script (rerun it after changing it, or pyarrow)."""
    assert _generator().differences(CORPUS) == []


def test_corpus_is_small_and_mixes_good_and_bad_rows():
    total = sum(p.stat().st_size for p in CORPUS.rglob("*") if p.is_file())
    assert total < 1_000_000
    one_sided = {n for n, f in FILES.items() if bool(f["good"]) != bool(f["bad"])}
    assert one_sided == {"cut_footer.parquet", "not_parquet.parquet"}  # nothing to read there
    assert {Path(n).suffixes[0] for n in FILES} == {".jsonl", ".csv", ".tsv", ".parquet"}


# --- the readers, file by file --------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(FILES))
def test_reader_keeps_the_good_rows_and_names_every_bad_one(name):
    spec = FILES[name]
    batches = list(read_posts(str(CORPUS / "posts" / name)))
    posts = [pid for b in batches for pid in b.posts.column("post_id").to_pylist()]
    dead = [d for b in batches for d in b.dead_letters.to_pylist()]
    assert posts == spec["good"]
    assert sum(b.rows_read for b in batches) == len(spec["good"]) + len(spec["bad"])
    got = [(d["line"], d["field"]) for d in dead]
    assert got == [(bad["line"], bad["field"]) for bad in spec["bad"]]
    for row, bad in zip(dead, spec["bad"], strict=True):
        assert bad["error"] in row["error"], f"{name}:{row['line']}: {row['error']!r}"
        assert row["source_file"] == str(CORPUS / "posts" / name)


@pytest.mark.parametrize("name", sorted(n for n in FILES if ".jsonl" in n and "truncated" not in n))
def test_jsonl_column_and_strict_paths_agree_on_the_corpus(name):
    """The Arrow fast path gives the strict path's posts and dead letters on real bad lines."""
    data = (CORPUS / "posts" / name).read_bytes()
    if name.endswith(".gz"):
        data = gzip.decompress(data)
    lines = data.removeprefix(b"\xef\xbb\xbf").split(b"\n")
    numbered = [(i, raw.rstrip(b"\r")) for i, raw in enumerate(lines, start=1) if raw.strip()]
    fast = jsonl_batch(name, numbered)
    strict = jsonl_batch(name, numbered, columnar=False)
    assert fast.posts.equals(strict.posts)
    assert fast.dead_letters.equals(strict.dead_letters)
    assert fast.rows_read == len(numbered)


# --- both pipelines on the whole corpus -----------------------------------------------------
@pytest.fixture(scope="module")
def graph_run(tmp_path_factory) -> tuple[dict, Path]:
    """build_graph on every file of the corpus (one glob over all formats)."""
    output = tmp_path_factory.mktemp("bad_graph") / "out"
    manifest = run_graph(
        ["--input", str(CORPUS / "posts" / "*"), "--output", str(output), "--quiet"]
    )
    return manifest, output


@pytest.fixture(scope="module")
def shards_run(graph_run, tmp_path_factory) -> tuple[dict, Path]:
    """build_shards on the same corpus with that graph (two shards, natural sampling)."""
    output = tmp_path_factory.mktemp("bad_shards") / "out"
    args = ["--input", str(CORPUS / "posts" / "*"), "--graph", str(graph_run[1])]
    manifest = run_shards([*args, "--output", str(output), "--num-shards", "2", "--quiet"])
    return manifest, output


def test_build_graph_finishes_and_its_dead_letters_are_exactly_the_bad_rows(graph_run):
    manifest, output = graph_run
    assert (output / "manifest.json").is_file()
    assert len(manifest["inputs"]) == len(FILES)  # the empty files are inputs too
    dead = pq.read_table(output / "dead_letters.parquet").to_pylist()
    _assert_dead_letters_match(dead)
    cut = [d for d in dead if (Path(d["source_file"]).name, d["line"]) == ("big_rows.jsonl.gz", 4)]
    assert len(cut[0]["raw"]) < RAW_LIMIT + 40 and cut[0]["raw"].endswith(" more characters]")


def test_build_graph_counts_reconcile_exactly(graph_run):
    counts = graph_run[0]["counts"]
    dropped = {reason: 0 for reason in counts["dropped"]} | EXPECTED["dropped"]
    assert counts["read"] == GOOD + BAD
    assert counts["bad"] == BAD
    assert counts["dropped"] == dropped
    assert counts["kept"] == GOOD - sum(dropped.values())
    assert counts["read"] == counts["bad"] + sum(counts["dropped"].values()) + counts["kept"]


def test_build_shards_reads_the_same_rows_and_accounts_for_every_post(graph_run, shards_run):
    graph_counts = graph_run[0]["counts"]
    manifest, output = shards_run
    counts = manifest["counts"]
    assert (counts["read"], counts["bad"]) == (GOOD + BAD, BAD)
    for reason, n in graph_counts["dropped"].items():
        assert counts["dropped"][reason] == n
    after_dedup = counts["kept"] + sum(
        counts["dropped"][r] for r in ("no_label", "rare_classes_only", "resampled_out")
    )
    assert after_dedup == graph_counts["kept"]
    assert counts["read"] == counts["bad"] + sum(counts["dropped"].values()) + counts["kept"]
    post_ids = []
    for shard in manifest["shards"]:
        post_ids += pq.read_table(output / shard["path"]).column("post_id").to_pylist()
    assert len(post_ids) == len(set(post_ids)) == counts["kept"] == counts["rows"]
    assert set(post_ids) <= {pid for f in FILES.values() for pid in f["good"]}
    _assert_dead_letters_match(pq.read_table(output / "dead_letters.parquet").to_pylist())
    digests = {o["path"]: o["sha256"] for o in (*graph_run[0]["outputs"], *manifest["outputs"])}
    shards_dead = next(o for o in manifest["outputs"] if o["path"] == "dead_letters.parquet")
    assert shards_dead["sha256"] == digests["dead_letters.parquet"]  # the same bytes


def test_the_1mb_captions_are_read_to_their_last_hashtag(shards_run):
    """A 1,000,000-character caption (JSONL) and a 1 MB CSV cell: kept, and the hashtag at the
    very end of each is found, so both posts are labelled."""
    manifest, output = shards_run
    sources = {}
    for shard in manifest["shards"]:
        table = pq.read_table(output / shard["path"], columns=["post_id", "source_hashtags"])
        sources |= dict(zip(*table.to_pydict().values(), strict=True))
    assert {"#sunset", "#beach"} <= set(sources[EXPECTED["big_caption_post"]])
    assert "#beach" in sources["cells-big"]


def test_the_100k_hashtag_post_is_kept_and_its_synset_pairs_are_capped(graph_run):
    """The post with 100,000 hashtags (10,000 distinct) puts every distinct tag in the
    vocabulary, but adds only ``max_labels_per_post`` synsets (and their pairs) to the counts."""
    _, output = graph_run
    big_tags = set(_generator().big_tags())
    assert len(big_tags) == EXPECTED["big_distinct_tags"]
    vocabulary = pq.read_table(output / "vocabulary.parquet").to_pylist()
    assert {r["raw_tag"]: r["n_posts"] for r in vocabulary if r["raw_tag"] in big_tags} == {
        tag: 1 for tag in big_tags
    }
    mapping = pq.read_table(output / "mapping.parquet", columns=["raw_tag", "synset_id"])
    synset_of = {t: s for t, s in zip(*mapping.to_pydict().values(), strict=True) if s}
    big = {synset_of[t] for t in big_tags if t in synset_of}
    others = {s for t, s in synset_of.items() if t not in big_tags}
    assert len(big) > DEFAULT_MAX_LABELS_PER_POST  # so the cap has work to do
    kept = set(cap_post_labels(EXPECTED["big_tags_post"], big))
    counts = pq.read_table(output / "synset_counts.parquet").to_pylist()
    only_big = {r["synset_id"]: r["n_posts"] for r in counts if r["synset_id"] not in others}
    assert only_big == {s: 1 for s in kept - others}
    pairs = pq.read_table(output / "cooccurrence.parquet").to_pylist()
    only_big_pairs = [p for p in pairs if {p["synset_a"], p["synset_b"]} & (kept - others)]
    n, shared = len(kept), len(kept & others)  # pairs of two shared synsets are not told apart
    assert len(only_big_pairs) == n * (n - 1) // 2 - shared * (shared - 1) // 2
    assert all(p["n_posts"] == 1 and {p["synset_a"], p["synset_b"]} <= kept for p in only_big_pairs)


def test_dead_letter_raw_keeps_the_offending_text(graph_run):
    dead = pq.read_table(graph_run[1] / "dead_letters.parquet")
    by_place = {
        (Path(s).name, line): raw
        for s, line, raw in zip(
            dead.column("source_file").to_pylist(),
            dead.column("line").to_pylist(),
            dead.column("raw").to_pylist(),
            strict=True,
        )
    }
    assert '"#dog #cat"' in by_place[("wrong_types.jsonl", 8)]
    assert "\\xff" in by_place[("invalid_utf8.jsonl", 2)]  # invalid bytes shown, not dropped
    assert by_place[("corrupt.parquet", 5)] == ""
