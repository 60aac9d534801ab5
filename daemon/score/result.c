/* SPDX-License-Identifier: Apache-2.0 */
/* An audience's scores as JSON (result.h). */
#include "result.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "community.h"
#include "graph.h"
#include "jsonout.h"
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

/* ---- a row's text without a json_t ---- */

/* The measures of one audience's rows, for row_text. */
struct measures {
    const struct score_build *b;
    const struct score_graph *g;
    const struct score_facts *f;
    const struct score_rows *fr;
    const struct score_communities *comms;
    const double *rank, *win;
    const uint32_t *core, *indeg, *reach;
    uint32_t n;
};

#define KEY(o, lit) jsonout_raw(o, lit, sizeof lit - 1)

static void put_int(struct jsonout *o, int64_t v)
{
    if (v < 0) {
        jsonout_raw(o, "-", 1);
        jsonout_uint(o, (uint64_t)0 - (uint64_t)v);
    } else {
        jsonout_uint(o, (uint64_t)v);
    }
}

static void put_bool(struct jsonout *o, int v)
{
    if (v)
        KEY(o, "true");
    else
        KEY(o, "false");
}

/* 5^k for k = 0..27 (5^27 < 2^63): g17's exact scaling. */
static const uint64_t pow5[28] = {1ULL,
                                  5ULL,
                                  25ULL,
                                  125ULL,
                                  625ULL,
                                  3125ULL,
                                  15625ULL,
                                  78125ULL,
                                  390625ULL,
                                  1953125ULL,
                                  9765625ULL,
                                  48828125ULL,
                                  244140625ULL,
                                  1220703125ULL,
                                  6103515625ULL,
                                  30517578125ULL,
                                  152587890625ULL,
                                  762939453125ULL,
                                  3814697265625ULL,
                                  19073486328125ULL,
                                  95367431640625ULL,
                                  476837158203125ULL,
                                  2384185791015625ULL,
                                  11920928955078125ULL,
                                  59604644775390625ULL,
                                  298023223876953125ULL,
                                  1490116119384765625ULL,
                                  7450580596923828125ULL};

#define E16 10000000000000000ULL
#define E17 100000000000000000ULL

/* The 17 significant digits of a finite nonzero |d| in [1e-11, 1e17),
 * rounded as glibc's printf rounds them (to nearest, a tie to even):
 * *q in [10^16, 10^17) and *x the decimal exponent of the first digit.
 * Exact: d = m 2^e, and d 10^k = m 5^k 2^(k+e) with m 5^k < 2^116, so
 * the digits are a 128-bit product shifted and the rounding is read off
 * the bits shifted out.  -1 outside that range (snprintf writes those). */
static int digits17(double d, uint64_t *q, int *x)
{
    double a = fabs(d);
    if (!(a >= 1e-11 && a < 1e17))
        return -1;
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    uint64_t m = (bits & ((1ULL << 52) - 1)) | (1ULL << 52);
    int e = (int)((bits >> 52) & 0x7ff) - 1075;
    int ex = (int)floor(log10(a)); /* a guess, put right below */
    for (int tries = 0; tries < 4; tries++) {
        int k = 16 - ex;
        if (k < 0 || k > 27)
            return -1;
        unsigned __int128 p = (unsigned __int128)m * pow5[k], v, rem = 0, half = 0;
        int s = k + e;
        if (s >= 0) {
            if (s > 10)
                return -1;
            v = p << s;
        } else {
            if (-s >= 120)
                return -1;
            v = p >> -s;
            rem = p & (((unsigned __int128)1 << -s) - 1);
            half = (unsigned __int128)1 << (-s - 1);
        }
        if (v < E16) {
            ex--;
            continue;
        }
        if (v >= E17) {
            ex++;
            continue;
        }
        if (rem > half || (rem == half && rem && (v & 1)))
            v++;
        if (v == E17) {
            v = E16;
            ex++;
        }
        *q = (uint64_t)v;
        *x = ex;
        return 0;
    }
    return -1;
}

