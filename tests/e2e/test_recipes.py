# SPDX-License-Identifier: Apache-2.0
"""The recipes in conf/examples/, run as written: a real Postfix delivering
to kanald over LMTP with conf/examples/postfix/, and a real nginx in front of
kanald with conf/examples/nginx-kanal.conf.  Each test renders the recipe
files themselves (only ports and paths substituted), so the recipe an
operator copies is the one tested.  Postfix and nginx run as root with their
own configuration in a temporary directory, on loopback ports picked at run
time, and are stopped by the test also when it fails."""
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
from pathlib import Path

import pytest

from kanal import ROOT, validate_record
from mailservers import SmtpSink, email_source, fixture, free_port, lmtp_port

EXAMPLES = ROOT / "conf" / "examples"


def render(text, *substitutions):
    """Apply (old, new) substitutions to a recipe; each must match, so that
    a recipe that changes shape fails here instead of going untested."""
    for old, new in substitutions:
        assert old in text, f"the recipe no longer contains {old!r}"
        text = text.replace(old, new)
    return text


def wait_until(what, check, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout}s")
        time.sleep(0.1)


def scratch_dir(prefix):
    # Not under pytest's tmp_path (mode 0700): Postfix's and nginx's
    # unprivileged processes must reach their queue and temp directories.
    d = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(d, 0o755)
    return d


# ---- Postfix ----

