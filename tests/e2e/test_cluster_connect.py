# SPDX-License-Identifier: Apache-2.0
"""A first connection that NATS refuses is tried again, as a lost one is.

A real nats-server with JetStream refuses kanald's first connection for a
reason that an operator fixes without touching kanald: the password is not
(yet) in the server's users, the NKey is not (yet) among them, or the
server's TLS certificate is not the one kanald trusts (the handshake
fails).  kanald must run meanwhile: the edge's sink keeps the records in
the store, its lag grows and the refusal shows in /v1/sinks, /metrics and
/healthz, and the log says it once, not once per attempt; a core's source
says why it does not consume.  Then nats-server restarts on the same port
with a configuration that takes kanald, and without any restart of kanald
the records posted meanwhile reach the stream (and the core's feed), each
once, in order."""
import re
import time

import pytest

from kanal import message, webhook_source
from test_cluster import kanalctl, metric, wait_until
from test_cluster_auth import (PASSWORD, auth_nats, make_ca_and_cert,  # noqa: F401 (a fixture)
                               secret_file, user_nkey)

ADMIN = f'{{ user: admin, password: "{PASSWORD}" }}'


class Refusing:
    """One way a server refuses kanald at first, and how it is fixed.

    keys: the nats plugin's authentication keys; before and after:
    the server's users; tls: the server speaks only TLS, first with a
    certificate of a CA kanald does not trust, then with one it does."""

    def __init__(self, tmp_path, kind):
        self.kind = kind
        self.tls = kind == "tls"
        pw = secret_file(tmp_path, "kanal.pw", PASSWORD)
        kanal_user = f'{{ user: kanal, password: "{PASSWORD}" }}'
        if kind == "wrong_password":
            self.keys = f"user = kanal\npassword = file:{pw}\n"
            self.before = f'{{ user: kanal, password: "another-one" }}, {ADMIN}'
            self.after = f"{kanal_user}, {ADMIN}"
        elif kind == "unknown_user":
            self.keys = f"user = kanal\npassword = file:{pw}\n"
            self.before = ADMIN
            self.after = f"{kanal_user}, {ADMIN}"
        elif kind == "unknown_nkey":
            seed, public = user_nkey()
            sf = secret_file(tmp_path, "kanal.nk", seed)
            self.keys = f"nkey = file:{sf}\nnkey_public = {public}\n"
            self.before = ADMIN
            self.after = f"{{ nkey: {public} }}, {ADMIN}"
        else:  # tls: the user is right, the certificate is not (yet)
            self.keys = f"user = kanal\npassword = file:{pw}\n"
            self.before = self.after = f"{kanal_user}, {ADMIN}"

    def server(self, auth_nats):
        n = auth_nats(self.before, tls=self.tls)
        if self.tls:
            # kanald trusts the CA in trusted/; the server shows first a
            # certificate of its own CA (n.dir), then one of the trusted CA.
            self.trusted = n.dir / "trusted"
            self.trusted.mkdir()
            make_ca_and_cert(self.trusted)
            self.keys += f"tls_ca = {self.trusted / 'ca.pem'}\n"
        return n

    def fix(self, n):
        """Restart the server, on the same port, with what takes kanald."""
        n.stop()
        conf = (n.dir / "nats.conf").read_text()
        conf = conf.replace(f"users = [ {self.before} ]", f"users = [ {self.after} ]")
        if self.tls:
            conf = conf.replace(str(n.dir / "server."), str(self.trusted / "server."))
        (n.dir / "nats.conf").write_text(conf)
        n.start()


KINDS = ["wrong_password", "unknown_user", "unknown_nkey", "tls"]
REFUSED = r"([Aa]uthori[sz]ation|[Aa]uthentication|SSL|TLS|[Hh]andshake|certificate)"


def init_stream(n, tmp_path, refusing):
    args = ["cluster", "init", "--servers", n.servers(), "--replicas", "1", "--user", "admin"]
    if refusing.tls:
        # kanalctl checks the server's certificate with the CA that made it.
        args += ["--tls-ca", str(n.dir / "ca.pem")]
    out = kanalctl(*args, env={"KANAL_NATS_PASSWORD": PASSWORD})
    assert out.returncode == 0, (out.stdout, out.stderr)


def messages(n, tls_ca=None):
    """external_id of every message of stream KANAL, in stream order."""
    return [m["external_id"] for m in stream_messages(n, tls_ca)]


