"""Bookkeeping in OpenSearch: state documents (optimistic concurrency) and a lease lock.

State documents
    ``StateStore`` keeps one plain dict per key in the state index (``<base>-indexer-state``). The
    dict is stored unchanged under ``value``; the stored document is
    ``{"key": <key>, "kind": "state" | "lock", "updated_at": <ISO time>, "value": {...}}``
    (mappings/indexer-state.json: ``value`` is an object with ``enabled: false``). Every save
    names the version it read (``if_seq_no`` / ``if_primary_term``); a concurrent writer makes it
    fail with ``StateConflictError`` instead of silently overwriting. Reads are GETs by id, which
    are realtime: no refresh is needed.

    Keys the sync flows keep (each a plain dict; this module imposes no schema):
    ``"sync"`` (``last_run_started_at``, ``last_sweep_at``, ``backfill_completed_at``, ...),
    ``"backfill"`` (``cursor``, ``started_at``, ``pages``, ...), ``"resync"`` (...), and the
    lease lock ``"sync-lock"``.

Lease lock
    ``LeaseLock`` is a state document ``{"owner", "acquired_at", "renewed_at", "expires_at"}``. A
    holder renews it before ``expires_at``; anyone may take over a lease whose ``expires_at`` has
    passed, and because the takeover is a conditional write, two takers cannot both win. Expiry
    compares the taker's clock with the holder's: keep clocks in sync (NTP) and the TTL well above
    the skew.

Run records are kept by :mod:`indexer.store.runs`.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Generic, TypeVar

from opensearchpy import OpenSearch
from opensearchpy.exceptions import ConflictError, NotFoundError, TransportError

from indexer.errors import ExitCode, IndexerError, SyncError
from indexer.retry import RetriesExhaustedError, RetryPolicy, retry_call
from indexer.timestamps import format_timestamp, parse_timestamp, utcnow

__all__ = [
    "DEFAULT_LOCK_NAME",
    "LeaseLock",
    "LockHeldError",
    "LockHolder",
    "LockLostError",
    "StateConflictError",
    "StateStore",
    "Versioned",
    "default_owner",
    "force_unlock",
]

T = TypeVar("T")
Clock = Callable[[], datetime]
DEFAULT_LOCK_NAME = "sync-lock"
#: A 429 on a state write (the node's write queue is full) is retried like the bulk items beside
#: it: 8 attempts, 50 ms doubling to at most 5 s, jittered.
STATE_WRITE_RETRY = RetryPolicy(max_attempts=8, base_backoff=0.05, max_wait=5.0, max_total=60.0)


# ---------------------------------------------------------------------------------------------
# State documents
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Versioned(Generic[T]):
    """A value with the sequence number and primary term it was read or written at."""

    doc: T
    seq_no: int
    primary_term: int


class StateConflictError(IndexerError):
    """Someone else wrote the state document between our read and our write."""

    def __init__(self, index: str, key: str, detail: str) -> None:
        self.index = index
        self.key = key
        super().__init__(
            f"state {key!r} in index {index!r} was changed by another writer ({detail}); "
            "another run is probably active: check `status` and the lock holder, then re-run."
        )


class StateStore:
    """Plain-dict state documents by key, with optimistic concurrency."""

    def __init__(
        self,
        client: OpenSearch,
        state_index: str,
        *,
        clock: Clock = utcnow,
        retry: RetryPolicy = STATE_WRITE_RETRY,
    ) -> None:
        self.client = client
        self.index = state_index
        self.clock = clock
        self.retry = retry

    def load(self, key: str) -> Versioned[dict[str, Any]] | None:
        """The state for ``key`` with its version, or None when absent (or the index is)."""
        try:
            answer = self.client.get(index=self.index, id=key)
        except NotFoundError:
            return None
        if not answer.get("found"):
            return None
        source = answer.get("_source") or {}
        value = dict(source.get("value") or {})
        return Versioned(value, answer["_seq_no"], answer["_primary_term"])

    def save(
        self,
        key: str,
        doc: Mapping[str, Any],
        *,
        expected: Versioned[dict[str, Any]] | None,
        kind: str = "state",
    ) -> Versioned[dict[str, Any]]:
        """Write ``doc`` for ``key`` if it is still at version ``expected``.

        ``expected=None`` means "must not exist yet" (a create). Raises StateConflictError when
        the stored version differs. Returns the new version, to pass as ``expected`` next time.
        """
        body = {
            "key": key,
            "kind": kind,
            "updated_at": format_timestamp(self.clock()),
            "value": dict(doc),
        }
        params: dict[str, Any]
        if expected is None:
            params = {"op_type": "create"}
        else:
            params = {"if_seq_no": expected.seq_no, "if_primary_term": expected.primary_term}
        try:
            answer = self._retrying(
                lambda: self.client.index(index=self.index, id=key, body=body, params=params)
            )
        except ConflictError as conflict:
            own = self._own_write(key, body)
            if own is None:
                raise StateConflictError(self.index, key, _conflict_detail(conflict)) from None
            answer = own
        return Versioned(dict(doc), answer["_seq_no"], answer["_primary_term"])

    def _own_write(self, key: str, body: Mapping[str, Any]) -> dict[str, Any] | None:
        """The stored document when it is exactly ``body`` (our own write, down to its
        millisecond ``updated_at``), else None.

        A node lost mid-request can execute a conditional write and drop the answer; the client
        then sends it again to another node, which refuses it as a conflict with the write that
        did land. Only a document identical to ours proves it was ours."""
        try:
            answer = self.client.get(index=self.index, id=key)
        except NotFoundError:
            return None
        if answer.get("found") and answer.get("_source") == dict(body):
            return answer
        return None

    def _retrying(self, write: Callable[[], T]) -> T:
        """``write()``, retried on 429: the node's write queue was full, so the write was not
        executed and sending it again (with the same version condition) is safe."""
        try:
            return retry_call(write, self.retry, retryable=_is_rejected_execution)
        except RetriesExhaustedError as gave_up:
            raise gave_up.last from None

    def delete(self, key: str, *, expected: Versioned[dict[str, Any]] | None = None) -> bool:
        """Delete ``key`` (only at version ``expected`` when given). False when it was absent."""
        params: dict[str, Any] = {}
        if expected is not None:
            params = {"if_seq_no": expected.seq_no, "if_primary_term": expected.primary_term}
        try:
            self._retrying(lambda: self.client.delete(index=self.index, id=key, params=params))
        except NotFoundError:
            return False
        except ConflictError as conflict:
            raise StateConflictError(self.index, key, _conflict_detail(conflict)) from None
        return True


def _is_rejected_execution(error: BaseException) -> bool:
    return isinstance(error, TransportError) and error.status_code == 429


def _conflict_detail(conflict: ConflictError) -> str:
    info = conflict.info if isinstance(conflict.info, dict) else {}
    error = info.get("error") if isinstance(info.get("error"), dict) else {}
    return str(error.get("reason") or conflict.error)


# ---------------------------------------------------------------------------------------------
# Lease lock
# ---------------------------------------------------------------------------------------------


def default_owner() -> str:
    """``host:pid:random`` — unique per lock object, readable for an operator."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True, slots=True)
