"""Several node URLs of one cluster in ``--opensearch-url``: parsing, refusals, client options."""

from __future__ import annotations

import pytest

from indexer.store.connection import ConnectionSettings, ConnectionSettingsError, redact_url


def test_a_comma_separated_list_gives_every_node_to_the_client() -> None:
    settings = ConnectionSettings.from_url(
        "http://127.0.0.1:9270/, http://127.0.0.1:9271 ,http://127.0.0.1:9272"
    )
    assert settings.urls == [
        "http://127.0.0.1:9270",
        "http://127.0.0.1:9271",
        "http://127.0.0.1:9272",
    ]
    options = settings.client_options()
    assert options["hosts"] == settings.urls
    assert options["max_retries"] == 3
    assert options["retry_on_timeout"] is False


def test_one_try_per_node_when_there_are_more_nodes_than_retries() -> None:
    urls = ",".join(f"http://10.0.0.{n}:9200" for n in range(1, 6))
    assert ConnectionSettings.from_url(urls).client_options()["max_retries"] == 5


def test_credentials_given_once_hold_for_every_node() -> None:
    settings = ConnectionSettings.from_url("https://admin:s%40cret@a:9200,https://b:9200")
    assert settings.urls == ["https://a:9200", "https://b:9200"]
    assert (settings.username, settings.password) == ("admin", "s@cret")
    assert "s@cret" not in repr(settings)
    assert settings.client_options()["http_auth"] == ("admin", "s@cret")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://a:9200,https://b:9200", "mix http:// and https://"),
        ("https://u:p@a:9200,https://v:q@b:9200", "different credentials"),
        ("http://a:9200,b:9200", "must look like http"),
        ("http://a:9200,http://b:port", "must look like http"),
        (" , ", "is empty"),
    ],
)
def test_a_list_that_cannot_be_one_cluster_is_refused(url: str, message: str) -> None:
    with pytest.raises(ConnectionSettingsError, match=message):
        ConnectionSettings.from_url(url)


def test_redaction_covers_every_node_url() -> None:
    assert redact_url("https://u:pw@a:9200,https://u:pw@b:9200") == (
        "https://u:***@a:9200,https://u:***@b:9200"
    )
