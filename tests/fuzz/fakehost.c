/* SPDX-License-Identifier: Apache-2.0 */
/* The fake host table for the plugin fuzzers: see fakehost.h. */
#include "fakehost.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "config.h"
#include "crypto.h"
#include "error.h"
#include "form.h"
#include "fuzz.h"
#include "handle.h"
#include "jsonin.h"
#include "jsonout.h"
#include "rawbound.h"
#include "record.h"
#include "util.h"

/* A time format_time refuses (before year 0, after 9999) leaves out as it
 * was: the harness marks it, so a plugin that goes on to use the buffer is
 * caught in fake_emit (kanald's stack would hold whatever was there).  The
 * mark is new in every process and looked for without memmem, which
 * libFuzzer watches: the fuzzer must not learn it and put it in an input. */
static char unset_time[24];

static int has_unset_time(const char *s, size_t len)
{
    size_t n = strlen(unset_time);
    for (size_t i = 0; n && i + n <= len; i++) {
        size_t k = 0;
        while (k < n && s[i + k] == unset_time[k])
            k++;
        if (k == n)
            return 1;
    }
    return 0;
}
#define FAKE_NOW_MS 1764900000000LL /* 2025-12-05, fixed so runs repeat */

enum pending_kind { PENDING_EMIT, PENDING_TRANSFER };

struct pending {
    enum pending_kind kind;
    kanal_emit_cb emit_cb;
    kanal_transfer_cb transfer_cb;
    void *arg, *easy;
    size_t nrecs;
    struct pending *next;
};

struct kanal_timer {
    struct kanal_source *src;
    struct kanal_timer *prev, *next;
};

struct kanal_watch {
    struct kanal_source *src;
    struct kanal_watch *prev, *next;
    int fd, events;
    kanal_watch_cb cb;
    void *arg;
    unsigned long id;
};

struct fake_req {
    struct kanal_http_request pub; /* first: plugins get &pub */
    struct kanal_source *src;
    int answers;
    int status;
    size_t extra_headers;
};

struct kanal_source {
    const struct kanal_plugin *plugin;
    int api; /* transfers go to the local responder */
    const char *const *config;
    void *state;
    int started, store_fails;
    struct pending *head, *tail;
    struct kanal_timer *timers;
    struct kanal_watch *watches;
    unsigned long next_watch;
    int listener; /* fd of the first watch, -1 before */
    size_t records;
    uint64_t seq;
    char *body;
    size_t body_len;
};

