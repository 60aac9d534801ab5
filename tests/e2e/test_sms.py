# SPDX-License-Identifier: Apache-2.0
"""The sms plugin (Twilio): signed form-encoded webhooks in, the Messages API
out, status callbacks as delivery records, opt-out keywords as their own
records.  Sends go to a local fake Twilio API that checks what it got."""
import base64
import hashlib
import hmac
import time
import urllib.parse
from pathlib import Path

import pytest

from fakes import FakeProvider
from kanal import WRITE_TOKEN, validate_record

FIXTURES = Path(__file__).parent / "fixtures" / "twilio"
ACCOUNT = "AC0123456789abcdef0123456789abcdef"
TOKEN = "twilio-test-auth-token-0123"
PUBLIC_URL = "https://crm.example.com/hooks/sms-main"
BRAND = "+14155550100"
TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def sms_source(api_url="http://127.0.0.1:9", extra=""):
    return (f"[source sms-main]\nplugin = sms\ninsecure_inline_secrets = yes\n"
            f"account_sid = {ACCOUNT}\nauth_token = {TOKEN}\npublic_url = {PUBLIC_URL}\n"
            f"from = {BRAND}\napi_url = {api_url}\ndefault_country = TR\n{extra}\n")


def fixture(name):
    """A fixture's parameters, in the order Twilio sent them."""
    return urllib.parse.parse_qsl((FIXTURES / name).read_text(), keep_blank_values=True)


def replace(params, **values):
    out = [(k, values.get(k, v)) for k, v in params]
    return out + [(k, v) for k, v in values.items() if k not in dict(params)]


def signature(url, params, token=TOKEN):
    """Twilio's scheme, written independently of the plugin."""
    text = url + "".join(k + v for k, v in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), text.encode(), hashlib.sha1).digest()).decode()


def post(k, params, query="", url=None, sig=None, source="sms-main"):
    body = urllib.parse.urlencode(params).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    signed_url = url or PUBLIC_URL + (f"?{query}" if query else "")
    if sig is not False:
        headers["X-Twilio-Signature"] = sig or signature(signed_url, params)
    path = f"/hooks/{source}" + (f"?{query}" if query else "")
    return k.request("POST", path, body, headers)


def records(k, **params):
    recs = k.feed(**params)
    for r in recs:
        validate_record(r)
    return recs


@pytest.fixture
def sms(make_kanald):
    return make_kanald(sources=sms_source(), plugins=("sms",)).start()


def test_inbound_sms_is_stored_then_answered_with_empty_twiml(sms):
    params = fixture("sms_inbound.form")
    status, headers, body = post(sms, params)
    assert status == 200 and body == TWIML
    assert headers["Content-Type"].startswith("text/xml")
    [rec] = records(sms)
    assert (rec["channel"], rec["kind"], rec["direction"]) == ("sms", "message", "inbound")
    assert rec["external_id"] == "SM5a1c0b2d3e4f5a6b7c8d9e0f1a2b3c4d"
    assert rec["from"]["handle"] == "phone:+905321234567" and rec["from"]["role"] == "customer"
    assert [p["handle"] for p in rec["to"]] == ["phone:+14155550100"]
    assert rec["to"][0]["role"] == "brand"
    assert rec["text"] == "Merhaba, siparişim nerede? İyi günler"
    assert rec["meta"]["from_city"] == "ISTANBUL" and rec["meta"]["from_country"] == "TR"
    assert rec["meta"]["to_zip"] == "94105" and rec["meta"]["num_segments"] == 1
    assert rec["attachments"] == [] and "raw" not in rec
    # Twilio redelivers (#rc=): acknowledged again, nothing new.
    assert post(sms, params)[:3:2] == (200, TWIML)
    assert len(records(sms)) == 1


def test_inbound_mms_media_are_attachments(sms):
    assert post(sms, fixture("mms_inbound.form"))[0] == 200
    [rec] = records(sms)
    assert rec["external_id"] == "MM7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b"
    assert rec["text"] == "Kargo fotoğrafı ekte"
    base = (f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/"
            "MM7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b/Media/")
    assert rec["attachments"] == [
        {"type": "image", "url": base + "ME1111", "mime": "image/jpeg"},
        {"type": "file", "url": base + "ME2222", "mime": "application/pdf"}]
    assert rec["meta"]["num_media"] == 2 and rec["meta"]["from_zip"] == "34000"
    assert rec["meta"]["messaging_service_sid"] == "MG0123456789abcdef0123456789abcdef"


