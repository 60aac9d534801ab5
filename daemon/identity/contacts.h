/* SPDX-License-Identifier: Apache-2.0 */
/* Contacts: the identity graph kept inside the writer's transaction. */
#ifndef KANAL_CONTACTS_H
#define KANAL_CONTACTS_H

#include <stdint.h>

#include <jansson.h>
#include <lmdb.h>

struct store;
struct record_parties;

/* The source name of records kanald itself writes (merge, split, erase,
 * click, consent); no configured source may take it. */
#define KANAL_SYSTEM_SOURCE "kanal"

/* Records that resolving one record adds to the log after it (merges). */
struct resolve_extra {
    json_t **recs;
    size_t n;
};

/* What one party proves (docs/identity.md), and where it came from. */
struct evidence {
    uint64_t seq;       /* the record's */
    int verified;       /* 1: may merge; 0 (asserted): may link and create only */
    const char *source; /* for the candidates it raises */
};

/* Resolve the customer parties of rec (about to be stored at seq): look
 * their handles up, create, link or merge contacts, set rec's "contact",
 * update the contact's history.  Merges are appended to extra as system
 * records (without seq).  0 or an MDB error. */
int contacts_resolve(struct store *st, MDB_txn *txn, json_t *rec, uint64_t seq,
                     struct resolve_extra *extra);
/* contacts_resolve for a record of which identity has only its parties
 * (record_normalize_parties): the same contacts, links, merges and
 * timeline, its contact into parties->contact ("" when it has none).
 * Not for a record that names its contact, nor one of consent (optin,
 * optout), whose values contacts_resolve reads further. */
int contacts_resolve_parties(struct store *st, MDB_txn *txn, struct record_parties *parties,
                             uint64_t seq, struct resolve_extra *extra);
void resolve_extra_clear(struct resolve_extra *extra);
/* Unix ms that identity stamps its changes with: the received_at of the
 * record being resolved (replicas resolving the same records agree), else
 * the clock. */
int64_t contacts_clock_ms(void);
/* Until set to 0 again, what identity writes on this thread (and the
 * admin changes that ask contacts_clock_ms) is stamped with ms, not the
 * clock: a state command of the cluster applies with the time it was
 * made at, so that every core writes the same (statecmd.c). */
void contacts_set_clock(int64_t ms);

/* The writer's transaction: begin before anything resolves in it; flush
 * (the contact id counter into meta, when due) just before the commit; end
 * after the commit (committed 1) or the abort (0). */
void contacts_batch_begin(struct store *st);
int contacts_flush(struct store *st, MDB_txn *txn, uint64_t last);
void contacts_batch_end(struct store *st, int committed);

/* The number the next new contact gets (c<N>) as of txn: from the start of
 * meta's block of numbers, counted on over the contacts that exist. */
int contacts_next_number(struct store *st, MDB_txn *txn, uint64_t *n);
/* Before txn deletes contacts (an erasure): a block from the counter as it
 * stands into meta (before the commit, or at once outside a writer batch),
 * so that a deleted id is never counted over and given again. */
int contacts_counter_pin(struct store *st, MDB_txn *txn);

/* Move up to max records from 'pending' into the per-contact 'timeline'
 * (SIZE_MAX: all, the entries the writer keeps in memory too). */
int contacts_fold(struct store *st, MDB_txn *txn, size_t max, size_t *folded);
/* Under sustained load, a commit's share of the fold (max records' worth):
 * a sweep of 'pending' in timeline key order (contacts_store.c).
 * *deleted: the records it took out of 'pending' (0 while it puts); *left:
 * the records 'pending' has after it when that is known, else SIZE_MAX. */
int contacts_fold_share(struct store *st, MDB_txn *txn, size_t max, size_t *deleted,
                        size_t *left);
/* Inside a writer batch: the timeline entries kept in memory into
 * 'pending', and the mark into meta before the commit. */
