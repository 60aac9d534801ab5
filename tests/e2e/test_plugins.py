# SPDX-License-Identifier: Apache-2.0
"""The loader refuses broken plugins with one clear line each, and keeps
serving the good plugin in the same directory."""
import json

from kanal import KANALD, Kanald

BROKEN = {
    "badmajor.so": "major differs",
    "newminor.so": "newer than kanald",
    "toosmall.so": "descriptor is 16 bytes",
    "noentry.so": "no kanal_plugin_entry symbol",
    "zz_dup.so": "plugin name 'echo' is already taken",
}

ECHO = ("[source e1]\nplugin = echo\ngreeting = merhaba\ninsecure_inline_secrets = yes\n"
        "token = t0k3n\n")


def test_broken_plugins_are_refused_and_the_good_one_serves(make_kanald):
    k = make_kanald(sources=ECHO + "\n[source bad-init]\nplugin = initfail\ngreeting = x\n",
                    plugins=(), test_plugins=("echo", "badmajor", "newminor", "toosmall",
                                              "noentry", "initfail", "zz_dup"))
    k.start()
    log = k.log()
    for so, reason in BROKEN.items():
        lines = [l for l in log.splitlines() if "refused" in l and so in l]
        assert len(lines) == 1, f"{so}: expected one refusal line, log:\n{log}"
        assert reason in lines[0], lines[0]
    init_lines = [l for l in log.splitlines() if "[bad-init]" in l and "failed to init" in l]
    assert len(init_lines) == 1 and "initfail.so" in init_lines[0], log

    status, _, body = k.request("GET", "/hooks/e1")
    assert status == 200
    assert json.loads(body)["greeting"] == "merhaba"
    status, _, _ = k.request("GET", "/hooks/bad-init")
    assert status == 404
    rec = {"kind": "message", "direction": "inbound", "external_id": "m1",
           "from": {"handle": "email:a@example.com"}}
    status, _, body = k.request("POST", "/hooks/e1", json.dumps(rec).encode())
    assert status == 200, body
    assert [r["external_id"] for r in k.feed()] == ["m1"]


def test_plugin_options_reach_the_plugin_with_defaults(make_kanald):
    k = make_kanald(sources=ECHO + "interval = 5m\n", plugins=(), test_plugins=("echo",)).start()
    status, _, body = k.request("GET", "/hooks/e1")
    got = json.loads(body)
    assert got == {"greeting": "merhaba", "token": "t0k3n", "count": 3, "interval_ms": 300000,
                   "cursor": ""}


def test_emit_with_cursor_commits_state(make_kanald):
    k = make_kanald(sources=ECHO, plugins=(), test_plugins=("echo",)).start()
    rec = {"kind": "message", "direction": "inbound", "external_id": "c1",
           "from": {"handle": "email:a@example.com"}}
    status, _, _ = k.request("POST", "/hooks/e1?cursor=uid-42", json.dumps(rec).encode())
    assert status == 200
    assert k.stop() == 0
    k.start()
    status, _, body = k.request("GET", "/hooks/e1")
    assert json.loads(body)["cursor"] == "uid-42"


def test_invalid_record_from_a_plugin_is_refused_with_the_field_named(make_kanald):
    k = make_kanald(sources=ECHO, plugins=(), test_plugins=("echo",)).start()
    good = {"kind": "message", "direction": "inbound", "external_id": "ok1",
            "from": {"handle": "email:a@example.com"}}
    bad = dict(good, external_id="bad1", to=[{"handle": "email:b@example.com"},
                                             {"handle": "phone:12ab"}])
    status, _, body = k.request("POST", "/hooks/e1", json.dumps([good, bad]).encode())
    assert status == 422, body
    assert "record does not match" in json.loads(body)["refused"]
    k.wait_log(r"\[e1\] emit refused: record 2 of 2: field 'to\[1\]\.handle'")
    # Nothing of the batch was written, not even the good record.
    assert k.feed() == []


def test_version_and_help():
    import subprocess
    out = subprocess.run([str(KANALD), "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "plugin ABI 1.2" in out.stdout
    out = subprocess.run([str(KANALD), "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--check-config" in out.stdout
    out = subprocess.run([str(KANALD), "--bogus"], capture_output=True, text=True)
    assert out.returncode == 2
