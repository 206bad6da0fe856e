"""State documents, the lease lock and run records on the real node."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from opensearchpy import OpenSearch

from indexer.store.runs import RunRecorder
from indexer.store.state import (
    LeaseLock,
    LockHeldError,
    LockLostError,
    StateConflictError,
    StateStore,
    force_unlock,
)

pytestmark = pytest.mark.integration

NO_REPLICAS = {"number_of_shards": 1, "number_of_replicas": 0}
STATE_INDEX = {
    "settings": NO_REPLICAS,
    "mappings": {
        "dynamic": False,
        "properties": {
            "key": {"type": "keyword"},
            "kind": {"type": "keyword"},
            "updated_at": {"type": "date"},
            "value": {"type": "object", "enabled": False},
        },
    },
}
RUNS_INDEX = {
    "settings": NO_REPLICAS,
    "mappings": {
        "dynamic": False,
        "properties": {
            "run_id": {"type": "keyword"},
            "kind": {"type": "keyword"},
            "outcome": {"type": "keyword"},
            "started_at": {"type": "date"},
            "ended_at": {"type": "date"},
            "duration_ms": {"type": "long"},
            "counts": {"type": "object", "dynamic": True},
            "errors": {"type": "object", "enabled": False},
        },
    },
}


class Clock:
    """A settable clock, so lease expiry needs no waiting."""

    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def store(os_client: OpenSearch, unique_name: Callable[[str], str]) -> StateStore:
    index = unique_name("state")
    os_client.indices.create(index=index, body=STATE_INDEX)
    return StateStore(os_client, index)


def test_load_of_an_absent_key_or_index_is_none(os_client: OpenSearch, store: StateStore) -> None:
    assert store.load("sync") is None
    assert StateStore(os_client, f"{store.index}-never-made").load("sync") is None


def test_save_and_load_round_trip_with_versions(store: StateStore) -> None:
    doc = {"last_run_started_at": "2025-01-01T00:00:00Z", "pages": 3, "nested": {"a": [1, 2]}}
    created = store.save("sync", doc, expected=None)
    loaded = store.load("sync")
    assert loaded is not None
    assert loaded.doc == doc
    assert (loaded.seq_no, loaded.primary_term) == (created.seq_no, created.primary_term)

    updated = store.save("sync", {**doc, "pages": 4}, expected=loaded)
    assert updated.seq_no > loaded.seq_no
    assert store.load("sync").doc["pages"] == 4  # type: ignore[union-attr]


def test_conflicting_writers_are_refused(store: StateStore) -> None:
    store.save("backfill", {"cursor": "c1"}, expected=None)
    with pytest.raises(StateConflictError, match="'backfill'"):
        store.save("backfill", {"cursor": "other"}, expected=None)  # create of an existing key

    read_by_a = store.load("backfill")
    read_by_b = store.load("backfill")
    assert read_by_a is not None
    assert read_by_b is not None
    store.save("backfill", {"cursor": "c2"}, expected=read_by_a)
    with pytest.raises(StateConflictError, match="changed by another writer"):
        store.save("backfill", {"cursor": "stale"}, expected=read_by_b)
    assert store.load("backfill").doc == {"cursor": "c2"}  # type: ignore[union-attr]


def test_a_held_lock_refuses_a_second_owner_with_a_clear_message(store: StateStore) -> None:
    clock = Clock()
    first = LeaseLock(store, owner="host-a:1:x", clock=clock)
    first.acquire()
    second = LeaseLock(store, owner="host-b:2:y", clock=clock)
    with pytest.raises(LockHeldError) as err:
        second.acquire()
    message = str(err.value)
    assert "owner host-a:1:x" in message
    assert "since 2025-01-01T12:00:00.000Z" in message
    assert "--force-unlock" in message
    assert err.value.expires_at == clock.now + timedelta(minutes=5)
    holder = second.holder()
    assert holder is not None
    assert (holder.owner, holder.expired) == ("host-a:1:x", False)


def test_an_expired_lease_is_taken_over_and_the_old_holder_loses_it(store: StateStore) -> None:
    clock = Clock()
    old = LeaseLock(store, owner="old", ttl=timedelta(minutes=5), clock=clock)
    old.acquire()
    clock.now += timedelta(minutes=4)
    old.renew()  # renewed: expires 5 minutes from now
    clock.now += timedelta(minutes=4)
    with pytest.raises(LockHeldError):
        LeaseLock(store, owner="early", clock=clock).acquire()

    clock.now += timedelta(minutes=2)  # past expires_at
    new = LeaseLock(store, owner="new", clock=clock)
    new.acquire()
    assert new.holder().owner == "new"  # type: ignore[union-attr]
    with pytest.raises(LockLostError, match="now held by new"):
        old.renew()
    old.release()  # not ours any more: must not free the new holder's lock
    assert new.holder().owner == "new"  # type: ignore[union-attr]


def test_release_and_context_manager_free_the_lock(store: StateStore) -> None:
    with LeaseLock(store, owner="a") as lock:
        assert lock.held
        with pytest.raises(LockHeldError):
            LeaseLock(store, owner="b").acquire()
    assert LeaseLock(store, owner="b").holder() is None
    LeaseLock(store, owner="b").acquire()  # free again


def test_force_unlock_removes_a_live_lock(store: StateStore) -> None:
    stuck = LeaseLock(store, owner="dead-host:9:z", ttl=timedelta(hours=1))
    stuck.acquire()
    removed = force_unlock(store)
    assert removed is not None
    assert removed.owner == "dead-host:9:z"
    rescuer = LeaseLock(store, owner="rescuer")
    rescuer.acquire()
    assert rescuer.holder().owner == "rescuer"  # type: ignore[union-attr]
    with pytest.raises(LockLostError):
        stuck.renew()
    assert LeaseLock.force_unlock(store) is not None
    assert force_unlock(store) is None


@pytest.mark.parametrize("state", ["absent", "expired", "released"])
def test_of_concurrent_acquirers_exactly_one_wins(store: StateStore, state: str) -> None:
    clock = Clock()
    if state != "absent":
        LeaseLock(store, owner="previous", clock=clock).acquire()
    if state == "released":
        lock = LeaseLock(store, owner="previous-2", clock=clock)
        force_unlock(store)
        lock.acquire()
        lock.release()
    if state == "expired":
        clock.now += timedelta(hours=1)

    contenders = [LeaseLock(store, owner=f"c{i}", clock=clock) for i in range(6)]
    barrier = threading.Barrier(len(contenders))
    outcomes: dict[str, str] = {}

    def contend(lock: LeaseLock) -> None:
        barrier.wait()
        try:
            lock.acquire()
            outcomes[lock.owner] = "won"
        except LockHeldError:
            outcomes[lock.owner] = "refused"

    threads = [threading.Thread(target=contend, args=(lock,)) for lock in contenders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [owner for owner, outcome in outcomes.items() if outcome == "won"]
    assert len(outcomes) == 6
    assert len(winners) == 1
    assert contenders[0].holder().owner == winners[0]  # type: ignore[union-attr]


def test_heartbeat_renews_and_reports_a_lost_lock(store: StateStore) -> None:
    lock = LeaseLock(store, owner="beating", ttl=timedelta(minutes=5))
    lock.acquire()
    first_expiry = lock.holder().expires_at  # type: ignore[union-attr]
    renewed = threading.Event()
    original_renew = lock.renew

    def renew_and_signal() -> None:
        original_renew()
        renewed.set()

    lock.renew = renew_and_signal  # type: ignore[method-assign]
    lock.start_heartbeat(timedelta(milliseconds=20))
    assert renewed.wait(10)
    lock.check()
    assert lock.holder().expires_at >= first_expiry  # type: ignore[union-attr]

    lock.renew = original_renew  # type: ignore[method-assign]
    force_unlock(store)  # the next beat may see the lock removed, or already taken by the thief
    LeaseLock(store, owner="thief").acquire()
    for _ in range(500):
        if lock._heartbeat_error is not None:
            break
        threading.Event().wait(0.01)
    with pytest.raises(LockLostError, match="lost the lock 'sync-lock' held by beating"):
        lock.check()
    lock.release()


@pytest.fixture
def recorder(os_client: OpenSearch, unique_name: Callable[[str], str]) -> RunRecorder:
    index = unique_name("runs")
    os_client.indices.create(index=index, body=RUNS_INDEX)
    return RunRecorder(os_client, index)


def test_run_records_start_finish_and_queries(recorder: RunRecorder) -> None:
    clock = Clock()
    recorder.clock = clock
    first = recorder.start("sync", {"since": "2025-01-01", "api_key": "sk-live-SECRET"})
    clock.now += timedelta(seconds=90)
    done = recorder.finish(
        first, "success", {"indexed": 10, "unchanged": 2}, [], credits_balance=12.5
    )
    assert done["duration_ms"] == 90_000
    clock.now += timedelta(minutes=10)
    second = recorder.start("sync", {"since": "2025-01-01"})
    recorder.finish(second, "failed", {"indexed": 1}, ["HTTP 503 from feed"] * 80)
    clock.now += timedelta(minutes=1)
    backfill = recorder.start("backfill", {})

    runs = recorder.last_runs(10)
    assert [run["run_id"] for run in runs] == [backfill, second, first]
    assert runs[0]["outcome"] == "running"
    assert runs[1]["error_count"] == 80
    assert len(runs[1]["errors"]) == 50
    assert recorder.last_runs(1, kind="sync")[0]["run_id"] == second

    success = recorder.last_successful("sync")
    assert success is not None
    assert success["run_id"] == first
    assert success["counts"] == {"indexed": 10, "unchanged": 2}
    assert success["credits_balance"] == 12.5
    assert success["ended_at"] == "2025-01-01T12:01:30.000Z"
    assert "SECRET" not in str(success)
    assert success["params"] == {"since": "2025-01-01", "api_key": "***"}
    assert recorder.last_successful("backfill") is None


def test_finish_of_an_unknown_run_names_it(recorder: RunRecorder) -> None:
    with pytest.raises(KeyError, match="no run 'nope'"):
        recorder.finish("nope", "success", {}, [])


# --------------------------------------------------------------------------- typed documents


def test_the_sync_watermark_round_trips_and_keeps_fields_it_does_not_know(
    store: StateStore,
) -> None:
    from indexer.store.state_docs import SyncWatermark

    empty = SyncWatermark.load(store)
    assert empty == SyncWatermark()
    assert not empty.has_backfill
    store.save("sync", {"last_sweep_at": "2025-01-01T00:00:00Z", "written_by": "v9"}, expected=None)
    loaded = SyncWatermark.load(store)
    assert loaded.last_sweep_at == datetime(2025, 1, 1, tzinfo=UTC)
    loaded.backfill_completed_at = datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    loaded.save(store)
    raw = store.load("sync")
    assert raw is not None
    assert raw.doc["written_by"] == "v9"  # a newer indexer's field survives an older one
    assert raw.doc["backfill_completed_at"] == "2025-01-02T03:04:05.678Z"
    again = SyncWatermark.load(store)
    assert again == loaded
    assert again.has_backfill


def test_two_writers_of_the_watermark_cannot_both_win(store: StateStore) -> None:
    from indexer.store.state_docs import SyncWatermark

    first, second = SyncWatermark.load(store), SyncWatermark.load(store)
    first.last_run_started_at = datetime(2025, 1, 1, tzinfo=UTC)
    first.save(store)
    second.last_run_started_at = datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(StateConflictError):
        second.save(store)
    first.last_sweep_at = datetime(2025, 1, 1, tzinfo=UTC)
    first.save(store)  # its own next save names the version it wrote
