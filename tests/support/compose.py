"""Reading docker-compose.yml and the Dockerfile as `docker compose up` would run them, and the
checks tests/unit/test_compose.py makes of them.

No Docker engine runs here, so each promise is a check over the two files, derived from the CLI
itself where the CLI decides (its commands, options and environment variables, through click's own
parser, never running a command) and from ``scripts/opensearch-local`` for the OpenSearch version
the tests run. Every check returns the problems it finds, one readable line each.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path, PurePosixPath
from typing import Any

import click
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
NODE_SCRIPT = REPO / "scripts" / "opensearch-local"
IMAGE_REPOSITORIES = ("opensearchproject/opensearch", "opensearchproject/opensearch-dashboards")
ONE_SHOT = "no"
LONG_RUNNING = "unless-stopped"
# The image's own interpreter settings: not read by the CLI, and not meant to be.
PYTHON_RUNTIME_ENV = {"PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"}


# --------------------------------------------------------------------------- reading the files


def load_compose(path: Path = COMPOSE) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}")


def interpolate(value: Any) -> Any:
    """What Compose substitutes for ``${VAR:-default}`` when the user sets nothing."""
    if not isinstance(value, str):
        return value
    return _VARIABLE.sub(lambda m: m.group("default") or "", value).replace("$$", "$")


def script_default_version(script: Path = NODE_SCRIPT) -> str:
    """The OpenSearch version ``scripts/opensearch-local`` (so the test suite) runs by default."""
    text = script.read_text(encoding="utf-8")
    match = re.search(r"OPENSEARCH_LOCAL_VERSION:-([0-9][0-9A-Za-z.\-]*)\}", text) or re.search(
        r'^\s*(?:default_)?version="?([0-9][0-9A-Za-z.\-]*)"?\s*$', text, re.MULTILINE
    )
    assert match, f"cannot find the default OpenSearch version in {script}"
    return match.group(1)


@dataclass
class Dockerfile:
    user: str | None = None
    owned: list[PurePosixPath] = field(default_factory=list)  # directories the user owns
    env: dict[str, str] = field(default_factory=dict)
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)


def _instructions(text: str) -> Iterator[tuple[str, str]]:
    joined = re.sub(r"\\\n", " ", text)
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            yield keyword.upper(), rest.strip()


def _owned_by_run(command: str, owned: list[tuple[str, PurePosixPath]]) -> None:
    """Directories a RUN gives to a user: ``install -d -o U ... DIR``, ``chown U[:G] DIR``, and the
    home of ``useradd --create-home U``."""
    for part in re.split(r"&&|;", command):
        words = shlex.split(part)
        if not words:
            continue
        if words[0] == "install" and "-d" in words and "-o" in words:
            user = words[words.index("-o") + 1]
            owned += [(user, PurePosixPath(w)) for w in words if w.startswith("/")]
        elif words[0] == "chown":
            args = [w for w in words[1:] if not w.startswith("-")]
            user = args[0].split(":")[0]
            owned += [(user, PurePosixPath(w)) for w in args[1:]]
        elif words[0] == "useradd" and ("--create-home" in words or "-m" in words):
            owned.append((words[-1], PurePosixPath("/home") / words[-1]))


def parse_dockerfile(path: Path = DOCKERFILE) -> Dockerfile:
    parsed = Dockerfile()
    owned: list[tuple[str, PurePosixPath]] = []
    for keyword, rest in _instructions(path.read_text(encoding="utf-8")):
        if keyword == "RUN":
            _owned_by_run(rest, owned)
        elif keyword == "USER":
            parsed.user = rest.split(":")[0]
        elif keyword == "ENV":
            parsed.env.update(dict(pair.split("=", 1) for pair in shlex.split(rest)))
        elif keyword in ("ENTRYPOINT", "CMD"):
            setattr(parsed, keyword.lower(), yaml.safe_load(rest))
    parsed.owned = [directory for user, directory in owned if user == parsed.user]
    return parsed


def ours(service: Mapping[str, Any]) -> bool:
    """A service running this repository's image (the Dockerfile)."""
    return "build" in service or str(service.get("image", "")).startswith("jobo-indexer:")


