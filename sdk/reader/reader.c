/* SPDX-License-Identifier: Apache-2.0 */
/* libkanal's reader: the store's log, read-only, from another process.
 *
 * kanald may commit and grow the map at any moment.  Each read is one short
 * LMDB read transaction (a reset one, renewed: no reader-table lock per
 * read); when kanald has grown the map past ours, LMDB says MDB_MAP_RESIZED
 * and we adopt the new size and try again.  No transaction outlives a call:
 * records are copied out in batches, so a slow consumer never pins old pages
 * and makes the store grow. */
#include <kanal/reader.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "kanal_errors.h"
#include "reader_int.h"

/* A batch ends after this many records or bytes, whichever comes first. */
#define BATCH_RECORDS 1024
#define BATCH_BYTES (1u << 20)
/* Without inotify, kanal_reader_wait looks this often; with it, this soon
 * after a change that showed no new record, and at least this often. */
#define POLL_INTERVAL_MS 100
#define SETTLE_MS 10
#define RECHECK_MS 1000
/* The layout this library reads is the one this tree's kanald writes. */
_Static_assert(KANAL_READER_FORMAT == KANAL_STORE_FORMAT, "reader and store formats differ");

struct batch_entry {
    uint64_t seq;
    size_t off, len;
};

struct kanal_reader {
    MDB_env *env;
    MDB_dbi dbi[KANAL_STORE_DB_COUNT];
    unsigned have;  /* bit (1 << db) set when the store has that database */
    MDB_txn *spare; /* a reset read transaction, renewed by the next read */
    int format;
    char store_id[33];
    int ifd; /* inotify watching data.mdb, or -1 */
    /* The batch: records copied out of one read transaction. */
    char *buf;
    size_t buf_cap;
    struct batch_entry *ents;
    size_t nents, ents_cap, pos;
    uint64_t batch_cursor; /* the seq that ents[pos] follows */
    /* kanal_reader_get's copy. */
    char *one;
    size_t one_cap;
};

int kanal__reader_err(int rc)
{
    return rc > 0 ? -rc : rc; /* LMDB passes errno values through as positive numbers */
}

