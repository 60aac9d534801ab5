#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""tools/spdx.py: the licence tag in every source file of the tree.

kanal is Apache-2.0 as a whole (LICENSE).  Each source file says so in its
first lines with an SPDX tag, so that a file copied out of the tree keeps
its licence.  `tools/spdx.py --check` lists the files without the tag (exit
1 when there are any; tests/e2e/test_license.py runs it), `--write` adds it:
C sources and headers get a comment line first, scripts after their #! line.

Sources are the files git tracks that are C, Python or shell, the Makefile,
the .pc and systemd templates, and the executable scripts under bench/,
tools/ and .ci/; test fixtures and data files are not sources.
"""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TAG = "SPDX-License-Identifier: Apache-2.0"
HASH_NAMES = {"Makefile"}
HASH_SUFFIXES = {".py", ".sh", ".in", ".yml", ".yaml", ".sysusers", ".tmpfiles", ".supp"}
SCRIPT_DIRS = ("bench/", "tools/", ".ci/")
SKIP_DIRS = ("tests/e2e/fixtures/", "tests/fuzz/corpus/", "tests/fuzz/regressions/")


def tracked():
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True,
                         capture_output=True).stdout.decode()
    return [p for p in out.split("\0") if p]


def style(path: str):
    """'c' or '#' for a source file, None for anything else."""
    if path.startswith(SKIP_DIRS) or path.startswith("debian/"):
        return None
    p = Path(path)
    if p.suffix in (".c", ".h"):
        return "c"
    if p.name in HASH_NAMES or p.suffix in HASH_SUFFIXES:
        return "#"
    if path.startswith(SCRIPT_DIRS) and os.access(ROOT / path, os.X_OK) and \
            (ROOT / path).read_bytes()[:2] == b"#!":
        return "#"
    return None


def has_tag(text: str) -> bool:
    return any(TAG in line for line in text.splitlines()[:4])


def add_tag(text: str, kind: str) -> str:
    if kind == "c":
        return f"/* {TAG} */\n" + text
    if text.startswith("#!"):
        first, _, rest = text.partition("\n")
        return f"{first}\n# {TAG}\n{rest}"
    return f"# {TAG}\n" + text


def main(argv):
    write = "--write" in argv
    missing = []
    for path in tracked():
        kind = style(path)
        if not kind or not (ROOT / path).is_file():
            continue
        text = (ROOT / path).read_text(errors="replace")
        if has_tag(text):
            continue
        if write:
            (ROOT / path).write_text(add_tag(text, kind))
        else:
            missing.append(path)
    for m in missing:
        print(f"{m}: no '{TAG}' in its first lines", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
