"""How fast build_graph / build_shards run on each engine, their memory, and whether they agree.

Usage: python benchmarks/pipeline.py [--pipeline build_graph|build_shards]
                                     [--sizes 100000,1000000] [--engines polars,fnapi1,fnapi2,dask2]
                                     [--workdir DIR] [--repeat 1] [--seed 0] [--timeout SECONDS]
                                     [--files 8] [--partitions N] [--shuffle auto|beam|files]
                                     [--json FILE]

``--pipeline build_shards`` times build_shards (LVIS sample classes, ``--sampling sqrt``,
``--num-shards 64``) on a graph that build_graph makes once per sample (cached in the sample's
directory as ``graph/``, not timed); its polars reference is ``benchmarks/shards_reference.py``.

Input: ``datagraph.synthetic.write_sample(dir, posts, seed)`` (what sample_data/generate.py
runs) for each size: posts.jsonl with the planted duplicates, re-uploads, near duplicates, spam
and malformed lines, and its lvis_sample_categories.json, which is the taxonomy of every run.
The files are cached in ``--workdir/posts-<N>-seed<S>/`` (default: ``datagraph-bench-pipeline``
in the system temp directory), so a rerun skips generation; outputs go to ``--workdir/out/``.
Every engine reads posts.jsonl cut into ``--files`` files of consecutive lines (default 8, as
crawls come sharded; readers take one file at a time, so one file is read by one worker).

Engines, each run in a fresh subprocess (``--child``):

- ``polars``: ``benchmarks/pipeline_reference.py``, the same rules engine-free, one process;
- ``fnapi1``: ``python -m pipelines.build_graph`` on FnApiRunner, in-process (one worker);
- ``fnapi2``: FnApiRunner with ``--direct_num_workers 2 --direct_running_mode multi_processing``
  (two SDK worker subprocesses);
- ``dask2``: DaskRunner on a ``distributed.LocalCluster`` of 2 worker processes, 1 thread each,
  on 127.0.0.1, started in the child before the clock starts (its start-up time is printed
  separately).

**seconds** is the wall time of the run inside the child: from the call of ``build_graph.run``
(or the reference) to its return, outputs and manifest written; interpreter start, imports and
the Dask cluster's start are not in it. With ``--repeat`` above 1 it is the median.

**peak RSS MiB** is the sum, over every process of the run, of that process's own high-water
mark of resident memory (VmHWM in /proc/PID/status): the child reports its own at the end, and
the parent polls the child's process tree (psutil) every 0.1 s for the others (Beam SDK
workers; Dask worker processes, whose nannies run in the child; multiprocessing's resource
tracker; the last reading before a process exits counts). The sum of per-process peaks is an
upper bound on memory in use at any one moment (the processes need not peak together); the
largest simultaneous sum of current RSS seen by the poller is printed beside it as "RSS at
once", "processes" is how many the poller saw, and the notes under the table give each one's
peak.

**busy elsewhere**: cores that processes outside the run kept busy on average while it ran
(busy time from /proc/stat, less the run's CPU time and the poller's), the largest of the
repeats; much above 0 on a small machine means the seconds are not the engine's alone.

**counts = polars**: the manifest's counts (read, bad, each dropped reason, kept,
labelled_posts, vocabulary) equal the reference's; **outputs = polars**: every output table and
graph file has the same sha256 as the reference's. ``--json FILE`` keeps every measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

ENGINES = ("polars", "fnapi1", "fnapi2", "dask2")
BEAM_OPTIONS = {
    "fnapi1": ["--runner", "FnApiRunner"],
    "fnapi2": [
        "--runner",
        "FnApiRunner",
        "--direct_num_workers",
        "2",
        "--direct_running_mode",
        "multi_processing",
    ],
}
POLL_SECONDS = 0.1
ROLES = (  # command-line marker -> role of a process in a run's tree
    ("sdk_worker_main", "Beam SDK worker"),
    ("resource_tracker", "multiprocessing resource tracker"),
    ("spawn_main", "Dask worker"),
)


# --- input -----------------------------------------------------------------------------------
def sample_dir(workdir: Path, posts: int, seed: int) -> Path:
    """The generated sample for (posts, seed), generated on first use, cached after.

    It is written into a temporary directory beside its place and renamed, so an interrupted
    generation is never mistaken for a finished one.
    """
    target = workdir / f"posts-{posts}-seed{seed}"
    if (target / "posts.jsonl").is_file():
        return target
    from datagraph.synthetic import write_sample

    workdir.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=workdir))
    started = time.perf_counter()
    write_sample(temp, posts, seed)
    temp.chmod(0o755)  # mkdtemp makes it private
    temp.rename(target)
    print(
        f"generated {posts:,} posts (seed {seed}) in {time.perf_counter() - started:.0f} s: "
        f"{target}",
        file=sys.stderr,
    )
    return target


# --- one run, in the child -------------------------------------------------------------------
def own_peak_mib() -> float:
    """This process's peak resident memory (VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status (this benchmark needs Linux)")


