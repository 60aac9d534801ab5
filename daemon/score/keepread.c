/* SPDX-License-Identifier: Apache-2.0 */
/* The kept scores read back, row by row, and deleted (keep.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "keep.h"
#include "keep_int.h"
#include "store.h"
#include "util.h"

/* An audience id a key can be: not empty, short enough, no NUL or \x01
 * (the separator, and the bound of its range). */
static int id_ok(const char *id)
{
    size_t n = strlen(id);
    return n && n <= SCORE_KEY_ID_MAX && !memchr(id, '\x01', n);
}

int score_key_del_audience(struct store *st, MDB_txn *txn, const char *id)
{
    MDB_val k = {strlen(id), (void *)id}, v;
    int rc = mdb_del(txn, st->scores, &k, NULL);
    if (rc && rc != MDB_NOTFOUND)
        return rc;
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, st->scores, &cur)))
        return rc;
    struct score_key start;
    size_t n = score_key_start(&start, id, 'o') - 2; /* id and its NUL */
    /* One walk: after a delete the cursor stands on the next key, which
     * MDB_NEXT reads (no seek again per key). */
    k = (MDB_val){n, start.buf};
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < n || memcmp(k.mv_data, start.buf, n) != 0)
            break;
        if ((rc = mdb_cursor_del(cur, 0)))
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* The summary's value into *doc and *rows. */
static int parse_summary(const MDB_val *v, json_t **doc, size_t *rows)
{
    json_t *d = v->mv_size > 4 ? json_loadb((char *)v->mv_data + 4, v->mv_size - 4, 0, NULL) : NULL;
    if (!json_is_object(d)) {
        json_decref(d);
        return MDB_CORRUPTED;
    }
    *doc = d;
    *rows = score_key_get_u32(v->mv_data);
    return 0;
}

int score_summary_get(struct store *st, MDB_txn *txn, const char *audience, json_t **out,
                      size_t *rows)
{
    *out = NULL;
    *rows = 0;
    if (!id_ok(audience))
        return MDB_NOTFOUND;
    MDB_val k = {strlen(audience), (void *)audience}, v;
    int rc = mdb_get(txn, st->scores, &k, &v);
    return rc ? rc : parse_summary(&v, out, rows);
}

static int parse_row(const MDB_val *v, json_t **row, uint32_t *place)
{
    json_t *r = v->mv_size > SCORE_ROW_HEAD ? json_loadb((char *)v->mv_data + SCORE_ROW_HEAD,
                                                         v->mv_size - SCORE_ROW_HEAD, 0, NULL)
                                            : NULL;
    if (!json_is_object(r)) {
        json_decref(r);
        return MDB_CORRUPTED;
    }
    *row = r;
    if (place)
        *place = score_key_get_u32(v->mv_data);
    return 0;
}

int score_row_get(struct store *st, MDB_txn *txn, const char *audience, const char *cid,
                  json_t **row, uint32_t *place)
{
    *row = NULL;
    if (!id_ok(audience) || !*cid || strlen(cid) > SCORE_KEY_ID_MAX)
        return MDB_NOTFOUND;
    struct score_key key;
    score_key_row(&key, audience, cid);
    MDB_val v;
    int rc = mdb_get(txn, st->scores, &key.val, &v);
    return rc ? rc : parse_row(&v, row, place);
}

struct placed {
    uint32_t place;
    json_t *row;
};

static int by_place(const void *a, const void *b)
{
    const struct placed *x = a, *y = b;
    return x->place < y->place ? -1 : x->place > y->place;
}

