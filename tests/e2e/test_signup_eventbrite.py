# SPDX-License-Identifier: Apache-2.0
"""Eventbrite sign-ups: a webhook makes kanald fetch the order or attendee
from (a fake of) Eventbrite's API, and the event's name once; api_urls
anywhere else are refused without a fetch; a failed fetch answers 503 and
Eventbrite's redelivery stores the sign-ups once."""
import base64
import json
import urllib.parse
from pathlib import Path

from fakes import FakeProvider
from kanal import validate_record

FIX = Path(__file__).parent / "fixtures" / "signup"
TOKEN = "test-eventbrite-token"
HOOK_SECRET = "hk-4d1f9a0c7e5b1d2a"
HOOK = f"/hooks/eb/{HOOK_SECRET}"
ORDER, EVENT, AYSE, MEHMET = "1001000222", "555000111", "2001000333", "2001000444"


def load(name):
    return json.loads((FIX / name).read_text())


def eb_source(fake_url, extra=""):
    return ("[source eb]\nplugin = signup\nprovider = eventbrite\ninsecure_inline_secrets = yes\n"
            f"token = {TOKEN}\nhook_secret = {HOOK_SECRET}\napi_url = {fake_url}\n"
            f"default_country = TR\n{extra}\n")


def fake_eventbrite(routes):
    """routes maps a request path (with its query) to a list of answers, the
    last one repeated."""
    fake = FakeProvider()

    def answer(req):
        script = routes.get(req.path)
        if not script:
            return 404, {}, {"error": "NOT_FOUND", "error_description": "no such resource",
                             "status_code": 404}
        return script.pop(0) if len(script) > 1 else script[0]

    fake.answer = answer
    return fake


def hook(action, api_url):
    return {"api_url": api_url, "config": {"action": action, "user_id": "300000001",
                                           "webhook_id": "9001",
                                           "endpoint_url": "https://crm.example/hooks/eb/x"}}


def deliver(k, body, path=HOOK):
    status, _, data = k.request("POST", path, json.dumps(body).encode(),
                                {"Content-Type": "application/json"})
    return status, (json.loads(data) if data else None)


ORDER_PATH = f"/v3/orders/{ORDER}/?expand=attendees"
EVENT_PATH = f"/v3/events/{EVENT}/"
ATTENDEE_PATH = f"/v3/events/{EVENT}/attendees/{AYSE}/"


def test_order_checkin_and_refund_become_signup_checkin_and_cancel(make_kanald):
    routes = {ORDER_PATH: [(200, {}, load("eventbrite_order.json")),
                           (200, {}, load("eventbrite_order_refunded.json"))],
              EVENT_PATH: [(200, {}, load("eventbrite_event.json"))],
              ATTENDEE_PATH: [(200, {}, load("eventbrite_attendee_checked_in.json"))]}
    with fake_eventbrite(routes) as fake:
        k = make_kanald(sources=eb_source(fake.url), plugins=("signup",)).start()
        status, body = deliver(k, hook("order.placed", f"{fake.url}/v3/orders/{ORDER}/"))
        assert status == 200 and body == {"seqs": [1, 2]}
        # What Eventbrite's API was asked, with the token.
        assert [r.path for r in fake.requests] == [ORDER_PATH, EVENT_PATH]
        for r in fake.requests:
            assert r.method == "GET" and r.headers["Authorization"] == f"Bearer {TOKEN}"
        ayse, mehmet = k.feed()
        for r in (ayse, mehmet):
            validate_record(r)
            assert (r["kind"], r["direction"], r["channel"]) == ("signup", "inbound", "signup")
            assert r["event"] == {"id": EVENT, "name": "Kış Semineri 2026",
                                  "starts_at": "2026-11-20T15:00:00.000Z"}
            assert r["subject"] == "Kış Semineri 2026"
            assert r["meta"]["order_id"] == ORDER and r["meta"]["action"] == "order.placed"
        assert ayse["external_id"] == f"{AYSE}/2026-10-01T09:30:05Z"
        assert ayse["from"] == {"handle": "email:ayse.yilmaz@example.com", "name": "Ayşe Yılmaz",
                                "role": "customer",
                                "handles": ["email:ayse.yilmaz@example.com", "phone:+905321234567"]}
        assert ayse["occurred_at"] == "2026-10-01T09:30:00.000Z"
        assert ayse["meta"]["ticket_class"] == "Genel Giriş"
        assert ayse["meta"]["answers"] == [{"question": "Şirketiniz?", "answer": "Örnek Ltd."}]
        assert mehmet["from"]["handle"] == "email:mehmet@example.org"

        # Check-in at the door: the attendee is fetched, the event's name is cached.
        status, body = deliver(k, hook("attendee.checked_in",
                                       f"{fake.url}/v3/events/{EVENT}/attendees/{AYSE}/"))
        assert status == 200 and body == {"seqs": [3]}
        checkin = k.feed()[2]
        validate_record(checkin)
        assert (checkin["kind"], checkin["from"]["handle"]) == ("checkin", ayse["from"]["handle"])
        assert checkin["occurred_at"] == "2026-11-20T17:45:00.000Z"
        assert checkin["event"]["name"] == "Kış Semineri 2026"
        assert [r.path for r in fake.requests].count(EVENT_PATH) == 1

        # After a restart the event's name comes from the source's state, not the API.
        assert k.stop() == 0
        k.start()
        status, body = deliver(k, hook("order.refunded", f"{fake.url}/v3/orders/{ORDER}/"))
        assert status == 200 and body == {"seqs": [4, 5]}
        cancels = k.feed()[3:]
        assert [r["kind"] for r in cancels] == ["cancel", "cancel"]
        assert cancels[0]["event"]["name"] == "Kış Semineri 2026"
        assert cancels[0]["occurred_at"] == "2026-10-05T12:00:00.000Z"
        for r in cancels:
            validate_record(r)
        assert [r.path for r in fake.requests].count(EVENT_PATH) == 1


