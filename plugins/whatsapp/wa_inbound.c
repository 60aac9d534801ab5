/* SPDX-License-Identifier: Apache-2.0 */
/* One "messages" change value of the WhatsApp Cloud API webhook.
 *
 *   messages[]  kind message (reaction: kind reaction), inbound, external id
 *               = the wamid; the sender is wa:<wa_id> + phone:+<wa_id> named
 *               by contacts[].profile.name; context.id is reply_to
 *   statuses[]  sent/delivered/failed -> kind delivery, read -> kind read,
 *               external id <wamid>:<status>, reply_to = the outbound wamid;
 *               applied monotonically: the highest status per message is
 *               kept in the state entry st:<wamid>, and a lower one that
 *               arrives late is acknowledged without a record
 *   errors[]    asynchronous errors of the business number: kind delivery,
 *               status failed, from the business number, meta.errors
 *
 * A customer message opens the 24-hour window (state last_in:wa:<wa_id>). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wa.h"

/* A wa_id that also is an E.164 number (8 to 15 digits, no leading 0). */
static int phone_ok(const char *digits)
{
    size_t n = strlen(digits);
    return meta_digits(digits) && n >= 8 && n <= 15 && digits[0] != '0';
}

static void add_person_handles(json_t *list, const char *wa_id)
{
    char h[48];
    snprintf(h, sizeof h, "wa:%s", wa_id);
    json_array_append_new(list, json_string(h));
    if (phone_ok(wa_id)) {
        snprintf(h, sizeof h, "phone:+%s", wa_id);
        json_array_append_new(list, json_string(h));
    }
}

/* wa:<wa_id> with phone:+<wa_id>, and the new number's handles when the
 * customer changed numbers, so identity resolution links them. */
static json_t *customer_party(const char *wa_id, const char *name, const char *new_wa_id)
{
    char h[48];
    snprintf(h, sizeof h, "wa:%s", wa_id);
    /* WhatsApp itself pairs a wa_id with its number (and a changed number
     * with the old one): verified evidence, which may merge contacts. */
    json_t *p = json_pack("{s:s,s:s,s:s}", "handle", h, "role", "customer", "trust", "verified");
    if (name)
        json_object_set_new(p, "name", json_string(name));
    json_t *list = json_array();
    add_person_handles(list, wa_id);
    if (new_wa_id)
        add_person_handles(list, new_wa_id);
    json_object_set_new(p, "handles", list);
    return p;
}

static const char *contact_name(json_t *value, const char *wa_id)
{
    json_t *contacts = json_object_get(value, "contacts");
    size_t i;
    json_t *c;
    json_array_foreach(contacts, i, c)
    {
        const char *id = meta_str(c, "wa_id");
        if ((id && strcmp(id, wa_id) == 0) || (!id && json_array_size(contacts) == 1))
            return meta_str(json_object_get(c, "profile"), "name");
    }
    return NULL;
}

static json_t *base_record(struct whatsapp *wa, const char *kind, const char *external_id,
                           int64_t at, const char *wa_id, json_t *from)
{
    char when[32], thread[48];
    meta_time_text(&wa->meta, at, when);
    snprintf(thread, sizeof thread, "wa:%s", wa_id);
    return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:[o],s:{}}", "kind", kind, "direction",
                     "inbound", "channel", "whatsapp", "external_id", external_id, "occurred_at",
                     when, "thread", thread, "from", from, "to", wa_brand_party(wa), "meta");
}

static void copy_member(json_t *to, const char *to_key, json_t *from, const char *key)
{
    json_t *v = json_object_get(from, key);
    if (v && !json_is_null(v))
        json_object_set(to, to_key, v);
}

/* image, audio, video, document, sticker: the media id, mime type, caption. */
static void media(json_t *rec, const char *type, json_t *obj)
{
    json_t *att = json_pack("{s:s}", "type", type);
    copy_member(att, "id", obj, "id");
    copy_member(att, "mime", obj, "mime_type");
    copy_member(att, "caption", obj, "caption");
    copy_member(att, "name", obj, "filename");
    json_object_set_new(rec, "attachments", json_pack("[o]", att));
    const char *caption = meta_str(obj, "caption");
    if (caption)
        json_object_set_new(rec, "text", json_string(caption));
    json_t *meta = json_object_get(rec, "meta");
    copy_member(meta, "sha256", obj, "sha256");
    if (json_is_true(json_object_get(obj, "voice")))
        json_object_set_new(meta, "voice", json_true());
    if (json_is_true(json_object_get(obj, "animated")))
        json_object_set_new(meta, "animated", json_true());
}