def stream_messages(n, tls_ca):
    """Every message of stream KANAL, read as admin through the NATS
    protocol (natscluster.Client speaks neither TLS nor passwords)."""
    import base64
    import json
    import socket
    import ssl

    sock = socket.create_connection(("127.0.0.1", n.port), timeout=10)
    f = sock
    buf = b""

    def line():
        nonlocal buf
        while b"\r\n" not in buf:
            data = f.recv(65536)
            if not data:
                raise ConnectionError("nats-server closed the connection")
            buf += data
        out, buf = buf.split(b"\r\n", 1)
        return out

    def take(k):
        nonlocal buf
        while len(buf) < k + 2:
            buf += f.recv(65536)
        out, buf = buf[:k], buf[k + 2:]
        return out

    line()  # INFO
    if tls_ca:
        ctx = ssl.create_default_context(cafile=str(tls_ca))
        f = ctx.wrap_socket(sock, server_hostname="127.0.0.1")
    connect = {"verbose": False, "pedantic": False, "headers": True, "no_responders": True,
               "protocol": 1, "user": "admin", "pass": PASSWORD}
    f.sendall(b"CONNECT " + json.dumps(connect).encode() + b"\r\nPING\r\n")
    while (ln := line()) != b"PONG":
        assert not ln.startswith(b"-ERR"), ln

    def request(subject, payload):
        body = json.dumps(payload).encode()
        f.sendall(f"SUB _INBOX.t 1\r\nPUB {subject} _INBOX.t {len(body)}\r\n".encode()
                  + body + b"\r\nUNSUB 1 1\r\n")
        while True:
            parts = line().split()
            if parts and parts[0] == b"PING":
                f.sendall(b"PONG\r\n")
            elif parts and parts[0] == b"MSG":
                return json.loads(take(int(parts[-1])))
            elif parts and parts[0] == b"HMSG":
                raw = take(int(parts[-1]))
                return json.loads(raw[int(parts[-2]):])

    try:
        state = request("$JS.API.STREAM.INFO.KANAL", {})["state"]
        out = []
        first = state["first_seq"] if state.get("messages") else state.get("last_seq", 0) + 1
        for seq in range(first, state.get("last_seq", 0) + 1):
            m = request("$JS.API.STREAM.MSG.GET.KANAL", {"seq": seq})["message"]
            out.append(json.loads(base64.b64decode(m["data"])))
        return out
    finally:
        f.close()


def sink(k):
    status, body = k.api("/v1/sinks")
    assert status == 200, body
    return {s["name"]: s for s in body["sinks"]}["cluster"]


@pytest.mark.parametrize("kind", KINDS)
def test_sink_refused_at_first_keeps_trying_and_publishes_once_fixed(make_kanald, auth_nats,
                                                                     tmp_path, kind):
    refusing = Refusing(tmp_path, kind)
    n = refusing.server(auth_nats).start()
    init_stream(n, tmp_path, refusing)
    k = make_kanald("edge", sources=webhook_source()
                    + f"\n[sink cluster]\nplugin = nats\nservers = {n.servers()}\n"
                    f"stream = KANAL\nsubject_prefix = kanal.records\n{refusing.keys}",
                    plugins=("webhook", "nats")).start()
    k.wait_log(r"cluster.*cannot connect to NATS.*" + REFUSED, timeout=30)
    posted = []
    for i in range(6):
        status, _, body = k.post_hook(message(f"{kind}-{i}", text=f"bekleyen {i}"))
        assert status == 200, body  # ingest goes on: the store keeps them
        posted.append(f"{kind}-{i}")
        time.sleep(0.5)
    s = sink(k)
    assert s["health"] == "unhealthy" and s["cursor"] == 0, s
    assert s["lag_records"] == len(posted) and s["errors"] > 0, s
    assert re.search(REFUSED, s["last_error"] or ""), s
    assert metric(k, "kanal_sink_lag_records") == len(posted)
    assert metric(k, "kanal_sink_errors_total") > 0
    status, health = k.api("/healthz")
    assert status == 200 and health["status"] == "degraded", health
    assert re.search(REFUSED, health["sinks"]["cluster"]["reason"]), health
    # Tried again for 3 s and more, with the same refusal: said once.
    refusals = [ln for ln in k.log().splitlines() if "] cannot connect to NATS" in ln]
    assert len(refusals) == 1, refusals
    assert PASSWORD not in k.log()
    assert messages(n, n.dir / "ca.pem" if refusing.tls else None) == []

    refusing.fix(n)
    tls_ca = refusing.trusted / "ca.pem" if refusing.tls else None
    for i in range(6, 9):
        status, _, body = k.post_hook(message(f"{kind}-{i}", text=f"sonra {i}"))
        assert status == 200, body
        posted.append(f"{kind}-{i}")
    wait_until(lambda: (lambda s: s["lag_records"] == 0 and s["cursor"] == s["last_seq"])(
        sink(k)), timeout=60, what="the sink drained once the server takes it")
    assert messages(n, tls_ca) == posted  # each once, in the edge's order
    s = sink(k)
    assert s["health"] == "ok" and s["last_error"] is None, s
    assert k.api("/healthz")[1]["status"] == "ok"
    k.wait_log(r"cluster.*connected to NATS at", timeout=5)


