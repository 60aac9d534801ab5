# SPDX-License-Identifier: Apache-2.0
"""kanald --check-config reports every problem as file:line: message and
exits non-zero; a valid file passes."""
import os
import subprocess

from kanal import KANALD


def check(k, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([str(KANALD), "--check-config", "-c", str(k.conf)],
                          capture_output=True, text=True, env=e)


def lines_of(k, text):
    return {i + 1: line for i, line in enumerate(k.conf.read_text().splitlines())}


def error_at(out, k, needle):
    """The error line mentioning needle, with its line number."""
    for line in out.stderr.splitlines():
        if needle in line:
            path, num, _ = line.split(":", 2)
            assert path == str(k.conf), line
            return int(num), line
    raise AssertionError(f"no error mentioning {needle!r}:\n{out.stderr}")


def line_number(k, text):
    for i, line in enumerate(k.conf.read_text().splitlines()):
        if text in line:
            return i + 1
    raise AssertionError(text)


ECHO = "[source e1]\nplugin = echo\ngreeting = hi\n"


def test_valid_config_passes(make_kanald):
    k = make_kanald(sources=ECHO, test_plugins=("echo",))
    out = check(k)
    assert out.returncode == 0, out.stderr
    assert "configuration is valid (1 source(s))" in out.stdout


def test_unknown_key_is_an_error_with_its_line(make_kanald):
    k = make_kanald(kanald="max_bodyy = 2M", sources="")
    out = check(k)
    assert out.returncode != 0
    num, line = error_at(out, k, "max_bodyy")
    assert num == line_number(k, "max_bodyy")
    assert "unknown key" in line


def test_unknown_plugin_option_and_missing_required(make_kanald):
    k = make_kanald(sources="[source e1]\nplugin = echo\ngretting = hi\n", test_plugins=("echo",))
    out = check(k)
    assert out.returncode != 0
    num, _ = error_at(out, k, "unknown key 'gretting'")
    assert num == line_number(k, "gretting")
    num, line = error_at(out, k, "needs 'greeting'")
    assert num == line_number(k, "[source e1]")


def test_wrong_types(make_kanald):
    k = make_kanald(kanald="max_body = lots\nsync = sometimes",
                    sources=ECHO + "count = many\nmode = c\ninterval = soon\n",
                    test_plugins=("echo",))
    out = check(k)
    assert out.returncode != 0
    for needle, text in [("'max_body' = 'lots'", "max_body = lots"),
                         ("'sync' = 'sometimes'", "sync = sometimes"),
                         ("'count' = 'many'", "count = many"),
                         ("'mode' = 'c'", "mode = c"),
                         ("'interval' = 'soon'", "interval = soon")]:
        num, _ = error_at(out, k, needle)
        assert num == line_number(k, text), needle


def test_bad_secret_references(make_kanald, tmp_path):
    missing = tmp_path / "no-such-secret"
    k = make_kanald(sources=(
        f"[source a]\nplugin = echo\ngreeting = hi\ntoken = file:{missing}\n\n"
        "[source b]\nplugin = echo\ngreeting = hi\ntoken = env:KANAL_TEST_UNSET_VARIABLE\n\n"
        "[source c]\nplugin = echo\ngreeting = hi\ntoken = written-inline\n\n"
        "[source d]\nplugin = echo\ngreeting = hi\ntoken = cred:meta-secret\n"),
        test_plugins=("echo",))
    env = {"KANAL_TEST_UNSET_VARIABLE": ""}
    e = dict(os.environ)
    e.pop("KANAL_TEST_UNSET_VARIABLE", None)
    e.pop("CREDENTIALS_DIRECTORY", None)
    out = subprocess.run([str(KANALD), "--check-config", "-c", str(k.conf)],
                         capture_output=True, text=True, env=e)
    assert out.returncode != 0
    num, line = error_at(out, k, str(missing))
    assert num == line_number(k, f"file:{missing}")
    num, _ = error_at(out, k, "KANAL_TEST_UNSET_VARIABLE is not set")
    assert num == line_number(k, "env:KANAL_TEST_UNSET_VARIABLE")
    num, _ = error_at(out, k, "written inline")
    assert num == line_number(k, "token = written-inline")
    num, _ = error_at(out, k, "CREDENTIALS_DIRECTORY")
    assert num == line_number(k, "cred:meta-secret")
    del env


def test_secret_references_resolve(make_kanald, tmp_path):
    secret_file = tmp_path / "s"
    secret_file.write_text("from-file\n")
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "meta-secret").write_text("from-cred")
    k = make_kanald(sources=(
        f"[source a]\nplugin = echo\ngreeting = hi\ntoken = file:{secret_file}\n\n"
        "[source b]\nplugin = echo\ngreeting = hi\ntoken = env:KANAL_TEST_SECRET\n\n"
        "[source c]\nplugin = echo\ngreeting = hi\ntoken = cred:meta-secret\n"),
        plugins=(), test_plugins=("echo",))
    k.start(env={"KANAL_TEST_SECRET": "from-env", "CREDENTIALS_DIRECTORY": str(creds)})
    import json
    got = {s: json.loads(k.request("GET", f"/hooks/{s}")[2])["token"] for s in "abc"}
    assert got == {"a": "from-file", "b": "from-env", "c": "from-cred"}


