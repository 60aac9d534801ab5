# SPDX-License-Identifier: Apache-2.0
"""Public link tokens (/t/ and /u/): an unsubscribe link changes nothing on
GET (mail gateways' link scanners GET every link) and opts out on POST, also
RFC 8058's one-click POST; campaign e-mail carries List-Unsubscribe; clicks
that look like scanners are flagged; the stored User-Agent and Referer are
capped; hits are rate-limited per token and per client, by a bounded table,
and a person over the limit is still redirected."""
import email
import email.policy
import http.client
import re
import subprocess
import time

import pytest

from fakes import FakeProvider
from kanal import ADMIN_TOKEN, KANALD, WRITE_TOKEN, validate_record, webhook_source
from mailservers import SmtpSink, email_source
from test_contacts import contact_of, person_record, post

PUBLIC = "https://crm.example.com"


def unsub_kanald(make_kanald, fake, extra=""):
    return make_kanald(sources=webhook_source(extra=f"send_url = {fake.url}/send"),
                       kanald=f"public_url = {PUBLIC}\n{extra}").start()


def make_link(k, cid=None, action=None, channel="webhook", campaign="bulten",
              url="https://shop.example.com/bye"):
    body = {"url": url, "campaign": campaign}
    if cid:
        body["contact"] = cid
    if action:
        body.update(action=action, channel=channel)
    status, link = k.api("/v1/links", token=WRITE_TOKEN, method="POST", body=body)
    assert status == 201, link
    return link


def kinds(k, kind):
    return [r for r in k.feed() if r["kind"] == kind]


def consent(k, cid, channel="webhook"):
    status, c = k.api(f"/v1/contacts/{cid}")
    assert status == 200
    return c["consent"].get(channel, {}).get("state")


def send_fails_opted_out(k, to, source="hooks"):
    status, r = k.api("/v1/messages", token=WRITE_TOKEN, method="POST",
                      body={"source": source, "to": to, "text": "x"})
    assert status == 202, r
    deadline = time.monotonic() + 60
    while True:
        m = k.api(f"/v1/messages/{r['id']}")[1]
        if m["status"] in ("sent", "failed"):
            return m["status"] == "failed" and m["reason"] == "opted_out"
        assert time.monotonic() < deadline, m
        time.sleep(0.05)


def assert_page(status, headers, body, want_status=200):
    assert status == want_status, body
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert headers["Cache-Control"] == "no-store"
    assert "Location" not in headers
    text = body.decode("utf-8")
    assert text.startswith("<!DOCTYPE html>")
    # Self-contained: no script, no external resource.
    assert "<script" not in text.lower()
    assert not re.search(r"(src|href)=\"(https?:)?//", text.replace(
        'href="https://shop.example.com', ""))
    return text


ONE_CLICK_BODIES = {
    "form-page": ("application/x-www-form-urlencoded", b"confirm=yes"),
    "one-click": ("application/x-www-form-urlencoded", b"List-Unsubscribe=One-Click"),
    "multipart": ("multipart/form-data; boundary=XyZ",
                  b"--XyZ\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\n"
                  b"One-Click\r\n--XyZ--\r\n"),
    "empty": (None, b""),
}


@pytest.mark.parametrize("route", ["t", "u"])
@pytest.mark.parametrize("how", sorted(ONE_CLICK_BODIES))
def test_unsubscribe_get_shows_a_page_and_post_opts_out(make_kanald, route, how):
    with FakeProvider(default=(200, {}, {"id": "p1"})) as fake:
        k = unsub_kanald(make_kanald, fake)
        cid = contact_of(k, post(k, person_record("u1", "webhook", "email:deniz@example.com")))
        link = make_link(k, cid, action="unsubscribe")
        assert link["url"] == f"{PUBLIC}/u/{link['token']}"
        path = f"/{route}/{link['token']}"
        # A scanner's GETs and HEADs, with and without a browser's User-Agent.
        for method, ua in [("GET", "Mozilla/5.0"), ("GET", "Mimecast"), ("HEAD", "Mozilla/5.0"),
                           ("GET", None)]:
            status, headers, body = k.request(method, path,
                                              headers={"User-Agent": ua} if ua else {})
            if method == "GET":
                text = assert_page(status, headers, body)
                assert re.search(r"<form method=\"post\" action=\"" + link["token"] + '"', text)
                assert text.count("<button") == 1
            else:
                assert status == 200 and body == b"" and headers["Cache-Control"] == "no-store"
        assert kinds(k, "optout") == [] and kinds(k, "click") == []
        assert consent(k, cid) is None
        # The confirmation, then repeats of it (a double click, the provider's retry).
        ctype, data = ONE_CLICK_BODIES[how]
        h = {"Content-Type": ctype} if ctype else {}
        for _ in range(3):
            status, headers, body = k.request("POST", path, body=data, headers=h)
            text = assert_page(status, headers, body)
            assert "You are unsubscribed" in text
        optout = kinds(k, "optout")
        assert len(optout) == 1, optout
        validate_record(optout[0])
        assert optout[0]["contact"] == cid and optout[0]["channel"] == "webhook"
        assert optout[0]["campaign"] == "bulten"
        assert optout[0]["meta"]["via"] == ("one-click" if how in ("one-click", "multipart")
                                            else "page")
        assert consent(k, cid) == "optout"
        assert send_fails_opted_out(k, "email:deniz@example.com")
        assert fake.requests == []


