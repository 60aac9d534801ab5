/* SPDX-License-Identifier: Apache-2.0 */
/* An audience's graph from a read snapshot of the store (collect.h). */
#include "collect.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "contacts.h"
#include "jarena.h"
#include "jsonin.h"
#include "pre.h"
#include "store.h"
#include "util.h"

struct snapshot {
    struct store *st;
    MDB_txn *txn;
    char buf[64];
};

static const char *current(void *arg, const char *cid)
{
    struct snapshot *s = arg;
    return contacts_follow(s->st, s->txn, cid, s->buf, sizeof s->buf) == 0 ? s->buf : NULL;
}

static const char *of_handle(void *arg, const char *handle)
{
    struct snapshot *s = arg;
    return contacts_of_handle(s->st, s->txn, handle, s->buf, sizeof s->buf) == 0 ? s->buf : NULL;
}

/* One contact's value and currency from the CRM (PUT /v1/contacts/crm),
 * as its contact holds them in this snapshot. */
static void crm_value(struct store *st, MDB_txn *txn, const char *id, double *monetary,
                      char currency[4])
{
    /* Most contacts have no CRM value: read them without parsing. */
    MDB_val k = {strlen(id), (void *)id}, val;
    if (mdb_get(txn, st->contacts, &k, &val) != 0 ||
        !memmem(val.mv_data, val.mv_size, "\"value\"", 7))
        return;
    json_t *c = json_loadb(val.mv_data, val.mv_size, 0, NULL);
    if (!c)
        return;
    json_t *value = json_object_get(c, "value");
    const char *cur = json_string_value(json_object_get(c, "currency"));
    if (json_is_number(value) && json_number_value(value) >= 0)
        *monetary = json_number_value(value);
    if (cur && strlen(cur) == 3)
        memcpy(currency, cur, 4);
    json_decref(c);
}

/* Each of the people's values, read once for every audience of a run
 * (the audiences share their people): the contacts are read once, not
 * once per audience. */
static void crm_people(struct store *st, MDB_txn *txn, struct score_people *p)
{
    free(p->monetary);
    free(p->currency);
    p->monetary = xcalloc(p->n ? p->n : 1, sizeof *p->monetary);
    p->currency = xcalloc(p->n ? p->n : 1, sizeof *p->currency);
    for (uint32_t i = 0; i < p->n; i++)
        crm_value(st, txn, p->names[i], &p->monetary[i], p->currency[i]);
}

/* b's contacts' values, from its people's. */
static void crm_values(struct store *st, MDB_txn *txn, struct score_build *b)
{
    score_facts_grow(&b->facts, b->nnodes);
    if (txn)
        crm_people(st, txn, b->people);
    for (uint32_t v = 1; v < b->nnodes; v++) {
        b->facts.monetary[v] = b->people->monetary[b->pid[v]];
        memcpy(b->facts.currency[v], b->people->currency[b->pid[v]], 4);
    }
}

int score_collect(struct store *st, MDB_txn *txn, const struct audience *a, int64_t now_ms,
                  int64_t half_life_ms, struct score_build *b, uint64_t *last_seq, size_t *bad)
{
    struct snapshot snap = {.st = st, .txn = txn};
    struct score_resolver res = {current, of_handle, &snap};
    score_build_init(b, now_ms, half_life_ms, &res);
    *last_seq = 0;
    *bad = 0;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, st->log, &cur);
    if (rc) {
        score_build_free(b);
        return rc;
    }
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint64_t seq;
        if (kanal_store_u64(k.mv_data, k.mv_size, &seq) == 0)
            *last_seq = seq;
        json_t *rec = json_loadb(v.mv_data, v.mv_size, 0, NULL);
        if (!rec) {
            (*bad)++;
            continue;
        }
        if (!audience_matches(a, rec, now_ms))
            score_build_note(b, rec); /* the brand's answers, wherever given */
        else if (score_build_add(b, rec) != 0)
            (*bad)++;
        json_decref(rec);
    }
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
        crm_values(st, txn, b);
    /* The builder and its people keep the resolver; it must not outlive
     * this snapshot. */
    b->res = (struct score_resolver){0};
    b->people->res = b->res;
    if (rc != MDB_NOTFOUND) {
        score_build_free(b);
        return rc;
    }
    return 0;
}

/* Records parsed into one arena before it is given back. */
#define ARENA_RECORDS 32

/* One chunk: the records after seq *after, at most s->chunk of them.
 * 0 with *done set when the log (up to s->upto) is read to its end. */
