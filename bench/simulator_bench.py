"""How fast the feed simulator serves: world build time, pages/s, MB/s and the server's RSS.

Starts ``jobo-indexer simulate`` in a subprocess (so its memory is measured alone), then pages the
whole feed with one keep-alive client, an ``updated_after`` scan, a filtered scan and N parallel
full scans. Usage::

    .venv/bin/python bench/simulator_bench.py [--jobs 100000] [--batch 1000] [--clients 4]
"""

from __future__ import annotations

import argparse
import http.client
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests

API_KEY = "bench-key"


@dataclass
class ScanResult:
    pages: int
    jobs: int
    bytes: int
    seconds: float

    def line(self, label: str) -> str:
        mb = self.bytes / 1e6
        return (
            f"{label:<28} {self.pages:>5} pages {self.jobs:>7} jobs {mb:>8.1f} MB "
            f"{self.seconds:>6.2f} s  {self.pages / self.seconds:>7.1f} pages/s "
            f"{mb / self.seconds:>7.1f} MB/s {self.jobs / self.seconds:>8.0f} jobs/s"
        )


def raw_scan(url: str, body: dict[str, Any]) -> ScanResult:
    """A full scan over one keep-alive http.client connection: measures the server, not requests."""
    connection = http.client.HTTPConnection(urlsplit(url).netloc, timeout=120)
    headers = {"X-Api-Key": API_KEY, "Content-Type": "application/json"}
    started = time.perf_counter()
    pages = jobs = size = 0
    while True:
        connection.request("POST", "/api/jobs/feed", body=orjson.dumps(body), headers=headers)
        response = connection.getresponse()
        content = response.read()
        if response.status != 200:
            raise SystemExit(f"feed answered {response.status}: {content[:300]!r}")
        page = orjson.loads(content)
        pages += 1
        jobs += len(page["jobs"])
        size += len(content)
        if not page["has_more"]:
            break
        body = {"cursor": page["next_cursor"]}
    connection.close()
    return ScanResult(pages, jobs, size, time.perf_counter() - started)


def requests_scan(url: str, body: dict[str, Any]) -> ScanResult:
    """The same scan through a requests.Session, as the indexer's client does it."""
    session = requests.Session()
    session.headers["X-Api-Key"] = API_KEY
    started = time.perf_counter()
    pages = jobs = size = 0
    while True:
        response = session.post(f"{url}/api/jobs/feed", json=body, timeout=120)
        response.raise_for_status()
        page = orjson.loads(response.content)
        pages += 1
        jobs += len(page["jobs"])
        size += len(response.content)
        if not page["has_more"]:
            break
        body = {"cursor": page["next_cursor"]}
    return ScanResult(pages, jobs, size, time.perf_counter() - started)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def start_server(jobs: int) -> tuple[subprocess.Popen[bytes], str, float]:
    command = [
        sys.executable,
        "-c",
        "from indexer.cli.simulate import simulate; simulate()",
        "--port",
        "0",
        "--jobs",
        str(jobs),
    ]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, env={**os.environ, "JOBO_API_KEY": API_KEY}, stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    url = process.stdout.readline().decode().strip()
    if not url.startswith("http"):
        process.kill()
        raise SystemExit("the simulator did not start; run the command above by hand to see why")
    return process, url, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()

    process, url, build_seconds = start_server(args.jobs)
    try:
        print(f"simulator with {args.jobs} jobs ready in {build_seconds:.1f} s at {url}")
        print(f"server RSS after build: {rss_mb(process.pid):.0f} MB")
        print(raw_scan(url, {"batch_size": args.batch}).line("full scan (http.client)"))
        print(requests_scan(url, {"batch_size": args.batch}).line("full scan (requests)"))
        since = (datetime.now(UTC) - timedelta(days=7)).isoformat()
        print(
            raw_scan(url, {"batch_size": args.batch, "updated_after": since}).line(
                "updated_after 7 days"
            )
        )
        filtered = {"batch_size": args.batch, "work_models": ["remote"], "sources": ["greenhouse"]}
        print(raw_scan(url, filtered).line("filtered (remote+greenhouse)"))
        started = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            results = list(
                pool.map(lambda _: raw_scan(url, {"batch_size": args.batch}), range(args.clients))
            )
        elapsed = time.perf_counter() - started
        combined = ScanResult(
            sum(r.pages for r in results),
            sum(r.jobs for r in results),
            sum(r.bytes for r in results),
            elapsed,
        )
        print(combined.line(f"{args.clients} parallel full scans"))
        print(f"server RSS after serving: {rss_mb(process.pid):.0f} MB")
    finally:
        process.terminate()
        process.wait(timeout=30)


if __name__ == "__main__":
    main()
