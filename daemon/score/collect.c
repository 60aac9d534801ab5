/* SPDX-License-Identifier: Apache-2.0 */
/* An audience's graph from a read snapshot of the store (collect.h). */
#include "collect.h"

#include <errno.h>
#include <string.h>

#include "contacts.h"
#include "jarena.h"
#include "jsonin.h"
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

int score_scan_run(struct score_scan *s)
{
    s->records = s->bad = 0;
    if (s->upto == 0)
        return 0;
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
