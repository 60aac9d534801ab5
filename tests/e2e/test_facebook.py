# SPDX-License-Identifier: Apache-2.0
"""The facebook plugin end to end: Messenger, the Page feed and Instagram
webhooks from fixtures/meta/ (Meta's documented shapes, serialised with
Meta's escapes), the handshake and signature, redeliveries and a batch of
1000 updates, and sends against a fake Graph API served by the test."""
import calendar
import json
import time

import pytest

from fakes import FakeProvider
from kanal import validate_record
from meta_helpers import (APP_SECRET, GRAPH_VERSION, T0, VERIFY_TOKEN, appsecret_proof, check,
                          fixture, graph_call, graph_error, handshake, iso, meta_sign,
                          meta_source, party, post_meta, queue, scrape_metric, source_state,
                          wait_message)

PAGE = "104857600123456"
PSID = "6021234567890123"
IG = "17841400000000001"
IGSID = "5612345678901234"
U_AYSE, U_MEHMET, U_SULE, U_GULSEN = ("100004567890123", "100009876543210", "100001112223334",
                                      "100005556667778")
POST = PAGE + "_555000111222333"
C1, C2, C3 = ("555000111222333_900000000000001", "555000111222333_900000000000002",
              "555000111222333_900000000000003")
MS = T0 * 1000
PAGE_TOKEN = "EAAGpage+token/with=specials"

CUSTOMER = party(f"fb:{PAGE}/{PSID}")
BRAND = party(f"fbpage:{PAGE}", role="brand")
AYSE = party(f"fbuser:{U_AYSE}", name="Ayşe Yılmaz")
MEHMET = party(f"fbuser:{U_MEHMET}", name="Mehmet Öztürk")
SULE = party(f"fbuser:{U_SULE}", name="Şule Çelik")


def fb_source(extra=""):
    return meta_source("fb", "facebook", extra)


@pytest.fixture
def fb(make_kanald):
    return make_kanald(sources=fb_source(), plugins=("facebook",)).start()


def post(k, body, signature=None):
    status, answer = post_meta(k, "fb", body, signature)
    assert status == 200, answer
    return answer


# ---- handshake and authenticity ----

def test_verification_handshake(fb):
    status, body = handshake(fb, "fb", **{"hub.mode": "subscribe", "hub.challenge": "1158201444",
                                          "hub.verify_token": VERIFY_TOKEN})
    assert status == 200 and body == b"1158201444"
    # The challenge comes back exactly as received, whatever it looks like.
    status, body = handshake(fb, "fb", **{"hub.mode": "subscribe", "hub.challenge": "x-00_7",
                                          "hub.verify_token": VERIFY_TOKEN})
    assert status == 200 and body == b"x-00_7"
    for params in ({"hub.mode": "subscribe", "hub.challenge": "1", "hub.verify_token": "wrong"},
                   {"hub.mode": "subscribe", "hub.challenge": "1",
                    "hub.verify_token": VERIFY_TOKEN + "x"},
                   {"hub.mode": "unsubscribe", "hub.challenge": "1",
                    "hub.verify_token": VERIFY_TOKEN},
                   {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN},
                   {}):
        status, body = handshake(fb, "fb", **params)
        assert status == 403, (params, body)
        assert b"1158201444" not in body
    assert fb.feed() == []
    assert "wrong hub.verify_token" in fb.log()


def test_unsigned_wrong_or_tampered_posts_are_refused(fb):
    body = fixture("fb_message_text")
    assert post_meta(fb, "fb", body, signature=False)[0] == 401
    assert post_meta(fb, "fb", body, signature="sha256=" + "0" * 64)[0] == 401
    assert post_meta(fb, "fb", body, signature=meta_sign(body, "another-app-secret"))[0] == 401
    assert post_meta(fb, "fb", body, signature=meta_sign(body)[7:])[0] == 401  # no "sha256="
    tampered = body.replace(b"nerede", b"NEREDE")
    assert post_meta(fb, "fb", tampered, signature=meta_sign(body))[0] == 401
    # The same JSON re-serialised (UTF-8 instead of Meta's \u escapes) is
    # other bytes: the signature of Meta's bytes does not cover it.
    reserialised = json.dumps(json.loads(body), ensure_ascii=False).encode()
    assert json.loads(reserialised) == json.loads(body)
    assert post_meta(fb, "fb", reserialised, signature=meta_sign(body))[0] == 401
    assert fb.feed() == []
    assert "missing X-Hub-Signature-256" in fb.log()
    assert "wrong X-Hub-Signature-256" in fb.log()
    # The genuine bytes with their signature pass.
    assert post(fb, body) == {"seqs": [1]}


