"""The HTTP client of the Jobo Feed API (``POST /api/jobs/feed``, ``GET /api/jobs/expired``).

One :class:`JoboClient` holds a keep-alive :class:`requests.Session`, sends the API key in the
``X-Api-Key`` header (never in a log line, an error message or a ``repr``), retries transient
failures with bounded waits (:mod:`indexer.retry`) and turns every other answer into the typed
error that :data:`~indexer.feed.errors.STATUS_TABLE` names.

Feed pages are decoded once, straight from the raw response bytes, with orjson.

Retry rules (bounded by :class:`~indexer.retry.RetryPolicy`):

- 429 and 503 wait ``Retry-After`` seconds (default 5, capped at ``max_wait``);
- 500/502/504, connection errors, timeouts and truncated or undecodable 200 bodies back off
  exponentially with jitter;
- 400/401/402/403/404/409 are never retried;
- when ``max_attempts`` or ``max_total`` seconds run out: :class:`JoboUnavailableError`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, Final, TypeVar

import orjson
import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from indexer import __version__
from indexer.errors import IndexerError
from indexer.feed._values import is_number, number_text, to_float
from indexer.feed.errors import (
    DEFAULT_BASE_URL,
    EXPIRED_PATH,
    FEED_PATH,
    JoboAuthError,
    JoboError,
    JoboResponseError,
    Problem,
    Retry,
    check_aware,
    error_for_status,
    format_datetime,
    retry_rule,
    unavailable_error,
)
from indexer.feed.models import (
    MAX_EXPIRED_BATCH_SIZE,
    ExpiredPage,
    FeedPage,
    FeedRequest,
    RetryEvent,
    check_batch_size,
    check_cursor,
)
from indexer.feed.paging import FeedScan, expired_ids
from indexer.retry import RetriesExhaustedError, RetryPolicy, parse_retry_after, retry_call

log = logging.getLogger("indexer.feed")

DEFAULT_RETRY_POLICY: Final = RetryPolicy()
_REDACTED: Final = "<redacted>"
_BODY_ERRORS: Final = (
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    # The body is read straight from urllib3 (_read_body), which raises its own errors.
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.ReadTimeoutError,
    urllib3.exceptions.DecodeError,
    urllib3.exceptions.SSLError,
)
_TRANSPORT_ERRORS: Final = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    *_BODY_ERRORS,
)

T = TypeVar("T")


class _Secret:
    """Holds the API key so that no repr, vars() dump or traceback local shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return _REDACTED

    __str__ = __repr__


class _TransientError(IndexerError):
    """One failed attempt worth retrying (internal: never escapes the client)."""

    def __init__(self, reason: int | str, detail: str, retry_after: float | None = None):
        super().__init__(f"{reason}: {detail}" if detail else str(reason))
        self.reason = reason
        self.detail = detail
        self.retry_after = retry_after


