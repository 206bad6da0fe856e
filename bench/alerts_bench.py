"""What alerts and the change stream cost a backfill, side by side on the same feed and node.

Variants, interleaved in each round (each on a fresh index base, the searches saved first):

- baseline: ``backfill --no-change-stream`` with no saved search (nothing is matched);
- alerts-100 / alerts-1000: the same with 100 / 1,000 saved searches, so what the backfill
  writes is matched against them (passes every ``alerts_pass_jobs`` new versions and at the end);
- changes: the change stream on, no saved search (one event per job);
- changes+alerts-100: both.

The saved searches mix what users save: two words of a title narrowed by a workplace type, a
seniority and a country, a radius around a city or a salary floor (and one in five with no
words: a radius and a salary floor).
Reported per variant (medians over the rounds): jobs/s, the ratio to the baseline of the same
round, and the CPU per job of the indexer and of the node (core-ms, from rusage and /proc).

    .venv/bin/python bench/alerts_bench.py [--jobs 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from run import (  # noqa: E402
    API_KEY,
    CpuMeter,
    Simulator,
    drop,
    listening_pid,
    machine,
    per_job_ms,
    run_indexer,
)

from indexer.alerts import save  # noqa: E402
from indexer.search import GeoPoint, SearchQuery  # noqa: E402
from indexer.simulator.world import FeedQuery, World, wall_clock_ms  # noqa: E402
from indexer.store import schema  # noqa: E402
from indexer.store.connection import connect  # noqa: E402

VARIANTS: dict[str, tuple[bool, int]] = {  # name -> (change stream, saved searches)
    "baseline": (False, 0),
    "alerts-100": (False, 100),
    "alerts-1000": (False, 1000),
    "changes": (True, 0),
    "changes+alerts-100": (True, 100),
}


def saved_searches(count: int, seed: int = 7) -> list[SearchQuery]:
    """``count`` searches of the kinds users save, drawn from a simulated world's jobs."""
    world = World(seed=seed, jobs=600, anchor_ms=wall_clock_ms(), expired_jobs=0)
    jobs = [
        orjson.loads(raw) for raw in world.feed_page(FeedQuery(), None, 600, with_total=False).jobs
    ]
    rng = random.Random(seed)
    places = [
        loc for job in jobs for loc in job.get("locations") or [] if loc.get("latitude") is not None
    ]
    searches = []
    for number in range(count):
        job = rng.choice(jobs)
        words = job["title"].split()
        kind = number % 5
        query = SearchQuery()
        # Most alerts name what they want in two words of a title, then narrow it.
        if kind != 4:
            query.text = " ".join(rng.sample(words, min(len(words), 2)))
        if kind in (0, 3):
            query.workplace_type = [rng.choice(["remote", "hybrid", "onsite"])]
        if kind == 1:
            query.experience_level = [rng.choice(["mid", "senior", "lead"])]
            query.country = [rng.choice(places)["country"]]
        if kind in (2, 4):
            place = rng.choice(places)
            query.near = GeoPoint(place["latitude"], place["longitude"])
            query.radius = rng.choice(["25km", "50km", "100km"])
        if kind in (3, 4):
            query.salary_min = rng.choice([60_000, 90_000, 120_000, 150_000])
        searches.append(query)
    return searches


def one_variant(
    name: str, args: argparse.Namespace, sim: Simulator, env: dict[str, str], meter: CpuMeter
) -> dict[str, Any]:
    changes, count = VARIANTS[name]
    client = connect(env["OPENSEARCH_URL"])
    base = f"bench-alerts-{name.replace('+', '-')}"
    drop(client, base)
    schema.ensure_initialised(client, base)
    names = schema.index_names(base)
    for number, query in enumerate(saved_searches(count)):
        save(client, names, f"s{number:04d}", query)
    flags = [] if changes else ["--no-change-stream"]
    run, cpu = run_indexer(
        "backfill", "--index", base, "--batch-size", "1000", *flags, env=env, meter=meter
    )
    summary = run.summary
    jobs = int(summary["indexed"])
    matches = 0
    if count:
        client.indices.refresh(index=names.alert_matches)
        matches = int(client.count(index=names.alert_matches)["count"])
    drop(client, base)
    return {
        "jobs": jobs,
        "jobs_per_s": jobs / summary["duration_s"],
        "duration_s": summary["duration_s"],
        "cpu_ms_per_job": per_job_ms(cpu, jobs),
        "matches": matches,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--out", type=Path, default=REPO / "bench")
    args = parser.parse_args()
    url = os.environ.get("OPENSEARCH_URL", "http://127.0.0.1:9200")
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    chosen = [v for v in args.variants.split(",") if v]
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in chosen}
    started = datetime.now(UTC)
    with Simulator(args.jobs) as sim:
        env = {
            **os.environ,
            "OPENSEARCH_URL": url,
            "JOBO_BASE_URL": sim.url,
            "JOBO_API_KEY": API_KEY,
            "PYTHONPATH": str(REPO),
        }
        meter = CpuMeter({"opensearch": listening_pid(port), "simulator": sim.process.pid})
        for round_number in range(args.repeat):
            order = chosen if round_number % 2 == 0 else list(reversed(chosen))
            for name in order:
                result = one_variant(name, args, sim, env, meter)
                rounds[name].append(result)
                print(
                    f"round {round_number + 1} {name}: {result['jobs_per_s']:.0f} jobs/s, "
                    f"{result['matches']} matches",
                    flush=True,
                )
    results = summarise(rounds, args, started)
    (args.out / "alerts-results.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "alerts-results.md").write_text(markdown(results))
    print(markdown(results))


def summarise(
    rounds: dict[str, list[dict[str, Any]]], args: argparse.Namespace, started: datetime
) -> dict[str, Any]:
    baseline = rounds.get("baseline") or []
    variants = {}
    for name, results in rounds.items():
        ratios = [
            r["jobs_per_s"] / b["jobs_per_s"] for r, b in zip(results, baseline, strict=False)
        ]
        cpu = {
            process: statistics.median(r["cpu_ms_per_job"].get(process, 0.0) for r in results)
            for process in ("indexer", "opensearch", "simulator", "total")
        }
        variants[name] = {
            "jobs_per_s": statistics.median(r["jobs_per_s"] for r in results),
            "ratio_to_baseline": statistics.median(ratios) if ratios else None,
            "ratios": ratios,
            "cpu_ms_per_job": cpu,
            "matches": statistics.median(r["matches"] for r in results),
        }
    return {
        "at": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "jobs": args.jobs,
        "repeat": args.repeat,
        "variants": variants,
    }


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"Alerts bench of {results['at']}: backfill of {results['jobs']:,} simulated jobs, "
        f"medians of {results['repeat']} interleaved rounds.",
        f"Machine: {results['machine']}.",
        "",
        "| variant | jobs/s | vs baseline (same round) | indexer core-ms/job | node core-ms/job "
        "| matches |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, v in results["variants"].items():
        ratio = v["ratio_to_baseline"]
        lines.append(
            f"| {name} | {v['jobs_per_s']:.0f} | "
            f"{'-' if ratio is None else f'{ratio:.3f}'} | {v['cpu_ms_per_job']['indexer']:.3f} | "
            f"{v['cpu_ms_per_job']['opensearch']:.3f} | {v['matches']:,.0f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
