# SPDX-License-Identifier: Apache-2.0
"""docs/openapi.yaml describes kanald's HTTP interface truly: every row of the
route table (kanald --routes) is in the document with the same methods,
scope and query parameters, and the document has nothing the table lacks;
the document is a well-formed OpenAPI 3.1 document as far as
python3-jsonschema and a walk over it can tell (every schema a valid JSON
Schema, every reference resolves, every path parameter declared); the real
answers of a running kanald (feed, records, messages, contacts, sources,
sinks, health, errors) validate against their operation's schema; and
GET /v1/openapi.json serves the YAML."""
import json
import re
import subprocess
import time
import urllib.parse

import jsonschema
import pytest
import yaml

from fakes import FakeProvider
from kanal import (ADMIN_TOKEN, BUILD, KANALD, READ_TOKEN, ROOT, SCHEMA, WRITE_TOKEN, message,
                   wait_message, webhook_source)

YAML_PATH = ROOT / "docs" / "openapi.yaml"
RECORD_REF = "../sdk/schema/interaction-v1.json"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
SCOPES = ("none", "read", "write", "admin")


def load_yaml():
    with open(YAML_PATH, encoding="utf-8") as f:
        return yaml.safe_load(f)


def routes():
    out = subprocess.run([str(KANALD), "--routes"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def doc_path(pattern):
    """The document's path of a route pattern: a final '/...' (anything
    below) is the path item's x-kanal-pattern."""
    return pattern[:-4] if pattern.endswith("/...") else pattern


def operations(doc):
    for path, item in doc["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield path, method, item[method]


def query_params(item, op):
    return {p["name"] for p in item.get("parameters", []) + op.get("parameters", [])
            if p.get("in") == "query"}


# ---- the route table and the document agree ----

def test_every_route_is_in_the_document_and_nothing_else():
    doc = load_yaml()
    table = {}
    for r in routes():
        table.setdefault(doc_path(r["path"]), []).append(r)
    assert set(table) == set(doc["paths"]), (
        f"only in the route table: {sorted(set(table) - set(doc['paths']))}; "
        f"only in docs/openapi.yaml: {sorted(set(doc['paths']) - set(table))}")
    for path, rows in table.items():
        item = doc["paths"][path]
        documented = {m for m in HTTP_METHODS if m in item}
        served = {m.lower() for r in rows for m in r["methods"]}
        if "*" in served:
            # A plugin's webhooks take any method: the path item says so.
            assert item.get("x-kanal-any-method") is True, path
            assert item.get("x-kanal-pattern") == rows[0]["path"], path
            assert documented, path
        else:
            assert documented == served, f"{path}: document {documented}, table {served}"
            assert "x-kanal-any-method" not in item, path
        for r in rows:
            for m in (documented if "*" in r["methods"] else [m.lower() for m in r["methods"]]):
                op = item[m]
                where = f"{m.upper()} {path}"
                assert op.get("x-kanal-scope") == r["scope"], where
                want = [] if r["scope"] == "none" else [{"bearer": [r["scope"]]}]
                assert op.get("security") == want, where
                if r["query"] != "*":
                    assert query_params(item, op) == set(r["query"]), where


def test_scopes_and_shared_answers_are_documented():
    """Every operation outside the webhooks lists the answers the router
    gives it: 400 for its query, 401 under /v1/, 403 above read."""
    doc = load_yaml()
    for path, method, op in operations(doc):
        if method == "head" or path.startswith(("/hooks/", "/t/", "/u/")):
            continue
        where = f"{method.upper()} {path}"
        codes = set(op["responses"])
        assert "400" in codes, where
        if path.startswith("/v1/"):
            assert "401" in codes, where
        if op["x-kanal-scope"] in ("write", "admin"):
            assert "403" in codes, where


# ---- the document is well-formed ----

def resolve(doc, ref):
    assert ref.startswith("#/"), ref
    node = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


def walk(node, trail=""):
    if isinstance(node, dict):
        yield trail, node
        for k, v in node.items():
            yield from walk(v, f"{trail}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{trail}/{i}")


def schemas_of(doc):
    """(where, schema) for every schema the document holds: the components'
    schemas and every parameter's, header's and body's "schema"."""
    for name, s in doc["components"]["schemas"].items():
        yield f"components/schemas/{name}", s
    for part in (doc["paths"], doc["components"]["parameters"], doc["components"]["responses"]):
        for where, node in walk(part):
            if isinstance(node.get("schema"), dict):
                yield f"{where}/schema", node["schema"]


def test_the_document_is_openapi_31():
    doc = load_yaml()
    assert re.fullmatch(r"3\.1\.\d+", doc["openapi"])
    assert doc["info"]["title"] and doc["info"]["version"]
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {**schemes["bearer"], "type": "http", "scheme": "bearer"}
    seen_ids = set()
    for path, method, op in operations(doc):
        where = f"{method.upper()} {path}"
        assert path.startswith("/"), where
        assert op["operationId"] not in seen_ids, where
        seen_ids.add(op["operationId"])
        assert op["x-kanal-scope"] in SCOPES, where
        for req in op.get("security", []):
            for name, scopes in req.items():
                assert name in schemes and set(scopes) <= set(SCOPES[1:]), where
        assert op["responses"], where
        for code, resp in op["responses"].items():
            assert re.fullmatch(r"[1-5][0-9][0-9]|default", code), where
            resp = resolve(doc, resp["$ref"]) if "$ref" in resp else resp
            assert resp.get("description"), f"{where} {code}"
        # Every {name} of the path is a required path parameter.
        item = doc["paths"][path]
        params = [resolve(doc, p["$ref"]) if "$ref" in p else p
                  for p in item.get("parameters", []) + op.get("parameters", [])]
        declared = {p["name"] for p in params if p["in"] == "path" and p.get("required")}
        assert declared == set(re.findall(r"\{([a-z_]+)\}", path)), where
        for p in params:
            assert p["in"] in ("query", "path", "header", "cookie") and "schema" in p, where
    # Every reference reaches something: inside the document, or a file of
    # the repository (the record's schema).
    for where, node in walk(doc):
        ref = node.get("$ref")
        if not isinstance(ref, str):
            continue
        if ref.startswith("#/"):
            resolve(doc, ref)
        else:
            assert ref == RECORD_REF and (YAML_PATH.parent / ref).is_file(), where
    # Every schema is a valid JSON Schema (2020-12, the 3.1 dialect).
    n = 0
    for where, s in schemas_of(doc):
        try:
            jsonschema.Draft202012Validator.check_schema(s)
        except jsonschema.SchemaError as e:
            pytest.fail(f"{where}: {e.message}")
        n += 1
    assert n > 40, n  # the walk found the schemas (not vacuous)


def strict(props, required=()):
    """An object of these fields and x- extensions only, so that a misspelt
    field ("respones") is an error rather than ignored."""
    return {"type": "object", "properties": props, "required": list(required),
            "patternProperties": {"^x-": {}}, "additionalProperties": False}


REF = strict({"$ref": {"type": "string"}, "summary": {"type": "string"},
              "description": {"type": "string"}}, ["$ref"])
TEXT = {"type": "string"}
MAP = {"type": "object"}
# The part of OpenAPI 3.1's structure this document uses (spec section 4.8),
# each object closed.
OPENAPI_SHAPE = {
    "$defs": {
        "media": strict({"schema": MAP, "example": {}, "examples": MAP}),
        "content": {"type": "object", "minProperties": 1,
                    "additionalProperties": {"$ref": "#/$defs/media"}},
        "header": strict({"description": TEXT, "required": {"type": "boolean"}, "schema": MAP}),
        "parameter": {"oneOf": [REF, strict({
            "name": TEXT, "in": {"enum": ["query", "header", "path", "cookie"]},
            "description": TEXT, "required": {"type": "boolean"},
            "deprecated": {"type": "boolean"}, "schema": MAP}, ["name", "in", "schema"])]},
        "response": {"oneOf": [REF, strict({
            "description": TEXT, "content": {"$ref": "#/$defs/content"},
            "headers": {"type": "object", "additionalProperties": {"$ref": "#/$defs/header"}}},
            ["description"])]},
        "requestBody": {"oneOf": [REF, strict({
            "description": TEXT, "required": {"type": "boolean"},
            "content": {"$ref": "#/$defs/content"}}, ["content"])]},
        "security": {"type": "array", "items": {
            "type": "object", "additionalProperties": {"type": "array", "items": TEXT}}},
        "operation": strict({
            "tags": {"type": "array", "items": TEXT}, "summary": TEXT, "description": TEXT,
            "operationId": TEXT, "parameters": {"type": "array",
                                                "items": {"$ref": "#/$defs/parameter"}},
            "requestBody": {"$ref": "#/$defs/requestBody"},
            "responses": {"type": "object", "minProperties": 1,
                          "propertyNames": {"pattern": "^([1-5][0-9X]{2}|default)$"},
                          "additionalProperties": {"$ref": "#/$defs/response"}},
            "security": {"$ref": "#/$defs/security"}, "deprecated": {"type": "boolean"}},
            ["operationId", "responses"]),
        "pathItem": strict({
            "summary": TEXT, "description": TEXT,
            "parameters": {"type": "array", "items": {"$ref": "#/$defs/parameter"}},
            **{m: {"$ref": "#/$defs/operation"} for m in HTTP_METHODS}}),
    },
    **strict({
        "openapi": {"type": "string", "pattern": r"^3\.1\.[0-9]+$"},
        "jsonSchemaDialect": TEXT,
        "info": strict({"title": TEXT, "version": TEXT, "summary": TEXT, "description": TEXT},
                       ["title", "version"]),
        "servers": {"type": "array", "items": strict({"url": TEXT, "description": TEXT},
                                                       ["url"])},
        "tags": {"type": "array", "items": strict({"name": TEXT, "description": TEXT},
                                                    ["name"])},
        "security": {"$ref": "#/$defs/security"},
        "paths": {"type": "object", "propertyNames": {"pattern": "^/"},
                  "additionalProperties": {"$ref": "#/$defs/pathItem"}},
        "components": strict({
            "securitySchemes": {"type": "object", "additionalProperties": strict({
                "type": {"enum": ["apiKey", "http", "mutualTLS", "oauth2", "openIdConnect"]},
                "scheme": TEXT, "bearerFormat": TEXT, "description": TEXT}, ["type"])},
            "parameters": {"type": "object", "additionalProperties": {"$ref": "#/$defs/parameter"}},
            "responses": {"type": "object", "additionalProperties": {"$ref": "#/$defs/response"}},
            "schemas": {"type": "object", "additionalProperties": MAP}}),
    }, ["openapi", "info", "paths"]),
}


def test_the_document_has_openapi_31_structure():
    v = jsonschema.Draft202012Validator(OPENAPI_SHAPE)
    v.check_schema(OPENAPI_SHAPE)
    errors = sorted(v.iter_errors(load_yaml()), key=lambda e: list(e.absolute_path))
    assert not errors, "; ".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5])
    # A misspelt field is noticed.
    bad = load_yaml()
    bad["paths"]["/healthz"]["get"]["respones"] = bad["paths"]["/healthz"]["get"].pop("responses")
    assert not v.is_valid(bad)


def test_error_codes_are_the_manuals():
    """The Error schema's codes are the ones docs/architecture.md lists."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    start = text.index("**Errors** are JSON")
    listed = set(re.findall(r"`([a-z_]+)`", text[start:text.index("\n\n", start)]))
    codes = load_yaml()["components"]["schemas"]["Error"]["properties"]["error"]["properties"]
    assert set(codes["code"]["enum"]) == listed


def test_a_broken_schema_is_noticed():
    """The schema check above is not vacuous: a wrong type is refused."""
    with pytest.raises(jsonschema.SchemaError):
        jsonschema.Draft202012Validator.check_schema({"type": "strnig"})


# ---- real answers against the document ----

class Checker:
    """Validates answers against the served document's schemas."""

    def __init__(self, doc):
        self.doc = doc
        self.resolver = jsonschema.RefResolver("", doc, store={SCHEMA["$id"]: SCHEMA})
        self.checked = set()

    def schema(self, path, method, status):
        op = self.doc["paths"][path][method.lower()]
        resp = op["responses"].get(str(status))
        assert resp is not None, f"{method} {path} does not document {status}"
        return self.response_schema(resp)

    def response_schema(self, resp):
        if "$ref" in resp:
            resp = resolve(self.doc, resp["$ref"])
        return resp["content"]["application/json"]["schema"]

    def validate(self, schema, body, what):
        v = jsonschema.Draft202012Validator(schema, resolver=self.resolver)
        errors = sorted(v.iter_errors(body), key=lambda e: list(e.path))
        assert not errors, f"{what}: " + "; ".join(
            f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5])

    def answer(self, k, method, url, path, status, token=READ_TOKEN, body=None):
        """Ask kanald; check the status and the body against path's operation."""
        h = {"Authorization": f"Bearer {token}"} if token else {}
        data = None
        if body is not None:
            h["Content-Type"] = "application/json"
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        got, headers, raw = k.request(method, url, data, h)
        assert got == status, (method, url, got, raw)
        if isinstance(body, dict) and 200 <= status < 300:
            # What kanald took is what the document asks for.
            op = self.doc["paths"][path][method.lower()]
            self.validate(op["requestBody"]["content"]["application/json"]["schema"], body,
                          f"{method} {url} request")
        out = json.loads(raw)
        self.validate(self.schema(path, method, status), out, f"{method} {url} {status}")
        self.checked.add((path, method.lower(), status))
        return out, headers


