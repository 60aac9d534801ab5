# SPDX-License-Identifier: Apache-2.0
"""X (Twitter): Account Activity webhooks (CRC, signatures, every event type
with the brand-centred direction rules), polling against a fake X API
(pagination, since_id across a restart, 429 waits), mode = both without
duplicates, and posts, replies and DMs sent through the outbox."""
import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.parse
from datetime import datetime, timezone
from pathlib import Path

import pytest

from fakes import FakeProvider
from kanal import wait_message, WRITE_TOKEN, validate_record

FIX = Path(__file__).parent / "fixtures" / "twitter"
SECRET = "test-consumer-secret"
BRAND, AYSE, MEHMET, ZEYNEP = "1000000001", "2000000002", "3000000003", "4000000004"
T = {n: f"16000000000000000{n:02d}" for n in range(1, 20)}  # tweet ids of the fixtures


def x_source(mode="webhook", extra="", name="x-main"):
    return (f"[source {name}]\nplugin = twitter\ninsecure_inline_secrets = yes\n"
            f"user_id = {BRAND}\nconsumer_secret = {SECRET}\nmode = {mode}\n{extra}\n")


def x_sign(body: bytes, secret=SECRET) -> str:
    mac = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(mac).decode()


def post_event(k, payload, signature=None, source="x-main"):
    if isinstance(payload, str):
        body = (FIX / payload).read_bytes()
    elif isinstance(payload, bytes):
        body = payload
    else:
        body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    if signature is not False:
        headers["x-twitter-webhooks-signature"] = signature or x_sign(body)
    return k.request("POST", f"/hooks/{source}", body, headers)


def handles(parties):
    return [p["handle"] for p in parties]


def by_id(recs):
    out = {}
    for r in recs:
        assert r["external_id"] not in out, f"two records for {r['external_id']}"
        out[r["external_id"]] = r
    return out


def wait_feed(k, n, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        recs = k.feed()
        if len(recs) >= n:
            return recs
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(recs)} records, expected {n}; log:\n{k.log()}")
        time.sleep(0.05)




def iso_ms(ms):
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# ---- webhooks ----

def test_crc_answer_matches_a_computed_vector(make_kanald):
    k = make_kanald(sources=x_source(), plugins=("twitter",)).start()
    status, headers, body = k.request("GET", "/hooks/x-main?crc_token=crc-token-7f3a")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    # base64(HMAC-SHA256("test-consumer-secret", "crc-token-7f3a")), computed with openssl.
    assert json.loads(body) == {
        "response_token": "sha256=EC+S3pUXnQj1eFuC6WKba4OjO21xCp8IR/CGiwm2iY4="}
    assert k.request("GET", "/hooks/x-main")[0] == 400
    assert k.feed() == []


def crc(k, query):
    status, headers, body = k.request("GET", "/hooks/x-main?" + query)
    assert headers["Content-Type"].startswith("application/json")
    return status, json.loads(body)


def test_crc_answers_tokens_of_letters_digits_and_base64_punctuation(make_kanald):
    k = make_kanald(sources=x_source(), plugins=("twitter",)).start()
    tokens = ["foo", "a", "crc-token-7f3a", "Zm9v/bar+baz==", "Zm9v_bar-baz",
              base64.urlsafe_b64encode(bytes(range(150))).decode(),
              base64.b64encode(bytes(range(48))).decode(), "9" * 256]
    for token in tokens:
        # Percent-encoded ('+' must be %2B: a bare '+' is a space in a query).
        status, body = crc(k, "crc_token=" + urllib.parse.quote(token, safe=""))
        want = base64.b64encode(hmac.new(SECRET.encode(), token.encode(),
                                         hashlib.sha256).digest()).decode()
        assert (status, body) == (200, {"response_token": "sha256=" + want}), token
    # Other parameters around it do not matter.
    status, body = crc(k, "nonce=1&crc_token=foo&x=%7B")
    assert status == 200 and body["response_token"] == x_sign(b"foo")
    assert k.feed() == []


