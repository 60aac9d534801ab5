# SPDX-License-Identifier: Apache-2.0
"""The listen plugin against a real local web server (Python's http.server):
feeds and pages are served from tests/e2e/fixtures/listen/ and from the
tests themselves, with ETag 304s, 429 + Retry-After, robots.txt, a huge
page, malformed and hostile XML, and redirects to non-http URLs."""
import re
import threading
import time
from pathlib import Path

from fakes import FakeProvider

ROOT = Path(__file__).resolve().parents[2]
FIX = Path(__file__).parent / "fixtures" / "listen"
CONTACT = "mailto:social@example.com"


def rss(items, title="Haberler"):
    out = [f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
           f'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>{title}</title>'
           f'<link>http://example.com/</link>']
    for it in items:
        out.append("<item>" + "".join(f"<{k}>{v}</{k.split(' ')[0]}>" for k, v in it.items())
                   + "</item>")
    out.append("</channel></rss>")
    return "".join(out).encode()


class Web:
    """A local web server: routes[path] is (status, headers, body) or a
    function(req) returning one; robots.txt is 404 unless routed.  Every
    request is recorded with its arrival time."""

    def __init__(self):
        self.routes = {}
        self.fake = FakeProvider()
        self.fake.answer = self._answer
        self.url = None

    def _answer(self, req):
        r = self.routes.get(req.path)
        if r is None:
            return 404, {"Content-Type": "text/plain"}, b"not found"
        return r(req) if callable(r) else r

    def __enter__(self):
        self.fake.__enter__()
        self.url = self.fake.url
        return self

    def __exit__(self, *exc):
        self.fake.__exit__(*exc)

    def requests(self, path=None):
        with self.fake.lock:
            return [r for r in self.fake.requests if path is None or r.path == path]

    def wait(self, path, n=1, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.requests(path)
            if len(got) >= n:
                return got
            time.sleep(0.02)
        raise AssertionError(f"{path} asked {len(self.requests(path))} times, expected {n}; "
                             f"all: {[r.path for r in self.requests()]}")


def source(feeds="", pages="", extra="", name="web", keywords="turkcell, iade talebi",
           interval="1h"):
    s = (f"[source {name}]\nplugin = listen\ncontact = {CONTACT}\npoll_interval = {interval}\n"
         f"rate = 600\n")
    if feeds:
        s += f"feeds = {feeds}\n"
    if pages:
        s += f"pages = {pages}\n"
    if keywords:
        s += f"keywords = {keywords}\n"
    return s + extra


def start(make_kanald, src, sub="k", **kw):
    return make_kanald(sub=sub, sources=src, plugins=("listen",), **kw).start()


def wait_records(k, n, timeout=60, **params):
    deadline = time.monotonic() + timeout
    while True:
        recs = k.feed(**params)
        if len(recs) >= n:
            return recs
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(recs)} records, expected {n}: {recs}\n{k.log()}")
        time.sleep(0.05)


def wait_health(k, status, timeout=60, source="web"):
    deadline = time.monotonic() + timeout
    while True:
        _, health = k.api("/healthz")
        src = health["sources"][source]
        if src["status"] == status:
            return src
        if time.monotonic() > deadline:
            raise AssertionError(f"source {source} is {src}, expected {status}")
        time.sleep(0.05)


FEED_ITEMS = [
    # Turkish capitals and suffixes: İADE TALEBİ, TURKCELL'in, Türkçe text.
    {"title": "TURKCELL'in faturası", "guid": "urn:x:1", "link": "http://example.com/1",
     "description": "Fatura iki katına çıktı.", "dc:creator": "ayse",
     "pubDate": "Sat, 05 Dec 2026 07:15:00 GMT"},
    {"title": "Bir şikayet", "guid": "urn:x:2", "link": "http://example.com/2",
     "description": "&lt;p&gt;&lt;b&gt;İADE TALEBİ&lt;/b&gt; reddedildi&lt;/p&gt;",
     "author": "mehmet@example.com (Mehmet)"},
    # No guid: the external id is a digest of the link.
    {"title": "Kapsama", "link": "http://example.com/3", "description": "ışıl ışıl turkcell çekiyor"},
    # Not the brand: "aturkcell" is another word, Vodafone is another brand.
    {"title": "Başka", "guid": "urn:x:4", "description": "aturkcell ve vodafone"},
    # Excluded.
    {"title": "Turkcell reklam", "guid": "urn:x:5", "description": "kampanya"},
]


