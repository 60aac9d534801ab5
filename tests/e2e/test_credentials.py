# SPDX-License-Identifier: Apache-2.0
"""Credentials as the service meets them: kanald --check-config with
--credentials-dir (cred: without systemd) and --user (files the service user
cannot read), warnings about secret files other users may read, the
LoadCredential= drop-in for the example configuration, and the tokens file's
problems reported all at once, in the configuration's file:line format."""
import grp
import os
import pwd
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from kanal import KANALD, PLUGINS, ROOT

DROPIN = ROOT / "systemd" / "kanald.service.d" / "credentials.conf.example"
EXAMPLE = ROOT / "conf" / "kanal.conf"
TOKEN = "0123456789abcdef0123"
# A service user that exists everywhere and owns nothing here.
USER = "nobody"
LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+): (?P<msg>.*)$")


def check(conf, *args, env=None):
    e = {k: v for k, v in os.environ.items() if k != "CREDENTIALS_DIRECTORY"}
    e.update(env or {})
    return subprocess.run([str(KANALD), "--check-config", "-c", str(conf), *args],
                          capture_output=True, text=True, env=e)


def problems(out):
    """(file, line, message) of every line on stderr; each must be file:line: ..."""
    found = []
    for line in out.stderr.splitlines():
        m = LINE.match(line)
        assert m, f"not in file:line: message form: {line!r}\n{out.stderr}"
        found.append((m["file"], int(m["line"]), m["msg"]))
    return found


def line_of(path, text):
    for i, line in enumerate(Path(path).read_text().splitlines()):
        if text in line:
            return i + 1
    raise AssertionError(text)


def write(path, text, mode, group=None):
    path.write_text(text)
    os.chmod(path, mode)
    if group is not None:
        os.chown(path, 0, grp.getgrnam(group).gr_gid)
    return path


# ---- the example configuration and its drop-in ----

def dropin_lines():
    """(name, source path, active) of each LoadCredential= line of the drop-in."""
    out = []
    for line in DROPIN.read_text().splitlines():
        m = re.match(r"^(#?)LoadCredential=([^:]+):(\S+)$", line)
        if m:
            out.append((m[2], m[3], m[1] == ""))
    return out


def example_creds():
    """(name, active) of each cred:NAME in the example configuration."""
    out = []
    for line in EXAMPLE.read_text().splitlines():
        for name in re.findall(r"=\s*cred:([A-Za-z0-9_.-]+)", line):
            out.append((name, not line.lstrip().startswith(";")))
    return out


def installed_example(tmp_path):
    """The example configuration with the built plugins and a tokens file."""
    text = EXAMPLE.read_text().replace("/usr/lib/kanal/plugins", str(PLUGINS))
    tokens = write(tmp_path / "api-tokens", f"crm read {TOKEN}\n", 0o640)
    text = text.replace("/etc/kanal/api-tokens", str(tokens))
    conf = tmp_path / "kanal.conf"
    conf.write_text(text)
    return conf


def test_the_dropin_names_every_credential_of_the_example():
    creds, lines = example_creds(), dropin_lines()
    assert creds and any(active for _, active in creds)
    assert sorted(creds) == sorted((n, a) for n, _, a in lines), \
        f"cred: references {creds} and LoadCredential= lines {lines} differ"
    for name, src, _ in lines:
        assert src == f"/etc/kanal/credentials/{name}", src
    assert DROPIN.read_text().count("[Service]") == 1


def test_the_example_passes_with_the_dropins_credentials(tmp_path):
    conf = installed_example(tmp_path)
    # Without systemd and without --credentials-dir the check cannot read them.
    out = check(conf)
    assert out.returncode == 1
    num = line_of(conf, "= cred:crm-forms-secret")
    assert (str(conf), num) in [(f, n) for f, n, m in problems(out) if "LoadCredential=" in m]

    creds = tmp_path / "credentials"
    creds.mkdir(mode=0o700)
    for name, _, active in dropin_lines():
        if active:
            write(creds / name, f"{name}-value\n", 0o600)
    out = check(conf, "--credentials-dir", str(creds))
    assert out.returncode == 0, out.stderr
    assert out.stderr == "", out.stderr
    assert "configuration is valid (1 source(s))" in out.stdout


