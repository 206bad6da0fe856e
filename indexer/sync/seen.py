"""Feed ids seen during a re-sync, spilled to SQLite so memory stays flat whatever the feed size.

The same file keeps a second set, ``missing``: the index ids the reconciliation found absent
from the feed, so the expiry that follows streams them back without holding them in memory; and
``versions``: the version of every document in the index when the re-sync began, so jobs the
index already holds at the same version are neither transformed nor sent again.

SQLite's default BINARY collation compares TEXT as UTF-8 bytes, which is the order in which
OpenSearch sorts a ``keyword`` field and in which Python compares ``str`` (code points): the three
orderings agree, so ``sorted_ids()`` can be merge-joined with the index's id scan.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path


class SeenIds:
    """A durable, de-duplicated set of ids on disk, read back in sorted order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._lock = threading.Lock()  # writer threads read versions while pages are recorded
        for table in _TABLES:
            self._db.execute(
                f"CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY) WITHOUT ROWID"
            )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS versions "
            "(id TEXT PRIMARY KEY, version INTEGER) WITHOUT ROWID"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        if self.token is None:
            self._new_token()

    @property
    def token(self) -> str | None:
        """Identifies this file's contents: a checkpoint resumes only with the file it wrote."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'token'").fetchone()
        return row[0] if row else None

    def _new_token(self) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('token', ?)", (uuid.uuid4().hex,)
        )

    def add(self, ids: Iterable[str], *, table: str = "seen") -> None:
        """Record ids durably (one transaction per call: call it once per acknowledged page)."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                f"INSERT OR IGNORE INTO {_table(table)} (id) VALUES (?)", ((i,) for i in ids)
            )

    def add_versions(self, pairs: Iterable[tuple[str, int]]) -> None:
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO versions (id, version) VALUES (?, ?)", pairs
            )

    def versions_of(self, ids: list[str]) -> dict[str, int]:
        """The recorded versions of those of ``ids`` that have one."""
        found: dict[str, int] = {}
        with self._lock:
            for start in range(0, len(ids), 900):  # below SQLite's bound-parameter limit
                chunk = ids[start : start + 900]
                marks = ",".join("?" * len(chunk))
                found.update(
                    self._db.execute(
                        f"SELECT id, version FROM versions WHERE id IN ({marks})", chunk
                    ).fetchall()
                )
        return found

    def count(self, *, table: str = "seen") -> int:
        return int(self._db.execute(f"SELECT count(*) FROM {_table(table)}").fetchone()[0])

    def sorted_ids(self, chunk: int = 10_000, *, table: str = "seen") -> Iterator[str]:
        """Every id in ascending UTF-8 byte order, streamed in chunks (bounded memory)."""
        query = f"SELECT id FROM {_table(table)} WHERE id > ? ORDER BY id LIMIT ?"
        last = ""
        while True:
            rows = self._db.execute(query, (last, chunk)).fetchall()
            if not rows:
                return
            for (ident,) in rows:
                yield ident
            last = rows[-1][0]

    def clear(self, *, table: str | None = None) -> None:
        """Forget the ids of ``table``, or of both tables with a new token (a new scan starts)."""
        with self._db:
            self._db.execute("BEGIN")
            if table is not None:
                self._db.execute(f"DELETE FROM {_table(table)}")
                return
            for name in (*_TABLES, "versions"):
                self._db.execute(f"DELETE FROM {name}")
            self._new_token()

    def close(self) -> None:
        self._db.close()

    def remove_file(self) -> None:
        self.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)


_TABLES = ("seen", "missing")


def _table(name: str) -> str:
    if name not in _TABLES:
        raise ValueError(f"no id table {name!r}: use one of {_TABLES}")
    return name
