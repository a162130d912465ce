"""Grouping through files (pipelines.file_shuffle) on real Beam runners."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to

from pipelines.file_shuffle import (
    CoGroupByKeyViaFiles,
    GroupByKeyViaFiles,
    read_records,
    shuffle_for,
    spill_directory,
    write_records,
)

TWO_WORKERS = [
    "--runner=FnApiRunner",
    "--direct_num_workers=2",
    "--direct_running_mode=multi_processing",
]
ELEMENTS = [(i % 5, f"value {i}".encode() * (i % 3)) for i in range(200)]


def _grouped(pairs):
    out: dict[int, list[bytes]] = {}
    for key, value in pairs:
        out.setdefault(key, []).append(value)
    return sorted((key, sorted(values)) for key, values in out.items())


def test_records_round_trip_and_a_truncated_file_is_an_error(tmp_path):
    path = tmp_path / "spill"
    values = [b"", b"a", b"\x00" * 70_000, "ü".encode()]
    write_records(path, values[:2])
    write_records(path, values[2:])  # appended
    assert list(read_records(str(path))) == values
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(OSError, match="truncated"):
        list(read_records(str(path)))


@pytest.mark.parametrize("spilled", [True, False], ids=["files", "beam"])
def test_group_by_key_via_files_groups_like_group_by_key(spilled, tmp_path):
    with spill_directory(tmp_path, "files" if spilled else "beam") as directory:
        assert (directory is not None) == spilled
        with beam.Pipeline(options=PipelineOptions(TWO_WORKERS)) as pipeline:
            grouped = (
                pipeline
                | beam.Create(ELEMENTS, reshuffle=False)
                | GroupByKeyViaFiles(directory, "step one")
                | beam.MapTuple(lambda key, values: (key, sorted(values)))
            )
            assert_that(grouped, equal_to(_grouped(ELEMENTS)))
        if spilled:
            assert any((tmp_path / directory).rglob("*"))  # the values went through files
    assert list(tmp_path.iterdir()) == []  # the spill directory is gone afterwards


def test_co_group_by_key_via_files_keeps_each_input_apart(tmp_path):
    """Two spilled inputs and one inline input (any values) per key, empty lists included."""
    left = [(k, b"L%d" % i) for i, (k, _) in enumerate(ELEMENTS[:50])]
    right = [(k + 3, b"R%d" % i) for i, (k, _) in enumerate(ELEMENTS[:30])]
    plan = [(1, {"plan": 1}), (7, {"plan": 7})]
    expected = {}
    for name, pairs in (("left", left), ("right", right), ("plan", plan)):
        for key, value in pairs:
            expected.setdefault(key, {"left": [], "right": [], "plan": []})[name].append(value)
    expected = sorted(
        (k, sorted(v["left"]), sorted(v["right"]), v["plan"]) for k, v in expected.items()
    )
    with (
        spill_directory(tmp_path, "files") as directory,
        beam.Pipeline(options=PipelineOptions(TWO_WORKERS)) as pipeline,
    ):
        joined = (
            {
                "left": pipeline | "Left" >> beam.Create(left),
                "right": pipeline | "Right" >> beam.Create(right),
                "plan": pipeline | "Plan" >> beam.Create(plan),
            }
            | CoGroupByKeyViaFiles(directory, "join", inline=("plan",))
            | beam.MapTuple(
                lambda k, g: (k, sorted(g["left"]), sorted(g["right"]), list(g["plan"]))
            )
        )
        assert_that(joined, equal_to(expected))


def test_spill_directory_is_removed_when_the_run_fails(tmp_path):
    with pytest.raises(RuntimeError), spill_directory(tmp_path, "files") as directory:
        (tmp_path / directory / "part").write_bytes(b"x")
        raise RuntimeError("the pipeline failed")
    assert list(tmp_path.iterdir()) == []


def test_auto_spills_only_on_single_machine_runners():
    assert shuffle_for("auto", "FnApiRunner") == "files"
    assert shuffle_for("auto", "DirectRunner") == "files"
    assert shuffle_for("auto", "PortableRunner") == "beam"
    assert shuffle_for("auto", "FlinkRunner") == "beam"
    assert shuffle_for("beam", "FnApiRunner") == "beam"
    assert shuffle_for("files", "FlinkRunner") == "files"
