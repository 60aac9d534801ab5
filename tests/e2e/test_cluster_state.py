# SPDX-License-Identifier: Apache-2.0
"""State changes on core nodes go through the records stream ([kanald]
state_cluster = core, docs/cluster.md): a real 3-node nats-server cluster,
two edges taking webhooks, two cores taking the CRM's admin requests.
What is checked is what a CRM sees on each core: the feed (seq, id and
contact of every record), GET /v1/contacts/<id> and the answers of the
admin routes.  Run this file alone: the cluster tests are sensitive to
machine load, and their timeouts are generous waits, not timed
assertions."""
import json

from kanal import ADMIN_TOKEN, WRITE_TOKEN, message
from test_cluster import edge, wait_until
from test_cluster_core import PEOPLE, nats_source, publish, source_state, view

STATE_SUBJECT = "kanal.records.kanal.state"


def state_ready(k):
    """A core connects to state_servers off its loop after it started, and
    answers a state change 503 until then: wait for the connection, as a
    CRM's retry would (a loaded machine may take seconds)."""
    k.wait_log(r"state: connected to state_servers", timeout=60)
    return k


def state_core(make_kanald, cluster, name, kanald=None):
    if kanald is None:
        kanald = f"state_cluster = core\nstate_servers = {cluster.servers()}"
    k = make_kanald(name, sources=nats_source(cluster, name), plugins=("nats",), kanald=kanald)
    k.start()
    return state_ready(k) if "state_cluster = core" in kanald else k


def hook(k, ext, who, **extra):
    status, _, body = k.post_hook(message(ext, text=f"text {ext}", handle=who, **extra))
    assert status == 200, body


def settled(k, last_ext):
    """The core read everything the stream holds, the record last_ext too."""
    feed = k.feed()
    done = (source_state(k).get("lag_records") == 0 and
            any(r["external_id"] == last_ext for r in feed))
    return done and feed


def both_settled(c1, c2, last_ext):
    return wait_until(lambda: (lambda a, b: a and b and (a, b))(settled(c1, last_ext),
                                                                settled(c2, last_ext)),
                      timeout=180, what=f"both cores have {last_ext} and nothing left to read")


def contact_of(feed, ext):
    return [r for r in feed if r["external_id"] == ext][0]["contact"]


def answers(k, ids):
    """GET /v1/contacts/<id> of each id: (status, body)."""
    return {cid: k.api(f"/v1/contacts/{cid}") for cid in sorted(ids)}


def by_handle(k, handle):
    return k.api(f"/v1/contacts?handle={handle}")


def admin(k, method, path, body=None, token=ADMIN_TOKEN, headers=None):
    h = {"Authorization": f"Bearer {token}", **(headers or {})}
    data = None
    if body is not None:
        h["Content-Type"] = "application/json"
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    status, _, raw = k.request(method, path, data, h)
    return status, (json.loads(raw) if raw else None)