def test_api_url_elsewhere_is_refused_and_nothing_fetched(make_kanald):
    routes = {ORDER_PATH: [(200, {}, load("eventbrite_order.json"))],
              EVENT_PATH: [(200, {}, load("eventbrite_event.json"))]}
    with fake_eventbrite(routes) as fake, FakeProvider() as other:
        k = make_kanald(sources=eb_source(fake.url), plugins=("signup",)).start()
        port = urllib.parse.urlsplit(fake.url).port
        for url in (f"https://evil.example/v3/orders/{ORDER}/",
                    f"{other.url}/v3/orders/{ORDER}/",            # same host, other port
                    f"https://127.0.0.1:{port}/v3/orders/{ORDER}/",  # other scheme
                    f"{fake.url}/v3/users/me/",                   # not an order or attendee
                    f"{fake.url}/v3/orders/{ORDER}/../../users/me/",
                    f"{fake.url}/v3/orders/%31001/",
                    f"http://user:pw@127.0.0.1:{port}/v3/orders/{ORDER}/",
                    f"{fake.url}/v3/orders/{ORDER}/attendees/../../../events/",
                    "not a url"):
            status, body = deliver(k, hook("order.placed", url))
            assert status == 400 and body["error"]["code"] == "bad_api_url", (url, body)
        assert fake.requests == [] and other.requests == []
        assert k.feed() == []
        assert "refused a webhook" in k.log()
        # Without the hook secret in the path, or with a wrong one: no such hook.
        good = hook("order.placed", f"{fake.url}/v3/orders/{ORDER}/")
        assert deliver(k, good, path="/hooks/eb")[0] == 404
        assert deliver(k, good, path="/hooks/eb/hk-4d1f9a0c7e5b1d2b")[0] == 404
        assert fake.requests == []
        # Eventbrite's test ping is acknowledged and stores nothing.
        assert deliver(k, hook("test", "https://www.eventbriteapi.com/v3/users/me/"))[0] == 200
        assert k.feed() == [] and fake.requests == []


def test_fetch_failure_is_503_and_the_redelivery_stores_once(make_kanald):
    routes = {ORDER_PATH: [(500, {}, {"error": "INTERNAL_ERROR",
                                      "error_description": "try again"}),
                           (200, {}, load("eventbrite_order.json"))],
              EVENT_PATH: [(503, {}, b"busy"), (200, {}, load("eventbrite_event.json"))]}
    with fake_eventbrite(routes) as fake:
        k = make_kanald(sources=eb_source(fake.url), plugins=("signup",)).start()
        body = hook("order.placed", f"{fake.url}/v3/orders/{ORDER}/")
        status, resp = deliver(k, body)   # the order fetch fails
        assert status == 503 and "try again" in resp["error"]["message"]
        status, resp = deliver(k, body)   # the order comes, the event fetch fails
        assert status == 503
        assert k.feed() == []
        status, resp = deliver(k, body)   # Eventbrite's next redelivery
        assert status == 200 and resp == {"seqs": [1, 2]}
        status, resp = deliver(k, body)   # and one more: recognised
        assert status == 200 and resp == {"seqs": [1, 2]}
        assert [r["external_id"] for r in k.feed()] == [f"{AYSE}/2026-10-01T09:30:05Z",
                                                        f"{MEHMET}/2026-10-01T09:30:05Z"]
        assert "answered 503 so Eventbrite retries" in k.log()


def test_other_actions_are_kept_as_unknown(make_kanald):
    with fake_eventbrite({}) as fake:
        k = make_kanald(sources=eb_source(fake.url), plugins=("signup",)).start()
        body = hook("event.updated", f"{fake.url}/v3/events/{EVENT}/")
        status, resp = deliver(k, body)
        assert status == 200 and resp == {"seqs": [1]}
        assert deliver(k, body)[1] == {"seqs": [1]}
        [rec] = k.feed()
        validate_record(rec)
        assert rec["kind"] == "unknown" and rec["raw"] == body
        assert rec["meta"]["action"] == "event.updated"
        assert fake.requests == []



