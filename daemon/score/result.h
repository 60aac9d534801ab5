/* SPDX-License-Identifier: Apache-2.0 */
/* An audience's scores as JSON, from its built graph: the shape of the
 * network and each contact's position in it, every measure with the
 * counts it was made from.  The document kept in the store and served by
 * the API is this one. */
#ifndef KANAL_SCORE_RESULT_H
#define KANAL_SCORE_RESULT_H

#include <stdint.h>

#include <jansson.h>

#include "build.h"

/* PageRank's follow probability and how closely it is computed. */
#define SCORE_PAGERANK_ALPHA 0.85
#define SCORE_PAGERANK_TOL 1e-10
#define SCORE_PAGERANK_ROUNDS 1000

/* The scores of b's audience (id), computed at the snapshot seq:
 *   {"audience", "seq", "shape": {nodes, edges, density, components,
 *    largest_component, reciprocity, brand_share, k_core: [sizes]},
 *    "from": {records, suspected_bots, erased, unresolved_replies,
 *    unknown_authors}, "contacts": [{contact, influence, pagerank, k_core,
 *    in_degree, out_degree, reach, weight_in, weight_out, member, value,
 *    advocacy, risk, position, community}, ...]}
 * with shape.class and shape.communities (community.h) and each contact's
 * value, advocacy, risk and position (value.h) judged by b->params;
 * docs/scores.md says what each means.
 * contacts sorted by influence, highest first (ties by id); influence is
 * PageRank personalized on the audience's members, times the number of
 * nodes (1 is the average).  NULL when PageRank does not converge. */
json_t *score_result(const char *audience, uint64_t seq, const struct score_build *b);

/* score_result without its "contacts": each row is given to row_fn (which
 * owns it) as it is made, in the document's order, so that a caller
 * keeping the rows (keep.h's score_kept_row) never holds them all as
 * JSON.  The document less its rows, or NULL when PageRank does not
 * converge (no row was given then). */
json_t *score_result_rows(const char *audience, uint64_t seq, const struct score_build *b,
                          void (*row_fn)(void *arg, json_t *row), void *arg);

/* A row as its text: the bytes json_dumps(row, JSON_COMPACT) writes for
 * score_result_rows' row (jansson's reals, %.17g), made straight into a
 * buffer without a json_t, and what keep.c ranks it by: key[o] for keep.h's
 * first five orders (influence, reach, value.score, advocacy.score,
 * risk.score), has a bit (1 << o) for each the row has (a real that is not
 * finite is left out, as jansson leaves it out), advocate its
 * advocacy.advocate.  text NULL: the row cannot be written (a top-level
 * measure not finite, where json_pack fails). */
struct score_row_text {
    const char *contact;
    const char *text; /* borrowed until text_fn returns */
    size_t len;
    double key[5];
    unsigned has;
    int advocate;
};

/* score_result_rows with each row given as text: what a kanald run keeps
 * (the rows of a large audience are most of a run's time, and a jansson
 * tree per row most of theirs). */
json_t *score_result_text(const char *audience, uint64_t seq, const struct score_build *b,
                          void (*text_fn)(void *arg, const struct score_row_text *row), void *arg);
/* The same, ready(arg) called once the measures are computed and before
 * the first row is made: a caller that must wait before it holds the
 * rows (run.c: until the rows of another large audience are kept) waits
 * there, the computing done meanwhile. */
json_t *score_result_text_when(const char *audience, uint64_t seq, const struct score_build *b,
                               void (*ready)(void *arg),
                               void (*text_fn)(void *arg, const struct score_row_text *row),
                               void *arg);

/* The text jansson writes for json_real(d), d finite ("%.17g", ".0"
 * added to a whole number, the exponent without '+' or leading zeros),
 * NUL-terminated in out; its length.  What a row's reals are written as. */
#define SCORE_REAL_MAX 40
size_t score_real_text(double d, char out[SCORE_REAL_MAX]);

#endif