@pytest.fixture
def served(make_kanald, tmp_path):
    """A kanald with a sending webhook source and a sink, and its document."""
    with FakeProvider([(200, {}, {"id": "prov-1"})]) as fake:
        sink = f"\n[sink archive]\nplugin = filesink\npath = {tmp_path / 'archive.jsonl'}\n"
        k = make_kanald(sources=webhook_source(extra=f"send_url = {fake.url}/send\n") + sink)
        k.link_plugin(BUILD / "sdk" / "filesink.so")
        k.start()
        status, doc = k.api("/v1/openapi.json")
        assert status == 200
        yield k, Checker(doc)


def test_openapi_json_is_the_yaml(served):
    k, c = served
    doc = load_yaml()
    got = c.doc
    # The record's schema is the YAML's one file reference; served, it is the file.
    assert doc["components"]["schemas"]["Interaction"]["$ref"] == RECORD_REF
    assert got["components"]["schemas"]["Interaction"] == SCHEMA
    del doc["components"]["schemas"]["Interaction"], got["components"]["schemas"]["Interaction"]
    assert got == doc
    status, headers, raw = k.request("HEAD", "/v1/openapi.json",
                                     headers={"Authorization": f"Bearer {READ_TOKEN}"})
    assert status == 200 and raw == b""
    status, headers, raw = k.request("GET", "/v1/openapi.json")
    assert status == 401 and headers["Content-Type"] == "application/json"
    c.validate(c.schema("/v1/openapi.json", "GET", 401), json.loads(raw), "401")


