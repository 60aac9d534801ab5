/* SPDX-License-Identifier: Apache-2.0 */
/* Outbound through the WhatsApp Cloud API:
 *
 *   POST {api_url}/{api_version}/{phone_number_id}/messages?appsecret_proof=..
 *   Authorization: Bearer <access_token>
 *   {"messaging_product":"whatsapp","recipient_type":"individual","to":"<digits>",
 *    "type":"text","text":{"preview_url":false,"body":..},"context":{"message_id":..}}
 *   or "type":"template","template":{"name":..,"language":{"code":..},"components":[..]}
 *   -> {"contacts":[{"input","wa_id"}],"messages":[{"id":"wamid..."}]}
 *
 * "to" is wa:<wa_id>, phone:+<number> or the number.  Free text is only
 * allowed within 24 hours of the customer's last message on this source
 * (state last_in:wa:<wa_id>); outside it only a template goes, and free text
 * fails before Meta is called. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wa.h"

struct wa_sending {
    struct whatsapp *wa;
    const struct kanal_send_request *msg;
    char number[24];
    json_t *tmpl; /* the template sent, or NULL */
};

static int fail(struct whatsapp *wa, const struct kanal_send_request *msg, const char *reason)
{
    struct kanal_send_result res = {
        .outcome = KANAL_SEND_FAILED, .retry_after_ms = -1, .reason = reason};
    return wa->meta.host->send_done(wa->meta.src, msg, &res);
}

/* The number to send to, digits only; 0 or -1. */
static int parse_to(const char *to, char *out, size_t len)
{
    if (strncmp(to, "wa:", 3) == 0)
        to += 3;
    else if (strncmp(to, "phone:", 6) == 0)
        to += 6;
    if (*to == '+')
        to++;
    if (!meta_digits(to) || strlen(to) < 8 || strlen(to) > 15 || strlen(to) >= len)
        return -1;
    snprintf(out, len, "%s", to);
    return 0;
}

/* The outbox's template object, with "language": "tr" accepted for
 * {"code": "tr"}; NULL with why set when it cannot be sent. */
static json_t *parse_template(const char *text, const char **why)
{
    json_t *t = json_loads(text, 0, NULL);
    if (!json_is_object(t) || !meta_str(t, "name")) {
        *why = "the template needs a \"name\"";
        json_decref(t);
        return NULL;
    }
    json_t *lang = json_object_get(t, "language");
    if (json_is_string(lang))
        json_object_set_new(t, "language", json_pack("{s:O}", "code", lang));
    else if (!meta_str(lang, "code")) {
        *why = "the template needs a \"language\" (\"tr\" or {\"code\": \"tr\"})";
        json_decref(t);
        return NULL;
    }
    return t;
}

static char *outbound_record(struct wa_sending *s, const char *wamid, const char *wa_id)
{
    char when[32], handle[40], phone[40];
    meta_time_text(&s->wa->meta, -1, when);
    snprintf(handle, sizeof handle, "wa:%s", wa_id);
    snprintf(phone, sizeof phone, "phone:+%s", wa_id);
    json_t *rec =
        json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:o,s:[o],s:{}}", "kind", "message", "direction",
                  "outbound", "channel", "whatsapp", "external_id", wamid, "occurred_at", when,
                  "thread", handle, "from", wa_brand_party(s->wa), "to",
                  meta_party(handle, NULL, "customer",
                             strlen(wa_id) >= 8 && strlen(wa_id) <= 15 ? phone : NULL, NULL),
                  "meta");
    if (s->tmpl) {
        json_object_set_new(json_object_get(rec, "meta"), "template",
                            json_pack("{s:O,s:O*}", "name", json_object_get(s->tmpl, "name"),
                                      "language", json_object_get(s->tmpl, "language")));
    } else if (s->msg->text) {
        json_object_set_new(rec, "text", json_string(s->msg->text));
    }
    if (s->msg->reply_to)
        json_object_set_new(rec, "reply_to", json_string(s->msg->reply_to));
    char *text = json_dumps(rec, JSON_COMPACT);
    json_decref(rec);
    return text;
}

static void sending_free(struct wa_sending *s)
{
    json_decref(s->tmpl);
    free(s);
}

static void on_reply(void *arg, const struct meta_reply *reply)
{
    struct wa_sending *s = arg;
    struct whatsapp *wa = s->wa;
    struct kanal_send_result res = {.retry_after_ms = -1};
    char reason[700];
    char *record = NULL;
    json_t *o = meta_send_reply(&wa->meta, reply, &res, reason, sizeof reason);
    if (o) {
        const char *wamid = meta_str(json_array_get(json_object_get(o, "messages"), 0), "id");
        const char *wa_id = meta_str(json_array_get(json_object_get(o, "contacts"), 0), "wa_id");
        if (!wa_id || !meta_digits(wa_id))
            wa_id = s->number;
        if (wamid) {
            res.provider_id = wamid;
            record = outbound_record(s, wamid, wa_id);
            res.record_json = record;
        } else {
            wa->meta.host->log(wa->meta.src, KANAL_LOG_WARNING,
                               "message %s: the Cloud API answered without a message id",
                               s->msg->id);
            res.provider_id = s->msg->id;
        }
    }
    wa->meta.host->send_done(wa->meta.src, s->msg, &res);
    json_decref(o);
    free(record);
    sending_free(s);
}

int wa_send(void *state, const struct kanal_send_request *msg)
{
    struct whatsapp *wa = state;
    if (!wa->phone_number_id || !wa->access_token)
        return fail(wa, msg,
                    "this source has no phone_number_id and access_token: it cannot "
                    "send");
    struct wa_sending *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->wa = wa;
    s->msg = msg;
    if (parse_to(msg->to, s->number, sizeof s->number) < 0) {
        sending_free(s);
        return fail(wa, msg, "'to' must be wa:<wa_id>, phone:+<number> or a number");
    }
    json_t *body = json_pack("{s:s,s:s,s:s}", "messaging_product", "whatsapp", "recipient_type",
                             "individual", "to", s->number);
    if (msg->template_json) {
        const char *why = NULL;
        s->tmpl = parse_template(msg->template_json, &why);
        if (!s->tmpl) {
            json_decref(body);
            sending_free(s);
            return fail(wa, msg, why);
        }
        json_object_set_new(body, "type", json_string("template"));
        json_object_set(body, "template", s->tmpl);
    } else {
        char handle[40];
        snprintf(handle, sizeof handle, "wa:%s", s->number);
        const char *why = !msg->text || !*msg->text ? "the message has no text or template"
                          : !meta_window_open(&wa->meta, handle, wa->meta.host->now_ms())
                              ? META_WINDOW_REASON
                              : NULL;
        if (why) {
            json_decref(body);
            sending_free(s);
            return fail(wa, msg, why);
        }
        json_object_set_new(body, "type", json_string("text"));
        json_object_set_new(body, "text",
                            json_pack("{s:b,s:s}", "preview_url", 0, "body", msg->text));
    }
    if (msg->reply_to)
        json_object_set_new(body, "context", json_pack("{s:s}", "message_id", msg->reply_to));
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    int r = text ? meta_graph_post(&wa->meta, wa->phone_number_id, "messages", wa->access_token,
                                   META_TOKEN_BEARER, text, on_reply, s)
                 : -ENOMEM;
    free(text);
    if (r < 0)
        sending_free(s);
    return r;
}