def test_wrong_missing_or_tampered_signature_is_refused(sms):
    params = fixture("sms_inbound.form")
    assert post(sms, params, sig=False)[0] == 401
    assert post(sms, params, sig="RSOYDt4T1cUTdK1PDd93/VVr8B8=")[0] == 401
    assert post(sms, params, sig=signature(PUBLIC_URL, params, token="other-token"))[0] == 401
    # Signed, then a parameter changed, one dropped, one added.
    good = signature(PUBLIC_URL, params)
    assert post(sms, replace(params, Body="STOP"), sig=good)[0] == 401
    assert post(sms, params[1:], sig=good)[0] == 401
    assert post(sms, params + [("Extra", "1")], sig=good)[0] == 401
    # Signed over another URL or without the query the request carries.
    assert post(sms, params, url="https://crm.example.com/hooks/other")[0] == 401
    assert post(sms, params, query="a=1", url=PUBLIC_URL)[0] == 401
    assert records(sms) == []
    assert "refused a request from 127.0.0.1: wrong X-Twilio-Signature" in sms.log()
    assert "missing X-Twilio-Signature" in sms.log()


def test_signature_covers_query_and_accepts_explicit_port(sms):
    params = fixture("sms_inbound.form")
    assert post(sms, replace(params, MessageSid="SMquery"), query="campaign=kasim&x=1")[0] == 200
    with_port = "https://crm.example.com:443/hooks/sms-main"
    assert post(sms, replace(params, MessageSid="SMport"), url=with_port)[0] == 200
    assert sorted(r["external_id"] for r in records(sms)) == ["SMport", "SMquery"]


def test_official_signature_vectors_end_to_end(make_kanald):
    """Twilio's two published vectors, through kanald: authentic (a voice
    call's parameters, so stored as unknown) and acknowledged."""
    src = ("[source vec]\nplugin = sms\ninsecure_inline_secrets = yes\n"
           f"account_sid = {ACCOUNT}\nauth_token = 12345\n"
           "public_url = https://mycompany.com/myapp.php\n")
    k = make_kanald(sources=src, plugins=("sms",)).start()
    base = [("CallSid", "CA1234567890ABCDE"), ("Digits", "1234"), ("To", "+18005551212")]
    for number, sig in (("+14158675309", "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
                        ("+14158675310", "GvWf1cFY/Q7PnoempGyD5oXAezc=")):
        params = base + [("Caller", number), ("From", number)]
        assert post(k, params, query="foo=1&bar=2", sig=sig, source="vec")[0] == 200
        assert post(k, params, query="foo=1&bar=3", sig=sig, source="vec")[0] == 401
    recs = records(k)
    assert [r["kind"] for r in recs] == ["unknown", "unknown"]
    assert {r["raw"]["From"] for r in recs} == {"+14158675309", "+14158675310"}


def test_authentic_body_with_nul_bytes_is_stored_as_unknown(sms):
    """A NUL byte in an authentic body (found by tests/fuzz/fuzz_sms): the
    unknown record keeps the body as base64, since kanald refuses \\u0000 in
    JSON text; before, both tries were refused and Twilio got 503 forever."""
    bodies = [b"\x00x=1&Ca=2&Ca=hi",                # first byte
              b"Body=hi&Body=again&x=a\x00b",       # inside a value
              b"Body=hi&Body=again&\x00",           # a pair of its own, last
              b"Ca=1&Ca=2&\xff\x00=\x00&To=%2B1"]    # with bytes that are not UTF-8
    for body in bodies:
        # What the plugin signs: each pair decoded, cut at its first NUL.
        params = [(k.split("\x00")[0], v.split("\x00")[0]) for k, v in
                  urllib.parse.parse_qsl(body.decode("latin-1"), keep_blank_values=True,
                                         encoding="latin-1")]
        text = PUBLIC_URL + "".join(k + v for k, v in sorted(params))
        sig = base64.b64encode(hmac.new(TOKEN.encode(), text.encode("latin-1"),
                                        hashlib.sha1).digest()).decode()
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "X-Twilio-Signature": sig}
        status, _, answer = sms.request("POST", "/hooks/sms-main", body, headers)
        assert (status, answer) == (200, TWIML), body
    recs = records(sms)
    assert [r["kind"] for r in recs] == ["unknown"] * len(bodies)
    # Repeated names: the parameters do not fit an object, the body is kept.
    assert [base64.b64decode(r["raw"]["base64"]) for r in recs] == bodies


OPTOUT = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"]
OPTIN = ["START", "YES", "UNSTOP"]
HELP = ["HELP", "INFO"]


