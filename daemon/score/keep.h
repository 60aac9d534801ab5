/* SPDX-License-Identifier: Apache-2.0 */
/* Scores kept in the store ('scores' database: audience id -> the
 * document of result.h, with its snapshot's seq), so that they survive a
 * restart and are served without computing them again.  score_put runs
 * in a write transaction (the writer's, through a write_item's apply),
 * score_get in any. */
#ifndef KANAL_SCORE_KEEP_H
#define KANAL_SCORE_KEEP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <lmdb.h>

struct store;

/* Keep result (its "audience" names it), replacing the audience's last
 * one: 0, EINVAL when it has no audience, or an MDB error. */
int score_put(struct store *st, MDB_txn *txn, json_t *result);

/* Keep the document text (len bytes of JSON, serialized off the writer)
 * as audience id's: 0, EINVAL for an id no key can be, or an MDB error. */
int score_put_text(struct store *st, MDB_txn *txn, const char *id, const char *text, size_t len);

/* The kept scores of audience into *out: 0, MDB_NOTFOUND, MDB_CORRUPTED
 * when the value is not a JSON object, or another MDB error. */
int score_get(struct store *st, MDB_txn *txn, const char *audience, json_t **out);

/* Every kept document in audience id order: fn(arg, id, doc) for each
 * (doc borrowed), stopping at a nonzero answer, which is returned.  A
 * value that is not JSON is skipped.  0, or an MDB error. */
int score_each(struct store *st, MDB_txn *txn, int (*fn)(void *arg, const char *id, json_t *doc),
               void *arg);

/* Erasure: rewrite every kept document without the rows of the contacts
 * in ids (a JSON array of contact ids), in the erasure's own write
 * transaction, so that no answer names them once it commits.  *changed
 * (may be NULL) counts the documents rewritten.  0, or an MDB error. */
int score_forget(struct store *st, MDB_txn *txn, json_t *ids, size_t *changed);

/* Drop from result the rows of contacts the store no longer has (erased
 * while the run computed it, on its older snapshot); write transaction
 * of score_put.  memo (a JSON object, or NULL) remembers what was looked
 * up, for the next documents of the same run.  Returns how many rows went. */
size_t score_drop_gone(struct store *st, MDB_txn *txn, json_t *result, json_t *memo);

/* Delete the kept documents whose audience id keep(arg, id) refuses (0):
 * those a run no longer computes.  *deleted (may be NULL) counts them.
 * 0, or an MDB error. */
int score_retire(struct store *st, MDB_txn *txn, int (*keep)(void *arg, const char *id), void *arg,
                 size_t *deleted);

struct audience;

/* One scoring run, the body of a work thread's job: the scores of each of
 * the n audiences, all computed on one read snapshot of st (so that they
 * share its seq, *seq), into docs[i]; docs[i] is NULL for an audience whose
 * PageRank did not converge.  0, or an MDB error (docs all NULL). */
int score_run(struct store *st, const struct audience *auds, size_t n, int64_t now_ms,
              int64_t half_life_ms, json_t **docs, uint64_t *seq);

struct score_params;
/* score_run with the thresholds of the [kanald] score_* keys (NULL: the
 * defaults); score_run is this with NULL. */
int score_run_with(struct store *st, const struct audience *auds, size_t n, int64_t now_ms,
                   int64_t half_life_ms, const struct score_params *params, json_t **docs,
                   uint64_t *seq);

#endif
