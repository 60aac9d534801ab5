/* SPDX-License-Identifier: Apache-2.0 */
/* Messenger and Instagram messaging events (entry[].messaging[]).
 *
 *   message            kind message, inbound; text, attachments, quick reply,
 *                      reply_to; external id = mid
 *   message.is_echo    the page's own message: kind message, outbound
 *   postback           kind message with meta.postback; external id = mid
 *   reaction           kind reaction, reply_to = the message reacted to
 *   delivery, read     kind delivery/read with meta.watermark and meta.covers,
 *                      the outbound mids they cover; external id =
 *                      <psid>:<watermark>
 *
 * Every customer message opens the 24-hour window (state last_in:<handle>).
 * The page's outbound mids wait in out:<handle> until a read receipt covers
 * them, so receipts can name what they cover even when Meta lists no mids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fb.h"

#define OUTLIST_MAX 50

char *fb_outlist_add(const char *cur, const char *mid, int64_t unix_ms)
{
    json_t *list = cur ? json_loads(cur, 0, NULL) : NULL;
    if (!json_is_array(list)) {
        json_decref(list);
        list = json_array();
    }
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        if (json_is_array(e) && json_is_string(json_array_get(e, 0)) &&
            strcmp(json_string_value(json_array_get(e, 0)), mid) == 0) {
            char *same = json_dumps(list, JSON_COMPACT);
            json_decref(list);
            return same;
        }
    }
    json_array_append_new(list, json_pack("[s,I]", mid, (json_int_t)unix_ms));
    while (json_array_size(list) > OUTLIST_MAX)
        json_array_remove(list, 0);
    char *text = json_dumps(list, JSON_COMPACT);
    json_decref(list);
    return text;
}

static void track_outbound(struct meta_batch *b, const char *handle, const char *mid,
                           int64_t unix_ms)
{
    char key[700];
    snprintf(key, sizeof key, "out:%s", handle);
    char *cur = meta_batch_get_state(b, key);
    char *next = fb_outlist_add(cur, mid, unix_ms);
    if (next)
        meta_batch_set_state(b, key, next);
    free(cur);
    free(next);
}

/* The tracked mids sent at or before watermark; a read receipt also drops
 * them from the list (they are read, nothing later can cover them anew). */
static json_t *covered(struct meta_batch *b, const char *handle, int64_t watermark, int drop)
{
    char key[700];
    snprintf(key, sizeof key, "out:%s", handle);
    char *cur = meta_batch_get_state(b, key);
    json_t *list = cur ? json_loads(cur, 0, NULL) : NULL;
    free(cur);
    json_t *out = json_array(), *keep = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        const char *mid = json_string_value(json_array_get(e, 0));
        int64_t at = json_integer_value(json_array_get(e, 1));
        if (!mid)
            continue;
        if (at <= watermark)
            json_array_append_new(out, json_string(mid));
        else
            json_array_append(keep, e);
    }
    if (drop && json_array_size(out) > 0) {
        char *text = json_dumps(keep, JSON_COMPACT);
        meta_batch_set_state(b, key, json_array_size(keep) ? text : NULL);
        free(text);
    }
    json_decref(keep);
    json_decref(list);
    return out;
}

static json_t *attachments_of(json_t *message)
{
    json_t *out = json_array();
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(message, "attachments"), i, a)
    {
        const char *type = meta_str(a, "type");
        json_t *payload = json_object_get(a, "payload");
        const char *url = meta_str(payload, "url");
        if (!url)
            url = meta_str(a, "url");
        json_t *att = json_pack("{s:s}", "type", type ? type : "file");
        if (url)
            json_object_set_new(att, "url", json_string(url));
        const char *title = meta_str(a, "title");
        if (!title)
            title = meta_str(payload, "title");
        if (title)
            json_object_set_new(att, "name", json_string(title));
        json_array_append_new(out, att);
    }
    return out;
}

/* The fields every messaging record has. */
static json_t *base_record(const struct fb_entry *e, const char *kind, const char *direction,
                           const char *external_id, int64_t at, const char *handle, json_t *from,
                           json_t *to, struct meta *m)
{
    char when[32];
    meta_time_text(m, at, when);
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:[o],s:{}}", "kind", kind, "direction",
                     direction, "channel", e->channel, "external_id", external_id, "occurred_at",
                     when, "thread", handle, "from", from, "to", to, "meta");
}