class Postfix:
    """Postfix with its own config directory, queue and log; SMTP on a
    loopback port, and the recipe's main.cf lines and transport table."""

    def __init__(self, lmtp, relayhost):
        self.dir = scratch_dir("kanal-postfix-")
        self.etc = self.dir / "etc"
        self.etc.mkdir()
        (self.dir / "queue").mkdir(mode=0o755)
        self.port = free_port()
        self.log = self.dir / "maillog"
        shutil.copy("/etc/postfix/master.cf", self.etc / "master.cf")
        snippet = render((EXAMPLES / "postfix" / "main.cf.snippet").read_text(),
                         ("/etc/postfix/", f"{self.etc}/"))
        transport = render((EXAMPLES / "postfix" / "kanal-transport").read_text(),
                           ("127.0.0.1:2424", f"127.0.0.1:{lmtp}"))
        (self.etc / "kanal-transport").write_text(transport)
        # What a host's own main.cf already says, then the recipe's lines.
        # Mail that is not the brand's (here: the bounces) goes to relayhost,
        # the test's SMTP sink standing in for the sender's mail server.
        (self.etc / "main.cf").write_text(f"""compatibility_level = 3.6
queue_directory = {self.dir}/queue
data_directory = {self.dir}/data
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = loopback-only
inet_protocols = ipv4
myhostname = mx.brand.example
mydomain = brand.example
mydestination =
alias_maps =
alias_database =
local_recipient_maps =
smtpd_peername_lookup = no
maillog_file_prefixes = {self.dir}
maillog_file = {self.log}
relayhost = [127.0.0.1]:{relayhost}
{snippet}""")
        self.postconf("-F", "*/*/chroot = n")  # no copies of /etc in a chroot
        self.postconf("-MX", "smtp/inet")
        smtpd = f"127.0.0.1:{self.port}"
        self.postconf("-M", f"{smtpd}/inet={smtpd} inet n - n - - smtpd")
        subprocess.run(["postmap", "-c", str(self.etc), f"hash:{self.etc}/kanal-transport"],
                       check=True, capture_output=True, timeout=30)
        self.started = False

    def postconf(self, *args):
        subprocess.run(["postconf", "-c", str(self.etc), *args], check=True, capture_output=True,
                       timeout=30)

    def log_text(self):
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self):
        r = subprocess.run(["postfix", "-c", str(self.etc), "start"], capture_output=True,
                           text=True, timeout=60)
        self.started = r.returncode == 0
        if not self.started:
            self.cleanup()
            raise AssertionError(f"postfix did not start: {r.stdout}{r.stderr}\n{self.log_text()}")
        try:
            wait_until("Postfix's smtpd listening", self.answers, timeout=60)
        except AssertionError:
            self.cleanup()
            raise
        return self

    def answers(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                return s.recv(100).startswith(b"220")
        except OSError:
            return False

    def cleanup(self):
        pidfile = self.dir / "queue" / "pid" / "master.pid"
        pid = int(pidfile.read_text()) if pidfile.exists() else None
        if self.started:
            subprocess.run(["postfix", "-c", str(self.etc), "stop"], capture_output=True,
                           timeout=60)
        if pid:  # postfix stop only signals the master: wait until it is gone
            try:
                wait_until("Postfix's master to exit", lambda: not alive(pid), timeout=60)
            except AssertionError:
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __exit__(self, *exc):
        self.cleanup()


def alive(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def smtp(port, to, data, tmp, mail_from="ayse@example.com"):
    """Send with swaks over SMTP, as the Internet would; (exit code, transcript)."""
    path = Path(tmp) / f"smtp-{time.monotonic_ns()}.eml"
    path.write_bytes(data)
    r = subprocess.run(["swaks", "--server", f"127.0.0.1:{port}", "--from", mail_from,
                        "--to", ",".join(to), "--data", f"@{path}", "--timeout", "60"],
                       capture_output=True, text=True, timeout=90)
    return r.returncode, r.stdout + r.stderr


def test_postfix_recipe_delivers_the_support_addresses_to_kanald(make_kanald, tmp_path):
    k = make_kanald(sources=email_source(lmtp_listen="127.0.0.1:0", max_message_size="20K"),
                    plugins=("email",)).start()
    with SmtpSink() as sender_mx, Postfix(lmtp_port(k), sender_mx.port) as pf:
        # Two support addresses, one message: Postfix relays it to kanald,
        # which stores it once, with both envelope recipients.
        rcpts = ["destek@brand.example", "info@brand.example"]
        rc, out = smtp(pf.port, rcpts, fixture("turkish.eml"), tmp_path)
        assert rc == 0, out
        [rec] = wait_until("the record", lambda: k.feed(), timeout=60)
        validate_record(rec)
        assert (rec["channel"], rec["kind"], rec["direction"]) == ("email", "message", "inbound")
        assert rec["external_id"] == "20251123101500.4711@mail.example.com"
        assert rec["subject"] == "Siparişim nerede? Çok geç kaldı"
        assert rec["meta"]["via"] == "lmtp" and rec["meta"]["envelope_from"] == "ayse@example.com"
        assert rec["meta"]["envelope_to"] == rcpts
        assert re.search(r"to=<destek@brand\.example>.*relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+"
                         r".*status=sent", pf.log_text()), pf.log_text()

        # An address of the domain that kanald does not take is refused
        # while the sender is still connected: nothing to bounce, nothing stored.
        rc, out = smtp(pf.port, ["nobody@brand.example"], fixture("peer.eml"), tmp_path)
        assert rc != 0 and re.search(r"<~?\*+ 550 5\.1\.1 <nobody@brand\.example>: Recipient "
                                     r"address rejected: User unknown in relay recipient table",
                                     out), out

        # Over kanald's max_message_size (under Postfix's own limit): Postfix
        # accepts it, then its lmtp client learns kanald's limit from the
        # SIZE in kanald's LHLO reply and bounces the message to its sender,
        # naming that limit.  Nothing is stored.
        big = fixture("peer.eml").replace(b"Did you see this?", b"Did you see this?\r\n" +
                                          (b"y" * 76 + b"\r\n") * 400)
        assert len(big) > 20 * 1024
        rc, out = smtp(pf.port, ["satis@brand.example"], big, tmp_path)
        assert rc == 0, out  # Postfix took it: message_size_limit is larger
        [bounce] = sender_mx.wait(1, timeout=60)
        assert bounce.mail_from == "<>" and bounce.rcpt_tos == ["ayse@example.com"]
        text = bounce.content.decode("utf-8", "replace")
        assert "Subject: Undelivered Mail Returned to Sender" in text
        assert re.search(r"<satis@brand\.example>: message size \d+ exceeds size limit 20480 of\s+"
                         r"server\s+127\.0\.0\.1\[127\.0\.0\.1\]", text), text
        assert re.search(r"Final-Recipient: rfc822; satis@brand\.example\r?\n"
                         r"Original-Recipient: rfc822;satis@brand\.example\r?\n"
                         r"Action: failed\r?\nStatus: 5\.3\.4\r?\n", text), text
        assert len(k.feed()) == 1


# ---- nginx ----

HOST = "crm.example.com"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
TW_TOKEN = "twilio-test-auth-token-0123"
META_SECRET = "test-meta-app-secret"
TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def recipe_kanald_keys():
    """The [kanald] lines the nginx recipe tells the operator to write,
    without listen (the test's kanald listens on a port of its own)."""
    text = (EXAMPLES / "nginx-kanal.conf").read_text()
    block = re.search(r"^#   \[kanald\]\n((?:#   \w.*\n)+)", text, re.M)
    assert block, "the nginx recipe no longer shows kanald's [kanald] lines"
    lines = [line[1:].strip() for line in block.group(1).splitlines()]
    keys = [line for line in lines if not line.startswith("listen ")]
    assert any(line.startswith("max_body") for line in keys), keys
    assert any(line.startswith("trusted_proxies") for line in keys), keys
    return "\n".join(keys) + "\n"


class Nginx:
    """nginx (Debian nginx-light) with a throwaway nginx.conf around the
    rendered recipe and a certificate made here, on a loopback port."""

    def __init__(self):
        self.dir = scratch_dir("kanal-nginx-")
        self.cert, self.key = self.dir / "cert.pem", self.dir / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", f"/CN={HOST}", "-addext", f"subjectAltName=DNS:{HOST}",
                        "-keyout", str(self.key), "-out", str(self.cert)],
                       check=True, capture_output=True, timeout=60)
        for d in ("client_body", "proxy"):  # the workers (nobody) write there
            (self.dir / d).mkdir()
            shutil.chown(self.dir / d, "nobody")
        # Picked before kanald starts: the providers' public URLs name it.
        self.port = free_port()
        self.proc = None

    @property
    def base(self):
        return f"https://{HOST}:{self.port}"

    def start(self, upstream):
        site = render((EXAMPLES / "nginx-kanal.conf").read_text(),
                      ("listen 443 ssl http2;", f"listen 127.0.0.1:{self.port} ssl http2;"),
                      ("    listen [::]:443 ssl http2;\n", ""),
                      ("/etc/ssl/certs/crm.example.com.pem", str(self.cert)),
                      ("/etc/ssl/private/crm.example.com.key", str(self.key)),
                      ("server 127.0.0.1:8470;", f"server 127.0.0.1:{upstream};"))
        (self.dir / "kanal-site.conf").write_text(site)
        (self.dir / "nginx.conf").write_text(f"""daemon off;
worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {self.dir}/client_body;
    proxy_temp_path {self.dir}/proxy;
    include {self.dir}/kanal-site.conf;
}}
""")
        self.proc = subprocess.Popen([NGINX, "-p", str(self.dir), "-c",
                                      str(self.dir / "nginx.conf"), "-e",
                                      str(self.dir / "error.log")],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_until("nginx listening", self.listening, timeout=60)
        return self

    def log_text(self):
        p = self.dir / "error.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def listening(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"nginx exited:\n{self.log_text()}")
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def cleanup(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def curl(self, path, body=None, headers=None, interface=None, chunked=False):
        """A request over HTTPS to the public name, the certificate checked;
        (status, headers, body)."""
        tag = time.monotonic_ns()
        bodyf, outf, headf = (self.dir / f"{n}-{tag}" for n in ("req", "resp", "head"))
        cmd = ["curl", "-sS", "--cacert", str(self.cert), "--resolve",
               f"{HOST}:{self.port}:127.0.0.1", "-o", str(outf), "-D", str(headf),
               "-w", "%{http_code}", "--max-time", "120", "--http1.1"]
        if body is not None:
            bodyf.write_bytes(body)
            cmd += ["--data-binary", f"@{bodyf}"]
        if chunked:
            cmd += ["-H", "Transfer-Encoding: chunked"]
        if interface:
            cmd += ["--interface", interface]
        for name, value in (headers or {}).items():
            cmd += ["-H", f"{name}: {value}"]
        r = subprocess.run(cmd + [self.base + path], capture_output=True, text=True, timeout=150)
        assert r.returncode == 0, r.stderr
        head = {}
        for line in headf.read_text().splitlines()[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                head[name.strip().lower()] = value.strip()
        data = outf.read_bytes() if outf.exists() else b""
        for f in (bodyf, outf, headf):
            f.unlink(missing_ok=True)
        return int(r.stdout), head, data


@pytest.fixture
def behind_nginx(make_kanald):
    """A whatsapp and an sms source in kanald, configured as the nginx
    recipe says, and the recipe's nginx in front of it."""
    nginx = Nginx()
    try:
        sources = (f"[source wa-main]\nplugin = whatsapp\ninsecure_inline_secrets = yes\n"
                   f"app_secret = {META_SECRET}\nverify_token = kanal-verify-7f3a\n"
                   f"public_url = {nginx.base}/hooks/wa-main\n\n"
                   f"[source sms-main]\nplugin = sms\ninsecure_inline_secrets = yes\n"
                   f"account_sid = AC0123456789abcdef0123456789abcdef\nauth_token = {TW_TOKEN}\n"
                   f"public_url = {nginx.base}/hooks/sms-main\ndefault_country = TR\n")
        k = make_kanald(sources=sources, plugins=("whatsapp", "sms"),
                        kanald=recipe_kanald_keys()).start()
        nginx.start(upstream=k.port)
        yield k, nginx
    finally:
        nginx.cleanup()


def whatsapp_batch(n, text_len):
    """One WhatsApp delivery of n text messages of about text_len bytes each."""
    messages, contacts = [], []
    for i in range(n):
        who = f"90532{i:07d}"
        contacts.append({"profile": {"name": f"Müşteri {i}"}, "wa_id": who})
        messages.append({"from": who, "id": f"wamid.BIG{i:05d}", "timestamp": str(1795424400 + i),
                         "type": "text", "text": {"body": f"Sipariş {i} " + "k" * text_len}})
    return json.dumps({"object": "whatsapp_business_account", "entry": [{
        "id": "102290129340398", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "905551112233",
                         "phone_number_id": "106540352242922"},
            "contacts": contacts, "messages": messages}}]}]}).encode()


