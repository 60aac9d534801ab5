/* SPDX-License-Identifier: Apache-2.0 */
/* An audience's graph from a read snapshot of the store (collect.h). */
#include "collect.h"

#include <stdlib.h>
#include <string.h>

#include "contacts.h"
#include "jarena.h"
#include "jsonin.h"
#include "store.h"
#include "util.h"

/* What the resolver answered, by key: a snapshot does not change, so what
 * it answered once it answers again, and each contact id and handle is
 * looked up (a contact's JSON parsed) once per run, not once per record and
 * audience.  Open addressing; plain malloc, not jansson's allocator, so
 * that the answers outlive the records' arenas. */
struct cache {
    char **keys, **vals; /* vals[i] NULL: no answer */
    size_t cap, n;
};

static size_t cache_slot(const struct cache *c, const char *k)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = k; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    size_t i = (size_t)h & (c->cap - 1);
    while (c->keys[i] && strcmp(c->keys[i], k) != 0)
        i = (i + 1) & (c->cap - 1);
    return i;
}

static void cache_put(struct cache *c, const char *k, const char *v)
{
    if ((c->n + 1) * 2 > c->cap) { /* at most half full */
        struct cache old = *c;
        c->cap = old.cap ? old.cap * 2 : 1024;
        c->keys = xcalloc(c->cap, sizeof *c->keys);
        c->vals = xcalloc(c->cap, sizeof *c->vals);
        for (size_t i = 0; i < old.cap; i++)
            if (old.keys[i]) {
                size_t j = cache_slot(c, old.keys[i]);
                c->keys[j] = old.keys[i];
                c->vals[j] = old.vals[i];
            }
        free(old.keys);
        free(old.vals);
    }
    size_t i = cache_slot(c, k);
    c->keys[i] = xstrdup(k);
    c->vals[i] = v ? xstrdup(v) : NULL;
    c->n++;
}

static void cache_free(struct cache *c)
{
    for (size_t i = 0; i < c->cap; i++) {
        free(c->keys[i]);
        free(c->vals[i]);
    }
    free(c->keys);
    free(c->vals);
}

struct snapshot {
    struct store *st;
    MDB_txn *txn;
    struct cache followed, handles;
    char buf[64];
};

/* The cached answer for k; *hit says whether there was one. */
static const char *cache_get(const struct cache *c, const char *k, int *hit)
{
    size_t i = c->cap ? cache_slot(c, k) : 0;
    *hit = c->cap && c->keys[i];
    return *hit ? c->vals[i] : NULL;
}

static const char *current(void *arg, const char *cid)
{
    struct snapshot *s = arg;
    int hit;
    const char *v = cache_get(&s->followed, cid, &hit);
    if (hit)
        return v;
    int rc = contacts_follow(s->st, s->txn, cid, s->buf, sizeof s->buf);
    cache_put(&s->followed, cid, rc == 0 ? s->buf : NULL);
    return rc == 0 ? s->buf : NULL;
}

static const char *of_handle(void *arg, const char *handle)
{
    struct snapshot *s = arg;
    int hit;
    const char *v = cache_get(&s->handles, handle, &hit);
    if (hit)
        return v;
    int rc = contacts_of_handle(s->st, s->txn, handle, s->buf, sizeof s->buf);
    cache_put(&s->handles, handle, rc == 0 ? s->buf : NULL);
    return rc == 0 ? s->buf : NULL;
}

/* Records parsed into one arena before it is given back. */
#define ARENA_RECORDS 32

int score_collect_many(struct store *st, MDB_txn *txn, const struct audience *auds, size_t n,
                       int64_t now_ms, int64_t half_life_ms, struct score_build *bs,
                       uint64_t *last_seq, size_t *bad)
{
    struct snapshot snap = {.st = st, .txn = txn};
    struct score_resolver res = {current, of_handle, &snap};
    for (size_t i = 0; i < n; i++)
        score_build_init(&bs[i], now_ms, half_life_ms, &res);
    *last_seq = 0;
    *bad = 0;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, st->log, &cur);
    if (rc == 0) {
        MDB_val k, v;
        /* The records' jansson values (a hundred small blocks each, and
         * the contacts' the resolver reads) come from an arena, given back
         * every ARENA_RECORDS records: malloc and free were a third of the
         * run.  Nothing a builder keeps is jansson's. */
        struct jarena *arena = jarena_begin();
        size_t in_arena = 0;
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            if (arena && ++in_arena == ARENA_RECORDS) {
                jarena_release(arena);
                arena = jarena_begin();
                in_arena = 0;
            }
            uint64_t seq;
            if (kanal_store_u64(k.mv_data, k.mv_size, &seq) == 0)
                *last_seq = seq;
            /* jsonin reads in place: json_loadb's byte-at-a-time reading
             * was a third of the parse. */
            char err[128];
            json_t *rec = jsonin_parse(v.mv_data, v.mv_size, err, sizeof err);
            if (!rec) {
                (*bad)++;
                continue;
            }
            /* One parse for every audience the record belongs to. */
            for (size_t i = 0; i < n; i++)
                if (audience_matches(&auds[i], rec, now_ms) && score_build_add(&bs[i], rec) != 0)
                    (*bad)++;
            json_decref(rec);
        }
        jarena_release(arena);
        mdb_cursor_close(cur);
    }
    /* The builders keep the resolver; it must not outlive this snapshot. */
    for (size_t i = 0; i < n; i++) {
        bs[i].res = (struct score_resolver){0};
        if (rc != MDB_NOTFOUND)
            score_build_free(&bs[i]);
    }
    cache_free(&snap.followed);
    cache_free(&snap.handles);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int score_collect(struct store *st, MDB_txn *txn, const struct audience *a, int64_t now_ms,
                  int64_t half_life_ms, struct score_build *b, uint64_t *last_seq, size_t *bad)
{
    return score_collect_many(st, txn, a, 1, now_ms, half_life_ms, b, last_seq, bad);
}
