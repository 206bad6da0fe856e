"""The runner: options -> settings (defaults defined once), a run's result as data."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import click
import pytest

from indexer.cli import main
from indexer.errors import DeletionRefusedError, ExitCode
from indexer.store.operations import BulkResult
from indexer.sync import runner
from indexer.sync.flows import RunSummary, SyncSettings

FLOW_COMMANDS = ["backfill", "sync", "expire", "resync", "run"]


def parsed_defaults(name: str) -> dict[str, Any]:
    command = main.get_command(click.Context(main), name)
    assert command is not None
    ctx = command.make_context(name, ["--api-key", "k"])
    return ctx.params


@pytest.mark.parametrize("name", FLOW_COMMANDS)
def test_a_command_without_options_runs_with_the_settings_defaults(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("JOBO_INDEXER_WORK_DIR", "JOBO_INDEXER_MAX_CREDITS"):
        monkeypatch.delenv(var, raising=False)
    settings = runner.settings_from("jobs", parsed_defaults(name))
    assert settings == SyncSettings(base="jobs")


def test_options_land_on_their_settings() -> None:
    options = {"batch_size": 50, "queue_mb": 3, "no_bulk_load": True, "force": True}
    settings = runner.settings_from("b", {**options, "opensearch_url": "http://x", "as_json": 1})
    assert (settings.base, settings.batch_size, settings.queue_bytes) == ("b", 50, 3 * 1024**2)
    assert settings.bulk_load is False
    assert settings.force is True


def services() -> Any:
    return SimpleNamespace(stop=threading.Event())


def test_run_once_gives_a_failed_run_as_data_with_its_exit_code() -> None:
    def backfill(svc: Any, settings: SyncSettings) -> RunSummary:
        raise DeletionRefusedError("would expire 40% of the index: pass --force")

    data = runner.run_once(backfill, services(), SyncSettings())
    assert data["outcome"] == "failed"
    assert data["exit_code"] == int(ExitCode.DELETION_REFUSED)
    assert data["error"] == "would expire 40% of the index: pass --force"
    assert (
        runner.summary_text(data) == f"backfill failed (exit code {int(ExitCode.DELETION_REFUSED)})"
    )


def test_run_once_gives_a_finished_run_as_its_summary() -> None:
    def sync(svc: Any, settings: SyncSettings) -> RunSummary:
        writes = BulkResult(indexed=2, unchanged=1)
        return RunSummary(kind="sync", outcome="success", fetched=3, writes=writes)

    data = runner.run_once(sync, services(), SyncSettings())
    assert data["error"] is None
    assert data["exit_code"] == 0
    assert runner.summary_text(data).startswith(
        "sync success: 3 fetched, 2 indexed, 1 unchanged, 0 expired, 0 dead-lettered in"
    )


def test_a_skipped_run_says_why() -> None:
    data = runner.summary_data(RunSummary(kind="resync", outcome="skipped", message="no wallet"))
    assert runner.summary_text(data) == "resync skipped: no wallet"