/* Make room for n bytes in *p; 0 or -ENOMEM. */
static int reserve(char **p, size_t *cap, size_t n)
{
    if (n <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 4096;
    while (nc < n)
        nc *= 2;
    char *q = realloc(*p, nc);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = nc;
    return 0;
}

int kanal__reader_begin(struct kanal_reader *r, MDB_txn **txn)
{
    for (int attempt = 0;; attempt++) {
        int rc;
        if (r->spare) {
            rc = mdb_txn_renew(r->spare);
            if (rc == 0) {
                *txn = r->spare;
                r->spare = NULL;
                return 0;
            }
            mdb_txn_abort(r->spare);
            r->spare = NULL;
        } else {
            rc = mdb_txn_begin(r->env, NULL, MDB_RDONLY, txn);
            if (rc == 0)
                return 0;
        }
        /* kanald grew the map beyond ours: take its size (no transaction of
         * ours is open now, as mdb_env_set_mapsize needs) and try again. */
        if (rc != MDB_MAP_RESIZED || attempt == 16)
            return kanal__reader_err(rc);
        if ((rc = mdb_env_set_mapsize(r->env, 0)))
            return kanal__reader_err(rc);
    }
}

void kanal__reader_end(struct kanal_reader *r, MDB_txn *txn)
{
    if (r->spare) {
        mdb_txn_abort(txn);
    } else {
        mdb_txn_reset(txn);
        r->spare = txn;
    }
}

MDB_env *kanal__reader_env(struct kanal_reader *r)
{
    return r->env;
}

int kanal__reader_dbi(struct kanal_reader *r, enum kanal_store_db db, MDB_dbi *dbi)
{
    if ((unsigned)db >= KANAL_STORE_DB_COUNT || !(r->have & (1u << db)))
        return -ENOENT;
    *dbi = r->dbi[db];
    return 0;
}

int kanal__reader_map_size(struct kanal_reader *r, size_t *size)
{
    if (r->spare) {
        mdb_txn_abort(r->spare);
        r->spare = NULL;
    }
    int rc = mdb_env_set_mapsize(r->env, 0);
    if (rc)
        return kanal__reader_err(rc);
    MDB_envinfo info;
    mdb_env_info(r->env, &info);
    *size = info.me_mapsize;
    return 0;
}

int kanal__reader_format(struct kanal_reader *r)
{
    return r->format;
}

/* Copy one meta value as a string; 0, -ENOENT or another error. */
static int meta_get(struct kanal_reader *r, MDB_txn *txn, const char *name, char *out,
                    size_t out_len)
{
    if (!(r->have & (1u << KANAL_STORE_DB_META)))
        return -ENOENT;
    MDB_val k = {strlen(name), (void *)name}, v;
    int rc = mdb_get(txn, r->dbi[KANAL_STORE_DB_META], &k, &v);
    if (rc)
        return rc == MDB_NOTFOUND ? -ENOENT : kanal__reader_err(rc);
    size_t n = v.mv_size < out_len - 1 ? v.mv_size : out_len - 1;
    memcpy(out, v.mv_data, n);
    out[n] = '\0';
    return 0;
}

/* Open the databases that exist and check the format version. */
static int open_store(struct kanal_reader *r)
{
    MDB_txn *txn;
    int rc = kanal__reader_begin(r, &txn);
    if (rc)
        return rc;
    for (int i = 0; i < KANAL_STORE_DB_COUNT; i++) {
        rc = mdb_dbi_open(txn, kanal_store_dbs[i].name, kanal_store_dbs[i].flags, &r->dbi[i]);
        if (rc == 0)
            r->have |= 1u << i;
        else if (rc != MDB_NOTFOUND)
            goto fail;
    }
    rc = KANAL_ENOTSTORE;
    if (!(r->have & (1u << KANAL_STORE_DB_LOG)))
        goto fail;
    char version[32];
    rc = meta_get(r, txn, KANAL_META_VERSION, version, sizeof version);
    if (rc == -ENOENT) {
        r->format = 0; /* before kanald recorded the version; readable as 1 */
    } else if (rc) {
        goto fail;
    } else {
        char *end;
        long v = strtol(version, &end, 10);
        rc = KANAL_ENOTSTORE;
        if (end == version || *end || v < 0)
            goto fail;
        rc = KANAL_EFORMAT;
        if (v > KANAL_READER_FORMAT)
            goto fail;
        r->format = (int)v;
    }
    if (meta_get(r, txn, KANAL_META_STORE_ID, r->store_id, sizeof r->store_id) != 0)
        r->store_id[0] = '\0';
    /* Committed (even when it fails) rather than aborted, which would close
     * the handles. */
    return kanal__reader_err(mdb_txn_commit(txn));
fail:
    mdb_txn_abort(txn);
    return kanal__reader_err(rc);
}

/* Watch data.mdb: kanald writes it (no MDB_WRITEMAP) at every commit.
 * Without inotify (no kernel support, out of descriptors or watches)
 * kanal_reader_wait falls back to looking every POLL_INTERVAL_MS. */
static void watch_store(struct kanal_reader *r, const char *data_path)
{
    r->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (r->ifd < 0)
        return;
    if (inotify_add_watch(r->ifd, data_path, IN_MODIFY) < 0) {
        close(r->ifd);
        r->ifd = -1;
    }
}

int kanal_reader_open(struct kanal_reader **reader, const char *dir)
{
    *reader = NULL;
    /* Check first: LMDB would create lock.mdb in a directory that holds
     * no store. */
    size_t n = strlen(dir) + sizeof "/data.mdb";
    char *data_path = malloc(n);
    if (!data_path)
        return -ENOMEM;
    snprintf(data_path, n, "%s/data.mdb", dir);
    struct stat sb;
    if (stat(dir, &sb) < 0 || stat(data_path, &sb) < 0) {
        int err = -errno;
        free(data_path);
        return err;
    }
    struct kanal_reader *r = calloc(1, sizeof *r);
    if (!r) {
        free(data_path);
        return -ENOMEM;
    }
    r->ifd = -1;
    int rc = mdb_env_create(&r->env);
    if (rc) {
        r->env = NULL;
        goto fail;
    }
    if ((rc = mdb_env_set_maxdbs(r->env, KANAL_STORE_MAX_DBS)) ||
        (rc = mdb_env_set_maxreaders(r->env, KANAL_STORE_MAX_READERS)) ||
        (rc = mdb_env_open(r->env, dir, MDB_RDONLY | MDB_NOTLS, KANAL_STORE_FILE_MODE)))
        goto fail;
    if ((rc = open_store(r)))
        goto fail;
    watch_store(r, data_path);
    free(data_path);
    *reader = r;
    return 0;
fail:
    free(data_path);
    kanal_reader_close(r);
    return kanal__reader_err(rc);
}

void kanal_reader_close(struct kanal_reader *r)
{
    if (!r)
        return;
    if (r->spare)
        mdb_txn_abort(r->spare);
    if (r->env)
        mdb_env_close(r->env);
    if (r->ifd >= 0)
        close(r->ifd);
    free(r->buf);
    free(r->ents);
    free(r->one);
    free(r);
}

/* Read and forget the pending change events: what follows looks at the
 * store afresh, and any later commit makes the descriptor readable again. */
static void drain_events(struct kanal_reader *r)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    if (r->ifd < 0)
        return;
    while (read(r->ifd, buf, sizeof buf) > 0)
        ;
}

