/* SPDX-License-Identifier: Apache-2.0 */
/* listen: the public web as a kanal channel.
 *
 * Polls RSS and Atom feeds, and HTML pages without a feed through a site
 * adapter (XPaths for each entry and its fields, a next-page link), and
 * stores the entries that name the brand (keywords, Turkish-aware
 * folding) as kind mention (or post), inbound, from web:<host>/<author>.
 * It is polite: robots.txt is obeyed, each host is asked at most `rate`
 * times a minute, 429/5xx are waited out (Retry-After), feeds are read
 * with conditional GETs, and the User-Agent names kanal and the
 * operator's contact.  lpoll.c polls, lfetch.c fetches, lparse.c reads
 * documents, lmatch.c matches and reads robots.txt, lconf.c reads the
 * lists and the adapters files. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kanal/kit.h>
#include <libxml/parser.h>

#include "listen.h"

#ifndef KANAL_VERSION
#define KANAL_VERSION "0"
#endif

static const struct kanal_kit_bind listen_binds[] = {
    {"feeds", KANAL_KIT_STR, offsetof(struct listen, feeds)},
    {"pages", KANAL_KIT_STR, offsetof(struct listen, pages)},
    {"adapters", KANAL_KIT_STR, offsetof(struct listen, adapters)},
    {"keywords", KANAL_KIT_STR, offsetof(struct listen, keywords)},
    {"exclude", KANAL_KIT_STR, offsetof(struct listen, exclude)},
    {"contact", KANAL_KIT_STR, offsetof(struct listen, contact)},
    {"poll_interval", KANAL_KIT_INT64, offsetof(struct listen, poll_interval_ms)},
    {"rate", KANAL_KIT_INT64, offsetof(struct listen, rate)},
    {"max_pages", KANAL_KIT_INT64, offsetof(struct listen, max_pages)},
    {"timeout", KANAL_KIT_INT64, offsetof(struct listen, timeout_ms)},
    {"max_body", KANAL_KIT_INT64, offsetof(struct listen, max_body)},
    {"robots_ttl", KANAL_KIT_INT64, offsetof(struct listen, robots_ttl_ms)},
    {"backoff_max", KANAL_KIT_INT64, offsetof(struct listen, backoff_max_ms)},
    {"max_entries", KANAL_KIT_INT64, offsetof(struct listen, max_entries)},
    {NULL, 0, 0},
};

static const char *check(const struct listen *L)
{
    if (L->poll_interval_ms < 1000)
        return "poll_interval must be at least 1s";
    if (L->rate < 1 || L->rate > 600)
        return "rate must be 1 to 600 requests a minute per host";
    if (L->max_pages < 1 || L->max_pages > 1000)
        return "max_pages must be 1 to 1000";
    if (L->max_body < 1024 || L->max_body > 64 * 1024 * 1024)
        return "max_body must be 1K to 64M";
    if (L->max_entries < 1 || L->max_entries > 100000)
        return "max_entries must be 1 to 100000";
    if (L->backoff_max_ms < 1000)
        return "backoff_max must be at least 1s";
    if (!L->contact || !L->contact[0] || strpbrk(L->contact, "\r\n()"))
        return "contact must name how site operators reach you (a URL or an e-mail address, "
               "without parentheses)";
    return NULL;
}

static int listen_init(const struct kanal_host *host, struct kanal_source *src, void **state)
{
    struct listen *L = calloc(1, sizeof *L);
    if (!L)
        return -ENOMEM;
    L->host = host;
    L->src = src;
    int r = kanal_kit_bind_options(host, src, listen_binds, L);
    if (r < 0) {
        free(L);
        return r;
    }
    const char *problem = check(L);
    if (problem) {
        host->log(src, KANAL_LOG_ERR, "%s", problem);
        free(L);
        return KANAL_ECONFIG;
    }
    snprintf(L->user_agent, sizeof L->user_agent, "kanal/%s (+%.200s)", KANAL_VERSION, L->contact);
    xmlInitParser();
    r = listen_conf_load(L);
    if (r < 0) {
        listen_conf_free(L);
        free(L);
        return r == -ENOMEM ? r : KANAL_ECONFIG;
    }
    *state = L;
    return 0;
}

static int listen_start(void *state)
{
    return listen_poll_start(state);
}

static int listen_stop(void *state)
{
    struct listen *L = state;
    L->stopping = 1;
    listen_poll_stop(L);
    return 0;
}

static void listen_destroy(void *state)
{
    struct listen *L = state;
    listen_poll_free(L);
    listen_conf_free(L);
    free(L);
}

static const struct kanal_option listen_options[] = {
    {"feeds", KANAL_OPT_STRING, NULL, 0, "RSS and Atom feed URLs, separated by spaces or commas",
     NULL},
    {"pages", KANAL_OPT_STRING, NULL, 0,
     "HTML pages without a feed: URL = ADAPTER, separated by commas", NULL},
    {"adapters", KANAL_OPT_STRING, NULL, 0,
     "files of [adapter NAME] sections (XPaths per site), separated by spaces", NULL},
    {"keywords", KANAL_OPT_STRING, NULL, 0,
     "brand names and phrases, comma-separated; only entries naming one are stored (unset: all)",
     NULL},
    {"exclude", KANAL_OPT_STRING, NULL, 0,
     "words and phrases, comma-separated: entries naming one are not stored", NULL},
    {"contact", KANAL_OPT_STRING, NULL, 1,
     "how site operators reach you (URL or e-mail), sent in the User-Agent", NULL},
    {"poll_interval", KANAL_OPT_DURATION, "15m", 0, "time between polls of every feed and page",
     NULL},
    {"rate", KANAL_OPT_INT, "6", 0, "requests a minute to one host at most (1-600)", NULL},
    {"max_pages", KANAL_OPT_INT, "5", 0, "pages read per page URL and poll (next links)", NULL},
    {"timeout", KANAL_OPT_DURATION, "30s", 0, "time allowed for one request", NULL},
    {"max_body", KANAL_OPT_SIZE, "4M", 0, "largest feed or page read; a larger one is skipped",
     NULL},
    {"robots_ttl", KANAL_OPT_DURATION, "1d", 0, "how long a host's robots.txt is kept", NULL},
    {"backoff_max", KANAL_OPT_DURATION, "6h", 0,
     "longest wait after a 429 or 5xx (Retry-After is capped to it)", NULL},
    {"max_entries", KANAL_OPT_INT, "1000", 0,
     "entries read from one feed or page at most (the first ones)", NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

static const struct kanal_plugin listen_plugin = {
    KANAL_PLUGIN_HEADER,
    .name = "listen",
    .version = "1.0.0",
    .description = "the public web: RSS/Atom feeds and HTML pages (site adapters) that name "
                   "the brand, as mentions",
    .options = listen_options,
    .init = listen_init,
    .start = listen_start,
    .stop = listen_stop,
    .destroy = listen_destroy,
};

KANAL_PLUGIN_EXPORT const struct kanal_plugin *kanal_plugin_entry(void)
{
    return &listen_plugin;
}