def split_input(data: Path, files: int) -> Path:
    """posts.jsonl cut into ``files`` files of consecutive lines (``parts-<files>/``, cached):
    real crawls come sharded, and a reader reads one file at a time."""
    target = data / f"parts-{files}"
    if files == 1 or target.is_dir():
        return target
    lines = (data / "posts.jsonl").read_bytes().splitlines(keepends=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=data))
    per_file = -(-len(lines) // files)
    for index in range(files):
        chunk = lines[index * per_file : (index + 1) * per_file]
        (temp / f"posts-{index:05d}-of-{files:05d}.jsonl").write_bytes(b"".join(chunk))
    temp.chmod(0o755)
    temp.rename(target)
    return target


def pipeline_args(
    pipeline: str,
    data: Path,
    output: Path,
    files: int = 1,
    partitions: int | None = None,
    shuffle: str | None = None,
) -> list[str]:
    """The command-line arguments of one run of ``pipeline`` on a sample."""
    if pipeline == "build_shards":
        posts = data / "posts.jsonl" if files == 1 else data / f"parts-{files}" / "*.jsonl"
        return [
            "--input", str(posts),
            "--graph", str(data / "graph"),
            "--output", str(output),
            "--lvis-categories", str(data / "lvis_sample_categories.json"),
            "--sampling", "sqrt",
            "--num-shards", "64",
            "--quiet",
            *([] if partitions is None else ["--partitions", str(partitions)]),
            *([] if shuffle is None else ["--shuffle", shuffle]),
        ]  # fmt: skip
    return build_graph_args(data, output, files, partitions, shuffle)


def ensure_graph(data: Path, files: int) -> None:
    """The sample's build_graph output in ``data/graph`` (FnApiRunner, 2 workers), made once."""
    if (data / "graph" / "manifest.json").is_file():
        return
    args = build_graph_args(data, data / "graph", files)
    subprocess.run(
        [sys.executable, "-m", "pipelines.build_graph", *args, *BEAM_OPTIONS["fnapi2"]],
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )


def build_graph_args(
    data: Path,
    output: Path,
    files: int = 1,
    partitions: int | None = None,
    shuffle: str | None = None,
) -> list[str]:
    posts = data / "posts.jsonl" if files == 1 else data / f"parts-{files}" / "*.jsonl"
    return [
        "--input",
        str(posts),
        "--output",
        str(output),
        "--lvis-categories",
        str(data / "lvis_sample_categories.json"),
        "--quiet",
        *([] if partitions is None else ["--partitions", str(partitions)]),
        *([] if shuffle is None else ["--shuffle", shuffle]),
    ]


def run_child(
    engine: str,
    data: Path,
    output: Path,
    files: int,
    partitions: int | None,
    pipeline: str = "build_graph",
    shuffle: str | None = None,
) -> dict:
    """Run one engine on one sample; returns seconds, counts, outputs and own peak RSS."""
    args = pipeline_args(pipeline, data, output, files, partitions, shuffle)
    startup, stages = 0.0, {}
    if engine == "polars":
        if pipeline == "build_shards":
            import shards_reference as reference
        else:
            import pipeline_reference as reference

        started = time.perf_counter()
        result = reference.main(args, say=lambda _: None)
        seconds = time.perf_counter() - started
        counts, outputs, stages = result["counts"], result["outputs"], result["seconds"]
    elif engine == "dask2":
        started = time.perf_counter()
        with local_dask_cluster() as address:
            startup = time.perf_counter() - started
            manifest, seconds = run_pipeline(
                pipeline, [*args, "--runner", "DaskRunner", f"--dask_client_address={address}"]
            )
        counts, outputs = manifest["counts"], manifest["outputs"]
    else:
        manifest, seconds = run_pipeline(pipeline, [*args, *BEAM_OPTIONS[engine]])
        counts, outputs = manifest["counts"], manifest["outputs"]
    return {
        "seconds": seconds,
        "startup_seconds": startup,
        "counts": counts,
        "outputs": {o["path"]: o["sha256"] for o in outputs},
        "stages": stages,
        "own_peak_mib": own_peak_mib(),
    }


def run_pipeline(pipeline: str, argv: list[str]) -> tuple[dict, float]:
    """(manifest, seconds) of one ``pipelines.<pipeline>.run``."""
    import importlib

    run = importlib.import_module(f"pipelines.{pipeline}").run
    started = time.perf_counter()
    manifest = run(argv)
    return manifest, time.perf_counter() - started


@contextmanager
def local_dask_cluster() -> Iterator[str]:
    """A scheduler address: 2 worker processes of 1 thread on 127.0.0.1, closed after."""
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    client = Client(cluster)
    try:
        yield cluster.scheduler_address
    finally:
        client.close()
        cluster.close()


# --- one run, seen from the parent -----------------------------------------------------------
@dataclass
class TreeMemory:
    """A process tree, polled: each process's VmHWM and CPU seconds, the largest RSS sum."""

    root: int
    peaks: dict[int, float] = field(default_factory=dict)  # pid -> MiB
    cpu: dict[int, float] = field(default_factory=dict)  # pid -> user + system seconds
    roles: dict[int, str] = field(default_factory=dict)  # pid -> what it is
    at_once: float = 0.0

    def poll(self) -> None:
        import psutil

        try:
            processes = [psutil.Process(self.root)]
            processes += processes[0].children(recursive=True)
        except psutil.NoSuchProcess:
            return
        current = 0.0
        for process in processes:
            hwm, rss = _status_mib(process.pid)
            if hwm is None:
                continue
            self.peaks[process.pid] = max(self.peaks.get(process.pid, 0.0), hwm)
            current += rss
            if process.pid not in self.roles:
                self.roles[process.pid] = "run" if process.pid == self.root else _role(process)
            try:
                times = process.cpu_times()
                self.cpu[process.pid] = times.user + times.system
            except psutil.NoSuchProcess:
                pass
        self.at_once = max(self.at_once, current)


def _role(process) -> str:
    """A short name for a process of a run, from its command line."""
    import psutil

    try:
        command = " ".join(process.cmdline())
    except psutil.Error:  # gone, or not ours to read
        return "?"
    for marker, role in ROLES:
        if marker in command:
            return role
    return command[:60]


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _status_mib(pid: int) -> tuple[float | None, float]:
    """(VmHWM, VmRSS) of a process in MiB; (None, 0) once it is gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except (FileNotFoundError, ProcessLookupError):
        return None, 0.0
    values = {}
    for line in lines:
        if line.startswith(("VmHWM:", "VmRSS:")):
            values[line.split(":")[0]] = int(line.split()[1]) / 1024
    if "VmHWM" not in values:  # a zombie
        return None, 0.0
    return values["VmHWM"], values["VmRSS"]


@dataclass
class Measurement:
    engine: str
    posts: int
    seconds: float | None  # None: failed or killed
    peak_mib: float
    at_once_mib: float
    processes: int
    elsewhere: float  # cores kept busy by processes outside the run, on average
    peaks_by_role: dict[str, list[float]]  # MiB, one entry per process
    result: dict | None
    error: str | None = None


def measure(
    engine: str,
    posts: int,
    data: Path,
    output: Path,
    timeout: float | None,
    files: int = 1,
    partitions: int | None = None,
    pipeline: str = "build_graph",
    shuffle: str | None = None,
) -> Measurement:
    """Run one engine in a child process; poll its process tree until it exits."""
    shutil.rmtree(output, ignore_errors=True)
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        engine,
        "--data",
        str(data),
        "--output",
        str(output),
        "--files",
        str(files),
        "--pipeline",
        pipeline,
        *([] if partitions is None else ["--partitions", str(partitions)]),
        *([] if shuffle is None else ["--shuffle", shuffle]),
    ]
    child = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: a timeout ends the whole tree
    )
    memory = TreeMemory(child.pid)
    done = threading.Event()
    started, busy = time.perf_counter(), busy_cpu_seconds()
    own = resource.getrusage(resource.RUSAGE_SELF)
    waited = resource.getrusage(resource.RUSAGE_CHILDREN)

    def poll() -> None:
        while not done.wait(POLL_SECONDS):
            memory.poll()

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    killed = False
    try:
        stdout, stderr = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, 9)
        stdout, stderr = child.communicate()
        killed = True
    finally:
        done.set()
        poller.join()
    wall, busy = time.perf_counter() - started, busy_cpu_seconds() - busy
    harness = _cpu(resource.getrusage(resource.RUSAGE_SELF)) - _cpu(own)
    run_cpu = max(
        _cpu(resource.getrusage(resource.RUSAGE_CHILDREN)) - _cpu(waited),
        sum(memory.cpu.values()),
    )
    result, error = None, None
    if child.returncode == 0:
        result = json.loads(stdout.strip().splitlines()[-1])
        memory.peaks[child.pid] = result["own_peak_mib"]
    elif killed:
        error = f"killed after {timeout:.0f} s"
    else:
        error = (stderr.strip().splitlines() or [f"exit status {child.returncode}"])[-1]
    return Measurement(
        engine=engine,
        posts=posts,
        seconds=result["seconds"] if result else None,
        peak_mib=sum(memory.peaks.values()),
        at_once_mib=memory.at_once,
        processes=len(memory.peaks),
        elsewhere=max(0.0, busy - harness - run_cpu) / wall,
        peaks_by_role=_by_role(memory),
        result=result,
        error=error,
    )


def _by_role(memory: TreeMemory) -> dict[str, list[float]]:
    roles: dict[str, list[float]] = {}
    for pid, peak in memory.peaks.items():
        roles.setdefault(memory.roles.get(pid, "?"), []).append(round(peak, 1))
    return roles


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


# --- report ----------------------------------------------------------------------------------
def agreement(runs: list[Measurement], reference: Measurement | None, key: str) -> str:
    if reference is None or reference.result is None:
        return "n/a"
    if any(run.result is None for run in runs):
        return "–"
    if runs[0].engine == "polars":
        return "(reference)"
    same = all(run.result[key] == reference.result[key] for run in runs)
    return "yes" if same else "**no**"


def table(rows: list[list[Measurement]], references: dict[int, Measurement]) -> str:
    lines = [
        "| posts | engine | seconds | posts/s | peak RSS MiB | RSS at once MiB | processes "
        "| busy elsewhere | counts = polars | outputs = polars |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for runs in rows:
        first = runs[0]
        reference = references.get(first.posts)
        times = [run.seconds for run in runs if run.seconds is not None]
        if len(times) < len(runs):
            error = next(run.error for run in runs if run.seconds is None).replace("|", "/")
            lines.append(f"| {first.posts:,} | {first.engine} | failed: {error} | | | | | | | |")
            continue
        seconds = statistics.median(times)
        lines.append(
            f"| {first.posts:,} | {first.engine} | {seconds:.1f} | {first.posts / seconds:,.0f} "
            f"| {max(run.peak_mib for run in runs):,.0f} "
            f"| {max(run.at_once_mib for run in runs):,.0f} "
            f"| {max(run.processes for run in runs)} "
            f"| {max(run.elsewhere for run in runs):.2f} "
            f"| {agreement(runs, reference, 'counts')} "
            f"| {agreement(runs, reference, 'outputs')} |"
        )
    return "\n".join(lines)


def notes(rows: list[list[Measurement]]) -> list[str]:
    """The polars reference's seconds per stage, peaks per process, Dask's start-up."""
    out = []
    for runs in rows:
        run = runs[0]
        if run.result is None:
            continue
        if run.engine == "polars":
            stages = ", ".join(f"{name} {s:.1f}" for name, s in run.result["stages"].items())
            out.append(f"- polars, {run.posts:,} posts, seconds per stage: {stages}")
        if run.processes > 1:
            parts = "; ".join(
                f"{role} {' + '.join(f'{peak:,.0f}' for peak in peaks)}"
                for role, peaks in run.peaks_by_role.items()
            )
            out.append(f"- {run.engine}, {run.posts:,} posts, peak RSS MiB by process: {parts}")
        if run.engine == "dask2":
            out.append(
                f"- dask2, {run.posts:,} posts: LocalCluster start-up "
                f"{run.result['startup_seconds']:.1f} s (not in seconds)"
            )
    return out


def count_differences(rows: list[list[Measurement]], references: dict[int, Measurement]) -> list:
    out = []
    for runs in rows:
        reference = references.get(runs[0].posts)
        for run in runs:
            if run.result is None or reference is None or reference.result is None:
                continue
            counts, expected = run.result["counts"], reference.result["counts"]
            if counts != expected:
                out.append(
                    f"- {run.engine}, {run.posts:,} posts: counts {json.dumps(counts)} "
                    f"vs polars {json.dumps(expected)}"
                )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pipeline", choices=("build_graph", "build_shards"), default="build_graph"
    )
    parser.add_argument("--sizes", default="100000,1000000", help="posts per sample, commas")
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated subset")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "datagraph-bench-pipeline",
        help="where samples are cached and outputs written",
    )
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--files", type=int, default=8, help="input files the sample is cut into (1: one file)"
    )
    parser.add_argument("--partitions", type=int, help="build_graph --partitions (its default)")
    parser.add_argument(
        "--shuffle", choices=("auto", "beam", "files"), help="build_graph --shuffle (its default)"
    )
    parser.add_argument("--timeout", type=float, help="seconds before a run is killed")
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    parser.add_argument("--child", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = run_child(
            args.child,
            args.data,
            args.output,
            args.files,
            args.partitions,
            args.pipeline,
            args.shuffle,
        )
        print(json.dumps(result))
        return
    sizes = [int(size) for size in args.sizes.split(",")]
    engines = args.engines.split(",")
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown:
        parser.error(f"unknown engine(s) {', '.join(unknown)}; choose from {', '.join(ENGINES)}")
    engines.sort(key=ENGINES.index)  # the reference first, so every row can be compared with it
    rows: list[list[Measurement]] = []
    references: dict[int, Measurement] = {}
    for posts in sizes:
        data = sample_dir(args.workdir, posts, args.seed)
        split_input(data, args.files)
        if args.pipeline == "build_shards":
            ensure_graph(data, args.files)
        for engine in engines:
            runs = []
            for attempt in range(args.repeat):
                output = args.workdir / "out" / f"{args.pipeline}-{posts}-{engine}"
                run = measure(
                    engine,
                    posts,
                    data,
                    output,
                    args.timeout,
                    args.files,
                    args.partitions,
                    args.pipeline,
                    args.shuffle,
                )
                runs.append(run)
                shown = "failed" if run.seconds is None else f"{run.seconds:.1f} s"
                print(
                    f"{posts:,} posts, {engine} ({attempt + 1}/{args.repeat}): {shown}, "
                    f"peak {run.peak_mib:,.0f} MiB",
                    file=sys.stderr,
                )
            rows.append(runs)
            if engine == "polars":
                references[posts] = runs[0]
    print(
        f"{args.pipeline}; seed {args.seed}; {os.cpu_count()} CPUs; "
        f"seconds: median of {args.repeat}\n"
    )
    print(table(rows, references))
    extra = notes(rows) + count_differences(rows, references)
    if extra:
        print("\n" + "\n".join(extra))
    if args.json:
        measurements = [asdict(run) for runs in rows for run in runs]
        args.json.write_text(json.dumps(measurements, indent=1) + "\n")


if __name__ == "__main__":
    main()
