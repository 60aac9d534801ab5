/* SPDX-License-Identifier: Apache-2.0 */
/* Scores kept in the store (keep.h): the runs on one snapshot, and an
 * audience's document made into rows and kept; the reads are in
 * keepread.c. */
#include "keep.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "collect.h"
#include "contacts.h"
#include "keep_int.h"
#include "result.h"
#include "store.h"
#include "util.h"

int score_run(struct store *st, const struct audience *auds, size_t n, int64_t now_ms,
              int64_t half_life_ms, json_t **docs, uint64_t *seq)
{
    return score_run_with(st, auds, n, now_ms, half_life_ms, NULL, docs, seq);
}

int score_run_with(struct store *st, const struct audience *auds, size_t n, int64_t now_ms,
                   int64_t half_life_ms, const struct score_params *params, json_t **docs,
                   uint64_t *seq)
{
    for (size_t i = 0; i < n; i++)
        docs[i] = NULL;
    *seq = 0;
    MDB_txn *txn;
    int rc = store_read_begin(st, &txn);
    if (rc)
        return rc;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct score_build b;
        size_t bad;
        rc = score_collect(st, txn, &auds[i], now_ms, half_life_ms, &b, seq, &bad);
        if (rc)
            break;
        if (params)
            b.params = *params;
        docs[i] = score_result(auds[i].id, *seq, &b);
        score_build_free(&b);
    }
    store_read_end(st, txn);
    if (rc)
        for (size_t i = 0; i < n; i++) {
            json_decref(docs[i]);
            docs[i] = NULL;
        }
    return rc;
}

static const char *const order_names[SCORE_ORDERS] = {"influence", "reach", "value",
                                                      "advocacy",  "risk",  "advocates"};

const char *score_order_name(enum score_order o)
{
    return (unsigned)o < SCORE_ORDERS ? order_names[o] : "";
}

int score_order_of(const char *name)
{
    for (int o = 0; o < SCORE_ORDER_ADVOCATES; o++)
        if (strcmp(order_names[o], name) == 0)
            return o;
    return -1;
}

/* ---- a document made into rows ---- */

/* What a row is ranked by in each order, noted as the row is made (its
 * JSON is not held): the five keys, which of them it has, and whether it
 * is an advocate. */
struct score_kept_keys {
    double key[SCORE_ORDER_ADVOCATES];
    uint8_t has, advocate;
};

/* Rows' bytes are appended to blocks of this size (a bigger row gets one
 * of its own): no block is moved once written, so the rows' pointers
 * stay, and a large audience never needs twice its rows at a realloc. */
#define KEPT_BLOCK ((size_t)1 << 20)

struct score_kept_block {
    struct score_kept_block *next;
    size_t used, cap;
    char bytes[];
};

static char *kept_alloc(struct score_kept *k, size_t len)
{
    struct score_kept_block *b = k->blocks;
    if (!b || b->cap - b->used < len) {
        size_t cap = len > KEPT_BLOCK ? len : KEPT_BLOCK;
        b = xmalloc(sizeof *b + cap);
        b->used = 0;
        b->cap = cap;
        b->next = k->blocks;
        k->blocks = b;
    }
    char *p = b->bytes + b->used;
    b->used += len;
    return p;
}

struct ranked {
    const char *id;
    size_t at; /* the row's place in the document */
};

static int by_id(const void *a, const void *b)
{
    const struct ranked *x = a, *y = b;
    return strcmp(x->id ? x->id : "", y->id ? y->id : "");
}

/* A row in one order: its sort key as an unsigned integer (below) and
 * its place in the document. */
struct sorted {
    uint64_t key;
    uint32_t at;
};

/* An order's key as an integer that sorts the same way: highest first,
 * rows without the number last (UINT64_MAX, which no finite key has), and
 * equal numbers equal (0 and -0 too), so that they tie. */
static uint64_t sort_key(int has, double d)
{
    if (!has)
        return UINT64_MAX;
    if (d == 0)
        d = 0; /* -0 ties with 0 */
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    uint64_t up = u >> 63 ? ~u : u | (uint64_t)1 << 63; /* ascending */
    return ~up;
}

