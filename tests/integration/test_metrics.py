"""Metrics: the exposition text, the atomic textfile, the endpoint of ``run`` and the textfile of a
flow command, checked against the ``--json`` summaries of real runs (real node, simulator); run
records and JSON log lines of a failing and a successful run."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from opensearchpy import OpenSearch

from indexer.cli import main
from indexer.metrics import DOCUMENT_RESULTS, Metrics, parse_text
from indexer.simulator import start_simulator
from tests.support.e2e import Indexer, Sim, assert_exact

API_KEY = "metrics-secret-key-42"
REPO = Path(__file__).resolve().parents[2]
P = "jobo_indexer_"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(name, labels): value for name, labels, value in parse_text(text)}


def doc_count(parsed: dict, kind: str, result: str) -> float:
    return parsed[(P + "documents_total", (("kind", kind), ("result", result)))]


def summed(runs: list[dict[str, Any]], field: str) -> float:
    return sum(float(run.get(field) or 0) for run in runs)


def assert_counts_match(parsed: dict, runs: list[dict[str, Any]]) -> None:
    """Every counter of ``kind`` equals the sum of the runs' --json fields."""
    kind = runs[0]["kind"]
    for result in DOCUMENT_RESULTS:
        assert doc_count(parsed, kind, result) == summed(runs, result), result
    per_kind = (("kind", kind),)
    assert parsed[(P + "retries_total", per_kind)] == summed(runs, "retries")
    assert parsed[(P + "jobs_fetched_total", per_kind)] == summed(runs, "fetched")
    assert parsed[(P + "pages_total", per_kind)] == summed(runs, "pages")
    outcomes = {run["outcome"] for run in runs}
    for outcome in outcomes:
        expected = sum(1 for run in runs if run["outcome"] == outcome)
        assert parsed[(P + "runs_total", (("kind", kind), ("outcome", outcome)))] == expected
    assert parsed[(P + "run_duration_seconds_count", per_kind)] == len(runs)
    assert parsed[(P + "run_duration_seconds_sum", per_kind)] == pytest.approx(
        summed(runs, "duration_s")
    )


# -- unit: the text format --------------------------------------------------------------------


def test_render_has_help_type_and_parses_back() -> None:
    metrics = Metrics(clock=lambda: 1_000_000.0)
    run: dict[str, Any] = {"kind": "sync", "outcome": "success", "duration_s": 1.5}
    run.update(indexed=7, unchanged=3, expired=2, retries=4, fetched=10, pages=1)
    run["credits_balance"] = 12.5
    metrics.record_run(run, watermark="1970-01-12T13:40:00.000Z")  # 999600 s
    text = metrics.render()
    parsed = samples(text)
    assert_counts_match(parsed, [run])
    assert parsed[(P + "credits_balance", ())] == 12.5
    assert parsed[(P + "watermark_timestamp_seconds", ())] == 999_600
    assert parsed[(P + "lag_seconds", ())] == 400
    assert parsed[(P + "last_success_timestamp_seconds", (("kind", "sync"),))] == 1_000_000
    for line in text.splitlines():
        if line.startswith("# TYPE"):
            assert line.split()[3] in {"counter", "gauge", "summary"}
    # every sample belongs to a family announced before it
    announced: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE"):
            announced.add(line.split()[2])
        elif not line.startswith("#"):
            name = line.split("{")[0].split(" ")[0]
            assert name in announced or name.rsplit("_", 1)[0] in announced, line


def test_credits_of_the_last_run_and_of_the_next_full_scan_are_gauges() -> None:
    metrics = Metrics(clock=lambda: 10.0)
    metrics.record_run({"kind": "backfill", "outcome": "capped", "credits_spent": 200.5})
    metrics.record_run(
        {
            "kind": "backfill",
            "outcome": "success",
            "credits_spent": 100.5,
            "credits_balance": 9,
            "next_full_scan_credits": 500.0,
        }
    )
    parsed = samples(metrics.render())
    per_kind = (("kind", "backfill"),)
    assert parsed[(P + "credits_spent_total", per_kind)] == 301
    assert parsed[(P + "last_run_credits_spent", per_kind)] == 100.5
    assert parsed[(P + "next_full_scan_credits", ())] == 500
    assert parsed[(P + "runs_total", (("kind", "backfill"), ("outcome", "capped")))] == 1


