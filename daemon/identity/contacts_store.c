/* SPDX-License-Identifier: Apache-2.0 */
/* Identity's keys in the store: contact documents loaded and saved, a
 * contact followed through its merges, handles looked up and pointed at
 * their contact, and the per-contact timeline filled from 'pending'.  Part
 * of the contacts module (contacts.c). */
#include "contacts_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonout.h"
#include "store.h"
#include "util.h"

/* ---- small LMDB/JSON helpers ---- */

static int get_json(MDB_txn *txn, MDB_dbi dbi, const char *key, json_t **out)
{
    MDB_val k = {strlen(key), (void *)key}, v;
    int rc = mdb_get(txn, dbi, &k, &v);
    if (rc)
        return rc;
    *out = json_loadb(v.mv_data, v.mv_size, 0, NULL);
    return *out ? 0 : MDB_CORRUPTED;
}

static int put_json(MDB_txn *txn, MDB_dbi dbi, const char *key, json_t *value)
{
    size_t tl;
    char *text = jsonout_dump(value, &tl);
    if (!text)
        return ENOMEM;
    MDB_val k = {strlen(key), (void *)key}, v = {tl, text};
    int rc = mdb_put(txn, dbi, &k, &v, 0);
    free(text);
    return rc;
}

int contacts_load(struct store *st, MDB_txn *txn, const char *id, json_t **out)
{
    return get_json(txn, st->contacts, id, out);
}

int contacts_save(struct store *st, MDB_txn *txn, json_t *c)
{
    return put_json(txn, st->contacts, json_string_value(json_object_get(c, "id")), c);
}

uint64_t contact_number(const char *id)
{
    return id && id[0] == 'c' ? strtoull(id + 1, NULL, 10) : UINT64_MAX;
}

int contacts_follow(struct store *st, MDB_txn *txn, const char *id, char *out, size_t out_len)
{
    char cur[32];
    snprintf(cur, sizeof cur, "%s", id);
    for (int hops = 0; hops < 64; hops++) {
        json_t *c;
        int rc = contacts_load(st, txn, cur, &c);
        if (rc)
            return rc;
        const char *next = json_string_value(json_object_get(c, "merged_into"));
        if (!next) {
            json_decref(c);
            snprintf(out, out_len, "%s", cur);
            return 0;
        }
        snprintf(cur, sizeof cur, "%s", next);
        json_decref(c);
    }
    return MDB_CORRUPTED;
}

/* A handle's value v: its contact's id into out, or MDB_CORRUPTED. */
static int handle_value_cid(const MDB_val *v, char *out, size_t out_len)
{
    size_t n = kanal_handle_value_cid_len(v->mv_data, v->mv_size);
    if (n == 0 || n >= out_len)
        return MDB_CORRUPTED;
    memcpy(out, v->mv_data, n);
    out[n] = '\0';
    return 0;
}
/* A handle's value is "<contact id>\0": the id can be read without parsing
 * anything, which is what ingest does for every handle of every record.
 * The link's provenance is the contact document's entry for the handle
 * (stores written before kept a copy after the NUL, which is still read).
 * Merges and splits re-point every handle they move, so a handle always
 * names a live contact. */
int contacts_of_handle(struct store *st, MDB_txn *txn, const char *handle, char *out,
                       size_t out_len)
{
    MDB_val k = {strlen(handle), (void *)handle}, v;
    int rc = mdb_get(txn, st->handles, &k, &v);
    return rc ? rc : handle_value_cid(&v, out, out_len);
}

/* One descent of the tree for a look-up and the put that usually follows
 * it: a put that finds the handle gives its value (LMDB answers
 * MDB_KEYEXIST with the item it found, before touching a page). */
