# SPDX-License-Identifier: Apache-2.0
"""A scripted provider API for tests: an HTTP server on 127.0.0.1 that
records every request and answers from a script.  Providers' internet APIs
are the only thing kanal's tests replace; everything else is real."""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Request:
    def __init__(self, method, path, headers, body, at):
        self.method, self.path, self.headers, self.body, self.at = method, path, headers, body, at

    def json(self):
        return json.loads(self.body)


class FakeProvider:
    """answer(req) -> (status, headers, body) decides each reply; the default
    pops the next scripted reply, then keeps answering `default`."""

    def __init__(self, script=(), default=(200, {}, b"{}"), delay=0.0):
        self.script = list(script)
        self.default = default
        self.delay = delay
        self.requests = []
        self.lock = threading.Lock()
        self.inflight = 0
        self.max_inflight = 0
        self.answer = self._scripted
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _serve(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                req = Request(self.command, self.path, dict(self.headers), body, time.monotonic())
                with fake.lock:
                    fake.requests.append(req)
                    fake.inflight += 1
                    fake.max_inflight = max(fake.max_inflight, fake.inflight)
                try:
                    if fake.delay:
                        time.sleep(fake.delay)
                    status, headers, out = fake.answer(req)
                finally:
                    with fake.lock:
                        fake.inflight -= 1
                if isinstance(out, (dict, list)):
                    out = json.dumps(out).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _scripted(self, req):
        with self.lock:
            if self.script:
                return self.script.pop(0)
        return self.default

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def wait_requests(self, n, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.requests) >= n:
                    return list(self.requests)
            time.sleep(0.02)
        raise AssertionError(f"fake provider saw {len(self.requests)} requests, expected {n}")
