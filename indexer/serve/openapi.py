"""The service's OpenAPI 3.1 document, made from the one definition of the search parameters
(:data:`indexer.search.params.SEARCH_PARAMS`), so the document cannot drift from what is parsed."""

from __future__ import annotations

from typing import Any

from indexer import __version__
from indexer.search.params import MAX_TEXT_CHARS, SEARCH_PARAMS, SearchParam

_ERROR = {"$ref": "#/components/schemas/Error"}


def _schema(param: SearchParam) -> dict[str, Any]:
    if param.kind == "values":
        return {"type": "array", "items": {"type": "string"}, "maxItems": 20}
    if param.kind == "int":
        return {"type": "integer", "minimum": param.minimum, "maximum": param.maximum}
    if param.kind == "choice":
        return {"type": "string", "enum": list(param.choices)}
    if param.kind in ("yes_no", "flag"):
        return {"type": "string", "enum": ["yes", "no", "true", "false", "1", "0"]}
    if param.kind == "point":
        return {
            "type": "string",
            "pattern": r"^-?\d+(\.\d+)?,-?\d+(\.\d+)?$",
            "example": "52.52,13.40",
        }
    if param.kind == "text":
        return {"type": "string", "maxLength": MAX_TEXT_CHARS}
    return {"type": "string"}


def _parameter(param: SearchParam) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": param.name,
        "in": "query",
        "description": param.help,
        "schema": _schema(param),
    }
    if param.kind == "values":
        entry |= {"style": "form", "explode": True}
    return entry


def _answers(ok: str, *errors: int) -> dict[str, Any]:
    out: dict[str, Any] = {"200": {"description": ok, "content": {"application/json": {}}}}
    for status in errors:
        out[str(status)] = {
            "description": {
                400: "bad input: the error names the parameter and the fix",
                404: "no active job of that id",
                503: "OpenSearch does not answer, or the index does not exist",
                504: "OpenSearch did not answer in time",
            }[status],
            "content": {"application/json": {"schema": _ERROR}},
        }
    return out


def openapi_document() -> dict[str, Any]:
    search_params = [_parameter(param) for param in SEARCH_PARAMS]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "jobo-indexer search service",
            "version": __version__,
            "description": "Read-only search over the active jobs of the index: the same "
            "searches as `jobo-indexer search`.",
        },
        "paths": {
            "/api/search": {
                "get": {
                    "summary": "One page of jobs, facet counts and the next page's token",
                    "parameters": search_params,
                    "responses": _answers(
                        "{total, postings, did_you_mean, hits: [{id, title, company, locations, "
                        "salary, ...}], facets: {name: [{value, count}]}, next_after, near}",
                        400,
                        503,
                        504,
                    ),
                }
            },
            "/api/facets": {
                "get": {
                    "summary": "The facet counts and total of a search, without hits",
                    "parameters": [p for p in search_params if p["name"] not in ("size", "after")],
                    "responses": _answers("{total, postings, facets, near}", 400, 503, 504),
                }
            },
            "/api/jobs/{id}": {
                "get": {
                    "summary": "One active job with its description",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": _answers("the job", 404, 503, 504),
                }
            },
            "/api/suggest": {
                "get": {
                    "summary": "Titles and company names that start with q",
                    "parameters": [
                        {
                            "name": "q",
                            "in": "query",
                            "required": True,
                            "schema": _schema(SEARCH_PARAMS[0]),
                        },
                        {
                            "name": "size",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 20},
                        },
                    ],
                    "responses": _answers("{q, suggestions: [{text, kind, count}]}", 400, 503),
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Whether OpenSearch answers and the index exists",
                    "responses": _answers("{status, opensearch: {answers, version}}", 503),
                }
            },
        },
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {
                                "status": {"type": "integer"},
                                "parameter": {"type": ["string", "null"]},
                                "message": {"type": "string"},
                            },
                        }
                    },
                }
            }
        },
    }
