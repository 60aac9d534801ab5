/* SPDX-License-Identifier: Apache-2.0 */
/* Overwriting the store's free pages, so that data a transaction deleted
 * (an erasure: DELETE /v1/contacts/<id>) leaves the file itself.  The writer
 * runs it after a commit that asked for it (write_item.scrub_after). */
#include "scrub.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lmdb.h>

#include "log.h"
#include "store.h"
#include "util.h"

/* LMDB never overwrites data in place, and it recycles its page buffers
 * without clearing them, so erased bytes can survive in two places: pages on
 * the free list, and the unused gap between the node pointers and the nodes
 * of live pages.  Neither is ever read by LMDB, so both can be zeroed
 * directly in the file.  Free pages are zeroed only once no reader can still
 * see them (freed before every reader's snapshot and two commits ago). */

#define PAGE_HDR 16 /* pgno, pad, flags, lower/upper or overflow page count */
#define P_BRANCH 0x01
#define P_LEAF 0x02
#define P_OVERFLOW 0x04
#define P_META 0x08
#define P_LEAF2 0x20

static int touch_meta(struct store *st, const char *what)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(st->env, NULL, 0, &txn);
    if (rc)
        return rc;
    static const char key[] = KANAL_META_SCRUB;
    MDB_val k = {sizeof key - 1, (void *)key}, v = {strlen(what), (void *)what};
    if ((rc = mdb_put(txn, st->meta, &k, &v, 0))) {
        mdb_txn_abort(txn);
        return rc;
    }
    return mdb_txn_commit(txn);
}

struct oldest {
    size_t txnid;
};

/* mdb_reader_list() lines: "    pid     thread     txnid" ("-" when idle). */
static int reader_line(const char *msg, void *arg)
{
    struct oldest *o = arg;
    int pid;
    size_t thread, txnid;
    if (sscanf(msg, "%d %zx %zu", &pid, &thread, &txnid) == 3 && txnid < o->txnid)
        o->txnid = txnid;
    return 0;
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

/* The pages on the free list that no reader can see, sorted. */
static size_t *safe_free_pages(struct store *st, size_t before, size_t *n)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    size_t *out = NULL, cap = 0;
    *n = 0;
    if (mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn))
        return NULL;
    if (mdb_cursor_open(txn, 0 /* FREE_DBI */, &cur) == 0) {
        MDB_val k, v;
        for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            size_t txnid = *(size_t *)k.mv_data;
            const size_t *ids = v.mv_data;
            if (txnid >= before || v.mv_size < sizeof(size_t))
                continue;
            for (size_t i = 1; i <= ids[0] && i < v.mv_size / sizeof(size_t); i++) {
                if (*n == cap) {
                    cap = cap ? cap * 2 : 256;
                    out = xrealloc(out, cap * sizeof *out);
                }
                out[(*n)++] = ids[i];
            }
        }
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    if (*n)
        qsort(out, *n, sizeof *out, cmp_size);
    return out;
}

int store_scrub_free_pages(struct store *st)
{
    int rc;
    /* Two commits age the erasure's freed pages past the previous meta
     * page; reopening drops LMDB's recycled (uncleared) page buffers. */
    if ((rc = touch_meta(st, "1")) || (rc = touch_meta(st, "2")))
        return rc;
    if ((rc = store_reopen(st)))
        return rc;
    pthread_rwlock_wrlock(&st->resize_lock);
    MDB_envinfo info;
    MDB_stat ms;
    mdb_env_info(st->env, &info);
    mdb_env_stat(st->env, &ms);
    struct oldest o = {.txnid = info.me_last_txnid > 1 ? info.me_last_txnid - 1 : 0};
    mdb_reader_list(st->env, reader_line, &o);
    size_t nfree;
    size_t *free_pages = safe_free_pages(st, o.txnid, &nfree);
    int fd;
    mdb_env_get_fd(st->env, &fd);
    size_t psize = ms.ms_psize, zeroed = 0, gaps = 0, fi = 0;
    char *zeros = xcalloc(1, psize);
    rc = 0;
    for (size_t p = 2; p <= info.me_last_pgno && rc == 0; p++) {
        off_t at = (off_t)(p * psize);
        while (fi < nfree && free_pages[fi] < p)
            fi++;
        if (fi < nfree && free_pages[fi] == p) {
            if (pwrite(fd, zeros, psize, at) != (ssize_t)psize)
                rc = errno;
            zeroed++;
            continue;
        }
        unsigned char hdr[PAGE_HDR];
        if (pread(fd, hdr, sizeof hdr, at) != (ssize_t)sizeof hdr) {
            rc = errno ? errno : EIO;
            break;
        }
        uint16_t flags, lower, upper;
        memcpy(&flags, hdr + 10, 2);
        if (flags & P_OVERFLOW) {
            uint32_t pages;
            memcpy(&pages, hdr + 12, 4);
            p += pages ? pages - 1 : 0; /* continuation pages carry no header */
            continue;
        }
        if (!(flags & (P_BRANCH | P_LEAF)) || (flags & (P_META | P_LEAF2)))
            continue;
        memcpy(&lower, hdr + 12, 2);
        memcpy(&upper, hdr + 14, 2);
        if (lower < PAGE_HDR || upper > psize || lower >= upper)
            continue;
        if (pwrite(fd, zeros, upper - lower, at + lower) != (ssize_t)(upper - lower))
            rc = errno;
        gaps++;
    }
    if (rc == 0 && fdatasync(fd) < 0)
        rc = errno;
    pthread_rwlock_unlock(&st->resize_lock);
    free(zeros);
    free(free_pages);
    if (rc == 0)
        log_info("store %s: zeroed %zu free page(s) and the unused space of %zu page(s) after "
                 "an erasure",
                 st->path, zeroed, gaps);
    return rc;
}
