# SPDX-License-Identifier: Apache-2.0
"""kanalctl against stores written by the real kanald: tail, export, stats,
check, backup and reader-check, each while kanald runs and after it has
stopped; check also on stores corrupted on purpose."""
import csv
import io
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import lmdb
import pytest

from kanal import ADMIN_TOKEN, BUILD, message, webhook_source

KANALCTL = BUILD / "kanalctl"
SHOP_SECRET = "test-shop-secret"
CSV_COLUMNS = ["seq", "id", "source", "channel", "kind", "direction", "occurred_at",
               "received_at", "external_id", "thread", "reply_to", "from_handle", "from_name",
               "to_handles", "subject", "text", "campaign", "status", "contact"]
TRICKY_TEXT = 'Merhaba, "kargo" nerede?\nİkinci satır, üçüncü; ve\r\nson 🙂'


def ctl(store, *args, env=None, timeout=60):
    """Run kanalctl on a store; returns the CompletedProcess, its output
    decoded as UTF-8 with line ends untouched (CSV ends lines with CRLF)."""
    e = dict(os.environ)
    e.pop("KANAL_STORE", None)
    e.update(env or {})
    cmd = [str(KANALCTL)] + (["-s", str(store)] if store is not None else []) + list(args)
    p = subprocess.run(cmd, capture_output=True, env=e, timeout=timeout)
    p.stdout, p.stderr = p.stdout.decode(), p.stderr.decode()
    return p


def ok(store, *args, **kw):
    p = ctl(store, *args, **kw)
    assert p.returncode == 0, f"kanalctl {' '.join(args)} exited {p.returncode}: {p.stderr}"
    return p.stdout


def jsonl(text):
    assert text == "" or text.endswith("\n")
    return [json.loads(line) for line in text.split("\n")[:-1]]


def both_ways(k, check):
    """Run check() against kanald's store while it runs, then after a clean stop."""
    check()
    assert k.stop() == 0
    check()


@pytest.fixture
def fed(make_kanald):
    """kanald with two webhook sources and 11 records: 9 in hooks (6
    messages, 2 comments, 1 outbound message), 2 in shop."""
    k = make_kanald(sources=webhook_source() + webhook_source("shop", secret=SHOP_SECRET)).start()
    rich = message("m1", text=TRICKY_TEXT, subject="Sipariş, 1234", thread="t-1",
                   campaign="kasim", reply_to="x-0",
                   to=[{"handle": "email:destek@marka.example", "role": "brand"},
                       {"handle": "email:satis@marka.example", "role": "brand"}])
    rich["from"]["name"] = 'Ayşe "Ayşo" Yılmaz'
    posts = [rich] + [message(f"m{i}") for i in range(2, 7)]
    posts += [message("c1", kind="comment", direction="peer"),
              message("c2", kind="comment", direction="peer"),
              message("o1", direction="outbound", handle="email:ayse@example.com",
                      to=[{"handle": "email:ayse@example.com", "role": "customer"}])]
    for rec in posts:
        status, _, body = k.post_hook(rec)
        assert status == 200, body
    assert k.post_hook(message("m1"))[0] == 200  # a redelivery: nothing new
    for ext in ("m1", "m2"):
        assert k.post_hook(message(ext), source="shop", secret=SHOP_SECRET)[0] == 200
    k.records = k.feed()
    assert [r["seq"] for r in k.records] == list(range(1, 12))
    return k


# ---- tail ----

