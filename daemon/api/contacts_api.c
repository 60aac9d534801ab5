/* SPDX-License-Identifier: Apache-2.0 */
/* /v1/contacts: reading contacts and their timelines, linking them to the
 * CRM's customers, undoing wrong merges, and consent given or withdrawn on
 * the CRM side.  Reads use a read transaction on the loop; changes go
 * through the writer, so they are ordered with the records and answered
 * only once committed.
 *
 * This file is the reading routes (a contact, by id or handle, its
 * timeline and export) and what other modules read (contacts_timeline,
 * contacts_opted_out); contacts_change.c is the changing routes.  Both
 * are declared in contacts_api.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "contacts.h"
#include "contacts_api.h"
#include "contacts_op.h"
#include "form.h"
#include "handle.h"
#include "http.h"
#include "respond.h"
#include "route_params.h"
#include "store.h"
#include "util.h"

/* A summary of the events a contact signed up for or checked in to:
 * which came first and at which kanal met the person again. */
static void add_event_summary(json_t *c)
{
    json_t *events = json_object_get(c, "events");
    json_t *seen = json_array(), *again = json_array();
    size_t i;
    json_t *e;
    json_t *first = NULL;
    json_array_foreach(events, i, e)
    {
        const char *id = json_string_value(json_object_get(e, "id"));
        const char *kind = json_string_value(json_object_get(e, "kind"));
        if (!id || !kind || strcmp(kind, "cancel") == 0)
            continue;
        int known = 0;
        size_t j;
        json_t *s;
        json_array_foreach(seen, j, s) known |= strcmp(json_string_value(s), id) == 0;
        if (known)
            continue;
        json_array_append_new(seen, json_string(id));
        if (!first)
            first = e;
        else
            json_array_append(again, e);
    }
    json_object_set_new(c, "first_event", first ? json_incref(first) : json_null());
    json_object_set_new(c, "met_again_at", again);
    json_decref(seen);
}

static void add_count(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    json_object_set_new(obj, key, json_integer((v ? json_integer_value(v) : 0) + 1));
}

static int id_in(json_t *ids, const char *id)
{
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v) if (id && strcmp(json_string_value(v), id) == 0) return 1;
    return 0;
}

static void collect_ids(json_t *c, json_t *ids, struct store *st, MDB_txn *txn, int depth);

/* What the person's records tell: names seen, first and last seen per
 * channel, counts per direction and kind, events.  Computed from the
 * timeline on request, so that ingest writes no per-contact aggregate. */
