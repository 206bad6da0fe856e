"""Which JSON library on the hot path: stdlib json, orjson or msgspec, measured on real pages.

Decodes 1,000-job feed pages from the simulator's world and encodes the transformed documents
as bulk lines, the two JSON steps of a backfill. Reports the median of repeated runs and the
ratio to orjson. Usage: .venv/bin/python bench/json_choice.py [--pages 5] [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from indexer.simulator import start_simulator
from indexer.transform import to_document

try:
    import msgspec
except ImportError:  # the bench extra installs it
    msgspec = None


def timed(func: Callable[[], Any], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    bodies: list[bytes] = []
    with start_simulator(jobs=args.pages * 1000, seed=42) as sim:
        import requests

        cursor = None
        for _ in range(args.pages):
            body = {"cursor": cursor} if cursor else {"batch_size": 1000}
            answer = requests.post(
                f"{sim.url}/api/jobs/feed",
                json=body,
                timeout=60,
                headers={"X-Api-Key": sim.api_key},
            )
            bodies.append(answer.content)
            cursor = orjson.loads(answer.content)["next_cursor"]
    now = datetime.now(UTC)
    documents = [
        to_document(job, indexed_at=now) for b in bodies for job in orjson.loads(b)["jobs"]
    ]
    decoders: dict[str, Callable[[bytes], Any]] = {"json": json.loads, "orjson": orjson.loads}
    encoders: dict[str, Callable[[Any], bytes]] = {
        "json": lambda d: json.dumps(d, ensure_ascii=False).encode(),
        "orjson": orjson.dumps,
    }
    if msgspec is not None:
        decoders["msgspec"] = msgspec.json.decode
        encoders["msgspec"] = msgspec.json.encode
    mb = sum(map(len, bodies)) / 1e6
    print(f"{len(bodies)} pages, {mb:.1f} MB of feed JSON, {len(documents)} documents")
    decode = {
        name: timed(lambda f=f: [f(b) for b in bodies], args.repeat) for name, f in decoders.items()
    }
    encode = {
        name: timed(lambda f=f: [f(d) for d in documents], args.repeat)
        for name, f in encoders.items()
    }
    print(
        f"{'library':<10} {'decode MB/s':>12} {'x orjson':>9} {'encode docs/s':>14} {'x orjson':>9}"
    )
    for name in decoders:
        print(
            f"{name:<10} {mb / decode[name]:>12,.0f} {decode['orjson'] / decode[name]:>9.2f} "
            f"{len(documents) / encode[name]:>14,.0f} {encode['orjson'] / encode[name]:>9.2f}"
        )


if __name__ == "__main__":
    main()