/* Shared contact cards: text names them; those on WhatsApp are mentions. */
static void contacts_message(json_t *rec, json_t *cards)
{
    json_t *meta = json_object_get(rec, "meta");
    json_object_set(meta, "contacts", cards);
    json_t *mentions = json_array();
    char *text = NULL;
    size_t len = 0, i, j;
    json_t *card, *phone;
    json_array_foreach(cards, i, card)
    {
        const char *name = meta_str(json_object_get(card, "name"), "formatted_name");
        if (name) {
            size_t n = strlen(name);
            char *t = realloc(text, len + n + 3);
            if (t) {
                text = t;
                if (len)
                    memcpy(text + len, ", ", 2), len += 2;
                memcpy(text + len, name, n + 1);
                len += n;
            }
        }
        json_array_foreach(json_object_get(card, "phones"), j, phone)
        {
            const char *wa_id = meta_str(phone, "wa_id");
            if (wa_id && meta_digits(wa_id))
                json_array_append_new(mentions, customer_party(wa_id, name, NULL));
        }
    }
    if (text)
        json_object_set_new(rec, "text", json_string(text));
    free(text);
    json_object_set_new(rec, "mentions", mentions);
}

static void interactive(json_t *rec, json_t *obj)
{
    const char *type = meta_str(obj, "type");
    json_t *reply = type ? json_object_get(obj, type) : NULL;
    json_t *info = json_pack("{s:s*}", "type", type);
    copy_member(info, "id", reply, "id");
    copy_member(info, "title", reply, "title");
    copy_member(info, "description", reply, "description");
    copy_member(info, "response_json", reply, "response_json"); /* flows */
    const char *title = meta_str(reply, "title");
    if (!title)
        title = meta_str(reply, "body");
    if (title)
        json_object_set_new(rec, "text", json_string(title));
    json_object_set_new(json_object_get(rec, "meta"), "interactive", info);
}

