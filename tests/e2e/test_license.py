# SPDX-License-Identifier: Apache-2.0
"""kanal is Apache-2.0: the LICENSE file, the SPDX tag in every source file
(tools/spdx.py), and the tag in the pkg-config files a build installs."""
import importlib.util
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("KANAL_BUILD") or ROOT / "build")


def spdx():
    spec = importlib.util.spec_from_file_location("spdx", ROOT / "tools" / "spdx.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_licence_is_apache_2():
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert "Apache-2.0" in (ROOT / "README.md").read_text()


def test_every_source_file_carries_the_tag():
    r = subprocess.run(["/usr/bin/python3", str(ROOT / "tools" / "spdx.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # And the check looks at the tree: the sources it counts are many.
    mod = spdx()
    kinds = [mod.style(p) for p in mod.tracked()]
    assert kinds.count("c") > 150 and kinds.count("#") > 50


def test_the_check_catches_a_file_without_the_tag():
    mod = spdx()
    assert mod.style("daemon/api/feed.c") == "c"
    assert mod.style("bench/ingest") == "#"
    assert mod.style("tests/e2e/fixtures/x.json") is None
    assert not mod.has_tag("/* The feed. */\nint x;\n")
    tagged = mod.add_tag("#!/usr/bin/python3\nprint(1)\n", "#")
    assert tagged.startswith("#!/usr/bin/python3\n# SPDX-License-Identifier: Apache-2.0\n")
    assert mod.has_tag(mod.add_tag("int x;\n", "c"))


def test_the_pkg_config_files_name_the_licence():
    for pc in ("kanal.pc", "kanal-plugin.pc"):
        text = (BUILD / pc).read_text()
        assert "SPDX-License-Identifier: Apache-2.0" in text, pc
        r = subprocess.run(["pkg-config", "--validate", str(BUILD / pc)], capture_output=True,
                           text=True)
        assert r.returncode == 0, r.stderr
