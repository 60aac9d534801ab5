# SPDX-License-Identifier: Apache-2.0
"""Outbound in a cluster: a message posted to a core node is checked for
consent on the core's store, then handed to the KANAL_OUTBOX work-queue
stream of a real 3-node nats-server cluster; edge nodes take it through one
shared durable consumer, so one edge sends it, with the message's
idempotency key.  An edge killed before it acknowledges loses nothing:
another edge gets the message after outbox_ack_wait and sends it with the
same key.  The outbound record reaches the records stream (what the cores
consume) once.  What is checked is what the provider, the CRM and the
operator see."""
import json
import re
import subprocess
import threading
import time

from fakes import FakeProvider
from kanal import KANALD, WRITE_TOKEN, message, wait_message, webhook_source
from test_cluster import kanalctl, nats_sink, wait_until

ACK_WAIT = 3  # seconds an edge has before the stream gives a message to another


def outbox_stream(cluster):
    """kanalctl cluster init --outbox: the records stream is there and fit,
    the outbox's work queue is created."""
    out = kanalctl("cluster", "init", "--servers", cluster.servers(), "--outbox")
    assert out.returncode == 0, (out.stdout, out.stderr)
    assert "stream KANAL is fit" in out.stdout and "stream KANAL_OUTBOX created" in out.stdout
    cfg = cluster.stream_info("KANAL_OUTBOX")["config"]
    assert cfg["retention"] == "workqueue" and cfg["subjects"] == ["kanal.outbox.>"]
    assert cfg["storage"] == "file" and cfg["num_replicas"] == 3


def core(make_kanald, cluster, fake, name="core"):
    # The core runs the same sources as the edges (their channel and country
    # decide the handle whose consent is checked) but never calls a provider.
    k = make_kanald(name, sources=webhook_source(extra=f"send_url = {fake.url}/core-must-not-send"),
                    kanald=f"outbox_cluster = core\noutbox_servers = {cluster.servers()}\n")
    return k.start()


def edge(make_kanald, cluster, fake, name):
    k = make_kanald(name, sources=webhook_source(extra=f"send_url = {fake.url}/send")
                    + nats_sink(cluster), plugins=("webhook", "nats"),
                    kanald=f"outbox_cluster = edge\noutbox_servers = {cluster.servers()}\n"
                           f"outbox_ack_wait = {ACK_WAIT}s\n")
    return k.start()


def post_message(k, **body):
    body = {"source": "hooks", "to": "email:ayse@example.com", "text": "Merhaba!", **body}
    status, r = k.api("/v1/messages", token=WRITE_TOKEN, method="POST", body=body)
    assert status == 202, r
    return r["id"]


def outbound_in_stream(cluster, cid):
    return [m for m in cluster.messages("KANAL")
            if m[3].get("direction") == "outbound" and m[3]["meta"]["message_id"] == cid]


def taken_by(edges, cid):
    return [k for k in edges if k.api(f"/v1/messages/{cid}")[0] == 200]


