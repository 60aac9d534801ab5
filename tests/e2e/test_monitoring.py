# SPDX-License-Identifier: Apache-2.0
"""conf/monitoring/: every metric its alert rules and its Grafana dashboard
name exists in a real /metrics scrape of kanald running a source, a sink
and the outbox; the dashboard has Grafana's basics and its PromQL parses;
and the gauges added for them (silent sources, store map use, RssAnon)
report what they say."""
import json
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from fakes import FakeProvider
from kanal import BUILD, WRITE_TOKEN, message, wait_message, webhook_source

ROOT = Path(__file__).resolve().parents[2]
MON = ROOT / "conf" / "monitoring"
RULES = MON / "kanal.rules.yml"
DASHBOARD = MON / "kanal.dashboard.json"

# Series Prometheus makes itself for every target: not in kanald's scrape.
SYNTHETIC = {"up"}

KEYWORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
            "group_right", "bool", "offset", "inf", "nan"}
FUNCTIONS = {
    "abs", "absent", "absent_over_time", "avg", "avg_over_time", "bottomk", "ceil", "changes",
    "clamp", "clamp_max", "clamp_min", "count", "count_over_time", "count_values", "delta",
    "deriv", "exp", "floor", "group", "histogram_quantile", "holt_winters", "idelta",
    "increase", "irate", "label_join", "label_replace", "label_values", "last_over_time",
    "ln", "log2", "log10", "max", "max_over_time", "min", "min_over_time", "predict_linear",
    "quantile", "quantile_over_time", "rate", "resets", "round", "scalar", "sort",
    "sort_desc", "sqrt", "stddev", "stddev_over_time", "stdvar", "sum", "sum_over_time",
    "time", "timestamp", "topk", "vector"}


def metric_names(expr):
    """The metric names a PromQL expression (or a Grafana query with its
    $variables) reads: identifiers that are not functions, keywords, label
    names, label values, durations or numbers."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)  # strings
    e = re.sub(r"\$\{?\w+\}?", "", e)                 # Grafana variables
    e = re.sub(r"\{[^}]*\}", " ", e)                  # label matchers
    e = re.sub(r"\[[^\]]*\]", " ", e)                 # ranges and subqueries
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    e = re.sub(r"(?<![\w:])[0-9][0-9.eE+\-]*[smhdwy]?(?![\w:])", " ", e)  # numbers
    names, funcs = set(), set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        word = m.group(0)
        if re.match(r"\s*\(", e[m.end():]):
            funcs.add(word)
        elif word.lower() not in KEYWORDS:
            names.add(word)
    return names, funcs


def rule_exprs():
    rules = yaml.safe_load(RULES.read_text())
    return [r["expr"] for g in rules["groups"] for r in g["rules"]]


def dashboard_exprs(dash=None):
    dash = dash or json.loads(DASHBOARD.read_text())
    out = []
    for p in dash["panels"]:
        out += [t["expr"] for t in p.get("targets", [])]
    for v in dash["templating"]["list"]:
        if v["type"] == "query":
            q = v["query"]
            q = q["query"] if isinstance(q, dict) else q
            # label_values(SERIES, LABEL): the series is PromQL, the label a name.
            out.append(re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", q))
    return out


def scrape(k):
    status, headers, body = k.request("GET", "/metrics")
    assert status == 200
    samples = {}
    for fam in text_string_to_metric_families(body.decode()):
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name, **labels):
    return samples[(name, tuple(sorted(labels.items())))]


@pytest.fixture
def busy_kanald(make_kanald, tmp_path):
    """kanald with a webhook source that also sends (the outbox), a second
    source that goes silent, and the SDK's filesink: every family of
    /metrics has samples once one message went out."""
    with FakeProvider(default=(200, {}, {"id": "prov-1"})) as fake:
        sink = f"\n[sink archive]\nplugin = filesink\npath = {tmp_path / 'archive.jsonl'}\n"
        k = make_kanald(sources=webhook_source(extra=f"send_url = {fake.url}/send\n") +
                        webhook_source("quiet", extra="expect_traffic_within = 5s") + sink)
        k.link_plugin(BUILD / "sdk" / "filesink.so")
        k.start()
        for i in range(5):
            status, _, body = k.post_hook(message(f"m{i}"))
            assert status == 200, body
        status, r = k.api("/v1/messages", token=WRITE_TOKEN, method="POST",
                          body={"source": "hooks", "to": "email:ayse@example.com", "text": "hi"})
        assert status == 202, r
        assert wait_message(k, r["id"], ("sent", "failed"))["status"] == "sent"
        yield k


def test_every_metric_of_the_rules_and_dashboard_is_in_a_real_scrape(busy_kanald):
    scraped = {name for name, _ in scrape(busy_kanald)}
    exprs = rule_exprs() + dashboard_exprs()
    assert len(rule_exprs()) >= 10 and len(dashboard_exprs()) >= 20
    used = set()
    for expr in exprs:
        names, funcs = metric_names(expr)
        assert names, f"no metric found in {expr!r}"
        assert funcs <= FUNCTIONS, f"unknown PromQL function in {expr!r}: {funcs - FUNCTIONS}"
        missing = names - scraped - SYNTHETIC
        assert not missing, f"{expr!r} names {missing}, which /metrics does not have"
        used |= names
    # What the issue asks the kit to show is there.
    for name in ("kanal_records_committed_total", "kanal_commit_duration_seconds_bucket",
                 "kanal_outbox_depth", "kanal_send_attempts_total", "kanal_sink_lag_seconds",
                 "kanal_source_silent", "kanal_store_used_bytes", "kanal_store_map_bytes"):
        assert name in used

    # A typo in any name of any expression is caught: each name, misspelt
    # three ways, is reported missing from the scrape.
    for expr in exprs:
        for name in metric_names(expr)[0] - SYNTHETIC:
            for typo in (name[:-1], name + "s", name.replace("kanal_", "kanal__", 1)):
                bad = re.sub(rf"(?<![\w:]){re.escape(name)}(?![\w:])", typo, expr)
                names, _ = metric_names(bad)
                assert typo in names and typo not in scraped, (expr, typo)


def test_extractor_reads_promql_exactly():
    assert metric_names('sum by (source, le) (rate(a_total{x="b c",le=~"0.5"}[5m])) / b')[0] == \
        {"a_total", "b"}
    assert metric_names("histogram_quantile(0.99, sum by (le) (rate(h_bucket[$__rate_interval])))") \
        == ({"h_bucket"}, {"histogram_quantile", "sum", "rate"})
    assert metric_names("x > 512 * 1024 and deriv(y[15m]) > 1e3 unless z offset 5m")[0] == \
        {"x", "y", "z"}
    assert metric_names("a:b_c / ignoring(x) group_left(y) d")[0] == {"a:b_c", "d"}


def test_dashboard_has_grafanas_basics():
    dash = json.loads(DASHBOARD.read_text())
    assert dash["title"] and dash["uid"] and isinstance(dash["schemaVersion"], int)
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    ds = variables["datasource"]
    assert ds["type"] == "datasource" and ds["query"] == "prometheus"
    ids = set()
    panels = [p for p in dash["panels"] if p["type"] != "row"]
    assert len(panels) >= 15
    for p in dash["panels"]:
        assert p["id"] not in ids
        ids.add(p["id"])
        assert {"h", "w", "x", "y"} <= set(p["gridPos"])
    for p in panels:
        assert p["title"] and p["targets"], p
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        for t in p["targets"]:
            assert t["expr"] and t["refId"]
    titles = " ".join(p["title"].lower() for p in panels)
    for topic in ("ingest rate per source", "commit latency", "outbox depth", "send attempts",
                  "sink lag", "silent sources", "store size", "map use"):
        assert topic in titles


def test_dashboard_promql_parses(tmp_path):
    """promtool parses each dashboard expression as a recording rule, with
    Grafana's variables replaced as Grafana would."""
    exprs = dashboard_exprs()
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"kanal:dashboard_{i}",
         "expr": e.replace("$__rate_interval", "1m").replace("$instance", ".*")}
        for i, e in enumerate(exprs)]}]}
    f = tmp_path / "dashboard.rules.yml"
    f.write_text(yaml.safe_dump(rules))
    r = subprocess.run(["promtool", "check", "rules", str(f)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    # ...and a broken expression is refused, so the check above can fail.
    f.write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": [
        {"record": "kanal:x", "expr": "sum by (le (rate(kanal_outbox_depth[1m]))"}]}]}))
    r = subprocess.run(["promtool", "check", "rules", str(f)], capture_output=True, text=True)
    assert r.returncode != 0


