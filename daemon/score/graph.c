/* SPDX-License-Identifier: Apache-2.0 */
/* The audience graph's algorithms (graph.h).  Written here rather than
 * taken from a graph library: kanald links no GPL code, and the few
 * measures scores need fit in compact arrays that a million records'
 * graph keeps small (an edge is 12 bytes, a node a few words). */
#include "graph.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int score_edges_add(struct score_edges *e, uint32_t src, uint32_t dst, double w)
{
    if (!isfinite(w) || w <= 0)
        return -EINVAL;
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 64;
        e->src = xrealloc(e->src, e->cap * sizeof *e->src);
        e->dst = xrealloc(e->dst, e->cap * sizeof *e->dst);
        e->w = xrealloc(e->w, e->cap * sizeof *e->w);
    }
    e->src[e->n] = src;
    e->dst[e->n] = dst;
    e->w[e->n] = w;
    e->n++;
    return 0;
}

void score_edges_free(struct score_edges *e)
{
    free(e->src);
    free(e->dst);
    free(e->w);
    *e = (struct score_edges){0};
}

/* One out-edge while a node's slice is sorted by destination. */
struct dw {
    uint32_t dst;
    double w;
};

static int dw_cmp(const void *a, const void *b)
{
    const struct dw *x = a, *y = b;
    return (x->dst > y->dst) - (x->dst < y->dst);
}

int score_graph_build(struct score_graph *g, uint32_t n, const struct score_edges *e)
{
    *g = (struct score_graph){.n = n};
    for (size_t i = 0; i < e->n; i++)
        if (e->src[i] >= n || e->dst[i] >= n)
            return -EINVAL;
    /* Count, place by source (a counting sort), then sort and merge each
     * node's slice. */
    size_t *start = xcalloc((size_t)n + 1, sizeof *start);
    for (size_t i = 0; i < e->n; i++)
        if (e->src[i] != e->dst[i])
            start[e->src[i] + 1]++;
    for (uint32_t v = 0; v < n; v++)
        start[v + 1] += start[v];
    size_t total = start[n];
    struct dw *tmp = xmalloc((total ? total : 1) * sizeof *tmp);
    size_t *fill = xmalloc(((size_t)n + 1) * sizeof *fill);
    memcpy(fill, start, ((size_t)n + 1) * sizeof *fill);
    for (size_t i = 0; i < e->n; i++)
        if (e->src[i] != e->dst[i])
            tmp[fill[e->src[i]]++] = (struct dw){e->dst[i], e->w[i]};
    free(fill);

    /* Merged in place (the merged edges never pass the one being read),
     * then copied into arrays of the distinct edges alone: repeated
     * interactions make most of a large audience's edges. */
    g->out_start = xcalloc((size_t)n + 1, sizeof *g->out_start);
    g->out_wsum = xcalloc(n ? n : 1, sizeof *g->out_wsum);
    size_t m = 0;
    for (uint32_t v = 0; v < n; v++) {
        struct dw *s = tmp + start[v];
        size_t k = start[v + 1] - start[v];
        qsort(s, k, sizeof *s, dw_cmp);
        g->out_start[v] = m;
        for (size_t i = 0; i < k; i++) {
            struct dw x = s[i];
            if (m > g->out_start[v] && tmp[m - 1].dst == x.dst)
                tmp[m - 1].w += x.w;
            else
                tmp[m++] = x;
            g->out_wsum[v] += x.w;
        }
    }
    g->out_start[n] = m;
    g->m = m;
    g->out_dst = xmalloc((m ? m : 1) * sizeof *g->out_dst);
    g->out_w = xmalloc((m ? m : 1) * sizeof *g->out_w);
    for (size_t i = 0; i < m; i++) {
        g->out_dst[i] = tmp[i].dst;
        g->out_w[i] = tmp[i].w;
    }
    free(tmp);
    free(start);
    return 0;
}

void score_graph_free(struct score_graph *g)
{
    free(g->out_start);
    free(g->out_dst);
    free(g->out_w);
    free(g->out_wsum);
    *g = (struct score_graph){0};
}

