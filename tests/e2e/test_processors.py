# SPDX-License-Identifier: Apache-2.0
"""[processor NAME] sections: processors see each record before it is
committed, in config order; they annotate it (annotations.<name>), drop it,
or fail without losing it.  Plugins are the test 'stages' variant and the
SDK's tagger example, run in the real kanald."""
import json
import re

from kanal import BUILD, message, validate_record

ECHO = "[source e1]\nplugin = echo\ngreeting = hi\n"


def metric(k, name, **labels):
    status, _, body = k.request("GET", "/metrics")
    assert status == 200
    want = ",".join(f'{a}="{b}"' for a, b in labels.items())
    for line in body.decode().splitlines():
        m = re.match(rf"{name}\{{{re.escape(want)}\}} (\S+)$", line)
        if m:
            return float(m.group(1))
    raise AssertionError(f"no {name}{{{want}}} in /metrics:\n{body.decode()}")


def post(k, rec, source="e1"):
    status, _, body = k.request("POST", f"/hooks/{source}", json.dumps(rec).encode())
    return status, json.loads(body)


def start(make_kanald, processors, sources=ECHO):
    return make_kanald(sources=sources + "\n" + processors, plugins=(),
                       test_plugins=("echo", "stages")).start()


def test_annotations_are_stored_in_config_order(make_kanald):
    k = start(make_kanald, "[processor first]\nplugin = stages\nbudget = 10s\n\n"
                           "[processor second]\nplugin = stages\nbudget = 10s\nexpect = first\n\n"
                           "[processor third]\nplugin = stages\nbudget = 10s\nexpect = nobody\n")
    for i in range(3):
        status, body = post(k, message(f"m{i}", text=f"hello {i}"))
        assert status == 200, body
    recs = k.feed()
    assert [r["external_id"] for r in recs] == ["m0", "m1", "m2"]
    for i, r in enumerate(recs):
        validate_record(r)
        ann = r["annotations"]
        assert list(ann) == ["first", "second", "third"], ann
        assert ann["first"] == {"n": i + 1, "saw": False}
        # The second runs after the first and sees its annotation.
        assert ann["second"] == {"n": i + 1, "saw": True}
        assert ann["third"]["saw"] is False
    assert metric(k, "kanal_processor_records_total", processor="second") == 3


def test_a_channel_cannot_set_annotations_itself(make_kanald):
    k = start(make_kanald, "")
    status, body = post(k, message("forged", annotations={"first": {"n": 1}}))
    assert status == 422, body
    k.wait_log("annotations")  # the log reader may not have its line yet
    assert k.feed() == []


def test_drop_stores_nothing_and_is_counted(make_kanald):
    k = start(make_kanald, "[processor spam]\nplugin = stages\nbudget = 10s\nbehave = drop\nword = SPAM\n\n"
                           "[processor after]\nplugin = stages\nbudget = 10s\n")
    status, body = post(k, [message("keep1"), message("drop1", text="buy SPAM now"),
                            message("keep2"), message("drop2", text="SPAM again")])
    assert status == 200, body
    # The emit callback still gets one seq per record emitted: 0 for a dropped one.
    assert body["n"] == 4
    status, body = post(k, message("drop3", text="only SPAM"))
    assert status == 200, body
    recs = k.feed()
    assert [r["external_id"] for r in recs] == ["keep1", "keep2"]
    # A dropped record goes no further: the next processor never saw it.
    assert [r["annotations"]["after"]["n"] for r in recs] == [1, 2]
    assert metric(k, "kanal_processor_dropped_total", processor="spam") == 3
    assert metric(k, "kanal_processor_dropped_total", processor="after") == 0
    assert re.search(r"\[spam\].*dropped record e1/message/drop1", k.log())


def test_failing_processors_never_lose_the_record(make_kanald):
    k = start(make_kanald,
              "[processor err]\nplugin = stages\nbudget = 10s\nbehave = error\n\n"
              "[processor bad]\nplugin = stages\nbudget = 10s\nbehave = invalid\n\n"
              "[processor slow]\nplugin = stages\nbehave = slow\nspin = 30ms\nbudget = 5ms\n\n"
              "[processor good]\nplugin = stages\nbudget = 10s\n")
    for i in range(2):
        status, body = post(k, message(f"f{i}"))
        assert status == 200, body
    recs = k.feed()
    assert [r["external_id"] for r in recs] == ["f0", "f1"]
    for r in recs:
        validate_record(r)
        # Only the processor that behaved left an annotation.
        assert list(r["annotations"]) == ["good"], r
    assert metric(k, "kanal_processor_failures_total", processor="err", reason="error") == 2
    assert metric(k, "kanal_processor_failures_total", processor="bad", reason="invalid") == 2
    assert metric(k, "kanal_processor_failures_total", processor="slow", reason="budget") == 2
    assert metric(k, "kanal_processor_failures_total", processor="good", reason="budget") == 0
    log = k.log()
    assert re.search(r"\[slow\].*kept without this processor's annotation: took \d+ us, over its "
                     r"budget of 5 ms", log), log
    assert re.search(r"\[bad\].*annotation is not JSON", log), log


