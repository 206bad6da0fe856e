"""A conditional state write whose answer was lost with a node: the client's retry on another
node meets its own landed write as a conflict. A recording double of the client (unit test; the
real node covers the rest in tests/integration/test_state.py and the cluster fault cases)."""

from __future__ import annotations

from typing import Any

import pytest
from opensearchpy.exceptions import ConflictError

from indexer.store.state import StateConflictError, StateStore, Versioned


class LostAnswerClient:
    """index() stores the body, then fails as a retried request would: with a conflict."""

    def __init__(self, *, someone_else_wrote: bool) -> None:
        self.stored: dict[str, Any] | None = None
        self.someone_else_wrote = someone_else_wrote
        self.calls: list[str] = []

    def index(self, *, index: str, id: str, body: dict[str, Any], params: dict[str, Any]) -> None:
        self.calls.append("index")
        self.stored = dict(body)
        if self.someone_else_wrote:
            self.stored = {**body, "value": {"owner": "another run"}}
        raise ConflictError(409, "version_conflict_engine_exception", {"error": {"reason": "x"}})

    def get(self, *, index: str, id: str) -> dict[str, Any]:
        self.calls.append("get")
        return {"found": True, "_source": self.stored, "_seq_no": 7, "_primary_term": 2}


def test_a_write_that_landed_before_its_answer_was_lost_is_taken_as_ours() -> None:
    client = LostAnswerClient(someone_else_wrote=False)
    store = StateStore(client, "s")  # type: ignore[arg-type]
    saved = store.save("backfill", {"pages": 6}, expected=Versioned({}, 5, 1))
    assert (saved.seq_no, saved.primary_term, saved.doc) == (7, 2, {"pages": 6})
    assert client.calls == ["index", "get"]


def test_a_conflict_with_another_writer_still_raises() -> None:
    client = LostAnswerClient(someone_else_wrote=True)
    store = StateStore(client, "s")  # type: ignore[arg-type]
    with pytest.raises(StateConflictError):
        store.save("backfill", {"pages": 6}, expected=Versioned({}, 5, 1))
