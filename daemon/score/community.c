/* SPDX-License-Identifier: Apache-2.0 */
/* Communities and the audience's class (community.h). */
#include "community.h"

#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "util.h"

/* The customers' undirected graph: node i's neighbours are
 * [start[i], start[i+1]) of dst/w, a pair once per direction it was found
 * in (so u-v answered both ways appears twice, its weights adding up). */
struct undirected {
    size_t *start;
    uint32_t *dst;
    double *w;
    double *k; /* weighted degree */
    double m2; /* sum of k: twice the total weight */
};

static void undirected(const struct score_graph *g, uint32_t brand, struct undirected *u)
{
    uint32_t n = g->n;
    u->start = xcalloc((size_t)n + 1, sizeof *u->start);
    u->k = xcalloc(n ? n : 1, sizeof *u->k);
    for (uint32_t a = 0; a < n; a++)
        for (size_t i = g->out_start[a]; i < g->out_start[a + 1]; i++)
            if (a != brand && g->out_dst[i] != brand) {
                u->start[a + 1]++;
                u->start[g->out_dst[i] + 1]++;
            }
    for (uint32_t a = 0; a < n; a++)
        u->start[a + 1] += u->start[a];
    size_t total = u->start[n];
    u->dst = xmalloc((total ? total : 1) * sizeof *u->dst);
    u->w = xmalloc((total ? total : 1) * sizeof *u->w);
    size_t *fill = xmalloc(((size_t)n + 1) * sizeof *fill);
    memcpy(fill, u->start, ((size_t)n + 1) * sizeof *fill);
    u->m2 = 0;
    for (uint32_t a = 0; a < n; a++)
        for (size_t i = g->out_start[a]; i < g->out_start[a + 1]; i++) {
            uint32_t b = g->out_dst[i];
            if (a == brand || b == brand)
                continue;
            double w = g->out_w[i];
            u->dst[fill[a]] = b;
            u->w[fill[a]++] = w;
            u->dst[fill[b]] = a;
            u->w[fill[b]++] = w;
            u->k[a] += w;
            u->k[b] += w;
            u->m2 += 2 * w;
        }
    free(fill);
}

static void undirected_free(struct undirected *u)
{
    free(u->start);
    free(u->dst);
    free(u->w);
    free(u->k);
}

struct order {
    uint32_t raw, size, first;
};

static int order_cmp(const void *a, const void *b)
{
    const struct order *x = a, *y = b;
    if (x->size != y->size)
        return x->size < y->size ? 1 : -1;
    return (x->first > y->first) - (x->first < y->first);
}

/* Local moving on u's n nodes from comm (each node's community, a node
 * number): each node in turn leaves its community and joins the one whose
 * gain in modularity, k_i,in - tot_c * k_i / 2m (up to a factor the same
 * for all), is highest; strictly higher to move, so it ends.  1 when a
 * node moved. */
static int local_move(const struct undirected *u, uint32_t n, uint32_t *comm)
{
    double *tot = xcalloc(n ? n : 1, sizeof *tot), *nw = xcalloc(n ? n : 1, sizeof *nw);
    uint32_t *touched = xmalloc((n ? n : 1) * sizeof *touched);
    for (uint32_t i = 0; i < n; i++)
        tot[comm[i]] += u->k[i];
    int any = 0;
    for (int pass = 0; pass < SCORE_LOUVAIN_PASSES && u->m2 > 0; pass++) {
        int moved = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (u->k[i] == 0)
                continue;
            size_t nt = 0;
            for (size_t e = u->start[i]; e < u->start[i + 1]; e++) {
                uint32_t cj = comm[u->dst[e]];
                if (u->dst[e] == i) /* a community's own weight, once aggregated */
                    continue;
                if (nw[cj] == 0)
                    touched[nt++] = cj;
                nw[cj] += u->w[e];
            }
            uint32_t own = comm[i], best = own;
            tot[own] -= u->k[i];
            double best_gain = nw[own] - tot[own] * u->k[i] / u->m2;
            for (size_t t = 0; t < nt; t++) {
                uint32_t cj = touched[t];
                double gain = nw[cj] - tot[cj] * u->k[i] / u->m2;
                if (gain > best_gain + 1e-12 ||
                    (gain > best_gain - 1e-12 && cj < best && best != own)) {
                    best = cj;
                    best_gain = gain;
                }
            }
            for (size_t t = 0; t < nt; t++)
                nw[touched[t]] = 0;
            tot[best] += u->k[i];
            if (best != own) {
                comm[i] = best;
                moved = 1;
            }
        }
        any |= moved;
        if (!moved)
            break;
    }
    free(tot);
    free(nw);
    free(touched);
    return any;
}

