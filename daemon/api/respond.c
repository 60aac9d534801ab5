/* SPDX-License-Identifier: Apache-2.0 */
/* Answers the API's handlers share (respond.h). */
#include "respond.h"

#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "jsonout.h"

void api_respond_json(struct http_req *req, int status, json_t *o)
{
    char *text = jsonout_text(o);
    http_respond(req, status, "application/json", text, strlen(text));
    free(text);
    json_decref(o);
}