def test_feed_entries_are_matched_stored_once_and_not_read_again(make_kanald):
    etag = '"v1"'

    def feed(req):
        if req.headers.get("If-None-Match") == etag:
            return 304, {"ETag": etag}, b""
        return 200, {"Content-Type": "application/rss+xml", "ETag": etag}, rss(FEED_ITEMS)

    atom = (FIX / "atom.xml").read_bytes()
    with Web() as web:
        web.routes["/feed.xml"] = feed
        web.routes["/atom.xml"] = (200, {"Content-Type": "application/atom+xml",
                                         "Last-Modified": "Fri, 04 Dec 2026 10:00:00 GMT"}, atom)
        src = source(feeds=f"{web.url}/feed.xml, {web.url}/atom.xml",
                     extra="exclude = reklam\n", interval="1s")
        k = start(make_kanald, src)
        web.wait("/feed.xml", 2)
        web.wait("/atom.xml", 2)
        recs = wait_records(k, 4)
        by_id = {r["external_id"]: r for r in recs}
        ids = set(by_id)
        assert "urn:x:1" in ids and "urn:x:2" in ids
        assert "urn:x:4" not in ids and "urn:x:5" not in ids, ids
        url_ids = [i for i in ids if i.startswith("url-")]
        assert len(url_ids) == 1 and re.fullmatch(r"url-[0-9a-f]{32}", url_ids[0])
        assert by_id[url_ids[0]]["meta"]["url"] == "http://example.com/3"
        r1 = by_id["urn:x:1"]
        assert r1["kind"] == "mention" and r1["direction"] == "inbound"
        assert r1["channel"] == "listen"
        assert r1["from"]["handle"] == "web:example.com/ayse"
        assert r1["meta"]["site"] == "example.com"
        assert r1["meta"]["title"] == "TURKCELL'in faturası"
        assert r1["meta"]["url"] == "http://example.com/1"
        assert r1["occurred_at"] == "2026-12-05T07:15:00.000Z"
        assert r1["text"] == "Fatura iki katına çıktı."
        # RSS's "e-mail (Name)" author: the name.
        assert by_id["urn:x:2"]["from"]["handle"] == "web:example.com/Mehmet"
        # HTML in a description is reduced to text.
        assert by_id["urn:x:2"]["text"] == "İADE TALEBİ reddedildi"
        # Atom: the entry naming the brand, with its author and alternate link.
        atom_recs = [r for r in recs if r["external_id"].startswith("tag:")]
        assert [r["external_id"] for r in atom_recs] == ["tag:forum.example.org,2026:post-7"]
        assert atom_recs[0]["from"]["handle"] == "web:forum.example.org/Deniz"
        assert atom_recs[0]["meta"]["url"] == "http://forum.example.org/t/7"
        assert atom_recs[0]["occurred_at"] == "2026-12-04T09:30:00.000Z"
        n = len(recs)
        # Polls after the first are conditional and store nothing again.
        reqs = web.wait("/feed.xml", 3)
        assert reqs[0].headers.get("If-None-Match") is None
        assert reqs[1].headers.get("If-None-Match") == etag
        assert web.wait("/atom.xml", 3)[1].headers.get("If-Modified-Since") == \
            "Fri, 04 Dec 2026 10:00:00 GMT"
        assert reqs[0].headers["User-Agent"] == f"kanal/0.1.0 (+{CONTACT})"
        assert len(k.feed()) == n
        k.stop()
        # After a restart the feed is served without an ETag: every entry is
        # read again, and none is stored again.
        web.routes["/feed.xml"] = (200, {"Content-Type": "application/rss+xml"}, rss(FEED_ITEMS))
        mark = len(web.requests("/feed.xml"))
        k.start()
        web.wait("/feed.xml", mark + 2)
        k.wait_log(r"feed\.xml: 5 entries, 3 matching, 0 new")
        assert len(k.feed()) == n


def test_an_edited_entry_is_a_new_record_replying_to_the_first(make_kanald):
    v1 = rss([{"title": "Turkcell", "guid": "g-1", "description": "bekliyorum"}])
    v2 = rss([{"title": "Turkcell", "guid": "g-1", "description": "bekliyorum (düzenlendi)"}])
    with Web() as web:
        web.routes["/f"] = (200, {}, v1)
        k = start(make_kanald, source(feeds=f"{web.url}/f", interval="1s"))
        wait_records(k, 1)
        web.routes["/f"] = (200, {}, v2)
        recs = wait_records(k, 2)
        first, edit = recs
        assert first["external_id"] == "g-1" and "reply_to" not in first
        assert re.fullmatch(r"g-1#[0-9a-f]{16}", edit["external_id"])
        assert edit["reply_to"] == "g-1"
        assert edit["text"] == "bekliyorum (düzenlendi)"
        n = len(web.requests("/f"))
        web.wait("/f", n + 2)
        time.sleep(0.3)
        assert len(k.feed()) == 2


