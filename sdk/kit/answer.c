/* SPDX-License-Identifier: Apache-2.0 */
/* kit: emit, then answer.  The promise every webhook plugin makes — a 2xx
 * only after the records are durably committed, else 503 with Retry-After
 * so the provider retries, and an authentic payload kanald refuses as a
 * record kept as kind "unknown".  The emit and its fallback are
 * kanal_kit_emit_then's (emit.c); this file turns the outcome into the
 * answer. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <kanal/kit.h>

/* One request waiting for its commit; owns copies of the answer's texts. */
struct pending {
    const struct kanal_host *host;
    struct kanal_source *src;
    struct kanal_http_request *req;
    struct kanal_kit_answer a;
    struct kanal_kit_unknown u;
    char *strings[11];
};

static void pending_free(struct pending *p)
{
    for (size_t i = 0; i < sizeof p->strings / sizeof *p->strings; i++)
        free(p->strings[i]);
    free(p);
}

/* Copy *s into p (NULL stays NULL). */
static int keep(struct pending *p, size_t slot, const char **s, size_t len)
{
    if (!*s)
        return 0;
    char *c = malloc(len + 1);
    if (!c)
        return -ENOMEM;
    memcpy(c, *s, len);
    c[len] = '\0';
    p->strings[slot] = c;
    *s = c;
    return 0;
}

#define KEEP(p, slot, s) keep((p), (slot), &(s), (s) ? strlen(s) : 0)

/* The fallback, built once kanald has refused the records: the prepared
 * record or one built from the payload. */
static int build_unknown(void *arg, char **out)
{
    struct pending *p = arg;
    int r = 0;
    if (p->a.unknown_json)
        *out = strdup(p->a.unknown_json);
    else
        r = kanal_kit_unknown_record(p->host, &p->u, p->a.payload, p->a.payload_len, out);
    if (r < 0 || !*out)
        return r < 0 ? r : -ENOMEM;
    p->host->log(p->src, KANAL_LOG_WARNING,
                 "a request from %s is kept as kind unknown: %s (kanald's log names the field)",
                 p->req->remote_addr, p->u.reason ? p->u.reason : "its records were refused");
    return 0;
}

static void answer(struct pending *p, int status, int as_unknown, const uint64_t *seqs, size_t n)
{
    const struct kanal_host *h = p->host;
    struct kanal_http_request *req = p->req;
    enum kanal_kit_outcome outcome = kanal_kit_outcome_of(status);
    if (status == KANAL_ERECORD) {
        /* Not even as unknown: retrying cannot help, so say it now. */
        h->log(p->src, KANAL_LOG_ERR, "cannot store a request from %s even as kind unknown",
               req->remote_addr);
        kanal_kit_respond_error(h, req, 422, "unstorable", "the body cannot be stored");
        return;
    }
    if (outcome == KANAL_KIT_FAILED) {
        kanal_kit_respond_error(h, req, 500, "internal", "out of memory");
        return;
    }
    if (outcome == KANAL_KIT_RETRY) {
        h->log(p->src, KANAL_LOG_WARNING, "answered 503 to %s: %s", req->remote_addr,
               h->strerror(status));
        h->http_add_header(req, "Retry-After", p->a.retry_after ? p->a.retry_after : "5");
        if (p->a.busy_body)
            h->http_respond(req, 503, p->a.busy_type ? p->a.busy_type : "text/plain",
                            p->a.busy_body, strlen(p->a.busy_body));
        else
            kanal_kit_respond_error(h, req, 503, "store_unavailable", h->strerror(status));
        return;
    }
    int code = p->a.status ? p->a.status : 200;
    const char *body = p->a.body;
    if (as_unknown) {
        code = p->a.unknown_status ? p->a.unknown_status : code;
        body = p->a.unknown_body ? p->a.unknown_body : body;
    }
    if (p->a.location)
        h->http_add_header(req, "Location", p->a.location);
    if (body) {
        h->http_respond(req, code, p->a.content_type ? p->a.content_type : "application/json", body,
                        strlen(body));
        return;
    }
    struct kanal_kit_buf b = {0};
    /* Every webhook is answered here: no printf (two vsnprintf passes each). */
    kanal_kit_buf_add(&b, "{\"seqs\":[", 9);
    for (size_t i = 0; i < n; i++) {
        char num[24];
        size_t len = kanal_kit_u64(num, seqs[i]);
        if (i)
            kanal_kit_buf_add(&b, ",", 1);
        kanal_kit_buf_add(&b, num, len);
    }
    if (as_unknown || p->a.records_unknown)
        kanal_kit_buf_add(&b, "],\"stored_as\":\"unknown\"}", 24);
    else
        kanal_kit_buf_add(&b, "]}", 2);
    if (b.err)
        kanal_kit_respond_error(h, req, 500, "internal", "out of memory");
    else
        h->http_respond(req, code, "application/json", b.data, b.len);
    kanal_kit_buf_free(&b);
}

static void on_done(void *arg, const struct kanal_kit_result *res)
{
    struct pending *p = arg;
    if (p->a.done)
        p->a.done(p->a.done_arg, res->status);
    answer(p, res->status, res->as_unknown, res->seqs, res->n);
    pending_free(p);
}

int kanal_kit_emit_answer(const struct kanal_host *host, struct kanal_source *src,
                          struct kanal_http_request *req, const char *json, size_t len,
                          const struct kanal_state_entry *states, size_t nstates,
                          const struct kanal_kit_answer *a)
{
    struct pending *p = calloc(1, sizeof *p);
    if (!p) {
        kanal_kit_respond_error(host, req, 500, "internal", "out of memory");
        return -ENOMEM;
    }
    p->host = host;
    p->src = src;
    p->req = req;
    if (a)
        p->a = *a;
    if (p->a.unknown) {
        p->u = *p->a.unknown;
        p->a.unknown = &p->u; /* the caller's may be gone by the commit */
    }
    if (!p->a.payload) {
        p->a.payload = req->body;
        p->a.payload_len = req->body_len;
    }
    int r = KEEP(p, 0, p->a.content_type);
    r = r ? r : KEEP(p, 1, p->a.body);
    r = r ? r : KEEP(p, 2, p->a.location);
    r = r ? r : KEEP(p, 3, p->a.busy_type);
    r = r ? r : KEEP(p, 4, p->a.busy_body);
    r = r ? r : KEEP(p, 5, p->a.unknown_json);
    r = r ? r : KEEP(p, 6, p->a.unknown_body);
    r = r ? r : KEEP(p, 7, p->u.id_prefix);
    r = r ? r : KEEP(p, 8, p->u.reason);
    r = r ? r : KEEP(p, 10, p->a.retry_after);
    if (p->a.unknown && !p->a.unknown_json && p->a.payload != req->body) {
        /* Kept until the commit; the request's own body lives until the answer. */
        const char *payload = p->a.payload;
        r = r ? r : keep(p, 9, &payload, p->a.payload_len);
        p->a.payload = payload;
    }
    if (r == 0) {
        const struct kanal_kit_fallback fb = {.build = build_unknown, .build_arg = p};
        int has = p->a.unknown_json || p->a.unknown;
        r = kanal_kit_emit_then(host, src, json, len, states, nstates, has ? &fb : NULL, on_done,
                                p);
    }
    if (r < 0) {
        answer(p, r, 0, NULL, 0);
        pending_free(p);
    }
    return r;
}
