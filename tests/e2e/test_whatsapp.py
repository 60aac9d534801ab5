# SPDX-License-Identifier: Apache-2.0
"""The whatsapp plugin end to end: Cloud API webhooks from fixtures/meta/
(Meta's documented shapes, serialised with Meta's escapes), the handshake
and signature, statuses applied monotonically, redeliveries and a batch of
1000 updates, and sends (text, replies, templates) against a fake Graph API
served by the test."""
import json
import time

import pytest

from fakes import FakeProvider
from kanal import validate_record
from meta_helpers import (GRAPH_VERSION, T0, VERIFY_TOKEN, appsecret_proof, check, fixture,
                          graph_call, graph_error, handshake, iso, meta_sign, meta_source, party,
                          post_meta, queue, scrape_metric, source_state, wait_message)

WABA, PNID, DISPLAY = "102290129340398", "106540352242922", "905551112233"
WA_AYSE, WA_MEHMET, WA_NEW = "905321234567", "905339876543", "905441234567"
TOKEN = "EAAWtest+system/user=token"

# WhatsApp pairs a wa_id with its number itself: the customer's party is
# verified evidence (docs/identity.md).
AYSE = party(f"wa:{WA_AYSE}", name="Ayşe Yılmaz", handles=[f"wa:{WA_AYSE}", f"phone:+{WA_AYSE}"],
             trust="verified")
BRAND = party(f"wa:{DISPLAY}", role="brand", handles=[f"wa:{DISPLAY}", f"phone:+{DISPLAY}"])
THREAD = f"wa:{WA_AYSE}"


def wamid(n):
    return f"wamid.HBgMOTA1MzIxMjM0NTY3FQIAEhgg{n:04d}"


def wa_source(extra=""):
    return meta_source("wa", "whatsapp", extra)


@pytest.fixture
def wa(make_kanald):
    return make_kanald(sources=wa_source(), plugins=("whatsapp",)).start()


def post(k, body, signature=None):
    status, answer = post_meta(k, "wa", body, signature)
    assert status == 200, answer
    return answer


def only(k):
    recs = k.feed()
    assert len(recs) == 1, recs
    return recs[0]


# ---- handshake and authenticity ----

def test_verification_handshake(wa):
    status, body = handshake(wa, "wa", **{"hub.mode": "subscribe", "hub.challenge": "987654321",
                                          "hub.verify_token": VERIFY_TOKEN})
    assert status == 200 and body == b"987654321"
    status, _ = handshake(wa, "wa", **{"hub.mode": "subscribe", "hub.challenge": "987654321",
                                       "hub.verify_token": "kanal-verify"})
    assert status == 403
    assert wa.feed() == []


def test_unsigned_wrong_or_tampered_posts_are_refused(wa):
    body = fixture("wa_text")
    assert post_meta(wa, "wa", body, signature=False)[0] == 401
    assert post_meta(wa, "wa", body, signature="sha256=" + "f" * 64)[0] == 401
    assert post_meta(wa, "wa", body, signature=meta_sign(body, "not-the-app-secret"))[0] == 401
    tampered = body.replace(b"4711", b"4712")
    assert post_meta(wa, "wa", tampered, signature=meta_sign(body))[0] == 401
    reserialised = json.dumps(json.loads(body), ensure_ascii=False, separators=(",", ":"))
    assert post_meta(wa, "wa", reserialised.encode(), signature=meta_sign(body))[0] == 401
    assert wa.feed() == []
    # Upper-case hex of the right MAC is the same signature.
    assert post_meta(wa, "wa", body, signature="sha256=" + meta_sign(body)[7:].upper())[0] == 200


# ---- messages ----

def test_text_with_the_senders_name_and_handles(wa):
    assert post(wa, "wa_text") == {"seqs": [1]}
    check(only(wa), id=f"wa/message/{wamid(1)}", source="wa", channel="whatsapp",
          kind="message", direction="inbound", external_id=wamid(1), occurred_at=iso(T0),
          thread=THREAD, from_=AYSE, to=[BRAND], reply_to=None, attachments=[], mentions=[],
          text="Merhaba! Kargom ne zaman gelir? Sipariş no: 4711 🚚", meta={"type": "text"})


