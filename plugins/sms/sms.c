/* SPDX-License-Identifier: Apache-2.0 */
/* sms: Twilio SMS and MMS for kanal.
 *
 * Inbound: Twilio POSTs each message, and each status change of a message
 * kanal sent, form-encoded to /hooks/<source>, signed with X-Twilio-Signature
 * over public_url and every parameter.  Messages become `message` records
 * (and `optout`/`optin` records for the opt-out keywords), status callbacks
 * become `delivery` records; Twilio gets an empty TwiML answer only after
 * the commit.  Outbound: the Messages API, with this source's public_url as
 * StatusCallback so that deliveries come back here.
 *
 * This file: options and lifecycle.  inbound.c: webhooks.  send.c: the
 * Messages API.  twilio_sig.c: the signature. */
#include "sms.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kanal/kit.h>

int sms_handle(struct sms *s, const char *addr, char *out, size_t out_len)
{
    if (!addr || !*addr)
        return -EINVAL;
    char in[256];
    if (strncmp(addr, "whatsapp:", 9) == 0) {
        if (snprintf(in, sizeof in, "wa:%s", addr + 9) >= (int)sizeof in)
            return -ENAMETOOLONG;
        return s->host->normalize_handle(s->src, in, out, out_len);
    }
    if (snprintf(in, sizeof in, "phone:%s", addr) >= (int)sizeof in)
        return -ENAMETOOLONG;
    if (s->host->normalize_handle(s->src, in, out, out_len) == 0)
        return 0;
    /* Short codes ("12345") and alphanumeric sender ids ("ACME") are not
     * E.164 numbers; keep them as they are under their own scheme. */
    snprintf(in, sizeof in, "sms:%s", addr);
    return s->host->normalize_handle(s->src, in, out, out_len);
}

static const struct kanal_kit_bind sms_binds[] = {
    {"account_sid", KANAL_KIT_STR, offsetof(struct sms, account_sid)},
    {"auth_token", KANAL_KIT_STR, offsetof(struct sms, auth_token)},
    {"public_url", KANAL_KIT_STR, offsetof(struct sms, public_url)},
    {"from", KANAL_KIT_STR, offsetof(struct sms, from)},
    {"messaging_service_sid", KANAL_KIT_STR, offsetof(struct sms, messaging_service_sid)},
    {"send_timeout", KANAL_KIT_INT64, offsetof(struct sms, send_timeout_ms)},
    {NULL, 0, 0},
};

static int sms_init(const struct kanal_host *host, struct kanal_source *src, void **state)
{
    struct sms *s = calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->host = host;
    s->src = src;
    s->send_timeout_ms = 30000;
    int r = kanal_kit_bind_options(host, src, sms_binds, s);
    if (r < 0) {
        free(s);
        return r;
    }
    const char *api = host->config_string(src, "api_url");
    s->api_url = strdup(api ? api : "https://api.twilio.com");
    if (!s->api_url) {
        free(s);
        return -ENOMEM;
    }
    size_t n = strlen(s->api_url);
    while (n > 0 && s->api_url[n - 1] == '/')
        s->api_url[--n] = '\0';
    s->crypto = (struct twilio_crypto){.hmac_sha1 = host->hmac_sha1,
                                       .base64_encode = host->base64_encode,
                                       .equal_ct = host->equal_ct};
    if (!s->public_url) {
        /* Twilio signs the URL it called; without it no request can be
         * verified, and every one would be refused. */
        host->log(src, KANAL_LOG_ERR,
                  "public_url is required: set it to the webhook URL configured in the Twilio "
                  "console (Twilio signs it)");
        free(s->api_url);
        free(s);
        return KANAL_ECONFIG;
    }
    if (!s->from && !s->messaging_service_sid)
        host->log(src, KANAL_LOG_NOTICE,
                  "neither from nor messaging_service_sid is set: this source receives only");
    *state = s;
    return 0;
}

static int sms_start(void *state)
{
    (void)state;
    return 0;
}

static int sms_stop(void *state)
{
    (void)state;
    return 0;
}

static void sms_destroy(void *state)
{
    struct sms *s = state;
    free(s->api_url);
    free(s);
}

static const struct kanal_option sms_options[] = {
    {"account_sid", KANAL_OPT_STRING, NULL, 1, "Twilio Account SID (AC...)", NULL},
    {"auth_token", KANAL_OPT_SECRET, NULL, 1,
     "Twilio auth token: verifies webhooks, authenticates sends", NULL},
    {"from", KANAL_OPT_STRING, NULL, 0, "sender number for outbound messages (E.164)", NULL},
    {"messaging_service_sid", KANAL_OPT_STRING, NULL, 0,
     "Messaging Service (MG...) that picks the sender, instead of from", NULL},
    {"api_url", KANAL_OPT_URL, "https://api.twilio.com", 0, "Twilio REST API base URL", NULL},
    {"send_timeout", KANAL_OPT_DURATION, "30s", 0, "time allowed for one Messages API call", NULL},
    {NULL, 0, NULL, 0, NULL, NULL},
};

static const struct kanal_plugin sms_plugin = {
    KANAL_PLUGIN_HEADER,
    .name = "sms",
    .version = "1.0.0",
    .description = "Twilio SMS and MMS: webhooks in, Messages API out, delivery status",
    .options = sms_options,
    .init = sms_init,
    .start = sms_start,
    .stop = sms_stop,
    .destroy = sms_destroy,
    .http = sms_http,
    .send = sms_send,
};

KANAL_PLUGIN_EXPORT const struct kanal_plugin *kanal_plugin_entry(void)
{
    return &sms_plugin;
}