def test_tail_shows_the_last_records_and_filters(fed):
    recs = fed.records

    def check():
        assert jsonl(ok(fed.store, "tail")) == recs[-10:]
        assert jsonl(ok(fed.store, "tail", "-n", "3")) == recs[-3:]
        assert jsonl(ok(fed.store, "tail", "--after", "0")) == recs
        assert jsonl(ok(fed.store, "tail", "--after", "8")) == recs[8:]
        assert jsonl(ok(fed.store, "tail", "--after", "11")) == []
        shop = jsonl(ok(fed.store, "tail", "--source", "shop"))
        assert [r["external_id"] for r in shop] == ["m1", "m2"]
        assert all(r["source"] == "shop" for r in shop)
        comments = jsonl(ok(fed.store, "tail", "--kind", "comment", "--after", "0"))
        assert [r["external_id"] for r in comments] == ["c1", "c2"]
        last = jsonl(ok(fed.store, "tail", "--kind", "message", "--source", "hooks", "-n", "2"))
        assert [r["external_id"] for r in last] == ["m6", "o1"]
        assert jsonl(ok(fed.store, "tail", "--source", "nope", "--after", "0")) == []

    both_ways(fed, check)


def test_tail_rejects_bad_arguments(fed):
    p = ctl(fed.store, "tail", "--after", "-3")
    assert p.returncode == 2 and "--after" in p.stderr
    p = ctl(fed.store, "tail", "-n", "2", "--after", "1")
    assert p.returncode == 2 and "not both" in p.stderr
    p = ctl(fed.store, "tail", "--bogus")
    assert p.returncode == 2 and "kanalctl tail --help" in p.stderr


