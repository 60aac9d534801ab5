/* SPDX-License-Identifier: Apache-2.0 */
/* Value, advocacy, risk and position from a real LMDB store, through
 * score_run_with (daemon/score/keep.c): records resolved to contacts as
 * the writer does, then scored on a read snapshot.  Merges count (a
 * merged contact's complaints together make a critic; after a split they
 * are apart again), the CRM's value reaches monetary, and the brand's
 * answer on another source still answers. */
#include "unit.h"

#include <errno.h>

#include "collect.h"
#include "contacts.h"
#include "keep.h"
#include "result.h"
#include "store.h"
#include "util.h"
#include "value.h"

static uint64_t seq;

/* Append recs (each resolved, with what resolving adds) in one write
 * transaction, as the writer would. */
static void append(struct store *st, MDB_txn *txn, json_t *rec, struct resolve_extra *extra)
{
    json_t *all[8] = {rec};
    size_t n = 1;
    for (size_t i = 0; extra && i < extra->n && n < 8; i++)
        all[n++] = extra->recs[i];
    for (size_t i = 0; i < n; i++) {
        uint64_t s = ++seq;
        json_object_set_new(all[i], "seq", json_integer((json_int_t)s));
        char *text = json_dumps(all[i], JSON_COMPACT);
        MDB_val k = {sizeof s, &s}, v = {strlen(text), text};
        assert_int_equal(mdb_put(txn, st->log, &k, &v, 0), 0);
        free(text);
    }
}

static void commit(struct store *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void commit(struct store *st, const char *fmt, ...)
{
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    json_error_t err;
    json_t *rec = json_loads(buf, 0, &err);
    if (!rec)
        fail_msg("bad test record %s: %s", buf, err.text);
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(st->env, NULL, 0, &txn), 0);
    struct resolve_extra extra = {0};
    assert_int_equal(contacts_resolve(st, txn, rec, seq + 1, &extra), 0);
    append(st, txn, rec, &extra);
    resolve_extra_clear(&extra);
    assert_int_equal(mdb_txn_commit(txn), 0);
    json_decref(rec);
}

#define WHEN "\"occurred_at\":\"2026-11-28T00:00:00.000Z\""
#define FB "\"source\":\"fb\",\"channel\":\"facebook\",\"direction\":\"inbound\""
#define SENT(label, complaint)                           \
    "\"annotations\":{\"sentiment\":{\"label\":\"" label \
    "\",\"score\":0.9,\"complaint\":" complaint "}}"

/* A customer's comment on fb by handle h (h2: a second handle the channel
 * vouches for, which merges both), with sentiment ann. */
static void say(struct store *st, const char *xid, const char *reply_to, const char *h,
                const char *h2, const char *ann)
{
    char answers[64] = "", also[160] = "";
    if (reply_to)
        snprintf(answers, sizeof answers, "\"reply_to\":\"%s\",", reply_to);
    if (h2)
        snprintf(also, sizeof also, ",\"%s\"],\"trust\":\"verified\"", h2);
    commit(st,
           "{" FB ",\"kind\":\"comment\",\"external_id\":\"%s\",%s" WHEN ",\"meta\":{},%s,"
           "\"from\":{\"handle\":\"%s\",\"role\":\"customer\",\"handles\":[\"%s\"%s}}",
           xid, answers, ann, h, h, h2 ? also : "]");
}

static void contact_of(struct store *st, const char *handle, char *out)
{
    MDB_txn *txn;
    assert_int_equal(store_read_begin(st, &txn), 0);
    assert_int_equal(contacts_of_handle(st, txn, handle, out, 32), 0);
    store_read_end(st, txn);
}

