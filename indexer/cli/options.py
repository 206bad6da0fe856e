"""Options shared by the commands, as decorators (one obvious place for each)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def _compose(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(func: F) -> F:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


opensearch_options = _compose(
    click.option(
        "--opensearch-url",
        envvar="OPENSEARCH_URL",
        default="http://127.0.0.1:9200",
        show_default=True,
        show_envvar=True,
        help="OpenSearch URL; https turns TLS on. user:password@ in it works too.",
    ),
    click.option(
        "--index",
        "base",
        default="jobs",
        show_default=True,
        help="Base name of the index, its aliases and bookkeeping indices.",
    ),
)

jobo_options = _compose(
    click.option(
        "--jobo-url",
        envvar="JOBO_BASE_URL",
        default="https://connect.jobo.world",
        show_default=True,
        show_envvar=True,
        help="Base URL of the Jobo Feed API.",
    ),
    click.option(
        "--api-key",
        envvar="JOBO_API_KEY",
        show_envvar=True,
        default=None,
        help="Jobo API key (prefer the environment or --api-key-file).",
    ),
    click.option(
        "--api-key-file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        envvar="JOBO_API_KEY_FILE",
        show_envvar=True,
        default=None,
        help="File whose first line is the Jobo API key.",
    ),
    click.option(
        "--credits-warn",
        type=float,
        default=None,
        help="Warn when the credits balance falls below this.",
    ),
    click.option(
        "--upstream-retries",
        type=click.IntRange(1, 50),
        default=8,
        show_default=True,
        help="Attempts per Jobo request before the run fails (429/5xx/network).",
    ),
    click.option(
        "--upstream-backoff",
        type=click.FloatRange(0),
        default=0.5,
        show_default=True,
        help="First exponential backoff wait in seconds (doubles, with jitter).",
    ),
)

output_options = _compose(
    click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary."),
    click.option(
        "--log-format",
        type=click.Choice(["text", "json"]),
        default="text",
        envvar="JOBO_INDEXER_LOG_FORMAT",
        show_default=True,
        help="Log line format.",
    ),
    click.option(
        "--log-level",
        default="INFO",
        show_default=True,
        type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    ),
    click.option(
        "--progress/--no-progress",
        default=None,
        help="Progress bar on a terminal (default: on when stderr is a terminal).",
    ),
)


def read_api_key(api_key: str | None, api_key_file: Path | None) -> str:
    if api_key_file is not None:
        lines = api_key_file.read_text().strip().splitlines()
        if not lines or not lines[0].strip():
            raise click.UsageError(
                f"--api-key-file {api_key_file} is empty: put the key on its first line"
            )
        return lines[0].strip()
    if api_key:
        return api_key
    raise click.UsageError("no Jobo API key: set JOBO_API_KEY, --api-key-file or --api-key")
