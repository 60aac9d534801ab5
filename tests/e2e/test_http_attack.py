# SPDX-License-Identifier: Apache-2.0
"""The HTTP server under attack: clients that reset connections at any point
of a pipelined exchange, that never read their answers, that hold many
connections open, or that connect and stay silent.  kanald must stay up,
bounded and fair to everyone else, and (in the sanitizer build) exit clean."""
import json
import os
import re
import signal
import socket
import struct
import threading
import time

import pytest

from kanal import READ_TOKEN, message, sign

HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"


def connect(k, source=None, timeout=10):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if source:
        s.bind((source, 0))
    s.connect(("127.0.0.1", k.port))
    return s


def reset(s):
    """Close with RST instead of FIN (SO_LINGER 0)."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def read_answer(s, timeout=10):
    """Everything until the server closes or goes quiet."""
    s.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not chunk:
            break
        data += chunk
    return data


def closed_by_server(s, timeout):
    """True when the server closes s (EOF or RST) within timeout seconds."""
    s.settimeout(timeout)
    try:
        while True:
            if not s.recv(65536):
                return True
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True


def answered_once_freed(k, request, source=None, timeout=60):
    """Connect, send request and return (socket, first answer bytes), again
    while the answer is the per-client limit's 503: kanald frees a closed
    connection's slot when its loop sees the close, which on a loaded machine
    may come after the client's next connect."""
    deadline = time.monotonic() + timeout
    while True:
        s = connect(k, source=source)
        try:
            s.sendall(request)
            data = s.recv(65536)
        except ConnectionError:  # the 503 and the close came before the request
            data = b"HTTP/1.1 503 (connection reset)"
        if not data.startswith(b"HTTP/1.1 503") or time.monotonic() > deadline:
            return s, data
        s.close()
        time.sleep(0.05)


def signed_post(eid, wrong=False):
    body = json.dumps(message(eid)).encode()
    sig = "sha256=" + "0" * 64 if wrong else sign(body)
    return (b"POST /hooks/hooks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"X-Kanal-Signature: " + sig.encode() + b"\r\nContent-Length: %d\r\n\r\n"
            % len(body) + body)


def vm_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# ---- 3: a connection reset at any point of a pipelined exchange ----

def exchange(tag):
    """Signed POSTs, GETs answered at once, a refused POST, an API read:
    (bytes, [(start, end, body_start or None)] per request)."""
    parts = [HEALTHZ, signed_post(f"{tag}-0"), HEALTHZ, signed_post(f"{tag}-1"),
             signed_post(f"{tag}-bad", wrong=True),
             b"GET /v1/interactions?limit=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
             + READ_TOKEN.encode() + b"\r\n\r\n",
             HEALTHZ, signed_post(f"{tag}-2"), b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n",
             signed_post(f"{tag}-3")]
    data, spans = b"", []
    for p in parts:
        head_end = p.index(b"\r\n\r\n") + 4
        spans.append((len(data), len(data) + len(p), len(data) + head_end if head_end < len(p)
                      else None))
        data += p
    return data, spans


