/* SPDX-License-Identifier: Apache-2.0 */
/* A test plugin built in several variants by the test suite: a good one
 * ("echo") and deliberately broken ones that the loader must refuse.
 *
 * echo: POST /hooks/<source> emits the body as records (no signature), with
 * the query's cursor=VALUE committed as state "cursor"; GET answers the
 * source's resolved options and the committed cursor as JSON.
 *
 * stages (ABI 1.1): also a processor whose option 'behave' says what it
 * does with each record: annotate ({"n":COUNT,"saw":true|false}, saw: the
 * record already carries the annotation named by 'expect'), drop (records
 * whose text contains 'word'), error, invalid (not JSON), slow (busy-loops
 * 'spin' ms); and a sink that appends "seq\n" per record to the file
 * 'path' and acks at once.
 *
 * v10: the echo channel built as a 1.0 plugin (minor 0, the 1.0 size).
 *
 * relay (ABI 1.2): POST /hooks/<source>?relay=1 hands the body to
 * host->relay instead of emit; the relayer variant sets KANAL_PLUGIN_RELAY,
 * echo does not (so its relay is refused). */
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
    int relay = strstr(req->query, "relay=1") != NULL;
    if (relay && !KANAL_HOST_HAS(e->host, relay)) {
        free(p);
        return e->host->http_respond(req, 501, "application/json", "{}", 2);
    }
    int r = relay ? e->host->relay(e->src, req->body, req->body_len, c ? &st : NULL, c ? 1 : 0,
                                   on_committed, p)
                  : e->host->emit(e->src, req->body, req->body_len, c ? &st : NULL, c ? 1 : 0,
                                  on_committed, p);
    if (r < 0) {
        free(p);
        char body[256];
        int len = snprintf(body, sizeof body, "{\"refused\":\"%s\"}", e->host->strerror(r));
        return e->host->http_respond(req, 422, "application/json", body, (size_t)len);
    }
    return 0;
}

#ifndef TEST_STAGES
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

#endif

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

#ifdef TEST_STAGES
static void stage_free_given(void *state);
#endif

static void echo_destroy(void *state)
{
#ifdef TEST_STAGES
    stage_free_given(state);
#endif
    free(state);
}

#ifdef TEST_STAGES
#include <time.h>

struct stage {
    const struct kanal_host *host;
    struct kanal_source *src;
    const char *behave, *expect, *word, *path;
    int64_t spin;
    unsigned long n;
    char buf[256];
    char *given; /* behave = given: the annotation, as the hex option says */
    size_t given_len;
};

static int stage_init(const struct kanal_host *host, struct kanal_source *src, void **state)
{
    struct stage *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->host = host;
    s->src = src;
    s->behave = host->config_string(src, "behave");
    s->expect = host->config_string(src, "expect");
    s->word = host->config_string(src, "word");
    s->path = host->config_string(src, "path");
    host->config_int(src, "spin", &s->spin);
    const char *hex = host->config_string(src, "given");
    if (hex) { /* any bytes: blanks, escapes, invalid UTF-8, NULs */
        size_t n = strlen(hex) / 2;
        s->given = malloc(n + 1);
        for (size_t i = 0; s->given && i < n; i++) {
            unsigned v;
            if (sscanf(hex + 2 * i, "%2x", &v) != 1)
                v = '?';
            s->given[i] = (char)v;
        }
        s->given_len = n;
    }
    *state = s;
    return 0;
}

static void stage_free_given(void *state)
{
    struct stage *s = state;
    free(s->given);
}

