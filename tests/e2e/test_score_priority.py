# SPDX-License-Identifier: Apache-2.0
"""A scoring run is background work: it computes on a thread of its own,
named kanal-score, whose nice value is kanald's own plus score_nice, and
while ingest goes on it pauses so that it works at most score_share
percent of the time (docs/configuration.md).  Seen as an operator sees
it: the thread in /proc/<pid>/task while a run is on, its nice value,
kanald's other threads left as they were, the run's log lines (its nice
value, how long it paused for ingest), and bad values refused at start."""
import os
import re
import threading

import pytest

from kanal import ADMIN_TOKEN, message

QUIET = "score_interval = 0\nscore_half_life = 0"
SCORE_THREAD = "kanal-score"


def audiences(n):
    return "".join(f"\n[audience same{i}]\nmatch = kind:comment\n" for i in range(n))


def post_commenters(k, users, hubs=20):
    """Comments on a few posts: a graph with some work in every audience,
    so that a run lasts long enough to be seen in /proc."""
    recs = [message(f"p{h}", handle=f"email:h{h}@example.com", kind="post") for h in range(hubs)]
    recs += [message(f"c{i}", handle=f"email:u{i}@example.com", kind="comment",
                     reply_to=f"p{i % hubs}") for i in range(users)]
    for b in range(0, len(recs), 500):
        status, _, body = k.post_hook(recs[b:b + 500])
        assert status == 200, body


def stat_of(path):
    """(comm, nice) from a /proc stat file, or None once the task is gone."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return None
    comm = text[text.index("(") + 1:text.rindex(")")]
    # After "pid (comm)": state is field 3, nice field 19.
    return comm, int(text[text.rindex(")") + 2:].split()[16])


def threads(pid):
    """{tid: (comm, nice)} of the process's threads now."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        s = stat_of(f"/proc/{pid}/task/{tid}/stat")
        if s:
            out[int(tid)] = s
    return out


def watch_runs(k, tries=20):
    """Start runs one after the other, watching kanald's threads while each
    is on, until the scoring thread has been seen with its nice value set
    (a run also logs it, before it reads the store): {tid: (comm, nice)}
    of the scoring thread(s) seen and of kanald's other threads."""
    pid = k.proc.pid
    seen, others = {}, {}
    for _ in range(tries):
        status, a = k.api("/v1/audiences")
        runs = a["run"]["runs"]
        done = threading.Event()

        def sample():
            while not done.is_set():
                for tid, (comm, nice) in threads(pid).items():
                    (seen if comm == SCORE_THREAD else others)[tid] = (comm, nice)

        t = threading.Thread(target=sample)
        t.start()
        try:
            mark = k.log_mark()
            status, started = k.api("/v1/scores/refresh", token=ADMIN_TOKEN, method="POST")
            assert status == 202, started
            k.wait_log(r"scores: run \d+ kept", start=mark, timeout=120)
            while True:
                status, a = k.api("/v1/audiences")
                if a["run"]["runs"] > runs and not a["run"]["running"]:
                    break
        finally:
            done.set()
            t.join()
        if seen:
            return seen, others
    return seen, others


@pytest.mark.parametrize("setting,add", [("", 19), ("score_nice = 7", 7), ("score_nice = 0", 0)])
def test_the_scoring_thread_runs_at_score_nice_above_kanald(make_kanald, setting, add):
    """Default 19, a value in between, and 0 (the run competes with ingest
    as any other thread): the thread named kanal-score has kanald's nice
    plus score_nice (at most 19); the loop's and the other threads' nice
    values are unchanged."""
    k = make_kanald(kanald=f"{QUIET}\n{setting}", sources=None)
    k.write_config(sources=k.sources + audiences(20))
    k.start()
    post_commenters(k, 3000)
    base = stat_of(f"/proc/{k.proc.pid}/stat")[1]
    want = min(base + add, 19)
    seen, others = watch_runs(k)
    assert seen, f"no thread named {SCORE_THREAD} seen during 20 runs: {others}"
    for tid, (comm, nice) in seen.items():
        assert nice == want, (tid, nice, want, base)
    # Only the scoring thread: the loop, the writer and libuv's pool
    # (the API's reads) keep kanald's own nice value.
    # (A thread is named once its nice value is set: the scoring thread
    # seen before, unnamed, is left out.)
    others = {tid: v for tid, v in others.items() if tid not in seen}
    assert others and all(nice == base for _, nice in others.values()), (base, others)
    if add:
        assert f"computes at nice {want} (kanald's {base} + score_nice {add})" in k.log()
    # What the runs computed is served as before.
    status, a = k.api("/v1/audiences/same0")
    assert status == 200, a


@pytest.mark.parametrize("value", ["-1", "20", "100", "-20"])
def test_a_score_nice_out_of_range_is_refused_at_start(make_kanald, value):
    k = make_kanald(kanald=f"{QUIET}\nscore_nice = {value}")
    k.expect_exit = True
    k.start(wait=False)
    assert k.proc.wait(timeout=30) == 1
    k._reader.join(timeout=5)
    log = k.log()
    assert "'score_nice' must be 0 to 19" in log, log
    assert "not starting" in log, log


