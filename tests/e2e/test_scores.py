# SPDX-License-Identifier: Apache-2.0
"""Scores computed by the real kanald and served by its API, with answers
known by construction: influence is local to the audience (a follower count
buys nothing), scores are per audience, merges and splits count at the next
run, erasure takes a contact out of every kept score at once, scores survive
a restart, runs come by themselves every score_interval and on an admin's
POST /v1/scores/refresh, and the routes page, order and refuse like the rest
of the API (docs/scores.md)."""
import json
import re
import time
import urllib.parse

import pytest

from kanal import ADMIN_TOKEN, READ_TOKEN, WRITE_TOKEN, message

# No decay: weights are counts of interactions.
NO_DECAY = "score_half_life = 0\nscore_interval = 0"


def say(k, xid, who, kind="comment", reply_to=None, **extra):
    rec = message(xid, handle=f"email:{who}@example.com", kind=kind, **extra)
    if reply_to:
        rec["reply_to"] = reply_to
    status, _, body = k.post_hook(rec)
    assert status == 200, body


def contact(k, who):
    q = urllib.parse.quote(f"email:{who}@example.com")
    status, c = k.api(f"/v1/contacts?handle={q}")
    assert status == 200, c
    return c["id"]


def runs(k):
    status, a = k.api("/v1/audiences")
    assert status == 200, a
    return a["run"]["runs"]


