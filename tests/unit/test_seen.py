"""The SQLite spill of feed ids: durable, de-duplicated, read back in the index's sort order."""

from __future__ import annotations

import random
import uuid
from pathlib import Path

from indexer.sync.seen import SeenIds


def test_ids_come_back_sorted_like_utf8_bytes_and_deduplicated(tmp_path: Path) -> None:
    seen = SeenIds(tmp_path / "seen.sqlite")
    ids = [str(uuid.uuid4()) for _ in range(25_000)] + ["Zeta", "alpha", "émile", "東京", "😀"]
    shuffled = ids + ids[:100]
    random.shuffle(shuffled)
    for start in range(0, len(shuffled), 1000):
        seen.add(shuffled[start : start + 1000])
    assert seen.count() == len(ids)
    expected = sorted(ids, key=lambda text: text.encode())
    assert list(seen.sorted_ids(chunk=777)) == expected
    assert expected == sorted(ids)  # Python's str order agrees with UTF-8 byte order


def test_the_file_survives_a_reopen_and_clear_changes_its_token(tmp_path: Path) -> None:
    path = tmp_path / "seen.sqlite"
    first = SeenIds(path)
    first.add(["b", "a"])
    token = first.token
    first.close()
    again = SeenIds(path)
    assert again.token == token
    assert list(again.sorted_ids()) == ["a", "b"]
    again.clear()
    assert again.count() == 0
    assert again.token != token
    again.remove_file()
    assert not path.exists()
