# SPDX-License-Identifier: Apache-2.0
"""Tracking and unsubscribe links on the core nodes of a cluster ([kanald]
state_cluster = core, docs/cluster.md#tracking-links): a real 3-node
nats-server cluster, edges taking webhooks, two cores taking the CRM's
POST /v1/links and the people's /t/ and /u/ hits.  A link made on either
core works on both, and a click or an opt-out taken by either core ends
as the same record, with the same contact, on both cores' feeds.  Run
this file alone: the cluster tests are sensitive to machine load, and
their timeouts are generous waits, not timed assertions."""
import signal
import threading

from kanal import WRITE_TOKEN
from test_cluster import edge, wait_until
from test_cluster_core import PEOPLE, publish, view
from test_cluster_state import (STATE_SUBJECT, admin, both_settled, contact_of, hook, state_core,
                                 state_ready)

PUBLIC = "https://go.example.com"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def link_core(make_kanald, cluster, name, extra=""):
    # link_bot_window = 0: a click right after the link is made is a person's.
    return state_core(make_kanald, cluster, name,
                      kanald=f"state_cluster = core\nstate_servers = {cluster.servers()}\n"
                             f"public_url = {PUBLIC}\nlink_bot_window = 0\n{extra}")


def make_link(k, **body):
    status, link = admin(k, "POST", "/v1/links", body, token=WRITE_TOKEN)
    assert status == 202, (status, link)
    return link


def get(k, path, method="GET", body=None, ua=BROWSER):
    h = {"User-Agent": ua}
    if body is not None:
        h["Content-Type"] = "application/x-www-form-urlencoded"
    status, headers, raw = k.request(method, path, body, h)
    return status, dict(headers), raw


def consent(k, cid, channel):
    status, c = k.api(f"/v1/contacts/{cid}")
    assert status == 200, c
    return c["consent"].get(channel, {}).get("state")


