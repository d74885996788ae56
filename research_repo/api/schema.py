"""The API's contract: one OpenAPI 3.1 document (served at /api/v1/openapi.json) whose
request-body schemas are what every JSON body is checked against before a route reads it.

Bodies are validated with jsonschema (OpenAPI 3.1 schemas are JSON Schema 2020-12), so a
malformed value is a 400 naming the field and what it must be, never a 500. Messages name
fields and the expected shape, never the value sent (it could be a respondent's words).
Shape only: lengths, names and identifiers are the services' own checks, as for the pages.
The tests check this document against the app's routes in both directions.
"""
from __future__ import annotations

from functools import lru_cache

from flask import request
from jsonschema import Draft202012Validator

from ..models import A11Driver
from ..services.errors import ValidationError

IDS = {"type": "array", "items": {"type": "integer"}, "maxItems": 5000}
POLARITY = {"enum": ["positive", "negative", None]}
DRIVERS = [d.value for d in A11Driver]

SCHEMAS: dict[str, dict] = {
    "TagCreate": {
        "type": "object", "additionalProperties": False, "required": ["name"],
        "properties": {
            "name": {"type": "string"},
            "parent_id": {"type": ["integer", "null"]},
            "description": {"type": ["string", "null"]},
            "color": {"type": ["string", "null"], "description": "# and six hexadecimal digits"},
        },
    },
    "HighlightCreate": {
        "type": "object", "additionalProperties": False, "required": ["passage_id", "quote"],
        "properties": {
            "passage_id": {"type": "integer"},
            "quote": {"type": "string", "description": "the words to highlight, as they are in the passage"},
            "start": {"type": ["integer", "null"], "minimum": 0},
            "end": {"type": ["integer", "null"], "minimum": 0},
            "memo": {"type": ["string", "null"]},
            "tags": {"type": "array", "maxItems": 200, "items": {
                "type": "object", "additionalProperties": False, "required": ["id"],
                "properties": {"id": {"type": "integer"}, "polarity": POLARITY}}},
        },
    },
    "InsightCreate": {
        "type": "object", "additionalProperties": False, "required": ["statement"],
        "properties": {
            "statement": {"type": "string"},
            "service": {"type": ["string", "null"]},
            "journey_stage": {"type": ["string", "null"]},
            "segment": {"type": ["string", "null"]},
            "drivers": {"type": "array", "maxItems": 8, "items": {
                "type": "object", "additionalProperties": False, "required": ["driver", "polarity"],
                "properties": {"driver": {"enum": DRIVERS}, "polarity": {"enum": ["positive", "negative"]}}}},
            "questions": IDS,
            "evidence": {"type": "object", "additionalProperties": False,
                         "properties": {"highlights": IDS, "passages": IDS, "themes": IDS}},
        },
    },
}

_ID = {"type": "integer"}
_LIST = "a page of results"


def _op(summary: str, *, body: str | None = None, params: tuple[str, ...] = (), paged: bool = False,
        created: bool = False, query: tuple[str, ...] = ()) -> dict:
    op: dict = {"summary": summary, "responses": {
        "201" if created else "200": {"description": "created" if created else "OK"},
        "400": {"description": "the request is malformed; the message names the field"},
        "401": {"description": "not signed in (session cookie or Authorization: Bearer TOKEN)"},
        "404": {"description": "no such object, or not in a study you are a member of"},
    }}
    parameters = [{"name": p, "in": "path", "required": True, "schema": _ID} for p in params]
    if paged:
        parameters += [{"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                       {"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                                        "maximum": 200}}]
    parameters += [{"name": q, "in": "query", "schema": {"type": "string"}} for q in query]
    if parameters:
        op["parameters"] = parameters
    if body:
        op["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}}}
        op["responses"]["403"] = {"description": "your role in the study does not allow this"}
    return op


PATHS: dict[str, dict] = {
    "/api/v1/openapi.json": {"get": _op("This document")},
    "/api/v1/studies": {"get": _op("The studies you are a member of")},
    "/api/v1/studies/{study_id}": {"get": _op("One study", params=("study_id",))},
    "/api/v1/studies/{study_id}/sources": {"get": _op("A study's sources", params=("study_id",), paged=True)},
    "/api/v1/sources/{source_id}/passages": {"get": _op("A source's de-identified passages",
                                                        params=("source_id",))},
    "/api/v1/studies/{study_id}/tags": {
        "get": _op("A study's codebook", params=("study_id",)),
        "post": _op("Add a tag", params=("study_id",), body="TagCreate", created=True)},
    "/api/v1/studies/{study_id}/highlights": {
        "get": _op("A study's highlights", params=("study_id",), paged=True),
        "post": _op("Highlight words of a passage and code them", params=("study_id",), body="HighlightCreate",
                    created=True)},
    "/api/v1/studies/{study_id}/insights": {
        "get": _op("A study's insights", params=("study_id",)),
        "post": _op("Write an insight with its evidence", params=("study_id",), body="InsightCreate",
                    created=True)},
    "/api/v1/studies/{study_id}/insights/{insight_id}": {
        "get": _op("One insight with its quotes", params=("study_id", "insight_id"))},
    "/api/v1/questions": {"get": _op("The learning agenda with its evidence counts")},
    "/api/v1/searches": {"get": _op("Your saved searches")},
    "/api/v1/search": {"get": _op("Search the passages of the studies you can read", paged=True,
                                  query=("q", "study", "sort", "from", "to"))},
}


@lru_cache(maxsize=1)
def document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "research_repo API", "version": "1",
                 "description": "De-identified qualitative research evidence. Every route applies the same "
                                "study membership rules as the pages."},
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                "session": {"type": "apiKey", "in": "cookie", "name": "session"}},
        },
        "security": [{"bearer": []}, {"session": []}],
        "paths": PATHS,
    }


@lru_cache(maxsize=None)
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(SCHEMAS[name])


def _where(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the body"


def _kinds(expected) -> str:
    names = {"string": "text", "integer": "a whole number", "array": "a list", "object": "an object",
             "null": "null", "boolean": "true or false", "number": "a number"}
    expected = expected if isinstance(expected, list) else [expected]
    return " or ".join(names.get(e, e) for e in expected)


def _message(error) -> tuple[str, str]:
    where = _where(error.absolute_path)
    schema, kind = error.schema, error.validator
    if kind == "type":
        return where, f"“{where}” must be {_kinds(schema['type'])}."
    if kind == "required":
        missing = [k for k in error.validator_value if k not in (error.instance or {})]
        field = f"{where}.{missing[0]}" if where != "the body" else missing[0]
        return field, f"“{field}” is required."
    if kind == "additionalProperties":
        known = ", ".join(sorted(schema.get("properties", {})))
        return where, f"{'The body' if where == 'the body' else '“' + where + '”'} has a field this API does not " \
                      f"know; the fields are: {known}."
    if kind == "enum":
        allowed = ", ".join("null" if v is None else str(v) for v in schema["enum"])
        return where, f"“{where}” must be one of: {allowed}."
    if kind == "maxItems":
        return where, f"“{where}” can hold at most {schema['maxItems']} items."
    if kind == "minimum":
        return where, f"“{where}” must be at least {schema['minimum']}."
    return where, f"“{where}” is not valid here."


def body(name: str) -> dict:
    """The request's JSON object, checked against schema ``name``; a ValidationError (400)
    naming the first bad field otherwise."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValidationError("Send a JSON object with Content-Type: application/json.")
    errors = sorted(_validator(name).iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        field, message = _message(errors[0])
        raise ValidationError(message, field=field)
    return data