def test_other_methods_are_refused(fb):
    status, headers, _ = fb.request("PUT", "/hooks/fb", b"{}")
    assert status == 405 and "POST" in headers["Allow"]


# ---- Messenger ----

def only(k):
    recs = k.feed()
    assert len(recs) == 1, recs
    return recs[0]


def test_messenger_text(fb):
    post(fb, "fb_message_text")
    check(only(fb), id="fb/message/m_AyseText001", source="fb", channel="facebook",
          kind="message", direction="inbound", external_id="m_AyseText001",
          occurred_at=iso(T0), thread=f"fb:{PAGE}/{PSID}", from_=CUSTOMER, to=[BRAND],
          text="Merhaba, siparişim nerede? Çok merak ediyorum 🙂", attachments=[], mentions=[],
          meta={}, reply_to=None, raw=None)


def test_messenger_attachments(fb):
    post(fb, "fb_message_attachments")
    check(only(fb), kind="message", direction="inbound", external_id="m_AyseMedia002",
          occurred_at=iso(T0 + 1), from_=CUSTOMER, text=None, attachments=[
              {"type": "image",
               "url": "https://scontent.xx.fbcdn.net/v/t1/fiş_foto.jpg?_nc_cat=1&oh=ab"},
              {"type": "audio", "url": "https://cdn.fbsbx.com/v/t59/sesli_mesaj.mp4?_nc_cat=2"},
              {"type": "video", "url": "https://video.xx.fbcdn.net/v/t42/kutu_açılışı.mp4"},
              {"type": "file", "url": "https://cdn.fbsbx.com/v/t59/fatura_şubat.pdf"}])


def test_messenger_quick_reply(fb):
    post(fb, "fb_quick_reply")
    check(only(fb), kind="message", external_id="m_AyseQuick003", text="Evet, iade istiyorum",
          meta={"quick_reply": {"payload": "IADE_EVET"}}, from_=CUSTOMER, to=[BRAND])


def test_messenger_postback(fb):
    post(fb, "fb_postback")
    check(only(fb), kind="message", direction="inbound", external_id="m_AysePostback004",
          text="Başlayalım", occurred_at=iso(T0 + 3),
          meta={"postback": {"title": "Başlayalım", "payload": "GET_STARTED"}}, from_=CUSTOMER)


def test_messenger_reply(fb):
    post(fb, "fb_reply")
    check(only(fb), kind="message", external_id="m_AyseReply005", reply_to="m_PageEcho100",
          text="Şu mesajı kastediyorum")


def test_messenger_reaction(fb):
    post(fb, "fb_reaction")
    check(only(fb), kind="reaction", direction="inbound",
          external_id=f"{PSID}:m_PageEcho100:react:{MS + 5000}", reply_to="m_PageEcho100",
          text="❤️", from_=CUSTOMER, to=[BRAND], thread=f"fb:{PAGE}/{PSID}",
          meta={"reaction": {"action": "react", "reaction": "love", "emoji": "❤️"}})


def test_messenger_echo_is_the_pages_outbound_message(fb):
    post(fb, "fb_echo")
    check(only(fb), kind="message", direction="outbound", external_id="m_PageEcho100",
          from_=BRAND, to=[CUSTOMER], occurred_at=iso(T0 + 60),
          text="Siparişiniz yarın kargoda, Ayşe Hanım. İyi günler!",
          meta={"echo": True, "app_id": 1517776481860111})


def test_delivery_and_read_name_the_messages_they_cover(fb):
    post(fb, "fb_echo")
    post(fb, "fb_delivery")
    post(fb, "fb_read")
    echo, delivery, read = fb.feed()
    check(delivery, kind="delivery", direction="inbound", status="delivered",
          external_id=f"{PSID}:{MS + 61000}", occurred_at=iso(T0 + 61.5), from_=CUSTOMER,
          to=[BRAND], meta={"watermark": MS + 61000, "covers": ["m_PageEcho100"]})
    check(read, kind="read", direction="inbound", status="read",
          external_id=f"{PSID}:{MS + 62000}", occurred_at=iso(T0 + 62.5),
          meta={"watermark": MS + 62000, "covers": ["m_PageEcho100"]})


