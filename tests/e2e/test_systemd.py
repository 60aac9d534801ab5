# SPDX-License-Identifier: Apache-2.0
"""The systemd integration under systemd/: the unit template, the sysusers and
tmpfiles snippets, and the sd_notify protocol the unit relies on.

Everything runs offline, without a running systemd: `systemd-analyze verify`
and `systemd-analyze security --offline=true` on the rendered unit, and
`systemd-sysusers` / `systemd-tmpfiles` against a scratch root directory.
A missing tool is a failure, not a skip (the `systemd` package is one of the
Makefile's TEST_DEBS).
"""
import os
import re
import shutil
import signal
import socket
import stat
import struct
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("KANAL_BUILD") or ROOT / "build")
KANALD = BUILD / "kanald"
SYSTEMD = ROOT / "systemd"
TEMPLATE = SYSTEMD / "kanald.service.in"
SYSUSERS = SYSTEMD / "kanal.sysusers"
TMPFILES = SYSTEMD / "kanal.tmpfiles"

# `systemd-analyze security` scale: 0.0 (locked down) .. 10.0 (unsafe).
# The unit scores 1.1 with systemd 252; anything above 2.0 means hardening was lost.
MAX_EXPOSURE = 2.0


def tool(name):
    path = shutil.which(name)
    assert path, (f"{name} not found: install the Debian package 'systemd' "
                  f"(make deps-test does it)")
    return path


def run(cmd, **kw):
    # Pin the log level: an inherited SYSTEMD_LOG_LEVEL=err would hide the
    # warnings ("Unknown key", "Failed to parse ...") these tests look for.
    env = dict(os.environ, SYSTEMD_LOG_LEVEL="info", SYSTEMD_LOG_COLOR="0", SYSTEMD_PAGER="",
               LC_ALL="C.UTF-8")
    return subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, env=env, timeout=120, **kw)


def render(tmp: Path, text: str = None) -> Path:
    """Render the template the way `make install` does, with @SBINDIR@ a
    scratch directory holding a link to the built kanald (verify checks that
    ExecStart= exists and is executable). Returns the unit's path."""
    assert KANALD.is_file() and os.access(KANALD, os.X_OK), \
        f"{KANALD} is missing: run `make` first (or set KANAL_BUILD)"
    sbin = tmp / "sbin"
    sbin.mkdir(parents=True, exist_ok=True)
    if not (sbin / "kanald").exists():
        (sbin / "kanald").symlink_to(KANALD)
    text = TEMPLATE.read_text() if text is None else text
    text = text.replace("@SBINDIR@", str(sbin)).replace("@SYSCONFDIR@", "/etc")
    left = re.findall(r"@[A-Z_]+@", text)
    assert not left, f"placeholders the Makefile does not substitute: {sorted(set(left))}"
    units = tmp / "units"
    units.mkdir(exist_ok=True)
    unit = units / "kanald.service"
    unit.write_text(text)
    return unit


def verify(unit: Path):
    """Run systemd-analyze verify; return (exit code, output lines about kanald)."""
    r = run([tool("systemd-analyze"), "verify", "--man=no", "--recursive-errors=no", unit])
    ours = [line for line in r.stdout.splitlines() if "kanald" in line]
    return r.returncode, ours, r.stdout