def test_links_made_on_either_core_work_on_both_and_their_hits_reach_both_feeds(
        make_kanald, nats_cluster):
    nats_cluster.start()
    nats_cluster.create_stream()
    a = edge(make_kanald, nats_cluster, "edge-a")
    b = edge(make_kanald, nats_cluster, "edge-b")
    c1 = link_core(make_kanald, nats_cluster, "core-1")
    c2 = link_core(make_kanald, nats_cluster, "core-2")
    for i in range(4):
        hook(a if i % 2 else b, f"m{i}", PEOPLE[i])
    f1, _ = both_settled(c1, c2, "m3")
    ayse, mehmet, tel1, zeynep = (contact_of(f1, f"m{i}") for i in range(4))

    # Links of every kind, made on both cores: a click link with and one
    # without a contact, unsubscribe links for two people.
    made = {
        "click1": (c1, {"url": "https://shop.example.com/a?x=1", "campaign": "spring",
                        "contact": ayse}),
        "click2": (c2, {"url": "http://shop.example.com/b", "campaign": "spring"}),
        "unsub1": (c2, {"url": "https://shop.example.com/bye", "campaign": "spring",
                        "contact": mehmet, "action": "unsubscribe", "channel": "webhook"}),
        "unsub2": (c1, {"url": "https://shop.example.com/bye", "campaign": "autumn",
                        "contact": zeynep, "action": "unsubscribe", "channel": "webhook"}),
    }
    links = {}
    for name, (k, body) in made.items():
        link = make_link(k, **body)
        # The 202 carries what a single node's 201 does, and the command.
        assert link["status"] == "accepted" and link["command"], link
        assert len(link["token"]) >= 20 and link["url"].startswith(PUBLIC), link
        path = "/u/" if body.get("action") else "/t/"
        assert link["url"] == PUBLIC + path + link["token"], link
        assert link["target"] == body["url"] and link["campaign"] == body["campaign"], link
        assert link.get("contact") == body.get("contact") and link["created_at"], link
        assert link.get("channel") == body.get("channel"), link
        links[name] = link
    assert len({l["token"] for l in links.values()}) == 4
    hook(a, "n1", PEOPLE[0])
    both_settled(c1, c2, "n1")

    # Every link answers on both cores, whichever core made it.
    for k in (c1, c2):
        for name in ("unsub1", "unsub2"):
            status, _, page = get(k, "/u/" + links[name]["token"])
            assert status == 200 and b"<form" in page, (k.name, name, status)
    # Clicks on both cores, each link clicked on the core that did not make it too.
    clicks = [(c2, "click1"), (c1, "click1"), (c1, "click2"), (c2, "click2"), (c2, "click2")]
    for k, name in clicks:
        status, headers, _ = get(k, "/t/" + links[name]["token"])
        assert status == 302, (k.name, name, status)
        assert headers["Location"] == links[name]["target"]
    # Opt-outs on the core that did not make the link, and one repeated on
    # the other core once the first is applied there.
    status, _, page = get(c1, "/u/" + links["unsub1"]["token"], "POST", b"confirm=yes")
    assert status == 200 and b"unsubscribed" in page, (status, page)
    status, _, page = get(c2, "/u/" + links["unsub2"]["token"], "POST",
                          b"List-Unsubscribe=One-Click")
    assert status == 200 and b"unsubscribed" in page, (status, page)
    hook(b, "n2", PEOPLE[1])
    both_settled(c1, c2, "n2")
    status, _, page = get(c2, "/u/" + links["unsub1"]["token"], "POST", b"confirm=yes")
    assert status == 200 and b"unsubscribed" in page, (status, page)
    hook(a, "n3", PEOPLE[2])

    f1, f2 = both_settled(c1, c2, "n3")
    assert view(f1) == view(f2)
    assert [r["seq"] for r in f1] == list(range(1, len(f1) + 1))
    # The same records, not only the same ids: times, meta and campaign too.
    mine = [r for r in f1 if r["kind"] in ("click", "optout")]
    assert mine == [r for r in f2 if r["kind"] in ("click", "optout")]
    got = [r for r in mine if r["kind"] == "click"]
    assert len(got) == len(clicks), got
    want_contact = {"click1": ayse, "click2": None}
    for r, (_, name) in zip(got, clicks):
        assert r["meta"]["token"] == links[name]["token"], r
        assert r["meta"]["url"] == links[name]["target"] and r["campaign"] == "spring", r
        assert r.get("contact") == want_contact[name], r
        assert r["meta"]["suspected_bot"] is False and r["meta"]["user_agent"] == BROWSER, r
        assert r["channel"] == "web", r
    out = [r for r in mine if r["kind"] == "optout"]
    assert [(r["contact"], r["campaign"]) for r in out] == [(mehmet, "spring"),
                                                            (zeynep, "autumn")], out
    assert [r["meta"]["via"] for r in out] == ["page", "one-click"], out
    for k in (c1, c2):
        assert consent(k, mehmet, "webhook") == "optout"
        assert consent(k, zeynep, "webhook") == "optout"
        assert consent(k, ayse, "webhook") != "optout"
        assert consent(k, tel1, "webhook") != "optout"


