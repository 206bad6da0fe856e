"""What the Jobo Feed API can answer, and the typed error each answer becomes.

The tree (every class is an :class:`~indexer.errors.IndexerError` with an exit code)::

    JoboError                      any failure of the feed client
    ├── JoboAuthError              401  the API key is missing or invalid
    ├── JoboCreditsError           402  the wallet cannot pay (credits_required, credits_balance)
    ├── JoboForbiddenError         403  the key has no entitlement (e.g. no Feed plan)
    ├── JoboNotFoundError          404  usually a wrong base URL
    ├── JoboBadRequestError        400  the parameters were refused
    │   ├── JoboInvalidCursorError      400 "Invalid cursor" (also a JoboCursorError)
    │   └── JoboLookbackError           400 from /expired: expired_since older than 7 days
    ├── JoboCursorError            the cursor cannot be continued: restart from page one
    │   └── JoboCursorSpentError        409 the scan's deep-pagination limit
    ├── JoboResponseError          an unexpected status, a 200 of the wrong shape, a stuck cursor
    └── JoboUnavailableError       retries ran out (429, 5xx, connection errors, truncated bodies)

:data:`STATUS_TABLE` is the one place that says, per HTTP status, whether the client retries
(and how) and which error it raises otherwise; :func:`error_for_status` builds that error with a
message that names what failed and what to do next.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson

from indexer.errors import ExitCode, IndexerError
from indexer.feed._values import normalise_words, number_text, to_float

DEFAULT_BASE_URL: Final = "https://connect.jobo.world"
FEED_PATH: Final = "/api/jobs/feed"
EXPIRED_PATH: Final = "/api/jobs/expired"
#: How far back ``GET /api/jobs/expired`` can look; older ``expired_since`` values are a 400.
EXPIRED_LOOKBACK: Final = timedelta(days=7)
_LOOKBACK_PHRASES: Final = (
    "expired since",
    "lookback",
    "look back",
    "7 days",
    "seven days",
    "too old",
    "too far",
)


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
        wanted = normalise_words(phrase)
        texts = (self.error, self.title, self.message, self.detail, self.code, self.text)
        return any(wanted in normalise_words(text) for text in texts if text)

    def number(self, key: str) -> float | None:
        """A numeric field from the body (top level or under ``extensions``)."""
        extensions = self.fields.get("extensions")
        for source in (self.fields, extensions if isinstance(extensions, dict) else {}):
            value = to_float(source.get(key))
            if value is not None:
                return value
        return None


class Retry(enum.Enum):
    """How the client treats a status: never retried, retried with backoff, or after a wait."""

    NEVER = "never"
    BACKOFF = "backoff"  # exponential with jitter
    RETRY_AFTER = "retry-after"  # the Retry-After header's seconds (a default when absent)


@dataclass(frozen=True)
class StatusRule:
    """One row of :data:`STATUS_TABLE`. ``message`` is formatted with ``where``, ``http``,
    ``base_url``, ``default_url``, ``required`` and ``balance``."""

    retry: Retry
    error: type[JoboError] | None = None
    message: str = ""


#: Every status the contract documents. A status not listed is a :class:`JoboResponseError`.
STATUS_TABLE: Final[Mapping[int, StatusRule]] = {
    400: StatusRule(
        Retry.NEVER,
        JoboBadRequestError,
        "{where}: the server rejected the request ({http}): fix the request parameters named "
        "in the message",
    ),
    401: StatusRule(
        Retry.NEVER,
        JoboAuthError,
        "{where}: invalid or missing API key ({http}): check JOBO_API_KEY",
    ),
    402: StatusRule(
        Retry.NEVER,
        JoboCreditsError,
        "{where}: not enough Jobo credits (credits_required={required}, "
        "credits_balance={balance}; {http}): top up the wallet or use a key with a Feed "
        "subscription (feed pages are free with one), then run again",
    ),
    403: StatusRule(
        Retry.NEVER,
        JoboForbiddenError,
        "{where}: the API key is not entitled to this endpoint ({http}), e.g. it has no Feed "
        "subscription: enable the Feed plan for the key or set JOBO_API_KEY to a key that has it",
    ),
    404: StatusRule(
        Retry.NEVER,
        JoboNotFoundError,
        "{where}: not found at {base_url} ({http}): check the base URL (the Jobo API is at "
        "{default_url})",
    ),
    409: StatusRule(
        Retry.NEVER,
        JoboCursorSpentError,
        "{where}: the cursor can no longer be continued ({http}): discard it and start a new "
        "scan from the first page",
    ),
    429: StatusRule(Retry.RETRY_AFTER),
    500: StatusRule(Retry.BACKOFF),
    502: StatusRule(Retry.BACKOFF),
    503: StatusRule(Retry.RETRY_AFTER),
    504: StatusRule(Retry.BACKOFF),
}
_UNEXPECTED: Final = (
    "{where}: unexpected {http}: check the base URL {base_url} and the Jobo API status, and "
    "report it if it persists"
)
_INVALID_CURSOR: Final = (
    "{where}: the server rejected the cursor ({http}): drop the saved cursor and restart paging "
    "from the first page with the same filters"
)
_LOOKBACK: Final = (
    "{where}: expired_since={since} is further back than the API's 7-day lookback ({http}): run "
    "a full re-sync (reconcile) instead of the expiry sweep"
)


def retry_rule(status: int) -> Retry:
    """How a response with ``status`` is retried (a status outside the table: never)."""
    rule = STATUS_TABLE.get(status)
    return rule.retry if rule is not None else Retry.NEVER


def error_for_status(
    method: str,
    path: str,
    status: int,
    problem: Problem,
    *,
    base_url: str,
    headers: Mapping[str, str],
    expired_since: datetime | None = None,
    redact: Callable[[str], str] = str,
) -> JoboError:
    """The typed error for a final (not retried) answer, its message redacted."""
    said = problem.summary()
    http = f"HTTP {status}: {said}" if said else f"HTTP {status}"
    context: dict[str, Any] = {"method": method, "path": path, "status": status, "problem": problem}
    values: dict[str, Any] = {
        "where": f"{method} {path}",
        "http": http,
        "base_url": base_url,
        "default_url": DEFAULT_BASE_URL,
    }
    if status == 400 and problem.mentions("invalid cursor"):
        return JoboInvalidCursorError(redact(_INVALID_CURSOR.format(**values)), **context)
    if status == 400 and path == EXPIRED_PATH and _is_lookback_problem(problem, expired_since):
        since = format_datetime(expired_since) if expired_since is not None else "(default)"
        message = _LOOKBACK.format(since=since, **values)
        return JoboLookbackError(redact(message), expired_since=expired_since, **context)
    rule = STATUS_TABLE.get(status)
    if rule is None or rule.error is None:
        return JoboResponseError(redact(_UNEXPECTED.format(**values)), **context)
    if rule.error is JoboCreditsError:
        required = problem.number("credits_required")
        balance = problem.number("credits_balance")
        if balance is None:
            balance = to_float(headers.get("X-Credits-Balance"))
        message = rule.message.format(
            required=number_text(required), balance=number_text(balance), **values
        )
        return JoboCreditsError(
            redact(message), credits_required=required, credits_balance=balance, **context
        )
    return rule.error(redact(rule.message.format(**values)), **context)


def unavailable_error(
    method: str,
    path: str,
    *,
    attempts: int,
    elapsed: float,
    reason: int | str,
    detail: str,
    redact: Callable[[str], str] = str,
) -> JoboUnavailableError:
    """Retries ran out: what was tried, for how long, the last failure, and what to do."""
    last = f"HTTP {reason}" if isinstance(reason, int) else reason
    if detail:
        last = f"{last}: {detail[:300]}"
    message = (
        f"{method} {path}: the Jobo API stayed unavailable; gave up after {attempts} "
        f"attempt{'s' if attempts != 1 else ''} over {elapsed:.1f} s (last: {last}): wait and "
        "run again later, or raise --upstream-retries if outages are "
        "routine"
    )
    return JoboUnavailableError(
        redact(message),
        attempts=attempts,
        elapsed_seconds=elapsed,
        last_reason=reason,
        method=method,
        path=path,
        status=reason if isinstance(reason, int) else None,
    )


def cursor_stuck_error(path: str) -> JoboResponseError:
    """The server answered a cursor with that same cursor: paging would loop forever."""
    return JoboResponseError(
        f"{path}: the server returned the cursor it was given, so paging would loop: drop "
        "the saved cursor and start a new scan",
        path=path,
    )


def format_datetime(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` (microseconds only when present): the API's time format."""
    utc = check_aware(value, "datetime").astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat() + "Z"


def check_aware(value: datetime, name: str) -> datetime:
    """``value`` itself when it is a timezone-aware datetime; else a message naming ``name``."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name}={value!r} must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            f"{name}={value.isoformat()} has no time zone: pass an aware datetime, "
            "e.g. datetime.now(UTC)"
        )
    return value


def _is_lookback_problem(problem: Problem, expired_since: datetime | None) -> bool:
    if any(problem.mentions(phrase) for phrase in _LOOKBACK_PHRASES):
        return True
    return expired_since is not None and datetime.now(UTC) - expired_since > EXPIRED_LOOKBACK
