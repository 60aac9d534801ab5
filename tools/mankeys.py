#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The key lists of man/kanal.conf.5.scd, made from the option tables.

kanal.conf(5) lists every key kanald accepts.  Its prose is written by hand;
the key entries between the marker comments

    ; keys: NAME
    ...
    ; end of keys

are made by this script from the tables themselves, so that the page cannot
drift from the code:

  - kanald, api, source, processor, sink, audience: the C tables of
    daemon/runtime/config.c (kanald_options, api_options,
    config_common_options, config_processor_options, config_sink_options,
    config_audience_options);
  - plugin NAME: what `kanald --plugin-help NAME` prints for the in-tree
    plugin plugins/NAME (its own options, read from the built .so).

    tools/mankeys.py [--kanald build/kanald] [--plugin-dir build/plugins] --write
        rewrite the marked blocks of the page
    tools/mankeys.py ... --check
        exit 1, naming each difference, when the page is not what --write
        would make (tests/e2e/test_man.py checks the same, key by key)
"""
import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "man" / "kanal.conf.5.scd"
CONFIG_C = ROOT / "daemon" / "runtime" / "config.c"

# Marker block name -> C table of daemon/runtime/config.c.
CORE = {"kanald": "kanald_options", "api": "api_options", "source": "config_common_options",
        "processor": "config_processor_options", "sink": "config_sink_options",
        "audience": "config_audience_options"}
# Defaults written as a macro: what the page says instead (the Makefile puts
# the installation's path in for @PLUGINDIR@).
MACROS = {"KANAL_PLUGIN_DIR": "@PLUGINDIR@"}
TYPES = {"KANAL_OPT_STRING": "string", "KANAL_OPT_SECRET": "secret", "KANAL_OPT_INT": "int",
         "KANAL_OPT_BOOL": "bool", "KANAL_OPT_DURATION": "duration", "KANAL_OPT_SIZE": "size",
         "KANAL_OPT_ENUM": "enum", "KANAL_OPT_URL": "url"}
BEGIN = re.compile(r"^; keys: ([\w-]+)$", re.M)
END = "; end of keys"
TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[A-Za-z_]\w*|-?\d+|[{},]|/\*.*?\*/|//[^\n]*|\s+', re.S)


def c_string(tok):
    return bytes(tok[1:-1], "utf-8").decode("unicode_escape")


def c_tables(src):
    """{table name: [option]} of every `struct kanal_option NAME[] = {...};`
    of a C source; an option is a dict of name, type, default (None when
    unset), required, help, choices.  Adjacent string literals are joined."""
    tables = {}
    for m in re.finditer(r"struct kanal_option\s+(\w+)\[\]\s*=\s*\{(.*?)\n\};", src, re.S):
        entries, fields, cur, depth = [], None, None, 0
        for tok in TOKEN.findall(m.group(2)):
            if tok.isspace() or tok.startswith(("/*", "//")):
                continue
            if tok == "{":
                depth += 1
                fields, cur = [], None
            elif tok == "}":
                depth -= 1
                if cur is not None:
                    fields.append(cur)
                entries.append(fields)
                fields = None
            elif tok == "," and fields is not None:
                fields.append(cur)
                cur = None
            elif fields is not None:
                if tok.startswith('"') and isinstance(cur, str) and cur.startswith('"'):
                    cur = '"' + c_string(cur) + c_string(tok) + '"'
                else:
                    cur = tok
        opts = []
        for f in entries:
            if not f or f[0] == "NULL":
                continue
            f = (f + [None] * 6)[:6]
            val = lambda t: None if t in (None, "NULL") else (
                c_string(t) if t.startswith('"') else MACROS.get(t, t))
            opts.append({"name": val(f[0]), "type": TYPES.get(f[1], f[1]), "default": val(f[2]),
                         "required": f[3] not in (None, "0"), "help": val(f[4]) or "",
                         "choices": val(f[5])})
        tables[m.group(1)] = opts
    return tables


def parse_plugin_help(text):
    """The plugin's own options from `kanald --plugin-help NAME` output (the
    first list; the second, 'options of every source', is the common table)."""
    own = text.split("\noptions of every source:")[0]
    opts = []
    for line in own.splitlines():
        m = re.match(r"^  (\S+)\s+(\w+)\s+(required|optional)(?:, default (.*))?$", line)
        if m:
            default = m.group(4)
            opts.append({"name": m.group(1), "type": m.group(2), "required": m.group(3) == "required",
                         "default": "" if default == '""' else default, "help": "", "choices": None})
        elif opts and line.startswith("      choices: "):
            opts[-1]["choices"] = line[len("      choices: "):]
        elif opts and line.startswith("      "):
            opts[-1]["help"] = line.strip()
    return opts


def plugin_names():
    return sorted(p.name for p in (ROOT / "plugins").iterdir()
                  if p.is_dir() and p.name != "shared")


def plugin_options(kanald, plugin_dir, name):
    out = subprocess.run([str(kanald), "--plugin-help", name, "--plugin-dir", str(plugin_dir)],
                         capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise RuntimeError(f"kanald --plugin-help {name}: {out.stderr.strip()}")
    return parse_plugin_help(out.stdout)


def expected(kanald, plugin_dir):
    """{block name: [option]}: what each marked block must list."""
    tables = c_tables(CONFIG_C.read_text())
    blocks = {block: tables[table] for block, table in CORE.items()}
    for name in plugin_names():
        blocks[f"plugin-{name}"] = plugin_options(kanald, plugin_dir, name)
    return blocks


def esc(text):
    """Text as scdoc reads it literally: its markup characters escaped."""
    return re.sub(r"([\\*_`])", r"\\\1", text)


def entry(o):
    """One key as the page shows it: `*name* (type, default X)` and its help
    line indented below."""
    if o["required"]:
        what = "required"
    elif o["default"] is None:
        what = "unset"
    else:
        what = "default " + (esc(o["default"]) if o["default"] else '""')
    lines = [f"*{esc(o['name'])}* ({o['type']}, {what})"]
    if o["help"]:
        lines.append("\t" + esc(o["help"][0].upper() + o["help"][1:]) +
                     ("" if o["help"].endswith(".") else "."))
    if o["choices"]:
        lines.append("\tOne of: " + esc(", ".join(o["choices"].split("|"))) + ".")
    return "\n".join(lines) + "\n"


def block_text(opts):
    return "\n".join(entry(o) for o in opts)


ENTRY = re.compile(r"^\*((?:[^*\\]|\\.)+)\* \((\w+), (required|unset|default (.*))\)$", re.M)


def unesc(text):
    return re.sub(r"\\(.)", r"\1", text)


def page_blocks(text):
    """{block name: its text} of the marked blocks of a page."""
    blocks = {}
    for m in BEGIN.finditer(text):
        end = text.find("\n" + END, m.end())
        blocks[m.group(1)] = text[m.end() + 1:end + 1] if end >= 0 else ""
    return blocks


def page_keys(block):
    """{key: (type, 'required' | 'unset' | default)} of one block's entries."""
    keys = {}
    for m in ENTRY.finditer(block):
        d = m.group(3)
        if d.startswith("default "):
            d = "" if m.group(4) == '""' else unesc(m.group(4))
        keys[unesc(m.group(1))] = (m.group(2), d)
    return keys


