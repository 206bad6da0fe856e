"""`make bench`: the indexer's throughput against OpenSearch's own ingest ceiling, side by side.

In one run, on the local node and the feed simulator, with the same index settings for each:

- ceiling: the same documents, transformed and pre-encoded as NDJSON in memory, sent to ``_bulk``
  with the same concurrency by a minimal client (requests, one session per thread);
- backfill: ``jobo-indexer backfill`` end to end from the simulator (a subprocess);
- naive: the loop the provider's guide implies: fetch a page, then ``helpers.bulk`` it;
- sync with nothing changed (documents written must be 0), and resync with nothing changed;
- peak RSS of ``resync`` at a small and a large feed;
- for the ceiling, the backfill, the naive loop and the no-change resync, the CPU per job of each
  process: the indexer's from the kernel's rusage of its process, the node's and the simulator's
  from ``/proc/<pid>/stat`` before and after, and the CPU-bound maximum they imply (cores / total
  core-ms per job). The indexer's CPU includes its start-up (imports, ~0.5 s).

Set ``OPENSEARCH_URL`` to bench a node that is already running (a shared node: its CPU then also
counts other clients; the bench measures that load in an idle window before each round).
Each figure is repeated (default 3 times, interleaved) and the medians are reported. Results go
to ``bench/results.json`` and ``bench/results.md``.

    .venv/bin/python bench/run.py [--jobs 100000] [--small-jobs 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import requests
from opensearchpy import OpenSearch, helpers

from indexer.feed import FeedRequest, JoboClient
from indexer.store import schema
from indexer.store.connection import connect
from indexer.transform import to_document, version_of

REPO = Path(__file__).resolve().parent.parent
API_KEY = "bench-key"
CHUNK_DOCS = 500
CHUNK_BYTES = 5 * 1024 * 1024
CORES = os.cpu_count() or 1
GNU_TIME = ("/usr/bin/time", "-f", "BENCH_MAXRSS_KIB %M")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Simulator:
    jobs: int
    process: subprocess.Popen[bytes] = field(init=False)
    url: str = field(init=False)

    def __enter__(self) -> Simulator:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "indexer",
                "simulate",
                "--port",
                str(port),
                "--jobs",
                str(self.jobs),
                "--seed",
                "42",
                "--api-key",
                API_KEY,
                "--subscription",
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 300
        while True:
            try:
                requests.get(f"{self.url}/_sim/health", timeout=2)
                return self
            except requests.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise SystemExit("the simulator did not start") from None
                time.sleep(0.5)

    def __exit__(self, *_: object) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


@dataclass(frozen=True)
class CliRun:
    """One ``jobo-indexer`` subprocess: its JSON summary and its own resource usage."""

    summary: dict[str, Any]
    cpu_s: float  # user + system CPU of the process (all its threads), from wait4's rusage
    peak_rss_mb: float


def cli(*args: str, env: dict[str, str]) -> CliRun:
    """Run a CLI command; its CPU time comes from the kernel's rusage of the child, its peak RSS
    from GNU time.

    Not the rusage's ru_maxrss: the child is forked from this process, which holds the
    ceiling's payload (630 MB at 100k jobs), and Linux keeps the pre-exec high-water mark in
    ru_maxrss. GNU time is small when it forks the indexer, so its %M is the indexer's own.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            [*GNU_TIME, sys.executable, "-m", "indexer", *args, "--json", "--no-progress"],
            stdout=out,
            stderr=err,
            env=env,
        )
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode(errors="replace")
    if process.returncode != 0:
        raise SystemExit(f"jobo-indexer {' '.join(args)} failed:\n{stderr[-3000:]}")
    rss_kib = next(
        int(line.split()[1]) for line in stderr.splitlines() if line.startswith("BENCH_MAXRSS_KIB")
    )
    return CliRun(
        summary=json.loads(stdout.strip().splitlines()[-1]),
        cpu_s=usage.ru_utime + usage.ru_stime,  # the indexer's, plus GNU time's own (~1 ms)
        peak_rss_mb=rss_kib / 1024,
    )


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds a running process has used so far (all threads), from /proc."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime, stime


