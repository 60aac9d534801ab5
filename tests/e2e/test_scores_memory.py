# SPDX-License-Identifier: Apache-2.0
"""What a scoring run holds: each audience is kept as soon as its rows are
made, so a run with many audiences holds about one audience's rows at a
time, not every audience's until the writer has kept them all
(docs/scores.md, docs/performance.md).  Measured on the real kanald as its
anonymous memory (RssAnon, sampled while the run goes on) above what it
held before the run, with audiences that all hold the same contacts: the
growth must stay far below what every audience's rows together take."""
import os
import threading

from kanal import ADMIN_TOKEN, message
from kanal import webhook_source

NO_DECAY = "score_half_life = 0\nscore_interval = 0"


def rss_anon_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    raise AssertionError("no RssAnon")


def audiences(n):
    """n named audiences matching the same records: every one holds every
    commenter."""
    return "".join(f"\n[audience same{i}]\nmatch = kind:comment\n" for i in range(n))


def post_commenters(k, users, hubs=20):
    recs = [message(f"p{h}", handle=f"email:h{h}@example.com", kind="post") for h in range(hubs)]
    recs += [message(f"c{i}", handle=f"email:u{i}@example.com", kind="comment",
                     reply_to=f"p{i % hubs}") for i in range(users)]
    for b in range(0, len(recs), 500):
        status, _, body = k.post_hook(recs[b:b + 500])
        assert status == 200, body


def run_sampled(k):
    """Start a run and sample kanald's RssAnon every millisecond until it
    has ended: (RssAnon before, peak, the run's summary)."""
    pid = k.proc.pid
    status, a = k.api("/v1/audiences")
    before_runs = a["run"]["runs"]
    base = rss_anon_kb(pid)
    peak, done = [base], threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], rss_anon_kb(pid))
            done.wait(0.001)

    t = threading.Thread(target=sample)
    t.start()
    try:
        status, started = k.api("/v1/scores/refresh", token=ADMIN_TOKEN, method="POST")
        assert status == 202, started
        while True:
            status, a = k.api("/v1/audiences")
            if a["run"]["runs"] > before_runs and not a["run"]["running"]:
                break
    finally:
        done.set()
        t.join()
    return base, peak[0], a


def test_a_run_holds_one_audiences_rows_at_a_time(make_kanald):
    """40 audiences of the same 6,000 commenters: the rows of all of them
    take over 96 MB, and a run that held them all until the writer had
    kept them grew by over 200 MB; one that keeps each audience as it is
    made grows by its graphs and a few audiences' rows (about 60 MB)."""
    n_aud, users = 40, 6000
    # In the sanitizer build, ASan keeps what is freed in a quarantine
    # (256 MB) before reusing it: the measure would be the quarantine's.
    # Without it the sanitizer build is measured as the plain one (both
    # builds ignore the other's variable).
    asan = os.environ.get("ASAN_OPTIONS", "")
    asan += (":" if asan else "") + "quarantine_size_mb=0:thread_local_quarantine_size_kb=0"
    k = make_kanald(kanald=NO_DECAY, sources=webhook_source() + audiences(n_aud))
    k.start(env={"ASAN_OPTIONS": asan})
    post_commenters(k, users)
    # A first run warms kanald up (its allocator's arenas, the store's
    # pages); the second is measured.
    base, peak, a = run_sampled(k)
    base, peak, a = run_sampled(k)
    kept = {x["id"]: x for x in a["audiences"]}
    assert a["run"]["last"]["audiences"] == len(kept) >= n_aud + 3  # all, the source, the channel
    for i in range(n_aud):
        assert kept[f"same{i}"]["contacts"] == users
    # One audience's rows: each commenter's row is well over 400 bytes of
    # JSON (its value, advocacy and risk with their counts), so all the
    # named audiences' rows together are over 40 * 6000 * 400 B = 96 MB.
    status, page = k.api("/v1/audiences/same0/contacts?limit=1")
    assert status == 200 and len(str(page["contacts"][0])) > 400, page
    grew_mb = (peak - base) / 1024
    assert grew_mb < 100, f"RssAnon grew by {grew_mb:.0f} MB during the run"
