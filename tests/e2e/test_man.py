# SPDX-License-Identifier: Apache-2.0
"""The man pages (man/*.scd) say what the code does, and stay so.

kanal.conf(5) lists every key of kanald's option tables (daemon/runtime/
config.c) and of each in-tree plugin (as `kanald --plugin-help NAME` prints
it from the built .so), with the code's type and default, and no key the code
does not have: its key entries are made by tools/mankeys.py --write, and this
file checks them against the tables, so that a key added to a table or dropped
from the page fails here.  kanald(8) names every option of `kanald --help`,
kanalctl(1) every command of `kanalctl --help` and every option of each
command's help.  The built pages ($KANAL_BUILD/man) have their paths filled
in and pass `groff -ww -z -man` without a warning, and `make man-check`
fails on a page that does not."""
import importlib.util
import re
import shutil
import subprocess

import pytest

from kanal import BUILD, KANALD, PLUGINS, ROOT

MAN = ROOT / "man"
CONF_PAGE = MAN / "kanal.conf.5.scd"
CONFIG_C = ROOT / "daemon" / "runtime" / "config.c"
KANALCTL = BUILD / "kanalctl"
PAGES = ["kanald.8", "kanal.conf.5", "kanalctl.1", "kanal-plugin.7"]
# Marked block of kanal.conf.5.scd -> C table of daemon/runtime/config.c.
CORE = {"kanald": "kanald_options", "api": "api_options", "source": "config_common_options",
        "processor": "config_processor_options", "sink": "config_sink_options",
        "audience": "config_audience_options"}
IN_TREE = sorted(p.name for p in (ROOT / "plugins").iterdir() if p.is_dir() and p.name != "shared")

spec = importlib.util.spec_from_file_location("mankeys", ROOT / "tools" / "mankeys.py")
mankeys = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mankeys)


# ---- what the code says ----

def code_tables(src):
    """{table: {key: (type, default)}} of the `struct kanal_option NAME[]`
    tables of a C source; default is 'required', 'unset', the text, or None
    when the code gives it by a macro (the page then shows a path)."""
    tables = {}
    for m in re.finditer(r"struct kanal_option\s+(\w+)\[\]\s*=\s*\{(.*?)\n\};", src, re.S):
        keys = {}
        for key, typ, default, req in re.findall(
                r'^\s*\{\s*"([A-Za-z0-9_]+)",\s*KANAL_OPT_(\w+),\s*(NULL|"[^"]*"|\w+),\s*(\d)',
                m.group(2), re.M):
            if req != "0":
                d = "required"
            elif default == "NULL":
                d = "unset"
            else:
                d = default[1:-1] if default.startswith('"') else None
            keys[key] = (typ.lower(), d)
        tables[m.group(1)] = keys
    return tables