@pytest.mark.parametrize("name,n,att,text,meta", [
    ("wa_image", 2, {"type": "image", "id": "1479537139650973", "mime": "image/jpeg",
                     "caption": "Fatura fotoğrafı"}, "Fatura fotoğrafı",
     {"type": "image", "sha256": "dGhpcyBpcyBhIHNoYTI1Ng=="}),
    ("wa_audio", 3, {"type": "audio", "id": "1479537139650974",
                     "mime": "audio/ogg; codecs=opus"}, None,
     {"type": "audio", "sha256": "YXVkaW8=", "voice": True}),
    ("wa_video", 4, {"type": "video", "id": "1479537139650975", "mime": "video/mp4",
                     "caption": "Kutu açılışı"}, "Kutu açılışı",
     {"type": "video", "sha256": "dmlkZW8="}),
    ("wa_document", 5, {"type": "document", "id": "1479537139650976", "mime": "application/pdf",
                        "caption": "Şubat faturası", "name": "fatura-şubat.pdf"},
     "Şubat faturası", {"type": "document", "sha256": "ZG9j"}),
    ("wa_sticker", 6, {"type": "sticker", "id": "1479537139650977", "mime": "image/webp"}, None,
     {"type": "sticker", "sha256": "c3RpY2tlcg=="}),
])
def test_media_messages(wa, name, n, att, text, meta):
    post(wa, name)
    check(only(wa), kind="message", direction="inbound", external_id=wamid(n), from_=AYSE,
          to=[BRAND], attachments=[att], text=text, meta=meta, occurred_at=iso(T0 + 10 * (n - 1)))


def test_location(wa):
    post(wa, "wa_location")
    check(only(wa), kind="message", external_id=wamid(7), from_=AYSE,
          text="Kanal Kahve Alsancak, Kıbrıs Şehitleri Cd. 12, İzmir",
          meta={"type": "location", "location": {
              "latitude": 38.4237, "longitude": 27.1428, "name": "Kanal Kahve Alsancak",
              "address": "Kıbrıs Şehitleri Cd. 12, İzmir", "url": "https://kanal.example/alsancak"}})


def test_shared_contacts_are_mentions(wa):
    post(wa, "wa_contacts")
    rec = only(wa)
    check(rec, kind="message", external_id=wamid(8), text="Mehmet Öztürk", from_=AYSE,
          mentions=[party(f"wa:{WA_MEHMET}", name="Mehmet Öztürk",
                          handles=[f"wa:{WA_MEHMET}", f"phone:+{WA_MEHMET}"],
                          trust="verified")])
    assert rec["meta"]["contacts"][0]["phones"][0]["phone"] == "+90 533 987 65 43"


def test_interactive_replies(wa):
    post(wa, "wa_interactive_button")
    post(wa, "wa_interactive_list")
    button, listed = wa.feed()
    check(button, kind="message", external_id=wamid(9), text="Evet, iade",
          reply_to="wamid.OUTBOUND0001",
          meta={"type": "interactive", "interactive": {"type": "button_reply", "id": "iade-evet",
                                                       "title": "Evet, iade"}})
    check(listed, kind="message", external_id=wamid(10), text="İzmir şubesi",
          reply_to="wamid.OUTBOUND0002",
          meta={"type": "interactive", "interactive": {
              "type": "list_reply", "id": "sube-izmir", "title": "İzmir şubesi",
              "description": "Alsancak, Kıbrıs Şehitleri Cd."}})


def test_button(wa):
    post(wa, "wa_button")
    check(only(wa), kind="message", external_id=wamid(11), text="Katılıyorum",
          reply_to="wamid.OUTBOUND0003",
          meta={"type": "button", "button": {"text": "Katılıyorum", "payload": "KAMPANYA_KATIL"}})


def test_reaction(wa):
    post(wa, "wa_reaction")
    check(only(wa), kind="reaction", direction="inbound", external_id=wamid(12), text="👍",
          reply_to="wamid.OUTBOUND0001", from_=AYSE, to=[BRAND],
          meta={"type": "reaction", "reaction": {"action": "react", "emoji": "👍"}})


def test_reply_with_context(wa):
    post(wa, "wa_reply_context")
    check(only(wa), kind="message", external_id=wamid(13), reply_to="wamid.OUTBOUND0004",
          text="Bu teklif hâlâ geçerli mi?")


