# SPDX-License-Identifier: Apache-2.0
"""CSV attendee exports dropped into a watched directory: comma and
semicolon files, a BOM, quoted multi-line fields, bad rows reported by line,
the same file dropped twice, a file still being written, and files that
cannot be read at all, each ending in done/ or failed/ with a report."""
import ctypes
import os
import select
import shutil
import struct
import threading
import time
from pathlib import Path

import pytest

from kanal import validate_record

FIX = Path(__file__).parent / "fixtures" / "signup"
EVENT = {"id": "kis-semineri-2026", "name": "Kış Semineri 2026",
         "starts_at": "2026-11-20T15:00:00.000Z"}


# How much a 5.6 MB file may grow kanald's anonymous memory (the sanitizer
# build's shadow memory and quarantine take more).
RSS_GROWTH_MB = 600 if "asan" in os.environ.get("KANAL_BUILD", "") else 150


def csv_source(inbox, extra="", settle="300ms"):
    return ("[source expo]\nplugin = signup\nprovider = csv\n"
            f"watch_dir = {inbox}\nevent_id = kis-semineri-2026\n"
            "event_name = Kış Semineri 2026\nevent_starts_at = 2026-11-20T18:00:00+03:00\n"
            f"settle = {settle}\ndefault_country = TR\n{extra}\n")


def start(make_kanald, tmp_path, extra="", settle="300ms", before=()):
    inbox = tmp_path / "inbox"
    inbox.mkdir(exist_ok=True)
    for name in before:
        shutil.copy(FIX / name, inbox / name)
    return make_kanald(sources=csv_source(inbox, extra, settle), plugins=("signup",)).start(), inbox


def drop(inbox, name, data=None):
    """Drop a file the way a user copies it in."""
    (inbox / name).write_bytes(data if data is not None else (FIX / name).read_bytes())


def wait_file(path: Path, timeout=60):
    deadline = time.monotonic() + timeout
    # A report is whole once it ends its last line: it is written in one go
    # right after the move, which a loaded kanald may not have finished yet.
    while not (path.exists() and path.read_bytes().endswith(b"\n")):
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear; {sorted(p.name for p in path.parent.iterdir())}")
        time.sleep(0.05)
    return path


def summary(path: Path):
    return dict(line.split(": ", 1) for line in path.read_text().splitlines())


def people(recs):
    return {r["from"]["handle"]: r for r in recs}


IN_MOVED_TO, IN_CREATE = 0x80, 0x100