def test_crc_refuses_every_other_token_without_signing_it(make_kanald):
    k = make_kanald(sources=x_source(), plugins=("twitter",)).start()
    dm = (FIX / "dm.json").read_bytes()
    queries = {
        "missing": "", "other parameter only": "token=foo", "empty": "crc_token=",
        "bare name": "crc_token", "too long": "crc_token=" + "a" * 257,
        "far too long": "crc_token=" + "a" * 5000,
        "JSON body": "crc_token=" + urllib.parse.quote(dm.decode(), safe=""),
        "small JSON": "crc_token=" + urllib.parse.quote('{"a":1}', safe=""),
        "decodes to {\"": "crc_token=%7B%22",
        "lower-case escapes": "crc_token=%7b%22for_user_id%22",
        "space as +": "crc_token=foo+bar", "space as %20": "crc_token=foo%20bar",
        "NUL": "crc_token=foo%00", "NUL then JSON": "crc_token=foo%00%7B%22a%22:1%7D",
        "NUL in another parameter": "crc_token=foo&x=%00",
        "repeated": "crc_token=foo&crc_token=foo",
        "repeated, second JSON": "crc_token=foo&crc_token=%7B%7D",
        "repeated, first empty": "crc_token=&crc_token=foo",
        "quote": "crc_token=%22foo%22", "colon": "crc_token=a:b", "dot": "crc_token=a.b",
        "newline": "crc_token=foo%0A", "tab": "crc_token=%09foo",
        "UTF-8": "crc_token=%C3%A7ay", "byte FF": "crc_token=%FF",
        "bad escape kept literally": "crc_token=foo%ZZ",
    }
    for what, query in queries.items():
        status, body = crc(k, query)
        assert status == 400, what
        assert "response_token" not in body and body["error"]["code"] == "bad_crc_token", what
    assert "refused a CRC check" in k.log()
    assert k.feed() == []


def test_crc_cannot_sign_a_forged_dm(make_kanald):
    """The attack: ask the CRC to "answer" a forged event body, then post that
    body with the answer as its signature."""
    k = make_kanald(sources=x_source(), plugins=("twitter",)).start()
    forged = [(FIX / "dm.json").read_bytes(), (FIX / "mention.json").read_bytes(),
              json.dumps({"for_user_id": BRAND}).encode(), b"[]", b'"foo"']
    for body in forged:
        status, answer = crc(k, "crc_token=" + urllib.parse.quote(body.decode(), safe=""))
        assert status == 400 and "response_token" not in answer
        # Whatever a caller builds from the refusal, it is no signature.
        for sig in (answer.get("response_token"), x_sign(body, "")):
            status, _, _ = post_event(k, body, signature=sig or "sha256=")
            assert status == 401
    # A body the CRC check may sign (one made of token characters) is never
    # taken as an event, whatever its signature: X's events are JSON objects.
    for token in ("1", "foo", "Zm9v/bar+baz==", "a" * 256):
        status, answer = crc(k, "crc_token=" + urllib.parse.quote(token, safe=""))
        assert status == 200
        status, _, body = post_event(k, token.encode(), signature=answer["response_token"])
        assert status == 401 and json.loads(body)["error"]["code"] == "bad_signature"
    assert k.feed() == []


def test_signature_accepted_and_refused(make_kanald):
    k = make_kanald(sources=x_source(), plugins=("twitter",)).start()
    body = (FIX / "mention.json").read_bytes()
    assert post_event(k, body, signature=False)[0] == 401
    assert post_event(k, body, signature=x_sign(body, "another-secret"))[0] == 401
    assert post_event(k, body + b" ", signature=x_sign(body))[0] == 401
    hexsig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert post_event(k, body, signature=hexsig)[0] == 401  # X signs in base64, not hex
    assert k.feed() == []
    assert "refused a webhook" in k.log()
    status, _, resp = post_event(k, body)
    assert status == 200 and json.loads(resp) == {"seqs": [1]}
    status, _, resp = post_event(k, body)  # X retries: recognised, nothing new
    assert status == 200 and json.loads(resp) == {"seqs": [1]}
    assert len(k.feed()) == 1


