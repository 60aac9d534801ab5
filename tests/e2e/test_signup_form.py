# SPDX-License-Identifier: Apache-2.0
"""Plain HTML form posts: a valid post is stored and redirected (303) to the
thank-you page; a missing required field is a 400 naming it; a filled
honeypot stores nothing; one address posting too often gets 429."""
import json
import urllib.parse

from kanal import validate_record

THANKS = "https://marka.example/tesekkurler"


def form_source(extra=""):
    return ("[source kayit]\nplugin = signup\nprovider = form\n"
            "event_id = atolye-2026-12\nevent_name = Kahve Atölyesi\n"
            f"redirect_url = {THANKS}\nfields = ad_soyad*,eposta*,telefon,sirket,kvkk*\n"
            f"default_country = TR\n{extra}\n")


def post(k, fields, content_type="application/x-www-form-urlencoded", headers=None):
    body = urllib.parse.urlencode(fields).encode()
    h = {"Content-Type": content_type}
    h.update(headers or {})
    status, hdrs, data = k.request("POST", "/hooks/kayit", body, h)
    return status, hdrs, data.decode()


VALID = {"ad_soyad": "Ayşe Yılmaz", "eposta": " Ayse@Example.com ", "telefon": "0532 123 45 67",
         "sirket": "Örnek Ltd.", "kvkk": "evet", "website": "", "utm_source": "instagram"}


def test_valid_post_is_stored_then_redirected(make_kanald):
    k = make_kanald(sources=form_source(), plugins=("signup",)).start()
    status, headers, body = post(k, VALID)
    assert status == 303 and headers["Location"] == THANKS
    [rec] = k.feed()
    validate_record(rec)
    assert (rec["kind"], rec["direction"], rec["channel"]) == ("signup", "inbound", "signup")
    assert rec["external_id"] == "atolye-2026-12/email:ayse@example.com"
    assert rec["from"] == {"handle": "email:ayse@example.com", "name": "Ayşe Yılmaz",
                           "role": "customer",
                           "handles": ["email:ayse@example.com", "phone:+905321234567"]}
    assert rec["event"] == {"id": "atolye-2026-12", "name": "Kahve Atölyesi"}
    # Listed fields are kept; fields the form does not declare are not.
    assert rec["meta"]["fields"] == {"sirket": "Örnek Ltd.", "kvkk": "evet"}
    # A double submit is the same sign-up.
    status, headers, _ = post(k, VALID)
    assert status == 303
    assert len(k.feed()) == 1


def test_missing_or_invalid_fields_are_a_clear_400(make_kanald):
    k = make_kanald(sources=form_source(), plugins=("signup",)).start()
    missing = dict(VALID, eposta="", kvkk="  ")
    status, _, body = post(k, missing)
    assert status == 400 and "required field(s): eposta, kvkk" in body
    status, _, body = post(k, dict(VALID, eposta="ayse-at-example"))
    assert status == 400 and "e-mail address 'ayse-at-example' is not valid" in body
    status, _, body = post(k, dict(VALID, telefon="12ab"))
    assert status == 400 and "phone number" in body
    status, _, _ = post(k, VALID, content_type="multipart/form-data; boundary=x")
    assert status == 415
    assert k.request("GET", "/hooks/kayit")[0] == 405
    assert k.feed() == []


def test_filled_honeypot_stores_nothing(make_kanald):
    k = make_kanald(sources=form_source(), plugins=("signup",)).start()
    status, headers, _ = post(k, dict(VALID, website="http://spam.example"))
    assert status == 303 and headers["Location"] == THANKS  # the bot sees success
    assert k.feed() == []
    assert "honeypot" in k.log()


def test_per_address_rate_limit(make_kanald):
    k = make_kanald(sources=form_source("rate_limit = 3\nrate_window = 1h\n"
                                        "trust_forwarded_for = yes"),
                    plugins=("signup",)).start()
    for i in range(3):
        status, _, _ = post(k, dict(VALID, eposta=f"kisi{i}@example.com"),
                            headers={"X-Forwarded-For": "198.51.100.7"})
        assert status == 303
    status, headers, _ = post(k, dict(VALID, eposta="kisi9@example.com"),
                              headers={"X-Forwarded-For": "198.51.100.7"})
    assert status == 429 and int(headers["Retry-After"]) > 3000
    # Another client behind the same proxy is not affected.
    status, _, _ = post(k, dict(VALID, eposta="baska@example.com"),
                        headers={"X-Forwarded-For": "203.0.113.9, 198.51.100.8"})
    assert status == 303
    assert len(k.feed()) == 4


