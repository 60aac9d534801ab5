/* API bearer tokens: "name scope secret" lines, scopes read < write < admin. */
#ifndef KANAL_AUTH_H
#define KANAL_AUTH_H

#include <stddef.h>

enum scope { SCOPE_NONE = 0, SCOPE_READ, SCOPE_WRITE, SCOPE_ADMIN };

struct api_tokens;
struct http_req;

/* Load path; on error returns negative with *why ("file:line: ..."). */
int auth_load(const char *path, struct api_tokens **out, char *why, size_t why_len);
void auth_free(struct api_tokens *t);
/* The scope of the request's bearer token (SCOPE_NONE when absent or
 * unknown); *name gets the token's name when known. */
enum scope auth_scope(const struct api_tokens *t, const struct http_req *req, const char **name);
/* Answer 401/403 unless the request holds at least `need`; 1 when allowed. */
int auth_require(const struct api_tokens *t, struct http_req *req, enum scope need);

#endif
