/* SPDX-License-Identifier: Apache-2.0 */
/* Merge candidates: two contacts that asserted evidence (a public form, an
 * e-mail From without DMARC) named as one person.  Anyone can type anyone's
 * e-mail address and phone number, so such evidence never merges; it is
 * kept here for an admin to confirm (POST /v1/contacts/<id>/merge) or reject.
 *
 * Stored in the 'candidates' database, in the writer's transaction with the
 * record that raised it:  key "<cA>-<cB>" (the older contact first), value
 * the candidate's JSON.  Each contact lists its candidates' ids in
 * "merge_candidates", so reading a contact needs no scan.  The same pair
 * raises one candidate, counted again with the seq of the latest record. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "contacts.h"
#include "jsonout.h"
#include "log.h"
#include "store.h"
#include "util.h"

#define MAX_CANDIDATE_HANDLES 8

static uint64_t number_of(const char *id)
{
    return id && id[0] == 'c' ? strtoull(id + 1, NULL, 10) : UINT64_MAX;
}

/* The id of a pair, whichever way round it is named. */
static void pair_id(const char *a, const char *b, char *out, size_t len)
{
    if (number_of(b) < number_of(a)) {
        const char *t = a;
        a = b;
        b = t;
    }
    snprintf(out, len, "%s-%s", a ? a : "", b ? b : "");
}

int candidates_load(struct store *st, MDB_txn *txn, const char *id, json_t **out)
{
    MDB_val k = {strlen(id), (void *)id}, v;
    int rc = mdb_get(txn, st->candidates, &k, &v);
    if (rc)
        return rc;
    *out = json_loadb(v.mv_data, v.mv_size, 0, NULL);
    return *out ? 0 : MDB_CORRUPTED;
}

static int cand_put(struct store *st, MDB_txn *txn, json_t *cand)
{
    const char *id = json_string_value(json_object_get(cand, "id"));
    size_t tl;
    char *text = jsonout_dump(cand, &tl);
    if (!text)
        return ENOMEM;
    MDB_val k = {strlen(id), (void *)id}, v = {tl, text};
    int rc = mdb_put(txn, st->candidates, &k, &v, 0);
    free(text);
    return rc;
}

