"""Building the OpenSearch client from a URL: credentials, TLS defaults, secrets kept hidden."""

from __future__ import annotations

import pytest

from indexer.store.connection import ConnectionSettings, ConnectionSettingsError, connect


def test_credentials_in_the_url_are_split_off() -> None:
    settings = ConnectionSettings.from_url("https://admin:s3cr%40t@search.example:9200/")
    assert settings.url == "https://search.example:9200"
    assert settings.username == "admin"
    assert settings.password == "s3cr@t"
    assert "s3cr" not in repr(settings)
    assert settings.client_options()["http_auth"] == ("admin", "s3cr@t")


def test_https_verifies_certificates_by_default_and_takes_a_ca() -> None:
    options = ConnectionSettings.from_url(
        "https://node:9200", ca_certs="/etc/ca.pem"
    ).client_options()
    assert options["use_ssl"] is True
    assert options["verify_certs"] is True
    assert options["ca_certs"] == "/etc/ca.pem"


def test_plain_http_has_no_tls_options_and_no_auth() -> None:
    options = ConnectionSettings.from_url("http://127.0.0.1:9200").client_options()
    assert "use_ssl" not in options
    assert "http_auth" not in options


def test_transport_choices_for_the_bulk_writer() -> None:
    options = ConnectionSettings.from_url("http://h:9200", timeout=120).client_options()
    assert options["http_compress"] is False
    assert options["retry_on_timeout"] is False
    assert options["timeout"] == 120


def test_options_override_the_url() -> None:
    settings = ConnectionSettings.from_url(
        "https://u:p@h:9200", username="other", password="pw2", verify_certs=False
    )
    assert (settings.username, settings.password, settings.verify_certs) == ("other", "pw2", False)


@pytest.mark.parametrize("url", ["ftp://h:21", "h:9200", "http://", "https://:pw@/"])
def test_bad_urls_are_refused_without_echoing_the_password(url: str) -> None:
    with pytest.raises(ConnectionSettingsError) as caught:
        ConnectionSettings.from_url(url)
    assert "pw" not in str(caught.value).replace("http(s)", "")


def test_a_password_in_a_bad_url_is_redacted() -> None:
    with pytest.raises(ConnectionSettingsError) as caught:
        ConnectionSettings.from_url("ftp://user:hunter2@h:21")
    assert "hunter2" not in str(caught.value)
    assert "user:***@h:21" in str(caught.value)


def test_unknown_options_are_named() -> None:
    with pytest.raises(ConnectionSettingsError, match="sigv4"):
        ConnectionSettings.from_url("http://h:9200", sigv4=True)


@pytest.mark.integration
def test_connect_reaches_the_node(opensearch_url: str) -> None:
    client = connect(opensearch_url)
    assert client.info()["version"]["distribution"] == "opensearch"
    same = connect(ConnectionSettings.from_url(opensearch_url))
    assert same.cluster.health()["status"] in {"green", "yellow"}