def test_read_watermark_covers_only_what_was_sent_before_it(fb):
    def echo(mid, ms):
        return {"object": "page", "entry": [{"id": PAGE, "time": ms, "messaging": [
            {"sender": {"id": PAGE}, "recipient": {"id": PSID}, "timestamp": ms,
             "message": {"mid": mid, "is_echo": True, "text": "tamam"}}]}]}

    def read(watermark):
        return {"object": "page", "entry": [{"id": PAGE, "time": watermark, "messaging": [
            {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": watermark + 1,
             "read": {"watermark": watermark}}]}]}

    post(fb, echo("m_e1", MS + 1000))
    post(fb, echo("m_e2", MS + 3000))
    post(fb, read(MS + 2000))
    post(fb, read(MS + 4000))
    # A delivery without mids also takes them from what the page sent.
    post(fb, {"object": "page", "entry": [{"id": PAGE, "time": MS + 5000, "messaging": [
        {"sender": {"id": PSID}, "recipient": {"id": PAGE}, "timestamp": MS + 5000,
         "delivery": {"watermark": MS + 5000}}]}]})
    recs = fb.feed()
    assert [r["kind"] for r in recs] == ["message", "message", "read", "read", "delivery"]
    assert recs[2]["meta"]["covers"] == ["m_e1"]
    assert recs[3]["meta"]["covers"] == ["m_e2"]
    assert recs[4]["meta"]["covers"] == []  # both already read
    for r in recs:
        validate_record(r)


def test_unknown_messaging_event_is_kept_and_acknowledged(fb):
    answer = post(fb, "fb_unknown")
    assert answer == {"seqs": [1]}
    rec = only(fb)
    check(rec, kind="unknown", direction="inbound", channel="facebook",
          raw=json.loads(fixture("fb_unknown"))["entry"][0]["messaging"][0])
    assert rec["external_id"].startswith("unknown-") and "does not read" in rec["meta"]["reason"]
    post(fb, "fb_unknown")  # redelivered: recognised
    assert len(fb.feed()) == 1


def test_not_a_page_webhook_is_kept_as_unknown(fb):
    body = {"object": "user", "entry": [{"id": "1", "changed_fields": ["email"]}]}
    post(fb, body)
    check(only(fb), kind="unknown", raw=body)
    post(fb, b"not json at all")
    assert fb.feed()[1]["raw"] == "not json at all"


# ---- Page feed ----

def test_feed_visitor_post(fb):
    post(fb, "fb_feed_post")
    vpost = PAGE + "_777000111222333"
    check(only(fb), kind="post", direction="inbound", channel="facebook",
          external_id=f"{vpost}:status:add:{U_SULE}:{T0 + 100}", thread=vpost,
          occurred_at=iso(T0 + 100), from_=SULE, to=[BRAND], reply_to=None,
          text="Mağazanızdaki çalışanlar çok ilgiliydi, teşekkürler!",
          meta={"item": "status", "verb": "add", "post_id": vpost, "published": 1})


def test_feed_comment_on_the_pages_post(fb):
    post(fb, "fb_feed_comment")
    check(only(fb), kind="comment", direction="inbound",
          external_id=f"{C1}:comment:add:{U_AYSE}:{T0 + 300}", thread=POST, reply_to=POST,
          occurred_at=iso(T0 + 300), from_=AYSE, to=[BRAND],
          text="Bu kampanya İzmir şubesinde de geçerli mi?",
          meta={"item": "comment", "verb": "add", "post_id": POST, "comment_id": C1,
                "parent_id": POST})


def test_feed_reply_to_another_customers_comment_is_peer(fb):
    post(fb, "fb_feed_comment")
    post(fb, "fb_feed_peer_reply")
    _, reply = fb.feed()
    check(reply, kind="comment", direction="peer", from_=MEHMET, to=[AYSE], reply_to=C1,
          thread=POST, external_id=f"{C2}:comment:add:{U_MEHMET}:{T0 + 420}",
          text="Evet, Karşıyaka'da geçerliydi bence.")


def test_feed_peer_reply_within_one_batch(fb):
    one = json.loads(fixture("fb_feed_comment"))
    two = json.loads(fixture("fb_feed_peer_reply"))
    one["entry"][0]["changes"] += two["entry"][0]["changes"]
    post(fb, one)
    comment, reply = fb.feed()
    check(comment, direction="inbound", to=[BRAND])
    check(reply, direction="peer", from_=MEHMET, to=[AYSE])


