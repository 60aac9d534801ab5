# SPDX-License-Identifier: Apache-2.0
"""Contacts: one person across channels is one contact, matched to the
CRM's customer; merges and splits are feed records; consent stops sends;
erasure leaves nothing personal in the store file; clicks are tracked."""
import json
import subprocess
import time

from fakes import FakeProvider
from kanal import ADMIN_TOKEN, WRITE_TOKEN, message, validate_record, webhook_source


def person_record(ext, channel, handle, handles=(), name=None, kind="message", trust=None,
                  **extra):
    rec = message(ext, handle=handle, channel=channel, kind=kind, **extra)
    if handles:
        rec["from"]["handles"] = list(handles)
    if name:
        rec["from"]["name"] = name
    if trust:  # the HMAC-signed sender vouches for the party (source trust = auto)
        rec["from"]["trust"] = trust
    return rec


def contact_of(k, seq):
    status, rec = k.api(f"/v1/interactions/{seq}")
    assert status == 200
    return rec["contact"]


def post(k, rec):
    status, _, body = k.post_hook(rec)
    assert status == 200, body
    return json.loads(body)["seqs"][0]


def test_one_person_across_channels_and_events(kanald):
    k = kanald
    s_wa = post(k, person_record("wamid.1", "whatsapp", "wa:905321234567",
                                 ["phone:+905321234567"], name="Ayşe Yılmaz"))
    s_sms = post(k, person_record("SM1", "sms", "phone:0532 123 45 67"))
    s_mail = post(k, person_record("<m1@example.com>", "email", "email:Ayse@Example.com"))
    assert contact_of(k, s_wa) == contact_of(k, s_sms)  # the same number
    c1 = contact_of(k, s_wa)
    c2 = contact_of(k, s_mail)
    assert c1 != c2  # nothing links the e-mail yet
    ev_a = {"id": "ev-istanbul", "name": "İstanbul Meetup", "starts_at": "2026-10-01T18:00:00Z"}
    ev_b = {"id": "ev-ankara", "name": "Ankara Workshop"}
    # The in-house event system checked the attendee's e-mail and phone.
    s_a = post(k, person_record("ev-istanbul/ayse", "signup", "email:ayse@example.com",
                                ["phone:+90 532 123 45 67"], kind="signup", event=ev_a,
                                trust="verified"))
    s_b = post(k, person_record("ev-ankara/ayse", "signup", "email:ayse@example.com",
                                kind="signup", event=ev_b))
    assert contact_of(k, s_a) == c1 and contact_of(k, s_b) == c1
    # The merge is a record in the feed, right after the record that caused it.
    merges = [r for r in k.feed() if r["kind"] == "merge"]
    assert len(merges) == 1
    m = merges[0]
    validate_record(m)
    assert m["seq"] == s_a + 1 and m["source"] == "kanal"
    assert m["meta"]["survivor"] == c1 and m["meta"]["absorbed"] == c2
    assert m["meta"]["caused_by"] == s_a

    status, c = k.api(f"/v1/contacts/{c1}")
    assert status == 200
    handles = {h["handle"]: h for h in c["handles"]}
    assert set(handles) >= {"wa:905321234567", "phone:+905321234567", "email:ayse@example.com"}
    assert handles["wa:905321234567"]["seq"] == s_wa
    assert handles["phone:+905321234567"]["rule"] == "same-number"
    assert handles["email:ayse@example.com"]["merged_from"] == c2
    assert handles["email:ayse@example.com"]["rule"] == "same-email"  # how c2 was reached
    assert "Ayşe Yılmaz" in c["names"]
    assert set(c["channels"]) == {"whatsapp", "sms", "email", "signup"}
    assert c["counts"]["kind"]["signup"] == 2 and c["counts"]["direction"]["inbound"] == 5
    assert [e["id"] for e in c["events"]] == ["ev-istanbul", "ev-ankara"]
    assert c["first_event"]["id"] == "ev-istanbul"
    assert [e["id"] for e in c["met_again_at"]] == ["ev-ankara"]
    # The absorbed id still answers, with the survivor.
    status, c2view = k.api(f"/v1/contacts/{c2}")
    assert c2view["id"] == c1 and c2view["requested"] == c2
    # By handle, in any format.
    status, byh = k.api("/v1/contacts?handle=phone:%2B90%20532%20123%2045%2067")
    assert status == 200 and byh["id"] == c1
    assert k.api("/v1/contacts?handle=email:nobody@example.com")[0] == 404
    # The timeline holds every record, the absorbed side's too.
    status, tl = k.api(f"/v1/contacts/{c1}/interactions")
    assert [r["seq"] for r in tl["interactions"]] == [s_wa, s_sms, s_mail, s_a, s_a + 1, s_b]

    # The CRM links its customer by e-mail.
    status, res = k.api("/v1/contacts/crm/C-100", token=ADMIN_TOKEN, method="PUT",
                        body={"emails": ["AYSE@example.com"], "name": "Ayşe Yılmaz"})
    assert status == 200 and res == {"crm_id": "C-100", "contact": c1, "created": False,
                                      "matched": True, "merged": 0}
    s_after = post(k, person_record("wamid.2", "whatsapp", "wa:905321234567"))
    assert contact_of(k, s_after) == c1
    status, c = k.api(f"/v1/contacts/{c1}")
    assert c["crm"] == "C-100"
    assert {h["handle"]: h["rule"] for h in c["handles"]}["crm:C-100"] == "crm-link"
    # Import is idempotent and reports what it did.
    rows = "\n".join(json.dumps(r) for r in [
        {"crm_id": "C-100", "emails": ["ayse@example.com"]},
        {"crm_id": "C-200", "phones": ["0544 000 11 22"], "default_country": "TR",
         "name": "Mehmet"},
        {"phones": ["1"]}])
    status, _, raw = k.request("POST", "/v1/contacts/import", rows.encode(),
                               {"Authorization": f"Bearer {ADMIN_TOKEN}"})
    rep = json.loads(raw)
    assert status == 200
    assert (rep["rows"], rep["matched"], rep["created"], rep["merged"]) == (3, 1, 1, 0)
    assert rep["errors"][0]["line"] == 3
    status, _, raw = k.request("POST", "/v1/contacts/import", rows.encode(),
                               {"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert (json.loads(raw)["matched"], json.loads(raw)["created"]) == (2, 0)
    assert k.api("/v1/contacts/import", method="POST", body=[], token=WRITE_TOKEN)[0] == 403
    for r in k.feed():
        validate_record(r)


def test_a_wrong_merge_is_split_again(kanald):
    k = kanald
    s1 = post(k, person_record("a1", "email", "email:ali@example.com", name="Ali"))
    s2 = post(k, person_record("b1", "sms", "phone:+905551112233", name="Burak"))
    ca, cb = contact_of(k, s1), contact_of(k, s2)
    # A system that vouches for its data (trust verified) got it wrong:
    # Ali's e-mail with Burak's phone.
    s3 = post(k, person_record("f1", "signup", "email:ali@example.com",
                               ["phone:+905551112233"], kind="signup",
                               event={"id": "e1", "name": "Fuar"}, trust="verified"))
    assert contact_of(k, s3) == ca
    status, c = k.api(f"/v1/contacts/{ca}")
    assert c["merged"][0]["contact"] == cb
    status, res = k.api(f"/v1/contacts/{ca}/split", token=ADMIN_TOKEN, method="POST",
                        body={"absorbed": cb})
    assert status == 200 and res["restored"] == cb and res["handles"] >= 1
    assert k.api(f"/v1/contacts/{ca}/split", token=WRITE_TOKEN, method="POST", body={})[0] == 403
    status, a = k.api(f"/v1/contacts/{ca}")
    status, b = k.api(f"/v1/contacts/{cb}")
    assert b["id"] == cb and "merged_into" not in b
    assert {h["handle"] for h in a["handles"]} == {"email:ali@example.com"}
    assert {h["handle"] for h in b["handles"]} == {"phone:+905551112233"}
    assert {h["handle"]: h["rule"] for h in b["handles"]}["phone:+905551112233"] == "split"
    # Later records land on the right contacts, and do not merge them again.
    assert contact_of(k, post(k, person_record("b2", "sms", "phone:05551112233"))) == cb
    assert contact_of(k, post(k, person_record("a2", "email", "email:ali@example.com"))) == ca
    again = post(k, person_record("f2", "signup", "email:ali@example.com",
                                  ["phone:+905551112233"], kind="signup",
                                  event={"id": "e2", "name": "Fuar 2"}, trust="verified"))
    assert contact_of(k, again) == ca
    kinds = [r["kind"] for r in k.feed()]
    assert kinds.count("merge") == 1 and kinds.count("split") == 1
    split = [r for r in k.feed() if r["kind"] == "split"][0]
    validate_record(split)
    assert split["meta"]["survivor"] == ca and split["meta"]["absorbed"] == cb


def test_opted_out_contact_gets_no_send(make_kanald):
    with FakeProvider(default=(200, {}, {"id": "p1"})) as fake:
        k = make_kanald(sources=webhook_source(extra=f"send_url = {fake.url}/send")).start()
        s = post(k, person_record("in-1", "webhook", "email:zeynep@example.com"))
        cid = contact_of(k, s)
        # The customer says STOP on the channel itself.
        post(k, person_record("stop-1", "webhook", "email:zeynep@example.com", kind="optout"))
        status, c = k.api(f"/v1/contacts/{cid}")
        assert c["consent"]["webhook"]["state"] == "optout"
        status, r = k.api("/v1/messages", token=WRITE_TOKEN, method="POST",
                          body={"source": "hooks", "to": "email:Zeynep@example.com",
                                "text": "Kampanya!"})
        assert status == 202
        deadline = time.monotonic() + 60
        while True:
            m = k.api(f"/v1/messages/{r['id']}")[1]
            if m["status"] in ("sent", "failed") or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert m["status"] == "failed" and m["reason"] == "opted_out"
        assert fake.requests == []
        # The CRM records consent again; the next send goes out.
        status, res = k.api(f"/v1/contacts/{cid}/consent", token=WRITE_TOKEN, method="POST",
                            body={"channel": "webhook", "state": "optin", "reason": "form"})
        assert status == 200 and res["state"] == "optin"
        status, r = k.api("/v1/messages", token=WRITE_TOKEN, method="POST",
                          body={"source": "hooks", "to": "email:zeynep@example.com",
                                "text": "Kampanya!"})
        deadline = time.monotonic() + 60
        while k.api(f"/v1/messages/{r['id']}")[1]["status"] != "sent":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert len(fake.requests) == 1
        consent = [x for x in k.feed() if x["kind"] == "optin"][0]
        validate_record(consent)
        assert consent["contact"] == cid and consent["channel"] == "webhook"
        assert k.api(f"/v1/contacts/{cid}/consent", token=WRITE_TOKEN, method="POST",
                     body={"channel": "webhook", "state": "maybe"})[0] == 400


def test_erasure_leaves_nothing_personal(make_kanald):
    with FakeProvider(default=(500, {}, b"down")) as fake:
        k = make_kanald(sources=webhook_source(
            extra=f"send_url = {fake.url}/send\nsend_max_attempts = 50")).start()
        email, phone, name = "elif.demir@example.com", "+905339876543", "Elif Demir"
        post(k, person_record("<e1@mail.example.com>", "email", f"email:{email}",
                              [f"phone:{phone}"], name=name, text="Adresim Kadıköy 12",
                              subject="Teslimat", thread="<e1@mail.example.com>"))
        s2 = post(k, person_record("wamid.E", "whatsapp", f"wa:{phone[1:]}", [f"phone:{phone}"],
                                   name=name))
        other = post(k, person_record("x1", "sms", "phone:+905550000000", name="Başka Biri",
                                      to=[{"handle": f"email:{email}", "name": name}]))
        cid = contact_of(k, s2)
        status, r = k.api("/v1/messages", token=WRITE_TOKEN, method="POST",
                          body={"source": "hooks", "to": f"email:{email}", "text": "Merhaba Elif"})
        before = k.feed()
        status, exp = k.api(f"/v1/contacts/{cid}/export", token=ADMIN_TOKEN)
        assert status == 200 and len(exp["interactions"]) == 3
        assert email in json.dumps(exp)
        status, res = k.api(f"/v1/contacts/{cid}", token=ADMIN_TOKEN, method="DELETE")
        assert status == 200, res
        assert res["erased"] == cid and res["records"] == 3
        assert res["cancelled_messages"] == [r["id"]]
        assert k.api(f"/v1/contacts/{cid}")[0] == 404
        assert k.api(f"/v1/messages/{r['id']}")[1]["status"] == "failed"
        after = k.feed()
        # Seqs and the shape of the feed stay; one erase record is added.
        assert [x["seq"] for x in after] == list(range(1, len(before) + 2))
        for old, new in zip(before, after):
            assert (old["seq"], old["kind"], old["channel"], old["direction"],
                    old["occurred_at"]) == (new["seq"], new["kind"], new["channel"],
                                            new["direction"], new["occurred_at"])
            validate_record(new)
        erase = after[-1]
        assert erase["kind"] == "erase" and erase["meta"]["contact"] == cid
        kept = [x for x in after if x["seq"] == other][0]
        assert kept["from"]["name"] == "Başka Biri"  # someone else's record stays theirs
        assert kept["to"][0]["handle"].startswith("erased:")
        # A redelivery of an erased message is still recognised.
        status, _, body = k.post_hook(person_record("wamid.E", "whatsapp", f"wa:{phone[1:]}"))
        assert status == 200 and json.loads(body)["seqs"] == [s2]
        assert k.stop() == 0
        data = (k.store / "data.mdb").read_bytes()
        for secret in (email, email.encode().upper().decode(), phone, phone[1:], name,
                       "Elif", "Kadıköy", "e1@mail.example.com", "Merhaba Elif"):
            assert secret.encode() not in data, f"{secret!r} is still in data.mdb"
        assert b"Ba\xc5\x9fka Biri" in data  # the other person's data is still there
        from kanal import BUILD
        out = subprocess.run([str(BUILD / "kanalctl"), "-s", str(k.store), "check"],
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr
        # So is one after a restart (the store's erased keys are found at open).
        k.start()
        status, _, body = k.post_hook(person_record("wamid.E", "whatsapp", f"wa:{phone[1:]}"))
        assert status == 200 and json.loads(body)["seqs"] == [s2]
        assert k.stop() == 0


def test_contact_ids_survive_a_crash_and_an_erasure(make_kanald):
    """kanald writes the contact counter to the store a block of numbers at
    a time: killed, it counts on over the contacts it finds; an erasure of
    the newest contact does not give its id again; and the store's
    next_contact, which an earlier kanald goes on from, is past every id
    given."""
    import lmdb
    k = make_kanald().start()

    def person(n, ext=None):
        return post(k, person_record(ext or f"p{n}", "sms", f"phone:+9053300000{n:02d}",
                                     [f"email:p{n}@example.com"]))

    def next_contact():
        env = lmdb.open(str(k.store), readonly=True, lock=False, max_dbs=16)
        try:
            with env.begin() as txn:
                v = txn.get(b"next_contact", db=env.open_db(b"meta", txn=txn))
        finally:
            env.close()
        return int.from_bytes(v, "little")

    assert [contact_of(k, person(n)) for n in (1, 2, 3)] == ["c1", "c2", "c3"]
    k.kill()
    assert next_contact() > 3
    k.start()
    assert contact_of(k, person(4)) == "c4"
    status, res = k.api("/v1/contacts/c4", token=ADMIN_TOKEN, method="DELETE")
    assert status == 200 and res["erased"] == "c4", res
    k.kill()
    k.start()
    assert contact_of(k, person(5)) == "c5"  # c4 is not given twice
    assert k.api("/v1/contacts/c4")[0] == 404
    assert contact_of(k, person(2, ext="p2-again")) == "c2"  # resolved, not a new contact
    k.kill()
    assert next_contact() > 5


def test_timeline_whole_across_crashes(make_kanald):
    """kanald keeps the newest records' timeline entries in memory and puts
    them in the store 64 records at a time, the log being their journal: a
    contact's interactions are all there right after each post, after a
    SIGKILL, and across the put; an erasure finds every one."""
    k = make_kanald().start()
    phone = "phone:+905330001111"

    def visits(start, stop):
        return [post(k, person_record(f"t{i}", "sms", phone)) for i in range(start, stop)]

    def interactions(cid):
        status, tl = k.api(f"/v1/contacts/{cid}/interactions?limit=1000")
        assert status == 200, tl
        return [r["seq"] for r in tl["interactions"]]

    seqs = visits(0, 5)
    cid = contact_of(k, seqs[0])
    assert interactions(cid) == seqs
    k.kill()
    k.start()
    assert interactions(cid) == seqs
    seqs += visits(5, 70)  # past 64 records: the entries go to the store
    assert interactions(cid) == seqs
    k.kill()
    k.start()
    seqs += visits(70, 75)
    assert interactions(cid) == seqs
    status, res = k.api(f"/v1/contacts/{cid}", token=ADMIN_TOKEN, method="DELETE")
    assert status == 200 and res["records"] == 75, res


def test_tracking_link_records_a_click(kanald):
    k = kanald
    s = post(k, person_record("c-in", "email", "email:can@example.com"))
    cid = contact_of(k, s)
    status, link = k.api("/v1/links", token=WRITE_TOKEN, method="POST",
                         body={"url": "https://shop.example.com/kasim?x=1", "campaign": "kasim",
                               "contact": cid})
    assert status == 201 and link["url"].endswith("/t/" + link["token"])
    assert len(link["token"]) >= 20
    status, headers, _ = k.request("GET", "/t/" + link["token"],
                                   headers={"User-Agent": "Mozilla/5.0 test"})
    assert status == 302 and headers["Location"] == "https://shop.example.com/kasim?x=1"
    click = [r for r in k.feed() if r["kind"] == "click"]
    assert len(click) == 1
    validate_record(click[0])
    assert click[0]["campaign"] == "kasim" and click[0]["contact"] == cid
    assert click[0]["meta"]["user_agent"] == "Mozilla/5.0 test"
    assert k.request("GET", "/t/no-such-token-000000")[0] == 404
    assert k.api("/v1/links", method="POST", body={"url": "ftp://x", "campaign": "c"},
                 token=WRITE_TOKEN)[0] == 400
    status, c = k.api(f"/v1/contacts/{cid}")
    assert c["counts"]["kind"]["click"] == 1


def test_kanalctl_contacts_import(kanald, tmp_path):
    from kanal import BUILD
    k = kanald
    s = post(k, person_record("w1", "whatsapp", "wa:905321112233", ["phone:+905321112233"]))
    existing = contact_of(k, s)
    csv = tmp_path / "musteriler.csv"
    # A spreadsheet's export: BOM, ';'-separated, a quoted name with the separator.
    csv.write_bytes("\ufeffcrm_id;Ad Soyad;E-posta;Telefon\n"
                    "M-1;\"Yılmaz; Ayşe\";ayse@example.com;0532 111 22 33\n"
                    "M-2;Mehmet Öz;mehmet@example.com | m.oz@example.com;\n"
                    ";Adsız;x@example.com;\n".encode())
    tokens = tmp_path / "token"
    tokens.write_text(ADMIN_TOKEN + "\n")
    cmd = [str(BUILD / "kanalctl"), "contacts", "import", "--url", f"http://127.0.0.1:{k.port}",
           "--token-file", str(tokens), "--country", "TR", str(csv)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 1, out.stderr  # one row refused
    assert out.stdout.strip() == "3 row(s): 1 matched, 1 created, 0 merged, 1 refused"
    assert f"{csv}:4: crm_id is required" in out.stderr
    status, c = k.api(f"/v1/contacts/{existing}")
    assert c["crm"] == "M-1" and "Yılmaz; Ayşe" in c["names"]
    assert "email:ayse@example.com" in {h["handle"] for h in c["handles"]}
    status, m = k.api("/v1/contacts?handle=email:m.oz@example.com")
    assert status == 200 and m["crm"] == "M-2"
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.stdout.strip() == "3 row(s): 2 matched, 0 created, 0 merged, 1 refused"
    bad = subprocess.run(cmd[:5] + ["--token-file", str(tmp_path / "missing"), str(csv)],
                         capture_output=True, text=True)
    assert bad.returncode == 2


def test_unsubscribe_link_records_an_optout(make_kanald):
    with FakeProvider(default=(200, {}, {"id": "p1"})) as fake:
        k = make_kanald(sources=webhook_source(extra=f"send_url = {fake.url}/send")).start()
        cid = contact_of(k, post(k, person_record("u1", "webhook", "email:deniz@example.com")))
        status, link = k.api("/v1/links", token=WRITE_TOKEN, method="POST",
                             body={"url": "https://shop.example.com/unsubscribed",
                                   "campaign": "bulten", "contact": cid,
                                   "action": "unsubscribe", "channel": "webhook"})
        assert status == 201
        # GET only asks (link scanners GET every link); the POST opts out.
        status, headers, _ = k.request("GET", "/t/" + link["token"])
        assert status == 200 and "Location" not in headers
        assert [r for r in k.feed() if r["kind"] == "optout"] == []
        status, headers, _ = k.request("POST", "/t/" + link["token"])
        assert status == 200 and "Location" not in headers
        optout = [r for r in k.feed() if r["kind"] == "optout"]
        assert len(optout) == 1 and optout[0]["contact"] == cid
        assert optout[0]["channel"] == "webhook" and optout[0]["campaign"] == "bulten"
        validate_record(optout[0])
        status, c = k.api(f"/v1/contacts/{cid}")
        assert c["consent"]["webhook"]["state"] == "optout"
        status, r = k.api("/v1/messages", token=WRITE_TOKEN, method="POST",
                          body={"source": "hooks", "to": "email:deniz@example.com", "text": "x"})
        deadline = time.monotonic() + 60
        while k.api(f"/v1/messages/{r['id']}")[1]["status"] not in ("sent", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert k.api(f"/v1/messages/{r['id']}")[1]["reason"] == "opted_out"
        assert fake.requests == []
        assert k.api("/v1/links", token=WRITE_TOKEN, method="POST",
                     body={"url": "https://x.example", "campaign": "c",
                           "action": "unsubscribe"})[0] == 400


def test_crm_value_and_currency(kanald, tmp_path):
    """The CRM's value of a customer and its currency (the scores' monetary
    value) are kept on the contact and shown by GET /v1/contacts/ID; a value
    that is no number of 0 or more, or a currency that is no ISO 4217 code,
    is refused with a 400 that says so, and nothing is linked or kept."""
    from kanal import BUILD
    k = kanald
    cid = contact_of(k, post(k, person_record("v1", "email", "email:deniz@example.com")))
    status, res = k.api("/v1/contacts/crm/V-1", token=ADMIN_TOKEN, method="PUT",
                        body={"emails": ["deniz@example.com"], "value": 1250.5,
                              "currency": "TRY"})
    assert status == 200 and res["contact"] == cid
    status, c = k.api(f"/v1/contacts/{cid}")
    assert c["value"] == 1250.5 and c["currency"] == "TRY" and c["crm"] == "V-1"
    # An integer is a number too; a row without them leaves them as they were.
    assert k.api("/v1/contacts/crm/V-1", token=ADMIN_TOKEN, method="PUT",
                 body={"value": 0})[0] == 200
    assert k.api("/v1/contacts/crm/V-1", token=ADMIN_TOKEN, method="PUT",
                 body={"name": "Deniz"})[0] == 200
    status, c = k.api(f"/v1/contacts/{cid}")
    assert c["value"] == 0 and c["currency"] == "TRY"
    for bad, field in [({"value": -1}, "'value'"), ({"value": "100"}, "'value'"),
                       ({"value": True}, "'value'"), ({"value": [1]}, "'value'"),
                       ({"currency": "try"}, "'currency'"), ({"currency": "TL"}, "'currency'"),
                       ({"currency": "ABC"}, "'currency'"), ({"currency": 949}, "'currency'")]:
        status, err = k.api("/v1/contacts/crm/V-2", token=ADMIN_TOKEN, method="PUT",
                            body={"emails": ["new@example.com"], **bad})
        assert status == 400, (bad, err)
        assert field in err["error"]["message"], err
    # Nothing was linked by the refused requests.
    assert k.api("/v1/contacts?handle=email:new@example.com")[0] == 404
    # null clears them.
    assert k.api("/v1/contacts/crm/V-1", token=ADMIN_TOKEN, method="PUT",
                 body={"value": None, "currency": None})[0] == 200
    status, c = k.api(f"/v1/contacts/{cid}")
    assert "value" not in c and "currency" not in c

    # The import: a bad row is refused with its line, the others are kept.
    rows = "\n".join(json.dumps(r) for r in [
        {"crm_id": "V-3", "emails": ["a3@example.com"], "value": 99.9, "currency": "EUR"},
        {"crm_id": "V-4", "emails": ["a4@example.com"], "value": -5},
        {"crm_id": "V-5", "emails": ["a5@example.com"], "currency": "EURO"}])
    status, _, raw = k.request("POST", "/v1/contacts/import", rows.encode(),
                               {"Authorization": f"Bearer {ADMIN_TOKEN}"})
    rep = json.loads(raw)
    assert status == 200 and rep["created"] == 1
    assert [(e["line"], e["crm_id"]) for e in rep["errors"]] == [(2, "V-4"), (3, "V-5")]
    assert "'value'" in rep["errors"][0]["error"] and "'currency'" in rep["errors"][1]["error"]
    status, c = k.api("/v1/contacts?handle=email:a3@example.com")
    assert c["value"] == 99.9 and c["currency"] == "EUR"
    assert k.api("/v1/contacts?handle=email:a4@example.com")[0] == 404

    # kanalctl reads the columns from a CSV export (a decimal comma too).
    csv = tmp_path / "degerler.csv"
    csv.write_text("crm_id;E-posta;Tutar;Para birimi\n"
                   "K-1;k1@example.com;\"1500,75\";TRY\n"
                   "K-2;k2@example.com;çok;TRY\n")
    tokens = tmp_path / "token"
    tokens.write_text(ADMIN_TOKEN + "\n")
    out = subprocess.run([str(BUILD / "kanalctl"), "contacts", "import", "--url",
                          f"http://127.0.0.1:{k.port}", "--token-file", str(tokens), str(csv)],
                         capture_output=True, text=True)
    assert out.returncode == 1, out.stderr
    assert f"{csv}:3:" in out.stderr and "'value'" in out.stderr
    status, c = k.api("/v1/contacts?handle=email:k1@example.com")
    assert c["value"] == 1500.75 and c["currency"] == "TRY"