def our_services(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in doc["services"].items() if ours(svc)}


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):  # the list form: ["KEY=value", ...]
        raw = dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {key: str(interpolate(value)) for key, value in raw.items()}


# --------------------------------------------------------------------------- the CLI


def cli() -> click.Command:
    """The CLI exactly as installed: the ``jobo-indexer`` console script."""
    (script,) = entry_points(group="console_scripts", name="jobo-indexer")
    return script.load()


def all_commands(root: click.Command) -> Iterator[click.Command]:
    yield root
    if isinstance(root, click.Group):
        for name in root.list_commands(click.Context(root)):
            sub = root.get_command(click.Context(root), name)
            if sub is not None:
                yield from all_commands(sub)


def declared_envvars(commands: Iterator[click.Command]) -> set[str]:
    names: set[str] = set()
    for command in commands:
        for param in command.params:
            envvar = getattr(param, "envvar", None)
            names.update([envvar] if isinstance(envvar, str) else envvar or [])
    return names


def _unparsed(ctx: click.Context) -> list[str]:
    head = vars(ctx).get("_protected_args", vars(ctx).get("protected_args", []))
    return [*head, *ctx.args]


@dataclass
class Invocation:
    chain: list[click.Command]  # the root group, any sub-groups, the command
    context: click.Context

    @property
    def command(self) -> click.Command:
        return self.chain[-1]

    def reads_opensearch(self) -> bool:
        return any(p.name == "opensearch_url" for p in self.command.params)


def parse_invocation(root: click.Command, args: list[str]) -> Invocation:
    """Parse ``args`` as the container's entrypoint would get them, without running anything:
    click's own parser and type conversions, group by group (raises click's UsageError)."""
    ctx = root.make_context("jobo-indexer", list(args))
    chain = [root]
    while isinstance(chain[-1], click.Group):
        rest = _unparsed(ctx)
        if not rest:
            raise click.UsageError("no command given", ctx=ctx)
        name, sub, rest = chain[-1].resolve_command(ctx, rest)
        assert sub is not None
        assert name is not None
        ctx = sub.make_context(name, rest, parent=ctx)
        chain.append(sub)
    if ctx.args:
        raise click.UsageError(f"unexpected arguments {ctx.args}", ctx=ctx)
    return Invocation(chain, ctx)


def service_args(service: Mapping[str, Any], image: Dockerfile) -> list[str]:
    command = service.get("command", image.cmd)
    args = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    assert image.entrypoint == ["jobo-indexer"], "the image's entrypoint is the CLI"
    return [str(interpolate(a)) for a in args]


def invocations(
    doc: Mapping[str, Any], image: Dockerfile, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Invocation | click.UsageError]:
    """Each of our services' command parsed with that service's environment."""
    parsed: dict[str, Invocation | click.UsageError] = {}
    for name, service in our_services(doc).items():
        with monkeypatch.context() as patch:
            for key, value in (image.env | environment(service)).items():
                patch.setenv(key, value)
            try:
                parsed[name] = parse_invocation(cli(), service_args(service, image))
            except click.UsageError as error:
                parsed[name] = error
    return parsed


# --------------------------------------------------------------------------- the checks


def command_problems(parsed: Mapping[str, Invocation | click.UsageError]) -> list[str]:
    return [
        f"service {name}: its command is not a valid CLI invocation: {result.format_message()}"
        for name, result in parsed.items()
        if isinstance(result, click.UsageError)
    ]


def env_problems(
    doc: Mapping[str, Any], image: Dockerfile, parsed: Mapping[str, Invocation | click.UsageError]
) -> list[str]:
    """Every variable a service sets is one its command reads; every variable the image sets is
    read by some command."""
    root = cli()
    problems = [
        f"Dockerfile: ENV {name} is read by no command of the CLI"
        for name in sorted(set(image.env) - declared_envvars(all_commands(root)))
        if name not in PYTHON_RUNTIME_ENV
    ]
    for name, service in our_services(doc).items():
        invocation = parsed.get(name)
        if not isinstance(invocation, Invocation):
            continue
        known = declared_envvars(iter(invocation.chain))
        problems += [
            f"service {name}: {var} is not read by `{invocation.command.name}` (it reads "
            f"{', '.join(sorted(known)) or 'none'})"
            for var in sorted(set(environment(service)) - known)
        ]
    return problems