def test_credentials_dir_checks_as_the_daemon_does(tmp_path):
    """A credential the directory lacks, or an empty one, is the error a
    start under systemd would give, at the line that names it."""
    conf = installed_example(tmp_path)
    creds = tmp_path / "credentials"
    creds.mkdir()
    num = line_of(conf, "= cred:crm-forms-secret")
    out = check(conf, "--credentials-dir", str(creds))
    assert out.returncode == 1
    [(f, n, msg)] = problems(out)
    assert (f, n) == (str(conf), num) and "cannot read credential" in msg \
        and str(creds / "crm-forms-secret") in msg, msg
    write(creds / "crm-forms-secret", "\n", 0o600)
    out = check(conf, "--credentials-dir", str(creds))
    [(f, n, msg)] = problems(out)
    assert out.returncode == 1 and n == num and "is empty" in msg, msg
    # The option overrides the environment: the check is of DIR's files.
    other = tmp_path / "other"
    other.mkdir()
    write(other / "crm-forms-secret", "x-value\n", 0o600)
    out = check(conf, "--credentials-dir", str(creds), env={"CREDENTIALS_DIRECTORY": str(other)})
    assert out.returncode == 1, out.stderr


def test_the_dropin_verifies_with_the_unit(tmp_path):
    """systemd-analyze verify takes the unit with the drop-in beside it."""
    import test_systemd as ts
    unit = ts.render(tmp_path)
    d = unit.parent / "kanald.service.d"
    d.mkdir()
    (d / "credentials.conf").write_text(DROPIN.read_text())
    rc, ours, out = ts.verify(unit)
    assert rc == 0 and not ours, out
    broken = d / "credentials.conf"
    broken.write_text(DROPIN.read_text().replace("\nLoadCredential=", "\nLoadCredentail=", 1))
    rc, ours, out = ts.verify(unit)
    assert rc != 0 or ours, "a misspelt drop-in went unnoticed:\n" + out


# ---- --user: what the service user cannot read ----