def test_every_opt_out_keyword(sms):
    base = fixture("sms_inbound.form")
    # Whole body, trimmed, any case.
    cases = ([(w, "optout") for w in OPTOUT] + [(f"  {w.lower()}\n", "optout") for w in OPTOUT] +
             [(w.capitalize(), "optin") for w in OPTIN] + [(w, "help") for w in HELP] +
             [("STOP please", None), ("I want to stop", None), ("helpful", None)])
    for i, (body, _) in enumerate(cases):
        assert post(sms, replace(base, Body=body, MessageSid=f"SMkw{i}"))[0] == 200
    recs = records(sms)
    by_sid = {}
    for r in recs:
        by_sid.setdefault(r["external_id"], {})[r["kind"]] = r
    for i, (body, what) in enumerate(cases):
        got = by_sid[f"SMkw{i}"]
        # Always the message itself, with its text as sent.
        assert got["message"]["text"] == body
        if what in ("optout", "optin"):
            assert set(got) == {"message", what}, body
            opt = got[what]
            assert opt["from"]["handle"] == "phone:+905321234567"
            assert opt["direction"] == "inbound"
            assert opt["meta"]["keyword"] == body.strip().upper()
            assert got["message"]["meta"]["keyword"] == body.strip().upper()
        elif what == "help":
            assert set(got) == {"message"}
            assert got["message"]["meta"]["help"] is True
        else:
            assert set(got) == {"message"}, body
            assert "keyword" not in got["message"]["meta"]
    kinds = [r["kind"] for r in recs]
    assert kinds.count("optout") == 2 * len(OPTOUT) and kinds.count("optin") == len(OPTIN)


def test_advanced_opt_out_type_wins(sms):
    params = replace(fixture("sms_inbound.form"), Body="ARRET", OptOutType="STOP")
    assert post(sms, params)[0] == 200
    assert sorted(r["kind"] for r in records(sms)) == ["message", "optout"]


def queue(k, **msg):
    body = {"source": "sms-main", "to": "phone:0532 123 45 67", "text": "Siparişiniz yolda 🚚"}
    body.update(msg)
    return k.api("/v1/messages", token=WRITE_TOKEN, method="POST", body=body)


