/* SPDX-License-Identifier: Apache-2.0 */
/* The route table: every path kanald answers (router.c matches requests
 * against it).  docs/architecture.md's "HTTP API" table lists the same
 * routes; tests/e2e/test_docs.py compares the two through kanald --routes.
 * Handlers get the path's parameters; the thin ones here adapt handlers
 * that take them in another form. */
#include <string.h>

#include <jansson.h>

#include "candidates_api.h"
#include "contacts_api.h"
#include "erase.h"
#include "error.h"
#include "feed.h"
#include "http.h"
#include "linkhit.h"
#include "links.h"
#include "log.h"
#include "metrics.h"
#include "openapi.h"
#include "outbox.h"
#include "outbox_api.h"
#include "respond.h"
#include "routes.h"
#include "scores_api.h"
#include "source.h"
#include "stages.h"
#include "stages_api.h"
#include "store.h"
#include "util.h"

/* /hooks/{source}/...: the source's plugin answers, the query untouched. */
static void handle_hook(void *ctx, struct http_req *req, const struct route_params *p)
{
    struct source_set *set = ctx;
    const char *name = route_param(p, "source");
    if (strlen(name) >= 80) {
        http_respond_error(req, 404, "unknown_source", "no such source");
        return;
    }
    struct kanal_source *src = source_find(set, name);
    if (!src) {
        http_respond_error(req, 404, "unknown_source", "no source of that name is running");
        return;
    }
    if (!src->plugin->http) {
        http_respond_error(req, 404, "no_webhooks", "this source takes no webhooks");
        return;
    }
    if (set->stopping) {
        http_respond_error(req, 503, "stopping", "kanald is stopping; retry later");
        return;
    }
    src->requests++;
    req->owner = src;
    source_ref(src);
    int r = src->plugin->http(src->state, &req->pub);
    if (r < 0) {
        /* The plugin did not and will not answer. */
        log_msg(KANAL_LOG_ERR, src->sc.name, "webhook handler failed: %s", kanal_strerror(r));
        req->owner = NULL;
        http_respond_error(req, 500, "internal", "the source's plugin failed");
        source_unref(src);
    }
}

static void handle_healthz(void *ctx, struct http_req *req, const struct route_params *p)
{
    struct source_set *set = ctx;
    (void)p;
    json_t *srcs = json_object();
    int healthy = 1;
    int64_t now = util_now_ms();
    for (size_t i = 0; i < set->nsources; i++) {
        struct kanal_source *s = set->sources[i];
        source_check_silence(s, now);
        int ok = s->healthy && !s->silent_reported;
        healthy &= ok;
        json_t *o = json_pack("{s:s}", "status", ok ? "ok" : "unhealthy");
        if (!s->healthy && s->health_reason)
            json_object_set_new(o, "reason", json_string(s->health_reason));
        else if (s->silent_reported)
            json_object_set_new(o, "reason",
                                json_string("silent longer than expect_traffic_within"));
        json_object_set_new(srcs, s->sc.name, o);
    }
    json_t *sinks = json_object();
    healthy &= stages_health(set, sinks);
    /* Liveness: kanald answers, so 200; the detail says what is degraded. */
    api_respond_json(req, 200,
                 json_pack("{s:s,s:I,s:o,s:o}", "status", healthy ? "ok" : "degraded", "last_seq",
                           (json_int_t)store_last_seq(set->host->store), "sources", srcs, "sinks",
                           sinks));
}

static void r_metrics(void *ctx, struct http_req *req, const struct route_params *p)
{
    (void)p;
    metrics_handle(ctx, req);
}

static void r_feed(void *ctx, struct http_req *req, const struct route_params *p)
{
    struct feed *f = ctx;
    (void)p;
    feed_handle(f, req, "");
}

static void r_record(void *ctx, struct http_req *req, const struct route_params *p)
{
    struct feed *f = ctx;
    /* feed_handle takes what follows /v1/interactions. */
    char rest[ROUTE_PARAM_BUF + 1];
    snprintf(rest, sizeof rest, "/%s", route_param(p, "seq"));
    feed_handle(f, req, rest);
}

static void r_send(void *ctx, struct http_req *req, const struct route_params *p)
{
    struct outbox *ob = ctx;
    (void)p;
    outbox_handle_post(ob, req);
}

static void r_message(void *ctx, struct http_req *req, const struct route_params *p)
{
    struct outbox *ob = ctx;
    outbox_handle_get(ob, req, route_param(p, "id"));
}

static void r_sources(void *ctx, struct http_req *req, const struct route_params *p)
{
    (void)p;
    sources_handle(ctx, req);
}

static void r_sinks(void *ctx, struct http_req *req, const struct route_params *p)
{
    (void)p;
    stages_sinks_handle(ctx, req);
}

static void r_links(void *ctx, struct http_req *req, const struct route_params *p)
{
    struct links *l = ctx;
    (void)p;
    links_create(l, req);
}

/* Public: the token is the credential. */
static void r_click(void *ctx, struct http_req *req, const struct route_params *p)
{
    struct links *l = ctx;
    links_route(l, req, route_param(p, "token"), 0);
}

static void r_unsubscribe(void *ctx, struct http_req *req, const struct route_params *p)
{
    struct links *l = ctx;
    links_route(l, req, route_param(p, "token"), 1);
}

