"""Unit tests of the Jobo client's retries against `responses`: Retry-After, bounded exponential
backoff, exhaustion, truncated bodies and transport errors. Waits are recorded, never slept."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime as http_date
from typing import Any

import orjson
import pytest
import requests
import responses

from indexer.feed import (
    EXPIRED_PATH,
    FEED_PATH,
    JoboAuthError,
    JoboClient,
    JoboUnavailableError,
    RetryEvent,
    RetryPolicy,
)
from indexer.retry import parse_retry_after

BASE = "https://jobo.test"
FEED_URL = BASE + FEED_PATH
EXPIRED_URL = BASE + EXPIRED_PATH
KEY = "sk-test-0123456789abcdef"
GOOD_PAGE = orjson.dumps({"jobs": [{"id": "a"}], "next_cursor": None, "has_more": False})


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


class Recorder:
    """Collects the waits the client asks for and the retry events it reports."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.events: list[RetryEvent] = []

    def client(self, **policy: Any) -> JoboClient:
        return JoboClient(
            BASE,
            KEY,
            retry=RetryPolicy(sleep=self.waits.append, **policy),
            on_retry=self.events.append,
        )


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


# ---- Retry-After -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retry_after", "expected_wait"),
    [
        pytest.param(503, "7", 7.0, id="503-seconds"),
        pytest.param(429, "2.5", 2.5, id="429-fractional"),
        pytest.param(503, None, 5.0, id="503-default"),
        pytest.param(429, "soon", 5.0, id="429-unparseable-default"),
        pytest.param(503, "3600", 60.0, id="503-capped"),
    ],
)
def test_retry_after_is_honoured_then_the_request_succeeds(
    rsps: responses.RequestsMock,
    rec: Recorder,
    status: int,
    retry_after: str | None,
    expected_wait: float,
) -> None:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    rsps.post(FEED_URL, status=status, json={"error": "busy"}, headers=headers)
    rsps.post(FEED_URL, body=GOOD_PAGE)
    client = rec.client()

    page = client.feed_page()

    assert [job["id"] for job in page.jobs] == ["a"]
    assert rec.waits == [expected_wait]
    assert rec.events == [RetryEvent(FEED_PATH, 1, status, expected_wait)]
    assert client.retries == 1
    assert len(rsps.calls) == 2


def test_retry_after_as_an_http_date_is_understood() -> None:
    now = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
    assert parse_retry_after(http_date(now + timedelta(seconds=30), usegmt=True), now=now) == 30
    assert parse_retry_after(http_date(now - timedelta(seconds=30), usegmt=True), now=now) == 0
    assert parse_retry_after("nan") is None
    assert parse_retry_after("") is None


def test_the_retried_request_resends_the_same_body(
    rsps: responses.RequestsMock, rec: Recorder
) -> None:
    rsps.post(FEED_URL, status=503, headers={"Retry-After": "1"})
    rsps.post(FEED_URL, body=GOOD_PAGE)
    rec.client().feed_page(cursor="c7")
    assert [orjson.loads(call.request.body) for call in rsps.calls] == [{"cursor": "c7"}] * 2


# ---- exponential backoff ---------------------------------------------------------------------


def test_500s_back_off_exponentially_up_to_max_wait(
    rsps: responses.RequestsMock, rec: Recorder
) -> None:
    for _ in range(7):
        rsps.post(FEED_URL, status=500, json={"message": "boom"})
    rsps.post(FEED_URL, body=GOOD_PAGE)
    client = rec.client(base_backoff=0.5, max_wait=6.0, rand=lambda: 0.0)

    client.feed_page()

    assert rec.waits == [0.5, 1.0, 2.0, 4.0, 6.0, 6.0, 6.0]
    assert [event.attempt for event in rec.events] == [1, 2, 3, 4, 5, 6, 7]
    assert {event.status_or_exception_name for event in rec.events} == {500}
    assert client.retries == 7


def test_jitter_only_shortens_the_wait_by_at_most_the_jitter_fraction(
    rsps: responses.RequestsMock, rec: Recorder
) -> None:
    for _ in range(3):
        rsps.post(FEED_URL, status=502)
    rsps.post(FEED_URL, body=GOOD_PAGE)
    rec.client(base_backoff=1.0, jitter=0.5, rand=lambda: 1.0).feed_page()
    assert rec.waits == [0.5, 1.0, 2.0]


def test_real_random_jitter_stays_within_bounds() -> None:
    policy = RetryPolicy(base_backoff=0.5, max_wait=60.0, jitter=0.5)
    for attempt in range(1, 12):
        ceiling = min(60.0, 0.5 * 2 ** (attempt - 1))
        for _ in range(20):
            assert ceiling / 2 <= policy.backoff(attempt) <= ceiling


# ---- exhaustion ------------------------------------------------------------------------------