static int add_entry(struct kanal_reader *r, uint64_t seq, const MDB_val *v, size_t *used)
{
    if (r->nents == r->ents_cap) {
        size_t nc = r->ents_cap ? r->ents_cap * 2 : 64;
        struct batch_entry *e = realloc(r->ents, nc * sizeof *e);
        if (!e)
            return -ENOMEM;
        r->ents = e;
        r->ents_cap = nc;
    }
    if (reserve(&r->buf, &r->buf_cap, *used + v->mv_size + 1))
        return -ENOMEM;
    memcpy(r->buf + *used, v->mv_data, v->mv_size);
    r->buf[*used + v->mv_size] = '\0';
    r->ents[r->nents++] = (struct batch_entry){seq, *used, v->mv_size};
    *used += v->mv_size + 1;
    return 0;
}

/* Copy the records after `after` into the batch. */
static int fill_batch(struct kanal_reader *r, uint64_t after)
{
    r->nents = r->pos = 0;
    r->batch_cursor = after;
    drain_events(r);
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = kanal__reader_begin(r, &txn);
    if (rc)
        return rc;
    if ((rc = mdb_cursor_open(txn, r->dbi[KANAL_STORE_DB_LOG], &cur))) {
        kanal__reader_end(r, txn);
        return kanal__reader_err(rc);
    }
    uint64_t start = after + 1, seq, last = 0;
    MDB_val k = {sizeof start, &start}, v;
    size_t used = 0;
    /* A cursor past the last seq was never handed out by this store (a
     * restored backup, another store): "nothing yet" would skip records. */
    MDB_val lk, lv;
    rc = mdb_cursor_get(cur, &lk, &lv, MDB_LAST);
    if (rc == 0 && lk.mv_size == sizeof last)
        memcpy(&last, lk.mv_data, sizeof last);
    else if (rc == 0)
        rc = MDB_CORRUPTED;
    else if (rc == MDB_NOTFOUND)
        rc = 0;
    if (rc == 0 && after > last) {
        mdb_cursor_close(cur);
        kanal__reader_end(r, txn);
        return KANAL_ECURSOR;
    }
    if (rc == 0)
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0 && r->nents < BATCH_RECORDS && used < BATCH_BYTES) {
        if (k.mv_size != sizeof seq) {
            rc = MDB_CORRUPTED;
            break;
        }
        memcpy(&seq, k.mv_data, sizeof seq);
        if ((rc = add_entry(r, seq, &v, &used)))
            break;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    kanal__reader_end(r, txn);
    if (rc == MDB_NOTFOUND)
        rc = 0;
    if (rc)
        r->nents = 0;
    return kanal__reader_err(rc);
}

