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

/* ---- pending: the timeline's queue ---- */

/* The fold under load.  Under sustained load every commit folds a share
 * of 'pending' (writer.c's fold_share).  Taken in seq order, a commit's
 * entries are those of as many contacts, each on a leaf of 'timeline' of
 * its own: about one page written per record, the identity-on ingest's
 * largest write.  A sweep reads up to SWEEP_MAX records of 'pending' into
 * memory once, sorts their entries by timeline key and puts them in that
 * order, a share per commit, so that a commit's entries share a few
 * leaves; then deletes those records from 'pending', in seq order, a
 * share per commit.  In between an entry is in both trees: a timeline read
 * drops the repeat.  Any other fold (idle, an erasure's) lets the sweep go
 * first, and a transaction that fails rolls it back (pending_batch_end). */
#define SWEEP_MAX 65536
#define SWEEP_DELETES 4 /* records deleted per entry of a commit's share */

static int sweep_cmp(const void *a, const void *b)
{
    const struct sweep_entry *x = a, *y = b;
    int c = memcmp(x->cid, y->cid, sizeof x->cid); /* NUL-padded: as the keys */
    return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* The sweep's records: the first SWEEP_MAX of 'pending'.  *all: that is
 * every record 'pending' has. */
static int sweep_read(struct store *st, MDB_txn *txn, int *all)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, st->pending, &cur);
    if (rc)
        return rc;
    size_t cap = 0;
    MDB_val k, v;
    st->sw_built = 1;
    st->sw_seqs = xmalloc(SWEEP_MAX * sizeof *st->sw_seqs);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && st->sw_nseq < SWEEP_MAX;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        uint64_t seq;
        if (k.mv_size != sizeof seq)
            continue; /* not a seq: left to the fold in seq order */
        memcpy(&seq, k.mv_data, sizeof seq);
        st->sw_seqs[st->sw_nseq++] = seq;
        for (const char *p = v.mv_data, *end = p + v.mv_size; p < end;) {
            size_t l = strnlen(p, (size_t)(end - p));
            if (l > 0 && l < sizeof st->sw->cid) { /* as contacts_fold */
                if (st->sw_n == cap) {
                    cap = cap ? cap * 2 : 4096;
                    st->sw = xrealloc(st->sw, cap * sizeof *st->sw);
                }
                struct sweep_entry *e = &st->sw[st->sw_n++];
                memset(e->cid, 0, sizeof e->cid);
                memcpy(e->cid, p, l);
                e->seq = seq;
            }
            p += l + 1;
        }
    }
    mdb_cursor_close(cur);
    if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    *all = rc == MDB_NOTFOUND;
    if (st->sw_n)
        qsort(st->sw, st->sw_n, sizeof *st->sw, sweep_cmp);
    st->sw_phase = 1;
    return 0;
}

int contacts_fold_share(struct store *st, MDB_txn *txn, size_t max, size_t *deleted,
                        size_t *left)
{
    int rc = 0, all = 0;
    *deleted = 0;
    *left = SIZE_MAX;
    if (st->sw_phase == 0) {
        if ((rc = sweep_read(st, txn, &all)))
            return rc;
        if (st->sw_nseq == 0) {
            store_sweep_drop(st);
            st->sw_built = 1;
            *left = 0;
            return 0;
        }
    }
    /* max counts records, as the fold in seq order: their entries. */
    size_t n = (max * st->sw_n + st->sw_nseq - 1) / st->sw_nseq;
    if (st->sw_phase == 1 && st->sw_pos == st->sw_n)
        st->sw_phase = 2;
    for (; rc == 0 && n && st->sw_phase == 1; n--) {
        const struct sweep_entry *e = &st->sw[st->sw_pos];
        if ((rc = timeline_put(st, txn, e->cid, e->seq)) == 0 && ++st->sw_pos == st->sw_n)
            st->sw_phase = 2;
    }
    if (rc == 0 && st->sw_phase == 2) {
        MDB_cursor *cur;
        if ((rc = mdb_cursor_open(txn, st->pending, &cur)))
            return rc;
        for (size_t d = max * SWEEP_DELETES; d && st->sw_del < st->sw_nseq; d--) {
            uint64_t seq = st->sw_seqs[st->sw_del];
            MDB_val k = {sizeof seq, &seq}, v;
            rc = mdb_cursor_get(cur, &k, &v, MDB_SET);
            if (rc == 0 && (rc = mdb_cursor_del(cur, 0)) == 0)
                ++*deleted;
            if (rc && rc != MDB_NOTFOUND) /* not found: another fold took it */
                break;
            rc = 0;
            st->sw_del++;
        }
        mdb_cursor_close(cur);
    }
    if (rc == 0 && all) /* read whole in this transaction: the exact count */
        *left = st->sw_nseq - *deleted;
    return rc;
}

