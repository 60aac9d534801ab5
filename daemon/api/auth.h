/* SPDX-License-Identifier: Apache-2.0 */
/* API bearer tokens: "name scope secret" lines, scopes read < write < admin. */
#ifndef KANAL_AUTH_H
#define KANAL_AUTH_H

#include <stddef.h>

enum scope { SCOPE_NONE = 0, SCOPE_READ, SCOPE_WRITE, SCOPE_ADMIN };

struct api_tokens;
struct http_req;

struct config_errors;

/* Load path.  Every problem goes into errs as "file:line: message" (a
 * file others may read as a warning); returns 0, or negative when any
 * error was found (and *out stays NULL). */
int auth_load(const char *path, struct api_tokens **out, struct config_errors *errs);
void auth_free(struct api_tokens *t);
/* The scope of the request's bearer token (SCOPE_NONE when absent or
 * unknown); *name gets the token's name when known. */
enum scope auth_scope(const struct api_tokens *t, const struct http_req *req, const char **name);
/* Answer 401/403 unless the request holds at least `need`; 1 when allowed. */
int auth_require(const struct api_tokens *t, struct http_req *req, enum scope need);

#endif