def listening_pid(port: int) -> int | None:
    """The pid of the process listening on 127.0.0.1:``port`` (the OpenSearch node), if visible."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:  # LISTEN
                    inodes.add(f"socket:[{cols[9]}]")
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in inodes:
                        return int(proc.name)
    return None


@dataclass
class CpuMeter:
    """CPU used by the node and the simulator between ``start`` and ``stop`` (from /proc)."""

    pids: dict[str, int | None]
    started: dict[str, float] = field(default_factory=dict)

    def read(self) -> dict[str, float]:
        found = {"bench": time.process_time()}
        for name, pid in self.pids.items():
            if pid is not None:
                with contextlib.suppress(OSError):
                    found[name] = process_cpu_s(pid)
        return found

    def start(self) -> None:
        self.started = self.read()

    def stop(self) -> dict[str, float]:
        now = self.read()
        return {name: now[name] - self.started[name] for name in now if name in self.started}


def idle_node_load(meter: CpuMeter, seconds: float = 3.0) -> float:
    """Cores the node uses while this bench sends nothing: other clients of a shared node."""
    meter.start()
    time.sleep(seconds)
    return meter.stop().get("opensearch", 0.0) / seconds


def per_job_ms(cpu: dict[str, float], jobs: int) -> dict[str, float]:
    """CPU seconds by process -> core-ms per job, with the total and the CPU-bound maximum."""
    shares = {name: seconds * 1000 / jobs for name, seconds in cpu.items()}
    total = sum(shares.values())
    shares["total"] = total
    shares["cpu_bound_max"] = CORES * 1000 / total if total else 0.0  # jobs/s
    return shares


def fresh_index(client: OpenSearch, base: str) -> str:
    drop(client, base)
    schema.ensure_initialised(client, base)
    return schema.live_physical_index(client, base)


def drop(client: OpenSearch, base: str) -> None:
    client.indices.delete(index=f"{base}*", ignore_unavailable=True, expand_wildcards="all")
    client.indices.delete_index_template(name=f"{base}-template", ignore=[404])


def prepare_ceiling_chunks(sim_url: str) -> tuple[list[bytes], int]:
    """Every document of the feed, transformed and encoded as the indexer would, in memory."""
    chunks: list[bytes] = []
    current: list[bytes] = []
    size = docs = 0
    indexed_at = datetime.now(UTC)
    with JoboClient(sim_url, API_KEY) as jobo:
        for page in jobo.iter_feed(FeedRequest(batch_size=1000)):
            for job in page.jobs:
                document = to_document(job, indexed_at=indexed_at)
                line = (
                    orjson.dumps(
                        {
                            "index": {
                                "_id": document["id"],
                                "version": version_of(job),
                                "version_type": "external",
                            }
                        }
                    )
                    + b"\n"
                    + orjson.dumps(document)
                    + b"\n"
                )
                if current and (len(current) >= CHUNK_DOCS or size + len(line) > CHUNK_BYTES):
                    chunks.append(b"".join(current))
                    current, size = [], 0
                current.append(line)
                size += len(line)
                docs += 1
    if current:
        chunks.append(b"".join(current))
    return chunks, docs


def run_ceiling(
    client: OpenSearch,
    url: str,
    base: str,
    chunks: list[bytes],
    docs: int,
    concurrency: int,
    meter: CpuMeter,
) -> tuple[float, dict[str, float]]:
    """docs/s of the minimal client, and the CPU each process used (the bench is the client)."""
    physical = fresh_index(client, base)
    local = threading.local()

    def send(chunk: bytes) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        answer = session.post(
            f"{url}/{base}-write/_bulk",
            data=chunk,
            timeout=300,
            headers={"content-type": "application/x-ndjson"},
        )
        answer.raise_for_status()
        if orjson.loads(answer.content)["errors"]:
            raise SystemExit("the ceiling's bulk had item errors")

    meter.start()
    started = time.perf_counter()
    schema.enter_bulk_load(client, physical)
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(send, chunks))
    schema.exit_bulk_load(client, physical)
    elapsed = time.perf_counter() - started
    cpu = meter.stop()
    cpu.pop("simulator", None)  # idle: the payload was fetched before
    assert client.count(index=base)["count"] == docs
    drop(client, base)
    return docs / elapsed, cpu


def run_naive(
    client: OpenSearch, sim_url: str, base: str, docs: int, meter: CpuMeter
) -> tuple[float, dict[str, float]]:
    physical = fresh_index(client, base)
    meter.start()
    started = time.perf_counter()
    schema.enter_bulk_load(client, physical)
    indexed_at = datetime.now(UTC)
    written = 0
    with JoboClient(sim_url, API_KEY) as jobo:
        for page in jobo.iter_feed(FeedRequest(batch_size=1000)):
            actions = []
            for job in page.jobs:
                document = to_document(job, indexed_at=indexed_at)
                actions.append(
                    {
                        "_index": f"{base}-write",
                        "_id": document["id"],
                        "_version": version_of(job),
                        "_version_type": "external",
                        "_source": document,
                    }
                )
            ok, _ = helpers.bulk(client, actions, chunk_size=CHUNK_DOCS)
            written += ok
    schema.exit_bulk_load(client, physical)
    elapsed = time.perf_counter() - started
    cpu = meter.stop()
    assert written == docs, (written, docs)
    drop(client, base)
    return docs / elapsed, cpu


def run_indexer(
    *args: str, env: dict[str, str], meter: CpuMeter
) -> tuple[CliRun, dict[str, float]]:
    """A CLI command with the CPU of every process: the indexer's own, the node's, the feed's."""
    meter.start()
    run = cli(*args, env=env)
    cpu = meter.stop()
    cpu.pop("bench")  # the bench only waits
    cpu["indexer"] = run.cpu_s
    return run, cpu


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = (
        int(
            next(
                line.split()[1]
                for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")
            )
        )
        / 1024
        / 1024
    )
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, Python {platform.python_version()}"


