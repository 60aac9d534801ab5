/* SPDX-License-Identifier: Apache-2.0 */
/* A record's fields before its people (pre.h): read from the parsed
 * record or scanned from its text, both into the same raw strings, then
 * made into the answer by one function. */
#include "pre.h"

#include <stdlib.h>
#include <string.h>

#include "jsonin.h"
#include "score_rec.h"
#include "util.h"

/* ---- the pool ---- */

struct pool_block {
    struct pool_block *next;
};

#define POOL_BLOCK ((size_t)64 << 10)

void *score_pool_alloc(struct score_pool *pool, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if ((size_t)(pool->end - pool->p) < n) {
        size_t size = sizeof(struct pool_block) + 16 + (n > POOL_BLOCK ? n : POOL_BLOCK);
        struct pool_block *b = xmalloc(size);
        b->next = pool->blocks;
        pool->blocks = b;
        pool->p = (char *)b + ((sizeof *b + 15) & ~(size_t)15);
        pool->end = (char *)b + size;
    }
    void *r = pool->p;
    pool->p += n;
    return r;
}

void score_pool_reset(struct score_pool *pool)
{
    struct pool_block *b = pool->blocks;
    /* The oldest block (the last in the list) is kept. */
    while (b && b->next) {
        struct pool_block *next = b->next;
        free(b);
        b = next;
    }
    pool->blocks = b;
    pool->p = pool->end = NULL;
    if (b) {
        pool->p = (char *)b + ((sizeof *b + 15) & ~(size_t)15);
        pool->end = (char *)b + sizeof(struct pool_block) + 16 + POOL_BLOCK;
    }
}

