"""CSV attendee exports dropped into a watched directory: comma and
semicolon files, a BOM, quoted multi-line fields, bad rows reported by line,
the same file dropped twice, a file still being written, and files that
cannot be read at all, each ending in done/ or failed/ with a report."""
import shutil
import time
from pathlib import Path

from kanal import validate_record

FIX = Path(__file__).parent / "fixtures" / "signup"
EVENT = {"id": "kis-semineri-2026", "name": "Kış Semineri 2026",
         "starts_at": "2026-11-20T15:00:00.000Z"}


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


def wait_file(path: Path, timeout=20):
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear; {sorted(p.name for p in path.parent.iterdir())}")
        time.sleep(0.05)
    time.sleep(0.05)  # the report is written right after the move
    return path


def summary(path: Path):
    return dict(line.split(": ", 1) for line in path.read_text().splitlines())


def people(recs):
    return {r["from"]["handle"]: r for r in recs}


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
