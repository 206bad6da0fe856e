"""Client for the upstream Jobo Feed API (``POST /api/jobs/feed``, ``GET /api/jobs/expired``).

One :class:`JoboClient` holds a keep-alive :class:`requests.Session`, sends the API key in the
``X-Api-Key`` header (never in a log line, an error message or a ``repr``), retries transient
failures with bounded waits (``indexer.retry``) and maps every other failure to a typed
:class:`JoboError` whose message says what failed and what to do next.

Feed pages are decoded once, straight from the raw response bytes, with orjson.

Retry rules (bounded by :class:`RetryPolicy`):

- 429 and 503 wait ``Retry-After`` seconds (default 5, capped at ``max_wait``);
- 500/502/504, connection errors, timeouts and truncated or undecodable 200 bodies back off
  exponentially with jitter;
- 400/401/402/403/404/409 are never retried;
- when ``max_attempts`` or ``max_total`` seconds run out: :class:`JoboUnavailableError`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, TypeVar

import orjson
import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from indexer import __version__
from indexer.errors import ExitCode, IndexerError
from indexer.retry import RetriesExhaustedError, RetryPolicy, parse_retry_after, retry_call

log = logging.getLogger("indexer.jobo")

DEFAULT_BASE_URL: Final = "https://connect.jobo.world"
FEED_PATH: Final = "/api/jobs/feed"
EXPIRED_PATH: Final = "/api/jobs/expired"
MAX_FEED_BATCH_SIZE: Final = 1000
MAX_EXPIRED_BATCH_SIZE: Final = 10000
#: How far back ``GET /api/jobs/expired`` can look; older ``expired_since`` values are a 400.
EXPIRED_LOOKBACK: Final = timedelta(days=7)

_REDACTED: Final = "<redacted>"
_BACKOFF_STATUSES: Final = frozenset({500, 502, 504})
_RETRY_AFTER_STATUSES: Final = frozenset({429, 503})
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
_LOOKBACK_PHRASES: Final = (
    "expired since",
    "lookback",
    "look back",
    "7 days",
    "seven days",
    "too old",
    "too far",
)

T = TypeVar("T")


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class JoboError(IndexerError):
    """Base of every error this client raises; ``str()`` names what failed and what to do."""

    exit_code = ExitCode.UPSTREAM_UNAVAILABLE

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        problem: Problem | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.path = path
        self.status = status
        self.problem = problem


class JoboAuthError(JoboError):
    """401: the API key is missing or invalid."""

    exit_code = ExitCode.UPSTREAM_REFUSED


class JoboCreditsError(JoboError):
    """402: the wallet cannot pay for the request."""

    exit_code = ExitCode.UPSTREAM_REFUSED

    def __init__(
        self,
        message: str,
        *,
        credits_required: float | None = None,
        credits_balance: float | None = None,
        **context: Any,
    ) -> None:
        super().__init__(message, **context)
        self.credits_required = credits_required
        self.credits_balance = credits_balance


class JoboForbiddenError(JoboError):
    """403: the key is valid but not entitled (e.g. no Feed subscription)."""

    exit_code = ExitCode.UPSTREAM_REFUSED


class JoboNotFoundError(JoboError):
    """404: no such resource (usually a wrong base URL)."""


class JoboBadRequestError(JoboError):
    """400: the server rejected the request parameters."""


class JoboCursorError(JoboError):
    """The cursor cannot be continued: drop it and restart from the first page."""


class JoboInvalidCursorError(JoboBadRequestError, JoboCursorError):
    """400 ``Invalid cursor``: the cursor is unknown or spent."""


class JoboCursorSpentError(JoboCursorError):
    """409: the scan hit its deep-pagination limit; start a new scan."""


class JoboLookbackError(JoboBadRequestError):
    """400 from ``/expired``: ``expired_since`` is more than 7 days back."""

    def __init__(self, message: str, *, expired_since: datetime | None = None, **context: Any):
        super().__init__(message, **context)
        self.expired_since = expired_since


class JoboResponseError(JoboError):
    """An unexpected status, or a complete 200 body that is not the documented shape."""


class JoboUnavailableError(JoboError):
    """Retries ran out on 429/5xx, connection errors, timeouts or truncated bodies."""

    def __init__(
        self,
        message: str,
        *,
        attempts: int,
        elapsed_seconds: float,
        last_reason: int | str,
        **context: Any,
    ) -> None:
        super().__init__(message, **context)
        self.attempts = attempts
        self.elapsed_seconds = elapsed_seconds
        self.last_reason = last_reason


# --------------------------------------------------------------------------------------------
# Plain data
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """Whatever an error body said; every field is optional, non-JSON bodies land in ``text``."""

    status: int | None = None
    error: str | None = None
    title: str | None = None
    message: str | None = None
    detail: str | None = None
    code: str | None = None
    api_version: str | None = None
    errors: str | None = None
    text: str | None = None
    fields: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_body(cls, body: bytes, redact: Callable[[str], str] = str) -> Problem:
        try:
            data = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            snippet = " ".join(body[:300].decode("utf-8", "replace").split())
            return cls(text=redact(snippet) or None)

        def text_of(key: str) -> str | None:
            value = data.get(key)
            if value is None or value == "":
                return None
            rendered = value if isinstance(value, str) else orjson.dumps(value).decode()
            return redact(rendered)

        status = data.get("status")
        return cls(
            status=status if isinstance(status, int) and not isinstance(status, bool) else None,
            error=text_of("error"),
            title=text_of("title"),
            message=text_of("message"),
            detail=text_of("detail"),
            code=text_of("code"),
            api_version=text_of("api_version"),
            errors=text_of("errors"),
            fields=data,
        )

    def summary(self) -> str:
        """The human part of the problem in one line, or '' when the body said nothing."""
        parts: list[str] = []
        for part in (self.error, self.title, self.message, self.detail, self.errors, self.text):
            if part and part not in parts:
                parts.append(part)
        text = "; ".join(parts)
        if self.code and self.code not in parts:
            text = f"{text} [{self.code}]" if text else f"[{self.code}]"
        return text

    def mentions(self, phrase: str) -> bool:
        """Whether any text field contains ``phrase`` (case, '_' and '-' insensitive)."""
        wanted = _normalise_words(phrase)
        texts = (self.error, self.title, self.message, self.detail, self.code, self.text)
        return any(wanted in _normalise_words(text) for text in texts if text)

    def number(self, key: str) -> float | None:
        """A numeric field from the body (top level or under ``extensions``)."""
        extensions = self.fields.get("extensions")
        for source in (self.fields, extensions if isinstance(extensions, dict) else {}):
            value = _to_float(source.get(key))
            if value is not None:
                return value
        return None


@dataclass(frozen=True)
class Location:
    """One entry of the feed's ``locations`` filter; a job matches any of them."""

    country: str | None = None
    region: str | None = None
    city: str | None = None

    def to_body(self) -> dict[str, str]:
        body = {"country": self.country, "region": self.region, "city": self.city}
        return {key: value for key, value in body.items() if value}


