"""`make bench`, service part: what `jobo-indexer serve` adds to a search, 8 clients, 100,000 jobs.

On the shared node, in an index of its own (``bench-serve-<random>``, deleted afterwards):

1. load N simulated jobs and force-merge (``search_bench.load_world``);
2. start ``jobo-indexer serve`` as its own process on a free loopback port;
3. the query mix of ``search_bench.query_mix`` (text, text + filters, geo radius, salary, recency
   sort, match-all with facets), each query written as ``/api/search`` parameters; the bench
   checks that the service's parser turns them back into the very same request body;
4. 8 client threads, each sending every query of the mix ``--rounds`` times twice, once through
   the service (``GET /api/search``, the answer parsed as a frontend would) and once raw (the
   same request bodies POSTed to ``<alias>/_search``, plus the follow-ups ``search()`` sends: the
   other boards' copies of a page's postings, "did you mean" when few jobs match as spelled), in a
   random order per pair, so both paths meet the same
   node load. Each side has one keep-alive session per thread.

Reported per class and overall: the service process's CPU time per request (user + system, read
from /proc around the timed part: what it adds to each search, independent of how loaded the
shared machine is), requests/s, p50/p95 at the client of each path, the difference
of the p95s, the p95 of the paired differences, and the service's own time (its wall time at
the client minus the ``server-timing`` it reports for the search library call). Goal: the
service adds at most 5 ms at p95. Any non-200 answer fails the run.

Results go to ``bench/serve-results.json`` and ``bench/serve-results.md``.

    .venv/bin/python bench/serve_bench.py [--jobs 100000] [--rounds 6]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import requests
from opensearchpy import OpenSearch
from search_bench import load_world, percentiles, query_mix

from indexer.search import GeoPoint, SearchQuery, build_search_body
from indexer.search.copies import build_other_sources_body
from indexer.search.params import query_from_values
from indexer.search.query import DUPLICATE_FIELD, EXACT_MATCHES
from indexer.search.run import DID_YOU_MEAN_BELOW, build_did_you_mean_body
from indexer.store.schema import index_names

REPO = Path(__file__).resolve().parent.parent
CLIENTS = 8
GOAL_MS = 5.0
_FIELD_PARAMS = {
    "text": "q",
    "skills": "skill",
    "h1b_sponsor": "h1b",
    "clearance_required": "clearance",
    "posted_within_days": "posted_within",
}


def params_of(query: SearchQuery) -> dict[str, list[str]]:
    """``query`` as the service's query parameters (what a frontend puts in its URL)."""
    out: dict[str, list[str]] = {}
    for name in (
        "text",
        "workplace_type",
        "employment_type",
        "experience_level",
        "country",
        "skills",
        "salary_min",
        "salary_max",
        "posted_within_days",
    ):
        value = getattr(query, name)
        if value in (None, (), []):
            continue
        values = value if isinstance(value, list | tuple) else [value]
        out[_FIELD_PARAMS.get(name, name)] = [str(v) for v in values]
    if query.near is not None:
        out["near"] = [f"{query.near.lat},{query.near.lon}"]
        out["radius"] = [query.radius]
    if query.sort != "relevance":
        out["sort"] = [query.sort]
    out["size"] = [str(query.size)]
    return out


@dataclass
class Case:
    klass: str
    params: dict[str, list[str]]
    body: dict[str, Any]  # what the service builds from ``params``
    query: SearchQuery


def cases(centre: GeoPoint) -> list[Case]:
    found = []
    for klass, queries in query_mix(centre).items():
        for query in queries:
            params = params_of(query)
            parsed = query_from_values(params)
            body = build_search_body(parsed)
            if body != build_search_body(query):
                raise SystemExit(f"{klass}: the service would not send the bench's body: {params}")
            found.append(Case(klass, params, body, parsed))
    return found


# --------------------------------------------------------------------------- the two paths


