"""The re-sync's spill: both streams on disk, the anti-join, and what a resume may trust."""

from __future__ import annotations

import random
import sqlite3
import uuid
from pathlib import Path

import pytest

from indexer.sync.resync_spill import ResyncSpill


def _index_rows(ids: list[str]) -> list[tuple[str, int | None, bool]]:
    return [(i, 1_000 + n, n % 5 != 0) for n, i in enumerate(sorted(ids))]


def test_the_anti_join_gives_active_index_ids_no_feed_page_had(tmp_path: Path) -> None:
    rng = random.Random(7)
    index_ids = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(20_000)]
    index_ids += ["Zeta", "alpha", "émile", "東京", "😀"]
    gone = set(rng.sample(index_ids, 300))
    feed = [i for i in index_ids if i not in gone] + ["new-1", "new-2"]
    feed += feed[:50]  # a replayed page: duplicates are allowed
    rng.shuffle(feed)
    spill = ResyncSpill(tmp_path / "spill.sqlite")
    rows = _index_rows(index_ids)
    for start in range(0, len(rows), 5000):
        spill.add_index_entries(rows[start : start + 5000])
    spill.mark_index_complete()
    for start in range(0, len(feed), 1000):
        spill.add_feed_ids(feed[start : start + 1000])

    assert spill.feed_count() == len(set(feed))  # before the anti-join indexes them, too
    active = {i for i, _v, is_active in rows if is_active}
    expected = sorted(gone & active)
    assert spill.compute_missing() == len(expected)
    assert list(spill.missing_ids(chunk=77)) == expected  # ascending, like the index sorts
    assert spill.feed_rows() == len(feed)
    assert spill.feed_count() == len(set(feed))
    assert spill.index_count() == len(index_ids)
    assert spill.index_count(active_only=True) == len(active)


def test_no_anti_join_on_an_incomplete_index_side(tmp_path: Path) -> None:
    spill = ResyncSpill(tmp_path / "spill.sqlite")
    spill.add_index_entries([("a", 1, True)])
    spill.add_feed_ids(["b"])
    with pytest.raises(RuntimeError, match="incomplete"):
        spill.compute_missing()


def test_versions_come_from_the_index_side(tmp_path: Path) -> None:
    spill = ResyncSpill(tmp_path / "spill.sqlite")
    ids = [f"job-{n:05d}" for n in range(2_000)]
    spill.add_index_entries(
        [(i, n, True) for n, i in enumerate(ids)] + [("zz-no-version", None, True)]
    )
    asked = [*ids[::3], "unknown", "zz-no-version"]
    assert spill.versions_of(asked) == {i: ids.index(i) for i in ids[::3]}


def test_a_resume_trusts_the_file_only_with_its_token_and_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "spill.sqlite"
    first = ResyncSpill(path)
    first.add_feed_ids(["b", "a"])
    first.add_feed_ids(["c"])
    token = first.token
    first.close()

    again = ResyncSpill(path)
    assert again.token == token
    assert again.trustworthy(token, feed_rows=3)
    assert not again.trustworthy(token, feed_rows=4)  # the checkpoint saw more than the file has
    assert not again.trustworthy("another-file", feed_rows=0)
    again.clear()
    assert again.feed_rows() == 0
    assert again.token != token
    again.remove_file()
    assert not path.exists()


def test_a_damaged_file_is_not_trusted(tmp_path: Path) -> None:
    path = tmp_path / "spill.sqlite"
    spill = ResyncSpill(path)
    spill.add_feed_ids(f"id-{n}" for n in range(5_000))
    token = spill.token
    spill.close()
    with sqlite3.connect(path) as db:  # fold the WAL into the file, then damage a page of it
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    data[4096 * 2 : 4096 * 2 + 512] = b"\xff" * 512
    path.write_bytes(bytes(data))
    assert not ResyncSpill(path).trustworthy(token, feed_rows=5_000)


def test_restart_index_forgets_a_partial_read(tmp_path: Path) -> None:
    spill = ResyncSpill(tmp_path / "spill.sqlite")
    spill.add_index_entries([("a", 1, True)])
    spill.mark_index_complete()
    spill.restart_index()
    assert not spill.index_complete
    assert spill.index_count() == 0


def test_an_unreadable_file_is_replaced_by_a_new_one(tmp_path: Path) -> None:
    path = tmp_path / "spill.sqlite"
    path.write_bytes(b"not a database at all" * 500)
    spill = ResyncSpill(path)
    assert spill.token is not None
    assert spill.feed_rows() == 0


def _random_ids(rng: random.Random, n: int) -> list[str]:
    alphabet = ["a", "B", "z", "Z", "0", "é", "É", "日", "-", "ß", "😀"]
    ids = {str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(n)}
    ids |= {"".join(rng.choices(alphabet, k=rng.randint(1, 4))) for _ in range(n // 4)}
    ids |= {i.upper() for i in list(ids)[: n // 5]}
    return sorted(ids)


@pytest.mark.parametrize("seed", range(25))
def test_random_sets_give_exactly_the_set_difference(tmp_path: Path, seed: int) -> None:
    """Any sizes (empty sides included), duplicates on the feed side, ids that differ only in
    case or accents, and join ranges smaller than the sets: the exact difference, in order."""
    rng = random.Random(seed)
    universe = _random_ids(rng, rng.randint(0, 400))
    index_side = [i for i in universe if rng.random() < 0.7]
    feed_side = [i for i in universe if rng.random() < 0.7]
    feed_side += rng.sample(feed_side, len(feed_side) // 10)
    rng.shuffle(feed_side)
    spill = ResyncSpill(tmp_path / "spill.sqlite")
    spill.add_index_entries((i, 1, True) for i in index_side)
    spill.mark_index_complete()
    spill.add_feed_ids(feed_side)
    advanced: list[int] = []
    expected = sorted(set(index_side) - set(feed_side))
    assert spill.compute_missing(advance=advanced.append, chunk=rng.randint(1, 60)) == len(expected)
    assert list(spill.missing_ids(chunk=rng.randint(1, 50))) == expected
    assert sum(advanced) == len(index_side)  # the progress covers every index row once
    assert expected == sorted(expected, key=lambda text: text.encode("utf-8"))


def test_a_new_resync_starts_from_an_empty_file_with_a_new_token(tmp_path: Path) -> None:
    spill = ResyncSpill(tmp_path / "spill.sqlite")
    spill.add_feed_ids(f"id-{n}" for n in range(1000))
    spill.add_index_entries([("a", 1, True)])
    spill.mark_index_complete()
    token = spill.token
    spill.clear()
    assert (spill.feed_rows(), spill.index_count(), spill.index_complete) == (0, 0, False)
    assert spill.token not in (None, token)
    spill.add_feed_ids(["b"])  # and it is usable at once
    assert spill.feed_rows() == 1