def test_feed_messages_and_records_answer_as_documented(served):
    k, c = served
    for i in range(3):
        status, _, body = k.post_hook(message(f"m{i}", handle=f"email:p{i}@example.com"))
        assert status == 200, body
        c.validate(c.schema("/hooks/{source}", "POST", 200), json.loads(body), "hook")
    page, _ = c.answer(k, "GET", "/v1/interactions?limit=2", "/v1/interactions", 200)
    assert len(page["interactions"]) == 2 and page["more"] is True
    page, _ = c.answer(k, "GET", f"/v1/interactions?after={page['next']}&source=hooks&kind=message",
                       "/v1/interactions", 200)
    assert len(page["interactions"]) == 1 and page["more"] is False
    empty, _ = c.answer(k, "GET", f"/v1/interactions?after={page['last_seq']}",
                        "/v1/interactions", 200)
    assert empty["interactions"] == []
    ahead, _ = c.answer(k, "GET", "/v1/interactions?after=99", "/v1/interactions", 409)
    assert ahead["error"]["code"] == "cursor_ahead" and ahead["error"]["last_seq"] == 3
    rec, _ = c.answer(k, "GET", "/v1/interactions/2", "/v1/interactions/{seq}", 200)
    assert rec["seq"] == 2
    c.answer(k, "GET", "/v1/interactions/99", "/v1/interactions/{seq}", 404)
    c.answer(k, "GET", "/v1/interactions?limit=0", "/v1/interactions", 400)

    send = {"source": "hooks", "to": "email:p0@example.com", "text": "Merhaba",
            "campaign": "kasim", "idempotency_key": "k-1"}
    q, _ = c.answer(k, "POST", "/v1/messages", "/v1/messages", 202, WRITE_TOKEN, send)
    dup, _ = c.answer(k, "POST", "/v1/messages", "/v1/messages", 202, WRITE_TOKEN, send)
    assert dup["id"] == q["id"] and dup["duplicate"] is True
    conflict, _ = c.answer(k, "POST", "/v1/messages", "/v1/messages", 409, WRITE_TOKEN,
                           {**send, "text": "another text"})
    assert conflict["error"] == {"code": "idempotency_conflict", "id": q["id"],
                                 "message": conflict["error"]["message"]}
    c.answer(k, "POST", "/v1/messages", "/v1/messages", 400, WRITE_TOKEN, {"source": "hooks"})
    c.answer(k, "POST", "/v1/messages", "/v1/messages", 422, WRITE_TOKEN,
             {**send, "source": "nope", "idempotency_key": "k-2"})
    c.answer(k, "POST", "/v1/messages", "/v1/messages", 403, READ_TOKEN, send)
    wait_message(k, q["id"], ("sent",))
    m, _ = c.answer(k, "GET", f"/v1/messages/{q['id']}", "/v1/messages/{id}", 200)
    assert m["status"] == "sent" and m["seq"] == 4
    c.answer(k, "GET", "/v1/messages/m999", "/v1/messages/{id}", 404)
    # The sent message's outbound record, through the feed, is a record too.
    page, _ = c.answer(k, "GET", "/v1/interactions?after=3", "/v1/interactions", 200)
    assert page["interactions"][0]["direction"] == "outbound"


