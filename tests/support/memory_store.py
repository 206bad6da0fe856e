"""Small recording doubles of the store, for unit tests of the flows only.

Integration tests use the real node; these stand in for it where a unit test needs to see what
a flow wrote and in which order: :class:`MemoryState` (the state index: conditional writes by
version, every save recorded) and :class:`RecordingWriter` (the bulk writer: every operation
recorded, answered as OpenSearch answers a fresh index, failing on demand).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from indexer.store.bulk import BulkResult, DeadLetter, IndexOp
from indexer.store.state import StateConflictError, Versioned


@dataclass
class MemoryState:
    docs: dict[str, Versioned[dict[str, Any]]] = field(default_factory=dict)
    saves: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    index: str = "memory-state"
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def load(self, key: str) -> Versioned[dict[str, Any]] | None:
        with self._lock:
            found = self.docs.get(key)
            return Versioned(dict(found.doc), found.seq_no, 1) if found else None

    def save(
        self,
        key: str,
        doc: Mapping[str, Any],
        *,
        expected: Versioned[dict[str, Any]] | None,
        kind: str = "state",
    ) -> Versioned[dict[str, Any]]:
        with self._lock:
            current = self.docs.get(key)
            if (current is None) != (expected is None) or (
                current is not None and expected is not None and current.seq_no != expected.seq_no
            ):
                raise StateConflictError(self.index, key, "changed by another writer")
            stored = Versioned(dict(doc), (current.seq_no + 1) if current else 0, 1)
            self.docs[key] = stored
            self.saves.append((key, dict(doc)))
            return Versioned(dict(doc), stored.seq_no, 1)

    def delete(self, key: str, *, expected: Versioned[dict[str, Any]] | None = None) -> bool:
        with self._lock:
            return self.docs.pop(key, None) is not None


@dataclass
class RecordingWriter:
    """Records every operation; ``fail_on_call`` (1-based) makes that write raise."""

    written: list[Any] = field(default_factory=list)
    calls: int = 0
    fail_on_call: int | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def write(self, ops: Iterable[Any], observe: Any = None) -> BulkResult:
        ops = list(ops)
        with self._lock:
            self.calls += 1
            if self.fail_on_call is not None and self.calls == self.fail_on_call:
                raise ConnectionError("the recording writer was told to fail this write")
            self.written.extend(ops)
        return BulkResult(
            indexed=sum(1 for op in ops if isinstance(op, IndexOp)),
            dead_lettered=sum(1 for op in ops if isinstance(op, DeadLetter)),
        )

    def ids(self) -> list[str]:
        return [op.id for op in self.written if isinstance(op, IndexOp)]
