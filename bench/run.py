"""`make bench`: the indexer's throughput against OpenSearch's own ingest ceiling, side by side.

In one run, on the local node and the feed simulator, with the same index settings for each:

- ceiling: the same documents, transformed and pre-encoded as NDJSON in memory, sent to ``_bulk``
  with the same concurrency by a minimal client (requests, one session per thread);
- backfill: ``jobo-indexer backfill`` end to end from the simulator (a subprocess);
- naive: the loop the provider's guide implies: fetch a page, then ``helpers.bulk`` it;
- sync with nothing changed (documents written must be 0), and resync with nothing changed;
- peak RSS of ``resync`` at a small and a large feed.

Each figure is repeated (default 3 times, interleaved) and the medians are reported. Results go
to ``bench/results.json`` and ``bench/results.md``.

    .venv/bin/python bench/run.py [--jobs 100000] [--small-jobs 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
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

from indexer.jobo import FeedRequest, JoboClient
from indexer.store import schema
from indexer.store.connection import connect
from indexer.transform import to_document, version_of

REPO = Path(__file__).resolve().parent.parent
API_KEY = "bench-key"
CHUNK_DOCS = 500
CHUNK_BYTES = 5 * 1024 * 1024


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


def cli(*args: str, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "indexer", *args, "--json", "--no-progress"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"jobo-indexer {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def peak_rss_mb(*args: str, env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    """Run a CLI command under GNU time and return its peak RSS (MiB) and its JSON summary."""
    done = subprocess.run(
        [
            "/usr/bin/time",
            "-f",
            "MAXRSS %M",
            sys.executable,
            "-m",
            "indexer",
            *args,
            "--json",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"jobo-indexer {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    rss_kb = next(
        int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("MAXRSS")
    )
    return rss_kb / 1024, json.loads(done.stdout.strip().splitlines()[-1])


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
    client: OpenSearch, url: str, base: str, chunks: list[bytes], docs: int, concurrency: int
) -> float:
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

    started = time.perf_counter()
    schema.enter_bulk_load(client, physical)
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(send, chunks))
    schema.exit_bulk_load(client, physical)
    elapsed = time.perf_counter() - started
    assert client.count(index=base)["count"] == docs
    drop(client, base)
    return docs / elapsed


def run_naive(client: OpenSearch, sim_url: str, base: str, docs: int) -> float:
    physical = fresh_index(client, base)
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
    assert written == docs, (written, docs)
    drop(client, base)
    return docs / elapsed


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


def main() -> None:
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
    args = parser.parse_args()
    bench_started = time.monotonic()

    node = subprocess.run(
        [str(REPO / "scripts" / "opensearch-local"), "start"],
        check=True,
        capture_output=True,
        text=True,
    )
    url = node.stdout.strip().splitlines()[-1]
    client = connect(url, timeout=300)
    work = REPO / ".cache" / "bench"
    env = {
        **os.environ,
        "OPENSEARCH_URL": url,
        "JOBO_API_KEY": API_KEY,
        "JOBO_INDEXER_WORK_DIR": str(work),
        "PYTHONPATH": str(REPO),
    }
    results: dict[str, Any] = {
        "machine": machine(),
        "jobs": args.jobs,
        "concurrency": args.concurrency,
        "repeat": args.repeat,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    print(f"machine: {results['machine']}", flush=True)

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
        runs: dict[str, list[float]] = {
            "ceiling": [],
            "backfill": [],
            "naive": [],
            "sync_s": [],
            "sync_written": [],
            "resync_s": [],
            "resync_written": [],
            "resync_rss_large_mb": [],
        }
        for rep in range(args.repeat):
            runs["ceiling"].append(
                run_ceiling(client, url, "bench-ceiling", chunks, docs, args.concurrency)
            )
            drop(client, "bench-backfill")
            summary = cli(
                "backfill",
                "--index",
                "bench-backfill",
                "--bulk-concurrency",
                str(args.concurrency),
                env=env,
            )
            assert summary["indexed"] == docs, summary
            runs["backfill"].append(docs / summary["duration_s"])
            runs["naive"].append(run_naive(client, sim.url, "bench-naive", docs))
            sync = cli("sync", "--index", "bench-backfill", env=env)
            runs["sync_s"].append(sync["duration_s"])
            runs["sync_written"].append(sync["written"])
            rss, resync = peak_rss_mb("resync", "--index", "bench-backfill", env=env)
            runs["resync_s"].append(resync["duration_s"])
            runs["resync_written"].append(resync["written"])
            runs["resync_rss_large_mb"].append(rss)
            print(
                f"round {rep + 1}: ceiling {runs['ceiling'][-1]:,.0f} docs/s, backfill "
                f"{runs['backfill'][-1]:,.0f}, naive {runs['naive'][-1]:,.0f}; no-change sync "
                f"{sync['duration_s']:.1f}s wrote {sync['written']}; resync "
                f"{resync['duration_s']:.1f}s wrote {resync['written']}, peak RSS {rss:.0f} MiB",
                flush=True,
            )
        drop(client, "bench-backfill")
        sweep: dict[str, float] = {}
        for level in [int(x) for x in args.sweep.split(",") if x.strip()]:
            drop(client, "bench-sweep")
            summary = cli(
                "backfill", "--index", "bench-sweep", "--bulk-concurrency", str(level), env=env
            )
            sweep[str(level)] = docs / summary["duration_s"]
            print(
                f"backfill at bulk concurrency {level}: {sweep[str(level)]:,.0f} docs/s", flush=True
            )
        drop(client, "bench-sweep")
        results["concurrency_sweep"] = sweep

    with Simulator(args.small_jobs) as small:
        env["JOBO_BASE_URL"] = small.url
        drop(client, "bench-small")
        cli("backfill", "--index", "bench-small", env=env)
        runs["resync_rss_small_mb"] = []
        for _ in range(args.repeat):
            rss, _summary = peak_rss_mb("resync", "--index", "bench-small", env=env)
            runs["resync_rss_small_mb"].append(rss)
        drop(client, "bench-small")

    medians = {name: median(values) for name, values in runs.items()}
    results["runs"] = runs
    results["medians"] = medians
    results["ratios"] = {
        "backfill_vs_ceiling": medians["backfill"] / medians["ceiling"],
        "backfill_vs_naive": medians["backfill"] / medians["naive"],
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
    rows = [
        (
            "OpenSearch ceiling (pre-encoded NDJSON, minimal client)",
            f"{m['ceiling']:,.0f} docs/s",
            "1.00",
        ),
        (
            "`jobo-indexer backfill` from the simulator",
            f"{m['backfill']:,.0f} docs/s",
            f"{r['backfill_vs_ceiling']:.2f} of ceiling",
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
            "",
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
    if results.get("concurrency_sweep"):
        sweep = ", ".join(
            f"{level}: {rate:,.0f} docs/s" for level, rate in results["concurrency_sweep"].items()
        )
        lines += ["", f"Backfill by `--bulk-concurrency` (one run each): {sweep}."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