def test_changed_number_records_both_handles(wa):
    post(wa, "wa_system_changed_number")
    rec = only(wa)
    check(rec, kind="message", direction="inbound", external_id=wamid(14),
          from_=party(f"wa:{WA_AYSE}", handles=[f"wa:{WA_AYSE}", f"phone:+{WA_AYSE}",
                                                f"wa:{WA_NEW}", f"phone:+{WA_NEW}"],
                     trust="verified"),
          text=f"User Ayşe Yılmaz changed from {WA_AYSE} to {WA_NEW}")
    assert rec["meta"]["system"]["type"] == "user_changed_number"


def test_changed_number_links_both_numbers_to_one_contact(wa):
    post(wa, "wa_text")  # Ayşe from her old number
    later = json.loads(fixture("wa_text"))
    value = later["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["wa_id"] = value["messages"][0]["from"] = WA_NEW
    value["messages"][0]["id"] = "wamid.FROMNEWNUMBER"
    post(wa, later)  # someone writes from the new number: another contact for now
    old_contact = wa.api(f"/v1/contacts?handle=wa:{WA_AYSE}")[1]["id"]
    new_contact = wa.api(f"/v1/contacts?handle=wa:{WA_NEW}")[1]["id"]
    assert old_contact != new_contact
    post(wa, "wa_system_changed_number")
    status, c = wa.api(f"/v1/contacts?handle=phone:%2B{WA_NEW}")
    assert status == 200 and c["id"] in (old_contact, new_contact)
    assert wa.api(f"/v1/contacts?handle=wa:{WA_AYSE}")[1]["id"] == c["id"]
    assert [r["kind"] for r in wa.feed()] == ["message", "message", "message", "merge"]


def test_unknown_message_type_and_field_are_kept(wa):
    post(wa, "wa_unknown")
    post(wa, "wa_field_unknown")
    msg, field = wa.feed()
    raw_msg = json.loads(fixture("wa_unknown"))["entry"][0]["changes"][0]["value"]["messages"][0]
    check(msg, kind="unknown", channel="whatsapp", raw=raw_msg)
    assert "unsupported" in msg["meta"]["reason"]
    check(field, kind="unknown", channel="whatsapp",
          raw=json.loads(fixture("wa_field_unknown"))["entry"][0]["changes"][0])
    assert "account_update" in field["meta"]["reason"]


# ---- statuses and errors ----

def test_statuses_in_order(wa):
    assert post(wa, "wa_statuses") == {"seqs": [1, 2, 3]}
    sent, delivered, read = wa.feed()
    customer = party(f"wa:{WA_AYSE}", handles=[f"wa:{WA_AYSE}", f"phone:+{WA_AYSE}"],
                     trust="verified")
    check(sent, kind="delivery", direction="inbound", status="sent",
          external_id="wamid.OUTBOUND0001:sent", reply_to="wamid.OUTBOUND0001",
          occurred_at=iso(T0 + 200), from_=customer, to=[BRAND], thread=THREAD)
    assert sent["meta"]["covers"] == ["wamid.OUTBOUND0001"]
    assert sent["meta"]["pricing"] == {"billable": True, "pricing_model": "PMP",
                                       "category": "service"}
    assert sent["meta"]["conversation"]["id"] == "c0ffee0ddba11"
    check(delivered, kind="delivery", status="delivered",
          external_id="wamid.OUTBOUND0001:delivered", occurred_at=iso(T0 + 201))
    check(read, kind="read", status="read", external_id="wamid.OUTBOUND0001:read",
          reply_to="wamid.OUTBOUND0001", occurred_at=iso(T0 + 230),
          meta={"covers": ["wamid.OUTBOUND0001"]})


def test_a_late_delivered_never_overrides_read(wa):
    assert post(wa, "wa_status_read") == {"seqs": [1]}
    # Acknowledged, but not recorded: the message was read already.
    assert post(wa, "wa_status_late_delivered") == {"seqs": []}
    check(only(wa), kind="read", status="read", external_id="wamid.OUTBOUND0005:read")
    # Also when both arrive in one POST, out of order.
    body = json.loads(fixture("wa_statuses"))
    statuses = body["entry"][0]["changes"][0]["value"]["statuses"]
    for s in statuses:
        s["id"] = "wamid.OUTBOUND0006"
    statuses.reverse()  # read, delivered, sent
    assert post(wa, body) == {"seqs": [2]}
    assert [r["external_id"] for r in wa.feed()] == ["wamid.OUTBOUND0005:read",
                                                     "wamid.OUTBOUND0006:read"]
    # The state survives a restart.
    wa.stop()
    wa.start()
    assert post(wa, "wa_status_late_delivered") == {"seqs": []}
    assert len(wa.feed()) == 2


def test_failed_status_carries_the_error(wa):
    post(wa, "wa_status_failed")
    rec = only(wa)
    check(rec, kind="delivery", status="failed", external_id="wamid.OUTBOUND0009:failed",
          reply_to="wamid.OUTBOUND0009",
          text="131026 Message undeliverable: Alıcı bu mesajı alamıyor.")
    assert rec["meta"]["errors"][0]["code"] == 131026


def test_asynchronous_errors(wa):
    post(wa, "wa_errors")
    rec = only(wa)
    check(rec, kind="delivery", direction="outbound", status="failed", from_=BRAND, to=[],
          text="131000 Something went wrong: Bilinmeyen bir hata oluştu.")
    assert rec["meta"]["errors"][0]["code"] == 131000
    post(wa, "wa_errors")  # redelivered
    assert len(wa.feed()) == 1
    assert "WhatsApp reports an error: 131000" in wa.log()


# ---- redelivery and batches ----

def test_the_same_payload_three_times_is_one_record(wa):
    assert [post(wa, "wa_text") for _ in range(3)] == [{"seqs": [1]}] * 3
    assert post(wa, "wa_statuses") == {"seqs": [2, 3, 4]}
    # Redelivered: sent and delivered are below the read now recorded, so
    # they are acknowledged without a record; read is recognised.
    assert post(wa, "wa_statuses") == {"seqs": [4]}
    assert post(wa, "wa_statuses") == {"seqs": [4]}
    assert len(wa.feed()) == 4


def test_a_batch_of_1000_updates_is_one_commit(wa):
    entries = []
    for e in range(4):
        messages, contacts = [], []
        for i in range(250):
            n = e * 250 + i
            who = f"90532{n:07d}"
            contacts.append({"profile": {"name": f"Müşteri {n} Çağlar"}, "wa_id": who})
            messages.append({"from": who, "id": f"wamid.BATCH{n:04d}", "timestamp": str(T0 + n),
                             "type": "text", "text": {"body": f"Sipariş {n} — teşekkürler"}})
        entries.append({"id": WABA, "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": DISPLAY, "phone_number_id": PNID},
            "contacts": contacts, "messages": messages}}]})
    body = json.dumps({"object": "whatsapp_business_account", "entry": entries}).encode()
    commits = scrape_metric(wa, "kanal_commit_batch_records_count")
    answer = post(wa, body)
    assert answer["seqs"] == list(range(1, 1001))
    assert scrape_metric(wa, "kanal_commit_batch_records_count") == commits + 1
    recs = wa.feed()
    assert len(recs) == 1000
    check(recs[777], external_id="wamid.BATCH0777", text="Sipariş 777 — teşekkürler",
          from_=party("wa:905320000777", name="Müşteri 777 Çağlar",
                      handles=["wa:905320000777", "phone:+905320000777"], trust="verified"))
    for r in recs[::101]:
        validate_record(r)


