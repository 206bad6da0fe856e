"""The one retry primitive (bounds, backoff, Retry-After) and the one error root with its exit
codes. Waits are recorded, never slept."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from opensearchpy.exceptions import ConnectionError as OSConnectionError

import indexer
from indexer.errors import ExitCode, IndexerError, SyncError, exit_code_for
from indexer.retry import RetriesExhaustedError, RetryPolicy, retry_call


class Flaky:
    """Fails ``failures`` times with ``error``, then returns ``"done"``."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "done"


def test_retry_call_backs_off_exponentially_then_succeeds() -> None:
    waits: list[float] = []
    policy = RetryPolicy(base_backoff=1.0, max_wait=3.0, sleep=waits.append, rand=lambda: 0.0)
    flaky = Flaky(3, TimeoutError("slow"))
    assert retry_call(flaky, policy, retryable=lambda e: isinstance(e, TimeoutError)) == "done"
    assert waits == [1.0, 2.0, 3.0]  # doubling, capped at max_wait
    assert flaky.calls == 4


def test_the_server_wait_replaces_the_backoff_and_is_capped() -> None:
    waits: list[float] = []
    policy = RetryPolicy(max_wait=10.0, sleep=waits.append)
    hints = iter([4.0, 3600.0])
    retry_call(
        Flaky(2, TimeoutError()),
        policy,
        retryable=lambda e: True,
        server_wait=lambda e: next(hints),
    )
    assert waits == [4.0, 10.0]


def test_a_failure_that_is_not_retryable_propagates_as_itself_at_once() -> None:
    waits: list[float] = []
    flaky = Flaky(5, KeyError("no"))
    with pytest.raises(KeyError):
        retry_call(flaky, RetryPolicy(sleep=waits.append), retryable=lambda e: False)
    assert (flaky.calls, waits) == (1, [])


def test_exhaustion_names_the_attempts_and_keeps_the_last_failure() -> None:
    events: list[tuple[int, float]] = []
    policy = RetryPolicy(max_attempts=3, base_backoff=0.1, sleep=lambda _s: None, rand=lambda: 0)
    last = TimeoutError("still down")
    with pytest.raises(RetriesExhaustedError) as raised:
        retry_call(
            Flaky(10, last),
            policy,
            retryable=lambda e: True,
            on_retry=lambda attempt, _e, wait: events.append((attempt, wait)),
        )
    assert raised.value.attempts == 3
    assert raised.value.last is last
    assert raised.value.__cause__ is last
    assert events == [(1, 0.1), (2, 0.2)]


def test_the_total_budget_stops_before_a_wait_would_pass_it() -> None:
    waits: list[float] = []
    policy = RetryPolicy(max_total=10.0, max_wait=60.0, sleep=waits.append)
    with pytest.raises(RetriesExhaustedError) as raised:
        retry_call(
            Flaky(10, TimeoutError()), policy, retryable=lambda e: True, server_wait=lambda e: 6
        )
    assert waits == [6.0]
    assert raised.value.attempts == 2


def test_every_exception_class_of_the_library_derives_from_the_one_root() -> None:
    strays = []
    for info in pkgutil.walk_packages(indexer.__path__, "indexer."):
        if info.name.startswith("indexer.cli"):
            continue  # the CLI turns errors into exits; it defines none of the library's
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
                and not issubclass(value, IndexerError)
            ):
                strays.append(f"{info.name}.{name}")
    assert strays == []


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (SyncError("x", exit_code=ExitCode.LOCKED), ExitCode.LOCKED),
        (IndexerError("x"), ExitCode.FAILED),
        (OSConnectionError("N/A", "refused", None), ExitCode.OPENSEARCH_FAILED),
        (RuntimeError("a bug"), ExitCode.FAILED),
    ],
)
def test_one_mapping_from_an_error_to_its_exit_code(error: BaseException, code: ExitCode) -> None:
    assert exit_code_for(error) is code


def test_the_library_errors_carry_the_documented_exit_codes() -> None:
    from indexer.feed import JoboAuthError, JoboCreditsError, JoboUnavailableError
    from indexer.store.bulk import BulkWriteError, IndexBlockedError
    from indexer.store.connection import ConnectionSettingsError
    from indexer.store.state import LockHeldError

    assert JoboAuthError.exit_code is ExitCode.UPSTREAM_REFUSED
    assert JoboCreditsError.exit_code is ExitCode.UPSTREAM_REFUSED
    assert JoboUnavailableError.exit_code is ExitCode.UPSTREAM_UNAVAILABLE
    assert BulkWriteError.exit_code is IndexBlockedError.exit_code is ExitCode.OPENSEARCH_FAILED
    assert ConnectionSettingsError.exit_code is ExitCode.USAGE
    assert LockHeldError.exit_code is ExitCode.LOCKED