def meta_signed(body):
    sig = "sha256=" + hmac.new(META_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Hub-Signature-256": sig}


def test_nginx_recipe_passes_whatsapp_deliveries_up_to_max_body(behind_nginx):
    k, nginx = behind_nginx
    # 3 MB: what nginx's default client_max_body_size (1m) would refuse.
    body = whatsapp_batch(1000, 3000)
    assert 3_000_000 < len(body) < 4 * 1024 * 1024
    status, _, answer = nginx.curl("/hooks/wa-main", body, meta_signed(body))
    assert status == 200, (answer, nginx.log_text())
    assert json.loads(answer)["seqs"] == list(range(1, 1001))
    recs = k.feed()
    assert len(recs) == 1000
    assert recs[777]["external_id"] == "wamid.BIG00777"
    assert recs[777]["text"] == "Sipariş 777 " + "k" * 3000
    for r in recs[::199]:
        validate_record(r)
    # Over max_body (= client_max_body_size): nginx answers 413 itself,
    # with a Content-Length and read as it streams in (chunked), and kanald
    # never sees the request.
    big = whatsapp_batch(1400, 3000)
    assert len(big) > 4 * 1024 * 1024
    mark = k.log_mark()
    for chunked in (False, True):
        status, head, answer = nginx.curl("/hooks/wa-main", big, meta_signed(big), chunked=chunked)
        assert status == 413 and head["server"].startswith("nginx"), (status, head)
        assert b"413 Request Entity Too Large" in answer
    assert "client intended to send too large" in nginx.log_text()
    assert len(k.feed()) == 1000
    assert "wa-main" not in "\n".join(k.log_lines[mark:])
    # /metrics needs no token: the recipe keeps it off the public side.
    assert nginx.curl("/metrics")[0] == 403


def tw_form(name):
    return urllib.parse.parse_qsl((Path(__file__).parent / "fixtures" / "twilio" / name)
                                  .read_text(), keep_blank_values=True)


def replace_value(params, key, value):
    return [(name, value if name == key else v) for name, v in params]


def tw_signature(url, params):
    """Twilio's scheme, written independently of the plugin."""
    text = url + "".join(key + value for key, value in sorted(params))
    return base64.b64encode(hmac.new(TW_TOKEN.encode(), text.encode(), hashlib.sha1)
                            .digest()).decode()


def tw_post(nginx, params, signed_url, interface=None, extra=None):
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "X-Twilio-Signature": tw_signature(signed_url, params), **(extra or {})}
    return nginx.curl("/hooks/sms-main", urllib.parse.urlencode(params).encode(), headers,
                      interface=interface)