def test_two_cores_stay_identical_through_crm_consent_merge_split_and_erasure(
        make_kanald, nats_cluster):
    nats_cluster.start()
    nats_cluster.create_stream()
    a = edge(make_kanald, nats_cluster, "edge-a")
    b = edge(make_kanald, nats_cluster, "edge-b")
    c1 = state_core(make_kanald, nats_cluster, "core-1")
    c2 = state_core(make_kanald, nats_cluster, "core-2")
    for i in range(20):  # webhooks through both edges, some through both
        for k in ((a, b) if i % 4 == 0 else ((a,) if i % 2 else (b,))):
            hook(k, f"m{i}", PEOPLE[i % len(PEOPLE)])
    f1, _ = both_settled(c1, c2, "m19")
    ayse, mehmet, tel1, zeynep, tel2 = (contact_of(f1, f"m{i}") for i in range(5))
    assert len({ayse, mehmet, tel1, zeynep, tel2}) == 5
    tel2_seqs = {r["seq"] for r in f1 if r["contact"] == tel2}
    assert tel2_seqs and all(r.get("text") for r in f1 if r["seq"] in tel2_seqs)

    # A CRM import on core 1 (one row links Ayşe, one makes a new contact,
    # one is refused), a CRM link on core 2; webhooks keep coming meanwhile.
    rows = "\n".join(json.dumps(r) for r in [
        {"crm_id": "C-1", "emails": ["ayse@example.com"], "name": "Ayşe"},
        {"crm_id": "C-2", "emails": ["new@example.com"], "value": 120, "currency": "TRY"},
        {"emails": ["nocrm@example.com"]}])
    status, res = admin(c1, "POST", "/v1/contacts/import", rows.encode())
    assert status == 202 and res["status"] == "accepted" and res["command"], res
    hook(a, "n1", PEOPLE[0])
    status, res = admin(c2, "PUT", "/v1/contacts/crm/C-3",
                        {"emails": ["zeynep@example.com"], "name": "Zeynep"})
    assert status == 202, res
    hook(b, "n2", PEOPLE[1])
    # Consent on core 2; the same request retried with its Idempotency-Key
    # is one command, stored once by the stream.
    key = {"Idempotency-Key": "crm-consent-77"}
    status, first = admin(c2, "POST", f"/v1/contacts/{zeynep}/consent",
                          {"channel": "sms", "state": "optout", "reason": "asked"},
                          token=WRITE_TOKEN, headers=key)
    assert status == 202, first
    status, again = admin(c2, "POST", f"/v1/contacts/{zeynep}/consent",
                          {"channel": "sms", "state": "optout", "reason": "asked"},
                          token=WRITE_TOKEN, headers=key)
    assert status == 202 and again["command"] == first["command"]
    # A merge on core 1, its split on core 2, an erasure on core 1.
    status, res = admin(c1, "POST", f"/v1/contacts/{tel1}/merge", {"with": mehmet})
    assert status == 202, res
    hook(a, "n3", PEOPLE[2])
    survivor, absorbed = sorted((tel1, mehmet), key=lambda c: int(c[1:]))
    status, res = admin(c2, "POST", f"/v1/contacts/{survivor}/split", {"absorbed": absorbed})
    assert status == 202, res
    status, res = admin(c1, "DELETE", f"/v1/contacts/{tel2}")
    assert status == 202, res
    hook(b, "n4", PEOPLE[3])

    # Checked as on a single node before anything goes to the stream.
    assert admin(c1, "DELETE", f"/v1/contacts/{tel2}x")[0] == 404
    assert admin(c2, "POST", f"/v1/contacts/{zeynep}/consent",
                 {"channel": "sms", "state": "maybe"}, token=WRITE_TOKEN)[0] == 400
    assert admin(c1, "POST", f"/v1/contacts/{ayse}/merge", {"with": 5})[0] == 400
    assert admin(c1, "POST", f"/v1/contacts/{ayse}/split", {}, token=WRITE_TOKEN)[0] == 403

    f1, f2 = both_settled(c1, c2, "n4")
    # The same records in the same order with the same contacts on both.
    assert view(f1) == view(f2)
    assert [r["seq"] for r in f1] == list(range(1, len(f1) + 1))
    kinds = [r["kind"] for r in f1 if r["source"] == "kanal"]
    assert kinds.count("optout") == 1, kinds  # the retried consent: once
    assert {"merge", "split", "erase"} <= set(kinds), kinds
    ids = {r["contact"] for r in f1 if r.get("contact")} | {ayse, mehmet, tel1, zeynep, tel2}
    g1, g2 = answers(c1, ids), answers(c2, ids)
    assert g1 == g2
    # And the changes are there, on both.
    for k in (c1, c2):
        status, c = by_handle(k, "crm:C-1")
        assert status == 200 and c["id"] == ayse and c["crm"] == "C-1"
        status, c = by_handle(k, "crm:C-2")
        assert status == 200 and c["value"] == 120 and c["currency"] == "TRY"
        assert by_handle(k, "email:nocrm@example.com")[0] == 404
        status, c = by_handle(k, "crm:C-3")
        assert status == 200 and c["id"] == zeynep, c
        status, c = k.api(f"/v1/contacts/{zeynep}")
        assert c["consent"]["sms"]["state"] == "optout", c
        status, s = k.api(f"/v1/contacts/{survivor}")
        assert status == 200 and not s.get("merged"), s
        status, ab = k.api(f"/v1/contacts/{absorbed}")
        assert status == 200 and ab["id"] == absorbed and "merged_into" not in ab, ab
        # The erased person is gone, their handle unknown, their records
        # without text.
        assert k.api(f"/v1/contacts/{tel2}")[0] == 404
        assert by_handle(k, PEOPLE[4])[0] == 404
        erased = [r for r in k.feed() if r["seq"] in tel2_seqs]
        assert len(erased) == len(tel2_seqs), erased
        assert all(not r.get("text") and r["external_id"] != "m4" for r in erased), erased