/* "%.17g" of a finite d, the bytes glibc writes, in out; its length. */
static int g17(double d, char *out, size_t size)
{
    uint64_t q;
    int x;
    if (d == 0 || digits17(d, &q, &x) < 0)
        return snprintf(out, size, "%.17g", d);
    char dig[17];
    for (int i = 16; i >= 0; i--) {
        dig[i] = (char)('0' + q % 10);
        q /= 10;
    }
    int nd = 17; /* %g drops the trailing zeros */
    while (nd > 1 && dig[nd - 1] == '0')
        nd--;
    char *o = out;
    if (signbit(d))
        *o++ = '-';
    if (x < -4 || x >= 17) {
        *o++ = dig[0];
        if (nd > 1) {
            *o++ = '.';
            memcpy(o, dig + 1, (size_t)nd - 1);
            o += nd - 1;
        }
        *o++ = 'e';
        *o++ = x < 0 ? '-' : '+';
        int ax = x < 0 ? -x : x;
        if (ax >= 100)
            *o++ = (char)('0' + ax / 100);
        *o++ = (char)('0' + ax / 10 % 10);
        *o++ = (char)('0' + ax % 10);
    } else if (x >= 0) {
        memcpy(o, dig, (size_t)x + 1);
        o += x + 1;
        if (nd > x + 1) {
            *o++ = '.';
            memcpy(o, dig + x + 1, (size_t)(nd - x - 1));
            o += nd - x - 1;
        }
    } else {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -x - 1; i++)
            *o++ = '0';
        memcpy(o, dig, (size_t)nd);
        o += nd;
    }
    *o = 0;
    return (int)(o - out);
}

/* A real as jansson writes it (not jsonout_real's shortest text: the kept
 * rows stay the bytes they were): "%.17g", ".0" added when that has
 * neither '.' nor 'e', the exponent without '+' or leading zeros.  A
 * whole number below 2^53 prints its digits under %.17g, so it is written
 * as one; most other reals (PageRank's, the shares) by g17 without
 * snprintf, which was a third of a large audience's making. */
size_t score_real_text(double d, char out[SCORE_REAL_MAX])
{
    if (fabs(d) < 9007199254740992.0 && d == (double)(int64_t)d) {
        char *o = out;
        if (signbit(d))
            *o++ = '-';
        uint64_t u = (uint64_t)(d < 0 ? -(int64_t)d : (int64_t)d);
        char t[20];
        int n = 0;
        do {
            t[n++] = (char)('0' + u % 10);
            u /= 10;
        } while (u);
        while (n)
            *o++ = t[--n];
        memcpy(o, ".0", 3);
        return (size_t)(o + 2 - out);
    }
    char *num = out;
    int n = g17(d, num, SCORE_REAL_MAX);
    if (n < 0 || n >= SCORE_REAL_MAX - 3) {
        out[0] = 0;
        return 0; /* cannot be: a finite double is at most 24 characters */
    }
    if (!strchr(num, '.') && !strchr(num, 'e')) {
        memcpy(num + n, ".0", 3);
        n += 2;
    }
    char *e = strchr(num, 'e');
    if (e) {
        char *from = e + 1, *to = e + 1;
        if (*from == '-')
            to = ++from;
        else if (*from == '+')
            from++;
        while (*from == '0' && from[1])
            from++;
        memmove(to, from, (size_t)(num + n + 1 - from));
        n -= (int)(from - to);
    }
    return (size_t)n;
}

static void put_real(struct jsonout *o, double d)
{
    char num[SCORE_REAL_MAX];
    size_t n = score_real_text(d, num);
    jsonout_raw(o, num, n);
}

/* A member that jansson would leave out when the real is not finite
 * (json_real refuses it, and the object is made without it). */
static void put_real_member(struct jsonout *o, const char *key, size_t klen, double d, int *first)
{
    if (!isfinite(d))
        return;
    if (!*first)
        jsonout_raw(o, ",", 1);
    *first = 0;
    jsonout_raw(o, key, klen);
    put_real(o, d);
}
#define REAL(o, lit, d, first) put_real_member(o, lit, sizeof lit - 1, d, first)

/* value.c's score_value_json, score_advocacy_json and score_risk_json as
 * text, member for member (test_score_rows compares them). */
static void value_text(struct jsonout *o, const struct measures *m, uint32_t v)
{
    const struct score_facts *f = m->f;
    const struct score_rows *r = m->fr;
    char rfm[3] = {(char)('0' + r->r[v]), (char)('0' + r->fq[v]), (char)('0' + r->m[v])};
    KEY(o, "{\"score\":");
    put_int(o, r->r[v] + r->fq[v] + r->m[v]);
    KEY(o, ",\"r\":");
    put_int(o, r->r[v]);
    KEY(o, ",\"f\":");
    put_int(o, r->fq[v]);
    KEY(o, ",\"m\":");
    put_int(o, r->m[v]);
    KEY(o, ",\"rfm\":");
    jsonout_string(o, rfm, 3);
    KEY(o, ",\"records\":");
    put_int(o, f->records[v]);
    KEY(o, ",\"events\":");
    put_int(o, r->events[v]);
    KEY(o, ",\"signups\":");
    put_int(o, f->signups[v]);
    KEY(o, ",\"clicks\":");
    put_int(o, f->clicks[v]);
    int first = 0;
    REAL(o, "\"monetary\":", f->monetary[v], &first);
    if (f->currency[v][0]) {
        KEY(o, ",\"currency\":");
        jsonout_string(o, f->currency[v], strnlen(f->currency[v], 4));
    }
    if (f->last_in[v] != INT64_MIN) {
        char t[40];
        util_format_time(f->last_in[v], t, sizeof t);
        KEY(o, ",\"last_record_at\":");
        jsonout_string(o, t, strlen(t));
    }
    KEY(o, "}");
}