# ---- sending ----

def send_source(fake, extra=""):
    return wa_source(f"api_url = {fake.url}\nphone_number_id = {PNID}\naccess_token = {TOKEN}\n"
                     f"{extra}")


def open_window(k, age_s=60, wa_id=WA_AYSE):
    ts = int(time.time() - age_s)
    post(k, {"object": "whatsapp_business_account", "entry": [{"id": WABA, "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": DISPLAY, "phone_number_id": PNID},
            "contacts": [{"profile": {"name": "Ayşe Yılmaz"}, "wa_id": wa_id}],
            "messages": [{"from": wa_id, "id": f"wamid.IN{ts}", "timestamp": str(ts),
                          "type": "text", "text": {"body": "Merhaba"}}]}}]}]})


def accepted(wamid_, wa_id=WA_AYSE):
    return (200, {}, {"messaging_product": "whatsapp",
                      "contacts": [{"input": wa_id, "wa_id": wa_id}],
                      "messages": [{"id": wamid_}]})


def test_text_reply_within_the_window(make_kanald):
    with FakeProvider([accepted("wamid.SENT0001")]) as fake:
        k = make_kanald(sources=send_source(fake), plugins=("whatsapp",)).start()
        open_window(k)
        status, r = queue(k, source="wa", to=f"wa:{WA_AYSE}", text="Kargonuz yarın sizde 📦",
                          reply_to=wamid(1), campaign="kargo")
        assert status == 202, r
        m = wait_message(k, r["id"], ("sent", "failed"))
        assert m["status"] == "sent" and m["provider_id"] == "wamid.SENT0001", m
        [req] = fake.requests
        path, query, body = graph_call(req)
        assert req.method == "POST" and path == f"/{GRAPH_VERSION}/{PNID}/messages"
        assert req.headers["Authorization"] == f"Bearer {TOKEN}"
        assert query == {"appsecret_proof": appsecret_proof(TOKEN)}
        assert body == {"messaging_product": "whatsapp", "recipient_type": "individual",
                        "to": WA_AYSE, "type": "text",
                        "text": {"preview_url": False, "body": "Kargonuz yarın sizde 📦"},
                        "context": {"message_id": wamid(1)}}
        out = k.feed()[-1]
        check(out, kind="message", direction="outbound", channel="whatsapp",
              external_id="wamid.SENT0001", from_=BRAND, thread=THREAD,
              to=[party(f"wa:{WA_AYSE}", handles=[f"wa:{WA_AYSE}", f"phone:+{WA_AYSE}"])],
              text="Kargonuz yarın sizde 📦", reply_to=wamid(1), campaign="kargo",
              seq=m["seq"])
        assert out["meta"]["message_id"] == r["id"]