def test_event_types_and_directions(make_kanald):
    k = make_kanald(sources=x_source(), plugins=("twitter",)).start()
    for name in ("brand_post.json", "reply_to_brand.json", "mention.json", "peer_chain.json",
                 "brand_reply.json", "quote.json", "retweet.json", "dm.json", "favorite.json",
                 "follow.json", "other.json"):
        status, _, body = post_event(k, name)
        assert status == 200, (name, body)
    recs = k.feed()
    for r in recs:
        validate_record(r)
        assert r["channel"] == "twitter" and r["source"] == "x-main"
    got = by_id(recs)

    def check(ext, kind, direction, frm, to, mentions=None, thread=None, reply_to=None):
        r = got[ext]
        assert (r["kind"], r["direction"]) == (kind, direction), r
        assert r["from"]["handle"] == f"x:{frm}", r
        assert handles(r["to"]) == [f"x:{u}" for u in to], r
        if mentions is not None:
            assert sorted(handles(r["mentions"])) == sorted(f"x:{u}" for u in mentions), r
        assert r.get("thread") == thread, r
        assert r.get("reply_to") == reply_to, r
        return r

    # The brand's own tweet.
    r = check(T[1], "post", "outbound", BRAND, [], [], thread=T[1])
    assert r["from"]["role"] == "brand" and r["from"]["name"] == "Marka A.Ş."
    assert r["text"] == "Kış kampanyamız başladı! #marka"
    assert r["occurred_at"] == iso_ms(1795428001000)
    # A reply to the brand's tweet.
    r = check(T[2], "comment", "inbound", AYSE, [BRAND], [BRAND], thread=T[1], reply_to=T[1])
    assert r["from"] == {"handle": f"x:{AYSE}", "name": "Ayşe Yılmaz", "role": "customer",
                         "handles": [f"x:{AYSE}"]}
    assert r["to"][0]["role"] == "brand"
    assert r["meta"]["screen_names"][AYSE] == "ayse_y"
    # A top-level tweet mentioning the brand (and Ayşe).
    check(T[3], "mention", "inbound", MEHMET, [BRAND], [BRAND, AYSE], thread=T[3])
    # The peer reply chain: both carry @marka, neither answers the brand.
    check(T[4], "comment", "peer", AYSE, [MEHMET], [MEHMET, BRAND], thread=T[3], reply_to=T[3])
    check(T[5], "comment", "peer", MEHMET, [AYSE], [AYSE, BRAND], thread=T[3], reply_to=T[4])
    # The brand steps into that thread.
    check(T[6], "comment", "outbound", BRAND, [MEHMET], [MEHMET, AYSE], thread=T[3],
          reply_to=T[5])
    # A quote of the brand's tweet, and a retweet of it.
    r = check(T[7], "mention", "inbound", ZEYNEP, [BRAND], [], thread=T[7])
    assert r["meta"]["quote_of"] == T[1]
    r = check(T[8], "share", "inbound", ZEYNEP, [BRAND], [BRAND], thread=T[8])
    assert r["meta"]["retweet_of"] == T[1]
    # Direct messages, both ways, with the names from users{}.
    r = check("1700000000000000001", "message", "inbound", AYSE, [BRAND],
              thread=f"{BRAND}-{AYSE}")
    assert r["text"] == "Merhaba, siparişim nerede?" and r["from"]["name"] == "Ayşe Yılmaz"
    assert r["occurred_at"] == iso_ms(1795428010000)
    r = check("1700000000000000002", "message", "outbound", BRAND, [AYSE],
              thread=f"{BRAND}-{AYSE}")
    assert r["to"][0]["name"] == "Ayşe Yılmaz"
    # A like of the brand's tweet.
    r = check("a7ba59eb2c6ba1f6e8a3c6b2d4b1a2f1", "reaction", "inbound", AYSE, [BRAND],
              thread=T[1], reply_to=T[1])
    assert r["meta"]["reaction"] == "like"
    # Follows and unfollows, keyed by (source, target, created_timestamp).
    check(f"{ZEYNEP}-{BRAND}-1795428600000", "follow", "inbound", ZEYNEP, [BRAND])
    check(f"{BRAND}-{AYSE}-1795428610000", "follow", "outbound", BRAND, [AYSE])
    check(f"{ZEYNEP}-{BRAND}-1795428620000", "unfollow", "inbound", ZEYNEP, [BRAND])
    # A deleted tweet is kept as unknown with its payload; typing indicators are not stored.
    unknown = [r for r in recs if r["kind"] == "unknown"]
    assert len(unknown) == 1 and unknown[0]["meta"]["event"] == "tweet_delete"
    assert unknown[0]["raw"]["status"]["id"] == "1600000000000000099"
    assert len(recs) == 15
    # No party is ever a screen name: handles are numeric ids.
    for r in recs:
        for p in [r.get("from")] + r["to"] + r["mentions"]:
            if p:
                assert p["handle"].startswith("x:") and p["handle"][2:].isdigit(), r



