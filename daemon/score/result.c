/* SPDX-License-Identifier: Apache-2.0 */
/* An audience's scores as JSON (result.h). */
#include "result.h"

#include <stdlib.h>
#include <string.h>

#include "community.h"
#include "graph.h"
#include "util.h"

struct row {
    uint32_t node;
    double rank;
    const char *id;
};

static int by_rank(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? 1 : -1;
    return strcmp(x->id, y->id);
}

json_t *score_result_rows(const char *audience, uint64_t seq, const struct score_build *b,
                          void (*row_fn)(void *arg, json_t *row), void *arg)
{
    struct score_graph g;
    if (score_graph_build(&g, b->nnodes, &b->edges) != 0)
        return NULL;
    uint32_t n = g.n;
    double *rank = xcalloc(n, sizeof *rank), *p = xcalloc(n, sizeof *p);
    double *win = xcalloc(n, sizeof *win);
    uint32_t *core = xcalloc(n, sizeof *core), *indeg = xcalloc(n, sizeof *indeg);
    uint32_t *reach = xcalloc(n, sizeof *reach);
    int any = 0;
    for (uint32_t v = 0; v < n; v++)
        if ((p[v] = b->member[v]))
            any = 1;
    json_t *out = NULL;
    if (n && score_pagerank(&g, any ? p : NULL, SCORE_PAGERANK_ALPHA, SCORE_PAGERANK_TOL,
                            SCORE_PAGERANK_ROUNDS, rank) < 0)
        goto done;
    uint32_t max_core = score_kcore(&g, core);
    /* In-edges: distinct sources (the graph has one edge per pair); reach
     * counts those that are members and not the brand. */
    for (uint32_t v = 0; v < n; v++)
        for (size_t i = g.out_start[v]; i < g.out_start[v + 1]; i++) {
            uint32_t u = g.out_dst[i];
            indeg[u]++;
            win[u] += g.out_w[i];
            if (v != SCORE_BRAND && b->member[v])
                reach[u]++;
        }
    struct score_shape s;
    score_shape(&g, SCORE_BRAND, core, max_core, &s);
    json_t *cores = json_array();
    for (uint32_t k = 0; k <= max_core && n; k++)
        json_array_append_new(cores, json_integer(s.core_sizes[k]));
    out = json_pack(
        "{s:s,s:I,s:{s:I,s:I,s:f,s:I,s:I,s:f,s:f,s:o},s:{s:I,s:I,s:I,s:I,s:I}}", "audience",
        audience, "seq", (json_int_t)seq, "shape", "nodes", (json_int_t)s.nodes, "edges",
        (json_int_t)s.edges, "density", s.density, "components", (json_int_t)s.components,
        "largest_component", (json_int_t)s.largest, "reciprocity", s.reciprocity, "brand_share",
        s.brand_share, "k_core", cores, "from", "records", (json_int_t)b->records, "suspected_bots",
        (json_int_t)b->bots, "erased", (json_int_t)b->erased, "unresolved_replies",
        (json_int_t)b->unresolved_replies, "unknown_authors", (json_int_t)b->unknown_authors);
    struct score_facts *f = (struct score_facts *)&b->facts;
    score_facts_grow(f, n);
    struct score_communities comms;
    score_communities(&g, SCORE_BRAND, &comms);
    json_t *groups;
    json_t *klass = score_class(&g, SCORE_BRAND, &comms, f, &b->params, s.brand_share, &groups,
                                b->ids);
    score_shape_free(&s);
    if (!out) {
        json_decref(klass);
        json_decref(groups);
        score_communities_free(&comms);
        goto done;
    }
    json_t *shape = json_object_get(out, "shape");
    json_object_set_new(shape, "class", klass);
    json_object_set_new(shape, "communities", groups);

    struct score_rows fr;
    score_facts_finish(f, n, b->now_ms, &b->params, &fr);
    struct row *rows = xcalloc(n ? n : 1, sizeof *rows);
    size_t nrows = 0;
    for (uint32_t v = 0; v < n; v++)
        if (v != SCORE_BRAND)
            rows[nrows++] = (struct row){v, rank[v], b->ids[v]};
    qsort(rows, nrows, sizeof *rows, by_rank);
    /* Each row is handed on as it is made: the caller may serialize and
     * free it, so that no audience's every row is a jansson tree at once. */
    for (size_t i = 0; i < nrows; i++) {
        uint32_t v = rows[i].node;
        json_t *row = json_pack("{s:s,s:f,s:f,s:I,s:I,s:I,s:I,s:f,s:f,s:b}",
                                              "contact", b->ids[v], "influence", rank[v] * n,
                                              "pagerank", rank[v], "k_core", (json_int_t)core[v],
                                              "in_degree", (json_int_t)indeg[v], "out_degree",
                                              (json_int_t)(g.out_start[v + 1] - g.out_start[v]),
                                              "reach", (json_int_t)reach[v], "weight_in", win[v],
                                              "weight_out", g.out_wsum[v], "member", b->member[v]);
        json_object_set_new(row, "value", score_value_json(f, &fr, v));
        json_object_set_new(row, "advocacy", score_advocacy_json(f, &b->params, v));
        json_object_set_new(row, "risk", score_risk_json(f, &fr, &b->params, v));
        json_object_set_new(row, "community", json_integer(comms.of[v]));
        json_object_set_new(row, "position",
                            json_string(score_position(f, &b->params, v, rank[v] * n)));
        row_fn(arg, row);
    }
    free(rows);
    score_rows_free(&fr);
    score_communities_free(&comms);
done:
    free(rank);
    free(p);
    free(win);
    free(core);
    free(indeg);
    free(reach);
    score_graph_free(&g);
    return out;
}

static void append_row(void *arg, json_t *row)
{
    json_array_append_new(arg, row);
}

json_t *score_result(const char *audience, uint64_t seq, const struct score_build *b)
{
    json_t *list = json_array();
    json_t *out = score_result_rows(audience, seq, b, append_row, list);
    if (out)
        json_object_set_new(out, "contacts", list);
    else
        json_decref(list);
    return out;
}