static void summarize(struct contacts_api *ca, MDB_txn *txn, json_t *c)
{
    json_t *ids = json_array();
    collect_ids(c, ids, ca->store, txn, 0);
    uint64_t *seqs = NULL;
    size_t n = 0;
    contacts_timeline(ca->store, txn, c, &seqs, &n);
    json_t *names = json_object_get(c, "names");
    if (!json_is_array(names)) {
        names = json_array();
        json_object_set_new(c, "names", names);
    }
    json_t *channels = json_object(), *direction = json_object(), *kinds = json_object();
    json_t *events = json_array();
    int records = 0, appears = 0;
    for (size_t i = 0; i < n; i++) {
        MDB_val k = {sizeof seqs[i], &seqs[i]}, v;
        if (mdb_get(txn, ca->store->log, &k, &v) != 0)
            continue;
        json_t *rec = json_loadb(v.mv_data, v.mv_size, 0, NULL);
        const char *source = json_string_value(json_object_get(rec, "source"));
        const char *kind = json_string_value(json_object_get(rec, "kind"));
        if (!rec || !kind ||
            (source && !strcmp(source, "kanal") &&
             (!strcmp(kind, "merge") || !strcmp(kind, "split")))) {
            json_decref(rec);
            continue;
        }
        if (!id_in(ids, json_string_value(json_object_get(rec, "contact")))) {
            appears++; /* named in someone else's record */
            json_decref(rec);
            continue;
        }
        records++;
        add_count(kinds, kind);
        const char *dir = json_string_value(json_object_get(rec, "direction"));
        if (dir)
            add_count(direction, dir);
        json_t *party = json_object_get(rec, "from");
        const char *role = json_string_value(json_object_get(party, "role"));
        if (role && !strcmp(role, "brand"))
            party = json_array_get(json_object_get(rec, "to"), 0);
        const char *name = json_string_value(json_object_get(party, "name"));
        size_t j;
        json_t *x;
        int known = 0;
        json_array_foreach(names, j, x) known |= name && !strcmp(json_string_value(x), name);
        if (name && !known && json_array_size(names) < 20)
            json_array_append_new(names, json_string(name));
        const char *channel = json_string_value(json_object_get(rec, "channel"));
        const char *at = json_string_value(json_object_get(rec, "occurred_at"));
        if (channel && at) {
            json_t *ch = json_object_get(channels, channel);
            if (!ch) {
                ch = json_pack("{s:s,s:s}", "first_seen", at, "last_seen", at);
                json_object_set_new(channels, channel, ch);
            }
            if (strcmp(at, json_string_value(json_object_get(ch, "first_seen"))) < 0)
                json_object_set_new(ch, "first_seen", json_string(at));
            if (strcmp(at, json_string_value(json_object_get(ch, "last_seen"))) > 0)
                json_object_set_new(ch, "last_seen", json_string(at));
        }
        json_t *event = json_object_get(rec, "event");
        if (event &&
            (!strcmp(kind, "signup") || !strcmp(kind, "checkin") || !strcmp(kind, "cancel"))) {
            json_t *e = json_pack("{s:O,s:s,s:I,s:s,s:O}", "id", json_object_get(event, "id"),
                                  "kind", kind, "seq", (json_int_t)seqs[i], "at", at ? at : "",
                                  "source", json_object_get(rec, "source"));
            if (json_object_get(event, "name"))
                json_object_set(e, "name", json_object_get(event, "name"));
            json_array_append_new(events, e);
        }
        json_decref(rec);
    }
    free(seqs);
    json_decref(ids);
    json_object_set_new(c, "channels", channels);
    json_object_set_new(c, "counts", json_pack("{s:o,s:o}", "direction", direction, "kind", kinds));
    json_object_set_new(c, "events", events);
    json_object_set_new(c, "records", json_integer(records));
    json_object_set_new(c, "appears_in", json_integer(appears));
}

/* The contact's open merge candidates in place of their ids: in full for
 * the export (admin); for a read token without the other person's handles,
 * which only an admin may see (docs/identity.md). */
static void show_candidates(struct store *st, MDB_txn *txn, json_t *c, int full)
{
    json_t *ids = json_object_get(c, "merge_candidates");
    json_t *list = ids ? candidates_expand(st, txn, ids) : json_array();
    const char *me = json_string_value(json_object_get(c, "id"));
    size_t i;
    json_t *cand;
    json_array_foreach(list, i, cand)
    {
        json_t *cs = json_object_get(cand, "contacts");
        const char *a = json_string_value(json_array_get(cs, 0));
        json_t *with = json_array_get(cs, a && me && !strcmp(a, me) ? 1 : 0);
        json_object_set(cand, "with", with);
        if (!full)
            json_object_del(cand, "handles");
    }
    json_object_set_new(c, "merge_candidates", list);
}

/* Load the live contact for id (following merges) in a read transaction. */
static int load_live(struct contacts_api *ca, const char *id, json_t **out, char *live,
                     size_t live_len)
{
    MDB_txn *txn;
    int rc = store_read_begin(ca->store, &txn);
    if (rc)
        return rc;
    rc = contacts_follow(ca->store, txn, id, live, live_len);
    if (rc == 0)
        rc = contacts_load(ca->store, txn, live, out);
    if (rc == 0) {
        summarize(ca, txn, *out);
        show_candidates(ca->store, txn, *out, 0);
    }
    store_read_end(ca->store, txn);
    return rc;
}

