# SPDX-License-Identifier: Apache-2.0
"""HTML-only mail read from a real Dovecot over IMAP: a bare '&' once put
kanald's loop thread into an endless loop, and since the IMAP cursor only
moves after a commit, the same message hung kanald again after every
restart.  It is stored now, the poll goes on to the next message, and HTTP
answers throughout."""
import time

from kanal import validate_record
from mailservers import Dovecot


def html_mail(n, html):
    return (f"From: Ali <ali@example.com>\r\nTo: destek@brand.example\r\nSubject: html {n}\r\n"
            f"Message-ID: <imap-html-{n}@example.com>\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            f"{html}\r\n").encode()


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


def test_html_with_bare_ampersands_over_imap_is_stored_once(make_kanald):
    cases = [("<p>Tom & Jerry</p>", "Tom & Jerry"),
             ("<p>a & b &am &#12 &#x1F600 &bogus; &#xD800; 1 < 2 &amp; &#39;</p>&",
              "a & b &am &#12 &#x1F600 &bogus; \ufffd 1 < 2 & '\n\n&"),
             ("<p>next message</p>", "next message")]
    with Dovecot() as dv:
        for n, (html, _) in enumerate(cases):
            dv.append(html_mail(n, html))
        k = make_kanald(sources=dv.source(poll_interval="1s"), plugins=("email",)).start()
        recs = wait_records(k, len(cases))
        assert [(r["external_id"], r["text"]) for r in recs] == [
            (f"imap-html-{n}@example.com", want) for n, (_, want) in enumerate(cases)]
        # The cursor moved past them: a restart reads nothing again.
        assert k.stop() == 0
        k.start()
        k.wait_log(r"imap: resuming INBOX after UID 3")
        dv.append(html_mail(9, "<p>after & restart</p>"))
        recs = wait_records(k, len(cases) + 1)
        assert [r["text"] for r in recs[len(cases):]] == ["after & restart"]
        assert len(k.feed()) == len(cases) + 1
