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