def test_contacts_answer_as_documented(served):
    k, c = served
    for i, handle in enumerate(["phone:+90 532 123 45 67", "email:ayse@example.com"]):
        status, _, body = k.post_hook(message(f"a{i}", handle=handle))
        assert status == 200, body
    found, _ = c.answer(k, "GET", "/v1/contacts?handle=email:ayse@example.com", "/v1/contacts", 200)
    c.answer(k, "GET", "/v1/contacts?handle=email:nobody@example.com", "/v1/contacts", 404)
    c.answer(k, "GET", "/v1/contacts", "/v1/contacts", 400)
    q = urllib.parse.quote("phone:0532 123 45 67")
    first, _ = c.answer(k, "GET", f"/v1/contacts?handle={q}&default_country=TR",
                        "/v1/contacts", 200)
    assert first["id"] != found["id"]
    # Linking one CRM customer to both handles merges the two contacts.
    link, _ = c.answer(k, "PUT", "/v1/contacts/crm/C-1", "/v1/contacts/crm/{crm_id}", 200,
                       ADMIN_TOKEN, {"emails": ["ayse@example.com"], "phones": ["+905321234567"]})
    assert link["merged"] == 1
    made, _ = c.answer(k, "PUT", "/v1/contacts/crm/C-9", "/v1/contacts/crm/{crm_id}", 201,
                       ADMIN_TOKEN, {"emails": ["new@example.com"], "name": "Yeni"})
    assert made["created"] is True
    rows = b'{"crm_id": "C-2", "emails": ["x@example.com"]}\n{"phones": ["1"]}\n'
    rep, _ = c.answer(k, "POST", "/v1/contacts/import", "/v1/contacts/import", 200, ADMIN_TOKEN,
                      rows)
    assert rep["rows"] == 2 and rep["errors"][0]["line"] == 2
    c.answer(k, "POST", "/v1/contacts/import", "/v1/contacts/import", 403, WRITE_TOKEN, rows)
    survivor = link["contact"]
    absorbed = found["id"] if found["id"] != survivor else first["id"]
    contact, _ = c.answer(k, "GET", f"/v1/contacts/{survivor}", "/v1/contacts/{id}", 200)
    assert contact["crm"] == "C-1" and contact["merged"]
    via, _ = c.answer(k, "GET", f"/v1/contacts/{absorbed}", "/v1/contacts/{id}", 200)
    assert via["requested"] == absorbed
    c.answer(k, "GET", "/v1/contacts/c999", "/v1/contacts/{id}", 404)
    tl, _ = c.answer(k, "GET", f"/v1/contacts/{survivor}/interactions?limit=2",
                     "/v1/contacts/{id}/interactions", 200)
    assert len(tl["interactions"]) == 2 and tl["more"] is True
    c.answer(k, "GET", f"/v1/contacts/{survivor}/export", "/v1/contacts/{id}/export", 200,
             ADMIN_TOKEN)
    c.answer(k, "GET", "/v1/contacts/candidates", "/v1/contacts/candidates", 200, ADMIN_TOKEN)
    consent, _ = c.answer(k, "POST", f"/v1/contacts/{survivor}/consent",
                          "/v1/contacts/{id}/consent", 200, WRITE_TOKEN,
                          {"channel": "email", "state": "optout", "reason": "asked"})
    assert consent["state"] == "optout"
    split, _ = c.answer(k, "POST", f"/v1/contacts/{survivor}/split", "/v1/contacts/{id}/split",
                        200, ADMIN_TOKEN, {"absorbed": absorbed})
    assert split["restored"] == absorbed
    after, _ = c.answer(k, "GET", f"/v1/contacts/{survivor}", "/v1/contacts/{id}", 200)
    assert after["consent"]["email"]["state"] == "optout" and after["split_from"] == [absorbed]
    c.answer(k, "POST", f"/v1/contacts/{survivor}/split", "/v1/contacts/{id}/split", 409,
             ADMIN_TOKEN, {"absorbed": absorbed})
    merged, _ = c.answer(k, "POST", f"/v1/contacts/{survivor}/merge", "/v1/contacts/{id}/merge",
                         200, ADMIN_TOKEN, {"with": absorbed})
    assert merged["absorbed"] == absorbed
    link_made, _ = c.answer(k, "POST", "/v1/links", "/v1/links", 201, WRITE_TOKEN,
                            {"url": "https://example.com/x", "campaign": "kasim",
                             "contact": survivor})
    assert link_made["url"].endswith("/t/" + link_made["token"])
    c.answer(k, "POST", "/v1/links", "/v1/links", 422, WRITE_TOKEN,
             {"url": "https://example.com/x", "campaign": "kasim", "contact": "c999"})
    erased, _ = c.answer(k, "DELETE", f"/v1/contacts/{survivor}", "/v1/contacts/{id}", 200,
                         ADMIN_TOKEN)
    assert set(erased["contacts"]) == {survivor, absorbed}
    c.answer(k, "DELETE", f"/v1/contacts/{survivor}", "/v1/contacts/{id}", 404, ADMIN_TOKEN)