def settings(unit_text: str):
    """key -> list of values, in order ([Service], [Unit], [Install] alike)."""
    out = {}
    for line in unit_text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;[":
            continue
        k, _, v = line.partition("=")
        out.setdefault(k.strip(), []).append(v.strip())
    return out


# ---- the unit ----

def test_unit_verifies(tmp_path):
    rc, ours, out = verify(render(tmp_path))
    assert rc == 0, f"systemd-analyze verify exited {rc}:\n{out}"
    assert not ours, "systemd-analyze verify complains about the unit:\n" + "\n".join(ours)


def test_verify_catches_broken_units(tmp_path):
    """The check above must be able to fail: a misspelt key, a bad value and
    a missing binary each show up (as output or as the exit code)."""
    good = TEMPLATE.read_text()
    broken = {
        "misspelt key": good.replace("\nRestrictRealtime=yes", "\nRestrictRealtim=yes"),
        "bad value": good.replace("\nProtectProc=invisible", "\nProtectProc=invisibel"),
        "bad type": good.replace("\nType=notify", "\nType=notfy"),
    }
    for what, text in broken.items():
        assert text != good, f"{what}: the template no longer has the line this test breaks"
        rc, ours, out = verify(render(tmp_path / what.replace(" ", "-"), text))
        assert rc != 0 or ours, f"{what} went unnoticed:\n{out}"
    d = tmp_path / "no-binary"
    unit = render(d)
    (d / "sbin" / "kanald").unlink()
    rc, ours, out = verify(unit)
    assert rc != 0, f"a missing ExecStart binary went unnoticed:\n{out}"


def test_unit_contract():
    """What kanald and the other two snippets rely on."""
    s = settings(TEMPLATE.read_text())
    want = {
        "Type": ["notify"], "NotifyAccess": ["main"], "WatchdogSec": ["30s"],
        "ExecStart": ["@SBINDIR@/kanald -c @SYSCONFDIR@/kanal/kanal.conf"],
        "ExecReload": ["/bin/kill -HUP $MAINPID"], "Restart": ["on-failure"],
        "User": ["kanal"], "Group": ["kanal"], "StateDirectory": ["kanal"],
        "ConfigurationDirectory": ["kanal"], "RuntimeDirectory": ["kanal"],
        "CapabilityBoundingSet": [""], "AmbientCapabilities": [""],
        "WantedBy": ["multi-user.target"],
    }
    for k, v in want.items():
        assert s.get(k) == v, f"{k}= is {s.get(k)}, want {v}"
    assert "ExecStartPre" not in s, "kanald checks its configuration itself"
    # The store must stay reachable and private under ProtectSystem=strict.
    assert s["ProtectSystem"] == ["strict"]
    # Directory modes agree with kanal.tmpfiles, so neither side fights the other.
    tmpfiles = {f[1]: f for f in (l.split() for l in TMPFILES.read_text().splitlines())
                if f and not f[0].startswith("#")}
    assert s["StateDirectoryMode"] == [tmpfiles["/var/lib/kanal"][2]]
    assert s["ConfigurationDirectoryMode"] == [tmpfiles["/etc/kanal"][2]]


def test_unit_security_exposure(tmp_path):
    unit = render(tmp_path)
    r = run([tool("systemd-analyze"), "security", "--offline=true", "--no-pager",
             f"--threshold={int(MAX_EXPOSURE * 10)}", unit])
    m = re.search(r"Overall exposure level for kanald\.service: (\d+\.\d+)", r.stdout)
    assert m, f"no exposure level in the output:\n{r.stdout}"
    score = float(m.group(1))
    print(f"systemd-analyze security: exposure {score}")
    assert score <= MAX_EXPOSURE and r.returncode == 0, \
        f"exposure {score} > {MAX_EXPOSURE} (exit {r.returncode}):\n{r.stdout}"
    # And the scoring does notice lost hardening: without the sandbox block
    # the same unit must score worse than the limit.
    text = TEMPLATE.read_text()
    assert "# ---- sandbox ----" in text, "the template lost its sandbox marker comment"
    bare = text.split("# ---- sandbox ----")[0] + "\n[Install]\nWantedBy=multi-user.target\n"
    r = run([tool("systemd-analyze"), "security", "--offline=true", "--no-pager",
             render(tmp_path / "bare", bare)])
    m = re.search(r"Overall exposure level for kanald\.service: (\d+\.\d+)", r.stdout)
    assert m and float(m.group(1)) > MAX_EXPOSURE, r.stdout


# ---- sysusers and tmpfiles ----

def test_sysusers_and_tmpfiles(tmp_path):
    """Apply both snippets to a scratch root: the user and group come out as a
    nologin system account homed in the store, and the directories get the
    owners and modes the unit expects."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    # Files named on the command line are looked up inside --root, so feed
    # the snippets on stdin.
    r = run([tool("systemd-sysusers"), f"--root={root}", "-"], input=SYSUSERS.read_text())
    assert r.returncode == 0, f"systemd-sysusers failed:\n{r.stdout}"
    users = {l.split(":")[0]: l.split(":") for l in (root / "etc/passwd").read_text().splitlines()}
    groups = {l.split(":")[0]: l.split(":") for l in (root / "etc/group").read_text().splitlines()}
    assert "kanal" in users, (root / "etc/passwd").read_text()
    assert "kanal" in groups, (root / "etc/group").read_text()
    _, _, uid, gid, _, home, shell = users["kanal"]
    uid, gid = int(uid), int(gid)
    assert 0 < uid < 1000, f"kanal should be a system user, got uid {uid}"
    assert gid == int(groups["kanal"][2])
    assert home == "/var/lib/kanal"
    assert shell.endswith("/nologin")

    r = run([tool("systemd-tmpfiles"), "--create", f"--root={root}", "-"],
            input=TMPFILES.read_text())
    assert r.returncode == 0, f"systemd-tmpfiles failed:\n{r.stdout}"
    want = {
        "var/lib/kanal": (0o750, uid, gid),
        "etc/kanal": (0o750, 0, gid),
        "etc/kanal/credentials": (0o700, 0, 0),
    }
    for path, (mode, owner, group) in want.items():
        st = (root / path).stat()
        got = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
        assert stat.S_ISDIR(st.st_mode) and got == (mode, owner, group), \
            f"/{path}: mode/uid/gid {oct(got[0])}/{got[1]}/{got[2]}, " \
            f"want {oct(mode)}/{owner}/{group}"


def test_sysusers_rejects_garbage():
    """The sysusers check can fail: a malformed line is an error."""
    r = run([tool("systemd-sysusers"), "--dry-run", "-"],
            input=SYSUSERS.read_text() + "u kanal2 - \"x\" /var/lib/kanal /usr/sbin/nologin junk\n")
    assert r.returncode != 0, r.stdout


# ---- the sd_notify protocol that Type=notify, NotifyAccess=main and WatchdogSec= rely on ----

class NotifySocket:
    def __init__(self, path: Path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.messages = []  # (sender pid, {key: value})

    def wait(self, key, value=None, timeout=30, start=0):
        """The first message from index start on with key (=value): returns
        (its index, sender pid, fields)."""
        deadline = time.monotonic() + timeout
        while True:
            for i in range(start, len(self.messages)):
                pid, m = self.messages[i]
                if key in m and (value is None or m[key] == value):
                    return i, pid, m
            left = deadline - time.monotonic()
            assert left > 0, \
                f"no {key}={value or '*'} within {timeout}s; got {self.messages[start:]}"
            self.sock.settimeout(left)
            try:
                data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
            except socket.timeout:
                continue
            pid = None
            for level, typ, cdata in anc:
                if level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iII", cdata[:12])[0]
            fields = dict(l.split("=", 1) for l in data.decode().splitlines() if "=" in l)
            self.messages.append((pid, fields))

    def close(self):
        self.sock.close()


def test_sd_notify_protocol(make_kanald, tmp_path):
    ns = NotifySocket(tmp_path / "notify")
    try:
        k = make_kanald().start(env={"NOTIFY_SOCKET": str(ns.path), "WATCHDOG_USEC": "400000"})
        pid = k.proc.pid
        # NotifyAccess=main: every message must come from the main process.
        i, sender, _ = ns.wait("READY", "1")
        assert sender == pid
        i, sender, _ = ns.wait("WATCHDOG", "1", timeout=3, start=i)  # every 200 ms
        assert sender == pid
        i, sender, _ = ns.wait("WATCHDOG", "1", timeout=3, start=i + 1)  # and again
        assert sender == pid

        start = len(ns.messages)
        before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        k.hup()
        i, sender, m = ns.wait("RELOADING", "1", start=start)
        assert sender == pid
        # systemd (>= 253) ignores a RELOADING=1 without a fresh timestamp.
        now = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        assert before <= int(m["MONOTONIC_USEC"]) <= now
        _, sender, _ = ns.wait("READY", "1", start=i + 1)  # reload done: back to "active"
        assert sender == pid

        start = len(ns.messages)
        k.proc.send_signal(signal.SIGTERM)
        _, sender, _ = ns.wait("STOPPING", "1", start=start)
        assert sender == pid
        assert k.proc.wait(timeout=30) == 0, k.log()
    finally:
        ns.close()
