/* SPDX-License-Identifier: Apache-2.0 */
/* The one record check (common/record_check.c) in both its modes: what a
 * plugin emits and what is stored.  Every refusal names the field. */
#include "unit.h"

#include <jansson.h>
#include <kanal/plugin.h>
#include <kanal/schema.h>

#include "record_check.h"

#define STORED RECORD_CHECK_STORED
#define EMITTED RECORD_CHECK_EMITTED

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!j)
        fail_msg("bad JSON in test: %s: %s", e.text, text);
    return j;
}

/* A stored record with every field. */
static json_t *stored_full(void)
{
    return parse(
        "{\"v\":1,\"seq\":7,\"id\":\"wa-main/message/wamid.1\",\"source\":\"wa-main\","
        "\"channel\":\"whatsapp\",\"kind\":\"message\",\"direction\":\"inbound\","
        "\"occurred_at\":\"2026-11-23T16:00:00.000Z\",\"received_at\":\"2026-11-23T16:00:01.250Z\","
        "\"external_id\":\"wamid.1\",\"thread\":\"t\",\"reply_to\":\"r\","
        "\"from\":{\"handle\":\"wa:905321234567\",\"name\":\"Ay\xc5\x9f"
        "e\",\"role\":\"customer\","
        "\"handles\":[\"wa:905321234567\",\"phone:+905321234567\"],\"trust\":\"verified\"},"
        "\"to\":[{\"handle\":\"wa:908501112233\",\"role\":\"brand\",\"handles\":[\"wa:"
        "908501112233\"]}],"
        "\"mentions\":[],\"subject\":\"s\",\"text\":\"merhaba\","
        "\"attachments\":[{\"type\":\"image\",\"url\":\"https://x.example/a\",\"mime\":\"image/"
        "png\","
        "\"size\":0,\"name\":\"a.png\",\"id\":\"m1\",\"caption\":\"c\"}],"
        "\"event\":{\"id\":\"e1\",\"name\":\"Fuar\",\"starts_at\":\"2026-12-01T09:00:00.000Z\"},"
        "\"campaign\":\"kasim\",\"status\":\"read\",\"contact\":\"c1\",\"meta\":{\"a\":[1]},"
        "\"raw\":{\"entry\":[1,2]}}");
}

/* A stored record with only what is required (nobody acted). */
static json_t *stored_minimal(void)
{
    return parse("{\"v\":1,\"seq\":1,\"id\":\"kanal/merge/m-1\",\"source\":\"kanal\","
                 "\"channel\":\"kanal\",\"kind\":\"merge\",\"direction\":\"peer\","
                 "\"occurred_at\":\"2026-11-23T16:00:00.000Z\","
                 "\"received_at\":\"2026-11-23T16:00:00.000Z\",\"external_id\":\"m-1\","
                 "\"to\":[],\"mentions\":[],\"attachments\":[],\"meta\":{}}");
}

/* What a plugin emits: no host fields, null for absent members. */
static json_t *emitted(void)
{
    return parse("{\"kind\":\"message\",\"direction\":\"inbound\",\"external_id\":\"x1\","
                 "\"occurred_at\":\"2026-11-23T19:00:00+03:00\",\"thread\":null,"
                 "\"from\":{\"handle\":\"phone:0532 123 45 67\",\"role\":null,\"handles\":null},"
                 "\"to\":null,\"attachments\":[{\"type\":\"file\",\"url\":null,\"size\":null}],"
                 "\"event\":null,\"meta\":null}");
}

static void expect_ok(json_t *rec, enum record_check_mode mode)
{
    char err[256] = "";
    int r = record_check(rec, mode, err, sizeof err);
    if (r) {
        char *t = json_dumps(rec, JSON_COMPACT);
        fail_msg("refused (%s): %s: %s", mode == STORED ? "stored" : "emitted", err, t);
    }
    json_decref(rec);
}

/* rec (consumed) must be refused with an error naming field. */
static void expect_refused(json_t *rec, enum record_check_mode mode, const char *field)
{
    char err[256] = "";
    int r = record_check(rec, mode, err, sizeof err);
    char *t = json_dumps(rec, JSON_COMPACT | JSON_ENCODE_ANY);
    if (r != KANAL_ERECORD)
        fail_msg("accepted (%s), expected a refusal naming %s: %s",
                 mode == STORED ? "stored" : "emitted", field, t);
    if (!strstr(err, field))
        fail_msg("error \"%s\" does not name %s: %s", err, field, t);
    free(t);
    json_decref(rec);
}

