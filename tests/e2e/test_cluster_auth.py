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
from kanal import ADMIN_TOKEN, KANALD, WRITE_TOKEN, message, wait_message, webhook_source
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


class AuthNats:
    """One nats-server with JetStream that takes only the users given
    (nats-server's authorization block), over TLS only when tls."""

    def __init__(self, d, users, tls):
        self.dir = d
        self.port = free_port()
        self.tls = tls
        conf = f'listen: 127.0.0.1:{self.port}\njetstream {{ store_dir: "{d / "js"}" }}\n'
        if tls:
            make_ca_and_cert(d)
            conf += (f'tls {{ cert_file: "{d / "server.pem"}", '
                     f'key_file: "{d / "server.key"}" }}\n')
        (d / "nats.conf").write_text(conf + f"authorization {{ users = [ {users} ] }}\n")
        self.proc = None

    def servers(self):
        return f"{'tls' if self.tls else 'nats'}://127.0.0.1:{self.port}"

    def start(self):
        log = open(self.dir / "nats.log", "ab")
        self.proc = subprocess.Popen([NATS_SERVER, "-c", str(self.dir / "nats.conf")],
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 60
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
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def auth_nats(tmp_path):
    """make(users, tls): an AuthNats, stopped at the end even on failure."""
    made = []

    def make(users, tls):
        d = tmp_path / f"nats{len(made)}"
        d.mkdir()
        made.append(AuthNats(d, users, tls))
        return made[-1]
    yield make
    for n in made:
        n.stop()


def user_nkey():
    """A NATS user NKey made here: the seed (SU...) and public key (U...),
    Ed25519 in NATS's base32 encoding with a CRC-16/XMODEM."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    def crc16(data):
        crc = 0
        for b in data:
            crc ^= b << 8
            for _ in range(8):
                crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
                crc &= 0xFFFF
        return crc

    def encode(raw):
        c = crc16(raw)
        return base64.b32encode(raw + bytes([c & 0xFF, c >> 8])).decode().rstrip("=")

    seed = os.urandom(32)
    pub = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    prefix_seed, prefix_user = 18 << 3, 20 << 3
    return (encode(bytes([prefix_seed | (prefix_user >> 5), (prefix_user & 31) << 3]) + seed),
            encode(bytes([prefix_user]) + pub))


def secret_file(tmp_path, name, value):
    p = tmp_path / name
    p.write_text(value)
    os.chmod(p, 0o600)
    return p


def run_edge_and_core(make_kanald, n, plugin_keys, outbox_keys, init_args, init_env):
    """kanalctl makes the streams; a record through the edge reaches the
    core's feed, and a message posted to the core is sent once, by the edge."""
    out = kanalctl("cluster", "init", "--servers", n.servers(), "--replicas", "1", "--outbox",
                   *init_args, env=init_env)
    assert out.returncode == 0, (out.stdout, out.stderr)
    assert "stream KANAL created" in out.stdout and "stream KANAL_OUTBOX created" in out.stdout
    outbox = f"outbox_servers = {n.servers()}\n{outbox_keys}"
    # The core's state changes go to the records stream with the same
    # credentials under their state_* keys.
    state = ("state_cluster = core\n" + f"state_servers = {n.servers()}\n"
             + outbox_keys.replace("outbox_", "state_"))
    with FakeProvider(default=(200, {}, {"id": "prov-1"})) as fake:
        edge = make_kanald(
            "edge", sources=webhook_source(extra=f"send_url = {fake.url}/send")
            + f"\n[sink cluster]\nplugin = nats\nservers = {n.servers()}\nstream = KANAL\n"
            f"subject_prefix = kanal.records\n{plugin_keys}",
            plugins=("webhook", "nats"), kanald="outbox_cluster = edge\n" + outbox).start()
        core = make_kanald(
            "core", sources=webhook_source(extra=f"send_url = {fake.url}/core-must-not-send")
            + f"\n[source cluster]\nplugin = nats\nservers = {n.servers()}\nstream = KANAL\n"
            f"subject_prefix = kanal.records\ndurable = core\n{plugin_keys}",
            plugins=("webhook", "nats"),
            kanald="outbox_cluster = core\n" + outbox + state).start()
        # Its state connection is made off the loop after the start.
        core.wait_log(r"state: connected to state_servers", timeout=60)

        status, _, body = edge.post_hook(message("auth-1", text="Kimlikle merhaba"))
        assert status == 200, body
        rec = wait_until(lambda: [r for r in core.feed() if r.get("external_id") == "auth-1"],
                         timeout=60, what="the record on the core")[0]
        assert rec["text"] == "Kimlikle merhaba"

        # A consent change on the core goes through the stream and back.
        cid = rec["contact"]
        status, r = core.api(f"/v1/contacts/{cid}/consent", token=WRITE_TOKEN, method="POST",
                             body={"channel": "sms", "state": "optout"})
        assert status == 202 and r["status"] == "accepted", r
        wait_until(lambda: core.api(f"/v1/contacts/{cid}")[1].get("consent", {})
                   .get("sms", {}).get("state") == "optout", timeout=60,
                   what="the consent change applied on the core")

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


def test_edge_and_core_work_through_tls_and_a_password(make_kanald, auth_nats, tmp_path):
    n = auth_nats(f'{{ user: kanal, password: "{PASSWORD}" }}', tls=True).start()
    pw = secret_file(tmp_path, "nats.pw", PASSWORD)
    ca = n.dir / "ca.pem"
    run_edge_and_core(
        make_kanald, n,
        plugin_keys=f"user = kanal\npassword = file:{pw}\ntls_ca = {ca}\n",
        outbox_keys=f"outbox_user = kanal\noutbox_password = file:{pw}\noutbox_tls_ca = {ca}\n",
        init_args=("--user", "kanal", "--tls-ca", str(ca)),
        init_env={"KANAL_NATS_PASSWORD": PASSWORD})


def test_edge_and_core_work_with_an_nkey(make_kanald, auth_nats, tmp_path):
    seed, public = user_nkey()
    # kanalctl takes a user and password or creds: give it a second user.
    n = auth_nats(f'{{ nkey: {public} }}, {{ user: admin, password: "{PASSWORD}" }}',
                  tls=False).start()
    sf = secret_file(tmp_path, "nats.nk", seed)
    run_edge_and_core(
        make_kanald, n,
        plugin_keys=f"nkey = file:{sf}\nnkey_public = {public}\n",
        outbox_keys=f"outbox_nkey = file:{sf}\noutbox_nkey_public = {public}\n",
        init_args=("--user", "admin"), init_env={"KANAL_NATS_PASSWORD": PASSWORD})


def test_a_refused_password_does_not_hold_kanald_and_says_why(make_kanald, auth_nats,
                                                              tmp_path):
    """An edge whose outbox password the servers refuse still starts and
    answers (the connection is made off the loop; before, kanald hung in
    libnats' connect and never listened), and its log names the outbox and
    the refusal."""
    n = auth_nats(f'{{ user: kanal, password: "{PASSWORD}" }}', tls=False).start()
    bad = secret_file(tmp_path, "bad.pw", "not-the-password")
    k = make_kanald(sources=webhook_source(),
                    kanald=f"outbox_cluster = edge\noutbox_servers = {n.servers()}\n"
                           f"outbox_user = kanal\noutbox_password = file:{bad}\n"
                           f"state_cluster = core\nstate_servers = {n.servers()}\n"
                           f"state_user = kanal\nstate_password = file:{bad}\n").start()
    for who in ("outbox", "state"):
        k.wait_log(who + r": cannot connect to " + who + r"_servers = .*([Aa]uthori[sz]ation|"
                   r"[Aa]uthentication)", timeout=30)
    status, health = k.api("/healthz")
    assert status == 200, health
    # A state change cannot reach the stream: refused at once, applied nowhere.
    status, r = k.api("/v1/contacts/import", token=ADMIN_TOKEN, method="POST",
                      body=[{"crm_id": "crm-1", "emails": ["ayse@example.com"]}])
    assert status == 503 and r["error"]["code"] == "cluster_unavailable", r
    status, r = k.api("/v1/contacts?handle=email:ayse@example.com")
    assert status == 404, r


BAD = [
    ("outbox_user = kanal\n", "'outbox_user' and 'outbox_password' go together"),
    ("outbox_nkey = env:KANAL_TEST_NKEY\n", "'outbox_nkey' and 'outbox_nkey_public' go together"),
    ("outbox_user = kanal\noutbox_password = file:{pw}\noutbox_creds = /etc/kanal/n.creds\n",
     "choose one of outbox_creds, outbox_nkey or outbox_user + outbox_password"),
    ("outbox_user = kanal\noutbox_password = plain-text\n", "secret 'outbox_password'"),
    ("state_user = kanal\n", "'state_user' and 'state_password' go together"),
    ("state_creds = /etc/kanal/n.creds\nstate_nkey = env:KANAL_TEST_NKEY\n"
     "state_nkey_public = UABC\n", "choose one of state_creds, state_nkey"),
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