def test_authentic_bodies_without_api_url_or_action_are_kept_as_unknown(make_kanald):
    """The secret path matched, so the body is authentic: whatever it lacks,
    it is stored as unknown and answered 202 (the same seq on redelivery),
    never refused with a 4xx that loses it; nothing is fetched."""
    with fake_eventbrite({}) as fake:
        k = make_kanald(sources=eb_source(fake.url), plugins=("signup",)).start()
        url = f"{fake.url}/v3/orders/{ORDER}/"
        json_bodies = [{}, {"config": {"action": "order.placed"}}, {"api_url": url},
                       {"api_url": url, "config": "order.placed"},
                       {"api_url": url, "config": {"action": 7}},
                       {"api_url": 7, "config": {"action": "order.placed"}}, [1, 2]]
        bodies = [json.dumps(b).encode() for b in json_bodies] + [
            b"", b"not json", b'"a JSON string"', b'{"api_url":"a\\u0000b","config":{"action":"x"}}',
            b"\xff\xfe binary", b"a\x00b"]
        answers = []
        for n, body in enumerate(bodies):
            status, _, data = k.request("POST", HOOK, body, {"Content-Type": "application/json"})
            assert status == 202, (body, status, data)
            assert json.loads(data) == {"seqs": [n + 1], "stored_as": "unknown"}, (body, data)
            answers.append(data)
        for body, data in zip(bodies, answers):
            assert k.request("POST", HOOK, body)[2] == data, body
        recs = k.feed()
        assert len(recs) == len(bodies)
        for body, rec in zip(bodies, recs):
            validate_record(rec)
            assert rec["kind"] == "unknown", rec
            raw = rec["raw"]
            if body in (b"\xff\xfe binary", b"a\x00b"):  # not UTF-8, or a NUL byte
                assert base64.b64decode(raw["base64"]) == body
            elif body in [json.dumps(b).encode() for b in json_bodies]:
                assert raw == json.loads(body)
            else:  # not JSON (jansson takes no \u0000): the text itself
                assert raw.encode() == body
        assert fake.requests == []


def test_a_source_without_a_usable_hook_secret_is_refused(make_kanald):
    """Eventbrite signs nothing: the secret path is its only authentication,
    so a source without one would take anybody's webhooks.  kanald refuses
    the source (as for any source whose plugin rejects its settings): its
    hooks do not exist and nothing is fetched or stored."""
    with fake_eventbrite({ORDER_PATH: [(200, {}, load("eventbrite_order.json"))]}) as fake:
        base = ("[source eb]\nplugin = signup\nprovider = eventbrite\n"
                f"insecure_inline_secrets = yes\ntoken = {TOKEN}\napi_url = {fake.url}\n")
        body = hook("order.placed", f"{fake.url}/v3/orders/{ORDER}/")
        for what, (extra, secret) in {
                "missing": ("", ""),
                "too short": ("hook_secret = hk-4d1f9a0c7e5b\n", "hk-4d1f9a0c7e5b"),
                "with a slash": ("hook_secret = hk-4d1f9a0c/7e5b1d2a\n", "hk-4d1f9a0c/7e5b1d2a"),
                "with a query": ("hook_secret = hk-4d1f9a0c?7e5b1d2a\n", "hk-4d1f9a0c")}.items():
            k = make_kanald(sources=base + extra, plugins=("signup",)).start()
            k.wait_log("source refused")
            assert "needs hook_secret" in k.log(), what
            for path in ("/hooks/eb", "/hooks/eb/", "/hooks/eb/" + secret):
                status, resp = deliver(k, body, path=path)
                assert status == 404, (what, path, resp)
            assert k.feed() == [] and fake.requests == [], what
            assert k.stop() == 0, what


def test_only_the_exact_secret_path_reaches_the_hook(make_kanald):
    routes = {ORDER_PATH: [(200, {}, load("eventbrite_order.json"))],
              EVENT_PATH: [(200, {}, load("eventbrite_event.json"))]}
    with fake_eventbrite(routes) as fake:
        k = make_kanald(sources=eb_source(fake.url), plugins=("signup",)).start()
        good = hook("order.placed", f"{fake.url}/v3/orders/{ORDER}/")
        other = hook("event.updated", f"{fake.url}/v3/events/{EVENT}/")  # stored as unknown
        wrong = ["/hooks/eb", "/hooks/eb/", "/hooks/eb//", "/hooks/eb/" + HOOK_SECRET[:-1],
                 "/hooks/eb/" + HOOK_SECRET + "x", "/hooks/eb/" + HOOK_SECRET + "/",
                 "/hooks/eb/" + HOOK_SECRET[1:], "/hooks/eb/" + HOOK_SECRET.upper(),
                 "/hooks/eb/" + HOOK_SECRET[0], "/hooks/eb/x" + HOOK_SECRET,
                 "/hooks/eb/" + HOOK_SECRET + "/" + HOOK_SECRET]
        for path in wrong:
            for body in (good, other):
                status, resp = deliver(k, body, path=path)
                assert status == 404 and resp["error"]["code"] == "unknown_hook", path
        assert fake.requests == [] and k.feed() == []
        status, resp = deliver(k, good)
        assert status == 200 and resp == {"seqs": [1, 2]}