static int cand_del(struct store *st, MDB_txn *txn, const char *id)
{
    MDB_val k = {strlen(id), (void *)id};
    int rc = mdb_del(txn, st->candidates, &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static json_t *list_of(json_t *c, const char *key)
{
    json_t *v = json_object_get(c, key);
    if (!json_is_array(v)) {
        v = json_array();
        json_object_set_new(c, key, v);
    }
    return v;
}

static int list_has(json_t *list, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i,
                       v) if (json_is_string(v) && !strcmp(json_string_value(v), s)) return 1;
    return 0;
}

static void list_add(json_t *list, const char *s)
{
    if (!list_has(list, s))
        json_array_append_new(list, json_string(s));
}

static void list_remove(json_t *list, const char *s)
{
    for (size_t i = 0; i < json_array_size(list);) {
        const char *v = json_string_value(json_array_get(list, i));
        if (v && !strcmp(v, s))
            json_array_remove(list, i);
        else
            i++;
    }
}

/* The contact of cand that is not id. */
static const char *other_of(json_t *cand, const char *id)
{
    json_t *cs = json_object_get(cand, "contacts");
    const char *a = json_string_value(json_array_get(cs, 0));
    const char *b = json_string_value(json_array_get(cs, 1));
    return a && b ? (strcmp(a, id) == 0 ? b : a) : NULL;
}

/* Add the candidate id to the stored contact cid's list, or take it off. */
static int touch_contact(struct store *st, MDB_txn *txn, const char *cid, const char *id, int add)
{
    json_t *o;
    int rc = contacts_load(st, txn, cid, &o);
    if (rc)
        return rc == MDB_NOTFOUND ? 0 : rc;
    if (add)
        list_add(list_of(o, "merge_candidates"), id);
    else
        list_remove(list_of(o, "merge_candidates"), id);
    if (json_array_size(json_object_get(o, "merge_candidates")) == 0)
        json_object_del(o, "merge_candidates");
    rc = contacts_save(st, txn, o);
    json_decref(o);
    return rc;
}

static void add_handles(json_t *cand, json_t *more)
{
    json_t *hs = list_of(cand, "handles");
    size_t i;
    json_t *h;
    json_array_foreach(more, i,
                       h) if (json_is_string(h) && json_array_size(hs) < MAX_CANDIDATE_HANDLES)
        list_add(hs, json_string_value(h));
}

/* Room for one more?  An anonymous form can raise candidates, so they are
 * bounded; what does not fit is logged (at most once a minute) and the
 * record is stored all the same. */
static int room_for_one(struct store *st, MDB_txn *txn, const char *id, uint64_t seq, int *room)
{
    static int64_t last_log_ms; /* the writer thread's */
    MDB_stat ms;
    int rc = mdb_stat(txn, st->candidates, &ms);
    if (rc)
        return rc;
    *room = (int64_t)ms.ms_entries < st->max_candidates;
    if (*room)
        return 0;
    int64_t now = util_now_ms();
    if (now - last_log_ms >= 60000) {
        last_log_ms = now;
        log_warn("merge candidate %s (record seq %llu) not kept: %zu candidates open, the "
                 "limit [kanald] max_merge_candidates; confirm or reject some",
                 id, (unsigned long long)seq, (size_t)ms.ms_entries);
    }
    return 0;
}

int candidates_raise(struct store *st, MDB_txn *txn, json_t *c, const char *other, const char *mine,
                     const char *theirs, const struct evidence *ev)
{
    const char *cid = json_string_value(json_object_get(c, "id"));
    if (!cid || !strcmp(cid, other) || contacts_kept_apart(c, other))
        return 0;
    char id[80], now[32];
    pair_id(cid, other, id, sizeof id);
    util_format_time(contacts_clock_ms(), now, sizeof now);
    json_t *cand;
    int rc = candidates_load(st, txn, id, &cand);
    if (rc == MDB_CORRUPTED)
        rc = MDB_NOTFOUND; /* written anew: one bad value must not fail every commit */
    if (rc == 0) {
        json_object_set_new(cand, "count",
                            json_integer(json_integer_value(json_object_get(cand, "count")) + 1));
        json_object_set_new(cand, "last_seq", json_integer((json_int_t)ev->seq));
        json_object_set_new(cand, "updated_at", json_string(now));
        json_t *hs = json_pack("[s,s]", mine, theirs);
        add_handles(cand, hs);
        json_decref(hs);
        rc = cand_put(st, txn, cand);
        json_decref(cand);
        return rc;
    }
    if (rc != MDB_NOTFOUND)
        return rc;
    int room = 0;
    if ((rc = room_for_one(st, txn, id, ev->seq, &room)) || !room)
        return rc;
    const char *first = number_of(cid) < number_of(other) ? cid : other;
    cand = json_pack("{s:s,s:[s,s],s:[s,s],s:s,s:s,s:I,s:I,s:i,s:s,s:s}", "id", id, "contacts",
                     first, first == cid ? other : cid, "handles", mine, theirs, "rule",
                     "asserted-same-party", "source", ev->source ? ev->source : "", "first_seq",
                     (json_int_t)ev->seq, "last_seq", (json_int_t)ev->seq, "count", 1, "created_at",
                     now, "updated_at", now);
    if (!cand)
        return ENOMEM;
    rc = cand_put(st, txn, cand);
    json_decref(cand);
    if (rc == 0)
        rc = touch_contact(st, txn, other, id, 1);
    if (rc == 0)
        list_add(list_of(c, "merge_candidates"), id);
    return rc;
}

/* Fold old (a candidate of the absorbed contact) into the pair s–other. */
static int repoint(struct store *st, MDB_txn *txn, json_t *s, const char *other, json_t *old)
{
    const char *sid = json_string_value(json_object_get(s, "id"));
    char id[80];
    pair_id(sid, other, id, sizeof id);
    json_t *cand;
    int rc = candidates_load(st, txn, id, &cand);
    if (rc == MDB_NOTFOUND) {
        cand = json_deep_copy(old);
        const char *first = number_of(sid) < number_of(other) ? sid : other;
        json_object_set_new(cand, "id", json_string(id));
        json_object_set_new(cand, "contacts",
                            json_pack("[s,s]", first, first == sid ? other : sid));
    } else if (rc) {
        return rc;
    } else {
        json_int_t n = json_integer_value(json_object_get(cand, "count")) +
                       json_integer_value(json_object_get(old, "count"));
        json_object_set_new(cand, "count", json_integer(n));
        static const char *const keys[] = {"first_seq", "last_seq"};
        for (int i = 0; i < 2; i++) {
            json_int_t x = json_integer_value(json_object_get(cand, keys[i]));
            json_int_t y = json_integer_value(json_object_get(old, keys[i]));
            if (i == 0 ? y < x : y > x)
                json_object_set_new(cand, keys[i], json_integer(y));
        }
        add_handles(cand, json_object_get(old, "handles"));
    }
    rc = cand_put(st, txn, cand);
    json_decref(cand);
    if (rc == 0)
        rc = touch_contact(st, txn, other, id, 1);
    if (rc == 0)
        list_add(list_of(s, "merge_candidates"), id);
    return rc;
}

int candidates_move(struct store *st, MDB_txn *txn, json_t *s, json_t *a)
{
    const char *sid = json_string_value(json_object_get(s, "id"));
    const char *aid = json_string_value(json_object_get(a, "id"));
    json_t *ids = json_object_get(a, "merge_candidates");
    int rc = 0;
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        const char *id = json_string_value(v);
        json_t *cand;
        if (!id || (rc = candidates_load(st, txn, id, &cand)) == MDB_NOTFOUND) {
            rc = 0;
            continue;
        }
        if (rc)
            break;
        const char *other = other_of(cand, aid);
        if ((rc = cand_del(st, txn, id)) == 0 && other) {
            if (!strcmp(other, sid)) {
                list_remove(list_of(s, "merge_candidates"), id); /* now one contact */
            } else if ((rc = touch_contact(st, txn, other, id, 0)) == 0 &&
                       !contacts_kept_apart(s, other)) {
                rc = repoint(st, txn, s, other, cand);
            }
        }
        json_decref(cand);
        if (rc)
            break;
    }
    json_object_del(a, "merge_candidates");
    if (json_array_size(json_object_get(s, "merge_candidates")) == 0)
        json_object_del(s, "merge_candidates");
    return rc;
}

