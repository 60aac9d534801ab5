# SPDX-License-Identifier: Apache-2.0
"""Poison records: an authentic request kanald cannot store as a record must
be kept as kind "unknown" (202) or refused alone (4xx), never fail the
commit it shares with other requests (503 to everyone), and never be
retried forever."""
import base64
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor

from kanal import message, validate_record, webhook_source

MAX_DEPTH = 64  # KANAL_MAX_DEPTH in sdk/include/kanal/schema.h


def nested(levels: int) -> str:
    """JSON text of `levels` arrays, one inside the other."""
    return "[" * levels + "]" * levels


def record_with_meta_depth(ext: str, depth: int) -> bytes:
    """A valid message record whose deepest value is at `depth` (the record
    is level 1, meta 2, meta.d 3)."""
    head = json.dumps(message(ext))[:-1]
    return (head + ', "meta": {"d": ' + nested(depth - 2) + "}}").encode()


def poison_bodies():
    """Authentic bodies that kanald cannot store as records, by kind."""
    huge_handle = "email:" + "a" * 600 + "@example.com"
    return {
        "meta-depth-100": record_with_meta_depth("deep100", 100),
        "meta-depth-1000": record_with_meta_depth("deep1000", 1000),
        "meta-depth-3000": record_with_meta_depth("deep3000", 3000),
        "array-depth-100": nested(100).encode(),
        "array-depth-1000": nested(1000).encode(),
        "array-depth-3000": nested(3000).encode(),
        "unknown-depth-100": json.dumps({"kind": "teleport"})[:-1].encode() +
        b', "payload": ' + nested(100).encode() + b"}",
        "escaped-nul-in-text": json.dumps(message("nul1", text="a\u0000b")).encode(),
        "escaped-nul-in-key": b'{"kind":"message","a\\u0000":1}',
        "nul-byte-in-text": json.dumps(message("nul2", text="aXb")).encode().replace(b"X", b"\0"),
        "nul-byte-after-value": json.dumps(message("nul3")).encode() + b"\0",
        "empty": b"",
        "huge-external-id": json.dumps(message("x" * 5000)).encode(),
        "huge-handle": json.dumps(message("hh", handle=huge_handle)).encode(),
        "huge-handles-entry": json.dumps(message("hh2", **{"from": {
            "handle": "email:ok@example.com", "handles": [huge_handle]}})).encode(),
        "not-utf8": b'{"kind":"message","text":"\xff\xfe"}',
        "batch-with-one-deep": ("[" + json.dumps(message("bd1")) + "," +
                                record_with_meta_depth("bd2", 200).decode() + "]").encode(),
        # Larger than max_body (256K in the test): refused alone with 413.
        "over-max-body": json.dumps(message("big", meta={"x": "y" * 300_000})).encode(),
    }


REFUSED = {"over-max-body": 413}  # the others are stored as unknown (202)


def post_all(k, bodies, workers=16):
    def one(body):
        return k.post_hook(body)
    with ThreadPoolExecutor(max_workers=workers) as ex:
        return list(ex.map(one, bodies))


def unknown_by_digest(recs):
    return {r["meta"]["body_sha256"]: r for r in recs if r["kind"] == "unknown"}