/* A batch puts its kept entries in 'pending', and the mark, once the log
 * has this many records past the mark: with one record per commit, a put
 * in 'pending' for each was 2.8k instructions of some 93k (its tree's
 * pages copied, its root updated at commit). */
#define PENDING_STEP 64

static int pending_put_one(struct store *st, MDB_txn *txn, uint64_t seq, const char *ids,
                           size_t len)
{
    MDB_val k = {sizeof seq, &seq}, v = {len, (void *)ids};
    /* Appended (no descent), unless an entry the fold took already came
     * back from the journal at start: then put where it goes (the same
     * timeline key again). */
    int rc = mdb_put(txn, st->pending, &k, &v, MDB_APPEND);
    if (rc == MDB_KEYEXIST)
        rc = mdb_put(txn, st->pending, &k, &v, 0);
    if (rc == 0)
        st->pending_count++;
    return rc;
}

static void pbuf_add(struct store *st, uint64_t seq, const char *cid)
{
    if (st->pbuf_n == st->pbuf_cap) {
        st->pbuf_cap = st->pbuf_cap ? st->pbuf_cap * 2 : PENDING_STEP * 2;
        st->pbuf = xrealloc(st->pbuf, st->pbuf_cap * sizeof *st->pbuf);
    }
    struct pending_entry *e = &st->pbuf[st->pbuf_n++];
    size_t l = strnlen(cid, sizeof e->cid - 1);
    e->seq = seq;
    memcpy(e->cid, cid, l);
    e->cid[l] = '\0';
}

/* The kept entries not yet put in this transaction, put: through one
 * cursor, appended (as pending_put_one). */
static int pbuf_put_all(struct store *st, MDB_txn *txn)
{
    if (st->pbuf_put == st->pbuf_n)
        return 0;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, st->pending, &cur);
    if (rc)
        return rc;
    while (st->pbuf_put < st->pbuf_n) {
        struct pending_entry *e = &st->pbuf[st->pbuf_put];
        MDB_val k = {sizeof e->seq, &e->seq}, v = {strlen(e->cid) + 1, e->cid};
        rc = mdb_cursor_put(cur, &k, &v, MDB_APPEND);
        if (rc == MDB_KEYEXIST)
            rc = mdb_cursor_put(cur, &k, &v, 0);
        if (rc)
            break;
        st->pending_count++;
        st->pbuf_put++;
    }
    mdb_cursor_close(cur);
    return rc;
}