def test_merge_candidates_answer_as_documented(make_kanald):
    """Asserted evidence naming two customers raises candidates; listing,
    rejecting (both ways) and merging one answer as documented."""
    k = make_kanald(sources=webhook_source() +
                    webhook_source("leads", extra="trust = asserted")).start()
    status, doc = k.api("/v1/openapi.json")
    assert status == 200
    c = Checker(doc)
    ids = {}
    for crm, row in [("carol", {"emails": ["carol@example.com"]}),
                     ("bob", {"phones": ["+905551112233"]}),
                     ("dave", {"emails": ["dave@example.com"]}),
                     ("erin", {"emails": ["erin@example.com"]})]:
        made, _ = c.answer(k, "PUT", f"/v1/contacts/crm/{crm}", "/v1/contacts/crm/{crm_id}",
                           201, ADMIN_TOKEN, row)
        ids[crm] = made["contact"]
    for i, other in enumerate(["phone:+905551112233", "email:dave@example.com",
                               "email:erin@example.com"]):
        rec = message(f"lead-{i}", handle="email:carol@example.com")
        rec["from"]["handles"] = [other]
        status, _, body = k.post_hook(rec, source="leads")
        assert status == 200, body
    page, _ = c.answer(k, "GET", "/v1/contacts/candidates?limit=2", "/v1/contacts/candidates",
                       200, ADMIN_TOKEN)
    assert len(page["candidates"]) == 2 and page["more"] is True
    rest, _ = c.answer(k, "GET", f"/v1/contacts/candidates?after={page['next']}",
                       "/v1/contacts/candidates", 200, ADMIN_TOKEN)
    cands = {tuple(x["contacts"]): x["id"] for x in page["candidates"] + rest["candidates"]}
    assert len(cands) == 3
    carol, _ = c.answer(k, "GET", f"/v1/contacts/{ids['carol']}", "/v1/contacts/{id}", 200)
    assert len(carol["merge_candidates"]) == 3
    c.answer(k, "GET", f"/v1/contacts/{ids['carol']}/export", "/v1/contacts/{id}/export", 200,
             ADMIN_TOKEN)

    def cand(name):
        return next(v for pair, v in cands.items() if ids[name] in pair)

    out, _ = c.answer(k, "DELETE", f"/v1/contacts/candidates/{cand('bob')}",
                      "/v1/contacts/candidates/{id}", 200, ADMIN_TOKEN)
    assert out["rejected"] == cand("bob")
    c.answer(k, "DELETE", f"/v1/contacts/candidates/{cand('bob')}",
             "/v1/contacts/candidates/{id}", 404, ADMIN_TOKEN)
    out, _ = c.answer(k, "POST", f"/v1/contacts/candidates/{cand('dave')}/reject",
                      "/v1/contacts/candidates/{id}/reject", 200, ADMIN_TOKEN)
    assert out["rejected"] == cand("dave")
    carol, _ = c.answer(k, "GET", f"/v1/contacts/{ids['carol']}", "/v1/contacts/{id}", 200)
    assert set(carol["kept_apart"]) == {ids["bob"], ids["dave"]}
    merged, _ = c.answer(k, "POST", f"/v1/contacts/{ids['carol']}/merge",
                         "/v1/contacts/{id}/merge", 200, ADMIN_TOKEN,
                         {"candidate": cand("erin")})
    assert {merged["survivor"], merged["absorbed"]} == {ids["carol"], ids["erin"]}
    again, _ = c.answer(k, "POST", f"/v1/contacts/{ids['carol']}/merge",
                        "/v1/contacts/{id}/merge", 409, ADMIN_TOKEN, {"with": ids["erin"]})
    assert again["error"]["code"] == "already_merged"
    c.answer(k, "GET", "/v1/contacts/candidates", "/v1/contacts/candidates", 403, WRITE_TOKEN)


