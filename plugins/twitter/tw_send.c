/* SPDX-License-Identifier: Apache-2.0 */
/* Outbound on X with the brand's user-context token: a post, a public
 * reply, or a direct message.  Which one is decided by the outbox message:
 *
 *   template {"type": "post" | "reply" | "dm"}    says so explicitly; otherwise
 *   to = "x:public" or the brand's own handle     a post, or a reply when reply_to is set
 *   to = "x:<user id>"                            a DM to that user
 *
 * The text is the message's text (or the template's "text").  The outbound
 * record (kind post, comment or message; external id = the new tweet or DM
 * event id) has the same kind and id the webhook gives the brand's own
 * tweet or DM, so whichever arrives second is recognised as the same.
 *
 *   2xx      sent
 *   429      retry at x-rate-limit-reset
 *   401/403  failed, and the source is reported unhealthy (the token is
 *            bad or lacks a scope), except X's refusal of duplicate content
 *   408/5xx, network errors: retry with backoff; other 4xx: failed
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_fetch.h"
#include "twitter.h"

enum action { POST, REPLY, DM };
static const char *const action_names[] = {"post", "reply", "dm"};

struct sending {
    struct twitter *tw;
    const struct kanal_send_request *msg;
    enum action action;
    char peer[TW_ID_MAX]; /* DM recipient, or the user a reply answers */
    char *text;
};

static void done(struct twitter *tw, const struct kanal_send_request *msg,
                 enum kanal_send_outcome outcome, const char *reason)
{
    struct kanal_send_result res = {.outcome = outcome, .retry_after_ms = -1, .reason = reason};
    tw->host->send_done(tw->src, msg, &res);
}

/* Work out what to do; on a refusal *why says what is wrong. */
static int plan(struct twitter *tw, const struct kanal_send_request *msg, struct sending *s,
                const char **why)
{
    json_t *tmpl = msg->template_json ? json_loads(msg->template_json, 0, NULL) : NULL;
    /* Copied: tmpl is freed below. */
    const char *given = json_string_value(json_object_get(tmpl, "type"));
    char type_buf[16];
    snprintf(type_buf, sizeof type_buf, "%s", given ? given : "");
    const char *type = given ? type_buf : NULL;
    const char *text = msg->text ? msg->text : json_string_value(json_object_get(tmpl, "text"));
    s->text = text ? strdup(text) : NULL;
    json_decref(tmpl);
    const char *to = msg->to;
    int is_public = strcmp(to, "x:public") == 0 || strcmp(to, "public") == 0;
    const char *user = strncmp(to, "x:", 2) == 0 ? to + 2 : NULL;
    if (user && strcmp(user, tw->user_id) == 0)
        is_public = 1;
    if (!is_public && tw_numeric_id(user))
        snprintf(s->peer, sizeof s->peer, "%s", user);
    *why = NULL;
    if (type && strcmp(type, "post") == 0)
        s->action = POST;
    else if (type && strcmp(type, "reply") == 0)
        s->action = REPLY;
    else if (type && strcmp(type, "dm") == 0)
        s->action = DM;
    else if (type)
        *why = "template.type must be post, reply or dm";
    else if (is_public)
        s->action = msg->reply_to ? REPLY : POST;
    else if (s->peer[0])
        s->action = DM;
    else
        *why = "'to' must be x:<numeric user id> (a DM) or x:public (a post or reply)";
    if (*why)
        return -EINVAL;
    if (!s->text || !*s->text)
        *why = "an X message needs text";
    else if (s->action == REPLY && !tw_numeric_id(msg->reply_to))
        *why = "a reply needs reply_to: the numeric id of the tweet answered";
    else if (s->action == DM && !s->peer[0])
        *why = "a DM needs 'to' = x:<numeric user id> of someone other than the brand";
    return *why ? -EINVAL : 0;
}