def test_phone_handle_and_plus_number_are_accepted(make_kanald):
    with FakeProvider([accepted("wamid.S1"), accepted("wamid.S2")]) as fake:
        k = make_kanald(sources=send_source(fake), plugins=("whatsapp",)).start()
        open_window(k)
        for to in (f"phone:+{WA_AYSE}", f"+{WA_AYSE}"):
            r = queue(k, source="wa", to=to, text="x")[1]
            assert wait_message(k, r["id"], ("sent", "failed"))["status"] == "sent"
        assert [graph_call(q)[2]["to"] for q in fake.requests] == [WA_AYSE, WA_AYSE]


@pytest.mark.parametrize("age_s", [None, 24 * 3600 + 120])
def test_free_text_outside_the_window_fails_before_calling_meta(make_kanald, age_s):
    with FakeProvider([accepted("wamid.NEVER")]) as fake:
        k = make_kanald(sources=send_source(fake), plugins=("whatsapp",)).start()
        if age_s:
            open_window(k, age_s=age_s)
        r = queue(k, source="wa", to=f"wa:{WA_AYSE}", text="Merhaba")[1]
        m = wait_message(k, r["id"], ("sent", "failed"))
        assert m["status"] == "failed" and m["attempts"] == 1
        assert m["reason"] == "outside the 24h customer-service window; use a template"
        time.sleep(0.3)
        assert fake.requests == []


def test_a_template_goes_outside_the_window(make_kanald):
    template = {"name": "kargo_bildirimi", "language": "tr", "components": [
        {"type": "body", "parameters": [{"type": "text", "text": "Ayşe"},
                                        {"type": "text", "text": "TR-4711"}]}]}
    with FakeProvider([accepted("wamid.TMPL0001")]) as fake:
        k = make_kanald(sources=send_source(fake), plugins=("whatsapp",)).start()
        r = queue(k, source="wa", to=f"wa:{WA_AYSE}", template=template, campaign="kasim")[1]
        m = wait_message(k, r["id"], ("sent", "failed"))
        assert m["status"] == "sent", m
        path, query, body = graph_call(fake.requests[0])
        assert path == f"/{GRAPH_VERSION}/{PNID}/messages"
        assert body == {"messaging_product": "whatsapp", "recipient_type": "individual",
                        "to": WA_AYSE, "type": "template",
                        "template": dict(template, language={"code": "tr"})}
        out = only(k)
        # No inbound message yet: the business number is not known, the
        # source stands for it.
        check(out, kind="message", direction="outbound", external_id="wamid.TMPL0001",
              from_=party("source:wa", role="brand"), text=None, campaign="kasim")
        assert out["meta"]["template"] == {"name": "kargo_bildirimi", "language": {"code": "tr"}}


def test_a_template_without_language_fails(make_kanald):
    with FakeProvider() as fake:
        k = make_kanald(sources=send_source(fake), plugins=("whatsapp",)).start()
        r = queue(k, source="wa", to=f"wa:{WA_AYSE}", template={"name": "x"})[1]
        assert "language" in wait_message(k, r["id"], ("failed",))["reason"]
        status, r = queue(k, source="wa", to="email:a@b.example", text="x")
        assert status == 400 and "only wa: or phone: handles" in r["error"]["message"], r
        assert fake.requests == []


