# SPDX-License-Identifier: Apache-2.0
"""The HTTP server's limits: each answered with a JSON error, nothing stored."""
import json
import socket
import time

from kanal import READ_TOKEN, message, sign


def raw_conn(k):
    s = socket.create_connection(("127.0.0.1", k.port), timeout=10)
    return s


def read_all(s, timeout=10):
    s.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    return data


def test_oversized_body_gets_413(make_kanald):
    k = make_kanald(kanald="max_body = 4K").start()
    big = message("big", text="x" * 5000)
    status, _, body = k.post_hook(big)
    assert status == 413
    assert json.loads(body)["error"]["code"] == "body_too_large"
    # Chunked bodies are counted too.
    s = raw_conn(k)
    chunk = b"y" * 3000
    s.sendall(b"POST /hooks/hooks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
              b"%x\r\n" % len(chunk) + chunk + b"\r\n" + b"%x\r\n" % len(chunk) + chunk + b"\r\n0\r\n\r\n")
    assert read_all(s).startswith(b"HTTP/1.1 413")
    s.close()
    assert k.feed() == []


def test_huge_content_length_gets_413(kanald):
    """Content-Lengths that do not fit a signed 64-bit number are refused like
    any other too large body, and kanald goes on serving."""
    for length in (b"18000000000000000000", b"9223372036854775808", b"1048577"):
        s = raw_conn(kanald)
        s.sendall(b"POST /hooks/hooks HTTP/1.1\r\nHost: x\r\nContent-Length: " + length +
                  b"\r\n\r\n")
        assert read_all(s).startswith(b"HTTP/1.1 413"), length
        s.close()
    assert kanald.request("GET", "/healthz")[0] == 200
    assert kanald.feed() == []


def test_body_over_64k_is_stored_whole(kanald):
    """A body larger than what is allocated ahead of it (64 KiB) grows as it
    arrives and is stored whole."""
    text = "".join(f"{i:07d} " for i in range(25000))  # 200,000 bytes
    status, _, _ = kanald.post_hook(message("big-1", text=text))
    assert status == 200
    assert kanald.feed()[0]["text"] == text


def test_header_too_large_gets_431(make_kanald):
    k = make_kanald(kanald="max_header = 2K").start()
    status, _, body = k.request("GET", "/healthz", headers={"X-Big": "z" * 4000})
    assert status == 431


def test_slow_client_is_cut_off(make_kanald):
    k = make_kanald(kanald="header_timeout = 1s\nrequest_timeout = 2s").start()
    s = raw_conn(k)
    s.sendall(b"POST /hooks/hooks HTTP/1.1\r\nHost: x\r\n")
    for _ in range(6):  # a header line every half second, never finishing
        time.sleep(0.5)
        try:
            s.sendall(b"X-Slow: 1\r\n")
        except OSError:
            break
    data = read_all(s, timeout=5)
    # Cut off by header_timeout although it kept sending: a 408, then close.
    assert data.startswith(b"HTTP/1.1 408"), data
    s.close()
    # A body that trickles in is cut off by request_timeout.
    s = raw_conn(k)
    s.sendall(b"POST /hooks/hooks HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
    time.sleep(0.2)
    s.sendall(b"{")
    assert read_all(s, timeout=6).startswith(b"HTTP/1.1 408")
    s.close()
    assert k.feed() == []


def test_idle_keepalive_connection_is_closed(make_kanald):
    k = make_kanald(kanald="idle_timeout = 1s").start()
    s = raw_conn(k)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    data = read_all(s, timeout=4)
    assert data.startswith(b"HTTP/1.1 200") and b"keep-alive" in data
    s.close()


def test_too_many_connections_get_503(make_kanald):
    k = make_kanald(kanald="max_connections = 3").start()
    held = [raw_conn(k) for _ in range(3)]
    time.sleep(0.2)
    extra = raw_conn(k)
    data = read_all(extra, timeout=5)
    assert data.startswith(b"HTTP/1.1 503"), data
    assert b"too_many_connections" in data
    extra.close()
    for s in held:
        s.close()
    # The slots are free once kanald's loop has seen the closes: on a loaded
    # machine that may be after the next connect, which is then refused.
    deadline = time.monotonic() + 60
    while (status := k.request("GET", "/healthz")[0]) == 503 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status == 200


def test_unknown_source_and_route_get_404(kanald):
    status, _, body = kanald.post_hook(message("x"), source="nosuch")
    assert status == 404 and json.loads(body)["error"]["code"] == "unknown_source"
    assert kanald.request("GET", "/nothing-here")[0] == 404


def test_pipelined_requests_are_answered_in_order(kanald):
    s = raw_conn(kanald)
    reqs = b""
    for i in range(5):
        body = json.dumps(message(f"p{i}")).encode()
        reqs += (b"POST /hooks/hooks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"X-Kanal-Signature: " + sign(body).encode() + b"\r\nContent-Length: %d\r\n\r\n"
                 % len(body) + body)
    reqs += b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    s.sendall(reqs)
    data = read_all(s)
    s.close()
    assert data.count(b"HTTP/1.1 200") == 6
    # The GET is answered first (the POSTs wait for their commit), yet only
    # its answer, written last, says the connection closes.
    conn = [a.split(b"\r\n", 1)[0] for a in data.split(b"Connection: ")[1:]]
    assert conn == [b"keep-alive"] * 5 + [b"close"], conn
    seqs = [json.loads(x.split(b"}")[0] + b"}")["seqs"][0]
            for x in data.split(b"\r\n\r\n")[1:6]]
    assert seqs == [1, 2, 3, 4, 5]
    assert [r["external_id"] for r in kanald.feed()] == [f"p{i}" for i in range(5)]


def test_request_split_across_many_reads(kanald):
    """A head of 30 headers and over 2 KB, sent three bytes at a time, so that
    the URL, names and values each arrive in pieces: the plugin sees every
    header whole (the signature checks out) and the query string intact."""
    body = json.dumps(message("split-1")).encode()
    head = (b"POST /hooks/hooks?from=split&x=1 HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-Filler-%02d: %s\r\n" % (i, b"v" * 60) for i in range(30))
            + b"Content-Type: application/json\r\nX-Kanal-Signature: " + sign(body).encode()
            + b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body))
    assert len(head) > 2048
    s = raw_conn(kanald)
    data = head + body
    for i in range(0, len(data), 3):
        s.sendall(data[i:i + 3])
    answer = read_all(s)
    s.close()
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert [r["external_id"] for r in kanald.feed()] == ["split-1"]
    status, _, _ = kanald.post_hook(message("split-2"), signature="sha256=" + "0" * 64)
    assert status == 401  # the same header, wrong, is refused
    # A query string in pieces: the feed honours after= and limit=.
    assert kanald.post_hook(message("split-3"))[0] == 200
    s = raw_conn(kanald)
    data = (b"GET /v1/interactions?after=1&limit=1#frag HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer " + READ_TOKEN.encode() + b"\r\nConnection: close\r\n\r\n")
    for i in range(0, len(data), 2):
        s.sendall(data[i:i + 2])
    answer = read_all(s)
    s.close()
    page = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert [r["external_id"] for r in page["interactions"]] == ["split-3"]
    assert page["next"] == 2


def test_malformed_http_gets_400(kanald):
    s = raw_conn(kanald)
    s.sendall(b"THIS IS NOT HTTP\r\n\r\n")
    assert read_all(s).startswith(b"HTTP/1.1 400")
    s.close()
