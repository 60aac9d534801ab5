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

struct score_params;
/* score_run with the thresholds of the [kanald] score_* keys (NULL: the
 * defaults); score_run is this with NULL. */
int score_run_with(struct store *st, const struct audience *auds, size_t n, int64_t now_ms,
                   int64_t half_life_ms, const struct score_params *params, json_t **docs,
                   uint64_t *seq);

#endif
