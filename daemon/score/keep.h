/* SPDX-License-Identifier: Apache-2.0 */
/* Scores kept in the store ('scores' database), so that they survive a
 * restart and are served without computing them again.  An audience is
 * kept row by row (docs/architecture.md, the store table):
 *   AUD                         -> u32 rows (big-endian), then the summary
 *                                  JSON: the document of result.h without
 *                                  its "contacts";
 *   AUD \0 r \0 CONTACT          -> the contact's row: SCORE_ROW_HEAD bytes
 *                                  (its place in the document and in each
 *                                  order, big-endian u32s), then its JSON;
 *   AUD \0 p \0 ORDER \0 PART     -> the contact ids at ranks PART *
 *                                  SCORE_RANKS_PER_KEY and on of the
 *                                  order (PART a big-endian u32), each
 *                                  ended by a NUL; an erased contact's
 *                                  place is an empty one.
 * A page is a cursor range over one order from the rank of its 'after',
 * and a row a point read; nothing reads an audience's every row but
 * score_get.  An audience is replaced whole in one transaction (the new
 * keys written over the old, then the old ones the new run has not
 * deleted), so readers see one run's or the other's.  The puts run in a
 * write transaction (the writer's, through a write_item's apply), the
 * reads in any. */
#ifndef KANAL_SCORE_KEEP_H
#define KANAL_SCORE_KEEP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <lmdb.h>

struct store;

/* The orders a list of contacts is kept in: influence, reach, value,
 * advocacy, risk (highest first, ties by contact id; rows without the
 * number last), and the advocates (the advocacy order of the rows whose
 * advocacy.advocate is true). */
enum score_order {
    SCORE_ORDER_INFLUENCE,
    SCORE_ORDER_REACH,
    SCORE_ORDER_VALUE,
    SCORE_ORDER_ADVOCACY,
    SCORE_ORDER_RISK,
    SCORE_ORDER_ADVOCATES,
    SCORE_ORDERS
};
/* The order's name ("influence", ..., "advocates"). */
const char *score_order_name(enum score_order o);
/* The order named name among the first five (the ?order= of the API), or
 * -1. */
int score_order_of(const char *name);

/* A row's value starts with its place in the document, then its rank in
 * each order (UINT32_MAX: not in it), each a big-endian u32. */
#define SCORE_ROW_HEAD (4 * (1 + SCORE_ORDERS))
#define SCORE_NO_RANK UINT32_MAX
/* An order's ranks are kept this many to a key: a run puts an audience's
 * orders as a few hundred keys instead of a key per row and order (six
 * times its rows, most of a run's commit), and a page reads one or two. */
#define SCORE_RANKS_PER_KEY 256

/* An audience's document in the kept layout, made off the writer (the
 * ranks sorted, the JSON serialized), so that the writer only puts.  The
 * rows' bytes are packed in large blocks, and a row's JSON is written
 * straight as text (score_kept_text; score_kept_row serializes a jansson
 * row): an audience's rows take little more than their text. */
struct score_kept_row {
    char *contact; /* NUL-terminated */
    char *value;   /* SCORE_ROW_HEAD bytes, then the row's JSON */
    size_t len;
};
struct score_kept_block;
struct score_kept_keys;
struct score_kept {
    char *id;
    char *summary; /* JSON: the document without its contacts */
    size_t summary_len, nrows;
    struct score_kept_row *rows; /* in the document's order */
    /* private: the rows' bytes; the rows' indexes in contact id order
     * (score_kept_end); while making, the rows' sort keys and the first
     * error */
    struct score_kept_block *blocks;
    uint32_t *idorder;
    struct score_kept_keys *keys;
    size_t cap;
    int rc;
};

/* Make k row by row, never holding the document: score_kept_begin with
 * the audience id (EINVAL when no key can be it), score_kept_row with
 * each row in the document's order (borrowed: the caller frees it; EINVAL
 * when its contact id cannot be a key, ENOMEM; the first error is
 * remembered), then score_kept_end with the summary (the document without
 * its contacts, borrowed): it sorts each order's ranks and answers 0 or
 * the first error, freeing k then.  score_kept_free frees k at any step. */