def test_a_failed_run_counts_without_documents() -> None:
    metrics = Metrics(clock=lambda: 50.0)
    metrics.record_run({"kind": "resync", "outcome": "failed", "error": "boom"})
    parsed = samples(metrics.render())
    assert parsed[(P + "runs_total", (("kind", "resync"), ("outcome", "failed")))] == 1
    assert parsed[(P + "last_failure_timestamp_seconds", (("kind", "resync"),))] == 50
    assert (P + "last_success_timestamp_seconds", (("kind", "resync"),)) not in parsed
    assert (P + "credits_balance", ()) not in parsed


def test_label_values_are_escaped_and_parse_back() -> None:
    metrics = Metrics()
    metrics.inc(P + "runs_total", 1, (("kind", 'we"ird\\kind\nx'), ("outcome", "ok")))
    parsed = samples(metrics.render())
    assert parsed[(P + "runs_total", (("kind", 'we"ird\\kind\nx'), ("outcome", "ok")))] == 1


def test_parse_rejects_a_broken_line() -> None:
    with pytest.raises(ValueError, match="bad labels"):
        parse_text("jobo_indexer_runs_total{kind=sync} 1\n")
    with pytest.raises(ValueError, match="not a sample line"):
        parse_text("jobo_indexer_runs_total\n")
    with pytest.raises(ValueError, match="bad value"):
        parse_text("jobo_indexer_runs_total one\n")


def test_textfile_is_replaced_atomically_and_counters_continue(tmp_path: Path) -> None:
    path = tmp_path / "textfile" / "jobo.prom"
    first = Metrics()
    first.record_run({"kind": "sync", "outcome": "success", "indexed": 5, "duration_s": 1.0})
    first.write_textfile(path)
    second = Metrics()
    assert second.load_textfile(path)
    second.record_run({"kind": "backfill", "outcome": "success", "indexed": 9, "duration_s": 2})
    second.record_run({"kind": "sync", "outcome": "failed"})
    second.write_textfile(path)
    parsed = samples(path.read_text())
    assert doc_count(parsed, "sync", "indexed") == 5
    assert doc_count(parsed, "backfill", "indexed") == 9
    assert parsed[(P + "runs_total", (("kind", "sync"), ("outcome", "success")))] == 1
    assert parsed[(P + "runs_total", (("kind", "sync"), ("outcome", "failed")))] == 1
    assert [p.name for p in path.parent.iterdir()] == ["jobo.prom"]  # no temp file left
    assert oct(path.stat().st_mode & 0o777) == "0o644"


def test_a_garbled_textfile_is_set_aside(tmp_path: Path) -> None:
    path = tmp_path / "jobo.prom"
    path.write_text("this is not { prometheus\n")
    metrics = Metrics()
    assert not metrics.load_textfile(path)
    assert (tmp_path / "jobo.prom.bad").exists()
    assert not path.exists()


# -- integration: real runs -------------------------------------------------------------------


@pytest.fixture
def env(opensearch_url: str, unique_name, tmp_path: Path) -> Iterator[Indexer]:
    running = start_simulator(jobs=400, seed=11, api_key=API_KEY, retry_after=0, subscription=True)
    try:
        yield Indexer(opensearch_url, Sim(running.url, API_KEY), unique_name("met"), tmp_path / "w")
    finally:
        running.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.integration