int kanal_reader_next(struct kanal_reader *r, uint64_t *seq, const char **json, size_t *len)
{
    if (r->pos == r->nents || *seq != r->batch_cursor) {
        int rc = fill_batch(r, *seq);
        if (rc)
            return rc;
        if (r->nents == 0)
            return -EAGAIN;
    }
    const struct batch_entry *e = &r->ents[r->pos++];
    r->batch_cursor = e->seq;
    *seq = e->seq;
    *json = r->buf + e->off;
    if (len)
        *len = e->len;
    return 0;
}

int kanal_reader_get(struct kanal_reader *r, uint64_t seq, const char **json, size_t *len)
{
    MDB_txn *txn;
    int rc = kanal__reader_begin(r, &txn);
    if (rc)
        return rc;
    MDB_val k = {sizeof seq, &seq}, v;
    rc = mdb_get(txn, r->dbi[KANAL_STORE_DB_LOG], &k, &v);
    if (rc == 0) {
        if (reserve(&r->one, &r->one_cap, v.mv_size + 1) == 0) {
            memcpy(r->one, v.mv_data, v.mv_size);
            r->one[v.mv_size] = '\0';
            *json = r->one;
            if (len)
                *len = v.mv_size;
        } else {
            rc = ENOMEM;
        }
    }
    kanal__reader_end(r, txn);
    return rc == MDB_NOTFOUND ? -ENOENT : kanal__reader_err(rc);
}

int kanal_reader_last_seq(struct kanal_reader *r, uint64_t *seq)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = kanal__reader_begin(r, &txn);
    if (rc)
        return rc;
    if ((rc = mdb_cursor_open(txn, r->dbi[KANAL_STORE_DB_LOG], &cur)) == 0) {
        MDB_val k, v;
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
        if (rc == 0 && k.mv_size == sizeof *seq)
            memcpy(seq, k.mv_data, sizeof *seq);
        else if (rc == 0)
            rc = MDB_CORRUPTED;
        else if (rc == MDB_NOTFOUND)
            *seq = 0, rc = 0;
        mdb_cursor_close(cur);
    }
    kanal__reader_end(r, txn);
    return kanal__reader_err(rc);
}

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Sleep until the store changes or ms pass: 1 after a change, 0 after the
 * time, -EINTR for a signal. */
static int sleep_for_change(struct kanal_reader *r, int ms)
{
    if (r->ifd >= 0) {
        struct pollfd pfd = {.fd = r->ifd, .events = POLLIN};
        int n = poll(&pfd, 1, ms);
        return n < 0 ? -errno : n > 0;
    }
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    return nanosleep(&ts, NULL) < 0 ? -errno : 0;
}

int kanal_reader_wait(struct kanal_reader *r, uint64_t after, int timeout_ms)
{
    int64_t deadline = timeout_ms < 0 ? -1 : monotonic_ms() + timeout_ms;
    int changed = 0;
    for (;;) {
        /* Drain before looking, so a commit after the look always wakes
         * the poll below. */
        drain_events(r);
        uint64_t last;
        int rc = kanal_reader_last_seq(r, &last);
        if (rc)
            return rc;
        if (last > after)
            return 0;
        if (last < after)
            return KANAL_ECURSOR; /* nothing to wait for: see fill_batch */
        /* A commit writes its meta page a moment before it publishes the
         * new transaction in the lock file, which makes no event: after a
         * change that showed nothing new yet, look again soon; and never
         * sleep longer than RECHECK_MS without looking. */
        int ms = r->ifd < 0 ? POLL_INTERVAL_MS : changed ? SETTLE_MS : RECHECK_MS;
        if (deadline >= 0) {
            int64_t left = deadline - monotonic_ms();
            if (left <= 0)
                return -ETIMEDOUT;
            if (left < ms)
                ms = (int)left;
        }
        if ((changed = sleep_for_change(r, ms)) < 0)
            return changed;
    }
}

int kanal_reader_fd(struct kanal_reader *r)
{
    return r->ifd >= 0 ? r->ifd : -ENOTSUP;
}

const char *kanal_reader_store_id(struct kanal_reader *r)
{
    return r->store_id;
}

const char *kanal_reader_strerror(int err)
{
    return kanal_error_string(err); /* common/kanal_errors.h */
}
