/* SPDX-License-Identifier: Apache-2.0 */
/* Opening the store, its format version, and growing the map.
 *
 * No MDB_WRITEMAP: with it a full disk shows up as SIGBUS on a page fault;
 * without it, as ENOSPC from the commit, which the writer turns into 503s. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "log.h"
#include "util.h"

int store_err(int rc)
{
    if (rc == 0)
        return 0;
    if (rc > 0)
        return -rc; /* LMDB passes errno values through as positive numbers */
    return rc;
}

/* Each migration turns format version N into N+1 inside one transaction.
 * Version 0 is a store written before the format version was recorded. */
typedef int (*store_migration_fn)(struct store *st, MDB_txn *txn);

static int migrate_0_to_1(struct store *st, MDB_txn *txn)
{
    (void)st;
    (void)txn;
    /* Format 1 only added the version stamp itself. */
    return 0;
}

static const store_migration_fn migrations[STORE_FORMAT_VERSION] = {migrate_0_to_1};

static int meta_put(struct store *st, MDB_txn *txn, const char *name, const char *value)
{
    MDB_val k = {strlen(name), (void *)name}, v = {strlen(value), (void *)value};
    return mdb_put(txn, st->meta, &k, &v, 0);
}

static int meta_get(struct store *st, MDB_txn *txn, const char *name, char *out, size_t out_len)
{
    MDB_val k = {strlen(name), (void *)name}, v;
    int rc = mdb_get(txn, st->meta, &k, &v);
    if (rc)
        return rc;
    size_t n = v.mv_size < out_len - 1 ? v.mv_size : out_len - 1;
    memcpy(out, v.mv_data, n);
    out[n] = '\0';
    return 0;
}

/* Every database of the layout (common/store_layout.h), created if need be,
 * into its member of struct store. */
static int open_dbs(struct store *st, MDB_txn *txn)
{
    MDB_dbi *const dbi[KANAL_STORE_DB_COUNT] = {
        [KANAL_STORE_DB_LOG] = &st->log,           [KANAL_STORE_DB_IDEM] = &st->idem,
        [KANAL_STORE_DB_STATE] = &st->state,       [KANAL_STORE_DB_META] = &st->meta,
        [KANAL_STORE_DB_HANDLES] = &st->handles,   [KANAL_STORE_DB_CONTACTS] = &st->contacts,
        [KANAL_STORE_DB_OUTBOX] = &st->outbox,     [KANAL_STORE_DB_MESSAGES] = &st->messages,
        [KANAL_STORE_DB_MSGKEYS] = &st->msgkeys,   [KANAL_STORE_DB_TIMELINE] = &st->timeline,
        [KANAL_STORE_DB_ERASED] = &st->erased,     [KANAL_STORE_DB_LINKS] = &st->links,
        [KANAL_STORE_DB_PENDING] = &st->pending,   [KANAL_STORE_DB_CANDIDATES] = &st->candidates,
        [KANAL_STORE_DB_SCORES] = &st->scores,
    };
    for (size_t i = 0; i < KANAL_STORE_DB_COUNT; i++) {
        if (!dbi[i])
            return EINVAL; /* a database of the layout without a member here */
        int rc = mdb_dbi_open(txn, kanal_store_dbs[i].name, kanal_store_dbs[i].flags | MDB_CREATE,
                              dbi[i]);
        if (rc)
            return rc;
    }
    return 0;
}