int candidates_forget(struct store *st, MDB_txn *txn, json_t *ids)
{
    size_t i;
    json_t *idv;
    int rc = 0;
    json_array_foreach(ids, i, idv)
    {
        const char *cid = json_string_value(idv);
        json_t *c;
        if (!cid || contacts_load(st, txn, cid, &c) != 0)
            continue;
        size_t j;
        json_t *v;
        json_array_foreach(json_object_get(c, "merge_candidates"), j, v)
        {
            const char *id = json_string_value(v);
            json_t *cand;
            if (!id || candidates_load(st, txn, id, &cand) != 0)
                continue;
            const char *other = other_of(cand, cid);
            rc = cand_del(st, txn, id);
            int erased_too = 0;
            size_t k;
            json_t *e;
            json_array_foreach(ids, k, e) erased_too |=
                other && json_is_string(e) && !strcmp(json_string_value(e), other);
            if (rc == 0 && other && !erased_too)
                rc = touch_contact(st, txn, other, id, 0);
            json_decref(cand);
            if (rc)
                break;
        }
        json_decref(c);
        if (rc)
            break;
    }
    return rc;
}

int candidates_reject(struct store *st, MDB_txn *txn, const char *id, json_t **out)
{
    json_t *cand;
    int rc = candidates_load(st, txn, id, &cand);
    if (rc)
        return rc;
    json_t *cs = json_object_get(cand, "contacts");
    if ((rc = cand_del(st, txn, id)) == 0) {
        for (int i = 0; i < 2 && rc == 0; i++) {
            const char *me = json_string_value(json_array_get(cs, (size_t)i));
            const char *them = json_string_value(json_array_get(cs, (size_t)(1 - i)));
            json_t *c;
            if (!me || !them || (rc = contacts_load(st, txn, me, &c)) == MDB_NOTFOUND) {
                rc = 0;
                continue;
            }
            if (rc)
                break;
            /* Kept apart: the same asserted evidence raises nothing again. */
            list_remove(list_of(c, "merge_candidates"), id);
            if (json_array_size(json_object_get(c, "merge_candidates")) == 0)
                json_object_del(c, "merge_candidates");
            list_add(list_of(c, "kept_apart"), them);
            rc = contacts_save(st, txn, c);
            json_decref(c);
        }
    }
    if (rc == 0)
        *out = cand;
    else
        json_decref(cand);
    return rc;
}

json_t *candidates_expand(struct store *st, MDB_txn *txn, json_t *ids)
{
    json_t *out = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v)
    {
        json_t *cand;
        if (json_is_string(v) && candidates_load(st, txn, json_string_value(v), &cand) == 0)
            json_array_append_new(out, cand);
    }
    return out;
}
