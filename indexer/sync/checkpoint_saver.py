"""A scan's checkpoint written off the pipeline's path."""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol


class Saves(Protocol):
    def save(self, doc: dict[str, Any] | None = None) -> None: ...


class CheckpointSaver:
    """Writes a scan's checkpoint off the pipeline's path, the newest snapshot first.

    Each acknowledged page hands over a snapshot of the checkpoint; one thread writes the newest
    it has. A state write costs a translog fsync, which on a busy disk takes longer than a page:
    written inline, it held every page up (a no-change resync spent most of its time there).
    A snapshot only describes acknowledged pages, so what is stored never runs ahead of durable
    data; it may lag by the pages acknowledged during one write, which a killed scan fetches
    again on resume (as it does the pages in flight). ``min_interval`` spaces the writes (each
    one also costs the node CPU that the scan's own requests need); ``close`` writes the last
    snapshot at once.
    """

    def __init__(self, checkpoint: Saves, *, min_interval: float = 0.0) -> None:
        self._checkpoint = checkpoint
        self._min_interval = min_interval  # seconds between two writes (the last one: at once)
        self._cond = threading.Condition()
        self._pending: dict[str, Any] | None = None
        self._closed = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="checkpoint", daemon=True)
        self._thread.start()

    def submit(self, doc: dict[str, Any]) -> None:
        with self._cond:
            if self._error is not None:
                raise self._error
            self._pending = dict(doc)
            self._cond.notify()

    def close(self) -> None:
        """Write the last snapshot and stop; raises the error of a write that failed."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join()
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        next_write = 0.0
        while True:
            with self._cond:
                while not self._closed and (self._pending is None or time.monotonic() < next_write):
                    self._cond.wait(max(0.0, next_write - time.monotonic()) or None)
                doc, self._pending = self._pending, None
            if doc is None:
                return
            next_write = time.monotonic() + self._min_interval
            try:
                self._checkpoint.save(doc)
            except BaseException as exc:
                with self._cond:
                    self._error = exc
                return