def wait_runs(k, n, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        status, a = k.api("/v1/audiences")
        assert status == 200, a
        if a["run"]["runs"] >= n and not a["run"]["running"]:
            return a
        assert time.monotonic() < deadline, a
        time.sleep(0.05)


def refresh(k, body=None):
    before = runs(k)
    status, started = k.api("/v1/scores/refresh", token=ADMIN_TOKEN, method="POST", body=body)
    assert status == 202, started
    assert started["status"] == "started"
    return wait_runs(k, before + 1)


def rows(k, audience, order="influence"):
    """Every row of the audience in that order, following next/more."""
    out, after = [], None
    aid = urllib.parse.quote(audience, safe="")
    while True:
        q = f"order={order}&limit=2" + (f"&after={after}" if after else "")
        status, page = k.api(f"/v1/audiences/{aid}/contacts?{q}")
        assert status == 200, page
        out.extend(page["contacts"])
        after = page["next"]
        if not page["more"]:
            return out


def by_contact(rs):
    return {r["contact"]: r for r in rs}


def thread(k, prefix, hub, answerers, **extra):
    """hub posts; each answerer replies to the post."""
    say(k, f"{prefix}-post", hub, kind="post", **extra)
    for i, who in enumerate(answerers):
        say(k, f"{prefix}-r{i}", who, reply_to=f"{prefix}-post", **extra)


def test_local_beats_global(make_kanald):
    """A customer with a million followers (in meta) whom nobody in the
    audience answers ranks below a modest customer everyone replies to."""
    k = make_kanald(kanald=NO_DECAY).start()
    say(k, "celeb-post", "celeb", kind="post", meta={"followers": 1000000})
    thread(k, "t", "modest", ["ana", "bo", "cem", "dora"])
    refresh(k)
    rs = rows(k, "all")
    ids = [r["contact"] for r in rs]
    modest, celeb = contact(k, "modest"), contact(k, "celeb")
    assert ids[0] == modest
    assert ids.index(celeb) > ids.index(modest)
    r = by_contact(rs)
    assert r[modest]["reach"] == 4 and r[modest]["in_degree"] == 4
    assert r[celeb]["reach"] == 0 and r[celeb]["in_degree"] == 0
    assert r[modest]["influence"] > 1 > r[celeb]["influence"]
    # By reach too, and GET /v1/audiences/all gives the shape it came from.
    assert rows(k, "all", order="reach")[0]["contact"] == modest
    status, a = k.api("/v1/audiences/all")
    assert status == 200, a
    assert a["shape"]["nodes"] == 7  # six customers and the brand
    assert a["shape"]["edges"] == 4 and a["from"]["records"] == 6


def test_scores_are_per_audience(make_kanald):
    """The same contact is central in event:A and peripheral in event:B; an
    event's audience also takes what its participants did around it (within
    score_event_window), and nothing of anyone else or of another time."""
    k = make_kanald(kanald=NO_DECAY).start()
    sep, jun, nov = "2026-09-01T10:00:00.000Z", "2026-06-01T10:00:00.000Z", "2026-11-01T10:00:00.000Z"
    a, b = {"id": "A"}, {"id": "B"}
    say(k, "a-post", "eda", kind="post", event=a, occurred_at=sep)
    say(k, "a-r1", "fal", reply_to="a-post", event=a, occurred_at=sep)
    say(k, "a-r2", "gul", reply_to="a-post", event=a, occurred_at=sep)
    say(k, "a-su", "ilk", kind="signup", event=a, occurred_at=sep)
    # Around the event, without its id: ilk took part and counts; jo did not.
    say(k, "a-r3", "ilk", reply_to="a-post", occurred_at="2026-09-03T10:00:00.000Z")
    say(k, "a-r4", "jo", reply_to="a-post", occurred_at="2026-09-03T10:00:00.000Z")
    # Two months later: not around the event.
    say(k, "a-r5", "ilk", reply_to="a-post", occurred_at=nov)
    thread(k, "b", "fal", ["eda", "gul", "hale", "ilk"], event=b, occurred_at=jun)
    refresh(k)
    eda, fal = contact(k, "eda"), contact(k, "fal")
    assert rows(k, "event:A")[0]["contact"] == eda
    assert rows(k, "event:B")[0]["contact"] == fal
    status, s = k.api(f"/v1/contacts/{eda}/scores")
    assert status == 200, s
    mine = {x["audience"]: x for x in s["audiences"]}
    assert {"all", "event:A", "event:B", "source:hooks", "channel:webhook"} <= set(mine)
    assert mine["event:A"]["rank"] == 1 and mine["event:A"]["of"] == 4
    assert mine["event:B"]["rank"] > 1 and mine["event:B"]["of"] == 5
    assert mine["event:A"]["scores"]["reach"] == 3  # fal, gul, and ilk around the event
    assert mine["event:A"]["scores"]["weight_in"] == 3  # not ilk's reply two months later
    assert mine["event:B"]["scores"]["reach"] == 0
    assert mine["event:A"]["scores"]["influence"] > mine["event:B"]["scores"]["influence"]
    assert contact(k, "jo") not in [r["contact"] for r in rows(k, "event:A")]
    # In all, jo's reply counts, and ilk's late one.
    assert by_contact(rows(k, "all"))[eda]["reach"] == 4
    assert by_contact(rows(k, "all"))[eda]["weight_in"] == 5
    # Percent-encoded or not, the same audience; it says what it was widened to.
    status, ev = k.api("/v1/audiences/event%3AA")
    assert status == 200 and ev == k.api("/v1/audiences/event:A")[1]
    assert ev["event"] == {"participants": 4, "from": "2026-08-25T10:00:00.000Z",
                           "to": "2026-09-08T10:00:00.000Z"}


def test_merges_and_splits_count_at_the_next_run(make_kanald):
    k = make_kanald(kanald=NO_DECAY).start()
    say(k, "p", "hub", kind="post")
    say(k, "r1", "eve", reply_to="p")
    say(k, "r2", "eve.work", reply_to="p")
    say(k, "r3", "jan", reply_to="p")
    refresh(k)
    hub, e1, e2 = contact(k, "hub"), contact(k, "eve"), contact(k, "eve.work")
    r = by_contact(rows(k, "all"))
    assert len(r) == 4 and r[e1]["weight_out"] == r[e2]["weight_out"] == 1
    assert r[hub]["reach"] == 3

    status, m = k.api(f"/v1/contacts/{e1}/merge", token=ADMIN_TOKEN, method="POST",
                      body={"with": e2})
    assert status == 200, m
    refresh(k)
    r = by_contact(rows(k, "all"))
    survivor = contact(k, "eve")
    assert len(r) == 3 and survivor in r
    assert r[survivor]["weight_out"] == 2 and r[survivor]["out_degree"] == 1
    assert r[hub]["reach"] == 2 and r[hub]["weight_in"] == 3
    # The absorbed id answers with the survivor's scores.
    absorbed = e2 if survivor == e1 else e1
    status, s = k.api(f"/v1/contacts/{absorbed}/scores")
    assert status == 200 and s["contact"] == survivor and s["requested"] == absorbed

    status, sp = k.api(f"/v1/contacts/{survivor}/split", token=ADMIN_TOKEN, method="POST",
                       body={"absorbed": absorbed})
    assert status == 200, sp
    refresh(k)
    r = by_contact(rows(k, "all"))
    assert len(r) == 4 and r[e1]["weight_out"] == r[e2]["weight_out"] == 1
    assert r[hub]["reach"] == 3


def test_erasure_leaves_every_kept_score_at_once(make_kanald):
    k = make_kanald(kanald=NO_DECAY).start()
    thread(k, "a", "hub", ["kim", "lea"], event={"id": "A"})
    thread(k, "b", "kim", ["hub"], event={"id": "B"})
    refresh(k)
    kim = contact(k, "kim")
    status, s = k.api(f"/v1/contacts/{kim}/scores")
    assert status == 200 and len(s["audiences"]) >= 4
    status, e = k.api(f"/v1/contacts/{kim}", token=ADMIN_TOKEN, method="DELETE")
    assert status == 200, e
    # No run in between: the erasure itself took the rows out.
    status, a = k.api("/v1/audiences")
    assert status == 200 and a["run"]["runs"] == 1
    for aud in a["audiences"]:
        for order in ("influence", "reach", "risk"):
            assert kim not in [r["contact"] for r in rows(k, aud["id"], order)], aud["id"]
        _, adv = k.api(f"/v1/audiences/{urllib.parse.quote(aud['id'])}/advocates")
        assert kim not in [r["contact"] for r in adv["contacts"]]
    assert k.api(f"/v1/contacts/{kim}/scores")[0] == 404
    # And the next run leaves the person out too.
    refresh(k)
    assert kim not in [r["contact"] for r in rows(k, "all")]


def test_scores_survive_a_restart(make_kanald):
    k = make_kanald(kanald=NO_DECAY).start()
    thread(k, "t", "hub", ["a1", "a2"])
    refresh(k)
    status, before = k.api("/v1/audiences")
    assert status == 200 and before["audiences"]
    all_before = rows(k, "all")
    assert k.stop() == 0
    k.start()
    status, after = k.api("/v1/audiences")
    assert status == 200
    assert after["audiences"] == before["audiences"]
    assert after["run"]["runs"] == 0  # nothing computed since the start: these are kept ones
    assert rows(k, "all") == all_before
    assert before["audiences"][0]["seq"] == 3


def test_refresh_is_admin_only_and_checks_its_body(make_kanald):
    k = make_kanald(kanald=NO_DECAY).start()
    say(k, "t-post", "hub", kind="post")
    say(k, "t-r0", "a1", reply_to="t-post", thread="t-post")
    for token, want in ((None, 401), ("wrong-token-0123456789", 401), (READ_TOKEN, 403),
                        (WRITE_TOKEN, 403)):
        status, _ = k.api("/v1/scores/refresh", token=token, method="POST")
        assert status == want, token
    assert runs(k) == 0 and k.api("/v1/audiences")[1]["audiences"] == []
    for body in ([], {"audience": "all"}, {"audience": "event:A"}, {"audience": 7},
                 {"audience": "thread:"}, {"thread": "t-post"},
                 {"audience": "thread:x", "more": 1}):
        status, err = k.api("/v1/scores/refresh", token=ADMIN_TOKEN, method="POST", body=body)
        assert status == 400, (body, err)
    assert runs(k) == 0
    # A thread is computed on request, and only then.
    refresh(k)
    assert k.api("/v1/audiences/thread:t-post")[0] == 404
    refresh(k, {"audience": "thread:t-post"})
    status, t = k.api("/v1/audiences/thread:t-post")
    assert status == 200 and t["contacts"] == 2
    assert re.search(r"scores: run 2 kept \d+ audience\(s\) over 2 record\(s\) and 2 contact\(s\) "
                     r"up to seq 2 in \d+ ms", k.log())


def test_score_interval_runs_by_itself(make_kanald):
    k = make_kanald(kanald="score_interval = 1s").start()
    thread(k, "t", "hub", ["a1", "a2"])
    a = wait_runs(k, 1, timeout=20)
    assert "all" in [x["id"] for x in a["audiences"]]
    assert a["run"]["last"]["seq"] >= 3
    status, _, body = k.request("GET", "/metrics")
    text = body.decode()
    assert re.search(r"^kanal_score_runs_total [1-9]", text, re.M)
    assert re.search(r"^kanal_score_last_seq [3-9]", text, re.M)
    assert re.search(r"^kanal_score_last_run_timestamp_seconds [1-9]", text, re.M)
    assert "kanal_score_last_run_seconds" in text


def test_reload_follows_score_interval_and_audience_sections(make_kanald):
    """SIGHUP: a new score_interval starts the runs; an [audience NAME]
    removed from the file is no longer computed, and its scores go rather
    than being served stale."""
    k = make_kanald(kanald=NO_DECAY, sources=None)
    section = "\n[audience posts]\nmatch = kind:post\n"
    k.write_config(sources=k.sources + section)
    k.start()
    thread(k, "t", "hub", ["a1", "a2"])
    refresh(k, {"audience": "thread:t-post"})
    ids = {a["id"] for a in k.api("/v1/audiences")[1]["audiences"]}
    assert {"all", "posts", "thread:t-post"} <= ids
    assert k.api("/v1/audiences/posts")[1]["contacts"] == 1
    time.sleep(1.5)
    assert runs(k) == 1  # score_interval = 0: nothing by itself
    k.write_config(sources=k.sources.replace(section, ""),
                   kanald="score_half_life = 0\nscore_interval = 1s")
    mark = k.log_mark()
    k.hup()
    k.wait_log(r"configuration reloaded", start=mark)
    a = wait_runs(k, 2)
    ids = {x["id"] for x in a["audiences"]}
    assert "posts" not in ids and {"all", "thread:t-post"} <= ids  # a thread stays
    assert k.api("/v1/audiences/posts")[0] == 404
    k.wait_log(r"scores: run 2 removed the scores of 1 audience\(s\)", start=mark)


def test_score_max_audiences_bounds_a_run(make_kanald):
    k = make_kanald(kanald=NO_DECAY + "\nscore_max_audiences = 3").start()
    for ev in ("A", "B", "C", "D"):
        thread(k, ev, "hub", ["a1"], event={"id": ev})
    refresh(k)
    status, a = k.api("/v1/audiences")
    assert [x["id"] for x in a["audiences"]] == ["all", "channel:webhook", "source:hooks"]
    assert a["run"]["last"]["left_out"] == 4
    assert re.search(r"left 4 audience\(s\) out \(score_max_audiences = 3\), among them "
                     r"\[\"event:A\",\"event:B\"", k.log())


def test_paging_order_limit_strictness(make_kanald):
    k = make_kanald(kanald=NO_DECAY).start()
    thread(k, "t", "hub", [f"u{i}" for i in range(6)])
    say(k, "t-x", "u0", reply_to="t-r1")
    refresh(k)
    for order in ("influence", "reach", "value", "advocacy", "risk"):
        rs = rows(k, "all", order)
        ids = [r["contact"] for r in rs]
        assert len(ids) == 7 == len(set(ids)), order
        if order in ("influence", "reach"):
            keys = [r[order] for r in rs]
            assert keys == sorted(keys, reverse=True), order
        else:
            # Every row has the object: highest score first, ties by contact id.
            keys = [(-r[order]["score"], r["contact"]) for r in rs]
            assert keys == sorted(keys), order
    first = k.api("/v1/audiences/all/contacts?limit=1000")[1]
    assert len(first["contacts"]) == 7 and first["more"] is False
    assert k.api("/v1/audiences/all/contacts")[1]["order"] == "influence"
    bad = ["order=followers", "order=", "limit=0", "limit=1001", "limit=abc", "limit=-1",
           "after=c999", "after=", "offset=2", "order=influence&sort=desc"]
    for q in bad:
        status, err = k.api(f"/v1/audiences/all/contacts?{q}")
        assert status == 400, (q, err)
        assert err["error"]["code"] in ("bad_request", "unknown_parameter"), q
    assert k.api("/v1/audiences/all/advocates?order=influence")[0] == 400
    assert k.api("/v1/audiences?limit=5")[0] == 400
    for path in ("/v1/audiences/event:never", "/v1/audiences/event:never/contacts",
                 "/v1/audiences/nosuch/advocates", "/v1/audiences/%00"):
        status, err = k.api(path)
        assert status == 404, path
        assert err["error"]["code"] == "not_found"
    assert k.api("/v1/contacts/c999/scores")[0] == 404
    # Read scope: no token is 401.
    assert k.api("/v1/audiences", token=None)[0] == 401
    assert k.api("/v1/audiences/all/contacts", token=None)[0] == 401
    status, _, body = k.request("HEAD", "/v1/audiences/all",
                                headers={"Authorization": f"Bearer {READ_TOKEN}"})
    assert status == 200 and body == b""
    # Advocates: none flagged before advocacy is computed.
    status, adv = k.api("/v1/audiences/all/advocates")
    assert status == 200 and adv["contacts"] == [] and adv["order"] == "advocacy"


def test_stopping_during_a_run_is_clean(make_kanald):
    """SIGTERM while a run reads the log: kanald stops between two chunks (or
    after the run's commit), exits 0, and the scores kept before stay."""
    k = make_kanald(kanald=NO_DECAY).start()
    for b in range(40):
        recs = [message(f"p{b}-{i}", handle=f"email:u{(b * 500 + i) % 3000}@example.com",
                        kind="comment", event={"id": f"E{i % 20}"},
                        **({"reply_to": f"p{b}-{i - 1}"} if i else {}))
                for i in range(500)]
        status, _, body = k.post_hook(recs)
        assert status == 200, body
    refresh(k)
    status, kept = k.api("/v1/audiences")
    assert status == 200 and len(kept["audiences"]) == 23
    say(k, "late", "late-comer", kind="post")
    status, started = k.api("/v1/scores/refresh", token=ADMIN_TOKEN, method="POST")
    assert status == 202 and started["seq"] == 20001
    # One run at a time: reading 20,001 records takes the run far longer
    # than this request's round trip.
    status, busy = k.api("/v1/scores/refresh", token=ADMIN_TOKEN, method="POST")
    assert status == 409 and busy["error"]["code"] == "already_running", busy
    # Records still commit while the run reads the log (it is off the
    # writer), and the run is shown as running.
    status, _, body = k.post_hook(message("during", handle="email:during@example.com"))
    assert status == 200 and b'"seqs":[20002]' in body
    assert k.api("/v1/audiences")[1]["run"]["running"] is True
    assert k.stop() == 0
    assert re.search(r"scores: run 2 (stopped: kanald is stopping|kept 23 audience)", k.log())
    k.start()
    status, after = k.api("/v1/audiences")
    assert status == 200
    seqs = {a["seq"] for a in after["audiences"]}
    assert seqs in ({20000}, {20001})  # all of run 1's, or all of run 2's: never half
    refresh(k)
    assert {a["seq"] for a in k.api("/v1/audiences")[1]["audiences"]} == {20002}


def test_the_score_keys_reach_the_daemons_runs(make_kanald):
    """The [kanald] score_* thresholds decide the positions kanald keeps:
    the hub everyone answers is key at the default (200% of the average
    influence) and ordinary when key takes 100 times the average."""
    for key_influence, hub_position in ((None, "key"), (10000, "ordinary")):
        extra = f"\nscore_key_influence = {key_influence}" if key_influence else ""
        k = make_kanald(kanald=NO_DECAY + extra).start()
        thread(k, "t", "hub", [f"u{i}" for i in range(6)])
        refresh(k)
        rs = rows(k, "all")
        hub = rs[0]
        assert hub["influence"] > 2, rs
        assert hub["position"] == hub_position, (key_influence, hub)
        assert all(r["position"] == "ordinary" for r in rs[1:]), rs
        k.stop()


def test_the_crm_value_reaches_the_daemons_runs(make_kanald):
    """Each contact's value and currency from the CRM (PUT
    /v1/contacts/crm/ID) are the monetary part of the value kanald's runs
    keep, in every audience the contact is in; a contact the CRM gives no
    value has 0 and no currency, and a value changed counts at the next
    run."""
    k = make_kanald(kanald=NO_DECAY).start()
    people = [f"v{i}" for i in range(6)]
    thread(k, "t", "hub", people, source="hooks")
    values = {who: 100.0 * (i + 1) + 0.5 for i, who in enumerate(people[:5])}
    for i, (who, value) in enumerate(values.items()):
        status, res = k.api(f"/v1/contacts/crm/CRM-{i}", token=ADMIN_TOKEN, method="PUT",
                            body={"emails": [f"{who}@example.com"], "value": value,
                                  "currency": "EUR" if i % 2 else "TRY"})
        assert status == 200, res
    refresh(k)
    ids = {who: contact(k, who) for who in people + ["hub"]}
    for audience in ("all", "source:hooks"):
        got = by_contact(rows(k, audience, order="value"))
        for i, (who, value) in enumerate(values.items()):
            v = got[ids[who]]["value"]
            assert v["monetary"] == value, (audience, who, v)
            assert v["currency"] == ("EUR" if i % 2 else "TRY"), (audience, who, v)
        for who in (people[5], "hub"):
            v = got[ids[who]]["value"]
            assert v["monetary"] == 0 and "currency" not in v, (audience, who, v)
        # The biggest spender has the top monetary quintile, the smallest not.
        assert got[ids[people[4]]]["value"]["m"] > got[ids[people[0]]]["value"]["m"]
    status, res = k.api("/v1/contacts/crm/CRM-0", token=ADMIN_TOKEN, method="PUT",
                        body={"value": 99999})
    assert status == 200, res
    refresh(k)
    assert by_contact(rows(k, "all"))[ids[people[0]]]["value"]["monetary"] == 99999
    k.stop()


def big_audience(k, users=3000, hubs=30, campaigns=20):
    """hubs post; each user comments on a hub's post (hub i*i mod hubs, so
    hubs differ), every fifth answers the user before, and each record is
    in one of the campaigns: users + hubs contacts in `all`, with many ties
    in every order."""
    recs = [message(f"p{h}", handle=f"email:h{h}@example.com", kind="post",
                    campaign=f"cmp{h % campaigns}") for h in range(hubs)]
    for i in range(users):
        recs.append(message(f"c{i}", handle=f"email:u{i}@example.com", kind="comment",
                            reply_to=f"p{(i * i) % hubs}", campaign=f"cmp{i % campaigns}"))
        if i and i % 5 == 0:
            recs.append(message(f"d{i}", handle=f"email:u{i}@example.com", kind="comment",
                                reply_to=f"c{i - 1}", campaign=f"cmp{i % campaigns}"))
    for b in range(0, len(recs), 500):
        status, _, body = k.post_hook(recs[b:b + 500])
        assert status == 200, body
    return users + hubs


def pages(k, audience, order, limit, route="contacts"):
    """Every row in that order, page by page, and the pages' count."""
    out, after, n = [], None, 0
    aid = urllib.parse.quote(audience, safe="")
    while True:
        q = (f"order={order}&" if route == "contacts" else "") + f"limit={limit}"
        q += f"&after={after}" if after else ""
        status, page = k.api(f"/v1/audiences/{aid}/{route}?{q}")
        assert status == 200, page
        assert len(page["contacts"]) <= limit
        n += 1
        out.extend(page["contacts"])
        after = page["next"]
        if not page["more"]:
            return out, n
        assert len(page["contacts"]) == limit


def order_key(row, order):
    v = row[order]
    return (-(v["score"] if isinstance(v, dict) else v), row["contact"])


def test_a_large_audience_pages_in_every_order(make_kanald):
    """3,030 contacts: each order's pages hold every row once, in the order
    (highest first, ties by contact id), whatever the page size; a
    contact's rank is its place by influence; after an erasure the pages
    and the counts leave the person out."""
    k = make_kanald(kanald=NO_DECAY).start()
    n = big_audience(k)
    a = refresh(k)
    summary = {x["id"]: x for x in a["audiences"]}
    assert summary["all"]["contacts"] == n
    assert summary["campaign:cmp3"]["contacts"] > 100
    lists = {}
    for aud in ("all", "campaign:cmp3"):
        for order in ("influence", "reach", "value", "advocacy", "risk"):
            rs, npages = pages(k, aud, order, 1000)
            ids = [r["contact"] for r in rs]
            assert len(ids) == summary[aud]["contacts"] == len(set(ids)), (aud, order)
            keys = [order_key(r, order) for r in rs]
            assert keys == sorted(keys), (aud, order)
            assert npages == -(-len(ids) // 1000)
            lists[aud, order] = rs
        adv, _ = pages(k, aud, "advocacy", 1000, route="advocates")
        assert adv == [r for r in lists[aud, "advocacy"] if r["advocacy"]["advocate"]], aud
    # Small pages: the same rows in the same order.
    for order in ("influence", "risk"):
        small, npages = pages(k, "all", order, 7)
        assert small == lists["all", order] and npages == -(-n // 7)
    # after= anywhere: the page starts at the next row.
    infl = lists["all", "influence"]
    for at in (0, 1, 999, 1000, 2500, n - 2):
        status, page = k.api(f"/v1/audiences/all/contacts?limit=3&after={infl[at]['contact']}")
        assert status == 200 and page["contacts"] == infl[at + 1:at + 4], at
    status, page = k.api(f"/v1/audiences/all/contacts?after={infl[-1]['contact']}")
    assert status == 200 and page["contacts"] == [] and page["more"] is False
    # A contact's rank in each audience is its place by influence.
    for at in (0, 5, 1234, n - 1):
        cid = infl[at]["contact"]
        status, s = k.api(f"/v1/contacts/{cid}/scores")
        assert status == 200, s
        mine = {x["audience"]: x for x in s["audiences"]}
        assert mine["all"]["rank"] == at + 1 and mine["all"]["of"] == n
        assert mine["all"]["scores"] == infl[at]
    # An erasure: the person leaves every order and every count at once.
    gone = infl[3]["contact"]
    status, e = k.api(f"/v1/contacts/{gone}", token=ADMIN_TOKEN, method="DELETE")
    assert status == 200, e
    status, a = k.api("/v1/audiences")
    assert {x["id"]: x for x in a["audiences"]}["all"]["contacts"] == n - 1
    for order in ("influence", "reach", "value", "advocacy", "risk"):
        rs, _ = pages(k, "all", order, 1000)
        assert rs == [r for r in lists["all", order] if r["contact"] != gone], order
    status, page = k.api(f"/v1/audiences/all/contacts?limit=3&after={infl[2]['contact']}")
    assert page["contacts"] == infl[4:7]
    assert k.api(f"/v1/audiences/all/contacts?after={gone}")[0] == 400


def commits(k):
    status, _, body = k.request("GET", "/metrics")
    assert status == 200
    m = re.search(rb"^kanal_commit_duration_seconds_count (\d+)", body, re.M)
    assert m, body[:2000]
    return int(m.group(1))


def test_audience_list_has_every_audience_of_the_run_it_says_ended(make_kanald):
    """GET /v1/audiences reads the audiences on a work thread and tells the
    runs' state beside them: a run it says ended (running false, counted
    in runs) has all its audiences kept and listed, also when the run
    ended while the list was being read.  Before run n, a record of
    campaign c(n-1) comes, so run n keeps one audience more than the run
    before; two clients poll without a pause across the runs' ends."""
    import threading
    k = make_kanald(kanald=NO_DECAY).start()
    stop, seen, bad = threading.Event(), set(), []

    def poll():
        while not stop.is_set():
            try:
                status, a = k.api("/v1/audiences")
            except Exception as e:  # a thread's exception would not fail the test
                bad.append(repr(e))
                return
            if status != 200:
                bad.append((status, a))
                continue
            run, ids = a["run"], {x["id"] for x in a["audiences"]}
            if run["running"] or not run["runs"]:
                continue
            seen.add(run["runs"])
            want = {f"campaign:c{i}" for i in range(run["runs"])}
            if not want <= ids:
                bad.append((run["runs"], sorted(want - ids)))

    pollers = [threading.Thread(target=poll) for _ in range(2)]
    for t in pollers:
        t.start()
    try:
        for i in range(25):
            say(k, f"m{i}", f"u{i}", campaign=f"c{i}")
            refresh(k)
        deadline = time.monotonic() + 30
        while 25 not in seen and not bad and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        for t in pollers:
            t.join()
    assert {f"campaign:c{i}" for i in range(25)} <= {
        x["id"] for x in k.api("/v1/audiences")[1]["audiences"]}
    # The polls saw runs end (a run followed at once by the next may go
    # unseen); bad holds what they saw wrong.
    assert len(seen) > 25 // 2, sorted(seen)
    assert bad == [], bad[:5]  # (runs, the campaigns of ended runs not listed)


def test_ingest_commits_while_a_big_run_is_kept(make_kanald):
    """A run keeps its audiences one write per audience, so the writer
    commits records in between: a run with nothing else to do takes at
    least a commit per audience, and records posted all along a run are
    stored, each with its own seq, while the run keeps every audience."""
    import threading
    k = make_kanald(kanald=NO_DECAY).start()
    n = big_audience(k)
    before = commits(k)
    a = refresh(k)
    kept = a["run"]["last"]["audiences"]
    assert kept == len(a["audiences"]) >= 23  # all, the source, the channel, 20 campaigns
    assert commits(k) - before >= kept
    assert re.search(rf"scores: run 1 kept {kept} audience\(s\) .* in \d+ ms \(keeping them: "
                     rf"\d+ ms in {kept} commit\(s\)\)", k.log())
    # Again, with ingest all along the run.
    stop, answers = threading.Event(), []

    def post():
        i = 0
        while not stop.is_set():
            status, _, body = k.post_hook(message(f"live{i}", handle=f"email:live{i}@example.com"))
            answers.append((status, body))
            i += 1

    last = k.api("/v1/audiences")[1]["run"]["runs"]
    t = threading.Thread(target=post)
    t.start()
    try:
        status, started = k.api("/v1/scores/refresh", token=ADMIN_TOKEN, method="POST")
        assert status == 202, started
        wait_runs(k, last + 1, timeout=120)
    finally:
        stop.set()
        t.join()
    assert answers and all(s == 200 for s, _ in answers), answers[:3]
    seqs = [json.loads(b)["seqs"][0] for _, b in answers]
    assert len(set(seqs)) == len(seqs)
    status, a = k.api("/v1/audiences")
    assert a["run"]["last"]["audiences"] == kept
    counted = {x["id"]: x for x in a["audiences"]}["all"]["contacts"]
    assert counted >= n  # and the live posters the run's snapshot had
    stored = {r["seq"] for r in k.feed(after=min(seqs) - 1)}
    assert set(seqs) <= stored
    rs, _ = pages(k, "all", "influence", 1000)
    assert len(rs) == counted