int score_get(struct store *st, MDB_txn *txn, const char *audience, json_t **out)
{
    size_t n;
    int rc = score_summary_get(st, txn, audience, out, &n);
    if (rc)
        return rc;
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, st->scores, &cur))) {
        json_decref(*out);
        *out = NULL;
        return rc;
    }
    struct score_key start;
    size_t len = score_key_start(&start, audience, 'r'), m = 0, cap = n ? n : 1;
    struct placed *p = xcalloc(cap, sizeof *p);
    MDB_val k = {len, start.buf}, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < len || memcmp(k.mv_data, start.buf, len) != 0)
            break;
        if (m == cap)
            p = xrealloc(p, (cap *= 2) * sizeof *p);
        if ((rc = parse_row(&v, &p[m].row, &p[m].place)))
            break;
        m++;
    }
    mdb_cursor_close(cur);
    if (rc == 0 || rc == MDB_NOTFOUND) {
        rc = 0;
        qsort(p, m, sizeof *p, by_place);
        json_t *list = json_array();
        for (size_t i = 0; i < m; i++)
            json_array_append_new(list, p[i].row);
        json_object_set_new(*out, "contacts", list);
    } else {
        for (size_t i = 0; i < m; i++)
            json_decref(p[i].row);
        json_decref(*out);
        *out = NULL;
    }
    free(p);
    return rc;
}

/* The audience id of key k (its bytes up to the first NUL) into id. */
static void key_id(const MDB_val *k, char id[SCORE_KEY_ID_MAX + 1], int *is_summary)
{
    const char *nul = memchr(k->mv_data, '\0', k->mv_size);
    size_t n = nul ? (size_t)(nul - (const char *)k->mv_data) : k->mv_size;
    if (n > SCORE_KEY_ID_MAX)
        n = SCORE_KEY_ID_MAX;
    memcpy(id, k->mv_data, n);
    id[n] = '\0';
    *is_summary = !nul && k->mv_size <= SCORE_KEY_ID_MAX;
}

/* Each audience's summary in id order, hopping over the audience's other
 * keys with one seek: fn(arg, cur, id, value) until it answers nonzero. */
static int each_audience(MDB_txn *txn, MDB_dbi dbi,
                         int (*fn)(void *arg, const char *id, const MDB_val *v), void *arg)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi, &cur), r = 0;
    if (rc)
        return rc;
    MDB_val k, v;
    char id[SCORE_KEY_ID_MAX + 2];
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && r == 0;) {
        int is_summary;
        key_id(&k, id, &is_summary);
        if (is_summary)
            r = fn(arg, id, &v);
        size_t n = strlen(id);
        id[n] = '\x01'; /* past every key of this audience */
        k = (MDB_val){n + 1, id};
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    }
    mdb_cursor_close(cur);
    if (r)
        return r;
    return rc == MDB_NOTFOUND ? 0 : rc;
}

struct each_sum {
    int (*fn)(void *arg, const char *id, json_t *summary, size_t rows);
    void *arg;
};

static int each_sum(void *arg, const char *id, const MDB_val *v)
{
    struct each_sum *e = arg;
    json_t *doc;
    size_t rows;
    if (parse_summary(v, &doc, &rows))
        return 0;
    int r = e->fn(e->arg, id, doc, rows);
    json_decref(doc);
    return r;
}

int score_each_summary(struct store *st, MDB_txn *txn,
                       int (*fn)(void *arg, const char *id, json_t *summary, size_t rows),
                       void *arg)
{
    struct each_sum e = {fn, arg};
    return each_audience(txn, st->scores, each_sum, &e);
}

/* The row of contact id (len bytes) of audience appended to list: 0, or
 * an MDB error (a row missing is no error: not served). */
static int page_row(struct store *st, MDB_txn *txn, const char *audience, const char *cid,
                    size_t len, json_t *list)
{
    char id[SCORE_KEY_ID_MAX + 1];
    memcpy(id, cid, len);
    id[len] = '\0';
    struct score_key row;
    score_key_row(&row, audience, id);
    MDB_val rv;
    json_t *r;
    int g = mdb_get(txn, st->scores, &row.val, &rv);
    if (g == MDB_NOTFOUND)
        return 0; /* an index entry without its row */
    if (g || (g = parse_row(&rv, &r, NULL)))
        return g;
    json_array_append_new(list, r);
    return 0;
}

/* A page of an audience kept in the older layout (a key per rank, until
 * its next run). */
