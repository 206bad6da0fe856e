"""Webhook delivery on loopback: a receiver that fails its first deliveries still ends with every
match delivered, each batch signed; failures are recorded (never the secret) and reported."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from click.testing import CliRunner
from opensearchpy import OpenSearch

import indexer.cli.alerts  # noqa: F401 (registers the commands)
from indexer.alerts import DeliveryConfig, WriteRecorder, deliver, match_counts, save, verify
from indexer.alerts.delivery import IDEMPOTENCY_HEADER, SIGNATURE_HEADER
from indexer.cli import main
from indexer.retry import RetryPolicy
from indexer.search import SearchQuery
from indexer.store.bulk import BulkWriter, IndexOp
from indexer.store.layout import IndexNames
from indexer.store.schema import index_names, init_index
from indexer.sync.page_writer import page_operations
from indexer.timestamps import format_timestamp
from tests.integration.test_search_data import world_jobs

pytestmark = pytest.mark.integration

SECRET = "whsec-test-6c1f0e9a"


class Receiver:
    """A loopback webhook receiver that answers 503 to its first ``fail_first`` requests."""

    def __init__(self, fail_first: int) -> None:
        self.fail_first = fail_first
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.requests.append((dict(self.headers), body))
                    failing = len(receiver.requests) <= receiver.fail_first
                self.send_response(503 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def accepted(self) -> list[tuple[dict[str, str], bytes]]:
        with self.lock:
            return self.requests[self.fail_first :]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver(fail_first=7)
    yield running
    running.stop()


@pytest.fixture
def base(os_client: OpenSearch, unique_name: Callable[[str], str]) -> IndexNames:
    name = unique_name("hooks")
    init_index(os_client, name)
    return index_names(name)


def _record_matches(os_client: OpenSearch, names: IndexNames, jobs: list[dict[str, Any]]) -> None:
    recorder = WriteRecorder(os_client, names, run_kind="sync")
    ops = [op for op in page_operations(jobs, datetime.now(UTC)) if isinstance(op, IndexOp)]
    writer = BulkWriter(os_client, index=names.write_alias, dead_letter_index=names.dead_letters)
    recorder.write_page(ops, writer, scan_started_at=format_timestamp(datetime.now(UTC)))
    recorder.match_written(datetime.now(UTC), wait=True)
    recorder.close()


def test_a_failing_receiver_gets_every_match_signed_in_the_end(
    os_client: OpenSearch, base: IndexNames, receiver: Receiver
) -> None:
    save(os_client, base, "everything", SearchQuery(), webhook=receiver.url)
    jobs = world_jobs(230)
    _record_matches(os_client, base, jobs)
    quick = RetryPolicy(max_attempts=3, max_wait=0.0, max_total=5.0, sleep=lambda _s: None)
    config = DeliveryConfig(secret=SECRET, batch_size=100, policy=quick)

    first = deliver(os_client, base, config)  # 3 attempts, all 503: recorded, not raised
    assert first.delivered == 0
    assert first.failed == 100
    assert SECRET not in json.dumps(first.as_dict())
    counts = match_counts(os_client, base)["everything"]
    assert (counts["total"], counts["undelivered"], counts["failing"]) == (230, 230, 100)
    assert "HTTP 503" in counts["last_error"]
    status = CliRunner().invoke(
        main, ["alerts", "list", "--index", base.base, "--json"], catch_exceptions=False
    )
    assert json.loads(status.stdout)["searches"][0]["failing"] == 100

    second = deliver(os_client, base, config)  # 4 more 503s, then the receiver recovers
    third = deliver(os_client, base, config)
    assert first.delivered + second.delivered + third.delivered == 230
    assert match_counts(os_client, base)["everything"]["undelivered"] == 0

    delivered: list[str] = []
    keys: dict[str, str] = {}
    by_id = {job["id"]: job for job in jobs}
    for headers, body in receiver.accepted():
        assert verify(SECRET, body, headers.get(SIGNATURE_HEADER))
        assert not verify("another-secret", body, headers.get(SIGNATURE_HEADER))
        payload = json.loads(body)
        assert payload["search"] == "everything"
        assert headers[IDEMPOTENCY_HEADER] == payload["delivery_id"]
        keys[payload["delivery_id"]] = body.decode()
        delivered.extend(match["job_id"] for match in payload["matches"])
        for match in payload["matches"]:  # the job's details, read from the index at delivery
            job = by_id[match["job_id"]]
            assert match["title"] == job["title"]
            assert match["company"] == job["company"]["name"]
            assert match["listing_url"] == job["listing_url"]
    assert sorted(delivered) == sorted(job["id"] for job in jobs)  # each once, once accepted
    # A retried batch carried the key of its first attempt.
    failed_keys = {h[IDEMPOTENCY_HEADER] for h, _ in receiver.requests[: receiver.fail_first]}
    assert failed_keys & set(keys)
    stored = os_client.search(index=base.alert_matches, body={"size": 1000})["hits"]["hits"]
    assert SECRET not in json.dumps(stored)


def test_no_secret_means_nothing_is_sent_and_status_says_why(
    os_client: OpenSearch, base: IndexNames, receiver: Receiver
) -> None:
    save(os_client, base, "unsigned", SearchQuery(), webhook=receiver.url)
    _record_matches(os_client, base, world_jobs(5))
    report = deliver(os_client, base, DeliveryConfig(secret=None))
    assert report.delivered == 0
    assert "JOBO_ALERTS_WEBHOOK_SECRET" in report.errors["unsigned"]
    assert receiver.requests == []
    assert match_counts(os_client, base)["unsigned"]["failing"] == 5
