# SPDX-License-Identifier: Apache-2.0
"""One record check, two descriptions: kanald's C check (common/record_check.c,
which `kanalctl validate` runs) and the published JSON Schema
(sdk/schema/interaction-v1.json) must agree on every record, good or bad.

The records start from what the real kanald stored, then every field is
removed, nulled, given the wrong type, a wrong enum value or a wrong shape.

Python's `re` differs from the schema's ECMA-262 patterns on line ends
("$" also matches before a final "\\n", "." matches "\\r", U+2028 and
U+2029), and jsonschema takes 7.0 for an integer; those inputs are left out
of the comparison, since there python3-jsonschema, not kanal, strays from the
schema (tests/unit/test_record_check.c covers them)."""
import copy
import json
import subprocess

import pytest

from kanal import BUILD, VALIDATOR, message, webhook_source

KANALCTL = BUILD / "kanalctl"

BAD_TYPES = [None, 0, -1, 1.5, "", "x", [], {}, True]
TIMES_BAD = ["2026-11-23T16:00:00Z", "2026-11-23T19:00:00.000+03:00", "2026-11-23 16:00:00.000Z",
             "yesterday", "2026-11-23T16:00:00.0000Z"]
HANDLES = ["email:a@b.example", "x:1", "fb:1/2", "nocolon", "Email:a@b.example", ":v", "1x:v",
           "email: a", "email:", "e mail:x", "a" * 32 + ":v", "a" * 33 + ":v", "x:\u00a0nbsp",
           "x:\u3000a", "x:a\u00a0b", "x:\u00fc", "x:a b"]
NAMES = ["wa-main", "Wa.Main_1", "wa main", "", "a" * 64, "a" * 65, "ça"]
CHANNELS = ["sms", "whats_app-2", "SMS", "a.b", "", "a" * 32, "a" * 33]


def mutations(rec):
    """rec with each field removed, mistyped or set to a value on either side
    of its rule."""
    out = [rec]

    def variant(path, value, delete=False):
        r = copy.deepcopy(rec)
        obj = r
        for p in path[:-1]:
            obj = obj[p]
        if delete:
            obj.pop(path[-1], None)
        else:
            obj[path[-1]] = value
        out.append(r)

    for key in list(rec):
        variant([key], None, delete=True)
        for v in BAD_TYPES:
            variant([key], v)
    variant(["colour"], "red")
    for v in (1, 2, "1"):
        variant(["v"], v)
    for v in (1, 0, 12, -5):
        variant(["seq"], v)
    for v in ("a/b/c", "abcd", "ü" * 5, "ü" * 4):
        variant(["id"], v)
    for v in NAMES:
        variant(["source"], v)
    for v in CHANNELS:
        variant(["channel"], v)
    for v in ("message", "unknown", "merge", "tweet", "Message"):
        variant(["kind"], v)
    for v in ("inbound", "peer", "sideways"):
        variant(["direction"], v)
    for v in ("read", "pending"):
        variant(["status"], v)
    for v in TIMES_BAD:
        variant(["occurred_at"], v)
        variant(["received_at"], v)
    for v in ("x" * 1024, "x" * 1025, "ü" * 1024, "ü" * 1025):
        variant(["external_id"], v)
    if "from" in rec:
        for key in list(rec["from"]):
            variant(["from", key], None, delete=True)
            variant(["from", key], 5)
        for h in HANDLES:
            variant(["from", "handle"], h)
            variant(["from", "handles"], [rec["from"]["handle"], h])
        for v in ("brand", "admin"):
            variant(["from", "role"], v)
        for v in ("verified", "asserted", "yes"):
            variant(["from", "trust"], v)
        variant(["from", "handles"], [])
        variant(["from", "age"], 3)
    party = {"handle": "x:1", "role": "brand", "handles": ["x:1"]}
    for v in ([party], [party, dict(party, role="x")], [dict(party, handles=[])], ["x:1"], [{}]):
        variant(["to"], v)
        variant(["mentions"], v)
    for v in ([{"type": "image", "size": 0}], [{"type": "image", "size": -1}], [{"url": "u"}],
              [{"type": "image", "extra": 1}], [{"type": 1}], [{"type": "file", "name": None}],
              ["image"]):
        variant(["attachments"], v)
    for v in ({"id": "e"}, {"id": ""}, {"name": "x"}, {"id": "e", "starts_at": "2026-12-01"},
              {"id": "e", "starts_at": "2026-12-01T09:00:00.000Z"}, {"id": "e", "x": 1}):
        variant(["event"], v)
    for v in ({"a": [1]}, [], "x"):
        variant(["meta"], v)
    return out