def test_status_routes_answer_as_documented(served):
    k, c = served
    k.post_hook(message("s1"))
    src, _ = c.answer(k, "GET", "/v1/sources", "/v1/sources", 200)
    assert [s["name"] for s in src["sources"]] == ["hooks"]
    sinks, _ = c.answer(k, "GET", "/v1/sinks", "/v1/sinks", 200)
    assert [s["name"] for s in sinks["sinks"]] == ["archive"]
    health, _ = c.answer(k, "GET", "/healthz", "/healthz", 200, token=None)
    assert set(health["sources"]) == {"hooks"} and set(health["sinks"]) == {"archive"}


def test_scores_answer_as_documented(served):
    k, c = served
    k.post_hook(message("p1", handle="email:hub@example.com", kind="post", event={"id": "A"}))
    k.post_hook(message("r1", handle="email:ana@example.com", kind="comment", reply_to="p1",
                        thread="p1", event={"id": "A"}))
    started, _ = c.answer(k, "POST", "/v1/scores/refresh", "/v1/scores/refresh", 202,
                          token=ADMIN_TOKEN, body={"audience": "thread:p1"})
    assert started["thread"] == "thread:p1"
    for _ in range(400):
        listed, _ = c.answer(k, "GET", "/v1/audiences", "/v1/audiences", 200)
        if listed["run"]["runs"] and not listed["run"]["running"]:
            break
        time.sleep(0.05)
    assert {"all", "event:A", "thread:p1"} <= {a["id"] for a in listed["audiences"]}
    for aid in ("all", "event%3AA", "thread:p1"):
        c.answer(k, "GET", f"/v1/audiences/{aid}", "/v1/audiences/{id}", 200)
    page, _ = c.answer(k, "GET", "/v1/audiences/all/contacts?order=reach&limit=1",
                       "/v1/audiences/{id}/contacts", 200)
    assert page["more"] and len(page["contacts"]) == 1
    c.answer(k, "GET", "/v1/audiences/all/advocates", "/v1/audiences/{id}/advocates", 200)
    mine, _ = c.answer(k, "GET", f"/v1/contacts/{page['contacts'][0]['contact']}/scores",
                       "/v1/contacts/{id}/scores", 200)
    assert len(mine["audiences"]) >= 4
    c.answer(k, "GET", "/v1/audiences/event:B", "/v1/audiences/{id}", 404)
    c.answer(k, "GET", "/v1/audiences/all/contacts?order=x", "/v1/audiences/{id}/contacts", 400)
    c.answer(k, "POST", "/v1/scores/refresh", "/v1/scores/refresh", 400, token=ADMIN_TOKEN,
             body=b'{"audience": "all"}')
    c.answer(k, "POST", "/v1/scores/refresh", "/v1/scores/refresh", 403)


