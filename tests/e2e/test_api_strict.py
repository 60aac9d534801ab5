# SPDX-License-Identifier: Apache-2.0
"""The HTTP API is as strict as the config: a value it cannot take is
refused with a 400 that names the field and says what would be taken, never
read as something else.  `limit` on every paged list, `to` of a queued
message, a reused idempotency key with another body (409), reals written
shortest-round-trip, and a '+' typed into a handle query."""
import json

from kanal import ADMIN_TOKEN, READ_TOKEN, WRITE_TOKEN, message

# Every paged list takes ?limit= through the same rule.
PAGED = [
    ("/v1/interactions", READ_TOKEN),
    ("/v1/contacts/{cid}/interactions", READ_TOKEN),
    ("/v1/contacts/{cid}/export", ADMIN_TOKEN),
    ("/v1/contacts/candidates", ADMIN_TOKEN),
]

# Not a whole number from 1 to 1000: above the maximum, zero, negative,
# signed, padded, with trailing text, in exponent or hex form, empty, huge.
BAD_LIMITS = ["1001", "5000", "0", "-1", "+5", "%205", "5%20", "10abc", "1e3", "0x10", "",
              "99999999999999999999", "1.5"]


def first_contact(k):
    status, _, body = k.post_hook(message("lim-1", handle="email:limit@example.com"))
    assert status == 200, body
    seq = json.loads(body)["seqs"][0]
    status, rec = k.api(f"/v1/interactions/{seq}")
    assert status == 200
    return rec["contact"]


def test_limit_out_of_range_is_refused_naming_the_maximum(kanald):
    k = kanald
    cid = first_contact(k)
    taken, unclear = [], []
    for path, token in PAGED:
        p = path.format(cid=cid)
        for bad in BAD_LIMITS:
            status, r = k.api(f"{p}?limit={bad}", token=token)
            if status != 400:
                taken.append((p, bad, status))
                continue
            msg = r["error"]["message"]
            if r["error"]["code"] != "bad_request" or not all(
                    w in msg for w in ("limit", "1000", "maximum")):
                unclear.append((p, bad, msg))
        # The maximum itself, the minimum and the default are taken.
        for good in ("1000", "1", None):
            q = f"?limit={good}" if good else ""
            status, r = k.api(f"{p}{q}", token=token)
            assert status == 200, (p, good, r)
    assert taken == [], "limits read as another number"
    assert unclear == [], "a 400 that does not say the maximum"



# ?after= of the lists paged by seq: a seq, nothing else (strtoull alone read
# "abc" as 0, the first page, and "-1" as the last seq there can be).
BAD_SEQ_AFTERS = ["abc", "-1", "+5", "%205", "5%20", "1e3", "0x10", "", "1.5",
                  "99999999999999999999"]


def test_after_is_a_seq_or_a_key_or_refused(kanald):
    k = kanald
    cid = first_contact(k)
    status, _, body = k.post_hook(message("lim-2", handle="email:limit@example.com"))
    assert status == 200, body
    taken = []
    for path, token in PAGED[:3]:
        p = path.format(cid=cid)
        for bad in BAD_SEQ_AFTERS:
            status, r = k.api(f"{p}?after={bad}", token=token)
            if status != 400 or r["error"]["code"] != "bad_request" or \
                    "after" not in r["error"]["message"]:
                taken.append((p, bad, status))
        # A seq is taken: after the first record, the second (the export
        # holds every record of the contact after it).
        status, r = k.api(f"{p}?after=1", token=token)
        assert status == 200, (p, r)
        items = r.get("items", r.get("interactions", r.get("records")))
        assert items is not None, r
        assert [x["seq"] for x in items if x.get("kind") != "merge"][:1] == [2], (p, items)
    # The candidates are paged by their id: empty or longer than any key
    # can be is refused, any other text is taken.
    cand = "/v1/contacts/candidates"
    for bad in ("", "x" * 512):
        status, r = k.api(f"{cand}?after={bad}", token=ADMIN_TOKEN)
        if status != 400 or "after" not in r["error"]["message"]:
            taken.append((cand, bad[:8], status))
    status, r = k.api(f"{cand}?after=c1-c2", token=ADMIN_TOKEN)
    assert status == 200, r
    assert taken == [], "an after read as something else"


# `to` values of which no handle can be made on a webhook source (any
# channel: a handle is needed) ...
BAD_TO = [
    "ayse@example.com",          # no scheme, and webhook has no address of its own
    "email:no-at-sign",          # not an address
    "email:a b@example.com",     # white space
    "EMAIL:ayse@example.com",    # scheme not lower-case
    "phone:12",                  # not E.164
    "wa:90532abc",               # not numeric
    "phone:+90 532 abc",         # letters in a number
    ":nothing",                  # no scheme
]