def watch_names(dirs):
    """An inotify fd watching dirs for names that appear (created or moved
    in), and a function returning the events so far: (dir, name, how)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    assert fd >= 0, os.strerror(ctypes.get_errno())
    wds = {}
    for d in dirs:
        wd = libc.inotify_add_watch(fd, str(d).encode(), IN_CREATE | IN_MOVED_TO)
        assert wd >= 0, os.strerror(ctypes.get_errno())
        wds[wd] = d

    def events(timeout):
        out = []
        if not select.select([fd], [], [], timeout)[0]:
            return out
        buf = os.read(fd, 65536)
        i = 0
        while i < len(buf):
            wd, mask, _, n = struct.unpack_from("iIII", buf, i)
            name = buf[i + 16:i + 16 + n].rstrip(b"\0").decode()
            out.append((wds[wd], name, "moved" if mask & IN_MOVED_TO else "created"))
            i += 16 + n
        return out
    return fd, events


def test_a_report_appears_only_whole(make_kanald, tmp_path):
    """A script that waits for a report's name in done/ or failed/ and reads
    it at once finds it whole: the name appears by a rename of the written
    file, never as a file still being written."""
    inbox = tmp_path / "inbox"
    for sub in ("done", "failed"):
        (inbox / sub).mkdir(parents=True)
    fd, events = watch_names([inbox / "done", inbox / "failed"])
    try:
        k, inbox = start(make_kanald, tmp_path)
        drop(inbox, "list.csv", ROWS.encode())   # done/: a .summary and an .errors
        drop(inbox, "bad.csv", b"just,some\ntext,here\n")  # failed/: an .errors
        want = {("done", "list.csv.summary"), ("done", "list.csv.errors"),
                ("failed", "bad.csv.errors")}
        seen, deadline = {}, time.monotonic() + 60
        while not want <= set(seen) and time.monotonic() < deadline:
            for d, name, how in events(1):
                if name.endswith((".summary", ".errors")):
                    # Read the moment the name is there, as a waiting script would.
                    seen[(d.name, name)] = (how, (d / name).read_bytes())
        assert want <= set(seen), seen
    finally:
        os.close(fd)
    for key, (how, data) in seen.items():
        assert how == "moved", (key, how)
        assert data.endswith(b"\n") and data == (inbox / key[0] / key[1]).read_bytes(), key
    assert summary(inbox / "done" / "list.csv.summary")["bad_rows"] == "1"
    # Nothing else is left behind: no temporary file.
    assert sorted(p.name for p in (inbox / "done").iterdir()) == \
        ["list.csv", "list.csv.errors", "list.csv.summary"]
    assert sorted(p.name for p in (inbox / "failed").iterdir()) == ["bad.csv", "bad.csv.errors"]
    assert k.feed()


def test_comma_file_already_there_at_start(make_kanald, tmp_path):
    k, inbox = start(make_kanald, tmp_path, before=("attendees_comma.csv",))
    wait_file(inbox / "done" / "attendees_comma.csv.summary")
    assert not (inbox / "attendees_comma.csv").exists()
    assert not (inbox / "done" / "attendees_comma.csv.errors").exists()
    assert (inbox / "done" / "attendees_comma.csv").read_bytes() == \
        (FIX / "attendees_comma.csv").read_bytes()
    s = summary(inbox / "done" / "attendees_comma.csv.summary")
    assert (s["rows"], s["records"], s["bad_rows"]) == ("3", "3", "0")
    assert s["delimiter"] == "','" and s["header"] == "line 1"
    recs = k.feed()
    assert len(recs) == 3
    for r in recs:
        validate_record(r)
        assert (r["kind"], r["direction"], r["channel"]) == ("signup", "inbound", "signup")
        assert r["event"] == EVENT and r["subject"] == "Kış Semineri 2026"
        assert r["meta"]["file"] == "attendees_comma.csv"
    got = people(recs)
    ayse = got["email:ayse@example.com"]
    assert ayse["from"] == {"handle": "email:ayse@example.com", "name": "Ayşe Yılmaz",
                            "role": "customer",
                            "handles": ["email:ayse@example.com", "phone:+905321234567"]}
    assert ayse["external_id"] == "kis-semineri-2026/email:ayse@example.com"
    assert ayse["meta"]["line"] == 2 and ayse["meta"]["fields"] == {"Company": "Örnek Ltd."}
    assert got["email:mehmet@example.org"]["from"]["name"] == "Mehmet Kaya"
    zeynep = got["phone:+49301234567"]
    assert zeynep["external_id"] == "kis-semineri-2026/phone:+49301234567"


def test_semicolon_file_with_bom_crlf_and_a_title_line(make_kanald, tmp_path):
    k, inbox = start(make_kanald, tmp_path)
    drop(inbox, "katilimcilar_tr.csv")
    s = summary(wait_file(inbox / "done" / "katilimcilar_tr.csv.summary"))
    assert s["delimiter"] == "';'" and s["header"] == "line 2"
    assert (s["rows"], s["records"], s["bad_rows"]) == ("2", "2", "0")
    assert "email=E-posta (column 2)" in s["columns"]
    got = people(k.feed())
    assert sorted(got) == ["email:ali.veli@example.com", "email:ayse@example.com"]
    ayse = got["email:ayse@example.com"]
    validate_record(ayse)
    assert ayse["from"]["name"] == "Ayşe Yılmaz"  # no BOM, no stray \r
    assert ayse["from"]["handles"] == ["email:ayse@example.com", "phone:+905321234567"]
    assert ayse["meta"]["fields"] == {"Ücret": "250,00"}  # the decimal comma survives
    assert got["email:ali.veli@example.com"]["from"]["handles"][1] == "phone:+905554443322"


def test_quoted_multiline_fields_and_a_bad_row(make_kanald, tmp_path):
    k, inbox = start(make_kanald, tmp_path)
    drop(inbox, "quoted_multiline.csv")
    s = summary(wait_file(inbox / "done" / "quoted_multiline.csv.summary"))
    assert (s["rows"], s["records"], s["bad_rows"]) == ("3", "2", "1")
    assert s["errors"] == "quoted_multiline.csv.errors"
    errors = (inbox / "done" / "quoted_multiline.csv.errors").read_text()
    # The bad row starts on line 4: the multi-line field before it counts two lines.
    assert errors == "line 4: e-mail address 'mehmet.example.com' is not valid\n"
    got = people(k.feed())
    assert sorted(got) == ["email:ayse@example.com", "email:zeynep@example.com"]
    ayse = got["email:ayse@example.com"]
    validate_record(ayse)
    assert ayse["from"]["name"] == "Yılmaz, Ayşe"
    assert ayse["meta"]["fields"]["Notes"] == "Vegan menü\nTekerlekli sandalye erişimi"
    assert got["email:zeynep@example.com"]["meta"]["line"] == 5
    assert "1 listed in done/quoted_multiline.csv.errors" in k.log()


def test_a_file_dropped_twice_adds_nothing(make_kanald, tmp_path):
    k, inbox = start(make_kanald, tmp_path)
    drop(inbox, "attendees_comma.csv")
    wait_file(inbox / "done" / "attendees_comma.csv.summary")
    first = k.feed()
    assert len(first) == 3
    drop(inbox, "attendees_comma.csv")
    s = summary(wait_file(inbox / "done" / "attendees_comma.2.csv.summary"))
    assert s["records"] == "3"
    assert k.feed() == first
    assert (inbox / "done" / "attendees_comma.csv").exists()
    assert not (inbox / "attendees_comma.csv").exists()


def test_a_file_still_being_written_is_read_once_complete(make_kanald, tmp_path):
    k, inbox = start(make_kanald, tmp_path, settle="1s")
    rows = [f"Katılımcı {i},kisi{i}@example.com,05321234{i:03d}\n" for i in range(60)]
    path = inbox / "slow_export.csv"
    with open(path, "w", encoding="utf-8") as f:
        f.write("Ad Soyad,E-posta,Telefon\n")
        for i in range(0, 60, 10):
            f.writelines(rows[i:i + 10])
            f.flush()
            # A slow copy, once pausing longer than settle while it keeps the file open.
            time.sleep(1.5 if i == 30 else 0.3)
            # Still being written: nothing is read and the file stays where it is.
            assert path.exists() and k.feed() == []
    s = summary(wait_file(inbox / "done" / "slow_export.csv.summary"))
    assert (s["rows"], s["records"], s["bad_rows"]) == ("60", "60", "0")
    recs = k.feed()
    assert len(recs) == 60
    assert sorted(r["meta"]["line"] for r in recs) == list(range(2, 62))
    assert [p.name for p in sorted((inbox / "done").iterdir())] == ["slow_export.csv",
                                                                    "slow_export.csv.summary"]


def test_unreadable_files_go_to_failed_with_the_reason(make_kanald, tmp_path):
    k, inbox = start(make_kanald, tmp_path, extra="csv_max_file_size = 64K")
    for name in ("no_header.csv", "latin1.csv", "unterminated.csv"):
        drop(inbox, name)
    drop(inbox, "huge.csv", b"Name,Email\n" + b"x,y@example.com\n" * 5000)
    drop(inbox, "all_bad.csv", "Ad Soyad;E-posta\nAyşe;ayse-at-example\n".encode())
    reasons = {}
    for name in ("no_header.csv", "latin1.csv", "unterminated.csv", "huge.csv", "all_bad.csv"):
        reasons[name] = wait_file(inbox / "failed" / f"{name}.errors").read_text()
        assert (inbox / "failed" / name).exists() and not (inbox / name).exists()
    assert "no header row naming an e-mail or phone column" in reasons["no_header.csv"]
    assert "not UTF-8 (line 2)" in reasons["latin1.csv"]
    assert "quoted field opened on line 2 never closes" in reasons["unterminated.csv"]
    assert "more than csv_max_file_size (65536)" in reasons["huge.csv"]
    assert reasons["all_bad.csv"] == ("not imported: no row has a valid e-mail or phone (1 bad "
                                      "row(s), listed below)\nline 2: e-mail address "
                                      "'ayse-at-example' is not valid\n")
    assert k.feed() == []
    assert list((inbox / "done").iterdir()) == []
    assert k.log().count("not imported") == 5


def test_columns_option_picks_the_named_headers(make_kanald, tmp_path):
    k, inbox = start(make_kanald, tmp_path,
                     extra="columns = email=Kurumsal E-posta,name=Katılımcı,phone=GSM")
    drop(inbox, "kurumsal.csv", "Katılımcı;E-posta;Kurumsal E-posta;GSM\n"
                                "Ayşe Yılmaz;ayse@gmail.example;ayse.yilmaz@ornek.example;"
                                "0532 123 45 67\n".encode())
    wait_file(inbox / "done" / "kurumsal.csv.summary")
    [rec] = k.feed()
    validate_record(rec)
    assert rec["from"]["handle"] == "email:ayse.yilmaz@ornek.example"
    assert rec["from"]["name"] == "Ayşe Yılmaz"
    assert rec["meta"]["fields"] == {"E-posta": "ayse@gmail.example"}


# ---- links inside watch_dir are never followed ----

ROWS = "Ad Soyad,E-posta\nAyşe Yılmaz,ayse@example.com\nMehmet,mehmet-at-example\n"


def outside_tree(root: Path):
    """Every path under root with its bytes (links as their targets)."""
    return {str(p.relative_to(root)): (os.readlink(p) if p.is_symlink() else
                                        p.read_bytes() if p.is_file() else None)
            for p in sorted(root.rglob("*"))}


@pytest.mark.parametrize("sub", ["done", "failed"])
def test_a_done_or_failed_link_is_refused(make_kanald, tmp_path, sub):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("precious\n")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / sub).symlink_to(elsewhere, target_is_directory=True)
    k, inbox = start(make_kanald, tmp_path)
    # One file for done/, one for failed/ (no header): whichever is the link.
    drop(inbox, "ok.csv", ROWS.encode())
    drop(inbox, "bad.csv", b"just,some\ntext,here\n")
    name = "ok.csv" if sub == "done" else "bad.csv"
    k.wait_log(rf"imported {name}|{name}.* imported", timeout=20)
    time.sleep(0.2)
    assert outside_tree(elsewhere) == {"keep.txt": b"precious\n"}
    assert (inbox / name).exists()  # left where it was, to be moved once fixed
    assert (inbox / sub).is_symlink()
    assert f"{inbox}/{sub} is a symbolic link (links in watch_dir are never followed); " \
           "refused" in k.log()
    k.wait_log(rf"{inbox}/{name} .*{sub} is a symbolic link .*refused")


def test_planted_report_links_are_not_written_through(make_kanald, tmp_path):
    victims = tmp_path / "victims"
    victims.mkdir()
    inbox = tmp_path / "inbox"
    for sub in ("done", "failed"):
        (inbox / sub).mkdir(parents=True)
    planted = {"done/list.csv.summary": "v1", "done/list.csv.errors": "v2",
               "failed/bad.csv.errors": "v3", "done/list.2.csv.errors": "v4"}
    for rel, victim in planted.items():
        (victims / victim).write_text(f"{victim} must stay\n")
        (inbox / rel).symlink_to(victims / victim)
    k, inbox = start(make_kanald, tmp_path)
    drop(inbox, "list.csv", ROWS.encode())
    drop(inbox, "bad.csv", b"just,some\ntext,here\n")
    k.wait_log(r"imported list\.csv", timeout=20)
    k.wait_log(r"bad\.csv not imported", timeout=20)
    time.sleep(0.2)
    assert outside_tree(victims) == {v: f"{v} must stay\n".encode() for v in planted.values()}
    # Names whose report names are taken are skipped: list.3.csv, bad.2.csv.
    s = summary(wait_file(inbox / "done" / "list.3.csv.summary"))
    assert (s["records"], s["bad_rows"]) == ("1", "1")
    assert (inbox / "done" / "list.3.csv.errors").read_text() == \
        "line 3: e-mail address 'mehmet-at-example' is not valid\n"
    assert "no header row" in wait_file(inbox / "failed" / "bad.2.csv.errors").read_text()
    assert oct((inbox / "done" / "list.3.csv.summary").stat().st_mode & 0o777) == "0o640"
    assert outside_tree(victims) == {v: f"{v} must stay\n".encode() for v in planted.values()}
    for rel in planted:
        assert (inbox / rel).is_symlink()
    assert len(k.feed()) == 1


def test_a_csv_that_is_a_link_fifo_or_device_is_not_read(make_kanald, tmp_path):
    secret = tmp_path / "outside.csv"
    secret.write_text("Name,Email\nGizli Kişi,gizli@example.com\n")
    before = secret.read_bytes()
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "link.csv").symlink_to(secret)
    (inbox / "dangling.csv").symlink_to(tmp_path / "nowhere.csv")
    os.mkfifo(inbox / "pipe.csv")
    k, inbox = start(make_kanald, tmp_path)
    (inbox / "late.csv").symlink_to(secret)  # one seen by inotify, not by the scan
    reasons = {n: wait_file(inbox / "failed" / f"{n}.errors").read_text()
               for n in ("link.csv", "dangling.csv", "pipe.csv", "late.csv")}
    for n in ("link.csv", "dangling.csv", "late.csv"):
        assert reasons[n] == ("not imported: a symbolic link (links in watch_dir are never "
                              "followed)\n")
        assert (inbox / "failed" / n).is_symlink() and not (inbox / n).exists()
        assert f"{n} not imported: a symbolic link" in k.log()
    assert reasons["pipe.csv"] == "not imported: a FIFO, not a regular file\n"
    assert secret.read_bytes() == before
    assert not (tmp_path / "nowhere.csv").exists()
    assert k.feed() == []


# ---- limits: size, rows, and the loop stays responsive ----

def test_too_many_rows_is_refused_before_anything_is_stored(make_kanald, tmp_path):
    k, inbox = start(make_kanald, tmp_path, extra="csv_max_rows = 100")
    head = "Ad Soyad,E-posta\n"
    drop(inbox, "ok.csv", (head + "".join(f"K{i},k{i}@example.com\n"
                                          for i in range(99))).encode())
    wait_file(inbox / "done" / "ok.csv.summary")
    assert len(k.feed()) == 99  # 100 rows with the header: at the limit
    for n, name in ((100, "over.csv"), (5000, "far_over.csv")):
        drop(inbox, name, (head + "".join(f"K{i},over{n}-{i}@example.com\n"
                                          for i in range(n))).encode())
        why = wait_file(inbox / "failed" / f"{name}.errors").read_text()
        assert why == "not imported: the file has more than csv_max_rows (100) rows\n"
    assert len(k.feed()) == 99
    assert k.log().count("more than csv_max_rows (100) rows") == 2


def test_an_oversized_file_is_refused_unread(make_kanald, tmp_path):
    k, inbox = start(make_kanald, tmp_path, extra="csv_max_file_size = 100K")
    row = b"K,k@example.com\n"
    drop(inbox, "exact.csv", b"Name,Email\n" + row * ((100 * 1024 - 11) // len(row)))
    drop(inbox, "big.csv", b"Name,Email\n" + b"".join(b"K,k%d@example.com\n" % i
                                                       for i in range(8000)))
    why = wait_file(inbox / "failed" / "big.csv.errors").read_text()
    assert why.startswith("not imported: the file is ") and \
        why.endswith("bytes, more than csv_max_file_size (102400)\n")
    wait_file(inbox / "done" / "exact.csv.summary")
    assert [r["from"]["handle"] for r in k.feed()] == ["email:k@example.com"]


def rss_anon_kb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1])
    return 0


def healthz_gaps(k, stop, gaps, peak):
    """Poll /healthz until stop is set: the gaps between answers, and the
    peak of kanald's anonymous memory (kB)."""
    last = time.monotonic()
    while not stop.is_set():
        status = k.request("GET", "/healthz", timeout=60)[0]
        now = time.monotonic()
        assert status == 200
        gaps.append(now - last)
        last = now
        peak[0] = max(peak[0], rss_anon_kb(k.proc.pid))
        time.sleep(0.02)


