# SPDX-License-Identifier: Apache-2.0
"""ack = cluster on a real 3-node NATS JetStream cluster: a webhook's 2xx
waits until the nats sink has the stream's acknowledgement for its record,
so that an edge that loses its disk loses nothing it acknowledged.  With
the cluster unavailable the answer is 503 + Retry-After, nothing answered
2xx is missing from the stream, and retries get 2xx once NATS is back.
What is checked is what a provider and an operator see: answers, the
stream's messages, /v1/sinks and /metrics."""
import re
import subprocess
import threading

from kanal import KANALD, message, webhook_source
from test_cluster import drained, nats_sink, sink_state, wait_until


def edge(make_kanald, cluster, sink_extra="", sources=None, name="edge"):
    k = make_kanald(name, sources=(sources or webhook_source()) + nats_sink(cluster, sink_extra),
                    plugins=("webhook", "nats"))
    k.start()
    return k


def stream_count(cluster):
    return cluster.stream_info()["state"]["messages"]


def stream_ext_ids(cluster):
    return [m[3]["external_id"] for m in cluster.messages()]


def test_each_2xx_comes_once_the_record_is_in_the_stream(make_kanald, nats_cluster):
    nats_cluster.start()
    nats_cluster.create_stream()
    k = edge(make_kanald, nats_cluster, "ack = cluster\nack_timeout = 60s")
    # One webhook at a time: right after each 2xx the stream holds its record.
    for i in range(25):
        status, _, body = k.post_hook(message(f"sync{i}"))
        assert status == 200, body
        assert stream_count(nats_cluster) == i + 1
    # A redelivery of a record already in the stream is answered 2xx at once
    # and adds nothing.
    assert k.post_hook(message("sync3"))[0] == 200
    assert stream_ext_ids(nats_cluster) == [f"sync{i}" for i in range(25)]
    # Concurrent webhooks: every one answered 2xx is in the stream by then.
    lock, answered, missing = threading.Lock(), [], []

    def post(prefix):
        for i in range(15):
            ext = f"{prefix}-{i}"
            status, _, body = k.post_hook(message(ext))
            assert status == 200, body
            ids = set(stream_ext_ids(nats_cluster))
            with lock:
                answered.append(ext)
                if ext not in ids:
                    missing.append(ext)

    threads = [threading.Thread(target=post, args=(f"c{t}",)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert len(answered) == 60 and missing == []
    s = sink_state(k)
    assert s["ack_timeouts"] == 0 and s["ack_waiting"] == 0 and s["health"] == "ok"


def test_cluster_unavailable_answers_503_loses_nothing_acknowledged_then_recovers(
        make_kanald, nats_cluster):
    nats_cluster.start()
    nats_cluster.create_stream()
    # hooks waits for the cluster (the sink's ack = cluster); direct opts out.
    sources = webhook_source() + webhook_source("direct", extra="ack = local")
    # ack_timeout has room for the sink's first connection and a publication
    # on a loaded machine (the first five must get 2xx); each refusal below
    # takes that long.
    k = edge(make_kanald, nats_cluster, "ack = cluster\nack_timeout = 5s\nack_wait = 2s",
             sources=sources)
    acked = []
    for i in range(5):
        assert k.post_hook(message(f"up{i}"))[0] == 200
        acked.append(f"up{i}")
    nats_cluster.stop()
    refused = []
    for i in range(6):
        status, headers, body = k.post_hook(message(f"down{i}"))
        # Committed here, but not in the stream: never a 2xx.
        assert status == 503, body
        assert headers.get("Retry-After"), headers
        assert b"cluster" in body, body
        refused.append(f"down{i}")
    # A source with ack = local goes on answering 2xx on the local commit.
    status, _, body = k.post_hook(message("local0"), source="direct")
    assert status == 200, body
    s = sink_state(k)
    assert s["ack_timeouts"] == 6 and s["ack_waiting"] == 0
    assert s["lag_records"] == 7
    status, _, metrics = k.request("GET", "/metrics")
    assert re.search(rb'kanal_sink_ack_timeouts_total\{sink="cluster"\} 6\b', metrics), metrics
    assert k.wait_log(r"\[cluster\] ack = cluster: 1 answer\(s\) not acknowledged")
    nats_cluster.start()
    # The provider retries: once NATS is back its retries get 2xx (the
    # record was committed on the first try; the retry is de-duplicated).
    for ext in refused:
        wait_until(lambda: k.post_hook(message(ext))[0] == 200, timeout=120,
                   what=f"a 2xx for the retry of {ext}")
        acked.append(ext)
        assert ext in stream_ext_ids(nats_cluster)
    wait_until(lambda: drained(k), timeout=120, what="the sink drained")
    ext = stream_ext_ids(nats_cluster)
    # Every record acknowledged is in the stream exactly once; the records
    # committed during the outage too, published once NATS came back.
    assert set(acked) <= set(ext) and len(ext) == len(set(ext))
    assert sorted(ext) == sorted(acked + ["local0"])
    assert len(k.feed()) == 12


def check_config(k):
    return subprocess.run([str(KANALD), "--check-config", "-c", str(k.conf)],
                          capture_output=True, text=True)


def test_ack_settings_that_cannot_work_are_refused(make_kanald):
    sink = "\n[sink {name}]\nplugin = nats\n{extra}\n"
    cases = [
        (webhook_source() + sink.format(name="a", extra="ack = cluster") +
         sink.format(name="b", extra="ack = cluster"),
         r"\[sink b\]: ack = cluster is already set on \[sink a\]"),
        (webhook_source(extra="ack = cluster") + sink.format(name="a", extra="") +
         sink.format(name="b", extra=""),
         r"\[source hooks\]: ack = cluster needs a sink to wait for"),
        (webhook_source(extra="ack = cluster"),
         r"\[source hooks\]: ack = cluster needs a sink to wait for"),
        (webhook_source(extra="ack_sink = nowhere") + sink.format(name="a", extra=""),
         r"\[source hooks\]: ack_sink = nowhere: no \[sink nowhere\]"),
        (webhook_source(extra="ack = local\nack_sink = a") + sink.format(name="a", extra=""),
         r"ack_sink is set but ack = local waits for no sink"),
        (webhook_source() + sink.format(name="a", extra="ack = sometimes"),
         r"'ack' = 'sometimes'"),
        (webhook_source() + sink.format(name="a", extra="ack = cluster\nack_timeout = 0"),
         r"\[sink a\]: ack_timeout must be at least 1ms"),
    ]
    for i, (sources, why) in enumerate(cases):
        k = make_kanald(f"k{i}", sources=sources, plugins=("webhook", "nats"))
        k.write_config()
        out = check_config(k)
        assert out.returncode != 0 and re.search(why, out.stdout + out.stderr), (why, out)
    # What works: a source naming its sink, the only sink, or the sink's.
    ok = [
        webhook_source(extra="ack = cluster") + sink.format(name="a", extra=""),
        webhook_source(extra="ack_sink = b") + sink.format(name="a", extra="ack = cluster") +
        sink.format(name="b", extra=""),
        webhook_source(extra="ack = local") + sink.format(name="a", extra="ack = cluster"),
    ]
    for i, sources in enumerate(ok):
        k = make_kanald(f"ok{i}", sources=sources, plugins=("webhook", "nats"))
        k.write_config()
        out = check_config(k)
        assert out.returncode == 0, (sources, out)


def test_a_source_waiting_for_a_sink_that_is_not_running_answers_503(make_kanald):
    """The sink named by ack = cluster failed to start: the promise cannot
    be kept, so the answer is 503, and the record is committed all the
    same."""
    k = make_kanald(sources=webhook_source(extra="ack = cluster") +
                    "\n[sink cluster]\nplugin = nats\nservers = nats://127.0.0.1:1\n"
                    "max_pending = 0\n", plugins=("webhook", "nats"))
    k.start()
    status, headers, body = k.post_hook(message("nosink"))
    assert status == 503 and headers.get("Retry-After"), body
    assert k.wait_log(r"\[hooks\] ack = cluster: sink cluster is not running")
    assert [r["external_id"] for r in k.feed()] == ["nosink"]


def test_reload_follows_the_sinks_ack_setting(make_kanald):
    """ack = cluster set on the sink by a reload applies to the sources at
    once (their sections did not change, what they wait for did), and
    taken away again, answers come on the local commit."""
    silent = "\n[sink cluster]\nplugin = nats\nservers = nats://127.0.0.1:1\n"
    k = make_kanald(sources=webhook_source() + silent, plugins=("webhook", "nats"))
    k.start()
    assert k.post_hook(message("r0"))[0] == 200
    for ack, want in (("cluster", 503), ("local", 200)):
        mark = k.log_mark()
        k.write_config(sources=webhook_source() + silent + f"ack = {ack}\nack_timeout = 300ms\n")
        k.hup()
        k.wait_log(r"configuration reloaded", start=mark)
        status, _, body = k.post_hook(message(f"r-{ack}"))
        assert status == want, body
    assert [r["external_id"] for r in k.feed()] == ["r0", "r-cluster", "r-local"]


def test_a_nats_node_killed_under_load_loses_no_acknowledged_record(make_kanald, nats_cluster):
    """Issue test 1 with ack = cluster: webhooks under load through one
    edge, one NATS node SIGKILLed.  Every webhook answered 2xx is in the
    stream exactly once as soon as the load stops, before the sink has
    drained (what got 503 in between may still be on its way)."""
    from test_cluster import post_until
    nats_cluster.start()
    nats_cluster.create_stream()
    k = edge(make_kanald, nats_cluster, "ack = cluster\nack_timeout = 3s\nack_wait = 2s")
    stop, posted = threading.Event(), []
    threads = [threading.Thread(target=post_until, args=(k, stop, posted, f"kill{t}-"),
                                daemon=True) for t in range(3)]
    for t in threads:
        t.start()
    wait_until(lambda: len(posted) >= 100, what="100 webhooks answered 2xx")
    nats_cluster.kill("n1")
    wait_until(lambda: len(posted) >= 250, timeout=120, what="250 webhooks answered 2xx")
    stop.set()
    for t in threads:
        t.join(timeout=60)
    ext = stream_ext_ids(nats_cluster)
    assert set(posted) <= set(ext) and len(ext) == len(set(ext))
    wait_until(lambda: drained(k), timeout=120, what="the sink drained")
    ext = stream_ext_ids(nats_cluster)
    assert len(ext) == len(set(ext)) == len(k.feed())
