/* SPDX-License-Identifier: Apache-2.0 */
/* Answers the API's handlers share (respond.c). */
#ifndef KANAL_RESPOND_H
#define KANAL_RESPOND_H

#include <jansson.h>

struct http_req;

/* Answer o as compact JSON (jsonout: the store's own form) with status;
 * takes the reference to o. */
void api_respond_json(struct http_req *req, int status, json_t *o);

#endif