static const struct kanal_option *find_option(const struct kanal_source *src, const char *name)
{
    for (const struct kanal_option *o = src->plugin->options; o && o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    for (const struct kanal_option *o = config_common_options; o->name; o++)
        if (strcmp(o->name, name) == 0)
            return o;
    return NULL;
}

static void fake_log(struct kanal_source *src, int level, const char *fmt, ...)
{
    /* Format every line (a bad format argument is a finding too), print
     * them only when asked: the fuzzer runs millions of inputs. */
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (getenv("KANAL_FUZZ_LOG"))
        fprintf(stderr, "<%d>%s\n", level, line);
}

static const char *fake_source_name(struct kanal_source *src)
{
    return "fuzz";
}

static const char *fake_config_string(struct kanal_source *src, const char *name)
{
    for (const char *const *c = src->config; c && c[0]; c += 2)
        if (strcmp(c[0], name) == 0)
            return c[1];
    const struct kanal_option *o = find_option(src, name);
    if (!o)
        FUZZ_FAIL("the plugin asked for option '%s', which it does not declare", name);
    return o->default_value;
}

static int fake_config_int(struct kanal_source *src, const char *name, int64_t *out)
{
    const struct kanal_option *o = find_option(src, name);
    if (!o)
        FUZZ_FAIL("the plugin asked for option '%s', which it does not declare", name);
    const char *v = fake_config_string(src, name);
    if (!v)
        return -ENOENT;
    int b, r;
    switch (o->type) {
    case KANAL_OPT_INT:
        r = util_parse_int(v, out);
        break;
    case KANAL_OPT_BOOL:
        r = util_parse_bool(v, &b);
        *out = b;
        break;
    case KANAL_OPT_DURATION:
        r = util_parse_duration_ms(v, out);
        break;
    case KANAL_OPT_SIZE:
        r = util_parse_size(v, out);
        break;
    default:
        return -EINVAL;
    }
    if (r < 0)
        FUZZ_FAIL("the harness's value '%s' of %s does not parse", v, name);
    return 0;
}

static void queue(struct kanal_source *src, struct pending *p)
{
    if (src->tail)
        src->tail->next = p;
    else
        src->head = p;
    src->tail = p;
}

/* What host_emit does before the writer: parse, normalize, serialize. */
static int fake_emit(struct kanal_source *src, const char *json, size_t len,
                     const struct kanal_state_entry *states, size_t nstates, kanal_emit_cb cb,
                     void *arg)
{
    json_t *root = NULL;
    struct raw_span *spans = NULL;
    size_t nspans = 0;
    char e[160] = "";
    if (len > 0) {
        /* Read and bound as kanald's emit does (daemon/runtime/host.c). */
        root = rawbound_parse(json, len, &spans, &nspans, e, sizeof e);
        if (!root) {
            /* kanald refuses it the same way ("emit refused: not JSON"). */
            if (getenv("KANAL_FUZZ_LOG"))
                fprintf(stderr, "emit refused: not JSON (%s): %.300s\n", e, json);
            return KANAL_ERECORD;
        }
    } else if (nstates == 0) {
        return -EINVAL;
    }
    if (len && has_unset_time(json, len))
        FUZZ_FAIL("the plugin emitted the text of a time format_time refused "
                  "(an unset buffer in kanald): %.300s",
                  json);
    size_t n = !root ? 0 : json_is_array(root) ? json_array_size(root) : 1;
    struct record_ctx rc = {
        .source = "fuzz",
        .channel = src->plugin->name,
        .default_country = "TR",
        .keep_raw = 1,
        .received_at = "2025-12-05T02:00:00.000Z",
    };
    for (size_t i = 0; i < n; i++) {
        json_t *in = json_is_array(root) ? json_array_get(root, i) : root;
        char err[256];
        json_t *rec;
        char why[200];
        size_t rawsize;
        if (rawbound_record(in, i, json, spans, nspans, e, 1024 * 1024, err, sizeof err, why,
                            sizeof why, &rawsize) < 0 ||
            record_normalize(in, &rc, &rec, err, sizeof err) < 0) {
            /* kanald refuses the batch and logs it; the plugin must then
             * answer on its own.  Plugins build their records from the
             * provider's payload: when they emit one the host refuses, the
             * provider's event is lost, which is worth knowing. */
            if (getenv("KANAL_FUZZ_LOG"))
                fprintf(stderr, "emit refused: record %zu: %s\n", i + 1, err);
            json_decref(root);
            free(spans);
            return KANAL_ERECORD;
        }
        size_t tl;
        char *text = jsonout_dump(rec, &tl);
        if (!text)
            FUZZ_FAIL("record %zu: normalize accepted it, jsonout_dump refuses it "
                      "(the writer could not store it)",
                      i + 1);
        free(text);
        json_decref(rec);
    }
    json_decref(root);
    free(spans);
    for (size_t i = 0; i < nstates; i++)
        if (!states[i].key || (!states[i].value && states[i].len))
            FUZZ_FAIL("a state entry without key or value");
    struct pending *p = calloc(1, sizeof *p);
    *p = (struct pending){.kind = PENDING_EMIT, .emit_cb = cb, .arg = arg, .nrecs = n};
    queue(src, p);
    return 0;
}

static int fake_state_get(struct kanal_source *src, const char *key, void *buf, size_t *len)
{
    return -ENOENT;
}

static int fake_timer_start(struct kanal_source *src, uint64_t timeout_ms, uint64_t repeat_ms,
                            kanal_timer_cb cb, void *arg, struct kanal_timer **out)
{
    struct kanal_timer *t = calloc(1, sizeof *t);
    t->src = src;
    t->next = src->timers;
    if (t->next)
        t->next->prev = t;
    src->timers = t;
    *out = t;
    return 0;
}

static void fake_timer_stop(struct kanal_timer *t)
{
    if (!t)
        return;
    if (t->prev)
        t->prev->next = t->next;
    else
        t->src->timers = t->next;
    if (t->next)
        t->next->prev = t->prev;
    free(t);
}

static int fake_watch_fd(struct kanal_source *src, int fd, int events, kanal_watch_cb cb, void *arg,
                         struct kanal_watch **out)
{
    struct kanal_watch *w = calloc(1, sizeof *w);
    w->src = src;
    w->fd = fd;
    w->events = events;
    w->cb = cb;
    w->arg = arg;
    w->id = ++src->next_watch;
    if (src->listener < 0)
        src->listener = fd;
    w->next = src->watches;
    if (w->next)
        w->next->prev = w;
    src->watches = w;
    *out = w;
    return 0;
}

static void fake_unwatch_fd(struct kanal_watch *w)
{
    if (!w)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else
        w->src->watches = w->next;
    if (w->next)
        w->next->prev = w->prev;
    free(w);
}

/* ---- the local API responder (fake_set_api_response) ---- */

static struct {
    pthread_mutex_t lock;
    int port;
    int status;
    char *body;
    size_t len;
} api = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void *responder(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0)
            continue;
        char req[8192];
        size_t got = 0;
        while (got < sizeof req - 1) { /* the head, then answer */
            ssize_t n = recv(fd, req + got, sizeof req - 1 - got, 0);
            if (n <= 0)
                break;
            got += (size_t)n;
            req[got] = '\0';
            if (strstr(req, "\r\n\r\n"))
                break;
        }
        pthread_mutex_lock(&api.lock);
        char head[160];
        int hl = snprintf(head, sizeof head,
                          "HTTP/1.1 %d Fuzz\r\nContent-Type: application/json\r\n"
                          "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                          api.status, api.len);
        send(fd, head, (size_t)hl, MSG_NOSIGNAL);
        if (api.len)
            send(fd, api.body, api.len, MSG_NOSIGNAL);
        pthread_mutex_unlock(&api.lock);
        close(fd);
    }
    return NULL;
}