/* Sort r (m rows) by key, stably: a least significant digit radix sort,
 * a byte at a time, skipping the bytes every key shares (most rows tie on
 * reach, value, advocacy and risk).  The rows come in contact id order,
 * so ties stay in it: the ids are compared once per audience, not in
 * every order's comparisons. */
static void radix_sort(struct sorted *r, struct sorted *tmp, size_t m)
{
    size_t count[8][256];
    memset(count, 0, sizeof count);
    for (size_t i = 0; i < m; i++)
        for (int d = 0; d < 8; d++)
            count[d][(r[i].key >> (8 * d)) & 0xff]++;
    for (int d = 0; d < 8; d++) {
        if (m == 0 || count[d][(r[0].key >> (8 * d)) & 0xff] == m)
            continue; /* every key has the same byte here */
        size_t sum = 0;
        for (int b = 0; b < 256; b++) {
            size_t c = count[d][b];
            count[d][b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < m; i++)
            tmp[count[d][(r[i].key >> (8 * d)) & 0xff]++] = r[i];
        memcpy(r, tmp, m * sizeof *r);
    }
}

/* The sort key of row in the order named name: row.influence, row.reach,
 * or row.NAME.score (value, advocacy, risk).  0 when the row has none. */
static int row_key(json_t *row, const char *name, double *out)
{
    json_t *v = json_object_get(row, name);
    if (json_is_object(v))
        v = json_object_get(v, "score");
    if (!json_is_number(v) || !isfinite(json_number_value(v)))
        return 0;
    *out = json_number_value(v);
    return 1;
}

void score_kept_free(struct score_kept *k)
{
    while (k->blocks) {
        struct score_kept_block *next = k->blocks->next;
        free(k->blocks);
        k->blocks = next;
    }
    free(k->rows);
    free(k->idorder);
    free(k->keys);
    free(k->summary);
    free(k->id);
    memset(k, 0, sizeof *k);
}

int score_kept_begin(struct score_kept *k, const char *id)
{
    memset(k, 0, sizeof *k);
    if (!id || !*id || strlen(id) > SCORE_KEY_ID_MAX || memchr(id, '\x01', strlen(id)))
        return EINVAL;
    k->id = xstrdup(id);
    return 0;
}

int score_kept_text(struct score_kept *k, const struct score_row_text *row)
{
    if (k->rc)
        return k->rc;
    const char *cid = row->contact;
    if (!row->text || !cid || !*cid || strlen(cid) > SCORE_KEY_ID_MAX)
        return k->rc = EINVAL;
    if (k->nrows == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 64;
        k->rows = xrealloc(k->rows, k->cap * sizeof *k->rows);
        k->keys = xrealloc(k->keys, k->cap * sizeof *k->keys);
    }
    struct score_kept_keys *kk = &k->keys[k->nrows];
    memset(kk, 0, sizeof *kk);
    for (int o = 0; o < SCORE_ORDER_ADVOCATES; o++)
        if ((row->has >> o) & 1) {
            kk->key[o] = row->key[o];
            kk->has |= (uint8_t)(1u << o);
        }
    kk->advocate = row->advocate != 0;
    size_t clen = strlen(cid), len = row->len;
    struct score_kept_row *kr = &k->rows[k->nrows];
    kr->contact = kept_alloc(k, clen + 1);
    memcpy(kr->contact, cid, clen + 1);
    kr->len = SCORE_ROW_HEAD + len;
    kr->value = kept_alloc(k, kr->len);
    score_key_u32(kr->value, (uint32_t)k->nrows);
    memcpy(kr->value + SCORE_ROW_HEAD, row->text, len);
    k->nrows++;
    return 0;
}

int score_kept_row(struct score_kept *k, json_t *row)
{
    if (k->rc)
        return k->rc;
    struct score_row_text rt = {.contact = json_string_value(json_object_get(row, "contact"))};
    for (int o = 0; o < SCORE_ORDER_ADVOCATES; o++)
        if (row_key(row, order_names[o], &rt.key[o]))
            rt.has |= 1u << o;
    rt.advocate = json_is_true(json_object_get(json_object_get(row, "advocacy"), "advocate"));
    char *text = NULL;
    if (rt.contact) {
        if (!(text = json_dumps(row, JSON_COMPACT)))
            return k->rc = ENOMEM;
        rt.text = text;
        rt.len = strlen(text);
    }
    int rc = score_kept_text(k, &rt);
    free(text);
    return rc;
}

/* k's rows in contact id order into r (n of them): by their ids' first
 * eight bytes as a big-endian integer (radix_sort, stable), then the
 * rows whose first eight bytes tie by the whole id (a contact id
 * "c<N>" is rarely longer). */
static void by_id_order(const struct score_kept *k, struct ranked *r)
{
    size_t n = k->nrows;
    struct sorted *sr = xmalloc((n ? n : 1) * sizeof *sr);
    struct sorted *tmp = xmalloc((n ? n : 1) * sizeof *tmp);
    for (size_t i = 0; i < n; i++) {
        const unsigned char *id = (const unsigned char *)k->rows[i].contact;
        uint64_t key = 0;
        size_t j = 0;
        for (; j < 8 && id[j]; j++)
            key = key << 8 | id[j];
        key <<= 8 * (8 - j);
        sr[i] = (struct sorted){key, (uint32_t)i}; /* radix_sort: ascending */
    }
    radix_sort(sr, tmp, n);
    for (size_t i = 0; i < n; i++)
        r[i] = (struct ranked){.id = k->rows[sr[i].at].contact, .at = sr[i].at};
    for (size_t a = 0, b; a < n; a = b) {
        for (b = a + 1; b < n && sr[b].key == sr[a].key; b++)
            ;
        if (b - a > 1)
            qsort(r + a, b - a, sizeof *r, by_id);
    }
    free(sr);
    free(tmp);
}

int score_kept_end(struct score_kept *k, json_t *summary)
{
    int rc = k->rc;
    size_t n = k->nrows;
    /* Each order's ranks, written into the rows' heads. */
    struct ranked *r = rc ? NULL : xcalloc(n ? n : 1, sizeof *r);
    if (rc == 0) {
        by_id_order(k, r);
        k->idorder = xmalloc((n ? n : 1) * sizeof *k->idorder);
        for (size_t i = 0; i < n; i++)
            k->idorder[i] = (uint32_t)r[i].at;
    }
    free(r);
    struct sorted *sr = rc ? NULL : xmalloc((n ? n : 1) * sizeof *sr);
    struct sorted *tmp = rc ? NULL : xmalloc((n ? n : 1) * sizeof *tmp);
    for (int o = 0; rc == 0 && o < SCORE_ORDERS; o++) {
        int ko = o == SCORE_ORDER_ADVOCATES ? SCORE_ORDER_ADVOCACY : o;
        size_t m = 0;
        for (size_t j = 0; j < n; j++) {
            uint32_t i = k->idorder[j]; /* in contact id order: the ties' */
            score_key_u32(k->rows[i].value + 4 * (1 + o), SCORE_NO_RANK);
            if (o == SCORE_ORDER_ADVOCATES && !k->keys[i].advocate)
                continue;
            sr[m++] = (struct sorted){sort_key((k->keys[i].has >> ko) & 1, k->keys[i].key[ko]), i};
        }
        radix_sort(sr, tmp, m);
        for (size_t i = 0; i < m; i++)
            score_key_u32(k->rows[sr[i].at].value + 4 * (1 + o), (uint32_t)i);
    }
    free(sr);
    free(tmp);
    free(k->keys);
    k->keys = NULL;
    if (rc == 0) {
        k->summary = json_dumps(summary, JSON_COMPACT);
        if (!k->summary)
            rc = ENOMEM;
        else
            k->summary_len = strlen(k->summary);
    }
    if (rc)
        score_kept_free(k);
    return rc;
}

int score_kept_make(json_t *doc, struct score_kept *k)
{
    int rc = score_kept_begin(k, json_string_value(json_object_get(doc, "audience")));
    if (rc)
        return rc;
    json_t *rows = json_object_get(doc, "contacts");
    for (size_t i = 0; i < json_array_size(rows); i++)
        score_kept_row(k, json_array_get(rows, i));
    json_t *sum = json_copy(doc); /* shallow: the rows are not copied */
    json_object_del(sum, "contacts");
    rc = score_kept_end(k, sum);
    json_decref(sum);
    return rc;
}

/* Whether the row key at p (the key past "AUD \0 r \0", rest bytes)
 * names a row just put: the cursor walks the rows in key order, and
 * *at walks k's rows in contact id order beside it (LMDB's order of two
 * keys is strcmp's for ids without a NUL). */
static int row_put_now(const struct score_kept *k, const uint8_t *put, size_t *at, const char *p,
                       size_t rest)
{
    while (*at < k->nrows) {
        const char *c = k->rows[k->idorder[*at]].contact;
        size_t cl = strlen(c), n = cl < rest ? cl : rest;
        int cmp = memcmp(c, p, n);
        if (cmp == 0)
            cmp = cl < rest ? -1 : cl > rest;
        if (cmp > 0)
            return 0;
        if (cmp == 0)
            return put[k->idorder[*at]];
        ++*at;
    }
    return 0;
}

/* Each order's ranks of the rows put: at[rank] the row (UINT32_MAX a
 * gap: a row not put), m the ranks, parts the keys they take. */
struct order_ranks {
    uint32_t *at;
    size_t m, parts;
};

static void ranks_of(const struct score_kept *k, const uint8_t *put, int o, struct order_ranks *r)
{
    size_t n = k->nrows;
    r->at = xmalloc((n ? n : 1) * sizeof *r->at);
    memset(r->at, 0xff, (n ? n : 1) * sizeof *r->at);
    r->m = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t rank = score_key_get_u32(k->rows[i].value + 4 * (1 + o));
        if (put[i] && rank != SCORE_NO_RANK && rank < n) {
            r->at[rank] = (uint32_t)i;
            if (rank + 1 > r->m)
                r->m = rank + 1;
        }
    }
    r->parts = (r->m + SCORE_RANKS_PER_KEY - 1) / SCORE_RANKS_PER_KEY;
}

