"""The index layout as data: names derived from one base, and the mapping files of ``mappings/``.

For a base ``B`` (default ``jobs``):

* physical job indices ``B-v<N>-<YYYYMMDDHHMMSS>`` (N = the version of ``mappings/jobs.json``),
  created from the index template ``B-template`` (patterns ``B-v*``);
* aliases ``B`` (readers; filtered to ``status: active``), ``B-all`` (every document, expired too)
  and ``B-write`` (the one index writes go to, ``is_write_index: true``);
* plain indices ``B-indexer-state``, ``B-indexer-runs`` and ``B-dead-letters``;
* for alerts and the change stream (created when first used): ``B-saved-searches``,
  ``B-alert-matches`` and ``B-changes``.

Every mapping body carries ``_meta.version`` and ``_meta.digest`` (a hash of the file's settings and
mappings), so ``init`` can tell when the live index no longer matches ``mappings/``. Nothing here
talks to OpenSearch: :mod:`indexer.store.schema` applies the layout, :mod:`indexer.store.migrate`
evolves it.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from indexer.errors import ExitCode, SyncError
from indexer.resources import mappings_dir
from indexer.store.synonyms import SynonymsError, with_synonyms
from indexer.transform import STATUS_ACTIVE

JOBS_TEMPLATE_FILE = "jobs.json"
STATE_FILE = "indexer-state.json"
RUNS_FILE = "indexer-runs.json"
DEAD_LETTERS_FILE = "dead-letters.json"
CHANGES_FILE = "changes.json"
ALERT_MATCHES_FILE = "alert-matches.json"

_TIMESTAMP_FORMAT = "%Y%m%d%H%M%S"
_FORBIDDEN_BASE_CHARS = frozenset(' "*\\<|,>/?#:')


class SchemaError(SyncError):
    """The index layout cannot be created or changed as asked; the message says what to do."""

    exit_code = ExitCode.OPENSEARCH_FAILED


class NotInitialisedError(SchemaError):
    exit_code = ExitCode.USAGE


# --------------------------------------------------------------------------- names


@dataclass(frozen=True)
class IndexNames:
    """Every name derived from one base."""

    base: str
    read_alias: str
    all_alias: str
    write_alias: str
    template: str
    physical_pattern: str
    state: str
    runs: str
    dead_letters: str

    @property
    def saved_searches(self) -> str:
        """The alerts' saved searches (each one the search as asked)."""
        return f"{self.base}-saved-searches"

    @property
    def alert_matches(self) -> str:
        return f"{self.base}-alert-matches"

    @property
    def changes(self) -> str:
        """The change stream: what each run created, updated and expired."""
        return f"{self.base}-changes"

    @property
    def aliases(self) -> tuple[str, str, str]:
        return (self.read_alias, self.all_alias, self.write_alias)

    def physical(self, version: int, at: datetime) -> str:
        return f"{self.base}-v{version}-{at.astimezone(UTC).strftime(_TIMESTAMP_FORMAT)}"


def index_names(base: str = "jobs") -> IndexNames:
    """Names for ``base``; raises SchemaError when OpenSearch would refuse them."""
    if not base or base != base.lower() or base[0] in "-_+." or set(base) & _FORBIDDEN_BASE_CHARS:
        raise SchemaError(
            f"index base {base!r} is not a valid OpenSearch index name: use lower-case letters, "
            "digits, '-' or '_', not starting with '-', '_' or '+'",
            exit_code=ExitCode.USAGE,
        )
    return IndexNames(
        base=base,
        read_alias=base,
        all_alias=f"{base}-all",
        write_alias=f"{base}-write",
        template=f"{base}-template",
        physical_pattern=f"{base}-v*",
        state=f"{base}-indexer-state",
        runs=f"{base}-indexer-runs",
        dead_letters=f"{base}-dead-letters",
    )


def read_alias_filter() -> dict[str, Any]:
    return {"term": {"status": STATUS_ACTIVE}}


# --------------------------------------------------------------------------- mapping files


def _digest(body: Mapping[str, Any]) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class MappingFile:
    """One JSON file of ``mappings/``: settings + mappings, its version and content digest."""

    name: str
    version: int
    settings: dict[str, Any]
    mappings: dict[str, Any]
    digest: str

    def index_body(self) -> dict[str, Any]:
        """Body of a create-index call, with ``_meta.version`` and ``_meta.digest`` set."""
        mappings = copy.deepcopy(self.mappings)
        meta = mappings.setdefault("_meta", {})
        meta["version"] = self.version
        meta["digest"] = self.digest
        return {"settings": copy.deepcopy(self.settings), "mappings": mappings}


def _read_json(name: str) -> dict[str, Any]:
    path = mappings_dir() / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise SchemaError(f"cannot read mapping file {path}: {error}") from error


def load_jobs_mapping() -> MappingFile:
    """``mappings/jobs.json`` (an index template body without ``index_patterns``)."""
    raw = _read_json(JOBS_TEMPLATE_FILE)
    template = raw.get("template", {})
    version = int(raw.get("version") or template.get("mappings", {}).get("_meta", {})["version"])
    settings, mappings = template.get("settings", {}), template.get("mappings", {})
    try:
        settings = with_synonyms(settings)
    except SynonymsError as error:
        raise SchemaError(str(error), exit_code=ExitCode.USAGE) from error
    digest = _digest({"settings": settings, "mappings": mappings})
    return MappingFile(JOBS_TEMPLATE_FILE, version, settings, mappings, digest)


def load_plain_mapping(name: str) -> MappingFile:
    """One of the state / runs / dead-letter files (a create-index body)."""
    raw = _read_json(name)
    settings, mappings = raw.get("settings", {}), raw.get("mappings", {})
    try:
        version = int(mappings["_meta"]["version"])
    except (KeyError, TypeError, ValueError) as error:
        raise SchemaError(f"mappings/{name} needs mappings._meta.version") from error
    return MappingFile(name, version, settings, mappings, _digest(raw))


@dataclass(frozen=True)
class ShardLayout:
    """Shards and replicas chosen at ``init`` (``None``: what mappings/ says, 1 and 0).

    A deployment choice, not part of the schema: it is left out of the mapping digest, so a
    cluster's layout never reads as drift. Bookkeeping indices take the replicas, never shards.
    """

    shards: int | None = None
    replicas: int | None = None

    def apply(self, body: dict[str, Any], *, shards: bool = True) -> dict[str, Any]:
        """``body`` (a create-index body) with these shards (unless not ``shards``) and replicas."""
        settings = body.setdefault("settings", {}).setdefault("index", {})
        if shards and self.shards is not None:
            settings["number_of_shards"] = self.shards
        if self.replicas is not None:
            settings["number_of_replicas"] = self.replicas
        return body


def template_body(
    names: IndexNames, jobs: MappingFile, layout: ShardLayout | None = None
) -> dict[str, Any]:
    raw = _read_json(JOBS_TEMPLATE_FILE)
    return {
        "index_patterns": [names.physical_pattern],
        "priority": raw.get("priority", 200),
        "version": jobs.version,
        "_meta": {**raw.get("_meta", {}), "digest": jobs.digest, "base": names.base},
        "template": (layout or ShardLayout()).apply(jobs.index_body()),
    }