def test_a_message_posted_to_a_core_is_sent_once_and_again_only_after_an_edge_dies(
        make_kanald, nats_cluster):
    nats_cluster.start()
    nats_cluster.create_stream()
    outbox_stream(nats_cluster)
    release = threading.Event()
    held = []

    def answer(req):
        body = req.json()
        if body["text"] == "hold" and not held:
            held.append(req)
            release.wait(90)  # the edge is mid-send when it dies
        return (200, {}, {"id": "prov-" + req.headers["Idempotency-Key"]})

    with FakeProvider() as fake:
        fake.answer = answer
        c = core(make_kanald, nats_cluster, fake)
        a = edge(make_kanald, nats_cluster, fake, "edge-a")
        b = edge(make_kanald, nats_cluster, fake, "edge-b")
        try:
            # 1. Both edges alive: several messages, each sent by one edge, once.
            mids = [post_message(c, text=f"once {i}", to=f"email:kisi{i}@example.com")
                    for i in range(6)]
            for mid in mids:
                m = wait_message(c, mid, ("relayed", "failed"), timeout=60)
                assert m["status"] == "relayed", m
            reqs = fake.wait_requests(6, timeout=60)
            cids = [r.json()["id"] for r in reqs]
            assert sorted(r.json()["text"] for r in reqs) == sorted(f"once {i}" for i in range(6))
            for cid in cids:
                owners = taken_by((a, b), cid)
                assert len(owners) == 1, cid
                assert wait_message(owners[0], cid, ("sent", "failed"))["status"] == "sent"
            # The key is the message's own (no idempotency_key given): its id on the core.
            assert sorted(r.headers["Idempotency-Key"] for r in reqs) == sorted(mids)

            # 2. The edge that took a message dies before it acknowledges.
            mid = post_message(c, text="hold", idempotency_key="crm-key-77")
            assert wait_message(c, mid, ("relayed", "failed"), timeout=60)["status"] == "relayed"
            wait_until(lambda: held, timeout=60, what="the held send")
            cid = held[0].json()["id"]
            [dead] = taken_by((a, b), cid)
            alive = b if dead is a else a
            dead.kill()
            release.set()
            reqs = fake.wait_requests(8, timeout=90)
            again = [r for r in reqs if r.json()["id"] == cid]
            assert len(again) == 2
            assert {r.headers["Idempotency-Key"] for r in again} == {"crm-key-77"}
            m = wait_message(alive, cid, ("sent", "failed"), timeout=60)
            assert m["status"] == "sent", m
            # The outbound record of each message reaches the records stream,
            # which the cores consume, once.
            wait_until(lambda: len(outbound_in_stream(nats_cluster, cid)) == 1, timeout=60,
                       what="the outbound record in the records stream")
            for i in cids:
                assert len(outbound_in_stream(nats_cluster, i)) == 1, i
            mine = [r for r in alive.feed() if r.get("meta", {}).get("message_id") == cid]
            assert len(mine) == 1 and mine[0]["direction"] == "outbound"
            # Acknowledged: the work queue is empty and nobody sends it a third time.
            wait_until(lambda: nats_cluster.stream_info("KANAL_OUTBOX")["state"]["messages"] == 0,
                       timeout=30, what="an empty work queue")
            time.sleep(ACK_WAIT * 2)
            assert len(fake.requests) == 8
            assert not [r for r in fake.requests if r.path == "/core-must-not-send"]
            # The dead edge comes back: its copy was the stream's, another
            # edge sent it; it sends nothing from its own store.
            dead.start()
            time.sleep(ACK_WAIT * 2)
            assert len(fake.requests) == 8
            assert dead.api(f"/v1/messages/{cid}")[1]["status"] == "queued"
        finally:
            release.set()


def test_an_opted_out_recipient_is_refused_on_the_core_and_never_published(make_kanald,
                                                                           nats_cluster):
    nats_cluster.start()
    nats_cluster.create_stream()
    outbox_stream(nats_cluster)
    with FakeProvider(default=(200, {}, {"id": "p1"})) as fake:
        c = core(make_kanald, nats_cluster, fake)
        e = edge(make_kanald, nats_cluster, fake, "edge")
        # The customer said STOP; the core's store knows.
        for rec in (message("in-1", handle="email:zeynep@example.com", channel="webhook"),
                    message("stop-1", handle="email:zeynep@example.com", channel="webhook",
                            kind="optout")):
            assert c.post_hook(rec)[0] == 200
        refused = [post_message(c, to=to, text="Kampanya!")
                   for to in ("email:zeynep@example.com", "email:Zeynep@Example.com")]
        for mid in refused:
            m = wait_message(c, mid, ("failed", "relayed", "sent"), timeout=30)
            assert m["status"] == "failed" and m["reason"] == "opted_out", m
        # Someone else is not opted out: published, sent by the edge.
        ok = post_message(c, to="email:ayse@example.com", text="Merhaba")
        assert wait_message(c, ok, ("failed", "relayed"), timeout=60)["status"] == "relayed"
        [req] = fake.wait_requests(1, timeout=60)
        assert req.json()["to"] == "email:ayse@example.com"
        state = nats_cluster.stream_info("KANAL_OUTBOX")["state"]
        assert state["last_seq"] == 1  # only that one was ever published
        time.sleep(1)
        assert len(fake.requests) == 1
        assert wait_message(e, req.json()["id"], ("sent",))["status"] == "sent"