@pytest.mark.parametrize("kind", ["unknown_user", "tls"])
def test_source_refused_at_first_keeps_trying_and_consumes_once_fixed(make_kanald, auth_nats,
                                                                      tmp_path, kind):
    """A core whose first connection is refused starts and serves, says
    why its source does not consume, and consumes the stream, each record
    once, as soon as the server takes it."""
    refusing = Refusing(tmp_path, kind)
    n = refusing.server(auth_nats).start()
    init_stream(n, tmp_path, refusing)
    admin_pw = secret_file(tmp_path, "admin.pw", PASSWORD)
    admin_ca = f"tls_ca = {n.dir / 'ca.pem'}\n" if refusing.tls else ""
    edge = make_kanald("edge", sources=webhook_source()
                       + f"\n[sink cluster]\nplugin = nats\nservers = {n.servers()}\n"
                       f"stream = KANAL\nsubject_prefix = kanal.records\n"
                       f"user = admin\npassword = file:{admin_pw}\n{admin_ca}",
                       plugins=("webhook", "nats")).start()
    posted = [f"{kind}-{i}" for i in range(5)]
    for x in posted:
        assert edge.post_hook(message(x))[0] == 200
    wait_until(lambda: sink(edge)["lag_records"] == 0, timeout=60, what="the edge drained")
    edge.stop()  # the fixed server shows a certificate the edge does not trust

    core = make_kanald("core", sources=webhook_source()
                       + f"\n[source cluster]\nplugin = nats\nservers = {n.servers()}\n"
                       f"stream = KANAL\nsubject_prefix = kanal.records\ndurable = core\n"
                       f"{refusing.keys}", plugins=("webhook", "nats")).start()
    core.wait_log(r"cluster.*cannot connect to NATS.*" + REFUSED, timeout=30)
    status, health = core.api("/healthz")
    assert status == 200, health  # kanald serves; the source says why
    assert health["sources"]["cluster"]["status"] == "unhealthy", health
    assert re.search(REFUSED, health["sources"]["cluster"]["reason"]), health
    time.sleep(3)
    refusals = [ln for ln in core.log().splitlines() if "] cannot connect to NATS" in ln]
    assert len(refusals) == 1, refusals
    assert [r for r in core.feed() if r["source"] == "hooks"] == []

    refusing.fix(n)
    got = wait_until(lambda: (lambda f: len(f) >= len(posted) and f)(
        [r["external_id"] for r in core.feed() if r["source"] == "hooks"]),
        timeout=60, what="the records on the core once the server takes it")
    time.sleep(1)
    assert [r["external_id"] for r in core.feed() if r["source"] == "hooks"] == posted, got
    core.wait_log(r"cluster.*consuming stream KANAL", timeout=5)
    assert core.api("/healthz")[1]["sources"]["cluster"]["status"] == "ok"


def restart_with_users(n, users):
    """Restart nats-server on the same port (its stream kept) with users."""
    n.stop()
    conf = (n.dir / "nats.conf").read_text()
    conf = re.sub(r"users = \[ .* \]", lambda _: f"users = [ {users} ]", conf)
    (n.dir / "nats.conf").write_text(conf)
    n.start()


KANAL_USER = f'{{ user: kanal, password: "{PASSWORD}" }}'


