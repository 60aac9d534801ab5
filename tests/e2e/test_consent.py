# SPDX-License-Identifier: Apache-2.0
"""The consent check before every send fails closed: a message whose
recipient's consent cannot be established is not sent.  A `to` that is not a
handle kanal can normalize (so cannot look up) is refused when it is queued
(400), so the provider is never called; one queued before (or whose source
changed plugin since) fails with consent_unknown at send time
(tests/unit/test_consent.c).  (A store that cannot be read is retried, not
sent: tests/unit/test_consent.c forces that failure on a real store.)"""
import time

from fakes import FakeProvider
from kanal import WRITE_TOKEN, wait_message, webhook_source

UNNORMALIZABLE = [
    "ayse@example.com",          # no scheme
    "email:no-at-sign",          # not an address
    "email:a b@example.com",     # white space
    "EMAIL:ayse@example.com",    # scheme not lower-case
    "phone:12",                  # not E.164
    "wa:90532abc",               # not numeric
]


def test_unnormalizable_recipient_is_refused_when_queued_and_never_sent(make_kanald):
    with FakeProvider(default=(200, {}, {"id": "p1"})) as fake:
        k = make_kanald(sources=webhook_source(extra=f"send_url = {fake.url}/send")).start()
        for to in UNNORMALIZABLE:
            status, r = k.api("/v1/messages", token=WRITE_TOKEN, method="POST",
                              body={"source": "hooks", "to": to, "text": "Kampanya!"})
            assert status == 400 and r["error"]["message"].startswith("'to' "), (to, r)
        # A good recipient next to them still goes out: the check is per message.
        status, r = k.api("/v1/messages", token=WRITE_TOKEN, method="POST",
                          body={"source": "hooks", "to": "email:ayse@example.com",
                                "text": "Merhaba"})
        m = wait_message(k, r["id"], ("sent", "failed"), timeout=15)
        assert m["status"] == "sent"
        time.sleep(0.5)
        reqs = fake.requests
        assert len(reqs) == 1 and reqs[0].json()["to"] == "email:ayse@example.com"
        # Nothing outbound was recorded for the refused ones.
        outbound = [rec for rec in k.feed() if rec.get("direction") == "outbound"]
        assert len(outbound) == 1


def test_a_channel_address_does_not_get_round_an_opt_out(make_kanald):
    """The customer texts STOP; the CRM then sends to the bare number (the
    channel's address, not a phone: handle), in each form the sms plugin
    accepts: none goes out, each fails opted_out.  Before, a `to` that was
    not a handle skipped the look-up and was sent."""
    from test_sms import fixture, post, replace, sms_source, twilio_created
    with FakeProvider(default=twilio_created("SMnever")) as fake:
        k = make_kanald(sources=sms_source(fake.url), plugins=("sms",)).start()
        stop = replace(fixture("sms_inbound.form"), Body="STOP", MessageSid="SMstop1",
                       SmsMessageSid="SMstop1", SmsSid="SMstop1")
        assert post(k, stop)[0] == 200
        assert [r["kind"] for r in k.feed()].count("optout") == 1
        for to in ("+905321234567", "+90 532 123 45 67", "0532 123 45 67", "05321234567",
                   "phone:+905321234567"):
            status, r = k.api("/v1/messages", token=WRITE_TOKEN, method="POST",
                              body={"source": "sms-main", "to": to, "text": "Kampanya!"})
            assert status == 202, r
            m = wait_message(k, r["id"], ("sent", "failed"), timeout=15)
            assert m["status"] == "failed" and m["reason"] == "opted_out", (to, m)
        # Another number is not opted out: it goes.
        status, r = k.api("/v1/messages", token=WRITE_TOKEN, method="POST",
                          body={"source": "sms-main", "to": "+905329998877", "text": "Merhaba"})
        assert wait_message(k, r["id"], ("sent", "failed"), timeout=15)["status"] == "sent"
        assert len(fake.requests) == 1
