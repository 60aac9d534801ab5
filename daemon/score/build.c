/* SPDX-License-Identifier: Apache-2.0 */
/* The audience graph's builder (build.h). */
#include "build.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* ---- string (with NULs, by length) -> uint32, open addressing ---- */

struct score_map {
    char **keys;
    size_t *lens;
    uint32_t *vals;
    size_t n, cap; /* cap a power of two */
};

static uint64_t hash(const char *k, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)k[i]) * 1099511628211ull;
    return h;
}

static size_t map_slot(const struct score_map *m, const char *k, size_t len)
{
    size_t i = hash(k, len) & (m->cap - 1);
    while (m->keys[i] && !(m->lens[i] == len && memcmp(m->keys[i], k, len) == 0))
        i = (i + 1) & (m->cap - 1);
    return i;
}

static struct score_map *map_new(void)
{
    struct score_map *m = xcalloc(1, sizeof *m);
    m->cap = 64;
    m->keys = xcalloc(m->cap, sizeof *m->keys);
    m->lens = xcalloc(m->cap, sizeof *m->lens);
    m->vals = xcalloc(m->cap, sizeof *m->vals);
    return m;
}

static void map_free(struct score_map *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++)
        free(m->keys[i]);
    free(m->keys);
    free(m->lens);
    free(m->vals);
    free(m);
}

/* 1 with *val when k is in m. */
static int map_get(const struct score_map *m, const char *k, size_t len, uint32_t *val)
{
    size_t i = map_slot(m, k, len);
    if (!m->keys[i])
        return 0;
    *val = m->vals[i];
    return 1;
}

static void map_put(struct score_map *m, const char *k, size_t len, uint32_t val)
{
    if ((m->n + 1) * 4 > m->cap * 3) { /* keep it at most 3/4 full */
        struct score_map old = *m;
        m->cap *= 2;
        m->n = 0;
        m->keys = xcalloc(m->cap, sizeof *m->keys);
        m->lens = xcalloc(m->cap, sizeof *m->lens);
        m->vals = xcalloc(m->cap, sizeof *m->vals);
        for (size_t i = 0; i < old.cap; i++)
            if (old.keys[i]) {
                size_t j = map_slot(m, old.keys[i], old.lens[i]);
                m->keys[j] = old.keys[i];
                m->lens[j] = old.lens[i];
                m->vals[j] = old.vals[i];
                m->n++;
            }
        free(old.keys);
        free(old.lens);
        free(old.vals);
    }
    size_t i = map_slot(m, k, len);
    if (!m->keys[i]) {
        m->keys[i] = xmalloc(len ? len : 1);
        memcpy(m->keys[i], k, len);
        m->lens[i] = len;
        m->n++;
    }
    m->vals[i] = val;
}

/* ---- 64-bit digest -> uint32, open addressing ----
 * The authors of every record fed, one entry per record and audience: a
 * store of 3M records makes millions.  Keyed by a digest of source and
 * external_id, not the text, so an entry is 12 bytes and no allocation (two
 * records' digests agree with a chance of about n^2 / 2^65: 2e-7 for three
 * million records, which would misdirect one reply's edge). */

struct score_digests {
    uint64_t *keys; /* 0: empty */
    uint32_t *vals;
    size_t n, cap;
};