static void get_contact(struct contacts_api *ca, struct http_req *req, const char *id)
{
    json_t *c;
    char live[32];
    int rc = load_live(ca, id, &c, live, sizeof live);
    if (rc == MDB_NOTFOUND) {
        http_respond_error(req, 404, "not_found", "no such contact");
        return;
    }
    if (rc) {
        http_respond_error(req, 503, "store_unavailable", "the store cannot be read now");
        return;
    }
    if (strcmp(live, id) != 0)
        json_object_set_new(c, "requested", json_string(id));
    add_event_summary(c);
    api_respond_json(req, 200, c);
}

/* In a query '+' stands for a space (form encoding), so the handle typed as
 * ?handle=phone:+905321234567 arrives as "phone: 905321234567", which would
 * be read as a national number (another number with a default_country, or
 * refused without one).  No phone number starts with a space that means
 * anything: a phone value that starts with one before a digit is read as
 * the '+' it was typed as.  Elsewhere (email:ayse+tag@...) the space is
 * refused, and the 400 says to write '+' as %2B. */
static void plus_as_typed(char *h)
{
    if (strncmp(h, "phone: ", 7) == 0 && h[7] >= '0' && h[7] <= '9')
        h[6] = '+';
}

static void find_by_handle(struct contacts_api *ca, struct http_req *req)
{
    char *raw = form_get(req->pub.query, strlen(req->pub.query), "handle");
    char *country = form_get(req->pub.query, strlen(req->pub.query), "default_country");
    char handle[512], msg[400];
    const char *why = "missing ?handle=scheme:value";
    if (raw)
        plus_as_typed(raw);
    int rc = raw ? handle_normalize(raw, country, handle, sizeof handle, &why) : -EINVAL;
    if (rc < 0 && raw && strchr(raw, ' ') && strchr(req->pub.query, '+')) {
        snprintf(msg, sizeof msg,
                 "%s; a '+' in a query is a space: write it as %%2B (handle=email:a%%2Bb@...)",
                 why);
        why = msg;
    }
    free(raw);
    free(country);
    if (rc < 0) {
        http_respond_error(req, 400, "bad_request", why);
        return;
    }
    MDB_txn *txn;
    char cid[32];
    if (store_read_begin(ca->store, &txn) < 0) {
        http_respond_error(req, 503, "store_unavailable", "the store cannot be read now");
        return;
    }
    rc = contacts_of_handle(ca->store, txn, handle, cid, sizeof cid);
    store_read_end(ca->store, txn);
    if (rc) {
        http_respond_error(req, 404, "not_found", "no contact has that handle");
        return;
    }
    get_contact(ca, req, cid);
}

