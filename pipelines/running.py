"""What every pipeline shares: counts on the data path, event streams, running, progress.

- ``stat``: a count that travels with the data (summed into the manifest) and is the same Beam
  metrics counter (namespace ``datagraph``); ``check_metrics`` compares the two after a run.
- ``split_events``: one (kind, value) stream per DoFn instead of tagged outputs, which Beam
  2.77's DaskRunner merges into the main output.
- ``run_beam``: run a pipeline, turning FlinkRunner's late failures into one sentence.
- ``LiveProgress``: a live line (rich) while a pipeline runs.
- ``release_memory``: return the C allocator's free memory to the system after a partition.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.options.pipeline_options import PipelineOptions

from datagraph.errors import DatagraphError
from datagraph.graph_files import remove_stale_temporaries

NAMESPACE = "datagraph"
LIVE: Counter[str] = Counter()  # this process's counts so far, for the progress line


def stat(name: str, n: int = 1) -> tuple[str, tuple[str, int]]:
    """A count on the data path (summed into the manifest) and the same Beam metrics counter."""
    Metrics.counter(NAMESPACE, name).inc(n)
    LIVE[name] += n
    return ("stats", (name, n))


_LIBC: Any = None  # glibc, once looked up; False where there is none


def release_memory() -> None:
    """Hand the memory that the C allocator keeps free back to the system (glibc's
    ``malloc_trim``); nothing elsewhere. Called after each partition of a grouping step: a
    worker frees hundreds of MB of mid-sized buffers (shuffled parts, arrays) per partition,
    which glibc keeps in its heaps, so without it a worker's resident memory climbs with the
    input (docs/benchmarks.md, 5M posts)."""
    global _LIBC
    if _LIBC is None:
        import ctypes

        try:  # glibc's name on Linux (ctypes.util.find_library would run ldconfig)
            libc = ctypes.CDLL("libc.so.6")
            _LIBC = libc if hasattr(libc, "malloc_trim") else False
        except OSError:
            _LIBC = False
    if _LIBC:
        _LIBC.malloc_trim(0)


def split_events(events: beam.PCollection, label: str, kinds: tuple[str, ...]) -> dict:
    """A DoFn's (kind, value) events as one PCollection per kind.

    Used instead of ``with_outputs``: Beam 2.77's DaskRunner sends tagged outputs into the main
    output, so each stage emits one stream of (kind, value) pairs and consumers filter it.
    """
    return {
        kind: events
        | f"{label}: {kind}" >> beam.FlatMap(lambda e, k=kind: [e[1]] if e[0] == k else [])
        for kind in kinds
    }


def input_info(files: list[str]) -> list[dict]:
    """Each input file's path and size, for the manifest."""
    import fsspec

    info = []
    for path in files:
        fs, _, (resolved,) = fsspec.get_fs_token_paths(path)
        info.append({"path": path, "size_bytes": int(fs.size(resolved))})
    return info


def run_beam(options: PipelineOptions, build: Callable[[beam.Pipeline], None], runner: str) -> Any:
    """Build a pipeline with ``build``, run it and wait; FlinkRunner failures that only show
    at run time become one DatagraphError sentence (``flink_hint``)."""
    try:
        pipeline = beam.Pipeline(options=options)
        build(pipeline)
        result = pipeline.run()
        result.wait_until_finish()
        return result
    except DatagraphError:
        raise
    except Exception as exc:
        message = flink_hint(exc, options, runner)
        if message:
            raise DatagraphError(message) from None
        raise