/* The most a ranks key's value holds. */
#define PART_MAX ((size_t)SCORE_RANKS_PER_KEY * (SCORE_KEY_ID_MAX + 1))

/* Part part of an order's ranks: its key and value (buf, PART_MAX bytes). */
static void part_of(const struct score_kept *k, const struct order_ranks *r, int o, uint32_t part,
                    struct score_key *key, char *buf, MDB_val *val)
{
    size_t len = 0, end = ((size_t)part + 1) * SCORE_RANKS_PER_KEY;
    for (size_t x = (size_t)part * SCORE_RANKS_PER_KEY; x < r->m && x < end; x++) {
        const char *cid = r->at[x] == UINT32_MAX ? "" : k->rows[r->at[x]].contact;
        size_t c = strlen(cid) + 1;
        memcpy(buf + len, cid, c);
        len += c;
    }
    score_key_ranks(key, k->id, (enum score_order)o, part);
    *val = (MDB_val){len, buf};
}

/* Whether key (of audience k->id, its prefix plen bytes long: the id and
 * its NUL) is one of the keys just put. */
static int put_now(const struct score_kept *k, const uint8_t *put, const struct order_ranks *ranks,
                   size_t *at, const MDB_val *key, size_t plen)
{
    const char *p = (const char *)key->mv_data + plen;
    size_t rest = key->mv_size - plen;
    if (rest > 2 && p[0] == 'r' && p[1] == '\0')
        return row_put_now(k, put, at, p + 2, rest - 2);
    if (rest > 2 && p[0] == 'p' && p[1] == '\0')
        for (int o = 0; o < SCORE_ORDERS; o++) {
            size_t c = strlen(order_names[o]);
            if (rest == 2 + c + 1 + 4 && memcmp(p + 2, order_names[o], c) == 0 && p[2 + c] == '\0')
                return score_key_get_u32(p + 3 + c) < ranks[o].parts;
        }
    return 0;
}