static void responder_start(void)
{
    if (api.port)
        return;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    pthread_t t;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 16) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) < 0 ||
        pthread_create(&t, NULL, responder, (void *)(intptr_t)fd) != 0)
        FUZZ_FAIL("cannot start the local API responder");
    pthread_detach(t);
    api.port = ntohs(a.sin_port);
}

void fake_set_api_response(struct kanal_source *src, int status, const void *body, size_t len)
{
    responder_start();
    pthread_mutex_lock(&api.lock);
    free(api.body);
    api.body = malloc(len + 1);
    if (len)
        memcpy(api.body, body, len);
    api.len = len;
    api.status = status;
    pthread_mutex_unlock(&api.lock);
    src->api = 1;
}

/* Run a transfer against the responder: same path and query, its address. */
static int run_transfer(void *easy)
{
    char *url = NULL;
    curl_easy_getinfo(easy, CURLINFO_EFFECTIVE_URL, &url);
    const char *rest = url ? strstr(url, "://") : NULL;
    rest = rest ? rest + 3 + strcspn(rest + 3, "/?#") : "/";
    size_t n = strlen(rest) + 64;
    char *local = malloc(n);
    snprintf(local, n, "http://127.0.0.1:%d%s", api.port, rest);
    curl_easy_setopt(easy, CURLOPT_URL, local);
    int r = (int)curl_easy_perform(easy);
    free(local);
    return r;
}

/* Transfers reach no server unless the target set an API response: each
 * ends with "could not connect" (CURLE_COULDNT_CONNECT) when the loop runs
 * it. */
static int fake_transfer(struct kanal_source *src, void *easy, kanal_transfer_cb cb, void *arg)
{
    struct pending *p = calloc(1, sizeof *p);
    *p = (struct pending){.kind = PENDING_TRANSFER, .transfer_cb = cb, .arg = arg, .easy = easy};
    queue(src, p);
    return 0;
}

