"""The read-only search service: a Starlette app over the same search code as the CLI.

Routes (see :mod:`indexer.serve.openapi` for the document a client reads):

* ``GET /api/search``: the ``search`` command's options as query parameters
  (:mod:`indexer.search.params` parses both), answered with the command's ``--json`` page;
* ``GET /api/jobs/{id}``: one active job with its long fields, 404 when the index has none;
* ``GET /api/suggest?q=``: autocomplete of titles and company names;
* ``GET /api/facets``: the facet counts (and total) of a search, without hits;
* ``GET /healthz``: whether OpenSearch answers and the index exists (200, else 503);
* ``GET /openapi.json``, ``GET /docs``; ``GET /`` the search page (``static/``).

Every refusal is JSON: ``{"error": {"status", "parameter", "message"}}``; bad input is a 4xx
naming the parameter and the fix, an OpenSearch that does not answer in time a 504, one that is
down a 503. Nothing the service says carries the OpenSearch URL or its credentials.

The OpenSearch client is the synchronous one every command uses; each call runs in Starlette's
thread pool, at most ``max_in_flight`` at once, each bounded by the client's request timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import orjson
from opensearchpy import OpenSearch
from opensearchpy.exceptions import (
    ConnectionError as OpenSearchConnectionError,
)
from opensearchpy.exceptions import (
    ConnectionTimeout,
    NotFoundError,
    OpenSearchException,
    TransportError,
)
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from indexer.errors import IndexerError
from indexer.logs import redact
from indexer.search import SearchError, get_job, search, suggest
from indexer.search.params import check_text, query_from_values, unknown_params

T = TypeVar("T")
STATIC = Path(__file__).resolve().parent / "static"
MAX_QUERY_STRING = 4096  # bytes of a URL's query: far above any real search
MAX_ID_CHARS = 200
MAX_SUGGESTIONS = 20
HEALTH_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class ServiceSettings:
    alias: str  # the read alias: active jobs only
    cors_origins: Sequence[str] = ()
    max_in_flight: int = 16  # OpenSearch requests at once; more wait their turn


class ApiError(IndexerError):
    """A refusal the service answers as JSON."""

    def __init__(self, status: int, message: str, parameter: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.parameter = status, message, parameter


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(status: int, message: str, parameter: str | None = None) -> JSONResponse:
    body = {"error": {"status": status, "parameter": parameter, "message": redact(message)}}
    return JSONResponse(body, status_code=status)


# --------------------------------------------------------------------------- parameters


def _raw_params(request: Request, allowed: Sequence[str] | None = None) -> dict[str, list[str]]:
    """The query parameters as name -> texts; unknown or oversized ones refused."""
    if len(request.url.query) > MAX_QUERY_STRING:
        raise ApiError(414, f"the query string is over {MAX_QUERY_STRING} bytes: ask for less")
    names = list(dict.fromkeys(request.query_params.keys()))
    unknown = unknown_params(names) if allowed is None else [n for n in names if n not in allowed]
    if unknown:
        known = (
            "the search command's options (see /openapi.json)"
            if allowed is None
            else ", ".join(allowed)
        )
        raise ApiError(400, f"unknown parameter {unknown[0]!r}: use {known}", unknown[0])
    return {name: request.query_params.getlist(name) for name in names}


def _single(raw: dict[str, list[str]], name: str) -> str | None:
    values = raw.get(name, [])
    if len(values) > 1:
        raise ApiError(400, f"{name} is given {len(values)} times: give it once", name)
    return values[0] if values else None


def _size(raw: dict[str, list[str]], default: int, maximum: int) -> int:
    text = _single(raw, "size")
    if text is None:
        return default
    try:
        size = int(text)
    except ValueError:
        raise ApiError(400, f"size {text[:40]!r} is not a whole number", "size") from None
    if not 1 <= size <= maximum:
        raise ApiError(400, f"size {size} is out of range: use 1..{maximum}", "size")
    return size


# --------------------------------------------------------------------------- the app


class SearchService:
    """The handlers, bound to one client and one alias."""

    def __init__(self, client: OpenSearch, settings: ServiceSettings) -> None:
        self.client, self.settings = client, settings
        self.slots = asyncio.Semaphore(settings.max_in_flight)

    async def call(self, work: Callable[[], T]) -> tuple[T, float]:
        """``work()`` (an OpenSearch call) in the thread pool; its result and milliseconds."""
        async with self.slots:
            started = time.perf_counter()
            result = await run_in_threadpool(work)
            return result, (time.perf_counter() - started) * 1000

    async def search(self, request: Request) -> Response:
        query = query_from_values(_raw_params(request))
        page, took = await self.call(lambda: search(self.client, self.settings.alias, query))
        return _timed(JSONResponse(page.as_dict()), took)

    async def facets(self, request: Request) -> Response:
        query = query_from_values(_raw_params(request))
        query = replace(query, size=1, highlight=False)
        page, took = await self.call(lambda: search(self.client, self.settings.alias, query))
        body = page.as_dict()
        shown = {key: body[key] for key in ("total", "postings", "facets", "near")}
        return _timed(JSONResponse(shown), took)

    async def job(self, request: Request) -> Response:
        job_id = request.path_params["job_id"]
        if len(job_id) > MAX_ID_CHARS or not job_id.strip():
            raise ApiError(400, f"job id must be 1..{MAX_ID_CHARS} characters", "id")
        found, took = await self.call(lambda: get_job(self.client, self.settings.alias, job_id))
        if found is None:
            raise ApiError(
                404,
                f"no active job {job_id[:80]!r}: it expired or never existed; search again",
                "id",
            )
        return _timed(JSONResponse(found), took)

    async def suggest(self, request: Request) -> Response:
        raw = _raw_params(request, allowed=("q", "size"))
        text = _single(raw, "q")
        if text is None or not text.strip():
            raise ApiError(400, "q is missing: give the start of a title or company name", "q")
        prefix = check_text("q", text, lambda name: name)
        size = _size(raw, default=10, maximum=MAX_SUGGESTIONS)
        found, took = await self.call(
            lambda: suggest(self.client, self.settings.alias, prefix, size)
        )
        rows = [{"text": s.text, "kind": s.kind, "count": s.count} for s in found]
        return _timed(JSONResponse({"q": prefix, "suggestions": rows}), took)

    async def health(self, request: Request) -> Response:
        def probe() -> dict[str, Any]:
            info = self.client.info(request_timeout=HEALTH_TIMEOUT_S)
            exists = self.client.indices.exists_alias(
                name=self.settings.alias, request_timeout=HEALTH_TIMEOUT_S
            )
            return {"version": info["version"]["number"], "index": bool(exists)}

        try:
            answer, took = await self.call(probe)
        except OpenSearchException as error:
            status = {"answers": False, "reason": _reason(error)}
            return JSONResponse({"status": "unavailable", "opensearch": status}, status_code=503)
        status = {"answers": True, "version": answer["version"], "ms": round(took, 1)}
        ok = answer["index"]
        body = {
            "status": "ok" if ok else "no-index",
            "opensearch": status,
            "index": self.settings.alias,
            "index_exists": ok,
        }
        return JSONResponse(body, status_code=200 if ok else 503)


def _timed(response: Response, took_ms: float) -> Response:
    response.headers["server-timing"] = f"search;dur={took_ms:.1f}"
    return response


def _reason(error: BaseException) -> str:
    if isinstance(error, ConnectionTimeout):
        return "timeout"
    if isinstance(error, OpenSearchConnectionError):
        return "unreachable"
    if isinstance(error, TransportError) and error.status_code in (401, 403):
        return "credentials refused"
    return "failed"


# --------------------------------------------------------------------------- errors


async def _api_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ApiError)
    return error_response(error.status, error.message, error.parameter)


async def _search_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, SearchError)
    return error_response(400, str(error), error.param)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    message = {404: f"no such path {request.url.path[:80]!r}: see /docs"}.get(
        error.status_code, str(error.detail)
    )
    return error_response(error.status_code, message)


async def _opensearch_error(request: Request, error: Exception) -> Response:
    """OpenSearch did not answer, or refused: never a 500, never its URL or credentials."""
    if isinstance(error, ConnectionTimeout):
        return error_response(504, "OpenSearch did not answer in time: try again, or narrow it")
    if isinstance(error, OpenSearchConnectionError):
        return error_response(503, "OpenSearch does not answer: try again later")
    if isinstance(error, NotFoundError):
        return error_response(503, "the job index does not exist yet: run init and a backfill")
    if isinstance(error, TransportError) and error.status_code == 400:
        return error_response(400, "OpenSearch refused this search: simplify the text")
    if isinstance(error, TransportError) and error.status_code == 429:
        return error_response(503, "OpenSearch is overloaded: try again in a moment")
    return error_response(502, f"OpenSearch failed ({_reason(error)}): try again later")


async def _unexpected(request: Request, error: Exception) -> Response:
    return error_response(500, "the service failed unexpectedly; it is logged")


# --------------------------------------------------------------------------- assembly


async def _page(request: Request) -> Response:
    return FileResponse(STATIC / "index.html")


async def _docs(request: Request) -> Response:
    return FileResponse(STATIC / "docs.html")


def create_app(client: OpenSearch, settings: ServiceSettings) -> Starlette:
    """The service over ``client`` (read-only use) and the read alias of ``settings``."""
    from indexer.serve.openapi import openapi_document

    service = SearchService(client, settings)
    document = openapi_document()

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    routes = [
        Route("/", _page, methods=["GET"]),
        Route("/api/search", service.search, methods=["GET"]),
        Route("/api/facets", service.facets, methods=["GET"]),
        Route("/api/suggest", service.suggest, methods=["GET"]),
        Route("/api/jobs/{job_id:path}", service.job, methods=["GET"]),
        Route("/healthz", service.health, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/docs", _docs, methods=["GET"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = []
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET"],
                expose_headers=["server-timing"],
                max_age=600,
            )
        )
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        ApiError: _api_error,
        SearchError: _search_error,
        HTTPException: _http_error,
        OpenSearchException: _opensearch_error,
        Exception: _unexpected,
    }
    return Starlette(routes=routes, middleware=middleware, exception_handlers=handlers)
