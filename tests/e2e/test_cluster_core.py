# SPDX-License-Identifier: Apache-2.0
"""Core nodes: kanald with a `nats` source consume the records stream that
edge nodes publish (a real 3-node nats-server cluster on loopback, real
kanald edges and cores).  What is checked is what an operator or a CRM sees
on a core: its feed (seq, id, contact of every record), GET
/v1/contacts/<id>, /v1/sources and /metrics, across restarts and failures.
Run this file alone: the cluster tests are sensitive to machine load, and
their timeouts are generous waits, not timed assertions."""
import base64
import json
import threading
import time

from kanal import message, webhook_source
from test_cluster import edge, post_until, wait_until
from test_openapi import Checker

# Several people, several handles: identity resolution has work to do, and
# contact ids (c1, c2, ...) depend on the order records arrive in.
PEOPLE = ["email:ayse@example.com", "email:mehmet@example.com", "tel:+905321112233",
          "email:zeynep@example.com", "tel:+905559998877"]


def nats_source(cluster, durable, extra=""):
    return (f"[source cluster]\nplugin = nats\nservers = {cluster.servers()}\n"
            f"stream = KANAL\nsubject_prefix = kanal.records\ndurable = {durable}\n{extra}\n")


def core(make_kanald, cluster, name, durable=None, extra=""):
    k = make_kanald(name, sources=nats_source(cluster, durable or name, extra),
                    plugins=("nats",))
    k.start()
    return k


def source_state(k):
    status, body = k.api("/v1/sources")
    assert status == 200, body
    return {s["name"]: s for s in body["sources"]}["cluster"]


def stream_last(cluster):
    return cluster.stream_info()["state"].get("last_seq", 0)


def caught_up(k, n):
    """The core holds n records and its source has nothing left to read."""
    feed = k.feed()
    return len(feed) == n and source_state(k).get("lag_records") == 0 and feed


def view(feed):
    return [(r["seq"], r["id"], r.get("contact")) for r in feed]


def same_contacts(a, b):
    """Both cores answer the same for every contact (the differing members
    named when not)."""
    assert a.keys() == b.keys()
    diff = {cid: {m: (a[cid].get(m), b[cid].get(m)) for m in set(a[cid]) | set(b[cid])
                  if a[cid].get(m) != b[cid].get(m)} for cid in a}
    assert not any(diff.values()), diff
    return True


def contacts(k, feed):
    out = {}
    for cid in sorted({r["contact"] for r in feed if r.get("contact")}):
        status, body = k.api(f"/v1/contacts/{cid}")
        assert status == 200, body
        out[cid] = body
    return out


def publish(cluster, subject, data: bytes, msg_id=None):
    """Publish one message to the stream by hand, as a foreign producer would."""
    c = cluster.client()
    try:
        hdr = f"NATS/1.0\r\nNats-Msg-Id: {msg_id}\r\n\r\n".encode() if msg_id else b""
        inbox = "_INBOX.kanaltest.pub"
        c.sock.sendall(f"SUB {inbox} 99\r\n".encode())
        if hdr:
            c.sock.sendall(f"HPUB {subject} {inbox} {len(hdr)} {len(hdr) + len(data)}\r\n"
                           .encode() + hdr + data + b"\r\n")
        else:
            c.sock.sendall(f"PUB {subject} {inbox} {len(data)}\r\n".encode() + data + b"\r\n")
        c.sock.settimeout(30)
        while True:  # the stream's acknowledgement
            line = c._line()
            if line.startswith(b"MSG"):
                ack = json.loads(c._bytes(int(line.split()[-1])))
                assert "error" not in ack, ack
                return ack["seq"]
    finally:
        c.close()


