"""Where the files that ship beside the code live (index mappings, data tables).

A wheel carries ``mappings/`` inside the package (``indexer/_data/mappings``); an editable install
or a checkout reads the top-level folder of the repository.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def _shipped(name: str) -> Path:
    packaged = PACKAGE_DIR / "_data" / name
    if packaged.is_dir():
        return packaged
    return PACKAGE_DIR.parent / name


def mappings_dir() -> Path:
    """The folder holding the index templates and mappings as JSON."""
    return _shipped("mappings")


def data_dir() -> Path:
    """Tables that ship inside the package (FX rates, cities)."""
    return PACKAGE_DIR / "data"