def start_node() -> str:
    """The node at $OPENSEARCH_URL when set (a shared node), else the local one, started."""
    if os.environ.get("OPENSEARCH_URL"):
        return os.environ["OPENSEARCH_URL"].rstrip("/")
    node = subprocess.run(
        [str(REPO / "scripts" / "opensearch-local"), "start"],
        check=True,
        capture_output=True,
        text=True,
    )
    return node.stdout.strip().splitlines()[-1]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--small-jobs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "bench")
    parser.add_argument(
        "--sweep",
        default="",
        help="bulk concurrencies at which to time the backfill once more, e.g. 1,2,4 "
        "(how the default was chosen)",
    )
    return parser.parse_args()


@dataclass
class Bench:
    """What every measurement needs: the node, the environment of the CLI, the meters."""

    args: argparse.Namespace
    client: OpenSearch
    url: str
    env: dict[str, str]
    node_pid: int | None
    runs: dict[str, list[Any]] = field(default_factory=dict)

    def note(self, name: str, value: Any) -> None:
        self.runs.setdefault(name, []).append(value)

    def meter(self, sim: Simulator | None) -> CpuMeter:
        return CpuMeter(
            {"opensearch": self.node_pid, "simulator": sim.process.pid if sim else None}
        )


def one_round(bench: Bench, sim: Simulator, chunks: list[bytes], docs: int) -> str:
    """Ceiling, backfill, naive loop, no-change sync and resync, side by side; one line back."""
    args, client, env, meter = bench.args, bench.client, bench.env, bench.meter(sim)
    bench.note("node_idle_cores", idle_node_load(meter))
    rate, cpu = run_ceiling(
        client, bench.url, "bench-ceiling", chunks, docs, args.concurrency, meter
    )
    bench.note("ceiling", rate)
    bench.note("ceiling_cpu", per_job_ms(cpu, docs))
    drop(client, "bench-backfill")
    backfill, cpu = run_indexer(
        "backfill", "--create-index", "--index", "bench-backfill",
        "--bulk-concurrency", str(args.concurrency), env=env, meter=meter,
    )  # fmt: skip
    assert backfill.summary["indexed"] == docs, backfill.summary
    bench.note("backfill", docs / backfill.summary["duration_s"])
    bench.note("backfill_cpu", per_job_ms(cpu, docs))
    rate, cpu = run_naive(client, sim.url, "bench-naive", docs, meter)
    bench.note("naive", rate)
    bench.note("naive_cpu", per_job_ms(cpu, docs))
    sync = cli("sync", "--index", "bench-backfill", env=env).summary
    bench.note("sync_s", sync["duration_s"])
    bench.note("sync_written", sync["written"])
    resync, cpu = run_indexer("resync", "--index", "bench-backfill", env=env, meter=meter)
    bench.note("resync_s", resync.summary["duration_s"])
    bench.note("resync_written", resync.summary["written"])
    bench.note("resync_cpu", per_job_ms(cpu, docs))
    bench.note("resync_rss_large_mb", resync.peak_rss_mb)
    r = bench.runs
    shares = r["backfill_cpu"][-1]
    return (
        f"ceiling {r['ceiling'][-1]:,.0f} docs/s, backfill {r['backfill'][-1]:,.0f} (indexer "
        f"{shares['indexer']:.3f} core-ms/job, all {shares['total']:.3f}), naive "
        f"{r['naive'][-1]:,.0f}; no-change sync {sync['duration_s']:.1f}s wrote "
        f"{sync['written']}; resync {resync.summary['duration_s']:.1f}s wrote "
        f"{resync.summary['written']} (indexer {r['resync_cpu'][-1]['indexer']:.3f} core-ms/job), "
        f"peak RSS {resync.peak_rss_mb:.0f} MiB; node busy with others "
        f"{r['node_idle_cores'][-1]:.2f} cores before"
    )


