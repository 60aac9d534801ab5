/* SPDX-License-Identifier: Apache-2.0 */
/* One GET of the public web on the host's curl multi: conditional headers
 * in, the body (bounded by max_body), status, ETag, Last-Modified,
 * Retry-After and a redirect's target out.  Redirects are not followed
 * here: the poller checks the target (http or https only), its host's
 * robots.txt and rate first. */
#include "lfetch.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct lfetch *f = arg;
    size_t len = size * n;
    if (f->len + len > f->max) {
        f->too_large = 1;
        return 0; /* aborts the transfer (CURLE_WRITE_ERROR) */
    }
    if (f->len + len + 1 > f->cap) {
        size_t cap = f->cap ? f->cap : 16384;
        while (cap < f->len + len + 1)
            cap *= 2;
        char *p = realloc(f->body, cap);
        if (!p)
            return 0;
        f->body = p;
        f->cap = cap;
    }
    memcpy(f->body + f->len, data, len);
    f->len += len;
    f->body[f->len] = '\0';
    return len;
}

/* The value of "Name: value" when the line's name is name, trimmed. */
static int header_value(const char *line, size_t len, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return 0;
    const char *p = line + nl + 1, *end = line + len;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    while (end > p && isspace((unsigned char)end[-1]))
        end--;
    size_t n = (size_t)(end - p);
    if (n >= cap || memchr(p, '\0', n))
        return 0; /* too long to send back: no conditional GET then */
    memcpy(out, p, n);
    out[n] = '\0';
    return 1;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    struct lfetch *f = arg;
    size_t len = size * n;
    char v[256];
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        f->etag[0] = f->lastmod[0] = '\0';
        f->retry_after = -1;
    }
    header_value(data, len, "etag", f->etag, sizeof f->etag);
    header_value(data, len, "last-modified", f->lastmod, sizeof f->lastmod);
    if (header_value(data, len, "retry-after", v, sizeof v)) {
        char *end;
        long long s = strtoll(v, &end, 10);
        if (end != v && *end == '\0' && s >= 0) {
            f->retry_after = s;
        } else {
            time_t t = curl_getdate(v, NULL); /* an HTTP-date */
            if (t > 0)
                f->retry_after =
                    t - (time_t)(f->now_ms / 1000) > 0 ? t - (time_t)(f->now_ms / 1000) : 0;
        }
    }
    return len;
}

static int add_header(struct lfetch *f, const char *name, const char *value)
{
    char line[400];
    snprintf(line, sizeof line, "%s: %s", name, value);
    struct curl_slist *l = curl_slist_append(f->hdr, line);
    if (!l)
        return -ENOMEM;
    f->hdr = l;
    return 0;
}

struct lfetch *lfetch_new(const struct kanal_host *host, struct kanal_source *src, const char *url,
                          const char *user_agent, int64_t timeout_ms, size_t max_body)
{
    struct lfetch *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->host = host;
    f->src = src;
    f->max = max_body;
    f->retry_after = -1;
    f->now_ms = host->now_ms();
    f->easy = curl_easy_init();
    if (!f->easy || add_header(f, "Accept",
                               "application/rss+xml, application/atom+xml, application/xml;q=0.9, "
                               "text/html;q=0.8, */*;q=0.5") < 0) {
        lfetch_free(f);
        return NULL;
    }
    curl_easy_setopt(f->easy, CURLOPT_URL, url);
    curl_easy_setopt(f->easy, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 30000));
    curl_easy_setopt(f->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(f->easy, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(f->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(f->easy, CURLOPT_HEADERDATA, f);
    curl_easy_setopt(f->easy, CURLOPT_ERRORBUFFER, f->error);
    curl_easy_setopt(f->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(f->easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(f->easy, CURLOPT_USERAGENT, user_agent);
    /* gzip and deflate; max_body bounds the decoded size. */
    curl_easy_setopt(f->easy, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(f->easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_body);
    return f;
}

int lfetch_conditional(struct lfetch *f, const char *etag, const char *lastmod)
{
    int r = 0;
    if (etag && *etag)
        r = add_header(f, "If-None-Match", etag);
    if (r == 0 && lastmod && *lastmod)
        r = add_header(f, "If-Modified-Since", lastmod);
    return r;
}

static void on_done(void *arg, int result, void *easy)
{
    struct lfetch *f = arg;
    f->result = result;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &f->status);
    if (result == CURLE_FILESIZE_EXCEEDED)
        f->too_large = 1;
    char *loc = NULL;
    if (f->status >= 300 && f->status < 400 &&
        curl_easy_getinfo(easy, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc)
        f->location = strdup(loc);
    f->cb(f->arg, f);
}

int lfetch_start(struct lfetch *f, lfetch_cb cb, void *arg)
{
    f->cb = cb;
    f->arg = arg;
    curl_easy_setopt(f->easy, CURLOPT_HTTPHEADER, f->hdr);
    int r = f->host->transfer(f->src, f->easy, on_done, f);
    if (r < 0)
        lfetch_free(f);
    return r;
}

void lfetch_free(struct lfetch *f)
{
    if (!f)
        return;
    if (f->easy)
        curl_easy_cleanup(f->easy);
    curl_slist_free_all(f->hdr);
    free(f->body);
    free(f->location);
    free(f);
}

void lfetch_describe(const struct lfetch *f, char *out, size_t len)
{
    if (f->too_large)
        snprintf(out, len, "response larger than max_body (%zu bytes): not read", f->max);
    else if (f->result != CURLE_OK)
        snprintf(out, len, "%s", f->error[0] ? f->error : curl_easy_strerror((CURLcode)f->result));
    else
        snprintf(out, len, "HTTP %ld", f->status);
}
