/* SPDX-License-Identifier: Apache-2.0 */
/* Erasure (GDPR / KVKK): DELETE /v1/contacts/<id>.
 *
 * Every record of the person keeps its seq, kind, channel, direction and
 * times, so feeds and counts stay consistent, but loses everything personal:
 * parties, text, subject, attachments, raw payload, threading ids and the
 * channel's external id (which for e-mail is a Message-ID with an address
 * in it).  The idempotency key goes too; its SHA-256 digest stays, so a
 * redelivery of an erased message is still recognised and not stored again.
 * Handles, the contact, its links and plugin state naming its handles are
 * deleted, pending messages to it are cancelled, its rows leave the kept
 * scores, and an `erase` record tells
 * downstream copies to erase too.
 *
 * LMDB never overwrites a page in place: the erased data would survive in
 * the file's free pages.  After the commit, store_scrub_free_pages() (scrub.c) fills
 * the free pages with zeros, so the data leaves the file itself. */
#include <errno.h>
#include <stdint.h>
#include <pthread.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "contacts.h"
#include "contacts_api.h"
#include "contacts_op.h"
#include "crypto.h"
#include "erase.h"
#include "handle.h"
#include "http.h"
#include "jsonout.h"
#include "keep.h"
#include "log.h"
#include "outbox.h"
#include "statecmd_pub.h"
#include "store.h"
#include "util.h"
#include "writer.h"

struct erase_op {
    struct contacts_api *ca;
    struct http_req *req;
    char id[64];
    int status;
    json_t *answer;
    json_t *cancelled; /* outbox message ids */
    struct statecmd_run *run; /* a cluster's state command: nobody to answer */
};

static json_t *erased_party(const char *cid, json_t *old)
{
    char h[64];
    snprintf(h, sizeof h, "erased:%s", cid);
    const char *role = json_string_value(json_object_get(old, "role"));
    return json_pack("{s:s,s:s,s:[s]}", "handle", h, "role", role ? role : "customer", "handles",
                     h);
}

static int party_is(json_t *party, json_t *handles)
{
    size_t i;
    json_t *h;
    json_array_foreach(json_object_get(party, "handles"), i, h)
    {
        if (json_object_get(handles, json_string_value(h)))
            return 1;
    }
    const char *main = json_string_value(json_object_get(party, "handle"));
    return main && json_object_get(handles, main);
}

static int scrub_parties(json_t *rec, const char *field, json_t *handles, const char *cid)
{
    json_t *list = json_object_get(rec, field);
    int n = 0;
    for (size_t i = 0; i < json_array_size(list); i++)
        if (party_is(json_array_get(list, i), handles)) {
            json_array_set_new(list, i, erased_party(cid, json_array_get(list, i)));
            n++;
        }
    return n;
}

