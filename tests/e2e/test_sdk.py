"""The SDK: after make install, the example plugin builds out of tree with
the one-line command from the guide, and kanald loads it."""
import os
import shutil
import subprocess

from kanal import ROOT


def test_example_plugin_builds_out_of_tree_and_loads(make_kanald, tmp_path):
    prefix = tmp_path / "prefix"
    build = os.environ.get("KANAL_BUILD", str(ROOT / "build"))
    subprocess.run(["make", "-s", "-C", str(ROOT), "install", f"PREFIX={prefix}",
                    f"BUILD={os.path.relpath(build, ROOT)}"], check=True, capture_output=True)
    assert (prefix / "include" / "kanal" / "plugin.h").exists()
    assert (prefix / "lib" / "kanal" / "plugins" / "webhook.so").exists()
    assert (prefix / "lib" / "systemd" / "system" / "kanald.service").exists()

    work = tmp_path / "out-of-tree"
    work.mkdir()
    shutil.copy(ROOT / "sdk" / "examples" / "hello.c", work)
    env = dict(os.environ, PKG_CONFIG_PATH=str(prefix / "lib" / "pkgconfig"))
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


def test_stage_examples_build_out_of_tree_and_serve(make_kanald, tmp_path):
    """The example processor (tagger) and sink (filesink) build with the
    command in their header comments and work in kanald together."""
    import json
    import time
    prefix = tmp_path / "prefix"
    build = os.environ.get("KANAL_BUILD", str(ROOT / "build"))
    subprocess.run(["make", "-s", "-C", str(ROOT), "install", f"PREFIX={prefix}",
                    f"BUILD={os.path.relpath(build, ROOT)}"], check=True, capture_output=True)
    work = tmp_path / "out-of-tree"
    work.mkdir()
    env = dict(os.environ, PKG_CONFIG_PATH=str(prefix / "lib" / "pkgconfig"))
    for name in ("tagger", "filesink"):
        shutil.copy(ROOT / "sdk" / "examples" / f"{name}.c", work)
        cmd = (f"cc -shared -fPIC -o {name}.so {name}.c "
               "$(pkg-config --cflags --libs kanal-plugin jansson)")
        out = subprocess.run(cmd, shell=True, cwd=work, env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
    archive = tmp_path / "archive.jsonl"
    k = make_kanald(sources="[source e1]\nplugin = echo\ngreeting = hi\n\n"
                            "[processor tags]\nplugin = tagger\nwords = refund\n\n"
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
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        lines = archive.read_text().splitlines() if archive.exists() else []
        if len(lines) == 2:
            break
        time.sleep(0.05)
    got = [json.loads(line) for line in lines]
    assert got == k.feed()
    assert [r.get("annotations") for r in got] == [{"tags": {"tags": ["refund"]}}, None]
