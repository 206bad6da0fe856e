"""Click parameter types whose errors name the option, the accepted forms and the fix."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import click

from indexer.durations import ACCEPTED_FORMS, DurationError, format_duration, parse_duration


class Duration(click.ParamType):
    """A duration option (``1h30m``, ``1.5h``, ``90s``): the value is a ``timedelta``.

    ``minimum`` refuses shorter values with a message that says why the floor exists.
    """

    name = "duration"

    def __init__(self, minimum: timedelta | None = None, why: str = "") -> None:
        self.minimum = minimum
        self.why = why

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> timedelta:
        if isinstance(value, timedelta):
            duration = value
        else:
            try:
                duration = parse_duration(str(value))
            except DurationError as error:
                self.fail(str(error), param, ctx)
        if self.minimum is not None and duration < self.minimum:
            self.fail(
                f"{value!r} is shorter than the minimum {format_duration(self.minimum)}"
                + (f" ({self.why})" if self.why else ""),
                param,
                ctx,
            )
        return duration

    def get_metavar(self, param: click.Parameter, *args: Any, **kwargs: Any) -> str:
        return "DURATION"

    def __repr__(self) -> str:
        return f"Duration(forms={ACCEPTED_FORMS!r})"
