"""`make bench`, search part: latency at 100,000 jobs, 1 and 8 clients, and what tuning gained.

On the shared node, in an index of its own (``bench-search-<random>``, deleted afterwards):

1. load N simulated jobs (transformed as the indexer does) and force-merge to one segment, so
   every round sees the same index;
2. a fixed query mix (text, text + filters, geo radius, salary, recency sort, match-all with
   facets), each class's request bodies built by ``build_search_body`` (what ``search
   --show-query`` prints);
3. for each tuning step, p50/p95/p99 of every class at 1 and 8 concurrent clients, twice: through
   ``indexer.search.search`` (the library: body building, the opensearch-py client, parsing) and
   the same bodies sent raw (one ``requests`` session per thread, response not parsed). OpenSearch's
   own ``took`` is reported too.

Tuning steps, cumulative: ``baseline`` (the mapping and bodies as shipped), ``split-facets``
(match-all sends its hits and its facets as two requests, the facet-only one -- size 0 -- served
from the shard request cache), ``eager-ordinals`` (global ordinals of every facet field built at
refresh, not by the first query after one).

Results go to ``bench/search_latency.json`` and ``bench/search_latency.md`` (wall-clock
latency: only meaningful on a quiet machine; ``bench/search_cost.py`` measures the CPU cost).

    .venv/bin/python bench/search_bench.py [--jobs 100000] [--rounds 40]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import requests
from opensearchpy import OpenSearch, helpers

from indexer.search import FACET_FIELDS, GeoPoint, SearchQuery, build_search_body, search
from indexer.simulator.world import FeedQuery, World, wall_clock_ms
from indexer.store.schema import index_names, init_index, live_physical_index
from indexer.transform import to_document

REPO = Path(__file__).resolve().parent.parent
CLIENTS = (1, 8)
GOALS_MS = {1: 50.0, 8: 200.0}  # p95 per class
EAGER_FIELDS = tuple(FACET_FIELDS.values())

Run = Callable[[SearchQuery, dict[str, Any]], float]


def query_mix(centre: GeoPoint) -> dict[str, list[SearchQuery]]:
    """The fixed classes; each holds a few variants so no class is one cached request."""
    texts = ["python developer", "sofware engineer", "registered nurse", "k8s", "data scientist"]
    return {
        "text": [SearchQuery(text=t) for t in texts],
        "text+filters": [
            SearchQuery(text="engineer", workplace_type=["remote"]),
            SearchQuery(text="developer", skills=["React"], employment_type=["full_time"]),
            SearchQuery(text="manager", country=["US"], experience_level=["senior"]),
        ],
        "geo radius": [
            SearchQuery(near=centre, radius="100km"),
            SearchQuery(text="engineer", near=centre, radius="300km", sort="distance"),
        ],
        "salary": [
            SearchQuery(salary_min=100_000, salary_max=150_000),
            SearchQuery(text="engineer", salary_min=150_000),
        ],
        "recency sort": [
            SearchQuery(sort="recency"),
            SearchQuery(text="developer", sort="recency", posted_within_days=7),
        ],
        "match-all+facets": [SearchQuery(), SearchQuery(workplace_type=["remote"])],
    }


# --------------------------------------------------------------------------- the index


def load_world(client: OpenSearch, base: str, jobs: int) -> float:
    """Create ``base`` and load ``jobs`` simulated jobs; returns the seconds it took."""
    started = time.perf_counter()
    init_index(client, base)
    names = index_names(base)
    world = World(seed=42, jobs=jobs, anchor_ms=wall_clock_ms(), expired_jobs=0)
    page = world.feed_page(FeedQuery(), None, jobs, with_total=False)
    indexed_at = datetime.now(UTC)

    def actions() -> Iterator[dict[str, Any]]:
        for encoded in page.jobs:
            doc = to_document(orjson.loads(encoded), indexed_at=indexed_at)
            yield {"_index": names.write_alias, "_id": doc["id"], "_source": doc}

    physical = live_physical_index(client, base)
    client.indices.put_settings(index=physical, body={"index": {"refresh_interval": "-1"}})
    for ok, item in helpers.parallel_bulk(client, actions(), thread_count=2, chunk_size=500):
        if not ok:
            raise RuntimeError(f"bulk failed: {item}")
    client.indices.put_settings(index=physical, body={"index": {"refresh_interval": "1s"}})
    client.indices.refresh(index=physical)
    client.indices.forcemerge(index=physical, max_num_segments=1, request_timeout=1800)
    return time.perf_counter() - started


def set_eager_ordinals(client: OpenSearch, index: str) -> None:
    mapping = client.indices.get_mapping(index=index)[index]["mappings"]["properties"]
    updates: dict[str, Any] = {}
    for path in EAGER_FIELDS:
        parts = path.split(".")
        if len(parts) == 3:  # company.name.keyword
            company = mapping["company"]["properties"]["name"]
            field = dict(company)
            field["fields"] = {
                **company["fields"],
                "keyword": {**company["fields"]["keyword"], "eager_global_ordinals": True},
            }
            updates["company"] = {"properties": {"name": field}}
        elif mapping[path].get("type") == "keyword":
            updates[path] = {**mapping[path], "eager_global_ordinals": True}
    client.indices.put_mapping(index=index, body={"properties": updates})
    client.indices.refresh(index=index)


# --------------------------------------------------------------------------- runners


@dataclass
class Step:
    name: str
    split_facets: bool  # match-all: hits and facets as two requests, the facet one cached


STEPS = (
    Step("baseline", split_facets=False),
    Step("split-facets", split_facets=True),
    Step("eager-ordinals", split_facets=True),
)


def bodies(query: SearchQuery, step: Step) -> list[tuple[dict[str, Any], bool]]:
    """The request(s) one search makes in ``step``: (body, may use the request cache)."""
    if not (step.split_facets and query.facets and not query.text):
        return [(build_search_body(query), False)]
    hits = build_search_body(replace(query, facets=()))
    facets = build_search_body(query)
    facets["size"] = 0
    for key in ("sort", "collapse", "highlight", "_source", "track_scores"):
        facets.pop(key, None)
    return [(hits, False), (facets, True)]


class Raw:
    """The same bodies over plain HTTP, one session per thread, no response parsing."""

    def __init__(self, url: str, alias: str) -> None:
        self.url, self.alias = url.rstrip("/"), alias
        self.local = threading.local()

    def send(self, body: dict[str, Any], cache: bool) -> float:
        session = getattr(self.local, "session", None)
        if session is None:
            session = self.local.session = requests.Session()
        answer = session.post(
            f"{self.url}/{self.alias}/_search",
            params={"request_cache": "true" if cache else "false"},
            data=orjson.dumps(body),
            headers={"content-type": "application/json"},
        )
        answer.raise_for_status()
        return float(orjson.loads(answer.content)["took"])


def library_run(client: OpenSearch, alias: str, step: Step) -> Callable[[SearchQuery], float]:
    """What a frontend calling the library does: ``search()``, facets apart when split."""

    def run(query: SearchQuery) -> float:
        if step.split_facets and query.facets and not query.text:
            search(client, alias, replace(query, facets=()))
            facets = bodies(query, step)[1][0]
            return float(client.search(index=alias, body=facets, request_cache=True)["took"])
        search(client, alias, query)
        return 0.0

    return run


def raw_run(raw: Raw, step: Step) -> Callable[[SearchQuery], float]:
    def run(query: SearchQuery) -> float:
        return max(raw.send(body, cache) for body, cache in bodies(query, step))

    return run


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(share: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 1)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "n": len(ordered)}


def measure(
    run: Callable[[SearchQuery], float], queries: list[SearchQuery], clients: int, rounds: int
) -> dict[str, Any]:
    """Every client sends ``rounds`` searches, cycling through the class's variants."""
    for query in queries:  # warm-up: one of each, not measured
        run(query)

    def client_loop(offset: int) -> list[tuple[float, float]]:
        out = []
        for index in range(rounds):
            query = queries[(index + offset) % len(queries)]
            started = time.perf_counter()
            took = run(query)
            out.append(((time.perf_counter() - started) * 1000, took))
        return out

    with ThreadPoolExecutor(clients) as pool:
        samples = [s for chunk in pool.map(client_loop, range(clients)) for s in chunk]
    result = percentiles([wall for wall, _ in samples])
    result["took_p50"] = statistics.median(took for _, took in samples)
    return result


