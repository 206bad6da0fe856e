"""The checkpoint saver: newest snapshot wins, the last one is always written, errors surface."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from indexer.sync.checkpoint_saver import CheckpointSaver


class SlowStore:
    """Records every saved snapshot; each save waits until the test lets it through."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.saved: list[dict[str, Any]] = []
        self.gate = threading.Semaphore(0)
        self.fail_on = fail_on

    def save(self, doc: dict[str, Any] | None = None) -> None:
        self.gate.acquire()
        assert doc is not None
        if self.fail_on is not None and doc["pages"] == self.fail_on:
            raise RuntimeError("state write refused")
        self.saved.append(doc)


def test_snapshots_submitted_during_a_write_collapse_into_the_newest() -> None:
    store = SlowStore()
    saver = CheckpointSaver(store)
    doc = {"pages": 0}
    for page in range(1, 6):
        doc["pages"] = page
        saver.submit(doc)  # a snapshot: later changes to doc do not leak into it
    for _ in range(5):
        store.gate.release()
    saver.close()
    pages = [d["pages"] for d in store.saved]
    assert pages[-1] == 5  # the last acknowledged state is stored
    assert pages == sorted(pages)  # never backwards
    assert len(pages) < 5  # pages acknowledged during a write did not each cost one


def test_a_failed_write_fails_the_next_submit_and_close() -> None:
    store = SlowStore(fail_on=1)
    saver = CheckpointSaver(store)
    saver.submit({"pages": 1})
    store.gate.release()
    with pytest.raises(RuntimeError, match="refused"):
        saver.close()
    with pytest.raises(RuntimeError, match="refused"):
        saver.submit({"pages": 2})


class InstantStore:
    def __init__(self) -> None:
        self.saved: list[dict[str, Any]] = []

    def save(self, doc: dict[str, Any] | None = None) -> None:
        assert doc is not None
        self.saved.append(doc)


def test_writes_are_spaced_but_the_last_snapshot_is_written_at_close() -> None:
    store = InstantStore()
    saver = CheckpointSaver(store, min_interval=30.0)
    for page in range(1, 51):
        saver.submit({"pages": page})
    started = time.monotonic()
    saver.close()
    assert time.monotonic() - started < 5  # close does not wait for the interval
    pages = [d["pages"] for d in store.saved]
    assert pages[-1] == 50
    assert len(pages) <= 2  # the first snapshot, then only the last one
