"""How every command ends on an error: one line, and the exit code of ``indexer.errors``.

The library raises :class:`~indexer.errors.IndexerError` subclasses, each with its exit code;
:func:`indexer.errors.exit_code_for` is the one mapping. Here is the one way a command reports
it: ``Error: <message>`` on stderr (secrets redacted; a JSON log line instead under
``--log-format json``), a JSON failure line on stdout when the command was given ``--json``, then
``sys.exit(code)``.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from typing import NoReturn, TypeVar

import click
from opensearchpy.exceptions import OpenSearchException

from indexer.errors import IndexerError, exit_code_for
from indexer.logs import redact

T = TypeVar("T")
log = logging.getLogger("indexer.cli")

#: What a command reports as one line; anything else is a bug and keeps its traceback.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (IndexerError, OpenSearchException)


def failure_message(error: BaseException) -> str:
    """The operator's line for ``error``, secrets redacted."""
    if isinstance(error, OpenSearchException) and not isinstance(error, IndexerError):
        return redact(f"OpenSearch failed: {error}")
    return redact(str(error))


def failure_summary(kind: str | None, error: BaseException) -> dict[str, object]:
    """The JSON a ``--json`` command prints when it fails; a flow command prints the shape of
    its run summary, as when it succeeds."""
    from indexer.cli import FLOW_COMMANDS

    message, code = failure_message(error), int(exit_code_for(error))
    outcome = str(getattr(error, "outcome", "failed"))  # "refused": a scan not paid for
    if kind in FLOW_COMMANDS:
        from indexer.sync.runner import failed_run_data

        return failed_run_data(kind, message, code, outcome)
    return {"kind": kind, "outcome": outcome, "error": message, "exit_code": code}


def fail(error: BaseException, *, kind: str | None = None, as_json: bool | None = None) -> NoReturn:
    """Report ``error`` and exit with its code. ``kind``/``as_json`` default to the command's."""
    ctx = click.get_current_context(silent=True)
    if kind is None and ctx is not None:
        kind = ctx.info_name
    if as_json is None:
        as_json = bool(ctx is not None and ctx.params.get("as_json"))
    if as_json:
        click.echo(json.dumps(failure_summary(kind, error)))
    if ctx is not None and ctx.params.get("log_format") == "json":
        # stderr carries JSON log lines only: the error is one of them
        log.error("%s failed: %s", kind, failure_message(error))
    else:
        click.echo(f"Error: {failure_message(error)}", err=True)
    sys.exit(int(exit_code_for(error)))


def or_exit(action: Callable[[], T], *, kind: str | None = None) -> T:
    """``action()``, or report its expected failure and exit with the failure's code."""
    try:
        return action()
    except EXPECTED_ERRORS as error:
        fail(error, kind=kind)