/* The audience's keys that are not among those just put: deleted, in one
 * cursor walk over its range (its summary is before it, and was just
 * put).  After a delete the cursor stands on the next key: MDB_NEXT reads
 * it, no seek again. */
static int del_stale(struct store *st, MDB_txn *txn, const struct score_kept *k, const uint8_t *put,
                     const struct order_ranks *ranks)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, st->scores, &cur);
    if (rc)
        return rc;
    struct score_key start;
    size_t plen = score_key_start(&start, k->id, 'o') - 2, at = 0;
    MDB_val key = {plen, start.buf}, v;
    for (rc = mdb_cursor_get(cur, &key, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &key, &v, MDB_NEXT)) {
        if (key.mv_size < plen || memcmp(key.mv_data, start.buf, plen) != 0)
            break;
        if (!put_now(k, put, ranks, &at, &key, plen) && (rc = mdb_cursor_del(cur, 0)))
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* ---- a run kept over the last run's keys in one cursor walk ---- */

/* The cursor over an audience's range (its keys start with the plen bytes
 * of pre) and the key it stands on, *end past the range. */
struct walk {
    MDB_cursor *cur;
    MDB_val ck, cv;
    const char *pre;
    size_t plen;
    int end;
};

/* The answer of a cursor get: the key stood on, or the range's end. */
static int walk_at(struct walk *w, int rc)
{
    if (rc == MDB_NOTFOUND ||
        (rc == 0 && (w->ck.mv_size < w->plen || memcmp(w->ck.mv_data, w->pre, w->plen) != 0))) {
        w->end = 1;
        return 0;
    }
    return rc;
}

/* LMDB's order of two keys (its default comparison). */
static int key_cmp(const MDB_val *a, const MDB_val *b)
{
    size_t n = a->mv_size < b->mv_size ? a->mv_size : b->mv_size;
    int c = memcmp(a->mv_data, b->mv_data, n);
    if (c)
        return c;
    return a->mv_size < b->mv_size ? -1 : a->mv_size > b->mv_size;
}

/* Put key (each key greater than the last one put) where the cursor
 * walks: the last run's keys before it are deleted, the same key is
 * overwritten where it is and only when its value changed (a page none
 * of whose keys changed is never dirtied), a new one inserted.  After a
 * delete or a put the cursor stands on, or is moved to, the next key: no
 * seek from the root per key. */
static int walk_put(struct walk *w, MDB_val *key, MDB_val *val)
{
    int rc;
    while (!w->end) {
        int c = key_cmp(&w->ck, key);
        if (c > 0)
            break;
        if (c == 0) {
            if ((w->cv.mv_size != val->mv_size ||
                 memcmp(w->cv.mv_data, val->mv_data, val->mv_size) != 0) &&
                (rc = mdb_cursor_put(w->cur, key, val, MDB_CURRENT)))
                return rc;
            return walk_at(w, mdb_cursor_get(w->cur, &w->ck, &w->cv, MDB_NEXT));
        }
        if ((rc = mdb_cursor_del(w->cur, 0)) ||
            (rc = walk_at(w, mdb_cursor_get(w->cur, &w->ck, &w->cv, MDB_NEXT))))
            return rc;
    }
    if ((rc = mdb_cursor_put(w->cur, key, val, 0)))
        return rc;
    return walk_at(w, mdb_cursor_get(w->cur, &w->ck, &w->cv, MDB_NEXT));
}

/* The orders by name, as their keys sort: advocacy, advocates,
 * influence, reach, risk, value. */
static void orders_by_name(int *byname)
{
    for (int o = 0; o < SCORE_ORDERS; o++)
        byname[o] = o;
    for (int a = 1; a < SCORE_ORDERS; a++)
        for (int b = a; b > 0 && strcmp(order_names[byname[b - 1]], order_names[byname[b]]) > 0;
             b--) {
            int t = byname[b];
            byname[b] = byname[b - 1];
            byname[b - 1] = t;
        }
}

/* The rows put (put[i]) and their ranks put in key order, in one cursor
 * walk over the last run's: each order's ranks by part, then the rows by
 * contact id; what the walk passes that the new run has not is deleted. */
static int put_in_key_order(struct store *st, MDB_txn *txn, const struct score_kept *k,
                            const uint8_t *put, const struct order_ranks *ranks)
{
    size_t n = k->nrows;
    struct score_key start, key;
    struct walk w = {.pre = start.buf};
    w.plen = score_key_start(&start, k->id, 'p') - 2; /* the id and its NUL */
    int rc = mdb_cursor_open(txn, st->scores, &w.cur);
    if (rc == 0) {
        w.ck = (MDB_val){w.plen, start.buf};
        rc = walk_at(&w, mdb_cursor_get(w.cur, &w.ck, &w.cv, MDB_SET_RANGE));
    }
    int byname[SCORE_ORDERS];
    orders_by_name(byname);
    char *buf = xmalloc(PART_MAX);
    for (int x = 0; x < SCORE_ORDERS && rc == 0; x++) {
        int o = byname[x];
        for (size_t part = 0; part < ranks[o].parts && rc == 0; part++) {
            MDB_val pv;
            part_of(k, &ranks[o], o, (uint32_t)part, &key, buf, &pv);
            MDB_val pk = key.val;
            rc = walk_put(&w, &pk, &pv);
        }
    }
    free(buf);
    for (size_t x = 0; x < n && rc == 0; x++) {
        const struct score_kept_row *kr = &k->rows[k->idorder[x]];
        if (!put[k->idorder[x]])
            continue;
        score_key_row(&key, k->id, kr->contact);
        MDB_val rk = key.val, rv = {kr->len, kr->value};
        rc = walk_put(&w, &rk, &rv);
    }
    /* The last run's keys past the new ones. */
    while (rc == 0 && !w.end)
        if ((rc = mdb_cursor_del(w.cur, 0)) == 0)
            rc = walk_at(&w, mdb_cursor_get(w.cur, &w.ck, &w.cv, MDB_NEXT));
    if (w.cur)
        mdb_cursor_close(w.cur);
    return rc;
}

/* put[i] = 1 for each row whose contact the store still has (not erased
 * since the run's snapshot), *dropped (may be NULL) counting the others.
 * The contacts are looked up in id order with one cursor: LMDB looks on
 * the cursor's page first, so most need no seek from the root. */
static int rows_still_there(struct store *st, MDB_txn *txn, const struct score_kept *k,
                            uint8_t *put, size_t *dropped)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, st->contacts, &cur);
    if (rc)
        return rc;
    for (size_t x = 0; x < k->nrows && rc == 0; x++) {
        uint32_t i = k->idorder[x];
        MDB_val ck = {strlen(k->rows[i].contact), k->rows[i].contact}, cv;
        int g = mdb_cursor_get(cur, &ck, &cv, MDB_SET);
        if (g == 0)
            put[i] = 1;
        else if (g == MDB_NOTFOUND && dropped)
            (*dropped)++;
        else if (g != MDB_NOTFOUND)
            rc = g;
    }
    mdb_cursor_close(cur);
    return rc;
}

