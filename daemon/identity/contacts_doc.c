/* SPDX-License-Identifier: Apache-2.0 */
/* Contact documents: ids from the counter (kept per writer batch), a new
 * contact, written whole as text when all of a party's handles are new,
 * handles linked with their provenance and the rules that name it, and
 * kanald's own system records.  Part of the contacts module (contacts.c). */
#include "contacts_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonout.h"
#include "store.h"
#include "util.h"

/* ---- contacts ---- */

static void format_contact_id(uint64_t n, char id[32])
{
    id[0] = 'c';
    char num[24], *e = num + sizeof num, *d = util_u64_dec(e, n);
    memcpy(id + 1, d, (size_t)(e - d));
    id[1 + (e - d)] = '\0';
}

/* The counter reaches meta a block at a time, not with every commit that
 * makes a contact: with one record per commit, a put in meta for each was
 * 3k instructions of the 96k a record naming someone new cost.  When a
 * commit takes the counter past the block meta holds, it writes both ends
 * of the next one: contact_from = the counter, next_contact = contact_from
 * + COUNTER_BLOCK, a number no contact has yet, which is what a kanald
 * that reads next_contact alone (an earlier build, after a crash) goes on
 * from.  This one goes on from contact_from, counted on over the ids after
 * it that are in contacts.  Those all are: only an erasure deletes
 * contacts, and it writes a new block first (contacts_counter_pin).  A
 * next_contact that is not contact_from + COUNTER_BLOCK (no contact_from:
 * an older store; or an earlier kanald wrote it) is the exact counter. */
#define COUNTER_BLOCK 64

/* The uint64 under a meta key into *out, 1 in *found; 0 in *found when
 * there is none. */
