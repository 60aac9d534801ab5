# SPDX-License-Identifier: Apache-2.0
"""The e-mail plugin's LMTP listener: an MTA (swaks, speaking real LMTP,
plays Postfix's lmtp: transport) delivers straight into kanal; every
accepted recipient is answered only after the commit, and with 451 while
the store cannot commit, so that the MTA keeps the mail.  Also the MIME
side: what the stored records say about real-world messages."""
import os
import socket
import stat
import subprocess
import time

import pytest

from kanal import validate_record
from mailservers import email_source, fixture, lmtp_port, swaks

BRAND_RCPTS = ["destek@brand.example", "info@brand.example", "satis@brand.example"]


def lmtp_kanald(make_kanald, sub="k", store=None, **opts):
    opts.setdefault("lmtp_listen", "127.0.0.1:0")
    k = make_kanald(sub, sources=email_source(**opts), plugins=("email",), store=store).start()
    return k, lmtp_port(k)


def records(k):
    recs = k.feed()
    for r in recs:
        validate_record(r)
    return recs


def delivered(rcpts):
    return [f"250 2.1.5 <{r}> delivered" for r in rcpts]


def test_multi_recipient_delivery_is_one_record_answered_after_commit(make_kanald, tmp_path):
    k, port = lmtp_kanald(make_kanald)
    rc, replies, out = swaks(BRAND_RCPTS, fixture("turkish.eml"), port=port, tmp=tmp_path)
    assert rc == 0, out
    # One reply per accepted recipient, in RCPT order, after the final dot.
    assert replies == delivered(BRAND_RCPTS), out
    # Acknowledged means committed: the record is in the feed already.
    [rec] = records(k)
    assert (rec["channel"], rec["kind"], rec["direction"]) == ("email", "message", "inbound")
    assert rec["external_id"] == "20251123101500.4711@mail.example.com"
    assert rec["thread"] == rec["external_id"] and "reply_to" not in rec
    assert rec["occurred_at"] == "2025-11-23T07:15:00.000Z"
    # Encoded words in UTF-8 and ISO-8859-9, decoded; the address lower-cased.
    assert rec["from"] == {"handle": "email:ayse@example.com", "name": "Ayşe Yılmaz",
                           "role": "customer", "handles": ["email:ayse@example.com"]}
    assert rec["subject"] == "Siparişim nerede? Çok geç kaldı"
    assert [(p["handle"], p.get("name"), p["role"]) for p in rec["to"]] == [
        ("email:destek@brand.example", "Destek", "brand"),
        ("email:mehmet@example.com", "Mehmet Öztürk", "customer")]
    assert rec["meta"]["cc"] == ["email:mehmet@example.com"]
    # A quoted-printable ISO-8859-9 body, in UTF-8.
    assert rec["text"] == ("Merhaba,\n\nSiparişim (no. 4711) hâlâ gelmedi. Çok üzgünüm ama iade "
                           "istiyorum.\nİyi günler,\nAyşe Yılmaz")
    assert rec["attachments"] == [{"type": "file", "mime": "application/pdf", "size": 1216,
                                   "name": "fatura özeti.pdf"}]
    assert rec["meta"]["via"] == "lmtp" and rec["meta"]["envelope_from"] == "ayse@example.com"
    assert rec["meta"]["envelope_to"] == BRAND_RCPTS
    # The MTA delivers it again (its connection broke before our reply):
    # acknowledged again, nothing new.
    rc, replies, out = swaks(BRAND_RCPTS[:1], fixture("turkish.eml"), port=port, tmp=tmp_path)
    assert rc == 0 and replies == delivered(BRAND_RCPTS[:1]), out
    assert len(records(k)) == 1


