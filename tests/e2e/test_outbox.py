# SPDX-License-Identifier: Apache-2.0
"""The outbox: POST /v1/messages is queued durably, sent through the
source's plugin over the host's async transfers, retried with the provider's
hint or backoff, and recorded as an outbound record once sent."""
import hashlib
import hmac
import json
import threading
import time

import pytest

from fakes import FakeProvider
from kanal import wait_message as wait_status, WEBHOOK_SECRET, WRITE_TOKEN, validate_record, webhook_source


def sender(k_factory, fake, extra=""):
    return k_factory(sources=webhook_source(extra=f"send_url = {fake.url}/send\n{extra}"))


def queue(k, token=WRITE_TOKEN, **msg):
    body = {"source": "hooks", "to": "email:ayse@example.com", "text": "Merhaba!"}
    body.update(msg)
    return k.api("/v1/messages", token=token, method="POST", body=body)




def test_sent_through_the_provider_after_two_rate_limits(make_kanald):
    script = [(429, {"Retry-After": "1"}, {"error": {"message": "slow down"}}),
              (429, {"Retry-After": "1"}, {"error": {"message": "slow down"}}),
              (200, {}, {"id": "prov-77"})]
    with FakeProvider(script) as fake:
        k = sender(make_kanald, fake).start()
        status, r = queue(k, campaign="kasim", reply_to="in-1")
        assert status == 202 and r["status"] == "queued"
        m = wait_status(k, r["id"], ("sent", "failed"))
        assert m["status"] == "sent" and m["provider_id"] == "prov-77" and m["attempts"] == 3
        reqs = fake.wait_requests(3)
        assert len(reqs) == 3
        # The waits honour Retry-After (at least one second each).
        assert reqs[1].at - reqs[0].at >= 0.95 and reqs[2].at - reqs[1].at >= 0.95
        # What the provider received: method, path, signature, idempotency key, body.
        for req in reqs:
            assert req.method == "POST" and req.path == "/send"
            expect = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), req.body,
                                          hashlib.sha256).hexdigest()
            assert req.headers["X-Kanal-Signature"] == expect
            assert req.headers["Idempotency-Key"] == r["id"]
        body = reqs[2].json()
        assert body["to"] == "email:ayse@example.com" and body["text"] == "Merhaba!"
        assert body["campaign"] == "kasim" and body["attempt"] == 3
        recs = k.feed()
        assert len(recs) == 1
        rec = recs[0]
        validate_record(rec)
        assert rec["seq"] == m["seq"]
        assert (rec["kind"], rec["direction"], rec["external_id"]) == ("message", "outbound",
                                                                      "prov-77")
        assert rec["campaign"] == "kasim" and rec["reply_to"] == "in-1"
        assert rec["to"][0]["handle"] == "email:ayse@example.com"
        assert rec["meta"]["message_id"] == r["id"]


def test_permanent_failure_is_not_retried(make_kanald):
    with FakeProvider([(400, {}, {"error": {"message": "recipient unknown"}})]) as fake:
        k = sender(make_kanald, fake).start()
        status, r = queue(k)
        m = wait_status(k, r["id"], ("sent", "failed"))
        assert m["status"] == "failed" and m["attempts"] == 1
        assert "recipient unknown" in m["reason"]
        time.sleep(1.5)
        assert len(fake.requests) == 1
        assert k.feed() == []


def test_repeated_idempotency_key_is_one_message(make_kanald):
    with FakeProvider(default=(200, {}, {"id": "p1"})) as fake:
        k = sender(make_kanald, fake).start()
        s1, r1 = queue(k, idempotency_key="crm-42")
        s2, r2 = queue(k, idempotency_key="crm-42")
        assert s1 == s2 == 202 and r1["id"] == r2["id"]
        wait_status(k, r1["id"], ("sent",))
        s3, r3 = queue(k, idempotency_key="crm-42")
        assert r3["id"] == r1["id"] and r3["status"] == "sent"
        time.sleep(0.5)
        assert len(fake.requests) == 1
        assert fake.requests[0].headers["Idempotency-Key"] == "crm-42"
        assert len(k.feed()) == 1


