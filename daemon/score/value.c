/* SPDX-License-Identifier: Apache-2.0 */
/* Value, advocacy, risk and position of each contact in an audience
 * (value.h); what each number means is docs/scores.md. */
#include "value.h"

#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "util.h"

#define HOUR_MS 3600000LL

void score_params_default(struct score_params *p)
{
    *p = (struct score_params){
        .unanswered_ms = 24 * HOUR_MS,
        .risk_window_ms = 30 * 24 * HOUR_MS,
        .risk_min = 1,
        .advocate_min = 3,
        .advocate_max_negative = 20,
        .key_influence = 200,
        .critic_min = 2,
        .critic_share = 50,
        .polarized_cross = 10,
        .polarized_sentiment = 20,
        .cohesive_star = 60,
        .cohesive_brand = 80,
        .polarized_camps = 50,
        .critic_echoes = 2,
    };
}

void score_facts_init(struct score_facts *f)
{
    *f = (struct score_facts){0};
}

#define ARRAYS(X)                                                                               \
    X(last_in)                                                                                  \
    X(records)                                                                                  \
    X(clicks)                                                                                   \
    X(signups)                                                                                  \
    X(rated)                                                                                    \
    X(positive)                                                                                 \
    X(negative) X(complaints) X(unhappy) X(helpful) X(praise) X(echoes) X(last_out) X(monetary) \
        X(currency)

void score_facts_free(struct score_facts *f)
{
#define FREE(a) free(f->a);
    ARRAYS(FREE)
#undef FREE
    free(f->ev);
    free(f->pend);
    free(f->index);
    *f = (struct score_facts){0};
}

void score_facts_grow(struct score_facts *f, uint32_t n)
{
    if (n <= f->cap)
        return;
    uint32_t old = f->cap, cap = old ? old : 64;
    while (cap < n)
        cap *= 2;
#define GROW(a)                                        \
    f->a = xrealloc(f->a, (size_t)cap * sizeof *f->a); \
    memset(f->a + old, 0, (size_t)(cap - old) * sizeof *f->a);
    ARRAYS(GROW)
#undef GROW
    for (uint32_t v = old; v < cap; v++)
        f->last_in[v] = INT64_MIN;
    f->cap = cap;
}

/* ---- pending complaints, found again by source \0 external_id ---- */

static void index_put(struct score_facts *f, uint64_t key, uint32_t at)
{
    if ((f->nindexed + 1) * 2 > f->indexcap) { /* at most half full */
        size_t cap = f->indexcap ? f->indexcap * 2 : 256;
        struct score_slot *t = xcalloc(cap, sizeof *t);
        for (size_t i = 0; i < f->indexcap; i++)
            if (f->index[i].used) {
                size_t j = f->index[i].key & (cap - 1);
                while (t[j].used)
                    j = (j + 1) & (cap - 1);
                t[j] = f->index[i];
            }
        free(f->index);
        f->index = t;
        f->indexcap = cap;
    }
    size_t j = key & (f->indexcap - 1);
    while (f->index[j].used && f->index[j].key != key)
        j = (j + 1) & (f->indexcap - 1);
    if (!f->index[j].used)
        f->nindexed++;
    f->index[j] = (struct score_slot){key, at, 1};
}

/* The pending record of key, or NULL. */
static struct score_pending *index_get(struct score_facts *f, uint64_t key)
{
    if (!f->indexcap)
        return NULL;
    size_t j = key & (f->indexcap - 1);
    while (f->index[j].used) {
        if (f->index[j].key == key)
            return &f->pend[f->index[j].at];
        j = (j + 1) & (f->indexcap - 1);
    }
    return NULL;
}

void score_facts_add(struct score_facts *f, const struct score_rec *rec, uint32_t author,
                     uint32_t answered, uint32_t peer, int64_t at_ms)
{
    f->order++;
    score_facts_grow(f, author + 1);
    f->records[author]++;
    if (at_ms > f->last_in[author])
        f->last_in[author] = at_ms;
    if (rec->kind == SCORE_K_CLICK)
        f->clicks[author]++;
    if (rec->kind == SCORE_K_SIGNUP) {
        f->signups[author]++;
        if (rec->event) {
            if (f->nev == f->evcap) {
                f->evcap = f->evcap ? f->evcap * 2 : 64;
                f->ev = xrealloc(f->ev, f->evcap * sizeof *f->ev);
            }
            f->ev[f->nev].node = author;
            f->ev[f->nev++].event = rec->event;
        }
    }
    int pos = 0, neg = 0;
    if (rec->rated) {
        f->rated[author]++;
        pos = rec->positive;
        neg = rec->negative;
        f->positive[author] += (uint32_t)pos;
        f->negative[author] += (uint32_t)neg;
        f->complaints[author] += (uint32_t)rec->complaint;
        neg |= rec->complaint;
    }
    /* An answer to another customer: a reply to their record, or a peer
     * message to them. */
    /* Another customer answering, reacting to or sharing a complaint
     * carries it further. */
    if (rec->reply && answered != UINT32_MAX && answered != author) {
        struct score_pending *q = index_get(f, rec->reply);
        if (q && q->node == answered)
            f->echoes[answered]++;
    }
    uint32_t other = answered != UINT32_MAX && answered != SCORE_FACTS_BRAND ? answered : peer;
    /* Words, not a like or a share: a reply helps. */
    int says = rec->kind == SCORE_K_COMMENT || rec->kind == SCORE_K_MESSAGE ||
               rec->kind == SCORE_K_POST || rec->kind == SCORE_K_MENTION;
    if (says && other != UINT32_MAX && other != SCORE_FACTS_BRAND && other != author && !neg)
        f->helpful[author]++;
    else if (pos)
        f->praise[author]++;
    if (!neg)
        return;
    f->unhappy[author]++;
    if (f->npend == f->pendcap) {
        f->pendcap = f->pendcap ? f->pendcap * 2 : 64;
        f->pend = xrealloc(f->pend, f->pendcap * sizeof *f->pend);
    }
    uint64_t key = rec->self;
    f->pend[f->npend] = (struct score_pending){author, at_ms, f->order, key, 0};
    if (key)
        index_put(f, key, (uint32_t)f->npend);
    f->npend++;
}

