"""docker-compose.yml cannot run here (no Docker engine); this checks what it promises users."""

from __future__ import annotations

from pathlib import Path

import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
NODE_POM = COMPOSE.parent / "scripts" / "opensearch-node" / "pom.xml"


def load() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_opensearch_and_dashboards_pin_the_version_ci_runs() -> None:
    services = load()["services"]
    ci_version = "2.19.1"
    assert f"<version>{ci_version}.0</version>" in NODE_POM.read_text()
    assert services["opensearch"]["image"] == f"opensearchproject/opensearch:{ci_version}"
    assert services["opensearch-dashboards"]["image"] == (
        f"opensearchproject/opensearch-dashboards:{ci_version}"
    )


def test_security_is_disabled_for_local_use_and_services_are_healthchecked() -> None:
    services = load()["services"]
    node_env = services["opensearch"]["environment"]
    assert node_env["DISABLE_SECURITY_PLUGIN"] == "true"
    assert node_env["DISABLE_INSTALL_DEMO_CONFIG"] == "true"
    assert "-Xmx1g" in node_env["OPENSEARCH_JAVA_OPTS"]
    dash_env = services["opensearch-dashboards"]["environment"]
    assert dash_env["DISABLE_SECURITY_DASHBOARDS_PLUGIN"] == "true"
    for name in ("opensearch", "opensearch-dashboards"):
        assert "healthcheck" in services[name]
    assert services["opensearch-dashboards"]["depends_on"]["opensearch"]["condition"] == (
        "service_healthy"
    )


def test_ports_and_data_volume() -> None:
    doc = load()
    services = doc["services"]
    assert "9200:9200" in services["opensearch"]["ports"]
    assert "5601:5601" in services["opensearch-dashboards"]["ports"]
    assert "opensearch-data" in doc["volumes"]
    assert any(v.startswith("opensearch-data:") for v in services["opensearch"]["volumes"])
    assert "vm.max_map_count" in COMPOSE.read_text()


def test_simulator_and_indexer_services_run_the_cli_against_the_node() -> None:
    services = load()["services"]
    simulator = services["feed-simulator"]
    assert simulator["command"][0] == "simulate"
    assert "--host" in simulator["command"]
    assert "0.0.0.0" in simulator["command"]
    indexer = services["indexer"]
    assert indexer["command"][:1] == ["run"]
    env = indexer["environment"]
    assert env["OPENSEARCH_URL"] == "http://opensearch:9200"
    assert env["JOBO_BASE_URL"].endswith("http://feed-simulator:8765}")
    assert indexer["depends_on"]["opensearch"]["condition"] == "service_healthy"
    assert indexer["stop_signal"] == "SIGTERM"
    assert "indexer-work" in load()["volumes"]
    dockerfile = (COMPOSE.parent / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["jobo-indexer"]' in dockerfile


def test_dashboards_are_imported_once_dashboards_is_healthy() -> None:
    service = load()["services"]["dashboards-import"]
    assert service["command"][:2] == ["dashboards", "import"]
    assert "http://opensearch-dashboards:5601" in service["command"]
    assert service["depends_on"]["opensearch-dashboards"]["condition"] == "service_healthy"
    assert service["restart"] == "no"
