"""docker-compose.yml and the Dockerfile, read as a user's `docker compose up` would run them.

No Docker engine runs here: tests/support/compose.py reads the files and checks them against the
CLI (click's own parser, the options' environment variables) and the OpenSearch version the tests
run. The tests assert the shipped files have no problem, and that one broken copy of them per
check is caught (a check that cannot fail proves nothing).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from tests.support.compose import (
    COMPOSE,
    IMAGE_REPOSITORIES,
    LONG_RUNNING,
    ONE_SHOT,
    REPO,
    Dockerfile,
    Invocation,
    all_commands,
    cli,
    command_problems,
    declared_envvars,
    depends_on,
    env_problems,
    environment,
    interpolate,
    invocations,
    load_compose,
    mount_target,
    ordering_problems,
    our_services,
    parse_dockerfile,
    script_default_version,
    version_problems,
    volume_problems,
)


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No variable the CLI reads leaks in from the test run (OPENSEARCH_URL usually does)."""
    for name in declared_envvars(all_commands(cli())):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


# --------------------------------------------------------------------------- the shipped files


@pytest.fixture
def shipped(isolated_env: pytest.MonkeyPatch) -> tuple[dict[str, Any], Dockerfile, dict]:
    doc, image = load_compose(), parse_dockerfile()
    return doc, image, invocations(doc, image, isolated_env)


def test_every_service_command_is_a_valid_cli_invocation(shipped: tuple) -> None:
    doc, _image, parsed = shipped
    assert command_problems(parsed) == []
    assert set(parsed) == set(our_services(doc))
    assert {"simulate", "init", "run", "import", "serve"} <= {
        p.command.name for p in parsed.values()
    }


def test_every_env_var_is_one_the_cli_reads(shipped: tuple) -> None:
    doc, image, parsed = shipped
    assert env_problems(doc, image, parsed) == []


def test_nothing_touches_the_index_before_init_has_completed(shipped: tuple) -> None:
    doc, _image, parsed = shipped
    assert ordering_problems(doc, parsed) == []
    indexer = parsed["indexer"]
    assert isinstance(indexer, Invocation)
    assert indexer.command.name == "run"


def test_every_volume_is_writable_by_the_image_user() -> None:
    image = parse_dockerfile()
    assert volume_problems(load_compose(), image) == []
    assert image.user == "app"
    assert PurePosixPath("/work") in image.owned


def test_image_tags_are_the_version_the_tests_run() -> None:
    assert version_problems(load_compose(), script_default_version()) == []
    assert compose_default_version() == script_default_version()


def test_the_settings_the_commands_read_come_from_the_environment(shipped: tuple) -> None:
    """The parsed contexts carry the compose values: the environment is what configures them."""
    _doc, _image, parsed = shipped
    indexer = parsed["indexer"].context.params
    assert indexer["opensearch_url"] == "http://opensearch:9200"
    assert indexer["jobo_url"] == "http://feed-simulator:8765"
    assert indexer["work_dir"] == Path("/work")
    assert parsed["feed-simulator"].context.params["api_key"] == indexer["api_key"] == "sim-key"
    assert parsed["init"].context.params["opensearch_url"] == "http://opensearch:9200"
    search = parsed["search"].context.params
    assert search["opensearch_url"] == "http://opensearch:9200"
    assert (search["host"], search["port"]) == ("0.0.0.0", 8080)
    assert search["base"] == indexer["base"]  # the index the indexer fills


# --------------------------------------------------------------------------- each check can fail


def _broken(mutate: Any) -> dict[str, Any]:
    doc = copy.deepcopy(load_compose())
    mutate(doc["services"])
    return doc


def test_a_misspelled_env_var_is_caught(isolated_env: pytest.MonkeyPatch) -> None:
    def misspell(services: dict) -> None:
        env = services["indexer"]["environment"]
        env["JOBO_INDEXER_WORKDIR"] = env.pop("JOBO_INDEXER_WORK_DIR")

    doc, image = _broken(misspell), parse_dockerfile()
    (problem,) = env_problems(doc, image, invocations(doc, image, isolated_env))
    assert "JOBO_INDEXER_WORKDIR is not read by `run`" in problem