def test_kanald_refuses_to_start_on_a_bad_config(make_kanald):
    k = make_kanald(sources="")
    k.write_config(text=k.config_text().replace("listen = 127.0.0.1:0", "listen = nowhere"))
    k.expect_exit = True
    k.start(wait=False)
    rc = k.proc.wait(timeout=30)
    k._reader.join(timeout=5)
    assert rc == 1
    assert "expected address:port" in k.log()
    assert "not starting" in k.log()


def test_unknown_section_and_plugin(make_kanald):
    k = make_kanald(sources="[sauce x]\nplugin = webhook\n\n[source y]\nplugin = nosuch\n")
    out = check(k)
    assert out.returncode != 0
    num, _ = error_at(out, k, "unknown section [sauce x]")
    assert num == line_number(k, "[sauce x]")
    num, _ = error_at(out, k, "no plugin named 'nosuch'")
    assert num == line_number(k, "plugin = nosuch")


def test_shipped_configs_are_valid(tmp_path):
    from kanal import ROOT
    out = subprocess.run([str(KANALD), "--check-config", "-c", str(ROOT / "conf" / "dev.conf")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    # The production example uses cred: secrets and the installed plugin_dir:
    # give it both.
    prod = (ROOT / "conf" / "kanal.conf").read_text()
    from kanal import PLUGINS
    prod = prod.replace("/usr/lib/kanal/plugins", str(PLUGINS))
    (tmp_path / "api-tokens").write_text("crm read 0123456789abcdef0123\n")
    prod = prod.replace("/etc/kanal/api-tokens", str(tmp_path / "api-tokens"))
    conf = tmp_path / "kanal.conf"
    conf.write_text(prod)
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "crm-forms-secret").write_text("s3cret\n")
    env = dict(os.environ, CREDENTIALS_DIRECTORY=str(creds))
    out = subprocess.run([str(KANALD), "--check-config", "-c", str(conf)], capture_output=True,
                         text=True, env=env)
    assert out.returncode == 0, out.stderr


def test_empty_secrets_are_refused_in_every_form(make_kanald, tmp_path):
    """An empty key still 'signs': a body HMAC'ed with it would be taken as
    authentic.  Every way of giving a secret refuses an empty one."""
    empty, newline = tmp_path / "empty", tmp_path / "newline"
    empty.write_text("")
    newline.write_text("\n\r\n")
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "blank").write_text("\n")
    forms = {"inline": "", "file": f"file:{empty}", "file with a newline": f"file:{newline}",
             "env": "env:KANAL_TEST_EMPTY", "env without a name": "env:",
             "cred": "cred:blank", "cred without a name": "cred:"}
    sources = "".join(f"[source s{i}]\nplugin = echo\ngreeting = hi\n"
                      f"insecure_inline_secrets = yes\ntoken = {ref}\n\n"
                      for i, ref in enumerate(forms.values()))
    k = make_kanald(sources=sources, test_plugins=("echo",))
    env = {"KANAL_TEST_EMPTY": "", "CREDENTIALS_DIRECTORY": str(creds)}
    out = check(k, env)
    assert out.returncode != 0
    errors = [line for line in out.stderr.splitlines() if "secret 'token'" in line]
    lines = [i + 1 for i, line in enumerate(k.conf.read_text().splitlines())
             if line.startswith("token =")]
    assert len(errors) == len(forms), out.stderr
    for err, num in zip(errors, lines):
        path, at, _ = err.split(":", 2)
        assert (path, int(at)) == (str(k.conf), num), err
    assert "configuration is valid" not in out.stdout