int contacts_journal(struct store *st, MDB_txn *txn, uint64_t upto,
                     int (*each)(uint64_t seq, const char *cid, void *arg), void *arg)
{
    static const char mk[] = KANAL_META_PENDING_THROUGH;
    MDB_val k = {sizeof mk - 1, (void *)mk}, v;
    uint64_t through;
    int rc = mdb_get(txn, st->meta, &k, &v);
    if (rc == MDB_NOTFOUND)
        return 0; /* no journal: every entry is in 'pending' */
    if (rc)
        return rc;
    if (v.mv_size != sizeof through)
        return MDB_CORRUPTED;
    memcpy(&through, v.mv_data, sizeof through);
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, st->log, &cur)))
        return rc;
    uint64_t from = through + 1;
    MDB_val lk = {sizeof from, &from}, lv;
    for (rc = mdb_cursor_get(cur, &lk, &lv, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &lk, &lv, MDB_NEXT)) {
        uint64_t seq;
        if (kanal_store_u64(lk.mv_data, lk.mv_size, &seq) || seq > upto)
            break;
        json_t *rec = json_loadb(lv.mv_data, lv.mv_size, 0, NULL);
        const char *cid = json_string_value(json_object_get(rec, "contact"));
        if (cid && *cid && strlen(cid) < 32) {
            /* A record can name a contact it got no entry for: one erased
             * while the record was on its way (a click). */
            MDB_val ck = {strlen(cid), (void *)cid}, cv;
            rc = mdb_get(txn, st->contacts, &ck, &cv);
            rc = rc == 0 ? each(seq, cid, arg) : rc == MDB_NOTFOUND ? 0 : rc;
        }
        json_decref(rec);
        if (rc)
            break;
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

struct load_arg {
    struct store *st;
    MDB_txn *txn;
};

static int load_one(uint64_t seq, const char *cid, void *arg)
{
    struct load_arg *a = arg;
    MDB_val k = {sizeof seq, &seq}, v;
    int rc = mdb_get(a->txn, a->st->pending, &k, &v);
    if (rc == MDB_NOTFOUND) /* else put with a record naming more contacts */
        pbuf_add(a->st, seq, cid);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* The mark and the journal's entries, once per store: a store without the
 * mark (written by an earlier kanald) has every entry in 'pending'. */
static int pending_load(struct store *st, MDB_txn *txn)
{
    if (st->pending_known)
        return 0;
    static const char mk[] = KANAL_META_PENDING_THROUGH;
    MDB_val k = {sizeof mk - 1, (void *)mk}, v;
    int rc = mdb_get(txn, st->meta, &k, &v);
    st->pbuf_n = st->pbuf_put = st->pbuf_txn = 0;
    if (rc == MDB_NOTFOUND) {
        st->pending_through = st->last_seq;
        st->pending_mark_missing = 1;
    } else if (rc) {
        return rc;
    } else if (v.mv_size != sizeof st->pending_through) {
        return MDB_CORRUPTED;
    } else {
        memcpy(&st->pending_through, v.mv_data, sizeof st->pending_through);
        struct load_arg a = {st, txn};
        if ((rc = contacts_journal(st, txn, st->last_seq, load_one, &a)))
            return rc;
    }
    st->pbuf_txn = st->pbuf_n;
    st->pending_known = 1;
    return 0;
}

int pending_put(struct store *st, MDB_txn *txn, uint64_t seq, const char *ids, size_t len)
{
    if (!st->in_batch) {
        MDB_val k = {sizeof seq, &seq}, v = {len, (void *)ids};
        int rc = mdb_put(txn, st->pending, &k, &v, MDB_APPEND);
        if (rc == 0)
            st->pending_count++;
        return rc;
    }
    int rc = pending_load(st, txn);
    if (rc)
        return rc;
    size_t first = strnlen(ids, len);
    if (first + 1 == len && first > 0 && first < 32) {
        pbuf_add(st, seq, ids);
        return 0;
    }
    /* More contacts than the record names: put at once, after the kept
     * entries before it, so that 'pending' stays in seq order. */
    return (rc = pbuf_put_all(st, txn)) ? rc : pending_put_one(st, txn, seq, ids, len);
}

void pending_batch_begin(struct store *st)
{
    st->sw_pos_saved = st->sw_pos;
    st->sw_del_saved = st->sw_del;
    st->sw_phase_saved = st->sw_phase;
    st->sw_built = 0;
    st->pbuf_put = 0;
    st->pbuf_txn = st->pbuf_n;
    st->pending_mark_due = 0;
}

/* Every kept entry into 'pending' in this transaction, and the mark with
 * the commit: before a fold that must see them all (an erasure), and when
 * the writer stops. */
int contacts_pending_put_kept(struct store *st, MDB_txn *txn)
{
    int rc = st->in_batch ? pending_load(st, txn) : 0;
    if (rc == 0 && st->in_batch) {
        rc = pbuf_put_all(st, txn);
        st->pending_mark_due = 1;
    }
    return rc;
}

int pending_flush(struct store *st, MDB_txn *txn, uint64_t last)
{
    int rc = pending_load(st, txn);
    if (rc)
        return rc;
    if (!st->pending_mark_due && !st->pending_mark_missing &&
        last < st->pending_through + PENDING_STEP)
        return 0;
    if ((rc = pbuf_put_all(st, txn)))
        return rc;
    static const char mk[] = KANAL_META_PENDING_THROUGH;
    MDB_val k = {sizeof mk - 1, (void *)mk}, v = {sizeof last, &last};
    if ((rc = mdb_put(txn, st->meta, &k, &v, 0)) == 0) {
        st->pending_mark_due = 2; /* written: the mark moves with the commit */
        st->pending_through_next = last;
    }
    return rc;
}

void pending_batch_end(struct store *st, int committed)
{
    if (!committed) {
        if (st->pbuf_n > st->pbuf_txn)
            st->pbuf_n = st->pbuf_txn; /* the records are gone with it */
        if (st->sw_built) {
            store_sweep_drop(st); /* read in it: it may hold its records */
        } else {
            st->sw_pos = st->sw_pos_saved;
            st->sw_del = st->sw_del_saved;
            st->sw_phase = st->sw_phase_saved;
        }
    } else {
        if (st->sw_phase == 2 && st->sw_del == st->sw_nseq)
            store_sweep_drop(st); /* done */
        if (st->pending_mark_due == 2) {
            st->pending_through = st->pending_through_next;
            st->pending_mark_missing = 0;
        }
        if (st->pbuf_put) { /* (pbuf may be NULL: nothing kept yet) */
            memmove(st->pbuf, st->pbuf + st->pbuf_put,
                    (st->pbuf_n - st->pbuf_put) * sizeof *st->pbuf);
            st->pbuf_n -= st->pbuf_put;
        }
    }
    st->pbuf_put = 0;
    st->pbuf_txn = st->pbuf_n;
    st->pending_mark_due = 0;
}

int contacts_fold(struct store *st, MDB_txn *txn, size_t max, size_t *folded)
{
    MDB_cursor *cur;
    /* A sweep under way is let go of: it could put an entry of a contact
     * an erasure is about to delete (the entries it put are put again). */
    store_sweep_drop(st);
    int rc = max == SIZE_MAX ? contacts_pending_put_kept(st, txn) : 0;
    if (rc == 0)
        rc = mdb_cursor_open(txn, st->pending, &cur);
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
