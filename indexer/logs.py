"""Logging set-up: text or JSON lines, and a filter that scrubs registered secrets from every
record (belt and braces: no code path formats a secret on purpose)."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

import orjson

_SECRETS: set[str] = set()
REDACTED = "***"


def register_secret(value: str | None) -> None:
    """Never let ``value`` reach a log line (only values of 4+ characters are tracked)."""
    if value and len(value) >= 4:
        _SECRETS.add(value)


def redact(text: str) -> str:
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            record.msg = redact(record.getMessage())
            record.args = None
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["error"] = record.exc_text
        return orjson.dumps(entry).decode()


def configure(log_format: str = "text", level: str = "INFO") -> None:
    """Route the ``indexer`` loggers to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RedactingFilter())
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("indexer")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    # opensearch-py logs every 404 of an existence check as a warning: keep its errors only.
    for noisy in ("opensearch", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
        logging.getLogger(noisy).addFilter(_RedactingFilter())
