"""The errors of a search: each names the input and the fix; ``param`` names it as the HTTP
service's query parameter."""

from __future__ import annotations

from collections.abc import Sequence

from indexer.errors import UsageError


class SearchError(UsageError, ValueError):
    """A search cannot be built or run as asked; the message names the input and the fix.

    ``param`` names the refused input as the HTTP service's query parameter (``size``,
    ``after``...), when one input is to blame."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class UnknownCityError(SearchError):
    """``near_city`` names no city with coordinates in the index."""

    def __init__(self, message: str) -> None:
        super().__init__(message, param="near_city")


class AmbiguousCityError(SearchError):
    """``near_city`` names several places; the message lists them in a form that picks one."""

    def __init__(self, city: str, places: Sequence[tuple[str, str, int]]) -> None:
        self.places = list(places)
        listed = "; ".join(
            f'"{city}, {region or country}" ({country}, {count} locations)'
            for country, region, count in places
        )
        super().__init__(
            f"--near-city {city!r} names {len(places)} places: {listed}. Name the one you mean "
            f'(e.g. --near-city "{city}, {places[0][1] or places[0][0]}"), or narrow with '
            "--country",
            param="near_city",
        )


__all__ = ["AmbiguousCityError", "SearchError", "UnknownCityError"]
