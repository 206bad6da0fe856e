"""Injected faults: failing statuses, truncated bodies and malformed jobs, armed per path."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

from indexer.errors import UsageError

FEED_PATH = "/api/jobs/feed"
EXPIRED_PATH = "/api/jobs/expired"
FAULTABLE_PATHS = (FEED_PATH, EXPIRED_PATH)
SUPPORTED_STATUSES = (400, 401, 402, 403, 404, 409, 429, 500, 502, 503, 504)


class FaultSpecError(UsageError, ValueError):
    """A ``POST /_sim/faults`` body that cannot be armed."""


@dataclass
class Fault:
    """One armed fault: fires ``times`` times once ``after`` successes have passed on ``path``."""

    path: str
    kind: str  # "status" | "truncate" | "malformed"
    times: int
    after: int = 0
    status: int | None = None
    malformed_jobs: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _count(spec: dict[str, Any], name: str, default: int, minimum: int) -> int:
    value = spec.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise FaultSpecError(f"'{name}' must be an integer >= {minimum}, got {value!r}")
    return value


def parse_fault(spec: object) -> Fault:
    """Validate one fault spec, e.g. ``{"path": "/api/jobs/feed", "status": 503, "times": 3}``."""
    if not isinstance(spec, dict):
        raise FaultSpecError("a fault must be a JSON object")
    kinds = [name for name in ("status", "truncate", "malformed_jobs") if name in spec]
    if len(kinds) != 1:
        raise FaultSpecError("give exactly one of 'status', 'truncate' or 'malformed_jobs'")
    kind = kinds[0]
    path = spec.get("path", FEED_PATH)
    if path not in FAULTABLE_PATHS:
        raise FaultSpecError(f"'path' must be one of {', '.join(FAULTABLE_PATHS)}, got {path!r}")
    after = _count(spec, "after", 0, 0)
    if kind == "malformed_jobs":
        if path != FEED_PATH:
            raise FaultSpecError("'malformed_jobs' applies to /api/jobs/feed only")
        count = _count(spec, "malformed_jobs", 0, 1)
        return Fault(path, "malformed", _count(spec, "times", 1, 1), after, malformed_jobs=count)
    if kind == "truncate":
        return Fault(path, "truncate", _count(spec, "truncate", 0, 1), after)
    status = spec["status"]
    if status not in SUPPORTED_STATUSES:
        raise FaultSpecError(f"'status' must be one of {SUPPORTED_STATUSES}, got {status!r}")
    return Fault(path, "status", _count(spec, "times", 1, 1), after, status=status)


class FaultBoard:
    """Pending faults, consumed in the order they were armed; thread-safe."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def arm(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> int:
        with self._lock:
            count = len(self._faults)
            self._faults.clear()
            return count

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [fault.to_json() for fault in self._faults]

    def take(self, path: str) -> Fault | None:
        """The first ready fault for ``path``, using up one of its ``times``."""
        with self._lock:
            for fault in self._faults:
                if fault.path == path and fault.after == 0:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
            return None

    def note_success(self, path: str) -> None:
        """A request on ``path`` succeeded: delayed faults come one step closer."""
        with self._lock:
            for fault in self._faults:
                if fault.path == path and fault.after > 0:
                    fault.after -= 1