def test_every_scraped_metric_is_documented(busy_kanald):
    doc = (ROOT / "docs" / "operations.md").read_text()
    families = {fam.name for fam in text_string_to_metric_families(
        busy_kanald.request("GET", "/metrics")[2].decode())}
    # The parser drops _total from counters' family names; the docs name the samples.
    undocumented = {f for f in families if not re.search(rf"`{f}(_total)?[`{{]", doc)}
    assert not undocumented, f"docs/operations.md does not name {undocumented}"


def test_silent_source_gauge_and_its_age(busy_kanald):
    k = busy_kanald
    deadline = time.monotonic() + 60
    while value(scrape(k), "kanal_source_silent", source="quiet") != 1:
        assert time.monotonic() < deadline, "quiet never turned silent in /metrics"
        time.sleep(0.2)
    s = scrape(k)
    assert value(s, "kanal_source_silent_seconds", source="quiet") >= 5
    # hooks has no expect_traffic_within: never silent, however long it waits.
    assert value(s, "kanal_source_silent", source="hooks") == 0
    assert value(s, "kanal_source_silent_seconds", source="hooks") >= 0
    # The window (5 s) leaves a loaded machine room between the post and the
    # scrape, which would otherwise find the source silent once more.
    k.post_hook(message("q1"), source="quiet")
    s = scrape(k)
    assert value(s, "kanal_source_silent", source="quiet") == 0
    assert value(s, "kanal_source_silent_seconds", source="quiet") < 5


def test_store_and_memory_gauges(busy_kanald):
    k = busy_kanald
    before = scrape(k)
    used0 = value(before, "kanal_store_used_bytes")
    assert 0 < used0 <= value(before, "kanal_store_map_bytes")
    assert value(before, "kanal_store_disk_free_bytes") > 0
    for i in range(300):
        k.post_hook(message(f"fill{i}", text="x" * 2000))
    after = scrape(k)
    assert value(after, "kanal_store_used_bytes") >= used0 + 300 * 2000
    assert value(after, "kanal_store_used_bytes") <= value(after, "kanal_store_map_bytes")
    # RssAnon is kanald's own: more than nothing, at most its whole RSS.
    status = Path(f"/proc/{k.proc.pid}/status").read_text()
    vmrss = int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024
    assert 0 < value(after, "kanal_process_rss_anon_bytes") <= vmrss