def test_a_score_nice_that_is_no_number_is_refused_at_start(make_kanald):
    k = make_kanald(kanald=f"{QUIET}\nscore_nice = low")
    k.expect_exit = True
    k.start(wait=False)
    assert k.proc.wait(timeout=30) == 1
    k._reader.join(timeout=5)
    log = k.log()
    assert "score_nice" in log and "not starting" in log, log


def run_once(k):
    """One run: the milliseconds its log line says it paused for ingest."""
    mark = k.log_mark()
    status, started = k.api("/v1/scores/refresh", token=ADMIN_TOKEN, method="POST")
    assert status == 202, started
    m = k.wait_log(rf"scores: run {started['run']} kept .*paused (\d+) ms for ingest",
                   start=mark, timeout=120)
    while k.api("/v1/audiences")[1]["run"]["running"]:
        pass
    return int(m.group(1))


def run_beside_ingest(k, first):
    """One run while another client posts new records all along: the
    pause it logged, and the records posted."""
    stop, posted = threading.Event(), [0]

    def post():
        i = first
        while not stop.is_set():
            recs = [message(f"live{i + n}", handle=f"email:live{(i + n) % 500}@example.com",
                            kind="comment", reply_to=f"p{n % 20}") for n in range(20)]
            status, _, body = k.post_hook(recs)
            assert status == 200, body
            i += 20
            posted[0] += 20

    t = threading.Thread(target=post)
    t.start()
    try:
        while posted[0] == 0:
            pass
        paused = run_once(k)
    finally:
        stop.set()
        t.join()
    return paused, posted[0]


@pytest.mark.parametrize("share", [25, 100])
def test_a_run_pauses_for_ingest_and_only_then(make_kanald, share):
    """score_share 25: a run alone never pauses; a run while records come
    in pauses (the log says how long).  score_share 100: it never pauses.
    The scores are kept either way."""
    k = make_kanald(kanald=f"{QUIET}\nscore_share = {share}", sources=None)
    k.write_config(sources=k.sources + audiences(20))
    k.start()
    post_commenters(k, 3000)
    assert run_once(k) == 0
    pauses, total = [], 0
    for attempt in range(5):
        paused, posted = run_beside_ingest(k, attempt * 1_000_000)
        assert posted > 0
        total += posted
        pauses.append(paused)
        if share < 100 and paused > 0:
            break
    if share < 100:
        assert any(p > 0 for p in pauses), pauses
    else:
        assert pauses == [0] * 5, pauses
    # Every record posted beside the runs was stored, and the scores kept.
    status, page = k.api("/v1/interactions?after=0&limit=1")
    assert status == 200 and page["last_seq"] == 3020 + total, (page.get("last_seq"), total)
    status, a = k.api("/v1/audiences/same0")
    assert status == 200, a
    assert run_once(k) == 0  # alone again: no pause


@pytest.mark.parametrize("value", ["0", "101", "-5"])
def test_a_score_share_out_of_range_is_refused_at_start(make_kanald, value):
    k = make_kanald(kanald=f"{QUIET}\nscore_share = {value}")
    k.expect_exit = True
    k.start(wait=False)
    assert k.proc.wait(timeout=30) == 1
    k._reader.join(timeout=5)
    log = k.log()
    assert "'score_share' must be 1 to 100" in log, log
    assert "not starting" in log, log


def test_a_run_paused_for_ingest_does_not_hold_up_a_stop(make_kanald):
    """score_share = 1: beside ingest a run pauses 99 times as long as it
    works.  A stop while it is on cuts the pauses short: kanald exits 0
    (the fixture's stop waits 15 s at most), having logged how the run
    ended, and every record it acknowledged is in the store after a
    restart."""
    k = make_kanald(kanald=f"{QUIET}\nscore_share = 1", sources=None)
    k.write_config(sources=k.sources + audiences(20))
    k.start()
    post_commenters(k, 3000)
    stop, acked = threading.Event(), []

    def post():
        i = 0
        while not stop.is_set():
            status, _, body = k.post_hook(message(f"s{i}", handle=f"email:s{i % 300}@example.com",
                                                  kind="comment", reply_to=f"p{i % 20}"))
            if status != 200:
                break
            acked.append(f"s{i}")
            i += 1

    t = threading.Thread(target=post)
    t.start()
    try:
        while len(acked) < 20:
            pass
        mark = k.log_mark()
        status, started = k.api("/v1/scores/refresh", token=ADMIN_TOKEN, method="POST")
        assert status == 202, started
        k.wait_log(r"computes at nice", start=mark)
        while len(acked) < 200:
            pass
        assert k.api("/v1/audiences")[1]["run"]["running"]  # paused, not ended
    finally:
        stop.set()
        t.join()
    assert k.stop() == 0
    log = k.log()
    assert re.search(rf"scores: run {started['run']} (kept|stopped)", log), log[-2000:]
    k.start()
    ids = {r["external_id"] for r in k.feed(after=0)}
    assert set(acked) <= ids
