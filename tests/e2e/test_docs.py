# SPDX-License-Identifier: Apache-2.0
"""The repository's documentation is self-contained and its route table is
true: no Markdown file links or points outside the repository, every
relative link reaches a file (and heading) that exists, docs/architecture.md's
route table is the one kanald serves (kanald --routes: the same routes,
methods, scopes and query parameters), and every route in it is answered by
the real kanald with the documented method and scope, never with 404 "no such
route"."""
import re
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kanal import ADMIN_TOKEN, KANALD, READ_TOKEN, WRITE_TOKEN

ROOT = Path(__file__).resolve().parents[2]
ARCH = ROOT / "docs" / "architecture.md"

# Documents other branches are adding at the time of writing; links to them
# are allowed before they arrive.  Remove an entry once its file is merged.
PENDING = set()

FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.S | re.M)
INLINE_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.M)
HTML_LINK = re.compile(r"""(?:href|src)\s*=\s*["']([^"']+)["']""", re.I)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # http:, https:, mailto:, ...


def markdown_files():
    """Every Markdown file of the repository: tracked ones and new ones not
    ignored (so a document is checked before its first commit)."""
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "--cached", "--others", "--exclude-standard",
             "--", "*.md"], check=True, capture_output=True, text=True).stdout
        files = sorted({ROOT / line for line in out.splitlines() if line})
    except (OSError, subprocess.CalledProcessError):
        skip = {"build", "build-asan", "var", ".git"}
        files = sorted(p for p in ROOT.rglob("*.md")
                       if not skip & set(p.relative_to(ROOT).parts))
    return [f for f in files if f.is_file()]


def prose(text):
    """The text without fenced code blocks (code may hold anything)."""
    return FENCE.sub("", text)


def links(text):
    body = prose(text)
    return INLINE_LINK.findall(body) + REF_LINK.findall(body) + HTML_LINK.findall(body)


def slugs(md_text):
    """Heading anchors as GitHub makes them: lower case, punctuation
    dropped, spaces to dashes, repeats numbered."""
    seen, out = {}, set()
    for line in prose(md_text).splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        s = re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-")
        n = seen.get(s, 0)
        seen[s] = n + 1
        out.add(s if n == 0 else f"{s}-{n}")
    return out


def link_problems(md: Path):
    """What is wrong with the links of one Markdown file, as text lines."""
    text = md.read_text(encoding="utf-8")
    rel = md.relative_to(ROOT)
    problems = []
    if "shared/docs" in text:
        problems.append(f"{rel}: mentions shared/docs, a place outside the repository")
    for target in links(text):
        if EXTERNAL.match(target):
            continue
        path, _, anchor = target.partition("#")
        path = path.split("?", 1)[0]
        dest = (md.parent / path).resolve() if path else md.resolve()
        try:
            inside = dest.relative_to(ROOT).as_posix()
        except ValueError:
            problems.append(f"{rel}: link {target} leaves the repository")
            continue
        if inside in PENDING and not dest.exists():
            continue
        if not dest.exists():
            problems.append(f"{rel}: link {target} points to {inside}, which does not exist")
            continue
        if anchor and dest.suffix == ".md" and dest.is_file():
            if anchor.lower() not in slugs(dest.read_text(encoding="utf-8")):
                problems.append(f"{rel}: link {target}: {inside} has no heading #{anchor}")
    # A path written out of a link ("../shared/x" in backticks or prose)
    # that climbs above the repository's root.
    for m in re.finditer(r"(?<![\w.])((?:\.\./)+)[\w.-]", prose(text)):
        up = m.group(1).count("../")
        if up > len(rel.parts) - 1:
            problems.append(f"{rel}: path starting '{m.group(0)}' climbs out of the repository")
    return problems


def test_markdown_files_are_found():
    files = {f.relative_to(ROOT).as_posix() for f in markdown_files()}
    assert {"README.md", "docs/architecture.md", "docs/README.md", "sdk/README.md"} <= files


