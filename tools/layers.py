#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""tools/layers.py: kanald's sources depend on each other in one direction.

Usage: tools/layers.py [--layers FILE] [DIR]

DIR (default daemon/) holds one folder per layer and the entry point at its
top ("main").  FILE (default tools/layers.txt) says which layers each layer
may include from.  Every `#include "x.h"` is resolved to the folder that holds
x.h (the Makefile puts every folder on the include path, so the name alone
decides); headers outside DIR (kanal/plugin.h, libraries) are not layers.

Two rules, no exceptions:
  1. a file includes only from its own layer or one its layer may use;
  2. the modules (x.c, x.h and x_int.h are module x of their folder) form no
     cycle, so no two of them need each other.
Each breach is printed as "file:line: #include "x.h": why"; exit status 1.
"""
import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')
MAIN = "main"


class LayerFileError(Exception):
    pass


def read_layers(path):
    """{layer: set of layers it may use, directly or through others}."""
    direct = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, deps = line.partition(":")
        name = name.strip()
        if not sep or not name or name in direct:
            raise LayerFileError(f"{path}:{n}: want one 'layer: lower layers' line per layer")
        direct[name] = deps.split()
    for name, deps in direct.items():
        for d in deps:
            if d not in direct:
                raise LayerFileError(f"{path}: layer {name} uses {d}, which is no layer")
    allowed = {}

    def reach(name, trail):
        if name in trail:
            raise LayerFileError(f"{path}: the layers form a cycle: {' -> '.join(trail + [name])}")
        if name not in allowed:
            out = set()
            for d in direct[name]:
                out.add(d)
                out |= reach(d, trail + [name])
            allowed[name] = out
        return allowed[name]

    for name in direct:
        reach(name, [])
    return allowed


def module_of(path):
    stem = path.stem
    return stem[: -len("_int")] if stem.endswith("_int") else stem


def scan(top, allowed):
    """Returns (errors, files, edges): edges[(layer, module)] maps each module
    it needs to the first (file, line, include) that shows it."""
    errors = []
    files = {}  # path -> layer

    def show(p):  # daemon/store/store.h, however DIR was given
        return p.relative_to(top.parent) if p.is_relative_to(top.parent) else p

    for p in sorted(top.rglob("*")):
        if p.suffix not in (".c", ".h") or not p.is_file():
            continue
        rel = p.relative_to(top)
        if len(rel.parts) == 1:
            layer = MAIN
        elif len(rel.parts) == 2:
            layer = rel.parts[0]
        else:
            errors.append(f"{show(p)}: sources sit one folder deep (daemon/<layer>/x.c)")
            continue
        if layer not in allowed:
            errors.append(f"{show(p)}: folder {layer} is no layer of the layer file")
            continue
        files[p] = layer
    headers = {}
    for p in files:
        if p.suffix == ".h":
            headers.setdefault(p.name, []).append(p)
    for name, where in headers.items():
        if len(where) > 1:
            errors.append(f"{show(where[1])}: {name} is also {show(where[0])}; "
                          "a header's name must say which folder it is in")
    edges = {}
    count = 0
    for p, layer in files.items():
        me = (layer, module_of(p))
        edges.setdefault(me, {})
        for n, line in enumerate(p.read_text(errors="replace").splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            inc = m.group(1)
            target = None
            if "/" in inc:
                cand = (p.parent / inc).resolve()
                target = next((h for h in files if h.resolve() == cand), None)
            elif inc in headers:
                target = headers[inc][0]
            if target is None:
                continue  # outside DIR: the SDK, libraries
            count += 1
            tl = files[target]
            if tl != layer and tl not in allowed[layer]:
                may = " ".join(sorted(allowed[layer])) or "nothing"
                errors.append(f'{show(p)}:{n}: #include "{inc}" goes against the layers: '
                              f"{layer} may not use {tl} (it may use: {may})")
            dep = (tl, module_of(target))
            if dep != me:
                edges[me].setdefault(dep, (show(p), n, inc))
    return errors, files, edges, count


def cycles(edges):
    """One cycle per strongly connected group of modules (Tarjan)."""
    index, low, stack, on, groups = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(set(group))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    out = []
    for group in groups:
        start = min(group)
        # Shortest way back to start inside the group (breadth first).
        prev, queue = {start: None}, [start]
        found = None
        while queue and not found:
            v = queue.pop(0)
            for w in sorted(edges.get(v, {})):
                if w == start:
                    found = v
                    break
                if w in group and w not in prev:
                    prev[w] = v
                    queue.append(w)
        path = [found]
        while prev[path[-1]] is not None:
            path.append(prev[path[-1]])
        path.reverse()
        path.append(start)
        out.append([(a, b, edges[a][b]) for a, b in zip(path, path[1:])])
    return out


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--layers", type=Path, default=ROOT / "tools" / "layers.txt")
    ap.add_argument("dir", nargs="?", type=Path, default=ROOT / "daemon")
    args = ap.parse_args(argv)
    try:
        allowed = read_layers(args.layers)
    except (OSError, LayerFileError) as e:
        print(f"layers: {e}", file=sys.stderr)
        return 1
    top = args.dir.resolve()
    if not top.is_dir():
        print(f"layers: {args.dir}: no such folder", file=sys.stderr)
        return 1
    errors, files, edges, count = scan(top, allowed)
    for cyc in cycles(edges):
        names = " -> ".join(f"{a[0]}/{a[1]}" for a, _, _ in cyc) + f" -> {cyc[0][0][0]}/{cyc[0][0][1]}"
        how = "; ".join(f'{p}:{n}: #include "{inc}"' for _, _, (p, n, inc) in cyc)
        errors.append(f"modules form a cycle: {names} ({how})")
    for e in errors:
        print(f"layers: {e}", file=sys.stderr)
    if errors:
        print(f"layers: {len(errors)} breach(es) of {args.layers}", file=sys.stderr)
        return 1
    print(f"layers: {len(files)} files, {count} includes, in order")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
