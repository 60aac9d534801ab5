/* SPDX-License-Identifier: Apache-2.0 */
/* A contact new to the identity graph is written as text, without a json_t
 * (contacts_doc.c, create_contact): the contact's document must be the very
 * bytes jansson-built documents serialize to, every handle's value the
 * contact id and a NUL, its provenance read back from the document, for
 * every kind of party that makes a contact: verified or asserted, one
 * handle or several, a phone with its WhatsApp id, a handle repeated, a
 * handle that needs JSON escapes, a first entry that is not a string.
 * Readers (GET /v1/contacts, kanalctl, libkanal) parse these bytes. */
#include "unit.h"

#include <string.h>

#include <jansson.h>
#include <lmdb.h>

#include "contacts.h"
#include "jsonout.h"
#include "store.h"
#include "writer.h"

struct party_case {
    const char *handles; /* a JSON array */
    int verified;
    const char *rules[4]; /* the expected rule of each string handle */
    double conf[4];
};

static const struct party_case cases[] = {
    {"[\"email:ayse@example.com\",\"phone:+905321234567\"]",
     1,
     {"first-seen", "same-party"},
     {1.0, 0.9}},
    {"[\"email:ayse2@example.com\",\"phone:+905321234568\"]",
     0,
     {"first-seen", "same-party"},
     {1.0, 0.9}},
    /* The number and its WhatsApp id are one number, even for the first. */
    {"[\"phone:+905329876543\",\"wa:905329876543\"]",
     1,
     {"same-number", "same-number"},
     {1.0, 1.0}},
    {"[\"wa:905551112233\",\"phone:+905551112233\",\"email:w@example.com\"]",
     0,
     {"same-number", "same-number", "same-party"},
     {1.0, 1.0, 0.9}},
    {"[\"email:only@example.com\"]", 1, {"first-seen"}, {1.0}},
    {"[\"email:twice@example.com\",\"email:twice@example.com\"]",
     1,
     {"first-seen", "same-party"},
     {1.0, 0.9}},
    {"[\"x:quote\\\"back\\\\slash\\ttab \\u015f\",\"email:esc@example.com\"]",
     1,
     {"first-seen", "same-party"},
     {1.0, 0.9}},
    {"[7,\"email:late@example.com\"]", 1, {"same-party"}, {0.9}},
};

static void get_stored(MDB_txn *txn, MDB_dbi dbi, const char *key, MDB_val *v)
{
    MDB_val k = {strlen(key), (void *)key};
    if (mdb_get(txn, dbi, &k, v) != 0)
        fail_msg("%s is not stored", key);
}

