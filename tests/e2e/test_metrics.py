# SPDX-License-Identifier: Apache-2.0
"""/metrics parses as Prometheus text and moves with traffic; /v1/sources
and /healthz report a source that went silent."""
import time

from prometheus_client.parser import text_string_to_metric_families

from kanal import message, webhook_source


def scrape(k):
    status, headers, body = k.request("GET", "/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for fam in text_string_to_metric_families(body.decode()):
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0)


def test_metrics_move_with_traffic(kanald):
    before = scrape(kanald)
    assert value(before, "kanal_store_last_seq") == 0
    kanald.post_hook([message("m1"), message("m2")])
    kanald.post_hook(message("c1", kind="comment"))
    kanald.post_hook(message("m1"))  # a redelivery
    kanald.post_hook(message("x"), signature="sha256=" + "0" * 64)
    after = scrape(kanald)
    assert value(after, "kanal_records_committed_total", source="hooks", kind="message",
                 direction="inbound") == 2
    assert value(after, "kanal_records_committed_total", source="hooks", kind="comment",
                 direction="inbound") == 1
    assert value(after, "kanal_duplicates_total") == 1
    assert value(after, "kanal_store_last_seq") == 3
    assert value(after, "kanal_http_requests_total", route="hooks", status="200") == 3
    assert value(after, "kanal_http_requests_total", route="hooks", status="401") == 1
    assert value(after, "kanal_commit_batch_records_count") >= 3
    assert value(after, "kanal_commit_duration_seconds_count") >= 3
    assert value(after, "kanal_commit_batch_records_sum") >= 3
    assert value(after, "kanal_http_connections") >= 1
    assert value(after, "kanal_outbox_depth") == 0
    assert value(after, "kanal_source_healthy", source="hooks") == 1


def test_silent_source_turns_unhealthy(make_kanald):
    k = make_kanald(sources=webhook_source("quiet", extra="expect_traffic_within = 3s") +
                    webhook_source("busy")).start()
    status, body = k.api("/v1/sources")
    assert status == 200
    by_name = {s["name"]: s for s in body["sources"]}
    assert by_name["quiet"]["plugin"] == "webhook"
    if by_name["quiet"]["silent_for"] < 2:  # a slow machine may already be past the window
        assert by_name["quiet"]["healthy"] is True
    k.post_hook(message("b1"), source="busy")
    k.wait_log(r"\[quiet\] no traffic for \d+ s \(expect_traffic_within is 3 s\)", timeout=30)
    status, body = k.api("/v1/sources")
    by_name = {s["name"]: s for s in body["sources"]}
    assert by_name["quiet"]["healthy"] is False
    assert "expect_traffic_within" in by_name["quiet"]["reason"]
    assert by_name["quiet"]["silent_for"] >= 3
    assert by_name["busy"]["healthy"] is True and by_name["busy"]["records"] == 1
    assert by_name["busy"]["last_event_at"] is not None
    status, _, raw = k.request("GET", "/healthz")
    import json
    health = json.loads(raw)
    assert health["status"] == "degraded"
    assert health["sources"]["quiet"]["status"] == "unhealthy"
    assert value(scrape(k), "kanal_source_healthy", source="quiet") == 0
    # Traffic brings it back.
    k.post_hook(message("q1"), source="quiet")
    status, body = k.api("/v1/sources")
    assert {s["name"]: s for s in body["sources"]}["quiet"]["healthy"] is True