@dataclass(frozen=True)
class FeedRequest:
    """The filters of one feed scan; ``to_body()`` is the JSON body of its first page.

    Datetimes must be timezone-aware; they are sent as ISO 8601 UTC with a ``Z``. Employment
    types are accepted with underscores or hyphens and sent hyphenated (``full-time``).
    """

    batch_size: int = MAX_FEED_BATCH_SIZE
    updated_after: datetime | None = None
    posted_after: datetime | None = None
    sources: Sequence[str] | None = None
    work_models: Sequence[str] | None = None
    employment_types: Sequence[str] | None = None
    experience_levels: Sequence[str] | None = None
    locations: Sequence[Location | Mapping[str, str | None]] | None = None
    stable_scan: bool = True

    def __post_init__(self) -> None:
        _check_batch_size(self.batch_size, MAX_FEED_BATCH_SIZE, "FeedRequest.batch_size")
        for name in ("updated_after", "posted_after"):
            value = getattr(self, name)
            if value is not None:
                _check_aware(value, f"FeedRequest.{name}")
        for name in ("sources", "work_models", "employment_types", "experience_levels"):
            value = getattr(self, name)
            if isinstance(value, str):
                raise ValueError(
                    f"FeedRequest.{name} must be a list of strings, not the string {value!r}: "
                    f"write {name}=[{value!r}]"
                )
            if value is not None:
                object.__setattr__(self, name, tuple(value))
        if self.locations is not None:
            object.__setattr__(self, "locations", tuple(map(_as_location, self.locations)))

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"batch_size": self.batch_size, "stable_scan": self.stable_scan}
        if self.updated_after is not None:
            body["updated_after"] = format_datetime(self.updated_after)
        if self.posted_after is not None:
            body["posted_after"] = format_datetime(self.posted_after)
        lists = {
            "sources": self.sources,
            "work_models": self.work_models,
            "employment_types": [v.replace("_", "-") for v in self.employment_types or ()],
            "experience_levels": self.experience_levels,
        }
        for key, values in lists.items():
            if values:
                body[key] = list(values)
        locations = [loc.to_body() for loc in self.locations or () if isinstance(loc, Location)]
        if any(locations):
            body["locations"] = [loc for loc in locations if loc]
        return body