def publishing_edge(make_kanald, auth_nats, tmp_path):
    """nats-server taking user kanal (and admin), its stream made, and an
    edge whose sink published three records as kanal: (server, edge, the
    records' external ids)."""
    n = auth_nats(f"{KANAL_USER}, {ADMIN}", tls=False).start()
    out = kanalctl("cluster", "init", "--servers", n.servers(), "--replicas", "1", "--user",
                   "admin", env={"KANAL_NATS_PASSWORD": PASSWORD})
    assert out.returncode == 0, (out.stdout, out.stderr)
    pw = secret_file(tmp_path, "kanal.pw", PASSWORD)
    k = make_kanald("edge", sources=webhook_source()
                    + f"\n[sink cluster]\nplugin = nats\nservers = {n.servers()}\n"
                    f"stream = KANAL\nsubject_prefix = kanal.records\n"
                    f"user = kanal\npassword = file:{pw}\nack_wait = 2s\n",
                    plugins=("webhook", "nats")).start()
    posted = [f"before-{i}" for i in range(3)]
    for x in posted:
        assert k.post_hook(message(x))[0] == 200
    wait_until(lambda: sink(k)["lag_records"] == 0, timeout=60, what="drained")
    return n, k, posted


def test_sink_refused_after_a_disconnect_keeps_trying_and_publishes_once_fixed(
        make_kanald, auth_nats, tmp_path):
    """The sink was publishing; nats-server restarts without its user (an
    account reload that lost it): libnats, refused twice in its
    reconnection, closes the connection.  The sink makes a new one with
    backoff, shows the refusal, and publishes what waited once the user is
    back."""
    n, k, posted = publishing_edge(make_kanald, auth_nats, tmp_path)

    restart_with_users(n, ADMIN)
    for i in range(3):
        assert k.post_hook(message(f"during-{i}"))[0] == 200
        posted.append(f"during-{i}")
    s = wait_until(lambda: (lambda s: re.search(REFUSED, s["last_error"] or "") and s)(sink(k)),
                   timeout=60, what="the refusal in /v1/sinks")
    assert s["health"] == "unhealthy" and s["lag_records"] == 3, s
    k.wait_log(r"cluster.*cannot connect to NATS.*" + REFUSED, timeout=30)
    time.sleep(3)
    refusals = [ln for ln in k.log().splitlines() if "] cannot connect to NATS" in ln]
    assert len(refusals) == 1, refusals
    assert sink(k)["lag_records"] == 3

    restart_with_users(n, f"{KANAL_USER}, {ADMIN}")
    wait_until(lambda: (lambda s: s["lag_records"] == 0 and s["cursor"] == s["last_seq"])(
        sink(k)), timeout=60, what="the sink drained once the user is back")
    assert messages(n) == posted
    assert sink(k)["health"] == "ok"


def test_sink_refused_after_failed_deliveries_keeps_trying_and_publishes_once_fixed(
        make_kanald, auth_nats, tmp_path):
    """Deliveries fail on a live connection (nats-server restarted without
    JetStream: no responders), each failure moving the sink to new acks'
    subscription; then the server refuses the sink (its user gone) and
    libnats closes that connection.  The sink lets go of every
    subscription it had once, makes a new connection once the user is
    back, and publishes everything; kanald stops cleanly."""
    n, k, posted = publishing_edge(make_kanald, auth_nats, tmp_path)

    conf = (n.dir / "nats.conf").read_text()
    n.stop()
    (n.dir / "nats.conf").write_text(re.sub(r"jetstream \{.*\}\n", "", conf))
    n.start()
    for i in range(2):
        assert k.post_hook(message(f"during-{i}"))[0] == 200
        posted.append(f"during-{i}")
    wait_until(lambda: sink(k)["errors"] >= 2, timeout=60,
               what="two failed deliveries: two subscriptions replaced")
    assert "no responders" in sink(k)["last_error"]

    restart_with_users(n, ADMIN)  # and still without JetStream
    k.wait_log(r"cluster.*cannot connect to NATS.*" + REFUSED, timeout=60)
    assert k.proc.poll() is None, "kanald died"

    n.stop()
    (n.dir / "nats.conf").write_text(conf)  # the user and JetStream back
    n.start()
    wait_until(lambda: (lambda s: s["lag_records"] == 0 and s["cursor"] == s["last_seq"])(
        sink(k)), timeout=60, what="the sink drained once the user is back")
    assert messages(n) == posted
    assert sink(k)["health"] == "ok"
    assert k.stop() == 0


