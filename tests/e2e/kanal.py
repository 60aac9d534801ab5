# SPDX-License-Identifier: Apache-2.0
"""The one helper the end-to-end tests share: write a config, start the real
kanald, talk to it, stop it (also when a test fails), and read its log.

Every server a test starts listens on 127.0.0.1: kanald and the fakes on a
port the kernel picks, servers whose port goes into a config file first
(nats-server, Dovecot, Postfix) on one from ports.py.
"""
import hashlib
import hmac
import http.client
import json
import os
import re
import select
import signal
import subprocess
import threading
import time
from pathlib import Path

import jsonschema

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("KANAL_BUILD", ROOT / "build"))
KANALD = BUILD / "kanald"
PLUGINS = BUILD / "plugins"
TEST_PLUGINS = BUILD / "test-plugins"
SCHEMA = json.loads((ROOT / "sdk" / "schema" / "interaction-v1.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

READ_TOKEN = "test-read-token-0123456789"
WRITE_TOKEN = "test-write-token-0123456789"
ADMIN_TOKEN = "test-admin-token-0123456789"
WEBHOOK_SECRET = "test-webhook-secret"


def sign(body: bytes, secret: str = WEBHOOK_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def validate_record(rec):
    """Raise if rec does not follow sdk/schema/interaction-v1.json."""
    VALIDATOR.validate(rec)


def webhook_source(name="hooks", secret=WEBHOOK_SECRET, extra=""):
    return (f"[source {name}]\nplugin = webhook\ninsecure_inline_secrets = yes\n"
            f"secret = {secret}\ndefault_country = TR\n{extra}\n")


class Kanald:
    """A kanald process with its own directory, config, store and plugins."""

    def __init__(self, tmp: Path, sources: str = None, kanald: str = "", plugins=("webhook",),
                 test_plugins=(), store=None):
        self.dir = Path(tmp)
        self.plugin_dir = self.dir / "plugins"
        self.plugin_dir.mkdir(exist_ok=True)
        for p in plugins:
            self.link_plugin(PLUGINS / f"{p}.so")
        for p in test_plugins:
            self.link_plugin(TEST_PLUGINS / f"{p}.so")
        self.store = Path(store) if store else self.dir / "store"
        self.tokens = self.dir / "api-tokens"
        self.tokens.write_text(f"reader read {READ_TOKEN}\nwriter write {WRITE_TOKEN}\n"
                               f"admin admin {ADMIN_TOKEN}\n")
        self.tokens.chmod(0o640)  # the documented mode: kanald warns when others may read it
        self.conf = self.dir / "kanal.conf"
        self.kanald_extra = kanald
        self.sources = webhook_source() if sources is None else sources
        self.write_config()
        self.proc = None
        self.port = None
        self.expect_exit = False  # a test that expects kanald to exit by itself sets this
        self.killed = False
        self.log_lines = []
        self._log_lock = threading.Lock()
        self._log_proc = None
        self._partial = b""
        self._reader = None

    def link_plugin(self, path: Path):
        dest = self.plugin_dir / path.name
        if not dest.exists():
            dest.symlink_to(path)

    def config_text(self, sources=None, kanald=None):
        kanald = self.kanald_extra if kanald is None else kanald
        sources = self.sources if sources is None else sources
        return (f"[kanald]\nlisten = 127.0.0.1:0\nstore = {self.store}\n"
                f"plugin_dir = {self.plugin_dir}\nlog_level = debug\n{kanald}\n\n"
                f"[api]\ntokens = {self.tokens}\n\n{sources}")

    def write_config(self, sources=None, kanald=None, text=None):
        if sources is not None:
            self.sources = sources
        self.conf.write_text(text if text is not None else self.config_text(kanald=kanald))

    # ---- process ----

    def start(self, wait=True, env=None):
        self.killed = False
        e = dict(os.environ)
        e.pop("JOURNAL_STREAM", None)
        e.pop("NOTIFY_SOCKET", None)
        e.update(env or {})
        self.proc = subprocess.Popen([str(KANALD), "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=e)
        os.set_blocking(self.proc.stderr.fileno(), False)
        with self._log_lock:
            self._log_proc, self._partial, self.log_lines = self.proc, b"", []
        self._reader = threading.Thread(target=self._read_log, args=(self.proc,), daemon=True)
        self._reader.start()
        if wait:
            m = self.wait_log(r"listening on 127\.0\.0\.1:(\d+)", timeout=60)
            self.port = int(m.group(1))
        return self

    # kanald's log is read by a thread, and also by log() itself: what kanald
    # wrote before a test looks (a line logged before an answer the test
    # already has) is in log() even when the thread has not run since.

    def _take_log(self, proc):
        """Move what the pipe holds into log_lines (lock held); False at EOF."""
        try:
            data = os.read(proc.stderr.fileno(), 65536)
        except BlockingIOError:
            return True
        except (OSError, ValueError):
            data = b""
        if not data:
            if self._partial:
                self.log_lines.append(self._partial.decode("utf-8", "replace"))
                self._partial = b""
            return False
        *lines, self._partial = (self._partial + data).split(b"\n")
        self.log_lines.extend(line.decode("utf-8", "replace") for line in lines)
        return True

    def _read_log(self, proc):
        fd = proc.stderr.fileno()
        while True:
            try:
                select.select([fd], [], [], 0.2)
            except (OSError, ValueError):
                pass  # closed: _take_log sees it as the end
            with self._log_lock:
                if self._log_proc is not proc or not self._take_log(proc):
                    return

    def _drain_log(self):
        with self._log_lock:
            proc = self._log_proc
            if proc is not None:
                while self._take_log(proc):
                    try:
                        if not select.select([proc.stderr.fileno()], [], [], 0)[0]:
                            break
                    except (OSError, ValueError):
                        break

    def log(self):
        self._drain_log()
        with self._log_lock:
            return "\n".join(self.log_lines)

    def wait_log(self, pattern, timeout=30, start=0):
        """Wait until a log line (from index start on) matches; return the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            self._drain_log()
            with self._log_lock:
                lines = list(self.log_lines[start:])
            for line in lines:
                m = rx.search(line)
                if m:
                    return m
            if self.proc.poll() is not None and time.monotonic() > deadline - timeout + 0.5:
                self._reader.join(timeout=2)
                with self._log_lock:
                    lines = list(self.log_lines[start:])
                for line in lines:
                    m = rx.search(line)
                    if m:
                        return m
                raise AssertionError(f"kanald exited ({self.proc.returncode}) before logging "
                                     f"/{pattern}/; log:\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no log line matching /{pattern}/ within {timeout}s; "
                                     f"log:\n{self.log()}")
            time.sleep(0.02)

    def log_mark(self):
        self._drain_log()
        with self._log_lock:
            return len(self.log_lines)

    def stop(self, timeout=15):
        """SIGTERM and wait; returns the exit code."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"kanald did not stop within {timeout}s of SIGTERM:\n{self.log()}")
        self._reader.join(timeout=5)
        return rc

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.killed = True
        if self._reader:
            self._reader.join(timeout=5)

    def hup(self):
        self.proc.send_signal(signal.SIGHUP)

    # ---- HTTP ----

    def conn(self, timeout=30):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=30):
        c = self.conn(timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, dict(r.getheaders()), data
        finally:
            c.close()

    def post_hook(self, record, source="hooks", secret=WEBHOOK_SECRET, signature=None):
        body = record if isinstance(record, bytes) else json.dumps(record).encode()
        h = {"Content-Type": "application/json"}
        if signature is not False:
            h["X-Kanal-Signature"] = signature or sign(body, secret)
        return self.request("POST", f"/hooks/{source}", body, h)

    def api(self, path, token=READ_TOKEN, method="GET", body=None, timeout=70):
        h = {"Authorization": f"Bearer {token}"} if token else {}
        if body is not None:
            h["Content-Type"] = "application/json"
            body = json.dumps(body).encode()
        status, headers, data = self.request(method, path, body, h, timeout=timeout)
        return status, (json.loads(data) if data else None)

    def feed(self, after=0, limit=1000, **params):
        """Every record after `after`, following next/more."""
        out = []
        while True:
            q = "&".join([f"after={after}", f"limit={limit}"] +
                         [f"{k}={v}" for k, v in params.items()])
            status, page = self.api(f"/v1/interactions?{q}")
            assert status == 200, page
            out.extend(page["interactions"])
            after = page["next"]
            if not page["more"]:
                return out


def message(external_id, text="hello", handle="email:ayse@example.com", **extra):
    rec = {"kind": "message", "direction": "inbound", "external_id": external_id,
           "occurred_at": "2026-11-23T10:00:00.000Z", "from": {"handle": handle},
           "text": text}
    rec.update(extra)
    return rec


def wait_message(k, mid, want, timeout=60):
    """Poll GET /v1/messages/<mid> until its status is one of want."""
    deadline = time.monotonic() + timeout
    while True:
        status, m = k.api(f"/v1/messages/{mid}")
        assert status == 200, m
        if m["status"] in want:
            return m
        if time.monotonic() > deadline:
            raise AssertionError(f"message {mid} is {m}, expected {want}")
        time.sleep(0.05)