static json_t *scores(struct store *st, const char *id)
{
    struct audience a;
    assert_int_equal(audience_parse(id, &a), 0);
    int64_t now;
    assert_int_equal(util_parse_time("2026-12-01T00:00:00.000Z", &now), 0);
    struct score_params p;
    score_params_default(&p);
    json_t *doc;
    uint64_t at;
    assert_int_equal(score_run_with(st, &a, 1, now, 0, &p, &doc, &at), 0);
    assert_int_equal(at, seq);
    audience_free(&a);
    assert_non_null(doc);
    return doc;
}

static json_t *row(json_t *doc, const char *cid)
{
    size_t i;
    json_t *r;
    json_array_foreach(
        json_object_get(doc, "contacts"), i,
        r) if (!strcmp(json_string_value(json_object_get(r, "contact")), cid)) return r;
    fail_msg("no row for %s", cid);
    return NULL;
}

static json_int_t num(json_t *r, const char *obj, const char *key)
{
    return json_integer_value(json_object_get(json_object_get(r, obj), key));
}

static const char *position(json_t *r)
{
    return json_string_value(json_object_get(r, "position"));
}

#define ANA "email:ana@example.com"
#define BO "email:bo@example.com"
#define CEM "email:cem@example.com"
#define EVE1 "email:eve@example.com"
#define EVE2 "phone:+905551112233"

