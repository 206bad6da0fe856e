"""Next-page tokens bound to the search that issued them.

A ``search_after`` position means something only for the query and sort that produced it: the
same values under another sort (or another text) silently skip or repeat hits. A token therefore
carries a short fingerprint of its query (text, filters, place, sort: everything but the page
size and the token itself) and is refused, with the fix, under any other query.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from indexer.errors import UsageError

# Fields that do not change which hits come in which order.
UNBOUND_FIELDS = frozenset({"search_after", "size", "highlight", "facets"})


class TokenError(UsageError, ValueError):
    """The token is not one this search issued; the message says what to pass instead."""


def query_fingerprint(fields: Mapping[str, Any]) -> str:
    bound = {k: v for k, v in fields.items() if k not in UNBOUND_FIELDS}
    raw = json.dumps(bound, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16]


def encode_token(sort_values: Sequence[Any], fields: Mapping[str, Any]) -> str:
    payload = {"after": list(sort_values), "query": query_fingerprint(fields)}
    raw = json.dumps(payload, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_token(token: str, fields: Mapping[str, Any]) -> list[Any]:
    padded = token + "=" * (-len(token) % 4)
    try:
        payload = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        payload = None
    after = payload.get("after") if isinstance(payload, dict) else None
    if not isinstance(after, list) or not after:
        raise TokenError(
            f"next-page token (--after) {token[:40]!r} is not one a search printed: pass the "
            "next_after value of the previous page unchanged, or leave --after out for page 1"
        )
    if payload.get("query") != query_fingerprint(fields):
        raise TokenError(
            "next-page token (--after) belongs to another search (other text, filters, place "
            "or --sort): repeat the very search that printed it, or leave --after out to start "
            "this one at page 1"
        )
    return after
