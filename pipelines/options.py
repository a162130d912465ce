"""Command-line options of the pipelines, and the runner settings they imply.

Beam's own options (``--runner``, ``--flink_master``, ``--flink_job_server_jar``,
``--environment_type``, ``--dask_client_address``, ...) pass through untouched; datagraph's are
parsed here. ``--runner DaskRunner`` is accepted as a short name for Beam's
``apache_beam.runners.dask.dask_runner.DaskRunner``, and FnApiRunner is the default. FlinkRunner
settings that cannot work (a job-server jar that is missing or not a jar, no ``java``) are refused
here, before anything is read (docs/flink.md).
"""

from __future__ import annotations

import argparse
import shutil
import zipfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from urllib.parse import urlparse

from datagraph.cooccurrence import DEFAULT_MAX_LABELS_PER_POST
from datagraph.dedup import DEFAULT_KEEP_PER_USER_TAGSET, DEFAULT_MAX_DISTANCE
from datagraph.errors import ConfigError

DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"
RUNNER_ALIASES = {"DaskRunner": DASK_RUNNER}
DEFAULT_RUNNER = "FnApiRunner"
DEFAULT_MIN_POSTS = 1
DEFAULT_MIN_USERS = 1
DEFAULT_PARTITIONS = 16  # the fewest partitions build_graph and build_shards pick by themselves
# build_graph without --partitions: one partition per this many bytes of uncompressed text input
# (about 62,500 posts of JSON lines, what 16 partitions held at 1M posts), at least 16 and at
# most MAX_AUTO_PARTITIONS (each 65,536-post read batch is cut into one part per partition, so
# far more would make parts of a few rows; docs/scaling.md). Parquet and compressed files hold
# about PACKED_INPUT_EXPANSION times more posts per byte.
PARTITION_INPUT_BYTES = 24 << 20
PACKED_INPUT_EXPANSION = 4
MAX_AUTO_PARTITIONS = 4096
_PACKED_SUFFIXES = (".parquet", ".gz", ".bz2", ".zst", ".xz")


