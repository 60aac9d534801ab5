# SPDX-License-Identifier: Apache-2.0
"""libkanal as a CRM gets it: installed by make install, found by pkg-config,
exporting only its API, and the example consumer reading a store that the
real kanald writes, resuming from its saved cursor."""
import json
import os
import shutil
import subprocess
import threading

from kanal import BUILD, ROOT, message


def libdir(prefix):
    """Where `make install` puts libraries and .pc files: the multiarch
    folder (lib/x86_64-linux-gnu on amd64 Debian) when dpkg-architecture
    names one, else lib/."""
    arch = subprocess.run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"], capture_output=True,
                          text=True).stdout.strip()
    return prefix / "lib" / arch if arch else prefix / "lib"


def run_consumer(binary, store, cursor, env=None):
    p = subprocess.run([str(binary), str(store), str(cursor), "--once"], capture_output=True,
                       text=True, timeout=60, env=env)
    assert p.returncode == 0, p.stderr
    return [json.loads(line) for line in p.stdout.split("\n")[:-1]]


def test_example_consumer_resumes_from_its_cursor(kanald, tmp_path):
    consumer = BUILD / "sdk" / "consumer"
    cursor = tmp_path / "cursor"
    for i in range(3):
        assert kanald.post_hook(message(f"a{i}"))[0] == 200
    first = run_consumer(consumer, kanald.store, cursor)
    assert first == kanald.feed()
    assert cursor.read_text() == "3\n"
    # Started again: only what came since.
    assert kanald.post_hook(message("a3"))[0] == 200
    again = run_consumer(consumer, kanald.store, cursor)
    assert [r["external_id"] for r in again] == ["a3"]
    assert cursor.read_text() == "4\n"
    assert kanald.stop() == 0
    assert run_consumer(consumer, kanald.store, cursor) == []
    cursor.unlink()
    assert len(run_consumer(consumer, kanald.store, cursor)) == 4


def test_consumer_follows_until_stopped(kanald, tmp_path):
    cursor = tmp_path / "cursor"
    p = subprocess.Popen([str(BUILD / "sdk" / "consumer"), str(kanald.store), str(cursor)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(20, p.kill)  # readline() below must not hang the suite
    watchdog.start()
    try:
        assert kanald.post_hook(message("live-1"))[0] == 200
        line = p.stdout.readline()  # until the consumer prints the record
        assert line and json.loads(line)["external_id"] == "live-1"
    finally:
        watchdog.cancel()
        p.terminate()
        out, err = p.communicate(timeout=10)
    assert p.returncode == 0, err
    assert cursor.read_text() == "1\n"


def test_installed_library_builds_the_consumer_out_of_tree(kanald, tmp_path):
    prefix = tmp_path / "prefix"
    # The sanitizer build's library, and every program linking it, need the
    # sanitizer: install with it (make passes SANITIZE=1 down in MAKEFLAGS
    # when make runs this test; pytest run by hand does not).
    sanitized = "libasan" in subprocess.run(["ldd", str(BUILD / "libkanal.so.1")],
                                            capture_output=True, text=True).stdout
    subprocess.run(["make", "-s", "-C", str(ROOT), "install", f"PREFIX={prefix}",
                    f"BUILD={os.path.relpath(BUILD, ROOT)}", f"SANITIZE={int(sanitized)}"],
                   check=True, capture_output=True)
    lib = libdir(prefix)
    assert (prefix / "include" / "kanal" / "reader.h").exists()
    assert (lib / "libkanal.a").exists()
    assert os.readlink(lib / "libkanal.so") == "libkanal.so.1"
    assert os.access(prefix / "bin" / "kanalctl", os.X_OK)
    soname = subprocess.run(["readelf", "-d", str(lib / "libkanal.so.1")], capture_output=True,
                            text=True).stdout
    assert "Library soname: [libkanal.so.1]" in soname
    # Only the API is exported.
    syms = subprocess.run(["nm", "-D", "--defined-only", str(lib / "libkanal.so.1")],
                          capture_output=True, text=True).stdout
    exported = sorted(line.split()[-1] for line in syms.splitlines()
                      if line.split()[-2] == "T")
    assert exported == sorted(["kanal_reader_open", "kanal_reader_close", "kanal_reader_next",
                               "kanal_reader_get", "kanal_reader_last_seq",
                               "kanal_reader_wait", "kanal_reader_fd",
                               "kanal_reader_store_id", "kanal_reader_strerror"])

    work = tmp_path / "crm"
    work.mkdir()
    shutil.copy(ROOT / "sdk" / "examples" / "consumer.c", work)
    env = dict(os.environ, PKG_CONFIG_PATH=str(lib / "pkgconfig"))
    san = " -fsanitize=address,undefined" if sanitized else ""
    for cmd in ("cc -o consumer consumer.c $(pkg-config --cflags --libs kanal)" + san,
                "cc -o consumer-static consumer.c $(pkg-config --cflags kanal) "
                f"{lib}/libkanal.a $(pkg-config --libs lmdb)" + san):
        out = subprocess.run(cmd, shell=True, cwd=work, env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr

    assert kanald.post_hook(message("x1"))[0] == 200
    run_env = dict(os.environ, LD_LIBRARY_PATH=str(lib))
    recs = run_consumer(work / "consumer", kanald.store, tmp_path / "c1", env=run_env)
    assert [r["external_id"] for r in recs] == ["x1"]
    recs = run_consumer(work / "consumer-static", kanald.store, tmp_path / "c2")
    assert [r["external_id"] for r in recs] == ["x1"]
