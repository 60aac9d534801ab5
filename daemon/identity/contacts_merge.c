/* SPDX-License-Identifier: Apache-2.0 */
/* Merges and splits: a contact absorbed into an older one (its handles,
 * history and candidates move, a merge record follows), and an admin's split
 * that undoes one.  Part of the contacts module (contacts.c). */
#include "contacts_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "util.h"

/* Fold what the absorbed contact knew into the survivor (what is not
 * computed from the records at query time). */
static void fold_history(json_t *s, json_t *a)
{
    size_t i;
    json_t *v;
    const char *key;
    json_array_foreach(json_object_get(a, "names"), i, v) if (!has_string(sub(s, "names", 1),
                                                                          json_string_value(v)) &&
                                                              json_array_size(sub(s, "names", 1)) <
                                                                  MAX_NAMES)
        json_array_append(sub(s, "names", 1), v);
    json_object_foreach(json_object_get(a, "consent"), key, v)
    {
        json_t *mine = json_object_get(sub(s, "consent", 0), key);
        if (!mine || json_integer_value(json_object_get(v, "seq")) >
                         json_integer_value(json_object_get(mine, "seq")))
            json_object_set(sub(s, "consent", 0), key, v);
    }
    /* The CRM's value and currency come with its id: the survivor of two
     * customers keeps its own. */
    if (!json_object_get(s, "crm") && json_object_get(a, "crm")) {
        static const char *const crm_keys[] = {"crm", "value", "currency"};
        for (size_t k = 0; k < 3; k++)
            if (json_object_get(a, crm_keys[k]))
                json_object_set(s, crm_keys[k], json_object_get(a, crm_keys[k]));
    }
}

/* An admin split the two, or rejected their candidate: no evidence
 * brings them together again, only an admin's merge. */
int contacts_kept_apart(json_t *a, const char *b)
{
    return has_string(json_object_get(a, "split_from"), b) ||
           has_string(json_object_get(a, "kept_apart"), b);
}

int contacts_merge(struct store *st, MDB_txn *txn, json_t *s, const char *absorbed, uint64_t seq,
                   const char *bridge, const char *rule, struct resolve_extra *extra)
{
    json_t *a;
    int rc = contacts_load(st, txn, absorbed, &a);
    if (rc)
        return rc;
    const char *sid = json_string_value(json_object_get(s, "id"));
    double conf = 1.0;
    if (!rule)
        match_rule(bridge, &rule, &conf);
    json_t *moved = json_array();
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(a, "handles"), i, h)
    {
        const char *name = json_string_value(json_object_get(h, "handle"));
        if (!name)
            continue;
        if ((rc = link_handle(st, txn, s, name, seq, rule, conf, absorbed, 0)))
            goto out;
        json_array_append_new(moved, json_string(name));
    }
    fold_history(s, a);
    json_array_append_new(sub(s, "merged", 1),
                          json_pack("{s:s,s:I,s:s,s:f,s:O}", "contact", absorbed, "seq",
                                    (json_int_t)seq, "rule", rule, "confidence", conf, "handles",
                                    moved));
    json_object_set_new(a, "merged_into", json_string(sid));
    /* The absorbed contact's open candidates are now the survivor's. */
    if ((rc = candidates_move(st, txn, s, a)))
        goto out;
    if ((rc = contacts_save(st, txn, a)))
        goto out;
    char ext[160];
    snprintf(ext, sizeof ext, "%s-into-%s-at-%llu", absorbed, sid, (unsigned long long)seq);
    json_t *rec = contacts_system_record(
        "merge", ext, sid,
        json_pack("{s:s,s:s,s:I,s:s,s:f,s:i}", "survivor", sid, "absorbed", absorbed, "caused_by",
                  (json_int_t)seq, "rule", rule, "confidence", conf, "handles",
                  (int)json_array_size(moved)));
    extra->recs = xrealloc(extra->recs, (extra->n + 1) * sizeof *extra->recs);
    extra->recs[extra->n++] = rec;
out:
    json_decref(moved);
    json_decref(a);
    return rc;
}

