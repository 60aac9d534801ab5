/* SPDX-License-Identifier: Apache-2.0 */
/* libkanal's reader on a store that the daemon's own code writes: every
 * record in order, new commits picked up while waiting, the map growing
 * under the reader, stores it must refuse.
 *
 * The writer and the reader share this process, so the store is open twice
 * in it, which LMDB allows only with care: the reader is opened while no
 * transaction of the writer is open, and closed after the writer's last. */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <lmdb.h>

#include <kanal/reader.h>

#include "log.h"
#include "store.h"
#include "writer.h"

#define WAIT_TIMEOUT_MS 10000

struct fixture {
    char *dir;
    char *store_dir;
    struct store st;
    struct kanal_reader *r;
    uint64_t next_ext; /* external id of the next record written */
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->dir = unit_tempdir();
    f->store_dir = unit_path(f->dir, "store");
    f->next_ext = 1;
    log_setup(KANAL_LOG_WARNING, 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    kanal_reader_close(f->r);
    if (f->st.env)
        store_close(&f->st);
    free(f->store_dir);
    unit_rmtree(f->dir);
    free(f);
    return 0;
}

static void open_store(struct fixture *f, size_t initial_map)
{
    char err[512];
    int rc = store_open(&f->st, f->store_dir, SYNC_NONE, initial_map, err, sizeof err);
    if (rc)
        fail_msg("store_open: %d: %s", rc, err);
}

static void open_reader(struct fixture *f)
{
    int rc = kanal_reader_open(&f->r, f->store_dir);
    if (rc)
        fail_msg("kanal_reader_open(%s): %s", f->store_dir, kanal_reader_strerror(rc));
}

/* One record as kanald stores it, with external id ext-N; NULL when out of
 * memory.  No cmocka assertion here: the writer thread calls it. */
static struct write_item *make_item(uint64_t n)
{
    char ext[32], id[64], key[128];
    snprintf(ext, sizeof ext, "ext-%06llu", (unsigned long long)n);
    snprintf(id, sizeof id, "s1/message/%s", ext);
    size_t len = store_idem_key(key, sizeof key, "s1", "message", ext);
    json_t *rec = json_pack(
        "{s:i,s:i,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:{s:s,s:s,s:[s]},s:[],s:[],s:s,s:[],s:{}}", "v",
        1, "seq", 0, "id", id, "source", "s1", "channel", "webhook", "kind", "message", "direction",
        "inbound", "occurred_at", "2026-11-23T10:00:00.000Z", "received_at",
        "2026-11-23T10:00:00.123Z", "external_id", ext, "from", "handle", "email:ayse@example.com",
        "role", "customer", "handles", "email:ayse@example.com", "to", "mentions", "text",
        "Merhaba, siparişim nerede?", "attachments", "meta");
    struct write_item *it = calloc(1, sizeof *it);
    if (it)
        it->recs = calloc(1, sizeof *it->recs);
    if (!rec || !it || !it->recs) {
        json_decref(rec);
        if (it)
            free(it->recs);
        free(it);
        return NULL;
    }
    it->nrecs = 1;
    it->recs[0].rec = rec;
    it->recs[0].idem = malloc(len);
    if (!it->recs[0].idem) {
        write_item_free(it);
        return NULL;
    }
    memcpy(it->recs[0].idem, key, len);
    it->recs[0].idem_len = len;
    return it;
}

/* Commit n records in one transaction, as kanald's writer thread does;
 * 0 or a negative error. */
static int try_commit(struct fixture *f, size_t n)
{
    struct write_item *head = NULL, **tail = &head;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!(*tail = make_item(f->next_ext++)))
            rc = -ENOMEM;
        else
            tail = &(*tail)->next;
    }
    if (rc == 0)
        rc = writer_commit_batch(&f->st, head, NULL);
    while (head) {
        struct write_item *next = head->next;
        if (rc == 0 && head->status)
            rc = head->status;
        write_item_free(head);
        head = next;
    }
    return rc;
}

