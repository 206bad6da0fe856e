"""A re-sync's evidence on disk: the feed's ids and the index's ids, so memory stays flat.

One SQLite file per re-sync holds both streams and what the reconciliation derives from them:

``feed_ids``
    every id of every acknowledged feed page, appended in arrival order to a plain rowid table
    with no index (a page costs one sequential append, whatever the feed size; duplicates are
    kept). Its row count is the number of ids acknowledged, which the scan's checkpoint records:
    a resumed scan trusts the file only when it holds at least that many rows.
``index_ids``
    the index's ``id``, version (``updated_at`` in epoch ms) and whether it is active, written in
    the ascending order in which the point-in-time scan returns them: appends at the right edge
    of a ``WITHOUT ROWID`` b-tree, which also answers the per-page version look-ups.
``missing``
    the anti-join, computed once at the end: active index ids that no feed page had. The feed
    ids are indexed once, after loading (one sort), never row by row.

It is a scratch file: a re-sync that cannot trust it starts over. So it is tuned for bulk
appends, not for surviving power loss: WAL (a killed process leaves every committed page intact,
which is what a resume needs) with ``synchronous=OFF`` (no fsync) and a bounded page cache.
Measured at 100,000 jobs: ~200 bytes written per job instead of ~8.5 KB with one primary-key
insert per id.

SQLite's default BINARY collation compares TEXT as UTF-8 bytes, which is the order in which
OpenSearch sorts a ``keyword`` field and in which Python compares ``str`` (code points).
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

CACHE_KIB = 16 * 1024  # SQLite page cache per connection: bounds the spill's share of RSS

_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=OFF",
    f"PRAGMA cache_size=-{CACHE_KIB}",
    "PRAGMA temp_store=FILE",
)
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS feed_ids (id TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS index_ids "
    "(id TEXT PRIMARY KEY, version INTEGER, active INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS missing (id TEXT PRIMARY KEY) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)",
)


class ResyncSpill:
    """Both sides of a re-sync's reconciliation, on disk (thread-safe: one lock, one
    connection; writer threads look versions up while the index reader appends)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = self._open()
        except sqlite3.DatabaseError:  # a damaged scratch file: start a new one (new token)
            self._remove_files()
            self._db = self._open()
        if self.token is None:
            self._set_meta("token", uuid.uuid4().hex)

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        try:
            for statement in (*_PRAGMAS, *_SCHEMA):
                db.execute(statement)
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    # ---- identity and trust ----------------------------------------------------------------

    @property
    def token(self) -> str | None:
        """Identifies this file's contents: a checkpoint resumes only with the file it wrote."""
        return self._meta("token")

    def trustworthy(self, token: str | None, feed_rows: int) -> bool:
        """Whether a resumed scan may build on this file: the same token, at least the feed ids
        the checkpoint says were acknowledged, and a file SQLite can read."""
        try:
            with self._lock:
                ok = self._db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
            return ok and token == self.token and self.feed_rows() >= feed_rows
        except sqlite3.DatabaseError:
            return False

    # ---- the feed side ---------------------------------------------------------------------

    def add_feed_ids(self, ids: Iterable[str]) -> None:
        """Append one acknowledged page's ids (one transaction: call it once per page)."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT INTO feed_ids (id) VALUES (?)", ((i,) for i in ids))

    def feed_rows(self) -> int:
        """Ids appended so far, duplicates included (what the checkpoint compares with)."""
        with self._lock:
            row = self._db.execute("SELECT max(rowid) FROM feed_ids").fetchone()
        return int(row[0] or 0)

    def feed_count(self) -> int:
        """Distinct feed ids (after ``compute_missing``, which indexes them)."""
        # Grouped along the index: measured at 1,000,000 ids, 0.6 s instead of 10.9 s for
        # count(DISTINCT id), which sorts them again in a temporary b-tree.
        grouped = (
            "SELECT count(*) FROM (SELECT id FROM feed_ids INDEXED BY feed_ids_by_id GROUP BY id)"
        )
        with self._lock:
            try:
                return int(self._db.execute(grouped).fetchone()[0])
            except sqlite3.OperationalError:  # not indexed yet
                return int(
                    self._db.execute("SELECT count(DISTINCT id) FROM feed_ids").fetchone()[0]
                )

    # ---- the index side --------------------------------------------------------------------

    def add_index_entries(self, entries: Iterable[tuple[str, int | None, bool]]) -> None:
        """Append ``(id, version, active)`` rows, best in ascending id order (the PIT's)."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO index_ids (id, version, active) VALUES (?, ?, ?)",
                ((i, v, int(a)) for i, v, a in entries),
            )

    def versions_of(self, ids: list[str]) -> dict[str, int]:
        """The recorded index versions of those of ``ids`` that have one."""
        found: dict[str, int] = {}
        with self._lock:
            for start in range(0, len(ids), 900):  # below SQLite's bound-parameter limit
                chunk = ids[start : start + 900]
                marks = ",".join("?" * len(chunk))
                found.update(
                    self._db.execute(
                        f"SELECT id, version FROM index_ids WHERE id IN ({marks}) "
                        "AND version IS NOT NULL",
                        chunk,
                    ).fetchall()
                )
        return found

    @property
    def index_complete(self) -> bool:
        return self._meta("index_complete") == "1"

    def mark_index_complete(self) -> None:
        self._set_meta("index_complete", "1")

    def restart_index(self) -> None:
        """Forget a partial index read (it is read again from a new point in time)."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM index_ids")
            self._db.execute("DELETE FROM meta WHERE key = 'index_complete'")

    def index_count(self, *, active_only: bool = False) -> int:
        where = " WHERE active = 1" if active_only else ""
        with self._lock:
            return int(self._db.execute(f"SELECT count(*) FROM index_ids{where}").fetchone()[0])

    # ---- the reconciliation ----------------------------------------------------------------

    def compute_missing(
        self,
        *,
        heartbeat: Callable[[], None] | None = None,
        advance: Callable[[int], None] | None = None,
        chunk: int = 50_000,
    ) -> int:
        """The anti-join: active index ids no feed page had, into ``missing``; returns how many.

        Needs both sides complete. The feed ids are indexed here, once (one sort; ``heartbeat``
        is called every few hundred thousand SQLite steps meanwhile), then the index side is
        joined in id ranges of ``chunk`` rows, ``advance(rows)`` after each: a long join shows
        its count, rate and ETA instead of running silent."""
        if not self.index_complete:
            raise RuntimeError("the index side of the spill is incomplete: no anti-join")
        if heartbeat is not None:
            self._db.set_progress_handler(lambda: _beat(heartbeat), 200_000)
        try:
            with self._lock, self._db:
                self._db.execute("BEGIN")
                self._db.execute("CREATE INDEX IF NOT EXISTS feed_ids_by_id ON feed_ids (id)")
                self._db.execute("DELETE FROM missing")
        finally:
            self._db.set_progress_handler(None, 0)
        low: str | None = None
        while True:
            low, rows = self._join_range(low, chunk)
            if advance is not None and rows:
                advance(rows)
            if low is None:
                break
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM missing").fetchone()[0])

    def _join_range(self, low: str | None, chunk: int) -> tuple[str | None, int]:
        """Join the ``chunk`` index rows after ``low``; returns the last id joined (None at the
        end) and how many rows the range held."""
        above = "i.id > ?" if low is not None else "1"
        args: tuple[str, ...] = (low,) if low is not None else ()
        with self._lock, self._db:
            self._db.execute("BEGIN")
            row = self._db.execute(
                f"SELECT id FROM index_ids AS i WHERE {above} ORDER BY id LIMIT 1 OFFSET ?",
                (*args, chunk - 1),
            ).fetchone()
            high = row[0] if row else None
            upto = " AND i.id <= ?" if high is not None else ""
            bounds = (*args, high) if high is not None else args
            self._db.execute(
                "INSERT INTO missing (id) SELECT i.id FROM index_ids AS i "
                f"WHERE {above}{upto} AND i.active = 1 "
                "AND NOT EXISTS (SELECT 1 FROM feed_ids AS f WHERE f.id = i.id) ORDER BY i.id",
                bounds,
            )
            if high is not None:
                return high, chunk
            rest = self._db.execute(
                f"SELECT count(*) FROM index_ids AS i WHERE {above}", args
            ).fetchone()[0]
            return None, int(rest)

    def missing_ids(self, chunk: int = 10_000) -> Iterator[str]:
        """The ids to expire, ascending, streamed in chunks (bounded memory)."""
        query = "SELECT id FROM missing WHERE id > ? ORDER BY id LIMIT ?"
        last = ""
        while True:
            with self._lock:
                rows = self._db.execute(query, (last, chunk)).fetchall()
            if not rows:
                return
            for (ident,) in rows:
                yield ident
            last = rows[-1][0]

    # ---- lifecycle -------------------------------------------------------------------------

    def clear(self) -> None:
        """Forget everything and take a new token (a new re-sync starts): a new, empty file,
        which is quicker than deleting a million rows and gives their disk space back."""
        with self._lock:
            self._db.close()
            self._remove_files()
            self._db = self._open()
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES ('token', ?)", (uuid.uuid4().hex,)
            )

    def close(self) -> None:
        self._db.close()

    def remove_file(self) -> None:
        self.close()
        self._remove_files()

    def _remove_files(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def _meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def _set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def _beat(heartbeat: Callable[[], None]) -> int:
    heartbeat()
    return 0  # go on
