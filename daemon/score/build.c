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
    /* Beside each key its length and the high half of its hash: a probe
     * compares those before reading the key (a cache miss each). */
    uint32_t *lens, *tags;
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

static size_t map_slot(const struct score_map *m, const char *k, size_t len, uint32_t *tag)
{
    uint64_t h = hash(k, len);
    size_t i = h & (m->cap - 1);
    *tag = (uint32_t)(h >> 32);
    while (m->keys[i] &&
           !(m->tags[i] == *tag && m->lens[i] == len && memcmp(m->keys[i], k, len) == 0))
        i = (i + 1) & (m->cap - 1);
    return i;
}

static struct score_map *map_new(void)
{
    struct score_map *m = xcalloc(1, sizeof *m);
    m->cap = 64;
    m->keys = xcalloc(m->cap, sizeof *m->keys);
    m->lens = xcalloc(m->cap, sizeof *m->lens);
    m->tags = xcalloc(m->cap, sizeof *m->tags);
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
    free(m->tags);
    free(m->vals);
    free(m);
}

/* 1 with *val when k is in m. */
static int map_get(const struct score_map *m, const char *k, size_t len, uint32_t *val)
{
    uint32_t tag;
    size_t i = map_slot(m, k, len, &tag);
    if (!m->keys[i])
        return 0;
    *val = m->vals[i];
    return 1;
}

/* Returns the key as m keeps it (NUL-terminated). */
static const char *map_put(struct score_map *m, const char *k, size_t len, uint32_t val)
{
    if ((m->n + 1) * 4 > m->cap * 3) { /* keep it at most 3/4 full */
        struct score_map old = *m;
        m->cap *= 2;
        m->n = 0;
        m->keys = xcalloc(m->cap, sizeof *m->keys);
        m->lens = xcalloc(m->cap, sizeof *m->lens);
        m->tags = xcalloc(m->cap, sizeof *m->tags);
        m->vals = xcalloc(m->cap, sizeof *m->vals);
        for (size_t i = 0; i < old.cap; i++)
            if (old.keys[i]) {
                uint32_t tag;
                size_t j = map_slot(m, old.keys[i], old.lens[i], &tag);
                m->keys[j] = old.keys[i];
                m->lens[j] = old.lens[i];
                m->tags[j] = tag;
                m->vals[j] = old.vals[i];
                m->n++;
            }
        free(old.keys);
        free(old.lens);
        free(old.tags);
        free(old.vals);
    }
    uint32_t tag;
    size_t i = map_slot(m, k, len, &tag);
    if (!m->keys[i]) {
        m->keys[i] = xmalloc(len + 1);
        memcpy(m->keys[i], k, len);
        m->keys[i][len] = 0;
        m->lens[i] = (uint32_t)len;
        m->tags[i] = tag;
        m->n++;
    }
    m->vals[i] = val;
    return m->keys[i];
}

/* ---- pid -> node ----
 * Open addressing (keys stored as pid + 1; 0: empty) while the audience is
 * small: sized by its nodes, not by every contact of the run.  Once it
 * has NODES_DIRECT nodes, an array indexed by pid (UINT32_MAX: none), a
 * third of the hash's bytes and one look-up: the large audiences (all, the
 * busiest sources and channels) meet most records. */
#define NODES_DIRECT 4096

struct score_nodes {
    uint32_t *keys, *vals;
    size_t n, cap;
    uint32_t *direct; /* non-NULL: the array, dlen long */
    size_t dlen;
};

