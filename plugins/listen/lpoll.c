/* SPDX-License-Identifier: Apache-2.0 */
/* The poll: every poll_interval, each feed and page in turn.
 *
 * For one target: its host's robots.txt (read once per robots_ttl; a
 * Disallow'd path is not fetched), the host's rate (one request per
 * 60/rate seconds) and backoff (after a 429 or 5xx: Retry-After, else
 * doubling from poll_interval), then a conditional GET (If-None-Match /
 * If-Modified-Since from the committed state).  A page follows its
 * adapter's next link up to max_pages.  Redirects are followed here, at
 * most five, only to http(s) URLs, each under its own host's robots and
 * rate.  The matching entries are committed together with the target's
 * new ETag and one state entry per entry (its content digest), so a
 * restart reads nothing again, a redelivered entry is stored once and an
 * edited one becomes a new record with reply_to the first.  A document
 * kanal cannot read is stored as kind unknown and the poll goes on. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <kanal/kit.h>

#include "lfetch.h"
#include "listen.h"

#define MAX_HOPS 5
#define ROBOTS_MAX (512 * 1024) /* RFC 9309: at least 500 KiB are read */
#define UNKNOWN_RAW_MAX (64 * 1024)

struct lpoll {
    struct listen *L;
    struct kanal_timer *interval, *wait;
    int running;
    size_t cur;             /* target index */
    char *url;              /* the URL to GET next (a page, the next page, a redirect) */
    int page;               /* pages of this target read */
    int hops;               /* redirects followed for this URL */
    struct lentries *pages; /* what this target's pages held */
    char **page_urls;
    size_t npages;
    char *etag, *lastmod; /* the first page's, committed with the records */
    char *emitted;        /* the records text in flight (for the fallback) */
    size_t failed;        /* targets of this poll that could not be read */
    char problem[300];    /* the last one's reason, for the source's health */
};

static void step(struct lpoll *p);

static struct ltarget *target(struct lpoll *p)
{
    return &p->L->t[p->cur];
}

static void drop_pages(struct lpoll *p)
{
    for (size_t i = 0; i < p->npages; i++) {
        lentries_free(&p->pages[i]);
        free(p->page_urls[i]);
    }
    free(p->pages);
    free(p->page_urls);
    p->pages = NULL;
    p->page_urls = NULL;
    p->npages = 0;
    free(p->etag);
    free(p->lastmod);
    p->etag = p->lastmod = NULL;
}

/* A target of this poll could not be read (the log line says more). */
static void problem(struct lpoll *p, const char *why)
{
    p->failed++;
    snprintf(p->problem, sizeof p->problem, "%.120s: %.160s", p->L->t[p->cur].url, why);
}

static void end_cycle(struct lpoll *p)
{
    /* A whole poll ended: the source is healthy when every target was read. */
    if (p->running && !p->L->stopping && p->cur >= p->L->nt) {
        char reason[400];
        snprintf(reason, sizeof reason, "%zu of %zu feeds and pages not read in the last poll (%s)",
                 p->failed, p->L->nt, p->problem);
        p->L->host->set_health(p->L->src, p->failed == 0, p->failed ? reason : NULL);
    }
    p->running = 0;
    free(p->emitted);
    p->emitted = NULL;
    drop_pages(p);
    free(p->url);
    p->url = NULL;
}

static void begin_target(struct lpoll *p)
{
    drop_pages(p);
    free(p->url);
    p->url = strdup(target(p)->url);
    p->page = 0;
    p->hops = 0;
    if (!p->url)
        end_cycle(p);
    else
        step(p);
}

static void next_target(struct lpoll *p)
{
    if (++p->cur < p->L->nt && !p->L->stopping)
        begin_target(p);
    else
        end_cycle(p);
}

static void on_wait(void *arg)
{
    struct lpoll *p = arg;
    p->L->host->timer_stop(p->wait);
    p->wait = NULL;
    if (p->L->stopping)
        end_cycle(p);
    else
        step(p);
}