def test_payloads_without_events_are_kept_as_unknown(make_kanald):
    """An authentic object with no *_events list is kept whole as unknown
    (200, one seq, the same on redelivery); typing indicators and empty event
    lists store nothing."""
    k = make_kanald(sources=x_source(), plugins=("twitter",)).start()
    kept = [{}, {"for_user_id": BRAND}, {"for_user_id": BRAND, "block_events": "not a list"},
            {"for_user_id": BRAND, "user_event": {"revoke": {"source": {"user_id": AYSE}}}},
            {"for_user_id": BRAND, "events": [{"id": 1}]}]
    seqs = []
    for n, payload in enumerate(kept):
        status, _, data = post_event(k, payload)
        assert status == 200 and json.loads(data)["seqs"] == [n + 1], (payload, data)
        seqs.append(json.loads(data)["seqs"])
    for payload, want in zip(kept, seqs):  # redelivered: recognised
        status, _, data = post_event(k, payload)
        assert status == 200 and json.loads(data)["seqs"] == want, (payload, data)
    for payload in ({"for_user_id": BRAND, "direct_message_indicate_typing_events": [{"x": 1}]},
                    {"for_user_id": BRAND, "tweet_create_events": []}):
        status, _, data = post_event(k, payload)
        assert status == 200 and json.loads(data)["seqs"] == [], (payload, data)
    recs = k.feed()
    assert [r["raw"] for r in recs] == kept
    for r in recs:
        validate_record(r)
        assert r["kind"] == "unknown" and r["external_id"].startswith("payload-"), r
        assert "*_events" in r["meta"]["reason"]


def test_mode_poll_takes_no_webhooks(make_kanald):
    k = make_kanald(sources=x_source(mode="poll", extra="bearer_token = b\n"
                                     "api_url = http://127.0.0.1:9/\npoll_interval = 1h"),
                    plugins=("twitter",)).start()
    assert post_event(k, "mention.json")[0] == 404
    assert k.request("GET", "/hooks/x-main?crc_token=x")[0] == 404


# ---- polling ----

def query(req):
    return {k: v[0] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(req.path).query).items()}


def fake_x(routes):
    """A fake X API: routes maps a path to answer(query) -> (status, headers, body)."""
    fake = FakeProvider()

    def answer(req):
        u = urllib.parse.urlsplit(req.path)
        q = query(req)
        handler = routes.get((req.method, u.path))
        if not handler:
            return 404, {}, {"title": "Not Found Error", "detail": f"no route {u.path}",
                             "status": 404}
        return handler(q)

    fake.answer = answer
    return fake


def load(name):
    return json.loads((FIX / name).read_text())


MENTIONS = ("GET", f"/2/users/{BRAND}/mentions")
SEARCH = ("GET", "/2/tweets/search/recent")
EMPTY = {"meta": {"result_count": 0}}