def test_feed_reply_whose_parent_was_never_seen_is_inbound(fb):
    post(fb, "fb_feed_peer_reply")
    check(only(fb), kind="comment", direction="inbound", from_=MEHMET, to=[BRAND], reply_to=C1)


def test_feed_pages_own_comment_is_outbound(fb):
    post(fb, "fb_feed_comment")
    post(fb, "fb_feed_page_reply")
    _, reply = fb.feed()
    check(reply, kind="comment", direction="outbound",
          from_=party(f"fbpage:{PAGE}", role="brand", name="Kanal Kahve"), to=[AYSE],
          reply_to=C1, external_id=f"{C3}:comment:add:{PAGE}:{T0 + 480}",
          text="Merhaba Ayşe Hanım, İzmir'deki tüm şubelerimizde geçerli.")


def test_feed_edited_hidden_and_removed_comments(fb):
    post(fb, "fb_feed_verbs")
    edited, hidden, removed = fb.feed()
    check(edited, kind="comment", direction="inbound", from_=AYSE,
          external_id=f"{C1}:comment:edited:{U_AYSE}:{T0 + 540}",
          text="Bu kampanya İzmir ve Manisa şubelerinde de geçerli mi?",
          meta={"item": "comment", "verb": "edited", "post_id": POST, "comment_id": C1,
                "parent_id": POST})
    check(hidden, kind="comment", from_=MEHMET, external_id=f"{C2}:comment:hide:{U_MEHMET}:"
          f"{T0 + 560}", text=None)
    assert hidden["meta"]["verb"] == "hide"
    check(removed, kind="comment", external_id=f"{C1}:comment:remove:{U_AYSE}:{T0 + 580}")
    assert removed["meta"]["verb"] == "remove"


def test_feed_reactions_added_and_removed(fb):
    post(fb, "fb_feed_comment")
    post(fb, "fb_feed_reaction")
    _, love, haha, gone = fb.feed()
    check(love, kind="reaction", direction="inbound", from_=SULE, to=[BRAND], reply_to=POST,
          thread=POST, external_id=f"{POST}:reaction:add:{U_SULE}:{T0 + 500}",
          meta={"item": "reaction", "verb": "add", "post_id": POST, "parent_id": PAGE,
                "reaction_type": "love"})
    # A reaction to another customer's comment is customer to customer too.
    check(haha, kind="reaction", direction="peer", from_=MEHMET, to=[AYSE], reply_to=C1)
    assert haha["meta"]["reaction_type"] == "haha"
    check(gone, kind="reaction", external_id=f"{POST}:reaction:remove:{U_SULE}:{T0 + 520}")
    assert gone["meta"]["verb"] == "remove"


def test_feed_share(fb):
    post(fb, "fb_feed_share")
    shared = U_MEHMET + "_888000111222333"
    check(only(fb), kind="share", direction="inbound", from_=MEHMET, to=[BRAND], thread=shared,
          external_id=f"{shared}:share:add:{U_MEHMET}:{T0 + 700}",
          text="Arkadaşlar bu kampanyayı kaçırmayın!",
          meta={"item": "share", "verb": "add", "post_id": shared, "share_id": "888000111222333",
                "link": "https://kanal.example/kampanya?ref=paylaşım", "published": 1})


def test_page_mentions_in_both_shapes(fb):
    post(fb, "fb_mention")
    on_post, in_comment = fb.feed()
    gpost = U_GULSEN + "_999000111222333"
    check(on_post, kind="mention", direction="inbound",
          from_=party(f"fbuser:{U_GULSEN}", name="Gülşen Doğan"), to=[BRAND], thread=gpost,
          external_id=f"{gpost}:mention:add:{U_GULSEN}:{T0 + 800}",
          meta={"item": "post", "verb": "add", "post_id": gpost})
    check(in_comment, kind="mention", from_=SULE, thread=gpost,
          text="@Kanal Kahve burası çok güzel",
          external_id=f"999000111222333_123:mention:add:{U_SULE}:{T0 + 810}")


def test_feed_field_kanal_does_not_read_is_unknown(fb):
    post(fb, "fb_feed_unknown")
    rec = only(fb)
    check(rec, kind="unknown", channel="facebook",
          raw=json.loads(fixture("fb_feed_unknown"))["entry"][0]["changes"][0])
    assert "ratings" in rec["meta"]["reason"]