void score_pool_free(struct score_pool *pool)
{
    for (struct pool_block *b = pool->blocks, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    *pool = (struct score_pool){0};
}

/* ---- the raw fields, and the answer made of them ---- */

/* The top object's string fields. */
enum {
    F_KIND,
    F_SOURCE,
    F_CHANNEL,
    F_CAMPAIGN,
    F_CONTACT,
    F_OCCURRED_AT,
    F_DIRECTION,
    F_EXTERNAL_ID,
    F_REPLY_TO,
    F_TOP
};

static const char *const top_key[F_TOP] = {"kind",      "source",      "channel",
                                           "campaign",  "contact",     "occurred_at",
                                           "direction", "external_id", "reply_to"};

/* As json_string_value(json_object_get()) reads them from the record. */
struct raw {
    int object; /* the top value is an object */
    const char *f[F_TOP];
    const char *event_id;     /* event.id */
    int erased, bot;          /* meta.erased, meta.suspected_bot are true */
    int sentiment;            /* annotations.sentiment is an object */
    const char *label;        /* annotations.sentiment.label */
    int complaint;            /* annotations.sentiment.complaint is true */
    int has_from, from_brand; /* "from" given; its role is "brand" */
    const char *from_handle;  /* from.handle */
    struct score_pre_party *to, *mentions;
    size_t nto, nment;
};

uint64_t score_pre_digest(const char *source, const char *xid)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a of source and its NUL */
    for (const char *p = source;; p++) {
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
        if (!*p)
            break;
    }
    h ^= 0x5bd1e9955bd1e995ull;
    for (const char *p = xid; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    /* Mix the bits down: the slot is taken from the low ones. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h ? h : 1;
}

static uint8_t kind_of(const char *k)
{
    static const struct {
        const char *name;
        uint8_t kind;
    } kinds[] = {
        {"message", SCORE_K_MESSAGE},  {"comment", SCORE_K_COMMENT},   {"post", SCORE_K_POST},
        {"mention", SCORE_K_MENTION},  {"reaction", SCORE_K_REACTION}, {"share", SCORE_K_SHARE},
        {"click", SCORE_K_CLICK},      {"signup", SCORE_K_SIGNUP},     {"checkin", SCORE_K_SIGNUP},
        {"delivery", SCORE_K_RECEIPT}, {"read", SCORE_K_RECEIPT},      {"bounce", SCORE_K_RECEIPT}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(k, kinds[i].name) == 0)
            return kinds[i].kind;
    return SCORE_K_OTHER;
}

static int is(const char *s, const char *want)
{
    return s && strcmp(s, want) == 0;
}

static void finish(struct score_pre *pre, const struct raw *r)
{
    *pre = (struct score_pre){0};
    const char *kind = r->f[F_KIND];
    if (!r->object || !kind)
        return;
    pre->ok = 1;
    pre->kind_name = kind;
    pre->kind = kind_of(kind);
    pre->source = r->f[F_SOURCE];
    pre->channel = r->f[F_CHANNEL];
    pre->campaign = r->f[F_CAMPAIGN];
    pre->event_id = r->event_id;
    pre->erased = r->erased != 0;
    pre->bot = r->bot != 0;
    const char *occurred = r->f[F_OCCURRED_AT];
    pre->has_at = occurred && util_parse_time(occurred, &pre->at) == 0;
    pre->cid = r->f[F_CONTACT];
    if (pre->erased)
        return;
    /* score_build_by_brand: outbound, or from the brand. */
    pre->by_brand = is(r->f[F_DIRECTION], "outbound") || r->from_brand;
    pre->peer_dir = is(r->f[F_DIRECTION], "peer");
    const char *xid = r->f[F_EXTERNAL_ID], *reply_to = r->f[F_REPLY_TO];
    if (pre->source && xid)
        pre->self = score_pre_digest(pre->source, xid);
    if (pre->source && reply_to)
        pre->reply = score_pre_digest(pre->source, reply_to);
    if (pre->event_id)
        pre->event = score_pre_digest("", pre->event_id);
    if (r->sentiment) {
        pre->rated = 1;
        pre->positive = is(r->label, "positive");
        pre->negative = is(r->label, "negative");
        pre->complaint = r->complaint != 0;
    }
    pre->has_from = r->has_from != 0;
    pre->from_brand = r->from_brand != 0;
    pre->from_handle = r->from_handle;
    pre->to = r->to;
    pre->nto = r->nto;
    pre->mentions = r->mentions;
    pre->nment = r->nment;
}

/* ---- from the parsed record ---- */

static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static struct score_pre_party *parties(json_t *a, size_t *n, struct score_pool *pool)
{
    *n = json_array_size(a);
    if (!*n)
        return NULL;
    struct score_pre_party *p = score_pool_alloc(pool, *n * sizeof *p);
    for (size_t i = 0; i < *n; i++) {
        json_t *x = json_array_get(a, i);
        p[i] = (struct score_pre_party){str(x, "handle"), is(str(x, "role"), "brand")};
    }
    return p;
}

void score_pre_read(struct score_pre *pre, json_t *rec, struct score_pool *pool)
{
    struct raw r = {.object = json_is_object(rec)};
    for (int i = 0; i < F_TOP; i++)
        r.f[i] = str(rec, top_key[i]);
    r.event_id = str(json_object_get(rec, "event"), "id");
    json_t *meta = json_object_get(rec, "meta");
    r.erased = json_is_true(json_object_get(meta, "erased"));
    r.bot = json_is_true(json_object_get(meta, "suspected_bot"));
    json_t *s = json_object_get(json_object_get(rec, "annotations"), "sentiment");
    if ((r.sentiment = json_is_object(s))) {
        r.label = str(s, "label");
        r.complaint = json_is_true(json_object_get(s, "complaint"));
    }
    json_t *from = json_object_get(rec, "from");
    r.has_from = from != NULL;
    r.from_brand = is(str(from, "role"), "brand");
    r.from_handle = str(from, "handle");
    r.to = parties(json_object_get(rec, "to"), &r.nto, pool);
    r.mentions = parties(json_object_get(rec, "mentions"), &r.nment, pool);
    finish(pre, &r);
}

/* ---- from the text ---- */

/* What the members of a container at some depth are. */
enum {
    G_NONE,
    G_TOP,       /* the record */
    G_EVENT,     /* event */
    G_META,      /* meta */
    G_ANN,       /* annotations */
    G_SENTIMENT, /* annotations.sentiment */
    G_FROM,      /* from */
    G_TO,        /* to: its elements are parties */
    G_MENTIONS,
    G_PARTY /* an element of to or mentions */
};

/* Parties as the scan meets them (a repeated "to" starts them anew). */
struct party_list {
    struct score_pre_party *v, small[16];
    size_t n, cap;
};

struct scanning {
    struct raw r;
    struct score_pool *pool;
    int grp[4];                  /* grp[d]: what the values at depth d are members of */
    struct party_list lists[2];  /* to, mentions */
    struct party_list *party_in; /* the list of the party being read */
};

static int key_is(const struct jsonin_item *it, const char *k)
{
    return it->key && strlen(k) == it->klen && memcmp(it->key, k, it->klen) == 0;
}

/* A string value kept (NUL-ended in the pool), or NULL when not a string. */
static const char *keep(struct scanning *sc, const struct jsonin_item *it)
{
    if (it->type != JSONIN_STRING)
        return NULL;
    char *s = score_pool_alloc(sc->pool, it->len + 1);
    memcpy(s, it->str, it->len);
    s[it->len] = '\0';
    return s;
}

static struct score_pre_party *party_new(struct party_list *l)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : sizeof l->small / sizeof l->small[0];
        if (l->v == l->small) {
            struct score_pre_party *v = xmalloc(cap * sizeof *v);
            if (l->n)
                memcpy(v, l->v, l->n * sizeof *v);
            l->v = v;
        } else {
            l->v = xrealloc(l->v, cap * sizeof *l->v);
        }
        l->cap = cap;
    }
    l->v[l->n] = (struct score_pre_party){0};
    return &l->v[l->n++];
}