static size_t nodes_slot(const struct score_nodes *m, uint32_t key)
{
    size_t i = (size_t)((key * 0x9e3779b97f4a7c15ull) >> 20) & (m->cap - 1);
    while (m->keys[i] && m->keys[i] != key)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static struct score_nodes *nodes_new(void)
{
    struct score_nodes *m = xcalloc(1, sizeof *m);
    m->cap = 64;
    m->keys = xcalloc(m->cap, sizeof *m->keys);
    m->vals = xcalloc(m->cap, sizeof *m->vals);
    return m;
}

static void nodes_free(struct score_nodes *m)
{
    if (!m)
        return;
    free(m->keys);
    free(m->vals);
    free(m->direct);
    free(m);
}

static int nodes_get(const struct score_nodes *m, uint32_t pid, uint32_t *val)
{
    if (m->direct) {
        if (pid >= m->dlen || m->direct[pid] == UINT32_MAX)
            return 0;
        *val = m->direct[pid];
        return 1;
    }
    size_t i = nodes_slot(m, pid + 1);
    if (!m->keys[i])
        return 0;
    *val = m->vals[i];
    return 1;
}

/* Room in the array for pid. */
static void direct_room(struct score_nodes *m, uint32_t pid)
{
    if (pid < m->dlen)
        return;
    size_t len = m->dlen ? m->dlen : 4096;
    while (len <= pid)
        len *= 2;
    m->direct = xrealloc(m->direct, len * sizeof *m->direct);
    memset(m->direct + m->dlen, 0xff, (len - m->dlen) * sizeof *m->direct);
    m->dlen = len;
}

static void nodes_put(struct score_nodes *m, uint32_t pid, uint32_t val)
{
    if (!m->direct && m->n + 1 >= NODES_DIRECT) {
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i]) {
                direct_room(m, m->keys[i] - 1);
                m->direct[m->keys[i] - 1] = m->vals[i];
            }
        free(m->keys);
        free(m->vals);
        m->keys = m->vals = NULL;
        m->cap = 0;
    }
    if (m->direct) {
        direct_room(m, pid);
        m->n += m->direct[pid] == UINT32_MAX;
        m->direct[pid] = val;
        return;
    }
    if ((m->n + 1) * 2 > m->cap) { /* at most half full */
        struct score_nodes old = *m;
        m->cap *= 2;
        m->keys = xcalloc(m->cap, sizeof *m->keys);
        m->vals = xcalloc(m->cap, sizeof *m->vals);
        for (size_t i = 0; i < old.cap; i++)
            if (old.keys[i]) {
                size_t j = nodes_slot(m, old.keys[i]);
                m->keys[j] = old.keys[i];
                m->vals[j] = old.vals[i];
            }
        free(old.keys);
        free(old.vals);
    }
    size_t i = nodes_slot(m, pid + 1);
    if (!m->keys[i]) {
        m->keys[i] = pid + 1;
        m->n++;
    }
    m->vals[i] = val;
}

/* ---- 64-bit digest -> uint32, open addressing ----
 * The records a reply may answer, one entry per record of the run (not per
 * record and audience: 41 audiences' copies held 128 MB at 1M records): a
 * store of 3M records makes millions.  Keyed by a digest of source and
 * external_id, not the text, so an entry is 12 bytes and no allocation (two
 * records' digests agree with a chance of about n^2 / 2^65: 2e-7 for three
 * million records, which would misdirect one reply's edge). */

struct score_digests {
    uint64_t *keys; /* 0: empty */
    uint32_t *vals;
    size_t n, cap;
};

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

/* ---- the people ---- */

void score_people_init(struct score_people *p, const struct score_resolver *res, int cache)
{
    *p = (struct score_people){.res = *res};
    p->ids = map_new();
    if (cache) {
        p->by_cid = map_new();
        p->by_handle = map_new();
    }
}

/* Forget the records replies may answer (done reading). */
static void people_recs_free(struct score_people *p)
{
    digests_free(p->recs);
    free(p->rec_author);
    free(p->rec_prev);
    p->recs = NULL;
    p->rec_author = p->rec_prev = NULL;
    p->nrecs = p->reccap = 0;
}

void score_people_free(struct score_people *p)
{
    people_recs_free(p);
    map_free(p->ids);
    map_free(p->by_cid);
    map_free(p->by_handle);
    free(p->names);
    free(p->monetary);
    free(p->currency);
    *p = (struct score_people){0};
}

void score_people_done(struct score_people *p)
{
    map_free(p->by_cid);
    map_free(p->by_handle);
    p->by_cid = p->by_handle = NULL;
    people_recs_free(p);
    p->res = (struct score_resolver){0};
}