void score_facts_answer(struct score_facts *f, const struct score_rec *rec, uint32_t to)
{
    f->order++;
    /* Receipts of a message are no answer to anyone. */
    if (rec->kind == SCORE_K_RECEIPT)
        return;
    if (rec->reply) {
        struct score_pending *p = index_get(f, rec->reply);
        if (p)
            p->answered = 1;
    }
    if (to != UINT32_MAX) {
        score_facts_grow(f, to + 1);
        f->last_out[to] = f->order;
    }
}

/* ---- quintiles and the objects ---- */

struct qv {
    double x;
    size_t i;
};

static int qv_cmp(const void *a, const void *b)
{
    const struct qv *p = a, *q = b;
    return (p->x > q->x) - (p->x < q->x);
}

void score_quintiles(const double *x, size_t n, uint8_t *q)
{
    struct qv *s = xmalloc((n ? n : 1) * sizeof *s);
    for (size_t i = 0; i < n; i++)
        s[i] = (struct qv){x[i], i};
    qsort(s, n, sizeof *s, qv_cmp);
    size_t below = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && s[i].x != s[i - 1].x)
            below = i;
        q[s[i].i] = (uint8_t)(1 + (5 * below) / n);
    }
    free(s);
}

static int ev_cmp(const void *a, const void *b)
{
    const struct score_event *p = a, *q = b;
    if (p->node != q->node)
        return (p->node > q->node) - (p->node < q->node);
    return (p->event > q->event) - (p->event < q->event);
}

void score_facts_finish(struct score_facts *f, uint32_t n, int64_t now_ms,
                        const struct score_params *p, struct score_rows *out)
{
    score_facts_grow(f, n);
    size_t rows = n > 1 ? n - 1 : 0;
    *out = (struct score_rows){0};
    out->r = xcalloc(n ? n : 1, 1);
    out->fq = xcalloc(n ? n : 1, 1);
    out->m = xcalloc(n ? n : 1, 1);
    out->events = xcalloc(n ? n : 1, sizeof *out->events);
    out->unanswered = xcalloc(n ? n : 1, sizeof *out->unanswered);
    out->oldest_h = xcalloc(n ? n : 1, sizeof *out->oldest_h);
    double *x = xmalloc((rows ? rows : 1) * sizeof *x);
    /* Recency: a contact with no record of its own is the least recent. */
    for (size_t i = 0; i < rows; i++)
        x[i] = f->last_in[i + 1] == INT64_MIN ? -1e300 : (double)f->last_in[i + 1];
    score_quintiles(x, rows, out->r + 1);
    for (size_t i = 0; i < rows; i++)
        x[i] = f->records[i + 1];
    score_quintiles(x, rows, out->fq + 1);
    for (size_t i = 0; i < rows; i++)
        x[i] = f->monetary[i + 1];
    score_quintiles(x, rows, out->m + 1);
    free(x);
    if (f->nev) /* qsort wants an array, even of none */
        qsort(f->ev, f->nev, sizeof *f->ev, ev_cmp);
    for (size_t i = 0; i < f->nev; i++)
        if ((i == 0 || ev_cmp(&f->ev[i], &f->ev[i - 1]) != 0) && f->ev[i].node < n)
            out->events[f->ev[i].node]++;
    for (size_t i = 0; i < f->npend; i++) {
        struct score_pending *q = &f->pend[i];
        if (q->node >= n || q->answered || f->last_out[q->node] > q->order)
            continue;
        int64_t waited = now_ms - q->at;
        if (waited <= p->unanswered_ms || q->at < now_ms - p->risk_window_ms)
            continue;
        out->unanswered[q->node]++;
        double h = (double)waited / HOUR_MS;
        if (h > out->oldest_h[q->node])
            out->oldest_h[q->node] = h;
    }
}

