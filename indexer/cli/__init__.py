"""The command line: a thin shell over the library.

Each area registers its commands from its own module (``indexer.cli.<area>``); this module only
builds the group. Arrows point one way: CLI -> flows -> clients.
"""

from __future__ import annotations

import click

from indexer import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "auto_envvar_prefix": None})
@click.version_option(__version__, prog_name="jobo-indexer")
def main() -> None:
    """Keep an OpenSearch index of Jobo job postings exact and fresh."""


def _register() -> None:
    # Imported for their side effect of adding commands to ``main``.
    from indexer.cli import index, node, search, simulate, sync  # noqa: F401


_register()