static void message(struct whatsapp *wa, struct meta_batch *b, json_t *value, json_t *msg)
{
    char from_buf[40], id_buf[300];
    const char *from = meta_id(msg, "from", from_buf, sizeof from_buf);
    const char *id = meta_id(msg, "id", id_buf, sizeof id_buf);
    const char *type = meta_str(msg, "type");
    if (!from || !meta_digits(from) || !id || !type) {
        meta_batch_unknown(b, "whatsapp", msg, "message without a numeric from, id or type");
        return;
    }
    static const char *const media_types[] = {"image", "audio", "video", "document", "sticker"};
    int is_media = 0;
    for (size_t i = 0; i < sizeof media_types / sizeof media_types[0]; i++)
        is_media |= strcmp(type, media_types[i]) == 0;
    static const char *const known[] = {"text",   "location", "contacts", "interactive",
                                        "button", "reaction", "system",   "order"};
    int is_known = is_media;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        is_known |= strcmp(type, known[i]) == 0;
    json_t *obj = json_object_get(msg, type);
    /* Every type carries an object named after it; contacts an array. */
    int shaped = strcmp(type, "contacts") == 0 ? json_is_array(obj) : json_is_object(obj);
    if (!is_known || !shaped) {
        char why[120];
        snprintf(why, sizeof why, "whatsapp message of type '%.40s'", type);
        meta_batch_unknown(b, "whatsapp", msg, why);
        return;
    }
    int64_t at = meta_time_ms(msg, "timestamp");
    if (at < 0)
        at = wa->meta.host->now_ms();
    const char *name = contact_name(value, from);
    char new_buf[40];
    const char *new_id = NULL;
    if (strcmp(type, "system") == 0) {
        /* user_changed_number names the new number in wa_id (new_wa_id
         * in older versions). */
        new_id = meta_id(obj, "wa_id", new_buf, sizeof new_buf);
        if (!new_id)
            new_id = meta_id(obj, "new_wa_id", new_buf, sizeof new_buf);
        if (new_id && (!meta_digits(new_id) || strcmp(new_id, from) == 0))
            new_id = NULL;
    }
    int is_reaction = strcmp(type, "reaction") == 0;
    json_t *rec = base_record(wa, is_reaction ? "reaction" : "message", id, at, from,
                              customer_party(from, name, new_id));
    json_t *meta = json_object_get(rec, "meta");
    json_object_set_new(meta, "type", json_string(type));
    json_t *context = json_object_get(msg, "context");
    const char *reply_to = meta_str(context, "id");
    if (reply_to)
        json_object_set_new(rec, "reply_to", json_string(reply_to));
    if (json_is_true(json_object_get(context, "forwarded")))
        json_object_set_new(meta, "forwarded", json_true());
    if (json_is_true(json_object_get(context, "frequently_forwarded")))
        json_object_set_new(meta, "frequently_forwarded", json_true());
    copy_member(meta, "referred_product", context, "referred_product");
    copy_member(meta, "referral", msg, "referral");

    if (strcmp(type, "text") == 0) {
        const char *body = meta_str(obj, "body");
        if (body)
            json_object_set_new(rec, "text", json_string(body));
    } else if (is_media) {
        media(rec, type, obj);
    } else if (strcmp(type, "location") == 0) {
        json_object_set(meta, "location", obj);
        const char *lname = meta_str(obj, "name"), *addr = meta_str(obj, "address");
        char text[600];
        if (lname || addr) {
            snprintf(text, sizeof text, "%s%s%s", lname ? lname : "", lname && addr ? ", " : "",
                     addr ? addr : "");
            json_object_set_new(rec, "text", json_string(text));
        }
    } else if (strcmp(type, "contacts") == 0) {
        contacts_message(rec, obj);
    } else if (strcmp(type, "interactive") == 0) {
        interactive(rec, obj);
    } else if (strcmp(type, "button") == 0) {
        const char *text = meta_str(obj, "text");
        if (text)
            json_object_set_new(rec, "text", json_string(text));
        json_object_set_new(
            meta, "button",
            json_pack("{s:s*,s:s*}", "text", text, "payload", meta_str(obj, "payload")));
    } else if (is_reaction) {
        const char *emoji = meta_str(obj, "emoji");
        const char *target = meta_str(obj, "message_id");
        if (target)
            json_object_set_new(rec, "reply_to", json_string(target));
        if (emoji)
            json_object_set_new(rec, "text", json_string(emoji));
        /* An empty emoji takes the reaction back. */
        json_object_set_new(
            meta, "reaction",
            json_pack("{s:s,s:s*}", "action", emoji ? "react" : "unreact", "emoji", emoji));
    } else if (strcmp(type, "system") == 0) {
        const char *body = meta_str(obj, "body");
        if (body)
            json_object_set_new(rec, "text", json_string(body));
        json_object_set(meta, "system", obj);
    } else if (strcmp(type, "order") == 0) {
        json_object_set(meta, "order", obj);
        const char *text = meta_str(obj, "text");
        if (text)
            json_object_set_new(rec, "text", json_string(text));
    }
    if (strcmp(type, "system") != 0) {
        char handle[48];
        snprintf(handle, sizeof handle, "wa:%s", from);
        meta_batch_note_inbound(b, handle, at);
    }
    meta_batch_add(b, rec, msg);
}

static int status_rank(const char *s)
{
    static const char *const order[] = {"sent", "delivered", "read", "failed"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, order[i]) == 0)
            return i + 1;
    return 0;
}

/* "131026 Message undeliverable: details" from the first error. */
static void error_text(json_t *errors, char *out, size_t len)
{
    json_t *e = json_array_get(errors, 0);
    const char *title = meta_str(e, "title"), *message = meta_str(e, "message");
    const char *details = meta_str(json_object_get(e, "error_data"), "details");
    snprintf(out, len, "%lld %s%s%s", (long long)json_integer_value(json_object_get(e, "code")),
             title     ? title
             : message ? message
                       : "error",
             details ? ": " : "", details ? details : "");
}

