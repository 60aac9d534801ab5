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
