# SPDX-License-Identifier: Apache-2.0
"""Signals: SIGHUP reloads check-then-activate, SIGTERM stops cleanly."""
import json
import re
import subprocess
import time

from kanal import message, webhook_source


def test_sighup_with_a_broken_file_keeps_the_old_config(kanald):
    assert kanald.post_hook(message("before"))[0] == 200
    good = kanald.conf.read_text()
    kanald.conf.write_text(good + "\n[source broken]\nplugin = webhook\nbogus_key = 1\n")
    mark = kanald.log_mark()
    kanald.hup()
    kanald.wait_log(r"reload refused", start=mark)
    assert "unknown key 'bogus_key'" in kanald.log()
    # Still serving the old sources.
    assert kanald.post_hook(message("after"))[0] == 200
    assert kanald.request("POST", "/hooks/broken", b"{}")[0] == 404
    assert [r["external_id"] for r in kanald.feed()] == ["before", "after"]


def test_sighup_starts_added_sources_and_stops_removed_ones(kanald):
    kanald.write_config(sources=webhook_source("hooks") + webhook_source("second", secret="s2"))
    mark = kanald.log_mark()
    kanald.hup()
    kanald.wait_log(r"configuration reloaded: 2 source", start=mark)
    assert kanald.post_hook(message("x1"), source="second", secret="s2")[0] == 200
    assert kanald.post_hook(message("x2"), source="hooks")[0] == 200

    # Change the secret of 'second' and drop 'hooks'.
    kanald.write_config(sources=webhook_source("second", secret="s3"))
    mark = kanald.log_mark()
    kanald.hup()
    kanald.wait_log(r"configuration reloaded: 1 source", start=mark)
    assert kanald.post_hook(message("x3"), source="hooks")[0] == 404
    assert kanald.post_hook(message("x4"), source="second", secret="s2")[0] == 401
    assert kanald.post_hook(message("x5"), source="second", secret="s3")[0] == 200
    assert [r["external_id"] for r in kanald.feed()] == ["x1", "x2", "x5"]


def test_sigterm_exits_zero_promptly_and_leaves_no_process(make_kanald):
    # Promptly: long before shutdown_timeout, which a stop that waited for
    # something would wait out (the margin is for ASan's exit on a loaded
    # machine).
    kanald = make_kanald(kanald="shutdown_timeout = 60s").start()
    assert kanald.post_hook(message("m"))[0] == 200
    pid = kanald.proc.pid
    t0 = time.monotonic()
    assert kanald.stop(timeout=90) == 0
    assert time.monotonic() - t0 < 20
    assert "stopped" in kanald.log()
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    assert out.stdout.strip() == ""
    assert subprocess.run(["kill", "-0", str(pid)], capture_output=True).returncode != 0


def test_sigterm_finishes_requests_in_flight(make_kanald):
    """A long-poll in flight is answered before kanald exits."""
    import threading
    k = make_kanald().start()
    result = {}

    def poll():
        result["r"] = k.api("/v1/interactions?after=0&wait=30")

    t = threading.Thread(target=poll)
    t.start()
    # SIGTERM only once kanald holds the poll's connection (besides the one
    # scraping): a thread slow to start would otherwise find kanald gone.
    scrape = k.conn()
    deadline = time.monotonic() + 60
    while True:
        scrape.request("GET", "/metrics")
        m = re.search(rb"^kanal_http_connections (\d+)$", scrape.getresponse().read(), re.M)
        if int(m.group(1)) >= 2:
            break
        assert time.monotonic() < deadline, "the long-poll never connected"
        time.sleep(0.05)
    scrape.close()
    time.sleep(0.3)  # its request read
    assert k.stop() == 0
    t.join(30)
    assert result["r"][0] == 200 and result["r"][1]["interactions"] == []


def test_journal_priorities_under_systemd(make_kanald):
    k = make_kanald()
    k.start(wait=False, env={"JOURNAL_STREAM": "8:1234"})
    m = k.wait_log(r"^<5>kanald .*listening on 127\.0\.0\.1:(\d+)")
    k.port = int(m.group(1))
    k.post_hook(message("j"), signature="sha256=" + "0" * 64)
    k.wait_log(r"^<4>\[hooks\] refused a request")
