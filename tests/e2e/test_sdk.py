# SPDX-License-Identifier: Apache-2.0
"""The SDK: after make install, the example plugin builds out of tree with
the one-line command from the guide, and kanald loads it."""
import base64
import json
import os
from pathlib import Path
import shutil
import subprocess

from kanal import ROOT, sign


def sanitized(build) -> bool:
    """Whether the build under test is the ASan+UBSan one: `make install`
    must then be told SANITIZE=1, or it relinks kanald without them, and
    plugins built against its kit link their runtimes."""
    dyn = subprocess.run(["readelf", "-d", str(Path(build) / "kanald")], capture_output=True,
                         text=True).stdout
    return "libasan" in dyn


def install_cmd(prefix, build):
    cmd = ["make", "-s", "-C", str(ROOT), "install", f"PREFIX={prefix}",
           f"BUILD={os.path.relpath(build, ROOT)}"]
    return cmd + (["SANITIZE=1"] if sanitized(build) else [])


def libdir(prefix):
    """Where `make install` puts libraries and .pc files: the multiarch
    folder (lib/x86_64-linux-gnu on amd64 Debian) when dpkg-architecture
    names one, else lib/."""
    arch = subprocess.run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"], capture_output=True,
                          text=True).stdout.strip()
    return prefix / "lib" / arch if arch else prefix / "lib"


