"""The no-change resync next to a bare scan of the same feed, at two or more feed sizes.

For each size, in one run against the local node and a fresh feed simulator:

1. the simulator builds its world (time and RSS reported);
2. the index is loaded: by ``jobo-indexer backfill`` (``--load backfill``), or, the default, with
   each job's bookkeeping fields only (``id``, ``updated_at``, ``status``, ``indexed_at``, at
   the same external version): what a no-change resync reads of the index, at a fraction of the
   load time (a backfill of 1,000,000 jobs takes ~15 min on this machine);
3. rounds, interleaved: a *bare scan* (a child process that pages the whole feed with requests
   and decodes every page with orjson, nothing else: the floor any resync stands on), then
   ``jobo-indexer resync`` with nothing changed.

Every child is measured the same way: wall time, CPU time (user + system, from ``wait4``), peak
RSS, and the bytes it made the kernel write (``write_bytes`` of ``/proc/self/io``, read by the
child at exit). The resync's log lines are timestamped as they arrive, which gives each phase's
length and the longest silence between two lines. Results go to ``bench/resync-results.json`` and
``bench/resync-results.md``.

    .venv/bin/python bench/resync_bench.py [--jobs 100000,200000] [--repeat 2]
    .venv/bin/python bench/resync_bench.py --jobs 100000 --repeat 1 --profile .cache/prof \
        --name resync-profile   # py-spy stacks of the resync, every thread
"""

from __future__ import annotations

import argparse
import atexit
import itertools
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

from run import API_KEY, Simulator, drop, machine  # noqa: E402

BASE = "bench-resync"


@dataclass
class Measured:
    """One child process: what it cost."""

    wall_s: float
    cpu_s: float
    peak_rss_mib: float
    write_bytes: int
    jobs: int = 0
    longest_silence_s: float = 0.0
    phases: dict[str, list[float]] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    load_1m: float = 0.0  # the machine's 1-minute load average when the run started


# ---- child side ----------------------------------------------------------------------------


def _report_io_at_exit(path: str) -> None:
    def dump() -> None:
        io = dict(
            line.split(": ")
            for line in Path("/proc/self/io").read_text().splitlines()
            if ": " in line
        )
        Path(path).write_text(json.dumps({k: int(v) for k, v in io.items()}))

    atexit.register(dump)


def bare_scan(url: str) -> int:
    """Page the whole feed: one request per page, decode it, count the jobs. Nothing else."""
    session = requests.Session()
    headers = {"X-Api-Key": API_KEY, "Accept-Encoding": "gzip"}
    body: dict[str, Any] = {"batch_size": 1000, "stable_scan": True}
    jobs = 0
    while True:
        answer = session.post(
            f"{url}/api/jobs/feed", data=orjson.dumps(body), headers=headers, timeout=300
        )
        answer.raise_for_status()
        page = orjson.loads(answer.content)
        jobs += len(page["jobs"])
        cursor = page.get("next_cursor")
        if not page.get("has_more") or not cursor:
            return jobs
        body = {"cursor": cursor}


def child(argv: list[str]) -> None:
    io_file, mode, *rest = argv
    _report_io_at_exit(io_file)
    if mode == "bare-scan":
        print(json.dumps({"jobs": bare_scan(rest[0])}))
        return
    from indexer.cli import main

    sys.argv = ["jobo-indexer", mode, *rest]
    main()


# ---- parent side ---------------------------------------------------------------------------


