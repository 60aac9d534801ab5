/* SPDX-License-Identifier: Apache-2.0 */
/* Scores kept in the store (keep.h). */
#include "keep.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

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