def differences(page_text, want):
    """What the page says otherwise than the tables, one line each."""
    have = page_blocks(page_text)
    out = []
    for block, opts in want.items():
        if block not in have:
            out.append(f"block '; keys: {block}' is missing")
            continue
        keys = page_keys(have[block])
        for o in opts:
            d = "required" if o["required"] else "unset" if o["default"] is None else o["default"]
            if o["name"] not in keys:
                out.append(f"{block}: key {o['name']} is not on the page")
            elif keys[o["name"]] != (o["type"], d):
                out.append(f"{block}: key {o['name']} says {keys[o['name']]}, the table {(o['type'], d)}")
        for k in sorted(set(keys) - {o["name"] for o in opts}):
            out.append(f"{block}: key {k} is on the page, not in the table")
        if have[block] != block_text(opts):
            out.append(f"{block}: the entries are not as tools/mankeys.py --write makes them")
    for block in sorted(set(have) - set(want)):
        out.append(f"block '; keys: {block}' names no table")
    return out


def rewrite(page_text, want):
    def fill(m):
        name = m.group(1)
        if name not in want:
            return m.group(0)
        return f"; keys: {name}\n{block_text(want[name])}{END}"
    return re.sub(r"^; keys: ([\w-]+)\n.*?^" + re.escape(END) + "$", fill, page_text,
                  flags=re.M | re.S)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kanald", default=str(ROOT / "build" / "kanald"))
    ap.add_argument("--plugin-dir", default=str(ROOT / "build" / "plugins"))
    ap.add_argument("--page", default=str(PAGE))
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true")
    mode.add_argument("--check", action="store_true")
    a = ap.parse_args()
    page = Path(a.page)
    text = page.read_text(encoding="utf-8")
    want = expected(a.kanald, a.plugin_dir)
    if a.write:
        new = rewrite(text, want)
        if new != text:
            page.write_text(new, encoding="utf-8")
            print(f"{page}: key lists rewritten")
        missing = [b for b in want if b not in page_blocks(new)]
        if missing:
            print(f"{page}: add a '; keys: NAME' ... '{END}' block for: {', '.join(missing)}",
                  file=sys.stderr)
            return 1
        return 0
    diff = differences(text, want)
    for line in diff:
        print(f"{page}: {line}", file=sys.stderr)
    if diff:
        print("(run make man-keys, or tools/mankeys.py --write, then say in the prose what changed)",
              file=sys.stderr)
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
