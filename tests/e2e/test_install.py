# SPDX-License-Identifier: Apache-2.0
"""make install and make uninstall: libraries and .pc files go to the
multiarch folder, and uninstall removes exactly what install put there,
keeping what the operator wrote (kanal.conf) and anything not kanal's."""
import os
import subprocess
from pathlib import Path

from kanal import BUILD, ROOT


def multiarch():
    return subprocess.run(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"], capture_output=True,
                          text=True, check=True).stdout.strip()


def make(target, dest: Path, prefix="/usr/local", **extra):
    # Install the build under test as it was built: the sanitizer build's
    # objects link only with the sanitizer (the new PREFIX rebuilds main.o).
    sanitized = "libasan" in subprocess.run(["ldd", str(BUILD / "libkanal.so.1")],
                                            capture_output=True, text=True).stdout
    args = [f"SANITIZE={int(sanitized)}"] + [f"{k}={v}" for k, v in extra.items()]
    return subprocess.run(["make", "-s", "-C", str(ROOT), target, f"DESTDIR={dest}",
                           f"PREFIX={prefix}", f"BUILD={os.path.relpath(BUILD, ROOT)}", *args],
                          capture_output=True, text=True)


def files(root: Path):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.is_file() or p.is_symlink())


def test_libraries_and_pc_files_go_to_the_multiarch_folder(tmp_path):
    dest = tmp_path / "dest"
    r = make("install", dest, prefix="/usr")
    assert r.returncode == 0, r.stderr
    lib = dest / "usr" / "lib" / multiarch()
    for name in ("libkanal.so.1", "libkanal.so", "libkanal.a", "libkanal-plugin-kit.a",
                 "pkgconfig/kanal.pc", "pkgconfig/kanal-plugin.pc"):
        assert (lib / name).exists(), name
    # Nothing of libkanal or the kit is left directly in /usr/lib.
    assert not [p.name for p in (dest / "usr" / "lib").iterdir() if p.name.startswith("libkanal")]
    for pc in ("kanal.pc", "kanal-plugin.pc"):
        assert f"libdir=/usr/lib/{multiarch()}\n" in (lib / "pkgconfig" / pc).read_text()
    # The manual goes to /usr/share/doc/kanal, laid out as in the repository.
    doc = dest / "usr" / "share" / "doc" / "kanal"
    assert (doc / "README.md").read_text() == (ROOT / "README.md").read_text()
    assert (doc / "docs" / "operations.md").is_file()
    assert (doc / "docs" / "channels" / "webhook.md").is_file()


def test_uninstall_removes_what_install_put_there(tmp_path):
    for prefix in ("/usr/local", "/usr", "/opt/kanal"):
        dest = tmp_path / prefix.strip("/").replace("/", "_")
        # What is not kanal's, and the operator's own files, must survive.
        (dest / prefix.lstrip("/") / "bin").mkdir(parents=True)
        (dest / prefix.lstrip("/") / "bin" / "other-tool").write_text("#!/bin/sh\n")
        r = make("install", dest, prefix=prefix)
        assert r.returncode == 0, r.stderr
        installed = files(dest)
        assert len(installed) > 40, installed
        etc = dest / ("etc" if prefix == "/usr" else prefix.lstrip("/") + "/etc") / "kanal"
        (etc / "kanal.conf").write_text("[kanald]\n")

        r = make("uninstall", dest, prefix=prefix)
        assert r.returncode == 0, r.stderr
        left = files(dest)
        assert sorted(left) == sorted([str((etc / "kanal.conf").relative_to(dest)),
                                       prefix.lstrip("/") + "/bin/other-tool"]), left
        # kanal's own folders are gone once empty; the one with the
        # operator's config stays.
        assert not list(dest.rglob("kanal/plugins")) and not list(dest.rglob("include/kanal"))
        assert not list(dest.rglob("share/kanal")) and not list(dest.rglob("doc/kanal"))
        assert etc.is_dir()

        # Run again on an emptied tree: nothing to do is not an error.
        r = make("uninstall", dest, prefix=prefix)
        assert r.returncode == 0, r.stderr