static double negative_share(const struct score_facts *f, uint32_t v)
{
    return f->rated[v] ? (double)f->unhappy[v] / f->rated[v] : 0.0;
}

static void advocacy_text(struct jsonout *o, const struct measures *m, uint32_t v,
                          struct score_row_text *rt)
{
    const struct score_facts *f = m->f;
    const struct score_params *p = &m->b->params;
    double share = negative_share(f, v);
    uint32_t good = f->praise[v] + f->helpful[v];
    int advocate = good >= p->advocate_min && share * 100 <= (double)p->advocate_max_negative;
    double score = good * (1 - share);
    int first = 1;
    KEY(o, "{");
    REAL(o, "\"score\":", score, &first);
    if (isfinite(score)) {
        rt->key[3] = score;
        rt->has |= 1u << 3;
    }
    if (!first)
        KEY(o, ",");
    KEY(o, "\"advocate\":");
    put_bool(o, advocate);
    first = 0;
    rt->advocate = advocate;
    KEY(o, ",\"positive_mentions\":");
    put_int(o, f->praise[v]);
    KEY(o, ",\"helpful_replies\":");
    put_int(o, f->helpful[v]);
    REAL(o, "\"negative_share\":", share, &first);
    KEY(o, ",\"positive\":");
    put_int(o, f->positive[v]);
    KEY(o, ",\"negative\":");
    put_int(o, f->negative[v]);
    KEY(o, ",\"complaints\":");
    put_int(o, f->complaints[v]);
    KEY(o, ",\"rated\":");
    put_int(o, f->rated[v]);
    KEY(o, "}");
}

static void risk_text(struct jsonout *o, const struct measures *m, uint32_t v,
                      struct score_row_text *rt)
{
    const struct score_facts *f = m->f;
    const struct score_rows *r = m->fr;
    const struct score_params *p = &m->b->params;
    KEY(o, "{\"score\":");
    put_real(o, (double)r->unanswered[v]);
    rt->key[4] = (double)r->unanswered[v];
    rt->has |= 1u << 4;
    KEY(o, ",\"at_risk\":");
    put_bool(o, (int64_t)r->unanswered[v] >= p->risk_min && r->unanswered[v] > 0);
    KEY(o, ",\"unanswered\":");
    put_int(o, r->unanswered[v]);
    int first = 0;
    REAL(o, "\"oldest_unanswered_hours\":", r->oldest_h[v], &first);
    KEY(o, ",\"unhappy\":");
    put_int(o, f->unhappy[v]);
    KEY(o, ",\"echoes\":");
    put_int(o, f->echoes[v]);
    KEY(o, "}");
}

/* Row v's text into o (emptied first), rt's keys filled; -1 when json_pack
 * would have failed (a top-level real not finite). */
