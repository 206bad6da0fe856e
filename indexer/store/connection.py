"""An opensearch-py client built from a URL and a few options.

Transport choices: no HTTP compression (the CPU is better spent on JSON), a keep-alive connection
pool sized for a few bulks in flight, and no retry on timeout: a timed-out bulk may have been
applied, and the bulk writer retries only the failed items itself. Credentials come from
``user:pass@`` in the URL or from the options; they never appear in a repr or an error message.

Kept small on purpose: TLS client certificates and AWS SigV4 will extend ``ConnectionSettings``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from opensearchpy import OpenSearch

DEFAULT_URL = "http://127.0.0.1:9200"


class ConnectionSettingsError(ValueError):
    """The OpenSearch URL or options cannot make a client."""


@dataclass(frozen=True)
class ConnectionSettings:
    """Where OpenSearch is and how to talk to it. ``url`` never carries the credentials."""

    url: str = DEFAULT_URL
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    verify_certs: bool = True  # only used for https
    ca_certs: str | None = None
    timeout: float = 60.0
    pool_maxsize: int = 10

    @classmethod
    def from_url(cls, url: str, **options: Any) -> ConnectionSettings:
        """Split ``https://user:pass@host:9200`` into a clean URL and credentials.

        Options (``username``, ``password``, ``verify_certs``, ``ca_certs``, ``timeout``,
        ``pool_maxsize``) override what the URL says.
        """
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConnectionSettingsError(
                f"OpenSearch URL {_redact(url)!r} must look like http(s)://host:port"
            )
        netloc = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        if ":" in parts.hostname:  # IPv6 literal
            netloc = f"[{parts.hostname}]" + (f":{parts.port}" if parts.port else "")
        clean = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        settings = cls(
            url=clean,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )
        unknown = set(options) - {f.name for f in settings.__dataclass_fields__.values()}
        if unknown:
            raise ConnectionSettingsError(f"unknown connection options: {sorted(unknown)}")
        given = {key: value for key, value in options.items() if value is not None}
        return replace(settings, **given)

    @property
    def uses_tls(self) -> bool:
        return self.url.startswith("https://")

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for :class:`opensearchpy.OpenSearch`."""
        options: dict[str, Any] = {
            "hosts": [self.url],
            "timeout": self.timeout,
            "http_compress": False,
            "retry_on_timeout": False,
            "pool_maxsize": self.pool_maxsize,
        }
        if self.username is not None:
            options["http_auth"] = (self.username, self.password or "")
        if self.uses_tls:
            options["use_ssl"] = True
            options["verify_certs"] = self.verify_certs
            options["ssl_show_warn"] = self.verify_certs
            if self.ca_certs:
                options["ca_certs"] = self.ca_certs
        return options


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def connect(
    target: str | ConnectionSettings = DEFAULT_URL, *, timeout: float = 60.0, **tls_and_auth: Any
) -> OpenSearch:
    """A client for ``target`` (a URL, or settings built earlier).

    ``connect("https://admin:pw@host:9200", ca_certs="/ca.pem")`` or
    ``connect(ConnectionSettings.from_url(url, verify_certs=False))``.
    """
    if isinstance(target, ConnectionSettings):
        settings = target
    else:
        settings = ConnectionSettings.from_url(target, timeout=timeout, **tls_and_auth)
    return OpenSearch(**settings.client_options())