/* u's communities as one node each (numbered by their lowest node, into
 * comm), the weight between two the sum between their members, a
 * community's inner weight its self-loop: into out; the count returned. */
static uint32_t aggregate(const struct undirected *u, uint32_t n, uint32_t *comm,
                          struct undirected *out)
{
    uint32_t *num = xmalloc((n ? n : 1) * sizeof *num), k = 0;
    for (uint32_t i = 0; i < n; i++)
        num[i] = UINT32_MAX;
    for (uint32_t i = 0; i < n; i++) {
        if (num[comm[i]] == UINT32_MAX)
            num[comm[i]] = k++;
        comm[i] = num[comm[i]];
    }
    free(num);
    /* Members of each community, then each one's summed neighbours. */
    size_t *mstart = xcalloc((size_t)k + 1, sizeof *mstart);
    uint32_t *members = xmalloc((n ? n : 1) * sizeof *members);
    for (uint32_t i = 0; i < n; i++)
        mstart[comm[i] + 1]++;
    for (uint32_t c = 0; c < k; c++)
        mstart[c + 1] += mstart[c];
    size_t *fill = xmalloc(((size_t)k + 1) * sizeof *fill);
    memcpy(fill, mstart, ((size_t)k + 1) * sizeof *fill);
    for (uint32_t i = 0; i < n; i++)
        members[fill[comm[i]]++] = i;
    free(fill);
    double *acc = xcalloc(k ? k : 1, sizeof *acc);
    uint32_t *touched = xmalloc((k ? k : 1) * sizeof *touched);
    *out = (struct undirected){.m2 = u->m2};
    out->start = xcalloc((size_t)k + 1, sizeof *out->start);
    out->k = xcalloc(k ? k : 1, sizeof *out->k);
    size_t cap = 64, m = 0;
    out->dst = xmalloc(cap * sizeof *out->dst);
    out->w = xmalloc(cap * sizeof *out->w);
    for (uint32_t c = 0; c < k; c++) {
        size_t nt = 0;
        for (size_t x = mstart[c]; x < mstart[c + 1]; x++) {
            uint32_t i = members[x];
            out->k[c] += u->k[i];
            for (size_t e = u->start[i]; e < u->start[i + 1]; e++) {
                uint32_t d = comm[u->dst[e]];
                if (acc[d] == 0)
                    touched[nt++] = d;
                acc[d] += u->w[e];
            }
        }
        for (size_t t = 0; t < nt; t++) {
            if (m == cap) {
                cap *= 2;
                out->dst = xrealloc(out->dst, cap * sizeof *out->dst);
                out->w = xrealloc(out->w, cap * sizeof *out->w);
            }
            out->dst[m] = touched[t];
            out->w[m++] = acc[touched[t]];
            acc[touched[t]] = 0;
        }
        out->start[c + 1] = m;
    }
    free(acc);
    free(touched);
    free(mstart);
    free(members);
    return k;
}