def test_polling_pages_and_keeps_since_id_across_a_restart(make_kanald):
    search_tweet = {"id": T[13], "author_id": ZEYNEP, "conversation_id": T[13],
                    "created_at": "2026-11-23T11:13:00.000Z",
                    "text": "marka'nın yeni ürünleri çok iyi #marka"}

    def mentions(q):
        if "since_id" in q:
            return 200, {}, EMPTY
        if q.get("pagination_token") == load("v2_mentions_page1.json")["meta"]["next_token"]:
            return 200, {}, load("v2_mentions_page2.json")
        return 200, {}, load("v2_mentions_page1.json")

    def search(q):
        if "since_id" in q:
            return 200, {}, EMPTY
        return 200, {}, {"data": [search_tweet],
                         "includes": {"users": [{"id": ZEYNEP, "name": "Zeynep Demir",
                                                 "username": "zeynep_d"}]},
                         "meta": {"newest_id": T[13], "oldest_id": T[13], "result_count": 1}}

    with fake_x({MENTIONS: mentions, SEARCH: search}) as fake:
        extra = (f"bearer_token = test-bearer-token\napi_url = {fake.url}/\npoll_interval = 1h\n"
                 "poll_query = marka OR #marka")
        k = make_kanald(sources=x_source(mode="poll", extra=extra), plugins=("twitter",)).start()
        recs = wait_feed(k, 5)
        reqs = fake.wait_requests(3)
        # Oldest first across both pages, then the search.
        assert [r["external_id"] for r in recs] == [T[3], T[10], T[11], T[12], T[13]]
        for r in recs:
            validate_record(r)
        got = by_id(recs)
        assert (got[T[3]]["kind"], got[T[3]]["direction"]) == ("mention", "inbound")
        assert (got[T[10]]["kind"], got[T[10]]["direction"]) == ("comment", "inbound")
        assert got[T[10]]["reply_to"] == T[1] and got[T[10]]["thread"] == T[1]
        assert (got[T[11]]["kind"], got[T[11]]["direction"]) == ("comment", "peer")
        assert handles(got[T[11]]["to"]) == [f"x:{MEHMET}"]
        assert got[T[11]]["from"]["name"] == "Zeynep Demir"
        assert (got[T[12]]["kind"], got[T[12]]["direction"]) == ("mention", "inbound")
        # Talk about the brand that names nobody: the third side.
        assert (got[T[13]]["kind"], got[T[13]]["direction"]) == ("post", "peer")
        # What X received: bearer token, the first page, then the next page by token.
        first, second, third = reqs[:3]
        for req in reqs[:3]:
            assert req.headers["Authorization"] == "Bearer test-bearer-token"
        assert "since_id" not in query(first) and "pagination_token" not in query(first)
        assert "author_id" in query(first)["expansions"]
        assert query(second)["pagination_token"] == "7140dibdnow9c7btw3w29grvxfcgvpb9n9coehpk7xz5i"
        assert third.path.startswith("/2/tweets/search/recent?")
        assert query(third)["query"] == "marka OR #marka"

        assert k.stop() == 0
        n = len(fake.requests)
        k.start()
        reqs = fake.wait_requests(n + 2)[n:]
        by_path = {r.path.split("?")[0]: r for r in reqs}
        assert query(by_path[MENTIONS[1]])["since_id"] == T[12]
        assert "pagination_token" not in query(by_path[MENTIONS[1]])
        assert query(by_path[SEARCH[1]])["since_id"] == T[13]
        time.sleep(0.3)
        assert len(k.feed()) == 5


def test_polling_waits_out_a_429_until_the_reset(make_kanald):
    calls = []

    def mentions(q):
        calls.append(time.time())
        if len(calls) == 1:
            reset = int(time.time()) + 3
            calls.append(reset)
            return 429, {"x-rate-limit-reset": str(reset), "x-rate-limit-remaining": "0"}, \
                {"title": "Too Many Requests", "detail": "Too Many Requests", "status": 429}
        return 200, {}, load("v2_mentions_page2.json")

    with fake_x({MENTIONS: mentions}) as fake:
        extra = f"bearer_token = test-bearer-token\napi_url = {fake.url}\npoll_interval = 1h"
        k = make_kanald(sources=x_source(mode="poll", extra=extra), plugins=("twitter",)).start()
        recs = wait_feed(k, 2, timeout=30)
        first_at, reset, second_at = calls[0], calls[1], calls[2]
        assert second_at >= reset, "asked again before x-rate-limit-reset"
        assert [r["external_id"] for r in recs] == [T[3], T[10]]
        assert "rate limited" in k.log()