int score_graph_has_edge(const struct score_graph *g, uint32_t src, uint32_t dst)
{
    if (src >= g->n)
        return 0;
    size_t lo = g->out_start[src], hi = g->out_start[src + 1];
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g->out_dst[mid] == dst)
            return 1;
        if (g->out_dst[mid] < dst)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

int score_pagerank(const struct score_graph *g, const double *personal, double alpha, double tol,
                   int max_iter, double *rank)
{
    uint32_t n = g->n;
    if (n == 0)
        return 0;
    if (!(alpha >= 0 && alpha < 1) || !(tol > 0) || max_iter < 1)
        return -EINVAL;
    double *p = xmalloc(n * sizeof *p);
    double psum = 0;
    for (uint32_t v = 0; v < n; v++) {
        p[v] = personal ? personal[v] : 1.0;
        if (!isfinite(p[v]) || p[v] < 0) {
            free(p);
            return -EINVAL;
        }
        psum += p[v];
    }
    if (!(psum > 0)) {
        free(p);
        return -EINVAL;
    }
    for (uint32_t v = 0; v < n; v++)
        p[v] /= psum;

    double *last = xmalloc(n * sizeof *last);
    for (uint32_t v = 0; v < n; v++)
        rank[v] = 1.0 / n;
    int r = -ERANGE;
    for (int it = 1; it <= max_iter; it++) {
        memcpy(last, rank, n * sizeof *last);
        double dangle = 0;
        for (uint32_t v = 0; v < n; v++) {
            rank[v] = 0;
            if (g->out_start[v] == g->out_start[v + 1])
                dangle += last[v];
        }
        for (uint32_t v = 0; v < n; v++) {
            size_t a = g->out_start[v], b = g->out_start[v + 1];
            if (a == b)
                continue;
            double share = alpha * last[v] / g->out_wsum[v];
            for (size_t i = a; i < b; i++)
                rank[g->out_dst[i]] += share * g->out_w[i];
        }
        /* The dangling rank follows the jump, as networkx does when its
         * dangling vector is not given. */
        double jump = alpha * dangle + (1 - alpha);
        double err = 0;
        for (uint32_t v = 0; v < n; v++) {
            rank[v] += jump * p[v];
            err += fabs(rank[v] - last[v]);
        }
        if (err < n * tol) {
            r = it;
            break;
        }
    }
    free(last);
    free(p);
    return r;
}

static int u32_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

uint32_t score_kcore(const struct score_graph *g, uint32_t *core)
{
    uint32_t n = g->n;
    if (n == 0)
        return 0;
    /* The undirected simple graph: each directed edge in both lists, then
     * each list sorted and made unique (a reciprocal pair is one link). */
    size_t *ustart = xcalloc((size_t)n + 1, sizeof *ustart);
    for (uint32_t v = 0; v < n; v++)
        for (size_t i = g->out_start[v]; i < g->out_start[v + 1]; i++) {
            ustart[v + 1]++;
            ustart[g->out_dst[i] + 1]++;
        }
    for (uint32_t v = 0; v < n; v++)
        ustart[v + 1] += ustart[v];
    uint32_t *adj = xmalloc((ustart[n] ? ustart[n] : 1) * sizeof *adj);
    size_t *fill = xmalloc(((size_t)n + 1) * sizeof *fill);
    memcpy(fill, ustart, ((size_t)n + 1) * sizeof *fill);
    for (uint32_t v = 0; v < n; v++)
        for (size_t i = g->out_start[v]; i < g->out_start[v + 1]; i++) {
            adj[fill[v]++] = g->out_dst[i];
            adj[fill[g->out_dst[i]]++] = v;
        }
    uint32_t *deg = xmalloc(n * sizeof *deg), *ulen = xmalloc(n * sizeof *ulen);
    for (uint32_t v = 0; v < n; v++) {
        uint32_t *s = adj + ustart[v];
        size_t k = ustart[v + 1] - ustart[v], u = 0;
        qsort(s, k, sizeof *s, u32_cmp);
        for (size_t i = 0; i < k; i++)
            if (u == 0 || s[u - 1] != s[i])
                s[u++] = s[i];
        ulen[v] = deg[v] = (uint32_t)u; /* the list's unique prefix */
    }

    /* Batagelj-Zaversnik: nodes in bins by degree; take the lowest, and
     * move each neighbour of higher degree one bin down. */
    uint32_t maxd = 0;
    for (uint32_t v = 0; v < n; v++)
        if (deg[v] > maxd)
            maxd = deg[v];
    uint32_t *bin = xcalloc((size_t)maxd + 1, sizeof *bin);
    for (uint32_t v = 0; v < n; v++)
        bin[deg[v]]++;
    uint32_t at = 0;
    for (uint32_t d = 0; d <= maxd; d++) {
        uint32_t c = bin[d];
        bin[d] = at;
        at += c;
    }
    uint32_t *vert = xmalloc(n * sizeof *vert), *pos = xmalloc(n * sizeof *pos);
    for (uint32_t v = 0; v < n; v++) {
        pos[v] = bin[deg[v]]++;
        vert[pos[v]] = v;
    }
    for (uint32_t d = maxd; d > 0; d--)
        bin[d] = bin[d - 1];
    bin[0] = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t v = vert[i];
        for (size_t j = ustart[v]; j < ustart[v] + ulen[v]; j++) {
            uint32_t u = adj[j];
            if (deg[u] > deg[v]) {
                uint32_t du = deg[u], pu = pos[u], pw = bin[du], w = vert[pw];
                if (u != w) {
                    pos[u] = pw;
                    vert[pu] = w;
                    pos[w] = pu;
                    vert[pw] = u;
                }
                bin[du]++;
                deg[u]--;
            }
        }
    }
    uint32_t max_core = 0;
    for (uint32_t v = 0; v < n; v++) {
        core[v] = deg[v];
        if (deg[v] > max_core)
            max_core = deg[v];
    }
    free(vert);
    free(pos);
    free(bin);
    free(deg);
    free(ulen);
    free(fill);
    free(adj);
    free(ustart);
    return max_core;
}