def cut_points(spans, total):
    """Every kind of place a client can vanish: between requests, in a head,
    in a body, and after sending everything."""
    cuts = set()
    for start, end, body in spans:
        cuts.add(start)                      # between requests
        cuts.add(start + 7)                  # mid request line
        cuts.add(start + 30)                 # mid head
        if body is not None:
            cuts.add(body - 2)               # head all but its last CRLF
            cuts.add(body)                   # head complete, no body
            cuts.add(body + (end - body) // 2)  # mid body
            cuts.add(end - 1)                # body all but one byte
    cuts.add(total)                          # everything sent
    return sorted(c for c in cuts if 0 < c <= total)


@pytest.mark.parametrize("limits", ["", "max_pipeline = 2\nmax_unread_answers = 1K"],
                         ids=["default", "tight-limits"])
def test_reset_at_every_point_of_a_pipelined_exchange(make_kanald, limits):
    """A client that resets its connection anywhere in a pipeline, right after
    sending (the answers' writes then fail inside the parser's callbacks) or
    a little later (requests wait for their commit), leaves kanald serving,
    with only complete, authentic requests stored; the fixture's clean stop
    shows that no freed connection was touched (ASan build).  With tight
    limits the resets also hit connections paused with requests read but
    not yet parsed."""
    kanald = make_kanald(kanald=limits).start()
    n = 0
    for delay in (0, 0.002, 0.05):
        for rep in range(2):
            tag = f"d{delay}-{rep}"
            data, spans = exchange(tag)
            for cut in cut_points(spans, len(data)):
                s = connect(kanald)
                s.sendall(data[:cut])
                if delay:
                    time.sleep(delay)
                reset(s)
                n += 1
    # The reset already there when kanald reads: with kanald stopped, each
    # client sends part of the exchange and resets; kanald then reads the
    # requests, answers the first at once, finds the client gone, and must
    # not take the requests after it (they would be answered after their
    # commit, on a connection already freed).
    for rep in range(2):
        data, spans = exchange(f"stopped-{rep}")
        cuts = cut_points(spans, len(data))
        socks = [connect(kanald) for _ in cuts]
        time.sleep(0.3)  # accepted
        os.kill(kanald.proc.pid, signal.SIGSTOP)
        try:
            for s, cut in zip(socks, cuts):
                s.sendall(data[:cut])
                reset(s)
                n += 1
        finally:
            os.kill(kanald.proc.pid, signal.SIGCONT)
        time.sleep(0.5)
    assert n > 100
    time.sleep(0.5)
    assert kanald.request("GET", "/healthz")[0] == 200
    # Whatever was stored was whole and authentic: never the badly signed one.
    stored = [r["external_id"] for r in kanald.feed()]
    assert not [e for e in stored if e.endswith("-bad")]
    assert all(r["text"] == "hello" for r in kanald.feed())
    # A full exchange on a fresh connection is still answered in order.
    data, spans = exchange("after")
    s = connect(kanald)
    s.sendall(data + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    answer = read_answer(s)
    s.close()
    statuses = [int(x) for x in re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)]
    assert statuses == [200, 200, 200, 200, 401, 200, 200, 200, 404, 200, 200]
    ids = [r["external_id"] for r in kanald.feed() if r["external_id"].startswith("after-")]
    assert ids == ["after-0", "after-1", "after-2", "after-3"]


# ---- 4: answers that are never read ----

def test_client_that_never_reads_is_bounded_and_cut_off(make_kanald):
    """A client pipelines 50 MiB of GETs and never reads an answer: kanald
    stops reading it once max_unread_answers are waiting, its memory stays
    bounded, others are served, and the client is cut off after
    idle_timeout."""
    k = make_kanald(kanald="idle_timeout = 3s").start()
    pid = k.proc.pid
    base = vm_rss_kb(pid)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", k.port))
    s.settimeout(1.0)
    chunk = HEALTHZ * (1024 * 1024 // len(HEALTHZ))
    sent, peak, stalled, cut = 0, base, 0, False
    while sent < 50 * 1024 * 1024:
        try:
            sent += s.send(chunk)
            stalled = 0
        except socket.timeout:
            stalled += 1
            if stalled >= 3:
                break
        except (BrokenPipeError, ConnectionResetError):
            cut = True
            break
        peak = max(peak, vm_rss_kb(pid))
        assert peak < 200 * 1024, f"kanald's RSS reached {peak} kB after {sent} bytes"
    assert sent < 50 * 1024 * 1024, "kanald read all 50 MiB without being answered"
    # Meanwhile another client is served.
    assert k.request("GET", "/healthz")[0] == 200
    # The reader that never reads is cut off after idle_timeout.
    if not cut:
        k.wait_log(r"closed the connection from 127\.0\.0\.1: it read no answer for idle_timeout",
                   timeout=15)
    peak = max(peak, vm_rss_kb(pid))
    assert peak < 200 * 1024
    s.close()
    assert k.request("GET", "/healthz")[0] == 200


def test_unread_answers_limit_pauses_and_resumes(make_kanald):
    """With a small max_unread_answers kanald stops reading a client's
    requests once that many answer bytes wait for it, and goes on once the
    client reads: every request is answered, in order."""
    k = make_kanald(kanald="max_unread_answers = 4K").start()
    assert k.post_hook(message("big", text="y" * 50000))[0] == 200
    # Feed pages of 50 KB, 10 MB in all: far beyond the sockets' buffers.
    req = (b"GET /v1/interactions?limit=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
           + READ_TOKEN.encode() + b"\r\n\r\n")
    count = 200
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", k.port))
    s.sendall(req * count + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    k.wait_log(r"pausing requests from 127\.0\.0\.1: \d+ answer bytes unread", timeout=30)
    data = read_answer(s, timeout=20)
    s.close()
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", data)
    assert statuses == [b"200"] * (count + 1)
    assert data.count(b"y" * 50000) == count


def test_pipeline_limit_answers_everything_in_order(make_kanald):
    """max_pipeline = 2: a client pipelining 40 signed POSTs and GETs in one
    write is read two requests at a time, and every one is stored and
    answered, in order."""
    k = make_kanald(kanald="max_pipeline = 2").start()
    reqs = b""
    for i in range(20):
        reqs += signed_post(f"pl{i}") + HEALTHZ
    reqs += b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    s = connect(k)
    s.sendall(reqs)
    answer = read_answer(s)
    s.close()
    assert answer.count(b"HTTP/1.1 200") == 41
    seqs = [json.loads(x.split(b"}")[0] + b"}")["seqs"][0]
            for x in answer.split(b"\r\n\r\n")[1::2][:20]]
    assert seqs == list(range(1, 21))
    assert [r["external_id"] for r in k.feed()] == [f"pl{i}" for i in range(20)]
    k.wait_log(r"pausing requests from 127\.0\.0\.1: 2 unanswered \(max_pipeline\)")


def test_nothing_after_a_request_that_says_close(make_kanald):
    """A signed POST that says Connection: close, with two more pipelined
    behind it in the same write: the POST is stored and answered with
    Connection: close, then the connection closes; the requests after it
    are neither stored nor answered (RFC 9112 9.6).  The POST's answer
    waits for its commit, so the requests behind it were read by then."""
    k = make_kanald().start()
    first = signed_post("close-0").replace(b"Host: x\r\n", b"Host: x\r\nConnection: close\r\n")
    s = connect(k)
    s.sendall(first + signed_post("close-1") + HEALTHZ)
    data = read_answer(s)
    s.close()
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", data) == [b"200"], data
    assert b"\r\nConnection: close\r\n" in data
    s = connect(k)  # the server goes on serving others
    s.sendall(HEALTHZ)
    assert s.recv(65536).startswith(b"HTTP/1.1 200")
    s.close()
    assert [r["external_id"] for r in k.feed()] == ["close-0"]


def test_stop_while_requests_wait_unparsed(make_kanald):
    """SIGTERM while a connection is paused at max_pipeline with requests
    read but not parsed: kanald stops cleanly, and what it stored is a
    prefix of what was sent, in order, with nothing after a gap."""
    k = make_kanald(kanald="max_pipeline = 1").start()
    s = connect(k)
    n = 1000  # one commit each, one after the other: far more than 0.1 s of work
    data = b"".join(signed_post(f"st{i}") for i in range(n))

    def send():  # kanald stops reading when paused: sendall may block until it closes
        try:
            s.sendall(data)
        except OSError:
            pass
    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    time.sleep(0.1)
    assert k.stop() == 0
    s.close()
    sender.join(timeout=10)
    k.start()
    ids = [r["external_id"] for r in k.feed()]
    assert ids == [f"st{i}" for i in range(len(ids))]
    assert len(ids) < n  # it was stopped while requests still waited


# ---- 7: connections per client ----

def test_connections_per_ip(make_kanald):
    k = make_kanald(kanald="max_connections_per_ip = 3").start()
    held = [connect(k) for _ in range(3)]
    for s in held:  # each is served and stays open (keep-alive)
        s.sendall(HEALTHZ)
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
    extra = connect(k)
    data = read_answer(extra, timeout=5)
    assert data.startswith(b"HTTP/1.1 503"), data
    assert b"\r\nRetry-After: 1\r\n" in data and b"too_many_connections" in data
    extra.close()
    k.wait_log(r"refused a connection from 127\.0\.0\.1: it has 3 open, "
               r"max_connections_per_ip is 3")
    # Another client address is served meanwhile.
    other = connect(k, source="127.0.0.2")
    other.sendall(HEALTHZ)
    assert other.recv(65536).startswith(b"HTTP/1.1 200")
    other.close()
    # A silent connection holds its slot only until header_timeout... and a
    # closed one frees it as soon as kanald sees the close.
    held.pop().close()
    again, data = answered_once_freed(k, HEALTHZ)
    assert data.startswith(b"HTTP/1.1 200"), data
    again.close()
    for s in held:
        s.close()


def test_default_per_ip_limit_serves_a_benchmark(kanald):
    """The default max_connections_per_ip (128) leaves room for make bench's
    wrk -c64 from 127.0.0.1: 64 keep-alive connections, all served."""
    socks = [connect(kanald) for _ in range(64)]
    for s in socks:
        s.sendall(HEALTHZ)
    for s in socks:
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
    for s in socks:
        s.sendall(HEALTHZ)
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
        s.close()


def forwarded_get(s, xff):
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: " + xff.encode() +
              b"\r\n\r\n")
    return s.recv(65536)


def test_connections_per_forwarded_client(make_kanald):
    """Behind a trusted proxy the limit counts the client X-Forwarded-For
    names (the right-most untrusted entry), never the proxy itself; the
    header from anyone else is ignored; plugins see the forwarded client."""
    k = make_kanald(kanald="max_connections_per_ip = 2\n"
                           "trusted_proxies = 127.0.0.1, 2001:db8::/32").start()
    # The proxy (127.0.0.1) holds many more connections than the limit.
    a = [connect(k) for _ in range(2)]
    for s in a:
        assert forwarded_get(s, "198.51.100.7").startswith(b"HTTP/1.1 200")
    # A third connection for the same client, through another hop the
    # operator trusts (2001:db8::9) and behind a forged left-most entry.
    third = connect(k)
    data = forwarded_get(third, "10.66.66.66, 198.51.100.7, 2001:db8::9")
    assert data.startswith(b"HTTP/1.1 503"), data
    assert b"\r\nRetry-After: 1\r\n" in data
    third.close()
    k.wait_log(r"refused a connection from 198\.51\.100\.7 via proxy 127\.0\.0\.1: it has 2 open")
    # Other clients through the same proxy are served, IPv6 ones too.
    b = [connect(k) for _ in range(2)]
    assert forwarded_get(b[0], "198.51.100.8").startswith(b"HTTP/1.1 200")
    assert forwarded_get(b[1], "2001:db9::1").startswith(b"HTTP/1.1 200")
    # The proxy's own requests (no X-Forwarded-For) are not counted.
    own = [connect(k) for _ in range(3)]
    for s in own:
        s.sendall(HEALTHZ)
        assert s.recv(65536).startswith(b"HTTP/1.1 200")
    # An untrusted peer's X-Forwarded-For is ignored: it is counted as itself.
    u = [connect(k, source="127.0.0.2") for _ in range(2)]
    for i, s in enumerate(u):
        assert forwarded_get(s, f"203.0.113.{i}").startswith(b"HTTP/1.1 200")
    extra = connect(k, source="127.0.0.2")
    assert read_answer(extra, timeout=5).startswith(b"HTTP/1.1 503")
    extra.close()
    # What plugins see as the request's address is the forwarded client.
    mark = k.log_mark()
    body = json.dumps(message("fw")).encode()
    s = connect(k)
    s.sendall(b"POST /hooks/hooks HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 192.0.2.44\r\n"
              b"X-Kanal-Signature: sha256=00\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    assert s.recv(65536).startswith(b"HTTP/1.1 401")
    s.close()
    k.wait_log(r"refused a request from 192\.0\.2\.44: wrong", start=mark)
    mark = k.log_mark()
    s = connect(k, source="127.0.0.2")
    for x in u:
        x.close()
    s, data = answered_once_freed(
        k, b"POST /hooks/hooks HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 192.0.2.44\r\n"
        b"X-Kanal-Signature: sha256=00\r\nContent-Length: %d\r\n\r\n" % len(body) + body,
        source="127.0.0.2")
    assert data.startswith(b"HTTP/1.1 401"), data
    s.close()
    k.wait_log(r"refused a request from 127\.0\.0\.2: wrong", start=mark)
    for s in a + b + own:
        s.close()


def test_per_client_limits_follow_a_reload(make_kanald):
    """SIGHUP applies new max_connections_per_ip and trusted_proxies to the
    running server (a peer is found trusted or not when it connects)."""
    k = make_kanald(kanald="max_connections_per_ip = 100").start()
    held = [connect(k) for _ in range(2)]
    for s in held:
        assert forwarded_get(s, "198.51.100.1").startswith(b"HTTP/1.1 200")
    mark = k.log_mark()
    k.write_config(kanald="max_connections_per_ip = 2\ntrusted_proxies = 127.0.0.1")
    k.hup()
    k.wait_log(r"configuration reloaded", start=mark)
    # New connections from the proxy count for the client they forward for.
    fresh = [connect(k) for _ in range(2)]
    for s in fresh:
        assert forwarded_get(s, "198.51.100.1").startswith(b"HTTP/1.1 200")
    s = connect(k)
    assert forwarded_get(s, "198.51.100.1").startswith(b"HTTP/1.1 503")
    s.close()
    s = connect(k)
    assert forwarded_get(s, "198.51.100.2").startswith(b"HTTP/1.1 200")
    s.close()
    for s in held + fresh:
        s.close()


def test_limits_must_be_sane(make_kanald):
    """kanald refuses to start with a trusted_proxies entry that is not an
    address or block, or a per-client limit below 1."""
    bad = [("trusted_proxies = 127.0.0.1, nginx", r"'trusted_proxies': 'nginx' is not"),
           ("trusted_proxies = 10.0.0.0/33", r"'trusted_proxies': '10.0.0.0/33' is not"),
           ("trusted_proxies = ::1/129", r"'trusted_proxies': '::1/129' is not"),
           ("trusted_proxies = 10.0.0.1/", r"'trusted_proxies': '10.0.0.1/' is not"),
           ("max_pipeline = 0", r"'max_pipeline' must be at least 1"),
           ("max_connections_per_ip = 0", r"'max_connections_per_ip' must be at least 1"),
           ("max_unread_answers = 0", r"'max_unread_answers' must be at least 1")]
    for i, (line, error) in enumerate(bad):
        k = make_kanald(sub=f"k{i}", kanald=line)
        k.expect_exit = True
        k.start(wait=False)
        k.wait_log(error)
        assert k.proc.wait(timeout=30) != 0


# ---- 7: a new connection that stays silent ----

def test_silent_new_connection_is_closed_after_header_timeout(make_kanald):
    k = make_kanald(kanald="header_timeout = 1s\nidle_timeout = 30s").start()
    s = connect(k)
    t0 = time.monotonic()
    assert closed_by_server(s, timeout=6), "a silent connection was kept past header_timeout"
    assert time.monotonic() - t0 < 6
    s.close()
    # A keep-alive connection between requests still gets idle_timeout.
    s = connect(k)
    s.sendall(HEALTHZ)
    assert s.recv(65536).startswith(b"HTTP/1.1 200")
    assert not closed_by_server(s, timeout=3)
    s.close()