uint32_t score_people_intern(struct score_people *p, const char *cur)
{
    if (!cur || !*cur)
        return SCORE_PID_NONE;
    size_t len = strlen(cur);
    uint32_t pid;
    if (map_get(p->ids, cur, len, &pid))
        return pid;
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 256;
        p->names = xrealloc(p->names, p->cap * sizeof *p->names);
    }
    pid = p->n++;
    p->names[pid] = map_put(p->ids, cur, len, pid);
    return pid;
}

uint32_t score_people_contact(struct score_people *p, const char *cid)
{
    if (!cid)
        return SCORE_PID_NONE;
    size_t len = strlen(cid);
    uint32_t pid;
    if (p->by_cid && map_get(p->by_cid, cid, len, &pid))
        return pid;
    pid = score_people_intern(p, p->res.current ? p->res.current(p->res.arg, cid) : cid);
    if (p->by_cid)
        map_put(p->by_cid, cid, len, pid);
    return pid;
}

/* The pid of a normalized handle's contact. */
static uint32_t pid_of_handle(struct score_people *p, const char *h)
{
    if (!p->res.of_handle)
        return SCORE_PID_NONE;
    size_t len = strlen(h);
    uint32_t pid;
    if (p->by_handle && map_get(p->by_handle, h, len, &pid))
        return pid;
    const char *cid = p->res.of_handle(p->res.arg, h);
    /* The resolver's answer lasts until its next call: copied first. */
    char buf[128];
    if (cid && strlen(cid) < sizeof buf) {
        strcpy(buf, cid);
        cid = buf;
    }
    pid = score_people_contact(p, cid);
    if (p->by_handle)
        map_put(p->by_handle, h, len, pid);
    return pid;
}

static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* A party: the brand for a brand party, else its handle's contact. */
static uint32_t pid_of_party(struct score_people *p, const struct score_pre_party *party)
{
    if (party->brand)
        return SCORE_PID_BRAND;
    const char *h = party->handle;
    if (!h || strncmp(h, "erased:", 7) == 0)
        return SCORE_PID_NONE;
    return pid_of_handle(p, h);
}

/* ---- a record, read once ---- */

_Static_assert(SCORE_BRAND == SCORE_FACTS_BRAND, "value.c numbers the brand as the builder does");

double score_decay(int64_t age_ms, int64_t half_life_ms)
{
    if (half_life_ms <= 0 || age_ms <= 0)
        return 1.0;
    return exp2(-(double)age_ms / (double)half_life_ms);
}

int score_build_by_brand(json_t *rec)
{
    const char *dir = str(rec, "direction"), *role = str(json_object_get(rec, "from"), "role");
    return (dir && strcmp(dir, "outbound") == 0) || (role && strcmp(role, "brand") == 0);
}

static void rec_room(struct score_rec *r, size_t need)
{
    if (need <= r->cap)
        return;
    size_t cap = r->cap ? r->cap : 8;
    while (cap < need)
        cap *= 2;
    r->party = xrealloc(r->party, cap * sizeof *r->party);
    r->rcpt = xrealloc(r->rcpt, cap * sizeof *r->rcpt);
    r->cap = cap;
}

void score_rec_free(struct score_rec *r)
{
    free(r->party);
    free(r->rcpt);
    *r = (struct score_rec){0};
}

static void answerable(struct score_rec *r, struct score_people *p);

