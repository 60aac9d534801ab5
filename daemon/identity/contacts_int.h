/* SPDX-License-Identifier: Apache-2.0 */
/* What the files of the contacts module share (contacts.c: resolution;
 * contacts_store.c: identity's keys; contacts_doc.c: the documents;
 * contacts_merge.c: merges and splits).  Nothing outside daemon/identity/
 * includes it: the module's interface is contacts.h. */
#ifndef KANAL_CONTACTS_INT_H
#define KANAL_CONTACTS_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <lmdb.h>

#include "contacts.h"

#define MAX_NAMES 20

/* A party's handles, as a record or the CRM gives them (an entry may be
 * NULL: not a string, passed over). */
struct handle_list {
    const char *const *v;
    size_t n;
};

/* ---- contacts.c ---- */

/* Now as identity stamps it (contacts_clock_ms), as RFC 3339 text in buf. */
char *now_text(char buf[32]);

/* ---- contacts_store.c ---- */

/* The number of a contact id (c<N>); UINT64_MAX for what is no id. */
uint64_t contact_number(const char *id);
/* Point handle at contact cid. */
int handle_put(struct store *st, MDB_txn *txn, const char *handle, const char *cid);
/* A party's handle looked up and, when the graph does not know it, put
 * pointing at cid, in one descent of the tree: 0 when put, MDB_KEYEXIST
 * with the contact it names in out when known, else an LMDB error. */
int handle_claim(struct store *st, MDB_txn *txn, const char *handle, const char *cid, char *out,
                 size_t out_len);
/* The contacts of the record at seq (ids, each with its NUL), for the fold:
 * in a writer batch, a record's one contact is kept in memory and put with
 * the next PENDING_STEP (pending_flush). */
int pending_put(struct store *st, MDB_txn *txn, uint64_t seq, const char *ids, size_t len);
void pending_batch_begin(struct store *st);
/* Before the commit of a batch whose last seq is last. */
int pending_flush(struct store *st, MDB_txn *txn, uint64_t last);
void pending_batch_end(struct store *st, int committed);

/* ---- contacts_doc.c ---- */

/* A new, empty contact document (its id taken from the counter). */
int new_contact(struct store *st, MDB_txn *txn, uint64_t seq, json_t **out);
/* The id the next new contact gets (the counter, not advanced). */
int peek_contact_id(struct store *st, MDB_txn *txn, char id[32]);
/* A party's handles all new to the graph, each already put pointing at
 * the next contact id (handle_claim): that contact made and written as
 * text, its id into cid. */
int create_contact(struct store *st, MDB_txn *txn, const struct handle_list *handles,
                   const struct evidence *ev, char cid[32]);
/* Point handle at contact (in memory; the caller saves it) with the link's
 * provenance. */
int link_handle(struct store *st, MDB_txn *txn, json_t *contact, const char *handle, uint64_t seq,
                const char *rule, double confidence, const char *from, int asserted);
/* 1 when array holds the string s. */
int has_string(json_t *array, const char *s);
/* The rule and confidence of a match through handle. */
void match_rule(const char *handle, const char **rule, double *confidence);
/* The rule and confidence of linking a handle new to the graph. */
void link_rule(const char *handle, const struct handle_list *party_handles, int new_contact_made,
               const char **rule, double *confidence);
/* o's member key, made (an array or an object) when absent. */
json_t *sub(json_t *o, const char *key, int array);

#endif