static int meta_u64(struct store *st, MDB_txn *txn, const char *key, uint64_t *out, int *found)
{
    MDB_val k = {strlen(key), (void *)key}, v;
    int rc = mdb_get(txn, st->meta, &k, &v);
    *found = rc == 0 && v.mv_size == sizeof *out;
    if (*found)
        memcpy(out, v.mv_data, sizeof *out);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* The counter into *n, and the end of meta's block into *bound. */
static int read_counter(struct store *st, MDB_txn *txn, uint64_t *n, uint64_t *bound)
{
    uint64_t next = 1, from = 0;
    int has_next, has_from, rc;
    if ((rc = meta_u64(st, txn, KANAL_META_NEXT_CONTACT, &next, &has_next)) ||
        (rc = meta_u64(st, txn, KANAL_META_CONTACT_FROM, &from, &has_from)))
        return rc;
    if (!has_next)
        next = 1;
    *bound = next;
    if (!has_from || from + COUNTER_BLOCK != next) {
        *n = next; /* exact */
        return 0;
    }
    for (*n = from; *n < next; ++*n) {
        char id[32];
        format_contact_id(*n, id);
        MDB_val ck = {strlen(id), id}, cv;
        if ((rc = mdb_get(txn, st->contacts, &ck, &cv)) == MDB_NOTFOUND)
            return 0;
        if (rc)
            return rc;
    }
    return 0;
}

int contacts_next_number(struct store *st, MDB_txn *txn, uint64_t *n)
{
    uint64_t bound;
    return read_counter(st, txn, n, &bound);
}

/* A new block from n: the ids before n given, none from n on. */
static int write_block(struct store *st, MDB_txn *txn, uint64_t n)
{
    static const char kf[] = KANAL_META_CONTACT_FROM, kn[] = KANAL_META_NEXT_CONTACT;
    uint64_t end = n + COUNTER_BLOCK;
    MDB_val f = {sizeof kf - 1, (void *)kf}, fv = {sizeof n, &n};
    MDB_val k = {sizeof kn - 1, (void *)kn}, v = {sizeof end, &end};
    int rc = mdb_put(txn, st->meta, &f, &fv, 0);
    return rc ? rc : mdb_put(txn, st->meta, &k, &v, 0);
}

/* Inside a writer batch: the transaction's counter, read once. */
static int batch_counter(struct store *st, MDB_txn *txn)
{
    if (st->next_contact)
        return 0;
    return read_counter(st, txn, &st->next_contact, &st->next_contact_bound);
}

int peek_contact_id(struct store *st, MDB_txn *txn, char id[32])
{
    uint64_t n;
    int rc = 0;
    if (st->in_batch) {
        rc = batch_counter(st, txn);
        n = st->next_contact;
    } else {
        rc = contacts_next_number(st, txn, &n);
    }
    if (rc == 0)
        format_contact_id(n, id);
    return rc;
}

/* The next contact id, c1, c2, ... in commit order.  Inside a writer
 * batch the counter lives in st and reaches meta at most once per commit
 * (contacts_flush): a get and a put in meta per new contact were a tenth
 * of what identity cost a record naming someone new. */
static int next_contact_id(struct store *st, MDB_txn *txn, char id[32])
{
    uint64_t n = 0, bound;
    int rc = 0;
    if (st->in_batch) {
        if ((rc = batch_counter(st, txn)) == 0)
            n = st->next_contact++;
    } else {
        /* Another transaction (tests, tools): straight to meta, and what the
         * writer remembers is no longer known. */
        st->next_contact_committed = 0;
        if ((rc = read_counter(st, txn, &n, &bound)) == 0)
            rc = write_block(st, txn, n + 1);
    }
    if (rc)
        return rc;
    format_contact_id(n, id);
    return 0;
}

int contacts_counter_pin(struct store *st, MDB_txn *txn)
{
    if (!st->in_batch) {
        uint64_t n, bound;
        st->next_contact_committed = 0;
        int rc = read_counter(st, txn, &n, &bound);
        return rc ? rc : write_block(st, txn, n);
    }
    st->next_contact_pin = 1;
    return batch_counter(st, txn);
}

void contacts_batch_begin(struct store *st)
{
    pending_batch_begin(st);
    st->in_batch = 1;
    st->next_contact_pin = 0;
    st->next_contact = st->next_contact_committed;
    st->next_contact_bound = st->next_contact_bound_committed;
}

int contacts_flush(struct store *st, MDB_txn *txn, uint64_t last)
{
    int prc = pending_flush(st, txn, last);
    if (prc)
        return prc;
    uint64_t n = st->next_contact;
    if (n == 0 || (!st->next_contact_pin && n <= st->next_contact_bound))
        return 0; /* nothing pinned, and every id given is below the block's end */
    int rc = write_block(st, txn, n);
    if (rc == 0)
        st->next_contact_bound = n + COUNTER_BLOCK;
    return rc;
}

void contacts_batch_end(struct store *st, int committed)
{
    pending_batch_end(st, committed);
    st->in_batch = 0;
    st->next_contact_pin = 0;
    st->next_contact_committed = committed ? st->next_contact : 0;
    st->next_contact_bound_committed = committed ? st->next_contact_bound : 0;
    st->next_contact = st->next_contact_bound = 0;
}

int new_contact(struct store *st, MDB_txn *txn, uint64_t seq, json_t **out)
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

int link_handle(struct store *st, MDB_txn *txn, json_t *contact, const char *handle, uint64_t seq,
                const char *rule, double confidence, const char *from, int asserted)
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

int has_string(json_t *array, const char *s)
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
void match_rule(const char *handle, const char **rule, double *confidence)
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
void link_rule(const char *handle, const struct handle_list *party_handles, int new_contact_made,
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
        for (size_t i = 0; i < party_handles->n; i++) {
            const char *o = party_handles->v[i];
            if (!o)
                continue;
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

json_t *sub(json_t *o, const char *key, int array)
{
    json_t *v = json_object_get(o, key);
    if (!v) {
        v = array ? json_array() : json_object();
        json_object_set_new(o, key, v);
    }
    return v;
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

/* n bytes of s at p; the end of what was copied. */
static char *cat(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

/* A string literal's text, without its NUL. */
#define TEXT(o, lit) jsonout_raw(o, lit, sizeof lit - 1)

/* A contact new to the graph with all of the party's handles, written as
 * text: the same bytes new_contact, link_handle and contacts_save write
 * through jansson (docs/architecture.md lists the document), without building
 * and serializing a json_t per contact and per handle, which was a third
 * of what a record naming someone new cost the writer.  The handles are
 * already in `handles`, pointing at the id this takes (resolve_handles
 * claimed them). */
int create_contact(struct store *st, MDB_txn *txn, const struct handle_list *handles,
                   const struct evidence *ev, char cid[32])
{
    char now[32];
    int rc = next_contact_id(st, txn, cid);
    if (rc)
        return rc;
    now_text(now);
    size_t nl = strlen(now), cl = strlen(cid);
    /* The id, the time and the rules need no escaping (c<digits>, RFC 3339,
     * literals): they go in with the text around them, a few copies per
     * handle instead of a dozen quoted and unquoted pieces. */
    char seq[24], *se = seq + sizeof seq, *sd = util_u64_dec(se, ev->seq);
    size_t sl = (size_t)(se - sd);
    char buf[160], *p = buf;
    struct jsonout doc = {0};
    p = cat(p, "{\"id\":\"", 7);
    p = cat(p, cid, cl);
    p = cat(p, "\",\"created_at\":\"", 16);
    p = cat(p, now, nl);
    p = cat(p, "\",\"created_seq\":", 16);
    p = cat(p, sd, sl);
    p = cat(p, ",\"handles\":[", 12);
    jsonout_raw(&doc, buf, (size_t)(p - buf));
    size_t n = 0;
    for (size_t i = 0; i < handles->n; i++) {
        const char *name = handles->v[i];
        if (!name)
            continue;
        const char *rule;
        double conf;
        link_rule(name, handles, i == 0, &rule, &conf);
        /* The contact's entry: the link's provenance and the handle. */
        p = buf;
        if (n++)
            *p++ = ',';
        p = cat(p, "{\"seq\":", 7);
        p = cat(p, sd, sl);
        p = cat(p, ",\"rule\":\"", 9);
        p = cat(p, rule, strlen(rule));
        p = cat(p, "\",\"confidence\":", 15);
        jsonout_raw(&doc, buf, (size_t)(p - buf));
        jsonout_real(&doc, conf);
        p = cat(buf, ",\"at\":\"", 7);
        p = cat(p, now, nl);
        *p++ = '"';
        if (!ev->verified) /* an admin reviewing the contact sees what proves less */
            p = cat(p, ",\"trust\":\"asserted\"", 19);
        p = cat(p, ",\"handle\":", 10);
        jsonout_raw(&doc, buf, (size_t)(p - buf));
        jsonout_string(&doc, name, strlen(name));
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