def test_a_foreign_message_in_the_work_queue_is_dropped_and_stops_nothing(make_kanald,
                                                                         nats_cluster):
    nats_cluster.start()
    nats_cluster.create_stream()
    outbox_stream(nats_cluster)
    with FakeProvider(default=(200, {}, {"id": "p1"})) as fake:
        e = edge(make_kanald, nats_cluster, fake, "edge")
        good = {"id": "m1-1", "source": "hooks", "to": "email:a@example.com",
                "idempotency_key": "k1", "text": "hi"}
        junk = [b"not json", b"[]", json.dumps({"id": "x"}).encode(),
                json.dumps({**good, "to": "x" * 513}).encode(),
                json.dumps({**good, "id": ""}).encode(),
                json.dumps({**good, "text": 5}).encode(),
                json.dumps({k: v for k, v in good.items() if k != "text"}).encode()]
        for body in junk:
            nats_cluster.api("kanal.outbox.hooks", body)
        for why in ("not a JSON object", "missing or not a string: source",
                    "empty or too long: to", "empty or too long: id",
                    "not a string or too long: text", "neither text nor template"):
            e.wait_log(r"outbox: message on kanal\.outbox\.hooks of stream KANAL_OUTBOX "
                       r"dropped: " + why, timeout=30)
        c = core(make_kanald, nats_cluster, fake)
        mid = post_message(c, text="after the junk")
        assert wait_message(c, mid, ("failed", "relayed"), timeout=60)["status"] == "relayed"
        [req] = fake.wait_requests(1, timeout=60)
        assert req.json()["text"] == "after the junk"
        wait_until(lambda: nats_cluster.stream_info("KANAL_OUTBOX")["state"]["messages"] == 0,
                   timeout=30, what="the junk terminated and the message acknowledged")


def test_kanalctl_checks_the_outbox_stream(nats_cluster):
    nats_cluster.start()
    nats_cluster.create_stream()
    # An outbox stream that keeps messages (limits) would send each once per
    # consumer: named, exit 1, nothing changed.
    nats_cluster.create_stream("KANAL_OUTBOX", subjects=("kanal.outbox.>",))
    out = kanalctl("cluster", "init", "--servers", nats_cluster.servers(), "--outbox")
    assert out.returncode == 1, out
    assert "stream KANAL is fit" in out.stdout
    assert "retention: not work-queue, wanted work-queue" in out.stdout
    assert nats_cluster.stream_info("KANAL_OUTBOX")["config"]["retention"] == "limits"
    assert kanalctl("cluster", "init", "--outbox", "--outbox-stream", "KANAL").returncode == 2


def test_a_send_slower_than_ack_wait_is_not_sent_by_a_second_edge(make_kanald, nats_cluster):
    """The edge that is sending tells the stream so: a provider that takes
    longer than outbox_ack_wait to answer (or a retry's backoff) does not
    make the other edge send the message too."""
    nats_cluster.start()
    nats_cluster.create_stream()
    outbox_stream(nats_cluster)

    def answer(req):
        if req.json()["text"] == "slow":
            time.sleep(ACK_WAIT * 3)
        return (200, {}, {"id": "prov-" + req.headers["Idempotency-Key"]})

    with FakeProvider() as fake:
        fake.answer = answer
        c = core(make_kanald, nats_cluster, fake)
        a = edge(make_kanald, nats_cluster, fake, "edge-a")
        b = edge(make_kanald, nats_cluster, fake, "edge-b")
        mid = post_message(c, text="slow")
        assert wait_message(c, mid, ("relayed", "failed"), timeout=60)["status"] == "relayed"
        [req] = fake.wait_requests(1, timeout=60)
        cid = req.json()["id"]
        [owner] = taken_by((a, b), cid)
        assert wait_message(owner, cid, ("sent", "failed"), timeout=60)["status"] == "sent"
        wait_until(lambda: nats_cluster.stream_info("KANAL_OUTBOX")["state"]["messages"] == 0,
                   timeout=30, what="the message acknowledged")
        time.sleep(ACK_WAIT * 2)
        assert len(fake.requests) == 1
        assert len(taken_by((a, b), cid)) == 1