@pytest.mark.parametrize("created_at", ["2026-11-23T25:00:00.000Z", "2026-02-30T11:11:00.000Z",
                                        "2026-13-45T99:99:99.000Z", "2026-11-23 11:11:00.000Z",
                                        "2026-11-23T11:11:00.000Z junk"])
def test_a_polled_timeline_kanald_refuses_is_kept_as_unknown(make_kanald, created_at):
    """A tweet whose time kanald cannot take (no such hour or date, no 'T',
    text after it) makes kanald refuse the timeline's records: they are kept whole
    as one unknown record, and since_id moves past them all the same, so
    the next poll does not read them again."""
    page = load("v2_mentions_page1.json")
    page["data"][1]["created_at"] = created_at
    del page["meta"]["next_token"]  # one page

    def mentions(q):
        return 200, {}, (EMPTY if "since_id" in q else page)

    with fake_x({MENTIONS: mentions}) as fake:
        extra = f"bearer_token = test-bearer-token\napi_url = {fake.url}\npoll_interval = 1h"
        k = make_kanald(sources=x_source(mode="poll", extra=extra), plugins=("twitter",)).start()
        [rec] = wait_feed(k, 1)
        validate_record(rec)
        assert (rec["kind"], rec["direction"]) == ("unknown", "inbound")
        assert rec["external_id"].startswith("poll-")
        assert rec["meta"] == {"event": "poll", "reason": "tweets kanal could not normalize"}
        # The timeline's records as normalized, oldest first, the bad time included.
        assert [r["external_id"] for r in rec["raw"]] == [T[11], T[12]]
        assert rec["raw"][0]["occurred_at"] == created_at
        assert "occurred_at" in k.log()  # kanald's log names the field
        # The cursor moved on: after a restart X is asked from the newest id.
        assert k.stop() == 0
        n = len(fake.requests)
        k.start()
        [req] = fake.wait_requests(n + 1)[n:]
        assert query(req)["since_id"] == page["meta"]["newest_id"]
        time.sleep(0.3)
        assert len(k.feed()) == 1


def v1_tweet(tid, user, screen, name, text, reply=None, mentions=()):
    """A v1.1 tweet_create_events payload like the ones in fixtures/."""
    tweet = {"id_str": tid, "text": text, "timestamp_ms": "1795430000000",
             "user": {"id_str": user, "screen_name": screen, "name": name},
             "in_reply_to_status_id_str": reply[0] if reply else None,
             "in_reply_to_user_id_str": reply[1] if reply else None,
             "entities": {"user_mentions": [{"id_str": i, "screen_name": s} for i, s in mentions]}}
    return {"for_user_id": BRAND, "tweet_create_events": [tweet]}


def test_both_modes_store_each_tweet_once(make_kanald):
    go = threading.Event()
    polls = []

    def mentions(q):
        polls.append(q)
        if len(polls) == 1:
            go.wait(20)  # let the webhook deliver T3 first
            return 200, {}, load("v2_mentions_page2.json")
        return 200, {}, EMPTY

    with fake_x({MENTIONS: mentions}) as fake:
        extra = f"bearer_token = test-bearer-token\napi_url = {fake.url}\npoll_interval = 1s"
        k = make_kanald(sources=x_source(mode="both", extra=extra), plugins=("twitter",)).start()
        # The webhook delivers T3 before the poll finds it ...
        status, _, body = post_event(k, "mention.json")
        assert status == 200 and json.loads(body) == {"seqs": [1]}
        go.set()
        recs = wait_feed(k, 2)
        # ... and the poll finds T10 before the webhook delivers it (late retry).
        late = v1_tweet(T[10], AYSE, "ayse_y", "Ayşe Yılmaz", "@marka kampanya kodu çalışmıyor",
                        reply=(T[1], BRAND), mentions=[(BRAND, "marka")])
        status, _, body = post_event(k, late)
        t10 = [r for r in recs if r["external_id"] == T[10]][0]
        assert status == 200 and json.loads(body) == {"seqs": [t10["seq"]]}
        fake.wait_requests(2)  # a later poll, with since_id, finds nothing new
        recs = k.feed()
        assert sorted(r["external_id"] for r in recs) == [T[3], T[10]]
        assert [r["kind"] for r in recs] == ["mention", "comment"]
        assert polls[1]["since_id"] == T[10]


