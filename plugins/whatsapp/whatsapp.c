/* SPDX-License-Identifier: Apache-2.0 */
/* whatsapp: the WhatsApp Cloud API through a Meta app's webhooks; sends
 * through the Cloud API's messages endpoint.
 *
 *   GET  /hooks/<source>?hub.mode=subscribe&hub.verify_token=..&hub.challenge=..
 *        -> 200 with the challenge, or 403
 *   POST /hooks/<source> signed X-Hub-Signature-256 (app secret, raw body)
 *        {"object":"whatsapp_business_account","entry":[{"changes":[{"field":
 *        "messages","value":{messages[], statuses[], errors[], contacts[],
 *        metadata}}]}]}
 *        -> every update of the POST in one commit, then 200 {"seqs":[...]};
 *           other fields and unknown message types are kept as "unknown"
 *        -> 401 for a missing or wrong signature, nothing stored
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kanal/kit.h>

#include "wa.h"

json_t *wa_brand_party(struct whatsapp *wa)
{
    char handle[40], phone[40];
    if (!wa->brand_number[0]) {
        char src[200];
        snprintf(src, sizeof src, "source:%s", wa->meta.host->source_name(wa->meta.src));
        return meta_party(src, NULL, "brand", NULL, NULL);
    }
    snprintf(handle, sizeof handle, "wa:%s", wa->brand_number);
    snprintf(phone, sizeof phone, "phone:+%s", wa->brand_number);
    return meta_party(handle, NULL, "brand", phone, NULL);
}

static void read_change(struct whatsapp *wa, struct meta_batch *b, json_t *change)
{
    const char *field = meta_str(change, "field");
    json_t *value = json_object_get(change, "value");
    if (field && strcmp(field, "messages") == 0 && json_is_object(value)) {
        wa_value(wa, b, value);
    } else {
        char why[160];
        snprintf(why, sizeof why, "whatsapp webhook field '%.60s' is not read by kanal",
                 field ? field : "(none)");
        meta_batch_unknown(b, "whatsapp", change, why);
    }
}

static int wa_http(void *state, struct kanal_http_request *req)
{
    struct whatsapp *wa = state;
    if (meta_http_gate(&wa->meta, req))
        return 0;
    struct meta_batch b;
    meta_batch_init(&b, &wa->meta, req);
    json_t *root = json_loadb(req->body, req->body_len, 0, NULL);
    const char *object = meta_str(root, "object");
    json_t *entries = json_object_get(root, "entry");
    if (!root) {
        meta_batch_unknown(&b, "whatsapp", NULL, "the body is not JSON");
    } else if (!object || strcmp(object, "whatsapp_business_account") != 0 ||
               !json_is_array(entries)) {
        meta_batch_unknown(&b, "whatsapp", root,
                           "not a whatsapp_business_account webhook with entries");
    } else {
        size_t i, j;
        json_t *entry, *change;
        json_array_foreach(entries, i, entry)
        {
            json_t *changes = json_object_get(entry, "changes");
            if (!json_is_array(changes)) {
                meta_batch_unknown(&b, "whatsapp", entry, "webhook entry without changes");
                continue;
            }
            json_array_foreach(changes, j, change) read_change(wa, &b, change);
        }
    }
    json_decref(root);
    meta_batch_commit(&b);
    return 0;
}

static const struct kanal_kit_bind wa_binds[] = {
    {"phone_number_id", KANAL_KIT_STR, offsetof(struct whatsapp, phone_number_id)},
    {"access_token", KANAL_KIT_STR, offsetof(struct whatsapp, access_token)},
    {NULL, 0, 0},
};

static int wa_init(const struct kanal_host *host, struct kanal_source *src, void **state)
{
    struct whatsapp *wa = calloc(1, sizeof *wa);
    if (!wa)
        return -ENOMEM;
    int r = meta_init(&wa->meta, host, src, "whatsapp");
    if (r == 0)
        r = kanal_kit_bind_options(host, src, wa_binds, wa);
    if (r < 0) {
        meta_destroy(&wa->meta);
        free(wa);
        return r;
    }
    if (wa->phone_number_id && !meta_digits(wa->phone_number_id)) {
        host->log(src, KANAL_LOG_ERR, "phone_number_id '%s' is not a numeric id",
                  wa->phone_number_id);
        meta_destroy(&wa->meta);
        free(wa);
        return KANAL_ECONFIG;
    }
    *state = wa;
    return 0;
}

static int wa_start(void *state)
{
    struct whatsapp *wa = state;
    char *number = meta_state_get(&wa->meta, "brand_number");
    if (number && meta_digits(number) && strlen(number) < sizeof wa->brand_number)
        snprintf(wa->brand_number, sizeof wa->brand_number, "%s", number);
    free(number);
    if (!wa->phone_number_id || !wa->access_token)
        wa->meta.host->log(wa->meta.src, KANAL_LOG_INFO,
                           "no phone_number_id and access_token: receiving only, not sending");
    return 0;
}

static int wa_stop(void *state)
{
    (void)state;
    return 0;
}

static void wa_destroy(void *state)
{
    struct whatsapp *wa = state;
    meta_destroy(&wa->meta);
    free(wa);
}

static const struct kanal_option wa_options[] = {
    META_COMMON_OPTIONS,
    {"phone_number_id", KANAL_OPT_STRING, NULL, 0,
     "the business phone number's id (not the number) that sends", NULL},
    {"access_token", KANAL_OPT_SECRET, NULL, 0,
     "a system user's access token with whatsapp_business_messaging", NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

static const struct kanal_plugin wa_plugin = {
    KANAL_PLUGIN_HEADER,
    .name = "whatsapp",
    .version = "1.0.0",
    .description = "WhatsApp Cloud API via Meta webhooks and the messages endpoint",
    .options = wa_options,
    .init = wa_init,
    .start = wa_start,
    .stop = wa_stop,
    .destroy = wa_destroy,
    .http = wa_http,
    .send = wa_send,
};

KANAL_PLUGIN_EXPORT const struct kanal_plugin *kanal_plugin_entry(void)
{
    return &wa_plugin;
}