void score_communities(const struct score_graph *g, uint32_t brand, struct score_communities *c)
{
    uint32_t n = g->n;
    struct undirected u;
    undirected(g, brand, &u);
    /* Louvain: local moving, then each community as one node, again,
     * until no node moves. */
    uint32_t *comm = xmalloc((n ? n : 1) * sizeof *comm);
    for (uint32_t i = 0; i < n; i++)
        comm[i] = i;
    struct undirected level = u, next;
    uint32_t *lc = xmalloc((n ? n : 1) * sizeof *lc);
    uint32_t ln = n;
    for (int depth = 0; depth < SCORE_LOUVAIN_PASSES; depth++) {
        for (uint32_t i = 0; i < ln; i++)
            lc[i] = i;
        if (!local_move(&level, ln, lc))
            break;
        uint32_t k = aggregate(&level, ln, lc, &next);
        for (uint32_t i = 0; i < n; i++)
            comm[i] = lc[comm[i]];
        if (depth > 0)
            undirected_free(&level);
        level = next;
        ln = k;
    }
    if (level.start != u.start)
        undirected_free(&level);
    free(lc);
    uint32_t *touched = xmalloc((n ? n : 1) * sizeof *touched);
    /* Number them by size, largest first. */
    struct order *ord = xcalloc(n ? n : 1, sizeof *ord);
    for (uint32_t i = 0; i < n; i++)
        ord[i] = (struct order){i, 0, UINT32_MAX};
    for (uint32_t i = 0; i < n; i++)
        if (i != brand) {
            ord[comm[i]].size++;
            if (i < ord[comm[i]].first)
                ord[comm[i]].first = i;
        }
    qsort(ord, n, sizeof *ord, order_cmp);
    uint32_t count = 0;
    while (count < n && ord[count].size)
        count++;
    uint32_t *rename = touched; /* raw community -> number */
    for (uint32_t r = 0; r < count; r++)
        rename[ord[r].raw] = r;
    *c = (struct score_communities){.n = n, .count = count};
    c->of = xmalloc((n ? n : 1) * sizeof *c->of);
    c->size = xcalloc(count ? count : 1, sizeof *c->size);
    for (uint32_t i = 0; i < n; i++)
        c->of[i] = i == brand ? UINT32_MAX : rename[comm[i]];
    for (uint32_t r = 0; r < count; r++)
        c->size[r] = ord[r].size;
    /* Modularity: sum over communities of in_c / 2m - (tot_c / 2m)^2. */
    double *in = xcalloc(count ? count : 1, sizeof *in),
           *kt = xcalloc(count ? count : 1, sizeof *kt);
    for (uint32_t i = 0; i < n; i++) {
        if (i == brand)
            continue;
        kt[c->of[i]] += u.k[i];
        for (size_t e = u.start[i]; e < u.start[i + 1]; e++)
            if (c->of[u.dst[e]] == c->of[i])
                in[c->of[i]] += u.w[e];
    }
    c->modularity = 0;
    for (uint32_t r = 0; r < count && u.m2 > 0; r++)
        c->modularity += in[r] / u.m2 - (kt[r] / u.m2) * (kt[r] / u.m2);
    free(in);
    free(kt);
    free(ord);
    free(comm);
    free(touched);
    undirected_free(&u);
}

void score_communities_free(struct score_communities *c)
{
    free(c->of);
    free(c->size);
    *c = (struct score_communities){0};
}

/* The share of the customers' connected nodes next to the best-connected
 * one, into *top (UINT32_MAX: none). */
static double star(const struct score_graph *g, uint32_t brand, uint32_t *top)
{
    struct undirected u;
    undirected(g, brand, &u);
    uint32_t n = g->n, connected = 0, best = 0;
    uint32_t *seen = xcalloc(n ? n : 1, sizeof *seen);
    *top = UINT32_MAX;
    for (uint32_t i = 0; i < n; i++) {
        if (i == brand || u.start[i] == u.start[i + 1])
            continue;
        connected++;
        uint32_t distinct = 0;
        for (size_t e = u.start[i]; e < u.start[i + 1]; e++)
            if (seen[u.dst[e]] != i + 1) {
                seen[u.dst[e]] = i + 1;
                distinct++;
            }
        if (distinct > best) {
            best = distinct;
            *top = i;
        }
    }
    free(seen);
    undirected_free(&u);
    return connected >= 3 ? (double)best / (connected - 1) : 0.0;
}