@dataclass
class Sides:
    service_url: str
    raw_url: str  # <node>/<alias>/_search
    local: threading.local = field(default_factory=threading.local)

    def session(self, side: str) -> requests.Session:
        session = getattr(self.local, side, None)
        if session is None:
            session = requests.Session()
            setattr(self.local, side, session)
        return session

    def service(self, case: Case) -> tuple[float, float]:
        """Wall ms at the client, and the ms the service says its search call took."""
        started = time.perf_counter()
        answer = self.session("service").get(self.service_url, params=case.params, timeout=120)
        if answer.status_code != 200:
            raise RuntimeError(f"service answered {answer.status_code}: {answer.text[:200]}")
        orjson.loads(answer.content)  # as the raw side reads its answer
        wall = (time.perf_counter() - started) * 1000
        timing = answer.headers.get("server-timing", "search;dur=0").split("dur=")[1]
        return wall, float(timing)

    def raw(self, case: Case) -> float:
        started = time.perf_counter()
        session = self.session("raw")
        answer = self._post(session, case.body)
        aggregations = answer.get("aggregations", {})
        postings = aggregations.get("postings", {}).get("value")
        if case.query.collapse and (
            postings is None or postings < answer["hits"]["total"]["value"]
        ):
            keys = {
                (raw.get("fields", {}).get(DUPLICATE_FIELD) or [None])[0]
                for raw in answer["hits"]["hits"]
            } - {None}
            if keys:  # the other boards' copies of the page's postings, as search() asks
                self._post(session, build_other_sources_body(case.query, sorted(keys)))
        exact = aggregations.get(EXACT_MATCHES, {}).get("doc_count")
        if case.query.text and exact is not None and exact < DID_YOU_MEAN_BELOW:
            self._post(session, build_did_you_mean_body(case.query.text))
        return (time.perf_counter() - started) * 1000

    def _post(self, session: requests.Session, body: dict[str, Any]) -> dict[str, Any]:
        answer = session.post(
            self.raw_url,
            data=orjson.dumps(body),
            headers={"content-type": "application/json"},
            timeout=120,
        )
        if answer.status_code != 200:
            raise RuntimeError(f"OpenSearch answered {answer.status_code}: {answer.text[:200]}")
        return orjson.loads(answer.content)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process ``pid`` has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(sides: Sides, mix: list[Case], rounds: int) -> tuple[list[dict[str, Any]], float]:
    """Every client sends each case ``rounds`` times both ways; samples and the wall seconds."""

    def client(seed: int) -> list[dict[str, Any]]:
        rng = random.Random(seed)
        order = [case for _ in range(rounds) for case in mix]
        rng.shuffle(order)
        samples = []
        for case in order:
            sample: dict[str, Any] = {"class": case.klass}
            for side in rng.sample(["service", "raw"], 2):
                if side == "service":
                    sample["service"], sample["search"] = sides.service(case)
                else:
                    sample["raw"] = sides.raw(case)
            samples.append(sample)
        return samples

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        samples = [s for chunk in pool.map(client, range(CLIENTS)) for s in chunk]
    return samples, time.perf_counter() - started


def summarise(samples: list[dict[str, Any]], seconds: float) -> list[dict[str, Any]]:
    by_class: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for sample in samples:
        by_class[sample["class"]].append(sample)
    rows = []
    for klass, group in [*by_class.items(), ("all", samples)]:
        service = percentiles([s["service"] for s in group])
        raw = percentiles([s["raw"] for s in group])
        rows.append(
            {
                "class": klass,
                "n": len(group),
                "service": service,
                "raw": raw,
                "p95_added": round(service["p95"] - raw["p95"], 1),
                "paired": percentiles([s["service"] - s["raw"] for s in group]),
                "own": percentiles([s["service"] - s["search"] for s in group]),
            }
        )
    rows[-1]["requests_per_s"] = round(2 * len(samples) / seconds, 1)
    rows[-1]["service_requests_per_s"] = round(len(samples) / seconds, 1)
    return rows


# --------------------------------------------------------------------------- the service