static void commit(struct fixture *f, size_t n)
{
    assert_int_equal(try_commit(f, n), 0);
}

/* Read the next record and check that it is the one with seq `want`. */
static void expect_next(struct kanal_reader *r, uint64_t *cursor, uint64_t want)
{
    const char *json;
    size_t len;
    int rc = kanal_reader_next(r, cursor, &json, &len);
    if (rc)
        fail_msg("kanal_reader_next after %llu: %s", (unsigned long long)*cursor,
                 kanal_reader_strerror(rc));
    assert_int_equal(*cursor, want);
    assert_int_equal(strlen(json), len);
    json_t *rec = json_loadb(json, len, 0, NULL);
    assert_non_null(rec);
    char ext[32];
    snprintf(ext, sizeof ext, "ext-%06llu", (unsigned long long)want);
    assert_string_equal(json_string_value(json_object_get(rec, "external_id")), ext);
    assert_int_equal(json_integer_value(json_object_get(rec, "seq")), want);
    json_decref(rec);
}

static void expect_end(struct kanal_reader *r, uint64_t cursor)
{
    const char *json;
    assert_int_equal(kanal_reader_next(r, &cursor, &json, NULL), -EAGAIN);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_reads_every_record_in_order(void **state)
{
    struct fixture *f = *state;
    open_store(f, 0);
    for (int i = 0; i < 6; i++)
        commit(f, 500); /* 3000 records: several of the reader's batches */
    open_reader(f);
    assert_string_equal(kanal_reader_store_id(f->r), f->st.store_id);

    uint64_t cursor = 0, last = 0;
    for (uint64_t seq = 1; seq <= 3000; seq++)
        expect_next(f->r, &cursor, seq);
    expect_end(f->r, cursor);
    assert_int_equal(kanal_reader_last_seq(f->r, &last), 0);
    assert_int_equal(last, 3000);

    /* A saved cursor resumes right after it, also mid-batch and backwards. */
    cursor = 2990;
    expect_next(f->r, &cursor, 2991);
    cursor = 10;
    expect_next(f->r, &cursor, 11);
    expect_next(f->r, &cursor, 12);

    const char *json;
    size_t len;
    assert_int_equal(kanal_reader_get(f->r, 1234, &json, &len), 0);
    assert_non_null(strstr(json, "\"external_id\":\"ext-001234\""));
    assert_int_equal(kanal_reader_get(f->r, 3001, &json, &len), -ENOENT);
    assert_int_equal(kanal_reader_get(f->r, 0, &json, &len), -ENOENT);
}

static void test_empty_store(void **state)
{
    struct fixture *f = *state;
    open_store(f, 0);
    open_reader(f);
    uint64_t last = 99;
    assert_int_equal(kanal_reader_last_seq(f->r, &last), 0);
    assert_int_equal(last, 0);
    expect_end(f->r, 0);
    int64_t t0 = now_ms();
    assert_int_equal(kanal_reader_wait(f->r, 0, 200), -ETIMEDOUT);
    assert_true(now_ms() - t0 >= 190);
}

struct writer_thread {
    struct fixture *f;
    int rounds;
    unsigned delay_ms;
    int status;
};

static void *writer_main(void *arg)
{
    struct writer_thread *w = arg;
    for (int i = 0; i < w->rounds && w->status == 0; i++) {
        struct timespec ts = {0, (long)w->delay_ms * 1000000};
        nanosleep(&ts, NULL);
        w->status = try_commit(w->f, (size_t)i + 1);
    }
    return NULL;
}

/* Wait for and read the records the writer thread commits, round by round. */
static void follow_writer(struct fixture *f, uint64_t cursor, int rounds)
{
    struct writer_thread w = {f, rounds, 100, 0};
    pthread_t thread;
    uint64_t want = cursor + (uint64_t)rounds * (uint64_t)(rounds + 1) / 2;
    assert_int_equal(pthread_create(&thread, NULL, writer_main, &w), 0);
    while (cursor < want) {
        int64_t t0 = now_ms();
        int rc = kanal_reader_wait(f->r, cursor, WAIT_TIMEOUT_MS);
        if (rc)
            fail_msg("kanal_reader_wait after %llu: %s", (unsigned long long)cursor,
                     kanal_reader_strerror(rc));
        assert_true(now_ms() - t0 < WAIT_TIMEOUT_MS);
        const char *json;
        uint64_t before = cursor;
        while (kanal_reader_next(f->r, &cursor, &json, NULL) == 0) {
            assert_int_equal(cursor, before + 1);
            before = cursor;
        }
    }
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_int_equal(w.status, 0);
    assert_int_equal(cursor, want);
    /* Nothing more comes: the wait ends at its timeout. */
    int64_t t0 = now_ms();
    assert_int_equal(kanal_reader_wait(f->r, cursor, 150), -ETIMEDOUT);
    assert_true(now_ms() - t0 >= 140);
}

static void test_picks_up_commits_while_waiting(void **state)
{
    struct fixture *f = *state;
    open_store(f, 0);
    commit(f, 3);
    open_reader(f);
    assert_true(kanal_reader_fd(f->r) >= 0);
    uint64_t cursor = 0;
    for (uint64_t seq = 1; seq <= 3; seq++)
        expect_next(f->r, &cursor, seq);
    follow_writer(f, cursor, 5);
}

static int readable(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = poll(&p, 1, timeout_ms);
    assert_true(n >= 0);
    return n == 1 && (p.revents & POLLIN);
}

static void test_fd_signals_commits(void **state)
{
    struct fixture *f = *state;
    open_store(f, 0);
    commit(f, 1);
    open_reader(f);
    int fd = kanal_reader_fd(f->r);
    assert_true(fd >= 0);
    uint64_t cursor = 0;
    expect_next(f->r, &cursor, 1);
    expect_end(f->r, cursor);
    assert_false(readable(fd, 0));

    commit(f, 2);
    assert_true(readable(fd, WAIT_TIMEOUT_MS));
    expect_next(f->r, &cursor, 2);
    expect_next(f->r, &cursor, 3);
    expect_end(f->r, cursor); /* reading to the end drains the descriptor */
    assert_false(readable(fd, 0));
}

static void test_follows_the_map_as_it_grows(void **state)
{
    struct fixture *f = *state;
    size_t initial = (size_t)1 << 20;
    open_store(f, initial);
    commit(f, 10);
    open_reader(f);
    uint64_t cursor = 0;
    for (uint64_t seq = 1; seq <= 10; seq++)
        expect_next(f->r, &cursor, seq);
    /* Several times the reader's map: kanald's writer doubles it as it goes. */
    for (int i = 0; i < 20; i++)
        commit(f, 500);
    assert_true(f->st.map_size > 4 * initial);
    uint64_t last;
    assert_int_equal(kanal_reader_last_seq(f->r, &last), 0);
    assert_int_equal(last, 10010);
    for (uint64_t seq = 11; seq <= 10010; seq++)
        expect_next(f->r, &cursor, seq);
    expect_end(f->r, cursor);
}

static void test_refuses_a_newer_format(void **state)
{
    struct fixture *f = *state;
    open_store(f, 0);
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(f->st.env, NULL, 0, &txn), 0);
    MDB_val k = {7, "version"}, v = {1, "2"};
    assert_int_equal(mdb_put(txn, f->st.meta, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);

    int rc = kanal_reader_open(&f->r, f->store_dir);
    assert_int_equal(rc, KANAL_EFORMAT);
    assert_null(f->r);
    assert_non_null(strstr(kanal_reader_strerror(rc), "newer"));
}

static void test_refuses_what_is_not_a_store(void **state)
{
    struct fixture *f = *state;
    char *missing = unit_path(f->dir, "missing");
    assert_int_equal(kanal_reader_open(&f->r, missing), -ENOENT);
    assert_null(f->r);
    free(missing);
    /* An empty directory stays empty: no lock file left behind. */
    char *empty = unit_path(f->dir, "empty");
    assert_int_equal(mkdir(empty, 0750), 0);
    assert_int_equal(kanal_reader_open(&f->r, empty), -ENOENT);
    char *lock = unit_path(empty, "lock.mdb");
    assert_int_equal(access(lock, F_OK), -1);
    free(lock);
    free(empty);
    assert_string_equal(kanal_reader_strerror(-ENOENT), strerror(ENOENT));
    /* LMDB's codes are named by LMDB, from the first to the last. */
    assert_string_equal(kanal_reader_strerror(MDB_KEYEXIST), mdb_strerror(MDB_KEYEXIST));
    assert_string_equal(kanal_reader_strerror(MDB_MAP_FULL), mdb_strerror(MDB_MAP_FULL));
    assert_string_equal(kanal_reader_strerror(MDB_LAST_ERRCODE),
                        mdb_strerror(MDB_LAST_ERRCODE));
}

/* Open the reader with exactly as many descriptors free as LMDB needs, so
 * that inotify cannot have one: the reader must wait by looking every
 * 100 ms instead. */
static void open_reader_without_inotify(struct fixture *f)
{
    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    if (low.rlim_cur > 256)
        low.rlim_cur = 256;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    int fill[256], nfill = 0, fd;
    while (nfill < 256 && (fd = open("/dev/null", O_RDONLY)) >= 0)
        fill[nfill++] = fd;
    int rc = -EMFILE;
    while (rc && nfill > 0) {
        close(fill[--nfill]);
        rc = kanal_reader_open(&f->r, f->store_dir);
    }
    while (nfill > 0)
        close(fill[--nfill]);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    if (rc)
        fail_msg("kanal_reader_open: %s", kanal_reader_strerror(rc));
}

static void test_waits_without_inotify(void **state)
{
    struct fixture *f = *state;
    open_store(f, 0);
    commit(f, 1);
    open_reader_without_inotify(f);
    assert_int_equal(kanal_reader_fd(f->r), -ENOTSUP);
    uint64_t cursor = 0;
    expect_next(f->r, &cursor, 1);
    follow_writer(f, cursor, 3);
}

/* A cursor past the last seq (kept from before a restore, or from another
 * store) is refused by next and wait alike, at once; the last seq itself is
 * a good cursor, and once records reach the cursor it is good again. */
static void test_a_cursor_past_the_end_is_refused(void **state)
{
    struct fixture *f = *state;
    open_store(f, 0);
    open_reader(f);
    const char *json;
    uint64_t cursor = 1;
    assert_int_equal(kanal_reader_next(f->r, &cursor, &json, NULL), KANAL_ECURSOR);
    assert_int_equal(cursor, 1); /* left as it was */
    commit(f, 5);
    static const uint64_t ahead[] = {6, 7, 999, UINT64_MAX - 1, UINT64_MAX};
    for (size_t i = 0; i < sizeof ahead / sizeof ahead[0]; i++) {
        cursor = ahead[i];
        assert_int_equal(kanal_reader_next(f->r, &cursor, &json, NULL), KANAL_ECURSOR);
        assert_int_equal(cursor, ahead[i]);
        /* -1 would be no limit: without the refusal this would hang. */
        assert_int_equal(kanal_reader_wait(f->r, ahead[i], -1), KANAL_ECURSOR);
    }
    assert_non_null(strstr(kanal_reader_strerror(KANAL_ECURSOR), "past"));
    /* Read to the end, then the end is not "ahead": -EAGAIN as before. */
    cursor = 3;
    expect_next(f->r, &cursor, 4);
    expect_next(f->r, &cursor, 5);
    expect_end(f->r, 5);
    /* More commits: a cursor once ahead is within the log again. */
    commit(f, 3);
    cursor = 6;
    expect_next(f->r, &cursor, 7);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_reads_every_record_in_order),    T(test_empty_store),
        T(test_picks_up_commits_while_waiting), T(test_fd_signals_commits),
        T(test_follows_the_map_as_it_grows),    T(test_refuses_a_newer_format),
        T(test_refuses_what_is_not_a_store),    T(test_waits_without_inotify),
        T(test_a_cursor_past_the_end_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