@pytest.mark.parametrize("md", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_markdown_links_stay_inside_and_resolve(md):
    assert link_problems(md) == []


def test_no_file_refers_to_the_shared_documents():
    """Code, configuration and docs speak of the repository only: no tracked
    text file names the outside documents the contract came from."""
    out = subprocess.run(["git", "-C", str(ROOT), "grep", "--untracked", "-l", "-I", "-e", "shared/docs",
                          "--", ".", ":!tests/e2e/test_docs.py"],
                         capture_output=True, text=True)
    if out.returncode not in (0, 1):
        pytest.skip(f"not a git checkout: {out.stderr.strip()}")
    assert out.stdout.split() == []


# ---- the README stays short, the configuration reference complete ----

README_MAX_LINES = 300
CONFIG = ROOT / "docs" / "configuration.md"
# The channel guide that documents each plugin's options.
GUIDES = {"webhook": "webhook", "facebook": "meta", "whatsapp": "meta", "twitter": "twitter",
          "sms": "sms", "email": "email", "signup": "signup", "http": "http",
          "listen": "listen"}


def option_tables(src):
    """{table name: [option names]} of every `struct kanal_option NAME[]`
    initializer in a C source: the keys kanald or a plugin accepts."""
    tables = {}
    for m in re.finditer(r"struct kanal_option\s+(\w+)\[\]\s*=\s*\{(.*?)\n\};", src, re.S):
        tables[m.group(1)] = re.findall(r'^\s*\{\s*"([A-Za-z0-9_]+)"', m.group(2), re.M)
    return tables


def documented_keys(md_text, heading=None):
    """Names in backticks in the first cell of the tables of a Markdown text
    (of the section whose heading contains `heading`, when given)."""
    text = prose(md_text)
    if heading is not None:
        parts = re.split(r"^(#{1,6} .*)$", text, flags=re.M)
        text = "".join(parts[i + 1] for i in range(1, len(parts) - 1, 2) if heading in parts[i])
    keys = set()
    for line in text.splitlines():
        if line.startswith("|"):
            first = line.strip().strip("|").split("|")[0]
            keys.update(re.findall(r"`([A-Za-z0-9_]+)`", first))
    return keys


def undocumented(names, md_text, heading=None):
    return [n for n in names if n not in documented_keys(md_text, heading)]


def test_readme_is_the_newcomers_page():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move reference text to docs/"


def test_every_kanald_and_source_key_is_in_the_configuration_reference():
    """Each key of daemon/runtime/config.c's [kanald], [api] and common source
    tables has a row in its section of docs/configuration.md."""
    tables = option_tables((ROOT / "daemon" / "runtime" / "config.c").read_text())
    # The tables are found (else this test could not fail).
    assert {"listen", "max_body", "unknown_raw_max"} <= set(tables["kanald_options"])
    assert {"plugin", "trust", "send_max_age"} <= set(tables["config_common_options"])
    assert "tokens" in tables["api_options"]
    doc = CONFIG.read_text(encoding="utf-8")
    assert undocumented(tables["kanald_options"], doc, "`[kanald]`") == []
    assert undocumented(tables["api_options"], doc, "`[api]`") == []
    assert undocumented(tables["config_common_options"], doc, "`[source NAME]`") == []
    assert "match" in tables["config_audience_options"]
    assert undocumented(tables["config_audience_options"], doc, "`[audience NAME]`") == []


def test_configuration_reference_gives_the_code_defaults():
    """The default column of each [kanald], [api] and common source key is
    the default in daemon/runtime/config.c (unset or required where it has none)."""
    src = (ROOT / "daemon" / "runtime" / "config.c").read_text()
    doc = prose(CONFIG.read_text(encoding="utf-8"))
    wrong, seen = [], 0
    for section in ("kanald_options", "api_options", "config_common_options"):
        body = re.search(r"kanal_option\s+" + section + r"\[\]\s*=\s*\{(.*?)\n\};", src, re.S).group(1)
        for key, default in re.findall(r'^\s*\{"([a-z_]+)",\s*KANAL_OPT_\w+,\s*(NULL|"[^"]*")', body,
                                       re.M):
            row = re.search(r"^\| `" + key + r"` \| ([^|]*)\|", doc, re.M)
            cell = row.group(1).strip() if row else ""
            seen += 1
            ok = (cell.startswith(("unset", "required")) if default == "NULL"
                  else cell.startswith(f"`{default.strip(chr(34))}`"))
            if not ok:
                wrong.append((key, default, cell))
    assert seen >= 30 and wrong == []


@pytest.mark.parametrize("plugin", sorted(GUIDES))
def test_every_plugin_key_is_in_its_channel_guide(plugin):
    src = "".join(p.read_text() for p in sorted((ROOT / "plugins" / plugin).glob("*.c")))
    names = [n for table in option_tables(src).values() for n in table]
    assert names, f"plugins/{plugin}: no option table found"
    # Options several plugins share come into their tables by a macro of a
    # plugins/shared header (Meta's app_secret, verify_token, ...).
    own = "".join(p.read_text() for p in sorted((ROOT / "plugins" / plugin).glob("*.[ch]")))
    for header in sorted(set(re.findall(r'#include "([\w.]+\.h)"', own))):
        shared = ROOT / "plugins" / "shared" / header
        if shared.is_file():
            names += re.findall(r'\{"([A-Za-z0-9_]+)",\s*KANAL_OPT_', shared.read_text())
    if plugin in ("facebook", "whatsapp"):
        assert {"app_secret", "verify_token"} <= set(names)
    guide = (ROOT / "docs" / "channels" / f"{GUIDES[plugin]}.md").read_text(encoding="utf-8")
    assert undocumented(names, guide) == []


def test_key_checker_finds_a_missing_key():
    """The checks above can fail: a key in the C table and not in a table
    row of its section, or only in another section or in prose, is missing."""
    src = ('static const struct kanal_option t[] = {\n    {"alpha", 0},\n'
           '    {"beta_max", 0},\n    {NULL, 0},\n};\n')
    names = option_tables(src)["t"]
    assert names == ["alpha", "beta_max"]
    doc = ("# Reference\n\n## `[one]`\n\n| key | default |\n|---|---|\n| `alpha` | 1 |\n\n"
           "`beta_max` is mentioned here only in prose.\n\n## `[two]`\n\n| key |\n|---|\n"
           "| `beta_max`, `gamma` | 2 |\n")
    assert undocumented(names, doc, "`[one]`") == ["beta_max"]
    assert undocumented(names, doc, "`[two]`") == ["alpha"]
    assert undocumented(names, doc) == []


def test_link_checker_catches_each_kind_of_bad_link(tmp_path, monkeypatch):
    """The checker itself: each class of bad link is reported, good ones
    are not (so the test above can fail)."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "there.md").write_text("# A heading\n\n## Second `one`: here\n")
    page = tmp_path / "docs" / "page.md"
    cases = {
        "[out](../../outside.md)": "leaves the repository",
        "[shared](../shared/docs/architecture.md)": "shared/docs",
        "[missing](nothere.md)": "does not exist",
        "[anchor](there.md#no-such-heading)": "has no heading",
        "[ref]: ../../elsewhere.md": "leaves the repository",
        '<a href="gone.html">x</a>': "does not exist",
        "see `../../x/y.md` for more": "climbs out",
    }
    for line, why in cases.items():
        page.write_text(f"# Page\n\n{line}\n")
        problems = link_problems(page)
        assert len(problems) >= 1 and any(why in p for p in problems), (line, problems)
    page.write_text("# Page\n\n[a](there.md) [b](there.md#a-heading) [c](there.md#second-one-here)"
                    " [d](#page) [e](https://example.com/x) [f](../docs/there.md)\n"
                    "```\n[code](../../../not/a/link)\n```\n")
    assert link_problems(page) == []


# ---- the route table ----

def documented_routes():
    """(path, methods, scope, query) of every row of architecture.md's route
    table; query is "*" for "any", else the tuple of the names it lists."""
    rows, in_table = [], False
    for line in ARCH.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        if line.startswith("| route | method | scope | query |"):
            in_table = True
            continue
        if not in_table:
            continue
        if not line.startswith("|"):
            break
        if set(cells[0]) <= set("-: "):
            continue
        path = re.match(r"`([^`]+)`", cells[0]).group(1)
        methods = re.findall(r"\b(GET|HEAD|POST|PUT|DELETE|PATCH|any)\b", cells[1])
        scope = cells[2].split()[0]
        query = "*" if cells[3].startswith("any") else tuple(sorted(re.findall(r"`([^`]+)`",
                                                                              cells[3])))
        assert query == "*" or query or cells[3] == "none", line
        rows.append((path, methods, scope, query))
    return rows


def concrete(path):
    """A documented path with its parameters filled in and '/...' dropped."""
    path = path[:-4] if path.endswith("/...") else path
    fills = {"source": "hooks", "seq": "1", "id": "c1", "crm_id": "crm-docs-1",
             "token": "AAAAAAAAAAAAAAAAAAAAAA"}
    return re.sub(r"\{([a-z_]+)\}", lambda m: fills.get(m.group(1), "x"), path)


DOCUMENTED = documented_routes()
ROUTES = [(p, m, s) for p, m, s, _ in DOCUMENTED]
TOKENS = {"read": READ_TOKEN, "write": WRITE_TOKEN, "admin": ADMIN_TOKEN}
LOWER = {"write": READ_TOKEN, "admin": WRITE_TOKEN}


def call(k, method, path, token=None):
    h = {"Authorization": f"Bearer {token}"} if token else {}
    body = None
    if method in ("POST", "PUT"):
        body, h["Content-Type"] = b"{}", "application/json"
    status, _, data = k.request(method, path, body, h)
    try:
        err = json.loads(data)["error"] if data else {}
    except (ValueError, KeyError, TypeError):
        err = {}
    return status, err if isinstance(err, dict) else {}


def test_route_table_is_found():
    paths = [p for p, _, _ in ROUTES]
    assert len(ROUTES) >= 20, ROUTES
    for p in ("/hooks/{source}/...", "/healthz", "/metrics", "/v1/interactions/{seq}",
              "/v1/messages", "/v1/contacts/{id}", "/v1/links", "/t/{token}"):
        assert p in paths, p
    for path, methods, scope in ROUTES:
        assert methods, f"{path}: no method in the table"
        assert scope in ("none", "read", "write", "admin"), f"{path}: scope {scope}"


def test_documented_routes_are_the_route_table():
    """architecture.md's table and kanald's own (kanald --routes) list the
    same routes with the same methods, scope and query parameters: a route
    added to daemon/api/routes.c without a row in the docs, a documented route
    kanald does not have, or a row that says other methods, scope or
    parameters than the code fails here."""
    out = subprocess.run([str(KANALD), "--routes"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    table = {(r["path"], tuple(sorted("any" if m == "*" else m for m in r["methods"])),
              r["scope"], "*" if r["query"] == "*" else tuple(sorted(r["query"])))
             for r in json.loads(out.stdout)}
    docs = {(p, tuple(sorted(m)), s, q) for p, m, s, q in DOCUMENTED}
    assert len(docs) == len(DOCUMENTED), "a route is documented twice"
    assert sorted(table - docs) == [], "in kanald --routes, not documented (or documented otherwise)"
    assert sorted(docs - table) == [], "documented, not in kanald --routes (or not so there)"


def test_the_check_above_can_fail(tmp_path):
    """The comparison sees a row the code does not have and a changed scope."""
    global DOCUMENTED
    saved = DOCUMENTED
    try:
        for change in (lambda d: d + [("/v1/nothing", ["GET"], "read", ())],
                       lambda d: [(p, m, "admin" if p == "/v1/sources" else s, q)
                                  for p, m, s, q in d],
                       lambda d: [(p, m, s, () if p == "/v1/interactions" else q)
                                  for p, m, s, q in d],
                       lambda d: [r for r in d if r[0] != "/v1/links"]):
            DOCUMENTED = change(saved)
            with pytest.raises(AssertionError):
                test_documented_routes_are_the_route_table()
    finally:
        DOCUMENTED = saved


@pytest.mark.parametrize("path,methods,scope", ROUTES, ids=[f"{m[0]} {p}" for p, m, _ in ROUTES])
def test_documented_route_is_answered(kanald, path, methods, scope):
    method = "POST" if methods[0] == "any" else methods[0]
    url = concrete(path)
    status, err = call(kanald, method, url, TOKENS.get(scope))
    assert not (status == 404 and err.get("message") == "no such route"), (method, url)
    assert status != 405, f"{method} {url}: the table says {methods}, kanald answered 405"
    if scope == "none":
        # No token needed: whatever the answer, it is not the API's 401.
        assert err.get("code") != "unauthorized", (method, url, status, err)
    else:
        assert status not in (401, 403), (method, url, status, err)
        # The scope is needed: no token is refused, and so is a lower one.
        assert call(kanald, method, url)[0] == 401, (method, url)
        if scope in LOWER:
            s, e = call(kanald, method, url, LOWER[scope])
            assert (s, e.get("code")) == (403, "forbidden"), (method, url, s, e)


def test_an_undocumented_route_is_told_apart(kanald):
    """The check above can fail: an unknown path gets 404 "no such route"."""
    for path in ("/v1/no-such-route", "/no-such-route"):
        status, err = call(kanald, "GET", path, ADMIN_TOKEN)
        assert (status, err.get("message")) == (404, "no such route"), (path, status, err)


# ---- one mode for the API tokens file ----

TOKENS_MODE = "0640 root:kanal"


def tokens_modes(root: Path):
    """(file:line, mode) of each file mode the docs, the examples and the man
    pages give the API tokens file: a mode on a line that speaks of tokens,
    or anywhere in a file whose name does (conf/dev-api-tokens)."""
    files = [root / "README.md", root / "sdk" / "README.md", *sorted((root / "docs").rglob("*.md")),
             *sorted((root / "conf").glob("*")), *sorted((root / "man").glob("*.scd")),
             *sorted((root / "systemd").rglob("*"))]
    found = []
    for f in files:
        if not f.is_file():
            continue
        whole = "token" in f.name
        for i, line in enumerate(f.read_text(errors="replace").splitlines()):
            if whole or re.search(r"\btokens? file|api-tokens|\[api\] tokens|`tokens`", line):
                for mode in re.findall(r"(?<![\w.])0[0-7]{3}(?!\w)", line):
                    found.append((f"{f.relative_to(root)}:{i + 1}", mode))
    return found


def test_the_tokens_file_has_one_documented_mode():
    """kanald reads the tokens file as user kanal and warns when others may
    read it: every place that gives it a mode gives 0640 (root:kanal), and
    the configuration reference and the operations guide both say so."""
    found = tokens_modes(ROOT)
    assert found and {mode for _, mode in found} == {"0640"}, found
    for doc in ("docs/configuration.md", "docs/operations.md", "docs/security.md"):
        text = (ROOT / doc).read_text()
        assert any(TOKENS_MODE in line.replace("`", "") and "token" in line
                   for line in text.splitlines()), f"{doc} does not give the tokens file {TOKENS_MODE}"


def test_the_tokens_mode_check_can_fail(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "x.md").write_text("Keep the tokens file mode 0600.\n")
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "dev-api-tokens").write_text("# production keeps this file 0600\n")
    assert tokens_modes(tmp_path) == [("docs/x.md:1", "0600"), ("conf/dev-api-tokens:1", "0600")]
