# SPDX-License-Identifier: Apache-2.0
"""A record is serialized once for all processors and the writer, and an
annotation already in the store's form goes into that text as it is.  The
stored bytes must be what reading the annotation into jansson and writing
the record again stores: for every kind of value, and for records the
writer serializes itself (a named contact under identity)."""
import json
import re

from kanal import READ_TOKEN, message, validate_record

ECHO = "[source e1]\nplugin = echo\ngreeting = hi\n"

# Annotations as a processor may answer them: in the store's form (taken as
# they are) and in other forms (read and written again).
CASES = [
    b'{"label":"negative","score":-0.4588,"lang":"tr","model":"m-1","complaint":true}',
    b'{"tags":["kargo","iade"]}',
    b'{}', b'[]', b'null', b'true', b'false', b'0', b'-7', b'123456789012345678',
    b'1.0', b'-0.0', b'0.0001', b'0.5', b'0.123456789012345', b'123456789012345.0',
    b'"a\\"b\\\\c\\n\\t\\r\\b\\f"', b'"\\u001F\\u0001"', '"çok güzel 😀 İı"'.encode(),
    b'{"a":{"b":[1,2,{"c":null}]},"d":""}',
    # Not the store's form: the slow way writes them.
    b'1.50', b'1e5', b'1E-7', b'0.00001', b'-0', b'"\\u00e9\\/"', b'{"a":1,"a":2}',
    b'{ "a" : [ 1 , 2 ] }', b'0.1234567890123456789', b'12345678901234567',
    b'1234567890123456.0',
]


def sections(cases):
    """Processor f<i> answers case i as it is, s<i> with blanks around it,
    which always takes the slow way."""
    out = []
    for i, c in enumerate(cases):
        out.append(f"[processor f{i}]\nplugin = stages\nbudget = 10s\nbehave = given\ngiven = {c.hex()}\n")
        out.append(f"[processor s{i}]\nplugin = stages\nbudget = 10s\nbehave = given\n"
                   f"given = {(b' ' + c + b' ').hex()}\n")
    return "\n".join(out)


def raw_records(k):
    """The stored records' bytes as the feed answers them (it copies them)."""
    status, _, body = k.request("GET", "/v1/interactions?after=0&limit=100",
                                headers={"Authorization": "Bearer " + READ_TOKEN})
    assert status == 200, body
    page = json.loads(body)
    raws = []
    at = body.index(b'"interactions":[') + len(b'"interactions":[')
    for rec in page["interactions"]:
        # Each record's text starts with {"v":1,"seq":N; find where the next does.
        head = b'{"v":1,"seq":%d,' % rec["seq"]
        assert body.startswith(head, at), body[at:at + 80]
        nxt = body.find(b',{"v":1,"seq":', at + 1)
        end = nxt if nxt >= 0 and nxt < body.index(b'],"next"') else body.index(b'],"next"')
        raws.append(body[at:end])
        at = end + 1
    return page["interactions"], raws


def annotation_bytes(raw, n):
    """The stored text of each annotation f<i>, s<i> in raw, in config order."""
    out = {}
    names = [f"{p}{i}" for i in range(n) for p in ("f", "s")]
    for j, name in enumerate(names):
        start = raw.index(b'"%s":' % name.encode()) + len(name) + 3
        if j + 1 < len(names):
            end = raw.index(b',"%s":' % names[j + 1].encode(), start)
        else:  # the annotations' brace, then the record's (or the contact identity added)
            end = raw.rindex(b'},"contact":') if b'},"contact":' in raw[start:] else len(raw) - 2
        out[name] = raw[start:end]
    return out


