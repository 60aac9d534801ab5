/* SPDX-License-Identifier: Apache-2.0 */
/* The identity graph.  Runs inside the writer's transaction, so a contact
 * is exactly as durable and as ordered as the records that made it.
 *
 * Every customer party's handles are looked up in `handles`.  Unknown
 * handles are linked to the party's contact (a new one if none of them is
 * known); handles of two different contacts in one party merge them: the
 * older contact survives, the younger is absorbed.  Every link keeps its
 * provenance (the seq that made it, the rule, a confidence), and every merge
 * is itself a record in the feed, so CRMs that follow the feed stay
 * consistent and a wrong merge can be split again.
 *
 * Only a verified party (see docs/identity.md) may merge: an asserted one
 * (a public form, an e-mail From without DMARC) names handles anyone can
 * type, so when it names two contacts it raises a merge candidate for an
 * admin instead (candidates.c). */
#include "contacts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonout.h"
#include "store.h"
#include "util.h"

#define MAX_NAMES 20

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

static uint64_t contact_number(const char *id)
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
    if (rc)
        return rc;
    size_t n = kanal_handle_value_cid_len(v.mv_data, v.mv_size);
    if (n == 0 || n >= out_len)
        return MDB_CORRUPTED;
    memcpy(out, v.mv_data, n);
    out[n] = '\0';
    return 0;
}

/* A handle's value: its contact's id and the NUL after it. */
static int handle_put(struct store *st, MDB_txn *txn, const char *handle, const char *cid)
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
static int pending_put(struct store *st, MDB_txn *txn, uint64_t seq, const char *ids,
                       size_t len)
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

/* While contacts_resolve resolves a record, the record's received_at:
 * what identity writes (created_at, a handle's "at", merge records) then
 * depends on the records alone, so that two core nodes resolving the same
 * stream write the same contacts.  0 outside: the clock.  The writer
 * thread's own, hence thread-local. */
static _Thread_local int64_t resolve_clock_ms;

int64_t contacts_clock_ms(void)
{
    return resolve_clock_ms ? resolve_clock_ms : util_now_ms();
}

void contacts_set_clock(int64_t ms)
{
    resolve_clock_ms = ms > 0 ? ms : 0;
}

static char *now_text(char buf[32])
{
    util_format_time(contacts_clock_ms(), buf, 32);
    return buf;
}

/* ---- contacts ---- */

static int read_next_contact(struct store *st, MDB_txn *txn, uint64_t *n)
{
    static const char key[] = KANAL_META_NEXT_CONTACT;
    MDB_val k = {sizeof key - 1, (void *)key}, v;
    int rc = mdb_get(txn, st->meta, &k, &v);
    *n = 1;
    if (rc == 0 && v.mv_size == sizeof *n)
        memcpy(n, v.mv_data, sizeof *n);
    else if (rc && rc != MDB_NOTFOUND)
        return rc;
    return 0;
}

static int write_next_contact(struct store *st, MDB_txn *txn, uint64_t n)
{
    static const char key[] = KANAL_META_NEXT_CONTACT;
    MDB_val k = {sizeof key - 1, (void *)key}, v = {sizeof n, &n};
    return mdb_put(txn, st->meta, &k, &v, 0);
}

/* The next contact id, c1, c2, ... in commit order.  Inside a writer
 * batch the counter lives in st and reaches meta once per commit
 * (contacts_flush): a get and a put in meta per new contact were a tenth
 * of what identity cost a record naming someone new. */
static int next_contact_id(struct store *st, MDB_txn *txn, char id[32])
{
    uint64_t n;
    int rc = 0;
    if (st->in_batch) {
        if (st->next_contact == 0)
            rc = read_next_contact(st, txn, &st->next_contact);
        n = st->next_contact++;
    } else {
        /* Another transaction (tests, tools): straight to meta, and what the
         * writer remembers is no longer known. */
        st->next_contact_committed = 0;
        if ((rc = read_next_contact(st, txn, &n)) == 0)
            rc = write_next_contact(st, txn, n + 1);
    }
    if (rc)
        return rc;
    id[0] = 'c';
    char num[24], *e = num + sizeof num, *d = util_u64_dec(e, n);
    memcpy(id + 1, d, (size_t)(e - d));
    id[1 + (e - d)] = '\0';
    return 0;
}

void contacts_batch_begin(struct store *st)
{
    st->in_batch = 1;
    st->next_contact = st->next_contact_committed;
}

int contacts_flush(struct store *st, MDB_txn *txn)
{
    if (st->next_contact == 0 || st->next_contact == st->next_contact_committed)
        return 0; /* no contact made in this transaction */
    return write_next_contact(st, txn, st->next_contact);
}

