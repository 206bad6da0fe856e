"""Opaque, signed continuation cursors that expire.

A cursor is ``base64url(json) . base64url(hmac)``: the JSON carries the scan's filters, batch size
and the last ``(time, id)`` position. It holds no timestamp, so the same scan yields the same bytes
(pages stay byte-identical for a seed); instead the book remembers when it last issued each cursor
and refuses it once ``ttl`` seconds have passed, or when the server never issued it (a restart, a
forged or mangled token): both answer ``400 Invalid cursor``, as the real API does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson

from indexer.errors import IndexerError


class InvalidCursorError(IndexerError):
    """The cursor is unknown, forged, for another endpoint, or expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorBook:
    """Issues and resolves cursors; thread-safe."""

    MAX_ENTRIES = 100_000

    def __init__(
        self, secret: bytes, ttl_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._secret = secret
        self._ttl = ttl_seconds
        self._clock = clock
        self._issued: dict[str, float] = {}
        self._lock = threading.Lock()

    def issue(self, payload: dict[str, Any]) -> str:
        body = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
        token = f"{_b64(body)}.{_b64(self._sign(body))}"
        now = self._clock()
        with self._lock:
            if len(self._issued) >= self.MAX_ENTRIES:
                self._issued = {t: at for t, at in self._issued.items() if now - at <= self._ttl}
            self._issued[token] = now
        return token

    def resolve(self, token: object, kind: str) -> dict[str, Any]:
        """The payload of a live cursor of ``kind`` ("feed" or "expired")."""
        if not isinstance(token, str) or token.count(".") != 1:
            raise InvalidCursorError("malformed")
        with self._lock:
            issued_at = self._issued.get(token)
            if issued_at is None:
                raise InvalidCursorError("unknown")
            if self._clock() - issued_at > self._ttl:
                del self._issued[token]
                raise InvalidCursorError("expired")
        body_text, signature = token.split(".")
        try:
            body = _unb64(body_text)
            valid = hmac.compare_digest(_unb64(signature), self._sign(body))
            payload = orjson.loads(body) if valid else None
        except (binascii.Error, ValueError, orjson.JSONDecodeError) as error:
            raise InvalidCursorError("undecodable") from error
        if not isinstance(payload, dict) or payload.get("k") != kind:
            raise InvalidCursorError("wrong kind")
        return payload

    def _sign(self, body: bytes) -> bytes:
        return hmac.new(self._secret, body, hashlib.sha256).digest()[:16]
