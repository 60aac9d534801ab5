# SPDX-License-Identifier: Apache-2.0
"""Reloading e-mail sources: GMime is set up once per process, not once per
source, so a SIGHUP that restarts an e-mail source (its section changed) and
adds or removes another prints no GLib/GMime warnings, and mail is still
parsed and stored after each reload."""
import re

from mailservers import email_source, fixture, swaks

BAD = re.compile(r"GLib-CRITICAL|GLib-WARNING|GLib-GObject|GMime|g_hash_table")


def port_of(k, source, mark):
    m = k.wait_log(rf"{source}.*lmtp: accepting on 127\.0\.0\.1:(\d+)", start=mark)
    return int(m.group(1))


def deliver(k, port, msgid, tmp):
    data = fixture("turkish.eml", **{"20251123101500.4711@mail.example.com": msgid})
    rc, replies, out = swaks(["destek@brand.example"], data, port=port, tmp=tmp)
    assert rc == 0 and replies == ["250 2.1.5 <destek@brand.example> delivered"], out


def reload(k, sources):
    mark = k.log_mark()
    k.write_config(sources=sources)
    k.hup()
    k.wait_log(r"configuration reloaded", start=mark)
    return mark


def test_reloading_email_sources_prints_no_glib_warnings(make_kanald, tmp_path):
    one = email_source("mail", lmtp_listen="127.0.0.1:0")
    k = make_kanald(sources=one, plugins=("email",)).start()
    deliver(k, port_of(k, "mail", 0), "first@mail.example.com", tmp_path)

    # The section changes (the source restarts) and a second e-mail source comes.
    changed = email_source("mail", lmtp_listen="127.0.0.1:0", lmtp_max_sessions=5)
    two = changed + "\n" + email_source("mail2", lmtp_listen="127.0.0.1:0")
    mark = reload(k, two)
    deliver(k, port_of(k, "mail", mark), "second@mail.example.com", tmp_path)
    deliver(k, port_of(k, "mail2", mark), "third@mail.example.com", tmp_path)

    # Both go, then one comes back: the library outlives every source.
    reload(k, "")
    mark = reload(k, one)
    deliver(k, port_of(k, "mail", mark), "fourth@mail.example.com", tmp_path)

    recs = k.feed()
    assert [(r["source"], r["external_id"]) for r in recs] == [
        ("mail", "first@mail.example.com"), ("mail", "second@mail.example.com"),
        ("mail2", "third@mail.example.com"), ("mail", "fourth@mail.example.com")]
    # Parsed as before: encoded words decoded, the body in UTF-8.
    assert all(r["subject"] == "Siparişim nerede? Çok geç kaldı" for r in recs)
    assert k.stop() == 0
    bad = [line for line in k.log().splitlines() if BAD.search(line)]
    assert bad == [], "\n".join(bad)
