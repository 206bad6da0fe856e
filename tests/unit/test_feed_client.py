"""Unit tests of the Jobo Feed API client against `responses` (no network, no OpenSearch):
request bodies, paging, decoding, status mapping, credits and secrecy of the API key."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
import requests
import responses

from indexer.feed import (
    EXPIRED_PATH,
    FEED_PATH,
    FeedPage,
    FeedRequest,
    JoboAuthError,
    JoboBadRequestError,
    JoboClient,
    JoboCreditsError,
    JoboCursorError,
    JoboCursorSpentError,
    JoboError,
    JoboForbiddenError,
    JoboInvalidCursorError,
    JoboLookbackError,
    JoboNotFoundError,
    JoboResponseError,
    Location,
    RetryPolicy,
)
from indexer.feed import client as jobo

BASE = "https://jobo.test"
FEED_URL = BASE + FEED_PATH
EXPIRED_URL = BASE + EXPIRED_PATH
KEY = "sk-live-7f3c9a1e5d2b8c4f"


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def client(sleeps: list[float]) -> Iterator[JoboClient]:
    with JoboClient(BASE, KEY, retry=RetryPolicy(sleep=sleeps.append)) as made:
        yield made


def page_body(ids: list[str], cursor: str | None, has_more: bool, **extra: Any) -> bytes:
    jobs = [{"id": job_id, "title": f"job {job_id}"} for job_id in ids]
    return orjson.dumps({"jobs": jobs, "next_cursor": cursor, "has_more": has_more, **extra})


def sent_json(call: Any) -> dict[str, Any]:
    return orjson.loads(call.request.body)


# ---- request bodies --------------------------------------------------------------------------


def test_filters_are_serialised_with_utc_z_datetimes_and_hyphenated_employment_types() -> None:
    request = FeedRequest(
        batch_size=250,
        updated_after=datetime(2024, 5, 1, 14, 30, tzinfo=timezone(timedelta(hours=2))),
        posted_after=datetime(2024, 4, 1, 0, 0, 0, 123000, tzinfo=UTC),
        sources=["greenhouse", "lever_co"],
        work_models=["remote"],
        employment_types=["full_time", "part-time"],
        experience_levels=["senior"],
        locations=[Location(country="US", city="Austin"), {"country": "DE", "region": None}],
        stable_scan=False,
    )
    assert request.to_body() == {
        "batch_size": 250,
        "stable_scan": False,
        "updated_after": "2024-05-01T12:30:00Z",
        "posted_after": "2024-04-01T00:00:00.123000Z",
        "sources": ["greenhouse", "lever_co"],
        "work_models": ["remote"],
        "employment_types": ["full-time", "part-time"],
        "experience_levels": ["senior"],
        "locations": [{"country": "US", "city": "Austin"}, {"country": "DE"}],
    }


def test_default_request_sends_only_batch_size_and_stable_scan() -> None:
    assert FeedRequest().to_body() == {"batch_size": 1000, "stable_scan": True}


@pytest.mark.parametrize("size", [0, -1, 1001, True, 2.5, "10"])
def test_feed_batch_size_outside_1_to_1000_is_refused_client_side(size: Any) -> None:
    with pytest.raises(ValueError, match=r"batch_size=.* use a whole number from 1 to 1000"):
        FeedRequest(batch_size=size)


@pytest.mark.parametrize("size", [1, 1000])
def test_feed_batch_size_bounds_are_accepted(size: int) -> None:
    assert FeedRequest(batch_size=size).to_body()["batch_size"] == size


def test_naive_datetimes_are_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match=r"updated_after=.*no time zone.*datetime\.now\(UTC\)"):
        FeedRequest(updated_after=datetime(2024, 1, 1))


def test_a_bare_string_filter_is_refused() -> None:
    with pytest.raises(ValueError, match=r"sources=\['greenhouse'\]"):
        FeedRequest(sources="greenhouse")


def test_unknown_location_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown keys"):
        FeedRequest(locations=[{"state": "TX"}])


def test_requests_carry_key_gzip_and_json_content_type(
    rsps: responses.RequestsMock, client: JoboClient
) -> None:
    rsps.post(FEED_URL, body=page_body(["a"], None, False))
    client.feed_page(FeedRequest(sources=["workday"]))
    headers = rsps.calls[0].request.headers
    assert headers["X-Api-Key"] == KEY
    assert headers["Accept-Encoding"] == "gzip"
    assert headers["Content-Type"] == "application/json"
    assert sent_json(rsps.calls[0]) == {
        "batch_size": 1000,
        "stable_scan": True,
        "sources": ["workday"],
    }


# ---- paging ----------------------------------------------------------------------------------


def test_paging_sends_the_cursor_alone_after_the_first_page(
    rsps: responses.RequestsMock, client: JoboClient
) -> None:
    rsps.post(FEED_URL, body=page_body(["a", "b"], "c1", True, estimated_total=5))
    rsps.post(FEED_URL, body=page_body(["c", "d"], "c2", True))
    rsps.post(FEED_URL, body=page_body(["e"], None, False))
    request = FeedRequest(
        batch_size=2, sources=["greenhouse"], updated_after=datetime(2024, 1, 1, tzinfo=UTC)
    )

    pages = list(client.iter_feed(request))

    assert [[job["id"] for job in page.jobs] for page in pages] == [["a", "b"], ["c", "d"], ["e"]]
    assert sent_json(rsps.calls[0]) == request.to_body()
    assert sent_json(rsps.calls[1]) == {"cursor": "c1"}
    assert sent_json(rsps.calls[2]) == {"cursor": "c2"}
    assert [page.estimated_total for page in pages] == [5, None, None]


def test_feed_page_with_a_cursor_ignores_the_request_filters(
    rsps: responses.RequestsMock, client: JoboClient
) -> None:
    rsps.post(FEED_URL, body=page_body([], None, False))
    client.feed_page(FeedRequest(batch_size=10, sources=["lever_co"]), cursor="resume-me")
    assert sent_json(rsps.calls[0]) == {"cursor": "resume-me"}


def test_iter_feed_resumes_from_a_saved_cursor(
    rsps: responses.RequestsMock, client: JoboClient
) -> None:
    rsps.post(FEED_URL, body=page_body(["x"], None, False))
    pages = list(client.iter_feed(cursor="saved"))
    assert len(pages) == 1
    assert sent_json(rsps.calls[0]) == {"cursor": "saved"}


def test_has_more_false_ends_paging_even_with_a_cursor(
    rsps: responses.RequestsMock, client: JoboClient
) -> None:
    rsps.post(FEED_URL, body=page_body(["a"], "dangling", False))
    pages = list(client.iter_feed())
    assert len(pages) == 1
    assert pages[0].has_more is False
    assert pages[0].next_cursor == "dangling"


@pytest.mark.parametrize("cursor", [None, ""])
def test_a_missing_cursor_ends_paging_even_when_has_more_is_true(
    rsps: responses.RequestsMock,
    client: JoboClient,
    cursor: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rsps.post(FEED_URL, body=page_body(["a"], cursor, True))
    with caplog.at_level(logging.WARNING, logger="indexer.feed"):
        pages = list(client.iter_feed())
    assert len(pages) == 1
    assert pages[0].has_more is False
    assert pages[0].next_cursor is None
    assert "has_more=true but sent no next_cursor" in caplog.text


def test_has_more_falls_back_to_the_x_has_more_header(
    rsps: responses.RequestsMock, client: JoboClient
) -> None:
    body = orjson.dumps({"jobs": [], "next_cursor": "c1"})
    rsps.post(FEED_URL, body=body, headers={"X-Has-More": "false"})
    assert client.feed_page().has_more is False


def test_a_server_repeating_the_cursor_is_stopped_instead_of_looping(
    rsps: responses.RequestsMock, client: JoboClient
) -> None:
    rsps.post(FEED_URL, body=page_body(["a"], "same", True))
    rsps.post(FEED_URL, body=page_body(["b"], "same", True))
    with pytest.raises(JoboResponseError, match="returned the cursor it was given"):
        list(client.iter_feed())


# ---- decoding --------------------------------------------------------------------------------


def test_a_page_is_decoded_once_from_the_raw_bytes_with_orjson(
    rsps: responses.RequestsMock, client: JoboClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = page_body(["a", "b", "c"], "next", True, estimated_total=1234)
    rsps.post(
        FEED_URL, body=raw, headers={"X-Credits-Deducted": "1.5", "X-Credits-Balance": "998.5"}
    )
    decoded: list[bytes] = []
    real_loads = orjson.loads

    def counting_loads(data: bytes) -> Any:
        decoded.append(data)
        return real_loads(data)

    def no_response_json(self: requests.Response, **kwargs: Any) -> Any:
        raise AssertionError("response.json() must not be used")

    monkeypatch.setattr(jobo.orjson, "loads", counting_loads)
    monkeypatch.setattr(requests.Response, "json", no_response_json)

    page = client.feed_page()

    assert decoded == [raw]
    assert page == FeedPage(
        jobs=real_loads(raw)["jobs"],
        next_cursor="next",
        has_more=True,
        estimated_total=1234,
        credits_deducted=1.5,
        credits_balance=998.5,
        body_bytes=len(raw),
    )


def test_credit_headers_are_none_when_absent(
    rsps: responses.RequestsMock, client: JoboClient
) -> None:
    rsps.post(FEED_URL, body=page_body(["a"], None, False))
    page = client.feed_page()
    assert (page.credits_deducted, page.credits_balance) == (None, None)


def test_a_complete_body_of_the_wrong_shape_is_a_response_error_not_retried(
    rsps: responses.RequestsMock, client: JoboClient
) -> None:
    rsps.post(FEED_URL, body=b'{"items": []}')
    with pytest.raises(JoboResponseError, match="'jobs' is missing"):
        client.feed_page()
    assert len(rsps.calls) == 1


def test_page_repr_is_short(rsps: responses.RequestsMock, client: JoboClient) -> None:
    rsps.post(FEED_URL, body=page_body([str(i) for i in range(50)], "c" * 100, True))
    text = repr(client.feed_page())
    assert "<50 jobs>" in text
    assert "job 1" not in text
    assert len(text) < 300


# ---- status codes ----------------------------------------------------------------------------


STATUS_CASES = [
    pytest.param(
        401,
        {"status": 401, "error": "Unauthorized", "message": "API key is invalid"},
        JoboAuthError,
        ["invalid or missing API key", "check JOBO_API_KEY"],
        id="401",
    ),
    pytest.param(
        402,
        {"error": "Payment Required", "credits_required": 500, "credits_balance": 12.5},
        JoboCreditsError,
        ["credits_required=500", "credits_balance=12.5", "top up"],
        id="402",
    ),
    pytest.param(
        403,
        {"detail": "Feed subscription required"},
        JoboForbiddenError,
        ["not entitled", "Feed subscription required", "Feed plan"],
        id="403",
    ),
    pytest.param(
        404,
        {"title": "Not Found"},
        JoboNotFoundError,
        ["not found", "check the base URL"],
        id="404",
    ),
    pytest.param(
        400,
        {"message": "batch_size must be between 1 and 1000", "code": "VALIDATION"},
        JoboBadRequestError,
        ["batch_size must be between 1 and 1000", "[VALIDATION]"],
        id="400",
    ),
    pytest.param(
        400,
        {"error": "Bad Request", "message": "Invalid cursor"},
        JoboInvalidCursorError,
        ["Invalid cursor", "restart paging from the first page"],
        id="400-cursor-message",
    ),
    pytest.param(
        400,
        {"detail": "invalid cursor: expired"},
        JoboInvalidCursorError,
        ["restart paging"],
        id="400-cursor-detail",
    ),
    pytest.param(
        400,
        {"error": "INVALID_CURSOR"},
        JoboInvalidCursorError,
        ["restart paging"],
        id="400-cursor-error",
    ),
    pytest.param(
        409,
        {"message": "Deep pagination limit reached"},
        JoboCursorSpentError,
        ["can no longer be continued", "start a new scan"],
        id="409",
    ),
    pytest.param(
        418,
        {"message": "teapot"},
        JoboResponseError,
        ["unexpected HTTP 418: teapot"],
        id="418",
    ),
]


@pytest.mark.parametrize(("status", "problem", "error_type", "phrases"), STATUS_CASES)
def test_each_status_maps_to_its_error_with_a_useful_message_and_is_not_retried(
    rsps: responses.RequestsMock,
    client: JoboClient,
    sleeps: list[float],
    status: int,
    problem: dict[str, Any],
    error_type: type[JoboError],
    phrases: list[str],
) -> None:
    rsps.post(FEED_URL, status=status, body=orjson.dumps(problem))
    with pytest.raises(error_type) as caught:
        client.feed_page(cursor="c1")
    message = str(caught.value)
    assert message.startswith(f"POST {FEED_PATH}: ")
    for phrase in phrases:
        assert phrase in message
    assert caught.value.status == status
    assert len(rsps.calls) == 1
    assert sleeps == []
    assert client.retries == 0


def test_credits_error_exposes_the_numbers(
    rsps: responses.RequestsMock, client: JoboClient
) -> None:
    rsps.post(FEED_URL, status=402, body=b'{"credits_required": 500, "credits_balance": 3}')
    with pytest.raises(JoboCreditsError) as caught:
        client.feed_page()
    assert (caught.value.credits_required, caught.value.credits_balance) == (500.0, 3.0)


def test_both_cursor_errors_share_a_base_for_restart_handling() -> None:
    assert issubclass(JoboInvalidCursorError, JoboBadRequestError)
    assert issubclass(JoboInvalidCursorError, JoboCursorError)
    assert issubclass(JoboCursorSpentError, JoboCursorError)
    assert not issubclass(JoboCursorSpentError, JoboBadRequestError)


def test_non_json_error_bodies_are_tolerated(
    rsps: responses.RequestsMock, client: JoboClient
) -> None:
    rsps.post(
        FEED_URL,
        status=400,
        body=b"<html><body>Bad   gateway\nthing</body></html>",
        content_type="text/html",
    )
    with pytest.raises(JoboBadRequestError, match=r"HTTP 400: <html><body>Bad gateway thing"):
        client.feed_page()


def test_empty_error_body_still_names_the_status(
    rsps: responses.RequestsMock, client: JoboClient
) -> None:
    rsps.post(FEED_URL, status=403, body=b"")
    with pytest.raises(JoboForbiddenError, match=r"\(HTTP 403\)"):
        client.feed_page()


# ---- expired ---------------------------------------------------------------------------------


def test_iter_expired_pages_ids_until_has_more_is_false(
    rsps: responses.RequestsMock, client: JoboClient
) -> None:
    since = datetime(2024, 6, 1, 8, 0, tzinfo=UTC)
    rsps.get(EXPIRED_URL, json={"job_ids": ["a", "b"], "next_cursor": "e1", "has_more": True})
    rsps.get(EXPIRED_URL, json={"job_ids": [], "next_cursor": "e2", "has_more": True})
    rsps.get(EXPIRED_URL, json={"job_ids": ["c"], "next_cursor": None, "has_more": False})

    pages = list(client.iter_expired(since, batch_size=2))

    assert pages == [["a", "b"], ["c"]]
    first, second, third = (call.request.params for call in rsps.calls)
    assert first == {"expired_since": "2024-06-01T08:00:00Z", "batch_size": "2"}
    assert second == {"cursor": "e1", "batch_size": "2"}
    assert third == {"cursor": "e2", "batch_size": "2"}


def test_iter_expired_stops_when_the_cursor_is_missing(
    rsps: responses.RequestsMock, client: JoboClient
) -> None:
    rsps.get(EXPIRED_URL, json={"job_ids": ["a"], "has_more": True})
    assert list(client.iter_expired(None)) == [["a"]]
    assert rsps.calls[0].request.params == {"batch_size": "10000"}


@pytest.mark.parametrize("size", [0, 10001])
def test_expired_batch_size_is_checked(client: JoboClient, size: int) -> None:
    with pytest.raises(ValueError, match="from 1 to 10000"):
        client.expired_page(expired_since=None, batch_size=size)


def test_expired_since_too_old_is_a_lookback_error(
    rsps: responses.RequestsMock, client: JoboClient
) -> None:
    since = datetime.now(UTC) - timedelta(days=9)
    rsps.get(
        EXPIRED_URL,
        status=400,
        json={"status": 400, "detail": "expired_since must be within the last 7 days"},
    )
    with pytest.raises(JoboLookbackError) as caught:
        client.expired_page(expired_since=since)
    assert "7-day lookback" in str(caught.value)
    assert "full re-sync" in str(caught.value)
    assert caught.value.expired_since == since
    assert isinstance(caught.value, JoboBadRequestError)


def test_other_expired_400s_stay_plain_bad_requests(
    rsps: responses.RequestsMock, client: JoboClient
) -> None:
    rsps.get(EXPIRED_URL, status=400, json={"message": "batch_size out of range"})
    with pytest.raises(JoboBadRequestError) as caught:
        client.expired_page(expired_since=datetime.now(UTC) - timedelta(hours=1))
    assert type(caught.value) is JoboBadRequestError


# ---- credits ---------------------------------------------------------------------------------


def test_low_credits_are_warned_once_per_client(
    rsps: responses.RequestsMock, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    for balance in ("150", "90", "40"):
        rsps.post(
            FEED_URL,
            body=page_body(["a"], None, False),
            headers={"X-Credits-Balance": balance, "X-Credits-Deducted": "0.5"},
        )
    client = JoboClient(BASE, KEY, credits_warn=100, retry=RetryPolicy(sleep=sleeps.append))
    with caplog.at_level(logging.WARNING, logger="indexer.feed"):
        for _ in range(3):
            client.feed_page()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "balance 90 is below the warning level 100" in warnings[0].getMessage()
    assert client.last_credits_balance == 40.0
    assert client.credits_deducted_total == 1.5


def test_no_credit_warning_without_a_threshold(
    rsps: responses.RequestsMock, client: JoboClient, caplog: pytest.LogCaptureFixture
) -> None:
    rsps.post(FEED_URL, body=page_body([], None, False), headers={"X-Credits-Balance": "1"})
    with caplog.at_level(logging.WARNING, logger="indexer.feed"):
        client.feed_page()
    assert caplog.records == []
    assert client.last_credits_balance == 1.0


# ---- the API key stays secret ----------------------------------------------------------------


def test_the_api_key_never_appears_in_errors_reprs_or_logs(
    rsps: responses.RequestsMock, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []
    client = JoboClient(
        BASE,
        KEY,
        retry=RetryPolicy(max_attempts=2, sleep=lambda _: None),
        on_retry=lambda event: seen.append(repr(event)),
    )
    seen += [repr(client), str(vars(client)), repr(client.retry_policy)]
    echoed = {"error": "Unauthorized", "message": f"API key '{KEY}' is not valid"}
    rsps.post(FEED_URL, status=401, body=orjson.dumps(echoed))
    rsps.get(EXPIRED_URL, status=503, body=f"overloaded for {KEY}".encode())
    rsps.get(EXPIRED_URL, status=503, body=f"overloaded for {KEY}".encode())
    rsps.post(FEED_URL, body=page_body(["a"], "c", False))

    with caplog.at_level(logging.DEBUG, logger="indexer.feed"):
        with pytest.raises(JoboAuthError) as auth:
            client.feed_page()
        with pytest.raises(JoboError) as unavailable:
            client.expired_page(expired_since=None)
        page = client.feed_page()

    for error in (auth.value, unavailable.value):
        seen += [str(error), repr(error), repr(error.problem), repr(error.__cause__)]
    seen += [repr(page), caplog.text]
    seen += [str(record.args) for record in caplog.records]
    assert "<redacted>" in str(auth.value)  # the echoed key was found and replaced
    assert any(
        "GET /api/jobs/expired -> 503" in record.getMessage() for record in caplog.records
    )  # DEBUG lines were captured
    for text in seen:
        assert KEY not in text


def test_an_empty_api_key_is_refused_with_the_fix() -> None:
    with pytest.raises(JoboAuthError, match="set JOBO_API_KEY"):
        JoboClient(BASE, "  ")


def test_debug_log_has_method_path_status_bytes_and_ms(
    rsps: responses.RequestsMock, client: JoboClient, caplog: pytest.LogCaptureFixture
) -> None:
    raw = page_body(["a"], None, False)
    rsps.post(FEED_URL, body=raw)
    with caplog.at_level(logging.DEBUG, logger="indexer.feed"):
        client.feed_page()
    lines = [r.getMessage() for r in caplog.records if r.name == "indexer.feed"]
    assert len(lines) == 1
    assert lines[0].startswith(f"POST {FEED_PATH} -> 200, {len(raw)} bytes, ")
    assert lines[0].endswith(" ms")
    assert "job a" not in lines[0]


def test_closing_the_client_leaves_a_caller_session_open() -> None:
    session = requests.Session()
    closed: list[bool] = []
    session.close = lambda: closed.append(True)  # type: ignore[method-assign]
    with JoboClient(BASE, KEY, session=session):
        pass
    assert closed == []