def depends_on(service: Mapping[str, Any]) -> dict[str, str]:
    raw = service.get("depends_on") or {}
    if isinstance(raw, list):
        return dict.fromkeys(raw, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in raw.items()}


def _waits_for(doc: Mapping[str, Any], start: str, target: str, condition: str) -> bool:
    """Does ``start`` wait, directly or through the services it waits for, for ``target``?"""
    seen, todo = set(), [start]
    while todo:
        current = todo.pop()
        for name, cond in depends_on(doc["services"][current]).items():
            if name == target and cond == condition:
                return True
            if name not in seen:
                seen.add(name)
                todo.append(name)
    return False


def ordering_problems(
    doc: Mapping[str, Any], parsed: Mapping[str, Invocation | click.UsageError]
) -> list[str]:
    """Whatever reads or writes the index waits for `init` to complete; `init` waits for a
    healthy OpenSearch and runs once."""
    inits = [n for n, inv in parsed.items() if isinstance(inv, Invocation) and _is_init(inv)]
    if not inits:
        return ["no service runs `init`: on a fresh stack nothing initialises the index"]
    problems: list[str] = []
    for name in inits:
        service = doc["services"][name]
        if "service_healthy" not in depends_on(service).values():
            problems.append(f"service {name}: `init` does not wait for a healthy OpenSearch")
        if service.get("restart", ONE_SHOT) != ONE_SHOT:
            problems.append(f"service {name}: a one-shot `init` must not restart")
    for name, invocation in parsed.items():
        if not isinstance(invocation, Invocation) or name in inits:
            continue
        if invocation.reads_opensearch() and not any(
            _waits_for(doc, name, init, "service_completed_successfully") for init in inits
        ):
            problems.append(
                f"service {name} runs `{invocation.command.name}` on the index without waiting "
                "for `init` (depends_on: condition: service_completed_successfully)"
            )
    return problems


def _is_init(invocation: Invocation) -> bool:
    parent = invocation.chain[-2] if len(invocation.chain) > 1 else None
    return isinstance(parent, click.Group) and invocation.command is parent.commands.get("init")


def mount_target(volume: Any) -> tuple[str, str]:
    """(source, target) of a volume in the short ``src:dst[:mode]`` or the long form."""
    if isinstance(volume, Mapping):
        return str(volume.get("source", "")), str(volume["target"])
    parts = str(volume).split(":")
    return (parts[0], parts[1]) if len(parts) > 1 else ("", parts[0])


def _writable(path: str, image: Dockerfile) -> bool:
    target = PurePosixPath(path)
    return any(target == d or d in target.parents for d in image.owned)


def volume_problems(doc: Mapping[str, Any], image: Dockerfile) -> list[str]:
    """Every volume of our services is mounted where the image's user can write (a Docker-made
    mount point is root's), and the work directory lies on such a mount or directory."""
    problems: list[str] = []
    if image.user in (None, "root", "0"):
        problems.append("Dockerfile: the image runs as root (give it a USER)")
    for name, service in our_services(doc).items():
        for volume in service.get("volumes", []):
            source, target = mount_target(volume)
            if not _writable(target, image):
                problems.append(
                    f"service {name}: volume {source or '(anonymous)'} is mounted at {target}, "
                    f"which the image does not create for its user {image.user}"
                )
        work_dir = (image.env | environment(service)).get("JOBO_INDEXER_WORK_DIR")
        if work_dir and not _writable(work_dir, image):
            problems.append(
                f"service {name}: JOBO_INDEXER_WORK_DIR={work_dir} is not writable by {image.user}"
            )
    return problems


def version_problems(doc: Mapping[str, Any], version: str) -> list[str]:
    """OpenSearch and Dashboards images carry the version the test suite runs by default."""
    problems: list[str] = []
    found = set()
    for name, service in doc["services"].items():
        repository, _, tag = str(interpolate(service.get("image", ""))).partition(":")
        if repository in IMAGE_REPOSITORIES:
            found.add(repository)
            if tag != version:
                problems.append(f"service {name}: {repository}:{tag} is not the tested {version}")
    problems += [f"no service runs {repo}" for repo in IMAGE_REPOSITORIES if repo not in found]
    return problems