class LockHolder:
    """Who holds a lease and until when (``expired`` as seen by the reader's clock)."""

    owner: str
    acquired_at: datetime
    renewed_at: datetime
    expires_at: datetime
    expired: bool

    @property
    def host(self) -> str:
        return self.owner.partition(":")[0]

    @property
    def pid(self) -> int | None:
        text = self.owner.partition(":")[2].split(":", 1)[0]
        return int(text) if text.isdigit() else None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON data (``status --json``): times as ISO strings."""
        return {
            "owner": self.owner,
            "host": self.host,
            "pid": self.pid,
            "acquired_at": format_timestamp(self.acquired_at),
            "renewed_at": format_timestamp(self.renewed_at),
            "expires_at": format_timestamp(self.expires_at),
            "expired": self.expired,
        }


class LockHeldError(IndexerError):
    """Another live run holds the lease."""

    exit_code = ExitCode.LOCKED

    def __init__(self, name: str, holder: LockHolder) -> None:
        self.holder = holder
        self.expires_at = holder.expires_at
        super().__init__(
            f"another run holds the lock {name!r} since "
            f"{format_timestamp(holder.acquired_at)}, owner {holder.owner} (lease renewed "
            f"{format_timestamp(holder.renewed_at)}, expires "
            f"{format_timestamp(holder.expires_at)}); wait for it to finish, or --force-unlock "
            "if it is dead."
        )


class LockLostError(SyncError):
    """Our lease was taken over (it expired, or someone forced the lock)."""

    def __init__(self, name: str, owner: str, now_held_by: str | None) -> None:
        self.now_held_by = now_held_by
        taker = f"now held by {now_held_by}" if now_held_by else "now released or removed"
        super().__init__(
            f"lost the lock {name!r} held by {owner} ({taker}): the lease expired before it was "
            "renewed or someone forced the lock. Stop writing; the state of this run was not "
            "saved past its last checkpoint. Re-run when the other run is done."
        )


class LeaseLock:
    """A lease-based lock stored as a state document, taken and renewed by conditional writes."""

    def __init__(
        self,
        store: StateStore,
        name: str = DEFAULT_LOCK_NAME,
        owner: str | None = None,
        ttl: timedelta = timedelta(minutes=5),
        *,
        clock: Clock | None = None,
    ) -> None:
        self.store = store
        self.name = name
        self.owner = owner or default_owner()
        self.ttl = ttl
        self.clock = clock or store.clock
        self._version: Versioned[dict[str, Any]] | None = None
        self._heartbeat: threading.Thread | None = None
        self._stop = threading.Event()
        self._heartbeat_error: BaseException | None = None
        self._on_lost: Callable[[BaseException], None] | None = None

    # -- status ---------------------------------------------------------------------------------

    @property
    def held(self) -> bool:
        """Whether this object believes it holds the lease (as of its last write)."""
        return self._version is not None

    def holder(self) -> LockHolder | None:
        """The current holder, or None when the lock is free (released or never taken)."""
        return _holder_of(self.store.load(self.name), self.clock())

    # -- acquire / renew / release --------------------------------------------------------------

    def acquire(self) -> None:
        """Take the lease, or raise LockHeldError naming the live holder."""
        current = self.store.load(self.name)
        now = self.clock()
        holder = _holder_of(current, now)
        if holder is not None and not holder.expired and holder.owner != self.owner:
            raise LockHeldError(self.name, holder)
        acquired_at = holder.acquired_at if holder and holder.owner == self.owner else now
        try:
            self._version = self.store.save(
                self.name, self._lease(acquired_at, now), expected=current, kind="lock"
            )
        except StateConflictError:
            winner = self.holder()
            if winner is None:  # released or forced between our read and write: try once more
                return self._acquire_free()
            raise LockHeldError(self.name, winner) from None
        return None

    def _acquire_free(self) -> None:
        current = self.store.load(self.name)
        now = self.clock()
        holder = _holder_of(current, now)
        if holder is not None and not holder.expired:
            raise LockHeldError(self.name, holder)
        try:
            self._version = self.store.save(
                self.name, self._lease(now, now), expected=current, kind="lock"
            )
        except StateConflictError:
            winner = self.holder()
            if winner is None:
                raise
            raise LockHeldError(self.name, winner) from None

    def renew(self) -> None:
        """Extend the lease by ``ttl`` from now; raise LockLostError if it is no longer ours."""
        if self._version is None:
            raise LockLostError(self.name, self.owner, _owner_or_none(self.holder()))
        now = self.clock()
        acquired_at = parse_timestamp(self._version.doc["acquired_at"])
        try:
            self._version = self.store.save(
                self.name, self._lease(acquired_at, now), expected=self._version, kind="lock"
            )
        except StateConflictError:
            self._version = None
            raise LockLostError(self.name, self.owner, _owner_or_none(self.holder())) from None

    def release(self) -> None:
        """Give the lease back (a no-op when it is no longer ours)."""
        self.stop_heartbeat()
        if self._version is None:
            return
        released = {
            "owner": None,
            "released_by": self.owner,
            "released_at": format_timestamp(self.clock()),
        }
        try:
            self.store.save(self.name, released, expected=self._version, kind="lock")
        except StateConflictError:
            pass  # taken over or forced meanwhile: nothing of ours to release
        finally:
            self._version = None

    @staticmethod
    def force_unlock(store: StateStore, name: str = DEFAULT_LOCK_NAME) -> LockHolder | None:
        """Remove the lock whoever holds it; returns the holder that was removed (if any)."""
        return force_unlock(store, name)

    # -- heartbeat ------------------------------------------------------------------------------

    def start_heartbeat(
        self,
        interval: timedelta | None = None,
        *,
        on_lost: Callable[[BaseException], None] | None = None,
    ) -> None:
        """Renew from a daemon thread every ``interval`` (default ttl/3, at least 1 s).

        When a renewal fails (the lease was taken over, OpenSearch is gone) the thread stops,
        keeps the error for :meth:`check` and :attr:`lost`, and calls ``on_lost(error)``.
        """
        if self._heartbeat is not None:
            return
        seconds = (interval or max(self.ttl / 3, timedelta(seconds=1))).total_seconds()
        self._stop.clear()
        self._on_lost = on_lost
        self._heartbeat = threading.Thread(
            target=self._beat, args=(seconds,), name=f"lease-{self.name}", daemon=True
        )
        self._heartbeat.start()

    def stop_heartbeat(self) -> None:
        if self._heartbeat is None:
            return
        self._stop.set()
        if self._heartbeat is not threading.current_thread():
            self._heartbeat.join()
        self._heartbeat = None

    @property
    def lost(self) -> BaseException | None:
        """The error that stopped the heartbeat (the lease is then no longer known to be ours)."""
        return self._heartbeat_error

    def check(self) -> None:
        """Raise the error the heartbeat met (LockLostError, connection error), if any."""
        if self._heartbeat_error is not None:
            raise self._heartbeat_error

    def _beat(self, seconds: float) -> None:
        while not self._stop.wait(seconds):
            try:
                self.renew()
            except Exception as error:  # handed to the main thread through check() / on_lost
                self._heartbeat_error = error
                if self._on_lost is not None:
                    self._on_lost(error)
                return

    # -- context manager ------------------------------------------------------------------------

    def __enter__(self) -> LeaseLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    def _lease(self, acquired_at: datetime, now: datetime) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "acquired_at": format_timestamp(acquired_at),
            "renewed_at": format_timestamp(now),
            "expires_at": format_timestamp(now + self.ttl),
        }


def force_unlock(
    store: StateStore,
    name: str = DEFAULT_LOCK_NAME,
    *,
    check: Callable[[LockHolder], None] | None = None,
) -> LockHolder | None:
    """Remove the lock ``name``; returns the holder that was removed (None when it was free).

    ``check(holder)`` may raise to refuse (a live holder). The delete is conditional on the
    version that was checked, so a lock renewed or taken over meanwhile is not removed.
    """
    current = store.load(name)
    holder = _holder_of(current, store.clock())
    if holder is None:
        return None
    if check is not None:
        check(holder)
    store.delete(name, expected=current)
    return holder


def _holder_of(current: Versioned[dict[str, Any]] | None, now: datetime) -> LockHolder | None:
    if current is None or not current.doc.get("owner"):
        return None
    doc = current.doc
    expires_at = parse_timestamp(doc["expires_at"])
    return LockHolder(
        owner=str(doc["owner"]),
        acquired_at=parse_timestamp(doc["acquired_at"]),
        renewed_at=parse_timestamp(doc.get("renewed_at") or doc["acquired_at"]),
        expires_at=expires_at,
        expired=expires_at <= now,
    )


def _owner_or_none(holder: LockHolder | None) -> str | None:
    return holder.owner if holder else None
