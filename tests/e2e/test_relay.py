# SPDX-License-Identifier: Apache-2.0
"""host->relay (plugin ABI 1.2): a source whose plugin declares
KANAL_PLUGIN_RELAY stores records another kanald stored, keeping their id,
source, channel, times and the rest; seq and contact are this store's.
The test plugin relays what is POSTed to /hooks/<source>?relay=1; the
records come from a real kanald's feed."""
import copy
import json

from kanal import message

ECHO = ("[source e1]\nplugin = echo\ngreeting = merhaba\n")
RELAYER = ("[source r1]\nplugin = relayer\ngreeting = merhaba\n")


def stored_records(make_kanald, n=3):
    """Records as another kanald stored them: with seq, id, received_at,
    contact, meta."""
    k = make_kanald("other").start()
    for i in range(n):
        assert k.post_hook(message(f"x{i}", text=f"t{i}", meta={"n": i},
                                   handle=f"email:p{i}@example.com"))[0] == 200
    return k.feed()


def relay(k, recs, source="r1"):
    status, _, body = k.request("POST", f"/hooks/{source}?relay=1", json.dumps(recs).encode())
    return status, json.loads(body)


def test_relayed_records_are_stored_as_they_were_with_this_stores_seq_and_contact(make_kanald):
    recs = stored_records(make_kanald)
    k = make_kanald("core", sources=RELAYER, plugins=(), test_plugins=("relayer",)).start()
    # Something of its own first: the relayed records get this store's seqs.
    own = {"kind": "message", "direction": "inbound", "external_id": "own1",
           "from": {"handle": "email:p2@example.com"}}
    status, _, body = k.request("POST", "/hooks/r1", json.dumps(own).encode())
    assert status == 200, body
    status, body = relay(k, recs)
    assert status == 200 and body == {"n": 3, "first": 2}, body
    feed = k.feed()
    assert [r["seq"] for r in feed] == [1, 2, 3, 4]
    for got, sent in zip(feed[1:], recs):
        for key in ("id", "source", "channel", "kind", "direction", "occurred_at",
                    "received_at", "external_id", "from", "text", "meta"):
            assert got[key] == sent[key], key
    # Contacts are this store's: p2 was met first here, by its own record.
    assert feed[3]["contact"] == feed[0]["contact"] == "c1"
    assert {feed[1]["contact"], feed[2]["contact"]} == {"c2", "c3"}
    # Relayed again (a redelivered message): stored once, same seqs answered.
    status, body = relay(k, recs)
    assert status == 200 and body == {"n": 3, "first": 2}, body
    status, body = relay(k, recs[1])
    assert status == 200 and body == {"n": 1, "first": 3}, body
    assert len(k.feed()) == 4


def test_what_is_not_a_stored_record_is_refused_whole(make_kanald):
    recs = stored_records(make_kanald, 1)
    good = recs[0]
    k = make_kanald("core", sources=RELAYER, plugins=(), test_plugins=("relayer",)).start()
    bad = {
        "id contradicts its members": dict(good, id="hooks/message/other"),
        "unknown kind": dict(good, kind="nonsense", id="hooks/nonsense/x0"),
        "no received_at": {k2: v for k2, v in good.items() if k2 != "received_at"},
        "an emitted record (no seq, no id)": {k2: v for k2, v in good.items()
                                              if k2 not in ("seq", "id", "received_at")},
        "kanald's own source": dict(good, source="kanal", kind="merge",
                                    id="kanal/merge/x0"),
        "not an object": [1],
    }
    for why, rec in bad.items():
        # With a good record beside it: the whole call is refused.
        status, body = relay(k, [copy.deepcopy(good), rec])
        assert status == 422, (why, body)
        assert "record does not match" in body["refused"], (why, body)
    k.wait_log(r"\[r1\] emit refused: record 2 of 2: field 'id' is not "
               r"<source>/<kind>/<external_id>")
    k.wait_log(r"record of kanald's own source 'kanal' is not relayed")
    status, _, body = k.request("POST", "/hooks/r1?relay=1", b"{not json")
    assert status == 422, body
    assert k.feed() == []


def test_only_a_plugin_that_declares_it_may_relay(make_kanald):
    recs = stored_records(make_kanald, 1)
    k = make_kanald("core", sources=ECHO, plugins=(), test_plugins=("echo",)).start()
    status, body = relay(k, recs, source="e1")
    assert status == 422 and body["refused"] == "Operation not permitted", body
    k.wait_log(r"\[e1\] relay refused: plugin echo does not declare KANAL_PLUGIN_RELAY")
    assert k.feed() == []