def sweep(bench: Bench, docs: int) -> dict[str, float]:
    rates: dict[str, float] = {}
    for level in [int(x) for x in bench.args.sweep.split(",") if x.strip()]:
        drop(bench.client, "bench-sweep")
        summary = cli(
            "backfill",
            "--create-index",
            "--index",
            "bench-sweep",
            "--bulk-concurrency",
            str(level),
            env=bench.env,
        ).summary
        rates[str(level)] = docs / summary["duration_s"]
        print(f"backfill at bulk concurrency {level}: {rates[str(level)]:,.0f} docs/s", flush=True)
    drop(bench.client, "bench-sweep")
    return rates


def small_feed_rss(bench: Bench) -> None:
    with Simulator(bench.args.small_jobs) as small:
        bench.env["JOBO_BASE_URL"] = small.url
        drop(bench.client, "bench-small")
        cli("backfill", "--create-index", "--index", "bench-small", env=bench.env)
        for _ in range(bench.args.repeat):
            bench.note(
                "resync_rss_small_mb",
                cli("resync", "--index", "bench-small", env=bench.env).peak_rss_mb,
            )
        drop(bench.client, "bench-small")


def median_shares(rounds: list[dict[str, float]]) -> dict[str, float]:
    """Per-key medians of the rounds' CPU shares (each key on its own)."""
    return {key: median([r[key] for r in rounds if key in r]) for key in rounds[0]}


