/* SPDX-License-Identifier: Apache-2.0 */
/* An audience's graph from the store: the records of a read snapshot that
 * belong to the audience, fed in seq order to the builder (build.h), with
 * contacts resolved in the same snapshot (merges followed by
 * contacts_follow, mentioned and addressed handles by contacts_of_handle).
 * It holds only a read transaction: the caller runs it on a work thread,
 * off the loop and off the writer. */
#ifndef KANAL_SCORE_COLLECT_H
#define KANAL_SCORE_COLLECT_H

#include <stdint.h>

#include <lmdb.h>

#include "audience.h"
#include "build.h"

struct store;

/* Build a's graph into b (score_build_init'ed here with now_ms and
 * half_life_ms) from txn, a read transaction on st; *last_seq is the
 * snapshot's last seq, which the scores are kept with.  0, or an MDB
 * error (b is then freed).  A record that is not JSON is skipped and
 * counted in *bad. */
int score_collect(struct store *st, MDB_txn *txn, const struct audience *a, int64_t now_ms,
                  int64_t half_life_ms, struct score_build *b, uint64_t *last_seq, size_t *bad);

/* The graphs of the n audiences auds into bs[0..n-1] with one read of the
 * log: each record is parsed once and fed to every audience it belongs
 * to, and each contact and handle resolved once.  Returns as
 * score_collect does (on an error every bs[i] is freed); *bad counts a
 * record that is not JSON once, and one a builder refused once per
 * audience. */
int score_collect_many(struct store *st, MDB_txn *txn, const struct audience *auds, size_t n,
                       int64_t now_ms, int64_t half_life_ms, struct score_build *bs,
                       uint64_t *last_seq, size_t *bad);

#endif