# ---- Instagram ----

def test_instagram_message(fb):
    post(fb, "ig_message")
    check(only(fb), channel="instagram", kind="message", direction="inbound",
          external_id="aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDAw",
          from_=party(f"ig:{IGSID}"), to=[party(f"ig:{IG}", role="brand")],
          thread=f"ig:{IGSID}", text="Fiyat listesi alabilir miyim? Teşekkürler 🙏",
          occurred_at=iso(T0 + 0.8))


def test_instagram_comments_and_a_peer_reply(fb):
    post(fb, "ig_comment")  # this fixture is raw UTF-8, not escaped
    post(fb, "ig_comment_peer")
    first, reply = fb.feed()
    ayse = party("ig:17841455555555555", name="ayse.yilmaz")
    check(first, channel="instagram", kind="comment", direction="inbound",
          external_id="17850000000000001", from_=ayse, to=[party(f"ig:{IG}", role="brand")],
          thread="17900000000000001", reply_to="17900000000000001",
          occurred_at=iso(T0 + 900), text="Bu renk stokta var mı? 😍",
          meta={"field": "comments", "comment_id": "17850000000000001",
                "media_id": "17900000000000001", "media_product_type": "FEED"})
    check(reply, channel="instagram", kind="comment", direction="peer",
          from_=party("ig:17841466666666666", name="mehmet.ozturk"), to=[ayse],
          reply_to="17850000000000001", text="Dün mağazada gördüm, vardı 👍")


# ---- redelivery and batches ----

def test_the_same_payload_three_times_is_one_record(fb):
    answers = [post(fb, "fb_message_text") for _ in range(3)]
    assert answers == [{"seqs": [1]}] * 3
    assert len(fb.feed()) == 1
    status, sources = fb.api("/v1/sources")
    s = source_state(fb, "fb")
    assert s["duplicates"] == 2 and s["records"] == 1


def batch(n_entries, per_entry, base_ms=MS):
    entries = []
    for e in range(n_entries):
        events = []
        for i in range(per_entry):
            n = e * per_entry + i
            events.append({"sender": {"id": f"60{n:014d}"}, "recipient": {"id": PAGE},
                           "timestamp": base_ms + n,
                           "message": {"mid": f"m_batch_{n:04d}", "text": f"Mesaj {n} — ğüşiöç"}})
        entries.append({"id": PAGE, "time": base_ms + 5000, "messaging": events})
    return {"object": "page", "entry": entries}


def test_a_batch_of_1000_updates_is_one_commit(fb):
    body = json.dumps(batch(10, 100), ensure_ascii=True).encode()
    commits = scrape_metric(fb, "kanal_commit_batch_records_count")
    committed = scrape_metric(fb, "kanal_commit_batch_records_sum")
    answer = post(fb, body)
    assert answer["seqs"] == list(range(1, 1001))
    assert scrape_metric(fb, "kanal_commit_batch_records_count") == commits + 1
    assert scrape_metric(fb, "kanal_commit_batch_records_sum") == committed + 1000
    recs = fb.feed()
    assert len(recs) == 1000
    assert [r["external_id"] for r in recs] == [f"m_batch_{n:04d}" for n in range(1000)]
    for r in recs[::97]:
        validate_record(r)
    # Redelivered whole: the same seqs, nothing new.
    assert post(fb, body)["seqs"] == list(range(1, 1001))
    assert len(fb.feed()) == 1000


# ---- sending ----

def send_source(fake, extra=""):
    return fb_source(f"api_url = {fake.url}\npage_id = {PAGE}\npage_access_token = {PAGE_TOKEN}\n"
                     f"{extra}")


def open_window(k, age_s=60, psid=PSID):
    """The customer wrote age_s seconds ago."""
    ms = int((time.time() - age_s) * 1000)
    post(k, {"object": "page", "entry": [{"id": PAGE, "time": ms, "messaging": [
        {"sender": {"id": psid}, "recipient": {"id": PAGE}, "timestamp": ms,
         "message": {"mid": f"m_in_{ms}", "text": "Merhaba"}}]}]})


def sent_ok(mid="m_sent_1"):
    return (200, {}, {"recipient_id": PSID, "message_id": mid})


