/* SPDX-License-Identifier: Apache-2.0 */
/* Scores kept in the store (keep.h). */
#include "keep.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "collect.h"
#include "result.h"
#include "store.h"

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