def test_to_is_validated_when_queued(make_kanald):
    """A `to` of which kanal can make no handle is refused with a 400 that
    names the field; nothing is queued.  Before, it was taken (202) and the
    message failed later with consent_unknown."""
    from fakes import FakeProvider
    from kanal import webhook_source
    with FakeProvider(default=(200, {}, {"id": "p1"})) as fake:
        k = make_kanald(sources=webhook_source(extra=f"send_url = {fake.url}/send")).start()
        accepted = []
        for to in BAD_TO:
            status, r = k.api("/v1/messages", token=WRITE_TOKEN, method="POST",
                              body={"source": "hooks", "to": to, "text": "Kampanya!"})
            if status != 400:
                accepted.append((to, status, r))
                continue
            assert r["error"]["code"] == "bad_request"
            assert r["error"]["message"].startswith("'to' "), r
            assert "webhook" in r["error"]["message"], r
        assert accepted == []
        # Nothing was queued: the first good message is m1.
        status, r = k.api("/v1/messages", token=WRITE_TOKEN, method="POST",
                          body={"source": "hooks", "to": "phone:0532 123 45 67", "text": "Hi"})
        assert status == 202 and r["id"] == "m1", r
        assert k.api("/v1/messages/m2")[0] == 404
        assert len(fake.requests) == 0 or all(
            q.json()["to"] == "phone:0532 123 45 67" for q in fake.requests)


def test_to_on_a_channel_is_a_handle_or_its_address(make_kanald):
    """On an sms source a bare phone number in any form people write it is
    taken (the channel's address); what is no phone number and no handle,
    or a handle the channel cannot reach, is refused with a 400 naming `to`
    and the channel."""
    from fakes import FakeProvider
    from test_sms import sms_source, twilio_created
    with FakeProvider(default=twilio_created("SMok")) as fake:
        k = make_kanald(sources=sms_source(fake.url), plugins=("sms",)).start()
        for to in ("+905321234567", "+90 532 123 45 67", "0532 123 45 67", "05321234567",
                   "phone:+905321234567"):
            status, r = k.api("/v1/messages", token=WRITE_TOKEN, method="POST",
                              body={"source": "sms-main", "to": to, "text": "Merhaba"})
            assert status == 202, (to, r)
        # ... and a handle of another channel is refused too (it would only
        # fail at the send).
        for to in ("ayse@example.com", "12", "0532 ABC", "+90532123456789012",
                   "email:ayse@example.com", "wa:905321234567", "x:12345", "fb:1/2"):
            status, r = k.api("/v1/messages", token=WRITE_TOKEN, method="POST",
                              body={"source": "sms-main", "to": to, "text": "Merhaba"})
            assert status == 400, (to, r)
            msg = r["error"]["message"]
            assert msg.startswith("'to' ") and "sms" in msg, (to, msg)


def test_reused_idempotency_key_with_another_body_is_a_conflict(make_kanald):
    """A repeat of the same request under its key is the first message (202,
    duplicate); the same key with any field changed is 409
    idempotency_conflict naming the first message, and nothing is queued or
    sent for it.  Before, the changed request was answered as a duplicate and
    silently not sent."""
    from fakes import FakeProvider
    from kanal import wait_message, webhook_source
    with FakeProvider(default=(200, {}, {"id": "p1"})) as fake:
        k = make_kanald(sources=webhook_source(extra=f"send_url = {fake.url}/send")
                        + webhook_source(name="other")).start()
        first = {"source": "hooks", "to": "email:ayse@example.com", "text": "Merhaba",
                 "campaign": "kasim", "idempotency_key": "crm-7"}

        def post(body):
            return k.api("/v1/messages", token=WRITE_TOKEN, method="POST", body=body)

        status, r1 = post(first)
        assert status == 202 and r1["id"] == "m1"
        # The same body again (a null field the same as an absent one): the
        # first message, not a new one.
        for same in (dict(first), dict(first, reply_to=None)):
            status, r = post(same)
            assert status == 202 and r["id"] == "m1" and r["duplicate"] is True, r
        changed = [
            dict(first, text="Merhaba!"),
            dict(first, to="email:zeynep@example.com"),
            dict(first, source="other"),
            dict(first, campaign="aralik"),
            {k_: v for k_, v in first.items() if k_ != "campaign"},
            dict(first, reply_to="wamid.1"),
            dict({k_: v for k_, v in first.items() if k_ != "text"},
                 template={"name": "hello"}),
        ]
        for body in changed:
            status, r = post(body)
            assert status == 409, (body, r)
            assert r["error"]["code"] == "idempotency_conflict", r
            assert r["error"]["id"] == "m1" and "m1" in r["error"]["message"], r
        m = wait_message(k, "m1", ("sent", "failed"), timeout=15)
        assert m["status"] == "sent" and m["text"] == "Merhaba"
        # Still idempotent once sent; nothing else was queued or sent.
        status, r = post(first)
        assert status == 202 and r["id"] == "m1" and r["status"] == "sent", r
        assert k.api("/v1/messages/m2")[0] == 404
        assert len(fake.requests) == 1
        # A new key is a new message.
        status, r = post(dict(first, text="Merhaba!", idempotency_key="crm-8"))
        assert status == 202 and r["id"] == "m2", r