def test_send_within_the_window(make_kanald):
    with FakeProvider([sent_ok("m_sent_1")]) as fake:
        k = make_kanald(sources=send_source(fake), plugins=("facebook",)).start()
        open_window(k)
        status, r = queue(k, source="fb", to=f"fb:{PAGE}/{PSID}", text="Merhaba Ayşe Hanım, "
                          "siparişiniz yolda 🚚", campaign="kasim", reply_to="m_in_1")
        assert status == 202, r
        m = wait_message(k, r["id"], ("sent", "failed"))
        assert m["status"] == "sent" and m["provider_id"] == "m_sent_1", m
        [req] = fake.requests
        path, query, body = graph_call(req)
        assert req.method == "POST"
        assert path == f"/{GRAPH_VERSION}/{PAGE}/messages"
        assert query == {"access_token": PAGE_TOKEN,
                         "appsecret_proof": appsecret_proof(PAGE_TOKEN)}
        assert "Authorization" not in req.headers
        assert req.headers["Content-Type"] == "application/json"
        assert body == {"recipient": {"id": PSID}, "messaging_type": "RESPONSE",
                        "message": {"text": "Merhaba Ayşe Hanım, siparişiniz yolda 🚚"}}
        out = k.feed()[-1]
        check(out, kind="message", direction="outbound", channel="facebook",
              external_id="m_sent_1", from_=BRAND, to=[CUSTOMER], thread=f"fb:{PAGE}/{PSID}",
              text="Merhaba Ayşe Hanım, siparişiniz yolda 🚚", campaign="kasim",
              reply_to="m_in_1", seq=m["seq"])
        assert out["meta"]["message_id"] == r["id"]
        # The page's echo of the same message is recognised, not stored twice.
        post(k, {"object": "page", "entry": [{"id": PAGE, "time": MS, "messaging": [
            {"sender": {"id": PAGE}, "recipient": {"id": PSID}, "timestamp": MS,
             "message": {"mid": "m_sent_1", "is_echo": True, "text": "..."}}]}]})
        assert len(k.feed()) == 2


def test_send_to_a_bare_psid_and_to_instagram(make_kanald):
    with FakeProvider([sent_ok("m_a"), sent_ok("m_b")]) as fake:
        k = make_kanald(sources=send_source(fake, "api_version = 25.0"),
                        plugins=("facebook",)).start()
        open_window(k)
        ms = int(time.time() * 1000)
        post(k, {"object": "instagram", "entry": [{"id": IG, "time": ms, "messaging": [
            {"sender": {"id": IGSID}, "recipient": {"id": IG}, "timestamp": ms,
             "message": {"mid": "ig_in_1", "text": "Selam"}}]}]})
        a = queue(k, source="fb", to=PSID, text="bir")[1]
        assert wait_message(k, a["id"], ("sent", "failed"))["status"] == "sent"
        b = queue(k, source="fb", to=f"ig:{IGSID}", text="iki")[1]
        assert wait_message(k, b["id"], ("sent", "failed"))["status"] == "sent"
        assert graph_call(fake.requests[0])[2]["recipient"] == {"id": PSID}
        path, _, body = graph_call(fake.requests[1])
        assert path == f"/v25.0/{PAGE}/messages" and body["recipient"] == {"id": IGSID}
        out = k.feed()[-1]
        check(out, channel="instagram", direction="outbound", external_id="m_b",
              from_=party(f"ig:{IG}", role="brand"), to=[party(f"ig:{IGSID}")])


@pytest.mark.parametrize("age_s", [None, 25 * 3600])
def test_send_outside_the_window_fails_before_calling_meta(make_kanald, age_s):
    with FakeProvider([sent_ok()]) as fake:
        k = make_kanald(sources=send_source(fake), plugins=("facebook",)).start()
        if age_s:
            open_window(k, age_s=age_s)
        status, r = queue(k, source="fb", to=f"fb:{PAGE}/{PSID}", text="Merhaba")
        m = wait_message(k, r["id"], ("sent", "failed"))
        assert m["status"] == "failed" and m["attempts"] == 1
        assert m["reason"] == "outside the 24h customer-service window; use a template"
        time.sleep(0.3)
        assert fake.requests == []


