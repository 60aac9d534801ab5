/* A test plugin built in several variants by the test suite: a good one
 * ("echo") and deliberately broken ones that the loader must refuse.
 *
 * echo: POST /hooks/<source> emits the body as records (no signature), with
 * the query's cursor=VALUE committed as state "cursor"; GET answers the
 * source's resolved options and the committed cursor as JSON. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kanal/plugin.h>

#ifndef TEST_NAME
#define TEST_NAME "echo"
#endif

struct echo {
    const struct kanal_host *host;
    struct kanal_source *src;
};

struct pending {
    struct echo *e;
    struct kanal_http_request *req;
};

static void on_committed(void *arg, int status, const uint64_t *seqs, size_t n)
{
    struct pending *p = arg;
    char body[256];
    int len;
    if (status < 0) {
        len = snprintf(body, sizeof body, "{\"error\":\"%s\"}", p->e->host->strerror(status));
        p->e->host->http_respond(p->req, 503, "application/json", body, (size_t)len);
    } else {
        len = snprintf(body, sizeof body, "{\"n\":%zu,\"first\":%llu}", n,
                       n ? (unsigned long long)seqs[0] : 0ULL);
        p->e->host->http_respond(p->req, 200, "application/json", body, (size_t)len);
    }
    free(p);
}

static void append_opt(struct echo *e, char *buf, size_t cap, const char *name)
{
    const char *v = e->host->config_string(e->src, name);
    size_t len = strlen(buf);
    snprintf(buf + len, cap - len, "%s\"%s\":\"%s\"", len > 1 ? "," : "", name, v ? v : "");
}

static int echo_http(void *state, struct kanal_http_request *req)
{
    struct echo *e = state;
    if (strcmp(req->method, "GET") == 0) {
        char buf[1024] = "{";
        append_opt(e, buf, sizeof buf, "greeting");
        append_opt(e, buf, sizeof buf, "token");
        int64_t count = -1, interval = -1;
        e->host->config_int(e->src, "count", &count);
        e->host->config_int(e->src, "interval", &interval);
        char cursor[64] = "";
        size_t clen = sizeof cursor - 1;
        if (e->host->state_get(e->src, "cursor", cursor, &clen) == 0)
            cursor[clen] = '\0';
        size_t len = strlen(buf);
        snprintf(buf + len, sizeof buf - len, ",\"count\":%lld,\"interval_ms\":%lld,\"cursor\":\"%s\"}",
                 (long long)count, (long long)interval, cursor);
        return e->host->http_respond(req, 200, "application/json", buf, strlen(buf));
    }
    struct pending *p = calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->e = e;
    p->req = req;
    struct kanal_state_entry st = {"cursor", NULL, 0};
    const char *c = strstr(req->query, "cursor=");
    if (c) {
        st.value = c + 7;
        st.len = strcspn(c + 7, "&");
    }
    int r = e->host->emit(e->src, req->body, req->body_len, c ? &st : NULL, c ? 1 : 0,
                          on_committed, p);
    if (r < 0) {
        free(p);
        char body[256];
        int len = snprintf(body, sizeof body, "{\"refused\":\"%s\"}", e->host->strerror(r));
        return e->host->http_respond(req, 422, "application/json", body, (size_t)len);
    }
    return 0;
}

static int echo_init(const struct kanal_host *host, struct kanal_source *src, void **state)
{
#ifdef TEST_INIT_FAILS
    (void)host;
    (void)src;
    (void)state;
    return -EIO;
#else
    struct echo *e = calloc(1, sizeof *e);
    if (!e)
        return -ENOMEM;
    e->host = host;
    e->src = src;
    *state = e;
    return 0;
#endif
}

static int echo_start(void *state)
{
    (void)state;
    return 0;
}

static int echo_stop(void *state)
{
    (void)state;
    return 0;
}

static void echo_destroy(void *state)
{
    free(state);
}

static const struct kanal_option echo_options[] = {
    {"greeting", KANAL_OPT_STRING, NULL, 1, "a required string", NULL},
    {"token", KANAL_OPT_SECRET, NULL, 0, "a secret", NULL},
    {"count", KANAL_OPT_INT, "3", 0, "an integer", NULL},
    {"interval", KANAL_OPT_DURATION, "30s", 0, "a duration", NULL},
    {"mode", KANAL_OPT_ENUM, "a", 0, "an enum", "a|b"},
    {NULL, 0, NULL, 0, NULL, NULL},
};

static const struct kanal_plugin echo_plugin = {
#if defined(TEST_BAD_MAJOR)
    .abi_major = KANAL_ABI_MAJOR + 1, .abi_minor = 0, .size = sizeof(struct kanal_plugin),
#elif defined(TEST_NEWER_MINOR)
    .abi_major = KANAL_ABI_MAJOR, .abi_minor = KANAL_ABI_MINOR + 1,
    .size = sizeof(struct kanal_plugin),
#elif defined(TEST_TOO_SMALL)
    .abi_major = KANAL_ABI_MAJOR, .abi_minor = KANAL_ABI_MINOR, .size = 16,
#else
    KANAL_PLUGIN_HEADER,
#endif
    .name = TEST_NAME,
    .version = "0.0.1",
    .description = "test plugin",
    .options = echo_options,
    .init = echo_init,
    .start = echo_start,
    .stop = echo_stop,
    .destroy = echo_destroy,
    .http = echo_http,
};

#ifdef TEST_NO_ENTRY
KANAL_PLUGIN_EXPORT const struct kanal_plugin *kanal_plugin_entry_misspelled(void);
KANAL_PLUGIN_EXPORT const struct kanal_plugin *kanal_plugin_entry_misspelled(void)
#else
KANAL_PLUGIN_EXPORT const struct kanal_plugin *kanal_plugin_entry(void)
#endif
{
    return &echo_plugin;
}