static void status(struct whatsapp *wa, struct meta_batch *b, json_t *st)
{
    char id_buf[300], rcpt_buf[40], key[320], ext[340];
    const char *id = meta_id(st, "id", id_buf, sizeof id_buf);
    const char *value = meta_str(st, "status");
    const char *rcpt = meta_id(st, "recipient_id", rcpt_buf, sizeof rcpt_buf);
    int rank = value ? status_rank(value) : 0;
    if (!id || !rank || !rcpt || !meta_digits(rcpt)) {
        meta_batch_unknown(b, "whatsapp", st, "status without id, a known status or recipient");
        return;
    }
    snprintf(key, sizeof key, "st:%s", id);
    char *cur = meta_batch_get_state(b, key);
    int have = cur ? atoi(cur) : 0;
    free(cur);
    if (rank < have) {
        wa->meta.host->log(wa->meta.src, KANAL_LOG_DEBUG,
                           "status '%s' of %s arrived after a later one; not recorded", value, id);
        return;
    }
    if (rank > have) {
        char r[16];
        snprintf(r, sizeof r, "%d", rank);
        meta_batch_set_state(b, key, r);
    }
    snprintf(ext, sizeof ext, "%s:%s", id, value);
    int64_t at = meta_time_ms(st, "timestamp");
    int is_read = strcmp(value, "read") == 0;
    json_t *rec = base_record(wa, is_read ? "read" : "delivery", ext, at, rcpt,
                              customer_party(rcpt, NULL, NULL));
    json_object_set_new(rec, "status", json_string(value));
    json_object_set_new(rec, "reply_to", json_string(id));
    json_t *meta = json_object_get(rec, "meta");
    json_object_set_new(meta, "covers", json_pack("[s]", id));
    copy_member(meta, "conversation", st, "conversation");
    copy_member(meta, "pricing", st, "pricing");
    copy_member(meta, "biz_opaque_callback_data", st, "biz_opaque_callback_data");
    json_t *errors = json_object_get(st, "errors");
    if (json_is_array(errors) && json_array_size(errors) > 0) {
        char text[600];
        error_text(errors, text, sizeof text);
        json_object_set_new(rec, "text", json_string(text));
        json_object_set(meta, "errors", errors);
    }
    meta_batch_add(b, rec, st);
}

/* value.errors[]: problems of the business number not tied to a message. */
static void async_error(struct whatsapp *wa, struct meta_batch *b, json_t *value, json_t *err)
{
    char text[600], ext[80];
    json_t *errors = json_pack("[O]", err);
    error_text(errors, text, sizeof text);
    /* No id and no time: the error and the number it concerns are its
     * identity, so a redelivery is recognised. */
    json_t *who =
        json_pack("{s:O,s:O*}", "error", err, "metadata", json_object_get(value, "metadata"));
    char *canon = json_dumps(who, JSON_COMPACT | JSON_SORT_KEYS);
    unsigned char mac[32];
    char hex[65];
    wa->meta.host->hmac_sha256("kanal-wa-error", 14, canon ? canon : "", canon ? strlen(canon) : 0,
                               mac);
    wa->meta.host->hex_encode(mac, sizeof mac, hex);
    snprintf(ext, sizeof ext, "error-%.40s", hex);
    free(canon);
    json_decref(who);
    wa->meta.host->log(wa->meta.src, KANAL_LOG_WARNING, "WhatsApp reports an error: %s", text);
    char when[32];
    meta_time_text(&wa->meta, -1, when);
    json_t *rec = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:s,s:s,s:{s:o}}", "kind", "delivery",
                            "direction", "outbound", "channel", "whatsapp", "external_id", ext,
                            "occurred_at", when, "from", wa_brand_party(wa), "status", "failed",
                            "text", text, "meta", "errors", errors);
    meta_batch_add(b, rec, err);
}

/* The business's display number, digits only, for the brand party. */
static void note_brand_number(struct whatsapp *wa, struct meta_batch *b, json_t *value)
{
    const char *shown = meta_str(json_object_get(value, "metadata"), "display_phone_number");
    char digits[24];
    size_t n = 0;
    for (const char *p = shown; p && *p && n + 1 < sizeof digits; p++)
        if (*p >= '0' && *p <= '9')
            digits[n++] = *p;
    digits[n] = '\0';
    if (!phone_ok(digits) || strcmp(digits, wa->brand_number) == 0)
        return;
    snprintf(wa->brand_number, sizeof wa->brand_number, "%s", digits);
    meta_batch_set_state(b, "brand_number", digits);
}

void wa_value(struct whatsapp *wa, struct meta_batch *b, json_t *value)
{
    note_brand_number(wa, b, value);
    json_t *messages = json_object_get(value, "messages");
    json_t *statuses = json_object_get(value, "statuses");
    json_t *errors = json_object_get(value, "errors");
    if (!json_is_array(messages) && !json_is_array(statuses) && !json_is_array(errors)) {
        meta_batch_unknown(b, "whatsapp", value,
                           "messages change without messages, statuses or "
                           "errors");
        return;
    }
    size_t i;
    json_t *item;
    json_array_foreach(messages, i, item) message(wa, b, value, item);
    json_array_foreach(statuses, i, item) status(wa, b, item);
    json_array_foreach(errors, i, item) async_error(wa, b, value, item);
}