void score_rec_resolve(struct score_rec *r, const struct score_pre *pre, struct score_people *p)
{
    uint32_t *party = r->party, *rcpt = r->rcpt;
    size_t cap = r->cap;
    *r = (struct score_rec){.party = party, .rcpt = rcpt, .cap = cap};
    r->author = r->contact = r->ord = SCORE_PID_NONE;
    if (!pre->ok)
        return;
    r->ok = 1;
    r->kind = pre->kind;
    r->erased = pre->erased;
    r->bot = pre->bot;
    /* An erased record counts for no one and answers no one; only its
     * time and contact may place it around an event (to be counted as
     * erased there). */
    r->has_at = pre->has_at;
    r->at = pre->at;
    r->has_contact = pre->cid != NULL;
    if (pre->cid)
        r->contact = score_people_contact(p, pre->cid);
    if (r->erased)
        return;
    r->by_brand = pre->by_brand;
    r->peer_dir = pre->peer_dir;
    r->self = pre->self;
    r->reply = pre->reply;
    r->event = pre->event;
    r->rated = pre->rated;
    r->positive = pre->positive;
    r->negative = pre->negative;
    r->complaint = pre->complaint;
    /* The people, in the order a builder meets them (its nodes are
     * numbered so): the author, the parties addressed, the mentioned. */
    if (!r->by_brand) {
        if (pre->cid)
            r->author = r->contact;
        else if (pre->has_from)
            r->author =
                pid_of_party(p, &(struct score_pre_party){pre->from_handle, pre->from_brand});
    }
    rec_room(r, pre->nto + pre->nment);
    for (size_t i = 0; i < pre->nto; i++) {
        const struct score_pre_party *x = &pre->to[i];
        r->party[r->nto++] = pid_of_party(p, x);
        /* The brand's answer goes to the first customer addressed. */
        if (x->handle && !x->brand)
            r->rcpt[r->nrcpt++] = r->party[r->nto - 1] != SCORE_PID_NONE
                                      ? r->party[r->nto - 1]
                                      : pid_of_handle(p, x->handle);
    }
    for (size_t i = 0; i < pre->nment; i++)
        r->party[r->nto + r->nment++] = pid_of_party(p, &pre->mentions[i]);
    if (r->self && !r->bot && (r->by_brand || r->author != SCORE_PID_NONE))
        answerable(r, p);
}

void score_rec_read(struct score_rec *r, json_t *rec, struct score_people *p,
                    struct score_pool *pool)
{
    struct score_pre pre;
    score_pool_reset(pool);
    score_pre_read(&pre, rec, pool);
    score_rec_resolve(r, &pre, p);
}

/* Number r among the records a reply may answer: an author's record
 * (the brand's or a known contact's), not a suspected bot's, with a
 * source and external_id.  Whether an audience was fed it is the
 * builder's bit. */
static void answerable(struct score_rec *r, struct score_people *p)
{
    if (!p->recs)
        p->recs = digests_new();
    if (p->nrecs == p->reccap) {
        p->reccap = p->reccap ? p->reccap * 2 : 1024;
        p->rec_author = xrealloc(p->rec_author, p->reccap * sizeof *p->rec_author);
        p->rec_prev = xrealloc(p->rec_prev, p->reccap * sizeof *p->rec_prev);
    }
    uint32_t ord = p->nrecs++, prev;
    p->rec_author[ord] = r->by_brand ? SCORE_PID_BRAND : r->author;
    p->rec_prev[ord] = digests_get(p->recs, r->self, &prev) ? prev : SCORE_PID_NONE;
    digests_put(p->recs, r->self, ord);
    r->ord = ord;
}

/* ---- the builder ---- */

static void build_init(struct score_build *b, int64_t now_ms, int64_t half_life_ms)
{
    b->now_ms = now_ms;
    b->half_life_ms = half_life_ms;
    b->nodes = nodes_new();
    b->cap = 64;
    b->ids = xmalloc(b->cap * sizeof *b->ids);
    b->member = xcalloc(b->cap, sizeof *b->member);
    b->pid = xmalloc(b->cap * sizeof *b->pid);
    b->ids[0] = "brand";
    b->pid[0] = SCORE_PID_BRAND;
    b->nnodes = 1;
    score_facts_init(&b->facts);
    score_params_default(&b->params);
}

void score_build_init(struct score_build *b, int64_t now_ms, int64_t half_life_ms,
                      const struct score_resolver *res)
{
    *b = (struct score_build){.res = *res, .own_people = 1};
    b->people = xcalloc(1, sizeof *b->people);
    score_people_init(b->people, res, 0);
    build_init(b, now_ms, half_life_ms);
}

void score_build_init_people(struct score_build *b, int64_t now_ms, int64_t half_life_ms,
                             struct score_people *people)
{
    *b = (struct score_build){.res = people->res, .people = people};
    build_init(b, now_ms, half_life_ms);
}