class JoboClient:
    """A keep-alive client for the Jobo Feed API. Use as a context manager or call ``close()``.

    Attributes kept for callers: ``retries`` (retries made so far), ``requests_sent``,
    ``last_credits_balance`` (from ``X-Credits-Balance``) and ``credits_deducted_total``.
    Not meant to be shared between threads (the counters are plain ints).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        feed_timeout: float = 120.0,
        timeout: float = 30.0,
        retry: RetryPolicy = DEFAULT_RETRY_POLICY,
        credits_warn: float | None = None,
        session: requests.Session | None = None,
        on_retry: Callable[[RetryEvent], None] | None = None,
    ) -> None:
        base_url = (base_url or "").strip().rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"Jobo base URL {base_url!r} is not an http(s) URL: use e.g. {DEFAULT_BASE_URL}"
            )
        api_key = (api_key or "").strip()
        if not api_key:
            raise JoboAuthError("the Jobo API key is empty: set JOBO_API_KEY")
        if feed_timeout <= 0 or timeout <= 0:
            raise ValueError(
                f"timeouts must be positive (feed_timeout={feed_timeout}, timeout={timeout})"
            )
        self.base_url = base_url
        self._api_key = _Secret(api_key)
        self.feed_timeout = feed_timeout
        self.timeout = timeout
        self.retry_policy = retry
        self.credits_warn = credits_warn
        self.on_retry = on_retry
        self.retries = 0
        self.requests_sent = 0
        self.last_credits_balance: float | None = None
        self.credits_deducted_total = 0.0
        self._credits_warned = False
        self._owns_session = session is None
        self._session = session if session is not None else _new_session()

    def __repr__(self) -> str:
        return f"JoboClient(base_url={self.base_url!r}, api_key={_REDACTED})"

    def __enter__(self) -> JoboClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the session if this client created it (a session passed in stays open)."""
        if self._owns_session:
            self._session.close()

    # ---- the feed ---------------------------------------------------------------------------

    def feed_page(
        self, request: FeedRequest | None = None, *, cursor: str | None = None
    ) -> FeedPage:
        """Fetch one feed page: the first page of ``request``, or the page after ``cursor``.

        A cursor is sent alone (it carries the scan's filters and batch size); ``request`` is
        then ignored.
        """
        if cursor is not None:
            body: dict[str, Any] = {"cursor": check_cursor(cursor)}
        else:
            body = (request or FeedRequest()).to_body()
        return self._call(
            "POST",
            FEED_PATH,
            json_body=body,
            read_timeout=self.feed_timeout,
            decode=self._decode_feed,
        )

    def iter_feed(
        self, request: FeedRequest | None = None, *, cursor: str | None = None
    ) -> Iterator[FeedPage]:
        """Every page of a scan, from the start of ``request`` or resuming after ``cursor``
        (:class:`~indexer.feed.paging.FeedScan` without cursor restarts)."""
        return iter(FeedScan(self, request or FeedRequest(), cursor=cursor))

    # ---- expirations ------------------------------------------------------------------------

    def expired_page(
        self,
        *,
        expired_since: datetime | None,
        cursor: str | None = None,
        batch_size: int = MAX_EXPIRED_BATCH_SIZE,
    ) -> ExpiredPage:
        """One page of ids expired since ``expired_since`` (None: the server's 24 hours).

        With a cursor only ``cursor`` and ``batch_size`` are sent. An ``expired_since`` more than
        7 days back raises :class:`JoboLookbackError`.
        """
        check_batch_size(batch_size, MAX_EXPIRED_BATCH_SIZE, "expired batch_size")
        params: dict[str, str | int] = {"batch_size": batch_size}
        if cursor is not None:
            params["cursor"] = check_cursor(cursor)
        elif expired_since is not None:
            params["expired_since"] = format_datetime(check_aware(expired_since, "expired_since"))
        return self._call(
            "GET",
            EXPIRED_PATH,
            params=params,
            read_timeout=self.timeout,
            decode=_decode_expired,
            expired_since=expired_since,
        )

    def iter_expired(
        self, expired_since: datetime | None, *, batch_size: int = MAX_EXPIRED_BATCH_SIZE
    ) -> Iterator[list[str]]:
        """Pages of expired job ids (non-empty lists) until the server says there are no more."""
        return expired_ids(self, expired_since, batch_size=batch_size)

    # ---- transport --------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        read_timeout: float,
        decode: Callable[[bytes, CaseInsensitiveDict[str]], T],
        json_body: dict[str, Any] | None = None,
        params: Mapping[str, str | int] | None = None,
        expired_since: datetime | None = None,
    ) -> T:
        def attempt() -> T:
            return self._attempt(
                method,
                path,
                read_timeout=read_timeout,
                decode=decode,
                json_body=json_body,
                params=params,
                expired_since=expired_since,
            )

        return self._with_retries(method, path, attempt)

    def _with_retries(self, method: str, path: str, attempt: Callable[[], T]) -> T:
        policy = self.retry_policy

        def server_wait(error: BaseException) -> float | None:
            assert isinstance(error, _TransientError)
            waits_for_server = isinstance(error.reason, int) and (
                retry_rule(error.reason) is Retry.RETRY_AFTER
            )
            if error.retry_after is None and waits_for_server:
                return policy.default_retry_after
            return error.retry_after

        def before_sleep(attempt_number: int, error: BaseException, wait: float) -> None:
            assert isinstance(error, _TransientError)
            self.retries += 1
            log.info(
                "%s %s failed (%s), retrying in %.1f s (attempt %d of %d)",
                method,
                path,
                error.reason,
                wait,
                attempt_number + 1,
                policy.max_attempts,
            )
            if self.on_retry is not None:
                self.on_retry(RetryEvent(path, attempt_number, error.reason, wait))

        try:
            return retry_call(
                attempt,
                policy,
                retryable=lambda error: isinstance(error, _TransientError),
                server_wait=server_wait,
                on_retry=before_sleep,
            )
        except RetriesExhaustedError as gave_up:
            failure = gave_up.last
            assert isinstance(failure, _TransientError)
            raise unavailable_error(
                method,
                path,
                attempts=gave_up.attempts,
                elapsed=gave_up.elapsed,
                reason=failure.reason,
                detail=failure.detail,
                redact=self._redact,
            ) from failure

    def _attempt(
        self,
        method: str,
        path: str,
        *,
        read_timeout: float,
        decode: Callable[[bytes, CaseInsensitiveDict[str]], T],
        json_body: dict[str, Any] | None,
        params: Mapping[str, str | int] | None,
        expired_since: datetime | None,
    ) -> T:
        headers = {
            "X-Api-Key": self._api_key.reveal(),
            "Accept": "application/json",
            "Accept-Encoding": "gzip",
            "User-Agent": f"jobo-indexer/{__version__}",
        }
        data = None
        if json_body is not None:
            headers["Content-Type"] = "application/json"
            data = orjson.dumps(json_body)
        started = time.perf_counter()
        self.requests_sent += 1
        try:
            response = self._session.request(
                method,
                self.base_url + path,
                params=params,
                data=data,
                headers=headers,
                timeout=(min(10.0, self.timeout), read_timeout),
                stream=True,
            )
            content = _read_body(response)
        except _TRANSPORT_ERRORS as exc:
            log.debug(
                "%s %s -> %s after %.0f ms",
                method,
                path,
                type(exc).__name__,
                (time.perf_counter() - started) * 1000,
            )
            raise _TransientError(type(exc).__name__, self._redact(str(exc))) from exc
        except requests.RequestException as exc:
            message = (
                f"{method} {path}: the request could not be sent ({type(exc).__name__}: "
                f"{exc}): check the base URL {self.base_url}"
            )
            raise JoboError(self._redact(message), method=method, path=path) from exc
        log.debug(
            "%s %s -> %d, %d bytes, %.0f ms",
            method,
            path,
            response.status_code,
            len(content),
            (time.perf_counter() - started) * 1000,
        )
        self._note_credits(response.headers)
        status = response.status_code
        if 200 <= status < 300:
            try:
                return decode(content, response.headers)
            except orjson.JSONDecodeError as exc:
                detail = f"the {len(content)}-byte body is not complete JSON ({exc})"
                raise _TransientError(type(exc).__name__, detail) from exc
            except _ShapeError as exc:
                raise JoboResponseError(
                    f"{method} {path}: the response is not the documented shape ({exc}): "
                    "check that the base URL points at the Jobo API",
                    method=method,
                    path=path,
                    status=status,
                ) from None
        problem = Problem.from_body(content, self._redact)
        retry = retry_rule(status)
        if retry is Retry.RETRY_AFTER:
            waited = parse_retry_after(response.headers.get("Retry-After"))
            raise _TransientError(status, problem.summary(), retry_after=waited)
        if retry is Retry.BACKOFF:
            raise _TransientError(status, problem.summary())
        raise self._error_for(method, path, status, problem, response.headers, expired_since)

    # ---- errors and bookkeeping -------------------------------------------------------------

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key.reveal(), _REDACTED)

    def _error_for(
        self,
        method: str,
        path: str,
        status: int,
        problem: Problem,
        headers: Mapping[str, str],
        expired_since: datetime | None,
    ) -> JoboError:
        return error_for_status(
            method,
            path,
            status,
            problem,
            base_url=self.base_url,
            headers=headers,
            expired_since=expired_since,
            redact=self._redact,
        )

    def _note_credits(self, headers: Mapping[str, str]) -> None:
        deducted = to_float(headers.get("X-Credits-Deducted"))
        if deducted is not None:
            self.credits_deducted_total += deducted
        balance = to_float(headers.get("X-Credits-Balance"))
        if balance is None:
            return
        self.last_credits_balance = balance
        warn_below = self.credits_warn
        if warn_below is not None and balance < warn_below and not self._credits_warned:
            self._credits_warned = True
            log.warning(
                "Jobo credits are running low: balance %s is below the warning level %s; top up "
                "the wallet (or use a Feed subscription) before requests fail with 402",
                number_text(balance),
                number_text(warn_below),
            )

    def _decode_feed(self, content: bytes, headers: CaseInsensitiveDict[str]) -> FeedPage:
        data = _decode_object(content)
        jobs = data.get("jobs")
        if not isinstance(jobs, list):
            raise _ShapeError("'jobs' is missing or not a list")
        next_cursor, has_more = _end_of_page(FEED_PATH, data, headers)
        total = data.get("estimated_total")
        return FeedPage(
            jobs=jobs,
            next_cursor=next_cursor,
            has_more=has_more,
            estimated_total=int(total) if is_number(total) else None,
            credits_deducted=to_float(headers.get("X-Credits-Deducted")),
            credits_balance=to_float(headers.get("X-Credits-Balance")),
            body_bytes=len(content),
        )