/* One member of the record (depth 1). */
static int top_member(struct scanning *sc, const struct jsonin_item *it)
{
    struct raw *r = &sc->r;
    for (int i = 0; i < F_TOP; i++)
        if (key_is(it, top_key[i])) {
            r->f[i] = keep(sc, it);
            return G_NONE;
        }
    int obj = it->type == JSONIN_OBJECT, arr = it->type == JSONIN_ARRAY;
    if (key_is(it, "event")) {
        r->event_id = NULL;
        return obj ? G_EVENT : G_NONE;
    }
    if (key_is(it, "meta")) {
        r->erased = r->bot = 0;
        return obj ? G_META : G_NONE;
    }
    if (key_is(it, "annotations")) {
        r->sentiment = r->complaint = 0;
        r->label = NULL;
        return obj ? G_ANN : G_NONE;
    }
    if (key_is(it, "from")) {
        r->has_from = 1;
        r->from_brand = 0;
        r->from_handle = NULL;
        return obj ? G_FROM : G_NONE;
    }
    for (int l = 0; l < 2; l++)
        if (key_is(it, l ? "mentions" : "to")) {
            sc->lists[l].n = 0;
            return arr ? (l ? G_MENTIONS : G_TO) : G_NONE;
        }
    return G_NONE;
}

static void scan_item(void *arg, const struct jsonin_item *it)
{
    struct scanning *sc = arg;
    struct raw *r = &sc->r;
    if (it->depth >= 4)
        return;
    int in = it->depth ? sc->grp[it->depth] : G_NONE, next = G_NONE;
    if (it->depth == 0) {
        r->object = it->type == JSONIN_OBJECT;
        next = r->object ? G_TOP : G_NONE;
    } else if (in == G_TOP) {
        next = top_member(sc, it);
    } else if (in == G_EVENT) {
        if (key_is(it, "id"))
            r->event_id = keep(sc, it);
    } else if (in == G_META) {
        if (key_is(it, "erased"))
            r->erased = it->type == JSONIN_TRUE;
        else if (key_is(it, "suspected_bot"))
            r->bot = it->type == JSONIN_TRUE;
    } else if (in == G_ANN) {
        if (key_is(it, "sentiment")) {
            r->sentiment = it->type == JSONIN_OBJECT;
            r->label = NULL;
            r->complaint = 0;
            next = r->sentiment ? G_SENTIMENT : G_NONE;
        }
    } else if (in == G_SENTIMENT) {
        if (key_is(it, "label"))
            r->label = keep(sc, it);
        else if (key_is(it, "complaint"))
            r->complaint = it->type == JSONIN_TRUE;
    } else if (in == G_FROM) {
        if (key_is(it, "handle"))
            r->from_handle = keep(sc, it);
        else if (key_is(it, "role"))
            r->from_brand =
                it->type == JSONIN_STRING && it->len == 5 && memcmp(it->str, "brand", 5) == 0;
    } else if (in == G_TO || in == G_MENTIONS) {
        sc->party_in = &sc->lists[in == G_MENTIONS];
        party_new(sc->party_in);
        next = it->type == JSONIN_OBJECT ? G_PARTY : G_NONE;
    } else if (in == G_PARTY) {
        struct score_pre_party *p = &sc->party_in->v[sc->party_in->n - 1];
        if (key_is(it, "handle"))
            p->handle = keep(sc, it);
        else if (key_is(it, "role"))
            p->brand =
                it->type == JSONIN_STRING && it->len == 5 && memcmp(it->str, "brand", 5) == 0;
    }
    /* What the members of this value (a container) are. */
    if (it->depth + 1 < 4 && (it->type == JSONIN_OBJECT || it->type == JSONIN_ARRAY))
        sc->grp[it->depth + 1] = next;
}

int score_pre_scan(struct score_pre *pre, const char *text, size_t len, struct score_pool *pool)
{
    struct scanning sc = {.pool = pool};
    for (int l = 0; l < 2; l++) {
        sc.lists[l].v = sc.lists[l].small;
        sc.lists[l].cap = sizeof sc.lists[l].small / sizeof sc.lists[l].small[0];
    }
    char err[8];
    int rc = jsonin_scan(text, len, scan_item, &sc, err, sizeof err);
    for (int l = 0; rc == 0 && l < 2; l++) {
        size_t n = sc.lists[l].n;
        struct score_pre_party *v = n ? score_pool_alloc(pool, n * sizeof *v) : NULL;
        if (n)
            memcpy(v, sc.lists[l].v, n * sizeof *v);
        *(l ? &sc.r.mentions : &sc.r.to) = v;
        *(l ? &sc.r.nment : &sc.r.nto) = n;
    }
    for (int l = 0; l < 2; l++)
        if (sc.lists[l].v != sc.lists[l].small)
            free(sc.lists[l].v);
    if (rc)
        return -1;
    finish(pre, &sc.r);
    return 0;
}