def test_a_bad_command_in_the_stream_is_kept_or_skipped_and_the_core_goes_on(
        make_kanald, nats_cluster):
    nats_cluster.start()
    nats_cluster.create_stream()
    a = edge(make_kanald, nats_cluster, "edge-a")
    c1 = state_core(make_kanald, nats_cluster, "core-1")
    c2 = state_core(make_kanald, nats_cluster, "core-2")
    hook(a, "m0", PEOPLE[0])
    both_settled(c1, c2, "m0")
    bad = [
        b"not json at all",
        b'{"v":1,"command":"frobnicate","id":"x1","at_ms":1764900000000}',  # unknown command
        b'{"v":1,"command":"consent","id":"x2","at_ms":1764900000000,"target":"c1",'
        b'"args":{"channel":"sms","state":"maybe"}}',  # arguments the route refuses
        b'{"v":1,"command":"split","id":"x3","target":"c1"}',  # no at_ms
        b'\xff\xfe binary',
    ]
    seqs = [publish(nats_cluster, STATE_SUBJECT, m) for m in bad]
    # Well formed, but the contact is unknown when applied: skipped alike.
    publish(nats_cluster, STATE_SUBJECT,
            b'{"v":1,"command":"erase","id":"x4","at_ms":1764900000000,"target":"c77"}')
    # A good command after them is applied; records after them are stored.
    status, res = admin(c1, "POST", "/v1/contacts/m0/consent",
                        {"channel": "sms", "state": "optout"}, token=WRITE_TOKEN)
    assert status == 404  # not a contact id: refused before the stream
    f = c1.feed()
    cid = f[0]["contact"]
    status, res = admin(c1, "POST", f"/v1/contacts/{cid}/consent",
                        {"channel": "sms", "state": "optout"}, token=WRITE_TOKEN)
    assert status == 202, res
    hook(a, "m1", PEOPLE[1])
    f1, f2 = both_settled(c1, c2, "m1")
    assert view(f1) == view(f2)
    unknown = [r for r in f1 if r["kind"] == "unknown"]
    assert sorted(r["meta"]["stream_seq"] for r in unknown) == seqs
    assert all(r["meta"]["subject"] == STATE_SUBJECT for r in unknown)
    assert [r["kind"] for r in f1 if r["source"] == "kanal"] == ["optout"]
    for k in (c1, c2):
        s = source_state(k)
        assert s["healthy"], s
        assert k.api(f"/v1/contacts/{cid}")[1]["consent"]["sms"]["state"] == "optout"
    c1.wait_log("state command x4 not applied", timeout=30)
    c2.wait_log("state command x4 not applied", timeout=30)


def test_a_core_without_state_cluster_applies_changes_itself(make_kanald, nats_cluster):
    """The default (no state_cluster): the answer is the route's own, and
    the change is on this core only, as on a single node."""
    nats_cluster.start()
    nats_cluster.create_stream()
    a = edge(make_kanald, nats_cluster, "edge-a")
    c1 = state_core(make_kanald, nats_cluster, "core-1", kanald="")
    hook(a, "m0", PEOPLE[0])
    wait_until(lambda: settled(c1, "m0"), timeout=120, what="the core has m0")
    cid = c1.feed()[0]["contact"]
    status, res = admin(c1, "POST", f"/v1/contacts/{cid}/consent",
                        {"channel": "sms", "state": "optout"}, token=WRITE_TOKEN)
    assert status == 200 and res["state"] == "optout", res
    assert nats_cluster.stream_info()["state"].get("messages") == 1


