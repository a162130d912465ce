"""The noise output format: parts by a stable hash of the post, fixed bytes, checked reading."""

from __future__ import annotations

import hashlib
import json
import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xxhash

from datagraph.errors import DatagraphError, InputDataError
from datagraph.noise import NOISE_SCORE_SCHEMA
from datagraph.noise_files import (
    conform_noise_table,
    iter_noise_scores,
    noise_part_of,
    open_noise_output,
    read_noise_manifest,
    read_noise_scores,
    write_noise_output,
    write_noise_part,
)

_MASK = (1 << 64) - 1


def splitmix64(x: int) -> int:
    """splitmix64's finalizer in plain Python: an independent statement of the part formula."""
    z = (x + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def expected_part(post_id: str, num_parts: int) -> int:
    return splitmix64(xxhash.xxh64_intdigest(post_id.encode(), 0) ^ 6) % num_parts


def noise_table(rows: list[tuple]) -> pa.Table:
    """A NOISE_SCORE_SCHEMA table from (post_id, raw_tag, noise_score, unscored_reason) rows;
    the other columns are null except synset_id."""
    data = {name: [None] * len(rows) for name in NOISE_SCORE_SCHEMA.names}
    for i, (post_id, tag, score, reason) in enumerate(rows):
        data["post_id"][i] = post_id
        data["raw_tag"][i] = tag
        data["synset_id"][i] = f"{tag.strip('#')}.n.01"
        data["noise_score"][i] = score
        data["unscored_reason"][i] = reason
    return pa.Table.from_pydict(data, schema=NOISE_SCORE_SCHEMA)


ROWS = [  # scores k/64: exact in float32
    (f"post{i}", tag, None if i % 7 == 0 else (i * 37 % 64) / 64, None)
    for i in range(60)
    for tag in ("#dog", "#beach")
]
ROWS = [(p, t, s, "no_context" if s is None else None) for p, t, s, _ in ROWS]


def test_rows_go_to_the_part_of_their_post_sorted_and_read_back(tmp_path):
    manifest = write_noise_output(tmp_path / "noise", noise_table(ROWS), {"model": "x"}, 3)
    assert manifest["pipeline"] == "score_noise" and manifest["format_version"] == 1
    assert manifest["config"] == {"model": "x"}
    assert [p["path"] for p in manifest["parts"]] == [
        f"part-0000{i}-of-00003.parquet" for i in range(3)
    ]
    assert manifest["rows"] == len(ROWS) == sum(p["rows"] for p in manifest["parts"])
    assert manifest["counts"] == {"rows": 120, "scored": 102, "unscored": {"no_context": 18}}
    for i, entry in enumerate(manifest["parts"]):
        path = tmp_path / "noise" / entry["path"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        table = pq.read_table(path)
        assert table.schema.names == NOISE_SCORE_SCHEMA.names
        keys = list(zip(*table.select(["post_id", "raw_tag"]).to_pydict().values(), strict=True))
        assert keys == sorted(keys) and len(keys) == entry["rows"] > 0
        assert {expected_part(post_id, 3) for post_id, _ in keys} == {i}
    assert json.loads((tmp_path / "noise" / "manifest.json").read_text()) == manifest
    back = read_noise_scores(tmp_path / "noise").to_pylist()
    assert sorted(back, key=lambda r: (r["post_id"], r["raw_tag"])) == sorted(
        ({"post_id": p, "raw_tag": t, "noise_score": s} for p, t, s, _ in ROWS),
        key=lambda r: (r["post_id"], r["raw_tag"]),
    )
    assert noise_part_of(["post3", "post4"], 3).tolist() == [
        expected_part("post3", 3),
        expected_part("post4", 3),
    ]


def test_the_same_rows_in_any_order_give_the_same_bytes(tmp_path):
    rows = [*ROWS, ("post1", "#dog", 0.5, None)]  # a repeated (post, tag): ties broken by score
    shuffled = list(rows)
    random.Random(1).shuffle(shuffled)
    first = write_noise_output(tmp_path / "a", noise_table(rows), {}, 4)
    second = write_noise_output(tmp_path / "b", noise_table(shuffled), {}, 4)
    assert first["parts"] == second["parts"]
    assert (tmp_path / "a" / "manifest.json").read_bytes() == (
        tmp_path / "b" / "manifest.json"
    ).read_bytes()


def test_a_rewrite_with_fewer_parts_leaves_only_its_own_files(tmp_path):
    out = tmp_path / "noise"
    write_noise_output(out, noise_table(ROWS), {}, 5)
    (out / ".part-00001-of-00002.parquet.dead.tmp").write_bytes(b"")  # not ours to judge
    manifest = write_noise_output(out, noise_table(ROWS[:4]), {}, 2)
    parts = sorted(p.name for p in out.glob("part-*"))
    assert parts == ["part-00000-of-00002.parquet", "part-00001-of-00002.parquet"]
    assert sum(p["rows"] for p in manifest["parts"]) == 4  # an empty part is written too
    assert open_noise_output(out).rows == 4


def test_open_noise_output_checks_manifest_and_footers(tmp_path):
    out = tmp_path / "noise"
    write_noise_output(out, noise_table(ROWS), {}, 2)
    opened = open_noise_output(out)
    digest = hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest()
    assert (opened.rows, len(opened.parts), opened.manifest_sha256) == (120, 2, digest)
    manifest = read_noise_manifest(out)

    def with_manifest(change) -> None:
        edited = json.loads(json.dumps(manifest))
        change(edited)
        (out / "manifest.json").write_text(json.dumps(edited))

    with_manifest(lambda m: m["parts"][0].update(rows=1))
    with pytest.raises(DatagraphError, match=r"part-00000-of-00002.parquet: .* rows but"):
        open_noise_output(out)
    with_manifest(lambda m: m["parts"][1].update(path="../elsewhere.parquet"))
    with pytest.raises(DatagraphError, match="leaves the directory"):
        open_noise_output(out)
    with_manifest(lambda m: m.update(parts=[]))
    with pytest.raises(DatagraphError, match="lists no parts"):
        open_noise_output(out)
    with_manifest(lambda m: m.update(pipeline="build_graph"))
    with pytest.raises(DatagraphError, match="not a score_noise manifest"):
        open_noise_output(out)
    with_manifest(lambda m: None)
    table = pq.read_table(out / "part-00001-of-00002.parquet")
    wrong = table.set_column(4, "noise_score", table.column("noise_score").cast(pa.string()))
    pq.write_table(wrong, out / "part-00001-of-00002.parquet")
    with pytest.raises(DatagraphError, match="column noise_score is string"):
        open_noise_output(out)
    (out / "part-00001-of-00002.parquet").unlink()
    with pytest.raises(DatagraphError, match="incomplete, missing"):
        open_noise_output(out)
    (out / "manifest.json").unlink()
    with pytest.raises(DatagraphError, match=r"manifest\.json: missing"):
        open_noise_output(out)


def test_scores_outside_the_unit_interval_are_refused(tmp_path):
    for bad in (1.5, -0.1, float("nan")):
        with pytest.raises(InputDataError, match="not in \\[0, 1\\]"):
            conform_noise_table(noise_table([("p", "#dog", bad, None)]))
    with pytest.raises(DatagraphError, match="post_id is null"):
        conform_noise_table(noise_table([(None, "#dog", 0.5, None)]))
    with pytest.raises(DatagraphError, match="lack column"):
        conform_noise_table(noise_table(ROWS).drop_columns(["raw_tag"]))
    broken = tmp_path / "part.parquet"  # written by something else than write_noise_part
    pq.write_table(noise_table([("p", "#dog", 0.2, None), ("p", "#sea", 2.0, None)]), broken)
    with pytest.raises(InputDataError, match=f"{broken}: noise_score 2.0"):
        list(iter_noise_scores(broken))


def test_iter_noise_scores_gives_the_scored_join_rows_in_batches(tmp_path):
    write_noise_output(tmp_path, noise_table(ROWS), {}, 1)
    batches = list(iter_noise_scores(tmp_path / "part-00000-of-00001.parquet", batch_size=25))
    assert len(batches) > 1
    assert all(b.columns == ["post_id", "raw_tag", "noise_score"] for b in batches)
    rows = [row for batch in batches for row in batch.iter_rows()]
    scored = [(p, t, s) for p, t, s, _ in ROWS if s is not None]
    assert sorted(rows) == sorted(scored)


def test_a_part_refuses_rows_of_other_parts(tmp_path):
    post = next(f"p{i}" for i in range(100) if expected_part(f"p{i}", 2) == 1)
    with pytest.raises(DatagraphError, match="belong to other parts"):
        write_noise_part(tmp_path, 0, 2, noise_table([(post, "#dog", 0.1, None)]))
    entry = write_noise_part(tmp_path, 1, 2, noise_table([(post, "#dog", 0.1, None)]))
    assert entry["path"] == "part-00001-of-00002.parquet" and entry["rows"] == 1