def test_annotations_are_stored_as_the_slow_way_stores_them(make_kanald):
    k = make_kanald(sources=ECHO + "\n" + sections(CASES), plugins=(),
                    test_plugins=("echo", "stages")).start()
    for i in range(2):
        status, _, body = k.request("POST", "/hooks/e1",
                                    json.dumps(message(f"t{i}", text=f"kargo {i}")).encode())
        assert status == 200, body
    recs, raws = raw_records(k)
    assert [r["external_id"] for r in recs] == ["t0", "t1"]
    for rec, raw in zip(recs, raws):
        validate_record(rec)
        assert list(rec["annotations"]) == [f"{p}{i}" for i in range(len(CASES))
                                            for p in ("f", "s")]
        got = annotation_bytes(raw, len(CASES))
        for i, c in enumerate(CASES):
            assert got[f"f{i}"] == got[f"s{i}"], (c, got[f"f{i}"], got[f"s{i}"])
            assert json.loads(got[f"f{i}"]) == json.loads(c) or c == b'{"a":1,"a":2}'
        # The store's form is kept as it is.
        for i, c in enumerate(CASES[:20]):
            assert got[f"f{i}"] == c, (c, got[f"f{i}"])
        # Every record is one JSON text as it stands in the store.
        assert json.loads(raw) == rec
    assert not re.search(r"kept without this processor's annotation", k.log())


def test_a_record_naming_its_contact_keeps_its_annotations(make_kanald):
    """Under identity the writer serializes a record that names its contact
    itself (it may follow a merge): the annotations the processors added to
    the text must be in it too."""
    proc = (f"[processor f0]\nplugin = stages\nbudget = 10s\nbehave = given\ngiven = {CASES[0].hex()}\n\n"
            "[processor tag]\nplugin = stages\nbudget = 10s\n")
    k = make_kanald(sources=ECHO + "\n" + proc, plugins=(),
                    test_plugins=("echo", "stages")).start()
    status, _, body = k.request("POST", "/hooks/e1", json.dumps(message("m0")).encode())
    assert status == 200, body
    cid = k.feed()[0]["contact"]
    status, _, body = k.request("POST", "/hooks/e1",
                                json.dumps(message("m1", contact=cid)).encode())
    assert status == 200, body
    recs, raws = raw_records(k)
    assert [r["external_id"] for r in recs] == ["m0", "m1"]
    for i, (rec, raw) in enumerate(zip(recs, raws)):
        validate_record(rec)
        assert rec["contact"] == cid
        assert rec["annotations"] == {"f0": json.loads(CASES[0]), "tag": {"n": i + 1, "saw": False}}
        assert b'"annotations":{"f0":' + CASES[0] + b',"tag":{"n":%d,"saw":false}}' % (i + 1) in raw


def test_a_record_is_stored_as_without_processors_but_for_its_annotations(make_kanald):
    """The same posts to a kanald without processors and to one with them
    (one matching every record, one only some): each stored record is byte
    for byte the one stored without processors, with the annotations member
    where the record serialized with them has it (before the contact
    identity adds), and nothing else changed."""
    posts = [message("p0", text="kargo gelmedi"),
             message("p1", text='quote " back\\slash \u0001 çok güzel 😀', thread="t-1",
                     meta={"n": 1.5, "deep": {"a": [1, None, True]}}),
             message("p2", handle="phone:+905321234567", subject="İade"),
             message("p3", contact=None)]
    procs = (f"[processor f0]\nplugin = stages\nbudget = 10s\nbehave = given\ngiven = {CASES[0].hex()}\n\n"
             "[processor only]\nplugin = stages\nbudget = 10s\nmatch = source:e1 kind:comment\n\n"
             "[processor tag]\nplugin = stages\nbudget = 10s\n")
    plain = make_kanald("plain", sources=ECHO, plugins=(), test_plugins=("echo",)).start()
    annotated = make_kanald("annotated", sources=ECHO + "\n" + procs, plugins=(),
                            test_plugins=("echo", "stages")).start()
    for k in (plain, annotated):
        for rec in posts:
            rec = {a: b for a, b in rec.items() if b is not None}
            status, _, body = k.request("POST", "/hooks/e1", json.dumps(rec).encode())
            assert status == 200, body
    _, want = raw_records(plain)
    _, got = raw_records(annotated)
    assert len(want) == len(got) == len(posts)
    received = re.compile(rb'"received_at":"[^"]*"')
    for i, (w, g) in enumerate(zip(want, got)):
        ann = (b',"annotations":{"f0":' + CASES[0] + b',"tag":{"n":%d,"saw":false}}' % (i + 1))
        at = w.rindex(b',"contact":') if b',"contact":' in w else len(w) - 1
        expect = w[:at] + ann + w[at:]
        assert received.sub(b"R", g) == received.sub(b"R", expect), (g, expect)