# ---- sending ----

def sender_source(fake, extra=""):
    return x_source(extra=f"user_token = test-user-token\napi_url = {fake.url}\n{extra}")


def queue(k, **msg):
    body = {"source": "x-main", "text": "Merhaba!"}
    body.update(msg)
    status, r = k.api("/v1/messages", token=WRITE_TOKEN, method="POST", body=body)
    assert status == 202, r
    return r["id"]


def test_post_reply_and_dm_are_sent_and_recorded(make_kanald):
    def tweets(q):
        n = len([r for r in fake.requests if r.path == "/2/tweets"])
        return 201, {}, {"data": {"id": f"18000000000000000{n:02d}", "text": "..."}}

    def dm(q):
        return 201, {}, {"data": {"dm_conversation_id": f"{BRAND}-{AYSE}",
                                  "dm_event_id": "1900000000000000001"}}

    with fake_x({("POST", "/2/tweets"): tweets,
                 ("POST", f"/2/dm_conversations/with/{AYSE}/messages"): dm}) as fake:
        k = make_kanald(sources=sender_source(fake), plugins=("twitter",)).start()
        m_post = queue(k, to="x:public", text="Kış kampanyası yarın bitiyor!", campaign="kis")
        post = wait_message(k, m_post, ("sent", "failed"))
        m_reply = queue(k, to="x:public", reply_to=T[2], text="@ayse_y kod: KIS26")
        reply = wait_message(k, m_reply, ("sent", "failed"))
        m_dm = queue(k, to=f"x:{AYSE}", text="Merhaba Ayşe, siparişiniz yolda.")
        dmsg = wait_message(k, m_dm, ("sent", "failed"))
        m_brand = queue(k, to=f"x:{BRAND}", text="Teşekkürler!")
        brand_post = wait_message(k, m_brand, ("sent", "failed"))
        assert [m["status"] for m in (post, reply, dmsg, brand_post)] == ["sent"] * 4
        assert post["provider_id"] == "1800000000000000001"
        assert reply["provider_id"] == "1800000000000000002"
        assert dmsg["provider_id"] == "1900000000000000001"

        reqs = fake.requests
        assert [(r.method, r.path) for r in reqs] == [
            ("POST", "/2/tweets"), ("POST", "/2/tweets"),
            ("POST", f"/2/dm_conversations/with/{AYSE}/messages"), ("POST", "/2/tweets")]
        for r in reqs:
            assert r.headers["Authorization"] == "Bearer test-user-token"
            assert r.headers["Content-Type"] == "application/json"
        assert reqs[0].json() == {"text": "Kış kampanyası yarın bitiyor!"}
        assert reqs[1].json() == {"text": "@ayse_y kod: KIS26",
                                  "reply": {"in_reply_to_tweet_id": T[2]}}
        assert reqs[2].json() == {"text": "Merhaba Ayşe, siparişiniz yolda."}

        recs = by_id(k.feed())
        for r in recs.values():
            validate_record(r)
            assert r["direction"] == "outbound" and r["from"]["handle"] == f"x:{BRAND}"
            assert r["from"]["role"] == "brand"
        r = recs["1800000000000000001"]
        assert r["kind"] == "post" and r["campaign"] == "kis" and r["seq"] == post["seq"]
        assert r["meta"]["message_id"] == m_post and r["to"] == []
        r = recs["1800000000000000002"]
        assert r["kind"] == "comment" and r["reply_to"] == T[2]
        r = recs["1900000000000000001"]
        assert r["kind"] == "message" and handles(r["to"]) == [f"x:{AYSE}"]
        assert r["thread"] == f"{BRAND}-{AYSE}" and r["text"] == "Merhaba Ayşe, siparişiniz yolda."

        # X echoes the brand's own tweet to the webhook: the same record, not a second one.
        echo = v1_tweet("1800000000000000001", BRAND, "marka", "Marka A.Ş.",
                        "Kış kampanyası yarın bitiyor!")
        status, _, body = post_event(k, echo)
        assert status == 200 and json.loads(body) == {"seqs": [post["seq"]]}
        assert len(k.feed()) == 4