def test_match_limits_what_a_processor_sees(make_kanald):
    sources = ECHO + "\n[source e2]\nplugin = echo\ngreeting = hi\n"
    k = start(make_kanald,
              "[processor only]\nplugin = stages\nbudget = 10s\nmatch = source:e2 kind:message,comment\n",
              sources=sources)
    assert post(k, message("a"))[0] == 200                       # wrong source
    assert post(k, message("b"), source="e2")[0] == 200          # matches
    ev = {"kind": "reaction", "direction": "inbound", "external_id": "c",
          "from": {"handle": "email:x@example.com"}}
    assert post(k, ev, source="e2")[0] == 200                    # wrong kind
    got = {r["external_id"]: r.get("annotations") for r in k.feed()}
    assert got == {"a": None, "b": {"only": {"n": 1, "saw": False}}, "c": None}


def test_bad_match_and_wrong_role_are_config_errors(make_kanald):
    k = make_kanald(sources=ECHO + "\n[processor p]\nplugin = stages\nbudget = 10s\nmatch = colour:red\n",
                    plugins=(), test_plugins=("echo", "stages"))
    k.expect_exit = True
    k.start(wait=False)
    k.wait_log(r"'match' = 'colour:red': a field must be source, channel or kind")
    assert k.proc.wait(timeout=30) != 0
    k2 = make_kanald("k2", sources=ECHO + "\n[processor p]\nplugin = echo\n",
                     plugins=(), test_plugins=("echo",))
    k2.expect_exit = True
    k2.start(wait=False)
    k2.wait_log(r"plugin 'echo' .* cannot serve \[processor p\]: it has no process callback")
    assert k2.proc.wait(timeout=30) != 0


def test_a_1_0_plugin_still_loads_and_emits(make_kanald):
    k = make_kanald(sources="[source old]\nplugin = v10\ngreeting = eski\n", plugins=(),
                    test_plugins=("v10",)).start()
    status, _, body = k.request("GET", "/hooks/old")
    assert status == 200 and json.loads(body)["greeting"] == "eski"
    status, body = post(k, message("v1"), source="old")
    assert status == 200, body
    assert [r["external_id"] for r in k.feed()] == ["v1"]
    # As a processor it is refused with the reason, at config time.
    k.stop()
    k.write_config(sources="[source old]\nplugin = v10\ngreeting = eski\n\n"
                           "[processor p]\nplugin = v10\n")
    k.expect_exit = True
    k.start(wait=False)
    k.wait_log(r"cannot serve \[processor p\]: it has no process callback \(not a processor, "
               r"or built for ABI 1\.0\)")
    assert k.proc.wait(timeout=30) != 0


def test_the_sdk_tagger_tags_matching_text(make_kanald):
    k = make_kanald(sources=ECHO + "\n[processor tags]\nplugin = tagger\nbudget = 10s\n"
                    "words = refund,broken\n",
                    plugins=(), test_plugins=("echo",))
    k.link_plugin(BUILD / "sdk" / "tagger.so")
    k.start()
    assert post(k, message("t1", text="I want a REFUND, it is broken"))[0] == 200
    assert post(k, message("t2", text="all good"))[0] == 200
    got = {r["external_id"]: r.get("annotations") for r in k.feed()}
    assert got == {"t1": {"tags": {"tags": ["refund", "broken"]}}, "t2": None}


def test_reload_follows_processor_sections(make_kanald):
    k = start(make_kanald, "[processor a]\nplugin = stages\nbudget = 10s\n")
    assert post(k, message("r1"))[0] == 200
    k.write_config(sources=ECHO + "\n[processor b]\nplugin = stages\nbudget = 10s\n\n"
                                  "[processor a]\nplugin = stages\nbudget = 10s\nexpect = b\n")
    mark = k.log_mark()
    k.hup()
    k.wait_log(r"configuration reloaded", start=mark)
    assert post(k, message("r2"))[0] == 200
    got = {r["external_id"]: r["annotations"] for r in k.feed()}
    assert got["r1"] == {"a": {"n": 1, "saw": False}}
    # b is new and first now; a was changed, so restarted (its count starts again).
    assert got["r2"] == {"b": {"n": 1, "saw": False}, "a": {"n": 1, "saw": True}}


def test_a_real_channel_answers_seq_0_for_a_dropped_record(make_kanald):
    """The webhook plugin answers the seqs of what it emitted: a record a
    processor dropped is there with seq 0, the others with their seq."""
    from kanal import webhook_source
    k = make_kanald(sources=webhook_source() +
                    "\n[processor spam]\nplugin = stages\nbudget = 10s\nbehave = drop\nword = SPAM\n",
                    plugins=("webhook",), test_plugins=("stages",)).start()
    status, _, body = k.post_hook([message("w1"), message("w2", text="SPAM"), message("w3")])
    assert status == 200, body
    assert json.loads(body)["seqs"] == [1, 0, 2]
    assert [r["external_id"] for r in k.feed()] == ["w1", "w3"]
    # All dropped: still answered 200, nothing stored.
    status, _, body = k.post_hook(message("w4", text="SPAM only"))
    assert status == 200, body
    assert json.loads(body)["seqs"] == [0]
    assert len(k.feed()) == 2
