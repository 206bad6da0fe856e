"""``jobo-indexer alerts ...`` and ``changes`` through click's CliRunner on the real node."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner, Result
from opensearchpy import OpenSearch

import indexer.cli.alerts  # noqa: F401 (registers the commands)
from indexer.alerts import WriteRecorder
from indexer.cli import main
from indexer.store.bulk import BulkWriter, IndexOp
from indexer.store.schema import index_names, init_index
from indexer.sync.page_writer import page_operations
from indexer.timestamps import format_timestamp
from tests.integration.test_search_data import world_jobs

pytestmark = pytest.mark.integration


def _cli(base: str, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--index", base], catch_exceptions=False)


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_add_list_matches_remove_and_changes(
    os_client: OpenSearch, unique_name: Callable[[str], str]
) -> None:
    base = unique_name("alcli")
    init_index(os_client, base)
    names = index_names(base)
    jobs = world_jobs(300)
    writer = BulkWriter(os_client, index=names.write_alias, dead_letter_index=names.dead_letters)
    first = [op for op in page_operations(jobs[:150], datetime.now(UTC)) if isinstance(op, IndexOp)]
    writer.write(first)
    os_client.indices.refresh(index=names.all_alias)
    city = next(loc["city"] for job in jobs[:150] for loc in job["locations"] if loc.get("city"))
    country = next(
        loc["country"] for job in jobs[:150] for loc in job["locations"] if loc.get("city") == city
    )

    added = _json(
        _cli(base, "alerts", "add", "near", "--near-city", city, "--country", country, "--json")
    )
    assert added["search"]["near"]  # the city became coordinates when saved
    assert added["replaced"] is False
    _json(_cli(base, "alerts", "add", "all", "--json"))
    again = _json(_cli(base, "alerts", "add", "all", "--workplace-type", "remote", "--json"))
    assert again["replaced"] is True
    assert again["search"] == {"workplace_type": ["remote"], "radius": "50km"}
    listed = _json(_cli(base, "alerts", "list", "--json"))
    assert [s["name"] for s in listed["searches"]] == ["all", "near"]

    recorder = WriteRecorder(os_client, names, run_kind="sync")
    second = [
        op for op in page_operations(jobs[150:], datetime.now(UTC)) if isinstance(op, IndexOp)
    ]
    recorder.write_page(second, writer, scan_started_at=format_timestamp(datetime.now(UTC)))
    recorder.match_written(datetime.now(UTC), wait=True)
    recorder.close()

    remote = {op.id for op in second if op.document.get("workplace_type") == "remote"}
    matches = _json(_cli(base, "alerts", "matches", "all", "--json"))["matches"]
    assert {m["job_id"] for m in matches} == remote
    assert [m["matched_at"] for m in matches] == sorted(
        (m["matched_at"] for m in matches), reverse=True
    )
    assert (
        _json(_cli(base, "alerts", "matches", "all", "--since", "2099-01-01T00:00:00Z", "--json"))[
            "matches"
        ]
        == []
    )
    text = _cli(base, "alerts", "list")
    assert "all  saved" in text.output

    changes = _json(_cli(base, "changes", "--since", "1h", "--json"))
    assert sorted(c["job_id"] for c in changes["changes"]) == sorted(op.id for op in second)
    assert changes["next_since"] == changes["changes"][-1]["at"]
    assert _json(_cli(base, "changes", "--kind", "expired", "--json"))["changes"] == []

    removed = _json(_cli(base, "alerts", "remove", "all", "--json"))
    assert removed["matches_removed"] == len(remote)
    assert _json(_cli(base, "alerts", "matches", "all", "--json"))["matches"] == []


def test_bad_input_is_one_clear_line(
    unique_name: Callable[[str], str], os_client: OpenSearch
) -> None:
    base = unique_name("albad")
    init_index(os_client, base)
    bad_name = _cli(base, "alerts", "add", "-no good")
    assert bad_name.exit_code == 2
    unknown = _cli(base, "alerts", "remove", "missing")
    assert unknown.exit_code == 2
    assert "alerts list" in unknown.output
    since = _cli(base, "changes", "--since", "yesterday-ish")
    assert since.exit_code == 2
    assert "--since" in since.output
    radius = _cli(base, "alerts", "add", "x", "--radius", "far")
    assert radius.exit_code == 2
    assert "--radius" in radius.output