void resolve_extra_clear(struct resolve_extra *extra)
{
    for (size_t i = 0; i < extra->n; i++)
        json_decref(extra->recs[i]);
    free(extra->recs);
    extra->recs = NULL;
    extra->n = 0;
}

static void remove_string(json_t *array, const char *s)
{
    for (size_t i = 0; i < json_array_size(array);) {
        const char *v = json_string_value(json_array_get(array, i));
        if (v && strcmp(v, s) == 0)
            json_array_remove(array, i);
        else
            i++;
    }
}

int contacts_split(struct store *st, MDB_txn *txn, const char *survivor, const char *absorbed,
                   struct resolve_extra *extra, json_t **result)
{
    json_t *s = NULL, *a = NULL;
    int rc = contacts_load(st, txn, survivor, &s);
    if (rc)
        return rc;
    if ((rc = contacts_load(st, txn, absorbed, &a))) {
        json_decref(s);
        return rc;
    }
    json_t *merges = sub(s, "merged", 1), *entry = NULL;
    size_t idx = 0, i;
    json_t *m;
    json_array_foreach(merges, i, m)
    {
        const char *who = json_string_value(json_object_get(m, "contact"));
        if (who && strcmp(who, absorbed) == 0) {
            entry = m;
            idx = i;
        }
    }
    if (!entry) {
        json_decref(s);
        json_decref(a);
        return MDB_NOTFOUND;
    }
    json_incref(entry);
    json_array_remove(merges, idx);
    json_t *back = json_object_get(entry, "handles");
    uint64_t seq = (uint64_t)json_integer_value(json_object_get(entry, "seq"));
    size_t moved = 0;
    json_t *h;
    json_array_foreach(back, i, h)
    {
        const char *name = json_string_value(h);
        /* Re-point each handle the absorbed side brought, with provenance. */
        if ((rc = link_handle(st, txn, a, name, seq, "split", 1.0, NULL, 0)))
            goto out;
        moved++;
        json_t *hs = json_object_get(s, "handles");
        for (size_t j = 0; j < json_array_size(hs);) {
            const char *hn = json_string_value(json_object_get(json_array_get(hs, j), "handle"));
            if (hn && strcmp(hn, name) == 0)
                json_array_remove(hs, j);
            else
                j++;
        }
    }
    /* Drop the duplicated provenance entries the absorbed contact kept. */
    json_t *ah = json_object_get(a, "handles");
    for (size_t j = 0; j < json_array_size(ah);) {
        const char *rule = json_string_value(json_object_get(json_array_get(ah, j), "rule"));
        const char *hn = json_string_value(json_object_get(json_array_get(ah, j), "handle"));
        int later = 0;
        for (size_t k = j + 1; k < json_array_size(ah); k++) {
            const char *kn = json_string_value(json_object_get(json_array_get(ah, k), "handle"));
            later |= hn && kn && strcmp(hn, kn) == 0;
        }
        if (later && rule && strcmp(rule, "split") != 0)
            json_array_remove(ah, j);
        else
            j++;
    }
    json_object_del(a, "merged_into");
    remove_string(sub(s, "split_from", 1), absorbed);
    json_array_append_new(sub(s, "split_from", 1), json_string(absorbed));
    remove_string(sub(a, "split_from", 1), survivor);
    json_array_append_new(sub(a, "split_from", 1), json_string(survivor));
    if ((rc = contacts_save(st, txn, s)) || (rc = contacts_save(st, txn, a)))
        goto out;
    char ext[160], now[32];
    snprintf(ext, sizeof ext, "%s-from-%s-at-%s", absorbed, survivor, now_text(now));
    json_t *rec = contacts_system_record(
        "split", ext, survivor,
        json_pack("{s:s,s:s,s:I,s:i}", "survivor", survivor, "absorbed", absorbed, "merged_at",
                  (json_int_t)seq, "handles", (int)moved));
    extra->recs = xrealloc(extra->recs, (extra->n + 1) * sizeof *extra->recs);
    extra->recs[extra->n++] = rec;
    *result = json_pack("{s:s,s:s,s:i}", "survivor", survivor, "restored", absorbed, "handles",
                        (int)moved);
out:
    json_decref(entry);
    json_decref(s);
    json_decref(a);
    return rc;
}