static void test_new_contact_bytes(void **state)
{
    (void)state;
    char *dir = unit_tempdir(), *path = unit_path(dir, "store"), err[256];
    struct store st;
    if (store_open(&st, path, SYNC_NONE, 0, err, sizeof err) != 0)
        fail_msg("store_open: %s", err);
    st.identity = 1;
    const size_t n = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n; i++) {
        json_t *handles = json_loads(cases[i].handles, 0, NULL);
        assert_non_null(handles);
        json_t *rec = json_pack("{s:s,s:s,s:{s:s,s:O}}", "source", "s1", "kind", "message", "from",
                                "role", "customer", "handles", handles);
        if (cases[i].verified)
            json_object_set_new(json_object_get(rec, "from"), "trust", json_string("verified"));
        MDB_txn *txn;
        assert_int_equal(mdb_txn_begin(st.env, NULL, 0, &txn), 0);
        struct resolve_extra extra = {0};
        assert_int_equal(contacts_resolve(&st, txn, rec, 100 + i, &extra), 0);
        assert_int_equal(extra.n, 0);
        assert_int_equal(mdb_txn_commit(txn), 0);

        char want_id[32];
        snprintf(want_id, sizeof want_id, "c%zu", i + 1); /* commit order */
        const char *cid = json_string_value(json_object_get(rec, "contact"));
        assert_non_null(cid);
        assert_string_equal(cid, want_id);

        assert_int_equal(store_read_begin(&st, &txn), 0);
        MDB_val cv;
        get_stored(txn, st.contacts, cid, &cv);
        json_t *doc = json_loadb(cv.mv_data, cv.mv_size, 0, NULL);
        if (!doc)
            fail_msg("contact %s is not JSON: %.*s", cid, (int)cv.mv_size, (char *)cv.mv_data);
        const char *now = json_string_value(json_object_get(doc, "created_at"));
        assert_non_null(now);
        /* The document as jansson builds it (new_contact, link_handle). */
        json_t *want = json_object();
        json_object_set_new(want, "id", json_string(cid));
        json_object_set_new(want, "created_at", json_string(now));
        json_object_set_new(want, "created_seq", json_integer((json_int_t)(100 + i)));
        json_t *entries = json_array();
        json_object_set_new(want, "handles", entries);
        json_object_set_new(want, "names", json_array());
        json_object_set_new(want, "consent", json_object());
        json_object_set_new(want, "merged", json_array());
        json_object_set_new(want, "split_from", json_array());
        size_t j, r = 0;
        json_t *h;
        json_array_foreach(handles, j, h)
        {
            if (!json_is_string(h))
                continue;
            /* When it was linked: the clock's, read back. */
            json_t *at = json_object_get(json_array_get(json_object_get(doc, "handles"), r), "at");
            assert_true(json_is_string(at));
            json_t *prov = json_object();
            json_object_set_new(prov, "seq", json_integer((json_int_t)(100 + i)));
            json_object_set_new(prov, "rule", json_string(cases[i].rules[r]));
            json_object_set_new(prov, "confidence", json_real(cases[i].conf[r]));
            json_object_set(prov, "at", at);
            if (!cases[i].verified)
                json_object_set_new(prov, "trust", json_string("asserted"));
            r++;
            /* The handle's value: "<contact>\0" alone; its provenance
             * (of the last link of a repeated handle) is read from the
             * contact's document. */
            int later = 0;
            for (size_t k = j + 1; k < json_array_size(handles); k++)
                later |= json_equal(json_array_get(handles, k), h);
            size_t pl;
            char *ptext = jsonout_dump(prov, &pl);
            MDB_val hv;
            get_stored(txn, st.handles, json_string_value(h), &hv);
            if (later) { /* linked again below */
                free(ptext);
                json_object_set(prov, "handle", h);
                json_array_append_new(entries, prov);
                continue;
            }
            if (hv.mv_size != strlen(cid) + 1 || memcmp(hv.mv_data, cid, strlen(cid) + 1) != 0)
                fail_msg("case %zu: handle %s holds %.*s, not %s and its NUL", i,
                         json_string_value(h), (int)hv.mv_size, (char *)hv.mv_data, cid);
            json_t *got = contacts_handle_provenance(&st, txn, json_string_value(h), NULL);
            size_t gl = 0;
            char *gtext = got ? jsonout_dump(got, &gl) : NULL;
            if (!gtext || gl != pl || memcmp(gtext, ptext, pl) != 0)
                fail_msg("case %zu: provenance of %s is %s, not %s", i, json_string_value(h),
                         gtext ? gtext : "(none)", ptext);
            free(gtext);
            json_decref(got);
            free(ptext);
            json_object_set(prov, "handle", h);
            json_array_append_new(entries, prov);
        }
        size_t wl;
        char *wtext = jsonout_dump(want, &wl);
        assert_non_null(wtext);
        if (wl != cv.mv_size || memcmp(wtext, cv.mv_data, wl) != 0)
            fail_msg("case %zu: contact %s is\n%.*s\nnot\n%s", i, cid, (int)cv.mv_size,
                     (char *)cv.mv_data, wtext);
        free(wtext);
        store_read_end(&st, txn);
        json_decref(want);
        json_decref(doc);
        json_decref(rec);
        json_decref(handles);
    }
    store_close(&st);
    unit_rmtree(dir);
    free(path);
}

/* Stores written before kept a copy of the provenance after the handle
 * value's NUL: such a value still names its contact, and its provenance is
 * that copy, for every kind of link (merged, asserted). */
static void test_older_handle_values(void **state)
{
    (void)state;
    static const char *const provs[] = {
        "{\"seq\":3,\"rule\":\"first-seen\",\"confidence\":1.0,\"at\":\"2026-01-02T03:04:05.000Z\"}",
        "{\"seq\":9,\"rule\":\"same-email\",\"confidence\":0.9,\"at\":\"2026-01-02T03:04:05.000Z\","
        "\"merged_from\":\"c2\"}",
        "{\"seq\":4,\"rule\":\"same-party\",\"confidence\":0.9,\"at\":\"2026-01-02T03:04:05.000Z\","
        "\"trust\":\"asserted\"}",
    };
    char *dir = unit_tempdir(), *path = unit_path(dir, "store"), err[256];
    struct store st;
    if (store_open(&st, path, SYNC_NONE, 0, err, sizeof err) != 0)
        fail_msg("store_open: %s", err);
    for (size_t i = 0; i < sizeof provs / sizeof provs[0]; i++) {
        char handle[64], value[512], cid[32];
        snprintf(handle, sizeof handle, "email:old%zu@example.com", i);
        int vl = snprintf(value, sizeof value, "c1%zu%c%s", i, '\0', provs[i]);
        MDB_txn *txn;
        assert_int_equal(mdb_txn_begin(st.env, NULL, 0, &txn), 0);
        MDB_val k = {strlen(handle), handle}, v = {(size_t)vl, value};
        assert_int_equal(mdb_put(txn, st.handles, &k, &v, 0), 0);
        assert_int_equal(contacts_of_handle(&st, txn, handle, cid, sizeof cid), 0);
        char want[32];
        snprintf(want, sizeof want, "c1%zu", i);
        assert_string_equal(cid, want);
        json_t *got = contacts_handle_provenance(&st, txn, handle, NULL);
        assert_non_null(got);
        size_t gl;
        char *gtext = jsonout_dump(got, &gl);
        assert_non_null(gtext);
        assert_string_equal(gtext, provs[i]);
        free(gtext);
        json_decref(got);
        mdb_txn_abort(txn);
    }
    store_close(&st);
    unit_rmtree(dir);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_new_contact_bytes),
                                       cmocka_unit_test(test_older_handle_values)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