def test_link_requests_are_checked_before_the_stream_and_refused_when_it_is_down(
        make_kanald, nats_cluster):
    """A bad POST /v1/links gets the single node's answer and publishes
    nothing; with NATS down a link is refused (503), a click still
    redirects (its record is lost: logged) and an opt-out asks to try again
    and changes nothing."""
    nats_cluster.start()
    nats_cluster.create_stream()
    a = edge(make_kanald, nats_cluster, "edge-a")
    c1 = link_core(make_kanald, nats_cluster, "core-1")
    c2 = link_core(make_kanald, nats_cluster, "core-2")
    hook(a, "m0", PEOPLE[0])
    f1, _ = both_settled(c1, c2, "m0")
    cid = contact_of(f1, "m0")
    before = nats_cluster.stream_info()["state"]["messages"]
    bad = [({"url": "ftp://x.example.com", "campaign": "c"}, 400),
           ({"url": "https://x.example.com"}, 400),
           ({"url": "https://x.example.com", "campaign": "c", "action": "maybe"}, 400),
           ({"url": "https://x.example.com", "campaign": "c", "action": "unsubscribe"}, 400),
           ({"url": "https://x.example.com", "campaign": "c", "contact": "c999"}, 422)]
    for body, want in bad:
        assert admin(c1, "POST", "/v1/links", body, token=WRITE_TOKEN)[0] == want, body
    assert nats_cluster.stream_info()["state"]["messages"] == before

    click = make_link(c1, url="https://shop.example.com/x", campaign="c", contact=cid)
    unsub = make_link(c2, url="https://shop.example.com/y", campaign="c", contact=cid,
                      action="unsubscribe", channel="webhook")
    hook(a, "m1", PEOPLE[0])
    both_settled(c1, c2, "m1")
    nats_cluster.stop()
    status, res = admin(c1, "POST", "/v1/links", {"url": "https://shop.example.com/z",
                                                  "campaign": "c"}, token=WRITE_TOKEN)
    assert status == 503 and res["error"]["code"] == "cluster_unavailable", res
    status, headers, _ = get(c2, "/t/" + click["token"])
    assert status == 302 and headers["Location"] == "https://shop.example.com/x"
    status, headers, page = get(c1, "/u/" + unsub["token"], "POST", b"confirm=yes")
    assert status == 503 and headers.get("Retry-After") and b"try again" in page, status
    nats_cluster.start()
    c2.wait_log("click on https://shop.example.com/x", timeout=30)
    # Once NATS is back the opt-out goes through.
    wait_until(lambda: get(c1, "/u/" + unsub["token"], "POST", b"confirm=yes")[0] == 200,
               timeout=120, what="the opt-out stored once NATS is back")
    hook(a, "m2", PEOPLE[0])
    f1, f2 = both_settled(c1, c2, "m2")
    assert view(f1) == view(f2)
    assert [r["kind"] for r in f1 if r["source"] == "kanal"] == ["optout"]
    for k in (c1, c2):
        assert consent(k, cid, "webhook") == "optout"


def test_a_bad_link_command_in_the_stream_is_kept_as_unknown_on_both_cores(
        make_kanald, nats_cluster):
    nats_cluster.start()
    nats_cluster.create_stream()
    a = edge(make_kanald, nats_cluster, "edge-a")
    c1 = link_core(make_kanald, nats_cluster, "core-1")
    c2 = link_core(make_kanald, nats_cluster, "core-2")
    hook(a, "m0", PEOPLE[0])
    both_settled(c1, c2, "m0")
    at = b'"at_ms":1764900000000'
    bad = [
        b'{"v":1,"command":"link","id":"y1",' + at + b'}',  # no args
        b'{"v":1,"command":"link","id":"y2",' + at + b',"args":{"token":"short",'
        b'"link":{"target":"https://x.example.com","campaign":"c"}}}',  # token too short
        b'{"v":1,"command":"link","id":"y3",' + at + b',"args":{"token":"abcdefghijklmnopq",'
        b'"link":{"campaign":"c"}}}',  # no target
        b'{"v":1,"command":"click","id":"y4",' + at + b',"args":{"token":"abcdefghijklmnopq"}}',
        b'{"v":1,"command":"optout","id":"y5",' + at + b',"args":{"token":"abcdefghijklmnopq",'
        b'"external_id":"unsub-x-0","meta":{}}}',  # no contact, no channel
    ]
    seqs = [publish(nats_cluster, STATE_SUBJECT, m) for m in bad]
    # A good link after them is made on both cores.
    link = make_link(c1, url="https://shop.example.com/ok", campaign="c")
    hook(a, "m1", PEOPLE[1])
    f1, f2 = both_settled(c1, c2, "m1")
    assert view(f1) == view(f2)
    unknown = [r for r in f1 if r["kind"] == "unknown"]
    assert sorted(r["meta"]["stream_seq"] for r in unknown) == seqs
    for k in (c1, c2):
        assert get(k, "/t/abcdefghijklmnopq")[0] == 404
        assert get(k, "/t/" + link["token"])[0] == 302


