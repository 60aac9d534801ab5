/* SPDX-License-Identifier: Apache-2.0 */
/* api_fetch: one HTTP request to a provider's REST API, run on the host's
 * curl multi (host->transfer), with the response body and the rate-limit
 * headers collected.  Plugins compile it in with PLUGIN_EXTRA_<name>. */
#ifndef KANAL_API_FETCH_H
#define KANAL_API_FETCH_H

#include <stdint.h>

#include <curl/curl.h>
#include <jansson.h>
#include <kanal/plugin.h>

struct api_fetch;

/* Called on the loop thread when the request ended, whatever the outcome;
 * the callee frees f with api_fetch_free(). */
typedef void (*api_fetch_cb)(void *arg, struct api_fetch *f);

struct api_fetch {
    const struct kanal_host *host;
    struct kanal_source *src;
    CURL *easy;
    struct curl_slist *headers;
    char *body; /* request body (owned), or NULL for a GET */
    char *resp; /* response body, NUL-terminated, or NULL */
    size_t resp_len;
    int too_large;       /* the response exceeded API_FETCH_MAX_RESPONSE */
    int result;          /* CURLcode; 0 when a response arrived */
    long status;         /* HTTP status, 0 without a response */
    int64_t rate_reset;  /* x-rate-limit-reset (unix seconds), or -1 */
    int64_t retry_after; /* Retry-After in seconds, or -1 */
    char error[CURL_ERROR_SIZE];
    api_fetch_cb cb;
    void *arg;
};

#define API_FETCH_MAX_RESPONSE (16 * 1024 * 1024)

/* A request to url with a timeout; NULL when out of memory. */
struct api_fetch *api_fetch_new(const struct kanal_host *host, struct kanal_source *src,
                                const char *url, int64_t timeout_ms);
/* Add "Authorization: Bearer <token>". */
int api_fetch_bearer(struct api_fetch *f, const char *token);
/* Make it a POST of JSON text (copied). */
int api_fetch_post_json(struct api_fetch *f, const char *json);
/* Start it; on failure f is freed and a negative error returned. */
int api_fetch_start(struct api_fetch *f, api_fetch_cb cb, void *arg);
void api_fetch_free(struct api_fetch *f);

/* The response body as JSON, or NULL. */
json_t *api_fetch_json(const struct api_fetch *f);
/* A short description of a failed request for logs and reasons: the curl
 * error, or "HTTP <status>: <error message from the body>". */
void api_fetch_describe(const struct api_fetch *f, char *out, size_t len);

#endif
