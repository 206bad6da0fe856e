"""The simulator's answers as plain data: a :class:`Response`, and errors shaped as the real
API shapes them (a JSON problem object with ``status``, ``error``, ``message``, ``code``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import orjson

from indexer.errors import IndexerError


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    truncate: bool = False


class BadRequestError(IndexerError):
    """A request parameter is out of contract (answered with 400)."""


def json_response(status: int, payload: object, headers: dict[str, str] | None = None) -> Response:
    return Response(status, orjson.dumps(payload), dict(headers or {}))


def problem(
    status: int,
    message: str,
    *,
    code: str,
    detail: str | None = None,
    extra: Mapping[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """A JSON problem object the way the real API answers errors."""
    body: dict[str, Any] = {
        "status": status,
        "error": HTTPStatus(status).phrase,
        "message": message,
        "detail": detail or message,
        "code": code,
    }
    body.update(extra or {})
    return json_response(status, body, headers)