def test_clicks_and_opt_outs_waiting_for_the_stream_are_bounded(make_kanald, nats_cluster):
    """The NATS nodes stop answering (SIGSTOP): at most link_cluster_queue
    hits wait for the stream on a core; the others are redirected at once
    without a record, or asked to try again, and at most that many clicks
    reach the feeds once the nodes answer again."""
    nats_cluster.start()
    nats_cluster.create_stream()
    a = edge(make_kanald, nats_cluster, "edge-a")
    c1 = link_core(make_kanald, nats_cluster, "core-1", "link_cluster_queue = 2")
    c2 = link_core(make_kanald, nats_cluster, "core-2")
    hook(a, "m0", PEOPLE[0])
    f1, _ = both_settled(c1, c2, "m0")
    cid = contact_of(f1, "m0")
    click = make_link(c1, url="https://shop.example.com/q", campaign="c")
    unsub = make_link(c1, url="https://shop.example.com/u", campaign="c", contact=cid,
                      action="unsubscribe", channel="webhook")
    hook(a, "m1", PEOPLE[0])
    both_settled(c1, c2, "m1")
    procs = list(nats_cluster.procs.values())
    answers = []
    try:
        for p in procs:
            p.send_signal(signal.SIGSTOP)
        hits = [threading.Thread(target=lambda: answers.append(
            get(c1, "/t/" + click["token"])[:2])) for _ in range(6)]
        for t in hits:
            t.start()
        c1.wait_log("link_cluster_queue", timeout=30)
        status, headers, page = get(c1, "/u/" + unsub["token"], "POST", b"confirm=yes")
        assert status == 503 and b"try again" in page, status
        for t in hits:
            t.join(timeout=60)
    finally:
        for p in procs:
            p.send_signal(signal.SIGCONT)
    assert [s for s, _ in answers] == [302] * 6, answers
    assert all(h["Location"] == "https://shop.example.com/q" for _, h in answers)
    hook(a, "m2", PEOPLE[0])
    f1, f2 = both_settled(c1, c2, "m2")
    assert view(f1) == view(f2)
    assert len([r for r in f1 if r["kind"] == "click"]) <= 2
    assert not [r for r in f1 if r["kind"] == "optout"]
    for k in (c1, c2):
        assert consent(k, cid, "webhook") != "optout"


def test_a_link_for_a_person_erased_before_it_in_the_stream_is_made_on_no_core(
        make_kanald, nats_cluster):
    """Core 2 lags: it still knows a person core 1 erased, and takes a link
    for them.  In the stream the erasure comes first, so no core makes the
    link (an erasure leaves no link naming the person); a link for someone
    else made meanwhile is made on both."""
    nats_cluster.start()
    nats_cluster.create_stream()
    a = edge(make_kanald, nats_cluster, "edge-a")
    c1 = link_core(make_kanald, nats_cluster, "core-1")
    c2 = link_core(make_kanald, nats_cluster, "core-2")
    hook(a, "m0", PEOPLE[0])
    hook(a, "m1", PEOPLE[1])
    f1, _ = both_settled(c1, c2, "m1")
    gone, kept = contact_of(f1, "m0"), contact_of(f1, "m1")
    c2.stop()
    sources = c2.sources
    c2.write_config(sources="")  # core 2 consumes nothing from here on
    state_ready(c2.start())
    status, res = admin(c1, "DELETE", f"/v1/contacts/{gone}")
    assert status == 202, res
    hook(a, "m2", PEOPLE[2])
    wait_until(lambda: c1.api(f"/v1/contacts/{gone}")[0] == 404, timeout=120,
               what="core 1 applied the erasure")
    assert c2.api(f"/v1/contacts/{gone}")[0] == 200  # core 2 has not
    erased_link = make_link(c2, url="https://shop.example.com/e", campaign="c", contact=gone)
    other = make_link(c2, url="https://shop.example.com/k", campaign="c", contact=kept)
    c2.stop()
    c2.write_config(sources=sources)
    state_ready(c2.start())
    hook(a, "m3", PEOPLE[3])
    f1, f2 = both_settled(c1, c2, "m3")
    assert view(f1) == view(f2)
    for k in (c1, c2):
        assert get(k, "/t/" + erased_link["token"])[0] == 404
        assert get(k, "/t/" + other["token"])[0] == 302
    hook(a, "m4", PEOPLE[3])
    f1, f2 = both_settled(c1, c2, "m4")
    assert view(f1) == view(f2)
    assert [r.get("contact") for r in f1 if r["kind"] == "click"] == [kept, kept]
    c1.wait_log(r"not applied \(link\): 404 its contact was erased before it", timeout=30)