/* base (consumed) with one member set from JSON text, or removed (NULL). */
static json_t *with(json_t *base, const char *key, const char *value)
{
    if (value)
        json_object_set_new(base, key, parse(value));
    else
        json_object_del(base, key);
    return base;
}

static void test_good_records(void **state)
{
    (void)state;
    expect_ok(stored_full(), STORED);
    expect_ok(stored_minimal(), STORED);
    expect_ok(emitted(), EMITTED);
    /* A stored record's fields are also what a plugin may emit, the host's
     * aside. */
    json_t *r = stored_full();
    json_object_del(r, "seq");
    json_object_del(r, "id");
    json_object_del(r, "received_at");
    expect_ok(r, EMITTED);
    /* 1024 characters of two bytes: the schema counts characters. */
    char id[2 * 1024 + 3] = "\"";
    for (int i = 0; i < 1024; i++)
        strcat(id, "\xc3\xbc");
    strcat(id, "\"");
    expect_ok(with(stored_minimal(), "external_id", id), STORED);
    /* ...but kanald takes at most 1024 bytes. */
    expect_refused(with(emitted(), "external_id", id), EMITTED, "'external_id'");
}

/* Every field a stored record needs: missing, it is named. */
static void test_stored_required_fields(void **state)
{
    (void)state;
    static const char *const required[] = {KANAL_RECORD_REQUIRED_FIELDS};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        char want[40];
        snprintf(want, sizeof want, "'%s'", required[i]);
        expect_refused(with(stored_full(), required[i], NULL), STORED, want);
    }
    expect_refused(with(stored_full(), "from", NULL), STORED, "'from'");
    expect_refused(with(stored_full(), "from", "{\"handle\":\"x:1\",\"handles\":[\"x:1\"]}"),
                   STORED, "from.role");
    expect_refused(with(stored_full(), "from", "{\"handle\":\"x:1\",\"role\":\"customer\"}"),
                   STORED, "from.handles");
    /* Null is not absent in a stored record: the schema wants the type. */
    static const char *const optional[] = {"thread",  "reply_to", "subject", "text", "campaign",
                                           "contact", "status",   "event",   "from"};
    for (size_t i = 0; i < sizeof optional / sizeof optional[0]; i++) {
        char want[40];
        snprintf(want, sizeof want, "'%s", optional[i]);
        expect_refused(with(stored_full(), optional[i], "null"), STORED, want);
    }
    /* Nobody acted: no from. */
    expect_ok(with(with(stored_full(), "from", NULL), "kind", "\"unknown\""), STORED);
}

