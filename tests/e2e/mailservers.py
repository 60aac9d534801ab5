# SPDX-License-Identifier: Apache-2.0
"""Real mail servers and clients for the e-mail tests, on 127.0.0.1 and on
ports picked at run time: Dovecot (IMAP), aiosmtpd (an SMTP server that
keeps what it receives) and swaks (an LMTP client).  Each server is stopped
by the test that started it, also when the test fails."""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from ports import free_port  # noqa: F401 (the tests import it from here)

FIXTURES = Path(__file__).parent / "fixtures" / "email"
BRAND = "destek@brand.example, @brand.example"



def fixture(name, **subst):
    data = (FIXTURES / name).read_bytes()
    for k, v in subst.items():
        data = data.replace(k.encode(), v.encode())
    return data


def email_source(name="mail", brand=BRAND, **opts):
    lines = [f"[source {name}]", "plugin = email", "insecure_inline_secrets = yes"]
    if brand:
        lines.append(f"brand_addresses = {brand}")
    lines += [f"{k} = {v}" for k, v in opts.items()]
    return "\n".join(lines) + "\n"


def lmtp_port(k):
    return int(k.wait_log(r"lmtp: accepting on 127\.0\.0\.1:(\d+)").group(1))


class Dovecot:
    """Dovecot in the foreground with a throwaway config, one user and a
    Maildir, as root (its mail processes run as the dovecot user)."""

    USER, PASSWORD = "kanal", "imap-secret-0123"

    def __init__(self, port=None):
        # Not under pytest's tmp_path: that is mode 0700 and the dovecot user
        # must reach the Maildir.
        self.dir = Path(tempfile.mkdtemp(prefix="kanal-dovecot-"))
        os.chmod(self.dir, 0o755)
        self.port = port or free_port()
        self.mail = self.dir / "mail"
        for d in ("base", "state", "mail"):
            (self.dir / d).mkdir(mode=0o755)
        shutil.chown(self.mail, "dovecot", "dovecot")
        self.conf = self.dir / "dovecot.conf"
        self.log = self.dir / "dovecot.log"
        (self.dir / "passwd").write_text(
            f"{self.USER}:{{PLAIN}}{self.PASSWORD}::::{self.mail}::"
            f"userdb_mail=maildir:{self.mail}\n")
        self.conf.write_text(f"""
protocols = imap
listen = 127.0.0.1
base_dir = {self.dir}/base
state_dir = {self.dir}/state
log_path = {self.log}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = dovenull
default_internal_user = dovecot
default_internal_group = dovecot
mail_uid = dovecot
mail_gid = dovecot
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:{self.mail}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.dir}/passwd
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {self.dir}/passwd
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  inet_listener http {{
    port = 0
  }}
}}
""")
        self.proc = None

    @property
    def url(self):
        return f"imap://127.0.0.1:{self.port}/INBOX"

    def source(self, name="mail", **opts):
        opts.setdefault("poll_interval", "1s")
        return email_source(name, imap_url=self.url, imap_user=self.USER,
                            imap_password=self.PASSWORD, allow_plaintext="yes", **opts)

    def start(self):
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", str(self.conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(100).startswith(b"* OK"):
                        return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = self.proc.stderr.read().decode() if self.proc.poll() is not None else ""
                self.stop()
                raise AssertionError(f"dovecot did not start: {err}\n{self.log_text()}")
            time.sleep(0.05)

    def log_text(self):
        return self.log.read_text() if self.log.exists() else ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    def append(self, data: bytes):
        """APPEND one message to INBOX, the way a user's mail program would."""
        path = self.dir / "append.eml"
        path.write_bytes(data)
        subprocess.run(["curl", "-sS", "-u", f"{self.USER}:{self.PASSWORD}", self.url,
                        "-T", str(path)], check=True, capture_output=True, timeout=30)

    def set_uidvalidity(self, value):
        subprocess.run(["doveadm", "-c", str(self.conf), "mailbox", "update", "-u", self.USER,
                        "--uid-validity", str(value), "INBOX"], check=True, capture_output=True,
                       timeout=30)

    def status(self):
        r = subprocess.run(["curl", "-sS", "-u", f"{self.USER}:{self.PASSWORD}",
                            f"imap://127.0.0.1:{self.port}/", "-X",
                            'STATUS "INBOX" (UIDVALIDITY UIDNEXT MESSAGES)'],
                           check=True, capture_output=True, text=True, timeout=30)
        return {k: int(v) for k, v in re.findall(r"(UIDVALIDITY|UIDNEXT|MESSAGES) (\d+)",
                                                  r.stdout)}


class SmtpSink:
    """aiosmtpd on 127.0.0.1, keeping each message it accepts.  refuse maps
    a recipient to the reply its RCPT gets ("550 5.1.1 ...")."""

    def __init__(self, port=None):
        from aiosmtpd.controller import Controller
        self.port = port or free_port()
        self.messages = []
        self.refuse = {}
        self.lock = threading.Lock()
        sink = self

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
                if address in sink.refuse:
                    return sink.refuse[address]
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server, session, envelope):
                with sink.lock:
                    sink.messages.append(envelope)
                return "250 Message accepted for delivery"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    @property
    def url(self):
        return f"smtp://127.0.0.1:{self.port}"

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()

    def wait(self, n, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= n:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"the SMTP server got {len(self.messages)} messages, expected {n}")


def swaks(to, data: bytes, port=None, socket_path=None, mail_from="ayse@example.com",
          tmp=None):
    """Deliver with swaks over LMTP; returns (exit code, [replies after the
    message's final dot], whole transcript)."""
    path = Path(tmp or tempfile.gettempdir()) / f"swaks-{os.getpid()}-{time.monotonic_ns()}.eml"
    path.write_bytes(data)
    target = ["--socket", str(socket_path)] if socket_path else ["--server", f"127.0.0.1:{port}"]
    try:
        r = subprocess.run(["swaks", "--protocol", "LMTP", *target, "--from", mail_from,
                            "--to", ",".join(to), "--data", f"@{path}", "--timeout", "60"],
                           capture_output=True, text=True, timeout=90)
    finally:
        path.unlink()
    out = r.stdout + r.stderr
    lines = out.splitlines()
    try:
        dot = max(i for i, line in enumerate(lines) if line.strip() == "-> .")
    except ValueError:
        dot = len(lines)
    replies = [re.sub(r"^<[-*~]*\s*", "", line) for line in lines[dot + 1:]
               if line.startswith("<") and "QUIT" not in line]
    replies = [x for x in replies if not x.startswith("221")]
    return r.returncode, replies, out