def test_a_large_file_is_imported_while_kanald_keeps_answering(make_kanald, tmp_path):
    # 80000 attendees around a block of 150000 rows without a valid e-mail
    # (a column exported wrong): 8 MB, all of it imported in slices.
    n, nbad = 80_000, 150_000
    good = [f"Katılımcı {i},kisi{i}@example.com,0532 {i:07d},Şirket {i % 97}\n" for i in range(n)]
    bad = [f"Eksik {i},eksik{i}-at-example,,\n" for i in range(nbad)]
    data = ("Ad Soyad,E-posta,Telefon,Şirket\n" + "".join(good[:n // 2] + bad + good[n // 2:])).encode()
    assert len(data) > 7_000_000
    k, inbox = start(make_kanald, tmp_path, settle="200ms", extra="csv_max_rows = 300000")
    rss_before = rss_anon_kb(k.proc.pid)
    gaps, peak, stop = [], [0], threading.Event()
    t = threading.Thread(target=healthz_gaps, args=(k, stop, gaps, peak), daemon=True)
    t.start()
    try:
        (inbox / "big.csv.part").write_bytes(data)
        os.rename(inbox / "big.csv.part", inbox / "big.csv")
        s = summary(wait_file(inbox / "done" / "big.csv.summary", timeout=300))
    finally:
        stop.set()
        t.join(timeout=60)
    assert (s["rows"], s["records"], s["bad_rows"]) == (str(n + nbad), str(n), str(nbad))
    recs = k.feed(limit=1000)
    assert len(recs) == n
    assert len({r["from"]["handle"] for r in recs}) == n
    assert len(gaps) > 20
    # Slices keep every gap short (a generous bound for a loaded machine).
    assert max(gaps) < 2.0, sorted(gaps)[-5:]
    # Memory: the file's text and the handles seen, not every row as fields.
    grown_mb = (peak[0] - rss_before) / 1024
    assert grown_mb < RSS_GROWTH_MB, grown_mb


def test_a_row_of_millions_of_fields_is_refused_without_holding_the_loop(make_kanald, tmp_path):
    # 5 MB of delimiters: as fields, hundreds of MB, and seconds of the loop
    # to look for the header among them.
    k, inbox = start(make_kanald, tmp_path, settle="200ms")
    gaps, peak, stop = [], [0], threading.Event()
    t = threading.Thread(target=healthz_gaps, args=(k, stop, gaps, peak), daemon=True)
    t.start()
    try:
        wide = b"Ad Soyad,E-posta" + b",x" * 2_500_000 + b"\nAyse,ayse@example.com\n"
        (inbox / "wide.csv.part").write_bytes(wide)
        os.rename(inbox / "wide.csv.part", inbox / "wide.csv")
        why = wait_file(inbox / "failed" / "wide.csv.errors", timeout=120).read_text()
    finally:
        stop.set()
        t.join(timeout=60)
    assert why == "not imported: the row on line 1 has more than 1000 fields\n"
    assert max(gaps) < 2.0, sorted(gaps)[-5:]
    assert k.feed() == []
    assert "wide.csv not imported: the row on line 1 has more than 1000 fields" in k.log()


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_a_file_interrupted_half_way_is_finished_after_restart(make_kanald, tmp_path, how):
    n = 60_000
    data = ("Ad Soyad,E-posta\n" + "".join(f"K {i},k{i}@example.com\n"
                                           for i in range(n))).encode()
    k, inbox = start(make_kanald, tmp_path, settle="200ms")
    (inbox / "big.csv.part").write_bytes(data)
    os.rename(inbox / "big.csv.part", inbox / "big.csv")
    deadline = time.monotonic() + 120
    while not k.api("/v1/interactions?limit=1")[1]["interactions"]:
        assert time.monotonic() < deadline, k.log()
        time.sleep(0.01)
    if how == "kill":
        k.kill()  # a crash in the middle of the file
    else:
        assert k.stop() == 0
        assert "big.csv: import interrupted by the stop" in k.log()
    assert (inbox / "big.csv").exists() and not (inbox / "done" / "big.csv").exists()
    k.start()
    s = summary(wait_file(inbox / "done" / "big.csv.summary", timeout=300))
    assert s["records"] == str(n)
    recs = k.feed(limit=1000)
    # Nothing lost, nothing stored twice.
    assert len(recs) == n
    assert len({r["external_id"] for r in recs}) == n


def test_the_list_of_bad_rows_is_bounded(make_kanald, tmp_path):
    k, inbox = start(make_kanald, tmp_path)
    rows = ["Ad Soyad,E-posta\n", "Ayşe,ayse@example.com\n"]
    rows += [f"Eksik {i},eksik{i}-at-example\n" for i in range(10_500)]
    drop(inbox, "many_bad.csv", "".join(rows).encode())
    s = summary(wait_file(inbox / "done" / "many_bad.csv.summary", timeout=120))
    assert (s["rows"], s["records"], s["bad_rows"]) == ("10501", "1", "10500")
    lines = (inbox / "done" / "many_bad.csv.errors").read_text().splitlines()
    assert len(lines) == 10_001
    assert lines[0] == "line 3: e-mail address 'eksik0-at-example' is not valid"
    assert lines[9_999] == "line 10002: e-mail address 'eksik9999-at-example' is not valid"
    assert lines[-1] == "500 more bad row(s), not listed"
    assert [r["from"]["handle"] for r in k.feed()] == ["email:ayse@example.com"]
