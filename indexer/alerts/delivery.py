"""Webhook delivery of alert matches: signed JSON batches, retried, at least once.

For each saved search with a webhook (its own, or the global ``JOBO_ALERTS_WEBHOOK_URL``), the
matches no receiver acknowledged yet are POSTed oldest first, in batches of ``batch_size``::

    {"search": NAME, "delivery_id": KEY, "matches": [{"job_id", "matched_at", "title", ...}]}

Headers: ``X-Jobo-Signature: sha256=<hex HMAC-SHA256 of the raw body with the secret>`` and
``Idempotency-Key: KEY`` (derived from the search and the batch's match ids, so a re-sent batch
carries the same key and a receiver can drop the copy). A 2xx answer marks the batch delivered;
connection errors, timeouts, 429 and 5xx are retried with backoff (:mod:`indexer.retry`,
honouring ``Retry-After``). A batch that still fails is recorded on its matches (``attempts``,
``failed_at``, ``last_error``) and reported by ``status``; it is tried again on the next run.
Delivery runs after a run's own work and never fails it.

The secret comes from ``JOBO_ALERTS_WEBHOOK_SECRET`` (or ``--webhook-secret-file``); it is never
stored, logged or put in an error. Without a secret nothing is sent (an unsigned alert could not
be told from a forged one): the matches wait, and ``status`` says why.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import requests
from opensearchpy import OpenSearch

from indexer.alerts.matches import mark_delivery, undelivered
from indexer.alerts.saved import load_all
from indexer.errors import IndexerError
from indexer.logs import redact, register_secret
from indexer.retry import RetriesExhaustedError, RetryPolicy, parse_retry_after, retry_call
from indexer.store.connection import redact_url
from indexer.store.layout import IndexNames
from indexer.timestamps import format_timestamp, utcnow

log = logging.getLogger("indexer.alerts")

SIGNATURE_HEADER = "X-Jobo-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
SECRET_ENV = "JOBO_ALERTS_WEBHOOK_SECRET"
URL_ENV = "JOBO_ALERTS_WEBHOOK_URL"
DEFAULT_BATCH = 100
_MATCH_FIELDS = ("job_id", "version", "matched_at", "written_at", "title", "company", "listing_url")


def sign(secret: str, body: bytes) -> str:
    """The signature header's value for ``body``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """What a receiver checks (constant time)."""
    return header is not None and hmac.compare_digest(sign(secret, body), header)


@dataclass
class DeliveryConfig:
    global_url: str | None = None
    secret: str | None = field(default=None, repr=False)
    batch_size: int = DEFAULT_BATCH
    timeout_s: float = 10.0
    budget_s: float = 120.0  # all deliveries of one call stop after this
    policy: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(max_attempts=5, max_wait=8.0, max_total=30.0)
    )

    def __post_init__(self) -> None:
        register_secret(self.secret)

    @classmethod
    def from_environment(cls, url: str | None = None) -> DeliveryConfig:
        """``url`` (else ``JOBO_ALERTS_WEBHOOK_URL``) and the secret of the environment."""
        return cls(
            global_url=url or os.environ.get(URL_ENV) or None,
            secret=os.environ.get(SECRET_ENV) or None,
        )


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: int = 0
    batches: int = 0
    errors: dict[str, str] = field(default_factory=dict)  # search -> last error (redacted)

    def as_dict(self) -> dict[str, Any]:
        return {
            "delivered": self.delivered,
            "failed": self.failed,
            "batches": self.batches,
            "errors": self.errors,
        }


class _Transient(IndexerError):  # noqa: N818 (a marker: retry this one)
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DeliveryFailedError(IndexerError):
    """A receiver refused a batch (a 4xx other than 429): retrying now cannot help."""


def batch_key(search: str, ids: list[str]) -> str:
    return hashlib.sha256("\x1f".join([search, *ids]).encode("utf-8")).hexdigest()[:32]


def _post(session: requests.Session, url: str, body: bytes, headers: dict[str, str], timeout):
    try:
        answer = session.post(url, data=body, headers=headers, timeout=timeout)
    except (requests.ConnectionError, requests.Timeout) as error:
        raise _Transient(f"{type(error).__name__} from {redact_url(url)}") from None
    if 200 <= answer.status_code < 300:
        return
    text = f"HTTP {answer.status_code} from {redact_url(url)}"
    if answer.status_code == 429 or answer.status_code >= 500:
        raise _Transient(text, parse_retry_after(answer.headers.get("Retry-After")))
    raise DeliveryFailedError(text)


def deliver(
    client: OpenSearch,
    names: IndexNames,
    config: DeliveryConfig,
    *,
    session: requests.Session | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> DeliveryReport:
    """Deliver every undelivered match of every saved search that has a webhook."""
    report = DeliveryReport()
    session = session or requests.Session()
    deadline = clock() + config.budget_s
    for search in load_all(client, names):
        url = search.webhook or config.global_url
        if not url:
            continue
        while clock() < deadline:
            batch = undelivered(client, names, search.name, config.batch_size)
            if not batch:
                break
            if not _deliver_batch(client, names, config, session, search.name, url, batch, report):
                break
    return report


def _deliver_batch(
    client: OpenSearch,
    names: IndexNames,
    config: DeliveryConfig,
    session: requests.Session,
    search: str,
    url: str,
    batch: list[tuple[str, dict[str, Any]]],
    report: DeliveryReport,
) -> bool:
    ids = [ident for ident, _ in batch]
    key = batch_key(search, ids)
    payload = {
        "search": search,
        "delivery_id": key,
        "matches": [{name: source.get(name) for name in _MATCH_FIELDS} for _, source in batch],
    }
    body = orjson.dumps(payload)
    report.batches += 1
    try:
        if not config.secret:
            raise DeliveryFailedError(
                f"no webhook secret: set {SECRET_ENV} (or --webhook-secret-file) so deliveries "
                "can be signed"
            )
        headers = {
            "content-type": "application/json",
            SIGNATURE_HEADER: sign(config.secret, body),
            IDEMPOTENCY_HEADER: key,
        }
        retry_call(
            lambda: _post(session, url, body, headers, config.timeout_s),
            config.policy,
            retryable=lambda error: isinstance(error, _Transient),
            server_wait=lambda error: getattr(error, "retry_after", None),
        )
    except (RetriesExhaustedError, DeliveryFailedError) as error:
        message = redact(str(error))
        report.failed += len(ids)
        report.errors[search] = message
        log.warning("alerts: delivery of %d matches of %r failed: %s", len(ids), search, message)
        mark_delivery(
            client,
            names,
            ids,
            failed_at=format_timestamp(utcnow()),
            error=message,
            attempts=1,
        )
        return False
    mark_delivery(client, names, ids, delivered_at=format_timestamp(utcnow()), attempts=1)
    report.delivered += len(ids)
    return True