@dataclass(frozen=True, repr=False)
class FeedPage:
    """One page of ``/feed``. ``has_more`` is False when the body said so OR no cursor came back."""

    jobs: list[dict[str, Any]]
    next_cursor: str | None
    has_more: bool
    estimated_total: int | None = None
    credits_deducted: float | None = None
    credits_balance: float | None = None
    body_bytes: int = 0

    def __repr__(self) -> str:
        return (
            f"FeedPage(jobs=<{len(self.jobs)} jobs>, next_cursor={_short(self.next_cursor)!r}, "
            f"has_more={self.has_more}, estimated_total={self.estimated_total}, "
            f"credits_deducted={self.credits_deducted}, credits_balance={self.credits_balance}, "
            f"body_bytes={self.body_bytes})"
        )


@dataclass(frozen=True, repr=False)
class ExpiredPage:
    """One page of ``/expired``; same end rule as :class:`FeedPage`."""

    job_ids: list[str]
    next_cursor: str | None
    has_more: bool

    def __repr__(self) -> str:
        return (
            f"ExpiredPage(job_ids=<{len(self.job_ids)} ids>, "
            f"next_cursor={_short(self.next_cursor)!r}, has_more={self.has_more})"
        )


@dataclass(frozen=True)
class RetryEvent:
    """Passed to ``on_retry`` before each wait. ``attempt`` is the 1-based attempt that failed."""

    path: str
    attempt: int
    status_or_exception_name: int | str
    wait_seconds: float


DEFAULT_RETRY_POLICY: Final = RetryPolicy()