def test_what_real_world_messages_become(make_kanald, tmp_path):
    k, port = lmtp_kanald(make_kanald)
    names = ["html_only.eml", "alternative.eml", "no_message_id.eml", "autoreply.eml",
             "peer.eml", "brand_sent.eml"]
    for name in names:
        rc, replies, out = swaks(["destek@brand.example"], fixture(name), port=port, tmp=tmp_path)
        assert rc == 0 and replies == delivered(["destek@brand.example"]), out
    html, alt, noid, auto, peer, sent = records(k)
    # HTML only: reduced to text; scripts, styles, comments and the head gone.
    assert html["text"] == ("Merhaba & iyi günler,\n\nKampanya kodu: KASIM\u201126 <yeni>\n\n"
                            "- Birinci\n- İkinci\n\nTeşekkürler!")
    assert html["meta"]["text_from_html"] is True
    # text/plain preferred over text/html.
    assert alt["text"] == "Düz metin sürümü." and "text_from_html" not in alt["meta"]
    # No Message-ID: a stable id made from the message itself.
    assert noid["external_id"].startswith("sha256:") and noid["thread"] == noid["external_id"]
    # An auto-reply is flagged, and threads onto the campaign it answers.
    assert auto["meta"]["auto_submitted"] == "auto-replied"
    assert auto["reply_to"] == "campaign-1@brand.example"
    assert auto["thread"] == "campaign-1@brand.example"
    assert auto["subject"] == "Otomatik yanıt: Kampanya"
    # Brand neither sender nor addressee: customer to customer.
    assert peer["direction"] == "peer"
    assert [p["handle"] for p in peer["to"]] == ["email:mehmet@example.com"]
    # Sent by the brand (a copy via Bcc): outbound, threaded onto the question.
    assert sent["direction"] == "outbound" and sent["from"]["role"] == "brand"
    assert sent["reply_to"] == "20251123101500.4711@mail.example.com"
    assert sent["thread"] == "20251123101500.4711@mail.example.com"
    # Delivered again: recognised, nothing new (also without a Message-ID).
    for name in names:
        assert swaks(["destek@brand.example"], fixture(name), port=port, tmp=tmp_path)[0] == 0
    assert len(records(k)) == len(names)


def test_same_message_id_with_another_body_is_another_message(make_kanald, tmp_path):
    k, port = lmtp_kanald(make_kanald)
    first = fixture("peer.eml")
    second = first.replace(b"Did you see this?", b"A different text, same Message-ID.")
    for data in (first, second, first, second):
        assert swaks(["destek@brand.example"], data, port=port, tmp=tmp_path)[0] == 0
    a, b = records(k)
    assert a["external_id"] == "peer-1@example.com"
    assert b["external_id"].startswith("peer-1@example.com#")
    assert b["meta"]["message_id_reused"] is True and b["text"].startswith("A different")