static int page_v1(struct store *st, MDB_txn *txn, const char *audience, enum score_order o,
                   uint32_t from, size_t limit, json_t *list, int *more)
{
    struct score_key start;
    score_key_rank_v1(&start, audience, o, from);
    size_t plen = start.val.mv_size - 4; /* the order's prefix */
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, st->scores, &cur);
    if (rc)
        return rc;
    MDB_val k = start.val, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != plen + 4 || memcmp(k.mv_data, start.buf, plen) != 0)
            break;
        if (json_array_size(list) == limit) {
            *more = 1;
            break;
        }
        if (v.mv_size > SCORE_KEY_ID_MAX)
            continue;
        if ((rc = page_row(st, txn, audience, v.mv_data, v.mv_size, list)))
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

int score_page(struct store *st, MDB_txn *txn, const char *audience, enum score_order o,
               const char *after, size_t limit, json_t *list, int *more)
{
    *more = 0;
    uint32_t from = 0;
    if (after) {
        struct score_key key;
        MDB_val v;
        if (!*after || strlen(after) > SCORE_KEY_ID_MAX)
            return ENOENT;
        score_key_row(&key, audience, after);
        int rc = mdb_get(txn, st->scores, &key.val, &v);
        if (rc == MDB_NOTFOUND || (rc == 0 && v.mv_size < SCORE_ROW_HEAD))
            return ENOENT;
        if (rc)
            return rc;
        from = score_key_get_u32((char *)v.mv_data + 4 * (1 + o));
        if (from == SCORE_NO_RANK)
            return ENOENT;
        from++;
    }
    struct score_key start;
    uint32_t part = from / SCORE_RANKS_PER_KEY, skip = from % SCORE_RANKS_PER_KEY;
    score_key_ranks(&start, audience, o, part);
    size_t plen = start.val.mv_size - 4; /* the order's prefix */
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, st->scores, &cur);
    if (rc)
        return rc;
    MDB_val k = start.val, v;
    int parts = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && !*more;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != plen + 4 || memcmp(k.mv_data, start.buf, plen) != 0)
            break;
        parts++;
        if (score_key_get_u32((const char *)k.mv_data + plen) != part)
            skip = 0; /* a later part than from's */
        const char *p = v.mv_data, *end = p + v.mv_size;
        for (uint32_t i = 0; p < end && rc == 0; i++) {
            const char *nul = memchr(p, '\0', (size_t)(end - p));
            if (!nul)
                break;
            size_t len = (size_t)(nul - p);
            const char *cid = p;
            p = nul + 1;
            if (i < skip || len == 0 || len > SCORE_KEY_ID_MAX)
                continue; /* before from, or an erased contact's gap */
            if (json_array_size(list) == limit) {
                *more = 1;
                break;
            }
            rc = page_row(st, txn, audience, cid, len, list);
        }
        if (rc)
            break;
    }
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
        rc = 0;
    /* No key of this layout at or past from's: the audience may still be
     * kept in the older one. */
    if (rc == 0 && !parts && json_array_size(list) == 0)
        rc = page_v1(st, txn, audience, o, from, limit, list, more);
    return rc;
}

/* ---- deleting ---- */

static int collect_id(void *arg, const char *id, const MDB_val *v)
{
    (void)v;
    json_array_append_new(arg, json_string(id));
    return 0;
}

/* The ids of every kept audience (the database is about to change). */
static int audience_ids(struct store *st, MDB_txn *txn, json_t **ids)
{
    *ids = json_array();
    int rc = each_audience(txn, st->scores, collect_id, *ids);
    if (rc) {
        json_decref(*ids);
        *ids = NULL;
    }
    return rc;
}

/* Delete contact cid's row of audience and its ranks: 0, MDB_NOTFOUND
 * when it has none, or an MDB error. */