def test_retries_exhausted_raise_unavailable_naming_attempts_time_and_last_status(
    rsps: responses.RequestsMock, rec: Recorder
) -> None:
    rsps.post(
        FEED_URL,
        status=503,
        json={"detail": "search back end circuit open"},
        headers={"Retry-After": "5"},
    )
    client = rec.client(max_attempts=4)

    with pytest.raises(JoboUnavailableError) as caught:
        client.feed_page()

    error = caught.value
    message = str(error)
    assert "gave up after 4 attempts over 15.0 s" in message
    assert "last: HTTP 503: search back end circuit open" in message
    assert "run again later" in message
    assert (error.attempts, error.last_reason, error.status) == (4, 503, 503)
    assert error.elapsed_seconds == pytest.approx(15.0)
    assert len(rsps.calls) == 4
    assert rec.waits == [5.0, 5.0, 5.0]
    assert client.retries == 3


def test_the_total_budget_stops_retrying_before_a_wait_would_pass_it(
    rsps: responses.RequestsMock, rec: Recorder
) -> None:
    rsps.post(FEED_URL, status=429, headers={"Retry-After": "60"})
    client = rec.client(max_attempts=100, max_total=150.0)

    with pytest.raises(JoboUnavailableError, match=r"gave up after 3 attempts over 120\.0 s"):
        client.feed_page()
    assert rec.waits == [60.0, 60.0]


def test_default_policy_is_bounded_by_eight_attempts(
    rsps: responses.RequestsMock, rec: Recorder
) -> None:
    rsps.post(FEED_URL, status=500)
    with pytest.raises(JoboUnavailableError) as caught:
        rec.client().feed_page()
    assert caught.value.attempts == 8
    assert len(rsps.calls) == 8
    assert len(rec.waits) == 7
    assert sum(rec.waits) <= 600.0


def test_a_permanent_error_after_a_retry_is_raised_as_itself(
    rsps: responses.RequestsMock, rec: Recorder
) -> None:
    rsps.post(FEED_URL, status=503, headers={"Retry-After": "1"})
    rsps.post(FEED_URL, status=401, json={"message": "revoked"})
    with pytest.raises(JoboAuthError, match="revoked"):
        rec.client().feed_page()
    assert rec.waits == [1.0]


# ---- truncated bodies and transport errors ---------------------------------------------------


def test_truncated_and_undecodable_bodies_are_retried(
    rsps: responses.RequestsMock, rec: Recorder
) -> None:
    rsps.post(FEED_URL, body=requests.exceptions.ChunkedEncodingError("IncompleteRead(10 bytes)"))
    rsps.post(FEED_URL, body=requests.exceptions.ContentDecodingError("bad gzip"))
    rsps.post(FEED_URL, body=GOOD_PAGE[: len(GOOD_PAGE) // 2])
    rsps.post(FEED_URL, body=GOOD_PAGE)
    client = rec.client(rand=lambda: 0.0)

    page = client.feed_page()

    assert page.jobs == [{"id": "a"}]
    assert [event.status_or_exception_name for event in rec.events] == [
        "ChunkedEncodingError",
        "ContentDecodingError",
        "JSONDecodeError",
    ]
    assert rec.waits == [0.5, 1.0, 2.0]


def test_connection_errors_and_timeouts_are_retried_then_reported(
    rsps: responses.RequestsMock, rec: Recorder
) -> None:
    rsps.get(EXPIRED_URL, body=requests.exceptions.ConnectionError("connection refused"))
    rsps.get(EXPIRED_URL, body=requests.exceptions.ReadTimeout("read timed out"))
    client = rec.client(max_attempts=2, rand=lambda: 0.0)

    with pytest.raises(JoboUnavailableError) as caught:
        client.expired_page(expired_since=None)

    assert [event.status_or_exception_name for event in rec.events] == ["ConnectionError"]
    assert "last: ReadTimeout: read timed out" in str(caught.value)
    assert caught.value.status is None
    assert caught.value.last_reason == "ReadTimeout"


def test_feed_and_other_requests_use_their_own_read_timeouts(rec: Recorder) -> None:
    timeouts: list[Any] = []

    class RecordingSession(requests.Session):
        def request(self, method: str, url: str, **kwargs: Any) -> Any:  # type: ignore[override]
            timeouts.append((url.rsplit("/", 1)[-1], kwargs["timeout"]))
            raise requests.exceptions.ConnectTimeout("no route")

    client = JoboClient(
        BASE,
        KEY,
        feed_timeout=120.0,
        timeout=30.0,
        session=RecordingSession(),
        retry=RetryPolicy(max_attempts=1, sleep=rec.waits.append),
    )
    with pytest.raises(JoboUnavailableError, match="after 1 attempt over"):
        client.feed_page()
    with pytest.raises(JoboUnavailableError):
        client.expired_page(expired_since=None)
    assert timeouts == [("feed", (10.0, 120.0)), ("expired", (10.0, 30.0))]