# --------------------------------------------------------------------------- report


def render(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [
        f"Search benchmark of {meta['at']}: {meta['jobs']:,} simulated jobs, one shard, "
        f"force-merged; {meta['rounds']} searches per client per class; loaded in "
        f"{meta['load_s']:.0f} s. Machine: {meta['machine']} (shared: load average "
        f"{meta['load_average']} at the start).",
        "",
        "p50 / p95 / p99 in ms (wall time per search at the client); `took` = OpenSearch's own "
        "median. Goal: p95 <= 50 ms at 1 client, <= 200 ms at 8.",
        "",
    ]
    for step in results["steps"]:
        lines += [
            f"### {step['name']}",
            "",
            "| class | clients | library p50/p95/p99 | raw p50/p95/p99 | took p50 | goal |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for row in step["rows"]:
            lib, raw = row["library"], row["raw"]
            goal = "met" if lib["p95"] <= GOALS_MS[row["clients"]] else "missed"
            lines.append(
                f"| {row['class']} | {row['clients']} | {lib['p50']} / {lib['p95']} / "
                f"{lib['p99']} | {raw['p50']} / {raw['p95']} / {raw['p99']} | "
                f"{raw['took_p50']:.0f} | {goal} |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--url", default=os.environ.get("OPENSEARCH_URL", "http://127.0.0.1:9200"))
    parser.add_argument("--steps", default=",".join(step.name for step in STEPS))
    args = parser.parse_args()
    client = OpenSearch(args.url, timeout=120)
    base = f"bench-search-{uuid.uuid4().hex[:8]}"
    load_average = os.getloadavg()[0]
    try:
        load_s = load_world(client, base, args.jobs)
        alias = index_names(base).read_alias
        physical = live_physical_index(client, base)
        centre = GeoPoint(40.7128, -74.0060)
        mix = query_mix(centre)
        raw = Raw(args.url, alias)
        wanted = set(args.steps.split(","))
        steps_out = []
        for step in STEPS:
            if step.name not in wanted:
                continue
            if step.name == "eager-ordinals":
                set_eager_ordinals(client, physical)
            client.indices.clear_cache(index=physical, request=True)
            rows = []
            for name, queries in mix.items():
                for clients in CLIENTS:
                    rows.append(
                        {
                            "class": name,
                            "clients": clients,
                            "library": measure(
                                library_run(client, alias, step), queries, clients, args.rounds
                            ),
                            "raw": measure(raw_run(raw, step), queries, clients, args.rounds),
                        }
                    )
                    print(step.name, rows[-1], flush=True)
            steps_out.append({"name": step.name, "rows": rows})
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
            "steps": steps_out,
        }
        (REPO / "bench" / "search_latency.json").write_text(json.dumps(results, indent=2) + "\n")
        (REPO / "bench" / "search_latency.md").write_text(render(results) + "\n")
        print(render(results))
    finally:
        client.indices.delete(index=f"{base}*", ignore_unavailable=True, expand_wildcards="all")
        client.indices.delete_index_template(name=f"{base}*", ignore=[404])


if __name__ == "__main__":
    main()
