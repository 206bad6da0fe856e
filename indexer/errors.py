"""Exit codes and the base error of the sync flows.

Every command exits with one of these codes (documented in the README's operations section), so a
scheduler can tell "try again later" from "a human must act".
"""

from __future__ import annotations

from enum import IntEnum


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


class SyncError(Exception):
    """A flow failed in a way the operator must hear about; ``exit_code`` says which way."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, *, exit_code: ExitCode | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class DeletionRefusedError(SyncError):
    exit_code = ExitCode.DELETION_REFUSED


class ErrorBudgetExceededError(SyncError):
    exit_code = ExitCode.ERROR_BUDGET