void score_build_free(struct score_build *b)
{
    free(b->ids);
    free(b->member);
    free(b->pid);
    score_edges_free(&b->edges);
    if (b->graphed)
        score_graph_free(&b->graph);
    nodes_free(b->nodes);
    free(b->fed);
    score_facts_free(&b->facts);
    score_rec_free(&b->scratch);
    score_pool_free(&b->pool);
    if (b->own_people && b->people) {
        score_people_free(b->people);
        free(b->people);
    }
    *b = (struct score_build){0};
}

int score_build_graph(struct score_build *b)
{
    if (b->graphed)
        return 0;
    int rc = score_graph_build(&b->graph, b->nnodes, &b->edges);
    if (rc)
        return rc;
    b->raw_edges = b->edges.n;
    score_edges_free(&b->edges);
    b->graphed = 1;
    return 0;
}

void score_build_trim(struct score_build *b)
{
    free(b->fed);
    nodes_free(b->nodes);
    score_rec_free(&b->scratch);
    score_pool_free(&b->pool);
    b->fed = NULL;
    b->fedlen = 0;
    b->nodes = NULL;
    /* The node arrays, the facts and the edge arrays grew by doubling:
     * give back what is unused, for each audience waits with them until
     * it is made. */
    if (b->nnodes < b->cap) {
        b->ids = xrealloc(b->ids, b->nnodes * sizeof *b->ids);
        b->member = xrealloc(b->member, b->nnodes * sizeof *b->member);
        b->pid = xrealloc(b->pid, b->nnodes * sizeof *b->pid);
        b->cap = b->nnodes;
    }
    score_facts_trim(&b->facts, b->nnodes);
    if (b->edges.n && b->edges.n < b->edges.cap) {
        b->edges.src = xrealloc(b->edges.src, b->edges.n * sizeof *b->edges.src);
        b->edges.dst = xrealloc(b->edges.dst, b->edges.n * sizeof *b->edges.dst);
        b->edges.w = xrealloc(b->edges.w, b->edges.n * sizeof *b->edges.w);
        b->edges.cap = b->edges.n;
    }
}

/* The node of a pid, added when new; the brand's for PID_BRAND,
 * UINT32_MAX for none. */
static uint32_t node_of(struct score_build *b, uint32_t pid)
{
    if (pid == SCORE_PID_NONE)
        return UINT32_MAX;
    if (pid == SCORE_PID_BRAND)
        return SCORE_BRAND;
    uint32_t v;
    if (nodes_get(b->nodes, pid, &v))
        return v;
    if (b->nnodes == b->cap) {
        b->cap *= 2;
        b->ids = xrealloc(b->ids, b->cap * sizeof *b->ids);
        b->member = xrealloc(b->member, b->cap * sizeof *b->member);
        b->pid = xrealloc(b->pid, b->cap * sizeof *b->pid);
    }
    v = b->nnodes++;
    b->ids[v] = (char *)b->people->names[pid];
    b->member[v] = 0;
    b->pid[v] = pid;
    nodes_put(b->nodes, pid, v);
    return v;
}

/* The node a customer's pid has in this audience, without adding one. */
static uint32_t find_node(struct score_build *b, uint32_t pid)
{
    uint32_t v;
    if (pid == SCORE_PID_NONE || pid == SCORE_PID_BRAND || !nodes_get(b->nodes, pid, &v))
        return UINT32_MAX;
    return v;
}

static void edge(struct score_build *b, uint32_t from, uint32_t to, double w)
{
    if (from != UINT32_MAX && to != UINT32_MAX && from != to)
        score_edges_add(&b->edges, from, to, w);
}

/* The customer a brand's record went to: its contact, else the first
 * party addressed whose contact has a node. */
static uint32_t recipient(struct score_build *b, const struct score_rec *r)
{
    if (r->has_contact)
        return find_node(b, r->contact);
    for (size_t i = 0; i < r->nrcpt; i++) {
        uint32_t v = find_node(b, r->rcpt[i]);
        if (v != UINT32_MAX)
            return v;
    }
    return UINT32_MAX;
}

void score_build_note_rec(struct score_build *b, const struct score_rec *r)
{
    if (!r->ok || r->erased)
        return;
    /* Before any complaint there is nothing to answer: no need to find
     * the recipient. */
    if (r->by_brand)
        score_facts_answer(&b->facts, r, b->facts.npend ? recipient(b, r) : UINT32_MAX);
}

