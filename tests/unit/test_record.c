/* SPDX-License-Identifier: Apache-2.0 */
/* The record check: what the host makes of what plugins emit. */
#include "unit.h"

#include <errno.h>

#include <jansson.h>
#include <kanal/plugin.h>
#include <kanal/schema.h>

#include "jsonout.h"
#include "record.h"

#define RECEIVED_AT "2026-11-23T16:30:00.123Z"

static const struct record_ctx ctx = {
    .source = "s1",
    .channel = "webhook",
    .default_country = "TR",
    .keep_raw = 0,
    .received_at = RECEIVED_AT,
    .received_ms = 1795451400123,
};

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fail_msg("bad JSON in test: %s: %s", e.text, text);
    return j;
}

/* A valid inbound WhatsApp-style message. */
static json_t *valid_record(void)
{
    return parse("{\"kind\":\"message\",\"direction\":\"inbound\",\"external_id\":\"wamid.1\","
                 "\"occurred_at\":\"2026-11-23T19:00:00+03:00\",\"text\":\"merhaba\","
                 "\"from\":{\"handle\":\"phone:0532 123 45 67\",\"name\":\"Ay\xc5\x9f"
                 "e\",\"handles\":[\"wa:+905321234567\",\"phone:+90 532 123 45 67\","
                 "\"email:AYSE@Example.com\",\"wa:905321234567\"]},"
                 "\"raw\":{\"entry\":[1,2]}}");
}

/* The parties record_normalize_parties gave are the customer parties of
 * rec, record_normalize's object, as contacts_resolve reads them there:
 * from, to, mentions; their handles in order; "trust": "verified"; and
 * received_at, with the context's ms. */
static void same_parties(const char *shown, json_t *rec, const struct record_parties *rp,
                         const struct record_ctx *c)
{
    size_t np = 0;
    static const char *const keys[] = {"from", "to", "mentions"};
    for (size_t k = 0; k < 3; k++) {
        json_t *v = json_object_get(rec, keys[k]);
        size_t n = k == 0 ? (v != NULL) : json_array_size(v);
        for (size_t i = 0; i < n; i++) {
            json_t *p = k == 0 ? v : json_array_get(v, i);
            const char *role = json_string_value(json_object_get(p, "role"));
            if (strcmp(role, "customer") != 0 || np == RECORD_RESOLVED_MAX)
                continue;
            if (np >= rp->n)
                fail_msg("%s: party %zu (%s) missing of %zu", shown, np, keys[k], rp->n);
            const struct record_party *got = &rp->p[np++];
            json_t *hs = json_object_get(p, "handles");
            assert_int_equal(got->n, json_array_size(hs));
            const char *h = got->handles;
            for (size_t j = 0; j < got->n; j++, h += strlen(h) + 1)
                assert_string_equal(h, json_string_value(json_array_get(hs, j)));
            const char *trust = json_string_value(json_object_get(p, "trust"));
            assert_int_equal(got->verified, trust && strcmp(trust, "verified") == 0);
        }
    }
    assert_int_equal(rp->n, np);
    assert_string_equal(rp->source, json_string_value(json_object_get(rec, "source")));
    assert_string_equal(rp->received_at, json_string_value(json_object_get(rec, "received_at")));
    assert_int_equal(rp->received_ms, c->received_ms);
}

/* record_normalize_text(in) answers as record_normalize(in) does, and its
 * text is what jsonout_dump writes of record_normalize's object: the same
 * refusal with the same message, or the same bytes. */
static void same_as_text(json_t *in, const struct record_ctx *c)
{
    char err[256] = "", terr[256] = "";
    json_t *out = NULL;
    struct record_info oinfo = {0};
    int r = record_normalize_info(in, c, &out, &oinfo, err, sizeof err);
    struct record_info info = {0};
    char *text = NULL;
    size_t len = 0, tlen = 0;
    errno = 0;
    int tr = record_normalize_text(in, c, &info, &text, &tlen, terr, sizeof terr);
    int text_errno = errno;
    /* ... and so does record_normalize_parties, with the same text */
    struct record_parties parties = {0};
    struct record_info pinfo = {0};
    char *ptext = NULL, perr[256] = "";
    size_t plen = 0;
    int pr = record_normalize_parties(in, c, &pinfo, &ptext, &plen, &parties, perr, sizeof perr);
    char *shown = json_dumps(in, JSON_COMPACT | JSON_ENCODE_ANY);
    if (tr != r)
        fail_msg("%s: record_normalize %d (%s), record_normalize_text %d (%s)", shown, r, err, tr,
                 terr);
    if (pr != tr || strcmp(perr, terr) != 0)
        fail_msg("%s: as text %d (%s), with the parties %d (%s)", shown, tr, terr, pr, perr);
    if (!text != !ptext || (text && (plen != tlen || memcmp(text, ptext, tlen) != 0)))
        fail_msg("%s: the text %s, with the parties %s", shown, text ? text : "(none)",
                 ptext ? ptext : "(none)");
    if (r) {
        if (strcmp(err, terr) != 0)
            fail_msg("%s: refused as \"%s\" and as text \"%s\"", shown, err, terr);
        assert_null(text);
        assert_null(parties.p); /* cleared */
        assert_null(parties.buf);
    } else {
        same_parties(shown, out, &parties, c);
        assert_ptr_equal(pinfo.kind, info.kind);
        errno = 0;
        char *want = jsonout_dump(out, &len);
        int want_errno = errno;
        if (!want || !text) {
            if (want || text)
                fail_msg("%s: jsonout_dump %s, the text %s", shown, want ? "wrote" : "refused",
                         text ? "written" : "not");
            assert_int_equal(text_errno, want_errno); /* the same reason to refuse it */
        } else if (len != tlen || memcmp(want, text, len) != 0) {
            fail_msg("%s:\n  dump %s\n  text %s", shown, want, text);
        }
        assert_string_equal(info.kind, json_string_value(json_object_get(out, "kind")));
        assert_string_equal(info.direction, json_string_value(json_object_get(out, "direction")));
        assert_string_equal(info.external_id,
                            json_string_value(json_object_get(out, "external_id")));
        assert_int_equal(info.given_contact, json_object_get(out, "contact") != NULL);
        assert_ptr_equal(oinfo.kind, info.kind); /* both point into in */
        assert_ptr_equal(oinfo.direction, info.direction);
        assert_ptr_equal(oinfo.external_id, info.external_id);
        assert_int_equal(oinfo.given_contact, info.given_contact);
        free(want);
    }
    free(text);
    free(ptext);
    record_parties_clear(&parties);
    free(shown);
    json_decref(out);
}

