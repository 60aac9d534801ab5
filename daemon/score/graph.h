/* SPDX-License-Identifier: Apache-2.0 */
/* The interaction graph of one audience and the measures scores are made
 * of: a compact weighted directed graph (compressed sparse rows), PageRank
 * personalized on a set of nodes (power iteration), the k-core index of
 * each node, and the graph's shape.  Pure computation on arrays: no store,
 * no loop, no locks, so that a work thread can run it on a read snapshot
 * and tests can hold it against an independent implementation. */
#ifndef KANAL_SCORE_GRAPH_H
#define KANAL_SCORE_GRAPH_H

#include <stddef.h>
#include <stdint.h>

/* Edges as they are found, in any order, repeated and self-loops allowed;
 * score_graph_build() sums repeated edges and drops self-loops (a contact
 * answering itself says nothing of its position). */
struct score_edges {
    uint32_t *src, *dst;
    double *w;
    size_t n, cap;
};

/* 0, or -EINVAL for a weight that is not finite and positive. */
int score_edges_add(struct score_edges *e, uint32_t src, uint32_t dst, double w);
void score_edges_free(struct score_edges *e);

/* n nodes 0..n-1; each node's out-edges sorted by destination, one per
 * destination, weight the sum of the edges found. */
struct score_graph {
    uint32_t n;
    size_t m;          /* distinct directed edges */
    size_t *out_start; /* n + 1: node i's edges are [out_start[i], out_start[i+1]) */
    uint32_t *out_dst; /* m */
    double *out_w;     /* m */
    double *out_wsum;  /* n: the weight node i gives out */
};

/* Build g from e over n nodes: 0, or -EINVAL when an edge names a node
 * >= n.  e is left as it was. */
int score_graph_build(struct score_graph *g, uint32_t n, const struct score_edges *e);
void score_graph_free(struct score_graph *g);
/* 1 when g has the edge src -> dst. */
int score_graph_has_edge(const struct score_graph *g, uint32_t src, uint32_t dst);

/* PageRank of every node into rank (n values summing to 1).  A surfer
 * follows an out-edge with probability alpha, chosen by weight, and
 * otherwise jumps to a node drawn from personal (n weights >= 0, not all 0;
 * NULL: every node alike); a node without out-edges sends its whole rank
 * along the jump.  Iterates until the L1 change is below n * tol or
 * max_iter rounds: the rounds run, or -ERANGE when it did not converge,
 * -EINVAL for bad arguments.  This is the definition networkx's pagerank()
 * uses with weights, personalization and dangling=None. */
int score_pagerank(const struct score_graph *g, const double *personal, double alpha, double tol,
                   int max_iter, double *rank);

/* The k-core index of every node into core (n values): the largest k such
 * that the node is in a subgraph where every node has at least k
 * neighbours, counted on the undirected graph (u and v are neighbours when
 * either edge exists).  Linear time (Batagelj and Zaversnik, 2003).
 * Returns the largest index. */
uint32_t score_kcore(const struct score_graph *g, uint32_t *core);

/* The shape of the graph. */
struct score_shape {
    uint32_t nodes;
    size_t edges;        /* distinct directed edges */
    double density;      /* edges / (nodes * (nodes - 1)); 0 below two nodes */
    uint32_t components; /* weakly connected components */
    uint32_t largest;    /* nodes of the largest one */
    double reciprocity;  /* share of edges whose reverse edge exists too */
    double brand_share;  /* share of the edge weight to or from the brand */
    uint32_t max_core;
    uint32_t *core_sizes; /* max_core + 1: [k] the nodes whose index is >= k */
};

/* The shape of g, with brand its brand node (UINT32_MAX: none) and core
 * the indexes score_kcore() gave. */
void score_shape(const struct score_graph *g, uint32_t brand, const uint32_t *core,
                 uint32_t max_core, struct score_shape *out);
void score_shape_free(struct score_shape *s);

#endif