void score_rows_free(struct score_rows *r)
{
    free(r->r);
    free(r->fq);
    free(r->m);
    free(r->events);
    free(r->unanswered);
    free(r->oldest_h);
    *r = (struct score_rows){0};
}

/* The objects are made key by key: json_pack reads its format and checks
 * each key's UTF-8 for every row of every audience, which was most of
 * their cost.  The keys are in json_pack's order, so the text is the same. */
static void put_int(json_t *o, const char *key, json_int_t v)
{
    json_object_set_new_nocheck(o, key, json_integer(v));
}

static void put_real(json_t *o, const char *key, double v)
{
    json_object_set_new_nocheck(o, key, json_real(v));
}

json_t *score_value_json(const struct score_facts *f, const struct score_rows *r, uint32_t v)
{
    char rfm[4] = {(char)('0' + r->r[v]), (char)('0' + r->fq[v]), (char)('0' + r->m[v]), 0};
    json_t *o = json_object();
    put_int(o, "score", r->r[v] + r->fq[v] + r->m[v]);
    put_int(o, "r", r->r[v]);
    put_int(o, "f", r->fq[v]);
    put_int(o, "m", r->m[v]);
    json_object_set_new_nocheck(o, "rfm", json_string_nocheck(rfm));
    put_int(o, "records", f->records[v]);
    put_int(o, "events", r->events[v]);
    put_int(o, "signups", f->signups[v]);
    put_int(o, "clicks", f->clicks[v]);
    put_real(o, "monetary", f->monetary[v]);
    if (f->currency[v][0])
        json_object_set_new(o, "currency", json_string(f->currency[v]));
    if (f->last_in[v] != INT64_MIN) {
        char t[40];
        util_format_time(f->last_in[v], t, sizeof t);
        json_object_set_new_nocheck(o, "last_record_at", json_string_nocheck(t));
    }
    return o;
}

static double negative_share(const struct score_facts *f, uint32_t v)
{
    return f->rated[v] ? (double)f->unhappy[v] / f->rated[v] : 0.0;
}

json_t *score_advocacy_json(const struct score_facts *f, const struct score_params *p, uint32_t v)
{
    double share = negative_share(f, v);
    uint32_t good = f->praise[v] + f->helpful[v];
    int advocate = good >= p->advocate_min && share * 100 <= (double)p->advocate_max_negative;
    json_t *o = json_object();
    put_real(o, "score", good * (1 - share));
    json_object_set_new_nocheck(o, "advocate", json_boolean(advocate));
    put_int(o, "positive_mentions", f->praise[v]);
    put_int(o, "helpful_replies", f->helpful[v]);
    put_real(o, "negative_share", share);
    put_int(o, "positive", f->positive[v]);
    put_int(o, "negative", f->negative[v]);
    put_int(o, "complaints", f->complaints[v]);
    put_int(o, "rated", f->rated[v]);
    return o;
}

json_t *score_risk_json(const struct score_facts *f, const struct score_rows *r,
                        const struct score_params *p, uint32_t v)
{
    json_t *o = json_object();
    put_real(o, "score", (double)r->unanswered[v]);
    json_object_set_new_nocheck(
        o, "at_risk",
        json_boolean((int64_t)r->unanswered[v] >= p->risk_min && r->unanswered[v] > 0));
    put_int(o, "unanswered", r->unanswered[v]);
    put_real(o, "oldest_unanswered_hours", r->oldest_h[v]);
    put_int(o, "unhappy", f->unhappy[v]);
    put_int(o, "echoes", f->echoes[v]);
    return o;
}

const char *score_position(const struct score_facts *f, const struct score_params *p, uint32_t v,
                           double influence)
{
    if (f->unhappy[v] >= p->critic_min && f->unhappy[v] > 0 &&
        negative_share(f, v) * 100 >= (double)p->critic_share)
        return "critic";
    if (f->unhappy[v] > 0 && f->echoes[v] >= p->critic_echoes) /* others repeat it */
        return "critic";
    if (influence * 100 >= (double)p->key_influence)
        return "key";
    return "ordinary";
}

/* ISO 4217's codes in use (funds and metals included; XTS and XXX, the
 * testing and "no currency" codes, are not). */
static const char currencies[] =
    " AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD"
    " BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP"
    " DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR"
    " IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD"
    " MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB"
    " PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD"
    " SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS"
    " VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG XDR XOF XPD XPF XPT XSU XUA YER"
    " ZAR ZMW ZWG ZWL ";

int score_currency_ok(const char *code)
{
    if (!code || strlen(code) != 3)
        return 0;
    for (int i = 0; i < 3; i++)
        if (code[i] < 'A' || code[i] > 'Z')
            return 0;
    char word[6] = {' ', code[0], code[1], code[2], ' ', 0};
    return strstr(currencies, word) != NULL;
}