int contacts_pending_put_kept(struct store *st, MDB_txn *txn);
/* Each record after meta's pending_through (up to seq upto) whose
 * "contact" is set, in seq order: the journal of the entries the writer
 * keeps in memory.  Stops at the first nonzero each(). */
int contacts_journal(struct store *st, MDB_txn *txn, uint64_t upto,
                     int (*each)(uint64_t seq, const char *cid, void *arg), void *arg);

/* A system record (source "kanal") of kind with meta; contact may be NULL. */
json_t *contacts_system_record(const char *kind, const char *external_id, const char *contact,
                               json_t *meta);

/* The live contact id a contact id ends up at (following merges), into out. */
int contacts_follow(struct store *st, MDB_txn *txn, const char *id, char *out, size_t out_len);
/* The contact of a handle (normalized), following merges. */
int contacts_of_handle(struct store *st, MDB_txn *txn, const char *handle, char *out,
                       size_t out_len);
/* The provenance of handle's link (new): its entry in the document of the
 * contact it names (contact when that is the one, else loaded), or the
 * copy an older store kept in the handle's value.  NULL if there is none. */
json_t *contacts_handle_provenance(struct store *st, MDB_txn *txn, const char *handle,
                                   json_t *contact);
/* Load / store a contact's JSON. */
int contacts_load(struct store *st, MDB_txn *txn, const char *id, json_t **out);
int contacts_save(struct store *st, MDB_txn *txn, json_t *c);

/* Link a CRM customer: handles (normalized, crm:<id> first) to one contact;
 * counts matched/created/merged.  Merge records go to extra. */
struct crm_result {
    int matched, created, merged;
    char contact[32];
};
int contacts_link_crm(struct store *st, MDB_txn *txn, const char *crm_id, json_t *handles,
                      const char *name, uint64_t seq_hint, struct resolve_extra *extra,
                      struct crm_result *res);

/* Undo the merge of absorbed into survivor; the split record goes to extra.
 * Returns 0, MDB_NOTFOUND when there is no such merge. */
int contacts_split(struct store *st, MDB_txn *txn, const char *survivor, const char *absorbed,
                   struct resolve_extra *extra, json_t **result);

/* Merge absorbed into s (in memory; the caller saves it) as evidence seq
 * through handle bridge; rule NULL takes the bridge's rule.  The merge
 * record goes to extra. */
int contacts_merge(struct store *st, MDB_txn *txn, json_t *s, const char *absorbed, uint64_t seq,
                   const char *bridge, const char *rule, struct resolve_extra *extra);
/* 1 when an admin split b from a or rejected their candidate. */
int contacts_kept_apart(json_t *a, const char *b);

/* ---- merge candidates (candidates.c) ---- */

/* Asserted evidence ev named c (in memory; the caller saves it) through
 * handle mine and the contact other through handle theirs: record the pair
 * once (or count it again).  0 or an MDB error; a full table is logged. */
int candidates_raise(struct store *st, MDB_txn *txn, json_t *c, const char *other, const char *mine,
                     const char *theirs, const struct evidence *ev);
/* a is being absorbed into s: its candidates become s's (or go when they
 * name s). */
int candidates_move(struct store *st, MDB_txn *txn, json_t *s, json_t *a);
/* Delete every candidate of the contacts ids (an erasure). */
int candidates_forget(struct store *st, MDB_txn *txn, json_t *ids);
/* Load one candidate; MDB_NOTFOUND when there is none. */
int candidates_load(struct store *st, MDB_txn *txn, const char *id, json_t **out);
/* Delete candidate id and keep its two contacts apart; its JSON to *out. */
int candidates_reject(struct store *st, MDB_txn *txn, const char *id, json_t **out);
/* The candidates a contact's "merge_candidates" ids name, as objects. */
json_t *candidates_expand(struct store *st, MDB_txn *txn, json_t *ids);

#endif
