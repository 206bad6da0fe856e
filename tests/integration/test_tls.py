"""The CLI against a TLS-terminating nginx with basic auth (and one with mutual TLS) in front of
the real node: what works, and the one clear line and exit code 6 for what does not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.tls_proxy import Pki, TlsProxy, free_port, make_pki, start_tls_proxy

pytestmark = pytest.mark.integration

USER = "indexer"
PASSWORD = "pw-tls-Test-4711"
OPENSEARCH_FAILED = 6


@dataclass(frozen=True)
class Secured:
    proxy: TlsProxy
    pki: Pki
    tmp: Path


@pytest.fixture(scope="module")
def secured(opensearch_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    tmp = tmp_path_factory.mktemp("tls")
    pki = make_pki(tmp / "pki")
    with start_tls_proxy(tmp / "nginx", pki, opensearch_url, {USER: PASSWORD}) as proxy:
        yield Secured(proxy, pki, tmp)


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OPENSEARCH_", "JOBO_", "AWS_"))
    }
    env.update(extra)
    return env


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "indexer", *args],
        capture_output=True,
        text=True,
        env=env if env is not None else clean_env(),
        timeout=120,
        check=False,
    )


def last_json(done: subprocess.CompletedProcess[str]) -> dict[str, object]:
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def auth_env(secured: Secured) -> dict[str, str]:
    return clean_env(
        OPENSEARCH_URL=secured.proxy.url,
        OPENSEARCH_CA_CERTS=str(secured.pki.ca_cert),
        OPENSEARCH_USER=USER,
        OPENSEARCH_PASSWORD=PASSWORD,
    )


def test_init_and_status_through_the_proxy_with_the_ca(
    auth_env: dict[str, str], unique_name: Callable[[str], str]
) -> None:
    base = unique_name("tls")
    created = cli("init", "--index", base, "--json", env=auth_env)
    assert created.returncode == 0, created.stderr
    assert last_json(created)["changed"] is True

    status = cli("status", "--index", base, "--json", env=auth_env)
    assert status.returncode == 0, status.stderr
    data = last_json(status)
    assert (data["active"], data["expired"], data["lock"]) == (0, 0, None)


def test_credentials_from_the_url_and_from_a_password_file(secured: Secured) -> None:
    in_url = secured.proxy.url.replace("https://", f"https://{USER}:{PASSWORD}@")
    ca = ["--ca-certs", str(secured.pki.ca_cert), "--json"]
    from_url = cli("ping", "--opensearch-url", in_url, *ca)
    assert from_url.returncode == 0, from_url.stderr
    assert last_json(from_url)["url"] == secured.proxy.url  # printed without the credentials

    password_file = secured.tmp / "opensearch-password"
    password_file.write_text(PASSWORD + "\n")
    from_file = cli(
        "ping",
        "--opensearch-url",
        secured.proxy.url,
        "--opensearch-user",
        USER,
        "--opensearch-password-file",
        str(password_file),
        *ca,
    )
    assert from_file.returncode == 0, from_file.stderr


def test_a_wrong_password_fails_with_the_clear_message_and_exit_6(
    auth_env: dict[str, str], secured: Secured, unique_name: Callable[[str], str]
) -> None:
    env = {**auth_env, "OPENSEARCH_PASSWORD": "not-the-password-9"}
    for command in (["init", "--index", unique_name("tls")], ["status"], ["ping"]):
        done = cli(*command, env=env)
        assert done.returncode == OPENSEARCH_FAILED, (command, done.stderr)
        assert (
            f"OpenSearch at {secured.proxy.url} refused the credentials (401): check "
            "OPENSEARCH_USER/OPENSEARCH_PASSWORD" in done.stderr
        )
        assert "not-the-password-9" not in done.stdout + done.stderr
        assert "Traceback" not in done.stderr


def test_no_credentials_at_all_says_the_cluster_needs_them(secured: Secured) -> None:
    ca = str(secured.pki.ca_cert)
    done = cli("ping", "--opensearch-url", secured.proxy.url, "--ca-certs", ca)
    assert done.returncode == OPENSEARCH_FAILED
    assert "refused the credentials (401): the cluster needs credentials" in done.stderr


def test_a_user_without_a_password_is_a_usage_error(secured: Secured) -> None:
    done = cli("ping", "--opensearch-url", secured.proxy.url, "--opensearch-user", USER)
    assert done.returncode == 2
    assert "OpenSearch user 'indexer' has no password: set OPENSEARCH_PASSWORD" in done.stderr


@pytest.mark.parametrize("ca", ["none", "stranger"])
def test_an_untrusted_certificate_fails_with_the_clear_message(
    auth_env: dict[str, str], secured: Secured, ca: str
) -> None:
    env = dict(auth_env)
    del env["OPENSEARCH_CA_CERTS"]
    if ca == "stranger":
        env["OPENSEARCH_CA_CERTS"] = str(secured.pki.stranger_ca_cert)
    done = cli("status", "--json", env=env)
    assert done.returncode == OPENSEARCH_FAILED, done.stderr
    expected = (
        f"could not verify the TLS certificate of {secured.proxy.url}: pass --ca-certs with the "
        "CA that signed it (or --insecure for a test cluster)"
    )
    assert expected in done.stderr
    assert last_json(done) == {
        "kind": "status",
        "outcome": "failed",
        "error": expected,
        "exit_code": OPENSEARCH_FAILED,
    }


def test_insecure_works_and_warns_in_the_log(
    auth_env: dict[str, str], secured: Secured, unique_name: Callable[[str], str]
) -> None:
    env = dict(auth_env)
    del env["OPENSEARCH_CA_CERTS"]
    base = unique_name("insecure")
    assert cli("init", "--index", base, "--insecure", env=env).returncode == 0
    done = cli("status", "--index", base, "--insecure", "--log-format", "json", "--json", env=env)
    assert done.returncode == 0, done.stderr
    warnings = [
        json.loads(line)
        for line in done.stderr.splitlines()
        if line.startswith("{") and "verification is OFF" in line
    ]
    assert len(warnings) == 1
    assert warnings[0]["level"] == "warning"
    assert secured.proxy.url in warnings[0]["message"]
    assert "impersonate the cluster" in warnings[0]["message"]


def test_the_insecure_flag_also_comes_from_the_environment(auth_env: dict[str, str]) -> None:
    env = {**auth_env, "OPENSEARCH_INSECURE": "1"}
    del env["OPENSEARCH_CA_CERTS"]
    done = cli("ping", env=env)
    assert done.returncode == 0, done.stderr
    assert "TLS certificate verification is OFF" in done.stderr


def test_a_client_certificate_is_sent_when_the_proxy_requires_one(
    auth_env: dict[str, str], secured: Secured, unique_name: Callable[[str], str]
) -> None:
    env = {**auth_env, "OPENSEARCH_URL": secured.proxy.mtls_url}
    pki = secured.pki
    client = ["--client-cert", str(pki.client_cert), "--client-key", str(pki.client_key)]
    created = cli("init", "--index", unique_name("mtls"), *client, env=env)
    assert created.returncode == 0, created.stderr

    insecure = {key: value for key, value in env.items() if key != "OPENSEARCH_CA_CERTS"}
    with_insecure = cli("ping", "--insecure", *client, env=insecure)
    assert with_insecure.returncode == 0, with_insecure.stderr  # the certificate is still sent


def test_without_a_client_certificate_the_failure_says_which_options(
    auth_env: dict[str, str], secured: Secured
) -> None:
    env = {**auth_env, "OPENSEARCH_URL": secured.proxy.mtls_url}
    done = cli("status", env=env)
    assert done.returncode == OPENSEARCH_FAILED
    assert (
        f"OpenSearch at {secured.proxy.mtls_url} requires a client certificate it accepts "
        "(400 from the TLS proxy): pass --client-cert and --client-key"
    ) in done.stderr

    pki = secured.pki
    stranger = cli(
        "ping",
        "--client-cert",
        str(pki.stranger_client_cert),
        "--client-key",
        str(pki.stranger_client_key),
        env=env,
    )
    assert stranger.returncode == OPENSEARCH_FAILED
    assert f"it refused {pki.stranger_client_cert}" in stranger.stderr


def test_a_refused_connection_names_the_url_and_the_local_node_script() -> None:
    url = f"https://127.0.0.1:{free_port()}"
    done = cli("ping", "--opensearch-url", url)
    assert done.returncode == OPENSEARCH_FAILED
    assert f"could not reach OpenSearch at {url} (connection refused)" in done.stderr
    assert "scripts/opensearch-local start" in done.stderr


def test_scheme_mismatches_say_which_scheme_to_use(opensearch_url: str, secured: Secured) -> None:
    tls_to_plain = cli("ping", "--opensearch-url", opensearch_url.replace("http://", "https://"))
    assert tls_to_plain.returncode == OPENSEARCH_FAILED
    assert "does not speak TLS: use an http:// URL" in tls_to_plain.stderr

    plain_to_tls = cli("ping", "--opensearch-url", secured.proxy.url.replace("https", "http"))
    assert plain_to_tls.returncode == OPENSEARCH_FAILED
    assert "expects TLS: use an https:// URL" in plain_to_tls.stderr


def test_a_ca_bundle_on_a_plain_url_is_a_usage_error(opensearch_url: str, secured: Secured) -> None:
    done = cli("ping", "--opensearch-url", opensearch_url, "--ca-certs", str(secured.pki.ca_cert))
    assert done.returncode == 2
    assert "need an https:// URL" in done.stderr


def aws_env(**extra: str) -> dict[str, str]:
    return clean_env(
        AWS_ACCESS_KEY_ID="AKIDTESTKEYID0000000",
        AWS_SECRET_ACCESS_KEY="aws-TEST-SECRET-key/0123456789",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE="/nonexistent/aws-config",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent/aws-credentials",
        **extra,
    )


def test_sigv4_requests_reach_the_node_through_the_cli(opensearch_url: str) -> None:
    # The plain node ignores the Authorization header: this proves the CLI wiring end to end.
    done = cli(
        "ping",
        "--opensearch-url",
        opensearch_url,
        "--aws-sigv4",
        env=aws_env(AWS_REGION="eu-west-1"),
    )
    assert done.returncode == 0, done.stderr


def test_a_refused_signature_names_the_aws_settings(secured: Secured) -> None:
    # nginx wants basic auth, so the signed request is refused with 401.
    done = cli(
        "ping",
        "--opensearch-url",
        secured.proxy.url,
        "--ca-certs",
        str(secured.pki.ca_cert),
        "--aws-sigv4",
        "--aws-region",
        "eu-west-1",
        env=aws_env(),
    )
    assert done.returncode == OPENSEARCH_FAILED
    assert (
        "refused the credentials (401): check the AWS credentials, --aws-region and "
        "--aws-service (eu-west-1, es)"
    ) in done.stderr
    assert "aws-TEST-SECRET" not in done.stdout + done.stderr
