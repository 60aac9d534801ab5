/* SPDX-License-Identifier: Apache-2.0 */
/* The store layout (common/store_layout.h) that kanald, libkanal and
 * kanalctl share: kanald creates every database of it with its flags and
 * stamps its format, libkanal finds them all, and the key encodings read
 * back what they wrote. */
#include "unit.h"

#include <lmdb.h>

#include <kanal/reader.h>

#include "log.h"
#include "reader_int.h"
#include "store.h"
#include "store_layout.h"

static void test_names_are_unique(void **state)
{
    (void)state;
    for (size_t i = 0; i < KANAL_STORE_DB_COUNT; i++) {
        assert_non_null(kanal_store_dbs[i].name);
        assert_true(strlen(kanal_store_dbs[i].name) > 0);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(kanal_store_dbs[i].name, kanal_store_dbs[j].name))
                fail_msg("database '%s' is listed twice", kanal_store_dbs[i].name);
    }
}

/* kanald creates every database of the layout, with the layout's flags;
 * libkanal opens every one of them and reads the format kanald stamped. */
static void test_kanald_writes_and_libkanal_reads_the_layout(void **state)
{
    (void)state;
    char *dir = unit_tempdir();
    struct store st = {0};
    char err[512];
    log_setup(KANAL_LOG_WARNING, 0);
    int rc = store_open(&st, dir, SYNC_NONE, 0, err, sizeof err);
    if (rc)
        fail_msg("store_open: %d: %s", rc, err);
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(st.env, NULL, MDB_RDONLY, &txn), 0);
    for (size_t i = 0; i < KANAL_STORE_DB_COUNT; i++) {
        MDB_dbi dbi;
        unsigned flags;
        rc = mdb_dbi_open(txn, kanal_store_dbs[i].name, 0, &dbi);
        if (rc)
            fail_msg("kanald did not create '%s': %s", kanal_store_dbs[i].name, mdb_strerror(rc));
        assert_int_equal(mdb_dbi_flags(txn, dbi, &flags), 0);
        assert_int_equal(flags, kanal_store_dbs[i].flags);
    }
    MDB_dbi meta;
    assert_int_equal(mdb_dbi_open(txn, kanal_store_dbs[KANAL_STORE_DB_META].name, 0, &meta), 0);
    MDB_val k = {strlen(KANAL_META_VERSION), KANAL_META_VERSION}, v;
    assert_int_equal(mdb_get(txn, meta, &k, &v), 0);
    char want[16];
    snprintf(want, sizeof want, "%d", KANAL_STORE_FORMAT);
    assert_int_equal(v.mv_size, strlen(want));
    assert_memory_equal(v.mv_data, want, v.mv_size);
    k = (MDB_val){strlen(KANAL_META_STORE_ID), KANAL_META_STORE_ID};
    assert_int_equal(mdb_get(txn, meta, &k, &v), 0);
    assert_int_equal(v.mv_size, 32);
    mdb_txn_abort(txn);
    store_close(&st);

    struct kanal_reader *r;
    assert_int_equal(kanal_reader_open(&r, dir), 0);
    for (int i = 0; i < KANAL_STORE_DB_COUNT; i++) {
        MDB_dbi dbi;
        if (kanal__reader_dbi(r, (enum kanal_store_db)i, &dbi))
            fail_msg("libkanal did not open '%s'", kanal_store_dbs[i].name);
    }
    assert_int_equal(kanal__reader_format(r), KANAL_STORE_FORMAT);
    assert_int_equal(strlen(kanal_reader_store_id(r)), 32);
    kanal_reader_close(r);
    unit_rmtree(dir);
}

static void check_idem(const char *source, const char *kind, const char *ext)
{
    char key[KANAL_STORE_MAX_KEY + 1], again[KANAL_STORE_MAX_KEY + 1];
    size_t n = store_idem_key(key, sizeof key, source, kind, ext);
    assert_true(n > 0 && n <= KANAL_STORE_MAX_KEY);
    /* The same record always gets the same key. */
    assert_int_equal(store_idem_key(again, sizeof again, source, kind, ext), n);
    assert_memory_equal(key, again, n);
    const char *part[3];
    size_t id_len;
    assert_int_equal(kanal_idem_key_split(key, n, part, &id_len), 0);
    assert_string_equal(part[0], source);
    assert_string_equal(part[1], kind);
    if (kanal_idem_key_fits(source, kind, ext)) {
        assert_int_equal(id_len, strlen(ext));
        assert_memory_equal(part[2], ext, id_len);
    } else {
        size_t pl = strlen(KANAL_IDEM_DIGEST_PREFIX);
        assert_int_equal(id_len, pl + 64);
        assert_memory_equal(part[2], KANAL_IDEM_DIGEST_PREFIX, pl);
    }
    /* Too small a buffer: no key, never a cut one. */
    assert_int_equal(store_idem_key(key, n - 1, source, kind, ext), 0);
}