def wait_status(k, mid, want=("sent", "failed"), timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        status, m = k.api(f"/v1/messages/{mid}")
        assert status == 200, m
        if m["status"] in want:
            return m
        assert time.monotonic() < deadline, m
        time.sleep(0.05)


def twilio_created(sid, to="+905321234567"):
    return (201, {"Content-Type": "application/json"},
            {"sid": sid, "status": "queued", "from": BRAND, "to": to, "num_segments": "1",
             "account_sid": ACCOUNT})


def check_api_request(req, **fields):
    assert req.method == "POST"
    assert req.path == f"/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    auth = base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
    assert req.headers["Authorization"] == f"Basic {auth}"
    assert req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = dict(urllib.parse.parse_qsl(req.body.decode(), keep_blank_values=True))
    for k, v in fields.items():
        assert form.get(k) == v, (k, form)
    return form


def test_send_then_status_callbacks_become_delivery_records(make_kanald):
    sid = "SM0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c"
    with FakeProvider([twilio_created(sid)]) as fake:
        k = make_kanald(sources=sms_source(fake.url), plugins=("sms",)).start()
        status, r = queue(k, reply_to="SM5a1c0b2d3e4f5a6b7c8d9e0f1a2b3c4d", campaign="kargo")
        assert status == 202
        m = wait_status(k, r["id"])
        assert m["status"] == "sent" and m["provider_id"] == sid
        [req] = fake.wait_requests(1)
        form = check_api_request(req, To="+905321234567", From=BRAND,
                                 Body="Siparişiniz yolda 🚚", StatusCallback=PUBLIC_URL)
        assert "MessagingServiceSid" not in form
    [out] = records(k)
    assert (out["kind"], out["direction"], out["external_id"]) == ("message", "outbound", sid)
    assert out["from"]["handle"] == "phone:+14155550100" and out["from"]["role"] == "brand"
    assert out["to"][0]["handle"] == "phone:+905321234567"
    assert out["text"] == "Siparişiniz yolda 🚚" and out["campaign"] == "kargo"
    assert out["reply_to"] == "SM5a1c0b2d3e4f5a6b7c8d9e0f1a2b3c4d"

    # Twilio calls the StatusCallback as the message moves on.
    base = fixture("status_callback.form")
    for st in ("queued", "sent", "delivered", "read", "failed"):
        status, _, body = post(k, replace(base, MessageStatus=st, SmsStatus=st))
        assert (status, body) == (200, TWIML)
    assert post(k, fixture("status_undelivered.form"))[0] == 200
    # A redelivered callback stores nothing new.
    assert post(k, replace(base, MessageStatus="delivered", SmsStatus="delivered"))[0] == 200
    recs = records(k, kind="delivery")
    got = [(r["status"], r["meta"]["provider_status"]) for r in recs]
    # queued is not a delivery outcome: acknowledged, not stored.
    assert got == [("sent", "sent"), ("delivered", "delivered"), ("read", "read"),
                   ("failed", "failed"), ("failed", "undelivered")]
    for r in recs:
        assert r["reply_to"] == out["external_id"] and r["direction"] == "outbound"
        assert r["from"]["handle"] == "phone:+14155550100"
        assert r["to"][0]["handle"] == "phone:+905321234567"
    assert recs[-1]["meta"]["error_code"] == "30003"


def test_send_retries_a_rate_limit_then_sends(make_kanald):
    script = [(429, {"Retry-After": "1"}, {"code": 20429, "message": "Too Many Requests",
                                           "status": 429}),
              twilio_created("SMafter429")]
    with FakeProvider(script) as fake:
        k = make_kanald(sources=sms_source(fake.url), plugins=("sms",)).start()
        status, r = queue(k)
        m = wait_status(k, r["id"])
        assert m["status"] == "sent" and m["attempts"] == 2 and m["provider_id"] == "SMafter429"
        reqs = fake.wait_requests(2)
        assert reqs[1].at - reqs[0].at >= 0.95  # honoured Retry-After
        for req in reqs:
            check_api_request(req, To="+905321234567")
    assert [r["external_id"] for r in records(k)] == ["SMafter429"]


def test_send_to_an_opted_out_number_fails_without_retry(make_kanald):
    refusal = (400, {}, {"code": 21610, "message": "Attempt to send to unsubscribed recipient",
                         "more_info": "https://www.twilio.com/docs/errors/21610", "status": 400})
    with FakeProvider([refusal]) as fake:
        k = make_kanald(sources=sms_source(fake.url), plugins=("sms",)).start()
        status, r = queue(k)
        m = wait_status(k, r["id"])
        assert m["status"] == "failed" and m["attempts"] == 1
        assert "21610" in m["reason"] and "unsubscribed recipient" in m["reason"]
        time.sleep(1.5)
        assert len(fake.requests) == 1
    assert records(k) == []


def test_send_through_a_messaging_service(make_kanald):
    src = sms_source(extra="messaging_service_sid = MG0123456789abcdef0123456789abcdef")
    src = src.replace(f"from = {BRAND}\n", "")
    with FakeProvider([twilio_created("SMviaMG")]) as fake:
        k = make_kanald(sources=src.replace("http://127.0.0.1:9", fake.url),
                        plugins=("sms",)).start()
        status, r = queue(k, to="+905321234567", template={"media_url": "https://x.example/a.jpg"})
        assert wait_status(k, r["id"])["status"] == "sent"
        form = check_api_request(fake.wait_requests(1)[0],
                                 MessagingServiceSid="MG0123456789abcdef0123456789abcdef",
                                 MediaUrl="https://x.example/a.jpg")
        assert "From" not in form and "Body" in form
    [out] = records(k)
    assert out["attachments"] == [{"type": "file", "url": "https://x.example/a.jpg"}]


def test_send_to_something_that_is_not_a_number_is_refused(make_kanald):
    with FakeProvider() as fake:
        k = make_kanald(sources=sms_source(fake.url), plugins=("sms",)).start()
        status, r = queue(k, to="email:ayse@example.com")
        assert status == 400 and "only phone: handles" in r["error"]["message"], r
        assert fake.requests == []


def test_public_url_is_required(make_kanald):
    src = sms_source().replace(f"public_url = {PUBLIC_URL}\n", "")
    k = make_kanald(sources=src, plugins=("sms",)).start()
    k.wait_log(r"public_url is required")
    assert post(k, fixture("sms_inbound.form"))[0] == 404


def test_stop_is_honoured_by_later_sends_and_start_lifts_it(make_kanald):
    """The optout record is what kanald's consent check reads: after STOP a
    send to that number fails without any call to Twilio; START lifts it."""
    with FakeProvider(default=twilio_created("SMafterstart")) as fake:
        k = make_kanald(sources=sms_source(fake.url), plugins=("sms",)).start()
        base = fixture("sms_inbound.form")
        assert post(k, replace(base, Body="Stop", MessageSid="SMstop"))[0] == 200
        m = wait_status(k, queue(k)[1]["id"])
        assert m["status"] == "failed" and m["reason"] == "opted_out"
        assert fake.requests == []
        assert post(k, replace(base, Body="START", MessageSid="SMstart"))[0] == 200
        m = wait_status(k, queue(k)[1]["id"])
        assert m["status"] == "sent" and len(fake.requests) == 1