def two_edges_two_cores(make_kanald, nats_cluster, n=30):
    nats_cluster.start()
    nats_cluster.create_stream()
    a = edge(make_kanald, nats_cluster, "edge-a")
    b = edge(make_kanald, nats_cluster, "edge-b")
    for i in range(n):
        who = PEOPLE[i % len(PEOPLE)]
        extra = {"to": [{"handle": PEOPLE[(i + 1) % len(PEOPLE)]}]} if i % 7 == 3 else {}
        rec = message(f"m{i}", text=f"text {i}", handle=who, **extra)
        # Every third webhook is a provider's redelivery reaching both edges.
        for k in ((a, b) if i % 3 == 0 else ((a,) if i % 2 else (b,))):
            status, _, body = k.post_hook(rec)
            assert status == 200, body
    return a, b


def test_two_cores_end_identical_and_a_redelivery_is_one_record(make_kanald, nats_cluster):
    a, b = two_edges_two_cores(make_kanald, nats_cluster)
    c1 = core(make_kanald, nats_cluster, "core-1")
    c2 = core(make_kanald, nats_cluster, "core-2")
    f1 = wait_until(lambda: caught_up(c1, 30), timeout=120, what="core 1 has the 30 records")
    f2 = wait_until(lambda: caught_up(c2, 30), timeout=120, what="core 2 has the 30 records")
    # One record per webhook, though ten reached both edges; same order,
    # same seqs, same contact ids on both cores.
    assert sorted(r["external_id"] for r in f1) == sorted(f"m{i}" for i in range(30))
    assert view(f1) == view(f2)
    assert [r["seq"] for r in f1] == list(range(1, 31))
    # Relayed as the edge stored them (the copy the stream kept): ids,
    # sources, channels, times, text.
    streamed = {m[3]["id"]: m[3] for m in nats_cluster.messages()}
    assert len(streamed) == 30
    for r in f1:
        e = streamed[r["id"]]
        for key in ("source", "channel", "kind", "occurred_at", "received_at", "text", "from"):
            assert r[key] == e[key], (key, r, e)
    # Identity was resolved on the core: five people, same answers on both.
    assert len({r["contact"] for r in f1}) <= len(PEOPLE)
    assert same_contacts(contacts(c1, f1), contacts(c2, f2))
    s = source_state(c1)
    assert s["plugin"] == "nats" and s["healthy"] and s["errors"] == 0 and s["records"] == 30
    # /v1/sources with lag_records answers as docs/openapi.yaml says.
    status, doc = c1.api("/v1/openapi.json")
    assert status == 200
    Checker(doc).answer(c1, "GET", "/v1/sources", "/v1/sources", 200)
    status, _, metrics = c1.request("GET", "/metrics", headers={
        "Authorization": "Bearer test-read-token-0123456789"})
    assert status == 200 and b'kanal_source_lag_records{source="cluster"} 0' in metrics


def test_a_core_killed_mid_stream_resumes_without_gap_or_duplicate(make_kanald, nats_cluster):
    nats_cluster.start()
    nats_cluster.create_stream()
    a = edge(make_kanald, nats_cluster, "edge-a")
    c1 = core(make_kanald, nats_cluster, "core-1", extra="batch = 4")
    ref = core(make_kanald, nats_cluster, "core-ref")
    stop, ok = threading.Event(), []
    t = threading.Thread(target=post_until, args=(a, stop, ok, "k"))
    t.start()
    try:
        wait_until(lambda: len(c1.feed()) >= 20, timeout=120, what="core 1 consuming")
        c1.kill()  # SIGKILL mid-stream: fetched, committed and unacked messages
        had = len(ok)
        time.sleep(0.5)
        c1.start()
        wait_until(lambda: len(c1.feed()) >= had + 10, timeout=120,
                   what="core 1 consuming again")
    finally:
        stop.set()
        t.join()
    n = len(a.feed())
    assert n >= len(ok) > 20
    f1 = wait_until(lambda: caught_up(c1, n), timeout=180, what="core 1 caught up")
    fr = wait_until(lambda: caught_up(ref, n), timeout=180, what="the reference core caught up")
    # No gap, no duplicate: every record of the edge once, and the killed
    # core is identical to one that never stopped.
    assert sorted(r["id"] for r in f1) == sorted(r["id"] for r in a.feed())
    assert len({r["id"] for r in f1}) == n
    assert view(f1) == view(fr)
    assert same_contacts(contacts(c1, f1), contacts(ref, fr))