/* The audience's keys are put over the last run's.  When the last run
 * kept about as many rows or more (a run every score_interval: mostly
 * the same contacts at the same ranks), in key order in one cursor walk
 * (put_in_key_order): a key that stays is overwritten only when its
 * value changed, so the transaction dirties only the pages that change,
 * and no key is sought from the root.  Otherwise (the first run, or an
 * audience that grew) in the document's order, then the keys the new run
 * has not deleted in one cursor walk: LMDB splits a full page in the
 * middle, so many new keys put in key order would leave every page half
 * full, where the document's order fills them to about two thirds (LMDB
 * holds every page a transaction dirties in memory until it commits). */
int score_kept_put(struct store *st, MDB_txn *txn, const struct score_kept *k, int check_gone,
                   size_t *dropped)
{
    if (dropped)
        *dropped = 0;
    size_t n = k->nrows;
    if (n && !k->idorder)
        return EINVAL; /* not made by score_kept_end */
    uint8_t *put = xcalloc(n ? n : 1, 1);
    struct order_ranks ranks[SCORE_ORDERS] = {0};
    uint32_t kept = 0;
    int rc = check_gone ? rows_still_there(st, txn, k, put, dropped) : 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct score_kept_row *kr = &k->rows[i];
        if (check_gone && !put[i])
            continue;
        /* Places without gaps: a contact's "rank" in its audiences is its
         * place among the rows kept. */
        score_key_u32(kr->value, kept++);
        put[i] = 1;
    }
    for (int o = 0; o < SCORE_ORDERS && rc == 0; o++)
        ranks_of(k, put, o, &ranks[o]);
    MDB_val sk = {strlen(k->id), k->id}, sv;
    int had = rc == 0 ? mdb_get(txn, st->scores, &sk, &sv) : 0;
    if (had && had != MDB_NOTFOUND)
        rc = had;
    if (rc == 0 && had == 0 && sv.mv_size >= 4 &&
        10 * (uint64_t)score_key_get_u32(sv.mv_data) >= 9 * (uint64_t)kept) {
        rc = put_in_key_order(st, txn, k, put, ranks);
    } else {
        struct score_key key;
        for (size_t i = 0; i < n && rc == 0; i++) {
            const struct score_kept_row *kr = &k->rows[i];
            if (!put[i])
                continue;
            score_key_row(&key, k->id, kr->contact);
            MDB_val rk = key.val, rv = {kr->len, kr->value};
            if ((rc = mdb_put(txn, st->scores, &rk, &rv, 0)))
                break;
        }
        char *buf = xmalloc(PART_MAX);
        for (int o = 0; o < SCORE_ORDERS && rc == 0; o++)
            for (size_t part = 0; part < ranks[o].parts && rc == 0; part++) {
                MDB_val pv;
                part_of(k, &ranks[o], o, (uint32_t)part, &key, buf, &pv);
                rc = mdb_put(txn, st->scores, &key.val, &pv, 0);
            }
        free(buf);
        if (rc == 0)
            rc = del_stale(st, txn, k, put, ranks);
    }
    if (rc == 0) {
        size_t len = 4 + k->summary_len;
        char *v = xmalloc(len);
        score_key_u32(v, kept);
        memcpy(v + 4, k->summary, k->summary_len);
        sv = (MDB_val){len, v};
        rc = mdb_put(txn, st->scores, &sk, &sv, 0);
        free(v);
    }
    free(put);
    for (int o = 0; o < SCORE_ORDERS; o++)
        free(ranks[o].at);
    return rc;
}

