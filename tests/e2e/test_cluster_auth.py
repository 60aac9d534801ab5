# SPDX-License-Identifier: Apache-2.0
"""A cluster whose NATS servers want TLS and a password, as production ones
do: a real nats-server with JetStream that speaks only TLS (a certificate
of a CA the test makes with openssl) and takes only user kanal with its
password.  kanalctl makes both streams with --user/--tls-ca, an edge
publishes records and takes messages to send, a core consumes the records
and hands messages to the outbox stream, each with the nats plugin's
user/password/tls_ca and [kanald] outbox_user/outbox_password/
outbox_tls_ca.  What is checked is what a CRM and a provider see: the
record on the core, the message sent once.  And the keys that cannot work
together, or a password written inline, stop kanald with a line naming
them."""
import os
import socket
import subprocess
import time

import pytest

from fakes import FakeProvider
from kanal import KANALD, WRITE_TOKEN, message, wait_message, webhook_source
from natscluster import NATS_SERVER
from ports import free_port
from test_cluster import kanalctl, wait_until

PASSWORD = "s3cret-Ü-pass"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca_and_cert(d):
    """A CA, and a server certificate it signs for 127.0.0.1."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=kanal test CA", "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", "server.key", "-out", "server.csr", cwd=d)
    (d / "san.ext").write_text("subjectAltName = IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.pem", cwd=d)


class TlsNats:
    """One nats-server with JetStream, TLS only and one user."""

    def __init__(self, d):
        self.dir = d
        self.port = free_port()
        make_ca_and_cert(d)
        (d / "nats.conf").write_text(
            f'listen: 127.0.0.1:{self.port}\n'
            f'jetstream {{ store_dir: "{d / "js"}" }}\n'
            f'tls {{ cert_file: "{d / "server.pem"}", key_file: "{d / "server.key"}" }}\n'
            f'authorization {{ users = [ {{ user: kanal, password: "{PASSWORD}" }} ] }}\n')
        self.proc = None

    def servers(self):
        return f"tls://127.0.0.1:{self.port}"

    def start(self):
        log = open(self.dir / "nats.log", "ab")
        self.proc = subprocess.Popen([NATS_SERVER, "-c", str(self.dir / "nats.conf")],
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("nats-server did not start:\n"
                                         + (self.dir / "nats.log").read_text()[-2000:])
                time.sleep(0.05)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def tls_nats(tmp_path):
    d = tmp_path / "tlsnats"
    d.mkdir()
    n = TlsNats(d)
    yield n
    n.stop()


def secret_file(tmp_path, name, value):
    p = tmp_path / name
    p.write_text(value)
    os.chmod(p, 0o600)
    return p


def auth(n, pw):
    """The nats plugin's keys for this server."""
    return f"user = kanal\npassword = file:{pw}\ntls_ca = {n.dir / 'ca.pem'}\n"


def outbox_auth(n, pw, mode):
    return (f"outbox_cluster = {mode}\noutbox_servers = {n.servers()}\n"
            f"outbox_user = kanal\noutbox_password = file:{pw}\n"
            f"outbox_tls_ca = {n.dir / 'ca.pem'}\n")


def test_edge_and_core_work_through_tls_and_a_password(make_kanald, tls_nats, tmp_path):
    n = tls_nats.start()
    pw = secret_file(tmp_path, "nats.pw", PASSWORD)
    out = kanalctl("cluster", "init", "--servers", n.servers(), "--replicas", "1", "--user",
                   "kanal", "--tls-ca", str(n.dir / "ca.pem"), "--outbox",
                   env={"KANAL_NATS_PASSWORD": PASSWORD})
    assert out.returncode == 0, (out.stdout, out.stderr)
    assert "stream KANAL created" in out.stdout and "stream KANAL_OUTBOX created" in out.stdout

    with FakeProvider(default=(200, {}, {"id": "prov-1"})) as fake:
        edge = make_kanald(
            "edge", sources=webhook_source(extra=f"send_url = {fake.url}/send")
            + f"\n[sink cluster]\nplugin = nats\nservers = {n.servers()}\nstream = KANAL\n"
            f"subject_prefix = kanal.records\n{auth(n, pw)}",
            plugins=("webhook", "nats"), kanald=outbox_auth(n, pw, "edge")).start()
        core = make_kanald(
            "core", sources=webhook_source(extra=f"send_url = {fake.url}/core-must-not-send")
            + f"\n[source cluster]\nplugin = nats\nservers = {n.servers()}\nstream = KANAL\n"
            f"subject_prefix = kanal.records\ndurable = core\n{auth(n, pw)}",
            plugins=("webhook", "nats"), kanald=outbox_auth(n, pw, "core")).start()

        # A record through the edge reaches the core's feed.
        status, _, body = edge.post_hook(message("tls-1", text="TLS ile merhaba"))
        assert status == 200, body
        rec = wait_until(lambda: [r for r in core.feed() if r.get("external_id") == "tls-1"],
                         timeout=60, what="the record on the core")[0]
        assert rec["text"] == "TLS ile merhaba"

        # A message posted to the core is sent once, by the edge.
        status, r = core.api("/v1/messages", token=WRITE_TOKEN, method="POST",
                             body={"source": "hooks", "to": "email:ayse@example.com",
                                   "text": "Merhaba!"})
        assert status == 202, r
        assert wait_message(core, r["id"], ("relayed", "failed"), timeout=60)["status"] \
            == "relayed"
        reqs = fake.wait_requests(1, timeout=60)
        assert [q.path for q in reqs] == ["/send"] and reqs[0].json()["text"] == "Merhaba!"
        time.sleep(1)
        assert len(fake.requests) == 1


BAD = [
    ("outbox_user = kanal\n", "'outbox_user' and 'outbox_password' go together"),
    ("outbox_nkey = env:KANAL_TEST_NKEY\n", "'outbox_nkey' and 'outbox_nkey_public' go together"),
    ("outbox_user = kanal\noutbox_password = file:{pw}\noutbox_creds = /etc/kanal/n.creds\n",
     "choose one of outbox_creds, outbox_nkey or outbox_user + outbox_password"),
    ("outbox_user = kanal\noutbox_password = plain-text\n", "secret 'outbox_password'"),
]


@pytest.mark.parametrize("keys,why", BAD)
def test_outbox_keys_that_cannot_work_stop_kanald(make_kanald, tmp_path, keys, why):
    pw = secret_file(tmp_path, "nats.pw", PASSWORD)
    k = make_kanald(sources=webhook_source(),
                    kanald="outbox_cluster = edge\n" + keys.format(pw=pw))
    k.write_config()
    out = subprocess.run([str(KANALD), "--check-config", "-c", str(k.conf)],
                         capture_output=True, text=True, timeout=30,
                         env={**os.environ, "KANAL_TEST_NKEY": "SUAbc"})
    assert out.returncode != 0, out
    assert why in out.stderr, out.stderr
    assert "outbox" in out.stderr