def measure(
    args: list[str], env: dict[str, str], io_file: Path, profile: Path | None = None
) -> Measured:
    """Run this script as a child in ``args`` mode; time its log lines, wait4 its rusage.

    With ``profile``, the child runs under ``py-spy record`` (sampled from outside, every
    thread, idle frames included) and its collapsed stacks are written there."""
    load = os.getloadavg()[0]
    started = time.monotonic()
    spy = [str(Path(sys.executable).parent / "py-spy"), "record", "--threads", "--idle"]
    wrap = [*spy, "--rate", "50", "--format", "raw", "--output", str(profile), "--"]
    if profile is None:
        wrap = []
    process = subprocess.Popen(
        [*wrap, sys.executable, __file__, "--child", str(io_file), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    lines: list[tuple[float, str]] = []

    def read_stderr() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append((time.monotonic() - started, line.rstrip()))

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    assert process.stdout is not None
    out = process.stdout.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    reader.join()
    if process.returncode != 0:
        tail = "\n".join(text for _t, text in lines[-30:])
        raise SystemExit(f"{' '.join(args)} exited {process.returncode}:\n{tail}")
    io = json.loads(io_file.read_text())
    # The child's --json line is its last one starting with "{" (py-spy prints after it).
    result = json.loads(next(t for t in reversed(out.strip().splitlines()) if t.startswith("{")))
    stamps = [0.0, *(t for t, _text in lines), wall]
    return Measured(
        wall_s=round(wall, 2),
        cpu_s=round(usage.ru_utime + usage.ru_stime, 2),
        peak_rss_mib=round(usage.ru_maxrss / 1024, 1),
        write_bytes=int(io.get("write_bytes", 0)),
        jobs=int(result.get("jobs", result.get("fetched", 0))),
        longest_silence_s=round(max(b - a for a, b in itertools.pairwise(stamps)), 1),
        phases=_phases(lines),
        summary={k: result[k] for k in ("written", "unchanged", "fetched") if k in result},
        load_1m=round(load, 2),
    )


def _phases(lines: list[tuple[float, str]]) -> dict[str, list[float]]:
    """Each progress label's first and last line, in seconds from the start:
    ``{"resync: index read": [0.9, 6.2], "resync": [1.0, 15.1], ...}``."""
    seen: dict[str, list[float]] = {}
    for stamp, text in lines:
        found = _PROGRESS.search(text)
        if found:
            span = seen.setdefault(found.group(1), [round(stamp, 1), round(stamp, 1)])
            span[1] = round(stamp, 1)
    return seen


# "... indexer.progress: resync: index read: 5,000/100,000 (5%) ..." -> "resync: index read"
_PROGRESS = re.compile(r"indexer\.progress: (.+?): [\d,]+[/ ]")


def one_size(
    jobs: int, repeat: int, env: dict[str, str], work: Path, load: str, profile: Path | None = None
) -> dict[str, Any]:
    client_env = dict(env)
    out: dict[str, Any] = {"jobs": jobs}
    built = time.monotonic()
    with Simulator(jobs) as sim:
        out["simulator_build_s"] = round(time.monotonic() - built, 1)
        out["simulator_rss_mib"] = round(_rss_of(sim.process.pid) / 1024, 1)
        client_env["JOBO_BASE_URL"] = sim.url
        print(
            f"[{jobs:,}] simulator up in {out['simulator_build_s']} s, "
            f"{out['simulator_rss_mib']} MiB",
            flush=True,
        )
        drop_index(env)
        started = time.monotonic()
        if load == "backfill":
            loaded = measure(
                ["backfill", "--index", BASE, "--json", "--no-progress"],
                client_env,
                work / "io.json",
            )
            out["backfill"] = asdict(loaded)
        else:
            load_bookkeeping(env["OPENSEARCH_URL"], sim.url)
        out["load"] = {"how": load, "s": round(time.monotonic() - started, 1)}
        print(f"[{jobs:,}] index loaded ({load}) in {out['load']['s']} s", flush=True)
        rounds: dict[str, list[Measured]] = {"bare": [], "resync": []}
        for number in range(repeat):
            bare = measure(["bare-scan", sim.url], client_env, work / "io.json")
            rounds["bare"].append(bare)
            resync = measure(
                ["resync", "--index", BASE, "--json", "--no-progress", "--work-dir", str(work)],
                client_env,
                work / "io.json",
                profile / f"resync-{jobs}-{number + 1}.txt" if profile else None,
            )
            rounds["resync"].append(resync)
            print(
                f"[{jobs:,}] round {number + 1}: bare scan {bare.wall_s} s ({bare.cpu_s} CPU s), "
                f"resync {resync.wall_s} s ({resync.cpu_s} CPU s, {resync.peak_rss_mib} MiB, "
                f"{resync.write_bytes / max(jobs, 1):.0f} B/job written, longest silence "
                f"{resync.longest_silence_s} s, wrote {resync.summary.get('written')}; load "
                f"{bare.load_1m} / {resync.load_1m})",
                flush=True,
            )
        out["rounds"] = {name: [asdict(m) for m in ms] for name, ms in rounds.items()}
        out["median"] = {
            name: {
                key: statistics.median(getattr(m, key) for m in ms)
                for key in ("wall_s", "cpu_s", "peak_rss_mib", "write_bytes", "longest_silence_s")
            }
            for name, ms in rounds.items()
        }
        ratios = [
            r.wall_s / b.wall_s for b, r in zip(rounds["bare"], rounds["resync"], strict=True)
        ]
        out["resync_vs_bare"] = {
            "per_round": [round(x, 2) for x in ratios],
            "median": round(statistics.median(ratios), 2),
        }
        out["write_bytes_per_job"] = round(out["median"]["resync"]["write_bytes"] / jobs, 1)
    drop_index(env)
    return out


def load_bookkeeping(opensearch_url: str, sim_url: str) -> None:
    """Index every feed job's bookkeeping fields at its external version, like a backfill would
    (same index, same ``id`` keyword, same version), without the rest of the document."""
    from indexer.feed import FeedRequest, JoboClient
    from indexer.store import schema
    from indexer.store.connection import connect
    from indexer.timestamps import format_timestamp, utcnow

    client = connect(opensearch_url, timeout=300)
    schema.ensure_initialised(client, BASE)
    physical = schema.live_physical_index(client, BASE)
    schema.enter_bulk_load(client, physical)
    indexed_at = format_timestamp(utcnow())
    local = threading.local()

    def send(body: bytes) -> None:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        answer = session.post(
            f"{opensearch_url}/{BASE}-write/_bulk",
            data=body,
            headers={"content-type": "application/x-ndjson"},
            timeout=300,
        )
        answer.raise_for_status()
        if orjson.loads(answer.content)["errors"]:
            raise SystemExit("loading the bookkeeping fields had item errors")

    with JoboClient(sim_url, API_KEY) as jobo, ThreadPoolExecutor(2) as pool:
        sent = []
        for page in jobo.iter_feed(FeedRequest(batch_size=1000)):
            sent.append(pool.submit(send, _bookkeeping_bulk(page.jobs, indexed_at)))
            if len(sent) > 4:
                sent.pop(0).result()
        for future in sent:
            future.result()
    schema.exit_bulk_load(client, physical)
    client.indices.refresh(index=BASE)


def _bookkeeping_bulk(jobs: list[dict[str, Any]], indexed_at: str) -> bytes:
    from indexer.transform import version_of

    lines: list[bytes] = []
    for job in jobs:
        version = version_of(job)
        action = {"index": {"_id": job["id"], "version": version, "version_type": "external"}}
        lines.append(orjson.dumps(action))
        lines.append(
            orjson.dumps(
                {
                    "id": job["id"],
                    "updated_at": version,
                    "status": "active",
                    "indexed_at": indexed_at,
                }
            )
        )
    return b"\n".join(lines) + b"\n"


def drop_index(env: dict[str, str]) -> None:
    from indexer.store.connection import connect

    drop(connect(env["OPENSEARCH_URL"], timeout=120), BASE)


def _rss_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _loads(size: dict[str, Any]) -> str:
    """The load averages when each run of the size started: "0.4-2.1"."""
    loads = [r.get("load_1m", 0.0) for runs in size["rounds"].values() for r in runs]
    return f"{min(loads):.1f}-{max(loads):.1f}" if loads else "-"


def markdown(results: dict[str, Any]) -> str:
    rows = [
        "| jobs | bare scan | resync (no change) | resync / bare | resync CPU | peak RSS | "
        "written per job | longest silence | load average (1 min) | simulator build |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for size in results["sizes"]:
        m = size["median"]
        rows.append(
            f"| {size['jobs']:,} | {m['bare']['wall_s']:.1f} s | {m['resync']['wall_s']:.1f} s | "
            f"{size['resync_vs_bare']['median']:.2f}x {size['resync_vs_bare']['per_round']} | "
            f"{m['resync']['cpu_s']:.1f} s | {m['resync']['peak_rss_mib']:.0f} MiB | "
            f"{size['write_bytes_per_job']:,.0f} B | {m['resync']['longest_silence_s']:.1f} s | "
            f"{_loads(size)} | "
            f"{size['simulator_build_s']:.0f} s, {size['simulator_rss_mib']:.0f} MiB |"
        )
    scaling = results.get("scaling", {})
    phases = [
        f"- {size['jobs']:,} jobs, last resync round: "
        + ", ".join(
            f"{label} {first:.1f}-{last:.1f} s"
            for label, (first, last) in size["rounds"]["resync"][-1]["phases"].items()
        )
        for size in results["sizes"]
    ]
    lines = [
        f"# No-change resync vs a bare scan ({results['date']})",
        "",
        *([results["note"], ""] if results.get("note") else []),
        f"Machine: {results['machine']}. Medians of {results['repeat']} interleaved rounds "
        "per size; the ratio column also lists each round's own ratio (the noise).",
        "",
        *rows,
        "",
        "Phases (first and last progress line of each, seconds from the start of the process):",
        "",
        *phases,
        "",
        *(f"- {key}: {value}" for key, value in scaling.items()),
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--jobs", default="100000,200000,1000000", help="feed sizes, comma-separated"
    )
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--large-repeat", type=int, default=1, help="rounds for sizes above 200,000 jobs"
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench")
    parser.add_argument("--name", default="resync-results")
    parser.add_argument("--load", choices=("bookkeeping", "backfill"), default="bookkeeping")
    parser.add_argument("--note", default="", help="a paragraph for the results file's head")
    parser.add_argument(
        "--profile",
        type=Path,
        help="directory: run each resync under py-spy and keep its collapsed stacks there "
        "(slower; not for the timed results)",
    )
    args = parser.parse_args()
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    url = (
        os.environ.get("OPENSEARCH_URL")
        or subprocess.run(
            [str(REPO / "scripts" / "opensearch-local"), "start"],
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    work = REPO / ".cache" / "resync-bench"
    work.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "OPENSEARCH_URL": url,
        "JOBO_API_KEY": API_KEY,
        "JOBO_INDEXER_WORK_DIR": str(work),
        "PYTHONPATH": str(REPO),
    }
    results: dict[str, Any] = {
        "machine": machine(),
        "repeat": args.repeat,
        "load": args.load,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_before": os.getloadavg()[0],
        "note": args.note,
        "sizes": [],
    }
    for jobs in (int(j) for j in args.jobs.split(",")):
        repeat = args.repeat if jobs <= 200_000 else args.large_repeat
        results["sizes"].append(one_size(jobs, repeat, env, work, args.load, args.profile))
        save(results, args.out, args.name)  # what is measured so far survives an interrupt
    print(markdown(results))


def save(results: dict[str, Any], out: Path, name: str) -> None:
    sizes = results["sizes"]
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]

        def ratio(side: str, key: str) -> float:
            return round(large["median"][side][key] / small["median"][side][key], 2)

        pair = f"{large['jobs']:,} / {small['jobs']:,}"
        results["scaling"] = {
            f"jobs {pair}": round(large["jobs"] / small["jobs"], 2),
            f"resync time {pair}": ratio("resync", "wall_s"),
            f"resync CPU {pair}": ratio("resync", "cpu_s"),
            f"bare scan time {pair}": ratio("bare", "wall_s"),
            f"resync peak RSS {pair}": ratio("resync", "peak_rss_mib"),
        }
    results["load_after"] = os.getloadavg()[0]
    (out / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / f"{name}.md").write_text(markdown(results))


if __name__ == "__main__":
    main()