def test_unsubscribe_again_after_opting_in(make_kanald):
    with FakeProvider(default=(200, {}, {"id": "p1"})) as fake:
        k = unsub_kanald(make_kanald, fake)
        cid = contact_of(k, post(k, person_record("u1", "webhook", "email:deniz@example.com")))
        link = make_link(k, cid, action="unsubscribe")
        assert k.request("POST", f"/u/{link['token']}")[0] == 200
        status, _ = k.api(f"/v1/contacts/{cid}/consent", token=WRITE_TOKEN, method="POST",
                          body={"channel": "webhook", "state": "optin"})
        assert status in (200, 201, 202)
        assert consent(k, cid) == "optin"
        # The same link works again: a repeat is only recognised while opted out.
        assert k.request("POST", f"/u/{link['token']}")[0] == 200
        assert k.request("POST", f"/u/{link['token']}")[0] == 200
        assert len(kinds(k, "optout")) == 2
        assert consent(k, cid) == "optout"


@pytest.mark.parametrize("campaign,channel", [
    ('<script>alert("x")</script>', "webhook"),
    ("a&b 'q' \"d\" <i>", "web<b>hook"),
    ("Kasım ‘indirim’ 🎉 </strong><img src=//evil.example/x>", "sms"),
])
def test_unsubscribe_page_escapes_what_it_shows(make_kanald, campaign, channel):
    with FakeProvider(default=(200, {}, {"id": "p1"})) as fake:
        k = unsub_kanald(make_kanald, fake)
        cid = contact_of(k, post(k, person_record("u1", "webhook", "email:deniz@example.com")))
        link = make_link(k, cid, action="unsubscribe", campaign=campaign, channel=channel)
        for method in ("GET", "POST"):
            status, headers, body = k.request(method, f"/u/{link['token']}")
            text = assert_page(status, headers, body)
            for shown in (campaign, channel):
                esc = (shown.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                       .replace('"', "&quot;").replace("'", "&#39;"))
                assert esc in text
                if esc != shown:
                    assert shown not in text
            assert "<img" not in text and "<i>" not in text


def test_unknown_tokens_and_wrong_methods(make_kanald):
    with FakeProvider(default=(200, {}, {"id": "p1"})) as fake:
        k = unsub_kanald(make_kanald, fake)
        cid = contact_of(k, post(k, person_record("u1", "webhook", "email:deniz@example.com")))
        click = make_link(k, cid)
        for path in ("/u/no-such-token-000000", "/u/x", "/u/" + "A" * 300,
                     "/u/" + click["token"]):  # a click link is no unsubscribe link
            for method in ("GET", "POST"):
                status, headers, body = k.request(method, path)
                assert_page(status, headers, body, want_status=404)
        for method in ("GET", "POST"):
            assert k.request(method, "/t/no-such-token-000000")[0] == 404
        # POST on a click link records nothing.
        assert k.request("POST", "/t/" + click["token"])[0] == 405
        assert k.request("DELETE", "/u/" + click["token"])[0] == 405
        assert kinds(k, "click") == [] and kinds(k, "optout") == []