static void test_idem_keys_round_trip(void **state)
{
    (void)state;
    char longid[1025];
    memset(longid, 'x', sizeof longid - 1);
    longid[sizeof longid - 1] = '\0';
    char edge[KANAL_STORE_MAX_KEY];
    /* "web" \0 "message" \0 id: exactly the largest key, then one more. */
    size_t room = KANAL_STORE_MAX_KEY - strlen("web") - strlen("message") - 2;
    memset(edge, 'e', room);
    edge[room] = '\0';
    check_idem("web", "message", "1");
    check_idem("web", "message", "ümlaut/with:colons and spaces");
    check_idem("mail.example", "unknown", "<a@b.example>");
    check_idem("web", "message", edge);
    assert_true(kanal_idem_key_fits("web", "message", edge));
    edge[room] = 'e';
    edge[room + 1] = '\0';
    assert_false(kanal_idem_key_fits("web", "message", edge));
    check_idem("web", "message", edge);
    check_idem("web", "message", longid);
    /* Two long ids that differ only at the end get different keys. */
    char a[600], b[600];
    size_t na = store_idem_key(a, sizeof a, "web", "message", longid);
    longid[1023] = 'y';
    size_t nb = store_idem_key(b, sizeof b, "web", "message", longid);
    assert_int_equal(na, nb);
    assert_true(memcmp(a, b, na) != 0);
    /* What is not source \0 kind \0 id is refused. */
    const char *part[3];
    size_t id_len;
    assert_int_equal(kanal_idem_key_split("web\0message", 11, part, &id_len), -1);
    assert_int_equal(kanal_idem_key_split("web\0message\0a\0b", 15, part, &id_len), -1);
    assert_int_equal(kanal_idem_key_split("web", 3, part, &id_len), -1);
}

static void test_state_keys(void **state)
{
    (void)state;
    char key[64];
    size_t n = store_state_key(key, sizeof key, "sms", "cursor");
    assert_int_equal(n, 10);
    assert_memory_equal(key, "sms\0cursor", 10);
    assert_int_equal(store_state_key(key, 9, "sms", "cursor"), 0);
}

static void test_timeline_keys_round_trip_in_seq_order(void **state)
{
    (void)state;
    static const uint64_t seqs[] = {
        0, 1, 255, 256, 65535, 65536, 1ull << 32, (1ull << 56) + 7, UINT64_MAX - 1, UINT64_MAX};
    static const char *const cids[] = {"c1", "c12", "c999999999"};
    for (size_t c = 0; c < sizeof cids / sizeof cids[0]; c++) {
        unsigned char prev[KANAL_TIMELINE_KEY_MAX], key[KANAL_TIMELINE_KEY_MAX];
        size_t prev_n = 0;
        for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
            size_t n = kanal_timeline_key(key, sizeof key, cids[c], seqs[i]);
            assert_int_equal(n, strlen(cids[c]) + 9);
            uint64_t seq = 42;
            assert_true(kanal_timeline_key_of(key, n, cids[c], strlen(cids[c]), &seq));
            assert_true(seq == seqs[i]);
            /* LMDB's byte order is the seq's order. */
            if (prev_n)
                assert_true(memcmp(prev, key, n) < 0);
            memcpy(prev, key, n);
            prev_n = n;
            /* Not a key of another contact, even one whose id is a prefix. */
            for (size_t o = 0; o < sizeof cids / sizeof cids[0]; o++)
                if (o != c)
                    assert_false(kanal_timeline_key_of(key, n, cids[o], strlen(cids[o]), &seq));
        }
    }
    unsigned char small[8];
    assert_int_equal(kanal_timeline_key(small, sizeof small, "c1", 1), 0);
}

static void test_values(void **state)
{
    (void)state;
    uint64_t seq = 0x0102030405060708ull, out = 0;
    assert_int_equal(kanal_store_u64(&seq, sizeof seq, &out), 0);
    assert_true(out == seq);
    assert_int_equal(kanal_store_u64(&seq, 4, &out), -1);
    assert_int_equal(kanal_handle_value_cid_len("c17\0{\"via\":\"sms\"}", 18), 3);
    assert_int_equal(kanal_handle_value_cid_len("c17", 3), 0);
    assert_int_equal(kanal_handle_value_cid_len("\0{}", 3), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_are_unique),
        cmocka_unit_test(test_kanald_writes_and_libkanal_reads_the_layout),
        cmocka_unit_test(test_idem_keys_round_trip),
        cmocka_unit_test(test_state_keys),
        cmocka_unit_test(test_timeline_keys_round_trip_in_seq_order),
        cmocka_unit_test(test_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
