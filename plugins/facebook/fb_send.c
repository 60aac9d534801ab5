/* SPDX-License-Identifier: Apache-2.0 */
/* Outbound through the Messenger Send API (also Instagram direct messages):
 *
 *   POST {api_url}/{api_version}/{page_id}/messages?access_token=..&appsecret_proof=..
 *   {"recipient":{"id":PSID},"messaging_type":"RESPONSE","message":{"text":..}}
 *   -> {"recipient_id":..,"message_id":..}
 *
 * "to" is fb:<page_id>/<psid>, ig:<igsid>, or a bare PSID.  Free text is only
 * allowed within 24 hours of the customer's last message on this source
 * (state last_in:<handle>); outside it the message fails before Meta is
 * called. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fb.h"

struct fb_sending {
    struct facebook *fb;
    const struct kanal_send_request *msg;
    int instagram;
    char psid[256];
    char handle[600];
};

static int fail(struct facebook *fb, const struct kanal_send_request *msg, const char *reason)
{
    struct kanal_send_result res = {
        .outcome = KANAL_SEND_FAILED, .retry_after_ms = -1, .reason = reason};
    return fb->meta.host->send_done(fb->meta.src, msg, &res);
}

static int safe_id(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n < 200 &&
           strspn(s, "0123456789abcdefghijklmnopqrstuvwxyz"
                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ_-.") == n;
}

/* Who to send to; 0, or a reason in why. */
static int parse_to(struct facebook *fb, struct fb_sending *s, const char *to, char *why,
                    size_t why_len)
{
    const char *psid = to;
    if (strncmp(to, "ig:", 3) == 0) {
        s->instagram = 1;
        psid = to + 3;
    } else if (strncmp(to, "fb:", 3) == 0) {
        const char *slash = strchr(to + 3, '/');
        if (!slash) {
            snprintf(why, why_len, "'to' fb:%.100s is not fb:<page_id>/<psid>", to + 3);
            return -1;
        }
        size_t plen = (size_t)(slash - (to + 3));
        if (strlen(fb->page_id) != plen || strncmp(to + 3, fb->page_id, plen) != 0) {
            snprintf(why, why_len, "'to' is a person of page %.*s; this source sends as page %s",
                     (int)(plen > 40 ? 40 : plen), to + 3, fb->page_id);
            return -1;
        }
        psid = slash + 1;
    }
    if (!safe_id(psid)) {
        snprintf(why, why_len,
                 "cannot send to '%.100s': give fb:<page_id>/<psid>, ig:<id> or a "
                 "PSID",
                 to);
        return -1;
    }
    snprintf(s->psid, sizeof s->psid, "%s", psid);
    if (s->instagram)
        snprintf(s->handle, sizeof s->handle, "ig:%s", psid);
    else
        snprintf(s->handle, sizeof s->handle, "fb:%s/%s", fb->page_id, psid);
    return 0;
}

static char *outbound_record(struct fb_sending *s, const char *mid)
{
    struct facebook *fb = s->fb;
    char when[32], brand[300];
    meta_time_text(&fb->meta, -1, when);
    if (s->instagram && fb->ig_account[0])
        snprintf(brand, sizeof brand, "ig:%s", fb->ig_account);
    else
        snprintf(brand, sizeof brand, "fbpage:%s", fb->page_id);
    json_t *rec = json_pack(
        "{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:[o],s:s}", "kind", "message", "direction", "outbound",
        "channel", s->instagram ? "instagram" : "facebook", "external_id", mid, "occurred_at", when,
        "thread", s->handle, "from", meta_party(brand, NULL, "brand", NULL, NULL), "to",
        meta_party(s->handle, NULL, "customer", NULL, NULL), "text", s->msg->text);
    if (s->msg->reply_to)
        json_object_set_new(rec, "reply_to", json_string(s->msg->reply_to));
    char *text = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    return text;
}

/* Receipts name the messages they cover: remember this one. */
static void remember_sent(struct facebook *fb, const char *handle, const char *mid)
{
    char key[700];
    snprintf(key, sizeof key, "out:%s", handle);
    char *cur = meta_state_get(&fb->meta, key);
    char *next = fb_outlist_add(cur, mid, fb->meta.host->now_ms());
    if (next) {
        struct kanal_state_entry st = {key, next, strlen(next)};
        meta_state_put(&fb->meta, &st, 1);
    }
    free(cur);
    free(next);
}

static void on_reply(void *arg, const struct meta_reply *reply)
{
    struct fb_sending *s = arg;
    struct facebook *fb = s->fb;
    struct kanal_send_result res = {.retry_after_ms = -1};
    char reason[700];
    char *record = NULL;
    json_t *o = meta_send_reply(&fb->meta, reply, &res, reason, sizeof reason);
    if (o) {
        const char *mid = meta_str(o, "message_id");
        if (mid) {
            res.provider_id = mid;
            record = outbound_record(s, mid);
            res.record_json = record;
            remember_sent(fb, s->handle, mid);
        } else {
            fb->meta.host->log(fb->meta.src, KANAL_LOG_WARNING,
                               "message %s: the Send API answered without a message_id",
                               s->msg->id);
            res.provider_id = s->msg->id;
        }
    }
    fb->meta.host->send_done(fb->meta.src, s->msg, &res);
    json_decref(o);
    free(record);
    free(s);
}

int fb_send(void *state, const struct kanal_send_request *msg)
{
    struct facebook *fb = state;
    char why[300];
    if (!fb->page_id || !fb->page_token)
        return fail(fb, msg, "this source has no page_id and page_access_token: it cannot send");
    if (!msg->text || !*msg->text)
        return fail(fb, msg,
                    msg->template_json
                        ? "the facebook plugin sends text; templates are for WhatsApp"
                        : "the message has no text");
    struct fb_sending *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->fb = fb;
    s->msg = msg;
    if (parse_to(fb, s, msg->to, why, sizeof why) < 0) {
        free(s);
        return fail(fb, msg, why);
    }
    if (!meta_window_open(&fb->meta, s->handle, fb->meta.host->now_ms())) {
        free(s);
        return fail(fb, msg, META_WINDOW_REASON);
    }
    json_t *body = json_pack("{s:{s:s},s:s,s:{s:s}}", "recipient", "id", s->psid, "messaging_type",
                             "RESPONSE", "message", "text", msg->text);
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    int r = text ? meta_graph_post(&fb->meta, fb->page_id, "messages", fb->page_token,
                                   META_TOKEN_QUERY, text, on_reply, s)
                 : -ENOMEM;
    free(text);
    if (r < 0)
        free(s);
    return r;
}