# --------------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------------


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
            body: dict[str, Any] = {"cursor": _check_cursor(cursor)}
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
        """Every page of a scan, from the start of ``request`` or resuming after ``cursor``."""
        page = self.feed_page(request, cursor=cursor)
        yield page
        while page.has_more and page.next_cursor:
            sent = page.next_cursor
            page = self.feed_page(cursor=sent)
            _check_cursor_moved(FEED_PATH, sent, page.next_cursor)
            yield page

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
        _check_batch_size(batch_size, MAX_EXPIRED_BATCH_SIZE, "expired batch_size")
        params: dict[str, str | int] = {"batch_size": batch_size}
        if cursor is not None:
            params["cursor"] = _check_cursor(cursor)
        elif expired_since is not None:
            params["expired_since"] = format_datetime(_check_aware(expired_since, "expired_since"))
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
        page = self.expired_page(expired_since=expired_since, batch_size=batch_size)
        while True:
            if page.job_ids:
                yield page.job_ids
            if not page.has_more or not page.next_cursor:
                return
            sent = page.next_cursor
            page = self.expired_page(
                expired_since=expired_since, cursor=sent, batch_size=batch_size
            )
            _check_cursor_moved(EXPIRED_PATH, sent, page.next_cursor)

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
            if error.retry_after is None and error.reason in _RETRY_AFTER_STATUSES:
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
            raise self._unavailable(
                method, path, gave_up.attempts, gave_up.elapsed, failure
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
        if status in _RETRY_AFTER_STATUSES:
            waited = parse_retry_after(response.headers.get("Retry-After"))
            raise _TransientError(status, problem.summary(), retry_after=waited)
        if status in _BACKOFF_STATUSES:
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
        said = problem.summary()
        http = f"HTTP {status}: {said}" if said else f"HTTP {status}"
        where = f"{method} {path}"
        context: dict[str, Any] = {
            "method": method,
            "path": path,
            "status": status,
            "problem": problem,
        }
        if status == 401:
            return JoboAuthError(
                self._redact(f"{where}: invalid or missing API key ({http}): check JOBO_API_KEY"),
                **context,
            )
        if status == 402:
            required = problem.number("credits_required")
            balance = problem.number("credits_balance")
            if balance is None:
                balance = _to_float(headers.get("X-Credits-Balance"))
            return JoboCreditsError(
                self._redact(
                    f"{where}: not enough Jobo credits (credits_required={_num(required)}, "
                    f"credits_balance={_num(balance)}; {http}): top up the wallet or use a key "
                    "with a Feed subscription (feed pages are free with one), then run again"
                ),
                credits_required=required,
                credits_balance=balance,
                **context,
            )
        if status == 403:
            return JoboForbiddenError(
                self._redact(
                    f"{where}: the API key is not entitled to this endpoint ({http}), e.g. it "
                    "has no Feed subscription: enable the Feed plan for the key or set "
                    "JOBO_API_KEY to a key that has it"
                ),
                **context,
            )
        if status == 404:
            return JoboNotFoundError(
                self._redact(
                    f"{where}: not found at {self.base_url} ({http}): check the base URL "
                    f"(the Jobo API is at {DEFAULT_BASE_URL})"
                ),
                **context,
            )
        if status == 409:
            return JoboCursorSpentError(
                self._redact(
                    f"{where}: the cursor can no longer be continued ({http}): discard it and "
                    "start a new scan from the first page"
                ),
                **context,
            )
        if status == 400:
            return self._bad_request(where, http, problem, expired_since, context)
        return JoboResponseError(
            self._redact(
                f"{where}: unexpected {http}: check the base URL {self.base_url} and the Jobo "
                "API status, and report it if it persists"
            ),
            **context,
        )

    def _bad_request(
        self,
        where: str,
        http: str,
        problem: Problem,
        expired_since: datetime | None,
        context: dict[str, Any],
    ) -> JoboError:
        if problem.mentions("invalid cursor"):
            return JoboInvalidCursorError(
                self._redact(
                    f"{where}: the server rejected the cursor ({http}): drop the saved cursor "
                    "and restart paging from the first page with the same filters"
                ),
                **context,
            )
        if context["path"] == EXPIRED_PATH and _is_lookback_problem(problem, expired_since):
            since = format_datetime(expired_since) if expired_since is not None else "(default)"
            return JoboLookbackError(
                self._redact(
                    f"{where}: expired_since={since} is further back than the API's 7-day "
                    f"lookback ({http}): run a full re-sync (reconcile) instead of the expiry "
                    "sweep"
                ),
                expired_since=expired_since,
                **context,
            )
        return JoboBadRequestError(
            self._redact(
                f"{where}: the server rejected the request ({http}): fix the request "
                "parameters named in the message"
            ),
            **context,
        )

    def _unavailable(
        self, method: str, path: str, attempts: int, elapsed: float, failure: _TransientError
    ) -> JoboUnavailableError:
        last = f"HTTP {failure.reason}" if isinstance(failure.reason, int) else failure.reason
        if failure.detail:
            last = f"{last}: {failure.detail[:300]}"
        message = (
            f"{method} {path}: the Jobo API stayed unavailable; gave up after {attempts} "
            f"attempt{'s' if attempts != 1 else ''} over {elapsed:.1f} s (last: {last}): wait and "
            "run again later, or raise the retry budget (RetryPolicy) if outages are routine"
        )
        return JoboUnavailableError(
            self._redact(message),
            attempts=attempts,
            elapsed_seconds=elapsed,
            last_reason=failure.reason,
            method=method,
            path=path,
            status=failure.reason if isinstance(failure.reason, int) else None,
        )

    def _note_credits(self, headers: Mapping[str, str]) -> None:
        deducted = _to_float(headers.get("X-Credits-Deducted"))
        if deducted is not None:
            self.credits_deducted_total += deducted
        balance = _to_float(headers.get("X-Credits-Balance"))
        if balance is None:
            return
        self.last_credits_balance = balance
        warn_below = self.credits_warn
        if warn_below is not None and balance < warn_below and not self._credits_warned:
            self._credits_warned = True
            log.warning(
                "Jobo credits are running low: balance %s is below the warning level %s; top up "
                "the wallet (or use a Feed subscription) before requests fail with 402",
                _num(balance),
                _num(warn_below),
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
            estimated_total=int(total) if _is_number(total) else None,
            credits_deducted=_to_float(headers.get("X-Credits-Deducted")),
            credits_balance=_to_float(headers.get("X-Credits-Balance")),
            body_bytes=len(content),
        )


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


class _ShapeError(IndexerError):
    """A complete JSON body that is not what the contract documents."""


def format_datetime(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` (microseconds only when present): the API's time format."""
    utc = _check_aware(value, "datetime").astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat() + "Z"


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


def _check_cursor_moved(path: str, sent: str | None, received: str | None) -> None:
    if received is not None and received == sent:
        raise JoboResponseError(
            f"{path}: the server returned the cursor it was given, so paging would loop: drop "
            "the saved cursor and start a new scan",
            path=path,
        )


def _is_lookback_problem(problem: Problem, expired_since: datetime | None) -> bool:
    if any(problem.mentions(phrase) for phrase in _LOOKBACK_PHRASES):
        return True
    return expired_since is not None and datetime.now(UTC) - expired_since > EXPIRED_LOOKBACK


def _check_batch_size(value: object, maximum: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise ValueError(
            f"{name}={value!r} is out of range: use a whole number from 1 to {maximum}"
        )


def _check_aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name}={value!r} must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{name}={value.isoformat()} has no time zone: pass an aware datetime, "
            "e.g. datetime.now(UTC)"
        )
    return value


def _check_cursor(cursor: str) -> str:
    if not isinstance(cursor, str) or not cursor:
        raise ValueError(f"cursor={cursor!r} is empty: pass None to start from the first page")
    return cursor


def _as_location(value: Location | Mapping[str, str | None]) -> Location:
    if isinstance(value, Location):
        return value
    unknown = set(value) - {"country", "region", "city"}
    if unknown:
        raise ValueError(
            f"location filter {dict(value)!r} has unknown keys {sorted(unknown)}: "
            "use country, region and city"
        )
    return Location(
        country=value.get("country"), region=value.get("region"), city=value.get("city")
    )


def _normalise_words(text: str) -> str:
    return " ".join(text.lower().replace("_", " ").replace("-", " ").split())


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _to_float(value: object) -> float | None:
    if _is_number(value):
        return float(value)  # type: ignore[arg-type]
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def _num(value: float | None) -> str:
    if value is None:
        return "unknown"
    return str(int(value)) if value == int(value) else str(value)


def _short(cursor: str | None) -> str | None:
    if cursor is None or len(cursor) <= 40:
        return cursor
    return cursor[:37] + "..."