def test_xxe_and_billion_laughs_read_nothing_and_do_not_blow_up(make_kanald, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-turkcell-0042")
    xxe = (f'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
           '<rss version="2.0"><channel><title>t</title><item><guid>xxe-1</guid>'
           '<title>Turkcell &xxe;</title><description>a &xxe; b</description></item>'
           '</channel></rss>').encode()
    lol = ['<!ENTITY lol "turkcell lol">']
    for i in range(1, 10):
        lol.append(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">')
    laughs = (f'<?xml version="1.0"?>\n<!DOCTYPE rss [{"".join(lol)}]>\n'
              '<rss version="2.0"><channel><title>t</title><item><guid>lol-1</guid>'
              '<title>Turkcell</title><description>&lol9;</description></item>'
              '</channel></rss>').encode()
    good = rss([{"title": "Turkcell", "guid": "good-1", "description": "sonra gelen"}])
    with Web() as web:
        web.routes["/xxe"] = (200, {}, xxe)
        web.routes["/lol"] = (200, {}, laughs)
        web.routes["/good"] = (200, {}, good)
        k = start(make_kanald, source(feeds=f"{web.url}/xxe {web.url}/lol {web.url}/good"))
        recs = wait_records(k, 3)
        by_id = {r["external_id"]: r for r in recs}
        assert "good-1" in by_id, recs
        text = repr(recs)
        assert "TOP-SECRET" not in text
        # The XXE entry is stored without the entity's text.
        assert by_id["xxe-1"]["text"] == "a b"
        # The billion laughs is never expanded: libxml2's amplification
        # check refuses it, and the document is kept as unknown.
        assert "lol-1" not in by_id
        lol = [r for r in recs if r["kind"] == "unknown"]
        assert len(lol) == 1 and "/lol: not well-formed XML" in lol[0]["meta"]["reason"], lol
        assert "entity" in lol[0]["meta"]["reason"]
        assert "turkcell lol turkcell lol" not in text
        assert k.proc.poll() is None


def test_a_malformed_feed_is_kept_as_unknown_and_the_poll_goes_on(make_kanald):
    bad = b'<?xml version="1.0"?><rss><channel><item><title>Turkcell</title></chan'
    html = b"<html><body>not a feed</body></html>"
    good = rss([{"title": "Turkcell", "guid": "after-1", "description": "ok"}])
    with Web() as web:
        web.routes["/bad"] = (200, {}, bad)
        web.routes["/html"] = (200, {}, html)
        web.routes["/good"] = (200, {}, good)
        k = start(make_kanald, source(feeds=f"{web.url}/bad {web.url}/html {web.url}/good",
                                      interval="1s"))
        recs = wait_records(k, 3)
        unknown = [r for r in recs if r["kind"] == "unknown"]
        assert len(unknown) == 2, recs
        reasons = sorted(r["meta"]["reason"] for r in unknown)
        assert "/bad: not well-formed XML" in reasons[0], reasons
        assert "/html: XML without an rss, RDF or feed root" in reasons[1] or \
            "/html: not well-formed" in reasons[1], reasons
        assert any(r["raw"] == bad.decode() for r in unknown)
        assert [r["external_id"] for r in recs if r["kind"] == "mention"] == ["after-1"]
        # The same malformed document on the next polls is stored once.
        web.wait("/bad", 3)
        web.wait("/good", 3)
        assert len(k.feed()) == 3
        # The source says what it could not read, until it can.
        src = wait_health(k, "unhealthy")
        assert "2 of 3 feeds and pages not read in the last poll" in src["reason"], src
        web.routes["/bad"] = web.routes["/html"] = (200, {}, good)
        wait_health(k, "ok")


def test_429_and_5xx_are_waited_out(make_kanald):
    good = rss([{"title": "Turkcell", "guid": "late-1", "description": "x"}])
    calls = {"n": 0}

    def limited(req):
        calls["n"] += 1
        if calls["n"] == 1:
            return 429, {"Retry-After": "3"}, b"slow down"
        return 200, {}, good

    with Web() as web:
        web.routes["/f"] = limited
        web.routes["/err"] = (503, {}, b"down")
        k = start(make_kanald, source(feeds=f"{web.url}/f {web.url}/err", interval="1s"))
        first, second = web.wait("/f", 2, timeout=30)[:2]
        # Retry-After: 3 is obeyed though the poll runs every second.
        assert second.at - first.at >= 2.8, second.at - first.at
        k.wait_log(r"/f: HTTP 429; asking http://127\.0\.0\.1:\d+ again in 3000 ms")
        # The 503 (no Retry-After) doubles the wait each time... but on the
        # same host, it holds back /f too: both are asked after the wait.
        assert wait_records(k, 1)[0]["external_id"] == "late-1"
        k.wait_log(r"/err: HTTP 503; asking .* again in \d+ ms \(backoff\)")


def test_robots_txt_is_obeyed(make_kanald):
    good = rss([{"title": "Turkcell", "guid": "pub-1", "description": "x"}])
    with Web() as web:
        web.routes["/robots.txt"] = (200, {}, b"User-agent: *\nDisallow: /private\n"
                                               b"Allow: /private/ok\n\n"
                                               b"User-agent: otherbot\nDisallow: /\n")
        web.routes["/private/feed.xml"] = (200, {}, good)
        web.routes["/private/ok.xml"] = (200, {}, rss([{"title": "Turkcell", "guid": "ok-1"}]))
        web.routes["/public/feed.xml"] = (200, {}, good)
        k = start(make_kanald, source(feeds=f"{web.url}/private/feed.xml {web.url}/private/ok.xml "
                                            f"{web.url}/public/feed.xml", interval="1s"))
        web.wait("/public/feed.xml", 2)
        recs = wait_records(k, 2)
        assert sorted(r["external_id"] for r in recs) == ["ok-1", "pub-1"]
        assert web.requests("/private/feed.xml") == []
        assert len(web.requests("/robots.txt")) == 1  # kept for robots_ttl
        k.wait_log(r"/private/feed\.xml: not fetched: .*/robots\.txt disallows it")
        assert "robots.txt disallows it" in wait_health(k, "unhealthy")["reason"]


def test_a_robots_txt_that_cannot_be_read_stops_the_host(make_kanald):
    with Web() as web:
        web.routes["/robots.txt"] = (500, {}, b"oops")
        web.routes["/f"] = (200, {}, rss([{"title": "Turkcell", "guid": "x"}]))
        k = start(make_kanald, source(feeds=f"{web.url}/f", interval="1s"))
        web.wait("/robots.txt", 2)
        k.wait_log(r"robots\.txt unreachable \(HTTP 500\)")
        assert web.requests("/f") == []


def test_the_per_host_rate_spaces_requests(make_kanald):
    with Web() as web:
        for i in range(3):
            web.routes[f"/f{i}"] = (200, {}, rss([{"title": "Turkcell", "guid": f"r{i}"}]))
        src = source(feeds=" ".join(f"{web.url}/f{i}" for i in range(3))).replace(
            "rate = 600", "rate = 60")
        k = start(make_kanald, src)
        wait_records(k, 3)
        reqs = web.requests()
        assert [r.path for r in reqs] == ["/robots.txt", "/f0", "/f1", "/f2"]
        gaps = [b.at - a.at for a, b in zip(reqs, reqs[1:])]
        # 60 a minute: one a second.  The times are when the fake server got
        # to each request, which a loaded machine may delay by a good part
        # of a second; without the spacing they would be apart by far less.
        assert min(gaps) >= 0.6, gaps


def test_a_huge_page_is_not_read(make_kanald):
    huge = b"<rss><channel>" + b"<item><title>Turkcell</title></item>" * 100000 + \
        b"</channel></rss>"
    with Web() as web:
        web.routes["/huge"] = (200, {}, huge)
        web.routes["/f"] = (200, {}, rss([{"title": "Turkcell", "guid": "small-1"}]))
        k = start(make_kanald, source(feeds=f"{web.url}/huge {web.url}/f",
                                      extra="max_body = 256K\n"))
        recs = wait_records(k, 1)
        assert [r["external_id"] for r in recs] == ["small-1"]
        k.wait_log(r"/huge: response larger than max_body \(262144 bytes\): not read")


def test_redirects_to_non_http_urls_are_refused(make_kanald):
    good = rss([{"title": "Turkcell", "guid": "moved-1"}])
    with Web() as web:
        web.routes["/file"] = (302, {"Location": "file:///etc/passwd"}, b"")
        web.routes["/ftp"] = (301, {"Location": "ftp://127.0.0.1/feed.xml"}, b"")
        web.routes["/moved"] = (301, {"Location": "/new"}, b"")
        web.routes["/new"] = (200, {}, good)
        k = start(make_kanald, source(feeds=f"{web.url}/file {web.url}/ftp {web.url}/moved"))
        recs = wait_records(k, 1)
        assert [r["external_id"] for r in recs] == ["moved-1"]
        k.wait_log(r"/file: refused a redirect to file:///etc/passwd")
        k.wait_log(r"/ftp: refused a redirect to ftp://127\.0\.0\.1/feed\.xml")
        assert "root:" not in repr(k.feed())


def serve_pages(web, prefix, files):
    for path, name in files.items():
        web.routes[path] = (200, {"Content-Type": "text/html; charset=utf-8"},
                            (FIX / name).read_bytes())


def test_sikayet_adapter_reads_the_brand_page_and_its_next_page(make_kanald):
    with Web() as web:
        serve_pages(web, "", {"/turkcell": "sikayet-1.html", "/turkcell?page=2": "sikayet-2.html"})
        src = source(pages=f"{web.url}/turkcell = sikayet",
                     extra=f"adapters = {ROOT}/conf/examples/listen-sikayet.conf\n"
                           "exclude = reklam\n", keywords="turkcell")
        k = start(make_kanald, src)
        recs = wait_records(k, 3)
        host = f"127.0.0.1:{web.fake.port}"
        by_id = {r["external_id"]: r for r in recs}
        assert set(by_id) == {f"{host}/81234567", f"{host}/81234568", f"{host}/81234001"}
        r = by_id[f"{host}/81234567"]
        assert r["kind"] == "mention"
        assert (r["from"]["handle"], r["from"]["name"]) == (f"web:{host}/Ayşe K.", "Ayşe K.")
        assert r["subject"] == "Turkcell Fatura İadesi Yapılmadı"
        assert r["text"] == "İki aydır iade bekliyorum, müşteri hizmetleri hâlâ dönmedi."
        assert r["meta"]["url"] == f"{web.url}/turkcell/fatura-iadesi-yapilmadi"
        assert r["meta"]["adapter"] == "sikayet"
        assert r["occurred_at"] == "2026-12-05T07:15:00.000Z"
        assert by_id[f"{host}/81234568"]["text"] == \
            "Evde fiber hız 2 Mbps'e düştü.\nArıza kaydı açtım, ses yok."
        # Page 2 matched by "turkcell'e" in its text.
        assert by_id[f"{host}/81234001"]["meta"]["url"] == f"{web.url}/turkcell/hat-tasima"


def test_eksi_adapter_reads_a_topic_up_to_max_pages(make_kanald):
    with Web() as web:
        serve_pages(web, "", {"/turkcell--31782": "eksi-1.html",
                              "/turkcell--31782?p=2": "eksi-2.html",
                              "/turkcell--31782?p=3": "eksi-3.html"})
        src = source(pages=f"{web.url}/turkcell--31782 = eksi",
                     extra=f"adapters = {ROOT}/conf/examples/listen-eksi.conf\nmax_pages = 2\n",
                     keywords="turkcell")
        k = start(make_kanald, src)
        recs = wait_records(k, 3)
        k.wait_log(r"stopped after 2 pages \(max_pages\)")
        assert web.requests("/turkcell--31782?p=3") == []
        host = f"127.0.0.1:{web.fake.port}"
        by_id = {r["external_id"]: r for r in recs}
        assert set(by_id) == {f"{host}/150000001", f"{host}/150000002", f"{host}/150000103"}
        r = by_id[f"{host}/150000002"]
        assert r["from"]["handle"] == f"web:{host}/uzay yolcusu"
        assert r["meta"]["title"] == "turkcell"
        assert r["text"] == "kapsama alanı dağda bile çekiyor, hakkını vermek lazım."
        assert r["meta"]["url"] == f"{web.url}/entry/150000002"
        assert r["occurred_at"] == "2026-12-05T08:02:00.000Z"  # 11:02 in Türkiye


def test_bad_configs_are_refused_with_a_reason(make_kanald, tmp_path):
    bad_adapter = tmp_path / "bad.conf"
    bad_adapter.write_text("[adapter x]\nentry = //li[\n")
    cases = [
        ("[source web]\nplugin = listen\nfeeds = http://127.0.0.1:9/f\n", "contact"),
        (source(feeds="file:///etc/passwd"), "'file:///etc/passwd' is not an http(s) URL"),
        (source(pages="http://127.0.0.1:9/p = nope"), "no adapter 'nope'"),
        (source(pages="http://127.0.0.1:9/p = x", extra=f"adapters = {bad_adapter}\n"),
         "adapter x has an XPath libxml2 cannot compile: entry"),
        (source(), "nothing to read"),
    ]
    for i, (src, why) in enumerate(cases):
        # A missing required key stops kanald; a source its plugin refuses
        # is left out (kanald runs on): either way the log says why.
        k = make_kanald(sub=f"bad{i}", sources=src, plugins=("listen",))
        k.expect_exit = True
        k.start(wait=False)
        k.wait_log(re.escape(why))
        k.wait_log(r"source refused|not starting")
        k.stop()


def test_turkish_legacy_encodings_and_broken_bytes_are_stored_as_utf8(make_kanald):
    # Older Turkish sites serve windows-1254; libxml2 converts it.
    legacy = rss([{"title": "Turkcell şikayeti", "guid": "cp-1",
                   "description": "Fatura ödemesi iki kez çekildi, İADE yok."}])
    legacy = legacy.replace(b'encoding="utf-8"', b'encoding="windows-1254"').decode().encode("cp1254")
    # A page that says UTF-8 but holds a stray Latin-5 byte.
    page = (FIX / "sikayet-2.html").read_bytes().replace("Hat Taşıma".encode(), b"Hat Ta\xfe\xfdma")
    with Web() as web:
        web.routes["/cp"] = (200, {}, legacy)
        web.routes["/turkcell"] = (200, {"Content-Type": "text/html"}, page)
        src = source(feeds=f"{web.url}/cp", pages=f"{web.url}/turkcell = sikayet",
                     extra=f"adapters = {ROOT}/conf/examples/listen-sikayet.conf\n",
                     keywords="turkcell")
        k = start(make_kanald, src)
        recs = wait_records(k, 2)
        by_id = {r["external_id"]: r for r in recs}
        assert by_id["cp-1"]["subject"] == "Turkcell şikayeti"
        assert by_id["cp-1"]["text"] == "Fatura ödemesi iki kez çekildi, İADE yok."
        host = f"127.0.0.1:{web.fake.port}"
        subject = by_id[f"{host}/81234001"]["subject"]
        assert subject.startswith("Hat Ta") and subject.endswith("ma Sorunu"), subject


def test_entries_are_stored_oldest_first(make_kanald):
    """Feeds list the newest entry first; the store gets them in the order
    they were written, so seq order is the order things were said."""
    items = [{"title": "Turkcell", "guid": f"t{h}", "pubDate": f"Sat, 05 Dec 2026 {h:02d}:00:00 GMT"}
             for h in (9, 3, 7, 1)]
    untimed = [{"title": "Turkcell", "guid": g} for g in ("u2", "u1")]
    with Web() as web:
        web.routes["/timed"] = (200, {}, rss(items))
        web.routes["/untimed"] = (200, {}, rss(untimed + [items[0]]))
        k = start(make_kanald, source(feeds=f"{web.url}/timed {web.url}/untimed"))
        recs = wait_records(k, 6)
        # Without a time on every entry, the document's order is kept.
        assert [r["external_id"] for r in recs] == ["t1", "t3", "t7", "t9", "u2", "u1"]


def test_max_entries_bounds_what_one_document_gives(make_kanald):
    items = [{"title": "Turkcell", "guid": f"n{i:02d}"} for i in range(30)]
    with Web() as web:
        web.routes["/many"] = (200, {}, rss(items))
        k = start(make_kanald, source(feeds=f"{web.url}/many", extra="max_entries = 10\n",
                                      interval="1s"))
        k.wait_log(r"/many: read the first 10 entries only \(max_entries\)")
        k.wait_log(r"/many: 10 entries, 10 matching, 10 new")
        # The log line comes before the commit: wait for the records, then
        # for one more poll, and the feed still holds the first ten only.
        wait_records(k, 10)
        n = len(web.requests("/many"))
        web.wait("/many", n + 1)
        assert sorted(r["external_id"] for r in k.feed()) == [f"n{i:02d}" for i in range(10)]