def test_an_env_var_of_another_command_is_caught(isolated_env: pytest.MonkeyPatch) -> None:
    doc, image = (
        _broken(lambda s: s["init"]["environment"].update(JOBO_API_KEY="k")),
        parse_dockerfile(),
    )
    (problem,) = env_problems(doc, image, invocations(doc, image, isolated_env))
    assert "service init: JOBO_API_KEY is not read by `init`" in problem


def test_an_invalid_command_is_caught(isolated_env: pytest.MonkeyPatch) -> None:
    def break_commands(services: dict) -> None:
        services["indexer"]["command"] = ["run", "--evry", "30m"]
        services["dashboards-import"]["command"] = ["dashboards", "imprt"]
        services["feed-simulator"]["environment"] = {}  # simulate needs its --api-key

    doc, image = _broken(break_commands), parse_dockerfile()
    problems = command_problems(invocations(doc, image, isolated_env))
    assert len(problems) == 3, problems
    for service, needle in (("indexer", "--evry"), ("dashboards-import", "imprt")):
        assert any(p.startswith(f"service {service}:") and needle in p for p in problems)
    assert any(p.startswith("service feed-simulator:") and "api-key" in p for p in problems)


def test_a_flow_before_init_is_caught(isolated_env: pytest.MonkeyPatch) -> None:
    doc, image = _broken(lambda s: s["indexer"]["depends_on"].pop("init")), parse_dockerfile()
    (problem,) = ordering_problems(doc, invocations(doc, image, isolated_env))
    assert "service indexer runs `run` on the index without waiting for `init`" in problem
    without_init = _broken(lambda s: s.pop("init"))
    problems = ordering_problems(without_init, invocations(without_init, image, isolated_env))
    assert problems == ["no service runs `init`: on a fresh stack nothing initialises the index"]


def test_a_volume_where_the_user_cannot_write_is_caught() -> None:
    doc = _broken(lambda s: s["indexer"]["volumes"].append("indexer-cache:/var/cache/jobo"))
    (problem,) = volume_problems(doc, parse_dockerfile())
    assert "volume indexer-cache is mounted at /var/cache/jobo" in problem


def test_an_image_tag_other_than_the_tested_version_is_caught() -> None:
    def pin(services: dict) -> None:
        services["opensearch-dashboards"]["image"] = "opensearchproject/opensearch-dashboards:1.3.0"

    (problem,) = version_problems(_broken(pin), compose_default_version())
    assert problem.startswith("service opensearch-dashboards: ")
    assert "1.3.0 is not the tested" in problem


# --------------------------------------------------------------------------- the stack's promises


def test_services_come_up_in_order_of_health_and_completion() -> None:
    services = load_compose()["services"]
    assert depends_on(services["opensearch-dashboards"]) == {"opensearch": "service_healthy"}
    assert depends_on(services["dashboards-import"]) == {"opensearch-dashboards": "service_healthy"}
    assert depends_on(services["indexer"]) == {
        "opensearch": "service_healthy",
        "feed-simulator": "service_healthy",
        "init": "service_completed_successfully",
    }
    assert depends_on(services["search"]) == {
        "opensearch": "service_healthy",
        "init": "service_completed_successfully",
    }
    for name in ("opensearch", "opensearch-dashboards", "feed-simulator", "search"):
        assert services[name]["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL")


def test_restart_policies_one_shots_run_once_and_the_rest_come_back() -> None:
    doc = load_compose()
    for name, service in doc["services"].items():
        expected = ONE_SHOT if name in ("init", "dashboards-import") else LONG_RUNNING
        assert service.get("restart") == expected, name
    assert doc["services"]["indexer"]["stop_signal"] == "SIGTERM"