@pytest.mark.parametrize("method,url,token,status,code", [
    ("GET", "/v1/sources", None, 401, "unauthorized"),
    ("GET", "/v1/sources", "bogus-token", 401, "unauthorized"),
    ("GET", "/v1/contacts/candidates", READ_TOKEN, 403, "forbidden"),
    ("POST", "/v1/links", READ_TOKEN, 403, "forbidden"),
    ("GET", "/v1/sources?x=1", READ_TOKEN, 400, "unknown_parameter"),
    ("GET", "/v1/interactions?sorce=x", READ_TOKEN, 400, "unknown_parameter"),
    ("GET", "/healthz?verbose=1", None, 400, "unknown_parameter"),
    ("GET", "/v1/interactions?limit=1&limit=2", READ_TOKEN, 400, "repeated_parameter"),
    ("POST", "/hooks/nope", None, 404, "unknown_source"),
    ("GET", "/hooks/nope/verify?hub.mode=subscribe", None, 404, "unknown_source"),
])
def test_errors_of_an_operation_answer_as_documented(served, method, url, token, status, code):
    k, c = served
    path = urllib.parse.urlsplit(url).path
    path = "/hooks/{source}" if path.startswith("/hooks/") else path
    out, headers = c.answer(k, method, url, path, status, token)
    assert out["error"]["code"] == code
    if status == 401:
        assert headers["WWW-Authenticate"] == 'Bearer realm="kanal"'


