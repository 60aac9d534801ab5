/* SPDX-License-Identifier: Apache-2.0 */
/* A message of the cluster's outbox work queue as an edge reads it
 * (outbox_nats.c): the stream is written by core nodes, but what comes off
 * it is checked as strictly as POST /v1/messages before it is committed and
 * sent, and the entry the edge commits is made here.  No libnats: the fuzz
 * target tests/fuzz/fuzz_outboxmsg.c runs these on arbitrary bytes. */
#include <string.h>

#include <jansson.h>

#include "outbox_int.h"
#include "util.h"

json_t *outbox_wire_parse(const char *data, size_t len, const char **bad, const char **which)
{
    /* The bounds of POST /v1/messages (outbox_api.c); the id is a core's
     * <id>-<created_ms>. */
    static const struct {
        const char *name;
        size_t max;
    } need[] = {{"id", 96}, {"source", 64}, {"to", 512}, {"idempotency_key", 256}};
    static const struct {
        const char *name;
        size_t max;
    } opt[] = {{"text", 65536}, {"reply_to", 1024}, {"campaign", 256}};
    *bad = NULL;
    *which = "";
    json_t *in = json_loadb(data, len, 0, NULL);
    if (!json_is_object(in))
        *bad = "not a JSON object";
    for (size_t i = 0; !*bad && i < ARRAY_SIZE(need); i++) {
        json_t *v = json_object_get(in, need[i].name);
        *which = need[i].name;
        if (!json_is_string(v))
            *bad = "missing or not a string:";
        else if (!json_string_length(v) || json_string_length(v) > need[i].max)
            *bad = "empty or too long:";
    }
    for (size_t i = 0; !*bad && i < ARRAY_SIZE(opt); i++) {
        json_t *v = json_object_get(in, opt[i].name);
        *which = opt[i].name;
        if (v && !json_is_null(v) && (!json_is_string(v) || json_string_length(v) > opt[i].max))
            *bad = "not a string or too long:";
    }
    if (!*bad && !json_is_string(json_object_get(in, "text")) &&
        !json_is_object(json_object_get(in, "template"))) {
        *bad = "neither text nor template";
        *which = "";
    }
    if (*bad) {
        json_decref(in);
        return NULL;
    }
    *which = "";
    return in;
}

json_t *outbox_wire_entry(json_t *in, uint64_t num, int64_t now_ms)
{
    json_t *o = json_deep_copy(in);
    if (!o)
        return NULL;
    char created[32];
    util_format_time(now_ms, created, sizeof created);
    json_object_set_new(o, "num", json_integer((json_int_t)num));
    json_object_set_new(o, "status", json_string("queued"));
    json_object_set_new(o, "attempts", json_integer(0));
    json_object_set_new(o, "created_at", json_string(created));
    json_object_set_new(o, "next_try_ms", json_integer(now_ms));
    json_object_set_new(o, "cluster", json_true());
    return o;
}