int score_put(struct store *st, MDB_txn *txn, json_t *result)
{
    struct score_kept k;
    int rc = score_kept_make(result, &k);
    if (rc)
        return rc;
    rc = score_kept_put(st, txn, &k, 0, NULL);
    score_kept_free(&k);
    return rc;
}

/* Remove from doc's contacts the rows keep() refuses: how many went. */
static size_t drop_rows(json_t *doc, int (*keep)(void *arg, const char *cid), void *arg)
{
    json_t *rows = json_object_get(doc, "contacts");
    size_t dropped = 0;
    for (size_t i = 0; i < json_array_size(rows);) {
        const char *cid = json_string_value(json_object_get(json_array_get(rows, i), "contact"));
        if (cid && !keep(arg, cid)) {
            json_array_remove(rows, i);
            dropped++;
        } else {
            i++;
        }
    }
    return dropped;
}

struct gone {
    struct store *st;
    MDB_txn *txn;
    json_t *memo;
};

static int still_there(void *arg, const char *cid)
{
    struct gone *g = arg;
    json_t *known = g->memo ? json_object_get(g->memo, cid) : NULL;
    if (known)
        return json_is_true(known);
    MDB_val k = {strlen(cid), (void *)cid}, v;
    int there = mdb_get(g->txn, g->st->contacts, &k, &v) != MDB_NOTFOUND;
    if (g->memo)
        json_object_set_new(g->memo, cid, json_boolean(there));
    return there;
}

size_t score_drop_gone(struct store *st, MDB_txn *txn, json_t *result, json_t *memo)
{
    struct gone g = {st, txn, memo};
    return drop_rows(result, still_there, &g);
}
