"""The typed state documents the flows keep in the state index, with their load and save.

:class:`~indexer.store.state.StateStore` stores plain dicts under a key; this module gives the
small documents the flows share a type, so a field name lives in one place:

``"sync"`` -> :class:`SyncWatermark`
    when the last run started (the incremental fetch reaches back from it), when the expired
    sweep last ran, when a backfill and a resync last completed.

A document is read with :meth:`SyncWatermark.load` and written with :meth:`SyncWatermark.save`,
a conditional write against the version it was read at (a concurrent writer fails it with
:class:`~indexer.store.state.StateConflictError`). Fields this version does not know are kept
as they were, so an older indexer never drops what a newer one wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar

from indexer.store.state import StateStore, Versioned
from indexer.timestamps import format_timestamp, parse_timestamp


@dataclass
class SyncWatermark:
    """The ``"sync"`` document: where the incremental sync and the sweeps stand."""

    KEY: ClassVar[str] = "sync"

    last_run_started_at: datetime | None = None  # the watermark (minus --overlap next time)
    last_sweep_at: datetime | None = None  # the expired sweep covers from here
    backfill_completed_at: datetime | None = None  # None: no backfill ever completed
    last_resync_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    version: Versioned[dict[str, Any]] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> SyncWatermark:
        known = {f.name for f in fields(cls) if f.name not in ("extra", "version")}
        values = {name: parse_timestamp(doc[name]) if doc.get(name) else None for name in known}
        extra = {key: value for key, value in doc.items() if key not in known}
        return cls(**values, extra=extra)

    def to_doc(self) -> dict[str, Any]:
        doc = dict(self.extra)
        for f in fields(self):
            if f.name in ("extra", "version"):
                continue
            value = getattr(self, f.name)
            doc[f.name] = format_timestamp(value) if value is not None else None
        return doc

    @classmethod
    def load(cls, state: StateStore) -> SyncWatermark:
        """The stored document, or an empty one (nothing ran yet) that saves as a create."""
        found = state.load(cls.KEY)
        if found is None:
            return cls()
        watermark = cls.from_doc(found.doc)
        watermark.version = found
        return watermark

    def save(self, state: StateStore) -> None:
        """Store it if nobody wrote it since it was loaded; keeps the new version for the next
        save."""
        self.version = state.save(self.KEY, self.to_doc(), expected=self.version)

    @property
    def has_backfill(self) -> bool:
        return self.backfill_completed_at is not None
