"""The flow commands' options for the change stream and the alerts (see ``indexer.alerts``):
named as the settings they set (``SyncSettings.change_stream``, ...)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from indexer.alerts.delivery import SECRET_ENV, URL_ENV
from indexer.store.changes import DEFAULT_RETENTION_DAYS

RECORDING_OPTIONS: dict[str, Callable[[Any], Any]] = {
    "change-stream": click.option(
        "--change-stream/--no-change-stream",
        default=True,
        show_default=True,
        help="Record what the run created, updated and expired in <base>-changes.",
    ),
    "changes-retention-days": click.option(
        "--changes-retention-days",
        type=click.IntRange(0),
        default=DEFAULT_RETENTION_DAYS,
        show_default=True,
        help="Purge change events older than this after a run (0 keeps them).",
    ),
    "webhook-url": click.option(
        "--webhook-url",
        envvar=URL_ENV,
        default=None,
        help="Deliver the matches of saved searches without their own webhook here "
        f"(signed with {SECRET_ENV}).",
    ),
}