void contacts_batch_end(struct store *st, int committed)
{
    st->in_batch = 0;
    st->next_contact_committed = committed ? st->next_contact : 0;
    st->next_contact = 0;
}

static int new_contact(struct store *st, MDB_txn *txn, uint64_t seq, json_t **out)
{
    char id[32], now[32];
    int rc = next_contact_id(st, txn, id);
    if (rc)
        return rc;
    json_t *c = json_object();
    json_object_set_new(c, "id", json_string(id));
    json_object_set_new(c, "created_at", json_string(now_text(now)));
    json_object_set_new(c, "created_seq", json_integer((json_int_t)seq));
    json_object_set_new(c, "handles", json_array());
    json_object_set_new(c, "names", json_array());
    json_object_set_new(c, "consent", json_object());
    json_object_set_new(c, "merged", json_array());
    json_object_set_new(c, "split_from", json_array());
    if (json_object_size(c) != 8) { /* out of memory */
        json_decref(c);
        return ENOMEM;
    }
    *out = c;
    return 0;
}

static int link_handle(struct store *st, MDB_txn *txn, json_t *contact, const char *handle,
                       uint64_t seq, const char *rule, double confidence, const char *from,
                       int asserted)
{
    const char *cid = json_string_value(json_object_get(contact, "id"));
    char now[32];
    /* Built member by member: json_pack's format parsing showed in the
     * writer's profile, and this runs for every new handle. */
    json_t *prov = json_object();
    json_object_set_new(prov, "seq", json_integer((json_int_t)seq));
    json_object_set_new(prov, "rule", json_string(rule));
    json_object_set_new(prov, "confidence", json_real(confidence));
    json_object_set_new(prov, "at", json_string(now_text(now)));
    if (json_object_size(prov) != 4) {
        json_decref(prov);
        return ENOMEM;
    }
    if (from)
        json_object_set_new(prov, "merged_from", json_string(from));
    if (asserted) /* an admin reviewing the contact sees what proves less */
        json_object_set_new(prov, "trust", json_string("asserted"));
    int rc = handle_put(st, txn, handle, cid);
    json_object_set_new(prov, "handle", json_string(handle));
    json_array_append_new(json_object_get(contact, "handles"), prov);
    return rc;
}

static int has_string(json_t *array, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(array, i, v) if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
        return 1;
    return 0;
}

static const char *scheme_of(const char *handle, char *buf, size_t len)
{
    const char *colon = strchr(handle, ':');
    size_t n = colon ? (size_t)(colon - handle) : 0;
    if (n >= len)
        n = len - 1;
    memcpy(buf, handle, n);
    buf[n] = '\0';
    return buf;
}

/* How sure a match through this handle is (the rules of the contract). */
static void match_rule(const char *handle, const char **rule, double *confidence)
{
    char s[40];
    scheme_of(handle, s, sizeof s);
    if (strcmp(s, "crm") == 0) {
        *rule = "crm-link";
        *confidence = 1.0;
    } else if (strcmp(s, "phone") == 0) {
        /* Numbers get reassigned: strong, not certain. */
        *rule = "same-phone";
        *confidence = 0.95;
    } else if (strcmp(s, "email") == 0) {
        *rule = "same-email";
        *confidence = 0.9;
    } else {
        *rule = "same-handle";
        *confidence = 1.0;
    }
}

/* A handle new to the graph, linked because the record gives it together
 * with one that is known (or with none: the contact is new). */
static void link_rule(const char *handle, json_t *party_handles, int new_contact_made,
                      const char **rule, double *confidence)
{
    char s[40], t[40];
    scheme_of(handle, s, sizeof s);
    if (strcmp(s, "crm") == 0) {
        *rule = "crm-link";
        *confidence = 1.0;
        return;
    }
    if (strcmp(s, "phone") == 0 || strcmp(s, "wa") == 0) {
        /* WhatsApp gives wa_id and the number it stands for: the same number. */
        const char *digits = strchr(handle, ':') + 1 + (s[0] == 'p');
        size_t i;
        json_t *v;
        json_array_foreach(party_handles, i, v)
        {
            const char *o = json_string_value(v);
            scheme_of(o, t, sizeof t);
            if (strcmp(t, s) != 0 && (strcmp(t, "phone") == 0 || strcmp(t, "wa") == 0) &&
                strcmp(strchr(o, ':') + 1 + (t[0] == 'p'), digits) == 0) {
                *rule = "same-number";
                *confidence = 1.0;
                return;
            }
        }
    }
    *rule = new_contact_made ? "first-seen" : "same-party";
    *confidence = new_contact_made ? 1.0 : 0.9;
}