def raw_get(k, path, token=READ_TOKEN):
    status, _, data = k.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    assert status == 200, (path, data)
    return data.decode()


def test_reals_are_written_shortest_round_trip(kanald):
    """0.9 is written 0.9, not 0.90000000000000002: in a stored record's meta
    (the feed, one record, a filtered page, a contact's timeline and export)
    and in a contact's link confidence (the contact, by id and by handle).
    Every text still reads back as the same number."""
    k = kanald
    reals = {"score": 0.9, "tenth": 0.1, "sum": 0.1 + 0.2, "third": 1 / 3, "big": 1e22,
             "tiny": 1.5e-7, "whole": 2.0}
    short = {"score": "0.9", "tenth": "0.1", "sum": "0.30000000000000004",
             "third": "0.3333333333333333", "big": "1e22", "tiny": "1.5e-7", "whole": "2.0"}
    status, _, body = k.post_hook(message("real-1", handle="email:real@example.com",
                                          meta=reals))
    assert status == 200, body
    # A second record gives a new phone with the known address: the phone is
    # linked with rule same-party, confidence 0.9.
    status, _, body = k.post_hook(message("real-2", handle="email:real@example.com",
                                          **{"from": {"handle": "email:real@example.com",
                                                      "handles": ["phone:+905321234567"]}}))
    assert status == 200, body
    seq = json.loads(body)["seqs"][0]
    cid = k.api(f"/v1/interactions/{seq}")[1]["contact"]
    texts = {
        "feed": raw_get(k, "/v1/interactions"),
        "record": raw_get(k, f"/v1/interactions/{seq - 1}"),
        "filtered feed": raw_get(k, "/v1/interactions?source=hooks&kind=message"),
        "timeline": raw_get(k, f"/v1/contacts/{cid}/interactions"),
        "export": raw_get(k, f"/v1/contacts/{cid}/export", ADMIN_TOKEN),
    }
    for where, text in texts.items():
        for name, t in short.items():
            assert f'"{name}":{t}' in text, (where, name, text)
        assert "0000000000" not in text.replace("0.30000000000000004", ""), (where, text)
    contact_texts = {
        "contact": raw_get(k, f"/v1/contacts/{cid}"),
        "by handle": raw_get(k, "/v1/contacts?handle=email:real@example.com"),
        "export": texts["export"],
    }
    for where, text in contact_texts.items():
        assert '"confidence":0.9' in text and "0.90000000000000002" not in text, (where, text)
        assert '"rule":"same-party"' in text, (where, text)
    # What is written reads back as the same numbers.
    rec = json.loads(texts["record"])
    assert rec["meta"] == reals
    c = json.loads(contact_texts["contact"])
    assert 0.9 in [p["confidence"] for p in _provenances(c)]


def _provenances(o):
    """Every object with a confidence in o."""
    out = []
    if isinstance(o, dict):
        if "confidence" in o:
            out.append(o)
        for v in o.values():
            out.extend(_provenances(v))
    elif isinstance(o, list):
        for v in o:
            out.extend(_provenances(v))
    return out


def test_plus_in_a_handle_query(kanald):
    """In a query '+' is a space.  ?handle=phone:+905321234567 as users type
    it finds the contact of +905321234567, with or without default_country
    (before, it was refused as a national number without one, and read as
    another country's number with one); %2B works as well.  Where a '+'
    cannot be told from a space (an e-mail address), the 400 says to write
    it as %2B."""
    k = kanald
    for ext, h in (("plus-1", "phone:+905321234567"), ("plus-2", "email:ayse+crm@example.com")):
        status, _, body = k.post_hook(message(ext, handle=h))
        assert status == 200, body
    status, phone_contact = k.api("/v1/contacts?handle=phone:%2B905321234567")
    assert status == 200
    cid = phone_contact["id"]
    as_typed = [
        "phone:+905321234567",
        "phone:+905321234567&default_country=TR",
        "phone:+905321234567&default_country=US",
        "phone:+90+532+123+45+67",                # '+90 532 123 45 67', spaces as '+'
        "phone:+90%20532%20123%2045%2067",
        "phone:%2B905321234567&default_country=DE",
    ]
    for q in as_typed:
        status, c = k.api(f"/v1/contacts?handle={q}")
        assert status == 200 and c["id"] == cid, (q, status, c)
    # A national number is still one, and a typo is still refused.
    status, c = k.api("/v1/contacts?handle=phone:0532+123+45+67&default_country=TR")
    assert status == 200 and c["id"] == cid, c
    assert k.api("/v1/contacts?handle=phone:+90532abc")[0] == 400
    # An e-mail address with a '+': the space it decodes to is refused with
    # the way to write it; %2B finds the contact.
    status, r = k.api("/v1/contacts?handle=email:ayse+crm@example.com")
    assert status == 400 and "%2B" in r["error"]["message"], r
    status, c = k.api("/v1/contacts?handle=email:ayse%2Bcrm@example.com")
    assert status == 200 and c["id"] != cid, c
