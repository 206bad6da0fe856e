"""The options of a job search as click options, made from the one definition of them.

:data:`indexer.search.params.SEARCH_PARAMS` names every option of a search, its help and how its
text becomes a :class:`~indexer.search.SearchQuery` field; the HTTP service reads the same
definition as query parameters. Here they become click options:

* :func:`search_filter_options`: the filters (what a job must be), for every command that takes
  or saves a search; its filter options arrive as one keyword argument, ``filters`` (a dict of
  ``SearchQuery`` fields), instead of one argument per option;
* :func:`search_page_options`: the rest (sort, size, token, facets, duplicates), for ``search``.

A refused value is a click ``BadParameter`` naming the option (exit 2).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from indexer.search.params import (
    FILTER_PARAMS,
    PARAMS_BY_NAME,
    SEARCH_PARAMS,
    ParamError,
    SearchParam,
    cli_name,
    filters_from_values,
)

F = TypeVar("F", bound=Callable[..., Any])
PAGE_PARAMS: tuple[str, ...] = tuple(
    p.name for p in SEARCH_PARAMS if p.name not in FILTER_PARAMS and p.name != "q"
)


def _metavar(param: SearchParam) -> str:
    if param.choices:
        return "[" + "|".join(param.choices) + "]"
    return {"point": "LAT,LON", "int": "INTEGER", "yes_no": "[yes|no]"}.get(param.kind, "TEXT")


def _options(names: Sequence[str], defaults: dict[str, str]) -> Callable[[F], F]:
    """click options for ``names`` (each receives its text, or a tuple of them, unparsed)."""

    def apply(func: F) -> F:
        for name in reversed(names):
            param = PARAMS_BY_NAME[name]
            attrs: dict[str, Any] = {"help": param.help}
            if param.kind == "flag":
                attrs["is_flag"] = True
            else:
                attrs.update(multiple=param.kind == "values", metavar=_metavar(param))
            if name in defaults:
                attrs["help"] += f"  [default: {defaults[name]}]"
            func = click.option(cli_name(name), name, **attrs)(func)
        return func

    return apply


def raw_values(given: dict[str, Any]) -> dict[str, list[str]]:
    """click's values as the texts the parser reads (as a URL would carry them)."""
    raw: dict[str, list[str]] = {}
    for name, value in given.items():
        if isinstance(value, tuple | list):
            raw[name] = [str(v) for v in value]
        elif isinstance(value, bool):
            raw[name] = ["yes"] if value else []
        else:
            raw[name] = [] if value is None else [str(value)]
    return raw


def bad_parameter(error: ParamError) -> click.BadParameter:
    return click.BadParameter(str(error), param_hint=cli_name(error.param or ""))


def search_filter_options(func: F) -> F:
    """Add the filter options to a click command; it receives them as ``filters=dict``."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        given = {name: kwargs.pop(name) for name in FILTER_PARAMS}
        return func(*args, filters=filters_from(**given), **kwargs)

    return _options(FILTER_PARAMS, {})(wrapper)  # type: ignore[return-value]


def search_page_options(defaults: dict[str, str]) -> Callable[[F], F]:
    """The sort, page and facet options; each arrives unparsed under its parameter name."""
    return _options(PAGE_PARAMS, defaults)


def filters_from(**given: Any) -> dict[str, Any]:
    """The filter option values (by parameter name) as ``SearchQuery`` keyword arguments."""
    try:
        return filters_from_values(raw_values(given), spell=cli_name)
    except ParamError as error:
        raise bad_parameter(error) from None