class Lmtp:
    """A hand-driven LMTP client, for the protocol's corners."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.f = self.s.makefile("rb")

    def reply(self):
        lines = []
        while True:
            line = self.f.readline().decode().rstrip("\r\n")
            assert line, "connection closed"
            lines.append(line)
            if line[3:4] != "-":
                return int(line[:3]), lines

    def send(self, text):
        self.s.sendall(text.encode())

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()[0]

    def closed(self):
        return self.f.readline() == b""


def test_protocol_conversation(make_kanald):
    k, port = lmtp_kanald(make_kanald, max_message_size="20K")
    c = Lmtp(port)
    assert c.reply()[0] == 220
    assert c.cmd("HELO mta.example") == 500           # LMTP, not SMTP
    assert c.cmd("MAIL FROM:<a@example.com>") == 503  # LHLO first
    assert c.cmd("LHLO mta.example") == 250
    assert c.cmd("RCPT TO:<destek@brand.example>") == 503  # MAIL first
    assert c.cmd("DATA") == 503
    assert c.cmd("MAIL FROM:<>") == 250               # the null sender of bounces
    assert c.cmd("MAIL FROM:<b@example.com>") == 503  # nested
    assert c.cmd("RCPT TO:<no-at-sign>") == 501
    assert c.cmd("DATA") == 503                       # no recipient yet
    assert c.cmd("RCPT TO:<destek@brand.example>") == 250
    assert c.cmd("RSET") == 250
    assert c.cmd("DATA") == 503                       # the transaction is gone
    assert c.cmd("NOOP") == 250
    assert c.cmd("VRFY destek") == 252
    assert c.cmd("FROB") == 500
    assert c.cmd("MAIL FROM:<a@example.com> SIZE=50000") == 552  # announced too big
    # Pipelined: the client sends the whole envelope at once.
    c.send("MAIL FROM:<a@example.com> BODY=8BITMIME\r\nRCPT TO:<destek@brand.example>\r\n"
           "RCPT TO:<info@brand.example>\r\nDATA\r\n")
    assert [c.reply()[0] for _ in range(4)] == [250, 250, 250, 354]
    body = ("From: Ali <ali@example.com>\r\nTo: destek@brand.example\r\nSubject: dots\r\n"
            "Message-ID: <dots-1@example.com>\r\n\r\n..a line starting with a dot\r\n"
            "last line\r\n.\r\nQUIT\r\n")
    c.send(body)
    assert c.reply() == (250, ["250 2.1.5 <destek@brand.example> delivered"])
    assert c.reply() == (250, ["250 2.1.5 <info@brand.example> delivered"])
    assert c.reply()[0] == 221
    assert c.closed()
    [rec] = records(k)
    assert rec["text"] == ".a line starting with a dot\nlast line"  # dot-unstuffed
    # A message over max_message_size is read to its end and refused.
    c = Lmtp(port)
    c.reply()
    c.cmd("LHLO mta.example")
    c.cmd("MAIL FROM:<a@example.com>")
    c.cmd("RCPT TO:<destek@brand.example>")
    c.cmd("RCPT TO:<info@brand.example>")
    assert c.cmd("DATA") == 354
    c.send("Subject: big\r\nMessage-ID: <big-1@example.com>\r\n\r\n" + ("x" * 999 + "\r\n") * 30 +
           ".\r\n")
    assert c.reply()[0] == 552 and c.reply()[0] == 552
    assert c.cmd("QUIT") == 221
    assert len(records(k)) == 1


def test_unix_socket_listener(make_kanald, tmp_path):
    sock = tmp_path / "run" / "lmtp.sock"
    sock.parent.mkdir()
    k = make_kanald(sources=email_source(lmtp_listen=f"unix:{sock}"), plugins=("email",)).start()
    k.wait_log(r"lmtp: accepting on unix:")
    assert stat.S_ISSOCK(os.stat(sock).st_mode) and stat.S_IMODE(os.stat(sock).st_mode) == 0o660
    rc, replies, out = swaks(["destek@brand.example"], fixture("alternative.eml"),
                             socket_path=sock, tmp=tmp_path)
    assert rc == 0 and replies == delivered(["destek@brand.example"]), out
    assert [r["external_id"] for r in records(k)] == ["alt-1@example.net"]
    assert k.stop() == 0
    assert not sock.exists()


def test_a_listen_address_that_cannot_work_refuses_the_source(make_kanald):
    k = make_kanald(sources=email_source(lmtp_listen="mail.example.com"),
                    plugins=("email",)).start()
    k.wait_log(r"lmtp: cannot listen on mail\.example\.com: expected HOST:PORT")
    k.wait_log(r"source refused")


def mount_tmpfs(path, size="3m"):
    path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def big_message(n):
    text = "".join(f"Satır {i}: sipariş, iade ve kargo hakkında uzun bir şikâyet.\n"
                   for i in range(3000))
    return (f"From: Ayşe <ayse@example.com>\nTo: destek@brand.example\nSubject: big {n}\n"
            f"Message-ID: <big-{n}@example.com>\nMIME-Version: 1.0\n"
            f"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
            f"{text}").replace("\n", "\r\n").encode()


def test_4xx_while_the_store_is_failing(make_kanald, tmp_path):
    mnt = tmp_path / "small"
    if not mount_tmpfs(mnt):
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        k, port = lmtp_kanald(make_kanald, store=mnt / "store")
        rcpts = BRAND_RCPTS[:2]
        assert swaks(rcpts, fixture("alternative.eml"), port=port, tmp=tmp_path)[1] == \
            delivered(rcpts)
        # Fill the file system, leaving no room for the store to grow.
        with open(mnt / "filler", "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        outcomes = []
        for n in range(40):
            rc, replies, out = swaks(rcpts, big_message(n), port=port, tmp=tmp_path)
            outcomes.append((n, replies))
            if replies and replies[0].startswith("451"):
                break
        n, replies = outcomes[-1]
        # Every recipient is told to try again later: the MTA keeps the mail.
        assert len(replies) == 2 and all(r.startswith("451 4.3.0 <") for r in replies), outcomes
        assert [r.split()[2] for r in replies] == [f"<{x}>" for x in rcpts]
        k.wait_log(r"lmtp: message from 127\.0\.0\.1 deferred with 451")
        stored = {r["external_id"] for r in records(k)}
        assert f"big-{n}@example.com" not in stored
        # Space comes back; the MTA retries and the message is stored, once.
        os.unlink(mnt / "filler")
        deadline = time.monotonic() + 60
        while True:
            rc, replies, out = swaks(rcpts, big_message(n), port=port, tmp=tmp_path)
            if replies == delivered(rcpts) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert replies == delivered(rcpts), out
        ids = [r["external_id"] for r in records(k)]
        assert ids.count(f"big-{n}@example.com") == 1 and len(ids) == len(set(ids))
        assert k.stop() == 0
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def html_mail(n, html):
    return (f"From: Ali <ali@example.com>\r\nTo: destek@brand.example\r\nSubject: html {n}\r\n"
            f"Message-ID: <html-{n}@example.com>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            f"{html}\r\n")


def deliver(c, data):
    """One message over an open Lmtp session; the reply after the final dot."""
    c.send("MAIL FROM:<ali@example.com>\r\nRCPT TO:<destek@brand.example>\r\nDATA\r\n")
    assert [c.reply()[0] for _ in range(3)] == [250, 250, 354]
    c.send(data.replace("\r\n.", "\r\n..") + ".\r\n")
    return c.reply()


# HTML-only mail as it is stored: '&' and '<' that start no markup are text,
# truncated or unknown references stay as written, out-of-range ones become
# U+FFFD, the ordinary ones are decoded.
HTML_CASES = [
    ("<p>Tom & Jerry</p>", "Tom & Jerry"),
    ("<p>ends with &</p>&", "ends with &\n\n&"),
    ("<p>&&&& and &&amp;&</p>", "&&&& and &&&"),
    ("<p>truncated &am &#12 end</p>", "truncated &am &#12 end"),
    ("<div>cut at the end &#x1F600", "cut at the end &#x1F600"),
    ("<p>&# and &#x and &#; and &#x;</p>", "&# and &#x and &#; and &#x;"),
    ("<p>&#0; &#xD800; &#x110000; &#99999999999;</p>", " ".join(["\ufffd"] * 4)),
    ("<p>&bogus; &AMP; fish &chips;</p>", "&bogus; &AMP; fish &chips;"),
    ("<p>&am<b>p; &#<i>65;</i></p>", "&amp; &#65;"),
    ("<p>&amp; &lt;b&gt; it&#39;s &#x263A; a&nbsp;b</p>", "& <b> it's \u263a a b"),
    ("<p>1 < 2 and I <3 it</p><", "1 < 2 and I <3 it\n\n<"),
    ("<p>kept</p><!-- never closed &", "kept"),
    ("<p>kept</p><script>while (a & b) {}", "kept"),
    ("<html><head><title>t</title><body><p>Hello & bye</p>", "Hello & bye"),
]


def test_html_only_mail_with_bare_ampersands_and_broken_markup(make_kanald):
    k, port = lmtp_kanald(make_kanald)
    c = Lmtp(port)
    assert c.reply()[0] == 220 and c.cmd("LHLO mta.example") == 250
    for n, (html, _) in enumerate(HTML_CASES):
        # Answered at all means the parser returned: it once spun forever on '&'.
        assert deliver(c, html_mail(n, html)) == \
            (250, ["250 2.1.5 <destek@brand.example> delivered"]), html
    assert c.cmd("QUIT") == 221
    # HTTP still answers, and each message is stored with its text.
    got = {r["external_id"]: r for r in records(k)}
    for n, (html, want) in enumerate(HTML_CASES):
        rec = got[f"html-{n}@example.com"]
        assert (rec["text"], rec["meta"]["text_from_html"]) == (want, True), html
    # Another session still works after all of it.
    rc, replies, out = swaks(["destek@brand.example"], fixture("alternative.eml"), port=port)
    assert rc == 0 and replies == delivered(["destek@brand.example"]), out


# ---- limits of the listener, which has no authentication ----

def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def pump(sock, data, total):
    """Send data again and again until total bytes went or the peer stops
    reading (the socket's timeout); returns the bytes sent."""
    sent = 0
    try:
        while sent < total:
            sock.sendall(data)
            sent += len(data)
    except OSError:
        pass
    return sent


def test_replies_a_client_does_not_read_stay_bounded(make_kanald, tmp_path):
    # No command limit here: the bound under test is the reply queue's.
    k, port = lmtp_kanald(make_kanald, lmtp_max_commands=10 ** 9)
    c = Lmtp(port)
    assert c.reply()[0] == 220
    before = rss_kb(k.proc.pid)
    c.s.settimeout(5)
    noops = b"NOOP\r\n" * 10923  # 64 KiB
    sent = pump(c.s, noops, 48 << 20)  # 48 MiB: 8 million NOOPs, 110 MB of replies
    # kanald stopped reading instead of queueing the replies.
    grown = rss_kb(k.proc.pid) - before
    assert grown < 50 * 1024, f"VmRSS grew by {grown} kB; sent {sent} bytes"
    k.wait_log(r"lmtp: 127\.0\.0\.1 does not read its replies \(\d+ bytes queued\)")
    # Another session and HTTP still work meanwhile.
    rc, replies, out = swaks(["destek@brand.example"], fixture("alternative.eml"), port=port,
                             tmp=tmp_path)
    assert rc == 0 and replies == delivered(["destek@brand.example"]), out
    assert [r["external_id"] for r in records(k)] == ["alt-1@example.net"]
    # The client reads again: its replies come, in order, none lost.
    c.s.settimeout(10)
    for _ in range(100000):
        assert c.f.readline() == b"250 2.0.0 OK\r\n"
    assert rss_kb(k.proc.pid) - before < 50 * 1024


def test_a_session_that_never_reads_is_closed(make_kanald):
    k, port = lmtp_kanald(make_kanald, lmtp_idle_timeout="4s", lmtp_max_reply_queue="1K",
                          lmtp_max_sessions=1, lmtp_max_commands=10 ** 9)
    c = Lmtp(port)
    assert c.reply()[0] == 220
    c.s.settimeout(1)
    pump(c.s, b"NOOP\r\n" * 10923, 64 << 20)  # until kanald stops reading
    # The one session allowed is taken: another connection is turned away.
    other = Lmtp(port)
    assert other.reply() == (421, ["421 4.3.2 too many connections; try again later"])
    assert other.closed()
    k.wait_log(r"lmtp: closing the session from 127\.0\.0\.1: idle for 4000 ms, neither "
               r"sending nor reading its replies \(lmtp_idle_timeout\)", timeout=30)
    # Its place is free again.
    c = Lmtp(port)
    assert c.reply()[0] == 220 and c.cmd("LHLO mta.example") == 250
    assert c.cmd("QUIT") == 221


def test_commands_without_a_message_are_limited(make_kanald):
    k, port = lmtp_kanald(make_kanald, lmtp_max_commands=20, lmtp_max_recipients=5)
    c = Lmtp(port)
    assert c.reply()[0] == 220 and c.cmd("LHLO mta.example") == 250
    for cmd in ["NOOP", "RSET", "VRFY x", "FROB", "MAIL FROM:<bad"] * 3 + ["NOOP"] * 4:
        assert c.cmd(cmd) != 421
    assert c.cmd("NOOP") == 421  # the 21st
    assert c.closed()
    k.wait_log(r"lmtp: closing the session from 127\.0\.0\.1: more than 20 commands without a "
               r"message \(lmtp_max_commands\)")
    # Each message starts the count again: 3 x 15 commands in one session.
    c = Lmtp(port)
    assert c.reply()[0] == 220 and c.cmd("LHLO mta.example") == 250
    for n in range(3):
        for _ in range(10):
            assert c.cmd("NOOP") == 250
        assert deliver(c, html_mail(f"count-{n}", "<p>hi</p>"))[0] == 250
    # Recipients of one message: the sixth is refused, the five are delivered.
    assert c.cmd("MAIL FROM:<ali@example.com>") == 250
    rcpts = [f"r{i}@brand.example" for i in range(6)]
    assert [c.cmd(f"RCPT TO:<{r}>") for r in rcpts] == [250] * 5 + [452]
    assert c.cmd("DATA") == 354
    c.send(html_mail("rcpts", "<p>five</p>") + ".\r\n")
    assert [c.reply()[1][0] for _ in range(5)] == delivered(rcpts[:5])
    assert c.cmd("QUIT") == 221
    recs = records(k)
    assert len(recs) == 4 and recs[-1]["meta"]["envelope_to"] == rcpts[:5]


def test_command_lines_are_limited(make_kanald):
    k, port = lmtp_kanald(make_kanald, lmtp_max_command_line=600)
    c = Lmtp(port)
    assert c.reply()[0] == 220
    assert c.cmd("NOOP " + "x" * 595) == 250  # 600 bytes: at the limit
    assert c.cmd("NOOP " + "x" * 596) == 500  # one more: refused, and closed
    assert c.closed()
    # Also when the line never ends.
    c = Lmtp(port)
    assert c.reply()[0] == 220
    c.send("NOOP " + "x" * 5000)
    assert c.reply() == (500, ["500 5.5.0 line too long"]) and c.closed()
    k.wait_log(r"lmtp: closing the session from 127\.0\.0\.1: a command line over 600 bytes "
               r"\(lmtp_max_command_line\)")


def test_limits_that_cannot_work_refuse_the_source(make_kanald):
    k = make_kanald(sources=email_source(lmtp_listen="127.0.0.1:0", lmtp_max_commands=50),
                    plugins=("email",)).start()
    k.wait_log(r"lmtp_max_commands = 50: must be at least 103 \(lmtp_max_recipients \+ 3\)")
    k.wait_log(r"source refused")


def test_a_listener_reachable_from_other_hosts_is_warned_about(make_kanald):
    k = make_kanald(sources=email_source(lmtp_listen="0.0.0.0:0"), plugins=("email",)).start()
    m = k.wait_log(r"lmtp: listening on 0\.0\.0\.0:(\d+) \(lmtp_listen = 0\.0\.0\.0:0\), which is "
                   r"not a loopback address: LMTP has no authentication, so anyone who can reach "
                   r"it can inject mail")
    assert int(m.group(1)) > 0
    # On loopback: no warning.
    k2, _ = lmtp_kanald(make_kanald, sub="k2")
    k2.wait_log(r"lmtp: accepting on 127\.0\.0\.1:")
    assert "not a loopback address" not in k2.log()
