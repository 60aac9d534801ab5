# SPDX-License-Identifier: Apache-2.0
"""The e-mail plugin's outbound side: POST /v1/messages → an RFC 5322
message over SMTP to a real server on loopback (aiosmtpd), with a generated
Message-ID that is the outbound record's external id, so that a reply (here
delivered over LMTP) threads onto it and a bounce links to it."""
import email
import email.policy
import time

from kanal import WRITE_TOKEN, validate_record
from mailservers import SmtpSink, email_source, fixture, free_port, lmtp_port, swaks

FROM = "Brand Destek <destek@brand.example>"


def mail_kanald(make_kanald, smtp_url, sub="k", **opts):
    opts.setdefault("lmtp_listen", "127.0.0.1:0")
    src = email_source(smtp_url=smtp_url, allow_plaintext="yes", **{"from": FROM}, **opts)
    return make_kanald(sub, sources=src, plugins=("email",)).start()


def queue(k, **msg):
    body = {"source": "mail", "to": "email:ayse@example.com", "text": "Merhaba!"}
    body.update(msg)
    status, r = k.api("/v1/messages", token=WRITE_TOKEN, method="POST", body=body)
    assert status == 202, r
    return r["id"]


def wait_status(k, mid, want=("sent", "failed"), timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        status, m = k.api(f"/v1/messages/{mid}")
        assert status == 200, m
        if m["status"] in want:
            return m
        assert time.monotonic() < deadline, m
        time.sleep(0.05)


def record(k, seq):
    status, rec = k.api(f"/v1/interactions/{seq}")
    assert status == 200, rec
    validate_record(rec)
    return rec


def parse(envelope):
    return email.message_from_bytes(envelope.original_content, policy=email.policy.default)


TEXT = ("Merhaba Ayşe Hanım,\n\nSiparişiniz yola çıktı; kargo takip numarası 4711. Ödemeniz "
        "alındı, fatura e-postanıza gönderildi — iyi günler dileriz! 🚚\n\nBrand Destek\n")
SUBJECT = "Siparişiniz yolda: Çağrı & Ödeme bilgisi"


def test_sent_message_parses_with_its_message_id_and_utf8(make_kanald):
    with SmtpSink() as sink:
        k = mail_kanald(make_kanald, sink.url)
        mid = queue(k, to="email:Ayse@Example.com", text=TEXT, campaign="kasim",
                    template={"subject": SUBJECT})
        m = wait_status(k, mid)
        assert m["status"] == "sent", m
        [env] = sink.wait(1)
    out = record(k, m["seq"])
    assert (out["kind"], out["direction"]) == ("message", "outbound")
    assert out["external_id"] == m["provider_id"]
    assert out["external_id"].startswith("kanal.") and out["external_id"].endswith(
        "@brand.example")
    assert out["thread"] == out["external_id"]
    assert out["from"]["handle"] == "email:destek@brand.example" and out["from"]["role"] == "brand"
    assert out["to"][0]["handle"] == "email:ayse@example.com"
    assert out["subject"] == SUBJECT and out["text"] == TEXT and out["campaign"] == "kasim"
    # What the SMTP server received.
    assert env.mail_from == "destek@brand.example" and env.rcpt_tos == ["Ayse@Example.com"]
    raw = env.original_content
    assert all(b < 128 for b in raw), "8-bit bytes on the wire: not MIME-encoded"
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    msg = parse(env)
    assert msg["Message-ID"] == f"<{out['external_id']}>"
    assert msg["Subject"] == SUBJECT
    assert msg["From"].addresses[0].display_name == "Brand Destek"
    assert msg["From"].addresses[0].addr_spec == "destek@brand.example"
    assert msg["To"].addresses[0].addr_spec == "Ayse@Example.com"
    assert msg["Date"] is not None and msg["MIME-Version"] == "1.0"
    assert msg.get_content_type() == "text/plain" and msg.get_content_charset() == "utf-8"
    # Lines end in CRLF on the wire (text's canonical form); the text is the same.
    assert msg.get_content().replace("\r\n", "\n") == TEXT
    assert "In-Reply-To" not in msg and "References" not in msg


def test_a_reply_threads_onto_the_outbound_message(make_kanald, tmp_path):
    with SmtpSink() as sink:
        k = mail_kanald(make_kanald, sink.url)
        m = wait_status(k, queue(k, text="Kampanyamız başladı.",
                                 template={"subject": "Kasım kampanyası"}))
        out = record(k, m["seq"])
        oid = out["external_id"]
        # The customer answers from her mail program; the MTA delivers it.
        answer = (f"From: Ayşe Yılmaz <ayse@example.com>\r\nTo: destek@brand.example\r\n"
                  f"Subject: Re: Kasım kampanyası\r\nMessage-ID: <answer-1@example.com>\r\n"
                  f"In-Reply-To: <{oid}>\r\nReferences: <{oid}>\r\nMIME-Version: 1.0\r\n"
                  f"Content-Type: text/plain; charset=utf-8\r\n"
                  f"Content-Transfer-Encoding: 8bit\r\n\r\nKod nedir?\r\n").encode()
        rc, replies, log = swaks(["destek@brand.example"], answer, port=lmtp_port(k),
                                 tmp=tmp_path)
        assert rc == 0, log
        reply = [r for r in k.feed() if r["external_id"] == "answer-1@example.com"][0]
        validate_record(reply)
        assert reply["direction"] == "inbound" and reply["reply_to"] == oid
        assert reply["thread"] == out["thread"]
        # The brand answers the answer: In-Reply-To and References carry the thread.
        m2 = wait_status(k, queue(k, text="KASIM26", reply_to="answer-1@example.com",
                                  template={"subject": "Re: Kasım kampanyası"}))
        assert m2["status"] == "sent", m2
        second = parse(sink.wait(2)[1])
    assert second["In-Reply-To"] == "<answer-1@example.com>"
    assert second["References"].split() == [f"<{oid}>", "<answer-1@example.com>"]
    assert second["Subject"] == "Re: Kasım kampanyası"
    out2 = record(k, m2["seq"])
    assert out2["thread"] == out["thread"] and out2["reply_to"] == "answer-1@example.com"
    assert second["Message-ID"] == f"<{out2['external_id']}>"


def test_a_bounce_links_to_the_message_it_reports(make_kanald, tmp_path):
    with SmtpSink() as sink:
        k = mail_kanald(make_kanald, sink.url)
        m = wait_status(k, queue(k, to="email:nobody@example.net", text="Kampanya"))
        oid = record(k, m["seq"])["external_id"]
        # The recipient's MTA reports the failure to the brand's mailbox.
        dsn = fixture("dsn.eml.in", ORIGINAL_ID=oid, ORIGINAL_HASH="1")
        rc, replies, log = swaks(["destek@brand.example"], dsn, mail_from="", port=lmtp_port(k),
                                 tmp=tmp_path)
        assert rc == 0, log
    [bounce] = [r for r in k.feed() if r["kind"] == "bounce"]
    validate_record(bounce)
    assert bounce["reply_to"] == oid and bounce["thread"] == oid
    assert bounce["status"] == "failed"
    # Like a delivery receipt: brand → the recipient it failed for, so it
    # lands on that customer's timeline; the mail system only in meta.
    assert bounce["direction"] == "outbound"
    assert bounce["from"]["handle"] == "email:destek@brand.example"
    assert [(p["handle"], p["role"]) for p in bounce["to"]] == [("email:nobody@example.net",
                                                                "customer")]
    assert bounce["meta"]["reported_by"] == "mailer-daemon@mx.example.net"
    [d] = bounce["meta"]["dsn"]
    assert d["recipient"] == "nobody@example.net" and d["action"] == "failed"
    assert d["status"] == "5.1.1" and "User unknown" in d["diagnostic"]
    assert bounce["meta"]["original_message_id"] == oid
    assert bounce["meta"]["auto_submitted"] == "auto-replied"


def test_refused_recipient_fails_and_a_down_server_is_retried(make_kanald):
    port = free_port()
    k = mail_kanald(make_kanald, f"smtp://127.0.0.1:{port}")
    # Nothing listens yet: retried with backoff, and the source says why.
    mid = queue(k)
    deadline = time.monotonic() + 60
    while True:
        status, src = k.api("/v1/sources")
        s = [x for x in src["sources"] if x["name"] == "mail"][0]
        if not s["healthy"]:
            break
        assert time.monotonic() < deadline, s
        time.sleep(0.1)
    assert s["reason"].startswith("smtp: ")
    m = wait_status(k, mid, want=("queued",))
    assert m["attempts"] >= 1 and "SMTP" in m["last_error"]
    with SmtpSink(port) as sink:
        sink.refuse["nobody@example.net"] = ("550 5.1.1 <nobody@example.net>: Recipient "
                                             "address rejected")
        m = wait_status(k, mid, timeout=40)
        assert m["status"] == "sent" and m["attempts"] >= 2
        status, src = k.api("/v1/sources")
        assert [x for x in src["sources"] if x["name"] == "mail"][0]["healthy"] is True
        # A permanent refusal fails at once, with the server's answer.
        m = wait_status(k, queue(k, to="nobody@example.net"))
        assert m["status"] == "failed" and m["attempts"] == 1 and "550" in m["reason"]
        assert len(sink.messages) == 1


def test_sending_to_something_that_is_not_an_address_is_refused(make_kanald):
    with SmtpSink() as sink:
        k = mail_kanald(make_kanald, sink.url)
        # A handle of another channel, or an e-mail handle that is no
        # address, is refused when queued: nothing is sent.
        for to, why in (("phone:+905321234567", "only email: handles"),
                        ("email:not-an-address", "one '@'")):
            status, r = k.api("/v1/messages", token=WRITE_TOKEN, method="POST",
                              body={"source": "mail", "to": to, "text": "x"})
            assert status == 400 and why in r["error"]["message"], r
        assert sink.messages == []
