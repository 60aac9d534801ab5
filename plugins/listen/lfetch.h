/* SPDX-License-Identifier: Apache-2.0 */
/* lfetch: one GET of a feed, page or robots.txt (see lfetch.c). */
#ifndef KANAL_LISTEN_FETCH_H
#define KANAL_LISTEN_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <kanal/plugin.h>

struct lfetch;
/* Called on the loop thread when the GET ended; the callee frees f. */
typedef void (*lfetch_cb)(void *arg, struct lfetch *f);

struct lfetch {
    const struct kanal_host *host;
    struct kanal_source *src;
    CURL *easy;
    struct curl_slist *hdr;
    char *body; /* NUL-terminated, or NULL */
    size_t len, cap, max;
    int too_large;
    int result;          /* CURLcode */
    long status;         /* 0 without a response */
    int64_t retry_after; /* seconds, or -1 */
    int64_t now_ms;
    char etag[256];
    char lastmod[128];
    char *location; /* a 3xx's target (absolute), or NULL */
    char error[CURL_ERROR_SIZE];
    lfetch_cb cb;
    void *arg;
};

struct lfetch *lfetch_new(const struct kanal_host *host, struct kanal_source *src, const char *url,
                          const char *user_agent, int64_t timeout_ms, size_t max_body);
/* Add If-None-Match / If-Modified-Since (either may be NULL). */
int lfetch_conditional(struct lfetch *f, const char *etag, const char *lastmod);
/* Start it; on failure f is freed and a negative error returned. */
int lfetch_start(struct lfetch *f, lfetch_cb cb, void *arg);
void lfetch_free(struct lfetch *f);
void lfetch_describe(const struct lfetch *f, char *out, size_t len);

#endif