static void test_people_from_the_store(void **state)
{
    (void)state;
    char *dir = unit_tempdir(), *path = unit_path(dir, "store"), err[256];
    struct store st;
    if (store_open(&st, path, SYNC_NONE, 0, err, sizeof err) != 0)
        fail_msg("store_open: %s", err);
    st.identity = 1;
    seq = 0;
    /* Ana asks; Bo answers her kindly, Dan and Fay answer her; Cem complains once; Eve complains
     * from two addresses, seen as two contacts. */
    say(&st, "P1", NULL, ANA, NULL, SENT("neutral", "false"));
    say(&st, "R1", "P1", BO, NULL, SENT("positive", "false"));
    say(&st, "R2", "P1", BO, NULL, SENT("neutral", "false"));
    say(&st, "M1", NULL, BO, NULL, SENT("positive", "false"));
    say(&st, "D1", "P1", "email:dan@example.com", NULL, SENT("neutral", "false"));
    say(&st, "F1", "P1", "email:fay@example.com", NULL, SENT("neutral", "false"));
    say(&st, "K3", NULL, CEM, NULL, SENT("negative", "true"));
    say(&st, "K1", NULL, EVE1, NULL, SENT("negative", "true"));
    say(&st, "K2", NULL, EVE2, NULL, SENT("negative", "false"));
    char ana[32], bo[32], cem[32], e1[32], e2[32];
    contact_of(&st, ANA, ana);
    contact_of(&st, BO, bo);
    contact_of(&st, CEM, cem);
    contact_of(&st, EVE1, e1);
    contact_of(&st, EVE2, e2);
    assert_string_not_equal(e1, e2);

    /* The CRM values Ana at 900 TRY and Bo at 100 TRY. */
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(st.env, NULL, 0, &txn), 0);
    const char *who[] = {ana, bo};
    const double worth[] = {900, 100};
    for (int i = 0; i < 2; i++) {
        json_t *c;
        assert_int_equal(contacts_load(&st, txn, who[i], &c), 0);
        json_object_set_new(c, "value", json_real(worth[i]));
        json_object_set_new(c, "currency", json_string("TRY"));
        assert_int_equal(contacts_save(&st, txn, c), 0);
        json_decref(c);
    }
    assert_int_equal(mdb_txn_commit(txn), 0);

    json_t *doc = scores(&st, "source:fb");
    json_t *b = row(doc, bo), *a = row(doc, ana);
    assert_true(json_is_true(json_object_get(json_object_get(b, "advocacy"), "advocate")));
    assert_int_equal(num(b, "advocacy", "helpful_replies"), 2);
    assert_int_equal(num(b, "advocacy", "positive_mentions"), 1);
    assert_true(json_real_value(json_object_get(json_object_get(a, "value"), "monetary")) == 900);
    assert_string_equal(json_string_value(json_object_get(json_object_get(a, "value"), "currency")),
                        "TRY");
    /* Everyone who answers answers Ana: she is key (influence at least
     * twice the average), though she praised no one. */
    assert_true(json_real_value(json_object_get(a, "influence")) >= 2);
    assert_string_equal(position(a), "key");
    assert_string_equal(position(b), "ordinary");
    assert_true(num(a, "value", "m") > num(b, "value", "m"));
    assert_true(num(a, "value", "m") > num(row(doc, cem), "value", "m"));
    /* One complaint each: at risk, no critic yet. */
    assert_true(json_is_true(json_object_get(json_object_get(row(doc, e1), "risk"), "at_risk")));
    assert_string_equal(position(row(doc, e1)), "ordinary");
    assert_string_equal(position(row(doc, e2)), "ordinary");
    assert_true(json_is_true(json_object_get(json_object_get(row(doc, cem), "risk"), "at_risk")));
    json_decref(doc);

    /* The brand answers Cem on WhatsApp (another source, outside the
     * audience): on fb his complaint is answered all the same. */
    commit(&st, "{\"source\":\"wa\",\"channel\":\"whatsapp\",\"direction\":\"outbound\","
                "\"kind\":\"message\",\"external_id\":\"O1\",\"occurred_at\":"
                "\"2026-11-29T00:00:00.000Z\",\"meta\":{},\"from\":{\"handle\":\"wa:1\","
                "\"role\":\"brand\"},\"to\":[{\"handle\":\"" CEM "\",\"role\":\"customer\"}]}");
    /* Eve's two addresses meet in one verified party: one contact. */
    commit(&st, "{\"source\":\"wa\",\"channel\":\"whatsapp\",\"direction\":\"inbound\","
                "\"kind\":\"message\",\"external_id\":\"W1\"," WHEN ",\"meta\":{},"
                "\"from\":{\"handle\":\"" EVE2 "\",\"role\":\"customer\",\"handles\":[\"" EVE2
                "\",\"" EVE1 "\"],\"trust\":\"verified\"}}");
    char merged[32];
    contact_of(&st, EVE1, merged);
    const char *absorbed = strcmp(merged, e1) == 0 ? e2 : e1;
    doc = scores(&st, "source:fb");
    json_t *c = row(doc, cem);
    assert_int_equal(num(c, "risk", "unanswered"), 0);
    assert_false(json_is_true(json_object_get(json_object_get(c, "risk"), "at_risk")));
    json_t *e = row(doc, merged);
    assert_int_equal(num(e, "risk", "unhappy"), 2);
    assert_int_equal(num(e, "risk", "unanswered"), 2);
    assert_string_equal(position(e), "critic");
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(doc, "contacts"), i, r)
        assert_string_not_equal(json_string_value(json_object_get(r, "contact")), absorbed);
    json_decref(doc);

    /* Split: apart again, one complaint each, no critic. */
    assert_int_equal(mdb_txn_begin(st.env, NULL, 0, &txn), 0);
    struct resolve_extra extra = {0};
    json_t *result = NULL;
    assert_int_equal(contacts_split(&st, txn, merged, absorbed, &extra, &result), 0);
    for (size_t k = 0; k < extra.n; k++)
        append(&st, txn, extra.recs[k], NULL);
    resolve_extra_clear(&extra);
    json_decref(result);
    assert_int_equal(mdb_txn_commit(txn), 0);
    doc = scores(&st, "source:fb");
    assert_int_equal(num(row(doc, e1), "risk", "unhappy"), 1);
    assert_int_equal(num(row(doc, e2), "risk", "unhappy"), 1);
    assert_string_equal(position(row(doc, e1)), "ordinary");
    json_decref(doc);

    store_close(&st);
    free(path);
    unit_rmtree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_people_from_the_store),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
