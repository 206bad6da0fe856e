"""A TLS-terminating nginx with basic auth in front of the real OpenSearch node, for tests.

Needs the Debian package ``nginx-light`` (or ``nginx``) and the ``openssl`` CLI; installs nothing
itself. :func:`make_pki` writes a test CA, a server certificate for 127.0.0.1/localhost signed by
it, a client certificate signed by it, and a second CA nobody trusts. :func:`start_tls_proxy`
runs nginx in the foreground with its own prefix directory and config on free ports:

- ``url``: https, basic auth against the htpasswd file (``{SHA}`` hashes computed here);
- ``mtls_url``: the same, plus ``ssl_verify_client on`` (a client certificate from the test CA).
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

NGINX_PACKAGE = "nginx-light"


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    stranger_ca_cert: Path  # a CA that signed nothing we serve: "untrusted" for every test
    stranger_client_cert: Path  # a client certificate nginx must refuse
    stranger_client_key: Path


@dataclass(frozen=True)
class TlsProxy:
    url: str  # https://127.0.0.1:<port>, basic auth
    mtls_url: str  # https://127.0.0.1:<port>, basic auth and a client certificate
    prefix: Path


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {done.stderr}")


def _new_key_and_csr(directory: Path, name: str, subject: str) -> None:
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject,
        cwd=directory,
    )  # fmt: skip


def _make_ca(directory: Path, name: str) -> None:
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "3",
        "-subj", f"/CN=jobo-indexer {name}",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=directory,
    )  # fmt: skip


def _sign(directory: Path, name: str, ca: str, extensions: str) -> None:
    (directory / f"{name}.ext").write_text(
        "basicConstraints=CA:FALSE\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n" + extensions
    )
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
        "-CAcreateserial", "-out", f"{name}.pem", "-days", "3", "-extfile", f"{name}.ext",
        cwd=directory,
    )  # fmt: skip


def make_pki(directory: Path) -> Pki:
    """A CA, a server certificate (127.0.0.1, localhost) and a client certificate it signed, and
    a stranger CA with its own client certificate."""
    directory.mkdir(parents=True, exist_ok=True)
    _make_ca(directory, "ca")
    _make_ca(directory, "stranger-ca")
    _new_key_and_csr(directory, "server", "/CN=127.0.0.1")
    _sign(
        directory,
        "server",
        "ca",
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    _new_key_and_csr(directory, "client", "/CN=jobo-indexer-client")
    _sign(directory, "client", "ca", "extendedKeyUsage=clientAuth\n")
    _new_key_and_csr(directory, "stranger-client", "/CN=stranger")
    _sign(directory, "stranger-client", "stranger-ca", "extendedKeyUsage=clientAuth\n")
    return Pki(
        ca_cert=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        client_cert=directory / "client.pem",
        client_key=directory / "client.key",
        stranger_ca_cert=directory / "stranger-ca.pem",
        stranger_client_cert=directory / "stranger-client.pem",
        stranger_client_key=directory / "stranger-client.key",
    )


def htpasswd_line(user: str, password: str) -> str:
    """An nginx ``auth_basic_user_file`` line with a ``{SHA}`` hash (base64 of SHA-1)."""
    digest = base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()
    return f"{user}:{{SHA}}{digest}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if not found:
        raise RuntimeError(
            f"nginx is not installed: apt-get install -y {NGINX_PACKAGE} (make test does this)"
        )
    return found


def _server_block(port: int, pki: Pki, upstream: str, *, client_cert: bool) -> str:
    verify = (
        f"ssl_client_certificate {pki.ca_cert};\n        ssl_verify_client on;\n"
        if client_cert
        else ""
    )
    return f"""
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {pki.server_cert};
        ssl_certificate_key {pki.server_key};
        {verify}
        client_max_body_size 200m;
        location / {{
            auth_basic "jobo-indexer test";
            auth_basic_user_file htpasswd;
            proxy_set_header Authorization "";
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass {upstream};
        }}
    }}
"""


def _config(prefix: Path, pki: Pki, upstream: str, ports: tuple[int, int]) -> str:
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read the prefix dir
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / 'tmp' / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}worker_processes 1;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"} warn;
events {{ worker_connections 256; }}
http {{
    access_log {prefix / "access.log"};
{temp}
{_server_block(ports[0], pki, upstream, client_cert=False)}
{_server_block(ports[1], pki, upstream, client_cert=True)}
}}
"""


def _wait_until_listening(port: int, process: subprocess.Popen[bytes], prefix: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = (prefix / "error.log").read_text() if (prefix / "error.log").exists() else ""
            raise RuntimeError(f"nginx exited with {process.returncode}: {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nginx did not listen on 127.0.0.1:{port} within 20s")


@contextmanager
def start_tls_proxy(
    prefix: Path, pki: Pki, upstream: str, users: Mapping[str, str]
) -> Iterator[TlsProxy]:
    """nginx on two free ports in front of ``upstream`` (the plain node's URL); stopped after."""
    parts = urlsplit(upstream)
    upstream = f"{parts.scheme}://{parts.hostname}:{parts.port or 80}"
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    (prefix / "conf").mkdir(exist_ok=True)
    (prefix / "conf" / "htpasswd").write_text(
        "".join(htpasswd_line(user, password) + "\n" for user, password in users.items())
    )
    ports = (free_port(), free_port())
    config = prefix / "conf" / "nginx.conf"
    config.write_text(_config(prefix, pki, upstream, ports))
    process = subprocess.Popen(
        [
            nginx_binary(),
            "-p",
            str(prefix),
            "-e",
            str(prefix / "error.log"),
            "-c",
            str(config),
            "-g",
            "daemon off;",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for port in ports:
            _wait_until_listening(port, process, prefix)
        yield TlsProxy(
            url=f"https://127.0.0.1:{ports[0]}",
            mtls_url=f"https://127.0.0.1:{ports[1]}",
            prefix=prefix,
        )
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