static void wait_then_step(struct lpoll *p, int64_t ms)
{
    if (p->L->host->timer_start(p->L->src, (uint64_t)ms, 0, on_wait, p, &p->wait) < 0)
        end_cycle(p);
}

/* ---- records ---- */

static void hex_digest(struct listen *L, const char *a, const char *b, char out[33])
{
    size_t la = a ? strlen(a) : 0, lb = b ? strlen(b) : 0;
    char *both = malloc(la + lb + 2);
    unsigned char d[32];
    if (!both) {
        out[0] = '\0';
        return;
    }
    memcpy(both, a ? a : "", la);
    both[la] = '\0';
    memcpy(both + la + 1, b ? b : "", lb + 1);
    kanal_kit_sha256(both, la + lb + 1, d);
    free(both);
    L->host->hex_encode(d, 16, out);
}

/* The entry's own id: its guid (a page's: <host>/<id>), else a digest of
 * its link, else of its title and text. */
static char *base_id(struct listen *L, const struct lentry *e, const char *site, int page)
{
    char hex[33], *out = NULL;
    int r;
    if (e->id && page)
        r = asprintf(&out, "%s/%s", site, e->id);
    else if (e->id)
        r = asprintf(&out, "%s", e->id);
    else if (e->link) {
        hex_digest(L, e->link, NULL, hex);
        r = asprintf(&out, "url-%s", hex);
    } else {
        hex_digest(L, e->title, e->text, hex);
        r = asprintf(&out, "text-%s", hex);
    }
    if (r < 0)
        return NULL;
    if (strlen(out) > 1000) { /* external_id holds at most 1024 bytes */
        hex_digest(L, out, NULL, hex);
        free(out);
        if (asprintf(&out, "id-%s", hex) < 0)
            return NULL;
    }
    return out;
}