INVALID_UTF8 = {
    "byte FF": b"\xff", "byte FE": b"Ay\xfee", "overlong slash": b"\xc0\xaf",
    "overlong C1": b"\xc1\xbf", "overlong 3-byte": b"\xe0\x80\xaf",
    "overlong 4-byte": b"\xf0\x80\x80\xaf", "lone continuation": b"Ay\x80se",
    "continuation run": b"\xbf\xbf", "truncated at the end": b"Ay\xc5",
    "truncated before ASCII": b"Ay\xc5se", "truncated 3-byte": b"\xe2\x82",
    "truncated 4-byte": b"\xf0\x9f\x98", "surrogate D800": b"\xed\xa0\x80",
    "surrogate DFFF": b"\xed\xbf\xbf", "past U+10FFFF": b"\xf4\x90\x80\x80",
    "5-byte form": b"\xf8\x88\x80\x80\x80", "Latin-5 (not UTF-8)": "Ayşe".encode("iso-8859-9"),
}


def test_invalid_utf8_is_a_permanent_400_and_nothing_is_stored(make_kanald):
    """A retry can never fix a broken encoding: 400 (not 503), with a JSON
    error, wherever in the post the bad bytes are."""
    import json
    k = make_kanald(sources=form_source("rate_limit = 0"), plugins=("signup",)).start()
    for what, raw in INVALID_UTF8.items():
        for where in ("ad_soyad", "sirket", "utm_source"):   # attendee, kept, ignored field
            status, headers, body = post(k, dict(VALID, **{where: raw}))
            assert status == 400, (what, where, status, body)
            assert headers["Content-Type"].startswith("application/json")
            err = json.loads(body)["error"]
            assert err["code"] == "bad_encoding" and "UTF-8" in err["message"], (what, where)
        status, _, body = post(k, {**VALID, raw: "x"})        # in a field name
        assert status == 400, (what, "name")
    for body in (b"ad_soyad=Ay%00se&eposta=a%40example.com&kvkk=evet",
                 b"ad_soyad=Ayse&eposta=a%40example.com%00x&kvkk=evet"):
        status, headers, data = k.request("POST", "/hooks/kayit", body,
                                          {"Content-Type": "application/x-www-form-urlencoded"})
        assert status == 400 and "NUL" in json.loads(data)["error"]["message"]
    assert k.feed() == []
    assert "not valid UTF-8" in k.log()
    # Every kind of valid UTF-8 still passes, up to 4-byte characters.
    status, _, _ = post(k, dict(VALID, ad_soyad="Ayşe Yılmaz 😀", sirket="Örnek € Ltd. ☕"))
    assert status == 303
    [rec] = k.feed()
    assert rec["from"]["name"] == "Ayşe Yılmaz 😀"
    assert rec["meta"]["fields"]["sirket"] == "Örnek € Ltd. ☕"


def test_a_long_field_is_cut_at_a_character_boundary(make_kanald):
    k = make_kanald(sources=form_source(), plugins=("signup",)).start()
    long = "a" + "ş" * 1500          # 3001 bytes: byte 2000 falls inside an 'ş'
    status, _, _ = post(k, dict(VALID, sirket=long))
    assert status == 303
    [rec] = k.feed()
    kept = rec["meta"]["fields"]["sirket"]
    assert long.startswith(kept) and len(kept.encode()) == 1999


def test_a_post_whose_record_kanald_refuses_is_kept_as_unknown(make_kanald):
    """When a setting makes every sign-up record unstorable (here an
    event_starts_at the plugin reads but that falls before the year 0000 in
    UTC, which records cannot hold), a post is still kept, as unknown with
    the record's text in raw, and the person is thanked, not asked to retry
    forever; a double submit is one record; other posts are unaffected."""
    starts = "0000-01-01T01:00:00+05:00"
    k = make_kanald(sources=form_source(f"event_starts_at = {starts}"),
                    plugins=("signup",)).start()
    others = [dict(VALID, eposta=f"kisi{n}@example.com") for n in range(3)]
    for fields in [VALID, VALID] + others:
        status, headers, _ = post(k, fields)
        assert status == 303 and headers["Location"] == THANKS, status
    recs = k.feed()
    assert len(recs) == 4
    for rec, fields in zip(recs, [VALID] + others):
        validate_record(rec)
        assert rec["kind"] == "unknown" and rec["external_id"].startswith("form-"), rec
        kept = json.loads(rec["raw"])
        assert kept["kind"] == "signup" and kept["event"]["starts_at"] == starts
        assert kept["from"]["handle"] == "email:" + fields["eposta"].strip().lower()
        assert "refused" in rec["meta"]["reason"]