def test_send_429_waits_for_the_reset_and_401_marks_the_source_unhealthy(make_kanald):
    seen = []

    def tweets(q):
        seen.append(time.time())
        if len(seen) == 1:
            reset = int(time.time()) + 3
            seen.append(reset)
            return 429, {"x-rate-limit-reset": str(reset)}, {"title": "Too Many Requests",
                                                             "status": 429}
        if len(seen) == 3:
            return 201, {}, {"data": {"id": "1800000000000000042", "text": "..."}}
        return 401, {}, {"title": "Unauthorized", "type": "about:blank", "status": 401,
                         "detail": "Unauthorized"}

    with fake_x({("POST", "/2/tweets"): tweets}) as fake:
        k = make_kanald(sources=sender_source(fake), plugins=("twitter",)).start()
        mid = queue(k, to="x:public", text="ilk")
        m = wait_message(k, mid, ("sent", "failed"))
        assert m["status"] == "sent" and m["attempts"] == 2
        assert seen[2] >= seen[1], "retried before x-rate-limit-reset"
        status, health = k.api("/healthz")
        assert health["sources"]["x-main"]["status"] == "ok"

        mid = queue(k, to="x:public", text="ikinci")
        m = wait_message(k, mid, ("sent", "failed"))
        assert m["status"] == "failed" and m["attempts"] == 1 and "401" in m["reason"]
        time.sleep(0.5)
        assert len(fake.requests) == 3  # not retried
        status, health = k.api("/healthz")
        assert health["status"] == "degraded"
        assert health["sources"]["x-main"]["status"] == "unhealthy"
        assert "401" in health["sources"]["x-main"]["reason"]


def test_unsendable_messages_fail_with_a_reason(make_kanald):
    with fake_x({}) as fake:
        k = make_kanald(sources=sender_source(fake), plugins=("twitter",)).start()
        # A handle of another channel is refused when queued.
        status, r = k.api("/v1/messages", token=WRITE_TOKEN, method="POST",
                          body={"source": "x-main", "to": "email:a@example.com", "text": "x"})
        assert status == 400 and "only x: handles" in r["error"]["message"], r
        for to, extra, why in (("x:public", {"template": {"type": "reply"}, "text": "x"},
                                "reply needs reply_to"),
                               ("x:public", {"template": {"type": "dm"}, "text": "x"},
                                "DM needs")):
            mid = queue(k, to=to, **extra)
            m = wait_message(k, mid, ("sent", "failed"))
            assert m["status"] == "failed" and why in m["reason"], m
        assert fake.requests == []


def test_times_after_9999_are_stored_with_the_receipt_time(make_kanald):
    """A DM or tweet whose time kanal cannot write is stored as what it is,
    with the receipt time and X's value in meta.original_time."""
    k = make_kanald(sources=x_source(), plugins=("twitter",)).start()
    before = time.time() - 1
    for n, ms in enumerate((253402300800000, 300000000000000, 9223372036854775807)):
        dm = json.loads((FIX / "dm.json").read_text())
        dm["direct_message_events"] = dm["direct_message_events"][:1]
        dm["direct_message_events"][0].update(id=f"17000000000000009{n:02d}",
                                              created_timestamp=str(ms))
        mention = json.loads((FIX / "mention.json").read_text())
        event = mention["tweet_create_events"][0]
        event.update(id_str=f"16000000000000009{n:02d}", id=int(f"16000000000000009{n:02d}"),
                     timestamp_ms=str(ms))
        for payload in (dm, mention):
            status, _, body = post_event(k, payload)
            assert status == 200 and len(json.loads(body)["seqs"]) == 1, (ms, body)
    after = time.time() + 1
    recs = k.feed()
    assert [r["kind"] for r in recs] == ["message", "mention"] * 3
    for r in recs:
        validate_record(r)
        at = datetime.strptime(r["occurred_at"][:19], "%Y-%m-%dT%H:%M:%S")
        assert before <= at.replace(tzinfo=timezone.utc).timestamp() <= after, r
        assert r["meta"]["original_time"] in (253402300800000, 300000000000000,
                                              9223372036854775807), r
