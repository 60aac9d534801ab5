/* SPDX-License-Identifier: Apache-2.0 */
/* api_fetch: one provider API request on the host's curl multi.  The
 * plugin never blocks: it configures an easy handle, hands it to
 * host->transfer and hears back on the loop thread. */
#include "api_fetch.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct api_fetch *f = arg;
    size_t len = size * n;
    if (f->resp_len + len > API_FETCH_MAX_RESPONSE) {
        f->too_large = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    char *p = realloc(f->resp, f->resp_len + len + 1);
    if (!p)
        return 0;
    memcpy(p + f->resp_len, data, len);
    f->resp = p;
    f->resp_len += len;
    p[f->resp_len] = '\0';
    return len;
}

/* The value of header line "Name: value" when its name is name, as a number. */
static int header_number(const char *line, size_t len, const char *name, int64_t *out)
{
    size_t nl = strlen(name);
    if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return 0;
    const char *p = line + nl + 1;
    const char *end = line + len;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    int64_t v = 0;
    int digits = 0;
    while (p < end && isdigit((unsigned char)*p) && digits < 18) {
        v = v * 10 + (*p++ - '0');
        digits++;
    }
    if (digits)
        *out = v;
    return digits > 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    struct api_fetch *f = arg;
    size_t len = size * n;
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* A new response (after a 100 Continue): forget the previous one's. */
        f->rate_reset = -1;
        f->retry_after = -1;
    }
    header_number(data, len, "x-rate-limit-reset", &f->rate_reset);
    header_number(data, len, "retry-after", &f->retry_after);
    return len;
}

struct api_fetch *api_fetch_new(const struct kanal_host *host, struct kanal_source *src,
                                const char *url, int64_t timeout_ms)
{
    struct api_fetch *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->host = host;
    f->src = src;
    f->rate_reset = -1;
    f->retry_after = -1;
    f->easy = curl_easy_init();
    f->headers = curl_slist_append(NULL, "Accept: application/json");
    if (!f->easy || !f->headers) {
        api_fetch_free(f);
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
    curl_easy_setopt(f->easy, CURLOPT_USERAGENT, "kanal/1");
    /* Never follow a redirect: the URL was checked, where it leads was not. */
    curl_easy_setopt(f->easy, CURLOPT_FOLLOWLOCATION, 0L);
    return f;
}

static int add_header(struct api_fetch *f, const char *line)
{
    struct curl_slist *l = curl_slist_append(f->headers, line);
    if (!l)
        return -ENOMEM;
    f->headers = l;
    return 0;
}

int api_fetch_bearer(struct api_fetch *f, const char *token)
{
    size_t n = strlen(token) + 32;
    char *line = malloc(n);
    if (!line)
        return -ENOMEM;
    snprintf(line, n, "Authorization: Bearer %s", token);
    int r = add_header(f, line);
    /* The token must not linger in freed memory longer than needed. */
    memset(line, 0, n);
    free(line);
    return r;
}

int api_fetch_post_json(struct api_fetch *f, const char *json)
{
    free(f->body);
    f->body = strdup(json);
    if (!f->body)
        return -ENOMEM;
    curl_easy_setopt(f->easy, CURLOPT_POSTFIELDS, f->body);
    curl_easy_setopt(f->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(f->body));
    return add_header(f, "Content-Type: application/json");
}

static void on_done(void *arg, int result, void *easy)
{
    struct api_fetch *f = arg;
    f->result = result;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &f->status);
    f->cb(f->arg, f);
}

int api_fetch_start(struct api_fetch *f, api_fetch_cb cb, void *arg)
{
    f->cb = cb;
    f->arg = arg;
    curl_easy_setopt(f->easy, CURLOPT_HTTPHEADER, f->headers);
    int r = f->host->transfer(f->src, f->easy, on_done, f);
    if (r < 0)
        api_fetch_free(f);
    return r;
}

void api_fetch_free(struct api_fetch *f)
{
    if (!f)
        return;
    if (f->easy)
        curl_easy_cleanup(f->easy);
    curl_slist_free_all(f->headers);
    free(f->body);
    free(f->resp);
    free(f);
}

json_t *api_fetch_json(const struct api_fetch *f)
{
    if (!f->resp || f->result != CURLE_OK)
        return NULL;
    return json_loadb(f->resp, f->resp_len, 0, NULL);
}

/* The error message providers put in their bodies: X's problem details
 * ({"title","detail"} or {"errors":[{"message"}]}), Eventbrite's
 * {"error","error_description"}, or {"error":{"message"}}. */
static void body_message(const struct api_fetch *f, char *out, size_t len)
{
    out[0] = '\0';
    json_t *o = api_fetch_json(f);
    if (json_is_object(o)) {
        const char *msg = json_string_value(json_object_get(o, "detail"));
        if (!msg)
            msg = json_string_value(json_object_get(o, "error_description"));
        if (!msg) {
            json_t *errs = json_object_get(o, "errors");
            json_t *e0 = json_is_array(errs) ? json_array_get(errs, 0) : NULL;
            msg = json_string_value(json_object_get(e0, "message"));
            if (!msg)
                msg = json_string_value(json_object_get(e0, "detail"));
        }
        if (!msg) {
            json_t *e = json_object_get(o, "error");
            msg = json_is_object(e) ? json_string_value(json_object_get(e, "message"))
                                    : json_string_value(e);
        }
        if (!msg)
            msg = json_string_value(json_object_get(o, "title"));
        if (msg)
            snprintf(out, len, "%s", msg);
    } else if (f->resp && f->resp_len) {
        snprintf(out, len, "%.200s", f->resp);
    }
    json_decref(o);
}

void api_fetch_describe(const struct api_fetch *f, char *out, size_t len)
{
    if (f->too_large) {
        snprintf(out, len, "response larger than %d bytes", API_FETCH_MAX_RESPONSE);
    } else if (f->result != CURLE_OK) {
        snprintf(out, len, "%s", f->error[0] ? f->error : curl_easy_strerror((CURLcode)f->result));
    } else {
        char msg[300];
        body_message(f, msg, sizeof msg);
        snprintf(out, len, "HTTP %ld%s%s", f->status, msg[0] ? ": " : "", msg);
    }
}