def test_a_change_the_stream_cannot_store_is_refused_and_goes_through_once_retried(
        make_kanald, nats_cluster):
    """NATS down: 503, and the refused change is not stored later either;
    NATS back: the retry, sent twice with the same Idempotency-Key, is one
    command, applied once on both cores."""
    nats_cluster.start()
    nats_cluster.create_stream()
    a = edge(make_kanald, nats_cluster, "edge-a")
    c1 = state_core(make_kanald, nats_cluster, "core-1")
    c2 = state_core(make_kanald, nats_cluster, "core-2")
    hook(a, "m0", PEOPLE[0])
    f1, _ = both_settled(c1, c2, "m0")
    cid = f1[0]["contact"]
    nats_cluster.stop()
    key = {"Idempotency-Key": "optout-while-down"}
    body = {"channel": "sms", "state": "optout"}
    for _ in range(2):
        status, res = admin(c1, "POST", f"/v1/contacts/{cid}/consent", body, token=WRITE_TOKEN)
        assert status == 503 and res["error"]["code"] == "cluster_unavailable", res
    nats_cluster.start()
    status, res = wait_until(
        lambda: (lambda r: r[0] == 202 and r)(admin(c1, "POST", f"/v1/contacts/{cid}/consent",
                                                    body, token=WRITE_TOKEN, headers=key)),
        timeout=120, what="the stream storing the change again")
    again = admin(c1, "POST", f"/v1/contacts/{cid}/consent", body, token=WRITE_TOKEN,
                  headers=key)
    assert again[0] == 202 and again[1]["command"] == res["command"]
    hook(a, "m1", PEOPLE[1])
    f1, f2 = both_settled(c1, c2, "m1")
    assert view(f1) == view(f2)
    assert [r["kind"] for r in f1 if r["source"] == "kanal"] == ["optout"]
    for k in (c1, c2):
        assert k.api(f"/v1/contacts/{cid}")[1]["consent"]["sms"]["state"] == "optout"


def test_a_change_for_a_contact_a_lagging_core_has_not_reached_yet_is_not_refused(
        make_kanald, nats_cluster):
    """The CRM learned a contact from core 1 and sends a change to core 2,
    which has not consumed the record that made it yet: not a 404 (the
    change would be lost on a fail-over to a core that lags), but a command
    that both cores apply after that record.  An id core 2 has passed and
    does not hold (erased, or never one of kanald's) is still 404."""
    nats_cluster.start()
    nats_cluster.create_stream()
    a = edge(make_kanald, nats_cluster, "edge-a")
    c1 = state_core(make_kanald, nats_cluster, "core-1")
    c2 = state_core(make_kanald, nats_cluster, "core-2")
    hook(a, "m0", PEOPLE[0])
    both_settled(c1, c2, "m0")
    # Core 2 goes on without its source: it lags from here on.
    c2.stop()
    sources = c2.sources
    c2.write_config(sources="")
    state_ready(c2.start())
    hook(a, "m1", PEOPLE[1])
    f1 = wait_until(lambda: settled(c1, "m1"), timeout=120, what="core 1 has m1")
    new = contact_of(f1, "m1")
    assert c2.api(f"/v1/contacts/{new}")[0] == 404  # core 2 does not know it
    for k, body in ((c2, {"channel": "sms", "state": "optout", "reason": "asked"}),
                    (c1, {"channel": "email", "state": "optout"})):
        status, res = admin(k, "POST", f"/v1/contacts/{new}/consent", body, token=WRITE_TOKEN)
        assert status == 202, res
    # Ids core 2 has passed: refused at once, on both.
    for k in (c1, c2):
        assert admin(k, "POST", "/v1/contacts/c0/consent", {"channel": "sms", "state": "optout"},
                     token=WRITE_TOKEN)[0] == 404
        assert admin(k, "DELETE", "/v1/contacts/nobody")[0] == 404
    c2.stop()
    c2.write_config(sources=sources)
    c2.start()
    hook(a, "m2", PEOPLE[2])
    f1, f2 = both_settled(c1, c2, "m2")
    assert view(f1) == view(f2)
    assert [r["kind"] for r in f1 if r["source"] == "kanal"] == ["optout", "optout"]
    for k in (c1, c2):
        consent = k.api(f"/v1/contacts/{new}")[1]["consent"]
        assert consent["sms"]["state"] == "optout" and consent["email"]["state"] == "optout"


def test_the_state_keys_are_checked(make_kanald):
    from test_config import check
    bad = {"state_cluster = edge": "'state_cluster'",
           "state_cluster = core\nstate_servers = http://n1:4222": "'state_servers'",
           "state_cluster = core\nstate_servers = ,": "'state_servers'",
           "state_cluster = core\nstate_stream = KANAL.X": "'state_stream'",
           "state_cluster = core\nstate_subject = kanal.records.>": "'state_subject'",
           "link_cluster_queue = 0": "'link_cluster_queue'",
           "link_cluster_queue = many": "'link_cluster_queue'"}
    for i, (kanald, key) in enumerate(bad.items()):
        k = make_kanald(f"bad{i}", kanald=kanald)
        r = check(k)
        assert r.returncode != 0 and key in r.stderr + r.stdout, (kanald, r.stderr)
    k = make_kanald("good", kanald="state_cluster = core\n"
                                   "state_servers = nats://n1:4222, tls://n2:4222")
    r = check(k)
    assert r.returncode == 0, r.stderr