def test_poison_among_clean_posts_fails_nobody(make_kanald):
    k = make_kanald(kanald="max_body = 256K").start()
    poison = poison_bodies()
    clean = [json.dumps(message(f"clean-{i}", text=f"hello {i}")).encode() for i in range(160)]
    # Clean too, however large or deep within the limits.
    clean[7] = json.dumps(message("clean-7", meta={"x": "y" * 250_000})).encode()
    clean[8] = record_with_meta_depth("clean-8", MAX_DEPTH)
    bodies, labels = [], []
    names = list(poison)
    for i, body in enumerate(clean):  # the poison spread among the clean posts
        bodies.append(body)
        labels.append(("clean", f"clean-{i}"))
        if i % 9 == 4 and names:
            name = names.pop()
            bodies.append(poison[name])
            labels.append(("poison", name))
    for name in names:
        bodies.append(poison[name])
        labels.append(("poison", name))
    results = post_all(k, bodies)
    assert [s for s, _, _ in results].count(503) == 0, \
        [(lab, s, b) for lab, (s, _, b) in zip(labels, results) if s == 503]
    recs = k.feed()
    for r in recs:
        validate_record(r)
    stored = [r["external_id"] for r in recs if r["kind"] == "message"]
    unknown = unknown_by_digest(recs)
    for (what, name), body, (status, _, answer) in zip(labels, bodies, results):
        if what == "clean":
            assert status == 200, (name, status, answer)
            assert stored.count(name) == 1, name
            continue
        if name in REFUSED:
            assert status == REFUSED[name], (name, status, answer)
            assert hashlib.sha256(body).hexdigest() not in unknown
            continue
        assert status == 202, (name, status, answer)
        assert json.loads(answer)["stored_as"] == "unknown", name
        rec = unknown[hashlib.sha256(body).hexdigest()]
        assert rec["meta"]["body_size"] == len(body), name
        assert json.loads(answer)["seqs"] == [rec["seq"]], name
    assert len(unknown) == len(poison) - len(REFUSED)
    assert len(recs) == len(clean) + len(unknown)
    # Nothing of a refused batch was stored as a message on its own.
    assert "bd1" not in stored and "bd2" not in stored

    # Redelivered, every poison body is recognised: the same seq, no new record.
    for name, body in poison.items():
        if name in REFUSED:
            continue
        status, _, answer = k.post_hook(body)
        assert status == 202, (name, status, answer)
        assert json.loads(answer)["seqs"] == [unknown[hashlib.sha256(body).hexdigest()]["seq"]]
    assert len(k.feed()) == len(recs)


def test_depth_limit_is_the_same_for_reader_records_and_writer(make_kanald):
    k = make_kanald().start()
    status, _, _ = k.post_hook(record_with_meta_depth("at-limit", MAX_DEPTH))
    assert status == 200
    status, _, answer = k.post_hook(record_with_meta_depth("over-limit", MAX_DEPTH + 1))
    assert status == 202 and json.loads(answer)["stored_as"] == "unknown"
    recs = k.feed()
    assert recs[0]["external_id"] == "at-limit"
    depth, d = 0, recs[0]["meta"]["d"]
    while isinstance(d, list):
        depth += 1
        d = d[0] if d else None
    assert depth == MAX_DEPTH - 2
    assert recs[1]["kind"] == "unknown"
    k.wait_log(r"\[hooks\] emit refused: .*maximum parsing depth reached \(KANAL_MAX_DEPTH is 64")

    # In raw, one level below the record: a body of MAX_DEPTH - 1 levels is
    # kept as JSON, one level more as its text.
    k.post_hook(nested(MAX_DEPTH - 1).encode())
    k.post_hook(nested(MAX_DEPTH).encode())
    recs = k.feed()
    assert json.dumps(recs[2]["raw"], separators=(",", ":")) == nested(MAX_DEPTH - 1)
    assert recs[3]["raw"] == nested(MAX_DEPTH)


def test_unknown_keeps_a_bounded_form_of_the_body(make_kanald):
    k = make_kanald(sources=webhook_source(extra="unknown_raw_max = 1K")).start()
    small = {"kind": "teleport", "payload": [1, 2, 3]}
    big_json = json.dumps({"kind": "teleport", "payload": "y" * 5000}).encode()
    text = ("ğ" * 3000).encode()  # two bytes a character: the cut splits one
    binary = bytes(range(256)) * 12
    with_nul = b"abc\0def"
    bodies = [json.dumps(small).encode(), big_json, text, binary, with_nul, b""]
    for b in bodies:
        status, _, answer = k.post_hook(b)
        assert status == 202, (b[:40], status, answer)
    recs = k.feed()
    assert len(recs) == len(bodies)
    for r, b in zip(recs, bodies):
        validate_record(r)
        assert r["kind"] == "unknown"
        assert r["meta"]["body_size"] == len(b)
        assert r["meta"]["body_sha256"] == hashlib.sha256(b).hexdigest()
        assert r["meta"]["raw_truncated"] == (len(b) > 1024)
    assert recs[0]["raw"] == small
    assert recs[1]["raw"] == big_json[:1024].decode()
    kept = recs[2]["raw"].encode()
    assert text.startswith(kept) and 1022 <= len(kept) <= 1024
    assert base64.b64decode(recs[3]["raw"]["base64"]) == binary[:1024]
    assert base64.b64decode(recs[4]["raw"]["base64"]) == with_nul
    assert recs[5]["raw"] == "" and recs[5]["meta"]["reason"] == "the body is empty"