def plugin_help(name):
    """{key: (type, default)} of `kanald --plugin-help NAME`: the plugin's
    own options, and those of every source."""
    out = subprocess.run([str(KANALD), "--plugin-help", name, "--plugin-dir", str(PLUGINS)],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    own, _, common = out.stdout.partition("\noptions of every source:")
    assert common, out.stdout

    def keys(text):
        found = {}
        for key, typ, req, default in re.findall(
                r"^  (\S+)\s+(\w+)\s+(required|optional)(?:, default (.*))?$", text, re.M):
            found[key] = (typ, "required" if req == "required" else
                          "unset" if not default else "" if default == '""' else default)
        return found
    return keys(own), keys(common)


# ---- what the page says ----

def page_blocks(text):
    """{block: {key: (type, default)}} of the page's marked key lists."""
    blocks = {}
    for m in re.finditer(r"^; keys: ([\w-]+)\n(.*?)^; end of keys$", text, re.M | re.S):
        keys = {}
        for name, typ, what in re.findall(r"^\*((?:[^*\\]|\\.)+)\* \((\w+), (.*)\)$", m.group(2),
                                          re.M):
            name = re.sub(r"\\(.)", r"\1", name)
            if what.startswith("default "):
                what = re.sub(r"\\(.)", r"\1", what[len("default "):])
                what = "" if what == '""' else what
            keys[name] = (typ, what)
        blocks[m.group(1)] = keys
    return blocks


def drift(page_text, want):
    """Each way the page's key lists differ from want ({block: {key: (type,
    default)}}), one line each; a default of None is not compared."""
    have = page_blocks(page_text)
    problems = []
    for block, keys in want.items():
        if block not in have:
            problems.append(f"{block}: no '; keys: {block}' list on the page")
            continue
        for key, (typ, default) in keys.items():
            if key not in have[block]:
                problems.append(f"{block}: {key} is not on the page")
            elif have[block][key][0] != typ or (default is not None and
                                                have[block][key][1] != default):
                problems.append(f"{block}: {key} is {have[block][key]} on the page, "
                                f"{(typ, default)} in the code")
        for key in sorted(set(have[block]) - set(keys)):
            problems.append(f"{block}: {key} is on the page but kanald does not know it")
    return problems


def core_want(src=None):
    tables = code_tables(src if src is not None else CONFIG_C.read_text())
    return {block: tables[table] for block, table in CORE.items()}


def page():
    return CONF_PAGE.read_text(encoding="utf-8")


# ---- kanal.conf(5) ----

def test_the_tables_and_the_lists_are_found():
    """The parsers see the real tables and the page's lists (else the
    comparisons below could not fail)."""
    want = core_want()
    assert {"listen", "max_body", "unknown_raw_max", "plugin_dir"} <= set(want["kanald"])
    assert want["kanald"]["listen"] == ("string", "127.0.0.1:8470")
    assert want["source"]["plugin"] == ("string", "required")
    assert {"budget", "match"} <= set(want["processor"])
    assert {"batch_max", "max_lag"} <= set(want["sink"])
    assert want["audience"]["match"] == ("string", "required")
    have = page_blocks(page())
    assert set(have) == set(CORE) | {f"plugin-{p}" for p in IN_TREE}
    assert all(have.values()), [b for b, k in have.items() if not k]


def test_every_key_of_kanalds_tables_is_on_the_page():
    """[kanald], [api], [source NAME], [processor NAME], [sink NAME]: each
    key of daemon/runtime/config.c's tables is listed with the code's type
    and default, and the page lists no other."""
    assert drift(page(), core_want()) == []


@pytest.mark.parametrize("plugin", IN_TREE)
def test_every_key_of_each_plugin_is_on_the_page(plugin):
    """Each in-tree plugin's options, as `kanald --plugin-help` prints them
    from the built .so (shared Meta options included), with type and
    default; and the options of every source it prints are the page's
    [source NAME] list."""
    own, common = plugin_help(plugin)
    assert own, f"kanald --plugin-help {plugin} printed no options"
    assert drift(page(), {f"plugin-{plugin}": own, "source": common}) == []


def test_the_entries_are_what_mankeys_writes():
    """The help lines and choices too: the lists are exactly what
    tools/mankeys.py --write makes of the tables (make man-keys after changing one)."""
    assert mankeys.differences(page(), mankeys.expected(KANALD, PLUGINS)) == []


def test_the_drift_check_can_fail():
    """A key added to a table, a key dropped from the page, a key on the page
    that the code lacks, and a changed default are each reported."""
    text, src = page(), CONFIG_C.read_text()
    assert drift(text, core_want(src)) == []
    # A fake key in kanald_options.
    fake = src.replace('static const struct kanal_option kanald_options[] = {\n',
                       'static const struct kanal_option kanald_options[] = {\n'
                       '    {"fake_key", KANAL_OPT_INT, "1", 0, "not a key", NULL},\n', 1)
    assert fake != src
    assert drift(text, core_want(fake)) == ["kanald: fake_key is not on the page"]
    # listen dropped from the page.
    dropped = re.sub(r"^\*listen\* \(.*\)\n\t.*\n\n", "", text, count=1, flags=re.M)
    assert dropped != text
    assert drift(dropped, core_want(src)) == ["kanald: listen is not on the page"]
    # A key on the page that no table has, in a plugin's list.
    extra = text.replace("; keys: plugin-webhook\n",
                         "; keys: plugin-webhook\n*made\\_up* (string, unset)\n\tNo such key.\n\n")
    assert drift(extra, {"plugin-webhook": page_blocks(text)["plugin-webhook"]}) == \
        ["plugin-webhook: made_up is on the page but kanald does not know it"]
    # Another default.
    changed = text.replace("*max\\_body* (size, default 1M)", "*max\\_body* (size, default 2M)")
    assert changed != text
    assert drift(changed, core_want(src)) == [
        "kanald: max_body is ('size', '2M') on the page, ('size', '1M') in the code"]
    # A list missing altogether.
    assert drift(text.replace("; keys: api\n", "; keys: apis\n"), core_want(src)) == \
        ["api: no '; keys: api' list on the page"]


def test_mankeys_finds_the_same_drift(tmp_path):
    """tools/mankeys.py --check, the script itself: silent on the page,
    exit 1 naming the key when one is dropped; --write puts it back."""
    def run(p, mode):
        return subprocess.run(["/usr/bin/python3", str(ROOT / "tools" / "mankeys.py"), mode,
                               "--kanald", str(KANALD), "--plugin-dir", str(PLUGINS),
                               "--page", str(p)], capture_output=True, text=True, timeout=120)
    ok = run(CONF_PAGE, "--check")
    assert ok.returncode == 0, ok.stderr
    p = tmp_path / "kanal.conf.5.scd"
    p.write_text(re.sub(r"^\*send\\_timeout\* \(.*\)\n\t.*\n\n", "", page(), count=1,
                        flags=re.M))
    bad = run(p, "--check")
    assert bad.returncode == 1 and "send_timeout is not on the page" in bad.stderr, bad.stderr
    assert run(p, "--write").returncode == 0
    assert p.read_text() == page()


# ---- kanald(8), kanalctl(1) ----

def long_options(help_text):
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", help_text))


def missing_options(help_text, page_text):
    """Options of a --help text that the page never names as *--option*."""
    named = {re.sub(r"\\(.)", r"\1", o) for o in re.findall(r"\*(--?[a-zA-Z][a-z\\-]*)\*", page_text)}
    wanted = long_options(help_text) | set(re.findall(r"^\s+(-[a-zA-Z]),", help_text, re.M))
    return sorted(wanted - named)


def test_kanald_page_names_every_option():
    out = subprocess.run([str(KANALD), "--help"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0
    assert {"--check-config", "--routes", "--plugin-help", "--plugin-dir"} <= long_options(out.stdout)
    text = (MAN / "kanald.8.scd").read_text(encoding="utf-8")
    assert missing_options(out.stdout, text) == []
    for word in ("SIGHUP", "SIGTERM", "EXIT STATUS", "kanald.pid"):
        assert word in text
    # The check can fail.
    assert missing_options(out.stdout + "  --no-such-option\n", text) == ["--no-such-option"]


def kanalctl_commands():
    out = subprocess.run([str(KANALCTL), "--help"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0
    cmds = re.findall(r"^  ([a-z][a-z-]+)\s{2,}\S", out.stdout.split("\nCommands:\n")[1]
                      .split("\n\n")[0], re.M)
    assert {"tail", "export", "check", "backup", "contacts", "validate"} <= set(cmds)
    return out.stdout, cmds


def sections(text):
    """{## heading: its text} of a page."""
    parts = re.split(r"^## (.+)$", text, flags=re.M)
    return {parts[i].strip(): parts[i + 1].split("\n# ")[0] for i in range(1, len(parts), 2)}


def test_kanalctl_page_has_every_command_and_option():
    """Each command of kanalctl --help has its section, each option of
    kanalctl COMMAND --help is named in it (or among the common options),
    and the page has no section for a command kanalctl lacks."""
    usage, cmds = kanalctl_commands()
    text = (MAN / "kanalctl.1.scd").read_text(encoding="utf-8")
    common = text.split("# OPTIONS\n")[1].split("\n# ")[0]
    assert missing_options(usage.split("\nExit status")[0], common) == []
    secs = sections(text)
    assert sorted(secs) == sorted(cmds)
    problems = []
    for cmd in cmds:
        h = subprocess.run([str(KANALCTL), cmd, "--help"], capture_output=True, text=True,
                           timeout=10)
        assert h.returncode == 0, (cmd, h.stderr)
        opts = h.stdout.split("\nExit status")[0]
        problems += [f"{cmd} {o}" for o in missing_options(opts, secs[cmd] + common)]
    assert problems == []
    # The check can fail: a section without an option's entry.
    assert missing_options("  -f, --follow  x\n", secs["export"] + common) == ["--follow", "-f"]


# ---- the built pages ----

@pytest.mark.parametrize("name", PAGES)
def test_built_page_is_clean(name):
    """$KANAL_BUILD/man/NAME is made (make man, part of make all), its
    @PATH@ placeholders are filled in, and groff -ww finds nothing."""
    p = BUILD / "man" / name
    assert p.is_file(), f"{p} is not built (make man)"
    text = p.read_text(encoding="utf-8")
    assert re.search(r"^\.TH \"?" + re.escape(name.rsplit(".", 1)[0]), text, re.M | re.I), text[:300]
    assert not re.findall(r"@[A-Z]+@", text)
    out = subprocess.run(["groff", "-ww", "-z", "-man", str(p)], capture_output=True, text=True,
                         timeout=30)
    assert (out.returncode, out.stderr) == (0, "")


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_man_check_fails_on_a_warning(tmp_path):
    """make man-check passes the built pages and fails on a page that makes
    groff warn (here an undefined macro)."""
    good = tmp_path / "good.7"
    good.write_text('.TH GOOD 7\n.SH NAME\ngood \\- a page\n')
    bad = tmp_path / "bad.7"
    bad.write_text('.TH BAD 7\n.SH NAME\nbad \\- a page\n.XX not a macro\n')

    def check(*pages):
        return subprocess.run(["make", "-s", "--no-print-directory", "-C", str(ROOT), "man-check",
                               f"BUILD={BUILD}", "MAN_PAGES=" + " ".join(map(str, pages))],
                              capture_output=True, text=True, timeout=120)
    ok = check(good)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    r = check(good, bad)
    assert r.returncode != 0 and "bad.7" in r.stdout + r.stderr, r.stdout + r.stderr