@pytest.mark.parametrize("method,url,status,response", [
    ("GET", "/v1/no/such/route", 404, "NotFound"),
    ("GET", "/nowhere", 404, "NotFound"),
    ("DELETE", "/v1/sources", 405, "MethodNotAllowed"),
    ("PUT", "/v1/interactions", 405, "MethodNotAllowed"),
    ("POST", "/v1/contacts/c1/interactions", 405, "MethodNotAllowed"),
])
def test_router_errors_answer_as_documented(served, method, url, status, response):
    """404 and 405 belong to no operation: they follow the shared responses,
    and 405's Allow names the methods the document gives the path."""
    k, c = served
    got, headers, raw = k.request(method, url, b"{}" if method in ("POST", "PUT") else None,
                                  {"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert got == status, raw
    schema = c.response_schema(c.doc["components"]["responses"][response])
    c.validate(schema, json.loads(raw), f"{method} {url}")
    if status == 405:
        path = next(p for p in c.doc["paths"]
                    if re.fullmatch(re.sub(r"\{[a-z_]+\}", "[^/]+", p), url))
        allow = {m.strip().lower() for m in headers["Allow"].split(",")}
        assert allow == {m for m in HTTP_METHODS if m in c.doc["paths"][path]}


def test_an_answer_off_the_schema_is_noticed(served):
    """The validation is not vacuous: an answer missing a field, or with one
    the schema does not know, fails."""
    k, c = served
    k.post_hook(message("x1"))
    page, _ = c.answer(k, "GET", "/v1/interactions", "/v1/interactions", 200)
    schema = c.schema("/v1/interactions", "GET", 200)
    for bad in ({**page, "surprise": 1},
                {k2: v for k2, v in page.items() if k2 != "store_id"},
                {**page, "interactions": [{**page["interactions"][0], "seq": "1"}]}):
        with pytest.raises(AssertionError):
            c.validate(schema, bad, "bad page")
