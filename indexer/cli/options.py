"""Options shared by the commands, as decorators (one obvious place for each)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import click
from opensearchpy import OpenSearch

from indexer.cli.failures import fail
from indexer.logs import register_secret
from indexer.store.connection import (
    AWS_SERVICES,
    ConnectionSettings,
    ConnectionSettingsError,
    OpenSearchConnectionError,
    check_connection,
    connect,
)

F = TypeVar("F", bound=Callable[..., Any])


def compose(*decorators: Callable[[F], F]) -> Callable[[F], F]:
    def apply(func: F) -> F:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


_CONNECTION_META = "indexer.opensearch_connection"


def _remember_connection_option(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Keep a connection option out of the command's keyword arguments (so every command takes
    them without a signature change, and no secret sits in ``params``): ``opensearch_client``
    reads them from the context."""
    ctx.meta.setdefault(_CONNECTION_META, {})[param.name] = value
    return value


def _connection_option(*names: str, **attrs: Any) -> Callable[[F], F]:
    return click.option(*names, expose_value=False, callback=_remember_connection_option, **attrs)


_existing_file = click.Path(exists=True, dir_okay=False, path_type=Path)

opensearch_connection_options = compose(
    click.option(
        "--opensearch-url",
        envvar="OPENSEARCH_URL",
        default="http://127.0.0.1:9200",
        show_default=True,
        show_envvar=True,
        help="OpenSearch URL; https turns TLS on. user:password@ in it works too.",
    ),
    _connection_option(
        "--opensearch-user",
        envvar="OPENSEARCH_USER",
        show_envvar=True,
        default=None,
        help="Basic auth user (overrides a user in the URL).",
    ),
    _connection_option(
        "--opensearch-password",
        envvar="OPENSEARCH_PASSWORD",
        show_envvar=True,
        default=None,
        help="Basic auth password (prefer the environment or --opensearch-password-file).",
    ),
    _connection_option(
        "--opensearch-password-file",
        envvar="OPENSEARCH_PASSWORD_FILE",
        show_envvar=True,
        type=_existing_file,
        default=None,
        help="File whose first line is the basic auth password.",
    ),
    _connection_option(
        "--ca-certs",
        envvar="OPENSEARCH_CA_CERTS",
        show_envvar=True,
        type=_existing_file,
        default=None,
        help="PEM bundle of the CA(s) that signed the cluster's certificate.",
    ),
    _connection_option(
        "--insecure",
        envvar="OPENSEARCH_INSECURE",
        show_envvar=True,
        is_flag=True,
        default=False,
        help="Do not verify the cluster's TLS certificate (test clusters only; logs a warning).",
    ),
    _connection_option(
        "--client-cert",
        envvar="OPENSEARCH_CLIENT_CERT",
        show_envvar=True,
        type=_existing_file,
        default=None,
        help="PEM client certificate for clusters that require one (mutual TLS).",
    ),
    _connection_option(
        "--client-key",
        envvar="OPENSEARCH_CLIENT_KEY",
        show_envvar=True,
        type=_existing_file,
        default=None,
        help="Unencrypted PEM key of --client-cert (if not in the same file).",
    ),
    _connection_option(
        "--aws-sigv4",
        envvar="OPENSEARCH_AWS_SIGV4",
        show_envvar=True,
        is_flag=True,
        default=False,
        help="Sign requests with AWS SigV4 (Amazon OpenSearch Service); needs jobo-indexer[aws].",
    ),
    _connection_option(
        "--aws-region",
        envvar="AWS_REGION",
        show_envvar=True,
        default=None,
        help="AWS region of the domain (default: the AWS configuration's region).",
    ),
    _connection_option(
        "--aws-service",
        envvar="OPENSEARCH_AWS_SERVICE",
        show_envvar=True,
        type=click.Choice(AWS_SERVICES),
        default="es",
        show_default=True,
        help="es for OpenSearch Service domains, aoss for OpenSearch Serverless.",
    ),
)

opensearch_options = compose(
    opensearch_connection_options,
    click.option(
        "--index",
        "base",
        default="jobs",
        show_default=True,
        help="Base name of the index, its aliases and bookkeeping indices.",
    ),
)

jobo_options = compose(
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

output_options = compose(
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


def _read_first_line(path: Path, option: str) -> str:
    lines = path.read_text().strip().splitlines()
    if not lines or not lines[0].strip():
        raise click.UsageError(f"{option} {path} is empty: put the secret on its first line")
    return lines[0].strip()


def connection_settings(opensearch_url: str) -> ConnectionSettings:
    """The settings the current command's options (or environment) ask for."""
    ctx = click.get_current_context(silent=True)
    given: dict[str, Any] = dict(ctx.meta.get(_CONNECTION_META, {})) if ctx else {}
    password_file = given.pop("opensearch_password_file", None)
    password = given.pop("opensearch_password", None)
    if password_file is not None:
        password = _read_first_line(password_file, "--opensearch-password-file")
    register_secret(password)
    user = given.pop("opensearch_user", None)
    insecure = bool(given.pop("insecure", False))
    options = {
        "username": user,
        "password": password,
        "verify_certs": False if insecure else None,
        "ca_certs": _text(given.get("ca_certs")),
        "client_cert": _text(given.get("client_cert")),
        "client_key": _text(given.get("client_key")),
        "aws_sigv4": bool(given.get("aws_sigv4")) or None,
        "aws_region": given.get("aws_region"),
        "aws_service": given.get("aws_service"),
    }
    try:
        settings = ConnectionSettings.from_url(opensearch_url, **options)
    except ConnectionSettingsError as error:
        raise click.UsageError(str(error)) from None
    register_secret(settings.password)
    if settings.username is not None and not settings.password and not settings.aws_sigv4:
        raise click.UsageError(
            f"OpenSearch user {settings.username!r} has no password: set OPENSEARCH_PASSWORD "
            "or --opensearch-password-file"
        )
    return settings


def _text(path: Path | str | None) -> str | None:
    return None if path is None else str(path)


def opensearch_client(
    opensearch_url: str, *, check: bool = True, timeout: float | None = None
) -> OpenSearch:
    """THE way a command gets its OpenSearch client: the URL plus the connection options of the
    current command, then one ``GET /`` that turns a wrong password, an untrusted certificate or
    an unreachable node into one clear line and exit code 6 (``cli.failures``). ``timeout``
    (seconds per request) replaces the default of 60."""
    settings = connection_settings(opensearch_url)
    if timeout is not None:
        settings = replace(settings, timeout=timeout)
    try:
        client = connect(settings)
    except ConnectionSettingsError as error:
        raise click.UsageError(str(error)) from None
    if check:
        try:
            check_connection(client, settings)
        except OpenSearchConnectionError as error:
            fail(error)
    return client