/* Rewrite one record without the person; drop its idempotency key. */
static int erase_record(struct store *st, MDB_txn *txn, uint64_t seq, json_t *ids, json_t *handles,
                        const char *cid)
{
    MDB_val k = {sizeof seq, &seq}, v;
    int rc = mdb_get(txn, st->log, &k, &v);
    if (rc)
        return rc == MDB_NOTFOUND ? 0 : rc;
    json_t *rec = json_loadb(v.mv_data, v.mv_size, 0, NULL);
    if (!rec)
        return MDB_CORRUPTED;
    const char *contact = json_string_value(json_object_get(rec, "contact"));
    int theirs = 0;
    size_t i;
    json_t *idv;
    json_array_foreach(ids, i, idv) theirs |= contact && !strcmp(contact, json_string_value(idv));
    const char *source = json_string_value(json_object_get(rec, "source"));
    const char *kind = json_string_value(json_object_get(rec, "kind"));
    const char *ext = json_string_value(json_object_get(rec, "external_id"));
    if (!source || !kind || !ext) {
        json_decref(rec);
        return 0;
    }
    /* Records kanald wrote about the contact (merges, splits) hold ids only. */
    int bookkeeping =
        !strcmp(source, KANAL_SYSTEM_SOURCE) && (!strcmp(kind, "merge") || !strcmp(kind, "split"));
    if (theirs && !bookkeeping) {
        char key[2048];
        size_t kl = store_idem_key(key, sizeof key, source, kind, ext);
        MDB_val ik = {kl, key};
        rc = mdb_del(txn, st->idem, &ik, NULL);
        if (rc && rc != MDB_NOTFOUND)
            goto out;
        unsigned char digest[32];
        crypto_sha256(key, kl, digest);
        MDB_val dk = {sizeof digest, digest}, dv = {sizeof seq, &seq};
        st->erased_none = st->erased_none_known = 0;
        if ((rc = mdb_put(txn, st->erased, &dk, &dv, 0)))
            goto out;
        char nid[600], next[64];
        snprintf(next, sizeof next, "erased-%llu", (unsigned long long)seq);
        snprintf(nid, sizeof nid, "%s/%s/%s", source, kind, next);
        json_object_set_new(rec, "id", json_string(nid));
        json_object_set_new(rec, "external_id", json_string(next));
        static const char *const personal[] = {"thread", "reply_to", "subject", "text", "raw"};
        for (size_t f = 0; f < ARRAY_SIZE(personal); f++)
            json_object_del(rec, personal[f]);
        if (json_object_get(rec, "from"))
            json_object_set_new(rec, "from", erased_party(cid, json_object_get(rec, "from")));
        json_object_set_new(rec, "attachments", json_array());
        json_object_set_new(rec, "meta", json_pack("{s:b}", "erased", 1));
    } else {
        json_object_del(rec, "raw");
        if (party_is(json_object_get(rec, "from"), handles))
            json_object_set_new(rec, "from", erased_party(cid, json_object_get(rec, "from")));
    }
    scrub_parties(rec, "to", handles, cid);
    scrub_parties(rec, "mentions", handles, cid);
    char *text = jsonout_text(rec);
    MDB_val nv = {strlen(text), text};
    rc = mdb_put(txn, st->log, &k, &nv, 0);
    free(text);
out:
    json_decref(rec);
    return rc;
}

/* Delete every key of db for which match() says so. */
static int delete_where(MDB_txn *txn, MDB_dbi dbi, int (*match)(MDB_val *, MDB_val *, void *),
                        void *arg, int *count)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, dbi, &cur);
    if (rc)
        return rc;
    MDB_val k, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (match(&k, &v, arg)) {
            if ((rc = mdb_cursor_del(cur, 0)))
                break;
            if (count)
                (*count)++;
        }
    }
    mdb_cursor_close(cur);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int mem_has(const MDB_val *v, const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || v->mv_size < n)
        return 0;
    return memmem(v->mv_data, v->mv_size, s, n) != NULL;
}

/* State entries (plugin cursors) that name one of the handles: the whole
 * handle, or an address or number written on its own (never a mere run of
 * digits, which a cursor may contain by chance). */
static int state_names_handle(MDB_val *k, MDB_val *v, void *arg)
{
    json_t *handles = arg;
    const char *h;
    json_t *x;
    json_object_foreach(handles, h, x)
    {
        const char *value = strchr(h, ':') + 1;
        int distinctive = strchr(value, '@') != NULL || value[0] == '+';
        if (mem_has(k, h) || mem_has(v, h) ||
            (distinctive && (mem_has(k, value) || mem_has(v, value))))
            return 1;
    }
    return 0;
}

static int timeline_of(MDB_val *k, MDB_val *v, void *arg)
{
    (void)v;
    json_t *ids = arg;
    size_t i;
    json_t *idv;
    json_array_foreach(ids, i, idv)
    {
        const char *id = json_string_value(idv);
        uint64_t seq;
        if (kanal_timeline_key_of(k->mv_data, k->mv_size, id, strlen(id), &seq))
            return 1;
    }
    return 0;
}

static int link_of(MDB_val *k, MDB_val *v, void *arg)
{
    (void)k;
    json_t *ids = arg;
    json_t *l = json_loadb(v->mv_data, v->mv_size, 0, NULL);
    const char *c = json_string_value(json_object_get(l, "contact"));
    int hit = 0;
    size_t i;
    json_t *idv;
    json_array_foreach(ids, i, idv) hit |= c && !strcmp(c, json_string_value(idv));
    json_decref(l);
    return hit;
}

/* Outbound messages to the person: scrub their stored copy; cancel the
 * pending ones. */