json_t *score_class(const struct score_graph *g, uint32_t brand, const struct score_communities *c,
                    const struct score_facts *f, const struct score_params *p, double brand_share,
                    json_t **communities, char *const *ids)
{
    uint32_t k = c->count;
    double *pos = xcalloc(k ? k : 1, sizeof *pos), *neg = xcalloc(k ? k : 1, sizeof *neg);
    double *rated = xcalloc(k ? k : 1, sizeof *rated), *inner = xcalloc(k ? k : 1, sizeof *inner);
    for (uint32_t v = 0; v < c->n; v++)
        if (v != brand && v < f->cap) {
            pos[c->of[v]] += SCORE_COUNT(f, positive, v);
            neg[c->of[v]] += SCORE_COUNT(f, unhappy, v);
            rated[c->of[v]] += SCORE_COUNT(f, rated, v);
        }
    for (uint32_t a = 0; a < g->n; a++)
        for (size_t i = g->out_start[a]; i < g->out_start[a + 1]; i++)
            if (a != brand && g->out_dst[i] != brand && c->of[a] == c->of[g->out_dst[i]])
                inner[c->of[a]] += g->out_w[i];
    /* The camps: the largest community leaning each way. */
    uint32_t fans = UINT32_MAX, critics = UINT32_MAX, groups = 0, mixed = 0, grouped = 0;
    double lean = (double)p->polarized_sentiment / 100;
    *communities = json_array();
    for (uint32_t r = 0; r < k && c->size[r] >= 2; r++) {
        groups++;
        grouped += c->size[r];
        double mean = rated[r] ? (pos[r] - neg[r]) / rated[r] : 0;
        if (rated[r] && mean >= lean && fans == UINT32_MAX)
            fans = r;
        if (rated[r] && mean <= -lean && critics == UINT32_MAX)
            critics = r;
        mixed += pos[r] > 0 && neg[r] > 0;
        if (r < SCORE_COMMUNITIES_MAX)
            json_array_append_new(*communities,
                                  json_pack("{s:I,s:I,s:f,s:f,s:I,s:I,s:I}", "id", (json_int_t)r,
                                            "size", (json_int_t)c->size[r], "mean_sentiment", mean,
                                            "weight", inner[r], "positive", (json_int_t)pos[r],
                                            "negative", (json_int_t)neg[r], "rated",
                                            (json_int_t)rated[r]));
    }
    double across = 0, cross_share = 1;
    if (fans != UINT32_MAX && critics != UINT32_MAX) {
        for (uint32_t a = 0; a < g->n; a++)
            for (size_t i = g->out_start[a]; i < g->out_start[a + 1]; i++) {
                uint32_t b = g->out_dst[i];
                if (a == brand || b == brand)
                    continue;
                if ((c->of[a] == fans && c->of[b] == critics) ||
                    (c->of[a] == critics && c->of[b] == fans))
                    across += g->out_w[i];
            }
        double all = inner[fans] + inner[critics] + across;
        cross_share = all > 0 ? across / all : 1;
    }
    /* Two camps are most of those who talk among themselves, not two
     * small groups among many. */
    double camps_share = fans != UINT32_MAX && critics != UINT32_MAX && grouped
                             ? (double)(c->size[fans] + c->size[critics]) / grouped
                             : 0.0;
    uint32_t top;
    double st = star(g, brand, &top);
    int polarized = fans != UINT32_MAX && critics != UINT32_MAX &&
                    cross_share * 100 <= (double)p->polarized_cross &&
                    camps_share * 100 >= (double)p->polarized_camps;
    int cohesive =
        st * 100 >= (double)p->cohesive_star || brand_share * 100 >= (double)p->cohesive_brand;
    const char *label = polarized ? "polarized" : cohesive ? "cohesive" : "rich";
    json_t *out = json_pack("{s:s,s:I,s:f,s:f,s:f,s:f,s:I,s:f}", "label", label, "communities",
                            (json_int_t)groups, "modularity", c->modularity, "cross_share",
                            fans != UINT32_MAX && critics != UINT32_MAX ? cross_share : 0.0, "star",
                            st, "brand_share", brand_share, "mixed_communities", (json_int_t)mixed,
                            "mixed_share", groups ? (double)mixed / groups : 0.0);
    json_object_set_new(out, "camps",
                        fans != UINT32_MAX && critics != UINT32_MAX
                            ? json_pack("[I,I]", (json_int_t)fans, (json_int_t)critics)
                            : json_null());
    json_object_set_new(out, "camps_share", json_real(camps_share));
    json_object_set_new(out, "top", top != UINT32_MAX ? json_string(ids[top]) : json_null());
    free(pos);
    free(neg);
    free(rated);
    free(inner);
    return out;
}
