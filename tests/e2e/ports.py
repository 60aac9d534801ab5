# SPDX-License-Identifier: Apache-2.0
"""Ports for the servers the tests start (nats-server, Dovecot, Postfix, the
fakes), picked below the kernel's ephemeral range.

A port that bind(0) hands out lies inside that range, so while a test has
chosen it but not yet started its server (a core started before its NATS
cluster, say) any outgoing connection may take it as a source port, and a
client that keeps retrying 127.0.0.1:P may even connect to itself.  A port
below the range is never given to a connect(), so only another listener can
hold it, and bind() below checks that none does."""
import random
import socket

_given = set()


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    low = min(_ephemeral_low(), 32768)
    lo, hi = 20000 if low > 21000 else 1024, low - 1
    for _ in range(1000):
        port = random.randint(lo, hi)
        if port in _given:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given.add(port)
        return port
    raise RuntimeError(f"no free port between {lo} and {hi}")
