# SPDX-License-Identifier: Apache-2.0
"""One route table serves every route (daemon/api/routes.c, printed by
`kanald --routes`), so every route answers the same way: a /v1 path without
a valid token 401 before anything else, an unknown path 404, a wrong method
405 with Allow, too low a scope 403, and a query parameter the route does not
read 400 naming it (a typo such as ?sorce=x is refused, not answered with the
whole feed), while webhooks and links still take any query.  The tests walk
the table itself, so a route added to it is covered without a new test."""
import json
import re
import subprocess

import pytest

from kanal import ADMIN_TOKEN, KANALD, READ_TOKEN, WRITE_TOKEN, sign
from test_contacts import contact_of, person_record, post
from test_links import make_link, unsub_kanald
from fakes import FakeProvider


def load_routes():
    """The table as kanald prints it; [] when it cannot (test_routes_option
    then fails, the parametrized tests have nothing to run)."""
    try:
        out = subprocess.run([str(KANALD), "--routes"], capture_output=True, text=True,
                             timeout=10)
        return json.loads(out.stdout) if out.returncode == 0 else []
    except (OSError, ValueError, subprocess.SubprocessError):
        return []


ROUTES = load_routes()
TOKENS = {"none": None, "read": READ_TOKEN, "write": WRITE_TOKEN, "admin": ADMIN_TOKEN}
LOWER = {"write": READ_TOKEN, "admin": WRITE_TOKEN}
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH")
FILL = {"source": "hooks", "seq": "1", "id": "c1", "crm_id": "crm-1", "token": "A" * 22}


def concrete(pattern):
    """A path of the pattern: parameters filled in, '/...' dropped."""
    path = pattern[:-4] if pattern.endswith("/...") else pattern
    return re.sub(r"\{([a-z_]+)\}", lambda m: FILL.get(m.group(1), "x"), path)


def patterns():
    """Each pattern once with the union of its rows' methods."""
    out = {}
    for r in ROUTES:
        out.setdefault(r["path"], set()).update(r["methods"])
    return sorted(out.items())


def call(k, method, path, token=None, body=None, headers=None):
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    if body is None and method in ("POST", "PUT", "PATCH"):
        body = b"{}"
    if body is not None:
        h.setdefault("Content-Type", "application/json")
    status, headers, data = k.request(method, path, body, h)
    return status, headers, data


def error_of(data):
    """The uniform error shape: {"error": {"code", "message"}} and nothing else."""
    doc = json.loads(data)
    assert list(doc) == ["error"] and sorted(doc["error"]) == ["code", "message"], doc
    assert all(isinstance(v, str) and v for v in doc["error"].values()), doc
    return doc["error"]


def last_seq(k):
    status, _, data = k.request("GET", "/healthz")
    assert status == 200
    return json.loads(data)["last_seq"]