void score_build_note(struct score_build *b, json_t *rec)
{
    if (!score_build_by_brand(rec))
        return;
    score_rec_read(&b->scratch, rec, b->people, &b->pool);
    score_build_note_rec(b, &b->scratch);
}

static void mark_fed(struct score_build *b, uint32_t ord)
{
    size_t w = ord / 64;
    if (w >= b->fedlen) {
        size_t len = b->fedlen ? b->fedlen : 16;
        while (len <= w)
            len *= 2;
        b->fed = xrealloc(b->fed, len * sizeof *b->fed);
        memset(b->fed + b->fedlen, 0, (len - b->fedlen) * sizeof *b->fed);
        b->fedlen = len;
    }
    b->fed[w] |= 1ull << (ord % 64);
}

static int was_fed(const struct score_build *b, uint32_t ord)
{
    return ord / 64 < b->fedlen && (b->fed[ord / 64] >> (ord % 64) & 1);
}

/* The author node of the latest record fed to b whose digest is reply,
 * as an audience of its own would have it. */
static int answered_author(struct score_build *b, uint64_t reply, uint32_t *node)
{
    const struct score_people *p = b->people;
    uint32_t ord;
    if (!p->recs || !digests_get(p->recs, reply, &ord))
        return 0;
    while (ord != SCORE_PID_NONE && !was_fed(b, ord))
        ord = p->rec_prev[ord];
    if (ord == SCORE_PID_NONE)
        return 0;
    uint32_t pid = p->rec_author[ord];
    *node = pid == SCORE_PID_BRAND ? SCORE_BRAND : find_node(b, pid);
    return *node != UINT32_MAX;
}

static int is_addressed(uint8_t k)
{
    return k == SCORE_K_MESSAGE || k == SCORE_K_COMMENT || k == SCORE_K_POST ||
           k == SCORE_K_MENTION || k == SCORE_K_REACTION || k == SCORE_K_SHARE;
}

int score_build_add_rec(struct score_build *b, const struct score_rec *r)
{
    if (!r->ok)
        return -EINVAL;
    if (r->erased) {
        b->erased++;
        return 0;
    }
    if (r->bot) {
        b->bots++;
        return 0;
    }
    b->records++;
    uint32_t author = r->by_brand ? SCORE_BRAND : node_of(b, r->author);
    if (author == UINT32_MAX) {
        b->unknown_authors++;
        return 0;
    }
    b->member[author] = 1;
    if (r->ord != SCORE_PID_NONE)
        mark_fed(b, r->ord);
    int64_t at = r->has_at ? r->at : b->now_ms;
    double w = score_decay(b->now_ms - at, b->half_life_ms);

    int answered = 0;
    uint32_t target = UINT32_MAX, peer = UINT32_MAX;
    if (r->reply && r->kind != SCORE_K_RECEIPT) {
        if (answered_author(b, r->reply, &target)) {
            edge(b, author, target, w);
            answered = 1;
        } else {
            b->unresolved_replies++;
        }
    }
    if (is_addressed(r->kind) && !answered)
        for (size_t i = 0; i < r->nto; i++) {
            uint32_t to = node_of(b, r->party[i]);
            edge(b, author, to, w);
            if (peer == UINT32_MAX && to != UINT32_MAX && to != SCORE_BRAND && r->peer_dir)
                peer = to;
        }
    for (size_t i = 0; i < r->nment; i++)
        edge(b, author, node_of(b, r->party[r->nto + i]), w);
    score_facts_grow(&b->facts, b->nnodes);
    if (author == SCORE_BRAND) {
        /* A reply goes to the author of what it answers, when the record
         * names no customer itself. */
        uint32_t to = b->facts.npend ? recipient(b, r) : UINT32_MAX;
        score_facts_answer(&b->facts, r, to != UINT32_MAX ? to : target);
    } else {
        score_facts_add(&b->facts, r, author, target, peer, at);
    }
    return 0;
}

int score_build_add(struct score_build *b, json_t *rec)
{
    score_rec_read(&b->scratch, rec, b->people, &b->pool);
    return score_build_add_rec(b, &b->scratch);
}