static void test_stored_values(void **state)
{
    (void)state;
    static const struct {
        const char *key, *value, *field;
    } bad[] = {
        {"v", "2", "'v'"},
        {"v", "\"1\"", "'v'"},
        {"seq", "0", "'seq'"},
        {"seq", "-3", "'seq'"},
        {"seq", "\"7\"", "'seq'"},
        {"id", "\"a/b\"", "'id'"},
        {"source", "\"wa main\"", "'source'"},
        {"source", "\"\"", "'source'"},
        {"source", "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
         "'source'"},
        {"channel", "\"WhatsApp\"", "'channel'"},
        {"channel", "\"what.sapp\"", "'channel'"},
        {"kind", "\"tweet\"", "'kind'"},
        {"direction", "\"sideways\"", "'direction'"},
        {"status", "\"pending\"", "'status'"},
        {"occurred_at", "\"2026-11-23T16:00:00Z\"", "'occurred_at'"},
        {"occurred_at", "\"2026-11-23T19:00:00.000+03:00\"", "'occurred_at'"},
        {"occurred_at", "\"2026-11-23 16:00:00.000Z\"", "'occurred_at'"},
        {"received_at", "1700000000000", "'received_at'"},
        {"external_id", "\"\"", "'external_id'"},
        {"meta", "[]", "'meta'"},
        {"to", "{}", "'to'"},
        {"mentions", "[1]", "mentions[0]"},
        {"attachments", "[{\"url\":\"u\"}]", "attachments[0].type"},
        {"attachments", "[{\"type\":\"image\",\"size\":-1}]", "attachments[0].size"},
        {"attachments", "[{\"type\":\"image\",\"size\":1.5}]", "attachments[0].size"},
        {"attachments", "[{\"type\":\"image\",\"extra\":1}]", "attachments[0].extra"},
        {"event", "{\"name\":\"x\"}", "event.id"},
        {"event", "{\"id\":\"\"}", "event.id"},
        {"event", "{\"id\":\"e\",\"starts_at\":\"2026-12-01\"}", "event.starts_at"},
        {"colour", "\"red\"", "'colour'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_refused(with(stored_full(), bad[i].key, bad[i].value), STORED, bad[i].field);
    expect_refused(parse("[1]"), STORED, "object");
}

/* Handles as the schema's pattern has them, for every party and list. */
static void test_stored_handles(void **state)
{
    (void)state;
    static const char *const bad[] = {"nocolon",
                                      "Email:a@b.example",
                                      ":value",
                                      "1x:v",
                                      "email: a@b.example",
                                      "email:",
                                      "e mail:x",
                                      "email:a\nb",
                                      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:v",
                                      "x:\xc2\xa0nbsp",
                                      "x:\xe3\x80\x80ideographic",
                                      "x:a\rb",
                                      "x:a\xe2\x80\xa8"
                                      "b"};
    static const char *const good[] = {"email:a@b.example",
                                       "x:1",
                                       "fb:123/456",
                                       "a_b-c:v ",
                                       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:v",
                                       "erased:7",
                                       "x:a\xc2\xa0"
                                       "b",
                                       "x:\xc3\xbc"};
    char party[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *h = json_string(bad[i]);
        char *hs = json_dumps(h, JSON_ENCODE_ANY);
        snprintf(party, sizeof party, "{\"handle\":%s,\"role\":\"customer\",\"handles\":[%s]}", hs,
                 hs);
        expect_refused(with(stored_full(), "from", party), STORED, "from.handle");
        snprintf(party, sizeof party,
                 "[{\"handle\":\"x:1\",\"role\":\"brand\",\"handles\":[\"x:1\",%s]}]", hs);
        expect_refused(with(stored_full(), "mentions", party), STORED, "mentions[0].handles[1]");
        free(hs);
        json_decref(h);
    }
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_true(record_check_handle(good[i]));
        snprintf(party, sizeof party,
                 "[{\"handle\":\"%s\",\"role\":\"brand\",\"handles\":[\"%s\"]}]", good[i], good[i]);
        expect_ok(with(stored_full(), "to", party), STORED);
    }
}

static void test_emitted(void **state)
{
    (void)state;
    /* kanald's fields are refused, whatever their value. */
    expect_refused(with(emitted(), "seq", "1"), EMITTED, "'seq'");
    expect_refused(with(emitted(), "id", "\"s/message/x1\""), EMITTED, "'id'");
    expect_refused(with(emitted(), "received_at", "\"2026-11-23T16:00:00.000Z\""), EMITTED,
                   "'received_at'");
    expect_refused(with(emitted(), "v", "2"), EMITTED, "'v'");
    expect_ok(with(emitted(), "v", "1"), EMITTED);
    expect_refused(with(emitted(), "kind", NULL), EMITTED, "'kind'");
    expect_refused(with(emitted(), "direction", "null"), EMITTED, "'direction'");
    expect_refused(with(emitted(), "from", "null"), EMITTED, "'from'");
    expect_refused(with(emitted(), "from", "{\"name\":\"x\"}"), EMITTED, "from.handle");
    expect_refused(with(emitted(), "to", "[{\"handle\":\"x:1\",\"role\":\"admin\"}]"), EMITTED,
                   "to[0].role");
    expect_refused(with(emitted(), "to", "[{\"handle\":\"x:1\",\"trust\":true}]"), EMITTED,
                   "to[0].trust");
    expect_refused(with(emitted(), "to", "[{\"handle\":\"x:1\",\"handles\":[\"x:1\",2]}]"), EMITTED,
                   "to[0].handles[1]");
    expect_refused(with(emitted(), "text", "\"a\\u0000b\""), EMITTED, "'text'");
    expect_refused(with(emitted(), "attachments", "[\"image\"]"), EMITTED, "'attachments'");
    /* meta may nest KANAL_MAX_DEPTH - 1 levels, counting itself. */
    char deep[512] = "", *p = deep;
    for (int i = 0; i < KANAL_MAX_DEPTH - 2; i++)
        p += sprintf(p, "[");
    for (int i = 0; i < KANAL_MAX_DEPTH - 2; i++)
        p += sprintf(p, "]");
    char meta[600];
    snprintf(meta, sizeof meta, "{\"a\":%s}", deep);
    expect_ok(with(emitted(), "meta", meta), EMITTED);
    snprintf(meta, sizeof meta, "{\"a\":[%s]}", deep);
    expect_refused(with(emitted(), "meta", meta), EMITTED, "'meta'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_records),  cmocka_unit_test(test_stored_required_fields),
        cmocka_unit_test(test_stored_values), cmocka_unit_test(test_stored_handles),
        cmocka_unit_test(test_emitted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
