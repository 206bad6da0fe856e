"""What follows a run's own work: webhook delivery of the new matches, and the change stream's
retention. Neither may fail or block the run: every error is logged and reported, and the
delivery has a time budget (:class:`~indexer.alerts.delivery.DeliveryConfig`)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from opensearchpy import OpenSearch

from indexer.alerts.delivery import DeliveryConfig, deliver
from indexer.logs import redact
from indexer.store.changes import ChangeStream
from indexer.store.layout import IndexNames
from indexer.timestamps import utcnow

log = logging.getLogger("indexer.alerts")


def after_run(
    client: OpenSearch,
    names: IndexNames,
    delivery: DeliveryConfig,
    *,
    retention_days: float | None,
) -> dict[str, Any]:
    """Purge change events past ``retention_days`` (None: keep them), then deliver; returns
    ``{"changes_purged", "delivered", "delivery_failed", "error"}`` for the run's report."""
    report: dict[str, Any] = {
        "changes_purged": 0,
        "delivered": 0,
        "delivery_failed": 0,
        "error": None,
    }
    try:
        if retention_days:
            cutoff = utcnow() - timedelta(days=retention_days)
            report["changes_purged"] = ChangeStream(client, names.changes).purge(cutoff)
        done = deliver(client, names, delivery)
        report["delivered"], report["delivery_failed"] = done.delivered, done.failed
        if done.errors:
            report["error"] = "; ".join(f"{name}: {text}" for name, text in done.errors.items())
    except Exception as exc:  # the run's own outcome stands whatever happens here
        report["error"] = redact(f"{type(exc).__name__}: {exc}")
        log.warning("alerts: after the run: %s", report["error"])
    return report
