"""The API's published contract: the OpenAPI document lists exactly the routes the app
serves, its schemas are valid JSON Schema, and every malformed body is a 400 that names the
field (never a 500, never the value sent back)."""
from __future__ import annotations

import io
import re

import pytest
from jsonschema import Draft202012Validator

from research_repo.api import schema
from research_repo.models import Role

from .helpers import csrf_token, settle

METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


def test_the_document_lists_exactly_the_api_routes(app, client, signed_in):
    signed_in("rita", Role.RESEARCHER)
    served = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            served.setdefault(_openapi_path(rule.rule), set()).update(m for m in rule.methods if m in METHODS)
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    documented = {path: {m.upper() for m in ops} for path, ops in doc["paths"].items()}
    assert documented == served
    for path, ops in doc["paths"].items():
        for op in ops.values():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path)), path


def test_every_schema_is_valid_json_schema_and_every_reference_resolves():
    for name, body in schema.SCHEMAS.items():
        Draft202012Validator.check_schema(body)
    refs = re.findall(r"#/components/schemas/(\w+)", str(schema.document()["paths"]))
    assert refs and set(refs) <= set(schema.SCHEMAS)


@pytest.fixture
def api(app, client, signed_in, make_study, db):
    rita = signed_in("rita", Role.RESEARCHER)
    study = make_study("Contract", rita)
    page = client.get(f"/studies/{study.id}/upload")
    client.post(f"/studies/{study.id}/upload", data={
        "csrf_token": csrf_token(page.get_data(as_text=True)), "kind": "interview",
        "files": [(io.BytesIO(b"Moderator: Hello.\nP1: The interim payment was late again.\n"), "i.txt")]},
        content_type="multipart/form-data")
    settle(app)
    page = client.get("/account/tokens")
    created = client.post("/account/tokens", data={"csrf_token": csrf_token(page.get_data(as_text=True)),
                                                   "name": "contract"}).get_data(as_text=True)
    token = created.split('id="new-token">')[1].split("<")[0].strip()
    bearer = {"Authorization": f"Bearer {token}"}
    passage = app.test_client().get(f"/api/v1/studies/{study.id}/sources", headers=bearer).get_json()
    source_id = passage["sources"][0]["id"]
    passage_id = app.test_client().get(f"/api/v1/sources/{source_id}/passages", headers=bearer).get_json()[
        "passages"][-1]["id"]
    return app.test_client(), bearer, study.id, passage_id


WRONG = ["a planted value 123-45-6789", 7, 1.5, True, None, [], {}, ["x"], [{"id": "x"}], {"x": 1}]


def _bodies(name: str, valid: dict):
    """Every property of the schema (and of its items) given each wrong kind of value."""
    props = schema.SCHEMAS[name]["properties"]
    for key in props:
        for value in WRONG:
            yield key, {**valid, key: value}
    yield "evidence.highlights[0]", {**valid, "evidence": {"highlights": ["abc"]}}
    yield "tags[0].id", {**valid, "tags": [{"id": "x"}]}
    yield "drivers[0].driver", {**valid, "drivers": [{"driver": "nope", "polarity": "positive"}]}
    yield "unknown", {**valid, "a planted name Maria Alvarez": 1}
    yield "the body", ["not", "an", "object"]


def test_malformed_bodies_are_400s_that_name_the_field(api):
    client, bearer, study_id, passage_id = api
    cases = {
        "TagCreate": (f"/api/v1/studies/{study_id}/tags", {"name": "Interim pay"}),
        "HighlightCreate": (f"/api/v1/studies/{study_id}/highlights",
                            {"passage_id": passage_id, "quote": "interim payment", "memo": "Second call."}),
        "InsightCreate": (f"/api/v1/studies/{study_id}/insights",
                          {"statement": "Interim payments arrive late for new annuitants."}),
    }
    tried = unexpected = 0
    for name, (url, valid) in cases.items():
        for _field, body in _bodies(name, valid):
            response = client.post(url, headers=bearer, json=body)
            tried += 1
            text = response.get_data(as_text=True)
            refused = response.status_code >= 400
            message = (response.get_json() or {}).get("error", {}).get("message", "") if refused else ""
            # Accepted (a wrong kind that is also a valid one, like null) or refused with a
            # message; the planted values are never answered back (a stored memo is de-identified).
            if response.status_code >= 500 or (refused and not message) or "6789" in text or "Maria" in text:
                unexpected += 1
                print(name, body, response.status_code, text[:300])
    assert tried > 100 and unexpected == 0
    # The example from the issue: a list of ids holding text.
    response = client.post(cases["InsightCreate"][0], headers=bearer,
                           json={"statement": "Interim payments arrive late.", "evidence": {"highlights": ["abc"]}})
    assert response.status_code == 400
    assert response.get_json()["error"]["message"] == "“evidence.highlights[0]” must be a whole number."
    response = client.post(cases["TagCreate"][0], headers=bearer, json={"description": "no name"})
    assert response.status_code == 400 and response.get_json()["error"]["message"] == "“name” is required."
    # A valid body still works (a tag name and a quote not used above).
    for name, (url, valid) in cases.items():
        body = {"TagCreate": {"name": "Letters"}, "HighlightCreate": {**valid, "quote": "late again"}}.get(name, valid)
        answer = client.post(url, headers=bearer, json=body)
        assert answer.status_code == 201, (name, answer.get_data(as_text=True))
