/* SPDX-License-Identifier: Apache-2.0 */
/* hello: the smallest useful kanal plugin.
 *
 * Build it out of tree:
 *   cc -shared -fPIC -o hello.so hello.c $(pkg-config --cflags --libs kanal-plugin)
 * Copy hello.so into kanald's plugin_dir and add a source:
 *   [source hello]
 *   plugin   = hello
 *   greeting = Merhaba
 * GET /hooks/hello answers the greeting; POST /hooks/hello stores one
 * "message" record whose text is the request body and answers after the
 * commit.  A real plugin verifies a signature first: see plugins/webhook. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kanal/plugin.h>

struct hello {
    const struct kanal_host *host;
    struct kanal_source *src;
    const char *greeting;
    unsigned long n;
};

struct request {
    struct hello *h;
    struct kanal_http_request *req;
};

static void committed(void *arg, int status, const uint64_t *seqs, size_t n)
{
    struct request *r = arg;
    char body[96];
    int len;
    if (status < 0 || n == 0) { /* the store could not commit: let the sender retry */
        len = snprintf(body, sizeof body, "{\"error\":\"%s\"}", r->h->host->strerror(status));
        r->h->host->http_respond(r->req, 503, "application/json", body, (size_t)len);
    } else {
        len = snprintf(body, sizeof body, "{\"seq\":%llu}", (unsigned long long)seqs[0]);
        r->h->host->http_respond(r->req, 200, "application/json", body, (size_t)len);
    }
    free(r);
}

static int hello_http(void *state, struct kanal_http_request *req)
{
    struct hello *h = state;
    if (strcmp(req->method, "GET") == 0)
        return h->host->http_respond(req, 200, "text/plain", h->greeting, strlen(h->greeting));

    /* Build the record as JSON text; the host checks it against schema v1,
     * normalizes handles and fills seq, id and received_at. */
    char now[32], record[512];
    h->host->format_time(h->host->now_ms(), now, sizeof now);
    int len = snprintf(record, sizeof record,
                       "{\"kind\":\"message\",\"direction\":\"inbound\",\"occurred_at\":\"%s\","
                       "\"external_id\":\"%s-%lu\",\"from\":{\"handle\":\"hello:%s\"},"
                       "\"text\":\"%.*s\"}",
                       now, now, ++h->n, req->remote_addr, (int)strcspn(req->body, "\"\\\n"),
                       req->body);
    struct request *r = malloc(sizeof *r);
    if (!r)
        return -ENOMEM;
    r->h = h;
    r->req = req;
    int rc = h->host->emit(h->src, record, (size_t)len, NULL, 0, committed, r);
    if (rc < 0) {
        free(r);
        return rc; /* the host answers 500 */
    }
    return 0;
}

static int hello_init(const struct kanal_host *host, struct kanal_source *src, void **state)
{
    struct hello *h = calloc(1, sizeof *h);
    if (!h)
        return -ENOMEM;
    h->host = host;
    h->src = src;
    h->greeting = host->config_string(src, "greeting");
    *state = h;
    return 0;
}

static int hello_start(void *state)
{
    struct hello *h = state;
    h->host->log(h->src, KANAL_LOG_INFO, "hello is ready to greet with '%s'", h->greeting);
    return 0;
}

static int hello_stop(void *state)
{
    (void)state;
    return 0;
}

static void hello_destroy(void *state)
{
    free(state);
}

static const struct kanal_option hello_options[] = {
    {"greeting", KANAL_OPT_STRING, "Hello", 0, "what GET /hooks/<source> answers", NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

static const struct kanal_plugin hello_plugin = {
    KANAL_PLUGIN_HEADER,
    .name = "hello",
    .version = "1.0.0",
    .description = "example plugin: greets and stores what it is sent",
    .options = hello_options,
    .init = hello_init,
    .start = hello_start,
    .stop = hello_stop,
    .destroy = hello_destroy,
    .http = hello_http,
};

KANAL_PLUGIN_EXPORT const struct kanal_plugin *kanal_plugin_entry(void)
{
    return &hello_plugin;
}