static const char *fake_http_header(const struct kanal_http_request *req, const char *name)
{
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

static int fake_http_add_header(struct kanal_http_request *req, const char *name, const char *value)
{
    struct fake_req *r = (struct fake_req *)req;
    if (r->answers)
        FUZZ_FAIL("a header added after the answer");
    if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
        return -EINVAL;
    r->extra_headers++;
    return 0;
}

static int fake_http_respond(struct kanal_http_request *req, int status, const char *type,
                             const void *body, size_t len)
{
    struct fake_req *r = (struct fake_req *)req;
    if (r->answers++)
        FUZZ_FAIL("a request answered twice (%d, then %d)", r->status, status);
    if (status < 100 || status > 599)
        FUZZ_FAIL("status %d", status);
    r->status = status;
    struct kanal_source *src = r->src;
    free(src->body);
    src->body = malloc(len + 1);
    if (len)
        memcpy(src->body, body, len);
    src->body[len] = '\0';
    src->body_len = len;
    return 0;
}

static int fake_send_done(struct kanal_source *src, const struct kanal_send_request *msg,
                          const struct kanal_send_result *result)
{
    return 0;
}

static void fake_set_health(struct kanal_source *src, int ok, const char *reason)
{
}

static int fake_normalize_handle(struct kanal_source *src, const char *in, char *out,
                                 size_t out_len)
{
    const char *why;
    return handle_normalize(in, "TR", out, out_len, &why);
}

static int fake_format_time(int64_t unix_ms, char *out, size_t out_len)
{
    int r = util_format_time(unix_ms, out, out_len);
    if (r < 0 && out_len > 0) {
        if (!unset_time[0])
            snprintf(unset_time, sizeof unset_time, "~%08lx%06x~", (unsigned long)time(NULL),
                     (unsigned)getpid() & 0xffffff);
        snprintf(out, out_len, "%s", unset_time);
    }
    return r;
}

static int64_t fake_now_ms(void)
{
    return FAKE_NOW_MS;
}

const struct kanal_host fake_host = {
    .abi_major = KANAL_ABI_MAJOR,
    .abi_minor = KANAL_ABI_MINOR,
    .size = sizeof(struct kanal_host),
    .log = fake_log,
    .strerror = kanal_strerror,
    .source_name = fake_source_name,
    .config_string = fake_config_string,
    .config_int = fake_config_int,
    .emit = fake_emit,
    .state_get = fake_state_get,
    .timer_start = fake_timer_start,
    .timer_stop = fake_timer_stop,
    .watch_fd = fake_watch_fd,
    .unwatch_fd = fake_unwatch_fd,
    .transfer = fake_transfer,
    .http_header = fake_http_header,
    .http_add_header = fake_http_add_header,
    .http_respond = fake_http_respond,
    .send_done = fake_send_done,
    .set_health = fake_set_health,
    .hmac_sha256 = crypto_hmac_sha256,
    .hmac_sha1 = crypto_hmac_sha1,
    .equal_ct = crypto_equal_ct,
    .hex_encode = crypto_hex_encode,
    .base64_encode = crypto_base64_encode,
    .base64_decode = crypto_base64_decode,
    .form_decode = form_decode,
    .normalize_handle = fake_normalize_handle,
    .format_time = fake_format_time,
    .now_ms = fake_now_ms,
};

struct kanal_source *fake_source_new(const struct kanal_plugin *p, const char *const *config)
{
    struct kanal_source *src = calloc(1, sizeof *src);
    src->plugin = p;
    src->config = config;
    src->listener = -1;
    return src;
}

int fake_source_init(struct kanal_source *src)
{
    return src->plugin->init(&fake_host, src, &src->state);
}

int fake_listener_fd(const struct kanal_source *src)
{
    return src->listener;
}

int fake_poll(struct kanal_source *src, int timeout_ms)
{
    struct pollfd fds[128];
    unsigned long ids[128];
    size_t n = 0;
    for (struct kanal_watch *w = src->watches; w && n < 128; w = w->next, n++) {
        fds[n] =
            (struct pollfd){.fd = w->fd,
                            .events = (short)(((w->events & KANAL_WATCH_READ) ? POLLIN : 0) |
                                              ((w->events & KANAL_WATCH_WRITE) ? POLLOUT : 0))};
        ids[n] = w->id;
    }
    int ran = 0;
    if (n && poll(fds, n, timeout_ms) > 0)
        for (size_t i = 0; i < n; i++) {
            if (!fds[i].revents)
                continue;
            /* A callback may have removed this watch (or others): find it again. */
            struct kanal_watch *w = src->watches;
            while (w && w->id != ids[i])
                w = w->next;
            if (!w)
                continue;
            int ev = ((fds[i].revents & (POLLIN | POLLHUP | POLLERR)) ? KANAL_WATCH_READ : 0) |
                     ((fds[i].revents & POLLOUT) ? KANAL_WATCH_WRITE : 0);
            w->cb(w->arg, w->fd, ev & (w->events ? w->events : ev));
            ran++;
        }
    fake_drain(src);
    return ran;
}

int fake_source_start(struct kanal_source *src)
{
    int r = src->plugin->init(&fake_host, src, &src->state);
    if (r < 0)
        return r;
    if (src->plugin->start && (r = src->plugin->start(src->state)) < 0)
        return r;
    src->started = 1;
    return 0;
}

void *fake_source_state(struct kanal_source *src)
{
    return src->state;
}

void fake_set_store_fails(struct kanal_source *src, int fails)
{
    src->store_fails = fails;
}

void fake_drain(struct kanal_source *src)
{
    while (src->head) {
        struct pending *p = src->head;
        src->head = p->next;
        if (!src->head)
            src->tail = NULL;
        if (p->kind == PENDING_EMIT) {
            uint64_t *seqs = calloc(p->nrecs ? p->nrecs : 1, sizeof *seqs);
            for (size_t i = 0; i < p->nrecs; i++)
                seqs[i] = ++src->seq;
            if (!src->store_fails)
                src->records += p->nrecs;
            if (p->emit_cb)
                p->emit_cb(p->arg, src->store_fails ? KANAL_ESTORE : 0, seqs,
                           src->store_fails ? 0 : p->nrecs);
            free(seqs);
        } else {
            int result = src->api ? run_transfer(p->easy) : 7 /* CURLE_COULDNT_CONNECT */;
            p->transfer_cb(p->arg, result, p->easy);
        }
        free(p);
    }
}

int fake_request(struct kanal_source *src, const char *method, const char *path, const char *query,
                 const struct kanal_http_header *headers, size_t nheaders, const char *body,
                 size_t body_len)
{
    struct fake_req *r = calloc(1, sizeof *r);
    r->src = src;
    r->pub = (struct kanal_http_request){
        .method = method,
        .path = path,
        .query = query,
        .remote_addr = "192.0.2.1",
        .headers = headers,
        .nheaders = nheaders,
        .body = body,
        .body_len = body_len,
    };
    int ret = src->plugin->http(src->state, &r->pub);
    if (ret < 0) {
        if (r->answers)
            FUZZ_FAIL("http() answered and then failed (%d): kanald would answer again", ret);
        if (src->head)
            FUZZ_FAIL("http() queued work and then failed (%d)", ret);
        r->answers = 1;
        r->status = 500;
    }
    fake_drain(src);
    if (r->answers != 1)
        FUZZ_FAIL("%s %s never answered", method, path);
    int status = r->status;
    free(r);
    return status;
}

const char *fake_last_body(struct kanal_source *src, size_t *len)
{
    *len = src->body_len;
    return src->body;
}

size_t fake_records(const struct kanal_source *src)
{
    return src->records;
}

void fake_source_free(struct kanal_source *src)
{
    fake_drain(src);
    if (src->started && src->plugin->stop)
        src->plugin->stop(src->state);
    fake_drain(src);
    if (src->state && src->plugin->destroy)
        src->plugin->destroy(src->state);
    /* The real host frees what a plugin forgot to stop with the source. */
    while (src->timers)
        fake_timer_stop(src->timers);
    while (src->watches)
        fake_unwatch_fd(src->watches);
    free(src->body);
    free(src);
}

void fake_hmac256_hex(const char *key, const void *data, size_t len, char out[65])
{
    unsigned char mac[32];
    crypto_hmac_sha256(key, strlen(key), data, len, mac);
    crypto_hex_encode(mac, sizeof mac, out);
}