int handle_claim(struct store *st, MDB_txn *txn, const char *handle, const char *cid, char *out,
                 size_t out_len)
{
    MDB_val k = {strlen(handle), (void *)handle}, v = {strlen(cid) + 1, (void *)cid};
    int rc = mdb_put(txn, st->handles, &k, &v, MDB_NOOVERWRITE);
    if (rc != MDB_KEYEXIST)
        return rc;
    return (rc = handle_value_cid(&v, out, out_len)) ? rc : MDB_KEYEXIST;
}

/* A handle's value: its contact's id and the NUL after it. */
int handle_put(struct store *st, MDB_txn *txn, const char *handle, const char *cid)
{
    MDB_val k = {strlen(handle), (void *)handle}, v = {strlen(cid) + 1, (void *)cid};
    return mdb_put(txn, st->handles, &k, &v, 0);
}

json_t *contacts_handle_provenance(struct store *st, MDB_txn *txn, const char *handle,
                                   json_t *contact)
{
    MDB_val k = {strlen(handle), (void *)handle}, v;
    if (mdb_get(txn, st->handles, &k, &v) != 0)
        return NULL;
    size_t n = kanal_handle_value_cid_len(v.mv_data, v.mv_size);
    if (n == 0 || n >= 32)
        return NULL;
    if (v.mv_size > n + 1) /* a value of an older store: its own copy */
        return json_loadb((const char *)v.mv_data + n + 1, v.mv_size - n - 1, 0, NULL);
    char cid[32];
    memcpy(cid, v.mv_data, n);
    cid[n] = '\0';
    json_t *c = NULL;
    const char *id = json_string_value(json_object_get(contact, "id"));
    if (id && strcmp(id, cid) == 0)
        c = json_incref(contact);
    else if (contacts_load(st, txn, cid, &c) != 0)
        return NULL;
    /* The contact's latest entry for the handle: the link that holds. */
    json_t *found = NULL, *h;
    size_t i;
    json_array_foreach(json_object_get(c, "handles"), i, h)
    {
        const char *name = json_string_value(json_object_get(h, "handle"));
        if (name && strcmp(name, handle) == 0)
            found = h;
    }
    json_t *prov = found ? json_copy(found) : NULL;
    if (prov)
        json_object_del(prov, "handle");
    json_decref(c);
    return prov;
}

static int timeline_put(struct store *st, MDB_txn *txn, const char *cid, uint64_t seq)
{
    unsigned char key[KANAL_TIMELINE_KEY_MAX];
    size_t n = kanal_timeline_key(key, sizeof key, cid, seq);
    if (!n)
        return EINVAL;
    MDB_val k = {n, key}, v = {0, ""};
    return mdb_put(txn, st->timeline, &k, &v, 0);
}

/* The contacts of one record, appended to 'pending' in seq order. */
int pending_put(struct store *st, MDB_txn *txn, uint64_t seq, const char *ids, size_t len)
{
    MDB_val k = {sizeof seq, &seq}, v = {len, (void *)ids};
    int rc = mdb_put(txn, st->pending, &k, &v, MDB_APPEND);
    if (rc == 0)
        st->pending_count++;
    return rc;
}

int contacts_fold(struct store *st, MDB_txn *txn, size_t max, size_t *folded)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, st->pending, &cur);
    if (rc)
        return rc;
    size_t n = 0;
    MDB_val k, v;
    while (n < max && (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0) {
        uint64_t seq;
        memcpy(&seq, k.mv_data, sizeof seq);
        const char *p = v.mv_data, *end = p + v.mv_size;
        while (rc == 0 && p < end) {
            size_t l = strnlen(p, (size_t)(end - p));
            char cid[32];
            if (l > 0 && l < sizeof cid) {
                memcpy(cid, p, l);
                cid[l] = '\0';
                rc = timeline_put(st, txn, cid, seq);
            }
            p += l + 1;
        }
        if (rc == 0)
            rc = mdb_cursor_del(cur, 0);
        if (rc)
            break;
        n++;
    }
    mdb_cursor_close(cur);
    if (rc == MDB_NOTFOUND)
        rc = 0;
    *folded = n;
    return rc;
}
