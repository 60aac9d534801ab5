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
 * admin instead (candidates.c).
 *
 * This file is resolution itself: a record's parties to contacts, the CRM's
 * links, the clock identity stamps its changes with.  contacts_store.c
 * holds identity's keys (documents, handles, the timeline), contacts_doc.c
 * makes and changes the documents, contacts_merge.c merges and splits;
 * contacts_int.h is what they share. */
#include "contacts_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "store.h"
#include "util.h"

/* While contacts_resolve resolves a record, the record's received_at:
 * what identity writes (created_at, a handle's "at", merge records) then
 * depends on the records alone, so that two core nodes resolving the same
 * stream write the same contacts.  0 outside: the clock.  The writer
 * thread's own, hence thread-local. */
static _Thread_local int64_t resolve_clock_ms;
/* The clock as text when it is a record's received_at that kanald wrote
 * from those milliseconds (util_format_time), else NULL. */
static _Thread_local const char *resolve_clock_text;

int64_t contacts_clock_ms(void)
{
    return resolve_clock_ms ? resolve_clock_ms : util_now_ms();
}

void contacts_set_clock(int64_t ms)
{
    resolve_clock_ms = ms > 0 ? ms : 0;
    resolve_clock_text = NULL;
}

static void copy_text(char *dst, size_t n, const char *s);

char *now_text(char buf[32])
{
    if (resolve_clock_text) {
        copy_text(buf, 32, resolve_clock_text);
        return buf;
    }
    util_format_time(contacts_clock_ms(), buf, 32);
    return buf;
}

/* s into dst of size n, cut to fit: snprintf's "%s" was a tenth of what a
 * record naming a known contact cost resolution. */
static void copy_text(char *dst, size_t n, const char *s)
{
    size_t l = strnlen(s, n - 1);
    memcpy(dst, s, l);
    dst[l] = '\0';
}

/* The contact of one party: link, create or merge; its id goes to cid.
 * The common case, a party whose handles all belong to one contact already,
 * reads two keys and writes nothing. */
