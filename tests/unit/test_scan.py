"""The merge join of two sorted id streams (pure: no node needed)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator

import pytest

from indexer.store.scan import IndexedId, OrderingError, merge_join_missing


def entries(ids: list[str]) -> list[IndexedId]:
    return [IndexedId(i, {"status": "active"}) for i in ids]


def missing(index_ids: list[str], feed_ids: list[str]) -> list[str]:
    return [e.id for e in merge_join_missing(entries(index_ids), iter(feed_ids))]


def random_ids(rng: random.Random, n: int) -> list[str]:
    alphabet = ["a", "B", "z", "Z", "0", "é", "É", "日", "-", "ß", "😀"]
    ids = {str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(n)}
    ids |= {"".join(rng.choices(alphabet, k=rng.randint(1, 4))) for _ in range(n // 4)}
    ids |= {i.upper() for i in list(ids)[: n // 5]}
    return sorted(ids)


@pytest.mark.parametrize("seed", range(25))
def test_random_sets_give_exactly_the_set_difference(seed: int) -> None:
    rng = random.Random(seed)
    universe = random_ids(rng, rng.randint(0, 400))
    index_side = sorted(i for i in universe if rng.random() < 0.7)
    feed_side = sorted(i for i in universe if rng.random() < 0.7)
    expected = sorted(set(index_side) - set(feed_side))
    assert missing(index_side, feed_side) == expected


def test_empty_streams() -> None:
    assert missing([], []) == []
    assert missing([], ["a", "b"]) == []
    assert missing(["a", "b"], []) == ["a", "b"]


def test_duplicates_on_either_side_are_tolerated() -> None:
    assert missing(["a", "b", "b", "c"], ["b", "b", "d"]) == ["a", "c"]


def test_entries_keep_their_values() -> None:
    result = list(merge_join_missing([IndexedId("x", {"status": "expired"})], iter([])))
    assert result[0].status == "expired"


def test_a_feed_stream_going_backwards_raises() -> None:
    with pytest.raises(OrderingError, match="feed ids go backwards: 'a' after 'b'"):
        missing(["c"], ["b", "a"])


def test_an_index_stream_going_backwards_raises() -> None:
    with pytest.raises(OrderingError, match="index ids go backwards"):
        missing(["b", "a"], [])


def test_streams_are_consumed_lazily() -> None:
    pulled: list[str] = []

    def feed() -> Iterator[str]:
        for i in ["a", "b", "c", "d", "e"]:
            pulled.append(i)
            yield i

    join = merge_join_missing(iter(entries(["a0", "c0", "z"])), feed())
    assert next(join).id == "a0"
    assert pulled == ["a", "b"]  # stopped at the first feed id past "a0"


def test_python_order_is_code_point_order_which_is_utf8_byte_order() -> None:
    rng = random.Random(7)
    ids = random_ids(rng, 300)
    assert sorted(ids) == sorted(ids, key=lambda s: s.encode("utf-8"))