static json_t *normalize_ok(json_t *in, const struct record_ctx *c)
{
    same_as_text(in, c);
    char err[256] = "";
    json_t *out = NULL;
    int r = record_normalize(in, c, &out, err, sizeof err);
    if (r != 0)
        fail_msg("record_normalize refused a valid record: %d: %s", r, err);
    assert_non_null(out);
    return out;
}

/* record_normalize(in) must fail naming field; consumes in. */
static void expect_refused(json_t *in, const char *field)
{
    same_as_text(in, &ctx);
    char err[256] = "";
    json_t *out = (json_t *)&out; /* must be reset to NULL */
    int r = record_normalize(in, &ctx, &out, err, sizeof err);
    char *text = json_dumps(in, JSON_COMPACT);
    if (r != KANAL_ERECORD)
        fail_msg("record_normalize(%s) = %d, expected KANAL_ERECORD", text, r);
    if (!strstr(err, field))
        fail_msg("record_normalize(%s): error \"%s\" does not name %s", text, err, field);
    assert_null(out);
    free(text);
    json_decref(in);
}

static void assert_keys(json_t *obj, const char *const *want, size_t n)
{
    size_t i = 0;
    for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it), i++) {
        if (i >= n)
            fail_msg("unexpected extra field '%s'", json_object_iter_key(it));
        if (strcmp(json_object_iter_key(it), want[i]) != 0)
            fail_msg("field %zu is '%s', expected '%s'", i, json_object_iter_key(it), want[i]);
    }
    assert_int_equal(i, n);
}

static const char *str(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        fail_msg("field '%s' is not a string", key);
    return json_string_value(v);
}

static void test_valid_record(void **state)
{
    (void)state;
    json_t *in = valid_record();
    json_t *out = normalize_ok(in, &ctx);
    static const char *const order[] = {
        "v",           "seq",  "id",       "source",      "channel",     "kind",
        "direction",   "occurred_at", "received_at", "external_id", "from", "to",
        "mentions",    "text", "attachments", "meta",
    };
    assert_keys(out, order, sizeof order / sizeof order[0]);
    assert_int_equal(json_integer_value(json_object_get(out, "v")), 1);
    assert_int_equal(json_integer_value(json_object_get(out, "seq")), 0);
    assert_string_equal(str(out, "id"), "s1/message/wamid.1");
    assert_string_equal(str(out, "source"), "s1");
    assert_string_equal(str(out, "channel"), "webhook");
    assert_string_equal(str(out, "kind"), "message");
    assert_string_equal(str(out, "direction"), "inbound");
    assert_string_equal(str(out, "occurred_at"), "2026-11-23T16:00:00.000Z");
    assert_string_equal(str(out, "received_at"), RECEIVED_AT);
    assert_string_equal(str(out, "external_id"), "wamid.1");
    assert_string_equal(str(out, "text"), "merhaba");

    json_t *from = json_object_get(out, "from");
    static const char *const party_order[] = {"handle", "name", "role", "handles"};
    assert_keys(from, party_order, 4);
    assert_string_equal(str(from, "handle"), "phone:+905321234567");
    assert_string_equal(str(from, "name"), "Ay\xc5\x9f" "e");
    assert_string_equal(str(from, "role"), "customer");
    json_t *want_handles = parse("[\"phone:+905321234567\",\"wa:905321234567\","
                                 "\"email:ayse@example.com\"]");
    assert_true(json_equal(json_object_get(from, "handles"), want_handles));
    json_decref(want_handles);

    json_t *empty_array = json_array(), *empty_object = json_object();
    assert_true(json_equal(json_object_get(out, "to"), empty_array));
    assert_true(json_equal(json_object_get(out, "mentions"), empty_array));
    assert_true(json_equal(json_object_get(out, "attachments"), empty_array));
    assert_true(json_equal(json_object_get(out, "meta"), empty_object));
    json_decref(empty_array);
    json_decref(empty_object);
    assert_null(json_object_get(out, "raw")); /* keep_raw is off */

    /* The input is left as it was. */
    assert_string_equal(str(json_object_get(in, "from"), "handle"), "phone:0532 123 45 67");
    json_decref(out);
    json_decref(in);
}