@pytest.mark.parametrize("keys,why", [
    ("creds = {tmp}/missing.creds\n", "creds: cannot read {tmp}/missing.creds"),
    ("nkey = file:{tmp}/bad.nk\nnkey_public = UABC\n", "nkey is not a NATS user seed"),
])
@pytest.mark.parametrize("section", ["sink", "source"])
def test_keys_that_can_never_connect_are_refused_at_start(make_kanald, tmp_path, keys, why,
                                                          section):
    """A refused connection is tried again for ever, so what can never work
    is refused at start, saying what: a creds file that cannot be read, an
    nkey that is not a user seed (here: a seed's shape with a bad CRC).
    kanald runs without that sink or source, as for any refused one."""
    secret_file(tmp_path, "bad.nk", "SUAAVDIGS3TLQLGAAACFZ3JBZYRCD2B3IR6XPCVR6GJ3FLKH2Z4EAAAAA")
    k = make_kanald(sources=webhook_source() + f"\n[{section} cluster]\nplugin = nats\n"
                    "servers = nats://127.0.0.1:1\ndurable = core\n"
                    + keys.format(tmp=tmp_path), plugins=("webhook", "nats"))
    k.start()
    k.wait_log(re.escape(why.format(tmp=tmp_path)), timeout=10)
    k.wait_log(r"\[cluster\] source refused: plugin nats .* failed to init", timeout=10)
    refused = [ln for ln in k.log().splitlines() if "cannot connect to NATS" in ln]
    assert refused == [], refused  # not taken for a refusal to try again


def test_state_changes_resume_after_the_server_refused_the_reconnection(make_kanald, auth_nats,
                                                                        tmp_path):
    """kanald's own connection (state changes of a core; the outbox's is
    made the same way): nats-server restarts without kanald's user, libnats
    is refused while reconnecting and closes the connection.  Changes are
    refused with 503 meanwhile, and accepted again once the user is back,
    without restarting kanald."""
    from kanal import ADMIN_TOKEN

    kanal_user = f'{{ user: kanal, password: "{PASSWORD}" }}'
    n = auth_nats(f"{kanal_user}, {ADMIN}", tls=False).start()
    out = kanalctl("cluster", "init", "--servers", n.servers(), "--replicas", "1", "--user",
                   "admin", env={"KANAL_NATS_PASSWORD": PASSWORD})
    assert out.returncode == 0, (out.stdout, out.stderr)
    pw = secret_file(tmp_path, "kanal.pw", PASSWORD)
    core = make_kanald("core", sources=webhook_source(),
                       kanald=f"state_cluster = core\nstate_servers = {n.servers()}\n"
                              f"state_user = kanal\nstate_password = file:{pw}\n").start()
    core.wait_log(r"state: connected to state_servers", timeout=60)

    def change(i):
        return core.api("/v1/contacts/import", token=ADMIN_TOKEN, method="POST",
                        body=[{"crm_id": f"crm-{i}", "emails": [f"k{i}@example.com"]}])

    status, r = change(0)
    assert status == 202, r
    restart_with_users(n, ADMIN)

    def refused_change():
        status, r = change(1)
        assert status == 503 and r["error"]["code"] == "cluster_unavailable", r
        return "state: the connection to state_servers" in core.log()
    # The connection is looked at when a change is to be published.
    wait_until(refused_change, timeout=60, what="the closed connection seen")
    core.wait_log(r"state: the connection to state_servers = .* was closed", timeout=5)
    core.wait_log(r"state: cannot connect to state_servers = .*" + REFUSED, timeout=30)
    assert change(1)[0] == 503

    restart_with_users(n, f"{KANAL_USER}, {ADMIN}")
    wait_until(lambda: change(2)[0] == 202, timeout=60,
               what="a state change accepted once the user is back")