static int resolve_handles(struct store *st, MDB_txn *txn, const struct handle_list *handles,
                           const struct evidence *ev, struct resolve_extra *extra, char cid[32],
                           int *created, int *merged)
{
    uint64_t seq = ev->seq;
    char ids[16][32], bridges[16][256];
    size_t nids = 0, unknown = 0;
    unsigned char is_unknown[64] = {0}; /* per handle: not in the graph */
    char fresh[32];                     /* the id a new contact would get */
    int rc;
    if ((rc = peek_contact_id(st, txn, fresh)))
        return rc;
    for (size_t i = 0; i < handles->n; i++) {
        char found[32];
        const char *name = handles->v[i];
        if (!name)
            continue;
        /* A handle the graph does not know is put at once, pointing at
         * the contact a party of new handles makes (the common case): the
         * look-up and the put descend the tree once.  When the party turns
         * out to name a known contact, linking re-points it below; a
         * handle named twice finds its own claim. */
        if (i < sizeof is_unknown) {
            rc = handle_claim(st, txn, name, fresh, found, sizeof found);
            if (rc == 0 || (rc == MDB_KEYEXIST && strcmp(found, fresh) == 0)) {
                unknown++;
                is_unknown[i] = 1;
                continue;
            }
            if (rc != MDB_KEYEXIST)
                return rc;
        } else if ((rc = contacts_of_handle(st, txn, name, found, sizeof found)) ==
                   MDB_NOTFOUND) {
            unknown++;
            continue;
        } else if (rc) {
            return rc;
        }
        size_t j = 0;
        while (j < nids && strcmp(ids[j], found) != 0)
            j++;
        if (j == nids && nids < 16) {
            copy_text(ids[nids], sizeof ids[nids], found);
            copy_text(bridges[nids], sizeof bridges[nids], name);
            nids++;
        }
    }
    *created = 0;
    if (nids == 1 && unknown == 0) {
        copy_text(cid, 32, ids[0]);
        return 0;
    }
    if (nids == 0 && handles->n <= sizeof is_unknown) {
        /* Nobody the graph knows: every handle is new (the common case
         * after a match). */
        if ((rc = create_contact(st, txn, handles, ev, cid)))
            return rc;
        if (strcmp(cid, fresh) != 0) /* the handles point at fresh */
            return MDB_CORRUPTED;
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
    for (size_t i = 0; i < handles->n; i++) {
        const char *name = handles->v[i];
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

/* A customer party of a record: its handles and what it proves. */
struct party_ref {
    struct handle_list handles;
    int verified;
};

/* Up to 64 parties' handles, pointed at from a pool of STACK_HANDLES on the
 * stack, or from the heap for more. */
#define STACK_HANDLES 256

/* Room for n handles' pointers: stack (STACK_HANDLES of them) when they
 * fit, else the heap (NULL without memory; freed when it is not stack). */
static const char **handle_pool(const char **stack, size_t n)
{
    return n <= STACK_HANDLES ? stack : malloc(n * sizeof *stack);
}

/* The contacts of parties (the record's contact: the first's, into first,
 * "" when none), then the record on each one's timeline (pending).  With
 * rec (the record's values) its "contact" is set from the first, and a
 * consent record noted on that contact, before the other parties resolve. */
static int resolve_parties(struct store *st, MDB_txn *txn, const struct party_ref *parties,
                           size_t np, const char *source, json_t *rec, uint64_t seq,
                           struct resolve_extra *extra, char first[32])
{
    /* The record's contact: who acted if a customer did, else whom the
     * brand addressed.  Every customer party's contact gets the record on
     * its timeline. */
    char ids[64 * 32];
    size_t idlen = 0;
    int rc;
    first[0] = '\0';
    for (size_t i = 0; i < np; i++) {
        char cid[32];
        int created = 0, merged = 0;
        struct evidence ev = {seq, parties[i].verified, source};
        if ((rc =
                 resolve_handles(st, txn, &parties[i].handles, &ev, extra, cid, &created, &merged)))
            return rc;
        if (i == 0) {
            copy_text(first, 32, cid);
            if (rec) {
                json_object_set_new(rec, "contact", json_string(cid));
                if (consent_kind(rec) && (rc = note_consent(st, txn, cid, rec, seq)))
                    return rc;
            }
        }
        size_t l = strlen(cid) + 1;
        if (idlen + l <= sizeof ids) {
            memcpy(ids + idlen, cid, l);
            idlen += l;
        }
    }
    return idlen ? pending_put(st, txn, seq, ids, idlen) : 0;
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
    json_t *customers[64];
    size_t np = 0, total = 0;
    json_t *from = json_object_get(rec, "from");
    if (is_customer(from))
        customers[np++] = from;
    static const char *const lists[] = {"to", "mentions"};
    for (size_t l = 0; l < 2; l++) {
        size_t i;
        json_t *p;
        json_array_foreach(json_object_get(rec, lists[l]), i, p) if (is_customer(p) && np < 64)
            customers[np++] = p;
    }
    for (size_t i = 0; i < np; i++)
        total += json_array_size(json_object_get(customers[i], "handles"));
    const char *stack[STACK_HANDLES], **pool = handle_pool(stack, total);
    if (!pool)
        return ENOMEM;
    struct party_ref parties[64];
    size_t used = 0;
    for (size_t i = 0; i < np; i++) {
        json_t *hs = json_object_get(customers[i], "handles"), *h;
        const char *trust = json_string_value(json_object_get(customers[i], "trust"));
        size_t j;
        parties[i] = (struct party_ref){{pool + used, json_array_size(hs)},
                                        trust && strcmp(trust, "verified") == 0};
        json_array_foreach(hs, j, h) pool[used++] = json_string_value(h);
    }
    char first[32];
    rc = resolve_parties(st, txn, parties, np, source, rec, seq, extra, first);
    if (pool != stack)
        free(pool);
    return rc;
}

int contacts_resolve_parties(struct store *st, MDB_txn *txn, struct record_parties *rp,
                             uint64_t seq, struct resolve_extra *extra)
{
    rp->contact[0] = '\0';
    if (!st->identity || strcmp(rp->source, KANAL_SYSTEM_SOURCE) == 0)
        return 0;
    size_t total = 0;
    for (size_t i = 0; i < rp->n; i++)
        total += rp->p[i].n;
    const char *stack[STACK_HANDLES], **pool = handle_pool(stack, total);
    if (!pool)
        return ENOMEM;
    struct party_ref parties[RECORD_RESOLVED_MAX];
    size_t used = 0;
    for (size_t i = 0; i < rp->n; i++) {
        parties[i] = (struct party_ref){{pool + used, rp->p[i].n}, rp->p[i].verified};
        const char *h = rp->p[i].handles;
        for (size_t j = 0; j < rp->p[i].n; j++, h += strlen(h) + 1)
            pool[used++] = h;
    }
    /* received_at as the loop had it in ms, else (a record relayed) from
     * its text: a parse was 0.5k instructions a record. */
    int64_t at = rp->received_ms, before = resolve_clock_ms;
    const char *before_text = resolve_clock_text;
    if (at > 0) /* received_at is util_format_time(at): now_text copies it */
        resolve_clock_text = rp->received_at;
    if (at > 0 || (util_parse_time(rp->received_at, &at) == 0 && at > 0))
        resolve_clock_ms = at;
    int rc = resolve_parties(st, txn, parties, rp->n, rp->source, NULL, seq, extra, rp->contact);
    resolve_clock_ms = before;
    resolve_clock_text = before_text;
    if (pool != stack)
        free(pool);
    return rc;
}

int contacts_link_crm(struct store *st, MDB_txn *txn, const char *crm_id, json_t *handles,
                      const char *name, uint64_t seq_hint, struct resolve_extra *extra,
                      struct crm_result *res)
{
    int created = 0, merged = 0;
    memset(res, 0, sizeof *res);
    /* The CRM is the system of record: what it links is verified. */
    struct evidence ev = {seq_hint, 1, "crm"};
    size_t n = json_array_size(handles), i;
    const char *stack[STACK_HANDLES], **pool = handle_pool(stack, n);
    if (!pool)
        return ENOMEM;
    json_t *h;
    json_array_foreach(handles, i, h) pool[i] = json_string_value(h);
    struct handle_list list = {pool, n};
    int rc = resolve_handles(st, txn, &list, &ev, extra, res->contact, &created, &merged);
    if (pool != stack)
        free(pool);
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