static int stage_process(void *state, const char *json, size_t len,
                         struct kanal_process_result *out)
{
    struct stage *s = state;
    (void)len;
    s->n++;
    if (strcmp(s->behave, "error") == 0)
        return -EIO;
    if (strcmp(s->behave, "drop") == 0) {
        if (s->word && strstr(json, s->word))
            out->verdict = KANAL_PROCESS_DROP;
        return 0;
    }
    if (strcmp(s->behave, "given") == 0) {
        out->annotation = s->given;
        out->annotation_len = s->given_len;
        return 0;
    }
    if (strcmp(s->behave, "invalid") == 0) {
        out->annotation = "{\"oops\":";
        out->annotation_len = strlen(out->annotation);
        return 0;
    }
    if (strcmp(s->behave, "slow") == 0) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        do
            clock_gettime(CLOCK_MONOTONIC, &t1);
        while ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 < s->spin);
    }
    char probe[80] = "";
    if (s->expect)
        snprintf(probe, sizeof probe, "\"%s\":", s->expect);
    int saw = s->expect && strstr(json, "\"annotations\":") && strstr(json, probe);
    int n = snprintf(s->buf, sizeof s->buf, "{\"n\":%lu,\"saw\":%s}", s->n,
                     saw ? "true" : "false");
    out->annotation = s->buf;
    out->annotation_len = (size_t)n;
    return 0;
}

/* One "seq" line per record: find each "seq": in the array. */
static int stage_deliver(void *state, const struct kanal_sink_batch *b)
{
    struct stage *s = state;
    FILE *f = fopen(s->path, "a");
    if (!f)
        return -errno;
    const char *p = b->json;
    while ((p = strstr(p, "\"seq\":")) != NULL) {
        p += 6;
        fprintf(f, "%llu\n", strtoull(p, NULL, 10));
    }
    fclose(f);
    return s->host->sink_ack(s->src, b->last_seq);
}

static const struct kanal_option stage_options[] = {
    {"behave", KANAL_OPT_ENUM, "annotate", 0, "what the processor does",
     "annotate|drop|error|invalid|slow|given"},
    {"given", KANAL_OPT_STRING, NULL, 0, "behave = given: the annotation's bytes in hex", NULL},
    {"expect", KANAL_OPT_STRING, NULL, 0, "an annotation to look for", NULL},
    {"word", KANAL_OPT_STRING, NULL, 0, "drop records containing this", NULL},
    {"spin", KANAL_OPT_DURATION, "50ms", 0, "how long slow busy-loops", NULL},
    {"path", KANAL_OPT_STRING, NULL, 0, "the sink's file", NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};
#define echo_options stage_options
#else
static const struct kanal_option echo_options[] = {
    {"greeting", KANAL_OPT_STRING, NULL, 1, "a required string", NULL},
    {"token", KANAL_OPT_SECRET, NULL, 0, "a secret", NULL},
    {"count", KANAL_OPT_INT, "3", 0, "an integer", NULL},
    {"interval", KANAL_OPT_DURATION, "30s", 0, "a duration", NULL},
    {"mode", KANAL_OPT_ENUM, "a", 0, "an enum", "a|b"},
    {NULL, 0, NULL, 0, NULL, NULL},
};
#endif

static const struct kanal_plugin echo_plugin = {
#if defined(TEST_BAD_MAJOR)
    .abi_major = KANAL_ABI_MAJOR + 1, .abi_minor = 0, .size = sizeof(struct kanal_plugin),
#elif defined(TEST_NEWER_MINOR)
    .abi_major = KANAL_ABI_MAJOR, .abi_minor = KANAL_ABI_MINOR + 1,
    .size = sizeof(struct kanal_plugin),
#elif defined(TEST_ABI10)
    /* What a plugin built against ABI 1.0 has: minor 0, no stage members. */
    .abi_major = KANAL_ABI_MAJOR, .abi_minor = 0,
    .size = offsetof(struct kanal_plugin, reload) + sizeof(void *),
#elif defined(TEST_TOO_SMALL)
    .abi_major = KANAL_ABI_MAJOR, .abi_minor = KANAL_ABI_MINOR, .size = 16,
#else
    KANAL_PLUGIN_HEADER,
#endif
    .name = TEST_NAME,
    .version = "0.0.1",
    .description = "test plugin",
    .options = echo_options,
#ifdef TEST_STAGES
    .init = stage_init,
#else
    .init = echo_init,
#endif
    .start = echo_start,
    .stop = echo_stop,
    .destroy = echo_destroy,
    .http = echo_http,
#ifdef TEST_STAGES
    .process = stage_process,
    .deliver = stage_deliver,
#endif
#ifdef TEST_RELAY
    .flags = KANAL_PLUGIN_RELAY,
#endif
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