/* Every contact id whose timeline belongs to c: itself and what it absorbed. */
static void collect_ids(json_t *c, json_t *ids, struct store *st, MDB_txn *txn, int depth)
{
    json_array_append(ids, json_object_get(c, "id"));
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(c, "merged"), i, m)
    {
        json_t *a;
        const char *aid = json_string_value(json_object_get(m, "contact"));
        if (depth < 16 && aid && contacts_load(st, txn, aid, &a) == 0) {
            collect_ids(a, ids, st, txn, depth + 1);
            json_decref(a);
        }
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

struct journal_arg {
    json_t *ids;
    uint64_t **seqs;
    size_t *ns, *cap;
};

static int journal_hit(uint64_t seq, const char *cid, void *arg)
{
    struct journal_arg *a = arg;
    size_t i;
    json_t *idv;
    json_array_foreach(a->ids, i, idv)
    {
        if (strcmp(json_string_value(idv), cid) != 0)
            continue;
        if (*a->ns == *a->cap) {
            *a->cap = *a->cap ? *a->cap * 2 : 64;
            *a->seqs = xrealloc(*a->seqs, *a->cap * sizeof **a->seqs);
        }
        (*a->seqs)[(*a->ns)++] = seq;
        break;
    }
    return 0;
}

/* The seqs of every record of a contact (sorted, unique). */
int contacts_timeline(struct store *st, MDB_txn *txn, json_t *contact, uint64_t **out, size_t *n)
{
    json_t *ids = json_array();
    collect_ids(contact, ids, st, txn, 0);
    uint64_t *seqs = NULL;
    size_t ns = 0, cap = 0;
    size_t i;
    json_t *idv;
    int rc = 0;
    json_array_foreach(ids, i, idv)
    {
        const char *id = json_string_value(idv);
        size_t il = strlen(id) + 1;
        MDB_cursor *cur;
        if ((rc = mdb_cursor_open(txn, st->timeline, &cur)))
            break;
        MDB_val k = {il, (void *)id}, v;
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            uint64_t seq;
            if (!kanal_timeline_key_of(k.mv_data, k.mv_size, id, il - 1, &seq))
                break;
            if (ns == cap) {
                cap = cap ? cap * 2 : 64;
                seqs = xrealloc(seqs, cap * sizeof *seqs);
            }
            seqs[ns++] = seq;
        }
        mdb_cursor_close(cur);
        rc = rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
        if (rc)
            break;
    }
    /* Records not yet folded into the timeline. */
    MDB_cursor *pc;
    if (rc == 0 && (rc = mdb_cursor_open(txn, st->pending, &pc)) == 0) {
        MDB_val k, v;
        for (int r = mdb_cursor_get(pc, &k, &v, MDB_FIRST); r == 0;
             r = mdb_cursor_get(pc, &k, &v, MDB_NEXT)) {
            const char *p = v.mv_data, *end = p + v.mv_size;
            int hit = 0;
            while (!hit && p < end) {
                size_t l = strnlen(p, (size_t)(end - p));
                json_array_foreach(ids, i, idv)
                {
                    const char *id = json_string_value(idv);
                    hit |= strlen(id) == l && memcmp(id, p, l) == 0;
                }
                p += l + 1;
            }
            if (!hit)
                continue;
            if (ns == cap) {
                cap = cap ? cap * 2 : 64;
                seqs = xrealloc(seqs, cap * sizeof *seqs);
            }
            memcpy(&seqs[ns++], k.mv_data, sizeof *seqs);
        }
        mdb_cursor_close(pc);
    }
    /* Records whose entry the writer keeps in memory: the log's journal. */
    if (rc == 0) {
        struct journal_arg a = {ids, &seqs, &ns, &cap};
        rc = contacts_journal(st, txn, UINT64_MAX, journal_hit, &a);
    }
    json_decref(ids);
    if (ns)
        qsort(seqs, ns, sizeof *seqs, cmp_u64);
    size_t u = 0;
    for (size_t j = 0; j < ns; j++)
        if (u == 0 || seqs[u - 1] != seqs[j])
            seqs[u++] = seqs[j];
    *out = seqs;
    *n = u;
    return rc;
}

