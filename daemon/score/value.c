/* SPDX-License-Identifier: Apache-2.0 */
/* Value, advocacy, risk and position of each contact in an audience
 * (value.h); what each number means is docs/scores.md. */
#include "value.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "score_rec.h"
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

#define ARRAYS(X) \
    X(last_in)    \
    X(records)    \
    X(clicks)     \
    X(signups)    \
    X(rated)      \
    X(positive)   \
    X(negative)   \
    X(complaints) X(unhappy) X(helpful) X(praise) X(echoes) X(last_out) X(monetary) X(currency)

void score_facts_free(struct score_facts *f)
{
#define FREE(a) free(f->a);
    ARRAYS(FREE)
#undef FREE
    free(f->ev);
    free(f->pend);
    free(f->index);
    free(f->spill_keys);
    free(f->spill_vals);
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

void score_facts_trim(struct score_facts *f, uint32_t n)
{
    if (n >= f->cap || n == 0)
        return;
#define SHRINK(a) f->a = xrealloc(f->a, (size_t)n * sizeof *f->a);
    ARRAYS(SHRINK)
#undef SHRINK
    f->cap = n;
}

/* ---- counts: 16 bits each, the few larger ones spilled ----
 * A count of 65535 or more is kept whole in the spill, keyed by which
 * count and node, and the array holds SPILL: a count of records is as
 * exact as with 32 bits, in half the bytes (the counts of the 41
 * audiences' nodes were most of the facts read from 1M records). */

#define SPILL UINT16_MAX

static uint64_t spill_key(size_t which, uint32_t v)
{
    return ((uint64_t)which << 32 | v) + 1; /* 0: empty */
}

static size_t spill_slot(const struct score_facts *f, uint64_t key)
{
    size_t j = (size_t)(key * 0x9e3779b97f4a7c15ull >> 20) & (f->spillcap - 1);
    while (f->spill_keys[j] && f->spill_keys[j] != key)
        j = (j + 1) & (f->spillcap - 1);
    return j;
}

/* The whole count of a spilled one, added (0) when new. */
static uint32_t *spilled(struct score_facts *f, uint64_t key)
{
    if ((f->nspilled + 1) * 2 > f->spillcap) {
        size_t ocap = f->spillcap;
        uint64_t *okeys = f->spill_keys;
        uint32_t *ovals = f->spill_vals;
        f->spillcap = ocap ? ocap * 2 : 16;
        f->spill_keys = xcalloc(f->spillcap, sizeof *f->spill_keys);
        f->spill_vals = xcalloc(f->spillcap, sizeof *f->spill_vals);
        for (size_t i = 0; i < ocap; i++)
            if (okeys[i]) {
                size_t j = spill_slot(f, okeys[i]);
                f->spill_keys[j] = okeys[i];
                f->spill_vals[j] = ovals[i];
            }
        free(okeys);
        free(ovals);
    }
    size_t j = spill_slot(f, key);
    if (!f->spill_keys[j]) {
        f->spill_keys[j] = key;
        f->spill_vals[j] = 0;
        f->nspilled++;
    }
    return &f->spill_vals[j];
}

static void bump(struct score_facts *f, uint16_t *a, size_t which, uint32_t v, uint32_t by)
{
    if (!by)
        return;
    if (a[v] != SPILL && (uint32_t)a[v] + by < SPILL) {
        a[v] = (uint16_t)(a[v] + by);
        return;
    }
    uint32_t *whole = spilled(f, spill_key(which, v));
    if (a[v] != SPILL) {
        *whole = a[v];
        a[v] = SPILL;
    }
    *whole += by;
}

uint32_t score_facts_count(const struct score_facts *f, size_t which, uint32_t v)
{
    const uint16_t *a = *(uint16_t *const *)((const char *)f + which);
    if (a[v] != SPILL)
        return a[v];
    return f->spill_vals[spill_slot(f, spill_key(which, v))];
}

/* which: the count's place in struct score_facts, as a key */
#define WHICH(a) offsetof(struct score_facts, a)
#define BUMP(f, a, v, by) bump(f, (f)->a, WHICH(a), v, by)
#define COUNT(f, a, v) SCORE_COUNT(f, a, v)

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
    BUMP(f, records, author, 1);
    if (at_ms > f->last_in[author])
        f->last_in[author] = at_ms;
    if (rec->kind == SCORE_K_CLICK)
        BUMP(f, clicks, author, 1);
    if (rec->kind == SCORE_K_SIGNUP) {
        BUMP(f, signups, author, 1);
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
        BUMP(f, rated, author, 1);
        pos = rec->positive;
        neg = rec->negative;
        BUMP(f, positive, author, (uint32_t)pos);
        BUMP(f, negative, author, (uint32_t)neg);
        BUMP(f, complaints, author, rec->complaint);
        neg |= rec->complaint;
    }
    /* An answer to another customer: a reply to their record, or a peer
     * message to them. */
    /* Another customer answering, reacting to or sharing a complaint
     * carries it further. */
    if (rec->reply && answered != UINT32_MAX && answered != author) {
        struct score_pending *q = index_get(f, rec->reply);
        if (q && q->node == answered)
            BUMP(f, echoes, answered, 1);
    }
    uint32_t other = answered != UINT32_MAX && answered != SCORE_FACTS_BRAND ? answered : peer;
    /* Words, not a like or a share: a reply helps. */
    int says = rec->kind == SCORE_K_COMMENT || rec->kind == SCORE_K_MESSAGE ||
               rec->kind == SCORE_K_POST || rec->kind == SCORE_K_MENTION;
    if (says && other != UINT32_MAX && other != SCORE_FACTS_BRAND && other != author && !neg)
        BUMP(f, helpful, author, 1);
    else if (pos)
        BUMP(f, praise, author, 1);
    if (!neg)
        return;
    BUMP(f, unhappy, author, 1);
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

/* x's order as an unsigned integer's: the sign bit flipped for a positive
 * real, every bit for a negative one; -0 as 0 (qv_cmp finds them equal). */
static uint64_t order_key(double x)
{
    if (x == 0)
        x = 0;
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u >> 63 ? ~u : u | 1ULL << 63;
}

struct qk {
    uint64_t k;
    size_t i;
};

/* s sorted by k (a byte at a time from the lowest, tmp as room; a byte
 * every key shares is skipped): s, or tmp when the last pass left it
 * there. */
static struct qk *radix(struct qk *s, struct qk *tmp, size_t n)
{
    for (int sh = 0; sh < 64; sh += 8) {
        size_t cnt[256] = {0};
        for (size_t i = 0; i < n; i++)
            cnt[s[i].k >> sh & 0xff]++;
        if (cnt[s[0].k >> sh & 0xff] == n)
            continue;
        size_t at = 0;
        for (int b = 0; b < 256; b++) {
            size_t c = cnt[b];
            cnt[b] = at;
            at += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[cnt[s[i].k >> sh & 0xff]++] = s[i];
        struct qk *t = s;
        s = tmp;
        tmp = t;
    }
    return s;
}

/* A quintile depends on how many values are below: any sort by value
 * gives the same ones.  Radix-sorted by order_key (qsort with qv_cmp was
 * most of score_facts_finish, three sorts per audience); with a NaN (no
 * order: qv_cmp finds it equal to all) qsort as before. */
void score_quintiles(const double *x, size_t n, uint8_t *q)
{
    int nan = 0;
    for (size_t i = 0; i < n && !nan; i++)
        nan = x[i] != x[i];
    if (n && !nan) {
        struct qk *s = xmalloc(2 * n * sizeof *s), *r;
        for (size_t i = 0; i < n; i++)
            s[i] = (struct qk){order_key(x[i]), i};
        r = radix(s, s + n, n);
        size_t below = 0;
        for (size_t i = 0; i < n; i++) {
            if (i && r[i].k != r[i - 1].k)
                below = i;
            q[r[i].i] = (uint8_t)(1 + (5 * below) / n);
        }
        free(s);
        return;
    }
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
        x[i] = COUNT(f, records, i + 1);
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
    put_int(o, "records", COUNT(f, records, v));
    put_int(o, "events", r->events[v]);
    put_int(o, "signups", COUNT(f, signups, v));
    put_int(o, "clicks", COUNT(f, clicks, v));
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
    return COUNT(f, rated, v) ? (double)COUNT(f, unhappy, v) / COUNT(f, rated, v) : 0.0;
}

json_t *score_advocacy_json(const struct score_facts *f, const struct score_params *p, uint32_t v)
{
    double share = negative_share(f, v);
    uint32_t good = COUNT(f, praise, v) + COUNT(f, helpful, v);
    int advocate = good >= p->advocate_min && share * 100 <= (double)p->advocate_max_negative;
    json_t *o = json_object();
    put_real(o, "score", good * (1 - share));
    json_object_set_new_nocheck(o, "advocate", json_boolean(advocate));
    put_int(o, "positive_mentions", COUNT(f, praise, v));
    put_int(o, "helpful_replies", COUNT(f, helpful, v));
    put_real(o, "negative_share", share);
    put_int(o, "positive", COUNT(f, positive, v));
    put_int(o, "negative", COUNT(f, negative, v));
    put_int(o, "complaints", COUNT(f, complaints, v));
    put_int(o, "rated", COUNT(f, rated, v));
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
    put_int(o, "unhappy", COUNT(f, unhappy, v));
    put_int(o, "echoes", COUNT(f, echoes, v));
    return o;
}

const char *score_position(const struct score_facts *f, const struct score_params *p, uint32_t v,
                           double influence)
{
    if (COUNT(f, unhappy, v) >= p->critic_min && COUNT(f, unhappy, v) > 0 &&
        negative_share(f, v) * 100 >= (double)p->critic_share)
        return "critic";
    if (COUNT(f, unhappy, v) > 0 && COUNT(f, echoes, v) >= p->critic_echoes) /* others repeat it */
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