def test_send_needs_a_token_and_a_known_recipient(make_kanald):
    k = make_kanald(sources=fb_source(), plugins=("facebook",)).start()
    r = queue(k, source="fb", to=f"fb:{PAGE}/{PSID}", text="x")[1]
    assert "page_access_token" in wait_message(k, r["id"], ("failed",))["reason"]
    with FakeProvider() as fake:
        k2 = make_kanald("k2", sources=send_source(fake), plugins=("facebook",)).start()
        r = queue(k2, source="fb", to="fb:999/123", text="x")[1]
        assert "page 999" in wait_message(k2, r["id"], ("failed",))["reason"]
        status, r = queue(k2, source="fb", to="email:a@b.example", text="x")
        assert status == 400 and "only fb: or ig: handles" in r["error"]["message"], r
        assert fake.requests == []


@pytest.mark.parametrize("code", [4, 17, 32, 613, 2])
def test_rate_limits_and_temporary_errors_are_retried(make_kanald, code):
    with FakeProvider([graph_error(code, "(#%d) slow down" % code), sent_ok("m_late")]) as fake:
        k = make_kanald(sources=send_source(fake), plugins=("facebook",)).start()
        open_window(k)
        r = queue(k, source="fb", to=f"fb:{PAGE}/{PSID}", text="tekrar dene")[1]
        m = wait_message(k, r["id"], ("sent", "failed"))
        assert m["status"] == "sent" and m["attempts"] == 2 and m["provider_id"] == "m_late"
        assert len(fake.requests) == 2
        assert f"Graph error {code}" in k.log()


@pytest.mark.parametrize("header,value,at_least_s", [
    ("X-Business-Use-Case-Usage",
     json.dumps({PAGE: [{"type": "pages", "call_count": 100, "total_cputime": 12,
                         "total_time": 30, "estimated_time_to_regain_access": 2}]}), 115),
    ("X-App-Usage", json.dumps({"call_count": 100, "total_time": 40, "total_cputime": 20}), 280),
])
def test_rate_limit_waits_as_long_as_the_usage_headers_say(make_kanald, header, value,
                                                           at_least_s):
    with FakeProvider([graph_error(32, "(#32) Page request limit reached",
                                   headers={header: value})]) as fake:
        k = make_kanald(sources=send_source(fake), plugins=("facebook",)).start()
        open_window(k)
        before = time.time()
        r = queue(k, source="fb", to=f"fb:{PAGE}/{PSID}", text="bekle")[1]
        fake.wait_requests(1)
        deadline = time.monotonic() + 60
        while True:  # until the refusal is recorded
            m = wait_message(k, r["id"], ("queued", "failed"))
            if m.get("last_error") or m["status"] == "failed" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert m["status"] == "queued" and m["attempts"] == 1, m
        assert "Graph error 32" in m["last_error"]
        next_try = calendar.timegm(time.strptime(m["next_try_at"][:19], "%Y-%m-%dT%H:%M:%S"))
        assert next_try - before >= at_least_s, m


@pytest.mark.parametrize("code", [190, 200, 230])
def test_bad_token_or_permission_fails_and_marks_the_source_unhealthy(make_kanald, code):
    with FakeProvider([graph_error(code, "Error validating access token", subcode=463,
                                   status=400 if code != 190 else 401)]) as fake:
        k = make_kanald(sources=send_source(fake), plugins=("facebook",)).start()
        open_window(k)
        assert source_state(k, "fb")["healthy"] is True
        r = queue(k, source="fb", to=f"fb:{PAGE}/{PSID}", text="x")[1]
        m = wait_message(k, r["id"], ("sent", "failed"))
        assert m["status"] == "failed" and m["attempts"] == 1
        assert f"Graph error {code}" in m["reason"]
        s = source_state(k, "fb")
        assert s["healthy"] is False and f"Graph error {code}" in s["reason"]
        assert PAGE_TOKEN not in k.log()
        time.sleep(0.3)
        assert len(fake.requests) == 1


def test_source_is_healthy_again_after_a_send_succeeds(make_kanald):
    with FakeProvider([graph_error(190, "expired"), sent_ok("m_ok")]) as fake:
        k = make_kanald(sources=send_source(fake), plugins=("facebook",)).start()
        open_window(k)
        r = queue(k, source="fb", to=f"fb:{PAGE}/{PSID}", text="x")[1]
        wait_message(k, r["id"], ("failed",))
        assert source_state(k, "fb")["healthy"] is False
        r = queue(k, source="fb", to=f"fb:{PAGE}/{PSID}", text="y")[1]
        assert wait_message(k, r["id"], ("sent",))["provider_id"] == "m_ok"
        assert source_state(k, "fb")["healthy"] is True
        assert len(fake.requests) == 2