/* Check the format version, migrate older stores, stamp new ones. */
static int check_format(struct store *st, MDB_txn *txn, char *err, size_t err_len)
{
    char buf[64];
    int version;
    int rc = meta_get(st, txn, KANAL_META_VERSION, buf, sizeof buf);
    if (rc == MDB_NOTFOUND) {
        MDB_cursor *c;
        MDB_val k, v;
        int empty = 1;
        if (mdb_cursor_open(txn, st->log, &c) == 0) {
            empty = mdb_cursor_get(c, &k, &v, MDB_FIRST) == MDB_NOTFOUND;
            mdb_cursor_close(c);
        }
        version = empty ? STORE_FORMAT_VERSION : 0;
        if (empty) {
            unsigned char id[16];
            char created[32];
            crypto_random(id, sizeof id);
            crypto_hex_encode(id, sizeof id, st->store_id);
            util_format_time(util_now_ms(), created, sizeof created);
            if ((rc = meta_put(st, txn, KANAL_META_STORE_ID, st->store_id)) ||
                (rc = meta_put(st, txn, KANAL_META_CREATED, created)))
                return rc;
        }
    } else if (rc) {
        return rc;
    } else {
        version = atoi(buf);
    }
    if (version > STORE_FORMAT_VERSION) {
        snprintf(err, err_len,
                 "store %s has format version %d, but this kanald understands up to %d: "
                 "run a newer kanald or restore a backup",
                 st->path, version, STORE_FORMAT_VERSION);
        return EPROTO;
    }
    for (; version < STORE_FORMAT_VERSION; version++) {
        log_notice("store %s: migrating format %d to %d", st->path, version, version + 1);
        if ((rc = migrations[version](st, txn)))
            return rc;
    }
    char now_version[16];
    snprintf(now_version, sizeof now_version, "%d", STORE_FORMAT_VERSION);
    if (meta_get(st, txn, KANAL_META_VERSION, buf, sizeof buf) != 0 || strcmp(buf, now_version) != 0)
        if ((rc = meta_put(st, txn, KANAL_META_VERSION, now_version)))
            return rc;
    if (!st->store_id[0])
        meta_get(st, txn, KANAL_META_STORE_ID, st->store_id, sizeof st->store_id);
    return 0;
}

static int read_last_seq(struct store *st, MDB_txn *txn)
{
    MDB_cursor *c;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, st->log, &c);
    if (rc)
        return rc;
    rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    uint64_t last = 0;
    if (rc == 0)
        memcpy(&last, k.mv_data, sizeof last);
    else if (rc == MDB_NOTFOUND)
        rc = 0;
    if (rc == 0)
        store_set_last_seq(st, last);
    mdb_cursor_close(c);
    return rc;
}

static int env_open(struct store *st, char *err, size_t err_len)
{
    int rc = mdb_env_create(&st->env);
    if (rc)
        goto fail;
    if ((rc = mdb_env_set_maxdbs(st->env, KANAL_STORE_MAX_DBS)) ||
        (rc = mdb_env_set_maxreaders(st->env, KANAL_STORE_MAX_READERS)) ||
        (rc = mdb_env_set_mapsize(st->env, st->map_size)))
        goto fail;
    unsigned flags = MDB_NOTLS;
    if (st->sync == SYNC_META)
        flags |= MDB_NOMETASYNC;
    else if (st->sync == SYNC_NONE)
        flags |= MDB_NOSYNC;
    if ((rc = mdb_env_open(st->env, st->path, flags, KANAL_STORE_FILE_MODE)))
        goto fail;
    /* The data file may already be larger than our initial guess. */
    MDB_envinfo info;
    mdb_env_info(st->env, &info);
    st->map_size = info.me_mapsize;
    int dead = 0;
    mdb_reader_check(st->env, &dead);
    if (dead)
        log_notice("store %s: cleared %d stale reader slot(s)", st->path, dead);

    MDB_txn *txn;
    if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)))
        goto fail;
    if ((rc = open_dbs(st, txn)) || (rc = check_format(st, txn, err, err_len)) ||
        (rc = read_last_seq(st, txn))) {
        mdb_txn_abort(txn);
        goto fail;
    }
    MDB_stat ps;
    if ((rc = mdb_stat(txn, st->pending, &ps))) {
        mdb_txn_abort(txn);
        goto fail;
    }
    st->pending_count = ps.ms_entries;
    MDB_stat es;
    if ((rc = mdb_stat(txn, st->erased, &es))) {
        mdb_txn_abort(txn);
        goto fail;
    }
    st->erased_none_known = es.ms_entries == 0;
    if ((rc = mdb_txn_commit(txn)))
        goto fail;
    return 0;
fail:
    if (!err[0])
        snprintf(err, err_len, "cannot open store %s: %s", st->path, mdb_strerror(rc));
    if (st->env)
        mdb_env_close(st->env);
    st->env = NULL;
    return store_err(rc);
}

/* The PID in a lock file another process holds, or 0 when it has not
 * written it yet (it writes it right after taking the lock). */
static long lock_holder(int fd)
{
    for (int i = 0; i < 20; i++) {
        char buf[32];
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        if (n > 0) {
            buf[n] = '\0';
            long pid = strtol(buf, NULL, 10);
            if (pid > 0)
                return pid;
        }
        nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
    }
    return 0;
}