static void message_event(struct facebook *fb, struct meta_batch *b, const struct fb_entry *e,
                          json_t *ev, json_t *message, const char *sender, const char *recipient,
                          int64_t at, int standby)
{
    char mid[260], handle[600];
    int echo = json_is_true(json_object_get(message, "is_echo"));
    const char *customer = echo ? recipient : sender;
    if (!meta_id(message, "mid", mid, sizeof mid) || !customer) {
        meta_batch_unknown(b, e->channel, ev, "message without mid, sender or recipient");
        return;
    }
    fb_customer_handle(e, customer, handle, sizeof handle);
    json_t *party = meta_party(handle, NULL, "customer", NULL, NULL);
    json_t *rec = echo ? base_record(e, "message", "outbound", mid, at, handle,
                                     fb_brand_party(e, NULL), party, &fb->meta)
                       : base_record(e, "message", "inbound", mid, at, handle, party,
                                     fb_brand_party(e, NULL), &fb->meta);
    json_t *meta = json_object_get(rec, "meta");
    const char *text = meta_str(message, "text");
    if (text)
        json_object_set_new(rec, "text", json_string(text));
    json_object_set_new(rec, "attachments", attachments_of(message));
    const char *reply_to = meta_str(json_object_get(message, "reply_to"), "mid");
    if (reply_to)
        json_object_set_new(rec, "reply_to", json_string(reply_to));
    json_t *story = json_object_get(json_object_get(message, "reply_to"), "story");
    if (story)
        json_object_set(meta, "story", story);
    json_t *qr = json_object_get(message, "quick_reply");
    if (json_is_object(qr))
        json_object_set(meta, "quick_reply", qr);
    json_t *v;
    if ((v = json_object_get(message, "sticker_id")))
        json_object_set(meta, "sticker_id", v);
    if ((v = json_object_get(message, "referral")))
        json_object_set(meta, "referral", v);
    if (json_is_true(json_object_get(message, "is_deleted")))
        json_object_set_new(meta, "deleted", json_true());
    if (echo) {
        json_object_set_new(meta, "echo", json_true());
        if ((v = json_object_get(message, "app_id")))
            json_object_set(meta, "app_id", v);
        track_outbound(b, handle, mid, at);
    } else {
        meta_batch_note_inbound(b, handle, at);
    }
    if (standby)
        json_object_set_new(meta, "standby", json_true());
    meta_batch_add(b, rec, ev);
}

static void postback_event(struct facebook *fb, struct meta_batch *b, const struct fb_entry *e,
                           json_t *ev, const char *sender, int64_t at)
{
    json_t *pb = json_object_get(ev, "postback");
    char mid[260], handle[600], ext[400];
    if (!sender) {
        meta_batch_unknown(b, e->channel, ev, "postback without a sender");
        return;
    }
    fb_customer_handle(e, sender, handle, sizeof handle);
    if (meta_id(pb, "mid", mid, sizeof mid))
        snprintf(ext, sizeof ext, "%s", mid);
    else /* older postbacks have no mid: the person, the button and the time */
        snprintf(ext, sizeof ext, "postback:%s:%lld", sender, (long long)at);
    json_t *rec = base_record(e, "message", "inbound", ext, at, handle,
                              meta_party(handle, NULL, "customer", NULL, NULL),
                              fb_brand_party(e, NULL), &fb->meta);
    const char *title = meta_str(pb, "title");
    if (title)
        json_object_set_new(rec, "text", json_string(title));
    json_t *meta = json_object_get(rec, "meta");
    json_object_set_new(meta, "postback",
                        json_pack("{s:s*,s:s*}", "title", title, "payload",
                                  json_string_value(json_object_get(pb, "payload"))));
    json_t *ref = json_object_get(pb, "referral");
    if (ref)
        json_object_set(meta, "referral", ref);
    meta_batch_note_inbound(b, handle, at);
    meta_batch_add(b, rec, ev);
}

static void reaction_event(struct facebook *fb, struct meta_batch *b, const struct fb_entry *e,
                           json_t *ev, const char *sender, int64_t at)
{
    json_t *r = json_object_get(ev, "reaction");
    char mid[260], handle[600], ext[700];
    const char *action = meta_str(r, "action");
    if (!sender || !meta_id(r, "mid", mid, sizeof mid) || !action) {
        meta_batch_unknown(b, e->channel, ev, "reaction without sender, mid or action");
        return;
    }
    fb_customer_handle(e, sender, handle, sizeof handle);
    /* A reaction has no id of its own: who, on what, which action, when. */
    snprintf(ext, sizeof ext, "%s:%s:%.20s:%lld", sender, mid, action, (long long)at);
    json_t *rec = base_record(e, "reaction", "inbound", ext, at, handle,
                              meta_party(handle, NULL, "customer", NULL, NULL),
                              fb_brand_party(e, NULL), &fb->meta);
    json_object_set_new(rec, "reply_to", json_string(mid));
    const char *emoji = meta_str(r, "emoji");
    if (emoji && strcmp(action, "react") == 0)
        json_object_set_new(rec, "text", json_string(emoji));
    json_object_set_new(json_object_get(rec, "meta"), "reaction",
                        json_pack("{s:s,s:s*,s:s*}", "action", action, "reaction",
                                  meta_str(r, "reaction"), "emoji", emoji));
    if (strcmp(action, "react") == 0)
        meta_batch_note_inbound(b, handle, at);
    meta_batch_add(b, rec, ev);
}