static int scrub_messages(struct store *st, MDB_txn *txn, json_t *handles, json_t *cancelled)
{
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, st->messages, &cur);
    if (rc)
        return rc;
    MDB_val k, v;
    json_t *changed = json_array();
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        json_t *m = json_loadb(v.mv_data, v.mv_size, 0, NULL);
        const char *to = json_string_value(json_object_get(m, "to"));
        char norm[512];
        const char *why;
        int hit = to && (json_object_get(handles, to) ||
                         (handle_normalize(to, NULL, norm, sizeof norm, &why) == 0 &&
                          json_object_get(handles, norm)));
        if (hit)
            json_array_append_new(changed, m);
        else
            json_decref(m);
    }
    mdb_cursor_close(cur);
    rc = 0;
    size_t i;
    json_t *m;
    json_array_foreach(changed, i, m)
    {
        const char *status = json_string_value(json_object_get(m, "status"));
        json_object_set_new(m, "to", json_string("erased"));
        json_object_del(m, "text");
        json_object_del(m, "template");
        json_object_del(m, "reply_to");
        if (status && (!strcmp(status, "queued") || !strcmp(status, "sending"))) {
            json_object_set_new(m, "status", json_string("failed"));
            json_object_set_new(m, "reason", json_string("erased"));
            uint64_t num = (uint64_t)json_integer_value(json_object_get(m, "num"));
            MDB_val ok = {sizeof num, &num};
            rc = mdb_del(txn, st->outbox, &ok, NULL);
            if (rc && rc != MDB_NOTFOUND)
                break;
            json_array_append(cancelled, json_object_get(m, "id"));
        }
        char *text = jsonout_text(m);
        const char *id = json_string_value(json_object_get(m, "id"));
        MDB_val mk = {strlen(id), (void *)id}, mv = {strlen(text), text};
        rc = mdb_put(txn, st->messages, &mk, &mv, 0);
        free(text);
        if (rc)
            break;
    }
    json_decref(changed);
    return rc;
}