def flink_hint(exc: Exception, options: PipelineOptions, runner: str) -> str | None:
    """One sentence for the FlinkRunner failures that only show once the pipeline runs.

    Without --flink_job_server_jar, Beam 2.77 downloads its job-server jar from Maven Central (then
    a Google mirror) into ~/.apache_beam/cache/jars; offline that is a RuntimeError "Unable to
    fetch remote job server jar at URL: ...". With --flink_submit_uber_jar, an unreachable
    --flink_master is a requests ConnectionError. Settings that cannot work at all are refused
    before this, by ``pipelines.options.check_flink_options``.
    """
    if runner != "FlinkRunner":
        return None
    import requests

    marker = "Unable to fetch remote job server jar at "
    if marker in str(exc):
        url = str(exc).partition(marker)[2].split(": ", 1)[0]
        reason = getattr(exc.__context__, "reason", exc.__context__)
        if options.get_all_options().get("flink_job_server_jar"):
            return (
                f"FlinkRunner could not download --flink_job_server_jar {url} ({reason}): "
                "download it on a connected machine and pass its local path (see docs/flink.md)"
            )
        return (
            f"FlinkRunner needs Beam's Flink job-server jar and could not download it from {url} "
            f"({reason}): download it on a connected machine and pass "
            f"--flink_job_server_jar=/path/to/{url.rsplit('/', 1)[-1]} (see docs/flink.md)"
        )
    if isinstance(exc, requests.exceptions.ConnectionError) and exc.request is not None:
        endpoint = exc.request.url.rsplit("/v1/", 1)[0]
        return (
            f"FlinkRunner could not reach the Flink cluster's REST endpoint {endpoint}: start the "
            "cluster or fix --flink_master (see docs/flink.md)"
        )
    return None


def check_metrics(result: Any, manifest: dict) -> None:
    """Where the runner reports Beam metrics, they must agree with the manifest's counts."""
    try:
        counters = result.metrics().query()["counters"]
    except Exception:  # some runners (Dask) report none
        return
    seen: dict[str, int] = {}
    for counter in counters:
        if counter.key.metric.namespace == NAMESPACE:
            name = counter.key.metric.name
            seen[name] = seen.get(name, 0) + (counter.committed or counter.attempted or 0)
    if not seen:
        return
    counts = manifest["counts"]
    expected = {"rows_read": counts["read"], "dead_letters": counts["bad"]}
    expected |= {f"dropped.{k}": v for k, v in counts["dropped"].items() if v}
    for name, value in expected.items():
        if seen.get(name, 0) != value:
            raise DatagraphError(f"Beam metric {name}={seen.get(name, 0)} but manifest {value}")


def say(args, text: str) -> None:
    if not args.quiet:
        print(text, file=sys.stderr)


class LiveProgress:
    """A live line while the pipeline runs (rich, on stderr): rows read, kept, dropped, elapsed.

    The counts come from ``LIVE``, which ``stat`` updates in the process that runs the DoFns:
    live for in-process runners (FnApiRunner with one worker, DirectRunner, PortableRunner with
    LOOPBACK); with worker processes elsewhere (Dask, Flink, multi_processing) the line shows
    the runner and elapsed time only, and the final table has the counts.
    """

    def __init__(self, args, runner: str, pipeline: str):
        self.quiet = args.quiet
        self.runner = runner
        self.pipeline = pipeline
        self._progress = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _describe(self) -> str:
        live = dict(LIVE)
        if not live:
            return f"{self.pipeline} on {self.runner}"
        dropped = sum(n for name, n in live.items() if name.startswith("dropped."))
        return (
            f"{self.pipeline} on {self.runner}: read {live.get('rows_read', 0):,}, "
            f"bad {live.get('dead_letters', 0):,}, dropped {dropped:,}, "
            f"kept {live.get('kept_posts', 0):,}"
        )

    def _refresh(self, task) -> None:
        while not self._stop.wait(0.25):
            self._progress.update(task, description=self._describe())

    def __enter__(self):
        LIVE.clear()
        if not self.quiet:
            from rich.console import Console
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.start()
            task = self._progress.add_task(self._describe())
            self._thread = threading.Thread(target=self._refresh, args=(task,), daemon=True)
            self._thread.start()
        return lambda: None

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._progress is not None:
            self._progress.stop()
        return False


def prepare_output(out: Path, subdirectories: tuple[str, ...] = ()) -> None:
    """Make the output directory ready for a run: created, its manifest removed (the directory
    is incomplete until this run writes a new one, last), and temporary files of killed runs
    removed from it and from ``subdirectories``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "manifest.json").unlink(missing_ok=True)
    for directory in (out, *(out / name for name in subdirectories)):
        remove_stale_temporaries(directory)


def run_command(run: Callable[[list[str]], Any], argv: list[str] | None) -> None:
    """A pipeline's ``main``: ``run(argv)``; a user error prints one line and exits 2."""
    try:
        run(sys.argv[1:] if argv is None else argv)
    except DatagraphError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
