#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Turns turkish_sentiliteralnet.xml (npm nlptoolkit-sentinet, ISC) into
sentinet_tr.tsv: one single-word literal a line with a polarity, as
"word<TAB>pscore<TAB>nscore".  Literals with both scores 0 and multi-word
literals are left out (the analyser reads single tokens), which keeps the
file small.  Run: extract_sentinet.py turkish_sentiliteralnet.xml > sentinet_tr.tsv"""
import re
import sys

text = open(sys.argv[1], encoding="utf-8").read()
seen = {}
for m in re.finditer(r"<WORD><NAME>([^<]*)</NAME><PSCORE>([^<]*)</PSCORE><NSCORE>([^<]*)</NSCORE>", text):
    name, p, n = m.group(1).strip(), float(m.group(2)), float(m.group(3))
    if " " in name or not name or (p == 0 and n == 0):
        continue
    seen[name] = (p, n)
for name in sorted(seen):
    p, n = seen[name]
    print(f"{name}\t{p:g}\t{n:g}")
