# SPDX-License-Identifier: Apache-2.0
"""tools/layers.py, the check behind `make layers`: kanald's folders depend on
each other in the order tools/layers.txt writes down, and its modules in no
circle.  Each test builds a small source tree in a temporary folder, runs the
real script on it and reads its verdict and its words; the last one runs it
on kanald's own sources."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "layers.py"
LAYERS = ROOT / "tools" / "layers.txt"
SMALL = "base:\nstore: base\nnet: base\napi: store net\nmain: api\n"


def tree(tmp_path, files, layers=SMALL):
    top = tmp_path / "daemon"
    for name, text in files.items():
        p = top / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    lf = tmp_path / "layers.txt"
    lf.write_text(layers)
    return top, lf


def run(top, lf):
    r = subprocess.run([sys.executable, str(SCRIPT), "--layers", str(lf), str(top)],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def inc(*names):
    return "".join(f'#include "{n}"\n' for n in names) + "int x;\n"


# A tree that keeps the rules: every later case changes one file of it.
GOOD = {
    "base/util.h": "#pragma once\n",
    "base/util.c": inc("util.h"),
    "store/store.h": inc("util.h"),
    "store/store.c": inc("store.h", "util.h", "kanal/plugin.h", "lmdb.h"),
    "net/http.h": "#pragma once\n",
    "net/http.c": inc("http.h", "util.h"),
    "api/router.c": inc("store.h", "http.h", "feed.h"),
    "api/feed.h": "#pragma once\n",
    "api/feed.c": inc("feed.h", "feed_int.h"),
    "api/feed_int.h": inc("feed.h"),
    "main.c": inc("feed.h", "store.h", "util.h"),
}


def test_a_tree_in_order_passes(tmp_path):
    rc, out = run(*tree(tmp_path, GOOD))
    assert rc == 0, out
    assert "in order" in out


@pytest.mark.parametrize("path,text,line,include,why", [
    # a lower layer's source reaches up
    ("base/util.c", inc("util.h", "store.h"), 2, "store.h", "base may not use store"),
    # a header reaches up, so everyone who includes it does
    ("store/store.h", inc("util.h", "feed.h"), 2, "feed.h", "store may not use api"),
    # two layers side by side do not use each other
    ("net/http.c", inc("http.h", "store.h"), 2, "store.h", "net may not use store"),
    # nothing uses the entry point's folder
    ("api/feed.c", inc("feed.h", "../main.c"), 2, "../main.c", "api may not use main"),
])
def test_an_upward_include_fails_naming_file_and_include(tmp_path, path, text, line,
                                                         include, why):
    files = dict(GOOD, **{path: text})
    rc, out = run(*tree(tmp_path, files))
    assert rc == 1, out
    assert f'daemon/{path}:{line}: #include "{include}"' in out
    assert why in out
    # only that include is against the layers (it may close a cycle as well)
    assert out.count("goes against the layers") == 1


def test_a_cycle_between_modules_of_one_layer_fails_naming_both_includes(tmp_path):
    files = dict(GOOD)
    files["api/auth.h"] = "#pragma once\n"
    files["api/auth.c"] = inc("auth.h", "router.h")
    files["api/router.h"] = "#pragma once\n"
    files["api/router.c"] = inc("router.h", "auth.h")
    rc, out = run(*tree(tmp_path, files))
    assert rc == 1, out
    assert "modules form a cycle" in out
    assert 'daemon/api/auth.c:2: #include "router.h"' in out
    assert 'daemon/api/router.c:2: #include "auth.h"' in out


def test_a_cycle_through_headers_and_three_modules_fails(tmp_path):
    files = dict(GOOD)
    files["store/a.h"] = inc("b.h")
    files["store/b.h"] = inc("c.h")
    files["store/c.h"] = "#pragma once\n"
    files["store/c.c"] = inc("c.h", "a.h")
    rc, out = run(*tree(tmp_path, files))
    assert rc == 1, out
    line = next(l for l in out.splitlines() if "modules form a cycle" in l)
    for want in ('daemon/store/a.h:1: #include "b.h"', 'daemon/store/b.h:1: #include "c.h"',
                 'daemon/store/c.c:2: #include "a.h"'):
        assert want in line


def test_a_private_header_is_its_modules_own(tmp_path):
    # feed.c -> feed_int.h -> feed.h is one module, not a cycle (GOOD has it);
    # but another module's private header counts as that module.
    files = dict(GOOD)
    files["api/feed.c"] = inc("feed.h", "feed_int.h", "router_int.h")
    files["api/router_int.h"] = inc("feed.h")
    files["api/router.c"] = inc("router_int.h")
    rc, out = run(*tree(tmp_path, files))
    assert rc == 1, out
    assert 'daemon/api/feed.c:3: #include "router_int.h"' in out


@pytest.mark.parametrize("files,layers,want", [
    ({"extra/x.c": "int x;\n"}, SMALL, "folder extra is no layer"),
    ({"api/deep/x.c": "int x;\n"}, SMALL, "one folder deep"),
    ({"api/util.h": "#pragma once\n"}, SMALL, "util.h is also"),
    ({}, SMALL + "base: api\n", "one 'layer: lower layers' line per layer"),
    ({}, "base: store\nstore: base\nnet:\napi:\nmain:\n", "the layers form a cycle"),
    ({}, SMALL.replace("api: store net", "api: store web"), "web, which is no layer"),
])
def test_a_tree_or_layer_file_the_rules_cannot_read_fails(tmp_path, files, layers, want):
    rc, out = run(*tree(tmp_path, dict(GOOD, **files), layers))
    assert rc == 1, out
    assert want in out


def test_kanalds_sources_are_in_order():
    r = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                       timeout=60, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    # every folder of daemon/ is a layer of the real file
    layers = {l.split(":")[0] for l in LAYERS.read_text().splitlines()
              if l.strip() and not l.startswith("#")}
    folders = {p.name for p in (ROOT / "daemon").iterdir() if p.is_dir()}
    assert folders <= layers and folders


# Every module is handed a narrow context of its own (declared in its
# header), never the daemon: struct daemon is main.c's alone.
def test_only_main_knows_the_daemon():
    assert not (ROOT / "daemon" / "runtime" / "daemon.h").exists()
    sources = [f for f in (ROOT / "daemon").rglob("*.[ch]") if f.name != "main.c"]
    assert len(sources) > 50, sources
    offenders = [str(f.relative_to(ROOT)) for f in sources
                 if "struct daemon" in f.read_text() or '#include "daemon.h"' in f.read_text()]
    assert offenders == []
    assert "struct daemon {" in (ROOT / "daemon" / "main.c").read_text()