/* GET /v1/openapi.json: docs/openapi.yaml as JSON (openapi.h), the
 * document that lists every row below.  Scope read, like the rest of /v1/:
 * it tells nothing a token holder could not learn by asking. */
static void r_openapi(void *ctx, struct http_req *req, const struct route_params *p)
{
    (void)ctx;
    (void)p;
    http_respond(req, 200, "application/json", openapi_json, openapi_json_len);
}

/* Literal paths before the patterns that would also match them
 * (/v1/contacts/import before /v1/contacts/{id}). */
const struct route route_table[] = {
    {"*", "/hooks/{source}/...", SCOPE_NONE, "hooks", "*", ROUTE_SOURCES, handle_hook},
    {"GET HEAD", "/healthz", SCOPE_NONE, "healthz", "", ROUTE_SOURCES, handle_healthz},
    {"GET HEAD", "/metrics", SCOPE_NONE, "metrics", "", ROUTE_METRICS, r_metrics},
    {"GET HEAD", "/v1/interactions", SCOPE_READ, "interactions",
     "after limit source channel kind contact wait sentiment complaint", ROUTE_FEED, r_feed},
    {"GET HEAD", "/v1/interactions/{seq}", SCOPE_READ, "interactions", "", ROUTE_FEED, r_record},
    {"POST", "/v1/messages", SCOPE_WRITE, "messages", "", ROUTE_OUTBOX, r_send},
    {"GET HEAD", "/v1/messages/{id}", SCOPE_READ, "messages", "", ROUTE_OUTBOX, r_message},
    {"GET HEAD", "/v1/sources", SCOPE_READ, "sources", "", ROUTE_METRICS, r_sources},
    {"GET HEAD", "/v1/sinks", SCOPE_READ, "sinks", "", ROUTE_SOURCES, r_sinks},
    {"GET HEAD", "/v1/contacts", SCOPE_READ, "contacts", "handle default_country", ROUTE_CONTACTS,
     contacts_route_find},
    {"POST", "/v1/contacts/import", SCOPE_ADMIN, "contacts", "", ROUTE_CONTACTS,
     contacts_route_import},
    {"GET HEAD", "/v1/contacts/candidates", SCOPE_ADMIN, "contacts", "after limit", ROUTE_CONTACTS,
     candidates_route_list},
    {"DELETE", "/v1/contacts/candidates/{id}", SCOPE_ADMIN, "contacts", "", ROUTE_CONTACTS,
     candidates_route_reject},
    {"POST", "/v1/contacts/candidates/{id}/reject", SCOPE_ADMIN, "contacts", "", ROUTE_CONTACTS,
     candidates_route_reject},
    {"PUT", "/v1/contacts/crm/{crm_id}", SCOPE_ADMIN, "contacts", "", ROUTE_CONTACTS,
     contacts_route_put_crm},
    {"GET HEAD", "/v1/contacts/{id}", SCOPE_READ, "contacts", "", ROUTE_CONTACTS,
     contacts_route_get},
    {"DELETE", "/v1/contacts/{id}", SCOPE_ADMIN, "contacts", "", ROUTE_CONTACTS,
     contacts_route_erase},
    {"GET HEAD", "/v1/contacts/{id}/interactions", SCOPE_READ, "contacts", "after limit",
     ROUTE_CONTACTS, contacts_route_interactions},
    {"GET HEAD", "/v1/contacts/{id}/export", SCOPE_ADMIN, "contacts", "after limit", ROUTE_CONTACTS,
     contacts_route_export},
    {"POST", "/v1/contacts/{id}/split", SCOPE_ADMIN, "contacts", "", ROUTE_CONTACTS,
     contacts_route_split},
    {"POST", "/v1/contacts/{id}/merge", SCOPE_ADMIN, "contacts", "", ROUTE_CONTACTS,
     contacts_route_merge},
    {"POST", "/v1/contacts/{id}/consent", SCOPE_WRITE, "contacts", "", ROUTE_CONTACTS,
     contacts_route_consent},
    {"GET HEAD", "/v1/contacts/{id}/scores", SCOPE_READ, "scores", "", ROUTE_SCORES,
     scores_route_contact},
    {"GET HEAD", "/v1/audiences", SCOPE_READ, "scores", "", ROUTE_SCORES, scores_route_list},
    {"GET HEAD", "/v1/audiences/{id}", SCOPE_READ, "scores", "", ROUTE_SCORES, scores_route_get},
    {"GET HEAD", "/v1/audiences/{id}/contacts", SCOPE_READ, "scores", "order limit after",
     ROUTE_SCORES, scores_route_contacts},
    {"GET HEAD", "/v1/audiences/{id}/advocates", SCOPE_READ, "scores", "limit after", ROUTE_SCORES,
     scores_route_advocates},
    {"POST", "/v1/scores/refresh", SCOPE_ADMIN, "scores", "", ROUTE_SCORES, scores_route_refresh},
    {"POST", "/v1/links", SCOPE_WRITE, "links", "", ROUTE_LINKS, r_links},
    {"GET HEAD POST", "/t/{token}", SCOPE_NONE, "click", "*", ROUTE_LINKS, r_click},
    {"GET HEAD POST", "/u/{token}", SCOPE_NONE, "unsubscribe", "*", ROUTE_LINKS, r_unsubscribe},
    {"GET HEAD", "/v1/openapi.json", SCOPE_READ, "openapi", "", ROUTE_OPENAPI, r_openapi},
};
const size_t route_count = ARRAY_SIZE(route_table);
