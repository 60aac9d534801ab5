# SPDX-License-Identifier: Apache-2.0
"""A core node's consumer of the records stream (the nats source), as an
operator sees it: it follows the stream one record at a time, it outlives
the NATS node that serves it, its acknowledgements leave nothing pending once
committed, and when it cannot be made the core's /v1/sources says which
stream and why.  A real 3-node nats-server cluster and real kanald; the
waits are generous deadlines, not timed assertions.  Run this file alone:
the cluster tests are sensitive to machine load."""
from kanal import message
from test_cluster import edge, wait_until
from test_cluster_core import caught_up, core, source_state


def consumer_info(cluster, durable):
    return cluster.api(f"$JS.API.CONSUMER.INFO.KANAL.{durable}")


def test_each_record_reaches_the_core_alone_and_leaves_no_ack_pending(make_kanald,
                                                                      nats_cluster):
    nats_cluster.start()
    nats_cluster.create_stream()
    a = edge(make_kanald, nats_cluster, "edge-a")
    c = core(make_kanald, nats_cluster, "core-1")
    # One record at a time: each one shows on the core's feed before the
    # next is posted, without more records behind it to fill a batch.
    for i in range(5):
        assert a.post_hook(message(f"one{i}"))[0] == 200
        feed = wait_until(lambda: caught_up(c, i + 1), timeout=120, what=f"record one{i}")
        assert [r["external_id"] for r in feed] == [f"one{j}" for j in range(i + 1)]
    # Then a burst, committed in batches: every record once, in order.
    for i in range(40):
        assert a.post_hook(message(f"burst{i}"))[0] == 200
    feed = wait_until(lambda: caught_up(c, 45), timeout=120, what="the burst")
    assert [r["external_id"] for r in feed][5:] == [f"burst{i}" for i in range(40)]
    assert [r["seq"] for r in feed] == list(range(1, 46))
    # A batch is acknowledged once committed, and the ack covers it all:
    # nothing stays pending on the stream's side.
    info = wait_until(lambda: (lambda i: i["num_ack_pending"] == 0 and i)(
        consumer_info(nats_cluster, "core-1")), timeout=60, what="no ack pending")
    assert info["delivered"]["stream_seq"] == 45 and info["ack_floor"]["stream_seq"] == 45


def test_the_core_goes_on_when_the_node_serving_its_consumer_dies(make_kanald, nats_cluster):
    nats_cluster.start()
    nats_cluster.create_stream()
    a = edge(make_kanald, nats_cluster, "edge-a")
    c = core(make_kanald, nats_cluster, "core-1")
    for i in range(10):
        assert a.post_hook(message(f"before{i}"))[0] == 200
    wait_until(lambda: caught_up(c, 10), timeout=120, what="the core has the first 10")
    # The node that serves the core's consumer, killed: the consumer is made
    # again on a node that answers, from what the core committed.
    serving = consumer_info(nats_cluster, "core-1")["cluster"]["leader"]
    nats_cluster.kill(serving)
    for i in range(10):
        assert a.post_hook(message(f"after{i}"))[0] == 200
    wait_until(lambda: a.api("/v1/sinks")[1]["sinks"][0]["lag_records"] == 0, timeout=180,
               what="the edge's sink drained")
    feed = wait_until(lambda: caught_up(c, 20), timeout=180, what="the core after the kill")
    assert [r["external_id"] for r in feed] == (
        [f"before{i}" for i in range(10)] + [f"after{i}" for i in range(10)])
    assert [r["seq"] for r in feed] == list(range(1, 21))
    wait_until(lambda: source_state(c)["healthy"], timeout=60, what="the source healthy again")
    assert consumer_info(nats_cluster, "core-1")["cluster"]["leader"] != serving


def test_a_consumer_that_cannot_be_made_names_the_stream_and_why(make_kanald, nats_cluster):
    # The core starts before NATS, so the stream is first looked at by the
    # consumer thread; NATS then comes up without the stream.
    c = core(make_kanald, nats_cluster, "core-1")
    c.wait_log(r"no NATS server of .* answers yet; retrying with backoff", timeout=30)
    nats_cluster.start()
    # (Until JetStream has a leader the reason is a timeout; then it says
    # what is wrong.)
    s = wait_until(lambda: (lambda s: "not found" in (s.get("reason") or "").lower() and s)(
        source_state(c)), timeout=120, what="the reason on /v1/sources")
    assert not s["healthy"]
    assert s["reason"].startswith("consumer core-1 of stream KANAL cannot be made: "), s
    assert "stream not found" in s["reason"].lower() and "(null)" not in s["reason"], s
    nats_cluster.create_stream()
    a = edge(make_kanald, nats_cluster, "edge-a")
    assert a.post_hook(message("first"))[0] == 200
    feed = wait_until(lambda: caught_up(c, 1), timeout=180, what="the core consuming")
    assert [r["external_id"] for r in feed] == ["first"]
    wait_until(lambda: source_state(c)["healthy"], timeout=60, what="the source healthy")
