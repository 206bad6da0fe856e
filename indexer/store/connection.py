"""An opensearch-py client built from a URL and a few options, and the first-contact check.

Transport choices: no HTTP compression (the CPU is better spent on JSON), a keep-alive connection
pool sized for a few bulks in flight, and no retry on timeout: a timed-out bulk may have been
applied, and the bulk writer retries only the failed items itself.

Clusters: the URL may be a comma-separated list of node URLs (same scheme and credentials). The
client then spreads requests over the nodes round-robin; a node that refuses or drops a
connection is marked dead and the request goes to the next one at once (up to one try per node,
at least 3), and a dead node is tried again after a back-off. No sniffing: the addresses nodes
publish are often not reachable from the client (containers, NAT, a load balancer in front).

Security: an ``https`` URL turns TLS on, with certificate verification unless ``verify_certs`` is
off (``--insecure``, logged as a warning); ``ca_certs`` names the CA bundle; ``client_cert`` and
``client_key`` present a client certificate; credentials are basic auth (``user:pass@`` in the URL
or the options) or AWS SigV4 (``aws_sigv4``, the optional ``jobo-indexer[aws]`` extra). The
password never appears in a repr or an error message.

:func:`check_connection` makes one request and turns the usual first-contact failures (wrong
password, untrusted certificate, missing client certificate, nothing listening) into an
:class:`OpenSearchConnectionError` whose message names the URL and the fix.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from opensearchpy import OpenSearch
from opensearchpy.exceptions import (
    AuthenticationException,
    AuthorizationException,
    ConnectionTimeout,
    OpenSearchException,
    TransportError,
)
from opensearchpy.exceptions import ConnectionError as TransportConnectionError

from indexer.errors import ExitCode, SyncError, UsageError

DEFAULT_URL = "http://127.0.0.1:9200"
AWS_SERVICES = ("es", "aoss")
AWS_EXTRA_HINT = "pip install 'jobo-indexer[aws]'"

log = logging.getLogger("indexer.store.connection")


class ConnectionSettingsError(UsageError, ValueError):
    """The OpenSearch URL or options cannot make a client."""


class AwsExtraMissingError(ConnectionSettingsError):
    """SigV4 was asked for but botocore (the ``aws`` extra) is not installed."""


class OpenSearchConnectionError(SyncError):
    """OpenSearch could not be reached or refused us; the message names the URL and the fix.

    ``reason`` is one of: ``credentials``, ``forbidden``, ``untrusted-certificate``,
    ``client-certificate``, ``tls-mismatch``, ``unreachable``, ``timeout``, ``failed``.
    """

    exit_code = ExitCode.OPENSEARCH_FAILED

    def __init__(self, message: str, *, url: str, reason: str) -> None:
        super().__init__(message)
        self.url = url
        self.reason = reason


@dataclass(frozen=True)
class ConnectionSettings:
    """Where OpenSearch is and how to talk to it. ``url`` never carries the credentials."""

    url: str = DEFAULT_URL
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    verify_certs: bool = True  # only used for https
    ca_certs: str | None = None
    client_cert: str | None = None
    client_key: str | None = None
    aws_sigv4: bool = False
    aws_region: str | None = None
    aws_service: str = "es"
    timeout: float = 60.0
    pool_maxsize: int = 10

    @classmethod
    def from_url(cls, url: str, **options: Any) -> ConnectionSettings:
        """Split ``https://user:pass@host:9200`` into a clean URL and credentials.

        ``url`` may list several nodes of one cluster, comma-separated (``url`` then holds the
        clean URLs joined the same way; :attr:`urls` lists them). Options (any field of this
        class) override what the URL says; ``None`` means "not given".
        """
        nodes = [_split_node_url(part) for part in url.split(",") if part.strip()]
        if not nodes:
            raise ConnectionSettingsError("the OpenSearch URL is empty: give http(s)://host:port")
        _check_same_cluster_options(nodes)
        credentials = next((node[1:] for node in nodes if node[1] is not None), (None, None))
        settings = cls(
            url=",".join(node[0] for node in nodes),
            username=credentials[0],
            password=credentials[1],
        )
        unknown = set(options) - {f.name for f in settings.__dataclass_fields__.values()}
        if unknown:
            raise ConnectionSettingsError(f"unknown connection options: {sorted(unknown)}")
        given = {key: value for key, value in options.items() if value is not None}
        settings = replace(settings, **given)
        settings.check_consistency()
        return settings

    @property
    def urls(self) -> list[str]:
        """The node URLs (one for a single node or a load balancer)."""
        return self.url.split(",")

    @property
    def uses_tls(self) -> bool:
        return self.url.startswith("https://")

    def check_consistency(self) -> None:
        """Refuse combinations that cannot work, before any request is made."""
        if self.client_key and not self.client_cert:
            raise ConnectionSettingsError(
                "--client-key needs --client-cert (the certificate the key belongs to)"
            )
        if (self.client_cert or self.ca_certs) and not self.uses_tls:
            raise ConnectionSettingsError(
                f"--ca-certs/--client-cert need an https:// URL, not {self.url}: "
                "use https:// to turn TLS on"
            )
        if self.aws_sigv4:
            if self.username is not None:
                raise ConnectionSettingsError(
                    "--aws-sigv4 and basic auth (a user in the URL or --opensearch-user) "
                    "exclude each other: pick one"
                )
            if self.aws_service not in AWS_SERVICES:
                raise ConnectionSettingsError(
                    f"AWS service {self.aws_service!r} is not one of {AWS_SERVICES}: use es for "
                    "Amazon OpenSearch Service domains, aoss for OpenSearch Serverless"
                )

    def check_files(self) -> None:
        """The CA bundle and the client certificate files exist (checked when connecting)."""
        for option, path in (
            ("--ca-certs", self.ca_certs),
            ("--client-cert", self.client_cert),
            ("--client-key", self.client_key),
        ):
            if path and not Path(path).is_file():
                raise ConnectionSettingsError(f"{option} {path}: no such file")

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for :class:`opensearchpy.OpenSearch`."""
        options: dict[str, Any] = {
            "hosts": self.urls,
            "timeout": self.timeout,
            "http_compress": False,
            "retry_on_timeout": False,
            "pool_maxsize": self.pool_maxsize,
            # A refused or dropped connection fails over to the next node: one try per node.
            "max_retries": max(3, len(self.urls)),
        }
        if self.aws_sigv4:
            options["http_auth"] = aws_sigv4_auth(self.aws_region, self.aws_service)
        elif self.username is not None:
            options["http_auth"] = (self.username, self.password or "")
        if self.uses_tls:
            options["use_ssl"] = True
            if not self.verify_certs and self.client_cert:
                # opensearch-py drops the client certificate when verification is off: build
                # the TLS context here so both hold.
                options["ssl_context"] = self._unverified_context_with_client_cert()
                return options
            options["verify_certs"] = self.verify_certs
            options["ssl_show_warn"] = False  # --insecure is logged once, by connect()
            if self.ca_certs:
                options["ca_certs"] = self.ca_certs
            if self.client_cert:
                options["client_cert"] = self.client_cert
            if self.client_key:
                options["client_key"] = self.client_key
        return options

    def _unverified_context_with_client_cert(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        try:
            context.load_cert_chain(self.client_cert or "", self.client_key, password=_no_password)
        except (OSError, ssl.SSLError) as error:
            raise ConnectionSettingsError(
                f"cannot load the client certificate {self.client_cert} "
                f"(key {self.client_key or 'in the same file'}): {error.__class__.__name__}: "
                "pass a PEM certificate and its unencrypted PEM key"
            ) from None
        return context


def _split_node_url(url: str) -> tuple[str, str | None, str | None]:
    """``https://user:pass@host:9200/`` -> (clean URL, user, password)."""
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
        raise ConnectionSettingsError(
            f"OpenSearch URL {redact_url(url.strip())!r} must look like http(s)://host:port "
            "(several nodes: comma-separated, e.g. http://node1:9200,http://node2:9200)"
        )
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname  # IPv6 literal
    netloc = host if port is None else f"{host}:{port}"
    clean = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return clean, username, password


def _check_same_cluster_options(nodes: list[tuple[str, str | None, str | None]]) -> None:
    """The node URLs of one cluster share the scheme and the credentials."""
    schemes = {urlsplit(node[0]).scheme for node in nodes}
    if len(schemes) > 1:
        raise ConnectionSettingsError(
            "the OpenSearch node URLs mix http:// and https://: one cluster speaks one scheme"
        )
    credentials = {node[1:] for node in nodes if node[1] is not None}
    if len(credentials) > 1:
        raise ConnectionSettingsError(
            "the OpenSearch node URLs carry different credentials: give user:password@ once, "
            "or use OPENSEARCH_USER/OPENSEARCH_PASSWORD"
        )


def _no_password() -> str:
    raise ConnectionSettingsError("the client key is encrypted: decrypt it (openssl pkey -in ...)")


def aws_sigv4_auth(region: str | None, service: str = "es") -> Any:
    """An opensearch-py request signer for Amazon OpenSearch Service (``es``) or Serverless
    (``aoss``), with the credentials of the default AWS chain (environment, profile, role)."""
    try:
        import botocore.session
        from opensearchpy import Urllib3AWSV4SignerAuth
    except ImportError:
        raise AwsExtraMissingError(
            f"--aws-sigv4 needs botocore, which comes with the aws extra: {AWS_EXTRA_HINT}"
        ) from None
    session = botocore.session.get_session()
    region = region or session.get_config_variable("region")
    if not region:
        raise ConnectionSettingsError(
            "--aws-sigv4 needs a region: pass --aws-region or set AWS_REGION"
        )
    credentials = session.get_credentials()
    if credentials is None:
        raise ConnectionSettingsError(
            "--aws-sigv4 found no AWS credentials: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run with an IAM role"
        )
    return Urllib3AWSV4SignerAuth(credentials, region, service)


def redact_url(url: str) -> str:
    """``url`` (one, or several comma-separated) without the password of ``user:password@``."""
    if "," in url:
        return ",".join(redact_url(part) for part in url.split(","))
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
    ``connect(ConnectionSettings.from_url(url, verify_certs=False))``. Turning verification off
    logs a warning that names the risk.
    """
    if isinstance(target, ConnectionSettings):
        settings = target
    else:
        settings = ConnectionSettings.from_url(target, timeout=timeout, **tls_and_auth)
    settings.check_files()
    if settings.uses_tls and not settings.verify_certs:
        _warn_insecure(settings.url)
    return OpenSearch(**settings.client_options())


def _warn_insecure(url: str) -> None:
    import urllib3

    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    log.warning(
        "TLS certificate verification is OFF for %s (--insecure): anyone on the network path "
        "can impersonate the cluster and read the credentials and data; use --ca-certs instead "
        "outside a test cluster",
        url,
    )


def check_connection(client: OpenSearch, settings: ConnectionSettings) -> dict[str, Any] | None:
    """One request (``GET /``) to prove the URL, TLS and credentials work.

    Returns the cluster info, or ``None`` for OpenSearch Serverless (``aoss``), which has no such
    endpoint (its first real call reports failures). Raises :class:`OpenSearchConnectionError`.
    """
    if settings.aws_sigv4 and settings.aws_service == "aoss":
        return None
    try:
        return client.info()
    except OpenSearchException as error:
        raise describe_failure(error, settings) from None


def describe_failure(error: Exception, settings: ConnectionSettings) -> OpenSearchConnectionError:
    """Turn an opensearch-py error into a message that names the URL and the fix."""
    url = settings.url
    if isinstance(error, AuthenticationException):
        return OpenSearchConnectionError(
            f"OpenSearch at {url} refused the credentials (401): " + _credentials_hint(settings),
            url=url,
            reason="credentials",
        )
    if isinstance(error, AuthorizationException):
        return OpenSearchConnectionError(
            f"OpenSearch at {url} denied access (403): the user lacks a permission; grant the "
            "role cluster and index access to the jobs indices",
            url=url,
            reason="forbidden",
        )
    if isinstance(error, ConnectionTimeout):
        return OpenSearchConnectionError(
            f"OpenSearch at {url} did not answer within {settings.timeout:.0f}s: check the URL, "
            "the network path and the cluster's health",
            url=url,
            reason="timeout",
        )
    if isinstance(error, TransportConnectionError):
        return _describe_network_failure(error, settings)
    if isinstance(error, TransportError):
        return _describe_http_failure(error, settings)
    return OpenSearchConnectionError(
        f"OpenSearch at {url} failed: {error.__class__.__name__}", url=url, reason="failed"
    )


def _credentials_hint(settings: ConnectionSettings) -> str:
    if settings.aws_sigv4:
        return (
            "check the AWS credentials, --aws-region and --aws-service "
            f"({settings.aws_region or 'default region'}, {settings.aws_service})"
        )
    if settings.username is None:
        return "the cluster needs credentials: set OPENSEARCH_USER/OPENSEARCH_PASSWORD"
    return "check OPENSEARCH_USER/OPENSEARCH_PASSWORD"


def _describe_network_failure(
    error: TransportConnectionError, settings: ConnectionSettings
) -> OpenSearchConnectionError:
    url = settings.url
    cause = f"{error.info!s} {error.error!s}".lower()
    if "certificate verify failed" in cause or "self-signed" in cause or "self signed" in cause:
        return OpenSearchConnectionError(
            f"could not verify the TLS certificate of {url}: pass --ca-certs with the CA that "
            "signed it (or --insecure for a test cluster)",
            url=url,
            reason="untrusted-certificate",
        )
    if "hostname mismatch" in cause or "doesn't match" in cause:
        return OpenSearchConnectionError(
            f"the TLS certificate of {url} is for another host name: connect with the name the "
            "certificate was issued for (or --insecure for a test cluster)",
            url=url,
            reason="untrusted-certificate",
        )
    if "wrong version number" in cause or "record layer failure" in cause:
        return OpenSearchConnectionError(
            f"{url} does not speak TLS: use an http:// URL for this node",
            url=url,
            reason="tls-mismatch",
        )
    if "certificate required" in cause or "alert handshake failure" in cause:
        return OpenSearchConnectionError(
            f"OpenSearch at {url} requires a client certificate it accepts: pass --client-cert "
            "and --client-key",
            url=url,
            reason="client-certificate",
        )
    return OpenSearchConnectionError(
        f"could not reach OpenSearch at {url} ({_network_reason(cause)}): check the URL and that "
        "the cluster is up; for the local node run `scripts/opensearch-local start`",
        url=url,
        reason="unreachable",
    )


def _network_reason(cause: str) -> str:
    if "refused" in cause:
        return "connection refused"
    if "name or service not known" in cause or "nodename nor servname" in cause:
        return "host name not found"
    if "reset" in cause or "closed" in cause or "eof" in cause:
        return "connection closed by the other end"
    return "network error"


def _describe_http_failure(
    error: TransportError, settings: ConnectionSettings
) -> OpenSearchConnectionError:
    url = settings.url
    body = str(error.error).lower() + " " + str(error.info).lower()
    if error.status_code == 400 and "ssl certificate" in body:
        fix = (
            f"it refused {settings.client_cert}: pass one signed by a CA the cluster trusts"
            if settings.client_cert
            else "pass --client-cert and --client-key"
        )
        return OpenSearchConnectionError(
            f"OpenSearch at {url} requires a client certificate it accepts (400 from the TLS "
            f"proxy): {fix}",
            url=url,
            reason="client-certificate",
        )
    if error.status_code == 400 and "plain http request was sent to https port" in body:
        return OpenSearchConnectionError(
            f"{url} expects TLS: use an https:// URL", url=url, reason="tls-mismatch"
        )
    return OpenSearchConnectionError(
        f"OpenSearch at {url} answered {error.status_code} to GET /: check the URL points at "
        "the cluster (not a proxy's other site)",
        url=url,
        reason="failed",
    )