def test_a_nats_node_killed_while_cores_consume(make_kanald, nats_cluster):
    nats_cluster.start()
    nats_cluster.create_stream()
    a = edge(make_kanald, nats_cluster, "edge-a")
    c1 = core(make_kanald, nats_cluster, "core-1", extra="batch = 8")
    c2 = core(make_kanald, nats_cluster, "core-2", extra="batch = 8")
    stop, ok = threading.Event(), []
    t = threading.Thread(target=post_until, args=(a, stop, ok, "n"))
    t.start()
    try:
        wait_until(lambda: len(c1.feed()) >= 15 and len(c2.feed()) >= 15, timeout=120,
                   what="both cores consuming")
        nats_cluster.kill("n1")
        time.sleep(3)
    finally:
        stop.set()
        t.join()
    wait_until(lambda: a.api("/v1/sinks")[1]["sinks"][0]["lag_records"] == 0, timeout=180,
               what="the edge's sink drained")
    n = stream_last(nats_cluster)
    f1 = wait_until(lambda: caught_up(c1, n), timeout=180, what="core 1 caught up")
    f2 = wait_until(lambda: caught_up(c2, n), timeout=180, what="core 2 caught up")
    # Every record whose webhook got a 2xx is on both cores once, in the
    # same order with the same contacts.
    stored = {r["external_id"] for r in f1}
    assert set(ok) <= stored and len(stored) == n
    assert view(f1) == view(f2)


def test_malformed_and_foreign_messages_are_kept_as_unknown_and_the_consumer_goes_on(
        make_kanald, nats_cluster, tmp_path):
    nats_cluster.start()
    nats_cluster.create_stream()
    a = edge(make_kanald, nats_cluster, "edge-a")
    assert a.post_hook(message("before"))[0] == 200
    wait_until(lambda: stream_last(nats_cluster) == 1, what="the first record in the stream")
    good = a.feed()[0]
    foreign = [
        b"not json at all",                                    # not JSON
        b"\xff\xfe binary \x00 bytes",                          # not UTF-8, a NUL
        b'[1, 2, 3]',                                          # JSON, not an object
        json.dumps({"hello": "world"}).encode(),               # an object, not a record
        json.dumps(dict(good, id="other/message/x")).encode(),  # id contradicts its members
        json.dumps(dict(good, kind="nonsense", id="hooks/nonsense/before")).encode(),
        b"{" + b'"v":1,' * 3 + b'"x":1}',                      # duplicate members
        json.dumps(dict(good, text="x" * 3000)).encode(),      # over max_message
    ]
    # What each one's meta.reason says, so that an operator knows why.
    reasons = ["not JSON", "not JSON: unable to decode byte 0xff", "not a JSON object",
               "not a kanal record (v is not 1)", "kanald refused the record",
               "kanald refused the record", "not JSON: duplicate object key",
               "larger than max_message (2048)"]
    seqs = [publish(nats_cluster, f"kanal.records.foreign.{i}", data)
            for i, data in enumerate(foreign)]
    # A record of kanald's own source (an edge's merge): not stored, each
    # node makes its own.
    own = dict(good, source="kanal", kind="merge", id="kanal/merge/e1", external_id="e1")
    own.pop("from")
    publish(nats_cluster, "kanal.records.kanal.merge", json.dumps(own).encode())
    assert a.post_hook(message("after"))[0] == 200
    wait_until(lambda: stream_last(nats_cluster) == len(foreign) + 3, what="all in the stream")
    c = core(make_kanald, nats_cluster, "core-1", extra="max_message = 2K")
    feed = wait_until(lambda: caught_up(c, len(foreign) + 2), timeout=120,
                      what="the core stored them all")
    assert feed[0]["id"] == good["id"] and feed[-1]["external_id"] == "after"
    unknown = feed[1:-1]
    assert [r["kind"] for r in unknown] == ["unknown"] * len(foreign)
    assert [r["meta"]["stream_seq"] for r in unknown] == seqs
    for r, data, why in zip(unknown, foreign, reasons):
        assert r["source"] == "cluster" and r["channel"] == "nats"
        assert r["meta"]["stream"] == "KANAL" and why in r["meta"]["reason"], (why, r["meta"])
        assert r["meta"]["subject"].startswith("kanal.records.foreign.")
        if len(data) > 2048:
            assert "raw" not in r and r["meta"]["size"] == len(data)
        elif isinstance(r["raw"], dict):
            assert base64.b64decode(r["raw"]["base64"]) == data
        else:
            assert r["raw"].encode() == data
    assert not any(r["source"] == "kanal" and r["kind"] == "merge" and
                   r["external_id"] == "e1" for r in feed)
    s = source_state(c)
    assert s["healthy"] and s["lag_records"] == 0
    # Restarted, the core finds nothing new: no record twice.
    c.stop()
    c.start()
    time.sleep(2)
    assert view(c.feed()) == view(feed)