def test_run_serves_metrics_that_match_the_json_summaries(
    env: Indexer, os_client: OpenSearch, tmp_path: Path
) -> None:
    port = free_port()
    textfile = tmp_path / "prom" / "jobo.prom"
    args = env.args("run", "--max-cycles", "2", "--every", "1m", "--json")
    args += ["--metrics-port", str(port), "--metrics-file", str(textfile)]
    child = subprocess.Popen(
        [sys.executable, "-m", "indexer", *args],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert child.stdout is not None
        first = json.loads(child.stdout.readline())
        # Between the two cycles (1 min, the shortest --every): the endpoint shows the first run.
        answer = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        scraped = samples(answer.text)
        assert requests.get(f"http://127.0.0.1:{port}/nope", timeout=5).status_code == 404
        env.sim.mutate(create=12, update=8, expire=5)
        second = json.loads(child.stdout.readline())
        assert child.wait(timeout=120) == 0
    finally:
        child.kill()
        child.wait()
    assert first["kind"] == second["kind"] == "sync"
    assert first["outcome"] == second["outcome"] == "success"
    assert first["indexed"] == 400  # the first sync ran the backfill
    assert second["indexed"] == 20
    assert second["expired"] == 5
    assert_counts_match(scraped, [first])
    assert (P + "lag_seconds", ()) in scraped
    assert scraped[(P + "lag_seconds", ())] >= 0
    assert_counts_match(samples(textfile.read_text()), [first, second])
    assert_exact(os_client, env.base, env.sim)


@pytest.mark.integration
def test_flow_commands_write_the_textfile_with_the_counts_of_each_run(
    env: Indexer, tmp_path: Path
) -> None:
    textfile = tmp_path / "jobo.prom"
    backfill = env.run("backfill", "--batch-size", "150", "--metrics-file", str(textfile))
    after_backfill = samples(textfile.read_text())
    assert_counts_match(after_backfill, [backfill])
    assert backfill["pages"] == 3
    env.sim.mutate(create=3, expire=2)
    sync = env.run("sync", "--metrics-file", str(textfile))
    parsed = samples(textfile.read_text())
    assert_counts_match(parsed, [backfill])  # the backfill's series are kept
    assert_counts_match(parsed, [sync])
    assert doc_count(parsed, "sync", "expired") == 2
    watermark = parsed[(P + "watermark_timestamp_seconds", ())]
    assert watermark > after_backfill[(P + "watermark_timestamp_seconds", ())]
    env.sim.fault(path="/api/jobs/expired", status=500, times=50)
    env.run("expire", "--upstream-retries", "1", "--metrics-file", str(textfile), expect=5)
    parsed = samples(textfile.read_text())
    assert parsed[(P + "runs_total", (("kind", "expire"), ("outcome", "failed")))] == 1
    assert (P + "last_failure_timestamp_seconds", (("kind", "expire"),)) in parsed


@pytest.mark.integration
def test_run_records_and_json_logs_of_a_failing_and_a_successful_run(
    env: Indexer, os_client: OpenSearch
) -> None:
    # after=2: the backfill's 1-job cost estimate, then its first page, succeed
    env.sim.fault(path="/api/jobs/feed", status=500, times=100, after=2)
    runner = CliRunner()
    failing = runner.invoke(
        main,
        env.args(
            *("backfill", "--batch-size", "100", "--upstream-retries", "2"),
            *("--upstream-backoff", "0", "--log-format", "json", "--json"),
        ),
    )
    assert failing.exit_code == 5, failing.output
    env.sim.call("DELETE", "/_sim/faults")
    succeeding = runner.invoke(
        main, env.args("backfill", "--batch-size", "100", "--log-format", "json", "--json")
    )
    assert succeeding.exit_code == 0, succeeding.output
    for result in (failing, succeeding):
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert lines, "no log lines"
        for line in lines:
            entry = json.loads(line)
            assert {"ts", "level", "logger", "message"} <= set(entry), line
            assert API_KEY not in line
    assert any(json.loads(x)["level"] == "error" for x in failing.stderr.splitlines() if x)
    os_client.indices.refresh(index=f"{env.base}-indexer-runs")
    hits = os_client.search(
        index=f"{env.base}-indexer-runs", body={"size": 10, "sort": [{"started_at": "asc"}]}
    )["hits"]["hits"]
    records = [hit["_source"] for hit in hits]
    assert [r["outcome"] for r in records] == ["failed", "success"]
    failed, success = records
    for record in records:
        assert record["kind"] == "backfill"
        assert record["started_at"] <= record["ended_at"]
        assert record["duration_ms"] >= 0
    assert failed["errors"]
    assert "500" in failed["errors"][0]
    assert failed["error_count"] == 1
    assert failed["counts"]["pages"] == 1  # the page before the fault was acknowledged
    assert success["errors"] == []
    success_summary = json.loads(succeeding.stdout.strip().splitlines()[-1])
    for field in ("fetched", "indexed", "unchanged", "pages", "retries"):
        assert success["counts"][field] == success_summary[field], field
    assert success["counts"]["indexed"] + failed["counts"]["indexed"] == 400
    assert API_KEY not in json.dumps(records)