/* The outbound record, matching what the webhook makes of the same tweet/DM. */
static char *outbound_record(struct sending *s, const char *id, json_t *data)
{
    struct twitter *tw = s->tw;
    const struct kanal_send_request *msg = s->msg;
    char brand[64], peer[64], conv[80];
    const char *kind = s->action == POST ? "post" : s->action == REPLY ? "comment" : "message";
    json_t *rec =
        json_pack("{s:s,s:s,s:s,s:{s:s,s:s},s:s,s:{s:s}}", "kind", kind, "direction", "outbound",
                  "external_id", id, "from", "handle", tw_handle(tw->user_id, brand, sizeof brand),
                  "role", "brand", "text", s->text, "meta", "x_action", action_names[s->action]);
    json_t *to = json_array();
    if (s->peer[0])
        json_array_append_new(to,
                              json_pack("{s:s}", "handle", tw_handle(s->peer, peer, sizeof peer)));
    json_object_set_new(rec, "to", to);
    const char *thread = NULL;
    if (s->action == DM) {
        thread = json_string_value(json_object_get(data, "dm_conversation_id"));
        if (!thread) {
            tw_dm_conversation(tw->user_id, s->peer, conv, sizeof conv);
            thread = conv;
        }
    } else if (s->action == REPLY) {
        thread = tw_conv_lookup(tw, msg->reply_to);
    } else {
        thread = id;
    }
    if (thread) {
        json_object_set_new(rec, "thread", json_string(thread));
        if (s->action != DM)
            tw_conv_remember(tw, id, thread);
    }
    if (msg->reply_to)
        json_object_set_new(rec, "reply_to", json_string(msg->reply_to));
    char *text = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    return text;
}

static void on_sent(void *arg, struct api_fetch *f)
{
    struct sending *s = arg;
    struct twitter *tw = s->tw;
    const struct kanal_send_request *msg = s->msg;
    char why[400];
    api_fetch_describe(f, why, sizeof why);
    if (f->result != 0) {
        done(tw, msg, KANAL_SEND_RETRY, why);
    } else if (f->status >= 200 && f->status < 300) {
        json_t *body = api_fetch_json(f);
        json_t *data = json_object_get(body, "data");
        const char *id =
            json_string_value(json_object_get(data, s->action == DM ? "dm_event_id" : "id"));
        if (!id) {
            tw->host->log(tw->src, KANAL_LOG_WARNING,
                          "message %s: X accepted it but named no id; recording kanal's", msg->id);
            id = msg->id;
        }
        char *record = outbound_record(s, id, data);
        struct kanal_send_result res = {.outcome = KANAL_SEND_SENT,
                                        .provider_id = id,
                                        .record_json = record,
                                        .retry_after_ms = -1};
        tw_set_problem(tw, 1, NULL);
        tw->host->send_done(tw->src, msg, &res);
        free(record);
        json_decref(body);
    } else if (f->status == 429) {
        struct kanal_send_result res = {
            .outcome = KANAL_SEND_RETRY, .retry_after_ms = -1, .reason = why};
        if (f->rate_reset > 0) {
            int64_t wait = f->rate_reset * 1000 - tw->host->now_ms() + 250;
            res.retry_after_ms = wait > 0 ? wait : 0;
        } else if (f->retry_after >= 0) {
            res.retry_after_ms = f->retry_after * 1000;
        }
        tw->host->send_done(tw->src, msg, &res);
    } else if ((f->status == 401 || f->status == 403) && !strstr(why, "duplicate content")) {
        char problem[512];
        snprintf(problem, sizeof problem, "X refused the user token (%.200s)", why);
        tw_set_problem(tw, 1, problem);
        done(tw, msg, KANAL_SEND_FAILED, why);
    } else if (f->status == 408 || f->status >= 500) {
        done(tw, msg, KANAL_SEND_RETRY, why);
    } else {
        done(tw, msg, KANAL_SEND_FAILED, why);
    }
    api_fetch_free(f);
    free(s->text);
    free(s);
}

int tw_send(void *state, const struct kanal_send_request *msg)
{
    struct twitter *tw = state;
    if (!tw->user_token) {
        done(tw, msg, KANAL_SEND_FAILED, "this source has no user_token");
        return 0;
    }
    struct sending *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->tw = tw;
    s->msg = msg;
    const char *why;
    if (plan(tw, msg, s, &why) < 0) {
        free(s->text);
        free(s);
        done(tw, msg, KANAL_SEND_FAILED, why);
        return 0;
    }
    char url[512];
    json_t *body = json_pack("{s:s}", "text", s->text);
    if (s->action == DM) {
        snprintf(url, sizeof url, "%s/2/dm_conversations/with/%s/messages", tw->api_url, s->peer);
    } else {
        snprintf(url, sizeof url, "%s/2/tweets", tw->api_url);
        if (s->action == REPLY)
            json_object_set_new(body, "reply",
                                json_pack("{s:s}", "in_reply_to_tweet_id", msg->reply_to));
    }
    char *json = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    struct api_fetch *f = api_fetch_new(tw->host, tw->src, url, tw->timeout_ms);
    int r = f && json ? 0 : -ENOMEM;
    if (!r && !(r = api_fetch_bearer(f, tw->user_token)) && !(r = api_fetch_post_json(f, json))) {
        r = api_fetch_start(f, on_sent, s);
        f = NULL;
    }
    free(json);
    api_fetch_free(f);
    if (r < 0) {
        free(s->text);
        free(s);
    }
    return r;
}