static int forget_row(struct store *st, MDB_txn *txn, const char *aud, const char *cid)
{
    struct score_key key;
    score_key_row(&key, aud, cid);
    MDB_val v;
    int rc = mdb_get(txn, st->scores, &key.val, &v);
    if (rc)
        return rc;
    uint32_t ranks[SCORE_ORDERS];
    for (int o = 0; o < SCORE_ORDERS; o++)
        ranks[o] = v.mv_size >= SCORE_ROW_HEAD ? score_key_get_u32((char *)v.mv_data + 4 * (1 + o))
                                               : SCORE_NO_RANK;
    if ((rc = mdb_del(txn, st->scores, &key.val, NULL)))
        return rc;
    size_t clen = strlen(cid);
    for (int o = 0; o < SCORE_ORDERS; o++) {
        if (ranks[o] == SCORE_NO_RANK)
            continue;
        /* The id in its part of the order becomes an empty entry: the
         * ranks after it keep their places. */
        score_key_ranks(&key, aud, (enum score_order)o, ranks[o] / SCORE_RANKS_PER_KEY);
        rc = mdb_get(txn, st->scores, &key.val, &v);
        if (rc == MDB_NOTFOUND) { /* kept in the older layout? */
            score_key_rank_v1(&key, aud, (enum score_order)o, ranks[o]);
            rc = mdb_del(txn, st->scores, &key.val, NULL);
            if (rc && rc != MDB_NOTFOUND)
                return rc;
            continue;
        }
        if (rc)
            return rc;
        size_t len;
        const char *e = score_ranks_entry(&v, ranks[o] % SCORE_RANKS_PER_KEY, &len);
        if (!e || len != clen || memcmp(e, cid, clen) != 0)
            continue;
        size_t before = (size_t)(e - (const char *)v.mv_data);
        char *nv = xmalloc(v.mv_size - clen);
        memcpy(nv, v.mv_data, before);
        memcpy(nv + before, e + clen, v.mv_size - before - clen);
        MDB_val put = {v.mv_size - clen, nv};
        rc = mdb_put(txn, st->scores, &key.val, &put, 0);
        free(nv);
        if (rc)
            return rc;
    }
    return 0;
}

/* Lower audience aud's count of rows by gone. */
static int recount(struct store *st, MDB_txn *txn, const char *aud, size_t gone)
{
    MDB_val k = {strlen(aud), (void *)aud}, v;
    int rc = mdb_get(txn, st->scores, &k, &v);
    if (rc || v.mv_size < 4)
        return rc == MDB_NOTFOUND ? 0 : rc;
    char *copy = xmalloc(v.mv_size);
    memcpy(copy, v.mv_data, v.mv_size);
    uint32_t n = score_key_get_u32(copy);
    score_key_u32(copy, n > gone ? n - (uint32_t)gone : 0);
    MDB_val nv = {v.mv_size, copy};
    rc = mdb_put(txn, st->scores, &k, &nv, 0);
    free(copy);
    return rc;
}

int score_forget(struct store *st, MDB_txn *txn, json_t *ids, size_t *changed)
{
    if (changed)
        *changed = 0;
    json_t *auds;
    int rc = audience_ids(st, txn, &auds);
    size_t i, j;
    json_t *a, *c;
    json_array_foreach(auds, i, a)
    {
        const char *aud = json_string_value(a);
        size_t gone = 0;
        json_array_foreach(ids, j, c)
        {
            const char *cid = json_string_value(c);
            if (!cid || !*cid || strlen(cid) > SCORE_KEY_ID_MAX)
                continue;
            int r = forget_row(st, txn, aud, cid);
            if (r == 0)
                gone++;
            else if (r != MDB_NOTFOUND) {
                rc = r;
                break;
            }
        }
        if (rc == 0 && gone) {
            rc = recount(st, txn, aud, gone);
            if (changed)
                (*changed)++;
        }
        if (rc)
            break;
    }
    json_decref(auds);
    return rc;
}

int score_retire(struct store *st, MDB_txn *txn, int (*keep)(void *arg, const char *id), void *arg,
                 size_t *deleted)
{
    if (deleted)
        *deleted = 0;
    json_t *auds;
    int rc = audience_ids(st, txn, &auds);
    size_t i;
    json_t *a;
    json_array_foreach(auds, i, a)
    {
        if (keep(arg, json_string_value(a)))
            continue;
        if ((rc = score_key_del_audience(st, txn, json_string_value(a))))
            break;
        if (deleted)
            (*deleted)++;
    }
    json_decref(auds);
    return rc;
}