static const char *site_of(const char *url, char *buf, size_t len)
{
    const char *h = strstr(url, "://");
    h = h ? h + 3 : url;
    size_t n = strcspn(h, "/?#");
    const char *at = memchr(h, '@', n); /* never the userinfo */
    if (at) {
        n -= (size_t)(at + 1 - h);
        h = at + 1;
    }
    snprintf(buf, len, "%.*s", (int)n, h);
    for (char *c = buf; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    return buf;
}

struct batch {
    json_t *records;
    struct kanal_state_entry *st;
    char **keys, **vals;
    size_t nst;
};

static int batch_has(const struct batch *b, const char *key)
{
    for (size_t i = 0; i < b->nst; i++)
        if (strcmp(b->keys[i], key) == 0)
            return 1;
    return 0;
}

static int batch_state(struct batch *b, const char *key, const char *val)
{
    char **k = realloc(b->keys, (b->nst + 1) * sizeof *k);
    if (k)
        b->keys = k;
    char **v = realloc(b->vals, (b->nst + 1) * sizeof *v);
    if (v)
        b->vals = v;
    if (!k || !v)
        return -ENOMEM;
    b->keys[b->nst] = strdup(key);
    b->vals[b->nst] = strdup(val);
    b->nst++;
    return b->keys[b->nst - 1] && b->vals[b->nst - 1] ? 0 : -ENOMEM;
}

static void batch_free(struct batch *b)
{
    json_decref(b->records);
    for (size_t i = 0; i < b->nst; i++) {
        free(b->keys[i]);
        free(b->vals[i]);
    }
    free(b->keys);
    free(b->vals);
    free(b->st);
}

/* The record of one matching entry, or NULL when it is stored already in
 * this version; the entry's state (its content digest) joins the batch. */
static json_t *entry_record(struct lpoll *p, const struct lentry *e, const char *doc_title,
                            const char *doc_url, struct batch *b)
{
    struct listen *L = p->L;
    struct ltarget *t = target(p);
    char site[256], hex[33], key[48], seen[80];
    site_of(e->link ? e->link : doc_url, site, sizeof site);
    char *base = base_id(L, e, site, t->adapter != NULL);
    if (!base)
        return NULL;
    hex_digest(L, base, NULL, hex);
    snprintf(key, sizeof key, "e:%s", hex);
    char digest[33];
    hex_digest(L, e->title, e->text, digest);
    size_t len = sizeof seen - 1;
    int r = L->host->state_get(L->src, key, seen, &len);
    seen[r == 0 ? len : 0] = '\0';
    if (batch_has(b, key) || (r == 0 && strcmp(seen, digest) == 0)) {
        free(base);
        return NULL; /* stored already (or twice on these pages) */
    }
    char ext[1100];
    int edited = r == 0;
    if (edited)
        snprintf(ext, sizeof ext, "%s#%.16s", base, digest);
    else
        snprintf(ext, sizeof ext, "%s", base);
    /* The author, cut to 200 bytes on a character boundary. */
    char author[201];
    size_t an = snprintf(author, sizeof author, "%s", e->author ? e->author : "-");
    if (an >= sizeof author) {
        an = sizeof author - 1;
        while (an > 0 && ((unsigned char)author[an] & 0xC0) == 0x80)
            an--;
        author[an] = '\0';
    }
    char handle[512];
    snprintf(handle, sizeof handle, "web:%.250s/%s", site, author);
    json_t *from = json_pack("{s:s}", "handle", handle);
    if (e->author)
        json_object_set_new(from, "name", json_string(e->author));
    const char *kind = t->adapter && t->adapter->kind ? t->adapter->kind : "mention";
    json_t *meta = json_pack("{s:s,s:s,s:s}", "url", e->link ? e->link : doc_url, "site", site,
                             t->adapter ? "page" : "feed", t->url);
    const char *title = e->title ? e->title : doc_title;
    if (title)
        json_object_set_new(meta, "title", json_string(title));
    if (t->adapter)
        json_object_set_new(meta, "adapter", json_string(t->adapter->name));
    json_t *rec = json_pack("{s:s,s:s,s:s,s:o,s:o}", "kind", kind, "direction", "inbound",
                            "external_id", ext, "from", from, "meta", meta);
    if (edited)
        json_object_set_new(rec, "reply_to", json_string(base));
    if (e->title)
        json_object_set_new(rec, "subject", json_string(e->title));
    if (e->text)
        json_object_set_new(rec, "text", json_string(e->text));
    char when[40];
    if (e->time_ms >= 0 && L->host->format_time(e->time_ms, when, sizeof when) == 0)
        json_object_set_new(rec, "occurred_at", json_string(when));
    free(base);
    if (!rec)
        return NULL; /* out of memory: the entry is read again next poll */
    if (batch_state(b, key, digest) < 0) {
        json_decref(rec);
        return NULL;
    }
    return rec;
}

/* ---- committing a target ---- */

static void committed(void *arg, const struct kanal_kit_result *res)
{
    struct lpoll *p = arg;
    struct listen *L = p->L;
    struct ltarget *t = target(p);
    if (res->outcome != KANAL_KIT_COMMITTED) {
        L->host->log(L->src, KANAL_LOG_WARNING,
                     "%s: commit failed (%s); the next poll reads it again", t->url,
                     L->host->strerror(res->status));
        problem(p, "the store could not commit");
    } else {
        L->host->log(L->src, KANAL_LOG_DEBUG, "%s: %zu record(s) committed%s", t->url, res->n,
                     res->as_unknown ? " as unknown" : "");
        free(t->etag);
        free(t->lastmod);
        t->etag = p->etag;
        t->lastmod = p->lastmod;
        p->etag = p->lastmod = NULL;
    }
    next_target(p);
}

static int build_fallback(void *arg, char **out)
{
    struct lpoll *p = arg;
    const struct kanal_kit_unknown u = {"listen", "entries kanald refused as records",
                                        UNKNOWN_RAW_MAX};
    return kanal_kit_unknown_record(p->L->host, &u, p->emitted, strlen(p->emitted), out);
}

/* The target's ETag/Last-Modified as one state value: "etag\nlastmod". */
static char *cond_value(const char *etag, const char *lastmod)
{
    char *v = NULL;
    if (asprintf(&v, "%s\n%s", etag ? etag : "", lastmod ? lastmod : "") < 0)
        return NULL;
    return v;
}

/* Emit records (a JSON array text, or NULL) with the batch's states and
 * the target's conditional state. */
static void emit(struct lpoll *p, const char *text, struct batch *b, int fallback)
{
    struct listen *L = p->L;
    char *cond = cond_value(p->etag, p->lastmod);
    struct kanal_state_entry *st = calloc(b->nst + 1, sizeof *st);
    if (!cond || !st) {
        free(cond);
        free(st);
        next_target(p);
        return;
    }
    size_t n = 0;
    st[n++] = (struct kanal_state_entry){target(p)->key, cond, strlen(cond)};
    for (size_t i = 0; i < b->nst; i++)
        st[n++] = (struct kanal_state_entry){b->keys[i], b->vals[i], strlen(b->vals[i])};
    struct kanal_kit_fallback fb = {
        .build = build_fallback, .build_arg = p, .states = st, .nstates = n};
    free(p->emitted);
    p->emitted = text && fallback ? strdup(text) : NULL;
    int r = kanal_kit_emit_then(L->host, L->src, text, text ? strlen(text) : 0, st, n,
                                p->emitted ? &fb : NULL, committed, p);
    free(cond);
    free(st);
    if (r < 0) {
        L->host->log(L->src, KANAL_LOG_WARNING, "%s: cannot queue the records: %s", target(p)->url,
                     L->host->strerror(r));
        next_target(p);
    }
}

struct timed {
    int64_t t;
    size_t i;
};

static int by_time(const void *a, const void *b)
{
    const struct timed *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Oldest first when every record has a time (feeds list the newest first),
 * so that seq order is the order things were said; else document order. */
static void chronological(json_t **records, const int64_t *times)
{
    size_t n = json_array_size(*records);
    struct timed *v = n ? malloc(n * sizeof *v) : NULL;
    json_t *sorted = json_array();
    if (!v || !sorted) {
        free(v);
        json_decref(sorted);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (times[i] < 0) {
            free(v);
            json_decref(sorted);
            return;
        }
        v[i] = (struct timed){times[i], i};
    }
    qsort(v, n, sizeof *v, by_time);
    for (size_t i = 0; i < n; i++)
        json_array_append(sorted, json_array_get(*records, v[i].i));
    free(v);
    json_decref(*records);
    *records = sorted;
}

static void commit_target(struct lpoll *p)
{
    struct listen *L = p->L;
    struct batch b = {json_array(), NULL, NULL, NULL, 0};
    size_t seen = 0, matched = 0, total = 0;
    for (size_t i = 0; i < p->npages; i++)
        total += p->pages[i].n;
    int64_t *times = malloc((total ? total : 1) * sizeof *times);
    for (size_t i = 0; i < p->npages; i++) {
        for (size_t j = 0; j < p->pages[i].n; j++) {
            const struct lentry *e = &p->pages[i].v[j];
            seen++;
            if (!lmatch_test(&L->match, e->title, e->text))
                continue;
            matched++;
            json_t *rec = entry_record(p, e, p->pages[i].title, p->page_urls[i], &b);
            if (rec && times)
                times[json_array_size(b.records)] = e->time_ms;
            if (rec)
                json_array_append_new(b.records, rec);
        }
    }
    if (times)
        chronological(&b.records, times);
    free(times);
    size_t n = json_array_size(b.records);
    L->host->log(L->src, KANAL_LOG_INFO, "%s: %zu entr%s, %zu matching, %zu new", target(p)->url,
                 seen, seen == 1 ? "y" : "ies", matched, n);
    if (p->npages && p->pages[0].n == 0 && target(p)->adapter) {
        L->host->log(L->src, KANAL_LOG_WARNING,
                     "%s: adapter %s found no entry on the page (has the site changed?)",
                     target(p)->url, target(p)->adapter->name);
        problem(p, "the adapter found no entry (has the site changed?)");
    }
    char *text = n ? json_dumps(b.records, JSON_COMPACT) : NULL;
    emit(p, text, &b, 1);
    free(text);
    batch_free(&b);
}

/* A document kanal cannot read: kept whole (up to 64 KiB) as unknown. */
static void commit_unknown(struct lpoll *p, const struct lfetch *f, const char *why)
{
    struct listen *L = p->L;
    char reason[512];
    snprintf(reason, sizeof reason, "%s %s: %s", target(p)->adapter ? "page" : "feed", p->url, why);
    L->host->log(L->src, KANAL_LOG_WARNING, "%s; stored as unknown, the poll goes on", reason);
    problem(p, why);
    const struct kanal_kit_unknown u = {target(p)->adapter ? "page" : "feed", reason,
                                        UNKNOWN_RAW_MAX};
    char *rec = NULL;
    if (kanal_kit_unknown_record(L->host, &u, f->body ? f->body : "", f->len, &rec) < 0) {
        next_target(p);
        return;
    }
    struct batch b = {NULL, NULL, NULL, NULL, 0};
    emit(p, rec, &b, 0);
    free(rec);
}

/* ---- fetching ---- */

static void on_robots(void *arg, struct lfetch *f);
static void on_doc(void *arg, struct lfetch *f);

static void backoff(struct lpoll *p, struct lhost *h, const struct lfetch *f)
{
    struct listen *L = p->L;
    int64_t wait;
    h->fails++;
    if (f->retry_after >= 0) {
        wait = f->retry_after * 1000;
    } else {
        wait = L->poll_interval_ms;
        for (int i = 1; i < h->fails && wait < L->backoff_max_ms; i++)
            wait *= 2;
    }
    if (wait > L->backoff_max_ms)
        wait = L->backoff_max_ms;
    h->backoff_until = L->host->now_ms() + wait;
    L->host->log(L->src, KANAL_LOG_NOTICE, "%s: HTTP %ld; asking %s again in %lld ms (%s)", p->url,
                 f->status, h->origin, (long long)wait,
                 f->retry_after >= 0 ? "Retry-After" : "backoff");
    problem(p, f->status == 429 ? "rate limited (429)" : "server error (5xx)");
}

static int start_get(struct lpoll *p, struct lhost *h, const char *url, int conditional, size_t max,
                     lfetch_cb cb)
{
    struct listen *L = p->L;
    struct lfetch *f = lfetch_new(L->host, L->src, url, L->user_agent, L->timeout_ms, max);
    int r = f ? 0 : -ENOMEM;
    if (r == 0 && conditional)
        r = lfetch_conditional(f, target(p)->etag, target(p)->lastmod);
    if (r < 0) {
        lfetch_free(f);
        return r;
    }
    h->next_at = L->host->now_ms() + 60000 / L->rate;
    return lfetch_start(f, cb, p);
}

static void step(struct lpoll *p)
{
    struct listen *L = p->L;
    struct lhost *h = listen_host_of(L, p->url);
    if (!h) {
        next_target(p);
        return;
    }
    int64_t now = L->host->now_ms();
    if (h->backoff_until > now) {
        L->host->log(L->src, KANAL_LOG_INFO, "%s: skipped, %s asked to wait %lld ms more", p->url,
                     h->origin, (long long)(h->backoff_until - now));
        next_target(p);
        return;
    }
    if (h->next_at > now) {
        wait_then_step(p, h->next_at - now);
        return;
    }
    int r;
    if (!h->robots_known || now - h->robots_at > L->robots_ttl_ms) {
        char *robots = NULL;
        if (asprintf(&robots, "%s/robots.txt", h->origin) < 0)
            r = -ENOMEM;
        else
            r = start_get(p, h, robots, 0, ROBOTS_MAX, on_robots);
        free(robots);
    } else if (!lrobots_allowed(h->robots, "kanal", listen_url_path(p->url))) {
        L->host->log(L->src, KANAL_LOG_WARNING, "%s: not fetched: %s/robots.txt disallows it",
                     p->url, h->origin);
        problem(p, "robots.txt disallows it");
        next_target(p);
        return;
    } else {
        r = start_get(p, h, p->url, p->page == 0, (size_t)L->max_body, on_doc);
    }
    if (r < 0) {
        L->host->log(L->src, KANAL_LOG_WARNING, "%s: cannot start the request: %s", p->url,
                     L->host->strerror(r));
        next_target(p);
    }
}

static void on_robots(void *arg, struct lfetch *f)
{
    struct lpoll *p = arg;
    struct listen *L = p->L;
    if (L->stopping) {
        lfetch_free(f);
        end_cycle(p);
        return;
    }
    struct lhost *h = listen_host_of(L, p->url);
    if (!h) {
        lfetch_free(f);
        next_target(p);
        return;
    }
    if (f->result == 0 && f->status == 200) {
        free(h->robots);
        h->robots = f->body; /* NUL-terminated */
        f->body = NULL;
    } else if (f->result == 0 && f->status >= 300 && f->status < 500 && f->status != 429) {
        free(h->robots); /* none, or not reachable as such: everything is allowed */
        h->robots = NULL;
    } else {
        /* RFC 9309: robots.txt unreachable (5xx, 429, network) means
         * nothing may be fetched; ask again next poll. */
        char why[300];
        lfetch_describe(f, why, sizeof why);
        L->host->log(L->src, KANAL_LOG_WARNING,
                     "%s/robots.txt unreachable (%s): nothing on %s is fetched this poll",
                     h->origin, why, h->origin);
        problem(p, "robots.txt unreachable");
        lfetch_free(f);
        next_target(p);
        return;
    }
    h->robots_known = 1;
    h->robots_at = L->host->now_ms();
    lfetch_free(f);
    step(p);
}

static int http_scheme(const char *u)
{
    return strncasecmp(u, "http://", 7) == 0 || strncasecmp(u, "https://", 8) == 0;
}

static void add_page(struct lpoll *p, struct lentries *e)
{
    struct lentries *v = realloc(p->pages, (p->npages + 1) * sizeof *v);
    if (v)
        p->pages = v;
    char **u = realloc(p->page_urls, (p->npages + 1) * sizeof *u);
    if (u)
        p->page_urls = u;
    char *url = strdup(p->url);
    if (!v || !u || !url) {
        free(url);
        lentries_free(e);
        return;
    }
    p->pages[p->npages] = *e;
    p->page_urls[p->npages++] = url;
}

static void on_doc(void *arg, struct lfetch *f)
{
    struct lpoll *p = arg;
    struct listen *L = p->L;
    struct ltarget *t = target(p);
    char why[400];
    if (L->stopping) {
        lfetch_free(f);
        end_cycle(p);
        return;
    }
    struct lhost *h = listen_host_of(L, p->url);
    if (f->result == 0 && (f->status == 429 || f->status >= 500) && h) {
        backoff(p, h, f);
        lfetch_free(f);
        next_target(p);
        return;
    }
    if (h && f->result == 0)
        h->fails = 0;
    if (f->result == 0 && f->status == 304) {
        L->host->log(L->src, KANAL_LOG_DEBUG, "%s: not modified (304)", p->url);
        lfetch_free(f);
        next_target(p);
        return;
    }
    if (f->result == 0 && f->status >= 300 && f->status < 400 && f->location) {
        if (!http_scheme(f->location)) {
            L->host->log(L->src, KANAL_LOG_WARNING,
                         "%s: refused a redirect to %.200s: only http and https URLs are read",
                         p->url, f->location);
            problem(p, "redirected to a URL that is not http(s)");
            lfetch_free(f);
            next_target(p);
            return;
        }
        if (++p->hops > MAX_HOPS) {
            L->host->log(L->src, KANAL_LOG_WARNING, "%s: more than %d redirects; not read", t->url,
                         MAX_HOPS);
            problem(p, "too many redirects");
            lfetch_free(f);
            next_target(p);
            return;
        }
        free(p->url);
        p->url = f->location;
        f->location = NULL;
        lfetch_free(f);
        step(p);
        return;
    }
    if (f->result != 0 || f->status != 200) {
        lfetch_describe(f, why, sizeof why);
        L->host->log(L->src, KANAL_LOG_WARNING, "%s: %s", p->url, why);
        problem(p, why);
        lfetch_free(f);
        next_target(p);
        return;
    }
    if (p->page == 0) {
        p->etag = f->etag[0] ? strdup(f->etag) : NULL;
        p->lastmod = f->lastmod[0] ? strdup(f->lastmod) : NULL;
    }
    struct lentries e = {.max = (size_t)L->max_entries};
    int r = t->adapter ? lparse_page(t->adapter, f->body, f->len, p->url, &e, why, sizeof why)
                       : lparse_feed(f->body ? f->body : "", f->len, p->url, &e, why, sizeof why);
    if (r < 0) {
        if (p->page == 0) {
            commit_unknown(p, f, why);
        } else {
            L->host->log(L->src, KANAL_LOG_WARNING, "%s: %s; the pages before it are kept", p->url,
                         why);
            commit_target(p);
        }
        lfetch_free(f);
        return;
    }
    lfetch_free(f);
    if (e.cut)
        L->host->log(L->src, KANAL_LOG_NOTICE,
                     "%s: read the first %lld entries only (max_entries); the rest are not read",
                     p->url, (long long)L->max_entries);
    char *next = e.next;
    e.next = NULL;
    add_page(p, &e);
    p->page++;
    p->hops = 0;
    if (next && t->adapter && p->page < L->max_pages && http_scheme(next) &&
        strcmp(next, p->url) != 0) {
        free(p->url);
        p->url = next;
        step(p);
        return;
    }
    if (next && p->page >= L->max_pages)
        L->host->log(L->src, KANAL_LOG_INFO, "%s: stopped after %lld pages (max_pages)", t->url,
                     (long long)L->max_pages);
    free(next);
    commit_target(p);
}

/* ---- timers ---- */

static void on_tick(void *arg)
{
    struct lpoll *p = arg;
    if (p->running || p->L->stopping)
        return; /* the previous poll is still reading */
    p->running = 1;
    p->cur = 0;
    p->failed = 0;
    p->problem[0] = '\0';
    begin_target(p);
}

static void load_cond(struct listen *L, struct ltarget *t)
{
    char buf[512];
    size_t len = sizeof buf - 1;
    if (L->host->state_get(L->src, t->key, buf, &len) != 0)
        return;
    buf[len] = '\0';
    char *nl = strchr(buf, '\n');
    if (!nl)
        return;
    *nl = '\0';
    t->etag = buf[0] ? strdup(buf) : NULL;
    t->lastmod = nl[1] ? strdup(nl + 1) : NULL;
}

int listen_poll_start(struct listen *L)
{
    struct lpoll *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->L = L;
    L->poll = p;
    for (size_t i = 0; i < L->nt; i++)
        load_cond(L, &L->t[i]);
    L->host->log(L->src, KANAL_LOG_INFO, "reading %zu feed(s) and page(s) every %lld s as \"%s\"",
                 L->nt, (long long)(L->poll_interval_ms / 1000), L->user_agent);
    return L->host->timer_start(L->src, 0, (uint64_t)L->poll_interval_ms, on_tick, p, &p->interval);
}

void listen_poll_stop(struct listen *L)
{
    struct lpoll *p = L->poll;
    if (!p)
        return;
    L->host->timer_stop(p->interval);
    p->interval = NULL;
    if (p->wait) {
        L->host->timer_stop(p->wait);
        p->wait = NULL;
        end_cycle(p);
    }
}

void listen_poll_free(struct listen *L)
{
    struct lpoll *p = L->poll;
    if (!p)
        return;
    end_cycle(p);
    free(p);
    L->poll = NULL;
}
