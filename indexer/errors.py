"""The one error root of the library, its exit codes, and the one place that maps errors to codes.

Every command exits with one of the :class:`ExitCode` values (documented in the README's
operations section), so a scheduler can tell "try again later" from "a human must act". Every
exception the library raises derives from :class:`IndexerError` and carries its ``exit_code``;
:func:`exit_code_for` is the only mapping from an exception to a code, and every CLI command goes
through it (``indexer.cli.failures``).

The tree (exit code in brackets; a subclass inherits its parent's code unless it names its own)::

    IndexerError [1]
    ├── UsageError [2]                       bad input: an option, a URL, a query, a file
    │   ├── ConnectionSettingsError [2]      (store.connection) -> AwsExtraMissingError
    │   ├── SearchError [2]                  (search) -> UnknownCityError
    │   ├── DashboardsError [2]              (dashboards)
    │   └── FaultSpecError [2]               (simulator.faults)
    ├── SyncError [per instance]             a flow failed; the message says what to do
    │   ├── CreditsShortError [4]            (sync.credits) a full scan the wallet cannot pay
    │   ├── DeletionRefusedError [8]         incomplete evidence or too large an expiry
    │   ├── ErrorBudgetExceededError [7]     OpenSearch refused too many documents
    │   ├── LockLostError [1]                (store.state) the lease was taken over
    │   ├── OpenSearchConnectionError [6]    (store.connection) wrong password, bad cert, down
    │   └── SchemaError [6]                  (store.layout) -> NotInitialisedError [2],
    │                                                          MigrationError (store.migrate)
    ├── LockHeldError [3]                    (store.state) another run holds the lease
    ├── StateConflictError [1]               (store.state) a concurrent state write
    ├── BulkWriteError [6]                   (store.bulk) -> IndexBlockedError, DeadLetterWriteError
    ├── PointInTimeUnavailableError [6]      (store.scan)
    ├── JoboError [5]                        (feed.errors) the upstream API
    │   ├── JoboAuthError [4], JoboCreditsError [4], JoboForbiddenError [4]
    │   └── JoboUnavailableError, JoboBadRequestError, JoboCursorError, ... [5]
    ├── RetriesExhaustedError [1]            (retry) internal: callers turn it into their own
    ├── InvalidJob [1]                       (transform) dead-lettered, never escapes a run
    └── FxTableError, SynonymsError [1]      (currency, store.synonyms)
                                             programming or packaging faults

Errors that are also a ``ValueError`` (usage errors, ``InvalidJob``) keep that base too, so callers
that catch ``ValueError`` keep working. OpenSearch client exceptions that escape unwrapped map to
``OPENSEARCH_FAILED``; anything else to ``FAILED``.
"""

from __future__ import annotations

from enum import IntEnum

from opensearchpy.exceptions import OpenSearchException


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # unexpected error: read the message and the log
    USAGE = 2  # bad option or configuration (click uses 2 too)
    LOCKED = 3  # another run holds the lock: nothing was done
    UPSTREAM_REFUSED = 4  # 401/402/403 from the Jobo API: fix the key, the plan or the credits
    UPSTREAM_UNAVAILABLE = 5  # the Jobo API kept failing after bounded retries; next run resumes
    OPENSEARCH_FAILED = 6  # OpenSearch unreachable, blocked or rejecting writes: state did not move
    ERROR_BUDGET = 7  # too many documents failed (see the dead letters): no deletion was made
    DELETION_REFUSED = 8  # incomplete evidence or too large an expiry: nothing was expired
    CREDIT_CAP = 9  # stopped before a page --max-credits could not pay for; next run resumes


class IndexerError(Exception):
    """The root of every exception of the library; ``exit_code`` says how a command ends."""

    exit_code: ExitCode = ExitCode.FAILED
    outcome: str = "failed"  # the run record's outcome


class UsageError(IndexerError):
    """The input (an option, a URL, a query, a file) cannot be used; the message names the fix."""

    exit_code = ExitCode.USAGE


class SyncError(IndexerError):
    """A flow failed in a way the operator must hear about; ``exit_code`` says which way."""

    def __init__(self, message: str, *, exit_code: ExitCode | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class DeletionRefusedError(SyncError):
    exit_code = ExitCode.DELETION_REFUSED


class ErrorBudgetExceededError(SyncError):
    exit_code = ExitCode.ERROR_BUDGET


def exit_code_for(error: BaseException) -> ExitCode:
    """THE mapping from an exception to the exit code of the command it ended."""
    if isinstance(error, IndexerError):
        return error.exit_code
    if isinstance(error, OpenSearchException):
        return ExitCode.OPENSEARCH_FAILED
    return ExitCode.FAILED