static int scan_chunk(struct score_scan *s, uint64_t *after, int *done)
{
    MDB_txn *txn;
    int rc = store_read_begin(s->st, &txn);
    if (rc)
        return rc;
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, s->st->log, &cur))) {
        store_read_end(s->st, txn);
        return store_err(rc);
    }
    /* Keys are seqs (MDB_INTEGERKEY): the range starts after *after. */
    uint64_t from = *after + 1;
    MDB_val k = {sizeof from, &from}, v;
    size_t n = 0, chunk = s->chunk ? s->chunk : 4096, in_arena = 0;
    struct jarena *arena = NULL;
    *done = 0;
    int r = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && n < chunk;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint64_t seq;
        if (kanal_store_u64(k.mv_data, k.mv_size, &seq) != 0)
            continue;
        if (seq > s->upto) {
            rc = MDB_NOTFOUND;
            break;
        }
        *after = seq;
        n++;
        s->records++;
        /* Parsed in place (jsonin: json_loadb's byte-at-a-time reading
         * was a third of the parse) into the arena, given back every
         * ARENA_RECORDS records: malloc and free of a record's hundred
         * small blocks were a third of a run.  each() runs outside the
         * arena: what it keeps (caches, builders) is malloc's. */
        if (s->peek) {
            int took = s->peek(s->arg, txn, v.mv_data, v.mv_size);
            if (took < 0) {
                r = took;
                break;
            }
            if (took)
                continue;
        }
        if (!arena || ++in_arena == ARENA_RECORDS) {
            jarena_release(arena);
            arena = jarena_begin();
            in_arena = 0;
        } else {
            jarena_resume(arena);
        }
        char err[128];
        json_t *rec = jsonin_parse(v.mv_data, v.mv_size, err, sizeof err);
        jarena_end(arena);
        if (!rec) {
            s->bad++;
            continue;
        }
        r = s->each(s->arg, txn, rec);
        json_decref(rec);
        if (r)
            break;
    }
    jarena_release(arena);
    mdb_cursor_close(cur);
    store_read_end(s->st, txn);
    if (r)
        return r;
    if (rc == MDB_NOTFOUND)
        *done = 1;
    else if (rc)
        return store_err(rc);
    return 0;
}

/* ---- the records read ahead (score_scan.ahead) ---- */

/* Unit j holds the records of seqs (j * RECORDS, (j + 1) * RECORDS]
 * (the log's seqs are dense, from 1), so that the readers read theirs
 * without waiting for the unit before. */
#define RECORDS SCORE_SCAN_AHEAD_RECORDS
#define SLOTS SCORE_SCAN_AHEAD_UNITS

struct unit {
    json_t *rec[RECORDS];      /* NULL: not JSON (or read by prepare) */
    uint8_t prepared[RECORDS]; /* with prepare: read (else not JSON) */
    unsigned char *pre;        /* prepare()'s, prepare_size bytes per record */
    struct score_pool pool;    /* what they point to */
    size_t n;
    uint64_t j; /* which unit it holds (filled) */
    int filled;
    struct jarena *arena;
    int last; /* the log (up to upto) ends with these */
    int rc;   /* a store error, or -ECANCELED from pace(): instead of these */
};

/* The units in a ring: unit j in slot[j % SLOTS], filled by a reader
 * once unit j - SLOTS is taken; each() takes them in order (tail).  A
 * unit taken is freed by the reader that fills its slot next, off the
 * run's thread. */
struct ahead {
    struct score_scan *s;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct unit slot[SLOTS];
    uint64_t next, tail; /* the next unit a reader takes; the next each() takes */
    int stop;
};

static void unit_clear(struct unit *u)
{
    /* Arena values are given back with it; what malloc gave (large
     * blocks) is freed by the decref. */
    for (size_t i = 0; i < u->n; i++)
        json_decref(u->rec[i]);
    jarena_release(u->arena);
    score_pool_reset(&u->pool);
    u->arena = NULL;
    u->n = 0;
    u->last = u->rc = 0;
}

/* Read and parse unit u->j's records into u, in a read transaction of
 * its own, closed before it returns. */
static void read_unit(struct score_scan *s, struct unit *u)
{
    uint64_t from = u->j * RECORDS + 1, to = from + RECORDS - 1;
    if (to >= s->upto) {
        to = s->upto;
        u->last = 1;
    }
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = store_read_begin(s->st, &txn);
    if (rc) {
        u->rc = rc;
        return;
    }
    if ((rc = mdb_cursor_open(txn, s->st->log, &cur))) {
        store_read_end(s->st, txn);
        u->rc = store_err(rc);
        return;
    }
    MDB_val k = {sizeof from, &from}, v;
    u->arena = jarena_begin();
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && u->n < RECORDS;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint64_t seq;
        if (kanal_store_u64(k.mv_data, k.mv_size, &seq) != 0)
            continue;
        if (seq > to)
            break;
        if (s->prepare) {
            /* Read from the text: NULL, and not prepared when not JSON. */
            void *out = u->pre + u->n * s->prepare_size;
            u->prepared[u->n] = s->prepare(v.mv_data, v.mv_size, out, &u->pool) == 0;
            u->rec[u->n++] = NULL;
            continue;
        }
        char err[128];
        u->rec[u->n++] = jsonin_parse(v.mv_data, v.mv_size, err, sizeof err);
    }
    jarena_end(u->arena);
    mdb_cursor_close(cur);
    store_read_end(s->st, txn);
    if (rc && rc != MDB_NOTFOUND)
        u->rc = store_err(rc);
}

