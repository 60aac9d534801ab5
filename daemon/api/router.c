/* Which code answers which path. */
#include "router.h"

#include <string.h>

#include <jansson.h>

#include "auth.h"
#include "contacts_api.h"
#include "daemon.h"
#include "error.h"
#include "feed.h"
#include "http.h"
#include "links.h"
#include "log.h"
#include "metrics.h"
#include "outbox_api.h"
#include "util.h"

static void respond_json(struct http_req *req, int status, json_t *o)
{
    char *text = json_dumps(o, JSON_COMPACT);
    http_respond(req, status, "application/json", text, strlen(text));
    free(text);
    json_decref(o);
}

static void handle_hook(struct daemon *d, struct http_req *req, const char *name)
{
    req->route = "hooks";
    char buf[80];
    size_t n = strcspn(name, "/");
    if (n == 0 || n >= sizeof buf) {
        http_respond_error(req, 404, "unknown_source", "no such source");
        return;
    }
    memcpy(buf, name, n);
    buf[n] = '\0';
    struct kanal_source *src = daemon_find_source(d, buf);
    if (!src) {
        http_respond_error(req, 404, "unknown_source", "no source of that name is running");
        return;
    }
    if (!src->plugin->http) {
        http_respond_error(req, 404, "no_webhooks", "this source takes no webhooks");
        return;
    }
    if (d->stopping) {
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

static void handle_healthz(struct daemon *d, struct http_req *req)
{
    req->route = "healthz";
    json_t *srcs = json_object();
    int healthy = 1;
    int64_t now = util_now_ms();
    for (size_t i = 0; i < d->nsources; i++) {
        struct kanal_source *s = d->sources[i];
        source_check_silence(s, now);
        int ok = s->healthy && !s->silent_reported;
        healthy &= ok;
        json_t *o = json_pack("{s:s}", "status", ok ? "ok" : "unhealthy");
        if (!s->healthy && s->health_reason)
            json_object_set_new(o, "reason", json_string(s->health_reason));
        else if (s->silent_reported)
            json_object_set_new(o, "reason", json_string("silent longer than expect_traffic_within"));
        json_object_set_new(srcs, s->sc.name, o);
    }
    /* Liveness: kanald answers, so 200; the detail says what is degraded. */
    respond_json(req, 200,
                 json_pack("{s:s,s:I,s:o}", "status", healthy ? "ok" : "degraded", "last_seq",
                           (json_int_t)store_last_seq(&d->store), "sources", srcs));
}

void router_handle(void *arg, struct http_req *req)
{
    struct daemon *d = arg;
    const char *path = req->pub.path;
    if (strncmp(path, "/hooks/", 7) == 0) {
        handle_hook(d, req, path + 7);
        return;
    }
    if (strcmp(path, "/healthz") == 0) {
        if (strcmp(req->pub.method, "GET") && strcmp(req->pub.method, "HEAD"))
            http_respond_error(req, 405, "method_not_allowed", "use GET");
        else
            handle_healthz(d, req);
        return;
    }
    if (strcmp(path, "/v1/interactions") == 0 || strncmp(path, "/v1/interactions/", 17) == 0) {
        req->route = "interactions";
        if (strcmp(req->pub.method, "GET") && strcmp(req->pub.method, "HEAD")) {
            http_respond_error(req, 405, "method_not_allowed", "use GET");
            return;
        }
        if (!auth_require(d->tokens, req, SCOPE_READ))
            return;
        feed_handle(d, req, path + 16);
        return;
    }
    if (strcmp(path, "/v1/messages") == 0) {
        req->route = "messages";
        if (strcmp(req->pub.method, "POST")) {
            http_respond_error(req, 405, "method_not_allowed", "use POST");
            return;
        }
        if (auth_require(d->tokens, req, SCOPE_WRITE))
            outbox_handle_post(d->outbox, req);
        return;
    }
    if (strncmp(path, "/v1/messages/", 13) == 0) {
        req->route = "messages";
        if (strcmp(req->pub.method, "GET")) {
            http_respond_error(req, 405, "method_not_allowed", "use GET");
            return;
        }
        if (auth_require(d->tokens, req, SCOPE_READ))
            outbox_handle_get(d->outbox, req, path + 13);
        return;
    }
    if (strcmp(path, "/v1/sources") == 0) {
        req->route = "sources";
        if (auth_require(d->tokens, req, SCOPE_READ))
            sources_handle(d, req);
        return;
    }
    if (strcmp(path, "/v1/contacts") == 0 || strncmp(path, "/v1/contacts/", 13) == 0) {
        contacts_handle(d, req, path + 12);
        return;
    }
    if (strcmp(path, "/v1/links") == 0) {
        req->route = "links";
        if (strcmp(req->pub.method, "POST")) {
            http_respond_error(req, 405, "method_not_allowed", "use POST");
            return;
        }
        if (auth_require(d->tokens, req, SCOPE_WRITE))
            links_create(d, req);
        return;
    }
    /* Public: the token is the credential.  GET/HEAD, and POST for an
     * unsubscribe link's opt-out (links.c). */
    if (strncmp(path, "/t/", 3) == 0 || strncmp(path, "/u/", 3) == 0) {
        links_route(d, req, path + 3, path[1] == 'u');
        return;
    }
    if (strcmp(path, "/metrics") == 0) {
        req->route = "metrics";
        metrics_handle(d, req);
        return;
    }
    req->route = "other";
    if (strncmp(path, "/v1/", 4) == 0 && !auth_require(d->tokens, req, SCOPE_READ))
        return;
    http_respond_error(req, 404, "not_found", "no such route");
}