def test_person_unavailable_is_permanent(make_kanald):
    with FakeProvider([graph_error(551, "This person isn't available right now.")]) as fake:
        k = make_kanald(sources=send_source(fake), plugins=("facebook",)).start()
        open_window(k)
        r = queue(k, source="fb", to=f"fb:{PAGE}/{PSID}", text="x")[1]
        m = wait_message(k, r["id"], ("sent", "failed"))
        assert m["status"] == "failed" and m["attempts"] == 1 and "551" in m["reason"]
        assert source_state(k, "fb")["healthy"] is True
        time.sleep(0.3)
        assert len(fake.requests) == 1


def test_server_errors_and_network_errors_are_retried(make_kanald):
    with FakeProvider([(503, {}, b"<html>upstream</html>"), sent_ok("m_after_503")]) as fake:
        k = make_kanald(sources=send_source(fake), plugins=("facebook",)).start()
        open_window(k)
        r = queue(k, source="fb", to=f"fb:{PAGE}/{PSID}", text="x")[1]
        m = wait_message(k, r["id"], ("sent", "failed"))
        assert m["status"] == "sent" and m["attempts"] == 2
    k2 = make_kanald("k2", sources=fb_source(f"api_url = http://127.0.0.1:9\npage_id = {PAGE}\n"
                                             f"page_access_token = {PAGE_TOKEN}\n"
                                             "send_max_attempts = 2"),
                     plugins=("facebook",)).start()
    open_window(k2)
    r = queue(k2, source="fb", to=f"fb:{PAGE}/{PSID}", text="x")[1]
    m = wait_message(k2, r["id"], ("failed",))
    assert m["attempts"] == 2 and "gave up after 2 attempts" in m["reason"]


def test_config_is_checked(make_kanald):
    k = make_kanald(sources=fb_source("api_version = latest"), plugins=("facebook",)).start()
    k.wait_log(r"api_version 'latest' is not a Graph API version", timeout=30)
    assert post_meta(k, "fb", "fb_message_text")[0] == 404  # the source was refused
    k2 = make_kanald("k2", sources=fb_source("api_version = 25.0"), plugins=("facebook",))
    k2.start()
    assert post_meta(k2, "fb", "fb_message_text")[0] == 200


def test_unrepresentable_timestamps_are_stored_with_the_entrys_or_receipt_time(fb):
    """A messaging event or feed change whose time kanal cannot write is
    stored with the entry's time (else the receipt time), and the sender's
    value in meta.original_time; nothing is dropped."""
    from meta_helpers import UNREPRESENTABLE_TIMES, parse_iso
    entry_time = 1795424400900
    before = time.time() - 1
    for n, ts in enumerate(UNREPRESENTABLE_TIMES):
        body = json.loads(fixture("fb_message_text"))
        ev = body["entry"][0]["messaging"][0]
        ev["timestamp"], ev["message"]["mid"] = ts, f"m_BadTime{n}"
        assert len(post(fb, json.dumps(body).encode())["seqs"]) == 1, ts
        # The entry's time is unreadable as well: the receipt time.
        body["entry"][0]["time"], ev["message"]["mid"] = ts, f"m_BadTimes{n}"
        assert len(post(fb, json.dumps(body).encode())["seqs"]) == 1, ts
        feed = json.loads(fixture("fb_feed_comment"))
        value = feed["entry"][0]["changes"][0]["value"]
        value["created_time"], value["comment_id"] = ts, f"555000111222333_9{n:014d}"
        assert len(post(fb, json.dumps(feed).encode())["seqs"]) == 1, ts
    after = time.time() + 1
    recs = fb.feed()
    assert len(recs) == 3 * len(UNREPRESENTABLE_TIMES)
    for i, ts in enumerate(UNREPRESENTABLE_TIMES):
        msg, msg_now, comment = recs[3 * i:3 * i + 3]
        for r in (msg, msg_now, comment):
            validate_record(r)
            assert r["meta"]["original_time"] == ts, (ts, r)
        assert msg["occurred_at"] == iso(entry_time / 1000), ts
        assert before <= parse_iso(msg_now["occurred_at"]) <= after, ts
        assert comment["occurred_at"] == iso(1795425000), ts
