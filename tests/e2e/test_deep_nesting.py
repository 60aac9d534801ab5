# SPDX-License-Identifier: Apache-2.0
"""Authentic bodies nested as deep as kanald reads, or deeper, are
permanent input: they are stored (as `unknown` when they are no record),
never answered 503, and never fail the commit of other requests that share
their group commit."""
import json
import threading
from collections import Counter

from kanal import validate_record
from test_twitter import post_event, x_source

DEPTHS = (64, 65, 100, 900, 2045, 2046, 2047, 2048, 2049, 3000)


def nested(depth):
    return b"[" * depth + b"]" * depth


def record_with_meta(depth, n):
    return (b'{"kind":"message","direction":"inbound","external_id":"deep-%d",'
            b'"from":{"handle":"email:a@example.com"},"text":"hi","meta":{"x":' % n
            + nested(depth) + b"}}")


def test_deep_bodies_are_stored_not_answered_503(make_kanald):
    k = make_kanald().start()
    want = 0
    for n, depth in enumerate(DEPTHS):
        for body in (nested(depth), record_with_meta(depth, n)):
            status, _, data = k.post_hook(body)
            assert status in (200, 202), (depth, status, data)
            want += 1
    # Every one was stored: a record sent now gets the next seq.  (The feed
    # itself holds JSON deeper than Python's parser reads.)
    status, _, data = k.post_hook(record_with_meta(60, 999))
    assert status == 200 and json.loads(data)["seqs"] == [want + 1], data
    [rec] = k.feed(after=want)
    validate_record(rec)
    assert rec["kind"] == "message" and rec["external_id"] == "deep-999"


def test_a_deep_body_does_not_fail_the_commit_of_others(make_kanald):
    k = make_kanald().start()
    results = []
    lock = threading.Lock()

    def send(kind, body):
        status = k.post_hook(body)[0]
        with lock:
            results.append((kind, status))

    n = 0
    for _ in range(6):
        threads = []
        for _ in range(12):
            n += 1
            rec = {"kind": "message", "direction": "inbound", "external_id": f"good-{n}",
                   "text": "merhaba", "from": {"handle": "email:a@example.com"}}
            threads.append(threading.Thread(target=send, args=("good", rec)))
        for depth in (100, 500):
            threads.append(threading.Thread(target=send, args=("deep", nested(depth))))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert Counter(results) == Counter({("good", 200): 72, ("deep", 202): 12})


def test_x_deep_payloads_are_kept_as_unknown(make_kanald):
    k = make_kanald(sources=x_source(), plugins=("twitter",)).start()
    for depth in (100, 2046, 2047, 2048, 3000):
        for body in (nested(depth),
                     b'{"for_user_id":"1000000001","tweet_delete_events":[' + nested(depth) + b"]}",
                     b'{"for_user_id":"999","x":' + nested(depth) + b"}"):
            status, _, data = post_event(k, body)
            assert status == 200 and len(json.loads(data)["seqs"]) == 1, (depth, data)


def test_eventbrite_deep_payloads_are_kept_as_unknown(make_kanald):
    from test_signup_eventbrite import HOOK, eb_source
    k = make_kanald(sources=eb_source("http://127.0.0.1:9"), plugins=("signup",)).start()
    for n, depth in enumerate((100, 2045, 2046, 2047)):
        body = (b'{"api_url":"http://127.0.0.1:9/v3/events/1/","config":{"action":"event.updated"},'
                b'"n":%d,"x":' % n + nested(depth) + b"}")
        status, _, data = k.request("POST", HOOK, body, {"Content-Type": "application/json"})
        assert status == 200 and json.loads(data)["seqs"] == [n + 1], (depth, data)



# ---- every plugin's unknown fallback: the host bounds a raw it cannot store ----

# Items a provider may sign: nested past what the store takes once they sit
# in a record (62 and deeper here), deeper than jansson reads (3000), or
# with a \u0000 that no JSON reader of kanal's takes.
BAD_ITEMS = [(f"deep-{d}", b'{"case":"deep-%d","x":' % d + nested(d) + b"}")
             for d in (60, 62, 63, 100, 3000)] + [
    ("nul", b'{"case":"nul","text":"a\\u0000b"}'),
    ("nul-key", b'{"case":"nul-key","a\\u0000":1}'),
    ("nul-deep", b'{"case":"nul-deep","x":[[[["\\u0000"]]]]}')]