/* Union-find with path halving, for the weakly connected components. */
static uint32_t uf_find(uint32_t *parent, uint32_t v)
{
    while (parent[v] != v) {
        parent[v] = parent[parent[v]];
        v = parent[v];
    }
    return v;
}

void score_shape(const struct score_graph *g, uint32_t brand, const uint32_t *core,
                 uint32_t max_core, struct score_shape *out)
{
    uint32_t n = g->n;
    *out = (struct score_shape){.nodes = n, .edges = g->m, .max_core = max_core};
    if (n > 1)
        out->density = (double)g->m / ((double)n * (double)(n - 1));
    uint32_t *parent = xmalloc((n ? n : 1) * sizeof *parent);
    for (uint32_t v = 0; v < n; v++)
        parent[v] = v;
    size_t mutual = 0;
    double wall = 0, wbrand = 0;
    for (uint32_t v = 0; v < n; v++)
        for (size_t i = g->out_start[v]; i < g->out_start[v + 1]; i++) {
            uint32_t u = g->out_dst[i];
            uint32_t a = uf_find(parent, v), b = uf_find(parent, u);
            if (a != b)
                parent[a < b ? b : a] = a < b ? a : b;
            if (score_graph_has_edge(g, u, v))
                mutual++;
            wall += g->out_w[i];
            if (v == brand || u == brand)
                wbrand += g->out_w[i];
        }
    if (g->m)
        out->reciprocity = (double)mutual / (double)g->m;
    if (wall > 0)
        out->brand_share = wbrand / wall;
    uint32_t *size = xcalloc(n ? n : 1, sizeof *size);
    for (uint32_t v = 0; v < n; v++) {
        uint32_t r = uf_find(parent, v);
        if (size[r]++ == 0)
            out->components++;
        if (size[r] > out->largest)
            out->largest = size[r];
    }
    free(size);
    free(parent);
    out->core_sizes = xcalloc((size_t)max_core + 1, sizeof *out->core_sizes);
    for (uint32_t v = 0; v < n; v++)
        out->core_sizes[core[v] < max_core ? core[v] : max_core]++;
    for (uint32_t k = max_core; k > 0; k--) /* index >= k: a suffix sum */
        out->core_sizes[k - 1] += out->core_sizes[k];
}

void score_shape_free(struct score_shape *s)
{
    free(s->core_sizes);
    s->core_sizes = NULL;
}