def test_gives_up_after_send_max_attempts(make_kanald):
    with FakeProvider(default=(500, {}, b"oops")) as fake:
        k = sender(make_kanald, fake, "send_max_attempts = 2").start()
        status, r = queue(k)
        m = wait_status(k, r["id"], ("failed",), timeout=30)
        assert m["attempts"] == 2 and "gave up after 2 attempts" in m["reason"]
        assert len(fake.requests) == 2


def test_a_timeout_is_retried(make_kanald):
    calls = []

    def answer(req):
        calls.append(req)
        if len(calls) == 1:
            time.sleep(4)  # far longer than send_timeout
        return (200, {}, {"id": f"p{len(calls)}"})

    with FakeProvider() as fake:
        fake.answer = answer
        k = sender(make_kanald, fake, "send_timeout = 1s").start()
        status, r = queue(k)
        m = wait_status(k, r["id"], ("sent", "failed"), timeout=30)
        assert m["status"] == "sent" and m["attempts"] >= 2
        assert "imeout" in k.log()


def test_api_validation_and_scopes(make_kanald):
    with FakeProvider() as fake:
        k = sender(make_kanald, fake).start()
        from kanal import READ_TOKEN
        assert queue(k, token=READ_TOKEN)[0] == 403
        assert queue(k, token=None)[0] == 401
        assert queue(k, source="nosuch")[0] == 422
        assert queue(k, to="")[0] == 400
        assert queue(k, text=None)[0] == 400
        assert queue(k, colour="red")[0] == 400
        assert k.api("/v1/messages/m999")[0] == 404


def test_concurrent_sends_and_rate_limit(make_kanald):
    # The provider holds each request until a second one is in flight (or 5 s
    # pass), so sends that were not concurrent would show up as max 1.
    second = threading.Event()

    def answer(req):
        if fake.inflight >= 2:
            second.set()
        second.wait(5)
        return (200, {}, b"{}")

    with FakeProvider() as fake:
        fake.answer = answer
        k = sender(make_kanald, fake, "send_concurrency = 5").start()
        ids = [queue(k, text=f"n{i}")[1]["id"] for i in range(10)]
        for mid in ids:
            wait_status(k, mid, ("sent",))
        assert fake.max_inflight > 1, "transfers ran one at a time"
        assert fake.max_inflight <= 5
    with FakeProvider(default=(200, {}, b"{}")) as fake:
        k = make_kanald("rate", sources=webhook_source(
            extra=f"send_url = {fake.url}/send\nsend_rate = 2")).start()
        t0 = time.monotonic()
        ids = [queue(k, text=f"r{i}")[1]["id"] for i in range(6)]
        for mid in ids:
            wait_status(k, mid, ("sent",))
        # 2 per second with a bucket of 2: the sixth send cannot go before 2 s.
        assert fake.requests[-1].at - t0 >= 1.9


def test_crash_while_queued_and_in_flight(make_kanald):
    sent_ids = {}
    lock = threading.Lock()

    def answer(req):
        key = req.headers["Idempotency-Key"]
        with lock:  # a provider that honours idempotency keys
            pid = sent_ids.setdefault(key, f"prov-{len(sent_ids) + 1}")
        return (200, {}, {"id": pid})

    with FakeProvider(delay=0.4) as fake:
        fake.answer = answer
        k = sender(make_kanald, fake, "send_concurrency = 2").start()
        ids = [queue(k, text=f"c{i}")[1]["id"] for i in range(8)]
        fake.wait_requests(2)
        k.kill()
        k.start()
        finals = {mid: wait_status(k, mid, ("sent", "failed")) for mid in ids}
    assert all(m["status"] == "sent" for m in finals.values()), finals
    recs = k.feed()
    by_message = {}
    for r in recs:
        by_message.setdefault(r["meta"]["message_id"], []).append(r)
    assert sorted(by_message) == sorted(ids)
    assert all(len(v) == 1 for v in by_message.values())
    assert [r["seq"] for r in recs] == list(range(1, len(recs) + 1))