/* One writer per store.  A second kanald on an environment in use would
 * open it too and then fail every commit with a seq the first one already
 * took, while saying it is healthy; so the store's directory holds a lock
 * file, and whoever opens the store for writing must hold its lock.  It is
 * an open file description lock, a kernel lock: it goes with the process
 * however that ends (SIGKILL included), so a file left behind never blocks
 * the next kanald, and it is not inherited by children (O_CLOEXEC).
 * Readers (libkanal, kanalctl) do not take it. */
static int store_lock(struct store *st, const char *dir, char *err, size_t err_len)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, STORE_LOCK_FILE) >= (int)sizeof path) {
        snprintf(err, err_len, "store directory %s: path too long", dir);
        return -ENAMETOOLONG;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0) {
        int e = errno;
        snprintf(err, err_len, "cannot open the store's lock file %s: %s", path, strerror(e));
        return -e;
    }
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
        int e = errno;
        if (e == EAGAIN || e == EACCES) {
            long pid = lock_holder(fd);
            if (pid > 0)
                snprintf(err, err_len, "store %s is in use by kanald PID %ld", dir, pid);
            else
                snprintf(err, err_len, "store %s is in use by another process (lock file %s)", dir,
                         path);
            e = EBUSY;
        } else {
            snprintf(err, err_len, "cannot lock the store's lock file %s: %s", path, strerror(e));
        }
        close(fd);
        return -e;
    }
    char text[32];
    int n = snprintf(text, sizeof text, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, text, (size_t)n, 0) != n) {
        int e = errno ? errno : EIO;
        snprintf(err, err_len, "cannot write the store's lock file %s: %s", path, strerror(e));
        close(fd);
        return -e;
    }
    st->lock_fd = fd;
    st->have_lock = 1;
    return 0;
}

static void store_unlock(struct store *st)
{
    if (!st->have_lock)
        return;
    /* Empty, so that the PID of a process gone is not taken for a live one;
     * the lock itself goes with the close. */
    if (ftruncate(st->lock_fd, 0) < 0)
        log_debug("store %s: cannot empty the lock file: %s", st->path, strerror(errno));
    close(st->lock_fd);
    st->have_lock = 0;
    st->lock_fd = -1;
}

int store_open(struct store *st, const char *dir, enum sync_mode sync, size_t initial_map,
               char *err, size_t err_len)
{
    memset(st, 0, sizeof *st);
    st->lock_fd = -1;
    err[0] = '\0';
    st->path = xstrdup(dir);
    st->sync = sync;
    st->map_size = initial_map ? initial_map : (size_t)256 << 20;
    st->identity = 1;
    st->max_candidates = 10000;
    pthread_rwlock_init(&st->resize_lock, NULL);
    if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
        snprintf(err, err_len, "cannot create store directory %s: %s", dir, strerror(errno));
        free(st->path);
        st->path = NULL;
        return -errno;
    }
    int rc = store_lock(st, dir, err, err_len);
    if (rc == 0 && (rc = env_open(st, err, err_len)) < 0)
        store_unlock(st);
    if (rc) {
        free(st->path);
        st->path = NULL;
        pthread_rwlock_destroy(&st->resize_lock);
    }
    return rc;
}

void store_close(struct store *st)
{
    if (st->env)
        mdb_env_close(st->env);
    st->env = NULL;
    free(st->pbuf); /* the timeline entries kept: the log has them */
    st->pbuf = NULL;
    st->pbuf_n = st->pbuf_cap = st->pbuf_put = st->pbuf_txn = 0;
    st->pending_known = 0;
    store_sweep_drop(st); /* a fold under way: 'pending' still has its records */
    st->sw_built = 0;
    store_unlock(st);
    if (st->path) {
        pthread_rwlock_destroy(&st->resize_lock);
        free(st->path);
        st->path = NULL;
    }
}

void store_sweep_drop(struct store *st)
{
    free(st->sw);
    free(st->sw_seqs);
    st->sw = NULL;
    st->sw_seqs = NULL;
    st->sw_n = st->sw_pos = st->sw_nseq = st->sw_del = 0;
    st->sw_pos_saved = st->sw_del_saved = 0;
    st->sw_phase = st->sw_phase_saved = 0;
}

int store_read_begin(struct store *st, MDB_txn **txn)
{
    pthread_rwlock_rdlock(&st->resize_lock);
    int rc = st->env ? mdb_txn_begin(st->env, NULL, MDB_RDONLY, txn) : MDB_PANIC;
    if (rc) {
        pthread_rwlock_unlock(&st->resize_lock);
        return store_err(rc);
    }
    return 0;
}

