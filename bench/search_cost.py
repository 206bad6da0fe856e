"""`make bench`, search part: what a search COSTS the node, per query class and body variant.

Wall-clock latency on a shared 2-core machine measures the other tenants as much as the query; the
CPU a query makes the node spend does not (the same work, only spread over more time). So:

1. a node of its own (``scripts/opensearch-local`` on port 9240, home ``.cache/opensearch-bench``,
   stopped at the end unless ``--keep``), so no other client's searches land in its counters;
2. 100,000 simulated jobs loaded once into ``cost-<jobs>`` and force-merged (with ``--keep`` the
   next run reuses it);
3. for every query class of the fixed mix (``search_bench.query_mix``, plus the second page of
   text searches) and every variant, N searches sent one after another; the node JVM's CPU
   before and after (the on-CPU time of its threads, ``/proc/<pid>/task/*/schedstat``), less its
   idle rate (measured before each round), divided by N = core-ms per search. Beside it:
   OpenSearch's ``took`` p50/p95, the client's wall p50/p95 and the machine's load average;
4. rounds interleave the variants (``--rounds``) and each figure is the median of the rounds, so
   a burst of load elsewhere hits every variant alike.

Variants: ``before`` (the bodies as shipped before: collapse with inner hits, a ``top_hits`` per
labelled facet bucket, plus the "did you mean" request when it was sent), ``library``
(``indexer.search.search`` now, every request it sends), and one request of a body (``--base``:
today's or ``before``'s) alone and with one part removed or tuned (the ``postings`` cardinality,
facets, facet labels, the exact-match count, the description highlight, the typo branch, the
recency decay, ...). Results: ``bench/search_results.{json,md}``.

    .venv/bin/python bench/search_cost.py [--jobs 100000] [--per-query 10] [--rounds 3] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from opensearchpy import OpenSearch
from search_bench import load_world, query_mix

from indexer.search import FACET_FIELDS, GeoPoint, SearchQuery, build_search_body, search
from indexer.search.query import LABELLED_FACETS
from indexer.search.run import DID_YOU_MEAN_BELOW, build_did_you_mean_body
from indexer.store.schema import index_names

REPO = Path(__file__).resolve().parent.parent
PORT = 9240
CORES = os.cpu_count() or 1
_TICKS = os.sysconf("SC_CLK_TCK")

Body = dict[str, Any]
Transform = Callable[[SearchQuery, Body], Body]


# --------------------------------------------------------------------------- the node


def node_env(port: int) -> dict[str, str]:
    return {
        **os.environ,
        "OPENSEARCH_LOCAL_PORT": str(port),
        "OPENSEARCH_LOCAL_TRANSPORT_PORT": str(port + 100),
        "OPENSEARCH_LOCAL_HOME": str(REPO / ".cache" / "opensearch-bench"),
    }


def node_script(command: str, port: int) -> str:
    done = subprocess.run(
        [str(REPO / "scripts" / "opensearch-local"), command],
        env=node_env(port),
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def node_pid(port: int) -> int:
    """The pid of the node this script started on ``port`` (``opensearch-local status``)."""
    status = node_script("status", port)
    return int(status.rsplit("(pid ", 1)[1].rstrip(")"))


def cpu_s(pid: int) -> float:
    """CPU seconds the process's live threads have run so far, in nanoseconds' resolution (the
    first field of each ``/proc/<pid>/task/<tid>/schedstat``; utime + stime of ``stat`` only
    counts 10 ms ticks). The node's thread pools are long-lived, so no thread's time is lost."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def ticks_s(pid: int) -> float:
    """utime + stime of the whole process (dead threads included), in clock ticks."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def idle_rate(pid: int, seconds: float = 2.0) -> float:
    """Cores the node uses while nothing is sent (its own housekeeping)."""
    before = cpu_s(pid)
    time.sleep(seconds)
    return (cpu_s(pid) - before) / seconds


# --------------------------------------------------------------------------- body variants


def _without_key(key: str) -> Transform:
    def apply(_: SearchQuery, body: Body) -> Body:
        body.pop(key, None)
        return body

    return apply


def _drop_aggs(*names: str) -> Transform:
    def apply(_: SearchQuery, body: Body) -> Body:
        for name in names:
            body.get("aggs", {}).pop(name, None)
        if not body.get("aggs", True):
            body.pop("aggs")
        return body

    return apply


def _no_labels(_: SearchQuery, body: Body) -> Body:
    for name in FACET_FIELDS:
        body.get("aggs", {}).get(name, {}).pop("aggs", None)
    return body


def _no_inner_hits(_: SearchQuery, body: Body) -> Body:
    """The collapse alone (no copies fetched at all: the floor for ``other_sources``)."""
    if "collapse" in body:
        body["collapse"].pop("inner_hits", None)
    return body


def _title_highlight_only(_: SearchQuery, body: Body) -> Body:
    if "highlight" in body:
        body["highlight"]["fields"].pop("description", None)
    return body


def _walk(node: Any, visit: Callable[[dict[str, Any]], None]) -> None:
    if isinstance(node, dict):
        visit(node)
        for value in node.values():
            _walk(value, visit)
    elif isinstance(node, list):
        for value in node:
            _walk(value, visit)


def _is_fuzzy(node: Any) -> bool:
    return "fuzziness" in json.dumps(node)


def _no_fuzzy(_: SearchQuery, body: Body) -> Body:
    def visit(node: dict[str, Any]) -> None:
        for key in ("should", "must"):
            clauses = node.get(key)
            if isinstance(clauses, list) and len(clauses) > 1:
                node[key] = [c for c in clauses if not _is_fuzzy(c)] or clauses

    _walk(body.get("query"), visit)
    body.get("aggs", {}).pop("exact_matches", None)
    return body


def _fuzzy_expansions(limit: int) -> Transform:
    def apply(_: SearchQuery, body: Body) -> Body:
        def visit(node: dict[str, Any]) -> None:
            if "fuzziness" in node:
                node["max_expansions"] = limit

        _walk(body.get("query"), visit)
        return body

    return apply


def _postings_precision(threshold: int) -> Transform:
    def apply(_: SearchQuery, body: Body) -> Body:
        postings = body.get("aggs", {}).get("postings")
        if postings:
            postings["cardinality"]["precision_threshold"] = threshold
        return body

    return apply


def _no_recency(_: SearchQuery, body: Body) -> Body:
    query = body["query"]
    if "function_score" in query:
        body["query"] = query["function_score"]["query"]
    return body


def _lean(query: SearchQuery, body: Body) -> Body:
    for step in (_without_key("aggs"), _without_key("highlight"), _no_inner_hits, _no_fuzzy):
        body = step(query, body)
    return body


# Each ablation: the full body of `before` with one thing taken out or tuned (one request, no
# follow-ups).
ABLATIONS: dict[str, Transform] = {
    "body": lambda _, body: body,
    "-inner hits": _no_inner_hits,
    "-postings": _drop_aggs("postings"),
    "postings p3000": _postings_precision(3000),
    "-facets": _drop_aggs(*FACET_FIELDS),
    "-facet labels": _no_labels,
    "-exact agg": _drop_aggs("exact_matches"),
    "-desc highlight": _title_highlight_only,
    "-highlight": _without_key("highlight"),
    "-typo branch": _no_fuzzy,
    "fuzzy exp 10": _fuzzy_expansions(10),
    "-recency": _no_recency,
    "lean": _lean,
}


# --------------------------------------------------------------------------- runners


@dataclass
class Sent:
    took_ms: float
    requests: int


Runner = Callable[[SearchQuery], Sent]

BEFORE_INNER_HITS = {
    "name": "sources",
    "size": 5,
    "_source": ["id", "source", "listing_url", "apply_url"],
    "sort": [{"updated_at": {"order": "desc"}}, {"id": {"order": "asc"}}],
}


def before_body(query: SearchQuery) -> Body:
    """The body as shipped before this bench: today's, with the collapse's inner hits (one
    more search per hit) and a ``top_hits`` per labelled facet bucket, in place of the
    runner's follow-up requests (the page's copies; labels once per value)."""
    body = build_search_body(query)
    if "collapse" in body:
        body["collapse"]["inner_hits"] = BEFORE_INNER_HITS
    for name in LABELLED_FACETS & set(query.facets):  # labels fetched by every search
        spelling = {"top_hits": {"size": 1, "_source": {"includes": [FACET_FIELDS[name]]}}}
        body["aggs"][name]["aggs"] = {"spelling": spelling}
    return body


def raw_runner(client: OpenSearch, alias: str, make: Callable[[SearchQuery], Body]) -> Runner:
    def run(query: SearchQuery) -> Sent:
        answer = client.search(index=alias, body=make(query), request_cache=False)
        return Sent(float(answer["took"]), 1)

    return run


def before_runner(client: OpenSearch, alias: str) -> Runner:
    """What ``search()`` sent before: one body, then "did you mean" when few match as spelled."""

    def run(query: SearchQuery) -> Sent:
        answer = client.search(index=alias, body=before_body(query), request_cache=False)
        took, sent = float(answer["took"]), 1
        exact = answer.get("aggregations", {}).get("exact_matches", {}).get("doc_count")
        if exact is not None and exact < DID_YOU_MEAN_BELOW:
            took += client.search(index=alias, body=build_did_you_mean_body(query.text or ""))[
                "took"
            ]
            sent += 1
        return Sent(took, sent)

    return run


class Counting:
    """An OpenSearch client that adds up the ``took`` of every search it sends."""

    def __init__(self, client: OpenSearch) -> None:
        self.client, self.took, self.requests = client, 0.0, 0

    def search(self, **kwargs: Any) -> dict[str, Any]:
        answer = self.client.search(**kwargs)
        self.took += float(answer.get("took", 0))
        self.requests += 1
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def library_runner(client: OpenSearch, alias: str) -> Runner:
    def run(query: SearchQuery) -> Sent:
        counting = Counting(client)
        search(counting, alias, query)  # type: ignore[arg-type]
        return Sent(counting.took, counting.requests)

    return run


def runners(client: OpenSearch, alias: str, base: str) -> dict[str, Runner]:
    found: dict[str, Runner] = {
        "before": before_runner(client, alias),
        "library": library_runner(client, alias),
    }
    for name, transform in ABLATIONS.items():
        if name == "-inner hits" and base == "now":
            continue  # today's body has none

        def make(query: SearchQuery, transform: Transform = transform) -> Body:
            start = before_body(query) if base == "before" else build_search_body(query)
            return transform(query, start)

        found[name] = raw_runner(client, alias, make)
    return found


# --------------------------------------------------------------------------- measuring


def classes(client: OpenSearch, alias: str) -> dict[str, list[SearchQuery]]:
    """The fixed mix, plus the next page of text searches (the token from a first page)."""
    mix = query_mix(GeoPoint(40.7128, -74.0060))
    pages = []
    for first in mix["text"][:3]:
        token = search(client, alias, first).next_after
        if token:
            pages.append(replace(first, search_after=token))
    mix["text page 2"] = pages
    return mix


def pct(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@dataclass
class Sample:
    cpu_ms: float  # node CPU per search, idle rate removed
    took: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    requests: float = 0.0
    load: float = 0.0


def measure(
    run: Runner, queries: list[SearchQuery], per_query: int, pid: int, idle: float
) -> Sample:
    for query in queries:  # warm-up, not counted
        run(query)
    took, wall, requests = [], [], 0
    started_cpu, started = cpu_s(pid), time.perf_counter()
    for _ in range(per_query):
        for query in queries:
            at = time.perf_counter()
            sent = run(query)
            wall.append((time.perf_counter() - at) * 1000)
            took.append(sent.took_ms)
            requests += sent.requests
    elapsed = time.perf_counter() - started
    used = cpu_s(pid) - started_cpu - idle * elapsed
    count = per_query * len(queries)
    return Sample(
        cpu_ms=max(used, 0.0) * 1000 / count,
        took=took,
        wall=wall,
        requests=requests / count,
        load=os.getloadavg()[0],
    )


def summarise(samples: list[Sample]) -> dict[str, Any]:
    took = [t for s in samples for t in s.took]
    wall = [w for s in samples for w in s.wall]
    return {
        "cpu_ms": round(statistics.median(s.cpu_ms for s in samples), 2),
        "cpu_ms_rounds": [round(s.cpu_ms, 2) for s in samples],
        "took_p50": round(pct(took, 0.5), 1),
        "took_p95": round(pct(took, 0.95), 1),
        "wall_p50": round(pct(wall, 0.5), 1),
        "wall_p95": round(pct(wall, 0.95), 1),
        "requests": round(samples[0].requests, 2),
        "load": round(statistics.median(s.load for s in samples), 1),
        "n": len(wall),
    }


def run_rounds(
    client: OpenSearch, alias: str, pid: int, args: argparse.Namespace
) -> dict[str, dict[str, Any]]:
    mix = classes(client, alias)
    all_runners = runners(client, alias, args.base)
    wanted = [name for name in all_runners if not args.variants or name in args.variants]
    samples: dict[tuple[str, str], list[Sample]] = {}
    idles = []
    for round_no in range(args.rounds):
        idle = idle_rate(pid)
        idles.append(idle)
        for class_name, queries in mix.items():
            order = wanted if round_no % 2 == 0 else list(reversed(wanted))
            for variant in order:
                sample = measure(all_runners[variant], queries, args.per_query, pid, idle)
                samples.setdefault((class_name, variant), []).append(sample)
                print(
                    f"round {round_no + 1} {class_name:>16} {variant:>16}: "
                    f"{sample.cpu_ms:7.2f} core-ms, load {sample.load:.1f}",
                    flush=True,
                )
    table: dict[str, dict[str, Any]] = {}
    for (class_name, variant), found in samples.items():
        table.setdefault(class_name, {})[variant] = summarise(found)
    table["_idle_cores"] = {"median": round(statistics.median(idles), 4)}
    return table


def run_clients(
    client: OpenSearch, alias: str, pid: int, args: argparse.Namespace
) -> dict[str, dict[str, Any]]:
    """``before`` and ``library`` with ``--clients`` threads at once, each sending every query
    of the mix ``--per-query`` times: wall p50/p95 per class, and the node's CPU per search."""
    from concurrent.futures import ThreadPoolExecutor

    mix = classes(client, alias)
    work = [(name, q) for name, queries in mix.items() for q in queries] * args.per_query
    found: dict[str, dict[str, Any]] = {}
    for variant in ("before", "library"):
        run = runners(client, alias, args.base)[variant]
        for _, query in work[: len(work) // args.per_query]:  # warm-up
            run(query)
        wall: dict[str, list[float]] = {}

        def one(item: tuple[str, SearchQuery], run: Runner = run) -> tuple[str, float]:
            at = time.perf_counter()
            run(item[1])
            return item[0], (time.perf_counter() - at) * 1000

        started_cpu, started = cpu_s(pid), time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            for name, ms in pool.map(one, work):
                wall.setdefault(name, []).append(ms)
        elapsed = time.perf_counter() - started
        found[variant] = {
            "cpu_ms": round((cpu_s(pid) - started_cpu) * 1000 / len(work), 2),
            "searches_per_s": round(len(work) / elapsed, 1),
            "load": round(os.getloadavg()[0], 1),
            "classes": {
                name: {"wall_p50": round(pct(v, 0.5), 1), "wall_p95": round(pct(v, 0.95), 1)}
                for name, v in wall.items()
            },
        }
        print(variant, args.clients, "clients:", found[variant], flush=True)
    return found


def render_clients(found: dict[str, Any], clients: int) -> list[str]:
    if not found:
        return []
    lines = [
        "",
        f"{clients} clients at once (wall p50 / p95 ms per class under that load; CPU per search "
        "over the whole mix):",
        "",
        "| class | " + " | ".join(found) + " |",
        "| --- |" + " --- |" * len(found),
    ]
    names = list(next(iter(found.values()))["classes"])
    for name in names:
        cells = [
            f"{v['classes'][name]['wall_p50']} / {v['classes'][name]['wall_p95']}"
            for v in found.values()
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append(
        "| core-ms per search, searches/s, load | "
        + " | ".join(
            f"{v['cpu_ms']}, {v['searches_per_s']}/s, load {v['load']}" for v in found.values()
        )
        + " |"
    )
    return lines


# --------------------------------------------------------------------------- report


def render(results: dict[str, Any]) -> str:
    meta, table = results["meta"], results["classes"]
    lines = [
        f"Search cost of {meta['at']}: {meta['jobs']:,} simulated jobs, one shard, force-merged, "
        f"on a node of its own ({meta['node']}); {meta['per_query']} searches per query per "
        f"round, {meta['rounds']} interleaved rounds, medians. Machine: {meta['machine']}, shared "
        f"(load average {meta['load_min']}-{meta['load_max']} during the run). The node's idle "
        f"rate ({meta['idle_cores']} cores) is taken out.",
        "",
        "core-ms = the node JVM's CPU (user + system) per search. `before` = the bodies as "
        "shipped before (with its 'did you mean' request when it sent one), `library` = "
        "`indexer.search.search` now (all requests it sends); the other columns are one "
        f"request of the {'body of `before`' if meta['base'] == 'before' else 'body now'} "
        "alone (`body`), and with one part removed or tuned (ratios to `before`). "
        "took and wall are p50 / p95 in ms under that load (not the quiet-machine latency)."
        + (
            " Today's body has no facet labels (they are looked up once per value), so its "
            "`-facet labels` column is the body again: a measure of the noise."
            if meta.get("base") == "now"
            else ""
        ),
        "",
    ]
    variants = list(next(iter(table.values())))
    lines += [
        "| class | " + " | ".join(variants) + " |",
        "| --- |" + " --- |" * len(variants),
    ]
    for class_name, row in table.items():
        base = row["before"]["cpu_ms"] or 1.0
        cells = [
            f"{row[v]['cpu_ms']:.1f}"
            + ("" if v == "before" else f" ({row[v]['cpu_ms'] / base:.2f})")
            for v in variants
        ]
        lines.append(f"| {class_name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "took and wall, p50 / p95 ms, and requests per search:",
        "",
        "| class | variant | took | wall | requests | load |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for class_name, row in table.items():
        for variant in ("before", "library"):
            if variant in row:
                cell = row[variant]
                lines.append(
                    f"| {class_name} | {variant} | {cell['took_p50']} / {cell['took_p95']} | "
                    f"{cell['wall_p50']} / {cell['wall_p95']} | {cell['requests']} | "
                    f"{cell['load']} |"
                )
    clients = results.get("clients", {})
    lines += render_clients(clients.get("variants", {}), clients.get("count", 0))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--per-query", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port", type=int, default=PORT, help="the bench's own node")
    parser.add_argument("--clients", type=int, default=8, help="then both at once (1: skip)")
    parser.add_argument("--keep", action="store_true", help="leave the index and the node up")
    parser.add_argument("--variants", type=lambda v: v.split(","), default=[])
    parser.add_argument("--out", type=Path, default=REPO / "bench")
    parser.add_argument(
        "--base",
        choices=("now", "before"),
        default="now",
        help="the body the ablations start from: today's (results in search_results.*) or the "
        "one shipped before (search_ablation.*)",
    )
    args = parser.parse_args()
    url = node_script("start", args.port).splitlines()[-1]
    pid = node_pid(args.port)
    client = OpenSearch(url, timeout=300)
    base = f"cost-{args.jobs}"
    names = index_names(base)
    load_s = None
    try:
        if not client.indices.exists_alias(name=names.read_alias):
            load_s = load_world(client, base, args.jobs)
        started, ticks = os.getloadavg()[0], (ticks_s(pid), cpu_s(pid))
        table = run_rounds(client, names.read_alias, pid, args)
        concurrent = run_clients(client, names.read_alias, pid, args) if args.clients > 1 else {}
        idle = table.pop("_idle_cores")["median"]
        ticks_vs_schedstat = (ticks_s(pid) - ticks[0]) / max(cpu_s(pid) - ticks[1], 1e-9)
        loads = [started, os.getloadavg()[0]] + [
            cell["load"] for row in table.values() for cell in row.values()
        ]
        results = {
            "meta": {
                "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "jobs": args.jobs,
                "per_query": args.per_query,
                "rounds": args.rounds,
                "load_s": load_s,
                "load_min": round(min(loads), 1),
                "load_max": round(max(loads), 1),
                "idle_cores": idle,
                "ticks_vs_schedstat": round(ticks_vs_schedstat, 3),
                "node": f"OpenSearch {client.info()['version']['number']}, 1 GB heap, {url}",
                "machine": f"{CORES} cores, Python {platform.python_version()}",
            },
            "classes": table,
            "clients": {"count": args.clients, "variants": concurrent},
        }
        stem = "search_results" if args.base == "now" else "search_ablation"
        results["meta"]["base"] = args.base
        (args.out / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
        (args.out / f"{stem}.md").write_text(render(results) + "\n")
        print(render(results))
    finally:
        if not args.keep:
            with contextlib.suppress(Exception):
                client.indices.delete(index=f"{base}*", expand_wildcards="all")
                client.indices.delete_index_template(name=f"{base}*", ignore=[404])
            node_script("stop", args.port)


if __name__ == "__main__":
    main()