int score_kept_begin(struct score_kept *k, const char *id);
int score_kept_row(struct score_kept *k, json_t *row);
/* score_kept_row with the row as its text (result.h's score_result_text),
 * copied: what kanald's runs keep, without a json_t per row.  EINVAL when
 * row->text is NULL or its contact id cannot be a key. */
struct score_row_text; /* result.h */
int score_kept_text(struct score_kept *k, const struct score_row_text *row);
int score_kept_end(struct score_kept *k, json_t *summary);

/* Make k from doc (a document of result.h; doc is not changed), the same
 * way: 0, EINVAL when it has no audience id a key can be, or ENOMEM. */
int score_kept_make(json_t *doc, struct score_kept *k);
void score_kept_free(struct score_kept *k);

/* Keep k as its audience's scores, replacing the kept ones whole.  With
 * check_gone, the rows of contacts the store no longer has (erased while
 * the run computed on its older snapshot) are left out; *dropped (may be
 * NULL) counts them.  0, or an MDB error. */
int score_kept_put(struct store *st, MDB_txn *txn, const struct score_kept *k, int check_gone,
                   size_t *dropped);

/* Keep result (its "audience" names it), replacing the audience's last
 * one: score_kept_make and score_kept_put.  0, EINVAL when it has no
 * audience, or an MDB error. */
int score_put(struct store *st, MDB_txn *txn, json_t *result);

/* The kept document of audience, assembled from its summary and rows (in
 * the document's order), into *out: exactly what score_put was given, less
 * the rows erased since.  Reads every row: for tests and tools, not for a
 * page.  0, MDB_NOTFOUND, MDB_CORRUPTED when a value is not JSON, or
 * another MDB error. */
int score_get(struct store *st, MDB_txn *txn, const char *audience, json_t **out);

/* The summary of audience (its document without "contacts") into *out,
 * and how many rows it keeps into *rows: 0, MDB_NOTFOUND, MDB_CORRUPTED,
 * or another MDB error. */
int score_summary_get(struct store *st, MDB_txn *txn, const char *audience, json_t **out,
                      size_t *rows);

/* Every kept audience in id order: fn(arg, id, summary, rows) for each
 * (summary borrowed), stopping at a nonzero answer, which is returned.  A
 * summary that is not JSON is skipped.  Rows are not read. 0, or an MDB
 * error. */
int score_each_summary(struct store *st, MDB_txn *txn,
                       int (*fn)(void *arg, const char *id, json_t *summary, size_t rows),
                       void *arg);

/* Contact cid's row in audience (a point read) into *row, and its place
 * in the document (0 first) into *place (may be NULL): 0, MDB_NOTFOUND,
 * MDB_CORRUPTED, or another MDB error. */
int score_row_get(struct store *st, MDB_txn *txn, const char *audience, const char *cid,
                  json_t **row, uint32_t *place);

/* One page of audience's rows in order o: those after the contact after
 * (NULL: from the first), at most limit of them, appended to list; *more
 * says whether rows follow.  0, ENOENT when after has no row in that
 * order, or an MDB error. */
int score_page(struct store *st, MDB_txn *txn, const char *audience, enum score_order o,
               const char *after, size_t limit, json_t *list, int *more);

/* Erasure: delete the rows (and their ranks) of the contacts in ids (a
 * JSON array of contact ids) from every kept audience, in the erasure's
 * own write transaction, so that no answer names them once it commits.
 * Each audience's count of rows follows; the others' places and ranks keep
 * their gaps until the next run.  *changed (may be NULL) counts the
 * audiences that lost rows.  0, or an MDB error. */
int score_forget(struct store *st, MDB_txn *txn, json_t *ids, size_t *changed);

/* Drop from result (a document, not yet kept) the rows of contacts the
 * store no longer has; memo (a JSON object, or NULL) remembers what was
 * looked up, for the next documents.  Returns how many rows went. */
size_t score_drop_gone(struct store *st, MDB_txn *txn, json_t *result, json_t *memo);

/* Delete every key of the kept audiences whose id keep(arg, id) refuses
 * (0): those a run no longer computes.  *deleted (may be NULL) counts
 * them.  0, or an MDB error. */
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
