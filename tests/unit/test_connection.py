"""Connection settings beyond the URL: client certificates, refused combinations, files that
must exist, and the AWS SigV4 signer wiring (botocore from the ``aws`` extra)."""

from __future__ import annotations

import ssl
import sys
from pathlib import Path

import pytest

from indexer.store.connection import (
    AwsExtraMissingError,
    ConnectionSettings,
    ConnectionSettingsError,
    aws_sigv4_auth,
    connect,
)
from tests.support.tls_proxy import Pki, make_pki

AWS_KEY_ID = "AKIDTESTKEYID0000000"
AWS_SECRET = "aws-TEST-SECRET-key/0123456789abcdefghij"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Static credentials from the environment; no shared files, no instance metadata."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def test_client_certificate_and_key_reach_the_client_options(pki: Pki) -> None:
    options = ConnectionSettings.from_url(
        "https://node:9200",
        ca_certs=str(pki.ca_cert),
        client_cert=str(pki.client_cert),
        client_key=str(pki.client_key),
    ).client_options()
    assert options["client_cert"] == str(pki.client_cert)
    assert options["client_key"] == str(pki.client_key)
    assert options["verify_certs"] is True
    assert options["ssl_show_warn"] is False


def test_insecure_with_a_client_certificate_keeps_the_certificate(pki: Pki) -> None:
    options = ConnectionSettings.from_url(
        "https://node:9200",
        verify_certs=False,
        client_cert=str(pki.client_cert),
        client_key=str(pki.client_key),
    ).client_options()
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_NONE
    assert context.check_hostname is False
    assert "verify_certs" not in options  # opensearch-py would drop the certificate otherwise


def test_a_key_that_does_not_match_its_certificate_is_refused(pki: Pki) -> None:
    settings = ConnectionSettings.from_url(
        "https://node:9200",
        verify_certs=False,
        client_cert=str(pki.client_cert),
        client_key=str(pki.stranger_client_key),
    )
    with pytest.raises(ConnectionSettingsError, match="cannot load the client certificate"):
        settings.client_options()


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        ("https://h:9200", {"client_key": "/k.pem"}, "--client-key needs --client-cert"),
        ("http://h:9200", {"ca_certs": "/ca.pem"}, "need an https:// URL"),
        ("http://h:9200", {"client_cert": "/c.pem"}, "need an https:// URL"),
        ("https://u:p@h:9200", {"aws_sigv4": True}, "exclude each other"),
        ("https://h:9200", {"aws_sigv4": True, "aws_service": "s3"}, "not one of"),
    ],
)
def test_combinations_that_cannot_work_are_refused_early(
    url: str, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ConnectionSettingsError, match=message):
        ConnectionSettings.from_url(url, **options)


def test_connect_names_the_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "ca.pem"
    with pytest.raises(ConnectionSettingsError, match=f"--ca-certs {missing}: no such file"):
        connect("https://h:9200", ca_certs=str(missing))


def test_sigv4_auth_signs_with_the_region_and_service(aws_env: None) -> None:
    auth = aws_sigv4_auth("eu-west-1", "es")
    assert (auth.signer.region, auth.signer.service) == ("eu-west-1", "es")

    headers = auth("GET", "https://search-jobs.eu-west-1.es.amazonaws.com/_cluster/health", None)
    authorization = headers["Authorization"]
    assert authorization.startswith(f"AWS4-HMAC-SHA256 Credential={AWS_KEY_ID}/")
    assert "/eu-west-1/es/aws4_request" in authorization
    assert "SignedHeaders=" in authorization
    signed = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
    assert {"host", "x-amz-date", "x-amz-content-sha256"} <= set(signed)
    assert AWS_SECRET not in str(headers)


def test_sigv4_for_serverless_signs_for_aoss_and_the_body(aws_env: None) -> None:
    auth = aws_sigv4_auth("us-east-1", "aoss")
    first = auth("POST", "https://x.us-east-1.aoss.amazonaws.com/jobs/_search", b'{"size":1}')
    second = auth("POST", "https://x.us-east-1.aoss.amazonaws.com/jobs/_search", b'{"size":2}')
    assert "/us-east-1/aoss/aws4_request" in first["Authorization"]
    assert first["X-Amz-Content-SHA256"] != second["X-Amz-Content-SHA256"]


def test_the_region_comes_from_the_environment_when_not_given(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-south-1")
    assert aws_sigv4_auth(None).signer.region == "ap-south-1"


def test_sigv4_without_a_region_or_credentials_says_what_to_set(
    aws_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConnectionSettingsError, match="pass --aws-region or set AWS_REGION"):
        aws_sigv4_auth(None)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(ConnectionSettingsError, match="found no AWS credentials"):
        aws_sigv4_auth("eu-west-1")


def test_the_client_carries_the_signer(aws_env: None) -> None:
    settings = ConnectionSettings.from_url(
        "https://search.example:443", aws_sigv4=True, aws_region="eu-central-1"
    )
    client = connect(settings)
    connection = client.transport.connection_pool.connections[0]
    assert connection.http_auth.signer.region == "eu-central-1"
    assert connection.http_auth.signer.service == "es"
    assert "Authorization" not in connection.headers  # no basic auth next to the signature


def test_without_the_aws_extra_the_error_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "botocore.session", None)  # import fails like uninstalled
    with pytest.raises(AwsExtraMissingError, match=r"pip install 'jobo-indexer\[aws\]'"):
        aws_sigv4_auth("eu-west-1")