static void *reader_main(void *arg)
{
    struct ahead *a = arg;
    pthread_mutex_lock(&a->mu);
    while (!a->stop) {
        uint64_t j = a->next;
        if (j * RECORDS >= a->s->upto)
            break; /* every unit taken */
        while (!a->stop && j >= a->tail + SLOTS)
            pthread_cond_wait(&a->cv, &a->mu);
        if (a->stop)
            break;
        if (a->next != j)
            continue; /* another reader took it meanwhile */
        a->next++;
        struct unit *u = &a->slot[j % SLOTS];
        /* The slot's state changes under the lock only: each() looks at
         * it (filled, j) while waiting for unit j. */
        u->filled = 0;
        u->j = j;
        pthread_mutex_unlock(&a->mu);
        unit_clear(u); /* taken before, or never filled */
        if (a->s->pace && a->s->pace(a->s->arg))
            u->rc = -ECANCELED;
        else
            read_unit(a->s, u);
        pthread_mutex_lock(&a->mu);
        u->filled = 1;
        pthread_cond_broadcast(&a->cv);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* each() over the units in order, a read transaction per unit. */
static int take_units(struct score_scan *s, struct ahead *a)
{
    size_t chunk = s->chunk ? s->chunk : 4096, since = 0;
    for (;;) {
        pthread_mutex_lock(&a->mu);
        struct unit *u = &a->slot[a->tail % SLOTS];
        while (!(u->filled && u->j == a->tail))
            pthread_cond_wait(&a->cv, &a->mu);
        pthread_mutex_unlock(&a->mu);
        int r = u->rc;
        if (u->n && r == 0) {
            MDB_txn *txn;
            if ((r = store_read_begin(s->st, &txn)))
                return r;
            for (size_t i = 0; i < u->n && r == 0; i++) {
                s->records++;
                if (s->prepare ? !u->prepared[i] : !u->rec[i]) {
                    s->bad++;
                    continue;
                }
                s->prepared = s->prepare ? u->pre + i * s->prepare_size : NULL;
                r = s->each(s->arg, txn, u->rec[i]);
            }
            s->prepared = NULL;
            store_read_end(s->st, txn);
        }
        int last = u->last;
        since += u->n;
        pthread_mutex_lock(&a->mu);
        u->filled = 0;
        a->tail++;
        pthread_cond_broadcast(&a->cv);
        pthread_mutex_unlock(&a->mu);
        if (r || last)
            return r;
        if (since >= chunk) {
            since = 0;
            if (s->between && s->between(s->arg))
                return -ECANCELED;
        }
    }
}

/* What take_units returned, *started 0 when no thread could be started
 * for the reading (then nothing was read). */
static int scan_ahead(struct score_scan *s, int *started_out)
{
    struct ahead *a = xcalloc(1, sizeof *a);
    a->s = s;
    for (size_t i = 0; s->prepare && i < SLOTS; i++)
        a->slot[i].pre = xmalloc(RECORDS * s->prepare_size);
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    pthread_t t[SCORE_SCAN_AHEAD_READERS];
    int started = 0, rc = 0;
    while (started < SCORE_SCAN_AHEAD_READERS &&
           pthread_create(&t[started], NULL, reader_main, a) == 0)
        started++;
    if ((*started_out = started > 0))
        rc = take_units(s, a);
    pthread_mutex_lock(&a->mu);
    a->stop = 1;
    pthread_cond_broadcast(&a->cv);
    pthread_mutex_unlock(&a->mu);
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    for (size_t i = 0; i < SLOTS; i++) {
        unit_clear(&a->slot[i]);
        score_pool_free(&a->slot[i].pool);
        free(a->slot[i].pre);
    }
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
    free(a);
    return rc;
}

#undef RECORDS
#undef SLOTS

int score_scan_run(struct score_scan *s)
{
    s->records = s->bad = 0;
    if (s->upto == 0)
        return 0;
    if (s->ahead && !s->peek) {
        int started, rc = scan_ahead(s, &started);
        if (started)
            return rc;
        /* No thread for the reading (nothing was read): read here. */
    }
    uint64_t after = 0;
    for (;;) {
        int done = 0, rc = scan_chunk(s, &after, &done);
        if (rc || done)
            return rc;
        if (s->between && s->between(s->arg))
            return -ECANCELED;
    }
}

int score_crm_values(struct store *st, struct score_build *b)
{
    /* A run's people are read once, by its first audience. */
    if (!b->people->monetary) {
        MDB_txn *txn;
        int rc = store_read_begin(st, &txn);
        if (rc)
            return rc;
        crm_people(st, txn, b->people);
        store_read_end(st, txn);
    }
    crm_values(st, NULL, b);
    return 0;
}
