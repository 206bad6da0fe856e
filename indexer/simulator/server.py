"""The HTTP face of the simulator: the Jobo Feed API plus the ``/_sim/`` control endpoints.

``SimulatorApp.handle`` turns one request into a :class:`Response` (no sockets involved);
``SimulatorHTTPServer`` is a stdlib threading server that feeds it. Feed pages are assembled by
joining pre-encoded job bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import random
import socket
import sys
import time
import traceback
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from indexer.simulator.accounts import Stats, Wallet
from indexer.simulator.cursors import CursorBook, InvalidCursorError
from indexer.simulator.faults import (
    EXPIRED_PATH,
    FEED_PATH,
    Fault,
    FaultBoard,
    FaultSpecError,
    parse_fault,
)
from indexer.simulator.wire import BadRequestError, Response, json_response, problem
from indexer.simulator.world import DAY_MS, FeedQuery, World, iso_ms, wall_clock_ms

FEED_MAX_BATCH = 1000
EXPIRED_MAX_BATCH = 10_000
EXPIRED_DEFAULT_WINDOW_MS = DAY_MS
EXPIRED_MAX_WINDOW_MS = 7 * DAY_MS
# Clients compute "now - 7 days" a moment before the request arrives; allow them that moment.
EXPIRED_WINDOW_GRACE_MS = 60_000
CREDITS_PER_JOB = 0.5
HOUR_MS = 3_600_000


@dataclass(frozen=True)
class SimulatorConfig:
    """Everything that shapes one simulator run. ``api_key`` never appears in the repr."""

    api_key: str = field(repr=False)
    jobs: int = 1000
    seed: int = 42
    retry_after: int = 5
    latency_ms: int = 0
    cursor_ttl: float = 600.0
    credits: float | None = None
    subscription: bool = True
    anchor: datetime | None = None
    expired_jobs: int | None = None

    def __post_init__(self) -> None:
        if not self.api_key:
            raise ValueError("api_key must not be empty: pass --api-key or set JOBO_API_KEY")
        if self.subscription and self.credits is not None:
            raise ValueError("give either credits (a wallet) or subscription, not both")
        if not self.subscription and self.credits is None:
            raise ValueError("without a subscription the wallet needs credits, e.g. credits=1000")
        if self.cursor_ttl <= 0:
            raise ValueError(f"cursor_ttl must be > 0 seconds, got {self.cursor_ttl}")

    def anchor_ms(self) -> int:
        """World time zero: the given anchor, or now rounded down to the hour."""
        if self.anchor is None:
            return wall_clock_ms() // HOUR_MS * HOUR_MS
        anchor = self.anchor if self.anchor.tzinfo else self.anchor.replace(tzinfo=UTC)
        return int(anchor.timestamp() * 1000)


def format_credits(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def parse_datetime_ms(name: str, value: object) -> int:
    if not isinstance(value, str):
        raise BadRequestError(f"'{name}' must be an ISO 8601 datetime string, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as error:
        raise BadRequestError(
            f"'{name}' is not an ISO 8601 datetime: {value!r} (e.g. 2026-01-02T03:04:05Z)"
        ) from error
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def _string_set(body: Mapping[str, Any], name: str, *, hyphenate: bool = False) -> frozenset[str]:
    value = body.get(name)
    if value is None:
        return frozenset()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise BadRequestError(f"'{name}' must be a list of strings, got {value!r}")
    if hyphenate:
        return frozenset(item.strip().lower().replace("_", "-") for item in value)
    return frozenset(item.strip().lower() for item in value)


def _locations(body: Mapping[str, Any]) -> tuple[tuple[str | None, str | None, str | None], ...]:
    value = body.get("locations")
    if value is None:
        return ()
    if not isinstance(value, list):
        raise BadRequestError(f"'locations' must be a list of objects, got {value!r}")
    out = []
    for item in value:
        if not isinstance(item, dict):
            raise BadRequestError(f"each location must be an object, got {item!r}")
        parts = []
        for key in ("country", "region", "city"):
            part = item.get(key)
            if part is not None and not isinstance(part, str):
                raise BadRequestError(f"location '{key}' must be a string, got {part!r}")
            parts.append(part.strip().lower() if part else None)
        if parts == [None, None, None]:
            raise BadRequestError("each location needs at least one of country, region, city")
        out.append((parts[0], parts[1], parts[2]))
    return tuple(out)


def _batch_size(value: object, maximum: int) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise BadRequestError(f"'batch_size' must be an integer from 1 to {maximum}, got {value!r}")
    return value


def parse_feed_body(body: Mapping[str, Any]) -> tuple[FeedQuery, int]:
    """The filters and batch size of a first feed request."""
    batch = _batch_size(body.get("batch_size", FEED_MAX_BATCH), FEED_MAX_BATCH)
    stable = body.get("stable_scan", True)
    if not isinstance(stable, bool):
        raise BadRequestError(f"'stable_scan' must be a boolean, got {stable!r}")
    updated = body.get("updated_after")
    posted = body.get("posted_after")
    query = FeedQuery(
        updated_after_ms=None if updated is None else parse_datetime_ms("updated_after", updated),
        posted_after_ms=None if posted is None else parse_datetime_ms("posted_after", posted),
        sources=_string_set(body, "sources"),
        work_models=_string_set(body, "work_models"),
        employment_types=_string_set(body, "employment_types", hyphenate=True),
        experience_levels=_string_set(body, "experience_levels"),
        locations=_locations(body),
    )
    return query, batch


def _malformed_jobs(rng: random.Random, count: int, now_ms: int) -> list[bytes]:
    """Jobs a robust client must reject one by one: no id, bad dates, wrong types.

    Every broken job is distinct (its own id and title), as a real feed's would be.
    """
    stamp = iso_ms(now_ms)

    def broken(kind: int, n: int) -> dict[str, Any]:
        new_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        if kind == 0:
            return {
                "title": f"Broken #{n}: no id",
                "created_at": stamp,
                "updated_at": stamp,
                "locations": [],
            }
        if kind == 1:
            return {
                "id": new_id,
                "title": f"Broken #{n}: unparseable dates",
                "created_at": "not-a-date",
                "updated_at": "31/02/2026 25:61",
                "locations": [],
            }
        if kind == 2:
            return {
                "id": new_id,
                "title": f"Broken #{n}: wrong types",
                "created_at": stamp,
                "updated_at": stamp,
                "locations": "Berlin, Germany",
                "compensation": "competitive",
                "company": ["not", "an", "object"],
            }
        return {"id": rng.getrandbits(31), "title": n, "created_at": stamp, "updated_at": None}

    first = rng.randrange(4)
    return [orjson.dumps(broken((first + i) % 4, i)) for i in range(count)]


class SimulatorApp:
    """Routes requests to the feed, expired and control handlers."""

    def __init__(self, config: SimulatorConfig, world: World | None = None) -> None:
        self.config = config
        self.world = world or World(
            seed=config.seed,
            jobs=config.jobs,
            anchor_ms=config.anchor_ms(),
            expired_jobs=config.expired_jobs,
        )
        secret = hashlib.sha256(f"jobo-sim-cursor:{config.seed}".encode()).digest()
        self.cursors = CursorBook(secret, config.cursor_ttl)
        self.faults = FaultBoard()
        self.wallet = Wallet(config.credits, config.subscription)
        self.stats = Stats()
        self._malformed_rng = random.Random(f"jobo-sim-malformed:{config.seed}")
        self._routes = {
            ("POST", FEED_PATH): self._feed,
            ("GET", EXPIRED_PATH): self._expired,
            ("POST", "/_sim/mutate"): self._mutate,
            ("POST", "/_sim/faults"): self._arm_faults,
            ("DELETE", "/_sim/faults"): self._clear_faults,
            ("GET", "/_sim/stats"): self._stats,
            ("GET", "/_sim/truth"): self._truth,
            ("GET", "/_sim/wallet"): self._wallet,
            ("POST", "/_sim/wallet"): self._set_wallet,
        }
        self._paths = {path for _, path in self._routes} | {"/_sim/health"}

    # -- dispatch -----------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        response = self._dispatch(method, path, query, headers, body)
        self.stats.count(path if path in self._paths else "(other)", response.status)
        return response

    def _dispatch(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> Response:
        if path == "/_sim/health" and method == "GET":
            return json_response(200, {"status": "ok", **self.world.counts()})
        route = self._routes.get((method, path))
        if route is None:
            if path in self._paths:
                return problem(405, f"{method} is not allowed on {path}", code="method_not_allowed")
            return problem(404, f"No such resource: {path}", code="not_found")
        if not self._authorized(headers):
            return problem(401, "Missing or invalid X-Api-Key header", code="unauthorized")
        if path in (FEED_PATH, EXPIRED_PATH):
            return self._api_call(path, route, query, body)
        try:
            return route(query, body, None)
        except BadRequestError as error:
            return problem(400, str(error), code="bad_request")

    def _authorized(self, headers: Mapping[str, str]) -> bool:
        given = headers.get("X-Api-Key") or ""
        return hmac.compare_digest(given.encode(), self.config.api_key.encode())

    def _api_call(self, path: str, route: Any, query: str, body: bytes) -> Response:
        if self.config.latency_ms:
            time.sleep(self.config.latency_ms / 1000)
        fault = self.faults.take(path)
        if fault is not None and fault.kind == "status":
            return self._fault_response(fault)
        try:
            response = route(query, body, fault)
        except BadRequestError as error:
            return problem(400, str(error), code="bad_request")
        except InvalidCursorError:
            return self._invalid_cursor()
        if fault is not None and fault.kind == "truncate":
            response.truncate = True
        elif 200 <= response.status < 300:
            self.faults.note_success(path)
        return response

    # -- API endpoints ------------------------------------------------------------------------

    def _feed(self, _query: str, raw: bytes, fault: Fault | None) -> Response:
        body = self._json_object(raw)
        cursor = body.get("cursor")
        if cursor is not None:
            state = self.cursors.resolve(cursor, "feed")
            query, batch = FeedQuery.from_json(state["q"]), state["b"]
            after: tuple[int, str] | None = (state["p"][0], state["p"][1])
        else:
            query, batch = parse_feed_body(body)
            after = None
        page = self.world.feed_page(query, after, batch, with_total=cursor is None)
        cost = CREDITS_PER_JOB * len(page.jobs)
        paid, balance = self.wallet.charge(cost)
        if not paid:
            return self._payment_required(cost, balance or 0.0)
        jobs = list(page.jobs)
        malformed = 0
        if fault is not None and fault.kind == "malformed":
            malformed = fault.malformed_jobs
            for broken in _malformed_jobs(self._malformed_rng, malformed, self.world.clock()):
                jobs.insert(self._malformed_rng.randrange(len(jobs) + 1), broken)
        next_cursor = None
        if page.has_more and page.last_key is not None:
            next_cursor = self.cursors.issue(
                {"k": "feed", "q": query.to_json(), "b": batch, "p": list(page.last_key)}
            )
        parts = [
            b'{"jobs":[',
            b",".join(jobs),
            b'],"next_cursor":',
            orjson.dumps(next_cursor),
            b',"has_more":',
            b"true" if page.has_more else b"false",
        ]
        if page.estimated_total is not None:
            parts.append(b',"estimated_total":%d' % page.estimated_total)
        parts.append(b"}")
        self.stats.add(jobs=len(page.jobs), malformed=malformed)
        headers = {
            "X-Has-More": "true" if page.has_more else "false",
            "X-Credits-Deducted": format_credits(0.0 if balance is None else cost),
        }
        if balance is not None:
            headers["X-Credits-Balance"] = format_credits(balance)
        return Response(200, b"".join(parts), headers)

    def _expired(self, raw_query: str, _body: bytes, _fault: Fault | None) -> Response:
        params = {key: values[-1] for key, values in parse_qs(raw_query).items()}
        if params.get("cursor"):
            state = self.cursors.resolve(params["cursor"], "expired")
            since, batch = state["s"], state["b"]
            after: tuple[int, str] | None = (state["p"][0], state["p"][1])
        else:
            now = self.world.clock()
            since = now - EXPIRED_DEFAULT_WINDOW_MS
            if "expired_since" in params:
                since = parse_datetime_ms("expired_since", params["expired_since"])
            if since < now - EXPIRED_MAX_WINDOW_MS - EXPIRED_WINDOW_GRACE_MS:
                raise BadRequestError(
                    f"'expired_since' {iso_ms(since)} is more than 7 days back; "
                    "run a full re-sync of /api/jobs/feed instead"
                )
            batch = _batch_size(params.get("batch_size", EXPIRED_MAX_BATCH), EXPIRED_MAX_BATCH)
            after = None
        page = self.world.expired_page(since, after, batch)
        next_cursor = None
        if page.has_more and page.last_key is not None:
            next_cursor = self.cursors.issue(
                {"k": "expired", "s": since, "b": batch, "p": list(page.last_key)}
            )
        self.stats.add(expired_ids=len(page.job_ids))
        payload = {"job_ids": page.job_ids, "next_cursor": next_cursor, "has_more": page.has_more}
        return json_response(200, payload)

    # -- control endpoints --------------------------------------------------------------------

    def _mutate(self, _query: str, raw: bytes, _fault: Fault | None) -> Response:
        body = self._json_object(raw)
        allowed = {"create", "update", "expire", "repost", "lag_minutes"}
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise BadRequestError(f"unknown mutation fields {unknown}; use {sorted(allowed)}")
        counts: dict[str, int] = {}
        for name in ("create", "update", "expire", "repost"):
            value = body.get(name, 0)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise BadRequestError(f"'{name}' must be an integer >= 0, got {value!r}")
            counts[name] = value
        lag = body.get("lag_minutes", 0)
        if isinstance(lag, bool) or not isinstance(lag, int | float) or lag < 0:
            raise BadRequestError(f"'lag_minutes' must be a number >= 0, got {lag!r}")
        result = self.world.mutate(**counts, lag_minutes=lag)
        return json_response(200, result.to_json())

    def _arm_faults(self, _query: str, raw: bytes, _fault: Fault | None) -> Response:
        try:
            spec = orjson.loads(raw or b"{}")
        except orjson.JSONDecodeError as error:
            raise BadRequestError(f"the fault body is not JSON: {error}") from error
        specs = spec if isinstance(spec, list) else [spec]
        try:
            faults = [parse_fault(item) for item in specs]
        except FaultSpecError as error:
            raise BadRequestError(str(error)) from error
        for fault in faults:
            self.faults.arm(fault)
        return json_response(
            200, {"armed": [f.to_json() for f in faults], "pending": self.faults.pending()}
        )

    def _clear_faults(self, _query: str, _raw: bytes, _fault: Fault | None) -> Response:
        return json_response(200, {"cleared": self.faults.clear()})

    def _stats(self, _query: str, _raw: bytes, _fault: Fault | None) -> Response:
        payload = self.stats.to_json()
        payload.update(self.world.counts())
        payload["subscription"] = self.wallet.subscription
        payload["credits_balance"] = self.wallet.balance
        payload["credits_spent"] = self.wallet.spent
        payload["pending_faults"] = self.faults.pending()
        return json_response(200, payload)

    def _wallet(self, _query: str, _raw: bytes, _fault: Fault | None) -> Response:
        return json_response(200, self.wallet.to_json())

    def _set_wallet(self, _query: str, raw: bytes, _fault: Fault | None) -> Response:
        self.wallet.configure(self._json_object(raw))
        return json_response(200, self.wallet.to_json())

    def _truth(self, _query: str, _raw: bytes, _fault: Fault | None) -> Response:
        return json_response(200, self.world.truth())

    # -- helpers ------------------------------------------------------------------------------

    @staticmethod
    def _json_object(raw: bytes) -> dict[str, Any]:
        if not raw.strip():
            return {}
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            raise BadRequestError(f"the request body is not valid JSON: {error}") from error
        if not isinstance(body, dict):
            raise BadRequestError("the request body must be a JSON object")
        return body

    def _invalid_cursor(self) -> Response:
        return problem(
            400,
            "Invalid cursor",
            code="invalid_cursor",
            detail="The cursor is unknown, expired or spent; restart pagination without a cursor.",
        )

    def _payment_required(self, required: float, balance: float) -> Response:
        return problem(
            402,
            "Insufficient credits",
            code="insufficient_credits",
            detail=f"This page costs {format_credits(required)} credits; "
            f"the balance is {format_credits(balance)}.",
            extra={"credits_required": required, "credits_balance": balance},
        )

    def _fault_response(self, fault: Fault) -> Response:
        status = fault.status or 500
        retry = {"Retry-After": str(self.config.retry_after)}
        if status == 400:
            return self._invalid_cursor()
        if status == 401:
            return problem(401, "Missing or invalid X-Api-Key header", code="unauthorized")
        if status == 402:
            return self._payment_required(CREDITS_PER_JOB * FEED_MAX_BATCH, 0.0)
        if status == 403:
            return problem(403, "This API key is not entitled to the Feed API", code="forbidden")
        if status == 409:
            return problem(
                409,
                "Cursor can no longer be continued",
                code="cursor_conflict",
                detail="The scan hit its deep-pagination limit; start a new scan.",
            )
        if status == 429:
            return problem(429, "Rate limit exceeded", code="rate_limited", headers=retry)
        if status == 503:
            return problem(
                503,
                "Service temporarily unavailable",
                code="service_unavailable",
                detail="The search back end's circuit breaker is open; retry after the delay.",
                headers=retry,
            )
        return problem(status, HTTPStatus(status).phrase, code="server_error")


class SimulatorRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "JoboFeedSimulator/1.0"
    server: SimulatorHTTPServer

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the simulator serves thousands of pages; /_sim/stats has the counts."""

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        try:
            response = self.server.app.handle(method, parts.path, parts.query, self.headers, body)
        except Exception as error:  # a simulator bug must still answer, and say so
            traceback.print_exc(file=sys.stderr)
            response = problem(500, f"simulator error: {error}", code="simulator_bug")
        self._send(response)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if not response.truncate:
            self.wfile.write(response.body)
            return
        self.wfile.write(response.body[: len(response.body) // 2])
        self.wfile.flush()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class SimulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: SimulatorApp) -> None:
        self.app = app
        super().__init__(address, SimulatorRequestHandler)
