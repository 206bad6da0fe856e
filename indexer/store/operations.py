"""What the sync writes, as plain data: the bulk operations, a dead letter, and the counts.

:class:`BulkResult` is the one set of counters of a write (and of a run: the flows' run summary
holds one); :class:`ErrorBudget` says when too many items failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

ERROR_SAMPLES_KEPT = 20

# ---------------------------------------------------------------------------------------------
# Operations (plain data)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IndexOp:
    """Index ``document`` under ``id`` with external version ``version`` (updated_at in ms).

    ``raw`` is the original job as received, kept only for the dead letter if the node rejects
    the document.
    """

    id: str
    version: int
    document: dict[str, Any]
    raw: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ExpireOp:
    """Mark a job expired: a scripted update setting ``status: expired`` and ``expired_at``.

    The update bumps the internal version by one, so a replay of the same ``updated_at`` then
    conflicts (stays expired) while a repost with a newer ``updated_at`` wins. Expiring a job that
    is already expired is a noop (``unchanged``) that keeps its first ``expired_at``, so the
    version moves at most once per expiry (a repost 1 ms newer than the last version would
    conflict; reposts stamp a new ``updated_at`` well past that).
    """

    id: str
    expired_at: str


@dataclass(frozen=True, slots=True)
class DeleteOp:
    """Delete the document (a 404 counts as ``missing``)."""

    id: str


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A job rejected before indexing (for example by the transform), written to the dead letters.

    ``stage`` names where it failed ("transform", "index", ...); ``raw`` is the job as received;
    ``field`` optionally names the offending field.
    """

    id: str
    reason: str
    stage: str
    raw: dict[str, Any] | None = None
    field: str | None = None


Operation = IndexOp | ExpireOp | DeleteOp | DeadLetter


# ---------------------------------------------------------------------------------------------
# Results, budget and errors
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ErrorBudget:
    """How many rejected items a run tolerates before the caller stops it.

    Exceeded when at least ``min_failures`` items failed AND they are more than ``max_fraction``
    of the items OpenSearch answered for.
    """

    max_fraction: float = 0.01
    min_failures: int = 10


@dataclass(slots=True)
class BulkResult:
    """Counts of one or more ``write`` calls.

    - ``indexed``: documents created or replaced (IndexOp 200/201).
    - ``unchanged``: version conflicts under external versioning (the stored document is newer or
      equal) and updates that changed nothing (expiring an already expired document).
    - ``expired``, ``deleted``: ExpireOp / DeleteOp applied.
    - ``missing``: ExpireOp / DeleteOp for a document that does not exist.
    - ``dead_lettered``: operations that ended in the dead-letter index: transform rejects
      (DeadLetter ops), item errors such as mapper_parsing_exception, and exhausted retries.
    - ``failed``: the subset of ``dead_lettered`` whose retries (429/5xx) were exhausted.
    - ``retries``: retry requests sent (whole-request retries plus item-retry rounds).
    - ``retried_items``: items re-sent by item-level retries (counted once per re-send).
    - ``bytes_sent``, ``requests``: ``_bulk`` bodies sent, including retries and dead letters.
    - ``error_samples``: the first few error reasons (at most 20), for run records and logs.
    """

    indexed: int = 0
    unchanged: int = 0
    expired: int = 0
    deleted: int = 0
    missing: int = 0
    dead_lettered: int = 0
    failed: int = 0
    retries: int = 0
    retried_items: int = 0
    bytes_sent: int = 0
    requests: int = 0
    error_samples: list[str] = field(default_factory=list)

    @property
    def acknowledged(self) -> int:
        """Operations with a final outcome (OpenSearch answered for each of them)."""
        return (
            self.indexed
            + self.unchanged
            + self.expired
            + self.deleted
            + self.missing
            + self.dead_lettered
        )

    def merge(self, other: BulkResult) -> BulkResult:
        """Add ``other``'s counts into this result (in place) and return this result."""
        for spec in fields(self):
            if spec.name == "error_samples":
                room = ERROR_SAMPLES_KEPT - len(self.error_samples)
                self.error_samples.extend(other.error_samples[: max(room, 0)])
            else:
                setattr(self, spec.name, getattr(self, spec.name) + getattr(other, spec.name))
        return self

    def exceeds(self, budget: ErrorBudget) -> bool:
        """True when the dead-lettered items exceed the error budget."""
        failures = self.dead_lettered
        if failures < budget.min_failures:
            return False
        return failures > budget.max_fraction * max(self.acknowledged, 1)

    def as_dict(self) -> dict[str, int]:
        """The counts as a plain dict (for run records), without the error samples."""
        counts = {spec.name: getattr(self, spec.name) for spec in fields(self)}
        counts.pop("error_samples")
        counts["acknowledged"] = self.acknowledged
        return counts

    def note_error(self, message: str) -> None:
        if len(self.error_samples) < ERROR_SAMPLES_KEPT:
            self.error_samples.append(message)
