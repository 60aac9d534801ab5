/* SPDX-License-Identifier: Apache-2.0 */
/* Communities of an audience's customers and the audience's class
 * (polarized, cohesive, rich: docs/scores.md).  Communities are found on
 * the undirected graph of customer-to-customer interactions (the weight of
 * u-v is the sum of both directions; the brand is left out, or it would
 * join everyone into one) by Louvain's method: local moving (each node in
 * turn, in node order, moves to the neighbouring community that raises
 * modularity most, ties to the lowest community, until a pass moves none),
 * then each community becomes one node and the moving starts again, until
 * nothing moves.  No randomness: the same graph gives the same
 * communities. */
#ifndef KANAL_SCORE_COMMUNITY_H
#define KANAL_SCORE_COMMUNITY_H

#include <stdint.h>

#include <jansson.h>

#include "graph.h"
#include "value.h"

/* Passes of local moving at most, and levels at most: each pass costs one
 * sweep of the edges, and the moves after the first few change little (a
 * large audience's random chatter would otherwise take many to settle). */
#define SCORE_LOUVAIN_PASSES 16

/* Communities listed in a score document at most (the largest). */
#define SCORE_COMMUNITIES_MAX 20

struct score_communities {
    uint32_t n;
    uint32_t *of;      /* n: each node's community, numbered 0.. by size (largest first,
                        * ties by lowest node); UINT32_MAX for the brand */
    uint32_t count;    /* communities, singletons included */
    uint32_t *size;    /* count */
    double modularity; /* of this partition, as networkx's modularity() computes it */
};

/* The communities of g's nodes but brand (UINT32_MAX: none). */
void score_communities(const struct score_graph *g, uint32_t brand, struct score_communities *c);
void score_communities_free(struct score_communities *c);

/* The audience's class: {"label", measures...}, and its communities of two
 * or more (at most SCORE_COMMUNITIES_MAX) with each one's sentiment, from
 * g, its communities, the facts of its contacts (f) and the thresholds;
 * ids names each node.  brand_share is the shape's. */
json_t *score_class(const struct score_graph *g, uint32_t brand, const struct score_communities *c,
                    const struct score_facts *f, const struct score_params *p, double brand_share,
                    json_t **communities, char *const *ids);

#endif
