# SPDX-License-Identifier: Apache-2.0
"""The e-mail plugin's IMAP polling against a real Dovecot: messages put in
the mailbox appear as records exactly once, across kanald restarts (also
SIGKILL) and across a UIDVALIDITY change; a server that is down is retried
and reported in the source's health."""
import time

from kanal import validate_record
from mailservers import Dovecot, fixture, free_port, lmtp_port, swaks


def wait_records(k, n, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        recs = k.feed()
        if len(recs) >= n:
            for r in recs:
                validate_record(r)
            return recs
        assert time.monotonic() < deadline, f"{len(recs)} records, expected {n}:\n{k.log()}"
        time.sleep(0.1)


def source_state(k, name="mail"):
    status, body = k.api("/v1/sources")
    assert status == 200, body
    return [s for s in body["sources"] if s["name"] == name][0]


def assert_exactly_once(recs, ids):
    assert [r["seq"] for r in recs] == list(range(1, len(recs) + 1))
    got = [r["external_id"] for r in recs]
    assert sorted(got) == sorted(ids), got
    assert len(set(got)) == len(got)


def test_messages_appear_exactly_once_across_restarts_and_uidvalidity(make_kanald):
    with Dovecot() as dv:
        for name in ("turkish.eml", "no_message_id.eml", "html_only.eml"):
            dv.append(fixture(name))
        k = make_kanald(sources=dv.source(), plugins=("email",)).start()
        recs = wait_records(k, 3)
        turkish, noid, html = recs
        assert turkish["external_id"] == "20251123101500.4711@mail.example.com"
        assert turkish["subject"] == "Siparişim nerede? Çok geç kaldı"
        assert turkish["from"]["name"] == "Ayşe Yılmaz" and turkish["direction"] == "inbound"
        assert turkish["attachments"][0]["name"] == "fatura özeti.pdf"
        assert turkish["meta"]["via"] == "imap" and turkish["meta"]["imap_uid"] == 1
        uidvalidity = turkish["meta"]["imap_uidvalidity"]
        assert uidvalidity == dv.status()["UIDVALIDITY"]
        assert noid["external_id"].startswith("sha256:")
        assert html["text"].startswith("Merhaba & iyi günler,")
        ids = [r["external_id"] for r in recs]

        # Stopped cleanly: new mail arrives meanwhile; the next start resumes
        # after the last committed UID.
        assert k.stop() == 0
        for name in ("alternative.eml", "autoreply.eml"):
            dv.append(fixture(name))
        k.start()
        k.wait_log(r"imap: resuming INBOX after UID 3 \(UIDVALIDITY %d\)" % uidvalidity)
        recs = wait_records(k, 5)
        ids += ["alt-1@example.net", "ooo-1@example.com"]
        assert_exactly_once(recs, ids)

        # Killed (no clean stop at all) while mail keeps coming.
        dv.append(fixture("peer.eml"))
        wait_records(k, 6)
        k.kill()
        dv.append(fixture("brand_sent.eml"))
        k.start()
        recs = wait_records(k, 7)
        ids += ["peer-1@example.com", "brand-answer-1@brand.example"]
        assert_exactly_once(recs, ids)

        # The mailbox gets a new UIDVALIDITY (restored from a backup, rebuilt
        # by the server): every UID is new to kanal, nothing is new to the CRM.
        mark = k.log_mark()
        dv.set_uidvalidity(uidvalidity + 1000)
        dv.append(fixture("no_message_id.eml").replace(b"08:30:00", b"09:45:00"))
        k.wait_log(r"imap: UIDVALIDITY of INBOX changed from %d to %d" %
                   (uidvalidity, uidvalidity + 1000), start=mark)
        recs = wait_records(k, 8)
        # The rescan commits in UID order, so the new message's record means
        # every older one has been seen again.  Two more polls: still nothing new.
        time.sleep(2.5)
        recs = wait_records(k, 8)
        assert len(recs) == 8
        ids.append(recs[-1]["external_id"])
        assert recs[-1]["external_id"].startswith("sha256:") and recs[-1]["external_id"] != \
            noid["external_id"]
        assert recs[-1]["meta"]["imap_uidvalidity"] == uidvalidity + 1000
        assert_exactly_once(recs, ids)
        # And across one more restart under the new UIDVALIDITY.
        assert k.stop() == 0
        k.start()
        k.wait_log(r"imap: resuming INBOX after UID 8 \(UIDVALIDITY %d\)" % (uidvalidity + 1000))
        time.sleep(2.5)
        assert_exactly_once(wait_records(k, 8), ids)
        assert source_state(k)["healthy"] is True


def test_a_server_that_is_down_is_retried_and_reported(make_kanald):
    dv = Dovecot(port=free_port())
    try:
        k = make_kanald(sources=dv.source(), plugins=("email",)).start()
        deadline = time.monotonic() + 60
        while source_state(k)["healthy"]:
            assert time.monotonic() < deadline, k.log()
            time.sleep(0.1)
        s = source_state(k)
        assert s["reason"].startswith("imap: STATUS imap://127.0.0.1:") and "onnect" in s["reason"]
        k.wait_log(r"source is unhealthy: imap: ")
        k.wait_log(r"imap: .* \(attempt 2; next in 2 s\)")
        # The server comes up with mail waiting: kanal catches up by itself.
        dv.start()
        dv.append(fixture("turkish.eml"))
        recs = wait_records(k, 1, timeout=40)
        assert recs[0]["external_id"] == "20251123101500.4711@mail.example.com"
        k.wait_log(r"source is healthy again")
        assert source_state(k)["healthy"] is True
    finally:
        dv.cleanup()


def test_a_refused_login_is_reported(make_kanald):
    with Dovecot() as dv:
        src = dv.source().replace(Dovecot.PASSWORD, "wrong-password")
        k = make_kanald(sources=src, plugins=("email",)).start()
        deadline = time.monotonic() + 60
        while source_state(k)["healthy"]:
            assert time.monotonic() < deadline, k.log()
            time.sleep(0.1)
        assert "imap: " in source_state(k)["reason"]
        assert "wrong-password" not in k.log()  # secrets never in the log


def test_the_same_message_over_lmtp_and_imap_is_one_record(make_kanald, tmp_path):
    with Dovecot() as dv:
        k = make_kanald(sources=dv.source(lmtp_listen="127.0.0.1:0"), plugins=("email",)).start()
        rc, replies, out = swaks(["destek@brand.example"], fixture("turkish.eml"),
                                 port=lmtp_port(k), tmp=tmp_path)
        assert rc == 0, out
        dv.append(fixture("turkish.eml"))
        dv.append(fixture("alternative.eml"))
        recs = wait_records(k, 2)
        time.sleep(1.5)
        assert [r["external_id"] for r in wait_records(k, 2)] == [
            "20251123101500.4711@mail.example.com", "alt-1@example.net"]
        assert recs[0]["meta"]["via"] == "lmtp"


def test_no_brand_addresses_means_everything_is_inbound(make_kanald):
    with Dovecot() as dv:
        dv.append(fixture("peer.eml"))
        k = make_kanald(sources=dv.source(brand=None), plugins=("email",)).start()
        [rec] = wait_records(k, 1)
        assert rec["direction"] == "inbound"
        k.wait_log(r"no brand_addresses: every message counts as inbound")


def test_a_password_inside_the_url_is_refused(make_kanald):
    src = ("[source mail]\nplugin = email\n"
           "imap_url = imaps://destek:hunter2-secret@mail.example.com/INBOX\n")
    k = make_kanald(sources=src, plugins=("email",)).start()
    k.wait_log(r"a password in imap_url or smtp_url: use imap_password / smtp_password")
    k.wait_log(r"source refused")
    assert "hunter2-secret" not in k.log()
