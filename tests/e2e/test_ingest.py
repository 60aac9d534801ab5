# SPDX-License-Identifier: Apache-2.0
"""The webhook channel end to end: signed posts are committed before the
acknowledgement, redeliveries are recognised, bad signatures store nothing."""
import base64
import json

from kanal import message, sign, validate_record


def test_signed_post_is_stored_with_the_right_fields(kanald):
    rec = message("crm-1001", text="Siparişim nerede? 🙂", handle="email:Ayse.Yilmaz@Example.COM",
                  subject="Sipariş", thread="t-77",
                  to=[{"handle": "email:destek@marka.example", "role": "brand"}],
                  attachments=[{"type": "image", "url": "https://cdn.example/a.jpg",
                                "mime": "image/jpeg", "size": 1234}],
                  campaign="kasim-2026", meta={"form": "contact"})
    rec["from"]["name"] = "Ayşe Yılmaz"
    rec["from"]["handles"] = ["phone:0532 123 45 67"]
    status, _, body = kanald.post_hook(rec)
    assert status == 200
    assert json.loads(body) == {"seqs": [1]}
    [got] = kanald.feed()
    validate_record(got)
    assert got["seq"] == 1
    assert got["id"] == "hooks/message/crm-1001"
    assert got["source"] == "hooks" and got["channel"] == "webhook"
    assert got["kind"] == "message" and got["direction"] == "inbound"
    assert got["occurred_at"] == "2026-11-23T10:00:00.000Z"
    assert got["received_at"].endswith("Z") and len(got["received_at"]) == 24
    assert got["from"] == {"handle": "email:ayse.yilmaz@example.com", "name": "Ayşe Yılmaz",
                           "role": "customer",
                           "handles": ["email:ayse.yilmaz@example.com", "phone:+905321234567"]}
    assert got["to"][0]["role"] == "brand"
    assert got["text"] == "Siparişim nerede? 🙂"
    assert got["thread"] == "t-77" and got["campaign"] == "kasim-2026"
    assert got["attachments"] == rec["attachments"]
    assert got["meta"] == {"form": "contact"}
    assert "raw" not in got
    status, one = kanald.api("/v1/interactions/1")
    assert status == 200 and one == got


def test_bad_or_missing_signature_is_refused_and_nothing_stored(kanald):
    body = json.dumps(message("m1")).encode()
    assert kanald.post_hook(body, signature=False)[0] == 401
    assert kanald.post_hook(body, signature="sha256=" + "0" * 64)[0] == 401
    assert kanald.post_hook(body, secret="another-secret")[0] == 401
    tampered = body.replace(b"hello", b"hellO")
    assert kanald.post_hook(tampered, signature=sign(body))[0] == 401
    assert kanald.feed() == []
    status, _, _ = kanald.request("GET", "/hooks/hooks")
    assert status == 405


def test_redelivery_is_acknowledged_and_stored_once(kanald):
    for _ in range(3):
        status, _, body = kanald.post_hook(message("dup-1"))
        assert status == 200 and json.loads(body) == {"seqs": [1]}
    assert kanald.post_hook(message("dup-2"))[0] == 200
    assert [r["seq"] for r in kanald.feed()] == [1, 2]


def test_batch_is_one_commit_with_one_answer(kanald):
    batch = [message(f"b{i}") for i in range(50)]
    status, _, body = kanald.post_hook(batch)
    assert status == 200
    assert json.loads(body)["seqs"] == list(range(1, 51))
    recs = kanald.feed()
    assert [r["external_id"] for r in recs] == [f"b{i}" for i in range(50)]
    for r in recs:
        validate_record(r)


def test_authentic_but_malformed_is_stored_as_unknown(kanald):
    odd = {"kind": "teleport", "external_id": "x", "payload": [1, 2, 3]}
    status, _, body = kanald.post_hook(odd)
    assert status == 202
    assert json.loads(body)["stored_as"] == "unknown"
    not_json = b"<xml>not json</xml>"
    assert kanald.post_hook(not_json)[0] == 202
    assert kanald.post_hook(not_json)[0] == 202  # redelivered: still one record
    recs = kanald.feed()
    assert len(recs) == 2
    for r in recs:
        validate_record(r)
        assert r["kind"] == "unknown"
    assert recs[0]["raw"] == odd
    assert recs[1]["raw"] == "<xml>not json</xml>"
    kanald.wait_log(r"\[hooks\] emit refused: record 1 of 1: field 'payload' is not part of schema v1")