@pytest.mark.parametrize("code", [4, 80007, 130429, 131056, 2])
def test_rate_limits_and_temporary_errors_are_retried(make_kanald, code):
    with FakeProvider([graph_error(code, "slow down"), accepted("wamid.LATER")]) as fake:
        k = make_kanald(sources=send_source(fake), plugins=("whatsapp",)).start()
        open_window(k)
        r = queue(k, source="wa", to=f"wa:{WA_AYSE}", text="tekrar")[1]
        m = wait_message(k, r["id"], ("sent", "failed"))
        assert m["status"] == "sent" and m["attempts"] == 2, m
        assert len(fake.requests) == 2


@pytest.mark.parametrize("code,what", [
    (131047, "re-engagement"), (131026, "undeliverable")])
def test_permanent_errors_fail_at_once(make_kanald, code, what):
    with FakeProvider([graph_error(code, "Message failed to send")]) as fake:
        k = make_kanald(sources=send_source(fake), plugins=("whatsapp",)).start()
        open_window(k)
        r = queue(k, source="wa", to=f"wa:{WA_AYSE}", text="x")[1]
        m = wait_message(k, r["id"], ("sent", "failed"))
        assert m["status"] == "failed" and m["attempts"] == 1
        assert f"Graph error {code}" in m["reason"] and what in m["reason"]
        assert source_state(k, "wa")["healthy"] is True
        time.sleep(0.3)
        assert len(fake.requests) == 1


@pytest.mark.parametrize("code", [190, 200, 230])
def test_bad_token_fails_and_marks_the_source_unhealthy(make_kanald, code):
    with FakeProvider([graph_error(code, "Invalid OAuth access token", status=401)]) as fake:
        k = make_kanald(sources=send_source(fake), plugins=("whatsapp",)).start()
        open_window(k)
        r = queue(k, source="wa", to=f"wa:{WA_AYSE}", text="x")[1]
        m = wait_message(k, r["id"], ("sent", "failed"))
        assert m["status"] == "failed" and m["attempts"] == 1
        s = source_state(k, "wa")
        assert s["healthy"] is False and f"Graph error {code}" in s["reason"]
        status, health = k.api("/healthz", token=None)
        assert health["status"] == "degraded"
        assert TOKEN not in k.log()
        assert len(fake.requests) == 1


def test_unrepresentable_timestamps_are_stored_with_the_receipt_time(wa):
    """An authentic message whose time kanal cannot write (after 9999,
    negative, huge) is stored, not dropped: occurred_at is the time it was
    received, the sender's value is kept in meta.original_time."""
    from meta_helpers import UNREPRESENTABLE_TIMES, parse_iso
    before = time.time() - 1
    for n, ts in enumerate(UNREPRESENTABLE_TIMES):
        body = json.loads(fixture("wa_text"))
        msg = body["entry"][0]["changes"][0]["value"]["messages"][0]
        msg["id"], msg["timestamp"] = wamid(9000 + n), ts
        answer = post(wa, json.dumps(body).encode())
        assert len(answer["seqs"]) == 1, (ts, answer)
        status = json.loads(fixture("wa_status_read"))
        st = status["entry"][0]["changes"][0]["value"]["statuses"][0]
        st["id"], st["timestamp"] = wamid(9000 + n), ts
        assert len(post(wa, json.dumps(status).encode())["seqs"]) == 1, ts
    after = time.time() + 1
    recs = wa.feed()
    assert len(recs) == 2 * len(UNREPRESENTABLE_TIMES)
    for r, ts in zip(recs, [t for t in UNREPRESENTABLE_TIMES for _ in (0, 1)]):
        validate_record(r)
        assert before <= parse_iso(r["occurred_at"]) <= after, (ts, r["occurred_at"])
        assert r["meta"]["original_time"] == ts, r
    assert "cannot be represented" in wa.log()
    # The last representable instant is kept as it is.
    body = json.loads(fixture("wa_text"))
    msg = body["entry"][0]["changes"][0]["value"]["messages"][0]
    msg["id"], msg["timestamp"] = wamid(8999), "253402300799999"
    post(wa, json.dumps(body).encode())
    last = wa.feed()[-1]
    assert last["occurred_at"] == "9999-12-31T23:59:59.999Z" and "original_time" not in last["meta"]