static int row_text(struct jsonout *o, const struct measures *m, uint32_t v,
                    struct score_row_text *rt)
{
    const struct score_graph *g = m->g;
    double influence = m->rank[v] * m->n;
    if (!isfinite(influence) || !isfinite(m->rank[v]) || !isfinite(m->win[v]) ||
        !isfinite(g->out_wsum[v]))
        return -1;
    const char *id = m->b->ids[v];
    o->len = 0;
    *rt = (struct score_row_text){.contact = id};
    KEY(o, "{\"contact\":");
    jsonout_string(o, id, strlen(id));
    KEY(o, ",\"influence\":");
    put_real(o, influence);
    rt->key[0] = influence;
    KEY(o, ",\"pagerank\":");
    put_real(o, m->rank[v]);
    KEY(o, ",\"k_core\":");
    put_int(o, m->core[v]);
    KEY(o, ",\"in_degree\":");
    put_int(o, m->indeg[v]);
    KEY(o, ",\"out_degree\":");
    put_int(o, (int64_t)(g->out_start[v + 1] - g->out_start[v]));
    KEY(o, ",\"reach\":");
    put_int(o, m->reach[v]);
    rt->key[1] = m->reach[v];
    KEY(o, ",\"weight_in\":");
    put_real(o, m->win[v]);
    KEY(o, ",\"weight_out\":");
    put_real(o, g->out_wsum[v]);
    KEY(o, ",\"member\":");
    put_bool(o, m->b->member[v]);
    KEY(o, ",\"value\":");
    value_text(o, m, v);
    rt->key[2] = m->fr->r[v] + m->fr->fq[v] + m->fr->m[v];
    rt->has |= 1u << 0 | 1u << 1 | 1u << 2;
    KEY(o, ",\"advocacy\":");
    advocacy_text(o, m, v, rt);
    KEY(o, ",\"risk\":");
    risk_text(o, m, v, rt);
    KEY(o, ",\"community\":");
    put_int(o, m->comms->of[v]);
    KEY(o, ",\"position\":");
    const char *pos = score_position(m->f, &m->b->params, v, influence);
    jsonout_string(o, pos, strlen(pos));
    KEY(o, "}");
    return 0;
}

/* ---- the document ---- */

/* Each row given to row_fn as a json_t, or to text_fn as text. */
static json_t *make(const char *audience, uint64_t seq, const struct score_build *b,
                    void (*row_fn)(void *arg, json_t *row), void (*ready)(void *arg),
                    void (*text_fn)(void *arg, const struct score_row_text *row), void *arg)
{
    /* The graph score_build_graph made, or made here. */
    struct score_graph g;
    if (b->graphed)
        g = b->graph;
    else if (score_graph_build(&g, b->nnodes, &b->edges) != 0)
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
    json_t *klass =
        score_class(&g, SCORE_BRAND, &comms, f, &b->params, s.brand_share, &groups, b->ids);
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
    if (ready)
        ready(arg);
    /* Each row is handed on as it is made: the caller may serialize and
     * free it, so that no audience's every row is a jansson tree at once. */
    struct measures m = {b, &g, f, &fr, &comms, rank, win, core, indeg, reach, n};
    struct jsonout o = {0};
    for (size_t i = 0; i < nrows; i++) {
        uint32_t v = rows[i].node;
        if (text_fn) {
            struct score_row_text rt;
            if (row_text(&o, &m, v, &rt) == 0 && !o.failed) {
                rt.text = o.p;
                rt.len = o.len;
            } else {
                rt = (struct score_row_text){.contact = b->ids[v]};
                o.failed = 0; /* jsonout_string's NUL: only this row's */
            }
            text_fn(arg, &rt);
            continue;
        }
        json_t *row = json_pack("{s:s,s:f,s:f,s:I,s:I,s:I,s:I,s:f,s:f,s:b}", "contact", b->ids[v],
                                "influence", rank[v] * n, "pagerank", rank[v], "k_core",
                                (json_int_t)core[v], "in_degree", (json_int_t)indeg[v],
                                "out_degree", (json_int_t)(g.out_start[v + 1] - g.out_start[v]),
                                "reach", (json_int_t)reach[v], "weight_in", win[v], "weight_out",
                                g.out_wsum[v], "member", b->member[v]);
        json_object_set_new(row, "value", score_value_json(f, &fr, v));
        json_object_set_new(row, "advocacy", score_advocacy_json(f, &b->params, v));
        json_object_set_new(row, "risk", score_risk_json(f, &fr, &b->params, v));
        json_object_set_new(row, "community", json_integer(comms.of[v]));
        json_object_set_new(row, "position",
                            json_string(score_position(f, &b->params, v, rank[v] * n)));
        row_fn(arg, row);
    }
    free(o.p);
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
    if (!b->graphed)
        score_graph_free(&g);
    return out;
}

json_t *score_result_rows(const char *audience, uint64_t seq, const struct score_build *b,
                          void (*row_fn)(void *arg, json_t *row), void *arg)
{
    return make(audience, seq, b, row_fn, NULL, NULL, arg);
}

json_t *score_result_text(const char *audience, uint64_t seq, const struct score_build *b,
                          void (*text_fn)(void *arg, const struct score_row_text *row), void *arg)
{
    return make(audience, seq, b, NULL, NULL, text_fn, arg);
}

json_t *score_result_text_when(const char *audience, uint64_t seq, const struct score_build *b,
                               void (*ready)(void *arg),
                               void (*text_fn)(void *arg, const struct score_row_text *row),
                               void *arg)
{
    return make(audience, seq, b, NULL, ready, text_fn, arg);
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
