# SPDX-License-Identifier: Apache-2.0
"""A real NATS JetStream cluster on loopback for the cluster tests: three
nats-server nodes (n1..n3), and a small client of the NATS protocol that
speaks to JetStream's API subjects ($JS.API.*) to create streams and read
their messages.  Every server is stopped by the fixture, even on failure."""
import base64
import itertools
import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

from ports import free_port  # noqa: F401 (the tests import it from here)

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"



class Client:
    """Just enough of the NATS protocol for JetStream API requests."""

    _ids = itertools.count(1)

    def __init__(self, port, timeout=5):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self._line()  # INFO
        self.sock.sendall(b'CONNECT {"verbose":false,"pedantic":false,"headers":true,'
                          b'"no_responders":true,"protocol":1}\r\nPING\r\n')
        while self._line() != b"PONG":
            pass

    def close(self):
        self.sock.close()

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("NATS server closed the connection")
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _bytes(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def request(self, subject, payload, timeout=5):
        """Send payload (dict or bytes) to subject; the answer's JSON, or
        None when no one answers in time (no JetStream leader yet)."""
        sid = next(self._ids)
        inbox = f"_INBOX.kanaltest.{sid}"
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.sock.sendall(f"SUB {inbox} {sid}\r\nPUB {subject} {inbox} {len(body)}\r\n".encode()
                          + body + b"\r\n")
        self.sock.settimeout(timeout)
        try:
            while True:
                line = self._line()
                if line == b"PING":
                    self.sock.sendall(b"PONG\r\n")
                    continue
                parts = line.split()
                if not parts or parts[0] in (b"+OK", b"PONG", b"INFO"):
                    continue
                if parts[0] == b"-ERR":
                    raise ConnectionError(line.decode())
                if parts[0] == b"MSG":
                    data = self._bytes(int(parts[-1]))
                    hdrs = b""
                elif parts[0] == b"HMSG":
                    raw = self._bytes(int(parts[-1]))
                    hdrs, data = raw[:int(parts[-2])], raw[int(parts[-2]):]
                else:
                    continue
                if int(parts[2]) != sid:
                    continue
                if b"503" in hdrs.split(b"\r\n")[0]:
                    return None  # no responders: JetStream has no leader yet
                return json.loads(data)
        except socket.timeout:
            return None
        finally:
            self.sock.sendall(f"UNSUB {sid}\r\n".encode())


class Cluster:
    """Three nats-server nodes with JetStream, routed to each other."""

    def __init__(self, tmp: Path, size=3):
        self.dir = Path(tmp)
        self.names = [f"n{i + 1}" for i in range(size)]
        self.ports = {n: free_port() for n in self.names}
        self.cports = {n: free_port() for n in self.names}
        self.procs = {}
        for n in self.names:
            routes = ", ".join(f"nats-route://127.0.0.1:{self.cports[o]}"
                               for o in self.names if o != n)
            (self.dir / f"{n}.conf").write_text(
                f'server_name: {n}\nlisten: 127.0.0.1:{self.ports[n]}\n'
                f'jetstream {{ store_dir: "{self.dir / ("js" + n[1:])}" }}\n'
                f'cluster {{ name: kanal; listen: 127.0.0.1:{self.cports[n]}; '
                f'routes: [{routes}] }}\n')

    def servers(self, names=None):
        return ", ".join(f"nats://127.0.0.1:{self.ports[n]}" for n in (names or self.names))

    def start(self, names=None):
        for n in names or self.names:
            log = open(self.dir / f"{n}.log", "ab")
            self.procs[n] = subprocess.Popen([NATS_SERVER, "-c", str(self.dir / f"{n}.conf")],
                                             stdout=log, stderr=subprocess.STDOUT)
            log.close()
        for n in names or self.names:
            self._wait_port(n)
        return self

    def _wait_port(self, name, timeout=60):
        port = self.ports[name]
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                exited = self.procs[name].poll() is not None
                if exited or time.monotonic() > deadline:
                    log = (self.dir / f"{name}.log").read_text(errors="replace")[-2000:]
                    raise AssertionError(f"nats-server {name} on {port} did not start"
                                         f"{' (it exited)' if exited else ''}:\n{log}")
                time.sleep(0.05)

    def kill(self, name):
        p = self.procs.pop(name, None)
        if p and p.poll() is None:
            p.kill()
            p.wait()

    def stop(self, names=None):
        for n in list(names or self.procs):
            p = self.procs.pop(n, None)
            if p and p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()

    def client(self, name=None):
        name = name or next(n for n in self.names if n in self.procs)
        return Client(self.ports[name])

    def api(self, subject, payload=b"", timeout=90, ok_errors=()):
        """A JetStream API request, retried until the cluster answers
        (a leader is elected) or timeout; returns the answer."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                c = self.client()
                try:
                    last = c.request(subject, payload)
                finally:
                    c.close()
            except OSError as e:
                last = {"error": {"description": str(e)}}
            if last is not None and ("error" not in last
                                     or last["error"].get("err_code") in ok_errors):
                return last
            time.sleep(0.25)
        raise AssertionError(f"JetStream {subject}: {last}")

    def create_stream(self, name="KANAL", subjects=("kanal.records.>",), storage="file",
                      replicas=3, duplicate_window_ns=120 * 10**9):
        cfg = {"name": name, "subjects": list(subjects), "storage": storage,
               "num_replicas": replicas, "duplicate_window": duplicate_window_ns}
        return self.api(f"$JS.API.STREAM.CREATE.{name}", cfg)

    def stream_info(self, name="KANAL"):
        return self.api(f"$JS.API.STREAM.INFO.{name}")

    def messages(self, name="KANAL"):
        """Every message of the stream: (stream seq, subject, headers, data dict)."""
        state = self.stream_info(name)["state"]
        out = []
        for seq in range(state.get("first_seq", 1), state.get("last_seq", 0) + 1):
            m = self.api(f"$JS.API.STREAM.MSG.GET.{name}", {"seq": seq})["message"]
            hdrs = {}
            raw = base64.b64decode(m.get("hdrs", "")).decode()
            for line in raw.split("\r\n")[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    hdrs[k.strip()] = v.strip()
            out.append((m["seq"], m["subject"], hdrs, json.loads(base64.b64decode(m["data"]))))
        return out