def test_an_edge_restarted_after_dying_mid_send_sends_its_message_once_more(make_kanald,
                                                                           nats_cluster):
    """The only edge dies mid-send and comes back: it does not send the
    message from its own store (the stream still owns it) and sends it once
    when the stream gives it back, with the same key; one outbound record."""
    nats_cluster.start()
    nats_cluster.create_stream()
    outbox_stream(nats_cluster)
    release = threading.Event()

    def answer(req):
        if len(fake.requests) == 1:
            release.wait(90)
        return (200, {}, {"id": "prov-" + req.headers["Idempotency-Key"]})

    with FakeProvider() as fake:
        fake.answer = answer
        c = core(make_kanald, nats_cluster, fake)
        a = edge(make_kanald, nats_cluster, fake, "edge-a")
        try:
            mid = post_message(c, text="restart", idempotency_key="crm-key-9")
            [first] = fake.wait_requests(1, timeout=60)
            cid = first.json()["id"]
            a.kill()
            release.set()
            a.start()
            assert wait_message(a, cid, ("sent", "failed"), timeout=90)["status"] == "sent"
            wait_until(lambda: nats_cluster.stream_info("KANAL_OUTBOX")["state"]["messages"] == 0,
                       timeout=30, what="the message acknowledged")
            time.sleep(ACK_WAIT * 2)
            reqs = fake.requests
            assert len(reqs) == 2, [r.json() for r in reqs]
            assert {r.headers["Idempotency-Key"] for r in reqs} == {"crm-key-9"}
            assert {r.json()["id"] for r in reqs} == {cid} and cid.startswith(mid + "-")
            mine = [r for r in a.feed() if r.get("meta", {}).get("message_id") == cid]
            assert len(mine) == 1
        finally:
            release.set()


def test_the_outbox_keys_are_checked(make_kanald):
    """A node with a wrong way to the outbox stream does not start: a core
    would neither send nor hand on."""
    for kanald, why in (
            ("outbox_cluster = core\noutbox_servers = 127.0.0.1:4222", r"is not a nats://"),
            ("outbox_cluster = edge\noutbox_servers = http://n1:4222", r"is not a nats://"),
            ("outbox_cluster = core\noutbox_servers = nats://", r"is not a nats://"),
            ("outbox_cluster = both", r"outbox_cluster"),
            ("outbox_cluster = edge\noutbox_stream = KANAL.OUT", r"'outbox_stream'"),
            ("outbox_cluster = edge\noutbox_subject = kanal.*", r"'outbox_subject'"),
            ("outbox_cluster = edge\noutbox_durable = a b", r"'outbox_durable'"),
            ("outbox_cluster = edge\noutbox_ack_wait = 500ms", r"'outbox_ack_wait'")):
        k = make_kanald(kanald=kanald)
        out = subprocess.run([str(KANALD), "--check-config", "-c", str(k.conf)],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode != 0 and re.search(why, out.stderr), (kanald, out.stderr)
    k = make_kanald(kanald="outbox_cluster = core\n"
                           "outbox_servers = nats://n1:4222, tls://n2:4222")
    out = subprocess.run([str(KANALD), "--check-config", "-c", str(k.conf)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