static json_t *sub(json_t *o, const char *key, int array)
{
    json_t *v = json_object_get(o, key);
    if (!v) {
        v = array ? json_array() : json_object();
        json_object_set_new(o, key, v);
    }
    return v;
}

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

json_t *contacts_system_record(const char *kind, const char *external_id, const char *contact,
                               json_t *meta)
{
    char now[32];
    json_t *r = json_pack("{s:i,s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:[],s:[],s:[]}", "v", 1,
                          "seq", (json_int_t)0, "id", "", "source", KANAL_SYSTEM_SOURCE,
                          "channel", "kanal", "kind", kind, "direction", "inbound",
                          "occurred_at", now_text(now), "received_at", now, "external_id",
                          external_id, "to", "mentions", "attachments");
    char id[512];
    snprintf(id, sizeof id, "%s/%s/%s", KANAL_SYSTEM_SOURCE, kind, external_id);
    json_object_set_new(r, "id", json_string(id));
    if (contact)
        json_object_set_new(r, "contact", json_string(contact));
    json_object_set_new(r, "meta", meta ? meta : json_object());
    return r;
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

/* A string literal's text, without its NUL. */
#define TEXT(o, lit) jsonout_raw(o, lit, sizeof lit - 1)

/* A contact new to the graph with all of the party's handles, written as
 * text: the same bytes new_contact, link_handle and contacts_save write
 * through jansson (docs/architecture.md lists the document), without building
 * and serializing a json_t per contact and per handle, which was a third
 * of what a record naming someone new cost the writer. */
static int create_contact(struct store *st, MDB_txn *txn, json_t *handles,
                          const struct evidence *ev, char cid[32])
{
    char now[32];
    int rc = next_contact_id(st, txn, cid);
    if (rc)
        return rc;
    now_text(now);
    size_t nl = strlen(now), cl = strlen(cid);
    struct jsonout doc = {0};
    TEXT(&doc, "{\"id\":");
    jsonout_string(&doc, cid, cl);
    TEXT(&doc, ",\"created_at\":");
    jsonout_string(&doc, now, nl);
    TEXT(&doc, ",\"created_seq\":");
    jsonout_uint(&doc, ev->seq);
    TEXT(&doc, ",\"handles\":[");
    size_t i, n = 0;
    json_t *h;
    json_array_foreach(handles, i, h)
    {
        const char *name = json_string_value(h);
        if (!name)
            continue;
        const char *rule;
        double conf;
        link_rule(name, handles, i == 0, &rule, &conf);
        if ((rc = handle_put(st, txn, name, cid)))
            break;
        /* The contact's entry: the link's provenance and the handle. */
        if (n++)
            TEXT(&doc, ",");
        TEXT(&doc, "{\"seq\":");
        jsonout_uint(&doc, ev->seq);
        TEXT(&doc, ",\"rule\":");
        jsonout_string(&doc, rule, strlen(rule));
        TEXT(&doc, ",\"confidence\":");
        jsonout_real(&doc, conf);
        TEXT(&doc, ",\"at\":");
        jsonout_string(&doc, now, nl);
        if (!ev->verified) /* an admin reviewing the contact sees what proves less */
            TEXT(&doc, ",\"trust\":\"asserted\"");
        TEXT(&doc, ",\"handle\":");
        jsonout_string(&doc, name, json_string_length(h));
        TEXT(&doc, "}");
    }
    TEXT(&doc, "],\"names\":[],\"consent\":{},\"merged\":[],\"split_from\":[]}");
    size_t tl;
    char *text = jsonout_finish(&doc, &tl);
    if (!text)
        return rc ? rc : errno == ENOMEM ? ENOMEM : EINVAL;
    if (rc == 0) {
        MDB_val k = {cl, cid}, v = {tl, text};
        rc = mdb_put(txn, st->contacts, &k, &v, 0);
    }
    free(text);
    return rc;
}

/* The contact of one party: link, create or merge; its id goes to cid.
 * The common case, a party whose handles all belong to one contact already,
 * reads two keys and writes nothing. */
static int resolve_handles(struct store *st, MDB_txn *txn, json_t *handles,
                           const struct evidence *ev, struct resolve_extra *extra, char cid[32],
                           int *created, int *merged)
{
    uint64_t seq = ev->seq;
    char ids[16][32], bridges[16][256];
    size_t nids = 0, unknown = 0;
    unsigned char is_unknown[64] = {0}; /* per handle: not in the graph */
    size_t i;
    json_t *h;
    int rc;
    json_array_foreach(handles, i, h)
    {
        char found[32];
        const char *name = json_string_value(h);
        if (!name)
            continue;
        rc = contacts_of_handle(st, txn, name, found, sizeof found);
        if (rc == MDB_NOTFOUND) {
            unknown++;
            if (i < sizeof is_unknown)
                is_unknown[i] = 1;
            continue;
        }
        if (rc)
            return rc;
        size_t j = 0;
        while (j < nids && strcmp(ids[j], found) != 0)
            j++;
        if (j == nids && nids < 16) {
            snprintf(ids[nids], sizeof ids[nids], "%s", found);
            snprintf(bridges[nids], sizeof bridges[nids], "%s", name);
            nids++;
        }
    }
    *created = 0;
    if (nids == 1 && unknown == 0) {
        snprintf(cid, 32, "%s", ids[0]);
        return 0;
    }
    if (nids == 0 && json_array_size(handles) <= sizeof is_unknown) {
        /* Nobody the graph knows: every handle is new (the common case
         * after a match). */
        if ((rc = create_contact(st, txn, handles, ev, cid)))
            return rc;
        *created = 1;
        return 0;
    }
    json_t *c = NULL;
    int made = 0;
    if (nids == 0) {
        if ((rc = new_contact(st, txn, seq, &c)))
            return rc;
        made = 1;
    } else if (!ev->verified) {
        /* Asserted evidence never merges: the record goes to the contact
         * of the first handle the graph knows (the party's main one when
         * known), and every other contact it names becomes a candidate. */
        if ((rc = contacts_load(st, txn, ids[0], &c)))
            return rc;
        for (size_t j = 1; j < nids; j++) {
            if ((rc = candidates_raise(st, txn, c, ids[j], bridges[0], bridges[j], ev))) {
                json_decref(c);
                return rc;
            }
        }
    } else {
        size_t oldest = 0;
        for (size_t j = 1; j < nids; j++)
            if (contact_number(ids[j]) < contact_number(ids[oldest]))
                oldest = j;
        if ((rc = contacts_load(st, txn, ids[oldest], &c)))
            return rc;
        for (size_t j = 0; j < nids; j++) {
            if (j == oldest || contacts_kept_apart(c, ids[j]))
                continue;
            if ((rc = contacts_merge(st, txn, c, ids[j], seq, bridges[j], NULL, extra))) {
                json_decref(c);
                return rc;
            }
            (*merged)++;
        }
    }
    /* Link the handles the graph did not know. */
    rc = 0;
    json_array_foreach(handles, i, h)
    {
        const char *name = json_string_value(h);
        if (!name || (i < sizeof is_unknown && !is_unknown[i]))
            continue; /* known: to this contact, or to one split from it */
        if (i >= sizeof is_unknown) { /* a party with very many handles */
            char found[32];
            int r = contacts_of_handle(st, txn, name, found, sizeof found);
            if (r == 0)
                continue;
            if (r != MDB_NOTFOUND) {
                rc = r;
                break;
            }
        }
        const char *rule;
        double conf;
        link_rule(name, handles, made && i == 0, &rule, &conf);
        if ((rc = link_handle(st, txn, c, name, seq, rule, conf, NULL, !ev->verified)))
            break;
    }
    if (rc == 0)
        rc = contacts_save(st, txn, c);
    if (rc == 0) {
        snprintf(cid, 32, "%s", json_string_value(json_object_get(c, "id")));
        *created = made;
    }
    json_decref(c);
    return rc;
}

/* The one thing kept per contact from its records: consent, which every
 * send checks.  Everything else is computed from the timeline on request. */
static int consent_kind(json_t *rec)
{
    const char *kind = json_string_value(json_object_get(rec, "kind"));
    return kind && (!strcmp(kind, "optout") || !strcmp(kind, "optin"));
}

static int note_consent(struct store *st, MDB_txn *txn, const char *cid, json_t *rec,
                        uint64_t seq)
{
    json_t *c;
    int rc = contacts_load(st, txn, cid, &c);
    if (rc)
        return rc == MDB_NOTFOUND ? 0 : rc;
    const char *channel = json_string_value(json_object_get(rec, "channel"));
    const char *at = json_string_value(json_object_get(rec, "occurred_at"));
    json_object_set_new(sub(c, "consent", 0), channel ? channel : "",
                        json_pack("{s:s,s:I,s:s,s:s}", "state",
                                  json_string_value(json_object_get(rec, "kind")), "seq",
                                  (json_int_t)seq, "at", at ? at : "", "source",
                                  json_string_value(json_object_get(rec, "source"))));
    rc = contacts_save(st, txn, c);
    json_decref(c);
    return rc;
}

static int is_customer(json_t *party)
{
    const char *role = json_string_value(json_object_get(party, "role"));
    return json_is_object(party) && (!role || strcmp(role, "customer") == 0) &&
           json_is_array(json_object_get(party, "handles"));
}

static int resolve_record(struct store *st, MDB_txn *txn, json_t *rec, uint64_t seq,
                          struct resolve_extra *extra);

int contacts_resolve(struct store *st, MDB_txn *txn, json_t *rec, uint64_t seq,
                     struct resolve_extra *extra)
{
    if (!st->identity || !json_is_object(rec))
        return 0;
    int64_t at = 0, before = resolve_clock_ms;
    const char *received = json_string_value(json_object_get(rec, "received_at"));
    if (received && util_parse_time(received, &at) == 0 && at > 0)
        resolve_clock_ms = at;
    int rc = resolve_record(st, txn, rec, seq, extra);
    resolve_clock_ms = before; /* a state command's time (contacts_set_clock), or 0 */
    return rc;
}

static int resolve_record(struct store *st, MDB_txn *txn, json_t *rec, uint64_t seq,
                          struct resolve_extra *extra)
{
    int rc;
    const char *given = json_string_value(json_object_get(rec, "contact"));
    if (given) {
        /* kanald's own records (clicks, consent, merges, erasure) name their
         * contact: put them on its timeline. */
        char live[32];
        if (contacts_follow(st, txn, given, live, sizeof live) != 0)
            return 0;
        json_object_set_new(rec, "contact", json_string(live));
        rc = pending_put(st, txn, seq, live, strlen(live) + 1);
        if (rc == 0 && consent_kind(rec))
            rc = note_consent(st, txn, live, rec, seq);
        return rc;
    }
    const char *source = json_string_value(json_object_get(rec, "source"));
    if (source && strcmp(source, KANAL_SYSTEM_SOURCE) == 0)
        return 0; /* kanald's own records name their contact or none */
    json_t *parties[64];
    size_t np = 0;
    json_t *from = json_object_get(rec, "from");
    if (is_customer(from))
        parties[np++] = from;
    static const char *const lists[] = {"to", "mentions"};
    for (size_t l = 0; l < 2; l++) {
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(rec, lists[l]), i, p) if (is_customer(p) && np < 64)
            parties[np++] = p;
    }
    /* The record's contact: who acted if a customer did, else whom the
     * brand addressed.  Every customer party's contact gets the record on
     * its timeline. */
    char ids[64 * 32];
    size_t idlen = 0;
    for (size_t i = 0; i < np; i++) {
        char cid[32];
        int created = 0, merged = 0;
        const char *trust = json_string_value(json_object_get(parties[i], "trust"));
        struct evidence ev = {seq, trust && strcmp(trust, "verified") == 0, source};
        if ((rc = resolve_handles(st, txn, json_object_get(parties[i], "handles"), &ev, extra, cid,
                                  &created, &merged)))
            return rc;
        if (i == 0) {
            json_object_set_new(rec, "contact", json_string(cid));
            if (consent_kind(rec) && (rc = note_consent(st, txn, cid, rec, seq)))
                return rc;
        }
        size_t l = strlen(cid) + 1;
        if (idlen + l <= sizeof ids) {
            memcpy(ids + idlen, cid, l);
            idlen += l;
        }
    }
    return idlen ? pending_put(st, txn, seq, ids, idlen) : 0;
}

int contacts_link_crm(struct store *st, MDB_txn *txn, const char *crm_id, json_t *handles,
                      const char *name, uint64_t seq_hint, struct resolve_extra *extra,
                      struct crm_result *res)
{
    int created = 0, merged = 0;
    memset(res, 0, sizeof *res);
    /* The CRM is the system of record: what it links is verified. */
    struct evidence ev = {seq_hint, 1, "crm"};
    int rc = resolve_handles(st, txn, handles, &ev, extra, res->contact, &created, &merged);
    if (rc)
        return rc;
    json_t *c;
    if ((rc = contacts_load(st, txn, res->contact, &c)))
        return rc;
    const char *had = json_string_value(json_object_get(c, "crm"));
    json_t *names = sub(c, "names", 1);
    int changed = !had || strcmp(had, crm_id) != 0;
    if (name && *name && !has_string(names, name) && json_array_size(names) < MAX_NAMES) {
        json_array_append_new(names, json_string(name));
        changed = 1;
    }
    json_object_set_new(c, "crm", json_string(crm_id));
    if (changed)
        rc = contacts_save(st, txn, c);
    json_decref(c);
    res->created = created;
    res->matched = !created;
    res->merged = merged;
    return rc;
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