class _ShapeError(IndexerError):
    """A complete JSON body that is not what the contract documents."""


def _new_session() -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _read_body(response: requests.Response) -> bytes:
    """The whole body in one read, the connection back to the pool.

    ``response.content`` reads 10 KiB at a time and joins the pieces: for a 5.4 MB feed page
    that measured 13-16 ms of CPU (half of it system time, page faults on the pieces) against
    3-4 ms for one read.
    """
    try:
        body: bytes = response.raw.read(decode_content=True)
    except BaseException:
        response.close()
        raise
    response.raw.release_conn()
    return body


def _decode_object(content: bytes) -> dict[str, Any]:
    data = orjson.loads(content)
    if not isinstance(data, dict):
        raise _ShapeError(f"the body is a JSON {type(data).__name__}, not an object")
    return data


def _decode_expired(content: bytes, headers: CaseInsensitiveDict[str]) -> ExpiredPage:
    data = _decode_object(content)
    job_ids = data.get("job_ids")
    if not isinstance(job_ids, list) or not all(isinstance(i, str) for i in job_ids):
        raise _ShapeError("'job_ids' is missing or not a list of strings")
    next_cursor, has_more = _end_of_page(EXPIRED_PATH, data, headers)
    return ExpiredPage(job_ids=job_ids, next_cursor=next_cursor, has_more=has_more)


def _end_of_page(
    path: str, data: Mapping[str, Any], headers: Mapping[str, str]
) -> tuple[str | None, bool]:
    """(next_cursor, has_more): more pages only when the server says so AND sent a cursor."""
    cursor = data.get("next_cursor")
    next_cursor = cursor if isinstance(cursor, str) and cursor else None
    said = data.get("has_more")
    if not isinstance(said, bool):
        header = (headers.get("X-Has-More") or "").strip().lower()
        said = header == "true" if header in ("true", "false") else next_cursor is not None
    if said and next_cursor is None:
        log.warning("%s said has_more=true but sent no next_cursor: treating it as the end", path)
    return next_cursor, said and next_cursor is not None