void store_read_end(struct store *st, MDB_txn *txn)
{
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&st->resize_lock);
}

int store_grow(struct store *st)
{
    if (!st->env)
        return -EBADF;
    pthread_rwlock_wrlock(&st->resize_lock);
    size_t next = st->map_size * 2;
    int rc = mdb_env_set_mapsize(st->env, next);
    if (rc == 0) {
        log_info("store %s: map grown to %zu MiB", st->path, next >> 20);
        st->map_size = next;
    }
    pthread_rwlock_unlock(&st->resize_lock);
    return store_err(rc);
}

int store_reopen(struct store *st)
{
    char err[512] = "";
    pthread_rwlock_wrlock(&st->resize_lock);
    if (st->env)
        mdb_env_close(st->env);
    st->env = NULL;
    int rc = env_open(st, err, sizeof err);
    pthread_rwlock_unlock(&st->resize_lock);
    if (rc)
        log_err("%s", err);
    else
        log_notice("store %s reopened", st->path);
    return rc;
}

int store_reader_check(struct store *st)
{
    int dead = 0;
    pthread_rwlock_rdlock(&st->resize_lock);
    if (st->env)
        mdb_reader_check(st->env, &dead);
    pthread_rwlock_unlock(&st->resize_lock);
    return dead;
}

uint64_t store_last_seq(struct store *st)
{
    return __atomic_load_n(&st->last_seq, __ATOMIC_ACQUIRE);
}

void store_set_last_seq(struct store *st, uint64_t seq)
{
    __atomic_store_n(&st->last_seq, seq, __ATOMIC_RELEASE);
}

size_t store_idem_key(char *buf, size_t buf_len, const char *source, const char *kind,
                      const char *external_id)
{
    char digest_id[sizeof KANAL_IDEM_DIGEST_PREFIX - 1 + 65];
    if (!kanal_idem_key_fits(source, kind, external_id)) {
        /* Some Message-IDs are longer than a key may be: their digest is
         * as unique and always the same for the same id. */
        unsigned char d[32];
        size_t pl = sizeof KANAL_IDEM_DIGEST_PREFIX - 1;
        crypto_sha256(external_id, strlen(external_id), d);
        memcpy(digest_id, KANAL_IDEM_DIGEST_PREFIX, pl);
        crypto_hex_encode(d, sizeof d, digest_id + pl);
        external_id = digest_id;
    }
    return kanal_idem_key(buf, buf_len, source, kind, external_id);
}

size_t store_state_key(char *buf, size_t buf_len, const char *source, const char *key)
{
    return kanal_state_key(buf, buf_len, source, key);
}

int store_state_get(struct store *st, const char *source, const char *key, void *buf,
                    size_t *len)
{
    char kb[512];
    size_t kl = store_state_key(kb, sizeof kb, source, key);
    if (!kl)
        return -ENAMETOOLONG;
    MDB_txn *txn;
    int rc = store_read_begin(st, &txn);
    if (rc)
        return rc;
    MDB_val k = {kl, kb}, v;
    rc = mdb_get(txn, st->state, &k, &v);
    if (rc == 0) {
        if (v.mv_size > *len) {
            rc = -ENOBUFS;
        } else {
            memcpy(buf, v.mv_data, v.mv_size);
        }
        *len = v.mv_size;
    } else {
        rc = rc == MDB_NOTFOUND ? -ENOENT : store_err(rc);
    }
    store_read_end(st, txn);
    return rc;
}

void store_usage(struct store *st, struct store_usage *u)
{
    *u = (struct store_usage){0};
    /* The resize lock keeps the writer from remapping while LMDB reads its
     * meta page; map_size changes only under it, too. */
    pthread_rwlock_rdlock(&st->resize_lock);
    if (st->env) {
        MDB_envinfo info;
        MDB_stat ms;
        mdb_env_info(st->env, &info);
        mdb_env_stat(st->env, &ms);
        u->map_bytes = info.me_mapsize;
        u->used_bytes = ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize;
    }
    pthread_rwlock_unlock(&st->resize_lock);
    struct statvfs fs;
    if (st->path && statvfs(st->path, &fs) == 0)
        u->disk_free_bytes = (uint64_t)fs.f_bavail * fs.f_frsize;
}