@pytest.fixture
def public_dir():
    """A directory the service user may enter (pytest's tmp_path is 0700 root)."""
    if os.geteuid() != 0:
        pytest.skip("--user switches to another user: needs root")
    d = Path(tempfile.mkdtemp(prefix="kanal-creds-"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d)


def secret_sources(files):
    return "".join(f"[source s{i}]\nplugin = echo\ngreeting = hi\ntoken = file:{f}\n\n"
                   for i, f in enumerate(files))


def test_user_reports_the_files_the_service_user_cannot_read(make_kanald, public_dir):
    group = grp.getgrgid(pwd.getpwnam(USER).pw_gid).gr_name
    private = public_dir / "private"
    private.mkdir(mode=0o700)
    unreadable = {
        "0600 root": write(public_dir / "root-only", "s1-value\n", 0o600),
        "0640 root:root": write(public_dir / "root-group", "s2-value\n", 0o640, "root"),
        "behind a 0700 directory": write(private / "hidden", "s3-value\n", 0o640, group),
    }
    readable = {
        "0640 root:<its group>": write(public_dir / "group", "s4-value\n", 0o640, group),
        "0600 owned by the user": write(public_dir / "own", "s5-value\n", 0o600),
    }
    os.chown(readable["0600 owned by the user"], pwd.getpwnam(USER).pw_uid, -1)
    k = make_kanald(sources=secret_sources([*unreadable.values(), *readable.values()]),
                    test_plugins=("echo",))
    k.tokens = write(public_dir / "api-tokens", f"crm read {TOKEN}\n", 0o600)
    k.write_config()

    # As root everything reads: the check alone passes.
    out = check(k.conf)
    assert out.returncode == 0 and out.stderr == "", out.stderr

    out = check(k.conf, "--user", USER)
    assert out.returncode == 1
    found = problems(out)
    for what, f in unreadable.items():
        num = line_of(k.conf, f"token = file:{f}")
        hits = [m for p, n, m in found if (p, n) == (str(k.conf), num)]
        assert len(hits) == 1 and f"user {USER} cannot read {f}" in hits[0] \
            and "Permission denied" in hits[0], (what, out.stderr)
    for what, f in readable.items():
        assert str(f) not in out.stderr, (what, out.stderr)
    # The tokens file is read as the service user too.
    assert [m for p, n, m in found if p == str(k.tokens)] == \
        [f"API tokens: user {USER} cannot read {k.tokens}: Permission denied "
         f"(kanald runs as {USER}: make it root:{group}, mode 0640)"]
    assert len(found) == len(unreadable) + 1, out.stderr
    assert "configuration is valid" not in out.stdout

    # Fixed the documented way, the check passes.
    for f in unreadable.values():
        os.chmod(f, 0o640)
        os.chown(f, 0, grp.getgrnam(group).gr_gid)
    os.chmod(private, 0o750)
    os.chown(private, 0, grp.getgrnam(group).gr_gid)
    os.chown(k.tokens, 0, grp.getgrnam(group).gr_gid)
    os.chmod(k.tokens, 0o640)
    out = check(k.conf, "--user", USER)
    assert out.returncode == 0 and out.stderr == "", out.stderr


def test_user_does_not_check_credentials(make_kanald, public_dir, tmp_path):
    """systemd reads cred: files as root: a 0600 root credential is right."""
    creds = tmp_path / "credentials"
    creds.mkdir(mode=0o700)
    write(creds / "tok", "c-value\n", 0o600)
    k = make_kanald(sources="[source c]\nplugin = echo\ngreeting = hi\ntoken = cred:tok\n",
                    test_plugins=("echo",))
    k.tokens = write(public_dir / "api-tokens", f"crm read {TOKEN}\n", 0o644)
    k.write_config()
    out = check(k.conf, "--credentials-dir", str(creds), "--user", USER)
    assert out.returncode == 0, out.stderr
    # Only the warning about the tokens file others may read.
    [(f, n, msg)] = problems(out)
    assert f == str(k.tokens) and msg.startswith("warning: "), msg


def test_bad_usage_of_the_new_options(make_kanald, tmp_path):
    k = make_kanald(sources="")
    for args, needle in ((["--user", "no-such-user-kanal"], "no user named"),):
        out = check(k.conf, *args)
        assert out.returncode == 2 and needle in out.stderr, out.stderr
    for args in (["--user", USER], ["--credentials-dir", str(tmp_path)]):
        out = subprocess.run([str(KANALD), "-c", str(k.conf), *args], capture_output=True,
                             text=True)
        assert out.returncode == 2 and "go with --check-config" in out.stderr, out.stderr


# ---- files other users may read ----

def test_secret_files_others_may_read_are_warned_about(make_kanald, tmp_path):
    creds = tmp_path / "credentials"
    creds.mkdir()
    open_modes = [0o644, 0o604, 0o602, 0o601, 0o777]
    closed_modes = [0o600, 0o640, 0o660, 0o400]
    files = {}
    for m in open_modes + closed_modes:
        files[m] = write(tmp_path / f"secret-{m:o}", f"v{m:o}-value\n", m)
    write(creds / "open-cred", "c-value\n", 0o644)
    write(creds / "closed-cred", "c-value\n", 0o600)
    sources = secret_sources(files.values())
    sources += ("[source c1]\nplugin = echo\ngreeting = hi\ntoken = cred:open-cred\n\n"
                "[source c2]\nplugin = echo\ngreeting = hi\ntoken = cred:closed-cred\n")
    k = make_kanald(sources=sources, test_plugins=("echo",))
    os.chmod(k.tokens, 0o644)
    out = check(k.conf, "--credentials-dir", str(creds))
    assert out.returncode == 0, out.stderr  # warnings do not fail the check
    found = problems(out)
    assert all(m.startswith("warning: ") for _, _, m in found), out.stderr
    warned = {(f, n) for f, n, _ in found}
    for m in open_modes:
        assert (str(k.conf), line_of(k.conf, f"file:{files[m]}")) in warned, (oct(m), out.stderr)
    assert (str(k.conf), line_of(k.conf, "cred:open-cred")) in warned, out.stderr
    assert (str(k.tokens), 0) in warned, out.stderr
    assert len(found) == len(open_modes) + 2, out.stderr
    for m in closed_modes:
        assert str(files[m]) not in out.stderr, (oct(m), out.stderr)
    assert f"with {len(found)} warning(s)" in out.stdout

    # The running daemon warns too, in its log, and serves.
    k.start(env={"CREDENTIALS_DIRECTORY": str(creds)})
    log = k.log()
    assert f"{k.tokens}:0: warning: API tokens: {k.tokens} is open to other users" in log, log
    assert f"{k.conf}:{line_of(k.conf, 'cred:open-cred')}: warning: secret 'token'" in log, log


def test_tokens_file_in_the_documented_mode_gives_no_warning(make_kanald):
    k = make_kanald(sources="")
    assert os.stat(k.tokens).st_mode & 0o777 == 0o640
    out = check(k.conf)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    k.start()
    assert "warning" not in k.log(), k.log()


# ---- the tokens file: every problem, in the configuration's format ----

def test_every_problem_of_both_files_at_once(make_kanald):
    bad_tokens = {
        3: "crm read",                       # two fields
        5: f"crm reader {TOKEN}",            # unknown scope
        6: "crm write short",                # short secret
        8: f"crm read {TOKEN} {TOKEN}",      # four fields
    }
    text = ["# tokens", "", f"ok read {TOKEN}", "", "", "", f"ok2 admin {TOKEN}", ""]
    for num, line in bad_tokens.items():
        text[num - 1] = line
    k = make_kanald(sources="[source e1]\nplugin = echo\ngreetin = hi\n", test_plugins=("echo",))
    k.tokens.write_text("\n".join(text) + "\n")
    k.write_config(kanald="max_body = lots")
    out = check(k.conf)
    assert out.returncode == 1
    found = problems(out)
    assert sorted(n for f, n, _ in found if f == str(k.tokens)) == sorted(bad_tokens), out.stderr
    conf_lines = {n for f, n, _ in found if f == str(k.conf)}
    assert line_of(k.conf, "max_body = lots") in conf_lines
    assert line_of(k.conf, "greetin = hi") in conf_lines
    assert len(found) == len(bad_tokens) + len(conf_lines), out.stderr

    # The config fixed, the daemon refuses to start with every bad token line.
    k.write_config(sources="", kanald="")
    k.expect_exit = True
    k.start(wait=False)
    assert k.proc.wait(timeout=30) == 1
    k._reader.join(timeout=5)
    log = k.log()
    for num in bad_tokens:
        assert f"{k.tokens}:{num}: " in log, (num, log)
    assert "not starting" in log


def test_a_reload_reports_every_bad_token_line_and_warns(make_kanald, tmp_path):
    """SIGHUP: a tokens file with bad lines is refused with all of them (the
    running tokens stay); a good one others may read loads with a warning."""
    from kanal import READ_TOKEN
    k = make_kanald(sources="")
    k.start()
    assert k.api("/v1/sources", token=READ_TOKEN)[0] == 200
    k.tokens.write_text(f"crm read\nok read {TOKEN}\ncrm reader {TOKEN}\ncrm write short\n")
    mark = k.log_mark()
    k.hup()
    k.wait_log(r"reload refused", start=mark)
    log = "\n".join(k.log().splitlines()[mark:])
    for num in (1, 3, 4):
        assert f"{k.tokens}:{num}: " in log, (num, log)
    assert f"{k.tokens}:2: " not in log
    assert k.api("/v1/sources", token=READ_TOKEN)[0] == 200  # the old tokens serve

    k.tokens.write_text(f"crm read {TOKEN}\n")
    os.chmod(k.tokens, 0o604)
    mark = k.log_mark()
    k.hup()
    k.wait_log(r"configuration reloaded", start=mark)
    k.wait_log(rf"{re.escape(str(k.tokens))}:0: warning: API tokens: .* is open to other users "
               r"\(mode 0604\)", start=mark)
    assert k.api("/v1/sources", token=TOKEN)[0] == 200
    assert k.api("/v1/sources", token=READ_TOKEN)[0] == 401