def test_clicks_that_look_like_scanners_are_flagged(make_kanald):
    # The window is wall-clock time: a wide one for the click that must come
    # within it (a loaded machine may take seconds between two requests),
    # then, reloaded, a narrow one that the other clicks come after.
    k = make_kanald(kanald="link_bot_window = 10m").start()
    link = make_link(k)
    made = time.monotonic()
    path = "/t/" + link["token"]
    browser = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
    # Within seconds of the link's making, a person's browser or not.
    assert k.request("GET", path, headers={"User-Agent": browser})[0] == 302
    mark = k.log_mark()
    k.write_config(kanald="link_bot_window = 1s")
    k.hup()
    k.wait_log(r"configuration reloaded", start=mark)
    time.sleep(max(0.0, made + 1.2 - time.monotonic()))
    hits = [("GET", browser), ("HEAD", browser), ("GET", "Mimecast Link Scanner/1.0"),
            ("GET", "Mozilla/5.0 (compatible; Proofpoint URL Defense)"),
            ("GET", "BarracudaCentral/1.0"), ("GET", "python-requests/2.31"), ("GET", None),
            ("GET", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile/15E148 Safari/604.1")]
    for method, ua in hits:
        status, headers, _ = k.request(method, path, headers={"User-Agent": ua} if ua else {})
        assert status == 302 and headers["Location"] == "https://shop.example.com/bye"
    clicks = kinds(k, "click")
    assert len(clicks) == 1 + len(hits)
    for c in clicks:
        validate_record(c)
    got = [(c["meta"]["suspected_bot"], c["meta"].get("bot_reason")) for c in clicks]
    assert got == [(True, "too_soon"), (False, None), (True, "head"), (True, "user_agent"),
                   (True, "user_agent"), (True, "user_agent"), (True, "user_agent"),
                   (True, "no_user_agent"), (False, None)]
    status, _, body = k.request("GET", "/metrics")
    assert re.search(rb"^kanal_link_suspected_bots_total 7$", body, re.M), body


def raw_get(k, path, headers):
    """GET with header values as raw bytes (http.client would encode str)."""
    c = http.client.HTTPConnection("127.0.0.1", k.port, timeout=10)
    try:
        c.putrequest("GET", path)
        for name, value in headers.items():
            c.putheader(name, value)
        c.endheaders()
        r = c.getresponse()
        r.read()
        return r.status
    finally:
        c.close()


FIELDS = [
    b"a" * 2000,                         # plain ASCII, long
    "ş".encode() * 700,                  # 2-byte characters: the cut is at an even offset
    b"x" + "€".encode() * 400,           # 3-byte characters, cut inside one otherwise
    "😀".encode() * 300 + b"z",          # 4-byte characters
    b"ok \xff\xfe bad \xc3 lone \xc0\xaf overlong \xed\xa0\x80 surrogate",
    b"tab\there\tand there",             # controls the HTTP parser lets through
]


def test_stored_user_agent_and_referer_are_capped_utf8(make_kanald):
    k = make_kanald(kanald="link_field_max = 100").start()
    link = make_link(k)
    for f in FIELDS:
        assert raw_get(k, "/t/" + link["token"], {"User-Agent": f, "Referer": f}) == 302
    clicks = kinds(k, "click")
    assert len(clicks) == len(FIELDS)
    for f, c in zip(FIELDS, clicks):
        for key in ("user_agent", "referer"):
            v = c["meta"][key]
            assert len(v.encode("utf-8")) <= 100, (key, v)
            want = f.decode("utf-8", errors="replace")
            want = "".join("\ufffd" if ch < " " or ch == "\x7f" else ch for ch in want)
            # What is kept is the start of the text, whole characters only.
            if "\ufffd" not in want:
                assert want.startswith(v) and len(v.encode()) > 100 - 4
            else:
                assert "\ufffd" in v and v.startswith(want[:2])
    assert clicks[0]["meta"]["user_agent"] == "a" * 100
    assert clicks[4]["meta"]["user_agent"].startswith("ok \ufffd\ufffd bad \ufffd lone ")
    data = (k.store / "data.mdb").read_bytes()
    assert b"a" * 101 not in data


def metric(k, name):
    status, _, body = k.request("GET", "/metrics")
    m = re.search(rb"^" + name.encode() + rb" (\d+)$", body, re.M)
    assert m, body
    return int(m.group(1))


@pytest.mark.parametrize("n,extra", [(3, 5), (1, 4), (5, 20)])
def test_rate_limit_per_token_redirects_everyone_records_at_most_n(make_kanald, n, extra):
    k = make_kanald(kanald=f"link_rate = {n}\nlink_rate_client = 1000").start()
    link, other = make_link(k), make_link(k, url="https://shop.example.com/other")
    for _ in range(n + extra):
        status, headers, _ = k.request("GET", "/t/" + link["token"],
                                       headers={"User-Agent": "Mozilla/5.0"})
        assert status == 302 and headers["Location"] == "https://shop.example.com/bye"
    clicks = kinds(k, "click")
    assert 1 <= len(clicks) <= n
    assert metric(k, "kanal_link_hits_limited_total") >= extra
    # Another token has its own budget.
    assert k.request("GET", "/t/" + other["token"])[0] == 302
    assert len(kinds(k, "click")) == len(clicks) + 1


def test_rate_limit_per_client_across_tokens(make_kanald):
    k = make_kanald(kanald="link_rate = 100\nlink_rate_client = 4").start()
    links = [make_link(k, url=f"https://shop.example.com/{i}") for i in range(4)]
    for i in range(12):
        link = links[i % 4]
        status, headers, _ = k.request("GET", "/t/" + link["token"])
        assert status == 302 and headers["Location"] == link["target"]
    assert 1 <= len(kinds(k, "click")) <= 4
    assert metric(k, "kanal_link_hits_limited_total") >= 8


def test_rate_limiter_table_is_bounded(make_kanald):
    k = make_kanald(kanald="link_rate_table = 16").start()
    links = [make_link(k, url=f"https://shop.example.com/{i}") for i in range(40)]
    for link in links:
        status, headers, _ = k.request("GET", "/t/" + link["token"])
        assert status == 302 and headers["Location"] == link["target"]
    # One entry for the client, one per token: the table stops at 16.
    assert metric(k, "kanal_link_rate_entries") <= 16
    assert len(kinds(k, "click")) <= 15
    assert metric(k, "kanal_link_hits_limited_total") >= 25


def test_link_limits_follow_a_reload(make_kanald):
    k = make_kanald(kanald="link_rate = 1").start()
    link = make_link(k)
    for _ in range(3):
        assert k.request("GET", "/t/" + link["token"])[0] == 302
    assert len(kinds(k, "click")) == 1
    mark = k.log_mark()
    k.write_config(kanald="link_rate = 100\nlink_rate_table = 64")
    k.hup()
    k.wait_log(r"configuration reloaded", start=mark)
    for _ in range(3):
        assert k.request("GET", "/t/" + link["token"])[0] == 302
    assert len(kinds(k, "click")) == 4


@pytest.mark.parametrize("line,key", [("link_rate = 0", "link_rate"),
                                      ("link_rate_client = -1", "link_rate_client"),
                                      ("link_rate_table = 1", "link_rate_table"),
                                      ("link_rate_table = 100000000", "link_rate_table"),
                                      ("link_field_max = 1M", "link_field_max"),
                                      ("link_bot_window = soon", "link_bot_window")])
def test_link_limits_are_checked(make_kanald, line, key):
    k = make_kanald(kanald=line)
    out = subprocess.run([str(KANALD), "--check-config", "-c", str(k.conf)],
                         capture_output=True, text=True)
    assert out.returncode != 0
    [line] = [ln for ln in out.stderr.splitlines() if f"'{key}'" in ln]
    assert line.startswith(f"{k.conf}:") and "unknown key" not in line, line


# ---- List-Unsubscribe in campaign e-mail ----

FROM = "Brand Destek <destek@brand.example>"


def mail_kanald(make_kanald, smtp_url, **opts):
    src = email_source(smtp_url=smtp_url, allow_plaintext="yes", lmtp_listen="127.0.0.1:0",
                       **{"from": FROM}, **opts)
    return make_kanald(sources=src, plugins=("email",),
                       kanald=f"public_url = {PUBLIC}").start()


def send_mail(k, **body):
    b = {"source": "mail", "to": "email:ayse@example.com", "text": "Merhaba!"}
    b.update(body)
    status, r = k.api("/v1/messages", token=WRITE_TOKEN, method="POST", body=b)
    assert status == 202, r
    deadline = time.monotonic() + 30
    while True:
        m = k.api(f"/v1/messages/{r['id']}")[1]
        if m["status"] in ("sent", "failed"):
            assert m["status"] == "sent", m
            return m
        assert time.monotonic() < deadline, m
        time.sleep(0.05)


@pytest.mark.parametrize("mailto", [None, "unsubscribe@brand.example"])
def test_campaign_mail_carries_list_unsubscribe_that_works(make_kanald, mailto):
    opts = {"unsubscribe_mailto": mailto} if mailto else {}
    with SmtpSink() as sink:
        k = mail_kanald(make_kanald, sink.url, **opts)
        send_mail(k, campaign="kasim", template={"subject": "Kasım fırsatları"})
        send_mail(k, text="Siparişiniz yolda")  # no campaign: no List-Unsubscribe
        first, second = sink.wait(2)
    msg = email.message_from_bytes(first.original_content, policy=email.policy.default)
    lu = str(msg["List-Unsubscribe"])
    parts = [p.strip() for p in lu.split(",")]
    m = re.fullmatch(re.escape(PUBLIC) + r"/u/([A-Za-z0-9_-]{20,})", parts[0].strip("<>"))
    assert parts[0].startswith("<") and parts[0].endswith(">") and m, lu
    if mailto:
        assert parts[1:] == [f"<mailto:{mailto}?subject=unsubscribe>"]
    else:
        assert len(parts) == 1
    assert str(msg["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    plain = email.message_from_bytes(second.original_content, policy=email.policy.default)
    assert plain["List-Unsubscribe"] is None and plain["List-Unsubscribe-Post"] is None
    token = m.group(1)
    # The page for a person (and a scanner) changes nothing ...
    assert k.request("GET", f"/u/{token}")[0] == 200
    assert kinds(k, "optout") == []
    # ... the mailbox provider's one-click POST opts the recipient out of e-mail.
    status, headers, body = k.request(
        "POST", f"/u/{token}", body=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200 and "Location" not in headers, body
    [optout] = kinds(k, "optout")
    validate_record(optout)
    assert optout["channel"] == "email" and optout["campaign"] == "kasim"
    assert optout["meta"]["via"] == "one-click"
    status, c = k.api("/v1/contacts?handle=email:ayse@example.com")
    assert status == 200 and c["id"] == optout["contact"]
    assert c["consent"]["email"]["state"] == "optout"
    assert send_fails_opted_out(k, "email:ayse@example.com", source="mail")


def test_no_list_unsubscribe_without_public_url(make_kanald):
    with SmtpSink() as sink:
        src = email_source(smtp_url=sink.url, allow_plaintext="yes", lmtp_listen="127.0.0.1:0",
                           unsubscribe_mailto="u@brand.example", **{"from": FROM})
        k = make_kanald(sources=src, plugins=("email",)).start()
        send_mail(k, campaign="kasim")
        [env] = sink.wait(1)
    msg = email.message_from_bytes(env.original_content, policy=email.policy.default)
    assert msg["List-Unsubscribe"] is None


def test_bad_unsubscribe_mailto_is_refused(make_kanald):
    with SmtpSink() as sink:
        src = email_source(smtp_url=sink.url, allow_plaintext="yes",
                           unsubscribe_mailto="a@b.example>, <https://evil.example",
                           **{"from": FROM})
        k = make_kanald(sources=src, plugins=("email",)).start()
        k.wait_log(r"unsubscribe_mailto = .*not one plain e-mail address")


def test_unsubscribe_link_of_an_erased_recipient_keeps_nothing(make_kanald):
    """A first campaign mail to a new address: the link names no contact and
    no address (the opt-out finds the message's recipient); once the person
    is erased, the link opts nobody out and the store holds no trace."""
    with SmtpSink() as sink:
        k = mail_kanald(make_kanald, sink.url)
        send_mail(k, to="email:Yeni.Kisi@example.com", campaign="kasim")
        [env] = sink.wait(1)
    msg = email.message_from_bytes(env.original_content, policy=email.policy.default)
    token = str(msg["List-Unsubscribe"]).strip("<>").rsplit("/", 1)[1]
    status, c = k.api("/v1/contacts?handle=email:yeni.kisi@example.com")
    assert status == 200
    status, res = k.api(f"/v1/contacts/{c['id']}", token=ADMIN_TOKEN, method="DELETE")
    assert status == 200, res
    status, headers, body = k.request("POST", f"/u/{token}", body=b"List-Unsubscribe=One-Click",
                                      headers={"Content-Type":
                                               "application/x-www-form-urlencoded"})
    assert_page(status, headers, body, want_status=404)
    assert kinds(k, "optout") == []
    assert k.stop() == 0
    data = (k.store / "data.mdb").read_bytes().lower()
    assert b"yeni.kisi" not in data