def test_a_webhook_source_with_an_empty_secret_does_not_start(make_kanald):
    k = make_kanald(sources="[source hooks]\nplugin = webhook\ninsecure_inline_secrets = yes\n"
                            "secret =\n")
    out = check(k)
    assert out.returncode != 0
    num, line = error_at(out, k, "secret 'secret'")
    assert num == line_number(k, "secret =") and "empty" in line
    k.expect_exit = True
    k.start(wait=False)
    assert k.proc.wait(timeout=30) == 1
    k._reader.join(timeout=5)
    assert "must not be empty" in k.log() and "not starting" in k.log()


TOKEN_SECRET = "Sup3rS3cretT0kenMaterial"


def test_tokens_file_errors_never_show_token_material(make_kanald):
    bad_lines = {
        "no scope": f"crm {TOKEN_SECRET}",
        "secret where the scope goes": f"crm {TOKEN_SECRET} read",
        "unknown scope": f"crm reader {TOKEN_SECRET}",
        "secret only": TOKEN_SECRET,
        "name missing": f"read {TOKEN_SECRET}",
        "too many fields": f"crm read {TOKEN_SECRET} {TOKEN_SECRET}",
        "short secret": f"{TOKEN_SECRET} read tiny",
        "name too long": f"{TOKEN_SECRET * 6} read {TOKEN_SECRET}",
    }
    for what, bad in bad_lines.items():
        k = make_kanald(sources="")
        # A comment and a blank line first: the line number counts them.
        k.tokens.write_text(f"# tokens\n\nok read 0123456789abcdef0123\n{bad}\n")
        for log in (check(k).stderr, None):
            if log is None:
                k.expect_exit = True
                k.start(wait=False)
                assert k.proc.wait(timeout=30) == 1, what
                k._reader.join(timeout=5)
                log = k.log()
            assert f"{k.tokens}:4: " in log, (what, log)
            for piece in (TOKEN_SECRET[:6], TOKEN_SECRET[-6:], "tiny"):
                assert piece not in log, (what, log)


def test_audience_sections_are_checked(make_kanald):
    """[audience NAME] sections (the operator's audiences for scores): good
    ones pass; each kind of mistake is an error at its line, naming the
    audience."""
    good = ("[audience vip]\nmatch = source:e1 kind:message,comment\n\n"
            "[audience recent_fb]\nmatch =  channel:facebook\twithin:90d \n\n"
            "[audience ev.2026-spring]\nmatch = event:41,42 campaign:spring thread:p1\n")
    k = make_kanald(sources=ECHO + "\n" + good, test_plugins=("echo",))
    out = check(k)
    assert out.returncode == 0, out.stderr

    bad = [
        # (section, its key line, what the error says, the line it is on)
        ("[audience nomatch]", "matches = kind:message", "'match' is required",
         "[audience nomatch]"),
        ("[audience colour]", "match = colour:red", "FIELD one of source", "colour:red"),
        ("[audience empty]", "match = kind:", "needs values", "match = kind:"),
        ("[audience gap]", "match = kind:a,,b", "needs values", "kind:a,,b"),
        ("[audience when]", "match = within:soon", "within takes one duration", "within:soon"),
        ("[audience twice]", "match = within:1d within:2d", "within appears twice",
         "within:1d within:2d"),
        ("[audience all]", "match = kind:message", "not 'all'", "[audience all]"),
        ("[audience a:b]", "match = kind:message", "a name is", "[audience a:b]"),
        ("[audience spaced name]", "match = kind:message", "a name is",
         "[audience spaced name]"),
    ]
    for section, match, says, where in bad:
        body = section + "\n" + match + "\n"
        k = make_kanald(sub=f"bad{bad.index((section, match, says, where))}",
                        sources=ECHO + "\n" + body, test_plugins=("echo",))
        out = check(k)
        assert out.returncode != 0, section
        num, line = error_at(out, k, says)
        assert num == line_number(k, where), line
        assert "audience" in line

    # An unknown key, and the same audience twice.
    k = make_kanald(sub="dup", sources=ECHO + "\n[audience vip]\nmatch = kind:message\n"
                    "size = 3\n\n[audience vip]\nmatch = kind:comment\n",
                    test_plugins=("echo",))
    out = check(k)
    assert out.returncode != 0
    num, line = error_at(out, k, "unknown key 'size'")
    assert num == line_number(k, "size = 3")
    num, line = error_at(out, k, "appears twice")
    assert "[audience vip]" in line and num == line_number(k, "match = kind:comment") - 1