def test_nginx_recipe_keeps_twilio_signatures_over_the_public_url(behind_nginx):
    k, nginx = behind_nginx
    public = f"{nginx.base}/hooks/sms-main"
    params = tw_form("sms_inbound.form")
    # Twilio signs the https URL it calls, which only nginx serves: kanald
    # checks it against public_url, and the request is stored.
    status, _, answer = tw_post(nginx, params, public)
    assert status == 200 and answer == TWIML, answer
    [rec] = k.feed()
    assert rec["external_id"] == "SM5a1c0b2d3e4f5a6b7c8d9e0f1a2b3c4d"
    assert rec["from"]["handle"] == "phone:+905321234567"
    # Signed over anything but the public URL, or the form changed after
    # signing: 401, nothing stored.  The warning names the client that
    # nginx saw (here 127.0.0.2), not nginx and not what the client
    # claimed in its own X-Forwarded-For.
    other = [(key, value) for key, value in params if key != "MessageSid"] + \
        [("MessageSid", "SM00000000000000000000000000000002")]
    wrong = [f"http://127.0.0.1:{k.port}/hooks/sms-main",
             f"http://{HOST}:{nginx.port}/hooks/sms-main", public + "/"]
    mark = k.log_mark()
    for url in wrong:
        status, _, answer = tw_post(nginx, other, url, interface="127.0.0.2",
                                    extra={"X-Forwarded-For": "203.0.113.9"})
        assert status == 401 and b"bad_signature" in answer, answer
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "X-Twilio-Signature": tw_signature(public, params)}
    tampered = urllib.parse.urlencode(replace_value(other, "Body", "Para iadesi istiyorum"))
    status, _, _ = nginx.curl("/hooks/sms-main", tampered.encode(), headers)
    assert status == 401
    assert len(k.feed()) == 1
    refused = [line for line in k.log_lines[mark:] if "refused a request from" in line]
    assert len(refused) == 4, k.log()
    assert all("from 127.0.0.2:" in line or "from 127.0.0.2 " in line
               for line in refused[:3]), refused
    assert "203.0.113.9" not in "\n".join(refused)