# What a Meta plugin itself can still read (jansson: 2048 levels, no
# \u0000): the clean update beside the item is stored on its own.
META_READABLE = {"deep-60", "deep-62", "deep-63", "deep-100"}
# Of those, the items kanald must bound: deeper than 64 levels in a record.
META_BOUNDED = {"deep-62", "deep-63", "deep-100"}


def with_item(template: dict, item: bytes) -> bytes:
    """template serialised, its "__ITEM__" string replaced by item's text
    (deeper than Python's json writer goes)."""
    return json.dumps(template).encode().replace(b'"__ITEM__"', item)


def check_unknown(rec):
    """An unknown record whose raw kanald bounded: the item's JSON text as a
    string, with its size, never cut below unknown_raw_max."""
    validate_record(rec)
    raw, meta = rec["raw"], rec["meta"]
    assert isinstance(raw, str), rec
    assert meta["raw_size"] == len(raw.encode()) and meta["raw_truncated"] is False, meta
    assert "cannot be stored" in meta["raw_bounded"], meta
    item = json.loads(raw)
    return item["case"] if "case" in item else item["value"]["case"]  # WhatsApp: the change


def run_meta_cases(k, source, bodies):
    from meta_helpers import post_meta
    run_cases(k, lambda body: post_meta(k, source, body), bodies, "message")


def run_cases(k, post, bodies, clean_kind):
    """Each body holds one clean update and one bad item, signed: answered
    200, never 503; a redelivery answers the same seqs and adds nothing.
    post(body) -> (status, answer)."""
    answers = []
    for name, body in bodies:
        status, answer = post(body)
        want = 2 if name in META_READABLE else 1
        assert status == 200 and len(answer["seqs"]) == want, (name, status, answer)
        answers.append((body, answer))
    for body, answer in answers:
        assert post(body) == (200, answer)
    recs = k.feed()
    assert len(recs) == sum(len(a["seqs"]) for _, a in answers), recs
    unknown = [r for r in recs if r["kind"] == "unknown"]
    assert len(unknown) == len(bodies), recs
    assert len([r for r in recs if r["kind"] == clean_kind]) == len(META_READABLE)
    bounded = {check_unknown(r) for r in unknown if "raw_bounded" in r["meta"]}
    assert bounded == META_BOUNDED, bounded
    for rec in unknown:  # the rest are the whole body, or the item as JSON
        validate_record(rec)
    return recs


def test_facebook_items_too_deep_or_with_nul_are_kept_as_bounded_unknown(make_kanald):
    from meta_helpers import fixture
    from test_facebook import fb_source
    k = make_kanald(sources=fb_source(), plugins=("facebook",)).start()
    template = json.loads(fixture("fb_message_text"))
    messaging = template["entry"][0]["messaging"]
    messaging.append("__ITEM__")
    bodies = []
    for n, (name, item) in enumerate(BAD_ITEMS):
        messaging[0]["message"]["mid"] = f"m_clean_{n}"
        bodies.append((name, with_item(template, item)))
    run_meta_cases(k, "fb", bodies)


def test_whatsapp_changes_too_deep_or_with_nul_are_kept_as_bounded_unknown(make_kanald):
    from meta_helpers import fixture
    from test_whatsapp import wa_source
    k = make_kanald(sources=wa_source(), plugins=("whatsapp",)).start()
    template = json.loads(fixture("wa_text"))
    changes = template["entry"][0]["changes"]
    changes.append({"field": "x_unknown_field", "value": "__ITEM__"})
    bodies = []
    for n, (name, item) in enumerate(BAD_ITEMS):
        changes[0]["value"]["messages"][0]["id"] = f"wamid.clean{n:04d}"
        bodies.append((name, with_item(template, item)))
    run_meta_cases(k, "wa", bodies)