def kanalctl_validate(records):
    """Which records `kanalctl validate` refuses: a set of indexes."""
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    p = subprocess.run([str(KANALCTL), "validate"], input=text.encode(), capture_output=True,
                       timeout=60)
    assert p.returncode in (0, 1), p.stderr
    lines = p.stdout.decode().splitlines()
    assert lines[-1].startswith(f"validate: {len(records)} record(s), ")
    bad = set()
    for line in lines[:-1]:
        assert line.startswith("line "), line
        bad.add(int(line.split(":")[0][5:]) - 1)
    assert lines[-1] == f"validate: {len(records)} record(s), {len(bad)} invalid (schema v1, as stored)"
    assert p.returncode == (1 if bad else 0)
    return bad


def test_kanalctl_validate_and_the_schema_agree(make_kanald):
    k = make_kanald(sources=webhook_source()).start()
    rich = message("m1", thread="t-1", subject="s", campaign="c", reply_to="x-0",
                   to=[{"handle": "email:destek@marka.example", "role": "brand"}],
                   event={"id": "e1", "name": "Fuar", "starts_at": "2026-12-01T09:00:00.000Z"},
                   attachments=[{"type": "image", "url": "https://x.example/a", "size": 10}],
                   meta={"a": {"b": [1, 2]}})
    rich["from"]["trust"] = "verified"
    for rec in (rich, message("m2", kind="delivery", direction="outbound", status="read"),
                {"kind": "unknown", "direction": "inbound", "external_id": "u1", "raw": {"x": 1}}):
        status, _, body = k.post_hook(rec)
        assert status == 200, body
    stored = k.feed()
    assert len(stored) == 3
    records = [m for rec in stored for m in mutations(rec)]
    bad = kanalctl_validate(records)
    disagree = []
    for i, rec in enumerate(records):
        schema_ok = VALIDATOR.is_valid(rec)
        if schema_ok == (i in bad):
            disagree.append(("schema" if schema_ok else "kanalctl") + " accepts " +
                            json.dumps(rec, ensure_ascii=False)[:300])
    assert not disagree, f"{len(disagree)} of {len(records)} disagree:\n" + "\n".join(disagree[:10])
    # Both sides of the line were tried, plenty of each.
    assert len(bad) > 100 and len(records) - len(bad) > 50
    for i in range(3):
        assert records.index(stored[i]) not in bad  # what kanald stored is valid


def test_validate_emitted_mode_and_errors(tmp_path):
    good = message("m1")
    lines = [json.dumps(good), "", json.dumps(dict(good, seq=3)), "{not json",
             json.dumps(dict(good, thread=None, to=None))]
    path = tmp_path / "emitted.jsonl"
    path.write_text("\n".join(lines) + "\n")
    p = subprocess.run([str(KANALCTL), "validate", "--emitted", str(path)], capture_output=True,
                       timeout=60)
    out = p.stdout.decode().splitlines()
    assert p.returncode == 1
    assert out[0] == "line 3: field 'seq' is assigned by kanald; leave it out"
    assert out[1].startswith("line 4: not valid JSON")
    assert out[2] == "validate: 4 record(s), 2 invalid (schema v1, as emitted)"
    # As stored, what a plugin emits lacks kanald's fields.
    p = subprocess.run([str(KANALCTL), "validate", str(path)], capture_output=True, timeout=60)
    assert p.returncode == 1 and "line 1: field 'v' is required" in p.stdout.decode()
    p = subprocess.run([str(KANALCTL), "validate", str(tmp_path / "nope")], capture_output=True,
                       timeout=60)
    assert p.returncode == 1 and "nope" in p.stderr.decode()
    p = subprocess.run([str(KANALCTL), "validate", "a", "b"], capture_output=True, timeout=60)
    assert p.returncode == 2