/* delivery and read: which outbound messages reached or were seen by the
 * customer.  Everything the page sent up to the watermark is covered. */
static void receipt_event(struct facebook *fb, struct meta_batch *b, const struct fb_entry *e,
                          json_t *ev, const char *sender, int64_t at, int is_read)
{
    json_t *r = json_object_get(ev, is_read ? "read" : "delivery");
    char handle[600], ext[600], mid[260];
    json_t *wm = json_object_get(r, "watermark");
    int has_mid = meta_id(r, "mid", mid, sizeof mid) != NULL; /* Instagram's read */
    if (!sender || (!json_is_integer(wm) && !has_mid)) {
        meta_batch_unknown(b, e->channel, ev, "receipt without sender or watermark");
        return;
    }
    fb_customer_handle(e, sender, handle, sizeof handle);
    json_t *covers;
    if (json_is_integer(wm)) {
        long long watermark = (long long)json_integer_value(wm);
        snprintf(ext, sizeof ext, "%s:%lld", sender, watermark);
        json_t *mids = json_object_get(r, "mids");
        if (json_is_array(mids) && json_array_size(mids) > 0) {
            covers = json_array();
            size_t i;
            json_t *x;
            json_array_foreach(mids, i, x) if (json_is_string(x)) json_array_append(covers, x);
            if (is_read)
                json_decref(covered(b, handle, watermark, 1));
        } else {
            covers = covered(b, handle, watermark, is_read);
        }
        if (at < 0)
            at = watermark;
    } else {
        snprintf(ext, sizeof ext, "%s:%s", sender, mid);
        covers = json_pack("[s]", mid);
        if (at < 0)
            at = e->time_ms;
    }
    json_t *rec = base_record(e, is_read ? "read" : "delivery", "inbound", ext, at, handle,
                              meta_party(handle, NULL, "customer", NULL, NULL),
                              fb_brand_party(e, NULL), &fb->meta);
    json_object_set_new(rec, "status", json_string(is_read ? "read" : "delivered"));
    json_t *meta = json_object_get(rec, "meta");
    if (json_is_integer(wm))
        json_object_set(meta, "watermark", wm);
    json_object_set_new(meta, "covers", covers);
    meta_batch_add(b, rec, ev);
}

void fb_messaging_event(struct facebook *fb, struct meta_batch *b, const struct fb_entry *e,
                        json_t *ev, int standby)
{
    char sender_buf[260], recipient_buf[260];
    const char *sender =
        meta_id(json_object_get(ev, "sender"), "id", sender_buf, sizeof sender_buf);
    const char *recipient =
        meta_id(json_object_get(ev, "recipient"), "id", recipient_buf, sizeof recipient_buf);
    if (!json_is_object(ev)) {
        meta_batch_unknown(b, e->channel, ev, "messaging item is not an object");
        return;
    }
    int64_t at = meta_time_ms(ev, "timestamp");
    json_t *message = json_object_get(ev, "message");
    if (json_is_object(message))
        message_event(fb, b, e, ev, message, sender, recipient, at >= 0 ? at : e->time_ms, standby);
    else if (json_is_object(json_object_get(ev, "postback")))
        postback_event(fb, b, e, ev, sender, at >= 0 ? at : e->time_ms);
    else if (json_is_object(json_object_get(ev, "reaction")))
        reaction_event(fb, b, e, ev, sender, at >= 0 ? at : e->time_ms);
    else if (json_is_object(json_object_get(ev, "delivery")))
        receipt_event(fb, b, e, ev, sender, at, 0);
    else if (json_is_object(json_object_get(ev, "read")))
        receipt_event(fb, b, e, ev, sender, at, 1);
    else
        meta_batch_unknown(b, e->channel, ev, "messaging event of a type kanal does not read");
}