def test_authentic_empty_or_nul_bodies_are_stored_as_unknown(kanald):
    """Bodies tests/fuzz/fuzz_webhook found answered 503 (so the sender
    retries forever): an empty body, and bodies with a NUL byte, whose raw
    string would hold \\u0000, which kanald refuses.  Each is authentic, so
    it is stored as unknown (raw: the text, or base64 of the bytes)."""
    bodies = [b"", b"\x00", b"not json\x00after", b'{"kind":"message"}\x00',
              b"\xff\x00\xfe"]
    for body in bodies:
        status, _, answer = kanald.post_hook(body)
        assert status == 202, (body, answer)
        assert json.loads(answer)["stored_as"] == "unknown"
    recs = kanald.feed()
    assert [r["kind"] for r in recs] == ["unknown"] * len(bodies)
    for r, body in zip(recs, bodies):
        validate_record(r)
        raw = r["raw"]
        got = base64.b64decode(raw["base64"]) if isinstance(raw, dict) else raw.encode()
        assert got == body
    assert kanald.post_hook(b"x\x00y", signature="sha256=" + "0" * 64)[0] == 401
    assert len(kanald.feed()) == len(bodies)


def test_keep_raw_keeps_the_payload(make_kanald):
    from kanal import webhook_source
    k = make_kanald(sources=webhook_source(extra="keep_raw = yes")).start()
    rec = message("r1", raw={"provider": "payload"})
    assert k.post_hook(rec)[0] == 200
    assert k.feed()[0]["raw"] == {"provider": "payload"}


def test_feed_filters_and_paging(kanald):
    kanald.post_hook([message(f"a{i}") for i in range(5)])
    kanald.post_hook([message(f"k{i}", kind="comment") for i in range(3)])
    status, page = kanald.api("/v1/interactions?after=0&limit=2")
    assert [r["seq"] for r in page["interactions"]] == [1, 2]
    assert page["next"] == 2 and page["more"] is True
    status, page = kanald.api("/v1/interactions?after=2&kind=comment")
    assert [r["external_id"] for r in page["interactions"]] == ["k0", "k1", "k2"]
    assert page["more"] is False and page["next"] == 8
    assert kanald.feed(source="nosuch") == []
    assert len(kanald.feed(channel="webhook")) == 8
    assert kanald.api("/v1/interactions?limit=5000")[0] == 400
    assert kanald.api("/v1/interactions?after=-1")[0] == 400
    assert kanald.api("/v1/interactions/99")[0] == 404


def test_api_needs_a_token(kanald):
    assert kanald.api("/v1/interactions", token=None)[0] == 401
    assert kanald.api("/v1/interactions", token="wrong-token-0000000000")[0] == 401
    assert kanald.api("/v1/interactions", token="test-read-token-0123456789")[0] == 200
    status, _, body = kanald.request("GET", "/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"


def test_without_identity_records_are_stored_the_same(make_kanald):
    """identity = no: the records (serialized before the commit, the seq put
    in by the writer) read back exactly as with identity on, minus the
    contact, also across a restart and past seq 9, 99 and 999."""
    plain = make_kanald("plain", kanald="identity = no\n").start()
    full = make_kanald("full").start()
    recs = [message(f"m-{i}", text=f"merhaba \"{i}\" \\ 🙂", thread=f"t-{i % 7}",
                    meta={"n": i, "tags": ["a", "b"], "ok": True})
            for i in range(1005)]
    for k in (plain, full):
        for start in range(0, 1000, 200):
            status, _, body = k.post_hook(recs[start:start + 200])
            assert status == 200, body
        for r in recs[1000:]:
            status, _, body = k.post_hook(r)
            assert status == 200, body
        status, _, body = k.post_hook(recs[3])  # a redelivery
        assert status == 200 and json.loads(body) == {"seqs": [4]}
    plain.stop()
    plain.start()
    a, b = plain.feed(), full.feed()
    assert [r["seq"] for r in a] == list(range(1, 1006))
    validate_record(a[999])
    for x, y in zip(a, b):
        assert "contact" not in x and "contact" in y
        for r in (x, y):
            del r["received_at"]
        del y["contact"]
        assert x == y
    status, one = plain.api("/v1/interactions/1000")
    assert status == 200 and one["external_id"] == "m-999" and one["seq"] == 1000
