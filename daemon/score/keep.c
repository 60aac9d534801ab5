/* SPDX-License-Identifier: Apache-2.0 */
/* Scores kept in the store (keep.h). */
#include "keep.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "collect.h"
#include "contacts.h"
#include "result.h"
#include "store.h"

int score_put_text(struct store *st, MDB_txn *txn, const char *id, const char *text, size_t len)
{
    if (!id || !*id || strlen(id) > KANAL_STORE_MAX_KEY)
        return EINVAL;
    MDB_val k = {strlen(id), (void *)id}, v = {len, (void *)text};
    return mdb_put(txn, st->scores, &k, &v, 0);
}

int score_put(struct store *st, MDB_txn *txn, json_t *result)
{
    const char *id = json_string_value(json_object_get(result, "audience"));
    if (!id || !*id || strlen(id) > KANAL_STORE_MAX_KEY)
        return EINVAL;
    char *text = json_dumps(result, JSON_COMPACT);
    if (!text)
        return ENOMEM;
    int rc = score_put_text(st, txn, id, text, strlen(text));
    free(text);
    return rc;
}

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

int score_get(struct store *st, MDB_txn *txn, const char *audience, json_t **out)
{
    *out = NULL;
    if (!*audience || strlen(audience) > KANAL_STORE_MAX_KEY)
        return MDB_NOTFOUND;
    MDB_val k = {strlen(audience), (void *)audience}, v;
    int rc = mdb_get(txn, st->scores, &k, &v);
    if (rc)
        return rc;
    json_t *doc = json_loadb(v.mv_data, v.mv_size, 0, NULL);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return MDB_CORRUPTED;
    }
    *out = doc;
    return 0;
}

int score_each(struct store *st, MDB_txn *txn, int (*fn)(void *arg, const char *id, json_t *doc),
               void *arg)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, st->scores, &cur);
    if (rc)
        return rc;
    MDB_val k, v;
    int r = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && r == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        char id[KANAL_STORE_MAX_KEY + 1];
        if (k.mv_size > KANAL_STORE_MAX_KEY)
            continue;
        memcpy(id, k.mv_data, k.mv_size);
        id[k.mv_size] = '\0';
        json_t *doc = json_loadb(v.mv_data, v.mv_size, 0, NULL);
        if (!json_is_object(doc)) {
            json_decref(doc);
            continue;
        }
        r = fn(arg, id, doc);
        json_decref(doc);
    }
    mdb_cursor_close(cur);
    if (r)
        return r;
    return rc == MDB_NOTFOUND ? 0 : rc;
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

static int not_in(void *arg, const char *cid)
{
    size_t i;
    json_t *v;
    json_array_foreach((json_t *)arg, i, v) if (json_string_value(v) &&
                                                strcmp(json_string_value(v), cid) == 0) return 0;
    return 1;
}

int score_forget(struct store *st, MDB_txn *txn, json_t *ids, size_t *changed)
{
    if (changed)
        *changed = 0;
    /* Collect first: a cursor must not walk a database being rewritten. */
    json_t *redo = json_array();
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, st->scores, &cur);
    if (rc) {
        json_decref(redo);
        return rc;
    }
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        json_t *doc = json_loadb(v.mv_data, v.mv_size, 0, NULL);
        if (json_is_object(doc) && drop_rows(doc, not_in, ids) > 0)
            json_array_append(redo, doc);
        json_decref(doc);
    }
    mdb_cursor_close(cur);
    if (rc != MDB_NOTFOUND) {
        json_decref(redo);
        return rc;
    }
    rc = 0;
    size_t i;
    json_t *doc;
    json_array_foreach(redo, i, doc)
    {
        if ((rc = score_put(st, txn, doc)))
            break;
        if (changed)
            (*changed)++;
    }
    json_decref(redo);
    return rc;
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

int score_retire(struct store *st, MDB_txn *txn, int (*keep)(void *arg, const char *id), void *arg,
                 size_t *deleted)
{
    if (deleted)
        *deleted = 0;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, st->scores, &cur);
    if (rc)
        return rc;
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        char id[KANAL_STORE_MAX_KEY + 1];
        if (k.mv_size > KANAL_STORE_MAX_KEY)
            continue;
        memcpy(id, k.mv_data, k.mv_size);
        id[k.mv_size] = '\0';
        if (keep(arg, id))
            continue;
        /* LMDB leaves the cursor on the entry after the deleted one, and
         * the MDB_NEXT that follows a delete returns that entry. */
        if ((rc = mdb_cursor_del(cur, 0)))
            break;
        if (deleted)
            (*deleted)++;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}
