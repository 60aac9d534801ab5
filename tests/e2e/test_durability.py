# SPDX-License-Identifier: Apache-2.0
"""Durability: concurrent load, long-polling, crashes and a full disk.  What
was acknowledged is in the store exactly once, and seqs have no gaps."""
import http.client
import json
import os
import random
import shutil
import subprocess
import threading
import time

import pytest

from kanal import message, sign, validate_record


def post_many(k, ids, results, errors):
    """One keep-alive connection posting each id in turn."""
    c = http.client.HTTPConnection("127.0.0.1", k.port, timeout=30)
    try:
        for ext in ids:
            body = json.dumps(message(ext)).encode()
            c.request("POST", "/hooks/hooks", body,
                      {"X-Kanal-Signature": sign(body), "Content-Type": "application/json"})
            r = c.getresponse()
            data = r.read()
            if r.status != 200:
                errors.append((ext, r.status, data))
            else:
                results[ext] = json.loads(data)["seqs"][0]
            if r.getheader("Connection", "").lower() == "close":
                errors.append((ext, "closed", data))
                return
    except Exception as e:  # recorded, so the assertion names it
        errors.append(("connection", repr(e)))
    finally:
        c.close()


def test_2000_posts_over_50_keepalive_connections(kanald):
    n_conn, per_conn = 50, 40
    results, errors = {}, []
    threads = [threading.Thread(target=post_many,
                                args=(kanald, [f"c{c}-{i}" for i in range(per_conn)], results, errors))
               for c in range(n_conn)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert len(results) == n_conn * per_conn
    recs = kanald.feed()
    assert [r["seq"] for r in recs] == list(range(1, n_conn * per_conn + 1))
    assert sorted(results.values()) == list(range(1, n_conn * per_conn + 1))
    by_ext = {r["external_id"]: r["seq"] for r in recs}
    assert by_ext == results
    for r in recs[:50]:
        validate_record(r)


def test_long_poll_returns_soon_after_a_commit(kanald):
    out = {}

    def poll():
        t0 = time.monotonic()
        out["r"] = kanald.api("/v1/interactions?after=0&wait=60")
        out["t"] = time.monotonic()
        out["t0"] = t0

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(1.0)
    assert "r" not in out  # still waiting
    assert kanald.post_hook(message("lp-1"))[0] == 200
    posted = time.monotonic()  # the commit is acknowledged
    t.join(60)
    status, page = out["r"]
    assert status == 200
    assert [r["external_id"] for r in page["interactions"]] == ["lp-1"]
    # Woken by the commit, not by the end of its 60 s wait (the margin is
    # for a loaded machine, where a thread may wait seconds to run).
    assert out["t"] - posted < 15


def test_long_poll_with_a_filter_waits_for_a_matching_record(kanald):
    out = {}

    def poll():
        out["r"] = kanald.api("/v1/interactions?after=0&kind=comment&wait=60")

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.3)
    kanald.post_hook(message("not-a-comment"))
    time.sleep(0.5)
    assert "r" not in out
    kanald.post_hook(message("a-comment", kind="comment"))
    t.join(60)
    assert [r["external_id"] for r in out["r"][1]["interactions"]] == ["a-comment"]


def test_crash_ledger(make_kanald):
    """Post continuously while kanald is killed with SIGKILL at random
    moments; every acknowledged post must be in the store exactly once."""
    k = make_kanald()
    acked = {}
    stop = threading.Event()
    rnd = random.Random(1234)

    def client():
        i = 0
        while not stop.is_set():
            ext = f"ledger-{i}"
            body = json.dumps(message(ext)).encode()
            try:
                c = http.client.HTTPConnection("127.0.0.1", k.port, timeout=5)
                c.request("POST", "/hooks/hooks", body, {"X-Kanal-Signature": sign(body)})
                r = c.getresponse()
                data = r.read()
                c.close()
                if r.status == 200:
                    acked[ext] = json.loads(data)["seqs"][0]
                    i += 1
            except (OSError, http.client.HTTPException):
                time.sleep(0.01)  # kanald is down: retry the same id, as a provider would

    k.start()
    threads = [threading.Thread(target=client) for _ in range(1)]
    for t in threads:
        t.start()
    try:
        for cycle in range(6):
            time.sleep(rnd.uniform(0.2, 0.8))
            k.kill()
            time.sleep(0.05)
            k.start()
        time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert len(acked) > 20, "the client got too few acknowledgements to mean anything"
    recs = k.feed()
    seqs = [r["seq"] for r in recs]
    assert seqs == list(range(1, len(recs) + 1)), "seqs must be gap-free"
    ids = [r["external_id"] for r in recs]
    assert len(ids) == len(set(ids)), "no record twice"
    stored = {r["external_id"]: r["seq"] for r in recs}
    missing = [e for e in acked if e not in stored]
    assert missing == []
    assert all(stored[e] == s for e, s in acked.items())


def can_mount_tmpfs(path):
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(path)],
                       capture_output=True)
    return r.returncode == 0


def test_full_disk_gives_503_and_recovers(make_kanald, tmp_path):
    mnt = tmp_path / "small"
    if not can_mount_tmpfs(mnt):
        pytest.skip("cannot mount a small tmpfs here (it needs root)")
    try:
        filler = mnt / "filler"
        k = make_kanald(store=mnt / "store").start()
        assert k.post_hook(message("before-full"))[0] == 200
        # Fill the file system, leaving no room for the store to grow.
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        statuses = []
        big = "z" * 60000
        for i in range(40):
            status, _, body = k.post_hook(message(f"full-{i}", text=big))
            statuses.append(status)
            if status == 503:
                break
        assert 503 in statuses, statuses
        assert json.loads(body)["error"]["code"] == "store_unavailable"
        k.wait_log(r"commit of .* failed: No space left on device")
        accepted_while_full = [f"full-{i}" for i, s in enumerate(statuses) if s == 200]
        os.unlink(filler)
        status = None
        for _ in range(20):
            status = k.post_hook(message("after-free", text=big))[0]
            if status == 200:
                break
            time.sleep(0.2)
        assert status == 200
        k.wait_log(r"commits succeed again")
        ids = [r["external_id"] for r in k.feed()]
        assert ids == ["before-full"] + accepted_while_full + ["after-free"]
        assert k.stop() == 0
        # The store is intact: reopen and read it all.
        k.start()
        assert [r["external_id"] for r in k.feed()] == ids
        assert k.stop() == 0
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
