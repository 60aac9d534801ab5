/* SPDX-License-Identifier: Apache-2.0 */
/* sms: Twilio SMS and MMS, in (webhooks) and out (Messages API).  Shared
 * between the plugin's files; nothing here is visible outside the .so. */
#ifndef KANAL_SMS_H
#define KANAL_SMS_H

#include <stddef.h>
#include <stdint.h>

#include <kanal/plugin.h>

#include "twilio_sig.h"

struct sms {
    const struct kanal_host *host;
    struct kanal_source *src;
    const char *account_sid;
    const char *auth_token;
    const char *public_url;
    const char *from;                  /* sender number, or NULL */
    const char *messaging_service_sid; /* or NULL */
    char *api_url;                     /* without a trailing '/' */
    int64_t send_timeout_ms;
    struct twilio_crypto crypto;
};

/* The party handle for a Twilio address: "phone:+E164" for numbers (national
 * ones through the source's default_country), "wa:<digits>" for
 * "whatsapp:+..." addresses, "sms:<value>" for short codes and alphanumeric
 * sender ids.  0, or a negative error when addr is empty or too long. */
int sms_handle(struct sms *s, const char *addr, char *out, size_t out_len);

/* inbound.c: POST /hooks/<source> (messages and status callbacks). */
int sms_http(void *state, struct kanal_http_request *req);

/* send.c: one outbound message through the Messages API. */
int sms_send(void *state, const struct kanal_send_request *msg);

#endif