def test_example_plugin_builds_out_of_tree_and_loads(make_kanald, tmp_path):
    prefix = tmp_path / "prefix"
    build = os.environ.get("KANAL_BUILD", str(ROOT / "build"))
    subprocess.run(install_cmd(prefix, build), check=True, capture_output=True)
    assert (prefix / "include" / "kanal" / "plugin.h").exists()
    assert (prefix / "lib" / "kanal" / "plugins" / "webhook.so").exists()
    assert (prefix / "lib" / "systemd" / "system" / "kanald.service").exists()
    # The man pages, with this installation's paths in them.
    for page in ("man8/kanald.8", "man5/kanal.conf.5", "man1/kanalctl.1", "man7/kanal-plugin.7"):
        assert (prefix / "share" / "man" / page).is_file(), page
    assert f"{prefix}/lib/kanal/plugins" in (prefix / "share" / "man" / "man5" / "kanal.conf.5").read_text()

    work = tmp_path / "out-of-tree"
    work.mkdir()
    shutil.copy(ROOT / "sdk" / "examples" / "hello.c", work)
    env = dict(os.environ, PKG_CONFIG_PATH=str(libdir(prefix) / "pkgconfig"))
    cmd = "cc -shared -fPIC -o hello.so hello.c $(pkg-config --cflags --libs kanal-plugin)"
    out = subprocess.run(cmd, shell=True, cwd=work, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    # Only the entry point is exported.
    syms = subprocess.run(["nm", "-D", "--defined-only", str(work / "hello.so")],
                          capture_output=True, text=True).stdout
    assert "kanal_plugin_entry" in syms and "hello_http" not in syms

    k = make_kanald(sources="[source hi]\nplugin = hello\ngreeting = Merhaba\n", plugins=())
    k.link_plugin(work / "hello.so")
    k.start()
    status, _, body = k.request("GET", "/hooks/hi")
    assert (status, body) == (200, b"Merhaba")
    status, _, body = k.request("POST", "/hooks/hi", b"first visit")
    assert status == 200
    recs = k.feed()
    assert len(recs) == 1 and recs[0]["text"] == "first visit" and recs[0]["channel"] == "hello"


def _install(tmp_path):
    prefix = tmp_path / "prefix"
    build = os.environ.get("KANAL_BUILD", str(ROOT / "build"))
    subprocess.run(install_cmd(prefix, build), check=True, capture_output=True)
    return prefix


def test_kit_example_builds_from_installed_files_and_keeps_its_promises(make_kanald, tmp_path):
    """sdk/examples/minimal.c, the guide's complete plugin, builds against the
    installed header and kit alone (pkg-config kanal-plugin), and does what it
    says: a signed message is stored and answered with its seq, a wrong or
    missing signature is refused with nothing stored, an authentic body that
    is no message is kept as unknown with raw as JSON (or as text), and a
    redelivery of it is one record."""
    prefix = _install(tmp_path)
    assert (prefix / "include" / "kanal" / "kit.h").exists()
    assert (libdir(prefix) / "libkanal-plugin-kit.a").exists()
    work = tmp_path / "kit-example"
    work.mkdir()
    shutil.copy(ROOT / "sdk" / "examples" / "minimal.c", work)
    env = dict(os.environ, PKG_CONFIG_PATH=str(libdir(prefix) / "pkgconfig"))
    cmd = "cc -shared -fPIC -o minimal.so minimal.c $(pkg-config --cflags --libs kanal-plugin)"
    if sanitized(os.environ.get("KANAL_BUILD", str(ROOT / "build"))):
        # The sanitizer build installs a kit built with ASan+UBSan: link their runtimes.
        cmd += " -fsanitize=address,undefined"
    out = subprocess.run(cmd, shell=True, cwd=work, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    syms = subprocess.run(["nm", "-D", "--defined-only", str(work / "minimal.so")],
                          capture_output=True, text=True).stdout.split()
    assert "kanal_plugin_entry" in syms
    assert not [s for s in syms if s.startswith("kanal_kit_")]  # the kit stays inside

    secret = "kit-secret"
    # The second source's header option reaches its state through the kit's binding.
    k = make_kanald(sources=f"[source mini]\nplugin = minimal\ninsecure_inline_secrets = yes\n"
                            f"secret = {secret}\n\n"
                            f"[source mini2]\nplugin = minimal\ninsecure_inline_secrets = yes\n"
                            f"secret = other-secret\nheader = X-Other-Sig\n", plugins=())
    k.link_plugin(work / "minimal.so")
    k.start()

    def post(body, signature=None):
        sig = signature if signature is not None else sign(body, secret)
        h = {"Content-Type": "application/json"}
        if sig:
            h["X-Signature"] = sig
        status, _, resp = k.request("POST", "/hooks/mini", body, h)
        return status, json.loads(resp)

    # Escapes of every kind survive the kit's reader and writer.
    text = 'quote " backslash \\ newline \n tab \t unicode \u00e7 \U0001F600 ctl \u0001'
    body = json.dumps({"id": "m-1", "from": "email:Ayse@Example.com", "text": text}).encode()
    status, resp = post(body)
    assert status == 200 and len(resp["seqs"]) == 1
    recs = k.feed()
    assert len(recs) == 1 and recs[0]["kind"] == "message" and recs[0]["text"] == text

    # Wrong, missing, or right-for-another-body signatures: 401, nothing stored.
    bad = json.dumps({"id": "m-2", "from": "email:x@example.com", "text": "no"}).encode()
    for sig in ("sha256=" + "0" * 64, "", "sha1=abc", sign(body, secret), sign(bad, "other")):
        status, resp = post(bad, sig)
        assert status == 401 and resp["error"]["code"] == "bad_signature"
    assert len(k.feed()) == 1

    # Authentic but no message: kept as unknown, 202; raw as JSON when it is JSON.
    odd = [(b'{"hello":"world","n":[1,2,3]}', {"hello": "world", "n": [1, 2, 3]}),
           (b'[1,2', "[1,2"),                       # broken JSON: kept as text
           (b'{"id":"m-3","from":"nohandle","text":"x"}', None),  # refused record
           (b'\xff\xfe binary', None),              # not UTF-8: base64
           (b'', "")]
    for payload, raw in odd:
        status, resp = post(payload)
        assert status == 202 and resp["stored_as"] == "unknown", (payload, resp)
        rec = k.feed()[-1]
        assert rec["kind"] == "unknown" and rec["seq"] == resp["seqs"][0]
        assert rec["meta"]["body_size"] == len(payload) and rec["meta"]["reason"]
        assert rec["external_id"].startswith("minimal-")
        if raw is not None:
            assert rec["raw"] == raw
        elif payload.startswith(b"\xff"):
            assert base64.b64decode(rec["raw"]["base64"]) == payload
        else:
            assert rec["raw"] == json.loads(payload)
    n = len(k.feed())
    status, resp = post(odd[0][0])  # a redelivery is the same record
    assert status == 202 and len(k.feed()) == n

    # Options bound by offsetof: mini2 reads its own secret and header.
    body = json.dumps({"id": "o-1", "from": "email:o@example.com", "text": "hi"}).encode()
    for headers, want in (({"X-Signature": sign(body, "other-secret")}, 401),
                          ({"X-Other-Sig": sign(body, secret)}, 401),
                          ({"X-Other-Sig": sign(body, "other-secret")}, 200)):
        status, _, _ = k.request("POST", "/hooks/mini2", body, headers)
        assert status == want, headers
    assert [r["source"] for r in k.feed() if r.get("external_id") == "o-1"] == ["mini2"]


def test_stage_examples_build_out_of_tree_and_serve(make_kanald, tmp_path):
    """The example processor (tagger) and sink (filesink) build with the
    command in their header comments and work in kanald together."""
    import json
    import time
    prefix = _install(tmp_path)
    work = tmp_path / "out-of-tree"
    work.mkdir()
    env = dict(os.environ, PKG_CONFIG_PATH=str(libdir(prefix) / "pkgconfig"))
    for name in ("tagger", "filesink"):
        shutil.copy(ROOT / "sdk" / "examples" / f"{name}.c", work)
        cmd = (f"cc -shared -fPIC -o {name}.so {name}.c "
               "$(pkg-config --cflags --libs kanal-plugin jansson)")
        if sanitized(os.environ.get("KANAL_BUILD", str(ROOT / "build"))):
            cmd += " -fsanitize=address,undefined"  # the installed kit is built with them
        out = subprocess.run(cmd, shell=True, cwd=work, env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
    archive = tmp_path / "archive.jsonl"
    k = make_kanald(sources="[source e1]\nplugin = echo\ngreeting = hi\n\n"
                            "[processor tags]\nplugin = tagger\nbudget = 10s\nwords = refund\n\n"
                            f"[sink archive]\nplugin = filesink\npath = {archive}\n",
                    plugins=(), test_plugins=("echo",))
    k.link_plugin(work / "tagger.so")
    k.link_plugin(work / "filesink.so")
    k.start()
    for i, text in enumerate(["refund please", "thanks"]):
        rec = {"kind": "message", "direction": "inbound", "external_id": f"m{i}",
               "from": {"handle": "email:a@example.com"}, "text": text}
        status, _, body = k.request("POST", "/hooks/e1", json.dumps(rec).encode())
        assert status == 200, body
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        lines = archive.read_text().splitlines() if archive.exists() else []
        if len(lines) == 2:
            break
        time.sleep(0.05)
    got = [json.loads(line) for line in lines]
    assert got == k.feed()
    assert [r.get("annotations") for r in got] == [{"tags": {"tags": ["refund"]}}, None]
