"""Command-line options of the pipelines, and the runner settings they imply.

Beam's own options (``--runner``, ``--flink_master``, ``--flink_job_server_jar``,
``--environment_type``, ``--dask_client_address``, ...) pass through untouched; datagraph's are
parsed here. ``--runner DaskRunner`` is accepted as a short name for Beam's
``apache_beam.runners.dask.dask_runner.DaskRunner``, and FnApiRunner is the default.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field

from datagraph.cooccurrence import DEFAULT_MAX_LABELS_PER_POST
from datagraph.dedup import DEFAULT_KEEP_PER_USER_TAGSET, DEFAULT_MAX_DISTANCE
from datagraph.errors import ConfigError

DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"
RUNNER_ALIASES = {"DaskRunner": DASK_RUNNER}
DEFAULT_RUNNER = "FnApiRunner"
DEFAULT_MIN_POSTS = 1
DEFAULT_MIN_USERS = 1
DEFAULT_MAP_BUCKETS = 16


@dataclass(frozen=True)
class BuildGraphConfig:
    """What build_graph does; every field is recorded in the manifest (runner settings are not:
    the same config gives the same bytes on every runner)."""

    inputs: tuple[str, ...]
    output: str
    taxonomy: str = "visual"
    taxonomy_path: str | None = None
    exclude_media: str | None = None
    near_duplicate_distance: int = DEFAULT_MAX_DISTANCE
    keep_per_user_tagset: int = DEFAULT_KEEP_PER_USER_TAGSET
    min_posts: int = DEFAULT_MIN_POSTS
    min_users: int = DEFAULT_MIN_USERS
    max_labels_per_post: int = DEFAULT_MAX_LABELS_PER_POST
    map_buckets: int = DEFAULT_MAP_BUCKETS
    aliases: tuple[str, ...] = field(default_factory=tuple)

    def check(self) -> None:
        """Raise ConfigError for values no run can use."""
        if not self.inputs:
            raise ConfigError("build_graph: give at least one --input")
        if not 0 <= self.near_duplicate_distance <= 31:
            raise ConfigError("--near-duplicate-distance must be 0..31")
        for name in ("keep_per_user_tagset", "min_posts", "min_users", "map_buckets"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")
        if self.max_labels_per_post < 2:
            raise ConfigError("--max-labels-per-post must be at least 2")
        if self.taxonomy in ("lvis", "imagenet1k", "synsets") and not self.taxonomy_path:
            raise ConfigError(
                f"--taxonomy {self.taxonomy} needs its file: --taxonomy-path (or, for LVIS, "
                "--lvis-categories lvis_v1_val.json)"
            )

    def manifest_config(self) -> dict:
        """The config as recorded in the manifest (the output path is where it is, not what)."""
        config = asdict(self)
        config.pop("output")
        config["inputs"] = list(self.inputs)
        config["aliases"] = list(self.aliases)
        return config


def build_graph_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.build_graph",
        description=(
            "Read posts, drop bad and duplicate ones with counted reasons, count and map the "
            "hashtag vocabulary, and write the mapping, counts, label graph and manifest. "
            "Beam options (--runner, --flink_master, --dask_client_address, ...) pass through."
        ),
    )
    parser.add_argument("--input", action="append", required=True, help="File or glob; repeat.")
    parser.add_argument("--output", required=True, help="Output directory (local path).")
    parser.add_argument(
        "--taxonomy", default="visual", help="wordnet|visual|lvis|imagenet1k|synsets"
    )
    parser.add_argument("--taxonomy-path", help="The taxonomy's file (lvis, imagenet1k, synsets).")
    parser.add_argument("--lvis-categories", help="LVIS annotation JSON; implies --taxonomy lvis.")
    parser.add_argument("--exclude-media", help="Evaluation-set media: sha256 or phash a line.")
    parser.add_argument("--near-duplicate-distance", type=int, default=DEFAULT_MAX_DISTANCE)
    parser.add_argument("--keep-per-user-tagset", type=int, default=DEFAULT_KEEP_PER_USER_TAGSET)
    parser.add_argument("--min-posts", type=int, default=DEFAULT_MIN_POSTS)
    parser.add_argument("--min-users", type=int, default=DEFAULT_MIN_USERS)
    parser.add_argument("--max-labels-per-post", type=int, default=DEFAULT_MAX_LABELS_PER_POST)
    parser.add_argument("--map-buckets", type=int, default=DEFAULT_MAP_BUCKETS)
    parser.add_argument("--aliases", action="append", default=[], help="Alias file; repeat.")
    parser.add_argument("--runner", default=DEFAULT_RUNNER)
    parser.add_argument("--dry-run", action="store_true", help="Check inputs and options only.")
    parser.add_argument("--quiet", action="store_true", help="No progress line or summary.")
    return parser


def parse_build_graph_args(argv: list[str]) -> tuple[BuildGraphConfig, argparse.Namespace, list]:
    """(config, datagraph's parsed args, the Beam arguments left over, runner included)."""
    args, beam_args = build_graph_parser().parse_known_args(argv)
    taxonomy, taxonomy_path = args.taxonomy, args.taxonomy_path
    if args.lvis_categories:
        taxonomy, taxonomy_path = "lvis", args.lvis_categories
    config = BuildGraphConfig(
        inputs=tuple(args.input),
        output=args.output,
        taxonomy=taxonomy,
        taxonomy_path=taxonomy_path,
        exclude_media=args.exclude_media,
        near_duplicate_distance=args.near_duplicate_distance,
        keep_per_user_tagset=args.keep_per_user_tagset,
        min_posts=args.min_posts,
        min_users=args.min_users,
        max_labels_per_post=args.max_labels_per_post,
        map_buckets=args.map_buckets,
        aliases=tuple(args.aliases),
    )
    config.check()
    runner = RUNNER_ALIASES.get(args.runner, args.runner)
    return config, args, [f"--runner={runner}", *beam_args]
