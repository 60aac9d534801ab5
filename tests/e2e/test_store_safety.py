# SPDX-License-Identifier: Apache-2.0
"""The store's safety: one kanald per store (a kernel lock in the store
directory, named by PID, that a killed kanald does not leave behind), and
honest feed cursors (store_id and last_seq in every page; a cursor past the
last seq is refused with 409 cursor_ahead, also when long-polling, and so is
the cursor a CRM kept from before a restore)."""
import json
import os
import re
import subprocess
import time

from kanal import BUILD, KANALD, message

KANALCTL = BUILD / "kanalctl"


def ctl(store, *args):
    e = dict(os.environ)
    e.pop("KANAL_STORE", None)
    p = subprocess.run([str(KANALCTL), "-s", str(store), *args], capture_output=True, env=e,
                       timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def post(k, ext):
    status, _, body = k.post_hook(message(ext))
    assert status == 200, body
    return json.loads(body)["seqs"][0]


def wait_exit(k, timeout=60):
    try:
        return k.proc.wait(timeout=timeout)
    finally:
        k._reader.join(timeout=5)


# ---- one kanald per store ----

def test_second_kanald_on_a_store_in_use_refuses_to_start(make_kanald):
    first = make_kanald("first").start()
    assert post(first, "before") == 1
    pid = first.proc.pid

    second = make_kanald("second", store=first.store)
    second.expect_exit = True
    # --check-config does not write the store and does not mind the lock.
    p = subprocess.run([str(KANALD), "--check-config", "-c", str(second.conf)],
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr.decode()

    second.start(wait=False)
    rc = wait_exit(second)
    assert rc != 0
    assert f"store {first.store} is in use by kanald PID {pid}" in second.log()
    assert "listening on" not in second.log()

    # The first one goes on serving and committing; readers keep reading.
    assert post(first, "after") == 2
    assert [r["external_id"] for r in first.feed()] == ["before", "after"]
    rc, out, err = ctl(first.store, "stats", "--json")
    assert rc == 0, err
    assert json.loads(out)["last_seq"] == 2

    # Stopped, the store is free again, for a kanald with another config.
    assert first.stop() == 0
    second.expect_exit = False
    second.start()
    assert post(second, "third") == 3
    assert [r["external_id"] for r in second.feed()] == ["before", "after", "third"]


def test_a_killed_kanald_does_not_block_the_next(make_kanald):
    k = make_kanald().start()
    assert post(k, "one") == 1
    pid = k.proc.pid
    k.kill()  # SIGKILL: no clean-up at all
    lock = k.store / "kanald.pid"
    assert lock.exists() and lock.read_text().strip() == str(pid)
    k.start()
    assert post(k, "two") == 2
    assert lock.read_text().strip() == str(k.proc.pid)
    assert [r["external_id"] for r in k.feed()] == ["one", "two"]


def test_a_symlinked_lock_file_is_refused(make_kanald, tmp_path):
    """The lock file is opened with O_NOFOLLOW: a link planted in the store
    directory does not make kanald write its PID somewhere else."""
    k = make_kanald()
    k.store.mkdir()
    target = tmp_path / "elsewhere"
    target.write_text("untouched\n")
    (k.store / "kanald.pid").symlink_to(target)
    k.expect_exit = True
    k.start(wait=False)
    assert wait_exit(k) != 0
    assert re.search(r"cannot open the store's lock file .*kanald\.pid", k.log()), k.log()
    assert target.read_text() == "untouched\n"


# ---- honest cursors ----

def store_id_of(store):
    rc, out, err = ctl(store, "stats", "--json")
    assert rc == 0, err
    return json.loads(out)["store_id"]


def test_pages_carry_store_id_and_last_seq(kanald):
    status, page = kanald.api("/v1/interactions?after=0")
    assert status == 200, page
    assert page["interactions"] == [] and page["next"] == 0 and page["more"] is False
    assert page["last_seq"] == 0
    sid = page["store_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", sid)
    for i in range(5):
        post(kanald, f"m{i}")
    for after, limit, want_next, more in [(0, 2, 2, True), (2, 10, 5, False), (5, 10, 5, False)]:
        status, page = kanald.api(f"/v1/interactions?after={after}&limit={limit}")
        assert status == 200, page
        assert page["store_id"] == sid
        assert page["last_seq"] == 5
        assert page["next"] == want_next and page["more"] is more
    assert store_id_of(kanald.store) == sid


def assert_ahead(status, body, after, sid, last):
    assert status == 409, (after, body)
    err = body["error"]
    assert err["code"] == "cursor_ahead"
    assert err["store_id"] == sid
    assert err["last_seq"] == last
    assert str(after) in err["message"]


def test_a_cursor_past_the_end_is_refused(kanald):
    status, page = kanald.api("/v1/interactions?after=0")
    sid = page["store_id"]
    # An empty store: any cursor above 0 is one it never gave out.
    status, body = kanald.api("/v1/interactions?after=1")
    assert_ahead(status, body, 1, sid, 0)
    for i in range(3):
        post(kanald, f"m{i}")
    for after in (4, 5, 999, 2**63, 2**64 - 1):
        for wait in ("", "&wait=30"):
            # A long-poll on a cursor that is ahead is answered at once, not
            # after 30 s (the client, 20 s, would time out first).
            status, body = kanald.api(f"/v1/interactions?after={after}{wait}", timeout=20)
            assert_ahead(status, body, after, sid, 3)
    # Filters change nothing about it.
    status, body = kanald.api("/v1/interactions?after=4&source=hooks&wait=30", timeout=20)
    assert_ahead(status, body, 4, sid, 3)
    # The last seq itself is a good cursor: nothing new, answered 200.
    status, page = kanald.api("/v1/interactions?after=3")
    assert status == 200 and page["interactions"] == [] and page["next"] == 3
    # One record past the end stays 404.
    status, body = kanald.api("/v1/interactions/4")
    assert status == 404 and body["error"]["code"] == "not_found"
    # Nothing was stored by the refused reads, and the feed still works.
    assert [r["external_id"] for r in kanald.feed()] == ["m0", "m1", "m2"]


def test_a_long_poll_within_the_log_still_waits(kanald):
    """The 409 is for cursors past the end only: a long-poll at the end
    waits for the next commit as before."""
    post(kanald, "first")
    import threading
    got = {}

    def poll():
        got["r"] = kanald.api("/v1/interactions?after=1&wait=20", timeout=30)

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.3)
    assert t.is_alive()  # still waiting: nothing after seq 1 yet
    post(kanald, "second")
    t.join(timeout=25)
    status, page = got["r"]
    assert status == 200 and [r["external_id"] for r in page["interactions"]] == ["second"]
    assert page["last_seq"] == 2


def test_restore_from_a_backup_refuses_the_old_cursor(make_kanald, tmp_path):
    k = make_kanald("live").start()
    for i in range(3):
        post(k, f"a{i}")
    backup = tmp_path / "backup"
    rc, out, err = ctl(k.store, "backup", str(backup))
    assert rc == 0, err
    for i in range(3):
        post(k, f"b{i}")
    crm = k.feed()  # the CRM reads everything: its cursor is 6
    assert len(crm) == 6
    cursor = 6
    status, page = k.api(f"/v1/interactions?after={cursor}")
    sid = page["store_id"]
    assert k.stop() == 0

    # The operator restores the backup into a new store directory.
    restored = make_kanald("restored", store=backup).start()
    status, body = restored.api(f"/v1/interactions?after={cursor}")
    assert_ahead(status, body, cursor, sid, 3)
    status, body = restored.api(f"/v1/interactions?after={cursor}&wait=30", timeout=20)
    assert_ahead(status, body, cursor, sid, 3)
    # A CRM reading the store with libkanal (the example consumer, its
    # cursor file saying 6) and kanalctl are told too, instead of waiting
    # for seq 7 of a store that lost 4-6.
    cursor_file = tmp_path / "crm.cursor"
    cursor_file.write_text(f"{cursor}\n")
    p = subprocess.run([str(BUILD / "sdk" / "consumer"), str(backup), str(cursor_file), "--once"],
                       capture_output=True, timeout=30)
    assert p.returncode == 1 and p.stdout == b"", p
    assert b"past the store's last seq" in p.stderr, p.stderr
    assert cursor_file.read_text() == f"{cursor}\n"
    rc, out, err = ctl(backup, "tail", "--after", str(cursor))
    assert rc == 1 and out == "" and "past the store's last seq" in err, err
    rc, out, err = ctl(backup, "export", "--after", str(cursor))
    assert rc == 1 and out == "" and "past the store's last seq" in err, err
    # What docs/operations.md tells the CRM: read again from a seq it knows
    # (here 0) and drop what it has by id; the provider's retries of b* come
    # in again with new seqs but the same ids.
    seen = {r["id"] for r in crm}
    for i in range(3):
        post(restored, f"b{i}")
    again = restored.feed(after=0)
    assert [r["external_id"] for r in again] == ["a0", "a1", "a2", "b0", "b1", "b2"]
    assert {r["id"] for r in again} == seen
    assert [r["id"] for r in again if r["id"] not in seen] == []