class Follower:
    """kanalctl tail -f as a subprocess, its output lines read by a thread."""

    def __init__(self, store, *args):
        self.proc = subprocess.Popen([str(KANALCTL), "-s", str(store), "tail", "-f", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def next(self, timeout=30):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"tail -f printed nothing within {timeout}s") from None

    def stop(self):
        """SIGTERM: tail -f stops cleanly (exit 0)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self.thread.join(timeout=5)
        err = self.proc.stderr.read().decode()
        self.proc.stderr.close()
        return rc, err


def test_tail_follow_picks_up_records_committed_after_it_started(fed):
    f = Follower(fed.store, "--after", "9")
    try:
        assert [f.next()["seq"], f.next()["seq"]] == [10, 11]
        time.sleep(0.3)  # tail -f is now waiting on the store
        assert fed.post_hook(message("late-1", text="geç geldi"))[0] == 200
        rec = f.next()
        assert (rec["seq"], rec["external_id"], rec["text"]) == (12, "late-1", "geç geldi")
        assert fed.post_hook([message("late-2"), message("late-3")])[0] == 200
        assert [f.next()["external_id"], f.next()["external_id"]] == ["late-2", "late-3"]
    finally:
        rc, err = f.stop()
    assert rc == 0, err


def test_tail_follow_with_a_filter_survives_a_kanald_restart(fed):
    # -n 1: the last comment already stored comes first, which also tells
    # that tail -f has fixed where it starts (with -n 0 a kanalctl slow to
    # start would begin after the records posted below and never show c3).
    f = Follower(fed.store, "-n", "1", "--kind", "comment")
    try:
        last = [r for r in fed.records if r["kind"] == "comment"][-1]
        assert f.next(timeout=60)["seq"] == last["seq"]
        assert fed.post_hook(message("m7"))[0] == 200
        assert fed.post_hook(message("c3", kind="comment", direction="peer"))[0] == 200
        assert f.next()["external_id"] == "c3"
        assert fed.stop() == 0
        fed.start()
        assert fed.post_hook(message("c4", kind="comment", direction="peer"))[0] == 200
        rec = f.next()
        assert rec["external_id"] == "c4" and rec["seq"] == 14
        assert f.lines.empty()
    finally:
        rc, err = f.stop()
    assert rc == 0, err


# ---- export ----

def test_export_jsonl_is_the_feed(fed):
    recs = fed.records

    def check():
        assert jsonl(ok(fed.store, "export")) == recs
        assert jsonl(ok(fed.store, "export", "--format", "jsonl", "--after", "3",
                        "--until", "5")) == recs[3:5]
        assert jsonl(ok(fed.store, "export", "--until", "2")) == recs[:2]
        assert ok(fed.store, "export", "--after", "11") == ""

    both_ways(fed, check)


def parse_csv(text):
    return list(csv.reader(io.StringIO(text, newline="")))


def test_export_csv_round_trips_commas_quotes_and_line_breaks(fed):
    recs = fed.records

    def check():
        out = ok(fed.store, "export", "--format", "csv")
        assert out.endswith("\r\n")
        rows = parse_csv(out)
        assert rows[0] == CSV_COLUMNS
        assert len(rows) == 1 + len(recs)
        for row, rec in zip(rows[1:], recs):
            got = dict(zip(CSV_COLUMNS, row))
            assert len(row) == len(CSV_COLUMNS)
            assert got["seq"] == str(rec["seq"])
            for col in CSV_COLUMNS[1:11] + ["subject", "text", "campaign", "status", "contact"]:
                assert got[col] == rec.get(col, ""), col
            assert got["from_handle"] == rec["from"]["handle"]
            assert got["from_name"] == rec["from"].get("name", "")
            assert got["to_handles"] == ";".join(p["handle"] for p in rec["to"])
        first = dict(zip(CSV_COLUMNS, rows[1]))
        assert first["text"] == TRICKY_TEXT
        assert first["subject"] == "Sipariş, 1234"
        assert first["from_name"] == 'Ayşe "Ayşo" Yılmaz'
        assert first["to_handles"] == "email:destek@marka.example;email:satis@marka.example"
        assert (first["thread"], first["reply_to"], first["campaign"]) == ("t-1", "x-0", "kasim")
        assert first["status"] == "" and first["contact"] == recs[0].get("contact", "")
        part = parse_csv(ok(fed.store, "export", "--format", "csv", "--after", "9"))
        assert [r[0] for r in part] == ["seq", "10", "11"]

    both_ways(fed, check)


def test_export_rejects_an_unknown_format(fed):
    p = ctl(fed.store, "export", "--format", "xml")
    assert p.returncode == 2 and "jsonl or csv" in p.stderr


# ---- stats ----

def test_stats_match_what_was_posted(fed):
    def check():
        s = json.loads(ok(fed.store, "stats", "--json"))
        assert s["last_seq"] == 11 and s["records"] == 11 and s["invalid_records"] == 0
        assert s["by_source"] == {"hooks": 9, "shop": 2}
        assert s["by_kind"] == {"message": 9, "comment": 2}
        assert s["by_direction"] == {"inbound": 8, "peer": 2, "outbound": 1}
        assert s["idem_keys"] == 11  # the redelivery added none
        assert s["outbox_depth"] == 0
        assert s["file_size"] == os.path.getsize(fed.store / "data.mdb")
        assert 0 < s["map_used"] <= s["file_size"] <= s["map_size"]
        assert s["format"] == 1 and len(s["store_id"]) == 32
        table = ok(fed.store, "stats")
        assert "last seq       11\n" in table and "idem keys      11\n" in table
        assert "outbox         0 pending" in table
        lines = table.splitlines()
        src = lines.index("by source:")
        assert lines[src + 1].split() == ["hooks", "9"] and lines[src + 2].split() == ["shop", "2"]

    both_ways(fed, check)


def test_stats_count_the_outbox(make_kanald):
    # A send_url where nothing listens: the message stays queued, retried later.
    k = make_kanald(sources=webhook_source(extra="send_url = http://127.0.0.1:9/send\n")).start()
    status, r = k.api("/v1/messages", token="test-write-token-0123456789", method="POST",
                      body={"source": "hooks", "to": "email:ayse@example.com", "text": "Selam"})
    assert status == 202, r

    def check():
        s = json.loads(ok(k.store, "stats", "--json"))
        assert s["outbox_depth"] == 1 and s["records"] == 0

    both_ways(k, check)


# ---- check ----

def test_check_passes_on_a_good_store(fed):
    def check():
        out = ok(fed.store, "check")
        assert "11 records" in out and "11 idempotency keys" in out

    both_ways(fed, check)


def test_check_accepts_the_digest_key_of_a_long_external_id(kanald):
    """An external_id too long for an LMDB key is kept under its digest
    (source, kind, "sha256:..."): check takes such keys as the record's,
    and still reports one that points to a record of another kind."""
    k = kanald
    ids = ["x" * 480, "y" * 1024, "ü" * 300]  # just past the key's room, the longest, UTF-8
    for ext in ids:
        status, _, body = k.post_hook(message(ext))
        assert status == 200, body
        assert k.post_hook(message(ext))[0] == 200  # a redelivery: still deduplicated
    assert [r["external_id"] for r in k.feed()] == ids

    def check():
        out = ok(k.store, "check")
        assert "3 records" in out and "3 idempotency keys" in out

    both_ways(k, check)
    env = open_env(k.store)
    idem = env.open_db(b"idem")
    with env.begin(write=True) as txn:
        txn.put(b"hooks\0comment\0sha256:" + b"0" * 64, (1).to_bytes(8, sys.byteorder), db=idem)
    env.close()
    p = ctl(k.store, "check")
    assert p.returncode == 1, p.stdout
    assert "idem key hooks/comment/sha256:000" in p.stdout
    assert "points to seq 1, which is hooks/message/xxx" in p.stdout


def test_check_passes_after_merges_a_split_and_an_erasure(kanald):
    """kanald's own records (merge, split, erase) and erased records follow
    the schema too, and erasure leaves the idempotency keys consistent."""
    k = kanald

    def post(ext, handle, handles=(), trust=None, **extra):
        rec = message(ext, handle=handle, **extra)
        rec["from"]["handles"] = list(handles)
        if trust:
            rec["from"]["trust"] = trust
        status, _, body = k.post_hook(rec)
        assert status == 200, body
        return json.loads(body)["seqs"][0]

    def contact(seq):
        return k.api(f"/v1/interactions/{seq}")[1]["contact"]

    ca = contact(post("a1", "email:ali@example.com"))
    cb = contact(post("b1", "phone:+905551112233", channel="sms"))
    post("f1", "email:ali@example.com", ["phone:+905551112233"], kind="signup",
         event={"id": "e1", "name": "Fuar"}, trust="verified")  # verified evidence merges
    status, res = k.api(f"/v1/contacts/{ca}/split", token=ADMIN_TOKEN, method="POST",
                        body={"absorbed": cb})
    assert status == 200, res
    status, res = k.api(f"/v1/contacts/{cb}", token=ADMIN_TOKEN, method="DELETE")
    assert status == 200, res
    kinds = [r["kind"] for r in k.feed()]
    assert {"merge", "split", "erase"} <= set(kinds)

    def check():
        out = ok(k.store, "check")
        assert f"{len(kinds)} records" in out
        s = json.loads(ok(k.store, "stats", "--json"))
        assert s["by_source"]["kanal"] == 3 and s["records"] == len(kinds)

    both_ways(k, check)


def open_env(store):
    return lmdb.open(str(store), max_dbs=16, map_size=256 << 20)


def test_check_finds_and_lists_each_problem(fed):
    assert fed.stop() == 0
    env = open_env(fed.store)
    log = env.open_db(b"log", integerkey=True)
    idem = env.open_db(b"idem")
    meta_of = {r["seq"]: r for r in fed.records}
    u64 = lambda n: n.to_bytes(8, sys.byteorder)  # noqa: E731 (MDB_INTEGERKEY: native)
    with env.begin(write=True) as txn:
        txn.put(b"hooks\0message\0ghost", u64(999), db=idem)       # no such record
        txn.put(b"hooks\0message\0wrong", u64(1), db=idem)         # record 1 is m1
        txn.put(u64(2), b'{"v":1,"seq":2,', db=log)                # not JSON
        bad = dict(meta_of[3], direction="sideways")
        txn.put(u64(3), json.dumps(bad).encode(), db=log)          # not in the enum
        missing = {k: v for k, v in meta_of[5].items() if k != "received_at"}
        txn.put(u64(5), json.dumps(missing).encode(), db=log)      # required field gone
        txn.delete(u64(7), db=log)                                 # a gap
        txn.delete(u64(8), db=log)
    env.close()

    p = ctl(fed.store, "check")
    assert p.returncode == 1, p.stdout + p.stderr
    out = p.stdout
    assert "record 2: not valid JSON" in out
    assert "record 3: field 'direction' must be inbound, outbound or peer, not 'sideways'" in out
    assert "record 5: field 'received_at' is required" in out
    assert "log: seqs 7 to 8 are missing" in out
    assert "idem key hooks/message/ghost: points to seq 999, which is not in the log" in out
    assert "idem key hooks/message/wrong: points to seq 1, which is hooks/message/m1" in out
    # The keys of the deleted records point nowhere now, too.
    assert "idem key hooks/comment/c1: points to seq 7" in out
    assert out.splitlines()[-1].startswith("check: 8 problem(s)")


def test_check_shows_twenty_problems_then_a_count(fed):
    assert fed.stop() == 0
    env = open_env(fed.store)
    idem = env.open_db(b"idem")
    with env.begin(write=True) as txn:
        for i in range(30):
            txn.put(f"shop\0message\0bogus-{i:02d}".encode(),
                    (500 + i).to_bytes(8, sys.byteorder), db=idem)
    env.close()
    p = ctl(fed.store, "check")
    assert p.returncode == 1
    lines = p.stdout.splitlines()
    assert len(lines) == 22
    assert all(line.startswith("idem key shop/message/bogus-") for line in lines[:20])
    assert lines[20] == "... and 10 more problem(s)"
    assert lines[21].startswith("check: 30 problem(s)")


def test_a_newer_store_format_is_refused(fed):
    assert fed.stop() == 0
    env = open_env(fed.store)
    meta = env.open_db(b"meta")
    with env.begin(write=True) as txn:
        txn.put(b"version", b"2", db=meta)
    env.close()
    for cmd in ("stats", "check", "tail", "export", "backup"):
        p = ctl(fed.store, cmd, *(["/nonexistent-dest"] if cmd == "backup" else []))
        assert p.returncode == 2, (cmd, p.stdout)
        assert f"kanalctl: cannot open store {fed.store}: the store's format version is newer" \
            in p.stderr


# ---- backup ----

def test_backup_is_a_complete_store_of_its_own(fed, make_kanald, tmp_path):
    before = ok(fed.store, "export")

    def check():
        dest = tmp_path / f"backup-{fed.proc.poll() is None}"
        out = ok(fed.store, "backup", str(dest))
        assert f"copied to {dest}" in out
        assert sorted(os.listdir(dest)) == ["data.mdb"]
        assert "11 records" in ok(dest, "check")
        assert ok(dest, "export") == before
        # It never overwrites: a second backup into the same place is refused.
        p = ctl(fed.store, "backup", str(dest))
        assert p.returncode == 1 and "not empty" in p.stderr
        assert ok(dest, "export") == before

    both_ways(fed, check)
    # kanald serves the backup as its store.
    k2 = make_kanald("restored", store=tmp_path / "backup-True").start()
    assert k2.feed() == fed.records
    assert k2.post_hook(message("m1"))[0] == 200  # its idempotency keys came along
    assert len(k2.feed()) == 11


def test_backup_while_kanald_is_committing(fed, tmp_path):
    stop = threading.Event()
    posted = []

    def post():
        i = 0
        while not stop.is_set():
            if fed.post_hook(message(f"busy-{i}"))[0] == 200:
                posted.append(i)
            i += 1

    t = threading.Thread(target=post)
    t.start()
    try:
        time.sleep(0.2)
        ok(fed.store, "backup", str(tmp_path / "hot"))
    finally:
        stop.set()
        t.join()
    out = ok(tmp_path / "hot", "check")
    assert "without gaps" in out
    n = json.loads(ok(tmp_path / "hot", "stats", "--json"))["records"]
    assert 11 <= n <= 11 + len(posted)


def test_backup_refuses_a_missing_parent(fed, tmp_path):
    p = ctl(fed.store, "backup", str(tmp_path / "no" / "such"))
    assert p.returncode == 1 and "cannot create" in p.stderr
    p = ctl(fed.store, "backup")
    assert p.returncode == 2


# ---- reader-check ----

STALE_READER = """
import sys, time, lmdb
env = lmdb.open(sys.argv[1], readonly=True, max_dbs=16)
txn = env.begin()
print("reading", flush=True)
time.sleep(120)
"""


def test_reader_check_clears_a_dead_readers_slot(fed):
    def check():
        # This process keeps the environment open, as kanald or a CRM would,
        # so the dead reader's slot stays in the lock table.
        holder = lmdb.open(str(fed.store), readonly=True, max_dbs=16)
        try:
            p = subprocess.Popen([os.environ.get("PYTHON", "/usr/bin/python3"), "-c",
                                  STALE_READER, str(fed.store)], stdout=subprocess.PIPE)
            assert p.stdout.readline() == b"reading\n"
            p.kill()
            p.wait()
            p.stdout.close()
            assert ok(fed.store, "reader-check") == \
                "reader-check: cleared 1 stale reader slot(s)\n"
            assert ok(fed.store, "reader-check") == \
                "reader-check: cleared 0 stale reader slot(s)\n"
        finally:
            holder.close()

    both_ways(fed, check)
    assert "11 records" in ok(fed.store, "check")


# ---- usage ----

COMMANDS = ["tail", "export", "stats", "check", "backup", "reader-check"]


@pytest.mark.parametrize("cmd", COMMANDS)
def test_a_missing_store_is_exit_2_with_a_clear_message(cmd, tmp_path):
    missing = tmp_path / "nope"
    p = ctl(missing, cmd, *([str(tmp_path / "dest")] if cmd == "backup" else []))
    assert p.returncode == 2
    assert p.stderr == f"kanalctl: cannot open store {missing}: No such file or directory\n"
    assert not missing.exists() and not (tmp_path / "dest").exists()


def test_the_store_comes_from_kanal_store_or_the_default(fed, tmp_path):
    assert "11 records" in ok(None, "check", env={"KANAL_STORE": str(fed.store)})
    # -s wins over the environment; the command takes it after its name too.
    p = ctl(None, "check", "-s", str(tmp_path / "x"), env={"KANAL_STORE": str(fed.store)})
    assert p.returncode == 2 and str(tmp_path / "x") in p.stderr
    if not os.path.exists("/var/lib/kanal/data.mdb"):
        p = ctl(None, "stats")
        assert p.returncode == 2 and "cannot open store /var/lib/kanal:" in p.stderr


@pytest.mark.parametrize("cmd", COMMANDS)
def test_every_command_explains_itself(cmd):
    for args in ([cmd, "--help"], ["help", cmd]):
        p = ctl(None, *args)
        assert p.returncode == 0
        text = p.stdout
        assert text.startswith(f"usage: kanalctl [-s STORE] {cmd}")
        assert "Exit status:" in text and "Example" in text and "--store" in text


def test_kanalctl_help_lists_every_command():
    p = ctl(None, "--help")
    assert p.returncode == 0
    for cmd in COMMANDS:
        assert f"\n  {cmd} " in p.stdout
    assert "KANAL_STORE" in p.stdout and "Exit status" in p.stdout
    p = ctl(None)
    assert p.returncode == 2 and p.stderr.startswith("usage: kanalctl")
    p = ctl(None, "frobnicate")
    assert p.returncode == 2 and "unknown command 'frobnicate'" in p.stderr


def test_counts_agree_with_the_feed(fed):
    """stats' numbers are the feed's, counted independently."""
    s = json.loads(ok(fed.store, "stats", "--json"))
    assert s["by_source"] == dict(Counter(r["source"] for r in fed.records))
    assert s["by_kind"] == dict(Counter(r["kind"] for r in fed.records))
    assert s["by_direction"] == dict(Counter(r["direction"] for r in fed.records))