static void get_timeline(struct contacts_api *ca, struct http_req *req, const char *id,
                         int export_all)
{
    uint64_t after;
    unsigned limit;
    const char *why;
    if (query_after_seq(req->pub.query, &after, &why) < 0 ||
        query_limit(req->pub.query, &limit, &why) < 0) {
        http_respond_error(req, 400, "bad_request", why);
        return;
    }
    MDB_txn *txn;
    if (store_read_begin(ca->store, &txn) < 0) {
        http_respond_error(req, 503, "store_unavailable", "the store cannot be read now");
        return;
    }
    char live[32];
    json_t *c = NULL;
    int rc = contacts_follow(ca->store, txn, id, live, sizeof live);
    if (rc == 0)
        rc = contacts_load(ca->store, txn, live, &c);
    if (rc) {
        store_read_end(ca->store, txn);
        http_respond_error(req, rc == MDB_NOTFOUND ? 404 : 503,
                           rc == MDB_NOTFOUND ? "not_found" : "store_unavailable",
                           rc == MDB_NOTFOUND ? "no such contact" : "the store cannot be read");
        return;
    }
    uint64_t *seqs;
    size_t n;
    rc = contacts_timeline(ca->store, txn, c, &seqs, &n);
    json_t *list = json_array();
    uint64_t next = after;
    int more = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (seqs[i] <= after)
            continue;
        if (!export_all && json_array_size(list) == (size_t)limit) {
            more = 1;
            break;
        }
        MDB_val k = {sizeof seqs[i], &seqs[i]}, v;
        if (mdb_get(txn, ca->store->log, &k, &v) == 0) {
            json_t *r = json_loadb(v.mv_data, v.mv_size, 0, NULL);
            if (r)
                json_array_append_new(list, r);
        }
        next = seqs[i];
    }
    free(seqs);
    json_t *handles = NULL;
    if (export_all) {
        /* Everything held about the person: the contact, each handle's
         * link, and every record. */
        handles = json_object();
        size_t i;
        json_t *h;
        json_array_foreach(json_object_get(c, "handles"), i, h)
        {
            const char *name = json_string_value(json_object_get(h, "handle"));
            char cid[32];
            if (name && contacts_of_handle(ca->store, txn, name, cid, sizeof cid) == 0) {
                json_t *prov = contacts_handle_provenance(ca->store, txn, name, c);
                if (prov)
                    json_object_set_new(prov, "contact", json_string(cid));
                json_object_set_new(handles, name, prov ? prov : json_null());
            }
        }
    }
    if (export_all) {
        summarize(ca, txn, c);
        show_candidates(ca->store, txn, c, 1);
    }
    store_read_end(ca->store, txn);
    if (export_all) {
        add_event_summary(c);
        api_respond_json(
            req, 200,
            json_pack("{s:o,s:o,s:o}", "contact", c, "handles", handles, "interactions", list));
    } else {
        json_decref(c);
        api_respond_json(req, 200,
                     json_pack("{s:s,s:o,s:I,s:b}", "contact", live, "interactions", list, "next",
                               (json_int_t)next, "more", more));
    }
}

/* The handlers of the /v1/contacts routes (routes.c): the router has
 * matched the method and checked the token's scope. */

void contacts_route_find(void *ctx, struct http_req *req, const struct route_params *p)
{
    struct contacts_api *ca = ctx;
    (void)p;
    find_by_handle(ca, req);
}

/* The {id} of the path in id; 0, or answers 404 for one no contact has. */
int contacts_path_id(struct http_req *req, const struct route_params *p, char id[64])
{
    const char *v = route_param(p, "id");
    size_t idlen = strlen(v);
    if (idlen == 0 || idlen >= 64) {
        http_respond_error(req, 404, "not_found", "no such contact");
        return -1;
    }
    memcpy(id, v, idlen + 1);
    return 0;
}

void contacts_route_get(void *ctx, struct http_req *req, const struct route_params *p)
{
    struct contacts_api *ca = ctx;
    char id[64];
    if (contacts_path_id(req, p, id) == 0)
        get_contact(ca, req, id);
}

void contacts_route_interactions(void *ctx, struct http_req *req, const struct route_params *p)
{
    struct contacts_api *ca = ctx;
    char id[64];
    if (contacts_path_id(req, p, id) == 0)
        get_timeline(ca, req, id, 0);
}

void contacts_route_export(void *ctx, struct http_req *req, const struct route_params *p)
{
    struct contacts_api *ca = ctx;
    char id[64];
    if (contacts_path_id(req, p, id) == 0)
        get_timeline(ca, req, id, 1);
}

/* The consent state of a handle's contact on a channel: 1 when opted out. */
int contacts_opted_out(struct contacts_api *ca, const char *handle, const char *channel)
{
    MDB_txn *txn;
    int rc = store_read_begin(ca->store, &txn);
    if (rc < 0)
        return rc;
    char cid[32];
    int out = 0;
    json_t *c;
    rc = contacts_of_handle(ca->store, txn, handle, cid, sizeof cid);
    if (rc == MDB_NOTFOUND) {
        rc = 0; /* no contact has the handle: nobody withdrew consent */
    } else if (rc == 0 && (rc = contacts_load(ca->store, txn, cid, &c)) == 0) {
        const char *state = json_string_value(
            json_object_get(json_object_get(json_object_get(c, "consent"), channel), "state"));
        out = state && strcmp(state, "optout") == 0;
        json_decref(c);
    }
    store_read_end(ca->store, txn);
    return rc ? store_err(rc) : out;
}