static uint64_t digest(const char *source, const char *xid)
{
    uint64_t h = hash(source, strlen(source) + 1) ^ 0x5bd1e9955bd1e995ull;
    for (const char *p = xid; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    /* Mix the bits down: the slot is taken from the low ones. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h ? h : 1;
}

static size_t digest_slot(const struct score_digests *d, uint64_t k)
{
    size_t i = (size_t)k & (d->cap - 1);
    while (d->keys[i] && d->keys[i] != k)
        i = (i + 1) & (d->cap - 1);
    return i;
}

static struct score_digests *digests_new(void)
{
    struct score_digests *d = xcalloc(1, sizeof *d);
    d->cap = 64;
    d->keys = xcalloc(d->cap, sizeof *d->keys);
    d->vals = xcalloc(d->cap, sizeof *d->vals);
    return d;
}

static void digests_free(struct score_digests *d)
{
    if (!d)
        return;
    free(d->keys);
    free(d->vals);
    free(d);
}

static void digests_put(struct score_digests *d, uint64_t k, uint32_t v)
{
    if ((d->n + 1) * 4 > d->cap * 3) {
        struct score_digests old = *d;
        d->cap *= 2;
        d->keys = xcalloc(d->cap, sizeof *d->keys);
        d->vals = xcalloc(d->cap, sizeof *d->vals);
        for (size_t i = 0; i < old.cap; i++)
            if (old.keys[i]) {
                size_t j = digest_slot(d, old.keys[i]);
                d->keys[j] = old.keys[i];
                d->vals[j] = old.vals[i];
            }
        free(old.keys);
        free(old.vals);
    }
    size_t i = digest_slot(d, k);
    if (!d->keys[i]) {
        d->keys[i] = k;
        d->n++;
    }
    d->vals[i] = v;
}

static int digests_get(const struct score_digests *d, uint64_t k, uint32_t *v)
{
    size_t i = digest_slot(d, k);
    if (!d->keys[i])
        return 0;
    *v = d->vals[i];
    return 1;
}

/* ---- the builder ---- */

_Static_assert(SCORE_BRAND == SCORE_FACTS_BRAND, "value.c numbers the brand as the builder does");

double score_decay(int64_t age_ms, int64_t half_life_ms)
{
    if (half_life_ms <= 0 || age_ms <= 0)
        return 1.0;
    return exp2(-(double)age_ms / (double)half_life_ms);
}

void score_build_init(struct score_build *b, int64_t now_ms, int64_t half_life_ms,
                      const struct score_resolver *res)
{
    *b = (struct score_build){.now_ms = now_ms, .half_life_ms = half_life_ms, .res = *res};
    b->nodes_by_id = map_new();
    b->authors = digests_new();
    b->cap = 64;
    b->ids = xmalloc(b->cap * sizeof *b->ids);
    b->member = xcalloc(b->cap, sizeof *b->member);
    b->ids[0] = xstrdup("brand");
    b->nnodes = 1;
    score_facts_init(&b->facts);
    score_params_default(&b->params);
}

void score_build_free(struct score_build *b)
{
    for (uint32_t i = 0; i < b->nnodes; i++)
        free(b->ids[i]);
    free(b->ids);
    free(b->member);
    score_edges_free(&b->edges);
    map_free(b->nodes_by_id);
    digests_free(b->authors);
    score_facts_free(&b->facts);
    *b = (struct score_build){0};
}

void score_build_trim(struct score_build *b)
{
    digests_free(b->authors);
    map_free(b->nodes_by_id);
    b->authors = NULL;
    b->nodes_by_id = NULL;
    /* The edge arrays grew by doubling: give back what is unused. */
    if (b->edges.n && b->edges.n < b->edges.cap) {
        b->edges.src = xrealloc(b->edges.src, b->edges.n * sizeof *b->edges.src);
        b->edges.dst = xrealloc(b->edges.dst, b->edges.n * sizeof *b->edges.dst);
        b->edges.w = xrealloc(b->edges.w, b->edges.n * sizeof *b->edges.w);
        b->edges.cap = b->edges.n;
    }
}

/* The node of a contact id (its current contact), added when new;
 * UINT32_MAX when the contact is unknown or erased. */
static uint32_t node_of_contact(struct score_build *b, const char *cid)
{
    const char *cur = cid && b->res.current ? b->res.current(b->res.arg, cid) : cid;
    if (!cur || !*cur)
        return UINT32_MAX;
    uint32_t v;
    size_t len = strlen(cur);
    if (map_get(b->nodes_by_id, cur, len, &v))
        return v;
    if (b->nnodes == b->cap) {
        b->cap *= 2;
        b->ids = xrealloc(b->ids, b->cap * sizeof *b->ids);
        b->member = xrealloc(b->member, b->cap * sizeof *b->member);
    }
    v = b->nnodes++;
    b->ids[v] = xstrdup(cur);
    b->member[v] = 0;
    map_put(b->nodes_by_id, cur, len, v);
    return v;
}

static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* A party's node: the brand for a brand party, else its handle's
 * contact. */
static uint32_t node_of_party(struct score_build *b, json_t *party)
{
    const char *role = str(party, "role");
    if (role && strcmp(role, "brand") == 0)
        return SCORE_BRAND;
    const char *h = str(party, "handle");
    if (!h || strncmp(h, "erased:", 7) == 0 || !b->res.of_handle)
        return UINT32_MAX;
    return node_of_contact(b, b->res.of_handle(b->res.arg, h));
}

static void edge(struct score_build *b, uint32_t from, uint32_t to, double w)
{
    if (from != UINT32_MAX && to != UINT32_MAX && from != to)
        score_edges_add(&b->edges, from, to, w);
}

/* The node a contact id has in this audience, without adding one;
 * UINT32_MAX when it has none. */
static uint32_t find_contact(struct score_build *b, const char *cid)
{
    const char *cur = cid && b->res.current ? b->res.current(b->res.arg, cid) : cid;
    uint32_t v;
    if (!cur || !*cur || !map_get(b->nodes_by_id, cur, strlen(cur), &v))
        return UINT32_MAX;
    return v;
}

/* The customer a brand's record went to: its contact, else the first
 * party addressed whose contact has a node. */
static uint32_t recipient(struct score_build *b, json_t *rec)
{
    if (str(rec, "contact"))
        return find_contact(b, str(rec, "contact"));
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(rec, "to"), i, p)
    {
        const char *h = str(p, "handle");
        const char *role = str(p, "role");
        if (!h || (role && !strcmp(role, "brand")) || !b->res.of_handle)
            continue;
        uint32_t v = find_contact(b, b->res.of_handle(b->res.arg, h));
        if (v != UINT32_MAX)
            return v;
    }
    return UINT32_MAX;
}

int score_build_by_brand(json_t *rec)
{
    const char *dir = str(rec, "direction"), *role = str(json_object_get(rec, "from"), "role");
    return (dir && strcmp(dir, "outbound") == 0) || (role && strcmp(role, "brand") == 0);
}

void score_build_note(struct score_build *b, json_t *rec)
{
    json_t *meta = json_object_get(rec, "meta");
    if (!json_is_object(rec) || !str(rec, "kind") || json_is_true(json_object_get(meta, "erased")))
        return;
    /* Before any complaint there is nothing to answer: no need to find
     * the recipient (a look-up in the store). */
    if (score_build_by_brand(rec))
        score_facts_answer(&b->facts, rec, b->facts.npend ? recipient(b, rec) : UINT32_MAX);
}

int score_build_add(struct score_build *b, json_t *rec)
{
    const char *kind = str(rec, "kind");
    if (!json_is_object(rec) || !kind)
        return -EINVAL;
    json_t *meta = json_object_get(rec, "meta");
    if (json_is_true(json_object_get(meta, "erased"))) {
        b->erased++;
        return 0;
    }
    if (json_is_true(json_object_get(meta, "suspected_bot"))) {
        b->bots++;
        return 0;
    }
    b->records++;
    json_t *from = json_object_get(rec, "from");
    const char *dir = str(rec, "direction");
    uint32_t author;
    if (score_build_by_brand(rec))
        author = SCORE_BRAND;
    else if (str(rec, "contact")) /* who acted, when a customer did */
        author = node_of_contact(b, str(rec, "contact"));
    else /* identity = no: from's handle, if the resolver knows it */
        author = from ? node_of_party(b, from) : UINT32_MAX;
    if (author == UINT32_MAX) {
        b->unknown_authors++;
        return 0;
    }
    b->member[author] = 1;

    const char *source = str(rec, "source"), *xid = str(rec, "external_id");
    if (source && xid)
        digests_put(b->authors, digest(source, xid), author);

    int64_t at = b->now_ms;
    const char *occurred = str(rec, "occurred_at");
    if (occurred && util_parse_time(occurred, &at) != 0)
        at = b->now_ms;
    double w = score_decay(b->now_ms - at, b->half_life_ms);

    const char *reply_to = str(rec, "reply_to");
    int answered = 0;
    uint32_t target = UINT32_MAX, peer = UINT32_MAX;
    if (reply_to && source && strcmp(kind, "delivery") != 0 && strcmp(kind, "read") != 0 &&
        strcmp(kind, "bounce") != 0) {
        if (digests_get(b->authors, digest(source, reply_to), &target)) {
            edge(b, author, target, w);
            answered = 1;
        } else {
            b->unresolved_replies++;
        }
    }
    int addressed = !strcmp(kind, "message") || !strcmp(kind, "comment") || !strcmp(kind, "post") ||
                    !strcmp(kind, "mention") || !strcmp(kind, "reaction") || !strcmp(kind, "share");
    size_t i;
    json_t *p;
    if (addressed && !answered)
        json_array_foreach(json_object_get(rec, "to"), i, p)
        {
            uint32_t to = node_of_party(b, p);
            edge(b, author, to, w);
            if (peer == UINT32_MAX && to != UINT32_MAX && to != SCORE_BRAND && dir &&
                strcmp(dir, "peer") == 0)
                peer = to;
        }
    json_array_foreach(json_object_get(rec, "mentions"), i, p)
        edge(b, author, node_of_party(b, p), w);
    score_facts_grow(&b->facts, b->nnodes);
    if (author == SCORE_BRAND) {
        /* A reply goes to the author of what it answers, when the record
         * names no customer itself. */
        uint32_t to = b->facts.npend ? recipient(b, rec) : UINT32_MAX;
        score_facts_answer(&b->facts, rec, to != UINT32_MAX ? to : target);
    } else {
        score_facts_add(&b->facts, rec, author, target, peer, at);
    }
    return 0;
}
