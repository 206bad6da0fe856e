"""The indexer's own CPU per job, stage by stage, in seconds instead of a 14-minute bench.

Fetches the pages of a simulated feed once (raw bytes and headers, as the client receives them),
stops the simulator, then runs the indexer's hot path over them page by page in this one thread
(one page alive at a time, under the pipeline's garbage-collector setting) and measures CPU time
(``time.process_time``), not wall time, per stage and per job:

- decode: a response body -> the feed page the flows get;
- skip known: the resync's "same version as the index" filter, with every job known (the
  versions it compares with are read from the page first, outside the timing);
- transform: jobs -> bulk operations (documents with their versions, dead letters);
- encode: operations -> the NDJSON bytes of the ``_bulk`` bodies.

``--profile`` runs the same loop once more under pyinstrument (or cProfile when pyinstrument is
not installed) and prints where the time goes. Usage::

    .venv/bin/python bench/profile_transform.py [--jobs 20000] [--repeat 5] [--profile]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from requests.structures import CaseInsensitiveDict

from indexer.feed import FeedPage, JoboClient
from indexer.simulator import start_simulator
from indexer.store.bulk_wire import chunk_encoded, encode_op
from indexer.store.operations import DeadLetter
from indexer.sync.checkpoint import job_id
from indexer.sync.page_writer import drop_known, page_operations
from indexer.sync.pipeline import collect_rarely
from indexer.timestamps import utcnow
from indexer.transform import InvalidJob, version_of


@dataclass
class HotPath:
    """The production functions of each stage, called as the flows call them."""

    client: JoboClient

    def decode(self, body: bytes, headers: dict[str, str]) -> FeedPage:
        return self.client._decode_feed(body, CaseInsensitiveDict(headers))

    def versions(self, page: FeedPage) -> list[tuple[str, int]]:
        found = []
        for job in page.jobs:
            with contextlib.suppress(InvalidJob):
                found.append((job_id(job), version_of(job)))
        return [(ident, version) for ident, version in found if ident]

    def skip_known(self, page: FeedPage, known: dict[str, int]) -> list[Any]:
        return drop_known(page.jobs, lambda ids: {i: known[i] for i in ids if i in known})

    def transform(self, page: FeedPage, indexed_at: datetime) -> list[Any]:
        return page_operations(page.jobs, indexed_at)

    def encode(self, ops: list[Any]) -> list[bytes]:
        encoded = (encode_op(op) for op in ops if not isinstance(op, DeadLetter))
        return [
            b"".join(item.data for item in chunk)
            for chunk in chunk_encoded(encoded, max_docs=500, max_bytes=5 * 1024 * 1024)
        ]


def load_hot_path() -> HotPath:
    return HotPath(JoboClient("http://127.0.0.1:9", "profile-key"))


def fetch_pages(jobs: int, batch_size: int) -> list[tuple[bytes, dict[str, str]]]:
    """Every page of a ``jobs``-job feed as (body, headers)."""
    pages: list[tuple[bytes, dict[str, str]]] = []
    with start_simulator(jobs=jobs, seed=42) as sim:
        session = requests.Session()
        cursor: str | None = None
        while True:
            body = {"cursor": cursor} if cursor else {"batch_size": batch_size}
            answer = session.post(
                f"{sim.url}/api/jobs/feed",
                json=body,
                timeout=120,
                headers={"X-Api-Key": sim.api_key},
            )
            answer.raise_for_status()
            pages.append((answer.content, dict(answer.headers)))
            data = answer.json()
            cursor = data.get("next_cursor")
            if not data.get("has_more") or not cursor:
                return pages


def cpu_by_stage(hot: HotPath, raw: list[tuple[bytes, dict[str, str]]]) -> dict[str, float]:
    """CPU seconds of each stage over the feed, page by page as the pipeline runs them (one page
    alive at a time, the pipeline's garbage-collector setting)."""
    spent = dict.fromkeys(("decode", "skip known", "transform", "encode"), 0.0)
    indexed_at = utcnow()
    clock = time.process_time
    with collect_rarely():
        for body, headers in raw:
            started = clock()
            page = hot.decode(body, headers)
            decoded = clock()
            known = dict(hot.versions(page))  # the index's side of the lookup: not timed
            looked_up = clock()
            hot.skip_known(page, known)
            skipped = clock()
            ops = hot.transform(page, indexed_at)
            transformed = clock()
            hot.encode(ops)
            encoded = clock()
            spent["decode"] += decoded - started
            spent["skip known"] += skipped - looked_up
            spent["transform"] += transformed - skipped
            spent["encode"] += encoded - transformed
            del page, ops
    return spent


def median_by_stage(
    hot: HotPath, raw: list[tuple[bytes, dict[str, str]]], repeat: int
) -> dict[str, float]:
    runs = [cpu_by_stage(hot, raw) for _ in range(repeat)]
    return {name: statistics.median(run[name] for run in runs) for name in runs[0]}


def profile(hot: HotPath, raw: list[tuple[bytes, dict[str, str]]]) -> None:
    indexed_at = utcnow()

    def backfill_path() -> None:
        for body, headers in raw:
            hot.encode(hot.transform(hot.decode(body, headers), indexed_at))

    try:
        from pyinstrument import Profiler
    except ImportError:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(backfill_path)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return
    with Profiler(interval=0.0005) as prof:
        backfill_path()
    print(prof.output_text(unicode=False, color=False, show_all=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="also print a profile")
    args = parser.parse_args()
    raw = fetch_pages(args.jobs, args.batch_size)
    jobs = args.jobs
    mb = sum(len(body) for body, _ in raw) / 1e6
    hot = load_hot_path()
    print(
        f"{len(raw)} pages, {jobs:,} jobs, {mb:.1f} MB of feed JSON; CPU per job (median of "
        f"{args.repeat}, process_time):"
    )
    total = 0.0
    for name, seconds in median_by_stage(hot, raw, args.repeat).items():
        per_job_ms = seconds * 1000 / jobs
        if name != "skip known":
            total += per_job_ms
        print(f"  {name:<11} {per_job_ms:.4f} core-ms/job ({seconds:.2f} s)")
    print(f"  backfill path (decode + transform + encode): {total:.4f} core-ms/job")
    if args.profile:
        profile(hot, raw)


if __name__ == "__main__":
    main()