def test_x_events_too_deep_or_with_nul_are_kept_as_bounded_unknown(make_kanald):
    from test_twitter import FIX
    k = make_kanald(sources=x_source(), plugins=("twitter",)).start()
    template = json.loads((FIX / "brand_post.json").read_text())
    template["tweet_delete_events"] = ["__ITEM__"]
    tweet = template["tweet_create_events"][0]
    bodies = []
    for n, (name, item) in enumerate(BAD_ITEMS):
        tweet["id"] = 1600000000000000500 + n
        tweet["id_str"] = str(tweet["id"])
        bodies.append((name, with_item(template, item)))

    def post(body):
        status, _, data = post_event(k, body)
        return status, json.loads(data)
    run_cases(k, post, bodies, "post")


def test_unknown_raw_max_bounds_what_a_plugin_keeps(make_kanald):
    """A signed body kept whole as unknown is cut to [kanald] unknown_raw_max
    bytes, on a character boundary, with its size and the cut in meta; a
    body within the limit is kept as it came; clean updates are untouched."""
    from meta_helpers import fixture, post_meta
    from test_facebook import fb_source
    k = make_kanald(sources=fb_source(), plugins=("facebook",),
                    kanald="unknown_raw_max = 1K").start()
    bodies = {"ascii": b"x" * 5000, "split": b"y" * 1023 + "ş".encode() * 100,
              "deep": b'{"object":"page","x":' + nested(3000) + b"}",
              "small": b"not json, " + b"z" * 1000}
    for name, body in bodies.items():
        status, answer = post_meta(k, "fb", body)
        assert status == 200 and len(answer["seqs"]) == 1, (name, answer)
    assert post_meta(k, "fb", fixture("fb_message_text"))[0] == 200
    recs = k.feed()
    assert [r["kind"] for r in recs] == ["unknown"] * 4 + ["message"]
    by_raw = dict(zip(bodies, recs))
    for name, body in bodies.items():
        rec = by_raw[name]
        validate_record(rec)
        raw, meta = rec["raw"], rec["meta"]
        assert isinstance(raw, str) and len(raw.encode()) <= 1024, (name, meta)
        if name == "small":
            assert raw == body.decode() and "raw_bounded" not in meta
            continue
        assert meta["raw_truncated"] is True and meta["raw_size"] == len(body), (name, meta)
        assert "unknown_raw_max" in meta["raw_bounded"]
        assert body.decode().startswith(raw) and len(raw.encode()) >= 1021, name
    assert by_raw["split"]["raw"] == "y" * 1023  # "ş" is two bytes: not split
    assert recs[-1]["text"].startswith("Merhaba")


def test_unknown_raw_max_is_checked(make_kanald):
    import subprocess
    from kanal import KANALD
    for value, ok in (("10", False), ("63", False), ("64", True), ("1M", True)):
        k = make_kanald(kanald=f"unknown_raw_max = {value}")
        r = subprocess.run([str(KANALD), "--check-config", "-c", str(k.conf)],
                           capture_output=True, text=True)
        assert (r.returncode == 0) == ok, (value, r.stderr)
        if not ok:
            assert "'unknown_raw_max' must be at least 64" in r.stderr, r.stderr


def test_sms_parameters_that_look_deep_or_hold_an_escaped_nul_are_text(make_kanald):
    """Form bodies cannot nest: JSON-looking or \\u0000-looking parameters of
    a signed Twilio request are text, stored as the message's text, or in
    an unknown record's raw when the request is no message; redelivery
    stores nothing new."""
    from test_sms import fixture, post, replace, sms_source
    k = make_kanald(sources=sms_source(), plugins=("sms",)).start()
    texts = [nested(100).decode(), nested(3000).decode(), "a\\u0000b", '{"x":"\\u0000"}']
    sent = []
    for n, text in enumerate(texts):
        sent.append(replace(fixture("sms_inbound.form"), Body=text,
                            MessageSid=f"SM{n:032x}", SmsSid=f"SM{n:032x}"))
        sent.append([("Odd", text), ("Other", str(n))])  # neither message nor status
    for params in sent + sent:
        assert post(k, params)[0] == 200, params
    recs = k.feed()
    assert len(recs) == len(sent)
    for rec in recs:
        validate_record(rec)
    assert [r["text"] for r in recs if r["kind"] == "message"] == texts
    assert [r["raw"]["Odd"] for r in recs if r["kind"] == "unknown"] == texts