def partitions_for_inputs(inputs: list[dict]) -> int:
    """build_graph's partition count for input files (``running.input_info``: path, size_bytes):
    one per ``PARTITION_INPUT_BYTES`` of text (compressed and Parquet bytes counted
    ``PACKED_INPUT_EXPANSION`` times), at least ``DEFAULT_PARTITIONS``, at most
    ``MAX_AUTO_PARTITIONS``. Up to that, a partition step holds about the same number of posts
    in a worker whatever the input's size."""
    size = sum(
        info["size_bytes"]
        * (PACKED_INPUT_EXPANSION if info["path"].lower().endswith(_PACKED_SUFFIXES) else 1)
        for info in inputs
    )
    return min(MAX_AUTO_PARTITIONS, max(DEFAULT_PARTITIONS, -(-size // PARTITION_INPUT_BYTES)))


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
    partitions: int | None = None  # None: from the input's size (``partitions_for_inputs``)
    aliases: tuple[str, ...] = field(default_factory=tuple)
    embedding_model: str | None = None  # rank senses with this sentence-transformers model too
    device: str = "auto"  # where the model runs: not recorded (like the runner)
    corpus_context: str | None = None  # a directory of tag counts (pipelines.count_tags)

    def check(self) -> None:
        """Raise ConfigError for values no run can use."""
        if not self.inputs:
            raise ConfigError("build_graph: give at least one --input")
        if self.corpus_context and not self.embedding_model:
            raise ConfigError("--corpus-context needs --embedding-model (default: 'default')")
        _check_shared(self)
        for name in ("min_posts", "min_users", "partitions"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be at least 1")
        if self.max_labels_per_post < 2:
            raise ConfigError("--max-labels-per-post must be at least 2")

    def manifest_config(self) -> dict:
        """The config as recorded in the manifest (the output path is where it is, not what)."""
        config = asdict(self)
        config.pop("output")
        config.pop("device")
        config["inputs"] = list(self.inputs)
        config["aliases"] = list(self.aliases)
        return config


def _check_shared(config: BuildGraphConfig | BuildShardsConfig) -> None:
    """The checks of the options both pipelines take: deduplication and the taxonomy file."""
    if not 0 <= config.near_duplicate_distance <= 31:
        raise ConfigError("--near-duplicate-distance must be 0..31")
    if config.keep_per_user_tagset < 1:
        raise ConfigError("--keep-per-user-tagset must be at least 1")
    if config.taxonomy in ("lvis", "imagenet1k", "synsets") and not config.taxonomy_path:
        raise ConfigError(
            f"--taxonomy {config.taxonomy} needs its file: --taxonomy-path (or, for LVIS, "
            "--lvis-categories lvis_v1_val.json)"
        )


def with_partitions(
    config: BuildGraphConfig | BuildShardsConfig, inputs: list[dict]
) -> BuildGraphConfig | BuildShardsConfig:
    """The config (build_graph's or build_shards') with its partition count set:
    ``--partitions``, else one from the size of the input files (``running.input_info``),
    which the manifest then records."""
    if config.partitions is not None:
        return config
    return replace(config, partitions=partitions_for_inputs(inputs))


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
    parser.add_argument(
        "--partitions",
        type=int,
        help=(
            "Key-hash partitions of every grouping step (memory per step ~ input / partitions); "
            f"default: one per {PARTITION_INPUT_BYTES >> 20} MiB of text input "
            f"(Parquet and compressed files: of {PARTITION_INPUT_BYTES >> 20} MiB / "
            f"{PACKED_INPUT_EXPANSION}), {DEFAULT_PARTITIONS} to {MAX_AUTO_PARTITIONS}."
        ),
    )
    parser.add_argument("--aliases", action="append", default=[], help="Alias file; repeat.")
    parser.add_argument(
        "--embedding-model",
        help="Rank tag senses with this sentence-transformers model too (name or path; "
        "'default' = all-MiniLM-L6-v2, offline). Default: vocabulary-only ranking, no model.",
    )
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument(
        "--corpus-context",
        metavar="DIR",
        help="Tag co-occurrence counts (python -m pipelines.count_tags, or a score_noise "
        "output): rank each tag's senses by its corpus neighbours too; implies "
        "--embedding-model default.",
    )
    parser.add_argument("--runner", default=DEFAULT_RUNNER)
    add_shuffle_argument(parser)
    parser.add_argument("--dry-run", action="store_true", help="Check inputs and options only.")
    parser.add_argument("--quiet", action="store_true", help="No progress line or summary.")
    return parser


def add_shuffle_argument(parser: argparse.ArgumentParser) -> None:
    """``--shuffle``: how grouping steps of posts move their rows (pipelines.file_shuffle)."""
    parser.add_argument(
        "--shuffle",
        choices=("auto", "beam", "files"),
        default="auto",
        help="How grouping steps move posts: files (spilled to a hidden directory in --output, "
        "then read back per partition: memory bounded on single-machine runners), beam (the "
        "runner's own shuffle), auto (default: files on FnApiRunner/DirectRunner, else beam). "
        "The outputs are the same bytes either way.",
    )


def parse_build_graph_args(argv: list[str]) -> tuple[BuildGraphConfig, argparse.Namespace, list]:
    """(config, datagraph's parsed args, the Beam arguments left over, runner included)."""
    args, beam_args = build_graph_parser().parse_known_args(argv)
    taxonomy, taxonomy_path = args.taxonomy, args.taxonomy_path
    if args.lvis_categories:
        taxonomy, taxonomy_path = "lvis", args.lvis_categories
    config = BuildGraphConfig(
        inputs=tuple(args.input),
        output=_absolute(args.output),
        taxonomy=taxonomy,
        taxonomy_path=_absolute(taxonomy_path),
        exclude_media=_absolute(args.exclude_media),
        near_duplicate_distance=args.near_duplicate_distance,
        keep_per_user_tagset=args.keep_per_user_tagset,
        min_posts=args.min_posts,
        min_users=args.min_users,
        max_labels_per_post=args.max_labels_per_post,
        partitions=args.partitions,
        aliases=tuple(_absolute(a) for a in args.aliases),
        embedding_model=model_path(
            args.embedding_model or ("default" if args.corpus_context else None)
        ),
        device=args.device,
        corpus_context=_absolute(args.corpus_context),
    )
    config.check()
    runner = RUNNER_ALIASES.get(args.runner, args.runner)
    beam_args = [f"--runner={runner}", *beam_args]
    check_flink_options(beam_args)
    return config, args, beam_args


def runner_name(beam_args: list[str]) -> str:
    """The runner's class name (``FlinkRunner``) from the ``--runner=`` argument that
    ``parse_build_graph_args`` always puts first."""
    runner = next(a.split("=", 1)[1] for a in beam_args if a.startswith("--runner="))
    return runner.rsplit(".", 1)[-1]


def model_path(model: str | None) -> str | None:
    """A model given as an existing local path, made absolute (workers may run elsewhere); a
    name, "default" or None as given."""
    if model is None or model == "default" or not Path(model).exists():
        return model
    return str(Path(model).resolve())


def _absolute(path: str | None) -> str | None:
    """A local path made absolute (URLs unchanged): workers outside the submitting process
    (Flink TaskManagers, an external worker pool) do not share its working directory."""
    if path is None or urlparse(path).scheme not in ("", "file"):
        return path
    return str(Path(path.removeprefix("file://")).resolve())


def flink_job_server_jar_name(flink_version: str) -> str:
    """The file name of Beam's Flink job-server jar, as Maven Central and Beam's jar cache name it:
    ``beam-runners-flink-2.2-job-server-2.77.0.jar`` for Flink 2.2 with apache-beam 2.77.0."""
    from apache_beam.version import __version__ as beam_version

    return f"beam-runners-flink-{flink_version}-job-server-{beam_version}.jar"


def check_flink_options(beam_args: list[str]) -> None:
    """Raise ConfigError for FlinkRunner settings that cannot work, before anything runs.

    Beam finds these late and loudly: a ``--flink_job_server_jar`` path that does not exist is a
    ValueError about jar URLs, a file that is not a jar (a truncated download, a saved error page)
    fails after three restarts of the job server, and without ``java`` the job server cannot
    start. A jar that Beam must download first is not checked here (that needs the network):
    ``pipelines.build_graph._flink_hint`` turns a failed download into one sentence.
    """
    if runner_name(beam_args) != "FlinkRunner":
        return
    from apache_beam.options.pipeline_options import (
        FlinkRunnerOptions,
        JobServerOptions,
        PipelineOptions,
    )
    from apache_beam.runners.portability.flink_runner import MAGIC_HOST_NAMES
    from apache_beam.utils.subprocess_server import JavaJarServer

    options = PipelineOptions(beam_args)
    flink = options.view_as(FlinkRunnerOptions)
    server = options.view_as(JobServerOptions)
    # Beam's FlinkRunner.default_job_server: an uber jar is sent to the cluster's REST API (no
    # local java; the jar's Flink version is the cluster's), else a local java job server runs.
    uber_jar = flink.flink_submit_uber_jar and flink.flink_master.strip() not in MAGIC_HOST_NAMES
    name = flink_job_server_jar_name(
        "<the cluster's Flink version>" if uber_jar else flink.flink_version
    )
    jar = flink.flink_job_server_jar
    if jar and not urlparse(jar).scheme and not Path(jar).is_file():
        raise ConfigError(
            f"--flink_job_server_jar {jar} does not exist: pass the path of the downloaded {name} "
            "(see docs/flink.md)"
        )
    local = Path(jar) if jar and Path(jar).is_file() else None
    if not jar and not uber_jar:
        cached = Path(server.jar_cache_dir or JavaJarServer.JAR_CACHE) / name
        local = cached if cached.is_file() else None
    if local is not None and not zipfile.is_zipfile(local):
        raise ConfigError(
            f"{local} is not a jar (zip) file, perhaps a truncated download or a saved error "
            f"page: download {name} again (see docs/flink.md)"
        )
    if not uber_jar and shutil.which(server.job_server_java_launcher) is None:
        raise ConfigError(
            f"FlinkRunner starts Beam's Flink job server with {server.job_server_java_launcher!r}, "
            "which is not installed: install Java 17 (apt-get install openjdk-17-jre-headless) "
            "or pass --job_server_java_launcher=/path/to/java (see docs/flink.md)"
        )


DEFAULT_NUM_SHARDS = 64
DEFAULT_SEED = 0


@dataclass(frozen=True)
class BuildShardsConfig:
    """What build_shards does; recorded in the manifest like ``BuildGraphConfig``.

    The deduplication fields mean what they mean in build_graph; left unset on the command
    line they take the graph's values, so the training set drops the posts the graph dropped.
    """

    inputs: tuple[str, ...]
    output: str
    graph: str
    taxonomy: str = "visual"
    taxonomy_path: str | None = None
    sampling: str = "natural"
    alpha: float | None = None
    cap: float | None = None
    tail_fraction: float | None = None
    num_shards: int = DEFAULT_NUM_SHARDS
    val_fraction: float = 0.0
    val_shards: int = 1
    seed: int = DEFAULT_SEED
    min_class_count: int = 0
    row_group_size: int = 4096
    webdataset: bool = False  # also write each shard as a WebDataset tar (docs/shards.md)
    noise: str | None = None  # a score_noise output: each label gets its noise score
    noise_policy: str | None = None  # none | weight | drop:T; "none" when noise is given alone
    exclude_media: str | None = None
    near_duplicate_distance: int = DEFAULT_MAX_DISTANCE
    keep_per_user_tagset: int = DEFAULT_KEEP_PER_USER_TAGSET
    partitions: int | None = None  # None: from the input's size (``partitions_for_inputs``)

    def check(self) -> None:
        """Raise ConfigError for values no run can use."""
        if not self.inputs:
            raise ConfigError("build_shards: give at least one --input")
        self.sampling_strategy().check()
        if not 1 <= self.num_shards <= 99_999 or not 1 <= self.val_shards <= 99_999:
            raise ConfigError("--num-shards and --val-shards must be 1..99999")
        if not 0 <= self.val_fraction < 1:
            raise ConfigError("--val-fraction must be in [0, 1)")
        if not 0 <= self.seed < 2**63:
            raise ConfigError("--seed must be a non-negative integer below 2**63")
        too_few_partitions = self.partitions is not None and self.partitions < 1
        if self.min_class_count < 0 or self.row_group_size < 1 or too_few_partitions:
            raise ConfigError(
                "--min-class-count must be >= 0, --row-group-size and --partitions >= 1"
            )
        _check_shared(self)
        if self.noise_policy is not None and self.noise is None:
            raise ConfigError(
                f"--noise-policy {self.noise_policy} needs --noise, the score_noise output "
                "whose scores it applies"
            )
        self.noise_policy_rule()

    def noise_policy_rule(self):
        """The ``datagraph.labels.NoisePolicy`` of this run (``none`` without a noise pass:
        nothing is scored then, so nothing changes)."""
        from datagraph.labels import NoisePolicy

        return NoisePolicy.parse(self.noise_policy or "none")

    def sampling_strategy(self):
        """The ``datagraph.sampling.Sampling`` these options describe."""
        from datagraph.sampling import Sampling

        return Sampling(self.sampling, self.alpha, self.cap, self.tail_fraction)

    @property
    def with_validation(self) -> bool:
        return self.val_fraction > 0

    def manifest_config(self) -> dict:
        """The config as recorded in the manifest (without the output path)."""
        config = asdict(self)
        config.pop("output")
        config["inputs"] = list(self.inputs)
        return config


def build_shards_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.build_shards",
        description=(
            "Label posts by lookup in a build_graph output, keep those with classes of a "
            "taxonomy, resample the long tail, and write deterministic Parquet shards with a "
            "manifest. Beam options (--runner, --flink_master, ...) pass through."
        ),
    )
    parser.add_argument("--input", action="append", required=True, help="File or glob; repeat.")
    parser.add_argument("--graph", required=True, help="A build_graph output directory.")
    parser.add_argument("--output", required=True, help="Output directory (local path).")
    parser.add_argument(
        "--taxonomy", help="wordnet|visual|lvis|imagenet1k|synsets (default: the graph's)"
    )
    parser.add_argument("--taxonomy-path", help="The taxonomy's file (lvis, imagenet1k, synsets).")
    parser.add_argument("--lvis-categories", help="LVIS annotation JSON; implies --taxonomy lvis.")
    parser.add_argument(
        "--sampling",
        default="natural",
        help="natural | sqrt | uniform | temperature (--alpha) | balanced (--cap or "
        "--tail-fraction); docs/shards.md",
    )
    parser.add_argument("--alpha", type=float, help="temperature: class share ~ count ** alpha")
    parser.add_argument("--cap", type=float, help="balanced: t, posts per class kept at most")
    parser.add_argument(
        "--tail-fraction", type=float, help="balanced: t = this quantile of class counts"
    )
    parser.add_argument("--num-shards", type=int, default=DEFAULT_NUM_SHARDS)
    parser.add_argument(
        "--val-fraction", type=float, default=0.0, help="Users held out for validation."
    )
    parser.add_argument("--val-shards", type=int, default=1)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--min-class-count", type=int, default=0, help="Drop classes with fewer train posts."
    )
    parser.add_argument("--row-group-size", type=int, default=4096)
    parser.add_argument(
        "--webdataset",
        action="store_true",
        help="Also write each shard as a WebDataset tar (part-*.tar: <key>.json labels, "
        "<key>.url media_uri) beside its Parquet file.",
    )
    parser.add_argument(
        "--noise",
        help="A score_noise output directory: every label gets its noise score "
        "(noise_scores column), and --noise-policy says what else the scores do.",
    )
    parser.add_argument(
        "--noise-policy",
        help="With --noise: none (default: scores recorded only) | drop:T (labels scoring >= T "
        "removed before sampling, 0 < T <= 1; drop alone is drop:0.5, the label more likely "
        "wrong than right) | weight (label weight (1/k) * (1 - score)).",
    )
    parser.add_argument("--exclude-media", help="Evaluation-set media (default: the graph's).")
    parser.add_argument("--near-duplicate-distance", type=int)
    parser.add_argument("--keep-per-user-tagset", type=int)
    parser.add_argument(
        "--partitions",
        type=int,
        help="Key-hash partitions of every grouping step, as build_graph's (default: from the "
        f"input's size, one per {PARTITION_INPUT_BYTES // 2**20} MiB of text, "
        f"{DEFAULT_PARTITIONS} to {MAX_AUTO_PARTITIONS}).",
    )
    parser.add_argument("--runner", default=DEFAULT_RUNNER)
    add_shuffle_argument(parser)
    parser.add_argument("--dry-run", action="store_true", help="Check inputs and options only.")
    parser.add_argument("--quiet", action="store_true", help="No progress line or summary.")
    return parser


def parse_build_shards_args(
    argv: list[str], graph_config: dict | None = None
) -> tuple[BuildShardsConfig, argparse.Namespace, list]:
    """(config, parsed args, Beam arguments). ``graph_config`` (the graph manifest's config)
    supplies the taxonomy and deduplication options the command line leaves unset."""
    args, beam_args = build_shards_parser().parse_known_args(argv)
    given = graph_config or {}
    taxonomy, taxonomy_path = args.taxonomy, args.taxonomy_path
    if args.lvis_categories:
        taxonomy, taxonomy_path = "lvis", args.lvis_categories
    if taxonomy is None:
        taxonomy = given.get("taxonomy", "visual")
        taxonomy_path = taxonomy_path or given.get("taxonomy_path")

    def chosen(value, key, default):
        return value if value is not None else given.get(key, default)

    config = BuildShardsConfig(
        inputs=tuple(args.input),
        output=_absolute(args.output),
        graph=_absolute(args.graph),
        taxonomy=taxonomy,
        taxonomy_path=_absolute(taxonomy_path),
        sampling=args.sampling,
        alpha=args.alpha,
        cap=args.cap,
        tail_fraction=args.tail_fraction,
        num_shards=args.num_shards,
        val_fraction=args.val_fraction,
        val_shards=args.val_shards,
        seed=args.seed,
        min_class_count=args.min_class_count,
        row_group_size=args.row_group_size,
        webdataset=args.webdataset,
        noise=_absolute(args.noise),
        noise_policy=_noise_policy(args.noise_policy, args.noise),
        exclude_media=_absolute(chosen(args.exclude_media, "exclude_media", None)),
        near_duplicate_distance=chosen(
            args.near_duplicate_distance, "near_duplicate_distance", DEFAULT_MAX_DISTANCE
        ),
        keep_per_user_tagset=chosen(
            args.keep_per_user_tagset, "keep_per_user_tagset", DEFAULT_KEEP_PER_USER_TAGSET
        ),
        partitions=args.partitions,
    )
    config.check()
    runner = RUNNER_ALIASES.get(args.runner, args.runner)
    beam_args = [f"--runner={runner}", *beam_args]
    check_flink_options(beam_args)
    return config, args, beam_args


def _noise_policy(given: str | None, noise: str | None) -> str | None:
    """The policy as recorded (``drop:0.80`` -> ``drop:0.8``): ``none`` for ``--noise`` alone
    (scores recorded, nothing dropped or re-weighted: what a bare ``--noise`` promises), None
    without either; ``--noise-policy`` without ``--noise`` is left for ``check`` to refuse."""
    if given is None:
        return "none" if noise is not None else None
    from datagraph.labels import NoisePolicy

    return str(NoisePolicy.parse(given))