/* Handles with non-ASCII bytes (IDN domains, names in other scripts) keep
 * them as they are: only ASCII is lowered and white space trimmed, and the
 * stored strings are valid UTF-8 (jansson's own check agrees) of the
 * expected bytes, whatever the scheme. */
static void test_handles_non_ascii(void **state)
{
    (void)state;
    static const struct {
        const char *in, *want;
    } cases[] = {
        {"email:AY\\u015eE@\\u00d6rnek.COM.tr", "email:ay\\u015ee@\\u00d6rnek.com.tr"},
        {"email:\\u7528\\u6237@\\u4f8b\\u5b50.\\u516c\\u53f8",
         "email:\\u7528\\u6237@\\u4f8b\\u5b50.\\u516c\\u53f8"},
        {"telegram:  \\u0410\\u043b\\u0438\\u0441\\u0430 ",
         "telegram:\\u0410\\u043b\\u0438\\u0441\\u0430"},
        {"ig:caf\\u00e9_\\ud83d\\ude00", "ig:caf\\u00e9_\\ud83d\\ude00"},
        {"crm:ABC-\\u00c7", "crm:ABC-\\u00c7"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[512];
        snprintf(text, sizeof text,
                 "{\"kind\":\"message\",\"direction\":\"inbound\",\"external_id\":\"u%zu\","
                 "\"from\":{\"handle\":\"%s\",\"handles\":[\"%s\"]}}",
                 i, cases[i].in, cases[i].in);
        json_t *in = parse(text), *out = normalize_ok(in, &ctx);
        json_t *from = json_object_get(out, "from");
        char want[256];
        snprintf(want, sizeof want, "[\"%s\"]", cases[i].want);
        json_t *want_handles = parse(want);
        const char *h = str(from, "handle");
        assert_string_equal(h, json_string_value(json_array_get(want_handles, 0)));
        assert_true(json_equal(json_object_get(from, "handles"), want_handles));
        json_t *again = json_string(h); /* NULL when h is not valid UTF-8 */
        assert_non_null(again);
        json_decref(again);
        json_decref(want_handles);
        json_decref(out);
        json_decref(in);
    }
}

/* Every field, given in reverse order, comes out in canonical order. */
static void test_canonical_order_all_fields(void **state)
{
    (void)state;
    json_t *in = parse(
        "{\"meta\":{\"page\":\"42\"},\"contact\":\"c-1\",\"status\":\"read\","
        "\"campaign\":\"spring\",\"event\":{\"starts_at\":\"2026-12-01T18:00:00+01:00\","
        "\"name\":\"Meetup\",\"id\":\"ev-9\"},"
        "\"attachments\":[{\"url\":\"https://x.example/a.jpg\",\"type\":\"image\",\"size\":12,"
        "\"mime\":null}],"
        "\"text\":\"hi\",\"subject\":\"Re: hi\","
        "\"mentions\":[{\"handle\":\"x:42\"}],"
        "\"to\":[{\"handle\":\"email:Brand@Example.com\",\"role\":\"brand\"}],"
        "\"from\":{\"handle\":\"email:a@b.example\"},\"reply_to\":\"m-0\",\"thread\":\"t-1\","
        "\"external_id\":\"m-1\",\"occurred_at\":\"2026-11-23T10:00:00.5Z\","
        "\"direction\":\"peer\",\"kind\":\"comment\",\"channel\":\"email\",\"source\":\"s1\","
        "\"v\":1}");
    json_t *out = normalize_ok(in, &ctx);
    static const char *const order[] = {
        "v",        "seq",      "id",       "source",  "channel",     "kind",
        "direction", "occurred_at", "received_at", "external_id", "thread", "reply_to",
        "from",     "to",       "mentions", "subject", "text",        "attachments",
        "event",    "campaign", "status",   "contact", "meta",
    };
    assert_keys(out, order, sizeof order / sizeof order[0]);
    assert_string_equal(str(out, "id"), "s1/comment/m-1");
    assert_string_equal(str(out, "channel"), "email"); /* a plugin may name its channel */
    assert_string_equal(str(out, "occurred_at"), "2026-11-23T10:00:00.500Z");
    json_t *to0 = json_array_get(json_object_get(out, "to"), 0);
    assert_string_equal(str(to0, "handle"), "email:brand@example.com");
    assert_string_equal(str(to0, "role"), "brand");
    json_t *m0 = json_array_get(json_object_get(out, "mentions"), 0);
    assert_string_equal(str(m0, "role"), "customer");
    json_t *want = parse("[\"x:42\"]");
    assert_true(json_equal(json_object_get(m0, "handles"), want));
    json_decref(want);
    json_t *ev = json_object_get(out, "event");
    static const char *const ev_order[] = {"id", "name", "starts_at"};
    assert_keys(ev, ev_order, 3);
    assert_string_equal(str(ev, "starts_at"), "2026-12-01T17:00:00.000Z");
    want = parse("[{\"url\":\"https://x.example/a.jpg\",\"type\":\"image\",\"size\":12}]");
    assert_true(json_equal(json_object_get(out, "attachments"), want)); /* null dropped */
    json_decref(want);
    want = parse("{\"page\":\"42\"}");
    assert_true(json_equal(json_object_get(out, "meta"), want));
    json_decref(want);
    json_decref(out);
    json_decref(in);
}

static void test_raw_kept_when_asked_or_unknown(void **state)
{
    (void)state;
    json_t *in = valid_record();
    struct record_ctx keep = ctx;
    keep.keep_raw = 1;
    json_t *out = normalize_ok(in, &keep);
    assert_true(json_equal(json_object_get(out, "raw"), json_object_get(in, "raw")));
    json_decref(out);
    json_decref(in);

    /* kind unknown: stored with the raw payload, and needs no from. */
    in = parse("{\"kind\":\"unknown\",\"direction\":\"inbound\",\"external_id\":\"u-1\","
               "\"raw\":{\"object\":\"odd\"}}");
    out = normalize_ok(in, &ctx);
    json_t *want = parse("{\"object\":\"odd\"}");
    assert_true(json_equal(json_object_get(out, "raw"), want));
    json_decref(want);
    assert_null(json_object_get(out, "from"));
    assert_string_equal(str(out, "occurred_at"), RECEIVED_AT); /* defaults to received_at */
    json_decref(out);
    json_decref(in);
}

static json_t *with(const char *key, json_t *value)
{
    json_t *r = valid_record();
    if (value)
        json_object_set_new(r, key, value);
    else
        json_object_del(r, key);
    return r;
}

/* A value of levels levels (itself the first): objects and arrays in turn
 * around a string. */
static json_t *deep(int levels)
{
    json_t *v = json_string("bottom");
    for (int i = 1; i < levels; i++) {
        json_t *c = i % 2 ? json_array() : json_object();
        if (json_is_array(c))
            json_array_append_new(c, v);
        else
            json_object_set_new(c, "k", v);
        v = c;
    }
    return v;
}

/* meta and raw are stored as given one level below the record: with the
 * record at most KANAL_MAX_DEPTH deep, they may nest KANAL_MAX_DEPTH - 1
 * levels, and a record record_normalize accepts is one jsonout writes. */
static void test_depth_limit(void **state)
{
    (void)state;
    const int most = KANAL_MAX_DEPTH - 1;
    json_t *meta_ok = json_object();
    json_object_set_new(meta_ok, "d", deep(most - 1));
    json_t *in = with("meta", meta_ok);
    json_t *out = normalize_ok(in, &ctx);
    size_t len;
    char *text = jsonout_dump(out, &len);
    assert_non_null(text);
    free(text);
    json_decref(out);
    json_decref(in);
    json_t *meta_deep = json_object();
    json_object_set_new(meta_deep, "d", deep(most));
    expect_refused(with("meta", meta_deep), "'meta' nests deeper than 63 levels");

    struct record_ctx keep = ctx;
    keep.keep_raw = 1;
    for (int unknown = 0; unknown < 2; unknown++) {
        const struct record_ctx *c = unknown ? &ctx : &keep;
        in = with("raw", deep(most));
        if (unknown) {
            json_object_set_new(in, "kind", json_string("unknown"));
            json_object_del(in, "from");
        }
        out = normalize_ok(in, c);
        assert_non_null(json_object_get(out, "raw"));
        text = jsonout_dump(out, &len);
        assert_non_null(text);
        free(text);
        json_decref(out);
        json_decref(in);
        in = with("raw", deep(most + 1));
        if (unknown) {
            json_object_set_new(in, "kind", json_string("unknown"));
            json_object_del(in, "from");
            expect_refused(in, "'raw' nests deeper than 63 levels");
        } else {
            char err[256];
            assert_int_equal(record_normalize(in, c, &out, err, sizeof err), KANAL_ERECORD);
            assert_non_null(strstr(err, "'raw' nests deeper"));
            json_decref(in);
        }
    }
    /* raw that is not kept is not looked at. */
    in = with("raw", deep(KANAL_MAX_DEPTH * 4));
    out = normalize_ok(in, &ctx);
    assert_null(json_object_get(out, "raw"));
    json_decref(out);
    json_decref(in);
}

static void test_refused_kind_direction_id(void **state)
{
    (void)state;
    expect_refused(with("kind", NULL), "'kind'");
    expect_refused(with("kind", json_string("tweet")), "'kind'");
    expect_refused(with("kind", json_integer(1)), "'kind'");
    expect_refused(with("direction", json_string("sideways")), "'direction'");
    expect_refused(with("direction", NULL), "'direction'");
    expect_refused(with("external_id", NULL), "'external_id'");
    expect_refused(with("external_id", json_string("")), "'external_id'");
}

static void test_refused_assigned_fields(void **state)
{
    (void)state;
    expect_refused(with("seq", json_integer(5)), "'seq'");
    expect_refused(with("id", json_string("s1/message/wamid.1")), "'id'");
    expect_refused(with("received_at", json_string(RECEIVED_AT)), "'received_at'");
    expect_refused(with("v", json_integer(2)), "'v'");
    expect_refused(with("v", json_string("1")), "'v'");
    expect_refused(with("source", json_string("s2")), "'source'");
    expect_refused(with("colour", json_string("red")), "'colour'");
    expect_refused(parse("[1,2]"), "object");
}

static void test_refused_parties(void **state)
{
    (void)state;
    expect_refused(with("from", NULL), "'from'");
    expect_refused(with("from", json_string("phone:+905321234567")), "from");
    expect_refused(with("from", parse("{\"name\":\"x\"}")), "from.handle");
    expect_refused(with("from", parse("{\"handle\":\"phone:0532 ABC\"}")), "from.handle");
    expect_refused(with("from", parse("{\"handle\":\"x:1\",\"role\":\"admin\"}")), "from.role");
    expect_refused(with("from", parse("{\"handle\":\"x:1\",\"age\":3}")), "from.age");
    expect_refused(with("from", parse("{\"handle\":\"x:1\",\"handles\":[\"x:1\",\"Bad\"]}")),
                   "'from.handles[1]'");
    expect_refused(with("to", parse("[{\"handle\":\"x:1\"},{\"handle\":\"email:nobody\"}]")),
                   "'to[1].handle'");
    expect_refused(with("to", parse("[{\"handle\":\"x:1\",\"handles\":[\"x:2\",\"Bad\"]}]")),
                   "'to[0].handles[1]'");
    expect_refused(with("to", parse("{\"handle\":\"x:1\"}")), "'to'");
    expect_refused(with("mentions", parse("[{\"handle\":\"x:1\"},{\"handle\":\"x:2\"},"
                                          "{\"handle\":\"wa:abc\"}]")),
                   "'mentions[2].handle'");
}

/* What a party proves: the plugin's mark counts under the source's `auto`,
 * the source's `asserted` or `verified` overrides it, only "verified" is
 * stored, and only on customer parties (docs/identity.md). */
static const char *stored_trust(const char *from, enum record_trust trust, const char *to)
{
    struct record_ctx c = ctx;
    c.trust = trust;
    json_t *in = valid_record();
    json_object_set_new(in, "from", parse(from));
    if (to)
        json_object_set_new(in, "to", parse(to));
    json_t *out = normalize_ok(in, &c);
    json_decref(in);
    json_t *party =
        to ? json_array_get(json_object_get(out, "to"), 0) : json_object_get(out, "from");
    const char *t = json_string_value(json_object_get(party, "trust"));
    static char buf[16];
    snprintf(buf, sizeof buf, "%s", t ? t : "-");
    json_decref(out);
    return buf;
}

static void test_party_trust(void **state)
{
    (void)state;
    const char *verified = "{\"handle\":\"x:1\",\"trust\":\"verified\"}";
    const char *asserted = "{\"handle\":\"x:1\",\"trust\":\"asserted\"}";
    const char *unmarked = "{\"handle\":\"x:1\"}";
    assert_string_equal(stored_trust(verified, RECORD_TRUST_AUTO, NULL), "verified");
    assert_string_equal(stored_trust(asserted, RECORD_TRUST_AUTO, NULL), "-");
    assert_string_equal(stored_trust(unmarked, RECORD_TRUST_AUTO, NULL), "-");
    assert_string_equal(stored_trust(verified, RECORD_TRUST_ASSERTED, NULL), "-");
    assert_string_equal(stored_trust(unmarked, RECORD_TRUST_ASSERTED, NULL), "-");
    assert_string_equal(stored_trust(unmarked, RECORD_TRUST_VERIFIED, NULL), "verified");
    assert_string_equal(stored_trust(asserted, RECORD_TRUST_VERIFIED, NULL), "verified");
    /* A brand party proves nothing about a customer. */
    const char *brand = "[{\"handle\":\"x:9\",\"role\":\"brand\"}]";
    assert_string_equal(stored_trust(unmarked, RECORD_TRUST_VERIFIED, brand), "-");
    expect_refused(with("from", parse("{\"handle\":\"x:1\",\"trust\":\"yes\"}")), "from.trust");
    expect_refused(with("from", parse("{\"handle\":\"x:1\",\"trust\":true}")), "from.trust");
    expect_refused(with("to", parse("[{\"handle\":\"x:1\",\"trust\":\"Verified\"}]")),
                   "to[0].trust");
}

static void test_refused_times_events_attachments(void **state)
{
    (void)state;
    expect_refused(with("occurred_at", json_string("yesterday")), "'occurred_at'");
    expect_refused(with("occurred_at", json_string("2026-11-23T19:00:00")), "'occurred_at'");
    expect_refused(with("occurred_at", json_string("0000-01-01T00:30:00+01:00")), "'occurred_at'");
    expect_refused(with("event", parse("{\"name\":\"Meetup\"}")), "event.id");
    expect_refused(with("event", parse("{\"id\":\"e\",\"starts_at\":\"soon\"}")),
                   "event.starts_at");
    expect_refused(with("attachments", parse("[{\"url\":\"https://x.example/a\"}]")),
                   "attachments[0].type");
    expect_refused(with("attachments", parse("[{\"type\":\"image\"},{\"type\":\"file\","
                                             "\"size\":-1}]")),
                   "attachments[1].size");
    expect_refused(with("attachments", parse("[\"image\"]")), "'attachments'");
    expect_refused(with("status", json_string("pending")), "'status'");
    expect_refused(with("meta", json_string("x")), "'meta'");
    expect_refused(with("channel", json_string("Web Hook")), "'channel'");
}

/* A failure after the parties were built must free them (ASan checks). */
static void test_refused_late_after_parties(void **state)
{
    (void)state;
    json_t *r = valid_record();
    json_object_set_new(r, "to", parse("[{\"handle\":\"x:1\"}]"));
    json_object_set_new(r, "mentions", parse("[{\"handle\":\"x:2\"}]"));
    json_object_set_new(r, "event", parse("{\"name\":\"no id\"}"));
    expect_refused(r, "event.id");
    r = valid_record();
    json_object_set_new(r, "to", parse("[{\"handle\":\"x:1\"}]"));
    json_object_set_new(r, "attachments", parse("[{\"type\":\"image\",\"extra\":1}]"));
    expect_refused(r, "attachments[0].extra");
}

static void test_kind_valid(void **state)
{
    (void)state;
    static const char *const kinds[] = {
        "message", "comment", "post",     "mention", "reaction", "share",  "follow",
        "unfollow", "signup", "checkin",  "cancel",  "click",    "delivery", "read",
        "bounce",  "optout",  "optin",    "unknown", "merge",    "split",  "erase",
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        assert_true(record_kind_valid(kinds[i]));
    assert_false(record_kind_valid("tweet"));
    assert_false(record_kind_valid("Message"));
    assert_false(record_kind_valid(""));
}


/* annotations come from processors only; a processor's annotation is
 * checked by name and depth (the host adds it as annotations.<name>). */
static void test_annotations(void **state)
{
    (void)state;
    json_t *in = valid_record();
    json_object_set_new(in, "annotations", parse("{\"p\":{\"x\":1}}"));
    json_t *out = NULL;
    char err[256];
    assert_int_equal(record_normalize(in, &ctx, &out, err, sizeof err), KANAL_ERECORD);
    assert_non_null(strstr(err, "annotations"));
    json_decref(in);

    json_t *ok = parse("{\"tags\":[\"refund\"]}");
    assert_int_equal(record_check_annotation("tags", ok, err, sizeof err), 0);
    assert_int_equal(record_check_annotation("a.b-c_9", ok, err, sizeof err), 0);
    const char *bad_names[] = {"", "with space", "sl/ash", "q\"uote",
                               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    for (size_t i = 0; i < sizeof bad_names / sizeof *bad_names; i++)
        assert_int_equal(record_check_annotation(bad_names[i], ok, err, sizeof err),
                         KANAL_ERECORD);
    json_decref(ok);
    /* Two levels below the record: KANAL_MAX_DEPTH - 2 levels fit, one more not. */
    for (int depth = KANAL_MAX_DEPTH - 3; depth <= KANAL_MAX_DEPTH - 1; depth++) {
        json_t *v = json_array();
        for (int i = 1; i < depth; i++) {
            json_t *outer = json_array();
            json_array_append_new(outer, v);
            v = outer;
        }
        int r = record_check_annotation("deep", v, err, sizeof err);
        assert_int_equal(r, depth <= KANAL_MAX_DEPTH - 2 ? 0 : KANAL_ERECORD);
        json_decref(v);
    }
}

/* ---- random records: both ways of normalizing agree ---- */

static unsigned long rnd_state = 12345;

static unsigned rnd(unsigned n)
{
    rnd_state = rnd_state * 6364136223846793005UL + 1442695040888963407UL;
    return (unsigned)(rnd_state >> 33) % n;
}

static const char *pick(const char *const *v, size_t n)
{
    return v[rnd((unsigned)n)];
}

#define PICK(v) pick(v, sizeof v / sizeof *v)

static json_t *rnd_string(void)
{
    static const char *const s[] = {"a", "", "merhaba d\xc3\xbcnya", "quote \" and \\\\ back",
                                    "tab\tnew\nline", "\xe2\x80\xa8 sep", "ctl \x01\x1f",
                                    "emoji \xf0\x9f\x98\x80", "/slash/"};
    return json_string(PICK(s));
}

static json_t *rnd_value(int depth)
{
    switch (rnd(depth > 3 ? 5 : 7)) {
    case 0: return rnd_string();
    case 1: return json_integer((json_int_t)rnd(2000000) - 1000000);
    case 2: return json_real((double)rnd(100000) / 7.0);
    case 3: return rnd(2) ? json_true() : json_null();
    case 4: return json_false();
    case 5: {
        json_t *a = json_array();
        for (unsigned i = rnd(4); i > 0; i--)
            json_array_append_new(a, rnd_value(depth + 1));
        return a;
    }
    default: {
        json_t *o = json_object();
        static const char *const k[] = {"k", "x y", "\xc3\xa7", "q\"", "n", "url"};
        for (unsigned i = rnd(4); i > 0; i--)
            json_object_set_new(o, PICK(k), rnd_value(depth + 1));
        return o;
    }
    }
}

static json_t *rnd_handle(void)
{
    static const char *const h[] = {
        "email:AYSE@Example.com", "email: a@b.co ", "phone:0532 123 45 67", "phone:+90 532 123 45 67",
        "wa:905321234567", "x:12345", "fb:99", "crm:c-1", "x:Upper", "ig:\xc3\xa7i\xc3\xa7" "ek"};
    static const char *const bad[] = {"phone:12", "nohandle", "email:", "X:scheme"};
    return json_string(rnd(40) ? PICK(h) : PICK(bad));
}

static json_t *rnd_party(void)
{
    json_t *p = json_object();
    if (rnd(60))
        json_object_set_new(p, "handle", rnd_handle());
    if (rnd(2))
        json_object_set_new(p, "name", rnd(60) ? rnd_string() : json_integer(3));
    if (rnd(2)) {
        static const char *const roles[] = {"customer", "brand", "customer"};
        json_object_set_new(p, "role", json_string(rnd(60) ? PICK(roles) : "nobody"));
    }
    if (rnd(3) == 0) {
        static const char *const t[] = {"verified", "asserted"};
        json_object_set_new(p, "trust", json_string(rnd(60) ? PICK(t) : "other"));
    }
    if (rnd(2)) {
        json_t *hs = json_array();
        for (unsigned i = rnd(4); i > 0; i--)
            json_array_append_new(hs, rnd(60) ? rnd_handle() : json_integer(1));
        json_object_set_new(p, "handles", hs);
    }
    return p;
}

static json_t *rnd_parties(void)
{
    json_t *a = json_array();
    for (unsigned i = rnd(3); i > 0; i--)
        json_array_append_new(a, rnd_party());
    return a;
}

static json_t *rnd_record(void)
{
    static const char *const kinds[] = {"message", "comment", "reaction", "unknown",
                                        "message", "comment", "reaction", "signup"};
    static const char *const dirs[] = {"inbound", "outbound", "peer"};
    static const char *const times[] = {"2026-11-23T19:00:00+03:00", "2026-11-23T16:00:00Z",
                                        "2026-11-23T16:00:00.5Z"};
    json_t *r = json_object();
    json_object_set_new(r, "kind", json_string(rnd(60) ? PICK(kinds) : "bogus"));
    json_object_set_new(r, "direction", json_string(rnd(60) ? PICK(dirs) : "sideways"));
    if (rnd(60))
        json_object_set_new(r, "external_id", rnd(10) ? json_sprintf("ext-%u", rnd(1000))
                                                      : rnd_string());
    if (rnd(2))
        json_object_set_new(r, "occurred_at", json_string(rnd(60) ? PICK(times) : "yesterday"));
    if (rnd(4) == 0)
        json_object_set_new(r, "source", json_string(rnd(20) ? "s1" : "other"));
    static const char *const channels[] = {"sms", "e-mail", "whats_app"};
    if (rnd(4) == 0)
        json_object_set_new(r, "channel", json_string(rnd(30) ? PICK(channels) : "Bad Channel"));
    static const char *const optional[] = {"thread", "reply_to", "subject", "text", "campaign",
                                           "contact"};
    for (size_t i = 0; i < sizeof optional / sizeof *optional; i++)
        if (rnd(3) == 0)
            json_object_set_new(r, optional[i], rnd(8) ? rnd_string() : json_null());
    static const char *const statuses[] = {"sent", "delivered", "read", "failed"};
    if (rnd(5) == 0)
        json_object_set_new(r, "status", json_string(rnd(30) ? PICK(statuses) : "lost"));
    if (rnd(8))
        json_object_set_new(r, "from", rnd(60) ? rnd_party() : json_string("x"));
    if (rnd(2))
        json_object_set_new(r, "to", rnd_parties());
    if (rnd(3) == 0)
        json_object_set_new(r, "mentions", rnd_parties());
    if (rnd(3) == 0) {
        json_t *a = json_array();
        for (unsigned i = rnd(3); i > 0; i--) {
            json_t *o = json_object();
            json_object_set_new(o, "url", rnd_string());
            json_object_set_new(o, "type", rnd(10) ? json_string("image/png") : json_null());
            if (rnd(30) == 0)
                json_object_set_new(o, "extra", rnd_value(3));
            static const char *const names[] = {"name", "size", "id"};
            if (rnd(2))
                json_object_set_new(o, PICK(names), rnd(3) ? rnd_string() : json_null());
            json_array_append_new(a, o);
        }
        json_object_set_new(r, "attachments", a);
    }
    if (rnd(4) == 0) {
        json_t *e = json_object();
        if (rnd(60))
            json_object_set_new(e, "id", json_string("ev-1"));
        if (rnd(2))
            json_object_set_new(e, "name", rnd_string());
        if (rnd(2))
            json_object_set_new(e, "starts_at", json_string(rnd(30) ? PICK(times) : "soon"));
        json_object_set_new(r, "event", e);
    }
    if (rnd(2)) {
        json_t *meta = json_object();
        json_object_set_new(meta, "m", rnd_value(2));
        json_object_set_new(r, "meta", rnd(60) ? meta : rnd_value(5));
        if (!json_object_get(r, "meta") || json_object_get(r, "meta") != meta)
            json_decref(meta);
    }
    if (rnd(3) == 0)
        json_object_set_new(r, "raw", rnd_value(2));
    return r;
}

/* Long members take the text's slower ways: an external_id of 1000
 * bytes, a party with handles beyond the party's first kilobyte, names
 * and strings that need escaping. */
static void test_text_same_as_object_long(void **state)
{
    (void)state;
    json_t *in = valid_record();
    char ext[1001];
    memset(ext, 'e', 1000);
    ext[1000] = '\0';
    json_object_set_new(in, "external_id", json_string(ext));
    json_t *hs = json_array();
    for (int i = 0; i < 8; i++) {
        char h[420];
        int n = snprintf(h, sizeof h, "crm:%d-", i);
        memset(h + n, 'a' + i, sizeof h - (size_t)n - 1);
        h[sizeof h - 1] = '\0';
        json_array_append_new(hs, json_string(h));
    }
    json_array_append_new(hs, json_string("crm:0-quote\"back\\slash"));
    json_object_set_new(json_object_get(in, "from"), "handles", hs);
    json_t *att = json_pack("[{s:s,s:s,s:s}]", "type", "file", "url", "https://x/\"q\"",
                            "name", "tab\there");
    json_object_set_new(in, "attachments", att);
    /* More customer parties than identity takes (64), brands among them. */
    json_t *to = json_array(), *mentions = json_array();
    for (int i = 0; i < 80; i++) {
        char h[40];
        snprintf(h, sizeof h, "email:to%d@example.com", i);
        json_array_append_new(
            i % 10 == 3 ? mentions : to,
            json_pack("{s:s,s:s}", "handle", h, "role", i % 7 == 1 ? "brand" : "customer"));
    }
    json_object_set_new(in, "to", to);
    json_object_set_new(in, "mentions", mentions);
    json_t *out = normalize_ok(in, &ctx); /* the same bytes and parties each way */
    assert_int_equal(json_array_size(json_object_get(json_object_get(out, "from"), "handles")),
                     1 + 9); /* its own and the nine */
    char err[256];
    char *text;
    size_t len;
    struct record_info info;
    struct record_parties parties = {0};
    assert_int_equal(
        record_normalize_parties(in, &ctx, &info, &text, &len, &parties, err, sizeof err), 0);
    assert_int_equal(parties.n, RECORD_RESOLVED_MAX); /* of 1 + 68 customers */
    assert_int_equal(parties.p[0].n, 10);
    free(text);
    record_parties_clear(&parties);
    json_decref(out);
    json_decref(in);
}

static void test_text_same_as_object(void **state)
{
    (void)state;
    struct record_ctx keep = ctx, verified = ctx, asserted = ctx, no_country = ctx;
    keep.keep_raw = 1;
    verified.trust = RECORD_TRUST_VERIFIED;
    asserted.trust = RECORD_TRUST_ASSERTED;
    no_country.default_country = NULL;
    const struct record_ctx *ctxs[] = {&ctx, &keep, &verified, &asserted, &no_country};
    int stored = 0;
    for (int i = 0; i < 30000; i++) {
        json_t *in = rnd_record();
        const struct record_ctx *c = ctxs[rnd(5)];
        same_as_text(in, c);
        char err[256];
        json_t *out = NULL;
        stored += record_normalize(in, c, &out, err, sizeof err) == 0;
        json_decref(out);
        json_decref(in);
    }
    print_message("%d of 30000 stored\n", stored);
    /* Both outcomes were tried, plenty of each. */
    assert_true(stored > 3000);
    assert_true(stored < 27000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_record),
        cmocka_unit_test(test_canonical_order_all_fields),
        cmocka_unit_test(test_raw_kept_when_asked_or_unknown),
        cmocka_unit_test(test_refused_kind_direction_id),
        cmocka_unit_test(test_refused_assigned_fields),
        cmocka_unit_test(test_refused_parties),
        cmocka_unit_test(test_refused_times_events_attachments),
        cmocka_unit_test(test_refused_late_after_parties),
        cmocka_unit_test(test_kind_valid),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_party_trust),
        cmocka_unit_test(test_annotations),
        cmocka_unit_test(test_handles_non_ascii),
        cmocka_unit_test(test_text_same_as_object),
        cmocka_unit_test(test_text_same_as_object_long),
    };
    return cmocka_run_group_tests_name("record", tests, NULL, NULL);
}