def test_a_core_refuses_to_start_without_the_stream_or_a_durable(make_kanald, nats_cluster):
    nats_cluster.start()
    nats_cluster.api("$JS.API.INFO")  # JetStream answers: the stream is missing
    k = make_kanald("core", sources=nats_source(nats_cluster, "core-1"), plugins=("nats",))
    k.start()
    k.wait_log(r"stream KANAL does not exist \(create it with kanalctl cluster init\); "
               r"refusing to consume", timeout=30)
    status, body = k.api("/v1/sources")
    assert status == 200 and "cluster" not in [s["name"] for s in body["sources"]]
    k.stop()
    k.write_config(sources=nats_source(nats_cluster, "").replace("durable = \n", ""))
    k.start()
    k.wait_log(r"durable is required", timeout=30)
    status, body = k.api("/v1/sources")
    assert "cluster" not in [s["name"] for s in body["sources"]]


def test_nats_down_makes_the_core_unhealthy_then_it_catches_up(make_kanald, nats_cluster):
    nats_cluster.start()
    nats_cluster.create_stream()
    a = edge(make_kanald, nats_cluster, "edge-a")
    c = core(make_kanald, nats_cluster, "core-1")
    for i in range(10):
        assert a.post_hook(message(f"before{i}"))[0] == 200
    wait_until(lambda: caught_up(c, 10), timeout=120, what="the core has the first 10")
    nats_cluster.stop()
    # The core says why it is not consuming; the edge goes on ingesting.
    s = wait_until(lambda: (lambda s: not s["healthy"] and s)(source_state(c)), timeout=60,
                   what="the core's source unhealthy")
    assert "not connected to NATS" in s["reason"] or "stream KANAL" in s["reason"], s
    for i in range(10):
        assert a.post_hook(message(f"during{i}"))[0] == 200
    nats_cluster.start()
    feed = wait_until(lambda: caught_up(c, 20), timeout=180, what="the core caught up")
    assert sorted(r["external_id"] for r in feed) == sorted(
        [f"before{i}" for i in range(10)] + [f"during{i}" for i in range(10)])
    wait_until(lambda: source_state(c)["healthy"], timeout=30, what="the source healthy again")


def test_a_core_started_before_nats_waits_and_then_consumes(make_kanald, nats_cluster):
    c = core(make_kanald, nats_cluster, "core-1")
    c.wait_log(r"no NATS server of .* answers yet; retrying with backoff", timeout=30)
    nats_cluster.start()
    nats_cluster.create_stream()
    a = edge(make_kanald, nats_cluster, "edge-a")
    for i in range(5):
        assert a.post_hook(message(f"late{i}"))[0] == 200
    feed = wait_until(lambda: caught_up(c, 5), timeout=180, what="the core consuming")
    assert [r["external_id"] for r in feed] == [f"late{i}" for i in range(5)]
    wait_until(lambda: source_state(c)["healthy"], timeout=30, what="the source healthy")