def test_routes_option():
    """kanald --routes prints the whole table: every route with its
    methods, scope, metrics label and query parameters.  It exits 1 instead
    when a row comes after a pattern that takes its paths (a literal path
    placed after /v1/contacts/{id} would never be reached)."""
    out = subprocess.run([str(KANALD), "--routes"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert len(ROUTES) >= 20, ROUTES
    for r in ROUTES:
        assert sorted(r) == ["label", "methods", "path", "query", "scope"], r
        assert r["path"].startswith("/") and r["methods"] and r["label"], r
        assert r["scope"] in TOKENS, r
        assert r["query"] == "*" or isinstance(r["query"], list), r
        assert r["path"].startswith("/v1/") == (r["scope"] != "none"), r
    paths = {r["path"] for r in ROUTES}
    for p in ("/hooks/{source}/...", "/healthz", "/metrics", "/v1/interactions",
              "/v1/sources", "/v1/contacts/{id}/merge", "/t/{token}", "/u/{token}"):
        assert p in paths, p
    # Webhooks and links take any query; the API names what it reads.
    assert {r["path"] for r in ROUTES if r["query"] == "*"} == \
        {"/hooks/{source}/...", "/t/{token}", "/u/{token}"}
    feed = next(r for r in ROUTES if r["path"] == "/v1/interactions")
    assert set(feed["query"]) >= {"after", "limit", "source", "channel", "kind", "contact",
                                  "wait"}


@pytest.mark.parametrize("pattern,allowed", [(p, m) for p, m in patterns() if "*" not in m],
                         ids=[p for p, m in patterns() if "*" not in m])
def test_a_wrong_method_gets_405_with_allow(kanald, pattern, allowed):
    path = concrete(pattern)
    token = ADMIN_TOKEN if pattern.startswith("/v1/") else None
    wrong = [m for m in METHODS if m not in allowed]
    assert wrong, pattern
    for method in wrong:
        status, headers, data = call(kanald, method, path, token)
        assert status == 405, (method, path, status, data)
        assert {m.strip() for m in headers["Allow"].split(",")} == allowed, headers
        if method != "HEAD":  # a HEAD answer has no body
            assert error_of(data)["code"] == "method_not_allowed"


@pytest.mark.parametrize("route", [r for r in ROUTES if r["query"] != "*"],
                         ids=[f"{r['methods'][0]} {r['path']}" for r in ROUTES
                              if r["query"] != "*"])
def test_an_unknown_query_parameter_is_refused_naming_it(kanald, route):
    k = kanald
    path, method = concrete(route["path"]), route["methods"][0]
    token = TOKENS[route["scope"]]
    before = last_seq(k)
    for name in ("sorce", "limitt", "utm_source", "x-y.z"):
        status, _, data = call(k, method, f"{path}?{name}=1", token)
        assert status == 400, (method, path, name, status, data)
        err = error_of(data)
        assert err["code"] == "unknown_parameter", err
        assert f"unknown query parameter '{name}'" in err["message"], err
    # Next to parameters the route does read, too.
    known = "&".join(f"{q}=1" for q in route["query"])
    status, _, data = call(k, method, f"{path}?{known}{'&' if known else ''}bogus=2", token)
    assert status == 400 and "'bogus'" in error_of(data)["message"], (status, data)
    assert last_seq(k) == before  # nothing was done


def test_a_typo_in_the_feed_query_is_refused_not_ignored(kanald):
    k = kanald
    for i in range(3):
        post(k, person_record(f"typo{i}", "webhook", f"email:p{i}@example.com"))
    status, page = k.api("/v1/interactions?sorce=nosuch")
    assert status == 400, page  # not the whole feed
    assert page["error"]["code"] == "unknown_parameter"
    assert page["error"]["message"].startswith("unknown query parameter 'sorce'")
    status, page = k.api("/v1/interactions?source=nosuch")
    assert status == 200 and page["interactions"] == []
    status, page = k.api("/v1/interactions?source=hooks&channel=webhook&kind=message&after=0"
                         "&limit=10&wait=0")
    assert status == 200 and len(page["interactions"]) == 3, page


@pytest.mark.parametrize("query,code,name", [
    ("limit=1&limit=2", "repeated_parameter", "limit"),
    ("after=0&source=a&source=b", "repeated_parameter", "source"),
    ("Source=hooks", "unknown_parameter", "Source"),
    ("%73orce=x", "unknown_parameter", "sorce"),          # decoded before the check
    ("%FF%01%22=x", "unknown_parameter", '??"'),          # bytes shown as ?, JSON stays valid
    ("a%00b=1", "unknown_parameter", "a"),
    ("a+b=1", "unknown_parameter", "a b"),
    ("x" * 300 + "=1", "unknown_parameter", "x" * 61 + "..."),  # cut short
])
def test_repeated_and_odd_parameters(kanald, query, code, name):
    status, _, data = call(kanald, "GET", f"/v1/interactions?{query}", READ_TOKEN)
    assert status == 400, data
    err = error_of(data)
    assert err["code"] == code and f"'{name}'" in err["message"], err


def test_known_parameters_still_work(kanald):
    k = kanald
    cid = contact_of(k, post(k, person_record("kp1", "webhook", "email:kp@example.com")))
    assert k.api("/v1/contacts?handle=email:KP@example.com")[1]["id"] == cid
    assert k.api("/v1/contacts?handle=phone:05321234567&default_country=TR")[0] == 404
    status, tl = k.api(f"/v1/contacts/{cid}/interactions?after=0&limit=5")
    assert status == 200 and len(tl["interactions"]) == 1, tl
    assert k.api(f"/v1/contacts/{cid}/export?after=0&limit=5", token=ADMIN_TOKEN)[0] == 200
    assert k.api("/v1/contacts/candidates?limit=5&after=c0", token=ADMIN_TOKEN)[0] == 200
    # An empty query, a lone '?' and empty pairs are no parameters.
    for q in ("", "?", "?&", "?after=0&&limit=1&"):
        assert k.api(f"/v1/interactions{q}")[0] == 200, q
    assert k.api("/v1/sources?")[0] == 200


def test_a_refused_parameter_changes_nothing(kanald):
    """A write with an unknown parameter is refused before it is done."""
    k = kanald
    body = {"emails": ["crm@example.com"], "name": "CRM Person"}
    status, r = k.api("/v1/contacts/crm/crm-9?dry_run=1", token=ADMIN_TOKEN, method="PUT",
                      body=body)
    assert status == 400 and r["error"]["code"] == "unknown_parameter", r
    assert k.api("/v1/contacts?handle=crm:crm-9")[0] == 404
    status, r = k.api("/v1/messages?priority=high", token=WRITE_TOKEN, method="POST",
                      body={"source": "hooks", "to": "email:crm@example.com", "text": "x"})
    assert status == 400, r
    assert last_seq(k) == 0
    status, r = k.api("/v1/contacts/crm/crm-9", token=ADMIN_TOKEN, method="PUT", body=body)
    assert status == 201, r
    assert k.api("/v1/contacts?handle=crm:crm-9")[0] == 200


def test_webhooks_take_any_query(kanald):
    """Providers add their own parameters (hub.*, crc_token, Twilio's):
    the plugin gets them, nothing refuses them."""
    k = kanald
    rec = person_record("hq1", "webhook", "email:hq@example.com")
    body = json.dumps(rec).encode()
    for q in ("hub.mode=subscribe&hub.challenge=1", "crc_token=abc", "utm_source=x&utm_source=y",
              "sorce=x"):
        status, _, data = k.request("POST", f"/hooks/hooks?{q}", body,
                                    {"Content-Type": "application/json",
                                     "X-Kanal-Signature": sign(body)})
        assert status == 200, (q, data)
    assert len(k.feed()) == 1  # one record, redeliveries recognised
    # ... and the plugin still authenticates: a bad signature is 401 with any query.
    status, _, _ = k.request("POST", "/hooks/hooks?crc_token=abc", body,
                             {"Content-Type": "application/json", "X-Kanal-Signature": "x"})
    assert status == 401


def test_links_take_scanners_parameters(make_kanald):
    with FakeProvider(default=(200, {}, {"id": "p1"})) as fake:
        k = unsub_kanald(make_kanald, fake)
        click = make_link(k)
        q = "utm_source=newsletter&utm_medium=email&utm_source=again&fbclid=x"
        status, headers, _ = k.request("GET", f"/t/{click['token']}?{q}")
        assert status == 302 and headers["Location"] == "https://shop.example.com/bye"
        assert [r["kind"] for r in k.feed()] == ["click"]
        # A click link takes no POST: 405 with Allow like every route's.
        status, headers, data = k.request("POST", f"/t/{click['token']}?{q}")
        assert status == 405 and headers["Allow"] == "GET, HEAD", (status, headers)
        assert error_of(data)["code"] == "method_not_allowed"
        cid = contact_of(k, post(k, person_record("lq1", "webhook", "email:lq@example.com")))
        unsub = make_link(k, cid, action="unsubscribe")
        status, _, body = k.request("GET", f"/u/{unsub['token']}?{q}")
        assert status == 200 and b"<form" in body
        status, _, body = k.request("POST", f"/u/{unsub['token']}?{q}")
        assert status == 200 and b"You are unsubscribed" in body
        assert [r["kind"] for r in k.feed()].count("optout") == 1
        assert k.request("GET", f"/u/no-such-token-000000?{q}")[0] == 404


@pytest.mark.parametrize("route", [r for r in ROUTES if r["scope"] != "none"],
                         ids=[f"{r['methods'][0]} {r['path']}" for r in ROUTES
                              if r["scope"] != "none"])
def test_401_and_403_are_uniform(kanald, route):
    k = kanald
    path, method = concrete(route["path"]), route["methods"][0]
    wrong = next(m for m in METHODS if m not in route["methods"] and m != "HEAD")
    # Without a valid token: 401 before 404, 405 or 400, so a client without
    # one learns nothing about which paths exist.
    for token in (None, "not-a-token-0123456789"):
        for m, p in ((method, path), (wrong, path), (method, path + "?sorce=x"),
                     ("GET", "/v1/no-such-route"), ("GET", path + "/no/such/thing")):
            status, headers, data = call(k, m, p, token)
            assert status == 401, (m, p, status, data)
            assert headers["WWW-Authenticate"].startswith("Bearer"), headers
            if m != "HEAD":
                assert error_of(data)["code"] == "unauthorized"
    if route["scope"] in LOWER:
        status, _, data = call(k, method, path, LOWER[route["scope"]])
        assert status == 403, (method, path, status, data)
        if method != "HEAD":
            err = error_of(data)
            assert err["code"] == "forbidden" and route["scope"] in err["message"], err


def test_sources_metrics_healthz_take_only_get_and_head(kanald):
    for path, token in (("/v1/sources", READ_TOKEN), ("/metrics", None), ("/healthz", None)):
        for method in ("POST", "PUT", "DELETE"):
            status, headers, data = call(kanald, method, path, token)
            assert status == 405, (method, path, status, data)
            assert headers["Allow"] == "GET, HEAD", headers
        assert call(kanald, "GET", path, token)[0] == 200
        status, _, data = call(kanald, "HEAD", path, token)
        assert status == 200 and data == b""


def test_unknown_paths_are_404_everywhere(kanald):
    for path, token in (("/no-such-route", None), ("/v1/no-such-route", READ_TOKEN),
                        ("/v1/contacts/c1/nothing", READ_TOKEN), ("/hooks", None),
                        ("/v1", None), ("/v1/interactions/1/2", READ_TOKEN)):
        status, _, data = call(kanald, "GET", path, token)
        assert status == 404, (path, status, data)
        assert error_of(data) == {"code": "not_found", "message": "no such route"}


def test_uniform_answers_keep_their_routes_metrics_label(kanald):
    """Refusals are counted under the route they were meant for (unknown
    paths under "other"), as before the table."""
    k = kanald
    assert call(k, "POST", "/v1/sources", READ_TOKEN)[0] == 405
    assert call(k, "GET", "/v1/interactions?sorce=x", READ_TOKEN)[0] == 400
    assert call(k, "GET", "/v1/contacts/c1/export", READ_TOKEN)[0] == 403
    assert call(k, "GET", "/v1/no-such-route", READ_TOKEN)[0] == 404
    assert call(k, "GET", "/v1/messages/m1")[0] == 401
    text = k.request("GET", "/metrics")[2].decode()
    for route, status in (("sources", 405), ("interactions", 400), ("contacts", 403),
                          ("other", 404), ("messages", 401)):
        line = f'kanal_http_requests_total{{route="{route}",status="{status}"}} 1'
        assert line in text.splitlines(), (line, text)