def test_an_edges_outbox_takes_sends_again_after_the_server_refused_it(make_kanald, auth_nats,
                                                                       tmp_path):
    """An edge's outbox consumer (kanald's own connection): nats-server
    restarts without the edge's user, libnats is refused while reconnecting
    and closes the connection.  A message the core relays meanwhile waits in
    the work queue and is sent once, by the edge, once its user is back."""
    from fakes import FakeProvider
    from kanal import wait_message
    from test_cluster_outbox import post_message

    kanal_user = f'{{ user: kanal, password: "{PASSWORD}" }}'
    n = auth_nats(f"{kanal_user}, {ADMIN}", tls=False).start()
    out = kanalctl("cluster", "init", "--servers", n.servers(), "--replicas", "1", "--outbox",
                   "--user", "admin", env={"KANAL_NATS_PASSWORD": PASSWORD})
    assert out.returncode == 0, (out.stdout, out.stderr)
    kpw = secret_file(tmp_path, "kanal.pw", PASSWORD)
    apw = secret_file(tmp_path, "admin.pw", PASSWORD)
    with FakeProvider(default=(200, {}, {"id": "prov-1"})) as fake:
        core = make_kanald("core", sources=webhook_source(
            extra=f"send_url = {fake.url}/core-must-not-send"),
            kanald=f"outbox_cluster = core\noutbox_servers = {n.servers()}\n"
                   f"outbox_user = admin\noutbox_password = file:{apw}\n").start()
        edge = make_kanald("edge", sources=webhook_source(extra=f"send_url = {fake.url}/send"),
                           kanald=f"outbox_cluster = edge\noutbox_servers = {n.servers()}\n"
                                  f"outbox_user = kanal\noutbox_password = file:{kpw}\n"
                                  "outbox_ack_wait = 3s\n").start()
        edge.wait_log(r"outbox: taking sends from stream KANAL_OUTBOX", timeout=60)
        first = post_message(core, text="Birinci")
        assert wait_message(core, first, ("relayed", "failed"), timeout=60)["status"] == "relayed"
        fake.wait_requests(1, timeout=60)

        restart_with_users(n, ADMIN)
        edge.wait_log(r"outbox: the connection to outbox_servers = .* was closed", timeout=60)
        edge.wait_log(r"outbox: cannot connect to outbox_servers = .*" + REFUSED, timeout=30)
        second = post_message(core, text="İkinci")
        assert wait_message(core, second, ("relayed", "failed"), timeout=60)["status"] == \
            "relayed"
        time.sleep(3)
        assert [q.json()["text"] for q in fake.requests] == ["Birinci"]

        restart_with_users(n, f"{KANAL_USER}, {ADMIN}")
        fake.wait_requests(2, timeout=60)
        time.sleep(4)  # past outbox_ack_wait: nothing is sent twice
        assert [q.json()["text"] for q in fake.requests] == ["Birinci", "İkinci"]
        assert [q.path for q in fake.requests] == ["/send", "/send"]


def test_source_refused_after_a_disconnect_consumes_once_fixed(make_kanald, auth_nats,
                                                               tmp_path):
    """A core was consuming; nats-server restarts without its user and
    libnats, refused while reconnecting, closes the connection.  The source
    says why and, once the user is back, consumes what the edge published
    meanwhile, each record once."""
    kanal_user = f'{{ user: kanal, password: "{PASSWORD}" }}'
    n = auth_nats(f"{kanal_user}, {ADMIN}", tls=False).start()
    out = kanalctl("cluster", "init", "--servers", n.servers(), "--replicas", "1", "--user",
                   "admin", env={"KANAL_NATS_PASSWORD": PASSWORD})
    assert out.returncode == 0, (out.stdout, out.stderr)
    kpw = secret_file(tmp_path, "kanal.pw", PASSWORD)
    apw = secret_file(tmp_path, "admin.pw", PASSWORD)
    edge = make_kanald("edge", sources=webhook_source()
                       + f"\n[sink cluster]\nplugin = nats\nservers = {n.servers()}\n"
                       f"stream = KANAL\nsubject_prefix = kanal.records\n"
                       f"user = admin\npassword = file:{apw}\n",
                       plugins=("webhook", "nats")).start()
    core = make_kanald("core", sources=webhook_source()
                       + f"\n[source cluster]\nplugin = nats\nservers = {n.servers()}\n"
                       f"stream = KANAL\nsubject_prefix = kanal.records\ndurable = core\n"
                       f"user = kanal\npassword = file:{kpw}\n",
                       plugins=("webhook", "nats")).start()

    def on_core():
        return [r["external_id"] for r in core.feed() if r["source"] == "hooks"]

    assert edge.post_hook(message("before"))[0] == 200
    wait_until(lambda: on_core() == ["before"], timeout=60, what="the first record on the core")

    restart_with_users(n, ADMIN)
    core.wait_log(r"cluster.*cannot connect to NATS.*" + REFUSED, timeout=60)
    for i in range(3):
        assert edge.post_hook(message(f"during-{i}"))[0] == 200
    wait_until(lambda: sink(edge)["lag_records"] == 0, timeout=60, what="the edge drained")
    status, health = core.api("/healthz")
    assert health["sources"]["cluster"]["status"] == "unhealthy", health
    assert on_core() == ["before"]

    restart_with_users(n, f"{KANAL_USER}, {ADMIN}")
    wait_until(lambda: len(on_core()) >= 4, timeout=60, what="the records on the core")
    time.sleep(1)
    assert on_core() == ["before", "during-0", "during-1", "during-2"]
    wait_until(lambda: core.api("/healthz")[1]["sources"]["cluster"]["status"] == "ok",
               timeout=30, what="the source healthy again")
