/* SPDX-License-Identifier: Apache-2.0 */
/* listen: the public web as a kanal channel (RSS/Atom feeds and HTML pages
 * read through site adapters), shared state of its files. */
#ifndef KANAL_LISTEN_H
#define KANAL_LISTEN_H

#include <stddef.h>
#include <stdint.h>

#include <kanal/plugin.h>

#include "lmatch.h"
#include "lparse.h"

/* One URL polled: a feed, or a page read with an adapter. */
struct ltarget {
    char *url;
    const struct ladapter *adapter; /* NULL for a feed */
    char key[48];                   /* state key of its ETag / Last-Modified */
    char *etag, *lastmod;           /* from the last 200 committed */
};

/* What kanal knows of one host (scheme://host:port). */
struct lhost {
    char *origin;
    char *robots;          /* robots.txt text; NULL: none (everything allowed) */
    int robots_known;      /* robots was read (or is known absent) */
    int64_t robots_at;     /* when it was read */
    int64_t next_at;       /* no request before this time (the rate) */
    int64_t backoff_until; /* after a 429 or 5xx */
    int fails;             /* 429/5xx in a row */
};

struct lpoll;

struct listen {
    const struct kanal_host *host;
    struct kanal_source *src;
    /* options */
    const char *feeds, *pages, *adapters, *keywords, *exclude, *contact;
    int64_t poll_interval_ms, rate, max_pages, timeout_ms, max_body, robots_ttl_ms;
    int64_t backoff_max_ms, max_entries;
    /* built from them */
    char user_agent[256];
    struct ladapter *ad;
    size_t nad;
    struct ltarget *t;
    size_t nt;
    struct lhost *hosts;
    size_t nhosts;
    struct lmatch match;
    struct lpoll *poll;
    int stopping;
};

/* lconf.c: targets and adapters from the options (logs why on failure). */
int listen_conf_load(struct listen *L);
void listen_conf_free(struct listen *L);
/* The host entry of url (created on first use), or NULL (out of memory or
 * not an http(s) URL). */
struct lhost *listen_host_of(struct listen *L, const char *url);
/* The path and query of url, for robots.txt ("/" when empty). */
const char *listen_url_path(const char *url);

/* lpoll.c */
int listen_poll_start(struct listen *L);
void listen_poll_stop(struct listen *L);
void listen_poll_free(struct listen *L);

#endif
