# SPDX-License-Identifier: Apache-2.0
"""Identity an attacker cannot steer: evidence anyone can type (a public
form, an unmarked webhook party, a source with trust = asserted) never
merges two existing contacts.  It raises one merge candidate per pair,
which an admin confirms (a merge record in the feed) or rejects (the two
stay apart).  Verified evidence merges as before.  See docs/identity.md."""
import json
import time
import urllib.parse

import pytest

from kanal import ADMIN_TOKEN, READ_TOKEN, WRITE_TOKEN, message, validate_record, webhook_source

CAROL_MAIL, BOB_PHONE = "email:carol@example.com", "phone:+905551112233"


def form_source(name="kayit", event="atolye-2026-12", extra=""):
    return (f"[source {name}]\nplugin = signup\nprovider = form\n"
            f"event_id = {event}\nevent_name = Atölye\n"
            "redirect_url = https://marka.example/tesekkurler\n"
            f"fields = ad_soyad*,eposta*,telefon\ndefault_country = TR\n{extra}\n")


SOURCES = (webhook_source() + webhook_source("shop", extra="trust = verified") +
           webhook_source("leads", extra="trust = asserted") + form_source() +
           form_source("kayit2", event="fuar-2027"))


def form_post(k, source="kayit", name="Carol", email="carol@example.com",
              phone="0555 111 22 33"):
    body = urllib.parse.urlencode({"ad_soyad": name, "eposta": email,
                                   "telefon": phone}).encode()
    status, _, data = k.request("POST", f"/hooks/{source}", body,
                                {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 303, data
    return status


def hook(k, ext, handle, handles=(), source="hooks", trust=None, text="hello"):
    rec = message(ext, handle=handle, text=text)
    rec["from"]["handles"] = list(handles)
    if trust:
        rec["from"]["trust"] = trust
    status, _, body = k.post_hook(rec, source=source)
    assert status == 200, body
    return json.loads(body)["seqs"][0]


def contact_by(k, handle):
    status, c = k.api(f"/v1/contacts?handle={urllib.parse.quote(handle)}")
    assert status == 200, c
    return c


def candidates(k):
    status, body = k.api("/v1/contacts/candidates", token=ADMIN_TOKEN)
    assert status == 200, body
    return body["candidates"]


def carol_and_bob(k):
    """Carol from the CRM; Bob from the CRM with a private WhatsApp-like
    message of his own.  Both verified, two contacts."""
    status, carol = k.api("/v1/contacts/crm/carol-1", token=ADMIN_TOKEN, method="PUT",
                          body={"emails": ["carol@example.com"], "name": "Carol"})
    assert status == 201, carol
    status, bob = k.api("/v1/contacts/crm/bob-7", token=ADMIN_TOKEN, method="PUT",
                        body={"phones": ["+905551112233"], "name": "Bob"})
    assert status == 201, bob
    hook(k, "bob-1", BOB_PHONE, trust="verified", text="Bob's private order 4711")
    assert carol["contact"] != bob["contact"]
    return carol["contact"], bob["contact"]


def assert_apart(k, cc, cb):
    carol, bob = contact_by(k, CAROL_MAIL), contact_by(k, BOB_PHONE)
    assert carol["id"] == cc and bob["id"] == cb
    assert carol["merged"] == [] and bob["merged"] == []
    assert BOB_PHONE not in {h["handle"] for h in carol["handles"]}
    assert CAROL_MAIL not in {h["handle"] for h in bob["handles"]}
    status, export = k.api(f"/v1/contacts/{cc}/export", token=ADMIN_TOKEN)
    assert status == 200
    assert BOB_PHONE not in export["handles"] and "Bob" not in export["contact"]["names"]
    assert all("4711" not in (r.get("text") or "") for r in export["interactions"])
    assert "merge" not in [r["kind"] for r in k.feed()]
    return carol, bob


def test_anonymous_form_post_does_not_merge_two_customers(make_kanald):
    """Finding 6: a public form naming Carol's e-mail and Bob's phone."""
    k = make_kanald(sources=SOURCES, plugins=("webhook", "signup")).start()
    cc, cb = carol_and_bob(k)
    form_post(k)
    carol, bob = assert_apart(k, cc, cb)
    [cand] = candidates(k)
    assert sorted(cand["contacts"]) == sorted([cc, cb]) and cand["count"] == 1
    assert set(cand["handles"]) == {CAROL_MAIL, BOB_PHONE} and cand["source"] == "kayit"
    assert [(x["id"], x["with"]) for x in carol["merge_candidates"]] == [(cand["id"], cb)]
    assert [(x["id"], x["with"]) for x in bob["merge_candidates"]] == [(cand["id"], cc)]
    # Read tokens see that there is a candidate, not the other person's handles.
    assert "handles" not in carol["merge_candidates"][0]
    # The sign-up itself is kept, on Carol's contact (the form's main handle).
    signup = [r for r in k.feed() if r["kind"] == "signup"]
    assert len(signup) == 1 and signup[0]["contact"] == cc
    # The same post again, and the same two named by another form: one candidate.
    form_post(k)
    form_post(k, source="kayit2")
    [again] = candidates(k)
    assert again["id"] == cand["id"] and again["count"] == 2
    assert again["last_seq"] > cand["last_seq"]
    # Candidates are an admin's business: they link people.
    assert k.api("/v1/contacts/candidates", token=READ_TOKEN)[0] == 403
    assert k.api("/v1/contacts/candidates", token=WRITE_TOKEN)[0] == 403
    # They survive a restart.
    assert k.stop() == 0
    k.start()
    assert candidates(k) == [again]
    assert_apart(k, cc, cb)
    # The export of Carol shows the candidate (it is data about her).
    status, export = k.api(f"/v1/contacts/{cc}/export", token=ADMIN_TOKEN)
    [shown] = export["contact"]["merge_candidates"]
    assert shown["id"] == cand["id"] and set(shown["handles"]) == {CAROL_MAIL, BOB_PHONE}

    # An admin confirms: merged as a verified merge is, with a merge record.
    assert k.api(f"/v1/contacts/{cb}/merge", token=WRITE_TOKEN, method="POST",
                 body={"candidate": cand["id"]})[0] == 403
    status, res = k.api(f"/v1/contacts/{cb}/merge", token=ADMIN_TOKEN, method="POST",
                        body={"candidate": cand["id"]})
    assert status == 200, res
    assert (res["survivor"], res["absorbed"]) == (cc, cb)  # the older survives
    merge = [r for r in k.feed() if r["kind"] == "merge"]
    assert len(merge) == 1
    validate_record(merge[0])
    assert merge[0]["meta"]["rule"] == "admin-confirmed"
    assert merge[0]["meta"]["caused_by"] == again["last_seq"]
    assert merge[0]["meta"]["candidate"] == cand["id"]
    assert (merge[0]["meta"]["survivor"], merge[0]["meta"]["absorbed"]) == (cc, cb)
    assert candidates(k) == []
    carol = contact_by(k, BOB_PHONE)
    assert carol["id"] == cc and carol["merge_candidates"] == []
    assert [m["contact"] for m in carol["merged"]] == [cb]
    # Merging again is refused: they are one contact.
    status, res = k.api(f"/v1/contacts/{cc}/merge", token=ADMIN_TOKEN, method="POST",
                        body={"with": cb})
    assert status == 409 and res["error"]["code"] == "already_merged"


def test_a_csv_drop_does_not_merge_two_customers(make_kanald, tmp_path):
    """The same as a form, from an attendee export dropped into a folder."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    csv = ("[source expo]\nplugin = signup\nprovider = csv\n"
           f"watch_dir = {inbox}\nevent_id = expo-2027\nevent_name = Expo\n"
           "settle = 200ms\ndefault_country = TR\n")
    k = make_kanald(sources=SOURCES + csv, plugins=("webhook", "signup")).start()
    cc, cb = carol_and_bob(k)
    (inbox / "list.csv").write_text("Name,Email,Phone\nCarol,Carol@Example.com,0555 111 22 33\n")
    deadline = time.monotonic() + 60
    while not [r for r in k.feed() if r["kind"] == "signup"]:
        assert time.monotonic() < deadline, k.log()
        time.sleep(0.05)
    assert_apart(k, cc, cb)
    [cand] = candidates(k)
    assert sorted(cand["contacts"]) == sorted([cc, cb]) and cand["source"] == "expo"


@pytest.mark.parametrize("how", ["reject", "delete"])
def test_a_rejected_candidate_keeps_the_two_apart(make_kanald, how):
    k = make_kanald(sources=SOURCES, plugins=("webhook", "signup")).start()
    cc, cb = carol_and_bob(k)
    form_post(k)
    [cand] = candidates(k)
    path = f"/v1/contacts/candidates/{cand['id']}"
    if how == "reject":
        assert k.api(path + "/reject", token=READ_TOKEN, method="POST", body={})[0] == 403
        status, res = k.api(path + "/reject", token=ADMIN_TOKEN, method="POST", body={})
    else:
        status, res = k.api(path, token=ADMIN_TOKEN, method="DELETE")
    assert status == 200, res
    assert res["rejected"] == cand["id"] and res["kept_apart"] is True
    assert candidates(k) == []
    carol, bob = assert_apart(k, cc, cb)
    assert carol["merge_candidates"] == [] and bob["merge_candidates"] == []
    assert carol["kept_apart"] == [cb] and bob["kept_apart"] == [cc]
    # Later asserted evidence naming both raises nothing again.
    form_post(k, source="kayit2")
    hook(k, "lead-1", CAROL_MAIL, [BOB_PHONE])
    assert candidates(k) == []
    assert_apart(k, cc, cb)
    # Unknown ids and wrong methods get clear answers.
    assert k.api(path + "/reject", token=ADMIN_TOKEN, method="POST", body={})[0] == 404
    assert k.api(path, token=ADMIN_TOKEN, method="GET")[0] == 405
    # An admin may still merge them on purpose.
    status, res = k.api(f"/v1/contacts/{cc}/merge", token=ADMIN_TOKEN, method="POST",
                        body={"contact": cb})
    assert status == 200, res
    assert contact_by(k, BOB_PHONE)["id"] == cc


@pytest.mark.parametrize("source,trust", [
    ("hooks", None),             # an unmarked party is asserted
    ("hooks", "asserted"),       # marked asserted
    ("leads", "verified"),       # the source's trust = asserted overrides the mark
])
def test_asserted_evidence_of_every_kind_raises_a_candidate(make_kanald, source, trust):
    k = make_kanald(sources=SOURCES, plugins=("webhook", "signup")).start()
    cc, cb = carol_and_bob(k)
    seq = hook(k, "x-1", CAROL_MAIL, [BOB_PHONE, "email:new@example.com"], source=source,
               trust=trust)
    status, rec = k.api(f"/v1/interactions/{seq}")
    assert rec["contact"] == cc and "trust" not in rec["from"]
    carol, _ = assert_apart(k, cc, cb)
    [cand] = candidates(k)
    assert sorted(cand["contacts"]) == sorted([cc, cb])
    # A new handle may still be linked, and says it was only asserted.
    new = {h["handle"]: h for h in carol["handles"]}["email:new@example.com"]
    assert new["trust"] == "asserted"


@pytest.mark.parametrize("source,trust", [
    ("hooks", "verified"),       # the HMAC-signed sender vouches for the party
    ("shop", None),              # a source with trust = verified
])
def test_verified_evidence_merges(make_kanald, source, trust):
    k = make_kanald(sources=SOURCES, plugins=("webhook", "signup")).start()
    cc, cb = carol_and_bob(k)
    seq = hook(k, "v-1", CAROL_MAIL, [BOB_PHONE], source=source, trust=trust)
    status, rec = k.api(f"/v1/interactions/{seq}")
    assert rec["from"]["trust"] == "verified" and rec["contact"] == cc
    assert [m["contact"] for m in contact_by(k, BOB_PHONE)["merged"]] == [cb]
    [merge] = [r for r in k.feed() if r["kind"] == "merge"]
    assert merge["meta"]["rule"] == "same-phone" and merge["meta"]["caused_by"] == seq
    assert candidates(k) == []


def test_a_verified_merge_takes_over_the_candidates(make_kanald):
    """Carol–Bob is a candidate; then Bob's second contact is merged into
    Bob's by verified evidence: the candidate moves to the survivor."""
    k = make_kanald(sources=SOURCES, plugins=("webhook", "signup")).start()
    cc, cb = carol_and_bob(k)
    c3 = k.api(f"/v1/interactions/{hook(k, 'b2', 'email:bob@example.com')}")[1]["contact"]
    hook(k, "f-1", CAROL_MAIL, ["email:bob@example.com"])  # asserted: Carol–c3
    [cand] = candidates(k)
    assert sorted(cand["contacts"]) == sorted([cc, c3])
    hook(k, "v-2", BOB_PHONE, ["email:bob@example.com"], trust="verified")  # c3 into Bob
    [moved] = candidates(k)
    assert sorted(moved["contacts"]) == sorted([cc, cb]) and moved["count"] == 1
    assert [x["id"] for x in contact_by(k, BOB_PHONE)["merge_candidates"]] == [moved["id"]]


def test_erasure_removes_the_candidates(make_kanald):
    k = make_kanald(sources=SOURCES, plugins=("webhook", "signup")).start()
    cc, cb = carol_and_bob(k)
    form_post(k)
    assert len(candidates(k)) == 1
    status, res = k.api(f"/v1/contacts/{cc}", token=ADMIN_TOKEN, method="DELETE")
    assert status == 200, res
    assert candidates(k) == []
    bob = contact_by(k, BOB_PHONE)
    assert bob["id"] == cb and bob["merge_candidates"] == []
    assert k.stop() == 0
    data = (k.store / "data.mdb").read_bytes()
    assert b"carol@example.com" not in data


def test_candidates_are_bounded(make_kanald):
    k = make_kanald(sources=SOURCES, plugins=("webhook", "signup"),
                    kanald="max_merge_candidates = 2").start()
    for i in range(4):  # four pairs of contacts, each known by one handle
        hook(k, f"e{i}", f"email:p{i}@example.com", trust="verified")
        hook(k, f"p{i}", f"phone:+9055500000{i:02d}", trust="verified")
    for i in range(3):
        form_post(k, name=f"Kişi {i}", email=f"p{i}@example.com", phone=f"0555 000 00 {i:02d}")
    listed = candidates(k)
    assert len(listed) == 2
    k.wait_log(r"merge candidate c\d+-c\d+ .*not kept: .*max_merge_candidates")
    # Every post was stored all the same, none merged anything.
    assert len([r for r in k.feed() if r["kind"] == "signup"]) == 3
    assert "merge" not in [r["kind"] for r in k.feed()]
    # Rejecting one makes room for the next.
    status, _ = k.api(f"/v1/contacts/candidates/{listed[0]['id']}/reject", token=ADMIN_TOKEN,
                      method="POST", body={})
    assert status == 200
    form_post(k, name="Kişi 3", email="p3@example.com", phone="0555 000 00 03")
    assert len(candidates(k)) == 2


def test_candidate_routes_refuse_bad_requests(make_kanald):
    k = make_kanald(sources=SOURCES, plugins=("webhook", "signup")).start()
    cc, cb = carol_and_bob(k)
    for body in ({}, {"with": 5}, {"with": ""}, {"candidate": "nope"}, {"with": "c999"}):
        status, res = k.api(f"/v1/contacts/{cc}/merge", token=ADMIN_TOKEN, method="POST",
                            body=body)
        assert status in (400, 404) and "error" in res, (body, status, res)
    assert k.api("/v1/contacts/c999/merge", token=ADMIN_TOKEN, method="POST",
                 body={"with": cb})[0] == 404
    assert k.api("/v1/contacts/candidates", token=ADMIN_TOKEN, method="POST", body={})[0] == 405
    assert k.api("/v1/contacts/candidates?limit=0", token=ADMIN_TOKEN)[0] == 400
    assert_apart(k, cc, cb)


MAIL = ("{ar}From: Carol <carol@example.com>\r\nTo: Destek <destek@brand.example>\r\n"
        "Subject: Sipariş\r\nMessage-ID: <{mid}@example.com>\r\n"
        "Date: Sun, 23 Nov 2025 10:15:00 +0300\r\n\r\nMerhaba\r\n")
OURS = "mx.brand.example"


@pytest.mark.parametrize("headers,authserv_id,verified", [
    # The receiving MTA's own header, on top, with DMARC passing for the From.
    ([f"{OURS}; spf=pass smtp.mailfrom=example.com; dmarc=pass (p=reject) "
      "header.from=example.com"], OURS, True),
    ([f"{OURS.upper()} 1; dkim=pass header.d=example.com;\r\n dmarc=pass header.from=EXAMPLE.com"],
     OURS, True),
    # Headers anyone can add: another id on top, ours below it.
    ([f"evil.example; dmarc=pass header.from=example.com",
      f"{OURS}; dmarc=pass header.from=example.com"], OURS, False),
    ([f"{OURS}.evil.example; dmarc=pass header.from=example.com"], OURS, False),
    # Ours on top but not passing, a forged pass below.
    ([f"{OURS}; dmarc=fail header.from=example.com",
      f"{OURS}; dmarc=pass header.from=example.com"], OURS, False),
    ([f"{OURS}; dmarc=passed header.from=example.com"], OURS, False),
    # Passing for another domain than the From's.
    ([f"{OURS}; dmarc=pass header.from=example.org"], OURS, False),
    ([f"{OURS}; dmarc=pass header.from=mail.example.com"], OURS, False),
    ([f"{OURS}; dkim=pass header.from=example.com; dmarc=none"], OURS, False),
    # No authserv_id configured: nothing is the MTA's.
    ([f"{OURS}; dmarc=pass header.from=example.com"], None, False),
    ([], OURS, False),
])
def test_email_from_is_verified_only_by_the_receiving_mtas_dmarc_pass(
        make_kanald, tmp_path, headers, authserv_id, verified):
    from mailservers import email_source, lmtp_port, swaks
    opts = {"lmtp_listen": "127.0.0.1:0"}
    if authserv_id:
        opts["authserv_id"] = authserv_id
    k = make_kanald(sources=email_source(**opts), plugins=("email",)).start()
    ar = "".join(f"Authentication-Results: {h}\r\n" for h in headers)
    rc, replies, out = swaks(["destek@brand.example"], MAIL.format(ar=ar, mid="m1").encode(),
                             port=lmtp_port(k), mail_from="carol@example.com", tmp=tmp_path)
    assert rc == 0, out
    [rec] = k.feed()
    validate_record(rec)
    assert rec["from"]["handle"] == "email:carol@example.com"
    assert rec["from"].get("trust") == ("verified" if verified else None)


@pytest.mark.parametrize("kanald,sources,error", [
    ("", webhook_source(extra="trust = yes"), "'trust' = 'yes'"),
    ("", webhook_source(extra="trust = Verified"), "'trust' = 'Verified'"),
    ("max_merge_candidates = -1", webhook_source(), "'max_merge_candidates' must be at least 0"),
    ("max_merge_candidates = many", webhook_source(), "'max_merge_candidates' = 'many'"),
])
def test_bad_trust_settings_are_config_errors(make_kanald, kanald, sources, error):
    import subprocess
    from kanal import KANALD
    k = make_kanald(kanald=kanald, sources=sources)
    out = subprocess.run([str(KANALD), "--check-config", "-c", str(k.conf)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and error in out.stderr, out.stderr