static int apply_erase(struct write_item *it, struct store *st, MDB_txn *txn)
{
    struct erase_op *op = it->arg;
    /* A transaction retried (the map grew) starts again from nothing. */
    json_array_clear(op->cancelled);
    json_decref(op->answer);
    op->answer = NULL;
    char live[32];
    json_t *c = NULL;
    int rc = contacts_follow(st, txn, op->id, live, sizeof live);
    if (rc == 0)
        rc = contacts_load(st, txn, live, &c);
    if (rc == MDB_NOTFOUND) {
        op->status = 404;
        op->answer =
            json_pack("{s:{s:s,s:s}}", "error", "code", "not_found", "message", "no such contact");
        return 0;
    }
    if (rc)
        return rc;
    /* The contact counter into meta before any contact is deleted: it is
     * counted on over the contacts after meta's value, and a deleted one
     * would stop it short of ids already given. */
    if ((rc = contacts_counter_pin(st, txn))) {
        json_decref(c);
        return rc;
    }
    /* Fold the timeline first, so that the person's records are all found
     * and nothing pending names them afterwards. */
    size_t folded;
    if ((rc = contacts_fold(st, txn, SIZE_MAX, &folded))) {
        json_decref(c);
        return rc;
    }
    /* The person: the contact, what it absorbed, and all their handles. */
    json_t *ids = json_array(), *handles = json_object();
    json_t *queue = json_array();
    json_array_append_new(queue, json_string(live));
    for (size_t q = 0; q < json_array_size(queue) && q < 256; q++) {
        const char *id = json_string_value(json_array_get(queue, q));
        json_t *x;
        if (contacts_load(st, txn, id, &x) != 0)
            continue;
        json_array_append_new(ids, json_string(id));
        size_t i;
        json_t *h;
        json_array_foreach(json_object_get(x, "handles"), i, h)
        {
            const char *name = json_string_value(json_object_get(h, "handle"));
            if (name)
                json_object_set_new(handles, name, json_true());
        }
        json_array_foreach(json_object_get(x, "merged"), i, h)
            json_array_append(queue, json_object_get(h, "contact"));
        json_decref(x);
    }
    json_decref(queue);
    uint64_t *seqs = NULL;
    size_t n = 0;
    rc = contacts_timeline(st, txn, c, &seqs, &n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = erase_record(st, txn, seqs[i], ids, handles, live);
    free(seqs);
    int nstate = 0, nlinks = 0;
    const char *h;
    json_t *x;
    json_object_foreach(handles, h, x)
    {
        MDB_val k = {strlen(h), (void *)h};
        int r = mdb_del(txn, st->handles, &k, NULL);
        if (rc == 0 && r && r != MDB_NOTFOUND)
            rc = r;
    }
    /* Merge candidates name the person's handles: they go too. */
    if (rc == 0)
        rc = candidates_forget(st, txn, ids);
    size_t i;
    json_t *idv;
    json_array_foreach(ids, i, idv)
    {
        const char *id = json_string_value(idv);
        MDB_val k = {strlen(id), (void *)id};
        int r = mdb_del(txn, st->contacts, &k, NULL);
        if (rc == 0 && r && r != MDB_NOTFOUND)
            rc = r;
    }
    if (rc == 0)
        rc = delete_where(txn, st->timeline, timeline_of, ids, NULL);
    if (rc == 0)
        rc = delete_where(txn, st->state, state_names_handle, handles, &nstate);
    if (rc == 0)
        rc = delete_where(txn, st->links, link_of, ids, &nlinks);
    if (rc == 0)
        rc = scrub_messages(st, txn, handles, op->cancelled);
    /* The kept scores name the person too: their rows go in this same
     * transaction, so no answer names them once the erasure commits. */
    if (rc == 0)
        rc = score_forget(st, txn, ids, NULL);
    if (rc == 0) {
        char ext[128], now[32];
        util_format_time(contacts_clock_ms(), now, sizeof now);
        snprintf(ext, sizeof ext, "%s-at-%s", live, now);
        struct resolve_extra extra = {0};
        extra.recs = xmalloc(sizeof *extra.recs);
        extra.recs[0] = contacts_system_record(
            "erase", ext, live,
            json_pack("{s:s,s:O,s:i,s:i,s:i}", "contact", live, "contacts", ids, "records", (int)n,
                      "handles", (int)json_object_size(handles), "cancelled_messages",
                      (int)json_array_size(op->cancelled)));
        extra.n = 1;
        rc = writer_append_system(st, txn, &extra, &it->last_seq);
        resolve_extra_clear(&extra);
        op->status = 200;
        op->answer =
            json_pack("{s:s,s:O,s:i,s:i,s:i,s:O,s:I}", "erased", live, "contacts", ids, "records",
                      (int)n, "handles", (int)json_object_size(handles), "state_entries", nstate,
                      "cancelled_messages", op->cancelled, "seq", (json_int_t)it->last_seq);
    }
    json_decref(ids);
    json_decref(handles);
    json_decref(c);
    it->scrub_after = rc == 0;
    return rc;
}

static void erase_done(struct write_item *it)
{
    struct erase_op *op = it->arg;
    if (!it->status && op->status == 200) {
        log_notice("contact %s erased", op->id);
        size_t i;
        json_t *m;
        json_array_foreach(op->cancelled, i, m)
            outbox_forget(*op->ca->outbox, json_string_value(m));
    }
    contacts_op_reply(op->req, op->run, it->status, op->status, op->answer);
    json_decref(op->answer);
    json_decref(op->cancelled);
    free(op);
    write_item_free(it);
}

static struct write_item *make_item(struct contacts_api *ca, struct http_req *req,
                                    const char *id)
{
    struct erase_op *op = xcalloc(1, sizeof *op);
    op->ca = ca;
    op->req = req;
    op->cancelled = json_array();
    snprintf(op->id, sizeof op->id, "%s", id);
    struct write_item *it = xcalloc(1, sizeof *it);
    it->apply = apply_erase;
    it->done = erase_done;
    it->arg = op;
    return it;
}

/* DELETE /v1/contacts/{id} (routes.c; the router checked method and scope). */
void contacts_route_erase(void *ctx, struct http_req *req, const struct route_params *p)
{
    struct contacts_api *ca = ctx;
    char id[64];
    if (contacts_path_id(req, p, id) < 0)
        return;
    if (statecmd_route(ca->state, ca->store, req, "erase", id, NULL))
        return;
    writer_submit(ca->writer, make_item(ca, req, id));
}

/* A cluster's state command "erase" (statecmd.c): the route's item. */
struct write_item *erase_cmd_item(struct contacts_api *ca, const char *command,
                                  const char *target, struct statecmd_run *run, const char **why)
{
    *why = NULL;
    if (strcmp(command, "erase"))
        return NULL;
    if (!target || strlen(target) >= 64) {
        *why = "no target, or one the route would not take";
        return NULL;
    }
    struct write_item *it = make_item(ca, NULL, target);
    ((struct erase_op *)it->arg)->run = run;
    return it;
}
