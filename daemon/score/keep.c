/* SPDX-License-Identifier: Apache-2.0 */
/* Scores kept in the store (keep.h). */
#include "keep.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "collect.h"
#include "result.h"
#include "store.h"
#include "util.h"

int score_put(struct store *st, MDB_txn *txn, json_t *result)
{
    const char *id = json_string_value(json_object_get(result, "audience"));
    if (!id || !*id || strlen(id) > KANAL_STORE_MAX_KEY)
        return EINVAL;
    char *text = json_dumps(result, JSON_COMPACT);
    if (!text)
        return ENOMEM;
    MDB_val k = {strlen(id), (void *)id}, v = {strlen(text), text};
    int rc = mdb_put(txn, st->scores, &k, &v, 0);
    free(text);
    return rc;
}

/* qsort has no argument: the graphs being ordered (one run at a time per
 * thread). */
static _Thread_local const struct score_build *sort_by_size;

static int smaller_graph(const void *a, const void *b)
{
    const struct score_build *x = &sort_by_size[*(const size_t *)a];
    const struct score_build *y = &sort_by_size[*(const size_t *)b];
    size_t sx = x->edges.n + x->nnodes, sy = y->edges.n + y->nnodes;
    if (sx != sy)
        return sx < sy ? -1 : 1;
    return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

int score_run_each(struct store *st, const struct audience *auds, size_t n, int64_t now_ms,
                   int64_t half_life_ms, score_each_fn each, void *arg, uint64_t *seq)
{
    *seq = 0;
    MDB_txn *txn;
    int rc = store_read_begin(st, &txn);
    if (rc)
        return rc;
    /* One read of the log for all of them: parsing the records is most of
     * the work. */
    struct score_build *bs = xcalloc(n ? n : 1, sizeof *bs);
    size_t bad;
    rc = score_collect_many(st, txn, auds, n, now_ms, half_life_ms, bs, seq, &bad);
    store_read_end(st, txn);
    /* Each graph is freed once its document is made, and each document
     * handed on as it is made.  The smallest graphs first: when the
     * largest audience's document (all's) is made, the other graphs are
     * gone, so the peak is not every graph and the largest document. */
    size_t *order = xcalloc(n ? n : 1, sizeof *order);
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    sort_by_size = bs;
    qsort(order, n, sizeof *order, smaller_graph);
    size_t k = 0;
    for (; k < n && rc == 0; k++) {
        size_t i = order[k];
        score_build_trim(&bs[i]);
        json_t *doc = score_result(auds[i].id, *seq, &bs[i]);
        score_build_free(&bs[i]);
        rc = each(arg, i, doc, *seq);
    }
    if (rc)
        for (; k < n; k++)
            score_build_free(&bs[order[k]]);
    free(order);
    free(bs);
    return rc;
}

static int into_docs(void *arg, size_t i, json_t *doc, uint64_t seq)
{
    ((json_t **)arg)[i] = doc;
    return 0;
}

int score_run(struct store *st, const struct audience *auds, size_t n, int64_t now_ms,
              int64_t half_life_ms, json_t **docs, uint64_t *seq)
{
    for (size_t i = 0; i < n; i++)
        docs[i] = NULL;
    int rc = score_run_each(st, auds, n, now_ms, half_life_ms, into_docs, docs, seq);
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