def test_every_published_port_is_on_loopback() -> None:
    """Security is disabled: what the stack publishes is for the local user only."""
    published = {
        name: service["ports"]
        for name, service in load_compose()["services"].items()
        if service.get("ports")
    }
    assert set(published) == {"opensearch", "opensearch-dashboards", "feed-simulator", "search"}
    for name, ports in published.items():
        for port in ports:
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_security_is_off_for_local_use_and_no_image_of_ours_is_pulled() -> None:
    doc = load_compose()
    for name, service in doc["services"].items():
        env = environment(service)
        if str(service.get("image", "")).startswith(IMAGE_REPOSITORIES[0] + ":"):
            assert env["DISABLE_SECURITY_PLUGIN"] == env["DISABLE_INSTALL_DEMO_CONFIG"] == "true"
        if name == "opensearch-dashboards":
            assert env["DISABLE_SECURITY_DASHBOARDS_PLUGIN"] == "true"
            assert env["OPENSEARCH_HOSTS"] == '["http://opensearch:9200"]'
    for name, service in our_services(doc).items():
        assert service["build"] == ".", name
        assert service["image"] == "jobo-indexer:local", name
    assert "vm.max_map_count" in COMPOSE.read_text(encoding="utf-8")


def compose_default_version() -> str:
    """The version both images get when the user sets no OPENSEARCH_VERSION."""
    image = load_compose()["services"]["opensearch"]["image"]
    return str(interpolate(image)).partition(":")[2]


def test_opensearch_and_dashboards_share_one_version_switch() -> None:
    images = {
        name: service["image"]
        for name, service in load_compose()["services"].items()
        if str(service.get("image", "")).startswith(IMAGE_REPOSITORIES)
    }
    tags = {image.partition(":")[2] for image in images.values()}
    assert tags == {"${OPENSEARCH_VERSION:-" + compose_default_version() + "}"}, images
    assert compose_default_version().startswith("3."), "3.x is the default users get"


def _nodes(services: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: svc
        for name, svc in services.items()
        if str(svc.get("image", "")).startswith(IMAGE_REPOSITORIES[0] + ":")
    }


def test_the_cluster_profile_adds_two_nodes_to_the_default_one() -> None:
    doc = load_compose()
    nodes = _nodes(doc["services"])
    default = [name for name, svc in nodes.items() if not svc.get("profiles")]
    assert default == ["opensearch"]
    assert len(nodes) == 3
    assert all(svc.get("profiles") in (None, ["cluster"]) for svc in nodes.values())
    envs = {name: environment(svc) for name, svc in nodes.items()}
    assert {env["node.name"] for env in envs.values()} == set(nodes)  # names are hostnames
    assert {env["cluster.name"] for env in envs.values()} == {"jobo-indexer"}
    for env in envs.values():
        assert set(env["discovery.seed_hosts"].split(",")) == set(nodes)
        assert "discovery.type" not in env  # single-node discovery would never let others join
    # One node bootstraps the cluster, the one that always runs: alone it forms a cluster of one,
    # with the profile the other two join it (no second cluster can be bootstrapped).
    bootstrapping = {n: e for n, e in envs.items() if "cluster.initial_cluster_manager_nodes" in e}
    assert list(bootstrapping) == ["opensearch"]
    assert bootstrapping["opensearch"]["cluster.initial_cluster_manager_nodes"] == "opensearch"
    data = {mount_target(v)[0] for svc in nodes.values() for v in svc["volumes"]}
    assert len(data) == 3
    assert data <= set(doc["volumes"])
    for name in ("opensearch-2", "opensearch-3"):
        assert "-Xmx512m" in envs[name]["OPENSEARCH_JAVA_OPTS"]
        assert "ports" not in nodes[name]


def test_the_readme_docker_section_matches_the_compose_file() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Docker", 1)[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    doc = load_compose()
    for name in doc["services"]:
        assert f"`{name}`" in section, f"the README's Docker section does not name {name}"
    for needle in (
        "http://localhost:5601",
        "http://localhost:8765",
        "docker compose logs",
        "JOBO_BASE_URL",
        "JOBO_API_KEY",
        "--profile cluster",
        "OPENSEARCH_VERSION",
        compose_default_version(),
    ):
        assert needle in section, needle
