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

/* The kept scores of audience into *out: 0, MDB_NOTFOUND, MDB_CORRUPTED
 * when the value is not a JSON object, or another MDB error. */
int score_get(struct store *st, MDB_txn *txn, const char *audience, json_t **out);

struct audience;

/* One scoring run, the body of a work thread's job: the scores of each of
 * the n audiences, all computed on one read snapshot of st (so that they
 * share its seq, *seq), into docs[i]; docs[i] is NULL for an audience whose
 * PageRank did not converge.  0, or an MDB error (docs all NULL). */
int score_run(struct store *st, const struct audience *auds, size_t n, int64_t now_ms,
              int64_t half_life_ms, json_t **docs, uint64_t *seq);

/* score_run handing each audience's document on as it is made (the
 * smallest audiences' first, not in auds' order), so that a run need not
 * hold them all (an audience of 100,000 contacts makes a
 * document of some 100 MB in memory): each(arg, i, doc, seq) gets
 * auds[i]'s (NULL when its PageRank did not converge) to keep or decref;
 * it returns 0 to go on, else the run stops and returns that.  0, an MDB
 * error, or each's. */
typedef int (*score_each_fn)(void *arg, size_t i, json_t *doc, uint64_t seq);
int score_run_each(struct store *st, const struct audience *auds, size_t n, int64_t now_ms,
                   int64_t half_life_ms, score_each_fn each, void *arg, uint64_t *seq);

#endif
