/* SPDX-License-Identifier: Apache-2.0 */
/* The whatsapp plugin's parts: whatsapp.c (options, webhook envelope),
 * wa_inbound.c (messages, statuses, errors of one change value), wa_send.c
 * (the Cloud API's messages endpoint). */
#ifndef KANAL_PLUGINS_WA_H
#define KANAL_PLUGINS_WA_H

#include "meta.h"

struct whatsapp {
    struct meta meta;
    const char *phone_number_id; /* for sends */
    const char *access_token;
    char brand_number[24]; /* the business's display number (digits), last seen, or "" */
};

/* One change value of field "messages": messages[], statuses[], errors[]. */
void wa_value(struct whatsapp *wa, struct meta_batch *b, json_t *value);

/* The business number as a party: wa:<digits> and phone:+<digits> when
 * known, else the source itself. */
json_t *wa_brand_party(struct whatsapp *wa);

int wa_send(void *state, const struct kanal_send_request *msg);

#endif
