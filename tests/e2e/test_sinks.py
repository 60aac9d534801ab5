# SPDX-License-Identifier: Apache-2.0
"""[sink NAME] sections: committed records reach a sink from a cursor kept in
the store, in seq order, at least once, across SIGKILL; a failing or
stalled sink never slows ingest, and its lag shows in /v1/sinks, /metrics
and /healthz.  Sinks are the SDK's filesink example and the http plugin,
against a local HTTP server."""
import hashlib
import hmac
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kanal import BUILD, WEBHOOK_SECRET, message, webhook_source

SINK_SECRET = "crm-shared-secret"


def wait_until(fn, timeout=60, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def sinks(k):
    status, body = k.api("/v1/sinks")
    assert status == 200, body
    return {s["name"]: s for s in body["sinks"]}


def file_seqs(path):
    """The seqs of the file's whole lines (the sink may be mid-write)."""
    if not path.exists():
        return []
    lines = path.read_text().split("\n")[:-1]
    return [json.loads(line)["seq"] for line in lines if line]


def test_filesink_gets_every_committed_seq_in_order_across_sigkill(make_kanald, tmp_path):
    out = tmp_path / "archive.jsonl"
    sink = f"\n[sink archive]\nplugin = filesink\npath = {out}\nbatch_max = 7\n"
    k = make_kanald(sources=webhook_source() + sink)
    k.link_plugin(BUILD / "sdk" / "filesink.so")
    k.start()
    committed = []
    for i in range(60):
        status, _, body = k.post_hook(message(f"a{i}"))
        assert status == 200, body
    committed = [r["seq"] for r in k.feed()]
    # Mid-stream: posts go on while kanald dies.
    stop = threading.Event()

    def poster():
        i = 0
        while not stop.is_set():
            try:
                k.post_hook(message(f"b{i}"))
            except OSError:
                return
            i += 1

    t = threading.Thread(target=poster, daemon=True)
    t.start()
    time.sleep(0.3)
    k.kill()
    stop.set()
    t.join(timeout=10)
    k.start()
    for i in range(20):
        status, _, body = k.post_hook(message(f"c{i}"))
        assert status == 200, body
    committed = [r["seq"] for r in k.feed()]
    assert len(committed) >= 80
    wait_until(lambda: set(committed) <= set(file_seqs(out)), what="every seq in the file")
    # The sink acknowledges a batch after writing it: its cursor follows.
    wait_until(lambda: sinks(k)["archive"]["cursor"] == committed[-1], what="the cursor at the end")
    got = file_seqs(out)
    # At least once: a seq may repeat after the restart (delivered, not yet
    # acknowledged), but the first time each seq appears is in seq order.
    firsts = list(dict.fromkeys(got))
    assert firsts == sorted(firsts)
    assert set(got) == set(committed)
    s = sinks(k)["archive"]
    assert s["cursor"] == s["last_seq"] == committed[-1] and s["lag_records"] == 0
    assert s["plugin"] == "filesink" and s["health"] == "ok"


class CRM:
    """A CRM endpoint: answers `script` statuses in turn (then 200), or
    stalls every request when stall is set; keeps what it accepted."""

    def __init__(self, script=(), stall=0):
        self.script = list(script)
        self.stall = stall
        self.accepted = []   # seqs, per 200 answer, in order
        self.bodies = []     # (body, signature header) of every request
        self.lock = threading.Lock()
        crm = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with crm.lock:
                    crm.bodies.append((body, self.headers.get("X-Kanal-Signature")))
                    status = crm.script.pop(0) if crm.script else 200
                if crm.stall:
                    time.sleep(crm.stall)
                    return
                if status == 200:
                    with crm.lock:
                        crm.accepted.extend(r["seq"] for r in json.loads(body)["records"])
                self.send_response(status)
                if status == 503:
                    self.send_header("Retry-After", "1")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/kanal"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def crm_factory():
    made = []

    def make(**kw):
        c = CRM(**kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def http_sink(url, extra=""):
    return (f"\n[sink crm]\nplugin = http\nurl = {url}\nsecret = {SINK_SECRET}\n"
            f"insecure_inline_secrets = yes\n{extra}\n")


def test_http_sink_retries_503_then_delivers_everything_signed(make_kanald, crm_factory):
    crm = crm_factory(script=[503, 503, 503])
    k = make_kanald(sources=webhook_source() + http_sink(crm.url, "batch_max = 4\n"),
                    plugins=("webhook", "http")).start()
    for i in range(10):
        status, _, body = k.post_hook(message(f"h{i}"))
        assert status == 200, body
    # While the CRM answers 503, the sink lags and says why.
    s = wait_until(lambda: (lambda s: s if s["last_error"] else None)(sinks(k)["crm"]),
                   what="a last_error")
    assert "HTTP 503" in s["last_error"] and s["lag_records"] > 0
    committed = [r["seq"] for r in k.feed()]
    wait_until(lambda: set(crm.accepted) >= set(committed), what="all records accepted")
    assert crm.accepted == sorted(crm.accepted)
    assert len(crm.bodies) >= 3 + 3  # the 503s, then at least ceil(10/4) batches
    for body, sig in crm.bodies:
        want = hmac.new(SINK_SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert sig == f"sha256={want}"
        recs = json.loads(body)["records"]
        assert 1 <= len(recs) <= 4
    s = wait_until(lambda: (lambda s: s if s["lag_records"] == 0 else None)(sinks(k)["crm"]),
                   what="no lag")
    assert s["cursor"] == committed[-1] and s["health"] == "ok"
    status, _, body = k.request("GET", "/metrics")
    text = body.decode()
    assert re.search(r'kanal_sink_errors_total\{sink="crm"\} [3-9]', text), text
    assert f'kanal_sink_cursor{{sink="crm"}} {committed[-1]}' in text
    assert 'kanal_sink_lag_records{sink="crm"} 0' in text


def test_a_stalled_sink_never_stops_ingest_and_degrades_healthz(make_kanald, crm_factory):
    crm = crm_factory(stall=20)
    k = make_kanald(sources=webhook_source() +
                    http_sink(crm.url, "timeout = 2s\nmax_lag = 1s\nmax_inflight = 50\n"
                                       "batch_max = 10\n"),
                    plugins=("webhook", "http")).start()
    for i in range(300):
        status, _, body = k.post_hook(message(f"s{i}"))
        assert status == 200, body
    assert len(k.feed()) == 300
    time.sleep(1.2)
    status, health = k.api("/healthz", token=None)
    assert status == 200 and health["status"] == "degraded", health
    assert health["sinks"]["crm"] == {"status": "unhealthy", "reason": "lags past max_lag"}
    s = sinks(k)["crm"]
    assert s["cursor"] == 0 and s["lag_records"] == 300 and s["lag_seconds"] >= 1
    # The window holds: no more than max_inflight records were handed over.
    assert s["inflight"] <= 50
    assert s["health"] == "unhealthy"


def test_http_sink_gives_up_on_4xx_loudly_but_skips_nothing(make_kanald, crm_factory):
    crm = crm_factory(script=[400, 400])
    k = make_kanald(sources=webhook_source() + http_sink(crm.url, "max_attempts = 2\n"),
                    plugins=("webhook", "http")).start()
    status, _, body = k.post_hook(message("x1"))
    assert status == 200, body
    s = wait_until(lambda: (lambda s: s if s["health"] == "unhealthy" and s["last_error"] and
                            "refused 2 times" in s["last_error"] else None)(sinks(k)["crm"]),
                   what="the sink unhealthy after max_attempts")
    assert "HTTP 400" in s["last_error"] and s["cursor"] == 0 and s["lag_records"] == 1
    assert crm.accepted == []
    k.wait_log(r"\[crm\].*sink delivery failed after seq 0: .*HTTP 400")


def test_filesink_drops_an_unfinished_line_at_start(make_kanald, tmp_path):
    """A line the sink did not finish (a crash or a power loss mid-write)
    was never acknowledged: the next start cuts it off, and the records
    that follow begin on a line of their own."""
    out = tmp_path / "a.jsonl"
    sink = f"\n[sink archive]\nplugin = filesink\npath = {out}\n"
    k = make_kanald(sources=webhook_source() + sink)
    k.link_plugin(BUILD / "sdk" / "filesink.so")
    k.start()
    for i in range(3):
        assert k.post_hook(message(f"t{i}"))[0] == 200
    wait_until(lambda: sinks(k)["archive"]["cursor"] == 3, what="cursor 3")
    assert k.stop() == 0
    whole = out.read_bytes()
    with open(out, "ab") as f:
        f.write(b'{"seq":4,"kind":"mess')
    k.start()
    k.wait_log(r"\[archive\].*dropped 21 bytes of an unfinished line")
    assert out.read_bytes() == whole
    assert k.post_hook(message("t3"))[0] == 200
    wait_until(lambda: file_seqs(out) == [1, 2, 3, 4], what="seq 4 on a line of its own")
    assert out.read_bytes().endswith(b"\n")


def test_cursor_survives_restart_and_reload_follows_sink_sections(make_kanald, tmp_path):
    out = tmp_path / "a.jsonl"
    sink = f"\n[sink archive]\nplugin = filesink\npath = {out}\n"
    k = make_kanald(sources=webhook_source() + sink)
    k.link_plugin(BUILD / "sdk" / "filesink.so")
    k.start()
    for i in range(5):
        assert k.post_hook(message(f"r{i}"))[0] == 200
    wait_until(lambda: len(file_seqs(out)) == 5, what="5 lines")
    wait_until(lambda: sinks(k)["archive"]["cursor"] == 5, what="cursor 5")
    assert k.stop() == 0
    k.start()
    m = k.wait_log(r"\[archive\].*sink delivers from seq (\d+)")
    assert m.group(1) == "6"
    # Removed on reload: stops; records go on being stored.
    k.write_config(sources=webhook_source())
    mark = k.log_mark()
    k.hup()
    k.wait_log(r"configuration reloaded", start=mark)
    assert sinks(k) == {}
    assert k.post_hook(message("r5"))[0] == 200
    # Back again: delivers from its stored cursor, skipping nothing.
    k.write_config(sources=webhook_source() + sink)
    mark = k.log_mark()
    k.hup()
    k.wait_log(r"configuration reloaded", start=mark)
    wait_until(lambda: file_seqs(out) == [1, 2, 3, 4, 5, 6], what="seq 6 delivered")