def start_service(url: str, base: str) -> tuple[subprocess.Popen[str], str]:
    args = [sys.executable, "-m", "indexer", "serve", "--port", "0", "--json", "--no-access-log"]
    args += ["--index", base, "--opensearch-url", url, "--request-timeout", "60"]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert process.stdout is not None
    ready = json.loads(process.stdout.readline())
    return process, ready["url"]


def render(results: dict[str, Any]) -> str:
    meta = results["meta"]
    overall = results["rows"][-1]
    lines = [
        f"Service benchmark of {meta['at']}: {meta['jobs']:,} simulated jobs (one shard, "
        f"force-merged), {CLIENTS} concurrent clients, each sending the query mix "
        f"{meta['rounds']} times through `jobo-indexer serve` and raw to OpenSearch (paired, "
        f"random order). Machine: {meta['machine']} (shared: load average "
        f"{meta['load_average']} at the start).",
        "",
        f"Throughput: {overall['requests_per_s']} requests/s both paths together "
        f"({overall['service_requests_per_s']} through the service); no request failed. The "
        f"service process used {results['service_cpu_ms_per_request']} ms of CPU per request "
        "(user + system, /proc): the work it adds to each search whatever the machine's load.",
        "",
        "Milliseconds at the client. *added p95* = service p95 - raw p95; *paired p50/p95* = "
        "percentiles of (service - raw) for the same query by the same client; *own p50/p95* = "
        "the service's wall time at the client minus the time it reports for its search call "
        f"(server-timing). Goal: the service adds <= {GOAL_MS:.0f} ms at p95.",
        "",
        "| class | n | service p50 / p95 | raw p50 / p95 | added p95 | paired p50 / p95 | "
        "own p50 / p95 |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in results["rows"]:
        s, r, d, o = row["service"], row["raw"], row["paired"], row["own"]
        lines.append(
            f"| {row['class']} | {row['n']} | {s['p50']} / {s['p95']} | {r['p50']} / {r['p95']} "
            f"| {row['p95_added']} | {d['p50']} / {d['p95']} | {o['p50']} / {o['p95']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=6, help="times each client sends the mix")
    parser.add_argument("--url", default=os.environ.get("OPENSEARCH_URL", "http://127.0.0.1:9200"))
    args = parser.parse_args()
    client = OpenSearch(args.url, timeout=120)
    base = f"bench-serve-{uuid.uuid4().hex[:8]}"
    load_average = os.getloadavg()[0]
    process = None
    try:
        load_s = load_world(client, base, args.jobs)
        print(f"loaded {args.jobs:,} jobs in {load_s:.0f} s", flush=True)
        process, service_url = start_service(args.url, base)
        alias = index_names(base).read_alias
        sides = Sides(f"{service_url}api/search", f"{args.url.rstrip('/')}/{alias}/_search")
        mix = cases(GeoPoint(40.7128, -74.0060))
        for case in mix:  # warm-up, not measured
            sides.service(case)
            sides.raw(case)
        cpu_before = cpu_seconds(process.pid)
        samples, seconds = measure(sides, mix, args.rounds)
        cpu_ms = (cpu_seconds(process.pid) - cpu_before) * 1000 / len(samples)
        results = {
            "meta": {
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "jobs": args.jobs,
                "rounds": args.rounds,
                "load_s": load_s,
                "load_average": round(load_average, 1),
                "machine": f"{os.cpu_count()} cores, Python {platform.python_version()}, "
                f"OpenSearch {client.info()['version']['number']}",
            },
            "rows": summarise(samples, seconds),
            "service_cpu_ms_per_request": round(cpu_ms, 2),
        }
        (REPO / "bench" / "serve-results.json").write_text(json.dumps(results, indent=2) + "\n")
        (REPO / "bench" / "serve-results.md").write_text(render(results) + "\n")
        print(render(results))
    finally:
        if process is not None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        client.indices.delete(index=f"{base}*", ignore_unavailable=True, expand_wildcards="all")
        client.indices.delete_index_template(name=f"{base}*", ignore=[404])


if __name__ == "__main__":
    main()
