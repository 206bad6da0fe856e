"""Help that teaches: own options first, shared ones grouped after, env vars shown, an example in
every command, and a group help that starts without importing the heavy libraries."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from indexer.cli import COMMANDS, main
from indexer.cli.help import SECTIONS, section_of


def all_commands() -> list[tuple[str, click.Command]]:
    found = []
    ctx = click.Context(main)
    for name in main.list_commands(ctx):
        command = main.get_command(ctx, name)
        assert command is not None, name
        found.append((name, command))
        if isinstance(command, click.Group):
            sub = click.Context(command, parent=ctx)
            found += [
                (f"{name} {n}", command.get_command(sub, n)) for n in command.list_commands(sub)
            ]
    return found


COMMAND_PATHS = [name for name, _ in all_commands()]


def help_of(path: str) -> str:
    result = CliRunner().invoke(main, [*path.split(), "--help"])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("path", COMMAND_PATHS)
def test_every_command_has_help_with_an_example(path: str) -> None:
    text = help_of(path)
    assert "\nExample:\n" in text
    example = text.split("\nExample:\n", 1)[1]
    assert f"jobo-indexer {path.split()[0]}" in example


@pytest.mark.parametrize("path", COMMAND_PATHS)
def test_own_options_come_first_and_shared_ones_are_grouped_after(path: str) -> None:
    text = help_of(path)
    command = dict(all_commands())[path]
    titles = [title for title, _ in SECTIONS if f"\n{title}:\n" in text]
    positions = [text.index(f"\n{title}:\n") for title in titles]
    if "\nOptions:\n" in text:
        assert all(text.index("\nOptions:\n") < p for p in positions)
    assert positions == sorted(positions)
    own = text.split("\nOptions:\n", 1)[1].split("\n\n", 1)[0] if "\nOptions:\n" in text else ""
    for param in command.params:
        if section_of(param) is not None and isinstance(param, click.Option):
            assert param.opts[0] not in own.split(), (path, param.opts[0])


@pytest.mark.parametrize("path", COMMAND_PATHS)
def test_every_option_with_an_env_var_shows_it(path: str) -> None:
    text = " ".join(help_of(path).split())
    command = dict(all_commands())[path]
    for param in command.params:
        if isinstance(param, click.Option) and param.envvar:
            assert f"env var: {param.envvar}" in text, (path, param.envvar)


def test_the_group_help_lists_every_command_untruncated() -> None:
    text = CliRunner().invoke(main, ["--help"]).output
    ctx = click.Context(main)
    for name, entry in COMMANDS.items():
        command = main.get_command(ctx, name)
        assert command is not None
        assert (command.help or "").startswith(entry.summary), name
        assert " ".join(entry.summary.split()) in " ".join(text.split())
    assert "..." not in text.split("Commands:", 1)[1]


def test_the_group_help_imports_neither_opensearch_nor_requests_nor_the_simulator() -> None:
    probe = (
        "import sys, json\n"
        "from indexer.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('opensearchpy', 'requests', 'urllib3', 'indexer.simulator', 'indexer.sync')\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in heavy\n"
        "                        or m.startswith(heavy))))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


@pytest.mark.parametrize(
    ("command", "absent"),
    [
        ("backfill", ["--max-expire-fraction", "--force", "--work-dir", "--overlap"]),
        ("expire", ["--max-expire-fraction", "--force", "--queue-mb", "--batch-size"]),
        ("run", ["--force", "--restart"]),
        ("sync", ["--restart"]),
    ],
)
def test_a_command_lists_only_options_that_apply_to_it(command: str, absent: list[str]) -> None:
    listed = [line.split()[0] for line in help_of(command).splitlines() if line.startswith("  --")]
    for option in absent:
        assert option not in listed, (command, option)
    assert "--create-index" in listed