def main() -> None:
    args = parse_args()
    bench_started = time.monotonic()
    url = start_node()
    work = REPO / ".cache" / "bench"
    env = {
        **os.environ,
        "OPENSEARCH_URL": url,
        "JOBO_API_KEY": API_KEY,
        "JOBO_INDEXER_WORK_DIR": str(work),
        "PYTHONPATH": str(REPO),
    }
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    bench = Bench(args, connect(url, timeout=300), url, env, listening_pid(port))
    results: dict[str, Any] = {
        "machine": machine(),
        "jobs": args.jobs,
        "concurrency": args.concurrency,
        "repeat": args.repeat,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    print(f"machine: {results['machine']}; node pid {bench.node_pid}", flush=True)
    with Simulator(args.jobs) as sim:
        env["JOBO_BASE_URL"] = sim.url
        print(f"simulator: {args.jobs} jobs at {sim.url}", flush=True)
        chunks, docs = prepare_ceiling_chunks(sim.url)
        results["ndjson_mb"] = round(sum(map(len, chunks)) / 1e6, 1)
        print(
            f"ceiling payload: {docs} documents, {results['ndjson_mb']} MB NDJSON "
            f"({time.monotonic() - bench_started:.0f} s in)",
            flush=True,
        )
        for rep in range(args.repeat):
            print(f"round {rep + 1}: {one_round(bench, sim, chunks, docs)}", flush=True)
        drop(bench.client, "bench-backfill")
        results["concurrency_sweep"] = sweep(bench, docs)
    small_feed_rss(bench)

    runs = bench.runs
    cpu_keys = [name for name in runs if name.endswith("_cpu")]
    medians = {name: median(values) for name, values in runs.items() if name not in cpu_keys}
    results["runs"] = runs
    results["medians"] = medians
    results["cpu_ms_per_job"] = {
        name[: -len("_cpu")]: median_shares(runs[name]) for name in cpu_keys
    }
    backfill_cpu = results["cpu_ms_per_job"]["backfill"]
    results["ratios"] = {
        "backfill_vs_ceiling": medians["backfill"] / medians["ceiling"],
        "backfill_vs_naive": medians["backfill"] / medians["naive"],
        "backfill_vs_cpu_bound_max": medians["backfill"] / backfill_cpu["cpu_bound_max"],
        "resync_rss_large_vs_small": medians["resync_rss_large_mb"]
        / medians["resync_rss_small_mb"],
    }
    results["bench_minutes"] = round((time.monotonic() - bench_started) / 60, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results, args.small_jobs)
    (args.out / "results.md").write_text(table)
    print("\n" + table)


def markdown(results: dict[str, Any], small_jobs: int) -> str:
    m, r = results["medians"], results["ratios"]
    jobs = results["jobs"]
    cpu = results["cpu_ms_per_job"]
    rows = [
        (
            "OpenSearch ceiling (pre-encoded NDJSON, minimal client)",
            f"{m['ceiling']:,.0f} docs/s",
            "1.00",
        ),
        (
            "`jobo-indexer backfill` from the simulator",
            f"{m['backfill']:,.0f} docs/s",
            f"{r['backfill_vs_ceiling']:.2f} of ceiling, {r['backfill_vs_cpu_bound_max']:.2f} "
            f"of its CPU-bound maximum ({cpu['backfill']['cpu_bound_max']:,.0f} docs/s)",
        ),
        (
            "naive loop (fetch a page, then `helpers.bulk`)",
            f"{m['naive']:,.0f} docs/s",
            f"backfill is {r['backfill_vs_naive']:.2f}x",
        ),
        (
            "`sync` with nothing changed",
            f"{m['sync_s']:.1f} s, {m['sync_written']:.0f} written",
            "",
        ),
        (
            "`resync` with nothing changed",
            f"{m['resync_s']:.1f} s, {m['resync_written']:.0f} written",
            f"{jobs / m['resync_s']:,.0f} jobs/s, {cpu['resync']['cpu_bound_max']:,.0f} "
            "CPU-bound maximum",
        ),
        (f"`resync` peak RSS at {small_jobs:,} jobs", f"{m['resync_rss_small_mb']:.0f} MiB", ""),
        (
            f"`resync` peak RSS at {jobs:,} jobs",
            f"{m['resync_rss_large_mb']:.0f} MiB",
            f"{r['resync_rss_large_vs_small']:.2f}x the small feed",
        ),
    ]
    lines = [
        f"Benchmark of {results['date']}: {jobs:,} simulated jobs ({results['ndjson_mb']} MB "
        f"NDJSON), bulk concurrency {results['concurrency']}, medians of {results['repeat']} "
        f"interleaved rounds, {results['bench_minutes']} min in all.",
        f"Machine: {results['machine']}; OpenSearch 2.19.1 local node (1 GB heap).",
        "",
        "| measure | median | ratio |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    lines += ["", *cpu_table(cpu, m)]
    if results.get("concurrency_sweep"):
        rates = ", ".join(
            f"{level}: {rate:,.0f} docs/s" for level, rate in results["concurrency_sweep"].items()
        )
        lines += ["", f"Backfill by `--bulk-concurrency` (one run each): {rates}."]
    return "\n".join(lines) + "\n"


def cpu_table(cpu: dict[str, dict[str, float]], m: dict[str, float]) -> list[str]:
    """CPU per job of each process (core-ms), and the rate the cores would allow at that cost."""

    def cell(shares: dict[str, float], name: str) -> str:
        return f"{shares[name]:.3f}" if name in shares else "-"

    names = {
        "ceiling": "ceiling (client = the bench)",
        "backfill": "`backfill`",
        "naive": "naive loop (client = the bench)",
        "resync": "`resync`, nothing changed",
    }
    lines = [
        f"CPU per job in core-ms (user + system; the indexer from its own rusage, the node and "
        f"the simulator from /proc; medians of the rounds). CPU-bound maximum = {CORES} cores / "
        f"total. The node is shared: it used {m['node_idle_cores']:.2f} cores for other clients "
        "in an idle window before each round (median), counted in its share.",
        "",
        "| run | indexer / client | OpenSearch | simulator | total | CPU-bound max |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for key, label in names.items():
        shares = cpu[key]
        client = shares.get("indexer", shares.get("bench", 0.0))
        lines.append(
            f"| {label} | {client:.3f} | {cell(shares, 'opensearch')} | "
            f"{cell(shares, 'simulator')} | {shares['total']:.3f} | "
            f"{shares['cpu_bound_max']:,.0f} jobs/s |"
        )
    return lines


if __name__ == "__main__":
    main()
